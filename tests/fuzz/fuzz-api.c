/* Fuzz target for the controller's request bodies: the operations of
 * controller/api.h that take JSON in, driven in-process on a real SQLite
 * store, without HTTP.
 *
 * The input is a script of requests, each a line "@OPERATION [NAME]"
 * followed by the request's body, up to the next line that starts with '@':
 *
 *   @network.create
 *   {"name": "green", "cidr": "10.1.0.0/24"}
 *   @port.patch p1
 *   {"labels": {"tier": "db"}}
 *
 * OPERATION is one of the names in 'ops' below.  As the HTTP layer does, an
 * empty body is no body, a body that is not JSON never reaches the handler,
 * and NAME is a non-empty path segment (no '/').  Every input starts from
 * the same store: a QoS policy "gold", a network "blue" (10.0.0.0/24), hosts
 * "h1" and "h2" (4 vCPUs, 2 GiB, 20 GiB of disk each, the qemu driver,
 * so that VMs migrate between them), ports "p1" (on h1)
 * and "p2" (on h2), a security group "web" with a rule, images "tiny"
 * (active) and "half" (queued), a strict anti-affinity VM group "db" and
 * a VM "vm1" in it with a NIC in "blue", made once through the same API
 * (the images written as the images API leaves them) and copied for each
 * input.
 *
 * Beyond memory errors and leaks, which the sanitizers catch, the target
 * checks, after each request, that:
 *
 *   - an error is a 400, 403, 404 or 409, never a 500 (which says that
 *     the store holds something the controller cannot read back) or a
 *     503;
 *   - an error names itself in one line and changes nothing: the store's
 *     revision stays where it was;
 *   - a success that answers an object answers a named one, the same as
 *     a GET of it right after;
 *
 * and at the end that every host's desired-state document is one that
 * fabric-agent accepts (agent/state.c): whatever the API accepts, agents
 * must not refuse.  Any broken promise aborts. */

#include "tests/fuzz/fuzz.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/state.h"
#include "controller/api.h"
#include "controller/auth.h"
#include "controller/flowlogs.h"
#include "controller/migrations.h"
#include "controller/secrets.h"
#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

/* Requests run per input at most, so that one input stays fast. */
#define FUZZ_MAX_REQUESTS 16

/* The shapes of the operations of controller/api.h that take a body. */
typedef int create_func(struct api *, const json_t *in, json_t **out,
                        struct api_error *);
typedef int create_in_func(struct api *, const char *name, const json_t *in,
                           json_t **out, struct api_error *);
typedef int patch_func(struct api *, const char *name, const json_t *in,
                       int64_t if_match, json_t **out, struct api_error *);
typedef int delete_func(struct api *, const char *name, const json_t *in,
                        int64_t if_match, struct api_error *);
typedef int report_func(struct api *, const char *name, const json_t *in,
                        struct api_error *);
typedef int get_func(struct api *, const char *name, json_t **out,
                     struct api_error *);
typedef int post_func(struct api *, const json_t *in, struct api_error *);

/* One operation a script may name. */
struct op {
    const char *name;          /* "@" line's operation. */
    create_func *create;       /* POST to a collection, or NULL. */
    create_in_func *create_in; /* POST to a collection under NAME, or
                                * NULL. */
    patch_func *patch;         /* PATCH of NAME, or NULL. */
    delete_func *delete;       /* DELETE of NAME, or NULL. */
    report_func *report;       /* PUT or POST of a report on NAME, or NULL. */
    post_func *post;           /* POST without an answer, or NULL. */
    get_func *get;             /* GET of what 'create' or 'patch' made. */
};

/* The power actions of a VM, as patches of it. */
static int
vm_start(struct api *api, const char *name, const json_t *in, int64_t if_match,
         json_t **out, struct api_error *err)
{
    return api_vm_action(api, name, "start", in, out, err);
}

static int
vm_stop(struct api *api, const char *name, const json_t *in, int64_t if_match,
        json_t **out, struct api_error *err)
{
    return api_vm_action(api, name, "stop", in, out, err);
}

static int
vm_reboot(struct api *api, const char *name, const json_t *in,
          int64_t if_match, json_t **out, struct api_error *err)
{
    return api_vm_action(api, name, "reboot", in, out, err);
}

/* A heartbeat, whose lease answer is not an object to read back. */
static int
host_heartbeat(struct api *api, const char *name, const json_t *in,
               struct api_error *err)
{
    json_t *out = NULL;
    int status = api_host_heartbeat(api, name, in, &out, err);

    json_decref(out);
    return status;
}

