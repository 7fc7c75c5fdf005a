/* The eBPF backend: tables are pinned BPF maps shared by the port and uplink
 * tc programs, which are loaded from bpftool-generated skeletons. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/param.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath/bpf/abi.h"
#include "datapath/bpf/port.skel.h"
#include "datapath/bpf/uplink.skel.h"
#include "datapath/dp-bpf-index.h"
#include "datapath/dp-provider.h"
#include "utils/log.h"
#include "utils/util.h"

#define DP_BPF_FS_MAGIC 0xcafe4a11
#define DP_BPF_TC_HANDLE 0xfab
#define DP_BPF_TC_PRIORITY 1

/* Pinned map names, in enum dp_table order. */
static const char *const dp_bpf_table_maps[DP_N_TABLES] = {
    [DP_PORTS] = "fab_ports",
    [DP_NETWORKS] = "fab_networks",
    [DP_FDB] = "fab_fdb",
    [DP_BINDINGS] = "fab_bindings",
    [DP_FLOOD] = "fab_flood_lists",
    [DP_NEXTHOPS] = "fab_nexthops",
    [DP_QOS] = "fab_qos",
    [DP_POLICIES] = "fab_policies",
    [DP_POLICY_CIDRS] = "fab_policy_cidrs",
    [DP_VTEPS] = "fab_vteps",
    [DP_CONNTRACK] = "fab_conntrack",
    [DP_RULE_HITS] = "fab_rule_hits",
};

/* Pinned maps beyond the tables. */
static const char *const dp_bpf_other_maps[] = {
    "fab_config",        "fab_stats",       "fab_fw_counters",
    "fab_flow_events",   "fab_fw_stages",   "fab_pkt_tmp",
    "fab_nexthop_slots", "fab_qos_live",    "fab_port_index",
    "fab_fdb_index",     "fab_ct_ports",    "fab_punts",
    "fab_punt_limits",   "fab_port_active",
};

struct dp_bpf {
    struct dp up;                   /* Must be first. */
    char *pin_dir;                  /* <bpffs>/<instance>. */
    struct fab_port *port;          /* Port program and the maps. */
    struct fab_uplink *uplink;      /* Uplink program. */
    int table_fds[DP_N_TABLES];     /* Map per table. */
    int config_fd;                  /* fab_config. */
    int stats_fd;                   /* fab_stats. */
    int fw_counters_fd;             /* fab_fw_counters. */
    int slots_fd;                   /* fab_nexthop_slots. */
    int qos_live_fd;                /* fab_qos_live. */
    int ct_ports_fd;                /* fab_ct_ports. */
    int port_active_fd;             /* fab_port_active. */
    struct fab_ct_port *ct_ports;   /* fab_ct_ports mapped, 'n_slots' of
                                     * them; NULL when opened read-only. */
    size_t ct_ports_len;            /* Bytes mapped at 'ct_ports'. */
    uint32_t ct_port_max;           /* Every port's 'max' there. */
    uint32_t *slot_vtep;            /* VTEP of each next-hop slot, 0 if free;
                                     * NULL when opened read-only. */
    int events_fd;                  /* fab_flow_events. */
    int punts_fd;                   /* fab_punts. */
    int packet_fd;                  /* AF_PACKET socket for dp_inject(), or
                                     * -1 until its first use. */
    struct dp_bpf_index port_index; /* Of fab_ports; unused read-only. */
    struct dp_bpf_index fdb_index;  /* Of fab_fdb; likewise. */
    bool nowait;                    /* Within dp_table_set_nowait(). */
    int n_cpus;                     /* Possible CPUs, for per-CPU values. */
    uint32_t n_slots;               /* Entries of fab_stats. */
    uint64_t tick_ns; /* The scheduler tick, which bpf_jiffies64()
                       * counts; 0 if unknown. */
};

/* Returns the length of the scheduler tick that bpf_jiffies64() counts, in
 * ns, or 0 if the kernel does not say: the coarse clocks advance by one
 * tick at a time, and report it as their resolution. */
static uint64_t
dp_bpf_tick_ns(void)
{
    struct timespec res;

    if (clock_getres(CLOCK_MONOTONIC_COARSE, &res) || res.tv_sec) {
        return 0;
    }
    return res.tv_nsec;
}

static struct dp_bpf *
dp_bpf_cast(struct dp *dp)
{
    return (struct dp_bpf *) dp;
}

/* Whether this process is known to be in a mount namespace other than
 * init's.  Where init's namespace cannot be read (some sandboxes deny it
 * even to root), it is taken to be ours. */
static bool
dp_bpf_in_private_mount_ns(void)
{
    struct stat self, init;

    return stat("/proc/self/ns/mnt", &self) == 0
           && stat("/proc/1/ns/mnt", &init) == 0
           && (self.st_ino != init.st_ino || self.st_dev != init.st_dev);
}

/* Makes sure 'path' is a BPF filesystem, mounting one there if not.
 *
 * A private mount namespace, such as "ip netns exec" makes, hides the host's
 * BPF filesystem under a fresh /sys.  A BPF filesystem mounted there would
 * vanish with the process, and the next agent would find no tables: refuse
 * instead of silently losing state across restarts. */
static int
dp_bpf_ensure_bpffs(const char *path)
{
    struct statfs st;

    if (statfs(path, &st) == 0 && st.f_type == DP_BPF_FS_MAGIC) {
        return 0;
    }
    if (dp_bpf_in_private_mount_ns()) {
        LOG_ERR("%s: not a BPF filesystem in this private mount namespace "
                "(\"ip netns exec\" makes one); tables pinned here would be "
                "lost on restart: enter only the network namespace (nsenter "
                "--net=/run/netns/NAME) or mount bpffs at %s first",
                path, path);
        return EXDEV;
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        return errno;
    }
    if (mount("bpf", path, "bpf", 0, "mode=0700") < 0) {
        int error = errno;

        LOG_ERR("%s: cannot mount the BPF filesystem: %s", path,
                strerror(error));
        return error;
    }
    return 0;
}

/* Attaches 'prog_fd' to tc ingress of 'ifindex', replacing what fabric had
 * attached there before in one step, so no packet goes unprocessed. */
static int
dp_bpf_attach(int prog_fd, uint32_t ifindex)
{
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                        .attach_point = BPF_TC_INGRESS);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = DP_BPF_TC_HANDLE,
                        .priority = DP_BPF_TC_PRIORITY, .prog_fd = prog_fd,
                        .flags = BPF_TC_F_REPLACE);
    int error;

    error = bpf_tc_hook_create(&hook);
    if (error && error != -EEXIST) {
        return -error;
    }
    error = bpf_tc_attach(&hook, &opts);
    return error ? -error : 0;
}

static int
dp_bpf_detach(uint32_t ifindex)
{
    DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
                        .attach_point = BPF_TC_INGRESS);
    DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = DP_BPF_TC_HANDLE,
                        .priority = DP_BPF_TC_PRIORITY);
    int error = bpf_tc_detach(&hook, &opts);

    /* Gone already, with the device or by hand, is what we wanted. */
    if (error == -ENOENT || error == -ENODEV || error == -EINVAL) {
        return 0;
    }
    return -error;
}

static size_t
dp_bpf_stats_stride(void)
{
    return (sizeof(struct dp_stats) + 7) & ~(size_t) 7;
}

/* Zeroes the counters in 'slot', for a port that takes it over. */
static int
dp_bpf_stats_reset(struct dp_bpf *b, uint32_t slot)
{
    void *zeros = xzalloc(b->n_cpus * dp_bpf_stats_stride());
    int error = 0;

    if (bpf_map_update_elem(b->stats_fd, &slot, zeros, BPF_ANY) < 0) {
        error = errno;
    }
    free(zeros);
    return error;
}

/* Reads the fab_ports entry of 'ifindex'. */
static int
dp_bpf_port_entry(struct dp_bpf *b, uint32_t ifindex,
                  struct fab_port_entry *entry)
{
    struct dp_port_key key = {.ifindex = ifindex};

