/* Helpers shared by the controller's resource modules. */
#include "controller/api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/desired.h"
#include "controller/leader.h"
#include "controller/migrations.h"
#include "controller/store.h"
#include "utils/names.h"
#include "utils/util.h"

void
api_error_clear(struct api_error *err)
{
    if (err) {
        free(err->field);
        free(err->message);
        memset(err, 0, sizeof *err);
    }
}

int
api_fail(struct api_error *err, int status, const char *field,
         const char *format, ...)
{
    va_list args;

    api_error_clear(err);
    err->status = status;
    err->field = field ? xstrdup(field) : NULL;
    va_start(args, format);
    if (vasprintf(&err->message, format, args) < 0) {
        err->message = xstrdup("(out of memory formatting an error)");
    }
    va_end(args);
    return status;
}

const char *
api_reason(int status)
{
    switch (status) {
    case 400:
        return "invalid";
    case 401:
        return "unauthenticated";
    case 403:
        return "forbidden";
    case 404:
        return "not-found";
    case 405:
        return "method-not-allowed";
    case 409:
        return "conflict";
    case 413:
        return "too-large";
    case 415:
        return "unsupported-media-type";
    case 503:
        return "unavailable";
    default:
        return status >= 500 ? "internal" : "error";
    }
}

void
api_init(struct api *api, struct store *store, int heartbeat_timeout)
{
    api->store = store;
    api->desired = desired_create(store);
    atomic_init(&api->heartbeat_timeout, heartbeat_timeout);
    atomic_init(&api->stopping, false);
    api->started = time(NULL);
    pthread_mutex_init(&api->mutex, NULL);
    api->heartbeats = json_object();
    api->sched = api_sched_create();
    api->drs = api_drs_create();
    api->traffic = api_traffic_create();
    atomic_init(&api->ha_lease_ms, API_HA_LEASE_DEFAULT_MS);
    atomic_init(&api->ha_fence_margin_ms, API_HA_FENCE_MARGIN_DEFAULT_MS);
    api->started_ms = (uint64_t) time_msec();
    api->heard_ms = json_object();
    api->peers = json_object();
    api->failed = json_object();
    api->ha_waiting = json_object();
    pthread_mutex_init(&api->ha_mutex, NULL);
    api->migr = api_migrations_create();
    api->leader = NULL;
    api->shared_store = false;
    api->liveness_next_ms = 0;
    api->liveness_last = NULL;
    api->liveness_revision = -1;
    if (store) {
        json_t *status = store_status(store);

        api->shared_store = strcmp(
            json_string_value(json_object_get(status, "backend")) ?: "sqlite",
            "sqlite");
        json_decref(status);
    }
    api->opened_revision = store_revision(store);
}

void
api_destroy(struct api *api)
{
    if (api) {
        desired_destroy(api->desired);
        api_sched_destroy(api->sched);
        api_drs_destroy(api->drs);
        api_traffic_destroy(api->traffic);
        api_migrations_destroy(api->migr);
        pthread_mutex_destroy(&api->mutex);
        pthread_mutex_destroy(&api->ha_mutex);
        json_decref(api->heartbeats);
        json_decref(api->heard_ms);
        json_decref(api->peers);
        json_decref(api->failed);
        json_decref(api->ha_waiting);
        json_decref(api->liveness_last);
    }
}

int
api_query_int(const json_t *query, const char *key, long long min,
              long long max, const char *what, long long *value,
              struct api_error *err)
{
    const char *s = api_get_string(query, key);
    char *end;
    long long n;

    if (!json_object_get(query, key)) {
        return 0;
    }
    errno = 0;
    n = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || n < min || n > max) {
        return api_fail(err, 400, key,
                        "%s: %s \"%s\": must be an integer %lld..%lld", what,
                        key, s ? s : "", min, max);
    }
    *value = n;
    return 0;
}

bool
api_name_is_valid(const char *s)
{
    return names_object_is_valid(s);
}

int
api_check_name(const char *value, const char *field, const char *what,
               struct api_error *err)
{
    char *q;

    if (api_name_is_valid(value)) {
        return 0;
    }
    q = api_quote(value);
    api_fail(err, 400, field,
             "%s: %s %s: must be 1 to %d characters of a-z, 0-9 and \"-\", "
             "starting and ending with a letter or digit",
             what, field, q, API_NAME_MAX);
    free(q);
    return 400;
}

