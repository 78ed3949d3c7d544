/*
 * test_row_filter.c - row filters: grammar, canonical SQL, binding and
 * evaluation in SQL's three-valued logic (row_filter.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "row_filter.h"

#include <stdio.h>
#include <string.h>

/* The table every test binds to; collations parallel to its columns. */
enum { C_ID, C_U, C_PRICE, C_SCORE, C_NAME, C_CODE, C_DATA, C_D, C_DT, C_T, C_UCA, C_J, C_N };

static const char *const collations[C_N] = {
    [C_NAME] = "utf8mb4_general_ci",
    [C_CODE] = "utf8mb4_bin",
    [C_UCA] = "utf8mb4_unicode_ci",
};

static ferry_table_t *table(void)
{
    ferry_table_t *t = ferry_table_new("shop", "orders");
    const ferry_column_t cols[C_N] = {
        {.name = "id", .type = FERRY_TYPE_INT, .length = 4, .pk_pos = 1},
        {.name = "u", .type = FERRY_TYPE_UINT, .length = 8, .flags = FERRY_COL_UNSIGNED},
        {.name = "Price", .type = FERRY_TYPE_DECIMAL, .precision = 10, .scale = 2},
        {.name = "score", .type = FERRY_TYPE_DOUBLE},
        {.name = "name", .type = FERRY_TYPE_STRING, .charset = "utf8mb4"},
        {.name = "code", .type = FERRY_TYPE_STRING, .charset = "utf8mb4"},
        {.name = "data", .type = FERRY_TYPE_BYTES, .source_type = "varbinary(10)"},
        {.name = "d", .type = FERRY_TYPE_DATE},
        {.name = "dt", .type = FERRY_TYPE_DATETIME, .fsp = 3},
        {.name = "t", .type = FERRY_TYPE_TIME},
        {.name = "uca", .type = FERRY_TYPE_STRING, .charset = "utf8mb4"},
        {.name = "j", .type = FERRY_TYPE_JSON},
    };
    for (size_t i = 0; i < C_N; i++)
        assert_int_equal(ferry_table_add_column(t, &cols[i], NULL, 0), 0);
    return t;
}

/* A row of NULLs; tests set what they compare. */
static ferry_value_t vals[C_N];
static ferry_row_t row = {C_N, vals};

static void clear_row(void)
{
    for (size_t i = 0; i < C_N; i++)
        vals[i] = ferry_value_null();
}

static void set_str(int col, const char *s)
{
    vals[col] = ferry_value_str(s, strlen(s));
}

static ferry_row_filter_t *bound(const char *text)
{
    ferry_row_filter_t *f = NULL;
    char err[512] = "";
    int rc = ferry_row_filter_parse("where.shop.orders", text, &f, err, sizeof(err));
    if (rc != 0)
        fail_msg("parse \"%s\": %s", text, err);
    ferry_table_t *t = table();
    rc = ferry_row_filter_bind(f, t, collations, err, sizeof(err));
    ferry_table_destroy(t);
    if (rc != 0)
        fail_msg("bind \"%s\": %s", text, err);
    return f;
}

/* The filter's verdict on the current row (1, 0) without a server. */
static int verdict(const char *text)
{
    ferry_row_filter_t *f = bound(text);
    char err[512] = "";
    int r = ferry_row_filter_match(f, &row, NULL, NULL, err, sizeof(err));
    ferry_row_filter_destroy(f);
    return r;
}

static void canonical(const char *text, const char *want)
{
    ferry_row_filter_t *f = NULL;
    char err[512] = "";
    if (ferry_row_filter_parse("where.shop.orders", text, &f, err, sizeof(err)) != 0)
        fail_msg("parse \"%s\": %s", text, err);
    assert_string_equal(ferry_row_filter_sql(f), want);
    ferry_row_filter_destroy(f);
}

/* text is refused by parse (bind = false) or bind, with msg in the error. */
static void refused(const char *text, bool at_bind, const char *msg)
{
    ferry_row_filter_t *f = NULL;
    char err[512] = "";
    int rc = ferry_row_filter_parse("where.shop.orders", text, &f, err, sizeof(err));
    if (at_bind) {
        if (rc != 0)
            fail_msg("parse \"%s\": %s", text, err);
        ferry_table_t *t = table();
        rc = ferry_row_filter_bind(f, t, collations, err, sizeof(err));
        ferry_table_destroy(t);
    }
    ferry_row_filter_destroy(f);
    if (rc == 0)
        fail_msg("\"%s\" was accepted", text);
    assert_true(rc == FERRY_ERR_UNSUPPORTED || rc == FERRY_ERR_INVALID);
    if (!strstr(err, "row filter where.shop.orders: ") || !strstr(err, msg))
        fail_msg("\"%s\": error \"%s\" lacks \"%s\"", text, err, msg);
    assert_null(strchr(err, '\n'));
}

