/*
 * precheck.c - findings list and the MySQL-family source checks.
 */
#include "precheck.h"

#include "binlog_stream.h"
#include "db.h"
#include "err.h"

#include <mysql.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    ferry_precheck_severity_t severity;
    char *text;
} finding_t;

struct ferry_precheck {
    finding_t *items;
    size_t n, cap;
};

ferry_precheck_t *ferry_precheck_new(void)
{
    return calloc(1, sizeof(ferry_precheck_t));
}

void ferry_precheck_destroy(ferry_precheck_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].text);
    free(p->items);
    free(p);
}

void ferry_precheck_add(ferry_precheck_t *p, ferry_precheck_severity_t severity, const char *fmt,
                        ...)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        finding_t *items = realloc(p->items, cap * sizeof(*items));
        if (!items)
            return;
        p->items = items;
        p->cap = cap;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    char *text = strdup(buf);
    if (!text)
        return;
    p->items[p->n].severity = severity;
    p->items[p->n].text = text;
    p->n++;
}

size_t ferry_precheck_count(const ferry_precheck_t *p)
{
    return p->n;
}

size_t ferry_precheck_errors(const ferry_precheck_t *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += p->items[i].severity == FERRY_PRECHECK_ERROR;
    return n;
}

ferry_precheck_severity_t ferry_precheck_severity(const ferry_precheck_t *p, size_t i)
{
    return p->items[i].severity;
}

const char *ferry_precheck_text(const ferry_precheck_t *p, size_t i)
{
    return p->items[i].text;
}

/*
 * Reads a global variable into out. Returns 1 when the server has it, 0 when
 * it does not (older server), -1 on a query error (recorded).
 */
static int global_var(MYSQL *my, const char *name, char *out, size_t n, ferry_precheck_t *p)
{
    char q[128];
    snprintf(q, sizeof(q), "SHOW GLOBAL VARIABLES LIKE '%s'", name);
    if (mysql_query(my, q) != 0) {
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "source: could not read %s: %s", name,
                           mysql_error(my));
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(my);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    int found = row && row[1];
    if (found)
        snprintf(out, n, "%s", row[1]);
    mysql_free_result(r);
    return found;
}

static void check_binlog_settings(MYSQL *my, ferry_precheck_t *p)
{
    char v[64];
    if (global_var(my, "log_bin", v, sizeof(v), p) == 1 && strcasecmp(v, "ON") != 0)
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "source: binary logging is off (log_bin=%s): start the server with "
                           "log_bin so changes can be captured",
                           v);
    if (global_var(my, "binlog_format", v, sizeof(v), p) == 1 && strcasecmp(v, "ROW") != 0)
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "source: binlog_format is %s, not ROW: SET GLOBAL binlog_format=ROW "
                           "(and in the server's configuration)",
                           v);
    int has = global_var(my, "binlog_row_image", v, sizeof(v), p);
    if (has == 1 && strcasecmp(v, "FULL") != 0)
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "source: binlog_row_image is %s, not FULL: ferry needs whole before "
                           "and after images (SET GLOBAL binlog_row_image=FULL)",
                           v);
    has = global_var(my, "binlog_row_metadata", v, sizeof(v), p);
    if (has == 0)
        ferry_precheck_add(p, FERRY_PRECHECK_WARNING,
                           "source: the server has no binlog_row_metadata: column names and "
                           "types come from information_schema and the DDL stream");
    else if (has == 1 && strcasecmp(v, "FULL") != 0)
        ferry_precheck_add(p, FERRY_PRECHECK_WARNING,
                           "source: binlog_row_metadata is %s, not FULL: column names come from "
                           "information_schema (SET GLOBAL binlog_row_metadata=FULL is safer "
                           "across DDL)",
                           v);
}

