/*
 * snapshot.c - applying a table's snapshot topic by the chunk contract of
 * fullload.h.
 *
 * Each row names its chunk (task id) and attempt. The first done-marker of
 * the chunk decides which attempt counts: its rows are applied, every other
 * attempt's rows are passed over. A row whose chunk has no marker yet holds
 * its partition (parts.c) until the done topic shows one; the rows are read
 * again then, so nothing undecided is ever buffered or applied. A chunk is
 * applied when its last row is committed (recorded with it, parts.c) or,
 * for an empty chunk, as soon as its marker exists.
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define REFRESH_MIN_MS 100

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

/* Reads new done-markers (at most every REFRESH_MIN_MS) and recounts. */
void snapshot_refresh(consumer_t *c, int timeout_ms)
{
    int64_t now = cons_now_ms();
    if (now - c->donelog_ms < REFRESH_MIN_MS)
        return;
    c->donelog_ms = now;
    char err[512];
    int rc = ferry_fullload_donelog_catch_up(c->donelog, timeout_ms, err, sizeof(err));
    if (rc == FERRY_ERR_FATAL)
        cons_fail(c, "could not read the done-markers: %s", err);
    else if (rc != 0 && rc != FERRY_ERR_TIMEOUT)
        ferry_log_warn("could not read the done-markers", "error=\"%s\"", err);
    for (size_t i = 0; i < c->ntables; i++)
        if (c->tables[i]->phase == PHASE_FULL)
            snapshot_recount(c, c->tables[i]);
}

static void apply_row(consumer_t *c, ctable_t *t, part_t *p, ferry_kafka_msg_t *m,
                      const ferry_fullload_done_t *mark, const char *chunk, const char *row)
{
    char err[512];
    const uint8_t *body;
    size_t body_len;
    ferry_change_t ev;
    ferry_avro_codec_t *codec =
        cons_codec_for(c, m->value, m->value_len, &body, &body_len, err, sizeof(err));
    if (!codec || !ferry_avro_codec_is_envelope(codec) ||
        ferry_avro_codec_decode_change(codec, body, body_len, c->batch.arena, &ev, err,
                                       sizeof(err)) != 0) {
        if (codec && !ferry_avro_codec_is_envelope(codec))
            snprintf(err, sizeof(err), "the value schema is not a change envelope");
        char text[1024];
        snprintf(text, sizeof(text), "could not decode a snapshot row of \"%s\": %s", t->src_full,
                 err);
        if (c->stop_on_error) {
            ferry_kafka_msg_destroy(m);
            cons_fail(c, "%s (topic \"%s\" [%d])", text, t->snapshot_topic, (int)p->partition);
            return;
        }
        batch_dead_letter(c, t, m, 0, "22000", text);
        batch_skip(c, p, m);
        return;
    }
    ev.op = 'r';
    bool last = atoll(row) + 1 == mark->rows;
    if (batch_add(c, t, p, m, true, &ev) == 0 && last && batch_add_chunk(c, chunk) != 0)
        cons_fail(c, "could not record chunk \"%s\": out of memory", chunk);
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
    if (parts_chunk_applied(c, chunk)) {
        batch_skip(c, p, m);
        return;
    }
    const ferry_fullload_done_t *mark = ferry_fullload_donelog_get(c->donelog, chunk);
    if (!mark) {
        snapshot_refresh(c, 2000);
        mark = ferry_fullload_donelog_get(c->donelog, chunk);
    }
    if (!mark) {
        parts_hold(c, p, m->offset, chunk);
        ferry_kafka_msg_destroy(m);
        return;
    }
    if (strcmp(mark->attempt, attempt) != 0 || !m->value) {
        batch_skip(c, p, m);
        return;
    }
    apply_row(c, t, p, m, mark, chunk, row);
}
