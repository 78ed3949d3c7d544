/*
 * test_chunk - chunk tasks and the SQL of the full load: boundary, count
 * and range queries for single, composite and string keys, literals that
 * no byte can break out of, awkward identifiers, the Avro form of a task
 * (against schemas/chunk_task.avsc and avro-c), and the row reader's
 * parsing of text-protocol cells.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "err.h"
#include "fullload.h"
#include "mysql_rows.h"
#include "wire.h"

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
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

static ferry_table_t *table_of(const char *db, const char *name, const ferry_column_t *cols,
                               size_t n)
{
    ferry_table_t *t = ferry_table_new(db, name);
    char err[256];
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ferry_table_add_column(t, &cols[i], err, sizeof(err)), 0);
    return t;
}

#define V(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }

static char *sql_of(ferry_strbuf_t *sb)
{
    assert_false(sb->oom);
    return sb->buf;
}

static void single_int_key(void **state)
{
    (void)state;
    ferry_column_t cols[] = {{.name = "v", .type = FERRY_TYPE_STRING},
                             {.name = "id", .type = FERRY_TYPE_INT, .length = 4, .pk_pos = 1}};
    ferry_table_t *t = table_of("shop", "orders", cols, 2);
    assert_true(ferry_chunk_table_splittable(t));
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    char err[256];
    assert_int_equal(ferry_chunk_sql_boundary(&sb, t, NULL, 499, err, sizeof(err)), 0);
    assert_string_equal(sql_of(&sb),
                        "SELECT `id` FROM `shop`.`orders` ORDER BY `id` LIMIT 1 OFFSET 499");
    ferry_strbuf_free(&sb);
    ferry_chunk_value_t after[] = {V("-42")};
    assert_int_equal(ferry_chunk_sql_boundary(&sb, t, after, 9, err, sizeof(err)), 0);
    assert_string_equal(sql_of(&sb), "SELECT `id` FROM `shop`.`orders` WHERE `id` > -42 ORDER "
                                     "BY `id` LIMIT 1 OFFSET 9");
    ferry_strbuf_free(&sb);
    assert_int_equal(ferry_chunk_sql_count(&sb, t, after, 500, err, sizeof(err)), 0);
    assert_string_equal(sql_of(&sb),
                        "SELECT COUNT(*) FROM (SELECT 1 FROM `shop`.`orders` WHERE `id` > -42 "
                        "ORDER BY `id` LIMIT 500) AS `c`");
    ferry_strbuf_free(&sb);

    /* a number that could read as an expression is refused */
    ferry_chunk_value_t bad[] = {V("1-2")};
    assert_int_equal(ferry_chunk_sql_boundary(&sb, t, bad, 1, err, sizeof(err)), FERRY_ERR_INVALID);
    ferry_strbuf_free(&sb);
    ferry_chunk_value_t bad2[] = {V("1 OR 1=1")};
    assert_int_equal(ferry_chunk_sql_compare(&sb, t, bad2, true, false, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    ferry_strbuf_free(&sb);
    ferry_table_destroy(t);
}

static void composite_string_key_and_awkward_names(void **state)
{
    (void)state;
    ferry_column_t cols[] = {
        {.name = "pay`load", .type = FERRY_TYPE_BYTES},
        {.name = "na me`", .type = FERRY_TYPE_STRING, .charset = "utf8mb4", .pk_pos = 2},
        {.name = "a", .type = FERRY_TYPE_INT, .length = 8, .pk_pos = 1},
        {.name = "b", .type = FERRY_TYPE_BYTES, .length = 4, .pk_pos = 3},
    };
    ferry_table_t *t = table_of("we`ird db", "t.x", cols, 4);
    size_t idx[4];
    assert_int_equal(ferry_chunk_key_columns(t, idx), 3);
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[1], 1);
    assert_int_equal(idx[2], 3);
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    char err[256];
    /* a quote, a backslash and a 4-byte character cannot escape a hex literal */
    ferry_chunk_value_t v[] = {V("7"), V("it's\\ \xf0\x9f\x98\x80"), V("\x00\xff")};
    assert_int_equal(ferry_chunk_sql_compare(&sb, t, v, true, false, err, sizeof(err)), 0);
    assert_string_equal(
        sql_of(&sb),
        "(`a` >= 7 AND (`a` > 7 OR (`a` = 7 AND (`na me``` > "
        "_utf8mb4 X'697427735C20F09F9880' OR (`na me``` = _utf8mb4 X'697427735C20F09F9880' "
        "AND `b` > X'00FF')))))");
    ferry_strbuf_free(&sb);
    assert_int_equal(ferry_chunk_sql_compare(&sb, t, v, false, true, err, sizeof(err)), 0);
    assert_string_equal(
        sql_of(&sb),
        "(`a` <= 7 AND (`a` < 7 OR (`a` = 7 AND (`na me``` < "
        "_utf8mb4 X'697427735C20F09F9880' OR (`na me``` = _utf8mb4 X'697427735C20F09F9880' "
        "AND `b` <= X'00FF')))))");
    ferry_strbuf_free(&sb);
    assert_int_equal(ferry_chunk_sql_boundary(&sb, t, NULL, 0, err, sizeof(err)), 0);
    assert_string_equal(sql_of(&sb), "SELECT `a`,`na me```,`b` FROM `we``ird db`.`t.x` ORDER BY "
                                     "`a`,`na me```,`b` LIMIT 1 OFFSET 0");
    ferry_strbuf_free(&sb);

    /* the range SELECT of a task between two bounds */
    ferry_chunk_task_t *task = ferry_chunk_task_new();
    const char *keys[] = {"a", "na me`", "b"};
    ferry_chunk_value_t lo[] = {V("1"), V("x"), V("\x01")}, hi[] = {V("2"), V(""), V("")};
    task->db = "we`ird db";
    task->table = "t.x";
    task->n_keys = 3;
    task->key_columns = keys;
    task->lower = lo;
    task->upper = hi;
    task->lower_inclusive = false;
    task->upper_inclusive = true;
    assert_int_equal(ferry_chunk_sql_select(&sb, t, task, err, sizeof(err)), 0);
    assert_string_equal(
        sql_of(&sb),
        "SELECT `pay``load`,`na me```,`a`,`b` FROM `we``ird db`.`t.x` WHERE (`a` >= 1 AND (`a` > 1 "
        "OR (`a` = 1 AND (`na me``` > _utf8mb4 X'78' OR (`na me``` = _utf8mb4 X'78' AND `b` > "
        "X'01'))))) AND (`a` <= 2 AND (`a` < 2 OR (`a` = 2 AND (`na me``` < _utf8mb4 X'' OR "
        "(`na me``` = _utf8mb4 X'' AND `b` <= X''))))) ORDER BY `a`,`na me```,`b`");
    ferry_strbuf_free(&sb);

    /* a row filter is one more condition on the range */
    assert_int_equal(ferry_chunk_sql_select_where(&sb, t, task, "(`a` > 7)", err, sizeof(err)), 0);
    assert_non_null(strstr(sql_of(&sb), "X''))))) AND ((`a` > 7)) ORDER BY `a`"));
    ferry_strbuf_free(&sb);

    /* a task planned with other key columns is refused, naming table and chunk */
    keys[1] = "other";
    task->chunk_id = 4;
    assert_int_equal(ferry_chunk_sql_select(&sb, t, task, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "chunk \"we`ird db.t\\.x#4@0\""));
    ferry_strbuf_free(&sb);
    ferry_chunk_task_destroy(task);
    ferry_table_destroy(t);
}

