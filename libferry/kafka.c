/*
 * kafka.c - producers, consumers and admin helpers over librdkafka.
 *
 * The wrappers own the policy that keeps a migration honest: idempotent or
 * transactional producers whose delivery failures are never lost between
 * poll and the caller, read_committed consumers that commit by hand, and
 * auto.offset.reset=error so that data which expired from Kafka stops the
 * link with a message naming the topic and partition instead of being
 * skipped. librdkafka's log lines are routed into ferry's logger.
 */
#include "kafka.h"

#include "clock.h"
#include "err.h"
#include "log.h"

#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ferry_kafka_producer {
    rd_kafka_t *rk;
    int transactional;
    bool in_txn; /* a transaction begun and not yet committed or aborted */
    uint64_t delivered;
    uint64_t failed;
    int first_err; /* ferry code of the first delivery failure not yet reported */
    char first_errstr[512];
};

struct ferry_kafka_consumer {
    rd_kafka_t *rk;
    char *group_id;
    ferry_kafka_rebalance_t rebalance;
    rd_kafka_queue_t *queue;                  /* what polls read: fetched messages and events */
    size_t fetch_stop_msgs, fetch_stop_bytes; /* queued.min.messages, queued.max.messages.kbytes */
};

/* Defaults applied before the caller's properties, so callers can override them. */
static const char *const common_defaults[] = {
    "client.id", "ferry", "socket.keepalive.enable", "true", NULL,
};

static const char *const producer_defaults[] = {
    "enable.idempotence",
    "true",
    "acks",
    "all",
    "linger.ms",
    "5",
    /*
     * Change events compress well (an update carries two images of one row,
     * a batch many rows of one table), and brokers keep batches as sent:
     * ferry-devkafka's 5 MB per partition then holds about twice the events.
     */
    "compression.type",
    "lz4",
    /*
     * One row is one message, and a row image may be far larger than
     * librdkafka's 1,000,000-byte default (a 1 MiB LONGBLOB, before and after
     * images of an update): let the broker's and topic's limits decide.
     */
    "message.max.bytes",
    FERRY_KAFKA_MAX_MESSAGE,
    NULL,
};

static const char *const consumer_defaults[] = {
    /* the mock broker does not answer a waiting fetch early: keep waits short */
    "fetch.wait.max.ms",
    "20",
    "enable.auto.commit",
    "false",
    "enable.auto.offset.store",
    "false",
    "isolation.level",
    "read_committed",
    /* never skip data silently: an offset no longer in the log is an error */
    "auto.offset.reset",
    "error",
    "enable.partition.eof",
    "false",
    /* a restarted member gets its partitions back in seconds, not 45 s */
    "session.timeout.ms",
    "10000",
    "heartbeat.interval.ms",
    "1000",
    /* prefetch at most 16 MB (librdkafka's default is 64 MB): services stay small */
    "queued.max.messages.kbytes",
    "16384",
    NULL,
};

/* ---- errors ---------------------------------------------------------- */

int ferry_kafka_err_class(int kafka_err)
{
    switch ((rd_kafka_resp_err_t)kafka_err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    /* local, transient */
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__PREV_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__OUTDATED:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    /* broker, transient */
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NOT_CONTROLLER:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_INVALID_FETCH_SESSION_EPOCH:
    case RD_KAFKA_RESP_ERR_LISTENER_NOT_FOUND:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_PREFERRED_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_UNSTABLE_OFFSET_COMMIT:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
        return FERRY_ERR_RETRIABLE;
    default:
        /* fencing, authorization, out of range, invalid records, ... */
        return FERRY_ERR_FATAL;
    }
}

int ferry_kafka_watermarks(rd_kafka_t *rk, const char *topic, int32_t partition, int timeout_ms,
                           int64_t *low, int64_t *high)
{
    int64_t deadline = ferry_mono_ms() + timeout_ms;
    for (;;) {
        int left = (int)(deadline - ferry_mono_ms());
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic, partition, low, high, left > 0 ? left : 1);
        if (!err || ferry_kafka_err_class(err) != FERRY_ERR_RETRIABLE ||
            err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
            err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || deadline - ferry_mono_ms() < 100)
            return err;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Maps an rd_kafka_error_t to a ferry code, writes "could not <what>: <reason>", frees it. */
static int error_take(rd_kafka_error_t *error, const char *what, char *errstr, size_t errstr_size)
{
    int code;
    if (rd_kafka_error_is_fatal(error))
        code = FERRY_ERR_FATAL;
    else if (rd_kafka_error_is_retriable(error) || rd_kafka_error_txn_requires_abort(error))
        code = FERRY_ERR_RETRIABLE;
    else
        code = ferry_kafka_err_class(rd_kafka_error_code(error));
    ferry_err_set(errstr, errstr_size, code, "could not %s: %s", what,
                  rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return code;
}

/* ---- configuration --------------------------------------------------- */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    ferry_log_level_t l = level <= 3   ? FERRY_LOG_ERROR
                          : level == 4 ? FERRY_LOG_WARN
                          : level <= 6 ? FERRY_LOG_INFO
                                       : FERRY_LOG_DEBUG;
    char client[128];
    ferry_log(l, buf, "kafka_client=%s kafka_facility=%s",
              ferry_log_quote(rd_kafka_name(rk), client, sizeof(client)), fac);
}

/* For probes: their verdict is the return value, so the client stays silent. */
static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static void quiet_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)err;
    (void)reason;
    (void)opaque;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    char client[128], q[512];
    ferry_log(err == RD_KAFKA_RESP_ERR__FATAL ? FERRY_LOG_ERROR : FERRY_LOG_WARN,
              "kafka client error", "kafka_client=%s code=%s reason=%s",
              ferry_log_quote(rd_kafka_name(rk), client, sizeof(client)),
              rd_kafka_err2name((rd_kafka_resp_err_t)err), ferry_log_quote(reason, q, sizeof(q)));
}

