/*
 * snapshot.c - applying a table's snapshot topic by the chunk contract of
 * fullload.h.
 *
 * Each row names its chunk (task id) and attempt. The rows of an attempt
 * are kept in memory (sbuf_t) as they arrive. The first done-marker of the
 * chunk decides which attempt counts: once the marker is known and the
 * winning attempt is complete, its rows go to a loader thread (snapload.c),
 * which loads the whole chunk and records it as applied in one destination
 * transaction; every other attempt's rows are dropped. So a chunk is never
 * half applied, nothing undecided is applied, and the rows are read from
 * Kafka once. An empty chunk counts as applied as soon as its marker exists.
 *
 * Offsets: the snapshot partition's stored offset never passes a row still
 * in memory (batch_storable), so a restarted consumer reads again whatever
 * was not loaded, and skips the chunks the destination records as applied.
 *
 * Memory and focus: at most SBUF_OPEN_PER_LOADER attempts per loader are
 * being read at once, and none is started past SBUF_MAX_BYTES; the
 * partition of an attempt that may not start is held (paused) at its first
 * row and released when a slot frees, one partition per slot, so Kafka
 * fetches the few partitions being read rather than all of them. A
 * partition with an attempt still being read is never held: two attempts
 * interleaved in one partition (two workers copying chunks that share it)
 * are read together, since the first cannot finish until the second's rows
 * are read past. Nothing else starts past the limits: every attempt a
 * consumer sees is whole (rows and marker commit in one Kafka transaction),
 * so the attempts in memory always finish and free their slots.
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REFRESH_MIN_MS       100
#define SBUF_MAX_BYTES       ((size_t)32 << 20)
#define SBUF_OPEN_PER_LOADER 2

typedef struct {
    consumer_t *c;
    const ctable_t *t;
    int64_t applied;
} recount_t;

static void count_one(void *opaque, const ferry_fullload_done_t *m)
{
    recount_t *r = opaque;
    if (strcmp(m->db, r->t->orig_db) != 0 || strcmp(m->table, r->t->orig_name) != 0)
        return;
    ctable_t *t = (ctable_t *)r->t;
    char err[256];
    if (t->keyless && !t->has_exact && m->snapshot_file && m->snapshot_pos >= 0 &&
        ferry_binlog_pos_init(&t->exact, m->snapshot_file, (uint64_t)m->snapshot_pos, err,
                              sizeof(err)) == 0)
        t->has_exact = true;
    if (m->rows == 0 || parts_chunk_applied(r->c, m->task_id))
        r->applied++;
}

/* Counts the chunks of t that are applied. */
void snapshot_recount(consumer_t *c, ctable_t *t)
{
    recount_t r = {c, t, 0};
    ferry_fullload_donelog_each(c->donelog, count_one, &r);
    pthread_mutex_lock(&c->lock);
    t->chunks_applied = r.applied;
    pthread_mutex_unlock(&c->lock);
}

/* ---- attempts in memory ------------------------------------------------- */

static void sbuf_free(consumer_t *c, sbuf_t *b)
{
    c->sbuf_bytes -= b->bytes;
    free(b->rows);
    free(b->data);
    free(b->failed);
    free(b);
}

/* Unlinks b; when rewind, the partition is read again from b's first row. */
static void sbuf_remove(consumer_t *c, sbuf_t *b, bool rewind)
{
    for (sbuf_t **at = &c->sbufs; *at; at = &(*at)->next)
        if (*at == b) {
            *at = b->next;
            break;
        }
    part_t *p = &c->parts[b->part];
    if (rewind && p->next > b->first_offset)
        p->next = b->first_offset;
    sbuf_free(c, b);
    /*
     * The partition's offset may move past the attempt now: without a flush
     * it would wait for the partition's next message, and the Kafka group
     * (by which the planner paces the copy) would not learn it.
     */
    batch_touch(c);
}

static sbuf_t *sbuf_find(consumer_t *c, const char *chunk, const char *attempt)
{
    for (sbuf_t *b = c->sbufs; b; b = b->next)
        if (!strcmp(b->chunk, chunk) && (!attempt || !strcmp(b->attempt, attempt)))
            return b;
    return NULL;
}

static bool chunk_loading(consumer_t *c, const char *chunk)
{
    for (sbuf_t *b = c->sbufs; b; b = b->next)
        if (b->queued && !strcmp(b->chunk, chunk))
            return true;
    return false;
}

#define RELEASE_PENDING_MS 1000

