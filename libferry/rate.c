/*
 * rate.c - per-second rates of growing counters (see rate.h).
 */
#include "rate.h"

#include <string.h>

#define SLOTS (FERRY_RATE_WINDOW_S + 1)

void ferry_rate_sample(ferry_rate_t *r, int64_t now_ms, const uint64_t *values, size_t n)
{
    if (n > FERRY_RATE_COUNTERS)
        n = FERRY_RATE_COUNTERS;
    if (r->n) {
        unsigned newest = (r->next + SLOTS - 1) % SLOTS;
        if (now_ms - r->ms[newest] < 1000 && now_ms >= r->ms[newest])
            return;
        for (size_t k = 0; k < n; k++)
            if (values[k] < r->v[newest][k]) {
                r->n = 0; /* moved back: a window from here */
                break;
            }
        if (now_ms < r->ms[newest])
            r->n = 0; /* the clock went back */
    }
    memset(r->v[r->next], 0, sizeof(r->v[r->next]));
    memcpy(r->v[r->next], values, n * sizeof(*values));
    r->ms[r->next] = now_ms;
    r->next = (r->next + 1) % SLOTS;
    if (r->n < SLOTS)
        r->n++;
}

double ferry_rate_per_s(const ferry_rate_t *r, size_t k)
{
    if (r->n < 2 || k >= FERRY_RATE_COUNTERS)
        return 0;
    unsigned newest = (r->next + SLOTS - 1) % SLOTS;
    unsigned oldest = (r->next + SLOTS - r->n) % SLOTS;
    int64_t ms = r->ms[newest] - r->ms[oldest];
    if (ms <= 0)
        return 0;
    return (double)(r->v[newest][k] - r->v[oldest][k]) * 1000.0 / (double)ms;
}
