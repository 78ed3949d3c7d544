/*
 * sink_apply - the MySQL-family sink against a real MariaDB destination.
 *
 *   sink_apply <scenario>     scenario: types snapshot names ukey nokey
 *                             exactly_once poison (or "all")
 *
 * Connects to FERRY_MARIADB2_URL through db.h (ferry_db_connect_flags with
 * FERRY_DB_LOCAL_INFILE for the LOAD DATA path, without it for the INSERT
 * fallback). Every scenario creates its own tables in database
 * sink_test (or an awkwardly named one), drives events through
 * ferry_mysql_sink_apply, and compares the destination with a model of what
 * was sent, column by column through an exact text form (HEX() for text and
 * bytes, CAST for numbers and times). Prints "ok: <scenario> ..." lines and
 * exits 0, or prints what differed and exits 1. The shell script
 * test_mysql_sink.sh runs it and adds checks of its own with the mariadb
 * client (CHECKSUM TABLE).
 */
#include "arena.h"
#include "db.h"
#include "err.h"
#include "mysql_sink.h"
#include "row.h"
#include "strbuf.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ferry_arena_t *arena;
static const char *scenario = "?";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "sink_apply %s: ", scenario);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* ---- connections -------------------------------------------------------- */

/* Open destination connections, so that close_dest finds the ferry_db_t. */
static ferry_db_t *open_dbs[16];

/* A destination connection through db.h; with LOCAL INFILE allowed or not. */
static MYSQL *connect_dest(bool local_infile)
{
    const char *url = getenv("FERRY_MARIADB2_URL");
    if (!url)
        die("FERRY_MARIADB2_URL is not set");
    ferry_db_t *db;
    char err[512];
    if (ferry_db_connect_flags(url, "destination", 10000, local_infile ? FERRY_DB_LOCAL_INFILE : 0,
                               &db, err, sizeof(err)) != 0)
        die("%s", err);
    for (size_t i = 0; i < sizeof(open_dbs) / sizeof(open_dbs[0]); i++)
        if (!open_dbs[i]) {
            open_dbs[i] = db;
            return ferry_db_mysql(db);
        }
    die("too many open connections");
}

static void close_dest(MYSQL *m)
{
    for (size_t i = 0; i < sizeof(open_dbs) / sizeof(open_dbs[0]); i++)
        if (open_dbs[i] && ferry_db_mysql(open_dbs[i]) == m) {
            ferry_db_close(open_dbs[i]);
            open_dbs[i] = NULL;
            return;
        }
}

static void sql(MYSQL *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql(MYSQL *m, const char *fmt, ...)
{
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    char tmp[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    ferry_strbuf_puts(&b, tmp);
    if (mysql_real_query(m, b.buf, (unsigned long)b.len) != 0)
        die("%s: %s", b.buf, mysql_error(m));
    do {
        mysql_free_result(mysql_store_result(m));
    } while (mysql_next_result(m) == 0);
    ferry_strbuf_free(&b);
}

/* First column of the first row as an integer (-1 for no row or NULL). */
static long long scalar(MYSQL *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static long long scalar(MYSQL *m, const char *fmt, ...)
{
    char q[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    if (mysql_query(m, q) != 0)
        die("%s: %s", q, mysql_error(m));
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    long long v = row && row[0] ? strtoll(row[0], NULL, 10) : -1;
    mysql_free_result(r);
    return v;
}

/* ---- tables: one spec gives the DDL, the ferry columns and the checks ---- */

typedef struct {
    const char *name;
    ferry_type_t type;
    const char *ddl;
    int fsp;
} colspec_t;

typedef struct {
    const char *db, *name;
    const colspec_t *cols;
    size_t ncols;
    ferry_table_t *ft;
} tdef_t;

static void put_ident(ferry_strbuf_t *b, const char *s)
{
    ferry_strbuf_puts(b, "`");
    for (; *s; s++)
        ferry_strbuf_printf(b, *s == '`' ? "``" : "%c", *s);
    ferry_strbuf_puts(b, "`");
}

static char *qualified(const tdef_t *t)
{
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    put_ident(&b, t->db);
    ferry_strbuf_puts(&b, ".");
    put_ident(&b, t->name);
    return b.buf;
}

/* Column lists built by create_table, freed at exit. */
static ferry_table_t *made[32];
static size_t n_made;

/* Creates the table at the destination (keys: SQL after the columns, or ""). */
static void create_table(MYSQL *m, tdef_t *t, int pk_col, const char *keys)
{
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&b, "CREATE DATABASE IF NOT EXISTS ");
    put_ident(&b, t->db);
    ferry_strbuf_puts(&b, ";\nCREATE OR REPLACE TABLE ");
    char *q = qualified(t);
    ferry_strbuf_printf(&b, "%s (", q);
    free(q);
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            ferry_strbuf_puts(&b, ", ");
        put_ident(&b, t->cols[c].name);
        ferry_strbuf_printf(&b, " %s", t->cols[c].ddl);
    }
    ferry_strbuf_printf(&b, "%s) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4", keys);
    if (mysql_real_query(m, b.buf, (unsigned long)b.len) != 0)
        die("create table: %s: %s", b.buf, mysql_error(m));
    do {
        mysql_free_result(mysql_store_result(m));
    } while (mysql_next_result(m) == 0);
    ferry_strbuf_free(&b);

    char err[256];
    t->ft = ferry_table_new(t->db, t->name);
    if (n_made == sizeof(made) / sizeof(made[0]))
        die("too many tables");
    made[n_made++] = t->ft;
    for (size_t c = 0; c < t->ncols; c++) {
        ferry_column_t col = {.name = t->cols[c].name,
                              .type = t->cols[c].type,
                              .source_type = t->cols[c].ddl,
                              .flags = FERRY_COL_NULLABLE,
                              .fsp = (int8_t)t->cols[c].fsp,
                              .pk_pos = (uint16_t)((int)c == pk_col)};
        if (ferry_table_add_column(t->ft, &col, err, sizeof(err)) != 0)
            die("column %s: %s", t->cols[c].name, err);
    }
}

static int register_table(ferry_mysql_sink_t *s, const tdef_t *t, const size_t *key, size_t nkey)
{
    char err[512];
    ferry_mysql_sink_table_t st = {
        .db = t->db, .table = t->name, .columns = t->ft, .key_cols = key, .n_key_cols = nkey};
    int id = ferry_mysql_sink_add_table(s, &st, err, sizeof(err));
    if (id < 0)
        die("add_table: %s", err);
    return id;
}

/* ---- exact text forms, on both sides ------------------------------------ */

static void select_expr(ferry_strbuf_t *b, const colspec_t *c)
{
    ferry_strbuf_t id = FERRY_STRBUF_INIT;
    put_ident(&id, c->name);
    switch (c->type) {
    case FERRY_TYPE_FLOAT:
    case FERRY_TYPE_DOUBLE:
        ferry_strbuf_printf(b, "CAST(%s AS DOUBLE)", id.buf);
        break;
    case FERRY_TYPE_BIT:
        ferry_strbuf_printf(b, "CAST(%s AS UNSIGNED)", id.buf);
        break;
    case FERRY_TYPE_BYTES:
        ferry_strbuf_printf(b, "HEX(%s)", id.buf);
        break;
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET:
    case FERRY_TYPE_JSON:
    case FERRY_TYPE_ARRAY:
    case FERRY_TYPE_UUID:
        /* in UTF-8 whatever the column's charset, as the events carry it */
        ferry_strbuf_printf(b, "HEX(CONVERT(%s USING utf8mb4))", id.buf);
        break;
    case FERRY_TYPE_GEOMETRY:
        ferry_strbuf_printf(b, "CONCAT(ST_SRID(%s), ':', HEX(ST_AsWKB(%s)))", id.buf, id.buf);
        break;
    default:
        ferry_strbuf_printf(b, "CAST(%s AS CHAR)", id.buf);
        break;
    }
    ferry_strbuf_free(&id);
}

static void hex_of(ferry_strbuf_t *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ferry_strbuf_printf(b, "%02X", (unsigned char)p[i]);
}

/* The text the destination should show for v; NULL values give NULL. */
static char *expected_text(const colspec_t *c, const ferry_value_t *v)
{
    if (v->is_null)
        return NULL;
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    char buf[128];
    switch (c->type) {
    case FERRY_TYPE_INT:
        ferry_strbuf_printf(&b, "%" PRId64, v->v.i);
        break;
    case FERRY_TYPE_BOOL:
        ferry_strbuf_puts(&b, v->v.b ? "1" : "0");
        break;
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_BIT:
        ferry_strbuf_printf(&b, "%" PRIu64, v->v.u);
        break;
    case FERRY_TYPE_FLOAT:
        ferry_strbuf_printf(&b, "%.17g", (double)v->v.f);
        break;
    case FERRY_TYPE_DOUBLE:
        ferry_strbuf_printf(&b, "%.17g", v->v.d);
        break;
    case FERRY_TYPE_DECIMAL:
        ferry_strbuf_put(&b, v->v.s.ptr, v->v.s.len);
        break;
    case FERRY_TYPE_DATE:
        ferry_value_format_civil(&v->v.dt, true, 0, buf, sizeof(buf));
        ferry_strbuf_puts(&b, buf);
        break;
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        ferry_value_format_civil(&v->v.dt, false, c->fsp, buf, sizeof(buf));
        ferry_strbuf_puts(&b, buf);
        break;
    case FERRY_TYPE_TIME:
        ferry_value_format_time(v->v.i, c->fsp, buf, sizeof(buf));
        ferry_strbuf_puts(&b, buf);
        break;
    case FERRY_TYPE_YEAR:
        ferry_strbuf_printf(&b, "%04" PRId64, v->v.i);
        break;
    case FERRY_TYPE_UUID:
        ferry_value_format_uuid(v->v.uuid, buf);
        hex_of(&b, buf, 36);
        break;
    case FERRY_TYPE_INTERVAL: {
        size_t n = ferry_value_format_interval(&v->v.iv, buf, sizeof(buf));
        ferry_strbuf_puts(&b, buf);
        (void)n;
        break;
    }
    case FERRY_TYPE_GEOMETRY:
        ferry_strbuf_printf(&b, "%" PRIu32 ":", v->aux);
        hex_of(&b, v->v.s.ptr, v->v.s.len);
        break;
    default:
        hex_of(&b, v->v.s.ptr, v->v.s.len);
        break;
    }
    return b.buf ? b.buf : strdup("");
}

static bool same_text(const colspec_t *c, const char *got, const char *want)
{
    if (c->type == FERRY_TYPE_FLOAT || c->type == FERRY_TYPE_DOUBLE)
        return strtod(got, NULL) == strtod(want, NULL);
    return strcmp(got, want) == 0;
}

/* Compares the table, ordered by column order_col, with rows (same order). */
static void verify(MYSQL *m, const tdef_t *t, size_t order_col, ferry_row_t **rows, size_t n,
                   const char *what)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SELECT ");
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            ferry_strbuf_puts(&q, ", ");
        select_expr(&q, &t->cols[c]);
    }
    char *qt = qualified(t);
    ferry_strbuf_printf(&q, " FROM %s ORDER BY ", qt);
    free(qt);
    put_ident(&q, t->cols[order_col].name);
    if (mysql_real_query(m, q.buf, (unsigned long)q.len) != 0)
        die("%s: %s", q.buf, mysql_error(m));
    ferry_strbuf_free(&q);
    MYSQL_RES *res = mysql_store_result(m);
    if ((size_t)mysql_num_rows(res) != n)
        die("%s: %s.%s holds %llu rows, expected %zu", what, t->db, t->name,
            (unsigned long long)mysql_num_rows(res), n);
    for (size_t r = 0; r < n; r++) {
        MYSQL_ROW row = mysql_fetch_row(res);
        for (size_t c = 0; c < t->ncols; c++) {
            char *want = expected_text(&t->cols[c], &rows[r]->values[c]);
            bool ok =
                (!want && !row[c]) || (want && row[c] && same_text(&t->cols[c], row[c], want));
            if (!ok) {
                char w[200], g[200];
                snprintf(w, sizeof(w), "%s", want ? want : "NULL");
                snprintf(g, sizeof(g), "%s", row[c] ? row[c] : "NULL");
                die("%s: %s.%s row %zu column %s: got %s, expected %s", what, t->db, t->name, r,
                    t->cols[c].name, g, w);
            }
            free(want);
        }
    }
    mysql_free_result(res);
}

