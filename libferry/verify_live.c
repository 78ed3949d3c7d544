/*
 * verify_live.c - waiting until the link's consumer has applied every
 * change the source had made at a given moment (the gate a live
 * verification passes before it looks at a difference again).
 *
 * With the source at binlog position P (SHOW MASTER STATUS):
 *   1. wait until the capture's checkpoint in <prefix>.offsets is at or past
 *      P: capture commits each checkpoint in the same Kafka transaction as
 *      the events before it, so every change up to P is then committed to
 *      the change topics;
 *   2. read the last stable offset of each partition of the tables' change
 *      topics (a read_committed ListOffsets): the records up to P lie below
 *      it;
 *   3. wait until the consumer's applied offsets, which it stores in the
 *      destination with each batch (ferry_meta.ferry_offsets, next_offset =
 *      last applied + 1), reach them. Capture writes only in transactions,
 *      so the record just below a stable offset is a commit marker, which a
 *      consumer never sees: next_offset >= stable offset - 1 means every
 *      data record below it was applied.
 */
#include "verify_int.h"

#include "binlog_pos.h"
#include "capture.h"
#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "log.h"
#include "mysql_rows.h"
#include "registry.h"
#include "topics.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ferry_verify_live {
    const ferry_conf_t *conf;
    ferry_registry_t *registry;
    rd_kafka_t *rk;
    char prefix[300];
};

int ferry_verify_live_new(const ferry_conf_t *conf, ferry_verify_live_t **out, char *errstr,
                          size_t errstr_size)
{
    ferry_verify_live_t *l = calloc(1, sizeof(*l));
    if (!l)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    l->conf = conf;
    snprintf(l->prefix, sizeof(l->prefix), "ferry.%s.fwd", ferry_conf_get(conf, "project.name"));
    l->registry = ferry_registry_from_conf(conf, errstr, errstr_size);
    if (!l->registry) {
        free(l);
        return FERRY_ERR_IO;
    }
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char err[512];
    const char *const *props = ferry_conf_kafka_props(conf);
    for (size_t i = 0; props && props[i]; i += 2)
        if (rd_kafka_conf_set(kc, props[i], props[i + 1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(kc);
            ferry_verify_live_destroy(l);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID, "kafka.%s: %s", props[i],
                                 err);
        }
    rd_kafka_conf_set(kc, "isolation.level", "read_committed", NULL, 0);
    if (!(l->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err)))) {
        rd_kafka_conf_destroy(kc);
        ferry_verify_live_destroy(l);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not create a Kafka client: %s", err);
    }
    *out = l;
    return 0;
}

void ferry_verify_live_destroy(ferry_verify_live_t *l)
{
    if (!l)
        return;
    if (l->rk)
        rd_kafka_destroy(l->rk);
    ferry_registry_destroy(l->registry);
    free(l);
}

static int source_position(MYSQL *src, ferry_binlog_pos_t *p, char *errstr, size_t errstr_size)
{
    MYSQL_RES *res = NULL;
    MYSQL_ROW row = NULL;
    if (mysql_query(src, "SHOW MASTER STATUS") == 0 && (res = mysql_store_result(src)))
        row = mysql_fetch_row(res);
    int rc = row && row[0] && row[1]
                 ? ferry_binlog_pos_init(p, row[0], strtoull(row[1], NULL, 10), errstr, errstr_size)
                 : ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                                 "could not read the source's binlog position: %s",
                                 res ? "binary logging is off" : mysql_error(src));
    mysql_free_result(res);
    return rc;
}

/* Waits until the capture checkpoint is at or past p. */
static int wait_capture(ferry_verify_live_t *l, const ferry_binlog_pos_t *p, int64_t deadline,
                        const atomic_int *stop, char *errstr, size_t errstr_size)
{
    for (;;) {
        ferry_capture_position_t cp;
        ferry_binlog_pos_t c;
        int rc = ferry_capture_checkpoint_read(ferry_conf_kafka_props(l->conf), l->registry,
                                               l->prefix, "fwd", 10000, &cp, errstr, errstr_size);
        if (rc && rc != FERRY_ERR_NOT_FOUND)
            return rc;
        if (!rc && ferry_binlog_pos_init(&c, cp.file, cp.pos, NULL, 0) == 0 &&
            ferry_binlog_pos_cmp(&c, p) >= 0)
            return 0;
        if (ferry_mono_ms() > deadline || (stop && atomic_load(stop)))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                                 "the capture checkpoint did not reach %s:%llu", p->file,
                                 (unsigned long long)p->offset);
        usleep(200 * 1000);
    }
}

/* The applied next_offset of topic's partition part at the destination, -1 if none. */
static int64_t applied(MYSQL *dst, const char *topic, int32_t part)
{
    ferry_strbuf_t q = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&q, "SELECT MAX(`next_offset`) FROM `ferry_meta`.`ferry_offsets` WHERE "
                          "`topic` = ");
    ferry_verify_sql_text(&q, topic);
    ferry_strbuf_printf(&q, " AND `partition` = %d", (int)part);
    int64_t n = -1;
    MYSQL_RES *res = NULL;
    if (!q.oom && mysql_query(dst, q.buf) == 0 && (res = mysql_store_result(dst))) {
        MYSQL_ROW row = mysql_fetch_row(res);
        if (row && row[0])
            n = strtoll(row[0], NULL, 10);
    }
    mysql_free_result(res);
    ferry_strbuf_free(&q);
    return n;
}

/* Waits until the consumer applied t's change topic up to its stable offsets of now. */
static int wait_table(ferry_verify_live_t *l, MYSQL *dst, const vtable_t *t, int64_t deadline,
                      const atomic_int *stop, char *errstr, size_t errstr_size)
{
    char topic[600];
    int parts = 0;
    if (ferry_topic_changes(l->prefix, t->src_db, t->src_name, topic, sizeof(topic)) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not name the change topic of \"%s\"", t->label);
    int rc = ferry_kafka_topic_partitions(ferry_conf_kafka_props(l->conf), topic, 10000, &parts,
                                          errstr, errstr_size);
    if (rc == FERRY_ERR_NOT_FOUND)
        return 0; /* no change was ever captured for the table */
    for (int32_t p = 0; !rc && p < parts; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = ferry_kafka_watermarks(l->rk, topic, p, 10000, &lo, &hi);
        if (e)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                                 "could not read the end of \"%s\" [%d]: %s", topic, (int)p,
                                 rd_kafka_err2str(e));
        while (hi > lo && applied(dst, topic, p) < hi - 1) {
            if (ferry_mono_ms() > deadline || (stop && atomic_load(stop)))
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                                     "the consumer did not apply \"%s\" [%d] up to offset %lld",
                                     topic, (int)p, (long long)hi);
            usleep(200 * 1000);
        }
    }
    return rc;
}

int ferry_verify_live_wait(ferry_verify_live_t *l, MYSQL *src, MYSQL *dst,
                           const vtable_t *const *tables, size_t n, int timeout_ms,
                           const atomic_int *stop, char *errstr, size_t errstr_size)
{
    int64_t deadline = ferry_mono_ms() + timeout_ms;
    ferry_binlog_pos_t p;
    int rc = source_position(src, &p, errstr, errstr_size);
    if (!rc)
        rc = wait_capture(l, &p, deadline, stop, errstr, errstr_size);
    for (size_t i = 0; !rc && i < n; i++)
        rc = wait_table(l, dst, tables[i], deadline, stop, errstr, errstr_size);
    return rc;
}