    return bpf_map_lookup_elem(b->table_fds[DP_PORTS], &key, entry) < 0 ? errno
                                                                        : 0;
}

/* Writes the fab_ports entry of 'key', then its index. */
static int
dp_bpf_port_write(struct dp_bpf *b, const struct dp_port_key *key,
                  const struct fab_port_entry *entry)
{
    struct fab_port_record record = {.key = *key, .entry = *entry};

    if (bpf_map_update_elem(b->table_fds[DP_PORTS], key, entry, BPF_ANY) < 0) {
        return errno;
    }
    dp_bpf_index_set(&b->port_index, &record, !b->nowait);
    return 0;
}

/* Removes the fab_ports entry of 'key', from its index first. */
static int
dp_bpf_port_remove(struct dp_bpf *b, const struct dp_port_key *key)
{
    dp_bpf_index_del(&b->port_index, key);
    if (bpf_map_delete_elem(b->table_fds[DP_PORTS], key) < 0
        && errno != ENOENT) {
        return errno;
    }
    return 0;
}

/* Finds a counter slot for a new port.  Slots in use are those of the ports
 * in the table, so there is no other state to keep consistent. */
static int
dp_bpf_slot_alloc(struct dp_bpf *b, uint32_t *slot)
{
    struct dp_port_key key, *prev = NULL;
    struct fab_port_entry entry;
    uint8_t *used = xzalloc(b->n_slots);
    int error = ENOSPC;

    while (bpf_map_get_next_key(b->table_fds[DP_PORTS], prev, &key) == 0) {
        prev = &key;
        if (!bpf_map_lookup_elem(b->table_fds[DP_PORTS], &key, &entry)
            && entry.stats_slot < b->n_slots) {
            used[entry.stats_slot] = 1;
        }
    }
    for (uint32_t i = FAB_SLOT_FIRST_PORT; i < b->n_slots; i++) {
        if (!used[i]) {
            *slot = i;
            error = 0;
            break;
        }
    }
    free(used);
    return error;
}

/* Returns the max_entries of the map pinned as 'name' in 'pin_dir', or 0
 * if there is none. */
static uint32_t
dp_bpf_pinned_size(const char *pin_dir, const char *name)
{
    char *path = xasprintf("%s/%s", pin_dir, name);
    struct bpf_map_info info = {};
    uint32_t len = sizeof info;
    int fd = bpf_obj_get(path);

    free(path);
    if (fd < 0) {
        return 0;
    }
    if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
        info.max_entries = 0;
    }
    close(fd);
    return info.max_entries;
}

/* Sizes one object's copies of the resizable maps from 'options', or, for
 * a size the options leave to the default, from the map already pinned in
 * 'pin_dir': an agent restarted without its sizing options keeps the
 * tables it made.  Both objects declare the same maps, and sizing them
 * alike lets the second reuse the first's pins. */
static void
dp_bpf_size_maps(struct bpf_object *obj, const char *pin_dir,
                 const struct dp_options *options)
{
    static const struct {
        const char *map; /* Map name. */
        size_t option;   /* Offset of its size in struct dp_options. */
        uint32_t plus;   /* Entries beyond the option's value. */
        bool pow2;       /* Rounded up to a power of two (an index). */
    } sizes[] = {
        {"fab_ports", offsetof(struct dp_options, max_ports), 0, false},
        {"fab_qos", offsetof(struct dp_options, max_ports), 0, false},
        {"fab_qos_live", offsetof(struct dp_options, max_ports),
         FAB_SLOT_FIRST_PORT, false},
        {"fab_stats", offsetof(struct dp_options, max_ports),
         FAB_SLOT_FIRST_PORT, false},
        {"fab_ct_ports", offsetof(struct dp_options, max_ports),
         FAB_SLOT_FIRST_PORT, false},
        {"fab_punt_limits", offsetof(struct dp_options, max_ports),
         FAB_SLOT_FIRST_PORT, false},
        {"fab_port_active", offsetof(struct dp_options, max_ports),
         FAB_SLOT_FIRST_PORT, false},
        {"fab_fdb", offsetof(struct dp_options, max_fdb), 0, false},
        {"fab_port_index", offsetof(struct dp_options, max_ports), 0, true},
        {"fab_fdb_index", offsetof(struct dp_options, max_fdb), 0, true},
        {"fab_bindings", offsetof(struct dp_options, max_fdb), 0, false},
        {"fab_conntrack", offsetof(struct dp_options, max_conntrack), 0,
         false},
        {"fab_policies", offsetof(struct dp_options, max_policies), 0, false},
        {"fab_rule_hits", offsetof(struct dp_options, max_policies), 0, false},
    };

    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        uint32_t n;
        struct bpf_map *map;

        memcpy(&n, (const char *) options + sizes[i].option, sizeof n);
        map = bpf_object__find_map_by_name(obj, sizes[i].map);
        if (!map) {
            continue;
        }
        if (n) {
            n += sizes[i].plus;
            while (sizes[i].pow2 && (n & (n - 1))) {
                n += n & -n;
            }
            bpf_map__set_max_entries(map, n);
        } else if ((n = dp_bpf_pinned_size(pin_dir, sizes[i].map))) {
            bpf_map__set_max_entries(map, n);
        }
    }
}

static int
dp_bpf_get_pinned(const struct dp_bpf *b, const char *name, int *fd)
{
    char *path = xasprintf("%s/%s", b->pin_dir, name);

    *fd = bpf_obj_get(path);
    free(path);
    return *fd < 0 ? errno : 0;
}

/* Opens the pinned maps of the instance by path. */
static int
dp_bpf_open_pinned(struct dp_bpf *b)
{
    int error;

    for (int i = 0; i < DP_N_TABLES; i++) {
        error = dp_bpf_get_pinned(b, dp_bpf_table_maps[i], &b->table_fds[i]);
        if (error) {
            return error;
        }
    }
    error = dp_bpf_get_pinned(b, "fab_config", &b->config_fd);
    if (!error) {
        error = dp_bpf_get_pinned(b, "fab_stats", &b->stats_fd);
    }
    if (!error) {
        error = dp_bpf_get_pinned(b, "fab_fw_counters", &b->fw_counters_fd);
    }
    if (!error) {
        error = dp_bpf_get_pinned(b, "fab_flow_events", &b->events_fd);
    }
    if (!error) {
        error = dp_bpf_get_pinned(b, "fab_punts", &b->punts_fd);
    }
    if (!error) {
        error = dp_bpf_get_pinned(b, "fab_nexthop_slots", &b->slots_fd);
    }
    if (!error) {
        error = dp_bpf_get_pinned(b, "fab_qos_live", &b->qos_live_fd);
    }
    if (!error) {
        error = dp_bpf_get_pinned(b, "fab_ct_ports", &b->ct_ports_fd);
    }
    if (!error) {
        error = dp_bpf_get_pinned(b, "fab_port_active", &b->port_active_fd);
    }
    if (!error) {
        struct bpf_map_info info = {};
        uint32_t len = sizeof info;

        error = bpf_obj_get_info_by_fd(b->stats_fd, &info, &len) ? errno : 0;
        b->n_slots = info.max_entries;
    }
    return error;
}

/* Returns the share of the conntrack table of the port in counter slot
 * 'slot', in the mapping of fab_ct_ports, or NULL. */
static struct fab_ct_port *
dp_bpf_ct_port(const struct dp_bpf *b, uint32_t slot)
{
    return b->ct_ports && slot < b->n_slots ? &b->ct_ports[slot] : NULL;
}

/* Maps fab_ct_ports and works out the share of the conntrack table each
 * port may take: 'options'' max_conntrack_per_port, or a quarter of the
 * table. */
