/*
 * tables.c - the per-table state of ferry-consumer.
 *
 * A table appears with its SNAPSHOT_TABLE event: its destination table is
 * created (renames applied) and registered with the sink, and it enters
 * "full": its snapshot topic is applied by the chunk contract. Once its
 * SNAPSHOT_DONE arrived and every chunk it counts is applied, it enters
 * "catch-up": its change topic is applied from the beginning, events at or
 * before the high watermark H in safe mode. It enters "incremental" when an
 * event after H was applied, or when its change partitions have all been
 * assigned here and idle for a second (then nothing at or before H can be
 * waiting, unless capture itself lags behind H: the phase is a label, the
 * mode of each event is decided by its own position either way).
 */
#include "consumer.h"

#include "err.h"
#include "log.h"
#include "topics.h"

#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IDLE_MS 1000
/* how long the cluster's topic list answers for topics not known yet (tables.c) */
#define PARTITIONS_ASK_MS 250

const char *tables_phase_name(phase_t p)
{
    static const char *const names[] = {"schema", "full", "catch-up", "incremental"};
    return names[p];
}

/*
 * The finders below pass over dropped tables (a later table may take their
 * name and topic); tables_find_orig looks only at tables of SNAPSHOT_TABLE
 * events, which are what SNAPSHOT_TABLE and SNAPSHOT_DONE name.
 */
ctable_t *tables_find(consumer_t *c, const char *db, const char *name)
{
    for (size_t i = 0; i < c->ntables; i++)
        if (!c->tables[i]->dropped && !strcmp(c->tables[i]->src_db, db) &&
            !strcmp(c->tables[i]->src_name, name))
            return c->tables[i];
    return NULL;
}

ctable_t *tables_find_orig(consumer_t *c, const char *db, const char *name)
{
    for (size_t i = 0; i < c->ntables; i++)
        if (!c->tables[i]->created && !strcmp(c->tables[i]->orig_db, db) &&
            !strcmp(c->tables[i]->orig_name, name))
            return c->tables[i];
    return NULL;
}

ctable_t *tables_find_queued(consumer_t *c, const char *db, const char *name)
{
    for (size_t i = 0; i < c->ntables; i++)
        if (!c->tables[i]->dropped && !strcmp(c->tables[i]->q_db, db) &&
            !strcmp(c->tables[i]->q_name, name))
            return c->tables[i];
    return NULL;
}

ctable_t *tables_by_topic(consumer_t *c, const char *topic, bool *is_snapshot)
{
    for (size_t i = 0; i < c->ntables; i++) {
        ctable_t *t = c->tables[i];
        if (t->dropped)
            continue;
        if (!strcmp(t->snapshot_topic, topic) || !strcmp(t->change_topic, topic)) {
            *is_snapshot = !strcmp(t->snapshot_topic, topic);
            return t;
        }
    }
    return NULL;
}

void tables_set_error(consumer_t *c, ctable_t *t, const char *text)
{
    char *copy = text ? strdup(text) : NULL;
    pthread_mutex_lock(&c->lock);
    free(t->last_error);
    t->last_error = copy;
    pthread_mutex_unlock(&c->lock);
}

void tables_set_phase(consumer_t *c, ctable_t *t, phase_t p)
{
    pthread_mutex_lock(&c->lock);
    t->phase = p;
    pthread_mutex_unlock(&c->lock);
    ferry_gauge_set(t->m_phase, p);
    ferry_log_info("table phase", "table=%s destination=%s phase=%s", t->src_full, t->dst_full,
                   tables_phase_name(p));
}

