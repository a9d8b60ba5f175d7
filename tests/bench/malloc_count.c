/* SPDX-License-Identifier: Apache-2.0 */
/* LD_PRELOAD shim that counts heap allocations of a whole process (all
 * threads) and writes the totals at exit to $CP_MALLOC_COUNT_OUT (or
 * stderr): "mallocs=N frees=N reallocs=N bytes=N ours=N rdkafka=N avro=N
 * hiredis=N other=N", then the call sites in the program itself, most
 * frequent first ("site=0xOFFSET count=N", offsets for addr2line -e).
 *
 * Each allocation is charged to whoever asked for it: the first frame of
 * its stack outside this shim and libc (strdup, asprintf and fopen
 * allocate on their caller's behalf). "ours" is the program's own code,
 * statically linked into the executable. It forwards to glibc's own entry
 * points, so it needs no dlsym (which itself allocates). */
#define _GNU_SOURCE
#include <execinfo.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- who asked ---- */

enum owner {
    OWNER_OURS,
    OWNER_RDKAFKA,
    OWNER_AVRO,
    OWNER_HIREDIS,
    OWNER_OTHER,
    OWNER_PASS,
    OWNER_CNT
}; /* PASS: shim, libc */
static const char *const owner_name[OWNER_PASS] = {"ours", "rdkafka", "avro",
                                                   "hiredis", "other"};
static uint64_t n_owner[OWNER_CNT];

struct range {
    uintptr_t lo, hi;
    enum owner owner;
};
static struct range ranges[64];
static int range_cnt;
static uintptr_t exe_base;
static int ready; /* ranges known: attribution on */

/* Our call sites, by return address (open addressing, never resized). */
#define SITES 1024
static uintptr_t site_addr[SITES];
static uint64_t site_cnt[SITES];

static __thread int in_shim; /* backtrace() may allocate: no recursion */

static enum owner owner_of_object(const char *name)
{
    if (!name[0])
        return OWNER_OURS; /* the executable */
    if (strstr(name, "malloc_count") || strstr(name, "/libc.so"))
        return OWNER_PASS;
    if (strstr(name, "librdkafka"))
        return OWNER_RDKAFKA;
    if (strstr(name, "libavro"))
        return OWNER_AVRO;
    if (strstr(name, "libhiredis"))
        return OWNER_HIREDIS;
    return OWNER_OTHER;
}

static int add_object(struct dl_phdr_info *info, size_t size, void *data)
{
    enum owner owner = owner_of_object(info->dlpi_name);

    (void)size;
    (void)data;
    if (!info->dlpi_name[0])
        exe_base = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum && range_cnt < 64; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        ranges[range_cnt].lo = info->dlpi_addr + ph->p_vaddr;
        ranges[range_cnt].hi = ranges[range_cnt].lo + ph->p_memsz;
        ranges[range_cnt].owner = owner;
        range_cnt++;
    }
    return 0;
}

static enum owner owner_of(uintptr_t pc)
{
    for (int i = 0; i < range_cnt; i++)
        if (pc >= ranges[i].lo && pc < ranges[i].hi)
            return ranges[i].owner;
    return OWNER_OTHER; /* loaded later (dlopen) */
}

static void note_site(uintptr_t pc)
{
    size_t h = (size_t)(pc * 0x9E3779B97F4A7C15ull) % SITES;

    for (size_t k = 0; k < SITES; k++, h = (h + 1) % SITES) {
        uintptr_t cur = __atomic_load_n(&site_addr[h], __ATOMIC_RELAXED);

        if (!cur &&
            __atomic_compare_exchange_n(&site_addr[h], &cur, pc, 0,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            cur = pc;
        if (cur == pc) {
            __atomic_fetch_add(&site_cnt[h], 1, __ATOMIC_RELAXED);
            return;
        }
    }
}

static void attribute(void)
{
    void *frames[16];
    int n;
    enum owner owner = OWNER_OTHER;

    if (!ready || in_shim)
        return;
    in_shim = 1;
    n = backtrace(frames, 16);
    for (int i = 0; i < n; i++) {
        uintptr_t pc = (uintptr_t)frames[i];

        owner = owner_of(pc);
        if (owner == OWNER_PASS)
            continue;
        if (owner == OWNER_OURS)
            note_site(pc);
        break;
    }
    if (owner == OWNER_PASS)
        owner = OWNER_OTHER;
    __atomic_fetch_add(&n_owner[owner], 1, __ATOMIC_RELAXED);
    in_shim = 0;
}

__attribute__((constructor)) static void start(void)
{
    void *warm[2];

    in_shim = 1;
    backtrace(warm, 2); /* loads the unwinder now, not inside a malloc */
    dl_iterate_phdr(add_object, NULL);
    in_shim = 0;
    ready = 1;
}

static void count(size_t size)
{
    __atomic_fetch_add(&n_alloc, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n_bytes, size, __ATOMIC_RELAXED);
    attribute();
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

/* Our call sites, most frequent first (the top 20). */
static void print_sites(FILE *to)
{
    for (int top = 0; top < 20; top++) {
        size_t best = SITES;

        for (size_t h = 0; h < SITES; h++)
            if (site_cnt[h] && (best == SITES || site_cnt[h] > site_cnt[best]))
                best = h;
        if (best == SITES)
            return;
        /* The return address: the call is just before it. */
        fprintf(to, "site=0x%llx count=%llu\n",
                (unsigned long long)(site_addr[best] - exe_base - 1),
                (unsigned long long)site_cnt[best]);
        site_cnt[best] = 0;
    }
}

__attribute__((destructor)) static void report(void)
{
    const char *path = getenv("CP_MALLOC_COUNT_OUT");
    FILE *out = path ? fopen(path, "w") : NULL;

    FILE *to = out ? out : stderr;

    in_shim = 1; /* what follows is not the program's */
    fprintf(to, "mallocs=%llu frees=%llu reallocs=%llu bytes=%llu",
            (unsigned long long)__atomic_load_n(&n_alloc, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&n_free, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&n_realloc, __ATOMIC_RELAXED),
            (unsigned long long)__atomic_load_n(&n_bytes, __ATOMIC_RELAXED));
    for (int o = 0; o < OWNER_PASS; o++)
        fprintf(
            to, " %s=%llu", owner_name[o],
            (unsigned long long)__atomic_load_n(&n_owner[o], __ATOMIC_RELAXED));
    fputc('\n', to);
    print_sites(to);
    if (out)
        fclose(out);
}
