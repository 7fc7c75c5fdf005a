/* A small JSON-over-HTTP server on libmicrohttpd. */
#include "controller/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "controller/api.h"
#include "utils/log.h"
#include "utils/util.h"

/* Most "*" segments a pattern may have. */
#define HTTP_MAX_PARAMS 4

/* Stack of each connection's thread: enough for the JSON parser at its
 * nesting limit, far less than the default 8 MiB. */
#define HTTP_STACK_SIZE (1024 * 1024)

struct http_server {
    struct MHD_Daemon *daemon;       /* The server. */
    const struct http_route *routes; /* The routes, in match order. */
    size_t n_routes;                 /* Number of 'routes'. */
    struct http_hooks hooks;         /* Authorization, completion. */
    size_t body_max;                 /* Largest request body. */
    unsigned int auth_idle_timeout;  /* Idle seconds once authenticated. */
    unsigned int idle_timeout;       /* Seconds to authenticate in. */
    uint16_t port;                   /* Port bound. */

    /* The deadlines of connections that have not authenticated yet. */
    pthread_mutex_t mutex;   /* Protects 'conns' and 'stopping'. */
    pthread_cond_t wake;     /* Signalled on stop. */
    struct http_conn *conns; /* Every open connection. */
    bool stopping;           /* http_server_stop() was called. */
    pthread_t watchdog;      /* Ends connections past their deadline. */
};

/* An open connection, for the watchdog. */
struct http_conn {
    struct http_conn *next;   /* In 'conns'. */
    struct http_conn **pprev; /* What points to it. */
    int fd;                   /* Its socket. */
    int64_t deadline_ms;      /* CLOCK_MONOTONIC time by which a request
                               * of it must authenticate, or 0. */
};

struct http_request {
    struct http_server *server;    /* Owner. */
    struct MHD_Connection *conn;   /* Its connection. */
    char *method;                  /* "GET"... */
    char *path;                    /* Decoded path, without the query. */
    char client[INET6_ADDRSTRLEN]; /* Client address. */
    struct timespec start;         /* Arrival, CLOCK_MONOTONIC. */

    char *body;       /* Request body so far, or NULL. */
    size_t body_len;  /* Bytes in 'body'. */
    size_t body_size; /* Bytes allocated for 'body'. */
    bool too_large;   /* The body passed the limit. */

    const struct http_route *route; /* Matched route, or NULL. */
    char allow[64];                 /* Without a route: the methods of
                                     * routes of the path, for 405. */
    char *params[HTTP_MAX_PARAMS];  /* Its parameters. */
    size_t n_params;                /* Number of 'params'. */
    json_t *query;                  /* Decoded query, built on demand. */

    void *data;              /* For the hooks. */
    void (*destroy)(void *); /* Frees 'data'. */
    void *upload;            /* The state of the route's 'upload', or
                              * NULL. */

    json_t *headers;               /* Array of [NAME, VALUE] to answer
                                    * with. */
    int status;                    /* HTTP status of the answer, or 0. */
    char *message;                 /* Error message or note, or NULL. */
    struct MHD_Response *response; /* The answer until it is queued. */
    bool queued;                   /* The answer was handed to MHD. */
};

const char *
http_parse_listen(const char *listen, struct sockaddr_storage *ss,
                  socklen_t *len)
{
    const char *colon, *port_s;
    char host[INET6_ADDRSTRLEN];
    size_t host_len;
    long port;
    char *end;

    memset(ss, 0, sizeof *ss);
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');

        if (!close || close[1] != ':') {
            return "expected [IPV6-ADDRESS]:PORT";
        }
        host_len = close - listen - 1;
        memcpy(host, listen + 1, host_len < sizeof host ? host_len : 0);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) {
            return "expected ADDRESS:PORT, e.g. 127.0.0.1:9470";
        }
        host_len = colon - listen;
        memcpy(host, listen, host_len < sizeof host ? host_len : 0);
    }
    if (host_len == 0 || host_len >= sizeof host) {
        return "expected a numeric IPv4 address or [IPv6] before the port";
    }
    host[host_len] = '\0';
    port_s = colon + 1;
    port = strtol(port_s, &end, 10);
    if (!*port_s || *end || port < 0 || port > 65535
        || strspn(port_s, "0123456789") != strlen(port_s)) {
        return "the port must be a number 0..65535";
    }
    if (listen[0] == '[') {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;

        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            return "not a numeric IPv6 address inside [ ]";
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof *sin6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *) ss;

        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            return "not a numeric IPv4 address before the port (use "
                   "[ADDRESS]:PORT for IPv6)";
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof *sin;
    }
    return NULL;
}