/* 1 when the destination table exists and holds a row, 0 when not, <0 on error. */
static int dest_has_rows(consumer_t *c, ctable_t *t, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SELECT 1 FROM ");
    ferry_mysql_quote_ident(&q, t->dst_db);
    ferry_strbuf_puts(&q, ".");
    ferry_mysql_quote_ident(&q, t->dst_name);
    ferry_strbuf_puts(&q, " LIMIT 1");
    int rc = q.oom ? FERRY_ERR_NOMEM : mysql_real_query(c->my, q.buf, q.len);
    ferry_strbuf_free(&q);
    if (rc == FERRY_ERR_NOMEM)
        return ferry_err_set(errstr, errstr_size, rc, "out of memory");
    if (rc != 0) {
        unsigned no = mysql_errno(c->my);
        if (no == 1146 || no == 1049) /* no such table / database */
            return 0;
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                             "could not read destination table \"%s\": %s", t->dst_full,
                             mysql_error(c->my));
    }
    MYSQL_RES *res = mysql_store_result(c->my);
    int has = res && mysql_num_rows(res) > 0;
    if (res)
        mysql_free_result(res);
    return has;
}

typedef struct {
    const ctable_t *t;
    bool found;
} ours_t;

static int note_ours(void *arg, const char *db, const char *table, const char *phase, uint64_t rows)
{
    ours_t *o = arg;
    (void)phase;
    o->found |= rows > 0 && !strcmp(db, o->t->dst_db) && !strcmp(table, o->t->dst_name);
    return 0;
}

/*
 * True when this link applied rows to t's destination table: another
 * consumer of the link got there first (its progress rows commit with the
 * rows, so rows seen imply progress seen).
 */
static bool rows_are_ours(consumer_t *c, const ctable_t *t)
{
    ours_t o = {t, false};
    char err[512];
    return ferry_mysql_sink_read_progress(c->sink, note_ours, &o, err, sizeof(err)) == 0 && o.found;
}

/*
 * A plain (non-unique) secondary index of whole or prefixed columns that the
 * column filter keeps is created after the table's full load, not before:
 * LOAD DATA then inserts into the primary key and unique keys only, and the
 * index is built from the loaded rows in one sorted pass (a sysbench table
 * measured twice as fast, a quarter less destination CPU, see
 * docs/PERFORMANCE.md). Unique keys stay from the start: safe-mode replay
 * and the sink's upserts rely on them.
 */
static bool index_deferred(const consumer_t *c, const ctable_t *t, const ferry_indexdef_t *ix)
{
    if (ix->kind != FERRY_INDEX_PLAIN)
        return false;
    for (size_t i = 0; i < ix->n_parts; i++)
        if (!ix->parts[i].column || ferry_rename_map_column_dropped(
                                        c->rename, t->def->db, t->def->name, ix->parts[i].column))
            return false;
    return true;
}

/* CREATE TABLE of t->def without its deferred indexes. */
static int plan_lean(consumer_t *c, ctable_t *t, ferry_ddl_plan_t *plan, char *why, size_t n)
{
    ferry_tabledef_t lean = *t->def;
    ferry_indexdef_t *kept = calloc(t->def->n_indexes + 1, sizeof(*kept));
    if (!kept)
        return ferry_err_set(why, n, FERRY_ERR_NOMEM, "out of memory");
    lean.indexes = kept;
    lean.n_indexes = 0;
    for (size_t i = 0; i < t->def->n_indexes; i++)
        if (!index_deferred(c, t, &t->def->indexes[i]))
            kept[lean.n_indexes++] = t->def->indexes[i];
    int rc = ferry_mysql_ddl_plan(&lean, c->rename, c->flavor, plan, why, n);
    free(kept);
    return rc;
}

/* Whether the destination table has an index called name (names are case-insensitive). */
static int dest_has_index(consumer_t *c, ctable_t *t, const char *name, char *why, size_t n)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SHOW INDEX FROM ");
    ferry_mysql_quote_ident(&q, t->dst_db);
    ferry_strbuf_puts(&q, ".");
    ferry_mysql_quote_ident(&q, t->dst_name);
    int rc = q.oom ? FERRY_ERR_NOMEM : mysql_real_query(c->my, q.buf, q.len);
    ferry_strbuf_free(&q);
    if (rc)
        return ferry_err_set(why, n, rc == FERRY_ERR_NOMEM ? rc : FERRY_ERR_IO, "%s",
                             rc == FERRY_ERR_NOMEM ? "out of memory" : mysql_error(c->my));
    MYSQL_RES *res = mysql_store_result(c->my);
    MYSQL_ROW row;
    int has = 0;
    while (res && (row = mysql_fetch_row(res)) != NULL)
        has |= row[2] && !strcasecmp(row[2], name);
    if (res)
        mysql_free_result(res);
    return has;
}

