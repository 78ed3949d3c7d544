/*
 * test_metrics.c - the metrics registry (metrics.h): exact exposition text,
 * escaping, idempotent and refused registrations, and exact totals under
 * concurrent updates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static void check_render(ferry_metrics_t *m, const char *want)
{
    char *text = ferry_metrics_render(m);
    assert_non_null(text);
    assert_string_equal(text, want);
    free(text);
}

static void empty_registry(void **state)
{
    (void)state;
    ferry_metrics_t *m = ferry_metrics_new();
    assert_non_null(m);
    check_render(m, "");
    ferry_metrics_destroy(m);
    ferry_metrics_destroy(NULL);
}

static void counters(void **state)
{
    (void)state;
    ferry_metrics_t *m = ferry_metrics_new();
    ferry_counter_t *orders = ferry_metrics_counter(
        m, "ferry_producer_events_total", "Change events published", "table", "shop.orders");
    ferry_counter_t *items = ferry_metrics_counter(
        m, "ferry_producer_events_total", "ignored: the first help wins", "table", "shop.items");
    ferry_counter_t *restarts =
        ferry_metrics_counter(m, "ferry_restarts_total", "Restarts", NULL, NULL);
    assert_non_null(orders);
    assert_non_null(items);
    assert_non_null(restarts);
    assert_ptr_not_equal(orders, items);
    /* same name and labels: the same handle */
    assert_ptr_equal(
        ferry_metrics_counter(m, "ferry_producer_events_total", NULL, "table", "shop.orders"),
        orders);

    ferry_counter_add(orders, 3);
    ferry_counter_add(orders, 39);
    ferry_counter_add(items, 1);
    ferry_counter_add(NULL, 5); /* no-op */
    assert_int_equal(ferry_counter_get(orders), 42);
    check_render(m, "# HELP ferry_producer_events_total Change events published\n"
                    "# TYPE ferry_producer_events_total counter\n"
                    "ferry_producer_events_total{table=\"shop.orders\"} 42\n"
                    "ferry_producer_events_total{table=\"shop.items\"} 1\n"
                    "# HELP ferry_restarts_total Restarts\n"
                    "# TYPE ferry_restarts_total counter\n"
                    "ferry_restarts_total 0\n");
    ferry_metrics_destroy(m);
}

static void gauges(void **state)
{
    (void)state;
    ferry_metrics_t *m = ferry_metrics_new();
    ferry_gauge_t *lag =
        ferry_metrics_gauge(m, "ferry_consumer_lag_events", "Events behind", "link", "fwd");
    ferry_gauge_t *ratio =
        ferry_metrics_gauge_double(m, "ferry_verifier_progress_ratio", NULL, NULL, NULL);
    ferry_gauge_t *inf = ferry_metrics_gauge_double(m, "ferry_test_inf", "x", NULL, NULL);
    assert_non_null(lag);
    assert_non_null(ratio);

    ferry_gauge_set(lag, 10);
    ferry_gauge_add(lag, -15);
    assert_int_equal(ferry_gauge_get(lag), -5);
    ferry_gauge_set_double(ratio, 0.25);
    ferry_gauge_add_double(ratio, 0.5);
    ferry_gauge_add(ratio, 1);
    assert_true(ferry_gauge_get_double(ratio) == 1.75);
    ferry_gauge_set_double(inf, INFINITY);
    check_render(m, "# HELP ferry_consumer_lag_events Events behind\n"
                    "# TYPE ferry_consumer_lag_events gauge\n"
                    "ferry_consumer_lag_events{link=\"fwd\"} -5\n"
                    "# TYPE ferry_verifier_progress_ratio gauge\n"
                    "ferry_verifier_progress_ratio 1.75\n"
                    "# HELP ferry_test_inf x\n"
                    "# TYPE ferry_test_inf gauge\n"
                    "ferry_test_inf +Inf\n");

    /* an integer gauge rounds doubles; a double gauge renders 0.1 as 0.1 */
    ferry_gauge_set_double(lag, 2.6);
    assert_int_equal(ferry_gauge_get(lag), 3);
    ferry_gauge_add_double(lag, -0.4);
    assert_int_equal(ferry_gauge_get(lag), 3);
    ferry_gauge_set_double(lag, 1e300);
    assert_true(ferry_gauge_get(lag) == INT64_MAX);
    ferry_gauge_set_double(ratio, 0.1);
    char *text = ferry_metrics_render(m);
    assert_non_null(strstr(text, "\nferry_verifier_progress_ratio 0.1\n"));
    free(text);
    ferry_gauge_set(NULL, 1);
    ferry_gauge_add_double(NULL, 1.0);
    ferry_metrics_destroy(m);
}

