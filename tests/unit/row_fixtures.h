/*
 * row_fixtures.h - a table with every column type ferry models, rows with
 * edge values for it, and a way to build the same datum with avro-c's
 * generic values (the oracle for byte equality). Shared by the row, schema
 * and codec tests; header-only so each test stays one executable.
 */
#ifndef FERRY_TEST_ROW_FIXTURES_H
#define FERRY_TEST_ROW_FIXTURES_H

#include <avro.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "avro_schema.h"
#include "row.h"

#define FX_UNUSED __attribute__((unused))

static const char *const fx_enum_members[] = {"a", "b", "c"};
static const char *const fx_set_members[] = {"x", "y", "z"};

/* Column indexes of the all-types table. */
enum {
    FX_ID,
    FX_TI,
    FX_TIU,
    FX_SI,
    FX_SIU,
    FX_MI,
    FX_MIU,
    FX_I,
    FX_IU,
    FX_BI,
    FX_BIU,
    FX_DEC,
    FX_DEC0,
    FX_F,
    FX_D,
    FX_DATE,
    FX_TIME,
    FX_DTM,
    FX_TS,
    FX_Y,
    FX_VC,
    FX_CH,
    FX_TXT,
    FX_BIN,
    FX_BLOB,
    FX_BIT1,
    FX_BIT64,
    FX_ENUM,
    FX_SET,
    FX_JSON,
    FX_GEO,
    FX_UUID,
    FX_NUM,
    FX_NUMC,
    FX_ARR,
    FX_BYTEA,
    FX_TSTZ,
    FX_IV,
    FX_BOOL,
    FX_INET,
    FX_NCOLS
};

