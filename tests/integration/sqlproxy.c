/*
 * sqlproxy.c - a MySQL-protocol TCP relay that can lose a COMMIT's answer,
 * for the tests.
 *
 * Every connection made to it is relayed byte for byte to the target
 * server. It follows the packets the client sends; once armed, the next
 * command (a COM_QUERY) whose text matches the armed pattern (a POSIX
 * extended regular expression) and ends with COMMIT is passed on, the
 * server's answers to it are read to the last one (an OK or error packet
 * without "more results"), so the server has run the COMMIT, and then both
 * sides of that connection are closed without the client seeing any of
 * it: what a network failure at the worst moment does to a client. Armed
 * with "drop:PATTERN", it instead closes the connection of the next
 * command (any COM_QUERY) matching PATTERN before passing it on: a session
 * lost between two statements.
 *
 * Usage: sqlproxy --target-port PORT --port-file FILE --arm-file FILE
 *
 * Listens on 127.0.0.1 on a free port and writes it to --port-file
 * (through a rename). Each SIGUSR1 arms one cut with the pattern read from
 * --arm-file at that moment (its first line); SIGUSR2 takes every armed
 * cut back. Logs one line per cut on
 * stderr: "sqlproxy: cut connection N after the answer to a COMMIT
 * matching PATTERN" (or "before a command matching PATTERN"). Runs until
 * SIGTERM or SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS   64
#define CAPTURE_MAX (1u << 20) /* command packets longer than this are never matched */
#define CUT_WAIT_S  20         /* cut anyway when the server has not answered by then */

/* One direction's packet framing: 4-byte header, then the payload. */
typedef struct {
    unsigned char hdr[4];
    size_t hdr_have;
    size_t remain; /* payload bytes still to come */
    uint8_t seq;
    char *cap; /* the payload so far, while it may still matter */
    size_t cap_len;
    bool capturing;
} framer_t;

typedef struct {
    int cfd, sfd; /* -1 when the slot is free */
    unsigned long id;
    framer_t up;     /* client to server */
    framer_t down;   /* server to client, only while cutting */
    bool matched;    /* a matching command was passed on: cut after its answer */
    bool cutting;    /* reading the answer to the matched command */
    time_t cut_from; /* when cutting began */
} conn_t;

static volatile sig_atomic_t armed_signals, disarm_signals, stop;
static unsigned disarm_seen;
static unsigned armed_seen;
static char armed_pattern[512];
static regex_t armed_re; /* armed_pattern compiled, while armed_ok */
static bool armed_ok;
static bool armed_drop; /* "drop:": cut before the command, whatever it is */
static int armed;       /* cuts still to make */
static const char *arm_file;
static conn_t conns[MAX_CONNS];
static unsigned long next_id = 1;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        armed_signals++;
    else if (sig == SIGUSR2)
        disarm_signals++;
    else
        stop = 1;
}

static void read_arm_file(void)
{
    FILE *f = fopen(arm_file, "r");
    if (!f || !fgets(armed_pattern, sizeof(armed_pattern), f)) {
        fprintf(stderr, "sqlproxy: could not read the pattern from %s\n", arm_file);
        if (f)
            fclose(f);
        return;
    }
    fclose(f);
    armed_pattern[strcspn(armed_pattern, "\r\n")] = '\0';
    armed_drop = !strncmp(armed_pattern, "drop:", 5);
    if (armed_drop)
        memmove(armed_pattern, armed_pattern + 5, strlen(armed_pattern + 5) + 1);
    if (armed_ok)
        regfree(&armed_re);
    armed_ok = regcomp(&armed_re, armed_pattern, REG_EXTENDED | REG_NOSUB) == 0;
    if (!armed_ok) {
        fprintf(stderr, "sqlproxy: not a regular expression: %s\n", armed_pattern);
        return;
    }
    armed++;
    fprintf(stderr, "sqlproxy: armed to cut %s matching %s\n",
            armed_drop ? "before a command" : "after a COMMIT", armed_pattern);
}

static void framer_reset(framer_t *f)
{
    free(f->cap);
    memset(f, 0, sizeof(*f));
}