/* SHOW BINARY LOGS needs REPLICATION CLIENT (MariaDB: BINLOG MONITOR). */
static int check_list_binlogs(MYSQL *my, char *file, size_t n, uint64_t *pos, ferry_precheck_t *p)
{
    if (mysql_query(my, "SHOW MASTER STATUS") != 0) {
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "source: the user may not list binlogs (%s): GRANT REPLICATION CLIENT "
                           "(MariaDB: BINLOG MONITOR) ON *.*",
                           mysql_error(my));
        return -1;
    }
    MYSQL_RES *r = mysql_store_result(my);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    int ok = row && row[0] && row[1];
    if (ok) {
        snprintf(file, n, "%s", row[0]);
        *pos = strtoull(row[1], NULL, 10);
    }
    mysql_free_result(r);
    return ok ? 0 : -1;
}

/* Opens a non-blocking dump at the current end: needs REPLICATION SLAVE. */
static void check_read_binlogs(const char *url, uint32_t server_id, int timeout_ms,
                               const char *file, uint64_t pos, ferry_precheck_t *p)
{
    ferry_binlog_stream_conf_t c = {.url = url,
                                    .server_id = server_id,
                                    .file = file,
                                    .pos = pos,
                                    .non_blocking = 1,
                                    .timeout_ms = timeout_ms};
    ferry_binlog_stream_t *s = NULL;
    char err[768];
    int rc = ferry_binlog_stream_open(&c, &s, err, sizeof(err));
    while (rc == 0) {
        const uint8_t *ev;
        size_t len;
        int n = ferry_binlog_stream_next(s, &ev, &len, err, sizeof(err));
        if (n == 0)
            break;
        if (n < 0)
            rc = n;
    }
    ferry_binlog_stream_close(s);
    if (rc == 0)
        return;
    if (strstr(err, "REPLICATION SLAVE") || strstr(err, "Access denied"))
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "source: the user may not read binlogs: GRANT REPLICATION SLAVE ON *.* "
                           "(%s)",
                           err);
    else
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "source: could not read binlogs: %s", err);
}

/*
 * Without a position to open a dump at (the binlogs could not be listed),
 * REPLICATION SLAVE is looked up among the user's global privileges, so
 * that a user lacking both rights learns of both at once.
 */
static void check_read_grant(MYSQL *my, ferry_precheck_t *p)
{
    /*
     * A user who may read the mysql schema sees every user's rows: only the
     * current one's count (the host follows the last '@'). Rights a role
     * gives are not listed there: with a role in use, nothing is said.
     */
    if (mysql_query(
            my, "SELECT IF(CURRENT_ROLE() IS NULL, COUNT(*), -1) FROM "
                "information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE = "
                "'REPLICATION SLAVE' AND GRANTEE = CONCAT('''', LEFT(CURRENT_USER(), "
                "CHAR_LENGTH(CURRENT_USER()) - CHAR_LENGTH(SUBSTRING_INDEX(CURRENT_USER(), "
                "'@', -1)) - 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')") != 0)
        return;
    MYSQL_RES *r = mysql_store_result(my);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (row && row[0] && strcmp(row[0], "0") == 0)
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "source: the user may not read binlogs: GRANT REPLICATION SLAVE ON *.*");
    mysql_free_result(r);
}

int ferry_precheck_mysql_source(const char *url, uint32_t server_id, int timeout_ms,
                                ferry_precheck_t *p)
{
    ferry_db_t *db;
    char err[768];
    int rc = ferry_db_connect(url, "source", timeout_ms, &db, err, sizeof(err));
    if (rc != 0) {
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR, "%s", err);
        return rc;
    }
    MYSQL *my = ferry_db_mysql(db);
    if (!my) {
        ferry_precheck_add(p, FERRY_PRECHECK_ERROR,
                           "source: not a MySQL-family database: binlog checks do not apply");
        ferry_db_close(db);
        return 0;
    }
    check_binlog_settings(my, p);
    char file[512];
    uint64_t pos = 0;
    if (check_list_binlogs(my, file, sizeof(file), &pos, p) == 0)
        check_read_binlogs(url, server_id, timeout_ms, file, pos, p);
    else
        check_read_grant(my, p);
    ferry_db_close(db);
    return 0;
}