static const struct op ops[] = {
    {"network.create", .create = api_network_create, .get = api_network_get},
    {"network.patch", .patch = api_network_patch, .get = api_network_get},
    {"network.delete", .delete = api_network_delete},
    {"port.create", .create = api_port_create, .get = api_port_get},
    {"port.patch", .patch = api_port_patch, .get = api_port_get},
    {"port.delete", .delete = api_port_delete},
    {"qos.create", .create = api_qos_create, .get = api_qos_get},
    {"qos.patch", .patch = api_qos_patch, .get = api_qos_get},
    {"qos.delete", .delete = api_qos_delete},
    {"evtep.create", .create = api_external_vtep_create,
     .get = api_external_vtep_get},
    {"evtep.patch", .patch = api_external_vtep_patch,
     .get = api_external_vtep_get},
    {"evtep.delete", .delete = api_external_vtep_delete},
    {"sg.create", .create = api_sg_create, .get = api_sg_get},
    {"sg.patch", .patch = api_sg_patch, .get = api_sg_get},
    {"sg.delete", .delete = api_sg_delete},
    {"sg-rule.create", .create_in = api_sg_rule_create},
    {"host.register", .create = api_host_register, .get = api_host_get},
    {"host.patch", .patch = api_host_patch, .get = api_host_get},
    {"host.delete", .delete = api_host_delete},
    {"host.heartbeat", .report = host_heartbeat},
    {"host.port-status", .report = api_host_port_status},
    {"host.rule-hits", .report = api_host_rule_hits},
    {"flowlogs.post", .post = api_flowlogs_post},
    {"vm.create", .create = api_vm_create, .get = api_vm_get},
    {"vm.patch", .patch = api_vm_patch, .get = api_vm_get},
    {"vm.delete", .delete = api_vm_delete},
    {"vm.start", .patch = vm_start, .get = api_vm_get},
    {"vm.stop", .patch = vm_stop, .get = api_vm_get},
    {"vm.reboot", .patch = vm_reboot, .get = api_vm_get},
    {"vm.migrate", .create_in = api_vm_migrate, .get = api_vm_get},
    {"vm.migrate-cancel", .create_in = api_vm_migrate_cancel,
     .get = api_vm_get},
    {"vm-group.create", .create = api_vm_group_create,
     .get = api_vm_group_get},
    {"vm-group.patch", .patch = api_vm_group_patch, .get = api_vm_group_get},
    {"vm-group.delete", .delete = api_vm_group_delete},
    {"token.create", .create = auth_token_create},
};

/* The store every input starts from, and the one it works on. */
static char *dir;               /* Temporary directory. */
static char *template;          /* The base store, made once. */
static char *work;              /* The store of the current input. */
static char *key;               /* The key that seals agents' tokens. */
static struct secrets *secrets; /* Opened from 'key', as the server does. */

/* Removes what the target left in its temporary directory. */
static void
remove_files(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};

    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        char *a = xasprintf("%s%s", template, suffixes[i]);
        char *b = xasprintf("%s%s", work, suffixes[i]);

        unlink(a);
        unlink(b);
        free(a);
        free(b);
    }
    secrets_close(secrets);
    unlink(key);
    rmdir(dir);
}

/* Runs creation 'fn' on 'text', which must succeed: the base objects. */
static void
make(struct api *api, create_func *fn, const char *text)
{
    struct api_error err = {0};
    json_t *in = json_loads(text, 0, NULL);
    json_t *out = NULL;
    int status;

    CHECK(in);
    status = fn(api, in, &out, &err);
    if (status >= 300) {
        fprintf(stderr, "fuzz-api: making the base store: %s: %d %s\n", text,
                status, err.message);
        abort();
    }
    json_decref(in);
    json_decref(out);
    api_error_clear(&err);
}

static int
make_rule(struct api *api, const json_t *in, json_t **out,
          struct api_error *err)
{
    return api_sg_rule_create(api, "web", in, out, err);
}

/* Writes image 'name' of 'status' into 'store', as the images API leaves
 * one (its file is the images API's business, not this target's). */
static void
put_image(struct store *store, const char *name, const char *status)
{
    json_t *body = json_pack("{sssssIss}", "status", status, "format", "qcow2",
                             "virtual_size_bytes", (json_int_t) 1 << 30,
                             "file", "images/x.qcow2");
    struct store_txn *txn;

    CHECK(!store_begin(store, true, &txn));
    CHECK(!store_put(txn, "image", name, body, STORE_ANY, NULL));
    CHECK(!store_commit(txn, NULL));
    json_decref(body);
}

