/*
 * ddl.c - the link's ddl topic: table definitions, high watermarks and
 * schema changes, and DDL statements applied in order with the changes.
 *
 * Every consumer reads the whole ddl topic (one partition) with a handle of
 * its own, outside the group, from the beginning: the SNAPSHOT_TABLE events
 * are the list of tables, so each instance needs them all. The offset up to
 * which events were read is kept in ferry_offsets like any other (it rides
 * along with the next batch), so after a restart a SNAPSHOT_TABLE before it
 * only rebuilds state: no keep.rows check, no CREATE.
 *
 * DDL statements are ordered against the row changes by source position.
 * A statement at position D naming tables T... is queued when read; from
 * then on a change of T after D holds its partition (parts.c) instead of
 * being applied. The statement runs once, for each of its tables, every
 * change partition has nothing before D left: it is held at a change after
 * D, or it has been read to its end (the brokers' high watermark, asked
 * after the statement was read: capture commits every change before D no
 * later than D itself, so they are all below that mark). An idle partition
 * therefore never blocks a statement. Before running it the batch (changes
 * before D) is applied; after it the holds are released and the changes
 * after D are applied against the new shape (shape.c). A table still in its
 * full load gets its statements in catch-up, at their place in the replay:
 * its change partitions are held until then, and a statement must not run
 * before the snapshot rows read before it (TRUNCATE) are in.
 *
 * For this to work a change must never be applied before a statement that
 * precedes it is known: changes.c polls a burst of messages, then reads
 * this topic to the end (ddl_read_ahead), then dispatches the burst.
 *
 * Statements on different tables run in any order; statements sharing a
 * table run in topic order. Each applied statement is recorded in
 * ferry_offsets as "ddl-done:<offset>" right after it ran (DDL commits
 * implicitly, so a crash between the two runs it again, which then fails
 * and is reported). Statements before the DDL floor were applied by an
 * older consumer that kept no marks. A statement whose position is not past
 * the last one taken is a copy (an aborted capture group shown by
 * ferry-devkafka) and is skipped. RENAME TABLE moves the consumer's table to
 * the new name (its change topic too); names in later statements resolve
 * through the names queued statements will give.
 *
 * A statement that cannot be rewritten or fails is logged and shown in
 * /status with its reason; its tables and the link go on.
 */
#include "consumer.h"

#include "ddl_event.h"
#include "err.h"
#include "log.h"
#include "wire.h"

#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_AHEAD_MS 3000
#define RECHECK_MS    100

int ddl_open(consumer_t *c, char *errstr, size_t errstr_size)
{
    char group[400];
    snprintf(group, sizeof(group), "%s.ddl-reader", c->group);
    if (ferry_kafka_consumer_new(&c->ddl, group, c->kprops, NULL, errstr, errstr_size) != 0)
        return FERRY_ERR_FATAL;
    ferry_kafka_tp_t tp = {c->ddl_topic, 0, FERRY_KAFKA_OFFSET_BEGINNING};
    ferry_kafka_consumer_learn_topic(c->ddl, c->ddl_topic, 2000);
    if (ferry_kafka_consumer_assign(c->ddl, &tp, 1, errstr, errstr_size) != 0)
        return FERRY_ERR_FATAL;
    if (!parts_get(c, c->ddl_topic, 0))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    return 0;
}

