/* Per-allocation cost against the number of threads: T threads each make N malloc/free
 * pairs of 16..1040 bytes, 12 calls deep, with a small window of live blocks. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

static long n = 1000000;
#define NOINL __attribute__((noinline, noclone))
static NOINL void *work(uint64_t seed, int depth) {
    if (depth > 0) {
        void *r = work(seed * 6364136223846793005ULL + 1, depth - 1);
        __asm__ volatile("" : : "r"(r) : "memory");
        return r;
    }
    void *win[16] = {0};
    for (long i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int s = (int)(i & 15);
        free(win[s]);
        win[s] = malloc(16 + (seed >> 54));
    }
    for (int s = 0; s < 16; s++) free(win[s]);
    return NULL;
}
static void *thread(void *arg) { return work((uint64_t)(uintptr_t)arg + 1, 12); }

int main(int argc, char **argv) {
    int t = argc > 1 ? atoi(argv[1]) : 1;
    if (argc > 2) n = atol(argv[2]);
    pthread_t th[64];
    if (t < 1 || t > 64) return 2;
    for (int i = 0; i < t; i++) pthread_create(&th[i], NULL, thread, (void *)(uintptr_t)i);
    for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
    return 0;
}