bool
api_device_is_valid(const char *s)
{
    return names_device_is_valid(s);
}

char *
api_quote(const char *s)
{
    json_t *value = json_string(s);
    char *q = value ? json_dumps(value, JSON_ENCODE_ANY) : NULL;

    json_decref(value);
    return q ? q : xstrdup("\"?\"");
}

char *
api_what(const char *kind, const char *name)
{
    char *q, *what;

    if (!name) {
        return xstrdup(kind);
    }
    q = api_quote(name);
    what = xasprintf("%s %s", kind, q);
    free(q);
    return what;
}

void
api_format_time(time_t t, char buf[32])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
api_now(char buf[32])
{
    api_format_time(time(NULL), buf);
}

/* How API messages name the type of 'value'.  Not shared with the agent's
 * json_type_name() (agent/state.c): the two word a real number
 * differently, and their messages must stay as they are. */
static const char *
type_name(const json_t *value)
{
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

static const char *
api_type_name(enum api_type type)
{
    switch (type) {
    case API_STRING:
        return "a string";
    case API_INTEGER:
        return "an integer";
    case API_OBJECT:
        return "an object";
    case API_BOOLEAN:
        return "true or false";
    case API_ARRAY:
    default:
        return "an array";
    }
}

static bool
has_type(const json_t *value, enum api_type type)
{
    switch (type) {
    case API_STRING:
        return json_is_string(value);
    case API_INTEGER:
        return json_is_integer(value);
    case API_OBJECT:
        return json_is_object(value);
    case API_BOOLEAN:
        return json_is_boolean(value);
    case API_ARRAY:
    default:
        return json_is_array(value);
    }
}

/* Fails with a message listing the names of the 'n' 'fields'. */
static int
unknown_field(const char *key, const struct api_field *fields, size_t n,
              const char *what, struct api_error *err)
{
    size_t len = 1;
    char *list;
    int status;

    for (size_t i = 0; i < n; i++) {
        len += strlen(fields[i].name) + 2;
    }
    list = xzalloc(len);
    for (size_t i = 0; i < n; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, fields[i].name);
    }
    status =
        api_fail(err, 400, key, "%s: %s: unknown field (expected one of: %s)",
                 what, key, list);
    free(list);
    return status;
}

int
api_check_input(const json_t *in, const struct api_field *fields, size_t n,
                const char *what, const json_t *current, bool patch,
                struct api_error *err)
{
    const char *key;
    json_t *value;

    if (!json_is_object(in)) {
        return api_fail(err, 400, NULL,
                        "%s: the request body must be a JSON object, not %s",
                        what, in ? type_name(in) : "empty");
    }
    json_object_foreach((json_t *) in, key, value)
    {
        const struct api_field *f = NULL;

        for (size_t i = 0; i < n; i++) {
            if (!strcmp(fields[i].name, key)) {
                f = &fields[i];
                break;
            }
        }
        if (!f) {
            return unknown_field(key, fields, n, what, err);
        }
        if (json_is_null(value)) {
            if (patch && f->access == API_RW && !f->required) {
                continue;
            }
            return api_fail(err, 400, key,
                            "%s: %s: must not be null (expected %s%s)", what,
                            key, api_type_name(f->type),
                            patch ? "; it cannot be removed" : "");
        }
        if (!has_type(value, f->type)) {
            return api_fail(err, 400, key, "%s: %s: expected %s, got %s", what,
                            key, api_type_name(f->type), type_name(value));
        }
        switch (f->access) {
        case API_VERSION:
            if (!current) {
                return api_fail(err, 400, key,
                                "%s: %s: not allowed when creating an object",
                                what, key);
            }
            if (json_integer_value(value) < 1) {
                return api_fail(err, 400, key,
                                "%s: %s %" JSON_INTEGER_FORMAT
                                ": must be 1 or more",
                                what, key, json_integer_value(value));
            }
            break;
        case API_RO:
            if (!current
                || !json_equal(value, json_object_get(current, key))) {
                return api_fail(
                    err, 400, key,
                    "%s: %s: read-only (set by the controller; leave it out)",
                    what, key);
            }
            break;
        case API_IMMUTABLE:
            if (current && !json_equal(value, json_object_get(current, key))) {
                return api_fail(err, 400, key,
                                "%s: %s: cannot be changed once the object "
                                "exists (delete and recreate it instead)",
                                what, key);
            }
            break;
        case API_RW:
        default:
            break;
        }
    }
    if (!current) {
        for (size_t i = 0; i < n; i++) {
            if (fields[i].required && !json_object_get(in, fields[i].name)) {
                return api_fail(err, 400, fields[i].name, "%s: %s: required",
                                what, fields[i].name);
            }
        }
    }
    return 0;
}