const char *
http_request_method(const struct http_request *req)
{
    return req->method;
}

const char *
http_request_path(const struct http_request *req)
{
    return req->path;
}

const char *
http_request_param(const struct http_request *req, size_t i)
{
    return i < req->n_params ? req->params[i] : NULL;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result
query_cb(void *req_, enum MHD_ValueKind kind, const char *key,
         const char *value)
{
    struct http_request *req = req_;
    json_t *old = json_object_get(req->query, key);
    json_t *new = json_string(value ? value : "");

    if (!new) {
        /* Not UTF-8: no parameter takes such a value anyway. */
        new = json_string("\xef\xbf\xbd");
    }
    if (!old) {
        json_object_set_new(req->query, key, new);
    } else if (json_is_array(old)) {
        json_array_append_new(old, new);
    } else {
        json_object_set_new(req->query, key, json_pack("[Oo]", old, new));
    }
    return MHD_YES;
}

const json_t *
http_request_query(struct http_request *req)
{
    if (!req->query) {
        req->query = json_object();
        MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_cb,
                                  req);
    }
    return req->query;
}

/* Returns true if Content-Type value 'type' says JSON in UTF-8:
 * "application/json", or "application/merge-patch+json" (RFC 7396, what
 * a PATCH body is), in any case, with parameters, of which a "charset"
 * may only be UTF-8 (RFC 8259 allows no other). */
static bool
is_json_type(const char *type)
{
    static const char *const types[] = {"application/json",
                                        "application/merge-patch+json"};
    const char *p = NULL;

    for (size_t i = 0; type && !p && i < ARRAY_SIZE(types); i++) {
        size_t len = strlen(types[i]);

        if (!strncasecmp(type, types[i], len)
            && (!type[len] || strchr(" \t;", type[len]))) {
            p = type + len;
        }
    }
    if (!p) {
        return false;
    }
    p += strspn(p, " \t");
    if (!*p) {
        return true;
    } else if (*p != ';') {
        return false;
    }
    while (*p == ';') {
        size_t len;

        p++;
        p += strspn(p, " \t");
        len = strcspn(p, "; \t");
        if (len >= 8 && !strncasecmp(p, "charset=", 8)
            && !(len == 13 && !strncasecmp(p + 8, "utf-8", 5))
            && !(len == 15 && !strncasecmp(p + 8, "\"utf-8\"", 7))) {
            return false;
        }
        p += len;
        p += strspn(p, " \t");
    }
    return !*p;
}

bool
http_request_json(struct http_request *req, json_t **body)
{
    const char *type;
    json_error_t jerr;

    *body = NULL;
    if (!req->body_len) {
        return true;
    }
    type = http_request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!is_json_type(type)) {
        /* A form or text body read as JSON would be a guess; say what
         * to send instead. */
        http_reply_error(req, 415, "Content-Type",
                         "%s %s: the request body must be JSON with "
                         "\"Content-Type: application/json\" (or "
                         "application/merge-patch+json) (not %s%s%s)",
                         req->method, req->path, type ? "\"" : "",
                         type ? type : "no Content-Type", type ? "\"" : "");
        return false;
    }
    *body =
        json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*body) {
        /* jansson's text quotes the body near the error, line breaks
         * included, and the message goes to the audit log. */
        char *text = xstrdup_printable(jerr.text);

        http_reply_error(
            req, 400, NULL,
            "malformed JSON in the request body at line %d, column %d: %s",
            jerr.line, jerr.column, text);
        free(text);
        return false;
    }
    return true;
}

const char *
http_request_client(const struct http_request *req)
{
    return req->client;
}

void
http_request_authenticated(struct http_request *req)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct http_conn *c = info ? info->socket_context : NULL;

    MHD_set_connection_option(req->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                              req->server->auth_idle_timeout);
    if (c) {
        pthread_mutex_lock(&req->server->mutex);
        c->deadline_ms = 0;
        pthread_mutex_unlock(&req->server->mutex);
    }
}

int
http_request_access(const struct http_request *req)
{
    return req->route ? req->route->access : -1;
}

void
http_request_set_data(struct http_request *req, void *data,
                      void (*destroy)(void *))
{
    if (req->destroy) {
        req->destroy(req->data);
    }
    req->data = data;
    req->destroy = destroy;
}

