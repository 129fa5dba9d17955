/* Call paths that alternate, as an interpreter's do: one allocating function reached through
 * callers of equal frame sizes, so that consecutive stacks start with the same frame (same
 * code address, same stack pointer) and differ only further out, down to the outermost
 * frame under main. Each allocation is freed at once. */
#include <stdlib.h>

#define NOINL __attribute__((noinline))

volatile long sink;
static unsigned long rng = 88172645463325252UL;

static unsigned long next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static NOINL void alloc_here(long n) {
    void *p = malloc(n);
    sink += (long)p;
    free(p);
}

/* Two callers alike but for a constant: the same frame size, different return addresses. */
static NOINL void via_a(long n) { alloc_here(n + 1); sink += 1; }
static NOINL void via_b(long n) { alloc_here(n + 2); sink += 2; }

static NOINL void mid(int k, long n) {
    if (k & 1)
        via_a(n);
    else
        via_b(n);
    sink += k;
}

static NOINL void top_a(int k, long n) { mid(k, n); sink += 3; }
static NOINL void top_b(int k, long n) { mid(k, n); sink += 4; }

int main(void) {
    for (int i = 0; i < 20000; i++) {
        unsigned long r = next();
        int k = (int)(r & 3);
        if (r & 8)
            top_a(k, 16);
        else
            top_b(k, 16);
    }
    return 0;
}
