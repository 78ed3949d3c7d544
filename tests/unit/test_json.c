/*
 * test_json.c - the JSON writer (json.h): structure, escaping, UTF-8,
 * numbers and misuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "json.h"

/* Writes one string value as a whole document and compares the text. */
static void check_string(const char *in, size_t len, const char *want)
{
    ferry_json_t *j = ferry_json_new();
    assert_non_null(j);
    assert_int_equal(ferry_json_string_len(j, in, len), 0);
    assert_string_equal(ferry_json_text(j), want);
    ferry_json_destroy(j);
}

static void check_double(double v, const char *want)
{
    ferry_json_t *j = ferry_json_new();
    assert_non_null(j);
    assert_int_equal(ferry_json_double(j, v), 0);
    assert_string_equal(ferry_json_text(j), want);
    ferry_json_destroy(j);
}

static void nesting_and_commas(void **state)
{
    (void)state;
    ferry_json_t *j = ferry_json_new();
    assert_non_null(j);
    ferry_json_object_begin(j);
    ferry_json_key(j, "name");
    ferry_json_string(j, "fwd");
    ferry_json_key(j, "flags");
    ferry_json_array_begin(j);
    ferry_json_bool(j, true);
    ferry_json_bool(j, false);
    ferry_json_null(j);
    ferry_json_array_begin(j);
    ferry_json_array_end(j);
    ferry_json_object_begin(j);
    ferry_json_object_end(j);
    ferry_json_array_end(j);
    ferry_json_key(j, "inner");
    ferry_json_object_begin(j);
    ferry_json_key(j, "n");
    ferry_json_int(j, -7);
    ferry_json_key(j, "none");
    ferry_json_string(j, NULL);
    ferry_json_object_end(j);
    ferry_json_key(j, "raw");
    ferry_json_raw(j, "{\"x\":[1,2]}");
    assert_int_equal(ferry_json_object_end(j), 0);
    assert_int_equal(ferry_json_error(j), 0);
    assert_string_equal(ferry_json_text(j), "{\"name\":\"fwd\",\"flags\":[true,false,null,[],{}],"
                                            "\"inner\":{\"n\":-7,\"none\":null},"
                                            "\"raw\":{\"x\":[1,2]}}");
    ferry_json_destroy(j);
}

