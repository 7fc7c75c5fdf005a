/* Link and neighbour operations over rtnetlink (libmnl).  fabric daemons
 * never run "ip" or "tc"; what they need of the kernel's network
 * configuration is here. */
#ifndef DATAPATH_NETLINK_H
#define DATAPATH_NETLINK_H 1

#include <stdbool.h>
#include <stdint.h>

struct nl_link {
    uint32_t ifindex; /* Interface index. */
    uint32_t mtu;     /* MTU. */
    bool up;          /* Administratively up (IFF_UP). */
    char kind[16];    /* rtnetlink kind ("veth", "tun"...), or "". */
    uint8_t mac[6];   /* Hardware address. */
};

/* Looks up the link named 'name'.  Returns 0, ENODEV if there is none, or
 * another errno value. */
int nl_link_get(const char *name, struct nl_link *);
int nl_link_get_by_index(uint32_t ifindex, struct nl_link *);
int nl_link_set_mtu(uint32_t ifindex, uint32_t mtu);
int nl_link_set_up(uint32_t ifindex);

/* Asks the kernel to resolve now the next hop towards 'ipv4' (network
 * order): the address itself when on-link, else its gateway.  Fails with
 * ENETUNREACH if 'ifindex' is not 0 and the route leaves by another device.
 * The fast path then finds the next hop's MAC on the first packet. */
int nl_neigh_resolve(uint32_t ifindex, uint32_t ipv4);

/* How the kernel reaches an underlay address. */
struct nl_nexthop {
    uint32_t ifindex;   /* Device the route leaves by. */
    uint8_t src_mac[6]; /* That device's MAC. */
    uint8_t dst_mac[6]; /* The next hop's MAC. */
};

/* Resolves how to reach 'ipv4' (network order): route, then the next hop's
 * neighbour entry.  Returns 0, EAGAIN when the neighbour is not resolved yet
 * (resolution has then been started: ask again shortly), or another errno
 * value, e.g. ENETUNREACH without a route. */
int nl_nexthop_get(uint32_t ipv4, struct nl_nexthop *);

/* Returns the ifindex of the device the kernel routes 'ipv4' by, in
 * '*ifindex'. */
int nl_route_get_oif(uint32_t ipv4, uint32_t *ifindex);

/* Makes "fq" the root qdisc of 'ifindex', unless it is already, replacing
 * whatever was there.  fq holds each packet until the departure time the
 * fast path gave it (EDT pacing).  Its queue limits are raised from the
 * defaults (10000 packets, 100 per flow) so that the fast path's own
 * horizon, not fq, bounds what a rate-limited port may queue. */
#define NL_FQ_LIMIT 100000
#define NL_FQ_FLOW_LIMIT 10000
int nl_qdisc_ensure_fq(uint32_t ifindex);

#endif /* datapath/netlink.h */
