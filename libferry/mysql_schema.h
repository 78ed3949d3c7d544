/*
 * mysql_schema.h - table definitions of the MySQL family, read from a live
 * server, checked, and carried as JSON.
 *
 * Schema migration needs more than the row model: a destination table is
 * created with the source's exact column types, defaults, generated columns,
 * indexes, comments and charsets, and a consumer must be able to do that from
 * a ddl-topic event alone, without reaching the source. ferry_tabledef_t is
 * that full definition. It is read from information_schema (COLUMNS,
 * STATISTICS, TABLES, CHECK_CONSTRAINTS, KEY_COLUMN_USAGE with
 * REFERENTIAL_CONSTRAINTS, TRIGGERS, VIEWS), never by parsing SHOW CREATE
 * TABLE, so every value arrives already split into fields.
 *
 * Servers differ in how information_schema spells things; the reader takes a
 * flavor and normalises:
 *
 *  - COLUMN_DEFAULT: MariaDB (10.2.7+) writes SQL text: string literals
 *    quoted ('it''s'), expressions bare (current_timestamp(6)), the word
 *    NULL for DEFAULT NULL and SQL NULL for "no default". MySQL and
 *    OceanBase write a literal's value unquoted, SQL NULL for both DEFAULT
 *    NULL and no default (told apart by nullability), and mark expression
 *    defaults with EXTRA 'DEFAULT_GENERATED' (MySQL 8; 5.7 and OceanBase
 *    only have CURRENT_TIMESTAMP, recognised by name).
 *  - EXTRA: MariaDB 'VIRTUAL GENERATED', 'INVISIBLE', 'on update
 *    current_timestamp(6)'; MySQL adds 'DEFAULT_GENERATED'.
 *  - CHECK constraints: MariaDB has CHECK_CONSTRAINTS.TABLE_NAME and LEVEL
 *    (MariaDB's JSON type is LONGTEXT plus a column-level json_valid() check);
 *    MySQL 8.0.16+ names the table through TABLE_CONSTRAINTS.
 *  - Indexes: MariaDB's STATISTICS.IGNORED and MySQL's IS_VISIBLE and
 *    EXPRESSION (functional key parts) are read where they exist.
 *
 * MariaDB and MySQL keep identifiers, comments and ENUM members in utf8mb3
 * metadata, so 4-byte UTF-8 (emoji) cannot appear in them at the source;
 * everything here is byte-transparent and would carry it if a server did.
 *
 * Ownership: a ferry_tabledef_t owns every string and array it points at
 * (an arena inside it); ferry_tabledef_destroy frees them all.
 */
#ifndef FERRY_MYSQL_SCHEMA_H
#define FERRY_MYSQL_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "row.h"

typedef struct st_mysql MYSQL;
typedef struct ferry_arena ferry_arena_t;

/* Whose information_schema spelling to expect, and whose DDL to write. */
typedef enum {
    FERRY_MYSQL_FLAVOR_MYSQL = 0, /* MySQL 5.7/8.x, OceanBase MySQL mode, TiDB */
    FERRY_MYSQL_FLAVOR_MARIADB,
} ferry_mysql_flavor_t;

/* The flavor of a server from its version string ("10.11.6-MariaDB-..."). */
ferry_mysql_flavor_t ferry_mysql_flavor_from_version(const char *version);

typedef enum {
    FERRY_DEFAULT_NONE = 0,   /* no DEFAULT clause */
    FERRY_DEFAULT_NULL,       /* DEFAULT NULL */
    FERRY_DEFAULT_LITERAL,    /* a string value, unquoted in default_value */
    FERRY_DEFAULT_RAW,        /* SQL literal written as is: 1.5, -3, b'101', 0x0A */
    FERRY_DEFAULT_EXPRESSION, /* current_timestamp(6), rand(), concat(...) */
} ferry_default_kind_t;

typedef enum {
    FERRY_GENERATED_NONE = 0,
    FERRY_GENERATED_VIRTUAL,
    FERRY_GENERATED_STORED,
} ferry_generated_t;

