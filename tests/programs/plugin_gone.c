/* dlopen the plugin argv[1], which allocates; say "ready" on stdout; wait until the file
 * argv[2] exists; then delete the plugin's file before exiting: its addresses can only be
 * resolved from a look at it taken while the program ran. */
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { const char *e = dlerror(); if (write(2, e, strlen(e)) < 0) return 3; return 2; }
    void (*work)(void) = (void (*)(void))dlsym(h, "plugin_work");
    work();
    if (write(1, "ready\n", 6) != 6) return 3;
    while (access(argv[2], F_OK) != 0) usleep(1000);
    unlink(argv[1]);
    return 0;
}
