/* What the controller's tests share. */
#include "tests/controller/fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "controller/desired.h"
#include "controller/server.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

char *
fixture_dir_create(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = xasprintf("%s/fabric-controller-test-XXXXXX",
                          tmp && *tmp ? tmp : "/tmp");

    assert_non_null(mkdtemp(dir));
    return dir;
}

void
fixture_dir_remove(char *dir)
{
    if (!dir) {
        return;
    }
    /* The controller's storage makes subdirectories of its own. */
    remove_tree(dir);
    assert_int_equal(access(dir, F_OK), -1);
    free(dir);
}

static void
write_datum(const char *path, const gnutls_datum_t *d)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(d->data, 1, d->size, f), d->size);
    assert_int_equal(fclose(f), 0);
}

/* Makes a self-signed certificate for 127.0.0.1 and its key, as PEM files
 * in 'dir'. */
static void
make_certificate(const char *dir, char **cert_file, char **key_file)
{
    static const uint8_t loopback[4] = {127, 0, 0, 1};
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    gnutls_datum_t pem;
    uint8_t serial[8];
    time_t now = time(NULL);

    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(
                         key, GNUTLS_PK_ECDSA,
                         GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
    gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial);
    serial[0] &= 0x7f;
    assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof serial),
                     0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now - 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_dn_by_oid(
                         crt, GNUTLS_OID_X520_COMMON_NAME, 0, "127.0.0.1", 9),
                     0);
    assert_int_equal(gnutls_x509_crt_set_subject_alt_name(
                         crt, GNUTLS_SAN_IPADDRESS, loopback, sizeof loopback,
                         GNUTLS_FSAN_SET),
                     0);
    assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt, 1, -1), 0);
    assert_int_equal(
        gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE
                                               | GNUTLS_KEY_KEY_CERT_SIGN),
        0);
    assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
    assert_int_equal(
        gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);

    *cert_file = xasprintf("%s/cert.pem", dir);
    *key_file = xasprintf("%s/key.pem", dir);
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem),
                     0);
    write_datum(*cert_file, &pem);
    gnutls_free(pem.data);
    assert_int_equal(
        gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &pem), 0);
    write_datum(*key_file, &pem);
    gnutls_free(pem.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

struct fixture *
fixture_start(int heartbeat_timeout, bool tls)
{
    return fixture_start_config(heartbeat_timeout, tls, NULL);
}

char *
fixture_store_url(const char *dir)
{
    static int n;
    const char *base = getenv("FABRIC_TEST_STORE");

    if (base && base[0]) {
        /* A fresh prefix of the one etcd per store, never reused: the
         * pid and a count tell the tests and the fixtures apart. */
        return xasprintf("%s/t%ld-%d", base, (long) getpid(),
                         __atomic_add_fetch(&n, 1, __ATOMIC_RELAXED));
    }
    return xasprintf("%s/controller.db", dir);
}

/* Starts a controller as fixture_start_config() does, on the store of
 * 'first' (a fixture whose admin token it takes) if it is nonnull. */
static struct fixture *
fixture_start__(int heartbeat_timeout, bool tls,
                const struct server_config *limits,
                const struct fixture *first)
{
    struct fixture *f = xzalloc(sizeof *f);
    struct server_config sc = {.listen = "127.0.0.1:0"};
    char *key_file = NULL;
    size_t len;

    log_set_level(LOG_LEVEL_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    f->dir = fixture_dir_create();
    f->db = first ? xstrdup(first->db) : fixture_store_url(f->dir);
    f->token_file = xasprintf("%s/admin.token", f->dir);
    sc.db = f->db;
    sc.bootstrap_token_file = f->token_file;
    sc.heartbeat_timeout = heartbeat_timeout;
    f->storage = xasprintf("%s/storage", f->dir);
    sc.storage = f->storage;
    if (limits) {
        sc.image_size_max = limits->image_size_max;
        sc.audit_keep = limits->audit_keep;
        sc.audit_refused_keep = limits->audit_refused_keep;
        sc.flowlogs_keep = limits->flowlogs_keep;
        sc.flowlogs_port_keep = limits->flowlogs_port_keep;
        sc.max_connections = limits->max_connections;
        sc.max_per_address = limits->max_per_address;
        sc.idle_timeout = limits->idle_timeout;
        sc.auth_idle_timeout = limits->auth_idle_timeout;
        sc.ha_lease_ms = limits->ha_lease_ms;
        sc.ui_dir = limits->ui_dir;
    }
    if (tls) {
        make_certificate(f->dir, &f->cafile, &key_file);
        sc.tls_cert = f->cafile;
        sc.tls_key = key_file;
    }
    assert_int_equal(server_start(&sc, &f->server), 0);
    free(key_file);

    if (first) {
        /* The store had its tokens: no bootstrap token was written. */
        f->admin = xstrdup(first->admin);
    } else {
        assert_int_equal(read_file(f->token_file, &f->admin, &len), 0);
        assert_true(len > 1);
        f->admin[strcspn(f->admin, "\n")] = '\0';
    }
    f->base = xasprintf("%s://127.0.0.1:%u", tls ? "https" : "http",
                        server_port(f->server));
    f->curl = curl_easy_init();
    assert_non_null(f->curl);
    return f;
}

struct fixture *
fixture_start_config(int heartbeat_timeout, bool tls,
                     const struct server_config *limits)
{
    return fixture_start__(heartbeat_timeout, tls, limits, NULL);
}

struct fixture *
fixture_start_replica(const struct fixture *first)
{
    return fixture_start__(30, false, NULL, first);
}

void
fixture_stop(struct fixture *f)
{
    if (f) {
        curl_easy_cleanup(f->curl);
        server_stop(f->server);
        fixture_dir_remove(f->dir);
        free(f->db);
        free(f->token_file);
        free(f->storage);
        free(f->base);
        free(f->admin);
        free(f->cafile);
        free(f);
    }
}

int
fixture_setup(void **state)
{
    *state = fixture_start(30, false);
    return 0;
}

int
fixture_teardown(void **state)
{
    fixture_stop(*state);
    return 0;
}

void
reply_clear(struct reply *r)
{
    if (r) {
        free(r->body);
        free(r->headers);
        json_decref(r->json);
        memset(r, 0, sizeof *r);
    }
}

char *
reply_header(const struct reply *r, const char *name)
{
    size_t len = strlen(name);

    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");

        if (!end) {
            end = line + strlen(line);
        }
        if (!strncasecmp(line, name, len) && line[len] == ':') {
            const char *v = line + len + 1;

            v += strspn(v, " ");
            return xasprintf("%.*s", (int) (end - v), v);
        }
        line = *end ? end + 2 : end;
    }
    return NULL;
}

static const char *
error_member(const struct reply *r, const char *key)
{
    const char *s = json_string_value(
        json_object_get(json_object_get(r->json, "error"), key));

    return s ? s : "";
}

const char *
reply_field(const struct reply *r)
{
    return error_member(r, "field");
}

const char *
reply_reason(const struct reply *r)
{
    return error_member(r, "reason");
}

const char *
reply_message(const struct reply *r)
{
    return error_member(r, "message");
}

/* A growing buffer for libcurl's callbacks. */
struct buf {
    char *data; /* Bytes so far, NUL-terminated. */
    size_t len; /* Bytes in 'data'. */
};

static size_t
buf_write(char *ptr, size_t size, size_t n, void *buf_)
{
    struct buf *buf = buf_;
    size_t add = size * n;

    buf->data = xrealloc(buf->data, buf->len + add + 1);
    memcpy(buf->data + buf->len, ptr, add);
    buf->len += add;
    buf->data[buf->len] = '\0';
    return add;
}

static long
call(struct fixture *f, CURL *curl, const char *method, const char *path,
     const char *token, const char *body, const char *header, struct reply *r)
{
    struct curl_slist *headers = NULL;
    struct buf b = {xzalloc(1), 0}, h = {xzalloc(1), 0};
    char *url = xasprintf("%s%s", f->base, path);
    CURLcode rc;

    memset(r, 0, sizeof *r);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, buf_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, buf_write);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    if (f->cafile) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, f->cafile);
    }
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        if (!header || strncasecmp(header, "Content-Type:", 13)) {
            headers =
                curl_slist_append(headers, "Content-Type: application/json");
        }
    }
    /* Send bodies at once, without waiting for "100 Continue", unless the
     * test asks for it. */
    if (!header || strncasecmp(header, "Expect:", 7)) {
        headers = curl_slist_append(headers, "Expect:");
    }
    if (token) {
        char *auth = xasprintf("Authorization: Bearer %s", token);

        headers = curl_slist_append(headers, auth);
        free(auth);
    }
    if (header) {
        headers = curl_slist_append(headers, header);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        fail_msg("%s %s: %s", method, url, curl_easy_strerror(rc));
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = b.data;
    r->len = b.len;
    r->headers = h.data;
    if (b.len && (b.data[0] == '{' || b.data[0] == '[')) {
        r->json = json_loadb(b.data, b.len, 0, NULL);
    }
    curl_slist_free_all(headers);
    free(url);
    return r->status;
}