/* ---- events and applying them ------------------------------------------- */

static ferry_change_t change(char op, const ferry_row_t *before, const ferry_row_t *after)
{
    ferry_change_t ev = {.op = op, .before = before, .after = after};
    return ev;
}

static ferry_row_t *copy_row(const ferry_row_t *r)
{
    ferry_row_t *c = ferry_row_new(arena, r->n);
    memcpy(c->values, r->values, r->n * sizeof(ferry_value_t));
    return c;
}

static ferry_mysql_sink_t *new_sink(MYSQL *m, const char *meta, bool no_load)
{
    ferry_mysql_sink_conf_t conf = {
        .link = "sinktest.fwd", .worker = "w1", .meta_db = meta, .disable_load_data = no_load};
    ferry_mysql_sink_t *s;
    char err[512];
    if (ferry_mysql_sink_new(m, &conf, &s, err, sizeof(err)) != 0)
        die("sink_new: %s", err);
    return s;
}

/* Applies events to one table in one batch and expects no failure. */
static ferry_mysql_sink_result_t apply(ferry_mysql_sink_t *s, int table, bool safe,
                                       const ferry_change_t *evs, size_t n, const char *what)
{
    ferry_mysql_sink_run_t run = {.table = table, .safe = safe, .events = evs, .n_events = n};
    ferry_mysql_sink_batch_t b = {.runs = &run, .n_runs = 1};
    ferry_mysql_sink_result_t res;
    char err[512];
    int rc = ferry_mysql_sink_apply(s, &b, &res, err, sizeof(err));
    if (rc != 0)
        die("%s: apply: %s", what, err);
    if (res.n_failed)
        die("%s: event %zu failed: %s", what, res.failed[0].event, res.failed[0].message);
    return res;
}

/* ---- the every-type table ------------------------------------------------ */

enum {
    C_ID,
    C_TI,
    C_TIU,
    C_SI,
    C_SIU,
    C_MI,
    C_MIU,
    C_I,
    C_IU,
    C_BI,
    C_BIU,
    C_DEC,
    C_DEC0,
    C_F,
    C_D,
    C_DATE,
    C_TIME,
    C_DTM,
    C_TS,
    C_Y,
    C_VC,
    C_CH,
    C_TXT,
    C_BIN,
    C_VB,
    C_BLOB,
    C_BIT1,
    C_BIT64,
    C_EN,
    C_ST,
    C_JSON,
    C_GEO,
    C_UUID,
    C_IV,
    C_ARR,
    C_BOOL,
    C_NCOLS
};

static const colspec_t all_cols[C_NCOLS] = {
    [C_ID] = {"id", FERRY_TYPE_INT, "BIGINT NOT NULL", 0},
    [C_TI] = {"ti", FERRY_TYPE_INT, "TINYINT", 0},
    [C_TIU] = {"tiu", FERRY_TYPE_UINT, "TINYINT UNSIGNED", 0},
    [C_SI] = {"si", FERRY_TYPE_INT, "SMALLINT", 0},
    [C_SIU] = {"siu", FERRY_TYPE_UINT, "SMALLINT UNSIGNED", 0},
    [C_MI] = {"mi", FERRY_TYPE_INT, "MEDIUMINT", 0},
    [C_MIU] = {"miu", FERRY_TYPE_UINT, "MEDIUMINT UNSIGNED", 0},
    [C_I] = {"i", FERRY_TYPE_INT, "INT", 0},
    [C_IU] = {"iu", FERRY_TYPE_UINT, "INT UNSIGNED", 0},
    [C_BI] = {"bi", FERRY_TYPE_INT, "BIGINT", 0},
    [C_BIU] = {"biu", FERRY_TYPE_UINT, "BIGINT UNSIGNED", 0},
    [C_DEC] = {"dec", FERRY_TYPE_DECIMAL, "DECIMAL(65,30)", 0},
    [C_DEC0] = {"dec0", FERRY_TYPE_DECIMAL, "DECIMAL(65,0)", 0},
    [C_F] = {"f", FERRY_TYPE_FLOAT, "FLOAT", 0},
    [C_D] = {"d", FERRY_TYPE_DOUBLE, "DOUBLE", 0},
    [C_DATE] = {"dt", FERRY_TYPE_DATE, "DATE", 0},
    [C_TIME] = {"tm", FERRY_TYPE_TIME, "TIME(6)", 6},
    [C_DTM] = {"dtm", FERRY_TYPE_DATETIME, "DATETIME(6)", 6},
    [C_TS] = {"ts", FERRY_TYPE_TIMESTAMP, "TIMESTAMP(6) NULL DEFAULT NULL", 6},
    [C_Y] = {"y", FERRY_TYPE_YEAR, "YEAR", 0},
    [C_VC] = {"vc", FERRY_TYPE_STRING, "VARCHAR(200)", 0},
    [C_CH] = {"ch", FERRY_TYPE_STRING, "CHAR(10) CHARACTER SET latin1", 0},
    [C_TXT] = {"txt", FERRY_TYPE_STRING, "LONGTEXT", 0},
    [C_BIN] = {"bin", FERRY_TYPE_BYTES, "BINARY(8)", 0},
    [C_VB] = {"vb", FERRY_TYPE_BYTES, "VARBINARY(64)", 0},
    [C_BLOB] = {"blob", FERRY_TYPE_BYTES, "LONGBLOB", 0},
    [C_BIT1] = {"bit1", FERRY_TYPE_BIT, "BIT(1)", 0},
    [C_BIT64] = {"bit64", FERRY_TYPE_BIT, "BIT(64)", 0},
    [C_EN] = {"en", FERRY_TYPE_ENUM, "ENUM('a','b','c')", 0},
    [C_ST] = {"st", FERRY_TYPE_SET, "SET('x','y','z')", 0},
    [C_JSON] = {"js", FERRY_TYPE_JSON, "JSON", 0},
    [C_GEO] = {"geo", FERRY_TYPE_GEOMETRY, "POINT NULL", 0},
    [C_UUID] = {"uu", FERRY_TYPE_UUID, "CHAR(36)", 0},
    [C_IV] = {"iv", FERRY_TYPE_INTERVAL, "VARCHAR(64)", 0},
    [C_ARR] = {"arr", FERRY_TYPE_ARRAY, "TEXT", 0},
    [C_BOOL] = {"bo", FERRY_TYPE_BOOL, "TINYINT(1)", 0},
};

