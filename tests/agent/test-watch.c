/* Controller mode, the parts that need no controller: how delta answers
 * change a desired-state document, how the configuration file is read,
 * how retries back off, and what the metrics endpoint prints.
 *
 * Documents are written with single quotes for readability; json() turns
 * them into JSON values. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent-config.h"
#include "agent/changes.h"
#include "agent/core.h"
#include "agent/flowlog.h"
#include "agent/metrics.h"
#include "agent/state.h"
#include "agent/trace.h"
#include "agent/watch.h"
#include "utils/util.h"

/* Returns the JSON value in 's', with single quotes for double quotes. */
static json_t *
json(const char *s)
{
    char *d = xstrdup(s);
    json_error_t error;
    json_t *value;

    for (char *p = d; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    value = json_loads(d, JSON_DECODE_ANY, &error);
    if (!value) {
        fail_msg("bad test JSON: %s: %s", error.text, d);
    }
    free(d);
    return value;
}

#define DOC                                                                   \
    "{'host': {'name': 'hv1', 'vtep': '192.168.100.1', 'underlay': 'eth0'},"  \
    " 'networks': [{'name': 'blue', 'vni': 1000, 'mtu': 1450}],"              \
    " 'ports': [{'name': 'vm1', 'network': 'blue', 'device': 'tap1',"         \
    "            'mac': '02:fa:00:00:00:01', 'ip': '10.0.0.1'}],"             \
    " 'remotes': [{'network': 'blue', 'mac': '02:FA:00:00:00:02',"            \
    "              'ip': '10.0.0.2', 'vtep': '192.168.100.2'}]}"

/* Applies the changes 'changes' to document 'text' and checks that the
 * result equals 'want' (all single-quoted). */
static void
assert_applies_to(const char *text, const char *changes, const char *want)
{
    json_t *doc = json(text), *c = json(changes), *w = json(want);
    char *msg = NULL;

    if (changes_apply(doc, c, &msg)) {
        fail_msg("changes refused: %s", msg);
    }
    if (!json_equal(doc, w)) {
        char *got = json_dumps(doc, JSON_COMPACT);

        fail_msg("got %s", got);
    }
    json_decref(doc);
    json_decref(c);
    json_decref(w);
}

/* Applies the changes 'changes' (single-quoted) to DOC and checks that the
 * result equals 'want' (single-quoted). */
static void
assert_applies(const char *changes, const char *want)
{
    assert_applies_to(DOC, changes, want);
}

/* Applies 'changes' to DOC, expecting EINVAL with a message that contains
 * 'want'. */
static void
assert_refused(const char *changes, const char *want)
{
    json_t *doc = json(DOC), *c = json(changes);
    char *msg = NULL;

    assert_int_equal(changes_apply(doc, c, &msg), EINVAL);
    assert_non_null(msg);
    if (!strstr(msg, want)) {
        fail_msg("message \"%s\" does not contain \"%s\"", msg, want);
    }
    free(msg);
    json_decref(doc);
    json_decref(c);
}

#define HOST                                                                  \
    "'host': {'name': 'hv1', 'vtep': '192.168.100.1', 'underlay': 'eth0'}"
#define BLUE "{'name': 'blue', 'vni': 1000, 'mtu': 1450}"
#define VM1                                                                   \
    "{'name': 'vm1', 'network': 'blue', 'device': 'tap1',"                    \
    " 'mac': '02:fa:00:00:00:01', 'ip': '10.0.0.1'}"
#define R2                                                                    \
    "{'network': 'blue', 'mac': '02:FA:00:00:00:02', 'ip': '10.0.0.2',"       \
    " 'vtep': '192.168.100.2'}"

static void
test_set_adds(void **state)
{
    assert_applies(
        "[{'op': 'set', 'kind': 'network',"
        "  'object': {'name': 'red', 'vni': 2000, 'mtu': 1400}},"
        " {'op': 'set', 'kind': 'port',"
        "  'object': {'name': 'vm2', 'network': 'red', 'device': 'tap2',"
        "             'mac': '02:fa:00:00:00:03', 'ip': '10.1.0.1'}},"
        " {'op': 'set', 'kind': 'remote',"
        "  'object': {'network': 'red', 'mac': '02:fa:00:00:00:04',"
        "             'ip': '10.1.0.2', 'vtep': '192.168.100.3'}}]",
        "{" HOST ", 'networks': [" BLUE
        ", {'name': 'red', 'vni': 2000, 'mtu': 1400}],"
        " 'ports': [" VM1 ", {'name': 'vm2', 'network': 'red',"
        " 'device': 'tap2', 'mac': '02:fa:00:00:00:03', 'ip': '10.1.0.1'}],"
        " 'remotes': [" R2 ", {'network': 'red', 'mac': '02:fa:00:00:00:04',"
        " 'ip': '10.1.0.2', 'vtep': '192.168.100.3'}]}");
}

static void
test_set_replaces(void **state)
{
    /* Same keys: replaced in place.  The remote's MAC is matched in any
     * case. */
    assert_applies(
        "[{'op': 'set', 'kind': 'network',"
        "  'object': {'name': 'blue', 'vni': 1000, 'mtu': 1400}},"
        " {'op': 'set', 'kind': 'port',"
        "  'object': {'name': 'vm1', 'network': 'blue', 'device': 'tap9',"
        "             'mac': '02:fa:00:00:00:01', 'ip': '10.0.0.9'}},"
        " {'op': 'set', 'kind': 'remote',"
        "  'object': {'network': 'blue', 'mac': '02:fa:00:00:00:02',"
        "             'ip': '10.0.0.2', 'vtep': '192.168.100.7'}}]",
        "{" HOST ", 'networks': [{'name': 'blue', 'vni': 1000, 'mtu': 1400}],"
        " 'ports': [{'name': 'vm1', 'network': 'blue', 'device': 'tap9',"
        "            'mac': '02:fa:00:00:00:01', 'ip': '10.0.0.9'}],"
        " 'remotes': [{'network': 'blue', 'mac': '02:fa:00:00:00:02',"
        "              'ip': '10.0.0.2', 'vtep': '192.168.100.7'}]}");
}

static void
test_delete_each_kind(void **state)
{
    assert_applies("[{'op': 'delete', 'kind': 'remote',"
                   "  'key': 'blue/02:fa:00:00:00:02'}]",
                   "{" HOST ", 'networks': [" BLUE "], 'ports': [" VM1
                   "], 'remotes': []}");
    assert_applies("[{'op': 'delete', 'kind': 'remote',"
                   "  'key': 'blue/02:fa:00:00:00:02'},"
                   " {'op': 'delete', 'kind': 'port', 'key': 'vm1'},"
                   " {'op': 'delete', 'kind': 'network', 'key': 'blue'}]",
                   "{" HOST ", 'networks': [], 'ports': [], 'remotes': []}");
}

static void
test_delete_absent_is_harmless(void **state)
{
    assert_applies("[{'op': 'delete', 'kind': 'port', 'key': 'vm7'},"
                   " {'op': 'delete', 'kind': 'network', 'key': 'red'},"
                   " {'op': 'delete', 'kind': 'remote',"
                   "  'key': 'red/02:fa:00:00:00:02'},"
                   " {'op': 'delete', 'kind': 'remote', 'key': 'no-slash'}]",
                   DOC);
    assert_applies("[]", DOC);
}

static void
test_missing_list_is_created(void **state)
{
    json_t *doc = json("{" HOST "}");
    json_t *c = json("[{'op': 'set', 'kind': 'network', 'object': " BLUE "}]");
    char *msg;

    assert_int_equal(changes_apply(doc, c, &msg), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "networks")), 1);
    json_decref(doc);
    json_decref(c);
}

