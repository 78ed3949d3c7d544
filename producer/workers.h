/*
 * workers.h - a pool of full-load worker threads (fullload.h) in one
 * process: ferry-producer runs one beside its planner, ferry-worker runs
 * only that.
 *
 * Each thread owns a whole ferry_fullload_worker_t (its source connection
 * and transactional producer); the threads share the schema registry, which
 * is thread-safe, and the process's one membership of the worker group
 * (ferry_fullload_tasks_t), from which they take tasks in turn. The
 * processes of a project form one Kafka consumer group over the tasks
 * topic: a chunk is copied by whichever member the group hands its
 * partition to, and the done-markers make a chunk redone by another member
 * count once.
 *
 * @locality the pool is driven by one thread; its workers run on their own.
 */
#ifndef FERRY_PRODUCER_WORKERS_H
#define FERRY_PRODUCER_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "fullload.h"
#include "json.h"
#include "registry.h"

typedef struct producer_workers producer_workers_t;

/*
 * Starts fullload.threads workers with ids "<slot>-<n>" (slot: a stable name
 * for this process, e.g. host or host-w2; the ids are transactional ids, see
 * ferry_fullload_worker_new). prefix is the link's topic prefix, registry and
 * filters are not owned and must outlive the pool. The pool joins the group
 * before its threads start; each worker connects on its own thread, and a
 * failure there shows in producer_workers_check. Returns 0 and *out, or a
 * negative ferry_err_t.
 */
int producer_workers_start(const ferry_conf_t *conf, const char *prefix, const char *slot,
                           const char *connector, ferry_registry_t *registry,
                           const struct ferry_rename_map *filters, producer_workers_t **out,
                           char *errstr, size_t errstr_size);

/*
 * 0 while every worker runs, or the first worker's error (a chunk that could
 * not be copied after its attempts, or a worker that could not start).
 */
int producer_workers_check(producer_workers_t *p, char *errstr, size_t errstr_size);

/* Totals over the pool's workers. */
void producer_workers_stats(producer_workers_t *p, ferry_fullload_stats_t *out);

/* Adds "workers" (thread count and totals) to a /status object. */
void producer_workers_status(producer_workers_t *p, ferry_json_t *j);

/* Stops every worker after its current chunk, joins and frees. NULL is a no-op. */
void producer_workers_stop(producer_workers_t *p);

#endif
