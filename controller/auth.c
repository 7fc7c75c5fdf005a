/* Bearer tokens and roles. */
#include "controller/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "controller/api.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

/* Random bytes in a token: 256 bits, beyond any guessing. */
#define TOKEN_BYTES 32

/* The longest Authorization value worth hashing: tokens are 43
 * characters, so anything much longer is not one of ours. */
#define TOKEN_MAX 256

/* The name of the token made on first start. */
#define BOOTSTRAP_NAME "admin"

static const struct api_field token_fields[] = {
    {"name", API_STRING, API_IMMUTABLE, true},
    {"role", API_STRING, API_IMMUTABLE, true},
    {"host", API_STRING, API_IMMUTABLE, false},
    {"version", API_INTEGER, API_VERSION, false},
    {"revision", API_INTEGER, API_RO, false},
    {"created_at", API_STRING, API_RO, false},
    {"updated_at", API_STRING, API_RO, false},
};

void
auth_identity_clear(struct auth_identity *id)
{
    if (id) {
        free(id->name);
        free(id->host);
        memset(id, 0, sizeof *id);
    }
}

const char *
auth_role_name(enum auth_role role)
{
    switch (role) {
    case AUTH_ADMIN:
        return "admin";
    case AUTH_VIEWER:
        return "viewer";
    case AUTH_AGENT:
    default:
        return "agent";
    }
}

static bool
parse_role(const char *s, enum auth_role *role)
{
    for (int r = AUTH_ADMIN; r <= AUTH_AGENT; r++) {
        if (s && !strcmp(s, auth_role_name(r))) {
            *role = r;
            return true;
        }
    }
    return false;
}

int
auth_token_generate(char token[AUTH_TOKEN_LEN + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t bytes[TOKEN_BYTES];
    size_t got = 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;

    while (got < sizeof bytes) {
        ssize_t r = getrandom(bytes + got, sizeof bytes - got, 0);

        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        got += r;
    }
    for (size_t i = 0; i < sizeof bytes; i++) {
        acc = acc << 8 | bytes[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            token[n++] = alphabet[(acc >> bits) & 0x3f];
        }
    }
    if (bits) {
        token[n++] = alphabet[(acc << (6 - bits)) & 0x3f];
    }
    token[n] = '\0';
    return 0;
}

void
auth_token_hash(const char *token, char hex[65])
{
    uint8_t digest[32];

    gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), digest);
    for (size_t i = 0; i < sizeof digest; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
}

int
auth_authenticate(struct api *api, const char *header,
                  struct auth_identity *id, struct api_error *err)
{
    struct store_txn *txn;
    struct store_obj obj;
    const char *token;
    char hash[65];
    int status, error;

    memset(id, 0, sizeof *id);
    if (!header) {
        return api_fail(err, 401, NULL,
                        "missing \"Authorization: Bearer TOKEN\" header");
    }
    if (strncasecmp(header, "Bearer ", 7)) {
        return api_fail(err, 401, NULL,
                        "the Authorization header must be \"Bearer TOKEN\"");
    }
    token = header + 7;
    token += strspn(token, " ");
    if (!*token || strlen(token) > TOKEN_MAX) {
        return api_fail(err, 401, NULL, "unknown token");
    }
    auth_token_hash(token, hash);

    status = api_begin(api, false, &txn, err);
    if (status) {
        return status;
    }
    error = store_get(txn, "token-hash", hash, &obj);
    store_abort(txn);
    if (error == ENOENT) {
        return api_fail(err, 401, NULL, "unknown token");
    } else if (error) {
        return api_store_error(error, "checking a token", err);
    }
    if (!parse_role(api_get_string(obj.body, "role"), &id->role)
        || !api_get_string(obj.body, "token")) {
        store_obj_clear(&obj);
        return api_fail(err, 401, NULL, "unknown token");
    }
    id->name = xstrdup(api_get_string(obj.body, "token"));
    if (api_get_string(obj.body, "host")) {
        id->host = xstrdup(api_get_string(obj.body, "host"));
    }
    store_obj_clear(&obj);
    return 0;
}

