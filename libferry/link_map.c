/*
 * link_map.c - table selection, renames and column filters from the
 * project file (see link_map.h).
 */
#include "link_map.h"

#include "err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls fn for each trimmed, non-empty item of a comma-separated list. */
static int each_item(const char *list, int (*fn)(void *arg, char *item), void *arg)
{
    const char *p = list ? list : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        char item[512];
        if (n >= sizeof(item))
            return FERRY_ERR_INVALID;
        memcpy(item, p, n);
        item[n] = '\0';
        char *s = item, *e = item + n;
        while (isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (*s) {
            int rc = fn(arg, s);
            if (rc != 0)
                return rc;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

typedef struct {
    const char *db, *table;
    bool matched;
} match_t;

static int match_one(void *arg, char *pattern)
{
    match_t *m = arg;
    if (ferry_table_pattern_match(pattern, m->db, m->table))
        m->matched = true;
    return 0;
}

bool ferry_link_table_selected(const ferry_conf_t *conf, const char *db, const char *table)
{
    static const char *const system[] = {"mysql", "information_schema", "performance_schema", "sys",
                                         "ferry_meta"};
    for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
        if (strcmp(db, system[i]) == 0)
            return false;
    match_t in = {db, table, false}, out = {db, table, false};
    each_item(ferry_conf_get(conf, "tables.include"), match_one, &in);
    each_item(ferry_conf_get(conf, "tables.exclude"), match_one, &out);
    return in.matched && !out.matched;
}

int ferry_link_list_tables(const ferry_conf_t *conf, MYSQL *source, ferry_table_name_t **names,
                           size_t *n, char *errstr, size_t errstr_size)
{
    const char *all[] = {"*.*"};
    int rc = ferry_mysql_schema_list_tables(source, all, 1, NULL, 0, names, n, errstr, errstr_size);
    if (rc != 0)
        return rc;
    size_t kept = 0; /* keep the selected ones, in place */
    for (size_t i = 0; i < *n; i++) {
        if (ferry_link_table_selected(conf, (*names)[i].db, (*names)[i].table)) {
            (*names)[kept++] = (*names)[i];
        } else {
            free((*names)[i].db);
            free((*names)[i].table);
        }
    }
    *n = kept;
    return 0;
}

typedef struct {
    ferry_rename_map_t *map;
    const char *db, *table;
    bool keep;
    char *errstr;
    size_t errstr_size;
} build_t;

static int add_rename(void *arg, char *item, bool qualified)
{
    build_t *b = arg;
    char *colon = strchr(item, ':');
    if (!colon) /* conf.c validated the form; be safe */
        return FERRY_ERR_INVALID;
    *colon = '\0';
    char *src = item, *dst = colon + 1;
    while (isspace((unsigned char)*dst))
        dst++;
    char *e = src + strlen(src);
    while (e > src && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (!qualified)
        return ferry_rename_map_add_db(b->map, src, dst);
    char *sdot = strchr(src, '.'), *ddot = strchr(dst, '.');
    if (!sdot || !ddot)
        return FERRY_ERR_INVALID;
    *sdot = *ddot = '\0';
    return ferry_rename_map_add_table(b->map, src, sdot + 1, dst, ddot + 1);
}

static int add_db_rename(void *arg, char *item)
{
    return add_rename(arg, item, false);
}

static int add_table_rename(void *arg, char *item)
{
    return add_rename(arg, item, true);
}

static int add_filter(void *arg, char *column)
{
    build_t *b = arg;
    return ferry_rename_map_filter_column(b->map, b->db, b->table, column, b->keep);
}

int ferry_link_map_new(const ferry_conf_t *conf, const ferry_table_name_t *tables, size_t n,
                       ferry_rename_map_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    build_t b = {.map = ferry_rename_map_new(), .errstr = errstr, .errstr_size = errstr_size};
    if (!b.map)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    if (each_item(ferry_conf_get(conf, "rename.databases"), add_db_rename, &b) != 0 ||
        each_item(ferry_conf_get(conf, "rename.tables"), add_table_rename, &b) != 0) {
        ferry_rename_map_destroy(b.map);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not apply rename.databases / rename.tables: a rename is "
                             "given twice or is malformed");
    }
    for (size_t i = 0; i < n; i++) {
        b.db = tables[i].db;
        b.table = tables[i].table;
        const char *inc = ferry_conf_get_table(conf, "columns.include", b.db, b.table);
        const char *exc = ferry_conf_get_table(conf, "columns.exclude", b.db, b.table);
        if (inc && exc) {
            ferry_rename_map_destroy(b.map);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "columns.include.%s.%s and columns.exclude.%s.%s are both set: "
                                 "use one",
                                 b.db, b.table, b.db, b.table);
        }
        b.keep = inc != NULL;
        if (each_item(inc ? inc : exc, add_filter, &b) != 0) {
            ferry_rename_map_destroy(b.map);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not apply the column filter of %s.%s", b.db, b.table);
        }
    }
    *out = b.map;
    return 0;
}

size_t ferry_link_unmatched_table_keys(const ferry_conf_t *conf, const ferry_table_name_t *tables,
                                       size_t n,
                                       void (*fn)(void *arg, const char *key, const char *name),
                                       void *arg)
{
    static const char *const families[] = {"columns.include", "columns.exclude", "where"};
    size_t unmatched = 0;
    for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        size_t pos = 0;
        const char *key;
        while ((key = ferry_conf_family_next(conf, families[f], &pos)) != NULL) {
            const char *name = key + strlen(families[f]) + 1; /* "db.table" */
            bool found = false;
            for (size_t i = 0; i < n && !found; i++) {
                size_t dl = strlen(tables[i].db);
                found = strncmp(name, tables[i].db, dl) == 0 && name[dl] == '.' &&
                        strcmp(name + dl + 1, tables[i].table) == 0;
            }
            if (!found) {
                unmatched++;
                fn(arg, key, name);
            }
        }
    }
    return unmatched;
}

typedef struct {
    const ferry_tabledef_t *def;
    char missing[512]; /* each_item's items are shorter */
} known_t;

static int column_known(void *arg, char *column)
{
    known_t *k = arg;
    if (ferry_tabledef_find_column(k->def, column) >= 0)
        return 0;
    snprintf(k->missing, sizeof(k->missing), "%s", column);
    return FERRY_ERR_NOT_FOUND;
}

int ferry_link_filter_columns_known(const ferry_conf_t *conf, const ferry_tabledef_t *def,
                                    char *errstr, size_t errstr_size)
{
    static const char *const families[] = {"columns.include", "columns.exclude"};
    for (size_t f = 0; f < 2; f++) {
        known_t k = {.def = def};
        if (each_item(ferry_conf_get_table(conf, families[f], def->db, def->name), column_known,
                      &k) == FERRY_ERR_NOT_FOUND)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "%s.%s.%s names column `%s`, which `%s`.`%s` does not have",
                                 families[f], def->db, def->name, k.missing, def->db, def->name);
    }
    return 0;
}

