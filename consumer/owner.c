/*
 * owner.c - several consumers of one link: which tables this one applies.
 *
 * The unit of work is a table: the consumer that owns it reads all of its
 * snapshot and change partitions (assigned by hand, not by the group's
 * assignor), decides its phases, runs its DDL statements and records its
 * chunks, so the chunk contract, the safe -> strict hand-over and the DDL
 * barrier stay decisions of one process, as with a single consumer.
 *
 * Ownership is a named lock on the destination (GET_LOCK on the sink's own
 * connection): the server gives each name to one session at a time and
 * frees it when that session ends, so a consumer killed with SIGKILL loses
 * its tables at once, and a consumer that lost its connection has lost its
 * locks and stops (batch.c gives up after the retries). Each consumer also
 * holds one member slot lock; counting the slots in use tells every member
 * how many there are, and each aims at its share, ceil(tables / members):
 * a member above its share lets go of tables (after applying its batch), a
 * member below takes free ones. A DDL statement naming several tables is
 * run by the owner of the first: the others are let go of and taken by it.
 *
 * Taking a table means starting from what the destination holds: its
 * partitions' offsets and dedup positions, its applied chunks, and the DDL
 * statements applied by the previous owner (followed here before they are
 * dropped from the queue). The lock alone does not fence the previous
 * owner's batches, which run on other connections: taking a table first
 * raises its ownership epoch (claim), which every batch writing the table
 * holds as a fence. The group is still used to commit offsets, for
 * lag tools.
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWNER_EVERY_MS 1000
#define MEMBER_SLOTS   32

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Lock names stay under MySQL's 64 characters whatever the link and table. */
static void member_lock(const consumer_t *c, int slot, char *buf, size_t size)
{
    snprintf(buf, size, "ferry:%016llx:m:%d", (unsigned long long)fnv1a(c->link), slot);
}

static void table_lock(const consumer_t *c, const ctable_t *t, char *buf, size_t size)
{
    char id[640];
    /* a table created at the source is told apart from an older one of its name */
    if (t->created)
        snprintf(id, sizeof(id), "%s.%s@%lld", t->orig_db, t->orig_name, (long long)t->created_at);
    else
        snprintf(id, sizeof(id), "%s.%s", t->orig_db, t->orig_name);
    snprintf(buf, size, "ferry:%016llx:t:%016llx", (unsigned long long)fnv1a(c->link),
             (unsigned long long)fnv1a(id));
}

/* Runs a one-value query; the value as an integer, -1 for NULL, or <= -2 on error. */
static long long query_int(consumer_t *c, const char *sql)
{
    if (mysql_query(c->my, sql) != 0) {
        ferry_log_warn("ownership query failed", "error=\"%s\"", mysql_error(c->my));
        return -2;
    }
    MYSQL_RES *res = mysql_store_result(c->my);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    long long v = !row ? -2 : row[0] ? strtoll(row[0], NULL, 10) : -1;
    mysql_free_result(res);
    return v;
}

static bool try_lock(consumer_t *c, const char *name)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT GET_LOCK('%s', 0)", name);
    return query_int(c, sql) == 1;
}

static void unlock(consumer_t *c, const char *name)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT RELEASE_LOCK('%s')", name);
    (void)query_int(c, sql);
}

/* Takes the first free member slot. */
int owner_join(consumer_t *c, char *errstr, size_t errstr_size)
{
    char name[80];
    for (int i = 0; i < MEMBER_SLOTS; i++) {
        member_lock(c, i, name, sizeof(name));
        if (try_lock(c, name)) {
            c->member = i;
            c->members = 1;
            return 0;
        }
    }
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                         "could not join link \"%s\": %d consumers already apply it", c->link,
                         MEMBER_SLOTS);
}

static int count_members(consumer_t *c)
{
    char sql[4096], name[80];
    size_t len = (size_t)snprintf(sql, sizeof(sql), "SELECT 0");
    for (int i = 0; i < MEMBER_SLOTS; i++) {
        member_lock(c, i, name, sizeof(name));
        len += (size_t)snprintf(sql + len, sizeof(sql) - len, " + (IS_USED_LOCK('%s') IS NOT NULL)",
                                name);
    }
    long long n = query_int(c, sql);
    return n >= 1 ? (int)n : 1;
}

/* The first table of the first statement waiting that names t, or NULL. */
static const ctable_t *ddl_leader(const consumer_t *c, const ctable_t *t)
{
    const ddl_pending_t *d = ddl_first_pending(c, t);
    return d && d->n_tables > 1 ? d->tables[0] : NULL;
}

