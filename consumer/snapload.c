/*
 * snapload.c - loader threads: whole snapshot chunks into the destination,
 * in parallel.
 *
 * Each loader has its own destination connection and sink (progress rows
 * under its own worker name, so loaders never wait on each other) and takes
 * decided, complete chunk attempts from a queue (snapshot.c). It decodes the
 * rows, loads them with LOAD DATA LOCAL INFILE and records the chunk as
 * applied ("chunk:<task id>" in ferry_offsets) in ONE transaction, so after
 * a crash a chunk is either wholly in the destination and known as applied,
 * or not at all (a COMMIT whose answer was lost is looked up there before
 * the chunk is loaded again). Snapshot partition offsets are stored by the
 * loop thread, never past a chunk still in memory, so a restart reads any
 * such chunk again.
 *
 * The loop thread keeps the sbuf_t list; a loader only reads a queued sbuf's
 * rows and writes its result fields, then sets done under the pool's lock.
 * Tables are registered with a loader's sink on first use from the ctable_t
 * (its columns do not change while the table is in "full").
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOAD_TRIES 3

typedef struct {
    const ctable_t *t;
    shape_t shape; /* the table with one writer schema, registered with the loader's sink */
} reg_t;

typedef struct {
    snapload_t *l;
    pthread_t thread;
    bool started;
    const ctable_t *loading; /* the table of the chunk being loaded (pool's lock) */
    char name[32];
    ferry_db_t *db;
    ferry_mysql_sink_t *sink;
    reg_t *regs;
    size_t nregs;
    ferry_arena_t *arena;
} loader_t;

struct snapload {
    consumer_t *c;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    sbuf_t **queue; /* FIFO of queued chunks */
    size_t head, n, cap;
    int busy; /* chunks being loaded */
    bool stop;
    loader_t *loaders;
    size_t nloaders; /* started */
    size_t nslots;   /* allocated (fixed before the first loader starts) */
};

static void loader_close(loader_t *ld)
{
    ferry_mysql_sink_destroy(ld->sink);
    ferry_db_close(ld->db);
    ld->sink = NULL;
    ld->db = NULL;
    for (size_t i = 0; i < ld->nregs; i++)
        free(ld->regs[i].shape.proj);
    free(ld->regs);
    ld->regs = NULL;
    ld->nregs = 0;
}

static int loader_connect(loader_t *ld, ferry_db_t **db, char *errstr, size_t errstr_size)
{
    consumer_t *c = ld->l->c;
    int timeout = (int)ferry_conf_get_int(c->conf, "connect.timeout.ms");
    return ferry_db_connect_flags(ferry_conf_get(c->conf, "destination.url"), "destination",
                                  timeout, FERRY_DB_LOCAL_INFILE, db, errstr, errstr_size);
}

static int loader_open(loader_t *ld, char *errstr, size_t errstr_size)
{
    consumer_t *c = ld->l->c;
    int rc = loader_connect(ld, &ld->db, errstr, errstr_size);
    if (rc == 0) {
        ferry_mysql_sink_conf_t sc = {
            .link = c->link, .worker = ld->name, .stop_on_data_error = c->stop_on_error};
        rc = ferry_mysql_sink_new(ferry_db_mysql(ld->db), &sc, &ld->sink, errstr, errstr_size);
    }
    if (rc != 0)
        loader_close(ld);
    return rc;
}

/*
 * The chunk's COMMIT went unanswered: moves the loader's sink to a new
 * connection and asks ferry_offsets whether the chunk's mark is there.
 * 0 with *committed set, or an error (with errstr) when that could not be
 * learnt: the chunk must then not be loaded again.
 */
static int loader_confirm(loader_t *ld, const ferry_mysql_sink_batch_t *batch, bool *committed,
                          char *errstr, size_t errstr_size)
{
    int rc = FERRY_ERR_RETRIABLE;
    for (int tries = 0; tries < LOAD_TRIES && rc == FERRY_ERR_RETRIABLE; tries++) {
        struct timespec ts = {0, 500 * 1000000L};
        nanosleep(&ts, NULL);
        ferry_db_t *db = NULL;
        rc = loader_connect(ld, &db, errstr, errstr_size);
        if (rc == 0 && (rc = ferry_mysql_sink_reconnect(ld->sink, ferry_db_mysql(db), errstr,
                                                        errstr_size)) == 0) {
            ferry_db_close(ld->db);
            ld->db = db;
            db = NULL;
            rc = ferry_mysql_sink_committed(ld->sink, batch, committed, errstr, errstr_size);
        }
        ferry_db_close(db);
        if (rc != 0 && rc != FERRY_ERR_FATAL)
            rc = FERRY_ERR_RETRIABLE;
    }
    return rc;
}

