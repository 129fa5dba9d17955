/* Situations that break profilers: allocation in signal handlers, frees in thread-exit
 * destructors, thousands of short threads, posix_spawn. Each mode frees everything except what
 * it says. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;
static volatile long handled;

static void on_alarm(int sig) {
    (void)sig;
    void *p = malloc(48); /* not async-signal-safe in general; programs do it anyway */
    free(p);
    handled++;
}

/* 300,000 malloc/free pairs while a 50 us timer interrupts them with more. */
static int mode_signal(void) {
    signal(SIGALRM, on_alarm);
    struct itimerval t = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &t, NULL);
    for (int i = 0; i < 300000; i++) { sink = malloc(32); free(sink); }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    return handled > 0 ? 0 : 3;
}

static pthread_key_t key;
static void destructor(void *p) {
    free(p);                      /* a free during thread teardown */
    void *q = malloc(17); free(q); /* and a new block */
}
static void *keyed(void *arg) {
    (void)arg;
    pthread_setspecific(key, malloc(100));
    return NULL;
}

/* 10 threads whose key destructors free and allocate. */
static int mode_tls(void) {
    pthread_key_create(&key, destructor);
    for (int i = 0; i < 10; i++) {
        pthread_t t;
        pthread_create(&t, NULL, keyed, NULL);
        pthread_join(t, NULL);
    }
    return 0;
}

static void *short_lived(void *arg) {
    void *a = malloc(10), *b = malloc(20);
    *(void **)arg = malloc(30); /* kept by main */
    free(a); free(b);
    return NULL;
}

/* 2,000 threads one after another, each leaving one 30-byte block to main, which frees them. */
static int mode_threads(void) {
    static void *kept[2000];
    for (int i = 0; i < 2000; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_lived, &kept[i]) != 0) return 4;
        pthread_join(t, NULL);
    }
    for (int i = 0; i < 2000; i++) free(kept[i]);
    return 0;
}

/* posix_spawn (a vfork-style clone on glibc) of /bin/true, between allocations. */
static int mode_spawn(void) {
    extern char **environ;
    sink = malloc(5); free(sink);
    pid_t pid;
    char *argv[] = {"true", NULL};
    if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) != 0) return 5;
    int status;
    waitpid(pid, &status, 0);
    sink = malloc(6); free(sink);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 6;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "signal")) return mode_signal();
    if (!strcmp(argv[1], "tls")) return mode_tls();
    if (!strcmp(argv[1], "threads")) return mode_threads();
    if (!strcmp(argv[1], "spawn")) return mode_spawn();
    return 2;
}
