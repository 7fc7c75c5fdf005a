/* A small HTTP client for the controller's REST API (doc/api.md), over
 * libcurl: JSON in, JSON out, a bearer token, timeouts, and a way for
 * another thread to abort a request that is waiting (a long poll) at
 * once.
 *
 * One client serves one thread at a time; it keeps its connection to the
 * controller open between requests.  Only http_client_set_token() and
 * http_client_cancel() may be called from other threads.
 *
 * curl_global_init() must have been called before the first client is
 * created, while the program has one thread. */
#ifndef AGENT_HTTP_CLIENT_H
#define AGENT_HTTP_CLIENT_H 1

#include <stdbool.h>

struct json_t;
struct http_client;

/* How long a connection attempt may take, in milliseconds. */
#define HTTP_CLIENT_CONNECT_TIMEOUT_MS 5000

/* The outcome of a request. */
struct http_response {
    long status;         /* HTTP status, 0 if no answer came. */
    struct json_t *body; /* The answer's JSON body, or NULL. */
    char *message;       /* Why no answer came, or the message of an
                          * answer with status 400 or more; else NULL. */
};

/* Creates a client of the controllers at 'base_url', a list of base URLs
 * ("http://HOST:PORT" or "https://...") separated by commas, which
 * utils/url-list.h must have checked, verifying an https controller
 * against the CA certificates in the file 'cacert' (NULL: the system's),
 * that sends 'token' (NULL: none) as its bearer token.
 *
 * A request goes to the controller that answered last; if it gets no
 * answer or a 503, it goes on to the next of the list, as
 * url_list_should_retry() says (doc/replication.md, "Clients"). */
struct http_client *http_client_create(const char *base_url,
                                       const char *cacert, const char *token);
void http_client_destroy(struct http_client *);

/* The base URL of the controller the next request goes to first: the one
 * that answered last. */
const char *http_client_url(const struct http_client *);

/* Replaces the bearer token for the requests that follow. */
void http_client_set_token(struct http_client *, const char *token);

/* Makes the request in progress, if any, and every later one fail at once
 * with ECANCELED.  For stopping the thread that uses the client. */
void http_client_cancel(struct http_client *);

/* Sends 'method' to 'path' (under the base URL, starting with '/'), with
 * 'body' as its JSON body if nonnull, and waits for each controller's
 * answer for at most 'timeout_ms' milliseconds.  Fills in 'response' (the
 * caller clears it with http_response_clear()).
 *
 * Returns 0 if an answer came, whatever its status (a 503 only once every
 * controller of the list answered one; a body that is not JSON is no
 * body; for status 400 and more 'message' says what the
 * controller said); otherwise ECANCELED, ETIMEDOUT, ECONNREFUSED (nothing
 * listens, or the host cannot be reached), EPROTO (TLS failed, or the
 * answer was not HTTP), or EIO, with 'message' saying what happened. */
int http_client_request(struct http_client *, const char *method,
                        const char *path, const struct json_t *body,
                        long timeout_ms, struct http_response *response);

void http_response_clear(struct http_response *);

#endif /* agent/http-client.h */
