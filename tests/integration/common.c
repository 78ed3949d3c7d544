/*
 * common.c - helpers of the integration programs (see common.h).
 */
#define _GNU_SOURCE /* program_invocation_short_name */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "mysql_rows.h"

void itest_die(const char *what, const char *err)
{
    fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, err);
    exit(1);
}

ferry_db_t *itest_connect_source(const char *url)
{
    char err[512];
    ferry_db_t *db;
    if (ferry_db_connect(url, "source", 10000, &db, err, sizeof(err)) != 0 ||
        ferry_mysql_rows_session(ferry_db_mysql(db), err, sizeof(err)) != 0)
        itest_die("could not connect to the source", err);
    return db;
}

void itest_master_status(MYSQL *my, char *file, size_t size, uint64_t *pos)
{
    if (mysql_query(my, "SHOW MASTER STATUS") != 0)
        itest_die("SHOW MASTER STATUS", mysql_error(my));
    MYSQL_RES *res = mysql_store_result(my);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    if (!row)
        itest_die("SHOW MASTER STATUS", "no row (is the binlog on?)");
    snprintf(file, size, "%s", row[0]);
    *pos = strtoull(row[1], NULL, 10);
    mysql_free_result(res);
}

ferry_tabledef_t *itest_read_def(ferry_db_t *db, const char *dbname, const char *table)
{
    char err[512];
    ferry_tabledef_t *def;
    ferry_mysql_flavor_t fl = ferry_mysql_flavor_from_version(ferry_db_server_version(db));
    if (ferry_mysql_schema_read_table(ferry_db_mysql(db), fl, dbname, table, &def, err,
                                      sizeof(err)) != 0)
        itest_die("could not read a table definition", err);
    return def;
}

ferry_table_t *itest_read_table(ferry_db_t *db, const char *dbname, const char *table)
{
    char err[512];
    ferry_tabledef_t *def = itest_read_def(db, dbname, table);
    ferry_table_t *t;
    if (ferry_tabledef_to_table(def, &t, err, sizeof(err)) != 0)
        itest_die("could not read a table definition", err);
    ferry_tabledef_destroy(def);
    return t;
}

ferry_registry_t *itest_open_registry(const char *project, const char *registry_url,
                                      const char *const *kafka_props)
{
    ferry_registry_conf_t rc = {
        .project = project,
        .registry_url = registry_url,
        .kafka_props = kafka_props,
        .kafka_timeout_ms = 20000,
    };
    char err[512];
    ferry_registry_t *r = ferry_registry_new(&rc, err, sizeof(err));
    if (!r)
        itest_die("could not open the schema store", err);
    return r;
}

ferry_kafka_consumer_t *itest_reader(const char *const *kafka_props, const char *topic,
                                     const char *group_prefix, int *parts)
{
    char err[512], group[256];
    int rc = ferry_kafka_topic_partitions(kafka_props, topic, 10000, parts, err, sizeof(err));
    if (rc == FERRY_ERR_NOT_FOUND)
        return NULL;
    if (rc != 0)
        itest_die(topic, err);
    ferry_kafka_tp_t *tps = calloc((size_t)*parts, sizeof(*tps));
    if (!tps)
        itest_die(topic, "out of memory");
    for (int i = 0; i < *parts; i++)
        tps[i] = (ferry_kafka_tp_t){topic, i, FERRY_KAFKA_OFFSET_BEGINNING};
    snprintf(group, sizeof(group), "%s-%d-%ld", group_prefix, (int)getpid(), (long)time(NULL));
    ferry_kafka_consumer_t *c;
    if (ferry_kafka_consumer_new(&c, group, kafka_props, NULL, err, sizeof(err)) != 0 ||
        ferry_kafka_consumer_assign(c, tps, (size_t)*parts, err, sizeof(err)) != 0)
        itest_die(topic, err);
    free(tps);
    return c;
}

const char *itest_header(const ferry_kafka_msg_t *m, const char *name, char *buf, size_t size)
{
    const char *n;
    const void *v;
    size_t len;
    for (size_t i = 0; ferry_kafka_msg_header(m, i, &n, &v, &len) == 0; i++)
        if (strcmp(n, name) == 0 && v) {
            snprintf(buf, size, "%.*s", (int)len, (const char *)v);
            return buf;
        }
    return NULL;
}

ferry_avro_codec_t *itest_codec_for(itest_codecs_t *cache, ferry_registry_t *reg, const void *buf,
                                    size_t len, ferry_wire_info_t *info)
{
    if (ferry_wire_parse(buf, len, info) != 0)
        itest_die("message framing", "neither Confluent nor single-object");
    uint64_t id = info->format == FERRY_WIRE_CONFLUENT ? info->schema_id : info->fingerprint;
    for (size_t i = 0; i < cache->n; i++)
        if (cache->slot[i].id == id)
            return cache->slot[i].codec;
    if (cache->n == ITEST_MAX_CODECS)
        itest_die("writer schemas", "too many for the codec cache");
    const char *json;
    char err[512];
    if (ferry_registry_schema_for(reg, info, &json, err, sizeof(err)) != 0)
        itest_die("could not fetch a writer schema", err);
    ferry_avro_codec_t *c;
    if (ferry_avro_codec_new(json, strlen(json), &c, err, sizeof(err)) != 0)
        itest_die("could not compile a writer schema", err);
    cache->slot[cache->n].id = id;
    cache->slot[cache->n].codec = c;
    cache->n++;
    return c;
}

void itest_codecs_clear(itest_codecs_t *cache)
{
    for (size_t i = 0; i < cache->n; i++)
        ferry_avro_codec_destroy(cache->slot[i].codec);
    cache->n = 0;
}

const char *const *itest_kafka_props(const char *bootstrap)
{
    static const char *props[] = {"bootstrap.servers",
                                  NULL,
                                  "session.timeout.ms",
                                  "6000",
                                  "heartbeat.interval.ms",
                                  "500",
                                  "fetch.wait.max.ms",
                                  "10",
                                  NULL};
    props[1] = bootstrap;
    return props;
}
