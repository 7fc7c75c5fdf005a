/* Link and neighbour operations over rtnetlink (libmnl).  fabric daemons
 * never run "ip" or "tc"; what they need of the kernel's network
 * configuration is here. */
#ifndef DATAPATH_NETLINK_H
#define DATAPATH_NETLINK_H 1

#include <stdbool.h>
#include <stddef.h>
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

/* One class of an HTB qdisc. */
struct nl_htb_class {
    uint64_t rate;  /* Guaranteed rate, bits/s. */
    uint64_t ceil;  /* Most it may borrow up to, bits/s, >= 'rate'. */
    uint32_t prio;  /* 0 (first to borrow) .. 7. */
    uint32_t burst; /* Bytes sent at 'ceil' at once; 0 for a default that
                     * covers a GSO packet and 10 ms at 'rate'. */
};

/* Makes an HTB qdisc with handle 'major':0 the root qdisc of 'ifindex',
 * unless it is already, replacing whatever was there.  Unclassified
 * packets go to class 'major':'default_minor'.  Each packet counts as its
 * length plus 'overhead' bytes (which may be negative, to count
 * encapsulated packets as they were before encapsulation), once per GSO
 * packet rather than once per segment.  An HTB that is already there keeps
 * its classes, queued packets and accounting. */
int nl_htb_ensure(uint32_t ifindex, uint16_t major, uint16_t default_minor,
                  int32_t overhead);

/* Removes the root qdisc of 'ifindex' if it is an HTB with handle
 * 'major':0, giving the device its default qdisc back. */
int nl_htb_remove(uint32_t ifindex, uint16_t major);

/* Creates class 'major':'minor' as a child of 'major':'parent_minor' (0:
 * of the qdisc itself) with the parameters in 'c', or changes it in place
 * if it exists, so that its queue and the flows in it go on. */
int nl_htb_class_set(uint32_t ifindex, uint16_t major, uint16_t parent_minor,
                     uint16_t minor, const struct nl_htb_class *c);

/* Gives class 'major':'minor' of 'ifindex' a "bfifo" queue of 'limit'
 * bytes, with handle 'minor':0, instead of HTB's default queue of as many
 * packets as the device's txqueuelen (GSO packets of up to 64 KiB each,
 * seconds of delay at a low rate).  A queue already there only has its
 * limit changed, keeping its packets. */
int nl_htb_leaf_set(uint32_t ifindex, uint16_t major, uint16_t minor,
                    uint32_t limit);

/* Deletes class 'major':'minor' of 'ifindex'. */
int nl_htb_class_del(uint32_t ifindex, uint16_t major, uint16_t minor);

/* Stores in 'minors' (room for 'max') the minors of the classes of
 * 'ifindex' whose major is 'major', and their number in '*n'. */
int nl_htb_class_list(uint32_t ifindex, uint16_t major, uint16_t *minors,
                      size_t max, size_t *n);

#endif /* datapath/netlink.h */
