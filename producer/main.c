/*
 * ferry-producer - capture and full-load side of a link.
 *
 * In order: prechecks the source (any error stops it before anything is
 * written), creates the link's control topics, writes its address file (the
 * sign `ferryctl up` waits for), then runs the snapshot side
 * (snapshot.h: schema events, chunk planning and copying, high watermarks)
 * until every table is copied. Binlog capture runs beside it (capture.h).
 */
#include "capture.h"
#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "log.h"
#include "precheck.h"
#include "rate.h"
#include "registry.h"
#include "service.h"
#include "snapshot.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    atomic_int topics_ready;
    atomic_int phase; /* 0 starting, 1 snapshot, 2 streaming */
    char prefix[256];
    pthread_mutex_t lock;          /* guards snapshot and capture against /status */
    producer_snapshot_t *snapshot; /* NULL before start and after stop */
    ferry_capture_t *capture;      /* NULL before start and after stop */
    pthread_t capture_thread;
    volatile int capture_stop; /* set by the main thread: capture flushes and returns */
    atomic_int capture_failed;
    char capture_error[1024];
    uint64_t snapshot_restarts; /* starts over after losing the source (guarded by lock) */
    /* capture's changes per table, sampled once a second for /status (guarded by lock) */
    struct table_rate {
        char source[300];
        uint64_t changes;
        ferry_rate_t rate;
    } * capture_tables;
    size_t n_capture_tables;
    int64_t capture_sampled_ms;  /* main thread */
    int64_t snapshot_started_ms; /* main thread */
    int quick_restarts;          /* snapshot starts over in a row, each soon after a start */
} producer_state_t;

/* Samples capture's per-table counts for the rates of /status (at most once a second). */
static void sample_capture(producer_state_t *st)
{
    int64_t now = ferry_wall_ms();
    if (!st->capture || (now - st->capture_sampled_ms < 1000 && now >= st->capture_sampled_ms))
        return;
    st->capture_sampled_ms = now;
    size_t cap = ferry_capture_table_counts(st->capture, NULL, 0);
    ferry_capture_table_count_t *counts = cap ? calloc(cap, sizeof(*counts)) : NULL;
    size_t n = counts ? ferry_capture_table_counts(st->capture, counts, cap) : 0;
    if (n > cap)
        n = cap; /* a table met meanwhile waits for the next sample */
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < n; i++) {
        char name[300];
        snprintf(name, sizeof(name), "%s.%s", counts[i].db, counts[i].table);
        /* capture lists its tables in the order first met, as they were added here */
        struct table_rate *e =
            i < st->n_capture_tables && !strcmp(st->capture_tables[i].source, name)
                ? &st->capture_tables[i]
                : NULL;
        for (size_t k = 0; k < st->n_capture_tables && !e; k++)
            if (!strcmp(st->capture_tables[k].source, name))
                e = &st->capture_tables[k];
        if (!e) {
            struct table_rate *grown =
                realloc(st->capture_tables, (st->n_capture_tables + 1) * sizeof(*grown));
            if (!grown)
                break;
            st->capture_tables = grown;
            e = memset(&grown[st->n_capture_tables++], 0, sizeof(*e));
            snprintf(e->source, sizeof(e->source), "%s", name);
        }
        e->changes = counts[i].inserts + counts[i].updates + counts[i].deletes;
        ferry_rate_sample(&e->rate, now, &e->changes, 1);
    }
    pthread_mutex_unlock(&st->lock);
    free(counts);
}

static void *capture_main(void *arg)
{
    producer_state_t *st = arg;
    char err[1024];
    if (ferry_capture_run(st->capture, &st->capture_stop, err, sizeof(err)) != 0) {
        snprintf(st->capture_error, sizeof(st->capture_error), "%s", err);
        atomic_store(&st->capture_failed, 1);
    }
    return NULL;
}

