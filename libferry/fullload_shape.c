/*
 * fullload_shape.c - the announced shape a full-load worker publishes a
 * table's rows in, and where and how to read them now (fullload_shape.h).
 */
#include "fullload_shape.h"

#include "ddl_event.h"
#include "err.h"
#include "kafka.h"
#include "log.h"
#include "strbuf.h"
#include "wire.h"

#include <mysql.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- following the table on the ddl topic ------------------------------ */

typedef struct {
    ferry_registry_t *registry;
    ferry_arena_t *arena;
    char name[600];   /* "db.table" as the ddl events spell it, followed through renames */
    bool announced;   /* its SNAPSHOT_TABLE was seen */
    bool dropped;     /* a DROP TABLE of the followed name came after it */
    char *definition; /* the announced table_definition (malloc'd) */
    char errstr[512];
} follow_t;

static bool names_table(const ferry_ddl_event_t *ev, const char *name)
{
    for (size_t i = 0; i < ev->n_tables; i++)
        if (strcmp(ev->tables[i], name) == 0)
            return true;
    return false;
}

static int follow_one(void *arg, const ferry_kafka_msg_t *msg)
{
    follow_t *f = arg;
    ferry_ddl_event_t ev;
    ferry_arena_reset(f->arena);
    if (ferry_ddl_event_from_message(f->registry, msg->value, msg->value_len, f->arena, &ev,
                                     f->errstr, sizeof(f->errstr)) != 0)
        return 0; /* not ours to judge: the consumer reports bad events */
    if (f->dropped || !ev.kind)
        return 0;
    if (!f->announced) {
        char key[600];
        snprintf(key, sizeof(key), "%s.%s", ev.db ? ev.db : "", ev.table ? ev.table : "");
        if (strcmp(ev.kind, "SNAPSHOT_TABLE") == 0 && strcmp(key, f->name) == 0 &&
            ev.table_definition) {
            f->announced = true;
            if (!(f->definition = strdup(ev.table_definition)))
                return FERRY_ERR_NOMEM;
        }
        return 0;
    }
    if (strcmp(ev.kind, "DROP_TABLE") == 0 && names_table(&ev, f->name)) {
        f->dropped = true;
    } else if (strcmp(ev.kind, "RENAME_TABLE") == 0 && ev.n_tables % 2 == 0) {
        /* a TO b, c TO d, ... in order: a chain moves the table on */
        for (size_t i = 0; i + 1 < ev.n_tables; i += 2)
            if (strcmp(ev.tables[i], f->name) == 0)
                snprintf(f->name, sizeof(f->name), "%s", ev.tables[i + 1]);
    } else if (ev.renamed_to && ev.n_tables > 0 && strcmp(ev.tables[0], f->name) == 0) {
        snprintf(f->name, sizeof(f->name), "%s", ev.renamed_to);
    }
    return 0;
}

/* Splits "db.table" at the dot after db (the names the event was built from). */
static int split_name(const char *full, const char *db, char **out_db, char **out_table)
{
    size_t n = strlen(db);
    const char *dot = strncmp(full, db, n) == 0 && full[n] == '.' ? full + n : strchr(full, '.');
    if (!dot)
        return FERRY_ERR_INVALID;
    *out_db = strndup(full, (size_t)(dot - full));
    *out_table = strdup(dot + 1);
    return *out_db && *out_table ? 0 : FERRY_ERR_NOMEM;
}

/* ---- the column signature ------------------------------------------------ */

static void put_literal(MYSQL *conn, ferry_strbuf_t *sb, const char *s)
{
    size_t n = strlen(s);
    char *esc = malloc(2 * n + 1);
    if (!esc) {
        sb->oom = true;
        return;
    }
    mysql_real_escape_string(conn, esc, s, (unsigned long)n);
    ferry_strbuf_printf(sb, "'%s'", esc);
    free(esc);
}