/* The ALTER TABLE statements of one table's deferred indexes, run on their own connection. */
struct index_job {
    char url[1024];
    int timeout_ms;
    char dst_full[300];
    char **sql, **names;
    size_t n;
    pthread_t thread;
    atomic_bool done;
    int rc;
    char err[1400];
};

static void index_job_free(struct index_job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        free(j->sql[i]);
        free(j->names[i]);
    }
    free(j->sql);
    free(j->names);
    free(j);
}

static void *index_job_run(void *arg)
{
    struct index_job *j = arg;
    ferry_db_t *db = NULL;
    char why[1024];
    j->rc = ferry_db_connect(j->url, "destination", j->timeout_ms, &db, why, sizeof(why));
    if (j->rc)
        snprintf(j->err, sizeof(j->err), "could not add the indexes of \"%s\": %s", j->dst_full,
                 why);
    for (size_t i = 0; !j->rc && i < j->n; i++) {
        int64_t t0 = ferry_wall_ms();
        MYSQL *my = ferry_db_mysql(db);
        /* 1061 duplicate key name: another consumer of the link that owned the table added it */
        if (mysql_real_query(my, j->sql[i], strlen(j->sql[i])) != 0 && mysql_errno(my) != 1061) {
            j->rc = FERRY_ERR_IO;
            snprintf(j->err, sizeof(j->err), "could not add index \"%s\" to \"%s\": %s",
                     j->names[i], j->dst_full, mysql_error(my));
            break;
        }
        ferry_log_info("index added after the full load", "table=%s index=%s ms=%lld", j->dst_full,
                       j->names[i], (long long)(ferry_wall_ms() - t0));
    }
    ferry_db_close(db);
    atomic_store(&j->done, true);
    return NULL;
}

/* Adds ALTER TABLE ... ADD <ix> to j. */
static int index_job_add(struct index_job *j, ctable_t *t, const ferry_indexdef_t *ix,
                         ferry_mysql_flavor_t flavor)
{
    char **sql = realloc(j->sql, (j->n + 1) * sizeof(*sql));
    if (sql)
        j->sql = sql;
    char **names = realloc(j->names, (j->n + 1) * sizeof(*names));
    if (names)
        j->names = names;
    if (!sql || !names)
        return FERRY_ERR_NOMEM;
    char *name = strdup(ix->name);
    char *stmt = NULL;
    if (!name || ferry_mysql_ddl_add_index(t->dst_db, t->dst_name, ix, flavor, &stmt) != 0) {
        free(name);
        return FERRY_ERR_NOMEM;
    }
    j->sql[j->n] = stmt;
    j->names[j->n++] = name;
    return 0;
}

/* The job's end: its error becomes the table's (its rows are complete, replay goes on). */
static void index_job_end(consumer_t *c, ctable_t *t)
{
    struct index_job *j = t->index_job;
    pthread_join(j->thread, NULL);
    if (j->rc) {
        char q[1500];
        ferry_log_error("could not add a deferred index", "table=%s error=%s", t->dst_full,
                        ferry_log_quote(j->err, q, sizeof(q)));
        tables_set_error(c, t, j->err);
    }
    index_job_free(j);
    t->index_job = NULL;
    t->indexed = true;
}

/*
 * Whether t's deferred indexes are there, once every chunk is in: the first
 * call starts building those the destination table lacks (also after a
 * restart: what exists is left alone) on a connection and thread of their
 * own, so the loop goes on feeding the other tables' loaders; t enters
 * catch-up when they are built. A failure is the table's error; its rows
 * are complete and replay goes on.
 */
