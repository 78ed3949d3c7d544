/*
 * shape.c - fitting each event's columns to the destination table as it is
 * when the event is applied.
 *
 * An event carries the columns of the schema it was written with (its writer
 * schema, named by its framing), which is the source table's shape at the
 * time of the change. A DDL statement on the table changes that shape at a
 * binlog position; the consumer applies it between the changes before and
 * after that position (ddl.c), so the events a table receives can carry
 * several shapes over its life, and snapshot rows can carry a shape the
 * destination only gets later (or no longer has). So the sink is not bound
 * to one column list per table: every (table, writer schema) pair gets its
 * own registration, whose columns are the writer's columns that the
 * destination table has now (read from its information_schema, again after
 * every DDL on it), and whose key is the destination's row key when all of
 * it is among them. Columns the destination lacks are left out of the
 * event's rows (the projection); columns the event lacks keep what the
 * destination has (a default for new rows).
 */
#include "consumer.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void shape_forget(ctable_t *t)
{
    for (size_t i = 0; i < t->nshapes; i++)
        free(t->shapes[i].proj);
    free(t->shapes);
    t->shapes = NULL;
    t->nshapes = 0;
    ferry_tabledef_destroy(t->dest_def);
    t->dest_def = NULL;
}

static int read_dest(consumer_t *c, ctable_t *t, char *errstr, size_t errstr_size)
{
    if (t->dest_def)
        return 0;
    char why[512];
    int rc = ferry_mysql_schema_read_table(c->my, c->flavor, t->dst_db, t->dst_name, &t->dest_def,
                                           why, sizeof(why));
    if (rc != 0)
        return ferry_err_set(errstr, errstr_size, rc, "could not read destination table \"%s\": %s",
                             t->dst_full, why);
    return 0;
}

/* Indexes into cols of the destination's row key; false when a part is missing. */
static bool key_columns(const ferry_tabledef_t *def, const ferry_table_t *cols, size_t *key,
                        size_t *n)
{
    const ferry_indexdef_t *k = ferry_tabledef_row_key(def);
    *n = 0;
    if (!k)
        return false;
    for (size_t i = 0; i < k->n_parts; i++) {
        const char *name = k->parts[i].column;
        size_t j = 0, nc = ferry_table_ncolumns(cols);
        while (name && j < nc && strcasecmp(ferry_table_column(cols, j)->name, name) != 0)
            j++;
        if (!name || j == nc)
            return false;
        key[(*n)++] = j;
    }
    return true;
}

/* Registers the writer schema of codec for t's destination table as it is now. */
/*
 * Registers (t, writer schema codec) with sink, t->dest_def read already.
 * The snapshot loaders (snapload.c) call it for their own sinks.
 */
int shape_new(consumer_t *c, ferry_mysql_sink_t *sink, const ctable_t *t,
              const ferry_avro_codec_t *codec, shape_t *out, char *errstr, size_t errstr_size)
{
    (void)c;
    const ferry_table_t *w = ferry_avro_codec_table(codec);
    size_t nw = ferry_table_ncolumns(w);
    ferry_table_t *cols = ferry_table_new(t->dst_db, t->dst_name);
    size_t *proj = calloc(nw + 1, sizeof(*proj));
    size_t *key = calloc(nw + 1, sizeof(*key));
    int rc = cols && proj && key ? 0 : FERRY_ERR_NOMEM;
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < nw; i++) {
        ferry_column_t col = *ferry_table_column(w, i);
        if (ferry_tabledef_find_column(t->dest_def, col.name) < 0)
            continue;
        col.pk_pos = 0;
        rc = ferry_table_add_column(cols, &col, errstr, errstr_size);
        proj[k++] = i;
    }
    if (rc == 0 && k == 0)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "no column of the event is in destination table \"%s\"", t->dst_full);
    if (rc == 0) {
        size_t nkey;
        bool whole = key_columns(t->dest_def, cols, key, &nkey);
        ferry_mysql_sink_table_t st = {.db = t->dst_db,
                                       .table = t->dst_name,
                                       .columns = cols,
                                       .key_cols = key,
                                       .n_key_cols = whole ? nkey : 0};
        int id = ferry_mysql_sink_add_table(sink, &st, errstr, errstr_size);
        rc = id < 0 ? id : 0;
        out->codec = codec;
        out->sink_id = id;
        out->n_proj = k;
        out->proj = k == nw ? NULL : proj;
        if (rc == 0 && k < nw)
            proj = NULL;
    }
    if (rc == FERRY_ERR_NOMEM)
        ferry_err_set(errstr, errstr_size, rc, "out of memory");
    free(proj);
    free(key);
    ferry_table_destroy(cols);
    return rc;
}

const ferry_row_t *shape_project(ferry_arena_t *a, const shape_t *s, const ferry_row_t *row)
{
    if (!row)
        return NULL;
    ferry_row_t *r = ferry_arena_alloc(a, sizeof(*r));
    ferry_value_t *v = ferry_arena_calloc(a, s->n_proj + 1, sizeof(*v));
    if (!r || !v)
        return NULL;
    for (size_t i = 0; i < s->n_proj; i++)
        v[i] = s->proj[i] < row->n ? row->values[s->proj[i]] : (ferry_value_t){.is_null = 1};
    r->n = s->n_proj;
    r->values = v;
    return r;
}

/*
 * The sink registration for event ev of t, taken from message m (its writer
 * schema), with ev's rows cut to the destination's columns (in the batch's
 * arena). Returns the sink id, or a negative ferry_err_t with errstr.
 */
int shape_prepare(consumer_t *c, ctable_t *t, const ferry_kafka_msg_t *m, ferry_change_t *ev,
                  char *errstr, size_t errstr_size)
{
    const uint8_t *body;
    size_t body_len;
    ferry_avro_codec_t *codec =
        cons_codec_for(c, m->value, m->value_len, &body, &body_len, errstr, errstr_size);
    if (!codec)
        return FERRY_ERR_INVALID;
    shape_t *s = NULL;
    for (size_t i = 0; i < t->nshapes && !s; i++)
        if (t->shapes[i].codec == codec)
            s = &t->shapes[i];
    if (!s) {
        int rc = read_dest(c, t, errstr, errstr_size);
        if (rc != 0)
            return rc;
        shape_t *n = realloc(t->shapes, (t->nshapes + 1) * sizeof(*n));
        if (!n)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        t->shapes = n;
        rc = shape_new(c, c->sink, t, codec, &t->shapes[t->nshapes], errstr, errstr_size);
        if (rc != 0)
            return rc;
        s = &t->shapes[t->nshapes++];
        if (s->proj)
            ferry_log_info("event columns the destination lacks are left out", "table=%s kept=%zu",
                           t->dst_full, s->n_proj);
    }
    if (s->proj) {
        const ferry_row_t *before = shape_project(c->batch.arena, s, ev->before);
        const ferry_row_t *after = shape_project(c->batch.arena, s, ev->after);
        if ((ev->before && !before) || (ev->after && !after))
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        ev->before = before;
        ev->after = after;
    }
    return s->sink_id;
}
