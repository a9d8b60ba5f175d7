/* SPDX-License-Identifier: Apache-2.0 */
/* The allocator the codec gives avro-c (avro_alloc.c; cp_codec_new()
 * installs it, so every program with a codec has it): per-thread free
 * lists of power-of-two size classes, so the few small buffers avro-c frees and
 * allocates again for every record it reads become list pops and pushes
 * instead of malloc/free. Not installed in sanitizer builds, so leaks and
 * overflows inside avro-c stay visible there. */
#ifndef CP_AVRO_ALLOC_H
#define CP_AVRO_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/**
 * @brief Makes cp__avro_alloc() avro-c's allocator, once per process; later
 *        calls do nothing. Also runs before main() (a constructor), so no
 *        avro-c object can predate it. Not installed under AddressSanitizer,
 *        nor when the environment has CP_AVRO_ALLOC=system (for valgrind).
 * Thread: safe.
 */
void cp__avro_alloc_install(void);

/** @returns true if avro-c allocates through cp__avro_alloc(). */
bool cp__avro_alloc_installed(void);

/**
 * @brief avro-c's allocator contract, realloc-like: (NULL, 0, n) allocates,
 *        (p, o, 0) frees and returns NULL, (p, o, n) resizes keeping
 *        min(old, n) bytes. @p osize is not trusted: each block records its
 *        own size class. Memory is aligned like malloc's.
 * Ownership: a block may be freed on any thread; it goes to that thread's
 *            free list (bounded per class; the rest goes back to malloc),
 *            and a thread's lists are released when the thread exits.
 * Thread: safe.
 */
void *cp__avro_alloc(void *user_data, void *ptr, size_t osize, size_t nsize);

#endif
