/* The controller's supporting modules: the configuration file (errors name
 * the file and line), tokens (random, stored as SHA-256 only, the
 * bootstrap token written once with mode 0600), agents' trace tokens
 * sealed in the store (and a plaintext one of an older store sealed on
 * start), and the audit trail
 * (newest first, pruned to the last N). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "controller/api.h"
#include "controller/audit.h"
#include "controller/auth.h"
#include "controller/config.h"
#include "controller/secrets.h"
#include "controller/server.h"
#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/log.h"
#include "utils/util.h"

/* Writes 'text' to a new file in 'dir' and returns its path. */
static char *
write_conf(const char *dir, const char *text)
{
    char *path = xasprintf("%s/controller.conf", dir);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Reads 'text' as a configuration file and returns the error message, or
 * NULL if it is valid (then 'cfg' holds it). */
static char *
read_conf(const char *dir, const char *text, struct config *cfg)
{
    char *path = write_conf(dir, text);
    char *msg = NULL;
    int error;

    config_init(cfg);
    error = config_read_file(cfg, path, &msg);
    free(path);
    assert_true(!error == !msg);
    return msg;
}

static void
expect_conf_error(const char *dir, const char *text, const char *expected)
{
    struct config cfg;
    char *msg = read_conf(dir, text, &cfg);

    if (!msg || !strstr(msg, expected)) {
        fail_msg("%s: expected an error with \"%s\", got \"%s\"", text,
                 expected, msg ? msg : "none");
    }
    free(msg);
    config_destroy(&cfg);
}

static void
test_config(void **state)
{
    char *dir = fixture_dir_create();
    struct config cfg, cmdline;
    char *msg, *path;

    msg = read_conf(dir,
                    "# fabric-controller settings\n"
                    "\n"
                    "listen = 0.0.0.0:9471   # everywhere\n"
                    "  db=/srv/fabric.db\n"
                    "tls-cert = /etc/fabric/c.crt\n"
                    "tls-key = /etc/fabric/c.key\n"
                    "bootstrap-token-file = /root/admin#1.token\n"
                    "heartbeat-timeout = 45\n"
                    "log-level = debug\n",
                    &cfg);
    assert_null(msg);
    assert_string_equal(cfg.listen, "0.0.0.0:9471");
    assert_string_equal(cfg.db, "/srv/fabric.db");
    assert_string_equal(cfg.tls_cert, "/etc/fabric/c.crt");
    assert_string_equal(cfg.tls_key, "/etc/fabric/c.key");
    /* A "#" inside a value is not a comment. */
    assert_string_equal(cfg.bootstrap_token_file, "/root/admin#1.token");
    assert_int_equal(cfg.heartbeat_timeout, 45);
    assert_int_equal(cfg.log_level, LOG_LEVEL_DBG);
    assert_null(config_check(&cfg));

    /* Options override the file, key by key. */
    config_init(&cmdline);
    assert_null(config_set(&cmdline, "listen", "[::1]:9000"));
    config_override(&cfg, &cmdline);
    assert_string_equal(cfg.listen, "[::1]:9000");
    assert_string_equal(cfg.db, "/srv/fabric.db");
    assert_int_equal(cfg.heartbeat_timeout, 45);
    config_destroy(&cmdline);
    config_destroy(&cfg);

    /* Defaults when the file says nothing. */
    msg = read_conf(dir, "", &cfg);
    assert_null(msg);
    assert_string_equal(cfg.listen, "127.0.0.1:9470");
    assert_string_equal(cfg.db, "/var/lib/fabric/controller.db");
    assert_string_equal(cfg.bootstrap_token_file,
                        "/var/lib/fabric/admin.token");
    assert_null(cfg.tls_cert);
    config_destroy(&cfg);

    path = xasprintf("%s/controller.conf", dir);
    msg = xasprintf("%s:3: unknown key \"color\"", path);
    expect_conf_error(dir, "# x\nlisten = 127.0.0.1:1\ncolor = red\n", msg);
    free(msg);
    msg = xasprintf("%s:1: heartbeat-timeout \"0\"", path);
    expect_conf_error(dir, "heartbeat-timeout = 0\n", msg);
    free(msg);
    msg = xasprintf("%s:2: expected \"key = value\"", path);
    expect_conf_error(dir, "db = /x\nlisten\n", msg);
    free(msg);
    free(path);
    expect_conf_error(dir, "heartbeat-timeout = 10s\n", "seconds");
    expect_conf_error(dir, "heartbeat-timeout = 99999999\n", "1..86400");
    expect_conf_error(dir, "log-level = loud\n", "error, warn, info");
    expect_conf_error(dir, "listen = localhost:9470\n", "numeric");
    expect_conf_error(dir, "listen = 127.0.0.1\n", "ADDRESS:PORT");
    expect_conf_error(dir, "listen = 127.0.0.1:70000\n", "0..65535");
    expect_conf_error(dir, "listen = [::1:9470\n", "IPV6");
    expect_conf_error(dir, "db =\n", "empty value");
    /* Several controllers on one store: who they are, and the lease of
     * their leader, shorter than the HA lease. */
    expect_conf_error(dir, "advertise = 10.0.0.1:9470\n",
                      "advertise \"10.0.0.1:9470\": expected a URL that "
                      "starts with http://");
    expect_conf_error(dir, "advertise = http://a:1,http://b:1\n",
                      "expected a port number of digits");
    expect_conf_error(dir, "leader-lease = 299\n",
                      "leader-lease \"299\": expected a number of "
                      "milliseconds, 300..60000");
    expect_conf_error(dir, "leader-lease = 3s\n", "300..60000");
    msg = read_conf(dir,
                    "advertise = https://ctl1.example.net:9470/\n"
                    "leader-lease = 1500\n",
                    &cfg);
    assert_null(msg);
    assert_string_equal(cfg.advertise, "https://ctl1.example.net:9470/");
    assert_int_equal(cfg.leader_lease_ms, 1500);
    assert_null(config_set(&cfg, "ha-lease", "1500"));
    msg = config_check(&cfg);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "leader-lease (1500 ms) must be shorter "
                                "than ha-lease (1500 ms)"));
    free(msg);
    config_destroy(&cfg);
    msg = read_conf(dir, "", &cfg);
    assert_null(msg);
    assert_null(cfg.advertise);
    assert_int_equal(cfg.leader_lease_ms, 3000);
    assert_int_equal(config_leader_lease_ms(&cfg), 3000);
    assert_null(config_check(&cfg));
    /* A short ha-lease, valid alone, shortens the default leader lease
     * rather than failing for want of a leader-lease. */
    assert_null(config_set(&cfg, "ha-lease", "2000"));
    assert_null(config_check(&cfg));
    assert_int_equal(config_leader_lease_ms(&cfg), 1000);
    assert_null(config_set(&cfg, "ha-lease", "500"));
    assert_null(config_check(&cfg));
    assert_int_equal(config_leader_lease_ms(&cfg), 300);
    config_destroy(&cfg);

    /* A missing file is ENOENT, for the caller to judge. */
    config_init(&cfg);
    path = xasprintf("%s/none.conf", dir);
    assert_int_equal(config_read_file(&cfg, path, &msg), ENOENT);
    assert_null(msg);
    free(path);
    assert_null(config_set(&cfg, "tls-cert", "/c.pem"));
    msg = config_check(&cfg);
    assert_non_null(strstr(msg, "tls-cert and tls-key go together"));
    free(msg);
    config_destroy(&cfg);
    fixture_dir_remove(dir);
    (void) state;
}

