/* POST /v1/trace: what the fabric would do with one packet, found out by
 * running the real fast-path programs on it (doc/firewall.md, doc/api.md
 * "Trace").
 *
 * The controller builds the first packet of a connection from a port to an
 * address, as the source VM would send it, and asks the agent of the
 * source port's host to run it through the port program (stage 1).  If
 * the program sends it on as VXLAN to another host, the controller asks
 * that host's agent to run the encapsulated frame through its uplink
 * program (stage 2).  Agents answer over the address and token they gave
 * when they registered (agent/trace.c).
 *
 * api_trace() (controller/api.h) is the request; the pieces below have no
 * side effects, so that tests can check them on their own. */
#ifndef CONTROLLER_TRACE_H
#define CONTROLLER_TRACE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The largest frame a trace builds or accepts from an agent. */
#define TRACE_FRAME_MAX 2048

/* The packet to build: the first of a connection. */
struct trace_flow {
    uint8_t src_mac[6]; /* Source port's MAC. */
    uint8_t dst_mac[6]; /* Destination's MAC. */
    uint32_t src_ip;    /* Addresses, network order. */
    uint32_t dst_ip;
    uint8_t protocol; /* 6 TCP (a SYN), 17 UDP, 1 ICMP. */
    uint16_t sport;   /* TCP and UDP ports, host order. */
    uint16_t dport;
    uint8_t icmp_type; /* ICMP type (8: echo request), code 0. */
};

/* Builds the Ethernet frame of 'flow' into 'buf' ('size' bytes) with every
 * checksum right, and returns its length (0 if 'size' is too small or the
 * protocol is unknown). */
size_t trace_build_frame(const struct trace_flow *flow, uint8_t *buf,
                         size_t size);

/* If 'frame' ('len' bytes) is IPv4 UDP to the VXLAN port, stores its outer
 * destination address (network order) in '*vtep' and returns true. */
bool trace_frame_is_vxlan(const uint8_t *frame, size_t len, uint32_t *vtep);

/* Base64 (RFC 4648, with padding).  trace_base64_encode() returns a new
 * string; trace_base64_decode() decodes 's' into 'buf' ('size' bytes),
 * stores the length in '*len' and returns false on bad input or
 * overflow. */
char *trace_base64_encode(const uint8_t *data, size_t len);
bool trace_base64_decode(const char *s, uint8_t *buf, size_t size,
                         size_t *len);

/* Checks an agent's answer 'answer' to one stage and returns the stage as
 * the trace shows it: {"host", "program", "tc_action", "drop_reason",
 * "firewall"}.  Stores the frame the program left in 'out' ('*out_len'
 * bytes, at most TRACE_FRAME_MAX).  Returns NULL with '*msg' (which the
 * caller frees) if the answer makes no sense. */
json_t *trace_stage_from_answer(const char *host, const char *program,
                                const json_t *answer, uint8_t *out,
                                size_t *out_len, char **msg);

/* Concludes from 'stages' (an array of trace_stage_from_answer() results):
 * returns {"verdict": "allow"|"deny"|"drop", "reason": R, "rule": {"id",
 * "direction", "action"} or null}.  A firewall deny in any stage is
 * "deny" with that stage's rule; a drop for any other reason is "drop"
 * with the drop reason; otherwise "allow" with the last firewall decision,
 * if any ("not-firewalled" if none). */
json_t *trace_conclude(const json_t *stages);

#endif /* controller/trace.h */
