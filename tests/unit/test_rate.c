/*
 * test_rate.c - per-second rates over the last seconds (rate.h): the
 * window, samples closer than a second, counters that move back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rate.h"

static void sample2(ferry_rate_t *r, int64_t ms, uint64_t a, uint64_t b)
{
    uint64_t v[2] = {a, b};
    ferry_rate_sample(r, ms, v, 2);
}

static void none_until_two_samples(void **state)
{
    (void)state;
    ferry_rate_t r = {0};
    assert_true(ferry_rate_per_s(&r, 0) == 0);
    sample2(&r, 1000, 50, 7);
    assert_true(ferry_rate_per_s(&r, 0) == 0);
    sample2(&r, 1500, 90, 7); /* under a second after the last: not kept */
    assert_true(ferry_rate_per_s(&r, 0) == 0);
    sample2(&r, 2000, 150, 7);
    assert_true(ferry_rate_per_s(&r, 0) == 100.0);
    assert_true(ferry_rate_per_s(&r, 1) == 0);
    assert_true(ferry_rate_per_s(&r, 2) == 0);  /* a counter not given counts as 0 */
    assert_true(ferry_rate_per_s(&r, 99) == 0); /* out of range */
}

static void window_slides(void **state)
{
    (void)state;
    ferry_rate_t r = {0};
    /* 10/s for 20 s, then 1000/s: the window holds the last samples only */
    uint64_t v = 0;
    int64_t ms = 0;
    for (int s = 0; s < 20; s++) {
        sample2(&r, ms, v, 0);
        ms += 1000;
        v += 10;
    }
    sample2(&r, ms, v, 0); /* 200 at 20 s */
    assert_true(ferry_rate_per_s(&r, 0) == 10.0);
    for (int s = 1; s <= FERRY_RATE_WINDOW_S; s++)
        sample2(&r, ms + 1000 * s, v + 1000 * (uint64_t)s, 0);
    /* the oldest sample kept is the last slow one */
    assert_true(ferry_rate_per_s(&r, 0) == 1000.0);
    sample2(&r, ms + 1000 * (FERRY_RATE_WINDOW_S + 1), v + 1000 * FERRY_RATE_WINDOW_S, 0);
    assert_true(ferry_rate_per_s(&r, 0) == 900.0); /* a second without growth */
}

static void moving_back_restarts(void **state)
{
    (void)state;
    ferry_rate_t r = {0};
    sample2(&r, 0, 1000, 0);
    sample2(&r, 1000, 2000, 0);
    assert_true(ferry_rate_per_s(&r, 0) == 1000.0);
    sample2(&r, 2000, 10, 0); /* restored from elsewhere, or reset */
    assert_true(ferry_rate_per_s(&r, 0) == 0);
    sample2(&r, 4000, 210, 0);
    assert_true(ferry_rate_per_s(&r, 0) == 100.0);
    sample2(&r, 3000, 300, 0); /* the clock went back */
    assert_true(ferry_rate_per_s(&r, 0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(none_until_two_samples),
        cmocka_unit_test(window_slides),
        cmocka_unit_test(moving_back_restarts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
