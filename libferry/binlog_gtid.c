/*
 * binlog_gtid.c - GTID sets for resumable binlog positions.
 *
 * MySQL: a set of (server uuid [, tag]) each with sorted, merged, inclusive
 * intervals of transaction numbers; "uuid:1-5:7,uuid2:tag:3". MariaDB: the
 * last GTID of each replication domain; "0-1-100,1-2-7" (what
 * @@gtid_binlog_pos and @slave_connect_state use). A set holds one flavour
 * in practice, but nothing stops a caller from mixing them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog.h"
#include "err.h"
#include "strbuf.h"

typedef struct {
    int64_t lo, hi; /* inclusive */
} interval_t;

typedef struct {
    uint8_t sid[16];
    char *tag; /* NULL when untagged */
    interval_t *iv;
    size_t n, cap;
} sid_set_t;

struct ferry_binlog_gtid_set {
    sid_set_t *sids;
    size_t n_sids, cap_sids;
    ferry_binlog_maria_gtid_t *maria;
    size_t n_maria, cap_maria;
};

ferry_binlog_gtid_set_t *ferry_binlog_gtid_set_new(void)
{
    return calloc(1, sizeof(ferry_binlog_gtid_set_t));
}

void ferry_binlog_gtid_set_destroy(ferry_binlog_gtid_set_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_sids; i++) {
        free(s->sids[i].tag);
        free(s->sids[i].iv);
    }
    free(s->sids);
    free(s->maria);
    free(s);
}

static bool same_tag(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static sid_set_t *find_sid(ferry_binlog_gtid_set_t *s, const uint8_t sid[16], const char *tag)
{
    for (size_t i = 0; i < s->n_sids; i++)
        if (memcmp(s->sids[i].sid, sid, 16) == 0 && same_tag(s->sids[i].tag, tag))
            return &s->sids[i];
    if (s->n_sids == s->cap_sids) {
        size_t cap = s->cap_sids ? s->cap_sids * 2 : 4;
        sid_set_t *n = realloc(s->sids, cap * sizeof(*n));
        if (!n)
            return NULL;
        s->sids = n;
        s->cap_sids = cap;
    }
    sid_set_t *e = &s->sids[s->n_sids];
    memset(e, 0, sizeof(*e));
    memcpy(e->sid, sid, 16);
    if (tag && !(e->tag = strdup(tag)))
        return NULL;
    s->n_sids++;
    return e;
}

/* Inserts [lo, hi] keeping intervals sorted and merged (adjacent ones too). */
static int add_interval(sid_set_t *e, int64_t lo, int64_t hi)
{
    size_t i = 0;
    while (i < e->n && e->iv[i].hi < lo - 1)
        i++;
    size_t j = i;
    while (j < e->n && e->iv[j].lo <= hi + 1) {
        if (e->iv[j].lo < lo)
            lo = e->iv[j].lo;
        if (e->iv[j].hi > hi)
            hi = e->iv[j].hi;
        j++;
    }
    if (j == i) { /* no overlap: insert at i */
        if (e->n == e->cap) {
            size_t cap = e->cap ? e->cap * 2 : 4;
            interval_t *n = realloc(e->iv, cap * sizeof(*n));
            if (!n)
                return FERRY_ERR_NOMEM;
            e->iv = n;
            e->cap = cap;
        }
        memmove(e->iv + i + 1, e->iv + i, (e->n - i) * sizeof(*e->iv));
        e->n++;
    } else if (j > i + 1) { /* merged several: close the gap */
        memmove(e->iv + i + 1, e->iv + j, (e->n - j) * sizeof(*e->iv));
        e->n -= j - i - 1;
    }
    e->iv[i].lo = lo;
    e->iv[i].hi = hi;
    return 0;
}

int ferry_binlog_gtid_set_add_mysql(ferry_binlog_gtid_set_t *s, const uint8_t sid[16],
                                    const char *tag, int64_t gno)
{
    if (gno < 1)
        return FERRY_ERR_INVALID;
    sid_set_t *e = find_sid(s, sid, tag && *tag ? tag : NULL);
    return e ? add_interval(e, gno, gno) : FERRY_ERR_NOMEM;
}

int ferry_binlog_gtid_set_add_maria(ferry_binlog_gtid_set_t *s, const ferry_binlog_maria_gtid_t *g)
{
    for (size_t i = 0; i < s->n_maria; i++) {
        if (s->maria[i].domain == g->domain) {
            s->maria[i] = *g;
            return 0;
        }
    }
    if (s->n_maria == s->cap_maria) {
        size_t cap = s->cap_maria ? s->cap_maria * 2 : 4;
        ferry_binlog_maria_gtid_t *n = realloc(s->maria, cap * sizeof(*n));
        if (!n)
            return FERRY_ERR_NOMEM;
        s->maria = n;
        s->cap_maria = cap;
    }
    s->maria[s->n_maria++] = *g;
    return 0;
}

/* ---- parsing ----------------------------------------------------------------------- */

static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *q = *p;
    uint64_t v = 0;
    if (q >= end || !isdigit((unsigned char)*q))
        return false;
    while (q < end && isdigit((unsigned char)*q)) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*q++ - '0');
    }
    *p = q;
    *out = v;
    return true;
}

