/*
 * mysql_ddl.h - DDL for a MySQL-family destination: CREATE statements from
 * table definitions, and binlog DDL rewritten for the destination.
 *
 * Both sides apply the same mapping (ferry_rename_map_t): databases and
 * tables renamed (src_db -> dst_db, src_db.t -> dst_db.t2) and per-table
 * column filters (drop these columns, or keep only these). Every identifier
 * ferry writes is quoted with backticks (a backtick inside doubled) and every
 * string literal with single quotes ('' and \\ inside), so names with
 * backticks, quotes, spaces, reserved words or any UTF-8 are safe. The
 * literals assume the destination session does not run with
 * NO_BACKSLASH_ESCAPES (the consumer sets its sql_mode).
 *
 * Foreign keys and triggers are never part of a CREATE TABLE: they come back
 * as separate statements to run at switchover.
 *
 * Rewriting binlog DDL uses a tokenizer that knows MySQL's quoting and
 * comments: backticks, '...' and "..." strings, C-style, "-- " and "#"
 * comments, and the executable comments that start with slash-star-bang
 * (optionally a version: !50100) or MariaDB's slash-star-M-bang, whose content
 * is treated as part of the statement. Only the tokens that name databases,
 * tables and columns in known positions are replaced; everything else,
 * comments included, is kept byte for byte. Table names in the output are
 * always qualified (`db`.`table`), so the destination session needs no
 * default database.
 *
 * Case: database and table names compare case-sensitively (MySQL on Linux
 * with lower_case_table_names=0), column names case-insensitively.
 */
#ifndef FERRY_MYSQL_DDL_H
#define FERRY_MYSQL_DDL_H

#include <stdbool.h>
#include <stddef.h>

#include "mysql_schema.h"
#include "strbuf.h"

/* ---- mapping ---------------------------------------------------------------- */

typedef struct ferry_rename_map ferry_rename_map_t;

/* An empty map (everything keeps its name); NULL when out of memory. */
ferry_rename_map_t *ferry_rename_map_new(void);
void ferry_rename_map_destroy(ferry_rename_map_t *m);

/* Every table of src_db goes to dst_db (unless a table rule says otherwise). */
int ferry_rename_map_add_db(ferry_rename_map_t *m, const char *src_db, const char *dst_db);

/* src_db.src_table goes to dst_db.dst_table. */
int ferry_rename_map_add_table(ferry_rename_map_t *m, const char *src_db, const char *src_table,
                               const char *dst_db, const char *dst_table);

/*
 * Column filter of src_db.src_table: with keep false, column is dropped; with
 * keep true, only the columns so named are kept (one call per column).
 * A table has one mode; mixing them gives FERRY_ERR_INVALID.
 */
int ferry_rename_map_filter_column(ferry_rename_map_t *m, const char *src_db, const char *src_table,
                                   const char *column, bool keep);

/*
 * Destination names of src_db.src_table (pointers into the map or the
 * arguments; valid while both are).
 */
void ferry_rename_map_table(const ferry_rename_map_t *m, const char *src_db, const char *src_table,
                            const char **dst_db, const char **dst_table);

/* Destination name of a database. */
const char *ferry_rename_map_db(const ferry_rename_map_t *m, const char *src_db);

/* True when src_db.src_table has a column filter. */
bool ferry_rename_map_has_filter(const ferry_rename_map_t *m, const char *src_db,
                                 const char *src_table);

/* True when the filter of src_db.src_table leaves column out. */
bool ferry_rename_map_column_dropped(const ferry_rename_map_t *m, const char *src_db,
                                     const char *src_table, const char *column);

/* ---- quoting ---------------------------------------------------------------- */

/* Appends `name` with backticks doubled. */
void ferry_mysql_quote_ident(ferry_strbuf_t *b, const char *name);

/* Appends 'text' with ' doubled and \ and NUL escaped. */
void ferry_mysql_quote_string(ferry_strbuf_t *b, const char *text);

/* ---- DDL from definitions --------------------------------------------------------- */

/* What creating one table takes, beyond the CREATE TABLE itself. */
typedef struct {
    char *create_database; /* CREATE DATABASE IF NOT EXISTS `dst_db` ... */
    char *create_table;    /* CREATE TABLE IF NOT EXISTS `dst_db`.`dst_table` (...) */
    char **held_back;      /* ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY, CREATE TRIGGER */
    size_t n_held_back;
    char **notes; /* what was left out and why, one line each (e.g. dropped columns) */
    size_t n_notes;
} ferry_ddl_plan_t;

/*
 * Generates the destination DDL of def under map, for a destination of the
 * given flavor. Fails with FERRY_ERR_UNSUPPORTED (reason in errstr, naming
 * table and column) when the filter drops a column that a kept index,
 * generated column, CHECK or foreign key needs, or when the filter leaves no
 * column. The caller frees plan with ferry_ddl_plan_free, also on failure.
 */
int ferry_mysql_ddl_plan(const ferry_tabledef_t *def, const ferry_rename_map_t *map,
                         ferry_mysql_flavor_t dest, ferry_ddl_plan_t *plan, char *errstr,
                         size_t errstr_size);

