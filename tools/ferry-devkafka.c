/*
 * ferry-devkafka - an in-memory Kafka for trying ferry and for its tests.
 *
 * The brokers are librdkafka's mock cluster: real Kafka protocol, nothing
 * persisted. Two things the mock (librdkafka 2.0.2) cannot do by itself are
 * added by a small protocol proxy in front of each mock broker:
 *
 *  - topics that clients auto-create get --partitions partitions: the mock
 *    hard-codes 4, so the proxy reads the topic names of each Metadata
 *    request and creates missing topics with the configured count before
 *    the mock sees the request (the mock only speaks Metadata v0-v2, where
 *    every named topic is auto-created anyway);
 *  - CreateTopics (the admin API) works: the mock has no handler for it, so
 *    the proxy answers it itself and advertises it in ApiVersions.
 *
 * Because clients must stay on the proxy, the broker addresses in Metadata
 * and FindCoordinator responses are rewritten to the proxy's ports. Every
 * other request and response is passed through untouched, in order.
 *
 * Faults are injected from other processes through a small HTTP control
 * endpoint on 127.0.0.1 (see usage()).
 *
 * Threads: the main thread runs the proxy loop; libmicrohttpd runs the
 * control endpoint on its own thread; librdkafka runs the mock brokers. The
 * mock's API is thread-safe (it queues operations to the mock's thread and
 * waits for them), but the proxy thread never calls it: a creator thread
 * makes the topics the proxy needs (see creator_main() for why).
 */
#include "err.h"
#include "log.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Kafka protocol ApiKeys the proxy looks into. */
enum {
    API_PRODUCE = 0,
    API_METADATA = 3,
    API_FIND_COORDINATOR = 10,
    API_API_VERSIONS = 18,
    API_CREATE_TOPICS = 19,
};

/* Kafka error codes the proxy returns itself. */
enum {
    KERR_INVALID_TOPIC = 17,
    KERR_TOPIC_ALREADY_EXISTS = 36,
    KERR_INVALID_PARTITIONS = 37,
    KERR_INVALID_REPLICATION_FACTOR = 38,
    KERR_INVALID_REQUEST = 42,
};

