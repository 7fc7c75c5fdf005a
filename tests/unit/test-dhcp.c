/* Unit tests for dhcp/dhcp.h: a client's messages as udhcpc and dhclient
 * send them are read field by field, malformed ones are refused with the
 * reason the agent counts, and the server's answers are checked byte by
 * byte, their checksums with tests/unit/rfc1071.h.
 *
 * Every message is parsed from a copy that ends at a guard page, so a read
 * one byte past the end crashes the test. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "dhcp/dhcp.h"
#include "packet/parse.h"

#include "tests/unit/guard-buf.h"
#include "tests/unit/rfc1071.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof(a)[0])

static const uint8_t client_mac[6] = {0x02, 0xfa, 0x11, 0x22, 0x33, 0x44};
static const uint8_t server_mac[6] = {0x0e, 0xfa, 0xb0, 0x00, 0x00, 0x01};

/* A message being built: the fixed part, then options appended. */
struct msg {
    uint8_t bytes[1500];
    size_t len;
};

/* Starts 'm' as a BOOTREQUEST from client_mac with transaction id 'xid'. */
static void
msg_init(struct msg *m, uint32_t xid)
{
    struct dhcp_header *h = (struct dhcp_header *) m->bytes;

    memset(m, 0, sizeof *m);
    h->op = DHCP_OP_REQUEST;
    h->htype = DHCP_HTYPE_ETHER;
    h->hlen = 6;
    h->xid = htonl(xid);
    memcpy(h->chaddr, client_mac, 6);
    h->magic = htonl(DHCP_MAGIC);
    m->len = sizeof *h;
}

/* Appends option 'code' with 'len' bytes of 'value'. */
static void
msg_opt(struct msg *m, uint8_t code, const void *value, uint8_t len)
{
    m->bytes[m->len++] = code;
    m->bytes[m->len++] = len;
    memcpy(m->bytes + m->len, value, len);
    m->len += len;
}

static void
msg_type(struct msg *m, uint8_t type)
{
    msg_opt(m, DHCP_OPT_MSG_TYPE, &type, 1);
}

static void
msg_ip(struct msg *m, uint8_t code, const char *ip)
{
    uint32_t a = inet_addr(ip);

    msg_opt(m, code, &a, 4);
}

static void
msg_end(struct msg *m)
{
    m->bytes[m->len++] = DHCP_OPT_END;
}

/* Parses 'len' bytes of 'm' from a guarded copy into 'req'. */
static int
parse_len(const struct msg *m, size_t len, struct dhcp_request *req)
{
    struct guard_buf g;
    uint8_t *data = guard_buf_init(&g, m->bytes, len);
    int error = dhcp_parse(data, data + len, req);

    guard_buf_destroy(&g);
    return error;
}

static int
parse(const struct msg *m, struct dhcp_request *req)
{
    return parse_len(m, m->len, req);
}

/* The lease of the tests: 10.1.0.5/24 from server 10.1.0.254, MTU 1450,
 * hostname "web1", two DNS servers. */
static void
lease_init(struct dhcp_lease *l)
{
    memset(l, 0, sizeof *l);
    l->yiaddr = inet_addr("10.1.0.5");
    l->server_id = inet_addr("10.1.0.254");
    memcpy(l->server_mac, server_mac, 6);
    l->prefix_len = 24;
    l->mtu = 1450;
    l->lease_secs = 86400;
    memcpy(l->hostname, "web1", 4);
    l->hostname_len = 4;
    l->dns[0] = inet_addr("10.9.0.1");
    l->dns[1] = inet_addr("10.9.0.2");
    l->n_dns = 2;
}

/* Finds option 'code' in the reply options from 'p' to 'end'; returns a
 * pointer to its length byte, or NULL. */
static const uint8_t *
find_option(const uint8_t *p, const uint8_t *end, uint8_t code)
{
    while (p < end && *p != DHCP_OPT_END) {
        if (*p == DHCP_OPT_PAD) {
            p++;
            continue;
        }
        assert_true(p + 2 <= end && p + 2 + p[1] <= end);
        if (*p == code) {
            return p + 1;
        }
        p += 2 + p[1];
    }
    return NULL;
}

