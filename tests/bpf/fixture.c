/* The world the BPF tests and benchmarks run in; see fixture.h. */
#include "tests/bpf/fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "datapath/bpf/port.skel.h"
#include "datapath/bpf/uplink.skel.h"
#include "datapath/dp-bpf-index.h"
#include "datapath/netlink.h"

const uint8_t fx_remote_mac[6] = {0x02, 0, 0, 0, 0, 0x0a};
const uint8_t fx_remote_b_mac[6] = {0x02, 0, 0, 0, 0, 0x0b};
const uint8_t fx_no_neigh_mac[6] = {0x02, 0, 0, 0, 0, 0x0c};
const uint8_t fx_remote_vtep_mac[6] = {0x02, 0, 0, 0, 0xff, 0x02};
const uint8_t fx_remote2_vtep_mac[6] = {0x02, 0, 0, 0, 0xff, 0x03};

#define FX_SECURE_VETH (DP_PORT_SECURITY | DP_PORT_VETH)

/* p3 deliberately reuses p2's address: tenants' address spaces overlap,
 * and only the VNI tells the two apart. */
static const struct fx_port fx_port_defaults[FX_N_PORTS] = {
    [FX_P1] = {.name = "p1",
               .peer = "p1vm",
               .vni = FX_VNI_A,
               .flags = FX_SECURE_VETH,
               .mac = {0x02, 0, 0, 0, 0, 0x01},
               .ip4 = CRAFT_IP4(10, 0, 0, 1)},
    [FX_P2] = {.name = "p2",
               .peer = "p2vm",
               .vni = FX_VNI_A,
               .flags = FX_SECURE_VETH,
               .mac = {0x02, 0, 0, 0, 0, 0x02},
               .ip4 = CRAFT_IP4(10, 0, 0, 2)},
    [FX_TAP] = {.name = "tap0",
                .vni = FX_VNI_A,
                .flags = DP_PORT_SECURITY,
                .mac = {0x02, 0, 0, 0, 0, 0x04},
                .ip4 = CRAFT_IP4(10, 0, 0, 4)},
    [FX_P3] = {.name = "p3",
               .peer = "p3vm",
               .vni = FX_VNI_B,
               .flags = FX_SECURE_VETH,
               .mac = {0x02, 0, 0, 0, 0, 0x03},
               .ip4 = CRAFT_IP4(10, 0, 0, 2)},
};

void
fixture_require_root(void)
{
    const char *ci = getenv("CI");

    if (geteuid() == 0) {
        return;
    }
    if (ci && !strcmp(ci, "true")) {
        fprintf(stderr, "the BPF datapath tests need root (BPF_PROG_TEST_RUN "
                        "and a network namespace), and CI=true forbids "
                        "skipping them: run \"make check\" as root\n");
        exit(EXIT_FAILURE);
    }
    fprintf(stderr, "skipped: the BPF datapath tests need root\n");
    exit(77);
}

static int fx_sh(const char *format, ...)
    __attribute__((format(printf, 1, 2)));

/* Runs the shell command built from 'format'.  Returns 0 or EIO after
 * reporting the command that failed. */
static int
fx_sh(const char *format, ...)
{
    char cmd[512];
    va_list args;
    int status;

    va_start(args, format);
    vsnprintf(cmd, sizeof cmd, format, args);
    va_end(args);
    status = system(cmd);
    if (status != 0) {
        fprintf(stderr, "fixture: \"%s\" failed (wait status %d)\n", cmd,
                status);
        return EIO;
    }
    return 0;
}

/* Writes 'value' to the sysctl file 'path' under /proc/sys/net, which is
 * per network namespace. */
static int
fx_sysctl(const char *path, const char *value)
{
    char full[256];
    int error = 0;
    int fd;

    snprintf(full, sizeof full, "/proc/sys/net/%s", path);
    fd = open(full, O_WRONLY);
    if (fd < 0 || write(fd, value, strlen(value)) < 0) {
        error = errno;
        fprintf(stderr, "fixture: writing %s: %s\n", full, strerror(error));
    }
    if (fd >= 0) {
        close(fd);
    }
    return error;
}

static int
fx_get_mac(const char *name, uint8_t mac[6])
{
    struct ifreq ifr;
    int error = 0;
    int fd;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        error = errno;
    } else {
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    }
    close(fd);
    return error;
}

