/*
 * fullload_shape.h - the shape a full-load worker reads a table in, when the
 * table's definition may change while its chunks are being copied
 * (fullload.c only).
 *
 * The consumer runs a table's DDL statements in catch-up, after every chunk
 * of its full load is loaded, so during the load the destination table has
 * the definition the producer announced (SNAPSHOT_TABLE on <prefix>.ddl).
 * A worker therefore publishes every snapshot row in that announced shape,
 * whatever the source table looks like when the chunk is read:
 *
 *  - the chunk is read from where the table is now: a RENAME TABLE (or
 *    ALTER TABLE ... RENAME) captured on the ddl topic since the
 *    announcement is followed; a table dropped since gives empty chunks;
 *  - each announced column is read from the source column of the same name;
 *    an announced column the source no longer has is matched to the source
 *    column at the same ordinal position when that one has a name the
 *    announcement does not know (CHANGE / RENAME COLUMN in place); otherwise
 *    it is gone (DROP COLUMN) and rows carry a placeholder for it (NULL, or
 *    the type's zero value when the column is NOT NULL), which the consumer
 *    loads and the DROP replayed later removes;
 *  - source columns the announcement does not know (ADD COLUMN) are not
 *    read: the replayed ADD gives every row its default, and the changes
 *    after it, replayed too, set the values written since;
 *  - a column whose type changed (MODIFY / CHANGE) is read in the announced
 *    type. A row whose value does not fit it (text that is no number, a
 *    string longer than the old length, a number out of the old range, NULL
 *    in a column that was NOT NULL) is left out of the chunk: a value that
 *    does not fit the old type was written after the statement, so the
 *    change that wrote it follows the statement in the change topic and the
 *    consumer's replay (safe mode from P0) puts the whole row back there.
 *
 * A chunk's read checks the source's column signature inside its consistent
 * snapshot; when it differs from the one the shape was made from (or the
 * SELECT meets a column or table that is gone) the attempt is abandoned and
 * the shape made again (fullload.c).
 */
#ifndef FERRY_FULLLOAD_SHAPE_H
#define FERRY_FULLLOAD_SHAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "link_map.h"
#include "mysql_schema.h"
#include "registry.h"
#include "row.h"

typedef struct st_mysql MYSQL;

#define FERRY_FULLLOAD_SHAPE_GONE ((size_t)-1)

typedef struct {
    ferry_tabledef_t *pub_def; /* the announced definition (or the first one read) */
    ferry_table_t *pub;        /* rows are published in this shape */
    ferry_tabledef_t *cur_def; /* the source table as it is; NULL when dropped */
    ferry_table_t *cur;
    ferry_table_t *sel;       /* pub's columns the source has, under the source's names */
    size_t *sel_of;           /* per pub column: its index in sel, or FERRY_FULLLOAD_SHAPE_GONE */
    bool *changed;            /* per pub column: the source's type is another one */
    bool reshaped;            /* sel is not pub column for column */
    bool dropped;             /* the table was dropped at the source */
    char *src_db, *src_table; /* where the source table is now */
    char *sig;                /* the column signature the shape was made from */
} ferry_fullload_shape_t;

/* Where to find the announcement and what follows it. */
typedef struct {
    const char *const *kafka_props;
    const char *prefix; /* the ddl topic is <prefix>.ddl */
    ferry_registry_t *registry;
    const ferry_rename_map_t *filters; /* column filters; NULL for none */
    int timeout_ms;
} ferry_fullload_shape_src_t;

/*
 * Makes the shape of db.table (its announced names) through conn. Returns 0,
 * FERRY_ERR_RETRIABLE when the table is not at the source under the name
 * the ddl topic gives yet (capture has not published its RENAME yet), or
 * another negative ferry_err_t with the reason.
 */
int ferry_fullload_shape_load(MYSQL *conn, ferry_mysql_flavor_t flavor,
                              const ferry_fullload_shape_src_t *src, const char *db,
                              const char *table, ferry_fullload_shape_t *out, char *errstr,
                              size_t errstr_size);

/* Frees what s holds and zeroes it. */
void ferry_fullload_shape_clear(ferry_fullload_shape_t *s);

/*
 * The column signature of db.table (names, types, nullability, collations in
 * order) into *out (malloc'd; NULL when the table does not exist). Returns 0
 * or the server's error class (mysql errno in *server_errno).
 */
int ferry_fullload_shape_signature(MYSQL *conn, const char *db, const char *table, char **out,
                                   unsigned *server_errno, char *errstr, size_t errstr_size);

/*
 * The published row of a row read in s->sel (values in arena a). Returns
 * NULL in *out when the row does not fit the published shape (see above);
 * FERRY_ERR_NOMEM or 0.
 */
int ferry_fullload_shape_row(const ferry_fullload_shape_t *s, const ferry_row_t *sel_row,
                             ferry_arena_t *a, const ferry_row_t **out);

#endif
