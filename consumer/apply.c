/*
 * apply.c - the apply workers: change batches on several destination
 * connections at once (apply.threads).
 *
 * The loop thread still reads, decodes and orders everything; at a flush
 * (batch.c) it cuts the batch into one job per worker, by partition, so the
 * events of a key (always in one partition) stay on one connection in their
 * order, and gives each job the offsets and dedup positions of exactly the
 * partitions whose events it holds. Every worker applies its job and those
 * offsets in one transaction on its own connection and sink, so each
 * partition's stored offset commits with its own rows: exactly once holds
 * per partition whatever worker committed first.
 *
 * One batch flies at a time: while the workers apply it, the loop reads
 * and decodes the next; the batch is settled (batch.c) on the first turn of
 * the loop after the workers are done, or by the next flush, which waits
 * for it (apply_wait), and only then hands out the next. A job that rolled
 * back (a deadlock between workers, a lost connection) runs again alone
 * (apply_one) before the batch is settled. A synchronous
 * flush (before a DDL statement, a table let go, at shutdown) waits for
 * both, so it stays a barrier: what follows it sees every change before it
 * committed.
 *
 * Worker sinks mirror the loop sink's table registrations (shape.c
 * registers with c->sink) under the same ids in apply_begin, on the loop
 * thread, while every worker is idle. A worker that lost its connection
 * moves its sink to a new one; a job whose COMMIT went unanswered is looked
 * up in ferry_offsets there (ferry_mysql_sink_committed) before it is
 * applied again, so a batch that did commit is not applied twice.
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define APPLY_TRIES 3

typedef struct {
    applypool_t *pool;
    pthread_t thread;
    bool started;
    char name[40];
    ferry_db_t *db;
    ferry_mysql_sink_t *sink;
    apply_job_t *job; /* set by apply_run, cleared by the worker when done */
} worker_t;

struct applypool {
    consumer_t *c;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    size_t pending; /* jobs not finished */
    bool stop;
    worker_t *w;
    size_t n;
};

static void worker_close(worker_t *w)
{
    ferry_mysql_sink_destroy(w->sink);
    ferry_db_close(w->db);
    w->sink = NULL;
    w->db = NULL;
}

/*
 * A destination connection for w. Workers write disjoint keys: READ
 * COMMITTED spares them the gap locks through which two of them could
 * deadlock on a secondary index. Only an optimisation: a server that
 * refuses it (statement binlog) keeps its own.
 */
static int worker_connect(worker_t *w, ferry_db_t **db, char *errstr, size_t errstr_size)
{
    consumer_t *c = w->pool->c;
    int timeout = (int)ferry_conf_get_int(c->conf, "connect.timeout.ms");
    int rc = ferry_db_connect(ferry_conf_get(c->conf, "destination.url"), "destination", timeout,
                              db, errstr, errstr_size);
    if (rc == 0 && mysql_query(ferry_db_mysql(*db),
                               "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED") != 0)
        ferry_log_debug("apply worker keeps the server's isolation level", "worker=%s error=\"%s\"",
                        w->name, mysql_error(ferry_db_mysql(*db)));
    return rc;
}

static int worker_open(worker_t *w, char *errstr, size_t errstr_size)
{
    consumer_t *c = w->pool->c;
    int rc = worker_connect(w, &w->db, errstr, errstr_size);
    if (rc == 0) {
        ferry_mysql_sink_conf_t sc = {.link = c->link,
                                      .worker = w->name,
                                      .stop_on_data_error = c->stop_on_error,
                                      .disable_load_data = true};
        rc = ferry_mysql_sink_new(ferry_db_mysql(w->db), &sc, &w->sink, errstr, errstr_size);
    }
    if (rc != 0)
        worker_close(w);
    return rc;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Moves w's sink to a new connection; on failure w keeps the old one (the next attempt tries
 * again). */
static int worker_reopen(worker_t *w, char *errstr, size_t errstr_size)
{
    ferry_db_t *db = NULL;
    int rc = worker_connect(w, &db, errstr, errstr_size);
    if (rc == 0 &&
        (rc = ferry_mysql_sink_reconnect(w->sink, ferry_db_mysql(db), errstr, errstr_size)) == 0) {
        ferry_db_close(w->db);
        w->db = db;
        return 0;
    }
    ferry_db_close(db);
    return rc;
}

