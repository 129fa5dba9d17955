/* dlopen a library that allocates, call it, dlclose it, twice. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int round = 0; round < 2; round++) {
        void *h = dlopen(argv[1], RTLD_NOW);
        if (!h) { const char *e = dlerror(); if (write(2, e, strlen(e)) < 0) return 3; return 2; }
        void (*work)(void) = (void (*)(void))dlsym(h, "plugin_work");
        void (*release)(void) = (void (*)(void))dlsym(h, "plugin_release");
        work();
        release();
        dlclose(h);
    }
    return 0;
}
