/* Desired-state documents for agents. */
#include "controller/desired.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller/store.h"
#include "utils/log.h"
#include "utils/util.h"

/* One host's watch: what wakes its long polls. */
struct desired_host {
    int64_t revision;       /* Latest commit that changed the host or its
                             * own ports. */
    json_t *networks;       /* Network name -> null: those of the document
                             * its last waiter waits on. */
    pthread_cond_t changed; /* Signalled when a change concerns it. */
    uint64_t wakeups;       /* How many times 'changed' was signalled for a
                             * change while it had waiters. */
    unsigned int waiters;   /* Threads in desired_wait() for it. */
    int64_t woken;          /* The revision of the last change that woke
                             * them. */
};

/* A change queued for the following thread. */
struct desired_change {
    int64_t revision; /* Its commit. */
    char *kind;       /* NULL: anything may have changed. */
    char *name;       /* NULL with 'kind'. */
};

struct desired {
    pthread_mutex_t mutex;       /* Protects the members up to 'store'. */
    json_t *hosts;               /* Host name -> array of up to DESIRED_KEEP
                                  * {"revision": R, "document": D}, oldest
                                  * first. */
    int64_t base;                /* Latest commit that concerns every host. */
    json_t *watched;             /* Host name -> its index in 'watch'. */
    struct desired_host **watch; /* The hosts asked about. */
    size_t n_watch;              /* Entries in 'watch'. */
    atomic_uint_least64_t computes; /* desired_count_compute() calls. */
    json_t *networks; /* Network name -> {"revision": R, the latest
                       * commit that changed it or its ports,
                       * "hosts": {H: null}, whose waiters wait on a
                       * document with it}. */

    struct store *store;          /* Followed, or NULL. */
    pthread_mutex_t queue_mutex;  /* Protects the members below. */
    pthread_cond_t queued;        /* Signalled when 'queue' grows. */
    struct desired_change *queue; /* Changes not yet taken in. */
    size_t n_queue, queue_size;   /* Entries in 'queue', allocated. */
    bool stopping;                /* The thread must end. */
    bool busy;                    /* The thread takes a batch in. */
    pthread_cond_t idle;          /* Broadcast when it has taken in all. */
    pthread_t thread;             /* Takes the queued changes in. */
    json_t *vteps;                /* Host name -> VTEP (or null) as the
                                   * thread last read it. */
};

static void *desired_main(void *);

/* A store_change_cb: queues the change for desired_main(). */
static void
desired_queue(int64_t revision, const char *kind, const char *name, void *d_)
{
    struct desired *d = d_;
    struct desired_change *c;

    pthread_mutex_lock(&d->queue_mutex);
    if (d->n_queue >= d->queue_size) {
        d->queue_size = d->queue_size ? 2 * d->queue_size : 64;
        d->queue = xrealloc(d->queue, d->queue_size * sizeof *d->queue);
    }
    c = &d->queue[d->n_queue++];
    c->revision = revision;
    c->kind = kind ? xstrdup(kind) : NULL;
    c->name = name ? xstrdup(name) : NULL;
    pthread_cond_signal(&d->queued);
    pthread_mutex_unlock(&d->queue_mutex);
}

struct desired *
desired_create(struct store *store)
{
    struct desired *d = xzalloc(sizeof *d);

    pthread_mutex_init(&d->mutex, NULL);
    pthread_mutex_init(&d->queue_mutex, NULL);
    cond_init_monotonic(&d->queued);
    cond_init_monotonic(&d->idle);
    d->hosts = json_object();
    atomic_init(&d->computes, 0);
    d->watched = json_object();
    d->networks = json_object();
    d->vteps = json_object();
    if (store) {
        int error;

        d->store = store;
        store_watch(store, desired_queue, d);
        /* Whatever came before is in every document computed from now
         * on. */
        d->base = store_revision(store);
        error = pthread_create(&d->thread, NULL, desired_main, d);
        if (error) {
            /* As with memory: the controller cannot serve agents without
             * it. */
            LOG_ERR("desired state: cannot start the thread that follows "
                    "the store's changes: %s",
                    strerror(error));
            abort();
        }
    }
    return d;
}

/* Empties 'd''s queue of changes. */
static void
desired_clear_queue(struct desired *d)
{
    for (size_t i = 0; i < d->n_queue; i++) {
        free(d->queue[i].kind);
        free(d->queue[i].name);
    }
    d->n_queue = 0;
}

void
desired_destroy(struct desired *d)
{
    if (d) {
        if (d->store) {
            store_unwatch(d->store, desired_queue, d);
            pthread_mutex_lock(&d->queue_mutex);
            d->stopping = true;
            pthread_cond_signal(&d->queued);
            pthread_mutex_unlock(&d->queue_mutex);
            pthread_join(d->thread, NULL);
        }
        desired_clear_queue(d);
        free(d->queue);
        for (size_t i = 0; i < d->n_watch; i++) {
            json_decref(d->watch[i]->networks);
            pthread_cond_destroy(&d->watch[i]->changed);
            free(d->watch[i]);
        }
        free(d->watch);
        pthread_cond_destroy(&d->queued);
        pthread_cond_destroy(&d->idle);
        pthread_mutex_destroy(&d->queue_mutex);
        pthread_mutex_destroy(&d->mutex);
        json_decref(d->hosts);
        json_decref(d->watched);
        json_decref(d->networks);
        json_decref(d->vteps);
        free(d);
    }
}

/* Returns the string member 'key' of JSON object 'obj', or NULL. */
static const char *
get_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Returns the parameters of stored QoS policy body 'policy' as a port's
 * "qos" in a document: {"egress_rate", "egress_burst", "egress_min_rate",
 * "egress_priority", "ingress_rate", "ingress_burst", "dscp"}, each present
 * only when the policy sets it ("egress_priority" from its "priority"). */
static json_t *
qos_params(const json_t *policy)
{
    static const char *const dirs[] = {"egress", "ingress"};
    const json_t *min_rate =
        json_object_get(json_object_get(policy, "egress"), "min_rate");
    const json_t *priority = json_object_get(policy, "priority");
    json_t *qos = json_object();
    const json_t *dscp;

    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        const json_t *dir = json_object_get(policy, dirs[i]);
        const json_t *rate = json_object_get(dir, "rate");
        const json_t *burst = json_object_get(dir, "burst");
        char key[32];

        if (rate) {
            snprintf(key, sizeof key, "%s_rate", dirs[i]);
            json_object_set(qos, key, (json_t *) rate);
        }
        if (burst) {
            snprintf(key, sizeof key, "%s_burst", dirs[i]);
            json_object_set(qos, key, (json_t *) burst);
        }
    }
    if (min_rate) {
        json_object_set(qos, "egress_min_rate", (json_t *) min_rate);
    }
    /* Only egress is shaped, so the policy's priority is egress's. */
    if (priority) {
        json_object_set(qos, "egress_priority", (json_t *) priority);
    }
    dscp = json_object_get(policy, "dscp");
    if (dscp) {
        json_object_set(qos, "dscp", (json_t *) dscp);
    }
    return qos;
}

/* What desired_compute() gathers while walking the store. */
struct walk {
    struct store_txn *txn;  /* Where to read. */
    const char *host;       /* The host whose document this is. */
    const char *prefix;     /* The index name prefix being walked. */
    json_t *ports;          /* The host's ports. */
    json_t *networks;       /* Network name -> null, for its ports. */
    json_t *remotes;        /* Remote endpoints. */
    json_t *vteps;          /* Host name -> VTEP (or null), a cache. */
    const char *network;    /* The network being walked for remotes. */
    json_t *identities;     /* Identity (decimal) -> null, of the host's
                             * ports. */
    json_t *peers;          /* Group -> the identities whose sets hold it,
                             * read when first needed, or NULL. */
    json_t *externals;      /* Every external VTEP's stored body. */
    json_t *external_vteps; /* The document's "external_vteps". */
    json_t *incoming;       /* The migrations to this host. */
    json_t *outgoing;       /* VM name -> its migration from this host. */
    json_t *standby;        /* Port name -> null: the NICs of incoming
                             * VMs, local here and no remotes. */
    json_t *elsewhere;      /* The migrations between two other hosts. */
    json_t *forward;        /* The document's "forward". */
    json_t *senders;        /* Host name -> null: the hosts that may still
                             * send here for a MAC in "forward". */
    int error;              /* A store failure, or 0. */
};

