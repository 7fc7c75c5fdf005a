/* Calling a host's agent: the controller reaches fabric-agent at the
 * "agent_url" its host registered, with the "agent_token" it gave (sealed
 * in the store), for the requests that only the host can answer: a trace
 * stage (controller/trace.c), a VM's console (controller/console.c). */
#ifndef CONTROLLER_AGENTS_H
#define CONTROLLER_AGENTS_H 1

#include <stddef.h>

#include <jansson.h>

struct api;
struct api_error;
struct store_txn;

/* How long one call to an agent may take, in milliseconds. */
#define AGENTS_TIMEOUT_MS 5000

/* A host's agent, as the controller reaches it. */
struct agents_target {
    char *host;  /* The host's name. */
    char *url;   /* Its agent's "agent_url", or NULL if it gave none. */
    char *token; /* Its agent's token, unsealed, or NULL. */
};

void agents_target_clear(struct agents_target *);

/* Reads registered host 'name' in 'txn' into 't', and its stored body
 * into '*body' (which the caller frees) unless 'body' is NULL.  Returns
 * 0, 404 if there is no such host, or a store error. */
int agents_target_read(const struct api *, struct store_txn *,
                       const char *name, struct agents_target *t,
                       json_t **body, struct api_error *);

/* An agent's answer. */
struct agents_reply {
    long status; /* Its HTTP status. */
    char *body;  /* Its body, NUL-terminated (never NULL). */
    size_t len;  /* Bytes of 'body'. */
};

void agents_reply_clear(struct agents_reply *);

/* Sends 'method' 'path' (query included) to the agent of 't' with 'body'
 * as JSON (NULL: no body), on behalf of 'what' ("trace", "vm \"web1\"
 * console") in messages, and stores the answer, whatever its status, in
 * 'reply' if its body has at most 'max' bytes.  Returns 0; 503 if the
 * agent gave no address or token to be reached at; 502 if it cannot be
 * reached, does not answer within AGENTS_TIMEOUT_MS or answers more than
 * 'max' bytes. */
int agents_call(const struct agents_target *t, const char *method,
                const char *path, const json_t *body, size_t max,
                const char *what, struct agents_reply *reply,
                struct api_error *);

#endif /* controller/agents.h */
