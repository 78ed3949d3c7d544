/*
 * mysql_ddl_rewrite.c - binlog DDL statements classified and rewritten for
 * the destination, and view bodies renamed.
 *
 * A statement is cut into tokens (words, `quoted` names, strings,
 * punctuation); whitespace and comments are not tokens but stay in the text.
 * A small recursive reading of the token list finds the places that name a
 * table, a database or a column, and the rewrite is a list of byte-range
 * edits on the original text: replace a name, or delete a part (an ALTER
 * TABLE part on a filtered column, a table of a DROP that is not migrated).
 * Everything the edits do not touch, comments and odd spacing included, is
 * copied unchanged. That is what makes the rewrite safe where a regular
 * expression over the text is not: a keyword inside a string, a comment or
 * a quoted name is never mistaken for syntax.
 *
 * Executable comments (slash-star-bang, with an optional version, and
 * MariaDB's slash-star-M-bang) are read as part of the statement, since the
 * server that logged the statement ran their content. A deletion may not cross
 * such a comment's boundary; the statement is refused instead.
 */
#define _GNU_SOURCE /* strcasestr, asprintf */
#include "mysql_ddl.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

/* ---- tokens ---------------------------------------------------------------------- */

typedef enum { T_WORD, T_QIDENT, T_STRING, T_PUNCT } tok_kind_t;

typedef struct {
    tok_kind_t kind;
    size_t start, end; /* byte range in the statement */
    int depth;         /* parenthesis depth before the token */
} tok_t;

typedef struct {
    size_t start, end;
    char *text; /* replacement; NULL deletes */
} edit_t;

typedef struct {
    const char *sql;
    size_t len;
    unsigned flags;
    tok_t *t;
    size_t n, cap;
    size_t *markers; /* byte offsets where executable comments open or close */
    size_t n_markers, markers_cap;
    edit_t *edits;
    size_t n_edits, edits_cap;
    const char *default_db;
    const ferry_rename_map_t *map;
    ferry_ddl_selected_fn selected;
    void *selected_arg;
    ferry_ddl_rewrite_t *out;
    char *errstr;
    size_t errstr_size;
    int rc; /* first error */
} ctx_t;

static int fail(ctx_t *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(ctx_t *c, int rc, const char *fmt, ...)
{
    if (c->rc)
        return c->rc;
    c->rc = rc;
    if (c->errstr && c->errstr_size) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(c->errstr, c->errstr_size, "could not rewrite DDL statement: %s", msg);
    }
    return rc;
}

static int nomem(ctx_t *c)
{
    return fail(c, FERRY_ERR_NOMEM, "out of memory");
}

