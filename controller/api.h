/* The controller's REST resources, independent of HTTP.
 *
 * Every operation of doc/api.md is a function here that takes the decoded
 * request (path parameters, a JSON body, the query as a JSON object of
 * strings) and answers an HTTP status with either a JSON value or a
 * 'struct api_error'.  The HTTP layer (controller/server.c) only decodes
 * requests and encodes answers, so that validation, allocation and the
 * store transactions behind them can be tested without a network.
 *
 * Objects live in the store (controller/store.h) under their kind
 * ("network", "port", "host").  Uniqueness and lookups beyond names are
 * kept by index objects written in the same transaction as the object they
 * describe, so two concurrent requests can never both claim one value:
 *
 *   kind         name                 body
 *   vni          "00001000"           {"network": N}  (zero-padded, so names
 *                                                      sort by number)
 *   ip           "N/010.000.000.005"  {"port": P}     (and by address)
 *   ipam         "N"                  {"next": "10.0.0.6"}, a hint: every
 *                                     address below it is taken
 *   mac          "02:fa:12:34:56:78"  {"port": P}
 *   vtep         "192.0.2.1"          {"host": H}
 *   net-port     "N/P"                {"mac", "ip", "host"}, for remotes
 *   net-hosts    "N"                  {"registered": K}: how many
 *                                     registered hosts have ports of N
 *   net-host     "N/H"                {"ports": n}: N's ports placed on
 *                                     host H (n > 0)
 *   flood-slack  "N/SLACK/H"          {"limit", "ports"}: registered host
 *                                     H with ports of N and a
 *                                     "flood_members" limit, named by
 *                                     limit - ports (biased, zero-padded),
 *                                     so N's first is its tightest host
 *   (these three are N's flood index: a placement checks flood lists by
 *   reading its own host's entries, the count and the tightest other
 *   host, whatever the number of hosts; made at N's first placement or
 *   removal in a store from before it, from the older "net-hosts"
 *   {"hosts": {H: n}} summary or else from N's "net-port" index)
 *   host-port    "H/P"                {}
 *   device       "H/D"                {"port": P}     (unique per host)
 *   port-status  "P"                  {"host": H, "status": "up"|"down"}
 *
 * (Older stores also hold a "host-limits" "hosts" summary of every host's
 * limit, which nothing reads any more.)
 *
 * An external VTEP ("external-vtep") holds "vtep", "mac" and "ip" index
 * objects too, with {"external_vtep": E} instead.
 *
 * Images ("image") have their files in the storage directory; a VM that
 * uses one holds "image-user" "IMAGE/VM" {}, and an image with users
 * cannot be deleted.
 *
 * QoS policies ("qos-policy") are named by ports ("qos") and networks
 * ("default_qos"); deleting one looks for users by scanning both.
 *
 * The firewall (controller/api-sgroups.c, doc/firewall.md) keeps:
 *
 *   security-group  "G"                {"description", "selector"}
 *   sg-rule         "G/0000000007"     a rule of G, by its zero-padded id
 *   sg-counter      "rule-id"          {"next": N}: ids are never reused
 *   identity        "00300"            {"groups": [G...], "ports": N}
 *   identity-set    "G1,G2"            {"id": 300}  (sorted group names)
 *   port-identity   "P"                {"identity": 300, "groups": [...]}
 *                                      (only for ports in some group)
 *   rule-hits       "H"                {"hits": {"7": 120}}, host H's
 *                                      counters
 *
 * VMs (controller/api-vms.c, doc/vms.md) keep:
 *
 *   alloc            "H"          {"vcpus", "memory_mb", "disk_gb", "vms"}:
 *                                 what the VMs placed on host H claim
 *   host-vm          "H/VM"       {}
 *   vm-group-member  "G/VM"       {"host": H}
 *   image-user       "IMAGE/VM"   {}: an image in use is not deleted
 *   vm-status        "VM"         {"host": H, "state", "reason", ...}, as
 *                                 H's agent last reported it
 *   vm-moved         "H/VM"       {"uuid"}: VM moved away from H (by a
 *                                 migration or an HA restart), listed in
 *                                 H's "moved_vms" until H reports it gone
 *
 * Live migrations (controller/api-migrations.c, doc/mobility.md) keep:
 *
 *   migration          "VM"   the running migration of VM (its API form)
 *   migration-progress "VM"   {"progress", "touched_ms", "source"}: the
 *                             agents' last word, apart so that progress
 *                             wakes no long poll
 *   migration-result   "VM"   the last finished migration of VM
 *
 * and a VM's NICs are ports "VM-N" with {"vm": VM}.
 *
 * Functions return the HTTP status of the answer: 2xx with '*out' set (for
 * statuses with a body), or 4xx/5xx with 'err' filled in. */
#ifndef CONTROLLER_API_H
#define CONTROLLER_API_H 1

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "controller/scheduler.h"
#include "controller/store.h"
#include "utils/names.h"

struct api_drs;
struct api_migr;
struct api_traffic;
struct leader;
struct api_sched;
struct audit;
struct ha;
struct desired;
struct flowlogs;

#define API_LIST_DEFAULT 100    /* List page size without "limit". */
#define API_LIST_MAX 1000       /* Largest "limit". */
#define API_DESCRIPTION_MAX 256 /* Longest description, in characters. */
#define API_LABEL_MAX 63        /* Longest label key or value. */
#define API_MTU_MIN 576         /* Smallest network MTU. */
#define API_MTU_MAX 9000        /* Largest network MTU. */
#define API_MTU_DEFAULT 1450    /* A 1500-byte underlay minus VXLAN. */
#define API_VNI_FIRST 1000      /* Where VNI allocation starts. */
#define API_VNI_MAX 16777215    /* 24 bits. */
#define API_PREFIX_MIN 8        /* Shortest network prefix. */
#define API_PREFIX_MAX 30       /* Longest: two usable addresses. */
#define API_DNS_SERVERS_MAX 3   /* A network's "dns_servers", at most. */
#define API_WAIT_DEFAULT 30     /* Desired-state long-poll, seconds. */
#define API_WAIT_MAX 300        /* Longest long-poll, seconds. */

/* QoS policies: what fabric-agent accepts. */
#define API_DSCP_MAX 63               /* Largest DSCP value (6 bits). */
#define API_RATE_MIN 8                /* Smallest rate, bits/s: a byte. */
#define API_RATE_MAX 10000000000000LL /* Largest rate: 10 Tbit/s. */
#define API_BURST_MAX 4294967295LL    /* Largest burst, bytes. */
#define API_PRIORITY_MAX 7            /* Lowest priority (0 is highest). */
#define API_PRIORITY_DEFAULT 4        /* What an absent priority means. */

/* Hosts: how the controller reaches the agent for traces. */
#define API_AGENT_URL_MAX 256  /* Longest "agent_url". */
#define API_AGENT_TOKEN_LEN 64 /* "agent_token": 32 bytes in hex. */

/* Hosts: the limits their agents report.  A network's MTU plus the VXLAN
 * overhead (outer Ethernet, IPv4, UDP and VXLAN headers) must fit the
 * underlay MTU of every host with a port in it. */