int ferry_fullload_shape_signature(MYSQL *conn, const char *db, const char *table, char **out,
                                   unsigned *server_errno, char *errstr, size_t errstr_size)
{
    *out = NULL;
    *server_errno = 0;
    ferry_strbuf_t sql = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&sql,
                      "SELECT GROUP_CONCAT(CONCAT_WS(' ', COLUMN_NAME, COLUMN_TYPE, "
                      "IS_NULLABLE, IFNULL(COLLATION_NAME, '-')) ORDER BY ORDINAL_POSITION "
                      "SEPARATOR '\\n') FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
    put_literal(conn, &sql, db);
    ferry_strbuf_puts(&sql, " AND TABLE_NAME = ");
    put_literal(conn, &sql, table);
    if (sql.oom) {
        ferry_strbuf_free(&sql);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    int rc = 0;
    MYSQL_RES *res = NULL;
    if (mysql_real_query(conn, sql.buf, sql.len) != 0 || !(res = mysql_store_result(conn))) {
        *server_errno = mysql_errno(conn);
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                           "could not read the columns of `%s`.`%s`: %s", db, table,
                           mysql_error(conn));
    }
    ferry_strbuf_free(&sql);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (row && row[0] && !(*out = strdup(row[0])))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    mysql_free_result(res);
    return rc;
}

/* ---- matching the announced columns to the source's ------------------------ */

static bool same_type(const ferry_coldef_t *a, const ferry_coldef_t *b)
{
    return a->col.type == b->col.type && (a->col.flags == b->col.flags) &&
           strcasecmp(a->column_type ? a->column_type : "", b->column_type ? b->column_type : "") ==
               0 &&
           strcasecmp(a->collation ? a->collation : "", b->collation ? b->collation : "") == 0;
}

/* Fills s->sel, s->sel_of and s->changed from s->pub_def and s->cur_def. */
static int shape_match(ferry_fullload_shape_t *s, char *errstr, size_t errstr_size)
{
    const ferry_tabledef_t *p = s->pub_def, *c = s->cur_def;
    size_t np = ferry_table_ncolumns(s->pub);
    s->sel_of = calloc(np + 1, sizeof(*s->sel_of));
    s->changed = calloc(np + 1, sizeof(*s->changed));
    s->sel = ferry_table_new(s->src_db, s->src_table);
    if (!s->sel_of || !s->changed || !s->sel)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    s->reshaped = strcmp(s->src_db, p->db) != 0 || strcmp(s->src_table, p->name) != 0 ||
                  c->n_columns != p->n_columns;
    size_t nsel = 0;
    for (size_t i = 0; i < np; i++) {
        ferry_column_t col = *ferry_table_column(s->pub, i);
        int j = ferry_tabledef_find_column(c, col.name);
        /* a column renamed in place: the source's column there is new to the announcement */
        if (j < 0 && i < c->n_columns && ferry_tabledef_find_column(p, c->columns[i].col.name) < 0)
            j = (int)i;
        if (j < 0) {
            s->sel_of[i] = FERRY_FULLLOAD_SHAPE_GONE;
            s->reshaped = true;
            if (col.pk_pos)
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                     "could not read `%s`.`%s`: key column `%s` is gone from the "
                                     "source table",
                                     s->src_db, s->src_table, col.name);
            continue;
        }
        s->changed[i] = !same_type(&p->columns[i], &c->columns[j]);
        s->reshaped |=
            s->changed[i] || strcmp(col.name, c->columns[j].col.name) != 0 || (size_t)j != i;
        col.name = c->columns[j].col.name;
        int rc = ferry_table_add_column(s->sel, &col, errstr, errstr_size);
        if (rc)
            return rc;
        s->sel_of[i] = nsel++;
    }
    return 0;
}

