/*
 * row.c - tables, rows and the value conversions they need (see row.h).
 */
#include "row.h"
#include "strbuf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct ferry_table {
    char *db, *name;
    ferry_column_t *cols;
    size_t n, cap;
};

/* ---- type names ------------------------------------------------------- */

static const char *const type_names[] = {
    [FERRY_TYPE_BOOL] = "bool",         [FERRY_TYPE_INT] = "int",
    [FERRY_TYPE_UINT] = "uint",         [FERRY_TYPE_FLOAT] = "float",
    [FERRY_TYPE_DOUBLE] = "double",     [FERRY_TYPE_DECIMAL] = "decimal",
    [FERRY_TYPE_DATE] = "date",         [FERRY_TYPE_TIME] = "time",
    [FERRY_TYPE_DATETIME] = "datetime", [FERRY_TYPE_TIMESTAMP] = "timestamp",
    [FERRY_TYPE_YEAR] = "year",         [FERRY_TYPE_STRING] = "string",
    [FERRY_TYPE_BYTES] = "bytes",       [FERRY_TYPE_BIT] = "bit",
    [FERRY_TYPE_ENUM] = "enum",         [FERRY_TYPE_SET] = "set",
    [FERRY_TYPE_JSON] = "json",         [FERRY_TYPE_GEOMETRY] = "geometry",
    [FERRY_TYPE_UUID] = "uuid",         [FERRY_TYPE_INTERVAL] = "interval",
    [FERRY_TYPE_ARRAY] = "array",
};

const char *ferry_type_name(ferry_type_t t)
{
    if ((int)t < FERRY_TYPE_BOOL || t > FERRY_TYPE_MAX)
        return "?";
    return type_names[t];
}

ferry_type_t ferry_type_from_name(const char *name)
{
    for (int t = FERRY_TYPE_BOOL; t <= FERRY_TYPE_MAX; t++)
        if (strcmp(type_names[t], name) == 0)
            return (ferry_type_t)t;
    return (ferry_type_t)0;
}

/* ---- tables ----------------------------------------------------------- */

ferry_table_t *ferry_table_new(const char *db, const char *name)
{
    ferry_table_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->db = strdup(db ? db : "");
    t->name = strdup(name ? name : "");
    if (!t->db || !t->name) {
        ferry_table_destroy(t);
        return NULL;
    }
    return t;
}

static void column_free(ferry_column_t *c)
{
    free((char *)c->name);
    free((char *)c->source_type);
    free((char *)c->charset);
    if (c->members) {
        for (uint32_t i = 0; i < c->n_members; i++)
            free((char *)c->members[i]);
        free((void *)c->members);
    }
}

void ferry_table_destroy(ferry_table_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        column_free(&t->cols[i]);
    free(t->cols);
    free(t->db);
    free(t->name);
    free(t);
}

static int dup_opt(const char *s, const char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = strdup(s);
    return *out ? 0 : -1;
}

int ferry_table_add_column(ferry_table_t *t, const ferry_column_t *col, char *errstr,
                           size_t errstr_size)
{
    const char *tn = t->name;
    if (!col->name)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not add column to \"%s\": column has no name", tn);
    if ((int)col->type < FERRY_TYPE_BOOL || col->type > FERRY_TYPE_MAX)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not add column \"%s\" to \"%s\": unknown type %d", col->name,
                             tn, (int)col->type);
    if (col->fsp < 0 || col->fsp > 6)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not add column \"%s\" to \"%s\": fractional-second "
                             "precision %d is not in 0..6",
                             col->name, tn, col->fsp);
    if (col->type == FERRY_TYPE_DECIMAL &&
        (col->scale < 0 || col->precision > FERRY_DECIMAL_MAX_DIGITS ||
         (col->precision && col->scale > col->precision)))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not add column \"%s\" to \"%s\": bad precision/scale %u,%d",
                             col->name, tn, col->precision, col->scale);
    if (col->n_members &&
        (col->type != FERRY_TYPE_ENUM && col->type != FERRY_TYPE_SET ? 1 : !col->members))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not add column \"%s\" to \"%s\": members given for a "
                             "column that is neither ENUM nor SET",
                             col->name, tn);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        ferry_column_t *nc = realloc(t->cols, cap * sizeof(*nc));
        if (!nc)
            goto nomem;
        t->cols = nc;
        t->cap = cap;
    }
    ferry_column_t c = *col;
    c.members = NULL;
    c.n_members = 0;
    if (dup_opt(col->name, &c.name) || dup_opt(col->source_type, &c.source_type) ||
        dup_opt(col->charset, &c.charset))
        goto fail;
    if (col->n_members) {
        const char **m = calloc(col->n_members, sizeof(*m));
        if (!m)
            goto fail;
        c.members = m;
        for (uint32_t i = 0; i < col->n_members; i++) {
            if (dup_opt(col->members[i] ? col->members[i] : "", &m[i]))
                goto fail;
            c.n_members = i + 1;
        }
    }
    t->cols[t->n++] = c;
    return 0;