#define MAX_FRAME   (256u * 1024 * 1024)
#define MAX_BROKERS 32

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---- byte buffers and protocol fields -------------------------------- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const void *p, size_t n)
{
    if (!n)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            ferry_log_error("out of memory", NULL);
            abort();
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void buf_drop(buf_t *b, size_t n)
{
    if (!n)
        return;
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static void put16(buf_t *b, int16_t v)
{
    uint16_t n = htons((uint16_t)v);
    buf_put(b, &n, 2);
}

static void put32(buf_t *b, int32_t v)
{
    uint32_t n = htonl((uint32_t)v);
    buf_put(b, &n, 4);
}

/* A Kafka STRING (int16 length; -1 with s NULL for a null string). */
static void putstr(buf_t *b, const char *s, int len)
{
    put16(b, (int16_t)(s ? len : -1));
    if (s)
        buf_put(b, s, (size_t)len);
}

/* A bounds-checked reader over one frame; ok drops to 0 on any overrun. */
typedef struct {
    const uint8_t *p;
    size_t len, off;
    int ok;
} rd_t;

static const uint8_t *take(rd_t *r, size_t n)
{
    if (!r->ok || r->len - r->off < n) {
        r->ok = 0;
        return NULL;
    }
    const uint8_t *at = r->p + r->off;
    r->off += n;
    return at;
}

static int16_t get16(rd_t *r)
{
    const uint8_t *q = take(r, 2);
    return q ? (int16_t)((q[0] << 8) | q[1]) : 0;
}

static int32_t get32(rd_t *r)
{
    const uint8_t *q = take(r, 4);
    return q ? (int32_t)(((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) |
                         q[3])
             : 0;
}

/* Reads a STRING; *len is -1 for null. Returns a pointer into the frame. */
static const char *getstr(rd_t *r, int *len)
{
    *len = get16(r);
    if (*len < 0)
        return NULL;
    return (const char *)take(r, (size_t)*len);
}

/* ---- state ------------------------------------------------------------ */

/* A request waiting for its response, so that responses keep request order. */
typedef struct pending {
    int32_t corr_id;
    int16_t api_key, api_version;
    int ready;    /* resp holds the complete response frame */
    int answered; /* answered by the proxy itself, not by the mock */
    buf_t resp;
    struct pending *next;
} pending_t;

typedef struct conn {
    uint64_t id;  /* finds the connection again when its job is done */
    int cfd, ufd; /* client side, mock side */
    buf_t cin, uin, cout, uout;
    pending_t *head, *tail;
    int dead;
    int connecting; /* the mock side's connect has not completed yet */
    /*
     * Parked: a request waits for the creator thread (a job_t), and the
     * requests after it stay unread in cin so that the mock sees them in order.
     */
    int parked;
    buf_t held;         /* the parked Metadata request, passed on once its topics exist */
    pending_t *held_pd; /* the parked CreateTopics request's response */
    struct conn *next;
} conn_t;

/* A topic a job asks the creator thread for, or checked by the proxy itself. */
typedef struct {
    char name[256];
    int partitions, replicas;
    int create;      /* the creator asks the mock for it; err is then the mock's answer */
    int err;         /* Kafka error code */
    const char *msg; /* CreateTopics v1+ error message (a literal), or NULL */
} job_topic_t;

/*
 * The topics one parked request needs. The proxy thread makes it, the
 * creator thread fills in the errors, the proxy thread finishes and frees it.
 */
typedef struct job {
    uint64_t conn_id; /* the parked connection; it may be gone when the job is done */
    int16_t api_key;  /* API_METADATA or API_CREATE_TOPICS */
    job_topic_t *topics;
    int topic_cnt, topic_cap;
    struct job *next;
} job_t;

typedef struct {
    job_t *head, *tail;
} jobq_t;

typedef struct {
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* guards todo, done and stop */
    pthread_cond_t cond;  /* signalled when todo gets a job or stop is set */
    jobq_t todo, done;
    int stop;
    int wake[2]; /* a pipe: a byte in it means done has jobs; the proxy polls wake[0] */
} creator_t;

/* A topic the mock is known to have (the mock never deletes one). */
typedef struct known {
    struct known *next;
    char name[];
} known_t;

#define KNOWN_BUCKETS 1024

typedef struct {
    int32_t id;
    int mock_port;
    int proxy_port;
    int listen_fd;
    int down;
    int rtt_ms;
} broker_t;

typedef struct {
    rd_kafka_t *rk;    /* owns the mock cluster */
    rd_kafka_t *probe; /* a client of the mock, for /status */
    rd_kafka_mock_cluster_t *mc;
    int partitions; /* for auto-created topics */
    int replicas;   /* for auto-created topics */
    broker_t brokers[MAX_BROKERS];
    int broker_cnt;
    conn_t *conns;
    uint64_t last_conn_id;
    char bootstrap[MAX_BROKERS * 24];
    pthread_mutex_t lock;          /* guards brokers[].down and .rtt_ms (control thread) */
    known_t *known[KNOWN_BUCKETS]; /* proxy thread only */
    creator_t creator;
} devkafka_t;

static broker_t *broker_by_id(devkafka_t *dk, int32_t id)
{
    for (int i = 0; i < dk->broker_cnt; i++)
        if (dk->brokers[i].id == id)
            return &dk->brokers[i];
    return NULL;
}

/* Kafka's rule for topic names: 1-249 of [a-zA-Z0-9._-]. */
static int topic_name_ok(const char *s, int len)
{
    if (len < 1 || len > 249)
        return 0;
    for (int i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* Creates a topic in the mock; returns the Kafka error code (0, 36 if it exists, ...). */
static int topic_create(devkafka_t *dk, const char *name, int partitions, int replicas,
                        const char *why)
{
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(dk->mc, name, partitions, replicas);
    if (!err) {
        char q[300];
        ferry_log_info("topic created", "topic=%s partitions=%d replicas=%d by=%s",
                       ferry_log_quote(name, q, sizeof(q)), partitions, replicas, why);
    }
    return (int)err;
}

/* Returns p, or stops the process when an allocation failed: it cannot go on without. */
static void *alloc_ok(void *p)
{
    if (!p) {
        ferry_log_error("out of memory", NULL);
        abort();
    }
    return p;
}

static size_t known_bucket(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % KNOWN_BUCKETS;
}

static int known_has(const devkafka_t *dk, const char *name)
{
    for (const known_t *k = dk->known[known_bucket(name)]; k; k = k->next)
        if (!strcmp(k->name, name))
            return 1;
    return 0;
}

static void known_add(devkafka_t *dk, const char *name)
{
    if (known_has(dk, name))
        return;
    size_t len = strlen(name);
    known_t *k = alloc_ok(malloc(sizeof(*k) + len + 1));
    memcpy(k->name, name, len + 1);
    size_t b = known_bucket(name);
    k->next = dk->known[b];
    dk->known[b] = k;
}

static void known_clear(devkafka_t *dk)
{
    for (size_t b = 0; b < KNOWN_BUCKETS; b++)
        while (dk->known[b]) {
            known_t *k = dk->known[b];
            dk->known[b] = k->next;
            free(k);
        }
}

static job_t *job_new(const conn_t *c, int16_t api_key)
{
    job_t *job = alloc_ok(calloc(1, sizeof(*job)));
    job->conn_id = c->id;
    job->api_key = api_key;
    return job;
}

/* Adds a zeroed topic to job and returns it. */
static job_topic_t *job_add(job_t *job)
{
    if (job->topic_cnt == job->topic_cap) {
        job->topic_cap = job->topic_cap ? 2 * job->topic_cap : 8;
        job->topics = alloc_ok(realloc(job->topics, (size_t)job->topic_cap * sizeof(*job->topics)));
    }
    job_topic_t *t = &job->topics[job->topic_cnt++];
    memset(t, 0, sizeof(*t));
    return t;
}

/* Whether the creator thread has anything to do for job. */
static int job_creates(const job_t *job)
{
    for (int i = 0; i < job->topic_cnt; i++)
        if (job->topics[i].create)
            return 1;
    return 0;
}

static void job_free(job_t *job)
{
    if (job) {
        free(job->topics);
        free(job);
    }
}

static void jobq_push(jobq_t *q, job_t *job)
{
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
}

static job_t *jobq_pop(jobq_t *q)
{
    job_t *job = q->head;
    if (job) {
        q->head = job->next;
        if (!q->head)
            q->tail = NULL;
    }
    return job;
}

/* ---- request and response rewriting ----------------------------------- */

/*
 * Metadata v0-v2 names topics, and the mock creates missing ones with its own
 * partition count. Returns a job that creates those not known to exist yet
 * with ours, or NULL when there are none.
 */
static job_t *metadata_job(devkafka_t *dk, const conn_t *c, rd_t *r)
{
    job_t *job = NULL;
    int32_t cnt = get32(r);
    for (int32_t i = 0; i < cnt && r->ok; i++) {
        int len;
        const char *name = getstr(r, &len);
        if (!name || !topic_name_ok(name, len))
            continue;
        char topic[256];
        memcpy(topic, name, (size_t)len);
        topic[len] = '\0';
        if (known_has(dk, topic))
            continue;
        if (!job)
            job = job_new(c, API_METADATA);
        job_topic_t *t = job_add(job);
        memcpy(t->name, topic, (size_t)len + 1);
        t->partitions = dk->partitions;
        t->replicas = dk->replicas;
        t->create = 1;
    }
    return job;
}

/* Copies one broker endpoint (node_id, host, port) from r to out, pointing it at our proxy. */
static void rewrite_endpoint(devkafka_t *dk, rd_t *r, buf_t *out)
{
    int32_t node = get32(r);
    int hlen;
    const char *host = getstr(r, &hlen);
    int32_t port = get32(r);
    broker_t *b = broker_by_id(dk, node);
    put32(out, node);
    if (b) {
        putstr(out, "127.0.0.1", 9);
        put32(out, b->proxy_port);
    } else {
        putstr(out, host, hlen);
        put32(out, port);
    }
}

static void rewrite_metadata(devkafka_t *dk, int16_t version, rd_t *r, buf_t *out)
{
    int32_t cnt = get32(r);
    put32(out, cnt);
    for (int32_t i = 0; i < cnt && r->ok; i++) {
        rewrite_endpoint(dk, r, out);
        if (version >= 1) {
            int len;
            const char *rack = getstr(r, &len);
            putstr(out, rack, len);
        }
    }
    if (version >= 2) {
        int len;
        const char *cluster_id = getstr(r, &len);
        putstr(out, cluster_id, len);
    }
    if (version >= 1) {
        /*
         * The mock names broker 0 as controller, which does not exist (ids
         * start at 1), so admin requests would wait for it forever.
         */
        int32_t controller = get32(r);
        put32(out, broker_by_id(dk, controller) ? controller : dk->brokers[0].id);
    }
}

static void rewrite_coordinator(devkafka_t *dk, int16_t version, rd_t *r, buf_t *out)
{
    if (version >= 1)
        put32(out, get32(r)); /* throttle_time_ms */
    put16(out, get16(r));     /* error_code */
    if (version >= 1) {
        int len;
        const char *msg = getstr(r, &len);
        putstr(out, msg, len);
    }
    rewrite_endpoint(dk, r, out);
}

/* Adds CreateTopics v0-v4 to the mock's list of supported requests. */
static void rewrite_api_versions(rd_t *r, buf_t *out)
{
    int16_t error = get16(r);
    int32_t cnt = get32(r);
    put16(out, error);
    put32(out, cnt + 1);
    for (int32_t i = 0; i < cnt && r->ok; i++) {
        const uint8_t *entry = take(r, 6);
        if (entry)
            buf_put(out, entry, 6);
    }
    put16(out, API_CREATE_TOPICS);
    put16(out, 0);
    put16(out, 4);
}

/*
 * Rewrites the body of a response (after the correlation id) if it is one we
 * change; returns 0 when the original must be kept.
 */
static int rewrite_response(devkafka_t *dk, const pending_t *pd, const uint8_t *body, size_t len,
                            buf_t *out)
{
    rd_t r = {body, len, 0, 1};
    if (pd->api_key == API_METADATA && pd->api_version <= 2)
        rewrite_metadata(dk, pd->api_version, &r, out);
    else if (pd->api_key == API_FIND_COORDINATOR && pd->api_version <= 2)
        rewrite_coordinator(dk, pd->api_version, &r, out);
    else if (pd->api_key == API_API_VERSIONS && pd->api_version <= 2 && len >= 2 && body[0] == 0 &&
             body[1] == 0)
        rewrite_api_versions(&r, out);
    else
        return 0;
    if (!r.ok)
        return 0;
    buf_put(out, body + r.off, len - r.off); /* everything after the rewritten part */
    return 1;
}

/* Reads one topic of a CreateTopics request into t, with the result of its checks in t->err. */
static void create_one(devkafka_t *dk, rd_t *r, job_topic_t *t)
{
    int len;
    const char *name = getstr(r, &len);
    int32_t partitions = get32(r);
    int16_t replicas = get16(r);
    int32_t assignments = get32(r);
    for (int32_t i = 0; i < assignments && r->ok; i++) {
        get32(r);
        int32_t n = get32(r);
        take(r, 4 * (size_t)(n > 0 ? n : 0));
    }
    int32_t configs = get32(r); /* accepted and ignored: the mock has no retention or compaction */
    for (int32_t i = 0; i < configs && r->ok; i++) {
        int l;
        getstr(r, &l);
        getstr(r, &l);
    }
    snprintf(t->name, sizeof(t->name), "%.*s", name && len > 0 ? (len > 249 ? 249 : len) : 0,
             name ? name : "");
    if (!r->ok) {
        t->err = KERR_INVALID_REQUEST;
        return;
    }
    if (partitions == -1)
        partitions = dk->partitions;
    if (replicas == -1)
        replicas = (int16_t)dk->replicas;
    t->partitions = partitions;
    t->replicas = replicas;
    if (!name || !topic_name_ok(name, len)) {
        t->msg = "invalid topic name";
        t->err = KERR_INVALID_TOPIC;
    } else if (assignments > 0) {
        t->msg = "replica assignments are not supported by ferry-devkafka";
        t->err = KERR_INVALID_REQUEST;
    } else if (partitions < 1) {
        t->msg = "partitions must be at least 1";
        t->err = KERR_INVALID_PARTITIONS;
    } else if (replicas < 1 || replicas > dk->broker_cnt) {
        t->msg = "replication factor must be between 1 and the broker count";
        t->err = KERR_INVALID_REPLICATION_FACTOR;
    }
}

/*
 * Reads a CreateTopics v0-v4 request body into a job: every topic with the
 * result of its checks, and create set on those only the mock can answer.
 */
static job_t *create_topics_job(devkafka_t *dk, const conn_t *c, int16_t version,
                                const uint8_t *body, size_t len)
{
    rd_t r = {body, len, 0, 1};
    int32_t cnt = get32(&r);
    if (cnt < 0 || (size_t)cnt > len / 16) /* a topic takes at least 16 bytes */
        cnt = 0;
    job_t *job = job_new(c, API_CREATE_TOPICS);
    for (int32_t i = 0; i < cnt; i++)
        create_one(dk, &r, job_add(job));
    get32(&r); /* timeout_ms */
    int validate_only = version >= 1 && r.ok && r.off < len && body[r.off] != 0;
    for (int i = 0; i < job->topic_cnt && !validate_only; i++) {
        job_topic_t *t = &job->topics[i];
        if (t->err)
            continue;
        if (known_has(dk, t->name))
            t->err = KERR_TOPIC_ALREADY_EXISTS;
        else
            t->create = 1;
    }
    return job;
}

/* Builds the whole CreateTopics v0-v4 response frame from its finished job. */
static void answer_create_topics(pending_t *pd, const job_t *job)
{
    buf_t *out = &pd->resp;
    put32(out, 0); /* frame size, set below */
    put32(out, pd->corr_id);
    if (pd->api_version >= 2)
        put32(out, 0); /* throttle_time_ms */
    put32(out, job->topic_cnt);
    for (int i = 0; i < job->topic_cnt; i++) {
        const job_topic_t *t = &job->topics[i];
        const char *msg = t->err == KERR_TOPIC_ALREADY_EXISTS ? "topic already exists" : t->msg;
        putstr(out, t->name, (int)strlen(t->name));
        put16(out, (int16_t)t->err);
        if (pd->api_version >= 1)
            putstr(out, msg, msg ? (int)strlen(msg) : 0);
    }
    uint32_t size = htonl((uint32_t)(out->len - 4));
    memcpy(out->data, &size, 4);
    pd->ready = 1;
}

/* ---- the proxy -------------------------------------------------------- */

static pending_t *pending_push(conn_t *c, int32_t corr_id, int16_t key, int16_t version)
{
    pending_t *pd = alloc_ok(calloc(1, sizeof(*pd)));
    pd->corr_id = corr_id;
    pd->api_key = key;
    pd->api_version = version;
    if (c->tail)
        c->tail->next = pd;
    else
        c->head = pd;
    c->tail = pd;
    return pd;
}

/* Moves the responses that are complete, in request order, to the client. */
static void pending_flush(conn_t *c)
{
    while (c->head && c->head->ready) {
        pending_t *pd = c->head;
        buf_put(&c->cout, pd->resp.data, pd->resp.len);
        c->head = pd->next;
        if (!c->head)
            c->tail = NULL;
        free(pd->resp.data);
        free(pd);
    }
}

/* Whether a Produce request expects a response (acks=0 gets none). */
static int produce_wants_response(int16_t version, rd_t *r)
{
    if (version >= 3) {
        int len;
        getstr(r, &len); /* transactional_id */
    }
    int16_t acks = get16(r);
    return !r->ok || acks != 0;
}

/* A request's header, as the proxy needs it. */
typedef struct {
    int16_t key, version;
    int32_t corr_id;
} req_header_t;

/* Reads a request frame's header into h and leaves r at its body; 0 when it is cut short. */
static int read_header(const uint8_t *frame, size_t len, req_header_t *h, rd_t *r)
{
    *r = (rd_t){frame + 4, len - 4, 0, 1};
    h->key = get16(r);
    h->version = get16(r);
    h->corr_id = get32(r);
    int idlen;
    getstr(r, &idlen); /* client_id */
    return r->ok;
}

/* Passes a request frame on to the mock; body is where read_header left it. */
static void forward(conn_t *c, const req_header_t *h, rd_t *body, const uint8_t *frame, size_t len)
{
    if (h->key != API_PRODUCE || produce_wants_response(h->version, body))
        pending_push(c, h->corr_id, h->key, h->version);
    buf_put(&c->uout, frame, len);
}

/* Parks c until the creator thread has done job; takes job. */
static void job_submit(devkafka_t *dk, conn_t *c, job_t *job)
{
    creator_t *cr = &dk->creator;
    c->parked = 1;
    pthread_mutex_lock(&cr->lock);
    jobq_push(&cr->todo, job);
    pthread_cond_signal(&cr->cond);
    pthread_mutex_unlock(&cr->lock);
}

/* One complete request frame from the client. */
static void on_request(devkafka_t *dk, conn_t *c, const uint8_t *frame, size_t len)
{
    req_header_t h;
    rd_t r;
    if (!read_header(frame, len, &h, &r)) {
        c->dead = 1;
        return;
    }
    if (h.key == API_CREATE_TOPICS && h.version <= 4) {
        pending_t *pd = pending_push(c, h.corr_id, h.key, h.version);
        pd->answered = 1;
        job_t *job = create_topics_job(dk, c, h.version, r.p + r.off, r.len - r.off);
        if (job_creates(job)) {
            c->held_pd = pd;
            job_submit(dk, c, job);
            return;
        }
        answer_create_topics(pd, job);
        job_free(job);
        pending_flush(c);
        return;
    }
    if (h.key == API_METADATA && h.version <= 2) {
        job_t *job = metadata_job(dk, c, &r);
        if (job) {
            buf_put(&c->held, frame, len);
            job_submit(dk, c, job);
            return;
        }
    }
    forward(c, &h, &r, frame, len);
}

/* One complete response frame from the mock. */
static void on_response(devkafka_t *dk, conn_t *c, const uint8_t *frame, size_t len)
{
    pending_t *pd = c->head;
    while (pd && (pd->ready || pd->answered))
        pd = pd->next;
    rd_t r = {frame + 4, len - 4, 0, 1};
    int32_t corr_id = get32(&r);
    if (!pd || !r.ok || pd->corr_id != corr_id) {
        ferry_log_warn("unexpected response from mock broker; closing the connection", "corr_id=%d",
                       (int)corr_id);
        c->dead = 1;
        return;
    }
    put32(&pd->resp, 0);
    put32(&pd->resp, corr_id);
    if (!rewrite_response(dk, pd, r.p + r.off, r.len - r.off, &pd->resp)) {
        pd->resp.len = 0;
        buf_put(&pd->resp, frame, len);
    }
    uint32_t size = htonl((uint32_t)(pd->resp.len - 4));
    memcpy(pd->resp.data, &size, 4);
    pd->ready = 1;
    pending_flush(c);
}

/* Splits buffered bytes into frames and hands each to fn. */
static void frames(devkafka_t *dk, conn_t *c, buf_t *in,
                   void (*fn)(devkafka_t *, conn_t *, const uint8_t *, size_t))
{
    size_t off = 0;
    /* a parked connection leaves its later requests (not the mock's responses) in cin */
    while (!c->dead && !(c->parked && in == &c->cin) && in->len - off >= 4) {
        uint32_t size;
        memcpy(&size, in->data + off, 4);
        size = ntohl(size);
        if (size > MAX_FRAME) {
            c->dead = 1;
            break;
        }
        if (in->len - off < 4 + (size_t)size)
            break;
        fn(dk, c, in->data + off, 4 + (size_t)size);
        off += 4 + (size_t)size;
    }
    buf_drop(in, off);
}

/* ---- topic creation off the proxy thread ------------------------------ */

/*
 * Why a thread of its own: rd_kafka_mock_topic_create() queues an operation
 * for the mock's thread and waits for it, and librdkafka 2.0.2's mock thread
 * loses wake-ups. In one round it serves its operation queue and only then
 * reads its wake-up pipe empty; a wake-up written for an operation queued in
 * between is read and thrown away while the queue still counts it as sent,
 * so the operation waits for the mock's poll timeout: up to a second, the
 * whole second when no socket or timer of the mock fires meanwhile.
 *
 * The proxy used to make that call for every topic of every Metadata
 * request, so every client waited out each such second. Under many clients
 * this fed on itself: requests piled up behind the stalled proxy, clients
 * timed out, reconnected and asked again, and the mock, which then got no
 * traffic from the proxy, slept its full timeout on every lost wake-up. The
 * proxy stayed inside one proxy_step for minutes, accepting no connection
 * and not seeing SIGTERM.
 *
 * So the proxy remembers the topics the mock has (it never deletes one) and
 * gives the others to this thread; only the connection that asked for them
 * waits, parked, and the creator wakes the proxy's poll through a pipe.
 */
static void *creator_main(void *arg)
{
    devkafka_t *dk = arg;
    creator_t *cr = &dk->creator;
    pthread_mutex_lock(&cr->lock);
    while (!cr->stop) {
        job_t *job = jobq_pop(&cr->todo);
        if (!job) {
            pthread_cond_wait(&cr->cond, &cr->lock);
            continue;
        }
        pthread_mutex_unlock(&cr->lock);
        const char *why = job->api_key == API_METADATA ? "auto-create" : "CreateTopics";
        for (int i = 0; i < job->topic_cnt; i++) {
            job_topic_t *t = &job->topics[i];
            if (t->create)
                t->err = topic_create(dk, t->name, t->partitions, t->replicas, why);
        }
        pthread_mutex_lock(&cr->lock);
        jobq_push(&cr->done, job);
        /*
         * Written under the lock, after the push: the proxy empties the pipe
         * before it takes done, so no job is left behind without a byte.
         * When the pipe is full, a byte is already waiting.
         */
        ssize_t n = write(cr->wake[1], "", 1);
        (void)n;
    }
    pthread_mutex_unlock(&cr->lock);
    return NULL;
}

static conn_t *conn_by_id(devkafka_t *dk, uint64_t id)
{
    for (conn_t *c = dk->conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

/* Unparks the connection of a finished job: its request goes on, then those behind it. */
static void job_finish(devkafka_t *dk, const job_t *job)
{
    for (int i = 0; i < job->topic_cnt; i++) {
        const job_topic_t *t = &job->topics[i];
        if (t->create && (!t->err || t->err == KERR_TOPIC_ALREADY_EXISTS))
            known_add(dk, t->name);
    }
    conn_t *c = conn_by_id(dk, job->conn_id);
    if (!c || c->dead)
        return; /* the client left meanwhile */
    if (job->api_key == API_METADATA) {
        req_header_t h;
        rd_t body;
        read_header(c->held.data, c->held.len, &h, &body); /* on_request found it whole */
        forward(c, &h, &body, c->held.data, c->held.len);
        c->held.len = 0;
    } else {
        answer_create_topics(c->held_pd, job);
        c->held_pd = NULL;
        pending_flush(c);
    }
    c->parked = 0;
    frames(dk, c, &c->cin, on_request);
}

/* Finishes the jobs the creator thread has done. */
static void creator_collect(devkafka_t *dk)
{
    creator_t *cr = &dk->creator;
    char drain[64];
    while (read(cr->wake[0], drain, sizeof(drain)) > 0)
        ; /* before taking done: a byte written later stays for the next poll */
    pthread_mutex_lock(&cr->lock);
    jobq_t done = cr->done;
    cr->done = (jobq_t){NULL, NULL};
    pthread_mutex_unlock(&cr->lock);
    job_t *job;
    while ((job = jobq_pop(&done))) {
        job_finish(dk, job);
        job_free(job);
    }
}

/* Reads what fd has into in; 0 on EOF or error. */
static int read_into(int fd, buf_t *in)
{
    uint8_t chunk[65536];
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
        buf_put(in, chunk, (size_t)n);
        return 1;
    }
    return n < 0 && (errno == EAGAIN || errno == EINTR);
}

static int write_from(int fd, buf_t *out)
{
    if (!out->len)
        return 1;
    ssize_t n = send(fd, out->data, out->len, MSG_NOSIGNAL);
    if (n > 0)
        buf_drop(out, (size_t)n);
    return n >= 0 || errno == EAGAIN || errno == EINTR;
}

static void set_socket_opts(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/*
 * Starts a connection to a mock broker without waiting for it: the mock
 * listens with a backlog of 5, and when its thread is slow to accept, a
 * blocking connect would wait out SYN retransmissions (1, 3, 7 s ...) and
 * stall every client of this single-threaded proxy meanwhile. *pending is
 * set while the connect is in progress (proxy_step waits for POLLOUT).
 */
static int connect_mock(int port, int *pending)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    set_socket_opts(fd);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *pending = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        *pending = 1;
    }
    return fd;
}

/* 1 once a pending connect to the mock has completed, 0 while it goes on, -1 if it failed. */
static int connect_done(int fd, short revents)
{
    if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
        return 0;
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
        return -1;
    return 1;
}

static void accept_client(devkafka_t *dk, broker_t *b)
{
    int cfd = accept(b->listen_fd, NULL, NULL);
    if (cfd < 0)
        return;
    int pending = 0;
    int ufd = connect_mock(b->mock_port, &pending);
    conn_t *c = ufd >= 0 ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        if (ufd >= 0)
            close(ufd);
        close(cfd);
        return;
    }
    set_socket_opts(cfd);
    c->id = ++dk->last_conn_id;
    c->cfd = cfd;
    c->ufd = ufd;
    c->connecting = pending;
    c->next = dk->conns;
    dk->conns = c;
}

static void conn_free(conn_t *c)
{
    close(c->cfd);
    close(c->ufd);
    free(c->cin.data);
    free(c->uin.data);
    free(c->cout.data);
    free(c->uout.data);
    free(c->held.data);
    while (c->head) {
        pending_t *pd = c->head;
        c->head = pd->next;
        free(pd->resp.data);
        free(pd);
    }
    free(c);
}

/*
 * Acknowledges what was just read from the mock at once. The mock's sockets
 * keep Nagle's algorithm on (a real broker turns it off), so when it answers
 * requests that came in one after the other, its second answer waits until
 * the first is acknowledged, and Linux holds a plain acknowledgement back
 * for up to 40 ms: a transactional producer's flush of records for several
 * partitions took 35-45 ms instead of 2. TCP_QUICKACK lasts until the
 * kernel's next decision, so it is set again after every read.
 */
static void ack_now(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static void conn_io(devkafka_t *dk, conn_t *c, short crev, short urev)
{
    if (c->connecting) {
        int done = connect_done(c->ufd, urev);
        if (done < 0)
            c->dead = 1;
        c->connecting = done == 0;
        urev = 0;
    }
    if ((crev & (POLLIN | POLLHUP | POLLERR)) && !read_into(c->cfd, &c->cin))
        c->dead = 1;
    if ((urev & (POLLIN | POLLHUP | POLLERR)) && !read_into(c->ufd, &c->uin))
        c->dead = 1;
    if (urev & POLLIN)
        ack_now(c->ufd);
    frames(dk, c, &c->cin, on_request);
    frames(dk, c, &c->uin, on_response);
    if ((!c->connecting && !write_from(c->ufd, &c->uout)) || !write_from(c->cfd, &c->cout))
        c->dead = 1;
}

/* One round of the proxy loop: wait up to timeout_ms, then serve what is ready. */
static void proxy_step(devkafka_t *dk, int timeout_ms)
{
    size_t n = (size_t)dk->broker_cnt + 1; /* the listeners and the creator's pipe */
    for (conn_t *c = dk->conns; c; c = c->next)
        n += 2;
    struct pollfd *fds = calloc(n, sizeof(*fds));
    if (!fds)
        return;
    size_t i = 0;
    for (int b = 0; b < dk->broker_cnt; b++)
        fds[i++] = (struct pollfd){.fd = dk->brokers[b].listen_fd, .events = POLLIN};
    fds[i++] = (struct pollfd){.fd = dk->creator.wake[0], .events = POLLIN};
    for (conn_t *c = dk->conns; c; c = c->next) {
        fds[i++] = (struct pollfd){.fd = c->cfd, .events = POLLIN | (c->cout.len ? POLLOUT : 0)};
        short uev = c->connecting ? POLLOUT : POLLIN | (c->uout.len ? POLLOUT : 0);
        fds[i++] = (struct pollfd){.fd = c->ufd, .events = uev};
    }
    if (poll(fds, n, timeout_ms) > 0) {
        i = (size_t)dk->broker_cnt + 1;
        for (conn_t *c = dk->conns; c; c = c->next, i += 2)
            if (fds[i].revents || fds[i + 1].revents)
                conn_io(dk, c, fds[i].revents, fds[i + 1].revents);
        for (int b = 0; b < dk->broker_cnt; b++)
            if (fds[b].revents & POLLIN)
                accept_client(dk, &dk->brokers[b]);
        if (fds[dk->broker_cnt].revents & POLLIN)
            creator_collect(dk);
    }
    free(fds);
    for (conn_t **pc = &dk->conns; *pc;) {
        conn_t *c = *pc;
        if (c->dead) {
            *pc = c->next;
            conn_free(c);
        } else {
            pc = &c->next;
        }
    }
}

static int listen_loopback(int port, int *bound_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        close(fd);
        return -1;
    }
    *bound_port = ntohs(sa.sin_port);
    return fd;
}

/* ---- names of API keys and error codes -------------------------------- */

static const struct {
    const char *name;
    int key;
} api_names[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"ApiVersions", 18},
    {"ApiVersion", 18},
    {"InitProducerId", 22},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
    {"OffsetForLeaderEpoch", 23},
};

/* Parses a whole decimal integer in [lo, hi]; 0 on success. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int api_key_parse(const char *s)
{
    long v;
    if (!parse_int(s, 0, 999, &v))
        return (int)v;
    for (size_t i = 0; s && i < sizeof(api_names) / sizeof(api_names[0]); i++)
        if (!strcasecmp(s, api_names[i].name))
            return api_names[i].key;
    return -1;
}

/* Parses a Kafka error code by number or name (with or without RD_KAFKA_RESP_ERR_). */
static int err_code_parse(const char *s, rd_kafka_resp_err_t *out)
{
    if (!s)
        return -1;
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    rd_kafka_get_err_descs(&descs, &cnt);
    long v;
    int numeric = !parse_int(s, -1000, 1000, &v);
    if (!strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18))
        s += 18;
    for (size_t i = 0; i < cnt; i++) {
        if (!descs[i].name)
            continue;
        if ((numeric && descs[i].code == v) || (!numeric && !strcasecmp(descs[i].name, s))) {
            *out = descs[i].code;
            return 0;
        }
    }
    return -1;
}

/* ---- the control endpoint --------------------------------------------- */

typedef struct {
    int status;
    char text[8192];
} reply_t;

/* Sets the reply; returns 0 so that handlers can end with "return reply(...)". */
static int reply(reply_t *rp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int reply(reply_t *rp, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->text, sizeof(rp->text) - 1, fmt, ap);
    va_end(ap);
    strcat(rp->text, "\n");
    rp->status = status;
    return 0;
}

static void append(reply_t *rp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(reply_t *rp, const char *fmt, ...)
{
    size_t used = strlen(rp->text);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->text + used, sizeof(rp->text) - used, fmt, ap);
    va_end(ap);
}

static int ctl_status(devkafka_t *dk, reply_t *rp)
{
    reply(rp, 200, "bootstrap=%s", dk->bootstrap);
    append(rp, "brokers=%d\n", dk->broker_cnt);
    pthread_mutex_lock(&dk->lock);
    for (int i = 0; i < dk->broker_cnt; i++)
        append(rp, "broker id=%d state=%s rtt_ms=%d address=127.0.0.1:%d\n", (int)dk->brokers[i].id,
               dk->brokers[i].down ? "down" : "up", dk->brokers[i].rtt_ms,
               dk->brokers[i].proxy_port);
    pthread_mutex_unlock(&dk->lock);
    append(rp, "default_partitions=%d\n", dk->partitions);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(dk->probe, 1, NULL, &md, 2000);
    if (err) {
        append(rp, "topics=unknown (%s)\n", rd_kafka_err2str(err));
        return 0;
    }
    append(rp, "topics=%d\n", md->topic_cnt);
    for (int i = 0; i < md->topic_cnt; i++)
        append(rp, "topic name=%s partitions=%d\n", md->topics[i].topic,
               md->topics[i].partition_cnt);
    rd_kafka_metadata_destroy(md);
    return 0;
}

static const char *arg(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* POST /brokers/<id>/{down,up,rtt} */
static int ctl_broker(devkafka_t *dk, struct MHD_Connection *conn, const char *rest, reply_t *rp)
{
    char idtext[16], action[16];
    if (sscanf(rest, "%15[0-9]/%15[a-z]", idtext, action) != 2)
        return reply(rp, 404, "no such endpoint: use /brokers/<id>/down, /up or /rtt?ms=N");
    long id;
    broker_t *b = parse_int(idtext, 0, 1 << 30, &id) ? NULL : broker_by_id(dk, (int32_t)id);
    if (!b)
        return reply(rp, 400, "no broker with id %s (ids are 1 to %d)", idtext, dk->broker_cnt);
    rd_kafka_resp_err_t err;
    pthread_mutex_lock(&dk->lock);
    if (!strcmp(action, "down")) {
        err = rd_kafka_mock_broker_set_down(dk->mc, b->id);
        b->down = err ? b->down : 1;
    } else if (!strcmp(action, "up")) {
        err = rd_kafka_mock_broker_set_up(dk->mc, b->id);
        b->down = err ? b->down : 0;
    } else if (!strcmp(action, "rtt")) {
        long ms;
        if (parse_int(arg(conn, "ms"), 0, 600000, &ms)) {
            pthread_mutex_unlock(&dk->lock);
            return reply(rp, 400, "rtt needs ms=<0..600000>");
        }
        err = rd_kafka_mock_broker_set_rtt(dk->mc, b->id, (int)ms);
        b->rtt_ms = err ? b->rtt_ms : (int)ms;
    } else {
        pthread_mutex_unlock(&dk->lock);
        return reply(rp, 404, "no such broker action \"%s\": use down, up or rtt", action);
    }
    pthread_mutex_unlock(&dk->lock);
    if (err)
        return reply(rp, 400, "could not %s broker %d: %s", action, (int)b->id,
                     rd_kafka_err2str(err));
    ferry_log_info("broker changed", "broker=%d action=%s", (int)b->id, action);
    return reply(rp, 200, "broker %d %s", (int)b->id, action);
}

/* POST /errors?api=<key>&code=<err>&count=N, or /errors/clear?api=<key> */
static int ctl_errors(devkafka_t *dk, struct MHD_Connection *conn, const char *rest, reply_t *rp)
{
    int key = api_key_parse(arg(conn, "api"));
    if (key < 0)
        return reply(rp, 400,
                     "api must be an ApiKey number or name (Produce, Fetch, Metadata, ...)");
    if (!strcmp(rest, "/clear")) {
        rd_kafka_mock_clear_request_errors(dk->mc, (int16_t)key);
        return reply(rp, 200, "cleared injected errors of api %d", key);
    }
    if (*rest)
        return reply(rp, 404, "no such endpoint: use /errors or /errors/clear");
    rd_kafka_resp_err_t code;
    if (err_code_parse(arg(conn, "code"), &code))
        return reply(rp, 400,
                     "code must be a Kafka error code number or name "
                     "(e.g. NOT_LEADER_FOR_PARTITION)");
    long count = 1;
    if (arg(conn, "count") && parse_int(arg(conn, "count"), 1, 100000, &count))
        return reply(rp, 400, "count must be 1 to 100000");
    rd_kafka_resp_err_t *codes = malloc((size_t)count * sizeof(*codes));
    if (!codes)
        return reply(rp, 400, "count %ld is too large", count);
    for (long i = 0; i < count; i++)
        codes[i] = code;
    rd_kafka_mock_push_request_errors_array(dk->mc, (int16_t)key, (size_t)count, codes);
    free(codes);
    ferry_log_info("errors injected", "api=%d code=%s count=%ld", key, rd_kafka_err2name(code),
                   count);
    return reply(rp, 200, "the next %ld request(s) with api %d fail with %s", count, key,
                 rd_kafka_err2name(code));
}

/* POST /topics/<name>?partitions=N&replicas=R */
static int ctl_topic(devkafka_t *dk, struct MHD_Connection *conn, const char *name, reply_t *rp)
{
    if (!topic_name_ok(name, (int)strlen(name)))
        return reply(rp, 400, "topic names are 1 to 249 of [a-zA-Z0-9._-]");
    long partitions = dk->partitions, replicas = dk->replicas;
    if (arg(conn, "partitions") && parse_int(arg(conn, "partitions"), 1, 100000, &partitions))
        return reply(rp, 400, "partitions must be 1 to 100000");
    if (arg(conn, "replicas") && parse_int(arg(conn, "replicas"), 1, dk->broker_cnt, &replicas))
        return reply(rp, 400, "replicas must be 1 to %d (the broker count)", dk->broker_cnt);
    int err = topic_create(dk, name, (int)partitions, (int)replicas, "control");
    if (err == KERR_TOPIC_ALREADY_EXISTS)
        return reply(rp, 409, "could not create topic \"%s\": it already exists", name);
    if (err)
        return reply(rp, 400, "could not create topic \"%s\": %s", name,
                     rd_kafka_err2str((rd_kafka_resp_err_t)err));
    return reply(rp, 200, "created topic %s with %ld partition(s) and %ld replica(s)", name,
                 partitions, replicas);
}

static int route(devkafka_t *dk, struct MHD_Connection *conn, const char *url, const char *method,
                 reply_t *rp)
{
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/status") || !strcmp(url, "/healthz")) {
        if (!get)
            return reply(rp, 405, "use GET");
        if (!strcmp(url, "/healthz"))
            return reply(rp, 200, "ok");
        return ctl_status(dk, rp);
    }
    if (!post)
        return reply(rp,
                     strncmp(url, "/brokers/", 9) && strncmp(url, "/errors", 7) &&
                             strncmp(url, "/topics/", 8)
                         ? 404
                         : 405,
                     "use POST");
    if (!strncmp(url, "/brokers/", 9))
        return ctl_broker(dk, conn, url + 9, rp);
    if (!strncmp(url, "/errors", 7))
        return ctl_errors(dk, conn, url + 7, rp);
    if (!strncmp(url, "/topics/", 8))
        return ctl_topic(dk, conn, url + 8, rp);
    return reply(rp, 404, "no such endpoint: see ferry-devkafka --help");
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    static int seen;
    if (!*con_cls) { /* headers only: wait for the (ignored) body */
        *con_cls = &seen;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    reply_t *rp = calloc(1, sizeof(*rp));
    if (!rp)
        return MHD_NO;
    route(cls, conn, url, method, rp);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(rp->text), rp->text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_NO;
    if (resp) {
        MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
        ret = MHD_queue_response(conn, (unsigned)rp->status, resp);
        MHD_destroy_response(resp);
    }
    free(rp);
    return ret;
}

/* ---- start-up --------------------------------------------------------- */

typedef struct {
    long brokers, partitions, control_port;
    const char *bootstrap_file, *control_file;
} opts_t;

static void usage(FILE *out)
{
    fprintf(out, "usage: ferry-devkafka [--brokers N] [--partitions N] [--bootstrap-file FILE]\n"
                 "                      [--control-port P] [--control-file FILE]\n"
                 "\n"
                 "An in-memory Kafka for trying ferry and for tests: librdkafka's mock cluster\n"
                 "(real Kafka protocol) behind a small proxy. Prints bootstrap=<host:port,...>\n"
                 "and control=<url> on stdout, then runs until SIGINT or SIGTERM.\n"
                 "\n"
                 "  --brokers N          brokers in the cluster (default 1)\n"
                 "  --partitions N       partitions of topics that clients auto-create, and of\n"
                 "                       CreateTopics with no count (default 16)\n"
                 "  --bootstrap-file F   also write the bootstrap address to F\n"
                 "  --control-port P     port of the control endpoint on 127.0.0.1 (default 0:\n"
                 "                       any free port)\n"
                 "  --control-file F     also write the control URL to F\n"
                 "\n"
                 "Limits (librdkafka 2.0.2's mock) - use a real Kafka for production:\n"
                 "  - each partition keeps at most 5 MB or 100,000 message sets; older data is\n"
                 "    dropped, and a consumer that still needed it gets 'offset out of range';\n"
                 "  - no compaction, no retention settings (topic configs are ignored);\n"
                 "  - nothing is persisted: all topics and offsets vanish when it stops;\n"
                 "  - it listens on random ports: read the printed bootstrap address;\n"
                 "  - it does not answer a waiting fetch early: consumers should use a small\n"
                 "    fetch.wait.max.ms (ferry uses 20 ms) or every hop adds up to 500 ms;\n"
                 "  - records of a transaction that reached the broker stay visible to\n"
                 "    read_committed consumers after an abort, and an older producer with the\n"
                 "    same transactional.id is not fenced;\n"
                 "  - transactional offset commits (TxnOffsetCommit) are accepted, not stored.\n"
                 "\n"
                 "Control endpoint (curl -X POST <control>/...):\n"
                 "  POST /brokers/<id>/down | /brokers/<id>/up   stop or restart a broker\n"
                 "  POST /brokers/<id>/rtt?ms=N                  delay its responses by N ms\n"
                 "  POST /errors?api=<key>&code=<err>&count=N    fail the next N requests of an\n"
                 "       ApiKey (number or name: Produce, Fetch, Metadata, ...) with a Kafka\n"
                 "       error (number or name: NOT_LEADER_FOR_PARTITION, ...)\n"
                 "  POST /errors/clear?api=<key>                 drop errors not yet used\n"
                 "  POST /topics/<name>?partitions=N&replicas=R  create a topic\n"
                 "  GET  /status                                 brokers and topics\n"
                 "Replies are one line of text: 200 on success, 400 on bad input (404 unknown\n"
                 "endpoint, 409 topic exists).\n");
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){.brokers = 1, .partitions = 16};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--version")) {
            printf("ferry-devkafka %s (librdkafka %s)\n", FERRY_VERSION, rd_kafka_version_str());
            exit(0);
        } else if (!strcmp(a, "--brokers") && v && !parse_int(v, 1, MAX_BROKERS, &o->brokers)) {
            i++;
        } else if (!strcmp(a, "--partitions") && v && !parse_int(v, 1, 100000, &o->partitions)) {
            i++;
        } else if (!strcmp(a, "--control-port") && v && !parse_int(v, 0, 65535, &o->control_port)) {
            i++;
        } else if (!strcmp(a, "--bootstrap-file") && v) {
            o->bootstrap_file = argv[++i];
        } else if (!strcmp(a, "--control-file") && v) {
            o->control_file = argv[++i];
        } else {
            fprintf(stderr,
                    "ferry-devkafka: bad argument \"%s\"%s (brokers 1-%d, partitions 1-100000, "
                    "port 0-65535); see --help\n",
                    a, v ? "" : " or missing value", MAX_BROKERS);
            return -1;
        }
    }
    return 0;
}

