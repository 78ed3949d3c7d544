/*
 * binlog.c - the binlog decoder's entry point: common header, checksums,
 * FORMAT_DESCRIPTION and the small events (ROTATE, QUERY, XID, GTIDs,
 * heartbeats, MySQL TRANSACTION_PAYLOAD and MariaDB compression).
 *
 * TABLE_MAP lives in binlog_tablemap.c, row images in binlog_rows.c,
 * collations in binlog_charset.c and GTID sets in binlog_gtid.c.
 *
 * Checksums: whether events end with a CRC32 is decided by the checksum_alg
 * byte of the last FORMAT_DESCRIPTION event, never by checking the FDE's own
 * CRC (MySQL clears LOG_EVENT_BINLOG_IN_USE_F in a closed file after the
 * checksum was computed, so a correct FDE may not match its CRC). Events
 * inside a TRANSACTION_PAYLOAD carry no trailer at all.
 */
#include "binlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "binlog_int.h"
#include "err.h"
#include "strbuf.h"

/* Largest decompressed payload or compressed event accepted (MySQL's own cap is 1 GiB). */
#define BL_MAX_UNCOMPRESSED ((size_t)1 << 30)

/* Checksum modes of one decode call. */
enum { BL_CRC_AUTO = -1, BL_CRC_NONE = 0, BL_CRC32 = 1 };

/* ---- names --------------------------------------------------------------- */

static const char *const type_names[] = {
    [0] = "UNKNOWN",
    [1] = "START_V3",
    [2] = "QUERY",
    [3] = "STOP",
    [4] = "ROTATE",
    [5] = "INTVAR",
    [6] = "LOAD",
    [7] = "SLAVE",
    [8] = "CREATE_FILE",
    [9] = "APPEND_BLOCK",
    [10] = "EXEC_LOAD",
    [11] = "DELETE_FILE",
    [12] = "NEW_LOAD",
    [13] = "RAND",
    [14] = "USER_VAR",
    [15] = "FORMAT_DESCRIPTION",
    [16] = "XID",
    [17] = "BEGIN_LOAD_QUERY",
    [18] = "EXECUTE_LOAD_QUERY",
    [19] = "TABLE_MAP",
    [20] = "PRE_GA_WRITE_ROWS",
    [21] = "PRE_GA_UPDATE_ROWS",
    [22] = "PRE_GA_DELETE_ROWS",
    [23] = "WRITE_ROWS_V1",
    [24] = "UPDATE_ROWS_V1",
    [25] = "DELETE_ROWS_V1",
    [26] = "INCIDENT",
    [27] = "HEARTBEAT",
    [28] = "IGNORABLE",
    [29] = "ROWS_QUERY",
    [30] = "WRITE_ROWS_V2",
    [31] = "UPDATE_ROWS_V2",
    [32] = "DELETE_ROWS_V2",
    [33] = "GTID",
    [34] = "ANONYMOUS_GTID",
    [35] = "PREVIOUS_GTIDS",
    [36] = "TRANSACTION_CONTEXT",
    [37] = "VIEW_CHANGE",
    [38] = "XA_PREPARE",
    [39] = "PARTIAL_UPDATE_ROWS",
    [40] = "TRANSACTION_PAYLOAD",
    [41] = "HEARTBEAT_V2",
    [42] = "GTID_TAGGED",
    [160] = "MARIA_ANNOTATE_ROWS",
    [161] = "MARIA_BINLOG_CHECKPOINT",
    [162] = "MARIA_GTID",
    [163] = "MARIA_GTID_LIST",
    [164] = "MARIA_START_ENCRYPTION",
    [165] = "MARIA_QUERY_COMPRESSED",
    [166] = "MARIA_WRITE_ROWS_COMPRESSED_V1",
    [167] = "MARIA_UPDATE_ROWS_COMPRESSED_V1",
    [168] = "MARIA_DELETE_ROWS_COMPRESSED_V1",
    [169] = "MARIA_WRITE_ROWS_COMPRESSED_V2",
    [170] = "MARIA_UPDATE_ROWS_COMPRESSED_V2",
    [171] = "MARIA_DELETE_ROWS_COMPRESSED_V2",
};

const char *ferry_binlog_event_type_name(unsigned type, char buf[8])
{
    if (type < sizeof(type_names) / sizeof(type_names[0]) && type_names[type])
        return type_names[type];
    snprintf(buf, 8, "T%u", type & 0xffffu);
    return buf;
}

