/*
 * test_avro_canon.c - Parsing Canonical Form and CRC-64-AVRO (avro_canon.h).
 *
 * The expected fingerprints were computed independently with a bit-at-a-time
 * Python implementation of the Rabin fingerprint the Avro specification
 * describes (no table, reflected polynomial 0xc15d213aa4d7a795, initial value
 * the same constant), and agree with the values the specification's own test
 * data publishes (as signed 64-bit numbers, e.g. "null" = 7195948357588979594).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "avro_canon.h"
#include "err.h"

static void crc64_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t fp;
    } v[] = {
        {"", 0xc15d213aa4d7a795ULL},
        {"\"null\"", 0x63dd24e7cc258f8aULL},
        {"\"int\"", 0x7275d51a3f395c8fULL},
        {"\"long\"", 0xd054e14493f41db7ULL},
        {"\"string\"", 0x8f014872634503c7ULL},
        {"\"boolean\"", 0x9f42fc78a4d4f764ULL},
        {"\"bytes\"", 0x4fc016dac3201965ULL},
        {"\"float\"", 0x4d7c02cb3ea8d790ULL},
        {"\"double\"", 0x8e7535c032ab957eULL},
        {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}", 0x18602ec3ed31a504ULL},
        {"{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":"
         "[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
         0xe795dc6656b7e95bULL},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_true(ferry_avro_crc64(v[i].text, strlen(v[i].text)) == v[i].fp);
}

static void expect_canon(const char *in, const char *want)
{
    char err[256] = "";
    char *out = NULL;
    int rc = ferry_avro_canonical_form(in, &out, err, sizeof(err));
    if (rc)
        fail_msg("canonical form of %s failed: %s", in, err);
    assert_string_equal(out, want);
    free(out);
}

static void canonical_primitives(void **state)
{
    (void)state;
    expect_canon("\"null\"", "\"null\"");
    expect_canon("{\"type\":\"null\"}", "\"null\"");
    expect_canon("  { \"type\" : \"int\" , \"logicalType\": \"date\" } ", "\"int\"");
    expect_canon("{\"type\":\"long\",\"logicalType\":\"timestamp-micros\",\"connect.name\":\"x\"}",
                 "\"long\"");
    expect_canon("[\"null\", {\"type\":\"string\"}]", "[\"null\",\"string\"]");
}

static void canonical_named(void **state)
{
    (void)state;
    /* attributes reordered, doc/aliases/defaults/properties stripped, fullnames */
    expect_canon(
        "{\"fields\":[{\"type\":\"int\",\"name\":\"a\",\"default\":1,\"doc\":\"x\"},"
        "{\"name\":\"b\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":"
        "[\"X\",\"Y\"],\"doc\":\"d\"}},"
        "{\"name\":\"c\",\"type\":\"E\"},"
        "{\"name\":\"d\",\"type\":{\"type\":\"fixed\",\"name\":\"other.F\",\"size\":\"016\"}},"
        "{\"name\":\"e\",\"type\":\"other.F\"}],"
        "\"type\":\"record\",\"name\":\"R\",\"namespace\":\"ns.x\",\"aliases\":[\"Q\"],"
        "\"ferry.db\":\"shop\"}",
        "{\"name\":\"ns.x.R\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\"},"
        "{\"name\":\"b\",\"type\":{\"name\":\"ns.x.E\",\"type\":\"enum\",\"symbols\":"
        "[\"X\",\"Y\"]}},"
        "{\"name\":\"c\",\"type\":\"ns.x.E\"},"
        "{\"name\":\"d\",\"type\":{\"name\":\"other.F\",\"type\":\"fixed\",\"size\":16}},"
        "{\"name\":\"e\",\"type\":\"other.F\"}]}");
    /* a dotted name ignores the namespace attribute; nested types inherit its namespace */
    expect_canon("{\"type\":\"record\",\"name\":\"a.b.R\",\"namespace\":\"zzz\",\"fields\":["
                 "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\","
                 "\"items\":{\"type\":\"record\",\"name\":\"In\",\"fields\":[]}}}},"
                 "{\"name\":\"n\",\"type\":[\"null\",\"In\"]}]}",
                 "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
                 "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\","
                 "\"items\":{\"name\":\"a.b.In\",\"type\":\"record\",\"fields\":[]}}}},"
                 "{\"name\":\"n\",\"type\":[\"null\",\"a.b.In\"]}]}");
    /* escaped characters in strings become plain text */
    expect_canon("{\"type\":\"enum\",\"name\":\"\\u0045\",\"symbols\":[\"\\u0041\",\"B\"]}",
                 "{\"name\":\"E\",\"type\":\"enum\",\"symbols\":[\"A\",\"B\"]}");
    /* a property integer beyond 64 bits (jansson would refuse the whole text) is dropped */
    expect_canon("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"u\",\"type\":"
                 "\"long\",\"default\":18446744073709551615,\"x.big\":-99999999999999999999}]}",
                 "{\"name\":\"R\",\"type\":\"record\",\"fields\":[{\"name\":\"u\",\"type\":"
                 "\"long\"}]}");
    /* an empty namespace puts a nested type in no namespace */
    expect_canon("{\"type\":\"record\",\"name\":\"x.R\",\"fields\":[{\"name\":\"f\",\"type\":"
                 "{\"type\":\"record\",\"name\":\"S\",\"namespace\":\"\",\"fields\":[]}}]}",
                 "{\"name\":\"x.R\",\"type\":\"record\",\"fields\":[{\"name\":\"f\",\"type\":"
                 "{\"name\":\"S\",\"type\":\"record\",\"fields\":[]}}]}");
}

