/* Small userspace helpers used by every fabric program. */
#ifndef UTILS_UTIL_H
#define UTILS_UTIL_H 1

#include <stddef.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation that aborts with a message instead of returning NULL: fabric
 * daemons cannot do anything useful when memory runs out. */
void *xmalloc(size_t);
void *xzalloc(size_t);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xasprintf(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

/* Reads the whole file 'path' into a NUL-terminated buffer.  Returns 0 and
 * stores the buffer in '*contents' or returns an errno value. */
int read_file(const char *path, char **contents, size_t *len);

/* Writes 'len' bytes to 'path' atomically (temporary file and rename), so a
 * reader never sees half of it. */
int write_file_atomic(const char *path, const void *data, size_t len);

#endif /* utils/util.h */
