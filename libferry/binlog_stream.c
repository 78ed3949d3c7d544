/*
 * binlog_stream.c - the replication client behind binlog_stream.h.
 *
 * Packets of a binlog dump: 0x00 followed by one event, 0xFE (short) at the
 * end of the binlog in non-blocking mode, 0xFF followed by an error. The
 * position of the next event comes from each event's header (log_pos);
 * ROTATE events (real or artificial) switch the file.
 */
#include "binlog_stream.h"

#include "db.h"
#include "err.h"
#include "log.h"

/* mysql.h first: mariadb_rpl.h relies on its types */
#include <mysql.h>

#include <errmsg.h>
#include <mariadb_rpl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EV_HEADER_LEN 19
#define EV_ROTATE     4
#define EV_HEARTBEAT  27
#ifndef LOG_EVENT_ARTIFICIAL_F
#define LOG_EVENT_ARTIFICIAL_F 0x20
#endif

/* MySQL / MariaDB error numbers the dump can end with */
#define ER_MASTER_FATAL_ERROR_READING_BINLOG 1236

struct ferry_binlog_stream {
    ferry_db_t *db;
    MARIADB_RPL *rpl;
    char file[512];
    uint64_t pos;
    int checksum_len; /* 4 when the server appends CRC32 to events (its binlog_checksum) */
    char where[600];  /* "file:pos" of the request, for messages */
};

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* A GTID state may only hold digits, '-' and ','; it goes into a SET statement. */
static int gtid_state_ok(const char *g)
{
    return *g && strspn(g, "0123456789-,") == strlen(g);
}

static int session_setup(ferry_binlog_stream_t *s, const ferry_binlog_stream_conf_t *conf,
                         char *errstr, size_t errstr_size)
{
    MYSQL *my = ferry_db_mysql(s->db);
    long long hb_ns = (long long)(conf->heartbeat_ms > 0 ? conf->heartbeat_ms : 1000) * 1000000LL;
    char sql[768];
    /*
     * The server sends checksummed events only to replicas that announce they
     * understand them; @mariadb_slave_capability=4 makes MariaDB send GTID and
     * annotate events as themselves rather than as dummy QUERY events.
     */
    snprintf(sql, sizeof(sql),
             "SET @master_binlog_checksum = @@global.binlog_checksum, "
             "@mariadb_slave_capability = 4, @master_heartbeat_period = %lld",
             hb_ns);
    if (mysql_query(my, sql) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not prepare the binlog session: %s", mysql_error(my));
    /* events then carry a CRC32 trailer exactly when the server writes one */
    if (mysql_query(my, "SELECT @@global.binlog_checksum") == 0) {
        MYSQL_RES *res = mysql_store_result(my);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        s->checksum_len = row && row[0] && strcmp(row[0], "CRC32") == 0 ? 4 : 0;
        mysql_free_result(res);
    }
    if (conf->file && *conf->file)
        return 0;
    if (!conf->gtid || !gtid_state_ok(conf->gtid))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not start the binlog stream: no file given and GTID state "
                             "\"%s\" is not of the form domain-server-seq[,...]",
                             conf->gtid ? conf->gtid : "");
    snprintf(sql, sizeof(sql), "SET @slave_connect_state = '%s', @slave_gtid_strict_mode = 1",
             conf->gtid);
    if (mysql_query(my, sql) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not set the GTID start \"%s\": %s", conf->gtid,
                             mysql_error(my));
    return 0;
}

int ferry_binlog_stream_open(const ferry_binlog_stream_conf_t *conf, ferry_binlog_stream_t **out,
                             char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_binlog_stream_t *s = calloc(1, sizeof(*s));
    if (!s)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    int rc = ferry_db_connect(conf->url, "source", conf->timeout_ms > 0 ? conf->timeout_ms : 10000,
                              &s->db, errstr, errstr_size);
    if (rc == 0 && !ferry_db_mysql(s->db))
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "could not start the binlog stream: the source is not MySQL-family");
    if (rc == 0)
        rc = session_setup(s, conf, errstr, errstr_size);
    if (rc != 0) {
        ferry_binlog_stream_close(s);
        return rc;
    }

    const char *file = conf->file ? conf->file : "";
    s->pos = conf->pos ? conf->pos : 4;
    snprintf(s->file, sizeof(s->file), "%s", file);
    if (*file)
        snprintf(s->where, sizeof(s->where), "%s:%llu", file, (unsigned long long)s->pos);
    else
        snprintf(s->where, sizeof(s->where), "GTID %s", conf->gtid);
    if (s->pos > UINT32_MAX) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                           "could not start the binlog stream at %s: positions past 4 GiB "
                           "cannot be requested with COM_BINLOG_DUMP",
                           s->where);
        ferry_binlog_stream_close(s);
        return rc;
    }

    MYSQL *my = ferry_db_mysql(s->db);
    s->rpl = mariadb_rpl_init(my);
    unsigned int flags = conf->non_blocking ? MARIADB_RPL_BINLOG_DUMP_NON_BLOCK : 0;
    if (!s->rpl || mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FILENAME, file, strlen(file)) != 0 ||
        mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_START, (unsigned long)s->pos) != 0 ||
        mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_SERVER_ID, (unsigned int)conf->server_id) != 0 ||
        mariadb_rpl_optionsv(s->rpl, MARIADB_RPL_FLAGS, flags) != 0 ||
        mariadb_rpl_open(s->rpl) != 0) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                           "could not request the binlog at %s: %s", s->where,
                           s->rpl ? mysql_error(my) : "out of memory");
        ferry_binlog_stream_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* Follows the position from an event's header (and ROTATE body). */