/* Identities are keyed by their decimal id. */
static void
test_identity_changes(void **state)
{
    assert_applies_to("{" HOST ", 'identities': [{'id': 300, 'governs': []},"
                      " {'id': 301, 'governs': []}]}",
                      "[{'op': 'set', 'kind': 'identity',"
                      "  'object': {'id': 301, 'governs': ['ingress']}},"
                      " {'op': 'delete', 'kind': 'identity', 'key': '300'},"
                      " {'op': 'set', 'kind': 'identity',"
                      "  'object': {'id': 302, 'governs': []}},"
                      " {'op': 'delete', 'kind': 'identity', 'key': '999'}]",
                      "{" HOST ", 'identities': ["
                      " {'id': 301, 'governs': ['ingress']},"
                      " {'id': 302, 'governs': []}]}");
}

/* VMs are keyed by name, like ports: a VM's change and its NIC port's
 * come in one delta. */
static void
test_vm_changes(void **state)
{
    assert_applies_to("{" HOST ", 'vms': [{'name': 'web1', 'boot': 0},"
                      " {'name': 'web2', 'boot': 0}]}",
                      "[{'op': 'set', 'kind': 'vm',"
                      "  'object': {'name': 'web1', 'boot': 1}},"
                      " {'op': 'delete', 'kind': 'vm', 'key': 'web2'},"
                      " {'op': 'set', 'kind': 'vm',"
                      "  'object': {'name': 'web3', 'boot': 0}},"
                      " {'op': 'set', 'kind': 'port', 'object': " VM1 "},"
                      " {'op': 'delete', 'kind': 'vm', 'key': 'web9'}]",
                      "{" HOST ", 'vms': [{'name': 'web1', 'boot': 1},"
                      " {'name': 'web3', 'boot': 0}],"
                      " 'ports': [" VM1 "]}");
}