/* Writes text to path through a temporary file and a rename, so readers never see half. */
static int write_file(const char *path, const char *text, char *errstr, size_t errstr_size)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not write \"%s\": %s", tmp,
                             strerror(errno));
    int bad = fprintf(f, "%s\n", text) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO, "could not write \"%s\": %s", path,
                             strerror(e));
    }
    return 0;
}

/* Learns which mock port belongs to which broker id, from the mock's own metadata. */
static int map_brokers(devkafka_t *dk, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(dk->probe, 0, NULL, &md, 10000);
    if (err)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not read metadata of the mock cluster: %s",
                             rd_kafka_err2str(err));
    dk->broker_cnt = md->broker_cnt < MAX_BROKERS ? md->broker_cnt : MAX_BROKERS;
    for (int i = 0; i < dk->broker_cnt; i++) {
        dk->brokers[i].id = md->brokers[i].id;
        dk->brokers[i].mock_port = md->brokers[i].port;
        dk->brokers[i].listen_fd = -1;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

static int open_proxies(devkafka_t *dk, char *errstr, size_t errstr_size)
{
    size_t used = 0;
    for (int i = 0; i < dk->broker_cnt; i++) {
        broker_t *b = &dk->brokers[i];
        b->listen_fd = listen_loopback(0, &b->proxy_port);
        if (b->listen_fd < 0)
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                                 "could not listen on 127.0.0.1 for broker %d: %s", (int)b->id,
                                 strerror(errno));
        used += (size_t)snprintf(dk->bootstrap + used, sizeof(dk->bootstrap) - used,
                                 "%s127.0.0.1:%d", i ? "," : "", b->proxy_port);
    }
    return 0;
}

