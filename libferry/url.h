/*
 * url.h - database URLs of the project file.
 *
 *   mysql://user:password@host:port[/database][?key=value&...]
 *
 * Schemes: mysql, mariadb, oceanbase, tidb (all spoken to with the MySQL
 * client library) and postgresql / postgres (libpq). User and password may
 * be percent-encoded; the password may also come from ${env:NAME}, which the
 * configuration loader substitutes before the URL is parsed. The split
 * between user info and host is taken at the last '@' of the URL, so '@', '/'
 * and '?' in a password need no encoding; an '@' in the database name or the
 * parameters must be written %40.
 */
#ifndef FERRY_URL_H
#define FERRY_URL_H

#include <stddef.h>

typedef enum {
    FERRY_ENGINE_MYSQL = 1,
    FERRY_ENGINE_MARIADB,
    FERRY_ENGINE_OCEANBASE,
    FERRY_ENGINE_TIDB,
    FERRY_ENGINE_POSTGRESQL,
} ferry_engine_t;

typedef struct {
    ferry_engine_t engine;
    char *scheme;
    char *user;     /* "" when absent */
    char *password; /* "" when absent */
    char *host;
    int port;       /* the engine's default when absent */
    char *database; /* "" when absent */
    char *params;   /* the query string without '?', "" when absent */
} ferry_url_t;

/*
 * Parses text into *out. Returns 0, or FERRY_ERR_INVALID with the reason in
 * errstr (which never contains the password). On success the caller frees
 * with ferry_url_free().
 */
int ferry_url_parse(const char *text, ferry_url_t *out, char *errstr, size_t errstr_size);

void ferry_url_free(ferry_url_t *url);

/* 1 for the engines reached through the MySQL client library. */
int ferry_engine_is_mysql_family(ferry_engine_t engine);

const char *ferry_engine_name(ferry_engine_t engine);

/* The URL as text with the password replaced by "***"; returns buf. */
char *ferry_url_redacted(const ferry_url_t *url, char *buf, size_t buf_size);

/* Same, from unparsed text; unparsable text gives "<invalid url>". */
char *ferry_url_redact_text(const char *text, char *buf, size_t buf_size);

#endif