static char *big_blob;
#define BIG_BLOB_LEN (1u << 20)

static const char *dec_max = "99999999999999999999999999999999999.999999999999999999999999999999";
static const char *dec_min = "-99999999999999999999999999999999999.999999999999999999999999999999";
static const char *dec0_max = "99999999999999999999999999999999999999999999999999999999999999999";
static const char *dec0_min = "-99999999999999999999999999999999999999999999999999999999999999999";

static ferry_value_t s_(const char *s)
{
    return ferry_value_str(s, strlen(s));
}

static ferry_value_t time_(int64_t micros)
{
    return ferry_value_int(micros);
}

static ferry_value_t geo_(double x, double y, uint32_t srid)
{
    uint8_t *w = ferry_arena_alloc(arena, 21);
    w[0] = 1; /* little endian */
    uint32_t type = 1;
    memcpy(w + 1, &type, 4);
    memcpy(w + 5, &x, 8);
    memcpy(w + 13, &y, 8);
    ferry_value_t v = ferry_value_str(w, 21);
    v.aux = srid;
    return v;
}

/* Edge row number k (0..4) with primary key id. */
static ferry_row_t *edge_row(int k, int64_t id)
{
    ferry_row_t *r = ferry_row_new(arena, C_NCOLS);
    ferry_value_t *v = r->values;
    v[C_ID] = ferry_value_int(id);
    if (k == 0)
        return r; /* every other column NULL */
    bool lo = k == 1;
    if (k <= 2) {
        v[C_TI] = ferry_value_int(lo ? -128 : 127);
        v[C_TIU] = ferry_value_uint(lo ? 0 : 255);
        v[C_SI] = ferry_value_int(lo ? -32768 : 32767);
        v[C_SIU] = ferry_value_uint(lo ? 0 : 65535);
        v[C_MI] = ferry_value_int(lo ? -8388608 : 8388607);
        v[C_MIU] = ferry_value_uint(lo ? 0 : 16777215);
        v[C_I] = ferry_value_int(lo ? INT32_MIN : INT32_MAX);
        v[C_IU] = ferry_value_uint(lo ? 0 : UINT32_MAX);
        v[C_BI] = ferry_value_int(lo ? INT64_MIN : INT64_MAX);
        v[C_BIU] = ferry_value_uint(lo ? 0 : UINT64_MAX);
        v[C_DEC] = s_(lo ? dec_min : dec_max);
        v[C_DEC0] = s_(lo ? dec0_min : dec0_max);
        v[C_F] = ferry_value_float(lo ? -FLT_MAX : FLT_MAX);
        v[C_D] = ferry_value_double(lo ? -DBL_MAX : DBL_MAX);
        v[C_DATE] = lo ? ferry_value_civil(0, 0, 0, 0, 0, 0, 0)
                       : ferry_value_civil(9999, 12, 31, 0, 0, 0, 0);
        v[C_TIME] = time_(lo ? -INT64_C(838) * 3600000000 - INT64_C(59) * 60000000 - 59000000
                             : INT64_C(838) * 3600000000 + INT64_C(59) * 60000000 + 59000000);
        v[C_DTM] = lo ? ferry_value_civil(0, 0, 0, 0, 0, 0, 0)
                      : ferry_value_civil(9999, 12, 31, 23, 59, 59, 999999);
        v[C_TS] = lo ? ferry_value_civil(0, 0, 0, 0, 0, 0, 0)
                     : ferry_value_civil(2038, 1, 19, 3, 14, 7, 999999);
        v[C_Y] = ferry_value_int(lo ? 0 : 2155);
        v[C_VC] = lo ? s_("")
                     : s_("4-byte \xF0\x9F\x98\x80 \xF0\x9D\x84\x9E 'q' \"dq\" \\ \t\n\r\x1A end");
        v[C_CH] = lo ? s_("") : s_("caf\xC3\xA9");
        v[C_TXT] = lo ? s_("") : ferry_value_str("nul\0inside\\N", 13);
        v[C_BIN] =
            lo ? ferry_value_str("\0\0\0\0\0\0\0\0", 8) : ferry_value_str("ab\0\0\0\0\0\0", 8);
        v[C_VB] = lo ? ferry_value_str("", 0) : ferry_value_str("\0\t\n\\N\xFF\x00", 7);
        v[C_BLOB] = lo ? ferry_value_str("", 0) : ferry_value_str(big_blob, BIG_BLOB_LEN);
        v[C_BIT1] = ferry_value_uint(lo ? 0 : 1);
        v[C_BIT64] = ferry_value_uint(lo ? 0 : UINT64_MAX);
        v[C_EN] = s_(lo ? "a" : "c");
        v[C_ST] = s_(lo ? "" : "x,z");
        v[C_JSON] = s_(lo ? "{}" : "{\"a\": [1, 2.5, \"\xF0\x9F\x98\x80\"], \"b\": null}");
        v[C_GEO] = lo ? geo_(0, 0, 0) : geo_(1.5, -2.25, 4326);
        v[C_IV].is_null = 0;
        v[C_IV].v.iv = (ferry_interval_t){lo ? -14 : 14, lo ? 3 : -3, lo ? -500000 : 4000007};
        v[C_UUID].is_null = 0;
        memcpy(v[C_UUID].v.uuid, "\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x23\x45\x67\x89\xab\xcd\xef",
               16);
        v[C_ARR] = s_(lo ? "{}" : "{{1,NULL},{3,4}}");
        v[C_BOOL] = ferry_value_bool(!lo);
        return r;
    }
    /* k 3, 4: ordinary and awkward values in between */
    v[C_TI] = ferry_value_int(k == 3 ? 0 : -1);
    v[C_BIU] = ferry_value_uint(k == 3 ? UINT64_C(9223372036854775808) : 1);
    v[C_DEC] =
        s_(k == 3 ? "0.000000000000000000000000000001" : "-0.500000000000000000000000000000");
    v[C_DEC0] = s_("0");
    v[C_F] = ferry_value_float(k == 3 ? 0.1f : FLT_MIN);
    v[C_D] = ferry_value_double(k == 3 ? 0.1 : 4.9406564584124654e-324);
    v[C_DATE] = k == 3 ? ferry_value_civil(2024, 2, 29, 0, 0, 0, 0)
                       : ferry_value_civil(2009, 11, 31, 0, 0, 0, 0);
    v[C_TIME] = time_(k == 3 ? -500000 : -(INT64_C(3723) * 1000000 + 4));
    v[C_DTM] = k == 3 ? ferry_value_civil(2024, 0, 0, 0, 0, 0, 0)
                      : ferry_value_civil(1000, 1, 1, 0, 0, 0, 1);
    v[C_TS] = ferry_value_civil(1970, 1, 1, 0, 0, 1, k == 3 ? 0 : 500000);
    v[C_Y] = ferry_value_int(k == 3 ? 1901 : 2000);
    v[C_VC] = s_(k == 3 ? "NULL" : "\\N");
    v[C_EN] = s_("b");
    v[C_ST] = s_(k == 3 ? "x,y,z" : "y");
    v[C_BIT64] = ferry_value_uint(UINT64_C(0x8000000000000001));
    v[C_GEO] = geo_(-180, 90, 3857);
    return r;
}

/* A model of a table whose first column is an INT key. */
typedef struct {
    ferry_row_t *rows[512];
    size_t n;
} model_t;

static void model_put(model_t *m, ferry_row_t *r)
{
    size_t i = 0;
    while (i < m->n && m->rows[i]->values[0].v.i < r->values[0].v.i)
        i++;
    if (i < m->n && m->rows[i]->values[0].v.i == r->values[0].v.i) {
        m->rows[i] = r;
        return;
    }
    memmove(&m->rows[i + 1], &m->rows[i], (m->n - i) * sizeof(m->rows[0]));
    m->rows[i] = r;
    m->n++;
}

static void model_del(model_t *m, int64_t id)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->rows[i]->values[0].v.i == id) {
            memmove(&m->rows[i], &m->rows[i + 1], (m->n - i - 1) * sizeof(m->rows[0]));
            m->n--;
            return;
        }
}

/* Applies ev to the model the way the destination should. */
static void model_apply(model_t *m, const ferry_change_t *ev)
{
    if (ev->op == 'd' || (ev->op == 'u' && ev->before))
        model_del(m, (ev->before ? ev->before : ev->after)->values[0].v.i);
    if (ev->op != 'd')
        model_put(m, (ferry_row_t *)ev->after);
}

/* ---- scenarios ----------------------------------------------------------- */

