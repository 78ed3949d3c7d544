/*
 * verify_wire.c - a text-protocol result set read straight from the socket.
 *
 * The stream checksum reads every row of a chunk from both servers and
 * only hashes its cells. Through libmariadb each row costs a packet read
 * into the library's buffer, a row array and a lengths array; here both
 * sockets are read with large recv calls into one buffer per side, and
 * the cells are cut out of the row packets where they lie (see
 * mysql_rows.h for why each type's text is exact). Only what the stream
 * needs is handled; ferry_verify_wire_usable says when that is all the
 * connection can send, and the stream falls back to libmariadb otherwise.
 *
 * The result of one COM_QUERY (MySQL client/server protocol, without
 * CLIENT_DEPRECATE_EOF) is:
 *   packet    = 3-byte little-endian length, 1-byte sequence number, payload;
 *               a payload of 0xFFFFFF bytes continues in the next packet
 *   ERR       = 0xFF, 2-byte code, '#' and 5-byte SQL state, message
 *   header    = the column count (length-encoded integer)
 *   columns   = one definition packet per column (skipped), then EOF
 *   rows      = per column 0xFB (NULL) or a length-encoded length and bytes
 *   end       = EOF (0xFE, shorter than 9 bytes) or ERR
 * libmariadb's mysql_send_query sends the query and leaves reading to the
 * caller; once the end packet is read the connection is ready for the next
 * statement, as after mysql_free_result.
 */
#include "verify_int.h"

#include "err.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define WIRE_BUF                  (256 * 1024)
#define WIRE_MAX_PIECE            0xFFFFFFu
#define WIRE_CLIENT_COMPRESS      (1UL << 5)
#define WIRE_CLIENT_DEPRECATE_EOF (1UL << 24)
#define WIRE_TIMEOUT_MS           (600 * 1000) /* as net_read_timeout in mysql_rows_session */

bool ferry_verify_wire_usable(MYSQL *my)
{
    unsigned long caps = 0;
    if (getenv("FERRY_VERIFY_NO_WIRE")) /* tests: the libmariadb path */
        return false;
    if (mariadb_get_infov(my, MARIADB_CONNECTION_CLIENT_CAPABILITIES, &caps) != 0)
        return false;
    if (caps & (WIRE_CLIENT_COMPRESS | WIRE_CLIENT_DEPRECATE_EOF))
        return false;
    if (mysql_get_ssl_cipher(my) != NULL)
        return false;
    return mysql_get_socket(my) >= 0;
}

void ferry_verify_wire_init(vwire_t *w, int fd, size_t n_cols)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    w->n_cols = n_cols;
}

void ferry_verify_wire_free(vwire_t *w)
{
    free(w->buf);
    free(w->big);
    free(w->cells);
    free(w->lens);
    w->buf = w->big = NULL;
    w->cells = NULL;
    w->lens = NULL;
}

static int wire_fail(vwire_t *w, const char *fmt, const char *detail)
{
    snprintf(w->error, sizeof(w->error), fmt, detail);
    w->state = VWIRE_BROKEN;
    return -1;
}

/* Reads what the socket has (waiting up to the timeout for something). */
int ferry_verify_wire_fill(vwire_t *w)
{
    if (!w->buf) {
        if (!(w->buf = malloc(WIRE_BUF)))
            return wire_fail(w, "%s", "out of memory");
        w->cap = WIRE_BUF;
    }
    if (w->start > 0 && (w->end == w->cap || w->start > w->cap / 2)) {
        memmove(w->buf, w->buf + w->start, w->end - w->start);
        w->end -= w->start;
        w->start = 0;
    }
    if (w->end == w->cap) {
        size_t cap = w->cap * 2;
        unsigned char *b = realloc(w->buf, cap);
        if (!b)
            return wire_fail(w, "%s", "out of memory");
        w->buf = b;
        w->cap = cap;
    }
    for (;;) {
        ssize_t n = recv(w->fd, w->buf + w->end, w->cap - w->end, MSG_DONTWAIT);
        if (n > 0) {
            w->end += (size_t)n;
            return 0;
        }
        if (n == 0)
            return wire_fail(w, "%s", "the server closed the connection");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return wire_fail(w, "could not read from the server: %s", strerror(errno));
        struct pollfd p = {.fd = w->fd, .events = POLLIN};
        int r = poll(&p, 1, WIRE_TIMEOUT_MS);
        if (r == 0)
            return wire_fail(w, "%s", "timed out reading from the server");
        if (r < 0 && errno != EINTR)
            return wire_fail(w, "could not wait for the server: %s", strerror(errno));
    }
}

/*
 * Takes the next whole packet out of the buffer: 1 and its payload, or 0
 * when more bytes are needed (or -1 when broken). A payload split over
 * several packets is put together in w->big.
 */
