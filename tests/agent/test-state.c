/* The desired-state document: what a valid one turns into, and how every
 * kind of mistake in one is refused, as a whole, with a message that names
 * where the mistake is, what is wrong and what was expected.
 *
 * Documents are written with single quotes for readability; doc() turns
 * them into JSON. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/state.h"
#include "datapath/dp-tables.h"
#include "firewall/policy.h"
#include "utils/util.h"

#define HOST "'host': {'vtep': '192.168.100.1', 'underlay': 'eth0'}"
#define BLUE "{'name': 'blue', 'vni': 100}"
#define RED "{'name': 'red', 'vni': 200}"

/* Returns 's' with single quotes turned into double quotes. */
static char *
doc(const char *s)
{
    char *d = xstrdup(s);

    for (char *p = d; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    return d;
}

/* Parses 'text' (single-quoted), expecting success. */
static struct state *
parse_ok(const char *text)
{
    struct state_errors errors;
    struct state *s;
    char *json = doc(text);

    state_errors_init(&errors);
    if (state_parse(json, strlen(json), &s, &errors)) {
        for (size_t i = 0; i < errors.n; i++) {
            print_error("unexpected error: %s\n", errors.msgs[i]);
        }
        fail_msg("document refused: %s", json);
    }
    assert_int_equal(errors.n, 0);
    assert_non_null(s);
    free(json);
    state_errors_destroy(&errors);
    return s;
}

/* Fails unless one of 'errors' contains 'want'. */
static void
assert_has_error(const struct state_errors *errors, const char *want)
{
    for (size_t i = 0; i < errors->n; i++) {
        if (strstr(errors->msgs[i], want)) {
            return;
        }
    }
    for (size_t i = 0; i < errors->n; i++) {
        print_error("got: %s\n", errors->msgs[i]);
    }
    fail_msg("no error contains: %s", want);
}

/* Parses 'text' (single-quoted), expecting it to be refused with an error
 * that contains 'want'.  Returns the number of errors. */
static size_t
parse_fails(const char *text, const char *want)
{
    struct state_errors errors;
    struct state *s = (struct state *) 1;
    char *json = doc(text);
    size_t n;

    state_errors_init(&errors);
    assert_int_equal(state_parse(json, strlen(json), &s, &errors), EINVAL);
    assert_null(s);
    assert_has_error(&errors, want);
    n = errors.n;
    state_errors_destroy(&errors);
    free(json);
    return n;
}

/* External VTEPs: parsed per network joined, GBP off unless said; an
 * endpoint behind one needs the VTEP to have joined its network and has no
 * identity; one GBP setting per VTEP; never our own VTEP. */
static void
test_external_vteps(void **state)
{
    struct state *s = parse_ok(
        "{" HOST ", 'networks': [" BLUE ", " RED "],"
        " 'external_vteps': [{'network': 'blue', 'vtep': '192.168.100.9'},"
        "                    {'network': 'red', 'vtep': '192.168.100.9'},"
        "                    {'network': 'red', 'vtep': '192.168.100.8',"
        "                     'gbp': true}],"
        " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:09:01',"
        "              'ip': '10.0.0.9', 'vtep': '192.168.100.9'},"
        "             {'network': 'blue', 'mac': '02:00:00:00:02:01',"
        "              'vtep': '192.168.100.2', 'identity': 300}],"
        " 'identities': [{'id': 300, 'governs': []}]}");

    assert_int_equal(s->n_external_vteps, 3);
    assert_int_equal(s->external_vteps[1].network, 1);
    assert_int_equal(s->external_vteps[1].vtep, inet_addr("192.168.100.9"));
    assert_false(s->external_vteps[1].gbp);
    assert_true(s->external_vteps[2].gbp);
    assert_true(state_vtep_is_external(s, inet_addr("192.168.100.9")));
    assert_false(state_vtep_is_external(s, inet_addr("192.168.100.2")));
    assert_false(state_vtep_takes_gbp(s, inet_addr("192.168.100.9")));
    assert_true(state_vtep_takes_gbp(s, inet_addr("192.168.100.8")));
    assert_true(state_vtep_takes_gbp(s, inet_addr("192.168.100.2")));
    state_destroy(s);

    parse_fails("{" HOST ", 'networks': [" BLUE ", " RED "],"
                " 'external_vteps': [{'network': 'red',"
                "                     'vtep': '192.168.100.9'}],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:09:01',"
                "              'vtep': '192.168.100.9'}]}",
                "remotes[0].network: \"blue\": the remote's VTEP is an "
                "external VTEP that did not join this network");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'external_vteps': [{'network': 'blue',"
                "                     'vtep': '192.168.100.9'}],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:09:01',"
                "              'vtep': '192.168.100.9', 'identity': 300}],"
                " 'identities': [{'id': 300, 'governs': []}]}",
                "remotes[0].identity: 300: an endpoint behind an external "
                "VTEP has no security identity");
    parse_fails("{" HOST ", 'networks': [" BLUE ", " RED "],"
                " 'external_vteps': [{'network': 'blue',"
                "                     'vtep': '192.168.100.9'},"
                "                    {'network': 'red', 'gbp': true,"
                "                     'vtep': '192.168.100.9'}]}",
                "external_vteps[1].gbp: true, but external_vteps[0] with the "
                "same VTEP says false");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'external_vteps': [{'network': 'blue',"
                "                     'vtep': '192.168.100.1'}]}",
                "external_vteps[0].vtep: is this host's own VTEP");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'external_vteps': [{'network': 'green',"
                "                     'vtep': '192.168.100.9', 'gbp': 1}]}",
                "external_vteps[0].network: \"green\": no such network");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'external_vteps': [{'network': 'blue',"
                "                     'vtep': '192.168.100.9', 'gbp': 1}]}",
                "external_vteps[0].gbp");
}

static void
test_full_document(void **state)
{
    struct state *s = parse_ok(
        "{'host': {'name': 'host-a', 'vtep': '192.168.100.1',"
        "          'underlay': 'eth0', 'ttl': 32},"
        " 'networks': [{'name': 'blue', 'vni': 100, 'mtu': 1400},"
        "              {'name': 'red', 'vni': 16777215}],"
        " 'ports': [{'name': 'vm1', 'network': 'blue', 'device': 'veth-vm1',"
        "            'mac': '02:00:00:00:01:01', 'ip': '10.0.0.1',"
        "            'ipv6': 'fd00::1', 'port_security': false},"
        "           {'name': 'vm2', 'network': 'red',"
        "            'mac': '02:00:00:00:01:02'}],"
        " 'remotes': [{'network': 'red', 'mac': '02:00:00:00:02:01',"
        "              'ip': '10.0.0.3', 'vtep': '192.168.100.2'},"
        "             {'network': 'blue', 'mac': '02:00:00:00:02:02',"
        "              'vtep': '192.168.100.3'}]}");
    static const uint8_t mac1[6] = {2, 0, 0, 0, 1, 1};
    static const uint8_t mac3[6] = {2, 0, 0, 0, 2, 1};
    uint8_t ip6[16] = {0xfd, [15] = 1};

    assert_string_equal(s->host.name, "host-a");
    assert_int_equal(s->host.vtep, inet_addr("192.168.100.1"));
    assert_string_equal(s->host.underlay, "eth0");
    assert_int_equal(s->host.ttl, 32);

    assert_int_equal(s->n_networks, 2);
    assert_string_equal(s->networks[0].name, "blue");
    assert_int_equal(s->networks[0].vni, 100);
    assert_int_equal(s->networks[0].mtu, 1400);
    assert_int_equal(s->networks[1].vni, 16777215);
    assert_int_equal(s->networks[1].mtu, 0);

    assert_int_equal(s->n_ports, 2);
    assert_string_equal(s->ports[0].name, "vm1");
    assert_int_equal(s->ports[0].network, 0);
    assert_string_equal(s->ports[0].device, "veth-vm1");
    assert_memory_equal(s->ports[0].mac, mac1, 6);
    assert_int_equal(s->ports[0].ip4, inet_addr("10.0.0.1"));
    assert_memory_equal(s->ports[0].ip6, ip6, 16);
    assert_false(s->ports[0].port_security);
    assert_int_equal(s->ports[1].network, 1);

    assert_int_equal(s->n_remotes, 2);
    assert_int_equal(s->remotes[0].network, 1);
    assert_memory_equal(s->remotes[0].mac, mac3, 6);
    assert_int_equal(s->remotes[0].ip4, inet_addr("10.0.0.3"));
    assert_int_equal(s->remotes[0].vtep, inet_addr("192.168.100.2"));
    assert_int_equal(s->remotes[1].network, 0);
    assert_int_equal(s->remotes[1].ip4, 0);
    state_destroy(s);
}

static void
test_defaults(void **state)
{
    struct state *s = parse_ok("{" HOST ", 'networks': [" BLUE "],"
                               " 'ports': [{'name': 'vm1', 'network': 'blue',"
                               "            'mac': '02:00:00:00:01:01'}]}");
    static const uint8_t zero6[16];

    assert_null(s->host.name);
    assert_int_equal(s->host.ttl, STATE_DEFAULT_TTL);
    assert_int_equal(s->networks[0].mtu, 0);
    assert_string_equal(s->ports[0].device, "vm1");
    assert_int_equal(s->ports[0].ip4, 0);
    assert_memory_equal(s->ports[0].ip6, zero6, 16);
    assert_true(s->ports[0].port_security);
    assert_int_equal(s->n_remotes, 0);
    state_destroy(s);
}

static void
test_host_only(void **state)
{
    struct state *s = parse_ok("{" HOST "}");

    assert_int_equal(s->n_networks, 0);
    assert_int_equal(s->n_ports, 0);
    assert_int_equal(s->n_remotes, 0);
    state_destroy(s);

    s = parse_ok("{" HOST ", 'networks': [], 'ports': [], 'remotes': []}");
    state_destroy(s);
}

/* The model is what a controller will hand over too: a decoded value
 * gives the same result as text. */
static void
test_from_decoded_json(void **state)
{
    struct state_errors errors;
    struct state *s;
    json_t *root;

    root =
        json_pack("{s:{s:s, s:s}, s:[{s:s, s:i}]}", "host", "vtep", "10.1.1.1",
                  "underlay", "bond0", "networks", "name", "green", "vni", 7);
    state_errors_init(&errors);
    assert_int_equal(state_from_json(root, &s, &errors), 0);
    assert_int_equal(s->networks[0].vni, 7);
    assert_string_equal(s->host.underlay, "bond0");
    state_destroy(s);

    json_object_set_new(json_array_get(json_object_get(root, "networks"), 0),
                        "vni", json_integer(0));
    assert_int_equal(state_from_json(root, &s, &errors), EINVAL);
    assert_null(s);
    assert_has_error(&errors, "networks[0].vni: 0 is out of range");
    state_errors_destroy(&errors);
    json_decref(root);
}

static void
test_bad_json(void **state)
{
    parse_fails(
        "{'host': {\n  'vtep': '1.2.3.4',, }",
        "line 2, column 21: invalid JSON: string or '}' expected near ','");
    parse_fails("", "line 1, column 0: invalid JSON");
    parse_fails("{" HOST ", " HOST "}", "duplicate object key");
    parse_fails("[]", "document: expected an object, got an array");
    parse_fails("42", "document: expected an object, got an integer");
}

static void
test_unknown_keys(void **state)
{
    parse_fails("{" HOST ", 'network': []}",
                "network: unknown key (expected one of: host, networks, "
                "ports, remotes, identities, external_vteps, vms, moved_vms, "
                "fabric_vteps, forward)");
    parse_fails("{'host': {'vtep': '192.168.100.1', 'underlay': 'eth0',"
                "          'mtu': 1500}}",
                "host.mtu: unknown key");
    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': 100,"
                "                        'MTU': 1400}]}",
                "networks[0].MTU: unknown key (expected one of: name, vni, "
                "mtu, default_action, cidr, dns_servers)");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01', 'colour': 'red'}]}",
                "ports[0].colour: unknown key");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:01:01',"
                "              'vtep': '192.168.100.2', 'ipv6': 'fd00::2'}]}",
                "remotes[0].ipv6: unknown key");
}

static void
test_wrong_types(void **state)
{
    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': '100'}]}",
                "networks[0].vni: expected an integer 1..16777215, got a "
                "string");
    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': 100.0}]}",
                "networks[0].vni: expected an integer 1..16777215, got a "
                "real number");
    parse_fails("{" HOST ", 'networks': {'blue': 100}}",
                "networks: expected an array of objects, got an object");
    parse_fails("{" HOST ", 'networks': ['blue']}",
                "networks[0]: expected an object, got a string");
    parse_fails("{'host': 'host-a'}", "host: expected an object");
    parse_fails("{" HOST ", 'networks': [{'name': 7, 'vni': 100}]}",
                "networks[0].name: expected a string");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01',"
                "            'port_security': 'yes'}]}",
                "ports[0].port_security: expected true or false, got a "
                "string");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': null}]}",
                "ports[0].mac: expected a string, a MAC address "
                "xx:xx:xx:xx:xx:xx, got null");
}