static void
test_malformed_changes(void **state)
{
    assert_refused("[{'op': 'set', 'kind': 'vms', 'object': {'name': 'x'}}]",
                   "changes[0].kind: \"vms\": expected \"network\", "
                   "\"port\", \"remote\", \"identity\" or \"vm\"");
    assert_refused("[{'op': 'set', 'kind': 'vm', 'object': {'vcpus': 1}}]",
                   "changes[0].object: expected a vm object with \"name\"");
    assert_refused("[{'op': 'set', 'kind': 'identity',"
                   "  'object': {'id': '300'}}]",
                   "changes[0].object: expected an identity object with an "
                   "integer \"id\"");
    assert_refused("[{'op': 'delete', 'key': 'x'}]",
                   "changes[0].kind: missing");
    assert_refused("[{'op': 'delete', 'kind': 'port', 'key': 'vm1'},"
                   " {'op': 'replace', 'kind': 'port', 'object': {}}]",
                   "changes[1].op: expected \"set\" or \"delete\"");
    assert_refused("[{'op': 'set', 'kind': 'port', 'object': {'mac': 'x'}}]",
                   "changes[0].object: expected a port object with \"name\"");
    assert_refused("[{'op': 'set', 'kind': 'remote',"
                   "  'object': {'network': 'blue'}}]",
                   "with \"network\" and \"mac\"");
    assert_refused("[{'op': 'delete', 'kind': 'port', 'key': 7}]",
                   "changes[0].key: expected a string");
    assert_refused("[42]", "changes[0]: expected an object");
    assert_refused("{'op': 'set'}", "changes: expected an array");
}

/* A delta that leaves the document inconsistent applies, but the state
 * parser then refuses the result: the agent validates after applying. */
static void
test_result_is_validated(void **state)
{
    json_t *doc = json(DOC);
    json_t *c = json("[{'op': 'delete', 'kind': 'network', 'key': 'blue'}]");
    struct state_errors errors;
    struct state *s;
    char *msg;

    assert_int_equal(changes_apply(doc, c, &msg), 0);
    state_errors_init(&errors);
    assert_int_equal(state_from_json(doc, &s, &errors), EINVAL);
    assert_null(s);
    assert_true(errors.n > 0);
    assert_non_null(strstr(errors.msgs[0], "no such network"));
    state_errors_destroy(&errors);
    json_decref(doc);
    json_decref(c);

    /* The controller's document as it is, valid. */
    doc = json(DOC);
    state_errors_init(&errors);
    assert_int_equal(state_from_json(doc, &s, &errors), 0);
    assert_int_equal(s->n_ports, 1);
    assert_int_equal(s->n_remotes, 1);
    assert_true(s->ports[0].port_security);
    state_destroy(s);
    state_errors_destroy(&errors);
    json_decref(doc);
}

static void
test_backoff_sequence(void **state)
{
    static const double want[] = {0.5, 1, 2, 4, 8, 16, 30, 30, 30};
    struct watch_backoff b = {0};

    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        assert_float_equal(watch_backoff_next(&b, 0), want[i], 1e-9);
    }
    watch_backoff_reset(&b);
    assert_float_equal(watch_backoff_next(&b, 0), 0.5, 1e-9);

    /* Jitter only ever shortens a delay, by at most a quarter. */
    watch_backoff_reset(&b);
    for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
        double r = (double) random() / RAND_MAX;
        double d = watch_backoff_next(&b, r);

        assert_true(d <= want[i] + 1e-9);
        assert_true(d >= want[i] * (1 - WATCH_BACKOFF_JITTER) - 1e-9);
    }
    watch_backoff_reset(&b);
    for (int i = 0; i < 100; i++) {
        double d = watch_backoff_next(&b, 1);

        assert_true(d >= WATCH_BACKOFF_MIN * (1 - WATCH_BACKOFF_JITTER));
        assert_true(d <= WATCH_BACKOFF_MAX);
    }
}

/* Writes 'text' to a new temporary file and returns its name. */
static char *
temp_file(const char *text)
{
    char *name = xstrdup("/tmp/test-watch-conf.XXXXXX");
    int fd = mkstemp(name);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    return name;
}

/* Reads 'text' as a configuration file into 'cfg'.  Returns the result of
 * agent_config_read_file() and its message in '*msg'. */
static int
read_config(const char *text, struct agent_config *cfg, char **msg,
            char **name)
{
    int error;

    *name = temp_file(text);
    error = agent_config_read_file(cfg, *name, msg);
    unlink(*name);
    return error;
}

