/*
 * test_mysql_sink.c - SQL literals of the MySQL sink (mysql_sink.h), without
 * a server: exact digits, escapes, and the values MySQL cannot hold. The
 * integration test test_mysql_sink.sh checks what a real server stores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "mysql_sink.h"
#include "row.h"
#include "strbuf.h"

/* The literal of v for a column of type t, or "ERR: <reason>". */
static char out[512];

static const char *lit(ferry_type_t t, ferry_value_t v)
{
    ferry_column_t col = {.name = "c", .type = t};
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    char err[256];
    if (ferry_mysql_sink_literal(&col, &v, &b, err, sizeof(err)) != 0)
        snprintf(out, sizeof(out), "ERR: %s", err);
    else
        snprintf(out, sizeof(out), "%s", b.buf ? b.buf : "");
    ferry_strbuf_free(&b);
    return out;
}

static void numbers(void **state)
{
    (void)state;
    assert_string_equal(lit(FERRY_TYPE_INT, ferry_value_int(INT64_MIN)), "-9223372036854775808");
    assert_string_equal(lit(FERRY_TYPE_UINT, ferry_value_uint(UINT64_MAX)), "18446744073709551615");
    assert_string_equal(lit(FERRY_TYPE_BIT, ferry_value_uint(5)), "5");
    assert_string_equal(lit(FERRY_TYPE_BOOL, ferry_value_bool(true)), "1");
    assert_string_equal(lit(FERRY_TYPE_DOUBLE, ferry_value_double(0.1)), "0.1e0");
    assert_string_equal(lit(FERRY_TYPE_DOUBLE, ferry_value_double(DBL_MAX)),
                        "1.7976931348623157e+308");
    /* FLT_MAX as the double it widens to: "3.40282347e+38" would be out of range */
    assert_string_equal(lit(FERRY_TYPE_FLOAT, ferry_value_float(FLT_MAX)),
                        "3.4028234663852886e+38");
    assert_string_equal(lit(FERRY_TYPE_FLOAT, ferry_value_float(-0.0f)), "-0e0");
    assert_string_equal(lit(FERRY_TYPE_DECIMAL, ferry_value_str("-12.3400", 8)), "-12.3400");
    assert_string_equal(lit(FERRY_TYPE_YEAR, ferry_value_int(0)), "0");
    ferry_value_t null = ferry_value_null();
    assert_string_equal(lit(FERRY_TYPE_STRING, null), "NULL");
}

static void refused(void **state)
{
    (void)state;
    assert_string_equal(lit(FERRY_TYPE_DOUBLE, ferry_value_double(NAN)),
                        "ERR: could not write value of column \"c\": MySQL cannot store NaN or "
                        "infinity in DOUBLE");
    assert_non_null(strstr(lit(FERRY_TYPE_FLOAT, ferry_value_float(INFINITY)), "ERR:"));
    assert_non_null(strstr(lit(FERRY_TYPE_DECIMAL, ferry_value_str("NaN", 3)), "ERR:"));
    assert_non_null(strstr(lit(FERRY_TYPE_DECIMAL, ferry_value_str("1;DROP", 6)), "ERR:"));
    ferry_value_t inf = ferry_value_civil(0, 0, 0, 0, 0, 0, 0);
    inf.flags = FERRY_VALUE_POS_INFINITY;
    assert_non_null(strstr(lit(FERRY_TYPE_TIMESTAMP, inf), "ERR: could not write"));
    assert_non_null(
        strstr(lit(FERRY_TYPE_DATE, ferry_value_civil(-44, 3, 15, 0, 0, 0, 0)), "range"));
}

static void text_and_bytes(void **state)
{
    (void)state;
    assert_string_equal(lit(FERRY_TYPE_STRING, ferry_value_str("a'b\"c\\d\0e\n\r\x1a", 12)),
                        "'a\\'b\\\"c\\\\d\\0e\\n\\r\\Z'");
    assert_string_equal(lit(FERRY_TYPE_STRING, ferry_value_str("\xF0\x9F\x98\x80", 4)),
                        "'\xF0\x9F\x98\x80'");
    assert_string_equal(lit(FERRY_TYPE_BYTES, ferry_value_str("\0\xff", 2)), "X'00FF'");
    assert_string_equal(lit(FERRY_TYPE_BYTES, ferry_value_str("", 0)), "X''");
    ferry_value_t g = ferry_value_str("\x01\x02", 2);
    g.aux = 4326;
    assert_string_equal(lit(FERRY_TYPE_GEOMETRY, g), "ST_GeomFromWKB(X'0102', 4326)");
}

static void times(void **state)
{
    (void)state;
    assert_string_equal(lit(FERRY_TYPE_DATE, ferry_value_civil(0, 0, 0, 0, 0, 0, 0)),
                        "'0000-00-00'");
    assert_string_equal(lit(FERRY_TYPE_DATETIME, ferry_value_civil(2024, 1, 2, 3, 4, 5, 6)),
                        "'2024-01-02 03:04:05.000006'");
    assert_string_equal(lit(FERRY_TYPE_TIMESTAMP, ferry_value_civil(2024, 1, 2, 3, 4, 5, 0)),
                        "'2024-01-02 03:04:05'");
    assert_string_equal(lit(FERRY_TYPE_TIME, ferry_value_int(-500000)), "'-00:00:00.500000'");
    assert_string_equal(lit(FERRY_TYPE_TIME, ferry_value_int(INT64_C(3020399) * 1000000)),
                        "'838:59:59'");
    ferry_value_t iv = {.v.iv = {14, -3, 4000007}};
    assert_string_equal(lit(FERRY_TYPE_INTERVAL, iv), "'P1Y2M-3DT0H0M4.000007S'");
    ferry_value_t u = {.v.uuid = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45,
                                  0x67, 0x89, 0xab, 0xcd, 0xef}};
    assert_string_equal(lit(FERRY_TYPE_UUID, u), "'12345678-9abc-def0-0123-456789abcdef'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numbers),
        cmocka_unit_test(refused),
        cmocka_unit_test(text_and_bytes),
        cmocka_unit_test(times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
