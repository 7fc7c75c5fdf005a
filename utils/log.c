#include "utils/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum log_level log_level = LOG_LEVEL_INFO;
static const char *log_program = "fabric";

static const char *const level_names[] = {
    [LOG_LEVEL_ERR] = "error",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DBG] = "debug",
};

/* syslog(3) priorities, for journald's "<N>" line prefix. */
static const int level_priorities[] = {
    [LOG_LEVEL_ERR] = 3,
    [LOG_LEVEL_WARN] = 4,
    [LOG_LEVEL_INFO] = 6,
    [LOG_LEVEL_DBG] = 7,
};

void
log_set_level(enum log_level level)
{
    log_level = level;
}

int
log_parse_level(const char *s, enum log_level *level)
{
    for (int i = 0; i <= LOG_LEVEL_DBG; i++) {
        if (!strcmp(s, level_names[i])) {
            *level = i;
            return 0;
        }
    }
    return EINVAL;
}

void
log_set_program(const char *name)
{
    log_program = name;
}

bool
log_enabled(enum log_level level)
{
    return level <= log_level;
}

void
log_msg(enum log_level level, const char *format, ...)
{
    static int journal = -1;
    char line[4096];
    va_list args;
    size_t len;
    int n;

    if (!log_enabled(level)) {
        return;
    }
    if (journal < 0) {
        journal = getenv("JOURNAL_STREAM") != NULL;
    }
    if (journal) {
        n = snprintf(line, sizeof line, "<%d>", level_priorities[level]);
    } else {
        struct timespec ts;
        struct tm tm;
        char stamp[32];

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line, sizeof line, "%s.%03ldZ %s %s: ", stamp,
                     ts.tv_nsec / 1000000, log_program, level_names[level]);
    }
    len = n < 0 ? 0 : (size_t) n;
    va_start(args, format);
    n = vsnprintf(line + len, sizeof line - len, format, args);
    va_end(args);
    len += n < 0 ? 0 : (size_t) n;
    if (len > sizeof line - 2) {
        len = sizeof line - 2;  /* Truncated: keep the newline. */
    }
    line[len++] = '\n';
    /* One write per line, so that threads never interleave within one. */
    fwrite(line, 1, len, stderr);
}
