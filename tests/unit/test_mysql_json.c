/*
 * test_mysql_json.c - MySQL binary JSON to text, on documents built by hand
 * from the format description (type byte; small/large objects and arrays
 * with offset tables and inlined scalars; variable-length string lengths;
 * opaque DECIMAL/DATE/TIME/DATETIME values).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mysql_json.h"
#include "strbuf.h"

/* ---- a small encoder for the tests ------------------------------------------------ */

typedef struct {
    uint8_t type;
    uint8_t bytes[4096];
    size_t len;
} jv_t;

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static jv_t scalar(uint8_t type, uint64_t v, size_t n)
{
    jv_t j = {.type = type, .len = n};
    put_le(j.bytes, v, n);
    return j;
}

static jv_t string_value(const char *s, size_t n)
{
    jv_t j = {.type = 0x0c};
    uint64_t len = n;
    do {
        uint8_t b = len & 0x7f;
        len >>= 7;
        j.bytes[j.len++] = b | (len ? 0x80 : 0);
    } while (len);
    memcpy(j.bytes + j.len, s, n);
    j.len += n;
    return j;
}

static jv_t opaque(uint8_t field_type, const uint8_t *data, size_t n)
{
    jv_t j = {.type = 0x0f};
    j.bytes[j.len++] = field_type;
    j.bytes[j.len++] = (uint8_t)n; /* n < 128 in these tests */
    memcpy(j.bytes + j.len, data, n);
    j.len += n;
    return j;
}

static bool inlined(uint8_t type, bool large)
{
    return type == 0x04 || type == 0x05 || type == 0x06 ||
           (large && (type == 0x07 || type == 0x08));
}

/* An object (keys != NULL) or array of n values, small or large form. */
static jv_t container(bool large, const char *const *keys, const jv_t *vals, size_t n)
{
    jv_t j = {.type = (uint8_t)((keys ? 0x00 : 0x02) | (large ? 1 : 0))};
    size_t w = large ? 4 : 2;
    size_t off = 2 * w + (keys ? n * (w + 2) : 0) + n * (1 + w);
    size_t key_off = off;
    for (size_t i = 0; keys && i < n; i++)
        off += strlen(keys[i]);
    uint8_t *p = j.bytes;
    put_le(p, n, w);
    size_t pos = 2 * w;
    for (size_t i = 0; keys && i < n; i++) {
        put_le(p + pos, key_off, w);
        put_le(p + pos + w, strlen(keys[i]), 2);
        memcpy(p + key_off, keys[i], strlen(keys[i]));
        key_off += strlen(keys[i]);
        pos += w + 2;
    }
    for (size_t i = 0; i < n; i++) {
        p[pos] = vals[i].type;
        if (inlined(vals[i].type, large)) {
            memset(p + pos + 1, 0, w);
            memcpy(p + pos + 1, vals[i].bytes, vals[i].len);
        } else {
            put_le(p + pos + 1, off, w);
            memcpy(p + off, vals[i].bytes, vals[i].len);
            off += vals[i].len;
        }
        pos += 1 + w;
    }
    put_le(p + w, off, w);
    j.len = off;
    assert_true(j.len < sizeof(j.bytes));
    return j;
}

