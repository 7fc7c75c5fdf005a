/* Seeing what the firewall does, at the controller: flow logs (agents post
 * them, each record checked, all or nothing; people filter them, newest
 * first; only the newest N are kept) and traces (the packet the controller
 * builds, how it chains the stages agents run, and what it concludes),
 * over real HTTP, with fake agents where a trace needs them. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <microhttpd.h>

#include "controller/api.h"
#include "controller/flowlogs.h"
#include "controller/server.h"
#include "controller/store.h"
#include "controller/trace.h"
#include "packet/csum.h"
#include "packet/hdr.h"
#include "tests/controller/fixture.h"
#include "utils/util.h"

/* A record as an agent sends it, with 'overrides' (JSON with ' for ")
 * merged in: a member set to null there is removed. */
static json_t *
record(const char *overrides)
{
    json_t *r = fixture_json(
        "{'time': '2026-11-22T10:00:00.123Z', 'network': 'blue',"
        " 'vni': 1000, 'protocol': 'tcp', 'src_ip': '10.0.0.2',"
        " 'src_port': 40000, 'dst_ip': '10.0.0.3', 'dst_port': 5432,"
        " 'port': 'web1', 'direction': 'egress', 'src_identity': 300,"
        " 'dst_identity': 301, 'rule': 7, 'verdict': 'allow',"
        " 'reason': 'rule'}");
    json_t *o = overrides ? fixture_json(overrides) : json_object();
    const char *key;
    json_t *value;

    json_object_foreach(o, key, value)
    {
        if (json_is_null(value)) {
            json_object_del(r, key);
        } else {
            json_object_set(r, key, value);
        }
    }
    json_decref(o);
    return r;
}

/* POSTs 'records' (stolen) for 'host' with 'token'; returns the status. */
static long
post(struct fixture *f, const char *token, const char *host, json_t *records,
     struct reply *r)
{
    json_t *body = json_pack("{ssso}", "host", host, "records", records);
    char *text = json_dumps(body, JSON_COMPACT);
    long status =
        fixture_call(f, "POST", "/v1/flowlogs", token, text, NULL, r);

    free(text);
    json_decref(body);
    return status;
}

/* GETs /v1/flowlogs with 'query' as 'token' and returns the items (a new
 * reference), failing the test unless the answer is 200. */
static json_t *
get(struct fixture *f, const char *token, const char *query)
{
    char *path = xasprintf("/v1/flowlogs%s", query);
    struct reply r;
    json_t *items;

    if (fixture_call(f, "GET", path, token, NULL, NULL, &r) != 200) {
        fail_msg("GET %s: %ld %s", path, r.status, r.body);
    }
    items = json_incref(json_object_get(r.json, "items"));
    assert_true(json_is_array(items));
    reply_clear(&r);
    free(path);
    return items;
}

/* The "port" members of 'items', joined with ",". */
static char *
ports_of(const json_t *items)
{
    char *s = xstrdup("");
    const json_t *item;
    size_t i;

    json_array_foreach(items, i, item)
    {
        char *more =
            xasprintf("%s%s%s", s, i ? "," : "",
                      json_string_value(json_object_get(item, "port")));

        free(s);
        s = more;
    }
    return s;
}

static void
expect_ports(struct fixture *f, const char *token, const char *query,
             const char *expected)
{
    json_t *items = get(f, token, query);
    char *got = ports_of(items);

    if (strcmp(got, expected)) {
        fail_msg("GET /v1/flowlogs%s: expected ports \"%s\", got \"%s\"",
                 query, expected, got);
    }
    free(got);
    json_decref(items);
}

/* Creates networks blue and red and the ports the records name: web1 in
 * blue and db1 in red on host-a, app1 in blue on host-b (hosts that need
 * not be registered).  An agent posts only its own ports' records. */
