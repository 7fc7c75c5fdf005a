/* Reconciliation: which table contents a desired state asks for, which
 * changes turn what a datapath holds into that, and that a reconciler run
 * against a datapath makes exactly those changes and no others.
 *
 * The datapath and the kernel's links are fakes defined here, linked in
 * place of datapath/libfabric-datapath.a: a table is an array, every set
 * and delete is recorded, and devices are a list the test edits. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/firewall.h"
#include "agent/reconcile.h"
#include "agent/state.h"
#include "datapath/dp.h"
#include "datapath/netlink.h"
#include "utils/log.h"
#include "utils/util.h"

/* ------------------------------------------------------------------------
 * The fake datapath. */

#define FAKE_MAX_ENTRIES 64
#define FAKE_MAX_CALLS 256
#define FAKE_MAX_DEVICES 8

/* One table entry, big enough for any table's key and value. */
struct fake_entry {
    uint8_t key[sizeof(struct ct_key)];     /* The key, zero-padded. */
    uint8_t value[sizeof(struct dp_flood)]; /* The value, zero-padded. */
};

/* One table. */
struct fake_table {
    struct fake_entry entries[FAKE_MAX_ENTRIES]; /* The entries. */
    size_t n;                                    /* Number of 'entries'. */
};

/* One call that changed the datapath. */
struct fake_call {
    bool del;            /* dp_table_del(), else dp_table_set(). */
    enum dp_table table; /* Its table. */
    uint8_t key[sizeof(struct ct_key)]; /* Its key, zero-padded. */
};

/* A device the fake kernel has. */
struct fake_device {
    char name[16];       /* Its name (at most IFNAMSIZ). */
    struct nl_link link; /* What nl_link_get() tells. */
};

/* A class of the fake HTB qdisc. */
#define FAKE_MAX_CLASSES 16
struct fake_class {
    uint16_t parent;       /* Minor of its parent, 0 for the qdisc. */
    uint16_t minor;        /* Its minor. */
    struct nl_htb_class c; /* Its parameters. */
    uint32_t queue;        /* Bytes its bfifo holds, 0 for HTB's default. */
};

static struct {
    struct fake_table tables[DP_N_TABLES];  /* The datapath's tables. */
    struct fake_call calls[FAKE_MAX_CALLS]; /* Changes, in order. */
    size_t n_calls;                         /* Number of 'calls'. */
    bool configured;                        /* Whether 'config' is set. */
    struct dp_config config;                /* The underlay configuration. */
    size_t n_configures;                    /* dp_configure() calls. */
    int fail_table; /* Sets of this table fail, or -1. */
    struct fake_device devices[FAKE_MAX_DEVICES]; /* The kernel's links. */
    size_t n_devices;                             /* Number of 'devices'. */
    uint32_t mtu_set[FAKE_MAX_DEVICES]; /* ifindex of nl_link_set_mtu(). */
    size_t n_mtu_sets;                  /* Number of 'mtu_set'. */
    size_t n_ups;                       /* nl_link_set_up() calls. */
    size_t n_nexthop_gets;              /* nl_nexthop_get() calls. */
    uint32_t fq_ifindex;                /* Last nl_qdisc_ensure_fq(). */
    size_t n_fq;                        /* nl_qdisc_ensure_fq() calls. */
    int htb_fail;                       /* nl_htb_ensure() fails so. */
    uint32_t htb_ifindex;               /* Has the HTB qdisc, or 0. */
    size_t n_htb_creates;               /* Times the HTB was installed. */
    struct fake_class classes[FAKE_MAX_CLASSES]; /* Its classes. */
    size_t n_classes;                            /* Number of 'classes'. */
    size_t n_class_sets;                         /* nl_htb_class_set()s. */
    struct fake_ingress {
        uint32_t ifindex;        /* A port's device with an HTB fab1:. */
        struct nl_htb_class c;   /* Its class fab1:1, 'c.rate' 0 if none. */
        uint32_t queue;          /* Its class's bfifo, 0 if none. */
    } ingress[FAKE_MAX_CLASSES]; /* Ports' ingress qdiscs. */
    size_t n_ingress;            /* Number of 'ingress'. */
    size_t n_ingress_sets;       /* nl_htb_class_set()s on them. */
    int ingress_fail;            /* nl_htb_ensure() on ports fails so. */
    uint32_t odd_vtep;           /* A VTEP that resolves oddly... */
    int odd_error;               /* ...with this error... */
    uint8_t odd_mac;             /* ...or else this MAC's last byte. */
    uint64_t ct_capacity;        /* What dp_fw_stats_get() says the conntrack
                                  * table holds; 0: it says nothing. */
} fake;

static char fake_dp_token;
#define FAKE_DP ((struct dp *) &fake_dp_token)

static size_t
key_size(enum dp_table table)
{
    static const size_t sizes[DP_N_TABLES] = {
        [DP_PORTS] = sizeof(struct dp_port_key),
        [DP_NETWORKS] = sizeof(struct dp_network_key),
        [DP_FDB] = sizeof(struct dp_fdb_key),
        [DP_BINDINGS] = sizeof(struct dp_binding_key),
        [DP_FLOOD] = sizeof(struct dp_flood_key),
        [DP_NEXTHOPS] = sizeof(struct dp_nexthop_key),
        [DP_QOS] = sizeof(struct dp_qos_key),
        [DP_POLICIES] = sizeof(struct policy_key),
        [DP_POLICY_CIDRS] = sizeof(struct policy_cidr_key),
        [DP_VTEPS] = sizeof(struct dp_vtep_key),
        [DP_CONNTRACK] = sizeof(struct ct_key),
        [DP_RULE_HITS] = sizeof(struct dp_rule_key),
    };
    return sizes[table];
}

static size_t
value_size(enum dp_table table)
{
    static const size_t sizes[DP_N_TABLES] = {
        [DP_PORTS] = sizeof(struct dp_port),
        [DP_NETWORKS] = sizeof(struct dp_network),
        [DP_FDB] = sizeof(struct dp_fdb_entry),
        [DP_BINDINGS] = sizeof(struct dp_binding),
        [DP_FLOOD] = sizeof(struct dp_flood),
        [DP_NEXTHOPS] = sizeof(struct dp_nexthop),
        [DP_QOS] = sizeof(struct dp_qos),
        [DP_POLICIES] = sizeof(struct policy_value),
        [DP_POLICY_CIDRS] = sizeof(struct dp_policy_cidr),
        [DP_VTEPS] = sizeof(struct dp_vtep),
        [DP_CONNTRACK] = sizeof(struct dp_ct),
        [DP_RULE_HITS] = sizeof(struct dp_rule_hits),
    };
    return sizes[table];
}

static struct fake_entry *
fake_find(enum dp_table table, const void *key)
{
    struct fake_table *t = &fake.tables[table];

    for (size_t i = 0; i < t->n; i++) {
        if (!memcmp(t->entries[i].key, key, key_size(table))) {
            return &t->entries[i];
        }
    }
    return NULL;
}

/* Returns the value of the entry with 'key' in 'table', or fails. */
static const void *
fake_value(enum dp_table table, const void *key)
{
    struct fake_entry *e = fake_find(table, key);

    if (!e) {
        fail_msg("no such entry in the fake %s table", dp_table_name(table));
    }
    return e->value;
}

/* Puts an entry in the fake datapath without recording a call, as if an
 * earlier agent had. */
static void
fake_put(enum dp_table table, const void *key, const void *value)
{
    struct fake_entry *e = fake_find(table, key);

    if (!e) {
        struct fake_table *t = &fake.tables[table];

        assert_true(t->n < FAKE_MAX_ENTRIES);
        e = &t->entries[t->n++];
        memset(e, 0, sizeof *e);
        memcpy(e->key, key, key_size(table));
    }
    memcpy(e->value, value, value_size(table));
}

static void
fake_record(bool del, enum dp_table table, const void *key)
{
    struct fake_call *c;

    assert_true(fake.n_calls < FAKE_MAX_CALLS);
    c = &fake.calls[fake.n_calls++];
    memset(c, 0, sizeof *c);
    c->del = del;
    c->table = table;
    memcpy(c->key, key, key_size(table));
}

const char *
dp_table_name(enum dp_table table)
{
    static const char *const names[DP_N_TABLES] = {
        [DP_PORTS] = "ports",
        [DP_NETWORKS] = "networks",
        [DP_FDB] = "fdb",
        [DP_BINDINGS] = "bindings",
        [DP_FLOOD] = "flood",
        [DP_NEXTHOPS] = "nexthops",
        [DP_QOS] = "qos",
        [DP_POLICIES] = "policies",
        [DP_POLICY_CIDRS] = "policy-cidrs",
        [DP_VTEPS] = "vteps",
        [DP_CONNTRACK] = "conntrack",
        [DP_RULE_HITS] = "rule-hits",
    };
    return names[table];
}

int
dp_table_set(struct dp *dp, enum dp_table table, const void *key,
             const void *value)
{
    assert_ptr_equal(dp, FAKE_DP);
    if ((int) table == fake.fail_table) {
        return EIO;
    }
    fake_record(false, table, key);
    fake_put(table, key, value);
    return 0;
}

int
dp_table_del(struct dp *dp, enum dp_table table, const void *key)
{
    struct fake_table *t = &fake.tables[table];
    struct fake_entry *e = fake_find(table, key);

    assert_ptr_equal(dp, FAKE_DP);
    fake_record(true, table, key);
    if (e) {
        *e = t->entries[--t->n];
    }
    return 0;
}

int
dp_table_get(struct dp *dp, enum dp_table table, const void *key, void *value)
{
    struct fake_entry *e = fake_find(table, key);

    assert_ptr_equal(dp, FAKE_DP);
    if (!e) {
        return ENOENT;
    }
    memcpy(value, e->value, value_size(table));
    return 0;
}

int
dp_table_dump(struct dp *dp, enum dp_table table, dp_dump_cb *cb, void *aux)
{
    struct fake_table *t = &fake.tables[table];

    assert_ptr_equal(dp, FAKE_DP);
    for (size_t i = 0; i < t->n; i++) {
        int error = cb(t->entries[i].key, t->entries[i].value, aux);

        if (error) {
            return error;
        }
    }
    return 0;
}

int
dp_fw_stats_get(struct dp *dp, struct dp_fw_stats *stats)
{
    assert_ptr_equal(dp, FAKE_DP);
    memset(stats, 0, sizeof *stats);
    stats->ct_capacity = fake.ct_capacity;
    return 0;
}

int
dp_get_config(struct dp *dp, struct dp_config *config)
{
    if (!fake.configured) {
        return ENOENT;
    }
    *config = fake.config;
    return 0;
}

int
dp_configure(struct dp *dp, const struct dp_config *config)
{
    fake.configured = true;
    fake.config = *config;
    fake.n_configures++;
    return 0;
}

static void
fake_add_device(const char *name, uint32_t ifindex, uint32_t mtu, bool up,
                const char *kind)
{
    struct fake_device *d = &fake.devices[fake.n_devices++];

    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->link.ifindex = ifindex;
    d->link.mtu = mtu;
    d->link.up = up;
    snprintf(d->link.kind, sizeof d->link.kind, "%s", kind);
}

static struct fake_device *
fake_device_by_index(uint32_t ifindex)
{
    for (size_t i = 0; i < fake.n_devices; i++) {
        if (fake.devices[i].link.ifindex == ifindex) {
            return &fake.devices[i];
        }
    }
    return NULL;
}