int ferry_binlog__fail(const bl_ctx_t *c, int err, const char *fmt, ...)
{
    char why[512], tb[8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return ferry_err_set(c->errstr, c->errstr_size, err,
                         "could not decode %s event at position %u: %s",
                         ferry_binlog_event_type_name(c->ev->type, tb), c->start_pos, why);
}

/* ---- decoder -------------------------------------------------------------- */

ferry_binlog_decoder_t *ferry_binlog_decoder_new(void)
{
    ferry_binlog_decoder_t *d = calloc(1, sizeof(*d));
    if (d)
        d->checksum = BL_CRC_AUTO;
    return d;
}

void ferry_binlog_decoder_destroy(ferry_binlog_decoder_t *d)
{
    if (!d)
        return;
    ferry_binlog__tables_free(d);
    ferry_binlog__iconv_free(d);
    free(d);
}

void ferry_binlog_decoder_set_checksum(ferry_binlog_decoder_t *d, int alg)
{
    d->checksum = alg == 1 ? BL_CRC32 : BL_CRC_NONE;
}

const ferry_binlog_table_t *ferry_binlog_decoder_table(const ferry_binlog_decoder_t *d,
                                                       uint64_t table_id)
{
    bl_table_t *t = ferry_binlog__table_get(d, table_id);
    return t ? &t->pub : NULL;
}

/* ---- small helpers --------------------------------------------------------- */

static char *arena_text(bl_ctx_t *c, const uint8_t *p, size_t len)
{
    return ferry_arena_strndup(c->arena, p ? (const char *)p : "", p ? len : 0);
}

static int nomem(bl_ctx_t *c)
{
    return ferry_binlog__fail(c, FERRY_ERR_NOMEM, "out of memory");
}

static int truncated(bl_ctx_t *c)
{
    return ferry_binlog__fail(c, FERRY_ERR_TRUNCATED, "event body is truncated");
}

/* "x.y.z..." to x*10000 + y*100 + z. */
static unsigned version_number(const char *v)
{
    unsigned part[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        while (*v >= '0' && *v <= '9')
            part[i] = part[i] * 10 + (unsigned)(*v++ - '0');
        if (*v != '.')
            break;
        v++;
    }
    return part[0] * 10000 + part[1] * 100 + part[2];
}

static void format_uuid(const uint8_t sid[16], char out[37])
{
    ferry_value_format_uuid(sid, out);
}

/* ---- FORMAT_DESCRIPTION ------------------------------------------------------ */

static int decode_fde(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    ferry_binlog_decoder_t *d = c->d;
    bl_reader_t r = bl_reader(body, len);
    uint16_t version = (uint16_t)bl_uint(&r, 2);
    const uint8_t *sv = bl_bytes(&r, 50);
    bl_uint(&r, 4); /* creation time */
    uint8_t header_len = bl_u8(&r);
    if (r.bad)
        return truncated(c);
    if (version != 4 || header_len < FERRY_BINLOG_HEADER_LEN)
        return ferry_binlog__fail(c, FERRY_ERR_UNSUPPORTED,
                                  "binlog version %u with %u-byte headers is not supported",
                                  version, header_len);
    char server[51];
    memcpy(server, sv, 50);
    server[50] = '\0';
    bool mariadb = strstr(server, "MariaDB") != NULL;
    unsigned vn = version_number(server);
    bool has_alg = mariadb ? vn >= 50300 : vn >= 50601;
    size_t n = bl_left(&r);
    uint8_t alg = 255;
    if (has_alg) {
        if (n < 5)
            return truncated(c);
        alg = body[len - 5];
        n -= 5;
    }
    if (alg != 0 && alg != 1 && alg != 255)
        return ferry_binlog__fail(c, FERRY_ERR_UNSUPPORTED, "unknown checksum algorithm %u", alg);
    /* A new FDE starts a new file or server: table ids mean nothing any more. */
    ferry_binlog__tables_reset(d);
    memset(d->post_header, 0, sizeof(d->post_header));
    if (n > 255)
        n = 255;
    memcpy(d->post_header + 1, r.p, n);
    d->have_fde = true;
    d->mariadb = mariadb;
    d->binlog_version = version;
    d->checksum = alg == 1 ? BL_CRC32 : BL_CRC_NONE;
    ev->kind = FERRY_BINLOG_EV_FORMAT_DESCRIPTION;
    ev->u.fde.binlog_version = version;
    ev->u.fde.server_version = ferry_arena_strdup(c->arena, server);
    ev->u.fde.checksum_alg = alg;
    ev->u.fde.mariadb = mariadb;
    return ev->u.fde.server_version ? 0 : nomem(c);
}

/* ---- ROTATE, XID, HEARTBEAT, ROWS_QUERY ---------------------------------------- */

static int decode_rotate(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    size_t ph = c->d->have_fde ? c->d->post_header[FERRY_BINLOG_ROTATE] : 8;
    ev->u.rotate.pos = ph >= 8 ? bl_uint(&r, 8) : 4;
    if (ph > 8)
        bl_bytes(&r, ph - 8);
    if (r.bad)
        return truncated(c);
    ev->u.rotate.file = arena_text(c, r.p, bl_left(&r));
    if (!ev->u.rotate.file)
        return nomem(c);
    ev->kind = FERRY_BINLOG_EV_ROTATE;
    /* The next events are another file's: their table ids are new. */
    ferry_binlog__tables_reset(c->d);
    return 0;
}

static int decode_xid(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    ev->u.xid.xid = bl_uint(&r, 8);
    if (r.bad)
        return truncated(c);
    ev->kind = FERRY_BINLOG_EV_XID;
    return 0;
}

static int decode_heartbeat(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    ev->u.heartbeat.file = arena_text(c, body, len);
    if (!ev->u.heartbeat.file)
        return nomem(c);
    ev->kind = FERRY_BINLOG_EV_HEARTBEAT;
    return 0;
}

static int decode_rows_query(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    size_t skip = ev->type == FERRY_BINLOG_ROWS_QUERY ? 1 : 0; /* a length byte, cut at 255 */
    if (len < skip)
        return truncated(c);
    ev->u.rows_query.text = (const char *)body + skip;
    ev->u.rows_query.len = len - skip;
    ev->kind = FERRY_BINLOG_EV_ROWS_QUERY;
    return 0;
}

/* ---- MariaDB compression ------------------------------------------------------- */

/*
 * MariaDB's compressed block: one header byte (0x80 | algorithm << 4 |
 * width), the uncompressed length in 'width' big-endian bytes, then a zlib
 * stream. Writes the inflated bytes to arena memory.
 */
static int maria_uncompress(bl_ctx_t *c, const uint8_t *src, size_t len, uint8_t **out,
                            size_t *out_len)
{
    bl_reader_t r = bl_reader(src, len);
    uint8_t h = bl_u8(&r);
    unsigned width = h & 0x07, alg = (h >> 4) & 0x07;
    if (r.bad)
        return truncated(c);
    if (!(h & 0x80) || alg != 0 || width < 1 || width > 4)
        return ferry_binlog__fail(c, FERRY_ERR_INVALID, "bad compression header byte 0x%02x", h);
    uint64_t ulen = bl_uint_be(&r, width);
    if (r.bad)
        return truncated(c);
    /* zlib cannot expand more than about 1032:1; a larger claim is corrupt */
    if (ulen > BL_MAX_UNCOMPRESSED || ulen > (uint64_t)bl_left(&r) * 1032 + 1024)
        return ferry_binlog__fail(c, FERRY_ERR_UNSUPPORTED, "uncompressed size %llu is too large",
                                  (unsigned long long)ulen);
    uint8_t *dst = ferry_arena_alloc(c->arena, ulen ? ulen : 1);
    if (!dst)
        return nomem(c);
    uLongf dlen = (uLongf)ulen;
    int zr = uncompress(dst, &dlen, r.p, (uLong)bl_left(&r));
    if (zr != Z_OK || dlen != ulen)
        return ferry_binlog__fail(c, FERRY_ERR_INVALID,
                                  "could not inflate compressed data (zlib %d, %lu of %llu bytes)",
                                  zr, (unsigned long)dlen, (unsigned long long)ulen);
    *out = dst;
    *out_len = (size_t)ulen;
    return 0;
}

/* ---- QUERY -------------------------------------------------------------------- */

/* Picks the status variables ferry uses; stops at a code it does not know. */
static void query_status_vars(bl_ctx_t *c, const uint8_t *p, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(p, len);
    while (bl_left(&r) > 0) {
        uint8_t code = bl_u8(&r);
        switch (code) {
        case 0: /* Q_FLAGS2 */
            bl_bytes(&r, 4);
            break;
        case 1: /* Q_SQL_MODE */
            ev->u.query.sql_mode = bl_uint(&r, 8);
            ev->u.query.sql_mode_set = !r.bad;
            break;
        case 2: { /* Q_CATALOG (5.0.0-5.0.3): length, text, NUL */
            uint8_t n = bl_u8(&r);
            bl_bytes(&r, (size_t)n + 1);
            break;
        }
        case 3: /* Q_AUTO_INCREMENT */
            bl_bytes(&r, 4);
            break;
        case 4: { /* Q_CHARSET: client, connection collation, server collation */
            unsigned client = (unsigned)bl_uint(&r, 2);
            bl_bytes(&r, 4);
            if (!r.bad)
                ev->u.query.charset = ferry_binlog_collation_charset(client);
            break;
        }
        case 5: { /* Q_TIME_ZONE */
            uint8_t n = bl_u8(&r);
            const uint8_t *tz = bl_bytes(&r, n);
            if (tz)
                ev->u.query.time_zone = arena_text(c, tz, n);
            break;
        }
        case 6:    /* Q_CATALOG_NZ */
        case 11: { /* Q_INVOKER: user then host, each length-prefixed */
            uint8_t n = bl_u8(&r);
            bl_bytes(&r, n);
            if (code == 11)
                bl_bytes(&r, bl_u8(&r));
            break;
        }
        case 7:  /* Q_LC_TIME_NAMES */
        case 8:  /* Q_CHARSET_DATABASE */
        case 18: /* Q_DEFAULT_COLLATION_FOR_UTF8MB4 */
            bl_bytes(&r, 2);
            break;
        case 9:   /* Q_TABLE_MAP_FOR_UPDATE */
        case 17:  /* Q_DDL_LOGGED_WITH_XID */
        case 129: /* MariaDB Q_XID */
            bl_bytes(&r, 8);
            break;
        case 10: /* Q_MASTER_DATA_WRITTEN */
            bl_bytes(&r, 4);
            break;
        case 12: { /* Q_UPDATED_DB_NAMES: count, then NUL-terminated names */
            uint8_t n = bl_u8(&r);
            for (unsigned i = 0; n < 254 && i < n && !r.bad; i++) {
                const uint8_t *z = memchr(r.p, 0, bl_left(&r));
                bl_bytes(&r, z ? (size_t)(z - r.p) + 1 : bl_left(&r) + 1);
            }
            break;
        }
        case 13:  /* Q_MICROSECONDS */
        case 128: /* MariaDB Q_HRNOW */
            bl_bytes(&r, 3);
            break;
        case 16:  /* Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP */
        case 19:  /* Q_SQL_REQUIRE_PRIMARY_KEY */
        case 20:  /* Q_DEFAULT_TABLE_ENCRYPTION */
        case 130: /* MariaDB Q_GTID_FLAGS3 */
            bl_bytes(&r, 1);
            break;
        default:
            return;
        }
        if (r.bad)
            return;
    }
}

static int decode_query(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    size_t ph = c->d->post_header[FERRY_BINLOG_QUERY];
    if (ev->type == FERRY_BINLOG_MARIA_QUERY_COMPRESSED && c->d->post_header[ev->type])
        ph = c->d->post_header[ev->type];
    if (ph < 11)
        ph = 13;
    ev->u.query.thread_id = (uint32_t)bl_uint(&r, 4);
    ev->u.query.exec_time = (uint32_t)bl_uint(&r, 4);
    uint8_t db_len = bl_u8(&r);
    ev->u.query.error_code = (uint16_t)bl_uint(&r, 2);
    size_t vars_len = ph >= 13 ? (size_t)bl_uint(&r, 2) : 0;
    if (ph > 13)
        bl_bytes(&r, ph - 13);
    const uint8_t *vars = bl_bytes(&r, vars_len);
    const uint8_t *db = bl_bytes(&r, (size_t)db_len + 1);
    if (r.bad)
        return truncated(c);
    query_status_vars(c, vars, vars_len, ev);
    ev->u.query.db = arena_text(c, db, db_len);
    if (!ev->u.query.db)
        return nomem(c);
    ev->u.query.sql = (const char *)r.p;
    ev->u.query.sql_len = bl_left(&r);
    if (ev->type == FERRY_BINLOG_MARIA_QUERY_COMPRESSED) {
        uint8_t *sql;
        size_t sql_len;
        int rc = maria_uncompress(c, r.p, bl_left(&r), &sql, &sql_len);
        if (rc)
            return rc;
        ev->u.query.sql = (const char *)sql;
        ev->u.query.sql_len = sql_len;
    }
    ev->kind = FERRY_BINLOG_EV_QUERY;
    return 0;
}

/* ---- GTIDs ---------------------------------------------------------------------- */

static int decode_mysql_gtid(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    ev->u.gtid.flags = bl_u8(&r);
    const uint8_t *sid = bl_bytes(&r, 16);
    ev->u.gtid.gno = (int64_t)bl_uint(&r, 8);
    if (r.bad)
        return truncated(c);
    memcpy(ev->u.gtid.sid, sid, 16);
    ev->u.gtid.anonymous = ev->type == FERRY_BINLOG_ANONYMOUS_GTID;
    ev->u.gtid.last_committed = ev->u.gtid.sequence_number = -1;
    if (bl_left(&r) >= 17 && bl_u8(&r) == 2) { /* logical clock */
        ev->u.gtid.last_committed = (int64_t)bl_uint(&r, 8);
        ev->u.gtid.sequence_number = (int64_t)bl_uint(&r, 8);
    }
    char uuid[37], text[80];
    format_uuid(ev->u.gtid.sid, uuid);
    snprintf(text, sizeof(text), "%s:%lld", uuid, (long long)ev->u.gtid.gno);
    ev->u.gtid.text = ferry_arena_strdup(c->arena, text);
    ev->kind = FERRY_BINLOG_EV_GTID;
    return ev->u.gtid.text ? 0 : nomem(c);
}

/*
 * mysql::serialization's variable-length integer (MySQL 8.3+ GTID_TAGGED and
 * tagged GTID sets): the number of trailing one bits of the first byte, plus
 * one, is the byte count (nine when all eight are set); the value is the
 * little-endian number shifted right by that count.
 */
static uint64_t bl_varlen(bl_reader_t *r)
{
    if (bl_left(r) < 1) {
        r->bad = true;
        return 0;
    }
    uint8_t first = r->p[0];
    unsigned n = 1;
    while (n < 9 && (first >> (n - 1)) & 1)
        n++;
    if (n == 9) {
        bl_bytes(r, 1);
        return bl_uint(r, 8);
    }
    return bl_uint(r, n) >> n;
}

static int64_t bl_varlen_signed(bl_reader_t *r)
{
    uint64_t v = bl_varlen(r);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* GTID_TAGGED: a serialized message of numbered fields. */
static int decode_tagged_gtid(bl_ctx_t *c, const uint8_t *body, size_t len,
                              ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    bl_varlen(&r); /* format version */
    uint64_t size = bl_varlen(&r);
    bl_varlen(&r); /* last non-ignorable field */
    if (r.bad || size > len)
        return truncated(c);
    ev->u.gtid.last_committed = ev->u.gtid.sequence_number = -1;
    const char *tag = NULL;
    while (bl_left(&r) > 0) {
        uint64_t field = bl_varlen(&r);
        if (field == 0) {
            ev->u.gtid.flags = (uint8_t)bl_varlen(&r);
        } else if (field == 1) {
            for (int i = 0; i < 16; i++)
                ev->u.gtid.sid[i] = (uint8_t)bl_varlen(&r);
        } else if (field == 2) {
            ev->u.gtid.gno = bl_varlen_signed(&r);
        } else if (field == 3) {
            uint64_t n = bl_varlen(&r);
            const uint8_t *t = bl_bytes(&r, n);
            if (t && n) {
                tag = arena_text(c, t, n);
                if (!tag)
                    return nomem(c);
            }
        } else if (field == 4) {
            ev->u.gtid.last_committed = bl_varlen_signed(&r);
        } else if (field == 5) {
            ev->u.gtid.sequence_number = bl_varlen_signed(&r);
        } else {
            break; /* timestamps, lengths, versions: not needed */
        }
        if (r.bad)
            return truncated(c);
    }
    ev->u.gtid.tag = tag;
    char uuid[37], text[160];
    format_uuid(ev->u.gtid.sid, uuid);
    snprintf(text, sizeof(text), "%s%s%s:%lld", uuid, tag ? ":" : "", tag ? tag : "",
             (long long)ev->u.gtid.gno);
    ev->u.gtid.text = ferry_arena_strdup(c->arena, text);
    ev->kind = FERRY_BINLOG_EV_GTID;
    return ev->u.gtid.text ? 0 : nomem(c);
}

/* PREVIOUS_GTIDS: sids with intervals [start, end); MySQL 8.3+ may add tags. */
static int decode_previous_gtids(bl_ctx_t *c, const uint8_t *body, size_t len,
                                 ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    const uint8_t *head = bl_bytes(&r, 8);
    if (!head)
        return truncated(c);
    bool tagged = head[0] == 1 && head[7] == 1;
    uint64_t n_sids = 0;
    for (int i = tagged ? 6 : 7; i >= (tagged ? 1 : 0); i--)
        n_sids = (n_sids << 8) | head[i];
    if (n_sids > len / 24)
        return truncated(c);
    ferry_strbuf_t sb = FERRY_STRBUF_INIT;
    for (uint64_t s = 0; s < n_sids; s++) {
        const uint8_t *sid = bl_bytes(&r, 16);
        const uint8_t *tag = NULL;
        uint64_t tag_len = 0;
        if (tagged) {
            tag_len = bl_varlen(&r);
            tag = bl_bytes(&r, tag_len);
        }
        uint64_t n_iv = bl_uint(&r, 8);
        if (r.bad || n_iv > bl_left(&r) / 16)
            goto bad;
        char uuid[37];
        format_uuid(sid, uuid);
        ferry_strbuf_printf(&sb, "%s%s", s ? "," : "", uuid);
        if (tag_len)
            ferry_strbuf_printf(&sb, ":%.*s", (int)tag_len, (const char *)tag);
        for (uint64_t i = 0; i < n_iv; i++) {
            int64_t start = (int64_t)bl_uint(&r, 8), end = (int64_t)bl_uint(&r, 8) - 1;
            if (end > start)
                ferry_strbuf_printf(&sb, ":%lld-%lld", (long long)start, (long long)end);
            else
                ferry_strbuf_printf(&sb, ":%lld", (long long)start);
        }
    }
    if (r.bad)
        goto bad;
    if (sb.oom) {
        ferry_strbuf_free(&sb);
        return nomem(c);
    }
    ev->u.previous_gtids.text = arena_text(c, (const uint8_t *)sb.buf, sb.len);
    ferry_strbuf_free(&sb);
    ev->kind = FERRY_BINLOG_EV_PREVIOUS_GTIDS;
    return ev->u.previous_gtids.text ? 0 : nomem(c);
bad:
    ferry_strbuf_free(&sb);
    return truncated(c);
}

static int decode_maria_gtid(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    ev->u.maria_gtid.gtid.seq = bl_uint(&r, 8);
    ev->u.maria_gtid.gtid.domain = (uint32_t)bl_uint(&r, 4);
    ev->u.maria_gtid.flags = bl_u8(&r);
    if (ev->u.maria_gtid.flags & FERRY_BINLOG_MARIA_FL_GROUP_COMMIT)
        ev->u.maria_gtid.commit_id = bl_uint(&r, 8);
    if (r.bad)
        return truncated(c);
    ev->u.maria_gtid.gtid.server = ev->server_id;
    char text[64];
    snprintf(text, sizeof(text), "%u-%u-%llu", ev->u.maria_gtid.gtid.domain, ev->server_id,
             (unsigned long long)ev->u.maria_gtid.gtid.seq);
    ev->u.maria_gtid.text = ferry_arena_strdup(c->arena, text);
    ev->kind = FERRY_BINLOG_EV_MARIA_GTID;
    return ev->u.maria_gtid.text ? 0 : nomem(c);
}

static int decode_gtid_list(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    uint32_t n = (uint32_t)bl_uint(&r, 4) & 0x0fffffffu; /* top 4 bits: flags */
    if (r.bad || n > bl_left(&r) / 16)
        return truncated(c);
    ferry_binlog_maria_gtid_t *g = ferry_arena_calloc(c->arena, n ? n : 1, sizeof(*g));
    char *text = ferry_arena_alloc(c->arena, (size_t)n * 48 + 1);
    if (!g || !text)
        return nomem(c);
    size_t off = 0;
    text[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        g[i].domain = (uint32_t)bl_uint(&r, 4);
        g[i].server = (uint32_t)bl_uint(&r, 4);
        g[i].seq = bl_uint(&r, 8);
        off += (size_t)snprintf(text + off, 48, "%s%u-%u-%llu", i ? "," : "", g[i].domain,
                                g[i].server, (unsigned long long)g[i].seq);
    }
    ev->u.gtid_list.n = n;
    ev->u.gtid_list.gtids = g;
    ev->u.gtid_list.text = text;
    ev->kind = FERRY_BINLOG_EV_MARIA_GTID_LIST;
    return 0;
}

/* ---- TRANSACTION_PAYLOAD ------------------------------------------------------- */

static int decode_payload(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    bl_reader_t r = bl_reader(body, len);
    uint64_t size = UINT64_MAX, usize = UINT64_MAX, ctype = 0;
    for (;;) {
        uint64_t field = bl_packed(&r, NULL);
        if (r.bad)
            return truncated(c);
        if (field == 0)
            break;
        uint64_t flen = bl_packed(&r, NULL);
        const uint8_t *fv = bl_bytes(&r, flen);
        if (!fv)
            return truncated(c);
        bl_reader_t fr = bl_reader(fv, flen);
        uint64_t v = bl_packed(&fr, NULL);
        if (field == 1)
            size = v;
        else if (field == 2)
            ctype = v;
        else if (field == 3)
            usize = v;
    }
    size_t avail = bl_left(&r);
    if (size != UINT64_MAX && size < avail)
        avail = (size_t)size;
    ev->kind = FERRY_BINLOG_EV_TRANSACTION_PAYLOAD;
    ev->u.payload.compression = (uint8_t)ctype;
    if (ctype == 255) {
        ev->u.payload.data = r.p;
        ev->u.payload.len = avail;
        return 0;
    }
    if (ctype != 0)
        return ferry_binlog__fail(c, FERRY_ERR_UNSUPPORTED, "unknown compression type %llu",
                                  (unsigned long long)ctype);
    unsigned long long fs = ZSTD_getFrameContentSize(r.p, avail);
    if (fs == ZSTD_CONTENTSIZE_ERROR)
        return ferry_binlog__fail(c, FERRY_ERR_INVALID, "payload is not a zstd frame");
    if (usize == UINT64_MAX && fs == ZSTD_CONTENTSIZE_UNKNOWN)
        return ferry_binlog__fail(c, FERRY_ERR_INVALID, "payload size unknown");
    if (fs != ZSTD_CONTENTSIZE_UNKNOWN) {
        if (usize != UINT64_MAX && usize != fs)
            return ferry_binlog__fail(c, FERRY_ERR_INVALID,
                                      "payload size %llu but the zstd frame holds %llu",
                                      (unsigned long long)usize, fs);
        usize = fs;
    }
    if (usize > BL_MAX_UNCOMPRESSED)
        return ferry_binlog__fail(c, FERRY_ERR_UNSUPPORTED, "payload of %llu bytes is too large",
                                  (unsigned long long)usize);
    uint8_t *out = ferry_arena_alloc(c->arena, usize ? usize : 1);
    if (!out)
        return nomem(c);
    size_t got = ZSTD_decompress(out, usize, r.p, avail);
    if (ZSTD_isError(got) || got != usize)
        return ferry_binlog__fail(c, FERRY_ERR_INVALID, "could not decompress payload: %s",
                                  ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output");
    ev->u.payload.data = out;
    ev->u.payload.len = got;
    return 0;
}

/* ---- rows (MariaDB compressed) ---------------------------------------------------- */

static bool is_rows_type(unsigned t)
{
    return (t >= FERRY_BINLOG_WRITE_ROWS_V1 && t <= FERRY_BINLOG_DELETE_ROWS_V1) ||
           (t >= FERRY_BINLOG_WRITE_ROWS_V2 && t <= FERRY_BINLOG_DELETE_ROWS_V2) ||
           (t >= FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1 &&
            t <= FERRY_BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V2);
}

/*
 * A compressed rows event keeps its post-header (and v2 extra data), the
 * column count and the column bitmaps as they are and deflates only the
 * row images after them; rebuild the plain body in the arena.
 */
static int decode_rows_event(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    if (ev->type < FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1)
        return ferry_binlog__rows(c, body, len, ev);
    bool v2 = ev->type >= FERRY_BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V2;
    unsigned plain = v2 ? FERRY_BINLOG_WRITE_ROWS_V2 : FERRY_BINLOG_WRITE_ROWS_V1;
    size_t keep =
        c->d->post_header[ev->type] ? c->d->post_header[ev->type] : c->d->post_header[plain];
    if (keep < 6 || keep > len)
        return truncated(c);
    if (v2) {
        bl_reader_t r = bl_reader(body + keep - 2, 2);
        size_t extra = (size_t)bl_uint(&r, 2);
        if (extra < 2 || keep + extra - 2 > len)
            return truncated(c);
        keep += extra - 2;
    }
    bl_reader_t r = bl_reader(body + keep, len - keep);
    uint64_t ncols = bl_packed(&r, NULL);
    bool update = ev->type == FERRY_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1 ||
                  ev->type == FERRY_BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V2;
    bl_bytes(&r, (size_t)((ncols + 7) / 8) * (update ? 2 : 1));
    if (r.bad)
        return truncated(c);
    keep = (size_t)(r.p - body);
    uint8_t *rest;
    size_t rest_len;
    int rc = maria_uncompress(c, body + keep, len - keep, &rest, &rest_len);
    if (rc)
        return rc;
    uint8_t *plain_body = ferry_arena_alloc(c->arena, keep + rest_len + 1);
    if (!plain_body)
        return nomem(c);
    memcpy(plain_body, body, keep);
    memcpy(plain_body + keep, rest, rest_len);
    return ferry_binlog__rows(c, plain_body, keep + rest_len, ev);
}

/* ---- dispatch ---------------------------------------------------------------- */

static bool needs_fde(unsigned t)
{
    return t == FERRY_BINLOG_TABLE_MAP || is_rows_type(t) || t == FERRY_BINLOG_QUERY ||
           t == FERRY_BINLOG_MARIA_QUERY_COMPRESSED || t == FERRY_BINLOG_TRANSACTION_PAYLOAD;
}

static int decode_body(bl_ctx_t *c, const uint8_t *body, size_t len, ferry_binlog_event_t *ev)
{
    switch (ev->type) {
    case FERRY_BINLOG_QUERY:
    case FERRY_BINLOG_MARIA_QUERY_COMPRESSED:
        return decode_query(c, body, len, ev);
    case FERRY_BINLOG_ROTATE:
        return decode_rotate(c, body, len, ev);
    case FERRY_BINLOG_STOP:
        ev->kind = FERRY_BINLOG_EV_STOP;
        return 0;
    case FERRY_BINLOG_XID:
        return decode_xid(c, body, len, ev);
    case FERRY_BINLOG_TABLE_MAP:
        return ferry_binlog__table_map(c, body, len, ev);
    case FERRY_BINLOG_HEARTBEAT:
        return decode_heartbeat(c, body, len, ev);
    case FERRY_BINLOG_ROWS_QUERY:
    case FERRY_BINLOG_MARIA_ANNOTATE_ROWS:
        return decode_rows_query(c, body, len, ev);
    case FERRY_BINLOG_GTID:
    case FERRY_BINLOG_ANONYMOUS_GTID:
        return decode_mysql_gtid(c, body, len, ev);
    case FERRY_BINLOG_GTID_TAGGED:
        return decode_tagged_gtid(c, body, len, ev);
    case FERRY_BINLOG_PREVIOUS_GTIDS:
        return decode_previous_gtids(c, body, len, ev);
    case FERRY_BINLOG_TRANSACTION_PAYLOAD:
        return decode_payload(c, body, len, ev);
    case FERRY_BINLOG_MARIA_GTID:
        return decode_maria_gtid(c, body, len, ev);
    case FERRY_BINLOG_MARIA_GTID_LIST:
        return decode_gtid_list(c, body, len, ev);
    default:
        if (is_rows_type(ev->type))
            return decode_rows_event(c, body, len, ev);
        ev->kind = FERRY_BINLOG_EV_OTHER;
        return 0;
    }
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Strips and checks the CRC32 trailer as crc_mode and the decoder say. */
static int check_crc(bl_ctx_t *c, const uint8_t *buf, size_t *len, int crc_mode)
{
    if (crc_mode == BL_CRC_NONE || c->ev->type == FERRY_BINLOG_FORMAT_DESCRIPTION)
        return 0;
    int mode = c->d->checksum;
    if (*len < FERRY_BINLOG_HEADER_LEN + 4)
        return mode == BL_CRC32 ? truncated(c) : 0;
    uint32_t stored = le32(buf + *len - 4);
    uint32_t computed = (uint32_t)crc32(0L, buf, (uInt)(*len - 4));
    if (mode == BL_CRC_AUTO) {
        if (stored == computed)
            *len -= 4;
        return 0;
    }
    if (mode == BL_CRC_NONE)
        return 0;
    if (stored != computed)
        return ferry_binlog__fail(c, FERRY_ERR_INVALID,
                                  "bad checksum: stored 0x%08x, computed 0x%08x", stored, computed);
    *len -= 4;
    return 0;
}

static int decode_event(ferry_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                        ferry_arena_t *arena, ferry_binlog_event_t *ev, int crc_mode, char *errstr,
                        size_t errstr_size)
{
    memset(ev, 0, sizeof(*ev));
    bl_ctx_t c = {d, arena, ev, 0, errstr, errstr_size};
    if (len < FERRY_BINLOG_HEADER_LEN)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_TRUNCATED,
                             "could not decode event: %zu bytes are not a whole header", len);
    bl_reader_t r = bl_reader(buf, len);
    ev->timestamp = (uint32_t)bl_uint(&r, 4);
    ev->type = bl_u8(&r);
    ev->server_id = (uint32_t)bl_uint(&r, 4);
    ev->event_size = (uint32_t)bl_uint(&r, 4);
    ev->log_pos = (uint32_t)bl_uint(&r, 4);
    ev->flags = (uint16_t)bl_uint(&r, 2);
    c.start_pos = ev->log_pos >= ev->event_size ? ev->log_pos - ev->event_size : 0;
    if (ev->event_size != len)
        return ferry_binlog__fail(&c, FERRY_ERR_INVALID,
                                  "event size %u in the header but %zu bytes given", ev->event_size,
                                  len);
    if (!d->have_fde && needs_fde(ev->type) && ev->type != FERRY_BINLOG_FORMAT_DESCRIPTION)
        return ferry_binlog__fail(&c, FERRY_ERR_INVALID,
                                  "no FORMAT_DESCRIPTION event came before it");
    int rc = check_crc(&c, buf, &len, crc_mode);
    if (rc)
        return rc;
    const uint8_t *body = buf + FERRY_BINLOG_HEADER_LEN;
    size_t body_len = len - FERRY_BINLOG_HEADER_LEN;
    if (ev->type == FERRY_BINLOG_FORMAT_DESCRIPTION)
        return decode_fde(&c, body, body_len, ev);
    return decode_body(&c, body, body_len, ev);
}

int ferry_binlog_decode(ferry_binlog_decoder_t *d, const uint8_t *buf, size_t len,
                        ferry_arena_t *arena, ferry_binlog_event_t *ev, char *errstr,
                        size_t errstr_size)
{
    return decode_event(d, buf, len, arena, ev, BL_CRC_AUTO, errstr, errstr_size);
}

int ferry_binlog_payload_next(ferry_binlog_decoder_t *d, const ferry_binlog_event_t *ev,
                              size_t *offset, ferry_arena_t *arena, ferry_binlog_event_t *inner,
                              char *errstr, size_t errstr_size)
{
    if (ev->kind != FERRY_BINLOG_EV_TRANSACTION_PAYLOAD)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not iterate payload: event is not a TRANSACTION_PAYLOAD");
    size_t off = *offset, len = ev->u.payload.len;
    if (off >= len)
        return 0;
    const uint8_t *p = ev->u.payload.data + off;
    if (len - off < FERRY_BINLOG_HEADER_LEN)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_TRUNCATED,
                             "could not decode TRANSACTION_PAYLOAD event ending at position %u: "
                             "inner event at offset %zu is truncated",
                             ev->log_pos, off);
    uint32_t size = le32(p + 9);
    if (size < FERRY_BINLOG_HEADER_LEN || size > len - off)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_TRUNCATED,
                             "could not decode TRANSACTION_PAYLOAD event ending at position %u: "
                             "inner event at offset %zu has bad size %u",
                             ev->log_pos, off, size);
    int rc = decode_event(d, p, size, arena, inner, BL_CRC_NONE, errstr, errstr_size);
    if (rc)
        return rc;
    *offset = off + size;
    return 1;
}