/* Builds the 'type' answer to 'req' and checks what every answer must be:
 * a well-formed Ethernet/IPv4/UDP 67->68 frame with correct checksums, at
 * least BOOTP's 300 bytes, a BOOTREPLY for the client's xid and MAC.
 * Returns the frame's length; the frame is in 'frame'. */
static size_t
build_checked(uint8_t *frame, const struct dhcp_request *req,
              const struct dhcp_lease *lease, enum dhcp_msg_type type)
{
    size_t len = dhcp_build_frame(frame, req, lease, type);
    struct dhcp_header *h = (struct dhcp_header *) (frame + 42);
    struct pkt_info info;
    uint8_t pseudo[12];
    uint16_t udp_len;
    uint8_t *both;

    assert_true(len >= 42 + DHCP_MIN_MESSAGE && len <= DHCP_FRAME_MAX);
    assert_int_equal(pkt_parse_frame(frame, frame + len, &info), 0);
    assert_int_equal(info.l4_proto, PKT_IPPROTO_UDP);
    assert_int_equal(ntohs(info.sport), 67);
    assert_int_equal(ntohs(info.dport), 68);
    assert_int_equal(info.l3_len, len - 14);
    assert_memory_equal(frame + 6, server_mac, 6);
    assert_int_equal(rfc1071_csum(frame + 14, 20), 0);

    udp_len = (uint16_t) (len - 34);
    assert_int_equal(frame[38] << 8 | frame[39], udp_len);
    memcpy(pseudo, frame + 26, 8);
    pseudo[8] = 0;
    pseudo[9] = PKT_IPPROTO_UDP;
    pseudo[10] = udp_len >> 8;
    pseudo[11] = udp_len & 0xff;
    both = malloc(12 + udp_len);
    memcpy(both, pseudo, 12);
    memcpy(both + 12, frame + 34, udp_len);
    assert_int_equal(rfc1071_csum(both, 12 + udp_len), 0);
    free(both);

    assert_int_equal(h->op, DHCP_OP_REPLY);
    assert_int_equal(h->xid, req->xid);
    assert_memory_equal(h->chaddr, req->chaddr, 6);
    assert_int_equal(ntohl(h->magic), DHCP_MAGIC);
    return len;
}

/* A DISCOVER as udhcpc sends it: client id, parameter list, hostname; every
 * field the server needs comes out. */
static void
test_parse_discover(void **state)
{
    static const uint8_t params[] = {1, 3, 6, 12, 15, 26, 28, 42};
    static const uint8_t cid[] = {1, 0x02, 0xfa, 0x11, 0x22, 0x33, 0x44};
    struct dhcp_request req;
    struct msg m;

    (void) state;
    msg_init(&m, 0x12345678);
    ((struct dhcp_header *) m.bytes)->flags = htons(DHCP_FLAG_BROADCAST);
    msg_type(&m, DHCP_DISCOVER);
    msg_opt(&m, DHCP_OPT_CLIENT_ID, cid, sizeof cid);
    msg_opt(&m, DHCP_OPT_PARAMS, params, sizeof params);
    msg_opt(&m, DHCP_OPT_HOSTNAME, "guest", 5);
    msg_end(&m);
    m.len = 300;

    assert_int_equal(parse(&m, &req), DHCP_OK);
    assert_int_equal(req.msg_type, DHCP_DISCOVER);
    assert_int_equal(ntohl(req.xid), 0x12345678);
    assert_int_equal(ntohs(req.flags), DHCP_FLAG_BROADCAST);
    assert_memory_equal(req.chaddr, client_mac, 6);
    assert_int_equal(req.client_id_len, sizeof cid);
    assert_memory_equal(req.client_id, cid, sizeof cid);
    assert_int_equal(req.n_params, sizeof params);
    assert_memory_equal(req.params, params, sizeof params);
    assert_int_equal(req.requested_ip, 0);
    assert_int_equal(req.server_id, 0);
}

/* Options after padding, a message that ends without END, and options
 * that repeat (the last counts). */