int
nl_link_get(const char *name, struct nl_link *link)
{
    for (size_t i = 0; i < fake.n_devices; i++) {
        if (!strcmp(fake.devices[i].name, name)) {
            *link = fake.devices[i].link;
            return 0;
        }
    }
    return ENODEV;
}

int
nl_link_set_mtu(uint32_t ifindex, uint32_t mtu)
{
    struct fake_device *d = fake_device_by_index(ifindex);

    assert_non_null(d);
    d->link.mtu = mtu;
    fake.mtu_set[fake.n_mtu_sets++] = ifindex;
    return 0;
}

int
nl_link_set_up(uint32_t ifindex)
{
    struct fake_device *d = fake_device_by_index(ifindex);

    assert_non_null(d);
    d->link.up = true;
    fake.n_ups++;
    return 0;
}

/* Every VTEP is reached through eth0 (ifindex 2), its next hop's MAC ends
 * in the VTEP's last byte, except for 'odd_vtep'. */
int
nl_nexthop_get(uint32_t ipv4, struct nl_nexthop *nh)
{
    static const uint8_t eth0_mac[6] = {2, 0xee, 0, 0, 0, 2};

    fake.n_nexthop_gets++;
    memset(nh, 0, sizeof *nh);
    if (ipv4 == fake.odd_vtep && fake.odd_error) {
        return fake.odd_error;
    }
    nh->ifindex = 2;
    memcpy(nh->src_mac, eth0_mac, 6);
    nh->dst_mac[0] = 2;
    nh->dst_mac[5] = ipv4 == fake.odd_vtep ? fake.odd_mac : ipv4 >> 24;
    return 0;
}

int
nl_qdisc_ensure_fq(uint32_t ifindex)
{
    fake.fq_ifindex = ifindex;
    fake.n_fq++;
    return 0;
}

/* Returns the ingress qdisc of the fake device 'ifindex', or NULL. */
static struct fake_ingress *
fake_ingress(uint32_t ifindex)
{
    for (size_t i = 0; i < fake.n_ingress; i++) {
        if (fake.ingress[i].ifindex == ifindex) {
            return &fake.ingress[i];
        }
    }
    return NULL;
}

int
nl_htb_ensure(uint32_t ifindex, uint16_t major, uint16_t default_minor,
              int32_t overhead)
{
    if (major == 0xfab1) {
        assert_int_equal(default_minor, 1);
        assert_int_equal(overhead, 0);
        if (fake.ingress_fail) {
            return fake.ingress_fail;
        }
        if (!fake_ingress(ifindex)) {
            assert_true(fake.n_ingress < FAKE_MAX_CLASSES);
            fake.ingress[fake.n_ingress++] =
                (struct fake_ingress){.ifindex = ifindex};
        }
        return 0;
    }
    assert_int_equal(major, 0xfab0);
    assert_int_equal(default_minor, 1);
    assert_int_equal(overhead, -50);
    if (fake.htb_fail) {
        return fake.htb_fail;
    }
    if (fake.htb_ifindex != ifindex) {
        fake.htb_ifindex = ifindex;
        fake.n_classes = 0;
        fake.n_htb_creates++;
    }
    return 0;
}

int
nl_htb_remove(uint32_t ifindex, uint16_t major)
{
    if (major == 0xfab1) {
        struct fake_ingress *in = fake_ingress(ifindex);

        if (in) {
            *in = fake.ingress[--fake.n_ingress];
        }
        return 0;
    }
    assert_int_equal(major, 0xfab0);
    if (fake.htb_ifindex == ifindex) {
        fake.htb_ifindex = 0;
        fake.n_classes = 0;
    }
    return 0;
}

/* Returns class 'minor' of the fake HTB, or NULL. */
static struct fake_class *
fake_class(uint16_t minor)
{
    for (size_t i = 0; i < fake.n_classes; i++) {
        if (fake.classes[i].minor == minor) {
            return &fake.classes[i];
        }
    }
    return NULL;
}

int
nl_htb_class_set(uint32_t ifindex, uint16_t major, uint16_t parent_minor,
                 uint16_t minor, const struct nl_htb_class *c)
{
    struct fake_class *cl = fake_class(minor);

    if (major == 0xfab1) {
        struct fake_ingress *in = fake_ingress(ifindex);

        assert_non_null(in);
        assert_int_equal(parent_minor, 0);
        assert_int_equal(minor, 1);
        in->c = *c;
        fake.n_ingress_sets++;
        return 0;
    }
    assert_int_equal(ifindex, fake.htb_ifindex);
    assert_int_equal(major, 0xfab0);
    assert_true(c->rate && c->ceil >= c->rate && c->prio <= 7);
    if (!cl) {
        assert_true(fake.n_classes < FAKE_MAX_CLASSES);
        cl = &fake.classes[fake.n_classes++];
        cl->queue = 0;
    }
    cl->parent = parent_minor;
    cl->minor = minor;
    cl->c = *c;
    fake.n_class_sets++;
    return 0;
}

int
nl_htb_leaf_set(uint32_t ifindex, uint16_t major, uint16_t minor,
                uint32_t limit)
{
    struct fake_class *cl = fake_class(minor);

    if (major == 0xfab1) {
        struct fake_ingress *in = fake_ingress(ifindex);

        assert_non_null(in);
        assert_int_equal(minor, 1);
        in->queue = limit;
        return 0;
    }
    assert_int_equal(ifindex, fake.htb_ifindex);
    assert_int_equal(major, 0xfab0);
    assert_non_null(cl);
    cl->queue = limit;
    return 0;
}

int
nl_htb_class_del(uint32_t ifindex, uint16_t major, uint16_t minor)
{
    struct fake_class *cl = fake_class(minor);

    assert_int_equal(ifindex, fake.htb_ifindex);
    assert_int_equal(major, 0xfab0);
    if (!cl) {
        return ENOENT;
    }
    *cl = fake.classes[--fake.n_classes];
    return 0;
}

int
nl_htb_class_list(uint32_t ifindex, uint16_t major, uint16_t *minors,
                  size_t max, size_t *n)
{
    assert_int_equal(major, 0xfab0);
    *n = 0;
    for (size_t i = 0; i < fake.n_classes && *n < max; i++) {
        if (ifindex == fake.htb_ifindex) {
            minors[(*n)++] = fake.classes[i].minor;
        }
    }
    return 0;
}

/* Forgets the calls made so far, keeping the contents. */
static void
fake_forget_calls(void)
{
    fake.n_calls = 0;
    fake.n_configures = 0;
    fake.n_mtu_sets = 0;
    fake.n_ups = 0;
    fake.n_nexthop_gets = 0;
    fake.n_fq = 0;
    fake.n_htb_creates = 0;
    fake.n_class_sets = 0;
}

static int
fake_setup(void **state)
{
    memset(&fake, 0, sizeof fake);
    fake.fail_table = -1;
    /* The underlay, a veth port that is down with the wrong MTU, a tap
     * port that is right already. */
    fake_add_device("eth0", 2, 1500, true, "");
    fake_add_device("veth-vm1", 10, 1500, false, "veth");
    fake_add_device("tap-vm2", 11, 1450, true, "tun");
    log_set_level(LOG_LEVEL_ERR);
    return 0;
}

static void
fake_remove_device(const char *name)
{
    for (size_t i = 0; i < fake.n_devices; i++) {
        if (!strcmp(fake.devices[i].name, name)) {
            fake.devices[i] = fake.devices[--fake.n_devices];
            return;
        }
    }
    fail_msg("no device %s", name);
}

/* ------------------------------------------------------------------------
 * Helpers. */

/* Two ports (vm1 on a veth, vm2 on a tap without port security) and three
 * remotes behind two VTEPs, all in "blue"; "red" is empty. */
static const char base_doc[] =
    "{\"host\": {\"vtep\": \"192.168.100.1\", \"underlay\": \"eth0\"},"
    " \"networks\": [{\"name\": \"blue\", \"vni\": 100},"
    "              {\"name\": \"red\", \"vni\": 200, \"mtu\": 1300}],"
    " \"ports\": [{\"name\": \"vm1\", \"network\": \"blue\","
    "            \"device\": \"veth-vm1\", \"mac\": \"02:00:00:00:01:01\","
    "            \"ip\": \"10.0.0.1\", \"ipv6\": \"fd00::1\"},"
    "           {\"name\": \"vm2\", \"network\": \"blue\","
    "            \"device\": \"tap-vm2\", \"mac\": \"02:00:00:00:01:02\","
    "            \"port_security\": false}],"
    " \"remotes\": [{\"network\": \"blue\", \"mac\": \"02:00:00:00:02:01\","
    "              \"ip\": \"10.0.0.3\", \"vtep\": \"192.168.100.2\"},"
    "             {\"network\": \"blue\", \"mac\": \"02:00:00:00:02:02\","
    "              \"vtep\": \"192.168.100.2\"},"
    "             {\"network\": \"blue\", \"mac\": \"02:00:00:00:03:01\","
    "              \"ip\": \"10.0.0.5\", \"vtep\": \"192.168.100.3\"}]}";

static struct state *
parse(const char *text)
{
    struct state_errors errors;
    struct state *s;

    state_errors_init(&errors);
    if (state_parse(text, strlen(text), &s, &errors)) {
        fail_msg("%s", errors.n ? errors.msgs[0] : "parse failed");
    }
    return s;
}

/* Returns 'doc' with the first 'from' replaced by 'to'. */
static char *
edit(const char *doc, const char *from, const char *to)
{
    const char *p = strstr(doc, from);

    assert_non_null(p);
    return xasprintf("%.*s%s%s", (int) (p - doc), doc, to, p + strlen(from));
}

static uint8_t mac_vm1[6] = {2, 0, 0, 0, 1, 1};
static uint8_t mac_vm2[6] = {2, 0, 0, 0, 1, 2};
static uint8_t mac_r1[6] = {2, 0, 0, 0, 2, 1};
static uint8_t mac_r3[6] = {2, 0, 0, 0, 3, 1};

/* Returns the entry of 'tables' with 'key', or fails. */
static const void *
lookup(const struct reconcile_tables *tables, enum dp_table id,
       const void *key)
{
    const struct reconcile_table *t = &tables->t[id];

    for (size_t i = 0; i < t->n; i++) {
        if (!memcmp(reconcile_table_key(t, i), key, t->key_size)) {
            return reconcile_table_value(t, i);
        }
    }
    fail_msg("no such entry in table %s", dp_table_name(id));
    return NULL;
}

static struct dp_fdb_key
fdb_key(uint32_t vni, const uint8_t mac[6])
{
    struct dp_fdb_key key = {.vni = vni};

    memcpy(key.mac, mac, 6);
    return key;
}

/* ------------------------------------------------------------------------
 * Desired tables from the model. */