static ferry_row_t *with_id(const ferry_row_t *r, int64_t id)
{
    ferry_row_t *c = copy_row(r);
    c->values[0] = ferry_value_int(id);
    return c;
}

static void replay_safe(ferry_mysql_sink_t *s, int table, const ferry_change_t *evs, size_t n,
                        MYSQL *m, const tdef_t *t, model_t *model, const char *what)
{
    apply(s, table, true, evs, n, what);
    verify(m, t, 0, model->rows, model->n, what);
}

/* Every column type with edge values: insert, update (also of the key), delete, safe replay. */
static void scenario_types(void)
{
    MYSQL *m = connect_dest(true);
    tdef_t t = {"sink_test", "all_types", all_cols, C_NCOLS, NULL};
    create_table(m, &t, C_ID, ", PRIMARY KEY (`id`)");
    ferry_mysql_sink_t *s = new_sink(m, "sink_meta_types", false);
    int id = register_table(s, &t, NULL, 0);
    model_t model = {.n = 0};
    ferry_change_t evs[16];
    size_t n = 0;
    for (int k = 0; k < 5; k++)
        evs[n++] = change('c', NULL, edge_row(k, k + 1));
    for (size_t i = 0; i < n; i++)
        model_apply(&model, &evs[i]);
    ferry_mysql_sink_result_t res = apply(s, id, false, evs, n, "inserts");
    if (res.inserted != 5)
        die("inserted %" PRIu64 ", expected 5", res.inserted);
    verify(m, &t, 0, model.rows, model.n, "after inserts");

    size_t first_change = n;
    ferry_row_t *u1 = copy_row(model.rows[0]); /* all NULL -> some values */
    u1->values[C_TI] = ferry_value_int(7);
    u1->values[C_VC] = s_("now set");
    evs[n++] = change('u', model.rows[0], u1);
    ferry_row_t *u3 = copy_row(model.rows[2]); /* max row: shrink the blob, flip values */
    u3->values[C_BLOB] = ferry_value_str("small", 5);
    u3->values[C_F] = ferry_value_float(-0.5f);
    u3->values[C_TIME] = time_(-1);
    evs[n++] = change('u', model.rows[2], u3);
    evs[n++] = change('u', model.rows[4], with_id(model.rows[4], 50)); /* key 5 -> 50 */
    evs[n++] = change('d', model.rows[1], NULL);
    evs[n++] = change('u', u3, with_id(u3, 30)); /* key 3 -> 30 */
    for (size_t i = first_change; i < n; i++)
        model_apply(&model, &evs[i]);
    res = apply(s, id, false, evs + first_change, n - first_change, "changes");
    if (res.updated != 4 || res.deleted != 1)
        die("updated %" PRIu64 " deleted %" PRIu64 ", expected 4 and 1", res.updated, res.deleted);
    verify(m, &t, 0, model.rows, model.n, "after updates and deletes");

    /* the hand-over: everything again, in safe mode, twice */
    replay_safe(s, id, evs, n, m, &t, &model, "safe replay");
    replay_safe(s, id, evs, n, m, &t, &model, "second safe replay");
    printf("ok: types: %zu columns, inserts, updates (2 of the key), delete and 2 safe replays "
           "match value by value\n",
           (size_t)C_NCOLS);
    ferry_mysql_sink_destroy(s);
    close_dest(m);
}

/* Snapshot rows through LOAD DATA and through the INSERT fallback. */
static void scenario_snapshot(void)
{
    MYSQL *mi = connect_dest(true), *mp = connect_dest(false);
    tdef_t tl = {"sink_test", "snap_load", all_cols, C_NCOLS, NULL};
    tdef_t ti = {"sink_test", "snap_insert", all_cols, C_NCOLS, NULL};
    create_table(mi, &tl, C_ID, ", PRIMARY KEY (`id`)");
    create_table(mi, &ti, C_ID, ", PRIMARY KEY (`id`)");
    sql(mi, "DROP DATABASE IF EXISTS sink_meta_snap"); /* progress counts start at 0 */
    ferry_mysql_sink_t *sl = new_sink(mi, "sink_meta_snap", false);
    ferry_mysql_sink_t *si = new_sink(mp, "sink_meta_snap", false);
    if (!ferry_mysql_sink_load_data_enabled(sl) || ferry_mysql_sink_load_data_enabled(si))
        die("LOAD DATA should be on with MYSQL_OPT_LOCAL_INFILE and off without (%d %d)",
            ferry_mysql_sink_load_data_enabled(sl), ferry_mysql_sink_load_data_enabled(si));
    int idl = register_table(sl, &tl, NULL, 0), idi = register_table(si, &ti, NULL, 0);

    enum { NSNAP = 205 };
    static ferry_change_t evs[NSNAP];
    model_t model = {.n = 0};
    for (int k = 0; k < 5; k++)
        evs[k] = change('r', NULL, edge_row(k, k + 1));
    for (int k = 5; k < NSNAP; k++) {
        ferry_row_t *r = with_id(edge_row(3 + k % 2, 0), 100 + k);
        char *txt = ferry_arena_alloc(arena, 64);
        snprintf(txt, 64, "row %d\t\\N \xE4\xB8\xAD \xF0\x9F\x98\x80", k);
        r->values[C_VC] = s_(txt);
        r->values[C_I] = ferry_value_int(k * 1000003);
        evs[k] = change('r', NULL, r);
    }
    for (int k = 0; k < NSNAP; k++)
        model_apply(&model, &evs[k]);
    ferry_mysql_sink_result_t r1 = apply(sl, idl, false, evs, NSNAP, "load data");
    ferry_mysql_sink_result_t r2 = apply(si, idi, false, evs, NSNAP, "insert fallback");
    if (r1.loaded_via_load_data != NSNAP || r1.loaded != NSNAP)
        die("LOAD DATA loaded %" PRIu64 " of %d", r1.loaded_via_load_data, NSNAP);
    if (r2.loaded_via_load_data != 0 || r2.loaded != NSNAP)
        die("INSERT fallback: %" PRIu64 " rows, %" PRIu64 " via LOAD DATA", r2.loaded,
            r2.loaded_via_load_data);
    verify(mi, &tl, 0, model.rows, model.n, "snapshot via LOAD DATA");
    verify(mi, &ti, 0, model.rows, model.n, "snapshot via INSERT");

    /* a chunk loaded again (a restarted full load) in safe mode changes nothing */
    r1 = apply(sl, idl, true, evs, NSNAP, "load data again, safe");
    apply(si, idi, true, evs, NSNAP, "insert again, safe");
    if (r1.loaded_via_load_data != NSNAP)
        die("safe LOAD DATA (REPLACE) fell back to INSERT");
    verify(mi, &tl, 0, model.rows, model.n, "snapshot via LOAD DATA, replayed");
    verify(mi, &ti, 0, model.rows, model.n, "snapshot via INSERT, replayed");
    printf("ok: snapshot: %d rows via LOAD DATA (%" PRIu64 " stream bytes) and via INSERT match, "
           "also after a safe-mode reload\n",
           NSNAP, r1.bytes);
    ferry_mysql_sink_destroy(sl);
    ferry_mysql_sink_destroy(si);
    close_dest(mi);
    close_dest(mp);
}

/* Backticks, quotes, spaces, reserved words and non-ASCII in every name. */
static const colspec_t odd_cols[] = {
    {"select", FERRY_TYPE_INT, "INT NOT NULL", 0},
    {"a b", FERRY_TYPE_STRING, "VARCHAR(40)", 0},
    {"q'\"`x", FERRY_TYPE_DOUBLE, "DOUBLE", 0},
    {"\xE4\xB8\xAD \xC3\xA9\xC3\x9F", FERRY_TYPE_BYTES, "BLOB", 0},
    {"order", FERRY_TYPE_DATETIME, "DATETIME(6)", 6},
    {"b`", FERRY_TYPE_BIT, "BIT(8)", 0},
};

static ferry_row_t *odd_row(int64_t id, const char *text)
{
    ferry_row_t *r = ferry_row_new(arena, 6);
    r->values[0] = ferry_value_int(id);
    r->values[1] = s_(text);
    r->values[2] = ferry_value_double((double)id / 3.0);
    r->values[3] = ferry_value_str("\x00\x01'`\"", 5);
    r->values[4] = ferry_value_civil(2024, 5, 6, 7, 8, 9, (uint32_t)id);
    r->values[5] = ferry_value_uint((uint64_t)id & 0xff);
    return r;
}

