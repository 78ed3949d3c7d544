/*
 * snapshot.h - the producer's full-load side of a link (steps 3-5 of the
 * link protocol in docs/ARCHITECTURE.md).
 *
 * At start it lists the selected tables, publishes a SNAPSHOT_TABLE event
 * (the table's definition, column filters applied) for each table that has
 * none on the ddl topic yet, drives the chunk planner and runs
 * fullload.threads full-load worker threads (workers.h) unless
 * fullload.in.producer is off. When every chunk of a table is done it reads the source's binlog
 * position (the high watermark H) and publishes SNAPSHOT_DONE. A restarted
 * producer reads the ddl, tasks and done topics and goes on where it
 * stopped; nothing is published twice.
 */
#ifndef FERRY_PRODUCER_SNAPSHOT_H
#define FERRY_PRODUCER_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "json.h"
#include "metrics.h"
#include "registry.h"

typedef struct producer_snapshot producer_snapshot_t;

/*
 * Prepares the snapshot of every selected table. prefix is the link's topic
 * prefix; registry stores the schemas (not owned). Returns 0 and *out, or a
 * negative ferry_err_t with a one-line reason.
 */
int producer_snapshot_start(const ferry_conf_t *conf, const char *prefix,
                            ferry_registry_t *registry, producer_snapshot_t **out, char *errstr,
                            size_t errstr_size);

/* The source position taken before the first table was read (P0). */
void producer_snapshot_p0(const producer_snapshot_t *s, char *file, size_t file_size, uint64_t *pos,
                          char *gtid, size_t gtid_size);

/*
 * One round of planning and copying, waiting up to wait_ms. Returns 1 once
 * every table's snapshot is done and announced, 0 while work remains, or a
 * negative ferry_err_t.
 */
int producer_snapshot_step(producer_snapshot_t *s, int wait_ms, char *errstr, size_t errstr_size);

/*
 * Whether the snapshot's own source connection, open since the start and
 * idle, no longer answers: the source restarted or dropped its sessions.
 * The snapshot can then start over (destroy, then start again) once the
 * source answers, as in a restarted producer.
 */
bool producer_snapshot_source_lost(producer_snapshot_t *s);

/*
 * Brings the per-table full-load series of /metrics up to date (rows copied
 * and estimated, chunks done, done or not; takes the snapshot's lock).
 */
void producer_snapshot_metrics(producer_snapshot_t *s, ferry_metrics_t *m);

/* Adds "snapshot" to a /status object (takes the snapshot's lock). */
void producer_snapshot_status(producer_snapshot_t *s, ferry_json_t *j);

void producer_snapshot_destroy(producer_snapshot_t *s);

#endif