static int cluster_start(devkafka_t *dk, const opts_t *o, char *errstr, size_t errstr_size)
{
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", why, sizeof(why));
    dk->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!dk->rk) {
        rd_kafka_conf_destroy(conf);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not start the mock cluster: %s", why);
    }
    dk->mc = rd_kafka_mock_cluster_new(dk->rk, (int)o->brokers);
    if (!dk->mc)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not start the mock cluster of %ld broker(s)", o->brokers);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(dk->mc), why,
                      sizeof(why));
    rd_kafka_conf_set(conf, "log_level", "0", why, sizeof(why));
    dk->probe = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!dk->probe) {
        rd_kafka_conf_destroy(conf);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not create a client of the mock cluster: %s", why);
    }
    dk->partitions = (int)o->partitions;
    dk->replicas = o->brokers < 3 ? (int)o->brokers : 3;
    return map_brokers(dk, errstr, errstr_size) ? FERRY_ERR_FATAL
                                                : open_proxies(dk, errstr, errstr_size);
}

static void cluster_stop(devkafka_t *dk)
{
    while (dk->conns) {
        conn_t *c = dk->conns;
        dk->conns = c->next;
        conn_free(c);
    }
    for (int i = 0; i < dk->broker_cnt; i++)
        if (dk->brokers[i].listen_fd >= 0)
            close(dk->brokers[i].listen_fd);
    if (dk->probe)
        rd_kafka_destroy(dk->probe);
    if (dk->mc)
        rd_kafka_mock_cluster_destroy(dk->mc);
    if (dk->rk)
        rd_kafka_destroy(dk->rk);
}

