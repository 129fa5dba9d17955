/* Grows its heap for the live view, 150 steps of 10 ms (or as many as argv[1] says): each
 * step keep() allocates 1,000 bytes, and every third step release() frees the oldest block
 * kept. */
#include <stdlib.h>
#include <unistd.h>

#define NOINL __attribute__((noinline, noclone))
#define MAX_STEPS 100000
static void *kept[MAX_STEPS];

static NOINL void keep(int i) { kept[i] = malloc(1000); }
static NOINL void release(int i) { free(kept[i]); kept[i] = 0; }

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 150, oldest = 0;
    if (steps < 0 || steps > MAX_STEPS)
        return 2;
    for (int i = 0; i < steps; i++) {
        keep(i);
        if (i % 3 == 2)
            release(oldest++);
        usleep(10000);
    }
    return 0;
}
