/*
 * binlog_file.c - sequential reader of binlog files, plain or gzip'd.
 *
 * Everything goes through zlib's gz* functions, which read a plain file as
 * it is, so one code path serves both. Events are read whole into a buffer
 * that grows to the largest event seen.
 */
#include "binlog_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "binlog.h"
#include "err.h"

/* Larger than any event a server writes (max_allowed_packet is at most 1 GiB). */
#define BL_FILE_MAX_EVENT ((size_t)1 << 30)

struct ferry_binlog_file {
    gzFile gz;
    char *path;
    uint8_t *buf;
    size_t cap;
    uint64_t offset;
};

/* Reads up to n bytes; returns how many, or -1 on a read error. */
static long read_full(ferry_binlog_file_t *f, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        unsigned chunk = n - got > (1u << 30) ? 1u << 30 : (unsigned)(n - got);
        int r = gzread(f->gz, p + got, chunk);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long)got;
}

static int io_error(ferry_binlog_file_t *f, char *errstr, size_t errstr_size)
{
    int zerr = 0;
    const char *msg = gzerror(f->gz, &zerr);
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not read binlog \"%s\": %s",
                         f->path, zerr == Z_ERRNO ? strerror(errno) : msg);
}

int ferry_binlog_file_open(const char *path, ferry_binlog_file_t **out, char *errstr,
                           size_t errstr_size)
{
    *out = NULL;
    ferry_binlog_file_t *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not open binlog \"%s\": out of memory", path);
    }
    f->gz = gzopen(path, "rb");
    if (!f->gz) {
        int e = errno;
        ferry_binlog_file_close(f);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not open binlog \"%s\": %s",
                             path, e ? strerror(e) : "out of memory");
    }
    uint8_t magic[4];
    long n = read_full(f, magic, 4);
    if (n < 0) {
        int rc = io_error(f, errstr, errstr_size);
        ferry_binlog_file_close(f);
        return rc;
    }
    if (n != 4 || memcmp(magic,
                         "\xfe"
                         "bin",
                         4) != 0) {
        ferry_binlog_file_close(f);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not open binlog \"%s\": not a binary log (bad magic)", path);
    }
    f->offset = 4;
    *out = f;
    return 0;
}

static int reserve(ferry_binlog_file_t *f, size_t n)
{
    if (n <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : 4096;
    while (cap < n)
        cap *= 2;
    uint8_t *b = realloc(f->buf, cap);
    if (!b)
        return FERRY_ERR_NOMEM;
    f->buf = b;
    f->cap = cap;
    return 0;
}

int ferry_binlog_file_next(ferry_binlog_file_t *f, const uint8_t **buf, size_t *len,
                           uint64_t *offset, char *errstr, size_t errstr_size)
{
    if (reserve(f, FERRY_BINLOG_HEADER_LEN))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not read binlog \"%s\": out of memory", f->path);
    long n = read_full(f, f->buf, FERRY_BINLOG_HEADER_LEN);
    if (n < 0)
        return io_error(f, errstr, errstr_size);
    if (n == 0)
        return 0;
    if (n < FERRY_BINLOG_HEADER_LEN)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_TRUNCATED,
                             "could not read binlog \"%s\": event header at offset %llu is "
                             "truncated (%ld of %d bytes)",
                             f->path, (unsigned long long)f->offset, n, FERRY_BINLOG_HEADER_LEN);
    size_t size = (size_t)f->buf[9] | (size_t)f->buf[10] << 8 | (size_t)f->buf[11] << 16 |
                  (size_t)f->buf[12] << 24;
    if (size < FERRY_BINLOG_HEADER_LEN || size > BL_FILE_MAX_EVENT)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not read binlog \"%s\": event at offset %llu has bad size %zu",
                             f->path, (unsigned long long)f->offset, size);
    if (reserve(f, size))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not read binlog \"%s\": out of memory", f->path);
    size_t rest = size - FERRY_BINLOG_HEADER_LEN;
    n = read_full(f, f->buf + FERRY_BINLOG_HEADER_LEN, rest);
    if (n < 0)
        return io_error(f, errstr, errstr_size);
    if ((size_t)n < rest)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_TRUNCATED,
                             "could not read binlog \"%s\": event at offset %llu is truncated "
                             "(%zu of %zu bytes)",
                             f->path, (unsigned long long)f->offset,
                             (size_t)n + FERRY_BINLOG_HEADER_LEN, size);
    *buf = f->buf;
    *len = size;
    *offset = f->offset;
    f->offset += size;
    return 1;
}

void ferry_binlog_file_close(ferry_binlog_file_t *f)
{
    if (!f)
        return;
    if (f->gz)
        gzclose(f->gz);
    free(f->buf);
    free(f->path);
    free(f);
}