fail:
    column_free(&c);
nomem:
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                         "could not add column to \"%s\": out of memory", tn);
}

const char *ferry_table_db(const ferry_table_t *t)
{
    return t->db;
}

const char *ferry_table_name(const ferry_table_t *t)
{
    return t->name;
}

size_t ferry_table_ncolumns(const ferry_table_t *t)
{
    return t->n;
}

const ferry_column_t *ferry_table_column(const ferry_table_t *t, size_t i)
{
    return i < t->n ? &t->cols[i] : NULL;
}

int ferry_table_find(const ferry_table_t *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- rows ------------------------------------------------------------- */

ferry_row_t *ferry_row_new(ferry_arena_t *arena, size_t n)
{
    ferry_row_t *r = ferry_arena_alloc(arena, sizeof(*r));
    if (!r)
        return NULL;
    r->n = n;
    r->values = ferry_arena_calloc(arena, n ? n : 1, sizeof(ferry_value_t));
    if (!r->values)
        return NULL;
    for (size_t i = 0; i < n; i++)
        r->values[i].is_null = 1;
    return r;
}

static bool civil_equal(const ferry_civil_t *a, const ferry_civil_t *b)
{
    return a->year == b->year && a->month == b->month && a->day == b->day && a->hour == b->hour &&
           a->minute == b->minute && a->second == b->second && a->usec == b->usec;
}

static bool span_equal(const ferry_value_t *a, const ferry_value_t *b)
{
    return a->v.s.len == b->v.s.len &&
           (a->v.s.len == 0 || memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0);
}

bool ferry_value_equal(ferry_type_t t, const ferry_value_t *a, const ferry_value_t *b)
{
    if (a->is_null || b->is_null)
        return a->is_null && b->is_null;
    switch (t) {
    case FERRY_TYPE_BOOL:
        return a->v.b == b->v.b;
    case FERRY_TYPE_INT:
    case FERRY_TYPE_TIME:
    case FERRY_TYPE_YEAR:
        return a->v.i == b->v.i;
    case FERRY_TYPE_UINT:
    case FERRY_TYPE_BIT:
        return a->v.u == b->v.u;
    case FERRY_TYPE_FLOAT:
        return memcmp(&a->v.f, &b->v.f, sizeof(float)) == 0;
    case FERRY_TYPE_DOUBLE:
        return memcmp(&a->v.d, &b->v.d, sizeof(double)) == 0;
    case FERRY_TYPE_DATE:
        return a->flags == b->flags &&
               (a->flags || (a->v.dt.year == b->v.dt.year && a->v.dt.month == b->v.dt.month &&
                             a->v.dt.day == b->v.dt.day));
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        return a->flags == b->flags && (a->flags || civil_equal(&a->v.dt, &b->v.dt));
    case FERRY_TYPE_GEOMETRY:
        return a->aux == b->aux && span_equal(a, b);
    case FERRY_TYPE_UUID:
        return memcmp(a->v.uuid, b->v.uuid, 16) == 0;
    case FERRY_TYPE_INTERVAL:
        return a->v.iv.months == b->v.iv.months && a->v.iv.days == b->v.iv.days &&
               a->v.iv.micros == b->v.iv.micros;
    default:
        return span_equal(a, b);
    }
}

/* ---- dates ------------------------------------------------------------ */

/*
 * Civil <-> day-number conversion on the proleptic Gregorian calendar. The
 * year is shifted to start on March 1st so the leap day is the last day of
 * the shifted year; a 400-year era is then a fixed 146097 days.
 */
int64_t ferry_value_days_from_civil(int64_t year, unsigned month, unsigned day)
{
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                      /* 0..399 */
    int64_t mp = month > 2 ? (int64_t)month - 3 : (int64_t)month + 9; /* Mar = 0 */
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)day - 1;              /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;              /* 0..146096 */
    return era * 146097 + doe - 719468;
}

