#include "cli/client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "utils/url-list.h"
#include "utils/util.h"

/* Answers larger than this are refused: a list page of 1000 objects is a
 * few hundred KiB, so anything near this is not the controller talking. */
#define CLIENT_MAX_ANSWER (64 * 1024 * 1024)

struct client {
    CURL *curl;                   /* The one handle of every request. */
    struct url_list urls;         /* The controllers' base URLs. */
    size_t current;               /* Index in 'urls' of the one that
                                   * answered last, tried first. */
    const char *url;              /* The URL of 'current'. */
    FILE *verbose;                /* Where -v notes go, or NULL. */
    char *authorization;          /* "Authorization: Bearer ...", or NULL. */
    char *cacert;                 /* CA bundle, or NULL. */
    long timeout_ms;              /* Per request; 0 for none. */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's message of the last error. */
};

/* The body of an answer as it arrives. */
struct buffer {
    char *data;       /* Received bytes plus a NUL. */
    size_t len;       /* Bytes received. */
    size_t allocated; /* Capacity of 'data'. */
    bool too_large;   /* More than CLIENT_MAX_ANSWER arrived. */
};

static size_t
write_body(char *ptr, size_t size, size_t nmemb, void *buffer_)
{
    struct buffer *b = buffer_;
    size_t n = size * nmemb;

    if (b->len + n > CLIENT_MAX_ANSWER) {
        b->too_large = true;
        return 0;
    }
    if (b->len + n + 1 > b->allocated) {
        b->allocated = 2 * (b->len + n + 1);
        b->data = xrealloc(b->data, b->allocated);
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int
client_create(const struct client_config *config, struct client **clientp)
{
    struct url_list urls;
    struct client *c;
    char *msg;

    *clientp = NULL;
    msg = url_list_parse(config->url, &urls);
    if (msg) {
        free(msg);
        return EINVAL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        url_list_clear(&urls);
        return ENOMEM;
    }
    c = xzalloc(sizeof *c);
    c->curl = curl_easy_init();
    if (c->curl == NULL) {
        free(c);
        url_list_clear(&urls);
        curl_global_cleanup();
        return ENOMEM;
    }
    c->urls = urls;
    c->url = c->urls.urls[0];
    c->verbose = config->verbose;
    if (config->token) {
        c->authorization =
            xasprintf("Authorization: Bearer %s", config->token);
    }
    c->cacert = config->cacert ? xstrdup(config->cacert) : NULL;
    c->timeout_ms = config->timeout_ms;
    *clientp = c;
    return 0;
}

void
client_destroy(struct client *c)
{
    if (c == NULL) {
        return;
    }
    curl_easy_cleanup(c->curl);
    curl_global_cleanup();
    url_list_clear(&c->urls);
    free(c->authorization);
    free(c->cacert);
    free(c);
}

const char *
client_url(const struct client *c)
{
    return c->url;
}

static bool
is_tls_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return true;
    default:
        return false;
    }
}

/* Turns libcurl's failure 'rc' into an errno value and a message for
 * people in '*error'. */
static int
transport_error(struct client *c, CURLcode rc, const struct buffer *body,
                char **error)
{
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    long os_errno = 0;

    if (rc == CURLE_COULDNT_CONNECT) {
        /* libcurl's own text ("Couldn't connect to server") hides the
         * cause the system reported, which is the useful part. */
        curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
        *error = xasprintf("cannot reach the controller at %s: %s", c->url,
                           os_errno ? strerror(os_errno) : detail);
        return os_errno ? os_errno : ECONNREFUSED;
    } else if (rc == CURLE_COULDNT_RESOLVE_HOST
               || rc == CURLE_COULDNT_RESOLVE_PROXY) {
        *error =
            xasprintf("cannot reach the controller at %s: %s", c->url, detail);
        return EHOSTUNREACH;
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        *error = xasprintf("the controller at %s did not answer within %g "
                           "seconds (--timeout changes the limit)",
                           c->url, c->timeout_ms / 1000.0);
        return ETIMEDOUT;
    } else if (is_tls_error(rc)) {
        *error = xasprintf("TLS with the controller at %s failed: %s%s",
                           c->url, detail,
                           c->cacert ? ""
                                     : " (--cacert names the CA that signed "
                                       "its certificate)");
        return EPROTO;
    } else if (rc == CURLE_WRITE_ERROR && body->too_large) {
        *error = xasprintf("the controller at %s sent an answer larger than "
                           "%d MiB",
                           c->url, CLIENT_MAX_ANSWER / (1024 * 1024));
        return EFBIG;
    }
    *error = xasprintf("talking to the controller at %s failed: %s", c->url,
                       detail);
    return EIO;
}

/* Sets every option a request needs on the handle after a reset, which
 * clears the previous request's method and body but keeps its connection
 * open for this one. */
static void
setup_handle(struct client *c, const char *url, struct buffer *body,
             struct curl_slist *headers)
{
    CURL *h = c->curl;

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "fabricctl/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    if (c->cacert) {
        curl_easy_setopt(h, CURLOPT_CAINFO, c->cacert);
    }
}