static void
test_missing_keys(void **state)
{
    parse_fails("{'networks': []}", "host: missing");
    parse_fails("{'host': {'underlay': 'eth0'}}",
                "host.vtep: missing (expected a string, an IPv4 address");
    parse_fails("{'host': {'vtep': '192.168.100.1'}}",
                "host.underlay: missing");
    parse_fails("{" HOST ", 'networks': [{'name': 'blue'}]}",
                "networks[0].vni: missing (expected an integer "
                "1..16777215)");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue'}]}",
                "ports[0].mac: missing");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'network': 'blue', "
                "            'mac': '02:00:00:00:01:01'}]}",
                "ports[0].name: missing");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'remotes': [{'network': 'blue',"
                "              'mac': '02:00:00:00:01:01'}]}",
                "remotes[0].vtep: missing");
}

static void
test_bad_macs(void **state)
{
    const char *ports = "{" HOST ", 'networks': [" BLUE "],"
                        " 'ports': [{'name': 'vm1', 'network': 'blue',"
                        "            'mac': '02:00:00:00:01:01'},"
                        "           {'name': 'vm2', 'network': 'blue',"
                        "            'mac': '%s'}]}";
    static const struct {
        const char *mac;  /* The MAC of ports[1]. */
        const char *want; /* The error. */
    } cases[] = {
        {"02:00:zz", "ports[1].mac: \"02:00:zz\": not a MAC address "
                     "(expected xx:xx:xx:xx:xx:xx)"},
        {"02:00:00:00:01:02:03", "not a MAC address"},
        {"", "ports[1].mac: \"\": not a MAC address"},
        {"01:00:5e:00:00:01", "ports[1].mac: \"01:00:5e:00:00:01\": a "
                              "multicast MAC (expected a unicast MAC"},
        {"ff:ff:ff:ff:ff:ff", "multicast MAC"},
        {"00:00:00:00:00:00", "the zero MAC (expected a unicast MAC)"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *text = xasprintf(ports, cases[i].mac);

        parse_fails(text, cases[i].want);
        free(text);
    }
}

static void
test_bad_addresses(void **state)
{
    parse_fails("{'host': {'vtep': '192.168.100.256', 'underlay': 'eth0'}}",
                "host.vtep: \"192.168.100.256\": not an IPv4 address "
                "(expected a.b.c.d)");
    parse_fails("{'host': {'vtep': '239.1.1.1', 'underlay': 'eth0'}}",
                "host.vtep: \"239.1.1.1\": not a unicast address");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01', 'ip': '0.0.0.0'}]}",
                "ports[0].ip: \"0.0.0.0\": not a unicast address");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01', 'ip': 'fd00::1'}]}",
                "ports[0].ip: \"fd00::1\": not an IPv4 address");
    parse_fails(
        "{" HOST ", 'networks': [" BLUE "],"
        " 'ports': [{'name': 'vm1', 'network': 'blue',"
        "            'mac': '02:00:00:00:01:01', 'ipv6': 'fd00::zz'}]}",
        "ports[0].ipv6: \"fd00::zz\": not an IPv6 address");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01', 'ipv6': 'ff02::1'}]}",
                "ports[0].ipv6: \"ff02::1\": not a unicast address");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:02:01',"
                "              'vtep': '192.168.100.1'}]}",
                "remotes[0].vtep: 192.168.100.1 is this host's own VTEP");
}

static void
test_bad_names(void **state)
{
    parse_fails("{" HOST ", 'networks': [{'name': 'blue net', 'vni': 1}]}",
                "networks[0].name: \"blue net\": not a valid name (expected "
                "a name of 1 to 63 letters, digits");
    parse_fails("{" HOST ", 'networks': [{'name': '', 'vni': 1}]}",
                "networks[0].name: \"\": not a valid name");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'a-port-name-of-20ch', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01'}]}",
                "ports[0].name: \"a-port-name-of-20ch\": too long to be a "
                "device name, and \"device\" is not set");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'device': 'vm/1', 'mac': '02:00:00:00:01:01'}]}",
                "ports[0].device: \"vm/1\": not a valid device name");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'device': 'eth0', 'mac': '02:00:00:00:01:01'}]}",
                "ports[0].device: \"eth0\" is the underlay device");
    parse_fails("{'host': {'vtep': '192.168.100.1', 'underlay': ''}}",
                "host.underlay: \"\": not a valid device name");
}

static void
test_ranges(void **state)
{
    struct state *s;

    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': 0}]}",
                "networks[0].vni: 0 is out of range 1..16777215");
    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': 16777216}]}",
                "networks[0].vni: 16777216 is out of range 1..16777215");
    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': -1}]}",
                "networks[0].vni: -1 is out of range");
    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': 1,"
                "                        'mtu': 67}]}",
                "networks[0].mtu: 67 is out of range 68..65535");
    parse_fails("{'host': {'vtep': '192.168.100.1', 'underlay': 'eth0',"
                "          'ttl': 256}}",
                "host.ttl: 256 is out of range 1..255");

    s = parse_ok("{" HOST ", 'networks': [{'name': 'blue', 'vni': 1,"
                 "                        'mtu': 68}]}");
    state_destroy(s);
}

static void
test_duplicates(void **state)
{
    parse_fails("{" HOST ", 'networks': [" BLUE ", {'name': 'blue', "
                "                                 'vni': 101}]}",
                "networks[1].name: \"blue\" is already used by networks[0]");
    parse_fails("{" HOST ", 'networks': [" BLUE ", {'name': 'red', "
                "                                 'vni': 100}]}",
                "networks[1].vni: 100 is already used by networks[0]");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'device': 'tap1', 'mac': '02:00:00:00:01:01'},"
                "           {'name': 'vm1', 'network': 'blue',"
                "            'device': 'tap2', 'mac': '02:00:00:00:01:02'}]}",
                "ports[1].name: \"vm1\" is already used by ports[0]");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'device': 'tap1', 'mac': '02:00:00:00:01:01'},"
                "           {'name': 'vm2', 'network': 'blue',"
                "            'device': 'tap1', 'mac': '02:00:00:00:01:02'}]}",
                "ports[1].device: \"tap1\" is already used by ports[0]");
}

static void
test_duplicate_addresses(void **state)
{
    struct state *s;

    /* A remote with a local port's MAC. */
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01'}],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:01:01',"
                "              'vtep': '192.168.100.2'}]}",
                "remotes[0].mac: 02:00:00:00:01:01 is already used in "
                "network \"blue\" by ports[0]");
    /* MACs compare as addresses, not as text. */
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:0A:01',"
                "              'vtep': '192.168.100.2'},"
                "             {'network': 'blue', 'mac': '02-00-00-00-0a-01',"
                "              'vtep': '192.168.100.3'}]}",
                "remotes[1].mac: 02:00:00:00:0a:01 is already used in "
                "network \"blue\" by remotes[0]");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01', 'ip': '10.0.0.1'},"
                "           {'name': 'vm2', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:02', 'ip': '10.0.0.1'}]}",
                "ports[1].ip: 10.0.0.1 is already used in network \"blue\" "
                "by ports[0]");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01', 'ipv6': 'fd00::1'},"
                "           {'name': 'vm2', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:02',"
                "            'ipv6': 'fd00:0::1'}]}",
                "ports[1].ipv6: fd00::1 is already used in network \"blue\"");

    /* The same MAC and IP in two networks is fine. */
    s = parse_ok(
        "{" HOST ", 'networks': [" BLUE ", " RED "],"
        " 'ports': [{'name': 'vm1', 'network': 'blue',"
        "            'mac': '02:00:00:00:01:01', 'ip': '10.0.0.1'},"
        "           {'name': 'vm2', 'network': 'red',"
        "            'mac': '02:00:00:00:01:01', 'ip': '10.0.0.1'}]}");
    state_destroy(s);
}

static void
test_unknown_network(void **state)
{
    parse_fails("{" HOST ", 'networks': [" BLUE ", " RED "],"
                " 'ports': [{'name': 'vm1', 'network': 'green',"
                "            'mac': '02:00:00:00:01:01'}]}",
                "ports[0].network: \"green\": no such network (expected one "
                "of: blue, red)");
    parse_fails("{" HOST ", 'remotes': [{'network': 'blue',"
                "   'mac': '02:00:00:00:01:01', 'vtep': '192.168.100.2'}]}",
                "remotes[0].network: \"blue\": no such network (\"networks\" "
                "is empty)");
}

static void
test_mtu_against_underlay(void **state)
{
    struct state *s = parse_ok("{" HOST ", 'networks': ["
                               "  {'name': 'blue', 'vni': 100, 'mtu': 1451},"
                               "  {'name': 'red', 'vni': 200}]}");
    struct state_errors errors;

    state_errors_init(&errors);
    assert_int_equal(state_check_mtus(s, 9000, &errors), 0);
    assert_int_equal(errors.n, 0);
    assert_int_equal(state_check_mtus(s, 1500, &errors), EINVAL);
    assert_int_equal(errors.n, 1);
    assert_has_error(&errors, "networks[0].mtu: 1451 is larger than 1450, "
                              "the MTU of underlay \"eth0\" (1500) minus 50 "
                              "bytes of VXLAN overhead");
    state_errors_destroy(&errors);

    /* Explicit MTUs stand; the others follow the underlay. */
    assert_int_equal(state_network_mtu(&s->networks[0], 1500), 1451);
    assert_int_equal(state_network_mtu(&s->networks[1], 1500), 1450);
    assert_int_equal(state_network_mtu(&s->networks[1], 9000), 8950);
    assert_int_equal(state_network_mtu(&s->networks[1], 0), 1450);
    assert_int_equal(state_network_mtu(&s->networks[1], 100), STATE_MIN_MTU);
    assert_int_equal(state_network_mtu(&s->networks[1], 65536), 65486);

    /* An underlay too small for even the default. */
    s->networks[0].mtu = 0;
    assert_int_equal(state_check_mtus(s, 100, &errors), EINVAL);
    assert_has_error(&errors, "networks[1]: the MTU of underlay \"eth0\" "
                              "(100) leaves 50 bytes");
    state_errors_destroy(&errors);
    state_destroy(s);
}

/* Builds a document for network "blue" with 'n_ports' local ports and
 * remotes behind 'n_vteps' VTEPs, two remotes behind each. */
static json_t *
flood_document(int n_ports, int n_vteps)
{
    json_t *ports = json_array(), *remotes = json_array();

    for (int i = 0; i < n_ports; i++) {
        char name[16], mac[18];

        snprintf(name, sizeof name, "vm%d", i);
        snprintf(mac, sizeof mac, "02:00:00:00:01:%02x", i & 0xff);
        json_array_append_new(ports, json_pack("{s:s, s:s, s:s}", "name", name,
                                               "network", "blue", "mac", mac));
    }
    for (int i = 0; i < 2 * n_vteps; i++) {
        char mac[18], vtep[16];

        snprintf(mac, sizeof mac, "02:00:00:00:02:%02x", i);
        snprintf(vtep, sizeof vtep, "192.168.101.%d", i / 2 + 1);
        json_array_append_new(remotes,
                              json_pack("{s:s, s:s, s:s}", "network", "blue",
                                        "mac", mac, "vtep", vtep));
    }
    return json_pack("{s:{s:s, s:s}, s:[{s:s, s:i}], s:o, s:o}", "host",
                     "vtep", "192.168.100.1", "underlay", "eth0", "networks",
                     "name", "blue", "vni", 100, "ports", ports, "remotes",
                     remotes);
}

