/*
 * test_avro_codec.c - the hot-path encoder/decoder (avro_codec.h).
 *
 * avro-c's generic encoder is the oracle: for the same datum its bytes and
 * ours must be equal. Decoding is checked by round trips of every column
 * type with edge values, and by decoding bytes written by avro-c under a
 * Debezium-style schema the codec compiles from JSON text at run time.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "avro_canon.h"
#include "avro_codec.h"
#include "avro_schema.h"
#include "err.h"
#include "row_fixtures.h"

typedef struct {
    ferry_table_t *t;
    ferry_avro_schemas_t s;
    ferry_avro_codec_t *env, *key;
    ferry_arena_t *arena;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    char err[256];
    f->t = fx_all_types_table();
    if (ferry_avro_schema_generate(f->t, "ferry.test.fwd", &f->s, err, sizeof(err)))
        return -1;
    if (ferry_avro_codec_new(f->s.envelope_json, strlen(f->s.envelope_json), &f->env, err,
                             sizeof(err)) ||
        ferry_avro_codec_new(f->s.key_json, strlen(f->s.key_json), &f->key, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    f->arena = ferry_arena_new(0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    ferry_avro_codec_destroy(f->env);
    ferry_avro_codec_destroy(f->key);
    ferry_avro_schema_release(&f->s);
    ferry_table_destroy(f->t);
    ferry_arena_destroy(f->arena);
    free(f);
    return 0;
}

static ferry_source_t sample_source(void)
{
    ferry_source_t src = {
        .version = "0.1.0",
        .connector = "mysql",
        .name = "ferry.test.fwd",
        .ts_ms = 1701673705000,
        .snapshot = "false",
        .db = "shop",
        .table = "all_types",
        .gtid = "3e11fa47-71ca-11e1-9e33-c80aa9429562:23",
        .file = "mysql-bin.000005",
        .server_id = 223344,
        .pos = 10394,
        .row = 2,
        .present = FERRY_SOURCE_SERVER_ID | FERRY_SOURCE_POS | FERRY_SOURCE_ROW,
    };
    return src;
}

static void assert_rows_equal(const ferry_table_t *t, const ferry_row_t *a, const ferry_row_t *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const ferry_column_t *c = ferry_table_column(t, i);
        if (!ferry_value_equal(c->type, &a->values[i], &b->values[i]))
            fail_msg("column \"%s\" (%s) differs after the round trip", c->name,
                     ferry_type_name(c->type));
    }
}

/* ---- avro-c oracle for whole envelopes -------------------------------- */

static void avroc_source(avro_value_t *src, const ferry_source_t *s)
{
    avro_value_t f, br;
#define SET_STR(name, val)                                                                         \
    do {                                                                                           \
        fx_check(avro_value_get_by_name(src, name, &f, NULL));                                     \
        if (avro_value_get_type(&f) == AVRO_UNION) {                                               \
            if (!(val)) {                                                                          \
                fx_check(avro_value_set_branch(&f, 0, &br));                                       \
                fx_check(avro_value_set_null(&br));                                                \
                break;                                                                             \
            }                                                                                      \
            fx_check(avro_value_set_branch(&f, 1, &br));                                           \
            fx_set_string(&br, (val), strlen(val));                                                \
        } else                                                                                     \
            fx_set_string(&f, (val), strlen(val));                                                 \
    } while (0)
#define SET_NUM(name, val, bit, setter)                                                            \
    do {                                                                                           \
        fx_check(avro_value_get_by_name(src, name, &f, NULL));                                     \
        if (avro_value_get_type(&f) == AVRO_UNION) {                                               \
            if (!(s->present & (bit))) {                                                           \
                fx_check(avro_value_set_branch(&f, 0, &br));                                       \
                fx_check(avro_value_set_null(&br));                                                \
                break;                                                                             \
            }                                                                                      \
            fx_check(avro_value_set_branch(&f, 1, &br));                                           \
            fx_check(setter(&br, val));                                                            \
        } else                                                                                     \
            fx_check(setter(&f, val));                                                             \
    } while (0)
    SET_STR("version", s->version);
    SET_STR("connector", s->connector);
    SET_STR("name", s->name);
    fx_check(avro_value_get_by_name(src, "ts_ms", &f, NULL));
    fx_check(avro_value_set_long(&f, s->ts_ms));
    SET_STR("snapshot", s->snapshot ? s->snapshot : "false");
    SET_STR("db", s->db);
    SET_STR("table", s->table);
    SET_NUM("server_id", s->server_id, FERRY_SOURCE_SERVER_ID, avro_value_set_long);
    SET_STR("gtid", s->gtid);
    SET_STR("file", s->file);
    SET_NUM("pos", s->pos, FERRY_SOURCE_POS, avro_value_set_long);
    SET_NUM("row", s->row, FERRY_SOURCE_ROW, avro_value_set_int);
    SET_NUM("lsn", s->lsn, FERRY_SOURCE_LSN, avro_value_set_long);
    SET_NUM("txId", s->tx_id, FERRY_SOURCE_TX_ID, avro_value_set_long);
#undef SET_STR
#undef SET_NUM
}