/* Ends a request sent on 'c' with 'headers' and answered into 'answer':
 * fills 'response' from the answer, or '*error' from libcurl's result
 * 'rc'.  Returns 0 or the errno value of transport_error(). */
static int
finish_request(struct client *c, CURLcode rc, struct buffer *answer,
               struct curl_slist *headers, struct client_response *response,
               char **error)
{
    int retval = 0;

    if (rc != CURLE_OK) {
        retval = transport_error(c, rc, answer, error);
        free(answer->data);
    } else {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &response->status);
        response->text = answer->data ? answer->data : xstrdup("");
        response->len = answer->len;
        if (answer->len > 0) {
            response->json = json_loadb(answer->data, answer->len, 0, NULL);
        }
    }
    curl_slist_free_all(headers);
    return retval;
}

/* Whether a request that ended with libcurl's result 'rc' may have
 * reached the controller. */
static bool
request_sent(struct client *c, CURLcode rc)
{
    curl_off_t pretransfer = 0;

    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST
        || rc == CURLE_COULDNT_RESOLVE_PROXY) {
        return false;
    }
    curl_easy_getinfo(c->curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    return pretransfer > 0;
}

/* Sends the request that 'attempt' sets up on the handle to each
 * controller in turn, from the one that answered last, until one answers
 * with anything but 503 or url_list_should_retry() says to stop, as
 * client_request() describes.  'attempt' sets the handle up for base URL
 * 'base' and returns the headers to free after the transfer. */
typedef struct curl_slist *attempt_func(struct client *c, const char *base,
                                        struct buffer *answer, void *aux);
static int
send_request(struct client *c, const char *method, const char *path,
             attempt_func *attempt, void *aux,
             struct client_response *response, char **error)
{
    size_t first = c->current;
    char *errors = NULL;
    int retval = 0;

    for (size_t i = 0; i < c->urls.n; i++) {
        size_t k = (first + i) % c->urls.n;
        struct buffer answer = {.data = NULL};
        struct curl_slist *headers;
        bool sent, more;
        CURLcode rc;

        c->current = k;
        c->url = c->urls.urls[k];
        c->errbuf[0] = '\0';
        client_response_clear(response);
        free(*error);
        *error = NULL;
        headers = attempt(c, c->url, &answer, aux);
        rc = curl_easy_perform(c->curl);
        sent = request_sent(c, rc);
        retval = finish_request(c, rc, &answer, headers, response, error);
        more =
            i + 1 < c->urls.n
            && url_list_should_retry(method, !retval, response->status, sent);
        if (c->verbose) {
            if (!retval) {
                fprintf(c->verbose, "fabricctl: %s %s: HTTP %ld from %s\n",
                        method, path, response->status, c->url);
            } else {
                fprintf(c->verbose, "fabricctl: %s %s: %s\n", method, path,
                        *error);
            }
            if (more) {
                fprintf(c->verbose, "fabricctl: trying %s\n",
                        c->urls.urls[(k + 1) % c->urls.n]);
            }
        }
        if (retval && c->urls.n > 1) {
            char *longer =
                errors ? xasprintf("%s; %s", errors, *error) : xstrdup(*error);

            free(errors);
            errors = longer;
        }
        if (!more) {
            break;
        }
    }
    if (retval && errors && strchr(errors, ';')) {
        /* Every controller failed: say so of each. */
        free(*error);
        *error = errors;
        errors = NULL;
    }
    free(errors);
    return retval;
}

/* What client_request() sends, for send_request(). */
struct plain_request {
    const char *method;   /* HTTP method. */
    const char *path;     /* Under the base URL. */
    const char *payload;  /* JSON body, or NULL. */
    const char *if_match; /* "If-Match: ..." header, or NULL. */
};

static struct curl_slist *
plain_attempt(struct client *c, const char *base, struct buffer *answer,
              void *req_)
{
    const struct plain_request *req = req_;
    struct curl_slist *headers = NULL;
    char *url = xasprintf("%s%s", base, req->path);

    headers = curl_slist_append(headers, "Accept: application/json");
    /* Without this libcurl waits for "100 Continue" before sending a body
     * over 1 KiB, a round trip for nothing. */
    headers = curl_slist_append(headers, "Expect:");
    if (c->authorization) {
        headers = curl_slist_append(headers, c->authorization);
    }
    if (req->if_match) {
        headers = curl_slist_append(headers, req->if_match);
    }
    if (req->payload) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
    }
    setup_handle(c, url, answer, headers);
    free(url);
    if (req->payload) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, req->payload);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
                         (long) strlen(req->payload));
    }
    if (strcmp(req->method, "GET")) {
        curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, req->method);
    }
    return headers;
}

int
client_request(struct client *c, const char *method, const char *path,
               const json_t *body, int64_t if_version,
               struct client_response *response, char **error)
{
    struct plain_request req = {.method = method, .path = path};
    char *payload = NULL;
    char *if_match = NULL;
    int retval;

