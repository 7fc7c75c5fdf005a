/* DHCPv4 (RFC 2131, options RFC 2132) as the fabric answers it: reading a
 * client's message and building the server's reply, over plain byte
 * buffers.
 *
 * The fast path hands a port's DHCP client frames to the agent (a punt,
 * doc/vms.md), which parses them with dhcp_parse(), picks its answer with
 * dhcp_decide() and builds the whole reply frame with dhcp_build_frame().
 * Everything here compiles under "clang -target bpf" as well as for
 * userspace, like vxlan/ and firewall/: every loop has a constant bound and
 * every read is checked against the end of the buffer, so the same code is
 * safe on any input. */
#ifndef DHCP_DHCP_H
#define DHCP_DHCP_H 1

#include "packet/csum.h"
#include "packet/parse.h"

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define DHCP_MAGIC 0x63825363 /* The options' cookie, host order. */
#define DHCP_OP_REQUEST 1     /* BOOTREQUEST: client to server. */
#define DHCP_OP_REPLY 2       /* BOOTREPLY: server to client. */
#define DHCP_HTYPE_ETHER 1
#define DHCP_FLAG_BROADCAST 0x8000 /* Client cannot take unicast yet. */

/* The fixed part of a message, cookie included. */
struct dhcp_header {
    __u8 op;         /* DHCP_OP_*. */
    __u8 htype;      /* Hardware type: DHCP_HTYPE_ETHER. */
    __u8 hlen;       /* Hardware address length: 6. */
    __u8 hops;       /* Relay hops. */
    __be32 xid;      /* Transaction id, chosen by the client. */
    __be16 secs;     /* Seconds since the client began. */
    __be16 flags;    /* DHCP_FLAG_BROADCAST. */
    __be32 ciaddr;   /* Client's address, when it has one. */
    __be32 yiaddr;   /* "Your" address: the one offered. */
    __be32 siaddr;   /* Next server (TFTP); 0 here. */
    __be32 giaddr;   /* Relay agent. */
    __u8 chaddr[16]; /* Client hardware address. */
    __u8 sname[64];  /* Server name, or options (overload). */
    __u8 file[128];  /* Boot file, or options (overload). */
    __be32 magic;    /* DHCP_MAGIC. */
} __attribute__((packed));

/* Options (RFC 2132) this code reads or writes. */
#define DHCP_OPT_PAD 0
#define DHCP_OPT_SUBNET_MASK 1
#define DHCP_OPT_DNS 6
#define DHCP_OPT_HOSTNAME 12
#define DHCP_OPT_MTU 26
#define DHCP_OPT_REQUESTED_IP 50
#define DHCP_OPT_LEASE_TIME 51
#define DHCP_OPT_OVERLOAD 52
#define DHCP_OPT_MSG_TYPE 53
#define DHCP_OPT_SERVER_ID 54
#define DHCP_OPT_PARAMS 55
#define DHCP_OPT_MESSAGE 56
#define DHCP_OPT_CLIENT_ID 61
#define DHCP_OPT_END 255

/* Message types (option 53). */
enum dhcp_msg_type {
    DHCP_NONE = 0, /* No message: the server stays silent. */
    DHCP_DISCOVER = 1,
    DHCP_OFFER = 2,
    DHCP_REQUEST = 3,
    DHCP_DECLINE = 4,
    DHCP_ACK = 5,
    DHCP_NAK = 6,
    DHCP_RELEASE = 7,
    DHCP_INFORM = 8,
};

/* Bounds of the parser.  RFC 2131 lets a message carry options in three
 * areas (the options field, then "file" and "sname" when option 52 says
 * so); each area is walked for at most DHCP_AREA_STEPS options or pads,
 * which covers the largest message an Ethernet frame holds (1472 bytes of
 * UDP payload, 1232 of them options) only for options of 4 bytes or more.
 * A message with more is refused as DHCP_ERR_TOO_MANY. */
#define DHCP_AREA_STEPS 320
#define DHCP_PARAMS_MAX 64    /* Parameter request list entries kept. */
#define DHCP_CLIENT_ID_MAX 64 /* Client identifier bytes kept. */

