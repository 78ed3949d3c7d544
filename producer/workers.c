/*
 * workers.c - full-load worker threads (see workers.h).
 */
#include "workers.h"

#include "err.h"
#include "link_map.h"
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MS 200

typedef struct {
    struct producer_workers *pool;
    pthread_t thread;
    bool started;
    char id[200];
    ferry_fullload_stats_t stats; /* guarded by pool->lock */
} slot_t;

struct producer_workers {
    ferry_fullload_worker_conf_t wc; /* strings below; copied again by each worker */
    char project[128], prefix[256], source_url[1024], connector[32];
    ferry_fullload_tasks_t *tasks; /* the process's one membership of the worker group */
    atomic_int stop;
    pthread_mutex_t lock; /* stats and the first error */
    int error;
    char errstr[1024];
    slot_t *slots;
    size_t n;
};

static void fail(struct producer_workers *p, int rc, const char *text)
{
    pthread_mutex_lock(&p->lock);
    if (!p->error) {
        p->error = rc;
        snprintf(p->errstr, sizeof(p->errstr), "%s", text);
    }
    pthread_mutex_unlock(&p->lock);
}

static void *worker_main(void *arg)
{
    slot_t *s = arg;
    struct producer_workers *p = s->pool;
    ferry_fullload_worker_conf_t wc = p->wc;
    wc.worker_id = s->id;
    ferry_fullload_worker_t *w = NULL;
    char err[1024];
    int rc = ferry_fullload_worker_new(&wc, &w, err, sizeof(err));
    if (rc != 0) {
        fail(p, rc, err);
        return NULL;
    }
    ferry_log_info("full-load worker started", "worker=%s", s->id);
    while (!atomic_load(&p->stop)) {
        ferry_fullload_result_t res;
        rc = ferry_fullload_worker_poll(w, POLL_MS, &res, err, sizeof(err));
        if (rc < 0) {
            fail(p, rc, err);
            break;
        }
        if (res.ran && !res.skipped)
            ferry_log_info("chunk copied", "worker=%s chunk=%s rows=%lld attempts=%d", s->id,
                           res.task_id, (long long)res.rows, res.attempts);
        pthread_mutex_lock(&p->lock);
        ferry_fullload_worker_stats(w, &s->stats);
        pthread_mutex_unlock(&p->lock);
    }
    ferry_fullload_worker_destroy(w);
    return NULL;
}

int producer_workers_start(const ferry_conf_t *conf, const char *prefix, const char *slot,
                           const char *connector, ferry_registry_t *registry,
                           const struct ferry_rename_map *filters, producer_workers_t **out,
                           char *errstr, size_t errstr_size)
{
    *out = NULL;
    struct producer_workers *p = calloc(1, sizeof(*p));
    size_t n = (size_t)ferry_conf_get_int(conf, "fullload.threads");
    if (!p || !(p->slots = calloc(n ? n : 1, sizeof(*p->slots)))) {
        free(p);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&p->lock, NULL);
    snprintf(p->project, sizeof(p->project), "%s", ferry_conf_get(conf, "project.name"));
    snprintf(p->prefix, sizeof(p->prefix), "%s", prefix);
    snprintf(p->source_url, sizeof(p->source_url), "%s", ferry_conf_get(conf, "source.url"));
    snprintf(p->connector, sizeof(p->connector), "%s", connector);
    int rf = (int)ferry_conf_get_int(conf, "topics.replication.factor");
    p->wc = (ferry_fullload_worker_conf_t){
        .project = p->project,
        .prefix = p->prefix,
        .kafka_props = ferry_conf_kafka_props(conf),
        .source_url = p->source_url,
        .registry = registry,
        .connector = p->connector,
        .version = FERRY_VERSION,
        .snapshot_partitions = (int)ferry_conf_get_int(conf, "topics.partitions"),
        .replication_factor = rf > 0 ? rf : 0,
        .filters = filters,
        .row_filters = conf,
    };
    /*
     * The group is joined once, before the threads start: their set-up then
     * overlaps the broker's wait of about 3 s for more members of a new
     * group, and no thread can join late and make the group rebalance.
     */
    int rc =
        ferry_fullload_tasks_new(p->project, p->wc.kafka_props, &p->tasks, errstr, errstr_size);
    if (rc) {
        producer_workers_stop(p);
        return rc;
    }
    p->wc.tasks = p->tasks;
    for (size_t i = 0; i < n; i++) {
        slot_t *s = &p->slots[i];
        s->pool = p;
        snprintf(s->id, sizeof(s->id), "%s-%zu", slot, i);
        if (pthread_create(&s->thread, NULL, worker_main, s) != 0) {
            producer_workers_stop(p);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                                 "could not start full-load worker thread %zu", i);
        }
        s->started = true;
        p->n++;
    }
    *out = p;
    return 0;
}

int producer_workers_check(producer_workers_t *p, char *errstr, size_t errstr_size)
{
    pthread_mutex_lock(&p->lock);
    int rc = p->error;
    if (rc)
        snprintf(errstr, errstr_size, "%s", p->errstr);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void producer_workers_stats(producer_workers_t *p, ferry_fullload_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n; i++) {
        const ferry_fullload_stats_t *s = &p->slots[i].stats;
        out->tasks_done += s->tasks_done;
        out->tasks_skipped += s->tasks_skipped;
        out->attempts_failed += s->attempts_failed;
        out->rows += s->rows;
        out->bytes += s->bytes;
    }
    pthread_mutex_unlock(&p->lock);
}

void producer_workers_status(producer_workers_t *p, ferry_json_t *j)
{
    ferry_fullload_stats_t st;
    producer_workers_stats(p, &st);
    ferry_json_key(j, "workers");
    ferry_json_object_begin(j);
    ferry_json_key(j, "threads");
    ferry_json_uint(j, p->n);
    ferry_json_key(j, "chunks_copied");
    ferry_json_uint(j, st.tasks_done);
    ferry_json_key(j, "chunks_skipped");
    ferry_json_uint(j, st.tasks_skipped);
    ferry_json_key(j, "attempts_failed");
    ferry_json_uint(j, st.attempts_failed);
    ferry_json_key(j, "rows");
    ferry_json_uint(j, st.rows);
    ferry_json_key(j, "bytes");
    ferry_json_uint(j, st.bytes);
    ferry_json_object_end(j);
}

void producer_workers_stop(producer_workers_t *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    for (size_t i = 0; i < p->n; i++)
        if (p->slots[i].started)
            pthread_join(p->slots[i].thread, NULL);
    ferry_fullload_tasks_destroy(p->tasks);
    pthread_mutex_destroy(&p->lock);
    free(p->slots);
    free(p);
}
