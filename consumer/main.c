/*
 * ferry-consumer - apply side of a MySQL-family forward link.
 *
 * Reads the link's ddl topic (tables, high watermarks, schema changes), the
 * snapshot topics (chunk contract of fullload.h) and the change topics of
 * every table, and applies them to the destination exactly once: each batch
 * and the Kafka offsets it covers commit in one destination transaction
 * (mysql_sink.h), and on start every partition resumes from the offsets the
 * destination holds. Per-table phases schema -> full -> catch-up ->
 * incremental are in tables.c; the other files are named for what they do
 * (consumer.h lists them). On SIGTERM it stops fetching, applies and commits
 * the current batch, leaves the group and exits 0.
 */
#include "consumer.h"

#include "err.h"
#include "link_map.h"
#include "log.h"
#include "topics.h"

#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUBSCRIBE_DEBOUNCE_MS 300
#define POLL_BURST            STAGE_MAX

static int note_progress(void *arg, const char *db, const char *table, const char *phase,
                         uint64_t rows)
{
    consumer_t *c = arg;
    progress_t *n = realloc(c->progress, (c->nprogress + 1) * sizeof(*n));
    if (!n)
        return FERRY_ERR_NOMEM;
    c->progress = n;
    progress_t *p = &c->progress[c->nprogress++];
    p->db = strdup(db);
    p->table = strdup(table);
    bool snap = !strcmp(phase, FERRY_MYSQL_SINK_PHASE_SNAPSHOT);
    p->rows = snap ? rows : 0;
    p->events = snap ? 0 : rows;
    return p->db && p->table ? 0 : FERRY_ERR_NOMEM;
}

/* Starts t's counters where the destination's progress rows stand. */
void cons_progress_restore(consumer_t *c, ctable_t *t)
{
    for (size_t i = 0; i < c->nprogress; i++) {
        const progress_t *p = &c->progress[i];
        if (strcmp(p->db, t->dst_db) || strcmp(p->table, t->dst_name))
            continue;
        t->rows_applied += p->rows;
        t->events_applied += p->events;
    }
}

static int open_destination(consumer_t *c, char *errstr, size_t errstr_size)
{
    int timeout = (int)ferry_conf_get_int(c->conf, "connect.timeout.ms");
    if (ferry_db_connect_flags(ferry_conf_get(c->conf, "destination.url"), "destination", timeout,
                               FERRY_DB_LOCAL_INFILE, &c->db, errstr, errstr_size) != 0)
        return FERRY_ERR_IO;
    c->my = ferry_db_mysql(c->db);
    if (!c->my)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                             "could not start: the destination is not MySQL-family "
                             "(only MySQL-family forward links are implemented)");
    c->flavor = ferry_mysql_flavor_from_version(ferry_db_server_version(c->db));
    ferry_mysql_sink_conf_t sc = {
        .link = c->link, .worker = "consumer", .stop_on_data_error = c->stop_on_error};
    int rc = ferry_mysql_sink_new(c->my, &sc, &c->sink, errstr, errstr_size);
    if (rc == 0)
        rc = parts_load(c, errstr, errstr_size);
    if (rc == 0)
        rc = owner_join(c, errstr, errstr_size);
    if (rc == 0)
        rc = ferry_mysql_sink_read_progress(c->sink, note_progress, c, errstr, errstr_size);
    return rc;
}

/*
 * The data consumer's Kafka properties: at most 8 MB per fetch response
 * (librdkafka's default is 50 MB, which one response over the many snapshot
 * and change partitions a consumer reads can take; the rows it brings are
 * copied into memory the consumer bounds itself), then the project's
 * kafka.* settings, which win. The array is malloc'd (the strings are not
 * copied); NULL when out of memory.
 */
static const char **data_props(const char *const *kprops)
{
    size_t n = 0;
    while (kprops && kprops[n])
        n++;
    const char **p = malloc((n + 3) * sizeof(*p));
    if (!p)
        return NULL;
    p[0] = "fetch.max.bytes";
    p[1] = "8388608";
    for (size_t i = 0; i < n; i++)
        p[2 + i] = kprops[i];
    p[n + 2] = NULL;
    return p;
}

