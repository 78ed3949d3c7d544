/*
 * binlog_file.h - read the events of a binlog file on disk, one at a time.
 *
 * For tests, tools and offline capture: opens a MySQL/MariaDB binlog file
 * (or a gzip of one; zlib reads plain files transparently), checks the
 * 0xfe 'b' 'i' 'n' magic and hands out each event's bytes - header, body and
 * checksum, exactly what ferry_binlog_decode() takes - by walking the
 * event_size field of the headers.
 */
#ifndef FERRY_BINLOG_FILE_H
#define FERRY_BINLOG_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ferry_binlog_file ferry_binlog_file_t;

/*
 * Opens path and checks the magic. Returns 0 and *out, or FERRY_ERR_IO (with
 * errno's reason), FERRY_ERR_INVALID ('could not open binlog "p": not a
 * binary log (bad magic)') or FERRY_ERR_NOMEM, with errstr.
 */
int ferry_binlog_file_open(const char *path, ferry_binlog_file_t **out, char *errstr,
                           size_t errstr_size);

/*
 * The next event: *buf (valid until the next call or close), *len and
 * *offset (its position in the uncompressed file). Returns 1 with an event,
 * 0 at a clean end of file, FERRY_ERR_TRUNCATED when the file ends inside an
 * event, FERRY_ERR_INVALID for an event size below the header size, or
 * FERRY_ERR_IO / FERRY_ERR_NOMEM, with errstr.
 */
int ferry_binlog_file_next(ferry_binlog_file_t *f, const uint8_t **buf, size_t *len,
                           uint64_t *offset, char *errstr, size_t errstr_size);

/* Closes the file. NULL is a no-op. */
void ferry_binlog_file_close(ferry_binlog_file_t *f);

#endif