typedef struct {
    ferry_column_t col;      /* row model: name, ferry type, flags, sizes, members, pk_pos;
                                col.type is 0 when ferry has no mapping (precheck error) */
    const char *column_type; /* COLUMN_TYPE as the source spells it: "int(10) unsigned" */
    const char *data_type;   /* DATA_TYPE: "int", "varchar", "point" */
    ferry_default_kind_t default_kind;
    const char *default_value; /* NULL for NONE and NULL kinds */
    bool auto_increment;
    const char *on_update; /* ON UPDATE expression ("current_timestamp(6)") or NULL */
    ferry_generated_t generated;
    const char *generation_expr; /* NULL unless generated */
    const char *comment;         /* "" when none */
    const char *charset;         /* NULL for non-text columns */
    const char *collation;
    bool invisible;
} ferry_coldef_t;

typedef enum {
    FERRY_INDEX_PRIMARY = 1,
    FERRY_INDEX_UNIQUE,
    FERRY_INDEX_PLAIN,
    FERRY_INDEX_FULLTEXT,
    FERRY_INDEX_SPATIAL,
} ferry_index_kind_t;

typedef struct {
    const char *column;     /* NULL for a functional key part */
    const char *expression; /* MySQL 8 functional key part, else NULL */
    uint32_t prefix;        /* SUB_PART: prefix length, 0 = whole column */
    bool desc;
} ferry_index_part_t;

typedef struct {
    const char *name; /* "PRIMARY" for the primary key */
    ferry_index_kind_t kind;
    const char *using; /* "HASH" or NULL (the engine's default) */
    const char *comment;
    bool invisible; /* MariaDB IGNORED, MySQL NOT VISIBLE */
    ferry_index_part_t *parts;
    size_t n_parts;
} ferry_indexdef_t;

typedef struct {
    const char *name;
    const char *clause;
    const char *column; /* MariaDB column-level check: the column; else NULL */
    bool not_enforced;  /* MySQL NOT ENFORCED */
} ferry_checkdef_t;

/* A foreign key: held back at migration, added at switchover. */
typedef struct {
    const char *name;
    const char **columns;
    const char *ref_db, *ref_table;
    const char **ref_columns;
    size_t n_columns;
    const char *on_update, *on_delete; /* "RESTRICT", "CASCADE", "SET NULL", ... */
} ferry_fkdef_t;

/* A trigger: held back at migration, created at switchover. */
typedef struct {
    const char *name;
    const char *timing; /* BEFORE / AFTER */
    const char *event;  /* INSERT / UPDATE / DELETE */
    const char *body;   /* ACTION_STATEMENT */
    const char *sql_mode;
} ferry_triggerdef_t;

typedef struct ferry_tabledef {
    const char *db, *name;
    const char *engine;              /* NULL when unknown */
    const char *charset, *collation; /* table defaults */
    const char *comment;             /* "" when none */
    const char *create_options;      /* TABLES.CREATE_OPTIONS ("partitioned", ...) */
    uint64_t auto_increment;         /* next value, 0 when none */
    ferry_coldef_t *columns;
    size_t n_columns;
    ferry_indexdef_t *indexes; /* primary key first, then in the source's order */
    size_t n_indexes;
    ferry_checkdef_t *checks;
    size_t n_checks;
    ferry_fkdef_t *fks;
    size_t n_fks;
    ferry_triggerdef_t *triggers; /* in ACTION_ORDER per timing and event */
    size_t n_triggers;
    ferry_arena_t *arena; /* owns everything above */
} ferry_tabledef_t;

typedef struct {
    const char *db, *name;
    const char *definition;   /* VIEW_DEFINITION, canonical with `db`.`table` names */
    const char *check_option; /* "NONE", "CASCADED", "LOCAL" */
    const char *security;     /* "DEFINER" or "INVOKER" */
} ferry_viewdef_t;

