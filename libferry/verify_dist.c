/*
 * verify_dist.c - chunks of one verification shared by verifier workers
 * through Kafka.
 *
 * Topics and group (project P):
 *   ferry.P.verify.tasks     one record per chunk to checksum (key: task
 *                            id), then one "end" record per partition when
 *                            the verification is over; 8 partitions
 *   ferry.P.verify.results   one record per checksummed chunk; 1 partition
 *   ferry.P.verify           the workers' consumer group on the tasks topic
 *
 * The coordinator (ferry-verifier --once --shared) plans the chunks as
 * always, writes them as tasks, reads the results and merges them; it
 * locates the rows of a differing chunk itself (differing chunks are few,
 * so the results stay small). A worker (ferry-verifier --worker) takes the
 * tasks of the partitions the group gives it, checksums each chunk, writes
 * its result, waits until Kafka has it, and only then commits the task's
 * offset. A worker that dies leaves its task uncommitted and the group
 * gives the partition to another worker, which checksums the chunk again;
 * the coordinator takes the first result of each task and ignores others.
 *
 * Record values are one line of space-separated fields; texts and key
 * values are written as 'x' + hex ('-' for SQL NULL or an open bound):
 *   task <run> <task id> <table> <seq> <n> <lo 1..n> <m> <hi 1..m>
 *        (n or m is 0 for an open end)
 *   result <run> <task id> <rows src> <rows dst> <equal 0|1> <ms> <worker>
 *   error <run> <task id> <message>
 *   end <run>
 */
#include "verify_int.h"

#include "err.h"
#include "kafka.h"
#include "log.h"
#include "strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DIST_TASK_PARTITIONS 8

struct vdist {
    char tasks[300], results[300], group[300];
    const char *const *props;
    ferry_kafka_producer_t *producer;
    ferry_kafka_consumer_t *consumer;
    int timeout_ms;
};

void ferry_verify_dist_close(vdist_t *d)
{
    if (!d)
        return;
    ferry_kafka_consumer_destroy(d->consumer);
    ferry_kafka_producer_destroy(d->producer, d->timeout_ms);
    free(d);
}

static void on_assign(void *opaque, const char *topic, int32_t partition, int64_t *offset)
{
    (void)opaque;
    ferry_log_info("verification tasks partition assigned", "topic=%s partition=%d offset=%lld",
                   topic, (int)partition, (long long)*offset);
}