static int open_kafka(consumer_t *c, char *errstr, size_t errstr_size)
{
    ferry_registry_conf_t rc = {
        .project = c->project,
        .registry_url = ferry_conf_get(c->conf, "schema.registry.url"),
        .registry_user = ferry_conf_get(c->conf, "schema.registry.user"),
        .registry_password = ferry_conf_get(c->conf, "schema.registry.password"),
        .kafka_props = c->kprops,
    };
    c->reg = ferry_registry_new(&rc, errstr, errstr_size);
    if (!c->reg)
        return FERRY_ERR_INVALID;
    int parts = (int)ferry_conf_get_int(c->conf, "topics.partitions");
    int rf = (int)ferry_conf_get_int(c->conf, "topics.replication.factor");
    if (ferry_fullload_donelog_new(c->project, c->kprops, &c->donelog, errstr, errstr_size) != 0 ||
        ferry_kafka_producer_new(&c->dlq, c->kprops, NULL, errstr, errstr_size) != 0 ||
        ferry_kafka_topic_create(c->kprops, c->dlq_topic, parts, rf, NULL, 1, 10000, errstr,
                                 errstr_size) != 0 ||
        ddl_open(c, errstr, errstr_size) != 0)
        return FERRY_ERR_FATAL;
    snapshot_refresh(c, 10000);
    /* partitions are assigned by owner.c; the group stores offsets for lag tools */
    const char *const *props = data_props(c->kprops);
    int err = props ? ferry_kafka_consumer_new(&c->data, c->group, props, NULL, errstr, errstr_size)
                    : ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    free((void *)props);
    return err != 0 ? FERRY_ERR_FATAL : 0;
}

static int setup(ferry_service_t *svc, consumer_t *c, char *errstr, size_t errstr_size)
{
    c->svc = svc;
    c->conf = ferry_service_conf(svc);
    c->kprops = ferry_conf_kafka_props(c->conf);
    c->keep_rows = ferry_conf_get_bool(c->conf, "destination.keep.rows") != 0;
    c->stop_on_error = !strcmp(ferry_conf_get(c->conf, "apply.on.error"), "stop");
    snprintf(c->project, sizeof(c->project), "%s", ferry_conf_get(c->conf, "project.name"));
    ferry_service_topic_prefix(svc, "fwd", c->prefix, sizeof(c->prefix));
    snprintf(c->link, sizeof(c->link), "%s.fwd", c->project);
    pthread_mutex_lock(&c->lock); /* /status shows it */
    ferry_topic_consumer_group(c->prefix, c->group, sizeof(c->group));
    pthread_mutex_unlock(&c->lock);
    snprintf(c->ddl_topic, sizeof(c->ddl_topic), "%s.ddl", c->prefix);
    snprintf(c->dlq_topic, sizeof(c->dlq_topic), "%s.dlq", c->prefix);
    c->batch.arena = ferry_arena_new(0);
    ferry_metrics_t *m = ferry_service_metrics(svc);
    c->m_dlq_total = ferry_metrics_counter(m, "ferry_consumer_dlq_events_total",
                                           "Events sent to the dead-letter topic", NULL, NULL);
    c->m_ddl_failed = ferry_metrics_counter(m, "ferry_consumer_ddl_failed_total",
                                            "DDL statements that could not be applied", NULL, NULL);
    if (!c->batch.arena)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    int rc = ferry_link_map_new(c->conf, NULL, 0, &c->rename, errstr, errstr_size);
    if (rc == 0)
        rc = open_destination(c, errstr, errstr_size);
    if (rc == 0)
        rc = open_kafka(c, errstr, errstr_size);
    if (rc == 0)
        rc = snapload_start(c, (int)ferry_conf_get_int(c->conf, "apply.snapshot.threads"), errstr,
                            errstr_size);
    if (rc == 0)
        rc = apply_start(c, (int)ferry_conf_get_int(c->conf, "apply.threads"), errstr, errstr_size);
    return rc;
}

static bool any_phase(const consumer_t *c, phase_t phase)
{
    for (size_t i = 0; i < c->ntables; i++)
        if (c->tables[i]->phase == phase && c->tables[i]->owned && !c->tables[i]->failed)
            return true;
    return false;
}

static bool any_hold(const consumer_t *c)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i].hold >= 0 && !c->parts[i].hold_ddl)
            return true;
    return false;
}

/*
 * One turn of the loop: ddl events, the tables owned, a burst of data (staged,
 * then dispatched once the ddl topic is read past it), DDL statements whose
 * turn came, holds, phases, flush.
 */