/* Starts binlog capture at P0 (or its own last checkpoint) on a thread. */
static int start_capture(producer_state_t *st, const ferry_conf_t *conf, ferry_registry_t *registry,
                         char *err, size_t n)
{
    char file[256], gtid[1024];
    uint64_t pos;
    producer_snapshot_p0(st->snapshot, file, sizeof(file), &pos, gtid, sizeof(gtid));
    ferry_capture_conf_t cc = {
        .project = conf,
        .prefix = st->prefix,
        .registry = registry,
        .start_file = file,
        .start_pos = pos,
        .start_gtid = *gtid ? gtid : NULL,
        .version = FERRY_VERSION,
        .timeout_ms = (int)ferry_conf_get_int(conf, "connect.timeout.ms"),
    };
    ferry_capture_t *c = ferry_capture_new(&cc, err, n);
    if (!c)
        return FERRY_ERR_FATAL;
    pthread_mutex_lock(&st->lock);
    st->capture = c;
    pthread_mutex_unlock(&st->lock);
    if (pthread_create(&st->capture_thread, NULL, capture_main, st) != 0) {
        snprintf(err, n, "could not start the capture thread");
        return FERRY_ERR_FATAL;
    }
    return 0;
}

/* One control topic: its suffix, partitions (0 = topics.partitions) and config. */
static const struct {
    const char *suffix;
    int per_project; /* named ferry.<project>.X rather than <prefix>.X */
    int partitions;
    const char *cleanup;
} control_topics[] = {
    {"offsets", 0, 1, "compact"}, {"ddl", 0, 1, "delete"},   {"dlq", 0, 0, "delete"},
    {"schemas", 1, 1, "compact"}, {"tasks", 1, 0, "delete"},
};

static int create_topics(ferry_service_t *svc, producer_state_t *st)
{
    const ferry_conf_t *conf = ferry_service_conf(svc);
    const char *const *props = ferry_conf_kafka_props(conf);
    int parts = (int)ferry_conf_get_int(conf, "topics.partitions");
    int rf = (int)ferry_conf_get_int(conf, "topics.replication.factor");
    int timeout = (int)ferry_conf_get_int(conf, "connect.timeout.ms");
    for (size_t i = 0; i < sizeof(control_topics) / sizeof(control_topics[0]); i++) {
        char topic[300], err[512];
        if (control_topics[i].per_project)
            snprintf(topic, sizeof(topic), "ferry.%s.%s", ferry_conf_get(conf, "project.name"),
                     control_topics[i].suffix);
        else
            snprintf(topic, sizeof(topic), "%s.%s", st->prefix, control_topics[i].suffix);
        const char *configs[] = {"cleanup.policy", control_topics[i].cleanup, NULL};
        int n = control_topics[i].partitions ? control_topics[i].partitions : parts;
        if (ferry_kafka_topic_create(props, topic, n, rf, configs, 1, timeout, err, sizeof(err)) !=
            0) {
            ferry_log_error("could not create topic", "topic=%s error=\"%s\"", topic, err);
            return FERRY_ERR_FATAL;
        }
        ferry_log_info("topic ready", "topic=%s partitions=%d cleanup=%s", topic, n,
                       control_topics[i].cleanup);
    }
    return 0;
}

/*
 * Runs the source checks and logs each finding. 0 when none is an error;
 * else logs that nothing was written, with the first error (the line
 * `ferryctl wait` quotes when the producer gave up), and fails.
 */
static int precheck(const ferry_conf_t *conf)
{
    ferry_precheck_t *p = ferry_precheck_new();
    if (!p)
        return FERRY_ERR_NOMEM;
    ferry_precheck_link(conf, p);
    const char *first = NULL;
    for (size_t i = 0; i < ferry_precheck_count(p); i++) {
        char q[1200];
        int error = ferry_precheck_severity(p, i) == FERRY_PRECHECK_ERROR;
        if (error && !first)
            first = ferry_precheck_text(p, i);
        ferry_log(error ? FERRY_LOG_ERROR : FERRY_LOG_WARN, "precheck", "finding=%s",
                  ferry_log_quote(ferry_precheck_text(p, i), q, sizeof(q)));
    }
    size_t errors = ferry_precheck_errors(p);
    if (errors) {
        char q[1200];
        ferry_log_error("precheck failed: nothing was written; fix the findings above and start "
                        "again",
                        "errors=%zu first=%s", errors, ferry_log_quote(first, q, sizeof(q)));
    }
    ferry_precheck_destroy(p);
    return errors ? FERRY_ERR_FATAL : 0;
}

