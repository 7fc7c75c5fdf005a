#include "datapath/netlink.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

/* Sends the request in 'buf' and runs 'cb' on each reply message until the
 * kernel's ACK or error.  Returns 0 or a positive errno value. */
static int
nl_transact(struct nlmsghdr *req, mnl_cb_t cb, void *aux)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct mnl_socket *nl;
    unsigned int portid;
    int error = 0;
    int ret;

    nl = mnl_socket_open(NETLINK_ROUTE);
    if (nl == NULL) {
        return errno;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        error = errno;
        goto out;
    }
    portid = mnl_socket_get_portid(nl);
    req->nlmsg_seq = time(NULL);
    req->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
        error = errno;
        goto out;
    }
    for (;;) {
        ret = mnl_socket_recvfrom(nl, buf, sizeof buf);
        if (ret < 0) {
            error = errno;
            break;
        }
        ret = mnl_cb_run(buf, ret, req->nlmsg_seq, portid, cb, aux);
        if (ret < 0) {
            error = errno;
            break;
        }
        if (ret == MNL_CB_STOP) {
            break;
        }
    }
out:
    mnl_socket_close(nl);
    return error;
}

static int
nl_link_attr_cb(const struct nlattr *attr, void *link_)
{
    struct nl_link *link = link_;

    switch (mnl_attr_get_type(attr)) {
    case IFLA_MTU:
        if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0) {
            link->mtu = mnl_attr_get_u32(attr);
        }
        break;
    case IFLA_ADDRESS:
        if (mnl_attr_get_payload_len(attr) == sizeof link->mac) {
            memcpy(link->mac, mnl_attr_get_payload(attr), sizeof link->mac);
        }
        break;
    case IFLA_LINKINFO: {
        const struct nlattr *info;

        mnl_attr_for_each_nested(info, attr)
        {
            if (mnl_attr_get_type(info) == IFLA_INFO_KIND
                && mnl_attr_validate(info, MNL_TYPE_STRING) == 0) {
                strncpy(link->kind, mnl_attr_get_str(info),
                        sizeof link->kind - 1);
            }
        }
        break;
    }
    }
    return MNL_CB_OK;
}

static int
nl_link_cb(const struct nlmsghdr *nlh, void *link_)
{
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    struct nl_link *link = link_;

    link->ifindex = ifi->ifi_index;
    link->up = (ifi->ifi_flags & IFF_UP) != 0;
    return mnl_attr_parse(nlh, sizeof *ifi, nl_link_attr_cb, link);
}

static int
nl_link_request(const char *name, uint32_t ifindex, struct nl_link *link)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;

    nlh->nlmsg_type = RTM_GETLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    if (name) {
        if (strlen(name) >= IFNAMSIZ) {
            return ENODEV;
        }
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    }
    memset(link, 0, sizeof *link);
    return nl_transact(nlh, nl_link_cb, link);
}

int
nl_link_get(const char *name, struct nl_link *link)
{
    return nl_link_request(name, 0, link);
}

int
nl_link_get_by_index(uint32_t ifindex, struct nl_link *link)
{
    return nl_link_request(NULL, ifindex, link);
}

static int
nl_link_change(uint32_t ifindex, uint32_t mtu, bool up)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ifinfomsg *ifi;

    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    ifi = mnl_nlmsg_put_extra_header(nlh, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    if (up) {
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
    }
    if (mtu) {
        mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    }
    return nl_transact(nlh, NULL, NULL);
}

int
nl_link_set_mtu(uint32_t ifindex, uint32_t mtu)
{
    return mtu ? nl_link_change(ifindex, mtu, false) : EINVAL;
}

int
nl_link_set_up(uint32_t ifindex)
{
    return nl_link_change(ifindex, 0, true);
}

/* What RTM_GETROUTE tells about one destination. */
struct nl_route {
    uint32_t oif;     /* Output device. */
    uint32_t gateway; /* Next hop, network order; 0 if direct. */
};

