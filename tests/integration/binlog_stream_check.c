/*
 * binlog_stream_check - the binlog stream against a real MariaDB.
 *
 *   binlog_stream_check <source url>
 *
 * 1. Writes a few transactions around a FLUSH BINARY LOGS, notes the end
 *    position, streams from the first of those files and checks that every
 *    real event SHOW BINLOG EVENTS lists arrives, in order, with the same
 *    type and end position, and that the stream's position lands on the end.
 * 2. Reopens at a position taken mid-stream: the next event is byte-equal to
 *    the one the first pass read there.
 * 3. Starts from a GTID state: the first transaction that arrives is the one
 *    after that GTID.
 * 4. A file the server does not have: FERRY_ERR_NOT_FOUND saying "purged".
 * 5. A blocking stream whose connection is killed: FERRY_ERR_RETRIABLE.
 */
#include "binlog_stream.h"
#include "db.h"
#include "err.h"

#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 4096

static const char *url;
static ferry_db_t *db;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "binlog_stream_check: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void sql(const char *q)
{
    if (mysql_query(ferry_db_mysql(db), q) != 0)
        die("%s: %s", q, mysql_error(ferry_db_mysql(db)));
    MYSQL_RES *r = mysql_store_result(ferry_db_mysql(db));
    mysql_free_result(r);
}

/* First column of the first row of q, copied into out. */
static void sql_value(const char *q, int col, char *out, size_t n)
{
    if (mysql_query(ferry_db_mysql(db), q) != 0)
        die("%s: %s", q, mysql_error(ferry_db_mysql(db)));
    MYSQL_RES *r = mysql_store_result(ferry_db_mysql(db));
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row || !row[col])
        die("%s: no row", q);
    snprintf(out, n, "%s", row[col]);
    mysql_free_result(r);
}

typedef struct {
    char file[256];
    unsigned long end_pos;
    int type;
} listed_t;

static listed_t listed[MAX_EVENTS];
static int n_listed;

/* SHOW BINLOG EVENTS of one file, up to end_pos (0: all). */
static void list_file(const char *file, unsigned long end_pos)
{
    char q[512];
    snprintf(q, sizeof(q), "SHOW BINLOG EVENTS IN '%s'", file);
    if (mysql_query(ferry_db_mysql(db), q) != 0)
        die("%s: %s", q, mysql_error(ferry_db_mysql(db)));
    MYSQL_RES *r = mysql_store_result(ferry_db_mysql(db));
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        if (n_listed == MAX_EVENTS)
            die("more than %d events to compare in %s", MAX_EVENTS, file);
        unsigned long endp = strtoul(row[4], NULL, 10);
        if (end_pos && endp > end_pos)
            break;
        listed_t *l = &listed[n_listed++];
        snprintf(l->file, sizeof(l->file), "%s", file);
        l->end_pos = endp;
        /* Event_type names of the events this test writes */
        static const struct {
            const char *name;
            int type;
        } names[] = {{"Format_desc", 15},
                     {"Gtid_list", 163},
                     {"Binlog_checkpoint", 161},
                     {"Gtid", 162},
                     {"Query", 2},
                     {"Table_map", 19},
                     {"Write_rows_v1", 23},
                     {"Update_rows_v1", 24},
                     {"Delete_rows_v1", 25},
                     {"Xid", 16},
                     {"Rotate", 4},
                     {"Annotate_rows", 160},
                     {"Stop", 3}};
        l->type = -1;
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strcmp(row[2], names[i].name) == 0)
                l->type = names[i].type;
        /* events other tests write may be of other types: then only positions compare */
        if (l->type == 160) /* sent only to replicas that ask for annotations */
            n_listed--;
    }
    mysql_free_result(r);
}

