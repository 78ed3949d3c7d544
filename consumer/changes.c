/*
 * changes.c - reading the snapshot and change topics of the tables this
 * consumer owns (owner.c): polling and dispatch, and applying change events.
 *
 * A change event at or before its table's high watermark H may already be
 * in the snapshot and goes in safe mode (upserts, delete-if-present); one
 * after H goes in strict mode, where any divergence is an error of that
 * event. Positions compare by binlog file sequence number, then offset
 * (binlog_pos.h). A change topic is held while its table is still in
 * "full" and read from its start (or the destination's stored offsets)
 * once the table is in catch-up.
 *
 * Messages are polled in bursts and staged; before a burst holding changes
 * is dispatched, the ddl topic is read to its end (ddl.c), so that a change
 * after a DDL statement is never applied before the statement is known: it
 * holds its partition until the statement ran.
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The event's source position; false when it has none. */
static bool event_pos(const ferry_change_t *ev, ferry_binlog_pos_t *pos)
{
    char err[256];
    return ev->source.file && (ev->source.present & FERRY_SOURCE_POS) && ev->source.pos >= 0 &&
           ferry_binlog_pos_init(pos, ev->source.file, (uint64_t)ev->source.pos, err,
                                 sizeof(err)) == 0;
}

/* Safe mode for events at or before H; strict after it or without a position. */
static bool is_safe(const ctable_t *t, const ferry_change_t *ev)
{
    ferry_binlog_pos_t pos;
    return event_pos(ev, &pos) && ferry_binlog_pos_cmp(&pos, &t->h) <= 0;
}

/*
 * True when ev is not past the last change taken from p (a copy); else
 * records it as the last. Order: position, row, then a key change's delete
 * before its create.
 */
static bool seen_before(part_t *p, const ferry_change_t *ev)
{
    ferry_binlog_pos_t pos;
    if (!event_pos(ev, &pos))
        return false;
    int32_t row = (ev->source.present & FERRY_SOURCE_ROW) ? ev->source.row : 0;
    int rank = ev->op == 'c' ? 1 : 0;
    if (p->has_last) {
        int cmp = ferry_binlog_pos_cmp(&pos, &p->last_pos);
        if (cmp == 0)
            cmp = row != p->last_row ? (row > p->last_row ? 1 : -1) : rank - p->last_rank;
        if (cmp <= 0)
            return true;
    }
    p->has_last = true;
    p->last_pos = pos;
    p->last_row = row;
    p->last_rank = rank;
    return false;
}

/* A key-less table's change that its snapshot already holds (see ctable_t.exact). */
static bool in_exact_snapshot(const ctable_t *t, const ferry_change_t *ev)
{
    ferry_binlog_pos_t pos;
    return t->keyless && t->has_exact && event_pos(ev, &pos) &&
           ferry_binlog_pos_cmp(&pos, &t->exact) <= 0;
}

static void undecodable(consumer_t *c, ctable_t *t, part_t *p, ferry_kafka_msg_t *m,
                        const char *why)
{
    char text[1024];
    snprintf(text, sizeof(text), "could not decode a change event of \"%s\": %s", t->src_full, why);
    if (c->stop_on_error) {
        cons_fail(c, "%s (topic \"%s\" [%d] offset %lld)", text, m->topic, (int)m->partition,
                  (long long)m->offset);
        ferry_kafka_msg_destroy(m);
        return;
    }
    batch_dead_letter(c, t, m, 0, "22000", text);
    batch_skip(c, p, m);
}

void changes_message(consumer_t *c, ctable_t *t, part_t *p, ferry_kafka_msg_t *m)
{
    if (t->phase < PHASE_CATCHUP && !t->created) {
        parts_hold(c, p, m->offset, NULL);
        ferry_kafka_msg_destroy(m);
        return;
    }
    if (!m->value) {
        batch_skip(c, p, m);
        return;
    }
    char err[512];
    const uint8_t *body;
    size_t body_len;
    ferry_change_t ev;
    ferry_avro_codec_t *codec =
        cons_codec_for(c, m->value, m->value_len, &body, &body_len, err, sizeof(err));
    if (!codec) {
        undecodable(c, t, p, m, err);
        return;
    }
    if (!ferry_avro_codec_is_envelope(codec)) {
        undecodable(c, t, p, m, "the value schema is not a change envelope");
        return;
    }
    if (ferry_avro_codec_decode_change(codec, body, body_len, c->batch.arena, &ev, err,
                                       sizeof(err)) != 0) {
        undecodable(c, t, p, m, err);
        return;
    }
    ferry_binlog_pos_t pos;
    bool has_pos = event_pos(&ev, &pos);
    if (has_pos && ddl_blocks(c, t, &pos)) {
        parts_hold_ddl(c, p, m->offset, &pos);
        ferry_kafka_msg_destroy(m);
        return;
    }
    if ((has_pos && t->has_floor && ferry_binlog_pos_cmp(&pos, &t->floor) <= 0) ||
        seen_before(p, &ev) || in_exact_snapshot(t, &ev)) {
        batch_skip(c, p, m);
        return;
    }
    /* a key-less table with an exact snapshot position needs no safe mode */
    batch_add(c, t, p, m, !(t->keyless && t->has_exact) && is_safe(t, &ev), &ev);
}