static void
test_desired(void **state)
{
    struct state *s = parse(base_doc);
    struct reconcile_link links[] = {{10, true, 0, false},
                                     {11, false, 0, false}};
    struct reconcile_tables t;
    const struct dp_network *net;
    const struct dp_port *port;
    const struct dp_fdb_entry *fdb;
    const struct dp_binding *binding;
    const struct dp_flood *flood;
    struct dp_network_key blue = {100}, red = {200};
    struct dp_port_key p10 = {10}, p11 = {11};
    struct dp_fdb_key k;
    struct dp_binding_key b;
    uint8_t ip6[16] = {0xfd, [15] = 1};

    reconcile_tables_init(&t);
    reconcile_desired(s, 9000, links, NULL, &t);

    assert_int_equal(t.t[DP_NETWORKS].n, 2);
    net = lookup(&t, DP_NETWORKS, &blue);
    assert_int_equal(net->mtu, 8950);
    net = lookup(&t, DP_NETWORKS, &red);
    assert_int_equal(net->mtu, 1300);

    assert_int_equal(t.t[DP_PORTS].n, 2);
    port = lookup(&t, DP_PORTS, &p10);
    assert_int_equal(port->vni, 100);
    assert_int_equal(port->flags, DP_PORT_SECURITY | DP_PORT_VETH);
    assert_memory_equal(port->mac, mac_vm1, 6);
    assert_int_equal(port->mtu, 8950);
    assert_int_equal(port->ip4, inet_addr("10.0.0.1"));
    assert_memory_equal(port->ip6, ip6, 16);
    port = lookup(&t, DP_PORTS, &p11);
    assert_int_equal(port->flags, 0);
    assert_int_equal(port->ip4, 0);

    assert_int_equal(t.t[DP_FDB].n, 5);
    k = fdb_key(100, mac_vm2);
    fdb = lookup(&t, DP_FDB, &k);
    assert_int_equal(fdb->ifindex, 11);
    assert_int_equal(fdb->vtep, 0);
    k = fdb_key(100, mac_r3);
    fdb = lookup(&t, DP_FDB, &k);
    assert_int_equal(fdb->ifindex, 0);
    assert_int_equal(fdb->vtep, inet_addr("192.168.100.3"));

    /* Only endpoints with an IPv4 address have a binding. */
    assert_int_equal(t.t[DP_BINDINGS].n, 3);
    b = (struct dp_binding_key){100, inet_addr("10.0.0.3")};
    binding = lookup(&t, DP_BINDINGS, &b);
    assert_memory_equal(binding->mac, mac_r1, 6);

    /* Locals first in document order, then each VTEP once. */
    assert_int_equal(t.t[DP_FLOOD].n, 2);
    flood = lookup(&t, DP_FLOOD, &blue);
    assert_int_equal(flood->n_members, 4);
    assert_int_equal(flood->members[0].ifindex, 10);
    assert_int_equal(flood->members[1].ifindex, 11);
    assert_int_equal(flood->members[2].ifindex, 0);
    assert_int_equal(flood->members[2].vtep, inet_addr("192.168.100.2"));
    assert_int_equal(flood->members[3].vtep, inet_addr("192.168.100.3"));
    flood = lookup(&t, DP_FLOOD, &red);
    assert_int_equal(flood->n_members, 0);

    reconcile_tables_destroy(&t);
    state_destroy(s);
}

/* Live migration (doc/mobility.md).  A standby port (its VM migrating in
 * from 192.168.100.4): DP_PORT_STANDBY, its MAC standby to the source, in
 * no flood list, the source's VTEP among the next hops.  Once activated:
 * a port as any other.  A port whose VM switches over to 192.168.100.5:
 * its MAC forwards there.  Both hosts are fabric hosts VXLAN comes from. */
static void
test_desired_migration(void **state)
{
    static const char incoming[] =
        "\"vms\": [{\"name\": \"web1\", \"uuid\": "
        "\"1a2b3c4d-0000-4000-8000-000000000001\", \"vcpus\": 1,"
        " \"memory_mb\": 64, \"disk\": {\"file\": \"vms/a\","
        " \"image\": \"images/t\"},"
        " \"nics\": [{\"port\": \"vm2\", \"device\": \"tap-vm2\","
        " \"mac\": \"02:00:00:00:01:02\"}],"
        " \"incoming\": {\"id\": \"9f0e1d2c-3b4a-4596-8877-665544332211\","
        " \"from\": \"a\", \"from_vtep\": \"192.168.100.4\"}}],"
        " \"remotes\"";
    char *doc1 = edit(base_doc, "\"port_security\": false}",
                      "\"port_security\": false, \"standby\": true}");
    char *doc = edit(doc1, "\"remotes\"", incoming);
    struct state *s = parse(doc);
    struct reconcile_link links[] = {{10, true, 0, false},
                                     {11, false, 0, false}};
    struct dp_network_key blue = {100};
    struct dp_port_key p11 = {11};
    struct dp_fdb_key k = fdb_key(100, mac_vm2);
    struct dp_vtep_key vkey = {.vni = 0};
    const struct dp_fdb_entry *fdb;
    const struct dp_flood *flood;
    struct reconcile_tables t;

    reconcile_tables_init(&t);
    reconcile_desired(s, 0, links, NULL, &t);
    assert_int_equal(
        ((const struct dp_port *) lookup(&t, DP_PORTS, &p11))->flags,
        DP_PORT_STANDBY);
    fdb = lookup(&t, DP_FDB, &k);
    assert_int_equal(fdb->ifindex, 11);
    assert_int_equal(fdb->vtep, inet_addr("192.168.100.4"));
    assert_int_equal(fdb->flags, DP_FDB_STANDBY);
    flood = lookup(&t, DP_FLOOD, &blue);
    for (size_t i = 0; i < flood->n_members; i++) {
        assert_int_not_equal(flood->members[i].ifindex, 11);
    }
    assert_int_equal(flood->n_members, 3);
    /* The source forwards the VM's frames here: VXLAN from it counts. */
    vkey.vtep = inet_addr("192.168.100.4");
    lookup(&t, DP_VTEPS, &vkey);
    reconcile_tables_destroy(&t);

    /* The first frame came: a port as any. */
    s->ports[1].activated = true;
    reconcile_tables_init(&t);
    reconcile_desired(s, 0, links, NULL, &t);
    assert_int_equal(
        ((const struct dp_port *) lookup(&t, DP_PORTS, &p11))->flags, 0);
    fdb = lookup(&t, DP_FDB, &k);
    assert_int_equal(fdb->ifindex, 11);
    assert_int_equal(fdb->vtep, 0);
    assert_int_equal(fdb->flags, 0);
    flood = lookup(&t, DP_FLOOD, &blue);
    assert_int_equal(flood->n_members, 4);
    assert_int_equal(flood->members[1].ifindex, 11);
    reconcile_tables_destroy(&t);

    /* Switching over to another host. */
    s->ports[1].standby = false;
    s->ports[1].forward_vtep = inet_addr("192.168.100.5");
    reconcile_tables_init(&t);
    reconcile_desired(s, 0, links, NULL, &t);
    fdb = lookup(&t, DP_FDB, &k);
    assert_int_equal(fdb->ifindex, 0);
    assert_int_equal(fdb->vtep, inet_addr("192.168.100.5"));
    assert_int_equal(fdb->flags, DP_FDB_FORWARD);
    vkey.vtep = inet_addr("192.168.100.5");
    lookup(&t, DP_VTEPS, &vkey);
    reconcile_tables_destroy(&t);

    state_destroy(s);
    free(doc);
    free(doc1);
}

/* The source of a live migration a moment after it (doc/mobility.md
 * "forward"): the moved MAC is forwarded to its new host, from which, as
 * from the hosts the document names, VXLAN is accepted, with no network
 * or port of it left here. */
static void
test_desired_forward(void **state)
{
    static const uint8_t mac[6] = {2, 0, 0, 0, 1, 1};
    struct state *s = parse(
        "{\"host\": {\"vtep\": \"192.168.100.1\", \"underlay\": \"eth0\"},"
        " \"fabric_vteps\": [\"192.168.100.3\"],"
        " \"forward\": [{\"vni\": 100, \"mac\": \"02:00:00:00:01:01\","
        "               \"vtep\": \"192.168.100.2\"}]}");
    struct dp_fdb_key k = fdb_key(100, mac);
    struct dp_vtep_key vkey = {.vni = 0};
    const struct dp_fdb_entry *fdb;
    struct reconcile_tables t;

    (void) state;
    reconcile_tables_init(&t);
    reconcile_desired(s, 0, NULL, NULL, &t);
    fdb = lookup(&t, DP_FDB, &k);
    assert_int_equal(fdb->ifindex, 0);
    assert_int_equal(fdb->vtep, inet_addr("192.168.100.2"));
    assert_int_equal(fdb->flags, DP_FDB_FORWARD);
    assert_int_equal(t.t[DP_FDB].n, 1);
    assert_int_equal(t.t[DP_NETWORKS].n, 0);
    vkey.vtep = inet_addr("192.168.100.2");
    lookup(&t, DP_VTEPS, &vkey);
    vkey.vtep = inet_addr("192.168.100.3");
    lookup(&t, DP_VTEPS, &vkey);
    assert_int_equal(t.t[DP_VTEPS].n, 2);
    reconcile_tables_destroy(&t);
    state_destroy(s);
}

/* A MAC that left this host a moment ago is a remote too, at the VTEP it
 * went to: the remote gives the ARP responder its address and the flood
 * its host, so that this host's VMs reach it during the forward grace,
 * while the FDB entry is the forward's. */
static void
test_desired_forward_with_remote(void **state)
{
    static const uint8_t mac[6] = {2, 0, 0, 0, 2, 1};
    struct state *s = parse(
        "{\"host\": {\"vtep\": \"192.168.100.1\", \"underlay\": \"eth0\"},"
        " \"networks\": [{\"name\": \"blue\", \"vni\": 100}],"
        " \"remotes\": [{\"network\": \"blue\", \"mac\": "
        "\"02:00:00:00:02:01\","
        "              \"ip\": \"10.0.0.3\", \"vtep\": \"192.168.100.2\"}],"
        " \"forward\": [{\"vni\": 100, \"mac\": \"02:00:00:00:02:01\","
        "               \"vtep\": \"192.168.100.2\"}]}");
    struct dp_fdb_key k = fdb_key(100, mac);
    struct dp_binding_key b = {100, inet_addr("10.0.0.3")};
    struct dp_network_key blue = {100};
    const struct dp_binding *binding;
    const struct dp_fdb_entry *fdb;
    const struct dp_flood *flood;
    struct reconcile_tables t;

    (void) state;
    reconcile_tables_init(&t);
    reconcile_desired(s, 0, NULL, NULL, &t);
    assert_int_equal(t.t[DP_FDB].n, 1);
    fdb = lookup(&t, DP_FDB, &k);
    assert_int_equal(fdb->vtep, inet_addr("192.168.100.2"));
    assert_int_equal(fdb->flags, DP_FDB_FORWARD);
    binding = lookup(&t, DP_BINDINGS, &b);
    assert_memory_equal(binding->mac, mac, 6);
    flood = lookup(&t, DP_FLOOD, &blue);
    assert_int_equal(flood->n_members, 1);
    assert_int_equal(flood->members[0].vtep, inet_addr("192.168.100.2"));
    reconcile_tables_destroy(&t);
    state_destroy(s);
}

/* A port whose device does not exist is in no table at all. */
static void
test_desired_pending_port(void **state)
{
    struct state *s = parse(base_doc);
    struct reconcile_link links[] = {{0, false, 0, false},
                                     {11, false, 0, false}};
    struct dp_network_key blue = {100};
    struct dp_binding_key b = {100, inet_addr("10.0.0.1")};
    const struct dp_flood *flood;
    struct reconcile_tables t;

    reconcile_tables_init(&t);
    reconcile_desired(s, 0, links, NULL, &t);
    assert_int_equal(t.t[DP_PORTS].n, 1);
    assert_int_equal(t.t[DP_FDB].n, 4);
    assert_int_equal(t.t[DP_BINDINGS].n, 2);
    for (size_t i = 0; i < t.t[DP_BINDINGS].n; i++) {
        assert_memory_not_equal(reconcile_table_key(&t.t[DP_BINDINGS], i), &b,
                                sizeof b);
    }
    flood = lookup(&t, DP_FLOOD, &blue);
    assert_int_equal(flood->n_members, 3);
    assert_int_equal(flood->members[0].ifindex, 11);
    /* Unknown underlay MTU: 1500 is assumed. */
    assert_int_equal(
        ((const struct dp_network *) lookup(&t, DP_NETWORKS, &blue))->mtu,
        1450);
    reconcile_tables_destroy(&t);
    state_destroy(s);
}

