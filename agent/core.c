#include "agent/core.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <net/if.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/firewall.h"
#include "agent/reconcile.h"
#include "agent/state.h"
#include "agent/vms.h"
#include "datapath/netlink.h"
#include "utils/log.h"
#include "utils/names.h"
#include "utils/util.h"

struct core {
    pthread_mutex_t mutex;     /* Protects everything below. */
    struct dp *dp;             /* The datapath, not owned. */
    struct reconciler *rc;     /* Reconciles 'dp'. */
    struct vms *vms;           /* Runs the VMs, or NULL; not owned. */
    json_t *doc;               /* The document in force, or NULL. */
    struct state *state;       /* 'doc' as it fits the underlay, or
                                * NULL. */
    uint32_t fit_mtu;          /* The underlay MTU 'state' fits, 0 if the
                                * underlay was not there. */
    char *refusal;             /* Why the last document was refused as a
                                * whole, or NULL. */
    int64_t revision;          /* The controller revision of 'state'. */
    uint64_t reconciles;       /* Runs of reconcile_run(). */
    uint64_t reconcile_errors; /* Of which failed. */
    bool controller;           /* Controller mode. */
    bool connected;            /* The controller is reachable. */
    bool ready;                /* A run has succeeded. */

    /* Conntrack revalidation (agent/firewall.h). */
    uint64_t last_revalidate_ns; /* When it last ran, CLOCK_MONOTONIC. */
    int revalidate_error;        /* Its last error, as logged. */
    struct fw_ct_stats ct;       /* What its last run found. */
    uint64_t ct_expired;         /* Entries it deleted as expired... */
    uint64_t ct_denied;          /* ...and as denied... */
    uint64_t ct_evicted;         /* ...and evicted, in all. */
    uint64_t ct_full_seen;       /* The fast path's refusals for a full
                                  * table, as of the last revalidation. */
    uint64_t flowlog_aggregated; /* Flow events counted as repeats... */
    uint64_t flowlog_suppressed; /* ...and suppressed (agent/flowagg.h). */
    struct dhcp_stats dhcp;      /* The DHCP responder's counters. */

    /* Live migration (doc/mobility.md): what the agent decided about ports
     * that the document does not say, applied to every state before it is
     * reconciled. */
    char **activated;   /* Standby ports whose first frame came, until
                         * the document no longer has them standby. */
    size_t n_activated; /* Number of 'activated'. */
    struct core_forward {
        char *port;      /* The NIC port of a VM switching over... */
        uint32_t vtep;   /* ...and the VTEP its frames go to now. */
    } * forwards;        /* Until put back, or the port leaves. */
    size_t n_forwards;   /* Number of 'forwards'. */
    bool mobility_dirty; /* Written to the datapath directly: reconcile
                          * at the next poll. */

    /* Names of ports by ifindex, for flow logs: as of the last run. */
    struct core_port_name {
        uint32_t ifindex; /* The port's device. */
        char *name;       /* The port's name. */
    } * port_names;       /* The ports whose device exists. */
    size_t n_port_names;  /* Number of 'port_names'. */
};

struct core *
core_create(struct dp *dp, struct vms *vms, bool controller)
{
    struct core *core = xzalloc(sizeof *core);

    pthread_mutex_init(&core->mutex, NULL);
    core->dp = dp;
    core->vms = vms;
    core->rc = reconcile_create(dp);
    core->controller = controller;
    return core;
}

/* Forgets the port names.  The caller holds the lock. */
static void
core_forget_names(struct core *core)
{
    for (size_t i = 0; i < core->n_port_names; i++) {
        free(core->port_names[i].name);
    }
    free(core->port_names);
    core->port_names = NULL;
    core->n_port_names = 0;
}

/* Learns the ifindex of every port of 's' whose device exists.  The
 * caller holds the lock. */
static void
core_learn_names(struct core *core, const struct state *s)
{
    core_forget_names(core);
    core->port_names = xcalloc(s->n_ports, sizeof *core->port_names);
    for (size_t i = 0; i < s->n_ports; i++) {
        uint32_t ifindex = if_nametoindex(s->ports[i].device);

        if (ifindex) {
            core->port_names[core->n_port_names].ifindex = ifindex;
            core->port_names[core->n_port_names++].name =
                xstrdup(s->ports[i].name);
        }
    }
}

/* Revalidates conntrack and counts what it did.  The caller holds the
 * lock. */