static int
dp_bpf_ct_ports_open(struct dp_bpf *b, const struct dp_options *options)
{
    struct bpf_map_info info = {};
    uint32_t len = sizeof info;
    long page = sysconf(_SC_PAGESIZE);
    void *base;

    if (bpf_obj_get_info_by_fd(b->table_fds[DP_CONNTRACK], &info, &len)) {
        return errno;
    }
    b->ct_port_max = options->max_conntrack_per_port;
    if (!b->ct_port_max) {
        b->ct_port_max = MAX(info.max_entries / DP_CT_PORT_SHARE_DIV, 1);
    }
    b->ct_ports_len = (size_t) b->n_slots * sizeof *b->ct_ports;
    b->ct_ports_len = (b->ct_ports_len + page - 1) / page * page;
    base = mmap(NULL, b->ct_ports_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                b->ct_ports_fd, 0);
    if (base == MAP_FAILED) {
        int error = errno;

        LOG_ERR("%s: mapping fab_ct_ports: %s", b->pin_dir, strerror(error));
        return error;
    }
    b->ct_ports = base;
    return 0;
}

/* Starts the share of the conntrack table in counter slot 'slot' afresh,
 * for a port that takes the slot over ('fresh'), or only gives it the
 * current limit. */
static void
dp_bpf_ct_port_init(struct dp_bpf *b, uint32_t slot, bool fresh)
{
    struct fab_ct_port *cp = dp_bpf_ct_port(b, slot);

    if (cp) {
        if (fresh) {
            __atomic_store_n(&cp->tracked, 0, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&cp->max, b->ct_port_max, __ATOMIC_RELAXED);
    }
}

/* Points the pinned stage table at this load's firewall stages, each
 * replaced atomically: frames in flight finish in the stage they entered. */
static int
dp_bpf_set_stages(struct dp_bpf *b)
{
    const struct {
        uint32_t stage;
        const struct bpf_program *prog;
    } stages[] = {
        {FAB_STAGE_PORT_FIREWALL, b->port->progs.fab_port_firewall},
        {FAB_STAGE_UPLINK_FIREWALL, b->uplink->progs.fab_uplink_firewall},
        {FAB_STAGE_PORT_FLOOD, b->port->progs.fab_port_flood},
        {FAB_STAGE_UPLINK_FLOOD, b->uplink->progs.fab_uplink_flood},
    };
    int map = bpf_map__fd(b->port->maps.fab_fw_stages);

    for (size_t i = 0; i < ARRAY_SIZE(stages); i++) {
        int fd = bpf_program__fd(stages[i].prog);

        if (bpf_map_update_elem(map, &stages[i].stage, &fd, BPF_ANY) < 0) {
            int error = errno;

            LOG_ERR("%s: installing firewall stage %u: %s", b->pin_dir,
                    stages[i].stage, strerror(error));
            return error;
        }
    }
    return 0;
}

static void dp_bpf_nh_slots_load(struct dp_bpf *);

/* Maps the indexes of the port and FDB tables and brings them in line with
 * the tables. */
static int
dp_bpf_indexes_open(struct dp_bpf *b)
{
    int error;

    error = dp_bpf_index_open(
        &b->port_index, "fab_port_index",
        bpf_map__fd(b->port->maps.fab_port_index), sizeof(struct dp_port_key),
        sizeof(struct fab_port_record), dp_bpf_port_index_hash);
    if (!error) {
        error = dp_bpf_index_open(&b->fdb_index, "fab_fdb_index",
                                  bpf_map__fd(b->port->maps.fab_fdb_index),
                                  sizeof(struct dp_fdb_key),
                                  sizeof(struct fab_fdb_record),
                                  dp_bpf_fdb_index_hash);
    }
    if (!error) {
        error = dp_bpf_index_sync(&b->port_index, b->table_fds[DP_PORTS]);
    }
    if (!error) {
        error = dp_bpf_index_sync(&b->fdb_index, b->table_fds[DP_FDB]);
    }
    if (error) {
        LOG_ERR("%s: table indexes: %s", b->pin_dir, strerror(error));
    }
    return error;
}

static int
dp_bpf_load(struct dp_bpf *b, const struct dp_options *options)
{
    DECLARE_LIBBPF_OPTS(bpf_object_open_opts, opts,
                        .pin_root_path = b->pin_dir);
    int error;

    b->port = fab_port__open_opts(&opts);
    b->uplink = b->port ? fab_uplink__open_opts(&opts) : NULL;
    if (!b->port || !b->uplink) {
        return errno ? errno : EINVAL;
    }
    dp_bpf_size_maps(b->port->obj, b->pin_dir, options);
    dp_bpf_size_maps(b->uplink->obj, b->pin_dir, options);
    dp_bpf_index_set_masks(b->port, b->uplink);

    error = fab_port__load(b->port);
    if (!error) {
        error = fab_uplink__load(b->uplink);
    }
    if (error) {
        LOG_ERR("%s: loading the BPF programs failed: %s (tables pinned "
                "with other sizes are reused only if compatible)",
                b->pin_dir, strerror(-error));
        return -error;
    }
    error = dp_bpf_set_stages(b);
    error = error ? error : dp_bpf_open_pinned(b);
    error = error ? error : dp_bpf_ct_ports_open(b, options);
    if (!error) {
        dp_bpf_nh_slots_load(b);
        error = dp_bpf_indexes_open(b);
    }
    return error;
}

static int
dp_bpf_reattach_port(const void *key_, const void *value, void *b_)
{
    const struct dp_port_key *key = key_;
    const struct fab_port_entry *entry = value;
    struct dp_bpf *b = b_;
    int error;

    /* The share may have changed with the options. */
    dp_bpf_ct_port_init(b, entry->stats_slot, false);

    error = dp_bpf_attach(bpf_program__fd(b->port->progs.fab_port_ingress),
                          key->ifindex);
    if (error && error != ENODEV) {
        LOG_WARN("ifindex %u: reattaching the port program failed: %s",
                 key->ifindex, strerror(error));
    }
    return 0;
}

/* Routes libbpf's messages into our log: its warnings are ours to judge
 * (an existing clsact qdisc, say, is expected), so they go to debug. */
static int
dp_bpf_libbpf_print(enum libbpf_print_level level, const char *format,
                    va_list args)
{
    char *msg;

    if (level != LIBBPF_WARN || !log_enabled(LOG_LEVEL_DBG)) {
        return 0;
    }
    if (vasprintf(&msg, format, args) >= 0) {
        size_t len = strlen(msg);

        if (len && msg[len - 1] == '\n') {
            msg[len - 1] = '\0';
        }
        LOG_DBG("libbpf: %s", msg);
        free(msg);
    }
    return 0;
}

static int dp_bpf_table_dump(struct dp *, enum dp_table, dp_dump_cb *,
                             void *aux);
static int dp_bpf_get_config(struct dp *, struct dp_config *);
static void dp_bpf_close(struct dp *);

static int
dp_bpf_open(const struct dp_options *options, struct dp **dpp)
{
    const char *bpffs = options->bpffs ? options->bpffs : "/sys/fs/bpf";
    const char *instance = options->instance ? options->instance : "fabric";
    struct dp_config config;
    struct dp_bpf *b;
    int error;

    if (!*instance || strchr(instance, '/') || instance[0] == '.') {
        return EINVAL;
    }
    libbpf_set_print(dp_bpf_libbpf_print);
    b = xzalloc(sizeof *b);
    b->up.class = &dp_bpf_class;
    b->up.read_only = options->read_only;
    b->config_fd = b->stats_fd = b->fw_counters_fd = b->events_fd = -1;
    b->slots_fd = b->qos_live_fd = b->ct_ports_fd = b->port_active_fd = -1;
    b->punts_fd = b->packet_fd = -1;
    for (int i = 0; i < DP_N_TABLES; i++) {
        b->table_fds[i] = -1;
    }
    b->pin_dir = xasprintf("%s/%s", bpffs, instance);
    b->tick_ns = dp_bpf_tick_ns();
    b->n_cpus = libbpf_num_possible_cpus();
    if (b->n_cpus <= 0) {
        error = EINVAL;
        goto error;
    }

    if (options->read_only) {
        error = dp_bpf_open_pinned(b);
        if (error) {
            goto error;
        }
        *dpp = &b->up;
        return 0;
    }
    error = dp_bpf_ensure_bpffs(bpffs);
    if (error) {
        goto error;
    }
    if (mkdir(b->pin_dir, 0700) < 0 && errno != EEXIST) {
        error = errno;
        goto error;
    }
    error = dp_bpf_load(b, options);
    if (error) {
        goto error;
    }
    /* A restarted agent brings its own programs: swap them in everywhere
     * the previous one attached, atomically per device. */
    dp_bpf_table_dump(&b->up, DP_PORTS, dp_bpf_reattach_port, b);
    if (!dp_bpf_get_config(&b->up, &config) && config.underlay_ifindex) {
        dp_bpf_attach(bpf_program__fd(b->uplink->progs.fab_uplink_ingress),
                      config.underlay_ifindex);
    }
    *dpp = &b->up;
    return 0;

error:
    dp_bpf_close(&b->up);
    return error;
}

static void
dp_bpf_close(struct dp *dp)
{
    struct dp_bpf *b = dp_bpf_cast(dp);

    for (int i = 0; i < DP_N_TABLES; i++) {
        if (b->table_fds[i] >= 0) {
            close(b->table_fds[i]);
        }
    }
    if (b->config_fd >= 0) {
        close(b->config_fd);
    }
    if (b->stats_fd >= 0) {
        close(b->stats_fd);
    }
    if (b->fw_counters_fd >= 0) {
        close(b->fw_counters_fd);
    }
    if (b->events_fd >= 0) {
        close(b->events_fd);
    }
    if (b->punts_fd >= 0) {
        close(b->punts_fd);
    }
    if (b->packet_fd >= 0) {
        close(b->packet_fd);
    }
    if (b->slots_fd >= 0) {
        close(b->slots_fd);
    }
    if (b->qos_live_fd >= 0) {
        close(b->qos_live_fd);
    }
    if (b->ct_ports) {
        munmap(b->ct_ports, b->ct_ports_len);
    }
    if (b->ct_ports_fd >= 0) {
        close(b->ct_ports_fd);
    }
    if (b->port_active_fd >= 0) {
        close(b->port_active_fd);
    }
    free(b->slot_vtep);
    dp_bpf_index_close(&b->port_index);
    dp_bpf_index_close(&b->fdb_index);
    /* Destroying the skeletons leaves pins and tc attachments in place:
     * the fast path keeps forwarding without us. */
    fab_uplink__destroy(b->uplink);
    fab_port__destroy(b->port);
    free(b->pin_dir);
    free(b);
}

static int
dp_bpf_get_config(struct dp *dp, struct dp_config *config)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    uint32_t zero = 0;

    return bpf_map_lookup_elem(b->config_fd, &zero, config) < 0 ? errno : 0;
}

