/*
 * test_mysql_schema.c - the MySQL-family schema layer without a server:
 * table patterns, ENUM/SET member parsing, quoting, the rename map, DDL
 * generation from a definition, the JSON form of a definition, and the
 * binlog DDL rewriter on a table of statements.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "err.h"
#include "mysql_ddl.h"
#include "mysql_schema.h"
#include "strbuf.h"

/* ---- patterns ------------------------------------------------------------ */

static void patterns(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *db, *table;
        bool want;
    } cases[] = {
        {"shop.*", "shop", "orders", true},
        {"shop.*", "shop2", "orders", false},
        {"shop", "shop", "orders", true},
        {"*.*", "a", "b", true},
        {"%.%", "a", "b", true},
        {"shop.tbl_%", "shop", "tbl_x", true},
        {"shop.tbl_%", "shop", "tbl_", true},
        {"shop.tbl_%", "shop", "tblx", false}, /* '_' is literal */
        {"shop.tbl_*", "shop", "tbl-1", false},
        {"shop.o*s", "shop", "orders", true},
        {"shop.o*s", "shop", "ordersx", false},
        {"shop.*_log", "shop", "a_b_log", true},
        {"s%p.*", "shop", "x", true},
        {"shop.Orders", "shop", "orders", false}, /* case-sensitive */
        {"shop.orders", "shop", "orders", true},
        {"shop.", "shop", "", true},
        {"*.t", "x", "t", true},
        {"a.b", "a", "b.c", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = ferry_table_pattern_match(cases[i].pat, cases[i].db, cases[i].table);
        if (got != cases[i].want)
            fail_msg("pattern %s against %s.%s: got %d", cases[i].pat, cases[i].db, cases[i].table,
                     got);
    }
    assert_false(ferry_table_pattern_match(NULL, "a", "b"));
}

/* ---- string literals --------------------------------------------------------- */

typedef struct {
    const char *in; /* NUL-terminated; only its first in_len bytes are given */
    size_t in_len;
    int rc;
    const char *want; /* want_len bytes */
    size_t want_len, used;
} literal_case_t;

#define LIT(in, want, used)                                                                        \
    {                                                                                              \
        in, sizeof(in) - 1, 0, want, sizeof(want) - 1, used                                        \
    }
#define BAD(in)                                                                                    \
    {                                                                                              \
        in, sizeof(in) - 1, FERRY_ERR_INVALID, NULL, 0, 0                                          \
    }

static const literal_case_t literal_cases[] = {
    LIT("'a''b' rest", "a'b", 6),
    LIT("'x\\0y'", "x\0y", 6),
    LIT("'\\b\\n\\r\\t\\Z\\q\\\\\\''", "\b\n\r\t\032q\\'", 18),
    LIT("'100\\%\\_'", "100\\%\\_", 9),
    LIT("''", "", 2),
    BAD("'abc"),
    BAD("'abc\\"),
    BAD("abc'"),
    BAD(""),
};

static void string_literals(void **state)
{
    (void)state;
    ferry_arena_t *a = ferry_arena_new(0);
    for (size_t i = 0; i < sizeof(literal_cases) / sizeof(literal_cases[0]); i++) {
        const literal_case_t *tc = &literal_cases[i];
        char *out = NULL;
        size_t n = 0, used = 0;
        int rc = ferry_mysql_read_string(tc->in, tc->in_len, a, &out, &n, &used);
        if (rc != tc->rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, tc->in, rc, tc->rc);
        if (rc != 0)
            continue;
        assert_int_equal(n, tc->want_len);
        assert_memory_equal(out, tc->want, n);
        assert_int_equal(out[n], '\0');
        assert_int_equal(used, tc->used);
    }
    ferry_arena_destroy(a);
}

/* ---- members --------------------------------------------------------------- */