static void avroc_union_record(avro_value_t *parent, const char *name, const ferry_table_t *t,
                               const ferry_row_t *row)
{
    avro_value_t f, br;
    fx_check(avro_value_get_by_name(parent, name, &f, NULL));
    if (!row) {
        fx_check(avro_value_set_branch(&f, 0, &br));
        fx_check(avro_value_set_null(&br));
        return;
    }
    fx_check(avro_value_set_branch(&f, 1, &br));
    fx_avroc_record(&br, t, row);
}

/* avro-c's encoding of ev under schema_json, into a malloc'd buffer. */
static uint8_t *avroc_encode_change(const char *schema_json, const ferry_table_t *t,
                                    const ferry_change_t *ev, size_t *len)
{
    avro_schema_t schema;
    fx_check(avro_schema_from_json_length(schema_json, strlen(schema_json), &schema));
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t env, f, br;
    fx_check(avro_generic_value_new(iface, &env));
    avroc_union_record(&env, "before", t, ev->before);
    avroc_union_record(&env, "after", t, ev->after);
    fx_check(avro_value_get_by_name(&env, "source", &f, NULL));
    avroc_source(&f, &ev->source);
    fx_check(avro_value_get_by_name(&env, "op", &f, NULL));
    fx_set_string(&f, &ev->op, 1);
    fx_check(avro_value_get_by_name(&env, "ts_ms", &f, NULL));
    if (ev->has_ts_ms) {
        fx_check(avro_value_set_branch(&f, 1, &br));
        fx_check(avro_value_set_long(&br, ev->ts_ms));
    } else {
        fx_check(avro_value_set_branch(&f, 0, &br));
        fx_check(avro_value_set_null(&br));
    }
    fx_check(avro_value_get_by_name(&env, "transaction", &f, NULL));
    if (ev->has_txn) {
        avro_value_t x;
        fx_check(avro_value_set_branch(&f, 1, &br));
        fx_check(avro_value_get_by_name(&br, "id", &x, NULL));
        fx_set_string(&x, ev->txn.id, strlen(ev->txn.id));
        fx_check(avro_value_get_by_name(&br, "total_order", &x, NULL));
        fx_check(avro_value_set_long(&x, ev->txn.total_order));
        fx_check(avro_value_get_by_name(&br, "data_collection_order", &x, NULL));
        fx_check(avro_value_set_long(&x, ev->txn.data_collection_order));
    } else {
        fx_check(avro_value_set_branch(&f, 0, &br));
        fx_check(avro_value_set_null(&br));
    }
    size_t size;
    fx_check(avro_value_sizeof(&env, &size));
    uint8_t *buf = malloc(size ? size : 1);
    avro_writer_t w = avro_writer_memory((const char *)buf, (int64_t)size);
    fx_check(avro_value_write(w, &env));
    *len = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    avro_value_decref(&env);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return buf;
}

static uint8_t *avroc_encode_key(const char *schema_json, const ferry_table_t *t,
                                 const ferry_row_t *row, size_t *len)
{
    avro_schema_t schema;
    fx_check(avro_schema_from_json_length(schema_json, strlen(schema_json), &schema));
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t rec;
    fx_check(avro_generic_value_new(iface, &rec));
    fx_avroc_record(&rec, t, row);
    size_t size;
    fx_check(avro_value_sizeof(&rec, &size));
    uint8_t *buf = malloc(size ? size : 1);
    avro_writer_t w = avro_writer_memory((const char *)buf, (int64_t)size);
    fx_check(avro_value_write(w, &rec));
    *len = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
    return buf;
}

/* ---- tests ------------------------------------------------------------ */

