/* Connection tracking for the distributed firewall: flow keys, the TCP state
 * machine and per-state timeouts.
 *
 * Everything here is a pure function over plain structs and packet bytes,
 * so the tc programs, the DPDK backend and the unit tests share it.  The
 * table itself (a bounded LRU hash keyed by struct ct_key) belongs to the
 * backend; so does the decision to create an entry, which it makes only
 * for a packet the policy allows.
 *
 * One entry per connection.  Both directions of a flow map to the same key:
 * the key holds the two endpoints (address, port) in canonical order, the
 * lower one first, comparing the address bytes in network order and then the
 * port bytes in network order (so as big-endian numbers).  ct_key_from_info()
 * says which way a packet travels relative to that order; the entry
 * remembers which way its first packet went, and ct_entry_update() turns the
 * one into the other, so the backend never has to think about it.
 *
 * How a backend uses it, per packet:
 *
 *     kind = ct_key_from_info(&info, vni, &key, &dir);
 *     CT_KEY_RELATED: ct_key_from_icmp_error(data, end, &info, vni, &key,
 *                     &dir); a hit lets the error through and refreshes
 *                     nothing; a miss drops it.
 *     CT_KEY_FLOW:    lookup; on a miss ask the policy, and if it allows,
 *                     ct_entry_init() and insert; then ct_entry_update() with
 *                     ct_tcp_flags() and drop the packet if it returns
 *                     CT_INVALID.  An entry with ct_entry_expired() is
 *                     treated as a miss.
 *     CT_KEY_NONE:    untrackable (not IP, or an IP fragment past the
 *                     first): the backend's choice, normally the policy
 *                     alone.
 *
 * Limits: no TCP sequence or window tracking, so an RST is believed without
 * checking that it falls in the window; counters and state are updated
 * without atomics, which a per-CPU race can only make slightly wrong. */
#ifndef FIREWALL_CT_H
#define FIREWALL_CT_H 1

#include "packet/parse.h"

/* Timeouts, in nanoseconds, after the last packet that an entry accepted.
 * The TCP values are Linux nf_conntrack's defaults (nf_conntrack_tcp_timeout_
 * *); UDP follows the issue: 30 s until the first reply, 180 s once the
 * peer has answered; an ICMP echo exchange lives 30 s, like Linux's
 * nf_conntrack_icmp_timeout; other IP protocols 600 s, like
 * nf_conntrack_generic_timeout. */
#define CT_SEC 1000000000ULL
#define CT_TIMEOUT_TCP_SYN_SENT (120 * CT_SEC)
#define CT_TIMEOUT_TCP_SYN_RECV (60 * CT_SEC)
#define CT_TIMEOUT_TCP_ESTABLISHED (5 * 24 * 3600 * CT_SEC)
#define CT_TIMEOUT_TCP_FIN_WAIT (120 * CT_SEC)
#define CT_TIMEOUT_TCP_CLOSE_WAIT (60 * CT_SEC)
#define CT_TIMEOUT_TCP_LAST_ACK (30 * CT_SEC)
#define CT_TIMEOUT_TCP_TIME_WAIT (120 * CT_SEC)
#define CT_TIMEOUT_TCP_CLOSE (10 * CT_SEC)
#define CT_TIMEOUT_UDP_UNREPLIED (30 * CT_SEC)
#define CT_TIMEOUT_UDP_REPLIED (180 * CT_SEC)
#define CT_TIMEOUT_ICMP (30 * CT_SEC)
#define CT_TIMEOUT_OTHER_UNREPLIED (30 * CT_SEC)
#define CT_TIMEOUT_OTHER_REPLIED (600 * CT_SEC)

