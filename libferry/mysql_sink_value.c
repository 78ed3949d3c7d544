/*
 * mysql_sink_value.c - ferry values as MySQL SQL literals and LOAD DATA
 * fields, without loss.
 *
 * Choices that matter for exactness:
 *  - DECIMAL text goes unquoted (after checking it is a plain number): a
 *    quoted string compared with a DECIMAL column is compared as a double,
 *    which would miss rows of DECIMAL(65,30).
 *  - FLOAT and DOUBLE always carry an exponent, so the server reads them as
 *    doubles (not as exact decimals), with the fewest digits that read back
 *    to the same bits; FLOAT's are those of the float widened to double,
 *    so FLT_MAX stays in range and a float column compares equal to it.
 *  - YEAR goes as a number in SQL (0 is year 0000; the string '0' would be
 *    2000) and as four digits in LOAD DATA, where every field is a string.
 *  - strings use backslash escapes; the sink's session never has
 *    NO_BACKSLASH_ESCAPES. Binary data goes as X'..' (hex in LOAD DATA,
 *    turned back with UNHEX) so no charset conversion can touch it.
 */
#include "mysql_sink_int.h"

#include "err.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hexdig[] = "0123456789ABCDEF";

static bool decimal_text_ok(const char *p, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (p[i] == '-' || p[i] == '+'))
        i++;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        digits++;
    if (i < n && p[i] == '.')
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++)
            digits++;
    if (digits == 0)
        return false;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '-' || p[i] == '+'))
            i++;
        size_t exp_digits = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
            exp_digits++;
        if (exp_digits == 0)
            return false;
    }
    return i == n;
}

const char *ferry_mysql_sink_refusal(ferry_type_t t, const ferry_value_t *v)
{
    if (v->is_null)
        return NULL;
    switch (t) {
    case FERRY_TYPE_FLOAT:
        return isfinite(v->v.f) ? NULL : "MySQL cannot store NaN or infinity in FLOAT";
    case FERRY_TYPE_DOUBLE:
        return isfinite(v->v.d) ? NULL : "MySQL cannot store NaN or infinity in DOUBLE";
    case FERRY_TYPE_DECIMAL:
        return decimal_text_ok(v->v.s.ptr, v->v.s.len)
                   ? NULL
                   : "MySQL cannot store this DECIMAL value (NaN, infinity or not a number)";
    case FERRY_TYPE_DATE:
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        if (v->flags & (FERRY_VALUE_POS_INFINITY | FERRY_VALUE_NEG_INFINITY))
            return "MySQL has no infinite dates";
        if (v->v.dt.year < 0 || v->v.dt.year > 9999)
            return "the year is outside MySQL's range 0..9999";
        return NULL;
    default:
        return NULL;
    }
}

/* Shortest %.Ng (N from lo to 17) that reads back as d, with an exponent. */
static void put_double(ferry_strbuf_t *b, double d, int lo)
{
    char buf[40];
    for (int prec = lo; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    ferry_strbuf_puts(b, buf);
    if (!strchr(buf, 'e'))
        ferry_strbuf_puts(b, "e0");
}

static void put_hex(ferry_strbuf_t *b, const char *p, size_t n)
{
    char chunk[256];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        chunk[o++] = hexdig[c >> 4];
        chunk[o++] = hexdig[c & 15];
        if (o == sizeof(chunk)) {
            ferry_strbuf_put(b, chunk, o);
            o = 0;
        }
    }
    ferry_strbuf_put(b, chunk, o);
}

/* Escape letters: a byte with a non-zero entry is written as a backslash and that letter. */
static const char literal_escapes[256] = {['\0'] = '0',  ['\n'] = 'n', ['\r'] = 'r',  ['\\'] = '\\',
                                          ['\''] = '\'', ['"'] = '"',  ['\032'] = 'Z'};
/* LOAD DATA fields (FIELDS ESCAPED BY '\\', tab-separated, newline-terminated) */
static const char field_escapes[256] = {['\0'] = '0', ['\t'] = 't', ['\n'] = 'n', ['\\'] = '\\'};

/* Appends n bytes of p; a byte that esc gives a letter is written as a backslash and it. */
static void put_escaped(ferry_strbuf_t *b, const char *p, size_t n, const char esc[256])
{
    size_t run = 0; /* bytes copied as they are, flushed before each escape */
    for (size_t i = 0; i < n; i++) {
        char letter = esc[(unsigned char)p[i]];
        if (!letter)
            continue;
        char pair[2] = {'\\', letter};
        ferry_strbuf_put(b, p + run, i - run);
        ferry_strbuf_put(b, pair, 2);
        run = i + 1;
    }
    ferry_strbuf_put(b, p + run, n - run);
}

void ferry_mysql_sink_put_string(ferry_strbuf_t *b, const char *p, size_t n)
{
    ferry_strbuf_put(b, "'", 1);
    put_escaped(b, p, n, literal_escapes);
    ferry_strbuf_put(b, "'", 1);
}

void ferry_mysql_sink_put_ident(ferry_strbuf_t *b, const char *name)
{
    ferry_strbuf_put(b, "`", 1);
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            ferry_strbuf_put(b, "`", 1);
        ferry_strbuf_put(b, p, 1);
    }
    ferry_strbuf_put(b, "`", 1);
}

