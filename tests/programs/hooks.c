/* Each mode exercises one part of the malloc family with exactly known counts. Output goes
 * through write(2) only, so stdio allocates nothing. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *volatile sink;

static void fail(const char *what) {
    if (write(2, what, strlen(what)) < 0) _exit(2);
    _exit(1);
}

/* 100 x malloc(1..100), all freed: 100 allocations, 5050 bytes. */
static void mode_malloc(void) {
    void *p[100];
    for (int i = 0; i < 100; i++) p[i] = malloc(i + 1);
    for (int i = 0; i < 100; i++) free(p[i]);
    free(NULL); /* not a free of a block */
}

/* calloc(7, 9): 63 bytes; kept until exit: 1 leaked block. */
static void mode_calloc(void) {
    char *p = calloc(7, 9);
    for (int i = 0; i < 63; i++) if (p[i]) fail("calloc not zeroed\n");
    sink = p;
}

/* realloc(NULL,10) [alloc], grow to 1000 [alloc+free], shrink to 5 [alloc+free],
 * realloc(p,0) [free]: 3 allocations, 3 frees, 1015 bytes. */
static void mode_realloc(void) {
    char *p = realloc(NULL, 10);
    memset(p, 1, 10);
    p = realloc(p, 1000);
    if (p[9] != 1) fail("grow lost data\n");
    p = realloc(p, 5);
    if (p[4] != 1) fail("shrink lost data\n");
    sink = realloc(p, 0);
    if (sink) fail("realloc(p, 0) did not free\n");
}

/* Aligned and page-aligned allocations, all freed: 6 allocations, 578 bytes. */
static void mode_aligned(void) {
    void *a;
    if (posix_memalign(&a, 64, 100) != 0 || (uintptr_t)a % 64) fail("posix_memalign\n");
    /* Through volatile pointers: the compiler would otherwise remove what it can prove
     * unused. */
    void *volatile b = aligned_alloc(64, 128);
    void *volatile c = memalign(32, 50);
    void *volatile d = valloc(100);
    void *volatile e = pvalloc(100);
    void *volatile f = reallocarray(NULL, 10, 10);
    if ((uintptr_t)b % 64 || (uintptr_t)c % 32 || (uintptr_t)d % 4096 || (uintptr_t)e % 4096 || !f)
        fail("alignment\n");
    if (malloc_usable_size(f) < 100) fail("malloc_usable_size\n");
    free(a); free(b); free(c); free(d); free(e); free(f);
}

/* Four calls that fail and allocate nothing. */
static void mode_failures(void) {
    void *p;
    if (malloc(SIZE_MAX) != NULL) fail("malloc(SIZE_MAX) succeeded\n");
    if (calloc(SIZE_MAX / 2, 4) != NULL) fail("calloc overflow succeeded\n");
    if (posix_memalign(&p, 3, 10) != EINVAL) fail("bad alignment accepted\n");
    if (reallocarray(NULL, SIZE_MAX / 2, 4) != NULL || errno != ENOMEM) fail("reallocarray overflow\n");
}

/* Known leaks, peak and temporaries (heaptrack's definition). */
static void leak_some(void) { for (int i = 0; i < 30; i++) sink = malloc(1000); }
static void temporaries(void) { for (int i = 0; i < 50; i++) { sink = malloc(16); free(sink); } }
static void *held[10];
static void peak(void) {
    for (int i = 0; i < 10; i++) held[i] = malloc(100000);
    for (int i = 0; i < 10; i++) free(held[i]);
}
static void mode_leaks(void) { leak_some(); temporaries(); peak(); }

/* A stack deeper than --max-depth. */
static int recurse(int n) {
    if (n == 0) { sink = malloc(1); free(sink); return 0; }
    return recurse(n - 1) + 1;
}
static void mode_deep(void) { if (recurse(300) != 300) fail("recursion\n"); }

/* Runs the modes named, in order. */
int main(int argc, char **argv) {
    if (argc < 2) fail("usage: hooks MODE...\n");
    for (int i = 1; i < argc; i++) {
        const char *m = argv[i];
        if (!strcmp(m, "malloc")) mode_malloc();
        else if (!strcmp(m, "calloc")) mode_calloc();
        else if (!strcmp(m, "realloc")) mode_realloc();
        else if (!strcmp(m, "aligned")) mode_aligned();
        else if (!strcmp(m, "failures")) mode_failures();
        else if (!strcmp(m, "leaks")) mode_leaks();
        else if (!strcmp(m, "deep")) mode_deep();
        else if (!strcmp(m, "exit3")) return 3;
        else fail("unknown mode\n");
    }
    return 0;
}