static int conf_set_all(rd_kafka_conf_t *conf, const char *const *kv, char *errstr,
                        size_t errstr_size)
{
    for (size_t i = 0; kv && kv[i]; i += 2) {
        if (!kv[i + 1])
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not set Kafka property \"%s\": no value given", kv[i]);
        char why[256];
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], why, sizeof(why)) != RD_KAFKA_CONF_OK)
            /* the value is not echoed: it may be a password */
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not set Kafka property \"%s\": %s", kv[i], why);
    }
    return 0;
}

/*
 * Builds a configuration: common defaults, then role defaults, then props.
 * Returns NULL with errstr set on a bad property.
 */
static rd_kafka_conf_t *conf_build(const char *const *role_defaults, const char *const *props,
                                   char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    if (conf_set_all(conf, common_defaults, errstr, errstr_size) ||
        conf_set_all(conf, role_defaults, errstr, errstr_size) ||
        conf_set_all(conf, props, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* The bootstrap.servers value in props (the last one wins), for messages. */
static const char *bootstrap_of(const char *const *props)
{
    const char *servers = NULL;
    for (size_t i = 0; props && props[i] && props[i + 1]; i += 2)
        if (!strcmp(props[i], "bootstrap.servers") || !strcmp(props[i], "metadata.broker.list"))
            servers = props[i + 1];
    return servers ? servers : "(bootstrap.servers not set)";
}

/*
 * A plain client for metadata and admin requests; NULL with errstr on
 * failure. A quiet client logs nothing (a probe reports through its result).
 */
static rd_kafka_t *admin_client_new(const char *const *props, int quiet, char *errstr,
                                    size_t errstr_size)
{
    /* the admin client needs none of the producer's delivery defaults */
    static const char *const none[] = {NULL};
    rd_kafka_conf_t *conf = conf_build(none, props, errstr, errstr_size);
    if (!conf)
        return NULL;
    if (quiet) {
        rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
        rd_kafka_conf_set_error_cb(conf, quiet_error_cb);
    }
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                      "could not create Kafka client for \"%s\": %s", bootstrap_of(props), why);
    }
    return rk;
}

/* ---- cluster --------------------------------------------------------- */

size_t ferry_kafka_props_check(const char *const *props, ferry_kafka_bad_prop_fn bad, void *opaque)
{
    rd_kafka_conf_t *scratch = rd_kafka_conf_new();
    size_t n = 0;
    for (size_t i = 0; props && props[i]; i += 2) {
        char why[512] = "no value given";
        if (props[i + 1] && rd_kafka_conf_set(scratch, props[i], props[i + 1], why, sizeof(why)) ==
                                RD_KAFKA_CONF_OK)
            continue;
        n++;
        why[strcspn(why, "\r\n")] = '\0'; /* some reasons end with a newline */
        bad(opaque, props[i], why);
        if (!props[i + 1])
            break; /* the array ends here */
    }
    rd_kafka_conf_destroy(scratch);
    return n;
}

int ferry_kafka_probe(const char *const *props, int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = admin_client_new(props, 1, errstr, errstr_size);
    if (!rk)
        return FERRY_ERR_INVALID;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    int rc = 0;
    if (err) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                           "could not reach Kafka at \"%s\": no broker answered within %d ms (%s)",
                           bootstrap_of(props), timeout_ms, rd_kafka_err2str(err));
    } else if (md->broker_cnt == 0) {
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                           "could not reach Kafka at \"%s\": the cluster reported no brokers",
                           bootstrap_of(props));
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return rc;
}

static int create_result(rd_kafka_event_t *ev, const char *topic, int exists_ok, char *errstr,
                         size_t errstr_size)
{
    if (rd_kafka_event_error(ev)) {
        rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
        return ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                             "could not create topic \"%s\": %s", topic,
                             rd_kafka_event_error_string(ev));
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
    size_t cnt = 0;
    const rd_kafka_topic_result_t **results =
        res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
        if (!err || (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS && exists_ok))
            continue;
        const char *why = rd_kafka_topic_result_error_string(results[i]);
        return ferry_err_set(
            errstr, errstr_size,
            err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS ? FERRY_ERR_INVALID
                                                          : ferry_kafka_err_class(err),
            "could not create topic \"%s\": %s", topic, why && *why ? why : rd_kafka_err2str(err));
    }
    return 0;
}

