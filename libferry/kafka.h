/*
 * kafka.h - the one place where ferry talks to librdkafka.
 *
 * Every service produces and consumes through these wrappers so that the
 * rules that make a migration safe live in one module:
 *
 *  - producers are idempotent, or transactional when given a transactional
 *    id; a delivery failure is remembered and reported by the next flush or
 *    commit, so a caller can never acknowledge a source position whose events
 *    did not reach Kafka;
 *  - consumers commit by hand, read only committed transactions
 *    (isolation.level=read_committed) and run with auto.offset.reset=error:
 *    an offset that is no longer in the log is a fatal error naming the topic
 *    and partition, never a silent skip;
 *  - every error is classified: FERRY_ERR_RETRIABLE (try again, the client
 *    recovers by itself), FERRY_ERR_FATAL (this handle cannot go on) or
 *    FERRY_ERR_INVALID (bad configuration or argument).
 *
 * Configuration: props is a NULL-terminated array of const char* holding
 * librdkafka property names and values in turn ("bootstrap.servers",
 * "127.0.0.1:9092", ..., NULL); NULL props means none. They are applied after
 * ferry's defaults, so anything may be overridden. The defaults suit
 * ferry-devkafka as well as a real cluster: a short fetch.wait.max.ms (the
 * mock broker does not answer a waiting fetch early) and a short
 * session.timeout.ms (a restarted member gets its partitions back quickly).
 *
 * @locality a handle is used by one thread at a time; librdkafka's own
 *           threads run underneath. Callbacks run on the thread that polls.
 */
#ifndef FERRY_KAFKA_H
#define FERRY_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest message ferry produces (one row image), and the max.message.bytes
 * of every topic it creates. */
#define FERRY_KAFKA_MAX_MESSAGE "67108864"

/* Partition argument meaning "choose by key hash" (librdkafka's partitioner). */
#define FERRY_KAFKA_PARTITION_ANY (-1)

/* Logical offsets, as librdkafka spells them. */
#define FERRY_KAFKA_OFFSET_BEGINNING (-2)
#define FERRY_KAFKA_OFFSET_END       (-1)
#define FERRY_KAFKA_OFFSET_STORED    (-1000)
#define FERRY_KAFKA_OFFSET_INVALID   (-1001)

typedef struct ferry_kafka_producer ferry_kafka_producer_t;
typedef struct ferry_kafka_consumer ferry_kafka_consumer_t;

/* One message header. value may be NULL (a null header value). */
typedef struct {
    const char *name;
    const void *value;
    size_t value_len;
} ferry_kafka_header_t;

/* A record to produce. Nothing in it is kept after ferry_kafka_produce returns. */
typedef struct {
    const char *topic;
    int32_t partition; /* FERRY_KAFKA_PARTITION_ANY to partition by key */
    const void *key;   /* may be NULL */
    size_t key_len;
    const void *value; /* may be NULL (a tombstone) */
    size_t value_len;
    const ferry_kafka_header_t *headers; /* may be NULL */
    size_t header_cnt;
} ferry_kafka_record_t;

/*
 * A consumed message. The pointers stay valid until ferry_kafka_msg_destroy;
 * priv belongs to the wrapper.
 */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 if the broker gave none */
    const void *key;      /* NULL if the message has no key */
    size_t key_len;
    const void *value; /* NULL for a tombstone */
    size_t value_len;
    void *priv;
} ferry_kafka_msg_t;

/* A topic, a partition and an offset, for assign, commit and committed. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
} ferry_kafka_tp_t;

/*
 * Rebalance hooks of a group consumer (all optional). on_assign runs once per
 * newly assigned partition with *offset set to where reading will start: the
 * group's committed offset, or FERRY_KAFKA_OFFSET_BEGINNING if the group has
 * none; it may change *offset (e.g. to an offset stored in the destination).
 * on_revoke runs once per partition about to be taken away, the last moment
 * to commit for it. on_assigned runs after each assignment the group makes,
 * with the number of partitions it gave (0 too, which calls no on_assign).
 * All run inside ferry_kafka_consumer_poll.
 */