static int
nl_route_attr_cb(const struct nlattr *attr, void *route_)
{
    struct nl_route *route = route_;

    if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0) {
        return MNL_CB_OK;
    }
    if (mnl_attr_get_type(attr) == RTA_OIF) {
        route->oif = mnl_attr_get_u32(attr);
    } else if (mnl_attr_get_type(attr) == RTA_GATEWAY) {
        route->gateway = mnl_attr_get_u32(attr);
    }
    return MNL_CB_OK;
}

static int
nl_route_cb(const struct nlmsghdr *nlh, void *route)
{
    return mnl_attr_parse(nlh, sizeof(struct rtmsg), nl_route_attr_cb, route);
}

static int
nl_route_get(uint32_t ipv4, struct nl_route *route)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct rtmsg *rtm;
    int error;

    nlh->nlmsg_type = RTM_GETROUTE;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    rtm = mnl_nlmsg_put_extra_header(nlh, sizeof *rtm);
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = 32;
    mnl_attr_put_u32(nlh, RTA_DST, ipv4);
    memset(route, 0, sizeof *route);
    error = nl_transact(nlh, nl_route_cb, route);
    return error ? error : route->oif ? 0 : ENETUNREACH;
}

int
nl_route_get_oif(uint32_t ipv4, uint32_t *ifindex)
{
    struct nl_route route;
    int error = nl_route_get(ipv4, &route);

    *ifindex = error ? 0 : route.oif;
    return error;
}

int
nl_neigh_resolve(uint32_t ifindex, uint32_t ipv4)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct nl_route route;
    struct ndmsg *ndm;
    int error;

    /* The neighbour to resolve is the route's next hop, which is the VTEP
     * itself only when it is on-link. */
    error = nl_route_get(ipv4, &route);
    if (error) {
        return error;
    }
    if (ifindex && route.oif != ifindex) {
        return ENETUNREACH;
    }
    nlh->nlmsg_type = RTM_NEWNEIGH;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE;
    ndm = mnl_nlmsg_put_extra_header(nlh, sizeof *ndm);
    ndm->ndm_family = AF_INET;
    ndm->ndm_ifindex = route.oif;
    ndm->ndm_flags = NTF_USE;
    ndm->ndm_state = NUD_NONE;
    mnl_attr_put_u32(nlh, NDA_DST, route.gateway ? route.gateway : ipv4);
    return nl_transact(nlh, NULL, NULL);
}

/* What RTM_GETNEIGH tells about one neighbour. */
struct nl_neigh {
    uint16_t state;    /* NUD_* bits. */
    bool has_lladdr;   /* 'lladdr' is set. */
    uint8_t lladdr[6]; /* Its MAC. */
};

static int
nl_neigh_attr_cb(const struct nlattr *attr, void *neigh_)
{
    struct nl_neigh *neigh = neigh_;

    if (mnl_attr_get_type(attr) == NDA_LLADDR
        && mnl_attr_get_payload_len(attr) == sizeof neigh->lladdr) {
        memcpy(neigh->lladdr, mnl_attr_get_payload(attr),
               sizeof neigh->lladdr);
        neigh->has_lladdr = true;
    }
    return MNL_CB_OK;
}

static int
nl_neigh_cb(const struct nlmsghdr *nlh, void *neigh_)
{
    const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
    struct nl_neigh *neigh = neigh_;

    neigh->state = ndm->ndm_state;
    return mnl_attr_parse(nlh, sizeof *ndm, nl_neigh_attr_cb, neigh);
}

static int
nl_neigh_get(uint32_t ifindex, uint32_t ipv4, struct nl_neigh *neigh)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct ndmsg *ndm;

    nlh->nlmsg_type = RTM_GETNEIGH;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    ndm = mnl_nlmsg_put_extra_header(nlh, sizeof *ndm);
    ndm->ndm_family = AF_INET;
    ndm->ndm_ifindex = ifindex;
    mnl_attr_put_u32(nlh, NDA_DST, ipv4);
    memset(neigh, 0, sizeof *neigh);
    return nl_transact(nlh, nl_neigh_cb, neigh);
}