static void every_type_round_trip_and_matches_avro_c(void **state)
{
    fx_t *f = *state;
    char err[256];
    static const char ops[] = {'c', 'u', 'd', 'r'};
    ferry_avro_buf_t buf = {0};
    for (int variant = 0; variant < FX_VARIANTS; variant++) {
        for (size_t k = 0; k < sizeof(ops); k++) {
            ferry_arena_reset(f->arena);
            ferry_change_t ev = {.op = ops[k], .source = sample_source()};
            ferry_row_t *row = fx_row(f->arena, variant);
            ferry_row_t *other = fx_row(f->arena, (variant + 1) % FX_VARIANTS);
            if (ops[k] != 'd')
                ev.after = row;
            if (ops[k] == 'u' || ops[k] == 'd')
                ev.before = ops[k] == 'd' ? row : other;
            ev.has_ts_ms = k % 2 == 0;
            ev.ts_ms = 1701673705263;
            ev.has_txn = k == 1;
            ev.txn = (ferry_txn_t){"3e11fa47:23", 7, 3};
            if (variant == 3) {
                ev.source.table = NULL;
                ev.source.gtid = NULL;
                ev.source.present = 0;
                ev.source.snapshot = NULL;
            }

            buf.len = 0;
            if (ferry_avro_codec_encode_change(f->env, &ev, &buf, err, sizeof(err)))
                fail_msg("variant %d op %c: %s", variant, ops[k], err);

            size_t olen;
            uint8_t *oracle = avroc_encode_change(f->s.envelope_json, f->t, &ev, &olen);
            if (olen != buf.len || memcmp(oracle, buf.data, olen) != 0)
                fail_msg("variant %d op %c: %zu bytes differ from avro-c's %zu", variant, ops[k],
                         buf.len, olen);
            free(oracle);

            ferry_change_t back;
            if (ferry_avro_codec_decode_change(f->env, buf.data, buf.len, f->arena, &back, err,
                                               sizeof(err)))
                fail_msg("variant %d op %c: %s", variant, ops[k], err);
            assert_int_equal(back.op, ops[k]);
            assert_int_equal(back.has_ts_ms, ev.has_ts_ms);
            if (ev.has_ts_ms)
                assert_true(back.ts_ms == ev.ts_ms);
            assert_int_equal(back.has_txn, ev.has_txn);
            if (ev.has_txn) {
                assert_string_equal(back.txn.id, ev.txn.id);
                assert_true(back.txn.total_order == 7 && back.txn.data_collection_order == 3);
            }
            assert_string_equal(back.source.file ? back.source.file : "-",
                                ev.source.file ? ev.source.file : "-");
            assert_string_equal(back.source.snapshot, "false");
            assert_int_equal(back.source.present, ev.source.present);
            assert_true(back.source.pos == (ev.source.present ? 10394 : 0));
            assert_int_equal(back.after != NULL, ev.after != NULL);
            assert_int_equal(back.before != NULL, ev.before != NULL);
            if (ev.after)
                assert_rows_equal(f->t, ev.after, back.after);
            if (ev.before)
                assert_rows_equal(f->t, ev.before, back.before);
        }
    }
    ferry_avro_buf_free(&buf);
}

static void raw_map_keeps_zero_dates(void **state)
{
    fx_t *f = *state;
    char err[256];
    ferry_arena_reset(f->arena);
    ferry_row_t *row = fx_row(f->arena, 4);
    ferry_avro_buf_t buf = {0};
    assert_int_equal(ferry_avro_codec_encode_row(f->env, row, &buf, err, sizeof(err)), 0);
    /* the texts are in the bytes as they are */
    assert_non_null(memmem(buf.data, buf.len, "0000-00-00", 10));
    assert_non_null(memmem(buf.data, buf.len, "2024-00-00 00:00:00.000000", 26));
    assert_non_null(memmem(buf.data, buf.len, "infinity", 8));
    assert_non_null(memmem(buf.data, buf.len, "NaN", 3));
    ferry_row_t *back;
    assert_int_equal(
        ferry_avro_codec_decode_row(f->env, buf.data, buf.len, f->arena, &back, err, sizeof(err)),
        0);
    assert_rows_equal(f->t, row, back);
    assert_int_equal(back->values[FX_DATE].v.dt.year, 0);
    assert_int_equal(back->values[FX_DTM].v.dt.year, 2024);
    assert_int_equal(back->values[FX_DTM].v.dt.month, 0);
    assert_int_equal(back->values[FX_TSTZ].flags, FERRY_VALUE_POS_INFINITY);
    assert_memory_equal(back->values[FX_NUMC].v.s.ptr, "NaN", 3);
    ferry_avro_buf_free(&buf);
}

static void keys_match_avro_c(void **state)
{
    fx_t *f = *state;
    char err[256];
    ferry_avro_buf_t buf = {0};
    for (int variant = 0; variant < FX_VARIANTS; variant++) {
        ferry_arena_reset(f->arena);
        ferry_row_t *row = fx_row(f->arena, variant);
        buf.len = 0;
        assert_int_equal(ferry_avro_codec_encode_key(f->key, row, &buf, err, sizeof(err)), 0);
        size_t olen;
        uint8_t *oracle = avroc_encode_key(f->s.key_json, f->t, row, &olen);
        assert_int_equal(olen, buf.len);
        assert_memory_equal(oracle, buf.data, olen);
        free(oracle);
        ferry_row_t *back;
        assert_int_equal(ferry_avro_codec_decode_row(f->key, buf.data, buf.len, f->arena, &back,
                                                     err, sizeof(err)),
                         0);
        assert_int_equal(back->n, 1);
        assert_true(back->values[0].v.i == row->values[FX_ID].v.i);
    }
    ferry_avro_buf_free(&buf);
    assert_false(ferry_avro_codec_is_envelope(f->key));
    assert_true(ferry_avro_codec_is_envelope(f->env));
    assert_true(ferry_avro_codec_fingerprint(f->key) == f->s.key_fingerprint);
    assert_true(ferry_avro_codec_fingerprint(f->env) == f->s.envelope_fingerprint);
}