/* Names the tables that a lost offset means must be copied again. */
static void out_of_range(consumer_t *c, const char *err)
{
    char tables[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < c->ntables && len < sizeof(tables) - 1; i++) {
        const ctable_t *t = c->tables[i];
        if (strstr(err, t->change_topic) ||
            (t->snapshot_topic[0] && strstr(err, t->snapshot_topic)))
            len += (size_t)snprintf(tables + len, sizeof(tables) - len, "%s%s", len ? ", " : "",
                                    t->src_full);
    }
    if (len)
        cons_fail(c, "%s; copy again: %s", err, tables);
    else
        cons_fail(c, "%s", err);
}

/* Polls the group once and stages what came. */
void changes_poll(consumer_t *c, int timeout_ms)
{
    if (c->nstaged >= STAGE_MAX)
        return;
    if (!c->staged && !(c->staged = calloc(STAGE_MAX, sizeof(*c->staged)))) {
        cons_fail(c, "out of memory");
        return;
    }
    ferry_kafka_msg_t *m = NULL;
    char err[1024];
    int rc = ferry_kafka_consumer_poll(c->data, timeout_ms, &m, err, sizeof(err));
    if (rc == FERRY_ERR_FATAL) {
        out_of_range(c, err);
        return;
    }
    if (rc != 0)
        ferry_log_warn("consumer error, retrying", "group=%s error=\"%s\"", c->group, err);
    if (!m)
        return;
    c->last_data_ms = ferry_wall_ms();
    c->polled_msgs++;
    c->polled_bytes += m->key_len + m->value_len;
    c->staged[c->nstaged++] = m;
}

/*
 * Keeps a backlog coming at the pace it is applied. librdkafka stops
 * fetching while its queue is over queued.max.messages.kbytes (or
 * queued.min.messages) and looks again about once a second (kafka.h,
 * ferry_kafka_consumer_wake_fetchers): a backlog of changes arrived at
 * 40,000-47,000 a second (one 16 MB queue) whatever the destination could
 * take. Once the queue is down to a quarter of the most it held since the
 * last wake, and that most was near a stop (half of either limit; bytes at
 * the average size of the messages polled since), the fetchers are woken:
 * the next fetch runs while the rest of the queue is applied. A queue that
 * never comes near a stop (a trickle, or fetches that keep up) is left
 * alone: each wake holds the loop for a round trip to the brokers.
 */
void changes_refill(consumer_t *c)
{
    size_t stop_msgs, stop_bytes;
    size_t queued = ferry_kafka_consumer_queued(c->data, &stop_msgs, &stop_bytes);
    if (queued > c->fetched_peak)
        c->fetched_peak = queued;
    if (queued > c->fetched_peak / 4 || c->polled_msgs == 0)
        return;
    double peak_bytes = (double)c->fetched_peak * (double)c->polled_bytes / (double)c->polled_msgs;
    if (c->fetched_peak < stop_msgs / 2 && peak_bytes < (double)stop_bytes / 2)
        return;
    ferry_log_debug("waking the fetchers", "queued=%zu peak=%zu peak_bytes=%.0f", queued,
                    c->fetched_peak, peak_bytes);
    ferry_kafka_consumer_wake_fetchers(c->data, 200);
    c->fetched_peak = queued;
    c->polled_msgs = 0;
    c->polled_bytes = 0;
}

/* Drops what is staged (the messages were not applied; they are read again). */
void changes_unstage(consumer_t *c)
{
    for (size_t i = 0; i < c->nstaged; i++)
        ferry_kafka_msg_destroy(c->staged[i]);
    c->nstaged = 0;
    free(c->staged);
    c->staged = NULL;
}

static void dispatch(consumer_t *c, ferry_kafka_msg_t *m)
{
    part_t *p = parts_get(c, m->topic, m->partition);
    bool snap = false;
    ctable_t *t = tables_by_topic(c, m->topic, &snap);
    if (!p || !t || !p->assigned || (p->hold >= 0 && m->offset >= p->hold) ||
        (p->next >= 0 && m->offset < p->next)) {
        ferry_kafka_msg_destroy(m);
        return;
    }
    if (t->failed) {
        parts_hold(c, p, m->offset, NULL);
        ferry_kafka_msg_destroy(m);
        return;
    }
    if (snap)
        snapshot_message(c, t, p, m);
    else
        changes_message(c, t, p, m);
}

/* True when a staged message is a change that would be applied now. */
static bool stage_has_changes(consumer_t *c)
{
    for (size_t i = 0; i < c->nstaged; i++) {
        bool snap = false;
        const ctable_t *t = tables_by_topic(c, c->staged[i]->topic, &snap);
        if (t && !snap && (t->phase >= PHASE_CATCHUP || t->created))
            return true;
    }
    return false;
}

/*
 * Dispatches the staged messages in the order they came, once the ddl topic
 * has been read past every statement that could precede them.
 */
void changes_dispatch(consumer_t *c)
{
    if (!c->nstaged || (stage_has_changes(c) && !ddl_read_ahead(c)))
        return;
    size_t n = c->nstaged;
    c->nstaged = 0;
    for (size_t i = 0; i < n && !c->fatal; i++) {
        ferry_kafka_msg_t *m = c->staged[i];
        c->staged[i] = NULL;
        dispatch(c, m);
    }
    for (size_t i = 0; i < n; i++)
        ferry_kafka_msg_destroy(c->staged[i]);
}