int snapshot_open_slots(const consumer_t *c)
{
    int open = 0;
    for (const sbuf_t *b = c->sbufs; b; b = b->next)
        open += !b->queued;
    int64_t now = ferry_wall_ms();
    for (size_t i = 0; i < c->nparts; i++) /* released, first message not seen yet */
        open += c->parts[i].released_ms && now - c->parts[i].released_ms < RELEASE_PENDING_MS;
    int slots = c->sbuf_bytes < SBUF_MAX_BYTES
                    ? SBUF_OPEN_PER_LOADER * snapload_threads(c->loader) - open
                    : 0;
    return slots > 0 ? slots : 0;
}

/* True when an attempt in part is still being read (not yet handed to a loader). */
static bool part_reading(const consumer_t *c, size_t part)
{
    for (const sbuf_t *b = c->sbufs; b; b = b->next)
        if (b->part == part && !b->queued)
            return true;
    return false;
}

int64_t snapshot_part_floor(const consumer_t *c, size_t part)
{
    int64_t floor = -1;
    for (const sbuf_t *b = c->sbufs; b; b = b->next)
        if (b->part == part && (floor < 0 || b->first_offset < floor))
            floor = b->first_offset;
    return floor;
}

/* Forgets the rows in memory of a partition not loading yet (rebalance, restart). */
void snapshot_drop_part(consumer_t *c, size_t part)
{
    sbuf_t *next;
    for (sbuf_t *b = c->sbufs; b; b = next) {
        next = b->next;
        if (b->part == part && !b->queued)
            sbuf_remove(c, b, true);
    }
}

/*
 * Waits until no loader is loading a chunk of table t (t not NULL) or of
 * partition part (t NULL), then settles what they finished.
 */
