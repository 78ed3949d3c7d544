/*
 * err.h - error codes shared by every module.
 *
 * Functions return 0 on success or one of these negative codes. Set-up
 * functions also take (char *errstr, size_t errstr_size) and write a one-line
 * message there in PostgreSQL's style: lowercase, no final period,
 * 'could not <verb> "<object>": <reason>'.
 */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#include <stddef.h>

typedef enum {
    FERRY_OK = 0,
    FERRY_ERR_INVALID = -1,     /* bad argument, bad input, bad configuration */
    FERRY_ERR_NOMEM = -2,       /* allocation failed */
    FERRY_ERR_IO = -3,          /* file or socket error */
    FERRY_ERR_RETRIABLE = -4,   /* transient: try again later */
    FERRY_ERR_FATAL = -5,       /* cannot continue */
    FERRY_ERR_NOT_FOUND = -6,   /* the thing asked for does not exist */
    FERRY_ERR_TRUNCATED = -7,   /* input ended early */
    FERRY_ERR_UNSUPPORTED = -8, /* valid, but ferry does not handle it */
    FERRY_ERR_TIMEOUT = -9,     /* gave up waiting */
    FERRY_ERR_AUTH = -10,       /* credentials refused */
    FERRY_ERR_FENCED = -11,     /* another process took over the work */
    FERRY_ERR_ABORTED = -12,    /* the Kafka transaction failed: abort it, produce it again */
} ferry_err_t;

/* Short lowercase name of an error code, for messages. */
const char *ferry_err_str(int err);

/* snprintf into errstr if errstr is not NULL; returns err unchanged. */
int ferry_err_set(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