static bool indexes_ready(consumer_t *c, ctable_t *t)
{
    if (t->indexed)
        return true;
    if (t->index_job) {
        if (!atomic_load(&t->index_job->done))
            return false;
        index_job_end(c, t);
        return true;
    }
    struct index_job *j = calloc(1, sizeof(*j));
    char why[1024] = "out of memory";
    int rc = j ? 0 : FERRY_ERR_NOMEM;
    for (size_t i = 0; !rc && t->def && i < t->def->n_indexes; i++) {
        const ferry_indexdef_t *ix = &t->def->indexes[i];
        if (!index_deferred(c, t, ix))
            continue;
        int has = dest_has_index(c, t, ix->name, why, sizeof(why));
        rc = has < 0 ? has : has ? 0 : index_job_add(j, t, ix, c->flavor);
    }
    if (!rc && j->n) {
        snprintf(j->url, sizeof(j->url), "%s", ferry_conf_get(c->conf, "destination.url"));
        j->timeout_ms = (int)ferry_conf_get_int(c->conf, "connect.timeout.ms");
        snprintf(j->dst_full, sizeof(j->dst_full), "%s", t->dst_full);
        if (pthread_create(&j->thread, NULL, index_job_run, j) == 0) {
            t->index_job = j;
            return false;
        }
        rc = FERRY_ERR_FATAL;
        snprintf(why, sizeof(why), "could not start a thread");
    }
    if (rc) {
        char text[1400];
        snprintf(text, sizeof(text), "could not add the indexes of \"%s\": %s", t->dst_full, why);
        char q[1500];
        ferry_log_error("could not add a deferred index", "table=%s error=%s", t->dst_full,
                        ferry_log_quote(text, q, sizeof(q)));
        tables_set_error(c, t, text);
    }
    index_job_free(j);
    t->indexed = true;
    return true;
}

/*
 * Creates the destination database and table (fresh: the SNAPSHOT_TABLE
 * event is new to the destination; a replayed one was created then, and may
 * have been renamed since). The sink learns the table's columns from each
 * event's writer schema (shape.c).
 */
static int create_dest(consumer_t *c, ctable_t *t, bool fresh, char *errstr, size_t errstr_size)
{
    if (!fresh)
        return 0;
    int has = dest_has_rows(c, t, errstr, errstr_size);
    if (has < 0)
        return has;
    if (has && !c->keep_rows && !rows_are_ours(c, t))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "destination table \"%s\" already holds rows (set "
                             "destination.keep.rows = true to keep them)",
                             t->dst_full);
    ferry_ddl_plan_t plan = {0};
    char why[1024];
    int rc = plan_lean(c, t, &plan, why, sizeof(why));
    if (rc == 0 && (rc = cons_exec(c, plan.create_database, why, sizeof(why))) == 0)
        rc = cons_exec(c, plan.create_table, why, sizeof(why));
    ferry_ddl_plan_free(&plan);
    if (rc != 0)
        return ferry_err_set(errstr, errstr_size, rc == FERRY_ERR_INVALID ? FERRY_ERR_IO : rc,
                             "could not create destination table \"%s\": %s", t->dst_full, why);
    return 0;
}

static void table_free(ctable_t *t)
{
    if (t->index_job) {
        pthread_join(t->index_job->thread, NULL);
        index_job_free(t->index_job);
    }
    ferry_tabledef_destroy(t->def);
    shape_forget(t);
    free(t->src_db);
    free(t->src_name);
    free(t->orig_db);
    free(t->orig_name);
    free(t->q_db);
    free(t->q_name);
    free(t->dst_db);
    free(t->dst_name);
    free(t->last_error);
    free(t);
}