int
nl_nexthop_get(uint32_t ipv4, struct nl_nexthop *nh)
{
    struct nl_route route;
    struct nl_neigh neigh;
    struct nl_link link;
    uint32_t next;
    int error;

    memset(nh, 0, sizeof *nh);
    error = nl_route_get(ipv4, &route);
    if (error) {
        return error;
    }
    error = nl_link_get_by_index(route.oif, &link);
    if (error) {
        return error;
    }
    next = route.gateway ? route.gateway : ipv4;
    error = nl_neigh_get(route.oif, next, &neigh);
    if ((error && error != ENOENT)) {
        return error;
    }
    if (error || !neigh.has_lladdr
        || !(neigh.state
             & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE
                | NUD_PERMANENT | NUD_NOARP))) {
        error = nl_neigh_resolve(route.oif, ipv4);
        return error ? error : EAGAIN;
    }
    if (neigh.state & NUD_STALE) {
        /* The fast path sends without the kernel's neighbour code, which
         * therefore never confirms a stale entry: ask for a probe, so a
         * VTEP whose MAC changed is noticed on the next call. */
        nl_neigh_resolve(route.oif, ipv4);
    }
    nh->ifindex = route.oif;
    memcpy(nh->src_mac, link.mac, sizeof nh->src_mac);
    memcpy(nh->dst_mac, neigh.lladdr, sizeof nh->dst_mac);
    return 0;
}

#define NL_QDISC_KIND_LEN 16

/* What RTM_GETQDISC tells about a root qdisc. */
struct nl_qdisc {
    uint32_t ifindex;             /* The device asked about. */
    char kind[NL_QDISC_KIND_LEN]; /* "fq", "htb", "noqueue"...; "" if
                                   * none was found. */
    uint32_t handle;              /* Its handle, major:0. */
};

static int
nl_qdisc_attr_cb(const struct nlattr *attr, void *qdisc_)
{
    struct nl_qdisc *qdisc = qdisc_;

    if (mnl_attr_get_type(attr) == TCA_KIND
        && mnl_attr_validate(attr, MNL_TYPE_STRING) == 0) {
        strncpy(qdisc->kind, mnl_attr_get_str(attr), NL_QDISC_KIND_LEN - 1);
    }
    return MNL_CB_OK;
}

static int
nl_qdisc_cb(const struct nlmsghdr *nlh, void *qdisc_)
{
    const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
    struct nl_qdisc *qdisc = qdisc_;

    if ((uint32_t) tcm->tcm_ifindex != qdisc->ifindex
        || tcm->tcm_parent != TC_H_ROOT) {
        return MNL_CB_OK;
    }
    qdisc->handle = tcm->tcm_handle;
    return mnl_attr_parse(nlh, sizeof *tcm, nl_qdisc_attr_cb, qdisc);
}

/* Stores in 'qdisc' the kind and handle of the root qdisc of 'ifindex'.
 * (A plain RTM_GETQDISC for the root answers with an ACK only: this
 * dumps.) */
static int
nl_qdisc_root(uint32_t ifindex, struct nl_qdisc *qdisc)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct tcmsg *tcm;

    nlh->nlmsg_type = RTM_GETQDISC;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    tcm = mnl_nlmsg_put_extra_header(nlh, sizeof *tcm);
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = ifindex;
    memset(qdisc, 0, sizeof *qdisc);
    qdisc->ifindex = ifindex;
    return nl_transact(nlh, nl_qdisc_cb, qdisc);
}

/* Starts in 'buf' a tc request of 'type' with 'flags' for 'ifindex',
 * 'parent' and 'handle', and returns it. */
static struct nlmsghdr *
nl_tc_request(char *buf, uint16_t type, uint16_t flags, uint32_t ifindex,
              uint32_t parent, uint32_t handle)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct tcmsg *tcm;

    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    tcm = mnl_nlmsg_put_extra_header(nlh, sizeof *tcm);
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = ifindex;
    tcm->tcm_parent = parent;
    tcm->tcm_handle = handle;
    return nlh;
}