static void
test_config_good(void **state)
{
    struct agent_config cfg;
    char *msg, *name;

    agent_config_init(&cfg);
    assert_int_equal(
        read_config("# fabric-agent\n"
                    "\n"
                    "controller = https://ctl.example.net:9470/\n"
                    "  token-file=/etc/fabric/agent.token  \n"
                    "cacert = /etc/fabric/ca.pem # the site's CA\n"
                    "host = hv-01\n"
                    "vtep = 192.168.100.1\n"
                    "underlay = eth1\n"
                    "vcpus = 64\n"
                    "memory-mb = 262144\n"
                    "state-cache = /var/lib/fabric/x.json\n"
                    "metrics = [::1]:9471\n"
                    "heartbeat-interval = 2\n"
                    "instance = prod\n"
                    "datapath = bpf\n"
                    "hypervisor = libvirt\n"
                    "storage = /srv/fabric/storage\n"
                    "vm-run-dir = /run/fabric-vms\n"
                    "accel = tcg\n"
                    "log-level = debug\n"
                    "pidfile = /run/fabric-agent.pid\n",
                    &cfg, &msg, &name),
        0);
    assert_null(msg);
    assert_string_equal(cfg.controller, "https://ctl.example.net:9470");
    assert_string_equal(cfg.token_file, "/etc/fabric/agent.token");
    assert_string_equal(cfg.cacert, "/etc/fabric/ca.pem");
    assert_string_equal(cfg.host, "hv-01");
    assert_string_equal(cfg.vtep, "192.168.100.1");
    assert_string_equal(cfg.underlay, "eth1");
    assert_int_equal(cfg.vcpus, 64);
    assert_int_equal(cfg.memory_mb, 262144);
    assert_string_equal(cfg.state_cache, "/var/lib/fabric/x.json");
    assert_string_equal(cfg.metrics, "[::1]:9471");
    assert_int_equal(cfg.heartbeat_interval, 2);
    assert_string_equal(cfg.instance, "prod");
    assert_string_equal(cfg.datapath, "bpf");
    assert_string_equal(cfg.hypervisor, "libvirt");
    assert_string_equal(cfg.storage, "/srv/fabric/storage");
    assert_string_equal(cfg.vm_run_dir, "/run/fabric-vms");
    assert_string_equal(cfg.accel, "tcg");
    assert_int_equal(cfg.log_level, LOG_LEVEL_DBG);
    assert_true(agent_config_is_set(&cfg, AGENT_CONFIG_HOST));
    assert_false(agent_config_is_set(&cfg, AGENT_CONFIG_TOKEN));
    assert_null(agent_config_check(&cfg));
    agent_config_destroy(&cfg);
    free(name);
}

/* Fails unless reading 'text' is refused with a message that is
 * "FILE:'line': " followed by something that contains 'want'. */
static void
assert_config_refused(const char *text, int line, const char *want)
{
    struct agent_config cfg;
    char *msg, *name, *prefix;

    agent_config_init(&cfg);
    assert_int_equal(read_config(text, &cfg, &msg, &name), EINVAL);
    assert_non_null(msg);
    prefix = xasprintf("%s:%d: ", name, line);
    if (strncmp(msg, prefix, strlen(prefix)) || !strstr(msg, want)) {
        fail_msg("message \"%s\" is not \"%s...%s...\"", msg, prefix, want);
    }
    free(prefix);
    free(msg);
    free(name);
    agent_config_destroy(&cfg);
}

static void
test_config_errors(void **state)
{
    assert_config_refused("host = hv1\n# fine\ncontroler = http://x\n", 3,
                          "unknown key \"controler\" (expected one of: "
                          "state, instance,");
    assert_config_refused("\nheartbeat-interval = 0\n", 2,
                          "heartbeat-interval \"0\": expected an integer "
                          "1..3600");
    assert_config_refused("vcpus = many\n", 1,
                          "vcpus \"many\": expected an integer");
    assert_config_refused("controller = ftp://x\n", 1,
                          "controller \"ftp://x\": expected a URL that "
                          "starts with http:// or https://");
    /* Lists of controllers: every item a base URL, none twice. */
    assert_config_refused("controller = http://a:1,,http://b:1\n", 1,
                          "controller \"http://a:1,,http://b:1\": item 2 "
                          "is empty");
    assert_config_refused("controller = http://a:1,\n", 1, "item 2 is empty");
    assert_config_refused("controller = http://a:1,http://A:1/\n", 1,
                          "\"http://A:1\" is given twice");
    assert_config_refused("controller = http://a:1,b:2\n", 1,
                          "\"b:2\": expected a URL that starts with");
    assert_config_refused("controller = http://a:0\n", 1,
                          "expected a port from 1 to 65535");
    assert_config_refused("controller = http://u:p@a:1\n", 1,
                          "expected no user name or password");
    assert_config_refused("controller = http://[zz]:1\n", 1,
                          "expected an IPv6 address in brackets");
    assert_config_refused("vtep = 224.0.0.1\n", 1, "expected a unicast");
    assert_config_refused("underlay = a/b\n", 1, "expected a device name");
    assert_config_refused("datapath = dpdk\n", 1,
                          "datapath \"dpdk\": expected a datapath type "
                          "this agent has: bpf");
    assert_config_refused("host = HV_1\n", 1, "host \"HV_1\": expected");
    assert_config_refused("metrics = localhost:9471\n", 1,
                          "metrics \"localhost:9471\": expected an IPv4");
    assert_config_refused("metrics = 127.0.0.1:99999\n", 1,
                          "expected a port 1..65535");
    assert_config_refused("log-level = loud\n", 1,
                          "expected error, warn, info or debug");
    assert_config_refused("token = two words\n", 1, "expected a token");
    assert_config_refused("underlay eth0\n", 1, "expected \"key = value\"");
    assert_config_refused("host =\n", 1, "host: empty value");
    assert_config_refused("host = hv1\nhypervisor = xen\n", 2,
                          "hypervisor \"xen\": expected qemu or libvirt");
    assert_config_refused("accel = hvf\n", 1,
                          "accel \"hvf\": expected auto, kvm or tcg");
    assert_config_refused("storage = var/lib/fabric\n", 1,
                          "storage \"var/lib/fabric\": expected an absolute "
                          "directory name");
    assert_config_refused("vm-run-dir = run\n", 1,
                          "vm-run-dir \"run\": expected an absolute");
}