/* A table named db.name at the source (def may be NULL; taken on success). */
static ctable_t *table_new(consumer_t *c, const char *db, const char *name, ferry_tabledef_t *def)
{
    ctable_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    const char *dd, *dn;
    ferry_rename_map_table(c->rename, db, name, &dd, &dn);
    t->src_db = strdup(db);
    t->src_name = strdup(name);
    t->orig_db = strdup(db);
    t->orig_name = strdup(name);
    t->q_db = strdup(db);
    t->q_name = strdup(name);
    t->dst_db = strdup(dd);
    t->dst_name = strdup(dn);
    t->keyless = def && ferry_tabledef_row_key(def) == NULL;
    t->chunks_total = -1;
    t->created_at = -1;
    snprintf(t->src_full, sizeof(t->src_full), "%s.%s", db, name);
    snprintf(t->dst_full, sizeof(t->dst_full), "%s.%s", dd, dn);
    if (!t->src_db || !t->src_name || !t->dst_db || !t->dst_name || !t->orig_db || !t->orig_name ||
        !t->q_db || !t->q_name ||
        ferry_topic_changes(c->prefix, db, name, t->change_topic, sizeof(t->change_topic)) != 0 ||
        ferry_topic_snapshot(c->prefix, db, name, t->snapshot_topic, sizeof(t->snapshot_topic)) !=
            0) {
        table_free(t);
        return NULL;
    }
    t->def = def;
    return t;
}

