/* Allocates 100 blocks of 1000 bytes, writes its pid to argv[1], waits for the file argv[2]
 * to exist, then allocates 50 blocks of 2000 bytes: a moment between the two phases for
 * `memprof mark` from outside. Everything leaks. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *volatile sink;

static void first(void) { for (int i = 0; i < 100; i++) sink = malloc(1000); }
static void second(void) { for (int i = 0; i < 50; i++) sink = malloc(2000); }

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    first();
    FILE *f = fopen(argv[1], "w");
    if (!f) return 2;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    for (int i = 0; i < 3000 && access(argv[2], F_OK) != 0; i++) usleep(10000);
    second();
    return 0;
}