static int
dp_bpf_configure(struct dp *dp, const struct dp_config *config)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    struct dp_config old;
    uint32_t zero = 0;
    int error;

    if (dp_bpf_get_config(dp, &old)) {
        memset(&old, 0, sizeof old);
    }
    if (bpf_map_update_elem(b->config_fd, &zero, config, BPF_ANY) < 0) {
        return errno;
    }
    if (config->underlay_ifindex) {
        error =
            dp_bpf_attach(bpf_program__fd(b->uplink->progs.fab_uplink_ingress),
                          config->underlay_ifindex);
        if (error) {
            return error;
        }
    }
    if (old.underlay_ifindex
        && old.underlay_ifindex != config->underlay_ifindex) {
        dp_bpf_detach(old.underlay_ifindex);
    }
    return 0;
}

/* Tells the port on 'ifindex', if there is one, whether it has a QoS
 * entry.  Set after the entry is written and cleared before it is deleted,
 * so the fast path never looks for an entry that is not there yet. */
static int
dp_bpf_port_mark_qos(struct dp_bpf *b, uint32_t ifindex, bool has_qos)
{
    struct dp_port_key key = {.ifindex = ifindex};
    struct fab_port_entry entry;

    if (dp_bpf_port_entry(b, ifindex, &entry) || entry.has_qos == has_qos) {
        return 0;
    }
    entry.has_qos = has_qos;
    return dp_bpf_port_write(b, &key, &entry);
}

static int dp_bpf_qos_write(const struct dp_bpf *, int fd, const void *key,
                            const struct dp_qos *, bool fresh);

/* Returns true if the standby port in counter slot 'slot' has activated
 * (fab_port_active). */
static bool
dp_bpf_port_activated(const struct dp_bpf *b, uint32_t slot)
{
    uint64_t active = 0;

    return !bpf_map_lookup_elem(b->port_active_fd, &slot, &active) && active;
}

/* Turns the fab_ports entry 'entry' into what the API reports: an
 * activated standby port without DP_PORT_STANDBY. */
static void
dp_bpf_port_view(const struct dp_bpf *b, struct fab_port_entry *entry)
{
    if (entry->port.flags & DP_PORT_STANDBY
        && dp_bpf_port_activated(b, entry->stats_slot)) {
        entry->port.flags &= ~DP_PORT_STANDBY;
    }
}

static int
dp_bpf_port_set(struct dp_bpf *b, const struct dp_port_key *key,
                const struct dp_port *port)
{
    struct fab_port_entry entry;
    bool created = false;
    int error;

    /* A port keeps its slot, and so its counters, across updates. */
    if (dp_bpf_port_entry(b, key->ifindex, &entry)) {
        created = true;
        error = dp_bpf_slot_alloc(b, &entry.stats_slot);
        if (!error) {
            error = dp_bpf_stats_reset(b, entry.stats_slot);
        }
        if (error) {
            return error;
        }
        dp_bpf_ct_port_init(b, entry.stats_slot, true);
    }
    if (port->flags & DP_PORT_STANDBY
        && (created || !(entry.port.flags & DP_PORT_STANDBY))) {
        /* Into standby: armed before the entry says so, so that the first
         * frame the fast path sees as standby is the one that activates.
         * A port written standby again (the document still says so after
         * the activation) stays activated. */
        uint64_t zero = 0;

        if (bpf_map_update_elem(b->port_active_fd, &entry.stats_slot, &zero,
                                BPF_ANY)
            < 0) {
            return errno;
        }
    }
    entry.port = *port;
    if (created) {
        /* QoS set before the port existed goes into its slot now, before
         * the entry that says so.  An existing port's flag is kept up to
         * date by dp_bpf_qos_set() and the QoS deletion. */
        struct dp_qos_key qkey = {.ifindex = key->ifindex};
        struct fab_qos_entry qos;

        entry.has_qos =
            !bpf_map_lookup_elem(b->table_fds[DP_QOS], &qkey, &qos)
            && !dp_bpf_qos_write(b, b->qos_live_fd, &entry.stats_slot,
                                 &qos.qos, true);
    }
    /* The entry goes in before the program is attached, so the first
     * frame already finds its port. */
    error = dp_bpf_port_write(b, key, &entry);
    if (error) {
        return error;
    }
    error = dp_bpf_attach(bpf_program__fd(b->port->progs.fab_port_ingress),
                          key->ifindex);
    if (error && created) {
        /* Nothing half-applied: a port that could not be attached is not
         * in the table either (its slot is free again with it). */
        dp_bpf_port_remove(b, key);
    }
    return error;
}

/* Makes 'b' police at 'rate' bits per second with bursts of 'burst' bytes,
 * on the scheduler tick of 'tick_ns' if the burst allows, keeping the time
 * at which it is full again, so that a changed limit neither forgets the
 * traffic just passed nor grants a fresh burst (unless the bucket changes
 * clocks).  A 'rate' of 0 (no limit) clears it. */
static void
dp_bpf_qos_bucket(struct qos_bucket *b, uint64_t rate, uint32_t burst,
                  uint64_t tick_ns)
{
    uint64_t tat = b->tat, tick = b->tick;

    if (!rate || !qos_bucket_init(b, rate, burst ? burst : 1)) {
        memset(b, 0, sizeof *b);
        return;
    }
    b->tick = tick;
    b->tat = tat;
    qos_bucket_set_tick(b, tick_ns);
}