/* ICMP and ICMPv6 message types the tracker knows. */
#define CT_ICMP_ECHO_REPLY 0
#define CT_ICMP_DEST_UNREACH 3
#define CT_ICMP_ECHO_REQUEST 8
#define CT_ICMP_TIME_EXCEEDED 11
#define CT_ICMP_PARAM_PROBLEM 12
#define CT_ICMP6_DEST_UNREACH 1
#define CT_ICMP6_PACKET_TOO_BIG 2
#define CT_ICMP6_TIME_EXCEEDED 3
#define CT_ICMP6_PARAM_PROBLEM 4
#define CT_ICMP6_ECHO_REQUEST 128
#define CT_ICMP6_ECHO_REPLY 129

/* ct_key_from_icmp_error() and ct_tcp_flags() look at an L4 header only if
 * it starts before this offset into the frame (a power of 2).  Bounding the
 * offset is what lets the BPF verifier accept packet reads at it; real
 * headers start far earlier. */
#define CT_L4_OFF_MAX 1024

/* Address families in struct ct_key. */
#define CT_FAMILY_IPV4 4
#define CT_FAMILY_IPV6 6

/* One connection, the same for both of its directions.  An IPv4 address
 * sits in the first four bytes of its 16-byte slot, the rest zero; 'family'
 * keeps an IPv4 flow apart from an IPv6 one with the same bytes. */
struct ct_key {
    __u8 addr_a[16]; /* Lower endpoint's address. */
    __u8 addr_b[16]; /* Higher endpoint's address. */
    __be16 port_a;   /* Lower endpoint's port; the echo id for ICMP. */
    __be16 port_b;   /* Higher endpoint's port; the echo id for ICMP. */
    __u32 vni;       /* Zone: the virtual network of the flow. */
    __u8 proto;      /* IP protocol. */
    __u8 family;     /* CT_FAMILY_IPV4 or CT_FAMILY_IPV6. */
    __u8 pad[2];     /* Zero, so that keys compare and hash as bytes. */
};

/* Which way a packet travels relative to a struct ct_key. */
#define CT_KEY_DIR_AB 0 /* From endpoint 'a' to endpoint 'b'. */
#define CT_KEY_DIR_BA 1 /* From endpoint 'b' to endpoint 'a'. */

/* What ct_key_from_info() made of a packet. */
enum ct_key_kind {
    CT_KEY_NONE = -1,   /* Not trackable: not IP, or a later fragment. */
    CT_KEY_FLOW = 0,    /* '*key' is the packet's own connection. */
    CT_KEY_RELATED = 1, /* An ICMP error: see ct_key_from_icmp_error(). */
};

/* Connection states.  UDP, ICMP and other protocols use only CT_NEW (no
 * reply yet) and CT_ESTABLISHED (the peer has answered). */
enum ct_state {
    CT_NEW = 0,         /* Created, no packet accepted yet. */
    CT_SYN_SENT = 1,    /* TCP: originator's SYN seen. */
    CT_SYN_RECV = 2,    /* TCP: responder's SYN-ACK seen. */
    CT_ESTABLISHED = 3, /* TCP: handshake done; others: replied. */
    CT_FIN_WAIT = 4,    /* TCP: one side sent FIN. */
    CT_CLOSE_WAIT = 5,  /* TCP: the other side ACKed that FIN. */
    CT_LAST_ACK = 6,    /* TCP: both sides sent FIN. */
    CT_TIME_WAIT = 7,   /* TCP: the last FIN was ACKed. */
    CT_CLOSE = 8,       /* TCP: reset. */
};

/* Directions from the connection's point of view. */
#define CT_DIR_ORIG 0  /* From the endpoint that sent the first packet. */
#define CT_DIR_REPLY 1 /* Towards it. */

/* Bits of struct ct_entry's 'seen', per direction. */
#define CT_SEEN_SYN 0x01
#define CT_SEEN_ACK 0x02
#define CT_SEEN_FIN 0x04
#define CT_SEEN_RST 0x08
#define CT_SEEN_FIN_FIRST 0x10 /* This side closed first. */

