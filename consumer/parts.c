/*
 * parts.c - the topic partitions ferry-consumer reads: where each stands
 * (next offset to process, next offset stored in the destination, the
 * dedup position), holds, and the set of applied chunks. Partitions are
 * assigned by owner.c.
 *
 * A hold stops a partition at an offset without pausing the client (kafka.h
 * has no pause): messages from the hold on are dropped as they arrive, and
 * releasing the hold seeks back to it. Change partitions of a table still in
 * "full" are held (they are applied from their start once the snapshot is
 * in), and a snapshot partition is held where snapshot.c can keep no more
 * rows in memory (until it can) or where a chunk's rows must be read again
 * (until its done-marker decides the chunk, rule 5 of fullload.h).
 *
 * Applied chunks are recorded in ferry_offsets in the same transaction as
 * their last row, as pseudo topics "chunk:<task id>" (partition 0, offset =
 * rows), so a restarted consumer knows them without a table of its own.
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

static uint64_t part_hash(const char *topic, int32_t partition)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *s = (const unsigned char *)topic; *s; s++)
        h = (h ^ *s) * 1099511628211ULL;
    return (h ^ (uint32_t)partition) * 0x9E3779B97F4A7C15ULL;
}

/* The slot of (topic, partition) in the index: its entry, or the empty slot for it. */
static size_t *index_slot(const consumer_t *c, const char *topic, int32_t partition)
{
    size_t mask = c->part_index_cap - 1;
    for (size_t i = part_hash(topic, partition) & mask;; i = (i + 1) & mask) {
        size_t *slot = &c->part_index[i];
        if (*slot == 0)
            return slot;
        const part_t *p = &c->parts[*slot - 1];
        if (p->partition == partition && !strcmp(p->topic, topic))
            return slot;
    }
}

/* Rebuilds the index (entries are part index + 1, 0 = empty) at twice the parts' capacity. */
static bool index_rebuild(consumer_t *c)
{
    size_t cap = 16;
    while (cap < c->parts_cap * 2)
        cap *= 2;
    size_t *idx = calloc(cap, sizeof(*idx));
    if (!idx)
        return false;
    free(c->part_index);
    c->part_index = idx;
    c->part_index_cap = cap;
    for (size_t i = 0; i < c->nparts; i++)
        *index_slot(c, c->parts[i].topic, c->parts[i].partition) = i + 1;
    return true;
}

/* The state of a topic partition, created on first use (looked up for every message). */
part_t *parts_get(consumer_t *c, const char *topic, int32_t partition)
{
    size_t *slot = c->part_index_cap ? index_slot(c, topic, partition) : NULL;
    if (slot && *slot)
        return &c->parts[*slot - 1];
    if (c->nparts == c->parts_cap) {
        size_t cap = c->parts_cap ? c->parts_cap * 2 : 64;
        part_t *n = realloc(c->parts, cap * sizeof(*n));
        if (!n)
            return NULL;
        c->parts = n;
        c->parts_cap = cap;
    }
    part_t *p = &c->parts[c->nparts];
    memset(p, 0, sizeof(*p));
    p->topic = strdup(topic);
    if (!p->topic)
        return NULL;
    p->partition = partition;
    p->next = p->committed = p->hold = -1;
    c->nparts++;
    if (c->part_index_cap < c->parts_cap * 2) {
        if (!index_rebuild(c)) {
            free(p->topic);
            c->nparts--;
            return NULL;
        }
    } else {
        *index_slot(c, topic, partition) = c->nparts;
    }
    return p;
}

/* Pauses or resumes fetching p (a held partition need not be fetched). */
static void fetching(consumer_t *c, part_t *p, bool on)
{
    char err[512];
    if (p->assigned && c->data &&
        ferry_kafka_consumer_pause(c->data, p->topic, p->partition, !on, err, sizeof(err)) != 0)
        ferry_log_warn("could not pause or resume a partition", "error=\"%s\"", err);
}

void parts_hold(consumer_t *c, part_t *p, int64_t offset, const char *chunk)
{
    (void)c;
    if (p->hold >= 0)
        return;
    p->hold = offset;
    p->hold_chunk = chunk ? strdup(chunk) : NULL;
}

