/*
 * bench_codec.c - encode and decode speed of one change event, single thread.
 *
 * The event is a sysbench-shaped row (id INT, k INT, c CHAR(120),
 * pad CHAR(60)) in a full Debezium-shaped envelope (after image, source
 * block with file/pos/gtid, ts_ms, transaction block). It is measured framed
 * both ways a ferry message can be (wire.h): Confluent (5-byte header with a
 * schema id) and Avro single-object (10-byte header with the CRC-64-AVRO
 * fingerprint). avro-c's generic encoder and decoder run on the same event
 * for comparison.
 *
 * Usage: bench_codec [events]      (default 2000000)
 */
#include <avro.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "avro_codec.h"
#include "avro_schema.h"
#include "row.h"
#include "wire.h"

#define SCHEMA_ID 42
#define BATCH     1000 /* decode arena reset every BATCH events, as a consumer would */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_codec: %s: %s\n", what, why);
    exit(1);
}

static ferry_table_t *sysbench_table(void)
{
    const ferry_column_t cols[] = {
        {.name = "id", .type = FERRY_TYPE_INT, .source_type = "int", .length = 4, .pk_pos = 1},
        {.name = "k", .type = FERRY_TYPE_INT, .source_type = "int", .length = 4},
        {.name = "c",
         .type = FERRY_TYPE_STRING,
         .source_type = "char(120)",
         .length = 120,
         .charset = "utf8mb4"},
        {.name = "pad",
         .type = FERRY_TYPE_STRING,
         .source_type = "char(60)",
         .length = 60,
         .charset = "utf8mb4"},
    };
    ferry_table_t *t = ferry_table_new("sbtest", "sbtest1");
    char err[256];
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
        if (ferry_table_add_column(t, &cols[i], err, sizeof(err)))
            die("add column", err);
    return t;
}

/* sysbench's c and pad: groups of 11 digits separated by '-' */
static const char C_VAL[] = "83868641912-28773972837-60736120486-75162659906-27563526494-"
                            "20381887404-41576422241-93426793964-56405065102-33518432330";
static const char PAD_VAL[] = "67847967377-48000963322-62604785301-91415491898-96926520291";

typedef struct {
    const char *name;
    double secs;
    size_t n;
} result_t;

static void report(const result_t *r)
{
    printf("%-44s %10.0f events/s %8.1f ns/event\n", r->name, (double)r->n / r->secs,
           r->secs * 1e9 / (double)r->n);
}

/* ---- avro-c generic ---------------------------------------------------- */

static void check(int rc)
{
    if (rc)
        die("avro-c", avro_strerror());
}

static void set_str(avro_value_t *parent, const char *name, const char *s, int branch)
{
    avro_value_t f, b;
    check(avro_value_get_by_name(parent, name, &f, NULL));
    if (branch >= 0) {
        check(avro_value_set_branch(&f, branch, &b));
        f = b;
    }
    check(avro_value_set_string_len(&f, s, strlen(s) + 1));
}

static void set_long(avro_value_t *parent, const char *name, int64_t v, int branch)
{
    avro_value_t f, b;
    check(avro_value_get_by_name(parent, name, &f, NULL));
    if (branch >= 0) {
        check(avro_value_set_branch(&f, branch, &b));
        f = b;
    }
    check(avro_value_set_long(&f, v));
}

static void set_null(avro_value_t *parent, const char *name)
{
    avro_value_t f, b;
    check(avro_value_get_by_name(parent, name, &f, NULL));
    check(avro_value_set_branch(&f, 0, &b));
    check(avro_value_set_null(&b));
}

