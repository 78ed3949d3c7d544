/*
 * precheck.h - what must be true before a link touches anything.
 *
 * A precheck collects findings, one line each, instead of stopping at the
 * first: an operator fixes everything in one go. Errors stop the link from
 * starting; warnings are shown and the link starts.
 *
 * Checks test the real thing where they can: the replication privilege by
 * opening a binlog dump, the binlog client privilege by SHOW BINARY LOGS,
 * rather than by parsing SHOW GRANTS.
 */
#ifndef FERRY_PRECHECK_H
#define FERRY_PRECHECK_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    FERRY_PRECHECK_WARNING = 1,
    FERRY_PRECHECK_ERROR = 2,
} ferry_precheck_severity_t;

typedef struct ferry_precheck ferry_precheck_t;

ferry_precheck_t *ferry_precheck_new(void);
void ferry_precheck_destroy(ferry_precheck_t *p);

/* Records a finding; the text is one line, lowercase, naming what and why. */
void ferry_precheck_add(ferry_precheck_t *p, ferry_precheck_severity_t severity, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

size_t ferry_precheck_count(const ferry_precheck_t *p);
size_t ferry_precheck_errors(const ferry_precheck_t *p);

/* Finding i: its severity and text (owned by p). */
ferry_precheck_severity_t ferry_precheck_severity(const ferry_precheck_t *p, size_t i);
const char *ferry_precheck_text(const ferry_precheck_t *p, size_t i);

/*
 * Checks a MySQL-family source for binlog capture: binary logging on,
 * binlog_format ROW, binlog_row_image FULL, binlog_row_metadata FULL (a
 * warning when MINIMAL or absent: column names then come from
 * information_schema), the right to list binlogs, and the right to read
 * them (a short non-blocking dump with server_id). Returns 0 when the checks
 * ran (findings in p), or a negative ferry_err_t when the source could not
 * be reached at all (also recorded in p).
 */
int ferry_precheck_mysql_source(const char *url, uint32_t server_id, int timeout_ms,
                                ferry_precheck_t *p);

/*
 * Everything a MySQL-family link checks before it starts (precheck_link.c):
 * the source checks above; then each selected table (no table selected,
 * types ferry cannot carry, no key to match rows on, column filters that
 * cannot apply, row filters that do not parse, name a column that does not
 * travel, compare in a way ferry cannot reproduce, or that the source
 * refuses; foreign keys and triggers held back); then the destination
 * (reachable, writable, and no selected table there already holding rows
 * unless destination.keep.rows is set or the link has already started: its
 * ddl topic holds events). conf is the project file.
 */
struct ferry_conf;
int ferry_precheck_link(const struct ferry_conf *conf, ferry_precheck_t *p);

#endif
