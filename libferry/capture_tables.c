/*
 * capture_tables.c - what capture knows about each source table: whether it
 * is selected, which of its columns travel, and the Avro schemas, codecs
 * and wire headers of its change topic.
 *
 * Row values are decoded by binlog.c with the types TABLE_MAP announces, so
 * the schema is built from the binlog's column descriptions. The key is the
 * one the snapshot uses (mysql_schema.h: the primary key, else a NOT NULL
 * unique key) so that snapshot and change events of a table share one Key
 * schema; it and, when the binlog has no COLUMN_NAME metadata
 * (binlog_row_metadata is not FULL), the column names and signedness come
 * from information_schema. A schema is rebuilt after DDL names its table or
 * when a TABLE_MAP's column types or metadata differ from those it was
 * built from.
 */
#include "capture_int.h"

#include "err.h"
#include "link_map.h"
#include "log.h"
#include "topics.h"

#include <arpa/inet.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static unsigned hash_name(const char *db, const char *name)
{
    unsigned h = 2166136261u;
    for (const char *p = db; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ '.') * 16777619u;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % CAP_TABLE_BUCKETS;
}

static cap_table_t *find(ferry_capture_t *c, const char *db, const char *name)
{
    for (cap_table_t *t = c->buckets[hash_name(db, name)]; t; t = t->hnext)
        if (strcmp(t->db, db) == 0 && strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

/* Drops the schema part of t (kept when only the selection is known). */
static void table_clear(cap_table_t *t)
{
    free(t->types);
    free(t->metas);
    free(t->keep);
    free(t->widen);
    t->types = NULL;
    t->metas = NULL;
    t->keep = NULL;
    t->widen = NULL;
    t->ncols = t->n_keep = 0;
    t->one_partition = false;
    ferry_table_destroy(t->table);
    t->table = NULL;
    ferry_avro_schema_release(&t->schemas);
    ferry_avro_codec_destroy(t->env);
    ferry_avro_codec_destroy(t->key);
    t->env = t->key = NULL;
    t->valid = false;
}

int ferry_capture_table_get(ferry_capture_t *c, const char *db, const char *name, cap_table_t **out,
                            char *errstr, size_t errstr_size)
{
    cap_table_t *t = find(c, db, name);
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (!t || !(t->db = strdup(db)) || !(t->name = strdup(name))) {
            if (t)
                free(t->db);
            free(t);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        }
        t->selected = ferry_link_table_selected(c->project, db, name);
        unsigned h = hash_name(db, name);
        t->hnext = c->buckets[h];
        c->buckets[h] = t;
        pthread_mutex_lock(&c->mu);
        *c->tables_tail = t;
        c->tables_tail = &t->next;
        pthread_mutex_unlock(&c->mu);
    }
    *out = t;
    if (t->selected && !t->filter_parsed) {
        int rc = ferry_row_filter_from_conf(c->project, db, name, &t->filter, errstr, errstr_size);
        if (rc != 0)
            return rc;
        t->filter_parsed = true;
    }
    return 0;
}

void ferry_capture_table_invalidate(ferry_capture_t *c, const char *db, const char *name)
{
    cap_table_t *t = find(c, db, name);
    if (t)
        t->valid = false;
}

void ferry_capture_tables_free(ferry_capture_t *c)
{
    cap_table_t *t = c->tables;
    while (t) {
        cap_table_t *next = t->next;
        table_clear(t);
        ferry_row_filter_destroy(t->filter);
        free(t->db);
        free(t->name);
        free(t);
        t = next;
    }
    memset(c->buckets, 0, sizeof(c->buckets));
    c->tables = NULL;
    c->tables_tail = &c->tables;
}

int ferry_capture_read_tabledef(ferry_capture_t *c, const char *db, const char *name,
                                ferry_tabledef_t **out, char *errstr, size_t errstr_size)
{
    int rc = FERRY_ERR_IO;
    for (int attempt = 0; attempt < 2 && rc == FERRY_ERR_IO; attempt++) {
        if (!c->meta) {
            rc = ferry_db_connect(c->source_url, "source", c->timeout_ms, &c->meta, errstr,
                                  errstr_size);
            if (rc != 0)
                return rc == FERRY_ERR_AUTH ? rc : FERRY_ERR_RETRIABLE;
        }
        rc = ferry_mysql_schema_read_table(ferry_db_mysql(c->meta), c->flavor, db, name, out,
                                           errstr, errstr_size);
        if (rc == FERRY_ERR_IO) { /* perhaps the session was lost: once more on a new one */
            ferry_db_close(c->meta);
            c->meta = NULL;
        }
    }
    return rc == FERRY_ERR_IO ? FERRY_ERR_RETRIABLE : rc;
}

static bool same_map(const cap_table_t *t, const ferry_binlog_table_t *bt)
{
    if (!t->valid || t->ncols != bt->ncols)
        return false;
    for (size_t i = 0; i < bt->ncols; i++)
        if (t->types[i] != bt->cols[i].type || t->metas[i] != bt->cols[i].meta)
            return false;
    return true;
}

/* Column i's name: the binlog's, or information_schema's when the binlog has none. */
static const char *column_name(const ferry_binlog_table_t *bt, const ferry_tabledef_t *def,
                               size_t i)
{
    if (!bt->names_missing)
        return ferry_table_column(bt->table, i)->name;
    return def->columns[i].col.name;
}

/* Builds t->keep, t->widen and t->table from the table map (and def when given). */
static int build_columns(ferry_capture_t *c, cap_table_t *t, const ferry_binlog_table_t *bt,
                         const ferry_tabledef_t *def, char *errstr, size_t errstr_size)
{
    ferry_table_name_t tn = {t->db, t->name};
    ferry_rename_map_t *filters = NULL;
    int rc = ferry_link_map_new(c->project, &tn, 1, &filters, errstr, errstr_size);
    if (rc != 0)
        return rc;
    t->keep = calloc(bt->ncols + 1, sizeof(*t->keep));
    t->widen = calloc(bt->ncols + 1, 1);
    t->table = ferry_table_new(t->db, t->name);
    if (!t->keep || !t->widen || !t->table) {
        ferry_rename_map_destroy(filters);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < bt->ncols && rc == 0; i++) {
        const char *name = column_name(bt, def, i);
        ferry_column_t col = *ferry_table_column(bt->table, i);
        col.name = name;
        int d = def ? ferry_tabledef_find_column(def, name) : -1;
        if (d >= 0)
            col.pk_pos = def->columns[d].col.pk_pos;
        if (ferry_rename_map_column_dropped(filters, t->db, t->name, name)) {
            if (col.pk_pos)
                rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                   "could not filter the columns of `%s`.`%s`: column `%s` is "
                                   "part of the key rows are matched on and must be kept",
                                   t->db, t->name, name);
            continue;
        }
        uint8_t widen = 0;
        /* without SIGNEDNESS metadata integers decode as signed; the definition decides */
        if ((bt->cols[i].flags & FERRY_BINLOG_COL_SIGNEDNESS_UNKNOWN) && d >= 0 &&
            col.type == FERRY_TYPE_INT && def->columns[d].col.type == FERRY_TYPE_UINT) {
            col.type = FERRY_TYPE_UINT;
            col.flags |= FERRY_COL_UNSIGNED;
            widen = (uint8_t)(col.length ? col.length : 8);
        }
        if (d >= 0 && (col.type == FERRY_TYPE_BYTES || col.type == FERRY_TYPE_STRING)) {
            const char *dt = def->columns[d].data_type;
            if (dt && !strcasecmp(dt, "uuid")) {
                col.type = FERRY_TYPE_UUID;
                widen = CAP_FIX_UUID;
            } else if (dt && (!strcasecmp(dt, "inet6") || !strcasecmp(dt, "inet4"))) {
                col.type = FERRY_TYPE_STRING;
                widen = CAP_FIX_INET;
            }
        }
        t->keep[t->n_keep] = i;
        t->widen[t->n_keep] = widen;
        t->n_keep++;
        rc = ferry_table_add_column(t->table, &col, errstr, errstr_size);
    }
    ferry_rename_map_destroy(filters);
    if (rc == 0 && t->n_keep == 0)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "could not capture `%s`.`%s`: the column filter leaves no column", t->db,
                           t->name);
    return rc;
}

