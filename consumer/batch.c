/*
 * batch.c - one destination transaction per batch.
 *
 * Events wait in the batch with the Kafka message they came in (their
 * strings point into it) until the batch is applied: up to BATCH_MAX_EVENTS
 * events or BATCH_MAX_MS after its first content. At flush the events are
 * grouped by table (order within a table, hence within each partition, is
 * kept; tables are independent), cut into runs of one mode, and handed to
 * the sink with the next offset of every partition the batch moved and the
 * chunks it completed: the sink writes all of it in one transaction. Only
 * after that commit are the offsets also committed to the Kafka group, for
 * lag tools. Events the destination rejected come back from the sink and go
 * to the dead-letter topic (or stop the link with apply.on.error=stop).
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(consumer_t *c)
{
    batch_t *b = &c->batch;
    if (b->n < b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 256;
    entry_t *n = realloc(b->e, cap * sizeof(*n));
    if (!n)
        return FERRY_ERR_NOMEM;
    b->e = n;
    b->cap = cap;
    return 0;
}

static void touch(consumer_t *c)
{
    if (!c->batch.first_ms)
        c->batch.first_ms = cons_now_ms();
}

/* Adds a decoded event (its rows in the batch's arena); the batch keeps m. */
int batch_add(consumer_t *c, ctable_t *t, part_t *p, ferry_kafka_msg_t *m, bool safe,
              const ferry_change_t *ev)
{
    if (grow(c) != 0) {
        ferry_kafka_msg_destroy(m);
        cons_fail(c, "could not queue an event of \"%s\": out of memory", t->src_full);
        return FERRY_ERR_NOMEM;
    }
    entry_t *e = &c->batch.e[c->batch.n];
    e->ev = *ev;
    char err[1024];
    int id = shape_prepare(c, t, m, &e->ev, err, sizeof(err));
    if (id < 0) {
        if (c->stop_on_error) {
            cons_fail(c, "%s (topic \"%s\" [%d] offset %lld)", err, m->topic, (int)m->partition,
                      (long long)m->offset);
            ferry_kafka_msg_destroy(m);
            return id;
        }
        batch_dead_letter(c, t, m, 0, "22000", err);
        batch_skip(c, p, m);
        return 0;
    }
    c->batch.n++;
    e->msg = m;
    e->t = t;
    e->safe = safe;
    e->sink_id = id;
    batch_consumed(c, p, m->offset);
    return 0;
}

/* Passes over a message that is not applied (its offset still moves). */
void batch_skip(consumer_t *c, part_t *p, ferry_kafka_msg_t *m)
{
    batch_consumed(c, p, m->offset);
    ferry_kafka_msg_destroy(m);
}

/*
 * Moves p past offset (never back: snapshot rows kept in memory are applied
 * after later messages of their partition) and makes the batch due in time
 * to store it.
 */
void batch_consumed(consumer_t *c, part_t *p, int64_t offset)
{
    if (p->next < offset + 1)
        p->next = offset + 1;
    touch(c);
}

/*
 * The offset of c->parts[part] that may be stored: its next offset, but not
 * past a snapshot row still in memory (a restart must read it again).
 */
int64_t batch_storable(const consumer_t *c, size_t part)
{
    int64_t next = c->parts[part].next, floor = snapshot_part_floor(c, part);
    return floor >= 0 && (next < 0 || floor < next) ? floor : next;
}

int batch_add_chunk(consumer_t *c, const char *chunk)
{
    batch_t *b = &c->batch;
    if (b->n_chunks == b->chunks_cap) {
        size_t cap = b->chunks_cap ? b->chunks_cap * 2 : 16;
        char **n = realloc(b->chunks, cap * sizeof(*n));
        if (!n)
            return FERRY_ERR_NOMEM;
        b->chunks = n;
        b->chunks_cap = cap;
    }
    char *copy = ferry_arena_strdup(b->arena, chunk);
    if (!copy)
        return FERRY_ERR_NOMEM;
    b->chunks[b->n_chunks++] = copy;
    return 0;
}