void ferry_value_civil_from_days(int64_t days, ferry_civil_t *out)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    out->year = (int32_t)(yoe + era * 400 + (m <= 2));
    out->month = (uint8_t)m;
    out->day = (uint8_t)d;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const uint8_t dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return leap ? 29 : 28;
    }
    return dim[m - 1];
}

bool ferry_value_civil_is_valid(const ferry_civil_t *c)
{
    return c->month >= 1 && c->month <= 12 && c->day >= 1 &&
           c->day <= days_in_month(c->year, c->month);
}

bool ferry_value_civil_to_micros(const ferry_civil_t *c, int64_t *micros)
{
    if (!ferry_value_civil_is_valid(c) || c->hour > 23 || c->minute > 59 || c->second > 59 ||
        c->usec > 999999)
        return false;
    int64_t days = ferry_value_days_from_civil(c->year, c->month, c->day);
    int64_t secs = (int64_t)c->hour * 3600 + c->minute * 60 + c->second;
    int64_t r;
    if (__builtin_mul_overflow(days, (int64_t)86400000000, &r) ||
        __builtin_add_overflow(r, secs * 1000000 + (int64_t)c->usec, &r))
        return false;
    *micros = r;
    return true;
}

void ferry_value_civil_from_micros(int64_t micros, ferry_civil_t *out)
{
    int64_t days = micros / 86400000000;
    int64_t rem = micros % 86400000000;
    if (rem < 0) {
        rem += 86400000000;
        days--;
    }
    ferry_value_civil_from_days(days, out);
    int64_t secs = rem / 1000000;
    out->usec = (uint32_t)(rem % 1000000);
    out->hour = (uint8_t)(secs / 3600);
    out->minute = (uint8_t)(secs / 60 % 60);
    out->second = (uint8_t)(secs % 60);
}

static const uint32_t pow10_u32[] = {1, 10, 100, 1000, 10000, 100000, 1000000};

size_t ferry_value_format_civil(const ferry_civil_t *c, bool date_only, int fsp, char *buf,
                                size_t size)
{
    int n;
    if (c->year >= 0 && c->year <= 9999)
        n = snprintf(buf, size, "%04d-%02u-%02u", (int)c->year, c->month, c->day);
    else
        n = snprintf(buf, size, "%d-%02u-%02u", (int)c->year, c->month, c->day);
    if (!date_only && n > 0 && (size_t)n < size) {
        n += snprintf(buf + n, size - (size_t)n, " %02u:%02u:%02u", c->hour, c->minute, c->second);
        if (fsp > 6)
            fsp = 6;
        if (fsp > 0 && (size_t)n < size)
            n += snprintf(buf + n, size - (size_t)n, ".%0*u", fsp,
                          (unsigned)(c->usec / pow10_u32[6 - fsp]));
    }
    if (n < 0)
        n = 0;
    return (size_t)n < size ? (size_t)n : size ? size - 1 : 0;
}