int ferry_verify_dist_open(const ferry_conf_t *conf, bool worker, vdist_t **out, char *errstr,
                           size_t errstr_size)
{
    *out = NULL;
    vdist_t *d = calloc(1, sizeof(*d));
    if (!d)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    const char *project = ferry_conf_get(conf, "project.name");
    snprintf(d->tasks, sizeof(d->tasks), "ferry.%s.verify.tasks", project);
    snprintf(d->results, sizeof(d->results), "ferry.%s.verify.results", project);
    snprintf(d->group, sizeof(d->group), "ferry.%s.verify", project);
    d->props = ferry_conf_kafka_props(conf);
    d->timeout_ms = 30000;
    const char *del[] = {"cleanup.policy", "delete", NULL};
    int rc = ferry_kafka_topic_create(d->props, d->tasks, DIST_TASK_PARTITIONS, -1, del, 1,
                                      d->timeout_ms, errstr, errstr_size);
    if (!rc)
        rc = ferry_kafka_topic_create(d->props, d->results, 1, -1, del, 1, d->timeout_ms, errstr,
                                      errstr_size);
    if (!rc)
        rc = ferry_kafka_producer_new(&d->producer, d->props, NULL, errstr, errstr_size);
    if (!rc)
        rc = ferry_kafka_consumer_new(&d->consumer, d->group, d->props,
                                      worker ? &(ferry_kafka_rebalance_t){.on_assign = on_assign}
                                             : NULL,
                                      errstr, errstr_size);
    if (!rc && worker) {
        const char *topics[] = {d->tasks};
        rc = ferry_kafka_consumer_subscribe(d->consumer, topics, 1, errstr, errstr_size);
    } else if (!rc) {
        /*
         * the coordinator reads every result and keeps its own run's (from
         * the end, a worker's answer could come before the end is resolved)
         */
        ferry_kafka_tp_t tp = {d->results, 0, FERRY_KAFKA_OFFSET_BEGINNING};
        rc = ferry_kafka_consumer_assign(d->consumer, &tp, 1, errstr, errstr_size);
    }
    if (rc) {
        ferry_verify_dist_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* Produces one record and waits until Kafka has it. */
static int dist_send(vdist_t *d, const char *topic, int32_t partition, const char *key,
                     const ferry_strbuf_t *value, char *errstr, size_t errstr_size)
{
    if (value->oom)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    ferry_kafka_record_t rec = {.topic = topic,
                                .partition = partition,
                                .key = key,
                                .key_len = key ? strlen(key) : 0,
                                .value = value->buf,
                                .value_len = value->len};
    int rc;
    for (int tries = 0; (rc = ferry_kafka_produce(d->producer, &rec, errstr, errstr_size)) ==
                            FERRY_ERR_RETRIABLE &&
                        tries < 30;
         tries++)
        ferry_kafka_producer_poll(d->producer, 100);
    if (!rc)
        rc = ferry_kafka_producer_flush(d->producer, d->timeout_ms, errstr, errstr_size);
    return rc;
}

void ferry_verify_dist_put_hex(ferry_strbuf_t *sb, const char *p, size_t n)
{
    if (!p) {
        ferry_strbuf_puts(sb, " -");
        return;
    }
    static const char digits[] = "0123456789abcdef";
    ferry_strbuf_puts(sb, " x");
    for (size_t i = 0; i < n; i++) {
        char h[2] = {digits[(unsigned char)p[i] >> 4], digits[(unsigned char)p[i] & 15]};
        ferry_strbuf_put(sb, h, 2);
    }
}

static void put_bound(ferry_strbuf_t *sb, const ferry_chunk_value_t *b, size_t n)
{
    ferry_strbuf_printf(sb, " %zu", b ? n : 0);
    for (size_t k = 0; b && k < n; k++)
        ferry_verify_dist_put_hex(sb, b[k].data, b[k].len);
}

int ferry_verify_dist_send_task(vdist_t *d, const char *run, const char *task_id, const vtable_t *t,
                                int64_t seq, const ferry_chunk_value_t *lo,
                                const ferry_chunk_value_t *hi, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    ferry_strbuf_printf(&sb, "task %s %s", run, task_id);
    ferry_verify_dist_put_hex(&sb, t->label, strlen(t->label));
    ferry_strbuf_printf(&sb, " %lld", (long long)seq);
    put_bound(&sb, lo, t->n_key);
    put_bound(&sb, hi, t->n_key);
    int rc = dist_send(d, d->tasks, FERRY_KAFKA_PARTITION_ANY, task_id, &sb, errstr, errstr_size);
    ferry_strbuf_free(&sb);
    return rc;
}

int ferry_verify_dist_send_end(vdist_t *d, const char *run, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    ferry_strbuf_printf(&sb, "end %s", run);
    int rc = 0;
    for (int32_t p = 0; !rc && p < DIST_TASK_PARTITIONS; p++)
        rc = dist_send(d, d->tasks, p, NULL, &sb, errstr, errstr_size);
    ferry_strbuf_free(&sb);
    return rc;
}

int ferry_verify_dist_send_result(vdist_t *d, const vdist_msg_t *task, const char *error,
                                  int64_t rows_src, int64_t rows_dst, bool equal, int64_t ms,
                                  const char *worker, char *errstr, size_t errstr_size)
{
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    if (error) {
        ferry_strbuf_printf(&sb, "error %s %s", task->f[1], task->f[2]);
        ferry_verify_dist_put_hex(&sb, error, strlen(error));
    } else {
        ferry_strbuf_printf(&sb, "result %s %s %lld %lld %d %lld %s", task->f[1], task->f[2],
                            (long long)rows_src, (long long)rows_dst, equal ? 1 : 0, (long long)ms,
                            worker);
    }
    int rc = dist_send(d, d->results, 0, task->f[2], &sb, errstr, errstr_size);
    ferry_strbuf_free(&sb);
    return rc;
}

/* Decodes a put_hex field in place: its length, -1 for '-', -2 when malformed. */
long ferry_verify_dist_unhex(char *s)
{
    if (strcmp(s, "-") == 0)
        return -1;
    if (s[0] != 'x')
        return -2;
    size_t n = 0;
    for (char *p = s + 1; p[0] && p[1]; p += 2) {
        int hi = ferry_hex_digit(p[0]), lo = ferry_hex_digit(p[1]);
        if (hi < 0 || lo < 0)
            return -2;
        s[n++] = (char)(hi * 16 + lo);
    }
    s[n] = '\0';
    return (long)n;
}

void ferry_verify_dist_msg_free(vdist_msg_t *m)
{
    free(m->text);
    memset(m, 0, sizeof(*m));
}

int ferry_verify_dist_poll(vdist_t *d, int timeout_ms, vdist_msg_t *out, char *errstr,
                           size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    ferry_kafka_msg_t *msg = NULL;
    int rc = ferry_kafka_consumer_poll(d->consumer, timeout_ms, &msg, errstr, errstr_size);
    if (rc == FERRY_ERR_RETRIABLE) {
        ferry_log_warn("kafka error while waiting for verification records", "error=\"%s\"",
                       errstr);
        return 0;
    }
    if (rc || !msg)
        return rc;
    out->text = malloc(msg->value_len + 1);
    if (!out->text) {
        ferry_kafka_msg_destroy(msg);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    if (msg->value_len)
        memcpy(out->text, msg->value, msg->value_len);
    out->text[msg->value_len] = '\0';
    snprintf(out->topic, sizeof(out->topic), "%s", msg->topic);
    out->partition = msg->partition;
    out->offset = msg->offset;
    ferry_kafka_msg_destroy(msg);
    for (char *save = NULL, *tok = strtok_r(out->text, " ", &save);
         tok && out->n < (int)(sizeof(out->f) / sizeof(out->f[0]));
         tok = strtok_r(NULL, " ", &save))
        out->f[out->n++] = tok;
    out->present = true;
    return 0;
}

int ferry_verify_dist_commit(vdist_t *d, const vdist_msg_t *m, char *errstr, size_t errstr_size)
{
    ferry_kafka_tp_t tp = {m->topic, m->partition, m->offset + 1};
    return ferry_kafka_consumer_commit(d->consumer, &tp, 1, errstr, errstr_size);
}