int
api_expected_version(const json_t *in, int64_t if_match, const char *what,
                     int64_t *expected, struct api_error *err)
{
    const json_t *v =
        json_is_object(in) ? json_object_get(in, "version") : NULL;

    *expected = if_match;
    if (json_is_integer(v)) {
        int64_t body = json_integer_value(v);

        if (if_match != STORE_ANY && if_match != body) {
            return api_fail(err, 400, "version",
                            "%s: version %" PRId64
                            " in the body disagrees with If-Match \"%" PRId64
                            "\"",
                            what, body, if_match);
        }
        *expected = body;
    }
    return 0;
}

int
api_check_version(int64_t expected, int64_t current, const char *what,
                  struct api_error *err)
{
    if (expected != STORE_ANY && expected != current) {
        return api_fail(err, 409, "version",
                        "%s: version %" PRId64
                        " is stale, the current version is %" PRId64
                        " (read the object again and retry)",
                        what, expected, current);
    }
    return 0;
}

/* Counts the characters (code points) of UTF-8 string 's'. */
static size_t
utf8_length(const char *s)
{
    size_t n = 0;

    for (; *s; s++) {
        n += ((unsigned char) *s & 0xc0) != 0x80;
    }
    return n;
}

int
api_check_description(const json_t *value, const char *what,
                      struct api_error *err)
{
    size_t len;

    if (!value || json_is_null(value)) {
        return 0;
    }
    len = utf8_length(json_string_value(value));
    if (len > API_DESCRIPTION_MAX) {
        return api_fail(err, 400, "description",
                        "%s: description: %zu characters, at most %d allowed",
                        what, len, API_DESCRIPTION_MAX);
    }
    return 0;
}

void
api_merge_member(json_t *body, const char *key, const json_t *in)
{
    const json_t *value = json_object_get(in, key);

    if (json_is_null(value)) {
        json_object_del(body, key);
    } else if (value) {
        json_object_set(body, key, (json_t *) value);
    }
}

int
api_apply_description(const json_t *in, json_t *body, const char *what,
                      struct api_error *err)
{
    const json_t *value = json_object_get(in, "description");
    int status = api_check_description(value, what, err);

    if (!status) {
        api_merge_member(body, "description", in);
    }
    return status;
}

int
api_check_labels(const json_t *labels, const char *field, bool patch,
                 const char *what, struct api_error *err)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *) labels, key, value)
    {
        char *q = api_quote(key);
        int status = 0;

        /* A comma separates pairs in "env=prod,tier=web" (fabricctl,
         * kubectl): in a key or a value it would make one pair read as
         * two, or two stored as one odd value. */
        if (!*key || strlen(key) > API_LABEL_MAX || strpbrk(key, "=,")) {
            status = api_fail(err, 400, field,
                              "%s: %s: key %s: must be 1 to %d characters "
                              "without \"=\" or \",\"",
                              what, field, q, API_LABEL_MAX);
        } else if (json_is_null(value) && patch) {
            /* Removes the pair. */
        } else if (!json_is_string(value)) {
            status = api_fail(err, 400, field,
                              "%s: %s: %s: expected a string value", what,
                              field, q);
        } else if (strlen(json_string_value(value)) > API_LABEL_MAX) {
            status =
                api_fail(err, 400, field,
                         "%s: %s: %s: the value is longer than %d characters",
                         what, field, q, API_LABEL_MAX);
        } else if (strchr(json_string_value(value), ',')) {
            char *v = api_quote(json_string_value(value));

            status = api_fail(err, 400, field,
                              "%s: %s: %s: value %s: a value may not hold "
                              "\",\" (give each pair as a member of its "
                              "own)",
                              what, field, q, v);
            free(v);
        }
        free(q);
        if (status) {
            return status;
        }
    }
    return 0;
}

