/*
 * verify_report.c - what a verification tells people and machines: the
 * JSON report, the repair SQL (to a file, or run on the destination) and a
 * summary on a terminal.
 */
#include "verify_int.h"

#include "db.h"
#include "err.h"
#include "json.h"

#include <errno.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *ferry_verify_report_json(const ferry_verify_t *v)
{
    ferry_verify_progress_t p;
    ferry_verify_progress(v, &p);
    ferry_json_t *j = ferry_json_new();
    ferry_json_object_begin(j);
    ferry_json_key(j, "verdict");
    ferry_json_string(j, !p.finished ? "incomplete" : v->diffs.n ? "different" : "equal");
    ferry_json_key(j, "elapsed_ms");
    ferry_json_int(j, p.elapsed_ms);
    ferry_json_key(j, "rows_checked");
    ferry_json_int(j, p.rows_checked);
    ferry_json_key(j, "chunks");
    ferry_json_int(j, p.chunks_checked);
    ferry_json_key(j, "chunks_differing");
    ferry_json_int(j, p.chunks_differing);
    ferry_json_key(j, "tables");
    ferry_json_array_begin(j);
    for (size_t i = 0; i < v->n_tables; i++) {
        const vtable_t *t = &v->tables[i];
        char dst[600];
        snprintf(dst, sizeof(dst), "%s.%s", t->dst_db, t->dst_name);
        ferry_json_object_begin(j);
        ferry_json_key(j, "table");
        ferry_json_string(j, t->label);
        ferry_json_key(j, "destination");
        ferry_json_string(j, dst);
        ferry_json_key(j, "rows_source");
        ferry_json_int(j, atomic_load(&t->rows_src));
        ferry_json_key(j, "rows_destination");
        ferry_json_int(j, atomic_load(&t->rows_dst));
        ferry_json_key(j, "chunks");
        ferry_json_int(j, atomic_load(&t->chunks));
        ferry_json_key(j, "missing");
        ferry_json_int(j, atomic_load(&t->n_missing));
        ferry_json_key(j, "extra");
        ferry_json_int(j, atomic_load(&t->n_extra));
        ferry_json_key(j, "changed");
        ferry_json_int(j, atomic_load(&t->n_changed));
        ferry_json_key(j, "done");
        ferry_json_bool(j, atomic_load(&t->done) != 0);
        ferry_json_object_end(j);
    }
    ferry_json_array_end(j);
    ferry_json_key(j, "differences");
    ferry_json_array_begin(j);
    for (size_t i = 0; i < v->diffs.n; i++)
        ferry_json_raw(j, v->diffs.items[i].json);
    ferry_json_array_end(j);
    ferry_json_key(j, "still_changing");
    ferry_json_array_begin(j);
    for (size_t i = 0; i < v->changing.n; i++)
        ferry_json_raw(j, v->changing.items[i].json);
    ferry_json_array_end(j);
    ferry_json_object_end(j);
    char *text = ferry_json_steal(j);
    ferry_json_destroy(j);
    return text;
}

/* Writes text to path through a temporary file, so a reader never sees half of it. */
static int write_file(const char *path, const char *text, size_t len, char *errstr,
                      size_t errstr_size)
{
    char tmp[1100];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not write \"%s\": %s", tmp,
                             strerror(errno));
    bool ok = fwrite(text, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not write \"%s\": %s", path,
                             strerror(e));
    }
    return 0;
}