static void
test_desired_nexthops(void **state)
{
    struct reconcile_nexthop vteps[] = {
        {.vtep = 1, .hop = {.ifindex = 2, .dst_mac = {2, 0, 0, 0, 0, 1}}},
        {.vtep = 2, .error = EAGAIN},      /* Resolving, in the datapath. */
        {.vtep = 3, .error = EAGAIN},      /* Resolving, not there. */
        {.vtep = 4, .error = ENETUNREACH}, /* No route, in the datapath. */
    };
    struct dp_nexthop old = {.ifindex = 2, .dst_mac = {2, 0, 0, 0, 0, 9}};
    struct dp_nexthop_key k1 = {1}, k2 = {2}, k4 = {4};
    struct reconcile_tables desired, actual;
    const struct dp_nexthop *hop;

    reconcile_tables_init(&desired);
    reconcile_tables_init(&actual);
    reconcile_tables_add(&actual, DP_NEXTHOPS, &k1, &old);
    reconcile_tables_add(&actual, DP_NEXTHOPS, &k2, &old);
    reconcile_tables_add(&actual, DP_NEXTHOPS, &k4, &old);
    reconcile_desired_nexthops(vteps, ARRAY_SIZE(vteps),
                               &actual.t[DP_NEXTHOPS], &desired);

    assert_int_equal(desired.t[DP_NEXTHOPS].n, 2);
    hop = lookup(&desired, DP_NEXTHOPS, &k1);
    assert_memory_equal(hop, &vteps[0].hop, sizeof *hop);
    hop = lookup(&desired, DP_NEXTHOPS, &k2);
    assert_memory_equal(hop, &old, sizeof *hop);

    reconcile_tables_destroy(&desired);
    reconcile_tables_destroy(&actual);
}

/* ------------------------------------------------------------------------
 * The diff. */

static void
add_network(struct reconcile_tables *t, uint32_t vni, uint32_t mtu)
{
    struct dp_network_key key = {vni};
    struct dp_network value = {mtu, 0};

    reconcile_tables_add(t, DP_NETWORKS, &key, &value);
}

static void
add_port(struct reconcile_tables *t, uint32_t ifindex, uint32_t vni)
{
    struct dp_port_key key = {ifindex};
    struct dp_port value = {.vni = vni, .mtu = 1450};

    reconcile_tables_add(t, DP_PORTS, &key, &value);
}

static void
add_flood(struct reconcile_tables *t, uint32_t vni, uint32_t n,
          uint32_t garbage)
{
    struct dp_flood_key key = {vni};
    struct dp_flood value;

    /* Members past 'n_members' do not count; fill them with 'garbage'. */
    memset(&value, garbage, sizeof value);
    value.n_members = n;
    value.pad = 0;
    for (uint32_t i = 0; i < n; i++) {
        value.members[i].ifindex = 10 + i;
        value.members[i].vtep = 0;
    }
    reconcile_tables_add(t, DP_FLOOD, &key, &value);
}

static void
assert_op(const struct reconcile_op *op, enum reconcile_op_type type,
          enum dp_table table, uint32_t first_key_field)
{
    uint32_t k;

    memcpy(&k, op->key, sizeof k);
    assert_int_equal(op->type, type);
    assert_int_equal(op->table, table);
    assert_int_equal(k, first_key_field);
}

static void
test_diff_identical_is_empty(void **state)
{
    struct reconcile_tables desired, actual;
    struct reconcile_ops ops = {0};

    reconcile_tables_init(&desired);
    reconcile_tables_init(&actual);
    add_network(&desired, 100, 1450);
    add_network(&desired, 200, 1450);
    add_port(&desired, 10, 100);
    add_flood(&desired, 100, 2, 0);
    /* Same contents, another order, and other bytes in unused flood list
     * slots. */
    add_flood(&actual, 100, 2, 0xab);
    add_port(&actual, 10, 100);
    add_network(&actual, 200, 1450);
    add_network(&actual, 100, 1450);

    reconcile_diff(&desired, &actual, &ops);
    assert_int_equal(ops.n, 0);

    reconcile_ops_destroy(&ops);
    reconcile_tables_destroy(&desired);
    reconcile_tables_destroy(&actual);
}

static void
test_diff_changes(void **state)
{
    struct reconcile_tables desired, actual;
    struct reconcile_ops ops = {0};
    const struct dp_network *net;

    reconcile_tables_init(&desired);
    reconcile_tables_init(&actual);
    add_network(&desired, 100, 1400); /* Changed MTU. */
    add_network(&desired, 300, 1450); /* New. */
    add_network(&actual, 100, 1450);
    add_network(&actual, 200, 1450); /* Gone. */
    add_port(&desired, 11, 300);     /* New. */
    add_port(&desired, 10, 100);     /* Unchanged. */
    add_port(&actual, 10, 100);
    add_port(&actual, 12, 200);     /* Gone. */
    add_flood(&desired, 100, 1, 0); /* One member less. */
    add_flood(&actual, 100, 2, 0);
    add_flood(&actual, 200, 1, 0); /* Gone. */

    reconcile_diff(&desired, &actual, &ops);

    /* Sets from networks to flood lists, then deletes back. */
    assert_int_equal(ops.n, 7);
    assert_op(&ops.ops[0], RECONCILE_MODIFY, DP_NETWORKS, 100);
    net = ops.ops[0].value;
    assert_int_equal(net->mtu, 1400);
    assert_op(&ops.ops[1], RECONCILE_ADD, DP_NETWORKS, 300);
    assert_op(&ops.ops[2], RECONCILE_ADD, DP_PORTS, 11);
    assert_op(&ops.ops[3], RECONCILE_MODIFY, DP_FLOOD, 100);
    assert_op(&ops.ops[4], RECONCILE_DEL, DP_FLOOD, 200);
    assert_op(&ops.ops[5], RECONCILE_DEL, DP_PORTS, 12);
    assert_op(&ops.ops[6], RECONCILE_DEL, DP_NETWORKS, 200);

    reconcile_ops_destroy(&ops);
    reconcile_tables_destroy(&desired);
    reconcile_tables_destroy(&actual);
}

static void
test_diff_empty_sides(void **state)
{
    struct reconcile_tables desired, actual;
    struct reconcile_ops ops = {0};

    reconcile_tables_init(&desired);
    reconcile_tables_init(&actual);
    add_network(&desired, 100, 1450);
    add_port(&desired, 10, 100);
    reconcile_diff(&desired, &actual, &ops);
    assert_int_equal(ops.n, 2);
    assert_op(&ops.ops[0], RECONCILE_ADD, DP_NETWORKS, 100);
    assert_op(&ops.ops[1], RECONCILE_ADD, DP_PORTS, 10);
    reconcile_ops_destroy(&ops);

    /* Everything deleted: ports before the networks they are in. */
    reconcile_diff(&actual, &desired, &ops);
    assert_int_equal(ops.n, 2);
    assert_op(&ops.ops[0], RECONCILE_DEL, DP_PORTS, 10);
    assert_op(&ops.ops[1], RECONCILE_DEL, DP_NETWORKS, 100);

    reconcile_ops_destroy(&ops);
    reconcile_tables_destroy(&desired);
    reconcile_tables_destroy(&actual);
}

/* Keys sort by their leading number, so VNI 256 comes after VNI 2 whatever
 * the byte order, and by address bytes after that. */
static void
test_table_sort(void **state)
{
    struct reconcile_tables t;
    struct dp_fdb_entry v = {0};
    struct dp_fdb_key k;
    uint8_t m1[6] = {2, 0, 0, 0, 0, 1}, m2[6] = {2, 0, 0, 0, 1, 0};
    const struct dp_fdb_key *key;

    reconcile_tables_init(&t);
    k = fdb_key(256, m1);
    reconcile_tables_add(&t, DP_FDB, &k, &v);
    k = fdb_key(2, m2);
    reconcile_tables_add(&t, DP_FDB, &k, &v);
    k = fdb_key(2, m1);
    reconcile_tables_add(&t, DP_FDB, &k, &v);
    reconcile_table_sort(&t.t[DP_FDB]);

    key = reconcile_table_key(&t.t[DP_FDB], 0);
    assert_int_equal(key->vni, 2);
    assert_memory_equal(key->mac, m1, 6);
    key = reconcile_table_key(&t.t[DP_FDB], 1);
    assert_int_equal(key->vni, 2);
    assert_memory_equal(key->mac, m2, 6);
    key = reconcile_table_key(&t.t[DP_FDB], 2);
    assert_int_equal(key->vni, 256);
    reconcile_tables_destroy(&t);
}

static void
test_format_entry(void **state)
{
    struct dp_fdb_key k = fdb_key(100, mac_r1);
    struct dp_fdb_entry remote = {0, inet_addr("192.168.100.2"), 0};
    struct dp_fdb_entry local = {7, 0, 0};
    struct dp_port_key pk = {7};
    struct dp_port port = {.vni = 100,
                           .flags = DP_PORT_SECURITY,
                           .mtu = 1450,
                           .ip4 = inet_addr("10.0.0.1")};
    char buf[256];

    memcpy(port.mac, mac_vm1, 6);
    reconcile_format_entry(DP_FDB, &k, &remote, buf, sizeof buf);
    assert_string_equal(buf, "fdb vni 100 02:00:00:00:02:01 -> vtep "
                             "192.168.100.2");
    reconcile_format_entry(DP_FDB, &k, &local, buf, sizeof buf);
    assert_string_equal(buf, "fdb vni 100 02:00:00:00:02:01 -> port 7");
    reconcile_format_entry(DP_FDB, &k, NULL, buf, sizeof buf);
    assert_string_equal(buf, "fdb vni 100 02:00:00:00:02:01");
    reconcile_format_entry(DP_PORTS, &pk, &port, buf, sizeof buf);
    assert_string_equal(buf, "ports ifindex 7 -> vni 100 mac "
                             "02:00:00:00:01:01 mtu 1450 ip 10.0.0.1 "
                             "port-security");
    /* Truncates rather than overflows. */
    reconcile_format_entry(DP_PORTS, &pk, &port, buf, 12);
    assert_string_equal(buf, "ports ifind");

    /* A live migration's entries. */
    port.flags |= DP_PORT_STANDBY;
    reconcile_format_entry(DP_PORTS, &pk, &port, buf, sizeof buf);
    assert_string_equal(buf, "ports ifindex 7 -> vni 100 mac "
                             "02:00:00:00:01:01 mtu 1450 ip 10.0.0.1 "
                             "port-security standby");
    local.vtep = remote.vtep;
    local.flags = DP_FDB_STANDBY;
    reconcile_format_entry(DP_FDB, &k, &local, buf, sizeof buf);
    assert_string_equal(buf, "fdb vni 100 02:00:00:00:02:01 -> port 7 "
                             "standby, running at 192.168.100.2");
    remote.flags = DP_FDB_FORWARD;
    reconcile_format_entry(DP_FDB, &k, &remote, buf, sizeof buf);
    assert_string_equal(buf, "fdb vni 100 02:00:00:00:02:01 -> vtep "
                             "192.168.100.2 forward");
}