static void
make_ports(struct fixture *f)
{
    static const char *const bodies[][2] = {
        {"/v1/networks", "{'name': 'blue', 'cidr': '10.0.0.0/24'}"},
        {"/v1/networks", "{'name': 'red', 'cidr': '10.1.0.0/24'}"},
        {"/v1/ports", "{'name': 'web1', 'network': 'blue', 'host': 'host-a'}"},
        {"/v1/ports", "{'name': 'db1', 'network': 'red', 'host': 'host-a'}"},
        {"/v1/ports", "{'name': 'app1', 'network': 'blue', 'host': 'host-b'}"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
        json_t *body = fixture_json(bodies[i][1]);
        char *text = json_dumps(body, JSON_COMPACT);

        assert_int_equal(fixture_admin(f, "POST", bodies[i][0], text), 201);
        free(text);
        json_decref(body);
    }
}

static void
test_post_and_filter(void **state)
{
    struct fixture *f = fixture_start(30, false);
    char *agent_a = fixture_token(f, "agent-a", "agent", "host-a");
    char *agent_b = fixture_token(f, "agent-b", "agent", "host-b");
    char *viewer = fixture_token(f, "viewer", "viewer", NULL);
    json_t *records = json_array(), *items;
    struct reply r;

    make_ports(f);

    /* Host a: web1 allowed out at 10:00:01, denied in at 10:00:03; db1
     * in network "red" at 10:00:02. */
    json_array_append_new(records, record("{'time': '2026-11-22T10:00:01Z'}"));
    json_array_append_new(records,
                          record("{'time': '2026-11-22T10:00:03.5Z',"
                                 " 'direction': 'ingress', 'verdict': 'deny',"
                                 " 'reason': 'default-deny', 'rule': null}"));
    json_array_append_new(
        records, record("{'time': '2026-11-22T11:00:02+01:00', 'port': 'db1',"
                        " 'network': 'red', 'vni': 1001}"));
    assert_int_equal(post(f, agent_a, "host-a", records, &r), 204);
    reply_clear(&r);

    /* Host b: an ICMP echo that the network default denied. */
    records = json_array();
    json_array_append_new(
        records, record("{'time': '2026-11-22T10:00:04Z', 'port': 'app1',"
                        " 'protocol': 'icmp', 'src_port': null,"
                        " 'dst_port': null, 'icmp_type': 8, 'icmp_code': 0,"
                        " 'verdict': 'deny', 'reason': 'network-default',"
                        " 'rule': 0}"));
    assert_int_equal(post(f, agent_b, "host-b", records, &r), 204);
    reply_clear(&r);

    /* Newest first, by the records' own times, whatever the offset. */
    expect_ports(f, viewer, "", "app1,web1,db1,web1");
    expect_ports(f, f->admin, "?port=web1", "web1,web1");
    expect_ports(f, viewer, "?host=host-b", "app1");
    expect_ports(f, viewer, "?verdict=deny", "app1,web1");
    expect_ports(f, viewer, "?verdict=allow&network=blue", "web1");
    expect_ports(f, viewer, "?network=red", "db1");
    expect_ports(f, viewer, "?since=2026-11-22T10:00:02Z", "app1,web1,db1");
    expect_ports(f, viewer, "?since=2026-11-22T10:00:03.6Z", "app1");
    expect_ports(f, viewer, "?limit=2", "app1,web1");
    expect_ports(f, viewer, "?port=nobody", "");

    /* A record comes back as sent, with its host and an id. */
    items = get(f, viewer, "?host=host-b");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(items, 0), "host")),
        "host-b");
    assert_true(
        json_is_integer(json_object_get(json_array_get(items, 0), "id")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(items, 0), "icmp_type")),
                     8);
    json_decref(items);

    /* Bad queries say which parameter is wrong. */
    fixture_expect(f, "GET", "/v1/flowlogs?limit=1001", viewer, NULL, 400,
                   "limit");
    fixture_expect(f, "GET", "/v1/flowlogs?since=yesterday", viewer, NULL, 400,
                   "since");
    fixture_expect(f, "GET", "/v1/flowlogs?verdict=drop", viewer, NULL, 400,
                   "verdict");
    fixture_expect(f, "GET", "/v1/flowlogs?rule=7", viewer, NULL, 400, "rule");

    free(agent_a);
    free(agent_b);
    free(viewer);
    fixture_stop(f);
}

/* Posts, as 'token' for host-a, one good record and then 'bad' (overrides
 * of record()) and expects 'status' naming 'field' of record 1, with
 * nothing stored. */
static void
expect_refused(struct fixture *f, const char *token, const char *bad,
               long status, const char *field)
{
    json_t *records = json_array();
    struct reply r;
    json_t *items;

    json_array_append_new(records, record(NULL));
    json_array_append_new(records, record(bad));
    if (post(f, token, "host-a", records, &r) != status
        || strcmp(reply_field(&r), field)) {
        fail_msg("%s: expected %ld on %s, got %ld: %s", bad, status, field,
                 r.status, r.body);
    }
    reply_clear(&r);
    items = get(f, f->admin, "");
    assert_int_equal(json_array_size(items), 0);
    json_decref(items);
}

/* expect_refused() as admin, for a record that is invalid. */
static void
expect_bad_record(struct fixture *f, const char *bad, const char *field)
{
    expect_refused(f, f->admin, bad, 400, field);
}

static void
test_validation(void **state)
{
    struct fixture *f = fixture_start(30, false);
    json_t *records;
    struct reply r;

    expect_bad_record(f, "{'time': null}", "records[1].time");
    expect_bad_record(f, "{'time': '2026-11-22 10:00:00'}", "records[1].time");
    expect_bad_record(f, "{'time': '2026-02-31T10:00:00Z'}",
                      "records[1].time");
    expect_bad_record(f, "{'network': 'Blue'}", "records[1].network");
    expect_bad_record(f, "{'vni': 0}", "records[1].vni");
    expect_bad_record(f, "{'vni': '1000'}", "records[1].vni");
    expect_bad_record(f, "{'protocol': 'gre'}", "records[1].protocol");
    expect_bad_record(f, "{'src_ip': '10.0.0.256'}", "records[1].src_ip");
    expect_bad_record(f, "{'dst_ip': 'fd00::3'}", "records[1].dst_ip");
    expect_bad_record(f, "{'dst_port': 65536}", "records[1].dst_port");
    expect_bad_record(f, "{'port': null}", "records[1].port");
    expect_bad_record(f, "{'direction': 'both'}", "records[1].direction");
    expect_bad_record(f, "{'verdict': 'drop'}", "records[1].verdict");
    expect_bad_record(f, "{'reason': 'because'}", "records[1].reason");
    expect_bad_record(f, "{'rule': null}", "records[1].rule");
    expect_bad_record(f, "{'src_identity': 70000}", "records[1].src_identity");
    expect_bad_record(f, "{'color': 'red'}", "records[1].color");

    /* Other protocols go by number; IPv6 is fine when both ends are. */
    records = json_array();
    json_array_append_new(records,
                          record("{'protocol': '47', 'src_port': null,"
                                 " 'dst_port': null}"));
    json_array_append_new(records, record("{'src_ip': 'fd00::2',"
                                          " 'dst_ip': 'fd00::3'}"));
    assert_int_equal(post(f, f->admin, "host-a", records, &r), 204);
    reply_clear(&r);

    /* A record that is not an object, and too many records. */
    records = json_array();
    json_array_append_new(records, json_string("nope"));
    assert_int_equal(post(f, f->admin, "host-a", records, &r), 400);
    assert_string_equal(reply_field(&r), "records");
    reply_clear(&r);
    records = json_array();
    for (int i = 0; i <= API_FLOWLOGS_POST_MAX; i++) {
        json_array_append_new(records, record(NULL));
    }
    assert_int_equal(post(f, f->admin, "host-a", records, &r), 400);
    assert_string_equal(reply_field(&r), "records");
    assert_non_null(strstr(reply_message(&r), "at most 1000"));
    reply_clear(&r);

    /* No host, or not a name. */
    fixture_expect(f, "POST", "/v1/flowlogs", f->admin, "{\"records\": []}",
                   400, "host");
    fixture_expect(f, "POST", "/v1/flowlogs", f->admin,
                   "{\"host\": \"A B\", \"records\": []}", 400, "host");
    fixture_stop(f);
}

