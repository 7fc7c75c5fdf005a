/* The etcd v3 JSON gateway client (controller/etcd.h) over libcurl. */

#include "controller/etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "utils/base64.h"
#include "utils/log.h"
#include "utils/util.h"

/* How long a member may take to accept a connection before the next one is
 * tried, and to answer a unary call. */
#define ETCD_CONNECT_TIMEOUT_MS 1000
#define ETCD_CALL_TIMEOUT_MS 5000

/* How many idle curl handles (each with its connection) the pool keeps. */
#define ETCD_MAX_IDLE 8

/* gRPC status codes that the gateway reports in "code". */
#define GRPC_INVALID_ARGUMENT 3
#define GRPC_DEADLINE_EXCEEDED 4
#define GRPC_RESOURCE_EXHAUSTED 8
#define GRPC_OUT_OF_RANGE 11
#define GRPC_UNAVAILABLE 14

struct etcd {
    char **endpoints; /* Base URLs. */
    size_t n;         /* Number of 'endpoints'. */

    pthread_mutex_t mutex;     /* Guards the members below. */
    size_t current;            /* The endpoint calls go to first. */
    size_t n_idle;             /* Handles in 'idle'. */
    CURL *idle[ETCD_MAX_IDLE]; /* Idle handles, with their connections. */
};

/* A growing buffer for an answer. */
struct etcd_buf {
    char *data;  /* NUL-terminated. */
    size_t len;  /* Bytes in 'data' before the NUL. */
    size_t size; /* Bytes allocated. */
};

static void
buf_append(struct etcd_buf *buf, const char *p, size_t n)
{
    if (buf->len + n + 1 > buf->size) {
        buf->size = (buf->len + n + 1) * 2;
        buf->data = xrealloc(buf->data, buf->size);
    }
    memcpy(buf->data + buf->len, p, n);
    buf->len += n;
    buf->data[buf->len] = '\0';
}

static size_t
write_cb(char *p, size_t size, size_t n, void *buf)
{
    buf_append(buf, p, size * n);
    return size * n;
}

static void
etcd_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct etcd *
etcd_create(char *const *endpoints, size_t n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct etcd *etcd = xzalloc(sizeof *etcd);

    /* Not thread-safe itself, so once for the process. */
    pthread_once(&once, etcd_global_init);
    etcd->endpoints = xcalloc(n, sizeof *etcd->endpoints);
    for (size_t i = 0; i < n; i++) {
        etcd->endpoints[i] = xstrdup(endpoints[i]);
    }
    etcd->n = n;
    pthread_mutex_init(&etcd->mutex, NULL);
    return etcd;
}

void
etcd_destroy(struct etcd *etcd)
{
    if (etcd) {
        for (size_t i = 0; i < etcd->n_idle; i++) {
            curl_easy_cleanup(etcd->idle[i]);
        }
        for (size_t i = 0; i < etcd->n; i++) {
            free(etcd->endpoints[i]);
        }
        free(etcd->endpoints);
        pthread_mutex_destroy(&etcd->mutex);
        free(etcd);
    }
}

json_t *
etcd_endpoints(const struct etcd *etcd)
{
    json_t *array = json_array();

    for (size_t i = 0; i < etcd->n; i++) {
        json_array_append_new(array, json_string(etcd->endpoints[i]));
    }
    return array;
}

static CURL *
etcd_get_handle(struct etcd *etcd, size_t *current)
{
    CURL *curl = NULL;

    pthread_mutex_lock(&etcd->mutex);
    if (etcd->n_idle) {
        curl = etcd->idle[--etcd->n_idle];
    }
    *current = etcd->current;
    pthread_mutex_unlock(&etcd->mutex);
    if (!curl) {
        curl = curl_easy_init();
        if (!curl) {
            abort();
        }
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) ETCD_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    return curl;
}

static void
etcd_put_handle(struct etcd *etcd, CURL *curl)
{
    pthread_mutex_lock(&etcd->mutex);
    if (etcd->n_idle < ETCD_MAX_IDLE) {
        etcd->idle[etcd->n_idle++] = curl;
        curl = NULL;
    }
    pthread_mutex_unlock(&etcd->mutex);
    if (curl) {
        curl_easy_cleanup(curl);
    }
}

