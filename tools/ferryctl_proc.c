/*
 * ferryctl_proc.c - `ferryctl up` and `ferryctl down`: the project's
 * services as background processes on this machine.
 *
 * up starts ferry-producer, consumer.instances ferry-consumer processes
 * (named consumer, or consumer-1, consumer-2, ... when there are several),
 * ferry-verifier and fullload.workers ferry-worker processes (worker-1,
 * worker-2, ...), each told its name through FERRY_INSTANCE, detached from
 * the terminal (own session), stdout and stderr appended to
 * runtime.dir/logs/<service>.log, pid in runtime.dir/<service>.pid, and
 * waits until each has written its HTTP address (it is past its start-up
 * checks: the producer writes it only after its precheck and topics) or has
 * died. When one does not start, up shows what that service logged in this
 * start, stops the services it started before it (as down does), starts no
 * more and exits 1; the failed one's pid file stays, so `ferryctl wait` and
 * `status` can tell it gave up. Before anything starts, up refuses a project
 * where two of its processes would listen on one fixed HTTP port (fine for
 * services in containers of their own, so check only warns of it).
 * down sends SIGTERM (the services flush, commit and exit 0) and waits, then
 * SIGKILL with a warning after the timeout.
 *
 * The service binaries are looked for next to ferryctl, then in the build
 * tree's layout (../<service>/ferry-<service>), then on PATH.
 */
#include "ferryctl.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_WAIT_S 60
/* down looks for this many consumer and worker slots, whatever the file says now */
#define MAX_CONSUMERS 32
#define MAX_WORKERS   64

/* One process up or down handles: "producer", "consumer-<n>", "worker-<n>", ... */
typedef struct {
    char name[32];      /* pid, log and address files */
    const char *binary; /* ferry-<binary> */
    char instance[16];  /* FERRY_INSTANCE, "" for none */
} proc_t;

/*
 * The project's processes in start order: the consumer as n of them when
 * n > 1, then the given number of full-load workers.
 */
static size_t proc_list(proc_t *out, size_t cap, int consumers, int workers)
{
    size_t n = 0;
    for (int i = 0; i < FERRYCTL_N_SERVICES; i++) {
        const char *svc = ferryctl_services[i];
        int copies = strcmp(svc, "consumer") == 0 && consumers > 1 ? consumers : 0;
        for (int k = copies ? 1 : 0; k <= copies && n < cap; k++, n++) {
            out[n].binary = svc;
            snprintf(out[n].instance, sizeof(out[n].instance), "%.0d", k);
            snprintf(out[n].name, sizeof(out[n].name), "%s%s%s", svc, k ? "-" : "",
                     out[n].instance);
        }
    }
    for (int k = 1; k <= workers && k <= MAX_WORKERS && n < cap; k++, n++) {
        snprintf(out[n].name, sizeof(out[n].name), "worker-%d", k);
        out[n].binary = "worker";
        snprintf(out[n].instance, sizeof(out[n].instance), "%d", k);
    }
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Finds ferry-<svc>; writes a path or the bare name (PATH lookup) to out. */
static void find_binary(const char *svc, char *out, size_t n)
{
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len > 0) {
        self[len] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, n, "%s/ferry-%s", self, svc);
            if (access(out, X_OK) == 0)
                return;
            snprintf(out, n, "%s/../%s/ferry-%s", self, svc, svc);
            if (access(out, X_OK) == 0)
                return;
        }
    }
    snprintf(out, n, "ferry-%s", svc);
}

static void path_of(const ferry_conf_t *conf, const char *svc, const char *ext, char *out, size_t n)
{
    char dir[400];
    ferry_conf_runtime_dir(conf, dir, sizeof(dir));
    if (strcmp(ext, "log") == 0)
        snprintf(out, n, "%s/logs/%s.log", dir, svc);
    else
        snprintf(out, n, "%s/%s.%s", dir, svc, ext);
}

