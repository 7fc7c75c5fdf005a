#include "utils/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void
out_of_memory(void)
{
    fputs("fabric: out of memory\n", stderr);
    abort();
}

void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL) {
        out_of_memory();
    }
    return p;
}

void *
xzalloc(size_t size)
{
    return xcalloc(1, size);
}

void *
xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);

    if (p == NULL) {
        out_of_memory();
    }
    return p;
}

void *
xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (p == NULL) {
        out_of_memory();
    }
    return p;
}

char *
xstrdup(const char *s)
{
    size_t len = strlen(s) + 1;

    return memcpy(xmalloc(len), s, len);
}

char *
xstrdup_printable(const char *s)
{
    /* At worst every byte becomes four: "\xNN". */
    char *copy = xmalloc(4 * strlen(s) + 1);
    char *p = copy;

    for (; *s; s++) {
        unsigned char c = *s;

        if (c == '\n') {
            p += sprintf(p, "\\n");
        } else if (c == '\r') {
            p += sprintf(p, "\\r");
        } else if (c == '\t') {
            p += sprintf(p, "\\t");
        } else if (c < 0x20 || c == 0x7f) {
            p += sprintf(p, "\\x%02x", c);
        } else {
            *p++ = c;
        }
    }
    *p = '\0';
    return copy;
}

char *
xasprintf(const char *format, ...)
{
    va_list args;
    char *s;

    va_start(args, format);
    if (vasprintf(&s, format, args) < 0) {
        out_of_memory();
    }
    va_end(args);
    return s;
}

int
read_file(const char *path, char **contents, size_t *lenp)
{
    size_t len = 0, cap = 4096;
    char *buf;
    FILE *f;

    f = fopen(path, "r");
    if (f == NULL) {
        return errno;
    }
    buf = xmalloc(cap);
    for (;;) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);

        len += n;
        if (len + 1 < cap) {
            if (ferror(f)) {
                int error = errno ? errno : EIO;

                fclose(f);
                free(buf);
                return error;
            }
            break;
        }
        cap *= 2;
        buf = xrealloc(buf, cap);
    }
    fclose(f);
    buf[len] = '\0';
    *contents = buf;
    if (lenp) {
        *lenp = len;
    }
    return 0;
}

int
write_file_atomic(const char *path, const void *data, size_t len)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long) getpid());
    const char *p = data;
    int error = 0;
    int fd;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = errno;
        free(tmp);
        return error;
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = errno;
            break;
        }
        p += n;
        len -= n;
    }
    if (!error && fsync(fd) < 0) {
        error = errno;
    }
    if (close(fd) < 0 && !error) {
        error = errno;
    }
    if (!error && rename(tmp, path) < 0) {
        error = errno;
    }
    if (error) {
        unlink(tmp);
    }
    free(tmp);
    return error;
}

int64_t
time_msec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
time_deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long) (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

void
cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}

void
remove_dir_flat(const char *dir)
{
    DIR *d = opendir(dir);

    if (d) {
        struct dirent *de;

        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
                char *path = xasprintf("%s/%s", dir, de->d_name);

                unlink(path);
                free(path);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

static int
remove_tree_entry(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    remove(path);
    return 0;
}

void
remove_tree(const char *dir)
{
    nftw(dir, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
}
