/* Fuzz target for the agent's desired-state document (agent/state.c): the
 * text goes through state_parse() exactly as a state file or a controller
 * answer would.
 *
 * Beyond memory errors and leaks, which the sanitizers catch, the target
 * checks the parser's promises (agent/state.h):
 *
 *   - it answers either a model and no message, or no model and at least
 *     one message, each a single line: a message goes to the log and into
 *     the host's status, and a name from the document must not forge lines
 *     there;
 *   - a model it accepts holds what the document means: references resolve,
 *     names, MACs, devices and identities are unique and in range, and
 *     parsing the document again, re-encoded, gives the same answer.
 *
 * Any broken promise aborts. */

#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/state.h"
#include "utils/names.h"

/* Checks that every message in 'errors' is one line, not empty. */
static void
check_messages(const struct state_errors *errors)
{
    for (size_t i = 0; i < errors->n; i++) {
        const char *msg = errors->msgs[i];

        if (!*msg || strpbrk(msg, "\n\r")) {
            fprintf(stderr, "message %zu is not one line: \"%s\"\n", i, msg);
            abort();
        }
    }
}

/* Checks that the model 's' holds what a valid document promises. */
static void
check_model(const struct state *s)
{
    static const uint8_t zero_mac[6];

    CHECK(s->host.underlay && names_device_is_valid(s->host.underlay));
    CHECK(s->host.vtep != 0);
    CHECK(s->host.ttl >= 1);
    for (size_t i = 0; i < s->n_networks; i++) {
        const struct state_network *net = &s->networks[i];

        CHECK(net->name && *net->name);
        CHECK(net->vni >= 1 && net->vni <= STATE_MAX_VNI);
        CHECK(net->mtu == 0 || net->mtu >= STATE_MIN_MTU);
        for (size_t j = 0; j < i; j++) {
            CHECK(strcmp(net->name, s->networks[j].name));
            CHECK(net->vni != s->networks[j].vni);
        }
    }
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct state_port *port = &s->ports[i];

        CHECK(port->name && *port->name);
        CHECK(port->network < s->n_networks);
        CHECK(port->device && names_device_is_valid(port->device));
        CHECK(strcmp(port->device, s->host.underlay));
        CHECK(!(port->mac[0] & 1) && memcmp(port->mac, zero_mac, 6));
        CHECK(port->qos.egress_priority <= STATE_MAX_PRIORITY);
        CHECK(port->qos.dscp <= STATE_MAX_DSCP
              || port->qos.dscp == STATE_DSCP_KEEP);
        CHECK(!port->qos.egress_rate || port->qos.egress_burst);
        CHECK(!port->qos.ingress_rate || port->qos.ingress_burst);
        CHECK(!port->qos.egress_rate
              || port->qos.egress_min_rate <= port->qos.egress_rate);
        CHECK(!port->identity || state_find_identity(s, port->identity));
        for (size_t j = 0; j < i; j++) {
            const struct state_port *other = &s->ports[j];

            CHECK(strcmp(port->name, other->name));
            CHECK(strcmp(port->device, other->device));
            CHECK(port->network != other->network
                  || memcmp(port->mac, other->mac, 6));
            CHECK(port->network != other->network || !port->ip4
                  || port->ip4 != other->ip4);
        }
    }
    for (size_t i = 0; i < s->n_remotes; i++) {
        const struct state_remote *remote = &s->remotes[i];

        CHECK(remote->network < s->n_networks);
        CHECK(remote->vtep && remote->vtep != s->host.vtep);
        CHECK(!(remote->mac[0] & 1) && memcmp(remote->mac, zero_mac, 6));
        for (size_t j = 0; j < s->n_ports; j++) {
            CHECK(remote->network != s->ports[j].network
                  || memcmp(remote->mac, s->ports[j].mac, 6));
        }
    }
    for (size_t i = 0; i < s->n_identities; i++) {
        const struct state_identity *id = &s->identities[i];

        CHECK(id->id >= STATE_MIN_IDENTITY && id->id <= STATE_MAX_IDENTITY);
        CHECK(state_find_identity(s, id->id) == id);
        for (size_t j = 0; j < id->n_rules; j++) {
            const struct state_rule *rule = &id->rules[j];

            CHECK(rule->id != 0);
            CHECK(id->governs & STATE_GOVERNS(rule->direction));
            CHECK(!rule->has_ports || rule->port_lo <= rule->port_hi);
            CHECK(rule->peer != STATE_PEER_CIDRS || rule->n_cidrs >= 1);
            for (size_t k = 0; k < rule->n_cidrs; k++) {
                const struct state_cidr *c = &rule->cidrs[k];

                CHECK(c->family == 4 || c->family == 6);
                CHECK(c->prefix_len <= (c->family == 4 ? 32 : 128));
            }
            for (size_t k = 0; k < rule->n_peer_identities; k++) {
                CHECK(rule->peer_identities[k] >= STATE_MIN_IDENTITY
                      && rule->peer_identities[k] <= STATE_MAX_IDENTITY);
            }
            for (size_t k = 0; k < j; k++) {
                CHECK(rule->id != id->rules[k].id);
            }
        }
    }
}

/* Parses 'text' ('len' bytes) and checks the answer.  Returns the model, or
 * NULL if the document was refused. */
static struct state *
parse_and_check(const char *text, size_t len)
{
    struct state_errors errors;
    struct state *s;
    int error;

    state_errors_init(&errors);
    error = state_parse(text, len, &s, &errors);
    CHECK(error == 0 || error == EINVAL);
    CHECK(!error == !!s);
    CHECK(!error == !errors.n);
    check_messages(&errors);
    if (s) {
        check_model(s);
        /* Underlay MTUs from none to jumbo; the check only reports. */
        for (uint32_t mtu = 0; mtu <= 9000; mtu += 1500) {
            size_t n = errors.n;

            if (state_check_mtus(s, mtu, &errors)) {
                CHECK(errors.n > n);
            } else {
                CHECK(errors.n == n);
            }
            check_messages(&errors);
        }
        for (size_t i = 0; i < s->n_networks; i++) {
            CHECK(state_network_mtu(&s->networks[i], 1500) >= STATE_MIN_MTU);
        }
    }
    state_errors_destroy(&errors);
    return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct state *s = parse_and_check((const char *) data, size);

    if (s) {
        /* The same document, written by jansson, means the same. */
        json_t *root =
            json_loadb((const char *) data, size, JSON_DECODE_ANY, NULL);
        char *text = root ? json_dumps(root, JSON_SORT_KEYS) : NULL;
        struct state *again;

        CHECK(text);
        again = parse_and_check(text, strlen(text));
        CHECK(again);
        CHECK(again->n_networks == s->n_networks);
        CHECK(again->n_ports == s->n_ports);
        CHECK(again->n_remotes == s->n_remotes);
        CHECK(again->n_identities == s->n_identities);
        state_destroy(again);
        free(text);
        json_decref(root);
        state_destroy(s);
    }
    return 0;
}
