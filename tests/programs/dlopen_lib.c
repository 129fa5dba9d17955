#include <stdlib.h>
void *kept;
/* Called through dlsym: 3 allocations, one of them kept. */
void plugin_work(void) {
    void *volatile a = malloc(111);
    void *volatile b = malloc(222);
    kept = malloc(333);
    free(a);
    free(b);
}
void plugin_release(void) { free(kept); }
