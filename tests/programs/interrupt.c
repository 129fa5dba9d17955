/* Says "ready" once its SIGINT handler is set, then waits up to 10 s for SIGINT: exits 0
 * when it came, 1 when not. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_interrupt(int sig) {
    (void)sig;
    got = 1;
}

int main(void) {
    signal(SIGINT, on_interrupt);
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < 1000 && !got; i++) usleep(10000);
    printf(got ? "interrupted\n" : "timeout\n");
    return got ? 0 : 1;
}