#define API_VXLAN_OVERHEAD 50
#define API_UNDERLAY_MTU_MIN 68     /* The smallest IPv4 MTU. */
#define API_UNDERLAY_MTU_MAX 65535  /* The largest. */
#define API_FLOOD_MEMBERS_MAX 65535 /* Largest "flood_members". */
#define API_CONDITIONS_MAX 1000     /* Most conditions in one report. */
#define API_CONDITION_TEXT_MAX 1024 /* Longest condition name or reason. */

/* VMs: what one may ask for. */
#define API_VM_NAME_MAX (API_NAME_MAX - 2) /* Its ports are NAME-N. */
#define API_VM_VCPUS_MAX 256
#define API_VM_MEMORY_MAX 4194304 /* MiB: 4 TiB. */
#define API_VM_DISK_MAX 65536     /* GiB: 64 TiB. */
#define API_VM_NICS_MAX 8         /* As VMM_NICS_MAX (vmm-glue/vmm.h). */
#define API_VM_SSH_KEYS_MAX 32
#define API_VM_SSH_KEY_MAX 16384
#define API_VM_USER_DATA_MAX 65536  /* Bytes. */
#define API_VM_HA_PRIORITY_MIN 0    /* "ha_priority": higher restarts... */
#define API_VM_HA_PRIORITY_MAX 1000 /* ...first after a host failure. */
#define API_VM_HA_PRIORITY_DEFAULT 100

/* HA: the lease a heartbeat grants and the time a fencing agent takes
 * (controller settings "ha-lease" and "ha-fence-margin"). */
#define API_HA_LEASE_DEFAULT_MS 5000
#define API_HA_FENCE_MARGIN_DEFAULT_MS 2000

/* Hosts: the overcommit ratios an operator may set. */
#define API_OVERCOMMIT_MIN 0.01
#define API_OVERCOMMIT_MAX 64.0

/* Hosts: the uplink's rate, bits/s, from 1 Mbit/s to 1 Tbit/s. */
#define API_UPLINK_RATE_MIN 1000000LL
#define API_UPLINK_RATE_MAX 1000000000000LL

/* The longest object and device names, by the rules of utils/names.h. */
#define API_NAME_MAX NAMES_OBJECT_MAX
#define API_DEVICE_MAX NAMES_DEVICE_MAX

/* Returned by store_list() callbacks to stop early without an error. */
#define API_STOP STORE_STOP

/* Why a request failed. */
struct api_error {
    int status;    /* HTTP status (400, 404, 409...). */
    char *field;   /* The offending input field, or NULL. */
    char *message; /* One line for people, naming the object,
                    * the field and the reason. */
};

void api_error_clear(struct api_error *);
/* Fills in 'err' (replacing what it held) and returns 'status'. */
int api_fail(struct api_error *err, int status, const char *field,
             const char *format, ...) __attribute__((format(printf, 4, 5)));
/* The "reason" word of doc/api.md for HTTP 'status'. */
const char *api_reason(int status);

/* The controller's shared state. */
struct api {
    struct store *store;          /* Every object lives here. */
    struct desired *desired;      /* Documents sent to agents. */
    atomic_int heartbeat_timeout; /* Seconds of silence before a host is
                                   * unreachable (SIGHUP may change it). */
    atomic_bool stopping;         /* Shutting down: long polls end now. */
    time_t started;               /* Process start: hosts not heard from
                                   * since count as heard from then. */
    pthread_mutex_t mutex;        /* Protects 'heartbeats'. */
    json_t *heartbeats;           /* Host name -> time of its last
                                   * heartbeat (integer, Unix seconds). */
    struct flowlogs *flowlogs;    /* Flow logs (controller/flowlogs.h), or
                                   * NULL; set by the server. */
    struct secrets *secrets;      /* Seals the agents' trace tokens
                                   * (controller/secrets.h), or NULL; set
                                   * by the server. */
    char *storage;                /* The storage directory every host
                                   * sees (doc/vms.md), or NULL; set by
                                   * the server. */
    uint64_t image_size_max;      /* Largest image file, bytes. */
    struct api_sched *sched;      /* The scheduler's view of the hosts
                                   * (controller/api-vms.c). */
    struct api_drs *drs;          /* Maintenance and the balancer
                                   * (controller/api-drs.c). */

    /* High availability (doc/mobility.md, controller/ha.h).  The members
     * below are protected by 'mutex'. */
    atomic_int ha_lease_ms;        /* The lease a heartbeat grants. */
    atomic_int ha_fence_margin_ms; /* The time a fencing agent takes. */
    uint64_t started_ms;           /* Process start, monotonic ms. */
    json_t *heard_ms;              /* Host name -> monotonic ms of its last
                                    * heartbeat. */
    json_t *peers;                 /* Host name -> {"at": monotonic ms,
                                    * "peers": its last "peers" report}. */
    json_t *failed;                /* Host name -> RFC 3339 time it was
                                    * declared failed, until its agent
                                    * comes back. */
    json_t *ha_waiting;            /* VM name -> why it could not be
                                    * restarted yet. */
    struct ha *ha;                 /* The HA monitor (controller/ha.h), or
                                    * NULL; set by the server. */
    pthread_mutex_t ha_mutex;      /* Held by the HA monitor while it
                                    * restarts one VM and by a heartbeat
                                    * that ends a host's failure, so that
                                    * a host that comes back gets its lease
                                    * only once no restart of its VMs is
                                    * under way. */
    struct api_migr *migr;         /* Live migrations' metrics
                                    * (controller/migrations.h). */
    struct audit *audit;           /* The audit trail, for events of the
                                    * controller's own, or NULL; set by the
                                    * server. */
    struct api_traffic *traffic;   /* Ports' last reported traffic
                                    * (controller/api-traffic.c). */

    /* Several controllers on one store (doc/replication.md). */
    struct leader *leader;     /* The election of the leader of the
                                * singleton work, or NULL (unit tests:
                                * this process leads); set by the
                                * server. */
    bool shared_store;         /* The store may serve other
                                * controllers (not SQLite). */
    int64_t liveness_next_ms;  /* When the leader publishes the
                                * liveness of the hosts next
                                * (time_msec()); the HA thread's. */
    json_t *liveness_last;     /* What it published last, or NULL;
                                * the HA thread's. */
    int64_t liveness_revision; /* The revision of the liveness a
                                * non-leader read last, -1 for none;
                                * the HA thread's. */
    int64_t opened_revision;   /* The store's revision at api_init():
                                * the commits after it are known kind
                                * by kind (GET /v1/changes). */
};

void api_init(struct api *, struct store *, int heartbeat_timeout);
void api_destroy(struct api *);

/* Helpers shared by the resource modules. */

/* Reads integer query parameter 'key' of 'query' in 'min'..'max' into
 * '*value', which keeps its default if the parameter is absent.  Returns 0,
 * or 400 naming 'key' with 'what' ("changes") in the message. */
int api_query_int(const json_t *query, const char *key, long long min,
                  long long max, const char *what, long long *value,
                  struct api_error *);