/*
 * t with the writer schema codec as registered with the loader's sink, on
 * first use (shape.c; the loop thread has read t's destination definition
 * before queueing the chunk). NULL with errstr on failure.
 */
static const shape_t *table_shape(loader_t *ld, const ctable_t *t, const ferry_avro_codec_t *codec,
                                  char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < ld->nregs; i++)
        if (ld->regs[i].t == t && ld->regs[i].shape.codec == codec)
            return &ld->regs[i].shape;
    reg_t *n = realloc(ld->regs, (ld->nregs + 1) * sizeof(*n));
    if (!n) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    ld->regs = n;
    n[ld->nregs].t = t;
    if (shape_new(ld->l->c, ld->sink, t, codec, &n[ld->nregs].shape, errstr, errstr_size) != 0)
        return NULL;
    return &ld->regs[ld->nregs++].shape;
}

/* Adds a row that was not loaded to b's result; false when out of memory. */
static bool add_failure(sbuf_t *b, const ferry_mysql_sink_failure_t *f, size_t row)
{
    ferry_mysql_sink_failure_t *n = realloc(b->failed, (b->n_failed + 1) * sizeof(*n));
    if (!n)
        return false;
    b->failed = n;
    n[b->n_failed] = *f;
    n[b->n_failed].run = 0;
    n[b->n_failed++].event = row;
    return true;
}

/*
 * Decodes b's rows into the loader's arena: ev[k] is row at[k]. A row that
 * does not decode is left out and listed in b->failed (SQLSTATE 22000).
 */
static int decode(loader_t *ld, sbuf_t *b, const shape_t *shape, ferry_change_t **ev_out,
                  size_t **at_out, size_t *n_out, char *errstr, size_t errstr_size)
{
    ferry_change_t *ev = ferry_arena_calloc(ld->arena, b->n + 1, sizeof(*ev));
    size_t *at = ferry_arena_calloc(ld->arena, b->n + 1, sizeof(*at));
    if (!ev || !at)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        const srow_t *r = &b->rows[i];
        char why[256] = "the value schema is not a change envelope";
        if (r->codec && r->codec != shape->codec)
            snprintf(why, sizeof(why), "its writer schema is not the one of the chunk's first row");
        else if (r->codec &&
                 ferry_avro_codec_decode_change(r->codec, b->data + r->body_at, r->body_len,
                                                ld->arena, &ev[k], why, sizeof(why)) == 0) {
            ev[k].op = 'r';
            if (shape->proj && !(ev[k].after = shape_project(ld->arena, shape, ev[k].after)))
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
            at[k++] = i;
            continue;
        }
        ferry_mysql_sink_failure_t f = {.sqlstate = "22000"};
        char text[sizeof(f.message) + sizeof(why) + sizeof(b->t->src_full)];
        snprintf(text, sizeof(text), "could not decode a snapshot row of \"%s\": %s",
                 b->t->src_full, why);
        memcpy(f.message, text, sizeof(f.message) - 1); /* cut to fit */
        f.message[sizeof(f.message) - 1] = '\0';
        if (!add_failure(b, &f, i))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        if (ld->l->c->stop_on_error)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID, "%s", f.message);
    }
    *ev_out = ev;
    *at_out = at;
    *n_out = k;
    return 0;
}

/*
 * Rows of b left out, sent to the dead-letter topic before the chunk's
 * COMMIT marks it applied (a consumer killed in between sends them again).
 * A failure's event is a row of b, or with at, an index into the decoded
 * rows, which at maps to rows of b.
 */
typedef struct {
    consumer_t *c;
    sbuf_t *b;
    const size_t *at;
} dead_ctx_t;

static void locate_row(void *arg, const ferry_mysql_sink_failure_t *f, const ctable_t **t,
                       ferry_kafka_msg_t *m)
{
    const dead_ctx_t *d = arg;
    *t = d->b->t;
    *m = snapshot_row_msg(d->b, d->at ? d->at[f->event] : f->event);
}

static int send_rows(void *arg, const ferry_mysql_sink_failure_t *failed, size_t n, char *err,
                     size_t err_size)
{
    const dead_ctx_t *d = arg;
    return batch_dead_letters_send(d->c, failed, n, locate_row, arg, err, err_size);
}

