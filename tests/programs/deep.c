/* Allocations at random depths of a recursion (up to 300 frames), from two call sites and two
 * lines per level, with longjmp out of the recursion now and then: consecutive stacks share
 * some of their frames and differ in others, in every way the unwinder's reuse of its last
 * walk has to tell apart. */
#include <setjmp.h>
#include <stdlib.h>

#define NOINL __attribute__((noinline))

volatile long sink;
static jmp_buf out;
static unsigned long rng = 88172645463325252UL;

static unsigned long next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static NOINL void *site_a(long size) {
    void *p = malloc(size);
    sink += (long)p;
    return p;
}

static NOINL void *site_b(long size) {
    void *p = calloc(1, size);
    sink += (long)p;
    return p;
}

static NOINL void work(int depth) {
    void *p = (next() & 1) ? site_a(16 + depth) : site_b(32 + depth);
    free(p);
    if ((next() & 63) == 0)
        longjmp(out, 1);
}

static NOINL long descend(int depth, int stop) {
    if (depth == stop) {
        work(depth);
        return 1;
    }
    long r = (depth & 1) ? descend(depth + 1, stop) : descend(depth + 1, stop) + 1;
    if ((next() & 3) == 0)
        work(depth);
    sink += r;
    return r + 1;
}

int main(void) {
    for (int i = 0; i < 5000; i++) {
        int stop = next() % 300;
        if (setjmp(out) == 0)
            descend(0, stop);
    }
    return 0;
}