/* Makes the base store at 'template'. */
static void
make_template(void)
{
    struct api api = {0};
    struct store *store;

    CHECK(!store_open(template, &store));
    api_init(&api, store, 30);
    api.secrets = secrets;
    make(&api, api_qos_create,
         "{\"name\": \"gold\", \"egress\": {\"rate\": 100000000}, "
         "\"dscp\": 46}");
    make(&api, api_network_create,
         "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\", \"vni\": 100, "
         "\"default_qos\": \"gold\"}");
    make(&api, api_host_register,
         "{\"name\": \"h1\", \"vtep\": \"192.0.2.1\", \"underlay\": "
         "\"eth0\", \"capacity\": {\"vcpus\": 4, \"memory_mb\": 2048, "
         "\"disk_gb\": 20}, \"hypervisor\": {\"driver\": \"qemu\", "
         "\"accel\": \"tcg\"}}");
    make(&api, api_host_register,
         "{\"name\": \"h2\", \"vtep\": \"192.0.2.2\", \"underlay\": "
         "\"eth0\", \"capacity\": {\"vcpus\": 4, \"memory_mb\": 2048, "
         "\"disk_gb\": 20}, \"hypervisor\": {\"driver\": \"qemu\", "
         "\"accel\": \"tcg\"}}");
    make(&api, api_sg_create,
         "{\"name\": \"web\", \"selector\": {\"tier\": \"web\"}}");
    make(&api, make_rule,
         "{\"direction\": \"ingress\", \"protocol\": \"tcp\", \"ports\": "
         "\"80\", \"action\": \"allow\"}");
    make(&api, api_port_create,
         "{\"name\": \"p1\", \"network\": \"blue\", \"host\": \"h1\", "
         "\"labels\": {\"tier\": \"web\"}}");
    make(&api, api_port_create,
         "{\"name\": \"p2\", \"network\": \"blue\", \"host\": \"h2\", "
         "\"qos\": \"gold\"}");
    put_image(store, "tiny", "active");
    put_image(store, "half", "queued");
    make(&api, api_vm_group_create,
         "{\"name\": \"db\", \"policy\": \"anti-affinity\"}");
    make(&api, api_vm_create,
         "{\"name\": \"vm1\", \"vcpus\": 1, \"memory_mb\": 256, "
         "\"image\": \"tiny\", \"groups\": [\"db\"], \"nics\": "
         "[{\"network\": \"blue\", \"labels\": {\"tier\": \"web\"}}]}");
    api_destroy(&api);
    store_close(store);
}

/* Copies the file 'from' to 'to'. */
static void
copy_file(const char *from, const char *to)
{
    char *data;
    size_t len;
    FILE *f;

    CHECK(!read_file(from, &data, &len));
    f = fopen(to, "wb");
    CHECK(f && fwrite(data, 1, len, f) == len && !fclose(f));
    free(data);
}

/* Makes the base store the first time, and a fresh copy of it for each
 * input. */
static void
fresh_store(void)
{
    if (!dir) {
        const char *tmp = getenv("TMPDIR");
        struct stat st;

        /* Each input closes a store, which syncs it to disk: memory is
         * many times faster, so take it unless told otherwise. */
        if (!tmp || !*tmp) {
            tmp = !stat("/dev/shm", &st) && S_ISDIR(st.st_mode) ? "/dev/shm"
                                                                : "/tmp";
        }
        log_set_level(LOG_LEVEL_ERR);
        dir = xasprintf("%s/fuzz-api-XXXXXX", tmp);
        CHECK(mkdtemp(dir));
        template = xasprintf("%s/template.db", dir);
        work = xasprintf("%s/work.db", dir);
        key = xasprintf("%s/work.db.key", dir);
        CHECK(!secrets_open(key, &secrets));
        atexit(remove_files);
        make_template();
    }
    copy_file(template, work);
}

/* Checks the error 'err' that answered 'status' to 'op' on 'arg'. */
static void
check_error(const struct op *op, const char *arg, int status,
            const struct api_error *err)
{
    if (status != 400 && status != 403 && status != 404 && status != 409) {
        fprintf(stderr, "@%s %s answered %d: %s\n", op->name, arg, status,
                err->message);
        abort();
    }
    CHECK(err->status == status);
    CHECK(err->message && *err->message);
    if (strpbrk(err->message, "\n\r")) {
        fprintf(stderr, "error message is not one line: %s\n", err->message);
        abort();
    }
}

/* Checks the object 'out' that answered a write of 'op', against a GET of
 * it. */
static void
check_answer(struct api *api, const struct op *op, const json_t *out)
{
    const char *name = json_string_value(json_object_get(out, "name"));
    struct api_error err = {0};
    json_t *got = NULL;

    CHECK(json_is_object(out));
    CHECK(name && api_name_is_valid(name));
    if (op->get) {
        CHECK(op->get(api, name, &got, &err) == 200);
        if (!json_equal(got, out)) {
            char *a = json_dumps(out, JSON_SORT_KEYS);
            char *b = json_dumps(got, JSON_SORT_KEYS);

            fprintf(stderr, "%s answered %s\nbut GET answers %s\n", op->name,
                    a, b);
            abort();
        }
        json_decref(got);
    }
}