static int append(consumer_t *c, ctable_t *t)
{
    pthread_mutex_lock(&c->lock);
    if (c->ntables == c->tables_cap) {
        size_t cap = c->tables_cap ? c->tables_cap * 2 : 16;
        ctable_t **n = realloc(c->tables, cap * sizeof(*n));
        if (!n) {
            pthread_mutex_unlock(&c->lock);
            return FERRY_ERR_NOMEM;
        }
        c->tables = n;
        c->tables_cap = cap;
    }
    c->tables[c->ntables++] = t;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/*
 * Adds the table of a SNAPSHOT_TABLE event (takes def, also on failure).
 * fresh: the event is new to the destination, so the table is created, and
 * a table already holding rows is someone else's. Returns FERRY_ERR_INVALID
 * when the link must stop (rows present); other errors leave the table
 * failed and the link going.
 */
int tables_add(consumer_t *c, ferry_tabledef_t *def, bool fresh, char *errstr, size_t errstr_size)
{
    ctable_t *t = table_new(c, def->db, def->name, def);
    if (!t) {
        ferry_tabledef_destroy(def);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    int rc = create_dest(c, t, fresh, errstr, errstr_size);
    if (rc == FERRY_ERR_INVALID) {
        table_free(t);
        return rc;
    }
    t->failed = rc != 0;
    t->phase = rc == 0 ? PHASE_FULL : PHASE_SCHEMA;
    t->last_error = rc != 0 ? strdup(errstr) : NULL;
    status_table_metrics(c, t);
    cons_progress_restore(c, t);
    if (append(c, t) != 0) {
        table_free(t);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    c->subscription_dirty = true;
    ferry_log_info("table added",
                   "table=%s destination=%s phase=%s snapshot_topic=%s "
                   "change_topic=%s",
                   t->src_full, t->dst_full, tables_phase_name(t->phase), t->snapshot_topic,
                   t->change_topic);
    snapshot_recount(c, t);
    return rc;
}

/*
 * Adds a table that a CREATE TABLE statement (at offset of the ddl topic,
 * position at) makes at the source: it has no snapshot and starts empty at
 * at, so its changes at or before at (an older table of that name) are
 * skipped and the later ones go in strictly. It stays in "schema" until the
 * statement ran (ddl.c). def, the definition capture read (may be NULL), is
 * taken. NULL when out of memory.
 */
ctable_t *tables_born(consumer_t *c, const char *db, const char *name, ferry_tabledef_t *def,
                      int64_t offset, const ferry_binlog_pos_t *at)
{
    ctable_t *t = table_new(c, db, name, def);
    if (!t) {
        ferry_tabledef_destroy(def);
        return NULL;
    }
    t->created = true;
    t->created_at = offset;
    t->snapshot_topic[0] = '\0'; /* no snapshot */
    t->chunks_total = 0;
    if (at) {
        t->has_h = t->has_floor = true;
        t->h = t->floor = *at;
    }
    t->phase = PHASE_SCHEMA;
    status_table_metrics(c, t);
    cons_progress_restore(c, t);
    if (append(c, t) != 0) {
        table_free(t);
        return NULL;
    }
    c->subscription_dirty = true;
    ferry_log_info("table created at the source", "table=%s destination=%s offset=%lld",
                   t->src_full, t->dst_full, (long long)offset);
    return t;
}

/* The destination table of t exists already: fine unless it holds rows not the link's. */
static int born_exists(consumer_t *c, ctable_t *t, char *errstr, size_t errstr_size)
{
    int has = dest_has_rows(c, t, errstr, errstr_size);
    if (has < 0)
        return has;
    if (has && !c->keep_rows && !rows_are_ours(c, t))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "destination table \"%s\" already holds rows (set "
                             "destination.keep.rows = true to keep them)",
                             t->dst_full);
    ferry_log_info("destination table exists already, kept", "table=%s", t->dst_full);
    return 0;
}

/*
 * Creates the destination table of a table born from CREATE TABLE: with the
 * statement as rewritten for the destination (sql), which reproduces it
 * exactly at its place among later statements; when there is none
 * (why_no_sql says why) or the destination refuses it (CREATE TABLE ...
 * LIKE a table that is not migrated), from the definition capture read.
 */
int tables_create_born(consumer_t *c, ctable_t *t, const char *sql, const char *why_no_sql,
                       char *errstr, size_t errstr_size)
{
    char why[1024];
    snprintf(why, sizeof(why), "%s", why_no_sql ? why_no_sql : "");
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "CREATE DATABASE IF NOT EXISTS ");
    ferry_mysql_quote_ident(&q, t->dst_db);
    int rc = q.oom ? FERRY_ERR_NOMEM : cons_exec(c, q.buf, why, sizeof(why));
    ferry_strbuf_free(&q);
    if (rc == 0 && sql) {
        rc = cons_exec(c, sql, why, sizeof(why));
        if (rc == 0)
            return 0;
        if (mysql_errno(c->my) == 1050) /* ER_TABLE_EXISTS_ERROR: ran before a crash */
            return born_exists(c, t, errstr, errstr_size);
    }
    if (rc == FERRY_ERR_NOMEM)
        return ferry_err_set(errstr, errstr_size, rc, "out of memory");
    if (!t->def)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                             "could not create destination table \"%s\": %s (and the event "
                             "carries no definition)",
                             t->dst_full, why);
    ferry_log_info("creating the table from its definition", "table=%s reason=\"%s\"", t->dst_full,
                   why);
    return create_dest(c, t, true, errstr, errstr_size);
}

/* Follows DROP TABLE: t ends, its names and change topic are free for a later table. */
void tables_drop(consumer_t *c, ctable_t *t)
{
    pthread_mutex_lock(&c->lock);
    t->dropped = t->failed = true;
    pthread_mutex_unlock(&c->lock);
    tables_set_error(c, t, "dropped at the source");
    ferry_log_info("table dropped", "table=%s destination=%s", t->src_full, t->dst_full);
    c->subscription_dirty = true;
}

/* True when every change partition of t is assigned here, released and quiet. */
static bool changes_idle(consumer_t *c, ctable_t *t, int64_t now)
{
    /* the cheap tests first: counting partitions asks the broker while the topic is missing */
    if (c->batch.first_ms || now - c->last_data_ms < IDLE_MS || now - c->last_assign_ms < IDLE_MS)
        return false;
    int n = tables_change_partitions(c, t, false);
    if (n == 0)
        return false;
    int assigned = 0;
    for (size_t i = 0; i < c->nparts; i++) {
        const part_t *p = &c->parts[i];
        if (strcmp(p->topic, t->change_topic) != 0)
            continue;
        if (p->hold >= 0)
            return false;
        assigned += p->assigned;
    }
    return assigned == (n < 0 ? 0 : n);
}