long
fixture_call(struct fixture *f, const char *method, const char *path,
             const char *token, const char *body, const char *header,
             struct reply *r)
{
    return call(f, f->curl, method, path, token, body, header, r);
}

long
fixture_call_new(struct fixture *f, const char *method, const char *path,
                 const char *token, const char *body, const char *header,
                 struct reply *r)
{
    CURL *curl = curl_easy_init();
    long status;

    assert_non_null(curl);
    status = call(f, curl, method, path, token, body, header, r);
    curl_easy_cleanup(curl);
    return status;
}

void
fixture_expect(struct fixture *f, const char *method, const char *path,
               const char *token, const char *body, long status,
               const char *field)
{
    struct reply r;

    if (fixture_call(f, method, path, token, body, NULL, &r) != status) {
        fail_msg("%s %s: expected %ld, got %ld: %s", method, path, status,
                 r.status, r.body);
    }
    if (field) {
        assert_string_equal(reply_field(&r), field);
    }
    reply_clear(&r);
}

long
fixture_admin(struct fixture *f, const char *method, const char *path,
              const char *body)
{
    struct reply r;
    long status = fixture_call(f, method, path, f->admin, body, NULL, &r);

    reply_clear(&r);
    return status;
}

char *
fixture_token(struct fixture *f, const char *name, const char *role,
              const char *host)
{
    json_t *in = json_pack("{ssss}", "name", name, "role", role);
    char *body, *token;
    struct reply r;

    if (host) {
        json_object_set_new(in, "host", json_string(host));
    }
    body = json_dumps(in, 0);
    assert_int_equal(
        fixture_call(f, "POST", "/v1/tokens", f->admin, body, NULL, &r), 201);
    token = xstrdup(json_string_value(json_object_get(r.json, "token")));
    reply_clear(&r);
    free(body);
    json_decref(in);
    return token;
}