/* Whether 's' is a valid object name: names_object_is_valid(). */
bool api_name_is_valid(const char *);
/* Checks 'value' of input field 'field' of 'what' with
 * api_name_is_valid(). */
int api_check_name(const char *value, const char *field, const char *what,
                   struct api_error *err);
/* Whether 's' can name a Linux network device:
 * names_device_is_valid(). */
bool api_device_is_valid(const char *s);
/* Returns 's' as a quoted JSON string, for messages.  The caller frees
 * it. */
char *api_quote(const char *s);
/* Returns "KIND \"NAME\"" (or just "KIND" for a NULL name), the way
 * messages name an object.  The caller frees it. */
char *api_what(const char *kind, const char *name);
/* Makes a random (version 4) UUID as text into 'buf'.  Returns 0 or an
 * errno value. */
int api_make_uuid(char buf[37]);
/* Formats 't' as RFC 3339 UTC ("2024-05-01T12:00:00Z") into 'buf'. */
void api_format_time(time_t t, char buf[32]);
/* The current time, formatted by api_format_time(). */
void api_now(char buf[32]);

/* The type of an input field. */
enum api_type {
    API_STRING,
    API_INTEGER,
    API_OBJECT,
    API_ARRAY,
    API_BOOLEAN,
};

/* Who may write an input field. */
enum api_access {
    API_RW,        /* Set on creation, changed by updates. */
    API_IMMUTABLE, /* Set on creation only; an update must repeat the
                    * current value or leave it out. */
    API_RO,        /* Computed by the controller; input must repeat the
                    * current value or leave it out. */
    API_VERSION,   /* "version": the version an update is based on. */
};

/* One field an object accepts as input. */
struct api_field {
    const char *name;       /* JSON member name. */
    enum api_type type;     /* Its type. */
    enum api_access access; /* Who may write it. */
    bool required;          /* Needed on creation, never null. */
};

/* Checks the members of input 'in' for object 'what' against the 'n'
 * 'fields': known names, types, required and read-only fields.  'current'
 * is the object's present API form for an update, or NULL for a creation.
 * 'patch' allows null values (merge-patch removal) for optional RW fields.
 * Returns 0 or the error status. */
int api_check_input(const json_t *in, const struct api_field *fields, size_t n,
                    const char *what, const json_t *current, bool patch,
                    struct api_error *err);

/* Combines the version an update is based on, from If-Match ('if_match',
 * or STORE_ANY when absent) and from the body's "version" member, into
 * '*expected'.  Returns 0 or 400 if they disagree. */
int api_expected_version(const json_t *in, int64_t if_match, const char *what,
                         int64_t *expected, struct api_error *err);
/* Returns 409 into 'err' unless 'expected' (STORE_ANY: anything) matches
 * 'current', the version of 'what'. */
int api_check_version(int64_t expected, int64_t current, const char *what,
                      struct api_error *err);

/* Applies member 'key' of merge patch 'in' (RFC 7386) to 'body': absent
 * keeps what 'body' has, null removes it, any other value replaces it. */
void api_merge_member(json_t *body, const char *key, const json_t *in);

/* Checks a "description" value: a string of at most API_DESCRIPTION_MAX
 * characters. */
int api_check_description(const json_t *value, const char *what,
                          struct api_error *err);
/* Checks "description" of input 'in' of 'what' with
 * api_check_description() and applies it to 'body': absent keeps it, null
 * removes it. */
int api_apply_description(const json_t *in, json_t *body, const char *what,
                          struct api_error *err);

/* Checks label set 'labels', input field 'field' ("labels", "selector") of
 * 'what': keys of 1 to API_LABEL_MAX characters without "=" or ",", string
 * values of at most API_LABEL_MAX without ",".  In a merge patch ('patch'),
 * null values (removals) are allowed. */
int api_check_labels(const json_t *labels, const char *field, bool patch,
                     const char *what, struct api_error *err);
/* Applies checked label set 'value' of input field 'field' to 'body' as a
 * merge patch: null empties the set, absent leaves it, and otherwise its
 * pairs are added to the set in 'body', null values removing one. */
void api_merge_labels(json_t *body, const char *field, const json_t *value);

/* Whether string 's' is one of the NULL-terminated 'choices'. */
bool api_is_one_of(const char *s, const char *const *choices);
/* Parses list query parameter "limit" value 's' (NULL if it has none), an
 * integer 1..API_LIST_MAX, into '*limit'; false if it is not one. */
bool api_parse_limit(const char *s, size_t *limit);

/* Reads "limit" and "page_token" from list query 'query', and checks that
 * 'query' has no members but those and the NULL-terminated 'extra'. */
int api_list_query(const json_t *query, const char *kind,
                   const char *const extra[], size_t *limit,
                   const char **page_token, struct api_error *err);
/* Returns {"items": 'items', "next_page_token": T} (stealing 'items'),
 * where 'items' holds up to 'limit' + 1 objects: if it has more than
 * 'limit', the last is dropped and T is the name of the one before. */
json_t *api_list_page(json_t *items, size_t limit);

/* The API form of stored 'obj': its body with "name", "version" and
 * "revision" added. */
json_t *api_object_out(const struct store_obj *obj);

/* Store access that maps failures to answers. */
int api_begin(struct api *, bool write, struct store_txn **,
              struct api_error *);
int api_commit(struct store_txn *, int64_t *revision, struct api_error *);
/* Fills 'err' for store failure 'error' while working on 'what' and
 * returns the status: 503 when the store is busy or out of reach (a
 * client with a list of controllers tries the next), 500 otherwise. */
int api_store_error(int error, const char *what, struct api_error *err);

/* Returns 0 if this controller leads the singleton work
 * (controller/leader.h), else fills 'err' with 503 for 'what', naming the
 * leader: the answer to a request only the leader can serve (a heartbeat,
 * the balancer's plan), which sends a client with a list of controllers on
 * to the next (doc/replication.md). */
int api_check_leader(struct api *, const char *what, struct api_error *err);

/* Ends a write answered without a body (a DELETE, an agent's report)
 * whose last store operation returned 'error': answers a store error for
 * 'what' if it failed, otherwise commits '*txn' (setting it to NULL).
 * Returns 204 or the error status. */
int api_finish_no_content(struct store_txn **txn, int error, const char *what,
                          struct api_error *err);
/* Writes 'body' as object 'name' of kind 'kind' in 'txn' unless it holds
 * exactly that already: rewriting an unchanged report would wake every
 * long poll for nothing.  Returns 0 or a store error. */
int api_put_changed(struct store_txn *txn, const char *kind, const char *name,
                    const json_t *body);
/* Finds the lowest number from 'first' to 'max' that names no object of
 * kind 'kind' in 'txn', whose names are zero-padded numbers, walking from
 * the name 'after' (that of 'first' - 1).  Stores it in '*n' and returns 0,
 * ENOSPC if all are taken, or a store error. */
int api_lowest_free(struct store_txn *txn, const char *kind, const char *after,
                    int64_t first, int64_t max, int64_t *n);

/* Reads the string member 'key' of a JSON object, or NULL. */
const char *api_get_string(const json_t *obj, const char *key);

