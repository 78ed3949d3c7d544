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
 *
 * Head start: a broker holds a new group's first join about 3 s
 * (group.initial.rebalance.delay.ms; librdkafka's mock likewise), and the
 * tasks the planner writes meanwhile would wait. In a group that has
 * committed nothing yet (a project's first run), until the group first
 * assigns this member its partitions, tasks are read from every partition
 * of the tasks topic without the group. When the group then hands this
 * member one of those tasks it is not handed out again: it is finished (or
 * will be) by the thread copying it, and its offset is committed like any
 * other. Offsets are committed only for tasks the group handed this member;
 * a task read early from a partition that went to another member is copied
 * there too (every process started in those first seconds copies the tasks
 * it read early: at most the planner's 16 open tasks each), and the
 * done-markers (the first one decides) keep the copies counting once.
 */
#include "fullload.h"

#include "clock.h"
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
    bool done;    /* copied or skipped; committed once nothing taken before it is open */
    bool failed;  /* finished not ok: open, and handed out again if the group brings it */
    bool grouped; /* handed to this member by the group: its offset may be committed */
} taken_t;

struct ferry_fullload_tasks {
    ferry_kafka_consumer_t *consumer;
    ferry_kafka_consumer_t *early; /* head start reader, or NULL when there was none */
    bool early_over;               /* the head start ended: early reads nothing more */
    bool assigned;                 /* the group assigned this member partitions once */
    pthread_mutex_t poll_lock; /* one poller at a time; a task is listed before it is released */
    pthread_mutex_t lock;      /* taken[] and the commits made from it, the counts */
    taken_t *taken;
    size_t n, cap;
    size_t n_early;  /* tasks handed out before the group assigned partitions */
    size_t n_caught; /* of those, the ones the group then handed this member */
};

/* The group's first assignment ends the head start, even one without partitions. */
static void on_assigned(void *opaque, size_t partitions)
{
    (void)partitions;
    ((ferry_fullload_tasks_t *)opaque)->assigned = true;
}

/*
 * The head start reader: every partition of the tasks topic from its
 * beginning, for a group that has committed no offset yet (a project's
 * first run). A group that has (a restart, a member joining a running
 * group) waits for its assignment: its members are copying tasks, which a
 * head start would copy again. Without a reader (no topic yet, Kafka not
 * answering) the tasks wait for the group too.
 */
static void early_open(ferry_fullload_tasks_t *t, const char *group, const char *topic,
                       const char *const *kafka_props)
{
    char why[512];
    int parts = 0;
    if (ferry_kafka_topic_partitions(kafka_props, topic, 5000, &parts, why, sizeof(why)) != 0 ||
        parts <= 0) {
        ferry_log_debug("no head start for the full-load tasks", "topic=%s reason=\"%s\"", topic,
                        parts <= 0 ? "no partitions" : why);
        return;
    }
    ferry_kafka_tp_t *tps = calloc((size_t)parts, sizeof(*tps));
    int rc = tps ? 0 : FERRY_ERR_NOMEM;
    for (int i = 0; !rc && i < parts; i++)
        tps[i] = (ferry_kafka_tp_t){topic, i, 0};
    /*
     * A client of the group that never joins it: its offset fetch is
     * answered at once, where the joining member's waits for the join.
     */
    if (!rc)
        rc = ferry_kafka_consumer_new(&t->early, group, kafka_props, NULL, why, sizeof(why));
    if (!rc)
        rc = ferry_kafka_consumer_committed(t->early, tps, (size_t)parts, 5000, why, sizeof(why));
    for (int i = 0; !rc && i < parts; i++) {
        if (tps[i].offset >= 0) {
            rc = ferry_err_set(why, sizeof(why), FERRY_ERR_INVALID,
                               "the group has committed offsets: its members are at work");
            break;
        }
        tps[i].offset = FERRY_KAFKA_OFFSET_BEGINNING;
    }
    if (!rc) {
        /* the planner writes its first tasks within milliseconds: fetch at once */
        ferry_kafka_consumer_learn_topic(t->early, topic, 5000);
        rc = ferry_kafka_consumer_assign(t->early, tps, (size_t)parts, why, sizeof(why));
    }
    if (rc) {
        ferry_log_debug("no head start for the full-load tasks", "topic=%s reason=\"%s\"", topic,
                        rc == FERRY_ERR_NOMEM ? "out of memory" : why);
        ferry_kafka_consumer_destroy(t->early);
        t->early = NULL;
    }
    free(tps);
}

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
    ferry_kafka_rebalance_t hooks = {.on_assigned = on_assigned, .opaque = t};
    int rc =
        ferry_kafka_consumer_new(&t->consumer, group, kafka_props, &hooks, errstr, errstr_size);
    if (!rc)
        rc = ferry_kafka_consumer_subscribe(t->consumer, topics, 1, errstr, errstr_size);
    if (!rc)
        early_open(t, group, topic, kafka_props);
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
    ferry_kafka_consumer_destroy(t->early);    /* its messages were freed before (fullload.h) */
    ferry_kafka_consumer_destroy(t->consumer); /* leaves the group */
    pthread_mutex_destroy(&t->poll_lock);
    pthread_mutex_destroy(&t->lock);
    free(t->taken);
    free(t);
}

/* taken[] of (partition, offset), or NULL. */
static taken_t *find(ferry_fullload_tasks_t *t, int32_t partition, int64_t offset)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->taken[i].partition == partition && t->taken[i].offset == offset)
            return &t->taken[i];
    return NULL;
}

static int list(ferry_fullload_tasks_t *t, const ferry_kafka_msg_t *m, bool grouped)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        taken_t *grown = realloc(t->taken, cap * sizeof(*grown));
        if (!grown)
            return FERRY_ERR_NOMEM;
        t->taken = grown;
        t->cap = cap;
    }
    t->taken[t->n++] = (taken_t){m->partition, m->offset, false, false, grouped};
    return 0;
}