/* What ct_entry_update() says about a packet. */
enum ct_verdict {
    CT_ACCEPT = 0,  /* Valid for this connection; the entry is updated. */
    CT_INVALID = 1, /* Not valid here: drop it; only 'invalid' counts it. */
};

/* The state of one connection.  Laid out without implicit padding, so that
 * it can be a map value as it is. */
struct ct_entry {
    __u64 created_ns;   /* When ct_entry_init() ran. */
    __u64 last_seen_ns; /* When the last accepted packet was seen. */
    __u64 packets[2];   /* Accepted packets, by CT_DIR_*. */
    __u64 bytes[2];     /* Their bytes, by CT_DIR_*. */
    __u32 invalid;      /* Packets refused with CT_INVALID. */
    __u8 state;         /* enum ct_state. */
    __u8 proto;         /* IP protocol, as in the key. */
    __u8 orig_key_dir;  /* CT_KEY_DIR_* of the first packet. */
    __u8 seen[2];       /* CT_SEEN_* bits, by CT_DIR_*. */
    __u8 pad[3];        /* Zero. */
};

/* Returns the ICMP or ICMPv6 type in 'info', which must be ICMP. */
PKT_INLINE __u8
ct_icmp_type(const struct pkt_info *info)
{
    return bpf_ntohs(info->sport) >> 8;
}

/* Returns true if 'info' is an ICMP error that quotes the packet it is
 * about: IPv4 destination unreachable, time exceeded and parameter problem;
 * ICMPv6 destination unreachable, packet too big, time exceeded and
 * parameter problem. */
PKT_INLINE bool
ct_icmp_is_error(const struct pkt_info *info)
{
    __u8 type;

    if (info->fragment) {
        return false;
    }
    type = ct_icmp_type(info);
    if (info->l3_proto == PKT_ETH_P_IPV4
        && info->l4_proto == PKT_IPPROTO_ICMP) {
        return type == CT_ICMP_DEST_UNREACH || type == CT_ICMP_TIME_EXCEEDED
               || type == CT_ICMP_PARAM_PROBLEM;
    }
    if (info->l3_proto == PKT_ETH_P_IPV6
        && info->l4_proto == PKT_IPPROTO_ICMPV6) {
        return type == CT_ICMP6_DEST_UNREACH || type == CT_ICMP6_PACKET_TOO_BIG
               || type == CT_ICMP6_TIME_EXCEEDED
               || type == CT_ICMP6_PARAM_PROBLEM;
    }
    return false;
}

/* Returns true if ICMP or ICMPv6 type 'type' of protocol 'proto' is an echo
 * request or reply, the only ICMP messages that form a pseudo-connection. */
PKT_INLINE bool
ct_icmp_is_echo(__u8 proto, __u8 type)
{
    if (proto == PKT_IPPROTO_ICMP) {
        return type == CT_ICMP_ECHO_REQUEST || type == CT_ICMP_ECHO_REPLY;
    }
    return type == CT_ICMP6_ECHO_REQUEST || type == CT_ICMP6_ECHO_REPLY;
}

/* Returns true if the packet that 'info' describes may create a connection
 * once the policy allows it: anything trackable except an ICMP echo reply.
 * For TCP, ct_entry_update() then insists on a SYN. */
PKT_INLINE bool
ct_info_may_create(const struct pkt_info *info)
{
    __u8 type;

    if (info->l4_proto != PKT_IPPROTO_ICMP
        && info->l4_proto != PKT_IPPROTO_ICMPV6) {
        return true;
    }
    type = ct_icmp_type(info);
    return type == CT_ICMP_ECHO_REQUEST || type == CT_ICMP6_ECHO_REQUEST;
}

/* Returns 'off', which must be below CT_L4_OFF_MAX, masked with
 * CT_L4_OFF_MAX - 1 in a way the compiler cannot drop, so that the BPF
 * verifier sees the bound on the very register that moves the cursor. */
