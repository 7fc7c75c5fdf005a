/* vmm-glue's QMP client against a QMP server played by the test on a real
 * unix socket, saying what QEMU may say and when: an event before the
 * greeting (QEMU's migration thread writes one to a client that just
 * connected, before the monitor greets it), events between a command and
 * its reply, a reply to a command given up on, lines split across reads,
 * a reply that ends mid-line when QEMU goes away, a line that is not
 * JSON, and a server that greets with something other than QMP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "utils/util.h"
#include "vmm-glue/qmp.h"

#define GREETING                                                              \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "        \
    "\"major\": 7}}, \"capabilities\": [\"oob\"]}}\r\n"
#define EVENT(NAME)                                                           \
    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "      \
    "\"" NAME "\", \"data\": {\"status\": \"active\"}}\r\n"

/* One step of the server's script: send 'text' (if not NULL), or read one
 * line from the client (if 'text' is NULL); 'pause_ms' before it. */
struct step {
    const char *text; /* What to send, or NULL to read a line. */
    int pause_ms;     /* How long to wait before the step. */
};

/* The server: a listening socket and the script of its one client. */
struct server {
    int fd;                   /* The listening socket. */
    const struct step *steps; /* The script, ended by a step of pause -1. */
    char path[108];           /* The socket's path. */
    pthread_t thread;         /* Plays the script. */
};

/* Reads one line of the client's into nothing; false at its end. */
static bool
server_read_line(int fd)
{
    char c;

    do {
        if (read(fd, &c, 1) != 1) {
            return false;
        }
    } while (c != '\n');
    return true;
}

static void *
server_main(void *server_)
{
    struct server *server = server_;
    int fd = accept(server->fd, NULL, NULL);

    assert_true(fd >= 0);
    for (const struct step *s = server->steps; s->pause_ms >= 0; s++) {
        usleep(s->pause_ms * 1000);
        if (s->text) {
            assert_int_equal(write(fd, s->text, strlen(s->text)),
                             strlen(s->text));
        } else if (!server_read_line(fd)) {
            break;
        }
    }
    close(fd);
    return NULL;
}

/* Starts a server playing 'steps' to its first client. */
static void
server_start(struct server *server, const struct step *steps)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    snprintf(server->path, sizeof server->path, "/tmp/test-qmp-%d.sock",
             (int) getpid());
    unlink(server->path);
    strcpy(sun.sun_path, server->path);
    server->steps = steps;
    server->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(server->fd >= 0);
    assert_int_equal(bind(server->fd, (struct sockaddr *) &sun, sizeof sun),
                     0);
    assert_int_equal(listen(server->fd, 1), 0);
    assert_int_equal(
        pthread_create(&server->thread, NULL, server_main, server), 0);
}

static void
server_stop(struct server *server)
{
    pthread_join(server->thread, NULL);
    close(server->fd);
    unlink(server->path);
}

/* Plays 'steps' to a client that opens QMP and runs "query-migrate": the
 * reply's status must be 'status' and the client must have seen the
 * events named in 'events' (NULL-terminated). */
static void
check_query(const struct step *steps, const char *status,
            const char *const *events)
{
    struct server server;
    struct qmp *qmp;
    json_t *ret;

    server_start(&server, steps);
    assert_int_equal(qmp_open(server.path, 5000, &qmp), 0);
    assert_int_equal(qmp_execute(qmp, "query-migrate", NULL, 5000, &ret), 0);
    assert_string_equal(json_string_value(json_object_get(ret, "status")),
                        status);
    for (; *events; events++) {
        assert_true(qmp_saw_event(qmp, *events));
    }
    json_decref(ret);
    qmp_close(qmp);
    server_stop(&server);
}

/* QEMU's migration thread wrote an event to the client before its
 * greeting: the client notes it and greets. */
