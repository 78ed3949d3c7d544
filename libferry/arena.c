/*
 * arena.c - per-batch bump allocator (see arena.h).
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN         16
#define ARENA_DEFAULT_BLOCK (64 * 1024)

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* data follows, aligned to ARENA_ALIGN */
} block_t;

struct ferry_arena {
    block_t *head;  /* block being filled */
    block_t *first; /* kept across resets */
    size_t block_size;
    size_t used_total;
};

#define BLOCK_HDR ((sizeof(block_t) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1))

static block_t *block_new(size_t size)
{
    if (size > SIZE_MAX - BLOCK_HDR)
        return NULL;
    block_t *b = malloc(BLOCK_HDR + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

static uint8_t *block_data(block_t *b)
{
    return (uint8_t *)b + BLOCK_HDR;
}

ferry_arena_t *ferry_arena_new(size_t block_size)
{
    ferry_arena_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
    a->first = block_new(a->block_size);
    if (!a->first) {
        free(a);
        return NULL;
    }
    a->head = a->first;
    return a;
}

static void free_chain(block_t *b, block_t *stop)
{
    while (b && b != stop) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
}

void ferry_arena_destroy(ferry_arena_t *a)
{
    if (!a)
        return;
    free_chain(a->head, NULL);
    free(a);
}

void *ferry_arena_alloc(ferry_arena_t *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size)
        return NULL; /* overflow */
    if (need == 0)
        need = ARENA_ALIGN;
    block_t *b = a->head;
    if (b->size - b->used < need) {
        /*
         * New blocks go in front of the chain so the head is always the one
         * being filled; the first block stays at the tail and survives resets.
         */
        size_t bs = need > a->block_size ? need : a->block_size;
        block_t *nb = block_new(bs);
        if (!nb)
            return NULL;
        nb->next = a->head;
        a->head = nb;
        b = nb;
    }
    void *p = block_data(b) + b->used;
    b->used += need;
    a->used_total += need;
    return p;
}

void *ferry_arena_calloc(ferry_arena_t *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = ferry_arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

char *ferry_arena_strndup(ferry_arena_t *a, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = ferry_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *ferry_arena_strdup(ferry_arena_t *a, const char *s)
{
    return s ? ferry_arena_strndup(a, s, strlen(s)) : NULL;
}

void ferry_arena_reset(ferry_arena_t *a)
{
    free_chain(a->head, a->first);
    a->head = a->first;
    a->first->used = 0;
    a->used_total = 0;
}

size_t ferry_arena_used(const ferry_arena_t *a)
{
    return a->used_total;
}