/* Reads the identity of port 'name' into '*identity': 0 for a port in no
 * security group. */
static int
port_identity(struct store_txn *txn, const char *name, json_int_t *identity)
{
    struct store_obj obj;
    int error = store_get(txn, "port-identity", name, &obj);

    *identity = 0;
    if (error == ENOENT) {
        return 0;
    } else if (error) {
        return error;
    }
    *identity = json_integer_value(json_object_get(obj.body, "identity"));
    store_obj_clear(&obj);
    return 0;
}

/* Resolves the QoS of port 'body' in 'network': its own policy, or else
 * its network's "default_qos".  Stores into '*qos' the parameters of
 * qos_params(), or NULL when no policy applies or the policy sets
 * nothing. */
static int
port_qos(struct walk *w, const json_t *body, const char *network, json_t **qos)
{
    const char *policy = get_string(body, "qos");
    struct store_obj obj;
    int error;

    *qos = NULL;
    if (!policy && network) {
        error = store_get(w->txn, "network", network, &obj);
        if (error == ENOENT) {
            return 0;
        } else if (error) {
            return error;
        }
        policy = get_string(obj.body, "default_qos");
        policy = policy ? xstrdup(policy) : NULL;
        store_obj_clear(&obj);
    } else if (policy) {
        policy = xstrdup(policy);
    }
    if (!policy) {
        return 0;
    }
    error = store_get(w->txn, "qos-policy", policy, &obj);
    free((char *) policy);
    if (error == ENOENT) {
        return 0;
    } else if (error) {
        return error;
    }
    *qos = qos_params(obj.body);
    store_obj_clear(&obj);
    if (!json_object_size(*qos)) {
        json_decref(*qos);
        *qos = NULL;
    }
    return 0;
}

/* Adds to the desired-state entry 'port' of the port whose stored body is
 * 'body' the "hostname" its VM's DHCP answers carry: the hostname of the
 * VM the port is a NIC of, if any (doc/vms.md). */
static int
port_hostname(struct store_txn *txn, const json_t *body, json_t *port)
{
    const char *vm = get_string(body, "vm");
    struct store_obj obj;
    const json_t *hostname;
    int error;

    if (!vm) {
        return 0;
    }
    error = store_get(txn, "vm", vm, &obj);
    if (error) {
        return error == ENOENT ? 0 : error;
    }
    hostname = json_object_get(obj.body, "hostname");
    if (json_is_string(hostname)) {
        json_object_set(port, "hostname", (json_t *) hostname);
    }
    store_obj_clear(&obj);
    return 0;
}

/* Adds port 'name' to the document's ports, "standby" (the NIC of a VM
 * migrating in) if 'standby'. */
static int
add_port(struct walk *w, const char *name, bool standby)
{
    struct store_obj obj;
    const char *network;
    json_t *port, *qos;
    int error;

    error = store_get(w->txn, "port", name, &obj);
    if (error == ENOENT) {
        return 0;
    } else if (error) {
        w->error = error;
        return STORE_STOP;
    }
    network = get_string(obj.body, "network");
    port = json_pack("{sssOsOsOsO}", "name", obj.name, "network",
                     json_object_get(obj.body, "network"), "device",
                     json_object_get(obj.body, "device"), "mac",
                     json_object_get(obj.body, "mac"), "ip",
                     json_object_get(obj.body, "ip"));
    error = port_qos(w, obj.body, network, &qos);
    if (!error) {
        json_int_t identity;

        error = port_identity(w->txn, obj.name, &identity);
        if (!error && identity) {
            char id[24];

            snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT, identity);
            json_object_set_new(port, "identity", json_integer(identity));
            json_object_set_new(w->identities, id, json_null());
        }
    }
    if (error) {
        w->error = error;
        json_decref(port);
        store_obj_clear(&obj);
        return STORE_STOP;
    }
    if (qos) {
        json_object_set_new(port, "qos", qos);
    }
    error = port_hostname(w->txn, obj.body, port);
    if (error) {
        w->error = error;
        json_decref(port);
        store_obj_clear(&obj);
        return STORE_STOP;
    }
    if (standby) {
        json_object_set_new(port, "standby", json_true());
    }
    json_array_append_new(w->ports, port);
    if (network) {
        json_object_set_new(w->networks, network, json_null());
    }
    store_obj_clear(&obj);
    return 0;
}

static int
local_port_cb(const struct store_obj *index, void *w_)
{
    struct walk *w = w_;
    size_t len = strlen(w->prefix);

    if (strncmp(index->name, w->prefix, len)) {
        return STORE_STOP;
    }
    return add_port(w, index->name + len, false);
}

/* Returns the VTEP of 'host' (borrowed from 'w''s cache), or NULL if the
 * host is not registered. */
static const char *
host_vtep(struct walk *w, const char *host)
{
    json_t *vtep = json_object_get(w->vteps, host);

    if (!vtep) {
        struct store_obj obj;
        int error = store_get(w->txn, "host", host, &obj);

        if (!error) {
            vtep = json_incref(json_object_get(obj.body, "vtep"));
            store_obj_clear(&obj);
        } else if (error != ENOENT) {
            w->error = error;
        }
        json_object_set_new(w->vteps, host, vtep ? vtep : json_null());
        vtep = json_object_get(w->vteps, host);
    }
    return json_string_value(vtep);
}

static int
remote_cb(const struct store_obj *index, void *w_)
{
    struct walk *w = w_;
    size_t len = strlen(w->prefix);
    const char *host = get_string(index->body, "host");
    json_int_t identity;
    const char *vtep;
    json_t *remote;

    if (strncmp(index->name, w->prefix, len)) {
        return STORE_STOP;
    }
    if (!host || !strcmp(host, w->host)
        || json_object_get(w->standby, index->name + len)) {
        return 0;
    }
    vtep = host_vtep(w, host);
    if (!w->error) {
        w->error = port_identity(w->txn, index->name + len, &identity);
    }
    if (w->error) {
        return STORE_STOP;
    }
    if (vtep) {
        remote = json_pack("{sssOsOss}", "network", w->network, "mac",
                           json_object_get(index->body, "mac"), "ip",
                           json_object_get(index->body, "ip"), "vtep", vtep);
        if (identity) {
            json_object_set_new(remote, "identity", json_integer(identity));
        }
        json_array_append_new(w->remotes, remote);
    }
    return 0;
}

static int
external_cb(const struct store_obj *obj, void *externals)
{
    json_array_append(externals, obj->body);
    return 0;
}

/* Adds to the document what external VTEPs joined network 'network': each
 * one's entry in "external_vteps" and its endpoints in the network as
 * remotes behind its address, without identities (an external VTEP's
 * endpoints are known by their addresses). */
static void
add_externals(struct walk *w, const char *network)
{
    const json_t *ext;
    size_t i;

    json_array_foreach(w->externals, i, ext)
    {
        const char *vtep = get_string(ext, "address");
        const json_t *value;
        json_t *entry;
        size_t j;
        bool joined = false;

        json_array_foreach(json_object_get(ext, "networks"), j, value)
        {
            joined |= !strcmp(json_string_value(value), network);
        }
        if (!joined || !vtep) {
            continue;
        }
        entry = json_pack("{ssss}", "network", network, "vtep", vtep);
        if (json_is_true(json_object_get(ext, "gbp"))) {
            json_object_set_new(entry, "gbp", json_true());
        }
        json_array_append_new(w->external_vteps, entry);
        json_array_foreach(json_object_get(ext, "endpoints"), j, value)
        {
            json_t *remote;

            if (strcmp(get_string(value, "network") ?: "", network)) {
                continue;
            }
            remote = json_pack("{sssOss}", "network", network, "mac",
                               json_object_get(value, "mac"), "vtep", vtep);
            if (json_object_get(value, "ip")) {
                json_object_set(remote, "ip", json_object_get(value, "ip"));
            }
            json_array_append_new(w->remotes, remote);
        }
    }
}

/* The host's VMs being read. */
struct vm_walk {
    const char *prefix; /* "HOST/". */
    json_t *names;      /* Their names, in order. */
};

static int
host_vm_cb(const struct store_obj *index, void *vw_)
{
    struct vm_walk *vw = vw_;
    size_t len = strlen(vw->prefix);

    if (strncmp(index->name, vw->prefix, len)) {
        return STORE_STOP;
    }
    json_array_append_new(vw->names, json_string(index->name + len));
    return 0;
}

