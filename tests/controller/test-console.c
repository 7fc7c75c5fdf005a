/* GET /v1/vms/NAME/console over real HTTP: the controller fetches the
 * tail of a VM's console from the agent of its host, and says clearly why
 * when it cannot: no such VM (404), a VM on no host yet (409), a host that
 * is not registered or whose agent gave no address (503), an agent that
 * cannot be reached or refuses the call (502), a bad "bytes" (400).  The
 * VMs are written into the store as the VM resource writes them, through
 * a connection of their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "controller/store.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

/* Writes VM 'name' with stored body 'text' (read by fixture_json()). */
static void
put_vm(struct fixture *f, const char *name, const char *text)
{
    json_t *body = fixture_json(text);
    struct store *store;
    struct store_txn *txn;

    assert_int_equal(store_open(f->db, &store), 0);
    assert_int_equal(store_begin(store, true, &txn), 0);
    assert_int_equal(store_put(txn, "vm", name, body, STORE_ANY, NULL), 0);
    assert_int_equal(store_commit(txn, NULL), 0);
    json_decref(body);
    store_close(store);
}

/* Registers host 'name', with agent URL 'url' (NULL: none). */
static void
register_host(struct fixture *f, const char *name, const char *vtep,
              const char *url)
{
    char *body = xasprintf(
        "{\"name\": \"%s\", \"vtep\": \"%s\", \"underlay\": \"eth0\"%s%s%s}",
        name, vtep, url ? ", \"agent_url\": \"" : "", url ? url : "",
        url ? "\", \"agent_token\": \"0123456789abcdef0123456789abcdef"
              "0123456789abcdef0123456789abcdef\""
            : "");

    assert_int_equal(fixture_admin(f, "POST", "/v1/hosts", body), 201);
    free(body);
}

/* GETs 'path' as admin, expects 'status' and a message containing
 * 'text'. */
static void
expect(struct fixture *f, const char *path, long status, const char *text)
{
    struct reply r;

    fixture_call(f, "GET", path, f->admin, NULL, NULL, &r);
    if (r.status != status || !strstr(reply_message(&r), text)) {
        fail_msg("GET %s: expected %ld with \"%s\", got %ld: %s", path, status,
                 text, r.status, r.body);
    }
    reply_clear(&r);
}

static void
test_console_errors(void **state)
{
    struct fixture *f = *state;
    char *url, *msg;

    expect(f, "/v1/vms/web1/console", 404, "vm \"web1\": not found");

    /* Not placed yet. */
    put_vm(f, "web1", "{'status': 'pending', 'vcpus': 1}");
    expect(f, "/v1/vms/web1/console", 409, "on no host yet (status pending)");

    /* Placed on a host that never registered. */
    put_vm(f, "web1", "{'status': 'scheduled', 'host': 'hv9'}");
    expect(f, "/v1/vms/web1/console", 503, "host \"hv9\" is not registered");

    /* On a host whose agent gave no address. */
    register_host(f, "hv1", "192.0.2.1", NULL);
    put_vm(f, "web1", "{'status': 'scheduled', 'host': 'hv1'}");
    expect(f, "/v1/vms/web1/console", 503,
           "the agent of host \"hv1\" has not registered an address");

    /* On a host whose agent is down. */
    /* Nothing listens on port 1 (tcpmux) here. */
    url = xstrdup("http://127.0.0.1:1");
    register_host(f, "hv2", "192.0.2.2", url);
    put_vm(f, "web2", "{'status': 'running', 'host': 'hv2'}");
    msg = xasprintf("the agent of host \"hv2\": %s/v1/vms/web2/console"
                    "?bytes=65536: Couldn't connect",
                    url);
    expect(f, "/v1/vms/web2/console", 502, msg);
    free(msg);
    free(url);

    /* On a host whose "agent" is a server that refuses the agent token:
     * the controller itself. */
    register_host(f, "hv3", "192.0.2.3", f->base);
    put_vm(f, "web3", "{'status': 'running', 'host': 'hv3'}");
    expect(f, "/v1/vms/web3/console?bytes=100", 502,
           "the agent of host \"hv3\" answered 401");

    /* Bad tails. */
    expect(f, "/v1/vms/web3/console?bytes=0", 400, "1..1048576");
    expect(f, "/v1/vms/web3/console?bytes=1048577", 400, "1..1048576");
    expect(f, "/v1/vms/web3/console?bytes=12kb", 400, "1..1048576");
    expect(f, "/v1/vms/web3/console?bytes=-5", 400, "1..1048576");
    expect(f, "/v1/vms/web3/console?bytes", 400, "1..1048576");
    expect(f, "/v1/vms/web3/console?lines=5", 400, "unknown query");

    /* Viewers may read it; no token may not. */
    {
        char *viewer = fixture_token(f, "monitor", "viewer", NULL);
        struct reply r;

        fixture_call(f, "GET", "/v1/vms/web1/console", viewer, NULL, NULL, &r);
        assert_int_equal(r.status, 503);
        reply_clear(&r);
        fixture_call(f, "GET", "/v1/vms/web1/console", NULL, NULL, NULL, &r);
        assert_int_equal(r.status, 401);
        reply_clear(&r);
        free(viewer);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_console_errors, fixture_setup,
                                        fixture_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