FX_UNUSED static ferry_table_t *fx_all_types_table(void)
{
#define N FERRY_COL_NULLABLE
#define U FERRY_COL_UNSIGNED
    const ferry_column_t cols[FX_NCOLS] = {
        [FX_ID] = {.name = "id",
                   .type = FERRY_TYPE_INT,
                   .source_type = "bigint",
                   .length = 8,
                   .pk_pos = 1},
        [FX_TI] = {.name = "ti",
                   .type = FERRY_TYPE_INT,
                   .source_type = "tinyint",
                   .flags = N,
                   .length = 1},
        [FX_TIU] = {.name = "tiu",
                    .type = FERRY_TYPE_UINT,
                    .source_type = "tinyint unsigned",
                    .flags = N | U,
                    .length = 1},
        [FX_SI] = {.name = "si",
                   .type = FERRY_TYPE_INT,
                   .source_type = "smallint",
                   .flags = N,
                   .length = 2},
        [FX_SIU] = {.name = "siu",
                    .type = FERRY_TYPE_UINT,
                    .source_type = "smallint unsigned",
                    .flags = N | U,
                    .length = 2},
        [FX_MI] = {.name = "mi",
                   .type = FERRY_TYPE_INT,
                   .source_type = "mediumint",
                   .flags = N,
                   .length = 3},
        [FX_MIU] = {.name = "miu",
                    .type = FERRY_TYPE_UINT,
                    .source_type = "mediumint unsigned",
                    .flags = N | U,
                    .length = 3},
        [FX_I] =
            {.name = "i", .type = FERRY_TYPE_INT, .source_type = "int", .flags = N, .length = 4},
        [FX_IU] = {.name = "iu",
                   .type = FERRY_TYPE_UINT,
                   .source_type = "int unsigned",
                   .flags = N | U,
                   .length = 4},
        [FX_BI] = {.name = "bi",
                   .type = FERRY_TYPE_INT,
                   .source_type = "bigint",
                   .flags = N,
                   .length = 8},
        [FX_BIU] = {.name = "biu",
                    .type = FERRY_TYPE_UINT,
                    .source_type = "bigint unsigned",
                    .flags = N | U,
                    .length = 8},
        [FX_DEC] = {.name = "dec",
                    .type = FERRY_TYPE_DECIMAL,
                    .source_type = "decimal(65,30)",
                    .flags = N,
                    .precision = 65,
                    .scale = 30},
        [FX_DEC0] = {.name = "dec0",
                     .type = FERRY_TYPE_DECIMAL,
                     .source_type = "decimal(10,0)",
                     .precision = 10,
                     .scale = 0},
        [FX_F] = {.name = "f", .type = FERRY_TYPE_FLOAT, .source_type = "float", .flags = N},
        [FX_D] = {.name = "d", .type = FERRY_TYPE_DOUBLE, .source_type = "double", .flags = N},
        [FX_DATE] = {.name = "dt", .type = FERRY_TYPE_DATE, .source_type = "date"},
        [FX_TIME] =
            {.name = "tm", .type = FERRY_TYPE_TIME, .source_type = "time(6)", .flags = N, .fsp = 6},
        [FX_DTM] = {.name = "dtm",
                    .type = FERRY_TYPE_DATETIME,
                    .source_type = "datetime(6)",
                    .flags = N,
                    .fsp = 6},
        [FX_TS] = {.name = "ts",
                   .type = FERRY_TYPE_TIMESTAMP,
                   .source_type = "timestamp(6)",
                   .flags = N,
                   .fsp = 6},
        [FX_Y] = {.name = "y", .type = FERRY_TYPE_YEAR, .source_type = "year", .flags = N},
        [FX_VC] = {.name = "vc",
                   .type = FERRY_TYPE_STRING,
                   .source_type = "varchar(255)",
                   .flags = N,
                   .length = 255,
                   .charset = "utf8mb4"},
        [FX_CH] = {.name = "ch",
                   .type = FERRY_TYPE_STRING,
                   .source_type = "char(10)",
                   .flags = N,
                   .length = 10,
                   .charset = "latin1"},
        [FX_TXT] = {.name = "txt",
                    .type = FERRY_TYPE_STRING,
                    .source_type = "text",
                    .flags = N,
                    .charset = "utf8mb4"},
        [FX_BIN] = {.name = "bin",
                    .type = FERRY_TYPE_BYTES,
                    .source_type = "binary(16)",
                    .flags = N,
                    .length = 16},
        [FX_BLOB] = {.name = "blob",
                     .type = FERRY_TYPE_BYTES,
                     .source_type = "longblob",
                     .flags = N},
        [FX_BIT1] = {.name = "bit1",
                     .type = FERRY_TYPE_BIT,
                     .source_type = "bit(1)",
                     .flags = N,
                     .length = 1},
        [FX_BIT64] = {.name = "bit64",
                      .type = FERRY_TYPE_BIT,
                      .source_type = "bit(64)",
                      .flags = N,
                      .length = 64},
        [FX_ENUM] = {.name = "en",
                     .type = FERRY_TYPE_ENUM,
                     .source_type = "enum('a','b','c')",
                     .flags = N,
                     .members = fx_enum_members,
                     .n_members = 3},
        [FX_SET] = {.name = "st",
                    .type = FERRY_TYPE_SET,
                    .source_type = "set('x','y','z')",
                    .flags = N,
                    .members = fx_set_members,
                    .n_members = 3},
        [FX_JSON] = {.name = "js", .type = FERRY_TYPE_JSON, .source_type = "json", .flags = N},
        [FX_GEO] = {.name = "geo",
                    .type = FERRY_TYPE_GEOMETRY,
                    .source_type = "geometry",
                    .flags = N},
        [FX_UUID] = {.name = "uid", .type = FERRY_TYPE_UUID, .source_type = "uuid", .flags = N},
        [FX_NUM] = {.name = "num",
                    .type = FERRY_TYPE_DECIMAL,
                    .source_type = "numeric",
                    .flags = N},
        [FX_NUMC] = {.name = "numc",
                     .type = FERRY_TYPE_DECIMAL,
                     .source_type = "numeric(20,5)",
                     .flags = N,
                     .precision = 20,
                     .scale = 5},
        [FX_ARR] = {.name = "arr", .type = FERRY_TYPE_ARRAY, .source_type = "int4[]", .flags = N},
        [FX_BYTEA] = {.name = "bya", .type = FERRY_TYPE_BYTES, .source_type = "bytea", .flags = N},
        [FX_TSTZ] = {.name = "tstz",
                     .type = FERRY_TYPE_TIMESTAMP,
                     .source_type = "timestamptz",
                     .flags = N,
                     .fsp = 6},
        [FX_IV] = {.name = "iv",
                   .type = FERRY_TYPE_INTERVAL,
                   .source_type = "interval",
                   .flags = N},
        [FX_BOOL] = {.name = "b", .type = FERRY_TYPE_BOOL, .source_type = "boolean", .flags = N},
        [FX_INET] = {.name = "addr", .type = FERRY_TYPE_STRING, .source_type = "inet", .flags = N},
    };
#undef N
#undef U
    ferry_table_t *t = ferry_table_new("shop", "all_types");
    char err[256];
    for (int i = 0; i < FX_NCOLS; i++)
        if (ferry_table_add_column(t, &cols[i], err, sizeof(err)))
            abort();
    return t;
}