/* A statement naming t (and others) waits for the owner of its first table, elsewhere. */
static bool led_elsewhere(const consumer_t *c, const ctable_t *t)
{
    const ctable_t *lead = ddl_leader(c, t);
    return lead && lead != t && !lead->owned;
}

/*
 * Which tables to keep (t->want) and how many more to take (the return):
 * the share is ceil(tables / members); above it the last tables are let go
 * of. Tables a multi-table statement needs follow its first table.
 */
static size_t choose(consumer_t *c, int members)
{
    size_t active = 0, owned = 0;
    for (size_t i = 0; i < c->ntables; i++) {
        ctable_t *t = c->tables[i];
        const ctable_t *lead = ddl_leader(c, t);
        t->want = !t->failed && (t->owned || (lead && lead->owned)) && !led_elsewhere(c, t);
        active += !t->failed;
        owned += t->want;
    }
    size_t share = (active + (size_t)members - 1) / (size_t)members;
    for (size_t i = c->ntables; i-- > 0 && owned > share;) {
        ctable_t *t = c->tables[i];
        if (t->want && !ddl_leader(c, t)) {
            t->want = false;
            owned--;
        }
    }
    return owned < share ? share - owned : 0;
}

/*
 * Raises t's ownership epoch, after its lock was taken and before what the
 * destination holds for it is read: the raise waits for every batch of a
 * previous owner still holding the old epoch as a fence (one whose
 * connection to the lock was lost while its rows were still being written
 * elsewhere), and such a batch that has not started yet is refused. So the
 * offsets read next are final for the previous owner.
 */
static int claim(consumer_t *c, ctable_t *t, const char *lock)
{
    char err[512];
    snprintf(t->owner_topic, sizeof(t->owner_topic), "%s%s", OWNER_PREFIX, lock);
    if (ferry_mysql_sink_bump(c->sink, t->owner_topic, &t->owner_epoch, err, sizeof(err)) == 0)
        return 0;
    ferry_log_warn("could not take a table", "table=%s error=\"%s\"", t->src_full, err);
    return -1;
}

void owner_fence(const ctable_t *t, ferry_mysql_sink_offset_t *fence)
{
    *fence = (ferry_mysql_sink_offset_t){.topic = t->owner_topic, .next_offset = t->owner_epoch};
}

typedef struct {
    ferry_kafka_tp_t *tp;
    size_t n, cap;
} tplist_t;

static int tp_push(tplist_t *l, const char *topic, int32_t partition, int64_t offset)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        ferry_kafka_tp_t *n = realloc(l->tp, cap * sizeof(*n));
        if (!n)
            return FERRY_ERR_NOMEM;
        l->tp = n;
        l->cap = cap;
    }
    l->tp[l->n++] = (ferry_kafka_tp_t){topic, partition, offset};
    return 0;
}

/* True when p belongs to a table this consumer owns now. */
static bool wanted(consumer_t *c, const part_t *p)
{
    bool snap;
    const ctable_t *t = tables_by_topic(c, p->topic, &snap);
    return t && t->owned && !t->failed;
}

/*
 * Assigns the partitions of the owned tables that are not assigned yet (at
 * the offsets the destination holds) and unassigns the others; partitions
 * kept go on where they are. A table whose topics do not exist yet is
 * assigned again later.
 */