static void members(void **state)
{
    (void)state;
    ferry_arena_t *a = ferry_arena_new(0);
    const char **m;
    uint32_t n;
    assert_int_equal(ferry_mysql_parse_members("enum('a','b''c','d\\\\e','x,y','')", a, &m, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(m[0], "a");
    assert_string_equal(m[1], "b'c");
    assert_string_equal(m[2], "d\\e");
    assert_string_equal(m[3], "x,y");
    assert_string_equal(m[4], "");
    assert_int_equal(ferry_mysql_parse_members("set('\xF0\x9F\x98\x80','a\\'b','n\\n')", a, &m, &n),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(m[0], "\xF0\x9F\x98\x80");
    assert_string_equal(m[1], "a'b");
    assert_string_equal(m[2], "n\n");
    assert_int_equal(ferry_mysql_parse_members("int(11)", a, &m, &n), FERRY_ERR_INVALID);
    assert_int_equal(ferry_mysql_parse_members("enum('a", a, &m, &n), FERRY_ERR_INVALID);

    ferry_column_t col = {0};
    assert_int_equal(ferry_mysql_map_column("enum", "enum('x''y','z')", 3, -1, -1, -1, a, &col), 0);
    assert_int_equal(col.type, FERRY_TYPE_ENUM);
    assert_int_equal(col.n_members, 2);
    assert_string_equal(col.members[0], "x'y");
    memset(&col, 0, sizeof(col));
    assert_int_equal(
        ferry_mysql_map_column("bigint", "bigint(20) unsigned", -1, 20, 0, -1, a, &col), 0);
    assert_int_equal(col.type, FERRY_TYPE_UINT);
    assert_int_equal(col.length, 8);
    assert_true(col.flags & FERRY_COL_UNSIGNED);
    assert_int_equal(ferry_mysql_map_column("decimal", "decimal(65,30)", -1, 65, 30, -1, a, &col),
                     0);
    assert_int_equal(col.type, FERRY_TYPE_DECIMAL);
    assert_int_equal(col.precision, 65);
    assert_int_equal(col.scale, 30);
    assert_int_equal(ferry_mysql_map_column("datetime", "datetime(6)", -1, -1, -1, 6, a, &col), 0);
    assert_int_equal(col.fsp, 6);
    assert_int_equal(ferry_mysql_map_column("bit", "bit(13)", -1, 13, -1, -1, a, &col), 0);
    assert_int_equal(col.length, 13);
    assert_int_equal(ferry_mysql_map_column("varchar", "varchar(7)", 7, -1, -1, -1, a, &col), 0);
    assert_int_equal(col.length, 7);
    assert_int_equal(ferry_mysql_map_column("sys_refcursor", "x", -1, -1, -1, -1, a, &col),
                     FERRY_ERR_UNSUPPORTED);
    assert_int_equal(col.type, 0);
    ferry_arena_destroy(a);
}

/* ---- quoting ----------------------------------------------------------------- */

static void quoting(void **state)
{
    (void)state;
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    ferry_mysql_quote_ident(&b, "a`b``c");
    ferry_strbuf_put(&b, " ", 1);
    ferry_mysql_quote_ident(&b, "t\xF0\x9F\x98\x80 x'\"");
    ferry_strbuf_put(&b, " ", 1);
    ferry_mysql_quote_ident(&b, "select");
    ferry_strbuf_put(&b, " ", 1);
    ferry_mysql_quote_string(&b, "it's a \\ \xF0\x9F\x98\x80 \"q\"");
    assert_false(b.oom);
    assert_string_equal(b.buf, "`a``b````c` `t\xF0\x9F\x98\x80 x'\"` `select` "
                               "'it''s a \\\\ \xF0\x9F\x98\x80 \"q\"'");
    ferry_strbuf_free(&b);
}

/* ---- a definition built by hand --------------------------------------------------- */

static ferry_tabledef_t *sample_def(void)
{
    ferry_tabledef_t *d = ferry_tabledef_new("src", "t");
    assert_non_null(d);
    ferry_arena_t *a = d->arena;
    d->engine = "InnoDB";
    d->charset = "utf8mb4";
    d->collation = "utf8mb4_general_ci";
    d->comment = "tab'le \xF0\x9F\x98\x80";
    d->create_options = "";
    d->auto_increment = 18446744073709551615ull;
    d->n_columns = 5;
    d->columns = ferry_arena_calloc(a, 5, sizeof(ferry_coldef_t));
    ferry_coldef_t *c = d->columns;
    static const char *mem[] = {"a'b", "c\\d", "\xF0\x9F\x98\x80"};
    const ferry_coldef_t cols[] = {
        {.col = {.name = "id",
                 .type = FERRY_TYPE_INT,
                 .source_type = "int(11)",
                 .length = 4,
                 .pk_pos = 1},
         .column_type = "int(11)",
         .data_type = "int",
         .auto_increment = true,
         .comment = ""},
        {.col = {.name = "na`me",
                 .type = FERRY_TYPE_STRING,
                 .source_type = "varchar(20)",
                 .flags = FERRY_COL_NULLABLE,
                 .length = 20,
                 .charset = "utf8mb4"},
         .column_type = "varchar(20)",
         .data_type = "varchar",
         .default_kind = FERRY_DEFAULT_LITERAL,
         .default_value = "it's \\ x",
         .comment = "c'q",
         .charset = "utf8mb4",
         .collation = "utf8mb4_bin"},
        {.col = {.name = "e",
                 .type = FERRY_TYPE_ENUM,
                 .source_type = "enum(...)",
                 .members = mem,
                 .n_members = 3,
                 .charset = "utf8mb4"},
         .column_type = "enum('a''b','c\\\\d','?')",
         .data_type = "enum",
         .default_kind = FERRY_DEFAULT_LITERAL,
         .default_value = "a'b",
         .comment = "",
         .charset = "utf8mb4",
         .collation = "utf8mb4_general_ci"},
        {.col =
             {.name = "ts", .type = FERRY_TYPE_TIMESTAMP, .source_type = "timestamp(6)", .fsp = 6},
         .column_type = "timestamp(6)",
         .data_type = "timestamp",
         .default_kind = FERRY_DEFAULT_EXPRESSION,
         .default_value = "current_timestamp(6)",
         .on_update = "current_timestamp(6)",
         .comment = ""},
        {.col = {.name = "bin",
                 .type = FERRY_TYPE_BYTES,
                 .source_type = "binary(2)",
                 .flags = FERRY_COL_NULLABLE,
                 .length = 2},
         .column_type = "binary(2)",
         .data_type = "binary",
         .default_kind = FERRY_DEFAULT_LITERAL,
         .default_value = "\xff\x01", /* not UTF-8 */
         .comment = "",
         .invisible = true},
    };
    memcpy(c, cols, sizeof(cols));

    d->n_indexes = 2;
    d->indexes = ferry_arena_calloc(a, 2, sizeof(ferry_indexdef_t));
    ferry_index_part_t *p0 = ferry_arena_calloc(a, 1, sizeof(*p0));
    p0->column = "id";
    d->indexes[0] = (ferry_indexdef_t){
        .name = "PRIMARY", .kind = FERRY_INDEX_PRIMARY, .comment = "", .parts = p0, .n_parts = 1};
    ferry_index_part_t *p1 = ferry_arena_calloc(a, 2, sizeof(*p1));
    p1[0] = (ferry_index_part_t){.column = "na`me", .prefix = 5, .desc = true};
    p1[1] = (ferry_index_part_t){.column = "e"};
    d->indexes[1] = (ferry_indexdef_t){.name = "ix name",
                                       .kind = FERRY_INDEX_UNIQUE,
                                       .comment = "i'x",
                                       .parts = p1,
                                       .n_parts = 2,
                                       .invisible = true};
    d->n_checks = 1;
    d->checks = ferry_arena_calloc(a, 1, sizeof(ferry_checkdef_t));
    d->checks[0] = (ferry_checkdef_t){.name = "ck", .clause = "`id` > 0"};
    d->n_fks = 1;
    d->fks = ferry_arena_calloc(a, 1, sizeof(ferry_fkdef_t));
    static const char *fc[] = {"id"}, *rc[] = {"pid"};
    d->fks[0] = (ferry_fkdef_t){.name = "fk`1",
                                .columns = fc,
                                .ref_db = "src",
                                .ref_table = "parent",
                                .ref_columns = rc,
                                .n_columns = 1,
                                .on_update = "CASCADE",
                                .on_delete = "SET NULL"};
    d->n_triggers = 1;
    d->triggers = ferry_arena_calloc(a, 1, sizeof(ferry_triggerdef_t));
    d->triggers[0] = (ferry_triggerdef_t){.name = "tg",
                                          .timing = "BEFORE",
                                          .event = "INSERT",
                                          .body = "SET NEW.id = NEW.id + 1",
                                          .sql_mode = "STRICT_TRANS_TABLES"};
    return d;
}

static void json_round_trip(void **state)
{
    (void)state;
    ferry_tabledef_t *d = sample_def();
    char *text = ferry_tabledef_to_json(d);
    assert_non_null(text);
    assert_non_null(strstr(text, "{\"hex\":\"ff01\"}"));
    char err[256] = "";
    ferry_tabledef_t *back = NULL;
    assert_int_equal(ferry_tabledef_from_json(text, strlen(text), &back, err, sizeof(err)), 0);
    assert_true(ferry_tabledef_equal(d, back));
    char *text2 = ferry_tabledef_to_json(back);
    assert_string_equal(text, text2);
    /* spot checks on the parsed copy */
    assert_int_equal(back->auto_increment, 18446744073709551615ull);
    assert_string_equal(back->comment, "tab'le \xF0\x9F\x98\x80");
    assert_string_equal(back->columns[1].col.name, "na`me");
    assert_string_equal(back->columns[1].default_value, "it's \\ x");
    assert_string_equal(back->columns[2].col.members[2], "\xF0\x9F\x98\x80");
    assert_string_equal(back->columns[4].default_value, "\xff\x01");
    assert_true(back->columns[4].invisible);
    assert_int_equal(back->columns[3].default_kind, FERRY_DEFAULT_EXPRESSION);
    assert_int_equal(back->indexes[1].parts[0].prefix, 5);
    assert_true(back->indexes[1].parts[0].desc);
    assert_string_equal(back->fks[0].ref_columns[0], "pid");
    assert_string_equal(back->triggers[0].body, "SET NEW.id = NEW.id + 1");
    /* a changed field is noticed */
    back->columns[0].auto_increment = false;
    assert_false(ferry_tabledef_equal(d, back));
    free(text);
    free(text2);
    ferry_tabledef_destroy(back);

    /* broken documents */
    static const char *bad[] = {
        "[]",
        "{\"format\":2}",
        "{\"format\":1,\"db\":\"a\",\"name\":\"b\",\"comment\":\"\",\"columns\":[]}",
        "{\"format\":1,\"db\":\"a\",\"name\":\"b\",\"comment\":\"\",\"columns\":[{\"name\":"
        "\"c\",\"ferry_type\":\"nope\",\"comment\":\"\",\"default_kind\":\"none\","
        "\"generated\":\"none\"}]}",
        "{\"format\":1,",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        back = (ferry_tabledef_t *)1;
        assert_int_equal(ferry_tabledef_from_json(bad[i], strlen(bad[i]), &back, err, sizeof(err)),
                         FERRY_ERR_INVALID);
        assert_null(back);
        assert_non_null(strstr(err, "could not parse table definition"));
    }
    ferry_tabledef_destroy(d);
}

static void plan_from_def(void **state)
{
    (void)state;
    ferry_tabledef_t *d = sample_def();
    ferry_rename_map_t *m = ferry_rename_map_new();
    assert_int_equal(ferry_rename_map_add_db(m, "src", "dst"), 0);
    assert_int_equal(ferry_rename_map_add_table(m, "src", "t", "dst", "t 2"), 0);
    assert_int_equal(ferry_rename_map_add_table(m, "src", "parent", "dst", "par`ent"), 0);
    assert_int_equal(ferry_rename_map_filter_column(m, "src", "t", "bin", false), 0);
    assert_int_equal(ferry_rename_map_filter_column(m, "src", "t", "x", true), FERRY_ERR_INVALID);
    ferry_ddl_plan_t plan;
    char err[256];
    assert_int_equal(
        ferry_mysql_ddl_plan(d, m, FERRY_MYSQL_FLAVOR_MARIADB, &plan, err, sizeof(err)), 0);
    assert_string_equal(plan.create_database, "CREATE DATABASE IF NOT EXISTS `dst`");
    const char *want =
        "CREATE TABLE IF NOT EXISTS `dst`.`t 2` (\n"
        "  `id` int(11) NOT NULL AUTO_INCREMENT,\n"
        "  `na``me` varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT "
        "'it''s \\\\ x' COMMENT 'c''q',\n"
        "  `e` enum('a''b','c\\\\d','\xF0\x9F\x98\x80') CHARACTER SET utf8mb4 COLLATE "
        "utf8mb4_general_ci NOT NULL DEFAULT 'a''b',\n"
        "  `ts` timestamp(6) NOT NULL DEFAULT current_timestamp(6) ON UPDATE "
        "current_timestamp(6),\n"
        "  PRIMARY KEY (`id`),\n"
        "  UNIQUE KEY `ix name` (`na``me`(5) DESC,`e`) COMMENT 'i''x' IGNORED,\n"
        "  CONSTRAINT `ck` CHECK (`id` > 0)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci "
        "AUTO_INCREMENT=18446744073709551615 COMMENT='tab''le \xF0\x9F\x98\x80'";
    assert_string_equal(plan.create_table, want);
    assert_int_equal(plan.n_held_back, 2);
    assert_string_equal(plan.held_back[0],
                        "ALTER TABLE `dst`.`t 2` ADD CONSTRAINT `fk``1` FOREIGN KEY (`id`) "
                        "REFERENCES `dst`.`par``ent` (`pid`) ON DELETE SET NULL ON UPDATE "
                        "CASCADE");
    assert_string_equal(plan.held_back[1], "CREATE TRIGGER `dst`.`tg` BEFORE INSERT ON "
                                           "`dst`.`t 2` FOR EACH ROW SET NEW.id = NEW.id + 1");
    assert_int_equal(plan.n_notes, 3);
    assert_non_null(strstr(plan.notes[0], "column \"bin\" of \"src.t\" is left out"));
    ferry_ddl_plan_free(&plan);

    /* dropping an indexed column is refused, naming table, column and index */
    assert_int_equal(ferry_rename_map_filter_column(m, "src", "t", "e", false), 0);
    assert_int_equal(
        ferry_mysql_ddl_plan(d, m, FERRY_MYSQL_FLAVOR_MARIADB, &plan, err, sizeof(err)),
        FERRY_ERR_UNSUPPORTED);
    assert_string_equal(err, "could not filter column \"e\" of \"src.t\": index \"ix name\" "
                             "uses it");
    ferry_ddl_plan_free(&plan);
    ferry_rename_map_destroy(m);

    /* prechecks: an unsupported type is an error naming table and column; no key warns */
    d->columns[2].col.type = 0;
    d->columns[2].column_type = "weird";
    d->n_indexes = 0;
    ferry_precheck_item_t *items = NULL;
    size_t n = 0;
    assert_int_equal(ferry_tabledef_precheck(d, &items, &n), 1);
    assert_true(n >= 2);
    assert_true(items[0].error);
    assert_string_equal(items[0].text, "column \"e\" of table \"src.t\" has type \"weird\", which "
                                       "ferry cannot carry");
    assert_false(items[1].error);
    assert_non_null(strstr(items[1].text, "has no primary key"));
    ferry_precheck_items_free(items, n);
    ferry_table_t *tb = NULL;
    assert_int_equal(ferry_tabledef_to_table(d, &tb, err, sizeof(err)), FERRY_ERR_UNSUPPORTED);
    assert_null(tb);
    ferry_tabledef_destroy(d);
}

/* ---- binlog DDL ---------------------------------------------------------------- */

static bool sel(void *arg, const char *db, const char *table)
{
    (void)arg;
    if (strcmp(db, "src") != 0 && strcmp(db, "other") != 0)
        return false;
    return !table || strncmp(table, "ign", 3) != 0;
}

typedef struct {
    const char *default_db;
    const char *sql;
    int rc;
    ferry_ddl_kind_t kind;
    const char *want; /* rewritten text; or, when rc != 0 or skipped, a part of the reason */
    bool skipped;
    const char *dropped; /* first dropped column, or NULL */
    unsigned flags;
} ddl_case_t;

#define OK(db, sql, kind, want)                                                                    \
    {                                                                                              \
        db, sql, 0, kind, want, false, NULL, 0                                                     \
    }
#define OKD(db, sql, kind, want, drop)                                                             \
    {                                                                                              \
        db, sql, 0, kind, want, false, drop, 0                                                     \
    }
#define SKIP(db, sql, kind, why)                                                                   \
    {                                                                                              \
        db, sql, 0, kind, why, true, NULL, 0                                                       \
    }
#define NO(db, sql, kind, why)                                                                     \
    {                                                                                              \
        db, sql, FERRY_ERR_UNSUPPORTED, kind, why, false, NULL, 0                                  \
    }

static const ddl_case_t ddl_cases[] = {
    /* CREATE TABLE */
    OKD("src", "CREATE TABLE t (id INT PRIMARY KEY, secret TEXT, v INT)", FERRY_DDL_CREATE_TABLE,
        "CREATE TABLE `dst`.`t2` (id INT PRIMARY KEY, v INT)", "secret"),
    OK("src", "CREATE TABLE IF NOT EXISTS `src`.`u` (a int) ENGINE=InnoDB", FERRY_DDL_CREATE_TABLE,
       "CREATE TABLE IF NOT EXISTS `dst`.`u` (a int) ENGINE=InnoDB"),
    OK("src", "create table other.x like src.u", FERRY_DDL_CREATE_TABLE,
       "create table `other`.`x` like `dst`.`u`"),
    OK("src", "CREATE TABLE x (LIKE u)", FERRY_DDL_CREATE_TABLE,
       "CREATE TABLE `dst`.`x` (LIKE `dst`.`u`)"),
    NO("src", "CREATE TABLE x LIKE t", FERRY_DDL_CREATE_TABLE, "LIKE with a column filter"),
    NO("src", "CREATE TABLE t3 SELECT * FROM u", FERRY_DDL_CREATE_TABLE, "without a column list"),
    NO("src", "CREATE TABLE t3 (a INT) AS SELECT 1 AS a", FERRY_DDL_CREATE_TABLE,
       "CREATE TABLE ... SELECT"),
    OK("src", "CREATE TABLE u2 (a INT) /*!50100 PARTITION BY HASH (a) PARTITIONS 2 */",
       FERRY_DDL_CREATE_TABLE,
       "CREATE TABLE `dst`.`u2` (a INT) /*!50100 PARTITION BY HASH (a) PARTITIONS 2 */"),
    OK("src", "CREATE TABLE `\xF0\x9F\x98\x80` (`c\xF0\x9F\x98\x80` INT)", FERRY_DDL_CREATE_TABLE,
       "CREATE TABLE `dst`.`\xF0\x9F\x98\x80` (`c\xF0\x9F\x98\x80` INT)"),
    OK("src", "CREATE TABLE `u3` (a INT, b TEXT DEFAULT 'x, secret INT')", FERRY_DDL_CREATE_TABLE,
       "CREATE TABLE `dst`.`u3` (a INT, b TEXT DEFAULT 'x, secret INT')"),
    NO("src", "CREATE TABLE t (id INT, secret INT, KEY (secret))", FERRY_DDL_CREATE_TABLE,
       "column \"secret\" of \"src.t\""),
    OK("src", "CREATE TABLE c (id INT, pid INT, FOREIGN KEY (pid) REFERENCES t (id))",
       FERRY_DDL_CREATE_TABLE,
       "CREATE TABLE `dst`.`c` (id INT, pid INT, FOREIGN KEY (pid) REFERENCES `dst`.`t2` (id))"),
    SKIP("src", "CREATE TEMPORARY TABLE tt (a int)", FERRY_DDL_OTHER, "temporary"),
    SKIP("src", "CREATE TABLE ign_x (a int)", FERRY_DDL_CREATE_TABLE, "not migrated"),
    /* DROP TABLE */
    OK("src", "DROP TABLE u", FERRY_DDL_DROP_TABLE, "DROP TABLE `dst`.`u`"),
    OK("src", "DROP TABLE IF EXISTS `u`, ign.z, other.y /* generated by server */",
       FERRY_DDL_DROP_TABLE,
       "DROP TABLE IF EXISTS `dst`.`u`, `other`.`y` /* generated by server */"),
    OK("src", "DROP TABLE u, ign.b", FERRY_DDL_DROP_TABLE, "DROP TABLE `dst`.`u`"),
    OK("src", "DROP TABLE ign.a, u CASCADE", FERRY_DDL_DROP_TABLE, "DROP TABLE `dst`.`u` CASCADE"),
    SKIP("src", "DROP TABLE ign.a, ign.b", FERRY_DDL_DROP_TABLE, "no table"),
    OK("src", "# hash comment\nDROP TABLE `src`.`u`", FERRY_DDL_DROP_TABLE,
       "# hash comment\nDROP TABLE `dst`.`u`"),
    OK("src", "DROP TABLE `src.u`;", FERRY_DDL_DROP_TABLE, "DROP TABLE `dst`.`src.u`;"),
    NO(NULL, "DROP TABLE u", FERRY_DDL_DROP_TABLE, "no default database"),
    NO("src", "DROP TABLE `u", FERRY_DDL_OTHER, "unterminated quoted name"),
    {"src", "DROP TABLE \"u\"", 0, FERRY_DDL_DROP_TABLE, "DROP TABLE `dst`.`u`", false, NULL,
     FERRY_DDL_ANSI_QUOTES},
    /* RENAME TABLE */
    OK("src", "RENAME TABLE u TO u_old, t TO other.t", FERRY_DDL_RENAME_TABLE,
       "RENAME TABLE `dst`.`u` TO `dst`.`u_old`, `dst`.`t2` TO `other`.`t`"),
    OK("src", "RENAME TABLE ign.a TO ign.b, u TO v", FERRY_DDL_RENAME_TABLE,
       "RENAME TABLE `dst`.`u` TO `dst`.`v`"),
    NO("src", "RENAME TABLE u TO ign.u", FERRY_DDL_RENAME_TABLE, "out of the migrated set"),
    NO("src", "RENAME TABLE ign.a TO u", FERRY_DDL_RENAME_TABLE, "into the migrated set"),
    SKIP("src", "RENAME TABLE ign.a TO ign.b", FERRY_DDL_RENAME_TABLE, "no table"),
    /* TRUNCATE */
    OK("src", "TRUNCATE u", FERRY_DDL_TRUNCATE_TABLE, "TRUNCATE `dst`.`u`"),
    OK("other", "TRUNCATE TABLE src.t", FERRY_DDL_TRUNCATE_TABLE, "TRUNCATE TABLE `dst`.`t2`"),
    SKIP("src", "TRUNCATE TABLE `ign`.`x`", FERRY_DDL_TRUNCATE_TABLE, "not migrated"),
    /* ALTER TABLE */
    OKD("src", "ALTER TABLE t ADD COLUMN c2 INT AFTER v, DROP COLUMN secret", FERRY_DDL_ALTER_TABLE,
        "ALTER TABLE `dst`.`t2` ADD COLUMN c2 INT AFTER v", "secret"),
    SKIP("src", "ALTER TABLE t DROP COLUMN secret", FERRY_DDL_ALTER_TABLE, "every part"),
    OKD("src", "ALTER TABLE t MODIFY secret VARCHAR(10), ADD INDEX iv (v)", FERRY_DDL_ALTER_TABLE,
        "ALTER TABLE `dst`.`t2` ADD INDEX iv (v)", "secret"),
    NO("src", "ALTER TABLE t ADD INDEX isec (secret)", FERRY_DDL_ALTER_TABLE,
       "a key or constraint uses column \"secret\""),
    NO("src", "ALTER TABLE t ADD COLUMN c3 INT AFTER `secret`", FERRY_DDL_ALTER_TABLE,
       "uses column \"secret\""),
    NO("src", "ALTER TABLE t CHANGE secret public TEXT", FERRY_DDL_ALTER_TABLE,
       "across the column filter"),
    NO("src", "ALTER TABLE t RENAME COLUMN secret TO s2", FERRY_DDL_ALTER_TABLE,
       "across the column filter"),
    OK("src", "ALTER TABLE t CHANGE v w BIGINT, RENAME COLUMN w TO w2", FERRY_DDL_ALTER_TABLE,
       "ALTER TABLE `dst`.`t2` CHANGE v w BIGINT, RENAME COLUMN w TO w2"),
    OK("src", "ALTER TABLE u RENAME TO u2", FERRY_DDL_ALTER_TABLE,
       "ALTER TABLE `dst`.`u` RENAME TO `dst`.`u2`"),
    NO("src", "ALTER TABLE u RENAME TO ign_u", FERRY_DDL_ALTER_TABLE, "not migrated"),
    OKD("src", "ALTER TABLE k ADD COLUMN extra INT, MODIFY name VARCHAR(20)", FERRY_DDL_ALTER_TABLE,
        "ALTER TABLE `dst`.`k` MODIFY name VARCHAR(20)", "extra"),
    OK("other", "ALTER TABLE src.t ADD COLUMN z INT", FERRY_DDL_ALTER_TABLE,
       "ALTER TABLE `dst`.`t2` ADD COLUMN z INT"),
    SKIP("src", "ALTER TABLE ign.x ADD COLUMN a INT", FERRY_DDL_ALTER_TABLE, "not migrated"),
    OK("src",
       "/* ALTER TABLE x */ ALTER /* c */ TABLE -- x\n `u` ADD COLUMN `a``b` INT COMMENT "
       "'DROP TABLE t, RENAME'",
       FERRY_DDL_ALTER_TABLE,
       "/* ALTER TABLE x */ ALTER /* c */ TABLE -- x\n `dst`.`u` ADD COLUMN `a``b` INT COMMENT "
       "'DROP TABLE t, RENAME'"),
    OK("src", "ALTER TABLE u COMMENT = 'it''s a \\' RENAME TO x'", FERRY_DDL_ALTER_TABLE,
       "ALTER TABLE `dst`.`u` COMMENT = 'it''s a \\' RENAME TO x'"),
    OK("src", "ALTER TABLE u /*!50100 ADD COLUMN q INT */", FERRY_DDL_ALTER_TABLE,
       "ALTER TABLE `dst`.`u` /*!50100 ADD COLUMN q INT */"),
    NO("src", "ALTER TABLE t ADD COLUMN q INT /*!, DROP COLUMN secret */", FERRY_DDL_ALTER_TABLE,
       "executable comment"),
    OK("src", "ALTER TABLE u ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES t (id)",
       FERRY_DDL_ALTER_TABLE,
       "ALTER TABLE `dst`.`u` ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES `dst`.`t2` (id)"),
    OK("src", "ALTER ONLINE IGNORE TABLE IF EXISTS u DROP INDEX i1, ENGINE=InnoDB",
       FERRY_DDL_ALTER_TABLE,
       "ALTER ONLINE IGNORE TABLE IF EXISTS `dst`.`u` DROP INDEX i1, "
       "ENGINE=InnoDB"),
    /* indexes */
    OK("src", "CREATE INDEX ix ON u (a, b)", FERRY_DDL_CREATE_INDEX,
       "CREATE INDEX ix ON `dst`.`u` (a, b)"),
    NO("src", "CREATE UNIQUE INDEX ix ON t (secret(10))", FERRY_DDL_CREATE_INDEX,
       "column \"secret\""),
    OK("src", "DROP INDEX ix ON src.u", FERRY_DDL_DROP_INDEX, "DROP INDEX ix ON `dst`.`u`"),
    SKIP("src", "CREATE INDEX ix ON ign.x (secret)", FERRY_DDL_CREATE_INDEX, "not migrated"),
    SKIP("src", "DROP INDEX ix ON ign.x", FERRY_DDL_DROP_INDEX, "not migrated"),
    NO("src", "CREATE INDEX ix USING BTREE", FERRY_DDL_CREATE_INDEX, "CREATE INDEX without ON"),
    NO("src", "DROP INDEX ix", FERRY_DDL_DROP_INDEX, "DROP INDEX without ON"),
    /* databases */
    OK("src", "CREATE DATABASE IF NOT EXISTS src CHARACTER SET utf8mb4", FERRY_DDL_CREATE_DATABASE,
       "CREATE DATABASE IF NOT EXISTS `dst` CHARACTER SET utf8mb4"),
    SKIP(NULL, "DROP DATABASE ign", FERRY_DDL_DROP_DATABASE, "not migrated"),
    /* other statements */
    NO("src", "CREATE VIEW v AS SELECT 1", FERRY_DDL_OTHER, "not a table, index or database"),
    NO("src", "GRANT ALL ON *.* TO x", FERRY_DDL_OTHER, "not a table, index or database"),
    NO("src", "   /* only a comment */ ", FERRY_DDL_OTHER, "empty statement"),
};

static void ddl_rewrite(void **state)
{
    (void)state;
    ferry_rename_map_t *m = ferry_rename_map_new();
    assert_int_equal(ferry_rename_map_add_db(m, "src", "dst"), 0);
    assert_int_equal(ferry_rename_map_add_table(m, "src", "t", "dst", "t2"), 0);
    assert_int_equal(ferry_rename_map_filter_column(m, "src", "t", "secret", false), 0);
    assert_int_equal(ferry_rename_map_filter_column(m, "src", "k", "id", true), 0);
    assert_int_equal(ferry_rename_map_filter_column(m, "src", "k", "NAME", true), 0);
    int failures = 0;
    for (size_t i = 0; i < sizeof(ddl_cases) / sizeof(ddl_cases[0]); i++) {
        const ddl_case_t *tc = &ddl_cases[i];
        ferry_ddl_rewrite_t r;
        char err[512] = "";
        int rc = ferry_mysql_ddl_rewrite(tc->default_db, tc->sql, strlen(tc->sql), tc->flags, m,
                                         sel, NULL, &r, err, sizeof(err));
        bool ok = rc == tc->rc && r.kind == tc->kind;
        if (ok && rc == 0 && !tc->skipped)
            ok = r.sql && strcmp(r.sql, tc->want) == 0 && !r.skip_reason;
        if (ok && rc == 0 && tc->skipped)
            ok = !r.sql && r.skip_reason && strstr(r.skip_reason, tc->want);
        if (ok && rc != 0)
            ok = !r.sql && strstr(err, tc->want) && strncmp(err, "could not rewrite", 17) == 0;
        if (ok && tc->dropped)
            ok = r.n_dropped_columns >= 1 && strcmp(r.dropped_columns[0], tc->dropped) == 0;
        if (!ok) {
            failures++;
            print_error("case %zu: %s\n  rc %d (want %d) kind %s (want %s)\n  sql: %s\n  "
                        "skip: %s\n  err: %s\n  want: %s\n",
                        i, tc->sql, rc, tc->rc, ferry_ddl_kind_name(r.kind),
                        ferry_ddl_kind_name(tc->kind), r.sql ? r.sql : "(null)",
                        r.skip_reason ? r.skip_reason : "(null)", err, tc->want);
        }
        ferry_ddl_rewrite_free(&r);
    }
    assert_int_equal(failures, 0);
    assert_true(sizeof(ddl_cases) / sizeof(ddl_cases[0]) >= 30);

    /* names are reported in statement order, resolved against the default database */
    ferry_ddl_rewrite_t r;
    const char *sql = "RENAME TABLE a TO other.b, `c``d` TO e";
    assert_int_equal(
        ferry_mysql_ddl_rewrite("src", sql, strlen(sql), 0, m, NULL, NULL, &r, NULL, 0), 0);
    assert_int_equal(r.n_names, 4);
    assert_string_equal(r.names[1].db, "other");
    assert_string_equal(r.names[1].table, "b");
    assert_string_equal(r.names[2].table, "c`d");
    assert_string_equal(r.names[3].db, "src");
    assert_string_equal(r.sql, "RENAME TABLE `dst`.`a` TO `other`.`b`, `dst`.`c``d` TO `dst`.`e`");
    assert_int_equal(r.rename_to, 0);
    ferry_ddl_rewrite_free(&r);

    /* ALTER TABLE ... RENAME names the new name (after a referenced table), or none */
    const char *alters[] = {
        "ALTER TABLE u ADD FOREIGN KEY (a) REFERENCES p (id), RENAME TO u2",
        "ALTER TABLE u ADD FOREIGN KEY (a) REFERENCES p (id), RENAME u2",
        "ALTER TABLE u ADD FOREIGN KEY (a) REFERENCES p (id), RENAME AS src.u2",
        "ALTER TABLE u ADD FOREIGN KEY (a) REFERENCES p (id), RENAME COLUMN a TO b"};
    for (size_t i = 0; i < sizeof(alters) / sizeof(alters[0]); i++) {
        assert_int_equal(ferry_mysql_ddl_rewrite("src", alters[i], strlen(alters[i]), 0, m, NULL,
                                                 NULL, &r, NULL, 0),
                         0);
        if (i < 3) {
            assert_int_equal(r.rename_to, 2);
            assert_string_equal(r.names[r.rename_to].table, "u2");
        } else {
            assert_int_equal(r.rename_to, 0);
        }
        ferry_ddl_rewrite_free(&r);
    }
    ferry_rename_map_destroy(m);
}

static void view_rewrite(void **state)
{
    (void)state;
    ferry_rename_map_t *m = ferry_rename_map_new();
    assert_int_equal(ferry_rename_map_add_db(m, "src", "dst"), 0);
    assert_int_equal(ferry_rename_map_add_table(m, "src", "t", "dst", "t2"), 0);
    ferry_viewdef_t v = {.db = "src",
                         .name = "v`1",
                         .definition = "select `src`.`t`.`a` AS `a`,'src.t' AS `s` from `src`.`t` "
                                       "join `other`.`x` on `other`.`x`.`id` = `src`.`t`.`a`",
                         .check_option = "CASCADED",
                         .security = "INVOKER"};
    char *sql = NULL;
    assert_int_equal(ferry_mysql_ddl_create_view(&v, m, &sql, NULL, 0), 0);
    assert_string_equal(sql, "CREATE OR REPLACE SQL SECURITY INVOKER VIEW `dst`.`v``1` AS select "
                             "`dst`.`t2`.`a` AS `a`,'src.t' AS `s` from `dst`.`t2` join "
                             "`other`.`x` on `other`.`x`.`id` = `dst`.`t2`.`a` WITH CASCADED "
                             "CHECK OPTION");
    free(sql);
    ferry_rename_map_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(patterns),        cmocka_unit_test(string_literals),
        cmocka_unit_test(members),         cmocka_unit_test(quoting),
        cmocka_unit_test(json_round_trip), cmocka_unit_test(plan_from_def),
        cmocka_unit_test(ddl_rewrite),     cmocka_unit_test(view_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