int
nl_qdisc_ensure_fq(uint32_t ifindex)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nl_qdisc qdisc;
    struct nlattr *options;
    struct nlmsghdr *nlh;

    if (!nl_qdisc_root(ifindex, &qdisc) && !strcmp(qdisc.kind, "fq")) {
        return 0;
    }
    nlh = nl_tc_request(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE,
                        ifindex, TC_H_ROOT, 0);
    mnl_attr_put_strz(nlh, TCA_KIND, "fq");
    options = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put_u32(nlh, TCA_FQ_PLIMIT, NL_FQ_LIMIT);
    mnl_attr_put_u32(nlh, TCA_FQ_FLOW_PLIMIT, NL_FQ_FLOW_LIMIT);
    mnl_attr_nest_end(nlh, options);
    return nl_transact(nlh, NULL, NULL);
}

int
nl_htb_ensure(uint32_t ifindex, uint16_t major, uint16_t default_minor,
              int32_t overhead)
{
    struct tc_sizespec size = {
        .overhead = overhead,
        .linklayer = TC_LINKLAYER_ETHERNET,
    };
    struct tc_htb_glob glob = {
        .version = 3,
        .rate2quantum = 10,
        .defcls = default_minor,
    };
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nl_qdisc qdisc;
    struct nlattr *options, *stab;
    struct nlmsghdr *nlh;

    if (!nl_qdisc_root(ifindex, &qdisc) && !strcmp(qdisc.kind, "htb")
        && qdisc.handle == TC_H_MAKE((uint32_t) major << 16, 0)) {
        return 0;
    }
    nlh = nl_tc_request(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE,
                        ifindex, TC_H_ROOT, (uint32_t) major << 16);
    mnl_attr_put_strz(nlh, TCA_KIND, "htb");
    /* A size table without a table: each packet counts as skb->len plus
     * 'overhead', once per GSO packet; without one, the kernel would count
     * the headers of every segment. */
    stab = mnl_attr_nest_start(nlh, TCA_STAB);
    mnl_attr_put(nlh, TCA_STAB_BASE, sizeof size, &size);
    mnl_attr_nest_end(nlh, stab);
    options = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put(nlh, TCA_HTB_INIT, sizeof glob, &glob);
    mnl_attr_nest_end(nlh, options);
    return nl_transact(nlh, NULL, NULL);
}

int
nl_htb_remove(uint32_t ifindex, uint16_t major)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nl_qdisc qdisc;
    int error;

    error = nl_qdisc_root(ifindex, &qdisc);
    if (error || strcmp(qdisc.kind, "htb")
        || qdisc.handle != TC_H_MAKE((uint32_t) major << 16, 0)) {
        return error;
    }
    return nl_transact(
        nl_tc_request(buf, RTM_DELQDISC, 0, ifindex, TC_H_ROOT, qdisc.handle),
        NULL, NULL);
}

/* PSCHED ticks, in which HTB takes its buffers, are 64 ns. */
#define NL_PSCHED_TICK_NS 64

/* Returns how many PSCHED ticks sending 'bytes' at 'rate' bits/s takes. */
static uint32_t
nl_htb_ticks(uint64_t bytes, uint64_t rate)
{
    /* In floating point: bytes * 8e9 overflows 64 bits from 2.3 GB. */
    double ticks = (double) bytes * 8e9 / (double) rate / NL_PSCHED_TICK_NS;

    return ticks >= UINT32_MAX ? UINT32_MAX : (uint32_t) ticks;
}

/* Fills 'spec' with 'rate' bits/s for an Ethernet link layer, which
 * spares the kernel rate tables, and returns the rate in bytes/s. */
static uint64_t
nl_htb_ratespec(struct tc_ratespec *spec, uint64_t rate)
{
    uint64_t bps = rate / 8 ? rate / 8 : 1;

    spec->linklayer = TC_LINKLAYER_ETHERNET;
    spec->rate = bps > UINT32_MAX ? UINT32_MAX : (uint32_t) bps;
    return bps;
}

/* The default burst of a class: a GSO packet and 10 ms at 'rate'. */
#define NL_HTB_MIN_BURST 65536
#define NL_HTB_BURST_MS 10

/* The bounds of an HTB quantum (bytes a class sends in its turn to
 * borrow): at least a full-size frame, at most what the kernel accepts
 * without warning. */
#define NL_HTB_MIN_QUANTUM 1600
#define NL_HTB_MAX_QUANTUM 200000

