/* Allocates 10,000 blocks of 100 bytes, then dies the way argv[1] says. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *volatile sink;

int main(int argc, char **argv) {
    for (int i = 0; i < 10000; i++) sink = malloc(100);
    const char *how = argc > 1 ? argv[1] : "kill";
    if (!strcmp(how, "kill")) kill(getpid(), SIGKILL);
    if (!strcmp(how, "abort")) abort();
    if (!strcmp(how, "segv")) *(volatile int *)16 = 1;
    if (!strcmp(how, "_exit")) _exit(0);
    return 0;
}
