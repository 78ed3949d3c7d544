/*
 * metrics.h - counters, gauges and histograms, served as Prometheus text.
 *
 * Each service owns one registry (ferry_metrics_t). Code that wants to count
 * something registers a series once, at set-up, and keeps the handle:
 *
 *   ferry_counter_t *events = ferry_metrics_counter(m, "ferry_producer_events_total",
 *       "Change events published", "table", "shop.orders");
 *   ...
 *   ferry_counter_add(events, 1);        // hot path: one relaxed atomic add
 *
 * A metric (a "family" in Prometheus' words) is a name, a help text, a type
 * and a fixed list of label names; a series is one set of label values within
 * it. Registering the same name and label values again returns the same
 * handle, so modules need not pass handles around. Registering a name again
 * with another type, other label names or other histogram buckets is a bug in
 * the caller: it returns NULL and logs why.
 *
 * Every update function accepts a NULL handle and does nothing, so a service
 * keeps running (without that metric) if a registration failed.
 *
 * Names are used as given: callers prefix them (ferry_<service>_...) and
 * follow Prometheus' conventions (_total for counters, base units such as
 * _seconds and _bytes).
 *
 * @locality registration and rendering take the registry's mutex and may be
 *           called from any thread; updates are lock-free C11 atomics and may
 *           be called from any thread. Handles stay valid until
 *           ferry_metrics_destroy().
 */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ferry_metrics ferry_metrics_t;
typedef struct ferry_counter ferry_counter_t;
typedef struct ferry_gauge ferry_gauge_t;
typedef struct ferry_histogram ferry_histogram_t;

/* One label of a series, for the *_labels registration functions. */
typedef struct ferry_metrics_label {
    const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
    const char *value; /* any UTF-8 text; escaped when rendered */
} ferry_metrics_label_t;

/* Returns an empty registry, or NULL when out of memory. */
ferry_metrics_t *ferry_metrics_new(void);

/*
 * Frees the registry and every handle it gave out; no thread may use a handle
 * any more. NULL is a no-op.
 */
void ferry_metrics_destroy(ferry_metrics_t *m);

/*
 * Registers (or finds) a series and returns its handle, owned by the
 * registry; NULL on a bad name, a clash with an earlier registration of the
 * same name, or out of memory (the reason is logged).
 *
 * name is [a-zA-Z_:][a-zA-Z0-9_:]*. help may be NULL (no # HELP line); the
 * first registration of a name sets it. label_name and label_value are both
 * NULL for a series without labels, or both set. All strings are copied.
 */
ferry_counter_t *ferry_metrics_counter(ferry_metrics_t *m, const char *name, const char *help,
                                       const char *label_name, const char *label_value);

/* An integer gauge (queue depths, lag in milliseconds, ...). */
ferry_gauge_t *ferry_metrics_gauge(ferry_metrics_t *m, const char *name, const char *help,
                                   const char *label_name, const char *label_value);

/* A gauge holding a double (ratios, rates, seconds). */
ferry_gauge_t *ferry_metrics_gauge_double(ferry_metrics_t *m, const char *name, const char *help,
                                          const char *label_name, const char *label_value);

/*
 * A histogram with n_bounds upper bounds (strictly increasing, not NaN; a
 * final +Inf may be given or left out, the +Inf bucket always exists). bounds
 * is copied. Every series of one name must use the same bounds.
 */
ferry_histogram_t *ferry_metrics_histogram(ferry_metrics_t *m, const char *name, const char *help,
                                           const char *label_name, const char *label_value,
                                           const double *bounds, size_t n_bounds);

/*
 * The same four with any number of labels (for example topic and partition).
 * labels[0..n_labels) is copied; the label names, in this order, are part of
 * the metric's identity. "le" is reserved for histograms.
 */
ferry_counter_t *ferry_metrics_counter_labels(ferry_metrics_t *m, const char *name,
                                              const char *help, const ferry_metrics_label_t *labels,
                                              size_t n_labels);
ferry_gauge_t *ferry_metrics_gauge_labels(ferry_metrics_t *m, const char *name, const char *help,
                                          const ferry_metrics_label_t *labels, size_t n_labels);
ferry_gauge_t *ferry_metrics_gauge_double_labels(ferry_metrics_t *m, const char *name,
                                                 const char *help,
                                                 const ferry_metrics_label_t *labels,
                                                 size_t n_labels);
ferry_histogram_t *ferry_metrics_histogram_labels(ferry_metrics_t *m, const char *name,
                                                  const char *help,
                                                  const ferry_metrics_label_t *labels,
                                                  size_t n_labels, const double *bounds,
                                                  size_t n_bounds);

/* Adds n to a counter (counters only go up). */
void ferry_counter_add(ferry_counter_t *c, uint64_t n);
/* Raises a counter to total, a running count kept elsewhere; a lower total is ignored. */
void ferry_counter_raise(ferry_counter_t *c, uint64_t total);
uint64_t ferry_counter_get(const ferry_counter_t *c);

/*
 * Gauge updates. Either kind of gauge takes either kind of value: an integer
 * gauge rounds a double to the nearest integer (saturating), a double gauge
 * converts an integer. The integer forms on an integer gauge and
 * ferry_gauge_set_double() on a double gauge are single atomic operations;
 * ferry_gauge_add_double() on a double gauge is a compare-and-swap loop.
 */
void ferry_gauge_set(ferry_gauge_t *g, int64_t v);
void ferry_gauge_add(ferry_gauge_t *g, int64_t delta);
void ferry_gauge_set_double(ferry_gauge_t *g, double v);
void ferry_gauge_add_double(ferry_gauge_t *g, double delta);
int64_t ferry_gauge_get(const ferry_gauge_t *g);
double ferry_gauge_get_double(const ferry_gauge_t *g);

/*
 * Counts value in the first bucket whose upper bound is >= value and adds it
 * to the sum: one atomic add for the bucket and a compare-and-swap for the
 * sum.
 */
void ferry_histogram_observe(ferry_histogram_t *h, double value);

/*
 * Renders every series in Prometheus' text exposition format 0.0.4, metrics
 * in registration order. Each value is read atomically; a histogram's _count
 * is the sum of the bucket counts it printed, so +Inf and _count always agree
 * (its _sum may be one observation ahead or behind). Returns a NUL-terminated
 * string the caller frees with free(), or NULL when out of memory.
 */
char *ferry_metrics_render(ferry_metrics_t *m);

/*
 * fn(arg) runs at the start of every render, outside the registry's lock,
 * to bring series kept elsewhere (a status struct) up to date; it may
 * register series. One per registry; NULL removes it.
 */
void ferry_metrics_set_collect(ferry_metrics_t *m, void (*fn)(void *arg), void *arg);

#endif
