/*
 * mysql_ddl.c - the rename map, quoting, and the destination DDL of a table
 * definition (CREATE DATABASE, CREATE TABLE, and the foreign keys and
 * triggers held back for switchover).
 *
 * The CREATE TABLE is written from the definition's fields, never from the
 * source's SHOW CREATE TABLE, so that renames and column filters are applied
 * by construction and every name and literal is quoted by ferry. Expressions
 * the server gave us (defaults, generated columns, CHECK clauses, trigger
 * bodies) are passed through: they are already SQL in the server's canonical
 * form, with column names in backticks, which is what lets the filter find a
 * dropped column inside them.
 */
#define _GNU_SOURCE /* strcasestr, asprintf */
#include "mysql_ddl.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

/* ---- the map ----------------------------------------------------------------- */

typedef struct {
    char *src, *dst;
} db_rule_t;

typedef struct {
    char *src_db, *src_table, *dst_db, *dst_table;
} table_rule_t;

typedef struct {
    char *db, *table;
    bool keep;
    char **cols;
    size_t n;
} filter_t;

struct ferry_rename_map {
    db_rule_t *dbs;
    size_t n_dbs;
    table_rule_t *tables;
    size_t n_tables;
    filter_t *filters;
    size_t n_filters;
};

ferry_rename_map_t *ferry_rename_map_new(void)
{
    return calloc(1, sizeof(ferry_rename_map_t));
}

void ferry_rename_map_destroy(ferry_rename_map_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_dbs; i++) {
        free(m->dbs[i].src);
        free(m->dbs[i].dst);
    }
    for (size_t i = 0; i < m->n_tables; i++) {
        free(m->tables[i].src_db);
        free(m->tables[i].src_table);
        free(m->tables[i].dst_db);
        free(m->tables[i].dst_table);
    }
    for (size_t i = 0; i < m->n_filters; i++) {
        free(m->filters[i].db);
        free(m->filters[i].table);
        for (size_t k = 0; k < m->filters[i].n; k++)
            free(m->filters[i].cols[k]);
        free(m->filters[i].cols);
    }
    free(m->dbs);
    free(m->tables);
    free(m->filters);
    free(m);
}

int ferry_rename_map_add_db(ferry_rename_map_t *m, const char *src_db, const char *dst_db)
{
    db_rule_t *n = realloc(m->dbs, (m->n_dbs + 1) * sizeof(*n));
    if (!n)
        return FERRY_ERR_NOMEM;
    m->dbs = n;
    db_rule_t r = {strdup(src_db), strdup(dst_db)};
    if (!r.src || !r.dst) {
        free(r.src);
        free(r.dst);
        return FERRY_ERR_NOMEM;
    }
    m->dbs[m->n_dbs++] = r;
    return 0;
}

int ferry_rename_map_add_table(ferry_rename_map_t *m, const char *src_db, const char *src_table,
                               const char *dst_db, const char *dst_table)
{
    table_rule_t *n = realloc(m->tables, (m->n_tables + 1) * sizeof(*n));
    if (!n)
        return FERRY_ERR_NOMEM;
    m->tables = n;
    table_rule_t r = {strdup(src_db), strdup(src_table), strdup(dst_db), strdup(dst_table)};
    if (!r.src_db || !r.src_table || !r.dst_db || !r.dst_table) {
        free(r.src_db);
        free(r.src_table);
        free(r.dst_db);
        free(r.dst_table);
        return FERRY_ERR_NOMEM;
    }
    m->tables[m->n_tables++] = r;
    return 0;
}

static filter_t *find_filter(const ferry_rename_map_t *m, const char *db, const char *table)
{
    if (!m || !db || !table)
        return NULL;
    for (size_t i = 0; i < m->n_filters; i++)
        if (strcmp(m->filters[i].db, db) == 0 && strcmp(m->filters[i].table, table) == 0)
            return &m->filters[i];
    return NULL;
}