/* The shared skeletons of the resource handlers.  Each resource module
 * describes its kind of object once, and keeps for itself only what is
 * particular to it: how fields are checked and applied, which index
 * objects come and go with the object, what must hold before a delete. */

/* Returns the API form of stored object 'obj', read in 'txn'. */
typedef json_t *api_out_func(struct api *, struct store_txn *txn,
                             const struct store_obj *obj);

/* Brings what depends on object 'name' in line with its new 'body', just
 * written in 'txn' over 'old' (NULL for a creation), before the commit.
 * Returns 0 or the error status, with 'err' filled in for 'what'. */
typedef int api_written_func(struct store_txn *txn, const char *name,
                             const json_t *old, const json_t *body,
                             const char *what, struct api_error *err);

/* One kind of object, as the shared handlers see it. */
struct api_kind {
    const char *kind;               /* Store kind, e.g. "network". */
    const char *plural;             /* For list messages: "networks". */
    const struct api_field *fields; /* Input fields of an update. */
    size_t n_fields;                /* Number of 'fields'. */
    api_out_func *out;              /* API form, or NULL for
                                     * api_object_out(). */
    api_written_func *written;      /* After a create or a patch writes,
                                     * or NULL. */
};

/* Answers 409 "already exists" for 'what' if 'txn' holds object 'name' of
 * kind 'kind', or a store error if it cannot tell; 0 if there is none. */
int api_check_absent(struct store_txn *, const char *kind, const char *name,
                     const char *what, struct api_error *);
/* Answers 404 "not found" for 'what' unless 'txn' holds object 'name' of
 * kind 'kind', or a store error if it cannot tell; 0 if it is there. */
int api_check_present(struct store_txn *, const char *kind, const char *name,
                      const char *what, struct api_error *);
/* Fills 'obj' to describe object 'name' of kind 'kind' with 'body', just
 * created at 'revision', for its API form.  'obj' borrows 'name' and
 * 'body': do not clear it. */
void api_created(struct store_obj *obj, const char *kind, const char *name,
                 json_t *body, int64_t revision);
/* Records in 'obj', read before an update, that 'body' replaced its body
 * at 'revision'. */
void api_updated(struct store_obj *obj, json_t *body, int64_t revision);
/* Reads object 'name' of kind 'kind' in 'txn' into 'obj' for 'what',
 * answering 404 if there is none. */
int api_get_object(struct store_txn *, const char *kind, const char *name,
                   const char *what, struct store_obj *obj,
                   struct api_error *);
/* GET of one object 'name' of kind 'k': 200 with its API form in '*out',
 * 404, or a store error. */
int api_kind_get(struct api *, const struct api_kind *k, const char *name,
                 json_t **out, struct api_error *);
/* GET of a page of the objects of kind 'k', for list query 'query' (only
 * "limit" and "page_token"). */
int api_kind_list(struct api *, const struct api_kind *k, const json_t *query,
                  json_t **out, struct api_error *);
/* Starts PATCH 'in' (based on If-Match 'if_match' or STORE_ANY) of object
 * 'name' of kind 'k', called 'what' in messages: begins a write
 * transaction into '*txn', reads the object into 'obj' and its API form
 * into '*current', checks 'in' as a merge patch against 'k''s fields and
 * the version it is based on.  Returns 0 for the caller to go on and
 * commit, or the error status.  Either way the caller aborts '*txn' (if it
 * did not commit it) and frees 'obj' and '*current'. */
int api_kind_patch_begin(struct api *, const struct api_kind *k,
                         const char *name, const json_t *in, int64_t if_match,
                         const char *what, struct store_txn **txn,
                         struct store_obj *obj, json_t **current,
                         struct api_error *);
/* Starts the creation of object 'name' of kind 'k', called 'what' in
 * messages: begins a write transaction into '*txn' and answers 409 if the
 * object exists already.  Returns 0 or the error status; either way the
 * caller aborts '*txn' if it did not commit it. */
int api_kind_create_begin(struct api *, const struct api_kind *k,
                          const char *name, const char *what,
                          struct store_txn **txn, struct api_error *);
/* Writes checked 'body' as new object 'name' of kind 'k' in 'txn', stamped
 * with "created_at" and "updated_at", and calls 'k''s 'written' hook,
 * without committing: for an object created with another (a VM's ports).
 * Returns 0 or the error status for 'what'. */
int api_kind_insert(struct store_txn *, const struct api_kind *k,
                    const char *name, json_t *body, const char *what,
                    struct api_error *);
/* Ends the creation of object 'name' of kind 'k' from the checked 'body'
 * in write transaction '*txn': stamps "created_at" and "updated_at",
 * writes it as new, calls 'k''s 'written' hook, reads its API form,
 * commits '*txn' (setting it to NULL) and answers the API form with the
 * commit's revision.  Returns 201 or the error status; the caller still
 * aborts '*txn' if set and frees 'body'. */
int api_kind_create_finish(struct api *, const struct api_kind *k,
                           const char *name, const char *what,
                           struct store_txn **txn, json_t *body, json_t **out,
                           struct api_error *);
/* Applies input 'in' of 'what', already checked against its kind's
 * fields, to 'body': as a merge patch of stored object 'obj', whose body
 * 'body' is a copy of, reading (and writing the index objects that go with
 * it) in 'txn'; or, with NULL 'obj' and 'txn', for a creation from 'in'
 * alone.  Returns 0 or the error status. */
typedef int api_apply_func(struct store_txn *txn, const struct store_obj *obj,
                           const json_t *in, json_t *body, const char *what,
                           struct api_error *err);
/* POST 'in', already checked against its kind's fields, of an object of
 * kind 'k' called 'what' in messages, whose body 'apply' makes from 'in'
 * alone (with NULL 'txn' and 'obj'): checks its "name", makes the body and
 * creates it from api_kind_create_begin() to api_kind_create_finish().
 * Returns 201 with the API form in '*out', or the error status. */
int api_kind_create(struct api *, const struct api_kind *k, const json_t *in,
                    const char *what, api_apply_func *apply, json_t **out,
                    struct api_error *);
/* PATCH 'in' (based on If-Match 'if_match' or STORE_ANY) of object 'name'
 * of kind 'k', called 'what' in messages, from api_kind_patch_begin() to
 * the write, with 'apply' making the new body from a copy of the stored
 * one.  An unchanged body is answered as it is, with the same version.
 * Returns 200 with the API form in '*out', or the error status. */
int api_kind_patch(struct api *, const struct api_kind *k, const char *name,
                   const json_t *in, int64_t if_match, const char *what,
                   api_apply_func *apply, json_t **out, struct api_error *);
/* Starts DELETE of object 'name' of kind 'k' the same way, for delete body
 * 'in' (NULL, or only the "version" it is based on).  Returns 0 for the
 * caller to check what else must hold, delete and commit, or the error
 * status.  Either way the caller aborts '*txn' (if it did not commit it)
 * and frees 'obj'. */
int api_kind_delete_begin(struct api *, const struct api_kind *k,
                          const char *name, const json_t *in, int64_t if_match,
                          const char *what, struct store_txn **txn,
                          struct store_obj *obj, struct api_error *);

