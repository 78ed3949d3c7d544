/*
 * service.c - start-up, health, HTTP and shutdown shared by all services.
 *
 * Threads: the main thread runs the service's loop; a watcher thread probes
 * Kafka and the databases and publishes the verdict for /readyz; the HTTP
 * server (libmicrohttpd's thread) only reads what the other two publish.
 * Signal handlers only set a sig_atomic_t.
 */
#include "service.h"

#include "clock.h"
#include "db.h"
#include "err.h"
#include "http.h"
#include "kafka.h"
#include "log.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WATCH_INTERVAL_MS 5000

struct ferry_service {
    ferry_service_def_t *def;
    ferry_conf_t *conf;
    ferry_metrics_t *metrics;
    ferry_http_t *http;
    char addr_path[512];
    int addr_written; /* addr_path exists and is this process's */
    time_t started;

    pthread_t watcher;
    int watcher_started;
    pthread_mutex_t lock; /* guards not_ready_reason */
    pthread_cond_t wake;
    atomic_int ready;
    char not_ready_reason[512];

    ferry_gauge_t *g_ready;
    ferry_gauge_t *g_started;
    ferry_counter_t *c_probe_failures;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

const ferry_conf_t *ferry_service_conf(const ferry_service_t *svc)
{
    return svc->conf;
}

ferry_metrics_t *ferry_service_metrics(ferry_service_t *svc)
{
    return svc->metrics;
}

void *ferry_service_opaque(const ferry_service_t *svc)
{
    return svc->def->opaque;
}

int ferry_service_stopping(const ferry_service_t *svc)
{
    (void)svc;
    return stop_requested != 0;
}

int ferry_service_sleep(ferry_service_t *svc, int ms)
{
    /* in short steps, so a signal is noticed within 50 ms */
    while (ms > 0 && !ferry_service_stopping(svc)) {
        int step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return ferry_service_stopping(svc);
}

int ferry_service_route(ferry_service_t *svc, const char *method, const char *path,
                        ferry_http_handler_fn handler, void *opaque)
{
    return ferry_http_route(svc->http, method, path, handler, opaque);
}

void ferry_service_topic_prefix(const ferry_service_t *svc, const char *link, char *buf,
                                size_t buf_size)
{
    snprintf(buf, buf_size, "ferry.%s.%s", ferry_conf_get(svc->conf, "project.name"), link);
}

int ferry_service_db_probe(ferry_service_t *svc, const char *role, char *errstr, size_t errstr_size)
{
    char key[64];
    snprintf(key, sizeof(key), "%s.url", role);
    return ferry_db_probe(ferry_conf_get(svc->conf, key), role,
                          (int)ferry_conf_get_int(svc->conf, "connect.timeout.ms"), errstr,
                          errstr_size);
}

bool ferry_service_start_over_too_soon(int *quick, int64_t started_ms)
{
    *quick = ferry_mono_ms() - started_ms < 60000 ? *quick + 1 : 0;
    return *quick >= 5;
}

/*
 * Checks every dependency of the service once. Returns 0, or an error with
 * the first failure in errstr.
 */
static int probe_dependencies(ferry_service_t *svc, char *errstr, size_t errstr_size)
{
    int timeout = (int)ferry_conf_get_int(svc->conf, "connect.timeout.ms");
    int rc = ferry_kafka_probe(ferry_conf_kafka_props(svc->conf), timeout, errstr, errstr_size);
    if (rc == 0 && svc->def->needs_source)
        rc = ferry_service_db_probe(svc, "source", errstr, errstr_size);
    if (rc == 0 && svc->def->needs_destination)
        rc = ferry_service_db_probe(svc, "destination", errstr, errstr_size);
    return rc;
}

static void publish_readiness(ferry_service_t *svc, int ready, const char *reason)
{
    pthread_mutex_lock(&svc->lock);
    snprintf(svc->not_ready_reason, sizeof(svc->not_ready_reason), "%s", reason ? reason : "");
    pthread_mutex_unlock(&svc->lock);
    atomic_store(&svc->ready, ready);
    ferry_gauge_set(svc->g_ready, ready);
}

static void *watch_main(void *arg)
{
    ferry_service_t *svc = arg;
    int was_ready = 1;
    while (!ferry_service_stopping(svc)) {
        pthread_mutex_lock(&svc->lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += WATCH_INTERVAL_MS / 1000;
        while (!ferry_service_stopping(svc) &&
               pthread_cond_timedwait(&svc->wake, &svc->lock, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&svc->lock);
        if (ferry_service_stopping(svc))
            break;

        char err[512];
        int rc = probe_dependencies(svc, err, sizeof(err));
        publish_readiness(svc, rc == 0, rc == 0 ? NULL : err);
        if (rc != 0) {
            ferry_counter_add(svc->c_probe_failures, 1);
            if (was_ready) {
                char q[600];
                ferry_log_warn("not ready", "reason=%s", ferry_log_quote(err, q, sizeof(q)));
            }
        } else if (!was_ready) {
            ferry_log_info("ready again", NULL);
        }
        was_ready = rc == 0;
    }
    return NULL;
}

static int ready_cb(void *opaque, char *reason, size_t reason_size)
{
    ferry_service_t *svc = opaque;
    if (atomic_load(&svc->ready))
        return 1;
    pthread_mutex_lock(&svc->lock);
    snprintf(reason, reason_size, "%s", svc->not_ready_reason);
    pthread_mutex_unlock(&svc->lock);
    return 0;
}

static char *status_cb(void *opaque)
{
    ferry_service_t *svc = opaque;
    ferry_json_t *j = ferry_json_new();
    if (!j)
        return NULL;
    char buf[512];
    ferry_json_object_begin(j);
    ferry_json_key(j, "service");
    ferry_json_string(j, svc->def->name);
    ferry_json_key(j, "version");
    ferry_json_string(j, FERRY_VERSION);
    ferry_json_key(j, "project");
    ferry_json_string(j, ferry_conf_get(svc->conf, "project.name"));
    ferry_json_key(j, "pid");
    ferry_json_int(j, (int64_t)getpid());
    ferry_json_key(j, "uptime_s");
    ferry_json_int(j, (int64_t)(time(NULL) - svc->started));
    ferry_json_key(j, "ready");
    ferry_json_bool(j, atomic_load(&svc->ready) != 0);
    if (!atomic_load(&svc->ready)) {
        ferry_json_key(j, "not_ready_reason");
        pthread_mutex_lock(&svc->lock);
        ferry_json_string(j, svc->not_ready_reason);
        pthread_mutex_unlock(&svc->lock);
    }
    ferry_json_key(j, "stopping");
    ferry_json_bool(j, ferry_service_stopping(svc));
    /* connection targets, passwords masked */
    if (svc->def->needs_source) {
        ferry_json_key(j, "source");
        ferry_json_string(j, ferry_conf_get_display(svc->conf, "source.url", buf, sizeof(buf)));
    }
    if (svc->def->needs_destination) {
        ferry_json_key(j, "destination");
        ferry_json_string(j,
                          ferry_conf_get_display(svc->conf, "destination.url", buf, sizeof(buf)));
    }
    ferry_json_key(j, "kafka");
    ferry_json_string(j, ferry_conf_get(svc->conf, "kafka.bootstrap.servers"));
    if (svc->def->status)
        svc->def->status(svc, j);
    ferry_json_object_end(j);
    char *text = ferry_json_steal(j);
    ferry_json_destroy(j);
    return text;
}

static void usage(FILE *out, const ferry_service_def_t *def)
{
    fprintf(out,
            "usage: ferry-%s [options] <project file>\n"
            "\n%s\n\n"
            "options:\n"
            "  --log-level LEVEL   debug, info, warn or error (overrides log.level)\n"
            "  --help              show this help and exit\n"
            "  --version           show the version and exit\n"
            "\n"
            "The project file is described by `ferryctl --help-config`. On SIGTERM or SIGINT\n"
            "the service stops taking work, flushes and commits, and exits 0.\n"
            "Exit status: 0 stopped cleanly, 1 failed, 2 bad usage or project file.\n",
            def->name, def->summary);
}

/* Where the address file goes: runtime.dir/<service>[-<instance>].addr */
static void set_addr_path(ferry_service_t *svc)
{
    char dir[400];
    ferry_conf_runtime_dir(svc->conf, dir, sizeof(dir));
    snprintf(svc->addr_path, sizeof(svc->addr_path), "%s/%s%s%s.addr", dir, svc->def->name,
             svc->def->instance ? "-" : "", svc->def->instance ? svc->def->instance : "");
}

/* Writes the HTTP address where ferryctl finds it; temp file + rename. */
static void write_addr_file(ferry_service_t *svc)
{
    char dir[400], tmp[560];
    ferry_conf_runtime_dir(svc->conf, dir, sizeof(dir));
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        ferry_log_warn("could not create runtime directory", "dir=%s error=\"%s\"", dir,
                       strerror(errno));
        return;
    }
    const char *bind = ferry_conf_get(svc->conf, "http.bind");
    const char *host = bind;
    if (strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "") == 0)
        host = "127.0.0.1";
    else if (strcmp(bind, "::") == 0)
        host = "[::1]";
    int v6 = strchr(host, ':') && host[0] != '[';
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", svc->addr_path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "http://%s%s%s:%d\n", v6 ? "[" : "", host, v6 ? "]" : "",
            ferry_http_port(svc->http));
    fclose(f);
    if (rename(tmp, svc->addr_path) != 0)
        unlink(tmp);
    else
        svc->addr_written = 1;
}

void ferry_service_started(ferry_service_t *svc)
{
    if (svc->addr_written || !svc->http)
        return;
    write_addr_file(svc);
    char q[600];
    ferry_log_info("start-up checks passed", "addr_file=%s",
                   ferry_log_quote(svc->addr_path, q, sizeof(q)));
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int parse_args(int argc, char **argv, ferry_service_def_t *def, const char **path,
                      const char **log_level)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "hVl:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout, def);
            return 0;
        case 'V':
            printf("ferry-%s %s\n", def->name, FERRY_VERSION);
            return 0;
        case 'l':
            *log_level = optarg;
            break;
        default:
            fprintf(stderr, "ferry-%s: unknown option \"%s\" (see --help)\n", def->name,
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "ferry-%s: %s (see --help)\n", def->name,
                optind >= argc ? "no project file given" : "more than one project file given");
        return 2;
    }
    *path = argv[optind];
    return -1;
}