static void
test_flood_limit(void **state)
{
    struct state_errors errors;
    struct state *s;
    json_t *root;

    state_errors_init(&errors);

    /* 252 ports and 4 VTEPs (8 remotes): exactly the limit. */
    root = flood_document(DP_FLOOD_MAX - 4, 4);
    assert_int_equal(state_from_json(root, &s, &errors), 0);
    state_destroy(s);
    json_decref(root);

    root = flood_document(DP_FLOOD_MAX - 4, 5);
    assert_int_equal(state_from_json(root, &s, &errors), EINVAL);
    assert_has_error(&errors, "networks[0]: network \"blue\" has 257 flood "
                              "list members (252 local ports and 5 remote "
                              "VTEPs; expected at most 256)");
    json_decref(root);

    root = flood_document(DP_FLOOD_MAX + 1, 0);
    assert_int_equal(state_from_json(root, &s, &errors), EINVAL);
    assert_has_error(&errors, "has 257 flood list members (257 local ports");
    json_decref(root);
    state_errors_destroy(&errors);
}

/* Validation does not stop at the first mistake: one pass reports all. */
#define VM1 "'name': 'vm1', 'network': 'blue', 'mac': '02:00:00:00:01:01'"

/* Parses a document with one port "vm1" whose "qos" member is 'qos'. */
static struct state *
parse_qos_ok(const char *qos)
{
    char *text = xasprintf("{" HOST ", 'networks': [" BLUE "],"
                           " 'ports': [{" VM1 ", 'qos': %s}]}",
                           qos);
    struct state *s = parse_ok(text);

    free(text);
    return s;
}

static void
parse_qos_fails(const char *qos, const char *want)
{
    char *text = xasprintf("{" HOST ", 'networks': [" BLUE "],"
                           " 'ports': [{" VM1 ", 'qos': %s}]}",
                           qos);

    parse_fails(text, want);
    free(text);
}

/* A port's QoS: rates and bursts as given, DSCP marking, and nothing at
 * all without a "qos" object. */
static void
test_qos(void **state)
{
    struct state *s;

    s = parse_qos_ok("{'egress_rate': 100000000, 'egress_burst': 200000,"
                     " 'ingress_rate': 10000000000000,"
                     " 'ingress_burst': 4294967295, 'dscp': 46}");
    assert_int_equal(s->ports[0].qos.egress_rate, 100000000);
    assert_int_equal(s->ports[0].qos.egress_burst, 200000);
    assert_int_equal(s->ports[0].qos.ingress_rate, 10000000000000ULL);
    assert_int_equal(s->ports[0].qos.ingress_burst, 4294967295U);
    assert_int_equal(s->ports[0].qos.dscp, 46);
    assert_true(state_qos_is_set(&s->ports[0].qos));
    state_destroy(s);

    s = parse_qos_ok("{'dscp': 0}");
    assert_int_equal(s->ports[0].qos.egress_rate, 0);
    assert_int_equal(s->ports[0].qos.ingress_rate, 0);
    assert_int_equal(s->ports[0].qos.dscp, 0);
    assert_true(state_qos_is_set(&s->ports[0].qos));
    state_destroy(s);

    s = parse_qos_ok("{}");
    assert_int_equal(s->ports[0].qos.dscp, STATE_DSCP_KEEP);
    assert_false(state_qos_is_set(&s->ports[0].qos));
    state_destroy(s);

    s = parse_ok("{" HOST ", 'networks': [" BLUE "], 'ports': [{" VM1 "}]}");
    assert_int_equal(s->ports[0].qos.dscp, STATE_DSCP_KEEP);
    assert_false(state_qos_is_set(&s->ports[0].qos));
    state_destroy(s);
}

/* Egress guarantees and priorities, and the host's uplink rate: absent,
 * the priority is 4 and the uplink the device's speed or 10 Gbit/s. */
static void
test_qos_shaping(void **state)
{
    struct state *s;

    s = parse_qos_ok("{'egress_rate': 100000000,"
                     " 'egress_min_rate': 100000000, 'egress_priority': 0}");
    assert_int_equal(s->ports[0].qos.egress_min_rate, 100000000);
    assert_int_equal(s->ports[0].qos.egress_priority, 0);
    assert_true(state_qos_is_shaped(&s->ports[0].qos));
    assert_int_equal(state_uplink_rate(s, 0), 10000000000ULL);
    assert_int_equal(state_uplink_rate(s, 25000000000ULL), 25000000000ULL);
    state_destroy(s);

    s = parse_qos_ok("{'egress_min_rate': 300000000}");
    assert_int_equal(s->ports[0].qos.egress_rate, 0);
    assert_int_equal(s->ports[0].qos.egress_priority, 4);
    assert_true(state_qos_is_shaped(&s->ports[0].qos));
    state_destroy(s);

    s = parse_qos_ok("{'egress_priority': 7}");
    assert_true(state_qos_is_shaped(&s->ports[0].qos));
    state_destroy(s);

    s = parse_qos_ok("{'dscp': 1}");
    assert_int_equal(s->ports[0].qos.egress_priority, 4);
    assert_false(state_qos_is_shaped(&s->ports[0].qos));
    state_destroy(s);

    s = parse_ok("{'host': {'vtep': '192.168.100.1', 'underlay': 'eth0',"
                 " 'uplink_rate': 400000000}}");
    assert_int_equal(s->host.uplink_rate, 400000000);
    assert_int_equal(state_uplink_rate(s, 10000000000ULL), 400000000);
    state_destroy(s);

    parse_qos_fails("{'egress_rate': 100000000,"
                    " 'egress_min_rate': 100000001}",
                    "ports[0].qos.egress_min_rate: 100000001 is more than "
                    "\"egress_rate\" 100000000 (expected a guarantee no "
                    "higher than the limit)");
    parse_qos_fails("{'egress_min_rate': 0}",
                    "ports[0].qos.egress_min_rate: 0 is out of range "
                    "8..10000000000000 (bits per second)");
    parse_qos_fails("{'egress_priority': 8}",
                    "ports[0].qos.egress_priority: 8 is out of range 0..7");
    parse_qos_fails("{'egress_priority': 'high'}",
                    "ports[0].qos.egress_priority: expected an integer");
    parse_fails("{'host': {'vtep': '192.168.100.1', 'underlay': 'eth0',"
                " 'uplink_rate': 1000}}",
                "host.uplink_rate: 1000 is out of range "
                "1000000..10000000000000 (bits per second)");
    parse_fails("{'host': {'vtep': '192.168.100.1', 'underlay': 'eth0',"
                " 'uplink_rate': '10gbit'}}",
                "host.uplink_rate: expected an integer");
}

/* A rate without a burst gets 100 ms of the rate, but at least 64 KiB. */
static void
test_qos_default_burst(void **state)
{
    struct state *s;

    s = parse_qos_ok("{'egress_rate': 1000000000, 'ingress_rate': 1000000}");
    assert_int_equal(s->ports[0].qos.egress_burst, 12500000);
    assert_int_equal(s->ports[0].qos.ingress_burst, 65536);
    state_destroy(s);

    assert_int_equal(state_default_burst(8), 65536);
    assert_int_equal(state_default_burst(100000000), 1250000);
    assert_int_equal(state_default_burst(5000000), 65536);
    assert_int_equal(state_default_burst(6000000), 75000);
    assert_int_equal(state_default_burst(10000000000000ULL), 4294967295U);
}

/* Mistakes in "qos" are named by their path. */
static void
test_qos_errors(void **state)
{
    parse_qos_fails("{'egress_rate': 0}",
                    "ports[0].qos.egress_rate: 0 is out of range "
                    "8..10000000000000 (bits per second)");
    parse_qos_fails("{'ingress_rate': 10000000000001}",
                    "ports[0].qos.ingress_rate: 10000000000001 is out of "
                    "range");
    parse_qos_fails("{'egress_rate': 1000000, 'egress_burst': 0}",
                    "ports[0].qos.egress_burst: 0 is out of range "
                    "1..4294967295 (bytes)");
    parse_qos_fails("{'ingress_burst': 100000}",
                    "ports[0].qos.ingress_burst: a burst without a rate");
    parse_qos_fails("{'dscp': 64}", "ports[0].qos.dscp: 64 is out of range "
                                    "0..63");
    parse_qos_fails("{'egress_rate': '100mbit'}",
                    "ports[0].qos.egress_rate: expected an integer");
    parse_qos_fails("{'egress_rate': 1e8}",
                    "ports[0].qos.egress_rate: expected an integer");
    parse_qos_fails("{'min_rate': 1000}",
                    "ports[0].qos.min_rate: unknown key");
    parse_qos_fails("100", "ports[0].qos: expected an object");
}

/* A document with the firewall: identities of local ports with their
 * rules, identities of remote endpoints, network default actions. */
#define FW_DOC(IDENTITIES)                                                    \
    "{" HOST ", 'networks': [{'name': 'blue', 'vni': 100,"                    \
    "                          'default_action': 'deny'}, " RED "],"          \
    " 'ports': [{'name': 'web1', 'network': 'blue',"                          \
    "            'mac': '02:00:00:00:01:01', 'ip': '10.0.0.2',"               \
    "            'identity': 300}],"                                          \
    " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:02:01',"            \
    "              'ip': '10.0.0.3', 'vtep': '192.168.100.2',"                \
    "              'identity': 301}],"                                        \
    " 'identities': [" IDENTITIES "]}"

#define WEB_RULE(MORE)                                                        \
    "{'id': 300, 'groups': ['web'], 'governs': ['ingress', 'egress'],"        \
    " 'rules': [{'id': 7, 'group': 'web', 'direction': 'egress',"             \
    "            'protocol': 'tcp', 'action': 'allow'" MORE "}]}"

static void
test_firewall(void **state)
{
    struct state *s = parse_ok(FW_DOC(
        "{'id': 300, 'groups': ['web', 'ssh'],"
        " 'governs': ['ingress', 'egress'],"
        " 'rules': ["
        "  {'id': 7, 'group': 'web', 'direction': 'egress',"
        "   'protocol': 'tcp', 'ports': [5432, 5432],"
        "   'peer_identities': [301, 305], 'action': 'allow', 'log': false},"
        "  {'id': 9, 'group': 'web', 'direction': 'ingress',"
        "   'protocol': 'any', 'peer_cidrs': ['192.0.2.0/24', 'fd00::/8'],"
        "   'action': 'deny', 'log': true},"
        "  {'id': 11, 'group': 'ssh', 'direction': 'ingress',"
        "   'protocol': 'icmp', 'icmp_type': 8, 'action': 'allow'},"
        "  {'id': 12, 'direction': 'ingress', 'protocol': 'udp',"
        "   'peer_identities': [], 'action': 'allow'}]},"
        "{'id': 400, 'governs': []}"));
    const struct state_identity *id;
    const struct state_rule *r;
    uint32_t net;

    assert_true(s->networks[0].default_deny);
    assert_false(s->networks[1].default_deny);
    assert_int_equal(s->ports[0].identity, 300);
    assert_int_equal(s->remotes[0].identity, 301);
    assert_int_equal(s->n_identities, 2);
    id = state_find_identity(s, 300);
    assert_ptr_equal(id, &s->identities[0]);
    assert_null(state_find_identity(s, 301));
    assert_null(state_find_identity(s, 0));
    assert_int_equal(id->n_groups, 2);
    assert_string_equal(id->groups[1], "ssh");
    assert_int_equal(id->governs, STATE_GOVERNS(POLICY_INGRESS)
                                      | STATE_GOVERNS(POLICY_EGRESS));
    assert_int_equal(id->n_rules, 4);

    r = &id->rules[0];
    assert_int_equal(r->id, 7);
    assert_string_equal(r->group, "web");
    assert_int_equal(r->direction, POLICY_EGRESS);
    assert_int_equal(r->proto, 6);
    assert_true(r->has_ports);
    assert_int_equal(r->port_lo, 5432);
    assert_int_equal(r->port_hi, 5432);
    assert_false(r->has_icmp_type);
    assert_int_equal(r->peer, STATE_PEER_IDENTITIES);
    assert_int_equal(r->n_peer_identities, 2);
    assert_int_equal(r->peer_identities[1], 305);
    assert_int_equal(r->action, POLICY_ALLOW);
    assert_false(r->log);

    r = &id->rules[1];
    assert_int_equal(r->direction, POLICY_INGRESS);
    assert_int_equal(r->proto, 0);
    assert_false(r->has_ports);
    assert_int_equal(r->peer, STATE_PEER_CIDRS);
    assert_int_equal(r->n_cidrs, 2);
    assert_int_equal(r->cidrs[0].family, 4);
    assert_int_equal(r->cidrs[0].prefix_len, 24);
    net = inet_addr("192.0.2.0");
    assert_memory_equal(r->cidrs[0].addr, &net, 4);
    assert_int_equal(r->cidrs[1].family, 6);
    assert_int_equal(r->cidrs[1].prefix_len, 8);
    assert_int_equal(r->cidrs[1].addr[0], 0xfd);
    assert_int_equal(r->action, POLICY_DENY);
    assert_true(r->log);

    r = &id->rules[2];
    assert_int_equal(r->proto, 1);
    assert_true(r->has_icmp_type);
    assert_int_equal(r->icmp_type, 8);
    assert_int_equal(r->peer, STATE_PEER_ANY);

    r = &id->rules[3];
    assert_null(r->group);
    assert_int_equal(r->peer, STATE_PEER_IDENTITIES);
    assert_int_equal(r->n_peer_identities, 0);

    assert_int_equal(s->identities[1].id, 400);
    assert_int_equal(s->identities[1].governs, 0);
    assert_int_equal(s->identities[1].n_rules, 0);
    state_destroy(s);
}

