/* Reading "key = value" configuration files.
 *
 * Each line holds one setting, "key = value", with white space around the
 * key and the value ignored.  Blank lines are ignored, and so is anything
 * from a "#" that starts a line or follows white space, so that a "#"
 * inside a value (a URL fragment, say) is kept.  Which keys exist and what
 * their values may be is the caller's business: this module only splits
 * lines and says where a problem is. */
#ifndef UTILS_CONFFILE_H
#define UTILS_CONFFILE_H 1

/* Takes setting 'key' = 'value' (both trimmed) for 'aux'.  Returns NULL,
 * or a message saying what is wrong, which the reader frees. */
typedef char *conffile_set_func(void *aux, const char *key, const char *value);

/* Reads file 'path' line by line, calling 'set'('aux', KEY, VALUE) for
 * each setting in order, and stops at the first problem.  Returns 0;
 * ENOENT, with '*msg' NULL, if the file does not exist; EINVAL, with
 * '*msg' "PATH:LINE: PROBLEM", for a line that is not "key = value" or a
 * setting 'set' refuses; or, with '*msg' "PATH: REASON" (REASON from
 * strerror()), an errno value for a file that cannot be opened or read.
 * The caller frees '*msg'. */
int conffile_read(const char *path, conffile_set_func *set, void *aux,
                  char **msg);

#endif /* utils/conffile.h */
