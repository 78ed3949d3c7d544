/*
 * ddl.c - the link's ddl topic: table definitions, high watermarks and
 * schema changes.
 *
 * Every consumer reads the whole ddl topic (one partition) with a handle of
 * its own, outside the group, from the beginning: the SNAPSHOT_TABLE events
 * are the list of tables, so each instance needs them all. The offset up to
 * which events were already handled is kept in ferry_offsets like any other
 * (it rides along with the next batch), so after a restart events before it
 * only rebuild state: no keep.rows check on tables this link created, and no
 * second run of a DDL statement.
 *
 * DDL statements (CREATE/ALTER/DROP/RENAME/TRUNCATE ...) are rewritten for
 * the destination (renames) and run in ddl-topic order, after the events
 * already fetched have been applied. They are not yet ordered against each
 * table's change stream by binlog position (see the report's limitation).
 * A statement that cannot be rewritten or fails is logged and shown in
 * /status; the link goes on.
 */
#include "consumer.h"

#include "ddl_event.h"
#include "err.h"
#include "log.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ddl_open(consumer_t *c, char *errstr, size_t errstr_size)
{
    char group[400];
    snprintf(group, sizeof(group), "%s.ddl-reader", c->group);
    if (ferry_kafka_consumer_new(&c->ddl, group, c->kprops, NULL, errstr, errstr_size) != 0)
        return FERRY_ERR_FATAL;
    ferry_kafka_tp_t tp = {c->ddl_topic, 0, FERRY_KAFKA_OFFSET_BEGINNING};
    if (ferry_kafka_consumer_assign(c->ddl, &tp, 1, errstr, errstr_size) != 0)
        return FERRY_ERR_FATAL;
    if (!parts_get(c, c->ddl_topic, 0))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    return 0;
}

static int decode(consumer_t *c, const ferry_kafka_msg_t *m, ferry_arena_t *a,
                  ferry_ddl_event_t *ev, char *errstr, size_t errstr_size)
{
    ferry_wire_info_t info;
    const char *json;
    if (!m->value || ferry_wire_parse(m->value, m->value_len, &info) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "the message has neither Confluent nor single-object framing");
    int rc = ferry_registry_schema_for(c->reg, &info, &json, errstr, errstr_size);
    if (rc == 0)
        rc = ferry_ddl_event_decode(json, info.body, info.body_len, a, ev, errstr, errstr_size);
    return rc;
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
    if (tables_find(c, def->db, def->name)) {
        ferry_log_info("table announced again, keeping the first definition", "table=%s.%s",
                       def->db, def->name);
        ferry_tabledef_destroy(def);
        return;
    }
    int rc = tables_add(c, def, fresh, err, sizeof(err));
    if (rc == FERRY_ERR_INVALID || rc == FERRY_ERR_NOMEM)
        cons_fail(c, "%s", err);
    else if (rc != 0)
        ferry_log_error("table left out", "table=%s.%s error=\"%s\"", ev->db, ev->table, err);
}

static void snapshot_done(consumer_t *c, const ferry_ddl_event_t *ev)
{
    ctable_t *t = ev->table ? tables_find(c, ev->db, ev->table) : NULL;
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

/* Takes the definition a CREATE/ALTER event carries for t, and re-registers t. */
static void redefine(consumer_t *c, ctable_t *t, const char *json)
{
    char err[1024];
    ferry_tabledef_t *def;
    ferry_table_t *cols;
    if (ferry_tabledef_from_json(json, strlen(json), &def, err, sizeof(err)) != 0) {
        status_note_ddl_error(c, t, "(table_definition)", err);
        return;
    }
    if (ferry_tabledef_to_table(def, &cols, err, sizeof(err)) != 0) {
        ferry_tabledef_destroy(def);
        status_note_ddl_error(c, t, "(table_definition)", err);
        return;
    }
    ferry_mysql_sink_table_t st = {.db = t->dst_db, .table = t->dst_name, .columns = cols};
    int id = ferry_mysql_sink_add_table(c->sink, &st, err, sizeof(err));
    if (id < 0) {
        ferry_table_destroy(cols);
        ferry_tabledef_destroy(def);
        status_note_ddl_error(c, t, "(table_definition)", err);
        return;
    }
    ferry_tabledef_destroy(t->def);
    ferry_table_destroy(t->cols);
    t->def = def;
    t->keyless = ferry_tabledef_row_key(def) == NULL;
    t->cols = cols;
    t->sink_id = id;
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

static void statement(consumer_t *c, const ferry_ddl_event_t *ev, bool fresh)
{
    ctable_t *t = ev->table ? tables_find(c, ev->db, ev->table) : NULL;
    if (!fresh) {
        if (t && ev->table_definition)
            redefine(c, t, ev->table_definition);
        return;
    }
    if (batch_flush(c) != 0)
        return;
    ferry_ddl_rewrite_t rw;
    memset(&rw, 0, sizeof(rw));
    char err[1024];
    int rc = ferry_mysql_ddl_rewrite(ev->default_db, ev->statement, strlen(ev->statement),
                                     mode_flags(ev->sql_mode), c->rename, NULL, NULL, &rw, err,
                                     sizeof(err));
    if (rc == 0 && !rw.sql)
        ferry_log_info("DDL statement skipped", "statement=\"%.200s\" reason=\"%s\"", ev->statement,
                       rw.skip_reason ? rw.skip_reason : "");
    else if (rc == 0)
        rc = cons_exec(c, rw.sql, err, sizeof(err));
    if (rc != 0) {
        status_note_ddl_error(c, t, ev->statement, err);
    } else if (rw.sql) {
        ferry_log_info("DDL statement applied", "statement=\"%.200s\"", rw.sql);
        pthread_mutex_lock(&c->lock);
        c->ddl_applied++;
        pthread_mutex_unlock(&c->lock);
        if (t && ev->table_definition)
            redefine(c, t, ev->table_definition);
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
    if (decode(c, m, a, &ev, err, sizeof(err)) != 0) {
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
        statement(c, &ev, fresh);
    batch_skip(c, p, m);
    if (fresh && strcmp(ev.kind, "SNAPSHOT_TABLE") && strcmp(ev.kind, "SNAPSHOT_DONE"))
        batch_flush(c); /* record at once that the statement ran */
}

/* Handles every ddl event fetched so far. */
void ddl_drain(consumer_t *c)
{
    ferry_arena_t *a = ferry_arena_new(0);
    if (!a) {
        cons_fail(c, "out of memory");
        return;
    }
    for (int i = 0; i < 1000 && !c->fatal; i++) {
        ferry_kafka_msg_t *m = NULL;
        char err[1024];
        int rc = ferry_kafka_consumer_poll(c->ddl, 0, &m, err, sizeof(err));
        if (rc == FERRY_ERR_FATAL)
            cons_fail(c, "%s", err);
        else if (rc != 0)
            ferry_log_warn("ddl reader error, retrying", "topic=%s error=\"%s\"", c->ddl_topic,
                           err);
        if (!m)
            break;
        c->ddl_last_ms = cons_now_ms();
        handle(c, m, a);
        ferry_arena_reset(a);
    }
    ferry_arena_destroy(a);
}