int ferry_rename_map_filter_column(ferry_rename_map_t *m, const char *src_db, const char *src_table,
                                   const char *column, bool keep)
{
    filter_t *f = find_filter(m, src_db, src_table);
    if (!f) {
        filter_t *n = realloc(m->filters, (m->n_filters + 1) * sizeof(*n));
        if (!n)
            return FERRY_ERR_NOMEM;
        m->filters = n;
        f = &m->filters[m->n_filters];
        memset(f, 0, sizeof(*f));
        f->db = strdup(src_db);
        f->table = strdup(src_table);
        f->keep = keep;
        if (!f->db || !f->table) {
            free(f->db);
            free(f->table);
            return FERRY_ERR_NOMEM;
        }
        m->n_filters++;
    } else if (f->keep != keep) {
        return FERRY_ERR_INVALID;
    }
    char **nc = realloc(f->cols, (f->n + 1) * sizeof(*nc));
    if (!nc)
        return FERRY_ERR_NOMEM;
    f->cols = nc;
    if (!(f->cols[f->n] = strdup(column)))
        return FERRY_ERR_NOMEM;
    f->n++;
    return 0;
}

const char *ferry_rename_map_db(const ferry_rename_map_t *m, const char *src_db)
{
    for (size_t i = 0; m && src_db && i < m->n_dbs; i++)
        if (strcmp(m->dbs[i].src, src_db) == 0)
            return m->dbs[i].dst;
    return src_db;
}

void ferry_rename_map_table(const ferry_rename_map_t *m, const char *src_db, const char *src_table,
                            const char **dst_db, const char **dst_table)
{
    for (size_t i = 0; m && i < m->n_tables; i++)
        if (strcmp(m->tables[i].src_db, src_db) == 0 &&
            strcmp(m->tables[i].src_table, src_table) == 0) {
            *dst_db = m->tables[i].dst_db;
            *dst_table = m->tables[i].dst_table;
            return;
        }
    *dst_db = ferry_rename_map_db(m, src_db);
    *dst_table = src_table;
}

bool ferry_rename_map_has_filter(const ferry_rename_map_t *m, const char *src_db,
                                 const char *src_table)
{
    return find_filter(m, src_db, src_table) != NULL;
}

bool ferry_rename_map_column_dropped(const ferry_rename_map_t *m, const char *src_db,
                                     const char *src_table, const char *column)
{
    const filter_t *f = find_filter(m, src_db, src_table);
    if (!f || !column)
        return false;
    bool listed = false;
    for (size_t i = 0; i < f->n && !listed; i++)
        listed = strcasecmp(f->cols[i], column) == 0;
    return f->keep ? !listed : listed;
}

/* ---- quoting ------------------------------------------------------------------ */

void ferry_mysql_quote_ident(ferry_strbuf_t *b, const char *name)
{
    ferry_strbuf_put(b, "`", 1);
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            ferry_strbuf_put(b, "``", 2);
        else
            ferry_strbuf_put(b, p, 1);
    }
    ferry_strbuf_put(b, "`", 1);
}

void ferry_mysql_quote_string(ferry_strbuf_t *b, const char *text)
{
    ferry_strbuf_put(b, "'", 1);
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '\'':
            ferry_strbuf_put(b, "''", 2);
            break;
        case '\\':
            ferry_strbuf_put(b, "\\\\", 2);
            break;
        case '\032':
            ferry_strbuf_put(b, "\\Z", 2);
            break;
        default:
            ferry_strbuf_put(b, p, 1);
            break;
        }
    }
    ferry_strbuf_put(b, "'", 1);
}

static void quote_table(ferry_strbuf_t *b, const char *db, const char *table)
{
    ferry_mysql_quote_ident(b, db);
    ferry_strbuf_put(b, ".", 1);
    ferry_mysql_quote_ident(b, table);
}

/* ---- plans ---------------------------------------------------------------------- */

