/*
 * conf.h - the project file: one properties file per project.
 *
 * Format (the convention of Kafka and librdkafka):
 *   # comment
 *   key = value
 *   source.url = mysql://repl:${env:SRC_PASSWORD}@10.0.0.5:3306
 *
 * Every key ferry understands is declared once in the property table in
 * conf.c with its type, default, range and help text. That table drives
 * parsing, validation, `--help-config` and docs/CONFIGURATION.md. Keys under
 * "kafka." are handed to librdkafka as they are (without the prefix).
 *
 * Loading never stops at the first problem: every problem found (unknown
 * key, bad value, missing required key, undefined environment variable) is
 * collected with its file and line, so `ferryctl check` can print them all
 * and a service can print the first one and exit.
 *
 * Secrets (keys ending in "password", "sasl.jaas.config", ... and the
 * password part of database URLs) never appear in problems, logs or /status:
 * use ferry_conf_get_display() and ferry_url_redacted().
 */
#ifndef FERRY_CONF_H
#define FERRY_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ferry_conf ferry_conf_t;

typedef enum {
    FERRY_CONF_T_STRING,
    FERRY_CONF_T_INT,
    FERRY_CONF_T_BOOL,
    FERRY_CONF_T_ENUM,
    FERRY_CONF_T_URL,  /* database URL, see url.h */
    FERRY_CONF_T_LIST, /* comma-separated */
    FERRY_CONF_T_NAME, /* identifier: letters, digits, '_' and '-' */
} ferry_conf_type_t;

/* One row of the property table. */
typedef struct {
    const char *name;
    ferry_conf_type_t type;
    const char *default_value; /* NULL: no default */
    int required;
    int64_t min, max;        /* FERRY_CONF_T_INT only */
    const char *enum_values; /* FERRY_CONF_T_ENUM: "a|b|c" */
    const char *help;
} ferry_conf_prop_t;

/*
 * Reads and validates a project file. Always returns a conf object (NULL only
 * when memory runs out); check ferry_conf_problem_count() before using it.
 * The caller frees it with ferry_conf_destroy().
 */
ferry_conf_t *ferry_conf_load(const char *path);

/* Same, from text in memory; path is only used in problem messages. */
ferry_conf_t *ferry_conf_load_string(const char *text, const char *path);

void ferry_conf_destroy(ferry_conf_t *conf);

/* Problems found while loading, each one line: "FILE:LINE: what is wrong". */
size_t ferry_conf_problem_count(const ferry_conf_t *conf);
const char *ferry_conf_problem(const ferry_conf_t *conf, size_t i);

/*
 * Value of a declared key: the file's value, else the default, else NULL.
 * The pointer stays valid until ferry_conf_destroy(). Asking for a key that
 * is not in the property table is a programming error and aborts.
 */
const char *ferry_conf_get(const ferry_conf_t *conf, const char *name);
int64_t ferry_conf_get_int(const ferry_conf_t *conf, const char *name);
int ferry_conf_get_bool(const ferry_conf_t *conf, const char *name);

/*
 * Value of a per-table key of a family declared as "<family>.*", e.g.
 * ferry_conf_get_table(conf, "where", "shop", "orders") reads
 * "where.shop.orders". NULL when the file does not set it.
 */
const char *ferry_conf_get_table(const ferry_conf_t *conf, const char *family, const char *db,
                                 const char *table);

/*
 * The keys of a "<family>.*" family the file sets, one per call: starts at
 * *pos = 0, returns the next whole key ("where.shop.orders") and moves *pos
 * past it; NULL when there is no more.
 */
const char *ferry_conf_family_next(const ferry_conf_t *conf, const char *family, size_t *pos);

/* Value safe to show a person: secrets as "***", URL passwords masked. */
const char *ferry_conf_get_display(const ferry_conf_t *conf, const char *name, char *buf,
                                   size_t buf_size);

/* Path the conf was loaded from. */
const char *ferry_conf_path(const ferry_conf_t *conf);

/*
 * librdkafka properties: ferry's "kafka.X" keys as a NULL-terminated array
 * alternating "X", value. Owned by conf.
 */
const char *const *ferry_conf_kafka_props(const ferry_conf_t *conf);

/* 1 if the key holds a secret (by its name). */
int ferry_conf_is_secret_key(const char *name);

/* The property table, for --help-config and the docs generator. */
const ferry_conf_prop_t *ferry_conf_props(size_t *count);

/* Prints the property table as text (markdown = 0) or as docs/CONFIGURATION.md. */
void ferry_conf_print_table(FILE *out, int markdown);

/* The service's HTTP port: "<service>.http.port" if set, else "http.port". */
int ferry_conf_http_port(const ferry_conf_t *conf, const char *service);

/*
 * The replica server id ferry presents to a MySQL-family source:
 * source.server.id, or when 0 a stable id derived from project.name (in
 * 1,000,000,000..1,999,999,999, away from ids people usually give servers).
 */
uint32_t ferry_conf_replica_server_id(const ferry_conf_t *conf);

/* Runtime directory: runtime.dir, or /tmp/ferry-<project.name> when empty. */
void ferry_conf_runtime_dir(const ferry_conf_t *conf, char *buf, size_t buf_size);

#endif
