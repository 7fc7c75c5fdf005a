/* vmm-glue's QMP client: see qmp.h. */
#include "vmm-glue/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "utils/util.h"

#define QMP_LINE_MAX (1 << 20) /* A longer reply is not QEMU's. */
#define QMP_EVENTS_MAX 32      /* Event names remembered. */

struct qmp {
    int fd;                       /* The connected socket. */
    char *buf;                    /* Bytes read, not yet parsed. */
    size_t len;                   /* Bytes in 'buf'. */
    size_t cap;                   /* Size of 'buf'. */
    unsigned int next_id;         /* Id of the next command. */
    char error[256];              /* Last error's "desc", or "". */
    char *events[QMP_EVENTS_MAX]; /* Names of events seen. */
    size_t n_events;              /* Number of 'events'. */
};

/* Reads one JSON message (QMP ends each with CRLF) before 'deadline'
 * (time_msec()).  Returns 0 and the message in '*msg', or an errno
 * value. */
static int
qmp_read(struct qmp *qmp, int64_t deadline, json_t **msg)
{
    for (;;) {
        char *nl = qmp->len ? memchr(qmp->buf, '\n', qmp->len) : NULL;

        if (nl) {
            size_t n = nl - qmp->buf + 1;
            json_t *j = json_loadb(qmp->buf, n, 0, NULL);

            memmove(qmp->buf, qmp->buf + n, qmp->len - n);
            qmp->len -= n;
            if (j == NULL || !json_is_object(j)) {
                json_decref(j);
                return EPROTO;
            }
            *msg = j;
            return 0;
        }
        if (qmp->len >= QMP_LINE_MAX) {
            return EPROTO;
        }
        if (qmp->cap - qmp->len < 4096) {
            qmp->cap = qmp->cap ? 2 * qmp->cap : 8192;
            qmp->buf = xrealloc(qmp->buf, qmp->cap);
        }

        int64_t left = deadline - time_msec();
        struct pollfd pfd = {.fd = qmp->fd, .events = POLLIN};

        if (left <= 0) {
            return ETIMEDOUT;
        }
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return errno;
        }
        if (r == 0) {
            return ETIMEDOUT;
        }
        ssize_t n = read(qmp->fd, qmp->buf + qmp->len, qmp->cap - qmp->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            return EPIPE;
        }
        qmp->len += n;
    }
}

/* Remembers the name of 'event' (a message with an "event" member). */
static void
qmp_note_event(struct qmp *qmp, const json_t *event)
{
    const char *name = json_string_value(json_object_get(event, "event"));

    if (name && qmp->n_events < QMP_EVENTS_MAX && !qmp_saw_event(qmp, name)) {
        qmp->events[qmp->n_events++] = xstrdup(name);
    }
}

bool
qmp_saw_event(const struct qmp *qmp, const char *name)
{
    for (size_t i = 0; i < qmp->n_events; i++) {
        if (!strcmp(qmp->events[i], name)) {
            return true;
        }
    }
    return false;
}

const char *
qmp_error(const struct qmp *qmp)
{
    return qmp->error;
}

int
qmp_open(const char *path, int timeout_ms, struct qmp **qmpp)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int64_t deadline = time_msec() + timeout_ms;
    struct qmp *qmp;
    json_t *greeting;
    int error;

    *qmpp = NULL;
    if (strlen(path) >= sizeof sun.sun_path) {
        return ENAMETOOLONG;
    }
    strcpy(sun.sun_path, path);
    qmp = xzalloc(sizeof *qmp);
    qmp->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (qmp->fd < 0) {
        error = errno;
        free(qmp);
        return error;
    }
    /* QEMU accepts one QMP client at a time; a second waits in the listen
     * queue until the first leaves, which the deadline below bounds. */
    if (connect(qmp->fd, (struct sockaddr *) &sun, sizeof sun)) {
        error = errno;
        qmp_close(qmp);
        return error;
    }
    /* QEMU resets a monitor to capabilities negotiation only when its next
     * client connects, and its migration thread emits events meanwhile:
     * one may reach the new client before the greeting (a source polling
     * its migration read a "MIGRATION" event where it wanted the greeting,
     * and called its migration failed).  Events are noted, not greeted. */
    while (!(error = qmp_read(qmp, deadline, &greeting))) {
        bool event = json_object_get(greeting, "event") != NULL;

        if (event) {
            qmp_note_event(qmp, greeting);
        } else if (!json_object_get(greeting, "QMP")) {
            error = EPROTO;
        }
        json_decref(greeting);
        if (!event) {
            break;
        }
    }
    if (!error) {
        error = qmp_execute(qmp, "qmp_capabilities", NULL,
                            deadline - time_msec(), NULL);
    }
    if (error) {
        qmp_close(qmp);
        return error;
    }
    *qmpp = qmp;
    return 0;
}

void
qmp_close(struct qmp *qmp)
{
    if (qmp) {
        close(qmp->fd);
        for (size_t i = 0; i < qmp->n_events; i++) {
            free(qmp->events[i]);
        }
        free(qmp->buf);
        free(qmp);
    }
}

/* Writes all of 'data' or fails. */
static int
qmp_write(struct qmp *qmp, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(qmp->fd, data, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno == ECONNRESET ? EPIPE : errno;
        }
        data += n;
        len -= n;
    }
    return 0;
}

int
qmp_execute(struct qmp *qmp, const char *command, json_t *args, int timeout_ms,
            json_t **ret)
{
    int64_t deadline = time_msec() + (timeout_ms > 0 ? timeout_ms : 0);
    unsigned int id = ++qmp->next_id;
    json_t *req =
        json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t) id);
    char *text;
    int error;

    qmp->error[0] = '\0';
    if (ret) {
        *ret = NULL;
    }
    if (args) {
        json_object_set_new(req, "arguments", args);
    }
    text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    error = qmp_write(qmp, text, strlen(text));
    error = error ? error : qmp_write(qmp, "\n", 1);
    free(text);
    while (!error) {
        json_t *msg, *reply;

        error = qmp_read(qmp, deadline, &msg);
        if (error) {
            break;
        }
        if (json_object_get(msg, "event")) {
            qmp_note_event(qmp, msg);
        } else if (json_integer_value(json_object_get(msg, "id")) == id) {
            if ((reply = json_object_get(msg, "return"))) {
                if (ret) {
                    *ret = json_incref(reply);
                }
                json_decref(msg);
                return 0;
            }
            reply = json_object_get(msg, "error");
            snprintf(qmp->error, sizeof qmp->error, "%s",
                     reply && json_string_value(json_object_get(reply, "desc"))
                         ? json_string_value(json_object_get(reply, "desc"))
                         : "malformed error reply");
            json_decref(msg);
            return EIO;
        }
        /* A reply to an earlier command whose caller gave up waiting. */
        json_decref(msg);
    }
    snprintf(qmp->error, sizeof qmp->error, "%s: %s", command,
             strerror(error));
    return error;
}
