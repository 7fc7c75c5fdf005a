/* A small JSON-over-HTTP server on libmicrohttpd.
 *
 * One thread per connection (so a long poll blocks only its own client),
 * keep-alive, optional TLS, a body limit enforced before the body is read,
 * and a router that maps a method and a path pattern to a handler.  A
 * pattern is a path whose "*" segments match any one segment; the matched
 * segments are the request's parameters.  A path that matches no pattern
 * is answered 404, and one that matches only with other methods 405 with
 * an Allow header.
 *
 * The server knows nothing of the resources it serves: an 'authorize' hook
 * runs before each handler with the route's 'access' value, and a
 * 'completed' hook after each request, for metrics and audit. */
#ifndef CONTROLLER_HTTP_H
#define CONTROLLER_HTTP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

struct http_request;
struct http_server;

/* Handles a request routed to it; 'data' is the route's. */
typedef void http_handler_func(struct http_request *, const void *data,
                               void *aux);

/* A route whose request body is handed over as it arrives instead of
 * being collected up to the body limit (its route's 'data', with a NULL
 * 'handler'): an upload of any size, which
 * never sits in memory whole.  The server calls 'begin' once the headers
 * are in and the request is authorized, 'write' for each piece of the
 * body, 'finish' at its end to answer, and 'destroy' when the request is
 * over, whether it finished or the client went away. */
struct http_upload {
    /* Returns the upload's state, or NULL having answered (the body is
     * then not read). */
    void *(*begin)(struct http_request *, void *aux);
    /* Takes 'len' bytes at 'buf'.  It cannot answer: it records a
     * failure in 'state' for 'finish' to answer, and ignores the rest. */
    void (*write)(void *state, const void *buf, size_t len);
    /* Answers the request, the whole body having arrived. */
    void (*finish)(struct http_request *, void *state, void *aux);
    /* Frees 'state', undoing what an unfinished upload left. */
    void (*destroy)(void *state);
};

/* One route. */
struct http_route {
    const char *method;         /* "GET", "POST"... (HEAD routes as GET). */
    const char *pattern;        /* E.g. "/v1/networks/" "*". */
    http_handler_func *handler; /* What answers, or NULL for a route
                                 * whose 'data' is a struct http_upload
                                 * that streams the body. */
    const void *data;           /* Passed to 'handler'. */
    int access;                 /* Passed to the 'authorize' hook. */
};

/* What the server calls around handlers. */
struct http_hooks {
    /* Decides whether the request may reach a route with 'access'; if
     * not, it answers the request itself and returns false. */
    bool (*authorize)(struct http_request *, int access, void *aux);
    /* Called once per request when it is over, answered or not. */
    void (*completed)(struct http_request *, void *aux);
    void *aux; /* Passed to hooks and handlers. */
};

/* How to serve. */
struct http_config {
    const char *listen;             /* "ADDR:PORT", "[ADDR6]:PORT"; port 0
                                     * picks a free one. */
    const char *tls_cert;           /* PEM certificate chain, or NULL for
                                     * plain HTTP. */
    const char *tls_key;            /* PEM private key, with 'tls_cert'. */
    size_t body_max;                /* Largest request body, bytes. */
    unsigned int max_connections;   /* Most connections at once (0:
                                     * HTTP_MAX_CONNECTIONS). */
    unsigned int max_per_address;   /* Most connections from one client
                                     * address (0: HTTP_MAX_PER_ADDRESS). */
    unsigned int idle_timeout;      /* Seconds a connection may stay idle,
                                     * and has from its opening, until a
                                     * request of it is authenticated (0:
                                     * HTTP_IDLE_TIMEOUT). */
    unsigned int auth_idle_timeout; /* Seconds it may stay idle after that
                                     * (0: HTTP_AUTH_IDLE_TIMEOUT). */
};

/* The request body limit of doc/api.md. */
#define HTTP_BODY_MAX (1024 * 1024)

/* Connection limits by default (man/fabric-controller.8).  A connection
 * holds a thread, so an unauthenticated one may only live briefly (a
 * watchdog ends one that trickles its request in); one that has
 * authenticated may idle longer than the longest long poll, so
 * that an agent's connection survives between its polls. */
#define HTTP_MAX_CONNECTIONS 1024
#define HTTP_MAX_PER_ADDRESS 64
#define HTTP_IDLE_TIMEOUT 10
#define HTTP_AUTH_IDLE_TIMEOUT 330

/* Parses 'listen' ("127.0.0.1:9470", "[::1]:9470").  Returns NULL on
 * success, else what is wrong. */
const char *http_parse_listen(const char *listen,
                              struct sockaddr_storage *addr, socklen_t *len);

/* Starts serving 'routes' (the array must outlive the server).  Returns 0
 * or an errno value, logging why. */
int http_server_start(const struct http_config *,
                      const struct http_route *routes, size_t n_routes,
                      const struct http_hooks *, struct http_server **);
/* The port the server listens on. */
uint16_t http_server_port(const struct http_server *);
/* Stops accepting and closes the listening socket; the connections open
 * are served on. */
void http_server_quiesce(struct http_server *);
/* Stops accepting, closes every connection, waits for their threads and
 * frees. */
void http_server_stop(struct http_server *);

/* The request. */
const char *http_request_method(const struct http_request *);
const char *http_request_path(const struct http_request *);
/* The 'i'th parameter (a "*" segment of the route's pattern). */
const char *http_request_param(const struct http_request *, size_t i);
const char *http_request_header(const struct http_request *, const char *name);
/* The query as a JSON object: each parameter's value as a string (""
 * without "="), or an array of strings if it is repeated. */
const json_t *http_request_query(struct http_request *);
/* Decodes the body into '*body' (NULL if there is none).  On malformed
 * JSON answers 400 and returns false. */
bool http_request_json(struct http_request *, json_t **body);
/* The client's address, "192.0.2.7" or "2001:db8::7" (an IPv4-mapped
 * IPv6 address is given as IPv4). */
const char *http_request_client(const struct http_request *);
/* Marks the request as authenticated: its connection may then stay idle
 * for the longer 'auth_idle_timeout'. */
void http_request_authenticated(struct http_request *);
/* The route's 'access', or -1 if the request matched no route. */
int http_request_access(const struct http_request *);

/* Per-request data for the hooks: 'data' is freed with 'destroy' when the
 * request ends. */
void http_request_set_data(struct http_request *, void *data,
                           void (*destroy)(void *));
void *http_request_data(const struct http_request *);

/* The answer, once given. */
int http_request_status(const struct http_request *);
/* Seconds since the request arrived. */
double http_request_seconds(const struct http_request *);
/* The error message of the answer, or the note set by
 * http_request_set_note(), or NULL. */
const char *http_request_message(const struct http_request *);
void http_request_set_note(struct http_request *, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Answering.  Each request gets exactly one answer. */
void http_reply(struct http_request *, int status, const char *content_type,
                const void *body, size_t len);
/* Answers 'body' (stolen; NULL for no body) as JSON. */
void http_reply_json(struct http_request *, int status, json_t *body);
/* Answers {"error": {"status", "reason", "message", "field"}}.  'field'
 * may be NULL. */
void http_reply_error(struct http_request *, int status, const char *field,
                      const char *format, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds a header to the answer; call before answering. */
void http_add_header(struct http_request *, const char *name,
                     const char *value);

#endif /* controller/http.h */