static void histograms(void **state)
{
    (void)state;
    ferry_metrics_t *m = ferry_metrics_new();
    const double bounds[] = {0.005, 0.1, 1, 2.5};
    ferry_histogram_t *h = ferry_metrics_histogram(
        m, "ferry_consumer_apply_seconds", "Batch apply time", "table", "shop.orders", bounds, 4);
    /* a trailing +Inf is the implicit bucket: same family, same handle */
    const double with_inf[] = {0.005, 0.1, 1, 2.5, INFINITY};
    assert_ptr_equal(ferry_metrics_histogram(m, "ferry_consumer_apply_seconds", NULL, "table",
                                             "shop.orders", with_inf, 5),
                     h);
    ferry_histogram_t *plain =
        ferry_metrics_histogram(m, "ferry_test_seconds", NULL, NULL, NULL, bounds, 1);
    assert_non_null(h);
    assert_non_null(plain);

    ferry_histogram_observe(h, 0.005); /* on a bound: counted in that bucket */
    ferry_histogram_observe(h, 0.05);
    ferry_histogram_observe(h, 0.5);
    ferry_histogram_observe(h, 0.75);
    ferry_histogram_observe(h, 7);
    ferry_histogram_observe(NULL, 1);
    check_render(m, "# HELP ferry_consumer_apply_seconds Batch apply time\n"
                    "# TYPE ferry_consumer_apply_seconds histogram\n"
                    "ferry_consumer_apply_seconds_bucket{table=\"shop.orders\",le=\"0.005\"} 1\n"
                    "ferry_consumer_apply_seconds_bucket{table=\"shop.orders\",le=\"0.1\"} 2\n"
                    "ferry_consumer_apply_seconds_bucket{table=\"shop.orders\",le=\"1\"} 4\n"
                    "ferry_consumer_apply_seconds_bucket{table=\"shop.orders\",le=\"2.5\"} 4\n"
                    "ferry_consumer_apply_seconds_bucket{table=\"shop.orders\",le=\"+Inf\"} 5\n"
                    "ferry_consumer_apply_seconds_sum{table=\"shop.orders\"} 8.305\n"
                    "ferry_consumer_apply_seconds_count{table=\"shop.orders\"} 5\n"
                    "# TYPE ferry_test_seconds histogram\n"
                    "ferry_test_seconds_bucket{le=\"0.005\"} 0\n"
                    "ferry_test_seconds_bucket{le=\"+Inf\"} 0\n"
                    "ferry_test_seconds_sum 0\n"
                    "ferry_test_seconds_count 0\n");
    ferry_metrics_destroy(m);
}

static void escaping(void **state)
{
    (void)state;
    ferry_metrics_t *m = ferry_metrics_new();
    ferry_counter_t *c = ferry_metrics_counter(
        m, "ferry_odd_total", "back\\slash and\nnewline \"q\"", "table", "we\"ird\\na\nme");
    assert_non_null(c);
    ferry_counter_add(c, 1);
    check_render(m, "# HELP ferry_odd_total back\\\\slash and\\nnewline \"q\"\n"
                    "# TYPE ferry_odd_total counter\n"
                    "ferry_odd_total{table=\"we\\\"ird\\\\na\\nme\"} 1\n");
    ferry_metrics_destroy(m);
}

static void several_labels(void **state)
{
    (void)state;
    ferry_metrics_t *m = ferry_metrics_new();
    const ferry_metrics_label_t p0[] = {{"topic", "ferry.p.fwd.shop.orders"}, {"partition", "0"}};
    const ferry_metrics_label_t p1[] = {{"topic", "ferry.p.fwd.shop.orders"}, {"partition", "1"}};
    ferry_gauge_t *g0 = ferry_metrics_gauge_labels(m, "ferry_consumer_lag", "Lag", p0, 2);
    ferry_gauge_t *g1 = ferry_metrics_gauge_labels(m, "ferry_consumer_lag", "Lag", p1, 2);
    assert_non_null(g0);
    assert_non_null(g1);
    assert_ptr_equal(ferry_metrics_gauge_labels(m, "ferry_consumer_lag", "Lag", p0, 2), g0);
    ferry_gauge_set(g1, 12);
    check_render(m, "# HELP ferry_consumer_lag Lag\n"
                    "# TYPE ferry_consumer_lag gauge\n"
                    "ferry_consumer_lag{topic=\"ferry.p.fwd.shop.orders\",partition=\"0\"} 0\n"
                    "ferry_consumer_lag{topic=\"ferry.p.fwd.shop.orders\",partition=\"1\"} 12\n");
    /* label names in another order are another identity: refused */
    const ferry_metrics_label_t swapped[] = {{"partition", "0"}, {"topic", "t"}};
    assert_null(ferry_metrics_gauge_labels(m, "ferry_consumer_lag", "Lag", swapped, 2));
    ferry_metrics_destroy(m);
}

