#include "agent/http-client.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>

#include "utils/log.h"
#include "utils/url-list.h"
#include "utils/util.h"

/* The largest answer accepted.  A desired-state document for a host with
 * thousands of ports and remotes is a few MiB. */
#define HTTP_CLIENT_MAX_BODY (64 * 1024 * 1024)

/* How long one wait for the transfer lasts at most, so that the loop
 * notices a cancellation even if a wakeup were lost. */
#define HTTP_CLIENT_POLL_MS 1000

struct http_client {
    struct url_list urls;         /* The controllers' base URLs. */
    atomic_size_t current;        /* Index in 'urls' of the one that
                                   * answered last, tried first. */
    char *cacert;                 /* CA bundle, or NULL for the system's. */
    CURL *easy;                   /* Reused, so connections stay open. */
    CURLM *multi;                 /* Drives 'easy', so that it can be woken. */
    pthread_mutex_t mutex;        /* Protects 'token'. */
    char *token;                  /* Bearer token, or NULL. */
    atomic_bool cancelled;        /* Set by http_client_cancel(). */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's message for a failure. */
};

/* An answer's body as it arrives. */
struct buffer {
    char *data;       /* The bytes, not NUL-terminated. */
    size_t len;       /* Number of bytes in 'data'. */
    size_t allocated; /* Bytes allocated for 'data'. */
};

struct http_client *
http_client_create(const char *base_url, const char *cacert, const char *token)
{
    struct http_client *c = xzalloc(sizeof *c);

    char *error = url_list_parse(base_url, &c->urls);

    if (error) {
        /* The agent's configuration checked the list already. */
        fprintf(stderr, "fabric-agent: controller \"%s\": %s\n", base_url,
                error);
        abort();
    }
    atomic_init(&c->current, 0);
    c->cacert = cacert ? xstrdup(cacert) : NULL;
    c->token = token ? xstrdup(token) : NULL;
    pthread_mutex_init(&c->mutex, NULL);
    atomic_init(&c->cancelled, false);
    c->easy = curl_easy_init();
    c->multi = curl_multi_init();
    if (!c->easy || !c->multi) {
        fputs("fabric-agent: out of memory initializing libcurl\n", stderr);
        abort();
    }
    return c;
}

void
http_client_destroy(struct http_client *c)
{
    if (c) {
        curl_easy_cleanup(c->easy);
        curl_multi_cleanup(c->multi);
        pthread_mutex_destroy(&c->mutex);
        url_list_clear(&c->urls);
        free(c->cacert);
        free(c->token);
        free(c);
    }
}

void
http_client_set_token(struct http_client *c, const char *token)
{
    pthread_mutex_lock(&c->mutex);
    free(c->token);
    c->token = token ? xstrdup(token) : NULL;
    pthread_mutex_unlock(&c->mutex);
}

void
http_client_cancel(struct http_client *c)
{
    atomic_store(&c->cancelled, true);
    curl_multi_wakeup(c->multi);
}

static size_t
write_cb(char *data, size_t size, size_t n, void *buffer_)
{
    struct buffer *b = buffer_;
    size_t len = size * n;

    if (b->len + len > HTTP_CLIENT_MAX_BODY) {
        /* Returning less than given makes libcurl fail the transfer. */
        return 0;
    }
    if (b->len + len > b->allocated) {
        b->allocated = MAX(b->allocated * 2, b->len + len);
        b->data = xrealloc(b->data, b->allocated);
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return len;
}

/* Maps a libcurl failure to an errno value. */
static int
curl_errno(CURLcode code)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return ECONNREFUSED;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return EPROTO;
    default:
        return EIO;
    }
}

const char *
http_client_url(const struct http_client *c)
{
    return c->urls.urls[atomic_load(&c->current)];
}

/* Sets up 'c->easy' for one request to the controller at 'base'. */
static struct curl_slist *
prepare(struct http_client *c, const char *base, const char *method,
        const char *path, const char *body, long timeout_ms,
        struct buffer *answer)
{
    struct curl_slist *headers = NULL;
    char *url = xasprintf("%s%s", base, path);

    curl_easy_reset(c->easy);
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) HTTP_CLIENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(c->easy, CURLOPT_USERAGENT,
                     "fabric-agent/" PACKAGE_VERSION);
    if (c->cacert) {
        curl_easy_setopt(c->easy, CURLOPT_CAINFO, c->cacert);
    }

    headers = curl_slist_append(headers, "Accept: application/json");
    pthread_mutex_lock(&c->mutex);
    if (c->token) {
        char *auth = xasprintf("Authorization: Bearer %s", c->token);

        headers = curl_slist_append(headers, auth);
        free(auth);
    }
    pthread_mutex_unlock(&c->mutex);
    if (body) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    /* An empty "Expect:" keeps libcurl from waiting for "100 Continue"
     * before it sends a body. */
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "GET")) {
        /* POSTFIELDS makes it a POST; CUSTOMREQUEST renames the method
         * and keeps the body. */
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body ? body : "");
        if (strcmp(method, "POST")) {
            curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
        }
    }
    return headers;
}