static void
test_parse_pad_and_no_end(void **state)
{
    struct dhcp_request req;
    struct msg m;

    (void) state;
    msg_init(&m, 1);
    m.bytes[m.len++] = DHCP_OPT_PAD;
    m.bytes[m.len++] = DHCP_OPT_PAD;
    msg_type(&m, DHCP_DISCOVER);
    msg_ip(&m, DHCP_OPT_REQUESTED_IP, "10.1.0.9");
    msg_ip(&m, DHCP_OPT_REQUESTED_IP, "10.1.0.5");
    msg_type(&m, DHCP_REQUEST);
    assert_int_equal(parse(&m, &req), DHCP_OK);
    assert_int_equal(req.msg_type, DHCP_REQUEST);
    assert_int_equal(req.requested_ip, inet_addr("10.1.0.5"));
}

/* Option overload (option 52): options continue in "file" (1), "sname"
 * (2) or both (3), read in that order. */
static void
test_parse_overload(void **state)
{
    for (uint8_t overload = 1; overload <= 3; overload++) {
        struct dhcp_request req;
        struct dhcp_header *h;
        struct msg m;
        __be32 sid = inet_addr("10.1.0.254");
        __be32 rip = inet_addr("10.1.0.5");

        (void) state;
        msg_init(&m, 2);
        h = (struct dhcp_header *) m.bytes;
        msg_opt(&m, DHCP_OPT_OVERLOAD, &overload, 1);
        msg_type(&m, DHCP_REQUEST);
        msg_end(&m);
        if (overload & 1) {
            h->file[0] = DHCP_OPT_SERVER_ID;
            h->file[1] = 4;
            memcpy(h->file + 2, &sid, 4);
            h->file[6] = DHCP_OPT_END;
        }
        if (overload & 2) {
            h->sname[0] = DHCP_OPT_REQUESTED_IP;
            h->sname[1] = 4;
            memcpy(h->sname + 2, &rip, 4);
            /* No END: the area ends with its last byte. */
        }
        assert_int_equal(parse(&m, &req), DHCP_OK);
        assert_int_equal(req.server_id, overload & 1 ? sid : 0);
        assert_int_equal(req.requested_ip, overload & 2 ? rip : 0);
    }
}

