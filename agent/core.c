#include "agent/core.h"

#include <errno.h>
#include <jansson.h>
#include <net/if.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/reconcile.h"
#include "agent/state.h"
#include "utils/util.h"

struct core {
    pthread_mutex_t mutex;     /* Protects everything below. */
    struct dp *dp;             /* The datapath, not owned. */
    struct reconciler *rc;     /* Reconciles 'dp'. */
    struct state *state;       /* The state in force, or NULL. */
    int64_t revision;          /* The controller revision of 'state'. */
    uint64_t reconciles;       /* Runs of reconcile_run(). */
    uint64_t reconcile_errors; /* Of which failed. */
    bool controller;           /* Controller mode. */
    bool connected;            /* The controller is reachable. */
    bool ready;                /* A run has succeeded. */
};

struct core *
core_create(struct dp *dp, bool controller)
{
    struct core *core = xzalloc(sizeof *core);

    pthread_mutex_init(&core->mutex, NULL);
    core->dp = dp;
    core->rc = reconcile_create(dp);
    core->controller = controller;
    return core;
}

void
core_destroy(struct core *core)
{
    if (core) {
        reconcile_destroy(core->rc);
        state_destroy(core->state);
        pthread_mutex_destroy(&core->mutex);
        free(core);
    }
}

/* Reconciles the datapath with 's', counting the run.  The caller holds
 * the lock. */
static int
core_run(struct core *core, const struct state *s)
{
    int error = reconcile_run(core->rc, s);

    core->reconciles++;
    if (error) {
        core->reconcile_errors++;
    } else {
        core->ready = true;
    }
    return error;
}

int
core_apply(struct core *core, struct state *s, int64_t revision)
{
    int error;

    pthread_mutex_lock(&core->mutex);
    error = core_run(core, s);
    if (error == EINVAL) {
        /* Nothing was changed: the datapath still holds the old state. */
        state_destroy(s);
    } else {
        state_destroy(core->state);
        core->state = s;
        core->revision = revision;
    }
    pthread_mutex_unlock(&core->mutex);
    return error;
}

bool
core_poll(struct core *core)
{
    bool ran = false;

    pthread_mutex_lock(&core->mutex);
    if (core->state && reconcile_poll(core->rc)) {
        core_run(core, core->state);
        ran = true;
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
    pthread_mutex_unlock(&core->mutex);
    return status;
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
        memset(snap, 0, sizeof *snap);
    }
}