/* Stores pseudo topic topic (offset value) with the next batch; topic is copied. */
int batch_add_mark(consumer_t *c, const char *topic, int64_t value)
{
    batch_t *b = &c->batch;
    if (b->n_marks == b->marks_cap) {
        size_t cap = b->marks_cap ? b->marks_cap * 2 : 8;
        ferry_mysql_sink_offset_t *n = realloc(b->marks, cap * sizeof(*n));
        if (!n)
            return FERRY_ERR_NOMEM;
        b->marks = n;
        b->marks_cap = cap;
    }
    char *copy = ferry_arena_strdup(b->arena, topic);
    if (!copy)
        return FERRY_ERR_NOMEM;
    b->marks[b->n_marks++] = (ferry_mysql_sink_offset_t){.topic = copy, .next_offset = value};
    return 0;
}

bool batch_due(const consumer_t *c)
{
    return c->batch.n >= BATCH_MAX_EVENTS ||
           (c->batch.first_ms && cons_now_ms() - c->batch.first_ms >= BATCH_MAX_MS);
}

/* What a flush hands the sink, built in the batch's arena. */
typedef struct {
    size_t *order; /* entry index per event, grouped by table */
    ferry_change_t *events;
    ferry_mysql_sink_run_t *runs;
    size_t *run_start; /* index in order of each run's first event */
    size_t n_runs;
    ferry_mysql_sink_offset_t *offs;
    size_t n_offs;
} plan_t;

static void plan_runs(consumer_t *c, plan_t *pl)
{
    batch_t *b = &c->batch;
    size_t k = 0;
    bool *done = ferry_arena_calloc(b->arena, b->n + 1, sizeof(bool));
    for (size_t i = 0; i < b->n; i++) {
        if (done[i])
            continue;
        for (size_t j = i; j < b->n; j++) {
            if (done[j] || b->e[j].t != b->e[i].t)
                continue;
            done[j] = true;
            pl->order[k] = j;
            pl->events[k] = b->e[j].ev;
            const entry_t *prev = k ? &b->e[pl->order[k - 1]] : NULL;
            if (!prev || prev->t != b->e[j].t || prev->safe != b->e[j].safe ||
                prev->sink_id != b->e[j].sink_id) {
                pl->run_start[pl->n_runs] = k;
                pl->runs[pl->n_runs].table = b->e[j].sink_id;
                pl->runs[pl->n_runs].safe = b->e[j].safe;
                pl->runs[pl->n_runs].events = &pl->events[k];
                pl->n_runs++;
            }
            pl->runs[pl->n_runs - 1].n_events++;
            k++;
        }
    }
}

static int plan_build(consumer_t *c, plan_t *pl)
{
    batch_t *b = &c->batch;
    size_t n = b->n + 1, no = c->nparts + b->n_chunks + b->n_marks + 2;
    pl->order = ferry_arena_calloc(b->arena, n, sizeof(size_t));
    pl->events = ferry_arena_calloc(b->arena, n, sizeof(ferry_change_t));
    pl->runs = ferry_arena_calloc(b->arena, n, sizeof(ferry_mysql_sink_run_t));
    pl->run_start = ferry_arena_calloc(b->arena, n, sizeof(size_t));
    pl->offs = ferry_arena_calloc(b->arena, no, sizeof(ferry_mysql_sink_offset_t));
    if (!pl->order || !pl->events || !pl->runs || !pl->run_start || !pl->offs)
        return FERRY_ERR_NOMEM;
    plan_runs(c, pl);
    for (size_t i = 0; i < c->nparts; i++) {
        const part_t *p = &c->parts[i];
        int64_t next = batch_storable(c, i);
        if (next < 0 || next == p->committed)
            continue;
        ferry_mysql_sink_offset_t *o = &pl->offs[pl->n_offs++];
        *o = (ferry_mysql_sink_offset_t){
            .topic = p->topic, .partition = p->partition, .next_offset = next};
        if (p->has_last) /* the dedup position goes with the offset it belongs to */
            o->last = (ferry_mysql_sink_source_pos_t){p->last_pos.file, p->last_pos.offset,
                                                      p->last_row, p->last_rank};
    }
    for (size_t i = 0; i < b->n_chunks; i++) {
        char *topic = ferry_arena_calloc(b->arena, strlen(b->chunks[i]) + 16, 1);
        if (!topic)
            return FERRY_ERR_NOMEM;
        sprintf(topic, "%s%s", CHUNK_MARK_PREFIX, b->chunks[i]);
        pl->offs[pl->n_offs++] = (ferry_mysql_sink_offset_t){.topic = topic};
    }
    for (size_t i = 0; i < b->n_marks; i++)
        pl->offs[pl->n_offs++] = b->marks[i];
    if (c->ddl_floor_dirty)
        pl->offs[pl->n_offs++] =
            (ferry_mysql_sink_offset_t){.topic = DDL_FLOOR_TOPIC, .next_offset = c->ddl_floor};
    return 0;
}