static void scenario_names(void)
{
    MYSQL *mi = connect_dest(true), *mp = connect_dest(false);
    tdef_t t = {"sink `odd` db \xC3\xA9", "sel`ect \"t\" 'q' \xE4\xB8\xAD", odd_cols, 6, NULL};
    create_table(mi, &t, 0, ", PRIMARY KEY (`select`), UNIQUE KEY `u k` (`a b`)");
    ferry_mysql_sink_t *si = new_sink(mi, "sink meta `odd`", false);
    ferry_mysql_sink_t *sp = new_sink(mp, "sink meta `odd`", false);
    int idi = register_table(si, &t, NULL, 0), idp = register_table(sp, &t, NULL, 0);
    model_t model = {.n = 0};
    ferry_change_t evs[12];
    size_t n = 0;
    evs[n++] = change('c', NULL, odd_row(1, "one"));
    evs[n++] = change('c', NULL, odd_row(2, "two 'x'"));
    evs[n++] = change('c', NULL, odd_row(3, "three \xF0\x9F\x98\x80"));
    evs[n++] = change('u', evs[1].after, odd_row(20, "two 'x' moved"));
    evs[n++] = change('d', evs[0].after, NULL);
    for (size_t i = 0; i < n; i++)
        model_apply(&model, &evs[i]);
    apply(si, idi, false, evs, n, "odd names: changes");
    verify(mi, &t, 0, model.rows, model.n, "odd names: changes");
    ferry_change_t snap_l[3], snap_p[3];
    for (int k = 0; k < 3; k++) {
        snap_l[k] = change('r', NULL, odd_row(100 + k, k == 1 ? "tab\there" : "loaded"));
        snap_p[k] = change('r', NULL, odd_row(200 + k, k == 1 ? "new\nline" : "inserted"));
        ((ferry_row_t *)snap_l[k].after)->values[1] = s_(k == 1 ? "tab\there" : k ? "l2" : "l0");
        ((ferry_row_t *)snap_p[k].after)->values[1] = s_(k == 1 ? "new\nline" : k ? "p2" : "p0");
        model_apply(&model, &snap_l[k]);
        model_apply(&model, &snap_p[k]);
    }
    ferry_mysql_sink_result_t r = apply(si, idi, false, snap_l, 3, "odd names: LOAD DATA");
    if (r.loaded_via_load_data != 3)
        die("odd names: LOAD DATA was not used");
    apply(sp, idp, false, snap_p, 3, "odd names: INSERT");
    verify(mi, &t, 0, model.rows, model.n, "odd names: snapshot");
    replay_safe(si, idi, evs, n, mi, &t, &model, "odd names: safe replay");
    printf("ok: names: database, table and columns with backticks, quotes, spaces, reserved "
           "words and non-ASCII letters\n");
    ferry_mysql_sink_destroy(si);
    ferry_mysql_sink_destroy(sp);
    close_dest(mi);
    close_dest(mp);
}

/* No primary key, a unique key to match on. */
static const colspec_t uk_cols[] = {
    {"code", FERRY_TYPE_STRING, "VARCHAR(20) NOT NULL", 0},
    {"val", FERRY_TYPE_INT, "INT", 0},
    {"id", FERRY_TYPE_INT, "INT NOT NULL", 0},
};

static ferry_row_t *uk_row(const char *code, int64_t val, int64_t id)
{
    ferry_row_t *r = ferry_row_new(arena, 3);
    r->values[0] = s_(code);
    r->values[1] = ferry_value_int(val);
    r->values[2] = ferry_value_int(id);
    return r;
}

static void scenario_ukey(void)
{
    MYSQL *m = connect_dest(true);
    tdef_t t = {"sink_test", "ukey", uk_cols, 3, NULL};
    create_table(m, &t, -1, ", UNIQUE KEY (`code`)");
    ferry_mysql_sink_t *s = new_sink(m, "sink_meta_ukey", false);
    size_t key[] = {0};
    int id = register_table(s, &t, key, 1);
    ferry_change_t evs[8];
    size_t n = 0;
    evs[n++] = change('c', NULL, uk_row("a", 1, 1));
    evs[n++] = change('c', NULL, uk_row("b", 2, 2));
    evs[n++] = change('c', NULL, uk_row("c", 3, 3));
    evs[n++] = change('u', evs[0].after, uk_row("a", 10, 1));
    evs[n++] = change('u', evs[1].after, uk_row("bb", 20, 2)); /* the unique key changes */
    evs[n++] = change('d', evs[2].after, NULL);
    apply(s, id, false, evs, n, "unique key: changes");
    /* ordered by the third column (id): a/10/1, bb/20/2 */
    ferry_row_t *want[] = {(ferry_row_t *)evs[3].after, (ferry_row_t *)evs[4].after};
    verify(m, &t, 2, want, 2, "unique key: changes");
    apply(s, id, true, evs, n, "unique key: safe replay");
    verify(m, &t, 2, want, 2, "unique key: safe replay");
    printf("ok: ukey: table without primary key matched on its unique key, also when it changes\n");
    ferry_mysql_sink_destroy(s);
    close_dest(m);
}

/* No key at all, duplicate rows. */
static const colspec_t nk_cols[] = {
    {"a", FERRY_TYPE_INT, "INT", 0},     {"b", FERRY_TYPE_STRING, "VARCHAR(20)", 0},
    {"f", FERRY_TYPE_FLOAT, "FLOAT", 0}, {"t", FERRY_TYPE_DATETIME, "DATETIME(6)", 6},
    {"bl", FERRY_TYPE_BYTES, "BLOB", 0}, {"g", FERRY_TYPE_GEOMETRY, "POINT", 0},
};

static ferry_row_t *nk_row(int64_t a, const char *b)
{
    ferry_row_t *r = ferry_row_new(arena, 6);
    r->values[0] = ferry_value_int(a);
    r->values[1] = s_(b);
    r->values[2] = ferry_value_float(1.1f);
    r->values[3] = ferry_value_civil(2024, 1, 2, 3, 4, 5, 678901);
    r->values[4] = ferry_value_str("\0x", 2);
    r->values[5] = geo_(1, 2, 4326);
    return r;
}

static long long nk_count(MYSQL *m, int a, const char *b)
{
    return scalar(m, "SELECT COUNT(*) FROM sink_test.nokey WHERE a = %d AND BINARY b = '%s'", a, b);
}

static void scenario_nokey(void)
{
    MYSQL *m = connect_dest(true);
    tdef_t t = {"sink_test", "nokey", nk_cols, 6, NULL};
    create_table(m, &t, -1, "");
    ferry_mysql_sink_t *s = new_sink(m, "sink_meta_nokey", false);
    int id = register_table(s, &t, NULL, 0);
    ferry_row_t *x = nk_row(1, "x"), *xx = nk_row(1, "X"), *y = nk_row(2, "y");
    ferry_row_t *nul = nk_row(3, "n");
    nul->values[1] = ferry_value_null();
    ferry_change_t ins[] = {change('c', NULL, x), change('c', NULL, x), change('c', NULL, xx),
                            change('c', NULL, y), change('c', NULL, nul)};
    apply(s, id, false, ins, 5, "no key: inserts");
    ferry_change_t del[] = {change('d', x, NULL)};
    apply(s, id, false, del, 1, "no key: delete one of two identical rows");
    if (nk_count(m, 1, "x") != 1 || nk_count(m, 1, "X") != 1)
        die("no key: after deleting one of two identical rows: x=%lld X=%lld", nk_count(m, 1, "x"),
            nk_count(m, 1, "X"));
    ferry_change_t more[] = {change('c', NULL, x), change('u', x, nk_row(1, "z")),
                             change('u', nul, nk_row(3, "m"))};
    apply(s, id, false, more, 3, "no key: update one of two identical rows");
    if (nk_count(m, 1, "x") != 1 || nk_count(m, 1, "z") != 1 || nk_count(m, 1, "X") != 1 ||
        nk_count(m, 3, "m") != 1 || scalar(m, "SELECT COUNT(*) FROM sink_test.nokey") != 5)
        die("no key: after updating one of two identical rows: x=%lld z=%lld X=%lld",
            nk_count(m, 1, "x"), nk_count(m, 1, "z"), nk_count(m, 1, "X"));
    /* strict: deleting a row that is not there is an error of that event */
    ferry_change_t gone[] = {change('d', nk_row(9, "none"), NULL)};
    ferry_mysql_sink_run_t run = {.table = id, .events = gone, .n_events = 1};
    ferry_mysql_sink_batch_t b = {.runs = &run, .n_runs = 1};
    ferry_mysql_sink_result_t res;
    char err[512];
    if (ferry_mysql_sink_apply(s, &b, &res, err, sizeof(err)) != 0 || res.n_failed != 1 ||
        strcmp(res.failed[0].sqlstate, "02000") != 0)
        die("no key: deleting a missing row should fail that event (%s)", err);
    /* safe mode: the same deletes and updates again are no-ops */
    ferry_change_t again[] = {change('c', NULL, y), change('u', nk_row(1, "gone"), nk_row(1, "z")),
                              change('d', nk_row(9, "none"), NULL)};
    run = (ferry_mysql_sink_run_t){.table = id, .safe = true, .events = again, .n_events = 3};
    if (ferry_mysql_sink_apply(s, &b, &res, err, sizeof(err)) != 0 || res.n_failed != 0)
        die("no key: safe replay: %s", res.n_failed ? res.failed[0].message : err);
    if (nk_count(m, 2, "y") != 1 || scalar(m, "SELECT COUNT(*) FROM sink_test.nokey") != 5)
        die("no key: safe replay changed the table");
    printf("ok: nokey: rows matched on the full before image, one of two identical rows "
           "deleted/updated, safe replay is a no-op\n");
    ferry_mysql_sink_destroy(s);
    close_dest(m);
}

/* ---- exactly once ---------------------------------------------------------- */

