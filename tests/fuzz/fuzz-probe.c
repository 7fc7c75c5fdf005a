/* Fuzz target for agent/probe.h: a UDP datagram that reached an agent's
 * probe port from anyone on the underlay.
 *
 * Besides staying in bounds, probe_parse() must take only what a probe of
 * ours looks like: a datagram it takes is of at most PROBE_MAX bytes, and
 * printing back what it read gives exactly those bytes, so that nothing
 * else (trailing bytes, a NUL, another host name) is ever answered or
 * taken for a peer's answer. */

#include "tests/fuzz/fuzz.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/probe.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char host[64], again[PROBE_MAX + 2];
    uint64_t seq;
    bool answer;
    int len;

    if (!probe_parse((const char *) data, size, &answer, &seq, host)) {
        return 0;
    }
    CHECK(size <= PROBE_MAX);
    CHECK(strlen(host) > 0 && strlen(host) < sizeof host);
    len = snprintf(again, sizeof again, "fabric-probe 1 %s %" PRIu64 " %s",
                   answer ? "answer" : "ask", seq, host);
    CHECK((size_t) len == size && !memcmp(again, data, size));
    return 0;
}
