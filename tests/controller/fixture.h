/* What the controller's tests share: a temporary directory with a fresh
 * store (SQLite, or etcd: see fixture_store_url()), a controller serving it on
 * an ephemeral port of 127.0.0.1, and a small libcurl client that speaks JSON
 * to it. */
#ifndef TESTS_CONTROLLER_FIXTURE_H
#define TESTS_CONTROLLER_FIXTURE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "controller/api.h"

struct server;
struct server_config;
struct store;

/* Parses 'text', JSON written with ' for " so that tests stay readable;
 * fails the test on bad JSON. */
json_t *fixture_json(const char *text);

/* A temporary directory that fixture_dir_remove() deletes with its
 * files. */
char *fixture_dir_create(void);
void fixture_dir_remove(char *dir);

/* Returns the URL of a fresh store for a test whose temporary directory is
 * 'dir' (the caller frees it): a file in 'dir', or, if the environment
 * variable FABRIC_TEST_STORE names an etcd ("etcd://127.0.0.1:2379", as
 * tests/controller/etcd-suite.sh sets it), a fresh prefix of it. */
char *fixture_store_url(const char *dir);

/* Asserts that 'got' equals 'expected_text', read by fixture_json(). */
void fixture_expect_json(const json_t *got, const char *expected_text);

/* A fresh store and the API over it, for the tests of the resources that
 * need no HTTP. */
struct fixture_env {
    char *dir;           /* Temporary directory. */
    struct store *store; /* Store in 'dir'. */
    struct api api;      /* Resources over 'store'. */
};

/* A cmocka setup that puts a new struct fixture_env in '*state', and the
 * teardown that destroys it. */
int fixture_env_setup(void **state);
int fixture_env_teardown(void **state);
/* A cmocka test of 'FN' on a struct fixture_env of its own. */
#define FIXTURE_ENV_TEST(FN)                                                  \
    cmocka_unit_test_setup_teardown(FN, fixture_env_setup,                    \
                                    fixture_env_teardown)

/* A create operation of controller/api.h, e.g. api_network_create(). */
typedef int fixture_create_func(struct api *, const json_t *in, json_t **out,
                                struct api_error *);

/* Creates 'text' (read by fixture_json()) with 'fn' and returns the
 * answer, failing the test on an error. */
json_t *fixture_make(struct fixture_env *, fixture_create_func *fn,
                     const char *text);
/* fixture_make() without the answer. */
void fixture_create(struct fixture_env *, fixture_create_func *fn,
                    const char *text);
/* A patch operation of controller/api.h, e.g. api_network_patch(). */
typedef int fixture_patch_func(struct api *, const char *name,
                               const json_t *in, int64_t if_match,
                               json_t **out, struct api_error *);

/* Applies merge patch 'text' (read by fixture_json()) to object 'name'
 * with 'fn' and returns the answer, failing the test on an error. */
json_t *fixture_patch(struct fixture_env *, fixture_patch_func *fn,
                      const char *name, const char *text);
/* Sends heartbeat 'in' (NULL: no body) of host 'host' and returns the
 * status; a 200 must answer the lease. */
int fixture_heartbeat(struct fixture_env *, const char *host, const json_t *in,
                      struct api_error *err);
/* The desired-state document of host 'host', failing the test on an
 * error. */
json_t *fixture_compute(struct fixture_env *, const char *host);

/* A controller on a fresh store. */
struct fixture {
    char *dir;             /* Temporary directory. */
    char *db;              /* Store file in 'dir'. */
    char *token_file;      /* Bootstrap token file in 'dir'. */
    char *storage;         /* Storage directory in 'dir'. */
    struct server *server; /* The running controller. */
    char *base;            /* "http://127.0.0.1:PORT" (or https). */
    char *admin;           /* The bootstrap admin token. */
    void *curl;            /* A kept-alive CURL handle. */
    char *cafile;          /* For HTTPS: the server's certificate. */
};

/* Starts a controller with 'heartbeat_timeout' in a new temporary
 * directory; with 'tls', serves HTTPS with a fresh self-signed
 * certificate.  Fails the test on error. */
struct fixture *fixture_start(int heartbeat_timeout, bool tls);
/* fixture_start() with the limits of 'limits' (its store, connection
 * and image size limits, its HA lease, its ui_dir; its other members are
 * the fixture's own). */
struct fixture *fixture_start_config(int heartbeat_timeout, bool tls,
                                     const struct server_config *limits);
/* Starts another controller on the store of 'first' (an etcd store, for
 * tests of replicas), with a directory of its own and 'first''s admin
 * token. */
struct fixture *fixture_start_replica(const struct fixture *first);
void fixture_stop(struct fixture *);
/* A cmocka setup that puts fixture_start(30, false) in '*state', and the
 * teardown that stops it. */
int fixture_setup(void **state);
int fixture_teardown(void **state);

/* One answer. */
struct reply {
    long status;   /* HTTP status. */
    char *body;    /* Body, NUL-terminated. */
    size_t len;    /* Bytes of 'body'. */
    char *headers; /* Raw response headers. */
    json_t *json;  /* Decoded body, or NULL. */
};

void reply_clear(struct reply *);
/* Returns the value of response header 'name' (a new string), or NULL. */
char *reply_header(const struct reply *, const char *name);
/* The error's "field", "reason" and "message", or "" if absent. */
const char *reply_field(const struct reply *);
const char *reply_reason(const struct reply *);
const char *reply_message(const struct reply *);

/* Sends 'method' 'path' with bearer 'token' (NULL: none), body 'body'
 * (NULL: none, else sent as application/json unless 'header' gives another
 * Content-Type, "Content-Type:" for none) and extra header 'header' (NULL:
 * none) over the fixture's kept-alive connection.  Returns the status. */
long fixture_call(struct fixture *, const char *method, const char *path,
                  const char *token, const char *body, const char *header,
                  struct reply *);
/* Like fixture_call() on a connection of its own, for use from several
 * threads at once. */
long fixture_call_new(struct fixture *, const char *method, const char *path,
                      const char *token, const char *body, const char *header,
                      struct reply *);
/* fixture_call() without an extra header, asserting that the answer has
 * 'status' and, for an error, that it names input field 'field' (unless
 * NULL). */
void fixture_expect(struct fixture *, const char *method, const char *path,
                    const char *token, const char *body, long status,
                    const char *field);
/* fixture_call() as admin, without a reply: returns the status. */
long fixture_admin(struct fixture *, const char *method, const char *path,
                   const char *body);
/* Creates a token with 'role' (and 'host' for agents) and returns its
 * secret (the caller frees it). */
char *fixture_token(struct fixture *, const char *name, const char *role,
                    const char *host);

#endif /* tests/controller/fixture.h */
