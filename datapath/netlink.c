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

static int
nl_qdisc_attr_cb(const struct nlattr *attr, void *kind)
{
    if (mnl_attr_get_type(attr) == TCA_KIND
        && mnl_attr_validate(attr, MNL_TYPE_STRING) == 0) {
        strncpy(kind, mnl_attr_get_str(attr), NL_QDISC_KIND_LEN - 1);
    }
    return MNL_CB_OK;
}

static int
nl_qdisc_cb(const struct nlmsghdr *nlh, void *kind)
{
    return mnl_attr_parse(nlh, sizeof(struct tcmsg), nl_qdisc_attr_cb, kind);
}

/* Stores in 'kind' the kind of the root qdisc of 'ifindex' ("fq",
 * "noqueue", "mq"...). */
static int
nl_qdisc_root_kind(uint32_t ifindex, char kind[NL_QDISC_KIND_LEN])
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    struct tcmsg *tcm;

    nlh->nlmsg_type = RTM_GETQDISC;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    tcm = mnl_nlmsg_put_extra_header(nlh, sizeof *tcm);
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = ifindex;
    tcm->tcm_parent = TC_H_ROOT;
    memset(kind, 0, NL_QDISC_KIND_LEN);
    return nl_transact(nlh, nl_qdisc_cb, kind);
}

int
nl_qdisc_ensure_fq(uint32_t ifindex)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    char kind[NL_QDISC_KIND_LEN];
    struct nlattr *options;
    struct tcmsg *tcm;

    if (!nl_qdisc_root_kind(ifindex, kind) && !strcmp(kind, "fq")) {
        return 0;
    }
    nlh->nlmsg_type = RTM_NEWQDISC;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE;
    tcm = mnl_nlmsg_put_extra_header(nlh, sizeof *tcm);
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = ifindex;
    tcm->tcm_parent = TC_H_ROOT;
    mnl_attr_put_strz(nlh, TCA_KIND, "fq");
    options = mnl_attr_nest_start(nlh, TCA_OPTIONS);
    mnl_attr_put_u32(nlh, TCA_FQ_PLIMIT, NL_FQ_LIMIT);
    mnl_attr_put_u32(nlh, TCA_FQ_FLOW_PLIMIT, NL_FQ_FLOW_LIMIT);
    mnl_attr_nest_end(nlh, options);
    return nl_transact(nlh, NULL, NULL);
}