/* Removes element i of an array of n elements of size sz. */
static void remove_at(void *array, size_t *n, size_t i, size_t sz)
{
    char *a = array;
    memmove(a + i * sz, a + (i + 1) * sz, (*n - i - 1) * sz);
    (*n)--;
}

int ferry_link_filter_columns(ferry_tabledef_t *def, const ferry_rename_map_t *map, char *errstr,
                              size_t errstr_size)
{
    if (!ferry_rename_map_has_filter(map, def->db, def->name))
        return 0;
    const ferry_indexdef_t *key = ferry_tabledef_row_key(def);
    for (size_t i = 0; key && i < key->n_parts; i++)
        if (key->parts[i].column &&
            ferry_rename_map_column_dropped(map, def->db, def->name, key->parts[i].column))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not filter the columns of `%s`.`%s`: column `%s` is part "
                                 "of the key rows are matched on and must be kept",
                                 def->db, def->name, key->parts[i].column);
    /* the server writes names in generation expressions quoted with backticks */
    for (size_t i = 0; i < def->n_columns; i++) {
        const ferry_coldef_t *c = &def->columns[i];
        if (!c->generation_expr ||
            ferry_rename_map_column_dropped(map, def->db, def->name, c->col.name))
            continue;
        for (size_t k = 0; k < def->n_columns; k++) {
            const char *name = def->columns[k].col.name;
            if (!ferry_rename_map_column_dropped(map, def->db, def->name, name))
                continue;
            char quoted[300];
            snprintf(quoted, sizeof(quoted), "`%s`", name);
            if (strstr(c->generation_expr, quoted))
                return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                     "could not filter the columns of `%s`.`%s`: generated column "
                                     "`%s` is computed from filtered column `%s`",
                                     def->db, def->name, c->col.name, name);
        }
    }
    for (size_t i = 0; i < def->n_indexes;) {
        bool uses = false;
        for (size_t k = 0; k < def->indexes[i].n_parts; k++)
            uses |= def->indexes[i].parts[k].column &&
                    ferry_rename_map_column_dropped(map, def->db, def->name,
                                                    def->indexes[i].parts[k].column);
        if (uses)
            remove_at(def->indexes, &def->n_indexes, i, sizeof(def->indexes[0]));
        else
            i++;
    }
    for (size_t i = 0; i < def->n_fks;) {
        bool uses = false;
        for (size_t k = 0; k < def->fks[i].n_columns; k++)
            uses |=
                ferry_rename_map_column_dropped(map, def->db, def->name, def->fks[i].columns[k]);
        if (uses)
            remove_at(def->fks, &def->n_fks, i, sizeof(def->fks[0]));
        else
            i++;
    }
    for (size_t i = 0; i < def->n_columns;) {
        if (ferry_rename_map_column_dropped(map, def->db, def->name, def->columns[i].col.name))
            remove_at(def->columns, &def->n_columns, i, sizeof(def->columns[0]));
        else
            i++;
    }
    return 0;
}

int ferry_link_row_filter_bind(ferry_row_filter_t *f, const ferry_table_t *t,
                               const ferry_tabledef_t *def, char *errstr, size_t errstr_size)
{
    if (!f)
        return 0;
    size_t n = ferry_table_ncolumns(t);
    const char **coll = calloc(n + 1, sizeof(*coll));
    if (!coll)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < n && def; k++) {
        int d = ferry_tabledef_find_column(def, ferry_table_column(t, k)->name);
        coll[k] = d >= 0 ? def->columns[d].collation : NULL;
    }
    int rc = ferry_row_filter_bind(f, t, coll, errstr, errstr_size);
    free(coll);
    return rc;
}

int ferry_link_row_filter(const ferry_conf_t *conf, const char *db, const char *table,
                          const ferry_table_t *t, const ferry_tabledef_t *def,
                          ferry_row_filter_t **out, char *errstr, size_t errstr_size)
{
    int rc = ferry_row_filter_from_conf(conf, db, table, out, errstr, errstr_size);
    if (rc == 0 && *out && (rc = ferry_link_row_filter_bind(*out, t, def, errstr, errstr_size))) {
        ferry_row_filter_destroy(*out);
        *out = NULL;
    }
    return rc;
}