static const entry_t *failed_entry(const consumer_t *c, const plan_t *pl,
                                   const ferry_mysql_sink_failure_t *f)
{
    return &c->batch.e[pl->order[pl->run_start[f->run] + f->event]];
}

/* Publishes what a committed batch did, per table. */
static void account(consumer_t *c, const plan_t *pl, const ferry_mysql_sink_result_t *res)
{
    batch_t *b = &c->batch;
    bool *bad = ferry_arena_calloc(b->arena, b->n + 1, sizeof(bool));
    for (size_t i = 0; bad && i < res->n_failed; i++) {
        const entry_t *e = failed_entry(c, pl, &res->failed[i]);
        bad[e - b->e] = true;
        batch_dead_letter(c, e->t, e->msg, res->failed[i].err_no, res->failed[i].sqlstate,
                          res->failed[i].message);
    }
    int64_t now = cons_now_ms();
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < b->n; i++) {
        entry_t *e = &b->e[i];
        if (bad && bad[i])
            continue;
        bool row = e->ev.op == 'r';
        *(row ? &e->t->rows_applied : &e->t->events_applied) += 1;
        ferry_counter_add(row ? e->t->m_rows : e->t->m_events, 1);
        e->t->lag_s = (double)(now - e->ev.source.ts_ms) / 1000.0;
        e->t->has_lag = true;
        ferry_gauge_set_double(e->t->m_lag, e->t->lag_s);
    }
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; i < b->n; i++) {
        ctable_t *t = b->e[i].t;
        if (!b->e[i].safe && b->e[i].ev.op != 'r' && t->phase == PHASE_CATCHUP)
            tables_set_phase(c, t, PHASE_INCREMENTAL);
    }
}

/* After the destination commit: chunks, offsets, the group's offsets, memory. */
static void settle(consumer_t *c, const plan_t *pl)
{
    batch_t *b = &c->batch;
    for (size_t i = 0; i < b->n_chunks; i++)
        if (parts_chunk_mark(c, b->chunks[i]) != 0)
            cons_fail(c, "could not record an applied chunk: out of memory");
    for (size_t i = 0; b->n_chunks && i < c->ntables; i++)
        if (c->tables[i]->phase == PHASE_FULL)
            snapshot_recount(c, c->tables[i]);
    ferry_kafka_tp_t *tps = ferry_arena_calloc(b->arena, pl->n_offs + 1, sizeof(*tps));
    size_t ntp = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        part_t *p = &c->parts[i];
        int64_t next = batch_storable(c, i);
        if (next < 0 || next == p->committed)
            continue;
        p->committed = next;
        if (p->assigned && tps)
            tps[ntp++] = (ferry_kafka_tp_t){p->topic, p->partition, next};
    }
    char err[512];
    if (ntp && ferry_kafka_consumer_commit(c->data, tps, ntp, err, sizeof(err)) != 0)
        ferry_log_warn("could not commit offsets to the group", "group=%s error=\"%s\"", c->group,
                       err);
    for (size_t i = 0; i < b->n; i++)
        ferry_kafka_msg_destroy(b->e[i].msg);
    b->n = b->n_chunks = b->n_marks = 0;
    c->ddl_floor_dirty = false;
    b->first_ms = 0;
    ferry_arena_reset(b->arena);
}