/* Networks (controller/api-networks.c). */
int api_network_create(struct api *, const json_t *in, json_t **out,
                       struct api_error *);
int api_network_get(struct api *, const char *name, json_t **out,
                    struct api_error *);
int api_network_list(struct api *, const json_t *query, json_t **out,
                     struct api_error *);
int api_network_patch(struct api *, const char *name, const json_t *in,
                      int64_t if_match, json_t **out, struct api_error *);
int api_network_delete(struct api *, const char *name, const json_t *in,
                       int64_t if_match, struct api_error *);

/* Parses 'cidr' of the form a.b.c.d/N, N from 0 to 32, into its address
 * (host order) and prefix length, without checking its host bits.
 * Returns NULL or what is wrong: 'problem', the caller's message with an
 * example, when 'cidr' has no "/" after at most an address's length. */
const char *api_parse_ipv4_prefix(const char *cidr, const char *problem,
                                  uint32_t *ip, int *prefix);
/* Parses and checks a network CIDR: an IPv4 prefix of API_PREFIX_MIN to
 * API_PREFIX_MAX bits, host bits zero, unicast.  On success stores the
 * network address (host order) and prefix length and returns NULL;
 * otherwise returns why not. */
const char *api_parse_cidr(const char *cidr, uint32_t *net, int *prefix);
/* The address of the fabric's DHCP server in the network 'net'/'prefix'
 * (host order): its last usable address, which no port may have
 * (doc/vms.md). */
uint32_t api_dhcp_server_ip(uint32_t net, int prefix);
/* Allocates the lowest free VNI from API_VNI_FIRST up into '*vni'. */
int api_vni_allocate(struct store_txn *, uint32_t *vni);
/* The name of the index object for VNI 'vni'. */
void api_vni_key(uint32_t vni, char buf[16]);

/* Ports (controller/api-ports.c). */
int api_port_create(struct api *, const json_t *in, json_t **out,
                    struct api_error *);
int api_port_get(struct api *, const char *name, json_t **out,
                 struct api_error *);
int api_port_list(struct api *, const json_t *query, json_t **out,
                  struct api_error *);
int api_port_patch(struct api *, const char *name, const json_t *in,
                   int64_t if_match, json_t **out, struct api_error *);
int api_port_delete(struct api *, const char *name, const json_t *in,
                    int64_t if_match, struct api_error *);
/* Creates port 'name' from input 'in' (port fields, already checked
 * against them, with "vm" naming the VM it is a NIC of) in write
 * transaction 'txn', with everything that comes with a port created by
 * POST /v1/ports, without committing.  Returns 0 or the error status for
 * 'what'. */
int api_port_add(struct store_txn *, const char *name, const json_t *in,
                 const char *what, struct api_error *);
/* Places port 'name' on host 'host' in 'txn' instead of the host it was
 * on, with its index objects (the old host's report of it is dropped),
 * keeping its address, MAC and device, without committing: a VM's NIC
 * that moves with its VM.  Returns 0 or the error status for 'what'. */
int api_port_move(struct store_txn *, const char *name, const char *host,
                  const char *what, struct api_error *);
/* Deletes stored port 'obj' in 'txn' with its index objects, its address,
 * MAC and placement, without committing.  Returns 0 or the error status
 * for 'what'. */
int api_port_remove(struct store_txn *, const struct store_obj *obj,
                    const char *what, struct api_error *);

/* Allocates the lowest free address of network 'network' (address 'net',
 * host order, 'prefix' bits), skipping its network and broadcast
 * addresses, into '*ip' (host order).  Does not claim it.  ENOSPC if
 * the network is full. */
int api_ipam_allocate(struct store_txn *, const char *network, uint32_t net,
                      int prefix, uint32_t *ip);
/* The name of the index object for 'ip' (host order) in 'network'. */
char *api_ip_key(const char *network, uint32_t ip);
/* Picks a free locally administered MAC 02:fa:xx:xx:xx:xx into 'mac'. */
int api_mac_allocate(struct store_txn *, uint8_t mac[6]);
/* Checks that with port 'port' of network 'network' placed on 'host' (both
 * NULL: as things are), every registered host of the network still has a
 * flood list its datapath holds: its own ports in the network, plus one
 * member per other registered host with ports in it and per external VTEP
 * that joins it, at most the "flood_members" its agent reported.  409 on
 * input field 'field', naming the host and the numbers, otherwise. */
int api_check_flood_lists(struct store_txn *, const char *port,
                          const char *network, const char *host,
                          const char *field, const char *what,
                          struct api_error *err);
/* Fails with 403 unless each flow-log record in array 'records' that names
 * a "port" and a "network" names a port placed on 'host' and that port's
 * own network: what an agent of 'host' may post. */
int api_port_check_records(struct api *, const char *host,
                           const json_t *records, struct api_error *);
/* The status of port 'name' placed on 'host' (NULL if unplaced):
 * "pending", "up", "down" or "refused" (its host's agent cannot apply
 * it).  A refused port's reason goes in '*reason' (which the caller
 * frees; NULL otherwise) if 'reason' is not NULL. */
const char *api_port_status(struct store_txn *, const char *name,
                            const char *host, char **reason);

/* QoS policies (controller/api-qos.c), stored as kind "qos-policy". */
int api_qos_create(struct api *, const json_t *in, json_t **out,
                   struct api_error *);
int api_qos_get(struct api *, const char *name, json_t **out,
                struct api_error *);
int api_qos_list(struct api *, const json_t *query, json_t **out,
                 struct api_error *);
int api_qos_patch(struct api *, const char *name, const json_t *in,
                  int64_t if_match, json_t **out, struct api_error *);
int api_qos_delete(struct api *, const char *name, const json_t *in,
                   int64_t if_match, struct api_error *);
/* Checks that 'value' of input field 'field' ("qos", "default_qos") of
 * 'what' names an existing QoS policy in 'txn' (absent and null pass):
 * 400 naming 'field' otherwise. */
int api_qos_check_ref(struct store_txn *, const json_t *value,
                      const char *field, const char *what, struct api_error *);

/* External VTEPs (controller/api-external-vteps.c), stored as kind
 * "external-vtep"; each holds "vtep", "mac" and "ip" index objects with
 * {"external_vtep": NAME}. */
int api_external_vtep_create(struct api *, const json_t *in, json_t **out,
                             struct api_error *);
int api_external_vtep_get(struct api *, const char *name, json_t **out,
                          struct api_error *);
int api_external_vtep_list(struct api *, const json_t *query, json_t **out,
                           struct api_error *);
int api_external_vtep_patch(struct api *, const char *name, const json_t *in,
                            int64_t if_match, json_t **out,
                            struct api_error *);
int api_external_vtep_delete(struct api *, const char *name, const json_t *in,
                             int64_t if_match, struct api_error *);
/* Stores in '*name' the name of an external VTEP that joins network
 * 'network' (the caller frees it), or NULL if none does.  Returns 0 or a
 * store error. */
int api_external_vtep_joining(struct store_txn *, const char *network,
                              char **name);
/* Stores in '*n' how many external VTEPs join network 'network'.  Returns
 * 0 or a store error. */