static void
test_event_before_greeting(void **state)
{
    static const struct step steps[] = {
        {EVENT("MIGRATION"), 0},
        {GREETING, 0},
        {NULL, 0},
        {"{\"return\": {}, \"id\": 1}\r\n", 0},
        {NULL, 0},
        {"{\"return\": {\"status\": \"completed\"}, \"id\": 2}\r\n", 0},
        {NULL, -1},
    };
    static const char *const events[] = {"MIGRATION", NULL};

    (void) state;
    check_query(steps, "completed", events);
}

/* Events between a command and its reply, a reply to an older id, and
 * lines split across reads (mid-token, and CR from LF): the reply is the
 * one with the command's id. */
static void
test_events_and_split_lines(void **state)
{
    static const struct step steps[] = {
        {"{\"QMP\": {\"version\": {}, ", 0},
        {"\"capabilities\": []}}\r", 30},
        {"\n", 30},
        {NULL, 0},
        {EVENT("RESUME") "{\"return\": {}, \"id\": 1}\r\n", 0},
        {NULL, 0},
        {EVENT("MIGRATION_PASS"), 0},
        {"{\"return\": {\"status\": \"old\"}, \"id\": 1}\r\n{\"ret", 20},
        {"urn\": {\"status\": \"act", 20},
        {"ive\"}, \"id\": 2}\r\n" EVENT("STOP"), 20},
        {NULL, -1},
    };
    static const char *const events[] = {"RESUME", "MIGRATION_PASS", NULL};

    (void) state;
    check_query(steps, "active", events);
}

/* QEMU goes away mid-reply: EPIPE, not EPROTO; a line that is not JSON
 * is EPROTO. */
static void
test_close_mid_line_and_garbage(void **state)
{
    static const struct step closing[] = {
        {GREETING, 0},
        {NULL, 0},
        {"{\"return\": {}, \"id\": 1}\r\n", 0},
        {NULL, 0},
        {"{\"return\": {\"sta", 0},
        {NULL, -1},
    };
    static const struct step garbage[] = {
        {GREETING, 0},
        {NULL, 0},
        {"{\"return\": {}, \"id\": 1}\r\n", 0},
        {NULL, 0},
        {"{\"return\": {]}\r\n", 0},
        {NULL, -1},
    };
    struct server server;
    struct qmp *qmp;
    json_t *ret;

    (void) state;
    server_start(&server, closing);
    assert_int_equal(qmp_open(server.path, 5000, &qmp), 0);
    assert_int_equal(qmp_execute(qmp, "query-migrate", NULL, 5000, &ret),
                     EPIPE);
    assert_null(ret);
    qmp_close(qmp);
    server_stop(&server);

    server_start(&server, garbage);
    assert_int_equal(qmp_open(server.path, 5000, &qmp), 0);
    assert_int_equal(qmp_execute(qmp, "query-migrate", NULL, 5000, &ret),
                     EPROTO);
    qmp_close(qmp);
    server_stop(&server);
}

/* A server that greets with a reply, not QMP's greeting, is not QMP; one
 * that never greets times out. */
static void
test_not_qmp(void **state)
{
    static const struct step reply[] = {
        {"{\"return\": {}, \"id\": 1}\r\n", 0},
        {NULL, -1},
    };
    static const struct step silent[] = {
        {NULL, 0},
        {NULL, -1},
    };
    struct server server;
    struct qmp *qmp;

    (void) state;
    server_start(&server, reply);
    assert_int_equal(qmp_open(server.path, 5000, &qmp), EPROTO);
    assert_null(qmp);
    server_stop(&server);

    server_start(&server, silent);
    assert_int_equal(qmp_open(server.path, 200, &qmp), ETIMEDOUT);
    assert_null(qmp);
    /* The server waits for a line that never comes until the socket
     * closes, which qmp_open() did. */
    server_stop(&server);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_before_greeting),
        cmocka_unit_test(test_events_and_split_lines),
        cmocka_unit_test(test_close_mid_line_and_garbage),
        cmocka_unit_test(test_not_qmp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