static void literals_per_type(void **state)
{
    (void)state;
    char err[256];
    struct {
        ferry_type_t type;
        const char *in;
        const char *out;
        int rc;
    } cases[] = {
        {FERRY_TYPE_UINT, "18446744073709551615", "18446744073709551615", 0},
        {FERRY_TYPE_DECIMAL, "-12.3400", "-12.3400", 0},
        {FERRY_TYPE_DECIMAL, "1.", NULL, FERRY_ERR_INVALID},
        {FERRY_TYPE_DATETIME, "0000-00-00 00:00:00.000000", "'0000-00-00 00:00:00.000000'", 0},
        {FERRY_TYPE_TIME, "-838:59:59", "'-838:59:59'", 0},
        {FERRY_TYPE_YEAR, "0000", "'0000'", 0},
        {FERRY_TYPE_DATE, "2024-01-01' OR '1", NULL, FERRY_ERR_INVALID},
        {FERRY_TYPE_UUID, "123e4567-e89b-12d3-a456-426614174000",
         "'123e4567-e89b-12d3-a456-426614174000'", 0},
        {FERRY_TYPE_STRING, "", "_utf8mb4 X''", 0},
        {FERRY_TYPE_DOUBLE, "0.1", NULL, FERRY_ERR_UNSUPPORTED},
        {FERRY_TYPE_ENUM, "a", NULL, FERRY_ERR_UNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ferry_column_t col = {.name = "c", .type = cases[i].type};
        ferry_chunk_value_t v = {cases[i].in, strlen(cases[i].in)};
        ferry_strbuf_t sb = FERRY_STRBUF_INIT;
        int rc = ferry_chunk_sql_literal(&sb, &col, &v, err, sizeof(err));
        assert_int_equal(rc, cases[i].rc);
        if (!rc)
            assert_string_equal(sb.buf, cases[i].out);
        ferry_strbuf_free(&sb);
    }
}

static void unsplittable_tables(void **state)
{
    (void)state;
    ferry_column_t nokey[] = {{.name = "a", .type = FERRY_TYPE_INT}};
    ferry_column_t fkey[] = {{.name = "f", .type = FERRY_TYPE_DOUBLE, .pk_pos = 1}};
    ferry_table_t *t1 = table_of("d", "nokey", nokey, 1);
    ferry_table_t *t2 = table_of("d", "fkey", fkey, 1);
    assert_false(ferry_chunk_table_splittable(t1));
    assert_false(ferry_chunk_table_splittable(t2));
    /* a whole-table task reads without bounds or order */
    ferry_chunk_task_t *task = ferry_chunk_task_new();
    task->db = "d";
    task->table = "nokey";
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    char err[256];
    assert_int_equal(ferry_chunk_sql_select(&sb, t1, task, err, sizeof(err)), 0);
    assert_string_equal(sql_of(&sb), "SELECT `a` FROM `d`.`nokey`");
    ferry_strbuf_free(&sb);
    assert_int_equal(ferry_chunk_sql_select_where(&sb, t1, task, "(`a` IS NULL)", err, sizeof(err)),
                     0);
    assert_string_equal(sql_of(&sb), "SELECT `a` FROM `d`.`nokey` WHERE ((`a` IS NULL))");
    ferry_strbuf_free(&sb);
    ferry_chunk_task_destroy(task);
    ferry_table_destroy(t1);
    ferry_table_destroy(t2);
}

static void task_roundtrip(void **state)
{
    (void)state;
    char *file = read_file("schemas/chunk_task.avsc");
    assert_non_null(file);
    assert_string_equal(file, ferry_chunk_task_schema());
    free(file);

    ferry_chunk_task_t *task = ferry_chunk_task_new();
    const char *keys[] = {"a", "b"};
    ferry_chunk_value_t lo[] = {V("1"), V("x\0y")}, hi[] = {V("9"), V("\xff")};
    task->db = "shop";
    task->table = "or.ders#";
    task->chunk_id = 17;
    task->generation = 2;
    task->n_keys = 2;
    task->key_columns = keys;
    task->lower = lo;
    task->upper = hi;
    task->estimated_rows = 500;
    task->planned_ts_ms = 1700000000000;
    ferry_strbuf_t id = FERRY_STRBUF_INIT;
    ferry_chunk_task_id(task, &id);
    assert_string_equal(id.buf, "shop.or\\.ders\\##17@2");
    ferry_strbuf_free(&id);

    ferry_avro_buf_t buf = {0};
    char err[256];
    assert_int_equal(ferry_chunk_task_encode(task, &buf, err, sizeof(err)), 0);
    ferry_wire_info_t info;
    assert_int_equal(ferry_wire_parse(buf.data, buf.len, &info), 0);
    assert_int_equal(info.format, FERRY_WIRE_SINGLE_OBJECT);

    /* avro-c reads the body with the .avsc schema */
    avro_schema_t schema;
    const char *json = ferry_chunk_task_schema();
    assert_int_equal(avro_schema_from_json_length(json, strlen(json), &schema), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t rec;
    avro_generic_value_new(iface, &rec);
    avro_reader_t rd = avro_reader_memory((const char *)info.body, (int64_t)info.body_len);
    assert_int_equal(avro_value_read(rd, &rec), 0);
    avro_value_t f;
    const char *s;
    size_t n;
    int64_t l;
    assert_int_equal(avro_value_get_by_name(&rec, "table", &f, NULL), 0);
    avro_value_get_string(&f, &s, &n);
    assert_string_equal(s, "or.ders#");
    assert_int_equal(avro_value_get_by_name(&rec, "chunk_id", &f, NULL), 0);
    avro_value_get_long(&f, &l);
    assert_int_equal(l, 17);
    avro_reader_free(rd);
    avro_value_decref(&rec);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);

    ferry_chunk_task_t *back;
    assert_int_equal(ferry_chunk_task_decode(buf.data, buf.len, &back, err, sizeof(err)), 0);
    assert_string_equal(back->db, "shop");
    assert_string_equal(back->table, "or.ders#");
    assert_int_equal(back->chunk_id, 17);
    assert_int_equal(back->generation, 2);
    assert_int_equal(back->chunks_total, -1);
    assert_int_equal(back->estimated_rows, 500);
    assert_int_equal(back->n_keys, 2);
    assert_string_equal(back->key_columns[1], "b");
    assert_int_equal(back->lower[1].len, 3);
    assert_memory_equal(back->lower[1].data, "x\0y", 3);
    assert_memory_equal(back->upper[1].data, "\xff", 1);
    assert_false(back->lower_inclusive);
    assert_true(back->upper_inclusive);
    ferry_chunk_task_destroy(back);

    /* every truncation of the message is refused, never read past */
    for (size_t cut = 0; cut < buf.len; cut++) {
        int rc = ferry_chunk_task_decode(buf.data, cut, &back, err, sizeof(err));
        assert_true(rc < 0);
        assert_null(back);
    }
    ferry_avro_buf_free(&buf);
    ferry_chunk_task_destroy(task);
}

static void cells_parse(void **state)
{
    (void)state;
    char err[256];
    ferry_value_t v;
    ferry_column_t u64 = {.name = "u", .type = FERRY_TYPE_UINT, .length = 8};
    assert_int_equal(
        ferry_mysql_rows_parse_value(&u64, "18446744073709551615", 20, &v, err, sizeof(err)), 0);
    assert_true(v.v.u == UINT64_MAX);
    assert_int_equal(ferry_mysql_rows_parse_value(&u64, "-1", 2, &v, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    ferry_column_t fl = {.name = "f", .type = FERRY_TYPE_FLOAT};
    assert_int_equal(
        ferry_mysql_rows_parse_value(&fl, "1.2345678806304932", 18, &v, err, sizeof(err)), 0);
    assert_true(v.v.f == 1.2345679f);
    ferry_column_t bit = {.name = "b", .type = FERRY_TYPE_BIT, .length = 10};
    assert_int_equal(ferry_mysql_rows_parse_value(&bit, "\x02\xaa", 2, &v, err, sizeof(err)), 0);
    assert_int_equal(v.v.u, 0x2aa);
    ferry_column_t geo = {.name = "g", .type = FERRY_TYPE_GEOMETRY};
    assert_int_equal(
        ferry_mysql_rows_parse_value(&geo, "\xe6\x10\0\0\x01", 5, &v, err, sizeof(err)), 0);
    assert_int_equal(v.aux, 4326);
    assert_int_equal(v.v.s.len, 1);
    assert_int_equal(ferry_mysql_rows_parse_value(&geo, "\xe6\x10", 2, &v, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    ferry_column_t tm = {.name = "t", .type = FERRY_TYPE_TIME, .fsp = 6};
    assert_int_equal(
        ferry_mysql_rows_parse_value(&tm, "-00:00:00.500000", 16, &v, err, sizeof(err)), 0);
    assert_int_equal(v.v.i, -500000);
    ferry_column_t dt = {.name = "d", .type = FERRY_TYPE_DATE};
    assert_int_equal(ferry_mysql_rows_parse_value(&dt, "0000-00-00", 10, &v, err, sizeof(err)), 0);
    assert_int_equal(v.v.dt.month, 0);
    assert_int_equal(ferry_mysql_rows_parse_value(&dt, NULL, 0, &v, err, sizeof(err)), 0);
    assert_true(v.is_null);

    /* FLOAT is selected as an exact double */
    ferry_column_t cols[] = {{.name = "f`", .type = FERRY_TYPE_FLOAT},
                             {.name = "d", .type = FERRY_TYPE_DOUBLE}};
    ferry_table_t *t = table_of("x", "y", cols, 2);
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    ferry_mysql_rows_select_list(&sb, t);
    assert_string_equal(sb.buf, "CAST(`f``` AS DOUBLE),`d`");
    ferry_strbuf_free(&sb);
    ferry_table_destroy(t);
}

static void done_marker_parse(void **state)
{
    (void)state;
    const char *json = "{\"task\":\"a.b#0@0\",\"db\":\"a\",\"table\":\"b\",\"chunk\":0,"
                       "\"generation\":0,\"attempt\":\"w:1:2:3\",\"rows\":5,\"topic\":\"t\","
                       "\"partition\":2,\"chunks_total\":null,\"worker\":\"w\",\"ts_ms\":1}";
    ferry_fullload_done_t d;
    char err[256];
    assert_int_equal(ferry_fullload_done_parse(json, strlen(json), &d, err, sizeof(err)), 0);
    assert_string_equal(d.attempt, "w:1:2:3");
    assert_int_equal(d.rows, 5);
    assert_int_equal(d.chunks_total, -1);
    ferry_fullload_done_clear(&d);
    assert_int_equal(ferry_fullload_done_parse("{\"task\":1}", 10, &d, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_null(d.task_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_int_key),
        cmocka_unit_test(composite_string_key_and_awkward_names),
        cmocka_unit_test(literals_per_type),
        cmocka_unit_test(unsplittable_tables),
        cmocka_unit_test(task_roundtrip),
        cmocka_unit_test(cells_parse),
        cmocka_unit_test(done_marker_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