/* Creates topic through the admin API of rk, a client of the cluster named by bootstrap. */
static int topic_create_on(rd_kafka_t *rk, const char *bootstrap, const char *topic, int partitions,
                           int replication_factor, const char *const *configs, int exists_ok,
                           int timeout_ms, char *errstr, size_t errstr_size)
{
    char why[512];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, partitions, replication_factor, why, sizeof(why));
    if (!nt)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not create topic \"%s\": %s", topic, why);
    bool size_set = false;
    for (size_t i = 0; configs && configs[i]; i += 2) {
        size_set |= strcmp(configs[i], "max.message.bytes") == 0;
        if (!configs[i + 1] || rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1])) {
            rd_kafka_NewTopic_destroy(nt);
            return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                                 "could not create topic \"%s\": bad topic config \"%s\"", topic,
                                 configs[i]);
        }
    }
    /*
     * One row is one message: let the topic take what the producers send
     * (message.max.bytes above) instead of a real broker's 1 MB default.
     */
    if (!size_set)
        rd_kafka_NewTopic_set_config(nt, "max.message.bytes", FERRY_KAFKA_MAX_MESSAGE);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, why, sizeof(why));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);

    /* the request times out by itself; the margin only guards against a lost reply */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    int rc;
    if (!ev)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                           "could not create topic \"%s\": no answer from \"%s\" within %d ms",
                           topic, bootstrap, timeout_ms);
    else
        rc = create_result(ev, topic, exists_ok, errstr, errstr_size);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

int ferry_kafka_topic_create(const char *const *props, const char *topic, int partitions,
                             int replication_factor, const char *const *configs, int exists_ok,
                             int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = admin_client_new(props, 0, errstr, errstr_size);
    if (!rk)
        return FERRY_ERR_INVALID;
    int rc = topic_create_on(rk, bootstrap_of(props), topic, partitions, replication_factor,
                             configs, exists_ok, timeout_ms, errstr, errstr_size);
    rd_kafka_destroy(rk);
    return rc;
}

int ferry_kafka_producer_topic_create(ferry_kafka_producer_t *p, const char *topic, int partitions,
                                      int replication_factor, const char *const *configs,
                                      int timeout_ms, char *errstr, size_t errstr_size)
{
    return topic_create_on(p->rk, "the producer's cluster", topic, partitions, replication_factor,
                           configs, 1, timeout_ms, errstr, errstr_size);
}

/* topic's partition count from md into *partitions; FERRY_ERR_NOT_FOUND (errstr) when absent. */
static int partitions_in(const struct rd_kafka_metadata *md, const char *topic, int *partitions,
                         char *errstr, size_t errstr_size)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err) {
            *partitions = md->topics[i].partition_cnt;
            return 0;
        }
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOT_FOUND,
                         "could not describe topic \"%s\": no such topic", topic);
}

/* Metadata of topic (NULL: of all topics) through rk, its partition count into *partitions. */
static int partitions_on(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *topic, int timeout_ms,
                         int *partitions, char *errstr, size_t errstr_size)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, rkt == NULL, rkt, &md, timeout_ms);
    int rc =
        err ? ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                            "could not describe topic \"%s\": %s", topic, rd_kafka_err2str(err))
            : partitions_in(md, topic, partitions, errstr, errstr_size);
    if (md)
        rd_kafka_metadata_destroy(md);
    return rc;
}

int ferry_kafka_topic_partitions(const char *const *props, const char *topic, int timeout_ms,
                                 int *partitions, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk = admin_client_new(props, 0, errstr, errstr_size);
    if (!rk)
        return FERRY_ERR_INVALID;
    /*
     * Ask for all topics: a metadata request naming the topic would create it
     * on brokers that auto-create (the mock always does).
     */
    int rc = partitions_on(rk, NULL, topic, timeout_ms, partitions, errstr, errstr_size);
    rd_kafka_destroy(rk);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const ferry_kafka_topic_count_t *)a)->name,
                  ((const ferry_kafka_topic_count_t *)b)->name);
}

int ferry_kafka_producer_topics(ferry_kafka_producer_t *p, int timeout_ms,
                                ferry_kafka_topic_list_t *list, char *errstr, size_t errstr_size)
{
    memset(list, 0, sizeof(*list));
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 1, NULL, &md, timeout_ms);
    if (err)
        return ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                             "could not list topics: %s", rd_kafka_err2str(err));
    ferry_kafka_topic_count_t *t = calloc((size_t)md->topic_cnt + 1, sizeof(*t));
    size_t n = 0;
    for (int i = 0; t && i < md->topic_cnt; i++) {
        if (!(t[n].name = strdup(md->topics[i].topic)))
            break;
        t[n++].partitions = md->topics[i].err ? 0 : md->topics[i].partition_cnt;
    }
    bool whole = t && n == (size_t)md->topic_cnt;
    rd_kafka_metadata_destroy(md);
    list->topics = t;
    list->n = n;
    if (!whole) {
        ferry_kafka_topic_list_free(list);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    }
    qsort(t, n, sizeof(*t), by_name);
    return 0;
}

int ferry_kafka_topic_list_find(const ferry_kafka_topic_list_t *list, const char *topic)
{
    ferry_kafka_topic_count_t key = {(char *)topic, 0};
    const ferry_kafka_topic_count_t *hit =
        list->n ? bsearch(&key, list->topics, list->n, sizeof(key), by_name) : NULL;
    return hit ? hit->partitions : -1;
}

void ferry_kafka_topic_list_free(ferry_kafka_topic_list_t *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->topics[i].name);
    free(list->topics);
    memset(list, 0, sizeof(*list));
}

/* Metadata of topic asked by name through rk, which also updates rk's leaders for it. */
static int partitions_by_name(rd_kafka_t *rk, const char *topic, int timeout_ms, int *partitions,
                              char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not describe topic \"%s\": %s", topic,
                             rd_kafka_err2str(rd_kafka_last_error()));
    int rc = partitions_on(rk, rkt, topic, timeout_ms, partitions, errstr, errstr_size);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/*
 * Has rk learn topic's leaders: asking for the topic by name (a producer's
 * topics exist), or for every topic (a consumer's may not exist yet, and
 * must not be made by the request).
 */