PKT_INLINE __u32
ct_bound_l4_off(__u32 off)
{
#ifdef __bpf__
    asm volatile("%0 &= %1" : "+r"(off) : "i"(CT_L4_OFF_MAX - 1));
#else
    off &= CT_L4_OFF_MAX - 1;
#endif
    return off;
}

/* Returns negative, zero or positive as 'a' (16 bytes) then port 'pa' sorts
 * before, with or after 'b' then 'pb', all compared as big-endian bytes. */
PKT_INLINE int
ct_endpoint_cmp(const __u8 *a, __be16 pa, const __u8 *b, __be16 pb)
{
    __u16 ha = bpf_ntohs(pa);
    __u16 hb = bpf_ntohs(pb);
    int i;

    for (i = 0; i < 16; i++) {
        if (a[i] != b[i]) {
            return a[i] < b[i] ? -1 : 1;
        }
    }
    return ha == hb ? 0 : ha < hb ? -1 : 1;
}

/* Fills '*key' with the connection from source 'src' port 'sport' to
 * destination 'dst' port 'dport' (16-byte address slots) in canonical order,
 * and stores in '*key_dir' the CT_KEY_DIR_* the packet travels.  A packet
 * whose two endpoints are equal travels CT_KEY_DIR_AB. */
PKT_INLINE void
ct_key_fill(struct ct_key *key, const __u8 *src, __be16 sport, const __u8 *dst,
            __be16 dport, __u32 vni, __u8 proto, __u8 family, bool *key_dir)
{
    __builtin_memset(key, 0, sizeof *key);
    if (ct_endpoint_cmp(src, sport, dst, dport) <= 0) {
        __builtin_memcpy(key->addr_a, src, 16);
        __builtin_memcpy(key->addr_b, dst, 16);
        key->port_a = sport;
        key->port_b = dport;
        *key_dir = CT_KEY_DIR_AB;
    } else {
        __builtin_memcpy(key->addr_a, dst, 16);
        __builtin_memcpy(key->addr_b, src, 16);
        key->port_a = dport;
        key->port_b = sport;
        *key_dir = CT_KEY_DIR_BA;
    }
    key->vni = vni;
    key->proto = proto;
    key->family = family;
}

/* Puts IPv4 address 'addr' into the 16-byte slot 'slot'. */
PKT_INLINE void
ct_addr4_slot(__u8 *slot, __be32 addr)
{
    __builtin_memset(slot, 0, 16);
    __builtin_memcpy(slot, &addr, 4);
}

/* Builds in '*key' the connection of the packet that 'info' describes, seen
 * on virtual network 'vni', and stores in '*reply_dir' whether the packet
 * travels from the key's endpoint 'b' to 'a' (CT_KEY_DIR_BA) rather than
 * from 'a' to 'b'.  TCP and UDP flows are keyed by addresses and ports, ICMP
 * echo by addresses and the echo id (in both port slots, so that request and
 * reply meet), other IP protocols by addresses alone.  Returns CT_KEY_FLOW
 * when '*key' is set, CT_KEY_RELATED for an ICMP error (pass it to
 * ct_key_from_icmp_error()) and CT_KEY_NONE when there is nothing to track:
 * not IP, a fragment without its L4 header, or an ICMP message that is
 * neither echo nor error. */