static void escaping(void **state)
{
    (void)state;
    check_string("a\"b\\c/d", 7, "\"a\\\"b\\\\c/d\"");
    check_string("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    check_string("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    check_string("a\0b", 3, "\"a\\u0000b\"");
    check_string("", 0, "\"\"");

    /* keys are escaped the same way */
    ferry_json_t *j = ferry_json_new();
    ferry_json_object_begin(j);
    ferry_json_key(j, "k\"\n");
    ferry_json_uint(j, 1);
    ferry_json_object_end(j);
    assert_string_equal(ferry_json_text(j), "{\"k\\\"\\n\":1}");
    ferry_json_destroy(j);
}

static void utf8(void **state)
{
    (void)state;
    /* valid multi-byte sequences pass through untouched */
    const char *ok = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbf \xf4\x8f\xbf\xbf";
    char want[128];
    snprintf(want, sizeof(want), "\"%s\"", ok);
    check_string(ok, strlen(ok), want);

    /* anything else becomes U+FFFD, one per broken sequence */
    check_string("\xff", 1, "\"\xef\xbf\xbd\"");
    check_string("a\xe2\x82", 3, "\"a\xef\xbf\xbd\"");           /* truncated at the end */
    check_string("\xe2\x82x", 3, "\"\xef\xbf\xbdx\"");           /* truncated in the middle */
    check_string("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\""); /* overlong '/' */
    check_string("\xed\xa0\x80", 3,
                 "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* UTF-16 surrogate */
    check_string("\xf4\x90\x80\x80", 4,
                 "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* above U+10FFFF */
    check_string("\x80z", 2, "\"\xef\xbf\xbdz\"");                        /* lone continuation */
}

static void integers(void **state)
{
    (void)state;
    ferry_json_t *j = ferry_json_new();
    ferry_json_array_begin(j);
    ferry_json_int(j, INT64_MIN);
    ferry_json_int(j, INT64_MAX);
    ferry_json_int(j, 0);
    ferry_json_int(j, -1);
    ferry_json_uint(j, UINT64_MAX);
    ferry_json_uint(j, 0);
    ferry_json_array_end(j);
    assert_string_equal(ferry_json_text(j), "[-9223372036854775808,9223372036854775807,0,-1,"
                                            "18446744073709551615,0]");
    ferry_json_destroy(j);
}

static void doubles(void **state)
{
    (void)state;
    check_double(0.0, "0");
    check_double(1.5, "1.5");
    check_double(-2.25, "-2.25");
    check_double(0.1, "0.1");
    check_double(1.0 / 3.0, "0.33333333333333331");
    check_double(1e300, "1e+300");
    check_double(-1.5e-7, "-1.5e-07");
    check_double(123456789012.0, "123456789012");
    check_double(NAN, "null");
    check_double(INFINITY, "null");
    check_double(-INFINITY, "null");
    /* every result reads back as the same value */
    const double vals[] = {0.1 + 0.2, 2.0 / 3.0, 1e-310, 9007199254740993.0, 5e-324};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        ferry_json_t *j = ferry_json_new();
        ferry_json_double(j, vals[i]);
        assert_true(strtod(ferry_json_text(j), NULL) == vals[i]);
        ferry_json_destroy(j);
    }
}

static void misuse_is_sticky(void **state)
{
    (void)state;
    /* a value where a key is due */
    ferry_json_t *j = ferry_json_new();
    ferry_json_object_begin(j);
    assert_int_equal(ferry_json_int(j, 1), FERRY_ERR_INVALID);
    assert_int_equal(ferry_json_key(j, "a"), FERRY_ERR_INVALID); /* sticky */
    assert_int_equal(ferry_json_object_end(j), FERRY_ERR_INVALID);
    assert_int_equal(ferry_json_error(j), FERRY_ERR_INVALID);
    assert_null(ferry_json_text(j));
    assert_null(ferry_json_steal(j));
    ferry_json_destroy(j);

    /* a key inside an array */
    j = ferry_json_new();
    ferry_json_array_begin(j);
    assert_int_equal(ferry_json_key(j, "a"), FERRY_ERR_INVALID);
    ferry_json_destroy(j);

    /* two keys in a row, and ending an object after a dangling key */
    j = ferry_json_new();
    ferry_json_object_begin(j);
    ferry_json_key(j, "a");
    assert_int_equal(ferry_json_key(j, "b"), FERRY_ERR_INVALID);
    ferry_json_destroy(j);
    j = ferry_json_new();
    ferry_json_object_begin(j);
    ferry_json_key(j, "a");
    assert_int_equal(ferry_json_object_end(j), FERRY_ERR_INVALID);
    ferry_json_destroy(j);

    /* mismatched end, end at top level, second top-level value */
    j = ferry_json_new();
    ferry_json_array_begin(j);
    assert_int_equal(ferry_json_object_end(j), FERRY_ERR_INVALID);
    ferry_json_destroy(j);
    j = ferry_json_new();
    assert_int_equal(ferry_json_array_end(j), FERRY_ERR_INVALID);
    ferry_json_destroy(j);
    j = ferry_json_new();
    assert_int_equal(ferry_json_int(j, 1), 0);
    assert_int_equal(ferry_json_int(j, 2), FERRY_ERR_INVALID);
    ferry_json_destroy(j);

    /* raw needs text */
    j = ferry_json_new();
    assert_int_equal(ferry_json_raw(j, ""), FERRY_ERR_INVALID);
    ferry_json_destroy(j);
}

static void incomplete_has_no_text(void **state)
{
    (void)state;
    ferry_json_t *j = ferry_json_new();
    assert_null(ferry_json_text(j)); /* nothing written yet */
    ferry_json_object_begin(j);
    ferry_json_key(j, "a");
    ferry_json_int(j, 1);
    assert_null(ferry_json_text(j)); /* still open */
    assert_null(ferry_json_steal(j));
    ferry_json_object_end(j);
    assert_string_equal(ferry_json_text(j), "{\"a\":1}");
    ferry_json_destroy(j);
}

static void steal_and_reuse(void **state)
{
    (void)state;
    ferry_json_t *j = ferry_json_new();
    ferry_json_string(j, "first");
    char *one = ferry_json_steal(j);
    assert_string_equal(one, "\"first\"");
    assert_null(ferry_json_text(j));
    /* the writer starts over, and grows past its initial buffer */
    ferry_json_array_begin(j);
    for (int i = 0; i < 1000; i++)
        ferry_json_int(j, i);
    ferry_json_array_end(j);
    char *two = ferry_json_steal(j);
    assert_non_null(two);
    assert_memory_equal(two, "[0,1,2,", 7);
    assert_string_equal(two + strlen(two) - 5, ",999]");
    free(one);
    free(two);
    ferry_json_destroy(j);
    ferry_json_destroy(NULL);
}

static void depth_limit(void **state)
{
    (void)state;
    ferry_json_t *j = ferry_json_new();
    for (int i = 0; i < FERRY_JSON_MAX_DEPTH; i++)
        assert_int_equal(ferry_json_array_begin(j), 0);
    assert_int_equal(ferry_json_array_begin(j), FERRY_ERR_INVALID);
    ferry_json_destroy(j);

    j = ferry_json_new();
    for (int i = 0; i < FERRY_JSON_MAX_DEPTH; i++)
        ferry_json_array_begin(j);
    for (int i = 0; i < FERRY_JSON_MAX_DEPTH; i++)
        ferry_json_array_end(j);
    const char *t = ferry_json_text(j);
    assert_non_null(t);
    assert_int_equal(strlen(t), 2 * FERRY_JSON_MAX_DEPTH);
    ferry_json_destroy(j);
}

static void null_writer(void **state)
{
    (void)state;
    /* what a caller sees when ferry_json_new() failed and it did not check */
    ferry_json_t *j = NULL;
    assert_int_equal(ferry_json_object_begin(j), FERRY_ERR_NOMEM);
    assert_int_equal(ferry_json_key(j, "a"), FERRY_ERR_NOMEM);
    assert_int_equal(ferry_json_string(j, "b"), FERRY_ERR_NOMEM);
    assert_int_equal(ferry_json_string(j, NULL), FERRY_ERR_NOMEM);
    assert_int_equal(ferry_json_int(j, 1), FERRY_ERR_NOMEM);
    assert_int_equal(ferry_json_double(j, 1.5), FERRY_ERR_NOMEM);
    assert_int_equal(ferry_json_raw(j, "1"), FERRY_ERR_NOMEM);
    assert_int_equal(ferry_json_object_end(j), FERRY_ERR_NOMEM);
    assert_int_equal(ferry_json_error(j), FERRY_ERR_NOMEM);
    assert_null(ferry_json_text(j));
    assert_null(ferry_json_steal(j));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nesting_and_commas),
        cmocka_unit_test(escaping),
        cmocka_unit_test(utf8),
        cmocka_unit_test(integers),
        cmocka_unit_test(doubles),
        cmocka_unit_test(misuse_is_sticky),
        cmocka_unit_test(incomplete_has_no_text),
        cmocka_unit_test(steal_and_reuse),
        cmocka_unit_test(depth_limit),
        cmocka_unit_test(null_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
