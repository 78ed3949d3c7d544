/*
 * capture_offsets.c - the checkpoint record of <prefix>.offsets: its Avro
 * body (schemas/source_position.avsc) and reading the link's last one.
 *
 * The record is small, rare (a few per second) and fixed, so it goes
 * through avro-c, as ddl_event.c does; decoding uses the writer's schema
 * from the registry, so fields added later are simply absent when an older
 * producer wrote the record. Reading the topic needs watermarks and
 * partition-EOF events, which kafka.h's consumer does not expose, so the
 * reader here talks to librdkafka directly (as registry.c and fullload.c).
 */
#include "capture_int.h"

#include "avro_record.h"

#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "ferry_avsc.h"
#include "registry.h"
#include "wire.h"

#include <avro.h>
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the record ------------------------------------------------------------ */

static int set_opt(avro_value_t *rec, const char *name, const char *s, bool has_long, int64_t v)
{
    avro_value_t f, b;
    if (avro_value_get_by_name(rec, name, &f, NULL) != 0)
        return -1;
    if (!s && !has_long)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    if (avro_value_set_branch(&f, 1, &b) != 0)
        return -1;
    return s ? avro_value_set_string_len(&b, s, strlen(s) + 1) : avro_value_set_long(&b, v);
}

static int fill(avro_value_t *rec, const ferry_capture_position_t *p, const char *connector,
                int64_t server_id)
{
    avro_value_t f;
    if (avro_value_get_by_name(rec, "connector", &f, NULL) != 0 ||
        avro_value_set_string_len(&f, connector, strlen(connector) + 1) != 0)
        return -1;
    if (set_opt(rec, "server_id", NULL, server_id > 0, server_id) ||
        set_opt(rec, "file", p->file[0] ? p->file : NULL, false, 0) ||
        set_opt(rec, "pos", NULL, p->file[0] != '\0', (int64_t)p->pos) ||
        set_opt(rec, "gtid_set", p->gtid_set[0] ? p->gtid_set : NULL, false, 0) ||
        set_opt(rec, "lsn", NULL, false, 0) || set_opt(rec, "txId", NULL, false, 0))
        return -1;
    if (avro_value_get_by_name(rec, "snapshot_done", &f, NULL) != 0 ||
        avro_value_set_boolean(&f, p->snapshot_done) != 0)
        return -1;
    if (avro_value_get_by_name(rec, "ts_ms", &f, NULL) != 0 ||
        avro_value_set_long(&f, p->ts_ms) != 0)
        return -1;
    return 0;
}

int ferry_capture_position_encode(const ferry_capture_position_t *p, const char *connector,
                                  int64_t server_id, ferry_avro_buf_t *out, char *errstr,
                                  size_t errstr_size)
{
    avro_schema_t schema = NULL;
    avro_value_iface_t *iface = NULL;
    avro_value_t rec;
    bool have_rec = false;
    size_t size = 0;
    int rc = FERRY_ERR_FATAL;
    if (avro_schema_from_json_length(FERRY_AVSC_SOURCE_POSITION, strlen(FERRY_AVSC_SOURCE_POSITION),
                                     &schema) != 0 ||
        !(iface = avro_generic_class_from_schema(schema)) ||
        avro_generic_value_new(iface, &rec) != 0)
        goto done;
    have_rec = true;
    if (fill(&rec, p, connector, server_id) != 0 || avro_value_sizeof(&rec, &size) != 0 ||
        ferry_avro_buf_reserve(out, size) != 0)
        goto done;
    avro_writer_t w = avro_writer_memory((char *)out->data + out->len, (int64_t)size);
    if (!w)
        goto done;
    if (avro_value_write(w, &rec) == 0) {
        out->len += size;
        rc = 0;
    }
    avro_writer_free(w);
done:
    if (rc != 0)
        ferry_err_set(errstr, errstr_size, rc, "could not encode the checkpoint %s:%" PRIu64 ": %s",
                      p->file, p->pos, avro_strerror());
    if (have_rec)
        avro_value_decref(&rec);
    if (iface)
        avro_value_iface_decref(iface);
    if (schema)
        avro_schema_decref(schema);
    return rc;
}

static void copy_field(avro_value_t *rec, const char *name, char *dst, size_t dst_size)
{
    size_t n;
    const char *s = ferry_avro_record_string(rec, name, &n);
    snprintf(dst, dst_size, "%.*s", s ? (int)n : 0, s ? s : "");
}

int ferry_capture_position_decode(const char *writer_schema, const uint8_t *body, size_t len,
                                  ferry_capture_position_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    ferry_avro_record_t rec;
    char why[300];
    int rc = ferry_avro_record_read(&rec, writer_schema, body, len, 65536, why, sizeof(why));
    if (rc == 0) {
        avro_value_t v;
        int64_t l;
        int b;
        copy_field(&rec.value, "file", out->file, sizeof(out->file));
        copy_field(&rec.value, "gtid_set", out->gtid_set, sizeof(out->gtid_set));
        if (ferry_avro_record_long(&rec.value, "pos", &l) && l >= 0)
            out->pos = (uint64_t)l;
        ferry_avro_record_long(&rec.value, "ts_ms", &out->ts_ms);
        if (ferry_avro_record_field(&rec.value, "snapshot_done", &v) &&
            avro_value_get_boolean(&v, &b) == 0)
            out->snapshot_done = b != 0;
        if (!out->file[0] && !out->gtid_set[0]) {
            rc = FERRY_ERR_INVALID;
            snprintf(why, sizeof(why), "it names neither a binlog file nor a GTID set");
        }
    }
    if (rc != 0)
        ferry_err_set(errstr, errstr_size, rc, "could not decode a checkpoint record: %s", why);
    ferry_avro_record_free(&rec);
    return rc;
}

