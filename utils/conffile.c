/* Reading "key = value" configuration files. */
#include "utils/conffile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utils/util.h"

/* Removes white space at both ends of 's' in place. */
static char *
trim(char *s)
{
    char *end;

    while (isspace((unsigned char) *s)) {
        s++;
    }
    end = s + strlen(s);
    while (end > s && isspace((unsigned char) end[-1])) {
        *--end = '\0';
    }
    return s;
}

/* Parses one line 'line' of a configuration file and hands its setting,
 * if any, to 'set'.  Returns NULL or a message. */
static char *
parse_line(char *line, conffile_set_func *set, void *aux)
{
    char *s, *eq;

    for (s = line; *s; s++) {
        /* A comment starts a line or follows white space, so that a '#'
         * inside a value (a URL fragment, say) is not cut off unseen. */
        if (*s == '#' && (s == line || isspace((unsigned char) s[-1]))) {
            *s = '\0';
            break;
        }
    }
    s = trim(line);
    if (!*s) {
        return NULL;
    }
    eq = strchr(s, '=');
    if (!eq) {
        return xasprintf("expected \"key = value\"");
    }
    *eq = '\0';
    return set(aux, trim(s), trim(eq + 1));
}

int
conffile_read(const char *path, conffile_set_func *set, void *aux, char **msg)
{
    char *line = NULL;
    size_t size = 0;
    int lineno = 0;
    int error = 0;
    FILE *f;

    *msg = NULL;
    f = fopen(path, "r");
    if (!f) {
        error = errno;
        if (error != ENOENT) {
            *msg = xasprintf("%s: %s", path, strerror(error));
        }
        return error;
    }
    while (getline(&line, &size, f) >= 0) {
        char *problem;

        lineno++;
        problem = parse_line(line, set, aux);
        if (problem) {
            *msg = xasprintf("%s:%d: %s", path, lineno, problem);
            free(problem);
            error = EINVAL;
            break;
        }
    }
    if (!error && ferror(f)) {
        error = errno ? errno : EIO;
        *msg = xasprintf("%s: %s", path, strerror(error));
    }
    free(line);
    fclose(f);
    return error;
}