PKT_INLINE int
ct_key_from_info(const struct pkt_info *info, __u32 vni, struct ct_key *key,
                 bool *reply_dir)
{
    __u8 src[16];
    __u8 dst[16];
    __be16 sport = info->sport;
    __be16 dport = info->dport;
    __u8 family;

    if (info->l3_proto == PKT_ETH_P_IPV4) {
        family = CT_FAMILY_IPV4;
        ct_addr4_slot(src, info->src4);
        ct_addr4_slot(dst, info->dst4);
    } else if (info->l3_proto == PKT_ETH_P_IPV6) {
        family = CT_FAMILY_IPV6;
        __builtin_memcpy(src, info->src6, 16);
        __builtin_memcpy(dst, info->dst6, 16);
    } else {
        return CT_KEY_NONE;
    }
    if (info->fragment) {
        return CT_KEY_NONE;
    }
    if (info->l4_proto == PKT_IPPROTO_ICMP
        || info->l4_proto == PKT_IPPROTO_ICMPV6) {
        if (ct_icmp_is_error(info)) {
            return CT_KEY_RELATED;
        }
        if (!ct_icmp_is_echo(info->l4_proto, ct_icmp_type(info))) {
            return CT_KEY_NONE;
        }
        sport = info->dport;
    } else if (info->l4_proto != PKT_IPPROTO_TCP
               && info->l4_proto != PKT_IPPROTO_UDP) {
        sport = 0;
        dport = 0;
    }
    ct_key_fill(key, src, sport, dst, dport, vni, info->l4_proto, family,
                reply_dir);
    return CT_KEY_FLOW;
}

/* Parses the packet that the ICMP error in ['data', 'end') quotes, where
 * 'info' is pkt_parse_frame()'s result for that frame and
 * ct_key_from_info() said CT_KEY_RELATED.  The quote must be an IP header of
 * the same family as the error, addressed from the error's destination (the
 * endpoint that sent the offending packet), followed by at least the TCP or
 * UDP ports or the 8-byte ICMP echo request header; routers need quote no
 * more (RFC 792).  On success fills '*key' with the connection the quoted
 * packet belongs to, stores in '*reply_dir' the CT_KEY_DIR_* that the error
 * travels (the opposite of the quoted packet) and returns 0.  Returns -1 if
 * the quote is truncated, malformed, a fragment without its L4 header, of
 * another protocol, itself an ICMP error, or from someone else. */
PKT_INLINE int
ct_key_from_icmp_error(void *data, void *end, const struct pkt_info *info,
                       __u32 vni, struct ct_key *key, bool *reply_dir)
{
    struct pkt_cursor c;
    struct pkt_icmp *icmp;
    __u8 src[16];
    __u8 dst[16];
    __u8 outer_dst[16];
    __be16 ports[2];
    __u8 family;
    bool inner_dir;
    int proto;

    __u32 l4_off = info->l4_off;

    if (!l4_off || l4_off >= CT_L4_OFF_MAX || !ct_icmp_is_error(info)) {
        return -1;
    }
    l4_off = ct_bound_l4_off(l4_off);
    pkt_cursor_init(&c, data, end);
    if (c.pos + l4_off > c.end) {
        return -1;
    }
    c.pos += l4_off;
    if (pkt_parse_icmp(&c, &icmp) < 0) {
        return -1;
    }
    if (info->l3_proto == PKT_ETH_P_IPV4) {
        struct pkt_ipv4 *ip;

        family = CT_FAMILY_IPV4;
        proto = pkt_parse_ipv4(&c, &ip);
        if (proto < 0 || pkt_ipv4_is_later_fragment(ip)) {
            return -1;
        }
        ct_addr4_slot(src, ip->saddr);
        ct_addr4_slot(dst, ip->daddr);
        ct_addr4_slot(outer_dst, info->dst4);
    } else {
        struct pkt_ipv6 *ip6;
        bool fragment;

        family = CT_FAMILY_IPV6;
        proto = pkt_parse_ipv6(&c, &ip6, &fragment);
        if (proto < 0 || fragment) {
            return -1;
        }
        __builtin_memcpy(src, ip6->saddr, 16);
        __builtin_memcpy(dst, ip6->daddr, 16);
        __builtin_memcpy(outer_dst, info->dst6, 16);
    }
    if (ct_endpoint_cmp(src, 0, outer_dst, 0) != 0) {
        return -1;
    }
    if (proto == PKT_IPPROTO_TCP || proto == PKT_IPPROTO_UDP) {
        if (c.pos + sizeof ports > c.end) {
            return -1;
        }
        __builtin_memcpy(ports, c.pos, sizeof ports);
    } else if ((proto == PKT_IPPROTO_ICMP && family == CT_FAMILY_IPV4)
               || (proto == PKT_IPPROTO_ICMPV6 && family == CT_FAMILY_IPV6)) {
        struct pkt_icmp *echo;

        if (pkt_parse_icmp(&c, &echo) < 0) {
            return -1;
        }
        if (echo->type
            != (family == CT_FAMILY_IPV4 ? CT_ICMP_ECHO_REQUEST
                                         : CT_ICMP6_ECHO_REQUEST)) {
            return -1;
        }
        ports[0] = echo->id;
        ports[1] = echo->id;
    } else {
        return -1;
    }
    ct_key_fill(key, src, ports[0], dst, ports[1], vni, proto, family,
                &inner_dir);
    *reply_dir = !inner_dir;
    return 0;
}