static void
core_revalidate(struct core *core)
{
    uint64_t now = fw_now_ns();
    int error = fw_revalidate(core->dp, now, &core->ct);

    core->last_revalidate_ns = now;
    core->ct_expired += core->ct.expired;
    core->ct_denied += core->ct.denied;
    core->ct_evicted += core->ct.evicted;
    if (error && error != core->revalidate_error) {
        LOG_WARN("conntrack revalidation: %s; retrying every %d s",
                 strerror(error), FW_REVALIDATE_INTERVAL_MS / 1000);
    } else if (core->ct.expired || core->ct.denied || core->ct.evicted) {
        LOG_DBG("conntrack: %llu entries, %llu expired, %llu denied now, "
                "%llu evicted",
                (unsigned long long) core->ct.entries,
                (unsigned long long) core->ct.expired,
                (unsigned long long) core->ct.denied,
                (unsigned long long) core->ct.evicted);
    }
    core->revalidate_error = error;
}

/* Returns true if the fast path has refused connections for a full
 * conntrack table since the last call: then the revalidator should make
 * room (expired entries, eviction) now rather than at its next interval.
 * The caller holds the lock. */
static bool
core_ct_refused(struct core *core)
{
    struct dp_fw_stats fw;
    bool refused;

    if (dp_fw_stats_get(core->dp, &fw)) {
        return false;
    }
    refused = fw.ct_full != core->ct_full_seen;
    core->ct_full_seen = fw.ct_full;
    return refused;
}

struct vms *
core_vms(struct core *core)
{
    return core->vms;
}

void
core_destroy(struct core *core)
{
    if (core) {
        core_forget_names(core);
        for (size_t i = 0; i < core->n_activated; i++) {
            free(core->activated[i]);
        }
        free(core->activated);
        for (size_t i = 0; i < core->n_forwards; i++) {
            free(core->forwards[i].port);
        }
        free(core->forwards);
        reconcile_destroy(core->rc);
        state_destroy(core->state);
        json_decref(core->doc);
        free(core->refusal);
        pthread_mutex_destroy(&core->mutex);
        free(core);
    }
}

static uint32_t core_port_ifindex(struct core *, const char *name);

