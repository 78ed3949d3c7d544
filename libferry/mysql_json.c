/*
 * mysql_json.c - MySQL binary JSON to the text MySQL prints for it.
 *
 * Layout (MySQL's json_binary): a document is a type byte and a value.
 * Objects and arrays come in a small form (16-bit counts, sizes and
 * offsets) and a large form (32-bit); they start with the element count and
 * the byte size, then for objects one (offset, length) entry per key, then
 * one (type, offset-or-inline-value) entry per element. Offsets count from
 * the start of the object or array. Literals and 16-bit integers (and, in
 * the large form, 32-bit ones) are stored inline in the entry. Strings and
 * opaque values carry a variable-length length (7 bits per byte, low group
 * first). Every offset is checked against the enclosing value before use.
 */
#include "mysql_json.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog_int.h"
#include "err.h"
#include "row.h"

enum {
    J_SMALL_OBJECT = 0x00,
    J_LARGE_OBJECT = 0x01,
    J_SMALL_ARRAY = 0x02,
    J_LARGE_ARRAY = 0x03,
    J_LITERAL = 0x04,
    J_INT16 = 0x05,
    J_UINT16 = 0x06,
    J_INT32 = 0x07,
    J_UINT32 = 0x08,
    J_INT64 = 0x09,
    J_UINT64 = 0x0a,
    J_DOUBLE = 0x0b,
    J_STRING = 0x0c,
    J_OPAQUE = 0x0f,
};

#define J_MAX_DEPTH 150

typedef struct {
    ferry_strbuf_t *out;
    char *errstr;
    size_t errstr_size;
} jctx_t;

static int bad(jctx_t *j, const char *why)
{
    return ferry_err_set(j->errstr, j->errstr_size, FERRY_ERR_INVALID,
                         "could not decode binary JSON: %s", why);
}

static uint64_t le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* Variable-length length at p[0..len); returns bytes used, 0 when malformed. */
static size_t varlen(const uint8_t *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && i < 5; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

static void put_string(ferry_strbuf_t *b, const uint8_t *s, size_t n)
{
    ferry_strbuf_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = s[i];
        const char *esc = NULL;
        char u[8];
        switch (ch) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (ch < 0x20) {
                snprintf(u, sizeof(u), "\\u%04x", ch);
                esc = u;
            }
        }
        if (!esc)
            continue;
        ferry_strbuf_put(b, (const char *)s + run, i - run);
        ferry_strbuf_puts(b, esc);
        run = i + 1;
    }
    ferry_strbuf_put(b, (const char *)s + run, n - run);
    ferry_strbuf_put(b, "\"", 1);
}

