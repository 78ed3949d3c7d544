/*
 * metrics.c - the metrics registry and its Prometheus text rendering
 * (see metrics.h).
 *
 * Layout: the registry holds a list of families (one per metric name), each
 * holding a list of series (one per set of label values). Both lists only
 * grow, under the registry mutex, and nothing is freed before
 * ferry_metrics_destroy(), which is what makes a handle (a pointer into a
 * series) safe to use without any lock. Values live in 64-bit atomics updated
 * with relaxed ordering: a metric orders nothing else, it only has to be
 * exact in the end and never torn.
 */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef enum { KIND_COUNTER, KIND_GAUGE_INT, KIND_GAUGE_DOUBLE, KIND_HISTOGRAM } metric_kind_t;

struct ferry_counter {
    _Atomic uint64_t value;
};

struct ferry_gauge {
    _Atomic uint64_t bits; /* an int64_t, or the bit pattern of a double */
    bool is_double;        /* fixed at registration */
};

struct ferry_histogram {
    const double *bounds;      /* owned by the family */
    size_t n_bounds;           /* buckets has n_bounds + 1 entries, the last is +Inf */
    _Atomic uint64_t *buckets; /* per-bucket (not cumulative) counts */
    _Atomic uint64_t sum_bits; /* bit pattern of the double sum */
};

typedef struct series {
    struct series *next;
    char **values; /* one per label name of the family */
    union {
        struct ferry_counter counter;
        struct ferry_gauge gauge;
        struct ferry_histogram histogram;
    } u;
} series_t;

typedef struct family {
    struct family *next;
    char *name;
    char *help; /* NULL: no # HELP line */
    metric_kind_t kind;
    size_t n_labels;
    char **label_names;
    double *bounds; /* histograms */
    size_t n_bounds;
    series_t *series, *series_tail;
} family_t;

struct ferry_metrics {
    pthread_mutex_t lock; /* guards the lists, not the values */
    family_t *families, *families_tail;
    void (*collect)(void *arg);
    void *collect_arg;
};

static uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

/* ---- registration ---------------------------------------------------- */

