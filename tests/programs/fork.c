/* The parent makes 10 allocations, forks; the child makes 7 (33 bytes each) and exits; the
 * parent waits, then makes 5 more (20 bytes each). Nothing is freed after the fork.
 * Arguments: how the child ends ("exit", the default, "_exit", or "return" from a function
 * called by main, which then returns its value) and its exit code (0);
 * the parent exits 0 when the child ended with that code. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile sink;

/* The child's work; it returns the code unless it exits itself. */
static int child(const char *how, int code) {
    for (int i = 0; i < 7; i++) sink = malloc(33);
    if (strcmp(how, "_exit") == 0) _exit(code);
    if (strcmp(how, "return") != 0) exit(code);
    return code;
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "exit";
    int code = argc > 2 ? atoi(argv[2]) : 0;
    for (int i = 0; i < 10; i++) { sink = malloc(10); free(sink); }
    pid_t c = fork();
    if (c == 0) return child(how, code);
    int status;
    waitpid(c, &status, 0);
    for (int i = 0; i < 5; i++) sink = malloc(20);
    return WIFEXITED(status) && WEXITSTATUS(status) == code ? 0 : 1;
}
