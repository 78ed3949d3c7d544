/*
 * service.h - what every ferry service process has in common.
 *
 * ferry-producer, ferry-consumer and ferry-verifier are each a main() that
 * fills a ferry_service_def_t and calls ferry_service_main(). That function:
 *   1. parses the command line (--help, --version, --log-level, the project file),
 *   2. loads and validates the project file (exit 2 with the first problem),
 *   3. checks that Kafka and the databases the service needs answer, with the
 *      right credentials (exit 1 with a one-line error naming what failed),
 *   4. starts the HTTP endpoints (/healthz, /readyz, /metrics, /status) and
 *      writes their address to runtime.dir/<service>.addr, or, for a
 *      service with start-up checks of its own (announces_start), leaves
 *      that to the loop once they passed: `ferryctl up` takes the address
 *      file as "this service started",
 *   5. runs the service's loop until SIGTERM or SIGINT, then lets the loop
 *      flush and commit, and exits 0.
 * A watcher thread re-checks Kafka and the databases every few seconds so
 * /readyz reports what is usable now, not what was usable at start.
 */
#ifndef FERRY_SERVICE_H
#define FERRY_SERVICE_H

#include "conf.h"
#include "http.h"
#include "json.h"
#include "metrics.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ferry_service ferry_service_t;

typedef struct {
    const char *name;    /* "producer": binary ferry-producer, keys producer.* */
    const char *summary; /* one line for --help */
    int needs_source;
    int needs_destination;
    /*
     * The service's loop. Called once the start-up checks passed; must return
     * soon after ferry_service_stopping() turns true, having flushed and
     * committed its work. Returns 0, or non-zero to make the process exit 1.
     */
    int (*run)(ferry_service_t *svc);
    /*
     * Adds the service's own fields to the /status JSON object (called from
     * the HTTP thread: read only atomics or take the service's own lock).
     * May be NULL.
     */
    void (*status)(ferry_service_t *svc, ferry_json_t *j);
    void *opaque; /* the service's state, for run and status */
    /*
     * For a service that runs several times per project (ferry-worker,
     * ferry-consumer with consumer.instances > 1): a name for this process,
     * which makes the address file runtime.dir/<name>-<instance>.addr and
     * the log's svc field <name>-<instance>. NULL for a service that runs
     * once.
     */
    const char *instance;
    /*
     * 1 for a service whose loop runs start-up checks of its own before its
     * work (the producer's precheck): the address file is written only when
     * the loop calls ferry_service_started(), so `ferryctl up` does not call
     * the service started while it may still refuse to. 0: written before
     * run() is called.
     */
    int announces_start;
} ferry_service_def_t;

/* Runs a service process; returns the process exit status. */
int ferry_service_main(int argc, char **argv, ferry_service_def_t *def);

const ferry_conf_t *ferry_service_conf(const ferry_service_t *svc);
ferry_metrics_t *ferry_service_metrics(ferry_service_t *svc);
void *ferry_service_opaque(const ferry_service_t *svc);

/*
 * For a service with announces_start: its own start-up checks passed, so it
 * writes its address file. Call from run(); later calls do nothing.
 */
void ferry_service_started(ferry_service_t *svc);

/* True once SIGTERM or SIGINT arrived. Safe from any thread. */
int ferry_service_stopping(const ferry_service_t *svc);

/*
 * Sleeps up to ms milliseconds, returning early when the service is asked to
 * stop. Returns 1 if stopping.
 */
int ferry_service_sleep(ferry_service_t *svc, int ms);

/*
 * Connects once to the project's source or destination (role "source" or
 * "destination") and closes again: 0 when it answers, else a negative
 * ferry_err_t naming it in errstr (may be NULL). Any thread.
 */
int ferry_service_db_probe(ferry_service_t *svc, const char *role, char *errstr,
                           size_t errstr_size);

/* Set-ups in a row that fail with the database answering, before a start over gives up. */
#define FERRY_START_OVER_TRIES 5

/*
 * For a service starting over after losing a database: counts this start
 * over in *quick when it comes within a minute of the last start
 * (started_ms, ferry_mono_ms), else starts the count again, and says whether
 * five came in a row. The session is then dropped for a reason a restart
 * does not cure (a statement over the server's max_allowed_packet), and
 * the service stops instead.
 */
bool ferry_service_start_over_too_soon(int *quick, int64_t started_ms);

/*
 * Adds an HTTP route to the service's server (see ferry_http_route): for
 * the service's own control endpoints. Call from run(). Returns 0 or a
 * negative ferry_err_t.
 */
int ferry_service_route(ferry_service_t *svc, const char *method, const char *path,
                        ferry_http_handler_fn handler, void *opaque);

/* The link's topic prefix, "ferry.<project>.<link>" (link: "fwd" or "rev"). */
void ferry_service_topic_prefix(const ferry_service_t *svc, const char *link, char *buf,
                                size_t buf_size);

#endif
