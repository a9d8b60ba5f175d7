/* SPDX-License-Identifier: Apache-2.0 */
/* The allocator the codec gives avro-c (see avro_alloc.h). */
#include "avro_alloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <avro.h>

#if defined(__SANITIZE_ADDRESS__)
#define CP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CP_ASAN 1
#endif
#endif

/* avro-c allocates and frees two small blocks per string it reads (the
 * string and its wrapper): per-thread free lists of power-of-two classes
 * turn those into list pops and pushes, so decoding calls malloc for
 * nothing in steady state. Blocks above the largest class go straight to
 * malloc. */
#define CLASS_MIN_SHIFT  4 /* smallest class: 16 bytes */
#define CLASS_CNT        9 /* 16, 32, ... 4096 bytes */
#define CLASS_LARGE      UINT32_MAX
#define CACHE_BYTES      (64 * 1024) /* per class and thread, at most */
#define CACHE_MIN_BLOCKS 32

/* In front of every block: its class, and its size when it is large. */
struct blk_hdr {
    uint32_t cls;
    size_t size; /* requested size of a large block; 0 otherwise */
};

/* Keeps the payload aligned like malloc's own blocks. */
#define HDR_SIZE                                                               \
    ((sizeof(struct blk_hdr) + _Alignof(max_align_t) - 1) /                    \
     _Alignof(max_align_t) * _Alignof(max_align_t))

struct free_blk {
    struct free_blk *next;
};

struct cache {
    struct free_blk *head[CLASS_CNT];
    uint32_t cnt[CLASS_CNT];
    bool registered; /* the exit destructor knows this thread's cache */
};

static _Thread_local struct cache tcache;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t cache_key;
static bool key_ok;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static bool installed;

static size_t class_size(uint32_t cls)
{
    return (size_t)1 << (cls + CLASS_MIN_SHIFT);
}

static uint32_t class_cap(uint32_t cls)
{
    size_t n = CACHE_BYTES / class_size(cls);

    return n < CACHE_MIN_BLOCKS ? CACHE_MIN_BLOCKS : (uint32_t)n;
}

static uint32_t class_of(size_t size)
{
    uint32_t width;

    if (size <= class_size(0))
        return 0;
    /* bit width of size - 1: the smallest power of two >= size */
    width = (uint32_t)(64 - __builtin_clzll((unsigned long long)size - 1));
    if (width - CLASS_MIN_SHIFT >= CLASS_CNT)
        return CLASS_LARGE;
    return width - CLASS_MIN_SHIFT;
}

static struct blk_hdr *hdr_of(void *ptr)
{
    return (struct blk_hdr *)(void *)((char *)ptr - HDR_SIZE);
}

static void *payload_of(struct blk_hdr *h)
{
    return (char *)h + HDR_SIZE;
}

/* Thread exit: give the thread's cached blocks back to malloc. */
static void cache_release(void *arg)
{
    struct cache *c = arg;

    for (uint32_t cls = 0; cls < CLASS_CNT; cls++) {
        while (c->head[cls]) {
            struct free_blk *b = c->head[cls];

            c->head[cls] = b->next;
            free(hdr_of(b));
        }
        c->cnt[cls] = 0;
    }
    c->registered = false;
}

static void make_key(void)
{
    key_ok = pthread_key_create(&cache_key, cache_release) == 0;
}

/* A thread caches blocks only once its exit destructor is registered, so
 * no thread takes cached blocks with it. */
static bool cache_ready(struct cache *c)
{
    if (c->registered)
        return true;
    pthread_once(&key_once, make_key);
    if (!key_ok || pthread_setspecific(cache_key, c) != 0)
        return false;
    c->registered = true;
    return true;
}

static void *blk_alloc(size_t size)
{
    uint32_t cls = class_of(size);
    struct cache *c = &tcache;
    struct blk_hdr *h;

    if (cls == CLASS_LARGE) {
        if (size > SIZE_MAX - HDR_SIZE)
            return NULL;
        h = malloc(HDR_SIZE + size);
        if (!h)
            return NULL;
        h->cls = CLASS_LARGE;
        h->size = size;
        return payload_of(h);
    }
    if (c->head[cls]) {
        struct free_blk *b = c->head[cls];

        c->head[cls] = b->next;
        c->cnt[cls]--;
        return b;
    }
    h = malloc(HDR_SIZE + class_size(cls));
    if (!h)
        return NULL;
    h->cls = cls;
    h->size = 0;
    return payload_of(h);
}

static void blk_free(void *ptr)
{
    struct blk_hdr *h = hdr_of(ptr);
    uint32_t cls = h->cls;
    struct cache *c = &tcache;
    struct free_blk *b = ptr;

    if (cls == CLASS_LARGE || c->cnt[cls] >= class_cap(cls) ||
        !cache_ready(c)) {
        free(h);
        return;
    }
    b->next = c->head[cls];
    c->head[cls] = b;
    c->cnt[cls]++;
}

static void *blk_realloc(void *ptr, size_t nsize)
{
    struct blk_hdr *h = hdr_of(ptr);
    uint32_t ncls = class_of(nsize);
    size_t old;
    void *n;

    if (h->cls != CLASS_LARGE && ncls != CLASS_LARGE && ncls <= h->cls &&
        ncls + 1 >= h->cls)
        return ptr; /* fits, and wastes at most half of the block */
    if (h->cls == CLASS_LARGE && ncls == CLASS_LARGE) {
        struct blk_hdr *nh;

        if (nsize > SIZE_MAX - HDR_SIZE)
            return NULL;
        nh = realloc(h, HDR_SIZE + nsize);
        if (!nh)
            return NULL;
        nh->size = nsize;
        return payload_of(nh);
    }
    old = h->cls == CLASS_LARGE ? h->size : class_size(h->cls);
    n = blk_alloc(nsize);
    if (!n)
        return NULL;
    memcpy(n, ptr, old < nsize ? old : nsize);
    blk_free(ptr);
    return n;
}

void *cp__avro_alloc(void *user_data, void *ptr, size_t osize, size_t nsize)
{
    (void)user_data;
    (void)osize; /* not relied on: each block records its own class */
    if (nsize == 0) {
        if (ptr)
            blk_free(ptr);
        return NULL;
    }
    if (!ptr)
        return blk_alloc(nsize);
    return blk_realloc(ptr, nsize);
}

static void install(void)
{
#ifndef CP_ASAN
    const char *env = getenv("CP_AVRO_ALLOC");

    if (env && strcmp(env, "system") == 0)
        return;
    avro_set_allocator(cp__avro_alloc, NULL);
    installed = true;
#endif
}

void cp__avro_alloc_install(void)
{
    pthread_once(&install_once, install);
}

bool cp__avro_alloc_installed(void)
{
    cp__avro_alloc_install();
    return installed;
}

/* Before main(): blocks avro-c allocated with malloc before the switch
 * would reach cp__avro_alloc() without a header. */
__attribute__((constructor)) static void install_at_start(void)
{
    cp__avro_alloc_install();
}

/* The exiting thread's cached blocks go back to malloc too, so leak
 * checkers see no interior pointers into free blocks at exit. */
__attribute__((destructor)) static void release_at_exit(void)
{
    cache_release(&tcache);
}
