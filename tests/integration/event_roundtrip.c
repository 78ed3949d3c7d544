/*
 * event_roundtrip - change events through a real broker, end to end.
 *
 *   event_roundtrip produce <bootstrap> <project> [<registry url>]
 *   event_roundtrip consume <bootstrap> <project> [<registry url>]
 *
 * produce: generates the Avro schemas of a table holding every column type,
 * encodes insert, update and delete events of its edge-value rows with the
 * direct codec, frames them through the schema store (Confluent when a
 * registry URL is given, else single-object with the schema in the
 * ferry.<project>.schemas topic) and produces them to the table's topic.
 *
 * consume: run as a separate process that has never seen the schema. It
 * reads the topic, recognises each message's framing, fetches the writer
 * schema through the schema store, compiles a codec from it, decodes key and
 * value, and checks every column against the rows the producer encoded.
 * Exit 0 and "ok: N events" when all match.
 */
#include "../unit/row_fixtures.h"
#include "common.h"

#include "avro_codec.h"
#include "avro_schema.h"
#include "err.h"
#include "kafka.h"
#include "registry.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVENTS_PER_VARIANT 3 /* insert, update, delete */

static const char *bootstrap, *project, *registry_url;
static char prefix[256], topic[400];

static ferry_change_t make_change(char op, const ferry_row_t *before, const ferry_row_t *after)
{
    ferry_change_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.op = op;
    ev.before = before;
    ev.after = after;
    ev.source.version = "test";
    ev.source.connector = "mariadb";
    ev.source.name = prefix;
    ev.source.ts_ms = 1700000000000;
    ev.source.db = "test";
    ev.source.table = "all_types";
    ev.source.file = "mysql-bin.000001";
    ev.source.pos = 4;
    ev.source.present = FERRY_SOURCE_POS;
    ev.has_ts_ms = true;
    ev.ts_ms = 1700000000001;
    return ev;
}

static void produce(void)
{
    char err[512];
    ferry_table_t *t = fx_all_types_table();
    ferry_avro_schemas_t s;
    if (ferry_avro_schema_generate(t, prefix, &s, err, sizeof(err)) != 0)
        itest_die("could not generate schemas", err);
    ferry_avro_codec_t *codec;
    if (ferry_avro_codec_new(s.envelope_json, strlen(s.envelope_json), &codec, err, sizeof(err)) !=
        0)
        itest_die("could not compile the envelope codec", err);
    ferry_avro_codec_t *kcodec;
    if (ferry_avro_codec_new(s.key_json, strlen(s.key_json), &kcodec, err, sizeof(err)) != 0)
        itest_die("could not compile the key codec", err);

    const char *props[] = {"bootstrap.servers", bootstrap, NULL};
    ferry_registry_t *reg = itest_open_registry(project, registry_url, props);
    uint8_t vhdr[FERRY_WIRE_SOE_HDR_LEN], khdr[FERRY_WIRE_SOE_HDR_LEN];
    size_t vhdr_len, khdr_len;
    if (ferry_registry_header_for(reg, topic, 0, s.envelope_json, vhdr, &vhdr_len, err,
                                  sizeof(err)) != 0 ||
        ferry_registry_header_for(reg, topic, 1, s.key_json, khdr, &khdr_len, err, sizeof(err)) !=
            0)
        itest_die("could not store the schemas", err);

    ferry_kafka_producer_t *p;
    if (ferry_kafka_producer_new(&p, props, NULL, err, sizeof(err)) != 0)
        itest_die("could not create producer", err);

    ferry_arena_t *a = ferry_arena_new(0);
    ferry_avro_buf_t key = {0}, val = {0};
    int n = 0;
    for (int variant = 0; variant < FX_VARIANTS; variant++) {
        ferry_row_t *row = fx_row(a, variant);
        ferry_row_t *next = fx_row(a, (variant + 1) % FX_VARIANTS);
        next->values[FX_ID] = row->values[FX_ID]; /* an update keeps the key */
        ferry_change_t evs[EVENTS_PER_VARIANT] = {
            make_change('c', NULL, row),
            make_change('u', row, next),
            make_change('d', next, NULL),
        };
        for (int e = 0; e < EVENTS_PER_VARIANT; e++) {
            key.len = val.len = 0;
            ferry_avro_buf_reserve(&key, khdr_len);
            memcpy(key.data, khdr, khdr_len);
            key.len = khdr_len;
            ferry_avro_buf_reserve(&val, vhdr_len);
            memcpy(val.data, vhdr, vhdr_len);
            val.len = vhdr_len;
            const ferry_row_t *krow = evs[e].after ? evs[e].after : evs[e].before;
            if (ferry_avro_codec_encode_key(kcodec, krow, &key, err, sizeof(err)) != 0 ||
                ferry_avro_codec_encode_change(codec, &evs[e], &val, err, sizeof(err)) != 0)
                itest_die("could not encode", err);
            /* one partition keeps the events of a key in order, as the key hash does */
            ferry_kafka_record_t rec = {.topic = topic,
                                        .partition = 0,
                                        .key = key.data,
                                        .key_len = key.len,
                                        .value = val.data,
                                        .value_len = val.len};
            if (ferry_kafka_produce(p, &rec, err, sizeof(err)) != 0)
                itest_die("could not produce", err);
            n++;
        }
    }
    if (ferry_kafka_producer_flush(p, 30000, err, sizeof(err)) != 0)
        itest_die("could not flush", err);
    printf("produced %d events to %s (value schema header %zu bytes)\n", n, topic, vhdr_len);
    ferry_kafka_producer_destroy(p, 0);
    ferry_avro_buf_free(&key);
    ferry_avro_buf_free(&val);
    ferry_arena_destroy(a);
    ferry_registry_destroy(reg);
    ferry_avro_codec_destroy(codec);
    ferry_avro_codec_destroy(kcodec);
    ferry_avro_schema_release(&s);
    ferry_table_destroy(t);
}