static bool push(void **arr, size_t *n, size_t *cap, size_t el)
{
    if (*n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 32;
    void *na = realloc(*arr, ncap * el);
    if (!na)
        return false;
    *arr = na;
    *cap = ncap;
    return true;
}

static bool word_char(unsigned char ch)
{
    return isalnum(ch) || ch == '_' || ch == '$' || ch >= 0x80;
}

/* Skips a quoted run starting at i (sql[i] is the quote); returns the index after it. */
static size_t skip_quoted(const ctx_t *c, size_t i, bool backslash)
{
    char q = c->sql[i++];
    while (i < c->len) {
        char ch = c->sql[i];
        if (backslash && ch == '\\' && i + 1 < c->len) {
            i += 2;
            continue;
        }
        if (ch == q) {
            if (i + 1 < c->len && c->sql[i + 1] == q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i++;
    }
    return (size_t)-1;
}

static int tokenize(ctx_t *c)
{
    const char *s = c->sql;
    size_t i = 0;
    int depth = 0;
    bool in_exec = false;
    bool bs = !(c->flags & FERRY_DDL_NO_BACKSLASH_ESCAPES);
    while (i < c->len) {
        unsigned char ch = (unsigned char)s[i];
        if (isspace(ch)) {
            i++;
            continue;
        }
        if (ch == '/' && i + 1 < c->len && s[i + 1] == '*') {
            size_t j = i + 2;
            bool exec = j < c->len && s[j] == '!';
            if (!exec && j + 1 < c->len && s[j] == 'M' && s[j + 1] == '!') {
                exec = true;
                j++;
            }
            if (exec) {
                if (in_exec)
                    return fail(c, FERRY_ERR_UNSUPPORTED, "nested executable comment");
                j++;
                while (j < c->len && isdigit((unsigned char)s[j]))
                    j++;
                if (!push((void **)&c->markers, &c->n_markers, &c->markers_cap, sizeof(size_t)))
                    return nomem(c);
                c->markers[c->n_markers++] = i;
                in_exec = true;
                i = j;
                continue;
            }
            const char *e = NULL;
            for (size_t k = j; k + 1 < c->len; k++)
                if (s[k] == '*' && s[k + 1] == '/') {
                    e = s + k;
                    break;
                }
            if (!e)
                return fail(c, FERRY_ERR_UNSUPPORTED, "unterminated comment");
            i = (size_t)(e - s) + 2;
            continue;
        }
        if (in_exec && ch == '*' && i + 1 < c->len && s[i + 1] == '/') {
            if (!push((void **)&c->markers, &c->n_markers, &c->markers_cap, sizeof(size_t)))
                return nomem(c);
            c->markers[c->n_markers++] = i;
            in_exec = false;
            i += 2;
            continue;
        }
        if (ch == '#' || (ch == '-' && i + 1 < c->len && s[i + 1] == '-' &&
                          (i + 2 >= c->len || isspace((unsigned char)s[i + 2]) ||
                           iscntrl((unsigned char)s[i + 2])))) {
            while (i < c->len && s[i] != '\n')
                i++;
            continue;
        }
        if (!push((void **)&c->t, &c->n, &c->cap, sizeof(tok_t)))
            return nomem(c);
        tok_t *t = &c->t[c->n];
        t->start = i;
        t->depth = depth;
        if (ch == '`' || ch == '\'' || ch == '"') {
            size_t e = skip_quoted(c, i, ch != '`' && bs);
            if (e == (size_t)-1)
                return fail(c, FERRY_ERR_UNSUPPORTED, "unterminated %s",
                            ch == '`' ? "quoted name" : "string");
            bool ident = ch == '`' || (ch == '"' && (c->flags & FERRY_DDL_ANSI_QUOTES));
            t->kind = ident ? T_QIDENT : T_STRING;
            i = e;
        } else if (word_char(ch)) {
            while (i < c->len && word_char((unsigned char)s[i]))
                i++;
            t->kind = T_WORD;
        } else {
            t->kind = T_PUNCT;
            i++;
            if (ch == '(')
                depth++;
            else if (ch == ')')
                depth--;
        }
        t->end = i;
        c->n++;
    }
    if (in_exec)
        return fail(c, FERRY_ERR_UNSUPPORTED, "unterminated executable comment");
    /* a trailing ';' is not part of the statement's grammar */
    while (c->n && c->t[c->n - 1].kind == T_PUNCT && s[c->t[c->n - 1].start] == ';')
        c->n--;
    return 0;
}

/* ---- token helpers ------------------------------------------------------------ */

static bool is_kw(const ctx_t *c, size_t i, const char *kw)
{
    if (i >= c->n || c->t[i].kind != T_WORD)
        return false;
    size_t n = c->t[i].end - c->t[i].start;
    return n == strlen(kw) && strncasecmp(c->sql + c->t[i].start, kw, n) == 0;
}

static bool is_punct(const ctx_t *c, size_t i, char p)
{
    return i < c->n && c->t[i].kind == T_PUNCT && c->sql[c->t[i].start] == p;
}

static bool is_ident(const ctx_t *c, size_t i)
{
    return i < c->n && (c->t[i].kind == T_WORD || c->t[i].kind == T_QIDENT);
}

/* The value of an identifier token (quotes removed, doubled quotes undone); malloc'd. */
static char *ident_value(ctx_t *c, size_t i)
{
    const tok_t *t = &c->t[i];
    const char *p = c->sql + t->start;
    size_t n = t->end - t->start;
    char *v = malloc(n + 1);
    if (!v) {
        nomem(c);
        return NULL;
    }
    if (t->kind != T_QIDENT) {
        memcpy(v, p, n);
        v[n] = '\0';
        return v;
    }
    char q = p[0];
    size_t k = 0;
    for (size_t j = 1; j + 1 < n; j++) {
        v[k++] = p[j];
        if (p[j] == q)
            j++;
    }
    v[k] = '\0';
    return v;
}

/* Index of the token after the matching ')' of the '(' at i. */
static size_t skip_parens(const ctx_t *c, size_t i)
{
    int d = c->t[i].depth;
    for (size_t j = i + 1; j < c->n; j++)
        if (is_punct(c, j, ')') && c->t[j].depth == d + 1)
            return j + 1;
    return c->n;
}

static bool add_edit(ctx_t *c, size_t start, size_t end, char *text)
{
    if (!push((void **)&c->edits, &c->n_edits, &c->edits_cap, sizeof(edit_t))) {
        free(text);
        nomem(c);
        return false;
    }
    c->edits[c->n_edits++] = (edit_t){start, end, text};
    return true;
}

/* Deletes bytes [start, end), refusing to cut an executable comment in two. */
static bool delete_range(ctx_t *c, size_t start, size_t end)
{
    for (size_t k = 0; k < c->n_markers; k++)
        if (c->markers[k] >= start && c->markers[k] < end) {
            fail(c, FERRY_ERR_UNSUPPORTED,
                 "the part to remove crosses an executable comment's boundary");
            return false;
        }
    return add_edit(c, start, end, NULL);
}

/* ---- names ------------------------------------------------------------------------ */

typedef struct {
    size_t first, last; /* token range */
    char *db, *table;   /* resolved source names (malloc'd) */
} qname_t;

static void qname_free(qname_t *q)
{
    free(q->db);
    free(q->table);
    q->db = q->table = NULL;
}

/*
 * Reads [db.]name at *i. rel_db resolves an unqualified name (the default
 * database, or the statement's table's database). Returns false on error.
 */
static bool read_qname(ctx_t *c, size_t *i, const char *rel_db, qname_t *q)
{
    memset(q, 0, sizeof(*q));
    if (!is_ident(c, *i)) {
        fail(c, FERRY_ERR_UNSUPPORTED, "expected a table name at offset %zu",
             *i < c->n ? c->t[*i].start : c->len);
        return false;
    }
    q->first = *i;
    char *a = ident_value(c, (*i)++);
    if (!a)
        return false;
    if (is_punct(c, *i, '.') && is_ident(c, *i + 1)) {
        q->db = a;
        q->table = ident_value(c, *i + 1);
        *i += 2;
        if (!q->table)
            return false;
    } else {
        q->table = a;
        if (!rel_db || !*rel_db) {
            fail(c, FERRY_ERR_UNSUPPORTED,
                 "table \"%s\" is not qualified and there is no "
                 "default database",
                 a);
            return false;
        }
        if (!(q->db = strdup(rel_db))) {
            nomem(c);
            return false;
        }
    }
    q->last = *i - 1;
    return true;
}

static bool record_name(ctx_t *c, const char *db, const char *table)
{
    ferry_ddl_rewrite_t *o = c->out;
    ferry_ddl_name_t *nn = realloc(o->names, (o->n_names + 1) * sizeof(*nn));
    if (!nn) {
        nomem(c);
        return false;
    }
    o->names = nn;
    nn[o->n_names].db = strdup(db);
    nn[o->n_names].table = table ? strdup(table) : NULL;
    o->n_names++;
    if (!nn[o->n_names - 1].db || (table && !nn[o->n_names - 1].table)) {
        nomem(c);
        return false;
    }
    return true;
}

static bool is_selected(ctx_t *c, const char *db, const char *table)
{
    return !c->selected || c->selected(c->selected_arg, db, table);
}

/* Replaces the tokens of q by the destination's `db`.`table`. */
static bool rename_qname(ctx_t *c, const qname_t *q)
{
    const char *dd, *dt;
    ferry_rename_map_table(c->map, q->db, q->table, &dd, &dt);
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    ferry_mysql_quote_ident(&b, dd);
    ferry_strbuf_put(&b, ".", 1);
    ferry_mysql_quote_ident(&b, dt);
    if (b.oom) {
        ferry_strbuf_free(&b);
        nomem(c);
        return false;
    }
    return add_edit(c, c->t[q->first].start, c->t[q->last].end, b.buf);
}

static bool note_dropped(ctx_t *c, const char *col)
{
    ferry_ddl_rewrite_t *o = c->out;
    char **nd = realloc(o->dropped_columns, (o->n_dropped_columns + 1) * sizeof(*nd));
    if (!nd) {
        nomem(c);
        return false;
    }
    o->dropped_columns = nd;
    if (!(nd[o->n_dropped_columns] = strdup(col))) {
        nomem(c);
        return false;
    }
    o->n_dropped_columns++;
    return true;
}

static bool set_skip(ctx_t *c, const char *reason)
{
    free(c->out->skip_reason);
    c->out->skip_reason = strdup(reason);
    if (!c->out->skip_reason)
        nomem(c);
    return c->out->skip_reason != NULL;
}

/*
 * The first identifier in tokens [from, to) that the filter of db.table
 * drops: quoted names anywhere, bare words inside parentheses (relative to
 * base_depth), where column names appear in key parts and expressions. A
 * function spelled like a filtered column is taken for it: refusing is the
 * safe mistake.
 * Returns a malloc'd name or NULL (also on error: check c->rc).
 */
static char *dropped_in(ctx_t *c, size_t from, size_t to, int base_depth, const char *db,
                        const char *table)
{
    for (size_t i = from; i < to && i < c->n; i++) {
        const tok_t *t = &c->t[i];
        if (t->kind != T_QIDENT && !(t->kind == T_WORD && t->depth > base_depth))
            continue;
        if (t->kind == T_WORD && strspn(c->sql + t->start, "0123456789") >= t->end - t->start)
            continue; /* a number */
        char *v = ident_value(c, i);
        if (!v)
            return NULL;
        if (ferry_rename_map_column_dropped(c->map, db, table, v))
            return v;
        free(v);
    }
    return NULL;
}

/* Rewrites every REFERENCES name in tokens [from, to); unqualified names are in rel_db. */
static bool rename_references(ctx_t *c, size_t from, size_t to, const char *rel_db)
{
    for (size_t i = from; i < to && i < c->n; i++) {
        if (!is_kw(c, i, "REFERENCES"))
            continue;
        size_t j = i + 1;
        qname_t q;
        if (!read_qname(c, &j, rel_db, &q))
            return false;
        bool ok =
            is_selected(c, q.db, q.table) ||
            fail(c, FERRY_ERR_UNSUPPORTED,
                 "foreign key references \"%s.%s\", which is not migrated", q.db, q.table) == 0;
        ok = ok && record_name(c, q.db, q.table) && rename_qname(c, &q);
        qname_free(&q);
        if (!ok)
            return false;
        i = j;
    }
    return true;
}

/* ---- lists of parts -------------------------------------------------------------- */

typedef struct {
    size_t first, last; /* token range of one comma-separated part */
    bool drop;
} part_t;

/* Splits tokens [from, to) at commas of depth `depth`. *parts is malloc'd. */
static size_t split_parts(ctx_t *c, size_t from, size_t to, int depth, part_t **parts)
{
    size_t n = 0, cap = 0;
    *parts = NULL;
    size_t start = from;
    for (size_t i = from; i <= to; i++) {
        if (i == to || (is_punct(c, i, ',') && c->t[i].depth == depth)) {
            if (!push((void **)parts, &n, &cap, sizeof(part_t))) {
                nomem(c);
                return 0;
            }
            (*parts)[n++] = (part_t){start, i - 1, false};
            start = i + 1;
        }
    }
    return n;
}

/* Deletes the parts marked drop, with their commas; false when none is left. */
static bool drop_parts(ctx_t *c, part_t *p, size_t n, bool *all_dropped)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        kept += !p[i].drop;
    *all_dropped = kept == 0;
    if (kept == 0 || kept == n)
        return true;
    for (size_t a = 0; a < n; a++) {
        if (!p[a].drop)
            continue;
        size_t b = a;
        while (b + 1 < n && p[b + 1].drop)
            b++;
        bool ok = b + 1 < n ? delete_range(c, c->t[p[a].first].start, c->t[p[b + 1].first].start)
                            : delete_range(c, c->t[p[a - 1].last].end, c->t[p[b].last].end);
        if (!ok)
            return false;
        a = b;
    }
    return true;
}

/* ---- statements ------------------------------------------------------------------ */

static const char *const constraint_words[] = {"CONSTRAINT", "PRIMARY",  "UNIQUE",  "KEY",
                                               "INDEX",      "FULLTEXT", "SPATIAL", "FOREIGN",
                                               "CHECK",      "PERIOD",   "SYSTEM",  NULL};

static bool is_constraint_start(const ctx_t *c, size_t i)
{
    for (size_t k = 0; constraint_words[k]; k++)
        if (is_kw(c, i, constraint_words[k]))
            return true;
    return false;
}

static void skip_if_exists(const ctx_t *c, size_t *i, bool not )
{
    if (is_kw(c, *i, "IF") && (!not || is_kw(c, *i + 1, "NOT")) &&
        is_kw(c, *i + (not ? 2 : 1), "EXISTS"))
        *i += not ? 3 : 2;
}

/*
 * Checks a kept column definition or key at tokens [from, to) for uses of
 * filtered columns (AFTER x, key parts, expressions) and renames its
 * REFERENCES.
 */
static bool check_part(ctx_t *c, size_t from, size_t to, const qname_t *tbl, const char *what)
{
    size_t stop = from;
    while (stop < to && !is_kw(c, stop, "REFERENCES"))
        stop++; /* the referenced columns belong to the other table */
    int base = from < c->n ? c->t[from].depth : 0;
    char *dep = dropped_in(c, from, stop, base, tbl->db, tbl->table);
    if (c->rc)
        return false;
    for (size_t i = from; !dep && i + 1 < to; i++)
        if (is_kw(c, i, "AFTER") && is_ident(c, i + 1)) {
            char *v = ident_value(c, i + 1);
            if (!v)
                return false;
            if (ferry_rename_map_column_dropped(c->map, tbl->db, tbl->table, v))
                dep = v;
            else
                free(v);
        }
    if (dep) {
        fail(c, FERRY_ERR_UNSUPPORTED,
             "%s uses column \"%s\" of \"%s.%s\", which the column "
             "filter leaves out",
             what, dep, tbl->db, tbl->table);
        free(dep);
        return false;
    }
    return rename_references(c, from, to, tbl->db);
}

/* CREATE TABLE [IF NOT EXISTS] name (...) | LIKE name | (LIKE name) */
static bool create_table(ctx_t *c, size_t i)
{
    c->out->kind = FERRY_DDL_CREATE_TABLE;
    skip_if_exists(c, &i, true);
    qname_t tbl;
    if (!read_qname(c, &i, c->default_db, &tbl))
        return false;
    bool ok = record_name(c, tbl.db, tbl.table);
    if (ok && !is_selected(c, tbl.db, tbl.table)) {
        ok = set_skip(c, "table is not migrated");
        goto out;
    }
    size_t like = is_kw(c, i, "LIKE")                                ? i
                  : (is_punct(c, i, '(') && is_kw(c, i + 1, "LIKE")) ? i + 1
                                                                     : 0;
    if (ok && like) {
        c->out->create_like = true;
        size_t j = like + 1;
        qname_t src;
        if (!read_qname(c, &j, c->default_db, &src)) {
            ok = false;
            goto out;
        }
        ok = record_name(c, src.db, src.table);
        if (ok && !is_selected(c, src.db, src.table))
            ok = fail(c, FERRY_ERR_UNSUPPORTED,
                      "CREATE TABLE ... LIKE copies \"%s.%s\", which is not migrated", src.db,
                      src.table) == 0;
        if (ok && (ferry_rename_map_has_filter(c->map, tbl.db, tbl.table) ||
                   ferry_rename_map_has_filter(c->map, src.db, src.table)))
            ok = fail(c, FERRY_ERR_UNSUPPORTED,
                      "CREATE TABLE ... LIKE with a column filter on \"%s.%s\" or \"%s.%s\"",
                      tbl.db, tbl.table, src.db, src.table) == 0;
        ok = ok && rename_qname(c, &tbl) && rename_qname(c, &src);
        qname_free(&src);
        goto out;
    }
    if (ok && !is_punct(c, i, '(')) {
        ok = fail(c, FERRY_ERR_UNSUPPORTED, "CREATE TABLE without a column list (... SELECT)") == 0;
        goto out;
    }
    if (!ok)
        goto out;
    size_t close = skip_parens(c, i); /* token after ')' */
    for (size_t k = close; k < c->n; k++)
        if (is_kw(c, k, "SELECT") ||
            (c->t[k].depth == 0 && (is_kw(c, k, "AS") || is_kw(c, k, "UNION")))) {
            ok = fail(c, FERRY_ERR_UNSUPPORTED,
                      "CREATE TABLE ... SELECT or a MERGE UNION cannot be rewritten") == 0;
            goto out;
        }
    part_t *parts;
    size_t np = split_parts(c, i + 1, close - 1, 1, &parts);
    for (size_t k = 0; ok && k < np; k++) {
        part_t *p = &parts[k];
        if (p->first > p->last) {
            ok = fail(c, FERRY_ERR_UNSUPPORTED, "empty element in the column list") == 0;
        } else if (is_constraint_start(c, p->first)) {
            ok = check_part(c, p->first, p->last + 1, &tbl, "a key or constraint");
        } else {
            char *col = ident_value(c, p->first);
            if (!col) {
                ok = false;
                break;
            }
            if (ferry_rename_map_column_dropped(c->map, tbl.db, tbl.table, col)) {
                p->drop = true;
                ok = note_dropped(c, col);
            } else {
                ok = check_part(c, p->first + 1, p->last + 1, &tbl, "a column definition");
            }
            free(col);
        }
    }
    bool all = false;
    ok = ok && !c->rc && drop_parts(c, parts, np, &all);
    if (ok && all)
        ok = fail(c, FERRY_ERR_UNSUPPORTED, "the column filter leaves no column of \"%s.%s\"",
                  tbl.db, tbl.table) == 0;
    free(parts);
    ok = ok && rename_qname(c, &tbl);
out:
    qname_free(&tbl);
    return ok && !c->rc;
}

typedef enum { COL_ONE, COL_CHANGE, COL_RENAME } col_mode_t;

/*
 * One ALTER TABLE part on a column (ADD, DROP, MODIFY, ALTER: one name;
 * CHANGE old new; RENAME COLUMN old TO new): marks the part for removal when
 * it is about a filtered column, refuses a rename across the filter, and
 * checks the rest of a kept part.
 */
static bool alter_column_part(ctx_t *c, part_t *p, size_t i, const qname_t *tbl, col_mode_t mode)
{
    if (is_kw(c, i, "COLUMN"))
        i++;
    skip_if_exists(c, &i, true);
    skip_if_exists(c, &i, false);
    if (is_punct(c, i, '(')) {
        /* ADD COLUMN (a INT, b INT) */
        char *dep = dropped_in(c, i, p->last + 1, c->t[i].depth - 1, tbl->db, tbl->table);
        if (dep) {
            fail(c, FERRY_ERR_UNSUPPORTED,
                 "ADD COLUMN (...) names column \"%s\", which the column filter leaves out", dep);
            free(dep);
        }
        return !c->rc && rename_references(c, i, p->last + 1, tbl->db);
    }
    if (!is_ident(c, i))
        return fail(c, FERRY_ERR_UNSUPPORTED, "expected a column name at offset %zu",
                    i < c->n ? c->t[i].start : c->len) == 0;
    size_t second = mode == COL_CHANGE ? i + 1 : mode == COL_RENAME ? i + 2 : 0;
    if (mode == COL_RENAME && !is_kw(c, i + 1, "TO"))
        return fail(c, FERRY_ERR_UNSUPPORTED, "expected TO in RENAME COLUMN") == 0;
    if (second && !is_ident(c, second))
        return fail(c, FERRY_ERR_UNSUPPORTED, "expected a new column name") == 0;
    char *col = ident_value(c, i);
    char *col2 = col && second ? ident_value(c, second) : NULL;
    if (!col || (second && !col2)) {
        free(col);
        return false;
    }
    bool d1 = ferry_rename_map_column_dropped(c->map, tbl->db, tbl->table, col);
    bool d2 = col2 ? ferry_rename_map_column_dropped(c->map, tbl->db, tbl->table, col2) : d1;
    bool ok = true;
    if (d1 != d2) {
        ok = fail(c, FERRY_ERR_UNSUPPORTED,
                  "renaming column \"%s\" to \"%s\" moves it across the column filter of "
                  "\"%s.%s\"",
                  col, col2, tbl->db, tbl->table) == 0;
    } else if (d1) {
        p->drop = true;
        ok = note_dropped(c, col);
    } else {
        size_t rest = second ? second + 1 : i + 1;
        if (rest <= p->last)
            ok = check_part(c, rest, p->last + 1, tbl, "a column definition");
    }
    free(col);
    free(col2);
    return ok;
}

static bool alter_rename_table(ctx_t *c, size_t i, const qname_t *tbl)
{
    if (is_kw(c, i, "TO") || is_kw(c, i, "AS"))
        i++;
    qname_t to;
    if (!read_qname(c, &i, c->default_db, &to))
        return false;
    c->out->rename_to = c->out->n_names;
    bool ok = record_name(c, to.db, to.table);
    if (ok && !is_selected(c, to.db, to.table))
        ok = fail(c, FERRY_ERR_UNSUPPORTED,
                  "\"%s.%s\" is renamed to \"%s.%s\", which is not migrated", tbl->db, tbl->table,
                  to.db, to.table) == 0;
    ok = ok && rename_qname(c, &to);
    qname_free(&to);
    return ok;
}

static bool alter_table(ctx_t *c, size_t i)
{
    c->out->kind = FERRY_DDL_ALTER_TABLE;
    skip_if_exists(c, &i, false);
    qname_t tbl;
    if (!read_qname(c, &i, c->default_db, &tbl))
        return false;
    bool ok = record_name(c, tbl.db, tbl.table);
    if (ok && !is_selected(c, tbl.db, tbl.table)) {
        ok = set_skip(c, "table is not migrated");
        goto out;
    }
    if (is_kw(c, i, "NOWAIT"))
        i++;
    else if (is_kw(c, i, "WAIT"))
        i += 2;
    part_t *parts = NULL;
    size_t np = ok && i < c->n ? split_parts(c, i, c->n, 0, &parts) : 0;
    for (size_t k = 0; ok && k < np; k++) {
        part_t *p = &parts[k];
        size_t j = p->first;
        if (p->first > p->last) {
            ok = fail(c, FERRY_ERR_UNSUPPORTED, "empty ALTER TABLE part") == 0;
        } else if (is_kw(c, j, "ADD")) {
            if (is_constraint_start(c, j + 1) || is_kw(c, j + 1, "PARTITION"))
                ok = check_part(c, j + 1, p->last + 1, &tbl, "a key or constraint");
            else
                ok = alter_column_part(c, p, j + 1, &tbl, COL_ONE);
        } else if (is_kw(c, j, "DROP")) {
            if (!is_constraint_start(c, j + 1) && !is_kw(c, j + 1, "PARTITION") &&
                !is_kw(c, j + 1, "DEFAULT"))
                ok = alter_column_part(c, p, j + 1, &tbl, COL_ONE);
        } else if (is_kw(c, j, "MODIFY")) {
            ok = alter_column_part(c, p, j + 1, &tbl, COL_ONE);
        } else if (is_kw(c, j, "CHANGE")) {
            ok = alter_column_part(c, p, j + 1, &tbl, COL_CHANGE);
        } else if (is_kw(c, j, "ALTER") && !is_kw(c, j + 1, "INDEX") && !is_kw(c, j + 1, "KEY") &&
                   !is_kw(c, j + 1, "CONSTRAINT") && !is_kw(c, j + 1, "CHECK")) {
            ok = alter_column_part(c, p, j + 1, &tbl, COL_ONE);
        } else if (is_kw(c, j, "RENAME")) {
            if (is_kw(c, j + 1, "COLUMN"))
                ok = alter_column_part(c, p, j + 1, &tbl, COL_RENAME);
            else if (!is_kw(c, j + 1, "INDEX") && !is_kw(c, j + 1, "KEY"))
                ok = alter_rename_table(c, j + 1, &tbl);
        } else if (is_kw(c, j, "CONVERT") || is_kw(c, j, "ORDER") || is_kw(c, j, "ENGINE") ||
                   is_kw(c, j, "FORCE") || is_kw(c, j, "ALGORITHM") || is_kw(c, j, "LOCK")) {
            /* table-wide: passes as it is */
        }
        ok = ok && !c->rc;
    }
    bool all = false;
    ok = ok && drop_parts(c, parts, np, &all);
    free(parts);
    if (ok && all) {
        ok = set_skip(c, "every part of the ALTER TABLE is about filtered columns");
        goto out;
    }
    ok = ok && rename_qname(c, &tbl);
out:
    qname_free(&tbl);
    return ok && !c->rc;
}

/* DROP TABLE [IF EXISTS] a[, b ...] [RESTRICT | CASCADE] */
static bool drop_table(ctx_t *c, size_t i)
{
    c->out->kind = FERRY_DDL_DROP_TABLE;
    skip_if_exists(c, &i, false);
    size_t end = c->n;
    while (end > i && (is_kw(c, end - 1, "RESTRICT") || is_kw(c, end - 1, "CASCADE")))
        end--;
    part_t *parts;
    size_t np = split_parts(c, i, end, 0, &parts);
    qname_t *names = calloc(np ? np : 1, sizeof(*names));
    bool ok = names != NULL || nomem(c) == 0;
    size_t kept = 0;
    for (size_t k = 0; ok && k < np; k++) {
        size_t j = parts[k].first;
        ok = read_qname(c, &j, c->default_db, &names[k]) &&
             record_name(c, names[k].db, names[k].table);
        if (ok && j != parts[k].last + 1)
            ok = fail(c, FERRY_ERR_UNSUPPORTED, "unexpected text after a table name") == 0;
        if (ok) {
            parts[k].drop = !is_selected(c, names[k].db, names[k].table);
            kept += !parts[k].drop;
        }
    }
    bool all = false;
    ok = ok && drop_parts(c, parts, np, &all);
    if (ok && kept == 0)
        ok = set_skip(c, "no table of the statement is migrated");
    for (size_t k = 0; ok && kept && k < np; k++)
        if (!parts[k].drop)
            ok = rename_qname(c, &names[k]);
    for (size_t k = 0; names && k < np; k++)
        qname_free(&names[k]);
    free(names);
    free(parts);
    return ok && !c->rc;
}

/* RENAME TABLE[S] [IF EXISTS] a TO b[, c TO d ...] [WAIT n | NOWAIT] */
static bool rename_table(ctx_t *c, size_t i)
{
    c->out->kind = FERRY_DDL_RENAME_TABLE;
    skip_if_exists(c, &i, false);
    size_t end = c->n;
    if (end > i && is_kw(c, end - 1, "NOWAIT"))
        end--;
    else if (end > i + 1 && is_kw(c, end - 2, "WAIT"))
        end -= 2;
    part_t *parts;
    size_t np = split_parts(c, i, end, 0, &parts);
    bool ok = !c->rc;
    size_t kept = 0;
    for (size_t k = 0; ok && k < np; k++) {
        size_t j = parts[k].first;
        qname_t a = {0}, b = {0};
        ok = read_qname(c, &j, c->default_db, &a);
        if (ok && !is_kw(c, j, "TO"))
            ok = fail(c, FERRY_ERR_UNSUPPORTED, "expected TO in RENAME TABLE") == 0;
        j++;
        ok = ok && read_qname(c, &j, c->default_db, &b) && record_name(c, a.db, a.table) &&
             record_name(c, b.db, b.table);
        if (ok) {
            bool sa = is_selected(c, a.db, a.table), sb = is_selected(c, b.db, b.table);
            if (sa != sb)
                ok = fail(c, FERRY_ERR_UNSUPPORTED,
                          "renaming \"%s.%s\" to \"%s.%s\" moves a table %s the migrated set", a.db,
                          a.table, b.db, b.table, sa ? "out of" : "into") == 0;
            parts[k].drop = !sa;
            kept += sa;
            if (ok && sa)
                ok = rename_qname(c, &a) && rename_qname(c, &b);
        }
        qname_free(&a);
        qname_free(&b);
    }
    bool all = false;
    ok = ok && drop_parts(c, parts, np, &all);
    if (ok && kept == 0)
        ok = set_skip(c, "no table of the statement is migrated");
    free(parts);
    return ok && !c->rc;
}

/*
 * A statement whose one table name starts at token i: records the table,
 * skips the statement when the table is not migrated, else renames it.
 * part, when not NULL, says what the tokens after the name define; they are
 * checked for filtered columns like a part of an ALTER TABLE.
 */
static bool one_table(ctx_t *c, size_t i, ferry_ddl_kind_t kind, const char *part)
{
    c->out->kind = kind;
    qname_t q;
    if (!read_qname(c, &i, c->default_db, &q))
        return false;
    bool ok = record_name(c, q.db, q.table);
    if (ok && !is_selected(c, q.db, q.table))
        ok = set_skip(c, "table is not migrated");
    else
        ok = ok && (!part || check_part(c, i, c->n, &q, part)) && rename_qname(c, &q);
    qname_free(&q);
    return ok && !c->rc;
}

/*
 * CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX [IF NOT EXISTS] name [USING x] ON tbl (...)
 * DROP INDEX [IF EXISTS] name ON tbl
 */
static bool index_stmt(ctx_t *c, size_t i, bool create)
{
    c->out->kind = create ? FERRY_DDL_CREATE_INDEX : FERRY_DDL_DROP_INDEX;
    while (i < c->n && !is_kw(c, i, "ON"))
        i++;
    if (i >= c->n)
        return fail(c, FERRY_ERR_UNSUPPORTED,
                    create ? "CREATE INDEX without ON" : "DROP INDEX without ON") == 0;
    return one_table(c, i + 1, c->out->kind, create ? "the index" : NULL);
}

/* CREATE|DROP DATABASE|SCHEMA [IF [NOT] EXISTS] name ... */
static bool database_stmt(ctx_t *c, size_t i, bool create)
{
    c->out->kind = create ? FERRY_DDL_CREATE_DATABASE : FERRY_DDL_DROP_DATABASE;
    skip_if_exists(c, &i, create);
    if (!is_ident(c, i))
        return fail(c, FERRY_ERR_UNSUPPORTED, "expected a database name") == 0;
    char *db = ident_value(c, i);
    if (!db)
        return false;
    bool ok = record_name(c, db, NULL);
    if (ok && !is_selected(c, db, NULL)) {
        ok = set_skip(c, "database is not migrated");
    } else if (ok) {
        ferry_strbuf_t b = FERRY_STRBUF_INIT;
        ferry_mysql_quote_ident(&b, ferry_rename_map_db(c->map, db));
        ok = !b.oom ? add_edit(c, c->t[i].start, c->t[i].end, b.buf) : nomem(c) == 0;
        if (b.oom)
            ferry_strbuf_free(&b);
    }
    free(db);
    return ok && !c->rc;
}

/* Which statement this is; false with c->rc set when it is not understood. */
static bool dispatch(ctx_t *c)
{
    size_t i = 0;
    if (is_kw(c, i, "CREATE")) {
        i++;
        if (is_kw(c, i, "OR") && is_kw(c, i + 1, "REPLACE"))
            i += 2;
        if (is_kw(c, i, "TEMPORARY"))
            return set_skip(c, "temporary tables are not migrated");
        if (is_kw(c, i, "TABLE"))
            return create_table(c, i + 1);
        if (is_kw(c, i, "DATABASE") || is_kw(c, i, "SCHEMA"))
            return database_stmt(c, i + 1, true);
        size_t j = i;
        if (is_kw(c, j, "ONLINE") || is_kw(c, j, "OFFLINE"))
            j++;
        if (is_kw(c, j, "UNIQUE") || is_kw(c, j, "FULLTEXT") || is_kw(c, j, "SPATIAL"))
            j++;
        if (is_kw(c, j, "INDEX"))
            return index_stmt(c, j + 1, true);
    } else if (is_kw(c, i, "ALTER")) {
        i++;
        if (is_kw(c, i, "ONLINE"))
            i++;
        if (is_kw(c, i, "IGNORE"))
            i++;
        if (is_kw(c, i, "TABLE"))
            return alter_table(c, i + 1);
    } else if (is_kw(c, i, "DROP")) {
        i++;
        if (is_kw(c, i, "TEMPORARY"))
            return set_skip(c, "temporary tables are not migrated");
        if (is_kw(c, i, "TABLE") || is_kw(c, i, "TABLES"))
            return drop_table(c, i + 1);
        if (is_kw(c, i, "DATABASE") || is_kw(c, i, "SCHEMA"))
            return database_stmt(c, i + 1, false);
        if (is_kw(c, i, "ONLINE") || is_kw(c, i, "OFFLINE"))
            i++;
        if (is_kw(c, i, "INDEX"))
            return index_stmt(c, i + 1, false);
    } else if (is_kw(c, i, "RENAME")) {
        if (is_kw(c, i + 1, "TABLE") || is_kw(c, i + 1, "TABLES"))
            return rename_table(c, i + 2);
    } else if (is_kw(c, i, "TRUNCATE")) {
        i++;
        if (is_kw(c, i, "TABLE"))
            i++;
        return one_table(c, i, FERRY_DDL_TRUNCATE_TABLE, NULL);
    }
    c->out->kind = FERRY_DDL_OTHER;
    size_t n = c->n ? c->t[c->n > 1 ? 1 : 0].end : 0;
    return fail(c, FERRY_ERR_UNSUPPORTED, "\"%.*s\" is not a table, index or database statement",
                (int)(n > 60 ? 60 : n), c->sql) == 0;
}

static int cmp_edits(const void *a, const void *b)
{
    const edit_t *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    /* a deletion before a replacement at the same place, so it swallows it */
    return (x->text != NULL) - (y->text != NULL);
}

/* The statement with the edits applied; a replacement inside a deletion is dropped. */
static char *apply_edits(ctx_t *c)
{
    qsort(c->edits, c->n_edits, sizeof(edit_t), cmp_edits);
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    size_t pos = 0;
    for (size_t k = 0; k < c->n_edits; k++) {
        const edit_t *e = &c->edits[k];
        if (e->start < pos) {
            if (e->end <= pos)
                continue; /* inside an earlier deletion */
            fail(c, FERRY_ERR_UNSUPPORTED, "overlapping edits");
            ferry_strbuf_free(&b);
            return NULL;
        }
        ferry_strbuf_put(&b, c->sql + pos, e->start - pos);
        if (e->text)
            ferry_strbuf_puts(&b, e->text);
        pos = e->end;
    }
    ferry_strbuf_put(&b, c->sql + pos, c->len - pos);
    if (b.oom) {
        ferry_strbuf_free(&b);
        nomem(c);
        return NULL;
    }
    return b.buf ? b.buf : strdup("");
}

static void ctx_free(ctx_t *c)
{
    for (size_t k = 0; k < c->n_edits; k++)
        free(c->edits[k].text);
    free(c->edits);
    free(c->t);
    free(c->markers);
}

const char *ferry_ddl_kind_name(ferry_ddl_kind_t kind)
{
    switch (kind) {
    case FERRY_DDL_CREATE_TABLE:
        return "CREATE_TABLE";
    case FERRY_DDL_ALTER_TABLE:
        return "ALTER_TABLE";
    case FERRY_DDL_DROP_TABLE:
        return "DROP_TABLE";
    case FERRY_DDL_RENAME_TABLE:
        return "RENAME_TABLE";
    case FERRY_DDL_TRUNCATE_TABLE:
        return "TRUNCATE_TABLE";
    case FERRY_DDL_CREATE_INDEX:
        return "CREATE_INDEX";
    case FERRY_DDL_DROP_INDEX:
        return "DROP_INDEX";
    case FERRY_DDL_CREATE_DATABASE:
        return "CREATE_DATABASE";
    case FERRY_DDL_DROP_DATABASE:
        return "DROP_DATABASE";
    default:
        return "OTHER";
    }
}

void ferry_ddl_rewrite_free(ferry_ddl_rewrite_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_names; i++) {
        free(r->names[i].db);
        free(r->names[i].table);
    }
    free(r->names);
    free(r->sql);
    free(r->skip_reason);
    for (size_t i = 0; i < r->n_dropped_columns; i++)
        free(r->dropped_columns[i]);
    free(r->dropped_columns);
    memset(r, 0, sizeof(*r));
}

int ferry_mysql_ddl_rewrite(const char *default_db, const char *sql, size_t len, unsigned flags,
                            const ferry_rename_map_t *map, ferry_ddl_selected_fn selected,
                            void *selected_arg, ferry_ddl_rewrite_t *out, char *errstr,
                            size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    ctx_t c = {.sql = sql,
               .len = len,
               .flags = flags,
               .default_db = default_db && *default_db ? default_db : NULL,
               .map = map,
               .selected = selected,
               .selected_arg = selected_arg,
               .out = out,
               .errstr = errstr,
               .errstr_size = errstr_size};
    if (tokenize(&c) == 0 && c.n == 0)
        fail(&c, FERRY_ERR_UNSUPPORTED, "empty statement");
    if (!c.rc && dispatch(&c) && !c.rc && !out->skip_reason)
        out->sql = apply_edits(&c);
    if (c.rc && out->sql) {
        free(out->sql);
        out->sql = NULL;
    }
    ctx_free(&c);
    return c.rc;
}

/* ---- views ------------------------------------------------------------------------ */

static bool db_is_mapped(const ferry_rename_map_t *m, const char *db, const char *table)
{
    const char *dd, *dt;
    ferry_rename_map_table(m, db, table, &dd, &dt);
    return strcmp(dd, db) != 0 || strcmp(dt, table) != 0;
}

int ferry_mysql_ddl_create_view(const ferry_viewdef_t *view, const ferry_rename_map_t *map,
                                char **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_ddl_rewrite_t dummy = {0};
    ctx_t c = {.sql = view->definition,
               .len = strlen(view->definition),
               .map = map,
               .out = &dummy,
               .errstr = errstr,
               .errstr_size = errstr_size};
    const char *vdb, *vname;
    ferry_rename_map_table(map, view->db, view->name, &vdb, &vname);
    if (tokenize(&c) == 0) {
        /* `db`.`table` not preceded by '.': a table, or the first two parts of a column */
        for (size_t i = 0; i + 2 < c.n && !c.rc; i++) {
            if (!is_ident(&c, i) || !is_punct(&c, i + 1, '.') || !is_ident(&c, i + 2) ||
                (i > 0 && is_punct(&c, i - 1, '.')))
                continue;
            char *db = ident_value(&c, i), *tb = db ? ident_value(&c, i + 2) : NULL;
            if (tb && db_is_mapped(map, db, tb)) {
                qname_t q = {i, i + 2, db, tb};
                rename_qname(&c, &q);
            }
            free(db);
            free(tb);
            i += 2;
        }
    }
    char *body = c.rc ? NULL : apply_edits(&c);
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    if (body) {
        ferry_strbuf_printf(&b, "CREATE OR REPLACE SQL SECURITY %s VIEW ", view->security);
        ferry_mysql_quote_ident(&b, vdb);
        ferry_strbuf_put(&b, ".", 1);
        ferry_mysql_quote_ident(&b, vname);
        ferry_strbuf_printf(&b, " AS %s", body);
        if (view->check_option && strcmp(view->check_option, "NONE") != 0)
            ferry_strbuf_printf(&b, " WITH %s CHECK OPTION", view->check_option);
        if (b.oom) {
            ferry_strbuf_free(&b);
            nomem(&c);
        }
    }
    free(body);
    ctx_free(&c);
    if (c.rc)
        return c.rc;
    *out = b.buf;
    return 0;
}