static int creator_start(devkafka_t *dk, char *errstr, size_t errstr_size)
{
    creator_t *cr = &dk->creator;
    if (pipe(cr->wake) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                             "could not create the pipe of the topic creator: %s", strerror(errno));
    for (int i = 0; i < 2; i++)
        fcntl(cr->wake[i], F_SETFL, fcntl(cr->wake[i], F_GETFL) | O_NONBLOCK);
    int e = pthread_create(&cr->thread, NULL, creator_main, dk);
    if (e)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not start the topic creator thread: %s", strerror(e));
    cr->started = 1;
    return 0;
}

/* Stops the creator thread (after its current call to the mock) and drops its jobs. */
static void creator_stop(devkafka_t *dk)
{
    creator_t *cr = &dk->creator;
    if (cr->started) {
        pthread_mutex_lock(&cr->lock);
        cr->stop = 1;
        pthread_cond_signal(&cr->cond);
        pthread_mutex_unlock(&cr->lock);
        pthread_join(cr->thread, NULL);
    }
    job_t *job;
    while ((job = jobq_pop(&cr->todo)) || (job = jobq_pop(&cr->done)))
        job_free(job);
    for (int i = 0; i < 2; i++)
        if (cr->wake[i] >= 0)
            close(cr->wake[i]);
}