static void
test_tokens(void **state)
{
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    char hash[65];

    assert_int_equal(auth_token_generate(a), 0);
    assert_int_equal(auth_token_generate(b), 0);
    assert_int_equal(strlen(a), AUTH_TOKEN_LEN);
    assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrst"
                               "uvwxyz0123456789-_"),
                     AUTH_TOKEN_LEN);
    assert_string_not_equal(a, b);
    /* SHA-256 of "abc", from FIPS 180-2. */
    auth_token_hash("abc", hash);
    assert_string_equal(
        hash,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    (void) state;
}

/* Stores everything the store holds, as text, into a string. */
static int
dump_cb(const struct store_obj *obj, void *text_)
{
    char **text = text_;
    char *body = json_dumps(obj->body, JSON_COMPACT);
    char *more = xasprintf("%s%s=%s\n", *text, obj->name, body);

    free(body);
    free(*text);
    *text = more;
    return 0;
}

static void
test_bootstrap(void **state)
{
    char *dir = fixture_dir_create();
    char *db = xasprintf("%s/c.db", dir);
    char *file = xasprintf("%s/admin.token", dir);
    char *token, *again, *dump = xstrdup("");
    struct auth_identity id;
    struct api_error err = {0};
    struct store_txn *txn;
    struct store *store;
    struct stat st;
    struct api api;
    size_t len;

    assert_int_equal(store_open(db, &store), 0);
    assert_int_equal(auth_bootstrap(store, file), 0);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(read_file(file, &token, &len), 0);
    assert_int_equal(len, AUTH_TOKEN_LEN + 1);
    token[AUTH_TOKEN_LEN] = '\0';

    /* Only once: a second start leaves the file and the tokens alone. */
    assert_int_equal(auth_bootstrap(store, file), 0);
    assert_int_equal(read_file(file, &again, NULL), 0);
    assert_memory_equal(again, token, AUTH_TOKEN_LEN);
    free(again);

    /* The secret is nowhere in the store; its hash is. */
    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_list(txn, "token", NULL, 0, dump_cb, &dump), 0);
    assert_int_equal(store_list(txn, "token-hash", NULL, 0, dump_cb, &dump),
                     0);
    store_abort(txn);
    assert_null(strstr(dump, token));
    {
        char hash[65];

        auth_token_hash(token, hash);
        assert_non_null(strstr(dump, hash));
    }
    free(dump);

    api_init(&api, store, 30);
    {
        char *header = xasprintf("Bearer %s", token);

        assert_int_equal(auth_authenticate(&api, header, &id, &err), 0);
        assert_string_equal(id.name, "admin");
        assert_int_equal(id.role, AUTH_ADMIN);
        auth_identity_clear(&id);
        header[10] ^= 1;
        assert_int_equal(auth_authenticate(&api, header, &id, &err), 401);
        free(header);
    }
    assert_int_equal(auth_authenticate(&api, NULL, &id, &err), 401);
    assert_int_equal(auth_authenticate(&api, "Bearer ", &id, &err), 401);
    api_error_clear(&err);
    api_destroy(&api);

    /* Nothing is stored if the file cannot be written. */
    store_close(store);
    free(db);
    db = xasprintf("%s/c2.db", dir);
    assert_int_equal(store_open(db, &store), 0);
    assert_int_equal(auth_bootstrap(store, "/nonexistent/dir/admin.token"),
                     ENOENT);
    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_count(txn, "token", &len), 0);
    assert_int_equal(len, 0);
    store_abort(txn);
    store_close(store);

    free(token);
    free(file);
    free(db);
    fixture_dir_remove(dir);
    (void) state;
}

