/*
 * clock.h - milliseconds now, for timeouts and for timestamps.
 *
 * ferry_mono_ms: CLOCK_MONOTONIC, for measuring time spans and deadlines
 * (never jumps with the wall clock). ferry_wall_ms: CLOCK_REALTIME, since
 * the Unix epoch, for timestamps that leave the process (events' ts_ms,
 * lag against a source's commit time).
 *
 * @locality any thread.
 */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <stdint.h>

int64_t ferry_mono_ms(void);
int64_t ferry_wall_ms(void);

#endif
