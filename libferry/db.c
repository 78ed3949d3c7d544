/*
 * db.c - connecting to MySQL-family and PostgreSQL databases (see db.h).
 */
#include "db.h"

#include "err.h"

#include <libpq-fe.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ferry_db {
    ferry_engine_t engine;
    MYSQL *my;
    PGconn *pg;
    char *role;
    char url_display[512];
    char *version;
};

/* Copies a server message onto one line: "FATAL:  " prefixes and newlines go. */
static void one_line(const char *msg, char *buf, size_t n)
{
    if (strncmp(msg, "FATAL:", 6) == 0 || strncmp(msg, "ERROR:", 6) == 0)
        msg += 6;
    while (*msg == ' ')
        msg++;
    size_t o = 0;
    for (; *msg && o + 1 < n; msg++)
        buf[o++] = (*msg == '\n' || *msg == '\r') ? ' ' : *msg;
    while (o > 0 && buf[o - 1] == ' ')
        o--;
    buf[o] = '\0';
}

static int connect_mysql(ferry_db_t *db, const ferry_url_t *u, int timeout_ms, unsigned flags,
                         char *errstr, size_t errstr_size)
{
    db->my = mysql_init(NULL);
    if (!db->my)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    unsigned int secs = (unsigned int)((timeout_ms + 999) / 1000);
    unsigned int rw_secs = secs < 30 ? 30 : secs;
    mysql_options(db->my, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
    mysql_options(db->my, MYSQL_OPT_READ_TIMEOUT, &rw_secs);
    mysql_options(db->my, MYSQL_OPT_WRITE_TIMEOUT, &rw_secs);
    mysql_options(db->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(db->my, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
    unsigned int proto = MYSQL_PROTOCOL_TCP;
    mysql_options(db->my, MYSQL_OPT_PROTOCOL, &proto);
    unsigned int local_infile = (flags & FERRY_DB_LOCAL_INFILE) ? 1 : 0;
    mysql_options(db->my, MYSQL_OPT_LOCAL_INFILE, &local_infile);

    if (!mysql_real_connect(db->my, u->host, u->user, u->password,
                            *u->database ? u->database : NULL, (unsigned int)u->port, NULL,
                            CLIENT_MULTI_STATEMENTS | CLIENT_FOUND_ROWS)) {
        unsigned int no = mysql_errno(db->my);
        char reason[512];
        one_line(mysql_error(db->my), reason, sizeof(reason));
        int code = FERRY_ERR_IO;
        if (no == ER_ACCESS_DENIED_ERROR || no == ER_DBACCESS_DENIED_ERROR ||
            no == ER_ACCESS_DENIED_NO_PASSWORD_ERROR)
            code = FERRY_ERR_AUTH;
        return ferry_err_set(errstr, errstr_size, code, "could not connect to %s \"%s\": %s",
                             db->role, db->url_display, reason);
    }
    db->version = strdup(mysql_get_server_info(db->my));
    return db->version ? 0 : FERRY_ERR_NOMEM;
}

static int connect_pg(ferry_db_t *db, const ferry_url_t *u, int timeout_ms, char *errstr,
                      size_t errstr_size)
{
    char port[16], timeout[16];
    snprintf(port, sizeof(port), "%d", u->port);
    /* libpq's connect_timeout is whole seconds and at least 2 */
    int secs = (timeout_ms + 999) / 1000;
    snprintf(timeout, sizeof(timeout), "%d", secs < 2 ? 2 : secs);
    const char *keys[] = {"host",
                          "port",
                          "user",
                          "password",
                          "dbname",
                          "connect_timeout",
                          "client_encoding",
                          "options",
                          "application_name",
                          NULL};
    const char *vals[] = {
        u->host, port,   u->user,           u->password, *u->database ? u->database : "postgres",
        timeout, "UTF8", "-c TimeZone=UTC", "ferry",     NULL};
    db->pg = PQconnectdbParams(keys, vals, 0);
    if (!db->pg)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (PQstatus(db->pg) != CONNECTION_OK) {
        char reason[512];
        one_line(PQerrorMessage(db->pg), reason, sizeof(reason));
        int code = FERRY_ERR_IO;
        if (strstr(reason, "password authentication failed") ||
            strstr(reason, "no password supplied") || strstr(reason, "no pg_hba.conf entry"))
            code = FERRY_ERR_AUTH;
        return ferry_err_set(errstr, errstr_size, code, "could not connect to %s \"%s\": %s",
                             db->role, db->url_display, reason);
    }
    const char *v = PQparameterStatus(db->pg, "server_version");
    db->version = strdup(v ? v : "");
    return db->version ? 0 : FERRY_ERR_NOMEM;
}

int ferry_db_global_init(void)
{
    return mysql_library_init(0, NULL, NULL) == 0 ? 0 : FERRY_ERR_FATAL;
}

void ferry_db_global_cleanup(void)
{
    mysql_library_end();
}

int ferry_db_connect(const char *url_text, const char *role, int timeout_ms, ferry_db_t **out,
                     char *errstr, size_t errstr_size)
{
    return ferry_db_connect_flags(url_text, role, timeout_ms, 0, out, errstr, errstr_size);
}

int ferry_db_connect_flags(const char *url_text, const char *role, int timeout_ms, unsigned flags,
                           ferry_db_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_url_t u;
    char err[256];
    if (ferry_url_parse(url_text, &u, err, sizeof(err)) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID, "could not connect to %s: %s",
                             role, err);
    ferry_db_t *db = calloc(1, sizeof(*db));
    if (!db) {
        ferry_url_free(&u);
        return FERRY_ERR_NOMEM;
    }
    db->engine = u.engine;
    db->role = strdup(role);
    ferry_url_redacted(&u, db->url_display, sizeof(db->url_display));
    int rc = db->role ? 0 : FERRY_ERR_NOMEM;
    if (rc == 0)
        rc = ferry_engine_is_mysql_family(u.engine)
                 ? connect_mysql(db, &u, timeout_ms, flags, errstr, errstr_size)
                 : connect_pg(db, &u, timeout_ms, errstr, errstr_size);
    ferry_url_free(&u);
    if (rc != 0) {
        ferry_db_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void ferry_db_close(ferry_db_t *db)
{
    if (!db)
        return;
    if (db->my)
        mysql_close(db->my);
    if (db->pg)
        PQfinish(db->pg);
    free(db->role);
    free(db->version);
    free(db);
}

int ferry_db_ping(ferry_db_t *db, char *errstr, size_t errstr_size)
{
    char reason[512];
    if (db->my) {
        if (mysql_query(db->my, "SELECT 1") == 0) {
            MYSQL_RES *r = mysql_store_result(db->my);
            mysql_free_result(r);
            return 0;
        }
        one_line(mysql_error(db->my), reason, sizeof(reason));
    } else {
        PGresult *r = PQexec(db->pg, "SELECT 1");
        int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
        PQclear(r);
        if (ok)
            return 0;
        one_line(PQerrorMessage(db->pg), reason, sizeof(reason));
    }
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not query %s \"%s\": %s",
                         db->role, db->url_display, reason);
}

int ferry_db_probe(const char *url_text, const char *role, int timeout_ms, char *errstr,
                   size_t errstr_size)
{
    ferry_db_t *db;
    int rc = ferry_db_connect(url_text, role, timeout_ms, &db, errstr, errstr_size);
    if (rc != 0)
        return rc;
    rc = ferry_db_ping(db, errstr, errstr_size);
    ferry_db_close(db);
    return rc;
}

ferry_engine_t ferry_db_engine(const ferry_db_t *db)
{
    return db->engine;
}

const char *ferry_db_server_version(const ferry_db_t *db)
{
    return db->version;
}

MYSQL *ferry_db_mysql(ferry_db_t *db)
{
    return db->my;
}

PGconn *ferry_db_pg(ferry_db_t *db)
{
    return db->pg;
}