/* Whether file 'path' holds the bytes of 's'. */
static bool
file_holds(const char *path, const char *s)
{
    char *data = NULL;
    size_t len = 0;
    bool found;

    assert_int_equal(read_file(path, &data, &len), 0);
    found = memmem(data, len, s, strlen(s)) != NULL;
    free(data);
    return found;
}

/* An agent's trace token is a secret the controller must show again, so
 * it cannot be hashed: it is sealed under a key outside the store, and a
 * store an older release wrote in plain text is sealed on start. */
static void
test_sealed_agent_tokens(void **state)
{
    static const char token[] =
        "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2";
    char *dir = fixture_dir_create();
    char *db = xasprintf("%s/c.db", dir);
    char *key_file = xasprintf("%s/c.db.key", dir);
    char *file = xasprintf("%s/admin.token", dir);
    struct server_config sc = {
        .listen = "127.0.0.1:0",
        .db = db,
        .bootstrap_token_file = file,
        .heartbeat_timeout = 30,
    };
    struct secrets *secrets;
    struct store_txn *txn;
    struct server *server;
    struct store_obj obj;
    struct store *store;
    const char *sealed;
    struct stat st;
    char *opened;
    json_t *body;

    /* An older release stored the token as it came. */
    assert_int_equal(store_open(db, &store), 0);
    assert_int_equal(store_begin(store, true, &txn), 0);
    body =
        json_pack("{ssssssss}", "vtep", "192.0.2.1", "underlay", "eth0",
                  "agent_url", "http://192.0.2.1:9471", "agent_token", token);
    assert_int_equal(store_put(txn, "host", "h1", body, STORE_CREATE, NULL),
                     0);
    json_decref(body);
    assert_int_equal(store_commit(txn, NULL), 0);
    store_close(store);
    assert_true(file_holds(db, token));

    assert_int_equal(server_start(&sc, &server), 0);
    server_stop(server);

    assert_int_equal(stat(key_file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(store_open(db, &store), 0);
    assert_int_equal(store_begin(store, false, &txn), 0);
    assert_int_equal(store_get(txn, "host", "h1", &obj), 0);
    store_abort(txn);
    store_close(store);
    assert_null(json_object_get(obj.body, "agent_token"));
    sealed =
        json_string_value(json_object_get(obj.body, "agent_token_sealed"));
    assert_non_null(sealed);
    assert_null(strstr(sealed, token));
    /* Not even in the database file's free pages. */
    assert_false(file_holds(db, token));

    /* It opens with the key, for its own host only, and not altered. */
    assert_int_equal(secrets_open(key_file, &secrets), 0);
    opened = secrets_unseal(secrets, "host/h1", sealed);
    assert_string_equal(opened, token);
    free(opened);
    assert_null(secrets_unseal(secrets, "host/h2", sealed));
    {
        char *altered = xstrdup(sealed);

        altered[strlen(altered) - 1] ^= 1;
        assert_null(secrets_unseal(secrets, "host/h1", altered));
        assert_null(secrets_unseal(secrets, "host/h1", token));
        free(altered);
    }
    secrets_close(secrets);

    /* A key file that is not one stops the start, rather than losing the
     * tokens sealed under the real key. */
    assert_int_equal(write_file_atomic(key_file, "nonsense\n", 9), 0);
    assert_int_equal(server_start(&sc, &server), EINVAL);

    store_obj_clear(&obj);
    free(key_file);
    free(file);
    free(db);
    fixture_dir_remove(dir);
    (void) state;
}

static void
test_audit_trail(void **state)
{
    char *dir = fixture_dir_create();
    char *db = xasprintf("%s/c.db", dir);
    struct api_error err = {0};
    struct store *store;
    struct audit *audit;
    json_t *query, *out;

    log_set_level(LOG_LEVEL_WARN);
    assert_int_equal(store_open(db, &store), 0);
    audit = audit_create(store, 5, 0);
    for (int i = 1; i <= 12; i++) {
        struct audit_entry e = {
            .who = "admin",
            .role = "admin",
            .method = "POST",
            .path = "/v1/networks",
            .status = 200 + i,
            .message = "m",
        };

        audit_record(audit, &e);
    }
    query = json_object();
    assert_int_equal(audit_list(audit, query, &out, &err), 200);
    /* The last five, newest first. */
    assert_int_equal(json_array_size(json_object_get(out, "items")), 5);
    for (int i = 0; i < 5; i++) {
        json_t *entry = json_array_get(json_object_get(out, "items"), i);

        assert_int_equal(json_integer_value(json_object_get(entry, "status")),
                         212 - i);
    }
    json_decref(out);
    audit_destroy(audit);

    /* A restart continues the trail after its newest entry. */
    audit = audit_create(store, 5, 0);
    {
        struct audit_entry e = {
            .method = "DELETE", .path = "/x", .status = 401};

        audit_record(audit, &e);
    }
    json_object_set_new(query, "limit", json_string("2"));
    assert_int_equal(audit_list(audit, query, &out, &err), 200);
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(out, "items"), 0), "status")),
        401);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(out, "items"), 0), "who")),
        "-");
    assert_int_equal(
        json_integer_value(json_object_get(
            json_array_get(json_object_get(out, "items"), 1), "status")),
        212);
    assert_non_null(json_object_get(out, "next_page_token"));
    json_decref(out);
    json_decref(query);
    audit_destroy(audit);
    store_close(store);
    free(db);
    fixture_dir_remove(dir);
    (void) state;
}