/* Every way a message can be wrong, each refused with its reason. */
static void
test_parse_malformed(void **state)
{
    struct dhcp_request req;
    struct dhcp_header *h;
    struct msg m;
    uint8_t bad;

    (void) state;
    /* Every truncation of the fixed part. */
    msg_init(&m, 3);
    msg_type(&m, DHCP_DISCOVER);
    msg_end(&m);
    for (size_t len = 0; len < sizeof(struct dhcp_header); len++) {
        assert_int_equal(parse_len(&m, len, &req), DHCP_ERR_TRUNCATED);
    }
    /* The fixed part alone has no type. */
    assert_int_equal(parse_len(&m, sizeof *h, &req), DHCP_ERR_NO_TYPE);

    h = (struct dhcp_header *) m.bytes;
    h->op = DHCP_OP_REPLY;
    assert_int_equal(parse(&m, &req), DHCP_ERR_NOT_REQUEST);
    h->op = DHCP_OP_REQUEST;
    h->hlen = 16;
    assert_int_equal(parse(&m, &req), DHCP_ERR_NOT_ETHERNET);
    h->hlen = 6;
    h->htype = 6;
    assert_int_equal(parse(&m, &req), DHCP_ERR_NOT_ETHERNET);
    h->htype = DHCP_HTYPE_ETHER;
    h->magic = 0;
    assert_int_equal(parse(&m, &req), DHCP_ERR_BAD_MAGIC);
    h->magic = htonl(DHCP_MAGIC);
    assert_int_equal(parse(&m, &req), DHCP_OK);

    /* An option whose length runs past the end, and one cut after its
     * code. */
    msg_init(&m, 4);
    msg_type(&m, DHCP_DISCOVER);
    m.bytes[m.len++] = DHCP_OPT_HOSTNAME;
    m.bytes[m.len++] = 40;
    memcpy(m.bytes + m.len, "abc", 3);
    m.len += 3;
    assert_int_equal(parse(&m, &req), DHCP_ERR_BAD_OPTION);
    assert_int_equal(parse_len(&m, m.len - 4, &req), DHCP_ERR_BAD_OPTION);

    /* Options of the wrong length. */
    msg_init(&m, 5);
    msg_opt(&m, DHCP_OPT_MSG_TYPE, "\x01\x01", 2);
    assert_int_equal(parse(&m, &req), DHCP_ERR_BAD_LENGTH);
    msg_init(&m, 5);
    msg_type(&m, DHCP_REQUEST);
    msg_opt(&m, DHCP_OPT_SERVER_ID, "\x0a\x01\x00", 3);
    assert_int_equal(parse(&m, &req), DHCP_ERR_BAD_LENGTH);
    msg_init(&m, 5);
    msg_type(&m, DHCP_REQUEST);
    msg_opt(&m, DHCP_OPT_CLIENT_ID, "\x01", 1);
    assert_int_equal(parse(&m, &req), DHCP_ERR_BAD_LENGTH);
    msg_init(&m, 5);
    bad = 4;
    msg_opt(&m, DHCP_OPT_OVERLOAD, &bad, 1);
    msg_type(&m, DHCP_DISCOVER);
    assert_int_equal(parse(&m, &req), DHCP_ERR_BAD_LENGTH);

    /* Overload that points at a malformed "file". */
    msg_init(&m, 6);
    h = (struct dhcp_header *) m.bytes;
    bad = 1;
    msg_opt(&m, DHCP_OPT_OVERLOAD, &bad, 1);
    msg_type(&m, DHCP_DISCOVER);
    h->file[126] = DHCP_OPT_HOSTNAME;
    h->file[127] = 8;
    assert_int_equal(parse(&m, &req), DHCP_ERR_BAD_OPTION);

    /* More steps than the bound: a whole frame of padding before the
     * type. */
    msg_init(&m, 7);
    m.len += DHCP_AREA_STEPS + 10;
    msg_type(&m, DHCP_DISCOVER);
    assert_int_equal(parse(&m, &req), DHCP_ERR_TOO_MANY);
    /* Exactly DHCP_AREA_STEPS steps is fine. */
    msg_init(&m, 7);
    m.len += DHCP_AREA_STEPS - 1;
    msg_type(&m, DHCP_DISCOVER);
    assert_int_equal(parse(&m, &req), DHCP_OK);

    assert_string_equal(dhcp_error_name(DHCP_ERR_TOO_MANY),
                        "too-many-options");
}

/* Long client ids and parameter lists are kept up to their bounds. */
static void
test_parse_long_options(void **state)
{
    uint8_t long_value[255];
    struct dhcp_request req;
    struct msg m;

    (void) state;
    for (size_t i = 0; i < sizeof long_value; i++) {
        long_value[i] = (uint8_t) i;
    }
    msg_init(&m, 8);
    msg_type(&m, DHCP_DISCOVER);
    msg_opt(&m, DHCP_OPT_CLIENT_ID, long_value, 255);
    msg_opt(&m, DHCP_OPT_PARAMS, long_value, 255);
    msg_end(&m);
    assert_int_equal(parse(&m, &req), DHCP_OK);
    assert_int_equal(req.client_id_len, DHCP_CLIENT_ID_MAX);
    assert_memory_equal(req.client_id, long_value, DHCP_CLIENT_ID_MAX);
    assert_int_equal(req.n_params, DHCP_PARAMS_MAX);
    assert_memory_equal(req.params, long_value, DHCP_PARAMS_MAX);
}

/* Which message answers which. */
static void
test_decide(void **state)
{
    struct dhcp_request req;
    struct dhcp_lease lease;

    (void) state;
    lease_init(&lease);
    memset(&req, 0, sizeof req);

    req.msg_type = DHCP_DISCOVER;
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_OFFER);

    /* Selecting: option 50 and our server id. */
    req.msg_type = DHCP_REQUEST;
    req.requested_ip = lease.yiaddr;
    req.server_id = lease.server_id;
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_ACK);
    req.requested_ip = inet_addr("10.1.0.6");
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_NAK);
    /* Another server's offer was taken: silence. */
    req.server_id = inet_addr("10.1.0.1");
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_NONE);

    /* Renewing: ciaddr, no option 50 nor 54. */
    req.server_id = 0;
    req.requested_ip = 0;
    req.ciaddr = lease.yiaddr;
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_ACK);
    req.ciaddr = inet_addr("192.168.0.1");
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_NAK);
    /* No address at all. */
    req.ciaddr = 0;
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_NAK);

    req.msg_type = DHCP_INFORM;
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_ACK);
    req.msg_type = DHCP_RELEASE;
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_NONE);
    req.msg_type = DHCP_DECLINE;
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_NONE);
    req.msg_type = 42;
    assert_int_equal(dhcp_decide(&req, &lease), DHCP_NONE);
}

