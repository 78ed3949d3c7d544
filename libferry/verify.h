/*
 * verify.h - comparing the selected tables of a project between source and
 * destination (the engine of ferry-verifier).
 *
 * A verification walks every selected table (renames, column filters and
 * where.<db>.<table> row filters of the project applied) in key ranges
 * whose boundaries come from the source's key index (chunk.h's boundary
 * query, with a row count per step that adapts toward a target time per
 * chunk). For each range one checksum query runs on each side at the same
 * time: the row count and two sums over every row's canonical text, of
 * CRC32 and of CRC32C (64 bits per row), or, by default, the same computed
 * in C from streamed rows (see docs/VERIFICATION.md for the canonical text
 * and why sums, not XOR). A range whose counts or sums differ is narrowed
 * to its differing keys (streamed keys and hashes, or ranges of about
 * VERIFY_ROW_RANGE rows), whose rows are read from both sides and compared
 * in C, which gives each difference its key, its kind and its columns, and
 * a repair statement for the destination.
 *
 * Progress is checkpointed per chunk to a file, so a verification that was
 * stopped goes on after the last chunk it finished (same options, same
 * project), and ends with the same verdict.
 *
 * @locality ferry_verify_run uses its own threads; the progress getters may
 * be called from any thread while it runs.
 */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"

/* Ranges that differ are read row by row once they hold at most this many rows. */
#define VERIFY_ROW_RANGE 1000

typedef struct {
    const char *tables;          /* a db.table pattern (mysql_schema.h) or NULL: all selected */
    int threads;                 /* workers, each with a source and a destination session */
    int64_t chunk_target_ms;     /* the time one checksum query should take */
    double float_tolerance;      /* relative: |a-b| <= tol * max(|a|,|b|) is equal */
    int64_t rows_per_second;     /* 0: no cap */
    int64_t threads_running_max; /* 0: no check; else pause while the source has more */
    bool stream;                 /* checksums in C from streamed rows, not in SQL */
    bool live;                   /* a link runs: re-check differences once the consumer caught up */
    int rounds;                  /* live: rounds a difference must survive */
    int64_t settle_timeout_ms;   /* live: longest wait for the consumer in a round */
    const char *checkpoint;      /* file for per-chunk checkpoints, or NULL */
    const atomic_int *stop;      /* set to non-zero to stop early (may be NULL) */
    bool shared; /* chunks checksummed by verifier workers through Kafka (ferry_verify_work) */
} ferry_verify_opts_t;

typedef struct ferry_verify ferry_verify_t;

/* Fills opts from the project's verify.* keys (tables and checkpoint NULL). */
void ferry_verify_opts_from_conf(const ferry_conf_t *conf, ferry_verify_opts_t *opts);

/*
 * A verification of conf's project with opts (both must outlive it; nothing
 * runs yet). Returns 0 and *out (ferry_verify_destroy), or FERRY_ERR_NOMEM.
 */
int ferry_verify_new(const ferry_conf_t *conf, const ferry_verify_opts_t *opts,
                     ferry_verify_t **out);

void ferry_verify_destroy(ferry_verify_t *v);

/*
 * Runs the whole verification. Returns 0 when it finished (equal or not:
 * see ferry_verify_differences), FERRY_ERR_TIMEOUT when opts->stop ended it
 * early (the checkpoint keeps what was done), or another negative
 * ferry_err_t with a one-line reason in errstr when it could not verify
 * (no table selected, by opts->tables or by the project; a server
 * unreachable, a table missing at the destination, a column the destination
 * lacks, a query that failed).
 */
int ferry_verify_run(ferry_verify_t *v, char *errstr, size_t errstr_size);

/*
 * A verifier worker: joins the project's group on ferry.<project>.verify.tasks
 * and checksums the chunks that coordinators (ferry_verify_run with
 * opts->shared) publish there, writing each result to
 * ferry.<project>.verify.results (verify_dist.c). With once it returns when
 * a verification it worked on has ended; otherwise when *stop is set.
 * Returns 0, or a negative ferry_err_t with the reason.
 */
int ferry_verify_work(const ferry_conf_t *conf, const atomic_int *stop, bool once, char *errstr,
                      size_t errstr_size);

/* Differences found so far (after run: all of them). */
size_t ferry_verify_differences(const ferry_verify_t *v);

/* Live verifications: keys whose values kept changing over every round. */
size_t ferry_verify_still_changing(const ferry_verify_t *v);

/* Progress, safe from any thread while run goes on. */
typedef struct {
    int64_t tables_total, tables_done;
    int64_t rows_estimated; /* source rows, from the servers' estimates */
    int64_t rows_checked;   /* source rows in chunks already compared */
    int64_t rows_resumed;   /* of those, rows compared before the checkpoint it resumed from */
    int64_t chunks_checked, chunks_differing;
    int64_t differences;
    int64_t elapsed_ms;
    bool running, finished;
    bool paused;             /* waiting for the source's Threads_running to drop */
    int64_t threads_running; /* the source's Threads_running last read while paused */
} ferry_verify_progress_t;

void ferry_verify_progress(const ferry_verify_t *v, ferry_verify_progress_t *out);

/*
 * Writes the JSON report (tables with counts, differences with key, kind,
 * columns and both values) to path. Returns 0 or FERRY_ERR_IO.
 */
int ferry_verify_write_report(const ferry_verify_t *v, const char *path, char *errstr,
                              size_t errstr_size);

/* The report as a malloc'd JSON text (for the HTTP API); NULL when out of memory. */
char *ferry_verify_report_json(const ferry_verify_t *v);

/*
 * Writes the SQL that makes the destination equal to the source: session
 * settings pinned (utf8mb4, time_zone '+00:00', sql_mode), then DELETE of
 * extra rows, UPDATE of changed columns, REPLACE of missing rows, in one
 * transaction. Returns 0 or FERRY_ERR_IO.
 */
int ferry_verify_write_repair(const ferry_verify_t *v, const char *path, char *errstr,
                              size_t errstr_size);

/* The same SQL as a malloc'd text ending in a newline (for the HTTP API); NULL when out of memory.
 */
char *ferry_verify_repair_sql(const ferry_verify_t *v);

/* Runs the repair statements on the destination. Returns 0 or FERRY_ERR_IO. */
int ferry_verify_apply_repair(const ferry_verify_t *v, char *errstr, size_t errstr_size);

/* Prints a summary for people: one line per table and per difference (the first 50). */
void ferry_verify_print_summary(const ferry_verify_t *v, FILE *out);

#endif