/* Returns the NIC of VM 'vm' that is port 'port' as the document gives
 * it, or NULL if the port is gone. */
static int
vm_nic(struct walk *w, const char *port, json_t **nicp)
{
    struct store_obj obj, net;
    int error;

    *nicp = NULL;
    error = store_get(w->txn, "port", port, &obj);
    if (error) {
        return error == ENOENT ? 0 : error;
    }
    *nicp = json_pack("{sssOsO}", "port", port, "device",
                      json_object_get(obj.body, "device"), "mac",
                      json_object_get(obj.body, "mac"));
    error = store_get(w->txn, "network", get_string(obj.body, "network") ?: "",
                      &net);
    if (!error) {
        json_object_set(*nicp, "mtu", json_object_get(net.body, "mtu"));
        store_obj_clear(&net);
    }
    store_obj_clear(&obj);
    return error == ENOENT ? 0 : error;
}

/* Returns stored VM 'obj' as the document gives it (doc/vms.md). */
static int
vm_entry(struct walk *w, const struct store_obj *obj, json_t **vmp)
{
    const char *uuid = get_string(obj->body, "uuid") ?: "";
    json_t *vm, *seed, *nics = json_array();
    const json_t *nic;
    size_t i;
    int error = 0;

    json_array_foreach(json_object_get(obj->body, "nics"), i, nic)
    {
        char *port = xasprintf("%s-%zu", obj->name, i);
        json_t *entry;

        error = vm_nic(w, port, &entry);
        free(port);
        if (error) {
            json_decref(nics);
            return error;
        }
        if (entry) {
            json_array_append_new(nics, entry);
        }
    }
    seed = json_pack("{sssO}", "file", "", "hostname",
                     json_object_get(obj->body, "hostname"));
    json_object_set_new(seed, "file", json_sprintf("vms/%s.seed.iso", uuid));
    if (json_object_get(obj->body, "ssh_keys")) {
        json_object_set(seed, "ssh_keys",
                        json_object_get(obj->body, "ssh_keys"));
    }
    if (json_object_get(obj->body, "user_data")) {
        json_object_set(seed, "user_data",
                        json_object_get(obj->body, "user_data"));
    }
    vm = json_pack("{sssssOsOsOsO}", "name", obj->name, "uuid", uuid, "vcpus",
                   json_object_get(obj->body, "vcpus"), "memory_mb",
                   json_object_get(obj->body, "memory_mb"), "power",
                   json_object_get(obj->body, "power"), "boot",
                   json_object_get(obj->body, "boot"));
    if (!vm) {
        json_decref(seed);
        json_decref(nics);
        return EIO;
    }
    json_object_set_new(
        vm, "disk",
        json_pack("{s:o,s:o,s:O}", "file", json_sprintf("vms/%s.qcow2", uuid),
                  "image",
                  json_sprintf("images/%s.qcow2",
                               get_string(obj->body, "image") ?: ""),
                  "size_gb", json_object_get(obj->body, "disk_gb")));
    json_object_set_new(vm, "seed", seed);
    json_object_set_new(vm, "nics", nics);
    /* Whether the agent fences it when it loses its lease
     * (doc/mobility.md). */
    json_object_set_new(vm, "ha",
                        json_string(get_string(obj->body, "ha") ?: "restart"));
    *vmp = vm;
    return 0;
}

/* A walk over the VMs that left one host for another. */
struct moved_walk {
    const char *prefix; /* "HOST/". */
    json_t *moved;      /* VM name -> UUID. */
};
static int
migration_cb(const struct store_obj *obj, void *w_)
{
    struct walk *w = w_;
    const char *from = get_string(obj->body, "from");
    const char *to = get_string(obj->body, "to");

    if (to && !strcmp(to, w->host)) {
        json_array_append(w->incoming, obj->body);
    } else if (from && !strcmp(from, w->host)) {
        if (json_object_get(obj->body, "uri")) {
            json_object_set(w->outgoing, obj->name, obj->body);
        }
    } else {
        json_array_append(w->elsewhere, obj->body);
    }
    return 0;
}

/* Returns the document's "fabric_vteps" (doc/mobility.md): the
 * destination of every migration between two other hosts whose source
 * this document has remotes behind, for the VM answers from there before
 * this host's remotes say it moved.  NULL if there is none. */
static json_t *
fabric_vteps(struct walk *w)
{
    json_t *vteps = json_array();
    const json_t *mig, *remote;
    const char *host;
    json_t *value;
    size_t i, j;

    json_array_foreach(w->elsewhere, i, mig)
    {
        const char *from = host_vtep(w, get_string(mig, "from") ?: "");
        const char *to = host_vtep(w, get_string(mig, "to") ?: "");
        bool listed = false;

        if (!from || !to) {
            continue;
        }
        json_array_foreach(vteps, j, remote)
        {
            listed = listed || !strcmp(json_string_value(remote), to);
        }
        json_array_foreach(w->remotes, j, remote)
        {
            if (!listed && !strcmp(get_string(remote, "vtep") ?: "", from)) {
                json_array_append_new(vteps, json_string(to));
                listed = true;
            }
        }
    }
    /* And on the host a VM just left, the hosts that may still send to it
     * here, though this host may have no endpoint in their networks any
     * more. */
    json_object_foreach(w->senders, host, value)
    {
        const char *vtep = host_vtep(w, host);
        bool listed = !vtep;

        json_array_foreach(vteps, j, remote)
        {
            listed = listed || !strcmp(json_string_value(remote), vtep);
        }
        json_array_foreach(w->remotes, j, remote)
        {
            listed = listed || !strcmp(get_string(remote, "vtep") ?: "", vtep);
        }
        json_array_foreach(w->forward, j, remote)
        {
            listed = listed || !strcmp(get_string(remote, "vtep") ?: "", vtep);
        }
        if (!listed) {
            json_array_append_new(vteps, json_string(vtep));
        }
    }
    if (!json_array_size(vteps)) {
        json_decref(vteps);
        return NULL;
    }
    return vteps;
}

/* Reads the migrations to and from 'w->host' (doc/mobility.md), and adds
 * the NICs of the VMs migrating in to the document's ports as standby
 * ports. */
static int
walk_migrations(struct walk *w)
{
    json_t *live = json_array();
    const json_t *mig;
    size_t i;
    int error = store_list(w->txn, "migration", NULL, 0, migration_cb, w);

    json_array_foreach(w->incoming, i, mig)
    {
        const char *vm = get_string(mig, "vm") ?: "";
        struct store_obj obj;
        const json_t *nic;
        size_t j;

        if (error) {
            break;
        }
        error = store_get(w->txn, "vm", vm, &obj);
        if (error) {
            error = error == ENOENT ? 0 : error;
            continue;
        }
        if (strcmp(get_string(obj.body, "host") ?: "",
                   get_string(mig, "from") ?: "")) {
            /* Moved meanwhile (an HA restart), perhaps here: the
             * migration is over, whatever the controller's ticker has yet
             * to write. */
            store_obj_clear(&obj);
            continue;
        }
        json_array_append(live, (json_t *) mig);
        json_array_foreach(json_object_get(obj.body, "nics"), j, nic)
        {
            char *port = xasprintf("%s-%zu", vm, j);

            json_object_set_new(w->standby, port, json_null());
            if (!error && add_port(w, port, true)) {
                error = w->error;
            }
            free(port);
        }
        store_obj_clear(&obj);
    }
    json_decref(w->incoming);
    w->incoming = live;
    return error;
}

/* Adds "migrate" (doc/mobility.md) to document entry 'vm' of a VM whose
 * migration from this host, 'mig', has a URI to go to. */
static void
add_migrate(struct walk *w, json_t *vm, const json_t *mig)
{
    const char *vtep = host_vtep(w, get_string(mig, "to") ?: "");
    json_t *migrate =
        json_pack("{sOsOsssOsOsOsO}", "id", json_object_get(mig, "id"), "to",
                  json_object_get(mig, "to"), "to_vtep", vtep ? vtep : "",
                  "uri", json_object_get(mig, "uri"), "downtime_ms",
                  json_object_get(mig, "downtime_ms"), "max_bandwidth_mbps",
                  json_object_get(mig, "max_bandwidth_mbps"), "auto_converge",
                  json_object_get(mig, "auto_converge"));

    if (migrate) {
        json_object_set_new(vm, "migrate", migrate);
    }
}