static int next_packet(vwire_t *w, const unsigned char **payload, size_t *len)
{
    for (;;) {
        size_t have = w->end - w->start;
        if (have < 4)
            return 0;
        const unsigned char *h = w->buf + w->start;
        size_t n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16;
        if (have < 4 + n) {
            if (4 + n > w->cap) { /* make room for the whole packet */
                unsigned char *b = malloc(4 + n);
                if (!b)
                    return wire_fail(w, "%s", "out of memory");
                memcpy(b, h, have);
                free(w->buf);
                w->buf = b;
                w->cap = 4 + n;
                w->start = 0;
                w->end = have;
            }
            return 0;
        }
        w->start += 4 + n;
        if (n < WIRE_MAX_PIECE && !w->big_len) {
            *payload = h + 4;
            *len = n;
            return 1;
        }
        /* a piece of a long payload: gather it */
        if (w->big_len + n > w->big_cap) {
            size_t cap = (w->big_len + n) * 2;
            unsigned char *b = realloc(w->big, cap);
            if (!b)
                return wire_fail(w, "%s", "out of memory");
            w->big = b;
            w->big_cap = cap;
        }
        memcpy(w->big + w->big_len, h + 4, n);
        w->big_len += n;
        if (n < WIRE_MAX_PIECE) {
            *payload = w->big;
            *len = w->big_len;
            w->big_len = 0; /* valid until the next call */
            return 1;
        }
    }
}

/* Reads a length-encoded integer at *p (below end); false when it does not fit. */
static bool lenenc(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    if (*p >= end)
        return false;
    unsigned char c = *(*p)++;
    size_t k = c < 0xFB ? 0 : c == 0xFC ? 2 : c == 0xFD ? 3 : c == 0xFE ? 8 : 99;
    if (k == 99 || (size_t)(end - *p) < k)
        return false;
    uint64_t v = k ? 0 : c;
    for (size_t i = 0; i < k; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += k;
    *out = v;
    return true;
}

static int server_error(vwire_t *w, const unsigned char *p, size_t n)
{
    unsigned code = n >= 3 ? (unsigned)p[1] | (unsigned)p[2] << 8 : 0;
    size_t skip = n >= 9 && p[3] == '#' ? 9 : 3;
    int m = n > skip ? (int)(n - skip) : 0;
    snprintf(w->error, sizeof(w->error), "%.*s (%u)", m, (const char *)p + skip, code);
    w->state = VWIRE_DONE;
    w->server_error = true;
    return -1;
}

int ferry_verify_wire_row(vwire_t *w, const char ***cells, const unsigned long **lens)
{
    const unsigned char *p;
    size_t n;
    int r;
    /* a fill that broke leaves no packet: without this the reader asked for bytes for ever */
    if (w->state == VWIRE_BROKEN || w->state == VWIRE_DONE)
        return -1;
    while ((r = next_packet(w, &p, &n)) == 1) {
        if (n > 0 && p[0] == 0xFF)
            return server_error(w, p, n);
        switch (w->state) {
        case VWIRE_HEADER: {
            const unsigned char *q = p;
            uint64_t cols;
            if (n > 0 && p[0] == 0x00)
                return wire_fail(w, "%s", "the query returned no rows");
            if (!lenenc(&q, p + n, &cols) || cols != w->n_cols)
                return wire_fail(w, "%s", "unexpected column count in the result");
            w->state = VWIRE_COLUMNS;
            w->seen = 0;
            break;
        }
        case VWIRE_COLUMNS:
            if (w->seen++ < w->n_cols)
                break;
            if (n == 0 || p[0] != 0xFE || n >= 9)
                return wire_fail(w, "%s", "no end-of-columns packet");
            w->state = VWIRE_ROWS;
            if (!w->cells) {
                w->cells = malloc((w->n_cols ? w->n_cols : 1) * sizeof(*w->cells));
                w->lens = malloc((w->n_cols ? w->n_cols : 1) * sizeof(*w->lens));
                if (!w->cells || !w->lens)
                    return wire_fail(w, "%s", "out of memory");
            }
            break;
        case VWIRE_ROWS: {
            if (n > 0 && p[0] == 0xFE && n < 9) {
                w->state = VWIRE_DONE;
                return -1;
            }
            const unsigned char *q = p, *end = p + n;
            for (size_t c = 0; c < w->n_cols; c++) {
                if (q < end && *q == 0xFB) {
                    q++;
                    w->cells[c] = NULL;
                    w->lens[c] = 0;
                    continue;
                }
                uint64_t l;
                if (!lenenc(&q, end, &l) || l > (uint64_t)(end - q))
                    return wire_fail(w, "%s", "a malformed row");
                w->cells[c] = (const char *)q;
                w->lens[c] = (unsigned long)l;
                q += l;
            }
            if (q != end)
                return wire_fail(w, "%s", "a malformed row");
            *cells = w->cells;
            *lens = w->lens;
            return 1;
        }
        default:
            return -1;
        }
    }
    return r; /* 0: more bytes needed; -1: broken */
}