void
api_merge_labels(json_t *body, const char *field, const json_t *value)
{
    json_t *labels;
    const char *key;
    json_t *v;

    if (json_is_null(value)) {
        json_object_set_new(body, field, json_object());
        return;
    } else if (!value) {
        return;
    }
    labels = json_deep_copy(json_object_get(body, field));
    if (!labels) {
        labels = json_object();
    }
    json_object_foreach((json_t *) value, key, v)
    {
        if (json_is_null(v)) {
            json_object_del(labels, key);
        } else {
            json_object_set(labels, key, v);
        }
    }
    json_object_set_new(body, field, labels);
}

bool
api_is_one_of(const char *s, const char *const *choices)
{
    for (size_t i = 0; choices[i]; i++) {
        if (!strcmp(s, choices[i])) {
            return true;
        }
    }
    return false;
}

bool
api_parse_limit(const char *s, size_t *limit)
{
    char *end;
    long long n = s ? strtoll(s, &end, 10) : 0;

    if (!s || !*s || *end || n < 1 || n > API_LIST_MAX) {
        return false;
    }
    *limit = n;
    return true;
}

int
api_list_query(const json_t *query, const char *kind,
               const char *const extra[], size_t *limit,
               const char **page_token, struct api_error *err)
{
    const char *key;
    json_t *value;

    *limit = API_LIST_DEFAULT;
    *page_token = NULL;
    json_object_foreach((json_t *) query, key, value)
    {
        const char *s = json_string_value(value);
        bool known = false;

        for (size_t i = 0; extra && extra[i]; i++) {
            known |= !strcmp(key, extra[i]);
        }
        if (!strcmp(key, "limit")) {
            if (!api_parse_limit(s, limit)) {
                return api_fail(
                    err, 400, "limit",
                    "listing %s: limit \"%s\": must be an integer 1..%d", kind,
                    s ? s : "", API_LIST_MAX);
            }
        } else if (!strcmp(key, "page_token")) {
            /* Tokens are object names, so anything else is forged. */
            if (!s || !api_name_is_valid(s)) {
                return api_fail(
                    err, 400, "page_token",
                    "listing %s: page_token: not a token from a previous page",
                    kind);
            }
            *page_token = s;
        } else if (!known) {
            return api_fail(err, 400, key,
                            "listing %s: %s: unknown query parameter", kind,
                            key);
        }
    }
    return 0;
}

json_t *
api_list_page(json_t *items, size_t limit)
{
    json_t *page = json_object();

    if (json_array_size(items) > limit) {
        json_t *last;

        json_array_remove(items, limit);
        last = json_array_get(items, limit - 1);
        json_object_set(page, "next_page_token",
                        json_object_get(last, "name"));
    }
    json_object_set_new(page, "items", items);
    return page;
}

json_t *
api_object_out(const struct store_obj *obj)
{
    json_t *out = json_object();

    json_object_set_new(out, "name", json_string(obj->name));
    json_object_update(out, obj->body);
    json_object_set_new(out, "version", json_integer(obj->version));
    json_object_set_new(out, "revision", json_integer(obj->mod_revision));
    return out;
}

int
api_store_error(int error, const char *what, struct api_error *err)
{
    if (error == EBUSY || error == EAGAIN) {
        return api_fail(err, 503, NULL, "%s: the store is busy (%s); retry",
                        what, strerror(error));
    } else if (error == ENOTCONN) {
        return api_fail(err, 503, NULL,
                        "%s: the store is out of reach (no etcd member "
                        "answered); nothing was changed; retry, or use "
                        "another controller",
                        what);
    } else if (error == ECONNABORTED) {
        return api_fail(err, 503, NULL,
                        "%s: the store took the change but did not confirm "
                        "it; read the object to see whether it was made",
                        what);
    }
    if (error == ECONNREFUSED || error == ETIMEDOUT || error == EHOSTUNREACH
        || error == ECONNRESET) {
        /* Another replica may still reach the store: 503 sends clients
         * with a list of controllers there (doc/replication.md). */
        return api_fail(err, 503, NULL,
                        "%s: the store is unreachable (%s); retry, or use "
                        "another controller",
                        what, strerror(error));
    }
    return api_fail(err, 500, NULL,
                    "%s: store failure (%s); see the controller's log", what,
                    strerror(error));
}

int
api_check_leader(struct api *api, const char *what, struct api_error *err)
{
    char *leader;
    int status;

    if (leader_is(api->leader)) {
        return 0;
    }
    leader = leader_current(api->leader);
    status = api_fail(err, 503, NULL,
                      "%s: this controller (%s) does not lead; the leader "
                      "is %s: ask it",
                      what, leader_self(api->leader),
                      leader ? leader : "being elected");
    free(leader);
    return status;
}