/* Returns the TCP flags of the frame in ['data', 'end') that 'info'
 * describes, or 0 if it is not TCP or has no TCP header. */
PKT_INLINE __u8
ct_tcp_flags(void *data, void *end, const struct pkt_info *info)
{
    struct pkt_cursor c;
    struct pkt_tcp *tcp;

    __u32 l4_off = info->l4_off;

    if (info->l4_proto != PKT_IPPROTO_TCP || !l4_off
        || l4_off >= CT_L4_OFF_MAX) {
        return 0;
    }
    l4_off = ct_bound_l4_off(l4_off);
    pkt_cursor_init(&c, data, end);
    if (c.pos + l4_off > c.end) {
        return 0;
    }
    c.pos += l4_off;
    if (pkt_parse_tcp(&c, &tcp) < 0) {
        return 0;
    }
    return tcp->flags;
}

/* Starts '*entry' for a connection of IP protocol 'proto' whose first
 * packet travels 'key_dir' (as ct_key_from_info() said) at 'now_ns'.  The
 * entry is CT_NEW; pass that first packet to ct_entry_update() next. */
PKT_INLINE void
ct_entry_init(struct ct_entry *entry, __u8 proto, bool key_dir, __u64 now_ns)
{
    __builtin_memset(entry, 0, sizeof *entry);
    entry->created_ns = now_ns;
    entry->last_seen_ns = now_ns;
    entry->proto = proto;
    entry->orig_key_dir = key_dir;
    entry->state = CT_NEW;
}

/* Returns the CT_DIR_* of a packet that travels 'key_dir' in 'entry'. */
PKT_INLINE int
ct_entry_dir(const struct ct_entry *entry, bool key_dir)
{
    return key_dir == entry->orig_key_dir ? CT_DIR_ORIG : CT_DIR_REPLY;
}

/* Returns the state a TCP connection in state 'state' moves to when a
 * segment with flags 'flags' travels in CT_DIR_* 'dir', given the FINs
 * already seen in 'entry', or -1 if the segment is not valid there.  The
 * transitions follow Linux nf_conntrack_proto_tcp without its window
 * checks:
 *
 *   - RST, from either side, closes any connection past CT_NEW.
 *   - The handshake: SYN from the originator (CT_NEW, or reopening from
 *     CT_TIME_WAIT or CT_CLOSE) → CT_SYN_SENT; SYN-ACK from the responder
 *     → CT_SYN_RECV; ACK from the originator → CT_ESTABLISHED.
 *     Retransmitted SYNs and SYN-ACKs keep the state.
 *   - The teardown: the first FIN → CT_FIN_WAIT; the other side's ACK →
 *     CT_CLOSE_WAIT; the other side's FIN → CT_LAST_ACK; the first closer's
 *     ACK of it → CT_TIME_WAIT.
 *   - Invalid: segments without SYN, ACK, FIN or RST; SYN with FIN or RST;
 *     anything but a SYN to start; a SYN from the responder, or a SYN-ACK
 *     from the originator; ACK or FIN before the handshake's SYN-ACK; a SYN
 *     in the middle of a connection. */
