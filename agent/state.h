/* The agent's desired state: what one host's datapath should hold, as a
 * declarative document (JSON) parsed into a plain model.
 *
 * The model is the agent's only input.  Today it comes from a file; the
 * controller will later deliver the same document over HTTP, so parsing
 * does no I/O: it takes text (or an already decoded JSON value) and yields
 * either a complete, validated model or the full list of what is wrong,
 * each message naming the JSON path, the reason and what is expected.
 *
 * One check needs the host: an explicit network MTU must fit inside the
 * underlay MTU minus the VXLAN overhead.  state_check_mtus() does it given
 * the underlay MTU, which the caller looks up.
 *
 * An agent applies what it can: state_from_json_partial() leaves out the
 * networks, ports, remotes, identities and VMs that are wrong (or that do not
 * fit the underlay), says why for each, and keeps the rest, so that one bad
 * object never freezes a host.  state_parse() and state_from_json() are
 * strict: any problem refuses the document (fabric-agent --check). */
#ifndef AGENT_STATE_H
#define AGENT_STATE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;

/* Bytes VXLAN adds in front of a VM's frame on an IPv4 underlay: outer
 * Ethernet 14, IPv4 20, UDP 8, VXLAN 8. */
#define STATE_VXLAN_OVERHEAD 50

/* Underlay MTU assumed while the underlay device is not there to ask. */
#define STATE_DEFAULT_UNDERLAY_MTU 1500

#define STATE_DEFAULT_TTL 64
#define STATE_MIN_MTU 68        /* The smallest MTU IPv4 allows. */
#define STATE_MAX_VNI 16777215  /* 24 bits. */
#define STATE_MAX_DNS_SERVERS 3 /* A network's "dns_servers", at most. */
#define STATE_MAX_HOSTNAME 63   /* A port's "hostname", at most. */

/* A list of error messages, one line each, without a trailing newline. */
struct state_errors {
    char **msgs; /* The messages, owned. */
    size_t n;    /* Number of 'msgs'. */
};