/* Reads exactly ndig digits (or 1..ndig when ndig is negative: at least one). */
static bool read_uint(const char **p, const char *end, int min_dig, int max_dig, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;
    while (*p < end && n < max_dig && **p >= '0' && **p <= '9') {
        v = v * 10 + (uint64_t)(**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n >= min_dig;
}

static bool read_fraction(const char **p, const char *end, uint32_t *usec)
{
    *usec = 0;
    if (*p >= end || **p != '.')
        return true;
    (*p)++;
    int n = 0;
    uint32_t v = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        if (n == 6)
            return false;
        v = v * 10 + (uint32_t)(**p - '0');
        (*p)++;
        n++;
    }
    if (n == 0)
        return false;
    *usec = v * pow10_u32[6 - n];
    return true;
}

int ferry_value_parse_civil(const char *s, size_t len, ferry_civil_t *out)
{
    const char *p = s, *end = s + len;
    uint64_t y, mo, d, h = 0, mi = 0, se = 0;
    uint32_t us = 0;
    bool neg = p < end && *p == '-';
    if (neg)
        p++;
    if (!read_uint(&p, end, 1, 7, &y) || p >= end || *p++ != '-' ||
        !read_uint(&p, end, 2, 2, &mo) || p >= end || *p++ != '-' || !read_uint(&p, end, 2, 2, &d))
        return FERRY_ERR_INVALID;
    if (p < end) {
        if (*p != ' ' && *p != 'T')
            return FERRY_ERR_INVALID;
        p++;
        if (!read_uint(&p, end, 2, 2, &h) || p >= end || *p++ != ':' ||
            !read_uint(&p, end, 2, 2, &mi) || p >= end || *p++ != ':' ||
            !read_uint(&p, end, 2, 2, &se) || !read_fraction(&p, end, &us))
            return FERRY_ERR_INVALID;
    }
    if (p != end || mo > 12 || d > 31 || h > 23 || mi > 59 || se > 59)
        return FERRY_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    out->year = neg ? -(int32_t)y : (int32_t)y;
    out->month = (uint8_t)mo;
    out->day = (uint8_t)d;
    out->hour = (uint8_t)h;
    out->minute = (uint8_t)mi;
    out->second = (uint8_t)se;
    out->usec = us;
    return 0;
}

size_t ferry_value_format_time(int64_t micros, int fsp, char *buf, size_t size)
{
    uint64_t m = micros < 0 ? 0 - (uint64_t)micros : (uint64_t)micros;
    uint64_t secs = m / 1000000;
    int n = snprintf(buf, size, "%s%02" PRIu64 ":%02u:%02u", micros < 0 ? "-" : "", secs / 3600,
                     (unsigned)(secs / 60 % 60), (unsigned)(secs % 60));
    if (fsp > 6)
        fsp = 6;
    if (fsp > 0 && n > 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, ".%0*u", fsp,
                      (unsigned)(m % 1000000 / pow10_u32[6 - fsp]));
    if (n < 0)
        n = 0;
    return (size_t)n < size ? (size_t)n : size ? size - 1 : 0;
}

int ferry_value_parse_time(const char *s, size_t len, int64_t *micros)
{
    const char *p = s, *end = s + len;
    bool neg = p < end && *p == '-';
    if (neg)
        p++;
    uint64_t h, mi, se;
    uint32_t us;
    if (!read_uint(&p, end, 1, 9, &h) || p >= end || *p++ != ':' ||
        !read_uint(&p, end, 2, 2, &mi) || p >= end || *p++ != ':' ||
        !read_uint(&p, end, 2, 2, &se) || !read_fraction(&p, end, &us) || p != end || mi > 59 ||
        se > 59)
        return FERRY_ERR_INVALID;
    int64_t v = (int64_t)((h * 3600 + mi * 60 + se) * 1000000 + us);
    *micros = neg ? -v : v;
    return 0;
}

/* ---- decimals --------------------------------------------------------- */

#define DEC_LIMBS (FERRY_DECIMAL_MAX_BYTES / 4 + 2)

/* mag = mag * mul + add, little-endian 32-bit limbs; false on overflow. */
static bool limbs_muladd(uint32_t *mag, size_t *n, uint32_t mul, uint32_t add)
{
    uint64_t carry = add;
    for (size_t i = 0; i < *n; i++) {
        uint64_t v = (uint64_t)mag[i] * mul + carry;
        mag[i] = (uint32_t)v;
        carry = v >> 32;
    }
    if (carry) {
        if (*n == DEC_LIMBS)
            return false;
        mag[(*n)++] = (uint32_t)carry;
    }
    return true;
}

int ferry_value_decimal_to_bytes(const char *text, size_t len, int scale, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    const char *p = text, *end = text + len;
    bool neg = false;
    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    uint32_t mag[DEC_LIMBS];
    size_t n = 0;
    uint32_t chunk = 0;
    int chunk_digits = 0, frac = 0, digits = 0;
    bool point = false;
    for (; p < end; p++) {
        if (*p == '.' && !point) {
            point = true;
            continue;
        }
        if (*p < '0' || *p > '9')
            return FERRY_ERR_INVALID;
        if (point) {
            if (frac == scale) {
                if (*p != '0')
                    return FERRY_ERR_INVALID; /* more precision than the scale holds */
                continue;
            }
            frac++;
        }
        digits++;
        chunk = chunk * 10 + (uint32_t)(*p - '0');
        if (++chunk_digits == 9) {
            if (!limbs_muladd(mag, &n, 1000000000u, chunk))
                return FERRY_ERR_UNSUPPORTED;
            chunk = 0;
            chunk_digits = 0;
        }
    }
    if (digits == 0)
        return FERRY_ERR_INVALID;
    /* pad the fraction up to the scale */
    for (; frac < scale; frac++) {
        chunk = chunk * 10;
        if (++chunk_digits == 9) {
            if (!limbs_muladd(mag, &n, 1000000000u, chunk))
                return FERRY_ERR_UNSUPPORTED;
            chunk = 0;
            chunk_digits = 0;
        }
    }
    if (chunk_digits) {
        uint32_t m = 1;
        for (int i = 0; i < chunk_digits; i++)
            m *= 10;
        if (!limbs_muladd(mag, &n, m, chunk))
            return FERRY_ERR_UNSUPPORTED;
    }
    /* big-endian magnitude bytes, with one spare leading byte for the sign */
    uint8_t be[DEC_LIMBS * 4 + 1];
    size_t nb = n * 4 + 1;
    be[0] = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = mag[n - 1 - i];
        be[1 + i * 4] = (uint8_t)(l >> 24);
        be[2 + i * 4] = (uint8_t)(l >> 16);
        be[3 + i * 4] = (uint8_t)(l >> 8);
        be[4 + i * 4] = (uint8_t)l;
    }
    bool zero = true;
    for (size_t i = 0; i < nb; i++)
        if (be[i]) {
            zero = false;
            break;
        }
    if (neg && !zero) {
        /* two's complement: invert and add one */
        for (size_t i = 0; i < nb; i++)
            be[i] = (uint8_t)~be[i];
        for (size_t i = nb; i-- > 0;)
            if (++be[i] != 0)
                break;
    }
    /* shortest form: drop leading bytes that only repeat the sign */
    size_t s = 0;
    while (s + 1 < nb &&
           ((be[s] == 0x00 && !(be[s + 1] & 0x80)) || (be[s] == 0xFF && (be[s + 1] & 0x80))))
        s++;
    if (nb - s > cap)
        return FERRY_ERR_UNSUPPORTED;
    memcpy(out, be + s, nb - s);
    *out_len = nb - s;
    return 0;
}