static void
test_roles(void **state)
{
    struct fixture *f = fixture_start(30, false);
    char *agent_a = fixture_token(f, "agent-a", "agent", "host-a");
    char *viewer = fixture_token(f, "viewer", "viewer", NULL);
    json_t *records = json_array();
    struct reply r;

    /* An agent posts for its own host only. */
    make_ports(f);
    json_array_append_new(records, record(NULL));
    assert_int_equal(post(f, agent_a, "host-b", json_incref(records), &r),
                     403);
    reply_clear(&r);
    assert_int_equal(post(f, viewer, "host-a", json_incref(records), &r), 403);
    reply_clear(&r);
    assert_int_equal(post(f, NULL, "host-a", json_incref(records), &r), 401);
    reply_clear(&r);
    assert_int_equal(post(f, agent_a, "host-a", records, &r), 204);
    reply_clear(&r);

    /* People read them; agents do not. */
    assert_int_equal(
        fixture_call(f, "GET", "/v1/flowlogs", agent_a, NULL, NULL, &r), 403);
    reply_clear(&r);
    assert_int_equal(
        fixture_call(f, "GET", "/v1/flowlogs", viewer, NULL, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
    reply_clear(&r);

    /* Successful posts come every few seconds: they are not audited. */
    assert_int_equal(
        fixture_call(f, "GET", "/v1/audit", f->admin, NULL, NULL, &r), 200);
    {
        const json_t *entry;
        size_t i;

        json_array_foreach(json_object_get(r.json, "items"), i, entry)
        {
            assert_false(
                json_integer_value(json_object_get(entry, "status")) == 204
                && !strcmp(json_string_value(json_object_get(entry, "path")),
                           "/v1/flowlogs"));
        }
    }
    reply_clear(&r);

    free(agent_a);
    free(viewer);
    fixture_stop(f);
}

/* An agent's records are of its own host's ports, in their own networks:
 * it cannot blame another host's port, or fill the store under port names
 * nobody has. */
static void
test_agent_scope(void **state)
{
    struct fixture *f = fixture_start(30, false);
    char *agent_a = fixture_token(f, "agent-a", "agent", "host-a");
    struct reply r;

    make_ports(f);
    expect_refused(f, agent_a, "{'port': 'app1'}", 403, "records[1].port");
    expect_refused(f, agent_a, "{'port': 'nobody'}", 403, "records[1].port");
    expect_refused(f, agent_a, "{'network': 'red'}", 403,
                   "records[1].network");
    fixture_call(f, "POST", "/v1/flowlogs", agent_a,
                 "{\"host\": \"host-a\", \"records\": []}", NULL, &r);
    assert_int_equal(r.status, 204);
    reply_clear(&r);

    /* Once the port moves to host a, host a may speak of it. */
    assert_int_equal(
        fixture_admin(f, "PATCH", "/v1/ports/app1", "{\"host\": \"host-a\"}"),
        200);
    assert_int_equal(post(f, agent_a, "host-a",
                          json_pack("[o]", record("{'port': 'app1'}")), &r),
                     204);
    reply_clear(&r);
    expect_ports(f, f->admin, "", "app1");

    free(agent_a);
    fixture_stop(f);
    (void) state;
}

/* Only the newest records are kept, by arrival. */
static void
test_retention(void **state)
{
    char *dir = fixture_dir_create();
    char *db = xasprintf("%s/store.db", dir);
    struct flowlogs_filter filter = {.limit = 100};
    struct flowlogs *fl;
    struct store *store;
    json_t *items;
    size_t count;

    assert_int_equal(store_open(db, &store), 0);
    assert_int_equal(flowlogs_open(db, 5, 0, &fl), 0);
    for (int batch = 0; batch < 4; batch++) {
        struct flowlogs_record recs[3];
        json_t *bodies[3];

        for (int i = 0; i < 3; i++) {
            char *o = xasprintf("{'time': '2026-11-22T10:00:%02dZ',"
                                " 'port': 'p%d'}",
                                batch * 3 + i, batch * 3 + i);

            bodies[i] = record(o);
            free(o);
            recs[i] = (struct flowlogs_record){
                .time_us = batch * 3 + i,
                .port = json_string_value(json_object_get(bodies[i], "port")),
                .network = "blue",
                .verdict = "allow",
                .record = bodies[i],
            };
        }
        assert_int_equal(flowlogs_add(fl, "host-a", recs, 3), 0);
        for (int i = 0; i < 3; i++) {
            json_decref(bodies[i]);
        }
        assert_int_equal(flowlogs_count(fl, &count), 0);
        assert_int_equal(count, batch == 0 ? 3 : 5);
    }
    assert_int_equal(flowlogs_query(fl, &filter, &items), 0);
    {
        char *got = ports_of(items);

        assert_string_equal(got, "p11,p10,p9,p8,p7");
        free(got);
    }
    json_decref(items);

    /* The store itself did not move: flow logs are not objects. */
    assert_int_equal(store_revision(store), 0);
    flowlogs_close(fl);
    store_close(store);
    free(db);
    fixture_dir_remove(dir);
}

/* Posts 'n' denials of port 'port' in batches of 1000 as the admin. */
static void
post_denials(struct fixture *f, const char *port, int n)
{
    for (int done = 0; done < n;) {
        json_t *records = json_array();
        struct reply r;

        for (; done < n && json_array_size(records) < 1000; done++) {
            char *o = xasprintf("{'port': '%s', 'verdict': 'deny',"
                                " 'reason': 'default-deny', 'rule': null,"
                                " 'src_port': %d}",
                                port, 1024 + done % 60000);

            json_array_append_new(records, record(o));
            free(o);
        }
        assert_int_equal(post(f, f->admin, "host-a", records, &r), 204);
        reply_clear(&r);
    }
}

/* The number of records of 'port' kept. */
static size_t
records_of(struct fixture *f, const char *port)
{
    char *query = xasprintf("?port=%s&limit=1000", port);
    json_t *items = get(f, f->admin, query);
    size_t n = json_array_size(items);

    json_decref(items);
    free(query);
    return n;
}

/* A port that floods the store with denials pushes out only its own
 * records: the per-port quota stops it at its tenth of the store, and the
 * global cap takes from the ports over their fair share, the fullest
 * first. */
static void
test_port_quota(void **state)
{
    struct server_config limits = {.flowlogs_keep = 1000};
    struct fixture *f = fixture_start_config(30, false, &limits);
    json_t *items;

    (void) state;
    post_denials(f, "quiet", 20);
    post_denials(f, "flood", 5000);
    assert_int_equal(records_of(f, "quiet"), 20);
    /* The flooder keeps its newest hundred. */
    items = get(f, f->admin, "?port=flood&limit=1000");
    assert_int_equal(json_array_size(items), 100);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(items, 0), "src_port")),
                     1024 + 4999);
    json_decref(items);
    fixture_stop(f);

    /* With no quota per port below the cap, the cap alone. */
    limits.flowlogs_port_keep = 1000;
    f = fixture_start_config(30, false, &limits);
    post_denials(f, "quiet", 20);
    post_denials(f, "flood", 5000);
    post_denials(f, "late", 30);
    assert_int_equal(records_of(f, "quiet"), 20);
    assert_int_equal(records_of(f, "late"), 30);
    assert_int_equal(records_of(f, "flood"), 1000 - 20 - 30);
    /* Now the quiet port floods too (820 records): the share of each of
     * the three is 333, and the fullest gives first, down to its share
     * (950 - 617), then the next (820 - 183). */
    post_denials(f, "quiet", 800);
    assert_int_equal(records_of(f, "late"), 30);
    assert_int_equal(records_of(f, "flood"), 333);
    assert_int_equal(records_of(f, "quiet"), 637);
    fixture_stop(f);
}