static void canonical_forms(void **state)
{
    (void)state;
    canonical("a && b || c", "(((`a` <> 0) AND (`b` <> 0)) OR (`c` <> 0))");
    canonical("5 < id", "(`id` > 5)");
    canonical("-3 >= id", "(`id` <= -3)");
    canonical("`we``ird` != 'x'", "(`we``ird` <> 'x')");
    canonical("name = 'it''s'", "(`name` = _utf8mb4 X'69742773')");
    canonical("name = 'a\\\\b'", "(`name` = _utf8mb4 X'615C62')");
    canonical("name LIKE '100\\%'", "(`name` LIKE '100!%' ESCAPE '!')");
    canonical("name LIKE 'x|_y!' ESCAPE '|'", "(`name` LIKE 'x!_y!!' ESCAPE '!')");
    canonical("id NOT IN (1, 2.5, NULL, TRUE)", "(`id` NOT IN (1, 2.5, NULL, 1))");
    canonical("id IS NOT NULL and (u is null)", "((`id` IS NOT NULL) AND (`u` IS NULL))");
    canonical("score <=> 1e3", "(`score` <=> 1e3)");
    canonical("NOT NOT id = 1", "(NOT (NOT (`id` = 1)))");
    canonical("a OR b AND c", "((`a` <> 0) OR ((`b` <> 0) AND (`c` <> 0)))");
}

static void unsupported_grammar_is_refused(void **state)
{
    (void)state;
    refused("lower(name) = 'a'", false, "functions are not supported");
    refused("id + 1 = 2", false, "arithmetic is not supported");
    refused("id = u", false, "comparisons between columns are not supported");
    refused("1 = 1", false, "comparisons between literals");
    refused("o.id = 1", false, "qualified column names");
    refused("name = \"x\"", false, "double-quoted text");
    refused("id = 1 -- x", false, "comments");
    refused("id = 1 XOR id = 2", false, "unexpected text");
    refused("name REGEXP 'a'", false, "unsupported operator");
    refused("(id = 1) IS TRUE", false, "unexpected text");
    refused("id IS TRUE", false, "only IS NULL and IS NOT NULL");
    refused("id = 0x10", false, "hex, bit");
    refused("name = 'abc", false, "unterminated string");
    refused("", false, "a condition is missing");
    refused("id = 1)", false, "unbalanced ')'");
    refused("(id = 1", false, "expected ')'");
    refused("dt < CURRENT_DATE", false, "'CURRENT_DATE' is not supported here");
    refused("id IN (1, u)", false, "only literals are supported in IN");
    refused("name LIKE 'a' ESCAPE 'ab'", false, "ESCAPE takes one character");
    refused("id = 1 = 1", false, "unexpected text");
    refused("id = 1234567890123456789012345678901234567890.12345678901234567890123456", false,
            "more than 65 digits");
    refused("score < 1e999", false, "number out of range");
}

static void binding_checks_columns_and_types(void **state)
{
    (void)state;
    refused("nope = 1", true, "column `nope` does not exist in `shop`.`orders`");
    refused("name = 5", true, "compare it with a 'quoted' value");
    refused("id = '5'", true, "is a number");
    refused("j = '{}'", true, "is json: not supported");
    refused("d = '2024-02-30'", true, "is date");
    refused("d = '2024-02-01 10:00:00'", true, "is date");
    refused("dt = '2024-02-01 10:00:00.1234'", true, "fractional digits");
    refused("t = '25:00'", true, "is time");
    refused("id LIKE '1%'", true, "LIKE is supported on text columns only");
    refused("d", true, "is date");
    /* names resolve case-insensitively, as MySQL's column names do */
    ferry_row_filter_destroy(bound("PRICE > 1 AND `ID` = 2"));
}

static void numbers_compare_as_mysql_does(void **state)
{
    (void)state;
    clear_row();
    vals[C_ID] = ferry_value_int(-7);
    vals[C_U] = ferry_value_uint(UINT64_MAX);
    set_str(C_PRICE, "1.50");
    vals[C_SCORE] = ferry_value_double(0.1);
    assert_int_equal(verdict("id = -7"), 1);
    assert_int_equal(verdict("id < -6.5"), 1);
    assert_int_equal(verdict("id < -6.9999999999999999999999999"), 1); /* exact, not double */
    assert_int_equal(verdict("id >= -7e0"), 1);
    assert_int_equal(verdict("u = 18446744073709551615"), 1);
    assert_int_equal(verdict("u < 18446744073709551616"), 1);
    assert_int_equal(verdict("u > -1"), 1);
    assert_int_equal(verdict("price = 1.5"), 1);
    assert_int_equal(verdict("price = 1.500000"), 1);
    assert_int_equal(verdict("price BETWEEN 1 AND 2"), 1);
    assert_int_equal(verdict("price > 1.49999999999999999999"), 1);
    assert_int_equal(verdict("score = 0.1"), 1);
    assert_int_equal(verdict("score = 1e-1"), 1);
    assert_int_equal(verdict("score > 0.10000000000000001"), 0); /* same double as 0.1 */
    assert_int_equal(verdict("id"), 1);                          /* -7 is true */
    vals[C_ID] = ferry_value_int(0);
    assert_int_equal(verdict("id"), 0);
    assert_int_equal(verdict("id = FALSE"), 1);
    assert_int_equal(verdict("id IN (3, 0, 5)"), 1);
    assert_int_equal(verdict("id NOT IN (3, 5)"), 1);
}