int
nl_htb_class_set(uint32_t ifindex, uint16_t major, uint16_t parent_minor,
                 uint16_t minor, const struct nl_htb_class *c)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct tc_htb_opt opt = {.prio = c->prio};
    uint64_t rate_bps, ceil_bps, quantum;
    uint32_t handle = TC_H_MAKE((uint32_t) major << 16, minor);
    struct nlattr *options;
    struct nlmsghdr *nlh;
    uint64_t burst;

    if (!c->rate || c->ceil < c->rate) {
        return EINVAL;
    }
    burst = c->burst;
    if (!burst) {
        burst = c->rate / 8 / (1000 / NL_HTB_BURST_MS) + NL_HTB_MIN_BURST;
    }
    rate_bps = nl_htb_ratespec(&opt.rate, c->rate);
    ceil_bps = nl_htb_ratespec(&opt.ceil, c->ceil);
    opt.buffer = nl_htb_ticks(burst, c->rate);
    opt.cbuffer = nl_htb_ticks(burst, c->ceil);
    quantum = rate_bps / 10;
    opt.quantum = quantum < NL_HTB_MIN_QUANTUM   ? NL_HTB_MIN_QUANTUM
                  : quantum > NL_HTB_MAX_QUANTUM ? NL_HTB_MAX_QUANTUM
                                                 : (uint32_t) quantum;

    nlh =
        nl_tc_request(buf, RTM_NEWTCLASS, NLM_F_CREATE, ifindex,
                      TC_H_MAKE((uint32_t) major << 16, parent_minor), handle);
    mnl_attr_put_strz(nlh, TCA_KIND, "htb");
    options = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put(nlh, TCA_HTB_PARMS, sizeof opt, &opt);
    if (rate_bps > UINT32_MAX) {
        mnl_attr_put_u64(nlh, TCA_HTB_RATE64, rate_bps);
    }
    if (ceil_bps > UINT32_MAX) {
        mnl_attr_put_u64(nlh, TCA_HTB_CEIL64, ceil_bps);
    }
    mnl_attr_nest_end(nlh, options);
    return nl_transact(nlh, NULL, NULL);
}

int
nl_htb_leaf_set(uint32_t ifindex, uint16_t major, uint16_t minor,
                uint32_t limit)
{
    struct tc_fifo_qopt opt = {.limit = limit};
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh;

    nlh = nl_tc_request(buf, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE,
                        ifindex, TC_H_MAKE((uint32_t) major << 16, minor),
                        (uint32_t) minor << 16);
    mnl_attr_put_strz(nlh, TCA_KIND, "bfifo");
    mnl_attr_put(nlh, TCA_OPTIONS, sizeof opt, &opt);
    return nl_transact(nlh, NULL, NULL);
}

int
nl_htb_class_del(uint32_t ifindex, uint16_t major, uint16_t minor)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];

    return nl_transact(nl_tc_request(buf, RTM_DELTCLASS, 0, ifindex, 0,
                                     TC_H_MAKE((uint32_t) major << 16, minor)),
                       NULL, NULL);
}

/* Where nl_htb_class_list() collects minors. */
struct nl_htb_minors {
    uint16_t major;   /* Of the classes wanted. */
    uint16_t *minors; /* Found so far. */
    size_t max;       /* Room in 'minors'. */
    size_t n;         /* Number of 'minors'. */
};

static int
nl_htb_class_cb(const struct nlmsghdr *nlh, void *list_)
{
    const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
    struct nl_htb_minors *list = list_;

    if (TC_H_MAJ(tcm->tcm_handle) == (uint32_t) list->major << 16
        && list->n < list->max) {
        list->minors[list->n++] = TC_H_MIN(tcm->tcm_handle);
    }
    return MNL_CB_OK;
}

int
nl_htb_class_list(uint32_t ifindex, uint16_t major, uint16_t *minors,
                  size_t max, size_t *n)
{
    struct nl_htb_minors list = {major, minors, max, 0};
    char buf[MNL_SOCKET_BUFFER_SIZE];
    int error;

    error = nl_transact(
        nl_tc_request(buf, RTM_GETTCLASS, NLM_F_DUMP, ifindex, 0, 0),
        nl_htb_class_cb, &list);
    *n = list.n;
    return error;
}