/*
 * Holds a snapshot partition for memory (snapshot.c) and stops fetching it:
 * it may stay held a while, and its rows would only be fetched and dropped.
 */
void parts_hold_mem(consumer_t *c, part_t *p, int64_t offset)
{
    if (p->hold >= 0)
        return;
    parts_hold(c, p, offset, NULL);
    p->hold_mem = true;
    fetching(c, p, false);
}

/* Holds a change partition at a change (at pos) that a pending DDL statement precedes. */
void parts_hold_ddl(consumer_t *c, part_t *p, int64_t offset, const ferry_binlog_pos_t *pos)
{
    if (p->hold >= 0)
        return;
    parts_hold(c, p, offset, NULL);
    p->hold_ddl = true;
    p->hold_pos = *pos;
}

static void unhold(part_t *p)
{
    p->hold = -1;
    p->hold_ddl = false;
    p->hold_mem = false;
    free(p->hold_chunk);
    p->hold_chunk = NULL;
}

/* True when the reason for p's hold is gone. */
static bool hold_over(consumer_t *c, const part_t *p)
{
    bool snap;
    ctable_t *t = tables_by_topic(c, p->topic, &snap);
    if (!t || t->failed)
        return false;
    if (!snap)
        return (t->phase >= PHASE_CATCHUP || t->created) &&
               !(p->hold_ddl && ddl_blocks(c, t, &p->hold_pos));
    return !p->hold_chunk || parts_chunk_applied(c, p->hold_chunk) ||
           ferry_fullload_donelog_get(c->donelog, p->hold_chunk) != NULL;
}