static char *text_of(const jv_t *v)
{
    uint8_t doc[4200];
    doc[0] = v->type;
    memcpy(doc + 1, v->bytes, v->len);
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    char err[256];
    int rc = ferry_mysql_json_to_text(doc, v->len + 1, &b, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    return b.buf;
}

#define ASSERT_TEXT(v, want)                                                                       \
    do {                                                                                           \
        jv_t v_ = (v);                                                                             \
        char *t_ = text_of(&v_);                                                                   \
        assert_string_equal(t_, want);                                                             \
        free(t_);                                                                                  \
    } while (0)

static jv_t dbl(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    return scalar(0x0b, bits, 8);
}

/* ---- tests ------------------------------------------------------------------------- */

static void scalars(void **state)
{
    (void)state;
    ASSERT_TEXT(scalar(0x04, 0, 1), "null");
    ASSERT_TEXT(scalar(0x04, 1, 1), "true");
    ASSERT_TEXT(scalar(0x04, 2, 1), "false");
    ASSERT_TEXT(scalar(0x05, 0x8000, 2), "-32768");
    ASSERT_TEXT(scalar(0x05, 32767, 2), "32767");
    ASSERT_TEXT(scalar(0x06, 65535, 2), "65535");
    ASSERT_TEXT(scalar(0x07, 0x80000000u, 4), "-2147483648");
    ASSERT_TEXT(scalar(0x08, 4294967295u, 4), "4294967295");
    ASSERT_TEXT(scalar(0x09, 0x8000000000000000ull, 8), "-9223372036854775808");
    ASSERT_TEXT(scalar(0x0a, UINT64_MAX, 8), "18446744073709551615");
    ASSERT_TEXT(dbl(3.14), "3.14");
    ASSERT_TEXT(dbl(2.0), "2.0");
    ASSERT_TEXT(dbl(-0.5), "-0.5");
    ASSERT_TEXT(dbl(1e20), "1e20");
    ASSERT_TEXT(dbl(1.5e-7), "1.5e-7");
    ASSERT_TEXT(dbl(18446744073709551616.0), "1.8446744073709552e19");
}

static void strings(void **state)
{
    (void)state;
    ASSERT_TEXT(string_value("", 0), "\"\"");
    ASSERT_TEXT(string_value("a\"b\\c\n\t\x01/é", 11), "\"a\\\"b\\\\c\\n\\t\\u0001/é\"");
    char big[300], want[303];
    memset(big, 'x', sizeof(big));
    want[0] = '"';
    memset(want + 1, 'x', 300);
    want[301] = '"';
    want[302] = '\0';
    ASSERT_TEXT(string_value(big, sizeof(big)), want); /* two-byte length */
}

static void containers(void **state)
{
    (void)state;
    jv_t inner[] = {scalar(0x04, 1, 1), scalar(0x04, 0, 1)};
    jv_t arr = container(false, NULL, inner, 2);
    const char *keys[] = {"a", "b", "long key"};
    jv_t vals[] = {scalar(0x05, 1, 2), arr, string_value("v", 1)};
    ASSERT_TEXT(container(false, keys, vals, 3),
                "{\"a\": 1, \"b\": [true, null], \"long key\": \"v\"}");
    ASSERT_TEXT(container(true, keys, vals, 3),
                "{\"a\": 1, \"b\": [true, null], \"long key\": \"v\"}");
    ASSERT_TEXT(container(false, NULL, NULL, 0), "[]");
    ASSERT_TEXT(container(true, keys, NULL, 0), "{}");
    /* int32/uint32 are inlined only in the large form, 64-bit values never */
    jv_t nums[] = {scalar(0x07, (uint32_t)-7, 4), scalar(0x08, 4000000000u, 4),
                   scalar(0x09, (uint64_t)-9, 8), dbl(0.25)};
    ASSERT_TEXT(container(true, NULL, nums, 4), "[-7, 4000000000, -9, 0.25]");
    ASSERT_TEXT(container(false, NULL, nums, 4), "[-7, 4000000000, -9, 0.25]");
    /* nested three deep, mixed forms */
    jv_t l1 = container(true, NULL, &arr, 1);
    const char *k2[] = {"x"};
    jv_t l2 = container(false, k2, &l1, 1);
    ASSERT_TEXT(container(true, NULL, &l2, 1), "[{\"x\": [[true, null]]}]");
}

static void many_elements(void **state)
{
    (void)state;
    static jv_t vals[200];
    for (int i = 0; i < 200; i++)
        vals[i] = scalar(0x05, (uint64_t)i, 2);
    jv_t a = container(true, NULL, vals, 200);
    char *t = text_of(&a);
    assert_non_null(strstr(t, "[0, 1, 2, "));
    assert_non_null(strstr(t, ", 198, 199]"));
    free(t);
}

static void opaque_values(void **state)
{
    (void)state;
    /* DECIMAL(6,3) 123.456 and DECIMAL(2,1) -1.5: precision, scale, binary decimal */
    const uint8_t d1[] = {6, 3, 0x80, 0x7b, 0x01, 0xc8};
    ASSERT_TEXT(opaque(246, d1, sizeof(d1)), "123.456");
    const uint8_t d2[] = {2, 1, 0x7e, 0xfa};
    ASSERT_TEXT(opaque(246, d2, sizeof(d2)), "-1.5");
    /* packed temporals: ((ymd << 17 | hms) << 24) + microseconds */
    uint64_t ymd = ((uint64_t)(2012 * 13 + 3) << 5) | 18;
    uint64_t hms = (uint64_t)((11u << 12) | (30u << 6) | 45u);
    uint8_t p[8];
    put_le(p, (ymd << 17) << 24, 8);
    ASSERT_TEXT(opaque(10, p, 8), "\"2012-03-18\"");
    put_le(p, (((ymd << 17) | hms) << 24) + 500000, 8);
    ASSERT_TEXT(opaque(12, p, 8), "\"2012-03-18 11:30:45.500000\"");
    ASSERT_TEXT(opaque(7, p, 8), "\"2012-03-18 11:30:45.500000\"");
    uint64_t t = ((uint64_t)((87u << 12) | (31u << 6) | 46u) << 24) + 654321;
    put_le(p, 0 - t, 8);
    ASSERT_TEXT(opaque(11, p, 8), "\"-87:31:46.654321\"");
    put_le(p, t, 8);
    ASSERT_TEXT(opaque(11, p, 8), "\"87:31:46.654321\"");
    const uint8_t u[] = {'U'};
    ASSERT_TEXT(opaque(15, u, 1), "\"base64:type15:VQ==\"");
    const uint8_t cafe[] = {0xca, 0xfe};
    ASSERT_TEXT(opaque(252, cafe, 2), "\"base64:type252:yv4=\"");
}

static int decode_raw(const uint8_t *p, size_t n)
{
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    char err[256];
    int rc = ferry_mysql_json_to_text(p, n, &b, err, sizeof(err));
    if (rc)
        assert_non_null(strstr(err, "could not decode binary JSON"));
    ferry_strbuf_free(&b);
    return rc;
}

static void empty_and_malformed(void **state)
{
    (void)state;
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    assert_int_equal(ferry_mysql_json_to_text(NULL, 0, &b, NULL, 0), 0);
    assert_string_equal(b.buf, "null");
    ferry_strbuf_free(&b);

    const uint8_t unknown[] = {0x0d, 0};
    assert_int_equal(decode_raw(unknown, sizeof(unknown)), FERRY_ERR_INVALID);
    const uint8_t short_int[] = {0x09, 1, 2};
    assert_int_equal(decode_raw(short_int, sizeof(short_int)), FERRY_ERR_INVALID);
    const uint8_t bad_literal[] = {0x04, 7};
    assert_int_equal(decode_raw(bad_literal, sizeof(bad_literal)), FERRY_ERR_INVALID);
    const uint8_t long_string[] = {0x0c, 0x10, 'a'};
    assert_int_equal(decode_raw(long_string, sizeof(long_string)), FERRY_ERR_INVALID);
    /* array whose element offset points past its end */
    const uint8_t bad_offset[] = {0x02, 1, 0, 7, 0, 0x0c, 0x50, 0};
    assert_int_equal(decode_raw(bad_offset, sizeof(bad_offset)), FERRY_ERR_INVALID);
    /* size larger than the document */
    const uint8_t bad_size[] = {0x02, 1, 0, 0xff, 0, 0x04, 1, 0};
    assert_int_equal(decode_raw(bad_size, sizeof(bad_size)), FERRY_ERR_INVALID);

    /* 160 nested arrays: refused (limit 150), not a stack overflow */
    jv_t leaf = scalar(0x04, 1, 1);
    jv_t cur = leaf;
    for (int i = 0; i < 160 && cur.len + 16 < sizeof(cur.bytes); i++)
        cur = container(false, NULL, &cur, 1);
    uint8_t doc[4200];
    doc[0] = cur.type;
    memcpy(doc + 1, cur.bytes, cur.len);
    assert_int_equal(decode_raw(doc, cur.len + 1), FERRY_ERR_INVALID);
    /* and every truncation of a valid document fails cleanly */
    const char *keys[] = {"k"};
    jv_t v = string_value("value", 5);
    jv_t obj = container(false, keys, &v, 1);
    doc[0] = obj.type;
    memcpy(doc + 1, obj.bytes, obj.len);
    for (size_t cut = 1; cut < obj.len + 1; cut++)
        assert_int_equal(decode_raw(doc, cut), FERRY_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalars),       cmocka_unit_test(strings),
        cmocka_unit_test(containers),    cmocka_unit_test(many_elements),
        cmocka_unit_test(opaque_values), cmocka_unit_test(empty_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