void *
http_request_data(const struct http_request *req)
{
    return req->data;
}

int
http_request_status(const struct http_request *req)
{
    return req->status;
}

double
http_request_seconds(const struct http_request *req)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - req->start.tv_sec)
           + (now.tv_nsec - req->start.tv_nsec) / 1e9;
}

const char *
http_request_message(const struct http_request *req)
{
    return req->message;
}

void
http_request_set_note(struct http_request *req, const char *format, ...)
{
    va_list args;

    free(req->message);
    va_start(args, format);
    if (vasprintf(&req->message, format, args) < 0) {
        req->message = NULL;
    }
    va_end(args);
}

/* Answers with 'len' bytes at 'body', which must come from malloc() and
 * which the answer takes over. */
static void
reply_owned(struct http_request *req, int status, const char *content_type,
            char *body, size_t len)
{
    json_t *header;
    size_t i;

    if (req->status) {
        /* A second answer is a bug; the first one stands. */
        LOG_ERR("http: %s %s answered twice (%d, then %d)", req->method,
                req->path, req->status, status);
        free(body);
        return;
    }
    req->status = status;
    req->response =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (content_type) {
        MHD_add_response_header(req->response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                content_type);
    }
    json_array_foreach(req->headers, i, header)
    {
        MHD_add_response_header(req->response,
                                json_string_value(json_array_get(header, 0)),
                                json_string_value(json_array_get(header, 1)));
    }
}

void
http_reply(struct http_request *req, int status, const char *content_type,
           const void *body, size_t len)
{
    char *copy = xmalloc(len);

    memcpy(copy, body, len);
    reply_owned(req, status, content_type, copy, len);
}

void
http_reply_json(struct http_request *req, int status, json_t *body)
{
    char *text;
    size_t len;

    if (!body) {
        reply_owned(req, status, NULL, NULL, 0);
        return;
    }
    text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!text) {
        http_reply_error(req, 500, NULL,
                         "the answer cannot be encoded as JSON");
        return;
    }
    /* A final newline, for people reading answers with curl. */
    len = strlen(text);
    text = xrealloc(text, len + 2);
    text[len++] = '\n';
    text[len] = '\0';
    reply_owned(req, status, "application/json", text, len);
}

void
http_reply_error(struct http_request *req, int status, const char *field,
                 const char *format, ...)
{
    json_t *error, *message;
    va_list args;
    char *msg;

    va_start(args, format);
    if (vasprintf(&msg, format, args) < 0) {
        msg = xstrdup("(out of memory formatting an error)");
    }
    va_end(args);
    message = json_string(msg);
    if (!message) {
        /* Echoed input that is not UTF-8. */
        message = json_string("(the message is not valid UTF-8)");
    }
    error = json_pack("{sisssO}", "status", status, "reason",
                      api_reason(status), "message", message);
    json_decref(message);
    if (field) {
        json_object_set_new(error, "field", json_string(field));
    }
    free(req->message);
    req->message = msg;
    http_reply_json(req, status, json_pack("{so}", "error", error));
}

void
http_add_header(struct http_request *req, const char *name, const char *value)
{
    json_array_append_new(req->headers, json_pack("[ss]", name, value));
}

/* Formats the address of the client of 'conn' into 'buf'. */
static void
client_address(struct MHD_Connection *conn, char buf[INET6_ADDRSTRLEN])
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = info ? info->client_addr : NULL;

    snprintf(buf, INET6_ADDRSTRLEN, "-");
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;

        inet_ntop(AF_INET, &sin->sin_addr, buf, INET6_ADDRSTRLEN);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], buf,
                      INET6_ADDRSTRLEN);
        } else {
            inet_ntop(AF_INET6, &sin6->sin6_addr, buf, INET6_ADDRSTRLEN);
        }
    }
}

/* The upload of 'route', a route without a handler. */
static const struct http_upload *
route_upload(const struct http_route *route)
{
    return route->data;
}

static struct http_request *
request_create(struct http_server *server, struct MHD_Connection *conn,
               const char *url, const char *method)
{
    struct http_request *req = xzalloc(sizeof *req);

    client_address(conn, req->client);

    req->server = server;
    req->conn = conn;
    req->method = xstrdup(method);
    req->path = xstrdup(url);
    req->headers = json_array();
    clock_gettime(CLOCK_MONOTONIC, &req->start);
    return req;
}