int api_external_vtep_count(struct store_txn *, const char *network,
                            size_t *n);

/* Hosts (controller/api-hosts.c). */
/* Seals the plaintext "agent_token" of every stored host, as a store of
 * an older release holds them.  Returns 0 or a positive errno (logged). */
int api_host_seal_tokens(struct api *);
/* Returns the plaintext agent token of host 'name' whose stored body is
 * 'body', or NULL if it has none (or it does not open).  The caller frees
 * it. */
char *api_host_agent_token(const struct api *, const char *name,
                           const json_t *body);
/* Whether agent URL 'url' ("http://198.18.0.1:9471") names the host by
 * the literal address 'address' (IPv4 or IPv6, as text).  A host name
 * never matches: it could resolve to anything later. */
bool api_agent_url_is_at(const char *url, const char *address);
int api_host_register(struct api *, const json_t *in, json_t **out,
                      struct api_error *);
int api_host_get(struct api *, const char *name, json_t **out,
                 struct api_error *);
int api_host_list(struct api *, const json_t *query, json_t **out,
                  struct api_error *);
int api_host_patch(struct api *, const char *name, const json_t *in,
                   int64_t if_match, json_t **out, struct api_error *);
int api_host_delete(struct api *, const char *name, const json_t *in,
                    int64_t if_match, struct api_error *);
/* POST /v1/hosts/NAME/heartbeat: 200 with the lease granted,
 * {"lease_ms": N}, in '*out'. */
int api_host_heartbeat(struct api *, const char *name, const json_t *in,
                       json_t **out, struct api_error *);
/* Brings the flood index entries of host 'name' in 'txn' (see
 * api_check_flood_lists()) in line with its body moving from 'old' to
 * 'new' (NULL: not registered): a registration, a deletion or a new
 * "flood_members" limit.  Returns 0 or a store error. */
int api_flood_host_sync(struct store_txn *, const char *name,
                        const json_t *old, const json_t *new);
/* The overcommit ratios of host body 'body': {"cpu", "memory", "disk"},
 * its own or the defaults of controller/scheduler.h. */
json_t *api_host_overcommit(const json_t *body);
/* What VMs claim on host 'name', read in 'txn' (NULL: in a transaction of
 * its own): {"vcpus", "memory_mb", "disk_gb", "vms"}, zeros for none. */
json_t *api_host_allocated(struct api *, struct store_txn *txn,
                           const char *name);
int api_host_port_status(struct api *, const char *name, const json_t *in,
                         struct api_error *);
/* Checks that host 'host' (stored body 'body', NULL if it is not
 * registered) can carry network 'network' of MTU 'mtu' for 'what': 409
 * naming the host and the numbers if the host's agent reported an
 * underlay MTU smaller than 'mtu' plus API_VXLAN_OVERHEAD; 0 if it fits
 * or the host reported none. */
int api_host_check_mtu(const char *host, const json_t *body,
                       const char *network, json_int_t mtu, const char *what,
                       struct api_error *err);
/* The desired-state long poll: 200 with '*out', 304, or an error. */
int api_host_desired_state(struct api *, const char *name, const json_t *query,
                           json_t **out, struct api_error *);
/* Whether host 'name' is "ready" or "unreachable" now, and when it was
 * last heard from (0 if never by this process). */
const char *api_host_status(struct api *, const char *name,
                            time_t *last_heartbeat);
/* Counts hosts heard from within the heartbeat timeout. */
size_t api_hosts_connected(struct api *);
/* Marks host 'name' as declared failed by the HA monitor (now), or no
 * longer.  Returns true if that changed something. */
bool api_host_set_failed(struct api *, const char *name, bool failed);
/* Whether host 'name' is declared failed. */
bool api_host_is_failed(struct api *, const char *name);
/* The leader publishes in the store (object "liveness" "hosts") what only
 * it knows of the hosts, since agents heartbeat to it alone: each host's
 * last heartbeat, the hosts declared failed and the VMs waiting for a
 * host, {"leader", "hosts": {H: epoch seconds}, "failed": {H: time},
 * "ha_waiting": {VM: why}}, at most every quarter of the heartbeat timeout
 * (and at least every second) when it changed, or now if 'force'.  The
 * other controllers read it (api_liveness_sync()) for their answers and
 * their scheduler, and a new leader starts from it.  Nothing with a store
 * of one controller (SQLite).  Called by the HA thread only. */
void api_liveness_publish(struct api *, bool force);
void api_liveness_sync(struct api *);

/* Security groups (controller/api-sgroups.c), stored as kind
 * "security-group", with their rules, the identities of group sets and
 * the rule hit counters agents report. */

/* Group identities: the range of DP_GROUP_IDENTITY_MIN..MAX in
 * datapath/dp-tables.h, which the controller cannot include. */
#define API_IDENTITY_MIN 256
#define API_IDENTITY_MAX 49151

int api_sg_create(struct api *, const json_t *in, json_t **out,
                  struct api_error *);
int api_sg_get(struct api *, const char *name, json_t **out,
               struct api_error *);
int api_sg_list(struct api *, const json_t *query, json_t **out,
                struct api_error *);
int api_sg_patch(struct api *, const char *name, const json_t *in,
                 int64_t if_match, json_t **out, struct api_error *);
int api_sg_delete(struct api *, const char *name, const json_t *in,
                  int64_t if_match, struct api_error *);
/* The rules of group 'group': /v1/security-groups/GROUP/rules[/ID]. */
int api_sg_rule_create(struct api *, const char *group, const json_t *in,
                       json_t **out, struct api_error *);
int api_sg_rule_list(struct api *, const char *group, const json_t *query,
                     json_t **out, struct api_error *);
int api_sg_rule_get(struct api *, const char *group, const char *id,
                    json_t **out, struct api_error *);
int api_sg_rule_delete(struct api *, const char *group, const char *id,
                       struct api_error *);
/* PUT /v1/hosts/NAME/rule-hits: host 'host''s absolute counters. */
int api_host_rule_hits(struct api *, const char *host, const json_t *in,
                       struct api_error *);
/* Checks "security_groups" value 'value' of 'what' (absent and null
 * pass): an array of distinct names of existing groups in 'txn', 400 on
 * "security_groups" otherwise. */
int api_sg_check_port_groups(struct store_txn *, const json_t *value,
                             const char *what, struct api_error *);
/* Brings the identity of port 'name' in line with its stored 'body' (NULL
 * for a port being deleted): its group set (explicit "security_groups" and
 * the groups whose selector its labels match) gets an identity, allocated
 * if new, and the set it leaves loses one port, freed at none.  Returns 0,
 * ENOSPC if no identity is free, or a store error. */
int api_sg_port_sync(struct store_txn *, const char *name, const json_t *body);
/* Answers 'error' of api_sg_port_sync() for 'what'. */
int api_sg_sync_error(int error, const char *what, struct api_error *);

/* Flow logs (controller/api-flowlogs.c). */
#define API_FLOWLOGS_POST_MAX 1000 /* Most records in one POST. */
/* POST /v1/flowlogs: checks every record of 'in' and stores them all, or
 * none.  Which host may post for which is the caller's business. */