static void learn_topic(rd_kafka_t *rk, const char *topic, bool by_name, int timeout_ms)
{
    int n;
    char why[512];
    int rc = by_name ? partitions_by_name(rk, topic, timeout_ms, &n, why, sizeof(why))
                     : partitions_on(rk, NULL, topic, timeout_ms, &n, why, sizeof(why));
    if (rc != 0)
        ferry_log_debug("no metadata for the topic yet; the client waits for its next refresh",
                        "topic=%s error=\"%s\"", topic, why);
}

int ferry_kafka_producer_topic_partitions(ferry_kafka_producer_t *p, const char *topic,
                                          int timeout_ms, int *partitions, char *errstr,
                                          size_t errstr_size)
{
    return partitions_by_name(p->rk, topic, timeout_ms, partitions, errstr, errstr_size);
}

void ferry_kafka_producer_learn_topic(ferry_kafka_producer_t *p, const char *topic, int timeout_ms)
{
    learn_topic(p->rk, topic, true, timeout_ms);
}

void ferry_kafka_consumer_learn_topic(ferry_kafka_consumer_t *c, const char *topic, int timeout_ms)
{
    learn_topic(c->rk, topic, false, timeout_ms);
}

/* ---- producer -------------------------------------------------------- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ferry_kafka_producer_t *p = opaque;
    if (!m->err) {
        p->delivered++;
        return;
    }
    p->failed++;
    /* purges follow an abort, which the caller asked for: not a failure to report */
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        return;
    if (p->first_err)
        return;
    /* rd_kafka_message_errstr would read the payload as text here: use the code */
    char fatal[256];
    int code = rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal)) ? FERRY_ERR_FATAL
                                                                 : ferry_kafka_err_class(m->err);
    p->first_err = ferry_err_set(
        p->first_errstr, sizeof(p->first_errstr), code, "could not deliver to \"%s\" [%d]: %s",
        m->rkt ? rd_kafka_topic_name(m->rkt) : "?", (int)m->partition, rd_kafka_err2str(m->err));
}

int ferry_kafka_producer_new(ferry_kafka_producer_t **out, const char *const *props,
                             const char *transactional_id, char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_kafka_producer_t *p = calloc(1, sizeof(*p));
    if (!p)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not create Kafka producer: out of memory");
    rd_kafka_conf_t *conf = conf_build(producer_defaults, props, errstr, errstr_size);
    char why[512];
    if (conf && transactional_id &&
        rd_kafka_conf_set(conf, "transactional.id", transactional_id, why, sizeof(why))) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                      "could not set transactional id \"%s\": %s", transactional_id, why);
        rd_kafka_conf_destroy(conf);
        conf = NULL;
    }
    if (!conf) {
        free(p);
        return FERRY_ERR_INVALID;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not create Kafka producer for \"%s\": %s", bootstrap_of(props),
                             why);
    }
    p->transactional = transactional_id != NULL;
    *out = p;
    return 0;
}

void ferry_kafka_producer_destroy(ferry_kafka_producer_t *p, int flush_timeout_ms)
{
    if (!p)
        return;
    if (flush_timeout_ms > 0)
        rd_kafka_flush(p->rk, flush_timeout_ms);
    /* what is still queued is dropped: its source positions were never acknowledged */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 0);
    rd_kafka_destroy(p->rk);
    free(p);
}

int ferry_kafka_producer_init_transactions(ferry_kafka_producer_t *p, int timeout_ms, char *errstr,
                                           size_t errstr_size)
{
    rd_kafka_error_t *error = rd_kafka_init_transactions(p->rk, timeout_ms);
    return error ? error_take(error, "initialize Kafka transactions", errstr, errstr_size) : 0;
}

int ferry_kafka_producer_begin(ferry_kafka_producer_t *p, char *errstr, size_t errstr_size)
{
    rd_kafka_error_t *error = rd_kafka_begin_transaction(p->rk);
    if (error)
        return error_take(error, "begin Kafka transaction", errstr, errstr_size);
    p->first_err = 0;
    p->in_txn = true;
    return 0;
}

int ferry_kafka_producer_abort(ferry_kafka_producer_t *p, int timeout_ms, char *errstr,
                               size_t errstr_size)
{
    rd_kafka_error_t *error = rd_kafka_abort_transaction(p->rk, timeout_ms);
    rd_kafka_poll(p->rk, 0); /* serve the purge reports of the aborted records */
    p->first_err = 0;
    p->in_txn = error != NULL;
    return error ? error_take(error, "abort Kafka transaction", errstr, errstr_size) : 0;
}

int ferry_kafka_producer_commit(ferry_kafka_producer_t *p, int timeout_ms, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_error_t *error = rd_kafka_commit_transaction(p->rk, timeout_ms);
    if (error && rd_kafka_error_is_retriable(error)) {
        /* librdkafka allows the same commit to be tried again */
        rd_kafka_error_destroy(error);
        error = rd_kafka_commit_transaction(p->rk, timeout_ms);
    }
    if (!error) {
        p->first_err = 0;
        p->in_txn = false;
        return 0;
    }
    char why[512];
    int code = error_take(error, "commit Kafka transaction", why, sizeof(why));
    if (code == FERRY_ERR_FATAL)
        return ferry_err_set(errstr, errstr_size, code, "%s", why);

    char abort_why[512];
    if (ferry_kafka_producer_abort(p, timeout_ms, abort_why, sizeof(abort_why)) != 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "%s; then %s; the producer must be created again", why, abort_why);
    return ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                         "%s; the transaction was aborted and must be produced again", why);
}