int ferry_fullload_shape_load(MYSQL *conn, ferry_mysql_flavor_t flavor,
                              const ferry_fullload_shape_src_t *src, const char *db,
                              const char *table, ferry_fullload_shape_t *out, char *errstr,
                              size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    follow_t f = {.registry = src->registry, .arena = ferry_arena_new(0)};
    if (!f.arena)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    snprintf(f.name, sizeof(f.name), "%s.%s", db, table);
    char topic[300], why[512];
    snprintf(topic, sizeof(topic), "%s.ddl", src->prefix);
    int rc = ferry_kafka_read_partition(src->kafka_props, topic, 0, src->timeout_ms, follow_one, &f,
                                        why, sizeof(why));
    ferry_arena_destroy(f.arena);
    if (rc) {
        free(f.definition);
        return rc == FERRY_ERR_NOMEM ? ferry_err_set(errstr, errstr_size, rc, "out of memory")
                                     : ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                                                     "could not read the ddl topic: %s", why);
    }
    /* not announced (a worker without a producer: tests, tools): the table as it is now */
    if (f.announced) {
        rc = ferry_tabledef_from_json(f.definition, strlen(f.definition), &out->pub_def, errstr,
                                      errstr_size);
        if (!rc)
            rc = split_name(f.name, db, &out->src_db, &out->src_table);
    } else {
        out->src_db = strdup(db);
        out->src_table = strdup(table);
        rc = out->src_db && out->src_table ? 0 : FERRY_ERR_NOMEM;
    }
    free(f.definition);
    out->dropped = f.dropped;
    if (!rc && !out->dropped) {
        rc = ferry_mysql_schema_read_table(conn, flavor, out->src_db, out->src_table, &out->cur_def,
                                           errstr, errstr_size);
        if (rc == FERRY_ERR_NOT_FOUND)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                               "table `%s`.`%s` is not at the source; waiting for capture to "
                               "publish where it went",
                               out->src_db, out->src_table);
        if (!rc && src->filters)
            rc = ferry_link_filter_columns(out->cur_def, src->filters, errstr, errstr_size);
        if (!rc)
            rc = ferry_tabledef_to_table(out->cur_def, &out->cur, errstr, errstr_size);
        unsigned e;
        if (!rc)
            rc = ferry_fullload_shape_signature(conn, out->src_db, out->src_table, &out->sig, &e,
                                                errstr, errstr_size);
    }
    if (!rc && !out->pub_def && !out->cur_def)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "table `%s`.`%s` was dropped before its definition was announced", db,
                           table);
    if (!rc && !out->pub_def) {
        /* not announced: what the source has now is the published shape */
        char *json = ferry_tabledef_to_json(out->cur_def);
        rc = json ? ferry_tabledef_from_json(json, strlen(json), &out->pub_def, errstr, errstr_size)
                  : FERRY_ERR_NOMEM;
        free(json);
    }
    if (!rc)
        rc = ferry_tabledef_to_table(out->pub_def, &out->pub, errstr, errstr_size);
    if (!rc && !out->dropped)
        rc = shape_match(out, errstr, errstr_size);
    if (rc == FERRY_ERR_NOMEM)
        ferry_err_set(errstr, errstr_size, rc, "out of memory");
    if (rc) {
        ferry_fullload_shape_clear(out);
        return rc;
    }
    if (out->reshaped || out->dropped)
        ferry_log_info("table changed since its announcement; reading it in the announced shape",
                       "table=%s.%s source=%s.%s dropped=%s", db, table, out->src_db,
                       out->src_table, out->dropped ? "yes" : "no");
    return 0;
}

void ferry_fullload_shape_clear(ferry_fullload_shape_t *s)
{
    ferry_tabledef_destroy(s->pub_def);
    ferry_tabledef_destroy(s->cur_def);
    ferry_table_destroy(s->pub);
    ferry_table_destroy(s->cur);
    ferry_table_destroy(s->sel);
    free(s->sel_of);
    free(s->changed);
    free(s->src_db);
    free(s->src_table);
    free(s->sig);
    memset(s, 0, sizeof(*s));
}

/* ---- rows ------------------------------------------------------------------ */