/* Capture's running counts per table, for /metrics. */
static void capture_table_metrics(ferry_capture_t *capture, ferry_metrics_t *m)
{
    size_t cap = ferry_capture_table_counts(capture, NULL, 0);
    ferry_capture_table_count_t *counts = cap ? calloc(cap, sizeof(*counts)) : NULL;
    if (!counts)
        return;
    size_t n = ferry_capture_table_counts(capture, counts, cap);
    if (n > cap)
        n = cap; /* a table met meanwhile waits for the next render */
    for (size_t i = 0; i < n; i++) {
        char name[300];
        snprintf(name, sizeof(name), "%s.%s", counts[i].db, counts[i].table);
        ferry_counter_raise(ferry_metrics_counter(m, "ferry_producer_changes_total",
                                                  "Row changes of the table capture committed to "
                                                  "Kafka",
                                                  "table", name),
                            counts[i].inserts + counts[i].updates + counts[i].deletes);
    }
    free(counts);
}

/*
 * /metrics from what /status shows: capture's counts and lag, and each
 * table's full-load progress (runs before each render, on the HTTP thread).
 */
static void collect_metrics(void *arg)
{
    ferry_service_t *svc = arg;
    producer_state_t *st = ferry_service_opaque(svc);
    ferry_metrics_t *m = ferry_service_metrics(svc);
    pthread_mutex_lock(&st->lock);
    if (st->snapshot)
        producer_snapshot_metrics(st->snapshot, m);
    if (st->capture) {
        ferry_capture_status_t cs;
        ferry_capture_status(st->capture, &cs);
        ferry_counter_raise(ferry_metrics_counter(m, "ferry_producer_capture_events_total",
                                                  "Change and DDL events capture committed to "
                                                  "Kafka",
                                                  NULL, NULL),
                            cs.events);
        ferry_counter_raise(ferry_metrics_counter(m, "ferry_producer_capture_transactions_total",
                                                  "Source transactions capture covered by "
                                                  "checkpoints",
                                                  NULL, NULL),
                            cs.transactions);
        ferry_counter_raise(ferry_metrics_counter(m, "ferry_producer_capture_reconnects_total",
                                                  "Reconnections to the source's binlog", NULL,
                                                  NULL),
                            cs.reconnects);
        ferry_gauge_set_double(ferry_metrics_gauge_double(m, "ferry_producer_capture_lag_seconds",
                                                          "Seconds from the source commit of the "
                                                          "last event read to its reading (0 "
                                                          "when idle)",
                                                          NULL, NULL),
                               (double)cs.lag_ms / 1000.0);
        capture_table_metrics(st->capture, m);
    }
    pthread_mutex_unlock(&st->lock);
}

/*
 * The source went away during the full load (it restarted, or the network
 * dropped its sessions): the planner's and the workers' connections failed.
 * The snapshot starts over once the source answers, from what Kafka holds,
 * as a restarted producer's would: chunks done stay done, a chunk cut off
 * is copied again (its rows are never seen twice, fullload.h). Capture
 * reconnects by itself meanwhile. Returns the new snapshot, or NULL when
 * asked to stop or when it cannot start (logged; *failed set).
 */