static void null_follows_three_valued_logic(void **state)
{
    (void)state;
    clear_row();
    vals[C_ID] = ferry_value_int(2);
    assert_int_equal(verdict("u = NULL"), 0);
    assert_int_equal(verdict("NOT (u = 1)"), 0);
    assert_int_equal(verdict("u <> 1"), 0);
    assert_int_equal(verdict("u IS NULL"), 1);
    assert_int_equal(verdict("u <=> NULL"), 1);
    assert_int_equal(verdict("id <=> NULL"), 0);
    assert_int_equal(verdict("NOT (id <=> NULL)"), 1);
    assert_int_equal(verdict("id IN (1, NULL)"), 0);
    assert_int_equal(verdict("id NOT IN (1, NULL)"), 0);
    assert_int_equal(verdict("id IN (2, NULL)"), 1);
    assert_int_equal(verdict("u = 1 OR id = 2"), 1);
    assert_int_equal(verdict("NOT (u = 1 AND id = 3)"), 1); /* NULL AND FALSE = FALSE */
    assert_int_equal(verdict("NOT (u = 1 AND id = 2)"), 0); /* NULL AND TRUE = NULL */
    assert_int_equal(verdict("id BETWEEN NULL AND 1"), 0);
    assert_int_equal(verdict("id NOT BETWEEN NULL AND 1"), 1); /* NULL AND FALSE, negated */
    assert_int_equal(verdict("name LIKE 'a%'"), 0);
    assert_int_equal(verdict("name NOT LIKE 'a%'"), 0);
}

static void text_follows_the_collation(void **state)
{
    (void)state;
    clear_row();
    set_str(C_NAME, "Abc  ");
    set_str(C_CODE, "Abc");
    set_str(C_UCA, "Abc");
    assert_int_equal(verdict("name = 'aBC'"), 1);    /* _ci, trailing spaces padded */
    assert_int_equal(verdict("name LIKE 'abc'"), 0); /* LIKE does not pad */
    assert_int_equal(verdict("name LIKE 'ab_%'"), 1);
    assert_int_equal(verdict("code = 'abc'"), 0); /* _bin */
    assert_int_equal(verdict("code = 'Abc '"), 1);
    assert_int_equal(verdict("uca = 'ABC'"), 1);
    assert_int_equal(verdict("name IN ('x', 'ABC')"), 1);
    /* general_ci orders by upper case: 'A' (0x41) < '_' (0x5f) < 'a' (0x61) */
    assert_int_equal(verdict("name < '_'"), 1);
    assert_int_equal(verdict("code < '_'"), 1);
    set_str(C_CODE, "abc");
    assert_int_equal(verdict("code < '_'"), 0);
    assert_int_equal(verdict("name BETWEEN 'ab' AND 'ABD'"), 1);
    /* binary strings: bytes, no padding */
    vals[C_DATA] = ferry_value_str("ab\0", 3);
    assert_int_equal(verdict("data = 'ab'"), 0);
    assert_int_equal(verdict("data > 'ab'"), 1);
    assert_int_equal(verdict("data LIKE 'ab_'"), 1);
    /* '_' is one character in UTF-8 text, one byte in binary strings */
    set_str(C_CODE, "caf\xc3\xa9");
    assert_int_equal(verdict("code LIKE 'caf_'"), 1);
    vals[C_DATA] = ferry_value_str("caf\xc3\xa9", 5);
    assert_int_equal(verdict("data LIKE 'caf_'"), 0);
    assert_int_equal(verdict("data LIKE 'caf__'"), 1);
    /* escapes */
    set_str(C_NAME, "100%");
    assert_int_equal(verdict("name LIKE '100\\%'"), 1);
    assert_int_equal(verdict("name LIKE '10!0%' ESCAPE '!'"), 1);
    set_str(C_NAME, "1000");
    assert_int_equal(verdict("name LIKE '100\\%'"), 0);
    assert_int_equal(verdict("name LIKE '%0%0%0'"), 1);
    assert_int_equal(verdict("name LIKE '%1%1%'"), 0);
}