/* The codec of a key or value's writer schema, checking the framing the store implies. */
static ferry_avro_codec_t *codec_for(ferry_registry_t *reg, const uint8_t *buf, size_t len,
                                     itest_codecs_t *cache, const uint8_t **body, size_t *body_len)
{
    ferry_wire_info_t info;
    ferry_avro_codec_t *c = itest_codec_for(cache, reg, buf, len, &info);
    if (registry_url && info.format != FERRY_WIRE_CONFLUENT)
        itest_die("message framing", "expected the Confluent framing with a registry");
    if (!registry_url && info.format != FERRY_WIRE_SINGLE_OBJECT)
        itest_die("message framing", "expected the single-object framing without a registry");
    *body = info.body;
    *body_len = info.body_len;
    return c;
}

static void check_row(const char *what, int n, const ferry_table_t *t, const ferry_row_t *got,
                      const ferry_row_t *want)
{
    if (!got || !want) {
        if (got != want) {
            fprintf(stderr, "event %d: %s image %s\n", n, what,
                    got ? "present, expected none" : "missing");
            exit(1);
        }
        return;
    }
    if (got->n != want->n) {
        fprintf(stderr, "event %d: %s image has %zu columns, expected %zu\n", n, what, got->n,
                want->n);
        exit(1);
    }
    for (size_t i = 0; i < got->n; i++) {
        const ferry_column_t *c = ferry_table_column(t, i);
        if (!ferry_value_equal(c->type, &got->values[i], &want->values[i])) {
            fprintf(stderr, "event %d: %s column \"%s\" differs\n", n, what, c->name);
            exit(1);
        }
    }
}