static void step(consumer_t *c)
{
    ddl_drain(c);
    int64_t now = ferry_wall_ms();
    /* tables announced one after another are taken together, once the ddl topic is read */
    if (!c->subscription_dirty || now - c->ddl_last_ms >= SUBSCRIBE_DEBOUNCE_MS ||
        ddl_read_to_end(c))
        owner_step(c);
    changes_poll(c, 20);
    for (int i = 0; i < POLL_BURST && !c->fatal && c->nstaged < STAGE_MAX; i++)
        changes_poll(c, 0);
    changes_refill(c);
    changes_dispatch(c);
    ddl_apply_ready(c);
    snapshot_reap(c);
    if (any_hold(c) || any_phase(c, PHASE_FULL))
        snapshot_refresh(c, 500);
    parts_release(c);
    tables_advance(c);
    parts_release(c);
    batch_reap(c);
    if (batch_due(c))
        batch_flush_async(c);
}

static void teardown(consumer_t *c)
{
    /* messages keep their client alive: none may outlive the consumer */
    batch_drop(c);
    changes_unstage(c);
    snapshot_drop_all(c); /* loaders finish their chunk; offsets go back to rows not loaded */
    apply_stop(c->apply);
    c->apply = NULL;
    ferry_kafka_consumer_destroy(c->data);
    c->data = NULL;
    ferry_kafka_consumer_destroy(c->ddl);
    ferry_kafka_producer_destroy(c->dlq, 5000);
    ferry_kafka_topic_list_free(&c->topics);
    c->topics_ms = 0;
    c->topics_ok = false;
    ferry_fullload_donelog_destroy(c->donelog);
    batch_free(c);
    for (size_t i = 0; i < c->ncodecs; i++)
        ferry_avro_codec_destroy(c->codecs[i].codec);
    free(c->codecs);
    ferry_registry_destroy(c->reg);
    ferry_mysql_sink_destroy(c->sink);
    ferry_db_close(c->db);
    ferry_rename_map_destroy(c->rename);
    pthread_mutex_lock(&c->lock);
    tables_destroy(c);
    pthread_mutex_unlock(&c->lock);
    parts_destroy(c);
    ddl_destroy(c);
    for (size_t i = 0; i < c->nprogress; i++) {
        free(c->progress[i].db);
        free(c->progress[i].table);
    }
    free(c->progress);
}

/*
 * Zeroes everything of c after svc (see consumer_t), as in a new process:
 * teardown freed what it pointed to.
 */
static void clear_state(consumer_t *c)
{
    pthread_mutex_lock(&c->lock);
    memset(&c->svc, 0, sizeof(*c) - offsetof(consumer_t, svc));
    pthread_mutex_unlock(&c->lock);
}

/*
 * Sets the consumer up. It waits while the link's topics are missing (the
 * producer creates them, and ferryctl up starts every service at once) and,
 * when starting over (again), while the destination cannot be reached.
 * Returns 0 once set up, 1 on an error (logged), 2 when asked to stop.
 */