typedef struct {
    void (*on_assign)(void *opaque, const char *topic, int32_t partition, int64_t *offset);
    void (*on_revoke)(void *opaque, const char *topic, int32_t partition);
    void (*on_assigned)(void *opaque, size_t partitions);
    void *opaque;
} ferry_kafka_rebalance_t;

/* ---- errors --------------------------------------------------------- */

/*
 * Classifies a librdkafka response error code (rd_kafka_resp_err_t as int):
 * 0 for no error, FERRY_ERR_RETRIABLE for errors the client or a retry
 * recovers from (transport, timeouts, leader changes, coordinator moves),
 * FERRY_ERR_FATAL for the rest (fencing, authorization, out of range, ...).
 */
int ferry_kafka_err_class(int kafka_err);

/*
 * rd_kafka_query_watermark_offsets on a client the caller already has, asked
 * again every 100 ms while the answer is a transient error (a leader moving,
 * a broker away) until timeout_ms has passed. An unknown topic or partition
 * is answered at once. Returns the last rd_kafka_resp_err_t (0 on success).
 */
struct rd_kafka_s;
int ferry_kafka_watermarks(struct rd_kafka_s *rk, const char *topic, int32_t partition,
                           int timeout_ms, int64_t *low, int64_t *high);

/* ---- cluster -------------------------------------------------------- */

/*
 * Asks the cluster for its metadata. Returns 0 if a broker answered within
 * timeout_ms, else FERRY_ERR_RETRIABLE with errstr saying that the brokers
 * named by bootstrap.servers could not be reached, or FERRY_ERR_INVALID for
 * bad props. Creates and destroys its own client; nothing to free.
 */
int ferry_kafka_probe(const char *const *props, int timeout_ms, char *errstr, size_t errstr_size);

/*
 * Checks every property in props with librdkafka's own configuration check
 * (rd_kafka_conf_set on a scratch configuration: nothing connects) and calls
 * bad once for each property librdkafka refuses, with its name and
 * librdkafka's reason (which may quote the value: redact it for a secret).
 * Returns how many were refused. Properties that are only valid together
 * (e.g. SASL without a mechanism) are caught by a client, not here.
 */
typedef void (*ferry_kafka_bad_prop_fn)(void *opaque, const char *name, const char *reason);
size_t ferry_kafka_props_check(const char *const *props, ferry_kafka_bad_prop_fn bad, void *opaque);

/*
 * Creates a topic with partitions partitions and replication_factor replicas
 * (-1 for the broker's default) through the admin API. configs is an
 * optional NULL-terminated name, value array of topic configs (e.g.
 * "cleanup.policy", "compact"). A topic that already exists is success when
 * exists_ok is non-zero (its partition count is not checked here). Works on a
 * real Kafka and on ferry-devkafka. Nothing to free.
 */
int ferry_kafka_topic_create(const char *const *props, const char *topic, int partitions,
                             int replication_factor, const char *const *configs, int exists_ok,
                             int timeout_ms, char *errstr, size_t errstr_size);

/*
 * The same through the admin API of an open producer (no new connection to
 * the cluster); a topic that exists already is success.
 */
int ferry_kafka_producer_topic_create(ferry_kafka_producer_t *p, const char *topic, int partitions,
                                      int replication_factor, const char *const *configs,
                                      int timeout_ms, char *errstr, size_t errstr_size);

/*
 * Stores the partition count of topic in *partitions. FERRY_ERR_NOT_FOUND if
 * the topic does not exist; this never creates it. Nothing to free.
 */
int ferry_kafka_topic_partitions(const char *const *props, const char *topic, int timeout_ms,
                                 int *partitions, char *errstr, size_t errstr_size);

/*
 * Every topic of the cluster with its partition count (0 for a topic the
 * cluster reported an error for, such as no leader yet), sorted by name, in
 * one metadata request through an open producer's client (never creating a
 * topic): for callers that ask often, without a new client each time.
 * Returns 0 with *list (free with ferry_kafka_topic_list_free), or an error.
 */
typedef struct {
    char *name;
    int partitions;
} ferry_kafka_topic_count_t;

typedef struct {
    size_t n;
    ferry_kafka_topic_count_t *topics;
} ferry_kafka_topic_list_t;