/* Runs sql on the metadata session: its one value as 1, 0 or -1 (NULL). */
static int ask_source(void *arg, const char *sql, size_t len, int *result, char *errstr,
                      size_t errstr_size)
{
    ferry_capture_t *c = arg;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!c->meta && ferry_db_connect(c->source_url, "source", c->timeout_ms, &c->meta, errstr,
                                         errstr_size) != 0)
            return FERRY_ERR_RETRIABLE;
        MYSQL *my = ferry_db_mysql(c->meta);
        MYSQL_RES *res = NULL;
        MYSQL_ROW row = NULL;
        if (mysql_real_query(my, sql, len) == 0 && (res = mysql_store_result(my)) &&
            (row = mysql_fetch_row(res))) {
            *result = row[0] ? (atoi(row[0]) != 0) : -1;
            mysql_free_result(res);
            return 0;
        }
        mysql_free_result(res);
        unsigned err = mysql_errno(my);
        ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                      "could not evaluate a row filter on the source: %s", mysql_error(my));
        if (err && err < 2000) /* the server answered: asking again will not help */
            return FERRY_ERR_IO;
        ferry_db_close(c->meta); /* perhaps the session was lost: once more on a new one */
        c->meta = NULL;
    }
    return FERRY_ERR_RETRIABLE;
}

