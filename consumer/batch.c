/*
 * batch.c - one destination transaction per batch.
 *
 * Events wait in the batch with the Kafka message they came in (their
 * strings point into it) until the batch is applied: up to BATCH_MAX_EVENTS
 * events or BATCH_MAX_MS after its first content. At flush the events are
 * grouped by table (order within a table, hence within each partition, is
 * kept; tables are independent), cut into runs of one mode, and handed to
 * the sink with the next offset of every partition the batch moved and the
 * chunks it completed: the sink writes all of it in one transaction. With
 * apply.threads > 1 the batch is cut by partition into one such
 * transaction per apply worker (apply.c), each holding the offsets of its
 * own partitions, and the flush returns once all of them committed. Only
 * after that are the offsets also committed to the Kafka group, for lag
 * tools (at most once a second, batch_group_commit). Events the destination rejected come back from
 * the sink and go to the dead-letter topic (or stop the link with apply.on.error=stop).
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <inttypes.h>
#include <mysql.h>
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

void batch_touch(consumer_t *c)
{
    if (!c->batch.first_ms)
        c->batch.first_ms = ferry_wall_ms();
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
    e->part = (size_t)(p - c->parts);
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
    batch_touch(c);
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
           (c->batch.first_ms && ferry_wall_ms() - c->batch.first_ms >= BATCH_MAX_MS);
}

/* What a flush hands one sink (one worker's share), built in the batch's arena. */
typedef struct {
    size_t *order; /* entry index per event, grouped by table */
    ferry_change_t *events;
    ferry_mysql_sink_run_t *runs;
    size_t *run_start; /* index in order of each run's first event */
    size_t n_runs, n_events;
    ferry_mysql_sink_offset_t *offs; /* the partitions' first, then pseudo topics */
    size_t n_offs;
    ferry_mysql_sink_offset_t *fences; /* ownership epoch of each table of those partitions */
    size_t n_fences;
    size_t *off_part; /* index in consumer_t.parts of offs[k], k < n_parts */
    size_t n_parts;
} plan_t;

/* A planned batch: applied on the loop's sink, or in flight on the apply workers. */
struct flush {
    batch_t *b; /* the batch (its arena holds the plans) */
    plan_t *pl; /* one per worker */
    apply_job_t *jobs;
    size_t nw;
    bool busy; /* handed to the workers and not settled yet */
    /* for the debug line at settle: the batch's age when it flew, and the flush's wait for the
     * batch before plus its own planning */
    int64_t begun_ms, age_ms, waited_ms;
};

/*
 * True when t's partitions may go to different workers: its only unique
 * index is the primary key, which is what the producer partitions by. Any
 * other unique key could tie two partitions' rows (a value freed in one and
 * taken in another); a key-less table is matched on whole rows.
 */
static bool splittable(const ctable_t *t)
{
    if (t->keyless || !t->dest_def)
        return false;
    const ferry_indexdef_t *key = ferry_tabledef_row_key(t->dest_def);
    return key && key->kind == FERRY_INDEX_PRIMARY && !ferry_tabledef_other_unique_key(t->dest_def);
}

/* The worker of each partition (its events and its offset go there). */
static size_t *homes(consumer_t *c, size_t nworkers)
{
    size_t *home = ferry_arena_calloc(c->batch.arena, c->nparts + 1, sizeof(size_t));
    if (!home || nworkers < 2)
        return home;
    for (size_t i = 0; i < c->nparts; i++) {
        bool snap = false;
        const ctable_t *t = tables_by_topic(c, c->parts[i].topic, &snap);
        size_t h = i;
        if (t && !snap && !splittable(t)) {
            h = 5381; /* one worker for all of the table's partitions */
            for (const unsigned char *q = (const unsigned char *)t->change_topic; *q; q++)
                h = h * 33 + *q;
        }
        home[i] = h % nworkers;
    }
    return home;
}

/* FNV-1a of a message key. */
static uint64_t key_hash(const ferry_kafka_msg_t *m)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < m->key_len; i++)
        h = (h ^ ((const unsigned char *)m->key)[i]) * 1099511628211ULL;
    return h;
}

typedef struct {
    size_t entry;
    uint32_t segment, level, kind, seq;
} okey_t;