/* ---- reading the topic ---------------------------------------------------- */

static bool reader_owned(const char *name)
{
    static const char *const ours[] = {
        "group.id",        "group.instance.id",  "transactional.id", "enable.partition.eof",
        "isolation.level", "enable.auto.commit", "partitioner",      NULL};
    for (size_t i = 0; ours[i]; i++)
        if (strcmp(name, ours[i]) == 0)
            return true;
    return false;
}

static rd_kafka_t *reader_new(const char *const *props, const char *topic, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[700], why[256];
    snprintf(group, sizeof(group), "%s.capture-reader", topic);
    const char *fixed[] = {"group.id",
                           group,
                           "enable.partition.eof",
                           "true",
                           "isolation.level",
                           "read_committed",
                           "enable.auto.commit",
                           "false",
                           "fetch.wait.max.ms",
                           "20",
                           NULL};
    for (size_t i = 0; fixed[i]; i += 2)
        if (rd_kafka_conf_set(conf, fixed[i], fixed[i + 1], why, sizeof(why)) != RD_KAFKA_CONF_OK)
            goto bad;
    for (size_t i = 0; props && props[i] && props[i + 1]; i += 2)
        if (!reader_owned(props[i]) &&
            rd_kafka_conf_set(conf, props[i], props[i + 1], why, sizeof(why)) != RD_KAFKA_CONF_OK)
            goto bad;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (rk)
        return rk;
bad:
    rd_kafka_conf_destroy(conf);
    ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID, "could not create a reader of \"%s\": %s",
                  topic, why);
    return NULL;
}

typedef struct {
    void *value;
    size_t len;
} last_t;

/*
 * Reads every partition of topic from (end - window), or from the start when
 * window is 0, up to its end, keeping the last record whose key is link.
 */
static int read_tail(rd_kafka_t *rk, const char *topic, int parts, const char *link, int64_t window,
                     int timeout_ms, last_t *last, char *errstr, size_t errstr_size)
{
    int64_t deadline = ferry_mono_ms() + timeout_ms;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    bool *eof = calloc((size_t)parts, sizeof(*eof));
    int rc = 0;
    if (!l || !eof) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int32_t p = 0; p < parts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t err = ferry_kafka_watermarks(rk, topic, p, timeout_ms, &lo, &hi);
        if (err) {
            rc =
                ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                              "could not read the checkpoint from \"%s\" partition %" PRId32 ": %s",
                              topic, p, rd_kafka_err2str(err));
            goto done;
        }
        int64_t start = window > 0 && hi - window > lo ? hi - window : lo;
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = start;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, l);
    if (err) {
        rc = ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                           "could not read the checkpoint from \"%s\": %s", topic,
                           rd_kafka_err2str(err));
        goto done;
    }
    int open = parts;
    while (open > 0) {
        int64_t left = deadline - ferry_mono_ms();
        if (left <= 0) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                               "could not read the checkpoint from \"%s\" up to its end within "
                               "%d ms",
                               topic, timeout_ms);
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, left < 100 ? (int)left : 100);
        if (!m)
            continue;
        bool ours = m->partition >= 0 && m->partition < parts;
        if (ours && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!eof[m->partition]) {
                eof[m->partition] = true;
                open--;
            }
        } else if (ours && !m->err && m->key && m->key_len == strlen(link) &&
                   memcmp(m->key, link, m->key_len) == 0 && m->payload) {
            void *copy = malloc(m->len ? m->len : 1);
            if (copy) {
                memcpy(copy, m->payload, m->len);
                free(last->value);
                last->value = copy;
                last->len = m->len;
            }
        } else if (m->err && ferry_kafka_err_class(m->err) == FERRY_ERR_FATAL) {
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                               "could not read the checkpoint from \"%s\": %s", topic,
                               rd_kafka_message_errstr(m));
            open = 0;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
done:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    free(eof);
    return rc;
}

int ferry_capture_checkpoint_read(const char *const *kafka_props, ferry_registry_t *registry,
                                  const char *prefix, const char *link, int timeout_ms,
                                  ferry_capture_position_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    if (timeout_ms <= 0)
        timeout_ms = 30000;
    char topic[600];
    snprintf(topic, sizeof(topic), "%s.offsets", prefix);
    int parts = 0;
    int rc =
        ferry_kafka_topic_partitions(kafka_props, topic, timeout_ms, &parts, errstr, errstr_size);
    if (rc != 0)
        return rc;
    rd_kafka_t *rk = reader_new(kafka_props, topic, errstr, errstr_size);
    if (!rk)
        return FERRY_ERR_INVALID;
    last_t last = {0};
    /* the last record is near the end; look further back only when it is not */
    rc = read_tail(rk, topic, parts, link, 256, timeout_ms, &last, errstr, errstr_size);
    if (rc == 0 && !last.value)
        rc = read_tail(rk, topic, parts, link, 0, timeout_ms, &last, errstr, errstr_size);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (rc == 0 && !last.value)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOT_FOUND,
                           "no checkpoint for link \"%s\" in \"%s\"", link, topic);
    if (rc == 0) {
        ferry_wire_info_t info;
        const char *schema;
        if (ferry_wire_parse(last.value, last.len, &info) != 0)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                               "could not read the checkpoint in \"%s\": the record is not "
                               "framed as Confluent or Avro single-object",
                               topic);
        else if ((rc = ferry_registry_schema_for(registry, &info, &schema, errstr, errstr_size)) ==
                 0)
            rc = ferry_capture_position_decode(schema, info.body, info.body_len, out, errstr,
                                               errstr_size);
    }
    free(last.value);
    return rc;
}
