/* A small service-like program for the viewer's screenshots and timings: it parses a
 * document into a tree, fills a cache, serves requests on worker threads (temporary
 * buffers), then drops the cache and leaks a little. `workload N` scales every phase;
 * N = 1 makes about 60,000 events, N = 170 about 10 million. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "memprof.h"

#define NOINL __attribute__((noinline, noclone))

struct node { struct node *kids[4]; char *text; };
static long scale = 1;
void *volatile sink;

static NOINL char *copy_text(unsigned seed) {
    size_t n = 8 + seed % 120;
    char *s = malloc(n);
    memset(s, 'a' + seed % 26, n - 1);
    s[n - 1] = 0;
    return s;
}

static NOINL struct node *parse_node(unsigned *seed, int depth) {
    struct node *n = calloc(1, sizeof *n);
    *seed = *seed * 1103515245u + 12345u;
    n->text = copy_text(*seed);
    if (depth > 0)
        for (int i = 0; i < 4; i++) n->kids[i] = parse_node(seed, depth - 1);
    return n;
}

static NOINL void free_tree(struct node *n) {
    if (!n) return;
    for (int i = 0; i < 4; i++) free_tree(n->kids[i]);
    free(n->text);
    free(n);
}

static NOINL struct node *parse_document(void) {
    unsigned seed = 7;
    return parse_node(&seed, 6); /* 5,461 nodes */
}

static void **cache;
static long cache_len;

static NOINL void *cache_entry(long i) { return malloc(1024 + (i % 7) * 512); }

static NOINL void fill_cache(void) {
    cache_len = 2000 * scale;
    cache = malloc(cache_len * sizeof *cache);
    for (long i = 0; i < cache_len; i++) cache[i] = cache_entry(i);
}

static NOINL void drop_cache(void) {
    for (long i = 0; i < cache_len; i++) free(cache[i]);
    free(cache);
}

static NOINL void *format_reply(long i) {
    char *b = malloc(64 + i % 512);
    b[0] = (char)i;
    return b;
}

static NOINL void handle_request(long i) {
    void *reply = format_reply(i);
    sink = reply;
    free(reply);
    void *scratch = malloc(200);
    sink = scratch;
    free(scratch);
}

static void *worker(void *arg) {
    long id = (long)arg;
    for (long i = 0; i < 5000 * scale; i++) handle_request(i * 3 + id);
    return NULL;
}

static NOINL void serve(void) {
    pthread_t t[3];
    for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
}

static NOINL void remember_session(long i) { sink = malloc(48 + i % 16); /* never freed */ }

int main(int argc, char **argv) {
    if (argc > 1) scale = atol(argv[1]);
    memprof_mark("parse");
    struct node *doc = parse_document();
    memprof_mark("cache");
    fill_cache();
    memprof_mark("serve");
    serve();
    memprof_mark("shutdown");
    drop_cache();
    free_tree(doc);
    for (long i = 0; i < 200; i++) remember_session(i);
    return 0;
}
