/*
 * common.h - helpers the integration programs share (compiled into each of
 * them, see tests/CMakeLists.txt): connecting to the source, reading table
 * definitions and binlog positions, opening the schema store, reading a
 * topic from its beginning, and decoding messages through the schema store.
 *
 * These are test programs: every helper that cannot do its job prints
 * "<program>: <what>: <why>" and exits 1 rather than returning an error.
 */
#ifndef FERRY_ITEST_COMMON_H
#define FERRY_ITEST_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <mysql.h>

#include "avro_codec.h"
#include "db.h"
#include "kafka.h"
#include "mysql_schema.h"
#include "registry.h"
#include "wire.h"

/* Prints "<program>: what: err" to stderr and exits 1. */
void itest_die(const char *what, const char *err) __attribute__((noreturn));

/* Connects to the MySQL-family source at url with the row reader's session settings. */
ferry_db_t *itest_connect_source(const char *url);

/* The binlog file and position SHOW MASTER STATUS gives now. */
void itest_master_status(MYSQL *my, char *file, size_t size, uint64_t *pos);

/* The definition of dbname.table as the source has it; free with ferry_tabledef_destroy(). */
ferry_tabledef_t *itest_read_def(ferry_db_t *db, const char *dbname, const char *table);

/* The same, as the ferry_table_t the codecs and row readers use. */
ferry_table_t *itest_read_table(ferry_db_t *db, const char *dbname, const char *table);

/*
 * Opens the schema store of project: the Confluent registry at registry_url,
 * or the schemas topic when registry_url is NULL. kafka_props are key, value
 * pairs, NULL-terminated (the store copies them).
 */
ferry_registry_t *itest_open_registry(const char *project, const char *registry_url,
                                      const char *const *kafka_props);

/*
 * Kafka properties (key, value pairs, NULL-terminated) for bootstrap with the
 * short session, heartbeat and fetch waits the test programs use. One static
 * array: every call returns it, with the latest bootstrap.
 */
const char *const *itest_kafka_props(const char *bootstrap);

/*
 * A consumer of a fresh group (named group_prefix plus the pid and time)
 * assigned every partition of topic from the beginning; *parts gets the
 * partition count. NULL when the topic does not exist.
 */
ferry_kafka_consumer_t *itest_reader(const char *const *kafka_props, const char *topic,
                                     const char *group_prefix, int *parts);

/* Value of header name of m copied into buf as text, or NULL when m has none. */
const char *itest_header(const ferry_kafka_msg_t *m, const char *name, char *buf, size_t size);

#define ITEST_MAX_CODECS 32

/* Codecs compiled from writer schemas, by schema id or fingerprint. */
typedef struct {
    struct {
        uint64_t id;
        ferry_avro_codec_t *codec;
    } slot[ITEST_MAX_CODECS];
    size_t n;
} itest_codecs_t;

/*
 * Parses the framing of a message key or value into *info and returns the
 * codec of its writer schema, fetched through reg and compiled on first
 * use. The codec stays owned by the cache.
 */
ferry_avro_codec_t *itest_codec_for(itest_codecs_t *cache, ferry_registry_t *reg, const void *buf,
                                    size_t len, ferry_wire_info_t *info);

/* Destroys every codec of the cache and empties it. */
void itest_codecs_clear(itest_codecs_t *cache);

#endif