static producer_snapshot_t *snapshot_again(ferry_service_t *svc, producer_state_t *st,
                                           ferry_registry_t *registry, producer_snapshot_t *old,
                                           const char *why, int *failed)
{
    char q[1100];
    ferry_log_quote(why, q, sizeof(q));
    if (ferry_service_start_over_too_soon(&st->quick_restarts, st->snapshot_started_ms)) {
        ferry_log_error("snapshot failed: lost the source again and again soon after each start",
                        "restarts=%d error=%s", st->quick_restarts, q);
        *failed = 1;
        return old; /* the caller destroys it */
    }
    ferry_log_warn("lost the source during the full load; starting the snapshot over once it "
                   "answers",
                   "error=%s", q);
    pthread_mutex_lock(&st->lock);
    st->snapshot = NULL;
    st->snapshot_restarts++;
    pthread_mutex_unlock(&st->lock);
    producer_snapshot_destroy(old); /* its workers finish or abandon their chunks */
    int backoff = 500, answered = 0;
    while (!ferry_service_sleep(svc, backoff)) {
        sample_capture(st); /* capture goes on meanwhile */
        char err[1024];
        producer_snapshot_t *snap = NULL;
        if (producer_snapshot_start(ferry_service_conf(svc), st->prefix, registry, &snap, err,
                                    sizeof(err)) == 0) {
            pthread_mutex_lock(&st->lock);
            st->snapshot = snap;
            pthread_mutex_unlock(&st->lock);
            st->snapshot_started_ms = ferry_mono_ms();
            return snap;
        }
        ferry_log_quote(err, q, sizeof(q));
        if (ferry_service_db_probe(svc, "source", NULL, 0) == 0 &&
            ++answered >= FERRY_START_OVER_TRIES) {
            ferry_log_error("could not start the snapshot over", "error=%s", q);
            *failed = 1;
            return NULL;
        }
        ferry_log_warn("could not start the snapshot over yet; trying again",
                       "retry_ms=%d error=%s", backoff, q);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return NULL;
}

static int run(ferry_service_t *svc)
{
    producer_state_t *st = ferry_service_opaque(svc);
    const ferry_conf_t *conf = ferry_service_conf(svc);
    char err[1024];
    ferry_service_topic_prefix(svc, "fwd", st->prefix, sizeof(st->prefix));
    ferry_metrics_set_collect(ferry_service_metrics(svc), collect_metrics, svc);
    if (precheck(conf) != 0)
        return 1;
    if (create_topics(svc, st) != 0)
        return 1;
    atomic_store(&st->topics_ready, 1);
    /* past the checks that refuse a link: now `ferryctl up` may call it started */
    ferry_service_started(svc);

    ferry_registry_t *registry = ferry_registry_from_conf(conf, err, sizeof(err));
    if (!registry) {
        ferry_log_error("could not open the schema store", "error=\"%s\"", err);
        return 1;
    }
    producer_snapshot_t *snap = NULL;
    int rc = producer_snapshot_start(conf, st->prefix, registry, &snap, err, sizeof(err));
    if (rc != 0) {
        char q[1100];
        ferry_log_error("could not start the snapshot", "error=%s",
                        ferry_log_quote(err, q, sizeof(q)));
        ferry_registry_destroy(registry);
        return 1;
    }
    pthread_mutex_lock(&st->lock);
    st->snapshot = snap;
    pthread_mutex_unlock(&st->lock);
    st->snapshot_started_ms = ferry_mono_ms();
    atomic_store(&st->phase, 1);

    int failed = 0, capturing = 0;
    if (start_capture(st, conf, registry, err, sizeof(err)) != 0) {
        char q[1100];
        ferry_log_error("could not start capture", "error=%s", ferry_log_quote(err, q, sizeof(q)));
        failed = 1;
    } else {
        capturing = 1;
    }
    while (!failed && !ferry_service_stopping(svc)) {
        sample_capture(st);
        if (atomic_load(&st->capture_failed)) {
            char q[1100];
            ferry_log_error("capture failed", "error=%s",
                            ferry_log_quote(st->capture_error, q, sizeof(q)));
            failed = 1;
            break;
        }
        if (atomic_load(&st->phase) == 2) {
            ferry_service_sleep(svc, 200);
            continue;
        }
        rc = producer_snapshot_step(snap, 200, err, sizeof(err));
        if (rc < 0 && producer_snapshot_source_lost(snap)) {
            snap = snapshot_again(svc, st, registry, snap, err, &failed);
            if (!snap || failed)
                break;
            continue;
        }
        if (rc < 0) {
            char q[1100];
            ferry_log_error("snapshot failed", "error=%s", ferry_log_quote(err, q, sizeof(q)));
            failed = 1;
            break;
        }
        if (rc == 1) {
            atomic_store(&st->phase, 2);
            ferry_capture_set_snapshot_done(st->capture);
        }
    }
    /* stop taking work: capture finishes its source transaction and commits */
    st->capture_stop = 1;
    if (capturing)
        pthread_join(st->capture_thread, NULL);
    atomic_store(&st->phase, 3);
    pthread_mutex_lock(&st->lock);
    ferry_capture_t *capture = st->capture;
    st->snapshot = NULL;
    st->capture = NULL;
    pthread_mutex_unlock(&st->lock);
    ferry_capture_destroy(capture);
    pthread_mutex_lock(&st->lock);
    free(st->capture_tables);
    st->capture_tables = NULL;
    st->n_capture_tables = 0;
    pthread_mutex_unlock(&st->lock);
    producer_snapshot_destroy(snap);
    ferry_registry_destroy(registry);
    return failed;
}

static void status(ferry_service_t *svc, ferry_json_t *j)
{
    producer_state_t *st = ferry_service_opaque(svc);
    ferry_json_key(j, "topic_prefix");
    ferry_json_string(j, st->prefix);
    ferry_json_key(j, "topics_ready");
    ferry_json_bool(j, atomic_load(&st->topics_ready) != 0);
    static const char *const phases[] = {"starting", "snapshot", "streaming", "stopping"};
    int phase = atomic_load(&st->phase);
    ferry_json_key(j, "phase");
    ferry_json_string(j, phases[phase & 3]);
    pthread_mutex_lock(&st->lock);
    ferry_json_key(j, "snapshot_restarts");
    ferry_json_uint(j, st->snapshot_restarts);
    if (st->snapshot) {
        producer_snapshot_status(st->snapshot, j);
    } else if (phase == 1) { /* starting over after losing the source */
        ferry_json_key(j, "snapshot_done");
        ferry_json_bool(j, false);
        ferry_json_key(j, "tables");
        ferry_json_array_begin(j);
        ferry_json_array_end(j);
    }
    if (st->capture) {
        static const char *const states[] = {"starting", "streaming", "reconnecting", "stopped",
                                             "failed"};
        ferry_capture_status_t cs;
        ferry_capture_status(st->capture, &cs);
        ferry_json_key(j, "capture");
        ferry_json_object_begin(j);
        ferry_json_key(j, "state");
        ferry_json_string(j, states[cs.state <= FERRY_CAPTURE_FAILED ? cs.state : 0]);
        ferry_json_key(j, "checkpoint_file");
        ferry_json_string(j, cs.file);
        ferry_json_key(j, "checkpoint_pos");
        ferry_json_uint(j, cs.pos);
        ferry_json_key(j, "events");
        ferry_json_uint(j, cs.events);
        ferry_json_key(j, "events_per_s");
        ferry_json_double(j, cs.events_per_s);
        ferry_json_key(j, "lag_ms");
        ferry_json_int(j, cs.lag_ms);
        ferry_json_key(j, "reconnects");
        ferry_json_uint(j, cs.reconnects);
        /* per table: changes committed to Kafka, and per second over the last seconds */
        ferry_json_key(j, "tables");
        ferry_json_array_begin(j);
        for (size_t i = 0; i < st->n_capture_tables; i++) {
            const struct table_rate *t = &st->capture_tables[i];
            ferry_json_object_begin(j);
            ferry_json_key(j, "source");
            ferry_json_string(j, t->source);
            ferry_json_key(j, "changes");
            ferry_json_uint(j, t->changes);
            ferry_json_key(j, "changes_per_s");
            ferry_json_double(j, ferry_rate_per_s(&t->rate, 0));
            ferry_json_object_end(j);
        }
        ferry_json_array_end(j);
        ferry_json_object_end(j);
    }
    pthread_mutex_unlock(&st->lock);
}

int main(int argc, char **argv)
{
    static producer_state_t state = {.lock = PTHREAD_MUTEX_INITIALIZER};
    ferry_service_def_t def = {
        .name = "producer",
        .summary = "Captures changes at the source (binlog / WAL) and runs full-load workers,\n"
                   "publishing Avro change events to Kafka.",
        .needs_source = 1,
        .run = run,
        .status = status,
        .opaque = &state,
        .announces_start = 1,
    };
    return ferry_service_main(argc, argv, &def);
}
