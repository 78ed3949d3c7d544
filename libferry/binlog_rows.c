/*
 * binlog_rows.c - WRITE/UPDATE/DELETE_ROWS events (v1 and v2) to ferry rows.
 *
 * A rows event names a table id, says which columns each image holds (one
 * bitmap, two for updates: partial images under binlog_row_image=MINIMAL or
 * NOBLOB, and hidden columns the server leaves out), then packs rows back to
 * back: a NULL bitmap over the present columns followed by each present,
 * non-NULL value in the column's storage format. Decoding a value needs the
 * TABLE_MAP metadata: widths, signedness, charsets, fsp, precision.
 *
 * Values point into the event bytes when they can be used as they are (UTF-8
 * text, binary data, WKB) and into the arena otherwise (converted text,
 * DECIMAL and JSON text, joined SET members, padded BINARY).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog_int.h"
#include "err.h"
#include "mysql_json.h"

/* ---- DECIMAL ----------------------------------------------------------------- */

static const uint8_t dig2bytes[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
static const uint32_t pow10_u32[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};

size_t ferry_binlog__decimal_size(int precision, int scale)
{
    int intg = precision - scale;
    return (size_t)(intg / 9 * 4 + dig2bytes[intg % 9] + scale / 9 * 4 + dig2bytes[scale % 9]);
}

static uint32_t be_n(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Appends a group of `digits` decimal digits; false when v does not fit. */
static bool put_group(uint32_t v, int digits, char *out, size_t *n)
{
    if (v >= pow10_u32[digits])
        return false;
    for (int i = digits - 1; i >= 0; i--) {
        out[*n + (size_t)i] = (char)('0' + v % 10);
        v /= 10;
    }
    *n += (size_t)digits;
    return true;
}

int ferry_binlog__decimal_format(const uint8_t *p, int precision, int scale, char *out)
{
    if (precision < 1 || precision > 65 || scale < 0 || scale > 38 || scale > precision)
        return -1;
    size_t size = ferry_binlog__decimal_size(precision, scale);
    uint8_t b[40];
    memcpy(b, p, size);
    bool neg = !(b[0] & 0x80);
    b[0] ^= 0x80;
    if (neg)
        for (size_t i = 0; i < size; i++)
            b[i] ^= 0xff;
    int intg = precision - scale;
    char digits[BL_DECIMAL_TEXT_MAX];
    size_t n = 0, off = 0;
    size_t lead = dig2bytes[intg % 9];
    if (lead && !put_group(be_n(b, lead), intg % 9, digits, &n))
        return -1;
    off = lead;
    for (int g = 0; g < intg / 9; g++, off += 4)
        if (!put_group(be_n(b + off, 4), 9, digits, &n))
            return -1;
    size_t int_digits = n;
    for (int g = 0; g < scale / 9; g++, off += 4)
        if (!put_group(be_n(b + off, 4), 9, digits, &n))
            return -1;
    if (scale % 9 && !put_group(be_n(b + off, dig2bytes[scale % 9]), scale % 9, digits, &n))
        return -1;
    bool zero = true;
    for (size_t i = 0; i < n; i++)
        zero = zero && digits[i] == '0';
    size_t skip = 0;
    while (skip + 1 < int_digits && digits[skip] == '0')
        skip++;
    size_t o = 0;
    if (neg && !zero)
        out[o++] = '-';
    if (int_digits == 0)
        out[o++] = '0';
    memcpy(out + o, digits + skip, int_digits - skip);
    o += int_digits - skip;
    if (scale) {
        out[o++] = '.';
        memcpy(out + o, digits + int_digits, n - int_digits);
        o += n - int_digits;
    }
    out[o] = '\0';
    return (int)o;
}

/* ---- one value --------------------------------------------------------------------- */

typedef struct {
    bl_ctx_t *c;
    const bl_table_t *t;
    size_t col;   /* column index */
    size_t rowno; /* 1-based row number, for messages */
} vctx_t;

static int value_fail(const vctx_t *v, int err, const char *why)
{
    const ferry_column_t *fc = ferry_table_column(v->t->table, v->col);
    return ferry_binlog__fail(v->c, err, "%s in row %zu, column %zu (%s) of table %s.%s", why,
                              v->rowno, v->col + 1, fc ? fc->name : "?", v->t->pub.db,
                              v->t->pub.name);
}

static int nomem(const vctx_t *v)
{
    return value_fail(v, FERRY_ERR_NOMEM, "out of memory");
}

static void civil_zero(ferry_value_t *out)
{
    memset(&out->v.dt, 0, sizeof(out->v.dt));
}

/* Fraction bytes of TIME2/DATETIME2/TIMESTAMP2 scaled to microseconds. */
static uint32_t read_frac(bl_reader_t *r, int fsp)
{
    switch (fsp) {
    case 1:
    case 2:
        return (uint32_t)bl_uint_be(r, 1) * 10000;
    case 3:
    case 4:
        return (uint32_t)bl_uint_be(r, 2) * 100;
    case 5:
    case 6:
        return (uint32_t)bl_uint_be(r, 3);
    default:
        return 0;
    }
}

static void decode_datetime2(bl_reader_t *r, int fsp, ferry_value_t *out)
{
    int64_t packed = (int64_t)bl_uint_be(r, 5) - 0x8000000000LL;
    uint32_t usec = read_frac(r, fsp);
    if (packed < 0)
        packed = -packed; /* not written by servers; keeps the parts in range */
    int64_t ymd = packed >> 17, hms = packed & 0x1ffff;
    int64_t ym = ymd >> 5;
    out->v.dt.year = (int32_t)(ym / 13);
    out->v.dt.month = (uint8_t)(ym % 13);
    out->v.dt.day = (uint8_t)(ymd & 31);
    out->v.dt.hour = (uint8_t)(hms >> 12);
    out->v.dt.minute = (uint8_t)((hms >> 6) & 63);
    out->v.dt.second = (uint8_t)(hms & 63);
    out->v.dt.usec = usec;
}

/* TIME2: a 24-bit biased hh:mm:ss word plus a fraction, negative values in two's complement. */
static int64_t decode_time2(bl_reader_t *r, int fsp)
{
    int64_t intpart, frac = 0;
    if (fsp >= 5) {
        int64_t packed = (int64_t)bl_uint_be(r, 6) - 0x800000000000LL;
        intpart = packed >> 24;
        frac = packed - intpart * (1 << 24); /* 0 .. 2^24-1 */
        if (intpart < 0 && frac) {
            intpart++;
            frac -= 1 << 24;
        }
    } else {
        intpart = (int64_t)bl_uint_be(r, 3) - 0x800000;
        if (fsp >= 1) {
            int width = fsp <= 2 ? 1 : 2;
            int64_t f = (int64_t)bl_uint_be(r, (size_t)width);
            if (intpart < 0 && f) {
                intpart++;
                f -= (int64_t)1 << (8 * width);
            }
            frac = f * (fsp <= 2 ? 10000 : 100);
        }
    }
    bool neg = intpart < 0 || frac < 0;
    if (neg) {
        intpart = -intpart;
        frac = -frac;
    }
    int64_t hours = (intpart >> 12) & 0x3ff, minutes = (intpart >> 6) & 63, seconds = intpart & 63;
    int64_t us = ((hours * 60 + minutes) * 60 + seconds) * 1000000 + frac;
    return neg ? -us : us;
}

static int64_t decode_old_time(bl_reader_t *r)
{
    int64_t v = (int64_t)bl_uint(r, 3);
    if (v & 0x800000)
        v -= 0x1000000;
    bool neg = v < 0;
    if (neg)
        v = -v;
    int64_t us = ((v / 10000) * 3600 + (v / 100 % 100) * 60 + v % 100) * 1000000;
    return neg ? -us : us;
}

static void decode_old_datetime(bl_reader_t *r, ferry_value_t *out)
{
    uint64_t v = bl_uint(r, 8);
    uint64_t date = v / 1000000, time = v % 1000000;
    out->v.dt.year = (int32_t)(date / 10000);
    out->v.dt.month = (uint8_t)(date / 100 % 100);
    out->v.dt.day = (uint8_t)(date % 100);
    out->v.dt.hour = (uint8_t)(time / 10000);
    out->v.dt.minute = (uint8_t)(time / 100 % 100);
    out->v.dt.second = (uint8_t)(time % 100);
}

static void decode_timestamp(bl_reader_t *r, bool v2, int fsp, ferry_value_t *out)
{
    uint64_t sec = v2 ? bl_uint_be(r, 4) : bl_uint(r, 4);
    uint32_t usec = v2 ? read_frac(r, fsp) : 0;
    if (sec == 0 && usec == 0) {
        civil_zero(out); /* '0000-00-00 00:00:00' */
        return;
    }
    ferry_value_civil_from_micros((int64_t)sec * 1000000 + usec, &out->v.dt);
}

static int decode_int(bl_reader_t *r, const ferry_binlog_column_t *bc, size_t width,
                      ferry_value_t *out)
{
    uint64_t u = bl_uint(r, width);
    if (bc->flags & FERRY_BINLOG_COL_UNSIGNED) {
        out->v.u = u;
    } else {
        unsigned shift = (unsigned)(64 - 8 * width);
        out->v.i = (int64_t)(u << shift) >> shift;
    }
    return 0;
}

static int decode_decimal(const vctx_t *v, bl_reader_t *r, const ferry_binlog_column_t *bc,
                          ferry_value_t *out)
{
    int prec = bc->meta >> 8, scale = bc->meta & 0xff;
    if (prec < 1 || prec > 65 || scale > prec)
        return value_fail(v, FERRY_ERR_INVALID, "bad DECIMAL precision/scale");
    const uint8_t *p = bl_bytes(r, ferry_binlog__decimal_size(prec, scale));
    if (!p)
        return 0; /* r->bad reports it */
    char text[BL_DECIMAL_TEXT_MAX];
    int n = ferry_binlog__decimal_format(p, prec, scale, text);
    if (n < 0)
        return value_fail(v, FERRY_ERR_INVALID, "malformed DECIMAL");
    char *s = ferry_arena_strndup(v->c->arena, text, (size_t)n);
    if (!s)
        return nomem(v);
    *out = ferry_value_str(s, (size_t)n);
    return 0;
}

static int decode_enum_set(const vctx_t *v, bl_reader_t *r, const ferry_binlog_column_t *bc,
                           ferry_value_t *out)
{
    size_t width = bc->max_len;
    if (width < 1 || width > 8)
        return value_fail(v, FERRY_ERR_INVALID, "bad ENUM/SET width");
    uint64_t x = bl_uint(r, width);
    char **members = v->t->members ? v->t->members[v->col] : NULL;
    uint32_t n = v->t->n_members ? v->t->n_members[v->col] : 0;
    if (!members) {
        out->v.u = x;
        return 0;
    }
    if (bc->real_type == BL_T_ENUM) {
        if (x > n)
            return value_fail(v, FERRY_ERR_INVALID, "ENUM index beyond the member list");
        const char *m = x ? members[x - 1] : "";
        char *s = ferry_arena_strdup(v->c->arena, m);
        if (!s)
            return nomem(v);
        *out = ferry_value_str(s, strlen(s));
        return 0;
    }
    size_t total = 0;
    for (uint32_t k = 0; k < 64; k++) {
        if (!(x >> k & 1))
            continue;
        if (k >= n)
            return value_fail(v, FERRY_ERR_INVALID, "SET bit beyond the member list");
        total += strlen(members[k]) + 1;
    }
    char *s = ferry_arena_alloc(v->c->arena, total + 1);
    if (!s)
        return nomem(v);
    size_t o = 0;
    for (uint32_t k = 0; k < n && k < 64; k++) {
        if (!(x >> k & 1))
            continue;
        if (o)
            s[o++] = ',';
        size_t l = strlen(members[k]);
        memcpy(s + o, members[k], l);
        o += l;
    }
    s[o] = '\0';
    *out = ferry_value_str(s, o);
    return 0;
}

/* CHAR/VARCHAR/BLOB/TEXT body: binary stays bytes, text becomes UTF-8. */
static int decode_text(const vctx_t *v, bl_reader_t *r, const ferry_binlog_column_t *bc,
                       size_t prefix, ferry_value_t *out)
{
    uint64_t len = bl_uint(r, prefix);
    const uint8_t *p = bl_bytes(r, len);
    if (!p)
        return 0;
    const bl_charset_t *cs = ferry_binlog__charset(bc->collation);
    if (!cs) {
        *out = ferry_value_str(p, len);
        return 0;
    }
    if (strcmp(cs->name, "binary") == 0) {
        /* BINARY(n) loses its trailing zero bytes in the row image; put them back. */
        if (bc->real_type == BL_T_STRING && len < bc->max_len) {
            char *s = ferry_arena_calloc(v->c->arena, 1, bc->max_len);
            if (!s)
                return nomem(v);
            memcpy(s, p, len);
            *out = ferry_value_str(s, bc->max_len);
            return 0;
        }
        *out = ferry_value_str(p, len);
        return 0;
    }
    const char *u;
    size_t ulen;
    int rc = ferry_binlog__to_utf8(v->c->d, v->c->arena, cs, p, len, &u, &ulen);
    if (rc == FERRY_ERR_NOMEM)
        return nomem(v);
    if (rc) {
        char why[96];
        snprintf(why, sizeof(why), "could not convert %s text to UTF-8", cs->name);
        return value_fail(v, rc, why);
    }
    *out = ferry_value_str(u, ulen);
    return 0;
}

static int decode_json(const vctx_t *v, bl_reader_t *r, const ferry_binlog_column_t *bc,
                       ferry_value_t *out)
{
    uint64_t len = bl_uint(r, bc->meta >= 1 && bc->meta <= 4 ? bc->meta : 4);
    const uint8_t *p = bl_bytes(r, len);
    if (!p)
        return 0;
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    char err[200];
    int rc = ferry_mysql_json_to_text(p, len, &sb, err, sizeof(err));
    char *s = rc ? NULL : ferry_arena_strndup(v->c->arena, sb.buf ? sb.buf : "", sb.len);
    size_t n = sb.len;
    ferry_strbuf_free(&sb);
    if (rc) {
        char why[260];
        snprintf(why, sizeof(why), "bad JSON value (%s)", err);
        return value_fail(v, rc, why);
    }
    if (!s)
        return nomem(v);
    *out = ferry_value_str(s, n);
    return 0;
}

static int decode_geometry(const vctx_t *v, bl_reader_t *r, const ferry_binlog_column_t *bc,
                           ferry_value_t *out)
{
    uint64_t len = bl_uint(r, bc->meta >= 1 && bc->meta <= 4 ? bc->meta : 4);
    const uint8_t *p = bl_bytes(r, len);
    if (!p)
        return 0;
    if (len < 4)
        return value_fail(v, FERRY_ERR_INVALID, "GEOMETRY value shorter than its SRID");
    *out = ferry_value_str(p + 4, len - 4);
    out->aux = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return 0;
}

static int decode_temporal(bl_reader_t *r, const ferry_binlog_column_t *bc, ferry_value_t *out)
{
    int fsp = bc->meta <= 6 ? bc->meta : 0;
    switch (bc->real_type) {
    case BL_T_YEAR: {
        uint64_t y = bl_uint(r, 1);
        out->v.i = y ? (int64_t)y + 1900 : 0;
        return 0;
    }
    case BL_T_DATE:
    case BL_T_NEWDATE: {
        uint64_t d = bl_uint(r, 3);
        civil_zero(out);
        out->v.dt.day = (uint8_t)(d & 31);
        out->v.dt.month = (uint8_t)((d >> 5) & 15);
        out->v.dt.year = (int32_t)(d >> 9);
        return 0;
    }
    case BL_T_TIME:
        out->v.i = decode_old_time(r);
        return 0;
    case BL_T_TIME2:
        out->v.i = decode_time2(r, fsp);
        return 0;
    case BL_T_DATETIME:
        civil_zero(out);
        decode_old_datetime(r, out);
        return 0;
    case BL_T_DATETIME2:
        decode_datetime2(r, fsp, out);
        return 0;
    case BL_T_TIMESTAMP:
    case BL_T_TIMESTAMP2:
        decode_timestamp(r, bc->real_type == BL_T_TIMESTAMP2, fsp, out);
        return 0;
    default:
        return 1;
    }
}

static int decode_value(const vctx_t *v, bl_reader_t *r, ferry_value_t *out)
{
    const ferry_binlog_column_t *bc = &v->t->cols[v->col];
    switch (bc->real_type) {
    case BL_T_TINY:
        return decode_int(r, bc, 1, out);
    case BL_T_SHORT:
        return decode_int(r, bc, 2, out);
    case BL_T_INT24:
        return decode_int(r, bc, 3, out);
    case BL_T_LONG:
        return decode_int(r, bc, 4, out);
    case BL_T_LONGLONG:
        return decode_int(r, bc, 8, out);
    case BL_T_FLOAT: {
        uint32_t bits = (uint32_t)bl_uint(r, 4);
        memcpy(&out->v.f, &bits, 4);
        return 0;
    }
    case BL_T_DOUBLE: {
        uint64_t bits = bl_uint(r, 8);
        memcpy(&out->v.d, &bits, 8);
        return 0;
    }
    case BL_T_NEWDECIMAL:
        return decode_decimal(v, r, bc, out);
    case BL_T_BIT: {
        size_t bytes = (bc->max_len + 7) / 8;
        if (bytes > 8)
            return value_fail(v, FERRY_ERR_INVALID, "BIT wider than 64 bits");
        out->v.u = bl_uint_be(r, bytes);
        return 0;
    }
    case BL_T_ENUM:
    case BL_T_SET:
        return decode_enum_set(v, r, bc, out);
    case BL_T_STRING:
        return decode_text(v, r, bc, bc->max_len > 255 ? 2 : 1, out);
    case BL_T_VARCHAR:
    case BL_T_VAR_STRING:
        return decode_text(v, r, bc, bc->meta > 255 ? 2 : 1, out);
    case BL_T_BLOB:
    case BL_T_TINY_BLOB:
    case BL_T_MEDIUM_BLOB:
    case BL_T_LONG_BLOB:
    case BL_T_VECTOR:
        if (bc->meta < 1 || bc->meta > 4)
            return value_fail(v, FERRY_ERR_INVALID, "bad length width");
        return decode_text(v, r, bc, bc->meta, out);
    case BL_T_JSON:
        return decode_json(v, r, bc, out);
    case BL_T_GEOMETRY:
        return decode_geometry(v, r, bc, out);
    case BL_T_NULL:
        out->is_null = 1;
        return 0;
    default:
        if (decode_temporal(r, bc, out) == 0)
            return 0;
        char why[64];
        snprintf(why, sizeof(why), "unknown column type %u", bc->real_type);
        return value_fail(v, FERRY_ERR_UNSUPPORTED, why);
    }
}

/* ---- images and events ---------------------------------------------------------- */

static size_t count_bits(const uint8_t *bitmap, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ferry_binlog_bit(bitmap, i);
    return k;
}

static int decode_image(vctx_t *v, bl_reader_t *r, const uint8_t *present, size_t n_present,
                        ferry_row_t *row)
{
    size_t n = v->t->pub.ncols;
    const uint8_t *nulls = bl_bytes(r, (n_present + 7) / 8);
    row->n = n;
    row->values = ferry_arena_calloc(v->c->arena, n ? n : 1, sizeof(*row->values));
    if (!row->values)
        return nomem(v);
    if (!nulls)
        return ferry_binlog__fail(v->c, FERRY_ERR_TRUNCATED, "row %zu is truncated", v->rowno);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        ferry_value_t *val = &row->values[i];
        if (!ferry_binlog_bit(present, i) || ferry_binlog_bit(nulls, k++)) {
            val->is_null = 1;
            continue;
        }
        v->col = i;
        int rc = decode_value(v, r, val);
        if (rc)
            return rc;
        if (r->bad)
            return value_fail(v, FERRY_ERR_TRUNCATED, "truncated value");
    }
    return 0;
}

static ferry_binlog_op_t op_of(unsigned type)
{
    switch (type) {
    case FERRY_BINLOG_WRITE_ROWS_V1:
    case FERRY_BINLOG_WRITE_ROWS_V2:
    case FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1:
    case FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V2:
        return FERRY_BINLOG_OP_INSERT;
    case FERRY_BINLOG_UPDATE_ROWS_V1:
    case FERRY_BINLOG_UPDATE_ROWS_V2:
    case FERRY_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1:
    case FERRY_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V2:
        return FERRY_BINLOG_OP_UPDATE;
    default:
        return FERRY_BINLOG_OP_DELETE;
    }
}

/* Grows the row arrays (arena memory: the old arrays are left behind). */
static int grow_rows(bl_ctx_t *c, ferry_binlog_event_t *ev, size_t *cap)
{
    size_t ncap = *cap ? *cap * 2 : 4;
    for (int img = 0; img < 2; img++) {
        ferry_row_t **rows = img ? &ev->u.rows.after : &ev->u.rows.before;
        bool wanted =
            img ? ev->u.rows.op != FERRY_BINLOG_OP_DELETE : ev->u.rows.op != FERRY_BINLOG_OP_INSERT;
        if (!wanted)
            continue;
        ferry_row_t *n = ferry_arena_calloc(c->arena, ncap, sizeof(*n));
        if (!n)
            return ferry_binlog__fail(c, FERRY_ERR_NOMEM, "out of memory");
        if (*rows)
            memcpy(n, *rows, ev->u.rows.n_rows * sizeof(*n));
        *rows = n;
    }
    *cap = ncap;
    return 0;
}

static int decode_rows_body(bl_ctx_t *c, bl_reader_t *r, const bl_table_t *t,
                            ferry_binlog_event_t *ev)
{
    size_t n = t->pub.ncols, cap = 0;
    size_t nb = ev->u.rows.before_cols ? count_bits(ev->u.rows.before_cols, n) : 0;
    size_t na = ev->u.rows.after_cols ? count_bits(ev->u.rows.after_cols, n) : 0;
    vctx_t v = {c, t, 0, 0};
    while (bl_left(r) > 0) {
        if (ev->u.rows.n_rows == cap && grow_rows(c, ev, &cap))
            return FERRY_ERR_NOMEM;
        size_t i = ev->u.rows.n_rows;
        const uint8_t *start = r->p;
        v.rowno = i + 1;
        int rc = 0;
        if (ev->u.rows.op != FERRY_BINLOG_OP_INSERT)
            rc = decode_image(&v, r, ev->u.rows.before_cols, nb, &ev->u.rows.before[i]);
        if (!rc && ev->u.rows.op != FERRY_BINLOG_OP_DELETE)
            rc = decode_image(&v, r, ev->u.rows.after_cols, na, &ev->u.rows.after[i]);
        if (rc)
            return rc;
        if (r->p == start) /* no column present: the loop would never end */
            return ferry_binlog__fail(c, FERRY_ERR_INVALID, "row %zu has no columns", i + 1);
        ev->u.rows.n_rows++;
    }
    return 0;
}

int ferry_binlog__rows(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    unsigned type = ev->type;
    bool v2 = (type >= FERRY_BINLOG_WRITE_ROWS_V2 && type <= FERRY_BINLOG_DELETE_ROWS_V2) ||
              type >= FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V2;
    unsigned plain = v2 ? FERRY_BINLOG_WRITE_ROWS_V2 : FERRY_BINLOG_WRITE_ROWS_V1;
    size_t ph = c->d->post_header[type] ? c->d->post_header[type] : c->d->post_header[plain];
    size_t idlen = ph == 6 ? 4 : 6;
    bl_reader_t r = bl_reader(body, len);
    uint64_t id = bl_uint(&r, idlen);
    ev->kind = FERRY_BINLOG_EV_ROWS;
    ev->u.rows.op = op_of(type);
    ev->u.rows.version = v2 ? 2 : 1;
    ev->u.rows.compressed = type >= FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1;
    ev->u.rows.flags = (uint16_t)bl_uint(&r, 2);
    size_t used = idlen + 2;
    if (v2) {
        size_t extra = (size_t)bl_uint(&r, 2);
        used += 2;
        if (ph > used)
            bl_bytes(&r, ph - used);
        if (extra >= 2)
            bl_bytes(&r, extra - 2);
    } else if (ph > used) {
        bl_bytes(&r, ph - used);
    }
    uint64_t ncols = bl_packed(&r, NULL);
    if (r.bad)
        return ferry_binlog__fail(c, FERRY_ERR_TRUNCATED, "event body is truncated");
    const bl_table_t *t = ferry_binlog__table_get(c->d, id);
    if (!t) {
        if (bl_left(&r) <= (ncols + 7) / 8 * 2 && (ev->u.rows.flags & FERRY_BINLOG_ROWS_STMT_END))
            return 0; /* a dummy end-of-statement event without rows */
        return ferry_binlog__fail(c, FERRY_ERR_INVALID, "no TABLE_MAP for table id %llu",
                                  (unsigned long long)id);
    }
    ev->u.rows.table = &t->pub;
    if (ncols != t->pub.ncols)
        return ferry_binlog__fail(c, FERRY_ERR_INVALID,
                                  "%llu columns but TABLE_MAP of %s.%s has %zu",
                                  (unsigned long long)ncols, t->pub.db, t->pub.name, t->pub.ncols);
    const uint8_t *b1 = bl_bytes(&r, (ncols + 7) / 8);
    const uint8_t *b2 =
        ev->u.rows.op == FERRY_BINLOG_OP_UPDATE ? bl_bytes(&r, (ncols + 7) / 8) : b1;
    if (r.bad)
        return ferry_binlog__fail(c, FERRY_ERR_TRUNCATED, "event body is truncated");
    ev->u.rows.before_cols = ev->u.rows.op == FERRY_BINLOG_OP_INSERT ? NULL : b1;
    ev->u.rows.after_cols = ev->u.rows.op == FERRY_BINLOG_OP_DELETE ? NULL : b2;
    if (ev->u.rows.op == FERRY_BINLOG_OP_INSERT)
        ev->u.rows.after_cols = b1;
    return decode_rows_body(c, &r, t, ev);
}