/* Without the firewall's keys nothing is firewalled. */
static void
test_firewall_defaults(void **state)
{
    struct state *s = parse_ok("{" HOST ", 'networks': [" BLUE "],"
                               " 'ports': [{'name': 'vm1', 'network': 'blue',"
                               "            'mac': '02:00:00:00:01:01'}],"
                               " 'remotes': [{'network': 'blue',"
                               "              'mac': '02:00:00:00:02:01',"
                               "              'vtep': '192.168.100.2'}]}");

    assert_false(s->networks[0].default_deny);
    assert_int_equal(s->ports[0].identity, 0);
    assert_int_equal(s->remotes[0].identity, 0);
    assert_int_equal(s->n_identities, 0);
    state_destroy(s);
}

/* Every mistake in the firewall's keys is named by its path. */
static void
test_firewall_errors(void **state)
{
    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': 100,"
                "  'default_action': 'reject'}]}",
                "networks[0].default_action: \"reject\": expected \"allow\" "
                "or \"deny\"");
    parse_fails("{" HOST ", 'networks': [{'name': 'blue', 'vni': 100,"
                "  'default_action': true}]}",
                "networks[0].default_action: expected \"allow\" or "
                "\"deny\", got a boolean");
    parse_fails(FW_DOC(""), "ports[0].identity: 300 is not in "
                            "\"identities\"");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'vm1', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01', 'identity': 255}]}",
                "ports[0].identity: 255 is not a group identity (expected 0 "
                "for no group, or 256..49151)");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:02:01',"
                "              'vtep': '192.168.100.2', 'identity': 49152}]}",
                "remotes[0].identity: 49152 is not a group identity");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:02:01',"
                "              'vtep': '192.168.100.2', 'identity': '301'}]}",
                "remotes[0].identity: expected an integer, 0 for no group, "
                "or 256..49151, got a string");
    parse_fails("{" HOST ", 'identities': {}}",
                "identities: expected an array of objects, got an object");
    parse_fails("{" HOST ", 'identities': [1]}",
                "identities[0]: expected an object, got an integer");
    parse_fails(FW_DOC("{'id': 300, 'governs': [], 'colour': 1}"),
                "identities[0].colour: unknown key");
    parse_fails(FW_DOC("{'governs': []}"),
                "identities[0].id: missing (expected an integer "
                "256..49151)");
    parse_fails(FW_DOC("{'id': 100, 'governs': []}"),
                "identities[0].id: 100 is out of range 256..49151");
    parse_fails(FW_DOC("{'id': 300, 'governs': []}, "
                       "{'id': 300, 'governs': []}"),
                "identities[1].id: 300 is already used by identities[0]");
    parse_fails(FW_DOC("{'id': 300}"),
                "identities[0].governs: missing (expected an array of "
                "\"ingress\" and \"egress\")");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['in']}"),
                "identities[0].governs[0]: \"in\": expected \"ingress\" or "
                "\"egress\"");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress', 'egress']}"),
                "identities[0].governs[1]: \"egress\" is listed twice");
    parse_fails(FW_DOC("{'id': 300, 'governs': [], 'groups': [1]}"),
                "identities[0].groups[0]: expected a group name, got an "
                "integer");
    parse_fails(FW_DOC("{'id': 300, 'governs': [], 'rules': {}}"),
                "identities[0].rules: expected an array of rule objects");
    parse_fails(FW_DOC("{'id': 300, 'governs': [], 'rules': [true]}"),
                "identities[0].rules[0]: expected an object, got a boolean");
    parse_fails(FW_DOC(WEB_RULE(", 'peer': 'db'")),
                "identities[0].rules[0].peer: unknown key");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'direction': 'egress',"
                       "  'protocol': 'tcp', 'action': 'allow'}]}"),
                "identities[0].rules[0].id: missing (expected an integer "
                "1..4294967295)");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 0, 'direction': 'egress',"
                       "  'protocol': 'tcp', 'action': 'allow'}]}"),
                "identities[0].rules[0].id: 0 is out of range");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'direction': 'egress',"
                       "  'protocol': 'tcp', 'action': 'allow'},"
                       " {'id': 7, 'direction': 'egress',"
                       "  'protocol': 'udp', 'action': 'allow'}]}"),
                "identities[0].rules[1].id: 7 is already used by "
                "identities[0].rules[0]");
    parse_fails(FW_DOC(WEB_RULE(", 'group': 'db'")), "duplicate");
    parse_fails(FW_DOC("{'id': 300, 'groups': ['web'], 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'group': 'db',"
                       "  'direction': 'egress', 'protocol': 'tcp',"
                       "  'action': 'allow'}]}"),
                "identities[0].rules[0].group: \"db\" is not one of the "
                "identity's \"groups\"");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'protocol': 'tcp',"
                       "  'action': 'allow'}]}"),
                "identities[0].rules[0].direction: missing (expected "
                "\"ingress\" or \"egress\")");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'direction': 'ingress',"
                       "  'protocol': 'tcp', 'action': 'allow'}]}"),
                "identities[0].rules[0].direction: \"ingress\", which the "
                "identity does not govern");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'direction': 'egress',"
                       "  'protocol': 'sctp', 'action': 'allow'}]}"),
                "identities[0].rules[0].protocol: \"sctp\": expected "
                "\"tcp\", \"udp\", \"icmp\", \"icmpv6\" or \"any\"");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'direction': 'egress',"
                       "  'protocol': 'tcp', 'action': 'drop'}]}"),
                "identities[0].rules[0].action: \"drop\": expected "
                "\"allow\" or \"deny\"");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'direction': 'egress',"
                       "  'protocol': 'tcp'}]}"),
                "identities[0].rules[0].action: missing");
    parse_fails(FW_DOC(WEB_RULE(", 'log': 1")),
                "identities[0].rules[0].log: expected true or false, got "
                "an integer");
    parse_fails(FW_DOC(WEB_RULE(", 'ports': [80]")),
                "identities[0].rules[0].ports: expected an array [LO, HI] "
                "of ports 0..65535, LO <= HI");
    parse_fails(FW_DOC(WEB_RULE(", 'ports': [90, 80]")),
                "identities[0].rules[0].ports: [90, 80] is not a port range");
    parse_fails(FW_DOC(WEB_RULE(", 'ports': [1, 65536]")),
                "identities[0].rules[0].ports: [1, 65536] is not a port "
                "range");
    parse_fails(FW_DOC(WEB_RULE(", 'ports': '80'")),
                "identities[0].rules[0].ports: expected an array [LO, HI]");
    parse_fails(FW_DOC(WEB_RULE(", 'icmp_type': 8")),
                "identities[0].rules[0].icmp_type: only \"icmp\" and "
                "\"icmpv6\" rules have an ICMP type");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'direction': 'egress',"
                       "  'protocol': 'icmp', 'ports': [1, 2],"
                       "  'action': 'allow'}]}"),
                "identities[0].rules[0].ports: only \"tcp\" and \"udp\" "
                "rules have ports");
    parse_fails(FW_DOC("{'id': 300, 'governs': ['egress'],"
                       " 'rules': [{'id': 7, 'direction': 'egress',"
                       "  'protocol': 'icmpv6', 'icmp_type': 256,"
                       "  'action': 'allow'}]}"),
                "identities[0].rules[0].icmp_type: 256 is out of range "
                "0..255");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_identities': [301],"
                                " 'peer_cidrs': ['10.0.0.0/8']")),
                "identities[0].rules[0]: both \"peer_identities\" and "
                "\"peer_cidrs\"");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_identities': 301")),
                "identities[0].rules[0].peer_identities: expected an array "
                "of identities 256..49151, got an integer");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_identities': [301, 7]")),
                "identities[0].rules[0].peer_identities[1]: 7 is out of "
                "range 256..49151");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_identities': ['web']")),
                "identities[0].rules[0].peer_identities[0]: expected an "
                "identity 256..49151, got a string");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': []")),
                "identities[0].rules[0].peer_cidrs: empty (expected at "
                "least one CIDR");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': [24]")),
                "identities[0].rules[0].peer_cidrs[0]: expected a CIDR "
                "string, got an integer");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': ['10.0.0.0']")),
                "identities[0].rules[0].peer_cidrs[0]: \"10.0.0.0\": not a "
                "CIDR (expected ADDRESS/LENGTH");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': ['10.0.0.300/8']")),
                "peer_cidrs[0]: \"10.0.0.300/8\": not a CIDR: bad IPv4 "
                "address");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': ['fd00::zz/8']")),
                "peer_cidrs[0]: \"fd00::zz/8\": not a CIDR: bad IPv6 "
                "address");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': ['10.0.0.0/33']")),
                "peer_cidrs[0]: \"10.0.0.0/33\": bad prefix length "
                "(expected 0..32 after the '/')");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': ['fd00::/129']")),
                "(expected 0..128 after the '/')");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': ['10.0.0.0/x']")),
                "bad prefix length");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': ['10.0.0.1/8']")),
                "peer_cidrs[0]: \"10.0.0.1/8\": host bits are set");
    parse_fails(FW_DOC(WEB_RULE(", 'peer_cidrs': ['fd00::1/64']")),
                "peer_cidrs[0]: \"fd00::1/64\": host bits are set");
}

static void
test_all_errors_reported(void **state)
{
    size_t n = parse_fails(
        "{'host': {'vtep': '192.168.100.1', 'underlay': 'eth0', 'ttl': 0},"
        " 'networks': [{'name': 'blue', 'vni': 0}, " RED "],"
        " 'ports': [{'name': 'vm1', 'network': 'red', 'mac': '02:00:zz'},"
        "           {'name': 'vm2', 'network': 'pink',"
        "            'mac': '02:00:00:00:01:02'}],"
        " 'remotes': [{'network': 'red', 'mac': '01:00:00:00:00:01',"
        "              'vtep': '192.168.100.2', 'extra': 1}]}",
        "host.ttl: 0 is out of range");

    assert_int_equal(n, 6);
}

/* Parses 'text' (single-quoted) with state_from_json_partial() and
 * 'underlay_mtu', expecting a model. */