static void snapshot_table(consumer_t *c, const ferry_ddl_event_t *ev, bool fresh)
{
    char err[1024];
    ferry_tabledef_t *def;
    if (!ev->table_definition ||
        ferry_tabledef_from_json(ev->table_definition, strlen(ev->table_definition), &def, err,
                                 sizeof(err)) != 0) {
        cons_fail(c, "could not read the definition of \"%s.%s\" from %s: %s", ev->db,
                  ev->table ? ev->table : "", c->ddl_topic,
                  ev->table_definition ? err : "no table_definition");
        return;
    }
    if (tables_find_orig(c, def->db, def->name)) {
        ferry_log_info("table announced again, keeping the first definition", "table=%s.%s",
                       def->db, def->name);
        ferry_tabledef_destroy(def);
        return;
    }
    if (tables_find_queued(c, def->db, def->name)) {
        /* a restarted producer announces what a CREATE or RENAME made: followed from there */
        ferry_log_info("table announced again, followed from the statement that made it",
                       "table=%s.%s", def->db, def->name);
        ferry_tabledef_destroy(def);
        return;
    }
    char db[256], name[256];
    snprintf(db, sizeof(db), "%s", def->db);
    snprintf(name, sizeof(name), "%s", def->name);
    int rc = tables_add(c, def, fresh, err, sizeof(err));
    ctable_t *t = tables_find_orig(c, db, name);
    char why[256];
    if (t && ev->file && ev->has_pos)
        t->has_p0 =
            ferry_binlog_pos_init(&t->p0, ev->file, (uint64_t)ev->pos, why, sizeof(why)) == 0;
    if (rc == FERRY_ERR_INVALID || rc == FERRY_ERR_NOMEM)
        cons_fail(c, "%s", err);
    else if (rc != 0)
        ferry_log_error("table left out", "table=%s.%s error=\"%s\"", ev->db, ev->table, err);
}

static void snapshot_done(consumer_t *c, const ferry_ddl_event_t *ev)
{
    ctable_t *t = ev->table ? tables_find_orig(c, ev->db, ev->table) : NULL;
    char err[512];
    ferry_binlog_pos_t h;
    if (!t) {
        ferry_log_warn("SNAPSHOT_DONE for an unknown table ignored", "table=%s.%s", ev->db,
                       ev->table ? ev->table : "");
        return;
    }
    if (!ev->file || !ev->has_pos || !ev->has_chunks ||
        ferry_binlog_pos_init(&h, ev->file, (uint64_t)ev->pos, err, sizeof(err)) != 0) {
        cons_fail(c, "could not read SNAPSHOT_DONE of \"%s\" from %s: %s", t->src_full,
                  c->ddl_topic,
                  ev->file && ev->has_pos && ev->has_chunks ? err : "file, pos or chunks missing");
        return;
    }
    pthread_mutex_lock(&c->lock);
    t->h = h;
    t->has_h = true;
    t->chunks_total = ev->chunks;
    pthread_mutex_unlock(&c->lock);
    char hs[300];
    ferry_binlog_pos_format(&h, hs, sizeof(hs));
    ferry_log_info("snapshot done", "table=%s high_watermark=%s chunks=%lld", t->src_full, hs,
                   (long long)ev->chunks);
    snapshot_recount(c, t);
}

static unsigned mode_flags(const char *sql_mode)
{
    unsigned f = 0;
    if (sql_mode && strstr(sql_mode, "ANSI_QUOTES"))
        f |= FERRY_DDL_ANSI_QUOTES;
    if (sql_mode && strstr(sql_mode, "NO_BACKSLASH_ESCAPES"))
        f |= FERRY_DDL_NO_BACKSLASH_ESCAPES;
    return f;
}

/* ---- applied statements ------------------------------------------------------------ */

static bool offsets_has(const cons_offsets_t *set, int64_t offset)
{
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i] == offset)
            return true;
    return false;
}

static int offsets_add(cons_offsets_t *set, int64_t offset)
{
    if (offsets_has(set, offset))
        return 0;
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        int64_t *n = realloc(set->v, cap * sizeof(*n));
        if (!n)
            return FERRY_ERR_NOMEM;
        set->v = n;
        set->cap = cap;
    }
    set->v[set->n++] = offset;
    return 0;
}

static void offsets_free(cons_offsets_t *set)
{
    free(set->v);
    *set = (cons_offsets_t){0};
}

bool ddl_done(const consumer_t *c, int64_t offset)
{
    return (c->ddl_floor >= 0 && offset < c->ddl_floor) || offsets_has(&c->ddl_done, offset);
}