static void conn_close(conn_t *c)
{
    if (c->cfd >= 0)
        close(c->cfd);
    if (c->sfd >= 0)
        close(c->sfd);
    framer_reset(&c->up);
    framer_reset(&c->down);
    memset(c, 0, sizeof(*c));
    c->cfd = c->sfd = -1;
}

static bool send_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Whether text (not NUL-terminated; its buffer has room for one more byte) matches. */
static bool holds(const char *text, size_t len)
{
    char *t = (char *)text;
    char saved = t[len];
    t[len] = '\0';
    bool hit = armed_ok && regexec(&armed_re, t, 0, NULL, 0) == 0;
    t[len] = saved;
    return hit;
}

/* A COM_QUERY whose text holds the armed pattern (and ends with COMMIT, unless "drop:"). */
static bool matches(const char *p, size_t len)
{
    if (len < 2 || p[0] != 0x03)
        return false;
    if (armed_drop)
        return holds(p + 1, len - 1);
    size_t end = len;
    while (end > 1 && (p[end - 1] == ';' || p[end - 1] == ' ' || p[end - 1] == '\n'))
        end--;
    if (end < 7 || strncasecmp(p + end - 6, "COMMIT", 6) != 0)
        return false;
    return holds(p + 1, end - 1);
}

/*
 * Feeds len bytes to f; calls done(c, payload, len) for each complete
 * packet whose payload was kept (keep: whether to keep this packet's).
 */
static void frame(conn_t *c, framer_t *f, const char *buf, size_t len,
                  bool (*keep)(const framer_t *f), void (*done)(conn_t *, const char *, size_t))
{
    size_t i = 0;
    while (i < len) {
        if (f->hdr_have < 4) {
            f->hdr[f->hdr_have++] = (unsigned char)buf[i++];
            if (f->hdr_have < 4)
                continue;
            f->remain = (size_t)f->hdr[0] | (size_t)f->hdr[1] << 8 | (size_t)f->hdr[2] << 16;
            f->seq = f->hdr[3];
            f->cap_len = 0;
            f->capturing = f->remain <= CAPTURE_MAX && keep(f);
            if (f->capturing && !(f->cap = realloc(f->cap, f->remain + 1)))
                f->capturing = false;
        } else {
            size_t take = len - i < f->remain ? len - i : f->remain;
            if (f->capturing)
                memcpy(f->cap + f->cap_len, buf + i, take);
            f->cap_len += take;
            f->remain -= take;
            i += take;
        }
        if (f->hdr_have == 4 && f->remain == 0) {
            if (f->capturing)
                done(c, f->cap, f->cap_len);
            f->hdr_have = 0;
        }
    }
}

/* Commands start with sequence number 0 (LOAD DATA's file packets do not). */
static bool keep_commands(const framer_t *f)
{
    return f->seq == 0;
}

static bool keep_all(const framer_t *f)
{
    (void)f;
    return true;
}

static void on_command(conn_t *c, const char *p, size_t len)
{
    if (armed > 0 && matches(p, len)) {
        armed--;
        c->matched = true;
    }
}

static void cut(conn_t *c, const char *how)
{
    fprintf(stderr, "sqlproxy: cut connection %lu after %s to a COMMIT matching %s\n", c->id, how,
            armed_pattern);
    conn_close(c);
}

/* Reads a length-encoded integer's size from p (what OK packets hold). */
static size_t lenenc_size(unsigned char b)
{
    return b < 0xfb ? 1 : b == 0xfc ? 3 : b == 0xfd ? 4 : 9;
}

/* A packet of the answer to the matched command: the last one ends it. */
static void on_answer(conn_t *c, const char *p, size_t len)
{
    const unsigned char *u = (const unsigned char *)p;
    bool last = false;
    if (len >= 1 && u[0] == 0xff) {
        last = true; /* an error ends a multi-statement answer */
    } else if (len >= 7 && u[0] == 0x00) {
        size_t at = 1;
        at += lenenc_size(u[at]); /* affected rows */
        if (at < len)
            at += lenenc_size(u[at]);                                 /* last insert id */
        last = at + 2 <= len && !((u[at] | u[at + 1] << 8) & 0x0008); /* no MORE_RESULTS */
    }
    if (last)
        c->cutting = false; /* tells relay() to cut */
}