/* Aggregated records: "count" and "last_time" as posted, "count" 1 for a
 * record without it. */
static void
test_counts(void **state)
{
    struct fixture *f = fixture_start(30, false);
    json_t *items;
    struct reply r;

    (void) state;
    assert_int_equal(
        post(f, f->admin, "host-a",
             json_pack("[oo]",
                       record("{'port': 'a', 'count': 250,"
                              " 'last_time': '2026-11-22T10:00:05Z',"
                              " 'suppressed': 7}"),
                       record("{'port': 'b'}")),
             &r),
        204);
    reply_clear(&r);
    items = get(f, f->admin, "?port=a");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(items, 0), "count")),
        250);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(items, 0), "last_time")),
                        "2026-11-22T10:00:05Z");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(items, 0), "suppressed")),
                     7);
    json_decref(items);
    items = get(f, f->admin, "?port=b");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(items, 0), "count")),
        1);
    json_decref(items);

    /* Counts below 1, and last times before the first, are refused. */
    assert_int_equal(post(f, f->admin, "host-a",
                          json_pack("[o]", record("{'count': 0}")), &r),
                     400);
    assert_string_equal(reply_field(&r), "records[0].count");
    reply_clear(&r);
    assert_int_equal(
        post(f, f->admin, "host-a",
             json_pack("[o]", record("{'last_time': '2026-11-22T09:00:00Z'}")),
             &r),
        400);
    assert_string_equal(reply_field(&r), "records[0].last_time");
    reply_clear(&r);
    assert_int_equal(post(f, f->admin, "host-a",
                          json_pack("[o]", record("{'suppressed': -1}")), &r),
                     400);
    assert_string_equal(reply_field(&r), "records[0].suppressed");
    reply_clear(&r);
    fixture_stop(f);
}

