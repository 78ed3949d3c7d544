/*
 * err.c - names of the shared error codes and the errstr helper.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *ferry_err_str(int err)
{
    switch (err) {
    case FERRY_OK:
        return "success";
    case FERRY_ERR_INVALID:
        return "invalid input";
    case FERRY_ERR_NOMEM:
        return "out of memory";
    case FERRY_ERR_IO:
        return "i/o error";
    case FERRY_ERR_RETRIABLE:
        return "temporary failure";
    case FERRY_ERR_FATAL:
        return "fatal error";
    case FERRY_ERR_NOT_FOUND:
        return "not found";
    case FERRY_ERR_TRUNCATED:
        return "input truncated";
    case FERRY_ERR_UNSUPPORTED:
        return "unsupported";
    case FERRY_ERR_TIMEOUT:
        return "timed out";
    case FERRY_ERR_AUTH:
        return "authentication failed";
    case FERRY_ERR_FENCED:
        return "taken over";
    case FERRY_ERR_ABORTED:
        return "transaction failed";
    default:
        return "unknown error";
    }
}

int ferry_err_set(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
{
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
