/* A client of QEMU's machine protocol (QMP) on a unix socket: one
 * connection, one command at a time, each with a deadline.
 *
 * QMP sends a greeting, then wants "qmp_capabilities" before anything
 * else; after that every command gets one reply (a "return" or an "error")
 * carrying the command's "id", and asynchronous events ("event") may come
 * before, between or after replies, even before the greeting (QEMU's
 * migration thread may write one to a client the monitor has not greeted
 * yet).  The client matches replies by id and
 * keeps the names of the events it saw, so a caller can tell a guest's
 * own SHUTDOWN from a crash. */
#ifndef VMM_GLUE_QMP_H
#define VMM_GLUE_QMP_H 1

#include <jansson.h>
#include <stdbool.h>

struct qmp;

/* Connects to 'path', reads the greeting and negotiates capabilities, all
 * within 'timeout_ms'.  Returns 0, ENOENT or ECONNREFUSED (nobody
 * listens), ETIMEDOUT, or EPROTO (not QMP). */
int qmp_open(const char *path, int timeout_ms, struct qmp **);
void qmp_close(struct qmp *); /* NULL: no-op. */

/* Runs 'command' with 'args' (a JSON object, or NULL; the reference is
 * stolen) and waits up to 'timeout_ms' for its reply.  On success, returns
 * 0 and, if 'ret' is not NULL, stores the reply's "return" value in '*ret'
 * (the caller decrefs it).  QEMU's refusal is EIO with its "desc" in
 * qmp_error(); ETIMEDOUT, EPIPE (QEMU went away) and EPROTO otherwise. */
int qmp_execute(struct qmp *, const char *command, json_t *args,
                int timeout_ms, json_t **ret);

/* Why the last command failed, as QEMU said it, or "". */
const char *qmp_error(const struct qmp *);

/* Whether event 'name' (e.g. "SHUTDOWN") arrived on this connection. */
bool qmp_saw_event(const struct qmp *, const char *name);

#endif /* vmm-glue/qmp.h */