int ferry_capture_table_match(ferry_capture_t *c, cap_table_t *t, const ferry_row_t *row,
                              char *errstr, size_t errstr_size)
{
    return ferry_row_filter_match(t->filter, row, ask_source, c, errstr, errstr_size);
}

/*
 * Creates the change topic with the project's partition count rather than
 * leaving it to the broker's auto-creation, whose count (num.partitions,
 * often 1) ferry does not choose. An existing topic is kept as it is. Asked
 * once per table through capture's own producer; if the broker does not
 * answer, capture goes on and the first message auto-creates the topic
 * (with a warning), rather than holding every change back.
 */
static int make_topic(ferry_capture_t *c, const char *topic)
{
    const char *del[] = {"cleanup.policy", "delete", NULL};
    int parts = (int)ferry_conf_get_int(c->project, "topics.partitions");
    int rf = (int)ferry_conf_get_int(c->project, "topics.replication.factor");
    char err[512];
    int rc = c->producer
                 ? ferry_kafka_producer_topic_create(c->producer, topic, parts, rf, del,
                                                     c->timeout_ms, err, sizeof(err))
                 : ferry_kafka_topic_create(ferry_conf_kafka_props(c->project), topic, parts, rf,
                                            del, 1, c->timeout_ms, err, sizeof(err));
    if (rc != 0)
        ferry_log_warn("could not create the change topic; the broker's auto-creation will make it",
                       "topic=%s error=\"%s\"", topic, err);
    return rc;
}

static void create_topic(ferry_capture_t *c, cap_table_t *t)
{
    int rc = make_topic(c, t->topic);
    /*
     * The producer learns the topic's leaders now: without them it holds the
     * table's first changes until its next metadata refresh (0.7 s seen
     * after a restart), and the lag with them.
     */
    if (rc == 0 && c->producer)
        ferry_kafka_producer_learn_topic(c->producer, t->topic, c->timeout_ms);
    t->topic_ready = true;
}

/*
 * Makes the change topic of a table a DDL statement creates or renames to,
 * before the statement reaches the ddl topic: the consumer asks for the
 * topic's partitions when it reads the statement, and a broker that creates
 * topics on request (ferry-devkafka, Kafka's auto.create.topics.enable)
 * would otherwise make it with its own partition count, not
 * topics.partitions.
 */
void ferry_capture_change_topic_make(ferry_capture_t *c, const char *db, const char *table)
{
    char topic[600];
    if (ferry_topic_changes(c->prefix, db, table, topic, sizeof(topic)) == 0)
        (void)make_topic(c, topic);
}

/* Schemas, codecs and wire headers of t->table. */
static int build_schemas(ferry_capture_t *c, cap_table_t *t, char *errstr, size_t errstr_size)
{
    int rc = ferry_avro_schema_generate(t->table, c->prefix, &t->schemas, errstr, errstr_size);
    if (rc == 0)
        rc = ferry_avro_codec_new(t->schemas.envelope_json, strlen(t->schemas.envelope_json),
                                  &t->env, errstr, errstr_size);
    if (rc == 0 && t->schemas.key_json)
        rc = ferry_avro_codec_new(t->schemas.key_json, strlen(t->schemas.key_json), &t->key, errstr,
                                  errstr_size);
    if (rc == 0 && ferry_topic_changes(c->prefix, t->db, t->name, t->topic, sizeof(t->topic)) != 0)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "could not name the change topic of `%s`.`%s`: name too long", t->db,
                           t->name);
    if (rc == 0 && !t->topic_ready)
        create_topic(c, t);
    if (rc == 0)
        rc = ferry_registry_header_for(c->registry, t->topic, 0, t->schemas.envelope_json, t->vhdr,
                                       &t->vhdr_len, errstr, errstr_size);
    if (rc == 0 && t->key)
        rc = ferry_registry_header_for(c->registry, t->topic, 1, t->schemas.key_json, t->khdr,
                                       &t->khdr_len, errstr, errstr_size);
    return rc;
}

