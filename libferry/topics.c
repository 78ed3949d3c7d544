/*
 * topics.c - safe topic names (see topics.h).
 */
#include "topics.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define KAFKA_TOPIC_MAX 249

static int safe_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

int ferry_topic_part(const char *name, char *out, size_t out_size)
{
    size_t n = strlen(name), o = 0;
    int changed = n == 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= out_size)
            return -1;
        unsigned char c = (unsigned char)name[i];
        out[o++] = safe_char(c) ? (char)c : '_';
        changed |= !safe_char(c);
    }
    out[o] = '\0';
    if (changed) {
        uint32_t h = 2166136261u; /* FNV-1a of the original bytes */
        for (size_t i = 0; i < n; i++)
            h = (h ^ (uint8_t)name[i]) * 16777619u;
        if (o + 10 > out_size)
            return -1;
        snprintf(out + o, out_size - o, "-%08x", h);
    }
    return 0;
}

static int build(const char *prefix, const char *middle, const char *db, const char *table,
                 char *out, size_t out_size)
{
    char d[KAFKA_TOPIC_MAX + 1], t[KAFKA_TOPIC_MAX + 1];
    if (ferry_topic_part(db, d, sizeof(d)) != 0 || ferry_topic_part(table, t, sizeof(t)) != 0)
        return -1;
    int n = snprintf(out, out_size, "%s%s.%s.%s", prefix, middle, d, t);
    return n < 0 || (size_t)n >= out_size || n > KAFKA_TOPIC_MAX ? -1 : 0;
}

int ferry_topic_changes(const char *prefix, const char *db, const char *table, char *out,
                        size_t out_size)
{
    return build(prefix, "", db, table, out, out_size);
}

int ferry_topic_snapshot(const char *prefix, const char *db, const char *table, char *out,
                         size_t out_size)
{
    return build(prefix, ".snapshot", db, table, out, out_size);
}

int ferry_topic_consumer_group(const char *prefix, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "%s.consumer", prefix);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}