json_t *
fixture_json(const char *text)
{
    char *s = xstrdup(text);
    json_error_t jerr;
    json_t *value;

    for (char *p = s; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    value = json_loads(s, JSON_DECODE_ANY, &jerr);
    if (!value) {
        fail_msg("bad test JSON %s: %s", s, jerr.text);
    }
    free(s);
    return value;
}

void
fixture_expect_json(const json_t *got, const char *expected_text)
{
    json_t *expected = fixture_json(expected_text);

    if (!json_equal(got, expected)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *e = json_dumps(expected, JSON_SORT_KEYS | JSON_ENCODE_ANY);

        fail_msg("expected %s\n     got %s", e, g ? g : "nothing");
    }
    json_decref(expected);
}

int
fixture_env_setup(void **state)
{
    struct fixture_env *env = xzalloc(sizeof *env);
    char *db;

    log_set_level(LOG_LEVEL_WARN);
    env->dir = fixture_dir_create();
    db = fixture_store_url(env->dir);
    assert_int_equal(store_open(db, &env->store), 0);
    free(db);
    api_init(&env->api, env->store, 30);
    *state = env;
    return 0;
}

int
fixture_env_teardown(void **state)
{
    struct fixture_env *env = *state;

    api_destroy(&env->api);
    store_close(env->store);
    fixture_dir_remove(env->dir);
    free(env);
    return 0;
}

json_t *
fixture_make(struct fixture_env *env, fixture_create_func *fn,
             const char *text)
{
    struct api_error err = {0};
    json_t *in = fixture_json(text), *out = NULL;
    int status = fn(&env->api, in, &out, &err);

    if (status != 201 && status != 200) {
        fail_msg("%s: %d %s", text, status, err.message);
    }
    json_decref(in);
    return out;
}

void
fixture_create(struct fixture_env *env, fixture_create_func *fn,
               const char *text)
{
    json_decref(fixture_make(env, fn, text));
}

int
fixture_heartbeat(struct fixture_env *env, const char *host, const json_t *in,
                  struct api_error *err)
{
    json_t *out = NULL;
    int status = api_host_heartbeat(&env->api, host, in, &out, err);

    if (status == 200) {
        assert_true(json_integer_value(json_object_get(out, "lease_ms")) > 0);
    }
    json_decref(out);
    return status;
}

json_t *
fixture_patch(struct fixture_env *env, fixture_patch_func *fn,
              const char *name, const char *text)
{
    struct api_error err = {0};
    json_t *in = fixture_json(text), *out = NULL;
    int status = fn(&env->api, name, in, STORE_ANY, &out, &err);

    if (status != 200) {
        fail_msg("%s %s: %d %s", name, text, status, err.message);
    }
    json_decref(in);
    return out;
}

json_t *
fixture_compute(struct fixture_env *env, const char *host)
{
    struct store_txn *txn;
    json_t *doc;

    assert_int_equal(store_begin(env->store, false, &txn), 0);
    assert_int_equal(desired_compute(txn, host, &doc), 0);
    store_abort(txn);
    return doc;
}
