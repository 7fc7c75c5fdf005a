/* DHCP from the fabric (doc/vms.md): the agent's answers to the DHCP
 * client messages that the fast path punts to it from VM ports.
 *
 * A thread reads the punts (dp_punts_open()), and answers each DISCOVER
 * with an OFFER and each REQUEST with an ACK, or a NAK for an address
 * that is not the port's, from what the desired state in force says of
 * the port and its network (core_dhcp_lease()); dhcp/dhcp.h parses and
 * builds.  The answer goes to the port's device alone (dp_inject()).  A
 * client whose port the state does not know, or whose network has no
 * "cidr", gets nothing.  The fast path already limits how fast each port
 * may punt, so a flooding VM cannot starve the others of answers. */
#ifndef AGENT_DHCP_H
#define AGENT_DHCP_H 1

#include <arpa/inet.h>
#include <stdint.h>

#include "dhcp/dhcp.h"

struct core;
struct dp;
struct dhcp_responder;

/* How long a lease lasts, in seconds.  The address is the port's for as
 * long as the port lives; a client renews at half of this. */
#define AGENT_DHCP_LEASE_SECS 86400

/* Returns the address of the DHCP server in the network 'net4'/'prefix_len'
 * (network order, prefix 8..30): its last usable address, which the
 * controller never gives a port. */
static inline uint32_t
agent_dhcp_server_ip(uint32_t net4, uint8_t prefix_len)
{
    uint32_t host_mask = prefix_len >= 32 ? 0 : UINT32_MAX >> prefix_len;

    return htonl((ntohl(net4) | host_mask) - 1);
}

/* What the responder counted since it started. */
#define AGENT_DHCP_IGNORED(X)                                                 \
    X(UNKNOWN_PORT, "unknown-port") /* No port of the state has the device,   \
                                     * the MAC or an address. */              \
    X(NO_CIDR, "no-cidr")           /* Its network has no "cidr". */          \
    X(MALFORMED, "malformed")       /* Not a DHCP client message. */          \
    X(NOT_FOR_US, "not-for-us")     /* Needs no answer: another server's      \
                                     * offer taken, a RELEASE, ... */         \
    X(SEND_FAILED, "send-failed")   /* dp_inject() failed. */

enum agent_dhcp_ignored {
#define AGENT_DHCP_IGNORED_ENUM(NAME, STR) AGENT_DHCP_##NAME,
    AGENT_DHCP_IGNORED(AGENT_DHCP_IGNORED_ENUM)
#undef AGENT_DHCP_IGNORED_ENUM
        AGENT_DHCP_N_IGNORED
};

struct dhcp_stats {
    uint64_t received[DHCP_INFORM + 1];     /* Messages by type (0: other). */
    uint64_t sent[DHCP_NAK + 1];            /* Answers by type. */
    uint64_t ignored[AGENT_DHCP_N_IGNORED]; /* Messages not answered. */
};

const char *agent_dhcp_ignored_name(enum agent_dhcp_ignored);

/* Starts answering the punts of 'dp' from the state of 'core'.  The thread
 * is the one reader of the punts: it also hands the activations of standby
 * ports (DP_PUNT_ACTIVATED) to migrate_activated().  Returns 0 or a
 * positive errno (then there is no responder: an older datapath without
 * punts). */
int dhcp_responder_start(struct dp *dp, struct core *core,
                         struct dhcp_responder **rp);

/* Stops the thread.  NULL is a no-op. */
void dhcp_responder_stop(struct dhcp_responder *);

/* Answers one punt, 'frame' ('len' bytes) from port device 'ifindex': the
 * thread's work, apart for tests.  Counts what it did in 'stats'. */
void dhcp_responder_answer(struct core *core, uint32_t ifindex,
                           const uint8_t *frame, size_t len,
                           struct dhcp_stats *stats);

#endif /* agent/dhcp.h */
