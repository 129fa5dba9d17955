/* Grows its heap for about a second and a half, for the live view: every 10 ms keep()
 * allocates 1,000 bytes, and every third step release() frees the oldest block kept. */
#include <stdlib.h>
#include <unistd.h>

#define NOINL __attribute__((noinline, noclone))
#define STEPS 150
static void *kept[STEPS];

static NOINL void keep(int i) { kept[i] = malloc(1000); }
static NOINL void release(int i) { free(kept[i]); kept[i] = 0; }

int main(void) {
    int oldest = 0;
    for (int i = 0; i < STEPS; i++) {
        keep(i);
        if (i % 3 == 2)
            release(oldest++);
        usleep(10000);
    }
    return 0;
}