int api_flowlogs_post(struct api *, const json_t *in, struct api_error *);
/* GET /v1/flowlogs?port=&host=&verdict=&network=&since=&limit=. */
int api_flowlogs_list(struct api *, const json_t *query, json_t **out,
                      struct api_error *);
/* Parses RFC 3339 time 's' ("2026-11-22T10:00:00.123Z", or with an offset
 * "+01:00") into microseconds since the epoch. */
bool api_parse_rfc3339(const char *s, int64_t *us);

/* Images (controller/api-images.c), stored as kind "image"; a VM that
 * uses one holds the index object "image-user" "IMAGE/VM". */
#define API_IMAGE_SIZE_MAX_DEFAULT (64ULL << 30) /* image-size-max. */
int api_image_create(struct api *, const json_t *in, json_t **out,
                     struct api_error *);
int api_image_get(struct api *, const char *name, json_t **out,
                  struct api_error *);
int api_image_list(struct api *, const json_t *query, json_t **out,
                   struct api_error *);
int api_image_delete(struct api *, const char *name, const json_t *in,
                     int64_t if_match, struct api_error *);
/* The file of image 'name' relative to the storage directory,
 * "images/NAME.qcow2".  The caller frees it. */
char *api_image_file(const char *name);
/* PUT /v1/images/NAME/file, in three steps so that the bytes stream
 * through: begin (for a body of 'length' bytes, -1 if unknown), write
 * each piece, finish.  begin returns 0 with '*up' set, or the error
 * status; finish returns 200 with the image's API form in '*out', or the
 * error status.  api_image_upload_destroy() ends the upload either way,
 * removing what an unfinished one wrote. */
struct api_image_upload;
int api_image_upload_begin(struct api *, const char *name, int64_t length,
                           struct api_image_upload **up, struct api_error *);
void api_image_upload_write(struct api_image_upload *, const void *buf,
                            size_t len);
int api_image_upload_finish(struct api_image_upload *, json_t **out,
                            struct api_error *);
void api_image_upload_destroy(struct api_image_upload *);
/* Creates storage directory 'storage' and its "images" (mode 0700) if
 * they are missing, and removes the files unfinished uploads left in it.
 * Returns 0 or an errno value (logged). */
int api_images_init_storage(const char *storage);

/* GET /v1/vms/NAME/console?bytes=N (controller/api-console.c): the last
 * N bytes of VM 'name''s serial console, fetched from the agent of its
 * host.  Returns 200 with the bytes in '*text' ('*len' of them, which the
 * caller frees), 404 if there is no such VM or its agent does not run
 * it, 409 if it is on no host, 503 if its host's agent cannot be called,
 * 502 if the call fails. */
#define API_CONSOLE_BYTES_DEFAULT 65536
#define API_CONSOLE_BYTES_MAX 1048576
int api_vm_console(struct api *, const char *name, const json_t *query,
                   char **text, size_t *len, struct api_error *);

/* Trace (controller/trace.c): POST /v1/trace. */
int api_trace(struct api *, const json_t *in, json_t **out,
              struct api_error *);

/* VMs (controller/api-vms.c), stored as kind "vm", placed by the
 * scheduler (controller/scheduler.h) when they are created. */
int api_vm_create(struct api *, const json_t *in, json_t **out,
                  struct api_error *);
int api_vm_get(struct api *, const char *name, json_t **out,
               struct api_error *);
/* Moves stored VM 'vm' from the host it is on to host 'to' in write
 * transaction 'txn', without committing (doc/mobility.md): the VM and its
 * NICs' ports get host 'to' (same UUID, disk, MACs and addresses), the
 * old host's claim is released, the new host's taken too if 'claim_to'
 * (a migration claimed it when it started), and the VM is listed in the
 * old host's "moved_vms" (the index object "vm-moved" OLD/VM, {"uuid"})
 * so that its agent removes it without its disk.  Used by live migration
 * and by the HA restart.  Notes the allocations in the scheduler's cache
 * at once: a caller whose commit fails rebuilds nothing, the cache being
 * only a hint.  Returns 0 or the error status for 'what'. */
int vms_move_host(struct api *, struct store_txn *, const struct store_obj *vm,
                  const char *to, bool claim_to, const char *what,
                  struct api_error *);
/* Restarts VM 'name' of failed host 'failed' elsewhere (the HA monitor,
 * controller/ha.c): chooses a host with the scheduler (the failed host's
 * members of its groups left out) and moves the VM there with
 * vms_move_host(), in one write transaction.  Returns 0 with the new host
 * in '*to' (the caller frees it), 0 with NULL there if the VM is no longer
 * the failed host's or its "ha" is "off", or the error status (409 with
 * the scheduler's reasons when no host can take it). */
int api_vm_ha_restart(struct api *, const char *name, const char *failed,
                      char **to, struct api_error *);
/* PATCH /v1/vms/NAME: merge patch 'in' (based on If-Match 'if_match' or
 * STORE_ANY) that may change only "ha" and "ha_priority" (400 naming any
 * other field).  Returns 200 with the VM's API form in '*out'. */
int api_vm_patch(struct api *, const char *name, const json_t *in,
                 int64_t if_match, json_t **out, struct api_error *);
/* GET /v1/vms?host=&status=&image=. */
int api_vm_list(struct api *, const json_t *query, json_t **out,
                struct api_error *);
int api_vm_delete(struct api *, const char *name, const json_t *in,
                  int64_t if_match, struct api_error *);
/* POST /v1/vms/NAME/ACTION, 'action' "start", "stop" or "reboot", with
 * body 'in' (NULL or empty): 200 with the VM in '*out'. */
int api_vm_action(struct api *, const char *name, const char *action,
                  const json_t *in, json_t **out, struct api_error *);
/* Checks "vms" of a port-status report of 'what': VM name -> {"state",
 * "reason", "cpu_time_ns", "memory_kb", "boot"} (doc/vms.md). */
int api_vm_check_reports(const json_t *vms, const char *what,
                         struct api_error *);
/* Records checked reports 'vms' of host 'host' in 'txn', for the VMs
 * placed on it (the others are ignored), and forgets the VMs that moved
 * away from it ("vm-moved") that it no longer reports.  Returns 0 or a
 * store error. */
int api_vm_record_reports(struct store_txn *, const char *host,
                          const json_t *vms);
/* The scheduler's view of the hosts, kept by api_init(). */
struct api_sched *api_sched_create(void);
void api_sched_destroy(struct api_sched *);
/* Chooses a host for stored VM 'vm' other than its own (its "host"), in
 * write transaction 'txn': host 'to' if not NULL, else the scheduler's
 * choice, through the same filters as a new VM's and the strict groups
 * of the VM (without the VM itself, and with the destinations of other
 * VMs' migrations in flight counted as members there); 'live' keeps only
 * hosts that take a live migration in.  Claims the VM's resources on it
 * (its "alloc"), and stores its name in '*host' and its new allocation in
 * '*allocp' (for api_sched_note() after the commit).  Returns 0, or 409
 * with the scheduler's reasons, or another error status for 'what'. */