/* Adds to 'vms' the VMs migrating in, each with "incoming". */
static int
add_incoming(struct walk *w, json_t *vms)
{
    const json_t *mig;
    size_t i;
    int error = 0;

    json_array_foreach(w->incoming, i, mig)
    {
        const char *from = get_string(mig, "from") ?: "";
        const char *vtep = host_vtep(w, from);
        struct store_obj obj;
        json_t *vm;

        error = w->error;
        if (!error) {
            error = store_get(w->txn, "vm", get_string(mig, "vm") ?: "", &obj);
        }
        if (error == ENOENT) {
            error = 0;
            continue;
        } else if (error) {
            break;
        }
        error = vm_entry(w, &obj, &vm);
        store_obj_clear(&obj);
        if (error) {
            break;
        }
        json_object_set_new(vm, "incoming",
                            json_pack("{sOssss}", "id",
                                      json_object_get(mig, "id"), "from", from,
                                      "from_vtep", vtep ? vtep : ""));
        json_array_append_new(vms, vm);
    }
    return error;
}

static int
compare_vms(const void *a, const void *b)
{
    return strcmp(get_string(*(json_t *const *) a, "name") ?: "",
                  get_string(*(json_t *const *) b, "name") ?: "");
}

/* Sorts document entries 'vms' by name. */
static void
sort_vms(json_t *vms)
{
    size_t n = json_array_size(vms);
    json_t **items = xcalloc(n ? n : 1, sizeof *items);

    for (size_t i = 0; i < n; i++) {
        items[i] = json_incref(json_array_get(vms, i));
    }
    qsort(items, n, sizeof *items, compare_vms);
    json_array_clear(vms);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(vms, items[i]);
    }
    free(items);
}

static int
moved_cb(const struct store_obj *obj, void *mw_)
{
    struct moved_walk *mw = mw_;
    size_t len = strlen(mw->prefix);

    if (strncmp(obj->name, mw->prefix, len)) {
        return STORE_STOP;
    }
    json_object_set(mw->moved, obj->name + len,
                    json_object_get(obj->body, "uuid"));
    return 0;
}

/* Stores in 'moved' the VMs that moved from 'w->host' to another host
 * (doc/mobility.md "moved_vms"): its agent removes them without their
 * disks. */
static int
walk_moved(struct walk *w, json_t *moved)
{
    struct moved_walk mw = {.prefix = w->prefix, .moved = moved};
    int error = store_list(w->txn, "vm-moved", w->prefix, 0, moved_cb, &mw);

    return error == STORE_STOP ? 0 : error;
}

static int
sender_cb(const struct store_obj *index, void *w_)
{
    struct walk *w = w_;
    const char *host = get_string(index->body, "host");

    if (strncmp(index->name, w->prefix, strlen(w->prefix))) {
        return STORE_STOP;
    }
    if (host && strcmp(host, w->host)) {
        json_object_set_new(w->senders, host, json_null());
    }
    return 0;
}

/* Adds to "forward" (doc/mobility.md) the NICs of VM 'vm', which left
 * 'w->host' a moment ago, and to 'w->senders' the hosts of their
 * networks. */
static int
add_forward(struct walk *w, const struct store_obj *vm)
{
    const char *to = get_string(vm->body, "host") ?: "";
    const char *vtep = strcmp(to, w->host) ? host_vtep(w, to) : NULL;
    const json_t *nic;
    size_t i;
    int error = w->error;

    /* A VM back here has its ports here again. */
    if (!vtep) {
        return error;
    }
    json_array_foreach(json_object_get(vm->body, "nics"), i, nic)
    {
        char *name = xasprintf("%s-%zu", vm->name, i);
        const char *was = w->prefix;
        const char *network;
        struct store_obj port, net;
        char *prefix;

        if (error) {
            free(name);
            break;
        }
        /* Nor a VM on its way back here, whose port is standby here. */
        error = json_object_get(w->standby, name)
                    ? ENOENT
                    : store_get(w->txn, "port", name, &port);
        free(name);
        if (error) {
            error = error == ENOENT ? 0 : error;
            continue;
        }
        network = get_string(port.body, "network") ?: "";
        error = store_get(w->txn, "network", network, &net);
        if (!error) {
            json_array_append_new(
                w->forward,
                json_pack("{sOsOss}", "vni", json_object_get(net.body, "vni"),
                          "mac", json_object_get(port.body, "mac"), "vtep",
                          vtep));
            store_obj_clear(&net);
            prefix = xasprintf("%s/", network);
            w->prefix = prefix;
            error = store_list(w->txn, "net-port", prefix, 0, sender_cb, w);
            error = error == STORE_STOP ? 0 : error;
            w->prefix = was;
            free(prefix);
        }
        error = error == ENOENT ? 0 : error;
        store_obj_clear(&port);
    }
    return error;
}

static int
forward_cb(const struct store_obj *obj, void *names)
{
    json_array_append_new(names, json_string(obj->name));
    return 0;
}

/* Adds to "forward" the NICs of the VMs that migrated away from 'w->host'
 * less than MIGRATION_FORWARD_GRACE_MS ago (the "vm-forward" index objects
 * "SOURCE/VM" the controller's ticker deletes then), whose MACs stay in
 * "remotes" too, for their addresses and the flooding to their new host;
 * and to 'w->senders' the source of each VM that came
 * here so, whose forwarding ends here though it may have no endpoint left
 * in the VM's networks. */
static int
walk_forwards(struct walk *w)
{
    json_t *names = json_array();
    const json_t *name;
    size_t i;
    int error = store_list(w->txn, "vm-forward", NULL, 0, forward_cb, names);

    json_array_foreach(names, i, name)
    {
        const char *key = json_string_value(name);
        const char *slash = strchr(key, '/');
        char *from;
        struct store_obj vm;

        if (error || !slash) {
            continue;
        }
        error = store_get(w->txn, "vm", slash + 1, &vm);
        if (error) {
            error = error == ENOENT ? 0 : error;
            continue;
        }
        from = xasprintf("%.*s", (int) (slash - key), key);
        if (!strcmp(from, w->host)) {
            error = add_forward(w, &vm);
        } else if (!strcmp(get_string(vm.body, "host") ?: "", w->host)) {
            json_object_set_new(w->senders, from, json_null());
        }
        free(from);
        store_obj_clear(&vm);
    }
    json_decref(names);
    return error;
}

/* Adds the VMs placed on 'w->host' to 'vms', and those migrating in, in
 * name order. */
static int
walk_vms(struct walk *w, json_t *vms)
{
    struct vm_walk vw = {.names = json_array()};
    const json_t *name;
    size_t i;
    int error;

    vw.prefix = xasprintf("%s/", w->host);
    error = store_list(w->txn, "host-vm", vw.prefix, 0, host_vm_cb, &vw);
    error = error == STORE_STOP ? 0 : error;
    json_array_foreach(vw.names, i, name)
    {
        struct store_obj obj;
        json_t *vm;

        if (error) {
            break;
        }
        error = store_get(w->txn, "vm", json_string_value(name), &obj);
        if (error == ENOENT) {
            error = 0;
            continue;
        } else if (error) {
            break;
        }
        error = vm_entry(w, &obj, &vm);
        store_obj_clear(&obj);
        if (!error) {
            const json_t *mig =
                json_object_get(w->outgoing, json_string_value(name));

            if (mig) {
                add_migrate(w, vm, mig);
            }
            json_array_append_new(vms, vm);
        }
    }
    free((char *) vw.prefix);
    json_decref(vw.names);
    if (!error && json_array_size(w->incoming)) {
        error = add_incoming(w, vms);
        sort_vms(vms);
    }
    return error ? error : w->error;
}

static int
compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Adds each network of 'w->networks' to 'networks' and its remotes to
 * 'w->remotes', in name order. */
