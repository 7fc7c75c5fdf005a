/* "fabric-agent --show": what a datapath holds, for people or scripts. */
#ifndef AGENT_SHOW_H
#define AGENT_SHOW_H 1

#include <stdbool.h>
#include <stdio.h>

struct dp;

/* Prints the underlay configuration, every table and the per-device
 * counters of 'dp' to 'out': as aligned text, or as one JSON object if
 * 'json'.  Returns 0 or an errno value. */
int show_datapath(struct dp *dp, bool json, FILE *out);

/* Prints the connections that 'dp' tracks, one per line (or as a JSON
 * array if 'json'): protocol, network, originator and responder, state,
 * age, idle time, packets each way and the rules that allowed them. */
int show_conntrack(struct dp *dp, bool json, FILE *out);

#endif /* agent/show.h */