/* A standby port reads back without DP_PORT_STANDBY once the fast path has
 * activated it; the document saying standby a moment longer changes
 * nothing, but any other change still goes through, and so does the
 * document's standby for a port that is not. */
static void
test_diff_activated_standby_port(void **state)
{
    struct reconcile_tables desired, actual;
    struct reconcile_ops ops = {0};
    struct dp_port_key key = {10};
    struct dp_port standby = {
        .vni = 100, .mtu = 1450, .flags = DP_PORT_STANDBY};
    struct dp_port active = {.vni = 100, .mtu = 1450};

    (void) state;
    reconcile_tables_init(&desired);
    reconcile_tables_init(&actual);
    reconcile_tables_add(&desired, DP_PORTS, &key, &standby);
    reconcile_tables_add(&actual, DP_PORTS, &key, &active);
    reconcile_diff(&desired, &actual, &ops);
    assert_int_equal(ops.n, 0);
    reconcile_tables_destroy(&desired);

    reconcile_tables_init(&desired);
    standby.flags |= DP_PORT_FW_INGRESS;
    reconcile_tables_add(&desired, DP_PORTS, &key, &standby);
    reconcile_diff(&desired, &actual, &ops);
    assert_int_equal(ops.n, 1);
    assert_op(&ops.ops[0], RECONCILE_MODIFY, DP_PORTS, 10);
    reconcile_ops_destroy(&ops);

    /* The other way round: the document no longer says standby, and the
     * port has not activated. */
    reconcile_tables_destroy(&desired);
    reconcile_tables_init(&desired);
    standby.flags = DP_PORT_STANDBY;
    reconcile_tables_add(&desired, DP_PORTS, &key, &standby);
    reconcile_diff(&actual, &desired, &ops);
    assert_int_equal(ops.n, 1);
    assert_op(&ops.ops[0], RECONCILE_MODIFY, DP_PORTS, 10);

    reconcile_ops_destroy(&ops);
    reconcile_tables_destroy(&desired);
    reconcile_tables_destroy(&actual);
}

/* ------------------------------------------------------------------------
 * Runs against the fake datapath. */

/* Fails unless every recorded set comes before every delete, sets go from
 * networks to flood lists and deletes the other way. */
static void
assert_calls_ordered(void)
{
    static const int rank[DP_N_TABLES] = {
        [DP_NEXTHOPS] = 0,  [DP_VTEPS] = 1,    [DP_NETWORKS] = 2,
        [DP_RULE_HITS] = 3, [DP_POLICIES] = 4, [DP_POLICY_CIDRS] = 5,
        [DP_PORTS] = 6,     [DP_QOS] = 7,      [DP_FDB] = 8,
        [DP_BINDINGS] = 9,  [DP_FLOOD] = 10,   [DP_CONNTRACK] = 11,
    };
    bool deleting = false;
    int last = -1;

    for (size_t i = 0; i < fake.n_calls; i++) {
        const struct fake_call *c = &fake.calls[i];

        if (c->del && !deleting) {
            deleting = true;
            last = DP_N_TABLES;
        }
        assert_true(c->del == deleting);
        if (deleting) {
            assert_true(rank[c->table] <= last);
        } else {
            assert_true(rank[c->table] >= last);
        }
        last = rank[c->table];
    }
}

static size_t
count_calls(bool del, enum dp_table table)
{
    size_t n = 0;

    for (size_t i = 0; i < fake.n_calls; i++) {
        n += fake.calls[i].del == del && fake.calls[i].table == table;
    }
    return n;
}

/* Runs a new reconciler, as a freshly started agent would. */
static int
run_fresh(const struct state *s)
{
    struct reconciler *rc = reconcile_create(FAKE_DP);
    int error = reconcile_run(rc, s);

    reconcile_destroy(rc);
    return error;
}

static void
test_run_programs_empty_datapath(void **state)
{
    struct state *s = parse(base_doc);
    struct dp_port_key p10 = {10};
    struct dp_flood_key blue = {100};
    const struct dp_flood *flood;
    const struct dp_port *port;

    assert_int_equal(run_fresh(s), 0);

    assert_int_equal(fake.n_configures, 1);
    assert_int_equal(fake.config.vtep_ip, inet_addr("192.168.100.1"));
    assert_int_equal(fake.config.underlay_ifindex, 2);
    assert_int_equal(fake.config.ttl, 64);

    assert_int_equal(fake.n_calls, 2 + 2 + 2 + 2 + 5 + 3 + 2);
    assert_int_equal(count_calls(false, DP_NEXTHOPS), 2);
    assert_int_equal(count_calls(false, DP_VTEPS), 2);
    assert_int_equal(count_calls(false, DP_NETWORKS), 2);
    assert_int_equal(count_calls(false, DP_PORTS), 2);
    assert_int_equal(count_calls(false, DP_FDB), 5);
    assert_int_equal(count_calls(false, DP_BINDINGS), 3);
    assert_int_equal(count_calls(false, DP_FLOOD), 2);
    assert_calls_ordered();

    port = fake_value(DP_PORTS, &p10);
    assert_int_equal(port->flags, DP_PORT_SECURITY | DP_PORT_VETH);
    assert_int_equal(port->mtu, 1450);
    flood = fake_value(DP_FLOOD, &blue);
    assert_int_equal(flood->n_members, 4);

    /* The veth gets the network's MTU and is brought up; the tap is right
     * already. */
    assert_int_equal(fake.n_mtu_sets, 1);
    assert_int_equal(fake.mtu_set[0], 10);
    assert_int_equal(fake_device_by_index(10)->link.mtu, 1450);
    assert_int_equal(fake.n_ups, 1);
    assert_true(fake_device_by_index(10)->link.up);

    /* Each remote VTEP resolved once, and its next hop programmed. */
    assert_int_equal(fake.n_nexthop_gets, 2);
    assert_int_equal(fake.tables[DP_NEXTHOPS].n, 2);
    state_destroy(s);
}

/* A port's QoS becomes a DP_QOS entry keyed by its device, set after the
 * port; without HTB on the underlay, fq goes on it while a port has an
 * egress rate; a changed limit is one modification and a removed one a
 * deletion.  The port's ingress limit is shaped by an HTB qdisc on its own
 * device, which goes when the limit does. */
static void
test_run_qos_fq(void **state)
{
    char *text = edit(base_doc, "\"ip\": \"10.0.0.1\",",
                      "\"ip\": \"10.0.0.1\", \"qos\": {\"egress_rate\":"
                      " 100000000, \"ingress_rate\": 50000000,"
                      " \"ingress_burst\": 100000, \"dscp\": 46},");
    char *text2 = edit(text, "100000000", "200000000");
    struct state *s = parse(text), *s2 = parse(text2), *s3 = parse(base_doc);
    struct dp_qos_key p10 = {10};
    const struct dp_qos *qos;
    char buf[256];

    fake.htb_fail = EOPNOTSUPP;
    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(count_calls(false, DP_QOS), 1);
    assert_calls_ordered();
    qos = fake_value(DP_QOS, &p10);
    assert_int_equal(qos->egress_rate, 100000000);
    assert_int_equal(qos->egress_burst, 1250000);
    assert_int_equal(qos->ingress_rate, 50000000);
    assert_int_equal(qos->ingress_burst, 100000);
    assert_int_equal(qos->dscp, 46);
    assert_int_equal(qos->flags, DP_QOS_INGRESS_HTB);
    assert_int_equal(fake.n_fq, 1);
    assert_int_equal(fake.fq_ifindex, 2);
    reconcile_format_entry(DP_QOS, &p10, qos, buf, sizeof buf);
    assert_string_equal(buf, "qos ifindex 10 -> egress 100000000 bit/s burst "
                             "1250000 ingress 50000000 bit/s burst 100000 "
                             "dscp 46 ingress-shaped");
    assert_int_equal(fake.n_ingress, 1);
    assert_int_equal(fake.ingress[0].ifindex, 10);
    assert_int_equal(fake.ingress[0].c.rate, 50000000);
    assert_int_equal(fake.ingress[0].c.ceil, 50000000);
    assert_int_equal(fake.ingress[0].c.burst, 100000);
    /* 50 ms at 50 Mbit/s. */
    assert_int_equal(fake.ingress[0].queue, 312500);

    fake_forget_calls();
    assert_int_equal(run_fresh(s2), 0);
    assert_int_equal(fake.n_calls, 1);
    assert_int_equal(count_calls(false, DP_QOS), 1);
    qos = fake_value(DP_QOS, &p10);
    assert_int_equal(qos->egress_rate, 200000000);

    fake_forget_calls();
    assert_int_equal(run_fresh(s3), 0);
    assert_int_equal(fake.n_calls, 1);
    assert_int_equal(count_calls(true, DP_QOS), 1);
    assert_int_equal(fake.n_fq, 0);
    /* A fresh agent learnt from the datapath that the port was shaped. */
    assert_int_equal(fake.n_ingress, 0);

    free(text);
    free(text2);
    state_destroy(s);
    state_destroy(s2);
    state_destroy(s3);
}

/* Returns the flags of the fake DP_QOS entry of 'key'. */
static unsigned int
qos_flags(const struct dp_qos_key *key)
{
    const struct dp_qos *qos = fake_value(DP_QOS, key);

    assert_non_null(qos);
    return qos->flags;
}

/* Ingress shaping through one reconciler: a changed burst changes the
 * class in place, an unchanged limit costs no netlink call, and where the
 * qdisc cannot be had the port is policed (no flag) until it can. */
static void
test_run_qos_ingress_shaping(void **state)
{
    char *text = edit(base_doc, "\"ip\": \"10.0.0.1\",",
                      "\"ip\": \"10.0.0.1\", \"qos\": {\"ingress_rate\":"
                      " 100000000},");
    char *text2 =
        edit(text, "100000000}", "100000000, \"ingress_burst\": 4000000}");
    struct state *s = parse(text), *s2 = parse(text2), *s3 = parse(base_doc);
    struct reconciler *rc = reconcile_create(FAKE_DP);
    struct dp_qos_key p10 = {10};

    fake.ingress_fail = EOPNOTSUPP;
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(qos_flags(&p10), 0);
    assert_int_equal(fake.n_ingress, 0);

    fake.ingress_fail = 0;
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(qos_flags(&p10), DP_QOS_INGRESS_HTB);
    assert_int_equal(fake.n_ingress, 1);
    /* The default burst: 100 ms at the rate. */
    assert_int_equal(fake.ingress[0].c.burst, 1250000);
    assert_int_equal(fake.n_ingress_sets, 1);

    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(fake.n_ingress_sets, 1);

    assert_int_equal(reconcile_run(rc, s2), 0);
    assert_int_equal(fake.n_ingress_sets, 2);
    assert_int_equal(fake.ingress[0].c.burst, 4000000);
    assert_int_equal(qos_flags(&p10), DP_QOS_INGRESS_HTB);

    fake_forget_calls();
    assert_int_equal(reconcile_run(rc, s3), 0);
    assert_int_equal(fake.n_ingress, 0);
    assert_int_equal(count_calls(true, DP_QOS), 1);

    reconcile_destroy(rc);
    free(text);
    free(text2);
    state_destroy(s);
    state_destroy(s2);
    state_destroy(s3);
}

/* Where HTB can be had, a shaped port gets its own class under fab0:ffff
 * (the uplink), next to fab0:1 for the host's own traffic, and its DP_QOS
 * entry names it; fq is left alone.  A limit alone is a class with a
 * small guarantee and the limit as ceiling, a guarantee alone one that may
 * borrow up to the uplink.  A change changes the class in place, without
 * installing the qdisc again, and a restarted agent keeps the minors. */