static int64_t committable(ferry_fullload_tasks_t *t, int32_t partition);
static void commit_upto(ferry_fullload_tasks_t *t, const char *topic, int32_t partition);

/*
 * A task the group handed this member. One already taken during the head
 * start is not handed out again (unless its copy failed): it becomes the
 * group's, and its offset is committed once it is finished. Returns true
 * when m is for the caller.
 */
static bool from_group(ferry_fullload_tasks_t *t, ferry_kafka_msg_t *m, int *rc)
{
    pthread_mutex_lock(&t->lock);
    taken_t *e = find(t, m->partition, m->offset);
    bool keep = true;
    if (e && !e->grouped && !e->failed) {
        e->grouped = true;
        keep = false;
        t->n_caught++;
        if (e->done)
            commit_upto(t, m->topic, m->partition);
    } else if (e) {
        *e = (taken_t){m->partition, m->offset, false, false, true};
    } else {
        *rc = list(t, m, true);
    }
    pthread_mutex_unlock(&t->lock);
    return keep;
}

int ferry_fullload_tasks_take(ferry_fullload_tasks_t *t, int timeout_ms, ferry_kafka_msg_t **msg,
                              char *errstr, size_t errstr_size)
{
    *msg = NULL;
    int rc = 0;
    int64_t deadline = ferry_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&t->poll_lock);
    while (!rc && !*msg) {
        if (t->early && !t->early_over && t->assigned) {
            /*
             * The group hands out tasks now. The reader stops fetching; it is
             * freed with the source, as its tasks may still be being copied
             * (a client's messages keep it alive: freeing it would wait).
             */
            char why[512];
            ferry_kafka_consumer_assign(t->early, NULL, 0, why, sizeof(why));
            t->early_over = true;
            pthread_mutex_lock(&t->lock);
            ferry_log_info("full-load tasks: the group took over", "tasks_taken_before=%zu",
                           t->n_early);
            pthread_mutex_unlock(&t->lock);
        }
        int64_t left = deadline - ferry_mono_ms();
        if (left < 0)
            left = 0;
        ferry_kafka_msg_t *m = NULL;
        /* the group's poll drives its join (the assignment arrives through it) */
        bool early = t->early && !t->early_over;
        rc = ferry_kafka_consumer_poll(t->consumer, early ? 0 : (int)left, &m, errstr, errstr_size);
        if (!rc && m) {
            if (from_group(t, m, &rc) && !rc)
                *msg = m;
            else
                ferry_kafka_msg_destroy(m);
        } else if (!rc && early && !t->assigned) {
            char why[512];
            if (ferry_kafka_consumer_poll(t->early, left < 50 ? (int)left : 50, &m, why,
                                          sizeof(why)) != 0) {
                /* the group still hands out every task: no head start then */
                ferry_log_debug("head start of the full-load tasks ended", "reason=\"%s\"", why);
                ferry_kafka_consumer_assign(t->early, NULL, 0, why, sizeof(why));
                t->early_over = true;
            } else if (m) {
                pthread_mutex_lock(&t->lock);
                taken_t *e = find(t, m->partition, m->offset);
                rc = e ? 0 : list(t, m, false);
                t->n_early += !rc && !e;
                pthread_mutex_unlock(&t->lock);
                if (!rc && !e)
                    *msg = m;
                else
                    ferry_kafka_msg_destroy(m);
            }
        }
        if (rc == FERRY_ERR_NOMEM)
            ferry_err_set(errstr, errstr_size, rc, "out of memory");
        if (!*msg && ferry_mono_ms() >= deadline)
            break;
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
        if (t->taken[i].partition == partition && t->taken[i].grouped && !t->taken[i].done &&
            t->taken[i].offset < open)
            open = t->taken[i].offset;
    size_t kept = 0;
    for (size_t i = 0; i < t->n; i++) {
        taken_t e = t->taken[i];
        if (e.partition == partition && e.grouped && e.done && e.offset < open) {
            if (e.offset + 1 > upto)
                upto = e.offset + 1;
        } else {
            t->taken[kept++] = e;
        }
    }
    t->n = kept;
    return upto;
}

/* Commits partition up to its first open task (t->lock held). */
static void commit_upto(ferry_fullload_tasks_t *t, const char *topic, int32_t partition)
{
    int64_t upto = committable(t, partition);
    if (upto < 0)
        return;
    ferry_kafka_tp_t tp = {topic, partition, upto};
    char why[512];
    if (ferry_kafka_consumer_commit(t->consumer, &tp, 1, why, sizeof(why)) != 0)
        ferry_log_warn("could not commit the tasks offset; the next owner will skip the "
                       "finished tasks",
                       "topic=%s partition=%d offset=%lld error=\"%s\"", topic, (int)partition,
                       (long long)upto, why);
}

void ferry_fullload_tasks_finish(ferry_fullload_tasks_t *t, const ferry_kafka_msg_t *m, bool ok)
{
    pthread_mutex_lock(&t->lock);
    taken_t *e = find(t, m->partition, m->offset);
    if (e && !ok) /* stays open: nothing past it in its partition is committed by this process */
        e->failed = true;
    if (e && ok) {
        e->done = true;
        if (e->grouped)
            commit_upto(t, m->topic, m->partition);
    }
    pthread_mutex_unlock(&t->lock);
}

void ferry_fullload_tasks_counts(ferry_fullload_tasks_t *t, size_t *early, size_t *caught)
{
    pthread_mutex_lock(&t->lock);
    *early = t->n_early;
    *caught = t->n_caught;
    pthread_mutex_unlock(&t->lock);
}