int ferry_value_decimal_from_bytes(const uint8_t *b, size_t len, int scale, char *out, size_t cap,
                                   size_t *out_len)
{
    if (len == 0 || len > FERRY_DECIMAL_MAX_BYTES || scale < 0)
        return FERRY_ERR_INVALID;
    bool neg = b[0] & 0x80;
    uint8_t mag[FERRY_DECIMAL_MAX_BYTES];
    memcpy(mag, b, len);
    if (neg) {
        for (size_t i = 0; i < len; i++)
            mag[i] = (uint8_t)~mag[i];
        for (size_t i = len; i-- > 0;)
            if (++mag[i] != 0)
                break;
    }
    /* little-endian 32-bit limbs */
    uint32_t limbs[FERRY_DECIMAL_MAX_BYTES / 4 + 1];
    size_t n = (len + 3) / 4;
    memset(limbs, 0, sizeof(limbs));
    for (size_t i = 0; i < len; i++) {
        size_t bit = (len - 1 - i) * 8;
        limbs[bit / 32] |= (uint32_t)mag[i] << (bit % 32);
    }
    while (n > 0 && limbs[n - 1] == 0)
        n--;
    /* repeated division by 10^9, least significant group first */
    char digits[FERRY_DECIMAL_MAX_BYTES * 3 + 16];
    size_t nd = 0;
    while (n > 0) {
        uint64_t rem = 0;
        for (size_t i = n; i-- > 0;) {
            uint64_t cur = rem << 32 | limbs[i];
            limbs[i] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (n > 0 && limbs[n - 1] == 0)
            n--;
        for (int k = 0; k < 9; k++) {
            digits[nd++] = (char)('0' + rem % 10);
            rem /= 10;
            if (n == 0 && rem == 0)
                break;
        }
    }
    if (nd == 0)
        digits[nd++] = '0';
    /* digits[] is reversed; make sure there is a digit before the point */
    while (nd < (size_t)scale + 1)
        digits[nd++] = '0';
    bool is_zero = nd == (size_t)scale + 1;
    for (size_t i = 0; is_zero && i < nd; i++)
        if (digits[i] != '0')
            is_zero = false;
    size_t need = nd + (scale > 0) + (neg && !is_zero) + 1;
    if (need > cap)
        return FERRY_ERR_TRUNCATED;
    size_t o = 0;
    if (neg && !is_zero)
        out[o++] = '-';
    for (size_t i = nd; i-- > 0;) {
        out[o++] = digits[i];
        if (scale > 0 && i == (size_t)scale)
            out[o++] = '.';
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
}

/* ---- uuid ------------------------------------------------------------- */

void ferry_value_format_uuid(const uint8_t uuid[16], char buf[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[o++] = '-';
        buf[o++] = hex[uuid[i] >> 4];
        buf[o++] = hex[uuid[i] & 15];
    }
    buf[o] = '\0';
}

int ferry_value_parse_uuid(const char *s, size_t len, uint8_t uuid[16])
{
    if (len != 36)
        return FERRY_ERR_INVALID;
    size_t o = 0;
    for (size_t i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return FERRY_ERR_INVALID;
            i++;
            continue;
        }
        int hi = ferry_hex_digit(s[i]), lo = ferry_hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0)
            return FERRY_ERR_INVALID;
        uuid[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

/* ---- intervals -------------------------------------------------------- */

size_t ferry_value_format_interval(const ferry_interval_t *iv, char *buf, size_t size)
{
    int64_t us = iv->micros;
    int64_t h = us / 3600000000;
    int64_t rem = us % 3600000000;
    int64_t mi = rem / 60000000;
    rem %= 60000000;
    int64_t s = rem / 1000000;
    int64_t frac = rem % 1000000;
    char secs[48];
    if (frac == 0)
        snprintf(secs, sizeof(secs), "%" PRId64, s);
    else
        snprintf(secs, sizeof(secs), "%s%" PRId64 ".%06" PRId64, (us < 0 && s == 0) ? "-" : "", s,
                 frac < 0 ? -frac : frac);
    int n = snprintf(buf, size, "P%dY%dM%dDT%" PRId64 "H%" PRId64 "M%sS", iv->months / 12,
                     iv->months % 12, iv->days, h, mi, secs);
    if (n < 0)
        n = 0;
    return (size_t)n < size ? (size_t)n : size ? size - 1 : 0;
}

int ferry_value_parse_interval(const char *s, size_t len, ferry_interval_t *out)
{
    const char *p = s, *end = s + len;
    if (p >= end || *p++ != 'P')
        return FERRY_ERR_INVALID;
    int64_t months = 0, days = 0, micros = 0;
    bool in_time = false, any = false;
    while (p < end) {
        if (*p == 'T' && !in_time) {
            in_time = true;
            p++;
            continue;
        }
        bool neg = false;
        if (*p == '-' || *p == '+')
            neg = *p++ == '-';
        uint64_t whole;
        uint32_t us = 0;
        if (!read_uint(&p, end, 1, 18, &whole))
            return FERRY_ERR_INVALID;
        if (p < end && *p == '.') {
            if (!read_fraction(&p, end, &us))
                return FERRY_ERR_INVALID;
        }
        if (p >= end)
            return FERRY_ERR_INVALID;
        char unit = *p++;
        int64_t w = (int64_t)whole, add;
        if (us && !(in_time && unit == 'S'))
            return FERRY_ERR_INVALID;
        int64_t *acc;
        int64_t mul;
        if (!in_time && unit == 'Y')
            acc = &months, mul = 12;
        else if (!in_time && unit == 'M')
            acc = &months, mul = 1;
        else if (!in_time && unit == 'W')
            acc = &days, mul = 7;
        else if (!in_time && unit == 'D')
            acc = &days, mul = 1;
        else if (in_time && unit == 'H')
            acc = &micros, mul = 3600000000;
        else if (in_time && unit == 'M')
            acc = &micros, mul = 60000000;
        else if (in_time && unit == 'S')
            acc = &micros, mul = 1000000;
        else
            return FERRY_ERR_INVALID;
        if (__builtin_mul_overflow(w, mul, &add) || __builtin_add_overflow(add, (int64_t)us, &add))
            return FERRY_ERR_INVALID;
        if (neg)
            add = -add;
        if (__builtin_add_overflow(*acc, add, acc))
            return FERRY_ERR_INVALID;
        any = true;
    }
    if (!any || months < INT32_MIN || months > INT32_MAX || days < INT32_MIN || days > INT32_MAX)
        return FERRY_ERR_INVALID;
    out->months = (int32_t)months;
    out->days = (int32_t)days;
    out->micros = micros;
    return 0;
}
