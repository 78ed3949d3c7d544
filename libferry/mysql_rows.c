/*
 * mysql_rows.c - text-protocol cells of a MySQL-family result as ferry
 * values. The per-type rules are in mysql_rows.h.
 */
#include "mysql_rows.h"

#include "err.h"

#include <errno.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>

void ferry_mysql_rows_quote_ident(ferry_strbuf_t *sb, const char *name)
{
    ferry_strbuf_put(sb, "`", 1);
    for (const char *p = name; *p; p++) {
        const char *tick = strchr(p, '`');
        if (!tick) {
            ferry_strbuf_puts(sb, p);
            break;
        }
        ferry_strbuf_put(sb, p, (size_t)(tick - p));
        ferry_strbuf_put(sb, "``", 2);
        p = tick;
    }
    ferry_strbuf_put(sb, "`", 1);
}

void ferry_mysql_rows_quote_table(ferry_strbuf_t *sb, const ferry_table_t *t)
{
    ferry_mysql_rows_quote_ident(sb, ferry_table_db(t));
    ferry_strbuf_put(sb, ".", 1);
    ferry_mysql_rows_quote_ident(sb, ferry_table_name(t));
}

void ferry_mysql_rows_select_list(ferry_strbuf_t *sb, const ferry_table_t *t)
{
    size_t n = ferry_table_ncolumns(t);
    for (size_t i = 0; i < n; i++) {
        const ferry_column_t *col = ferry_table_column(t, i);
        if (i)
            ferry_strbuf_put(sb, ",", 1);
        if (col->type == FERRY_TYPE_FLOAT) {
            ferry_strbuf_puts(sb, "CAST(");
            ferry_mysql_rows_quote_ident(sb, col->name);
            ferry_strbuf_puts(sb, " AS DOUBLE)");
        } else {
            ferry_mysql_rows_quote_ident(sb, col->name);
        }
    }
}

int ferry_mysql_rows_session(MYSQL *conn, char *errstr, size_t errstr_size)
{
    static const char sql[] = "SET SESSION sql_mode = '', SESSION net_write_timeout = 600, "
                              "SESSION net_read_timeout = 600";
    if (mysql_real_query(conn, sql, sizeof(sql) - 1) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                             "could not prepare the session for reading rows: %s",
                             mysql_error(conn));
    return 0;
}

/* ---- cells ------------------------------------------------------------ */

static int bad(const ferry_column_t *col, char *errstr, size_t errstr_size, const char *why,
               const char *text, size_t len)
{
    int shown = len > 40 ? 40 : (int)len;
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                         "could not read column \"%s\" (%s): %s: \"%.*s\"%s", col->name,
                         col->source_type ? col->source_type : ferry_type_name(col->type), why,
                         shown, text, len > 40 ? "..." : "");
}

/* Cells of the text protocol are NUL-terminated; numbers are short. */
static bool parse_int(const char *text, size_t len, int64_t *out)
{
    if (len == 0 || len > 24 || text[len] != '\0')
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end != text + len)
        return false;
    *out = v;
    return true;
}

static bool parse_uint(const char *text, size_t len, uint64_t *out)
{
    if (len == 0 || len > 24 || text[len] != '\0' || text[0] == '-')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end != text + len)
        return false;
    *out = v;
    return true;
}

/* strtod accepts "inf", hex floats and leading blanks: the server sends none of them. */
static bool plain_number(const char *text, size_t len)
{
    if (len == 0 || len > 64 || text[len] != '\0')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr("0123456789+-.eE", text[i]))
            return false;
    return true;
}

static bool decimal_text(const char *text, size_t len)
{
    size_t i = 0, digits = 0, dots = 0;
    if (i < len && text[i] == '-')
        i++;
    for (; i < len; i++) {
        if (text[i] >= '0' && text[i] <= '9')
            digits++;
        else if (text[i] == '.' && dots++ == 0)
            continue;
        else
            return false;
    }
    return digits > 0;
}

