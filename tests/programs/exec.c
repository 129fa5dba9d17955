/* Allocates 4 blocks, then execs argv[1] with argv[2...]. */
#include <stdlib.h>
#include <unistd.h>

void *volatile sink;

int main(int argc, char **argv) {
    for (int i = 0; i < 4; i++) sink = malloc(44);
    if (argc < 2) return 2;
    execv(argv[1], argv + 1);
    return 3;
}