/* Gives 'entry' the settings 'qos', keeping its limiters' state: a pacer
 * keeps its backlog, a policer the tokens it has used. */
static void
dp_bpf_qos_apply(struct fab_qos_entry *entry, const struct dp_qos *qos,
                 uint64_t tick_ns)
{
    struct qos_time next = entry->egress.next;

    entry->qos = *qos;
    if (!qos->egress_rate || !qos_edt_init(&entry->egress, qos->egress_rate)) {
        memset(&entry->egress, 0, sizeof entry->egress);
    } else {
        entry->egress.next = next;
    }
    dp_bpf_qos_bucket(&entry->egress_police, qos->egress_rate,
                      qos->egress_burst, tick_ns);
    dp_bpf_qos_bucket(&entry->ingress, qos->ingress_rate, qos->ingress_burst,
                      tick_ns);
}

/* Applies 'qos' to the entry of map 'fd' at 'key' (the API's fab_qos, or
 * the fast path's fab_qos_live), read and rewritten under its lock, or
 * with fresh limiters if 'fresh'.  Frames the fast path charges between
 * the two steps are forgotten, granting at most that much extra once. */
static int
dp_bpf_qos_write(const struct dp_bpf *b, int fd, const void *key,
                 const struct dp_qos *qos, bool fresh)
{
    struct fab_qos_entry entry;

    if (fresh || bpf_map_lookup_elem_flags(fd, key, &entry, BPF_F_LOCK) < 0) {
        memset(&entry, 0, sizeof entry);
    }
    dp_bpf_qos_apply(&entry, qos, b->tick_ns);
    return bpf_map_update_elem(fd, key, &entry, BPF_ANY | BPF_F_LOCK) < 0
               ? errno
               : 0;
}

/* Sets the QoS of the port on 'key' to 'qos': in fab_qos, which the API
 * reads back, and, if the port exists, in its slot of fab_qos_live, where
 * the fast path finds it; then tells the port it has QoS. */
static int
dp_bpf_qos_set(struct dp_bpf *b, const struct dp_qos_key *key,
               const struct dp_qos *qos)
{
    struct fab_port_entry port;
    int error;

    error = dp_bpf_qos_write(b, b->table_fds[DP_QOS], key, qos, false);
    if (!error && !dp_bpf_port_entry(b, key->ifindex, &port)) {
        /* A port without QoS until now starts with fresh limiters, as it
         * would with a new fab_qos entry; the slot may hold a previous
         * policy's, or another port's. */
        error = dp_bpf_qos_write(b, b->qos_live_fd, &port.stats_slot, qos,
                                 !port.has_qos);
    }
    return error ? error : dp_bpf_port_mark_qos(b, key->ifindex, true);
}

/* Next-hop slots (struct fab_nexthop_slot).  The loader keeps which VTEP
 * owns each slot in 'slot_vtep', read back from the map when it opens, so
 * nothing else needs to be consistent across restarts. */

/* Reads the owners of the next-hop slots from the pinned map. */
static void
dp_bpf_nh_slots_load(struct dp_bpf *b)
{
    b->slot_vtep = xcalloc(FAB_NEXTHOP_SLOTS, sizeof *b->slot_vtep);
    for (uint32_t i = 1; i < FAB_NEXTHOP_SLOTS; i++) {
        struct fab_nexthop_slot slot;

        if (!bpf_map_lookup_elem(b->slots_fd, &i, &slot)) {
            b->slot_vtep[i] = slot.vtep;
        }
    }
}

/* Returns the first slot, from the one that 'hint' (a VTEP) hashes to,
 * whose owner is 'owner' (0: a free slot), or 0 if there is none.  A VTEP
 * claims the first free slot from its own hash, so finding it again
 * usually takes a step or two, even during a full resync that names every
 * VTEP once per remote MAC. */
static uint32_t
dp_bpf_nh_slot_scan(const struct dp_bpf *b, uint32_t owner, uint32_t hint)
{
    const uint32_t n = FAB_NEXTHOP_SLOTS - 1;
    uint32_t start = (hint * 2654435761u) % n;

    for (uint32_t k = 0; b->slot_vtep && k < n; k++) {
        uint32_t i = 1 + (start + k) % n;

        if (b->slot_vtep[i] == owner) {
            return i;
        }
    }
    return 0;
}

/* Returns the slot of 'vtep', or 0 if it has none. */
static uint32_t
dp_bpf_nh_slot_find(const struct dp_bpf *b, uint32_t vtep)
{
    return vtep ? dp_bpf_nh_slot_scan(b, vtep, vtep) : 0;
}

/* Writes slot 'i' (0: none, nothing to do) for 'vtep' with next hop 'nh',
 * or with none if 'nh' is NULL; 'vtep' 0 frees it. */
static void
dp_bpf_nh_slot_write(struct dp_bpf *b, uint32_t i, uint32_t vtep,
                     const struct dp_nexthop *nh)
{
    struct fab_nexthop_slot slot = {.vtep = vtep};

    if (!i || !b->slot_vtep) {
        return;
    }
    if (nh) {
        slot.nh = *nh;
    }
    if (bpf_map_update_elem(b->slots_fd, &i, &slot, BPF_ANY) < 0) {
        LOG_WARN("next-hop slot %u: %s", i, strerror(errno));
        return;
    }
    b->slot_vtep[i] = vtep;
}

static int
dp_bpf_nh_mark_fdb(const void *key, const void *value, void *used)
{
    const struct fab_fdb_entry *entry = value;

    (void) key;
    if (entry->nh_slot < FAB_NEXTHOP_SLOTS) {
        ((uint8_t *) used)[entry->nh_slot] = 1;
    }
    return 0;
}

/* Frees the slots that neither an FDB entry nor a next hop names. */
static void
dp_bpf_nh_slots_gc(struct dp_bpf *b)
{
    uint8_t *used = xzalloc(FAB_NEXTHOP_SLOTS);
    struct dp_nexthop_key key, *prev = NULL;

    dp_bpf_table_dump(&b->up, DP_FDB, dp_bpf_nh_mark_fdb, used);
    while (!bpf_map_get_next_key(b->table_fds[DP_NEXTHOPS], prev, &key)) {
        used[dp_bpf_nh_slot_find(b, key.vtep)] = 1;
        prev = &key;
    }
    for (uint32_t i = 1; i < FAB_NEXTHOP_SLOTS; i++) {
        if (b->slot_vtep[i] && !used[i]) {
            dp_bpf_nh_slot_write(b, i, 0, NULL);
        }
    }
    free(used);
}

/* Returns the slot of 'vtep', giving it a free one (filled from the next
 * hop table) if it has none; 0 if none is free even after collecting the
 * unused ones, and the fast path then looks the next hop up by hash. */
static uint32_t
dp_bpf_nh_slot(struct dp_bpf *b, uint32_t vtep)
{
    uint32_t i = dp_bpf_nh_slot_find(b, vtep);
    struct dp_nexthop_key key = {.vtep = vtep};
    struct dp_nexthop nh;

    if (i || !b->slot_vtep) {
        return i;
    }
    i = dp_bpf_nh_slot_scan(b, 0, vtep);
    if (!i) {
        dp_bpf_nh_slots_gc(b);
        i = dp_bpf_nh_slot_scan(b, 0, vtep);
    }
    if (i) {
        bool resolved =
            !bpf_map_lookup_elem(b->table_fds[DP_NEXTHOPS], &key, &nh);

        dp_bpf_nh_slot_write(b, i, vtep, resolved ? &nh : NULL);
        if (b->slot_vtep[i] != vtep) {
            return 0;
        }
    }
    return i;
}