static ferry_binlog_stream_t *open_at(const char *file, uint64_t pos, const char *gtid,
                                      int non_blocking)
{
    ferry_binlog_stream_conf_t c = {.url = url,
                                    .server_id = 4242,
                                    .file = file,
                                    .pos = pos,
                                    .gtid = gtid,
                                    .non_blocking = non_blocking,
                                    .timeout_ms = 5000};
    ferry_binlog_stream_t *s;
    char err[512];
    if (ferry_binlog_stream_open(&c, &s, err, sizeof(err)) != 0)
        die("open: %s", err);
    return s;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: binlog_stream_check <source url>\n", stderr);
        return 2;
    }
    url = argv[1];
    char err[512];
    ferry_db_global_init();
    if (ferry_db_connect(url, "source", 5000, &db, err, sizeof(err)) != 0)
        die("%s", err);

    /* 1. events written around a rotation */
    sql("CREATE DATABASE IF NOT EXISTS stream_check");
    sql("CREATE OR REPLACE TABLE stream_check.t (id INT PRIMARY KEY, v VARCHAR(20))");
    char first_file[256], end_file[256], end_pos_s[32], gtid_mid[256];
    /* a binlog file of its own, so earlier tests' events need not be listed */
    sql("FLUSH BINARY LOGS");
    sql_value("SHOW MASTER STATUS", 0, first_file, sizeof(first_file));
    sql("INSERT INTO stream_check.t VALUES (1, 'one'), (2, 'two')");
    sql("UPDATE stream_check.t SET v = 'uno' WHERE id = 1");
    sql_value("SELECT @@gtid_binlog_pos", 0, gtid_mid, sizeof(gtid_mid));
    sql("FLUSH BINARY LOGS");
    sql("DELETE FROM stream_check.t WHERE id = 2");
    sql("INSERT INTO stream_check.t VALUES (3, 'three')");
    sql_value("SHOW MASTER STATUS", 0, end_file, sizeof(end_file));
    sql_value("SHOW MASTER STATUS", 1, end_pos_s, sizeof(end_pos_s));
    unsigned long end_pos = strtoul(end_pos_s, NULL, 10);

    /* every file from first_file to end_file, in the server's order */
    if (mysql_query(ferry_db_mysql(db), "SHOW BINARY LOGS") != 0)
        die("SHOW BINARY LOGS: %s", mysql_error(ferry_db_mysql(db)));
    MYSQL_RES *logs = mysql_store_result(ferry_db_mysql(db));
    MYSQL_ROW lr;
    int in_range = 0;
    while ((lr = mysql_fetch_row(logs))) {
        if (strcmp(lr[0], first_file) == 0)
            in_range = 1;
        if (!in_range)
            continue;
        int last = strcmp(lr[0], end_file) == 0;
        list_file(lr[0], last ? end_pos : 0);
        if (last)
            break;
    }
    mysql_free_result(logs);

    ferry_binlog_stream_t *s = open_at(first_file, 4, NULL, 1);
    int seen = 0, mid = n_listed / 2;
    char mid_file[256] = "";
    uint64_t mid_pos = 0;
    static uint8_t mid_event[65536];
    size_t mid_len = 0;
    for (;;) {
        const uint8_t *ev;
        size_t len;
        int rc = ferry_binlog_stream_next(s, &ev, &len, err, sizeof(err));
        if (rc < 0)
            die("stream: %s", err);
        if (rc == 0)
            break;
        uint16_t flags = (uint16_t)(ev[17] | ev[18] << 8);
        unsigned long log_pos = (unsigned long)ev[13] | (unsigned long)ev[14] << 8 |
                                (unsigned long)ev[15] << 16 | (unsigned long)ev[16] << 24;
        if ((flags & 0x20) || log_pos == 0 || ev[4] == 27)
            continue; /* artificial ROTATE / FDE resend, heartbeat */
        /* resume at a data event (not a ROTATE, whose end is in the next file, nor the
         * FDE and lists a file starts with, which a resumed dump sends differently) */
        int data = ev[4] == 2 || ev[4] == 16 || ev[4] == 19 || ev[4] == 162 ||
                   (ev[4] >= 23 && ev[4] <= 25);
        if (seen >= mid && mid_len == 0 && data) {
            ferry_binlog_stream_position(s, mid_file, sizeof(mid_file), &mid_pos);
            mid_pos -= len; /* the position where this event starts */
            memcpy(mid_event, ev, len < sizeof(mid_event) ? len : sizeof(mid_event));
            mid_len = len;
        }
        const listed_t *l = &listed[seen];
        if ((l->type >= 0 && ev[4] != l->type) || log_pos != l->end_pos) {
            char got[64], want[300];
            snprintf(got, sizeof(got), "type %d ending at %lu", ev[4], log_pos);
            snprintf(want, sizeof(want), "type %d ending at %s:%lu", l->type, l->file, l->end_pos);
            die("event differs: got %s, SHOW BINLOG EVENTS says %s", got, want);
        }
        if (++seen == n_listed)
            break;
    }
    /* the position right after the last listed event */
    char file[256];
    uint64_t pos;
    ferry_binlog_stream_position(s, file, sizeof(file), &pos);
    ferry_binlog_stream_close(s);
    if (seen != n_listed)
        die("the stream ended after %d of %d listed events", seen, n_listed);
    if (strcmp(file, end_file) != 0 || pos != end_pos)
        die("the stream's position %s:%llu is not at the end %s:%lu", file, (unsigned long long)pos,
            end_file, end_pos);
    printf("ok: %d events from %s to %s:%lu match SHOW BINLOG EVENTS\n", seen, first_file, end_file,
           end_pos);

    /* 2. resume mid-stream */
    s = open_at(mid_file, mid_pos, NULL, 1);
    for (;;) {
        const uint8_t *ev;
        size_t len;
        int rc = ferry_binlog_stream_next(s, &ev, &len, err, sizeof(err));
        if (rc <= 0)
            die("resume: %s", rc < 0 ? err : "no event");
        uint16_t flags = (uint16_t)(ev[17] | ev[18] << 8);
        if ((flags & 0x20) || ev[4] == 15 || ev[4] == 27)
            continue;
        if (len != mid_len || memcmp(ev, mid_event, len) != 0)
            die("resume at %s: the first event differs from the one read there", mid_file);
        break;
    }
    ferry_binlog_stream_close(s);
    printf("ok: reopened at %s:%llu and got the same event\n", mid_file,
           (unsigned long long)mid_pos);

    /* 3. GTID start: the next change of stream_check.t is the DELETE written after
     * gtid_mid (other tests write to the server meanwhile: only this table counts) */
    s = open_at(NULL, 0, gtid_mid, 1);
    int found_delete = 0, ours = 0;
    for (int i = 0; i < 4096 && !found_delete; i++) {
        const uint8_t *ev;
        size_t len;
        int rc = ferry_binlog_stream_next(s, &ev, &len, err, sizeof(err));
        if (rc < 0)
            die("gtid stream: %s", err);
        if (rc == 0)
            break;
        if (ev[4] == 19 && len > 19 + 8 + 1) {
            /* TABLE_MAP: table id (6), flags (2), then db and table, each length + text + NUL */
            const uint8_t *b = ev + 19 + 8;
            size_t dbl = b[0];
            const uint8_t *tb = b + 1 + dbl + 1;
            ours = dbl == strlen("stream_check") && memcmp(b + 1, "stream_check", dbl) == 0 &&
                   tb[0] == 1 && tb[1] == 't';
        }
        if (!ours)
            continue;
        if (ev[4] == 23 || ev[4] == 24)
            die("GTID start at %s delivered an insert or update from before it", gtid_mid);
        if (ev[4] == 25)
            found_delete = 1;
    }
    ferry_binlog_stream_close(s);
    if (!found_delete)
        die("GTID start at %s did not deliver the next transaction", gtid_mid);
    printf("ok: GTID start at %s resumes with the next transaction\n", gtid_mid);

    /* 4. a position the server does not have */
    s = open_at("mariadb-bin.999999", 4, NULL, 1);
    const uint8_t *ev;
    size_t len;
    int rc = ferry_binlog_stream_next(s, &ev, &len, err, sizeof(err));
    ferry_binlog_stream_close(s);
    if (rc != FERRY_ERR_NOT_FOUND || !strstr(err, "purged"))
        die("a missing binlog file gave: %s", err);
    printf("ok: missing binlog: %s\n", err);

    /* 5. lost connection while waiting */
    s = open_at(end_file, end_pos, NULL, 0);
    char kill[64];
    snprintf(kill, sizeof(kill), "KILL %lu", ferry_binlog_stream_thread_id(s));
    for (;;) {
        rc = ferry_binlog_stream_next(s, &ev, &len, err, sizeof(err));
        if (rc < 0)
            break;
        /* caught up: the server waits now; cut the connection from outside */
        if (ev[4] == 15)
            sql(kill);
    }
    ferry_binlog_stream_close(s);
    if (rc != FERRY_ERR_RETRIABLE)
        die("a killed dump connection gave: %s", err);
    printf("ok: killed connection: %s\n", err);

    sql("DROP DATABASE stream_check");
    ferry_db_close(db);
    ferry_db_global_cleanup();
    return 0;
}
