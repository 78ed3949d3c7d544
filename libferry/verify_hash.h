/*
 * verify_hash.h - the 64-bit row hash of the stream checksum.
 *
 * A row's hash is built by feeding its cells in column order into one
 * 64-bit state and finishing it:
 *
 *     uint64_t h = FERRY_VERIFY_HASH_SEED;
 *     h = ferry_verify_hash_cell(h, p, n);   (or ferry_verify_hash_null(h))
 *     ...
 *     row = ferry_verify_hash_finish(h);
 *
 * Each cell first absorbs its length (NULL absorbs a value no length can
 * have), then its bytes 16 at a time. So the split of a row into cells,
 * NULL against '', and the order of the cells all change the input the
 * state sees. A 16-byte block (two words a, b) becomes the two halves of
 * the 128-bit product (a ^ K0) * (b ^ K1) xored; the state takes each
 * block or length as h = h * K3 + block, an odd multiplier, so a change in
 * any one block always changes the state. The blocks' products do not
 * depend on the state, so the processor computes several at once: about
 * 4 cycles per 16 bytes. The finish step is a bijective mix that spreads
 * every bit over all 64 before row hashes are summed.
 *
 * This is a checksum against accidental differences (two different rows
 * collide with a probability of about 2^-64), not a keyed or cryptographic
 * hash: someone who knows it can build rows that collide.
 *
 * @locality any thread; pure functions.
 */
#ifndef FERRY_VERIFY_HASH_H
#define FERRY_VERIFY_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FERRY_VERIFY_HASH_SEED 0x243F6A8885A308D3ULL

#define FERRY_VERIFY_HASH_K0   0x9E3779B97F4A7C15ULL
#define FERRY_VERIFY_HASH_K1   0xC2B2AE3D27D4EB4FULL
#define FERRY_VERIFY_HASH_K2   0x165667B19E3779F9ULL
#define FERRY_VERIFY_HASH_K3   0xD6E8FEB86659FD93ULL
#define FERRY_VERIFY_HASH_NULL 0x8000000000000000ULL /* above every length */

/* The 128-bit product of a and b, its two halves xored. */
static inline uint64_t ferry_verify_hash_mul(uint64_t a, uint64_t b)
{
    __extension__ typedef unsigned __int128 u128;
    u128 p = (u128)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}

static inline uint64_t ferry_verify_hash_word(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t ferry_verify_hash_word4(const unsigned char *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/* Absorbs one 16-byte block (a, b) into h. */
static inline uint64_t ferry_verify_hash_block(uint64_t h, uint64_t a, uint64_t b)
{
    return h * FERRY_VERIFY_HASH_K3 +
           ferry_verify_hash_mul(a ^ FERRY_VERIFY_HASH_K0, b ^ FERRY_VERIFY_HASH_K1);
}

/* Absorbs x (a length or the NULL marker) into h. */
static inline uint64_t ferry_verify_hash_len(uint64_t h, uint64_t x)
{
    return h * FERRY_VERIFY_HASH_K3 + (x ^ FERRY_VERIFY_HASH_K2);
}

/*
 * Absorbs a cell of n bytes at data into h: its length, then 16-byte
 * blocks; the bytes after the last whole block are read as one more block
 * that may overlap the one before (the length is known, so every byte
 * still lands in one fixed place).
 */
static inline uint64_t ferry_verify_hash_cell(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    h = ferry_verify_hash_len(h, n);
    if (n >= 16) {
        const unsigned char *end = p + n;
        for (; end - p >= 16; p += 16)
            h = ferry_verify_hash_block(h, ferry_verify_hash_word(p),
                                        ferry_verify_hash_word(p + 8));
        if (p < end)
            h = ferry_verify_hash_block(h, ferry_verify_hash_word(end - 16),
                                        ferry_verify_hash_word(end - 8));
    } else if (n >= 8) {
        h = ferry_verify_hash_block(h, ferry_verify_hash_word(p),
                                    ferry_verify_hash_word(p + n - 8));
    } else if (n >= 4) {
        h = ferry_verify_hash_block(
            h, ferry_verify_hash_word4(p) | ferry_verify_hash_word4(p + n - 4) << 32, 0);
    } else if (n) {
        h = ferry_verify_hash_block(
            h, (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16, 0);
    }
    return h;
}

/* Absorbs a NULL cell into h. */
static inline uint64_t ferry_verify_hash_null(uint64_t h)
{
    return ferry_verify_hash_len(h, FERRY_VERIFY_HASH_NULL);
}

/* The row's hash from its state: a bijective mix of every bit into every bit. */
static inline uint64_t ferry_verify_hash_finish(uint64_t h)
{
    h ^= h >> 33;
    h *= FERRY_VERIFY_HASH_K1;
    h ^= h >> 29;
    h *= FERRY_VERIFY_HASH_K2;
    h ^= h >> 32;
    return h;
}

#endif
