/*
 * binlog_pos.h - positions in a MySQL-family binlog: a file name and a byte
 * offset in it.
 *
 * Binlog files are named "<base>.<sequence number>" ("mysql-bin.000123");
 * the server numbers them upwards and the number may outgrow its leading
 * zeros ("mysql-bin.1000000" follows "mysql-bin.999999"). Positions
 * therefore order by the file's sequence number first and the offset
 * second, never by comparing file names as text. The producer records
 * positions (P0, the high watermark H, checkpoints) and the consumer
 * compares change events against H with this module.
 */
#ifndef FERRY_BINLOG_POS_H
#define FERRY_BINLOG_POS_H

#include <stddef.h>
#include <stdint.h>

#define FERRY_BINLOG_POS_FILE_MAX 256

typedef struct {
    char file[FERRY_BINLOG_POS_FILE_MAX]; /* "mysql-bin.000123" */
    uint64_t seq;                         /* 123: the file's sequence number */
    uint64_t offset;                      /* byte offset within the file */
} ferry_binlog_pos_t;

/*
 * The sequence number of a binlog file name: the decimal digits after its
 * last '.'. Returns 0, or FERRY_ERR_INVALID when the name has no such
 * suffix (no '.', nothing or a non-digit after it, more than 19 digits).
 */
int ferry_binlog_pos_file_seq(const char *file, uint64_t *seq);

/*
 * Fills *p from a file name and an offset. Returns 0, or FERRY_ERR_INVALID
 * with the reason in errstr (a name without a sequence number, or longer
 * than FERRY_BINLOG_POS_FILE_MAX - 1 bytes); *p is zeroed then.
 */
int ferry_binlog_pos_init(ferry_binlog_pos_t *p, const char *file, uint64_t offset, char *errstr,
                          size_t errstr_size);

/*
 * Parses "<file>:<offset>" ("mysql-bin.000123:4567"), the form
 * ferry_binlog_pos_format writes. Same returns as ferry_binlog_pos_init.
 */
int ferry_binlog_pos_parse(const char *text, ferry_binlog_pos_t *p, char *errstr,
                           size_t errstr_size);

/* Negative, 0 or positive as a is before, at or after b (sequence, then offset). */
int ferry_binlog_pos_cmp(const ferry_binlog_pos_t *a, const ferry_binlog_pos_t *b);

/* Writes "<file>:<offset>" to buf; returns what snprintf returns. */
int ferry_binlog_pos_format(const ferry_binlog_pos_t *p, char *buf, size_t size);

#endif