/* Attaches to the persistent tap 'name' as its reader, which gives it
 * carrier, and returns the file descriptor or -1. */
static int
fx_tap_open(const char *name)
{
    struct ifreq ifr;
    int fd;

    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int error = errno;

        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

static char *
fx_mac_str(const uint8_t mac[6], char buf[18])
{
    snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
             mac[3], mac[4], mac[5]);
    return buf;
}

static char *
fx_ip_str(uint32_t ip, char buf[16])
{
    snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
             (ip >> 8) & 0xff, ip & 0xff);
    return buf;
}

/* Creates the namespace and its devices. */
static int
fx_build_network(struct fixture *f)
{
    static const struct {
        uint32_t ip;
        const uint8_t *mac;
    } neighbours[] = {
        {FX_VTEP_REMOTE, fx_remote_vtep_mac},
        {FX_VTEP_REMOTE2, fx_remote2_vtep_mac},
    };
    char mac[18], ip[16];
    int error;

    if (unshare(CLONE_NEWNET) < 0) {
        error = errno;
        fprintf(stderr, "fixture: unshare(CLONE_NEWNET): %s\n",
                strerror(error));
        return error;
    }
    f->host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (f->host_ns < 0) {
        error = errno;
        fprintf(stderr, "fixture: opening our network namespace: %s\n",
                strerror(error));
        return error;
    }
    /* Without IPv6 the kernel sends nothing on its own (no DAD, router
     * solicitations or MLD), so counters move only when a test runs. */
    error = fx_sysctl("ipv6/conf/all/disable_ipv6", "1");
    error = error ? error : fx_sysctl("ipv6/conf/default/disable_ipv6", "1");
    error = error ? error : fx_sh("ip link set lo up");
    if (error) {
        return error;
    }
    for (int i = 0; i < FX_N_PORTS; i++) {
        struct fx_port *p = &f->ports[i];

        if (p->peer) {
            error = fx_sh("ip link add %s type veth peer name %s", p->name,
                          p->peer);
            error = error ? error
                          : fx_sh("ip link set %s address %s up", p->peer,
                                  fx_mac_str(p->mac, mac));
        } else {
            error = fx_sh("ip tuntap add dev %s mode tap", p->name);
            f->tap_fd = error ? -1 : fx_tap_open(p->name);
            if (!error && f->tap_fd < 0) {
                error = errno;
                fprintf(stderr, "fixture: attaching to %s: %s\n", p->name,
                        strerror(error));
            }
        }
        error = error ? error : fx_sh("ip link set %s up", p->name);
        if (error) {
            return error;
        }
        p->ifindex = if_nametoindex(p->name);
    }
    error = fx_sh("ip link add ul0 type veth peer name ul1");
    error = error ? error : fx_sh("ip link set ul1 up");
    error = error ? error : fx_sh("ip link set ul0 up");
    error = error ? error
                  : fx_sh("ip addr add %s/24 dev ul0",
                          fx_ip_str(FX_VTEP_LOCAL, ip));
    for (size_t i = 0; !error && i < sizeof neighbours / sizeof *neighbours;
         i++) {
        error = fx_sh("ip neigh replace %s lladdr %s dev ul0 nud permanent",
                      fx_ip_str(neighbours[i].ip, ip),
                      fx_mac_str(neighbours[i].mac, mac));
    }
    if (error) {
        return error;
    }
    f->underlay = if_nametoindex("ul0");
    error = fx_get_mac("ul0", f->underlay_mac);
    if (error) {
        fprintf(stderr, "fixture: reading the MAC of ul0: %s\n",
                strerror(error));
    }
    return error;
}

static int
fx_set(struct fixture *f, enum dp_table table, const void *key,
       const void *value)
{
    int error = dp_table_set(f->dp, table, key, value);

    if (error) {
        fprintf(stderr, "fixture: setting a %s entry: %s\n",
                dp_table_name(table), strerror(error));
    }
    return error;
}

static int
fx_set_fdb(struct fixture *f, uint32_t vni, const uint8_t *mac,
           uint32_t ifindex, uint32_t vtep)
{
    struct dp_fdb_key key = {.vni = vni};
    struct dp_fdb_entry entry = {.ifindex = ifindex, .vtep = htonl(vtep)};

    memcpy(key.mac, mac, 6);
    return fx_set(f, DP_FDB, &key, &entry);
}