int
api_begin(struct api *api, bool write, struct store_txn **txn,
          struct api_error *err)
{
    int error = store_begin(api->store, write, txn);

    return error ? api_store_error(error, "starting a transaction", err) : 0;
}

int
api_commit(struct store_txn *txn, int64_t *revision, struct api_error *err)
{
    int error = store_commit(txn, revision);

    return error ? api_store_error(error, "committing", err) : 0;
}

int
api_finish_no_content(struct store_txn **txn, int error, const char *what,
                      struct api_error *err)
{
    int status;

    if (error) {
        return api_store_error(error, what, err);
    }
    status = api_commit(*txn, NULL, err);
    *txn = NULL;
    return status ? status : 204;
}

int
api_put_changed(struct store_txn *txn, const char *kind, const char *name,
                const json_t *body)
{
    struct store_obj obj;
    bool same = false;

    if (!store_get(txn, kind, name, &obj)) {
        same = json_equal(obj.body, body);
        store_obj_clear(&obj);
    }
    return same ? 0
                : store_put(txn, kind, name, (json_t *) body, STORE_ANY, NULL);
}

/* State of api_lowest_free()'s walk. */
struct free_scan {
    int64_t candidate; /* Lowest number not known to be taken. */
    int64_t max;       /* Past it, there is no use looking further. */
};

static int
free_scan_cb(const struct store_obj *obj, void *scan_)
{
    struct free_scan *scan = scan_;
    int64_t n = strtoll(obj->name, NULL, 10);

    if (n > scan->candidate) {
        return API_STOP;
    }
    if (n == scan->candidate) {
        scan->candidate++;
    }
    return scan->candidate > scan->max ? API_STOP : 0;
}

int
api_lowest_free(struct store_txn *txn, const char *kind, const char *after,
                int64_t first, int64_t max, int64_t *n)
{
    struct free_scan scan = {.candidate = first, .max = max};
    int error;

    error = store_list(txn, kind, after, 0, free_scan_cb, &scan);
    if (error && error != API_STOP) {
        return error;
    }
    if (scan.candidate > max) {
        return ENOSPC;
    }
    *n = scan.candidate;
    return 0;
}

const char *
api_get_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A delete body may only carry the version it is based on. */
static const struct api_field delete_fields[] = {
    {"version", API_INTEGER, API_VERSION, false},
};

/* The API form of 'obj' for kind 'k'. */
static json_t *
kind_out(const struct api_kind *k, struct api *api, struct store_txn *txn,
         const struct store_obj *obj)
{
    return k->out ? k->out(api, txn, obj) : api_object_out(obj);
}

int
api_check_absent(struct store_txn *txn, const char *kind, const char *name,
                 const char *what, struct api_error *err)
{
    struct store_obj obj;
    int error = store_get(txn, kind, name, &obj);

    if (!error) {
        store_obj_clear(&obj);
        return api_fail(err, 409, "name", "%s: already exists", what);
    } else if (error != ENOENT) {
        return api_store_error(error, what, err);
    }
    return 0;
}

int
api_check_present(struct store_txn *txn, const char *kind, const char *name,
                  const char *what, struct api_error *err)
{
    struct store_obj obj;
    int status = api_get_object(txn, kind, name, what, &obj, err);

    if (!status) {
        store_obj_clear(&obj);
    }
    return status;
}

void
api_created(struct store_obj *obj, const char *kind, const char *name,
            json_t *body, int64_t revision)
{
    *obj = (struct store_obj){
        .kind = (char *) kind,
        .name = (char *) name,
        .body = body,
        .version = 1,
        .create_revision = revision,
        .mod_revision = revision,
    };
}

void
api_updated(struct store_obj *obj, json_t *body, int64_t revision)
{
    json_decref(obj->body);
    obj->body = json_incref(body);
    obj->version++;
    obj->mod_revision = revision;
}

int
api_get_object(struct store_txn *txn, const char *kind, const char *name,
               const char *what, struct store_obj *obj, struct api_error *err)
{
    int error = store_get(txn, kind, name, obj);

    if (error == ENOENT) {
        return api_fail(err, 404, NULL, "%s: not found", what);
    } else if (error) {
        return api_store_error(error, what, err);
    }
    return 0;
}