int ferry_kafka_producer_topics(ferry_kafka_producer_t *p, int timeout_ms,
                                ferry_kafka_topic_list_t *list, char *errstr, size_t errstr_size);

/* topic's partition count in list (0: unknown), or -1 when the list does not have it. */
int ferry_kafka_topic_list_find(const ferry_kafka_topic_list_t *list, const char *topic);

void ferry_kafka_topic_list_free(ferry_kafka_topic_list_t *list);

/*
 * The same through an open producer, asking for topic by name, which also
 * gives the producer the topic's leaders: a producer that meets a topic it
 * has no metadata for holds the records until its next metadata refresh,
 * close to a second after the last. Only for a topic that exists (a broker
 * that auto-creates topics would make it).
 */
int ferry_kafka_producer_topic_partitions(ferry_kafka_producer_t *p, const char *topic,
                                          int timeout_ms, int *partitions, char *errstr,
                                          size_t errstr_size);

/*
 * Has p learn topic's leaders now (as above), so that its first record to
 * the topic leaves at once instead of about a second later. Best effort:
 * when the broker cannot say yet, the refresh does it later (logged at
 * debug level).
 */
void ferry_kafka_producer_learn_topic(ferry_kafka_producer_t *p, const char *topic, int timeout_ms);

/*
 * Has c learn the leaders of topic now, before it assigns itself partitions
 * of it: without them it starts fetching only after its next metadata
 * refresh, 0.5-1 s later (measured on ferry-devkafka). Every topic is asked
 * for, so that a topic not made yet is not made by the request on a broker
 * that creates topics on demand. Best effort (a failure is logged at debug
 * level).
 */
void ferry_kafka_consumer_learn_topic(ferry_kafka_consumer_t *c, const char *topic, int timeout_ms);

/* ---- producer ------------------------------------------------------- */

/*
 * Creates a producer in *out. With transactional_id NULL it is idempotent;
 * otherwise it is transactional and ferry_kafka_producer_init_transactions
 * must run before the first transaction. The caller frees *out with
 * ferry_kafka_producer_destroy; on failure *out is NULL and nothing is left
 * to free.
 */
int ferry_kafka_producer_new(ferry_kafka_producer_t **out, const char *const *props,
                             const char *transactional_id, char *errstr, size_t errstr_size);

/*
 * Flushes what is queued (up to flush_timeout_ms, 0 for none) and frees the
 * producer. Messages still undelivered are lost (their positions were never
 * acknowledged, so the caller resumes before them). NULL is a no-op.
 */
void ferry_kafka_producer_destroy(ferry_kafka_producer_t *p, int flush_timeout_ms);

/*
 * Registers the transactional id with the cluster, fencing older producers
 * with the same id and aborting their open transaction.
 */
int ferry_kafka_producer_init_transactions(ferry_kafka_producer_t *p, int timeout_ms, char *errstr,
                                           size_t errstr_size);

/* Begins a transaction. */
int ferry_kafka_producer_begin(ferry_kafka_producer_t *p, char *errstr, size_t errstr_size);

/*
 * Commits the open transaction (flushing it first). Returns 0 when committed;
 * FERRY_ERR_RETRIABLE when the transaction could not commit and has been
 * aborted: produce it again in a new transaction; FERRY_ERR_FATAL when the
 * producer is unusable (fenced by a newer instance, or abort failed too):
 * destroy it and resume from the last checkpoint.
 */
int ferry_kafka_producer_commit(ferry_kafka_producer_t *p, int timeout_ms, char *errstr,
                                size_t errstr_size);

/* Aborts the open transaction; its messages are never seen by read_committed readers. */
int ferry_kafka_producer_abort(ferry_kafka_producer_t *p, int timeout_ms, char *errstr,
                               size_t errstr_size);

/*
 * Queues one record. Key, value and headers are copied; the caller keeps
 * ownership of rec. When the local queue is full it waits for deliveries,
 * up to about a second, then returns FERRY_ERR_RETRIABLE. A delivery failure
 * surfaces later, from ferry_kafka_producer_flush or _commit. Inside a
 * transaction that already failed it returns FERRY_ERR_ABORTED: the caller
 * aborts (ferry_kafka_producer_abort) and produces the transaction again
 * (unlike a failed _commit's FERRY_ERR_RETRIABLE, which has aborted).
 */