/* Applies one job, retrying a rolled-back transaction (on a new connection if it was lost). */
static void work(worker_t *w, apply_job_t *j)
{
    j->rc = FERRY_ERR_RETRIABLE;
    int tries = j->tries > 0 ? j->tries : APPLY_TRIES;
    bool reopened = false;
    for (int attempt = 0; attempt < tries && j->rc == FERRY_ERR_RETRIABLE; attempt++) {
        if (attempt || j->res.commit_unknown) {
            if (attempt)
                pause_ms(500);
            /* a COMMIT that went unanswered lost its connection: no need to ping that one */
            bool lost =
                (j->res.commit_unknown && !reopened) || mysql_ping(ferry_db_mysql(w->db)) != 0;
            if (lost && worker_reopen(w, j->err, sizeof(j->err)) != 0)
                continue;
            reopened |= lost;
        }
        if (j->res.commit_unknown) {
            bool committed;
            j->rc =
                ferry_mysql_sink_committed(w->sink, &j->batch, &committed, j->err, sizeof(j->err));
            if (j->rc != 0 || committed) {
                if (committed)
                    ferry_log_info("batch committed before its connection was lost",
                                   "worker=%s events=%zu", w->name, j->n_events);
                continue; /* done, or ask again on the next attempt */
            }
        }
        j->rc = ferry_mysql_sink_apply(w->sink, &j->batch, &j->res, j->err, sizeof(j->err));
        if (j->rc == FERRY_ERR_RETRIABLE)
            ferry_log_warn(j->res.commit_unknown ? "batch commit not answered, looking it up"
                                                 : "batch rolled back, retrying",
                           "worker=%s events=%zu error=\"%s\"", w->name, j->n_events, j->err);
    }
    j->done_ms = ferry_wall_ms();
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    applypool_t *a = w->pool;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->stop && !w->job)
            pthread_cond_wait(&a->wake, &a->lock);
        if (a->stop)
            break;
        apply_job_t *j = w->job;
        pthread_mutex_unlock(&a->lock);
        work(w, j);
        pthread_mutex_lock(&a->lock);
        w->job = NULL;
        if (--a->pending == 0)
            pthread_cond_signal(&a->done);
    }
    pthread_mutex_unlock(&a->lock);
    worker_close(w);
    return NULL;
}

int apply_start(consumer_t *c, int threads, char *errstr, size_t errstr_size)
{
    if (threads <= 1)
        return 0; /* the loop thread applies on c->sink itself */
    applypool_t *a = calloc(1, sizeof(*a));
    if (!a || !(a->w = calloc((size_t)threads, sizeof(*a->w)))) {
        free(a);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    a->c = c;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->wake, NULL);
    pthread_cond_init(&a->done, NULL);
    c->apply = a;
    for (int i = 0; i < threads; i++) {
        worker_t *w = &a->w[i];
        w->pool = a;
        snprintf(w->name, sizeof(w->name), "consumer-apply%d", i);
        int rc = worker_open(w, errstr, errstr_size);
        if (rc == 0 && pthread_create(&w->thread, NULL, worker_main, w) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                               "could not start apply worker thread %d", i);
        if (rc != 0) {
            worker_close(w);
            return rc;
        }
        w->started = true;
        a->n++;
    }
    return 0;
}

size_t apply_workers(const applypool_t *a)
{
    return a ? a->n : 1;
}

/*
 * Hands jobs[i] (those with run set) to worker i. The workers are idle (the
 * previous run was waited for), so their sinks learn the loop sink's new
 * tables here, on the loop thread. A worker that cannot fails its job.
 */
void apply_begin(applypool_t *a, apply_job_t *jobs)
{
    consumer_t *c = a->c;
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; i < a->n; i++) {
        if (!jobs[i].run)
            continue;
        jobs[i].rc =
            ferry_mysql_sink_mirror(a->w[i].sink, c->sink, jobs[i].err, sizeof(jobs[i].err));
        if (jobs[i].rc != 0)
            continue;
        a->w[i].job = &jobs[i];
        a->pending++;
    }
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
}

/*
 * Runs job on worker i alone and waits for it (the pool is idle): the
 * second chance of a job that rolled back, e.g. on a deadlock with another
 * worker, which running it alone cannot meet again.
 */
void apply_one(applypool_t *a, size_t i, apply_job_t *job)
{
    pthread_mutex_lock(&a->lock);
    a->w[i].job = job;
    a->pending++;
    pthread_cond_broadcast(&a->wake);
    while (a->pending)
        pthread_cond_wait(&a->done, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

/* True when no job is running. */
bool apply_idle(applypool_t *a)
{
    pthread_mutex_lock(&a->lock);
    bool idle = a->pending == 0;
    pthread_mutex_unlock(&a->lock);
    return idle;
}

/* Returns once every job of the last apply_begin is done. */
void apply_wait(applypool_t *a)
{
    pthread_mutex_lock(&a->lock);
    while (a->pending)
        pthread_cond_wait(&a->done, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

/* Lets every worker finish its job, closes the connections, frees the pool. */
void apply_stop(applypool_t *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stop = true;
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
    for (size_t i = 0; i < a->n; i++)
        if (a->w[i].started)
            pthread_join(a->w[i].thread, NULL);
    free(a->w);
    pthread_cond_destroy(&a->wake);
    pthread_cond_destroy(&a->done);
    pthread_mutex_destroy(&a->lock);
    free(a);
}