static struct state *
parse_partial(const char *text, uint32_t underlay_mtu)
{
    struct state_errors errors;
    char *json = doc(text);
    json_t *root = json_loads(json, 0, NULL);
    struct state *s = NULL;

    assert_non_null(root);
    state_errors_init(&errors);
    assert_int_equal(state_from_json_partial(root, underlay_mtu, &s, &errors),
                     0);
    assert_int_equal(errors.n, 0);
    assert_non_null(s);
    state_errors_destroy(&errors);
    json_decref(root);
    free(json);
    return s;
}

/* Fails unless 's' left out element 'name' of 'kind' for a reason that
 * contains 'want'. */
static void
assert_skipped(const struct state *s, enum state_kind kind, const char *name,
               const char *want)
{
    for (size_t i = 0; i < s->n_skipped; i++) {
        if (s->skipped[i].kind == kind && !strcmp(s->skipped[i].name, name)) {
            if (!strstr(s->skipped[i].reason, want)) {
                fail_msg("%s %s: reason \"%s\" lacks \"%s\"",
                         state_kind_name(kind), name, s->skipped[i].reason,
                         want);
            }
            return;
        }
    }
    fail_msg("%s %s was not left out", state_kind_name(kind), name);
}

/* Returns the port named 'name' of 's', or NULL. */
static const struct state_port *
find_port(const struct state *s, const char *name)
{
    for (size_t i = 0; i < s->n_ports; i++) {
        if (!strcmp(s->ports[i].name, name)) {
            return &s->ports[i];
        }
    }
    return NULL;
}

/* A VM and the port its NIC is, as the controller writes them. */
#define VM_PORT                                                               \
    "{'name': 'web1-0', 'network': 'blue', 'device': 'fv1a2b3c4d0',"          \
    " 'mac': '02:00:00:00:01:01', 'ip': '10.0.0.1'}"
#define VM_UUID "1a2b3c4d-0000-4000-8000-000000000001"
#define VM_NIC                                                                \
    "{'port': 'web1-0', 'device': 'fv1a2b3c4d0', 'mac': '02:00:00:00:01:01'," \
    " 'mtu': 1450}"
#define VM_DISK                                                               \
    "'disk': {'file': 'vms/" VM_UUID ".qcow2', 'image': 'images/tiny.qcow2'}"

/* Returns a document with port VM_PORT and one VM whose members are
 * 'members' (after "name"), single-quoted.  The caller frees it. */
static char *
vm_doc(const char *members)
{
    return xasprintf("{" HOST ", 'networks': [" BLUE "], 'ports': [" VM_PORT
                     "], 'vms': [{'name': 'web1', %s}]}",
                     members);
}

static size_t
vm_fails(const char *members, const char *want)
{
    char *text = vm_doc(members);
    size_t n = parse_fails(text, want);

    free(text);
    return n;
}

/* A VM as doc/vms.md writes it: every member parsed, the seed's too. */
static void
test_vms(void **state)
{
    struct state *s = parse_ok(
        "{" HOST ", 'networks': [" BLUE "], 'ports': [" VM_PORT "],"
        " 'vms': [{'name': 'web1', 'uuid': '" VM_UUID "', 'vcpus': 2,"
        "          'memory_mb': 256, 'power': 'stopped', 'boot': 3,"
        "          'disk': {'file': 'vms/" VM_UUID ".qcow2',"
        "                   'image': 'images/tiny.qcow2', 'size_gb': 2},"
        "          'seed': {'file': 'vms/" VM_UUID ".seed.iso',"
        "                   'hostname': 'web1',"
        "                   'ssh_keys': ['ssh-ed25519 AAAA a@b', 'k2'],"
        "                   'user_data': '#cloud-config\\nruncmd: []\\n'},"
        "          'nics': [" VM_NIC "]},"
        "         {'name': 'db1', 'uuid': "
        "'1a2b3c4d-0000-4000-8000-00000000000f',"
        "          'vcpus': 1, 'memory_mb': 128,"
        "          'disk': {'file': 'vms/db1.qcow2',"
        "                   'image': 'images/sub/tiny.raw'}}]}");
    const struct state_vm *vm = state_find_vm(s, "web1");

    assert_int_equal(s->n_vms, 2);
    assert_non_null(vm);
    assert_string_equal(vm->uuid, VM_UUID);
    assert_int_equal(vm->vcpus, 2);
    assert_int_equal(vm->memory_mb, 256);
    assert_false(vm->running);
    assert_int_equal(vm->boot, 3);
    assert_string_equal(vm->disk, "vms/" VM_UUID ".qcow2");
    assert_string_equal(vm->image, "images/tiny.qcow2");
    assert_int_equal(vm->disk_gb, 2);
    assert_string_equal(vm->seed, "vms/" VM_UUID ".seed.iso");
    assert_string_equal(vm->hostname, "web1");
    assert_int_equal(vm->n_ssh_keys, 2);
    assert_string_equal(vm->ssh_keys[0], "ssh-ed25519 AAAA a@b");
    assert_string_equal(vm->user_data, "#cloud-config\nruncmd: []\n");
    assert_int_equal(vm->n_nics, 1);
    assert_string_equal(vm->nics[0].port, "web1-0");
    assert_string_equal(vm->nics[0].device, "fv1a2b3c4d0");
    assert_int_equal(vm->nics[0].mac[5], 1);
    assert_int_equal(vm->nics[0].mtu, 1450);

    /* Defaults: running, no reboot asked, no seed, no NIC, the image's
     * size. */
    vm = state_find_vm(s, "db1");
    assert_non_null(vm);
    assert_true(vm->running);
    assert_int_equal(vm->boot, 0);
    assert_null(vm->seed);
    assert_null(vm->hostname);
    assert_int_equal(vm->n_nics, 0);
    assert_int_equal(vm->disk_gb, 0);
    assert_null(state_find_vm(s, "web2"));
    assert_false(state_vm_is_skipped(s, "web1"));
    /* HA is on unless the document says "off". */
    assert_true(vm->ha);
    state_destroy(s);
}

/* A VM's "ha", and the VMs that moved to another host (doc/mobility.md). */
static void
test_vm_ha_and_moved(void **state)
{
    struct state *s = parse_ok(
        "{" HOST ", 'vms': [{'name': 'db1', 'uuid': '" VM_UUID "',"
        " 'vcpus': 1, 'memory_mb': 128, 'ha': 'off', " VM_DISK "}],"
        " 'moved_vms': {'web1': '1a2b3c4d-0000-4000-8000-00000000000f'}}");

    assert_false(state_find_vm(s, "db1")->ha);
    assert_int_equal(s->n_moved_vms, 1);
    assert_string_equal(state_find_moved_vm(s, "web1")->uuid,
                        "1a2b3c4d-0000-4000-8000-00000000000f");
    assert_null(state_find_moved_vm(s, "db1"));
    state_destroy(s);

    vm_fails("'uuid': '" VM_UUID "', 'vcpus': 1, 'memory_mb': 64, 'ha': "
             "'sometimes', " VM_DISK,
             "vms[0].ha: \"sometimes\": expected \"restart\" or \"off\"");
    parse_fails("{" HOST ", 'moved_vms': ['web1']}",
                "moved_vms: expected an object {VM name: UUID}, got an array");
    parse_fails("{" HOST ", 'moved_vms': {'web1': 'nope'}}",
                "moved_vms.web1: expected a UUID");
    parse_fails("{" HOST ", 'moved_vms': {'Web 1': '" VM_UUID "'}}",
                "moved_vms: \"Web 1\": not a VM name");
}

/* Every member of a VM is checked, and a file can never be outside the
 * storage directory, nor a disk or seed among the images. */
static void
test_vm_errors(void **state)
{
    char *m, *big;

#define VM_BASE "'uuid': '" VM_UUID "', 'vcpus': 1, 'memory_mb': 64"
    vm_fails("'vcpus': 1, 'memory_mb': 64, " VM_DISK,
             "vms[0].uuid: missing (expected a string, a UUID)");
    vm_fails("'uuid': '1a2b3c4d-0000-4000-8000-00000000000', 'vcpus': 1,"
             " 'memory_mb': 64, " VM_DISK,
             "vms[0].uuid: \"1a2b3c4d-0000-4000-8000-00000000000\": not a "
             "UUID (expected 8-4-4-4-12 lower-case hex digits)");
    vm_fails("'uuid': '1A2B3C4D-0000-4000-8000-000000000001', 'vcpus': 1,"
             " 'memory_mb': 64, " VM_DISK,
             "vms[0].uuid: \"1A2B3C4D-0000-4000-8000-000000000001\": not a "
             "UUID (expected 8-4-4-4-12 lower-case hex digits)");
    vm_fails(VM_BASE, "vms[0].disk: missing");
    vm_fails("'uuid': '" VM_UUID "', 'vcpus': 0, 'memory_mb': 64, " VM_DISK,
             "vms[0].vcpus: 0 is out of range 1..1024");
    vm_fails("'uuid': '" VM_UUID "', 'vcpus': 1, " VM_DISK,
             "vms[0].memory_mb: missing");
    vm_fails("'uuid': '" VM_UUID "', 'vcpus': 1, 'memory_mb': 0, " VM_DISK,
             "vms[0].memory_mb: 0 is out of range 1..16777216 (MiB)");
    vm_fails("'uuid': '" VM_UUID "', 'vcpus': 1, 'memory_mb': 10485760000,"
             " " VM_DISK,
             "vms[0].memory_mb: 10485760000 is out of range");
    vm_fails(VM_BASE ", 'power': 'off', " VM_DISK,
             "vms[0].power: \"off\": expected \"running\" or \"stopped\"");
    vm_fails(VM_BASE ", 'boot': -1, " VM_DISK,
             "vms[0].boot: -1 is out of range");
    vm_fails(VM_BASE ", 'cdrom': 'x', " VM_DISK, "vms[0].cdrom: unknown key");

    /* Files. */
    vm_fails(VM_BASE ", 'disk': {'file': '/etc/shadow',"
                     " 'image': 'images/tiny.qcow2'}",
             "vms[0].disk.file: \"/etc/shadow\": expected a file name under "
             "\"vms/\"");
    vm_fails(VM_BASE ", 'disk': {'file': 'vms/../images/tiny.qcow2',"
                     " 'image': 'images/tiny.qcow2'}",
             "vms[0].disk.file: \"vms/../images/tiny.qcow2\"");
    vm_fails(VM_BASE ", 'disk': {'file': 'images/tiny.qcow2',"
                     " 'image': 'images/tiny.qcow2'}",
             "vms[0].disk.file: \"images/tiny.qcow2\": expected a file name "
             "under \"vms/\"");
    vm_fails(VM_BASE ", 'disk': {'file': 'vms/', 'image': 'images/t'}",
             "vms[0].disk.file: \"vms/\"");
    vm_fails(VM_BASE ", 'disk': {'file': 'vms/a//b', 'image': 'images/t'}",
             "vms[0].disk.file: \"vms/a//b\"");
    vm_fails(VM_BASE ", 'disk': {'file': 'vms/a/', 'image': 'images/t'}",
             "vms[0].disk.file: \"vms/a/\"");
    vm_fails(VM_BASE ", 'disk': {'file': 'vms/a', 'image': 'vms/b'}",
             "vms[0].disk.image: \"vms/b\": expected a file name under "
             "\"images/\"");
    vm_fails(VM_BASE ", 'disk': {'file': 'vms/a b', 'image': 'images/t'}",
             "vms[0].disk.file: \"vms/a b\"");
    vm_fails(VM_BASE ", 'disk': {'file': 'vms/a', 'image': 'images/t',"
                     " 'size_gb': 0}",
             "vms[0].disk.size_gb: 0 is out of range 1..1048576 (GiB)");
    vm_fails(VM_BASE ", " VM_DISK ", 'seed': {'file': 'images/s.iso'}",
             "vms[0].seed.file: \"images/s.iso\": expected a file name "
             "under \"vms/\"");
    vm_fails(VM_BASE ", " VM_DISK ", 'seed': {'hostname': 'h'}",
             "vms[0].seed.file: missing");
    vm_fails(VM_BASE ", " VM_DISK ", 'seed': {'file': 'vms/" VM_UUID
                     ".qcow2'}",
             "vms[0].disk.file or seed.file: \"vms/" VM_UUID
             ".qcow2\" is already used by vms[0]");
    vm_fails(VM_BASE ", " VM_DISK ", 'seed': {'file': 'vms/s',"
                     " 'hostname': 'a\\nb'}",
             "vms[0].seed.hostname: \"a\\nb\": not a valid name");
    vm_fails(VM_BASE ", " VM_DISK ", 'seed': {'file': 'vms/s',"
                     " 'ssh_keys': ['k1\\nk2']}",
             "vms[0].seed.ssh_keys[0]: expected a string of at most 16384 "
             "bytes on one line, with no NUL");
    vm_fails(VM_BASE ", " VM_DISK ", 'seed': {'file': 'vms/s',"
                     " 'ssh_keys': [7]}",
             "vms[0].seed.ssh_keys[0]: expected a string, got an integer");
    big = xzalloc(STATE_MAX_USER_DATA + 2);
    memset(big, 'x', STATE_MAX_USER_DATA + 1);
    m = xasprintf(VM_BASE ", " VM_DISK ", 'seed': {'file': 'vms/s',"
                          " 'user_data': '%s'}",
                  big);
    vm_fails(m, "vms[0].seed.user_data: expected a string of at most 65536 "
                "bytes, with no NUL");
    free(m);
    free(big);

    /* NICs: ports of the document, as the document has them. */
    vm_fails(VM_BASE ", " VM_DISK ", 'nics': [{'port': 'web2-0',"
                     " 'device': 'fv1a2b3c4d0', 'mac': '02:00:00:00:01:01'}]",
             "vms[0].nics[0].port: \"web2-0\": no such port");
    vm_fails(VM_BASE ", " VM_DISK ", 'nics': [{'port': 'web1-0',"
                     " 'device': 'fv1a2b3c4d1', 'mac': '02:00:00:00:01:01'}]",
             "vms[0].nics[0].device: \"fv1a2b3c4d1\", but port \"web1-0\" "
             "has device \"fv1a2b3c4d0\"");
    vm_fails(VM_BASE ", " VM_DISK ", 'nics': [{'port': 'web1-0',"
                     " 'device': 'fv1a2b3c4d0', 'mac': '02:00:00:00:01:02'}]",
             "vms[0].nics[0].mac: port \"web1-0\" has MAC 02:00:00:00:01:01");
    vm_fails(VM_BASE ", " VM_DISK ", 'nics': [" VM_NIC ", " VM_NIC "]",
             "vms[0].nics: \"web1-0\" is already used by vms[0]");
    vm_fails(VM_BASE ", " VM_DISK ", 'nics': [{'port': 'web1-0',"
                     " 'device': 'fv1a2b3c4d0', 'mac': '02:00:00:00:01:01',"
                     " 'mtu': 67}]",
             "vms[0].nics[0].mtu: 67 is out of range 68..65535");
    m = xasprintf(VM_BASE ", " VM_DISK ", 'nics': [%s]",
                  "{}, {}, {}, {}, {}, {}, {}, {}, {}");
    vm_fails(m, "vms[0].nics: 9 NICs (expected at most 8)");
    free(m);
#undef VM_BASE

    /* Two VMs of one name, UUID or disk. */
    parse_fails("{" HOST ", 'vms': [{'name': 'a', 'vcpus': 1,"
                " 'memory_mb': 1, " VM_DISK ", "
                "'uuid': '" VM_UUID "'},"
                " {'name': 'a', 'vcpus': 1, 'memory_mb': 1, " VM_DISK ", "
                "'uuid': '" VM_UUID "'}]}",
                "vms[1].name: \"a\" is already used by vms[0]");
    parse_fails("{" HOST ", 'vms': [{'name': 'a', 'vcpus': 1,"
                " 'memory_mb': 1, " VM_DISK ", "
                "'uuid': '" VM_UUID "'},"
                " {'name': 'b', 'vcpus': 1, 'memory_mb': 1, " VM_DISK ", "
                "'uuid': '" VM_UUID "'}]}",
                "vms[1].uuid: \"" VM_UUID "\" is already used by vms[0]");
}