static void service_free(ferry_service_t *svc)
{
    ferry_http_stop(svc->http);
    if (svc->addr_written)
        unlink(svc->addr_path);
    ferry_metrics_destroy(svc->metrics);
    ferry_conf_destroy(svc->conf);
    pthread_mutex_destroy(&svc->lock);
    pthread_cond_destroy(&svc->wake);
}

static int start(ferry_service_t *svc, const char *log_level)
{
    ferry_service_def_t *def = svc->def;
    char err[1024];
    size_t n = ferry_conf_problem_count(svc->conf);
    if (n > 0) {
        fprintf(stderr, "ferry-%s: %s", def->name, ferry_conf_problem(svc->conf, 0));
        if (n > 1)
            fprintf(stderr, " (and %zu more problem%s: run ferryctl check %s)", n - 1,
                    n > 2 ? "s" : "", ferry_conf_path(svc->conf));
        fputc('\n', stderr);
        return 2;
    }
    int level =
        ferry_log_level_parse(log_level ? log_level : ferry_conf_get(svc->conf, "log.level"));
    if (level < 0) {
        fprintf(stderr, "ferry-%s: unknown log level \"%s\"\n", def->name, log_level);
        return 2;
    }
    static char svc_name[64];
    snprintf(svc_name, sizeof(svc_name), "%s%s%s", def->name, def->instance ? "-" : "",
             def->instance ? def->instance : "");
    ferry_log_init(svc_name, (ferry_log_level_t)level);

    if (probe_dependencies(svc, err, sizeof(err)) != 0) {
        fprintf(stderr, "ferry-%s: %s\n", def->name, err);
        return 1;
    }

    char prefix[64];
    snprintf(prefix, sizeof(prefix), "ferry_%s", def->name);
    svc->metrics = ferry_metrics_new();
    if (!svc->metrics) {
        fprintf(stderr, "ferry-%s: out of memory\n", def->name);
        return 1;
    }
    char name[128];
    snprintf(name, sizeof(name), "%s_ready", prefix);
    svc->g_ready = ferry_metrics_gauge(svc->metrics, name,
                                       "1 when Kafka and the databases this service needs "
                                       "answer, else 0",
                                       NULL, NULL);
    snprintf(name, sizeof(name), "%s_start_time_seconds", prefix);
    svc->g_started =
        ferry_metrics_gauge(svc->metrics, name, "Unix time the service started", NULL, NULL);
    snprintf(name, sizeof(name), "%s_dependency_probe_failures_total", prefix);
    svc->c_probe_failures = ferry_metrics_counter(
        svc->metrics, name, "Failed checks of Kafka or a database since start", NULL, NULL);
    ferry_gauge_set(svc->g_started, (int64_t)svc->started);
    publish_readiness(svc, 1, NULL);

    /* instance n of a fixed port listens n - 1 above it */
    int port = ferry_conf_http_port(svc->conf, def->name);
    if (port > 0 && def->instance && atoi(def->instance) > 1)
        port += atoi(def->instance) - 1;
    svc->http = ferry_http_start(ferry_conf_get(svc->conf, "http.bind"), port, svc->metrics,
                                 ready_cb, status_cb, svc, err, sizeof(err));
    if (!svc->http) {
        fprintf(stderr, "ferry-%s: %s\n", def->name, err);
        return 1;
    }
    set_addr_path(svc);
    if (!def->announces_start)
        write_addr_file(svc);
    char q[600];
    ferry_log_info("started", "project=%s http_port=%d addr_file=%s",
                   ferry_conf_get(svc->conf, "project.name"), ferry_http_port(svc->http),
                   ferry_log_quote(svc->addr_path, q, sizeof(q)));
    return 0;
}