static void fingerprint_of_schema(void **state)
{
    (void)state;
    uint64_t fp = 0;
    char err[256];
    /* whitespace and extra attributes do not change the fingerprint */
    assert_int_equal(
        ferry_avro_schema_fingerprint(" { \"type\" : \"null\" } ", &fp, err, sizeof(err)), 0);
    assert_true(fp == 0x63dd24e7cc258f8aULL);
    assert_int_equal(ferry_avro_schema_fingerprint("{\"type\":\"fixed\",\"size\":15,\"name\":"
                                                   "\"foo\",\"doc\":\"x\"}",
                                                   &fp, err, sizeof(err)),
                     0);
    assert_true(fp == 0x18602ec3ed31a504ULL);
    assert_int_equal(ferry_avro_schema_fingerprint(
                         "{\"type\":\"record\",\"name\":\"PigValue\",\"fields\":[{\"name\":"
                         "\"value\",\"type\":[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
                         &fp, err, sizeof(err)),
                     0);
    assert_true(fp == 0xe795dc6656b7e95bULL);
}

static void expect_invalid(const char *in)
{
    char err[256] = "";
    char *out = NULL;
    int rc = ferry_avro_canonical_form(in, &out, err, sizeof(err));
    if (rc == 0)
        fail_msg("accepted %s as %s", in, out);
    assert_null(out);
    assert_true(strlen(err) > 0);
}

static void rejects_bad_schemas(void **state)
{
    (void)state;
    expect_invalid("");
    expect_invalid("{");
    expect_invalid("\"nosuchtype\"");
    expect_invalid("{\"type\":\"record\",\"name\":\"1bad\",\"fields\":[]}");
    expect_invalid("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                   "\"int\"},{\"name\":\"a\",\"type\":\"long\"}]}");
    expect_invalid("[\"int\",\"int\"]");
    expect_invalid("[\"null\",[\"int\"]]");
    expect_invalid("{\"type\":\"fixed\",\"name\":\"F\"}");
    expect_invalid("{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}");
    expect_invalid("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"a-b\"]}");
    expect_invalid("\"null\" junk");
    /* deep nesting is refused, not a stack overflow */
    char deep[600];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        deep[n++] = '[';
    deep[n] = '\0';
    expect_invalid(deep);
}

static void json_reader(void **state)
{
    (void)state;
    ferry_arena_t *a = ferry_arena_new(0);
    const ferry_avro_json_t *j;
    char err[128];
    const char *text = "{\"s\":\"a\\u00e9\\ud83d\\ude00\\n\",\"n\":-12,\"f\":1.5e3,\"b\":true,"
                       "\"z\":null,\"big\":99999999999999999999,\"arr\":[1,2]}";
    assert_int_equal(ferry_avro_json_parse(text, strlen(text), a, &j, err, sizeof(err)), 0);
    assert_string_equal(ferry_avro_json_get_str(j, "s"), "a\xc3\xa9\xf0\x9f\x98\x80\n");
    const ferry_avro_json_t *n = ferry_avro_json_get(j, "n");
    assert_true(n->is_int && n->ival == -12);
    assert_false(ferry_avro_json_get(j, "f")->is_int);
    assert_true(ferry_avro_json_get(j, "b")->boolean);
    assert_int_equal(ferry_avro_json_get(j, "z")->kind, FERRY_AVRO_JSON_NULL);
    assert_false(ferry_avro_json_get(j, "big")->is_int);
    assert_int_equal(ferry_avro_json_get(j, "arr")->count, 2);
    assert_null(ferry_avro_json_get(j, "missing"));
    assert_int_not_equal(ferry_avro_json_parse("{\"a\":\"\\ud83d\"}", 14, a, &j, err, sizeof(err)),
                         0);
    /* every one-letter escape, and one that JSON does not have */
    const char *esc = "{\"e\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}";
    assert_int_equal(ferry_avro_json_parse(esc, strlen(esc), a, &j, err, sizeof(err)), 0);
    assert_string_equal(ferry_avro_json_get_str(j, "e"), "\"\\/\b\f\n\r\t");
    assert_int_not_equal(ferry_avro_json_parse("\"\\x\"", 4, a, &j, err, sizeof(err)), 0);
    ferry_arena_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc64_vectors),       cmocka_unit_test(canonical_primitives),
        cmocka_unit_test(canonical_named),     cmocka_unit_test(fingerprint_of_schema),
        cmocka_unit_test(rejects_bad_schemas), cmocka_unit_test(json_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