static int
dp_bpf_table_set(struct dp *dp, enum dp_table table, const void *key,
                 const void *value)
{
    struct dp_bpf *b = dp_bpf_cast(dp);

    if (table == DP_PORTS) {
        return dp_bpf_port_set(b, key, value);
    }
    if (table == DP_QOS) {
        return dp_bpf_qos_set(b, key, value);
    }
    if (table == DP_FDB) {
        const struct dp_fdb_entry *fdb = value;
        struct fab_fdb_entry entry = {.fdb = *fdb};

        if ((!fdb->ifindex || fdb->flags & DP_FDB_STANDBY) && fdb->vtep) {
            entry.nh_slot = dp_bpf_nh_slot(b, fdb->vtep);
        }
        struct fab_fdb_record record = {
            .key = *(const struct dp_fdb_key *) key, .entry = entry};

        if (bpf_map_update_elem(b->table_fds[table], key, &entry, BPF_ANY)
            < 0) {
            return errno;
        }
        dp_bpf_index_set(&b->fdb_index, &record, !b->nowait);
        return 0;
    }
    if (bpf_map_update_elem(b->table_fds[table], key, value, BPF_ANY) < 0) {
        return errno;
    }
    if (table == DP_NEXTHOPS) {
        const struct dp_nexthop_key *nkey = key;

        dp_bpf_nh_slot_write(b, dp_bpf_nh_slot(b, nkey->vtep), nkey->vtep,
                             value);
    }
    return 0;
}

static int
dp_bpf_table_set_nowait(struct dp *dp, enum dp_table table, const void *key,
                        const void *value)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    int error;

    b->nowait = true;
    error = dp_bpf_table_set(dp, table, key, value);
    b->nowait = false;
    return error;
}

static int
dp_bpf_settle(struct dp *dp)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    int error = dp_bpf_index_settle(&b->port_index, b->table_fds[DP_PORTS]);

    return error ? error
                 : dp_bpf_index_settle(&b->fdb_index, b->table_fds[DP_FDB]);
}

/* Deletes the conntrack entry of 'key' and gives its owner its share
 * back.  Only a deletion that succeeds does: the fast path may have
 * replaced the entry, expired, meanwhile. */
static int
dp_bpf_ct_del(struct dp_bpf *b, const struct ct_key *key)
{
    int fd = b->table_fds[DP_CONNTRACK];
    struct fab_port_entry port;
    struct fab_ct_port *cp;
    struct dp_ct ct;

    if (bpf_map_lookup_elem(fd, key, &ct) < 0) {
        return errno == ENOENT ? 0 : errno;
    }
    if (bpf_map_delete_elem(fd, key) < 0) {
        return errno == ENOENT ? 0 : errno;
    }
    if (ct.owner_ifindex && !dp_bpf_port_entry(b, ct.owner_ifindex, &port)
        && (cp = dp_bpf_ct_port(b, port.stats_slot))) {
        __atomic_fetch_sub(&cp->tracked, 1, __ATOMIC_RELAXED);
    }
    return 0;
}

static int
dp_bpf_table_del(struct dp *dp, enum dp_table table, const void *key)
{
    struct dp_bpf *b = dp_bpf_cast(dp);

    if (table == DP_PORTS) {
        const struct dp_port_key *port = key;
        int error = dp_bpf_detach(port->ifindex);

        return error ? error : dp_bpf_port_remove(b, port);
    } else if (table == DP_QOS) {
        const struct dp_qos_key *qkey = key;
        int error = dp_bpf_port_mark_qos(b, qkey->ifindex, false);

        if (error) {
            return error;
        }
    }
    if (table == DP_FDB) {
        dp_bpf_index_del(&b->fdb_index, key);
    }
    if (table == DP_CONNTRACK) {
        return dp_bpf_ct_del(b, key);
    }
    if (bpf_map_delete_elem(b->table_fds[table], key) < 0 && errno != ENOENT) {
        return errno;
    }
    if (table == DP_NEXTHOPS) {
        const struct dp_nexthop_key *nkey = key;

        /* FDB entries may still name the slot: it stays the VTEP's, with
         * no next hop, and the fast path falls back to the kernel. */
        dp_bpf_nh_slot_write(b, dp_bpf_nh_slot_find(b, nkey->vtep), nkey->vtep,
                             NULL);
    }
    return 0;
}

/* The size of a map value of 'table': for ports, QoS and the FDB, the
 * entry that holds the API's value as its prefix. */
static size_t
dp_bpf_map_value_size(enum dp_table table)
{
    if (table == DP_PORTS) {
        return sizeof(struct fab_port_entry);
    } else if (table == DP_QOS) {
        return sizeof(struct fab_qos_entry);
    } else if (table == DP_FDB) {
        return sizeof(struct fab_fdb_entry);
    }
    return dp_table_value_size(table);
}

static int
dp_bpf_table_get(struct dp *dp, enum dp_table table, const void *key,
                 void *value)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    void *buf = xmalloc(dp_bpf_map_value_size(table));
    int error = 0;

    if (bpf_map_lookup_elem(b->table_fds[table], key, buf) < 0) {
        error = errno;
    } else {
        if (table == DP_PORTS) {
            dp_bpf_port_view(b, buf);
        }
        memcpy(value, buf, dp_table_value_size(table));
    }
    free(buf);
    return error;
}

static int
dp_bpf_table_dump(struct dp *dp, enum dp_table table, dp_dump_cb *cb,
                  void *aux)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    size_t key_size = dp_table_key_size(table);
    void *key = xzalloc(key_size);
    void *next = xzalloc(key_size);
    void *value = xzalloc(dp_bpf_map_value_size(table));
    void *prev = NULL;
    int error = 0;

    while (bpf_map_get_next_key(b->table_fds[table], prev, next) == 0) {
        memcpy(key, next, key_size);
        prev = key;
        if (bpf_map_lookup_elem(b->table_fds[table], key, value) < 0) {
            /* Deleted under us: carry on from it anyway. */
            continue;
        }
        if (table == DP_PORTS) {
            dp_bpf_port_view(b, value);
        }
        error = cb(key, value, aux);
        if (error) {
            break;
        }
    }
    free(key);
    free(next);
    free(value);
    return error;
}

static int
dp_bpf_stats_get(struct dp *dp, uint32_t ifindex, struct dp_stats *stats)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    size_t stride = dp_bpf_stats_stride();
    struct fab_port_entry entry;
    struct dp_config config;
    uint32_t slot;
    char *values;
    int error = 0;

    memset(stats, 0, sizeof *stats);
    if (!ifindex) {
        slot = FAB_SLOT_UNKNOWN;
    } else if (!dp_bpf_get_config(dp, &config)
               && config.underlay_ifindex == ifindex) {
        slot = FAB_SLOT_UNDERLAY;
    } else if (!dp_bpf_port_entry(b, ifindex, &entry)) {
        slot = entry.stats_slot;
    } else {
        return ENOENT;
    }
    values = xzalloc(b->n_cpus * stride);
    if (bpf_map_lookup_elem(b->stats_fd, &slot, values) < 0) {
        error = errno;
    } else {
        for (int cpu = 0; cpu < b->n_cpus; cpu++) {
            const struct dp_stats *s = (const void *) (values + cpu * stride);

            stats->rx_packets += s->rx_packets;
            stats->rx_bytes += s->rx_bytes;
            stats->tx_packets += s->tx_packets;
            stats->tx_bytes += s->tx_bytes;
            stats->punted += s->punted;
            for (int r = 0; r < DP_DROP_N_REASONS; r++) {
                stats->drops[r] += s->drops[r];
            }
        }
    }
    free(values);
    return error;
}

static int
dp_bpf_detach_port(const void *key_, const void *value, void *aux)
{
    const struct dp_port_key *key = key_;

    dp_bpf_detach(key->ifindex);
    return 0;
}