static void
test_config_missing_file(void **state)
{
    struct agent_config cfg;
    char *msg;

    agent_config_init(&cfg);
    assert_int_equal(
        agent_config_read_file(&cfg, "/nonexistent/agent.conf", &msg), ENOENT);
    assert_null(msg);
    agent_config_destroy(&cfg);
}

/* The command line overrides the file, key by key. */
static void
test_config_merge_and_defaults(void **state)
{
    struct agent_config file, cmdline;
    char *msg;

    agent_config_init(&file);
    agent_config_init(&cmdline);
    assert_null(agent_config_set(&file, AGENT_CONFIG_HOST, "hv1"));
    assert_null(agent_config_set(&file, AGENT_CONFIG_UNDERLAY, "eth0"));
    assert_null(agent_config_set(&file, AGENT_CONFIG_HEARTBEAT_INTERVAL, "9"));
    assert_null(agent_config_set(&cmdline, AGENT_CONFIG_UNDERLAY, "eth1"));
    assert_null(agent_config_set(&cmdline, AGENT_CONFIG_INSTANCE, "blue"));
    assert_null(
        agent_config_set(&cmdline, AGENT_CONFIG_CONTROLLER, "http://c:1//"));
    agent_config_merge(&file, &cmdline);
    assert_string_equal(file.host, "hv1");
    assert_string_equal(file.underlay, "eth1");
    assert_string_equal(file.controller, "http://c:1");
    assert_null(agent_config_set(&cmdline, AGENT_CONFIG_CONTROLLER,
                                 "http://c:1/,https://[::1]:2//,http://d"));
    assert_string_equal(cmdline.controller,
                        "http://c:1,https://[::1]:2,http://d");
    assert_int_equal(file.heartbeat_interval, 9);
    assert_true(agent_config_same(&file, &cmdline, AGENT_CONFIG_UNDERLAY));
    assert_false(agent_config_same(&file, &cmdline, AGENT_CONFIG_HOST));

    msg = agent_config_defaults(&file);
    assert_null(msg);
    assert_string_equal(file.state_cache,
                        AGENT_CONFIG_CACHE_DIR "/agent-state-blue.json");
    assert_int_equal(file.heartbeat_interval, 9);
    assert_true(file.vcpus >= 1);
    assert_false(agent_config_is_set(&file, AGENT_CONFIG_STATE_CACHE));

    /* cacert makes no sense without TLS. */
    assert_null(agent_config_set(&file, AGENT_CONFIG_CACERT, "/ca.pem"));
    msg = agent_config_check(&file);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "cacert applies to https://"));
    free(msg);
    agent_config_unset(&file, AGENT_CONFIG_CACERT);
    assert_null(file.cacert);
    msg = agent_config_check(&file);
    assert_null(msg);
    /* ...and needs every controller of a list to use it. */
    assert_null(agent_config_set(&file, AGENT_CONFIG_CONTROLLER,
                                 "https://c:1,http://d:1"));
    assert_null(agent_config_set(&file, AGENT_CONFIG_CACERT, "/ca.pem"));
    msg = agent_config_check(&file);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "cacert applies to https://"));
    free(msg);
    assert_null(agent_config_set(&file, AGENT_CONFIG_CONTROLLER,
                                 "https://c:1,https://d:1"));
    msg = agent_config_check(&file);
    assert_null(msg);

    agent_config_destroy(&file);
    agent_config_destroy(&cmdline);
}