static void
request_destroy(struct http_request *req)
{
    if (req) {
        if (req->upload) {
            route_upload(req->route)->destroy(req->upload);
        }
        if (req->destroy) {
            req->destroy(req->data);
        }
        for (size_t i = 0; i < req->n_params; i++) {
            free(req->params[i]);
        }
        if (req->response) {
            MHD_destroy_response(req->response);
        }
        json_decref(req->query);
        json_decref(req->headers);
        free(req->message);
        free(req->body);
        free(req->method);
        free(req->path);
        free(req);
    }
}

/* Matches 'path' against 'pattern', storing the "*" segments in 'req'. */
static bool
match(struct http_request *req, const char *pattern, const char *path)
{
    const char *starts[HTTP_MAX_PARAMS];
    size_t lens[HTTP_MAX_PARAMS];
    size_t n = 0;

    while (*pattern && *path) {
        if (*pattern == '*' && (pattern[1] == '/' || !pattern[1])) {
            const char *end = strchrnul(path, '/');

            if (end == path || n == HTTP_MAX_PARAMS) {
                return false;
            }
            starts[n] = path;
            lens[n++] = end - path;
            pattern++;
            path = end;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    if (*pattern || *path) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        req->params[i] = xasprintf("%.*s", (int) lens[i], starts[i]);
    }
    req->n_params = n;
    return true;
}

/* Finds the route for 'req' into 'req->route', with its parameters; if
 * there is none, notes in 'req->allow' the methods of the routes that
 * match its path. */
static void
route_find(struct http_request *req)
{
    struct http_server *server = req->server;
    const char *method = !strcmp(req->method, "HEAD") ? "GET" : req->method;
    char *allow = req->allow;

    for (size_t i = 0; i < server->n_routes; i++) {
        const struct http_route *route = &server->routes[i];

        if (!match(req, route->pattern, req->path)) {
            continue;
        }
        if (strcmp(route->method, method)) {
            /* Same path, another method: remember it for 405. */
            if (!strstr(allow, route->method)
                && strlen(allow) + strlen(route->method) + 3
                       < sizeof req->allow) {
                strcat(allow, *allow ? ", " : "");
                strcat(allow, route->method);
            }
            for (size_t j = 0; j < req->n_params; j++) {
                free(req->params[j]);
            }
            req->n_params = 0;
            continue;
        }
        req->route = route;
        return;
    }
}

/* Runs the authorization hook for 'req''s route: true if it may go on,
 * false if the hook answered. */
static bool
route_authorize(struct http_request *req)
{
    struct http_server *server = req->server;

    return !server->hooks.authorize
           || server->hooks.authorize(req, req->route->access,
                                      server->hooks.aux);
}

/* Runs the route found for 'req', or answers 404 or 405. */
static void
dispatch(struct http_request *req)
{
    struct http_server *server = req->server;
    const struct http_route *route = req->route;

    if (route) {
        if (!route->handler) {
            route_upload(route)->finish(req, req->upload, server->hooks.aux);
        } else if (route_authorize(req)) {
            route->handler(req, route->data, server->hooks.aux);
        }
        if (!req->status) {
            LOG_ERR("http: %s %s: the handler gave no answer", req->method,
                    req->path);
            http_reply_error(req, 500, NULL, "internal error: no answer");
        }
    } else if (*req->allow) {
        char allow[sizeof req->allow + 8];

        snprintf(allow, sizeof allow, "%s%s", req->allow,
                 strstr(req->allow, "GET") ? ", HEAD" : "");
        http_add_header(req, "Allow", allow);
        http_reply_error(req, 405, NULL,
                         "%s %s: method not allowed (allowed: %s)",
                         req->method, req->path, allow);
    } else {
        http_reply_error(req, 404, NULL, "%s: no such path", req->path);
    }
}

/* Starts the upload of 'req', whose route streams its body: authorizes
 * it and lets the route begin.  Returns false if either answered. */
static bool
upload_begin(struct http_request *req)
{
    const struct http_route *route = req->route;

    if (!route_authorize(req)) {
        return false;
    }
    req->upload = route_upload(route)->begin(req, req->server->hooks.aux);
    if (!req->upload && !req->status) {
        LOG_ERR("http: %s %s: the upload neither began nor answered",
                req->method, req->path);
        http_reply_error(req, 500, NULL, "internal error: no answer");
    }
    return req->upload != NULL;
}

/* Hands the answer to MHD. */
static enum MHD_Result
queue(struct http_request *req)
{
    enum MHD_Result r;

    req->queued = true;
    r = MHD_queue_response(req->conn, req->status, req->response);
    MHD_destroy_response(req->response);
    req->response = NULL;
    return r;
}

static enum MHD_Result
access_cb(void *server_, struct MHD_Connection *conn, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    struct http_server *server = server_;
    struct http_request *req = *con_cls;

    if (!req) {
        const char *length;

        req = request_create(server, conn, url, method);
        *con_cls = req;
        route_find(req);
        if (req->route && !req->route->handler) {
            /* Refused uploads are answered before their body is read. */
            return upload_begin(req) ? MHD_YES : queue(req);
        }
        length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > server->body_max) {
            /* Refuse before reading: MHD then closes the connection
             * instead of reading the body. */
            req->too_large = true;
            http_reply_error(req, 413, NULL,
                             "the request body of %s bytes is larger than the "
                             "limit of %zu bytes",
                             length, server->body_max);
            return queue(req);
        }
        return MHD_YES;
    }
    if (req->queued) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size && req->upload) {
        route_upload(req->route)
            ->write(req->upload, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;

        if (!req->too_large && req->body_len + n > server->body_max) {
            /* A chunked body without a length: discard the rest. */
            req->too_large = true;
            free(req->body);
            req->body = NULL;
            req->body_len = req->body_size = 0;
        }
        if (!req->too_large) {
            if (req->body_len + n > req->body_size) {
                req->body_size = 2 * req->body_size > req->body_len + n
                                     ? 2 * req->body_size
                                     : req->body_len + n;
                req->body = xrealloc(req->body, req->body_size);
            }
            memcpy(req->body + req->body_len, upload_data, n);
            req->body_len += n;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->too_large) {
        http_reply_error(
            req, 413, NULL,
            "the request body is larger than the limit of %zu bytes",
            server->body_max);
    } else {
        dispatch(req);
    }
    return queue(req);
}

static void
completed_cb(void *server_, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct http_server *server = server_;
    struct http_request *req = *con_cls;

    if (req) {
        if (server->hooks.completed) {
            server->hooks.completed(req, server->hooks.aux);
        }
        request_destroy(req);
        *con_cls = NULL;
    }
}

/* Tracks connections as MHD opens and closes them.  MHD calls this with
 * MHD_CONNECTION_NOTIFY_CLOSED before it closes the socket, so that the
 * watchdog never touches a socket number that was reused. */
static void
connection_cb(void *server_, struct MHD_Connection *conn,
              void **socket_context, enum MHD_ConnectionNotificationCode code)
{
    struct http_server *server = server_;
    struct http_conn *c = *socket_context;

    pthread_mutex_lock(&server->mutex);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

        c = xzalloc(sizeof *c);
        c->fd = info ? info->connect_fd : -1;
        c->deadline_ms = time_msec() + (int64_t) server->idle_timeout * 1000;
        c->next = server->conns;
        c->pprev = &server->conns;
        if (server->conns) {
            server->conns->pprev = &c->next;
        }
        server->conns = c;
        *socket_context = c;
    } else if (c) {
        *c->pprev = c->next;
        if (c->next) {
            c->next->pprev = c->pprev;
        }
        free(c);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&server->mutex);
}