static rd_kafka_headers_t *headers_build(const ferry_kafka_record_t *rec)
{
    if (!rec->header_cnt)
        return NULL;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(rec->header_cnt);
    for (size_t i = 0; i < rec->header_cnt; i++)
        rd_kafka_header_add(hdrs, rec->headers[i].name, -1, rec->headers[i].value,
                            rec->headers[i].value ? (ssize_t)rec->headers[i].value_len : 0);
    return hdrs;
}

int ferry_kafka_produce(ferry_kafka_producer_t *p, const ferry_kafka_record_t *rec, char *errstr,
                        size_t errstr_size)
{
    rd_kafka_resp_err_t err;
    for (int attempt = 0;; attempt++) {
        rd_kafka_headers_t *hdrs = headers_build(rec);
        err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(rec->topic), RD_KAFKA_V_PARTITION(rec->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(rec->key, rec->key ? rec->key_len : 0),
            RD_KAFKA_V_VALUE((void *)rec->value, rec->value ? rec->value_len : 0),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!err)
            return 0;
        /* librdkafka took the headers only on success */
        if (hdrs)
            rd_kafka_headers_destroy(hdrs);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || attempt >= 10)
            break;
        rd_kafka_poll(p->rk, 100); /* let deliveries make room */
    }
    /*
     * _STATE inside a transaction: the transaction failed (a broker refused to
     * add a partition to it, say) and takes no more records until aborted;
     * outside one, a transactional producer used without a transaction: a
     * caller bug.
     */
    if (err == RD_KAFKA_RESP_ERR__STATE && p->in_txn)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_ABORTED,
                             "could not produce to \"%s\": the Kafka transaction failed and must "
                             "be aborted and produced again",
                             rec->topic);
    int code = err == RD_KAFKA_RESP_ERR__STATE ? FERRY_ERR_INVALID : ferry_kafka_err_class(err);
    return ferry_err_set(errstr, errstr_size, code, "could not produce to \"%s\": %s", rec->topic,
                         rd_kafka_err2str(err));
}

int ferry_kafka_producer_poll(ferry_kafka_producer_t *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

int ferry_kafka_producer_flush(ferry_kafka_producer_t *p, int timeout_ms, char *errstr,
                               size_t errstr_size)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
    char fatal[256];
    if (rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal)))
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not produce: the producer failed for good: %s", fatal);
    if (p->first_err) {
        int code = p->first_err;
        p->first_err = 0;
        return ferry_err_set(errstr, errstr_size, code, "%s", p->first_errstr);
    }
    if (err)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                             "could not flush producer: %d record(s) still in flight after %d ms",
                             rd_kafka_outq_len(p->rk), timeout_ms);
    return 0;
}

void ferry_kafka_producer_counts(const ferry_kafka_producer_t *p, uint64_t *delivered,
                                 uint64_t *failed)
{
    if (delivered)
        *delivered = p->delivered;
    if (failed)
        *failed = p->failed;
}

/* ---- consumer -------------------------------------------------------- */

static rd_kafka_topic_partition_list_t *tp_list(const ferry_kafka_tp_t *tps, size_t cnt)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)cnt);
    for (size_t i = 0; i < cnt; i++)
        rd_kafka_topic_partition_list_add(l, tps[i].topic, tps[i].partition)->offset =
            tps[i].offset;
    return l;
}

/* Sets each newly assigned partition's start offset: committed, else the beginning. */
static void assign_offsets(ferry_kafka_consumer_t *c, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, parts, 10000);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        if (err) /* let librdkafka fetch the committed offset itself */
            tp->offset = RD_KAFKA_OFFSET_STORED;
        else if (tp->err || tp->offset < 0)
            tp->offset = RD_KAFKA_OFFSET_BEGINNING;
        if (c->rebalance.on_assign)
            c->rebalance.on_assign(c->rebalance.opaque, tp->topic, tp->partition, &tp->offset);
    }
    if (err)
        ferry_log_warn("could not fetch committed offsets at assignment", "group=%s reason=\"%s\"",
                       c->group_id, rd_kafka_err2str(err));
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ferry_kafka_consumer_t *c = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    rd_kafka_error_t *error = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign_offsets(c, parts);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (c->rebalance.on_assigned && !error)
            c->rebalance.on_assigned(c->rebalance.opaque, (size_t)parts->cnt);
    } else {
        for (int i = 0; c->rebalance.on_revoke && i < parts->cnt; i++)
            c->rebalance.on_revoke(c->rebalance.opaque, parts->elems[i].topic,
                                   parts->elems[i].partition);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            rd_kafka_assign(rk, NULL);
    }
    if (error) {
        ferry_log_error("could not change partition assignment", "group=%s reason=\"%s\"",
                        c->group_id, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    }
}

/* A numeric property of rk's configuration, or fallback. */
static long long conf_number(rd_kafka_t *rk, const char *name, long long fallback)
{
    char buf[64];
    size_t n = sizeof(buf);
    if (rd_kafka_conf_get(rd_kafka_conf(rk), name, buf, &n) != RD_KAFKA_CONF_OK)
        return fallback;
    char *end;
    long long v = strtoll(buf, &end, 10);
    return end != buf && v > 0 ? v : fallback;
}