static void table_rebuilt_from_schema(void **state)
{
    fx_t *f = *state;
    const ferry_table_t *rt = ferry_avro_codec_table(f->env);
    assert_int_equal(ferry_table_ncolumns(rt), FX_NCOLS);
    assert_string_equal(ferry_table_db(rt), "shop");
    assert_string_equal(ferry_table_name(rt), "all_types");
    for (size_t i = 0; i < FX_NCOLS; i++) {
        const ferry_column_t *a = ferry_table_column(f->t, i), *b = ferry_table_column(rt, i);
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->type, b->type);
        assert_string_equal(a->source_type, b->source_type);
        assert_int_equal(a->flags, b->flags);
        assert_int_equal(a->length, b->length);
        assert_int_equal(a->precision, b->precision);
        assert_int_equal(a->scale, b->scale);
        assert_int_equal(a->fsp, b->fsp);
        assert_int_equal(a->pk_pos, b->pk_pos);
        assert_int_equal(a->n_members, b->n_members);
        for (uint32_t m = 0; m < a->n_members; m++)
            assert_string_equal(a->members[m], b->members[m]);
        if (a->charset)
            assert_string_equal(a->charset, b->charset);
    }
}

static void big_blob(void **state)
{
    fx_t *f = *state;
    char err[256];
    size_t n = 16u << 20;
    uint8_t *blob = malloc(n);
    for (size_t i = 0; i < n; i++)
        blob[i] = (uint8_t)(i * 31 + (i >> 13));
    ferry_arena_reset(f->arena);
    ferry_row_t *row = fx_row(f->arena, 0);
    row->values[FX_BLOB] = ferry_value_str(blob, n);
    ferry_change_t ev = {.op = 'c', .after = row, .source = sample_source()};
    ferry_avro_buf_t buf = {0};
    assert_int_equal(ferry_avro_codec_encode_change(f->env, &ev, &buf, err, sizeof(err)), 0);
    assert_true(buf.len > n);
    ferry_change_t back;
    assert_int_equal(ferry_avro_codec_decode_change(f->env, buf.data, buf.len, f->arena, &back, err,
                                                    sizeof(err)),
                     0);
    assert_int_equal(back.after->values[FX_BLOB].v.s.len, n);
    assert_memory_equal(back.after->values[FX_BLOB].v.s.ptr, blob, n);
    ferry_avro_buf_free(&buf);
    free(blob);
}

static void hostile_bytes(void **state)
{
    fx_t *f = *state;
    char err[256];
    ferry_arena_reset(f->arena);
    ferry_change_t ev = {.op = 'u',
                         .after = fx_row(f->arena, 0),
                         .before = fx_row(f->arena, 2),
                         .source = sample_source(),
                         .has_txn = true,
                         .txn = {"x", 1, 2}};
    ferry_avro_buf_t buf = {0};
    assert_int_equal(ferry_avro_codec_encode_change(f->env, &ev, &buf, err, sizeof(err)), 0);
    ferry_change_t back;
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < buf.len; cut++) {
        ferry_arena_reset(f->arena);
        int rc = ferry_avro_codec_decode_change(f->env, buf.data, cut, f->arena, &back, err,
                                                sizeof(err));
        assert_true(rc < 0);
    }
    /* trailing garbage is refused */
    uint8_t *longer = malloc(buf.len + 1);
    memcpy(longer, buf.data, buf.len);
    longer[buf.len] = 0;
    assert_int_equal(ferry_avro_codec_decode_change(f->env, longer, buf.len + 1, f->arena, &back,
                                                    err, sizeof(err)),
                     FERRY_ERR_INVALID);
    free(longer);
    /* flipped bytes never crash (ASan/UBSan watch); most are refused */
    uint8_t *copy = malloc(buf.len);
    uint32_t seed = 12345;
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, buf.data, buf.len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % buf.len] ^= (uint8_t)(1u << ((seed >> 4) & 7));
        }
        ferry_arena_reset(f->arena);
        (void)ferry_avro_codec_decode_change(f->env, copy, buf.len, f->arena, &back, err,
                                             sizeof(err));
    }
    free(copy);
    /* a huge length prefix is checked before anything is read */
    const uint8_t huge[] = {0x02, 0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f};
    assert_true(ferry_avro_codec_decode_change(f->env, huge, sizeof(huge), f->arena, &back, err,
                                               sizeof(err)) < 0);
    ferry_avro_buf_free(&buf);
}