static void
test_rfc3339(void **state)
{
    int64_t us;

    assert_true(api_parse_rfc3339("1970-01-01T00:00:01Z", &us));
    assert_int_equal(us, 1000000);
    assert_true(api_parse_rfc3339("1970-01-01T01:00:01.5+01:00", &us));
    assert_int_equal(us, 1500000);
    assert_true(api_parse_rfc3339("1970-01-01t00:00:00.000001234z", &us));
    assert_int_equal(us, 1);
    assert_true(api_parse_rfc3339("1969-12-31T23:00:00-01:00", &us));
    assert_int_equal(us, 0);
    assert_false(api_parse_rfc3339("1970-01-01T00:00:01", &us));
    assert_false(api_parse_rfc3339("1970-01-01T00:00:01.Z", &us));
    assert_false(api_parse_rfc3339("1970-13-01T00:00:01Z", &us));
    assert_false(api_parse_rfc3339("1970-01-01T00:00:01Zjunk", &us));
    assert_false(api_parse_rfc3339("", &us));
}

/* Traces: the pieces. */

/* Sums 'len' bytes as 16-bit big-endian words, folded. */
static uint16_t
fold(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        sum += (uint32_t) p[i] << 8 | p[i + 1];
    }
    if (len & 1) {
        sum += (uint32_t) p[len - 1] << 8;
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

/* Checks the IPv4 and L4 checksums of 'frame' the way a receiver does:
 * each sums to 0xffff. */
static void
check_checksums(const uint8_t *frame, size_t len)
{
    const struct pkt_ipv4 *ip = (const void *) (frame + 14);
    const uint8_t *l4 = frame + 14 + 20;
    size_t l4_len = len - 14 - 20;
    uint32_t pseudo = 0;

    assert_int_equal(fold((const uint8_t *) ip, 20, 0), 0xffff);
    assert_int_equal(ntohs(ip->tot_len), len - 14);
    if (ip->protocol != PKT_IPPROTO_ICMP) {
        pseudo = fold((const uint8_t *) &ip->saddr, 8, 0) + ip->protocol
                 + (uint32_t) l4_len;
    }
    assert_int_equal(fold(l4, l4_len, pseudo), 0xffff);
}

static void
test_trace_frame(void **state)
{
    struct trace_flow flow = {
        .src_mac = {0x02, 0xfa, 0, 0, 0, 1},
        .dst_mac = {0x02, 0xfa, 0, 0, 0, 2},
        .protocol = PKT_IPPROTO_TCP,
        .sport = 40000,
        .dport = 5432,
        .icmp_type = 8,
    };
    uint8_t frame[TRACE_FRAME_MAX];
    const struct pkt_tcp *tcp = (const void *) (frame + 34);
    const struct pkt_icmp *icmp = (const void *) (frame + 34);
    uint32_t vtep;
    size_t len;

    inet_pton(AF_INET, "10.0.0.2", &flow.src_ip);
    inet_pton(AF_INET, "10.0.0.3", &flow.dst_ip);

    len = trace_build_frame(&flow, frame, sizeof frame);
    assert_int_equal(len, 14 + 20 + 20);
    assert_memory_equal(frame, flow.dst_mac, 6);
    assert_memory_equal(frame + 6, flow.src_mac, 6);
    assert_int_equal(frame[12] << 8 | frame[13], 0x0800);
    assert_int_equal(tcp->flags, PKT_TCP_SYN);
    assert_int_equal(ntohs(tcp->dest), 5432);
    assert_int_equal(ntohs(tcp->source), 40000);
    check_checksums(frame, len);
    assert_false(trace_frame_is_vxlan(frame, len, &vtep));

    flow.protocol = PKT_IPPROTO_UDP;
    flow.dport = 53;
    len = trace_build_frame(&flow, frame, sizeof frame);
    assert_int_equal(len, 14 + 20 + 8 + 8);
    check_checksums(frame, len);
    assert_false(trace_frame_is_vxlan(frame, len, &vtep));
    /* A UDP datagram to 4789 is what a VXLAN frame looks like outside. */
    flow.dport = 4789;
    flow.dst_ip = htonl(0xc6120002);
    len = trace_build_frame(&flow, frame, sizeof frame);
    assert_true(trace_frame_is_vxlan(frame, len, &vtep));
    assert_int_equal(vtep, htonl(0xc6120002));
    assert_false(trace_frame_is_vxlan(frame, 40, &vtep));

    flow.protocol = PKT_IPPROTO_ICMP;
    len = trace_build_frame(&flow, frame, sizeof frame);
    assert_int_equal(icmp->type, 8);
    assert_int_equal(icmp->code, 0);
    check_checksums(frame, len);

    /* Too small a buffer, or a protocol it cannot build. */
    assert_int_equal(trace_build_frame(&flow, frame, 40), 0);
    flow.protocol = 47;
    assert_int_equal(trace_build_frame(&flow, frame, sizeof frame), 0);
}

static void
test_trace_base64(void **state)
{
    static const char *const cases[][2] = {
        {"", ""},        {"f", "Zg=="},        {"fo", "Zm8="},
        {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
    };
    uint8_t buf[16];
    size_t len;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *s = trace_base64_encode((const uint8_t *) cases[i][0],
                                      strlen(cases[i][0]));

        assert_string_equal(s, cases[i][1]);
        free(s);
        assert_true(trace_base64_decode(cases[i][1], buf, sizeof buf, &len));
        assert_int_equal(len, strlen(cases[i][0]));
        assert_memory_equal(buf, cases[i][0], len);
    }
    assert_false(trace_base64_decode("Zg=", buf, sizeof buf, &len));
    assert_false(trace_base64_decode("Z===", buf, sizeof buf, &len));
    assert_false(trace_base64_decode("Zg==Zg==", buf, sizeof buf, &len));
    assert_false(trace_base64_decode("Zm9v!A==", buf, sizeof buf, &len));
    assert_false(trace_base64_decode("Zm9vYmFy", buf, 5, &len));
}

/* Concludes from 'stages' (JSON with ' for ") and checks the verdict,
 * reason and rule id (0: none). */
static void
expect_conclusion(const char *stages, const char *verdict, const char *reason,
                  json_int_t rule)
{
    json_t *s = fixture_json(stages);
    json_t *c = trace_conclude(s);

    assert_string_equal(json_string_value(json_object_get(c, "verdict")),
                        verdict);
    assert_string_equal(json_string_value(json_object_get(c, "reason")),
                        reason);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(c, "rule"), "id")),
        rule);
    if (!rule) {
        assert_true(json_is_null(json_object_get(c, "rule")));
    }
    json_decref(c);
    json_decref(s);
}

