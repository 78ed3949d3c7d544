/*
 * fullload_tasks_check - the full load's task source (fullload.h) against
 * the fixture's broker: threads of one process share one membership of the
 * worker group, finish tasks out of order, and the committed offset never
 * passes a task that is still open or failed.
 *
 *   fullload_tasks_check <bootstrap> <project>
 *
 * Makes the project's tasks topic with one partition and five messages,
 * then:
 *   1. two threads take tasks from one task source (offsets 0 .. 4 between
 *      them, each offset once), all five ahead of the group (the broker
 *      holds a new group's first join about 3 s: the head start);
 *   2. tasks 2 and 1 finish first: nothing may be committed (0 is open);
 *   3. the group assigns the partition and delivers the five tasks again:
 *      none is handed out a second time, and still nothing is committed;
 *   4. task 0 finishes: the commit moves to 3;
 *   5. task 4 finishes while 3 failed: the commit stays at 3;
 *   6. a new task source of the same group (a new process) starts at the
 *      failed task: its first message is offset 3.
 * Prints each step; exits 1 with the reason at the first wrong result.
 */
#include "common.h"
#include "err.h"
#include "fullload.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASKS 5

static const char *const *kafka_props;

static const char *plain_props[] = {"bootstrap.servers", NULL, NULL};

static char project[200], topic[300], group[300];

typedef struct {
    ferry_fullload_tasks_t *tasks;
    ferry_kafka_msg_t *got[TASKS];
    size_t n;
    pthread_mutex_t lock;
} shared_t;

/* Each thread takes messages until all TASKS are out; the offsets land in s->got. */
static void *taker(void *arg)
{
    shared_t *s = arg;
    char err[512];
    for (int tries = 0; tries < 300; tries++) {
        pthread_mutex_lock(&s->lock);
        size_t n = s->n;
        pthread_mutex_unlock(&s->lock);
        if (n == TASKS)
            break;
        ferry_kafka_msg_t *m = NULL;
        int rc = ferry_fullload_tasks_take(s->tasks, 100, &m, err, sizeof(err));
        if (rc && rc != FERRY_ERR_RETRIABLE)
            itest_die("take", err);
        if (!m)
            continue;
        pthread_mutex_lock(&s->lock);
        if (s->n < TASKS)
            s->got[s->n++] = m;
        else
            ferry_kafka_msg_destroy(m);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* The group's committed offset of partition 0 (FERRY_KAFKA_OFFSET_INVALID when none). */
static int64_t committed(void)
{
    ferry_kafka_consumer_t *c;
    char err[512];
    if (ferry_kafka_consumer_new(&c, group, kafka_props, NULL, err, sizeof(err)) != 0)
        itest_die("could not open a consumer of the group", err);
    ferry_kafka_tp_t tp = {topic, 0, FERRY_KAFKA_OFFSET_INVALID};
    if (ferry_kafka_consumer_committed(c, &tp, 1, 10000, err, sizeof(err)) != 0)
        itest_die("could not read the committed offset", err);
    ferry_kafka_consumer_destroy(c);
    return tp.offset;
}

static ferry_kafka_msg_t *by_offset(shared_t *s, int64_t offset)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->got[i]->offset == offset)
            return s->got[i];
    fprintf(stderr, "fullload_tasks_check: offset %lld was not taken\n", (long long)offset);
    exit(1);
}