/* Loads one chunk; fills b's result fields. */
static void load(loader_t *ld, sbuf_t *b)
{
    ferry_arena_reset(ld->arena);
    ferry_change_t *ev = NULL;
    size_t *at = NULL, n = 0, undecoded;
    char mark[600];
    snprintf(mark, sizeof(mark), "%s%s", CHUNK_MARK_PREFIX, b->chunk);
    ferry_mysql_sink_offset_t off = {.topic = mark};
    const ferry_avro_codec_t *codec = b->n ? b->rows[0].codec : NULL;
    int64_t t0 = ferry_wall_ms(), t1 = t0;
    int rc = 0;
    undecoded = 0;
    bool undecoded_sent = false;
    for (int tries = 0; tries < LOAD_TRIES; tries++) {
        if (!ld->sink && (rc = loader_open(ld, b->errstr, sizeof(b->errstr))) != 0) {
            rc = FERRY_ERR_RETRIABLE;
            continue;
        }
        const shape_t *shape =
            codec ? table_shape(ld, b->t, codec, b->errstr, sizeof(b->errstr)) : NULL;
        if (!shape) {
            rc = codec ? FERRY_ERR_FATAL
                       : ferry_err_set(b->errstr, sizeof(b->errstr), FERRY_ERR_FATAL,
                                       "the chunk's first row does not decode");
            break;
        }
        if (!ev) {
            rc = decode(ld, b, shape, &ev, &at, &n, b->errstr, sizeof(b->errstr));
            undecoded = b->n_failed;
            t1 = ferry_wall_ms();
            if (rc != 0)
                break;
        }
        dead_ctx_t dead = {ld->l->c, b, NULL};
        if (undecoded && !undecoded_sent) {
            if ((rc = send_rows(&dead, b->failed, undecoded, b->errstr, sizeof(b->errstr))) != 0) {
                ferry_log_warn("chunk load waits for the dead-letter topic, retrying",
                               "loader=%s chunk=%s error=\"%s\"", ld->name, b->chunk, b->errstr);
                rc = FERRY_ERR_RETRIABLE;
                continue;
            }
            undecoded_sent = true;
        }
        dead.at = at;
        ferry_mysql_sink_run_t run = {
            .table = shape->sink_id, .safe = true, .events = ev, .n_events = n};
        ferry_mysql_sink_offset_t fence;
        owner_fence(b->t, &fence);
        size_t n_fences = b->t->owner_topic[0] ? 1 : 0; /* taken through owner.c */
        ferry_mysql_sink_batch_t batch = {&run, 1, &off, 1, send_rows, &dead, &fence, n_fences};
        ferry_mysql_sink_result_t res;
        rc = ferry_mysql_sink_apply(ld->sink, &batch, &res, b->errstr, sizeof(b->errstr));
        if (rc == FERRY_ERR_RETRIABLE && res.commit_unknown) {
            bool committed = false;
            char why[512];
            int crc = loader_confirm(ld, &batch, &committed, why, sizeof(why));
            if (crc != 0) {
                char lost[sizeof(b->errstr)];
                snprintf(lost, sizeof(lost), "%s", b->errstr);
                rc = ferry_err_set(b->errstr, sizeof(b->errstr), FERRY_ERR_FATAL,
                                   "could not learn whether chunk %s committed (%s): %s", b->chunk,
                                   lost, why);
                break;
            }
            if (committed) {
                ferry_log_info("chunk committed before its connection was lost",
                               "loader=%s chunk=%s", ld->name, b->chunk);
                rc = 0;
            }
        }
        if (rc == FERRY_ERR_RETRIABLE) {
            ferry_log_warn("chunk load rolled back, retrying", "loader=%s chunk=%s error=\"%s\"",
                           ld->name, b->chunk, b->errstr);
            loader_close(ld); /* a new connection and sink, as the sink asks */
            continue;
        }
        b->n_failed = undecoded;
        for (size_t i = 0; (rc == 0 || rc == FERRY_ERR_INVALID) && i < res.n_failed; i++)
            if (!add_failure(b, &res.failed[i], at[res.failed[i].event]))
                rc = ferry_err_set(b->errstr, sizeof(b->errstr), FERRY_ERR_NOMEM, "out of memory");
        break;
    }
    b->rc = rc;
    ferry_log_debug("chunk loaded", "loader=%s chunk=%s rows=%zu decode_ms=%lld load_ms=%lld rc=%d",
                    ld->name, b->chunk, n, (long long)(t1 - t0), (long long)(ferry_wall_ms() - t1),
                    rc);
}