/* Stores token 'name' with secret 'token', 'role' and 'host' (NULL for
 * none) in 'txn', and sets '*body' to its new body. */
static int
put_token(struct store_txn *txn, const char *name, const char *token,
          enum auth_role role, const char *host, json_t **body)
{
    json_t *index;
    char hash[65];
    char now[32];
    int error;

    auth_token_hash(token, hash);
    api_now(now);
    *body = json_pack("{ssssssss}", "role", auth_role_name(role), "hash", hash,
                      "created_at", now, "updated_at", now);
    index = json_pack("{ssss}", "token", name, "role", auth_role_name(role));
    if (host) {
        json_object_set_new(*body, "host", json_string(host));
        json_object_set_new(index, "host", json_string(host));
    }
    error = store_put(txn, "token", name, *body, STORE_CREATE, NULL);
    if (!error) {
        error = store_put(txn, "token-hash", hash, index, STORE_CREATE, NULL);
    }
    json_decref(index);
    return error;
}

int
auth_bootstrap(struct store *store, const char *file)
{
    char token[AUTH_TOKEN_LEN + 1];
    struct store_txn *txn;
    json_t *body = NULL;
    size_t n;
    int error;

    error = store_begin(store, true, &txn);
    if (error) {
        LOG_ERR("bootstrap token: cannot start a transaction: %s",
                strerror(error));
        return error;
    }
    error = store_count(txn, "token", &n);
    if (error || n > 0) {
        store_abort(txn);
        return error;
    }
    error = auth_token_generate(token);
    if (!error) {
        error = put_token(txn, BOOTSTRAP_NAME, token, AUTH_ADMIN, NULL, &body);
    }
    json_decref(body);
    if (error) {
        LOG_ERR("bootstrap token: cannot create it: %s", strerror(error));
        store_abort(txn);
        return error;
    }

    /* The file first: a token stored but written nowhere would lock
     * everyone out. */
    char *line = xasprintf("%s\n", token);

    error = write_file_atomic(file, line, strlen(line));
    free(line);
    if (error) {
        LOG_ERR("bootstrap token: cannot write %s: %s (create its directory "
                "or set bootstrap-token-file)",
                file, strerror(error));
        store_abort(txn);
        return error;
    }
    error = store_commit(txn, NULL);
    if (error) {
        LOG_ERR("bootstrap token: cannot store it: %s", strerror(error));
        return error;
    }
    /* The secret itself goes to the file only: stderr ends up in logs
     * (the journal, a test's log file) that more people can read. */
    LOG_INFO("created the bootstrap admin token \"%s\": it is in %s (mode "
             "0600), and nowhere else",
             BOOTSTRAP_NAME, file);
    explicit_bzero(token, sizeof token);
    return 0;
}

/* The API form of stored token 'obj': never its hash (an api_out_func;
 * neither 'api' nor 'txn' is needed). */
static json_t *
token_out(struct api *api, struct store_txn *txn, const struct store_obj *obj)
{
    json_t *out = api_object_out(obj);

    json_object_del(out, "hash");
    return out;
}

/* Tokens cannot be patched, so they have no update fields. */
static const struct api_kind token_kind = {
    .kind = "token",
    .plural = "tokens",
    .out = token_out,
};

int
auth_token_create(struct api *api, const json_t *in, json_t **out,
                  struct api_error *err)
{
    const char *name = api_get_string(in, "name");
    const char *host = api_get_string(in, "host");
    char *what = api_what("token", name);
    char token[AUTH_TOKEN_LEN + 1];
    struct store_txn *txn = NULL;
    enum auth_role role = AUTH_VIEWER;
    json_t *body = NULL;
    int64_t revision;
    int status, error;