static int parse_numeric(const ferry_column_t *col, const char *text, size_t len,
                         ferry_value_t *out, char *errstr, size_t errstr_size)
{
    switch (col->type) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_YEAR:
        if (!parse_int(text, len, &out->v.i))
            return bad(col, errstr, errstr_size, "not an integer", text, len);
        return 0;
    case FERRY_TYPE_UINT:
        if (!parse_uint(text, len, &out->v.u))
            return bad(col, errstr, errstr_size, "not an unsigned integer", text, len);
        return 0;
    case FERRY_TYPE_FLOAT:
    case FERRY_TYPE_DOUBLE: {
        if (!plain_number(text, len))
            return bad(col, errstr, errstr_size, "not a number", text, len);
        char *end;
        errno = 0;
        /* FLOAT arrives as the exact double of its value (see the SELECT list) */
        double d = strtod(text, &end);
        if (col->type == FERRY_TYPE_FLOAT)
            out->v.f = (float)d;
        else
            out->v.d = d;
        /* ERANGE on a denormal is fine: the result is still the nearest value */
        if (end != text + len)
            return bad(col, errstr, errstr_size, "not a number", text, len);
        return 0;
    }
    case FERRY_TYPE_DECIMAL:
        if (!decimal_text(text, len))
            return bad(col, errstr, errstr_size, "not a decimal", text, len);
        out->v.s.ptr = text;
        out->v.s.len = len;
        return 0;
    default:
        return bad(col, errstr, errstr_size, "not a numeric type", text, len);
    }
}

static int parse_bit(const ferry_column_t *col, const char *text, size_t len, ferry_value_t *out,
                     char *errstr, size_t errstr_size)
{
    if (len > 8)
        return bad(col, errstr, errstr_size, "more than 64 bits", "", 0);
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++)
        v = (v << 8) | (uint8_t)text[i];
    out->v.u = v;
    return 0;
}

static int parse_geometry(const ferry_column_t *col, const char *text, size_t len,
                          ferry_value_t *out, char *errstr, size_t errstr_size)
{
    if (len < 4)
        return bad(col, errstr, errstr_size, "geometry shorter than its SRID", "", 0);
    const uint8_t *b = (const uint8_t *)text;
    out->aux = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    out->v.s.ptr = text + 4;
    out->v.s.len = len - 4;
    return 0;
}

int ferry_mysql_rows_parse_value(const ferry_column_t *col, const char *text, size_t len,
                                 ferry_value_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    if (!text) {
        out->is_null = 1;
        return 0;
    }
    switch (col->type) {
    case FERRY_TYPE_INT:
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_FLOAT:
    case FERRY_TYPE_DOUBLE:
    case FERRY_TYPE_DECIMAL:
    case FERRY_TYPE_YEAR:
        return parse_numeric(col, text, len, out, errstr, errstr_size);
    case FERRY_TYPE_BOOL:
        if (len != 1 || (text[0] != '0' && text[0] != '1'))
            return bad(col, errstr, errstr_size, "not a boolean", text, len);
        out->v.b = text[0] == '1';
        return 0;
    case FERRY_TYPE_DATE:
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        if (ferry_value_parse_civil(text, len, &out->v.dt) != 0)
            return bad(col, errstr, errstr_size, "not a date", text, len);
        return 0;
    case FERRY_TYPE_TIME:
        if (ferry_value_parse_time(text, len, &out->v.i) != 0)
            return bad(col, errstr, errstr_size, "not a time", text, len);
        return 0;
    case FERRY_TYPE_BIT:
        return parse_bit(col, text, len, out, errstr, errstr_size);
    case FERRY_TYPE_GEOMETRY:
        return parse_geometry(col, text, len, out, errstr, errstr_size);
    case FERRY_TYPE_UUID:
        if (ferry_value_parse_uuid(text, len, out->v.uuid) != 0)
            return bad(col, errstr, errstr_size, "not a UUID", text, len);
        return 0;
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_BYTES:
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET:
    case FERRY_TYPE_JSON:
    case FERRY_TYPE_ARRAY:
        out->v.s.ptr = text;
        out->v.s.len = len;
        return 0;
    case FERRY_TYPE_INTERVAL:
        if (ferry_value_parse_interval(text, len, &out->v.iv) != 0)
            return bad(col, errstr, errstr_size, "not an interval", text, len);
        return 0;
    }
    return bad(col, errstr, errstr_size, "unknown ferry type", "", 0);
}

int ferry_mysql_rows_convert(const ferry_table_t *t, char **cells, const unsigned long *lengths,
                             ferry_arena_t *arena, ferry_row_t **out, char *errstr,
                             size_t errstr_size)
{
    *out = NULL;
    size_t n = ferry_table_ncolumns(t);
    ferry_row_t *row = ferry_row_new(arena, n);
    if (!row)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not read a row of \"%s.%s\": out of memory", ferry_table_db(t),
                             ferry_table_name(t));
    for (size_t i = 0; i < n; i++) {
        char why[384];
        if (ferry_mysql_rows_parse_value(ferry_table_column(t, i), cells[i], lengths[i],
                                         &row->values[i], why, sizeof(why)) != 0)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not read a row of \"%s.%s\": %s", ferry_table_db(t),
                                 ferry_table_name(t), why);
    }
    *out = row;
    return 0;
}
