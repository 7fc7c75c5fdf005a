/* On-wire header layouts.
 *
 * fabric defines its own header structs instead of including
 * <linux/if_ether.h> and friends, because those clash with vmlinux.h in BPF
 * programs.  All multi-byte fields are in network byte order. */
#ifndef PACKET_HDR_H
#define PACKET_HDR_H 1

#include "packet/types.h"

struct pkt_eth {
    __u8 dst[PKT_ETH_ALEN]; /* Destination MAC. */
    __u8 src[PKT_ETH_ALEN]; /* Source MAC. */
    __be16 type;            /* Ethertype (or TPID of a VLAN tag). */
} __attribute__((packed));

struct pkt_vlan {
    __be16 tci;  /* PCP, DEI and VLAN id. */
    __be16 type; /* Encapsulated ethertype. */
} __attribute__((packed));

/* ARP for IPv4 over Ethernet, the only kind a VM port may send. */
struct pkt_arp {
    __be16 htype;           /* Hardware type, 1 for Ethernet. */
    __be16 ptype;           /* Protocol type, 0x0800. */
    __u8 hlen;              /* 6. */
    __u8 plen;              /* 4. */
    __be16 op;              /* 1 request, 2 reply. */
    __u8 sha[PKT_ETH_ALEN]; /* Sender MAC. */
    __be32 spa;             /* Sender IPv4. */
    __u8 tha[PKT_ETH_ALEN]; /* Target MAC. */
    __be32 tpa;             /* Target IPv4. */
} __attribute__((packed));

#define PKT_ARP_HTYPE_ETHER 1
#define PKT_ARP_OP_REQUEST 1
#define PKT_ARP_OP_REPLY 2

struct pkt_ipv4 {
    __u8 ver_ihl;    /* Version (high nibble), IHL in words. */
    __u8 tos;        /* DSCP (high 6 bits) and ECN. */
    __be16 tot_len;  /* Header plus payload, in bytes. */
    __be16 id;       /* Fragment identification. */
    __be16 frag_off; /* Flags and fragment offset. */
    __u8 ttl;        /* Time to live. */
    __u8 protocol;   /* Next protocol. */
    __sum16 check;   /* Header checksum. */
    __be32 saddr;    /* Source address. */
    __be32 daddr;    /* Destination address. */
} __attribute__((packed));

#define PKT_IPV4_DF 0x4000
#define PKT_IPV4_MF 0x2000
#define PKT_IPV4_OFFSET_MASK 0x1fff

struct pkt_ipv6 {
    __be32 ver_tc_flow; /* Version, traffic class, flow label. */
    __be16 payload_len; /* Payload length, in bytes. */
    __u8 nexthdr;       /* Next header. */
    __u8 hop_limit;     /* Hop limit. */
    __u8 saddr[16];     /* Source address. */
    __u8 daddr[16];     /* Destination address. */
} __attribute__((packed));

struct pkt_udp {
    __be16 source; /* Source port. */
    __be16 dest;   /* Destination port. */
    __be16 len;    /* Header plus payload, in bytes. */
    __sum16 check; /* Checksum, 0 for none over IPv4. */
} __attribute__((packed));

struct pkt_tcp {
    __be16 source;  /* Source port. */
    __be16 dest;    /* Destination port. */
    __be32 seq;     /* Sequence number. */
    __be32 ack_seq; /* Acknowledgement number. */
    __u8 doff_res;  /* Data offset in words (high nibble). */
    __u8 flags;     /* CWR ECE URG ACK PSH RST SYN FIN. */
    __be16 window;  /* Receive window. */
    __sum16 check;  /* Checksum. */
    __be16 urg_ptr; /* Urgent pointer. */
} __attribute__((packed));

#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10

/* ICMP and ICMPv6 share the first four bytes. */
struct pkt_icmp {
    __u8 type;     /* Message type. */
    __u8 code;     /* Message code. */
    __sum16 check; /* Checksum. */
    __be16 id;     /* Echo identifier, or unused. */
    __be16 seq;    /* Echo sequence, or unused. */
} __attribute__((packed));

#endif /* packet/hdr.h */