void ferry_ddl_plan_free(ferry_ddl_plan_t *plan)
{
    if (!plan)
        return;
    free(plan->create_database);
    free(plan->create_table);
    for (size_t i = 0; i < plan->n_held_back; i++)
        free(plan->held_back[i]);
    free(plan->held_back);
    for (size_t i = 0; i < plan->n_notes; i++)
        free(plan->notes[i]);
    free(plan->notes);
    memset(plan, 0, sizeof(*plan));
}

/* Appends b's text to a list (taking it); false when out of memory. */
static bool list_take(char ***list, size_t *n, ferry_strbuf_t *b)
{
    if (b->oom || !b->buf) {
        ferry_strbuf_free(b);
        return false;
    }
    char **nl = realloc(*list, (*n + 1) * sizeof(*nl));
    if (!nl) {
        ferry_strbuf_free(b);
        return false;
    }
    *list = nl;
    nl[(*n)++] = b->buf;
    b->buf = NULL;
    b->len = b->cap = 0;
    return true;
}

/*
 * The first backticked name in expr (canonical server SQL) that the filter
 * drops, or NULL. Quoted strings are skipped.
 */
static const char *expr_uses_dropped(const char *expr, const ferry_tabledef_t *def,
                                     const ferry_rename_map_t *map, char *buf, size_t size)
{
    const char *p = expr;
    while (p && *p) {
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p && *p != q) {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p)
                p++;
        } else if (*p == '`') {
            size_t n = 0;
            p++;
            while (*p) {
                if (*p == '`') {
                    if (p[1] != '`')
                        break;
                    p++;
                }
                if (n + 1 < size)
                    buf[n++] = *p;
                p++;
            }
            buf[n] = '\0';
            if (*p)
                p++;
            if (ferry_rename_map_column_dropped(map, def->db, def->name, buf))
                return buf;
        } else {
            p++;
        }
    }
    return NULL;
}

static bool is_blob_like(const ferry_coldef_t *cd)
{
    const char *t = cd->data_type ? cd->data_type : "";
    return strcasestr(t, "text") || strcasestr(t, "blob") || strcasecmp(t, "json") == 0 ||
           cd->col.type == FERRY_TYPE_GEOMETRY;
}

static void column_type_sql(ferry_strbuf_t *b, const ferry_coldef_t *cd)
{
    const ferry_column_t *c = &cd->col;
    if ((c->type == FERRY_TYPE_ENUM || c->type == FERRY_TYPE_SET) && c->members) {
        ferry_strbuf_puts(b, c->type == FERRY_TYPE_ENUM ? "enum(" : "set(");
        for (uint32_t i = 0; i < c->n_members; i++) {
            if (i)
                ferry_strbuf_put(b, ",", 1);
            ferry_mysql_quote_string(b, c->members[i]);
        }
        ferry_strbuf_put(b, ")", 1);
        return;
    }
    ferry_strbuf_puts(b, cd->column_type ? cd->column_type : "");
}

