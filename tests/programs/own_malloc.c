/* A program with an allocator of its own named malloc (as programs that link jemalloc or
 * mimalloc statically have): a bump allocator that never frees. */
#include <stddef.h>
#include <stdio.h>

static char arena[1 << 20];
static size_t used;

void *malloc(size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (used + n > sizeof arena) return NULL;
    used += n;
    return arena + used - n;
}
void free(void *p) { (void)p; }
void *calloc(size_t a, size_t b) { return malloc(a * b); }
void *realloc(void *p, size_t n) { (void)p; return malloc(n); }

int main(void) {
    char *volatile p = malloc(100);
    p[0] = 'x';
    printf("%c\n", p[0]);
    return 0;
}