void state_errors_init(struct state_errors *);
void state_errors_destroy(struct state_errors *);
void state_errors_add(struct state_errors *, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* This host's underlay settings. */
struct state_host {
    char *name;           /* Host name for messages, or NULL. */
    uint32_t vtep;        /* Our VTEP address, network order. */
    char *underlay;       /* Device VXLAN leaves by. */
    uint8_t ttl;          /* Outer TTL. */
    uint64_t uplink_rate; /* Capacity of the underlay that shaped ports
                           * share, bits/s; 0 if the document does not
                           * say (see state_uplink_rate()). */
};

/* A virtual network. */
struct state_network {
    char *name;         /* Unique name. */
    uint32_t vni;       /* Unique VNI, 1..STATE_MAX_VNI. */
    uint32_t mtu;       /* Explicit MTU, or 0 to derive it from the
                         * underlay (see state_network_mtu()). */
    bool default_deny;  /* "default_action": "deny": traffic no security
                         * group governs is dropped. */
    uint32_t net4;      /* "cidr": its IPv4 address, network order, or 0
                         * when the document gives none (then DHCP is not
                         * answered in the network). */
    uint8_t prefix_len; /* And its length, 8..30. */
    uint8_t n_dns;      /* Entries of 'dns'. */
    uint32_t dns[STATE_MAX_DNS_SERVERS]; /* "dns_servers", network
                                          * order. */
};

/* Rate limits are QOS_RATE_MIN..QOS_RATE_MAX of qos/bucket.h. */
#define STATE_MIN_RATE 8ULL              /* Bits/s. */
#define STATE_MAX_RATE 10000000000000ULL /* Bits/s: 10 Tbit/s. */
#define STATE_DSCP_KEEP 0xff             /* No DSCP marking. */
#define STATE_MAX_DSCP 63
#define STATE_MIN_UPLINK_RATE 1000000            /* Bits/s: 1 Mbit/s. */
#define STATE_DEFAULT_UPLINK_RATE 10000000000ULL /* Bits/s: 10 Gbit/s. */
#define STATE_MAX_PRIORITY 7                     /* Lowest egress priority. */
#define STATE_DEFAULT_PRIORITY 4 /* Egress priority when none is given. */

/* A burst for 'rate' bits per second when the document gives none: what
 * the rate sends in STATE_BURST_TIME_MS, but at least STATE_MIN_BURST
 * bytes, so that a GSO packet of 64 KiB always fits.  100 ms lets TCP
 * through a policer recover from a drop, and lasts enough scheduler ticks
 * (10 at HZ=100) for the fast path to police on the tick, which costs a
 * packet a fraction of reading the fine clock (qos/bucket.h). */
#define STATE_BURST_TIME_MS 100
#define STATE_MIN_BURST 65536

/* A port's QoS policy.  A rate of 0 means no limit in that direction. */
struct state_qos {
    uint64_t egress_rate;     /* What the VM sends, bits/s, or 0. */
    uint32_t egress_burst;    /* Bytes, when 'egress_rate' is set. */
    uint64_t ingress_rate;    /* What the VM receives, bits/s, or 0. */
    uint32_t ingress_burst;   /* Bytes, when 'ingress_rate' is set. */
    uint64_t egress_min_rate; /* Guaranteed share of the uplink, bits/s,
                               * or 0; at most 'egress_rate' if set. */
    uint8_t egress_priority;  /* 0 (highest) .. STATE_MAX_PRIORITY. */
    uint8_t dscp;             /* DSCP to mark, or STATE_DSCP_KEEP. */
};

/* A VM port on this host. */
struct state_port {
    char *name;            /* Unique name. */
    size_t network;        /* Index in 'networks' of struct state. */
    char *device;          /* Host-side device (veth or tap). */
    uint8_t mac[6];        /* The VM's unicast MAC. */
    uint32_t ip4;          /* The VM's IPv4 address, 0 for none. */
    uint8_t ip6[16];       /* The VM's IPv6 address, zero for none. */
    bool port_security;    /* Drop frames not from 'mac'/'ip4'/'ip6'. */
    struct state_qos qos;  /* Rate limits and marking. */
    uint16_t identity;     /* Security identity, 0 for no group; else one
                            * of the document's 'identities'. */
    char *hostname;        /* What DHCP tells the VM its name is, or NULL
                            * for none. */
    bool standby;          /* "standby": the port of a VM migrating in
                            * (doc/mobility.md), programmed inactive until
                            * the VM's first frame here. */
    bool activated;        /* Never from the document: set by the agent
                            * once a standby port's first frame came; from
                            * then on it is programmed as any other. */
    uint32_t standby_vtep; /* While 'standby': the VTEP the VM still runs
                            * behind, its VM's "incoming.from_vtep",
                            * network order; 0 if no VM names it. */
    uint32_t forward_vtep; /* Never from the document: set by the agent
                            * while its VM switches over to another host,
                            * that host's VTEP (network order), to which
                            * the port's frames then go; else 0. */
};

/* An endpoint on another host, reached through its VTEP. */
struct state_remote {
    size_t network;    /* Index in 'networks' of struct state. */
    uint8_t mac[6];    /* The endpoint's unicast MAC. */
    uint32_t ip4;      /* Its IPv4 address, 0 for none. */
    uint32_t vtep;     /* The VTEP it sits behind, network order. */
    uint16_t identity; /* Its security identity, 0 for no group. */
};

/* A MAC that left this host for another one a moment ago (a VM's NIC after
 * its live migration, doc/mobility.md "forward"): frames for it, from
 * local ports or from other fabric hosts that have yet to learn the move,
 * go on to the VTEP it sits behind now (DP_FDB_FORWARD). */
struct state_forward {
    uint32_t vni;   /* Its network's VNI. */
    uint8_t mac[6]; /* Its unicast MAC, neither a port's nor a remote's. */
    uint32_t vtep;  /* Where it went, network order. */
};

/* A VTEP outside the fabric (an Open vSwitch, a Linux vxlan device, a
 * gateway) that joined a network: it gets the network's floods, and VXLAN
 * from it in that network is accepted.  Its endpoints are 'remotes' behind
 * its address, without identities: it is not trusted with one, so the
 * firewall knows them by address. */
struct state_external_vtep {
    size_t network; /* Index in 'networks' of struct state. */
    uint32_t vtep;  /* Its address, network order. */
    bool gbp;       /* It takes VXLAN-GBP: frames to it carry the
                     * sender's group.  Else plain RFC 7348. */
};

/* The firewall (doc/firewall.md).  Group identities are
 * STATE_MIN_IDENTITY..STATE_MAX_IDENTITY (DP_GROUP_IDENTITY_* of
 * datapath/dp-tables.h); 0 is "no group". */
#define STATE_MIN_IDENTITY 256
#define STATE_MAX_IDENTITY 49151

/* Bits of struct state_identity's 'governs', by direction
 * (POLICY_INGRESS and POLICY_EGRESS of firewall/policy.h). */
#define STATE_GOVERNS(DIRECTION) (1u << (DIRECTION))

/* Whom a rule's peer is. */
enum state_peer {
    STATE_PEER_ANY,        /* Every peer. */
    STATE_PEER_IDENTITIES, /* Endpoints of the listed identities. */
    STATE_PEER_CIDRS,      /* Addresses in the listed CIDRs. */
};

/* An IPv4 or IPv6 CIDR, its host bits zero. */
struct state_cidr {
    uint8_t family;     /* 4 or 6. */
    uint8_t prefix_len; /* 0..32 or 0..128. */
    uint8_t addr[16];   /* Address; IPv4 in the first four bytes, the
                         * rest zero. */
};

/* One rule of a security group, as it applies to an identity. */
struct state_rule {
    uint32_t id;               /* Unique in the fabric, never 0. */
    char *group;               /* The group it belongs to, or NULL. */
    uint8_t direction;         /* POLICY_INGRESS or POLICY_EGRESS. */
    uint8_t proto;             /* IP protocol, 0 for any. */
    bool has_ports;            /* Only ports 'port_lo'..'port_hi'. */
    uint16_t port_lo, port_hi; /* With 'has_ports' (TCP and UDP). */
    bool has_icmp_type;        /* Only ICMP type 'icmp_type'. */
    uint8_t icmp_type;         /* With 'has_icmp_type'. */
    enum state_peer peer;      /* Whom it matches. */
    uint16_t *peer_identities; /* STATE_PEER_IDENTITIES: them. */
    size_t n_peer_identities;  /* Number of 'peer_identities' (may be 0:
                                * a group with no members). */
    struct state_cidr *cidrs;  /* STATE_PEER_CIDRS: them. */
    size_t n_cidrs;            /* Number of 'cidrs', at least 1. */
    uint8_t action;            /* POLICY_ALLOW or POLICY_DENY. */
    bool log;                  /* Log the connections it decides. */
};

/* A security identity: a set of groups that a port of this host has, with
 * the rules of all of them. */
struct state_identity {
    uint16_t id;              /* STATE_MIN_IDENTITY..STATE_MAX_IDENTITY. */
    char **groups;            /* Names of its groups. */
    size_t n_groups;          /* Number of 'groups'. */
    unsigned int governs;     /* STATE_GOVERNS() bits: the directions its
                               * groups have rules for. */
    struct state_rule *rules; /* Its rules, in document order. */
    size_t n_rules;           /* Number of 'rules'. */
};

/* VMs (doc/vms.md, "Desired state").  Files are named relative to the
 * storage directory that every host sees: a VM's disk and seed under
 * STATE_VM_DIR, the image its disk is an overlay of under
 * STATE_IMAGE_DIR, so that no document can make a VM write into an image,
 * or make the agent remove one with the VM. */
#define STATE_VM_DIR "vms/"
#define STATE_IMAGE_DIR "images/"
#define STATE_MAX_VM_NICS 8             /* VMM_NICS_MAX of vmm-glue/vmm.h. */
#define STATE_MAX_VCPUS 1024            /* A VM's virtual CPUs. */
#define STATE_MAX_VM_MEMORY_MB 16777216 /* 16 TiB. */
#define STATE_MAX_DISK_GB 1048576       /* 1 PiB. */
#define STATE_MAX_PATH 255              /* Longest file name in the storage. */
#define STATE_MAX_SSH_KEYS 32           /* Authorized keys of one VM... */
#define STATE_MAX_SSH_KEY 16384         /* ...each at most this long. */
#define STATE_MAX_USER_DATA 65536       /* Bytes of a VM's user data. */

/* One NIC of a VM: the tap of one of the document's ports. */
struct state_vm_nic {
    char *port;     /* The port's name, in "ports". */
    char *device;   /* Its tap device, the port's "device". */
    uint8_t mac[6]; /* The guest's MAC, the port's "mac". */
    uint32_t mtu;   /* The network's MTU. */
};

/* A VM migrating in (doc/mobility.md, phase 1): "incoming". */
struct state_vm_incoming {
    char *id;           /* The migration's id, a UUID. */
    char *from;         /* The source host's name. */
    uint32_t from_vtep; /* Its VTEP, network order. */
};

/* A VM migrating out (doc/mobility.md, phase 2): "migrate". */
#define STATE_DEFAULT_DOWNTIME_MS 300
#define STATE_MAX_DOWNTIME_MS 2000000   /* VMM_DOWNTIME_MAX_MS. */
#define STATE_MAX_BANDWIDTH_MBPS 100000 /* 100 Gbit/s. */
struct state_vm_migrate {
    char *id;                    /* The migration's id, a UUID. */
    char *to;                    /* The destination host's name. */
    uint32_t to_vtep;            /* Its VTEP, network order. */
    char *uri;                   /* Where its QEMU listens, "tcp:A:P". */
    uint32_t downtime_ms;        /* Longest pause allowed at the end. */
    uint32_t max_bandwidth_mbps; /* 0 for no limit. */
    bool auto_converge;          /* Throttle a guest that dirties memory
                                  * faster than it is copied. */
};

/* A VM this host runs. */
struct state_vm {
    char *name;                /* Unique name. */
    char uuid[37];             /* Unique UUID, as text. */
    uint32_t vcpus;            /* Virtual CPUs. */
    uint64_t memory_mb;        /* Memory, MiB. */
    bool running;              /* "power": "running" (else "stopped"). */
    uint64_t boot;             /* Reboots asked for: the guest is reset
                                * when it grows. */
    char *disk;                /* Its disk, under STATE_VM_DIR. */
    char *image;               /* The image it overlays, under
                                * STATE_IMAGE_DIR. */
    uint64_t disk_gb;          /* The disk's size, 0 for the image's. */
    char *seed;                /* Its NoCloud seed under STATE_VM_DIR, or
                                * NULL for none. */
    char *hostname;            /* The seed's hostname, or NULL. */
    char **ssh_keys;           /* The seed's authorized keys. */
    size_t n_ssh_keys;         /* Number of 'ssh_keys'. */
    char *user_data;           /* The seed's user data, or NULL. */
    struct state_vm_nic *nics; /* Its NICs, in guest order. */
    size_t n_nics;             /* Number of 'nics'. */
    bool ha;                   /* "ha": "restart" (the default: forced off
                                * when the agent fences itself, started
                                * only under a lease), else "off". */
    struct state_vm_incoming *incoming; /* Migrating in, or NULL. */
    struct state_vm_migrate *migrate;   /* Migrating out, or NULL. */
};

/* A VM that left this host for another ("moved_vms", doc/mobility.md):
 * its disk and seed are the other host's now. */
struct state_moved_vm {
    char *name;    /* Its name. */
    char uuid[37]; /* Its UUID, as text. */
};

/* The lists of a document whose elements stand alone: an error in one of
 * them leaves that element out (see state_from_json_partial()). */
enum state_kind {
    STATE_KIND_NETWORK,       /* "networks" */
    STATE_KIND_PORT,          /* "ports" */
    STATE_KIND_REMOTE,        /* "remotes" */
    STATE_KIND_IDENTITY,      /* "identities" */
    STATE_KIND_EXTERNAL_VTEP, /* "external_vteps" */
    STATE_KIND_VM,            /* "vms" */
    STATE_N_KINDS
};

/* Returns the word that names 'kind' in conditions ("network", "port",
 * "remote", "identity", "external-vtep", "vm"). */
const char *state_kind_name(enum state_kind kind);

/* An element of a document that was left out, and why. */
struct state_skip {
    enum state_kind kind; /* The list it was in. */
    char *name;           /* Its name: a network's or port's "name", a
                           * remote's "NETWORK/MAC", an identity's "id";
                           * its path ("ports[3]") if it has none. */
    char *reason;         /* What is wrong with it, one line. */
};

/* A validated desired-state document. */
struct state {
    struct state_host host;         /* This host. */
    struct state_network *networks; /* Networks, in document order. */
    size_t n_networks;              /* Number of 'networks'. */
    struct state_port *ports;       /* Local ports, in document order. */
    size_t n_ports;                 /* Number of 'ports'. */
    struct state_remote *remotes;   /* Remote endpoints. */
    size_t n_remotes;               /* Number of 'remotes'. */
    struct state_external_vtep *external_vteps; /* Per network joined. */
    size_t n_external_vteps;           /* Number of 'external_vteps'. */
    struct state_identity *identities; /* Identities of local ports. */
    size_t n_identities;               /* Number of 'identities'. */
    struct state_vm *vms;              /* VMs, in document order. */
    size_t n_vms;                      /* Number of 'vms'. */
    uint32_t *fabric_vteps;            /* "fabric_vteps": other fabric
                                        * hosts VXLAN is accepted from
                                        * besides the remotes' VTEPs,
                                        * network order. */
    size_t n_fabric_vteps;             /* Number of 'fabric_vteps'. */
    struct state_forward *forwards;    /* "forward": MACs that just
                                        * moved on. */
    size_t n_forwards;                 /* Number of 'forwards'. */
    struct state_moved_vm *moved_vms;  /* VMs that moved to another
                                        * host. */
    size_t n_moved_vms;                /* Number of 'moved_vms'. */
    struct state_skip *skipped;        /* Elements left out, from
                                        * state_from_json_partial(). */
    size_t n_skipped;                  /* Number of 'skipped'. */
};

/* Returns true if 'vtep' (network order) is an external VTEP of 's',
 * false for a fabric host. */
bool state_vtep_is_external(const struct state *s, uint32_t vtep);

/* Returns true if MAC 'mac' of VNI 'vni' is in the "forward" of 's'. */
bool state_is_forwarded(const struct state *s, uint32_t vni,
                        const uint8_t mac[6]);

/* Returns true if VTEP 'vtep' of 's' takes VXLAN-GBP: every fabric host,
 * and the external VTEPs that say so. */
bool state_vtep_takes_gbp(const struct state *s, uint32_t vtep);

/* Returns the VM named 'name' of 's', or NULL if it has none. */
const struct state_vm *state_find_vm(const struct state *s, const char *name);

/* Returns the VM named 'name' that moved away from the host of 's', or
 * NULL if none did. */
const struct state_moved_vm *state_find_moved_vm(const struct state *s,
                                                 const char *name);

/* Returns true if 's' left out a VM named 'name' (see 'skipped'). */
bool state_vm_is_skipped(const struct state *s, const char *name);

/* Returns the identity 'id' of 's', or NULL if it has none. */
const struct state_identity *state_find_identity(const struct state *s,
                                                 uint16_t id);

/* Parses and validates the JSON document in the 'len' bytes at 'text'.  On
 * success returns 0 and stores a new model in '*statep'; otherwise returns
 * EINVAL, stores NULL and appends every problem found to 'errors'. */
int state_parse(const char *text, size_t len, struct state **statep,
                struct state_errors *errors);

/* Like state_parse(), for a document already decoded by jansson. */
int state_from_json(const struct json_t *, struct state **statep,
                    struct state_errors *errors);

/* Like state_from_json(), but what is wrong with one element of
 * "networks", "ports", "remotes", "identities" or "vms" leaves out only
 * that element, and what depends on it (the ports and remotes of a network
 * left out, the ports of an identity left out, the VMs of a port left
 * out), recording each in the model's
 * 'skipped' with the reason; everything else is in the model.  If
 * 'underlay_mtu' is not 0, a network whose MTU does not fit it
 * (state_check_mtus()) is left out the same way.  Returns EINVAL, with the
 * reasons in 'errors', only for what no element explains: a document that
 * is not an object, an unknown top-level key, a bad "host". */
int state_from_json_partial(const struct json_t *, uint32_t underlay_mtu,
                            struct state **statep,
                            struct state_errors *errors);

/* Checks the networks' explicit MTUs against 'underlay_mtu', the MTU of the
 * device named in host.underlay.  Returns 0 or EINVAL, appending a message
 * to 'errors' for each network whose MTU does not fit. */
int state_check_mtus(const struct state *, uint32_t underlay_mtu,
                     struct state_errors *errors);

/* Returns the MTU of network 'net': its explicit MTU, or 'underlay_mtu'
 * minus the VXLAN overhead.  'underlay_mtu' 0 means unknown, and assumes
 * STATE_DEFAULT_UNDERLAY_MTU. */
uint32_t state_network_mtu(const struct state_network *net,
                           uint32_t underlay_mtu);

/* Returns the burst, in bytes, used for 'rate' bits per second when the
 * document gives none: max(rate / 8 * STATE_BURST_TIME_MS ms,
 * STATE_MIN_BURST), at most UINT32_MAX. */
uint32_t state_default_burst(uint64_t rate);

/* Whether 'qos' asks for anything: a rate limit or guarantee, a priority,
 * or DSCP marking. */
bool state_qos_is_set(const struct state_qos *qos);

/* Whether 'qos' asks for egress shaping: a rate limit, a guarantee or a
 * priority other than the default, which the port gets through its own
 * class of the underlay's HTB qdisc. */
bool state_qos_is_shaped(const struct state_qos *qos);

/* The capacity of the underlay that shaped ports share, in bits/s: the
 * document's "uplink_rate", else 'link_speed' (the device's speed in bits/s,
 * 0 if unknown), else STATE_DEFAULT_UPLINK_RATE. */
uint64_t state_uplink_rate(const struct state *s, uint64_t link_speed);

void state_destroy(struct state *);

#endif /* agent/state.h */
