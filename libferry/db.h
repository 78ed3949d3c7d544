/*
 * db.h - connections to the source and destination databases.
 *
 * One handle type for both client libraries: libmariadb for the MySQL family
 * (MySQL, MariaDB, OceanBase MySQL tenants, TiDB) and libpq for PostgreSQL.
 * Modules that run SQL take the native handle (ferry_db_mysql / ferry_db_pg);
 * this module owns connecting, session set-up, error text and liveness.
 *
 * Errors name the role ("source", "destination") and the URL without its
 * password, and keep the server's reason on one line.
 */
#ifndef FERRY_DB_H
#define FERRY_DB_H

#include <stddef.h>

#include "url.h"

typedef struct ferry_db ferry_db_t;
typedef struct st_mysql MYSQL;
typedef struct pg_conn PGconn;

/*
 * Initialises the client libraries once per process, before any thread
 * connects (libmariadb's implicit initialisation is not thread-safe).
 * ferry_db_global_cleanup() releases what it holds at exit.
 */
int ferry_db_global_init(void);
void ferry_db_global_cleanup(void);

/*
 * Connects to the database at url_text. role names it in errors. Returns 0
 * and *out (freed with ferry_db_close), or a negative ferry_err_t:
 * FERRY_ERR_AUTH when the credentials were refused, FERRY_ERR_IO when the
 * server could not be reached, FERRY_ERR_INVALID for a bad URL.
 * MySQL-family sessions are set to utf8mb4 and time_zone '+00:00';
 * PostgreSQL sessions to client_encoding UTF8 and TimeZone UTC.
 */
int ferry_db_connect(const char *url_text, const char *role, int timeout_ms, ferry_db_t **out,
                     char *errstr, size_t errstr_size);

/*
 * Allow LOAD DATA LOCAL INFILE on a MySQL-family connection. Only for
 * connections that install their own local-infile handler (the server then
 * reads what the handler feeds it, never a client file); ignored for
 * PostgreSQL.
 */
#define FERRY_DB_LOCAL_INFILE 0x1u

/* ferry_db_connect with FERRY_DB_* flags. */
int ferry_db_connect_flags(const char *url_text, const char *role, int timeout_ms, unsigned flags,
                           ferry_db_t **out, char *errstr, size_t errstr_size);

/* Closes the connection; NULL is a no-op. */
void ferry_db_close(ferry_db_t *db);

/* Runs a trivial query; 0 if the connection works. */
int ferry_db_ping(ferry_db_t *db, char *errstr, size_t errstr_size);

/* Connects, pings and closes: the readiness check of a service. */
int ferry_db_probe(const char *url_text, const char *role, int timeout_ms, char *errstr,
                   size_t errstr_size);

ferry_engine_t ferry_db_engine(const ferry_db_t *db);

/* The server's version string, e.g. "10.11.6-MariaDB-0+deb12u1". Owned by db. */
const char *ferry_db_server_version(const ferry_db_t *db);

/* Native handles; NULL when the engine is of the other family. */
MYSQL *ferry_db_mysql(ferry_db_t *db);
PGconn *ferry_db_pg(ferry_db_t *db);

#endif