static void encode_errors(void **state)
{
    fx_t *f = *state;
    char err[256];
    ferry_arena_reset(f->arena);
    ferry_row_t *row = fx_row(f->arena, 0);
    row->values[FX_ID] = ferry_value_null(); /* NOT NULL column */
    ferry_avro_buf_t buf = {0};
    assert_int_equal(ferry_avro_buf_reserve(&buf, 3), 0);
    buf.data[0] = 0xC3;
    buf.len = 1;
    ferry_change_t ev = {.op = 'c', .after = row, .source = sample_source()};
    assert_int_equal(ferry_avro_codec_encode_change(f->env, &ev, &buf, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "\"id\""));
    assert_int_equal(buf.len, 1); /* nothing half-written */
    row->values[FX_ID] = ferry_value_int(1);
    row->values[FX_I] = ferry_value_int(INT64_MAX); /* does not fit an Avro int */
    assert_int_equal(ferry_avro_codec_encode_change(f->env, &ev, &buf, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "\"i\""));
    row->values[FX_I] = ferry_value_int(1);
    row->values[FX_DEC] = FX_STR("1.0000000000000000000000000000001"); /* 31 digits > scale */
    assert_int_equal(ferry_avro_codec_encode_change(f->env, &ev, &buf, err, sizeof(err)), 0);
    ev.source.version = NULL;
    assert_int_equal(ferry_avro_codec_encode_change(f->env, &ev, &buf, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "\"version\""));
    ferry_avro_buf_free(&buf);
    ferry_avro_buf_free(NULL);
    ferry_avro_codec_destroy(NULL);

    /* the key codec cannot decode envelopes, and bad schemas are refused with a reason */
    ferry_change_t back;
    uint8_t one = 0;
    assert_int_equal(
        ferry_avro_codec_decode_change(f->key, &one, 1, f->arena, &back, err, sizeof(err)),
        FERRY_ERR_UNSUPPORTED);
    ferry_avro_codec_t *c = NULL;
    assert_true(ferry_avro_codec_new("\"int\"", 5, &c, err, sizeof(err)) < 0);
    assert_null(c);
    const char *arr = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                      "{\"type\":\"array\",\"items\":\"int\"}}]}";
    assert_int_equal(ferry_avro_codec_new(arr, strlen(arr), &c, err, sizeof(err)),
                     FERRY_ERR_UNSUPPORTED);
    assert_non_null(strstr(err, "\"a\""));
}

/*
 * A Debezium MySQL envelope (field shapes as in the TiCDC/Debezium fixtures,
 * plus fields ferry does not know: ts_us, source.sequence/thread/query),
 * without any ferry property. The codec sees it only as text.
 */
static const char DEBEZIUM_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":\"dbserver1.test.foo\",\"fields\":["
    "{\"name\":\"before\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Value\",\"fields\":["
    "{\"name\":\"pk\",\"type\":\"int\"},"
    "{\"name\":\"col_d\",\"type\":[\"null\",{\"type\":\"int\",\"connect.version\":1,"
    "\"connect.name\":\"io.debezium.time.Date\"}],\"default\":null},"
    "{\"name\":\"col_dt\",\"type\":[\"null\",{\"type\":\"long\",\"connect.name\":"
    "\"io.debezium.time.Timestamp\"}],\"default\":null},"
    "{\"name\":\"col_dt6\",\"type\":[\"null\",{\"type\":\"long\",\"connect.name\":"
    "\"io.debezium.time.MicroTimestamp\"}],\"default\":null},"
    "{\"name\":\"col_t\",\"type\":[\"null\",{\"type\":\"long\",\"connect.name\":"
    "\"io.debezium.time.MicroTime\"}],\"default\":null},"
    "{\"name\":\"col_ts\",\"type\":[\"null\",{\"type\":\"string\",\"connect.name\":"
    "\"io.debezium.time.ZonedTimestamp\"}],\"default\":null},"
    "{\"name\":\"col_bit\",\"type\":[\"null\",{\"type\":\"bytes\",\"connect.parameters\":"
    "{\"length\":\"60\"},\"connect.name\":\"io.debezium.data.Bits\"}],\"default\":null},"
    "{\"name\":\"col_dec\",\"type\":[\"null\",{\"type\":\"bytes\",\"scale\":5,\"precision\":10,"
    "\"connect.name\":\"org.apache.kafka.connect.data.Decimal\",\"logicalType\":\"decimal\"}],"
    "\"default\":null},"
    "{\"name\":\"col_enum\",\"type\":[\"null\",{\"type\":\"string\",\"connect.name\":"
    "\"io.debezium.data.Enum\"}],\"default\":null},"
    "{\"name\":\"col_json\",\"type\":[\"null\",{\"type\":\"string\",\"connect.name\":"
    "\"io.debezium.data.Json\"}],\"default\":null},"
    "{\"name\":\"col_bigint_unsigned\",\"type\":[\"null\",\"long\"],\"default\":null}"
    "],\"connect.name\":\"dbserver1.test.foo.Value\"}],\"default\":null},"
    "{\"name\":\"after\",\"type\":[\"null\",\"Value\"],\"default\":null},"
    "{\"name\":\"source\",\"type\":{\"type\":\"record\",\"name\":\"Source\",\"namespace\":"
    "\"io.debezium.connector.mysql\",\"fields\":["
    "{\"name\":\"version\",\"type\":\"string\"},{\"name\":\"connector\",\"type\":\"string\"},"
    "{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"ts_ms\",\"type\":\"long\"},"
    "{\"name\":\"snapshot\",\"type\":[{\"type\":\"string\",\"connect.name\":"
    "\"io.debezium.data.Enum\"},\"null\"],\"default\":\"false\"},"
    "{\"name\":\"db\",\"type\":\"string\"},"
    "{\"name\":\"sequence\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"table\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"server_id\",\"type\":\"long\"},"
    "{\"name\":\"gtid\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"file\",\"type\":\"string\"},{\"name\":\"pos\",\"type\":\"long\"},"
    "{\"name\":\"row\",\"type\":\"int\"},"
    "{\"name\":\"thread\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"query\",\"type\":[\"null\",\"string\"],\"default\":null}]}},"
    "{\"name\":\"op\",\"type\":\"string\"},"
    "{\"name\":\"ts_ms\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"ts_us\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"transaction\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"block\","
    "\"namespace\":\"event\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"total_order\",\"type\":\"long\"},{\"name\":\"data_collection_order\","
    "\"type\":\"long\"}]}],\"default\":null}],"
    "\"connect.name\":\"dbserver1.test.foo.Envelope\"}";

