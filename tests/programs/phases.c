/* Three phases separated by markers: phase 1 keeps 100 blocks of 1,000 bytes; phase 2 keeps
 * 50 blocks of 2,000 bytes and makes 20 temporary ones; phase 3 frees phase 1's blocks. */
#include <stdlib.h>
#include "memprof.h"

#define NOINL __attribute__((noinline, noclone))
static void *one[100];
void *volatile two[50]; /* volatile: kept though never read */
void *volatile sink;

static NOINL void phase1(void) { for (int i = 0; i < 100; i++) one[i] = malloc(1000); }
static NOINL void phase2(void) {
    for (int i = 0; i < 50; i++) two[i] = malloc(2000);
    for (int i = 0; i < 20; i++) { sink = malloc(10); free(sink); }
}
static NOINL void phase3(void) { for (int i = 0; i < 100; i++) free(one[i]); }

int main(void) {
    phase1();
    memprof_mark("phase 2");
    phase2();
    memprof_mark("phase 3");
    phase3();
    return 0;
}
