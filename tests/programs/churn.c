/* Many allocations of mixed sizes in one thread, with addresses reused all the time: a ring
 * of 256 slots where each step allocates, reallocates or frees a slot chosen by an LCG. The
 * blocks left in the ring at the end are leaked. */
#include <stdlib.h>

#define SLOTS 256
static void *ring[SLOTS];

int main(void) {
    unsigned x = 12345;
    for (int i = 0; i < 300000; i++) {
        x = x * 1103515245u + 12345u;
        unsigned slot = (x >> 8) % SLOTS;
        size_t size = 16 + (x >> 20) % 4000;
        if (!ring[slot])
            ring[slot] = malloc(size);
        else if (i % 3 == 0)
            ring[slot] = realloc(ring[slot], size);
        else {
            free(ring[slot]);
            ring[slot] = 0;
        }
    }
    return 0;
}