/* Text of temporal values; false when t is not temporal. */
static bool temporal_text(ferry_type_t t, const ferry_value_t *v, char *buf, size_t size)
{
    switch (t) {
    case FERRY_TYPE_DATE:
        ferry_value_format_civil(&v->v.dt, true, 0, buf, size);
        return true;
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        ferry_value_format_civil(&v->v.dt, false, v->v.dt.usec ? 6 : 0, buf, size);
        return true;
    case FERRY_TYPE_TIME:
        ferry_value_format_time(v->v.i, v->v.i % 1000000 ? 6 : 0, buf, size);
        return true;
    default:
        return false;
    }
}

/* Text of values written the same way in SQL and in LOAD DATA; false otherwise. */
static bool plain_text(ferry_type_t t, const ferry_value_t *v, ferry_strbuf_t *b)
{
    switch (t) {
    case FERRY_TYPE_BOOL:
        ferry_strbuf_puts(b, v->v.b ? "1" : "0");
        return true;
    case FERRY_TYPE_INT:
        ferry_strbuf_printf(b, "%" PRId64, v->v.i);
        return true;
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_BIT:
        ferry_strbuf_printf(b, "%" PRIu64, v->v.u);
        return true;
    case FERRY_TYPE_FLOAT:
        put_double(b, (double)v->v.f, 9);
        return true;
    case FERRY_TYPE_DOUBLE:
        put_double(b, v->v.d, 15);
        return true;
    case FERRY_TYPE_DECIMAL:
        ferry_strbuf_put(b, v->v.s.ptr, v->v.s.len);
        return true;
    default:
        return false;
    }
}

/* Text of values that are quoted strings in SQL; false otherwise. */
static bool text_of(ferry_type_t t, const ferry_value_t *v, char *buf, size_t size, const char **p,
                    size_t *n)
{
    if (temporal_text(t, v, buf, size)) {
        *p = buf;
        *n = strlen(buf);
        return true;
    }
    switch (t) {
    case FERRY_TYPE_UUID:
        ferry_value_format_uuid(v->v.uuid, buf);
        *p = buf;
        *n = strlen(buf);
        return true;
    case FERRY_TYPE_INTERVAL:
        *n = ferry_value_format_interval(&v->v.iv, buf, size);
        *p = buf;
        return true;
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET:
    case FERRY_TYPE_JSON:
    case FERRY_TYPE_ARRAY:
        *p = v->v.s.ptr;
        *n = v->v.s.len;
        return true;
    default:
        return false;
    }
}

/*
 * Writes v when its type has a text form: plain text as it is, other text
 * through put_text (which quotes or escapes it for the statement form at
 * hand). Returns false, writing nothing, for the types each form writes its
 * own way.
 */
static bool put_text_form(ferry_strbuf_t *b, ferry_type_t t, const ferry_value_t *v,
                          void (*put_text)(ferry_strbuf_t *, const char *, size_t))
{
    if (plain_text(t, v, b))
        return true;
    char buf[128];
    const char *p;
    size_t n;
    if (!text_of(t, v, buf, sizeof(buf), &p, &n))
        return false;
    put_text(b, p, n);
    return true;
}

void ferry_mysql_sink_put_literal(ferry_strbuf_t *b, ferry_type_t t, const ferry_value_t *v)
{
    if (v->is_null) {
        ferry_strbuf_puts(b, "NULL");
        return;
    }
    if (put_text_form(b, t, v, ferry_mysql_sink_put_string))
        return;
    switch (t) {
    case FERRY_TYPE_YEAR:
        ferry_strbuf_printf(b, "%" PRId64, v->v.i);
        break;
    case FERRY_TYPE_BYTES:
        ferry_strbuf_puts(b, "X'");
        put_hex(b, v->v.s.ptr, v->v.s.len);
        ferry_strbuf_puts(b, "'");
        break;
    case FERRY_TYPE_GEOMETRY:
        ferry_strbuf_puts(b, "ST_GeomFromWKB(X'");
        put_hex(b, v->v.s.ptr, v->v.s.len);
        ferry_strbuf_printf(b, "', %" PRIu32 ")", v->aux);
        break;
    default:
        ferry_strbuf_puts(b, "NULL"); /* unreachable: every type is handled above */
        break;
    }
}

/* Appends n bytes escaped for a LOAD DATA field. */
static void put_field_text(ferry_strbuf_t *b, const char *p, size_t n)
{
    put_escaped(b, p, n, field_escapes);
}

void ferry_mysql_sink_put_field(ferry_strbuf_t *b, ferry_type_t t, const ferry_value_t *v)
{
    if (v->is_null) {
        ferry_strbuf_puts(b, t == FERRY_TYPE_GEOMETRY ? "\\N\t\\N" : "\\N");
        return;
    }
    if (put_text_form(b, t, v, put_field_text))
        return;
    switch (t) {
    case FERRY_TYPE_YEAR:
        ferry_strbuf_printf(b, "%04" PRId64, v->v.i);
        break;
    case FERRY_TYPE_BYTES:
        put_hex(b, v->v.s.ptr, v->v.s.len);
        break;
    case FERRY_TYPE_GEOMETRY:
        put_hex(b, v->v.s.ptr, v->v.s.len);
        ferry_strbuf_printf(b, "\t%" PRIu32, v->aux);
        break;
    default:
        ferry_strbuf_puts(b, "\\N");
        break;
    }
}

int ferry_mysql_sink_literal(const ferry_column_t *col, const ferry_value_t *v, ferry_strbuf_t *out,
                             char *errstr, size_t errstr_size)
{
    const char *why = ferry_mysql_sink_refusal(col->type, v);
    if (why)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not write value of column \"%s\": %s", col->name, why);
    ferry_mysql_sink_put_literal(out, col->type, v);
    return out->oom ? FERRY_ERR_NOMEM : 0;
}