/*
 * Takes the oldest queued chunk of a table no other loader is loading, or
 * the oldest of all when every queued table is busy (pool's lock held, the
 * queue not empty). Loaders on different tables do not contend for the
 * same index pages, and the first chunk of a table (an insert into an empty
 * table, for which InnoDB locks the whole table) holds up no other loader.
 */
static sbuf_t *take(snapload_t *l)
{
    size_t pick = 0;
    for (size_t i = 0; i < l->n; i++) {
        const ctable_t *t = l->queue[(l->head + i) % l->cap]->t;
        bool busy = false;
        for (size_t k = 0; k < l->nslots && !busy; k++)
            busy = l->loaders[k].loading == t;
        if (!busy) {
            pick = i;
            break;
        }
    }
    sbuf_t *b = l->queue[(l->head + pick) % l->cap];
    for (size_t i = pick; i > 0; i--) /* close the gap: the older ones move up one */
        l->queue[(l->head + i) % l->cap] = l->queue[(l->head + i - 1) % l->cap];
    l->head = (l->head + 1) % l->cap;
    l->n--;
    return b;
}

static void *loader_main(void *arg)
{
    loader_t *ld = arg;
    snapload_t *l = ld->l;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->stop && !l->n)
            pthread_cond_wait(&l->wake, &l->lock);
        if (l->stop)
            break;
        sbuf_t *b = take(l);
        ld->loading = b->t;
        l->busy++;
        pthread_mutex_unlock(&l->lock);
        load(ld, b);
        pthread_mutex_lock(&l->lock);
        ld->loading = NULL;
        b->done = true;
        l->busy--;
    }
    pthread_mutex_unlock(&l->lock);
    loader_close(ld);
    return NULL;
}

int snapload_start(consumer_t *c, int threads, char *errstr, size_t errstr_size)
{
    snapload_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->loaders = calloc((size_t)threads, sizeof(*l->loaders)))) {
        free(l);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    l->c = c;
    l->nslots = (size_t)threads;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    c->loader = l;
    for (int i = 0; i < threads; i++) {
        loader_t *ld = &l->loaders[i];
        ld->l = l;
        snprintf(ld->name, sizeof(ld->name), "consumer-load%d", i);
        int rc = (ld->arena = ferry_arena_new(0)) ? loader_open(ld, errstr, errstr_size)
                                                  : FERRY_ERR_NOMEM;
        if (rc == 0 && pthread_create(&ld->thread, NULL, loader_main, ld) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                               "could not start snapshot loader thread %d", i);
        if (rc != 0) {
            loader_close(ld);
            ferry_arena_destroy(ld->arena);
            ld->arena = NULL;
            return rc == FERRY_ERR_NOMEM ? ferry_err_set(errstr, errstr_size, rc, "out of memory")
                                         : rc;
        }
        ld->started = true;
        l->nloaders++;
    }
    return 0;
}

void snapload_queue(snapload_t *l, sbuf_t *b)
{
    pthread_mutex_lock(&l->lock);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        sbuf_t **q = malloc(cap * sizeof(*q));
        if (!q) {
            pthread_mutex_unlock(&l->lock);
            b->rc = FERRY_ERR_NOMEM;
            snprintf(b->errstr, sizeof(b->errstr), "out of memory");
            b->done = true;
            return;
        }
        for (size_t i = 0; i < l->n; i++)
            q[i] = l->queue[(l->head + i) % l->cap];
        free(l->queue);
        l->queue = q;
        l->head = 0;
        l->cap = cap;
    }
    l->queue[(l->head + l->n) % l->cap] = b;
    l->n++;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
}

bool snapload_done(snapload_t *l, const sbuf_t *b)
{
    pthread_mutex_lock(&l->lock);
    bool done = b->done;
    pthread_mutex_unlock(&l->lock);
    return done;
}

int snapload_threads(const snapload_t *l)
{
    return l ? (int)l->nloaders : 1;
}

/* Lets every loader finish the chunk it is loading, then frees the pool. */
void snapload_stop(snapload_t *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_broadcast(&l->wake);
    pthread_mutex_unlock(&l->lock);
    for (size_t i = 0; i < l->nloaders; i++) {
        if (l->loaders[i].started)
            pthread_join(l->loaders[i].thread, NULL);
        ferry_arena_destroy(l->loaders[i].arena);
    }
    free(l->loaders);
    free(l->queue);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
