/* 16 call paths to one malloc: at four levels the call goes through one of two call sites,
 * chosen by a bit of the iteration number, so each path allocates exactly N/16 blocks. */
#include <stdlib.h>

#define N 3200
#define NOINL __attribute__((noinline, noclone))
void *volatile sink;

static NOINL void leaf(void) { sink = malloc(24); free(sink); }
#define LEVEL(name, next, bit)                                   \
    static NOINL void name(unsigned i) {                         \
        if (i & (1u << bit))                                     \
            next(i);                                             \
        else                                                     \
            next(i ^ 0);                                         \
        __asm__ volatile("" ::: "memory");                       \
    }
static NOINL void l4(unsigned i) { (void)i; leaf(); __asm__ volatile("" ::: "memory"); }
LEVEL(l3, l4, 3)
LEVEL(l2, l3, 2)
LEVEL(l1, l2, 1)
LEVEL(l0, l1, 0)

int main(void) {
    for (unsigned i = 0; i < N; i++) l0(i);
    return 0;
}