static void expect_committed(const char *step, int64_t want)
{
    int64_t got = committed();
    printf("%s: committed %lld\n", step, (long long)got);
    fflush(stdout);
    if (got != want) {
        fprintf(stderr, "fullload_tasks_check: %s: committed offset %lld, expected %lld\n", step,
                (long long)got, (long long)want);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fullload_tasks_check <bootstrap> <project>\n");
        return 2;
    }
    kafka_props = itest_kafka_props(argv[1]);
    plain_props[1] = argv[1];
    snprintf(project, sizeof(project), "%s", argv[2]);
    ferry_fullload_tasks_topic(project, topic, sizeof(topic));
    snprintf(group, sizeof(group), "ferry.%s.fullload", project);
    char err[512];
    const char *configs[] = {"cleanup.policy", "delete", NULL};
    if (ferry_kafka_topic_create(plain_props, topic, 1, 1, configs, 1, 10000, err, sizeof(err)))
        itest_die("could not make the tasks topic", err);
    ferry_kafka_producer_t *p;
    if (ferry_kafka_producer_new(&p, plain_props, NULL, err, sizeof(err)) != 0)
        itest_die("could not open a producer", err);
    for (int i = 0; i < TASKS; i++) {
        char value[32];
        int len = snprintf(value, sizeof(value), "task %d", i);
        ferry_kafka_record_t rec = {
            .topic = topic, .partition = 0, .value = value, .value_len = (size_t)len};
        if (ferry_kafka_produce(p, &rec, err, sizeof(err)) != 0)
            itest_die("could not produce a task", err);
    }
    if (ferry_kafka_producer_flush(p, 10000, err, sizeof(err)) != 0)
        itest_die("could not flush the tasks", err);
    ferry_kafka_producer_destroy(p, 0);

    shared_t s = {.lock = PTHREAD_MUTEX_INITIALIZER};
    if (ferry_fullload_tasks_new(project, kafka_props, &s.tasks, err, sizeof(err)) != 0)
        itest_die("could not make a task source", err);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, taker, &s);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    if (s.n != TASKS) {
        fprintf(stderr, "fullload_tasks_check: the threads took %zu tasks, expected %d\n", s.n,
                TASKS);
        return 1;
    }
    for (int64_t o = 0; o < TASKS; o++)
        by_offset(&s, o); /* each offset once: five messages, all different */
    printf("taken: offsets 0 to %d, each once\n", TASKS - 1);

    size_t early, caught;
    ferry_fullload_tasks_counts(s.tasks, &early, &caught);
    printf("taken ahead of the group: %zu\n", early);
    if (early != TASKS) {
        fprintf(stderr, "fullload_tasks_check: %zu of %d tasks taken ahead of the group\n", early,
                TASKS);
        return 1;
    }

    ferry_fullload_tasks_finish(s.tasks, by_offset(&s, 2), true);
    ferry_fullload_tasks_finish(s.tasks, by_offset(&s, 1), true);
    expect_committed("2 and 1 finished, 0 open", FERRY_KAFKA_OFFSET_INVALID);
    /* the threads keep asking, as workers do, until the group delivered all five */
    for (int tries = 0; tries < 300 && caught < TASKS; tries++) {
        ferry_kafka_msg_t *m = NULL;
        int rc = ferry_fullload_tasks_take(s.tasks, 100, &m, err, sizeof(err));
        if (rc && rc != FERRY_ERR_RETRIABLE)
            itest_die("take", err);
        if (m) {
            fprintf(stderr, "fullload_tasks_check: offset %lld was handed out a second time\n",
                    (long long)m->offset);
            return 1;
        }
        ferry_fullload_tasks_counts(s.tasks, &early, &caught);
    }
    printf("delivered by the group, not handed out again: %zu\n", caught);
    if (caught != TASKS) {
        fprintf(stderr, "fullload_tasks_check: the group delivered %zu of %d tasks\n", caught,
                TASKS);
        return 1;
    }
    expect_committed("group took over, 0 still open", FERRY_KAFKA_OFFSET_INVALID);
    ferry_fullload_tasks_finish(s.tasks, by_offset(&s, 0), true);
    expect_committed("0 finished", 3);
    ferry_fullload_tasks_finish(s.tasks, by_offset(&s, 3), false);
    ferry_fullload_tasks_finish(s.tasks, by_offset(&s, 4), true);
    expect_committed("3 failed, 4 finished", 3);
    for (size_t i = 0; i < s.n; i++)
        ferry_kafka_msg_destroy(s.got[i]);
    ferry_fullload_tasks_destroy(s.tasks);

    ferry_fullload_tasks_t *again;
    if (ferry_fullload_tasks_new(project, kafka_props, &again, err, sizeof(err)) != 0)
        itest_die("could not make a second task source", err);
    ferry_kafka_msg_t *m = NULL;
    for (int tries = 0; tries < 300 && !m; tries++) {
        int rc = ferry_fullload_tasks_take(again, 100, &m, err, sizeof(err));
        if (rc && rc != FERRY_ERR_RETRIABLE)
            itest_die("take", err);
    }
    if (!m) {
        fprintf(stderr, "fullload_tasks_check: the second task source got no task\n");
        return 1;
    }
    printf("next member starts at offset %lld\n", (long long)m->offset);
    if (m->offset != 3) {
        fprintf(stderr, "fullload_tasks_check: the next member started at offset %lld, not 3\n",
                (long long)m->offset);
        return 1;
    }
    ferry_fullload_tasks_finish(again, m, true);
    ferry_kafka_msg_destroy(m);
    ferry_fullload_tasks_destroy(again);
    printf("ok\n");
    return 0;
}
