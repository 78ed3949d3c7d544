/*
 * ferry-worker - full-load workers of a project, without capture or planner.
 *
 * Joins the project's worker group over the tasks topic with
 * fullload.threads worker threads (producer/workers.h) and copies whatever
 * chunks the group hands it, exactly as the producer's own workers do; run
 * several, on one machine or many, to share a full load. A worker killed at
 * any moment loses nothing: its chunk's partition goes to another member,
 * which copies the chunk again, and the done-marker contract (fullload.h)
 * keeps the destination from seeing it twice.
 *
 * The environment variable FERRY_INSTANCE names the process when several
 * run from one runtime.dir (ferryctl up sets 1, 2, ...): its address file
 * is runtime.dir/worker-<instance>.addr and its transactional ids
 * <host>-w<instance>-<thread>, stable across restarts of that slot.
 */
#include "clock.h"
#include "db.h"
#include "err.h"
#include "fullload.h"
#include "kafka.h"
#include "link_map.h"
#include "log.h"
#include "registry.h"
#include "service.h"
#include "workers.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    pthread_mutex_t lock; /* guards workers against /status */
    producer_workers_t *workers;
    char slot[200];
    uint64_t restarts; /* starts over after losing the source (guarded by lock) */
} worker_state_t;

/*
 * The column filters of the selected tables, which the workers apply. The
 * connection stays open in *db, idle: if it stops answering, the source
 * restarted or dropped its sessions (see run).
 */
static int load_filters(const ferry_conf_t *conf, ferry_db_t **db, ferry_rename_map_t **filters,
                        const char **connector, char *errstr, size_t n)
{
    ferry_table_name_t *names = NULL;
    size_t count = 0;
    int rc = ferry_db_connect(ferry_conf_get(conf, "source.url"), "source",
                              (int)ferry_conf_get_int(conf, "connect.timeout.ms"), db, errstr, n);
    if (rc == 0) {
        *connector = strstr(ferry_db_server_version(*db), "MariaDB") ? "mariadb" : "mysql";
        rc = ferry_link_list_tables(conf, ferry_db_mysql(*db), &names, &count, errstr, n);
    }
    if (rc == 0)
        rc = ferry_link_map_new(conf, names, count, filters, errstr, n);
    ferry_table_names_free(names, count);
    return rc;
}

/* The tasks topic, created as the producer creates it when the worker is first. */
static int tasks_topic(const ferry_conf_t *conf, char *errstr, size_t n)
{
    char topic[300];
    ferry_fullload_tasks_topic(ferry_conf_get(conf, "project.name"), topic, sizeof(topic));
    const char *configs[] = {"cleanup.policy", "delete", NULL};
    return ferry_kafka_topic_create(
        ferry_conf_kafka_props(conf), topic, (int)ferry_conf_get_int(conf, "topics.partitions"),
        (int)ferry_conf_get_int(conf, "topics.replication.factor"), configs, 1,
        (int)ferry_conf_get_int(conf, "connect.timeout.ms"), errstr, n);
}

/*
 * Runs the worker threads. When they fail and the source connection opened
 * at the start no longer answers (the source restarted, or the network
 * dropped its sessions), the worker starts over once the source answers: a
 * chunk cut off is copied again by whichever member the group hands it to,
 * exactly as after a kill. Any other failure stops the process with status 1.
 */
static int run(ferry_service_t *svc)
{
    worker_state_t *st = ferry_service_opaque(svc);
    const ferry_conf_t *conf = ferry_service_conf(svc);
    char err[1024], q[1100], prefix[256];
    ferry_service_topic_prefix(svc, "fwd", prefix, sizeof(prefix));
    int failed = 0, answered = 0, backoff = 500, quick = 0;
    int64_t started_ms = 0;
    for (bool again = false; !ferry_service_stopping(svc); again = true) {
        ferry_db_t *db = NULL;
        ferry_rename_map_t *filters = NULL;
        const char *connector = "mysql";
        ferry_registry_t *registry = NULL;
        producer_workers_t *workers = NULL;
        int rc = load_filters(conf, &db, &filters, &connector, err, sizeof(err)) != 0 ||
                 tasks_topic(conf, err, sizeof(err)) != 0 ||
                 !(registry = ferry_registry_from_conf(conf, err, sizeof(err))) ||
                 producer_workers_start(conf, prefix, st->slot, connector, registry, filters,
                                        &workers, err, sizeof(err)) != 0;
        if (!rc) {
            pthread_mutex_lock(&st->lock);
            st->workers = workers;
            pthread_mutex_unlock(&st->lock);
            if (again)
                ferry_log_info("full-load worker started over", "restarts=%llu",
                               (unsigned long long)st->restarts);
            answered = 0;
            backoff = 500;
            started_ms = ferry_mono_ms();
        }
        while (!rc && !ferry_service_stopping(svc)) {
            if (producer_workers_check(workers, err, sizeof(err)) != 0)
                rc = 1;
            else
                ferry_service_sleep(svc, 200);
        }
        bool lost = rc && (!db || ferry_db_ping(db, NULL, 0) != 0), ran = workers != NULL;
        pthread_mutex_lock(&st->lock);
        st->workers = NULL;
        st->restarts += ran && lost;
        pthread_mutex_unlock(&st->lock);
        producer_workers_stop(workers); /* each finishes its chunk and leaves the group */
        ferry_registry_destroy(registry);
        ferry_rename_map_destroy(filters);
        ferry_db_close(db);
        if (!rc)
            break;
        ferry_log_quote(err, q, sizeof(q));
        /*
         * Fails: workers that failed with the source still there (or lost
         * it again and again soon after each start), a first start, or
         * starts over that keep failing while the source answers.
         */
        if ((ran && (!lost || ferry_service_start_over_too_soon(&quick, started_ms))) ||
            (!ran && !again) ||
            (!ran && ferry_service_db_probe(svc, "source", NULL, 0) == 0 &&
             ++answered >= FERRY_START_OVER_TRIES)) {
            ferry_log_error("full-load worker failed", "error=%s", q);
            failed = 1;
            break;
        }
        ferry_log_warn(ran ? "lost the source; starting over once it answers"
                           : "could not start over yet; trying again",
                       "retry_ms=%d error=%s", backoff, q);
        ferry_service_sleep(svc, backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return failed;
}

static void status(ferry_service_t *svc, ferry_json_t *j)
{
    worker_state_t *st = ferry_service_opaque(svc);
    ferry_json_key(j, "slot");
    ferry_json_string(j, st->slot);
    pthread_mutex_lock(&st->lock);
    ferry_json_key(j, "restarts");
    ferry_json_uint(j, st->restarts);
    if (st->workers)
        producer_workers_status(st->workers, j);
    pthread_mutex_unlock(&st->lock);
}

int main(int argc, char **argv)
{
    static worker_state_t state = {.lock = PTHREAD_MUTEX_INITIALIZER};
    const char *instance = getenv("FERRY_INSTANCE");
    if (instance && !*instance)
        instance = NULL;
    char host[128] = "worker";
    gethostname(host, sizeof(host) - 1);
    snprintf(state.slot, sizeof(state.slot), "%s-w%s", host, instance ? instance : "0");
    ferry_service_def_t def = {
        .name = "worker",
        .summary = "Copies chunks of the full load (fullload.threads threads) as a member of the\n"
                   "project's worker group; several may run at once, on any machine.",
        .needs_source = 1,
        .run = run,
        .status = status,
        .opaque = &state,
        .instance = instance,
    };
    return ferry_service_main(argc, argv, &def);
}