static struct MHD_Daemon *control_start(devkafka_t *dk, long port, char *url, size_t url_size,
                                        char *errstr, size_t errstr_size)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, on_http, dk,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!d) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_IO,
                      "could not listen on \"127.0.0.1:%ld\" for the control endpoint", port);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(url, url_size, "http://127.0.0.1:%u", info ? (unsigned)info->port : (unsigned)port);
    return d;
}

static int announce(const devkafka_t *dk, const opts_t *o, const char *control_url, char *errstr,
                    size_t errstr_size)
{
    if (o->bootstrap_file && write_file(o->bootstrap_file, dk->bootstrap, errstr, errstr_size))
        return FERRY_ERR_IO;
    if (o->control_file && write_file(o->control_file, control_url, errstr, errstr_size))
        return FERRY_ERR_IO;
    printf("bootstrap=%s\ncontrol=%s\n", dk->bootstrap, control_url);
    fflush(stdout);
    ferry_log_info("ready", "bootstrap=%s control=%s brokers=%d partitions=%d", dk->bootstrap,
                   control_url, dk->broker_cnt, dk->partitions);
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_opts(argc, argv, &o))
        return 2;
    ferry_log_init("devkafka", FERRY_LOG_INFO);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    static devkafka_t dk;
    pthread_mutex_init(&dk.lock, NULL);
    pthread_mutex_init(&dk.creator.lock, NULL);
    pthread_cond_init(&dk.creator.cond, NULL);
    dk.creator.wake[0] = dk.creator.wake[1] = -1;
    char errstr[512], control_url[64];
    struct MHD_Daemon *httpd = NULL;
    int rc = cluster_start(&dk, &o, errstr, sizeof(errstr));
    if (!rc)
        rc = creator_start(&dk, errstr, sizeof(errstr));
    if (!rc && !(httpd = control_start(&dk, o.control_port, control_url, sizeof(control_url),
                                       errstr, sizeof(errstr))))
        rc = FERRY_ERR_IO;
    if (!rc)
        rc = announce(&dk, &o, control_url, errstr, sizeof(errstr));
    while (!rc && !stop_requested)
        proxy_step(&dk, 200);

    if (httpd)
        MHD_stop_daemon(httpd);
    creator_stop(&dk); /* before the mock it calls goes away */
    cluster_stop(&dk);
    known_clear(&dk);
    pthread_cond_destroy(&dk.creator.cond);
    pthread_mutex_destroy(&dk.creator.lock);
    pthread_mutex_destroy(&dk.lock);
    if (rc) {
        fprintf(stderr, "ferry-devkafka: %s\n", errstr);
        return 1;
    }
    ferry_log_info("stopped", NULL);
    return 0;
}