int ferry_kafka_consumer_new(ferry_kafka_consumer_t **out, const char *group_id,
                             const char *const *props, const ferry_kafka_rebalance_t *rebalance,
                             char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_kafka_consumer_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->group_id = strdup(group_id))) {
        free(c);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not create Kafka consumer: out of memory");
    }
    if (rebalance)
        c->rebalance = *rebalance;
    char why[512];
    rd_kafka_conf_t *conf = conf_build(consumer_defaults, props, errstr, errstr_size);
    if (conf && rd_kafka_conf_set(conf, "group.id", group_id, why, sizeof(why))) {
        ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                      "could not set consumer group \"%s\": %s", group_id, why);
        rd_kafka_conf_destroy(conf);
        conf = NULL;
    }
    if (!conf) {
        free(c->group_id);
        free(c);
        return FERRY_ERR_INVALID;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        free(c->group_id);
        free(c);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not create Kafka consumer for \"%s\": %s", bootstrap_of(props),
                             why);
    }
    rd_kafka_poll_set_consumer(c->rk);
    c->queue = rd_kafka_queue_get_consumer(c->rk);
    c->fetch_stop_msgs = (size_t)conf_number(c->rk, "queued.min.messages", 100000);
    c->fetch_stop_bytes = (size_t)conf_number(c->rk, "queued.max.messages.kbytes", 65536) * 1024;
    *out = c;
    return 0;
}

void ferry_kafka_consumer_destroy(ferry_kafka_consumer_t *c)
{
    if (!c)
        return;
    if (c->queue)
        rd_kafka_queue_destroy(c->queue);
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c->group_id);
    free(c);
}

int ferry_kafka_consumer_subscribe(ferry_kafka_consumer_t *c, const char *const *topics,
                                   size_t topic_cnt, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)topic_cnt);
    for (size_t i = 0; i < topic_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not subscribe group \"%s\" to %zu topic(s): %s", c->group_id,
                             topic_cnt, rd_kafka_err2str(err));
    return 0;
}

int ferry_kafka_consumer_assign(ferry_kafka_consumer_t *c, const ferry_kafka_tp_t *tps,
                                size_t tp_cnt, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = tp_list(tps, tp_cnt);
    rd_kafka_resp_err_t err = rd_kafka_assign(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not assign %zu partition(s) to group \"%s\": %s", tp_cnt,
                             c->group_id, rd_kafka_err2str(err));
    return 0;
}

int ferry_kafka_consumer_assign_change(ferry_kafka_consumer_t *c, const ferry_kafka_tp_t *add,
                                       size_t add_cnt, const ferry_kafka_tp_t *remove,
                                       size_t remove_cnt, char *errstr, size_t errstr_size)
{
    rd_kafka_error_t *error = NULL;
    if (remove_cnt) {
        rd_kafka_topic_partition_list_t *l = tp_list(remove, remove_cnt);
        error = rd_kafka_incremental_unassign(c->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    if (!error && add_cnt) {
        rd_kafka_topic_partition_list_t *l = tp_list(add, add_cnt);
        error = rd_kafka_incremental_assign(c->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    if (!error)
        return 0;
    int rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                           "could not change the assignment of group \"%s\" (+%zu -%zu "
                           "partitions): %s",
                           c->group_id, add_cnt, remove_cnt, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return rc;
}

/* The error a consumer reports through poll, as a ferry code and message. */
static int consume_error(const rd_kafka_message_t *m, rd_kafka_t *rk, char *errstr,
                         size_t errstr_size)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    /* the same error code also means "no committed offset to start from": offset is logical */
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->offset < 0)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "could not start reading \"%s\" [%d]: the group has no committed "
                             "offset and auto.offset.reset is \"error\"; give a start offset (%s)",
                             topic ? topic : "?", (int)m->partition, rd_kafka_message_errstr(m));
    if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
        m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_FATAL,
                             "offset out of range on \"%s\" [%d]: the data expired from Kafka "
                             "before it was applied; copy the table(s) of this topic again (%s)",
                             topic ? topic : "?", (int)m->partition, rd_kafka_message_errstr(m));
    char fatal[256];
    int code = ferry_kafka_err_class(m->err);
    if (m->err == RD_KAFKA_RESP_ERR__FATAL || rd_kafka_fatal_error(rk, fatal, sizeof(fatal)))
        code = FERRY_ERR_FATAL;
    if (topic)
        return ferry_err_set(errstr, errstr_size, code, "could not consume from \"%s\" [%d]: %s",
                             topic, (int)m->partition, rd_kafka_message_errstr(m));
    return ferry_err_set(errstr, errstr_size, code, "could not consume: %s",
                         rd_kafka_message_errstr(m));
}

int ferry_kafka_consumer_poll(ferry_kafka_consumer_t *c, int timeout_ms, ferry_kafka_msg_t **msg,
                              char *errstr, size_t errstr_size)
{
    *msg = NULL;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!m)
        return 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        rd_kafka_message_destroy(m);
        return 0;
    }
    if (m->err) {
        int rc = consume_error(m, c->rk, errstr, errstr_size);
        rd_kafka_message_destroy(m);
        return rc;
    }
    ferry_kafka_msg_t *out = malloc(sizeof(*out));
    if (!out) {
        rd_kafka_message_destroy(m);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM,
                             "could not consume: out of memory");
    }
    rd_kafka_timestamp_type_t tstype;
    out->topic = rd_kafka_topic_name(m->rkt);
    out->partition = m->partition;
    out->offset = m->offset;
    out->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    out->key = m->key;
    out->key_len = m->key_len;
    out->value = m->payload;
    out->value_len = m->len;
    out->priv = m;
    *msg = out;
    return 0;
}