/* The pid in the process's pid file if that process still runs ferry-<binary>. */
static pid_t running_pid(const ferry_conf_t *conf, const proc_t *proc)
{
    char path[512];
    path_of(conf, proc->name, "pid", path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    if (pid <= 0 || kill((pid_t)pid, 0) != 0)
        return 0;
    /* a recycled pid belongs to some other program: check its name */
    char cmdline[64], cmd[256] = "";
    snprintf(cmdline, sizeof(cmdline), "/proc/%ld/cmdline", pid);
    FILE *c = fopen(cmdline, "r");
    if (c) {
        size_t got = fread(cmd, 1, sizeof(cmd) - 1, c);
        cmd[got] = '\0';
        fclose(c);
    }
    char want[32];
    snprintf(want, sizeof(want), "ferry-%s", proc->binary);
    return strstr(cmd, want) ? (pid_t)pid : 0;
}

/*
 * Whether the log at path ends with ferry-<binary> giving up: its last
 * "started" or "stopped" line is a "stopped" with a status other than 0, or
 * after it comes the one line a service prints when it refuses to start
 * ("ferry-<binary>: could not connect ..."). A process killed, or stopped by
 * down, writes none or status=0. reason gets the last error line, from its
 * message on, or the refusal after its "ferry-<binary>: ".
 */
static int log_says_failed(const char *path, const char *binary, char *reason, size_t n)
{
    char refusal[48];
    snprintf(refusal, sizeof(refusal), "ferry-%s: ", binary);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[16384];
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    long from = size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0;
    size_t got = fseek(f, from, SEEK_SET) == 0 ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    fclose(f);
    buf[got] = '\0';
    int failed = 0;
    reason[0] = '\0';
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strstr(line, " msg=\"started\""))
            failed = 0, reason[0] = '\0';
        else if (strstr(line, " msg=\"stopped\""))
            failed = !strstr(line, " status=0");
        else if (strstr(line, " level=error ") && strstr(line, " msg="))
            snprintf(reason, n, "%s", strstr(line, " msg=") + 1);
        else if (strncmp(line, refusal, strlen(refusal)) == 0)
            failed = 1, snprintf(reason, n, "%s", line + strlen(refusal));
    }
    return failed;
}

/*
 * The producer, or the consumers when none of them runs any more (another
 * consumer takes a stopped one's tables; full-load workers and the
 * verifier are not needed for either goal).
 */
int ferryctl_service_failed(const ferry_conf_t *conf, char *why, size_t n)
{
    /* producer first, then every consumer name up or down may have used */
    proc_t procs[FERRYCTL_N_SERVICES + MAX_CONSUMERS + 1];
    size_t nprocs = proc_list(procs, sizeof(procs) / sizeof(procs[0]) - 1, MAX_CONSUMERS, 0);
    procs[nprocs++] = (proc_t){"consumer", "consumer", ""};
    char first[800] = "";
    for (size_t i = 0; i < nprocs; i++) {
        if (strcmp(procs[i].binary, "producer") != 0 && strcmp(procs[i].binary, "consumer") != 0)
            continue; /* the verifier: neither goal needs it */
        bool producer = strcmp(procs[i].binary, "producer") == 0;
        char name[sizeof(procs[i].name)], pidfile[512], log[512], reason[600];
        memcpy(name, procs[i].name, sizeof(name)); /* bounded, for the compiler's sake */
        name[sizeof(name) - 1] = '\0';
        path_of(conf, name, "pid", pidfile, sizeof(pidfile));
        if (access(pidfile, F_OK) != 0)
            continue;
        if (running_pid(conf, &procs[i])) {
            if (!producer)
                return 0; /* a consumer still runs */
            continue;
        }
        path_of(conf, name, "log", log, sizeof(log));
        if (!log_says_failed(log, procs[i].binary, reason, sizeof(reason)))
            continue;
        snprintf(producer ? why : first, producer ? n : sizeof(first),
                 "ferry-%s stopped on an error (%s): %s", name, log,
                 reason[0] ? reason : "see its log");
        if (producer)
            return 1;
    }
    if (!first[0])
        return 0;
    snprintf(why, n, "%s", first);
    return 1;
}