/* Live migration (doc/mobility.md): "incoming" with the source's VTEP,
 * which a "standby" NIC port of the VM takes; "migrate" with its defaults;
 * "fabric_vteps".  Each malformed member is refused with its path. */
#define MIG_ID "9f0e1d2c-3b4a-4596-8877-665544332211"
#define MIG_VM                                                                \
    "'uuid': '" VM_UUID "', 'vcpus': 1, 'memory_mb': 64, " VM_DISK            \
    ", 'nics': [" VM_NIC "]"
static void
test_vm_migration(void **state)
{
    struct state *s = parse_ok(
        "{" HOST ", 'networks': [" BLUE "],"
        " 'ports': [{'name': 'web1-0', 'network': 'blue',"
        "            'device': 'fv1a2b3c4d0', 'mac': '02:00:00:00:01:01',"
        "            'standby': true},"
        "           {'name': 'db1-0', 'network': 'blue', 'device': 'fv2',"
        "            'mac': '02:00:00:00:01:02'}],"
        " 'vms': [{'name': 'web1', " MIG_VM ","
        "          'incoming': {'id': '" MIG_ID "', 'from': 'host-a',"
        "                       'from_vtep': '192.168.100.1'}},"
        "         {'name': 'db1', 'uuid': "
        "'1a2b3c4d-0000-4000-8000-00000000000f', 'vcpus': 1,"
        "          'memory_mb': 64,"
        "          'disk': {'file': 'vms/db1', 'image': 'images/t'},"
        "          'nics': [{'port': 'db1-0', 'device': 'fv2',"
        "                    'mac': '02:00:00:00:01:02'}],"
        "          'migrate': {'id': '" MIG_ID "', 'to': 'host-b',"
        "                      'to_vtep': '192.168.100.2',"
        "                      'uri': 'tcp:192.168.100.2:49152'}}],"
        " 'moved_vms': {'old1': '1a2b3c4d-0000-4000-8000-0000000000ee'}}");
    const struct state_vm *web1 = state_find_vm(s, "web1");
    const struct state_vm *db1 = state_find_vm(s, "db1");
    uint32_t vtep_a = htonl(0xc0a86401), vtep_b = htonl(0xc0a86402);

    assert_non_null(web1->incoming);
    assert_null(web1->migrate);
    assert_string_equal(web1->incoming->id, MIG_ID);
    assert_string_equal(web1->incoming->from, "host-a");
    assert_int_equal(web1->incoming->from_vtep, vtep_a);
    assert_true(s->ports[0].standby);
    assert_false(s->ports[0].activated);
    assert_int_equal(s->ports[0].standby_vtep, vtep_a);
    assert_int_equal(s->ports[0].forward_vtep, 0);
    assert_false(s->ports[1].standby);
    assert_int_equal(s->ports[1].standby_vtep, 0);

    assert_null(db1->incoming);
    assert_non_null(db1->migrate);
    assert_string_equal(db1->migrate->id, MIG_ID);
    assert_string_equal(db1->migrate->to, "host-b");
    assert_int_equal(db1->migrate->to_vtep, vtep_b);
    assert_string_equal(db1->migrate->uri, "tcp:192.168.100.2:49152");
    assert_int_equal(db1->migrate->downtime_ms, STATE_DEFAULT_DOWNTIME_MS);
    assert_int_equal(db1->migrate->max_bandwidth_mbps, 0);
    assert_true(db1->migrate->auto_converge);

    assert_int_equal(s->n_moved_vms, 1);
    state_destroy(s);

#define MIG_OUT                                                               \
    "'id': '" MIG_ID "', 'to': 'b', 'to_vtep': '192.168.100.2', "             \
    "'uri': 'tcp:192.168.100.2:1'"
    s = parse_ok("{" HOST ", 'networks': [" BLUE "], 'ports': [" VM_PORT "],"
                 " 'vms': [{'name': 'web1', " MIG_VM ", 'migrate': {" MIG_OUT
                 ", 'downtime_ms': 50, 'max_bandwidth_mbps': 100,"
                 " 'auto_converge': false}}]}");
    assert_int_equal(s->vms[0].migrate->downtime_ms, 50);
    assert_int_equal(s->vms[0].migrate->max_bandwidth_mbps, 100);
    assert_false(s->vms[0].migrate->auto_converge);
    state_destroy(s);

    vm_fails(MIG_VM ", 'incoming': {'id': '" MIG_ID "', 'from': 'a'}",
             "vms[0].incoming.from_vtep: missing");
    vm_fails(MIG_VM ", 'incoming': {'id': 'x', 'from': 'a',"
                    " 'from_vtep': '192.168.100.1'}",
             "vms[0].incoming.id: \"x\": not a UUID");
    vm_fails(MIG_VM ", 'incoming': {'id': '" MIG_ID "', 'from': 'a',"
                    " 'from_vtep': '127.0.0.1'}",
             "vms[0].incoming.from_vtep: \"127.0.0.1\": not a unicast");
    vm_fails(MIG_VM ", 'incoming': {'id': '" MIG_ID "', 'from': 'a',"
                    " 'from_vtep': '192.168.100.1', 'port': 1}",
             "vms[0].incoming.port: unknown key");
    vm_fails(MIG_VM ", 'incoming': true",
             "vms[0].incoming: expected an object");
    vm_fails(MIG_VM ", 'migrate': {'id': '" MIG_ID "', 'to': 'b',"
                    " 'to_vtep': '192.168.100.2'}",
             "vms[0].migrate.uri: missing");
    vm_fails(MIG_VM ", 'migrate': {'id': '" MIG_ID "', 'to': 'b',"
                    " 'to_vtep': '192.168.100.2', 'uri': 'udp:1.2.3.4:5'}",
             "vms[0].migrate.uri: \"udp:1.2.3.4:5\": expected "
             "\"tcp:A.B.C.D:PORT\"");
    vm_fails(MIG_VM ", 'migrate': {'id': '" MIG_ID "', 'to': 'b',"
                    " 'to_vtep': '192.168.100.2', 'uri': 'tcp:1.2.3.4:70000'}",
             "vms[0].migrate.uri: \"tcp:1.2.3.4:70000\"");
    vm_fails(MIG_VM ", 'migrate': {'id': '" MIG_ID "', 'to': 'b',"
                    " 'to_vtep': '192.168.100.2', 'uri': 'tcp:1.2.3.4:5x'}",
             "vms[0].migrate.uri: \"tcp:1.2.3.4:5x\"");
    vm_fails(MIG_VM ", 'migrate': {" MIG_OUT ", 'downtime_ms': 0}",
             "vms[0].migrate.downtime_ms: 0 is out of range 1..2000000");
    vm_fails(MIG_VM ", 'migrate': {" MIG_OUT ", 'max_bandwidth_mbps': -1}",
             "vms[0].migrate.max_bandwidth_mbps: -1 is out of range");
    vm_fails(MIG_VM ", 'migrate': {" MIG_OUT ", 'auto_converge': 1}",
             "vms[0].migrate.auto_converge: expected true or false");
    vm_fails(MIG_VM ", 'migrate': {" MIG_OUT "},"
                    " 'incoming': {'id': '" MIG_ID "', 'from': 'a',"
                    " 'from_vtep': '192.168.100.1'}",
             "vms[0].migrate: the VM is also \"incoming\"");
    parse_fails("{" HOST ", 'ports': [{'name': 'p', 'network': 'blue',"
                " 'mac': '02:00:00:00:01:01', 'standby': 'yes'}],"
                " 'networks': [" BLUE "]}",
                "ports[0].standby: expected true or false");
    /* The other fabric hosts to accept VXLAN from. */
    s = parse_ok("{" HOST ", 'fabric_vteps': ['192.168.100.7',"
                 " '192.168.100.8']}");
    assert_int_equal(s->n_fabric_vteps, 2);
    assert_int_equal(s->fabric_vteps[1], htonl(0xc0a86408));
    state_destroy(s);
    parse_fails("{" HOST ", 'fabric_vteps': '192.168.100.7'}",
                "fabric_vteps: expected an array of IPv4 addresses");
    parse_fails("{" HOST ", 'fabric_vteps': [7]}",
                "fabric_vteps[0]: expected a string, an IPv4 address");
    parse_fails("{" HOST ", 'fabric_vteps': ['224.0.0.1']}",
                "fabric_vteps[0]: not a unicast address");
    parse_fails("{" HOST ", 'fabric_vteps': ['192.168.100.1']}",
                "fabric_vteps[0]: this host's own VTEP");
#undef MIG_OUT
}