static int
fx_set_binding(struct fixture *f, uint32_t vni, uint32_t ip,
               const uint8_t *mac)
{
    struct dp_binding_key key = {.vni = vni, .ip4 = htonl(ip)};
    struct dp_binding binding = {.identity = 0};

    memcpy(binding.mac, mac, 6);
    return fx_set(f, DP_BINDINGS, &key, &binding);
}

int
fixture_set_port(struct fixture *f, enum fx_port_id id, uint32_t flags,
                 uint16_t identity)
{
    const struct fx_port *p = &f->ports[id];
    struct dp_port_key key = {.ifindex = p->ifindex};
    struct dp_port port = {
        .vni = p->vni,
        .flags = flags,
        .mtu = FX_PORT_MTU,
        .ip4 = htonl(p->ip4),
        .identity = identity,
    };

    memcpy(port.mac, p->mac, 6);
    return fx_set(f, DP_PORTS, &key, &port);
}

int
fixture_set_port_flags(struct fixture *f, enum fx_port_id id, uint32_t flags)
{
    return fixture_set_port(f, id, flags, 0);
}

/* Resolves the next hop of 'vtep' from the kernel's route and neighbour
 * tables, as the agent does, and programs it. */
static int
fx_set_nexthop(struct fixture *f, uint32_t vtep)
{
    struct dp_nexthop_key key = {.vtep = htonl(vtep)};
    struct dp_nexthop nh;
    struct nl_nexthop found;
    int error;

    error = nl_nexthop_get(htonl(vtep), &found);
    if (error) {
        fprintf(stderr, "fixture: resolving the next hop of VTEP %#x: %s\n",
                vtep, strerror(error));
        return error;
    }
    nh.ifindex = found.ifindex;
    memcpy(nh.src_mac, found.src_mac, 6);
    memcpy(nh.dst_mac, found.dst_mac, 6);
    /* Both remote VTEPs are fabric hosts, which take VXLAN-GBP. */
    nh.flags = DP_NEXTHOP_GBP;
    return fx_set(f, DP_NEXTHOPS, &key, &nh);
}

/* Programs every table through the datapath API. */
static int
fx_program_tables(struct fixture *f)
{
    struct dp_config config = {
        .vtep_ip = htonl(FX_VTEP_LOCAL),
        .underlay_ifindex = f->underlay,
        .ttl = 64,
    };
    const uint32_t vnis[] = {FX_VNI_A, FX_VNI_B};
    struct dp_flood flood_a = {.n_members = 0};
    struct dp_flood flood_b = {.n_members = 0};
    struct dp_flood_key key;
    int error;

    error = dp_configure(f->dp, &config);
    if (error) {
        fprintf(stderr, "fixture: dp_configure: %s\n", strerror(error));
        return error;
    }
    for (size_t i = 0; i < sizeof vnis / sizeof *vnis; i++) {
        struct dp_network_key net_key = {.vni = vnis[i]};
        struct dp_network net = {.mtu = FX_PORT_MTU};

        error = fx_set(f, DP_NETWORKS, &net_key, &net);
        if (error) {
            return error;
        }
    }
    for (int i = 0; i < FX_N_PORTS; i++) {
        const struct fx_port *p = &f->ports[i];
        struct dp_flood *flood = p->vni == FX_VNI_A ? &flood_a : &flood_b;

        error = fixture_set_port_flags(f, i, p->flags);
        error = error ? error : fx_set_fdb(f, p->vni, p->mac, p->ifindex, 0);
        error = error ? error : fx_set_binding(f, p->vni, p->ip4, p->mac);
        if (error) {
            return error;
        }
        flood->members[flood->n_members++].ifindex = p->ifindex;
    }
    for (size_t i = 0; i < 3; i++) {
        const uint32_t vteps[] = {FX_VTEP_REMOTE, FX_VTEP_REMOTE2,
                                  FX_VTEP_NO_NEIGH};
        struct dp_vtep_key vtep_key = {.vtep = htonl(vteps[i])};
        struct dp_vtep vtep = {.flags = 0};

        error = fx_set(f, DP_VTEPS, &vtep_key, &vtep);
        if (error) {
            return error;
        }
    }
    error = fx_set_fdb(f, FX_VNI_A, fx_remote_mac, 0, FX_VTEP_REMOTE);
    error = error
                ? error
                : fx_set_fdb(f, FX_VNI_B, fx_remote_b_mac, 0, FX_VTEP_REMOTE2);
    error =
        error ? error
              : fx_set_fdb(f, FX_VNI_A, fx_no_neigh_mac, 0, FX_VTEP_NO_NEIGH);
    error = error ? error
                  : fx_set_binding(f, FX_VNI_A, FX_REMOTE_IP, fx_remote_mac);
    error = error
                ? error
                : fx_set_binding(f, FX_VNI_B, FX_REMOTE_B_IP, fx_remote_b_mac);
    /* FX_VTEP_NO_NEIGH stays unresolved on purpose. */
    error = error ? error : fx_set_nexthop(f, FX_VTEP_REMOTE);
    error = error ? error : fx_set_nexthop(f, FX_VTEP_REMOTE2);
    if (error) {
        return error;
    }
    /* Local ports first, as the flood code requires. */
    flood_a.members[flood_a.n_members++].vtep = htonl(FX_VTEP_REMOTE);
    flood_a.members[flood_a.n_members++].vtep = htonl(FX_VTEP_REMOTE2);
    flood_b.members[flood_b.n_members++].vtep = htonl(FX_VTEP_REMOTE2);
    key.vni = FX_VNI_A;
    error = fx_set(f, DP_FLOOD, &key, &flood_a);
    key.vni = FX_VNI_B;
    return error ? error : fx_set(f, DP_FLOOD, &key, &flood_b);
}