/* Refused requests: one aggregate per client address, status and token,
 * counted on across a restart, and a full quota drops the aggregate seen
 * least recently, never a change. */
static void
test_audit_refused(void **state)
{
    char *dir = fixture_dir_create();
    char *db = xasprintf("%s/c.db", dir);
    struct api_error err = {0};
    struct store *store;
    struct audit *audit;
    json_t *query = json_object(), *out, *items;
    struct audit_entry change = {
        .client = "192.0.2.1",
        .who = "admin",
        .role = "admin",
        .method = "POST",
        .path = "/v1/networks",
        .status = 201,
        .message = "created network \"blue\"",
    };

    assert_int_equal(store_open(db, &store), 0);
    audit = audit_create(store, 3, 2);
    audit_record(audit, &change);
    for (int i = 0; i < 1000; i++) {
        struct audit_entry e = {
            .client = i % 2 ? "192.0.2.7" : "2001:db8::7",
            .method = "GET",
            .path = "/v1/networks",
            .status = 401,
            .message = "unknown token",
        };

        audit_refuse(audit, &e);
    }
    audit_destroy(audit);

    audit = audit_create(store, 3, 2);
    {
        struct audit_entry e = {.client = "192.0.2.7",
                                .method = "DELETE",
                                .path = "/v1/ports/p",
                                .status = 401,
                                .message = "unknown token"};

        audit_refuse(audit, &e);
    }
    assert_int_equal(audit_list_refused(audit, query, &out, &err), 200);
    items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "client")),
        "192.0.2.7");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(items, 0), "count")),
        501);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "method")),
        "DELETE");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(items, 1), "count")),
        500);
    json_decref(out);

    /* A third address takes the place of the one seen least recently. */
    {
        struct audit_entry e = {.client = "198.51.100.9",
                                .who = "ops",
                                .method = "POST",
                                .path = "/v1/networks",
                                .status = 403,
                                .message = "may not"};

        audit_refuse(audit, &e);
    }
    assert_int_equal(audit_list_refused(audit, query, &out, &err), 200);
    items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "client")),
        "198.51.100.9");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 1), "client")),
        "192.0.2.7");
    json_decref(out);

    /* The change is still there. */
    assert_int_equal(audit_list(audit, query, &out, &err), 200);
    items = json_object_get(out, "items");
    assert_int_equal(json_array_size(items), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "client")),
        "192.0.2.1");
    json_decref(out);

    audit_destroy(audit);
    json_decref(query);
    store_close(store);
    free(db);
    fixture_dir_remove(dir);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_bootstrap),
        cmocka_unit_test(test_sealed_agent_tokens),
        cmocka_unit_test(test_audit_trail),
        cmocka_unit_test(test_audit_refused),
    };

    log_set_level(LOG_LEVEL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
