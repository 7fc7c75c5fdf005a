/* Fuzz target for dhcp/dhcp.h: a DHCP client message, as the agent reads
 * it from a punted frame's UDP payload.
 *
 * Besides staying in bounds (replay.c's guard page, or the sanitizers),
 * dhcp_parse() must report what the bytes say: its fields are checked
 * against the fixed part of the message.  Every answer the server would
 * give is then built, for a lease partly made of the input, and must be a
 * frame that pkt_parse_frame() reads as UDP 67 -> 68 of the length its
 * headers claim, which dhcp_parse() refuses as not a request (so the agent
 * never answers its own answers). */

#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "dhcp/dhcp.h"
#include "packet/parse.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct dhcp_header *h = (const struct dhcp_header *) data;
    uint8_t frame[DHCP_FRAME_MAX];
    struct dhcp_request req, again;
    struct dhcp_lease lease;
    enum dhcp_msg_type type;
    struct pkt_info info;
    uint32_t len;
    int error;

    error = dhcp_parse(data, data + size, &req);
    CHECK(error >= DHCP_OK && error < DHCP_N_ERRORS);
    CHECK((strcmp(dhcp_error_name(error), "ok") != 0) == (error != DHCP_OK));
    if (error) {
        return 0;
    }
    CHECK(size >= sizeof *h);
    CHECK(req.msg_type != 0);
    CHECK(req.xid == h->xid && req.ciaddr == h->ciaddr);
    CHECK(!memcmp(req.chaddr, h->chaddr, 6));
    CHECK(req.client_id_len <= DHCP_CLIENT_ID_MAX);
    CHECK(req.n_params <= DHCP_PARAMS_MAX);

    memset(&lease, 0, sizeof lease);
    lease.yiaddr = req.requested_ip ? req.requested_ip : h->yiaddr;
    lease.server_id = req.server_id ? req.server_id : h->siaddr;
    lease.prefix_len = h->hops;
    lease.mtu = (uint16_t) (h->secs);
    lease.n_dns = req.n_params % (DHCP_DNS_MAX + 1);
    memcpy(lease.dns, h->file, sizeof lease.dns);
    lease.hostname_len = req.client_id_len % (DHCP_HOSTNAME_MAX + 1);
    memcpy(lease.hostname, h->sname, DHCP_HOSTNAME_MAX);

    type = dhcp_decide(&req, &lease);
    CHECK(type == DHCP_NONE || type == DHCP_OFFER || type == DHCP_ACK
          || type == DHCP_NAK);
    for (int t = DHCP_OFFER; t <= DHCP_NAK; t++) {
        len = dhcp_build_frame(frame, &req, &lease, t);
        if (t != DHCP_OFFER && t != DHCP_ACK && t != DHCP_NAK) {
            CHECK(len == 0);
            continue;
        }
        CHECK(len >= 42 + DHCP_MIN_MESSAGE && len <= DHCP_FRAME_MAX);
        CHECK(pkt_parse_frame(frame, frame + len, &info) == 0);
        CHECK(info.l4_proto == PKT_IPPROTO_UDP);
        CHECK(info.sport == bpf_htons(DHCP_SERVER_PORT));
        CHECK(info.dport == bpf_htons(DHCP_CLIENT_PORT));
        CHECK(info.l3_len == len - 14);
        CHECK(dhcp_parse(frame + 42, frame + len, &again)
              == DHCP_ERR_NOT_REQUEST);
    }
    return 0;
}