static void set_branch(avro_value_t *parent, const char *name, int branch, avro_value_t *out)
{
    avro_value_t f;
    fx_check(avro_value_get_by_name(parent, name, &f, NULL));
    fx_check(avro_value_set_branch(&f, branch, out));
}

static void field(avro_value_t *parent, const char *name, avro_value_t *out)
{
    fx_check(avro_value_get_by_name(parent, name, out, NULL));
}

static void decodes_unseen_debezium_schema(void **state)
{
    fx_t *f = *state;
    char err[256];
    /* the datum, written by avro-c: the row of the TiCDC Debezium fixture */
    avro_schema_t schema;
    fx_check(avro_schema_from_json_length(DEBEZIUM_SCHEMA, strlen(DEBEZIUM_SCHEMA), &schema));
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t env, v, rec, src, x;
    fx_check(avro_generic_value_new(iface, &env));
    set_branch(&env, "before", 0, &v);
    fx_check(avro_value_set_null(&v));
    set_branch(&env, "after", 1, &rec);
    field(&rec, "pk", &v);
    fx_check(avro_value_set_int(&v, 1));
    set_branch(&rec, "col_d", 1, &v);
    fx_check(avro_value_set_int(&v, 19691));
    set_branch(&rec, "col_dt", 1, &v);
    fx_check(avro_value_set_long(&v, 1701347696100));
    set_branch(&rec, "col_dt6", 1, &v);
    fx_check(avro_value_set_long(&v, 1701347696123456));
    set_branch(&rec, "col_t", 1, &v);
    fx_check(avro_value_set_long(&v, -45296123456));
    set_branch(&rec, "col_ts", 1, &v);
    fx_set_string(&v, "2023-11-30T12:34:56.12346Z", 26);
    set_branch(&rec, "col_bit", 1, &v);
    fx_check(avro_value_set_bytes(&v, "\x10\0\0\0\0\0\0\0", 8));
    set_branch(&rec, "col_dec", 1, &v);
    fx_check(avro_value_set_bytes(&v, "\x49\x95\x29\xd9", 4)); /* 1234512345 */
    set_branch(&rec, "col_enum", 1, &v);
    fx_set_string(&v, "a", 1);
    set_branch(&rec, "col_json", 1, &v);
    fx_set_string(&v, "[\"foo\"]", 7);
    set_branch(&rec, "col_bigint_unsigned", 1, &v);
    fx_check(avro_value_set_long(&v, -1));
    field(&env, "source", &src);
    const char *strs[][2] = {{"version", "2.4.0.Final"},
                             {"connector", "mysql"},
                             {"name", "dbserver1"},
                             {"db", "test"},
                             {"file", "mysql-bin.000005"}};
    for (size_t i = 0; i < 5; i++) {
        field(&src, strs[i][0], &v);
        fx_set_string(&v, strs[i][1], strlen(strs[i][1]));
    }
    field(&src, "ts_ms", &v);
    fx_check(avro_value_set_long(&v, 1701673705000));
    set_branch(&src, "snapshot", 0, &v);
    fx_set_string(&v, "false", 5);
    set_branch(&src, "sequence", 0, &v);
    fx_check(avro_value_set_null(&v));
    set_branch(&src, "table", 1, &v);
    fx_set_string(&v, "foo", 3);
    field(&src, "server_id", &v);
    fx_check(avro_value_set_long(&v, 223344));
    set_branch(&src, "gtid", 0, &v);
    fx_check(avro_value_set_null(&v));
    field(&src, "pos", &v);
    fx_check(avro_value_set_long(&v, 10394));
    field(&src, "row", &v);
    fx_check(avro_value_set_int(&v, 0));
    set_branch(&src, "thread", 1, &v);
    fx_check(avro_value_set_long(&v, 11));
    set_branch(&src, "query", 1, &v);
    fx_set_string(&v, "INSERT INTO foo VALUES (1)", 26);
    field(&env, "op", &v);
    fx_set_string(&v, "c", 1);
    set_branch(&env, "ts_ms", 1, &v);
    fx_check(avro_value_set_long(&v, 1701673705263));
    set_branch(&env, "ts_us", 1, &v);
    fx_check(avro_value_set_long(&v, 1701673705263000));
    set_branch(&env, "transaction", 1, &rec);
    field(&rec, "id", &x);
    fx_set_string(&x, "tx-1", 4);
    field(&rec, "total_order", &x);
    fx_check(avro_value_set_long(&x, 5));
    field(&rec, "data_collection_order", &x);
    fx_check(avro_value_set_long(&x, 2));
    size_t size;
    fx_check(avro_value_sizeof(&env, &size));
    uint8_t *body = malloc(size);
    avro_writer_t w = avro_writer_memory((const char *)body, (int64_t)size);
    fx_check(avro_value_write(w, &env));
    avro_writer_free(w);
    avro_value_decref(&env);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);

    /* a codec compiled from the text alone decodes it */
    ferry_avro_codec_t *c;
    if (ferry_avro_codec_new(DEBEZIUM_SCHEMA, strlen(DEBEZIUM_SCHEMA), &c, err, sizeof(err)))
        fail_msg("%s", err);
    ferry_arena_reset(f->arena);
    ferry_change_t ev;
    if (ferry_avro_codec_decode_change(c, body, size, f->arena, &ev, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(ev.op, 'c');
    assert_null(ev.before);
    assert_true(ev.has_ts_ms && ev.ts_ms == 1701673705263);
    assert_true(ev.has_txn && ev.txn.total_order == 5);
    assert_string_equal(ev.txn.id, "tx-1");
    assert_string_equal(ev.source.version, "2.4.0.Final");
    assert_string_equal(ev.source.snapshot, "false");
    assert_string_equal(ev.source.table, "foo");
    assert_null(ev.source.gtid);
    assert_true(ev.source.server_id == 223344 && ev.source.pos == 10394);
    assert_int_equal(ev.source.present,
                     FERRY_SOURCE_SERVER_ID | FERRY_SOURCE_POS | FERRY_SOURCE_ROW);
    const ferry_table_t *t = ferry_avro_codec_table(c);
    assert_int_equal(ferry_table_ncolumns(t), 11);
    const ferry_value_t *val = ev.after->values;
    assert_int_equal(ferry_table_column(t, 0)->type, FERRY_TYPE_INT);
    assert_true(val[0].v.i == 1);
    assert_int_equal(ferry_table_column(t, 1)->type, FERRY_TYPE_DATE);
    assert_int_equal(val[1].v.dt.year, 2023);
    assert_int_equal(val[1].v.dt.month, 11);
    assert_int_equal(val[1].v.dt.day, 30);
    assert_int_equal(ferry_table_column(t, 2)->type, FERRY_TYPE_DATETIME);
    assert_int_equal(ferry_table_column(t, 2)->fsp, 3);
    assert_int_equal(val[2].v.dt.usec, 100000);
    assert_int_equal(val[3].v.dt.usec, 123456);
    assert_int_equal(val[3].v.dt.second, 56);
    assert_int_equal(ferry_table_column(t, 4)->type, FERRY_TYPE_TIME);
    assert_true(val[4].v.i == -45296123456);
    assert_int_equal(ferry_table_column(t, 5)->type, FERRY_TYPE_STRING);
    assert_int_equal(ferry_table_column(t, 6)->type, FERRY_TYPE_BIT);
    assert_true(val[6].v.u == 16);
    assert_int_equal(ferry_table_column(t, 7)->type, FERRY_TYPE_DECIMAL);
    assert_int_equal(ferry_table_column(t, 7)->scale, 5);
    assert_int_equal(val[7].v.s.len, 11);
    assert_memory_equal(val[7].v.s.ptr, "12345.12345", 11);
    assert_int_equal(ferry_table_column(t, 8)->type, FERRY_TYPE_ENUM);
    assert_int_equal(ferry_table_column(t, 9)->type, FERRY_TYPE_JSON);
    assert_memory_equal(val[9].v.s.ptr, "[\"foo\"]", 7);
    assert_true(val[10].v.i == -1); /* Debezium's long mode wraps; ferry keeps what it got */
    assert_true(ferry_table_column(t, 1)->flags & FERRY_COL_NULLABLE);
    assert_false(ferry_table_column(t, 0)->flags & FERRY_COL_NULLABLE);
    /* it can encode too: fields ferry has no value for (ts_us, sequence, thread, query) are
     * nullable and written as null */
    ferry_avro_buf_t buf = {0};
    ev.source.present |= FERRY_SOURCE_ROW;
    assert_int_equal(ferry_avro_codec_encode_change(c, &ev, &buf, err, sizeof(err)), 0);
    ferry_change_t again;
    assert_int_equal(
        ferry_avro_codec_decode_change(c, buf.data, buf.len, f->arena, &again, err, sizeof(err)),
        0);
    assert_rows_equal(t, ev.after, again.after);
    ferry_avro_buf_free(&buf);
    ferry_avro_codec_destroy(c);
    free(body);
}

/* An unknown field holding a huge array of nulls is skipped without counting it out. */
static void skips_unknown_fields(void **state)
{
    fx_t *f = *state;
    char err[256];
    const char *schema =
        "{\"type\":\"record\",\"name\":\"E\",\"fields\":["
        "{\"name\":\"after\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"V\",\"fields\":"
        "[{\"name\":\"a\",\"type\":\"int\"}]}]},"
        "{\"name\":\"source\",\"type\":{\"type\":\"record\",\"name\":\"S\",\"fields\":["
        "{\"name\":\"junk\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
        "{\"name\":\"db\",\"type\":\"string\"}]}},"
        "{\"name\":\"extra\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"long\"]}},"
        "{\"name\":\"op\",\"type\":\"string\"}]}";
    ferry_avro_codec_t *c;
    assert_int_equal(ferry_avro_codec_new(schema, strlen(schema), &c, err, sizeof(err)), 0);
    /* after={a:5}; junk: 2^62-1 nulls; db "d"; extra {"k": 7}; op "c" */
    const uint8_t body[] = {0x02, 0x0a, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
                            0x00, 0x02, 'd',  0x02, 0x02, 'k',  0x02, 0x0e, 0x00, 0x02, 'c'};
    ferry_change_t ev;
    ferry_arena_reset(f->arena);
    assert_int_equal(
        ferry_avro_codec_decode_change(c, body, sizeof(body), f->arena, &ev, err, sizeof(err)), 0);
    assert_int_equal(ev.op, 'c');
    assert_true(ev.after->values[0].v.i == 5);
    assert_string_equal(ev.source.db, "d");
    /* extra as a block of count -1 with its byte size (4) is skipped whole; a negative size is
     * refused */
    const uint8_t sized[] = {0x02, 0x0a, 0x00, 0x02, 'd',  0x01, 0x08,
                             0x02, 'k',  0x02, 0x0e, 0x00, 0x02, 'c'};
    ferry_arena_reset(f->arena);
    assert_int_equal(
        ferry_avro_codec_decode_change(c, sized, sizeof(sized), f->arena, &ev, err, sizeof(err)),
        0);
    assert_int_equal(ev.op, 'c');
    uint8_t bad[sizeof(sized)];
    memcpy(bad, sized, sizeof(bad));
    bad[6] = 0x07;
    assert_int_not_equal(
        ferry_avro_codec_decode_change(c, bad, sizeof(bad), f->arena, &ev, err, sizeof(err)), 0);
    /* the unknown non-nullable fields mean this codec cannot encode */
    ferry_avro_buf_t buf = {0};
    assert_int_equal(ferry_avro_codec_encode_change(c, &ev, &buf, err, sizeof(err)),
                     FERRY_ERR_UNSUPPORTED);
    assert_int_equal(buf.len, 0);
    ferry_avro_buf_free(&buf);
    ferry_avro_codec_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_round_trip_and_matches_avro_c),
        cmocka_unit_test(raw_map_keeps_zero_dates),
        cmocka_unit_test(keys_match_avro_c),
        cmocka_unit_test(table_rebuilt_from_schema),
        cmocka_unit_test(big_blob),
        cmocka_unit_test(hostile_bytes),
        cmocka_unit_test(encode_errors),
        cmocka_unit_test(decodes_unseen_debezium_schema),
        cmocka_unit_test(skips_unknown_fields),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