static int mkdirs(const char *dir)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The size of a log before a start, so that only that start's lines are shown. */
static long log_size(const char *log)
{
    struct stat st;
    return stat(log, &st) == 0 ? (long)st.st_size : 0;
}

#define TAIL_LINES 12

/* The last lines of log from offset from on (logs are appended to by every run). */
static void show_log_since(const char *log, long from)
{
    FILE *f = fopen(log, "r");
    if (!f || fseek(f, from, SEEK_SET) != 0) {
        if (f)
            fclose(f);
        return;
    }
    char lines[TAIL_LINES][512];
    int n = 0;
    while (fgets(lines[n % TAIL_LINES], sizeof(lines[0]), f))
        n++;
    fclose(f);
    if (n == 0)
        fputs("    (nothing)\n", stderr);
    for (int i = n > TAIL_LINES ? n - TAIL_LINES : 0; i < n; i++)
        fprintf(stderr, "    %s%s", lines[i % TAIL_LINES],
                strchr(lines[i % TAIL_LINES], '\n') ? "" : "\n");
}

static pid_t spawn(const char *bin, const char *instance, const char *project, const char *log)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* child: own session, so a Ctrl-C at the shell does not reach it */
    setsid();
    if (*instance)
        setenv("FERRY_INSTANCE", instance, 1);
    else
        unsetenv("FERRY_INSTANCE");
    int in = open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0)
        _exit(127);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    close(in);
    close(out);
    execlp(bin, bin, project, (char *)NULL);
    fprintf(stderr, "ferryctl: could not run \"%s\": %s\n", bin, strerror(errno));
    _exit(127);
}

/*
 * Waits for the address file, which a service writes once it passed its
 * start-up checks: 0 when it appeared, -1 when the process died, -2 when it
 * still runs without one after START_WAIT_S.
 */
static int wait_started(const ferry_conf_t *conf, const char *svc, pid_t pid)
{
    char addr[512];
    path_of(conf, svc, "addr", addr, sizeof(addr));
    for (int i = 0; i < START_WAIT_S * 10; i++) {
        struct stat st;
        if (stat(addr, &st) == 0 && st.st_size > 0)
            return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return -1;
        sleep_ms(100);
    }
    return -2;
}

/*
 * Stops one process gracefully: SIGTERM, then SIGKILL with a warning after
 * timeout seconds; removes its pid file. Returns 1 if it had to be killed.
 */
static int stop_proc(const ferry_conf_t *conf, const proc_t *proc, pid_t pid, long timeout)
{
    char pidfile[512];
    path_of(conf, proc->name, "pid", pidfile, sizeof(pidfile));
    kill(pid, SIGTERM);
    long waited = 0;
    while (kill(pid, 0) == 0 && waited < timeout * 10) {
        /* reap it if it is our child (after `up` it is not: harmless) */
        waitpid(pid, NULL, WNOHANG);
        sleep_ms(100);
        waited++;
    }
    int forced = 0;
    if (kill(pid, 0) == 0 && running_pid(conf, proc) == pid) {
        fprintf(stderr, "ferry-%s (pid %ld) did not stop within %ld s; killing it\n", proc->name,
                (long)pid, timeout);
        kill(pid, SIGKILL);
        forced = 1;
    } else {
        printf("ferry-%s stopped\n", proc->name);
    }
    unlink(pidfile);
    return forced;
}

/* The "<service>.http.port" key that sets binary's port, else "http.port". */
static const char *port_key(const ferry_conf_t *conf, const char *binary, char *key, size_t n)
{
    size_t count;
    const ferry_conf_prop_t *props = ferry_conf_props(&count);
    snprintf(key, n, "%s.http.port", binary);
    for (size_t i = 0; i < count; i++)
        if (strcmp(props[i].name, key) == 0 && ferry_conf_get(conf, key))
            return key;
    return "http.port";
}

