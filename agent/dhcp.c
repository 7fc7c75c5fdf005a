/* DHCP from the fabric: see agent/dhcp.h. */
#include "agent/dhcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "agent/core.h"
#include "agent/migrate.h"
#include "datapath/dp.h"
#include "packet/parse.h"
#include "utils/log.h"
#include "utils/util.h"

#define DHCP_POLL_MS 200 /* How often the thread looks at 'stopping'. */

struct dhcp_responder {
    struct dp_punts *punts;  /* The fast path's punts. */
    struct core *core;       /* Where leases come from, answers go. */
    pthread_t thread;        /* Reads 'punts'. */
    atomic_bool stopping;    /* Set to stop 'thread'. */
    struct dhcp_stats stats; /* The thread's counters. */
};

static const char *const dhcp_ignored_names[AGENT_DHCP_N_IGNORED] = {
#define AGENT_DHCP_IGNORED_NAME(NAME, STR) [AGENT_DHCP_##NAME] = STR,
    AGENT_DHCP_IGNORED(AGENT_DHCP_IGNORED_NAME)
#undef AGENT_DHCP_IGNORED_NAME
};

const char *
agent_dhcp_ignored_name(enum agent_dhcp_ignored why)
{
    return (unsigned) why < AGENT_DHCP_N_IGNORED ? dhcp_ignored_names[why]
                                                 : "unknown";
}

void
dhcp_responder_answer(struct core *core, uint32_t ifindex,
                      const uint8_t *frame, size_t len,
                      struct dhcp_stats *stats)
{
    uint8_t reply[DHCP_FRAME_MAX];
    enum agent_dhcp_ignored why;
    struct dhcp_request req;
    struct dhcp_lease lease;
    enum dhcp_msg_type type;
    struct pkt_info info;
    const uint8_t *end;
    uint8_t mac[6];
    uint32_t n;
    int error;

    /* The fast path punts IPv4 UDP 68->67 only; the message runs to the
     * end of the IP packet (what follows is Ethernet padding). */
    if (pkt_parse_frame((uint8_t *) frame, (uint8_t *) frame + len, &info)
        || info.l3_proto != PKT_ETH_P_IPV4 || info.l4_proto != PKT_IPPROTO_UDP
        || !info.l4_off || info.l3_off + info.l3_len > len) {
        stats->ignored[AGENT_DHCP_MALFORMED]++;
        return;
    }
    end = frame + info.l3_off + info.l3_len;
    error =
        dhcp_parse(frame + info.l4_off + sizeof(struct pkt_udp), end, &req);
    if (error) {
        stats->ignored[AGENT_DHCP_MALFORMED]++;
        LOG_DBG("dhcp: ifindex %" PRIu32 ": %s", ifindex,
                dhcp_error_name(error));
        return;
    }
    stats->received[req.msg_type <= DHCP_INFORM ? req.msg_type : 0]++;

    if (!core_dhcp_lease(core, ifindex, &lease, mac, &why)) {
        stats->ignored[why]++;
        return;
    }
    /* The fast path checked the chaddr against the port's MAC too; the
     * state may have changed the MAC since. */
    if (memcmp(req.chaddr, mac, sizeof mac)) {
        stats->ignored[AGENT_DHCP_UNKNOWN_PORT]++;
        return;
    }
    type = dhcp_decide(&req, &lease);
    n = dhcp_build_frame(reply, &req, &lease, type);
    if (!n) {
        stats->ignored[AGENT_DHCP_NOT_FOR_US]++;
        return;
    }
    error = core_inject(core, ifindex, reply, n);
    if (error) {
        stats->ignored[AGENT_DHCP_SEND_FAILED]++;
        LOG_WARN("dhcp: sending to ifindex %" PRIu32 ": %s", ifindex,
                 strerror(error));
        return;
    }
    stats->sent[type]++;
}

static void
dhcp_punt(const struct dp_punt *p, void *r_)
{
    struct dhcp_responder *r = r_;

    if (p->reason == DP_PUNT_DHCP) {
        dhcp_responder_answer(r->core, p->ifindex, p->frame,
                              p->copied < p->len ? p->copied : p->len,
                              &r->stats);
    } else if (p->reason == DP_PUNT_ACTIVATED) {
        /* The fast path has one punt ring and this is its one reader: a
         * VM that migrated in announced itself (agent/migrate.h). */
        migrate_activated(r->core, p->ifindex);
    }
}

static void *
dhcp_thread(void *r_)
{
    struct dhcp_responder *r = r_;

    while (!atomic_load(&r->stopping)) {
        int error = dp_punts_poll(r->punts, DHCP_POLL_MS);

        if (error && error != EINTR) {
            LOG_ERR("dhcp: reading punts: %s; DHCP stops being answered",
                    strerror(error));
            break;
        }
        core_set_dhcp_stats(r->core, &r->stats);
    }
    return NULL;
}

int
dhcp_responder_start(struct dp *dp, struct core *core,
                     struct dhcp_responder **rp)
{
    struct dhcp_responder *r = xzalloc(sizeof *r);
    int error;

    *rp = NULL;
    r->core = core;
    atomic_init(&r->stopping, false);
    error = dp_punts_open(dp, dhcp_punt, r, &r->punts);
    if (!error) {
        error = pthread_create(&r->thread, NULL, dhcp_thread, r);
        if (error) {
            dp_punts_close(r->punts);
        }
    }
    if (error) {
        LOG_ERR("dhcp: cannot answer DHCP: %s", strerror(error));
        free(r);
        return error;
    }
    *rp = r;
    return 0;
}

void
dhcp_responder_stop(struct dhcp_responder *r)
{
    if (r) {
        atomic_store(&r->stopping, true);
        pthread_join(r->thread, NULL);
        dp_punts_close(r->punts);
        free(r);
    }
}