int ferry_kafka_produce(ferry_kafka_producer_t *p, const ferry_kafka_record_t *rec, char *errstr,
                        size_t errstr_size);

/* Serves delivery reports for up to timeout_ms; returns how many were served. */
int ferry_kafka_producer_poll(ferry_kafka_producer_t *p, int timeout_ms);

/*
 * Waits until every queued record is delivered or failed. Returns 0 when all
 * records produced so far were written; the first delivery failure since the
 * previous flush (cleared by this call; FERRY_ERR_RETRIABLE or
 * FERRY_ERR_FATAL, errstr naming topic and partition); FERRY_ERR_TIMEOUT if
 * records were still in flight after timeout_ms.
 */
int ferry_kafka_producer_flush(ferry_kafka_producer_t *p, int timeout_ms, char *errstr,
                               size_t errstr_size);

/* Counts of records delivered and failed since the producer was created. */
void ferry_kafka_producer_counts(const ferry_kafka_producer_t *p, uint64_t *delivered,
                                 uint64_t *failed);

/* ---- consumer ------------------------------------------------------- */

/*
 * Creates a consumer of group group_id in *out. rebalance may be NULL; it is
 * copied. The caller frees *out with ferry_kafka_consumer_destroy; on failure
 * *out is NULL.
 */
int ferry_kafka_consumer_new(ferry_kafka_consumer_t **out, const char *group_id,
                             const char *const *props, const ferry_kafka_rebalance_t *rebalance,
                             char *errstr, size_t errstr_size);

/* Leaves the group (without committing) and frees the consumer. NULL is a no-op. */
void ferry_kafka_consumer_destroy(ferry_kafka_consumer_t *c);

/* Joins the group for these topics; partitions arrive through poll. */
int ferry_kafka_consumer_subscribe(ferry_kafka_consumer_t *c, const char *const *topics,
                                   size_t topic_cnt, char *errstr, size_t errstr_size);

/*
 * Reads exactly these partitions, without group balancing, each from
 * tps[i].offset (an offset or FERRY_KAFKA_OFFSET_*). Commits still go to the
 * group. tps is copied.
 */
int ferry_kafka_consumer_assign(ferry_kafka_consumer_t *c, const ferry_kafka_tp_t *tps,
                                size_t tp_cnt, char *errstr, size_t errstr_size);

/*
 * Waits up to timeout_ms for a message. Returns 0 with *msg set (free it with
 * ferry_kafka_msg_destroy) or *msg NULL when none came; FERRY_ERR_RETRIABLE
 * for a transient client error (logged by the caller; keep polling);
 * FERRY_ERR_FATAL for an error that must stop the link, above all an offset
 * that is no longer in the log ('offset out of range on "<topic>" [<n>]: ...').
 */
int ferry_kafka_consumer_poll(ferry_kafka_consumer_t *c, int timeout_ms, ferry_kafka_msg_t **msg,
                              char *errstr, size_t errstr_size);

/*
 * Commits offsets to the group synchronously. Each offset is the next one to
 * read (last processed + 1). tps is not kept.
 */
int ferry_kafka_consumer_commit(ferry_kafka_consumer_t *c, const ferry_kafka_tp_t *tps,
                                size_t tp_cnt, char *errstr, size_t errstr_size);

/*
 * Fills tps[i].offset with the group's committed offset of each partition
 * (FERRY_KAFKA_OFFSET_INVALID if none).
 */
int ferry_kafka_consumer_committed(ferry_kafka_consumer_t *c, ferry_kafka_tp_t *tps, size_t tp_cnt,
                                   int timeout_ms, char *errstr, size_t errstr_size);

/*
 * Moves the read position of an assigned partition; the next poll returns the
 * message at offset (an offset or FERRY_KAFKA_OFFSET_BEGINNING/END).
 */
int ferry_kafka_consumer_seek(ferry_kafka_consumer_t *c, const char *topic, int32_t partition,
                              int64_t offset, int timeout_ms, char *errstr, size_t errstr_size);

