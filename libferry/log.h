/*
 * log.h - one line per event, key=value fields, to stderr.
 *
 * A line looks like
 *   2026-11-21T20:31:02.123Z level=info svc=producer msg="binlog opened" file=mysql-bin.000003
 * The message comes first as msg="..."; callers add fields as further
 * "key=value" text in the format string. Values that may contain spaces or
 * quotes should go through ferry_log_quote(). Secrets are never logged: code
 * that logs a URL or a configuration value uses the redacted forms that
 * conf.h provides.
 *
 * @locality any thread; each line is written with a single write(2).
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stddef.h>

typedef enum {
    FERRY_LOG_DEBUG = 0,
    FERRY_LOG_INFO = 1,
    FERRY_LOG_WARN = 2,
    FERRY_LOG_ERROR = 3,
} ferry_log_level_t;

/* Sets the process-wide minimum level and the service name put on every line. */
void ferry_log_init(const char *service, ferry_log_level_t min_level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int ferry_log_level_parse(const char *name);

/*
 * Logs one line. msg is the human message; fields_fmt (may be NULL) is a
 * printf format producing space-separated key=value fields.
 */
void ferry_log(ferry_log_level_t level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes s into buf as a quoted log value ("..." with \" and \\ escaped,
 * control characters as \n, \t or \xNN) and returns buf. The result is cut
 * to fit buf_size.
 */
char *ferry_log_quote(const char *s, char *buf, size_t buf_size);

#define ferry_log_debug(msg, ...) ferry_log(FERRY_LOG_DEBUG, msg, __VA_ARGS__)
#define ferry_log_info(msg, ...)  ferry_log(FERRY_LOG_INFO, msg, __VA_ARGS__)
#define ferry_log_warn(msg, ...)  ferry_log(FERRY_LOG_WARN, msg, __VA_ARGS__)
#define ferry_log_error(msg, ...) ferry_log(FERRY_LOG_ERROR, msg, __VA_ARGS__)

#endif