static int
dp_bpf_purge(struct dp *dp)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    const char *const *others = dp_bpf_other_maps;
    struct dp_config config;
    int error = 0;

    dp_bpf_table_dump(dp, DP_PORTS, dp_bpf_detach_port, NULL);
    if (!dp_bpf_get_config(dp, &config) && config.underlay_ifindex) {
        dp_bpf_detach(config.underlay_ifindex);
    }
    for (size_t i = 0; i < DP_N_TABLES + ARRAY_SIZE(dp_bpf_other_maps); i++) {
        const char *name =
            i < DP_N_TABLES ? dp_bpf_table_maps[i] : others[i - DP_N_TABLES];
        char *path = xasprintf("%s/%s", b->pin_dir, name);

        if (unlink(path) < 0 && errno != ENOENT && !error) {
            error = errno;
        }
        free(path);
    }
    if (rmdir(b->pin_dir) < 0 && errno != ENOENT && !error) {
        error = errno;
    }
    return error;
}

static int
dp_bpf_fw_stats_get(struct dp *dp, struct dp_fw_stats *stats)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    struct fab_fw_counters *values;
    uint32_t zero = 0;
    int error = 0;

    memset(stats, 0, sizeof *stats);
    values = xcalloc(b->n_cpus, sizeof *values);
    if (bpf_map_lookup_elem(b->fw_counters_fd, &zero, values) < 0) {
        error = errno;
    } else {
        for (int cpu = 0; cpu < b->n_cpus; cpu++) {
            stats->ct_full += values[cpu].ct_full;
            stats->events_lost += values[cpu].events_lost;
        }
    }
    if (!error) {
        struct bpf_map_info info = {};
        uint32_t len = sizeof info;

        if (bpf_obj_get_info_by_fd(b->table_fds[DP_CONNTRACK], &info, &len)) {
            error = errno;
        }
        stats->ct_capacity = info.max_entries;
    }
    free(values);
    return error;
}

static int
dp_bpf_ct_usage_get(struct dp *dp, uint32_t ifindex, struct dp_ct_usage *usage)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    struct fab_port_entry entry;
    struct fab_ct_port cp;
    int error;

    memset(usage, 0, sizeof *usage);
    error = dp_bpf_port_entry(b, ifindex, &entry);
    if (error) {
        return error;
    }
    if (bpf_map_lookup_elem(b->ct_ports_fd, &entry.stats_slot, &cp) < 0) {
        return errno;
    }
    usage->tracked = cp.tracked > 0 ? cp.tracked : 0;
    usage->max = cp.max;
    return 0;
}

/* Returns the fast path's clock, CLOCK_MONOTONIC (bpf_ktime_get_ns()). */
static uint64_t
dp_bpf_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns true if 'addr' (16 bytes) is an endpoint of 'key'. */
static bool
dp_bpf_ct_has_endpoint(const struct ct_key *key, const uint8_t *addr)
{
    return !memcmp(key->addr_a, addr, 16) || !memcmp(key->addr_b, addr, 16);
}

static int
dp_bpf_ct_export(struct dp *dp, uint32_t vni, uint8_t family,
                 const uint8_t addr[16], dp_ct_export_cb *cb, void *aux)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    int fd = b->table_fds[DP_CONNTRACK];
    uint64_t now = dp_bpf_now_ns();
    struct ct_key key, *prev = NULL;
    uint8_t want[16] = {0};
    struct dp_ct ct;
    int error;

    memcpy(want, addr, family == CT_FAMILY_IPV4 ? 4 : 16);
    while (!bpf_map_get_next_key(fd, prev, &key)) {
        prev = &key;
        if (key.vni != vni || key.family != family
            || !dp_bpf_ct_has_endpoint(&key, want)
            || bpf_map_lookup_elem(fd, &key, &ct) < 0
            || ct_entry_expired(&ct.ct, now)) {
            continue;
        }
        /* Ages instead of times; a stamp from another CPU may be a little
         * ahead of our clock. */
        ct.ct.created_ns = now > ct.ct.created_ns ? now - ct.ct.created_ns : 0;
        ct.ct.last_seen_ns =
            now > ct.ct.last_seen_ns ? now - ct.ct.last_seen_ns : 0;
        error = cb(&key, &ct, aux);
        if (error) {
            return error;
        }
    }
    return 0;
}

/* Returns true if the port 'port' has an address of 'family', and then
 * puts it in 'addr' (16 bytes, an IPv4 address in the first four). */
static bool
dp_bpf_port_addr(const struct dp_port *port, uint8_t family, uint8_t *addr)
{
    static const uint8_t zero[16];

    memset(addr, 0, 16);
    if (family == CT_FAMILY_IPV4) {
        memcpy(addr, &port->ip4, 4);
        return port->ip4 != 0;
    }
    memcpy(addr, port->ip6, 16);
    return memcmp(port->ip6, zero, 16) != 0;
}

/* Returns true if 'key' and 'ct' make a well-formed entry of a connection
 * of the port 'port' (see dp_ct_import()). */
static bool
dp_bpf_ct_valid(const struct ct_key *key, const struct dp_ct *ct,
                const struct dp_port *port)
{
    static const uint8_t zero[12];
    uint8_t addr[16];

    if (key->vni != port->vni || key->pad[0] || key->pad[1]
        || (key->family != CT_FAMILY_IPV4 && key->family != CT_FAMILY_IPV6)
        || ct->ct.proto != key->proto || ct->ct.state > CT_CLOSE
        || ct->ct.orig_key_dir > CT_KEY_DIR_BA) {
        return false;
    }
    if (key->family == CT_FAMILY_IPV4
        && (memcmp(key->addr_a + 4, zero, 12)
            || memcmp(key->addr_b + 4, zero, 12))) {
        return false;
    }
    /* A port without an address of the family tracks any (see
     * fab_fw_trackable()). */
    return !dp_bpf_port_addr(port, key->family, addr)
           || dp_bpf_ct_has_endpoint(key, addr);
}

static int
dp_bpf_ct_import(struct dp *dp, const struct ct_key *key,
                 const struct dp_ct *in, uint32_t ifindex)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    int fd = b->table_fds[DP_CONNTRACK];
    uint64_t now = dp_bpf_now_ns();
    struct fab_port_entry port;
    struct fab_ct_port *cp;
    struct dp_ct ct, old;
    uint8_t addr[16];
    const uint8_t *orig;
    bool replace;
    int error;

    error = dp_bpf_port_entry(b, ifindex, &port);
    if (error) {
        return error;
    }
    if (!dp_bpf_ct_valid(key, in, &port.port)) {
        return EINVAL;
    }
    ct = *in;
    ct.ct.created_ns = now > in->ct.created_ns ? now - in->ct.created_ns : 0;
    ct.ct.last_seen_ns =
        now > in->ct.last_seen_ns ? now - in->ct.last_seen_ns : 0;
    orig = ct.ct.orig_key_dir == CT_KEY_DIR_AB ? key->addr_a : key->addr_b;
    if (dp_bpf_port_addr(&port.port, key->family, addr)) {
        ct.orig_ifindex = !memcmp(orig, addr, 16) ? ifindex : 0;
    } else {
        ct.orig_ifindex = in->orig_ifindex ? ifindex : 0;
    }
    ct.owner_ifindex = ifindex;

    replace = !bpf_map_lookup_elem(fd, key, &old);
    if (replace && !ct_entry_expired(&old.ct, now)
        && old.ct.last_seen_ns >= ct.ct.last_seen_ns) {
        return EEXIST;
    }
    cp = dp_bpf_ct_port(b, port.stats_slot);
    if (cp) {
        int64_t before = __atomic_fetch_add(&cp->tracked, 1, __ATOMIC_RELAXED);
        uint32_t max = __atomic_load_n(&cp->max, __ATOMIC_RELAXED);

        if (max && before >= (int64_t) max) {
            __atomic_fetch_sub(&cp->tracked, 1, __ATOMIC_RELAXED);
            return ENOSPC;
        }
    }
    if (replace) {
        dp_bpf_ct_del(b, key);
    }
    if (bpf_map_update_elem(fd, key, &ct, BPF_NOEXIST) < 0) {
        error = errno == E2BIG ? ENOSPC : errno;
        if (cp) {
            __atomic_fetch_sub(&cp->tracked, 1, __ATOMIC_RELAXED);
        }
        return error;
    }
    return 0;
}