static void
test_trace_conclude(void **state)
{
    /* Delivered on one host, no firewall on the way. */
    expect_conclusion("[{'tc_action': 'redirect', 'drop_reason': null,"
                      "  'firewall': null}]",
                      "allow", "not-firewalled", 0);
    /* Allowed out by rule 7 here, in by rule 9 there: the last decides. */
    expect_conclusion("[{'tc_action': 'redirect', 'drop_reason': null,"
                      "  'firewall': {'action': 'allow', 'reason': 'rule',"
                      "               'direction': 'egress', 'rule': 7}},"
                      " {'tc_action': 'redirect', 'drop_reason': null,"
                      "  'firewall': {'action': 'allow', 'reason': 'rule',"
                      "               'direction': 'ingress', 'rule': 9}}]",
                      "allow", "rule", 9);
    /* Denied in stage 2 by default: no rule. */
    expect_conclusion(
        "[{'tc_action': 'redirect', 'drop_reason': null,"
        "  'firewall': {'action': 'allow', 'reason': 'rule',"
        "               'direction': 'egress', 'rule': 7}},"
        " {'tc_action': 'shot', 'drop_reason': 'firewall-deny',"
        "  'firewall': {'action': 'deny', 'reason': 'default-deny',"
        "               'direction': 'ingress', 'rule': 0}}]",
        "deny", "default-deny", 0);
    /* Denied by a rule in stage 1. */
    expect_conclusion("[{'tc_action': 'shot', 'drop_reason': 'firewall-deny',"
                      "  'firewall': {'action': 'deny', 'reason': 'rule',"
                      "               'direction': 'egress', 'rule': 12}}]",
                      "deny", "rule", 12);
    /* Allowed, then dropped for another reason. */
    expect_conclusion(
        "[{'tc_action': 'shot', 'drop_reason': 'mtu-exceeded',"
        "  'firewall': {'action': 'allow', 'reason': 'network-default',"
        "               'direction': 'egress', 'rule': 0}}]",
        "drop", "mtu-exceeded", 0);
}

static void
test_trace_stage_answer(void **state)
{
    uint8_t out[TRACE_FRAME_MAX];
    size_t len;
    char *msg;
    json_t *a, *s;

    a = fixture_json("{'tc_action': 'redirect', 'drop_reason': null,"
                     " 'firewall': null, 'frame': 'Zm9v'}");
    s = trace_stage_from_answer("host-a", "port", a, out, &len, &msg);
    assert_non_null(s);
    assert_int_equal(len, 3);
    assert_string_equal(json_string_value(json_object_get(s, "host")),
                        "host-a");
    assert_true(json_is_null(json_object_get(s, "firewall")));
    json_decref(s);
    json_decref(a);

    a = fixture_json("{'tc_action': 'ok', 'frame': 'not base64'}");
    assert_null(trace_stage_from_answer("host-a", "port", a, out, &len, &msg));
    assert_non_null(strstr(msg, "frame"));
    free(msg);
    json_decref(a);

    a = fixture_json("{'tc_action': 'ok', 'frame': '',"
                     " 'firewall': {'action': 'deny'}}");
    assert_null(trace_stage_from_answer("host-a", "port", a, out, &len, &msg));
    assert_non_null(strstr(msg, "firewall"));
    free(msg);
    json_decref(a);
}

/* Traces end to end, with fake agents: one HTTP server stands for the
 * agents of both hosts (at /a and /b), answers from a script and keeps
 * what it was asked. */
struct fake_agent {
    struct MHD_Daemon *daemon; /* The server. */
    uint16_t port;             /* Its port on 127.0.0.1. */
    pthread_mutex_t mutex;     /* Protects the members below. */
    json_t *answers;           /* URL -> answer to give. */
    json_t *asked;             /* Array of {"url", "auth", "body"}. */
};

/* The upload of one request. */
struct upload {
    char *data;
    size_t len;
};

