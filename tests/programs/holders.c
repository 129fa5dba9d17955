/* Known live heaps per function and thread at exit: hold_small() keeps 10 blocks of 1,000
 * bytes; hold_large() keeps 3 of 100,000 through make(); worker(), in a thread of its own,
 * keeps 7 blocks of 64 bytes and frees 4 of the 5 blocks drop_later() made in main. */
#include <pthread.h>
#include <stdlib.h>

#define NOINL __attribute__((noinline, noclone))
void *volatile sink;
static void *later[5];

static NOINL void *make(size_t n) { return malloc(n); }
static NOINL void hold_small(void) { for (int i = 0; i < 10; i++) sink = malloc(1000); }
static NOINL void hold_large(void) { for (int i = 0; i < 3; i++) sink = make(100000); }
static NOINL void drop_later(void) { for (int i = 0; i < 5; i++) later[i] = malloc(500); }

static NOINL void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 7; i++) sink = malloc(64);
    for (int i = 0; i < 4; i++) free(later[i]);
    return 0;
}

int main(void) {
    hold_small();
    hold_large();
    drop_later();
    pthread_t t;
    pthread_create(&t, 0, worker, 0);
    pthread_join(t, 0);
    return 0;
}
