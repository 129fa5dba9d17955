/* Threads whose first allocation happens inside pthread_getattr_np, which holds the thread's
 * own lock while it allocates (Ruby's and the JVM's threads start this way). Each worker then
 * allocates and frees 100 bytes. An alarm ends the program if it hangs. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static __attribute__((noinline)) void *worker(void *arg) {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return arg;
    pthread_attr_destroy(&attr);
    void *p = malloc(100);
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    return NULL;
}

int main(void) {
    alarm(60);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    return 0;
}