/* An OFFER to a DISCOVER without the broadcast flag: unicast to the
 * offered address and the client's MAC, with every option the lease has
 * and no router. */
static void
test_build_offer(void **state)
{
    uint8_t frame[DHCP_FRAME_MAX];
    struct dhcp_request req;
    struct dhcp_lease lease;
    const uint8_t *opts, *end, *o;
    struct dhcp_header *h;
    size_t len;

    (void) state;
    lease_init(&lease);
    memset(&req, 0, sizeof req);
    req.msg_type = DHCP_DISCOVER;
    req.xid = htonl(0xabcdef01);
    memcpy(req.chaddr, client_mac, 6);

    len = build_checked(frame, &req, &lease, DHCP_OFFER);
    h = (struct dhcp_header *) (frame + 42);
    assert_memory_equal(frame, client_mac, 6);
    assert_int_equal(*(uint32_t *) (frame + 30), lease.yiaddr);
    assert_int_equal(*(uint32_t *) (frame + 26), lease.server_id);
    assert_int_equal(h->yiaddr, lease.yiaddr);
    assert_int_equal(h->ciaddr, 0);
    assert_int_equal(h->flags, 0);

    opts = (const uint8_t *) (h + 1);
    end = frame + len;
    o = find_option(opts, end, DHCP_OPT_MSG_TYPE);
    assert_non_null(o);
    assert_int_equal(o[0], 1);
    assert_int_equal(o[1], DHCP_OFFER);
    o = find_option(opts, end, DHCP_OPT_SERVER_ID);
    assert_non_null(o);
    assert_memory_equal(o + 1, &lease.server_id, 4);
    o = find_option(opts, end, DHCP_OPT_SUBNET_MASK);
    assert_non_null(o);
    assert_memory_equal(o + 1, "\xff\xff\xff\x00", 4);
    o = find_option(opts, end, DHCP_OPT_MTU);
    assert_non_null(o);
    assert_int_equal(o[1] << 8 | o[2], 1450);
    o = find_option(opts, end, DHCP_OPT_HOSTNAME);
    assert_non_null(o);
    assert_int_equal(o[0], 4);
    assert_memory_equal(o + 1, "web1", 4);
    o = find_option(opts, end, DHCP_OPT_DNS);
    assert_non_null(o);
    assert_int_equal(o[0], 8);
    assert_memory_equal(o + 1, lease.dns, 8);
    o = find_option(opts, end, DHCP_OPT_LEASE_TIME);
    assert_non_null(o);
    assert_int_equal(ntohl(*(uint32_t *) (o + 1)), 86400);
    /* Gateway-less: no router option (3). */
    assert_null(find_option(opts, end, 3));
}

/* The broadcast flag, a renewal's ciaddr, and a lease without hostname,
 * DNS or MTU. */