int ferry_capture_table_prepare(ferry_capture_t *c, cap_table_t *t, const ferry_binlog_table_t *bt,
                                char *errstr, size_t errstr_size)
{
    if (same_map(t, bt))
        return 0;
    table_clear(t);
    ferry_tabledef_t *def = NULL;
    int rc = ferry_capture_read_tabledef(c, t->db, t->name, &def, errstr, errstr_size);
    if (rc == FERRY_ERR_NOT_FOUND && !bt->names_missing)
        rc = 0; /* dropped since: the binlog's names and key will do */
    if (rc == 0 && def && bt->names_missing && def->n_columns != bt->ncols)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                           "could not name the columns of `%s`.`%s`: the binlog has no column "
                           "names (binlog_row_metadata is not FULL) and its %zu columns differ "
                           "from the %zu information_schema has now; set "
                           "binlog_row_metadata=FULL",
                           t->db, t->name, bt->ncols, def->n_columns);
    if (rc == 0)
        rc = build_columns(c, t, bt, def, errstr, errstr_size);
    if (rc == 0)
        rc = ferry_link_row_filter_bind(t->filter, t->table, def, errstr, errstr_size);
    /*
     * A unique key besides the row key: all changes to one partition, in
     * source order (ferry_tabledef_other_unique_key). The definition is read
     * now, so a backlog read after the key was dropped is spread again from
     * then on; the consumer's DDL barrier keeps the switch itself in order.
     */
    if (rc == 0)
        t->one_partition = def && ferry_tabledef_other_unique_key(def);
    ferry_tabledef_destroy(def);
    if (rc == 0)
        rc = build_schemas(c, t, errstr, errstr_size);
    if (rc == 0) {
        t->types = malloc(bt->ncols + 1);
        t->metas = malloc((bt->ncols + 1) * sizeof(*t->metas));
        if (!t->types || !t->metas)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    if (rc != 0) {
        table_clear(t);
        return rc;
    }
    for (size_t i = 0; i < bt->ncols; i++) {
        t->types[i] = bt->cols[i].type;
        t->metas[i] = bt->cols[i].meta;
    }
    t->ncols = bt->ncols;
    t->valid = true;
    ferry_log_info("capturing table", "db=%s table=%s columns=%zu kept=%zu topic=%s key=%s", t->db,
                   t->name, bt->ncols, t->n_keep, t->topic, t->key ? "yes" : "none");
    return 0;
}

/* v (binary storage) as the UUID or address text CAP_FIX_* says; -1 when it cannot be. */
static int fix_binary(uint8_t fix, ferry_value_t *v, ferry_arena_t *arena)
{
    const void *bytes = v->v.s.ptr;
    size_t len = v->v.s.len;
    if (fix == CAP_FIX_UUID) {
        if (len != 16)
            return -1;
        uint8_t uuid[16];
        memcpy(uuid, bytes, 16);
        memcpy(v->v.uuid, uuid, 16);
        return 0;
    }
    char *text = ferry_arena_alloc(arena, INET6_ADDRSTRLEN);
    if (!text || (len != 4 && len != 16) ||
        !inet_ntop(len == 4 ? AF_INET : AF_INET6, bytes, text, INET6_ADDRSTRLEN))
        return -1;
    v->v.s.ptr = text;
    v->v.s.len = strlen(text);
    return 0;
}

ferry_row_t *ferry_capture_table_project(const cap_table_t *t, const ferry_row_t *src,
                                         ferry_arena_t *arena)
{
    ferry_row_t *row = ferry_row_new(arena, t->n_keep);
    if (!row)
        return NULL;
    for (size_t k = 0; k < t->n_keep; k++) {
        ferry_value_t v = src->values[t->keep[k]];
        if ((t->widen[k] == CAP_FIX_UUID || t->widen[k] == CAP_FIX_INET) && !v.is_null) {
            if (fix_binary(t->widen[k], &v, arena) != 0)
                return NULL;
        } else if (t->widen[k] && !v.is_null && t->widen[k] < 8)
            v.v.u = (uint64_t)v.v.i & ((UINT64_C(1) << (8 * t->widen[k])) - 1);
        else if (t->widen[k] && !v.is_null)
            v.v.u = (uint64_t)v.v.i;
        row->values[k] = v;
    }
    return row;
}