/* Releases the holds whose reason is gone, seeking each partition back. */
void parts_release(consumer_t *c)
{
    /* snapshot partitions held for memory: as many as may start an attempt, in order */
    int slots = snapshot_open_slots(c);
    for (size_t i = 0; i < c->nparts; i++) {
        part_t *p = &c->parts[i];
        if (p->hold < 0 || (p->hold_mem ? slots-- <= 0 : !hold_over(c, p)))
            continue;
        if (p->hold_mem)
            fetching(c, p, true); /* before the seek, which then sets where fetching goes on */
        char err[512];
        int rc = p->assigned ? ferry_kafka_consumer_seek(c->data, p->topic, p->partition, p->hold,
                                                         5000, err, sizeof(err))
                             : 0;
        if (rc != 0) {
            /*
             * A seek is served by the partition's broker thread, normally
             * within a fraction of a millisecond; librdkafka before 2.1
             * waits far less than the timeout it is given (it took the
             * milliseconds as microseconds), so a busy broker thread shows
             * as a time-out. The hold stays and the seek is tried again on
             * the next turn of the loop.
             */
            if (rc == FERRY_ERR_RETRIABLE || rc == FERRY_ERR_TIMEOUT)
                ferry_log_debug("seek not confirmed yet, keeping the hold",
                                "topic=%s partition=%d offset=%lld error=\"%s\"", p->topic,
                                (int)p->partition, (long long)p->hold, err);
            else
                ferry_log_warn("could not seek, keeping the hold",
                               "topic=%s partition=%d offset=%lld error=\"%s\"", p->topic,
                               (int)p->partition, (long long)p->hold, err);
            continue;
        }
        ferry_log_debug("partition released", "topic=%s partition=%d offset=%lld", p->topic,
                        (int)p->partition, (long long)p->hold);
        p->next = p->hold;
        if (p->hold_mem)
            p->released_ms = ferry_wall_ms(); /* its slot is taken until a message comes */
        unhold(p);
        c->last_release_ms = ferry_wall_ms();
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

bool parts_chunk_applied(const consumer_t *c, const char *chunk)
{
    return c->n_applied &&
           bsearch(&chunk, c->applied_chunks, c->n_applied, sizeof(char *), cmp_str) != NULL;
}

int parts_chunk_mark(consumer_t *c, const char *chunk)
{
    if (parts_chunk_applied(c, chunk))
        return 0;
    if (c->n_applied == c->applied_cap) {
        size_t cap = c->applied_cap ? c->applied_cap * 2 : 256;
        char **n = realloc(c->applied_chunks, cap * sizeof(*n));
        if (!n)
            return FERRY_ERR_NOMEM;
        c->applied_chunks = n;
        c->applied_cap = cap;
    }
    char *copy = strdup(chunk);
    if (!copy)
        return FERRY_ERR_NOMEM;
    size_t at = c->n_applied;
    while (at > 0 && strcmp(c->applied_chunks[at - 1], copy) > 0)
        at--;
    memmove(&c->applied_chunks[at + 1], &c->applied_chunks[at],
            (c->n_applied - at) * sizeof(char *));
    c->applied_chunks[at] = copy;
    c->n_applied++;
    return 0;
}

/*
 * Sets p where the destination says it stands (offset and dedup position),
 * and has the Kafka group learn it once p is assigned: a consumer killed
 * within a second of a flush left the group behind the destination, and
 * without anything new to apply in p the group would stay there, showing
 * lag tools and the full-load planner's pacing rows long applied.
 */
static void stand(part_t *p, const ferry_mysql_sink_offset_t *o)
{
    p->next = p->committed = o->next_offset;
    p->group_dirty = true;
    char err[256];
    p->has_last = o->last.file && ferry_binlog_pos_init(&p->last_pos, o->last.file, o->last.pos,
                                                        err, sizeof(err)) == 0;
    p->last_row = o->last.row;
    p->last_rank = o->last.rank;
}

static int load_one(void *arg, const ferry_mysql_sink_offset_t *o)
{
    consumer_t *c = arg;
    size_t plen = strlen(CHUNK_MARK_PREFIX);
    if (!strncmp(o->topic, CHUNK_MARK_PREFIX, plen))
        return parts_chunk_mark(c, o->topic + plen);
    if (!strncmp(o->topic, DDL_DONE_PREFIX, strlen(DDL_DONE_PREFIX)))
        return ddl_note_mark(c, o);
    if (!strncmp(o->topic, OWNER_PREFIX, strlen(OWNER_PREFIX)))
        return 0; /* an ownership epoch: read when the table is taken */
    if (c->reloading) {
        bool snap;
        const ctable_t *t = tables_by_topic(c, o->topic, &snap);
        if (!t || !t->taking)
            return 0; /* only the tables being taken start again from the destination */
    } else if (!strcmp(o->topic, DDL_FLOOR_TOPIC)) {
        c->ddl_floor = o->next_offset;
        return 0;
    } else if (!strcmp(o->topic, c->ddl_topic)) {
        c->ddl_stored = o->next_offset;
    }
    part_t *p = parts_get(c, o->topic, o->partition);
    if (!p)
        return FERRY_ERR_NOMEM;
    stand(p, o);
    return 0;
}

/*
 * Reads again, for the tables being taken from another consumer, where
 * their partitions stand, and every applied chunk and DDL statement.
 */
int parts_reload(consumer_t *c, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < c->nparts; i++) {
        part_t *p = &c->parts[i];
        bool snap;
        const ctable_t *t = tables_by_topic(c, p->topic, &snap);
        if (t && t->taking) { /* a partition the destination has no row for starts at 0 */
            p->next = p->committed = -1;
            p->has_last = false;
        }
    }
    c->reloading = true;
    int rc = ferry_mysql_sink_read_stored(c->sink, NULL, load_one, c, errstr, errstr_size);
    c->reloading = false;
    if (rc > 0 || rc == FERRY_ERR_NOMEM)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    return rc;
}

/* p's position (polled, or the next offset kept here) is at or past the end high. */
bool parts_read_past(const part_t *p, int64_t position, int64_t high)
{
    int64_t at = position > p->next ? position : p->next;
    return high <= 0 || at >= high;
}

/*
 * True when p (assigned, not held) has been polled up to the end the broker
 * reports for it now: nothing written to it before the call is left to
 * poll. Asks the broker (up to 5 s); an unanswered question is false.
 */

bool parts_read_to_end(consumer_t *c, part_t *p)
{
    int64_t position, high;
    char err[512];
    if (ferry_kafka_consumer_end(c->data, p->topic, p->partition, 5000, &position, &high, err,
                                 sizeof(err)) != 0) {
        ferry_log_warn("could not read the end of a partition",
                       "topic=%s partition=%d error=\"%s\"", p->topic, (int)p->partition, err);
        return false;
    }
    bool done = parts_read_past(p, position, high);
    if (!done)
        ferry_log_debug("partition not read to its end",
                        "topic=%s partition=%d position=%lld next=%lld high=%lld", p->topic,
                        (int)p->partition, (long long)position, (long long)p->next,
                        (long long)high);
    return done;
}

/*
 * parts_read_to_end for every assigned partition of topic, asked of the
 * broker in one request: one question per partition waited behind the
 * fetch in flight each time (64 partitions: seconds per table).
 */
bool parts_topic_read_to_end(consumer_t *c, const char *topic)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nparts; i++)
        n += c->parts[i].assigned && strcmp(c->parts[i].topic, topic) == 0;
    if (n == 0)
        return true;
    ferry_kafka_tp_t *tps = calloc(n, sizeof(*tps));
    size_t *at = calloc(n, sizeof(*at));
    int64_t *position = calloc(n, sizeof(*position)), *high = calloc(n, sizeof(*high));
    bool done = false;
    char err[512] = "out of memory";
    if (tps && at && position && high) {
        size_t k = 0;
        for (size_t i = 0; i < c->nparts; i++)
            if (c->parts[i].assigned && strcmp(c->parts[i].topic, topic) == 0) {
                tps[k] = (ferry_kafka_tp_t){topic, c->parts[i].partition, 0};
                at[k++] = i;
            }
        if (ferry_kafka_consumer_ends(c->data, tps, n, 5000, position, high, err, sizeof(err)) ==
            0) {
            done = true;
            for (size_t k2 = 0; done && k2 < n; k2++)
                done = parts_read_past(&c->parts[at[k2]], position[k2], high[k2]);
            err[0] = '\0';
        }
    }
    if (err[0])
        ferry_log_warn("could not read the ends of a topic's partitions", "topic=%s error=\"%s\"",
                       topic, err);
    free(tps);
    free(at);
    free(position);
    free(high);
    return done;
}