/* A value a NOT NULL column of type t takes when its source column is gone. */
static ferry_value_t placeholder(const ferry_column_t *col)
{
    ferry_value_t v;
    memset(&v, 0, sizeof(v));
    if (col->flags & FERRY_COL_NULLABLE) {
        v.is_null = 1;
        return v;
    }
    switch (col->type) {
    case FERRY_TYPE_DECIMAL:
        v.v.s.ptr = "0";
        v.v.s.len = 1;
        break;
    case FERRY_TYPE_JSON:
        v.v.s.ptr = "null";
        v.v.s.len = 4;
        break;
    case FERRY_TYPE_ENUM:
        v.v.s.ptr = col->n_members ? col->members[0] : "";
        v.v.s.len = strlen(v.v.s.ptr);
        break;
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_BYTES:
    case FERRY_TYPE_SET:
    case FERRY_TYPE_ARRAY:
        v.v.s.ptr = "";
        break;
    case FERRY_TYPE_DATE:
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        v.v.dt = (ferry_civil_t){.year = 1970, .month = 1, .day = 1, .second = 1};
        break;
    case FERRY_TYPE_GEOMETRY:
        v.is_null = 1; /* no neutral geometry: the destination refuses the row */
        break;
    default: /* numbers, BIT, YEAR, TIME, UUID, BOOL: zero */
        break;
    }
    return v;
}

static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* True when v (read from a column whose type changed) fits col as announced. */
static bool fits(const ferry_column_t *col, const ferry_value_t *v)
{
    if (v->is_null)
        return (col->flags & FERRY_COL_NULLABLE) != 0;
    switch (col->type) {
    case FERRY_TYPE_STRING:
        return col->length == 0 || utf8_chars(v->v.s.ptr, v->v.s.len) <= col->length;
    case FERRY_TYPE_BYTES:
        return col->length == 0 || v->v.s.len <= col->length;
    case FERRY_TYPE_INT:
        if (col->length > 0 && col->length < 8) {
            int64_t max = ((int64_t)1 << (8 * col->length - 1)) - 1;
            return v->v.i <= max && v->v.i >= -max - 1;
        }
        return true;
    case FERRY_TYPE_UINT:
        return col->length == 0 || col->length >= 8 || v->v.u < ((uint64_t)1 << (8 * col->length));
    case FERRY_TYPE_DECIMAL: {
        if (!col->precision)
            return true;
        size_t digits = 0;
        for (size_t i = 0; i < v->v.s.len && v->v.s.ptr[i] != '.'; i++)
            digits += v->v.s.ptr[i] >= '0' && v->v.s.ptr[i] <= '9';
        return digits <= (size_t)(col->precision - col->scale) || digits == 1;
    }
    case FERRY_TYPE_ENUM:
        for (uint32_t m = 0; m < col->n_members; m++)
            if (strlen(col->members[m]) == v->v.s.len &&
                memcmp(col->members[m], v->v.s.ptr, v->v.s.len) == 0)
                return true;
        return false;
    default:
        return true;
    }
}

int ferry_fullload_shape_row(const ferry_fullload_shape_t *s, const ferry_row_t *sel_row,
                             ferry_arena_t *a, const ferry_row_t **out)
{
    *out = NULL;
    if (!s->reshaped) {
        *out = sel_row;
        return 0;
    }
    size_t np = ferry_table_ncolumns(s->pub);
    ferry_row_t *r = ferry_arena_alloc(a, sizeof(*r));
    ferry_value_t *v = ferry_arena_calloc(a, np + 1, sizeof(*v));
    if (!r || !v)
        return FERRY_ERR_NOMEM;
    for (size_t i = 0; i < np; i++) {
        const ferry_column_t *col = ferry_table_column(s->pub, i);
        if (s->sel_of[i] == FERRY_FULLLOAD_SHAPE_GONE) {
            v[i] = placeholder(col);
            continue;
        }
        v[i] = sel_row->values[s->sel_of[i]];
        if (s->changed[i] && !fits(col, &v[i]))
            return 0; /* written after the statement: the replay brings it */
    }
    r->n = np;
    r->values = v;
    *out = r;
    return 0;
}
