/* The parent makes 10 allocations, forks; the child makes 7 (33 bytes each) and exits; the
 * parent waits, then makes 5 more (20 bytes each). Nothing is freed after the fork. */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;

int main(void) {
    for (int i = 0; i < 10; i++) { sink = malloc(10); free(sink); }
    pid_t c = fork();
    if (c == 0) {
        for (int i = 0; i < 7; i++) sink = malloc(33);
        exit(0);
    }
    int status;
    waitpid(c, &status, 0);
    for (int i = 0; i < 5; i++) sink = malloc(20);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