/* Makes 'i' the endpoint that calls try first, after the one before it
 * failed. */
static void
etcd_fail_over(struct etcd *etcd, size_t failed, size_t next)
{
    pthread_mutex_lock(&etcd->mutex);
    if (etcd->current == failed) {
        etcd->current = next;
    }
    pthread_mutex_unlock(&etcd->mutex);
}

/* Maps the gateway's error answer 'reply' to an errno value, logging it,
 * and sets '*next' if another member may do better. */
static int
etcd_answer_error(const char *endpoint, const char *path, long status,
                  json_t *reply, bool *next)
{
    const char *msg = json_string_value(json_object_get(reply, "message"));
    json_int_t code = json_integer_value(json_object_get(reply, "code"));

    if (!msg) {
        msg = "";
    }
    if (GRPC_UNAVAILABLE == code || GRPC_DEADLINE_EXCEEDED == code
        || status >= 502) {
        LOG_WARN("etcd %s%s: unavailable (HTTP %ld: %s): trying the next "
                 "member",
                 endpoint, path, status, msg);
        *next = true;
        return ENOTCONN;
    } else if (GRPC_OUT_OF_RANGE == code) {
        return ERANGE;
    } else if ((GRPC_INVALID_ARGUMENT == code && strstr(msg, "too large"))
               || GRPC_RESOURCE_EXHAUSTED == code) {
        LOG_WARN("etcd %s%s: %s (etcd's --max-request-bytes)", endpoint, path,
                 msg);
        return EFBIG;
    }
    LOG_ERR("etcd %s%s: refused (HTTP %ld, code %" JSON_INTEGER_FORMAT "): %s",
            endpoint, path, status, code, msg);
    return EPROTO;
}

int
etcd_call(struct etcd *etcd, const char *path, json_t *request, bool retry,
          json_t **replyp)
{
    char *body = json_dumps(request, JSON_COMPACT);
    struct curl_slist *headers = NULL;
    int error = ENOTCONN;
    size_t first;
    CURL *curl;

    *replyp = NULL;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl = etcd_get_handle(etcd, &first);
    for (size_t k = 0; k < etcd->n; k++) {
        size_t i = (first + k) % etcd->n;
        const char *endpoint = etcd->endpoints[i];
        struct etcd_buf buf = {NULL, 0, 0};
        char *url = xasprintf("%s%s", endpoint, path);
        bool next = false;
        json_error_t jerr;
        long status = 0;
        CURLcode rc;

        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                         (long) ETCD_CALL_TIMEOUT_MS);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buf);
        rc = curl_easy_perform(curl);
        free(url);
        if (rc != CURLE_OK) {
            /* Only a request that never left can go elsewhere unless the
             * caller allows it. */
            curl_off_t connected = 0;
            bool unsent;

            curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connected);
            unsent = (CURLE_COULDNT_CONNECT == rc
                      || CURLE_COULDNT_RESOLVE_HOST == rc || 0 == connected);

            LOG_WARN("etcd %s%s: %s", endpoint, path, curl_easy_strerror(rc));
            free(buf.data);
            error = ENOTCONN;
            if (!unsent && !retry) {
                error = ECONNABORTED;
                break;
            }
            etcd_fail_over(etcd, i, (i + 1) % etcd->n);
            continue;
        }
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        *replyp = json_loadb(buf.data ? buf.data : "", buf.len, 0, &jerr);
        if (!*replyp || !json_is_object(*replyp)) {
            LOG_ERR("etcd %s%s: answered HTTP %ld with something that is "
                    "not a JSON object (%s): is it an etcd client URL?",
                    endpoint, path, status, jerr.text);
            json_decref(*replyp);
            *replyp = NULL;
            free(buf.data);
            error = EPROTO;
            break;
        }
        free(buf.data);
        if (200 == status && !json_object_get(*replyp, "error")) {
            error = 0;
            break;
        }
        error = etcd_answer_error(endpoint, path, status, *replyp, &next);
        json_decref(*replyp);
        *replyp = NULL;
        if (!next) {
            break;
        } else if (!retry) {
            /* "Unavailable" may come after the member passed the request
             * on to the cluster's leader. */
            error = ECONNABORTED;
            break;
        }
        etcd_fail_over(etcd, i, (i + 1) % etcd->n);
    }
    curl_slist_free_all(headers);
    etcd_put_handle(etcd, curl);
    free(body);
    return error;
}