int ferry_verify_write_report(const ferry_verify_t *v, const char *path, char *errstr,
                              size_t errstr_size)
{
    char *text = ferry_verify_report_json(v);
    if (!text)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    size_t len = strlen(text);
    text[len] = '\0';
    char *withnl = realloc(text, len + 2);
    if (!withnl) {
        free(text);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    int rc = write_file(path, withnl, len + 1, errstr, errstr_size);
    free(withnl);
    return rc;
}

/*
 * The repair statements in the order they must run: deletes of extra rows
 * first (a missing row may take the place of an extra one whose key differs
 * only in case under a case-insensitive key), then updates, then inserts.
 */
static void repair_text(const ferry_verify_t *v, ferry_strbuf_t *sb)
{
    static const vdiff_kind_t order[] = {VDIFF_EXTRA, VDIFF_CHANGED, VDIFF_MISSING};
    for (size_t o = 0; o < 3; o++)
        for (size_t i = 0; i < v->diffs.n; i++) {
            const vdiff_t *d = &v->diffs.items[i];
            if (d->kind == order[o] && d->repair)
                ferry_strbuf_printf(sb, "%s;\n", d->repair);
        }
}

/* Session settings every repair runs under. */
static const char *const repair_session[] = {
    "SET NAMES utf8mb4",
    "SET SESSION time_zone = '+00:00'",
    "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
    "SET SESSION foreign_key_checks = 0",
};

char *ferry_verify_repair_sql(const ferry_verify_t *v)
{
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    ferry_strbuf_printf(&sb,
                        "-- written by ferry-verifier: makes the destination equal to the source\n"
                        "-- (%zu difference%s)\n",
                        v->diffs.n, v->diffs.n == 1 ? "" : "s");
    for (size_t i = 0; i < sizeof(repair_session) / sizeof(repair_session[0]); i++)
        ferry_strbuf_printf(&sb, "%s;\n", repair_session[i]);
    ferry_strbuf_puts(&sb, "START TRANSACTION;\n");
    repair_text(v, &sb);
    ferry_strbuf_puts(&sb, "COMMIT;\n");
    if (sb.oom) {
        ferry_strbuf_free(&sb);
        return NULL;
    }
    return sb.buf;
}

int ferry_verify_write_repair(const ferry_verify_t *v, const char *path, char *errstr,
                              size_t errstr_size)
{
    char *text = ferry_verify_repair_sql(v);
    if (!text)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    int rc = write_file(path, text, strlen(text), errstr, errstr_size);
    free(text);
    return rc;
}

static int run_sql(MYSQL *my, const char *sql, char *errstr, size_t errstr_size)
{
    if (mysql_query(my, sql) == 0) {
        MYSQL_RES *res = mysql_store_result(my);
        mysql_free_result(res);
        return 0;
    }
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                         "could not apply the repair on the destination: %s (statement: %.200s)",
                         mysql_error(my), sql);
}

int ferry_verify_apply_repair(const ferry_verify_t *v, char *errstr, size_t errstr_size)
{
    ferry_db_t *db = NULL;
    const ferry_conf_t *conf = v->conf;
    int rc = ferry_db_connect(ferry_conf_get(conf, "destination.url"), "destination",
                              (int)ferry_conf_get_int(conf, "connect.timeout.ms"), &db, errstr,
                              errstr_size);
    if (rc)
        return rc;
    MYSQL *my = ferry_db_mysql(db);
    for (size_t i = 0; !rc && i < sizeof(repair_session) / sizeof(repair_session[0]); i++)
        rc = run_sql(my, repair_session[i], errstr, errstr_size);
    if (!rc)
        rc = run_sql(my, "START TRANSACTION", errstr, errstr_size);
    static const vdiff_kind_t order[] = {VDIFF_EXTRA, VDIFF_CHANGED, VDIFF_MISSING};
    for (size_t o = 0; !rc && o < 3; o++)
        for (size_t i = 0; !rc && i < v->diffs.n; i++) {
            const vdiff_t *d = &v->diffs.items[i];
            if (d->kind == order[o] && d->repair)
                rc = run_sql(my, d->repair, errstr, errstr_size);
        }
    if (!rc)
        rc = run_sql(my, "COMMIT", errstr, errstr_size);
    ferry_db_close(db);
    return rc;
}

void ferry_verify_print_summary(const ferry_verify_t *v, FILE *out)
{
    ferry_verify_progress_t p;
    ferry_verify_progress(v, &p);
    for (size_t i = 0; i < v->n_tables; i++) {
        const vtable_t *t = &v->tables[i];
        long long m = atomic_load(&t->n_missing), e = atomic_load(&t->n_extra),
                  c = atomic_load(&t->n_changed);
        fprintf(out, "%-40s %s  rows %lld / %lld", t->label, m + e + c ? "DIFFERENT" : "equal    ",
                (long long)atomic_load(&t->rows_src), (long long)atomic_load(&t->rows_dst));
        if (m + e + c)
            fprintf(out, "  (%lld missing, %lld extra, %lld changed)", m, e, c);
        fputc('\n', out);
    }
    size_t shown = v->diffs.n < 50 ? v->diffs.n : 50;
    for (size_t i = 0; i < shown; i++)
        fprintf(out, "  %s\n", v->diffs.items[i].text);
    if (shown < v->diffs.n)
        fprintf(out, "  ... and %zu more (see the report)\n", v->diffs.n - shown);
    for (size_t i = 0; i < v->changing.n && i < 50; i++)
        fprintf(out, "  still changing: %s\n", v->changing.items[i].text);
    double s = (double)p.elapsed_ms / 1000.0;
    fprintf(out, "%s: %zu table%s, %lld rows in %.1f s (%.0f rows/s), %zu difference%s",
            v->diffs.n ? "DIFFERENT" : "EQUAL", v->n_tables, v->n_tables == 1 ? "" : "s",
            (long long)p.rows_checked, s, s > 0 ? (double)p.rows_checked / s : 0.0, v->diffs.n,
            v->diffs.n == 1 ? "" : "s");
    if (v->changing.n)
        fprintf(out, ", %zu still changing", v->changing.n);
    fputc('\n', out);
}