static void
test_build_destinations(void **state)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t frame[DHCP_FRAME_MAX];
    struct dhcp_request req;
    struct dhcp_lease lease;
    const uint8_t *opts, *end;
    size_t len;

    (void) state;
    lease_init(&lease);
    memset(&req, 0, sizeof req);
    req.msg_type = DHCP_DISCOVER;
    memcpy(req.chaddr, client_mac, 6);
    req.flags = htons(DHCP_FLAG_BROADCAST);
    build_checked(frame, &req, &lease, DHCP_OFFER);
    assert_memory_equal(frame, bcast, 6);
    assert_int_equal(*(uint32_t *) (frame + 30), 0xffffffff);

    req.flags = 0;
    req.msg_type = DHCP_REQUEST;
    req.ciaddr = lease.yiaddr;
    lease.hostname_len = 0;
    lease.n_dns = 0;
    lease.mtu = 0;
    len = build_checked(frame, &req, &lease, DHCP_ACK);
    assert_memory_equal(frame, client_mac, 6);
    assert_int_equal(*(uint32_t *) (frame + 30), lease.yiaddr);
    assert_int_equal(((struct dhcp_header *) (frame + 42))->ciaddr,
                     lease.yiaddr);
    opts = frame + 42 + sizeof(struct dhcp_header);
    end = frame + len;
    assert_null(find_option(opts, end, DHCP_OPT_HOSTNAME));
    assert_null(find_option(opts, end, DHCP_OPT_DNS));
    assert_null(find_option(opts, end, DHCP_OPT_MTU));
    assert_non_null(find_option(opts, end, DHCP_OPT_SUBNET_MASK));
}

/* A NAK is broadcast and says nothing but its type and our id; nothing
 * but OFFER, ACK and NAK is ever built. */
static void
test_build_nak(void **state)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t frame[DHCP_FRAME_MAX];
    struct dhcp_request req;
    struct dhcp_lease lease;
    struct dhcp_header *h;
    const uint8_t *opts, *end;
    size_t len;

    (void) state;
    lease_init(&lease);
    memset(&req, 0, sizeof req);
    req.msg_type = DHCP_REQUEST;
    req.ciaddr = inet_addr("192.168.7.7");
    memcpy(req.chaddr, client_mac, 6);
    len = build_checked(frame, &req, &lease, DHCP_NAK);
    h = (struct dhcp_header *) (frame + 42);
    assert_memory_equal(frame, bcast, 6);
    assert_int_equal(*(uint32_t *) (frame + 30), 0xffffffff);
    assert_int_equal(h->yiaddr, 0);
    assert_int_equal(h->ciaddr, 0);
    opts = (const uint8_t *) (h + 1);
    end = frame + len;
    assert_int_equal(find_option(opts, end, DHCP_OPT_MSG_TYPE)[1], DHCP_NAK);
    assert_non_null(find_option(opts, end, DHCP_OPT_SERVER_ID));
    assert_null(find_option(opts, end, DHCP_OPT_SUBNET_MASK));
    assert_null(find_option(opts, end, DHCP_OPT_LEASE_TIME));

    for (int t = 0; t < 256; t++) {
        if (t != DHCP_OFFER && t != DHCP_ACK && t != DHCP_NAK) {
            assert_int_equal(dhcp_build_frame(frame, &req, &lease, t), 0);
        }
    }
}

/* The largest answer: a 63-byte hostname and three DNS servers fit in
 * DHCP_FRAME_MAX; odd lengths keep the UDP checksum right. */
static void
test_build_largest(void **state)
{
    uint8_t frame[DHCP_FRAME_MAX + 16];
    struct dhcp_request req;
    struct dhcp_lease lease;
    size_t len;

    (void) state;
    lease_init(&lease);
    memset(lease.hostname, 'h', DHCP_HOSTNAME_MAX);
    lease.hostname_len = DHCP_HOSTNAME_MAX;
    lease.dns[2] = inet_addr("10.9.0.3");
    lease.n_dns = 3;
    memset(&req, 0, sizeof req);
    req.msg_type = DHCP_DISCOVER;
    memcpy(req.chaddr, client_mac, 6);
    memset(frame + DHCP_FRAME_MAX, 0xa5, 16);
    len = build_checked(frame, &req, &lease, DHCP_OFFER);
    assert_int_equal(len, DHCP_FRAME_MAX);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(frame[DHCP_FRAME_MAX + i], 0xa5);
    }
    for (uint8_t n = 1; n < 20; n++) {
        lease.hostname_len = n;
        build_checked(frame, &req, &lease, DHCP_ACK);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_discover),
        cmocka_unit_test(test_parse_pad_and_no_end),
        cmocka_unit_test(test_parse_overload),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_parse_long_options),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_build_offer),
        cmocka_unit_test(test_build_destinations),
        cmocka_unit_test(test_build_nak),
        cmocka_unit_test(test_build_largest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