static int
walk_networks(struct walk *w, json_t *networks)
{
    size_t n = json_object_size(w->networks), i = 0;
    const char **names = xcalloc(n, sizeof *names);
    const char *name;
    json_t *value;
    int error = 0;

    json_object_foreach(w->networks, name, value)
    {
        names[i++] = name;
    }
    qsort(names, n, sizeof *names, compare_strings);
    for (i = 0; i < n && !error; i++) {
        struct store_obj obj;
        const char *action;
        json_t *network;
        char *prefix;

        error = store_get(w->txn, "network", names[i], &obj);
        if (error == ENOENT) {
            error = 0;
            continue;
        } else if (error) {
            break;
        }
        network = json_pack("{sssOsOsO}", "name", names[i], "vni",
                            json_object_get(obj.body, "vni"), "mtu",
                            json_object_get(obj.body, "mtu"), "cidr",
                            json_object_get(obj.body, "cidr"));
        /* For DHCP (doc/vms.md); absent when the network has none. */
        if (json_array_size(json_object_get(obj.body, "dns_servers"))) {
            json_object_set(network, "dns_servers",
                            json_object_get(obj.body, "dns_servers"));
        }
        /* Absent means "allow", which keeps the documents of clouds
         * without a firewall as they were. */
        action = get_string(obj.body, "default_action");
        if (action && strcmp(action, "allow")) {
            json_object_set_new(network, "default_action",
                                json_string(action));
        }
        json_array_append_new(networks, network);
        store_obj_clear(&obj);

        prefix = xasprintf("%s/", names[i]);
        w->prefix = prefix;
        w->network = names[i];
        error = store_list(w->txn, "net-port", prefix, 0, remote_cb, w);
        if (error == STORE_STOP) {
            error = w->error;
        }
        free(prefix);
        add_externals(w, names[i]);
    }
    free(names);
    return error;
}

static int
peers_cb(const struct store_obj *obj, void *peers)
{
    json_int_t id = strtoll(obj->name, NULL, 10);
    json_t *group;
    size_t i;

    json_array_foreach(json_object_get(obj->body, "groups"), i, group)
    {
        const char *name = json_string_value(group);
        json_t *ids = json_object_get(peers, name);

        if (!ids) {
            ids = json_array();
            json_object_set_new(peers, name, ids);
        }
        json_array_append_new(ids, json_integer(id));
    }
    return 0;
}

/* Returns the identities whose group sets hold 'group', in increasing
 * order (borrowed from 'w'), or NULL if none does. */
static const json_t *
group_peers(struct walk *w, const char *group)
{
    if (!w->peers) {
        w->peers = json_object();
        /* Identities are named by zero-padded number: they come sorted. */
        w->error = store_list(w->txn, "identity", NULL, 0, peers_cb, w->peers);
    }
    return json_object_get(w->peers, group);
}

/* Returns stored rule 'rule' compiled for agents: "ports" as [lo, hi], a
 * peer group resolved to "peer_identities", a CIDR as "peer_cidrs". */
static json_t *
compile_rule(struct walk *w, const json_t *rule)
{
    static const char *const copied[] = {"id", "group", "direction",
                                         "protocol"};
    const char *ports = get_string(rule, "ports");
    const char *peer_group = get_string(rule, "peer_group");
    const json_t *peer_cidr = json_object_get(rule, "peer_cidr");
    const json_t *icmp_type = json_object_get(rule, "icmp_type");
    json_t *out = json_object();

    for (size_t i = 0; i < ARRAY_SIZE(copied); i++) {
        json_object_set(out, copied[i], json_object_get(rule, copied[i]));
    }
    if (ports) {
        const char *dash = strchr(ports, '-');
        long lo = strtol(ports, NULL, 10);
        long hi = dash ? strtol(dash + 1, NULL, 10) : lo;

        json_object_set_new(
            out, "ports", json_pack("[II]", (json_int_t) lo, (json_int_t) hi));
    }
    if (icmp_type) {
        json_object_set(out, "icmp_type", (json_t *) icmp_type);
    }
    if (peer_group) {
        const json_t *peers = group_peers(w, peer_group);

        json_object_set_new(out, "peer_identities",
                            peers ? json_deep_copy(peers) : json_array());
    } else if (peer_cidr) {
        json_object_set_new(out, "peer_cidrs", json_pack("[O]", peer_cidr));
    }
    json_object_set(out, "action", json_object_get(rule, "action"));
    json_object_set_new(
        out, "log", json_boolean(json_is_true(json_object_get(rule, "log"))));
    return out;
}

/* The rules of one group being compiled. */
struct rule_walk {
    struct walk *w;     /* The document's walk. */
    const char *prefix; /* "GROUP/". */
    json_t *rules;      /* The compiled rules. */
    bool ingress;       /* Whether some rule is for ingress... */
    bool egress;        /* ...or egress. */
};

static int
rule_cb(const struct store_obj *obj, void *rw_)
{
    struct rule_walk *rw = rw_;
    const char *direction = get_string(obj->body, "direction");

    if (strncmp(obj->name, rw->prefix, strlen(rw->prefix))) {
        return STORE_STOP;
    }
    json_array_append_new(rw->rules, compile_rule(rw->w, obj->body));
    if (rw->w->error) {
        return STORE_STOP;
    }
    if (direction && !strcmp(direction, "ingress")) {
        rw->ingress = true;
    } else {
        rw->egress = true;
    }
    return 0;
}

/* Returns identity 'id' as its ports' host needs it: its groups, the
 * directions they govern and the rules of them all. */
static int
compile_identity(struct walk *w, json_int_t id, json_t **identityp)
{
    struct rule_walk rw = {.w = w, .rules = json_array()};
    const json_t *groups;
    struct store_obj obj;
    json_t *group, *governs;
    char name[24];
    size_t i;
    int error;

    *identityp = NULL;
    snprintf(name, sizeof name, "%05" JSON_INTEGER_FORMAT, id);
    error = store_get(w->txn, "identity", name, &obj);
    if (error) {
        json_decref(rw.rules);
        return error == ENOENT ? 0 : error;
    }
    groups = json_object_get(obj.body, "groups");
    json_array_foreach(groups, i, group)
    {
        char *prefix = xasprintf("%s/", json_string_value(group));

        rw.prefix = prefix;
        error = store_list(w->txn, "sg-rule", prefix, 0, rule_cb, &rw);
        free(prefix);
        if (error == STORE_STOP) {
            error = w->error;
        }
        if (error) {
            break;
        }
    }
    if (!error) {
        governs = json_array();
        if (rw.ingress) {
            json_array_append_new(governs, json_string("ingress"));
        }
        if (rw.egress) {
            json_array_append_new(governs, json_string("egress"));
        }
        *identityp = json_pack("{sIsOsosO}", "id", id, "groups", groups,
                               "governs", governs, "rules", rw.rules);
    }
    store_obj_clear(&obj);
    json_decref(rw.rules);
    return error;
}

static int
compare_ints(const void *a_, const void *b_)
{
    json_int_t a = *(const json_int_t *) a_, b = *(const json_int_t *) b_;

    return a < b ? -1 : a > b;
}

/* Adds the identities of 'w->identities' to 'identities', in increasing
 * order. */
static int
walk_identities(struct walk *w, json_t *identities)
{
    size_t n = json_object_size(w->identities), i = 0;
    json_int_t *ids = xcalloc(n ? n : 1, sizeof *ids);
    const char *key;
    json_t *value;
    int error = 0;

    json_object_foreach(w->identities, key, value)
    {
        ids[i++] = strtoll(key, NULL, 10);
    }
    qsort(ids, n, sizeof *ids, compare_ints);
    /* Read before the walks of rules, which the store cannot nest in
     * another. */
    if (n) {
        group_peers(w, "");
        error = w->error;
    }
    for (i = 0; i < n && !error; i++) {
        json_t *identity;

        error = compile_identity(w, ids[i], &identity);
        if (!error && identity) {
            json_array_append_new(identities, identity);
        }
    }
    free(ids);
    return error;
}