/* First per-partition error of a list, or 0. */
static rd_kafka_resp_err_t list_err(const rd_kafka_topic_partition_list_t *l, const char **topic,
                                    int32_t *partition)
{
    for (int i = 0; i < l->cnt; i++) {
        if (l->elems[i].err) {
            *topic = l->elems[i].topic;
            *partition = l->elems[i].partition;
            return l->elems[i].err;
        }
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

int ferry_kafka_consumer_commit(ferry_kafka_consumer_t *c, const ferry_kafka_tp_t *tps,
                                size_t tp_cnt, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = tp_list(tps, tp_cnt);
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, l, 0);
    const char *topic = NULL;
    int32_t partition = -1;
    int rc = 0;
    if (err)
        rc = ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                           "could not commit offsets of group \"%s\": %s", c->group_id,
                           rd_kafka_err2str(err));
    else if ((err = list_err(l, &topic, &partition)))
        rc = ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                           "could not commit offset of \"%s\" [%d] for group \"%s\": %s", topic,
                           (int)partition, c->group_id, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int ferry_kafka_consumer_committed(ferry_kafka_consumer_t *c, ferry_kafka_tp_t *tps, size_t tp_cnt,
                                   int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = tp_list(tps, tp_cnt);
    rd_kafka_resp_err_t err = rd_kafka_committed(c->rk, l, timeout_ms);
    int rc = 0;
    if (err) {
        rc = ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                           "could not fetch committed offsets of group \"%s\": %s", c->group_id,
                           rd_kafka_err2str(err));
    } else {
        /* librdkafka keeps the order of the list it was given */
        for (size_t i = 0; i < tp_cnt; i++)
            tps[i].offset = l->elems[i].err || l->elems[i].offset < 0 ? FERRY_KAFKA_OFFSET_INVALID
                                                                      : l->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int ferry_kafka_consumer_seek(ferry_kafka_consumer_t *c, const char *topic, int32_t partition,
                              int64_t offset, int timeout_ms, char *errstr, size_t errstr_size)
{
    ferry_kafka_tp_t tp = {topic, partition, offset};
    rd_kafka_topic_partition_list_t *l = tp_list(&tp, 1);
    rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, l, timeout_ms);
    int rc = 0;
    char what[512];
    snprintf(what, sizeof(what), "seek \"%s\" [%d] to offset %lld", topic, (int)partition,
             (long long)offset);
    if (error) {
        rc = error_take(error, what, errstr, errstr_size);
    } else if (l->elems[0].err) {
        rd_kafka_resp_err_t err = l->elems[0].err;
        rc = ferry_err_set(errstr, errstr_size,
                           err == RD_KAFKA_RESP_ERR__STATE ? FERRY_ERR_INVALID
                                                           : ferry_kafka_err_class(err),
                           "could not %s: %s", what, rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int ferry_kafka_consumer_end(ferry_kafka_consumer_t *c, const char *topic, int32_t partition,
                             int timeout_ms, int64_t *position, int64_t *high, char *errstr,
                             size_t errstr_size)
{
    int64_t low = 0;
    rd_kafka_resp_err_t err =
        ferry_kafka_watermarks(c->rk, topic, partition, timeout_ms, &low, high);
    if (err)
        return ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                             "could not read the end of \"%s\" [%d]: %s", topic, (int)partition,
                             rd_kafka_err2str(err));
    ferry_kafka_tp_t tp = {topic, partition, 0};
    rd_kafka_topic_partition_list_t *l = tp_list(&tp, 1);
    err = rd_kafka_position(c->rk, l);
    *position = err ? FERRY_KAFKA_OFFSET_INVALID : l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return 0;
}

/*
 * Asks the leaders for the end of every partition of l (one ListOffsets
 * request per broker): a "timestamp" of RD_KAFKA_OFFSET_END asks for the
 * latest offset. Each element's offset becomes its end.
 */
static rd_kafka_resp_err_t ask_ends(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l,
                                    int timeout_ms)
{
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = RD_KAFKA_OFFSET_END;
    return rd_kafka_offsets_for_times(rk, l, timeout_ms);
}

size_t ferry_kafka_consumer_queued(ferry_kafka_consumer_t *c, size_t *stop_msgs, size_t *stop_bytes)
{
    if (stop_msgs)
        *stop_msgs = c->fetch_stop_msgs;
    if (stop_bytes)
        *stop_bytes = c->fetch_stop_bytes;
    return c->queue ? rd_kafka_queue_length(c->queue) : 0;
}

void ferry_kafka_consumer_wake_fetchers(ferry_kafka_consumer_t *c, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) != RD_KAFKA_RESP_ERR_NO_ERROR || !l)
        return;
    rd_kafka_resp_err_t err = l->cnt ? ask_ends(c->rk, l, timeout_ms) : 0;
    if (err)
        ferry_log_debug("could not wake the fetchers; they fetch on their own later",
                        "group=%s error=\"%s\"", c->group_id, rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(l);
}

int ferry_kafka_consumer_ends(ferry_kafka_consumer_t *c, const ferry_kafka_tp_t *tps, size_t n,
                              int timeout_ms, int64_t *position, int64_t *high, char *errstr,
                              size_t errstr_size)
{
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *ends = tp_list(tps, n), *at = tp_list(tps, n);
    int rc = 0;
    rd_kafka_resp_err_t err = ask_ends(c->rk, ends, timeout_ms);
    for (int i = 0; !err && i < ends->cnt; i++)
        if (ends->elems[i].err) {
            err = ends->elems[i].err;
            rc = ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                               "could not read the end of \"%s\" [%d]: %s", ends->elems[i].topic,
                               (int)ends->elems[i].partition, rd_kafka_err2str(err));
        }
    if (err && rc == 0)
        rc = ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                           "could not read the ends of %zu partitions of \"%s\": %s", n,
                           tps[0].topic, rd_kafka_err2str(err));
    if (rc == 0) {
        rd_kafka_resp_err_t perr = rd_kafka_position(c->rk, at);
        for (size_t i = 0; i < n; i++) {
            high[i] = ends->elems[i].offset;
            position[i] =
                perr || at->elems[i].err ? FERRY_KAFKA_OFFSET_INVALID : at->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(ends);
    rd_kafka_topic_partition_list_destroy(at);
    return rc;
}

/* ---- messages -------------------------------------------------------- */

int ferry_kafka_msg_header(const ferry_kafka_msg_t *msg, size_t idx, const char **name,
                           const void **value, size_t *value_len)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(msg->priv, &hdrs) || !hdrs)
        return FERRY_ERR_NOT_FOUND;
    if (rd_kafka_header_get_all(hdrs, idx, name, value, value_len))
        return FERRY_ERR_NOT_FOUND;
    return 0;
}