ferry_metrics_t *ferry_metrics_new(void)
{
    ferry_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void free_strings(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void series_free(series_t *s, const family_t *f)
{
    free_strings(s->values, f->n_labels);
    if (f->kind == KIND_HISTOGRAM)
        free(s->u.histogram.buckets);
    free(s);
}

static void family_free(family_t *f)
{
    series_t *s = f->series;
    while (s) {
        series_t *next = s->next;
        series_free(s, f);
        s = next;
    }
    free_strings(f->label_names, f->n_labels);
    free(f->bounds);
    free(f->help);
    free(f->name);
    free(f);
}

void ferry_metrics_destroy(ferry_metrics_t *m)
{
    if (!m)
        return;
    family_t *f = m->families;
    while (f) {
        family_t *next = f->next;
        family_free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static bool valid_metric_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    if (!s || !*s || strncmp(s, "__", 2) == 0)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static void reg_error(const char *name, const char *reason)
{
    char qname[160], qreason[160];
    ferry_log_error("could not register metric", "name=%s reason=%s",
                    ferry_log_quote(name ? name : "(null)", qname, sizeof(qname)),
                    ferry_log_quote(reason, qreason, sizeof(qreason)));
}

/* Checks the arguments of a registration; returns the reason when bad. */
static const char *check_request(const char *name, metric_kind_t kind,
                                 const ferry_metrics_label_t *labels, size_t n_labels,
                                 const double *bounds, size_t n_bounds)
{
    if (!valid_metric_name(name))
        return "invalid metric name";
    if (n_labels && !labels)
        return "labels missing";
    for (size_t i = 0; i < n_labels; i++) {
        if (!valid_label_name(labels[i].name))
            return "invalid label name";
        if (!labels[i].value)
            return "label value missing";
        if (kind == KIND_HISTOGRAM && strcmp(labels[i].name, "le") == 0)
            return "label name \"le\" is reserved for histogram buckets";
        for (size_t k = 0; k < i; k++) {
            if (strcmp(labels[i].name, labels[k].name) == 0)
                return "duplicate label name";
        }
    }
    if (kind != KIND_HISTOGRAM)
        return NULL;
    if (n_bounds && !bounds)
        return "bucket bounds missing";
    for (size_t i = 0; i < n_bounds; i++) {
        if (isnan(bounds[i]))
            return "bucket bound is NaN";
        if (isinf(bounds[i]) && (bounds[i] < 0 || i + 1 != n_bounds))
            return "only the last bucket bound may be infinite";
        if (i > 0 && !(bounds[i] > bounds[i - 1]))
            return "bucket bounds are not strictly increasing";
    }
    return NULL;
}

static family_t *find_family(ferry_metrics_t *m, const char *name)
{
    for (family_t *f = m->families; f; f = f->next) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

/* Returns the reason why an existing family cannot take this registration. */
static const char *family_mismatch(const family_t *f, metric_kind_t kind,
                                   const ferry_metrics_label_t *labels, size_t n_labels,
                                   const double *bounds, size_t n_bounds)
{
    if (f->kind != kind)
        return "registered before with another type";
    if (f->n_labels != n_labels)
        return "registered before with other label names";
    for (size_t i = 0; i < n_labels; i++) {
        if (strcmp(f->label_names[i], labels[i].name) != 0)
            return "registered before with other label names";
    }
    if (kind == KIND_HISTOGRAM) {
        if (f->n_bounds != n_bounds ||
            (n_bounds && memcmp(f->bounds, bounds, n_bounds * sizeof(*bounds)) != 0))
            return "registered before with other buckets";
    }
    return NULL;
}

static family_t *family_new(const char *name, const char *help, metric_kind_t kind,
                            const ferry_metrics_label_t *labels, size_t n_labels,
                            const double *bounds, size_t n_bounds)
{
    family_t *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->kind = kind;
    f->name = strdup(name);
    f->help = help ? strdup(help) : NULL;
    if (!f->name || (help && !f->help))
        goto fail;
    if (n_labels) {
        f->label_names = calloc(n_labels, sizeof(char *));
        if (!f->label_names)
            goto fail;
        f->n_labels = n_labels;
        for (size_t i = 0; i < n_labels; i++) {
            f->label_names[i] = strdup(labels[i].name);
            if (!f->label_names[i])
                goto fail;
        }
    }
    if (n_bounds) {
        f->bounds = malloc(n_bounds * sizeof(double));
        if (!f->bounds)
            goto fail;
        memcpy(f->bounds, bounds, n_bounds * sizeof(double));
        f->n_bounds = n_bounds;
    }
    return f;
fail:
    family_free(f);
    return NULL;
}

static series_t *find_series(const family_t *f, const ferry_metrics_label_t *labels)
{
    for (series_t *s = f->series; s; s = s->next) {
        size_t i = 0;
        while (i < f->n_labels && strcmp(s->values[i], labels[i].value) == 0)
            i++;
        if (i == f->n_labels)
            return s;
    }
    return NULL;
}

static series_t *series_new(const family_t *f, const ferry_metrics_label_t *labels)
{
    series_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (f->n_labels) {
        s->values = calloc(f->n_labels, sizeof(char *));
        if (!s->values)
            goto fail;
        for (size_t i = 0; i < f->n_labels; i++) {
            s->values[i] = strdup(labels[i].value);
            if (!s->values[i])
                goto fail;
        }
    }
    switch (f->kind) {
    case KIND_COUNTER:
        atomic_init(&s->u.counter.value, 0);
        break;
    case KIND_GAUGE_INT:
        atomic_init(&s->u.gauge.bits, 0);
        s->u.gauge.is_double = false;
        break;
    case KIND_GAUGE_DOUBLE:
        atomic_init(&s->u.gauge.bits, double_bits(0.0));
        s->u.gauge.is_double = true;
        break;
    case KIND_HISTOGRAM: {
        struct ferry_histogram *h = &s->u.histogram;
        h->bounds = f->bounds;
        h->n_bounds = f->n_bounds;
        h->buckets = malloc((f->n_bounds + 1) * sizeof(*h->buckets));
        if (!h->buckets)
            goto fail;
        for (size_t i = 0; i <= f->n_bounds; i++)
            atomic_init(&h->buckets[i], 0);
        atomic_init(&h->sum_bits, double_bits(0.0));
        break;
    }
    }
    return s;
fail:
    free_strings(s->values, f->n_labels);
    free(s);
    return NULL;
}

/*
 * The one registration path: validates, finds or creates the family, then
 * finds or creates the series. Returns the series or NULL (reason logged).
 */
static series_t *register_series(ferry_metrics_t *m, const char *name, const char *help,
                                 metric_kind_t kind, const ferry_metrics_label_t *labels,
                                 size_t n_labels, const double *bounds, size_t n_bounds)
{
    if (!m)
        return NULL;
    /* a trailing +Inf bound is implicit; keep it out of the stored bounds */
    if (kind == KIND_HISTOGRAM && n_bounds && bounds && isinf(bounds[n_bounds - 1]) &&
        bounds[n_bounds - 1] > 0)
        n_bounds--;
    const char *why = check_request(name, kind, labels, n_labels, bounds, n_bounds);
    if (why) {
        reg_error(name, why);
        return NULL;
    }

    pthread_mutex_lock(&m->lock);
    series_t *s = NULL;
    bool new_family = false;
    family_t *f = find_family(m, name);
    if (f) {
        why = family_mismatch(f, kind, labels, n_labels, bounds, n_bounds);
        if (why)
            goto out;
        s = find_series(f, labels);
        if (s)
            goto out;
    } else {
        f = family_new(name, help, kind, labels, n_labels, bounds, n_bounds);
        if (!f) {
            why = "out of memory";
            goto out;
        }
        new_family = true;
    }
    s = series_new(f, labels);
    if (!s) {
        why = "out of memory";
        if (new_family)
            family_free(f);
        goto out;
    }
    if (f->series_tail)
        f->series_tail->next = s;
    else
        f->series = s;
    f->series_tail = s;
    if (new_family) {
        if (m->families_tail)
            m->families_tail->next = f;
        else
            m->families = f;
        m->families_tail = f;
    }
out:
    pthread_mutex_unlock(&m->lock);
    if (why)
        reg_error(name, why);
    return s;
}

/* Turns the single-label convenience arguments into a label array. */
static size_t one_label(ferry_metrics_label_t *l, const char *label_name, const char *label_value)
{
    l->name = label_name;
    l->value = label_value;
    return (label_name || label_value) ? 1 : 0;
}

ferry_counter_t *ferry_metrics_counter_labels(ferry_metrics_t *m, const char *name,
                                              const char *help, const ferry_metrics_label_t *labels,
                                              size_t n_labels)
{
    series_t *s = register_series(m, name, help, KIND_COUNTER, labels, n_labels, NULL, 0);
    return s ? &s->u.counter : NULL;
}

ferry_gauge_t *ferry_metrics_gauge_labels(ferry_metrics_t *m, const char *name, const char *help,
                                          const ferry_metrics_label_t *labels, size_t n_labels)
{
    series_t *s = register_series(m, name, help, KIND_GAUGE_INT, labels, n_labels, NULL, 0);
    return s ? &s->u.gauge : NULL;
}

ferry_gauge_t *ferry_metrics_gauge_double_labels(ferry_metrics_t *m, const char *name,
                                                 const char *help,
                                                 const ferry_metrics_label_t *labels,
                                                 size_t n_labels)
{
    series_t *s = register_series(m, name, help, KIND_GAUGE_DOUBLE, labels, n_labels, NULL, 0);
    return s ? &s->u.gauge : NULL;
}

ferry_histogram_t *ferry_metrics_histogram_labels(ferry_metrics_t *m, const char *name,
                                                  const char *help,
                                                  const ferry_metrics_label_t *labels,
                                                  size_t n_labels, const double *bounds,
                                                  size_t n_bounds)
{
    series_t *s =
        register_series(m, name, help, KIND_HISTOGRAM, labels, n_labels, bounds, n_bounds);
    return s ? &s->u.histogram : NULL;
}

ferry_counter_t *ferry_metrics_counter(ferry_metrics_t *m, const char *name, const char *help,
                                       const char *label_name, const char *label_value)
{
    ferry_metrics_label_t l;
    size_t n = one_label(&l, label_name, label_value);
    return ferry_metrics_counter_labels(m, name, help, &l, n);
}

ferry_gauge_t *ferry_metrics_gauge(ferry_metrics_t *m, const char *name, const char *help,
                                   const char *label_name, const char *label_value)
{
    ferry_metrics_label_t l;
    size_t n = one_label(&l, label_name, label_value);
    return ferry_metrics_gauge_labels(m, name, help, &l, n);
}

ferry_gauge_t *ferry_metrics_gauge_double(ferry_metrics_t *m, const char *name, const char *help,
                                          const char *label_name, const char *label_value)
{
    ferry_metrics_label_t l;
    size_t n = one_label(&l, label_name, label_value);
    return ferry_metrics_gauge_double_labels(m, name, help, &l, n);
}

ferry_histogram_t *ferry_metrics_histogram(ferry_metrics_t *m, const char *name, const char *help,
                                           const char *label_name, const char *label_value,
                                           const double *bounds, size_t n_bounds)
{
    ferry_metrics_label_t l;
    size_t n = one_label(&l, label_name, label_value);
    return ferry_metrics_histogram_labels(m, name, help, &l, n, bounds, n_bounds);
}

/* ---- updates (any thread, no locks) ---------------------------------- */

void ferry_counter_add(ferry_counter_t *c, uint64_t n)
{
    if (c)
        atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void ferry_counter_raise(ferry_counter_t *c, uint64_t total)
{
    if (!c)
        return;
    uint64_t v = atomic_load_explicit(&c->value, memory_order_relaxed);
    while (v < total && !atomic_compare_exchange_weak_explicit(
                            &c->value, &v, total, memory_order_relaxed, memory_order_relaxed))
        ;
}

uint64_t ferry_counter_get(const ferry_counter_t *c)
{
    return c ? atomic_load_explicit(&c->value, memory_order_relaxed) : 0;
}

/* Nearest int64_t to d, saturating; NaN gives 0. */
static int64_t round_to_int64(double d)
{
    if (isnan(d))
        return 0;
    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)llround(d);
}

static void add_double_bits(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, double_bits(bits_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void ferry_gauge_set(ferry_gauge_t *g, int64_t v)
{
    if (!g)
        return;
    uint64_t bits = g->is_double ? double_bits((double)v) : (uint64_t)v;
    atomic_store_explicit(&g->bits, bits, memory_order_relaxed);
}

void ferry_gauge_add(ferry_gauge_t *g, int64_t delta)
{
    if (!g)
        return;
    if (g->is_double)
        add_double_bits(&g->bits, (double)delta);
    else /* two's complement wrap-around makes this a signed add */
        atomic_fetch_add_explicit(&g->bits, (uint64_t)delta, memory_order_relaxed);
}

void ferry_gauge_set_double(ferry_gauge_t *g, double v)
{
    if (!g)
        return;
    uint64_t bits = g->is_double ? double_bits(v) : (uint64_t)round_to_int64(v);
    atomic_store_explicit(&g->bits, bits, memory_order_relaxed);
}

void ferry_gauge_add_double(ferry_gauge_t *g, double delta)
{
    if (!g)
        return;
    if (g->is_double)
        add_double_bits(&g->bits, delta);
    else
        atomic_fetch_add_explicit(&g->bits, (uint64_t)round_to_int64(delta), memory_order_relaxed);
}

int64_t ferry_gauge_get(const ferry_gauge_t *g)
{
    if (!g)
        return 0;
    uint64_t bits = atomic_load_explicit(&g->bits, memory_order_relaxed);
    return g->is_double ? round_to_int64(bits_double(bits)) : (int64_t)bits;
}

double ferry_gauge_get_double(const ferry_gauge_t *g)
{
    if (!g)
        return 0.0;
    uint64_t bits = atomic_load_explicit(&g->bits, memory_order_relaxed);
    return g->is_double ? bits_double(bits) : (double)(int64_t)bits;
}

void ferry_histogram_observe(ferry_histogram_t *h, double value)
{
    if (!h)
        return;
    /* first bound >= value; NaN compares false everywhere and lands in +Inf */
    size_t lo = 0, hi = h->n_bounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (value <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    if (isnan(value))
        lo = h->n_bounds;
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    add_double_bits(&h->sum_bits, value);
}

/* ---- rendering ------------------------------------------------------- */

/* Prometheus' float syntax: shortest round-trip digits, NaN, +Inf, -Inf. */
static const char *format_double(char *buf, size_t size, double v)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    snprintf(buf, size, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, size, "%.17g", v);
    for (char *p = buf; *p; p++) {
        if (*p == ',') /* a decimal-comma locale */
            *p = '.';
    }
    return buf;
}

static void put_double(FILE *out, double v)
{
    char num[32];
    fputs(format_double(num, sizeof(num), v), out);
}

/* HELP text escapes backslash and newline; label values also the quote. */
static void put_escaped(FILE *out, const char *s, bool quote)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '"':
            if (quote) {
                fputs("\\\"", out);
                break;
            }
            /* fall through */
        default:
            fputc(*s, out);
        }
    }
}

/*
 * Writes name{labels} for one sample. le is the histogram bucket bound to add
 * as the last label, or NULL.
 */
static void put_sample_name(FILE *out, const family_t *f, const series_t *s, const char *suffix,
                            const char *le)
{
    fputs(f->name, out);
    fputs(suffix, out);
    if (f->n_labels == 0 && !le)
        return;
    fputc('{', out);
    for (size_t i = 0; i < f->n_labels; i++) {
        fprintf(out, "%s%s=\"", i ? "," : "", f->label_names[i]);
        put_escaped(out, s->values[i], true);
        fputc('"', out);
    }
    if (le)
        fprintf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    fputc('}', out);
}

static void render_histogram(FILE *out, const family_t *f, const series_t *s)
{
    const struct ferry_histogram *h = &s->u.histogram;
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        char num[32];
        const char *le = i < h->n_bounds ? format_double(num, sizeof(num), h->bounds[i]) : "+Inf";
        put_sample_name(out, f, s, "_bucket", le);
        fprintf(out, " %" PRIu64 "\n", cumulative);
    }
    put_sample_name(out, f, s, "_sum", NULL);
    fputc(' ', out);
    put_double(out, bits_double(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)));
    fputc('\n', out);
    put_sample_name(out, f, s, "_count", NULL);
    fprintf(out, " %" PRIu64 "\n", cumulative);
}

static void render_family(FILE *out, const family_t *f)
{
    static const char *const type_names[] = {
        [KIND_COUNTER] = "counter",
        [KIND_GAUGE_INT] = "gauge",
        [KIND_GAUGE_DOUBLE] = "gauge",
        [KIND_HISTOGRAM] = "histogram",
    };
    if (f->help) {
        fprintf(out, "# HELP %s ", f->name);
        put_escaped(out, f->help, false);
        fputc('\n', out);
    }
    fprintf(out, "# TYPE %s %s\n", f->name, type_names[f->kind]);
    for (const series_t *s = f->series; s; s = s->next) {
        switch (f->kind) {
        case KIND_COUNTER:
            put_sample_name(out, f, s, "", NULL);
            fprintf(out, " %" PRIu64 "\n",
                    atomic_load_explicit(&s->u.counter.value, memory_order_relaxed));
            break;
        case KIND_GAUGE_INT:
        case KIND_GAUGE_DOUBLE:
            put_sample_name(out, f, s, "", NULL);
            fputc(' ', out);
            if (f->kind == KIND_GAUGE_INT)
                fprintf(out, "%" PRId64, ferry_gauge_get(&s->u.gauge));
            else
                put_double(out, ferry_gauge_get_double(&s->u.gauge));
            fputc('\n', out);
            break;
        case KIND_HISTOGRAM:
            render_histogram(out, f, s);
            break;
        }
    }
}

void ferry_metrics_set_collect(ferry_metrics_t *m, void (*fn)(void *arg), void *arg)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->collect = fn;
    m->collect_arg = arg;
    pthread_mutex_unlock(&m->lock);
}

char *ferry_metrics_render(ferry_metrics_t *m)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    if (m) {
        pthread_mutex_lock(&m->lock);
        void (*collect)(void *) = m->collect;
        void *arg = m->collect_arg;
        pthread_mutex_unlock(&m->lock);
        if (collect)
            collect(arg);
        pthread_mutex_lock(&m->lock);
        for (const family_t *f = m->families; f; f = f->next)
            render_family(out, f);
        pthread_mutex_unlock(&m->lock);
    }
    bool failed = ferror(out) != 0;
    if (fclose(out) != 0 || failed) {
        free(text);
        return NULL;
    }
    return text;
}