static const colspec_t eo_cols[] = {
    {"n", FERRY_TYPE_INT, "INT", 0},
    {"txt", FERRY_TYPE_STRING, "VARCHAR(20)", 0},
};

static MYSQL *killer;
static unsigned long victim;

static void kill_before_commit(void *arg)
{
    (void)arg;
    sql(killer, "KILL CONNECTION %lu", victim);
}

typedef struct {
    int64_t next;
    int found;
} offsets_seen_t;

static int on_offset(void *arg, const char *topic, int32_t partition, int64_t next_offset)
{
    offsets_seen_t *o = arg;
    if (strcmp(topic, "ferry.sinktest.fwd.src.eo") == 0 && partition == 3) {
        o->next = next_offset;
        o->found++;
    }
    return 0;
}

/* What a restarted consumer does: read the stored offset (or start at 100). */
static int64_t stored_offset(ferry_mysql_sink_t *s)
{
    offsets_seen_t o = {100, 0};
    char err[512];
    if (ferry_mysql_sink_read_offsets(s, on_offset, &o, err, sizeof(err)) != 0)
        die("read offsets: %s", err);
    return o.next;
}

/*
 * "Kafka" holds events at offsets 100..109 of one partition; a consumer
 * applies them in batches of 5 from its stored offset. Returns what the
 * apply said.
 */
static int consume_batch(ferry_mysql_sink_t *s, int table, const ferry_change_t *log_, int64_t from,
                         ferry_mysql_sink_result_t *res, char *err, size_t errsz)
{
    ferry_mysql_sink_run_t run = {.table = table, .events = log_ + (from - 100), .n_events = 5};
    ferry_mysql_sink_offset_t off = {
        .topic = "ferry.sinktest.fwd.src.eo", .partition = 3, .next_offset = from + 5};
    ferry_mysql_sink_batch_t b = {.runs = &run, .n_runs = 1, .offsets = &off, .n_offsets = 1};
    return ferry_mysql_sink_apply(s, &b, res, err, errsz);
}

static void scenario_exactly_once(void)
{
    MYSQL *m = connect_dest(true), *check = connect_dest(false);
    killer = connect_dest(false);
    tdef_t t = {"sink_test", "eo", eo_cols, 2, NULL};
    create_table(m, &t, -1, ""); /* no key: a doubled row would show */
    sql(check, "DROP DATABASE IF EXISTS sink_meta_eo");
    ferry_change_t log_[10];
    for (int i = 0; i < 10; i++) {
        ferry_row_t *r = ferry_row_new(arena, 2);
        r->values[0] = ferry_value_int(100 + i);
        r->values[1] = s_("same"); /* rows differ only by n */
        log_[i] = change('c', NULL, r);
    }
    ferry_mysql_sink_conf_t conf = {
        .link = "sinktest.fwd", .meta_db = "sink_meta_eo", .before_commit = kill_before_commit};
    ferry_mysql_sink_t *s;
    char err[512];
    if (ferry_mysql_sink_new(m, &conf, &s, err, sizeof(err)) != 0)
        die("sink_new: %s", err);
    int id = register_table(s, &t, NULL, 0);
    victim = mysql_thread_id(m);
    ferry_mysql_sink_result_t res;
    int rc = consume_batch(s, id, log_, stored_offset(s), &res, err, sizeof(err));
    if (rc != FERRY_ERR_RETRIABLE)
        die("a connection killed before COMMIT should be retriable, got %d (%s)", rc, err);
    ferry_mysql_sink_destroy(s);
    close_dest(m);
    if (scalar(check, "SELECT COUNT(*) FROM sink_test.eo") != 0 ||
        scalar(check, "SELECT COUNT(*) FROM sink_meta_eo.ferry_offsets") != 0)
        die("the killed transaction left rows or offsets behind");
    printf("ok: exactly_once: connection killed between the rows and the offsets: nothing "
           "stored (%s)\n",
           err);

    /* restart: new connection and sink, seek to the stored offsets, go on */
    int64_t from = -1;
    for (int attempt = 0; attempt < 3; attempt++) {
        m = connect_dest(true);
        s = new_sink(m, "sink_meta_eo", false);
        id = register_table(s, &t, NULL, 0);
        from = stored_offset(s);
        if (from >= 110) {
            ferry_mysql_sink_destroy(s);
            close_dest(m);
            break;
        }
        if (consume_batch(s, id, log_, from, &res, err, sizeof(err)) != 0)
            die("re-apply from %" PRId64 ": %s", from, err);
        /* the consumer "crashes" after every commit, before telling Kafka:
           the next round must start from the destination's offsets */
        ferry_mysql_sink_destroy(s);
        close_dest(m);
    }
    if (from != 110)
        die("stored offset is %" PRId64 ", expected 110", from);
    long long rows = scalar(check, "SELECT COUNT(*) FROM sink_test.eo");
    long long distinct = scalar(check, "SELECT COUNT(DISTINCT n) FROM sink_test.eo");
    if (rows != 10 || distinct != 10)
        die("after the restarts: %lld rows, %lld distinct, expected 10 and 10", rows, distinct);
    printf("ok: exactly_once: restarts resume from the stored offset 110: 10 rows, no doubles\n");
    close_dest(check);
    close_dest(killer);
}

/* ---- poison events ------------------------------------------------------------ */

static const colspec_t pz_cols[] = {
    {"id", FERRY_TYPE_INT, "INT NOT NULL", 0},
    {"name", FERRY_TYPE_STRING, "VARCHAR(5) NOT NULL", 0},
    {"qty", FERRY_TYPE_UINT, "INT UNSIGNED", 0},
    {"d", FERRY_TYPE_DOUBLE, "DOUBLE", 0},
};

static ferry_row_t *pz_row(int64_t id, const char *name, uint64_t qty, double d)
{
    ferry_row_t *r = ferry_row_new(arena, 4);
    r->values[0] = ferry_value_int(id);
    r->values[1] = name ? s_(name) : ferry_value_null();
    r->values[2] = ferry_value_uint(qty);
    r->values[3] = ferry_value_double(d);
    return r;
}

static void expect_failure(const ferry_mysql_sink_result_t *res, size_t i, size_t event,
                           unsigned int err_no, const char *state)
{
    if (i >= res->n_failed || res->failed[i].event != event || res->failed[i].err_no != err_no ||
        strcmp(res->failed[i].sqlstate, state) != 0)
        die("failure %zu: expected event %zu errno %u SQLSTATE %s, got %s", i, event, err_no, state,
            i < res->n_failed ? res->failed[i].message : "none");
    printf("  dead letter: event %zu: errno %u SQLSTATE %s: %s\n", event, res->failed[i].err_no,
           res->failed[i].sqlstate, res->failed[i].message);
}

static void scenario_poison(void)
{
    MYSQL *m = connect_dest(true);
    tdef_t t = {"sink_test", "poison", pz_cols, 4, NULL};
    create_table(m, &t, 0, ", PRIMARY KEY (`id`)");
    sql(m, "DROP DATABASE IF EXISTS sink_meta_pz");
    ferry_mysql_sink_t *s = new_sink(m, "sink_meta_pz", false);
    int id = register_table(s, &t, NULL, 0);
    ferry_change_t first[] = {change('c', NULL, pz_row(1, "one", 1, 1))};
    apply(s, id, false, first, 1, "poison: set-up");

    ferry_change_t evs[] = {
        change('c', NULL, pz_row(2, "two", 2, 2)),                 /* 0 ok */
        change('c', NULL, pz_row(1, "dup", 1, 1)),                 /* 1 duplicate key */
        change('c', NULL, pz_row(3, "toolong", 3, 3)),             /* 2 data too long */
        change('c', NULL, pz_row(4, "four", 4, 4)),                /* 3 ok */
        change('c', NULL, pz_row(5, "nan", 5, NAN)),               /* 4 refused by ferry */
        change('u', pz_row(99, "x", 0, 0), pz_row(99, "y", 0, 0)), /* 5 no such row */
        change('d', pz_row(2, "two", 2, 2), NULL),                 /* 6 ok */
        change('c', NULL, pz_row(6, NULL, 6, 6)),                  /* 7 NULL into NOT NULL */
        change('c', NULL, pz_row(7, "seven", 7, 7)),               /* 8 ok */
        change('r', NULL, pz_row(8, "eight", 8, 8)),               /* 9 ok, LOAD DATA */
        change('r', NULL, pz_row(4, "again", 4, 4)),               /* 10 duplicate, LOAD DATA */
        change('r', NULL, pz_row(9, "nine", 9, 9)),                /* 11 ok, LOAD DATA */
    };
    size_t n = sizeof(evs) / sizeof(evs[0]);
    ferry_mysql_sink_run_t run = {.table = id, .events = evs, .n_events = n};
    ferry_mysql_sink_offset_t off = {.topic = "ferry.sinktest.fwd.src.poison", .next_offset = 1000};
    ferry_mysql_sink_batch_t b = {.runs = &run, .n_runs = 1, .offsets = &off, .n_offsets = 1};
    ferry_mysql_sink_result_t res;
    char err[512];
    if (ferry_mysql_sink_apply(s, &b, &res, err, sizeof(err)) != 0)
        die("poison batch: %s", err);
    if (res.n_failed != 6)
        die("poison batch: %zu failures, expected 6", res.n_failed);
    expect_failure(&res, 0, 1, 1062, "23000");
    expect_failure(&res, 1, 2, 1406, "22001");
    expect_failure(&res, 2, 4, 0, "22000");
    expect_failure(&res, 3, 5, 0, "02000");
    expect_failure(&res, 4, 7, 1048, "23000");
    expect_failure(&res, 5, 10, 1062, "23000");
    if (scalar(m, "SELECT GROUP_CONCAT(id ORDER BY id) = '1,4,7,8,9' FROM sink_test.poison") != 1)
        die("poison batch: wrong rows applied");
    if (scalar(m, "SELECT next_offset FROM sink_meta_pz.ferry_offsets") != 1000)
        die("poison batch: offsets not stored with the rows");
    printf("ok: poison: 6 bad events of 12 returned with their errors (%" PRIu64
           " savepoint retries), the rest and the offsets committed\n",
           res.retries);
    ferry_mysql_sink_destroy(s);

    /* policy "stop": nothing is committed, the first bad event is named */
    ferry_mysql_sink_conf_t conf = {
        .link = "sinktest.fwd", .meta_db = "sink_meta_pz", .stop_on_data_error = true};
    if (ferry_mysql_sink_new(m, &conf, &s, err, sizeof(err)) != 0)
        die("sink_new: %s", err);
    id = register_table(s, &t, NULL, 0);
    ferry_change_t stop_evs[] = {change('c', NULL, pz_row(10, "ten", 10, 10)),
                                 change('c', NULL, pz_row(1, "dup", 1, 1))};
    run = (ferry_mysql_sink_run_t){.table = id, .events = stop_evs, .n_events = 2};
    off.next_offset = 2000;
    int rc = ferry_mysql_sink_apply(s, &b, &res, err, sizeof(err));
    if (rc != FERRY_ERR_INVALID || res.n_failed != 1 || res.failed[0].event != 1)
        die("stop policy: rc %d, %zu failures", rc, res.n_failed);
    if (scalar(m, "SELECT COUNT(*) FROM sink_test.poison WHERE id = 10") != 0 ||
        scalar(m, "SELECT next_offset FROM sink_meta_pz.ferry_offsets") != 1000)
        die("stop policy: something was committed");
    printf("ok: poison: stop policy commits nothing and names event 1: %s\n", err);
    ferry_mysql_sink_destroy(s);
    close_dest(m);
}