static void temporal_values_compare_with_strings(void **state)
{
    (void)state;
    clear_row();
    vals[C_D] = ferry_value_civil(2024, 3, 1, 0, 0, 0, 0);
    vals[C_DT] = ferry_value_civil(2024, 3, 1, 10, 30, 0, 500000);
    vals[C_T] = ferry_value_int(-3600000000LL);
    assert_int_equal(verdict("d >= '2024-03-01'"), 1);
    assert_int_equal(verdict("d BETWEEN '2024-01-01' AND '2024-02-29'"), 0);
    assert_int_equal(verdict("dt > '2024-03-01'"), 1);
    assert_int_equal(verdict("dt = '2024-03-01 10:30:00.5'"), 1);
    assert_int_equal(verdict("dt < '2024-03-01T10:30:00.501'"), 1);
    assert_int_equal(verdict("t < '-00:59:59'"), 1);
    assert_int_equal(verdict("t = '-1:00:00'"), 1);
    vals[C_D] = ferry_value_civil(0, 0, 0, 0, 0, 0, 0);
    assert_int_equal(verdict("d = '0000-00-00'"), 1);
    assert_int_equal(verdict("d < '0001-01-01'"), 1);
}

static int asked;
static char asked_sql[512];

static int answer_true(void *arg, const char *sql, size_t len, int *result, char *errstr,
                       size_t errstr_size)
{
    (void)arg, (void)errstr, (void)errstr_size;
    asked++;
    snprintf(asked_sql, sizeof(asked_sql), "%.*s", (int)len, sql);
    *result = 1;
    return 0;
}

static void uncertain_text_is_asked_of_the_server(void **state)
{
    (void)state;
    clear_row();
    set_str(C_NAME, "caf\xc3\xa9");
    set_str(C_UCA, "b");
    ferry_row_filter_t *f = bound("name = 'cafe'");
    char err[512] = "";
    assert_int_equal(ferry_row_filter_match(f, &row, NULL, NULL, err, sizeof(err)),
                     FERRY_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "needs the server"));
    asked = 0;
    assert_int_equal(ferry_row_filter_match(f, &row, answer_true, NULL, err, sizeof(err)), 1);
    assert_int_equal(asked, 1);
    assert_string_equal(asked_sql, "SELECT ((CONVERT(_utf8mb4 X'636166C3A9' USING utf8mb4) "
                                   "COLLATE utf8mb4_general_ci) = 'cafe')");
    ferry_row_filter_destroy(f);
    /* Unicode collations order ASCII unlike code points: ordering is asked too */
    f = bound("uca < '_' AND id IS NULL");
    asked = 0;
    assert_int_equal(ferry_row_filter_match(f, &row, answer_true, NULL, err, sizeof(err)), 1);
    assert_int_equal(asked, 1);
    assert_string_equal(asked_sql, "SELECT ((CONVERT(_utf8mb4 X'62' USING utf8mb4) COLLATE "
                                   "utf8mb4_unicode_ci) < '_')");
    ferry_row_filter_destroy(f);
    /* exact cases never ask */
    f = bound("code = 'caf\xc3\xa9' AND name LIKE 'caf%'");
    set_str(C_CODE, "caf\xc3\xa9");
    set_str(C_NAME, "cafe");
    asked = 0;
    assert_int_equal(ferry_row_filter_match(f, &row, answer_true, NULL, err, sizeof(err)), 1);
    assert_int_equal(asked, 0);
    ferry_row_filter_destroy(f);
}

static void columns_are_listed_once(void **state)
{
    (void)state;
    ferry_row_filter_t *f = bound("id = 1 OR (ID = 2 AND name IS NULL)");
    assert_int_equal(ferry_row_filter_ncolumns(f), 2);
    assert_string_equal(ferry_row_filter_column(f, 0), "id");
    assert_string_equal(ferry_row_filter_column(f, 1), "name");
    assert_null(ferry_row_filter_column(f, 2));
    assert_string_equal(ferry_row_filter_key(f), "where.shop.orders");
    ferry_row_filter_destroy(f);
    ferry_row_filter_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(canonical_forms),
        cmocka_unit_test(unsupported_grammar_is_refused),
        cmocka_unit_test(binding_checks_columns_and_types),
        cmocka_unit_test(numbers_compare_as_mysql_does),
        cmocka_unit_test(null_follows_three_valued_logic),
        cmocka_unit_test(text_follows_the_collation),
        cmocka_unit_test(temporal_values_compare_with_strings),
        cmocka_unit_test(uncertain_text_is_asked_of_the_server),
        cmocka_unit_test(columns_are_listed_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