/*
 * A partition no longer read here. Chunks of it the loaders hold are loaded
 * first (the next owner must find them recorded), rows still in memory are
 * dropped, and a paused partition is resumed while it is still assigned.
 */
void parts_unassign(consumer_t *c, part_t *p)
{
    size_t at = (size_t)(p - c->parts);
    snapshot_settle_part(c, at);
    p = &c->parts[at];
    if (p->hold_mem)
        fetching(c, p, true);
    p->assigned = false;
    unhold(p);
}

/* A partition assigned again: it starts where the destination stands, holds gone. */
void parts_restart(consumer_t *c, part_t *p)
{
    p->assigned = true;
    unhold(p);
    snapshot_drop_part(c, (size_t)(p - c->parts));
    p->next = p->committed;
}

/*
 * Reads the offsets, the dedup position stored with each, and the applied
 * chunks the destination holds for the link.
 */
int parts_load(consumer_t *c, char *errstr, size_t errstr_size)
{
    c->ddl_stored = c->ddl_floor = -1;
    int rc = ferry_mysql_sink_read_stored(c->sink, NULL, load_one, c, errstr, errstr_size);
    if (rc == 0 && c->ddl_floor < 0) {
        /* an older consumer ran every statement before its stored ddl offset */
        c->ddl_floor = c->ddl_stored >= 0 ? c->ddl_stored : 0;
        c->ddl_floor_dirty = true;
    }
    if (rc > 0 || rc == FERRY_ERR_NOMEM)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    return rc;
}

void parts_destroy(consumer_t *c)
{
    for (size_t i = 0; i < c->nparts; i++) {
        free(c->parts[i].topic);
        free(c->parts[i].hold_chunk);
    }
    free(c->parts);
    free(c->part_index);
    c->parts = NULL;
    c->nparts = c->parts_cap = 0;
    c->part_index = NULL;
    c->part_index_cap = 0;
    for (size_t i = 0; i < c->n_applied; i++)
        free(c->applied_chunks[i]);
    free(c->applied_chunks);
    c->applied_chunks = NULL;
    c->n_applied = c->applied_cap = 0;
}