/* Runs request 'op' on 'arg' (a name, or "") with body 'in' (NULL for
 * none), and checks the answer. */
static void
run_request(struct api *api, const struct op *op, const char *arg,
            const json_t *in)
{
    int64_t revision = store_revision(api->store);
    struct api_error err = {0};
    json_t *out = NULL;
    int status;

    if (op->create) {
        status = op->create(api, in, &out, &err);
    } else if (op->patch) {
        status = op->patch(api, arg, in, STORE_ANY, &out, &err);
    } else if (op->delete) {
        status = op->delete (api, arg, in, STORE_ANY, &err);
    } else if (op->report) {
        status = op->report(api, arg, in, &err);
    } else if (op->post) {
        status = op->post(api, in, &err);
    } else {
        status = op->create_in(api, arg, in, &out, &err);
    }

    if (status >= 400) {
        check_error(op, arg, status, &err);
        CHECK(!out);
        CHECK(store_revision(api->store) == revision);
    } else {
        CHECK(status == 200 || status == 201 || status == 202
              || status == 204);
        CHECK(!err.message);
        if (out && op->get) {
            check_answer(api, op, out);
        }
    }
    json_decref(out);
    api_error_clear(&err);
}

/* Checks that fabric-agent accepts the desired state of every host. */
static void
check_documents(struct api *api)
{
    json_t *list = NULL, *item;
    struct api_error err = {0};
    size_t i;

    CHECK(api_host_list(api, NULL, &list, &err) == 200);
    json_array_foreach(json_object_get(list, "items"), i, item)
    {
        const char *host = json_string_value(json_object_get(item, "name"));
        struct state_errors errors;
        struct state *s;
        json_t *out = NULL;

        CHECK(api_host_desired_state(api, host, NULL, &out, &err) == 200);
        state_errors_init(&errors);
        if (state_from_json(json_object_get(out, "document"), &s, &errors)) {
            char *text = json_dumps(out, JSON_SORT_KEYS);

            fprintf(stderr, "host %s's document: %s\n", host, text);
            for (size_t j = 0; j < errors.n; j++) {
                fprintf(stderr, "fabric-agent refuses it: %s\n",
                        errors.msgs[j]);
            }
            abort();
        }
        state_destroy(s);
        state_errors_destroy(&errors);
        json_decref(out);
    }
    json_decref(list);
}

/* Returns the operation named by the 'len' bytes at 'name', or NULL. */
static const struct op *
find_op(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        if (strlen(ops[i].name) == len && !memcmp(ops[i].name, name, len)) {
            return &ops[i];
        }
    }
    return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *) data, *end = p + size;
    struct api api = {0};
    struct store *store;
    int n_requests = 0;

    if (!memchr(data, '@', size)) {
        return 0;
    }
    fresh_store();
    CHECK(!store_open(work, &store));
    api_init(&api, store, 30);
    api.secrets = secrets;
    CHECK(!flowlogs_open(work, 0, 0, &api.flowlogs));

    while (p < end && n_requests < FUZZ_MAX_REQUESTS) {
        const char *line_end, *body, *body_end, *space;
        const struct op *op;
        char *arg;

        /* Find the next "@" line. */
        if (*p != '@') {
            const char *next = memchr(p, '\n', end - p);

            p = next ? next + 1 : end;
            continue;
        }
        line_end = memchr(p, '\n', end - p);
        if (!line_end) {
            line_end = end;
        }
        body = line_end < end ? line_end + 1 : end;
        /* The body: the lines up to one that starts with '@'. */
        for (body_end = body; body_end < end && *body_end != '@';) {
            const char *nl = memchr(body_end, '\n', end - body_end);

            body_end = nl ? nl + 1 : end;
        }
        space = memchr(p, ' ', line_end - p);
        op = find_op(p + 1, (space ? space : line_end) - (p + 1));
        arg = space
                  ? xasprintf("%.*s", (int) (line_end - space - 1), space + 1)
                  : xstrdup("");
        /* The router gives a handler only a non-empty path segment. */
        if (op && !memchr(p, '\0', line_end - p) && !strchr(arg, '/')
            && (*arg || op->create || op->post)) {
            json_t *in = NULL;
            bool ok = true;

            if (body_end > body) {
                in = json_loadb(body, body_end - body, JSON_REJECT_DUPLICATES,
                                NULL);
                ok = in != NULL;
            }
            if (ok) {
                run_request(&api, op, arg, in);
                n_requests++;
            }
            json_decref(in);
        }
        free(arg);
        p = body_end;
    }

    check_documents(&api);
    flowlogs_close(api.flowlogs);
    api_destroy(&api);
    store_close(store);
    return 0;
}