static enum MHD_Result
fake_cb(void *fa_, struct MHD_Connection *conn, const char *url,
        const char *method, const char *version, const char *data,
        size_t *size, void **con_cls)
{
    struct fake_agent *fa = fa_;
    struct upload *up = *con_cls;
    struct MHD_Response *response;
    const char *auth;
    json_t *answer;
    enum MHD_Result r;
    char *text;

    if (!up) {
        *con_cls = xzalloc(sizeof *up);
        return MHD_YES;
    }
    if (*size) {
        up->data = xrealloc(up->data, up->len + *size + 1);
        memcpy(up->data + up->len, data, *size);
        up->len += *size;
        up->data[up->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&fa->mutex);
    json_array_append_new(fa->asked,
                          json_pack("{ssssss?}", "url", url, "auth",
                                    auth ? auth : "", "body", up->data));
    answer = json_object_get(fa->answers, url);
    text = json_dumps(answer ? answer : json_object(), JSON_COMPACT);
    pthread_mutex_unlock(&fa->mutex);
    free(up->data);
    free(up);
    *con_cls = NULL;
    response = MHD_create_response_from_buffer(strlen(text), text,
                                               MHD_RESPMEM_MUST_FREE);
    r = MHD_queue_response(conn, answer ? 200 : 404, response);
    MHD_destroy_response(response);
    return r;
}

static void
fake_agent_start(struct fake_agent *fa)
{
    memset(fa, 0, sizeof *fa);
    pthread_mutex_init(&fa->mutex, NULL);
    fa->answers = json_object();
    fa->asked = json_array();
    fa->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                  NULL, fake_cb, fa, MHD_OPTION_END);
    assert_non_null(fa->daemon);
    fa->port =
        MHD_get_daemon_info(fa->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void
fake_agent_stop(struct fake_agent *fa)
{
    MHD_stop_daemon(fa->daemon);
    json_decref(fa->answers);
    json_decref(fa->asked);
    pthread_mutex_destroy(&fa->mutex);
}

static const char token_a[] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char token_b[] =
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* Registers host 'name' with VTEP 'vtep' and its agent at 'url'. */
static void
register_host(struct fixture *f, const char *name, const char *vtep,
              const char *url, const char *token)
{
    char *body = xasprintf("{\"name\": \"%s\", \"vtep\": \"%s\","
                           " \"underlay\": \"eth0\", \"agent_url\": \"%s\","
                           " \"agent_token\": \"%s\"}",
                           name, vtep, url, token);

    assert_int_equal(fixture_admin(f, "POST", "/v1/hosts", body), 201);
    free(body);
}

/* A VXLAN frame to 'vtep' in base64: what stage 1 hands to stage 2. */
static char *
vxlan_frame_to(const char *vtep)
{
    struct trace_flow flow = {
        .protocol = PKT_IPPROTO_UDP, .sport = 50000, .dport = 4789};
    uint8_t frame[TRACE_FRAME_MAX];
    size_t len;

    inet_pton(AF_INET, "198.18.0.1", &flow.src_ip);
    inet_pton(AF_INET, vtep, &flow.dst_ip);
    len = trace_build_frame(&flow, frame, sizeof frame);
    return trace_base64_encode(frame, len);
}

static void
test_trace_end_to_end(void **state)
{
    struct fixture *f = fixture_start(30, false);
    char *viewer = fixture_token(f, "viewer", "viewer", NULL);
    char *url_a, *url_b, *vxlan;
    struct fake_agent fa;
    const json_t *asked;
    json_t *stage1_body;
    uint8_t frame[TRACE_FRAME_MAX];
    size_t len;
    struct reply r;

    fake_agent_start(&fa);
    url_a = xasprintf("http://127.0.0.1:%u/a", fa.port);
    url_b = xasprintf("http://127.0.0.1:%u/b", fa.port);
    register_host(f, "host-a", "198.18.0.1", url_a, token_a);
    register_host(f, "host-b", "198.18.0.2", url_b, token_b);
    assert_int_equal(
        fixture_admin(f, "POST", "/v1/networks",
                      "{\"name\": \"blue\", \"cidr\": \"10.0.0.0/24\"}"),
        201);
    assert_int_equal(fixture_admin(f, "POST", "/v1/ports",
                                   "{\"name\": \"web1\", \"network\": "
                                   "\"blue\", \"ip\": \"10.0.0.2\", \"mac\": "
                                   "\"02:fa:00:00:00:02\", \"host\": "
                                   "\"host-a\"}"),
                     201);
    assert_int_equal(fixture_admin(f, "POST", "/v1/ports",
                                   "{\"name\": \"db1\", \"network\": "
                                   "\"blue\", \"ip\": \"10.0.0.3\", \"mac\": "
                                   "\"02:fa:00:00:00:03\", \"host\": "
                                   "\"host-b\"}"),
                     201);

    /* The agent's token is never shown; its address is. */
    assert_int_equal(
        fixture_call(f, "GET", "/v1/hosts/host-a", viewer, NULL, NULL, &r),
        200);
    assert_null(json_object_get(r.json, "agent_token"));
    assert_string_equal(
        json_string_value(json_object_get(r.json, "agent_url")), url_a);
    reply_clear(&r);

    /* Stage 1 on host a sends the frame to host b's VTEP; stage 2 on
     * host b denies it by default. */
    vxlan = vxlan_frame_to("198.18.0.2");
    json_object_set_new(
        fa.answers, "/a/v1/trace",
        json_pack("{sssnsossss}", "tc_action", "redirect", "drop_reason",
                  "firewall",
                  fixture_json("{'action': 'allow', 'reason': 'rule',"
                               " 'direction': 'egress', 'rule': 7}"),
                  "frame", vxlan, "extra", "ignored"));
    json_object_set_new(
        fa.answers, "/b/v1/trace",
        json_pack("{sssssoss}", "tc_action", "shot", "drop_reason",
                  "firewall-deny", "firewall",
                  fixture_json("{'action': 'deny', 'reason': 'default-deny',"
                               " 'direction': 'ingress', 'rule': 0}"),
                  "frame", ""));
    fixture_call(f, "POST", "/v1/trace", viewer,
                 "{\"from\": \"web1\", \"to\": \"10.0.0.3\","
                 " \"protocol\": \"tcp\", \"dport\": 5432}",
                 NULL, &r);
    if (r.status != 200) {
        fail_msg("POST /v1/trace: %ld %s", r.status, r.body);
    }
    assert_string_equal(json_string_value(json_object_get(r.json, "verdict")),
                        "deny");
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")),
                        "default-deny");
    assert_true(json_is_null(json_object_get(r.json, "rule")));
    assert_int_equal(json_array_size(json_object_get(r.json, "stages")), 2);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(r.json, "stages"), 1), "program")),
        "uplink");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(r.json, "destination"), "host")),
                        "host-b");
    reply_clear(&r);

    /* Each agent was asked with its own token; stage 1 got the built frame
     * for port web1, stage 2 the frame stage 1 left. */
    assert_int_equal(json_array_size(fa.asked), 2);
    asked = json_array_get(fa.asked, 0);
    assert_string_equal(json_string_value(json_object_get(asked, "url")),
                        "/a/v1/trace");
    assert_non_null(
        strstr(json_string_value(json_object_get(asked, "auth")), token_a));
    stage1_body =
        json_loads(json_string_value(json_object_get(asked, "body")), 0, NULL);
    assert_string_equal(
        json_string_value(json_object_get(stage1_body, "program")), "port");
    assert_string_equal(
        json_string_value(json_object_get(stage1_body, "port")), "web1");
    assert_true(trace_base64_decode(
        json_string_value(json_object_get(stage1_body, "frame")), frame,
        sizeof frame, &len));
    assert_int_equal(len, 54);
    check_checksums(frame, len);
    json_decref(stage1_body);
    asked = json_array_get(fa.asked, 1);
    assert_string_equal(json_string_value(json_object_get(asked, "url")),
                        "/b/v1/trace");
    assert_non_null(
        strstr(json_string_value(json_object_get(asked, "auth")), token_b));
    assert_non_null(
        strstr(json_string_value(json_object_get(asked, "body")), vxlan));
    assert_non_null(strstr(json_string_value(json_object_get(asked, "body")),
                           "\"uplink\""));

    /* An address nobody has in the network: no agent is asked. */
    assert_int_equal(fixture_call(f, "POST", "/v1/trace", f->admin,
                                  "{\"from\": \"web1\", \"to\": \"10.0.0.9\","
                                  " \"protocol\": \"icmp\"}",
                                  NULL, &r),
                     200);
    assert_string_equal(json_string_value(json_object_get(r.json, "reason")),
                        "unknown-destination");
    assert_int_equal(json_array_size(json_object_get(r.json, "stages")), 0);
    reply_clear(&r);
    assert_int_equal(json_array_size(fa.asked), 2);

    /* Bad requests. */
    fixture_expect(f, "POST", "/v1/trace", viewer,
                   "{\"from\": \"web1\", \"to\": \"10.0.0.3\","
                   " \"protocol\": \"tcp\"}",
                   400, "dport");
    fixture_expect(f, "POST", "/v1/trace", viewer,
                   "{\"from\": \"nope\", \"to\": \"10.0.0.3\","
                   " \"protocol\": \"icmp\"}",
                   404, "from");
    fixture_expect(f, "POST", "/v1/trace", viewer,
                   "{\"from\": \"web1\", \"to\": \"10.0.0\","
                   " \"protocol\": \"icmp\"}",
                   400, "to");

    /* An agent that restarts without an address has none any more, and
     * the trace says what to do. */
    assert_int_equal(
        fixture_admin(f, "POST", "/v1/hosts",
                      "{\"name\": \"host-a\", \"vtep\": \"198.18.0.1\","
                      " \"underlay\": \"eth0\"}"),
        200);
    assert_int_equal(fixture_call(f, "POST", "/v1/trace", viewer,
                                  "{\"from\": \"web1\", \"to\": \"10.0.0.3\","
                                  " \"protocol\": \"udp\", \"dport\": 53}",
                                  NULL, &r),
                     503);
    assert_non_null(strstr(reply_message(&r), "advertise"));
    reply_clear(&r);

    /* A PATCH may not set them. */
    fixture_expect(f, "PATCH", "/v1/hosts/host-a", f->admin,
                   "{\"agent_url\": \"http://x:1\"}", 400, "agent_url");

    free(vxlan);
    free(url_a);
    free(url_b);
    free(viewer);
    fake_agent_stop(&fa);
    fixture_stop(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_and_filter),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_agent_scope),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_port_quota),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_trace_frame),
        cmocka_unit_test(test_trace_base64),
        cmocka_unit_test(test_trace_conclude),
        cmocka_unit_test(test_trace_stage_answer),
        cmocka_unit_test(test_trace_end_to_end),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