int api_vm_claim_elsewhere(struct api *, struct store_txn *txn,
                           const struct store_obj *vm, const char *to,
                           bool live, char **host, json_t **allocp,
                           const char *what, struct api_error *);
/* Releases the claim of stored VM body 'vm' on host 'host' in 'txn' (a
 * migration's destination that did not take it), storing the host's new
 * allocation in '*allocp'.  Returns 0 or a store error. */
int api_vm_release_claim(struct store_txn *txn, const json_t *vm,
                         const char *host, json_t **allocp);
/* Notes in the scheduler's view that host 'host' has allocation 'alloc'
 * (NULL: none), as just committed. */
void api_sched_note(struct api *, const char *host, const json_t *alloc);
/* The status of stored VM 'obj' as its API form gives it, read in 'txn'
 * ("running"...), without a migration's "migrating". */
const char *api_vm_status(struct store_txn *, const struct store_obj *obj);
/* Notes in the scheduler's view that host 'name' was heard from at 't'. */
void api_sched_heard(struct api *, const char *name, time_t t);
/* Stores in '*hosts' a copy of the scheduler's view of the hosts (their
 * capacity, claims and liveness; no "members"), read in 'txn' if it is
 * stale, and their number in '*n'.  The caller frees it with
 * api_sched_snapshot_free().  Returns 0 or a store error. */
int api_sched_snapshot(struct api *, struct store_txn *txn,
                       struct sched_host **hosts, size_t *n);
void api_sched_snapshot_free(struct sched_host *hosts, size_t n);
/* Sets the weigher VMs without a "placement" get ("scheduler-weigher"). */
void api_sched_set_weigher(struct api *, enum sched_weigher);

/* VM groups (controller/api-vm-groups.c), stored as kind "vm-group". */
int api_vm_group_create(struct api *, const json_t *in, json_t **out,
                        struct api_error *);
int api_vm_group_get(struct api *, const char *name, json_t **out,
                     struct api_error *);
int api_vm_group_list(struct api *, const json_t *query, json_t **out,
                      struct api_error *);
int api_vm_group_patch(struct api *, const char *name, const json_t *in,
                       int64_t if_match, json_t **out, struct api_error *);
int api_vm_group_delete(struct api *, const char *name, const json_t *in,
                        int64_t if_match, struct api_error *);

/* Maintenance and balancing (controller/api-drs.c, doc/mobility.md). */
struct drs_settings;
struct api_drs *api_drs_create(void);
void api_drs_destroy(struct api_drs *);
/* Notes the "cpu_time_ns" and "memory_kb" of checked port-status reports
 * 'vms' of host 'host', received now: CPU use is their rate between two
 * reports. */
void api_drs_note_usage(struct api *, const char *host, const json_t *vms);
/* Notes that maintenance or the balancer just migrated VM 'vm': it stays
 * put for the balancer's interval. */
void api_drs_note_moved(struct api *, const char *vm);
/* Records why the VMs of 'blocked' ({VM: reason}, stolen; NULL or empty:
 * none) cannot leave host 'host' in maintenance. */
void api_drs_set_blocked(struct api *, const char *host, json_t *blocked);
/* Starts and stops the balancer thread: a pass every interval, or at once
 * when kicked.  api_drs_start() returns 0 or a positive errno (logged). */
int api_drs_start(struct api *);
void api_drs_stop(struct api *);
/* Wakes the balancer for a pass now (after a host enters maintenance). */
void api_drs_kick(struct api *);
/* The imbalance of the last plan, for the metrics. */
double api_drs_imbalance(struct api *);
/* Reads the balancer's settings from the store into '*s'.  Returns 0 or
 * a store error. */
int api_drs_settings(struct api *, struct drs_settings *s);
/* GET and PUT /v1/drs. */
int api_drs_get(struct api *, json_t **out, struct api_error *);
int api_drs_put(struct api *, const json_t *in, json_t **out,
                struct api_error *);
/* The current plan: {"mode", "threshold", "imbalance", "hosts": [{"name",
 * "load", "cpu_used", "memory_kb", "in_service"}], "recommendations":
 * [{"vm", "from", "to", "imbalance"}]}, empty in mode "off" unless
 * 'all'. */
int api_drs_plan(struct api *, bool all, json_t **out, struct api_error *);
/* POST /v1/drs/apply: starts the migrations of the current plan (reason
 * "drs"), as many as max_concurrent less those running allows: 200 with
 * {"imbalance", "started": [migration...], "refused": [{"vm",
 * "reason"}]}, 409 in mode "off". */
int api_drs_apply(struct api *, json_t **out, struct api_error *);
/* How many migrations maintenance and the balancer started. */
void api_drs_counts(struct api *, uint64_t *maintenance, uint64_t *drs);
/* GET /v1/drs/recommendations: api_drs_plan() as the mode says. */
int api_drs_recommendations(struct api *, json_t **out, struct api_error *);
/* What host 'host' in maintenance still holds, read in 'txn': {"state":
 * "entering" or "in-maintenance", "vms": N, "blocked": [{"vm",
 * "reason"}]}, or NULL if the store cannot tell. */
json_t *api_drs_maintenance_status(struct api *, struct store_txn *txn,
                                   const char *host);
/* POST /v1/hosts/NAME/maintenance {"action": "enter"|"exit"}: 200 with
 * the host. */
int api_host_maintenance(struct api *, const char *name, const json_t *in,
                         json_t **out, struct api_error *);

/* GET /v1/status. */
int api_status(struct api *, json_t **out, struct api_error *);

/* Ports' traffic counters (controller/api-traffic.c): agents report them
 * in heartbeats as "traffic": {PORT: {"rx_bytes", "rx_packets",
 * "tx_bytes", "tx_packets"}}, kept in memory, the last report of each. */
#define API_TRAFFIC_PORTS_MAX 65536 /* Most ports in one report. */
struct api_traffic *api_traffic_create(void);
void api_traffic_destroy(struct api_traffic *);
/* Checks heartbeat member 'traffic' of 'what'.  Returns 0 or 400. */
int api_traffic_check(const json_t *traffic, const char *what,
                      struct api_error *);
/* Records checked report 'traffic' of host 'host', received now. */
void api_traffic_note(struct api *, const char *host, const json_t *traffic);
/* GET /v1/ports/NAME/traffic: 200 with {"port", "host", "time",
 * "rx_bytes", "rx_packets", "tx_bytes", "tx_packets"}, the last report of
 * the port's host; 404 if there is no such port or no report. */
int api_port_traffic(struct api *, const char *name, json_t **out,
                     struct api_error *);

/* GET /v1/changes?revision=R&timeout=S (controller/api-changes.c): waits
 * up to S seconds (default API_WAIT_DEFAULT) for a commit past store
 * revision R that changes what a collection of the API answers, and
 * answers {"revision": NEW, "changed": ["networks", ...]} (empty at the
 * timeout); without R, the current revision at once.  A revision this
 * process cannot tell kind by kind (before its start, or beyond the
 * store's) names every collection.  503 while the controller stops. */
int api_changes(struct api *, const json_t *query, json_t **out,
                struct api_error *);

#endif /* controller/api.h */