/* Runs the transfer set up on 'c->easy' to its end.  Returns its result,
 * or CURLE_ABORTED_BY_CALLBACK if the client was cancelled. */
static CURLcode
transfer(struct http_client *c)
{
    CURLcode result = CURLE_OK;
    bool done = false;

    c->errbuf[0] = '\0';
    if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK) {
        return CURLE_OUT_OF_MEMORY;
    }
    while (!done) {
        CURLMsg *msg;
        int running, left;

        if (atomic_load(&c->cancelled)) {
            result = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
            result = CURLE_RECV_ERROR;
            break;
        }
        while ((msg = curl_multi_info_read(c->multi, &left))) {
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy) {
                result = msg->data.result;
                done = true;
            }
        }
        if (!done && running) {
            curl_multi_poll(c->multi, NULL, 0, HTTP_CLIENT_POLL_MS, NULL);
        } else if (!done) {
            /* Nothing runs, yet nothing said it finished: should not
             * happen, but must not spin. */
            result = CURLE_RECV_ERROR;
            break;
        }
    }
    curl_multi_remove_handle(c->multi, c->easy);
    return result;
}

/* Returns the "error.message" of the API error in 'body', if it has
 * one. */
static const char *
api_message(const json_t *body)
{
    return json_string_value(
        json_object_get(json_object_get(body, "error"), "message"));
}

/* Sends one request to the controller at 'base', as
 * http_client_request() does.  Stores in '*sent' whether the request may
 * have reached it (a connection was made). */
static int
request_one(struct http_client *c, const char *base, const char *method,
            const char *path, const char *text, long timeout_ms,
            struct http_response *r, bool *sent)
{
    struct buffer answer = {NULL, 0, 0};
    struct curl_slist *headers;
    curl_off_t pretransfer = 0;
    CURLcode result;
    int error = 0;

    memset(r, 0, sizeof *r);
    headers = prepare(c, base, method, path, text, timeout_ms, &answer);
    result = transfer(c);
    curl_slist_free_all(headers);
    curl_easy_getinfo(c->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    *sent = pretransfer > 0;

    if (result == CURLE_ABORTED_BY_CALLBACK) {
        r->message = xstrdup("cancelled");
        error = ECANCELED;
    } else if (result != CURLE_OK) {
        r->message =
            xstrdup(c->errbuf[0] ? c->errbuf : curl_easy_strerror(result));
        error = curl_errno(result);
    } else {
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (answer.len) {
            r->body = json_loadb(answer.data, answer.len, 0, NULL);
        }
        if (r->status >= 400) {
            const char *msg = api_message(r->body);

            r->message =
                msg ? xstrdup(msg) : xasprintf("HTTP status %ld", r->status);
        }
    }
    free(answer.data);
    return error;
}

int
http_client_request(struct http_client *c, const char *method,
                    const char *path, const json_t *body, long timeout_ms,
                    struct http_response *r)
{
    size_t first = atomic_load(&c->current);
    char *text = NULL;
    int error = 0;

    memset(r, 0, sizeof *r);
    if (atomic_load(&c->cancelled)) {
        r->message = xstrdup("cancelled");
        return ECANCELED;
    }
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
    }
    /* Each controller of the list gets one try, starting with the one
     * that answered last (doc/replication.md, "Clients"). */
    for (size_t i = 0; i < c->urls.n; i++) {
        size_t k = (first + i) % c->urls.n;
        const char *base = c->urls.urls[k];
        const char *next = c->urls.urls[(k + 1) % c->urls.n];
        bool sent;

        http_response_clear(r);
        error = request_one(c, base, method, path, text, timeout_ms, r, &sent);
        if (error == ECANCELED || (!error && r->status != 503)) {
            atomic_store(&c->current, k);
            break;
        }
        if (c->urls.n == 1) {
            break;
        }
        /* This one failed: the next request starts with the next one,
         * even if this request may not go there now. */
        atomic_store(&c->current, (k + 1) % c->urls.n);
        if (i + 1 == c->urls.n
            || !url_list_should_retry(method, !error, r->status, sent)) {
            break;
        }
        LOG_WARN("controller %s: %s %s: %s; trying %s", base, method, path,
                 error ? r->message : "503 unavailable", next);
    }
    free(text);
    return error;
}

void
http_response_clear(struct http_response *r)
{
    if (r) {
        json_decref(r->body);
        free(r->message);
        memset(r, 0, sizeof *r);
    }
}