static void consume(void)
{
    char err[512], group[128];
    const char *props[] = {"bootstrap.servers", bootstrap, NULL};
    snprintf(group, sizeof(group), "event-roundtrip-%ld", (long)time(NULL));
    ferry_kafka_consumer_t *c;
    ferry_kafka_tp_t tp = {.topic = topic, .partition = 0, .offset = FERRY_KAFKA_OFFSET_BEGINNING};
    if (ferry_kafka_consumer_new(&c, group, props, NULL, err, sizeof(err)) != 0 ||
        ferry_kafka_consumer_assign(c, &tp, 1, err, sizeof(err)) != 0)
        itest_die("could not start consumer", err);

    ferry_registry_t *reg = itest_open_registry(project, registry_url, props);
    itest_codecs_t cache = {0};
    ferry_arena_t *want_arena = ferry_arena_new(0), *arena = ferry_arena_new(0);
    int want_total = FX_VARIANTS * EVENTS_PER_VARIANT, n = 0, idle = 0;
    while (n < want_total && idle < 300) {
        ferry_kafka_msg_t *m = NULL;
        int rc = ferry_kafka_consumer_poll(c, 100, &m, err, sizeof(err));
        if (rc == FERRY_ERR_FATAL)
            itest_die("consumer failed", err);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        const uint8_t *body;
        size_t body_len;
        ferry_avro_codec_t *vc = codec_for(reg, m->value, m->value_len, &cache, &body, &body_len);
        ferry_change_t ev;
        ferry_arena_reset(arena);
        if (!ferry_avro_codec_is_envelope(vc) ||
            ferry_avro_codec_decode_change(vc, body, body_len, arena, &ev, err, sizeof(err)) != 0)
            itest_die("could not decode a value", err);
        ferry_avro_codec_t *kc = codec_for(reg, m->key, m->key_len, &cache, &body, &body_len);
        ferry_row_t *key;
        if (ferry_avro_codec_decode_row(kc, body, body_len, arena, &key, err, sizeof(err)) != 0)
            itest_die("could not decode a key", err);

        /* rebuild what the producer encoded for this event */
        int variant = n / EVENTS_PER_VARIANT, e = n % EVENTS_PER_VARIANT;
        ferry_arena_reset(want_arena);
        ferry_row_t *row = fx_row(want_arena, variant);
        ferry_row_t *next = fx_row(want_arena, (variant + 1) % FX_VARIANTS);
        next->values[FX_ID] = row->values[FX_ID];
        static const char ops[] = {'c', 'u', 'd'};
        const ferry_row_t *before[] = {NULL, row, next}, *after[] = {row, next, NULL};
        if (ev.op != ops[e]) {
            fprintf(stderr, "event %d: op '%c', expected '%c'\n", n, ev.op, ops[e]);
            exit(1);
        }
        const ferry_table_t *t = ferry_avro_codec_table(vc);
        check_row("before", n, t, ev.before, before[e]);
        check_row("after", n, t, ev.after, after[e]);
        if (!ev.source.table || strcmp(ev.source.table, "all_types") != 0 || ev.source.pos != 4)
            itest_die("source block", "table or position differs");
        if (key->n != 1 || key->values[0].v.i != row->values[FX_ID].v.i)
            itest_die("key", "does not hold the row's id");
        ferry_kafka_msg_destroy(m);
        n++;
    }
    if (n != want_total) {
        fprintf(stderr, "event_roundtrip: read %d of %d events before giving up\n", n, want_total);
        exit(1);
    }
    printf("ok: %d events decoded with %zu schemas fetched from the %s\n", n, cache.n,
           registry_url ? "schema registry" : "schemas topic");
    itest_codecs_clear(&cache);
    ferry_arena_destroy(arena);
    ferry_arena_destroy(want_arena);
    ferry_registry_destroy(reg);
    ferry_kafka_consumer_destroy(c);
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5 || (strcmp(argv[1], "produce") && strcmp(argv[1], "consume"))) {
        fputs("usage: event_roundtrip produce|consume <bootstrap> <project> [<registry url>]\n",
              stderr);
        return 2;
    }
    bootstrap = argv[2];
    project = argv[3];
    registry_url = argc == 5 ? argv[4] : NULL;
    snprintf(prefix, sizeof(prefix), "ferry.%s.fwd", project);
    snprintf(topic, sizeof(topic), "%s.test.all_types", prefix);
    if (strcmp(argv[1], "produce") == 0)
        produce();
    else
        consume();
    return 0;
}