/* Shuts down the sockets of connections that did not authenticate a
 * request within 'idle_timeout' of opening: MHD's own timeout only counts
 * silence, so a client that sends a byte now and then would otherwise keep
 * a thread for ever without a token.  MHD's thread then sees the end of
 * the connection and closes it. */
static void *
watchdog_main(void *server_)
{
    struct http_server *server = server_;

    pthread_mutex_lock(&server->mutex);
    while (!server->stopping) {
        int64_t now = time_msec();
        struct timespec ts;

        for (struct http_conn *c = server->conns; c; c = c->next) {
            if (c->deadline_ms && now >= c->deadline_ms && c->fd >= 0) {
                shutdown(c->fd, SHUT_RDWR);
                c->deadline_ms = 0;
            }
        }
        time_deadline_after(&ts, 250);
        pthread_cond_timedwait(&server->wake, &server->mutex, &ts);
    }
    pthread_mutex_unlock(&server->mutex);
    return NULL;
}

static void
log_cb(void *aux, const char *format, va_list args)
{
    char *msg;

    if (vasprintf(&msg, format, args) >= 0) {
        size_t len = strlen(msg);

        while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r')) {
            msg[--len] = '\0';
        }
        LOG_WARN("http: %s", msg);
        free(msg);
    }
}