/* ---- folding a key's changes (compact runs) ------------------------------ */

static const colspec_t fd_cols[] = {
    {"id", FERRY_TYPE_INT, "INT NOT NULL", 0},
    {"k", FERRY_TYPE_INT, "INT", 0},
    {"c", FERRY_TYPE_STRING, "VARCHAR(20)", 0},
    {"b", FERRY_TYPE_BYTES, "VARBINARY(8)", 0},
    /* the same value in every image of a key: an update that left it out
       of its SET would give it the time of the apply */
    {"ts", FERRY_TYPE_TIMESTAMP,
     "TIMESTAMP(6) NOT NULL DEFAULT '2001-01-01' ON UPDATE CURRENT_TIMESTAMP(6)", 6},
};

static ferry_row_t *fd_row(int64_t id, unsigned r)
{
    static const char *const words[] = {"a", "b", "zz", "", "\xC3\xA9t\xC3\xA9", "x'y"};
    ferry_row_t *row = ferry_row_new(arena, 5);
    row->values[4] = ferry_value_civil(2020, 1, 2, 3, 4, (int)(id % 60), 5);
    row->values[0] = ferry_value_int(id);
    row->values[1] = r % 5 == 0 ? ferry_value_null() : ferry_value_int((int64_t)(r % 1000));
    row->values[2] = r % 7 == 0 ? ferry_value_null() : s_(words[r % 6]);
    row->values[3] = r % 3 == 0 ? ferry_value_null() : ferry_value_str("\0\1", 1 + r % 2);
    return row;
}

/* Applies one run (compact or not) and expects no failure; returns the result. */
static ferry_mysql_sink_result_t apply_run(ferry_mysql_sink_t *s, int table, bool safe,
                                           bool compact, const ferry_change_t *evs, size_t n,
                                           const char *what)
{
    ferry_mysql_sink_run_t run = {
        .table = table, .safe = safe, .events = evs, .n_events = n, .compact = compact};
    ferry_mysql_sink_batch_t b = {.runs = &run, .n_runs = 1};
    ferry_mysql_sink_result_t res;
    char err[512];
    if (ferry_mysql_sink_apply(s, &b, &res, err, sizeof(err)) != 0)
        die("%s: apply: %s", what, err);
    if (res.n_failed)
        die("%s: event %zu failed: %s", what, res.failed[0].event, res.failed[0].message);
    return res;
}

#define FD_KEYS 40

/* The rows the model holds, in key order, into want; returns how many. */
static size_t fd_present(ferry_row_t *const *model, ferry_row_t **want)
{
    size_t n = 0;
    for (size_t k = 0; k < FD_KEYS; k++)
        if (model[k])
            want[n++] = model[k];
    return n;
}

/*
 * Random batches of inserts, updates and deletes over few keys (so that a
 * key changes several times in a batch: delete then insert, insert then
 * delete, updates in a row, NULLs coming and going) go to one table as
 * compact runs and to another as plain runs, in strict mode; both must hold
 * the model's rows after every batch, with the same counts. Then a safe
 * replay of every batch over the result changes nothing, and strict mode
 * still fails a folded chain whose row is missing, with all its events.
 */
static void scenario_fold(void)
{
    MYSQL *m = connect_dest(true);
    tdef_t tf = {"sink_test", "fold", fd_cols, 5, NULL};
    tdef_t tp = {"sink_test", "fold_plain", fd_cols, 5, NULL};
    create_table(m, &tf, 0, ", PRIMARY KEY (`id`), KEY (`k`)");
    create_table(m, &tp, 0, ", PRIMARY KEY (`id`), KEY (`k`)");
    sql(m, "DROP DATABASE IF EXISTS sink_meta_fold");
    ferry_mysql_sink_t *s = new_sink(m, "sink_meta_fold", true);
    int idf = register_table(s, &tf, NULL, 0), idp = register_table(s, &tp, NULL, 0);

    ferry_row_t *model[FD_KEYS] = {0};
    enum { BATCHES = 40, PER = 60 };
    ferry_change_t *all = ferry_arena_calloc(arena, BATCHES * PER, sizeof(*all));
    unsigned seed = 12345, folded_to = 0;
    for (size_t bt = 0; bt < BATCHES; bt++) {
        ferry_change_t *evs = &all[bt * PER];
        for (size_t i = 0; i < PER; i++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 8;
            size_t key = r % (bt < BATCHES / 2 ? 6 : FD_KEYS); /* few keys first: long chains */
            ferry_row_t *next = fd_row((int64_t)key + 1, r / 64);
            if (!model[key])
                evs[i] = change('c', NULL, next);
            else if (r % 3 == 0)
                evs[i] = change('d', model[key], NULL);
            else
                evs[i] = change('u', model[key], next);
            model[key] = evs[i].op == 'd' ? NULL : next;
        }
        ferry_mysql_sink_result_t rf = apply_run(s, idf, false, true, evs, PER, "fold: compact");
        ferry_mysql_sink_result_t rp = apply_run(s, idp, false, false, evs, PER, "fold: plain");
        if (rf.inserted != rp.inserted || rf.updated != rp.updated || rf.deleted != rp.deleted ||
            rf.inserted + rf.updated + rf.deleted != PER)
            die("fold: batch %zu counted %" PRIu64 "/%" PRIu64 "/%" PRIu64 " against %" PRIu64
                "/%" PRIu64 "/%" PRIu64,
                bt, rf.inserted, rf.updated, rf.deleted, rp.inserted, rp.updated, rp.deleted);
        if (rf.statements >= rp.statements && bt < BATCHES / 2)
            die("fold: batch %zu of few keys took %" PRIu64 " statements, as many as without "
                "folding (%" PRIu64 ")",
                bt, rf.statements, rp.statements);
        folded_to += (unsigned)rf.statements;
        ferry_row_t *want[FD_KEYS];
        size_t n = fd_present(model, want);
        verify(m, &tf, 0, want, n, "fold: compact runs");
        verify(m, &tp, 0, want, n, "fold: plain runs");
    }
    if (scalar(m, "SELECT SUM(rows_applied) FROM sink_meta_fold.ferry_progress "
                  "WHERE tbl = 'fold' AND phase = 'strict'") != BATCHES * PER)
        die("fold: progress rows do not count every event");

    /* a safe replay of everything (the hand-over) leaves the final rows */
    for (size_t bt = 0; bt < BATCHES; bt++)
        apply_run(s, idf, true, true, &all[bt * PER], PER, "fold: safe replay");
    ferry_row_t *want[FD_KEYS];
    size_t n = fd_present(model, want);
    verify(m, &tf, 0, want, n, "fold: safe replay");

    /* insert then delete of a key the snapshot holds: safe mode deletes it */
    ferry_row_t *extra = fd_row(FD_KEYS + 1, 1);
    sql(m, "INSERT INTO sink_test.fold (id, k) VALUES (%d, 1)", FD_KEYS + 1);
    ferry_change_t cd[] = {change('c', NULL, extra), change('d', extra, NULL)};
    apply_run(s, idf, true, true, cd, 2, "fold: safe insert-delete");
    if (scalar(m, "SELECT COUNT(*) FROM sink_test.fold WHERE id = %d", FD_KEYS + 1) != 0)
        die("fold: safe insert then delete left the row");

    /* updates without a before image (the row before them unknown) set every column:
       k NULL, c "x'y", b 0x0001 before; k 777, c 'a', b NULL after */
    ferry_row_t *u1 = fd_row(FD_KEYS + 4, 6), *u2 = copy_row(u1);
    u2->values[1] = ferry_value_int(777);
    ferry_change_t ins[] = {change('c', NULL, fd_row(FD_KEYS + 4, 5))};
    apply_run(s, idf, false, true, ins, 1, "fold: set-up");
    ferry_change_t nob[] = {change('u', NULL, u1), change('u', NULL, u2)};
    apply_run(s, idf, false, true, nob, 2, "fold: updates without before image");
    if (scalar(m,
               "SELECT COUNT(*) FROM sink_test.fold WHERE id = %d AND k = 777 AND c = 'a' "
               "AND b IS NULL",
               FD_KEYS + 4) != 1)
        die("fold: updates without a before image left columns of the old row");

    /* strict: a delete+insert chain of a missing row fails, both events; the rest applies */
    ferry_row_t *gone = fd_row(FD_KEYS + 2, 2), *back = fd_row(FD_KEYS + 2, 3);
    ferry_row_t *fresh = fd_row(FD_KEYS + 3, 4);
    ferry_change_t bad[] = {change('d', gone, NULL), change('c', NULL, fresh),
                            change('c', NULL, back)};
    ferry_mysql_sink_run_t run = {.table = idf, .events = bad, .n_events = 3, .compact = true};
    ferry_mysql_sink_batch_t b = {.runs = &run, .n_runs = 1};
    ferry_mysql_sink_result_t res;
    char err[512];
    if (ferry_mysql_sink_apply(s, &b, &res, err, sizeof(err)) != 0)
        die("fold: strict missing row: %s", err);
    if (res.n_failed != 2 || res.failed[0].event != 0 || res.failed[1].event != 2 ||
        strcmp(res.failed[0].sqlstate, "02000") != 0 || res.inserted != 1)
        die("fold: strict missing row: %zu failures (%s)", res.n_failed,
            res.n_failed ? res.failed[0].message : "none");
    if (scalar(m, "SELECT COUNT(*) FROM sink_test.fold WHERE id = %d", FD_KEYS + 3) != 1 ||
        scalar(m, "SELECT COUNT(*) FROM sink_test.fold WHERE id = %d", FD_KEYS + 2) != 0)
        die("fold: strict missing row: wrong rows applied");
    printf("  dead letter: events 0 and 2: %s\n", res.failed[0].message);
    printf("ok: fold: %d random changes over %d keys equal with and without folding "
           "(%u statements folded), safe replay exact, a folded chain's failure names its "
           "events\n",
           BATCHES * PER, FD_KEYS, folded_to);
    ferry_mysql_sink_destroy(s);
    close_dest(m);
}