/* A list of views, owning its strings. */
typedef struct {
    ferry_viewdef_t *views;
    size_t n;
    ferry_arena_t *arena;
} ferry_viewlist_t;

/* One selected table, as ferry_mysql_schema_list_tables returns it. */
typedef struct {
    char *db, *table;
} ferry_table_name_t;

/* ---- table definitions -------------------------------------------------- */

/* An empty definition for db.name; NULL when out of memory. */
ferry_tabledef_t *ferry_tabledef_new(const char *db, const char *name);

/* Frees def and all it owns; NULL is a no-op. */
void ferry_tabledef_destroy(ferry_tabledef_t *def);

/* Index of the column called name (case-insensitive, as MySQL), or -1. */
int ferry_tabledef_find_column(const ferry_tabledef_t *def, const char *name);

/*
 * The key that identifies a row: the primary key, else the first UNIQUE
 * index whose columns are all NOT NULL and whole (no prefix, no expression);
 * NULL when there is none.
 */
const ferry_indexdef_t *ferry_tabledef_row_key(const ferry_tabledef_t *def);

/*
 * True when def has a UNIQUE index besides its row key. Such an index ties
 * rows together (a value one row gives up, another takes), so their changes
 * replay correctly only in source order, not per key.
 */
bool ferry_tabledef_other_unique_key(const ferry_tabledef_t *def);

/*
 * Builds the row-model table (row.h) of def: every column in order, with
 * NULLABLE and pk_pos set. A column without a ferry type makes it fail with
 * FERRY_ERR_UNSUPPORTED naming table and column. The caller frees *out with
 * ferry_table_destroy.
 */
int ferry_tabledef_to_table(const ferry_tabledef_t *def, ferry_table_t **out, char *errstr,
                            size_t errstr_size);

/* ---- reading from a server ---------------------------------------------- */

/*
 * Reads db.table from information_schema. Returns 0 and *out (the caller
 * destroys it), FERRY_ERR_NOT_FOUND when the table does not exist (or is a
 * view), FERRY_ERR_IO with the server's message when a query fails, or
 * FERRY_ERR_NOMEM. *out is NULL on failure.
 */
int ferry_mysql_schema_read_table(MYSQL *conn, ferry_mysql_flavor_t flavor, const char *db,
                                  const char *table, ferry_tabledef_t **out, char *errstr,
                                  size_t errstr_size);

/*
 * Lists base tables matching any of includes and none of excludes
 * (ferry_table_pattern_match), leaving out the system schemas mysql,
 * information_schema, performance_schema and sys. Sorted by db, table.
 * *out is a malloc'd array freed with ferry_table_names_free.
 */
int ferry_mysql_schema_list_tables(MYSQL *conn, const char *const *includes, size_t n_includes,
                                   const char *const *excludes, size_t n_excludes,
                                   ferry_table_name_t **out, size_t *n_out, char *errstr,
                                   size_t errstr_size);

void ferry_table_names_free(ferry_table_name_t *names, size_t n);

/* Reads the views of db (all of them), sorted by name. Free with ferry_viewlist_free. */
int ferry_mysql_schema_read_views(MYSQL *conn, const char *db, ferry_viewlist_t *out, char *errstr,
                                  size_t errstr_size);

void ferry_viewlist_free(ferry_viewlist_t *list);

/* ---- helpers ------------------------------------------------------------ */

/*
 * True when db.table matches pattern "dbpat.tablepat". In each part '*' and
 * '%' match any run of characters (also none) and every other character,
 * '_' included, matches itself; comparison is case-sensitive, as MySQL's
 * table names on Linux. A pattern without a '.' is a database pattern
 * ("shop" = "shop.*"). The first '.' splits, so a database name cannot
 * contain one.
 */
bool ferry_table_pattern_match(const char *pattern, const char *db, const char *table);

