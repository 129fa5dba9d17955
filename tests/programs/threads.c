/* 4 threads each allocate 1000 blocks of 1..1000 bytes; every block is freed by the next
 * thread (cross-thread frees), after which each thread allocates and frees 500 more blocks
 * that reuse the freed addresses. */
#include <pthread.h>
#include <stdlib.h>

#define T 4
#define N 1000
static void *blocks[T][N];
static pthread_barrier_t barrier;

static void *worker(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < N; i++) blocks[id][i] = malloc(1 + (i * 7 + id) % 1000);
    pthread_barrier_wait(&barrier);
    long next = (id + 1) % T;
    for (int i = 0; i < N; i++) free(blocks[next][i]);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < N / 2; i++) { void *volatile p = malloc(64); free(p); }
    return NULL;
}

int main(void) {
    pthread_t t[T];
    pthread_barrier_init(&barrier, NULL, T);
    for (long i = 0; i < T; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < T; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    return 0;
}