/* Moves what one side sent to the other. false: the connection is over. */
static bool relay(conn_t *c, bool from_client)
{
    char buf[65536];
    ssize_t n = recv(from_client ? c->cfd : c->sfd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    if (from_client) {
        frame(c, &c->up, buf, (size_t)n, keep_commands, on_command);
        if (c->matched && armed_drop) {
            fprintf(stderr, "sqlproxy: cut connection %lu before a command matching %s\n", c->id,
                    armed_pattern);
            return false;
        }
        if (!send_all(c->sfd, buf, (size_t)n))
            return false;
        if (c->matched) {
            c->matched = false;
            c->cutting = true;
            c->cut_from = time(NULL);
            framer_reset(&c->down);
        }
        return true;
    }
    if (!c->cutting)
        return send_all(c->cfd, buf, (size_t)n);
    frame(c, &c->down, buf, (size_t)n, keep_all, on_answer);
    if (!c->cutting) {
        cut(c, "the answer");
        return true;
    }
    return true;
}

static int connect_target(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static int listen_any(const char *port_file)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        perror("sqlproxy: listen");
        return -1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", ntohs(a.sin_port)) < 0 || fclose(f) != 0 ||
        rename(tmp, port_file) != 0) {
        perror("sqlproxy: port file");
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    int target = 0;
    const char *port_file = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--target-port"))
            target = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--port-file"))
            port_file = argv[i + 1];
        else if (!strcmp(argv[i], "--arm-file"))
            arm_file = argv[i + 1];
    }
    if (target <= 0 || !port_file || !arm_file) {
        fprintf(stderr, "usage: sqlproxy --target-port PORT --port-file FILE --arm-file FILE\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (size_t i = 0; i < MAX_CONNS; i++)
        conns[i].cfd = conns[i].sfd = -1;
    int lfd = listen_any(port_file);
    if (lfd < 0)
        return 1;
    while (!stop) {
        while (armed_seen != (unsigned)armed_signals) {
            armed_seen++;
            read_arm_file();
        }
        if (disarm_seen != (unsigned)disarm_signals) {
            disarm_seen = (unsigned)disarm_signals;
            armed = 0;
            fprintf(stderr, "sqlproxy: disarmed\n");
        }
        struct pollfd pf[1 + 2 * MAX_CONNS];
        size_t np = 0;
        pf[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (size_t i = 0; i < MAX_CONNS; i++) {
            pf[np++] = (struct pollfd){.fd = conns[i].cfd, .events = POLLIN};
            pf[np++] = (struct pollfd){.fd = conns[i].sfd, .events = POLLIN};
        }
        if (poll(pf, np, 200) < 0 && errno != EINTR) {
            perror("sqlproxy: poll");
            return 1;
        }
        if (pf[0].revents & POLLIN) {
            int cfd = accept(lfd, NULL, NULL);
            size_t i = 0;
            while (i < MAX_CONNS && conns[i].cfd >= 0)
                i++;
            int sfd = cfd >= 0 && i < MAX_CONNS ? connect_target(target) : -1;
            if (sfd < 0) {
                if (cfd >= 0)
                    close(cfd);
            } else {
                conns[i].cfd = cfd;
                conns[i].sfd = sfd;
                conns[i].id = next_id++;
            }
        }
        for (size_t i = 0; i < MAX_CONNS; i++) {
            conn_t *c = &conns[i];
            for (int side = 0; side < 2 && c->cfd >= 0; side++) {
                short ev = pf[1 + 2 * i + (size_t)side].revents;
                if ((ev & (POLLIN | POLLHUP | POLLERR)) && !relay(c, side == 0))
                    conn_close(c);
            }
            if (c->cfd >= 0 && c->cutting && time(NULL) - c->cut_from > CUT_WAIT_S)
                cut(c, "no answer");
        }
    }
    for (size_t i = 0; i < MAX_CONNS; i++)
        if (conns[i].cfd >= 0)
            conn_close(&conns[i]);
    close(lfd);
    return 0;
}