/* Remembers that the statement at offset was applied (in memory). */
int ddl_mark_done(consumer_t *c, int64_t offset)
{
    return ddl_done(c, offset) ? 0 : offsets_add(&c->ddl_done, offset);
}

int ddl_note_mark(consumer_t *c, const ferry_mysql_sink_offset_t *o)
{
    int64_t offset = strtoll(o->topic + strlen(DDL_DONE_PREFIX), NULL, 10);
    return o->next_offset < 0 ? offsets_add(&c->ddl_begun, offset) : ddl_mark_done(c, offset);
}

/* ---- the queue ---------------------------------------------------------------------- */

static bool touches(const ddl_pending_t *d, const ctable_t *t)
{
    for (size_t i = 0; i < d->n_tables; i++)
        if (d->tables[i] == t)
            return true;
    return false;
}

/* The first statement waiting that names t; NULL when none. */
const ddl_pending_t *ddl_first_pending(const consumer_t *c, const ctable_t *t)
{
    for (size_t i = 0; i < c->npend; i++)
        if (touches(&c->pend[i], t))
            return &c->pend[i];
    return NULL;
}

/* True when a change of t at pos must wait for a statement before it. */
bool ddl_blocks(const consumer_t *c, const ctable_t *t, const ferry_binlog_pos_t *pos)
{
    const ddl_pending_t *d = ddl_first_pending(c, t);
    return d && d->has_pos && ferry_binlog_pos_cmp(pos, &d->pos) > 0;
}

static void pending_free(ddl_pending_t *d)
{
    free(d->statement);
    free(d->default_db);
    free(d->sql_mode);
    free(d->tables);
}

static void pending_remove(consumer_t *c, size_t i)
{
    pending_free(&c->pend[i]);
    memmove(&c->pend[i], &c->pend[i + 1], (c->npend - i - 1) * sizeof(c->pend[0]));
    c->npend--;
}

