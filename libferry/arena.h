/*
 * arena.h - a per-batch bump allocator.
 *
 * Hot paths (decoding a batch of events, building rows from a binlog event)
 * allocate many small pieces whose lifetime is the batch. They take them from
 * an arena and the loop calls ferry_arena_reset() once the batch is done, so
 * no error path can leak and no piece is freed on its own (the model is
 * PostgreSQL's memory contexts reset per change in pgoutput.c).
 *
 * Memory comes in blocks. A reset keeps the first block (sized on creation)
 * and frees any others, so a steady-state batch allocates nothing from the
 * system. A request larger than the block size gets a block of its own.
 *
 * @locality one thread at a time; an arena is not shared.
 */
#ifndef FERRY_ARENA_H
#define FERRY_ARENA_H

#include <stddef.h>

typedef struct ferry_arena ferry_arena_t;

/*
 * Creates an arena whose blocks are block_size bytes (0 picks 64 KiB).
 * Returns NULL when out of memory. Free with ferry_arena_destroy().
 */
ferry_arena_t *ferry_arena_new(size_t block_size);

/* Frees the arena and everything allocated from it. NULL is a no-op. */
void ferry_arena_destroy(ferry_arena_t *a);

/*
 * Returns size bytes aligned for any scalar type (16 bytes), or NULL when
 * out of memory. The memory is not zeroed and lives until the next reset.
 */
void *ferry_arena_alloc(ferry_arena_t *a, size_t size);

/* Like ferry_arena_alloc, zeroed. */
void *ferry_arena_calloc(ferry_arena_t *a, size_t n, size_t size);

/* Copies len bytes of s and adds a NUL; NULL when out of memory. */
char *ferry_arena_strndup(ferry_arena_t *a, const char *s, size_t len);

/* Copies a NUL-terminated string; NULL when out of memory (or s is NULL). */
char *ferry_arena_strdup(ferry_arena_t *a, const char *s);

/*
 * Makes everything allocated so far invalid and the memory reusable. Keeps
 * the first block; frees the rest.
 */
void ferry_arena_reset(ferry_arena_t *a);

/* Bytes handed out since the last reset (for metrics and tests). */
size_t ferry_arena_used(const ferry_arena_t *a);

#endif