static void column_sql(ferry_strbuf_t *b, const ferry_coldef_t *cd, ferry_mysql_flavor_t dest)
{
    ferry_strbuf_puts(b, "  ");
    ferry_mysql_quote_ident(b, cd->col.name);
    ferry_strbuf_put(b, " ", 1);
    column_type_sql(b, cd);
    if (cd->charset)
        ferry_strbuf_printf(b, " CHARACTER SET %s", cd->charset);
    if (cd->collation)
        ferry_strbuf_printf(b, " COLLATE %s", cd->collation);
    if (cd->generated != FERRY_GENERATED_NONE) {
        ferry_strbuf_printf(b, " GENERATED ALWAYS AS (%s) %s",
                            cd->generation_expr ? cd->generation_expr : "",
                            cd->generated == FERRY_GENERATED_STORED ? "STORED" : "VIRTUAL");
        if (!(cd->col.flags & FERRY_COL_NULLABLE))
            ferry_strbuf_puts(b, " NOT NULL");
    } else {
        ferry_strbuf_puts(b, cd->col.flags & FERRY_COL_NULLABLE ? " NULL" : " NOT NULL");
    }
    switch (cd->default_kind) {
    case FERRY_DEFAULT_NONE:
        break;
    case FERRY_DEFAULT_NULL:
        ferry_strbuf_puts(b, " DEFAULT NULL");
        break;
    case FERRY_DEFAULT_LITERAL:
        /* MySQL takes literal defaults on TEXT/BLOB only as expressions */
        if (dest == FERRY_MYSQL_FLAVOR_MYSQL && is_blob_like(cd)) {
            ferry_strbuf_puts(b, " DEFAULT (");
            ferry_mysql_quote_string(b, cd->default_value ? cd->default_value : "");
            ferry_strbuf_puts(b, ")");
        } else {
            ferry_strbuf_puts(b, " DEFAULT ");
            ferry_mysql_quote_string(b, cd->default_value ? cd->default_value : "");
        }
        break;
    case FERRY_DEFAULT_RAW:
        ferry_strbuf_printf(b, " DEFAULT %s", cd->default_value ? cd->default_value : "NULL");
        break;
    case FERRY_DEFAULT_EXPRESSION:
        if (cd->default_value && ferry_mysql_is_now_expr(cd->default_value))
            ferry_strbuf_printf(b, " DEFAULT %s", cd->default_value);
        else
            ferry_strbuf_printf(b, " DEFAULT (%s)", cd->default_value ? cd->default_value : "");
        break;
    }
    if (cd->on_update)
        ferry_strbuf_printf(b, " ON UPDATE %s", cd->on_update);
    if (cd->auto_increment)
        ferry_strbuf_puts(b, " AUTO_INCREMENT");
    if (cd->invisible)
        ferry_strbuf_puts(b, " INVISIBLE");
    if (cd->comment && *cd->comment) {
        ferry_strbuf_puts(b, " COMMENT ");
        ferry_mysql_quote_string(b, cd->comment);
    }
}

static void index_sql(ferry_strbuf_t *b, const ferry_indexdef_t *ix, ferry_mysql_flavor_t dest)
{
    ferry_strbuf_puts(b, "  ");
    switch (ix->kind) {
    case FERRY_INDEX_PRIMARY:
        ferry_strbuf_puts(b, "PRIMARY KEY");
        break;
    case FERRY_INDEX_UNIQUE:
        ferry_strbuf_puts(b, "UNIQUE KEY");
        break;
    case FERRY_INDEX_FULLTEXT:
        ferry_strbuf_puts(b, "FULLTEXT KEY");
        break;
    case FERRY_INDEX_SPATIAL:
        ferry_strbuf_puts(b, "SPATIAL KEY");
        break;
    default:
        ferry_strbuf_puts(b, "KEY");
        break;
    }
    if (ix->kind != FERRY_INDEX_PRIMARY) {
        ferry_strbuf_put(b, " ", 1);
        ferry_mysql_quote_ident(b, ix->name);
    }
    ferry_strbuf_puts(b, " (");
    for (size_t i = 0; i < ix->n_parts; i++) {
        const ferry_index_part_t *p = &ix->parts[i];
        if (i)
            ferry_strbuf_put(b, ",", 1);
        if (p->column) {
            ferry_mysql_quote_ident(b, p->column);
            if (p->prefix)
                ferry_strbuf_printf(b, "(%" PRIu32 ")", p->prefix);
        } else {
            ferry_strbuf_printf(b, "(%s)", p->expression ? p->expression : "");
        }
        if (p->desc)
            ferry_strbuf_puts(b, " DESC");
    }
    ferry_strbuf_put(b, ")", 1);
    if (ix->using)
        ferry_strbuf_printf(b, " USING %s", ix->using);
    if (ix->comment && *ix->comment) {
        ferry_strbuf_puts(b, " COMMENT ");
        ferry_mysql_quote_string(b, ix->comment);
    }
    if (ix->invisible)
        ferry_strbuf_puts(b, dest == FERRY_MYSQL_FLAVOR_MARIADB ? " IGNORED" : " INVISIBLE");
}

