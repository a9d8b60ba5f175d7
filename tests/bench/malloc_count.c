/* SPDX-License-Identifier: Apache-2.0 */
/* LD_PRELOAD shim that counts heap allocations of a whole process (all
 * threads) and writes the totals at exit to $CP_MALLOC_COUNT_OUT (or
 * stderr): "mallocs=N frees=N reallocs=N bytes=N". It forwards to glibc's
 * own entry points, so it needs no dlsym (which itself allocates). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t nmemb, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void __libc_free(void *ptr);
void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size);
void *calloc(size_t nmemb, size_t size);
void *realloc(void *ptr, size_t size);
void free(void *ptr);
int posix_memalign(void **memptr, size_t alignment, size_t size);
void *aligned_alloc(size_t alignment, size_t size);
void cp_malloc_count_snapshot(uint64_t *mallocs, uint64_t *frees,
                              uint64_t *reallocs);

static uint64_t n_alloc, n_free, n_realloc, n_bytes;

static void count(size_t size)
{
    __atomic_fetch_add(&n_alloc, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n_bytes, size, __ATOMIC_RELAXED);
}

void *malloc(size_t size)
{
    count(size);
    return __libc_malloc(size);
}

void *calloc(size_t nmemb, size_t size)
{
    count(nmemb * size);
    return __libc_calloc(nmemb, size);
}

void *realloc(void *ptr, size_t size)
{
    /* realloc(NULL) is an allocation; growing in place is not a new one,
     * but it costs a call into the allocator: counted separately. */
    if (!ptr)
        count(size);
    else
        __atomic_fetch_add(&n_realloc, 1, __ATOMIC_RELAXED);
    return __libc_realloc(ptr, size);
}

void free(void *ptr)
{
    if (ptr)
        __atomic_fetch_add(&n_free, 1, __ATOMIC_RELAXED);
    __libc_free(ptr);
}

int posix_memalign(void **memptr, size_t alignment, size_t size)
{
    void *p;

    count(size);
    p = __libc_memalign(alignment, size);
    if (!p)
        return 12; /* ENOMEM */
    *memptr = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size)
{
    count(size);
    return __libc_memalign(alignment, size);
}

/* For programs that look it up (a weak reference): counts so far. */
void cp_malloc_count_snapshot(uint64_t *mallocs, uint64_t *frees,
                              uint64_t *reallocs)
{
    *mallocs = __atomic_load_n(&n_alloc, __ATOMIC_RELAXED);
    *frees = __atomic_load_n(&n_free, __ATOMIC_RELAXED);
    *reallocs = __atomic_load_n(&n_realloc, __ATOMIC_RELAXED);
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("CP_MALLOC_COUNT_OUT");
    FILE *out = path ? fopen(path, "w") : NULL;

    fprintf(out ? out : stderr,
            "mallocs=%llu frees=%llu reallocs=%llu bytes=%llu\n",
            (unsigned long long)__atomic_load_n(&n_alloc, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&n_free, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&n_realloc, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&n_bytes, __ATOMIC_RELAXED));
    if (out)
        fclose(out);
}