/* Sizes the maps of 'obj' like the ones pinned in 'pin_dir', which it is
 * to share: the datapath sized those from its options. */
static void
fx_size_like_pins(struct bpf_object *obj, const char *pin_dir)
{
    struct bpf_map *map;

    bpf_object__for_each_map(map, obj)
    {
        char path[128];
        struct bpf_map_info info = {};
        uint32_t len = sizeof info;
        int fd;

        snprintf(path, sizeof path, "%s/%s", pin_dir, bpf_map__name(map));
        fd = bpf_obj_get(path);
        if (fd < 0) {
            continue;
        }
        if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
            bpf_map__set_max_entries(map, info.max_entries);
        }
        close(fd);
    }
}

/* Loads our own copies of the programs, sharing the instance's maps. */
static int
fx_load_programs(struct fixture *f)
{
    LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = f->pin_dir);
    int error;

    f->port_obj = fab_port__open_opts(&opts);
    f->uplink_obj = f->port_obj ? fab_uplink__open_opts(&opts) : NULL;
    if (!f->port_obj || !f->uplink_obj) {
        error = errno ? errno : EINVAL;
        fprintf(stderr, "fixture: opening the skeletons: %s\n",
                strerror(error));
        return error;
    }
    fx_size_like_pins(f->port_obj->obj, f->pin_dir);
    fx_size_like_pins(f->uplink_obj->obj, f->pin_dir);
    dp_bpf_index_set_masks(f->port_obj, f->uplink_obj);
    error = -fab_port__load(f->port_obj);
    error = error ? error : -fab_uplink__load(f->uplink_obj);
    if (error) {
        fprintf(stderr, "fixture: loading the programs: %s\n",
                strerror(error));
        return error;
    }
    f->port_prog = bpf_program__fd(f->port_obj->progs.fab_port_ingress);
    f->uplink_prog = bpf_program__fd(f->uplink_obj->progs.fab_uplink_ingress);
    return 0;
}

int
fixture_init(struct fixture *f)
{
    return fixture_init_sized(f, 0);
}

int
fixture_init_sized(struct fixture *f, uint32_t max_ports)
{
    struct dp_options options = {.bpffs = "/sys/fs/bpf",
                                 .max_ports = max_ports};
    char instance[32];
    int error;

    memset(f, 0, sizeof *f);
    memcpy(f->ports, fx_port_defaults, sizeof f->ports);
    f->port_prog = f->uplink_prog = f->tap_fd = -1;
    f->host_ns = f->guest_ns = -1;
    error = fx_build_network(f);
    if (error) {
        return error;
    }
    snprintf(instance, sizeof instance, "test-%ld", (long) getpid());
    snprintf(f->pin_dir, sizeof f->pin_dir, "%s/%s", options.bpffs, instance);
    options.instance = instance;
    error = dp_open(&options, &f->dp);
    if (error) {
        fprintf(stderr, "fixture: dp_open(%s): %s\n", f->pin_dir,
                strerror(error));
        return error;
    }
    error = fx_program_tables(f);
    return error ? error : fx_load_programs(f);
}