/*
 * Whether t's change partitions have all been read to their ends (asked
 * of the broker at most once per IDLE_MS; in between, the last answer).
 * Quiet partitions are not proof of being current: a fetch can stall
 * (a broker away) while changes wait in Kafka.
 */
static bool changes_at_end(consumer_t *c, ctable_t *t, int64_t now)
{
    if (t->ends_checked_ms && now - t->ends_checked_ms < IDLE_MS)
        return t->at_end;
    bool at_end = parts_topic_read_to_end(c, t->change_topic);
    /* behind since this check, unless the last check (a moment ago) said so too */
    bool still = !t->at_end && t->ends_checked_ms && now - t->ends_checked_ms <= 2 * IDLE_MS;
    t->ends_checked_ms = ferry_wall_ms();
    if (!at_end && !still)
        t->behind_since_ms = t->ends_checked_ms;
    t->at_end = at_end;
    return at_end;
}

/*
 * A topic's partition count, asked of the broker until known: -1 when the
 * topic does not exist yet, 0 when the cluster could not be asked or listed
 * it with an error (no leader yet). Unless
 * fresh, the answer comes from the cluster's topic list, fetched once per
 * PARTITIONS_ASK_MS for all tables (a table whose change topic does not
 * exist yet, no change so far, is asked about on every turn of the loop),
 * through the dead-letter producer's client.
 */
static int count_partitions(consumer_t *c, const char *topic, int *cached, bool fresh)
{
    if (*cached > 0)
        return *cached;
    int64_t now = ferry_wall_ms();
    if (fresh || !c->topics_ms || now - c->topics_ms >= PARTITIONS_ASK_MS) {
        char err[512];
        ferry_kafka_topic_list_free(&c->topics);
        c->topics_ok = ferry_kafka_producer_topics(c->dlq, 5000, &c->topics, err, sizeof(err)) == 0;
        c->topics_ms = now;
        if (!c->topics_ok)
            ferry_log_debug("could not list topics", "error=\"%s\"", err);
    }
    if (!c->topics_ok)
        return 0;
    /* the producer creates a table's topics when it first writes to them */
    int n = ferry_kafka_topic_list_find(&c->topics, topic);
    *cached = n > 0 ? n : 0;
    return n; /* 0: listed with an error (no leader yet), so unknown */
}

/*
 * The number of partitions of t's change topic (asked until known); -1 when
 * the topic does not exist yet, 0 when it could not be asked. fresh: asked
 * now, not answered from a moment ago (the DDL barrier, which may take "no
 * topic" for "no change before the statement", wants that).
 */
int tables_change_partitions(consumer_t *c, ctable_t *t, bool fresh)
{
    return count_partitions(c, t->change_topic, &t->change_partitions, fresh);
}

/* The same for t's snapshot topic (never fresh). */
int tables_snapshot_partitions(consumer_t *c, ctable_t *t)
{
    return count_partitions(c, t->snapshot_topic, &t->snapshot_partitions, false);
}

/*
 * Follows RENAME TABLE: t is now db.name at the source, its changes come on
 * that name's topic from position at on, and its destination is that name
 * renamed by the project. The destination shape is read again.
 */