int ferry_mysql_ddl_add_index(const char *dst_db, const char *dst_table, const ferry_indexdef_t *ix,
                              ferry_mysql_flavor_t dest, char **out)
{
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&b, "ALTER TABLE ");
    ferry_mysql_quote_ident(&b, dst_db);
    ferry_strbuf_put(&b, ".", 1);
    ferry_mysql_quote_ident(&b, dst_table);
    ferry_strbuf_puts(&b, " ADD");
    index_sql(&b, ix, dest);
    if (b.oom) {
        ferry_strbuf_free(&b);
        *out = NULL;
        return FERRY_ERR_NOMEM;
    }
    *out = b.buf;
    return 0;
}

/* Checks that nothing kept depends on a dropped column. */
static int check_filter(const ferry_tabledef_t *def, const ferry_rename_map_t *map, char *errstr,
                        size_t errstr_size)
{
    char buf[256];
    const char *t = def->name, *db = def->db;
    size_t kept = 0;
    for (size_t i = 0; i < def->n_columns; i++) {
        const ferry_coldef_t *cd = &def->columns[i];
        if (ferry_rename_map_column_dropped(map, db, t, cd->col.name))
            continue;
        kept++;
        const char *dep;
        if (cd->generation_expr &&
            (dep = expr_uses_dropped(cd->generation_expr, def, map, buf, sizeof(buf))))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                 "could not filter column \"%s\" of \"%s.%s\": generated column "
                                 "\"%s\" uses it",
                                 dep, db, t, cd->col.name);
    }
    if (kept == 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                             "could not filter columns of \"%s.%s\": no column is left", db, t);
    for (size_t i = 0; i < def->n_indexes; i++) {
        const ferry_indexdef_t *ix = &def->indexes[i];
        for (size_t k = 0; k < ix->n_parts; k++) {
            const ferry_index_part_t *p = &ix->parts[k];
            const char *dep =
                p->column && ferry_rename_map_column_dropped(map, db, t, p->column) ? p->column
                : p->expression ? expr_uses_dropped(p->expression, def, map, buf, sizeof(buf))
                                : NULL;
            if (dep)
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                     "could not filter column \"%s\" of \"%s.%s\": index "
                                     "\"%s\" uses it",
                                     dep, db, t, ix->name);
        }
    }
    for (size_t i = 0; i < def->n_checks; i++) {
        const ferry_checkdef_t *ck = &def->checks[i];
        if (ck->column && ferry_rename_map_column_dropped(map, db, t, ck->column))
            continue; /* goes with its column */
        const char *dep = expr_uses_dropped(ck->clause, def, map, buf, sizeof(buf));
        if (dep)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                 "could not filter column \"%s\" of \"%s.%s\": CHECK constraint "
                                 "\"%s\" uses it",
                                 dep, db, t, ck->name);
    }
    for (size_t i = 0; i < def->n_fks; i++) {
        const ferry_fkdef_t *fk = &def->fks[i];
        for (size_t k = 0; k < fk->n_columns; k++) {
            if (ferry_rename_map_column_dropped(map, db, t, fk->columns[k]))
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                     "could not filter column \"%s\" of \"%s.%s\": foreign key "
                                     "\"%s\" uses it",
                                     fk->columns[k], db, t, fk->name);
            if (ferry_rename_map_column_dropped(map, fk->ref_db, fk->ref_table, fk->ref_columns[k]))
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_UNSUPPORTED,
                                     "could not create foreign key \"%s\" of \"%s.%s\": the "
                                     "referenced column \"%s\" of \"%s.%s\" is filtered out",
                                     fk->name, db, t, fk->ref_columns[k], fk->ref_db,
                                     fk->ref_table);
        }
    }
    return 0;
}