static int okey_cmp(const void *a, const void *b)
{
    const okey_t *x = a, *y = b;
    if (x->segment != y->segment)
        return x->segment < y->segment ? -1 : 1;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Reorders the events idx[0..n) of one splittable table so that the sink
 * can group them: the k-th event of each key (its level) comes after every
 * (k-1)-th one, and within a level deletes, then creates, then updates.
 * Events of different keys touch different rows of such a table (its only
 * unique key is the key), so they commute; each key's events keep their
 * order. Segments (runs of one mode and writer schema) are not mixed.
 * Leaves idx as it is when memory runs out or a key is missing.
 */
static void group_kinds(batch_t *b, size_t *idx, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    okey_t *o = ferry_arena_calloc(b->arena, n + 1, sizeof(*o));
    uint64_t *slot_h = ferry_arena_calloc(b->arena, cap, sizeof(*slot_h));
    uint32_t *slot_n = ferry_arena_calloc(b->arena, cap, sizeof(*slot_n));
    const ferry_kafka_msg_t **slot_m = ferry_arena_calloc(b->arena, cap, sizeof(*slot_m));
    if (!o || !slot_h || !slot_n || !slot_m)
        return;
    uint32_t segment = 0;
    for (size_t i = 0; i < n; i++) {
        const entry_t *e = &b->e[idx[i]];
        if (!e->msg->key || !e->msg->key_len)
            return;
        if (i && (e->safe != b->e[idx[i - 1]].safe || e->sink_id != b->e[idx[i - 1]].sink_id))
            segment++;
        uint64_t h = key_hash(e->msg);
        size_t k = h & (cap - 1);
        while (slot_m[k] && !(slot_h[k] == h && slot_m[k]->key_len == e->msg->key_len &&
                              !memcmp(slot_m[k]->key, e->msg->key, e->msg->key_len)))
            k = (k + 1) & (cap - 1);
        if (!slot_m[k]) {
            slot_m[k] = e->msg;
            slot_h[k] = h;
        }
        char op = e->ev.op;
        o[i] = (okey_t){.entry = idx[i],
                        .segment = segment,
                        .level = slot_n[k]++,
                        .kind = op == 'd'   ? 0
                                : op == 'c' ? 1
                                : op == 'u' ? 2
                                            : 3,
                        .seq = (uint32_t)i};
    }
    qsort(o, n, sizeof(*o), okey_cmp);
    for (size_t i = 0; i < n; i++)
        idx[i] = o[i].entry;
}

/*
 * Orders worker w's events by table, keeping their order within each table
 * (or each key's order, for a splittable table: group_kinds), and cuts them
 * into runs of one table, mode and writer schema.
 */
static void plan_runs(consumer_t *c, plan_t *pl, const size_t *home, size_t w)
{
    batch_t *b = &c->batch;
    size_t k = 0;
    bool *done = ferry_arena_calloc(b->arena, b->n + 1, sizeof(bool));
    for (size_t i = 0; i < b->n; i++)
        done[i] = home[b->e[i].part] != w;
    for (size_t i = 0; i < b->n; i++) {
        if (done[i])
            continue;
        size_t first = k;
        for (size_t j = i; j < b->n; j++) {
            if (done[j] || b->e[j].t != b->e[i].t)
                continue;
            done[j] = true;
            pl->order[k++] = j;
        }
        if (k - first > 1 && splittable(b->e[i].t))
            group_kinds(b, &pl->order[first], k - first);
    }
    pl->n_events = k;
    for (k = 0; k < pl->n_events; k++) {
        const entry_t *e = &b->e[pl->order[k]];
        const entry_t *prev = k ? &b->e[pl->order[k - 1]] : NULL;
        pl->events[k] = e->ev;
        if (!prev || prev->t != e->t || prev->safe != e->safe || prev->sink_id != e->sink_id) {
            pl->run_start[pl->n_runs] = k;
            pl->runs[pl->n_runs].table = e->sink_id;
            pl->runs[pl->n_runs].safe = e->safe;
            pl->runs[pl->n_runs].events = &pl->events[k];
            pl->runs[pl->n_runs].compact = splittable(e->t);
            pl->n_runs++;
        }
        pl->runs[pl->n_runs - 1].n_events++;
    }
}

/* Worker w's plan; the pseudo topics (chunks, marks, DDL floor) go with worker 0's. */
static int plan_build(consumer_t *c, plan_t *pl, const size_t *home, size_t w)
{
    batch_t *b = &c->batch;
    size_t n = b->n + 1, no = c->nparts + b->n_chunks + b->n_marks + 2;
    pl->order = ferry_arena_calloc(b->arena, n, sizeof(size_t));
    pl->events = ferry_arena_calloc(b->arena, n, sizeof(ferry_change_t));
    pl->runs = ferry_arena_calloc(b->arena, n, sizeof(ferry_mysql_sink_run_t));
    pl->run_start = ferry_arena_calloc(b->arena, n, sizeof(size_t));
    pl->offs = ferry_arena_calloc(b->arena, no, sizeof(ferry_mysql_sink_offset_t));
    pl->off_part = ferry_arena_calloc(b->arena, no, sizeof(size_t));
    pl->fences = ferry_arena_calloc(b->arena, c->nparts + 1, sizeof(ferry_mysql_sink_offset_t));
    const ctable_t **fenced = ferry_arena_calloc(b->arena, c->nparts + 1, sizeof(*fenced));
    if (!pl->order || !pl->events || !pl->runs || !pl->run_start || !pl->offs || !pl->off_part ||
        !pl->fences || !fenced)
        return FERRY_ERR_NOMEM;
    plan_runs(c, pl, home, w);
    for (size_t i = 0; i < c->nparts; i++) {
        const part_t *p = &c->parts[i];
        int64_t next = batch_storable(c, i);
        if (home[i] != w || next < 0 || next == p->committed)
            continue;
        pl->off_part[pl->n_parts++] = i;
        bool snap;
        const ctable_t *t = tables_by_topic(c, p->topic, &snap);
        if (t && (!t->owned || !t->owner_topic[0]))
            t = NULL; /* not taken through owner.c: nothing to fence */
        size_t f = 0;
        while (t && f < pl->n_fences && fenced[f] != t)
            f++;
        if (t && f == pl->n_fences) {
            fenced[pl->n_fences] = t;
            owner_fence(t, &pl->fences[pl->n_fences]);
            /* the batch may fly past a later claim, which rewrites the name */
            if (!(pl->fences[pl->n_fences++].topic = ferry_arena_strdup(b->arena, t->owner_topic)))
                return FERRY_ERR_NOMEM;
        }
        ferry_mysql_sink_offset_t *o = &pl->offs[pl->n_offs++];
        *o = (ferry_mysql_sink_offset_t){
            .topic = p->topic, .partition = p->partition, .next_offset = next};
        /* the dedup position goes with the offset it belongs to; copied, as the
           partition moves on while the batch is in flight */
        const char *file = p->has_last ? ferry_arena_strdup(b->arena, p->last_pos.file) : NULL;
        if (p->has_last && !file)
            return FERRY_ERR_NOMEM;
        if (file)
            o->last = (ferry_mysql_sink_source_pos_t){file, p->last_pos.offset, p->last_row,
                                                      p->last_rank};
    }
    if (w != 0)
        return 0;
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

static const entry_t *failed_entry(const batch_t *b, const plan_t *pl,
                                   const ferry_mysql_sink_failure_t *f)
{
    return &b->e[pl->order[pl->run_start[f->run] + f->event]];
}

/*
 * The events a job left out, sent to the dead-letter topic before the job's
 * COMMIT stores the offsets past them (the sink's on_failed): a consumer
 * killed in between sends them again, none is lost.
 */
typedef struct {
    consumer_t *c;
    const flush_t *f;
    size_t w;
} dead_ctx_t;

static void locate_entry(void *arg, const ferry_mysql_sink_failure_t *f, const ctable_t **t,
                         ferry_kafka_msg_t *m)
{
    const dead_ctx_t *d = arg;
    const entry_t *e = failed_entry(d->f->b, &d->f->pl[d->w], f);
    *t = e->t;
    *m = *e->msg;
}

static int send_dead_letters(void *arg, const ferry_mysql_sink_failure_t *failed, size_t n,
                             char *err, size_t err_size)
{
    const dead_ctx_t *d = arg;
    return batch_dead_letters_send(d->c, failed, n, locate_entry, arg, err, err_size);
}

/* Counts the events a committed job left out (sent before its commit); marks them in bad. */
static void dead_letters(consumer_t *c, const batch_t *b, const plan_t *pl, const apply_job_t *j,
                         bool *bad)
{
    for (size_t i = 0; i < j->res.n_failed; i++) {
        const entry_t *e = failed_entry(b, pl, &j->res.failed[i]);
        if (bad)
            bad[e - b->e] = true;
        batch_dead_letter_count(c, e->t, j->res.failed[i].message);
    }
}

/* Publishes what a committed batch did, per table. */
static void account(consumer_t *c, const flush_t *f)
{
    const batch_t *b = f->b;
    bool *bad = ferry_arena_calloc(b->arena, b->n + 1, sizeof(bool));
    for (size_t w = 0; w < f->nw; w++)
        if (f->jobs[w].run)
            dead_letters(c, b, &f->pl[w], &f->jobs[w], bad);
    int64_t now = ferry_wall_ms();
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < b->n; i++) {
        entry_t *e = &b->e[i];
        if (bad && bad[i])
            continue;
        bool row = e->ev.op == 'r';
        *(row ? &e->t->rows_applied : &e->t->events_applied) += 1;
        ferry_counter_add(row ? e->t->m_rows : e->t->m_events, 1);
        size_t bytes = e->msg ? e->msg->key_len + e->msg->value_len : 0;
        e->t->bytes_applied += bytes;
        ferry_counter_add(e->t->m_bytes, bytes);
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

/* Forgets the batch's events and content. */
static void reset(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        ferry_kafka_msg_destroy(b->e[i].msg);
    b->n = b->n_chunks = b->n_marks = 0;
    b->first_ms = 0;
    ferry_arena_reset(b->arena);
}

/*
 * After the destination commit: chunks, the partitions' stored offsets as
 * the plans captured them (later messages may have moved them on since),
 * the group's offsets, memory.
 */
static void settle(consumer_t *c, const flush_t *f)
{
    batch_t *b = f->b;
    for (size_t i = 0; i < b->n_chunks; i++)
        if (parts_chunk_mark(c, b->chunks[i]) != 0)
            cons_fail(c, "could not record an applied chunk: out of memory");
    for (size_t i = 0; b->n_chunks && i < c->ntables; i++)
        if (c->tables[i]->phase == PHASE_FULL)
            snapshot_recount(c, c->tables[i]);
    for (size_t w = 0; w < f->nw; w++) {
        const plan_t *pl = &f->pl[w];
        for (size_t k = 0; k < pl->n_parts; k++) {
            part_t *p = &c->parts[pl->off_part[k]];
            p->committed = pl->offs[k].next_offset;
            p->group_dirty = true;
        }
    }
    reset(b);
    batch_group_commit(c, false);
}

/*
 * Commits the offsets the destination stored to the Kafka group, for lag
 * tools only (a consumer starts from the destination's offsets): at most
 * every GROUP_COMMIT_MS unless force, as the commit waits for the broker
 * on the loop thread (one round trip per batch cost apply throughput).
 */
void batch_group_commit(consumer_t *c, bool force)
{
    int64_t now = ferry_wall_ms();
    if (!c->data || (!force && now - c->group_commit_ms < GROUP_COMMIT_MS))
        return;
    ferry_kafka_tp_t *tps = calloc(c->nparts + 1, sizeof(*tps));
    size_t ntp = 0;
    for (size_t i = 0; tps && i < c->nparts; i++) {
        part_t *p = &c->parts[i];
        /* one not assigned (yet) keeps its flag: the group learns it once it is */
        if (p->group_dirty && p->assigned && p->committed >= 0) {
            tps[ntp++] = (ferry_kafka_tp_t){p->topic, p->partition, p->committed};
            p->group_dirty = false;
        }
    }
    c->group_commit_ms = now;
    char err[512];
    if (ntp && ferry_kafka_consumer_commit(c->data, tps, ntp, err, sizeof(err)) != 0)
        ferry_log_warn("could not commit offsets to the group", "group=%s error=\"%s\"", c->group,
                       err);
    free(tps);
}

/*
 * Applies a single job on the loop's own sink (apply.threads = 1). That
 * connection holds the table locks: once it is lost the loop ends and the
 * consumer starts over from ferry_offsets (main.c), which also settles a
 * batch whose COMMIT went unanswered.
 */
static void apply_here(consumer_t *c, apply_job_t *j)
{
    j->rc = FERRY_ERR_RETRIABLE;
    for (int attempt = 0; attempt < 3 && j->rc == FERRY_ERR_RETRIABLE; attempt++) {
        if (attempt)
            ferry_service_sleep(c->svc, 500);
        j->rc = ferry_mysql_sink_apply(c->sink, &j->batch, &j->res, j->err, sizeof(j->err));
        if (j->rc == FERRY_ERR_RETRIABLE && j->res.commit_unknown) {
            char why[sizeof(j->err)];
            snprintf(why, sizeof(why), "%s", j->err);
            j->rc = ferry_err_set(j->err, sizeof(j->err), FERRY_ERR_FATAL,
                                  "the destination connection holding the tables was lost during "
                                  "a COMMIT (%s); the consumer learns from ferry_offsets whether "
                                  "it landed once it starts over",
                                  why);
            break;
        }
        if (j->rc == FERRY_ERR_RETRIABLE)
            ferry_log_warn("batch rolled back, retrying", "events=%zu error=\"%s\"", j->n_events,
                           j->err);
    }
}

/*
 * The jobs' verdict: 0 when all committed. On a failure the jobs that did
 * commit still send their rejected events to the dead-letter topic (their
 * offsets are stored), and the link stops.
 */
static int verdict(consumer_t *c, const flush_t *f)
{
    int rc = 0;
    for (size_t w = 0; w < f->nw && rc == 0; w++)
        rc = f->jobs[w].run ? f->jobs[w].rc : 0;
    if (rc == 0)
        return 0;
    for (size_t w = 0; w < f->nw; w++) {
        const apply_job_t *j = &f->jobs[w];
        if (!j->run)
            continue;
        if (j->rc == 0) {
            dead_letters(c, f->b, &f->pl[w], j, NULL);
        } else if (j->rc == FERRY_ERR_INVALID && c->stop_on_error && j->res.n_failed) {
            const entry_t *e = failed_entry(f->b, &f->pl[w], &j->res.failed[0]);
            cons_fail(c, "%s (topic \"%s\" [%d] offset %lld; apply.on.error = stop)",
                      j->res.failed[0].message, e->msg->topic, (int)e->msg->partition,
                      (long long)e->msg->offset);
        } else {
            cons_fail(c, "could not apply a batch of %zu events: %s", j->n_events, j->err);
        }
    }
    return rc;
}

/* Waits for the batch in flight, if any, and settles it. 0, or the error that stopped the link. */
static int finish(consumer_t *c)
{
    flush_t *f = c->flight;
    if (!f || !f->busy)
        return 0;
    apply_wait(c->apply);
    f->busy = false;
    /* jobs that rolled back (a deadlock between workers is the likely cause) go again alone */
    for (size_t w = 0; w < f->nw; w++) {
        if (f->jobs[w].run && f->jobs[w].rc == FERRY_ERR_RETRIABLE) {
            f->jobs[w].tries = 0;
            apply_one(c->apply, w, &f->jobs[w]);
        }
    }
    int rc = verdict(c, f);
    if (rc != 0) {
        reset(f->b);
        return rc;
    }
    size_t events = 0;
    int64_t done = f->begun_ms;
    for (size_t w = 0; w < f->nw; w++)
        if (f->jobs[w].run) {
            events += f->jobs[w].n_events;
            done = f->jobs[w].done_ms > done ? f->jobs[w].done_ms : done;
        }
    ferry_log_debug("batch applied",
                    "events=%zu age_ms=%lld waited_ms=%lld apply_ms=%lld settled_ms=%lld", events,
                    (long long)f->age_ms, (long long)f->waited_ms, (long long)(done - f->begun_ms),
                    (long long)(ferry_wall_ms() - f->begun_ms));
    account(c, f);
    settle(c, f);
    return 0;
}

/* The batch in flight (apply.threads > 1); allocated on first use with a batch of its own. */
static flush_t *flight(consumer_t *c)
{
    if (c->flight)
        return c->flight;
    flush_t *f = calloc(1, sizeof(*f));
    batch_t *spare = calloc(1, sizeof(*spare));
    if (f && spare && (spare->arena = ferry_arena_new(0))) {
        f->b = spare;
        return c->flight = f;
    }
    free(spare);
    free(f);
    return NULL;
}

/*
 * Plans the batch (one job per worker) and applies it: on the loop's sink,
 * or handed to the workers. wait: return only once it committed; else the
 * batch flies while the loop fills the next one (the next flush settles it
 * first).
 */
static int flush(consumer_t *c, bool wait)
{
    if (c->fatal)
        return FERRY_ERR_FATAL;
    int64_t t0 = ferry_wall_ms();
    int rc = finish(c);
    if (rc != 0)
        return rc;
    batch_t *b = &c->batch;
    size_t nw = apply_workers(c->apply);
    flush_t *f = c->apply ? flight(c) : &(flush_t){0};
    const size_t *home = homes(c, nw);
    plan_t *pl = ferry_arena_calloc(b->arena, nw, sizeof(*pl));
    apply_job_t *jobs = ferry_arena_calloc(b->arena, nw, sizeof(*jobs));
    dead_ctx_t *dead = ferry_arena_calloc(b->arena, nw, sizeof(*dead));
    rc = f && home && pl && jobs && dead ? 0 : FERRY_ERR_NOMEM;
    size_t any = 0;
    for (size_t w = 0; w < nw && rc == 0; w++) {
        rc = plan_build(c, &pl[w], home, w);
        dead[w] = (dead_ctx_t){c, f, w};
        jobs[w] = (apply_job_t){
            .run = pl[w].n_events || pl[w].n_offs,
            .batch = {pl[w].runs, pl[w].n_runs, pl[w].offs, pl[w].n_offs, send_dead_letters,
                      &dead[w], pl[w].fences, pl[w].n_fences},
            .n_events = pl[w].n_events,
            .tries = nw > 1 ? 1 : 0, /* side by side once; then alone (finish) */
        };
        any += jobs[w].run;
    }
    if (rc != 0) {
        cons_fail(c, "could not build a batch: out of memory");
        return FERRY_ERR_NOMEM;
    }
    if (!any) {
        b->first_ms = 0;
        ferry_arena_reset(b->arena);
        return 0;
    }
    f->pl = pl;
    f->jobs = jobs;
    f->nw = nw;
    c->ddl_floor_dirty = false; /* in the plan now */
    if (!c->apply) {
        f->b = b;
        apply_here(c, &jobs[0]);
        if ((rc = verdict(c, f)) != 0)
            return rc;
        account(c, f);
        settle(c, f);
        return 0;
    }
    /* the table locks live on the loop's connection: no batch without them */
    if (mysql_ping(c->my) != 0) {
        cons_fail(c, "lost the destination connection that holds the consumer's tables: %s",
                  mysql_error(c->my));
        return FERRY_ERR_FATAL;
    }
    f->begun_ms = ferry_wall_ms();
    f->age_ms = b->first_ms ? f->begun_ms - b->first_ms : 0;
    f->waited_ms = f->begun_ms - t0;
    batch_t filled = *b; /* the batch flies; the settled spare is filled next */
    *b = *f->b;
    *f->b = filled;
    f->busy = true;
    apply_begin(c->apply, jobs);
    return wait ? finish(c) : 0;
}

/* Applies the batch (see the file comment); returns once it committed. 0, or the error that stopped
 * the link. */
int batch_flush(consumer_t *c)
{
    return flush(c, true);
}

/*
 * Like batch_flush, but with apply workers returns as soon as they have the
 * batch (after settling the one before): the loop reads and decodes the
 * next batch while the destination applies this one.
 */
int batch_flush_async(consumer_t *c)
{
    return flush(c, false);
}

/*
 * Settles the batch in flight once the workers are done with it, and
 * passes stored offsets on to the Kafka group when due (every turn of the
 * loop).
 */
void batch_reap(consumer_t *c)
{
    if (c->flight && c->flight->busy && apply_idle(c->apply))
        finish(c);
    batch_group_commit(c, false);
}

/*
 * Forgets what the batch holds (at shutdown, or after a fatal error: nothing
 * more is applied); the group still learns the offsets already stored.
 */
void batch_drop(consumer_t *c)
{
    batch_group_commit(c, true);
    if (c->flight && c->flight->busy) {
        apply_wait(c->apply);
        c->flight->busy = false;
        reset(c->flight->b);
    }
    batch_t *b = &c->batch;
    for (size_t i = 0; i < b->n; i++)
        ferry_kafka_msg_destroy(b->e[i].msg);
    b->n = b->n_chunks = b->n_marks = 0;
    b->first_ms = 0;
}

static void free_batch(batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        ferry_kafka_msg_destroy(b->e[i].msg);
    free(b->e);
    free(b->chunks);
    free(b->marks);
    ferry_arena_destroy(b->arena);
    memset(b, 0, sizeof(*b));
}

void batch_free(consumer_t *c)
{
    free_batch(&c->batch);
    if (c->flight) {
        free_batch(c->flight->b);
        free(c->flight->b);
        free(c->flight);
        c->flight = NULL;
    }
}

static void put_header(ferry_kafka_header_t *h, const char *name, const char *value)
{
    h->name = name;
    h->value = value;
    h->value_len = strlen(value);
}

/* Queues m as it came, with the reason in its headers, for the link's dead-letter topic. */
static int dead_letter_queue(consumer_t *c, const ctable_t *t, const ferry_kafka_msg_t *m,
                             const ferry_mysql_sink_failure_t *f, char *err, size_t err_size)
{
    char no[16], part[16], off[32];
    snprintf(no, sizeof(no), "%u", f->err_no);
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    ferry_kafka_header_t h[7];
    put_header(&h[0], "ferry.error.errno", no);
    put_header(&h[1], "ferry.error.sqlstate", f->sqlstate);
    put_header(&h[2], "ferry.error.message", f->message);
    put_header(&h[3], "ferry.topic", m->topic);
    put_header(&h[4], "ferry.partition", part);
    put_header(&h[5], "ferry.offset", off);
    put_header(&h[6], "ferry.table", t->dst_full);
    ferry_kafka_record_t rec = {
        c->dlq_topic, FERRY_KAFKA_PARTITION_ANY, m->key, m->key_len, m->value, m->value_len, h, 7};
    ferry_log_warn("event sent to the dead-letter topic",
                   "table=%s topic=%s partition=%d offset=%lld error=\"%s\"", t->dst_full, m->topic,
                   (int)m->partition, (long long)m->offset, f->message);
    return ferry_kafka_produce(c->dlq, &rec, err, err_size);
}

int batch_dead_letters_send(consumer_t *c, const ferry_mysql_sink_failure_t *failed, size_t n,
                            batch_dead_locate_fn locate, void *arg, char *err, size_t err_size)
{
    int rc = 0;
    pthread_mutex_lock(&c->dlq_lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ctable_t *t;
        ferry_kafka_msg_t m;
        locate(arg, &failed[i], &t, &m);
        rc = dead_letter_queue(c, t, &m, &failed[i], err, err_size);
    }
    char why[512];
    if (rc == 0 && (rc = ferry_kafka_producer_flush(c->dlq, 10000, why, sizeof(why))) != 0)
        ferry_err_set(err, err_size, rc, "could not write to the dead-letter topic \"%s\": %s",
                      c->dlq_topic, why);
    pthread_mutex_unlock(&c->dlq_lock);
    return rc;
}

/* Counts an event that went to the dead-letter topic. */
void batch_dead_letter_count(consumer_t *c, ctable_t *t, const char *message)
{
    pthread_mutex_lock(&c->lock);
    t->dlq++;
    c->dlq_total++;
    free(t->last_error);
    t->last_error = strdup(message);
    pthread_mutex_unlock(&c->lock);
    ferry_counter_add(t->m_dlq, 1);
    ferry_counter_add(c->m_dlq_total, 1);
}

typedef struct {
    const ctable_t *t;
    const ferry_kafka_msg_t *m;
} one_t;

static void locate_one(void *arg, const ferry_mysql_sink_failure_t *f, const ctable_t **t,
                       ferry_kafka_msg_t *m)
{
    (void)f;
    const one_t *one = arg;
    *t = one->t;
    *m = *one->m;
}

/*
 * Sends m (an event that cannot be decoded, so never reaches a batch) to the
 * dead-letter topic at once: its offset is stored later, with the batch
 * that follows it.
 */
void batch_dead_letter(consumer_t *c, ctable_t *t, const ferry_kafka_msg_t *m, unsigned err_no,
                       const char *sqlstate, const char *message)
{
    ferry_mysql_sink_failure_t f = {.err_no = err_no};
    snprintf(f.sqlstate, sizeof(f.sqlstate), "%s", sqlstate);
    snprintf(f.message, sizeof(f.message), "%s", message);
    one_t one = {t, m};
    char err[1024];
    if (batch_dead_letters_send(c, &f, 1, locate_one, &one, err, sizeof(err)) != 0)
        ferry_log_error("could not write to the dead-letter topic", "topic=%s error=\"%s\"",
                        c->dlq_topic, err);
    batch_dead_letter_count(c, t, message);
}