static void
test_parse_listen(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;

    assert_null(agent_config_parse_listen("127.0.0.1:9471", &ss, &len));
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *) &ss)->sin_port), 9471);
    assert_null(agent_config_parse_listen("[::]:80", &ss, &len));
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_non_null(agent_config_parse_listen("9471", &ss, &len));
    assert_non_null(agent_config_parse_listen("1.2.3.4:0", &ss, &len));
    assert_non_null(agent_config_parse_listen("::1:80", &ss, &len));
}

/* Fails unless 'text' has a line that is exactly 'line'. */
static void
assert_has_line(const char *text, const char *line)
{
    size_t len = strlen(line);

    for (const char *p = text; p && *p;
         p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, line, len) && (p[len] == '\n' || !p[len])) {
            return;
        }
    }
    fail_msg("no line \"%s\" in:\n%s", line, text);
}

static void
test_metrics_text(void **state)
{
    struct core_port_stats ports[] = {
        {.name = (char *) "web-1",
         .stats = {.rx_packets = 10,
                   .rx_bytes = 1000,
                   .tx_packets = 20,
                   .tx_bytes = 2000,
                   .drops = {[DP_DROP_SPOOF_MAC] = 3}}},
        {.name = (char *) "we\"ird", .stats = {.rx_packets = 1}},
    };
    struct core_snapshot snap = {
        .ports = ports,
        .n_ports = 2,
        .have_underlay = true,
        .underlay = {.rx_packets = 5, .drops = {[DP_DROP_BAD_VXLAN] = 2}},
        .reconciles = 7,
        .reconcile_errors = 1,
        .controller = true,
        .connected = true,
        .revision = 42,
        .ready = true,
    };
    static const char *const metrics[] = {
        "fabric_agent_port_rx_packets_total",
        "fabric_agent_port_rx_bytes_total",
        "fabric_agent_port_tx_packets_total",
        "fabric_agent_port_tx_bytes_total",
        "fabric_agent_port_drops_total",
        "fabric_agent_underlay_rx_packets_total",
        "fabric_agent_underlay_rx_bytes_total",
        "fabric_agent_underlay_tx_packets_total",
        "fabric_agent_underlay_tx_bytes_total",
        "fabric_agent_underlay_drops_total",
        "fabric_agent_reconciles_total",
        "fabric_agent_reconcile_errors_total",
        "fabric_agent_controller_connected",
        "fabric_agent_desired_revision",
    };
    char *text = metrics_render(&snap);

    for (size_t i = 0; i < ARRAY_SIZE(metrics); i++) {
        char *help = xasprintf("# HELP %s ", metrics[i]);
        char *type =
            xasprintf("# TYPE %s %s", metrics[i],
                      strstr(metrics[i], "_total") ? "counter" : "gauge");

        assert_non_null(strstr(text, help));
        assert_has_line(text, type);
        free(help);
        free(type);
    }
    assert_has_line(text,
                    "fabric_agent_port_rx_packets_total{port=\"web-1\"} 10");
    assert_has_line(text,
                    "fabric_agent_port_tx_bytes_total{port=\"web-1\"} 2000");
    assert_has_line(
        text, "fabric_agent_port_rx_packets_total{port=\"we\\\"ird\"} 1");
    assert_has_line(text, "fabric_agent_port_drops_total{port=\"web-1\","
                          "reason=\"spoofed-mac\"} 3");
    assert_has_line(text, "fabric_agent_port_drops_total{port=\"web-1\","
                          "reason=\"malformed\"} 0");
    assert_has_line(text, "fabric_agent_underlay_rx_packets_total 5");
    assert_has_line(
        text, "fabric_agent_underlay_drops_total{reason=\"bad-vxlan\"} 2");
    assert_has_line(text, "fabric_agent_reconciles_total 7");
    assert_has_line(text, "fabric_agent_reconcile_errors_total 1");
    assert_has_line(text, "fabric_agent_controller_connected 1");
    assert_has_line(text, "fabric_agent_desired_revision 42");
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);

    /* Standalone, before anything: no port or underlay samples. */
    memset(&snap, 0, sizeof snap);
    text = metrics_render(&snap);
    assert_null(strstr(text, "{port="));
    assert_null(strstr(text, "\nfabric_agent_underlay_rx_packets_total "));
    assert_has_line(text, "fabric_agent_controller_connected 0");
    free(text);
}

/* The firewall's counters: conntrack, the datapath's losses, and one
 * series per installed rule. */