/* A watch stream in progress. */
struct etcd_watch {
    struct etcd_buf buf;       /* What came and is not yet a whole line. */
    etcd_watch_cb *cb;         /* The caller's callback. */
    void *aux;                 /* Its argument. */
    int cb_error;              /* What 'cb' returned, once non-zero. */
    const volatile bool *stop; /* The caller's flag. */
};

static size_t
watch_write_cb(char *p, size_t size, size_t n, void *watch_)
{
    struct etcd_watch *watch = watch_;
    char *nl;

    buf_append(&watch->buf, p, size * n);
    while ((nl = memchr(watch->buf.data, '\n', watch->buf.len))) {
        size_t line = nl - watch->buf.data + 1;
        json_t *msg = json_loadb(watch->buf.data, line, 0, NULL);
        json_t *result = json_object_get(msg, "result");

        memmove(watch->buf.data, watch->buf.data + line,
                watch->buf.len - line + 1);
        watch->buf.len -= line;
        if (result) {
            watch->cb_error = watch->cb(result, watch->aux);
        }
        json_decref(msg);
        if (watch->cb_error) {
            return 0;
        }
    }
    return size * n;
}

static int
watch_progress_cb(void *watch_, curl_off_t dltotal, curl_off_t dlnow,
                  curl_off_t ultotal, curl_off_t ulnow)
{
    const struct etcd_watch *watch = watch_;

    return *watch->stop ? 1 : 0;
}

int
etcd_watch(struct etcd *etcd, json_t *create_request, etcd_watch_cb *cb,
           void *aux, const volatile bool *stop)
{
    json_t *request = json_pack("{sO}", "create_request", create_request);
    char *body = json_dumps(request, JSON_COMPACT);
    struct curl_slist *headers = NULL;
    struct etcd_watch watch = {{NULL, 0, 0}, cb, aux, 0, stop};
    int error = ENOTCONN;
    size_t first;
    CURL *curl;

    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl = etcd_get_handle(etcd, &first);
    for (size_t k = 0; k < etcd->n && !*stop && !watch.cb_error; k++) {
        size_t i = (first + k) % etcd->n;
        char *url = xasprintf("%s/v3/watch", etcd->endpoints[i]);
        CURLcode rc;

        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, watch_write_cb);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &watch);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, watch_progress_cb);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &watch);
        rc = curl_easy_perform(curl);
        free(url);
        if (watch.cb_error || *stop) {
            break;
        }
        etcd_fail_over(etcd, i, (i + 1) % etcd->n);
        if (rc != CURLE_COULDNT_CONNECT) {
            /* Connected, then the stream ended: the caller resumes, on the
             * next member. */
            LOG_WARN("etcd %s/v3/watch: the stream ended (%s)",
                     etcd->endpoints[i], curl_easy_strerror(rc));
            break;
        }
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(watch.buf.data);
    free(body);
    json_decref(request);
    if (watch.cb_error) {
        return watch.cb_error;
    }
    return *stop ? 0 : error;
}

char *
etcd_b64(const char *s, size_t len)
{
    return base64_encode((const uint8_t *) s, len);
}

bool
etcd_unb64(const char *b64, char **out, size_t *lenp)
{
    size_t size = b64 ? strlen(b64) / 4 * 3 + 1 : 0;
    char *buf = xmalloc(size + 1);
    size_t len;

    if (!b64 || !base64_decode(b64, (uint8_t *) buf, size, &len)) {
        free(buf);
        *out = NULL;
        return false;
    }
    buf[len] = '\0';
    *out = buf;
    if (lenp) {
        *lenp = len;
    }
    return true;
}

int64_t
etcd_int(const json_t *obj, const char *name)
{
    const json_t *value = json_object_get(obj, name);

    if (json_is_string(value)) {
        return strtoll(json_string_value(value), NULL, 10);
    }
    return json_is_integer(value) ? json_integer_value(value) : 0;
}

int64_t
etcd_revision(const json_t *reply)
{
    return etcd_int(json_object_get(reply, "header"), "revision");
}