PKT_INLINE int
ct_tcp_next(const struct ct_entry *entry, int dir, __u8 flags)
{
    int state = entry->state;
    bool syn = flags & PKT_TCP_SYN;
    bool ack = flags & PKT_TCP_ACK;
    bool fin = flags & PKT_TCP_FIN;
    bool rst = flags & PKT_TCP_RST;
    bool closer; /* 'dir' sent the first FIN. */

    if (syn && (fin || rst)) {
        return -1;
    }
    if (!syn && !ack && !fin && !rst) {
        return -1;
    }
    if (rst) {
        return state == CT_NEW ? -1 : CT_CLOSE;
    }
    if (syn) {
        if (!ack) {
            /* A SYN opens (or reopens) from the originator only. */
            if (dir != CT_DIR_ORIG) {
                return -1;
            }
            if (state == CT_NEW || state == CT_TIME_WAIT
                || state == CT_CLOSE) {
                return CT_SYN_SENT;
            }
            return state == CT_SYN_SENT || state == CT_SYN_RECV ? state : -1;
        }
        /* A SYN-ACK answers from the responder only. */
        if (dir != CT_DIR_REPLY) {
            return -1;
        }
        if (state == CT_SYN_SENT || state == CT_SYN_RECV) {
            return CT_SYN_RECV;
        }
        return state == CT_ESTABLISHED ? state : -1;
    }

    /* ACK and/or FIN, no SYN. */
    switch (state) {
    case CT_SYN_RECV:
        if (dir == CT_DIR_REPLY) {
            return fin ? -1 : state;
        }
        return fin ? CT_FIN_WAIT : CT_ESTABLISHED;
    case CT_ESTABLISHED:
        return fin ? CT_FIN_WAIT : state;
    case CT_FIN_WAIT:
    case CT_CLOSE_WAIT:
        closer = (entry->seen[dir] & CT_SEEN_FIN) != 0;
        if (closer) {
            return state;
        }
        if (fin) {
            return CT_LAST_ACK;
        }
        return ack ? CT_CLOSE_WAIT : state;
    case CT_LAST_ACK:
        closer = (entry->seen[dir] & CT_SEEN_FIN_FIRST) != 0;
        return closer && ack && !fin ? CT_TIME_WAIT : state;
    case CT_TIME_WAIT:
    case CT_CLOSE:
        return state == CT_TIME_WAIT ? state : -1;
    default:
        return -1;
    }
}

/* Applies one packet of 'len' bytes travelling 'key_dir' (as
 * ct_key_from_info() or ct_key_from_icmp_error() said), carrying TCP flags
 * 'tcp_flags' (ignored unless the connection is TCP), to 'entry' at
 * 'now_ns'.  Returns CT_ACCEPT after updating state, flags seen, counters
 * and the last-seen time, or CT_INVALID after counting the packet in
 * 'invalid' and changing nothing else.  For protocols other than TCP any
 * packet is valid: the first reply moves CT_NEW to CT_ESTABLISHED. */