/* Shortest text that reads back as d, spelled as MySQL does ("1e20", "3.0"). */
static void put_double(ferry_strbuf_t *b, double d)
{
    char buf[40];
    if (!isfinite(d)) {
        ferry_strbuf_puts(b, "null");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    char out[48];
    size_t o = 0;
    bool mantissa_point = false, exp = false;
    for (const char *p = buf; *p; p++) {
        if (*p == 'e') {
            exp = true;
            out[o++] = 'e';
            if (p[1] == '+')
                p++;
            else if (p[1] == '-')
                out[o++] = *++p;
            while (p[1] == '0' && p[2])
                p++;
            continue;
        }
        if (*p == '.' && !exp)
            mantissa_point = true;
        out[o++] = *p;
    }
    out[o] = '\0';
    ferry_strbuf_puts(b, out);
    if (!mantissa_point && !exp)
        ferry_strbuf_puts(b, ".0");
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_base64(ferry_strbuf_t *b, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        ferry_strbuf_put(b, q, 4);
    }
}

/* MySQL's packed temporal longlong (TIME / DATE / DATETIME / TIMESTAMP inside JSON). */
static void put_temporal(ferry_strbuf_t *b, uint8_t type, int64_t packed)
{
    bool neg = packed < 0;
    uint64_t t = neg ? (uint64_t)0 - (uint64_t)packed : (uint64_t)packed;
    unsigned frac = (unsigned)(t & 0xffffff);
    uint64_t whole = t >> 24;
    char buf[64];
    if (type == BL_T_TIME) {
        unsigned h = (unsigned)(whole >> 12 & 0x3ff), m = (unsigned)(whole >> 6 & 63),
                 s = (unsigned)(whole & 63);
        snprintf(buf, sizeof(buf), "\"%s%02u:%02u:%02u.%06u\"", neg ? "-" : "", h, m, s, frac);
    } else {
        uint64_t ymd = whole >> 17, ym = ymd >> 5, hms = whole & 0x1ffff;
        unsigned y = (unsigned)(ym / 13), mo = (unsigned)(ym % 13), d = (unsigned)(ymd & 31);
        if (type == BL_T_DATE)
            snprintf(buf, sizeof(buf), "\"%04u-%02u-%02u\"", y, mo, d);
        else
            snprintf(buf, sizeof(buf), "\"%04u-%02u-%02u %02u:%02u:%02u.%06u\"", y, mo, d,
                     (unsigned)(hms >> 12), (unsigned)(hms >> 6 & 63), (unsigned)(hms & 63), frac);
    }
    ferry_strbuf_puts(b, buf);
}

static int put_opaque(jctx_t *j, const uint8_t *p, size_t len)
{
    if (len < 1)
        return bad(j, "opaque value is truncated");
    uint8_t type = p[0];
    uint64_t n;
    size_t used = varlen(p + 1, len - 1, &n);
    if (!used || n > len - 1 - used)
        return bad(j, "opaque value is truncated");
    const uint8_t *data = p + 1 + used;
    switch (type) {
    case BL_T_NEWDECIMAL: {
        if (n < 2)
            return bad(j, "opaque DECIMAL is truncated");
        int prec = data[0], scale = data[1];
        char text[BL_DECIMAL_TEXT_MAX];
        if (prec < 1 || prec > 65 || scale > prec ||
            ferry_binlog__decimal_size(prec, scale) > n - 2 ||
            ferry_binlog__decimal_format(data + 2, prec, scale, text) < 0)
            return bad(j, "malformed opaque DECIMAL");
        ferry_strbuf_puts(j->out, text);
        return 0;
    }
    case BL_T_DATE:
    case BL_T_TIME:
    case BL_T_DATETIME:
    case BL_T_TIMESTAMP:
        if (n < 8)
            return bad(j, "opaque temporal value is truncated");
        put_temporal(j->out, type, (int64_t)le(data, 8));
        return 0;
    default:
        ferry_strbuf_printf(j->out, "\"base64:type%u:", type);
        put_base64(j->out, data, n);
        ferry_strbuf_put(j->out, "\"", 1);
        return 0;
    }
}

static int put_value(jctx_t *j, uint8_t type, const uint8_t *p, size_t len, int depth);

/* The scalar or container an entry refers to: inlined in it, or at an offset. */
static int put_entry(jctx_t *j, const uint8_t *base, size_t size, const uint8_t *entry, bool large,
                     int depth)
{
    uint8_t type = entry[0];
    size_t w = large ? 4 : 2;
    const uint8_t *v = entry + 1;
    switch (type) {
    case J_LITERAL:
    case J_INT16:
    case J_UINT16:
        return put_value(j, type, v, w, depth);
    case J_INT32:
    case J_UINT32:
        if (large)
            return put_value(j, type, v, w, depth);
        break;
    default:
        break;
    }
    uint64_t off = le(v, w);
    if (off >= size)
        return bad(j, "value offset out of range");
    return put_value(j, type, base + off, size - (size_t)off, depth);
}

static int put_container(jctx_t *j, bool object, bool large, const uint8_t *p, size_t len,
                         int depth)
{
    size_t w = large ? 4 : 2;
    if (len < 2 * w)
        return bad(j, "container header is truncated");
    uint64_t count = le(p, w), size = le(p + w, w);
    if (size > len || size < 2 * w)
        return bad(j, "container size out of range");
    size_t key_entry = w + 2, value_entry = 1 + w;
    size_t header = 2 * w + (size_t)count * ((object ? key_entry : 0) + value_entry);
    if (count > size || header > size)
        return bad(j, "container entries out of range");
    ferry_strbuf_put(j->out, object ? "{" : "[", 1);
    for (uint64_t i = 0; i < count; i++) {
        if (i)
            ferry_strbuf_put(j->out, ", ", 2);
        if (object) {
            const uint8_t *ke = p + 2 * w + i * key_entry;
            uint64_t koff = le(ke, w), klen = le(ke + w, 2);
            if (koff > size || klen > size - koff)
                return bad(j, "key out of range");
            put_string(j->out, p + koff, (size_t)klen);
            ferry_strbuf_put(j->out, ": ", 2);
        }
        const uint8_t *ve =
            p + 2 * w + (object ? (size_t)count * key_entry : 0) + (size_t)i * value_entry;
        int rc = put_entry(j, p, (size_t)size, ve, large, depth + 1);
        if (rc)
            return rc;
    }
    ferry_strbuf_put(j->out, object ? "}" : "]", 1);
    return 0;
}

static int put_value(jctx_t *j, uint8_t type, const uint8_t *p, size_t len, int depth)
{
    if (depth > J_MAX_DEPTH)
        return bad(j, "nested too deeply");
    static const uint8_t width[] = {[J_INT16] = 2, [J_UINT16] = 2, [J_INT32] = 4,  [J_UINT32] = 4,
                                    [J_INT64] = 8, [J_UINT64] = 8, [J_DOUBLE] = 8, [J_LITERAL] = 1};
    if (type <= J_DOUBLE && type >= J_LITERAL && len < width[type])
        return bad(j, "scalar is truncated");
    switch (type) {
    case J_SMALL_OBJECT:
    case J_LARGE_OBJECT:
    case J_SMALL_ARRAY:
    case J_LARGE_ARRAY:
        return put_container(j, type <= J_LARGE_OBJECT, type & 1, p, len, depth);
    case J_LITERAL:
        if (p[0] > 2)
            return bad(j, "unknown literal");
        ferry_strbuf_puts(j->out, p[0] == 0 ? "null" : p[0] == 1 ? "true" : "false");
        return 0;
    case J_INT16:
        ferry_strbuf_printf(j->out, "%d", (int16_t)le(p, 2));
        return 0;
    case J_UINT16:
        ferry_strbuf_printf(j->out, "%u", (unsigned)le(p, 2));
        return 0;
    case J_INT32:
        ferry_strbuf_printf(j->out, "%d", (int32_t)le(p, 4));
        return 0;
    case J_UINT32:
        ferry_strbuf_printf(j->out, "%u", (uint32_t)le(p, 4));
        return 0;
    case J_INT64:
        ferry_strbuf_printf(j->out, "%lld", (long long)(int64_t)le(p, 8));
        return 0;
    case J_UINT64:
        ferry_strbuf_printf(j->out, "%llu", (unsigned long long)le(p, 8));
        return 0;
    case J_DOUBLE: {
        uint64_t bits = le(p, 8);
        double d;
        memcpy(&d, &bits, 8);
        put_double(j->out, d);
        return 0;
    }
    case J_STRING: {
        uint64_t n;
        size_t used = varlen(p, len, &n);
        if (!used || n > len - used)
            return bad(j, "string is truncated");
        put_string(j->out, p + used, (size_t)n);
        return 0;
    }
    case J_OPAQUE:
        return put_opaque(j, p, len);
    default: {
        char why[48];
        snprintf(why, sizeof(why), "unknown value type 0x%02x", type);
        return bad(j, why);
    }
    }
}

int ferry_mysql_json_to_text(const uint8_t *buf, size_t len, ferry_strbuf_t *out, char *errstr,
                             size_t errstr_size)
{
    jctx_t j = {out, errstr, errstr_size};
    if (len == 0) {
        ferry_strbuf_puts(out, "null");
    } else {
        int rc = put_value(&j, buf[0], buf + 1, len - 1, 0);
        if (rc)
            return rc;
    }
    if (out->oom)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not decode binary JSON: out of memory");
    return 0;
}
