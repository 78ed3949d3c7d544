/*
 * link_map.h - what the project file says about each table.
 *
 * The one place that reads the table keys of a project file: which source
 * tables a link carries (tables.include / tables.exclude), where they go
 * (rename.databases / rename.tables) and which of their columns travel
 * (columns.include.<db>.<table> / columns.exclude.<db>.<table>), and which
 * of their rows (where.<db>.<table>, row_filter.h). The producer drops
 * filtered columns and rows before anything reaches Kafka; the consumer
 * applies the renames.
 */
#ifndef FERRY_LINK_MAP_H
#define FERRY_LINK_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "mysql_ddl.h"
#include "mysql_schema.h"
#include "row_filter.h"

/* True when db.table is selected by tables.include / tables.exclude. */
bool ferry_link_table_selected(const ferry_conf_t *conf, const char *db, const char *table);

/*
 * The source's tables that ferry_link_table_selected keeps, sorted by db and
 * table. Returns 0 and *names / *n (ferry_table_names_free), or a negative
 * ferry_err_t with the reason.
 */
int ferry_link_list_tables(const ferry_conf_t *conf, MYSQL *source, ferry_table_name_t **names,
                           size_t *n, char *errstr, size_t errstr_size);

/*
 * The per-table keys (columns.include.*, columns.exclude.*, where.*) that
 * name none of tables[0..n): calls fn(arg, key, name) for each, name being
 * the key's "db.table" part, and returns how many. A misspelt table in such a key would otherwise
 * leave its columns or rows unfiltered without a word.
 */
size_t ferry_link_unmatched_table_keys(const ferry_conf_t *conf, const ferry_table_name_t *tables,
                                       size_t n,
                                       void (*fn)(void *arg, const char *key, const char *name),
                                       void *arg);

/*
 * 0 when every column that def's columns.include / columns.exclude key
 * names is a column of def; else FERRY_ERR_INVALID naming the first that is
 * not (a misspelt column would travel although the project leaves it out).
 */
int ferry_link_filter_columns_known(const ferry_conf_t *conf, const ferry_tabledef_t *def,
                                    char *errstr, size_t errstr_size);

/*
 * A map with the project's renames, and the column filters of the given
 * tables (filters are per table, so the tables must be named; NULL, 0 for
 * renames only). Returns 0 and *out (ferry_rename_map_destroy), or
 * FERRY_ERR_INVALID naming the key at fault.
 */
int ferry_link_map_new(const ferry_conf_t *conf, const ferry_table_name_t *tables, size_t n,
                       ferry_rename_map_t **out, char *errstr, size_t errstr_size);

/*
 * Removes the columns map filters out of def, with the indexes and foreign
 * keys that use them. Refused (FERRY_ERR_INVALID, naming the column) when a
 * filtered column is part of the key rows are matched on, or is used by a
 * generated column that stays.
 */
int ferry_link_filter_columns(ferry_tabledef_t *def, const ferry_rename_map_t *map, char *errstr,
                              size_t errstr_size);

/*
 * Binds f (NULL: nothing to do) to t, a row model of def's table after
 * column filters, with the collation def gives each column of the same
 * name (def may be NULL: collations unknown). Errors as ferry_row_filter_bind.
 */
int ferry_link_row_filter_bind(ferry_row_filter_t *f, const ferry_table_t *t,
                               const ferry_tabledef_t *def, char *errstr, size_t errstr_size);

/*
 * The row filter of db.table (where.<db>.<table>) parsed and bound to t and
 * def as above: 0 and *out (NULL when the project sets none; free with
 * ferry_row_filter_destroy), or the parse or bind error naming the key.
 */
int ferry_link_row_filter(const ferry_conf_t *conf, const char *db, const char *table,
                          const ferry_table_t *t, const ferry_tabledef_t *def,
                          ferry_row_filter_t **out, char *errstr, size_t errstr_size);

#endif