/*
 * Adds partitions to the manual assignment (each starting at its offset, an
 * offset or FERRY_KAFKA_OFFSET_*) and removes others; the partitions kept go
 * on where they are. Not for a subscribed consumer. Lists are copied.
 */
int ferry_kafka_consumer_assign_change(ferry_kafka_consumer_t *c, const ferry_kafka_tp_t *add,
                                       size_t add_cnt, const ferry_kafka_tp_t *remove,
                                       size_t remove_cnt, char *errstr, size_t errstr_size);

/*
 * Where an assigned partition stands: *position is the offset after the last
 * message polled (FERRY_KAFKA_OFFSET_INVALID before any; it moves past
 * transaction markers), *high the end of what this consumer's isolation
 * level can read, asked of the broker now. position >= high: nothing written
 * before the call is left to poll.
 */
int ferry_kafka_consumer_end(ferry_kafka_consumer_t *c, const char *topic, int32_t partition,
                             int timeout_ms, int64_t *position, int64_t *high, char *errstr,
                             size_t errstr_size);

/*
 * ferry_kafka_consumer_end for n partitions at once: one request per broker
 * (ListOffsets, latest, at the consumer's isolation level) instead of one
 * per partition, each of which waits behind the fetch in flight on the
 * broker's connection. tps[i].offset is ignored. position[i] and high[i]
 * as ferry_kafka_consumer_end gives them.
 */
int ferry_kafka_consumer_ends(ferry_kafka_consumer_t *c, const ferry_kafka_tp_t *tps, size_t n,
                              int timeout_ms, int64_t *position, int64_t *high, char *errstr,
                              size_t errstr_size);

/*
 * Messages (and events) fetched and not polled yet; with the queue's length
 * in messages and its size in bytes at which librdkafka stops fetching
 * (queued.min.messages, queued.max.messages.kbytes) when asked for.
 */
size_t ferry_kafka_consumer_queued(ferry_kafka_consumer_t *c, size_t *stop_msgs,
                                   size_t *stop_bytes);

/*
 * Has librdkafka look at once whether its assigned partitions may be
 * fetched again. librdkafka 2.0 stops fetching while its queue holds more
 * than queued.max.messages.kbytes and looks again only when something
 * wakes its broker threads: with nothing else going on, a second later
 * (measured: a backlog arrived at one queue, 40,000 changes, per second).
 * Any request to a broker wakes its thread; this one asks the leaders of
 * every assigned partition for its end (one request per broker), and waits
 * up to timeout_ms for the answers. Best effort: a failure is logged at
 * debug level.
 */
void ferry_kafka_consumer_wake_fetchers(ferry_kafka_consumer_t *c, int timeout_ms);

/*
 * Stops (pause true) or restarts fetching one assigned partition. Messages
 * fetched before a pause may still be returned by the next polls.
 */
int ferry_kafka_consumer_pause(ferry_kafka_consumer_t *c, const char *topic, int32_t partition,
                               bool pause, char *errstr, size_t errstr_size);

/* ---- messages ------------------------------------------------------- */

/*
 * Gets header number idx (0-based) of msg: *name and *value point into msg
 * (value NULL for a null value). FERRY_ERR_NOT_FOUND past the last header.
 */
int ferry_kafka_msg_header(const ferry_kafka_msg_t *msg, size_t idx, const char **name,
                           const void **value, size_t *value_len);

/*
 * Reads one partition of topic from its first to its last message as of
 * this call (read_committed), calling fn for each; fn returns 0 to go on or
 * non-zero to stop (that value is returned). For small control topics that
 * a service reads whole at start (the ddl topic, the offsets topic). The
 * message is valid only during the call. Returns 0, or a negative
 * ferry_err_t naming the topic.
 */
typedef int (*ferry_kafka_each_fn)(void *arg, const ferry_kafka_msg_t *msg);
int ferry_kafka_read_partition(const char *const *props, const char *topic, int32_t partition,
                               int timeout_ms, ferry_kafka_each_fn fn, void *arg, char *errstr,
                               size_t errstr_size);

/* Frees a message returned by ferry_kafka_consumer_poll. NULL is a no-op. */
void ferry_kafka_msg_destroy(ferry_kafka_msg_t *msg);

#endif