/* Why dhcp_parse() refused a message; the agent counts them by name. */
#define DHCP_ERRORS(X)                                                        \
    X(TRUNCATED, "truncated")          /* Shorter than its fixed part. */     \
    X(NOT_REQUEST, "not-request")      /* op is not BOOTREQUEST. */           \
    X(NOT_ETHERNET, "not-ethernet")    /* htype/hlen not Ethernet. */         \
    X(BAD_MAGIC, "bad-magic")          /* No DHCP cookie: plain BOOTP. */     \
    X(BAD_OPTION, "bad-option")        /* An option runs past its area. */    \
    X(BAD_LENGTH, "bad-option-length") /* Wrong length for its option. */     \
    X(TOO_MANY, "too-many-options")    /* More than DHCP_AREA_STEPS. */       \
    X(NO_TYPE, "no-message-type")      /* Option 53 missing. */

enum dhcp_error {
    DHCP_OK = 0,
#define DHCP_ERROR_ENUM(NAME, STR) DHCP_ERR_##NAME,
    DHCP_ERRORS(DHCP_ERROR_ENUM)
#undef DHCP_ERROR_ENUM
        DHCP_N_ERRORS
};

/* What the server needs of a client's message. */
struct dhcp_request {
    __u8 msg_type;                      /* enum dhcp_msg_type. */
    __u8 hops;                          /* Relay hops. */
    __be16 flags;                       /* DHCP_FLAG_BROADCAST. */
    __be32 xid;                         /* Transaction id. */
    __be32 ciaddr;                      /* Client's address, or 0. */
    __be32 giaddr;                      /* Relay agent, or 0. */
    __be32 requested_ip;                /* Option 50, or 0. */
    __be32 server_id;                   /* Option 54, or 0. */
    __u8 chaddr[PKT_ETH_ALEN];          /* Client's MAC. */
    __u8 client_id_len;                 /* Bytes of 'client_id'. */
    __u8 n_params;                      /* Entries of 'params'. */
    __u8 client_id[DHCP_CLIENT_ID_MAX]; /* Option 61 (truncated). */
    __u8 params[DHCP_PARAMS_MAX];       /* Option 55 (truncated). */
};

/* What the server gives a client.  Addresses in network order. */
#define DHCP_DNS_MAX 3       /* DNS servers of a network, at most. */
#define DHCP_HOSTNAME_MAX 63 /* A hostname option's bytes, at most. */

struct dhcp_lease {
    __be32 yiaddr;                        /* The client's address. */
    __be32 server_id;                     /* Ours (option 54). */
    __u8 server_mac[PKT_ETH_ALEN];        /* Ours, as the frame's source. */
    __u8 prefix_len;                      /* 0..32: option 1. */
    __u8 n_dns;                           /* Entries of 'dns', 0..3. */
    __u16 mtu;                            /* Option 26, 0 for none. */
    __u8 hostname_len;                    /* Bytes of 'hostname', 0: none. */
    __u8 pad;                             /* Zero. */
    __u32 lease_secs;                     /* Option 51. */
    __be32 dns[DHCP_DNS_MAX];             /* Option 6. */
    char hostname[DHCP_HOSTNAME_MAX + 1]; /* Option 12, not terminated. */
};

/* The largest frame dhcp_build_frame() writes: Ethernet, IPv4, UDP, the
 * fixed part and every option it sends, at their largest. */
#define DHCP_REPLY_OPTIONS_MAX                                                \
    (3 + 6 + 6 + 6 + 4 + 2 + 4 * DHCP_DNS_MAX + 2 + DHCP_HOSTNAME_MAX + 1)
#define DHCP_FRAME_MAX                                                        \
    (sizeof(struct pkt_eth) + sizeof(struct pkt_ipv4)                         \
     + sizeof(struct pkt_udp) + sizeof(struct dhcp_header)                    \
     + DHCP_REPLY_OPTIONS_MAX)

/* BOOTP's smallest message (RFC 1542): some clients drop shorter ones. */
#define DHCP_MIN_MESSAGE 300