int
api_kind_get(struct api *api, const struct api_kind *k, const char *name,
             json_t **out, struct api_error *err)
{
    char *what = api_what(k->kind, name);
    struct store_txn *txn;
    struct store_obj obj;
    int status;

    status = api_begin(api, false, &txn, err);
    if (!status) {
        status = api_get_object(txn, k->kind, name, what, &obj, err);
        if (!status) {
            *out = kind_out(k, api, txn, &obj);
            store_obj_clear(&obj);
            status = 200;
        }
        store_abort(txn);
    }
    free(what);
    return status;
}

/* A page of a list in the making. */
struct kind_page {
    const struct api_kind *k; /* The kind listed. */
    struct api *api;          /* For 'k''s API form. */
    struct store_txn *txn;    /* Where the objects are read. */
    json_t *items;            /* Their API forms. */
};

static int
kind_page_cb(const struct store_obj *obj, void *page_)
{
    struct kind_page *page = page_;

    json_array_append_new(page->items,
                          kind_out(page->k, page->api, page->txn, obj));
    return 0;
}

int
api_kind_list(struct api *api, const struct api_kind *k, const json_t *query,
              json_t **out, struct api_error *err)
{
    struct kind_page page = {.k = k, .api = api};
    const char *page_token;
    size_t limit;
    int status, error;

    status = api_list_query(query, k->plural, NULL, &limit, &page_token, err);
    if (!status) {
        status = api_begin(api, false, &page.txn, err);
    }
    if (status) {
        return status;
    }
    page.items = json_array();
    error = store_list(page.txn, k->kind, page_token, limit + 1, kind_page_cb,
                       &page);
    store_abort(page.txn);
    if (error) {
        char *what = xasprintf("listing %s", k->plural);

        json_decref(page.items);
        status = api_store_error(error, what, err);
        free(what);
        return status;
    }
    *out = api_list_page(page.items, limit);
    return 200;
}

int
api_kind_patch_begin(struct api *api, const struct api_kind *k,
                     const char *name, const json_t *in, int64_t if_match,
                     const char *what, struct store_txn **txn,
                     struct store_obj *obj, json_t **current,
                     struct api_error *err)
{
    int64_t expected;
    int status;

    status = api_begin(api, true, txn, err);
    if (!status) {
        status = api_get_object(*txn, k->kind, name, what, obj, err);
    }
    if (status) {
        return status;
    }
    *current = kind_out(k, api, *txn, obj);
    status =
        api_check_input(in, k->fields, k->n_fields, what, *current, true, err);
    if (!status) {
        status = api_expected_version(in, if_match, what, &expected, err);
    }
    if (!status) {
        status = api_check_version(expected, obj->version, what, err);
    }
    return status;
}

int
api_kind_create_begin(struct api *api, const struct api_kind *k,
                      const char *name, const char *what,
                      struct store_txn **txn, struct api_error *err)
{
    int status = api_begin(api, true, txn, err);

    return status ? status : api_check_absent(*txn, k->kind, name, what, err);
}

/* Ends a write of 'obj' of kind 'k', whose body was 'old' before (NULL for
 * a creation, which api_kind_insert() brought in line already): lets 'k'
 * bring what depends on the object in line, reads
 * its API form in '*txn' (so that it sees the change), commits '*txn'
 * (setting it to NULL) and answers the API form with the commit's
 * revision.  Returns 0 or the error status. */
static int
kind_commit(struct api *api, const struct api_kind *k, struct store_txn **txn,
            struct store_obj *obj, const json_t *old, const char *what,
            json_t **out, struct api_error *err)
{
    int64_t revision;
    json_t *answer;
    int status;

    if (k->written && old) {
        status = k->written(*txn, obj->name, old, obj->body, what, err);
        if (status) {
            return status;
        }
    }
    answer = kind_out(k, api, *txn, obj);
    status = api_commit(*txn, &revision, err);
    *txn = NULL;
    if (status) {
        json_decref(answer);
        return status;
    }
    obj->mod_revision = revision;
    json_object_set_new(answer, "revision", json_integer(revision));
    *out = answer;
    return 0;
}

int
api_kind_insert(struct store_txn *txn, const struct api_kind *k,
                const char *name, json_t *body, const char *what,
                struct api_error *err)
{
    char now[32];
    int error;