static int assign(consumer_t *c)
{
    tplist_t add = {0}, del = {0};
    int rc = 0;
    c->assign_again = false;
    for (size_t i = 0; i < c->nparts && rc == 0; i++) {
        part_t *p = &c->parts[i];
        if (p->assigned && strcmp(p->topic, c->ddl_topic) != 0 && !wanted(c, p)) {
            rc = tp_push(&del, p->topic, p->partition, 0);
            parts_unassign(c, p);
        }
    }
    for (size_t i = 0; i < c->ntables && rc == 0; i++) {
        ctable_t *t = c->tables[i];
        if (!t->owned || t->failed)
            continue;
        /* a table created at the source has no snapshot topic */
        int np[2] = {t->created ? 0 : tables_snapshot_partitions(c, t),
                     tables_change_partitions(c, t, false)};
        c->assign_again |= (np[0] <= 0 && !t->created) || np[1] <= 0;
        const char *topics[2] = {t->snapshot_topic, t->change_topic};
        for (int k = 0; k < 2 && rc == 0; k++) {
            for (int32_t j = 0; j < np[k] && rc == 0; j++) {
                part_t *p = parts_get(c, topics[k], j);
                if (!p) {
                    rc = FERRY_ERR_NOMEM;
                    break;
                }
                if (p->assigned)
                    continue;
                parts_restart(c, p);
                /*
                 * Nothing applied from it yet: from offset 0, the first
                 * record the link's topic ever had, never from "beginning".
                 * If Kafka dropped records before any was applied (the
                 * mock keeps 5 MB per partition; retention), the fetch is
                 * out of range and the link stops naming the table to copy
                 * again, where "beginning" would silently start after the
                 * gap.
                 */
                rc = tp_push(&add, p->topic, j, p->committed >= 0 ? p->committed : 0);
            }
        }
    }
    char err[512];
    /* one metadata answer gives the leaders of every topic added */
    if (rc == 0 && add.n)
        ferry_kafka_consumer_learn_topic(c->data, add.tp[0].topic, 2000);
    if (rc == 0 && (add.n || del.n))
        rc = ferry_kafka_consumer_assign_change(c->data, add.tp, add.n, del.tp, del.n, err,
                                                sizeof(err));
    else if (rc != 0)
        snprintf(err, sizeof(err), "out of memory");
    if (rc != 0)
        cons_fail(c, "could not assign the partitions of the tables owned: %s", err);
    else if (add.n || del.n)
        ferry_log_info("partitions assigned", "member=%d added=%zu removed=%zu", c->member, add.n,
                       del.n);
    if (add.n)
        c->last_assign_ms = ferry_wall_ms();
    free(add.tp);
    free(del.tp);
    return rc;
}

/*
 * Takes and lets go of tables as choose() decided, then changes the
 * assignment. Before a table is let go of, the batch is applied, so what its
 * next owner reads from the destination is complete.
 */
static int rebalance(consumer_t *c, size_t more)
{
    bool change = c->subscription_dirty || c->assign_again || more, release = false;
    for (size_t i = 0; i < c->ntables; i++) {
        change |= c->tables[i]->want != c->tables[i]->owned;
        release |= c->tables[i]->owned && !c->tables[i]->want;
    }
    if (!change)
        return 0;
    if (release || c->subscription_dirty) {
        if (batch_flush(c) != 0)
            return FERRY_ERR_FATAL;
        changes_unstage(c);
    }
    char name[80];
    bool taken = false;
    /* members start their search at different tables, so they rarely collide */
    size_t n = c->ntables, from = n ? (size_t)c->member * n / (size_t)c->members % n : 0;
    for (size_t k = 0; k < n; k++) {
        ctable_t *t = c->tables[(from + k) % n];
        bool take = !t->owned && !t->failed && !led_elsewhere(c, t) && (t->want || more);
        if (!take && !(t->owned && !t->want))
            continue;
        table_lock(c, t, name, sizeof(name));
        if (t->owned) {
            snapshot_settle_table(c, t);
            unlock(c, name);
            ferry_log_info("table let go", "table=%s member=%d", t->src_full, c->member);
        } else if (try_lock(c, name)) {
            if (claim(c, t, name) != 0) {
                unlock(c, name);
                continue;
            }
            taken = true;
            t->taking = true;
            more -= more && !t->want;
            ferry_log_info("table taken", "table=%s member=%d", t->src_full, c->member);
        } else {
            continue;
        }
        pthread_mutex_lock(&c->lock);
        t->owned = !t->owned;
        pthread_mutex_unlock(&c->lock);
    }
    char err[1024];
    if (taken && parts_reload(c, err, sizeof(err)) != 0) {
        cons_fail(c, "could not read what the destination holds for the tables taken: %s", err);
        return FERRY_ERR_FATAL;
    }
    for (size_t i = 0; i < c->ntables; i++) {
        ctable_t *t = c->tables[i];
        if (t->taking && t->phase == PHASE_FULL)
            snapshot_recount(c, t);
        t->taking = false;
    }
    c->subscription_dirty = false;
    return assign(c);
}

/* Every OWNER_EVERY_MS (or when the tables changed): members, share, locks. */
void owner_step(consumer_t *c)
{
    int64_t now = ferry_wall_ms();
    if (!c->subscription_dirty && now - c->owner_ms < OWNER_EVERY_MS)
        return;
    c->owner_ms = now;
    int members = count_members(c);
    if (members != c->members)
        ferry_log_info("consumers of the link", "link=%s members=%d member=%d", c->link, members,
                       c->member);
    c->members = members;
    if (ddl_follow_others(c) != 0)
        return;
    rebalance(c, choose(c, members));
}