/* The source of a live migration, after the activation (doc/mobility.md
 * "forward"): the moved MACs, each with its VNI and where it went, which
 * must be neither a port's nor a remote's there, nor listed twice. */
#define FWD "{'vni': 100, 'mac': '02:00:00:00:01:01', 'vtep': '192.168.100.2'}"
static void
test_forward(void **state)
{
    struct state *s;

    (void) state;
    s = parse_ok("{" HOST ", 'networks': [" BLUE "],"
                 " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:01:02',"
                 "              'vtep': '192.168.100.3'}],"
                 " 'forward': [" FWD ", {'vni': 100,"
                 " 'mac': '02:00:00:00:01:03', 'vtep': '192.168.100.2'},"
                 " {'vni': 7, 'mac': '02:00:00:00:01:02',"
                 " 'vtep': '192.168.100.4'}]}");
    assert_int_equal(s->n_forwards, 3);
    assert_int_equal(s->forwards[0].vni, 100);
    assert_int_equal(s->forwards[0].mac[5], 1);
    assert_int_equal(s->forwards[0].vtep, htonl(0xc0a86402));
    /* The same MAC in another VNI is another MAC. */
    assert_int_equal(s->forwards[2].vni, 7);
    assert_int_equal(s->forwards[2].vtep, htonl(0xc0a86404));
    state_destroy(s);
    /* Without networks: the host may have none left. */
    s = parse_ok("{" HOST ", 'forward': [" FWD "]}");
    assert_int_equal(s->n_forwards, 1);
    state_destroy(s);

    parse_fails("{" HOST ", 'forward': " FWD "}",
                "forward: expected an array of objects");
    parse_fails("{" HOST ", 'forward': [7]}",
                "forward[0]: expected an object, got an integer");
    parse_fails("{" HOST ", 'forward': [{'vni': 100, 'mac': "
                "'02:00:00:00:01:01', 'vtep': '192.168.100.2', 'port': 'x'}]}",
                "forward[0].port: unknown key");
    parse_fails("{" HOST ", 'forward': [{'mac': '02:00:00:00:01:01',"
                " 'vtep': '192.168.100.2'}]}",
                "forward[0].vni: missing");
    parse_fails("{" HOST ", 'forward': [{'vni': 16777216, 'mac': "
                "'02:00:00:00:01:01', 'vtep': '192.168.100.2'}]}",
                "forward[0].vni: 16777216 is out of range 1..16777215");
    parse_fails("{" HOST ", 'forward': [{'vni': 100, 'mac': "
                "'03:00:00:00:01:01', 'vtep': '192.168.100.2'}]}",
                "forward[0].mac: \"03:00:00:00:01:01\": a multicast MAC");
    parse_fails("{" HOST ", 'forward': [{'vni': 100, 'mac': "
                "'02:00:00:00:01:01'}]}",
                "forward[0].vtep: missing");
    parse_fails("{" HOST ", 'forward': [{'vni': 100, 'mac': "
                "'02:00:00:00:01:01', 'vtep': '192.168.100.1'}]}",
                "forward[0].vtep: this host's own VTEP or an external VTEP");
    parse_fails("{" HOST ", 'forward': [" FWD ", " FWD "]}",
                "forward[1].mac: listed twice in VNI 100");
    /* A forwarded MAC is never a port's; it is a remote's too only at the
     * VTEP it went to (the remote gives its address and flooding). */
    s = parse_ok("{" HOST ", 'networks': [" BLUE "],"
                 " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:01:01',"
                 "              'vtep': '192.168.100.2'}],"
                 " 'forward': [" FWD "]}");
    assert_int_equal(s->n_forwards, 1);
    assert_int_equal(s->n_remotes, 1);
    assert_true(state_is_forwarded(s, 100, s->remotes[0].mac));
    state_destroy(s);
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:01:01',"
                "              'vtep': '192.168.100.3'}],"
                " 'forward': [" FWD "]}",
                "forward[0].vtep: a remote has the MAC in VNI 100 behind "
                "another VTEP");
    parse_fails("{" HOST ", 'networks': [" BLUE "],"
                " 'ports': [{'name': 'p', 'network': 'blue',"
                "            'mac': '02:00:00:00:01:01'}],"
                " 'forward': [" FWD "]}",
                "forward[0].mac: a port's MAC in VNI 100");
}
#undef FWD

/* A bad VM is left out alone, and so is a VM whose port is left out: the
 * agent leaves such a VM as it is (state_vm_is_skipped()) rather than
 * taking it for one that left the document. */
static void
test_partial_vms(void **state)
{
    struct state *s = parse_partial(
        "{" HOST ", 'networks': [" BLUE "],"
        " 'ports': [" VM_PORT ", {'name': 'db1-0', 'network': 'blue',"
        "            'device': 'fv22222222', 'mac': '02:zz'}],"
        " 'vms': [{'name': 'web1', 'uuid': '" VM_UUID "', 'vcpus': 1,"
        "          'memory_mb': 64, " VM_DISK ", 'nics': [" VM_NIC "]},"
        "         {'name': 'db1', 'uuid': "
        "'22222222-0000-4000-8000-000000000001',"
        "          'vcpus': 1, 'memory_mb': 64,"
        "          'disk': {'file': 'vms/db1', 'image': 'images/t'},"
        "          'nics': [{'port': 'db1-0', 'device': 'fv22222222',"
        "                    'mac': '02:00:00:00:02:01'}]},"
        "         {'name': 'bad1', 'uuid': 'nope', 'vcpus': 1,"
        "          'memory_mb': 64,"
        "          'disk': {'file': 'vms/bad1', 'image': 'images/t'}}]}",
        1500);

    assert_int_equal(s->n_vms, 1);
    assert_string_equal(s->vms[0].name, "web1");
    assert_int_equal(s->n_ports, 1);
    assert_skipped(s, STATE_KIND_VM, "db1",
                   "port \"db1-0\" is left out: mac: \"02:zz\"");
    assert_skipped(s, STATE_KIND_VM, "bad1", "uuid: \"nope\": not a UUID");
    assert_true(state_vm_is_skipped(s, "db1"));
    assert_true(state_vm_is_skipped(s, "bad1"));
    assert_false(state_vm_is_skipped(s, "web1"));
    assert_string_equal(state_kind_name(STATE_KIND_VM), "vm");
    state_destroy(s);
}

/* An external VTEP's entry stands alone too: a network left out (too big
 * for the underlay) takes its external VTEP's entry and the endpoints
 * behind it, and a bad entry goes alone, while the rest applies. */
static void
test_partial_external_vteps(void **state)
{
    struct state *s = parse_partial(
        "{" HOST ","
        " 'networks': [" BLUE ", {'name': 'green', 'vni': 300, 'mtu': 9000}],"
        " 'external_vteps': [{'network': 'green', 'vtep': '192.168.100.9'},"
        "                    {'network': 'blue', 'vtep': '192.168.100.8'},"
        "                    {'network': 'blue', 'vtep': '192.168.100.7',"
        "                     'gbp': 'yes'}],"
        " 'remotes': [{'network': 'green', 'mac': '02:00:00:00:09:01',"
        "              'vtep': '192.168.100.9'},"
        "             {'network': 'blue', 'mac': '02:00:00:00:08:01',"
        "              'vtep': '192.168.100.8'}]}",
        1500);

    assert_int_equal(s->n_networks, 1);
    assert_int_equal(s->n_external_vteps, 1);
    assert_int_equal(s->external_vteps[0].vtep, inet_addr("192.168.100.8"));
    assert_int_equal(s->n_remotes, 1);
    assert_true(state_vtep_is_external(s, s->remotes[0].vtep));
    assert_skipped(s, STATE_KIND_EXTERNAL_VTEP, "green/192.168.100.9",
                   "network \"green\" is left out");
    assert_skipped(s, STATE_KIND_EXTERNAL_VTEP, "blue/192.168.100.7", "gbp");
    assert_skipped(s, STATE_KIND_REMOTE, "green/02:00:00:00:09:01",
                   "network \"green\" is left out");
    state_destroy(s);
}

/* One bad object leaves out only itself and what needs it: the rest of the
 * document applies. */
static void
test_partial_one_bad_object(void **state)
{
    struct state *s = parse_partial(
        "{" HOST ","
        " 'networks': [" BLUE ", {'name': 'green', 'vni': 300, 'mtu': 9000},"
        "              " RED ", {'name': 'bad', 'vni': 0}],"
        " 'ports': [{'name': 'vm1', 'network': 'blue',"
        "            'mac': '02:00:00:00:01:01', 'ip': '10.0.0.1'},"
        "           {'name': 'vm2', 'network': 'green',"
        "            'mac': '02:00:00:00:01:02'},"
        "           {'name': 'vm3', 'network': 'red', 'mac': '02:00:zz'},"
        "           {'name': 'vm4', 'network': 'red',"
        "            'mac': '02:00:00:00:01:04'},"
        "           {'name': 'vm5', 'network': 'bad',"
        "            'mac': '02:00:00:00:01:05'}],"
        " 'remotes': [{'network': 'green', 'mac': '02:00:00:00:02:01',"
        "              'vtep': '192.168.100.2'},"
        "             {'network': 'red', 'mac': '02:00:00:00:02:02',"
        "              'vtep': '192.168.100.1'},"
        "             {'network': 'blue', 'mac': '02:00:00:00:02:03',"
        "              'vtep': '192.168.100.2'}]}",
        1500);

    /* Left out: green (MTU), bad (VNI), and what lives in them; vm3 (MAC),
     * and the remote that claims our own VTEP. */
    assert_int_equal(s->n_networks, 2);
    assert_string_equal(s->networks[0].name, "blue");
    assert_string_equal(s->networks[1].name, "red");
    assert_int_equal(s->n_ports, 2);
    assert_string_equal(s->ports[0].name, "vm1");
    assert_string_equal(s->ports[1].name, "vm4");
    assert_int_equal(s->ports[1].network, 1);
    assert_int_equal(s->n_remotes, 1);
    assert_int_equal(s->remotes[0].network, 0);
    assert_int_equal(s->remotes[0].vtep, inet_addr("192.168.100.2"));

    assert_int_equal(s->n_skipped, 7);
    assert_skipped(s, STATE_KIND_NETWORK, "green",
                   "mtu: 9000 is larger than 1450, the MTU of underlay "
                   "\"eth0\" (1500) minus 50 bytes of VXLAN overhead");
    assert_skipped(s, STATE_KIND_NETWORK, "bad", "vni: 0 is out of range");
    assert_skipped(s, STATE_KIND_PORT, "vm2",
                   "network \"green\" is left out: mtu: 9000 is larger");
    assert_skipped(s, STATE_KIND_PORT, "vm3",
                   "mac: \"02:00:zz\": not a MAC address");
    assert_skipped(s, STATE_KIND_PORT, "vm5",
                   "network \"bad\" is left out: vni: 0 is out of range");
    assert_skipped(s, STATE_KIND_REMOTE, "green/02:00:00:00:02:01",
                   "network \"green\" is left out");
    assert_skipped(s, STATE_KIND_REMOTE, "red/02:00:00:00:02:02",
                   "192.168.100.1 is this host's own VTEP");
    state_destroy(s);
}

/* The MTU check needs the underlay's MTU: unknown (0), every network
 * stays; a larger underlay carries the network the smaller one cannot. */
static void
test_partial_mtu(void **state)
{
    static const char *text =
        "{" HOST ", 'networks': [{'name': 'green', 'vni': 300, 'mtu': 9000}],"
        " 'ports': [{'name': 'vm2', 'network': 'green',"
        "            'mac': '02:00:00:00:01:02'}]}";
    struct state *s;

    s = parse_partial(text, 0);
    assert_int_equal(s->n_networks, 1);
    assert_int_equal(s->n_ports, 1);
    assert_int_equal(s->n_skipped, 0);
    state_destroy(s);

    s = parse_partial(text, 9050);
    assert_int_equal(s->n_networks, 1);
    assert_int_equal(s->n_skipped, 0);
    state_destroy(s);

    s = parse_partial(text, 9049);
    assert_int_equal(s->n_networks, 0);
    assert_int_equal(s->n_ports, 0);
    assert_skipped(s, STATE_KIND_NETWORK, "green",
                   "mtu: 9000 is larger than 8999");
    assert_skipped(s, STATE_KIND_PORT, "vm2", "network \"green\" is left out");
    state_destroy(s);
}