void ferry_kafka_msg_destroy(ferry_kafka_msg_t *msg)
{
    if (!msg)
        return;
    rd_kafka_message_destroy(msg->priv);
    free(msg);
}

int ferry_kafka_consumer_pause(ferry_kafka_consumer_t *c, const char *topic, int32_t partition,
                               bool pause, char *errstr, size_t errstr_size)
{
    ferry_kafka_tp_t tp = {topic, partition, 0};
    rd_kafka_topic_partition_list_t *l = tp_list(&tp, 1);
    rd_kafka_resp_err_t err =
        pause ? rd_kafka_pause_partitions(c->rk, l) : rd_kafka_resume_partitions(c->rk, l);
    if (!err)
        err = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return ferry_err_set(errstr, errstr_size, ferry_kafka_err_class(err),
                             "could not %s \"%s\" [%d]: %s", pause ? "pause" : "resume", topic,
                             (int)partition, rd_kafka_err2str(err));
    return 0;
}

/* ---- reading a whole partition -------------------------------------------- */

int ferry_kafka_read_partition(const char *const *props, const char *topic, int32_t partition,
                               int timeout_ms, ferry_kafka_each_fn fn, void *arg, char *errstr,
                               size_t errstr_size)
{
    /* a private, group-less reader: nothing is committed anywhere */
    static const char *const reader_defaults[] = {"fetch.wait.max.ms",
                                                  "20",
                                                  "enable.auto.commit",
                                                  "false",
                                                  "isolation.level",
                                                  "read_committed",
                                                  "group.id",
                                                  "ferry-reader",
                                                  "enable.partition.eof",
                                                  "false",
                                                  NULL};
    rd_kafka_conf_t *conf = conf_build(reader_defaults, props, errstr, errstr_size);
    if (!conf)
        return FERRY_ERR_INVALID;
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_INVALID,
                             "could not create a reader for \"%s\": %s", topic, why);
    }
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err = ferry_kafka_watermarks(rk, topic, partition, timeout_ms, &lo, &hi);
    int rc = 0;
    if (err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        hi = lo = 0; /* no topic yet: nothing to read */
    else if (err)
        rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                           "could not read the end of \"%s\" [%d]: %s", topic, (int)partition,
                           rd_kafka_err2str(err));
    if (rc == 0 && hi > lo) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition)->offset = lo;
        err = rd_kafka_assign(rk, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (err)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                               "could not read \"%s\" [%d]: %s", topic, (int)partition,
                               rd_kafka_err2str(err));
        int64_t next = lo;
        int idle_ms = 0;
        /* transaction markers occupy offsets too: stop when the position passes hi */
        while (rc == 0 && next < hi && idle_ms < timeout_ms) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
            if (!m) {
                idle_ms += 100;
                rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(pos, topic, partition);
                if (rd_kafka_position(rk, pos) == 0 && pos->elems[0].offset >= hi)
                    next = hi;
                rd_kafka_topic_partition_list_destroy(pos);
                continue;
            }
            idle_ms = 0;
            if (m->err) {
                rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_RETRIABLE,
                                   "could not read \"%s\" [%d]: %s", topic, (int)partition,
                                   rd_kafka_message_errstr(m));
            } else {
                rd_kafka_timestamp_type_t tstype;
                ferry_kafka_msg_t msg = {.topic = topic,
                                         .partition = m->partition,
                                         .offset = m->offset,
                                         .timestamp_ms = rd_kafka_message_timestamp(m, &tstype),
                                         .key = m->key,
                                         .key_len = m->key_len,
                                         .value = m->payload,
                                         .value_len = m->len,
                                         .priv = m};
                next = m->offset + 1;
                rc = fn(arg, &msg);
            }
            rd_kafka_message_destroy(m);
        }
        if (rc == 0 && next < hi)
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_TIMEOUT,
                               "could not read \"%s\" [%d] to its end within %d ms", topic,
                               (int)partition, timeout_ms);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