    api_now(now);
    json_object_set_new(body, "created_at", json_string(now));
    json_object_set_new(body, "updated_at", json_string(now));
    error = store_put(txn, k->kind, name, body, STORE_CREATE, NULL);
    if (error) {
        return api_store_error(error, what, err);
    }
    return k->written ? k->written(txn, name, NULL, body, what, err) : 0;
}

int
api_kind_create_finish(struct api *api, const struct api_kind *k,
                       const char *name, const char *what,
                       struct store_txn **txn, json_t *body, json_t **out,
                       struct api_error *err)
{
    struct store_obj created;
    int status;

    status = api_kind_insert(*txn, k, name, body, what, err);
    if (status) {
        return status;
    }
    api_created(&created, k->kind, name, body, 0);
    status = kind_commit(api, k, txn, &created, NULL, what, out, err);
    return status ? status : 201;
}

/* Ends a PATCH begun with api_kind_patch_begin() whose merged body is
 * 'body': if it equals the stored one, answers 'current' (nothing changes,
 * so neither does the version); otherwise stamps "updated_at", writes it
 * over version 'obj->version', and goes on as api_kind_create_finish()
 * does, updating 'obj' to the new version.  Returns 200 or the error
 * status; the caller still aborts '*txn' if set and frees 'obj', 'current'
 * and 'body'. */
static int
kind_patch_finish(struct api *api, const struct api_kind *k, const char *name,
                  const char *what, struct store_txn **txn,
                  struct store_obj *obj, json_t *current, json_t *body,
                  json_t **out, struct api_error *err)
{
    json_t *old;
    char now[32];
    int status;
    int error;

    if (json_equal(body, obj->body)) {
        *out = json_incref(current);
        return 200;
    }
    api_now(now);
    json_object_set_new(body, "updated_at", json_string(now));
    error = store_put(*txn, k->kind, name, body, obj->version, NULL);
    if (error) {
        return api_store_error(error, what, err);
    }
    old = json_incref(obj->body);
    api_updated(obj, body, 0);
    status = kind_commit(api, k, txn, obj, old, what, out, err);
    json_decref(old);
    return status ? status : 200;
}

int
api_kind_create(struct api *api, const struct api_kind *k, const json_t *in,
                const char *what, api_apply_func *apply, json_t **out,
                struct api_error *err)
{
    const char *name = api_get_string(in, "name");
    struct store_txn *txn = NULL;
    json_t *body = json_object();
    int status;

    status = api_check_name(name, "name", what, err);
    if (!status) {
        status = apply(NULL, NULL, in, body, what, err);
    }
    if (!status) {
        status = api_kind_create_begin(api, k, name, what, &txn, err);
    }
    if (!status) {
        status =
            api_kind_create_finish(api, k, name, what, &txn, body, out, err);
    }
    store_abort(txn);
    json_decref(body);
    return status;
}

int
api_kind_patch(struct api *api, const struct api_kind *k, const char *name,
               const json_t *in, int64_t if_match, const char *what,
               api_apply_func *apply, json_t **out, struct api_error *err)
{
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    json_t *current = NULL, *body = NULL;
    int status;

    status = api_kind_patch_begin(api, k, name, in, if_match, what, &txn, &obj,
                                  &current, err);
    if (!status) {
        body = json_deep_copy(obj.body);
        status = apply(txn, &obj, in, body, what, err);
    }
    if (!status) {
        status = kind_patch_finish(api, k, name, what, &txn, &obj, current,
                                   body, out, err);
    }
    store_abort(txn);
    store_obj_clear(&obj);
    json_decref(current);
    json_decref(body);
    return status;
}

int
api_kind_delete_begin(struct api *api, const struct api_kind *k,
                      const char *name, const json_t *in, int64_t if_match,
                      const char *what, struct store_txn **txn,
                      struct store_obj *obj, struct api_error *err)
{
    json_t *current;
    int64_t expected;
    int status;

    status = api_begin(api, true, txn, err);
    if (!status) {
        status = api_get_object(*txn, k->kind, name, what, obj, err);
    }
    if (status) {
        return status;
    }
    /* A delete body has no field but "version", so the plain stored form
     * serves to check it against. */
    current = api_object_out(obj);
    if (in) {
        status = api_check_input(in, delete_fields, ARRAY_SIZE(delete_fields),
                                 what, current, false, err);
    }
    if (!status) {
        status = api_expected_version(in, if_match, what, &expected, err);
    }
    if (!status) {
        status = api_check_version(expected, obj->version, what, err);
    }
    json_decref(current);
    return status;
}