int ferry_service_main(int argc, char **argv, ferry_service_def_t *def)
{
    const char *path = NULL, *log_level = NULL;
    int rc = parse_args(argc, argv, def, &path, &log_level);
    if (rc >= 0)
        return rc;

    ferry_service_t svc;
    memset(&svc, 0, sizeof(svc));
    svc.def = def;
    svc.started = time(NULL);
    pthread_mutex_init(&svc.lock, NULL);
    pthread_cond_init(&svc.wake, NULL);
    svc.conf = ferry_conf_load(path);
    if (!svc.conf) {
        fprintf(stderr, "ferry-%s: out of memory\n", def->name);
        return 1;
    }
    install_signals();
    ferry_db_global_init();
    rc = start(&svc, log_level);
    if (rc != 0) {
        service_free(&svc);
        ferry_db_global_cleanup();
        return rc;
    }

    if (pthread_create(&svc.watcher, NULL, watch_main, &svc) == 0)
        svc.watcher_started = 1;
    int run_rc = def->run(&svc);

    ferry_log_info("stopping", "reason=%s", ferry_service_stopping(&svc) ? "signal" : "done");
    stop_requested = 1;
    if (svc.watcher_started) {
        pthread_mutex_lock(&svc.lock);
        pthread_cond_broadcast(&svc.wake);
        pthread_mutex_unlock(&svc.lock);
        pthread_join(svc.watcher, NULL);
    }
    service_free(&svc);
    ferry_db_global_cleanup();
    ferry_log_info("stopped", "status=%d", run_rc == 0 ? 0 : 1);
    return run_rc == 0 ? 0 : 1;
}