int
fixture_open_instance(struct fixture *g, const struct fixture *f,
                      const char *suffix, const struct dp_options *options_)
{
    struct dp_options options = *options_;
    char instance[48];
    int error;

    memset(g, 0, sizeof *g);
    memcpy(g->ports, f->ports, sizeof g->ports);
    g->underlay = f->underlay;
    memcpy(g->underlay_mac, f->underlay_mac, sizeof g->underlay_mac);
    g->port_prog = g->uplink_prog = g->tap_fd = -1;
    g->host_ns = g->guest_ns = -1;
    snprintf(instance, sizeof instance, "test-%ld-%s", (long) getpid(),
             suffix);
    options.bpffs = "/sys/fs/bpf";
    options.instance = instance;
    snprintf(g->pin_dir, sizeof g->pin_dir, "%s/%s", options.bpffs, instance);
    error = dp_open(&options, &g->dp);
    if (error) {
        fprintf(stderr, "fixture: dp_open(%s): %s\n", g->pin_dir,
                strerror(error));
        return error;
    }
    return fx_load_programs(g);
}

int
fixture_restart(struct fixture *f)
{
    struct dp_options options = {.bpffs = "/sys/fs/bpf",
                                 .instance = strrchr(f->pin_dir, '/') + 1};
    int error;

    dp_close(f->dp);
    error = dp_open(&options, &f->dp);
    if (error) {
        f->dp = NULL;
        fprintf(stderr, "fixture: dp_open(%s) again: %s\n", f->pin_dir,
                strerror(error));
    }
    return error;
}

void
fixture_destroy(struct fixture *f)
{
    fab_uplink__destroy(f->uplink_obj);
    fab_port__destroy(f->port_obj);
    if (f->dp) {
        int error = dp_purge(f->dp);

        if (error) {
            fprintf(stderr, "fixture: dp_purge(%s): %s\n", f->pin_dir,
                    strerror(error));
        }
        dp_close(f->dp);
    }
    if (f->tap_fd >= 0) {
        close(f->tap_fd);
    }
    if (f->guest_ns >= 0) {
        close(f->guest_ns);
    }
    if (f->host_ns >= 0) {
        close(f->host_ns);
    }
    memset(f, 0, sizeof *f);
}

int
fixture_run(int prog, uint32_t ifindex, const void *pkt, size_t len,
            uint32_t gso_size, struct fx_result *r)
{
    struct __sk_buff ctx = {.ifindex = ifindex, .gso_size = gso_size};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = len,
                .data_out = r->out, .data_size_out = sizeof r->out,
                .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .ctx_out = &ctx,
                .ctx_size_out = sizeof ctx, .repeat = 1);
    int error = bpf_prog_test_run_opts(prog, &opts);

    if (error) {
        return -error;
    }
    r->verdict = opts.retval;
    r->duration = opts.duration;
    r->out_len = opts.data_size_out;
    r->tstamp = ctx.tstamp;
    r->priority = ctx.priority;
    return 0;
}

int
fixture_run_repeat(int prog, uint32_t ifindex, const void *pkt, size_t len,
                   uint32_t repeat, int *verdict, uint32_t *duration)
{
    struct __sk_buff ctx = {.ifindex = ifindex};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = len,
                .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = repeat);
    int error = bpf_prog_test_run_opts(prog, &opts);

    if (error) {
        return -error;
    }
    *verdict = opts.retval;
    *duration = opts.duration;
    return 0;
}

int
fixture_capture_open(const char *name)
{
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_ALL),
        .sll_ifindex = if_nametoindex(name),
    };
    int fd;

    if (!sll.sll_ifindex) {
        return -1;
    }
    /* Protocol 0 receives nothing until bound, so no frame of another
     * device slips in before bind(). */
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (bind(fd, (struct sockaddr *) &sll, sizeof sll) < 0) {
        int error = errno;

        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

int
fixture_capture_recv(int fd, uint8_t *buf, size_t size, int timeout_ms,
                     uint16_t *protocol)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (;;) {
        struct sockaddr_ll from;
        socklen_t from_len = sizeof from;
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms) <= 0) {
            return -1;
        }
        n = recvfrom(fd, buf, size, 0, (struct sockaddr *) &from, &from_len);
        if (n < 0 && errno == ENOTSOCK) {
            /* A tap: everything read is what was sent to the VM. */
            n = read(fd, buf, size);
            return n < 0 ? -1 : (int) n;
        }
        if (n < 0) {
            return -1;
        }
        if (from.sll_pkttype != PACKET_OUTGOING) {
            if (protocol) {
                *protocol = ntohs(from.sll_protocol);
            }
            return (int) n;
        }
    }
}

