/* memprof.h: label points in time in a memprof capture.
 *
 *     #include <memprof.h>
 *     memprof_mark("phase 2");
 *
 * Without memprof the symbol is absent and the call does nothing. The label shows in every
 * view and can be used as a time (`memprof report --at "phase 2"`). */
#ifndef MEMPROF_H
#define MEMPROF_H

#ifdef __cplusplus
extern "C" {
#endif

void memprof_mark(const char *label) __attribute__((weak));

#define memprof_mark(label) do { if (&memprof_mark != 0) (memprof_mark)(label); } while (0)

#ifdef __cplusplus
}
#endif

#endif