static int start(ferry_service_t *svc, consumer_t *c, bool again)
{
    int backoff = 500, answered = 0;
    for (int tries = 0;; tries++) {
        char err[1024], q[1100];
        if (setup(svc, c, err, sizeof(err)) == 0) {
            pthread_mutex_lock(&c->lock);
            c->down[0] = '\0';
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
        teardown(c);
        int wait_ms;
        ferry_log_quote(err, q, sizeof(q));
        if (strstr(err, "no such topic")) {
            if (tries % 30 == 0)
                ferry_log_info("waiting for the producer to create the link's topics", "missing=%s",
                               q);
            wait_ms = 1000;
        } else if (again && (ferry_service_db_probe(svc, "destination", NULL, 0) != 0 ||
                             ++answered < FERRY_START_OVER_TRIES)) {
            ferry_log_warn("could not start over yet; trying again", "retry_ms=%d error=%s",
                           backoff, q);
            pthread_mutex_lock(&c->lock);
            snprintf(c->down, sizeof(c->down), "%s", err);
            pthread_mutex_unlock(&c->lock);
            wait_ms = backoff;
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        } else {
            ferry_log_error("could not start the consumer", "group=%s error=%s", c->group, q);
            return 1;
        }
        clear_state(c);
        if (ferry_service_sleep(svc, wait_ms))
            return 2;
    }
}

/*
 * Runs the link. When the loop stops on an error and the destination
 * connection that holds the tables no longer answers (the server restarted,
 * or the network dropped it), the consumer starts over in this process: as
 * a restarted process would, it reads the offsets, chunks and DDL marks the
 * destination holds and takes its tables again, so nothing is lost or
 * applied twice (a batch whose COMMIT went unanswered is looked up in
 * ferry_offsets). Any other error stops the process with status 1, and so
 * does a connection lost again and again soon after each start (a statement
 * the server drops the session for, such as one over max_allowed_packet).
 */
static int run_link(ferry_service_t *svc, consumer_t *c)
{
    for (bool again = false;; again = true) {
        int rc = start(svc, c, again);
        if (rc != 0)
            return rc == 2 ? 0 : 1;
        ferry_log_info("consumer started",
                       "link=%s member=%d group=%s ddl_topic=%s stored_partitions=%zu "
                       "applied_chunks=%zu",
                       c->link, c->member, c->group, c->ddl_topic, c->nparts, c->n_applied);
        c->started_ms = ferry_mono_ms();
        while (!ferry_service_stopping(svc) && !c->fatal)
            step(c);
        if (!c->fatal)
            batch_flush(c);
        char q[2100];
        ferry_log_quote(c->fatal_text, q, sizeof(q));
        bool lost =
            c->fatal && !ferry_service_stopping(svc) && c->db && ferry_db_ping(c->db, NULL, 0) != 0;
        if (lost && ferry_service_start_over_too_soon(&c->quick_restarts, c->started_ms)) {
            ferry_log_error("lost the destination connection again and again soon after each "
                            "start (a statement over the destination's max_allowed_packet "
                            "does that); giving up",
                            "restarts=%d error=%s", c->quick_restarts, q);
            lost = false;
        }
        if (!lost) {
            if (c->fatal)
                ferry_log_error("link stopped", "group=%s error=%s", c->group, q);
            int exit_rc = c->fatal ? 1 : 0;
            teardown(c);
            return exit_rc;
        }
        pthread_mutex_lock(&c->lock);
        uint64_t n = ++c->restarts;
        pthread_mutex_unlock(&c->lock);
        ferry_counter_add(c->m_restarts, 1);
        ferry_log_warn("lost the destination; starting over from what it holds",
                       "restarts=%llu error=%s", (unsigned long long)n, q);
        teardown(c);
        clear_state(c);
    }
}

static int run(ferry_service_t *svc)
{
    consumer_t *c = ferry_service_opaque(svc);
    c->m_restarts = ferry_metrics_counter(
        ferry_service_metrics(svc), "ferry_consumer_restarts_total",
        "Times the consumer started over after losing its destination connection", NULL, NULL);
    int rc = run_link(svc, c);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n_ddl_errors; i++)
        free(c->ddl_errors[i]);
    c->n_ddl_errors = 0;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int main(int argc, char **argv)
{
    /*
     * glibc gives every thread that allocates its own malloc arena; with
     * librdkafka's threads and the snapshot loaders that multiplies freed but
     * unreturned memory. Two arenas keep the RSS near what is in use.
     *
     * A chunk's rows (megabytes, grown by realloc), the loaders' LOAD DATA
     * text and librdkafka's fetch buffers come and go all the time. glibc
     * raises its mmap threshold to the size of each mmapped block freed, so
     * after the first chunks those blocks came from the heap, whose free
     * space between live blocks is never returned: a 4M-row load held 65 MB
     * free inside a 133 MB main arena. A fixed threshold (which also stops
     * the raising) keeps every block of 256 KB or more in its own mapping,
     * given back to the system when freed.
     */
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    static consumer_t state = {.lock = PTHREAD_MUTEX_INITIALIZER,
                               .dlq_lock = PTHREAD_MUTEX_INITIALIZER};
    ferry_service_def_t def = {
        .name = "consumer",
        .summary = "Applies the change events and snapshot chunks of a link to the destination\n"
                   "database, exactly once.",
        .needs_destination = 1,
        .run = run,
        .status = status_write,
        .opaque = &state,
        /* set by ferryctl up when it starts consumer.instances > 1 of them */
        .instance =
            getenv("FERRY_INSTANCE") && *getenv("FERRY_INSTANCE") ? getenv("FERRY_INSTANCE") : NULL,
    };
    return ferry_service_main(argc, argv, &def);
}