static void create_table_sql(ferry_strbuf_t *b, const ferry_tabledef_t *def,
                             const ferry_rename_map_t *map, ferry_mysql_flavor_t dest,
                             const char *dst_db, const char *dst_table)
{
    const char *db = def->db, *t = def->name;
    ferry_strbuf_puts(b, "CREATE TABLE IF NOT EXISTS ");
    quote_table(b, dst_db, dst_table);
    ferry_strbuf_puts(b, " (\n");
    bool first = true;
    for (size_t i = 0; i < def->n_columns; i++) {
        const ferry_coldef_t *cd = &def->columns[i];
        if (ferry_rename_map_column_dropped(map, db, t, cd->col.name))
            continue;
        if (!first)
            ferry_strbuf_puts(b, ",\n");
        first = false;
        column_sql(b, cd, dest);
        /* MariaDB's column-level CHECK (its JSON type) stays on its column */
        for (size_t k = 0; dest == FERRY_MYSQL_FLAVOR_MARIADB && k < def->n_checks; k++)
            if (def->checks[k].column && strcmp(def->checks[k].column, cd->col.name) == 0)
                ferry_strbuf_printf(b, " CHECK (%s)", def->checks[k].clause);
    }
    for (size_t i = 0; i < def->n_indexes; i++) {
        ferry_strbuf_puts(b, ",\n");
        index_sql(b, &def->indexes[i], dest);
    }
    for (size_t i = 0; i < def->n_checks; i++) {
        const ferry_checkdef_t *ck = &def->checks[i];
        if (ck->column && (dest == FERRY_MYSQL_FLAVOR_MARIADB ||
                           ferry_rename_map_column_dropped(map, db, t, ck->column)))
            continue;
        ferry_strbuf_puts(b, ",\n  CONSTRAINT ");
        ferry_mysql_quote_ident(b, ck->name);
        ferry_strbuf_printf(b, " CHECK (%s)", ck->clause);
        if (ck->not_enforced && dest == FERRY_MYSQL_FLAVOR_MYSQL)
            ferry_strbuf_puts(b, " NOT ENFORCED");
    }
    ferry_strbuf_puts(b, "\n)");
    if (def->engine)
        ferry_strbuf_printf(b, " ENGINE=%s", def->engine);
    if (def->charset)
        ferry_strbuf_printf(b, " DEFAULT CHARSET=%s", def->charset);
    if (def->collation)
        ferry_strbuf_printf(b, " COLLATE=%s", def->collation);
    if (def->auto_increment > 1)
        ferry_strbuf_printf(b, " AUTO_INCREMENT=%" PRIu64, def->auto_increment);
    if (def->comment && *def->comment) {
        ferry_strbuf_puts(b, " COMMENT=");
        ferry_mysql_quote_string(b, def->comment);
    }
}