/* Fills the generic value from the event, as a producer using avro-c would per event. */
static void avroc_fill(avro_value_t *env, const ferry_change_t *ev, const char *c, const char *pad)
{
    avro_value_t f, after, src, txn;
    set_null(env, "before");
    check(avro_value_get_by_name(env, "after", &f, NULL));
    check(avro_value_set_branch(&f, 1, &after));
    avro_value_t x;
    check(avro_value_get_by_name(&after, "id", &x, NULL));
    check(avro_value_set_int(&x, (int32_t)ev->after->values[0].v.i));
    check(avro_value_get_by_name(&after, "k", &x, NULL));
    check(avro_value_set_int(&x, (int32_t)ev->after->values[1].v.i));
    set_str(&after, "c", c, -1);
    set_str(&after, "pad", pad, -1);
    check(avro_value_get_by_name(env, "source", &src, NULL));
    set_str(&src, "version", ev->source.version, -1);
    set_str(&src, "connector", ev->source.connector, -1);
    set_str(&src, "name", ev->source.name, -1);
    set_long(&src, "ts_ms", ev->source.ts_ms, -1);
    set_str(&src, "snapshot", ev->source.snapshot, -1);
    set_str(&src, "db", ev->source.db, -1);
    set_str(&src, "table", ev->source.table, 1);
    set_long(&src, "server_id", ev->source.server_id, 1);
    set_str(&src, "gtid", ev->source.gtid, 1);
    set_str(&src, "file", ev->source.file, 1);
    set_long(&src, "pos", ev->source.pos, 1);
    check(avro_value_get_by_name(&src, "row", &f, NULL));
    check(avro_value_set_branch(&f, 1, &x));
    check(avro_value_set_int(&x, ev->source.row));
    set_null(&src, "lsn");
    set_null(&src, "txId");
    set_str(env, "op", "c", -1);
    set_long(env, "ts_ms", ev->ts_ms, 1);
    check(avro_value_get_by_name(env, "transaction", &f, NULL));
    check(avro_value_set_branch(&f, 1, &txn));
    set_str(&txn, "id", ev->txn.id, -1);
    set_long(&txn, "total_order", ev->txn.total_order, -1);
    set_long(&txn, "data_collection_order", ev->txn.data_collection_order, -1);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    if (n < 1000)
        n = 1000;
    printf("# reproduce: cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DFERRY_TESTS=OFF"
           " && cmake --build build-bench --target bench_codec"
           " && ./build-bench/bench/bench_codec %zu\n",
           n);

    char err[512];
    ferry_table_t *t = sysbench_table();
    ferry_avro_schemas_t s;
    if (ferry_avro_schema_generate(t, "ferry.bench.fwd", &s, err, sizeof(err)))
        die("generate schema", err);
    ferry_avro_codec_t *codec;
    if (ferry_avro_codec_new(s.envelope_json, strlen(s.envelope_json), &codec, err, sizeof(err)))
        die("compile schema", err);
    uint64_t fp = ferry_avro_codec_fingerprint(codec);

    ferry_arena_t *arena = ferry_arena_new(0);
    ferry_row_t *row = ferry_row_new(arena, 4);
    row->values[0] = ferry_value_int(4711);
    row->values[1] = ferry_value_int(50231);
    row->values[2] = ferry_value_str(C_VAL, strlen(C_VAL));
    row->values[3] = ferry_value_str(PAD_VAL, strlen(PAD_VAL));
    ferry_change_t ev = {
        .op = 'c',
        .after = row,
        .source = {.version = "0.1.0",
                   .connector = "mariadb",
                   .name = "ferry.bench.fwd",
                   .ts_ms = 1763750000000,
                   .snapshot = "false",
                   .db = "sbtest",
                   .table = "sbtest1",
                   .gtid = "0-1-123456",
                   .file = "mysql-bin.000042",
                   .server_id = 1,
                   .pos = 123456789,
                   .row = 0,
                   .present = FERRY_SOURCE_SERVER_ID | FERRY_SOURCE_POS | FERRY_SOURCE_ROW},
        .has_ts_ms = true,
        .ts_ms = 1763750000123,
        .has_txn = true,
        .txn = {.id = "0-1-123456", .total_order = 1, .data_collection_order = 1},
    };

    ferry_avro_buf_t buf = {0};
    result_t res[6];
    size_t nres = 0;
    uint64_t sink = 0;
    size_t msg_len[2] = {0, 0};
    uint8_t *msgs[2];

    for (int fmt = 0; fmt < 2; fmt++) {
        const char *fname = fmt == 0 ? "confluent" : "single-object";
        /* warm up, and keep one framed message for the decode run */
        for (size_t i = 0; i < 10000; i++) {
            buf.len = 0;
            ferry_avro_buf_reserve(&buf, FERRY_WIRE_SOE_HDR_LEN);
            buf.len = fmt == 0 ? ferry_wire_put_confluent(buf.data, SCHEMA_ID)
                               : ferry_wire_put_single_object(buf.data, fp);
            if (ferry_avro_codec_encode_change(codec, &ev, &buf, err, sizeof(err)))
                die("encode", err);
        }
        msgs[fmt] = malloc(buf.len);
        memcpy(msgs[fmt], buf.data, buf.len);
        msg_len[fmt] = buf.len;

        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            buf.len = 0;
            /* the reserve is a no-op after the first event: the buffer is reused */
            ferry_avro_buf_reserve(&buf, FERRY_WIRE_SOE_HDR_LEN);
            buf.len = fmt == 0 ? ferry_wire_put_confluent(buf.data, SCHEMA_ID)
                               : ferry_wire_put_single_object(buf.data, fp);
            row->values[0].v.i = (int64_t)(i & 0x3fffffff);
            if (ferry_avro_codec_encode_change(codec, &ev, &buf, err, sizeof(err)))
                die("encode", err);
            sink += buf.len;
        }
        res[nres].secs = now_s() - t0;
        res[nres].n = n;
        static char names[2][2][64];
        snprintf(names[fmt][0], sizeof(names[fmt][0]), "ferry encode (%s)", fname);
        res[nres].name = names[fmt][0];
        nres++;

        ferry_arena_t *da = ferry_arena_new(0);
        t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            ferry_wire_info_t wi;
            if (ferry_wire_parse(msgs[fmt], msg_len[fmt], &wi) ||
                (fmt == 0 ? wi.schema_id != SCHEMA_ID : wi.fingerprint != fp))
                die("decode", "wrong framing");
            ferry_change_t back;
            if (ferry_avro_codec_decode_change(codec, wi.body, wi.body_len, da, &back, err,
                                               sizeof(err)))
                die("decode", err);
            sink += (uint64_t)back.after->values[1].v.i;
            if (i % BATCH == BATCH - 1)
                ferry_arena_reset(da);
        }
        res[nres].secs = now_s() - t0;
        res[nres].n = n;
        snprintf(names[fmt][1], sizeof(names[fmt][1]), "ferry decode (%s)", fname);
        res[nres].name = names[fmt][1];
        nres++;
        ferry_arena_destroy(da);
    }

    /* avro-c generic, on the Confluent body, fewer events (it is slower) */
    size_t na = n / 4;
    avro_schema_t schema;
    check(avro_schema_from_json_length(s.envelope_json, strlen(s.envelope_json), &schema));
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t env;
    check(avro_generic_value_new(iface, &env));
    size_t cap = 4096;
    char *abuf = malloc(cap);
    avro_writer_t w = avro_writer_memory(abuf, (int64_t)cap);
    size_t alen = 0;
    double t0 = now_s();
    for (size_t i = 0; i < na; i++) {
        avro_value_reset(&env);
        avroc_fill(&env, &ev, C_VAL, PAD_VAL);
        avro_writer_reset(w);
        check(avro_value_write(w, &env));
        alen = (size_t)avro_writer_tell(w);
        sink += alen;
    }
    res[nres].secs = now_s() - t0;
    res[nres].n = na;
    res[nres].name = "avro-c generic encode";
    nres++;
    const uint8_t *ours = msgs[0] + FERRY_WIRE_CONFLUENT_HDR_LEN;
    size_t ours_len = msg_len[0] - FERRY_WIRE_CONFLUENT_HDR_LEN;
    /* the last ferry encode used a different id; re-encode the benchmark's event once */
    row->values[0].v.i = 4711;
    avro_value_reset(&env);
    avroc_fill(&env, &ev, C_VAL, PAD_VAL);
    avro_writer_reset(w);
    check(avro_value_write(w, &env));
    alen = (size_t)avro_writer_tell(w);
    int same = alen == ours_len && memcmp(abuf, ours, alen) == 0;

    /* decoding trusted bytes (our own) only */
    avro_reader_t r = avro_reader_memory((const char *)ours, (int64_t)ours_len);
    t0 = now_s();
    for (size_t i = 0; i < na; i++) {
        avro_reader_memory_set_source(r, (const char *)ours, (int64_t)ours_len);
        avro_value_reset(&env);
        check(avro_value_read(r, &env));
        avro_value_t f, b, x;
        int32_t k;
        check(avro_value_get_by_name(&env, "after", &f, NULL));
        check(avro_value_get_current_branch(&f, &b));
        check(avro_value_get_by_name(&b, "k", &x, NULL));
        check(avro_value_get_int(&x, &k));
        sink += (uint64_t)k;
    }
    res[nres].secs = now_s() - t0;
    res[nres].n = na;
    res[nres].name = "avro-c generic decode";
    nres++;

    printf("# event: sysbench row (id, k, c char(120), pad char(60)) in a full envelope; "
           "body %zu bytes, confluent message %zu, single-object %zu\n",
           ours_len, msg_len[0], msg_len[1]);
    printf("# avro-c bytes equal ferry's: %s\n", same ? "yes" : "NO");
    for (size_t i = 0; i < nres; i++)
        report(&res[i]);
    double enc_ours = (double)res[0].n / res[0].secs, dec_ours = (double)res[1].n / res[1].secs;
    double enc_avro = (double)res[4].n / res[4].secs, dec_avro = (double)res[5].n / res[5].secs;
    printf("ratio ferry/avro-c encode (confluent): %.1fx\n", enc_ours / enc_avro);
    printf("ratio ferry/avro-c decode (confluent): %.1fx\n", dec_ours / dec_avro);
    printf("# sink %llu\n", (unsigned long long)sink);

    avro_reader_free(r);
    avro_writer_free(w);
    free(abuf);
    avro_value_decref(&env);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    free(msgs[0]);
    free(msgs[1]);
    ferry_avro_buf_free(&buf);
    ferry_arena_destroy(arena);
    ferry_avro_codec_destroy(codec);
    ferry_avro_schema_release(&s);
    ferry_table_destroy(t);
    return same ? 0 : 1;
}
