/*
 * test_row.c - the row model, its conversions (row.h) and the arena (arena.h).
 *
 * Expected day numbers and two's-complement bytes were computed separately
 * with Python's datetime and int.to_bytes(signed=True).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "arena.h"
#include "err.h"
#include "row.h"

static void arena_basics(void **state)
{
    (void)state;
    ferry_arena_t *a = ferry_arena_new(128);
    assert_non_null(a);
    char *s = ferry_arena_strdup(a, "hello");
    assert_string_equal(s, "hello");
    assert_true(((uintptr_t)ferry_arena_alloc(a, 3) & 15) == 0);
    /* bigger than a block: gets its own */
    uint8_t *big = ferry_arena_alloc(a, 4096);
    assert_non_null(big);
    memset(big, 0xAB, 4096);
    int *z = ferry_arena_calloc(a, 10, sizeof(int));
    for (int i = 0; i < 10; i++)
        assert_int_equal(z[i], 0);
    assert_true(ferry_arena_used(a) >= 4096);
    ferry_arena_reset(a);
    assert_int_equal(ferry_arena_used(a), 0);
    for (int i = 0; i < 1000; i++)
        assert_non_null(ferry_arena_alloc(a, 100));
    ferry_arena_destroy(a);
    ferry_arena_destroy(NULL);
}