static void
test_run_qos_htb(void **state)
{
    char *text0 = edit(base_doc, "\"underlay\": \"eth0\"",
                       "\"underlay\": \"eth0\", \"uplink_rate\":"
                       " 400000000");
    char *text = edit(text0, "\"ip\": \"10.0.0.1\",",
                      "\"ip\": \"10.0.0.1\", \"qos\": {\"egress_rate\":"
                      " 100000000},");
    char *text2 = edit(text, "\"port_security\": false",
                       "\"port_security\": false, \"qos\":"
                       " {\"egress_min_rate\": 300000000,"
                       " \"egress_priority\": 1}");
    char *text3 = edit(text2, "100000000", "50000000");
    char *text4 = edit(text2, " \"qos\": {\"egress_rate\": 100000000},", "");
    struct state *s = parse(text), *s2 = parse(text2), *s3 = parse(text3);
    struct state *s4 = parse(text4), *s5 = parse(text0);
    struct dp_qos_key p10 = {10}, p11 = {11};
    const struct fake_class *cl;
    const struct dp_qos *qos;
    char buf[256];

    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_fq, 0);
    assert_int_equal(fake.htb_ifindex, 2);
    assert_int_equal(fake.n_classes, 3);
    cl = fake_class(0xffff);
    assert_non_null(cl);
    assert_int_equal(cl->parent, 0);
    assert_int_equal(cl->c.rate, 400000000);
    assert_int_equal(cl->c.ceil, 400000000);
    cl = fake_class(1);
    assert_non_null(cl);
    assert_int_equal(cl->parent, 0xffff);
    assert_int_equal(cl->c.rate, 4000000);
    assert_int_equal(cl->c.ceil, 400000000);
    cl = fake_class(2);
    assert_non_null(cl);
    assert_int_equal(cl->parent, 0xffff);
    assert_int_equal(cl->c.rate, 1000000);
    assert_int_equal(cl->c.ceil, 100000000);
    assert_int_equal(cl->c.prio, 4);
    assert_int_equal(cl->queue, 625000);
    qos = fake_value(DP_QOS, &p10);
    assert_int_equal(qos->flags, DP_QOS_EGRESS_HTB);
    assert_int_equal(qos->htb_minor, 2);
    reconcile_format_entry(DP_QOS, &p10, qos, buf, sizeof buf);
    assert_string_equal(buf, "qos ifindex 10 -> egress 100000000 bit/s burst "
                             "1250000 egress-class fab0:2");

    /* A second port with a guarantee and a priority. */
    fake_forget_calls();
    assert_int_equal(run_fresh(s2), 0);
    assert_int_equal(fake.n_htb_creates, 0);
    assert_int_equal(fake.n_classes, 4);
    assert_int_equal(
        ((const struct dp_qos *) fake_value(DP_QOS, &p10))->htb_minor, 2);
    qos = fake_value(DP_QOS, &p11);
    assert_int_equal(qos->flags, DP_QOS_EGRESS_HTB);
    assert_int_equal(qos->htb_minor, 3);
    assert_int_equal(qos->egress_rate, 0);
    cl = fake_class(3);
    assert_non_null(cl);
    assert_int_equal(cl->c.rate, 300000000);
    assert_int_equal(cl->c.ceil, 400000000);
    assert_int_equal(cl->c.prio, 1);

    /* The limit changes live. */
    fake_forget_calls();
    assert_int_equal(run_fresh(s3), 0);
    assert_int_equal(fake.n_htb_creates, 0);
    assert_int_equal(fake_class(2)->c.ceil, 50000000);
    assert_int_equal(fake_class(2)->queue, 312500);
    assert_int_equal(
        ((const struct dp_qos *) fake_value(DP_QOS, &p10))->htb_minor, 2);
    assert_int_equal(
        ((const struct dp_qos *) fake_value(DP_QOS, &p11))->htb_minor, 3);

    /* The first port's class goes with its policy, then the qdisc with
     * the last. */
    fake_forget_calls();
    assert_int_equal(run_fresh(s4), 0);
    assert_null(fake_find(DP_QOS, &p10));
    assert_int_equal(
        ((const struct dp_qos *) fake_value(DP_QOS, &p11))->htb_minor, 3);
    assert_null(fake_class(2));
    assert_non_null(fake_class(3));
    assert_int_equal(fake.htb_ifindex, 2);
    fake_forget_calls();
    assert_int_equal(run_fresh(s5), 0);
    assert_int_equal(fake.htb_ifindex, 0);
    assert_int_equal(fake.tables[DP_QOS].n, 0);

    free(text0);
    free(text);
    free(text2);
    free(text3);
    free(text4);
    state_destroy(s);
    state_destroy(s2);
    state_destroy(s3);
    state_destroy(s4);
    state_destroy(s5);
}

/* A restarted agent finds everything right and changes nothing. */
static void
test_run_again_changes_nothing(void **state)
{
    struct state *s = parse(base_doc);

    assert_int_equal(run_fresh(s), 0);
    fake_forget_calls();

    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_calls, 0);
    assert_int_equal(fake.n_configures, 0);
    assert_int_equal(fake.n_mtu_sets, 0);
    assert_int_equal(fake.n_ups, 0);
    state_destroy(s);
}

static void
test_run_applies_only_the_difference(void **state)
{
    struct state *s = parse(base_doc), *s2;
    struct dp_binding_key old_binding = {100, inet_addr("10.0.0.1")};
    struct dp_fdb_key gone = fdb_key(100, mac_r3);
    struct dp_flood_key blue = {100};
    const struct dp_flood *flood;
    char *text, *text2;

    assert_int_equal(run_fresh(s), 0);
    fake_forget_calls();

    /* vm1 moves to 10.0.0.9 and the remote behind 192.168.100.3 goes. */
    text = edit(base_doc, "\"10.0.0.1\"", "\"10.0.0.9\"");
    text2 = edit(text,
                 ","
                 "             {\"network\": \"blue\", \"mac\": "
                 "\"02:00:00:00:03:01\","
                 "              \"ip\": \"10.0.0.5\", \"vtep\": "
                 "\"192.168.100.3\"}",
                 "");
    s2 = parse(text2);
    assert_int_equal(run_fresh(s2), 0);

    /* Port vm1 changes, its new binding and the shorter flood list are
     * set; the old binding, the remote's binding and FDB entry, and the
     * next hop of its VTEP and the VTEP itself go. */
    assert_int_equal(fake.n_calls, 8);
    assert_int_equal(count_calls(true, DP_NEXTHOPS), 1);
    assert_int_equal(count_calls(true, DP_VTEPS), 1);
    assert_int_equal(count_calls(false, DP_PORTS), 1);
    assert_int_equal(count_calls(false, DP_BINDINGS), 1);
    assert_int_equal(count_calls(false, DP_FLOOD), 1);
    assert_int_equal(count_calls(true, DP_BINDINGS), 2);
    assert_int_equal(count_calls(true, DP_FDB), 1);
    assert_calls_ordered();
    assert_null(fake_find(DP_BINDINGS, &old_binding));
    assert_null(fake_find(DP_FDB, &gone));
    flood = fake_value(DP_FLOOD, &blue);
    assert_int_equal(flood->n_members, 3);
    assert_int_equal(fake.n_configures, 0);

    free(text);
    free(text2);
    state_destroy(s);
    state_destroy(s2);
}

/* Entries nobody asked for (a previous agent's, say) are deleted, those
 * that refer to others first. */
static void
test_run_removes_stale_entries(void **state)
{
    struct state *s = parse("{\"host\": {\"vtep\": \"192.168.100.1\","
                            "          \"underlay\": \"eth0\"}}");
    struct dp_network_key nk = {999};
    struct dp_network nv = {1450, 0};
    struct dp_port_key pk = {99};
    struct dp_port pv = {.vni = 999};
    struct dp_fdb_key fk = fdb_key(999, mac_vm1);
    struct dp_fdb_entry fv = {99, 0, 0};
    struct dp_flood_key lk = {999};
    struct dp_flood lv = {.n_members = 1, .members = {{99, 0}}};

    fake_put(DP_PORTS, &pk, &pv);
    fake_put(DP_FLOOD, &lk, &lv);
    fake_put(DP_NETWORKS, &nk, &nv);
    fake_put(DP_FDB, &fk, &fv);

    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_calls, 4);
    assert_true(fake.calls[0].del && fake.calls[0].table == DP_FLOOD);
    assert_true(fake.calls[1].del && fake.calls[1].table == DP_FDB);
    assert_true(fake.calls[2].del && fake.calls[2].table == DP_PORTS);
    assert_true(fake.calls[3].del && fake.calls[3].table == DP_NETWORKS);
    for (int i = 0; i < DP_N_TABLES; i++) {
        assert_int_equal(fake.tables[i].n, 0);
    }
    state_destroy(s);
}

/* A port whose device is missing waits without error, and is added alone
 * when the device appears. */
static void
test_run_pending_port(void **state)
{
    struct state *s = parse(base_doc);
    struct reconciler *rc = reconcile_create(FAKE_DP);
    struct dp_port_key p11 = {11};
    struct dp_flood_key blue = {100};

    fake_remove_device("tap-vm2");
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(count_calls(false, DP_PORTS), 1);
    assert_null(fake_find(DP_PORTS, &p11));
    assert_int_equal(
        ((const struct dp_flood *) fake_value(DP_FLOOD, &blue))->n_members, 3);

    /* Still missing: nothing to do. */
    fake_forget_calls();
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(fake.n_calls, 0);

    /* The VM starts. */
    fake_add_device("tap-vm2", 11, 1450, true, "tun");
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(fake.n_calls, 3); /* Port, FDB entry, flood list. */
    assert_int_equal(count_calls(false, DP_PORTS), 1);
    assert_int_equal(count_calls(false, DP_FDB), 1);
    assert_int_equal(count_calls(false, DP_FLOOD), 1);
    assert_non_null(fake_find(DP_PORTS, &p11));

    reconcile_destroy(rc);
    state_destroy(s);
}

/* Without the underlay, ports are programmed but VXLAN is not configured;
 * when it appears, configuration and MTUs follow it. */
static void
test_run_missing_underlay(void **state)
{
    struct state *s = parse(base_doc);
    struct reconciler *rc = reconcile_create(FAKE_DP);
    struct dp_network_key blue = {100};
    struct dp_network_key red = {200};

    fake_remove_device("eth0");
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(fake.n_configures, 0);
    assert_int_equal(fake.n_nexthop_gets, 0);
    assert_int_equal(fake.tables[DP_NEXTHOPS].n, 0);
    assert_int_equal(fake.tables[DP_PORTS].n, 2);
    assert_int_equal(
        ((const struct dp_network *) fake_value(DP_NETWORKS, &blue))->mtu,
        1450);

    fake_forget_calls();
    fake_add_device("eth0", 2, 9000, true, "");
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(fake.n_configures, 1);
    assert_int_equal(fake.config.underlay_ifindex, 2);
    /* Blue follows the underlay, and so do its ports; red is explicit. */
    assert_int_equal(
        ((const struct dp_network *) fake_value(DP_NETWORKS, &blue))->mtu,
        8950);
    assert_int_equal(
        ((const struct dp_network *) fake_value(DP_NETWORKS, &red))->mtu,
        1300);
    assert_int_equal(count_calls(false, DP_NETWORKS), 1);
    assert_int_equal(count_calls(false, DP_PORTS), 2);
    /* And now the remote VTEPs' next hops can be resolved. */
    assert_int_equal(count_calls(false, DP_NEXTHOPS), 2);
    assert_int_equal(fake.n_calls, 5);
    assert_int_equal(fake.n_mtu_sets, 2);

    reconcile_destroy(rc);
    state_destroy(s);
}