static void refused_registrations(void **state)
{
    (void)state;
    ferry_metrics_t *m = ferry_metrics_new();
    const double bounds[] = {1, 2};
    const double other[] = {1, 3};
    const double unsorted[] = {2, 1};
    const double with_nan[] = {1, NAN};
    assert_non_null(ferry_metrics_counter(m, "ferry_a_total", NULL, "table", "t"));
    assert_non_null(ferry_metrics_histogram(m, "ferry_h", NULL, NULL, NULL, bounds, 2));
    /* bad names */
    assert_null(ferry_metrics_counter(m, "9starts_with_digit", NULL, NULL, NULL));
    assert_null(ferry_metrics_counter(m, "has-dash", NULL, NULL, NULL));
    assert_null(ferry_metrics_counter(m, "", NULL, NULL, NULL));
    assert_null(ferry_metrics_counter(m, "ferry_b_total", NULL, "__reserved", "x"));
    assert_null(ferry_metrics_counter(m, "ferry_b_total", NULL, "bad-label", "x"));
    assert_null(ferry_metrics_counter(m, "ferry_b_total", NULL, "table", NULL));
    assert_null(ferry_metrics_histogram(m, "ferry_h2", NULL, "le", "1", bounds, 2));
    /* clashes with the first registration */
    assert_null(ferry_metrics_gauge(m, "ferry_a_total", NULL, "table", "t"));
    assert_null(ferry_metrics_counter(m, "ferry_a_total", NULL, NULL, NULL));
    assert_null(ferry_metrics_counter(m, "ferry_a_total", NULL, "db", "t"));
    assert_null(ferry_metrics_histogram(m, "ferry_h", NULL, NULL, NULL, other, 2));
    assert_null(ferry_metrics_gauge_double(m, "ferry_h", NULL, NULL, NULL));
    /* bad buckets */
    assert_null(ferry_metrics_histogram(m, "ferry_h3", NULL, NULL, NULL, unsorted, 2));
    assert_null(ferry_metrics_histogram(m, "ferry_h3", NULL, NULL, NULL, with_nan, 2));
    /* the refusals left nothing behind */
    check_render(m, "# TYPE ferry_a_total counter\n"
                    "ferry_a_total{table=\"t\"} 0\n"
                    "# TYPE ferry_h histogram\n"
                    "ferry_h_bucket{le=\"1\"} 0\n"
                    "ferry_h_bucket{le=\"2\"} 0\n"
                    "ferry_h_bucket{le=\"+Inf\"} 0\n"
                    "ferry_h_sum 0\n"
                    "ferry_h_count 0\n");
    assert_null(ferry_metrics_counter(NULL, "ferry_x_total", NULL, NULL, NULL));
    ferry_metrics_destroy(m);
}

#define THREAD_ADDS 200000

typedef struct {
    ferry_counter_t *counter;
    ferry_gauge_t *gauge;
    ferry_gauge_t *dgauge;
    ferry_histogram_t *histogram;
} hammer_t;

static void *hammer(void *arg)
{
    hammer_t *t = arg;
    for (int i = 0; i < THREAD_ADDS; i++) {
        ferry_counter_add(t->counter, 1);
        ferry_gauge_add(t->gauge, (i & 1) ? 3 : -1);
        ferry_gauge_add_double(t->dgauge, 0.5);
        ferry_histogram_observe(t->histogram, (double)(i % 4));
    }
    return NULL;
}

static void concurrent_updates(void **state)
{
    (void)state;
    ferry_metrics_t *m = ferry_metrics_new();
    const double bounds[] = {0.5, 1.5, 2.5};
    hammer_t t = {
        .counter = ferry_metrics_counter(m, "ferry_c_total", NULL, NULL, NULL),
        .gauge = ferry_metrics_gauge(m, "ferry_g", NULL, NULL, NULL),
        .dgauge = ferry_metrics_gauge_double(m, "ferry_d", NULL, NULL, NULL),
        .histogram = ferry_metrics_histogram(m, "ferry_h", NULL, NULL, NULL, bounds, 3),
    };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &t), 0);
    /* rendering while the threads run must be safe too */
    char *mid = ferry_metrics_render(m);
    assert_non_null(mid);
    free(mid);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);

    assert_int_equal(ferry_counter_get(t.counter), 2 * THREAD_ADDS);
    assert_int_equal(ferry_gauge_get(t.gauge), 2 * THREAD_ADDS);
    assert_true(ferry_gauge_get_double(t.dgauge) == (double)THREAD_ADDS);
    /* each thread observes 0,1,2,3 evenly: 50000 of each, sum 6 per round */
    check_render(m, "# TYPE ferry_c_total counter\n"
                    "ferry_c_total 400000\n"
                    "# TYPE ferry_g gauge\n"
                    "ferry_g 400000\n"
                    "# TYPE ferry_d gauge\n"
                    "ferry_d 200000\n"
                    "# TYPE ferry_h histogram\n"
                    "ferry_h_bucket{le=\"0.5\"} 100000\n"
                    "ferry_h_bucket{le=\"1.5\"} 200000\n"
                    "ferry_h_bucket{le=\"2.5\"} 300000\n"
                    "ferry_h_bucket{le=\"+Inf\"} 400000\n"
                    "ferry_h_sum 600000\n"
                    "ferry_h_count 400000\n");
    ferry_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_registry),
        cmocka_unit_test(counters),
        cmocka_unit_test(gauges),
        cmocka_unit_test(histograms),
        cmocka_unit_test(escaping),
        cmocka_unit_test(several_labels),
        cmocka_unit_test(refused_registrations),
        cmocka_unit_test(concurrent_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
