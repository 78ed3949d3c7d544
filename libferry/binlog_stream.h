/*
 * binlog_stream.h - raw binlog events from a MySQL-family server.
 *
 * Speaks the replication protocol as a replica would: the dump command is
 * sent through libmariadb's mariadb_rpl_open() and each event packet is read
 * with mysql_net_read_packet(), so the bytes reach ferry's own decoder
 * (binlog.h) untouched; libmariadb's event and row parsing is never used
 * (DESIGN.md: it corrupts memory and mis-decodes values).
 *
 * The stream starts at a file and position, or (MariaDB) at a GTID state,
 * and tracks the position of the next event as it reads, so a caller can
 * checkpoint it and reopen there after a lost connection or a restart.
 */
#ifndef FERRY_BINLOG_STREAM_H
#define FERRY_BINLOG_STREAM_H

#include <stddef.h>
#include <stdint.h>

typedef struct ferry_binlog_stream ferry_binlog_stream_t;

typedef struct {
    const char *url;    /* source database URL (url.h) */
    uint32_t server_id; /* replica id ferry presents; unique among the source's replicas */
    const char *file;   /* binlog file to start in; NULL or "" to start at gtid */
    uint64_t pos;       /* position in file; 0 means 4, the first event */
    const char *gtid;   /* MariaDB GTID state "domain-server-seq[,...]" when file is empty */
    int heartbeat_ms;   /* server heartbeat period while idle; 0 = 1000 */
    int non_blocking;   /* 1: stop at the current end of the binlog instead of waiting */
    int timeout_ms;     /* connect timeout */
} ferry_binlog_stream_conf_t;

/*
 * Connects and sends the dump request. Returns 0 and *out (close with
 * ferry_binlog_stream_close), or a negative ferry_err_t:
 * FERRY_ERR_AUTH / FERRY_ERR_IO for the connection, FERRY_ERR_INVALID for
 * bad arguments. A start position the server no longer has is reported by
 * the first ferry_binlog_stream_next() call.
 */
int ferry_binlog_stream_open(const ferry_binlog_stream_conf_t *conf, ferry_binlog_stream_t **out,
                             char *errstr, size_t errstr_size);

/*
 * Reads the next event. Returns 1 with *event / *len set to the whole event
 * (19-byte header, body, and checksum trailer if the server sends one);
 * the bytes stay valid until the next call. Returns 0 at the end of the
 * binlog in non-blocking mode. Errors:
 *   FERRY_ERR_NOT_FOUND   the requested position is gone from the server
 *                         (binlog purged): the link must be copied again
 *   FERRY_ERR_RETRIABLE   the connection was lost: reopen at the position
 *                         ferry_binlog_stream_position() reports
 *   FERRY_ERR_FATAL       any other error the server sent
 * Heartbeat events (type 27) are returned like any other event.
 */
int ferry_binlog_stream_next(ferry_binlog_stream_t *s, const uint8_t **event, size_t *len,
                             char *errstr, size_t errstr_size);

/*
 * Where the next event starts: the current file name (copied into file) and
 * position. Before the first ROTATE of a GTID start, file is "".
 */
void ferry_binlog_stream_position(const ferry_binlog_stream_t *s, char *file, size_t file_size,
                                  uint64_t *pos);

/* The connection's thread id on the server (for KILL in tests). */
unsigned long ferry_binlog_stream_thread_id(const ferry_binlog_stream_t *s);

/* Closes the connection. NULL is a no-op. */
void ferry_binlog_stream_close(ferry_binlog_stream_t *s);

#endif