PKT_INLINE __be32
dhcp_get_be32(const __u8 *p)
{
    __be32 v;

    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

/* Reads the option at 'opt' (code, length 'len', value after them) into
 * 'req'; sets '*overload' for option 52.  Returns 0 or a DHCP_ERR_*. */
PKT_INLINE int
dhcp_take_option(struct dhcp_request *req, const __u8 *opt, __u8 len,
                 __u8 *overload)
{
    const __u8 *v = opt + 2;
    __u8 code = opt[0];
    int i;

    switch (code) {
    case DHCP_OPT_MSG_TYPE:
        if (len != 1) {
            return DHCP_ERR_BAD_LENGTH;
        }
        req->msg_type = v[0];
        break;
    case DHCP_OPT_REQUESTED_IP:
    case DHCP_OPT_SERVER_ID:
        if (len != 4) {
            return DHCP_ERR_BAD_LENGTH;
        }
        if (code == DHCP_OPT_REQUESTED_IP) {
            req->requested_ip = dhcp_get_be32(v);
        } else {
            req->server_id = dhcp_get_be32(v);
        }
        break;
    case DHCP_OPT_OVERLOAD:
        if (len != 1 || v[0] < 1 || v[0] > 3) {
            return DHCP_ERR_BAD_LENGTH;
        }
        *overload = v[0];
        break;
    case DHCP_OPT_CLIENT_ID:
        if (len < 2) {
            return DHCP_ERR_BAD_LENGTH;
        }
        req->client_id_len =
            len < DHCP_CLIENT_ID_MAX ? len : DHCP_CLIENT_ID_MAX;
        for (i = 0; i < DHCP_CLIENT_ID_MAX && i < req->client_id_len; i++) {
            req->client_id[i] = v[i];
        }
        break;
    case DHCP_OPT_PARAMS:
        for (i = 0; i < DHCP_PARAMS_MAX && i < len; i++) {
            req->params[i] = v[i];
        }
        req->n_params = i;
        break;
    default:
        break;
    }
    return DHCP_OK;
}

/* Walks the options from 'p' to 'end' (one area) into 'req'.  Returns 0 or
 * a DHCP_ERR_*.  An area ends at END or at its last byte; PAD is skipped. */
PKT_INLINE int
dhcp_parse_area(struct dhcp_request *req, const __u8 *p, const __u8 *end,
                __u8 *overload)
{
    int i;

    for (i = 0; i < DHCP_AREA_STEPS; i++) {
        __u8 len;
        int error;

        if (p >= end || p[0] == DHCP_OPT_END) {
            return DHCP_OK;
        }
        if (p[0] == DHCP_OPT_PAD) {
            p++;
            continue;
        }
        if (p + 2 > end) {
            return DHCP_ERR_BAD_OPTION;
        }
        len = p[1];
        if (p + 2 + len > end) {
            return DHCP_ERR_BAD_OPTION;
        }
        error = dhcp_take_option(req, p, len, overload);
        if (error) {
            return error;
        }
        p += 2 + len;
    }
    return p >= end || p[0] == DHCP_OPT_END ? DHCP_OK : DHCP_ERR_TOO_MANY;
}

/* Parses the DHCP message from 'data' to 'end' (the UDP payload) into
 * '*req'.  Returns 0 (DHCP_OK) or the enum dhcp_error that says what is
 * wrong with it.  Options in "file" and "sname" are read when option 52
 * says they hold some (RFC 2131 4.1: options, then file, then sname); a
 * second option 52 there is ignored, as a loop would be.  When an option
 * repeats, the last one counts. */
PKT_INLINE int
dhcp_parse(const void *data, const void *end, struct dhcp_request *req)
{
    const struct dhcp_header *h = data;
    const __u8 *options = (const __u8 *) (h + 1);
    __u8 overload = 0, ignored = 0;
    int error;

    __builtin_memset(req, 0, sizeof *req);
    if ((const void *) options > end) {
        return DHCP_ERR_TRUNCATED;
    }
    if (h->op != DHCP_OP_REQUEST) {
        return DHCP_ERR_NOT_REQUEST;
    }
    if (h->htype != DHCP_HTYPE_ETHER || h->hlen != PKT_ETH_ALEN) {
        return DHCP_ERR_NOT_ETHERNET;
    }
    if (h->magic != bpf_htonl(DHCP_MAGIC)) {
        return DHCP_ERR_BAD_MAGIC;
    }
    req->hops = h->hops;
    req->flags = h->flags;
    req->xid = h->xid;
    req->ciaddr = h->ciaddr;
    req->giaddr = h->giaddr;
    pkt_copy_mac(req->chaddr, h->chaddr);

    error = dhcp_parse_area(req, options, end, &overload);
    if (!error && (overload & 1)) {
        error =
            dhcp_parse_area(req, h->file, h->file + sizeof h->file, &ignored);
    }
    if (!error && (overload & 2)) {
        error = dhcp_parse_area(req, h->sname, h->sname + sizeof h->sname,
                                &ignored);
    }
    if (error) {
        return error;
    }
    return req->msg_type ? DHCP_OK : DHCP_ERR_NO_TYPE;
}

/* Returns the message the server answers 'req' with, for a client whose
 * lease is 'lease', or DHCP_NONE for silence: DISCOVER gets an OFFER;
 * REQUEST an ACK if it asks for the lease's address (option 50 while
 * selecting or rebooting, ciaddr while renewing or rebinding) and a NAK
 * otherwise, unless it names another server, whose offer the client took;
 * INFORM an ACK (with no lease, dhcp_build_frame() knows).  DECLINE and
 * RELEASE need no answer: the address is the port's, whatever the client
 * thinks of it. */
PKT_INLINE enum dhcp_msg_type
dhcp_decide(const struct dhcp_request *req, const struct dhcp_lease *lease)
{
    __be32 wanted;

    switch (req->msg_type) {
    case DHCP_DISCOVER:
        return DHCP_OFFER;
    case DHCP_REQUEST:
        if (req->server_id && req->server_id != lease->server_id) {
            return DHCP_NONE;
        }
        wanted = req->requested_ip ? req->requested_ip : req->ciaddr;
        return wanted == lease->yiaddr ? DHCP_ACK : DHCP_NAK;
    case DHCP_INFORM:
        return DHCP_ACK;
    default:
        return DHCP_NONE;
    }
}

/* Returns the subnet mask of a 'prefix_len'-bit prefix, network order. */
PKT_INLINE __be32
dhcp_prefix_mask(__u8 prefix_len)
{
    if (prefix_len == 0) {
        return 0;
    }
    if (prefix_len >= 32) {
        return 0xffffffff;
    }
    return bpf_htonl(0xffffffffU << (32 - prefix_len));
}

/* Appends option 'code' with the 'len' bytes at 'value' at 'p', which must
 * have room, and returns the byte after it. */
PKT_INLINE __u8 *
dhcp_put_option(__u8 *p, __u8 code, const void *value, __u8 len)
{
    p[0] = code;
    p[1] = len;
    __builtin_memcpy(p + 2, value, len);
    return p + 2 + len;
}

/* Sums the 'len' bytes at 'p' as 16-bit words, for a checksum. */
PKT_INLINE __u32
dhcp_csum_add(__u32 sum, const __u8 *p, __u32 len)
{
    __u32 i;

    for (i = 0; i + 1 < len && i < DHCP_FRAME_MAX; i += 2) {
        __u16 word;

        __builtin_memcpy(&word, p + i, sizeof word);
        sum += word;
    }
    if (len & 1) {
        __u16 word = 0;

        *(__u8 *) &word = p[len - 1];
        sum += word;
    }
    return sum;
}

/* Writes the whole Ethernet frame of the server's 'type' answer to 'req'
 * from the lease 'lease' into 'buf' (DHCP_FRAME_MAX bytes) and returns its
 * length, or 0 if 'type' is not an answer.
 *
 * An OFFER or ACK carries the address, the subnet mask, the MTU, the
 * hostname and the DNS servers the lease has, the lease time and our
 * server identifier, and no router option: fabric networks are
 * gateway-less.  An ACK to INFORM carries no address nor lease time.  A
 * NAK carries only the type and the server identifier.  As RFC 2131 4.1
 * says, a NAK, or an answer to a client that set the broadcast flag, is
 * broadcast (to the client's port only: the agent sends it nowhere else);
 * an answer to a client with an address (ciaddr) goes to that address;
 * the others go to the offered address and the client's MAC. */
PKT_INLINE __u32
dhcp_build_frame(__u8 *buf, const struct dhcp_request *req,
                 const struct dhcp_lease *lease, enum dhcp_msg_type type)
{
    struct pkt_eth *eth = (struct pkt_eth *) buf;
    struct pkt_ipv4 *ip = (struct pkt_ipv4 *) (eth + 1);
    struct pkt_udp *udp = (struct pkt_udp *) (ip + 1);
    struct dhcp_header *h = (struct dhcp_header *) (udp + 1);
    __u8 *p = (__u8 *) (h + 1);
    bool inform = req->msg_type == DHCP_INFORM;
    bool broadcast;
    __u32 udp_len, sum;
    __be32 dst;
    __u8 t = type;

    if (type != DHCP_OFFER && type != DHCP_ACK && type != DHCP_NAK) {
        return 0;
    }
    __builtin_memset(buf, 0, DHCP_FRAME_MAX);
    h->op = DHCP_OP_REPLY;
    h->htype = DHCP_HTYPE_ETHER;
    h->hlen = PKT_ETH_ALEN;
    h->xid = req->xid;
    h->flags = req->flags;
    h->giaddr = req->giaddr;
    pkt_copy_mac(h->chaddr, req->chaddr);
    h->magic = bpf_htonl(DHCP_MAGIC);
    if (type != DHCP_NAK) {
        h->ciaddr = req->ciaddr;
        h->yiaddr = inform ? 0 : lease->yiaddr;
    }

    p = dhcp_put_option(p, DHCP_OPT_MSG_TYPE, &t, 1);
    p = dhcp_put_option(p, DHCP_OPT_SERVER_ID, &lease->server_id, 4);
    if (type != DHCP_NAK) {
        __be32 mask = dhcp_prefix_mask(lease->prefix_len);

        if (!inform) {
            __be32 secs = bpf_htonl(lease->lease_secs);

            p = dhcp_put_option(p, DHCP_OPT_LEASE_TIME, &secs, 4);
        }
        p = dhcp_put_option(p, DHCP_OPT_SUBNET_MASK, &mask, 4);
        if (lease->mtu) {
            __be16 mtu = bpf_htons(lease->mtu);

            p = dhcp_put_option(p, DHCP_OPT_MTU, &mtu, 2);
        }
        if (lease->hostname_len && lease->hostname_len <= DHCP_HOSTNAME_MAX) {
            p = dhcp_put_option(p, DHCP_OPT_HOSTNAME, lease->hostname,
                                lease->hostname_len);
        }
        if (lease->n_dns && lease->n_dns <= DHCP_DNS_MAX) {
            p = dhcp_put_option(p, DHCP_OPT_DNS, lease->dns,
                                (__u8) (4 * lease->n_dns));
        }
    }
    *p++ = DHCP_OPT_END;
    if (p < (__u8 *) h + DHCP_MIN_MESSAGE) {
        p = (__u8 *) h + DHCP_MIN_MESSAGE;
    }

    broadcast = type == DHCP_NAK
                || (req->flags & bpf_htons(DHCP_FLAG_BROADCAST))
                || (!req->ciaddr && inform);
    if (broadcast) {
        dst = 0xffffffff;
        __builtin_memset(eth->dst, 0xff, PKT_ETH_ALEN);
    } else {
        dst = req->ciaddr ? req->ciaddr : lease->yiaddr;
        pkt_copy_mac(eth->dst, req->chaddr);
    }
    pkt_copy_mac(eth->src, lease->server_mac);
    eth->type = bpf_htons(PKT_ETH_P_IPV4);

    udp_len = (__u32) (p - (__u8 *) udp);
    ip->ver_ihl = 0x45;
    ip->tot_len = bpf_htons((__u16) (udp_len + sizeof *ip));
    ip->ttl = 64;
    ip->protocol = PKT_IPPROTO_UDP;
    ip->saddr = lease->server_id;
    ip->daddr = dst;
    ip->check = pkt_ipv4_csum(ip);

    udp->source = bpf_htons(DHCP_SERVER_PORT);
    udp->dest = bpf_htons(DHCP_CLIENT_PORT);
    udp->len = bpf_htons((__u16) udp_len);
    /* The pseudo-header: addresses, protocol and UDP length. */
    sum = dhcp_csum_add(0, (const __u8 *) &ip->saddr, 8);
    sum += bpf_htons(PKT_IPPROTO_UDP) + bpf_htons((__u16) udp_len);
    sum = dhcp_csum_add(sum, (const __u8 *) udp, udp_len);
    udp->check = pkt_csum_fold(sum);
    if (!udp->check) {
        udp->check = 0xffff;
    }
    return (__u32) (p - buf);
}

/* Returns the name of 'error' (enum dhcp_error), for counters. */
PKT_INLINE const char *
dhcp_error_name(int error)
{
    switch (error) {
#define DHCP_ERROR_NAME(NAME, STR)                                            \
    case DHCP_ERR_##NAME:                                                     \
        return STR;
        DHCP_ERRORS(DHCP_ERROR_NAME)
#undef DHCP_ERROR_NAME
    default:
        return "ok";
    }
}

#endif /* dhcp/dhcp.h */
