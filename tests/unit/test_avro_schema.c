/*
 * test_avro_schema.c - Debezium-shaped schema generation (avro_schema.h) and
 * the .avsc contracts in schemas/.
 */
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
#include "avro_schema.h"
#include "err.h"
#include "row_fixtures.h"

static char *read_file(const char *rel)
{
    const char *src = getenv("FERRY_SRC");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", src ? src : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("could not open \"%s\" (set FERRY_SRC)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The schema parses with avro-c and with ferry's own parser. */
static void parses_everywhere(const char *json)
{
    avro_schema_t s = NULL;
    if (avro_schema_from_json_length(json, strlen(json), &s))
        fail_msg("avro-c rejects the schema: %s\n%s", avro_strerror(), json);
    avro_schema_decref(s);
    uint64_t fp;
    char err[256];
    if (ferry_avro_schema_fingerprint(json, &fp, err, sizeof(err)))
        fail_msg("ferry rejects the schema: %s\n%s", err, json);
}

static void source_avsc_matches_c(void **state)
{
    (void)state;
    char *file = read_file("schemas/source.avsc");
    assert_string_equal(file, ferry_avro_schema_source());
    free(file);
}

static void avsc_files_parse(void **state)
{
    (void)state;
    const char *files[] = {"schemas/source.avsc", "schemas/ddl_event.avsc",
                           "schemas/source_position.avsc", "schemas/chunk_task.avsc"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *json = read_file(files[i]);
        parses_everywhere(json);
        free(json);
    }
}

static void all_types_schema(void **state)
{
    (void)state;
    ferry_table_t *t = fx_all_types_table();
    ferry_avro_schemas_t s;
    char err[256];
    assert_int_equal(ferry_avro_schema_generate(t, "ferry.shop-mig.fwd", &s, err, sizeof(err)), 0);
    parses_everywhere(s.envelope_json);
    parses_everywhere(s.value_json);
    parses_everywhere(s.key_json);
    /* names: the project's dash is rewritten, the rest kept */
    assert_non_null(
        strstr(s.envelope_json, "\"name\":\"Envelope\",\"namespace\":\"ferry.shop_mig_"));
    assert_non_null(strstr(s.value_json, ".fwd.shop.all_types\""));
    /* Debezium's mappings */
    assert_non_null(strstr(s.value_json,
                           "{\"name\":\"biu\",\"type\":[\"null\",{\"type\":\"bytes\","
                           "\"logicalType\":\"decimal\",\"precision\":20,\"scale\":0}]"));
    assert_non_null(strstr(s.value_json,
                           "{\"name\":\"dec\",\"type\":[\"null\",{\"type\":\"bytes\","
                           "\"logicalType\":\"decimal\",\"precision\":65,\"scale\":30}]"));
    assert_non_null(strstr(s.value_json, "{\"name\":\"tiu\",\"type\":[\"null\",\"int\"]"));
    assert_non_null(strstr(s.value_json, "{\"name\":\"iu\",\"type\":[\"null\",\"long\"]"));
    assert_non_null(strstr(s.value_json, "\"logicalType\":\"time-micros\""));
    assert_non_null(strstr(s.value_json, "\"logicalType\":\"timestamp-micros\""));
    assert_non_null(strstr(s.value_json, "\"logicalType\":\"uuid\""));
    assert_non_null(strstr(s.value_json, "{\"name\":\"bit1\",\"type\":[\"null\",\"boolean\"]"));
    assert_non_null(strstr(s.value_json, "io.debezium.data.Bits"));
    assert_non_null(strstr(s.value_json, "{\"name\":\"num\",\"type\":[\"null\",\"string\"]"));
    /* a NOT NULL DATE is still a union: a zero date travels as null plus raw text */
    assert_non_null(strstr(s.value_json, "{\"name\":\"dt\",\"type\":[\"null\",{\"type\":\"int\","
                                         "\"logicalType\":\"date\""));
    assert_non_null(strstr(s.value_json, "\"name\":\"" FERRY_AVRO_RAW_FIELD "\""));
    /* a NOT NULL DECIMAL(10,0) too; a NOT NULL BIGINT is not */
    assert_non_null(strstr(s.value_json, "{\"name\":\"dec0\",\"type\":[\"null\","));
    assert_non_null(strstr(s.value_json, "{\"name\":\"id\",\"type\":\"long\""));
    /* properties that rebuild the column */
    assert_non_null(strstr(s.value_json, "\"ferry.members\":[\"a\",\"b\",\"c\"]"));
    assert_non_null(strstr(s.value_json, "\"ferry.source_type\":\"decimal(65,30)\""));
    assert_non_null(strstr(s.value_json, "\"ferry.charset\":\"latin1\""));
    /* the Key has the key column only, without a raw map */
    assert_non_null(strstr(s.key_json, "\"name\":\"Key\""));
    assert_non_null(strstr(s.key_json, "{\"name\":\"id\",\"type\":\"long\""));
    assert_null(strstr(s.key_json, FERRY_AVRO_RAW_FIELD));
    assert_null(strstr(s.key_json, "\"name\":\"ti\""));
    /* envelope: Value defined once, then referenced; Source and block embedded */
    assert_non_null(strstr(s.envelope_json, "{\"name\":\"after\",\"type\":[\"null\",\"ferry."));
    assert_non_null(strstr(s.envelope_json, "\"name\": \"Source\""));
    assert_non_null(strstr(s.envelope_json, "\"name\":\"block\",\"namespace\":\"event\""));
    uint64_t fp;
    assert_int_equal(ferry_avro_schema_fingerprint(s.envelope_json, &fp, err, sizeof(err)), 0);
    assert_true(fp == s.envelope_fingerprint);
    assert_true(s.key_fingerprint != 0);

    /* deterministic */
    ferry_avro_schemas_t s2;
    assert_int_equal(ferry_avro_schema_generate(t, "ferry.shop-mig.fwd", &s2, err, sizeof(err)), 0);
    assert_string_equal(s.envelope_json, s2.envelope_json);
    assert_string_equal(s.key_json, s2.key_json);
    ferry_avro_schema_release(&s2);
    ferry_avro_schema_release(&s);
    ferry_avro_schema_release(NULL);
    ferry_table_destroy(t);
}

static void name_rules(void **state)
{
    (void)state;
    char out[128];
    assert_int_equal(ferry_avro_schema_name("plain_Name1", out, sizeof(out)), 0);
    assert_string_equal(out, "plain_Name1");
    assert_int_equal(ferry_avro_schema_name("a-b", out, sizeof(out)), 0);
    assert_int_equal(strncmp(out, "a_b_", 4), 0);
    assert_int_equal(strlen(out), 12);
    assert_int_equal(ferry_avro_schema_name("1st", out, sizeof(out)), 0);
    assert_int_equal(strncmp(out, "_1st_", 5), 0);
    /* a 4-byte UTF-8 character becomes a single '_' */
    assert_int_equal(ferry_avro_schema_name("\xf0\x9f\x98\x80x", out, sizeof(out)), 0);
    assert_int_equal(strncmp(out, "_x_", 3), 0);
    assert_int_equal(ferry_avro_schema_name("", out, sizeof(out)), 0);
    assert_int_equal(out[0], '_');
    assert_int_equal(ferry_avro_schema_name("a-b", out, 5), FERRY_ERR_TRUNCATED);
    char again[128];
    ferry_avro_schema_name("a b", again, sizeof(again));
    ferry_avro_schema_name("a-b", out, sizeof(out));
    assert_string_not_equal(out, again);
}

static bool valid_avro_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

static void awkward_names(void **state)
{
    (void)state;
    char hashed[64];
    ferry_avro_schema_name("a-b", hashed, sizeof(hashed));
    const char *names[] = {
        "order date",
        "order-date",
        "order_date",
        "`tick`",
        "select",
        "int",
        "null",
        "record",
        "namespace",
        "\xf0\x9f\x98\x80",
        "\xf0\x9f\x98\x81",
        "9lives",
        "_9lives",
        "a-b",
        hashed, /* a column literally named like another's rewrite */
        "a-b_2",
        "caf\xc3\xa9",
        "cafe",
        "",
        FERRY_AVRO_RAW_FIELD,
        "x\"y\\z",
    };
    size_t n = sizeof(names) / sizeof(names[0]);
    ferry_table_t *t = ferry_table_new("my-db", "1 weird`table\xf0\x9f\x98\x80");
    char err[256];
    for (size_t i = 0; i < n; i++) {
        ferry_column_t c = {.name = names[i],
                            .type = FERRY_TYPE_STRING,
                            .flags = FERRY_COL_NULLABLE,
                            .pk_pos = (uint16_t)(i == 3 ? 1 : 0)};
        assert_int_equal(ferry_table_add_column(t, &c, err, sizeof(err)), 0);
    }
    ferry_avro_schemas_t s;
    assert_int_equal(ferry_avro_schema_generate(t, "ferry.proj 1.rev", &s, err, sizeof(err)), 0);
    parses_everywhere(s.envelope_json);
    parses_everywhere(s.key_json);

    /* read the field names back: all valid, all distinct, originals kept */
    ferry_arena_t *a = ferry_arena_new(0);
    const ferry_avro_node_t *root;
    assert_int_equal(
        ferry_avro_parse(s.value_json, strlen(s.value_json), a, &root, err, sizeof(err)), 0);
    assert_int_equal(root->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(valid_avro_name(root->names[i]));
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(root->names[i], root->names[k]);
        assert_string_equal(ferry_avro_json_get_str(root->field_json[i], "ferry.column"), names[i]);
    }
    assert_string_equal(root->names[4], "select"); /* valid names stay as they are */
    assert_string_equal(root->names[6], "null");
    assert_string_equal(root->names[2], "order_date");
    assert_true(valid_avro_name(strrchr(root->fullname, '.') + 1));
    assert_string_equal(ferry_avro_json_get_str(root->json, "ferry.table"),
                        "1 weird`table\xf0\x9f\x98\x80");

    /* same input, same output */
    ferry_avro_schemas_t s2;
    assert_int_equal(ferry_avro_schema_generate(t, "ferry.proj 1.rev", &s2, err, sizeof(err)), 0);
    assert_string_equal(s.envelope_json, s2.envelope_json);
    ferry_avro_schema_release(&s2);
    ferry_avro_schema_release(&s);
    ferry_arena_destroy(a);
    ferry_table_destroy(t);
}

static void keys(void **state)
{
    (void)state;
    char err[256];
    ferry_table_t *t = ferry_table_new("d", "t");
    ferry_column_t cs[] = {
        {.name = "v", .type = FERRY_TYPE_STRING},
        {.name = "k2", .type = FERRY_TYPE_DATETIME, .fsp = 0, .pk_pos = 2},
        {.name = "k1", .type = FERRY_TYPE_INT, .length = 4, .pk_pos = 1},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ferry_table_add_column(t, &cs[i], err, sizeof(err)), 0);
    ferry_avro_schemas_t s;
    assert_int_equal(ferry_avro_schema_generate(t, "p", &s, err, sizeof(err)), 0);
    parses_everywhere(s.key_json);
    /* key order follows pk_pos; a datetime key carries a raw map for zero dates */
    char *k1 = strstr(s.key_json, "\"name\":\"k1\""), *k2 = strstr(s.key_json, "\"name\":\"k2\"");
    assert_non_null(k1);
    assert_non_null(k2);
    assert_true(k1 < k2);
    assert_non_null(strstr(s.key_json, FERRY_AVRO_RAW_FIELD));
    assert_non_null(strstr(s.key_json, "\"ferry.ordinal\":2"));
    ferry_avro_schema_release(&s);
    ferry_table_destroy(t);

    /* no key columns: no key schema */
    t = ferry_table_new("d", "nokey");
    ferry_column_t c = {.name = "v", .type = FERRY_TYPE_STRING};
    assert_int_equal(ferry_table_add_column(t, &c, err, sizeof(err)), 0);
    assert_int_equal(ferry_avro_schema_generate(t, "p", &s, err, sizeof(err)), 0);
    assert_null(s.key_json);
    assert_true(s.key_fingerprint == 0);
    ferry_avro_schema_release(&s);
    ferry_table_destroy(t);

    /* no columns at all is an error that names the table */
    t = ferry_table_new("d", "empty");
    assert_int_equal(ferry_avro_schema_generate(t, "p", &s, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "\"empty\""));
    ferry_table_destroy(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(source_avsc_matches_c), cmocka_unit_test(avsc_files_parse),
        cmocka_unit_test(all_types_schema),      cmocka_unit_test(name_rules),
        cmocka_unit_test(awkward_names),         cmocka_unit_test(keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