int
desired_compute(struct store_txn *txn, const char *host, json_t **docp)
{
    struct walk w = {
        .txn = txn,
        .host = host,
        .ports = json_array(),
        .networks = json_object(),
        .remotes = json_array(),
        .vteps = json_object(),
        .identities = json_object(),
        .externals = json_array(),
        .external_vteps = json_array(),
        .incoming = json_array(),
        .outgoing = json_object(),
        .standby = json_object(),
        .elsewhere = json_array(),
        .forward = json_array(),
        .senders = json_object(),
    };
    json_t *networks = json_array();
    json_t *identities = json_array();
    json_t *vms = json_array();
    json_t *moved = json_object();
    struct store_obj obj;
    char *prefix = NULL;
    int error;

    *docp = NULL;
    error = store_get(txn, "host", host, &obj);
    if (error) {
        goto out;
    }
    prefix = xasprintf("%s/", host);
    w.prefix = prefix;
    error = store_list(txn, "host-port", prefix, 0, local_port_cb, &w);
    if (error == STORE_STOP) {
        error = w.error;
    }
    if (!error) {
        error = walk_migrations(&w);
    }
    if (!error) {
        error = store_list(txn, "external-vtep", NULL, 0, external_cb,
                           w.externals);
    }
    if (!error) {
        error = walk_networks(&w, networks);
    }
    if (!error) {
        error = walk_identities(&w, identities);
    }
    if (!error) {
        error = walk_vms(&w, vms);
    }
    if (!error) {
        w.prefix = prefix;
        error = walk_moved(&w, moved);
    }
    if (!error) {
        error = walk_forwards(&w);
    }
    if (!error) {
        *docp = json_pack("{s{sssOsO}sOsOsO}", "host", "name", host, "vtep",
                          json_object_get(obj.body, "vtep"), "underlay",
                          json_object_get(obj.body, "underlay"), "networks",
                          networks, "ports", w.ports, "remotes", w.remotes);
        if (!*docp) {
            /* Only a stored host without "vtep" or "underlay" gets here. */
            error = EIO;
        } else if (json_object_get(obj.body, "uplink_rate")) {
            json_object_set(json_object_get(*docp, "host"), "uplink_rate",
                            json_object_get(obj.body, "uplink_rate"));
        }
        /* Only a host with a port in some group has identities; the
         * others keep the document they had before the firewall. */
        if (*docp && json_array_size(identities)) {
            json_object_set(*docp, "identities", identities);
        }
        /* Likewise only a host in a network an external VTEP joined. */
        if (*docp && json_array_size(w.external_vteps)) {
            json_object_set(*docp, "external_vteps", w.external_vteps);
        }
        /* And only a host with VMs. */
        if (*docp && json_array_size(vms)) {
            json_object_set(*docp, "vms", vms);
        }
        /* And only a host some VM left. */
        if (*docp && json_object_size(moved)) {
            json_object_set(*docp, "moved_vms", moved);
        }
        /* And only a host a VM left a moment ago. */
        if (*docp && json_array_size(w.forward)) {
            json_object_set(*docp, "forward", w.forward);
        }
        /* And only a host that sees a VM move between two others. */
        if (*docp) {
            json_t *vteps = fabric_vteps(&w);

            if (vteps) {
                json_object_set_new(*docp, "fabric_vteps", vteps);
            }
        }
    }
    store_obj_clear(&obj);

out:
    free(prefix);
    json_decref(networks);
    json_decref(identities);
    json_decref(vms);
    json_decref(moved);
    json_decref(w.identities);
    json_decref(w.peers);
    json_decref(w.ports);
    json_decref(w.networks);
    json_decref(w.remotes);
    json_decref(w.vteps);
    json_decref(w.externals);
    json_decref(w.external_vteps);
    json_decref(w.incoming);
    json_decref(w.outgoing);
    json_decref(w.standby);
    json_decref(w.elsewhere);
    json_decref(w.forward);
    json_decref(w.senders);
    return error;
}

/* Returns the key of 'element' of kind 'kind' as doc/api.md defines it.
 * The caller frees it. */