/* Sets the four values that are the same in every variant and not null. */
static void fx_not_null(ferry_row_t *r)
{
    r->values[FX_DEC0] = ferry_value_str("42", 2);
    r->values[FX_DATE] = ferry_value_civil(2024, 2, 29, 0, 0, 0, 0);
}

#define FX_STR(s) ferry_value_str((s), sizeof(s) - 1)

/* WKB of POINT(1 2), little-endian. */
static const uint8_t fx_wkb_point[] = {0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
                                       0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x00,
                                       0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40};

/*
 * Row variants: 0 typical values, 1 minimums, 2 maximums, 3 nulls (where
 * allowed), 4 values only the raw map can carry (zero dates, NaN, infinity).
 */
#define FX_VARIANTS 5

FX_UNUSED static ferry_row_t *fx_row(ferry_arena_t *a, int variant)
{
    ferry_row_t *r = ferry_row_new(a, FX_NCOLS);
    ferry_value_t *v = r->values;
    fx_not_null(r);
    v[FX_ID] = ferry_value_int(variant + 1);
    static const uint8_t uuid[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                                     0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
    switch (variant) {
    case 0:
        v[FX_TI] = ferry_value_int(-5);
        v[FX_TIU] = ferry_value_uint(200);
        v[FX_SI] = ferry_value_int(1234);
        v[FX_SIU] = ferry_value_uint(60000);
        v[FX_MI] = ferry_value_int(-70000);
        v[FX_MIU] = ferry_value_uint(16000000);
        v[FX_I] = ferry_value_int(123456789);
        v[FX_IU] = ferry_value_uint(4000000000u);
        v[FX_BI] = ferry_value_int(-1234567890123LL);
        v[FX_BIU] = ferry_value_uint(12345678901234567890ULL);
        v[FX_DEC] = FX_STR("-12345.678900000000000000000000000000");
        v[FX_F] = ferry_value_float(12345.123f);
        v[FX_D] = ferry_value_double(12345.12345);
        v[FX_TIME] = ferry_value_int(45296123456LL);
        v[FX_DTM] = ferry_value_civil(2023, 11, 30, 12, 34, 56, 123456);
        v[FX_TS] = ferry_value_civil(2038, 1, 19, 3, 14, 7, 999999);
        v[FX_Y] = ferry_value_int(2023);
        v[FX_VC] = FX_STR("h\xc3\xa9llo \xf0\x9f\x98\x80 w\xc3\xb6rld"); /* 4-byte emoji */
        v[FX_CH] = FX_STR("foo");
        v[FX_TXT] = FX_STR("");
        v[FX_BIN] = ferry_value_str("\x00\x01\x02\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
                                    "\x00\x00",
                                    16);
        v[FX_BLOB] = ferry_value_str("\x00\xff", 2);
        v[FX_BIT1] = ferry_value_uint(1);
        v[FX_BIT64] = ferry_value_uint(0x8000000000000001ULL);
        v[FX_ENUM] = FX_STR("b");
        v[FX_SET] = FX_STR("x,z");
        v[FX_JSON] = FX_STR("{\"k\": [1, 2.5, \"\xf0\x9f\x98\x80\", null]}");
        v[FX_GEO] = ferry_value_str(fx_wkb_point, sizeof(fx_wkb_point));
        v[FX_GEO].aux = 4326;
        memcpy(v[FX_UUID].v.uuid, uuid, 16);
        v[FX_UUID].is_null = 0;
        v[FX_NUM] = FX_STR("-3.14159265358979323846264338327950288419716939937510");
        v[FX_NUMC] = FX_STR("123456789012345.12345");
        v[FX_ARR] = FX_STR("{{1,2},{3,NULL}}");
        v[FX_BYTEA] = FX_STR("\\x");
        v[FX_TSTZ] = ferry_value_civil(1999, 12, 31, 23, 59, 59, 500000);
        v[FX_IV].is_null = 0;
        v[FX_IV].v.iv = (ferry_interval_t){14, -3, 4LL * 3600000000 + 7};
        v[FX_BOOL] = ferry_value_bool(true);
        v[FX_INET] = FX_STR("192.168.0.1/24");
        break;
    case 1:
        v[FX_ID] = ferry_value_int(INT64_MIN);
        v[FX_TI] = ferry_value_int(-128);
        v[FX_TIU] = ferry_value_uint(0);
        v[FX_SI] = ferry_value_int(-32768);
        v[FX_SIU] = ferry_value_uint(0);
        v[FX_MI] = ferry_value_int(-8388608);
        v[FX_MIU] = ferry_value_uint(0);
        v[FX_I] = ferry_value_int(INT32_MIN);
        v[FX_IU] = ferry_value_uint(0);
        v[FX_BI] = ferry_value_int(INT64_MIN);
        v[FX_BIU] = ferry_value_uint(0);
        v[FX_DEC] = FX_STR("-99999999999999999999999999999999999.999999999999999999999999999999");
        v[FX_DEC0] = FX_STR("-9999999999");
        v[FX_F] = ferry_value_float(-3.402823466e+38f);
        v[FX_D] = ferry_value_double(-1.7976931348623157e308);
        v[FX_DATE] = ferry_value_civil(1000, 1, 1, 0, 0, 0, 0);
        v[FX_TIME] = ferry_value_int(-(838LL * 3600 + 59 * 60 + 59) * 1000000);
        v[FX_DTM] = ferry_value_civil(1000, 1, 1, 0, 0, 0, 0);
        v[FX_TS] = ferry_value_civil(1970, 1, 1, 0, 0, 1, 0);
        v[FX_Y] = ferry_value_int(1901);
        v[FX_VC] = FX_STR("");
        v[FX_CH] = FX_STR("");
        v[FX_TXT] = FX_STR("");
        v[FX_BIN] = ferry_value_str("", 0);
        v[FX_BLOB] = ferry_value_str("", 0);
        v[FX_BIT1] = ferry_value_uint(0);
        v[FX_BIT64] = ferry_value_uint(0);
        v[FX_ENUM] = FX_STR(""); /* MySQL's error member */
        v[FX_SET] = FX_STR("");
        v[FX_JSON] = FX_STR("null");
        v[FX_GEO] = ferry_value_str("", 0);
        v[FX_UUID].is_null = 0;
        v[FX_NUM] = FX_STR("0");
        v[FX_NUMC] = FX_STR("-999999999999999.99999");
        v[FX_ARR] = FX_STR("{}");
        v[FX_BYTEA] = ferry_value_str("", 0);
        v[FX_TSTZ] = ferry_value_civil(-4712, 1, 1, 0, 0, 0, 0);
        v[FX_IV].is_null = 0;
        v[FX_IV].v.iv = (ferry_interval_t){INT32_MIN, INT32_MIN, INT64_MIN + 1};
        v[FX_BOOL] = ferry_value_bool(false);
        v[FX_INET] = FX_STR("::1");
        break;
    case 2:
        v[FX_ID] = ferry_value_int(INT64_MAX);
        v[FX_TI] = ferry_value_int(127);
        v[FX_TIU] = ferry_value_uint(255);
        v[FX_SI] = ferry_value_int(32767);
        v[FX_SIU] = ferry_value_uint(65535);
        v[FX_MI] = ferry_value_int(8388607);
        v[FX_MIU] = ferry_value_uint(16777215);
        v[FX_I] = ferry_value_int(INT32_MAX);
        v[FX_IU] = ferry_value_uint(4294967295u);
        v[FX_BI] = ferry_value_int(INT64_MAX);
        v[FX_BIU] = ferry_value_uint(UINT64_MAX);
        v[FX_DEC] = FX_STR("99999999999999999999999999999999999.999999999999999999999999999999");
        v[FX_DEC0] = FX_STR("9999999999");
        v[FX_F] = ferry_value_float(INFINITY);
        v[FX_D] = ferry_value_double(NAN);
        v[FX_DATE] = ferry_value_civil(9999, 12, 31, 0, 0, 0, 0);
        v[FX_TIME] = ferry_value_int((838LL * 3600 + 59 * 60 + 59) * 1000000);
        v[FX_DTM] = ferry_value_civil(9999, 12, 31, 23, 59, 59, 999999);
        v[FX_TS] = ferry_value_civil(2038, 1, 19, 3, 14, 7, 999999);
        v[FX_Y] = ferry_value_int(2155);
        v[FX_VC] = FX_STR("\xf4\x8f\xbf\xbf"); /* U+10FFFF */
        v[FX_CH] = FX_STR("0123456789");
        v[FX_TXT] = FX_STR("line\nbreak\ttab \"quote\" \\");
        v[FX_BIN] = ferry_value_str("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                                    "\xff\xff",
                                    16);
        v[FX_BLOB] = ferry_value_str("\x80", 1);
        v[FX_BIT1] = ferry_value_uint(1);
        v[FX_BIT64] = ferry_value_uint(UINT64_MAX);
        v[FX_ENUM] = FX_STR("c");
        v[FX_SET] = FX_STR("x,y,z");
        v[FX_JSON] = FX_STR("[\"foo\"]");
        v[FX_GEO] = ferry_value_str(fx_wkb_point, sizeof(fx_wkb_point));
        v[FX_GEO].aux = 0xFFFFFFFFu;
        memset(v[FX_UUID].v.uuid, 0xff, 16);
        v[FX_UUID].is_null = 0;
        v[FX_NUM] = FX_STR("1e5"); /* not decimal text, but numeric's string field keeps it */
        v[FX_NUMC] = FX_STR("999999999999999.99999");
        v[FX_ARR] = FX_STR("[0:1]={\"a b\",\"c\\\"d\"}");
        v[FX_BYTEA] = ferry_value_str("\x00", 1);
        v[FX_TSTZ] = ferry_value_civil(294276, 12, 31, 23, 59, 59, 999999);
        v[FX_IV].is_null = 0;
        v[FX_IV].v.iv = (ferry_interval_t){INT32_MAX, INT32_MAX, INT64_MAX};
        v[FX_BOOL] = ferry_value_bool(true);
        v[FX_INET] = FX_STR("");
        break;
    case 3:
        break; /* everything nullable stays null */
    case 4:
        v[FX_DATE] = ferry_value_civil(0, 0, 0, 0, 0, 0, 0);   /* 0000-00-00 */
        v[FX_DTM] = ferry_value_civil(2024, 0, 0, 0, 0, 0, 0); /* 2024-00-00 00:00:00 */
        v[FX_TS] = ferry_value_civil(0, 0, 0, 0, 0, 0, 0);     /* zero TIMESTAMP */
        v[FX_TSTZ].is_null = 0;
        v[FX_TSTZ].flags = FERRY_VALUE_POS_INFINITY;
        v[FX_NUMC] = FX_STR("NaN");
        v[FX_DEC] = FX_STR("0.000000000000000000000000000000");
        v[FX_NUM] = FX_STR("-Infinity");
        v[FX_TIME] = ferry_value_int(-500000); /* -00:00:00.5 */
        v[FX_DEC0] = FX_STR("0");
        break;
    }
    return r;
}

/* ---- avro-c oracle --------------------------------------------------- */

static void fx_check(int rc)
{
    if (rc) {
        fprintf(stderr, "avro-c: %s\n", avro_strerror());
        abort();
    }
}

/* Sets a string on an avro-c value from a counted, not NUL-terminated span. */
static void fx_set_string(avro_value_t *v, const char *p, size_t n)
{
    char *tmp = malloc(n + 1);
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    fx_check(avro_value_set_string_len(v, tmp, n + 1));
    free(tmp);
}

/* Text of a value the Avro field cannot carry, or NULL (same rule as the codec's). */
static const char *fx_raw_text(const ferry_column_t *c, const ferry_value_t *v, char *buf,
                               size_t size)
{
    if (v->is_null)
        return NULL;
    int64_t x;
    switch (c->type) {
    case FERRY_TYPE_DATE:
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        if (v->flags)
            return v->flags & FERRY_VALUE_POS_INFINITY ? "infinity" : "-infinity";
        if (c->type == FERRY_TYPE_DATE ? ferry_value_civil_is_valid(&v->v.dt)
                                       : ferry_value_civil_to_micros(&v->v.dt, &x))
            return NULL;
        ferry_value_format_civil(&v->v.dt, c->type == FERRY_TYPE_DATE, 6, buf, size);
        return buf;
    case FERRY_TYPE_DECIMAL: {
        uint8_t b[FERRY_DECIMAL_MAX_BYTES];
        size_t n;
        if (c->precision == 0 ||
            !ferry_value_decimal_to_bytes(v->v.s.ptr, v->v.s.len, c->scale, b, sizeof(b), &n))
            return NULL;
        snprintf(buf, size, "%.*s", (int)v->v.s.len, v->v.s.ptr);
        return buf;
    }
    default:
        return NULL;
    }
}

static void fx_set_value(avro_value_t *f, const ferry_column_t *c, const ferry_value_t *v)
{
    uint8_t b[FERRY_DECIMAL_MAX_BYTES];
    size_t n;
    char txt[128];
    int64_t x;
    avro_type_t t = avro_value_get_type(f);
    switch (c->type) {
    case FERRY_TYPE_BOOL:
        fx_check(avro_value_set_boolean(f, v->v.b));
        break;
    case FERRY_TYPE_INT:
    case FERRY_TYPE_YEAR:
        fx_check(t == AVRO_INT32 ? avro_value_set_int(f, (int32_t)v->v.i)
                                 : avro_value_set_long(f, v->v.i));
        break;
    case FERRY_TYPE_UINT:
        if (t == AVRO_BYTES) {
            uint64_t u = v->v.u;
            uint8_t be[9] = {0};
            for (int i = 0; i < 8; i++)
                be[1 + i] = (uint8_t)(u >> (56 - 8 * i));
            int s = 0;
            while (s < 8 && be[s] == 0 && !(be[s + 1] & 0x80))
                s++;
            fx_check(avro_value_set_bytes(f, be + s, (size_t)(9 - s)));
        } else {
            fx_check(t == AVRO_INT32 ? avro_value_set_int(f, (int32_t)v->v.u)
                                     : avro_value_set_long(f, (int64_t)v->v.u));
        }
        break;
    case FERRY_TYPE_FLOAT:
        fx_check(avro_value_set_float(f, v->v.f));
        break;
    case FERRY_TYPE_DOUBLE:
        fx_check(avro_value_set_double(f, v->v.d));
        break;
    case FERRY_TYPE_DECIMAL:
        if (t == AVRO_STRING) {
            fx_set_string(f, v->v.s.ptr, v->v.s.len);
        } else {
            if (ferry_value_decimal_to_bytes(v->v.s.ptr, v->v.s.len, c->scale, b, sizeof(b), &n))
                abort();
            fx_check(avro_value_set_bytes(f, b, n));
        }
        break;
    case FERRY_TYPE_DATE:
        fx_check(avro_value_set_int(
            f, (int32_t)ferry_value_days_from_civil(v->v.dt.year, v->v.dt.month, v->v.dt.day)));
        break;
    case FERRY_TYPE_TIME:
        fx_check(avro_value_set_long(f, v->v.i));
        break;
    case FERRY_TYPE_DATETIME:
    case FERRY_TYPE_TIMESTAMP:
        if (!ferry_value_civil_to_micros(&v->v.dt, &x))
            abort();
        fx_check(avro_value_set_long(f, x));
        break;
    case FERRY_TYPE_STRING:
    case FERRY_TYPE_ENUM:
    case FERRY_TYPE_SET:
    case FERRY_TYPE_JSON:
    case FERRY_TYPE_ARRAY:
        fx_set_string(f, v->v.s.ptr, v->v.s.len);
        break;
    case FERRY_TYPE_BYTES:
        fx_check(avro_value_set_bytes(f, (void *)v->v.s.ptr, v->v.s.len));
        break;
    case FERRY_TYPE_BIT:
        if (t == AVRO_BOOLEAN) {
            fx_check(avro_value_set_boolean(f, v->v.u != 0));
        } else {
            size_t nb = (c->length + 7) / 8;
            for (size_t i = 0; i < nb; i++)
                b[i] = (uint8_t)(v->v.u >> (8 * i));
            fx_check(avro_value_set_bytes(f, b, nb));
        }
        break;
    case FERRY_TYPE_GEOMETRY: {
        avro_value_t wkb, srid, br;
        fx_check(avro_value_get_by_name(f, "wkb", &wkb, NULL));
        fx_check(avro_value_set_bytes(&wkb, (void *)v->v.s.ptr, v->v.s.len));
        fx_check(avro_value_get_by_name(f, "srid", &srid, NULL));
        fx_check(avro_value_set_branch(&srid, 1, &br));
        fx_check(avro_value_set_int(&br, (int32_t)v->aux));
        break;
    }
    case FERRY_TYPE_UUID:
        ferry_value_format_uuid(v->v.uuid, txt);
        fx_set_string(f, txt, 36);
        break;
    case FERRY_TYPE_INTERVAL:
        n = ferry_value_format_interval(&v->v.iv, txt, sizeof(txt));
        fx_set_string(f, txt, n);
        break;
    }
}

/*
 * Fills an avro-c record (Value or Key: the fields present in rec) from a
 * full row of table t; field names equal column names in this fixture.
 */
FX_UNUSED static void fx_avroc_record(avro_value_t *rec, const ferry_table_t *t,
                                      const ferry_row_t *row)
{
    avro_value_t raw;
    bool have_raw = avro_value_get_by_name(rec, FERRY_AVRO_RAW_FIELD, &raw, NULL) == 0;
    for (size_t i = 0; i < ferry_table_ncolumns(t); i++) {
        const ferry_column_t *c = ferry_table_column(t, i);
        avro_value_t f, br;
        if (avro_value_get_by_name(rec, c->name, &f, NULL))
            continue; /* not in this record (a Key) */
        const ferry_value_t *v = &row->values[i];
        char buf[128];
        const char *rawtext = fx_raw_text(c, v, buf, sizeof(buf));
        if (rawtext && have_raw) {
            avro_value_t e;
            fx_check(avro_value_add(&raw, c->name, &e, NULL, NULL));
            fx_set_string(&e, rawtext, strlen(rawtext));
        }
        if (avro_value_get_type(&f) == AVRO_UNION) {
            if (v->is_null || rawtext) {
                fx_check(avro_value_set_branch(&f, 0, &br));
                fx_check(avro_value_set_null(&br));
                continue;
            }
            fx_check(avro_value_set_branch(&f, 1, &br));
            fx_set_value(&br, c, v);
        } else {
            fx_set_value(&f, c, v);
        }
    }
}

#endif
