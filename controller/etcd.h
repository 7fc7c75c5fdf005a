/* A small client of etcd 3.4's v3 JSON gateway (the grpc-gateway that every
 * etcd member serves on its client URLs) over libcurl: unary calls such as
 * /v3/kv/range, /v3/kv/txn and /v3/lease/grant, and watch streams.  Keys
 * and values travel in base64 and 64-bit integers as JSON strings, as the
 * gateway has them.
 *
 * The client knows several endpoints (the members of one cluster) and
 * fails over between them: a call that cannot connect to one member, or
 * that a member answers "unavailable" (no leader, shutting down), goes to
 * the next.  Errors are logged naming the endpoint and the call.
 *
 * Thread-safe: any number of threads may call at once; each call takes a
 * curl handle of its own from a small pool. */
#ifndef CONTROLLER_ETCD_H
#define CONTROLLER_ETCD_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct etcd;

/* Creates a client of the 'n' 'endpoints', each a base URL such as
 * "http://127.0.0.1:2379" or "https://etcd1:2379". */
struct etcd *etcd_create(char *const *endpoints, size_t n);
void etcd_destroy(struct etcd *);

/* Returns a new JSON array of the client's endpoints. */
json_t *etcd_endpoints(const struct etcd *);

/* POSTs 'request' to 'path' (e.g. "/v3/kv/range") and stores the answer in
 * '*reply' (the caller decrefs it).  A request that reached no member is
 * tried on the others; a request that may have been applied (it was sent
 * but no answer came) is tried again only if 'retry' is true, so that a
 * transaction is never applied twice.  Returns 0 or:
 *
 *   - ENOTCONN: no member could be reached or answered, and the request
 *     was not applied.
 *   - ECONNABORTED: with 'retry' false, a member took the request but
 *     gave no answer: it may or may not have been applied.
 *   - ERANGE: the revision asked for has been compacted.
 *   - EFBIG: the request is larger than etcd accepts.
 *   - EPROTO: etcd refused the request for another reason or answered
 *     something that is not JSON. */
int etcd_call(struct etcd *, const char *path, json_t *request, bool retry,
              json_t **reply);

/* Called with each message of a watch stream ('result' of the gateway's
 * {"result": ...} lines).  Returns 0 to go on or non-zero to end the
 * watch, which etcd_watch() then returns. */
typedef int etcd_watch_cb(json_t *result, void *aux);

/* Runs the watch 'create_request' (the gateway's WatchCreateRequest) on
 * the calling thread, calling 'cb' with each message, until 'cb' returns
 * non-zero (returned), '*stop' becomes true (checked at least every
 * second; 0 returned) or the stream breaks (ENOTCONN). */
int etcd_watch(struct etcd *, json_t *create_request, etcd_watch_cb *cb,
               void *aux, const volatile bool *stop);

/* Returns the base64 of the 'len' bytes at 's', for keys and values. */
char *etcd_b64(const char *s, size_t len);

/* Decodes base64 string 'b64' into a new NUL-terminated buffer in '*out'
 * (its length without the NUL in '*lenp' if not NULL).  Returns false for
 * text that is not base64. */
bool etcd_unb64(const char *b64, char **out, size_t *lenp);

/* Returns the integer member 'name' of 'obj', which the gateway writes as
 * a string (or omits when it is 0). */
int64_t etcd_int(const json_t *obj, const char *name);

/* Returns the revision in the header of 'reply', 0 if none. */
int64_t etcd_revision(const json_t *reply);

#endif /* controller/etcd.h */
