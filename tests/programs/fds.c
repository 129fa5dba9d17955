/* Programs that close descriptors they did not open. Mode "close": closes every descriptor
 * from 3 up (as daemons do), opens a file of its own, allocates 50,000 blocks (many chunks of
 * records), keeps 1,000, and checks its file holds only what it wrote. Arguments after the
 * file, PATH NEW: moves PATH (the capture) to NEW first. Exits 1 if its file was touched by
 * anyone else. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void *kept[1000];

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if (argc > 4 && rename(argv[3], argv[4]) != 0) return 5;
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    for (int fd = 3; fd < (int)r.rlim_cur; fd++) close(fd);
    int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd != 3) return 3;
    for (int i = 0; i < 50000; i++) {
        char *p = malloc(16 + i % 500);
        p[0] = 1;
        if (i % 50 == 0) kept[i / 50] = p;
        else free(p);
    }
    const char line[] = "only this\n";
    if (write(fd, line, sizeof line - 1) != sizeof line - 1) return 4;
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    return n == sizeof line - 1 && memcmp(buf, line, n) == 0 ? 0 : 1;
}