static char *
element_key(const char *kind, const json_t *element)
{
    if (!strcmp(kind, "remote")) {
        return xasprintf("%s/%s", get_string(element, "network") ?: "",
                         get_string(element, "mac") ?: "");
    }
    if (!strcmp(kind, "identity")) {
        return xasprintf("%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(element, "id")));
    }
    return xstrdup(get_string(element, "name") ?: "");
}

/* Returns an object that maps the keys of the elements of 'list' to the
 * elements. */
static json_t *
index_by_key(const char *kind, const json_t *list)
{
    json_t *index = json_object();
    json_t *element;
    size_t i;

    json_array_foreach(list, i, element)
    {
        char *key = element_key(kind, element);

        json_object_set(index, key, element);
        free(key);
    }
    return index;
}

/* Appends to 'changes' a deletion for each element of 'list' in 'old' that
 * 'new' lacks. */
static void
diff_deletes(json_t *changes, const json_t *old, const json_t *new,
             const char *list, const char *kind)
{
    json_t *keep = index_by_key(kind, json_object_get(new, list));
    json_t *element;
    size_t i;

    json_array_foreach(json_object_get(old, list), i, element)
    {
        char *key = element_key(kind, element);

        if (!json_object_get(keep, key)) {
            json_array_append_new(changes,
                                  json_pack("{ssssss}", "op", "delete", "kind",
                                            kind, "key", key));
        }
        free(key);
    }
    json_decref(keep);
}

/* Appends to 'changes' a "set" for each element of 'list' in 'new' that
 * 'old' lacks or has in another form. */
static void
diff_sets(json_t *changes, const json_t *old, const json_t *new,
          const char *list, const char *kind)
{
    json_t *was = index_by_key(kind, json_object_get(old, list));
    json_t *element;
    size_t i;

    json_array_foreach(json_object_get(new, list), i, element)
    {
        char *key = element_key(kind, element);

        if (!json_equal(json_object_get(was, key), element)) {
            json_array_append_new(changes,
                                  json_pack("{sssssO}", "op", "set", "kind",
                                            kind, "object", element));
        }
        free(key);
    }
    json_decref(was);
}

json_t *
desired_diff(const json_t *old, const json_t *new)
{
    const json_t *old_ext, *new_ext;
    json_t *changes;

    /* External VTEPs change rarely, and the agent applies them with the
     * whole document. */
    old_ext = json_object_get(old, "external_vteps");
    new_ext = json_object_get(new, "external_vteps");
    if (!json_equal(json_object_get(old, "host"), json_object_get(new, "host"))
        || ((old_ext || new_ext) && !json_equal(old_ext, new_ext))) {
        return NULL;
    }
    /* So do the VMs that moved away: the agent must know a VM moved in
     * the same change that takes it out of "vms". */
    old_ext = json_object_get(old, "moved_vms");
    new_ext = json_object_get(new, "moved_vms");
    if ((old_ext || new_ext) && !json_equal(old_ext, new_ext)) {
        return NULL;
    }
    /* And the fabric hosts accepted for a migration, for as long as it
     * runs. */
    old_ext = json_object_get(old, "fabric_vteps");
    new_ext = json_object_get(new, "fabric_vteps");
    if ((old_ext || new_ext) && !json_equal(old_ext, new_ext)) {
        return NULL;
    }
    /* And the MACs that moved on, for a few seconds after a migration. */
    old_ext = json_object_get(old, "forward");
    new_ext = json_object_get(new, "forward");
    if ((old_ext || new_ext) && !json_equal(old_ext, new_ext)) {
        return NULL;
    }
    changes = json_array();
    diff_deletes(changes, old, new, "vms", "vm");
    diff_deletes(changes, old, new, "remotes", "remote");
    diff_deletes(changes, old, new, "ports", "port");
    diff_deletes(changes, old, new, "identities", "identity");
    diff_deletes(changes, old, new, "networks", "network");
    diff_sets(changes, old, new, "networks", "network");
    diff_sets(changes, old, new, "identities", "identity");
    diff_sets(changes, old, new, "ports", "port");
    diff_sets(changes, old, new, "remotes", "remote");
    diff_sets(changes, old, new, "vms", "vm");
    return changes;
}

/* Makes each element of the lists of document 'doc' that equals the
 * element of the same key in document 'prev' that very element, so that
 * the documents the cache keeps of a host share what did not change
 * between them instead of holding it twice. */
static void
share_elements(json_t *doc, const json_t *prev)
{
    static const char *const lists[][2] = {
        {"networks", "network"},    {"ports", "port"}, {"remotes", "remote"},
        {"identities", "identity"}, {"vms", "vm"},
    };

    for (size_t l = 0; l < ARRAY_SIZE(lists); l++) {
        json_t *list = json_object_get(doc, lists[l][0]);
        json_t *was, *element;
        size_t i;

        if (!json_array_size(list)) {
            continue;
        }
        was = index_by_key(lists[l][1], json_object_get(prev, lists[l][0]));
        json_array_foreach(list, i, element)
        {
            char *key = element_key(lists[l][1], element);
            json_t *same = json_object_get(was, key);

            if (same && same != element && json_equal(same, element)) {
                json_array_set(list, i, same);
            }
            free(key);
        }
        json_decref(was);
    }
}

void
desired_remember(struct desired *d, const char *host, int64_t revision,
                 json_t *doc)
{
    json_t *entries, *entry, *prev;
    size_t i;

    /* Outside the mutex, which every long poll takes. */
    pthread_mutex_lock(&d->mutex);
    entries = json_object_get(d->hosts, host);
    prev = json_incref(json_object_get(
        json_array_get(entries, json_array_size(entries) - 1), "document"));
    pthread_mutex_unlock(&d->mutex);
    if (prev && prev != doc) {
        share_elements(doc, prev);
    }
    json_decref(prev);

    pthread_mutex_lock(&d->mutex);
    entries = json_object_get(d->hosts, host);
    if (!entries) {
        entries = json_array();
        json_object_set_new(d->hosts, host, entries);
    }
    json_array_foreach(entries, i, entry)
    {
        if (json_integer_value(json_object_get(entry, "revision"))
            == revision) {
            json_array_remove(entries, i);
            break;
        }
    }
    while (json_array_size(entries) >= DESIRED_KEEP) {
        json_array_remove(entries, 0);
    }
    json_array_append_new(entries,
                          json_pack("{sIsO}", "revision",
                                    (json_int_t) revision, "document", doc));
    pthread_mutex_unlock(&d->mutex);
}

json_t *
desired_recall(struct desired *d, const char *host, int64_t revision)
{
    json_t *doc = NULL;
    json_t *entry;
    size_t i;

    pthread_mutex_lock(&d->mutex);
    json_array_foreach(json_object_get(d->hosts, host), i, entry)
    {
        if (json_integer_value(json_object_get(entry, "revision"))
            == revision) {
            doc = json_incref(json_object_get(entry, "document"));
            break;
        }
    }
    pthread_mutex_unlock(&d->mutex);
    return doc;
}

void
desired_forget(struct desired *d, const char *host)
{
    pthread_mutex_lock(&d->mutex);
    json_object_del(d->hosts, host);
    pthread_mutex_unlock(&d->mutex);
}

/* Returns the watch of 'host', made on first use, with 'd->mutex' held. */
static struct desired_host *
host_watch(struct desired *d, const char *host)
{
    json_t *index = json_object_get(d->watched, host);
    struct desired_host *h;

    if (index) {
        return d->watch[json_integer_value(index)];
    }
    h = xzalloc(sizeof *h);
    h->networks = json_object();
    cond_init_monotonic(&h->changed);
    d->watch = xrealloc(d->watch, (d->n_watch + 1) * sizeof *d->watch);
    d->watch[d->n_watch] = h;
    json_object_set_new(d->watched, host, json_integer(d->n_watch));
    d->n_watch++;
    return h;
}

/* Returns the entry of network 'name' in 'd->networks', made on first use,
 * with 'd->mutex' held. */
static json_t *
network_watch(struct desired *d, const char *name)
{
    json_t *net = json_object_get(d->networks, name);

    if (!net) {
        net = json_pack("{sIs{}}", "revision", (json_int_t) 0, "hosts");
        json_object_set_new(d->networks, name, net);
    }
    return net;
}

/* Returns desired_revision() with 'd->mutex' held. */
static int64_t
host_revision(struct desired *d, const struct desired_host *h,
              const json_t *doc)
{
    int64_t revision = d->base > h->revision ? d->base : h->revision;
    const json_t *network;
    size_t i;

    json_array_foreach(json_object_get(doc, "networks"), i, network)
    {
        const json_t *net =
            json_object_get(d->networks, get_string(network, "name") ?: "");
        int64_t r = json_integer_value(json_object_get(net, "revision"));

        revision = r > revision ? r : revision;
    }
    return revision;
}

int64_t
desired_revision(struct desired *d, const char *host, const json_t *doc)
{
    int64_t revision;

    pthread_mutex_lock(&d->mutex);
    revision = host_revision(d, host_watch(d, host), doc);
    pthread_mutex_unlock(&d->mutex);
    return revision;
}

/* Makes the networks of 'doc' those whose changes wake the waiters of host
 * 'host' ('h'), with 'd->mutex' held. */
static void
host_register(struct desired *d, const char *host, struct desired_host *h,
              const json_t *doc)
{
    json_t *networks = json_object();
    const json_t *network;
    const char *name;
    json_t *value;
    size_t i;

    json_array_foreach(json_object_get(doc, "networks"), i, network)
    {
        json_object_set_new(networks, get_string(network, "name") ?: "",
                            json_null());
    }
    json_object_foreach(h->networks, name, value)
    {
        if (!json_object_get(networks, name)) {
            json_object_del(
                json_object_get(json_object_get(d->networks, name), "hosts"),
                host);
        }
    }
    json_object_foreach(networks, name, value)
    {
        json_object_set_new(json_object_get(network_watch(d, name), "hosts"),
                            host, json_null());
    }
    json_decref(h->networks);
    h->networks = networks;
}

int
desired_wait(struct desired *d, const char *host, const json_t *doc,
             int64_t revision, int timeout_ms)
{
    struct desired_host *h;
    struct timespec deadline;
    int error = 0;

    time_deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&d->mutex);
    h = host_watch(d, host);
    host_register(d, host, h, doc);
    h->waiters++;
    while (host_revision(d, h, doc) <= revision && !error) {
        error = pthread_cond_timedwait(&h->changed, &d->mutex, &deadline);
    }
    h->waiters--;
    error = host_revision(d, h, doc) > revision ? 0 : ETIMEDOUT;
    pthread_mutex_unlock(&d->mutex);
    return error;
}

int
desired_sync(struct desired *d, int timeout_ms)
{
    struct timespec deadline;
    int error = 0;

    time_deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&d->queue_mutex);
    while ((d->n_queue || d->busy) && !error) {
        error = pthread_cond_timedwait(&d->idle, &d->queue_mutex, &deadline);
    }
    error = d->n_queue || d->busy ? ETIMEDOUT : 0;
    pthread_mutex_unlock(&d->queue_mutex);
    return error;
}

uint64_t
desired_wakeups(struct desired *d, const char *host)
{
    const json_t *index;
    uint64_t n = 0;

    pthread_mutex_lock(&d->mutex);
    if (!host) {
        for (size_t i = 0; i < d->n_watch; i++) {
            n += d->watch[i]->wakeups;
        }
    } else {
        index = json_object_get(d->watched, host);
        if (index) {
            n = d->watch[json_integer_value(index)]->wakeups;
        }
    }
    pthread_mutex_unlock(&d->mutex);
    return n;
}

void
desired_count_compute(struct desired *d)
{
    atomic_fetch_add(&d->computes, 1);
}

uint64_t
desired_computes(struct desired *d)
{
    return atomic_load(&d->computes);
}

/* What one change concerns. */
struct desired_scope {
    bool all;         /* Every host. */
    json_t *hosts;    /* Host name -> null. */
    json_t *networks; /* Network name -> null: the hosts whose documents
                       * have it. */
    json_t *placed;   /* Port name -> null: the ports whose "host-port"
                       * index the commit wrote, which names their hosts. */
    json_t *indexed;  /* Likewise of "net-port", which names their
                       * networks. */
};

/* Adds the part of 'name' before its first '/' to 'set'. */
static void
add_prefix(json_t *set, const char *name)
{
    const char *slash = strchr(name, '/');

    if (slash) {
        char *prefix = xasprintf("%.*s", (int) (slash - name), name);

        json_object_set_new(set, prefix, json_null());
        free(prefix);
    }
}

static int
host_port_cb(const struct store_obj *index, void *names_)
{
    json_t *names = names_;
    const char *prefix = json_string_value(json_array_get(names, 0));

    if (strncmp(index->name, prefix, strlen(prefix))) {
        return STORE_STOP;
    }
    json_array_append_new(names, json_string(index->name + strlen(prefix)));
    return 0;
}

/* Adds to 'scope' what a change of host 'name' concerns: the host, and if
 * its VTEP is not the one it had (or it came or went), the networks of
 * its ports, whose remotes on other hosts are behind that VTEP. */
static int
scope_host(struct desired *d, struct store_txn *txn, const char *name,
           struct desired_scope *scope)
{
    json_t *was = json_object_get(d->vteps, name);
    json_t *vtep = NULL, *names;
    struct store_obj obj;
    size_t i;
    int error;