/* Duplicates: the first keeps its name, the later one goes, and the ports of
 * a duplicated network name stay with the network that stays.  An identity
 * left out takes its ports; elements that are not objects go by their
 * path. */
static void
test_partial_duplicates_and_identities(void **state)
{
    struct state *s = parse_partial(
        "{" HOST ","
        " 'networks': [" BLUE ", {'name': 'blue', 'vni': 101}, 7],"
        " 'ports': [{'name': 'vm1', 'network': 'blue',"
        "            'mac': '02:00:00:00:01:01', 'identity': 300},"
        "           {'name': 'vm1', 'network': 'blue',"
        "            'mac': '02:00:00:00:01:02'},"
        "           {'name': 'vm3', 'network': 'blue',"
        "            'mac': '02:00:00:00:01:03', 'identity': 400},"
        "           'vm4'],"
        " 'identities': [{'id': 300, 'governs': ['ingress'], 'rules': []},"
        "                {'id': 400, 'governs': ['ingress'],"
        "                 'rules': [{'id': 1, 'direction': 'egress',"
        "                            'protocol': 'tcp', 'action': 'allow'}]}]"
        "}",
        1500);

    assert_int_equal(s->n_networks, 1);
    assert_int_equal(s->networks[0].vni, 100);
    assert_int_equal(s->n_ports, 1);
    assert_non_null(find_port(s, "vm1"));
    assert_int_equal(find_port(s, "vm1")->identity, 300);
    assert_int_equal(s->n_identities, 1);
    assert_int_equal(s->identities[0].id, 300);
    assert_skipped(s, STATE_KIND_NETWORK, "blue", "already used by");
    assert_skipped(s, STATE_KIND_NETWORK, "networks[2]",
                   "expected an object, got an integer");
    assert_skipped(s, STATE_KIND_PORT, "vm1", "already used by ports[0]");
    assert_skipped(s, STATE_KIND_IDENTITY, "400",
                   "which the identity does not govern");
    assert_skipped(s, STATE_KIND_PORT, "vm3",
                   "identity \"400\" is left out: rules[0].direction");
    assert_skipped(s, STATE_KIND_PORT, "ports[3]", "expected an object");
    assert_int_equal(s->n_skipped, 6);
    state_destroy(s);
}

/* What no element explains still refuses the whole document. */
static void
test_partial_refuses_document_errors(void **state)
{
    static const char *const docs[] = {
        "[]",
        "{'networks': [" BLUE "]}",
        "{" HOST ", 'networks': {}}",
        "{" HOST ", 'extra': 1, 'networks': [" BLUE "]}",
        "{'host': {'vtep': '127.0.0.1', 'underlay': 'eth0'},"
        " 'networks': [" BLUE "]}",
    };

    for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
        struct state_errors errors;
        char *json = doc(docs[i]);
        json_t *root = json_loads(json, JSON_DECODE_ANY, NULL);
        struct state *s = (struct state *) 1;

        assert_non_null(root);
        state_errors_init(&errors);
        assert_int_equal(state_from_json_partial(root, 1500, &s, &errors),
                         EINVAL);
        assert_null(s);
        assert_true(errors.n > 0);
        state_errors_destroy(&errors);
        json_decref(root);
        free(json);
    }
}

/* A flood of bad elements: every one goes, each once, and the good one
 * among them stays. */
static void
test_partial_many_bad(void **state)
{
    json_t *root = json_pack("{s{ssss}s[{sssi}]s[]}", "host", "vtep",
                             "192.168.100.1", "underlay", "eth0", "networks",
                             "name", "blue", "vni", 100, "ports");
    json_t *ports = json_object_get(root, "ports");
    struct state_errors errors;
    struct state *s;

    for (int i = 0; i < 2000; i++) {
        char mac[32];

        snprintf(mac, sizeof mac, "02:00:00:00:%02x:%02x", (i >> 8) & 0xff,
                 i & 0xff);
        /* Every port has the same name: all but the first are
         * duplicates; every odd one has a bad network as well. */
        json_array_append_new(ports,
                              json_pack("{ssssssss}", "name", "p", "network",
                                        i % 2 ? "none" : "blue", "mac", mac,
                                        "device", "d"));
    }
    state_errors_init(&errors);
    assert_int_equal(state_from_json_partial(root, 1500, &s, &errors), 0);
    assert_int_equal(s->n_ports, 1);
    assert_int_equal(s->n_skipped, 1999);
    assert_skipped(s, STATE_KIND_PORT, "p", "no such network");
    state_destroy(s);
    state_errors_destroy(&errors);
    json_decref(root);
}

/* A slot of a JSON document that a mutation may change: member 'key' of
 * object 'parent', or element 'index' of array 'parent'. */
struct slot {
    json_t *parent;  /* An object or an array. */
    const char *key; /* The member, or NULL for an element. */
    size_t index;    /* The element. */
};

/* Appends every slot under 'value' to 'slots' (room for 'max'). */
static void
collect_slots(json_t *value, struct slot *slots, size_t *n, size_t max)
{
    const char *key;
    json_t *child;
    size_t i;

    if (json_is_object(value)) {
        json_object_foreach(value, key, child)
        {
            if (*n < max) {
                slots[(*n)++] = (struct slot){.parent = value, .key = key};
            }
            collect_slots(child, slots, n, max);
        }
    } else if (json_is_array(value)) {
        json_array_foreach(value, i, child)
        {
            if (*n < max) {
                slots[(*n)++] = (struct slot){.parent = value, .index = i};
            }
            collect_slots(child, slots, n, max);
        }
    }
}

/* Returns a value an attacker might put anywhere. */
static json_t *
hostile_value(unsigned int r)
{
    switch (r % 10) {
    case 0:
        return json_null();
    case 1:
        return json_integer(-1);
    case 2:
        return json_integer(INT64_MAX);
    case 3:
        return json_string("");
    case 4:
        return json_string("02:00:00:00:01:01");
    case 5:
        return json_string("blue");
    case 6:
        return json_object();
    case 7:
        return json_array();
    case 8:
        return json_real(1e300);
    default:
        return json_integer(r % 70000);
    }
}

/* Counts the elements of 's''s 'skipped' of 'kind'. */
static size_t
count_skipped(const struct state *s, enum state_kind kind)
{
    size_t n = 0;

    for (size_t i = 0; i < s->n_skipped; i++) {
        n += s->skipped[i].kind == kind;
    }
    return n;
}

/* Thousands of documents with a few hostile values in random places: the
 * partial parse never crashes, accounts for every element (kept or left
 * out with a reason), and what it keeps fits the underlay. */
static void
test_partial_mutations(void **state)
{
    static const char *text =
        "{" HOST ","
        " 'networks': [" BLUE ", " RED ", {'name': 'green', 'vni': 300,"
        "              'mtu': 9000, 'default_action': 'deny'}],"
        " 'ports': [{'name': 'vm1', 'network': 'blue',"
        "            'mac': '02:00:00:00:01:01', 'ip': '10.0.0.1',"
        "            'identity': 300, 'qos': {'egress_rate': 1000000}},"
        "           {'name': 'vm2', 'network': 'red',"
        "            'mac': '02:00:00:00:01:02', 'ipv6': 'fd00::2'},"
        "           {'name': 'vm3', 'network': 'green',"
        "            'mac': '02:00:00:00:01:03'}],"
        " 'remotes': [{'network': 'blue', 'mac': '02:00:00:00:02:01',"
        "              'ip': '10.0.0.3', 'vtep': '192.168.100.2',"
        "              'identity': 301}],"
        " 'identities': [{'id': 300, 'groups': ['web'],"
        "                 'governs': ['ingress'],"
        "                 'rules': [{'id': 1, 'group': 'web',"
        "                            'direction': 'ingress',"
        "                            'protocol': 'tcp', 'ports': [80, 80],"
        "                            'peer_cidrs': ['10.0.0.0/8'],"
        "                            'action': 'allow'}]}]}";
    static const enum state_kind kinds[] = {STATE_KIND_NETWORK,
                                            STATE_KIND_PORT, STATE_KIND_REMOTE,
                                            STATE_KIND_IDENTITY};
    static const char *const lists[] = {"networks", "ports", "remotes",
                                        "identities"};
    char *json = doc(text);
    json_t *good = json_loads(json, 0, NULL);
    unsigned int seed = 11;
    size_t refused = 0, skipped = 0;

    assert_non_null(good);
    for (int round = 0; round < 3000; round++) {
        json_t *root = json_deep_copy(good);
        struct state_errors errors;
        struct slot slots[256];
        struct state *s;
        size_t n;

        for (int m = 0; m < 1 + round % 3; m++) {
            struct slot *slot;

            n = 0;
            collect_slots(root, slots, &n, ARRAY_SIZE(slots));
            slot = &slots[rand_r(&seed) % n];
            if (rand_r(&seed) % 4 == 0) {
                if (slot->key) {
                    json_object_del(slot->parent, slot->key);
                } else {
                    json_array_remove(slot->parent, slot->index);
                }
            } else if (slot->key) {
                json_object_set_new(slot->parent, slot->key,
                                    hostile_value(rand_r(&seed)));
            } else {
                json_array_set_new(slot->parent, slot->index,
                                   hostile_value(rand_r(&seed)));
            }
        }
        state_errors_init(&errors);
        if (state_from_json_partial(root, 1500, &s, &errors)) {
            assert_null(s);
            assert_true(errors.n > 0);
            refused++;
        } else {
            size_t kept[] = {s->n_networks, s->n_ports, s->n_remotes,
                             s->n_identities};

            assert_int_equal(errors.n, 0);
            for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
                const json_t *list = json_object_get(root, lists[k]);

                assert_int_equal(kept[k] + count_skipped(s, kinds[k]),
                                 json_array_size(list));
            }
            for (size_t i = 0; i < s->n_skipped; i++) {
                assert_true(strlen(s->skipped[i].name) > 0);
                assert_true(strlen(s->skipped[i].reason) > 0);
            }
            state_errors_destroy(&errors);
            assert_int_equal(state_check_mtus(s, 1500, &errors), 0);
            skipped += s->n_skipped;
            state_destroy(s);
        }
        state_errors_destroy(&errors);
        json_decref(root);
    }
    /* Both outcomes happened: the test saw what it checks. */
    assert_true(refused > 0);
    assert_true(skipped > 0);
    json_decref(good);
    free(json);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_document),
        cmocka_unit_test(test_external_vteps),
        cmocka_unit_test(test_partial_external_vteps),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_host_only),
        cmocka_unit_test(test_from_decoded_json),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_bad_macs),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_duplicate_addresses),
        cmocka_unit_test(test_unknown_network),
        cmocka_unit_test(test_mtu_against_underlay),
        cmocka_unit_test(test_flood_limit),
        cmocka_unit_test(test_qos),
        cmocka_unit_test(test_qos_shaping),
        cmocka_unit_test(test_qos_default_burst),
        cmocka_unit_test(test_qos_errors),
        cmocka_unit_test(test_firewall),
        cmocka_unit_test(test_firewall_defaults),
        cmocka_unit_test(test_firewall_errors),
        cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_partial_one_bad_object),
        cmocka_unit_test(test_partial_mtu),
        cmocka_unit_test(test_partial_duplicates_and_identities),
        cmocka_unit_test(test_partial_refuses_document_errors),
        cmocka_unit_test(test_partial_many_bad),
        cmocka_unit_test(test_partial_mutations),
        cmocka_unit_test(test_vms),
        cmocka_unit_test(test_vm_ha_and_moved),
        cmocka_unit_test(test_vm_errors),
        cmocka_unit_test(test_vm_migration),
        cmocka_unit_test(test_forward),
        cmocka_unit_test(test_partial_vms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