/* Returns the index of port 'name' in 's', or SIZE_MAX. */
static size_t
core_find_port(const struct state *s, const char *name)
{
    for (size_t i = 0; s && i < s->n_ports; i++) {
        if (s->ports[i].name && !strcmp(s->ports[i].name, name)) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Applies to 's' what the agent decided about its ports during live
 * migrations, and forgets what no longer applies: an activation once the
 * document no longer has the port standby, a forward once the port is
 * gone.  The caller holds the lock. */
static void
core_apply_mobility(struct core *core, struct state *s)
{
    for (size_t i = 0; i < core->n_activated;) {
        size_t p = core_find_port(s, core->activated[i]);

        if (p != SIZE_MAX && s->ports[p].standby) {
            s->ports[p].activated = true;
            i++;
        } else {
            free(core->activated[i]);
            core->activated[i] = core->activated[--core->n_activated];
        }
    }
    for (size_t i = 0; i < core->n_forwards;) {
        size_t p = core_find_port(s, core->forwards[i].port);

        if (p != SIZE_MAX) {
            s->ports[p].forward_vtep = core->forwards[i].vtep;
            i++;
        } else {
            free(core->forwards[i].port);
            core->forwards[i] = core->forwards[--core->n_forwards];
        }
    }
}

/* Whether the datapath has device 'device' as a port (a vms_ready_func).
 * The caller holds the lock. */
static bool
core_tap_ready(const char *device, void *core)
{
    return core_port_ifindex(core, device) != 0;
}

/* Reconciles the datapath with 's', counting the run, and then the VMs:
 * their taps are made first, so that this run puts the port program on
 * them, and a VM starts only once its taps are ports.  The caller holds
 * the lock. */
static int
core_run(struct core *core, struct state *s)
{
    int error;

    core->mobility_dirty = false;
    core_apply_mobility(core, s);
    if (core->vms) {
        vms_prepare(core->vms, s);
    }
    error = reconcile_run(core->rc, s);
    if (core->vms) {
        vms_update(core->vms, s, core_tap_ready, core);
    }
    if (error != EINVAL) {
        core_learn_names(core, s);
    }
    if (reconcile_take_fw_changed(core->rc)) {
        /* Connections the new policy denies must not ride on their old
         * entries. */
        core_revalidate(core);
    }
    core->reconciles++;
    if (error) {
        core->reconcile_errors++;
    } else {
        core->ready = true;
    }
    return error;
}

/* Returns the MTU of the underlay device that 'doc' names, or 0 if it names
 * none or there is no such device. */
static uint32_t
doc_underlay_mtu(const json_t *doc)
{
    const char *name = json_string_value(
        json_object_get(json_object_get(doc, "host"), "underlay"));
    struct nl_link link;

    if (!name || !names_device_is_valid(name) || nl_link_get(name, &link)) {
        return 0;
    }
    return link.mtu;
}

int
core_parse(const json_t *doc, struct state **statep, uint32_t *underlay_mtu,
           struct state_errors *errors)
{
    *underlay_mtu = doc_underlay_mtu(doc);
    return state_from_json_partial(doc, *underlay_mtu, statep, errors);
}

/* Whether 'old' left out what 'skip' says, for the same reason. */
static bool
skipped_before(const struct state *old, const struct state_skip *skip)
{
    for (size_t i = 0; old && i < old->n_skipped; i++) {
        const struct state_skip *o = &old->skipped[i];

        if (o->kind == skip->kind && !strcmp(o->name, skip->name)
            && !strcmp(o->reason, skip->reason)) {
            return true;
        }
    }
    return false;
}

void
core_log_skipped(const struct state *s, const struct state *old)
{
    for (size_t i = 0; i < s->n_skipped; i++) {
        const struct state_skip *skip = &s->skipped[i];

        if (!skipped_before(old, skip)) {
            LOG_WARN("desired state: %s \"%s\" left out, the rest applies: "
                     "%s",
                     state_kind_name(skip->kind), skip->name, skip->reason);
        }
    }
}

/* Makes 's', fitted to underlay MTU 'mtu', the state in force and
 * reconciles the datapath with it.  The caller holds the lock. */
static int
core_switch(struct core *core, struct state *s, uint32_t mtu)
{
    core_log_skipped(s, core->state);
    state_destroy(core->state);
    core->state = s;
    core->fit_mtu = mtu;
    return core_run(core, s);
}

/* Fits the document in force to the underlay's MTU again if it changed
 * since.  Returns true if it did.  The caller holds the lock. */
static bool
core_refit(struct core *core)
{
    uint32_t mtu = doc_underlay_mtu(core->doc);
    struct state_errors errors;
    struct state *s;

    if (mtu == core->fit_mtu) {
        return false;
    }
    LOG_INFO("underlay MTU %" PRIu32 " (was %" PRIu32 "): fitting the "
             "desired state to it",
             mtu, core->fit_mtu);
    state_errors_init(&errors);
    /* The document parsed before; the MTU only leaves out networks. */
    if (!state_from_json_partial(core->doc, mtu, &s, &errors)) {
        core_switch(core, s, mtu);
    }
    state_errors_destroy(&errors);
    return true;
}

int
core_apply(struct core *core, const json_t *doc, int64_t revision,
           struct state_errors *errors)
{
    size_t n_errors = errors->n;
    struct state *s;
    uint32_t mtu;
    int error;

    error = core_parse(doc, &s, &mtu, errors);
    pthread_mutex_lock(&core->mutex);
    free(core->refusal);
    core->refusal = NULL;
    if (error) {
        core->refusal = xasprintf(
            "desired state revision %" PRId64 " refused as a whole, the "
            "previous one stays: %s%s",
            revision, errors->n > n_errors ? errors->msgs[n_errors] : "",
            errors->n > n_errors + 1 ? " (and more)" : "");
        pthread_mutex_unlock(&core->mutex);
        return EINVAL;
    }
    json_decref(core->doc);
    core->doc = json_incref((json_t *) doc);
    core->revision = revision;
    error = core_switch(core, s, mtu);
    if (error == EINVAL) {
        /* The underlay changed under us: fit to what it is now. */
        core_refit(core);
        error = core_run(core, core->state);
    }
    pthread_mutex_unlock(&core->mutex);
    return error;
}

static bool core_catch_activations(struct core *);

bool
core_poll(struct core *core)
{
    bool ran = false;

    pthread_mutex_lock(&core->mutex);
    if (core_catch_activations(core)) {
        ran = true;
    } else if (core->mobility_dirty && core->state) {
        core_run(core, core->state);
        dp_settle(core->dp);
        ran = true;
    } else if (core->doc && core_refit(core)) {
        ran = true;
    } else if (core->state && reconcile_poll(core->rc)) {
        core_run(core, core->state);
        ran = true;
    }
    if (core->state
        && (fw_now_ns() - core->last_revalidate_ns
                >= FW_REVALIDATE_INTERVAL_MS * 1000000ULL
            || core_ct_refused(core))) {
        core_revalidate(core);
    }
    pthread_mutex_unlock(&core->mutex);
    return ran;
}

/* Returns the ifindex of the datapath port for device 'name', or 0 if the
 * device does not exist or the datapath does not have it.  The caller
 * holds the lock. */
static uint32_t
core_port_ifindex(struct core *core, const char *name)
{
    struct dp_port_key key = {.ifindex = if_nametoindex(name)};
    struct dp_port port;

    if (!key.ifindex || dp_table_get(core->dp, DP_PORTS, &key, &port)) {
        return 0;
    }
    return key.ifindex;
}

json_t *
core_port_status(struct core *core)
{
    json_t *status = json_object();

    pthread_mutex_lock(&core->mutex);
    for (size_t i = 0; core->state && i < core->state->n_ports; i++) {
        const struct state_port *port = &core->state->ports[i];
        bool up = core_port_ifindex(core, port->device) != 0;

        json_object_set_new(status, port->name,
                            json_string(up ? "up" : "down"));
    }
    for (size_t i = 0; core->state && i < core->state->n_skipped; i++) {
        const struct state_skip *skip = &core->state->skipped[i];

        /* A duplicate left out does not speak for the port that stays;
         * an element without a name has no port to speak for. */
        if (skip->kind == STATE_KIND_PORT && names_object_is_valid(skip->name)
            && !json_object_get(status, skip->name)) {
            json_object_set_new(status, skip->name, json_string("refused"));
        }
    }
    pthread_mutex_unlock(&core->mutex);
    return status;
}

json_t *
core_conditions(struct core *core)
{
    json_t *conditions = json_array();

    pthread_mutex_lock(&core->mutex);
    if (core->refusal) {
        json_array_append_new(conditions, json_pack("{ssss}", "kind", "host",
                                                    "reason", core->refusal));
    }
    for (size_t i = 0; !core->vms && core->state && i < core->state->n_vms;
         i++) {
        json_array_append_new(
            conditions,
            json_pack("{ssssss}", "kind", "vm", "name",
                      core->state->vms[i].name, "reason",
                      "this host cannot run VMs: its agent has no hypervisor "
                      "(see its log)"));
    }
    for (size_t i = 0; core->state && i < core->state->n_skipped; i++) {
        const struct state_skip *skip = &core->state->skipped[i];

        json_array_append_new(conditions,
                              json_pack("{ssssss}", "kind",
                                        state_kind_name(skip->kind), "name",
                                        skip->name, "reason", skip->reason));
    }
    pthread_mutex_unlock(&core->mutex);
    return conditions;
}

void
core_set_connected(struct core *core, bool connected)
{
    pthread_mutex_lock(&core->mutex);
    core->connected = connected;
    pthread_mutex_unlock(&core->mutex);
}

bool
core_is_ready(struct core *core)
{
    bool ready;

    pthread_mutex_lock(&core->mutex);
    ready = core->ready;
    pthread_mutex_unlock(&core->mutex);
    return ready;
}

void
core_snapshot(struct core *core, struct core_snapshot *snap)
{
    struct reconcile_tables hits;
    struct dp_config config;

    memset(snap, 0, sizeof *snap);
    pthread_mutex_lock(&core->mutex);
    if (core->state && core->state->n_ports) {
        snap->ports = xcalloc(core->state->n_ports, sizeof *snap->ports);
    }
    for (size_t i = 0; core->state && i < core->state->n_ports; i++) {
        const struct state_port *port = &core->state->ports[i];
        struct core_port_stats *ps = &snap->ports[snap->n_ports];
        uint32_t ifindex = core_port_ifindex(core, port->device);

        if (ifindex && !dp_stats_get(core->dp, ifindex, &ps->stats)) {
            dp_ct_usage_get(core->dp, ifindex, &ps->ct);
            ps->name = xstrdup(port->name);
            snap->n_ports++;
        }
    }
    if (!dp_get_config(core->dp, &config) && config.underlay_ifindex
        && !dp_stats_get(core->dp, config.underlay_ifindex, &snap->underlay)) {
        snap->have_underlay = true;
    }
    snap->reconciles = core->reconciles;
    snap->reconcile_errors = core->reconcile_errors;
    snap->controller = core->controller;
    snap->connected = core->connected;
    snap->revision = core->revision;
    snap->ready = core->ready;
    for (size_t i = 0; core->state && i < core->state->n_skipped; i++) {
        snap->left_out[core->state->skipped[i].kind]++;
    }
    snap->ct_entries = core->ct.entries;
    snap->ct_expired = core->ct_expired;
    snap->ct_denied = core->ct_denied;
    snap->ct_evicted = core->ct_evicted;
    snap->flowlog_aggregated = core->flowlog_aggregated;
    snap->flowlog_suppressed = core->flowlog_suppressed;
    snap->dhcp = core->dhcp;
    snap->have_fw_stats = !dp_fw_stats_get(core->dp, &snap->fw);
    if (core->vms) {
        snap->have_vms = true;
        vms_counts(core->vms, &snap->vms);
    }
    reconcile_tables_init(&hits);
    if (!reconcile_dump_table(core->dp, DP_RULE_HITS, &hits)) {
        const struct reconcile_table *t = &hits.t[DP_RULE_HITS];

        reconcile_table_sort(&hits.t[DP_RULE_HITS]);
        snap->rule_hits = xcalloc(t->n + 1, sizeof *snap->rule_hits);
        for (size_t i = 0; i < t->n; i++) {
            const struct dp_rule_key *k = reconcile_table_key(t, i);
            const struct dp_rule_hits *v = reconcile_table_value(t, i);

            snap->rule_hits[i].rule_id = k->rule_id;
            snap->rule_hits[i].hits = v->hits;
        }
        snap->n_rule_hits = t->n;
    }
    reconcile_tables_destroy(&hits);
    pthread_mutex_unlock(&core->mutex);
}

void
core_snapshot_destroy(struct core_snapshot *snap)
{
    if (snap) {
        for (size_t i = 0; i < snap->n_ports; i++) {
            free(snap->ports[i].name);
        }
        free(snap->ports);
        free(snap->rule_hits);
        vms_counts_destroy(&snap->vms);
        memset(snap, 0, sizeof *snap);
    }
}

int
core_trace(struct core *core, enum dp_trace_program program, const char *port,
           const void *frame, size_t len, struct dp_trace_result *result)
{
    uint32_t ifindex = 0;
    int error = ENOENT;

    pthread_mutex_lock(&core->mutex);
    if (program == DP_TRACE_PORT) {
        for (size_t i = 0; core->state && i < core->state->n_ports; i++) {
            const struct state_port *p = &core->state->ports[i];

            if (!strcmp(p->name, port)) {
                ifindex = core_port_ifindex(core, p->device);
                error = ifindex ? 0 : ENODEV;
                break;
            }
        }
    } else {
        struct dp_config config;

        error = dp_get_config(core->dp, &config);
        ifindex = error ? 0 : config.underlay_ifindex;
        error = ifindex ? 0 : ENODEV;
    }
    if (!error) {
        error = dp_trace(core->dp, program, ifindex, frame, len, result);
    }
    pthread_mutex_unlock(&core->mutex);
    return error;
}

/* Returns the port of the state in force whose device is 'ifindex', or
 * NULL.  The caller holds the lock. */
static const struct state_port *
core_port_of(const struct core *core, uint32_t ifindex)
{
    for (size_t i = 0; core->state && i < core->n_port_names; i++) {
        if (core->port_names[i].ifindex == ifindex) {
            const char *name = core->port_names[i].name;

            for (size_t j = 0; j < core->state->n_ports; j++) {
                if (core->state->ports[j].name
                    && !strcmp(core->state->ports[j].name, name)) {
                    return &core->state->ports[j];
                }
            }
        }
    }
    return NULL;
}

bool
core_dhcp_lease(struct core *core, uint32_t ifindex, struct dhcp_lease *lease,
                uint8_t mac[6], enum agent_dhcp_ignored *why)
{
    static const uint8_t server_mac[6] = DP_DHCP_SERVER_MAC;
    const struct state_network *net;
    const struct state_port *port;
    bool ok = false;

    memset(lease, 0, sizeof *lease);
    pthread_mutex_lock(&core->mutex);
    port = core_port_of(core, ifindex);
    net = port ? &core->state->networks[port->network] : NULL;
    if (!port || !port->ip4) {
        *why = AGENT_DHCP_UNKNOWN_PORT;
    } else if (!net->prefix_len) {
        *why = AGENT_DHCP_NO_CIDR;
    } else {
        memcpy(mac, port->mac, 6);
        lease->yiaddr = port->ip4;
        lease->server_id = agent_dhcp_server_ip(net->net4, net->prefix_len);
        memcpy(lease->server_mac, server_mac, sizeof server_mac);
        lease->prefix_len = net->prefix_len;
        lease->mtu = state_network_mtu(net, core->fit_mtu);
        lease->lease_secs = AGENT_DHCP_LEASE_SECS;
        lease->n_dns = net->n_dns;
        memcpy(lease->dns, net->dns, sizeof lease->dns);
        if (port->hostname && strlen(port->hostname) <= DHCP_HOSTNAME_MAX) {
            lease->hostname_len = strlen(port->hostname);
            memcpy(lease->hostname, port->hostname, lease->hostname_len);
        }
        ok = true;
    }
    pthread_mutex_unlock(&core->mutex);
    return ok;
}

int
core_inject(struct core *core, uint32_t ifindex, const void *frame, size_t len)
{
    int error;

    pthread_mutex_lock(&core->mutex);
    error = dp_inject(core->dp, ifindex, frame, len);
    pthread_mutex_unlock(&core->mutex);
    return error;
}

void
core_set_dhcp_stats(struct core *core, const struct dhcp_stats *stats)
{
    pthread_mutex_lock(&core->mutex);
    core->dhcp = *stats;
    pthread_mutex_unlock(&core->mutex);
}

void
core_set_flowlog_stats(struct core *core, uint64_t aggregated,
                       uint64_t suppressed)
{
    pthread_mutex_lock(&core->mutex);
    core->flowlog_aggregated = aggregated;
    core->flowlog_suppressed = suppressed;
    pthread_mutex_unlock(&core->mutex);
}

bool
core_flow_names(struct core *core, uint32_t ifindex, uint32_t vni, char **port,
                char **network)
{
    bool known;

    *port = NULL;
    *network = NULL;
    pthread_mutex_lock(&core->mutex);
    for (size_t i = 0; i < core->n_port_names; i++) {
        if (core->port_names[i].ifindex == ifindex) {
            *port = xstrdup(core->port_names[i].name);
            break;
        }
    }
    for (size_t i = 0; core->state && i < core->state->n_networks; i++) {
        if (core->state->networks[i].vni == vni) {
            *network = xstrdup(core->state->networks[i].name);
            break;
        }
    }
    known = core->state != NULL;
    pthread_mutex_unlock(&core->mutex);
    return known;
}

/* Live migration. */

/* Returns the name of the VM of 's' that has port 'port' as a NIC, or
 * NULL. */
static const char *
core_vm_of_port(const struct state *s, const char *port)
{
    for (size_t i = 0; i < s->n_vms; i++) {
        for (size_t j = 0; j < s->vms[i].n_nics; j++) {
            if (s->vms[i].nics[j].port
                && !strcmp(s->vms[i].nics[j].port, port)) {
                return s->vms[i].name;
            }
        }
    }
    return NULL;
}

/* Marks standby port 'port' of the state in force activated.  The caller
 * holds the lock and reconciles. */
static void
core_mark_activated(struct core *core, const struct state_port *port)
{
    core->activated = xrealloc(core->activated, (core->n_activated + 1)
                                                    * sizeof *core->activated);
    core->activated[core->n_activated++] = xstrdup(port->name);
    LOG_INFO("port \"%s\": activated by its VM's first frame: its MAC is "
             "local from now on",
             port->name);
}

/* Catches the activations whose punt the agent missed (a full punt ring,
 * an agent that restarted): the fast path reads an activated port back
 * without DP_PORT_STANDBY.  Returns true if it found one (and
 * reconciled).  The caller holds the lock. */
static bool
core_catch_activations(struct core *core)
{
    struct state *s = core->state;
    bool found = false;

    for (size_t i = 0; s && i < s->n_ports; i++) {
        const struct state_port *port = &s->ports[i];
        struct dp_port_key key;
        struct dp_port value;
        const char *vm;

        if (!port->standby || port->activated) {
            continue;
        }
        key.ifindex = core_port_ifindex(core, port->device);
        if (!key.ifindex || dp_table_get(core->dp, DP_PORTS, &key, &value)
            || value.flags & DP_PORT_STANDBY) {
            continue;
        }
        core_mark_activated(core, port);
        vm = core_vm_of_port(s, port->name);
        if (vm && core->vms) {
            vms_activated(core->vms, vm);
        }
        found = true;
    }
    if (found) {
        core_run(core, s);
    }
    return found;
}

bool
core_port_activated(struct core *core, uint32_t ifindex, char **vm)
{
    const struct state_port *port;
    bool news = false;

    *vm = NULL;
    pthread_mutex_lock(&core->mutex);
    port = core_port_of(core, ifindex);
    if (port && port->standby && !port->activated) {
        const char *name = core_vm_of_port(core->state, port->name);

        *vm = name ? xstrdup(name) : NULL;
        core_mark_activated(core, port);
        /* The port's MAC now points here and the port joins its flood
         * list. */
        core_run(core, core->state);
        news = true;
    }
    pthread_mutex_unlock(&core->mutex);
    return news;
}

size_t
core_vm_activate(struct core *core, const char *vm)
{
    struct state *s;
    size_t n = 0;

    pthread_mutex_lock(&core->mutex);
    s = core->state;
    for (size_t i = 0; s && i < s->n_ports; i++) {
        const struct state_port *port = &s->ports[i];
        const char *owner = core_vm_of_port(s, port->name);

        if (port->standby && !port->activated && owner && !strcmp(owner, vm)) {
            core_mark_activated(core, port);
            n++;
        }
    }
    if (n) {
        core_run(core, s);
    }
    pthread_mutex_unlock(&core->mutex);
    return n;
}

/* Returns VM 'name' of the state in force, or NULL.  The caller holds the
 * lock. */
static const struct state_vm *
core_find_vm(const struct core *core, const char *name)
{
    return core->state ? state_find_vm(core->state, name) : NULL;
}

int
core_vm_forward(struct core *core, const char *vm_name, uint32_t vtep)
{
    const struct state_vm *vm;
    int error = ENOENT;

    pthread_mutex_lock(&core->mutex);
    vm = core_find_vm(core, vm_name);
    for (size_t i = 0; vm && i < vm->n_nics; i++) {
        const char *port = vm->nics[i].port;
        size_t j;

        for (j = 0; j < core->n_forwards; j++) {
            if (!strcmp(core->forwards[j].port, port)) {
                break;
            }
        }
        if (j == core->n_forwards && vtep) {
            core->forwards =
                xrealloc(core->forwards,
                         (core->n_forwards + 1) * sizeof *core->forwards);
            core->forwards[core->n_forwards++] =
                (struct core_forward){.port = xstrdup(port), .vtep = vtep};
        } else if (j < core->n_forwards && vtep) {
            core->forwards[j].vtep = vtep;
        } else if (j < core->n_forwards) {
            free(core->forwards[j].port);
            core->forwards[j] = core->forwards[--core->n_forwards];
        }
    }
    if (vm && vtep) {
        /* The guest is paused until this returns: its MACs' entries are
         * written now, without waiting for the fast path's readers of
         * their previous version (dp_table_set_nowait()), and the rest of
         * what the forward needs (a next hop to 'vtep', accepting VXLAN
         * from it) at the next poll, which also lets dp_settle() wait. */
        error = 0;
        for (size_t i = 0; i < vm->n_nics && !error; i++) {
            size_t p = core_find_port(core->state, vm->nics[i].port);
            const struct state_port *port;
            struct dp_fdb_key key;
            struct dp_fdb_entry fdb = {.vtep = vtep, .flags = DP_FDB_FORWARD};

            if (p == SIZE_MAX) {
                continue;
            }
            port = &core->state->ports[p];
            key = (struct dp_fdb_key){
                .vni = core->state->networks[port->network].vni};
            memcpy(key.mac, port->mac, sizeof key.mac);
            error = dp_table_set_nowait(core->dp, DP_FDB, &key, &fdb);
        }
        core->mobility_dirty = true;
    } else if (vm) {
        /* Ports that stop forwarding get their local entries back. */
        for (size_t i = 0; i < core->state->n_ports; i++) {
            core->state->ports[i].forward_vtep = 0;
        }
        error = core_run(core, core->state);
    }
    pthread_mutex_unlock(&core->mutex);
    return error;
}

/* What dp_ct_export() hands over for one NIC port. */
struct core_ct_export {
    const char *port; /* The port's name. */
    json_t *entries;  /* Where the entries go. */
};

static int
core_ct_export_cb(const struct ct_key *key, const struct dp_ct *ct, void *aux)
{
    struct core_ct_export *x = aux;
    char key_hex[DP_CT_KEY_HEX_LEN + 1], value_hex[DP_CT_VALUE_HEX_LEN + 1];

    dp_ct_to_hex(key, ct, key_hex, value_hex);
    json_array_append_new(x->entries,
                          json_pack("{ssssss}", "port", x->port, "key",
                                    key_hex, "value", value_hex));
    return 0;
}

int
core_vm_ct_export(struct core *core, const char *vm_name, json_t **entries)
{
    const struct state_vm *vm;
    int error = 0;

    *entries = json_array();
    pthread_mutex_lock(&core->mutex);
    vm = core_find_vm(core, vm_name);
    if (!vm) {
        error = ENOENT;
    }
    for (size_t i = 0; vm && i < vm->n_nics && !error; i++) {
        size_t p = core_find_port(core->state, vm->nics[i].port);
        const struct state_port *port;
        struct core_ct_export x = {.port = vm->nics[i].port,
                                   .entries = *entries};
        uint32_t vni;
        uint8_t addr[16] = {0};

        if (p == SIZE_MAX) {
            continue;
        }
        port = &core->state->ports[p];
        vni = core->state->networks[port->network].vni;
        if (port->ip4) {
            memcpy(addr, &port->ip4, 4);
            error = dp_ct_export(core->dp, vni, CT_FAMILY_IPV4, addr,
                                 core_ct_export_cb, &x);
        }
        if (!error && memcmp(port->ip6, (uint8_t[16]){0}, 16)) {
            error = dp_ct_export(core->dp, vni, CT_FAMILY_IPV6, port->ip6,
                                 core_ct_export_cb, &x);
        }
    }
    pthread_mutex_unlock(&core->mutex);
    return error;
}

int
core_ct_import(struct core *core, const char *id,
               const struct core_ct_entry *entries, size_t n,
               struct core_ct_counts *counts, char **problem)
{
    const struct state_vm *vm = NULL;
    uint32_t *ifindexes;
    int error = 0;

    memset(counts, 0, sizeof *counts);
    *problem = NULL;
    ifindexes = xcalloc(n + 1, sizeof *ifindexes);
    pthread_mutex_lock(&core->mutex);
    for (size_t i = 0; core->state && i < core->state->n_vms; i++) {
        const struct state_vm *v = &core->state->vms[i];

        if (v->incoming && !strcmp(v->incoming->id, id)) {
            vm = v;
            break;
        }
    }
    if (!vm) {
        *problem = xasprintf("no VM migrates in here as migration %s", id);
        error = ENOENT;
    }
    /* Every entry must name a NIC port of the VM before any is written. */
    for (size_t i = 0; !error && i < n; i++) {
        size_t j, p;

        for (j = 0; j < vm->n_nics; j++) {
            if (!strcmp(vm->nics[j].port, entries[i].port)) {
                break;
            }
        }
        p = j < vm->n_nics ? core_find_port(core->state, entries[i].port)
                           : SIZE_MAX;
        if (p == SIZE_MAX) {
            *problem = xasprintf("entries[%zu]: port \"%s\" is not a NIC of "
                                 "VM \"%s\"",
                                 i, entries[i].port, vm->name);
            error = EINVAL;
            break;
        }
        ifindexes[i] = core_port_ifindex(core, core->state->ports[p].device);
        if (!ifindexes[i]) {
            *problem = xasprintf("port \"%s\": its tap is not in the "
                                 "datapath yet",
                                 entries[i].port);
            error = EAGAIN;
        }
    }
    for (size_t i = 0; !error && i < n; i++) {
        int e = dp_ct_import(core->dp, &entries[i].key, &entries[i].value,
                             ifindexes[i]);

        if (!e) {
            counts->imported++;
        } else if (e == EEXIST) {
            counts->existing++;
        } else {
            counts->failed++;
            LOG_WARN("migration %s: conntrack entry %zu for port \"%s\" "
                     "not imported: %s",
                     id, i, entries[i].port, strerror(e));
        }
    }
    pthread_mutex_unlock(&core->mutex);
    free(ifindexes);
    return error;
}