/* External VTEPs (an OVS at .9 in blue and red, without GBP; a gateway at
 * .8 in blue, with GBP): each joins the flood lists of its networks, has a
 * next hop that says whether it takes VXLAN-GBP, and is accepted in the
 * networks it joined only; a fabric host's VTEP is accepted in every
 * network and takes GBP.  Turning GBP on for .9 changes its next hop in
 * place. */
static void
test_run_external_vteps(void **state)
{
    static const char ext[] =
        "\"external_vteps\": ["
        "{\"network\": \"blue\", \"vtep\": \"192.168.100.9\"},"
        "{\"network\": \"red\", \"vtep\": \"192.168.100.9\"},"
        "{\"network\": \"blue\", \"vtep\": \"192.168.100.8\","
        " \"gbp\": true}],"
        " \"remotes\": [{\"network\": \"blue\","
        " \"mac\": \"02:00:00:00:09:01\", \"ip\": \"10.0.0.9\","
        " \"vtep\": \"192.168.100.9\"},";
    char *doc = edit(base_doc, "\"remotes\": [", ext);
    char *doc_gbp;
    struct state *s = parse(doc);
    struct dp_nexthop_key ovs = {inet_addr("192.168.100.9")};
    struct dp_nexthop_key gw = {inet_addr("192.168.100.8")};
    struct dp_nexthop_key host = {inet_addr("192.168.100.2")};
    struct dp_vtep_key v;
    struct dp_network_key blue = {100}, red = {200};
    const struct dp_flood *flood;
    const struct dp_vtep *vtep;

    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(
        ((const struct dp_nexthop *) fake_value(DP_NEXTHOPS, &ovs))->flags, 0);
    assert_int_equal(
        ((const struct dp_nexthop *) fake_value(DP_NEXTHOPS, &gw))->flags,
        DP_NEXTHOP_GBP);
    assert_int_equal(
        ((const struct dp_nexthop *) fake_value(DP_NEXTHOPS, &host))->flags,
        DP_NEXTHOP_GBP);

    flood = fake_value(DP_FLOOD, &blue);
    assert_int_equal(flood->n_members, 6);
    assert_int_equal(flood->members[2].vtep, ovs.vtep); /* First remote. */
    assert_int_equal(flood->members[5].vtep, gw.vtep);
    flood = fake_value(DP_FLOOD, &red);
    assert_int_equal(flood->n_members, 1);
    assert_int_equal(flood->members[0].vtep, ovs.vtep);

    /* Fabric hosts for every VNI; externals per network joined. */
    assert_int_equal(fake.tables[DP_VTEPS].n, 5);
    v = (struct dp_vtep_key){.vtep = host.vtep};
    vtep = fake_value(DP_VTEPS, &v);
    assert_non_null(vtep);
    assert_int_equal(vtep->flags, 0);
    v = (struct dp_vtep_key){.vtep = ovs.vtep};
    assert_null(fake_find(DP_VTEPS, &v));
    v.vni = 100;
    assert_int_equal(
        ((const struct dp_vtep *) fake_value(DP_VTEPS, &v))->flags,
        DP_VTEP_EXTERNAL);
    v.vni = 200;
    assert_non_null(fake_find(DP_VTEPS, &v));
    v = (struct dp_vtep_key){.vtep = gw.vtep, .vni = 200};
    assert_null(fake_find(DP_VTEPS, &v));

    doc_gbp = edit(doc, "\"192.168.100.9\"},",
                   "\"192.168.100.9\","
                   " \"gbp\": true},");
    free(doc);
    doc = edit(doc_gbp, "\"192.168.100.9\"},",
               "\"192.168.100.9\","
               " \"gbp\": true},");
    state_destroy(s);
    s = parse(doc);
    fake_forget_calls();
    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_calls, 1);
    assert_int_equal(
        ((const struct dp_nexthop *) fake_value(DP_NEXTHOPS, &ovs))->flags,
        DP_NEXTHOP_GBP);

    free(doc_gbp);
    free(doc);
    state_destroy(s);
}

/* A remote VTEP's next hop: left to the kernel until it is resolved, kept
 * while it is being resolved again, updated when it changes, dropped when
 * the VTEP becomes unreachable. */
static void
test_run_nexthops(void **state)
{
    struct state *s = parse(base_doc);
    struct dp_nexthop_key key = {inet_addr("192.168.100.3")};
    const struct dp_nexthop *hop;

    /* Not resolved yet on a fresh datapath: no entry for it. */
    fake.odd_vtep = key.vtep;
    fake.odd_error = EAGAIN;
    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.tables[DP_NEXTHOPS].n, 1);
    assert_null(fake_find(DP_NEXTHOPS, &key));

    /* Resolved. */
    fake.odd_error = 0;
    fake.odd_mac = 0x33;
    fake_forget_calls();
    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_calls, 1);
    hop = fake_value(DP_NEXTHOPS, &key);
    assert_int_equal(hop->ifindex, 2);
    assert_int_equal(hop->dst_mac[5], 0x33);

    /* Being resolved again (after an agent restart, say): kept. */
    fake.odd_error = EAGAIN;
    fake_forget_calls();
    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_calls, 0);

    /* The next hop's MAC changed. */
    fake.odd_error = 0;
    fake.odd_mac = 0x44;
    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_calls, 1);
    assert_false(fake.calls[0].del);
    hop = fake_value(DP_NEXTHOPS, &key);
    assert_int_equal(hop->dst_mac[5], 0x44);

    /* No route any more. */
    fake.odd_error = ENETUNREACH;
    fake_forget_calls();
    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_calls, 1);
    assert_true(fake.calls[0].del);
    assert_null(fake_find(DP_NEXTHOPS, &key));
    state_destroy(s);
}

/* A document whose MTUs do not fit the underlay changes nothing. */
static void
test_run_mtu_does_not_fit(void **state)
{
    char *text = edit(base_doc, "\"mtu\": 1300", "\"mtu\": 1451");
    struct state *s = parse(text);

    assert_int_equal(run_fresh(s), EINVAL);
    assert_int_equal(fake.n_calls, 0);
    assert_int_equal(fake.n_configures, 0);
    assert_int_equal(fake.n_mtu_sets, 0);
    free(text);
    state_destroy(s);
}

/* Once a run has applied everything, polling finds nothing to do while
 * devices and routes stay as they are, whatever the VTEPs' GBP settings:
 * a poll that always said "changed" would rerun the reconciliation every
 * second, putting back device MTUs an operator had just set.  (Polling
 * asks the real kernel for devices, so the underlay here is "lo", which
 * the fake has with the real "lo"'s ifindex, and there are no ports.) */
static void
test_poll_quiet_after_run(void **state)
{
    static const char text[] =
        "{\"host\": {\"vtep\": \"192.168.100.1\", \"underlay\": \"lo\"},"
        " \"networks\": [{\"name\": \"blue\", \"vni\": 100}],"
        " \"external_vteps\": [{\"network\": \"blue\","
        "                       \"vtep\": \"192.168.100.9\"}],"
        " \"remotes\": [{\"network\": \"blue\", \"mac\": "
        "\"02:00:00:00:02:01\","
        "              \"vtep\": \"192.168.100.2\"}]}";
    struct state *s = parse(text);
    struct reconciler *rc = reconcile_create(FAKE_DP);

    fake_add_device("lo", if_nametoindex("lo"), 65536, true, "");

    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(fake.tables[DP_NEXTHOPS].n, 2);
    assert_false(reconcile_poll(rc));
    assert_false(reconcile_poll(rc));
    reconcile_destroy(rc);
    state_destroy(s);
}

/* A failing change does not stop the others, and asks for a retry. */
static void
test_run_failure_is_retried(void **state)
{
    struct state *s = parse(base_doc);
    struct reconciler *rc = reconcile_create(FAKE_DP);

    fake.fail_table = DP_FDB;
    assert_int_equal(reconcile_run(rc, s), EIO);
    assert_int_equal(fake.tables[DP_FDB].n, 0);
    assert_int_equal(fake.tables[DP_FLOOD].n, 2);
    assert_true(reconcile_poll(rc));

    fake.fail_table = -1;
    fake_forget_calls();
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(fake.n_calls, 5);
    assert_int_equal(count_calls(false, DP_FDB), 5);

    reconcile_destroy(rc);
    state_destroy(s);
}

/* The firewall's tables through a real run: policies and counters before
 * the ports they govern; a rule's counter, once there, is never set again,
 * even by an agent that starts afresh; a rule that goes takes its entries
 * and counter along; runs that change what the firewall decides by say so,
 * and only those. */
static void
test_run_firewall(void **state)
{
    static const char fw_doc[] =
        "{\"host\": {\"vtep\": \"192.168.100.1\", \"underlay\": \"eth0\"},"
        " \"networks\": [{\"name\": \"blue\", \"vni\": 100,"
        "                \"default_action\": \"deny\"}],"
        " \"ports\": [{\"name\": \"vm1\", \"network\": \"blue\","
        "            \"device\": \"veth-vm1\", \"mac\": \"02:00:00:00:01:01\","
        "            \"ip\": \"10.0.0.1\", \"identity\": 300}],"
        " \"remotes\": [{\"network\": \"blue\", \"mac\": "
        "\"02:00:00:00:02:01\","
        "              \"ip\": \"10.0.0.3\", \"vtep\": \"192.168.100.2\","
        "              \"identity\": 301}],"
        " \"identities\": [{\"id\": 300, \"governs\": [\"egress\"],"
        "   \"rules\": [{\"id\": 7, \"direction\": \"egress\","
        "                \"protocol\": \"tcp\", \"ports\": [5432, 5432],"
        "                \"peer_identities\": [301], \"action\": \"allow\"}"
        "               RULE8]}]}";
    static const char rule8[] =
        ", {\"id\": 8, \"direction\": \"egress\", \"protocol\": \"udp\","
        "   \"peer_cidrs\": [\"192.0.2.0/24\"], \"action\": \"deny\"}";
    struct reconciler *rc = reconcile_create(FAKE_DP);
    struct dp_rule_key k7 = {7}, k8 = {8};
    struct dp_rule_hits hits = {.hits = 42};
    struct dp_port_key p10 = {10};
    struct dp_binding_key b = {100, inet_addr("10.0.0.3")};
    const struct dp_port *port;
    const struct dp_binding *binding;
    const struct dp_rule_hits *h;
    char *text;
    struct state *s;

    text = edit(fw_doc, "RULE8", rule8);
    s = parse(text);
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_calls_ordered();
    assert_true(reconcile_take_fw_changed(rc));
    assert_false(reconcile_take_fw_changed(rc));
    assert_int_equal(count_calls(false, DP_POLICIES), 2);
    assert_int_equal(count_calls(false, DP_POLICY_CIDRS), 1);
    assert_int_equal(count_calls(false, DP_RULE_HITS), 2);
    assert_int_equal(count_calls(false, DP_VTEPS), 1);
    port = fake_value(DP_PORTS, &p10);
    assert_int_equal(port->identity, 300);
    assert_int_equal(port->flags, DP_PORT_SECURITY | DP_PORT_VETH
                                      | DP_PORT_FW_EGRESS
                                      | DP_PORT_FW_DEFAULT_DENY);
    binding = fake_value(DP_BINDINGS, &b);
    assert_int_equal(binding->identity, 301);

    /* The fast path counts; the same document again, by this agent or a
     * new one, changes nothing. */
    fake_put(DP_RULE_HITS, &k7, &hits);
    fake.n_calls = 0;
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_int_equal(fake.n_calls, 0);
    assert_false(reconcile_take_fw_changed(rc));
    assert_int_equal(run_fresh(s), 0);
    assert_int_equal(fake.n_calls, 0);
    h = fake_value(DP_RULE_HITS, &k7);
    assert_int_equal(h->hits, 42);
    state_destroy(s);
    free(text);

    /* Rule 8 goes: its policy, its CIDR and its counter, nothing else. */
    text = edit(fw_doc, "RULE8", "");
    s = parse(text);
    assert_int_equal(reconcile_run(rc, s), 0);
    assert_calls_ordered();
    assert_int_equal(fake.n_calls, 3);
    assert_int_equal(count_calls(true, DP_POLICIES), 1);
    assert_int_equal(count_calls(true, DP_POLICY_CIDRS), 1);
    assert_int_equal(count_calls(true, DP_RULE_HITS), 1);
    assert_null(fake_find(DP_RULE_HITS, &k8));
    assert_true(reconcile_take_fw_changed(rc));
    h = fake_value(DP_RULE_HITS, &k7);
    assert_int_equal(h->hits, 42);
    state_destroy(s);
    free(text);
    reconcile_destroy(rc);
}