/* Progress rows: summed per table and phase. */
static int on_progress(void *arg, const char *db, const char *table, const char *phase,
                       uint64_t rows)
{
    (void)arg;
    printf("  progress: %s.%s %s %" PRIu64 "\n", db, table, phase, rows);
    return 0;
}

static void scenario_progress(void)
{
    MYSQL *m = connect_dest(false);
    ferry_mysql_sink_t *s = new_sink(m, "sink_meta_snap", false);
    char err[512];
    if (ferry_mysql_sink_read_progress(s, on_progress, NULL, err, sizeof(err)) != 0)
        die("read progress: %s", err);
    ferry_mysql_sink_destroy(s);
    close_dest(m);
}

typedef struct {
    int found;
    char file[64];
    uint64_t pos;
    int32_t row, rank;
    int64_t next;
} stored_pos_t;

static int on_stored(void *arg, const ferry_mysql_sink_offset_t *o)
{
    stored_pos_t *p = arg;
    if (strcmp(o->topic, "ferry.sinktest.fwd.src.pos") != 0 || o->partition != 1)
        return 0;
    p->found++;
    p->next = o->next_offset;
    snprintf(p->file, sizeof(p->file), "%s", o->last.file ? o->last.file : "(none)");
    p->pos = o->last.pos;
    p->row = o->last.row;
    p->rank = o->last.rank;
    return 0;
}

static stored_pos_t read_pos(ferry_mysql_sink_t *s)
{
    stored_pos_t p = {0};
    char err[512];
    if (ferry_mysql_sink_read_stored(s, NULL, on_stored, &p, err, sizeof(err)) != 0)
        die("read stored: %s", err);
    return p;
}

static void offsets_only(ferry_mysql_sink_t *s, const ferry_mysql_sink_offset_t *off)
{
    ferry_mysql_sink_batch_t b = {.offsets = off, .n_offsets = 1};
    ferry_mysql_sink_result_t res;
    char err[512];
    if (ferry_mysql_sink_apply(s, &b, &res, err, sizeof(err)) != 0)
        die("apply offsets: %s", err);
}

/*
 * The dedup position stored with an offset: an offsets table of an older
 * ferry (no position columns, one row) is upgraded in place; a position is
 * stored and read back; an offset written without one keeps the stored one.
 */
static void scenario_positions(void)
{
    MYSQL *m = connect_dest(false);
    sql(m, "DROP DATABASE IF EXISTS sink_meta_pos");
    sql(m, "CREATE DATABASE sink_meta_pos");
    sql(m, "CREATE TABLE sink_meta_pos.ferry_offsets (`link` VARCHAR(255) NOT NULL, "
           "`topic` VARCHAR(255) NOT NULL, `partition` INT NOT NULL, `next_offset` BIGINT NOT "
           "NULL, `updated_at` DATETIME(6) NOT NULL, PRIMARY KEY (`link`, `topic`, `partition`)) "
           "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin");
    sql(m, "INSERT INTO sink_meta_pos.ferry_offsets VALUES ('sinktest.fwd', "
           "'ferry.sinktest.fwd.src.pos', 1, 7, NOW(6))");
    ferry_mysql_sink_t *s = new_sink(m, "sink_meta_pos", true);
    stored_pos_t p = read_pos(s);
    if (p.found != 1 || p.next != 7 || strcmp(p.file, "(none)") != 0)
        die("old row after the upgrade: found %d next %lld file %s", p.found, (long long)p.next,
            p.file);
    ferry_mysql_sink_offset_t off = {.topic = "ferry.sinktest.fwd.src.pos",
                                     .partition = 1,
                                     .next_offset = 12,
                                     .last = {"mysql-bin.000004", 98765, 3, 1}};
    offsets_only(s, &off);
    off.next_offset = 13;
    off.last.file = NULL;
    offsets_only(s, &off);
    p = read_pos(s);
    if (p.found != 1 || p.next != 13 || strcmp(p.file, "mysql-bin.000004") != 0 || p.pos != 98765 ||
        p.row != 3 || p.rank != 1)
        die("stored position: next %lld %s:%llu row %d rank %d", (long long)p.next, p.file,
            (unsigned long long)p.pos, (int)p.row, (int)p.rank);
    ferry_mysql_sink_destroy(s);
    close_dest(m);
    printf("ok: positions: old offsets table upgraded, position stored with its offset and kept "
           "by an offset without one\n");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sink_apply "
                        "types|snapshot|names|ukey|nokey|exactly_once|poison|positions|fold|all\n");
        return 2;
    }
    ferry_db_global_init();
    arena = ferry_arena_new(0);
    big_blob = malloc(BIG_BLOB_LEN);
    uint32_t x = 12345;
    for (size_t i = 0; i < BIG_BLOB_LEN; i++) {
        x = x * 1103515245u + 12345u;
        big_blob[i] = (char)(x >> 16);
    }
    static const struct {
        const char *name;
        void (*fn)(void);
    } all[] = {{"types", scenario_types},         {"snapshot", scenario_snapshot},
               {"names", scenario_names},         {"ukey", scenario_ukey},
               {"nokey", scenario_nokey},         {"exactly_once", scenario_exactly_once},
               {"poison", scenario_poison},       {"progress", scenario_progress},
               {"positions", scenario_positions}, {"fold", scenario_fold}};
    int ran = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(argv[1], "all") != 0 && strcmp(argv[1], all[i].name) != 0)
            continue;
        scenario = all[i].name;
        all[i].fn();
        ferry_arena_reset(arena);
        ran++;
    }
    free(big_blob);
    for (size_t i = 0; i < n_made; i++)
        ferry_table_destroy(made[i]);
    ferry_arena_destroy(arena);
    ferry_db_global_cleanup();
    if (!ran) {
        fprintf(stderr, "sink_apply: unknown scenario %s\n", argv[1]);
        return 2;
    }
    return 0;
}
