/* An HTTP client of fabric-controller's REST API (doc/api.md): sends JSON
 * requests with the bearer token and returns the status and the parsed
 * JSON answer.
 *
 * One libcurl handle serves every request of a client, so that a command
 * that needs several requests (a list of many pages, "status") reuses one
 * connection instead of opening one per request. */
#ifndef CLI_CLIENT_H
#define CLI_CLIENT_H 1

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct client;

/* How to reach the controller.  The strings are copied. */
struct client_config {
    const char *url;    /* Base URLs separated by commas, checked by
                         * utils/url-list.h: "http://127.0.0.1:9470". */
    const char *token;  /* Bearer token, or NULL to send none. */
    const char *cacert; /* CA bundle for https, or NULL for the system's. */
    long timeout_ms;    /* Limit for one whole request to one
                         * controller; 0 for none. */
    FILE *verbose;      /* Where to say which controller answered each
                         * request (-v), or NULL. */
};

/* One answer of the controller. */
struct client_response {
    long status;  /* HTTP status code. */
    json_t *json; /* The body parsed as JSON, or NULL (empty, not JSON). */
    char *text;   /* The body as received, NUL-terminated. */
    size_t len;   /* Bytes of 'text' (a console may hold NULs). */
};

/* Creates a client for 'config' in '*clientp'.  Returns 0 or an errno
 * value (EINVAL for a bad URL list, ENOMEM if libcurl cannot be
 * initialized).
 *
 * Each request goes to the controller that answered the last one (at
 * first, the first of the list); one that gets no answer or a 503 goes on
 * to the next controller as url_list_should_retry() says
 * (doc/replication.md, "Clients"). */
int client_create(const struct client_config *, struct client **clientp);
void client_destroy(struct client *);

/* The base URL of the controller that answered last (or was tried last),
 * without a trailing "/". */
const char *client_url(const struct client *);

/* Sends 'method' 'path' (starting with "/", query included) with 'body'
 * as JSON if it is not NULL, and "If-Match" with 'if_version' if it is
 * positive.  On an answer, whatever its status, returns 0 and fills
 * 'response', which the caller must release with client_response_clear().
 * If no answer arrived, returns an errno value (ECONNREFUSED, ETIMEDOUT,
 * EPROTO for TLS failures, EHOSTUNREACH, EIO) and stores in '*error' a
 * malloc'd message that names the controller's URL and the cause (each
 * controller's, when several were tried). */
int client_request(struct client *, const char *method, const char *path,
                   const json_t *body, int64_t if_version,
                   struct client_response *response, char **error);

/* Sends 'method' 'path' with the bytes of file 'file' as the body
 * (application/octet-stream), streamed from the disk, and answers as
 * client_request() does.  The request has no time limit as a whole: it
 * fails when no byte moves for the client's timeout.  ENOENT and the like
 * if 'file' cannot be read, with '*error' naming it. */
int client_upload(struct client *, const char *method, const char *path,
                  const char *file, struct client_response *response,
                  char **error);

void client_response_clear(struct client_response *);

/* Returns the malloc'd one-line message for the error answer 'response':
 * the "message" of the API's error object when there is one, otherwise a
 * text made from the status and what the body holds (a proxy's error page,
 * say). */
char *client_error_message(const struct client_response *);

/* Returns a malloc'd copy of 'text' percent-encoded for a path segment or
 * a query value: every byte except ALPHA, DIGIT and "-._~" is escaped. */
char *client_escape(const char *text);

#endif /* cli/client.h */
