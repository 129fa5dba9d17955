/* Says "ready" once its SIGINT handler is set, then waits up to 10 s for SIGINT, and 0.2 s
 * more for any other: says how many came and exits 0 when one did, 1 when none did. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void on_interrupt(int sig) {
    (void)sig;
    got++;
}

int main(void) {
    signal(SIGINT, on_interrupt);
    printf("ready\n");
    fflush(stdout);
    for (int i = 0; i < 1000 && !got; i++) usleep(10000);
    for (int i = 0; i < 20; i++) usleep(10000);
    printf("interrupted %d time(s)\n", (int)got);
    return got ? 0 : 1;
}