int tables_rename(consumer_t *c, ctable_t *t, const char *db, const char *name,
                  const ferry_binlog_pos_t *at)
{
    const char *dd, *dn;
    ferry_rename_map_table(c->rename, db, name, &dd, &dn);
    char *sdb = strdup(db), *sn = strdup(name), *ddb = strdup(dd), *dname = strdup(dn);
    char topic[CONSUMER_TOPIC_MAX];
    if (!sdb || !sn || !ddb || !dname ||
        ferry_topic_changes(c->prefix, db, name, topic, sizeof(topic)) != 0) {
        free(sdb);
        free(sn);
        free(ddb);
        free(dname);
        return FERRY_ERR_NOMEM;
    }
    ferry_log_info("table renamed", "table=%s to=%s.%s destination=%s.%s change_topic=%s",
                   t->src_full, db, name, dd, dn, topic);
    pthread_mutex_lock(&c->lock);
    free(t->src_db);
    free(t->src_name);
    free(t->dst_db);
    free(t->dst_name);
    t->src_db = sdb;
    t->src_name = sn;
    t->dst_db = ddb;
    t->dst_name = dname;
    snprintf(t->src_full, sizeof(t->src_full), "%s.%s", db, name);
    snprintf(t->dst_full, sizeof(t->dst_full), "%s.%s", dd, dn);
    snprintf(t->change_topic, sizeof(t->change_topic), "%s", topic);
    pthread_mutex_unlock(&c->lock);
    t->change_partitions = 0;
    if (at) {
        t->has_floor = true;
        t->floor = *at;
    }
    shape_forget(t);
    c->subscription_dirty = true;
    return 0;
}

/*
 * The lag of an incremental table whose partitions are quiet. Read to the
 * end, nothing of it waits here: 0 (whether capture itself is behind, the
 * producer's status says). Not read to the end, changes wait in Kafka that
 * this consumer has not fetched: the lag is at least how long that has been
 * known, plus the quiet second before, so that nobody takes a stalled
 * fetch for being caught up.
 */
static void quiet_lag(consumer_t *c, ctable_t *t, int64_t now)
{
    bool at_end = changes_at_end(c, t, now);
    double lag = at_end ? 0 : (double)(now - t->behind_since_ms + IDLE_MS) / 1000.0;
    /* read to the end with nothing applied yet is a lag of 0 too, not an unknown one */
    if (t->has_lag && t->lag_s == lag)
        return;
    pthread_mutex_lock(&c->lock);
    t->lag_s = lag;
    t->has_lag = true;
    ferry_gauge_set_double(t->m_lag, lag);
    pthread_mutex_unlock(&c->lock);
}

static void enter_catchup(consumer_t *c, ctable_t *t)
{
    tables_change_partitions(c, t, true);
    tables_set_phase(c, t, PHASE_CATCHUP);
}

/* Samples t's applied counts for the rates /status shows (once a second). */
static void sample_rates(consumer_t *c, ctable_t *t, int64_t now)
{
    if (now - t->rate_ms < 1000 && now >= t->rate_ms)
        return;
    t->rate_ms = now;
    pthread_mutex_lock(&c->lock);
    uint64_t v[3] = {t->rows_applied, t->events_applied, t->bytes_applied};
    ferry_rate_sample(&t->rate, now, v, 3);
    pthread_mutex_unlock(&c->lock);
}

/* Moves tables on when their conditions hold (see the file comment). */
void tables_advance(consumer_t *c)
{
    int64_t now = ferry_wall_ms();
    for (size_t i = 0; i < c->ntables; i++) {
        ctable_t *t = c->tables[i];
        sample_rates(c, t, now);
        if (t->failed || !t->owned)
            continue;
        if (t->phase == PHASE_FULL && t->has_h && t->chunks_applied >= t->chunks_total &&
            indexes_ready(c, t))
            enter_catchup(c, t);
        else if (t->phase == PHASE_CATCHUP && changes_idle(c, t, now) && changes_at_end(c, t, now))
            tables_set_phase(c, t, PHASE_INCREMENTAL);
        else if (t->phase == PHASE_INCREMENTAL && changes_idle(c, t, now))
            quiet_lag(c, t, now);
    }
}

void tables_destroy(consumer_t *c)
{
    for (size_t i = 0; i < c->ntables; i++)
        table_free(c->tables[i]);
    free(c->tables);
    c->tables = NULL;
    c->ntables = 0;
}
