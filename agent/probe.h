/* UDP probes between the agents of fabric hosts (doc/mobility.md).
 *
 * Each agent answers probes on its underlay (VTEP) address, UDP port
 * 'probe-port' (default PROBE_PORT_DEFAULT), and sends one to every other
 * fabric host's VTEP (the desired state's) every PROBE_INTERVAL_MS.  A
 * probe is answered by the agent process itself, so a host whose agent is
 * dead stops answering while one whose control network is cut does not:
 * what the agent reports of its peers in its heartbeats lets the
 * controller tell a failed host from an unreachable one, and an agent that
 * has lost its lease fences itself only when no peer answers either.
 *
 * A datagram is one line of text, at most PROBE_MAX bytes:
 *
 *   fabric-probe 1 ask SEQ HOST
 *   fabric-probe 1 answer SEQ HOST
 *
 * SEQ a decimal number the answer repeats, HOST the sender's host name.
 * Anything else is counted and dropped. */
#ifndef AGENT_PROBE_H
#define AGENT_PROBE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;

#define PROBE_PORT_DEFAULT 4790
#define PROBE_INTERVAL_MS 1000 /* Between two probes of a peer. */
#define PROBE_LOST_MS 3000     /* A peer silent this long does not answer. */
#define PROBE_MAX 128          /* Longest datagram. */

struct probe;

/* Called by the probe thread after every round of probes (about every
 * PROBE_INTERVAL_MS), with 'aux'. */
typedef void probe_tick_func(void *aux);

/* Opens a UDP socket on 'vtep' (network order) port 'port' as host
 * 'host' and starts the thread that answers and sends probes, calling
 * 'tick' (if not NULL) after every round.  Returns 0, or an errno value
 * after logging why. */
int probe_start(const char *host, uint32_t vtep, uint16_t port,
                probe_tick_func *tick, void *aux, struct probe **);

/* Stops the thread and closes the socket.  NULL is a no-op. */
void probe_stop(struct probe *);

/* Makes the 'n' 'vteps' (network order) the peers to probe (this host's
 * own VTEP among them is left out). */
void probe_set_peers(struct probe *, const uint32_t *vteps, size_t n);

/* Returns {"HOST": {"answers": BOOL, "last_answer_ms_ago": N}} for every
 * peer that has ever answered (a new object). */
struct json_t *probe_peers(struct probe *);

/* Whether some peer answered within PROBE_LOST_MS. */
bool probe_any_answers(struct probe *);

/* Datagrams that were not probes of ours, for the metrics and tests. */
uint64_t probe_bad(struct probe *);

/* Parses datagram 'buf' of 'len' bytes.  Returns true if it is a probe,
 * with whether it is an answer in '*answer', its SEQ in '*seq' and its
 * HOST in 'host' (NUL-terminated). */
bool probe_parse(const char *buf, size_t len, bool *answer, uint64_t *seq,
                 char host[64]);

#endif /* agent/probe.h */