/* ------------------------------------------------------------------------
 * Conntrack revalidation. */

/* Puts in the fake conntrack a connection of 'proto' that 'src':'sport'
 * opened to 'dst':'dport' on VNI 100, last seen at 'last_ns'.  Returns its
 * key. */
static struct ct_key
fake_ct(uint8_t proto, const char *src, uint16_t sport, const char *dst,
        uint16_t dport, uint64_t last_ns)
{
    struct dp_ct ct;
    struct ct_key key;
    uint8_t a[16], b[16];
    bool dir;

    ct_addr4_slot(a, inet_addr(src));
    ct_addr4_slot(b, inet_addr(dst));
    ct_key_fill(&key, a, htons(sport), b, htons(dport), 100, proto,
                CT_FAMILY_IPV4, &dir);
    memset(&ct, 0, sizeof ct);
    ct_entry_init(&ct.ct, proto, dir, last_ns);
    ct.ct.state = CT_ESTABLISHED;
    fake_put(DP_CONNTRACK, &key, &ct);
    return key;
}

static void
fake_policy(uint16_t group, uint8_t direction, uint8_t proto, uint16_t port,
            uint16_t peer, uint8_t match, uint32_t rule, uint8_t action)
{
    struct policy_key key;
    struct policy_value value = {.rule_id = rule, .action = action};

    policy_key_set(&key, 0, group, direction, proto, port, peer, match);
    fake_put(DP_POLICIES, &key, &value);
}

/* The revalidator deletes what expired and what the policy denies now,
 * asking it with the identities of local ports, of bindings and, for
 * addresses of no group, of CIDRs; connections of ports the firewall does
 * not govern are left alone. */
static void
test_revalidate(void **state)
{
    const uint64_t now = 1000 * CT_SEC;
    struct dp_port_key pk = {10};
    struct dp_port port = {.vni = 100,
                           .flags = DP_PORT_FW_INGRESS | DP_PORT_FW_EGRESS,
                           .identity = 300};
    struct dp_port_key free_key = {11};
    struct dp_port free_port = {.vni = 100};
    struct dp_binding_key bk = {100, inet_addr("10.0.0.3")};
    struct dp_binding b = {.identity = 301};
    struct policy_cidr_key ck;
    struct dp_policy_cidr cv = {.identity = 49152};
    uint32_t net = inet_addr("192.0.2.0");
    struct ct_key db, ssh, old, web, other;
    struct fw_ct_stats stats;
    struct policy_key gone;

    port.ip4 = inet_addr("10.0.0.2");
    free_port.ip4 = inet_addr("10.0.0.9");
    fake_put(DP_PORTS, &pk, &port);
    fake_put(DP_PORTS, &free_key, &free_port);
    fake_put(DP_BINDINGS, &bk, &b);
    policy_cidr_key_build(&ck, 100, 4, (const uint8_t *) &net, 24);
    fake_put(DP_POLICY_CIDRS, &ck, &cv);
    fake_policy(300, POLICY_EGRESS, 6, 5432, 301, POLICY_MATCH_PORT, 7,
                POLICY_ALLOW);
    fake_policy(300, POLICY_INGRESS, 6, 80, 49152, POLICY_MATCH_PORT, 8,
                POLICY_ALLOW);

    db = fake_ct(6, "10.0.0.2", 40000, "10.0.0.3", 5432, now - CT_SEC);
    ssh = fake_ct(6, "10.0.0.2", 40001, "10.0.0.3", 22, now - CT_SEC);
    old = fake_ct(17, "10.0.0.2", 53, "10.0.0.3", 53, now - 200 * CT_SEC);
    web = fake_ct(6, "192.0.2.7", 50000, "10.0.0.2", 80, now);
    other = fake_ct(6, "10.0.0.9", 1, "198.51.100.1", 2, now);

    assert_int_equal(fw_revalidate(FAKE_DP, now, &stats), 0);
    assert_int_equal(stats.expired, 1);
    assert_int_equal(stats.denied, 1);
    assert_int_equal(stats.entries, 3);
    assert_non_null(fake_find(DP_CONNTRACK, &db));
    assert_null(fake_find(DP_CONNTRACK, &ssh));
    assert_null(fake_find(DP_CONNTRACK, &old));
    assert_non_null(fake_find(DP_CONNTRACK, &web));
    assert_non_null(fake_find(DP_CONNTRACK, &other));

    /* The peer leaves its group: its connection is denied now. */
    b.identity = 0;
    fake_put(DP_BINDINGS, &bk, &b);
    assert_int_equal(fw_revalidate(FAKE_DP, now, &stats), 0);
    assert_int_equal(stats.denied, 1);
    assert_null(fake_find(DP_CONNTRACK, &db));

    /* The web rule goes: the port governs ingress, so nothing allows
     * that connection any more. */
    policy_key_set(&gone, 0, 300, POLICY_INGRESS, 6, 80, 49152,
                   POLICY_MATCH_PORT);
    dp_table_del(FAKE_DP, DP_POLICIES, &gone);
    assert_int_equal(fw_revalidate(FAKE_DP, now, &stats), 0);
    assert_int_equal(stats.denied, 1);
    assert_null(fake_find(DP_CONNTRACK, &web));
    assert_int_equal(stats.entries, 1);
}

/* Puts in the fake conntrack a UDP flow from 'src':'sport' that nobody
 * answered, last seen at 'last_ns', owned by port 'owner'. */
static struct ct_key
fake_ct_unreplied(const char *src, uint16_t sport, uint64_t last_ns,
                  uint32_t owner)
{
    struct ct_key key = fake_ct(17, src, sport, "10.0.0.99", 53, last_ns);
    struct fake_entry *e = fake_find(DP_CONNTRACK, &key);
    struct dp_ct *ct = (struct dp_ct *) e->value;

    ct->ct.state = CT_NEW;
    ct->owner_ifindex = owner;
    return key;
}

/* With the table nearly full, the revalidator evicts the oldest half-open
 * entries of the port that owns more than its fair share, down to the low
 * mark, and nothing of the port within its share, nor anyone's
 * established connections. */
static void
test_revalidate_evicts_over_share(void **state)
{
    const uint64_t now = 1000 * CT_SEC;
    struct ct_key flood[12], quiet[3], open;
    struct fw_ct_stats stats;
    struct dp_ct *ct;

    (void) state;
    fake.ct_capacity = 20;
    /* Port 10 floods: 12 unanswered flows, plus one it talks on. */
    for (int i = 0; i < 12; i++) {
        flood[i] = fake_ct_unreplied("10.0.0.2", 1000 + i, now - 12 + i, 10);
    }
    open = fake_ct(6, "10.0.0.2", 999, "10.0.0.99", 80, now - 100);
    ct = (struct dp_ct *) fake_find(DP_CONNTRACK, &open)->value;
    ct->owner_ifindex = 10;
    /* Port 11 has three half-open ones, older than all of port 10's. */
    for (int i = 0; i < 3; i++) {
        quiet[i] = fake_ct_unreplied("10.0.0.3", 2000 + i, now - 50, 11);
    }

    /* 16 of 20: below 90 %, nothing to do. */
    assert_int_equal(fw_revalidate(FAKE_DP, now, &stats), 0);
    assert_int_equal(stats.evicted, 0);
    assert_int_equal(stats.entries, 16);

    /* 18 of 20: a fair share is 20 / 3 = 6 (two ports and a newcomer);
     * port 10 owns 15, and loses
     * its three oldest half-open flows, down to 75 % (15 entries). */
    fake_ct_unreplied("10.0.0.2", 3000, now, 10);
    fake_ct_unreplied("10.0.0.2", 3001, now, 10);
    assert_int_equal(fw_revalidate(FAKE_DP, now, &stats), 0);
    assert_int_equal(stats.evicted, 3);
    assert_int_equal(stats.entries, 15);
    for (int i = 0; i < 12; i++) {
        if (i < 3) {
            assert_null(fake_find(DP_CONNTRACK, &flood[i]));
        } else {
            assert_non_null(fake_find(DP_CONNTRACK, &flood[i]));
        }
    }
    for (int i = 0; i < 3; i++) {
        assert_non_null(fake_find(DP_CONNTRACK, &quiet[i]));
    }
    assert_non_null(fake_find(DP_CONNTRACK, &open));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_desired),
        cmocka_unit_test(test_desired_pending_port),
        cmocka_unit_test(test_desired_migration),
        cmocka_unit_test(test_desired_forward),
        cmocka_unit_test(test_desired_forward_with_remote),
        cmocka_unit_test(test_desired_nexthops),
        cmocka_unit_test(test_diff_identical_is_empty),
        cmocka_unit_test(test_diff_changes),
        cmocka_unit_test(test_diff_empty_sides),
        cmocka_unit_test(test_diff_activated_standby_port),
        cmocka_unit_test(test_table_sort),
        cmocka_unit_test(test_format_entry),
        cmocka_unit_test_setup(test_run_programs_empty_datapath, fake_setup),
        cmocka_unit_test_setup(test_run_again_changes_nothing, fake_setup),
        cmocka_unit_test_setup(test_run_applies_only_the_difference,
                               fake_setup),
        cmocka_unit_test_setup(test_run_removes_stale_entries, fake_setup),
        cmocka_unit_test_setup(test_run_pending_port, fake_setup),
        cmocka_unit_test_setup(test_run_missing_underlay, fake_setup),
        cmocka_unit_test_setup(test_run_nexthops, fake_setup),
        cmocka_unit_test_setup(test_run_external_vteps, fake_setup),
        cmocka_unit_test_setup(test_poll_quiet_after_run, fake_setup),
        cmocka_unit_test_setup(test_run_mtu_does_not_fit, fake_setup),
        cmocka_unit_test_setup(test_run_failure_is_retried, fake_setup),
        cmocka_unit_test_setup(test_run_qos_fq, fake_setup),
        cmocka_unit_test_setup(test_run_qos_ingress_shaping, fake_setup),
        cmocka_unit_test_setup(test_run_qos_htb, fake_setup),
        cmocka_unit_test_setup(test_run_firewall, fake_setup),
        cmocka_unit_test_setup(test_revalidate, fake_setup),
        cmocka_unit_test_setup(test_revalidate_evicts_over_share, fake_setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