int ferryctl_check_ports(const ferry_conf_t *conf, const char *prefix)
{
    proc_t procs[FERRYCTL_N_SERVICES + MAX_CONSUMERS + MAX_WORKERS];
    size_t nprocs = proc_list(procs, sizeof(procs) / sizeof(procs[0]),
                              (int)ferry_conf_get_int(conf, "consumer.instances"),
                              (int)ferry_conf_get_int(conf, "fullload.workers"));
    /* instance n of a fixed port listens n - 1 above it (service.c) */
    long port[sizeof(procs) / sizeof(procs[0])];
    for (size_t i = 0; i < nprocs; i++) {
        port[i] = ferry_conf_http_port(conf, procs[i].binary);
        if (port[i] > 0 && atoi(procs[i].instance) > 1)
            port[i] += atoi(procs[i].instance) - 1;
    }
    int problems = 0;
    for (size_t i = 0; i < nprocs; i++) {
        if (port[i] <= 0)
            continue; /* a free port, or reported with an earlier one */
        /* every process on this port, as "ferry-NAME (KEY[ + n])" */
        char key[40];
        ferry_strbuf_t text = FERRY_STRBUF_INIT;
        size_t shared = 0;
        for (size_t j = i; j < nprocs; j++) {
            if (port[j] != port[i])
                continue;
            int above = atoi(procs[j].instance) > 1 ? atoi(procs[j].instance) - 1 : 0;
            const char *k = port_key(conf, procs[j].binary, key, sizeof(key));
            ferry_strbuf_printf(&text, "%sferry-%s (%s", j > i ? ", " : "", procs[j].name, k);
            if (above)
                ferry_strbuf_printf(&text, " + %d", above);
            ferry_strbuf_puts(&text, ")");
            if (j > i)
                port[j] = 0;
            shared++;
        }
        const char *list = text.buf ? text.buf : "";
        if (port[i] > 65535) {
            fprintf(stderr, "%s%s would listen on port %ld, above 65535\n", prefix, list, port[i]);
            problems++;
        } else if (shared > 1) {
            fprintf(stderr,
                    "%s%s would %s listen on port %ld: give each its own with "
                    "producer.http.port, consumer.http.port and verifier.http.port (workers "
                    "use http.port; consumer-n and worker-n listen n - 1 above theirs), or 0 "
                    "for a free one\n",
                    prefix, list, shared == 2 ? "both" : "all", port[i]);
            problems++;
        }
        ferry_strbuf_free(&text);
    }
    return problems;
}

