/*
 * rate.h - per-second rates of growing counters over the last seconds, for
 * /status.
 *
 *     ferry_rate_t r = {0};
 *     uint64_t v[2] = {rows, bytes};
 *     ferry_rate_sample(&r, now_ms, v, 2);   (as often as wanted: one kept a second)
 *     double rows_per_s = ferry_rate_per_s(&r, 0);
 *
 * The rate of counter k is its growth between the oldest and the newest
 * sample kept, the last FERRY_RATE_WINDOW_S seconds or so, divided by their
 * time apart: 0 until two samples a second apart exist. A counter that
 * moves back (restored, reset) restarts the window. Not thread-safe: the
 * caller holds whatever lock guards the counters.
 */
#ifndef FERRY_RATE_H
#define FERRY_RATE_H

#include <stddef.h>
#include <stdint.h>

#define FERRY_RATE_COUNTERS 3
#define FERRY_RATE_WINDOW_S 10

typedef struct {
    int64_t ms[FERRY_RATE_WINDOW_S + 1];
    uint64_t v[FERRY_RATE_WINDOW_S + 1][FERRY_RATE_COUNTERS];
    unsigned n;    /* samples kept */
    unsigned next; /* slot of the next sample */
} ferry_rate_t;

/*
 * Keeps the n (<= FERRY_RATE_COUNTERS) counter values at now_ms unless the
 * newest sample is less than a second old.
 */
void ferry_rate_sample(ferry_rate_t *r, int64_t now_ms, const uint64_t *values, size_t n);

/* Counter k's growth per second over the samples kept; 0 with fewer than two. */
double ferry_rate_per_s(const ferry_rate_t *r, size_t k);

#endif