void ddl_destroy(consumer_t *c)
{
    for (size_t i = 0; i < c->npend; i++)
        pending_free(&c->pend[i]);
    free(c->pend);
    c->pend = NULL;
    c->npend = c->pend_cap = 0;
    offsets_free(&c->ddl_done);
    offsets_free(&c->ddl_begun);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/*
 * The new name names[i] gets from the statement: the second of a RENAME
 * TABLE pair, or ALTER TABLE's RENAME [TO]; NULL when none.
 */
static const ferry_ddl_name_t *renamed(const ferry_ddl_rewrite_t *rw, size_t i)
{
    const ferry_ddl_name_t *to = NULL;
    if (rw->kind == FERRY_DDL_RENAME_TABLE && i % 2 == 0 && i + 1 < rw->n_names)
        to = &rw->names[i + 1];
    else if (rw->kind == FERRY_DDL_ALTER_TABLE && i == 0 && rw->rename_to &&
             rw->rename_to < rw->n_names)
        to = &rw->names[rw->rename_to];
    return to && to->table ? to : NULL;
}

/* True when names[i] is the new name of a rename (not a table that exists before). */
static bool is_new_name(const ferry_ddl_rewrite_t *rw, size_t i)
{
    return (rw->kind == FERRY_DDL_RENAME_TABLE && i % 2 == 1) ||
           (rw->kind == FERRY_DDL_ALTER_TABLE && rw->rename_to && i == rw->rename_to);
}

static int set_queued(ctable_t *t, const char *db, const char *name)
{
    char *d = strdup(db), *n = strdup(name);
    if (!d || !n) {
        free(d);
        free(n);
        return FERRY_ERR_NOMEM;
    }
    free(t->q_db);
    free(t->q_name);
    t->q_db = d;
    t->q_name = n;
    return 0;
}

/*
 * The known tables a statement names, resolved through the names queued
 * statements give them; renames move those names on, DROP TABLE frees them.
 */
static int resolve(consumer_t *c, const ferry_ddl_rewrite_t *rw, ddl_pending_t *d)
{
    d->tables = calloc(rw->n_names + 2, sizeof(*d->tables));
    if (!d->tables)
        return FERRY_ERR_NOMEM;
    int rc = 0;
    for (size_t i = 0; i < rw->n_names && rc == 0; i++) {
        const ferry_ddl_name_t *nm = &rw->names[i], *to = renamed(rw, i);
        ctable_t *t =
            nm->table && !is_new_name(rw, i) ? tables_find_queued(c, nm->db, nm->table) : NULL;
        if (t && !touches(d, t))
            d->tables[d->n_tables++] = t;
        if (t && to)
            rc = set_queued(t, to->db, to->table);
        else if (t && rw->kind == FERRY_DDL_DROP_TABLE)
            rc = set_queued(t, "", ""); /* no table is named "" */
    }
    return rc;
}

/* What a statement does to the consumer's tables once it ran (or ran before a restart). */
static void follow(consumer_t *c, const ddl_pending_t *d, const ferry_ddl_rewrite_t *rw)
{
    for (size_t i = 0; i < d->n_tables; i++)
        shape_forget(d->tables[i]);
    if (d->creates && !d->creates->failed)
        tables_set_phase(c, d->creates, PHASE_CATCHUP);
    if (rw->kind == FERRY_DDL_RENAME_TABLE || rw->kind == FERRY_DDL_ALTER_TABLE) {
        for (size_t i = 0; i < rw->n_names; i++) {
            const ferry_ddl_name_t *from = &rw->names[i], *to = renamed(rw, i);
            ctable_t *t = to && from->table ? tables_find(c, from->db, from->table) : NULL;
            if (t && tables_rename(c, t, to->db, to->table, d->has_pos ? &d->pos : NULL) != 0)
                cons_fail(c, "out of memory");
        }
    } else if (rw->kind == FERRY_DDL_DROP_TABLE) {
        for (size_t i = 0; i < d->n_tables; i++)
            tables_drop(c, d->tables[i]);
    }
}

/*
 * A key-less table's snapshot is exact at its chunk's position E: a TRUNCATE
 * at or before E is already in it, and the changes up to E that followed it
 * are skipped, so running it would lose them.
 */
static bool in_exact_snapshot(const ddl_pending_t *d, const ferry_ddl_rewrite_t *rw)
{
    if (rw->kind != FERRY_DDL_TRUNCATE_TABLE || !d->has_pos || d->n_tables != 1)
        return false;
    const ctable_t *t = d->tables[0];
    return t->keyless && t->has_exact && ferry_binlog_pos_cmp(&d->pos, &t->exact) <= 0;
}

static int rewrite(consumer_t *c, const ddl_pending_t *d, ferry_ddl_rewrite_t *rw, char *errstr,
                   size_t errstr_size)
{
    memset(rw, 0, sizeof(*rw));
    return ferry_mysql_ddl_rewrite(d->default_db, d->statement, strlen(d->statement),
                                   mode_flags(d->sql_mode), c->rename, NULL, NULL, rw, errstr,
                                   errstr_size);
}

/*
 * True when every table d names was announced by SNAPSHOT_TABLE at or after
 * d (a producer restarted before capturing d announces the tables it finds
 * then): their definitions already hold what d did.
 */
static bool before_snapshot(const ddl_pending_t *d)
{
    if (!d->has_pos || !d->n_tables)
        return false;
    for (size_t i = 0; i < d->n_tables; i++)
        if (!d->tables[i]->has_p0 || ferry_binlog_pos_cmp(&d->pos, &d->tables[i]->p0) > 0)
            return false;
    return true;
}

/* Why statement d (rewritten as rw) is not run; NULL when it is. */
static const char *skip_reason(const ddl_pending_t *d, const ferry_ddl_rewrite_t *rw, int rc)
{
    if (rc != 0)
        return NULL;
    if (!rw->sql)
        return rw->skip_reason ? rw->skip_reason : "";
    if (in_exact_snapshot(d, rw))
        return "the key-less table's snapshot was read after it";
    if (before_snapshot(d))
        return "the table's definition was read after it";
    return NULL;
}

/*
 * True when d failed the way a statement fails when it already ran (a
 * column, index or table already there, or already gone) and a consumer
 * had begun running it before (its mark says begun, not done): that
 * consumer died between running it and recording it, so the second run is
 * what failed, not d.
 */
static bool ran_before(const consumer_t *c, const ddl_pending_t *d)
{
    static const unsigned int already[] = {
        ER_TABLE_EXISTS_ERROR, ER_BAD_TABLE_ERROR,        ER_BAD_FIELD_ERROR, ER_DUP_FIELDNAME,
        ER_DUP_KEYNAME,        ER_CANT_DROP_FIELD_OR_KEY, ER_NO_SUCH_TABLE,   ER_MULTIPLE_PRI_KEY,
    };
    if (!offsets_has(&c->ddl_begun, d->offset))
        return false;
    for (size_t i = 0; i < sizeof(already) / sizeof(already[0]); i++)
        if (c->exec_errno == already[i])
            return true;
    return false;
}

/* Records (committed) that d is about to run: 0, or the link stopped. */
static int mark_begun(consumer_t *c, const ddl_pending_t *d)
{
    char mark[64];
    snprintf(mark, sizeof(mark), "%s%lld", DDL_DONE_PREFIX, (long long)d->offset);
    if (batch_add_mark(c, mark, -1) != 0) {
        cons_fail(c, "out of memory");
        return FERRY_ERR_NOMEM;
    }
    return batch_flush(c);
}

/* Runs statement d (its tables' earlier changes are applied) and records that it ran. */
static void execute(consumer_t *c, ddl_pending_t *d)
{
    if (batch_flush(c) != 0)
        return;
    ferry_ddl_rewrite_t rw;
    char err[1024];
    ctable_t *t = d->n_tables ? d->tables[0] : NULL;
    int rc = rewrite(c, d, &rw, err, sizeof(err));
    const char *skip = skip_reason(d, &rw, rc);
    bool already = false;
    if (skip && !d->creates) {
        ferry_log_info("DDL statement skipped", "statement=\"%.200s\" reason=\"%s\"", d->statement,
                       skip);
    } else if (d->creates) {
        char why[1024];
        snprintf(why, sizeof(why), "%s", rc != 0 ? err : skip ? skip : "");
        rc = tables_create_born(c, d->creates, rc == 0 ? rw.sql : NULL, why, err, sizeof(err));
        if (rc != 0) {
            d->creates->failed = true;
            c->subscription_dirty = true;
        }
    } else if (rc == 0) {
        if (mark_begun(c, d) != 0) {
            ferry_ddl_rewrite_free(&rw);
            return;
        }
        rc = cons_exec(c, rw.sql, err, sizeof(err));
        if (rc != 0 && ran_before(c, d)) {
            ferry_log_warn("DDL statement had already run before a restart",
                           "statement=\"%.200s\" offset=%lld error=\"%s\"", rw.sql,
                           (long long)d->offset, err);
            rc = 0;
            already = true;
        }
    }
    if (rc != 0) {
        status_note_ddl_error(c, t, d->statement, err);
    } else if (!already && (rw.sql || d->creates)) {
        ferry_log_info("DDL statement applied", "statement=\"%.200s\" offset=%lld",
                       rw.sql ? rw.sql : d->statement, (long long)d->offset);
        pthread_mutex_lock(&c->lock);
        c->ddl_applied++;
        pthread_mutex_unlock(&c->lock);
    }
    follow(c, d, &rw);
    ferry_ddl_rewrite_free(&rw);
    char mark[64];
    snprintf(mark, sizeof(mark), "%s%lld", DDL_DONE_PREFIX, (long long)d->offset);
    if (ddl_mark_done(c, d->offset) != 0 || batch_add_mark(c, mark, 0) != 0) {
        cons_fail(c, "out of memory");
        return;
    }
    batch_flush(c); /* record at once that the statement ran */
}

/* ---- readiness ---------------------------------------------------------------------- */

/*
 * True when partition i of t's change topic has no change before pos left
 * to apply (see the file comment).
 */
static bool partition_past(consumer_t *c, ctable_t *t, int32_t i, const ferry_binlog_pos_t *pos)
{
    part_t *p = parts_get(c, t->change_topic, i);
    if (!p || !p->assigned)
        return false;
    if (p->hold >= 0)
        return p->hold_ddl && ferry_binlog_pos_cmp(&p->hold_pos, pos) > 0;
    return parts_read_to_end(c, p);
}

static bool ready(consumer_t *c, ddl_pending_t *d)
{
    for (size_t k = 0; k < d->n_tables; k++) {
        ctable_t *t = d->tables[k];
        if (t->failed)
            continue;
        if (!t->owned || ddl_first_pending(c, t) != d ||
            (t->phase < PHASE_CATCHUP && t != d->creates))
            return false;
    }
    if (c->nstaged)
        return false; /* polled changes may still be before it */
    if (!d->has_pos)
        return true;
    int64_t now = ferry_wall_ms();
    if (now - d->checked_ms < RECHECK_MS)
        return false;
    d->checked_ms = now;
    for (size_t k = 0; k < d->n_tables; k++) {
        ctable_t *t = d->tables[k];
        int n = t->failed ? -1 : tables_change_partitions(c, t, true);
        if (n == 0)
            return false; /* unknown; -1: no topic, so no change of the table yet */
        for (int32_t i = 0; i < n; i++)
            if (!partition_past(c, t, i, &d->pos))
                return false;
    }
    return true;
}

/* Runs every queued statement whose tables are ready for it. */
void ddl_apply_ready(consumer_t *c)
{
    for (size_t i = 0; i < c->npend && !c->fatal;) {
        if (!ready(c, &c->pend[i])) {
            i++;
            continue;
        }
        execute(c, &c->pend[i]);
        pending_remove(c, i);
    }
}

static int note_done(void *arg, const ferry_mysql_sink_offset_t *o)
{
    return ddl_note_mark(arg, o);
}

/*
 * Statements on tables another consumer owns are run by it: learn from the
 * destination which ones ran, follow them (renames) and drop them here.
 */
int ddl_follow_others(consumer_t *c)
{
    bool others = false;
    for (size_t i = 0; i < c->npend && !others; i++)
        for (size_t k = 0; k < c->pend[i].n_tables; k++)
            others |= !c->pend[i].tables[k]->owned;
    if (!others)
        return 0;
    char err[1024];
    int rc = ferry_mysql_sink_read_stored(c->sink, DDL_DONE_PREFIX, note_done, c, err, sizeof(err));
    if (rc != 0) {
        ferry_log_warn("could not read the applied DDL statements", "error=\"%s\"", err);
        return rc;
    }
    for (size_t i = 0; i < c->npend;) {
        ddl_pending_t *d = &c->pend[i];
        if (!ddl_done(c, d->offset)) {
            i++;
            continue;
        }
        ferry_ddl_rewrite_t rw;
        (void)rewrite(c, d, &rw, err, sizeof(err));
        follow(c, d, &rw);
        ferry_ddl_rewrite_free(&rw);
        ferry_log_info("DDL statement applied by another consumer",
                       "offset=%lld statement=\"%.200s\"", (long long)d->offset, d->statement);
        pending_remove(c, i);
    }
    return 0;
}

/* ---- reading ------------------------------------------------------------------------ */

/*
 * CREATE TABLE of a table the link does not know: a new table, created by d
 * and first of its tables (d->tables has room for one more).
 */
static int born(consumer_t *c, ddl_pending_t *d, const ferry_ddl_rewrite_t *rw,
                const ferry_ddl_event_t *ev)
{
    ferry_tabledef_t *def = NULL;
    char err[512];
    if (ev->table_definition &&
        ferry_tabledef_from_json(ev->table_definition, strlen(ev->table_definition), &def, err,
                                 sizeof(err)) != 0) {
        ferry_log_warn("could not read the definition of a created table",
                       "table=%s.%s error=\"%s\"", rw->names[0].db, rw->names[0].table, err);
        def = NULL;
    }
    ctable_t *t = tables_born(c, rw->names[0].db, rw->names[0].table, def, d->offset,
                              d->has_pos ? &d->pos : NULL);
    if (!t)
        return FERRY_ERR_NOMEM;
    memmove(d->tables + 1, d->tables, d->n_tables * sizeof(*d->tables));
    d->tables[0] = t;
    d->n_tables++;
    d->creates = t;
    return 0;
}

/* Appends d to the queue (which takes its memory). */
static int enqueue(consumer_t *c, const ddl_pending_t *d)
{
    if (c->npend == c->pend_cap) {
        size_t cap = c->pend_cap ? c->pend_cap * 2 : 8;
        ddl_pending_t *n = realloc(c->pend, cap * sizeof(*n));
        if (!n)
            return FERRY_ERR_NOMEM;
        c->pend = n;
        c->pend_cap = cap;
    }
    c->pend[c->npend++] = *d;
    ferry_log_info("DDL statement queued", "offset=%lld tables=%zu statement=\"%.200s\"",
                   (long long)d->offset, d->n_tables, d->statement);
    return 0;
}

/*
 * A statement event: skipped when a copy, replayed on the tables when
 * already applied, else queued.
 */
static void statement(consumer_t *c, const ferry_kafka_msg_t *m, const ferry_ddl_event_t *ev)
{
    ddl_pending_t d = {.offset = m->offset};
    char err[512];
    d.has_pos = ev->file && ev->has_pos &&
                ferry_binlog_pos_init(&d.pos, ev->file, (uint64_t)ev->pos, err, sizeof(err)) == 0;
    if (d.has_pos && c->has_ddl_last && ferry_binlog_pos_cmp(&d.pos, &c->ddl_last) <= 0) {
        ferry_log_info("copy of a DDL statement skipped", "offset=%lld statement=\"%.200s\"",
                       (long long)m->offset, ev->statement);
        return;
    }
    if (d.has_pos) {
        c->ddl_last = d.pos;
        c->has_ddl_last = true;
    }
    ferry_ddl_rewrite_t rw;
    memset(&rw, 0, sizeof(rw));
    (void)ferry_mysql_ddl_rewrite(ev->default_db, ev->statement, strlen(ev->statement),
                                  mode_flags(ev->sql_mode), c->rename, NULL, NULL, &rw, err,
                                  sizeof(err));
    d.statement = strdup(ev->statement);
    d.default_db = dup_or_null(ev->default_db);
    d.sql_mode = dup_or_null(ev->sql_mode);
    int rc = d.statement && (!ev->default_db || d.default_db) && (!ev->sql_mode || d.sql_mode)
                 ? resolve(c, &rw, &d)
                 : FERRY_ERR_NOMEM;
    if (rc == 0 && rw.kind == FERRY_DDL_CREATE_TABLE && rw.n_names && rw.names[0].table &&
        !tables_find_queued(c, rw.names[0].db, rw.names[0].table))
        rc = born(c, &d, &rw, ev);
    if (rc == 0 && ddl_done(c, m->offset)) {
        follow(c, &d, &rw);
        pending_free(&d);
    } else if (rc == 0) {
        rc = enqueue(c, &d);
    }
    if (rc != 0) {
        pending_free(&d);
        cons_fail(c, "out of memory");
    }
    ferry_ddl_rewrite_free(&rw);
}

static void handle(consumer_t *c, ferry_kafka_msg_t *m, ferry_arena_t *a)
{
    part_t *p = parts_get(c, c->ddl_topic, 0);
    ferry_ddl_event_t ev;
    char err[1024];
    if (!p) {
        cons_fail(c, "out of memory");
        ferry_kafka_msg_destroy(m);
        return;
    }
    if (ferry_ddl_event_from_message(c->reg, m->value, m->value_len, a, &ev, err, sizeof(err)) !=
        0) {
        cons_fail(c, "could not decode the event at offset %lld of \"%s\" [0]: %s",
                  (long long)m->offset, c->ddl_topic, err);
        ferry_kafka_msg_destroy(m);
        return;
    }
    bool fresh = c->ddl_stored < 0 || m->offset >= c->ddl_stored;
    if (!strcmp(ev.kind, "SNAPSHOT_TABLE"))
        snapshot_table(c, &ev, fresh);
    else if (!strcmp(ev.kind, "SNAPSHOT_DONE"))
        snapshot_done(c, &ev);
    else if (ev.statement && *ev.statement)
        statement(c, m, &ev);
    batch_skip(c, p, m);
}

/* Handles what the ddl reader returns within timeout_ms; false when nothing came. */
static bool read_one(consumer_t *c, ferry_arena_t *a, int timeout_ms)
{
    ferry_kafka_msg_t *m = NULL;
    char err[1024];
    int rc = ferry_kafka_consumer_poll(c->ddl, timeout_ms, &m, err, sizeof(err));
    if (rc == FERRY_ERR_FATAL)
        cons_fail(c, "%s", err);
    else if (rc != 0)
        ferry_log_warn("ddl reader error, retrying", "topic=%s error=\"%s\"", c->ddl_topic, err);
    if (!m)
        return false;
    c->ddl_last_ms = ferry_wall_ms();
    handle(c, m, a);
    ferry_arena_reset(a);
    return true;
}

/* Handles every ddl event fetched so far. */
void ddl_drain(consumer_t *c)
{
    ferry_arena_t *a = ferry_arena_new(0);
    if (!a) {
        cons_fail(c, "out of memory");
        return;
    }
    for (int i = 0; i < 1000 && !c->fatal && read_one(c, a, 0); i++)
        ;
    ferry_arena_destroy(a);
}

/*
 * Whether every ddl event written so far was read (the end the broker
 * reports now; false when it cannot say): tables announced together are
 * then all known, and taking them need not wait for more.
 */
bool ddl_read_to_end(consumer_t *c)
{
    int64_t position, high;
    char err[512];
    const part_t *p = parts_get(c, c->ddl_topic, 0);
    /* position steps over the markers that end capture's transactions */
    return p &&
           ferry_kafka_consumer_end(c->ddl, c->ddl_topic, 0, 300, &position, &high, err,
                                    sizeof(err)) == 0 &&
           parts_read_past(p, position, high);
}

/*
 * Reads the ddl topic to the end the brokers report now, so that every
 * statement written before the changes polled so far is known. False when
 * the end could not be reached in time (the changes wait for the next turn).
 */
bool ddl_read_ahead(consumer_t *c)
{
    int64_t position, high;
    char err[512];
    if (ferry_kafka_consumer_end(c->ddl, c->ddl_topic, 0, 5000, &position, &high, err,
                                 sizeof(err)) != 0) {
        ferry_log_warn("could not read the end of the ddl topic", "error=\"%s\"", err);
        return false;
    }
    ferry_arena_t *a = ferry_arena_new(0);
    if (!a) {
        cons_fail(c, "out of memory");
        return false;
    }
    int64_t until = ferry_wall_ms() + READ_AHEAD_MS;
    const part_t *p = parts_get(c, c->ddl_topic, 0);
    while (!c->fatal && p && p->next < high && ferry_wall_ms() < until) {
        if (!read_one(c, a, 100) &&
            ferry_kafka_consumer_end(c->ddl, c->ddl_topic, 0, 5000, &position, &high, err,
                                     sizeof(err)) == 0 &&
            position >= high)
            break; /* the rest up to high is transaction markers */
    }
    ferry_arena_destroy(a);
    return !c->fatal && p && (p->next >= high || (position >= high && position >= 0));
}
