/*
 * fullload_tasks.c - one membership of the worker group for all the worker
 * threads of a process (fullload.h, "task source").
 *
 * Threads take tasks one at a time from the shared consumer. Within a
 * partition they may finish out of order, so a finished task's offset is
 * committed only once every task taken before it from that partition is
 * finished too: the committed offset never passes a task still being
 * copied (or one that failed), which the next owner of the partition then
 * gets again.
 */
#include "fullload.h"

#include "err.h"
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t partition;
    int64_t offset;
    bool done; /* copied or skipped; committed once nothing taken before it is open */
} taken_t;

struct ferry_fullload_tasks {
    ferry_kafka_consumer_t *consumer;
    pthread_mutex_t poll_lock; /* one poller at a time; a task is listed before it is released */
    pthread_mutex_t lock;      /* taken[] and the commits made from it */
    taken_t *taken;
    size_t n, cap;
};

int ferry_fullload_tasks_new(const char *project, const char *const *kafka_props,
                             ferry_fullload_tasks_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    ferry_fullload_tasks_t *t = calloc(1, sizeof(*t));
    if (!t)
        return ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&t->poll_lock, NULL);
    pthread_mutex_init(&t->lock, NULL);
    char group[300], topic[300];
    snprintf(group, sizeof(group), "ferry.%s.fullload", project);
    ferry_fullload_tasks_topic(project, topic, sizeof(topic));
    const char *topics[] = {topic};
    int rc = ferry_kafka_consumer_new(&t->consumer, group, kafka_props, NULL, errstr, errstr_size);
    if (!rc)
        rc = ferry_kafka_consumer_subscribe(t->consumer, topics, 1, errstr, errstr_size);
    if (rc) {
        ferry_fullload_tasks_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

void ferry_fullload_tasks_destroy(ferry_fullload_tasks_t *t)
{
    if (!t)
        return;
    ferry_kafka_consumer_destroy(t->consumer); /* leaves the group */
    pthread_mutex_destroy(&t->poll_lock);
    pthread_mutex_destroy(&t->lock);
    free(t->taken);
    free(t);
}

int ferry_fullload_tasks_take(ferry_fullload_tasks_t *t, int timeout_ms, ferry_kafka_msg_t **msg,
                              char *errstr, size_t errstr_size)
{
    *msg = NULL;
    pthread_mutex_lock(&t->poll_lock);
    int rc = ferry_kafka_consumer_poll(t->consumer, timeout_ms, msg, errstr, errstr_size);
    if (!rc && *msg) {
        pthread_mutex_lock(&t->lock);
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 8;
            taken_t *grown = realloc(t->taken, cap * sizeof(*grown));
            if (grown) {
                t->taken = grown;
                t->cap = cap;
            }
        }
        if (t->n < t->cap)
            t->taken[t->n++] = (taken_t){(*msg)->partition, (*msg)->offset, false};
        else
            rc = ferry_err_set(errstr, errstr_size, FERRY_ERR_NOMEM, "out of memory");
        pthread_mutex_unlock(&t->lock);
        if (rc) {
            ferry_kafka_msg_destroy(*msg);
            *msg = NULL;
        }
    }
    pthread_mutex_unlock(&t->poll_lock);
    return rc;
}

/*
 * The offset to commit for partition after a task of it finished: one past
 * the highest finished task below the lowest open one, those entries
 * dropped; -1 when an open task comes first.
 */
static int64_t committable(ferry_fullload_tasks_t *t, int32_t partition)
{
    int64_t open = INT64_MAX, upto = -1;
    for (size_t i = 0; i < t->n; i++)
        if (t->taken[i].partition == partition && !t->taken[i].done && t->taken[i].offset < open)
            open = t->taken[i].offset;
    size_t kept = 0;
    for (size_t i = 0; i < t->n; i++) {
        taken_t e = t->taken[i];
        if (e.partition == partition && e.done && e.offset < open) {
            if (e.offset + 1 > upto)
                upto = e.offset + 1;
        } else {
            t->taken[kept++] = e;
        }
    }
    t->n = kept;
    return upto;
}

void ferry_fullload_tasks_finish(ferry_fullload_tasks_t *t, const ferry_kafka_msg_t *m, bool ok)
{
    if (!ok)
        return; /* stays open: nothing past it in its partition is committed by this process */
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n; i++)
        if (t->taken[i].partition == m->partition && t->taken[i].offset == m->offset &&
            !t->taken[i].done) {
            t->taken[i].done = true;
            break;
        }
    int64_t upto = committable(t, m->partition);
    if (upto >= 0) {
        ferry_kafka_tp_t tp = {m->topic, m->partition, upto};
        char why[512];
        if (ferry_kafka_consumer_commit(t->consumer, &tp, 1, why, sizeof(why)) != 0)
            ferry_log_warn("could not commit the tasks offset; the next owner will skip the "
                           "finished tasks",
                           "topic=%s partition=%d offset=%lld error=\"%s\"", m->topic,
                           (int)m->partition, (long long)upto, why);
    }
    pthread_mutex_unlock(&t->lock);
}
