/* Named drop reasons.  Every frame the fast path drops is counted under one
 * of these in the port's statistics, so no loss is silent. */
#ifndef DATAPATH_DROP_H
#define DATAPATH_DROP_H 1

#define DP_DROP_REASONS(X)                                                    \
    X(MALFORMED, "malformed")       /* A header failed to parse. */           \
    X(NO_PORT, "no-port")           /* Device is not a configured port. */    \
    X(SPOOF_MAC, "spoofed-mac")     /* Source MAC is not the port's. */       \
    X(SPOOF_IP, "spoofed-ip")       /* Source IP is not the port's. */        \
    X(OVERSIZE, "oversize")         /* Larger than the network MTU. */        \
    X(UNKNOWN_VNI, "unknown-vni")   /* VNI has no network here. */            \
    X(NO_DEST, "no-destination")    /* Unknown unicast, empty flood list. */  \
    X(VNI_MISMATCH, "vni-mismatch") /* Destination is in another VNI. */      \
    X(NO_NEIGH, "no-neighbour")     /* Next hop MAC not resolved yet. */      \
    X(ENCAP_FAILED, "encap-failed") /* Could not add the outer headers. */    \
    X(DECAP_FAILED, "decap-failed") /* Could not strip the outer headers. */  \
    X(BAD_VXLAN, "bad-vxlan")       /* VXLAN to us, but unusable. */          \
    X(NOT_CONFIGURED, "not-configured")   /* No VTEP configured yet. */       \
    X(REDIRECT_FAILED, "redirect-failed") /* Kernel refused the redirect. */  \
    X(QOS_RATE, "qos-rate")            /* Above the port's rate and burst. */ \
    X(QOS_HORIZON, "qos-horizon")      /* Paced too far into the future. */   \
    X(FW_DENY, "firewall-deny")        /* The security policy denies it. */   \
    X(CT_INVALID, "conntrack-invalid") /* Not valid for its connection. */    \
    X(CT_FULL, "conntrack-full")       /* New connection, table full. */      \
    X(FOREIGN_VTEP, "foreign-vtep")    /* VXLAN from an unknown VTEP. */      \
    X(CT_PORT_LIMIT, "conntrack-port-limit") /* Port's share is full. */      \
    X(ECN_NOT_ECT, "ecn-ce-not-ect")    /* Outer CE, inner not ECN-capable    \
                                         * (RFC 6040). */                     \
    X(SPOOF_ND, "spoofed-nd")           /* ND claims another's address. */    \
    X(NO_STAGE, "missing-stage")        /* Tail call found no program. */     \
    X(NOT_LINEAR, "headers-not-linear") /* Headers not in linear data. */     \
    X(INTERNAL, "internal-error")       /* Scratch lookup failed: a bug. */   \
    X(SPOOF_CHADDR, "spoofed-chaddr")   /* DHCP for a MAC not the port's. */  \
    X(PUNT_RATE, "punt-rate-limit")     /* Port punts faster than allowed. */ \
    X(PUNT_FULL, "punt-ring-full")      /* The agent is behind on punts. */   \
    X(TO_DHCP_SERVER, "to-dhcp-server") /* Not DHCP, to the server's MAC. */  \
    X(FORWARD_LOOP, "forward-loop")     /* DP_FDB_FORWARD back to the         \
                                         * sender, from an external VTEP,     \
                                         * or out of TTL. */                  \
    X(STANDBY, "standby")               /* Reserved (doc/mobility.md). */

enum dp_drop_reason {
#define DP_DROP_ENUM(NAME, STR) DP_DROP_##NAME,
    DP_DROP_REASONS(DP_DROP_ENUM)
#undef DP_DROP_ENUM
        DP_DROP_N_REASONS
};

/* Per-port counters.  "rx" is what the switch received from the port (the VM
 * sent it), "tx" what the switch delivered to the port.  For the underlay
 * device, rx is VXLAN received and tx VXLAN sent. */
struct dp_stats {
    __u64 rx_packets;               /* Frames received from the port. */
    __u64 rx_bytes;                 /* Their bytes. */
    __u64 tx_packets;               /* Frames delivered to the port. */
    __u64 tx_bytes;                 /* Their bytes. */
    __u64 punted;                   /* Frames handed to the agent
                                     * (struct dp_punt), not forwarded. */
    __u64 drops[DP_DROP_N_REASONS]; /* Dropped frames by reason. */
};

#endif /* datapath/drop.h */