static void days_and_civil(void **state)
{
    (void)state;
    assert_int_equal(ferry_value_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(ferry_value_days_from_civil(2024, 2, 29), 19782);
    assert_int_equal(ferry_value_days_from_civil(1, 1, 1), -719162);
    assert_int_equal(ferry_value_days_from_civil(9999, 12, 31), 2932896);
    assert_int_equal(ferry_value_days_from_civil(2023, 11, 30), 19691); /* Debezium fixture */
    assert_int_equal(ferry_value_days_from_civil(1000, 1, 1), -354285);
    for (int64_t d = -800000; d < 3000000; d += 997) {
        ferry_civil_t c = {0};
        ferry_value_civil_from_days(d, &c);
        assert_true(ferry_value_civil_is_valid(&c));
        assert_int_equal(ferry_value_days_from_civil(c.year, c.month, c.day), d);
    }
    ferry_civil_t zero = {0};
    assert_false(ferry_value_civil_is_valid(&zero));
    ferry_civil_t feb30 = {.year = 2009, .month = 2, .day = 30};
    assert_false(ferry_value_civil_is_valid(&feb30));
    ferry_civil_t leap = {.year = 2000, .month = 2, .day = 29};
    assert_true(ferry_value_civil_is_valid(&leap));
    ferry_civil_t noleap = {.year = 1900, .month = 2, .day = 29};
    assert_false(ferry_value_civil_is_valid(&noleap));

    ferry_civil_t dt = {.year = 2023,
                        .month = 11,
                        .day = 30,
                        .hour = 12,
                        .minute = 34,
                        .second = 56,
                        .usec = 123456};
    int64_t us;
    assert_true(ferry_value_civil_to_micros(&dt, &us));
    assert_true(us == 1701347696123456LL); /* Debezium fixture col_dt_fsp_6 */
    ferry_civil_t back;
    ferry_value_civil_from_micros(us, &back);
    assert_int_equal(back.year, 2023);
    assert_int_equal(back.month, 11);
    assert_int_equal(back.day, 30);
    assert_int_equal(back.hour, 12);
    assert_int_equal(back.minute, 34);
    assert_int_equal(back.second, 56);
    assert_int_equal(back.usec, 123456);
    ferry_value_civil_from_micros(-1, &back);
    assert_int_equal(back.year, 1969);
    assert_int_equal(back.usec, 999999);
    assert_int_equal(back.second, 59);
    assert_false(ferry_value_civil_to_micros(&zero, &us));
}

static void civil_text(void **state)
{
    (void)state;
    char buf[48];
    ferry_civil_t c = {0};
    assert_int_equal(ferry_value_format_civil(&c, true, 0, buf, sizeof(buf)), 10);
    assert_string_equal(buf, "0000-00-00");
    ferry_value_format_civil(&c, false, 6, buf, sizeof(buf));
    assert_string_equal(buf, "0000-00-00 00:00:00.000000");
    ferry_civil_t p = {.year = 2024, .month = 0, .day = 0};
    ferry_value_format_civil(&p, true, 0, buf, sizeof(buf));
    assert_string_equal(buf, "2024-00-00");
    ferry_civil_t f = {
        .year = 2024, .month = 1, .day = 2, .hour = 3, .minute = 4, .second = 5, .usec = 120000};
    ferry_value_format_civil(&f, false, 2, buf, sizeof(buf));
    assert_string_equal(buf, "2024-01-02 03:04:05.12");
    ferry_civil_t bc = {.year = -4712, .month = 1, .day = 1};
    ferry_value_format_civil(&bc, true, 0, buf, sizeof(buf));
    assert_string_equal(buf, "-4712-01-01");

    const char *ok[] = {"0000-00-00",
                        "2024-00-00",
                        "2009-11-31",
                        "0000-00-00 00:00:00",
                        "9999-12-31 23:59:59.999999",
                        "2024-01-02T03:04:05.5",
                        "-4712-01-01"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ferry_civil_t o;
        assert_int_equal(ferry_value_parse_civil(ok[i], strlen(ok[i]), &o), 0);
    }
    ferry_civil_t o;
    assert_int_equal(ferry_value_parse_civil("2024-01-02 03:04:05.5", 21, &o), 0);
    assert_int_equal(o.usec, 500000);
    assert_int_equal(ferry_value_parse_civil("2009-11-31", 10, &o), 0);
    assert_int_equal(o.day, 31);
    const char *bad[] = {"",
                         "2024-13-01",
                         "2024-01-32",
                         "2024-1-01",
                         "2024-01-01 24:00:00",
                         "2024-01-01 00:00:00.1234567",
                         "2024-01-01x",
                         "2024-01-01 00:00:00."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ferry_value_parse_civil(bad[i], strlen(bad[i]), &o), FERRY_ERR_INVALID);
}

static void time_text(void **state)
{
    (void)state;
    char buf[32];
    int64_t max = (838LL * 3600 + 59 * 60 + 59) * 1000000;
    ferry_value_format_time(-max, 6, buf, sizeof(buf));
    assert_string_equal(buf, "-838:59:59.000000");
    ferry_value_format_time(max, 0, buf, sizeof(buf));
    assert_string_equal(buf, "838:59:59");
    ferry_value_format_time(-500000, 6, buf, sizeof(buf));
    assert_string_equal(buf, "-00:00:00.500000");
    ferry_value_format_time(45296123456LL, 4, buf, sizeof(buf));
    assert_string_equal(buf, "12:34:56.1234");
    int64_t t;
    assert_int_equal(ferry_value_parse_time("-838:59:59.000000", 17, &t), 0);
    assert_true(t == -max);
    assert_int_equal(ferry_value_parse_time("-00:00:00.5", 11, &t), 0);
    assert_true(t == -500000);
    assert_int_equal(ferry_value_parse_time("12:60:00", 8, &t), FERRY_ERR_INVALID);
}

static void expect_dec(const char *text, int scale, const char *hex, const char *canon)
{
    uint8_t b[FERRY_DECIMAL_MAX_BYTES];
    size_t n;
    assert_int_equal(ferry_value_decimal_to_bytes(text, strlen(text), scale, b, sizeof(b), &n), 0);
    char got[2 * FERRY_DECIMAL_MAX_BYTES + 1];
    for (size_t i = 0; i < n; i++)
        snprintf(got + 2 * i, 3, "%02x", b[i]);
    got[2 * n] = '\0';
    assert_string_equal(got, hex);
    char out[FERRY_DECIMAL_MAX_DIGITS + 8];
    size_t ol;
    assert_int_equal(ferry_value_decimal_from_bytes(b, n, scale, out, sizeof(out), &ol), 0);
    assert_int_equal(ol, strlen(out));
    assert_string_equal(out, canon);
}

static void decimals(void **state)
{
    (void)state;
    expect_dec("0", 0, "00", "0");
    expect_dec("0.000", 3, "00", "0.000");
    expect_dec("-0.00", 2, "00", "0.00");
    expect_dec("127", 0, "7f", "127");
    expect_dec("128", 0, "0080", "128");
    expect_dec("-128", 0, "80", "-128");
    expect_dec("-129", 0, "ff7f", "-129");
    expect_dec("-1.00", 2, "9c", "-1.00");
    expect_dec("-1.28", 2, "80", "-1.28");
    expect_dec("-1.29", 2, "ff7f", "-1.29");
    expect_dec("-0.5", 2, "ce", "-0.50");
    expect_dec("12.", 1, "78", "12.0");
    expect_dec(".5", 1, "05", "0.5");
    expect_dec("+7", 0, "07", "7");
    expect_dec("1.500", 1, "0f", "1.5"); /* trailing zeros past the scale are not data */
    /* DECIMAL(65,30) extremes: 35 integer and 30 fraction digits */
    expect_dec("99999999999999999999999999999999999.999999999999999999999999999999", 30,
               "00f316271c7fc3908a8bef464e3945ef7a253609ffffffffffffffff",
               "99999999999999999999999999999999999.999999999999999999999999999999");
    expect_dec("-99999999999999999999999999999999999.999999999999999999999999999999", 30,
               "ff0ce9d8e3803c6f757410b9b1c6ba1085dac9f60000000000000001",
               "-99999999999999999999999999999999999.999999999999999999999999999999");
    expect_dec("12345678901234567890123456789012345", 0, "0260b05ffbe7fcb117a024f1e2df79",
               "12345678901234567890123456789012345");
    expect_dec("18446744073709551615", 0, "00ffffffffffffffff", "18446744073709551615");

    uint8_t b[FERRY_DECIMAL_MAX_BYTES];
    size_t n;
    const char *bad[] = {"", "-", ".", "1e5", "NaN", "Infinity", "1.2.3", "12a"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ferry_value_decimal_to_bytes(bad[i], strlen(bad[i]), 2, b, sizeof(b), &n),
                         FERRY_ERR_INVALID);
    /* more fraction digits than the scale would lose data */
    assert_int_equal(ferry_value_decimal_to_bytes("1.234", 5, 2, b, sizeof(b), &n),
                     FERRY_ERR_INVALID);
    assert_int_equal(ferry_value_decimal_to_bytes("123456", 6, 0, b, 2, &n), FERRY_ERR_UNSUPPORTED);

    /* 1000 digits, PostgreSQL's largest declared precision, round-trips */
    char big[1002];
    memset(big, '9', 1000);
    big[1000] = '\0';
    assert_int_equal(ferry_value_decimal_to_bytes(big, 1000, 0, b, sizeof(b), &n), 0);
    char out[FERRY_DECIMAL_MAX_DIGITS + 8];
    size_t ol;
    assert_int_equal(ferry_value_decimal_from_bytes(b, n, 0, out, sizeof(out), &ol), 0);
    assert_string_equal(out, big);
    assert_int_equal(ferry_value_decimal_from_bytes(b, n, 0, out, 10, &ol), FERRY_ERR_TRUNCATED);
}

static void uuids_and_intervals(void **state)
{
    (void)state;
    uint8_t u[16];
    char buf[37];
    assert_int_equal(ferry_value_parse_uuid("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", 36, u), 0);
    ferry_value_format_uuid(u, buf);
    assert_string_equal(buf, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    assert_int_equal(ferry_value_parse_uuid("a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11", 36, u),
                     FERRY_ERR_INVALID);

    const ferry_interval_t ivs[] = {
        {0, 0, 0},
        {14, 3, 4LL * 3600000000 + 5 * 60000000 + 6000007},
        {-1, 0, -500000},
        {1, -2, 0},
        {INT32_MAX, INT32_MIN, INT64_MAX},
        {INT32_MIN, INT32_MAX, INT64_MIN + 1},
    };
    for (size_t i = 0; i < sizeof(ivs) / sizeof(ivs[0]); i++) {
        char t[128];
        size_t n = ferry_value_format_interval(&ivs[i], t, sizeof(t));
        ferry_interval_t back;
        if (ferry_value_parse_interval(t, n, &back))
            fail_msg("could not parse %s", t);
        assert_int_equal(back.months, ivs[i].months);
        assert_int_equal(back.days, ivs[i].days);
        assert_true(back.micros == ivs[i].micros);
    }
    char t[128];
    ferry_value_format_interval(&ivs[1], t, sizeof(t));
    assert_string_equal(t, "P1Y2M3DT4H5M6.000007S");
    ferry_value_format_interval(&ivs[2], t, sizeof(t));
    assert_string_equal(t, "P0Y-1M0DT0H0M-0.500000S");
    ferry_interval_t iv;
    assert_int_equal(ferry_value_parse_interval("P1W", 3, &iv), 0);
    assert_int_equal(iv.days, 7);
    assert_int_equal(ferry_value_parse_interval("P", 1, &iv), FERRY_ERR_INVALID);
    assert_int_equal(ferry_value_parse_interval("P1H", 3, &iv), FERRY_ERR_INVALID);
}

static void tables_and_rows(void **state)
{
    (void)state;
    ferry_table_t *t = ferry_table_new("shop", "orders");
    char err[256];
    static const char *const members[] = {"a", "b", "c"};
    ferry_column_t id = {.name = "id",
                         .type = FERRY_TYPE_UINT,
                         .source_type = "bigint unsigned",
                         .flags = FERRY_COL_UNSIGNED,
                         .length = 8,
                         .pk_pos = 1};
    ferry_column_t e = {.name = "e",
                        .type = FERRY_TYPE_ENUM,
                        .source_type = "enum('a','b','c')",
                        .flags = FERRY_COL_NULLABLE,
                        .members = members,
                        .n_members = 3,
                        .charset = "utf8mb4"};
    assert_int_equal(ferry_table_add_column(t, &id, err, sizeof(err)), 0);
    assert_int_equal(ferry_table_add_column(t, &e, err, sizeof(err)), 0);
    ferry_column_t bad = {.name = "x", .type = FERRY_TYPE_TIME, .fsp = 7};
    assert_int_equal(ferry_table_add_column(t, &bad, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "\"x\""));
    ferry_column_t bad2 = {.name = "y", .type = FERRY_TYPE_INT, .members = members, .n_members = 3};
    assert_int_equal(ferry_table_add_column(t, &bad2, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_int_equal(ferry_table_ncolumns(t), 2);
    assert_string_equal(ferry_table_column(t, 1)->members[2], "c");
    assert_string_equal(ferry_table_column(t, 1)->charset, "utf8mb4");
    assert_int_equal(ferry_table_find(t, "e"), 1);
    assert_int_equal(ferry_table_find(t, "nope"), -1);
    assert_string_equal(ferry_table_db(t), "shop");
    ferry_table_destroy(t);
    ferry_table_destroy(NULL);

    ferry_arena_t *a = ferry_arena_new(0);
    ferry_row_t *r = ferry_row_new(a, 3);
    assert_int_equal(r->n, 3);
    for (size_t i = 0; i < 3; i++)
        assert_true(r->values[i].is_null);
    r->values[0] = ferry_value_uint(UINT64_MAX);
    ferry_value_t other = ferry_value_uint(UINT64_MAX);
    assert_true(ferry_value_equal(FERRY_TYPE_UINT, &r->values[0], &other));
    ferry_value_t n1 = ferry_value_double(0.0 / 0.0), n2 = ferry_value_double(0.0 / 0.0);
    assert_true(ferry_value_equal(FERRY_TYPE_DOUBLE, &n1, &n2));
    ferry_value_t s1 = ferry_value_str("ab", 2), s2 = ferry_value_str("abc", 2);
    assert_true(ferry_value_equal(FERRY_TYPE_STRING, &s1, &s2));
    ferry_value_t nul = ferry_value_null();
    assert_false(ferry_value_equal(FERRY_TYPE_STRING, &s1, &nul));
    ferry_arena_destroy(a);

    assert_string_equal(ferry_type_name(FERRY_TYPE_TIMESTAMP), "timestamp");
    for (int ty = FERRY_TYPE_BOOL; ty <= FERRY_TYPE_MAX; ty++)
        assert_int_equal(ferry_type_from_name(ferry_type_name((ferry_type_t)ty)), ty);
    assert_int_equal(ferry_type_from_name("nope"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_basics),    cmocka_unit_test(days_and_civil),
        cmocka_unit_test(civil_text),      cmocka_unit_test(time_text),
        cmocka_unit_test(decimals),        cmocka_unit_test(uuids_and_intervals),
        cmocka_unit_test(tables_and_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