/* Frees 'server' once MHD no longer runs. */
static void
http_server_free(struct http_server *server)
{
    pthread_mutex_destroy(&server->mutex);
    pthread_cond_destroy(&server->wake);
    free(server);
}

int
http_server_start(const struct http_config *cfg,
                  const struct http_route *routes, size_t n_routes,
                  const struct http_hooks *hooks, struct http_server **serverp)
{
    struct http_server *server;
    struct MHD_OptionItem tls[3];
    struct sockaddr_storage ss;
    const union MHD_DaemonInfo *info;
    unsigned int flags;
    const char *problem;
    socklen_t len;
    int error;

    *serverp = NULL;
    problem = http_parse_listen(cfg->listen, &ss, &len);
    if (problem) {
        LOG_ERR("listen \"%s\": %s", cfg->listen, problem);
        return EINVAL;
    }
    flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
            | MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    memset(tls, 0, sizeof tls);
    tls[0].option = MHD_OPTION_END;
    if (cfg->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            LOG_ERR("TLS: this libmicrohttpd was built without TLS support");
            return ENOTSUP;
        }
        flags |= MHD_USE_TLS;
        tls[0].option = MHD_OPTION_HTTPS_MEM_CERT;
        tls[0].ptr_value = (void *) cfg->tls_cert;
        tls[1].option = MHD_OPTION_HTTPS_MEM_KEY;
        tls[1].ptr_value = (void *) cfg->tls_key;
        tls[2].option = MHD_OPTION_END;
    }

    server = xzalloc(sizeof *server);
    server->routes = routes;
    server->n_routes = n_routes;
    server->hooks = *hooks;
    server->body_max = cfg->body_max ? cfg->body_max : HTTP_BODY_MAX;
    server->idle_timeout =
        cfg->idle_timeout ? cfg->idle_timeout : HTTP_IDLE_TIMEOUT;
    pthread_mutex_init(&server->mutex, NULL);
    cond_init_monotonic(&server->wake);
    server->auth_idle_timeout = cfg->auth_idle_timeout
                                    ? cfg->auth_idle_timeout
                                    : HTTP_AUTH_IDLE_TIMEOUT;
    server->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_cb, server, MHD_OPTION_EXTERNAL_LOGGER,
        log_cb, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, server,
        MHD_OPTION_NOTIFY_CONNECTION, connection_cb, server,
        MHD_OPTION_CONNECTION_TIMEOUT, server->idle_timeout,
        MHD_OPTION_CONNECTION_LIMIT,
        cfg->max_connections ? cfg->max_connections : HTTP_MAX_CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        cfg->max_per_address ? cfg->max_per_address : HTTP_MAX_PER_ADDRESS,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t) HTTP_STACK_SIZE,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1, MHD_OPTION_ARRAY,
        tls, MHD_OPTION_END);
    if (!server->daemon) {
        error = errno ? errno : EADDRNOTAVAIL;
        LOG_ERR("cannot serve HTTP%s on %s (see the messages above)",
                cfg->tls_cert ? "S" : "", cfg->listen);
        http_server_free(server);
        return error;
    }
    error = pthread_create(&server->watchdog, NULL, watchdog_main, server);
    if (error) {
        LOG_ERR("cannot start the connection watchdog: %s", strerror(error));
        MHD_stop_daemon(server->daemon);
        http_server_free(server);
        return error;
    }
    info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->port = info ? info->port : 0;
    *serverp = server;
    return 0;
}

uint16_t
http_server_port(const struct http_server *server)
{
    return server->port;
}

void
http_server_quiesce(struct http_server *server)
{
    MHD_socket fd = MHD_quiesce_daemon(server->daemon);

    /* Closing the listening socket at once makes new clients fail fast
     * ("connection refused") instead of waiting in the backlog for a
     * server that will never accept them. */
    if (fd != MHD_INVALID_SOCKET) {
        close(fd);
    }
}

void
http_server_stop(struct http_server *server)
{
    if (server) {
        pthread_mutex_lock(&server->mutex);
        server->stopping = true;
        pthread_cond_signal(&server->wake);
        pthread_mutex_unlock(&server->mutex);
        pthread_join(server->watchdog, NULL);
        MHD_stop_daemon(server->daemon);
        http_server_free(server);
    }
}
