/* Calling a host's agent. */
#include "controller/agents.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "controller/api.h"
#include "controller/store.h"
#include "utils/util.h"

void
agents_target_clear(struct agents_target *t)
{
    free(t->host);
    free(t->url);
    free(t->token);
    memset(t, 0, sizeof *t);
}

int
agents_target_read(const struct api *api, struct store_txn *txn,
                   const char *name, struct agents_target *t, json_t **body,
                   struct api_error *err)
{
    char *what = api_what("host", name);
    const char *url;
    struct store_obj obj;
    int status;

    memset(t, 0, sizeof *t);
    status = api_get_object(txn, "host", name, what, &obj, err);
    free(what);
    if (status) {
        return status;
    }
    url = api_get_string(obj.body, "agent_url");
    t->host = xstrdup(name);
    t->url = url ? xstrdup(url) : NULL;
    t->token = api_host_agent_token(api, name, obj.body);
    if (body) {
        *body = json_incref(obj.body);
    }
    store_obj_clear(&obj);
    return 0;
}

void
agents_reply_clear(struct agents_reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* The answer so far, with its limit. */
struct collect {
    struct agents_reply *reply; /* Where it goes. */
    size_t max;                 /* Most bytes accepted. */
};

static size_t
collect(char *data, size_t size, size_t n, void *c_)
{
    struct collect *c = c_;
    struct agents_reply *r = c->reply;

    if (r->len + size * n > c->max) {
        return 0;
    }
    r->body = xrealloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, data, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

int
agents_call(const struct agents_target *t, const char *method,
            const char *path, const json_t *body, size_t max, const char *what,
            struct agents_reply *reply, struct api_error *err)
{
    struct collect c = {reply, max};
    struct curl_slist *headers = NULL;
    char *text = NULL, *full = NULL, *auth = NULL;
    CURL *curl = NULL;
    int status = 0;
    CURLcode rc;

    memset(reply, 0, sizeof *reply);
    reply->body = xzalloc(1);
    if (!t->url || !t->token) {
        return api_fail(err, 503, NULL,
                        "%s: the agent of host \"%s\" has not registered an "
                        "address to be reached at: give it \"advertise\" "
                        "(or a \"metrics\" address) in its configuration",
                        what, t->host);
    }
    curl = curl_easy_init();
    if (!curl) {
        return api_fail(err, 500, NULL, "%s: cannot initialize libcurl", what);
    }
    full = xasprintf("%s%s", t->url, path);
    auth = xasprintf("Authorization: Bearer %s", t->token);
    headers = curl_slist_append(headers, auth);
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_URL, full);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) AGENTS_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &c);
    rc = curl_easy_perform(curl);
    if (rc == CURLE_WRITE_ERROR) {
        status = api_fail(err, 502, NULL,
                          "%s: the agent of host \"%s\": %s answered more "
                          "than %zu bytes",
                          what, t->host, full, max);
    } else if (rc != CURLE_OK) {
        status =
            api_fail(err, 502, NULL, "%s: the agent of host \"%s\": %s: %s",
                     what, t->host, full, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
    }
    if (status) {
        agents_reply_clear(reply);
        reply->body = xzalloc(1);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(text);
    free(full);
    free(auth);
    return status;
}