static int apply(consumer_t *c, const plan_t *pl, ferry_mysql_sink_result_t *res)
{
    ferry_mysql_sink_batch_t sb = {pl->runs, pl->n_runs, pl->offs, pl->n_offs};
    char err[1024];
    int rc = FERRY_ERR_RETRIABLE;
    for (int attempt = 0; attempt < 3 && rc == FERRY_ERR_RETRIABLE; attempt++) {
        if (attempt)
            ferry_service_sleep(c->svc, 500);
        rc = ferry_mysql_sink_apply(c->sink, &sb, res, err, sizeof(err));
        if (rc == FERRY_ERR_RETRIABLE)
            ferry_log_warn("batch rolled back, retrying", "events=%zu error=\"%s\"", c->batch.n,
                           err);
    }
    if (rc == FERRY_ERR_INVALID && c->stop_on_error && res->n_failed) {
        const entry_t *e = failed_entry(c, pl, &res->failed[0]);
        cons_fail(c, "%s (topic \"%s\" [%d] offset %lld; apply.on.error = stop)",
                  res->failed[0].message, e->msg->topic, (int)e->msg->partition,
                  (long long)e->msg->offset);
    } else if (rc != 0) {
        cons_fail(c, "could not apply a batch of %zu events: %s", c->batch.n, err);
    }
    return rc;
}

/* Applies the batch (see the file comment). 0, or the error that stopped the link. */
int batch_flush(consumer_t *c)
{
    batch_t *b = &c->batch;
    if (c->fatal)
        return FERRY_ERR_FATAL;
    plan_t pl = {0};
    if (plan_build(c, &pl) != 0) {
        cons_fail(c, "could not build a batch: out of memory");
        return FERRY_ERR_NOMEM;
    }
    if (!b->n && !pl.n_offs) {
        b->first_ms = 0;
        ferry_arena_reset(b->arena);
        return 0;
    }
    ferry_mysql_sink_result_t res;
    int rc = apply(c, &pl, &res);
    if (rc != 0)
        return rc;
    account(c, &pl, &res);
    settle(c, &pl);
    return 0;
}

/* Forgets what the batch holds (after a fatal error: nothing more is applied). */
void batch_drop(consumer_t *c)
{
    batch_t *b = &c->batch;
    for (size_t i = 0; i < b->n; i++)
        ferry_kafka_msg_destroy(b->e[i].msg);
    b->n = b->n_chunks = b->n_marks = 0;
    b->first_ms = 0;
}

void batch_free(consumer_t *c)
{
    batch_t *b = &c->batch;
    for (size_t i = 0; i < b->n; i++)
        ferry_kafka_msg_destroy(b->e[i].msg);
    free(b->e);
    free(b->chunks);
    free(b->marks);
    ferry_arena_destroy(b->arena);
    memset(b, 0, sizeof(*b));
}

static void put_header(ferry_kafka_header_t *h, const char *name, const char *value)
{
    h->name = name;
    h->value = value;
    h->value_len = strlen(value);
}

/* Sends m as it came, with the reason, to the link's dead-letter topic. */
void batch_dead_letter(consumer_t *c, ctable_t *t, const ferry_kafka_msg_t *m, unsigned err_no,
                       const char *sqlstate, const char *message)
{
    char no[16], part[16], off[32], err[512];
    snprintf(no, sizeof(no), "%u", err_no);
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    ferry_kafka_header_t h[7];
    put_header(&h[0], "ferry.error.errno", no);
    put_header(&h[1], "ferry.error.sqlstate", sqlstate);
    put_header(&h[2], "ferry.error.message", message);
    put_header(&h[3], "ferry.topic", m->topic);
    put_header(&h[4], "ferry.partition", part);
    put_header(&h[5], "ferry.offset", off);
    put_header(&h[6], "ferry.table", t->dst_full);
    ferry_kafka_record_t rec = {
        c->dlq_topic, FERRY_KAFKA_PARTITION_ANY, m->key, m->key_len, m->value, m->value_len, h, 7};
    ferry_log_warn("event sent to the dead-letter topic",
                   "table=%s topic=%s partition=%d offset=%lld error=\"%s\"", t->dst_full, m->topic,
                   (int)m->partition, (long long)m->offset, message);
    if (ferry_kafka_produce(c->dlq, &rec, err, sizeof(err)) != 0 ||
        ferry_kafka_producer_flush(c->dlq, 10000, err, sizeof(err)) != 0)
        ferry_log_error("could not write to the dead-letter topic", "topic=%s error=\"%s\"",
                        c->dlq_topic, err);
    pthread_mutex_lock(&c->lock);
    t->dlq++;
    c->dlq_total++;
    free(t->last_error);
    t->last_error = strdup(message);
    pthread_mutex_unlock(&c->lock);
    ferry_counter_add(t->m_dlq, 1);
    ferry_counter_add(c->m_dlq_total, 1);
}