static void track_position(ferry_binlog_stream_t *s, const uint8_t *ev, size_t len)
{
    uint8_t type = ev[4];
    uint32_t log_pos = le32(ev + 13);
    uint16_t flags = (uint16_t)(ev[17] | ev[18] << 8);

    if (type == EV_ROTATE && len >= EV_HEADER_LEN + 8) {
        size_t name_len = len - EV_HEADER_LEN - 8 - (size_t)s->checksum_len;
        if (name_len >= sizeof(s->file))
            name_len = sizeof(s->file) - 1;
        memcpy(s->file, ev + EV_HEADER_LEN + 8, name_len);
        s->file[name_len] = '\0';
        s->pos = le64(ev + EV_HEADER_LEN);
        return;
    }
    /* artificial events and heartbeats carry no position of their own */
    if (type == EV_HEARTBEAT || (flags & LOG_EVENT_ARTIFICIAL_F) || log_pos == 0)
        return;
    s->pos = log_pos;
}

int ferry_binlog_stream_next(ferry_binlog_stream_t *s, const uint8_t **event, size_t *len,
                             char *errstr, size_t errstr_size)
{
    MYSQL *my = ferry_db_mysql(s->db);
    unsigned long n = mysql_net_read_packet(my);
    if (n == (unsigned long)-1 || n == 0xffffffffUL) {
        unsigned int no = mysql_errno(my);
        const char *msg = mysql_error(my);
        char at[560];
        snprintf(at, sizeof(at), "%s:%llu", *s->file ? s->file : "?", (unsigned long long)s->pos);
        if (no == ER_MASTER_FATAL_ERROR_READING_BINLOG)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOT_FOUND,
                                 "could not read the binlog from %s: the server no longer has "
                                 "it (%s); the binlog was purged before ferry read it: copy the "
                                 "link's tables again (a new full load) or restore the binlog",
                                 s->where, msg);
        if (no == CR_SERVER_LOST || no == CR_SERVER_GONE_ERROR || no == 2013 || no == 2006)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                                 "lost the binlog connection at %s: %s", at, msg);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not read the binlog at %s: error %u: %s", at, no, msg);
    }
    const uint8_t *p = my->net.read_pos;
    if (n < 9 && p[0] == 0xFE)
        return 0;
    if (p[0] == 0xFF) /* error packets normally surface above; be safe */
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "the server ended the binlog stream at %s: %.*s", s->where,
                             (int)(n > 3 ? n - 3 : 0), n > 3 ? (const char *)p + 3 : "");
    if (p[0] != 0x00 || n < 1 + EV_HEADER_LEN)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "unexpected packet of %lu bytes in the binlog stream at %s:%llu", n,
                             s->file, (unsigned long long)s->pos);
    *event = p + 1;
    *len = n - 1;
    uint32_t declared = le32(*event + 9);
    if (declared != *len)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "binlog event at %s:%llu declares %u bytes but %zu arrived", s->file,
                             (unsigned long long)s->pos, declared, *len);
    track_position(s, *event, *len);
    return 1;
}

void ferry_binlog_stream_position(const ferry_binlog_stream_t *s, char *file, size_t file_size,
                                  uint64_t *pos)
{
    snprintf(file, file_size, "%s", s->file);
    *pos = s->pos;
}

unsigned long ferry_binlog_stream_thread_id(const ferry_binlog_stream_t *s)
{
    return mysql_thread_id(ferry_db_mysql(s->db));
}

void ferry_binlog_stream_close(ferry_binlog_stream_t *s)
{
    if (!s)
        return;
    if (s->rpl)
        mariadb_rpl_close(s->rpl);
    ferry_db_close(s->db);
    free(s);
}