static void
test_metrics_firewall(void **state)
{
    struct core_rule_hits hits[] = {{7, 120}, {9, 4}};
    struct core_snapshot snap = {
        .ct_entries = 12,
        .ct_expired = 3,
        .ct_denied = 2,
        .flowlog_aggregated = 9999,
        .flowlog_suppressed = 880,
        .have_fw_stats = true,
        .fw = {.ct_full = 5, .events_lost = 6},
        .rule_hits = hits,
        .n_rule_hits = 2,
    };
    char *text = metrics_render(&snap);

    assert_has_line(text, "# TYPE fabric_conntrack_entries gauge");
    assert_has_line(text, "fabric_conntrack_entries 12");
    assert_has_line(text, "fabric_conntrack_expired_total 3");
    assert_has_line(text, "fabric_conntrack_revalidated_deleted_total 2");
    assert_has_line(text, "fabric_conntrack_full_total 5");
    assert_has_line(text, "fabric_flowlog_events_lost_total 6");
    assert_has_line(text, "fabric_flowlog_aggregated_total 9999");
    assert_has_line(text, "fabric_flowlog_suppressed_total 880");
    assert_has_line(text, "# TYPE fabric_rule_hits_total counter");
    assert_has_line(text, "fabric_rule_hits_total{rule=\"7\"} 120");
    assert_has_line(text, "fabric_rule_hits_total{rule=\"9\"} 4");
    free(text);
}

/* A flow event becomes the JSON record of doc/firewall.md: ports for TCP
 * and UDP, type and code for ICMP, the rule only when one decided, the
 * time on the wall clock to the millisecond. */