int
fixture_inject(const char *name, const void *pkt, size_t len)
{
    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_ifindex = if_nametoindex(name),
        .sll_halen = 6,
    };
    int error = 0;
    int fd;

    if (!sll.sll_ifindex) {
        return ENODEV;
    }
    memcpy(sll.sll_addr, pkt, 6);
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    if (sendto(fd, pkt, len, 0, (struct sockaddr *) &sll, sizeof sll) < 0) {
        error = errno;
    }
    close(fd);
    return error;
}

void
fixture_drain_tap(struct fixture *f)
{
    uint8_t buf[CRAFT_MAX_FRAME];

    while (f->tap_fd >= 0 && read(f->tap_fd, buf, sizeof buf) >= 0) {
        continue;
    }
}

/* Creates the guest namespace, if not done yet, and returns to ours. */
static int
fx_guest_create(struct fixture *f)
{
    int error = 0;

    if (f->guest_ns >= 0) {
        return 0;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        return errno;
    }
    f->guest_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (f->guest_ns < 0) {
        error = errno;
    } else {
        error = fx_sysctl("ipv6/conf/all/disable_ipv6", "1");
        error =
            error ? error : fx_sysctl("ipv6/conf/default/disable_ipv6", "1");
    }
    if (setns(f->host_ns, CLONE_NEWNET) < 0) {
        /* Stranded in the wrong namespace: nothing after this is valid. */
        perror("fixture: returning to our network namespace");
        abort();
    }
    return error;
}

/* Moves device 'name' from namespace 'from' to namespace 'to' and brings it
 * up there.  "ip link set ... netns" names the target by a process in it,
 * so a child waits there while the move happens. */
static int
fx_move_link(struct fixture *f, const char *name, int from, int to)
{
    int pipefd[2];
    int error = 0;
    pid_t child;
    char c;

    if (pipe(pipefd) < 0) {
        return errno;
    }
    child = fork();
    if (child < 0) {
        error = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return error;
    }
    if (child == 0) {
        close(pipefd[0]);
        if (setns(to, CLONE_NEWNET) < 0) {
            _exit(1);
        }
        if (write(pipefd[1], "x", 1) != 1) {
            _exit(1);
        }
        pause();
        _exit(0);
    }
    close(pipefd[1]);
    if (read(pipefd[0], &c, 1) != 1) {
        error = ECHILD;
    }
    close(pipefd[0]);
    if (!error && setns(from, CLONE_NEWNET) < 0) {
        error = errno;
    }
    if (!error) {
        error = fx_sh("ip link set %s netns %ld", name, (long) child);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    if (!error && setns(to, CLONE_NEWNET) < 0) {
        error = errno;
    }
    if (!error) {
        error = fx_sh("ip link set %s up", name);
    }
    if (setns(f->host_ns, CLONE_NEWNET) < 0) {
        perror("fixture: returning to our network namespace");
        abort();
    }
    return error;
}

int
fixture_to_guest(struct fixture *f, const char *name)
{
    int error = fx_guest_create(f);

    return error ? error : fx_move_link(f, name, f->host_ns, f->guest_ns);
}

int
fixture_from_guest(struct fixture *f, const char *name)
{
    if (f->guest_ns < 0 || if_nametoindex(name)) {
        return 0;
    }
    return fx_move_link(f, name, f->guest_ns, f->host_ns);
}

int
fixture_capture_open_guest(struct fixture *f, const char *name)
{
    int error, fd;

    if (f->guest_ns < 0 || setns(f->guest_ns, CLONE_NEWNET) < 0) {
        return -1;
    }
    fd = fixture_capture_open(name);
    error = errno;
    if (setns(f->host_ns, CLONE_NEWNET) < 0) {
        perror("fixture: returning to our network namespace");
        abort();
    }
    errno = error;
    return fd;
}
