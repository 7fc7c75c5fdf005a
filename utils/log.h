/* Leveled logging to stderr, where journald picks it up.  Each message is one
 * line prefixed with its level in the form systemd understands ("<3>" for
 * errors) when stderr is the journal, and with a level name otherwise. */
#ifndef UTILS_LOG_H
#define UTILS_LOG_H 1

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_ERR,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DBG,
};

void log_set_level(enum log_level);
/* Parses "error", "warn", "info" or "debug".  Returns 0 or EINVAL. */
int log_parse_level(const char *, enum log_level *);
void log_set_program(const char *name);
bool log_enabled(enum log_level);

void log_msg(enum log_level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_ERR(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define LOG_WARN(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_DBG(...)                                                          \
    do {                                                                      \
        if (log_enabled(LOG_LEVEL_DBG)) {                                     \
            log_msg(LOG_LEVEL_DBG, __VA_ARGS__);                              \
        }                                                                     \
    } while (0)

#endif /* utils/log.h */