/* Runs 'frame' through a program with BPF_PROG_TEST_RUN, marked as a trace
 * in its cb[] so that the program changes nothing (see DP_TRACE_MAGIC0). */
static int
dp_bpf_trace(struct dp *dp, enum dp_trace_program program, uint32_t ifindex,
             const void *frame, size_t len, struct dp_trace_result *result)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    struct __sk_buff ctx = {.ifindex = ifindex};
    int fd, error;
    uint32_t fw;

    memset(result, 0, sizeof *result);
    result->drop_reason = -1;
    if (!b->port || !b->uplink) {
        return EROFS;
    }
    if (len < 14 || len > sizeof result->out - 64) {
        return EMSGSIZE;
    }
    fd = program == DP_TRACE_PORT
             ? bpf_program__fd(b->port->progs.fab_port_ingress)
             : bpf_program__fd(b->uplink->progs.fab_uplink_ingress);
    ctx.cb[0] = DP_TRACE_MAGIC0;
    ctx.cb[1] = DP_TRACE_MAGIC1;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len,
                .data_out = result->out, .data_size_out = sizeof result->out,
                .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .ctx_out = &ctx,
                .ctx_size_out = sizeof ctx, .repeat = 1);
    error = bpf_prog_test_run_opts(fd, &opts) ? errno : 0;
    if (error) {
        return error;
    }
    result->tc_action = (int) opts.retval;
    result->out_len = opts.data_size_out;
    if (ctx.cb[DP_TRACE_CB_DROP] == DP_TRACE_PUNTED) {
        result->punted = true;
    } else if (ctx.cb[DP_TRACE_CB_DROP]) {
        result->drop_reason = (int) ctx.cb[DP_TRACE_CB_DROP] - 1;
    }
    fw = ctx.cb[DP_TRACE_CB_FW];
    if (fw >> 24 == DP_TRACE_FW_RAN) {
        result->fw_ran = true;
        result->fw_action = fw & 0xff;
        result->fw_reason = (fw >> 8) & 0xff;
        result->fw_direction = (fw >> 16) & 0xff;
        result->fw_rule = ctx.cb[DP_TRACE_CB_RULE];
    }
    return 0;
}

/* A reader of one of the fast path's ring buffers, whose records are
 * 'size' bytes: flow events and punts. */
struct dp_bpf_ring {
    struct ring_buffer *rb;           /* Over the pinned map. */
    size_t size;                      /* Bytes of a record. */
    void (*cb)(const void *, void *); /* The reader's callback... */
    void *aux;                        /* ...and its argument. */
};

static int
dp_bpf_ring_record(void *ring_, void *data, size_t size)
{
    struct dp_bpf_ring *ring = ring_;

    /* Records are copied out: the ring's memory is only 8-byte aligned
     * and the reader may keep what it is given for the callback's
     * length. */
    if (size >= ring->size) {
        void *copy = xmalloc(ring->size);

        memcpy(copy, data, ring->size);
        ring->cb(copy, ring->aux);
        free(copy);
    }
    return 0;
}

/* Opens a reader of the ring buffer 'fd' of 'size'-byte records that calls
 * 'cb' with 'aux' for each. */
static int
dp_bpf_ring_open(int fd, size_t size, void (*cb)(const void *, void *),
                 void *aux, struct dp_bpf_ring **ringp)
{
    struct dp_bpf_ring *ring = xzalloc(sizeof *ring);

    *ringp = NULL;
    ring->size = size;
    ring->cb = cb;
    ring->aux = aux;
    ring->rb = ring_buffer__new(fd, dp_bpf_ring_record, ring, NULL);
    if (!ring->rb) {
        int error = errno ? errno : EINVAL;

        free(ring);
        return error;
    }
    *ringp = ring;
    return 0;
}

static int
dp_bpf_ring_poll(struct dp_bpf_ring *ring, int timeout_ms)
{
    int n = ring_buffer__poll(ring->rb, timeout_ms);

    return n < 0 && n != -EINTR ? -n : 0;
}

static void
dp_bpf_ring_close(struct dp_bpf_ring *ring)
{
    if (ring) {
        ring_buffer__free(ring->rb);
        free(ring);
    }
}

/* Flow events and punts are rings; the backend-neutral types are this
 * backend's ring reader. */
struct dp_flow_events {
    struct dp_bpf_ring ring; /* Must be the only member. */
};

struct dp_punts {
    struct dp_bpf_ring ring; /* Must be the only member. */
};

static int
dp_bpf_flow_events_open(struct dp *dp, dp_flow_cb *cb, void *aux,
                        struct dp_flow_events **eventsp)
{
    return dp_bpf_ring_open(dp_bpf_cast(dp)->events_fd,
                            sizeof(struct dp_flow_event),
                            (void (*)(const void *, void *)) cb, aux,
                            (struct dp_bpf_ring **) eventsp);
}

int
dp_flow_events_fd(const struct dp_flow_events *events)
{
    return ring_buffer__epoll_fd(events->ring.rb);
}

int
dp_flow_events_poll(struct dp_flow_events *events, int timeout_ms)
{
    return dp_bpf_ring_poll(&events->ring, timeout_ms);
}

void
dp_flow_events_close(struct dp_flow_events *events)
{
    dp_bpf_ring_close(events ? &events->ring : NULL);
}

static int
dp_bpf_punts_open(struct dp *dp, dp_punt_cb *cb, void *aux,
                  struct dp_punts **puntsp)
{
    return dp_bpf_ring_open(dp_bpf_cast(dp)->punts_fd, sizeof(struct dp_punt),
                            (void (*)(const void *, void *)) cb, aux,
                            (struct dp_bpf_ring **) puntsp);
}

int
dp_punts_fd(const struct dp_punts *punts)
{
    return ring_buffer__epoll_fd(punts->ring.rb);
}

int
dp_punts_poll(struct dp_punts *punts, int timeout_ms)
{
    return dp_bpf_ring_poll(&punts->ring, timeout_ms);
}

void
dp_punts_close(struct dp_punts *punts)
{
    dp_bpf_ring_close(punts ? &punts->ring : NULL);
}

/* Sends 'frame' out of device 'ifindex' with a packet socket: on the host
 * side of a veth it arrives at the VM's end, on a tap at its reader (the
 * VM), and the port program, which is on the device's ingress, never sees
 * it. */
static int
dp_bpf_inject(struct dp *dp, uint32_t ifindex, const void *frame, size_t len)
{
    struct dp_bpf *b = dp_bpf_cast(dp);
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_ifindex = (int) ifindex,
        .sll_halen = ETH_ALEN,
    };

    if (b->packet_fd < 0) {
        /* Protocol 0: a socket that sends and never receives. */
        b->packet_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (b->packet_fd < 0) {
            return errno;
        }
    }
    memcpy(sll.sll_addr, frame, ETH_ALEN);
    if (sendto(b->packet_fd, frame, len, 0, (struct sockaddr *) &sll,
               sizeof sll)
        < 0) {
        return errno;
    }
    return 0;
}

const struct dp_class dp_bpf_class = {
    .name = "bpf",
    .open = dp_bpf_open,
    .close = dp_bpf_close,
    .configure = dp_bpf_configure,
    .get_config = dp_bpf_get_config,
    .table_set = dp_bpf_table_set,
    .table_set_nowait = dp_bpf_table_set_nowait,
    .settle = dp_bpf_settle,
    .table_del = dp_bpf_table_del,
    .table_get = dp_bpf_table_get,
    .table_dump = dp_bpf_table_dump,
    .stats_get = dp_bpf_stats_get,
    .purge = dp_bpf_purge,
    .fw_stats_get = dp_bpf_fw_stats_get,
    .ct_usage_get = dp_bpf_ct_usage_get,
    .ct_export = dp_bpf_ct_export,
    .ct_import = dp_bpf_ct_import,
    .trace = dp_bpf_trace,
    .flow_events_open = dp_bpf_flow_events_open,
    .punts_open = dp_bpf_punts_open,
    .inject = dp_bpf_inject,
};