int ferryctl_cmd_up(int argc, char **argv)
{
    if (argc != 1) {
        fputs("ferryctl up: expected one project file\n", stderr);
        return 2;
    }
    ferry_conf_t *conf = ferryctl_open("up", argv[0]);
    if (!conf)
        return 2;
    if (ferryctl_check_ports(conf, "ferryctl up: ") > 0) {
        ferry_conf_destroy(conf);
        return 2;
    }
    char project[PATH_MAX], dir[400], logs[512];
    if (!realpath(argv[0], project))
        snprintf(project, sizeof(project), "%s", argv[0]);
    ferry_conf_runtime_dir(conf, dir, sizeof(dir));
    snprintf(logs, sizeof(logs), "%s/logs", dir);
    if (mkdirs(logs) != 0) {
        fprintf(stderr, "ferryctl up: could not create \"%s\": %s\n", logs, strerror(errno));
        ferry_conf_destroy(conf);
        return 1;
    }
    int failed = 0;
    proc_t procs[FERRYCTL_N_SERVICES + MAX_CONSUMERS + MAX_WORKERS];
    pid_t started[sizeof(procs) / sizeof(procs[0])] = {0}; /* by this call, else 0 */
    size_t nprocs = proc_list(procs, sizeof(procs) / sizeof(procs[0]),
                              (int)ferry_conf_get_int(conf, "consumer.instances"),
                              (int)ferry_conf_get_int(conf, "fullload.workers"));
    size_t i;
    for (i = 0; i < nprocs && !failed; i++) {
        const char *svc = procs[i].name;
        pid_t old = running_pid(conf, &procs[i]);
        if (old) {
            printf("ferry-%s is already running (pid %ld)\n", svc, (long)old);
            continue;
        }
        char bin[PATH_MAX + 32], log[512], pidfile[512], addr[512];
        find_binary(procs[i].binary, bin, sizeof(bin));
        path_of(conf, svc, "log", log, sizeof(log));
        path_of(conf, svc, "pid", pidfile, sizeof(pidfile));
        path_of(conf, svc, "addr", addr, sizeof(addr));
        unlink(addr); /* a stale address would look like a started service */
        long log_from = log_size(log);
        pid_t pid = spawn(bin, procs[i].instance, project, log);
        if (pid < 0) {
            fprintf(stderr, "ferryctl up: could not start ferry-%s: %s\n", svc, strerror(errno));
            failed = 1;
            break;
        }
        FILE *f = fopen(pidfile, "w");
        if (f) {
            fprintf(f, "%ld\n", (long)pid);
            fclose(f);
        }
        int rc = wait_started(conf, svc, pid);
        if (rc != 0) {
            if (rc == -2)
                fprintf(stderr,
                        "ferryctl up: ferry-%s did not start within %d s; what it logged (%s):\n",
                        svc, START_WAIT_S, log);
            else
                fprintf(stderr, "ferryctl up: ferry-%s did not start; what it logged (%s):\n", svc,
                        log);
            show_log_since(log, log_from);
            /* a dead one keeps its pid file: wait and status tell it gave up */
            if (rc == -2)
                stop_proc(conf, &procs[i], pid, 30);
            failed = 1;
            break;
        }
        started[i] = pid;
        char url[256] = "";
        FILE *a = fopen(addr, "r");
        if (a) {
            if (fgets(url, sizeof(url), a))
                url[strcspn(url, "\r\n")] = '\0';
            fclose(a);
        }
        printf("ferry-%-9s pid %-7ld %s  log %s\n", svc, (long)pid, url, log);
    }
    /* half a link is no use: stop what this call started, last first */
    for (size_t k = i; failed && k-- > 0;) {
        if (!started[k])
            continue;
        fprintf(stderr, "ferryctl up: stopping ferry-%s, which it started\n", procs[k].name);
        stop_proc(conf, &procs[k], started[k], 30);
    }
    ferry_conf_destroy(conf);
    return failed ? 1 : 0;
}

int ferryctl_cmd_down(int argc, char **argv)
{
    const char *path = NULL;
    long timeout = 30;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            timeout = strtol(argv[++i], &end, 10);
            if (*end || timeout < 0) {
                fprintf(stderr, "ferryctl down: bad --timeout \"%s\"\n", argv[i]);
                return 2;
            }
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "ferryctl down: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    ferry_conf_t *conf = ferryctl_open("down", path);
    if (!conf)
        return 2;
    int forced = 0, stopped = 0;
    /* stop in reverse order: workers first, the producer is the last to go */
    proc_t procs[FERRYCTL_N_SERVICES + MAX_CONSUMERS + MAX_WORKERS + 1];
    size_t nprocs =
        proc_list(procs, sizeof(procs) / sizeof(procs[0]) - 1, MAX_CONSUMERS, MAX_WORKERS);
    /* and a single consumer, whatever consumer.instances said when it started */
    memmove(&procs[2], &procs[1], (nprocs - 1) * sizeof(procs[0]));
    procs[1] = (proc_t){"consumer", "consumer", ""};
    nprocs++;
    for (size_t i = nprocs; i-- > 0;) {
        pid_t pid = running_pid(conf, &procs[i]);
        if (!pid) {
            char pidfile[512];
            path_of(conf, procs[i].name, "pid", pidfile, sizeof(pidfile));
            unlink(pidfile);
            continue;
        }
        forced |= stop_proc(conf, &procs[i], pid, timeout);
        stopped++;
    }
    if (!stopped) {
        char dir[400];
        ferry_conf_runtime_dir(conf, dir, sizeof(dir));
        printf("nothing running (no service of this project has a live pid file in %s)\n", dir);
    }
    ferry_conf_destroy(conf);
    return forced ? 1 : 0;
}