/*
 * Reads the single-quoted string literal at the start of s (len bytes, s[0]
 * the quote) as MySQL does: '' and backslash escapes undone, except \% and
 * \_, which stay two characters (they mean something only to LIKE). Returns
 * 0 with the text in arena memory in *out (NUL-terminated, though \0 can put
 * a NUL inside it), its length in *out_len, and in *used the bytes read up to
 * and including the closing quote; FERRY_ERR_INVALID when s does not start
 * with a whole literal, or FERRY_ERR_NOMEM.
 */
int ferry_mysql_read_string(const char *s, size_t len, ferry_arena_t *arena, char **out,
                            size_t *out_len, size_t *used);

/*
 * True when s is the current time as a default or ON UPDATE expression:
 * CURRENT_TIMESTAMP, NOW, LOCALTIME or LOCALTIMESTAMP (any case), bare or
 * followed by its parenthesised precision. Such a default is written without
 * the parentheses an expression default needs.
 */
bool ferry_mysql_is_now_expr(const char *s);

/*
 * Parses the members of an ENUM or SET from COLUMN_TYPE text such as
 * "enum('a','it''s','back\\\\slash')" ('' and backslash escapes undone).
 * Returns 0 with *members (n_members strings, allocated from arena), or
 * FERRY_ERR_INVALID when the text is not such a type.
 */
int ferry_mysql_parse_members(const char *column_type, ferry_arena_t *arena, const char ***members,
                              uint32_t *n_members);

/*
 * Maps a column to ferry's row model (schemas/TYPE-MAPPING.md). data_type
 * and column_type as information_schema gives them; char_len, precision,
 * scale and fsp from CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION,
 * NUMERIC_SCALE, DATETIME_PRECISION (negative when NULL). Fills type, flags
 * (UNSIGNED only; the caller adds NULLABLE), length, precision, scale, fsp
 * and members (from arena). Returns 0, or FERRY_ERR_UNSUPPORTED for a type
 * ferry does not carry (col->type stays 0).
 */
int ferry_mysql_map_column(const char *data_type, const char *column_type, long long char_len,
                           long long precision, long long scale, long long fsp,
                           ferry_arena_t *arena, ferry_column_t *col);

/* ---- prechecks ---------------------------------------------------------- */

typedef struct {
    bool error; /* false: a warning */
    char *text; /* malloc'd */
} ferry_precheck_item_t;

/*
 * Checks what migration cannot carry or should warn about: columns of types
 * ferry has no mapping for (error, naming table and column), a table without
 * primary key or NOT NULL unique key (warning: rows are matched on the full
 * before image), partitioning (warning: not recreated), foreign keys and
 * triggers (warning: held back until switchover). Appends to *items / *n
 * (realloc'd; free with ferry_precheck_items_free). Returns the number of
 * errors found, or FERRY_ERR_NOMEM.
 */
int ferry_tabledef_precheck(const ferry_tabledef_t *def, ferry_precheck_item_t **items, size_t *n);

void ferry_precheck_items_free(ferry_precheck_item_t *items, size_t n);

/* ---- JSON ---------------------------------------------------------------- */

/*
 * A self-contained JSON document of def (the "table_definition" of a
 * schema-change event): every field above, so that ferry_tabledef_from_json
 * gives back an equal definition. Strings that are not valid UTF-8 (a
 * binary column's default) are written as {"hex": "..."}. Returns a malloc'd
 * NUL-terminated text (compact, keys in a fixed order), or NULL when out of
 * memory.
 */
char *ferry_tabledef_to_json(const ferry_tabledef_t *def);

/*
 * Parses what ferry_tabledef_to_json writes. Returns 0 and *out, or
 * FERRY_ERR_INVALID with the first problem in errstr, or FERRY_ERR_NOMEM.
 */
int ferry_tabledef_from_json(const char *text, size_t len, ferry_tabledef_t **out, char *errstr,
                             size_t errstr_size);

/* True when a and b hold the same definition (for tests and the verifier). */
bool ferry_tabledef_equal(const ferry_tabledef_t *a, const ferry_tabledef_t *b);

#endif