static void
test_flowlog_record(void **state)
{
    struct dp_flow_event ev = {
        .vni = 1000,
        .ifindex = 7,
        .rule_id = 7,
        .family = 4,
        .proto = 6,
        .action = POLICY_ALLOW,
        .reason = POLICY_BY_RULE,
        .direction = POLICY_EGRESS,
        .src_identity = 300,
        .dst_identity = 301,
        .sport = htons(40000),
        .dport = htons(5432),
        .src = {10, 0, 0, 2},
        .dst = {10, 0, 0, 3},
    };
    /* 2026-11-22T10:00:00.123456789Z */
    uint64_t wall = 1795341600ULL * 1000000000ULL + 123456789;
    json_t *want = json("{'time': '2026-11-22T10:00:00.123Z',"
                        " 'network': 'blue', 'vni': 1000,"
                        " 'protocol': 'tcp', 'src_ip': '10.0.0.2',"
                        " 'src_port': 40000, 'dst_ip': '10.0.0.3',"
                        " 'dst_port': 5432, 'port': 'web1',"
                        " 'direction': 'egress', 'src_identity': 300,"
                        " 'dst_identity': 301, 'rule': 7,"
                        " 'verdict': 'allow', 'reason': 'rule'}");
    json_t *r = flowlog_record(&ev, "web1", "blue", wall);
    char buf[32];

    assert_true(json_equal(r, want));
    json_decref(r);
    json_decref(want);

    ev.proto = 58;
    ev.family = 6;
    memset(ev.src, 0, 16);
    memset(ev.dst, 0, 16);
    ev.src[0] = ev.dst[0] = 0xfd;
    ev.src[15] = 2;
    ev.dst[15] = 3;
    ev.sport = htons(128 << 8 | 0);
    ev.dport = 0;
    ev.rule_id = 0;
    ev.action = POLICY_DENY;
    ev.reason = POLICY_BY_DEFAULT_DENY;
    ev.direction = POLICY_INGRESS;
    want = json("{'time': '2026-11-22T10:00:00.123Z',"
                " 'network': null, 'vni': 1000, 'protocol': 'icmpv6',"
                " 'src_ip': 'fd00::2', 'dst_ip': 'fd00::3',"
                " 'icmp_type': 128, 'icmp_code': 0, 'port': null,"
                " 'direction': 'ingress', 'src_identity': 300,"
                " 'dst_identity': 301, 'verdict': 'deny',"
                " 'reason': 'default-deny'}");
    r = flowlog_record(&ev, NULL, NULL, wall);
    assert_true(json_equal(r, want));
    json_decref(r);
    json_decref(want);

    ev.proto = 47;
    ev.reason = DP_FW_BY_CT_FULL;
    r = flowlog_record(&ev, "web1", "blue", wall);
    assert_string_equal(json_string_value(json_object_get(r, "protocol")),
                        "47");
    assert_string_equal(json_string_value(json_object_get(r, "reason")),
                        "conntrack-full");
    assert_null(json_object_get(r, "src_port"));
    json_decref(r);

    flowlog_format_time(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    flowlog_format_time(999999999, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.999Z");
}

/* However much an agent cannot apply, its report stays within what the
 * controller takes, and valid UTF-8. */
static void
test_bound_conditions(void **state)
{
    json_t *conditions = json_array();
    char reason[3000];
    json_t *c;
    size_t i;

    /* "é" is two bytes: a cut at an odd length falls inside one. */
    for (i = 0; i + 2 < sizeof reason; i += 2) {
        memcpy(reason + i, "\xc3\xa9", 2);
    }
    reason[i] = '\0';
    for (i = 0; i < 1500; i++) {
        json_array_append_new(conditions,
                              json_pack("{sssiss}", "kind", "port", "name", i,
                                        "reason", i % 2 ? "short" : reason));
        json_object_set_new(json_array_get(conditions, i), "name",
                            json_sprintf("p%zu", i));
    }
    watch_bound_conditions(conditions);
    assert_int_equal(json_array_size(conditions), WATCH_CONDITIONS_MAX);
    json_array_foreach(conditions, i, c)
    {
        const char *r = json_string_value(json_object_get(c, "reason"));

        assert_non_null(r);
        assert_true(strlen(r) <= WATCH_CONDITION_TEXT_MAX);
        if (i % 2 == 0 && i + 1 < WATCH_CONDITIONS_MAX) {
            assert_true(strlen(r) >= WATCH_CONDITION_TEXT_MAX - 4);
            assert_string_equal(r + strlen(r) - 3, "...");
        }
    }
    c = json_array_get(conditions, WATCH_CONDITIONS_MAX - 1);
    assert_string_equal(json_string_value(json_object_get(c, "kind")), "host");
    assert_string_equal(json_string_value(json_object_get(c, "reason")),
                        "501 more elements of the desired state are left "
                        "out; the agent's log names them");
    json_decref(conditions);

    /* A name is bounded too. */
    conditions = json_pack("[{ssssss}]", "kind", "network", "name", reason + 2,
                           "reason", "r");
    watch_bound_conditions(conditions);
    c = json_array_get(conditions, 0);
    assert_non_null(json_string_value(json_object_get(c, "name")));
    assert_true(strlen(json_string_value(json_object_get(c, "name")))
                <= WATCH_CONDITION_TEXT_MAX);
    json_decref(conditions);

    /* Within bounds, nothing changes. */
    conditions = json_pack("[{ssssss}]", "kind", "port", "name", "vm1",
                           "reason", "mac: bad");
    c = json_deep_copy(conditions);
    watch_bound_conditions(conditions);
    assert_true(json_equal(c, conditions));
    json_decref(c);
    json_decref(conditions);
}

/* The address an agent gives the controller for traces: the controller
 * takes only the one the agent connects from, so a loopback listener is
 * offered only to a controller on loopback too. */
static void
test_trace_url(void **state)
{
    char *url;

    url = agent_trace_url(NULL, "198.18.0.1:9471", "http://198.18.0.254:9470");
    assert_string_equal(url, "http://198.18.0.1:9471");
    free(url);
    url = agent_trace_url(NULL, "127.0.0.1:9471", "http://127.0.0.1:9470");
    assert_string_equal(url, "http://127.0.0.1:9471");
    free(url);
    assert_null(
        agent_trace_url(NULL, "127.0.0.1:9471", "http://192.168.100.254:1"));
    assert_null(agent_trace_url(NULL, "[::1]:9471", "https://[2001:db8::1]"));
    assert_null(agent_trace_url(NULL, "0.0.0.0:9471", "http://127.0.0.1:1"));
    assert_null(agent_trace_url(NULL, NULL, "http://127.0.0.1:1"));
    /* A list: loopback only if every controller is on it. */
    url = agent_trace_url(NULL, "127.0.0.1:9471",
                          "http://127.0.0.1:1,http://[::1]:2");
    assert_string_equal(url, "http://127.0.0.1:9471");
    free(url);
    assert_null(agent_trace_url(NULL, "127.0.0.1:9471",
                                "http://127.0.0.1:1,http://198.18.0.254:2"));
    url = agent_trace_url("http://198.18.0.1:9471", "127.0.0.1:9471",
                          "http://192.168.100.254:1");
    assert_string_equal(url, "http://198.18.0.1:9471");
    free(url);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_conditions),
        cmocka_unit_test(test_set_adds),
        cmocka_unit_test(test_set_replaces),
        cmocka_unit_test(test_delete_each_kind),
        cmocka_unit_test(test_delete_absent_is_harmless),
        cmocka_unit_test(test_missing_list_is_created),
        cmocka_unit_test(test_identity_changes),
        cmocka_unit_test(test_vm_changes),
        cmocka_unit_test(test_malformed_changes),
        cmocka_unit_test(test_result_is_validated),
        cmocka_unit_test(test_backoff_sequence),
        cmocka_unit_test(test_config_good),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_missing_file),
        cmocka_unit_test(test_config_merge_and_defaults),
        cmocka_unit_test(test_parse_listen),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_metrics_firewall),
        cmocka_unit_test(test_flowlog_record),
        cmocka_unit_test(test_trace_url),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