    json_object_set_new(scope->hosts, name, json_null());
    error = store_get(txn, "host", name, &obj);
    if (!error) {
        vtep = json_incref(json_object_get(obj.body, "vtep"));
        store_obj_clear(&obj);
    } else if (error != ENOENT) {
        return error;
    }
    if (!vtep) {
        vtep = json_null();
    }
    if (was && json_equal(was, vtep)) {
        json_decref(vtep);
        return 0;
    }
    json_object_set_new(d->vteps, name, vtep);

    /* The first element is the prefix, the others the ports' names. */
    names = json_pack("[s++]", name, "/", "");
    error = store_list(txn, "host-port",
                       json_string_value(json_array_get(names, 0)), 0,
                       host_port_cb, names);
    error = error == STORE_STOP ? 0 : error;
    for (i = 1; i < json_array_size(names) && !error; i++) {
        error = store_get(txn, "port",
                          json_string_value(json_array_get(names, i)), &obj);
        if (!error) {
            const char *network = get_string(obj.body, "network");

            if (network) {
                json_object_set_new(scope->networks, network, json_null());
            }
            store_obj_clear(&obj);
        }
        error = error == ENOENT ? 0 : error;
    }
    json_decref(names);
    return error;
}

/* Adds to 'scope' the host of stored object ('kind', 'name') (a port or a
 * VM), and with 'network' its network too. */
static int
scope_placed(struct store_txn *txn, const char *kind, const char *name,
             bool network, struct desired_scope *scope)
{
    struct store_obj obj;
    const char *s;
    int error = store_get(txn, kind, name, &obj);

    if (error) {
        /* Gone: its deletion wrote the indexes that say where it was. */
        return error == ENOENT ? 0 : error;
    }
    s = get_string(obj.body, "host");
    if (s) {
        json_object_set_new(scope->hosts, s, json_null());
    }
    s = get_string(obj.body, "network");
    if (network && s) {
        json_object_set_new(scope->networks, s, json_null());
    }
    store_obj_clear(&obj);
    return 0;
}

/* Works out what change 'c' concerns into 'scope', reading the store in
 * 'txn' where the change's name does not say.  The kinds are those
 * desired_compute() reads; other kinds concern no document. */
static int
desired_scope(struct desired *d, struct store_txn *txn,
              const struct desired_change *c, struct desired_scope *scope)
{
    static const char *const everyone[] = {
        "qos-policy",    "sg-rule",   "identity",
        "external-vtep", "migration", "vm-forward",
    };
    const char *kind = c->kind;

    if (!kind) {
        scope->all = true;
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(everyone); i++) {
        if (!strcmp(kind, everyone[i])) {
            /* Rare, and read by many documents through indirections
             * (rules through groups, migrations through VMs' NICs). */
            scope->all = true;
            return 0;
        }
    }
    if (!strcmp(kind, "host-port") || !strcmp(kind, "host-vm")
        || !strcmp(kind, "vm-moved")) {
        /* Named "HOST/...". */
        add_prefix(scope->hosts, c->name);
    } else if (!strcmp(kind, "net-port")) {
        /* Named "NETWORK/PORT": the remotes of its network. */
        add_prefix(scope->networks, c->name);
    } else if (!strcmp(kind, "network")) {
        json_object_set_new(scope->networks, c->name, json_null());
    } else if (!strcmp(kind, "port")) {
        /* Made, moved or deleted, a port's indexes say where it is, and
         * reading it (a round trip to etcd) is not needed. */
        return json_object_get(scope->placed, c->name)
                   ? 0
                   : scope_placed(txn, "port", c->name, false, scope);
    } else if (!strcmp(kind, "port-identity")) {
        /* A remote carries the identity too. */
        return json_object_get(scope->placed, c->name)
                       && json_object_get(scope->indexed, c->name)
                   ? 0
                   : scope_placed(txn, "port", c->name, true, scope);
    } else if (!strcmp(kind, "vm")) {
        return scope_placed(txn, "vm", c->name, false, scope);
    } else if (!strcmp(kind, "host")) {
        return scope_host(d, txn, c->name, scope);
    }
    return 0;
}

/* Wakes the waiters of host 'h', if any, for the change of 'revision',
 * with 'd->mutex' held.  The changes of one commit may come in more than
 * one batch: they wake the waiters once. */
static void
host_wake(struct desired_host *h, int64_t revision)
{
    if (h->waiters && h->woken != revision) {
        h->woken = revision;
        h->wakeups++;
        pthread_cond_broadcast(&h->changed);
    }
}

/* Records that the commit of 'revision' changed what 'scope' says, and
 * wakes the waiters it concerns, each once. */
static void
desired_apply(struct desired *d, int64_t revision,
              const struct desired_scope *scope)
{
    json_t *woken = json_object();
    const char *name, *host;
    json_t *value, *v;

    pthread_mutex_lock(&d->mutex);
    if (scope->all) {
        d->base = revision > d->base ? revision : d->base;
        for (size_t i = 0; i < d->n_watch; i++) {
            host_wake(d->watch[i], revision);
        }
    } else {
        json_object_foreach(scope->hosts, name, value)
        {
            struct desired_host *h = host_watch(d, name);

            h->revision = revision > h->revision ? revision : h->revision;
            json_object_set_new(woken, name, json_null());
        }
        json_object_foreach(scope->networks, name, value)
        {
            json_t *net = network_watch(d, name);
            json_t *r = json_object_get(net, "revision");

            if (json_integer_value(r) < revision) {
                json_integer_set(r, revision);
            }
            json_object_foreach(json_object_get(net, "hosts"), host, v)
            {
                json_object_set_new(woken, host, json_null());
            }
        }
        json_object_foreach(woken, host, value)
        {
            host_wake(host_watch(d, host), revision);
        }
    }
    pthread_mutex_unlock(&d->mutex);
    json_decref(woken);
}

/* Takes in the changes that desired_queue() queued, in order. */
static void *
desired_main(void *d_)
{
    struct desired *d = d_;
    struct desired_change *batch = NULL;
    size_t n = 0, size = 0;

    for (;;) {
        struct store_txn *txn = NULL;
        int error = 0;

        pthread_mutex_lock(&d->queue_mutex);
        while (!d->n_queue && !d->stopping) {
            d->busy = false;
            pthread_cond_broadcast(&d->idle);
            pthread_cond_wait(&d->queued, &d->queue_mutex);
        }
        d->busy = true;
        if (d->stopping) {
            pthread_mutex_unlock(&d->queue_mutex);
            break;
        }
        /* Swap the queue with the empty batch, so that commits queue on
         * while this thread reads the store. */
        n = d->n_queue;
        {
            struct desired_change *q = d->queue;
            size_t qsize = d->queue_size;

            d->queue = batch;
            d->queue_size = size;
            d->n_queue = 0;
            batch = q;
            size = qsize;
        }
        pthread_mutex_unlock(&d->queue_mutex);

        /* The changes of one commit (one revision) wake each waiter
         * once. */
        for (size_t i = 0; i < n;) {
            struct desired_scope scope = {
                .hosts = json_object(),
                .networks = json_object(),
                .placed = json_object(),
                .indexed = json_object(),
            };
            int64_t revision = batch[i].revision;

            for (size_t j = i; j < n && batch[j].revision == revision; j++) {
                const char *kind = batch[j].kind ? batch[j].kind : "";
                const char *slash =
                    batch[j].name ? strchr(batch[j].name, '/') : NULL;

                if (slash && !strcmp(kind, "host-port")) {
                    json_object_set_new(scope.placed, slash + 1, json_null());
                } else if (slash && !strcmp(kind, "net-port")) {
                    json_object_set_new(scope.indexed, slash + 1, json_null());
                }
            }
            for (; i < n && batch[i].revision == revision; i++) {
                if (!txn && !error) {
                    error = store_begin(d->store, false, &txn);
                }
                if (!error && !scope.all) {
                    error = desired_scope(d, txn, &batch[i], &scope);
                }
                free(batch[i].kind);
                free(batch[i].name);
            }
            if (error) {
                /* Not knowing whom it concerns, it concerns everyone. */
                LOG_WARN("desired state: cannot tell which hosts the "
                         "commit of revision %" PRId64 " concerns (%s); "
                         "waking every long poll",
                         revision, strerror(error));
                scope.all = true;
            }
            desired_apply(d, revision, &scope);
            json_decref(scope.hosts);
            json_decref(scope.networks);
            json_decref(scope.placed);
            json_decref(scope.indexed);
        }
        store_abort(txn);
    }
    free(batch);
    return NULL;
}
