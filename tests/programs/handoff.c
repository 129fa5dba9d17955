/* Two producer threads hand blocks to a consumer thread through a queue; the consumer grows
 * every third block with realloc and frees them all but the last 10 it takes, which are
 * leaked. The main thread meanwhile allocates and frees on its own. Argument: blocks per
 * producer (default 100,000). */
#include <pthread.h>
#include <stdlib.h>

#define QUEUE 64
#define KEPT 10
static void *queue[QUEUE];
static int head, tail, count;
static long per_producer = 100000;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static void *kept[KEPT];
static volatile int done;

static void *producer(void *arg) {
    long id = (long)arg;
    for (long i = 0; i < per_producer; i++) {
        void *p = malloc(16 + (i * 13 + id * 7) % 2000);
        pthread_mutex_lock(&lock);
        while (count == QUEUE) pthread_cond_wait(&changed, &lock);
        queue[tail] = p;
        tail = (tail + 1) % QUEUE;
        count++;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    long total = 2 * per_producer;
    for (long i = 0; i < total; i++) {
        pthread_mutex_lock(&lock);
        while (count == 0) pthread_cond_wait(&changed, &lock);
        void *p = queue[head];
        head = (head + 1) % QUEUE;
        count--;
        pthread_cond_broadcast(&changed);
        pthread_mutex_unlock(&lock);
        if (i % 3 == 0) p = realloc(p, 3000);
        if (i >= total - KEPT) kept[i - (total - KEPT)] = p;
        else free(p);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) per_producer = atol(argv[1]);
    pthread_t t[3];
    pthread_create(&t[0], NULL, producer, (void *)0);
    pthread_create(&t[1], NULL, producer, (void *)1);
    pthread_create(&t[2], NULL, consumer, NULL);
    for (int i = 0; i < 100000; i++) { void *volatile p = malloc(48); free(p); }
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    return 0;
}