static int parse_maria(ferry_binlog_gtid_set_t *s, const char *p, const char *end)
{
    uint64_t d, srv, seq;
    if (!parse_u64(&p, end, &d) || p >= end || *p++ != '-' || !parse_u64(&p, end, &srv) ||
        p >= end || *p++ != '-' || !parse_u64(&p, end, &seq) || p != end || d > UINT32_MAX ||
        srv > UINT32_MAX)
        return FERRY_ERR_INVALID;
    ferry_binlog_maria_gtid_t g = {(uint32_t)d, (uint32_t)srv, seq};
    return ferry_binlog_gtid_set_add_maria(s, &g);
}

/* "uuid[:tag]:iv[:iv...][:tag:iv...]" */
static int parse_mysql(ferry_binlog_gtid_set_t *s, const char *p, const char *end)
{
    uint8_t sid[16];
    if (end - p < 36 || ferry_value_parse_uuid(p, 36, sid))
        return FERRY_ERR_INVALID;
    p += 36;
    char tag[64] = "";
    while (p < end) {
        if (*p++ != ':')
            return FERRY_ERR_INVALID;
        if (p < end && !isdigit((unsigned char)*p)) {
            size_t n = 0;
            while (p < end && *p != ':' && n + 1 < sizeof(tag))
                tag[n++] = (char)tolower((unsigned char)*p++);
            tag[n] = '\0';
            continue;
        }
        uint64_t lo, hi;
        if (!parse_u64(&p, end, &lo))
            return FERRY_ERR_INVALID;
        hi = lo;
        if (p < end && *p == '-') {
            p++;
            if (!parse_u64(&p, end, &hi))
                return FERRY_ERR_INVALID;
        }
        if (lo < 1 || hi < lo || hi > INT64_MAX)
            return FERRY_ERR_INVALID;
        sid_set_t *e = find_sid(s, sid, tag[0] ? tag : NULL);
        if (!e || add_interval(e, (int64_t)lo, (int64_t)hi))
            return FERRY_ERR_NOMEM;
    }
    return 0;
}

int ferry_binlog_gtid_set_parse(ferry_binlog_gtid_set_t *s, const char *text, char *errstr,
                                size_t errstr_size)
{
    const char *p = text;
    while (*p) {
        while (*p && (isspace((unsigned char)*p) || *p == ','))
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && isspace((unsigned char)end[-1]))
            end--;
        if (end == start)
            continue;
        bool mysql = end - start >= 36 && start[8] == '-' && start[13] == '-';
        int rc = mysql ? parse_mysql(s, start, end) : parse_maria(s, start, end);
        if (rc == FERRY_ERR_NOMEM)
            return ferry_err_set(errstr, errstr_size, rc,
                                 "could not parse GTID set: out of memory");
        if (rc)
            return ferry_err_set(errstr, errstr_size, rc,
                                 "could not parse GTID set \"%s\": bad element \"%.*s\"", text,
                                 (int)(end - start), start);
    }
    return 0;
}

/* ---- formatting ------------------------------------------------------------------ */

static int cmp_sid(const void *a, const void *b)
{
    const sid_set_t *x = a, *y = b;
    int c = memcmp(x->sid, y->sid, 16);
    if (c)
        return c;
    if (!x->tag || !y->tag)
        return x->tag ? 1 : y->tag ? -1 : 0;
    return strcmp(x->tag, y->tag);
}

static int cmp_maria(const void *a, const void *b)
{
    const ferry_binlog_maria_gtid_t *x = a, *y = b;
    return x->domain < y->domain ? -1 : x->domain > y->domain;
}

char *ferry_binlog_gtid_set_format(const ferry_binlog_gtid_set_t *s)
{
    ferry_strbuf_t b = FERRY_STRBUF_INIT;
    ferry_strbuf_put(&b, "", 0);
    sid_set_t *sids = malloc((s->n_sids + 1) * sizeof(*sids));
    ferry_binlog_maria_gtid_t *maria = malloc((s->n_maria + 1) * sizeof(*maria));
    if (!sids || !maria || b.oom) {
        free(sids);
        free(maria);
        ferry_strbuf_free(&b);
        return NULL;
    }
    if (s->n_sids)
        memcpy(sids, s->sids, s->n_sids * sizeof(*sids));
    if (s->n_maria)
        memcpy(maria, s->maria, s->n_maria * sizeof(*maria));
    qsort(sids, s->n_sids, sizeof(*sids), cmp_sid);
    qsort(maria, s->n_maria, sizeof(*maria), cmp_maria);
    size_t emitted = 0;
    for (size_t i = 0; i < s->n_sids; i++) {
        if (!sids[i].n)
            continue;
        char uuid[37];
        ferry_value_format_uuid(sids[i].sid, uuid);
        ferry_strbuf_printf(&b, "%s%s", emitted++ ? "," : "", uuid);
        if (sids[i].tag)
            ferry_strbuf_printf(&b, ":%s", sids[i].tag);
        for (size_t k = 0; k < sids[i].n; k++) {
            const interval_t *iv = &sids[i].iv[k];
            if (iv->hi > iv->lo)
                ferry_strbuf_printf(&b, ":%lld-%lld", (long long)iv->lo, (long long)iv->hi);
            else
                ferry_strbuf_printf(&b, ":%lld", (long long)iv->lo);
        }
    }
    for (size_t i = 0; i < s->n_maria; i++)
        ferry_strbuf_printf(&b, "%s%u-%u-%llu", emitted++ ? "," : "", maria[i].domain,
                            maria[i].server, (unsigned long long)maria[i].seq);
    free(sids);
    free(maria);
    if (b.oom) {
        ferry_strbuf_free(&b);
        return NULL;
    }
    return b.buf;
}