void ferry_ddl_plan_free(ferry_ddl_plan_t *plan);

/*
 * "ALTER TABLE `dst_db`.`dst_table` ADD <index>" for ix as CREATE TABLE
 * would write it, malloc'd into *out. Returns 0 or FERRY_ERR_NOMEM.
 */
int ferry_mysql_ddl_add_index(const char *dst_db, const char *dst_table, const ferry_indexdef_t *ix,
                              ferry_mysql_flavor_t dest, char **out);

/*
 * CREATE OR REPLACE VIEW for view under map (malloc'd into *out). The view's
 * body is the server's canonical definition, in which every table is written
 * `db`.`table` (and columns `db`.`table`.`col`); those names are rewritten
 * through map. Limits: a view body is not re-parsed, so a table alias that
 * is spelled like a renamed database, or a name built at run time, is not
 * recognised; columns dropped by a filter are not removed from the view
 * (creating it then fails on the destination with the server's reason).
 * DEFINER is left to the destination's current user.
 */
int ferry_mysql_ddl_create_view(const ferry_viewdef_t *view, const ferry_rename_map_t *map,
                                char **out, char *errstr, size_t errstr_size);

/* ---- binlog DDL ------------------------------------------------------------------- */

typedef enum {
    FERRY_DDL_OTHER = 0,
    FERRY_DDL_CREATE_TABLE, /* also CREATE TABLE ... LIKE */
    FERRY_DDL_ALTER_TABLE,
    FERRY_DDL_DROP_TABLE,
    FERRY_DDL_RENAME_TABLE,
    FERRY_DDL_TRUNCATE_TABLE,
    FERRY_DDL_CREATE_INDEX,
    FERRY_DDL_DROP_INDEX,
    FERRY_DDL_CREATE_DATABASE,
    FERRY_DDL_DROP_DATABASE,
} ferry_ddl_kind_t;

/* The DdlKind symbol of schemas/ddl_event.avsc ("CREATE_TABLE", ...). */
const char *ferry_ddl_kind_name(ferry_ddl_kind_t kind);

/* Decides which source tables are migrated; table is NULL for a database. */
typedef bool (*ferry_ddl_selected_fn)(void *arg, const char *db, const char *table);

typedef struct {
    char *db, *table; /* source names; table NULL for database statements */
} ferry_ddl_name_t;

#define FERRY_DDL_ANSI_QUOTES          0x1u /* sql_mode ANSI_QUOTES: "x" is a name */
#define FERRY_DDL_NO_BACKSLASH_ESCAPES 0x2u /* sql_mode NO_BACKSLASH_ESCAPES */

typedef struct {
    ferry_ddl_kind_t kind;
    bool create_like;        /* CREATE TABLE ... LIKE */
    size_t rename_to;        /* ALTER TABLE ... RENAME [TO|AS] x: index of x in names; 0 none */
    ferry_ddl_name_t *names; /* every table named, in statement order (RENAME: a, b, c, d) */
    size_t n_names;
    char *sql;              /* the statement for the destination; NULL when nothing is to run */
    char *skip_reason;      /* why sql is NULL although the statement was understood */
    char **dropped_columns; /* filtered columns the statement touched (their parts removed) */
    size_t n_dropped_columns;
} ferry_ddl_rewrite_t;

/*
 * Classifies the binlog statement sql (len bytes; default_db is the QUERY
 * event's default database, may be NULL or "") and rewrites it for the
 * destination under map. selected (may be NULL = all selected) decides which
 * tables matter: a DROP TABLE or RENAME TABLE keeps only its selected
 * tables, and a statement on no selected table gives sql NULL with a
 * skip_reason. ALTER TABLE parts and CREATE TABLE columns on filtered
 * columns are removed and listed in dropped_columns (sql NULL with a reason
 * when nothing is left).
 *
 * Renames and filters follow names, not table identity: after RENAME TABLE
 * t TO t_old, rules written for t no longer apply to t_old (the caller adds
 * rules for the new name if it wants them to follow). Trigger bodies held
 * back by ferry_mysql_ddl_plan are run as they are (their sql_mode is in the
 * definition for the caller to set first), and the names inside them are
 * not rewritten.
 *
 * Returns 0 (out->sql or out->skip_reason set), FERRY_ERR_UNSUPPORTED with
 * the reason in errstr when the statement cannot be rewritten safely
 * (out->kind and out->names as far as they were understood), or
 * FERRY_ERR_NOMEM. The caller frees out with ferry_ddl_rewrite_free, also
 * on failure.
 */
int ferry_mysql_ddl_rewrite(const char *default_db, const char *sql, size_t len, unsigned flags,
                            const ferry_rename_map_t *map, ferry_ddl_selected_fn selected,
                            void *selected_arg, ferry_ddl_rewrite_t *out, char *errstr,
                            size_t errstr_size);

void ferry_ddl_rewrite_free(ferry_ddl_rewrite_t *r);

#endif
