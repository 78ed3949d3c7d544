/*
 * row_filter.h - the row filters of a link (where.<db>.<table>), parsed and
 * evaluated in C.
 *
 * A filter applies twice: the full load hands it to the source server in
 * each chunk's SELECT, and capture evaluates it here on every decoded
 * binlog row. Both must agree on every row, or the destination ends up with
 * rows the snapshot left out (or the reverse). So ferry accepts only a
 * grammar whose meaning it reproduces exactly, and gives the server not the
 * user's text but the canonical form of what it parsed
 * (ferry_row_filter_sql): every operator parenthesised, names in
 * backticks, string literals in a form no sql_mode can read otherwise. What
 * the grammar lacks is refused when the filter is parsed or bound, with a
 * one-line error naming the key and the part refused.
 *
 * The grammar (MySQL syntax; keywords in any case):
 *   condition  := term { (OR | ||) term }
 *   term       := factor { (AND | &&) factor }
 *   factor     := NOT factor | ( condition ) | predicate
 *   predicate  := column op literal | literal op column
 *               | column IS [NOT] NULL
 *               | column [NOT] IN ( literal {, literal} )
 *               | column [NOT] BETWEEN literal AND literal
 *               | column [NOT] LIKE 'pattern' [ESCAPE 'c']
 *               | column                    (a number column: column <> 0)
 *   op         := = | <> | != | < | <= | > | >= | <=>
 *   column     := name | `quoted name`      (no table qualifier)
 *   literal    := integer | decimal | float (1e3) | 'string' | NULL | TRUE | FALSE
 * with MySQL's precedence (NOT below the predicates). Strings take ''
 * and the backslash escapes of MySQL's default sql_mode. No functions,
 * arithmetic, column-to-column comparisons, hex or bit literals,
 * double-quoted text, comments, XOR, IS TRUE/FALSE, REGEXP.
 *
 * Values compare as MySQL compares a column with a constant:
 *  - numeric columns (integers, YEAR, BIT, DECIMAL, FLOAT, DOUBLE) with
 *    numbers only: exactly (integers and decimals), or as doubles when the
 *    column or a literal of the predicate is floating point;
 *  - DATE, DATETIME, TIMESTAMP with 'YYYY-MM-DD[ HH:MM:SS[.ffffff]]' and
 *    TIME with '[-]H:MM:SS[.ffffff]': as the column's type (TIMESTAMP in
 *    UTC, the time zone of ferry's sessions);
 *  - text, ENUM and SET with strings, in the column's collation: binary and
 *    _bin collations byte by byte, the _general_ci/_swedish_ci and Unicode
 *    _ci collations ASCII-case-insensitively, trailing spaces ignored
 *    except in NO PAD collations and in LIKE; binary strings byte by byte.
 *    What C cannot decide exactly (a _ci comparison meeting a non-ASCII
 *    character, a collation ferry does not know) is asked of the server
 *    through a callback with the predicate and the row's value as
 *    literals, so the answer is always the server's.
 * Any other pairing (a text column with a number, which MySQL compares as
 * doubles; a JSON or spatial column; a number column with a string) is
 * refused. NULL follows SQL: a predicate on NULL is unknown, and a row is
 * selected only when the whole condition is true.
 */
#ifndef FERRY_ROW_FILTER_H
#define FERRY_ROW_FILTER_H

#include <stddef.h>

#include "row.h"

struct ferry_conf;

typedef struct ferry_row_filter ferry_row_filter_t;

/*
 * Asks the source server for the value of sql, a SELECT of one condition
 * over constants. Sets *result to 1 (true), 0 (false) or -1 (NULL) and
 * returns 0, or returns a negative ferry_err_t with the reason in errstr.
 */
typedef int (*ferry_row_filter_ask_fn)(void *arg, const char *sql, size_t len, int *result,
                                       char *errstr, size_t errstr_size);

/*
 * Parses text, the condition of key (used in messages: "where.shop.orders").
 * Returns 0 and *out (free with ferry_row_filter_destroy), or
 * FERRY_ERR_UNSUPPORTED / FERRY_ERR_INVALID with one line naming key and the
 * part refused, or FERRY_ERR_NOMEM.
 */
int ferry_row_filter_parse(const char *key, const char *text, ferry_row_filter_t **out,
                           char *errstr, size_t errstr_size);

/*
 * The filter of db.table in the project file: 0 and *out (NULL when the
 * file sets no where.<db>.<table>), or the parse error.
 */
int ferry_row_filter_from_conf(const struct ferry_conf *conf, const char *db, const char *table,
                               ferry_row_filter_t **out, char *errstr, size_t errstr_size);

/* Frees f; NULL is a no-op. */
void ferry_row_filter_destroy(ferry_row_filter_t *f);

/* The key the filter came from ("where.shop.orders"). */
const char *ferry_row_filter_key(const ferry_row_filter_t *f);

/*
 * The condition as ferry understood it, in SQL every MySQL-family server
 * reads alike whatever its sql_mode; what the full load appends as
 * "AND (<sql>)". Owned by f.
 */
const char *ferry_row_filter_sql(const ferry_row_filter_t *f);

/* The columns the condition names, each once, in order of appearance. */
size_t ferry_row_filter_ncolumns(const ferry_row_filter_t *f);
const char *ferry_row_filter_column(const ferry_row_filter_t *f, size_t i);

/*
 * Resolves the filter's columns in t (case-insensitively) and checks every
 * predicate against the column's type. collations[i] is the collation of
 * t's column i ("utf8mb4_general_ci"), NULL for a column without one or
 * when unknown; collations itself may be NULL. Neither is kept. Binding
 * again (after DDL) replaces the previous binding. Returns 0, or
 * FERRY_ERR_INVALID (a column t does not have) / FERRY_ERR_UNSUPPORTED (a
 * comparison ferry cannot reproduce) naming the key, the column and why.
 */
int ferry_row_filter_bind(ferry_row_filter_t *f, const ferry_table_t *t,
                          const char *const *collations, char *errstr, size_t errstr_size);

/*
 * Evaluates the bound filter on row (a row of the table it was bound to).
 * ask (may be NULL) settles what C cannot decide exactly; without it such a
 * row fails with FERRY_ERR_UNSUPPORTED. Returns 1 when the condition is
 * true, 0 when it is false or NULL, or a negative ferry_err_t (the ask's,
 * or FERRY_ERR_INVALID when not bound) with the reason in errstr.
 */
int ferry_row_filter_match(const ferry_row_filter_t *f, const ferry_row_t *row,
                           ferry_row_filter_ask_fn ask, void *arg, char *errstr,
                           size_t errstr_size);

#endif