    status = api_check_input(in, token_fields, ARRAY_SIZE(token_fields), what,
                             NULL, false, err);
    if (!status) {
        status = api_check_name(name, "name", what, err);
    }
    if (!status && !parse_role(api_get_string(in, "role"), &role)) {
        char *q = api_quote(api_get_string(in, "role"));

        status = api_fail(
            err, 400, "role",
            "%s: role %s: expected \"admin\", \"viewer\" or \"agent\"", what,
            q);
        free(q);
    }
    if (!status && role == AUTH_AGENT && !host) {
        status = api_fail(
            err, 400, "host",
            "%s: host: required for an agent token (the host it speaks for)",
            what);
    } else if (!status && role != AUTH_AGENT && host) {
        status =
            api_fail(err, 400, "host",
                     "%s: host: only agent tokens are bound to a host", what);
    } else if (!status && host) {
        status = api_check_name(host, "host", what, err);
    }
    if (!status) {
        status =
            api_kind_create_begin(api, &token_kind, name, what, &txn, err);
    }
    if (status) {
        goto out;
    }
    error = auth_token_generate(token);
    if (!error) {
        error = put_token(txn, name, token, role, host, &body);
    }
    if (error) {
        status = api_store_error(error, what, err);
        goto out;
    }
    status = api_commit(txn, &revision, err);
    txn = NULL;
    if (!status) {
        struct store_obj created;

        api_created(&created, "token", name, body, revision);
        *out = token_out(NULL, NULL, &created);
        /* The only time the secret leaves the controller. */
        json_object_set_new(*out, "token", json_string(token));
        status = 201;
    }

out:
    store_abort(txn);
    json_decref(body);
    free(what);
    return status;
}

int
auth_token_get(struct api *api, const char *name, json_t **out,
               struct api_error *err)
{
    return api_kind_get(api, &token_kind, name, out, err);
}

int
auth_token_list(struct api *api, const json_t *query, json_t **out,
                struct api_error *err)
{
    return api_kind_list(api, &token_kind, query, out, err);
}

/* Counts admin tokens other than 'except'. */
struct admin_count {
    const char *except; /* The token about to go. */
    size_t n;           /* Admin tokens besides it. */
};

static int
admin_count_cb(const struct store_obj *obj, void *ac_)
{
    struct admin_count *ac = ac_;
    const char *role = api_get_string(obj->body, "role");

    ac->n += role && !strcmp(role, "admin") && strcmp(obj->name, ac->except);
    return 0;
}

int
auth_token_delete(struct api *api, const char *name, const json_t *in,
                  int64_t if_match, struct api_error *err)
{
    char *what = api_what("token", name);
    struct admin_count ac = {.except = name};
    struct store_txn *txn = NULL;
    struct store_obj obj = {0};
    const char *role, *hash;
    int status, error;

    status = api_kind_delete_begin(api, &token_kind, name, in, if_match, what,
                                   &txn, &obj, err);
    if (status) {
        goto out;
    }
    role = api_get_string(obj.body, "role");
    if (role && !strcmp(role, "admin")) {
        error = store_list(txn, "token", NULL, 0, admin_count_cb, &ac);
        if (error) {
            status = api_store_error(error, what, err);
            goto out;
        }
        if (!ac.n) {
            status = api_fail(err, 409, NULL,
                              "%s: the last admin token cannot be deleted "
                              "(create another admin token first)",
                              what);
            goto out;
        }
    }
    error = store_delete(txn, "token", name, obj.version);
    hash = api_get_string(obj.body, "hash");
    if (!error && hash) {
        error = store_delete(txn, "token-hash", hash, STORE_ANY);
        error = error == ENOENT ? 0 : error;
    }
    status = api_finish_no_content(&txn, error, what, err);

out:
    store_abort(txn);
    store_obj_clear(&obj);
    free(what);
    return status;
}