    memset(response, 0, sizeof *response);
    *error = NULL;
    if (if_version > 0) {
        if_match = xasprintf("If-Match: \"%lld\"", (long long) if_version);
    }
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        if (payload == NULL) {
            abort();
        }
    }
    req.payload = payload;
    req.if_match = if_match;
    retval =
        send_request(c, method, path, plain_attempt, &req, response, error);
    free(if_match);
    free(payload);
    return retval;
}

/* What client_upload() sends, for send_request(). */
struct upload_request {
    const char *method; /* HTTP method. */
    const char *path;   /* Under the base URL. */
    FILE *stream;       /* The file, rewound for each attempt. */
    curl_off_t size;    /* Its size. */
};

static struct curl_slist *
upload_attempt(struct client *c, const char *base, struct buffer *answer,
               void *req_)
{
    const struct upload_request *req = req_;
    struct curl_slist *headers = NULL;
    char *url = xasprintf("%s%s", base, req->path);

    rewind(req->stream);
    headers = curl_slist_append(headers, "Accept: application/json");
    headers =
        curl_slist_append(headers, "Content-Type: application/octet-stream");
    if (c->authorization) {
        headers = curl_slist_append(headers, c->authorization);
    }
    setup_handle(c, url, answer, headers);
    free(url);
    curl_easy_setopt(c->curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c->curl, CURLOPT_READDATA, req->stream);
    curl_easy_setopt(c->curl, CURLOPT_INFILESIZE_LARGE, req->size);
    /* An image takes as long as it takes; a stalled one does not. */
    curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, 0L);
    if (c->timeout_ms > 0) {
        curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME,
                         (c->timeout_ms + 999) / 1000);
    }
    return headers;
}

int
client_upload(struct client *c, const char *method, const char *path,
              const char *file, struct client_response *response, char **error)
{
    FILE *stream = fopen(file, "rb");
    struct upload_request req;
    struct stat st;
    int retval;

    memset(response, 0, sizeof *response);
    *error = NULL;
    retval = !stream                      ? errno
             : fstat(fileno(stream), &st) ? errno
             : !S_ISREG(st.st_mode)       ? EINVAL
                                          : 0;
    if (retval) {
        *error = xasprintf("cannot read \"%s\": %s", file,
                           retval == EINVAL ? "not a regular file"
                                            : strerror(retval));
        if (stream) {
            fclose(stream);
        }
        return retval;
    }
    req = (struct upload_request){method, path, stream, st.st_size};
    retval =
        send_request(c, method, path, upload_attempt, &req, response, error);
    fclose(stream);
    return retval;
}

void
client_response_clear(struct client_response *r)
{
    if (r) {
        json_decref(r->json);
        free(r->text);
        memset(r, 0, sizeof *r);
    }
}

/* Replaces control characters in 's' by spaces, so that a message stays
 * on one line and cannot drive the terminal. */
static char *
one_line(char *s)
{
    for (unsigned char *p = (unsigned char *) s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            *p = ' ';
        }
    }
    return s;
}

/* Reason phrases of the statuses an answer without an API error object is
 * likely to have. */
static const struct {
    long status;        /* HTTP status code. */
    const char *phrase; /* Its reason phrase. */
} phrases[] = {
    {400, "Bad Request"},        {401, "Unauthorized"},
    {403, "Forbidden"},          {404, "Not Found"},
    {405, "Method Not Allowed"}, {409, "Conflict"},
    {413, "Payload Too Large"},  {500, "Internal Server Error"},
    {502, "Bad Gateway"},        {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

static const char *
status_phrase(long status)
{
    for (size_t i = 0; i < ARRAY_SIZE(phrases); i++) {
        if (phrases[i].status == status) {
            return phrases[i].phrase;
        }
    }
    return NULL;
}

char *
client_error_message(const struct client_response *r)
{
    json_t *error = json_object_get(r->json, "error");
    const char *message = json_string_value(json_object_get(error, "message"));
    const char *phrase = status_phrase(r->status);
    const char *text = r->text ? r->text : "";
    char *head, *msg;
    size_t n;

    if (message && message[0]) {
        return one_line(xstrdup(message));
    }

    /* No API error object: whoever answered (a proxy, another service on
     * the port) gets quoted, as far as its first line goes. */
    head = phrase ? xasprintf("HTTP %ld %s", r->status, phrase)
                  : xasprintf("HTTP %ld", r->status);
    text += strspn(text, " \t\r\n");
    n = strcspn(text, "\r\n");
    if (n > 120) {
        n = 120;
    }
    msg = n ? xasprintf("%s: %.*s", head, (int) n, text) : xstrdup(head);
    free(head);
    return one_line(msg);
}

char *
client_escape(const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(3 * strlen(text) + 1);
    char *p = out;

    for (const unsigned char *s = (const unsigned char *) text; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
            || (*s >= '0' && *s <= '9') || strchr("-._~", *s)) {
            *p++ = *s;
        } else {
            *p++ = '%';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 0xf];
        }
    }
    *p = '\0';
    return out;
}
