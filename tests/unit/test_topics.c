/*
 * test_topics.c - topic names for tables with any characters (topics.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "topics.h"

#include <string.h>

static void plain_names_are_kept(void **state)
{
    (void)state;
    char t[300];
    assert_int_equal(ferry_topic_changes("ferry.p.fwd", "shop", "order_items-2", t, sizeof(t)), 0);
    assert_string_equal(t, "ferry.p.fwd.shop.order_items-2");
    assert_int_equal(ferry_topic_snapshot("ferry.p.fwd", "shop", "orders", t, sizeof(t)), 0);
    assert_string_equal(t, "ferry.p.fwd.snapshot.shop.orders");
}

static void other_characters_are_replaced_and_hashed(void **state)
{
    (void)state;
    char a[300], b[300], c[300];
    assert_int_equal(ferry_topic_part("my table", a, sizeof(a)), 0);
    assert_int_equal(ferry_topic_part("my.table", b, sizeof(b)), 0);
    assert_int_equal(ferry_topic_part("my_table", c, sizeof(c)), 0);
    /* "my table" and "my.table" both clean up to my_table, yet stay apart */
    assert_int_equal(strncmp(a, "my_table-", 9), 0);
    assert_int_equal(strncmp(b, "my_table-", 9), 0);
    assert_string_not_equal(a, b);
    assert_string_equal(c, "my_table");
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 8 + 1 + 8);
    /* deterministic */
    char a2[300];
    ferry_topic_part("my table", a2, sizeof(a2));
    assert_string_equal(a, a2);
    /* multi-byte UTF-8, backticks, dots: only safe characters come out */
    assert_int_equal(ferry_topic_part("t`\xc3\xa9\xe8\xa1\xa8.x", a, sizeof(a)), 0);
    assert_int_equal(strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"),
                     strlen(a));
    assert_int_equal(ferry_topic_part("", a, sizeof(a)), 0);
    assert_int_equal(a[0], '-');
}

static void too_long_is_refused(void **state)
{
    (void)state;
    char name[300], t[600];
    memset(name, 'x', 200);
    name[200] = '\0';
    assert_int_equal(ferry_topic_changes("ferry.p.fwd", "db", name, t, sizeof(t)), 0);
    assert_int_equal(ferry_topic_changes("ferry.p.fwd", name, name, t, sizeof(t)), -1);
    assert_int_equal(ferry_topic_part("x y", t, 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_names_are_kept),
        cmocka_unit_test(other_characters_are_replaced_and_hashed),
        cmocka_unit_test(too_long_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
