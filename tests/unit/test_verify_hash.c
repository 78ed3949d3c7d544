/*
 * test_verify_hash.c - the stream checksum's row hash (verify_hash.h):
 * cell boundaries, NULL, order, and every single-bit change at every
 * length and position.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "verify_hash.h"

/* The hash of a row of n cells; a NULL pointer is a NULL cell. */
static uint64_t row_hash(const char *const *cells, const size_t *lens, size_t n)
{
    uint64_t h = FERRY_VERIFY_HASH_SEED;
    for (size_t i = 0; i < n; i++)
        h = cells[i] ? ferry_verify_hash_cell(h, cells[i], lens[i]) : ferry_verify_hash_null(h);
    return ferry_verify_hash_finish(h);
}

static uint64_t one(const char *s, size_t n)
{
    const char *cells[] = {s};
    return row_hash(cells, &n, 1);
}

static void boundaries_null_and_order(void **state)
{
    (void)state;
    const char *ab_c[] = {"ab", "c"}, *a_bc[] = {"a", "bc"}, *c_ab[] = {"c", "ab"};
    size_t l21[] = {2, 1}, l12[] = {1, 2};
    assert_int_not_equal(row_hash(ab_c, l21, 2), row_hash(a_bc, l12, 2));
    assert_int_not_equal(row_hash(ab_c, l21, 2), row_hash(c_ab, l12, 2));
    const char *null_row[] = {NULL}, *empty_row[] = {""};
    size_t l0[] = {0};
    assert_int_not_equal(row_hash(null_row, l0, 1), row_hash(empty_row, l0, 1));
    const char *x_null[] = {"x", NULL}, *null_x[] = {NULL, "x"};
    size_t l10[] = {1, 0}, l01[] = {0, 1};
    assert_int_not_equal(row_hash(x_null, l10, 2), row_hash(null_x, l01, 2));
    assert_int_not_equal(row_hash(empty_row, l0, 1), row_hash(NULL, NULL, 0));
    /* a trailing zero byte is part of the value */
    assert_int_not_equal(one("abc", 3), one("abc\0", 4));
    assert_int_equal(one("same", 4), one("same", 4));
}

/* Every single-bit change of a value of every length up to 80 changes the hash. */
static void every_bit_counts(void **state)
{
    (void)state;
    unsigned char buf[80];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 1; n <= sizeof(buf); n++) {
        uint64_t base = one((const char *)buf, n);
        for (size_t pos = 0; pos < n; pos++) {
            for (int bit = 0; bit < 8; bit++) {
                buf[pos] ^= (unsigned char)(1u << bit);
                uint64_t h = one((const char *)buf, n);
                buf[pos] ^= (unsigned char)(1u << bit);
                if (h == base)
                    fail_msg("length %zu: flipping bit %d of byte %zu left the hash", n, bit, pos);
            }
        }
    }
}

/* Swapping two blocks or two cells changes the hash. */
static void swaps(void **state)
{
    (void)state;
    char a[48];
    memset(a, 'a', 16);
    memset(a + 16, 'b', 16);
    memset(a + 32, 'c', 16);
    char b[48];
    memcpy(b, a + 16, 16);
    memcpy(b + 16, a, 16);
    memcpy(b + 32, a + 32, 16);
    assert_int_not_equal(one(a, 48), one(b, 48));
    const char *xy[] = {"xxxxxxxxxxxxxxxxx", "yyyyyyyyyyyyyyyyy"};
    const char *yx[] = {"yyyyyyyyyyyyyyyyy", "xxxxxxxxxxxxxxxxx"};
    size_t l[] = {17, 17};
    assert_int_not_equal(row_hash(xy, l, 2), row_hash(yx, l, 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boundaries_null_and_order),
        cmocka_unit_test(every_bit_counts),
        cmocka_unit_test(swaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