static void settle(consumer_t *c, const ctable_t *t, size_t part)
{
    for (;;) {
        bool busy = false;
        for (sbuf_t *b = c->sbufs; b && !busy; b = b->next)
            busy = (t ? b->t == t : b->part == part) && b->queued && !snapload_done(c->loader, b);
        if (!busy)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    snapshot_reap(c);
}

/*
 * Before t is let go: its next owner, which reads the applied chunks from
 * the destination, then sees every chunk this consumer was loading.
 */
void snapshot_settle_table(consumer_t *c, const ctable_t *t)
{
    settle(c, t, 0);
}

/* Waits for the loaders to finish the chunks of a partition, then drops the rest of it. */
void snapshot_settle_part(consumer_t *c, size_t part)
{
    settle(c, NULL, part);
    snapshot_drop_part(c, part);
}

/* Stops the loaders and forgets every row in memory (the consumer is stopping). */
void snapshot_drop_all(consumer_t *c)
{
    snapload_stop(c->loader);
    c->loader = NULL;
    while (c->sbufs)
        sbuf_remove(c, c->sbufs, true);
}

/* Queues b for loading when the marker names it and all its rows are here. */
static void try_queue(consumer_t *c, sbuf_t *b, const ferry_fullload_done_t *mark)
{
    if (b->queued || (int64_t)b->n != mark->rows)
        return;
    b->queued = true;
    /* the destination table's shape is read here: loaders never use the loop's connection */
    ferry_kafka_msg_t first = snapshot_row_msg(b, 0);
    ferry_change_t none = {0};
    if (b->n && b->rows[0].codec &&
        shape_prepare(c, b->t, &first, &none, b->errstr, sizeof(b->errstr)) < 0) {
        b->rc = FERRY_ERR_FATAL;
        b->done = true; /* not handed to a loader: snapshot_reap fails the link */
        return;
    }
    ferry_log_debug("chunk queued", "chunk=%s rows=%zu bytes=%zu buffered_mb=%zu", b->chunk, b->n,
                    b->bytes, c->sbuf_bytes >> 20);
    snapload_queue(c->loader, b);
}

/* Settles the attempts in memory whose chunk is now decided. */
static void resolve(consumer_t *c)
{
    sbuf_t *next;
    for (sbuf_t *b = c->sbufs; b; b = next) {
        next = b->next;
        if (b->queued)
            continue;
        const ferry_fullload_done_t *mark = ferry_fullload_donelog_get(c->donelog, b->chunk);
        if (parts_chunk_applied(c, b->chunk) || chunk_loading(c, b->chunk) ||
            (mark && strcmp(mark->attempt, b->attempt) != 0))
            sbuf_remove(c, b, false);
        else if (mark)
            try_queue(c, b, mark);
    }
}

/* Reads new done-markers (at most every REFRESH_MIN_MS) and recounts. */
void snapshot_refresh(consumer_t *c, int timeout_ms)
{
    int64_t now = ferry_wall_ms();
    if (now - c->donelog_ms < REFRESH_MIN_MS)
        return;
    c->donelog_ms = now;
    char err[512];
    int rc = ferry_fullload_donelog_catch_up(c->donelog, timeout_ms, err, sizeof(err));
    if (rc == FERRY_ERR_FATAL)
        cons_fail(c, "could not read the done-markers: %s", err);
    else if (rc != 0 && rc != FERRY_ERR_TIMEOUT)
        ferry_log_warn("could not read the done-markers", "error=\"%s\"", err);
    resolve(c);
    for (size_t i = 0; i < c->ntables; i++)
        if (c->tables[i]->phase == PHASE_FULL)
            snapshot_recount(c, c->tables[i]);
}

/* ---- finished loads ----------------------------------------------------- */

/* Row i of b as a message, for the dead-letter topic (any thread). */
ferry_kafka_msg_t snapshot_row_msg(const sbuf_t *b, size_t i)
{
    const srow_t *r = &b->rows[i];
    return (ferry_kafka_msg_t){.topic = b->t->snapshot_topic,
                               .partition = b->partition,
                               .offset = r->offset,
                               .key = r->key_len ? b->data + r->key_at : NULL,
                               .key_len = r->key_len,
                               .value = r->value_len ? b->data + r->value_at : NULL,
                               .value_len = r->value_len};
}

/* Accounts for a chunk the loader committed (its rejected rows went to the dead-letter topic
 * first). */
static void loaded(consumer_t *c, sbuf_t *b)
{
    for (size_t i = 0; i < b->n_failed; i++)
        batch_dead_letter_count(c, b->t, b->failed[i].message);
    if (parts_chunk_mark(c, b->chunk) != 0)
        cons_fail(c, "could not record an applied chunk: out of memory");
    uint64_t rows = b->n - b->n_failed;
    pthread_mutex_lock(&c->lock);
    b->t->rows_applied += rows;
    b->t->bytes_applied += b->len;
    pthread_mutex_unlock(&c->lock);
    ferry_counter_add(b->t->m_rows, rows);
    ferry_counter_add(b->t->m_bytes, b->len);
}

/* Takes the loaders' finished chunks (loop thread). */
void snapshot_reap(consumer_t *c)
{
    bool any = false;
    sbuf_t *next;
    for (sbuf_t *b = c->sbufs; b; b = next) {
        next = b->next;
        if (!b->queued || !snapload_done(c->loader, b))
            continue;
        any = true;
        if (b->rc == 0) {
            loaded(c, b);
        } else if (b->rc == FERRY_ERR_INVALID && b->n_failed) { /* apply.on.error = stop */
            ferry_kafka_msg_t m = snapshot_row_msg(b, b->failed[0].event);
            cons_fail(c, "%s (topic \"%s\" [%d] offset %lld; apply.on.error = stop)",
                      b->failed[0].message, m.topic, (int)m.partition, (long long)m.offset);
        } else {
            cons_fail(c, "could not load chunk \"%s\" into \"%s\": %s", b->chunk, b->t->dst_full,
                      b->errstr);
        }
        sbuf_remove(c, b, b->rc != 0 && c->fatal);
    }
    if (!any)
        return;
    for (size_t i = 0; i < c->ntables; i++)
        if (c->tables[i]->phase == PHASE_FULL)
            snapshot_recount(c, c->tables[i]);
}

/* ---- arriving rows ------------------------------------------------------- */

/* Copies m into the attempt's buffer b; m is destroyed. */
static void keep(consumer_t *c, sbuf_t *b, part_t *p, ferry_kafka_msg_t *m)
{
    size_t need = m->key_len + m->value_len;
    if (b->n == b->cap || b->data_cap - b->len < need) {
        size_t cap = b->n == b->cap ? (b->cap ? b->cap * 2 : 1024) : b->cap;
        size_t dcap = b->data_cap;
        while (dcap - b->len < need)
            dcap = dcap ? dcap * 2 : (size_t)1 << 20;
        srow_t *rows = cap != b->cap ? realloc(b->rows, cap * sizeof(*rows)) : b->rows;
        if (rows)
            b->rows = rows, b->cap = cap;
        uint8_t *data = rows && dcap != b->data_cap ? realloc(b->data, dcap) : b->data;
        if (data)
            b->data = data, b->data_cap = dcap;
        if (!rows || !data) {
            ferry_kafka_msg_destroy(m);
            cons_fail(c, "could not keep a snapshot row of \"%s\": out of memory", b->t->src_full);
            return;
        }
    }
    srow_t *r = &b->rows[b->n++];
    r->offset = m->offset;
    r->key_at = b->len;
    r->key_len = m->key_len;
    if (m->key_len)
        memcpy(b->data + b->len, m->key, m->key_len);
    r->value_at = b->len + m->key_len;
    r->value_len = m->value_len;
    if (m->value_len)
        memcpy(b->data + r->value_at, m->value, m->value_len);
    b->len += need;
    char err[512];
    const uint8_t *body = NULL;
    r->codec = cons_codec_for(c, m->value, m->value_len, &body, &r->body_len, err, sizeof(err));
    if (r->codec && !ferry_avro_codec_is_envelope(r->codec))
        r->codec = NULL;
    r->body_at = r->codec ? r->value_at + (size_t)(body - (const uint8_t *)m->value) : 0;
    size_t bytes = need + sizeof(*r);
    b->bytes += bytes;
    c->sbuf_bytes += bytes;
    batch_consumed(c, p, m->offset);
    ferry_kafka_msg_destroy(m);
}

/* A new attempt's buffer, or NULL when memory is full (p is then held at m). */
static sbuf_t *start_attempt(consumer_t *c, ctable_t *t, part_t *p, const ferry_kafka_msg_t *m,
                             const char *chunk, const char *attempt)
{
    if (snapshot_open_slots(c) <= 0 && !part_reading(c, (size_t)(p - c->parts))) {
        parts_hold_mem(c, p, m->offset);
        return NULL;
    }
    sbuf_t *b = calloc(1, sizeof(*b));
    if (!b) {
        cons_fail(c, "could not keep a snapshot chunk of \"%s\": out of memory", t->src_full);
        return NULL;
    }
    b->t = t;
    b->part = (size_t)(p - c->parts);
    b->partition = p->partition;
    snprintf(b->chunk, sizeof(b->chunk), "%s", chunk);
    snprintf(b->attempt, sizeof(b->attempt), "%s", attempt);
    b->first_offset = m->offset;
    b->next = c->sbufs;
    c->sbufs = b;
    return b;
}

/* One message of t's snapshot topic (see the file comment). */
void snapshot_message(consumer_t *c, ctable_t *t, part_t *p, ferry_kafka_msg_t *m)
{
    char chunk[512], attempt[256], row[32];
    if (!cons_msg_header(m, FERRY_FULLLOAD_HDR_CHUNK, chunk, sizeof(chunk)) ||
        !cons_msg_header(m, FERRY_FULLLOAD_HDR_ATTEMPT, attempt, sizeof(attempt)) ||
        !cons_msg_header(m, FERRY_FULLLOAD_HDR_ROW, row, sizeof(row))) {
        ferry_log_warn("snapshot message without chunk headers skipped",
                       "topic=%s partition=%d offset=%lld", m->topic, (int)m->partition,
                       (long long)m->offset);
        batch_skip(c, p, m);
        return;
    }
    if (parts_chunk_applied(c, chunk) || chunk_loading(c, chunk)) {
        batch_skip(c, p, m);
        return;
    }
    const ferry_fullload_done_t *mark = ferry_fullload_donelog_get(c->donelog, chunk);
    if (mark && (strcmp(mark->attempt, attempt) != 0 || !m->value)) {
        batch_skip(c, p, m);
        return;
    }
    p->released_ms = 0;
    int64_t ordinal = atoll(row);
    sbuf_t *b = sbuf_find(c, chunk, attempt);
    if (b && ordinal < (int64_t)b->n) { /* read again after a hold: already kept */
        batch_skip(c, p, m);
        return;
    }
    if (b && ordinal > (int64_t)b->n) { /* a gap: read the attempt again from its start */
        int64_t from = b->first_offset;
        sbuf_remove(c, b, true);
        parts_hold(c, p, from, chunk);
        ferry_kafka_msg_destroy(m);
        return;
    }
    if (!b && ordinal != 0) {
        /* its start was passed over: an attempt that lost, or one read again after a hold */
        batch_skip(c, p, m);
        return;
    }
    if (!b && !(b = start_attempt(c, t, p, m, chunk, attempt))) {
        ferry_kafka_msg_destroy(m);
        return;
    }
    keep(c, b, p, m);
    if (mark)
        try_queue(c, b, mark);
    else
        snapshot_refresh(c, 2000); /* settles b too once its marker is there */
}