PKT_INLINE int
ct_entry_update(struct ct_entry *entry, bool key_dir, __u8 tcp_flags,
                __u64 now_ns, __u32 len)
{
    int dir = ct_entry_dir(entry, key_dir);

    if (entry->proto == PKT_IPPROTO_TCP) {
        int next = ct_tcp_next(entry, dir, tcp_flags);
        __u8 seen = 0;

        if (next < 0) {
            entry->invalid++;
            return CT_INVALID;
        }
        if (tcp_flags & PKT_TCP_SYN) {
            seen |= CT_SEEN_SYN;
        }
        if (tcp_flags & PKT_TCP_ACK) {
            seen |= CT_SEEN_ACK;
        }
        if (tcp_flags & PKT_TCP_FIN) {
            seen |= CT_SEEN_FIN;
            if (!((entry->seen[CT_DIR_ORIG] | entry->seen[CT_DIR_REPLY])
                  & CT_SEEN_FIN)) {
                seen |= CT_SEEN_FIN_FIRST;
            }
        }
        if (tcp_flags & PKT_TCP_RST) {
            seen |= CT_SEEN_RST;
        }
        if (next == CT_SYN_SENT && entry->state != CT_SYN_SENT
            && entry->state != CT_SYN_RECV) {
            /* A new connection on the same ports starts clean. */
            entry->seen[CT_DIR_ORIG] = 0;
            entry->seen[CT_DIR_REPLY] = 0;
        }
        entry->seen[dir] |= seen;
        entry->state = next;
    } else if (dir == CT_DIR_REPLY) {
        entry->state = CT_ESTABLISHED;
    }
    entry->packets[dir]++;
    entry->bytes[dir] += len;
    entry->last_seen_ns = now_ns;
    return CT_ACCEPT;
}

/* Returns how long 'entry' lives after its last accepted packet, in ns. */
PKT_INLINE __u64
ct_entry_timeout_ns(const struct ct_entry *entry)
{
    if (entry->proto == PKT_IPPROTO_TCP) {
        switch (entry->state) {
        case CT_SYN_SENT:
            return CT_TIMEOUT_TCP_SYN_SENT;
        case CT_SYN_RECV:
            return CT_TIMEOUT_TCP_SYN_RECV;
        case CT_ESTABLISHED:
            return CT_TIMEOUT_TCP_ESTABLISHED;
        case CT_FIN_WAIT:
            return CT_TIMEOUT_TCP_FIN_WAIT;
        case CT_CLOSE_WAIT:
            return CT_TIMEOUT_TCP_CLOSE_WAIT;
        case CT_LAST_ACK:
            return CT_TIMEOUT_TCP_LAST_ACK;
        case CT_TIME_WAIT:
            return CT_TIMEOUT_TCP_TIME_WAIT;
        default:
            /* CT_NEW (never accepted a SYN) and CT_CLOSE. */
            return CT_TIMEOUT_TCP_CLOSE;
        }
    }
    if (entry->proto == PKT_IPPROTO_UDP) {
        return entry->state == CT_ESTABLISHED ? CT_TIMEOUT_UDP_REPLIED
                                              : CT_TIMEOUT_UDP_UNREPLIED;
    }
    if (entry->proto == PKT_IPPROTO_ICMP
        || entry->proto == PKT_IPPROTO_ICMPV6) {
        return CT_TIMEOUT_ICMP;
    }
    return entry->state == CT_ESTABLISHED ? CT_TIMEOUT_OTHER_REPLIED
                                          : CT_TIMEOUT_OTHER_UNREPLIED;
}

/* Returns true if 'entry' has timed out at 'now_ns'.  A clock that reads
 * earlier than the last packet (another CPU's stamp) never expires it. */
PKT_INLINE bool
ct_entry_expired(const struct ct_entry *entry, __u64 now_ns)
{
    return now_ns > entry->last_seen_ns
           && now_ns - entry->last_seen_ns >= ct_entry_timeout_ns(entry);
}

/* Returns true if 'entry' carries no conversation worth keeping when the
 * table runs short: a connection that never got an answer (TCP before its
 * handshake completes, other protocols before the first reply) or a TCP
 * connection that is over (CT_TIME_WAIT, CT_CLOSE).  These are what a
 * flood of new connections leaves behind. */
PKT_INLINE bool
ct_entry_evictable(const struct ct_entry *entry)
{
    if (entry->proto == PKT_IPPROTO_TCP) {
        return entry->state == CT_NEW || entry->state == CT_SYN_SENT
               || entry->state == CT_SYN_RECV || entry->state == CT_TIME_WAIT
               || entry->state == CT_CLOSE;
    }
    return entry->state != CT_ESTABLISHED;
}

#endif /* firewall/ct.h */