static bool held_back_sql(ferry_ddl_plan_t *plan, const ferry_tabledef_t *def,
                          const ferry_rename_map_t *map, const char *dst_db, const char *dst_table)
{
    for (size_t i = 0; i < def->n_fks; i++) {
        const ferry_fkdef_t *fk = &def->fks[i];
        const char *rdb, *rt;
        ferry_rename_map_table(map, fk->ref_db, fk->ref_table, &rdb, &rt);
        ferry_strbuf_t b = FERRY_STRBUF_INIT;
        ferry_strbuf_puts(&b, "ALTER TABLE ");
        quote_table(&b, dst_db, dst_table);
        ferry_strbuf_puts(&b, " ADD CONSTRAINT ");
        ferry_mysql_quote_ident(&b, fk->name);
        ferry_strbuf_puts(&b, " FOREIGN KEY (");
        for (size_t k = 0; k < fk->n_columns; k++) {
            if (k)
                ferry_strbuf_put(&b, ",", 1);
            ferry_mysql_quote_ident(&b, fk->columns[k]);
        }
        ferry_strbuf_puts(&b, ") REFERENCES ");
        quote_table(&b, rdb, rt);
        ferry_strbuf_puts(&b, " (");
        for (size_t k = 0; k < fk->n_columns; k++) {
            if (k)
                ferry_strbuf_put(&b, ",", 1);
            ferry_mysql_quote_ident(&b, fk->ref_columns[k]);
        }
        ferry_strbuf_put(&b, ")", 1);
        if (fk->on_delete)
            ferry_strbuf_printf(&b, " ON DELETE %s", fk->on_delete);
        if (fk->on_update)
            ferry_strbuf_printf(&b, " ON UPDATE %s", fk->on_update);
        if (!list_take(&plan->held_back, &plan->n_held_back, &b))
            return false;
    }
    for (size_t i = 0; i < def->n_triggers; i++) {
        const ferry_triggerdef_t *tg = &def->triggers[i];
        ferry_strbuf_t b = FERRY_STRBUF_INIT;
        ferry_strbuf_puts(&b, "CREATE TRIGGER ");
        quote_table(&b, dst_db, tg->name);
        ferry_strbuf_printf(&b, " %s %s ON ", tg->timing, tg->event);
        quote_table(&b, dst_db, dst_table);
        ferry_strbuf_printf(&b, " FOR EACH ROW %s", tg->body);
        if (!list_take(&plan->held_back, &plan->n_held_back, &b))
            return false;
    }
    return true;
}

int ferry_mysql_ddl_plan(const ferry_tabledef_t *def, const ferry_rename_map_t *map,
                         ferry_mysql_flavor_t dest, ferry_ddl_plan_t *plan, char *errstr,
                         size_t errstr_size)
{
    memset(plan, 0, sizeof(*plan));
    int rc = check_filter(def, map, errstr, errstr_size);
    if (rc)
        return rc;
    const char *dst_db, *dst_table;
    ferry_rename_map_table(map, def->db, def->name, &dst_db, &dst_table);

    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    ferry_strbuf_puts(&b, "CREATE DATABASE IF NOT EXISTS ");
    ferry_mysql_quote_ident(&b, dst_db);
    if (b.oom)
        goto nomem;
    plan->create_database = b.buf;

    ferry_strbuf_t c = FERRY_STRBUF_INIT;
    create_table_sql(&c, def, map, dest, dst_db, dst_table);
    if (c.oom) {
        ferry_strbuf_free(&c);
        goto nomem;
    }
    plan->create_table = c.buf;

    for (size_t i = 0; i < def->n_columns; i++) {
        const char *name = def->columns[i].col.name;
        if (!ferry_rename_map_column_dropped(map, def->db, def->name, name))
            continue;
        ferry_strbuf_t n = FERRY_STRBUF_INIT;
        ferry_strbuf_printf(&n, "column \"%s\" of \"%s.%s\" is left out by the column filter", name,
                            def->db, def->name);
        if (!list_take(&plan->notes, &plan->n_notes, &n))
            goto nomem;
    }
    for (size_t i = 0; i < def->n_fks + def->n_triggers; i++) {
        bool fk = i < def->n_fks;
        ferry_strbuf_t n = FERRY_STRBUF_INIT;
        ferry_strbuf_printf(&n, "%s \"%s\" of \"%s.%s\" is held back until switchover",
                            fk ? "foreign key" : "trigger",
                            fk ? def->fks[i].name : def->triggers[i - def->n_fks].name, def->db,
                            def->name);
        if (!list_take(&plan->notes, &plan->n_notes, &n))
            goto nomem;
    }
    if (!held_back_sql(plan, def, map, dst_db, dst_table))
        goto nomem;
    return 0;
nomem:
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
}
