/* Small userspace helpers used by every fabric program. */
#ifndef UTILS_UTIL_H
#define UTILS_UTIL_H 1

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that aborts with a message instead of returning NULL: fabric
 * daemons cannot do anything useful when memory runs out. */
void *xmalloc(size_t);
void *xzalloc(size_t);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xasprintf(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* Returns a copy of 's' in which every control character (a byte below
 * 0x20, or 0x7f) is written as a C escape: a line feed as a backslash and
 * 'n', an escape as a backslash and "x1b".  Text that comes from outside (a
 * JSON parser's error, which quotes the input, among it) then never breaks
 * a log line or a one-line message.  The caller frees it. */
char *xstrdup_printable(const char *s);

/* Returns CLOCK_MONOTONIC in milliseconds: for deadlines and intervals
 * that must not jump with the wall clock. */
int64_t time_msec(void);

/* Sets '*ts' to 'ms' milliseconds from now on CLOCK_MONOTONIC, for
 * pthread_cond_timedwait() on a condition from cond_init_monotonic(). */
void time_deadline_after(struct timespec *ts, int ms);

/* Initializes 'cond' to measure timeouts on CLOCK_MONOTONIC, which setting
 * the time does not move. */
void cond_init_monotonic(pthread_cond_t *cond);

/* Reads the whole file 'path' into a NUL-terminated buffer.  Returns 0 and
 * stores the buffer in '*contents' or returns an errno value. */
int read_file(const char *path, char **contents, size_t *len);

/* Writes 'len' bytes to 'path' atomically (temporary file and rename), so a
 * reader never sees half of it. */
int write_file_atomic(const char *path, const void *data, size_t len);

/* Removes directory 'dir' and the files directly in it (not
 * subdirectories), as far as it can. */
void remove_dir_flat(const char *dir);

/* Removes 'dir' and everything under it, without following symbolic
 * links, as far as it can (a scratch directory of a test or bench). */
void remove_tree(const char *dir);

#endif /* utils/util.h */
