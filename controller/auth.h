/* Bearer tokens and roles.
 *
 * A token is 32 random bytes from getrandom(2), written as 43 characters
 * of base64url.  The store keeps only its SHA-256 (kind "token-hash", name
 * the hash in hex -> {"token": NAME, "role", "host"}) next to the token
 * object itself (kind "token", NAME -> {"role", "host", "created_at"...}),
 * so a copy of the database lets nobody in.
 *
 * Roles (doc/api.md): "admin" may do everything; "viewer" every GET but
 * the token list; "agent" only the calls an agent makes for the one host
 * its token is bound to. */
#ifndef CONTROLLER_AUTH_H
#define CONTROLLER_AUTH_H 1

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

struct api;
struct api_error;
struct store;

/* Characters of a token: base64url of 32 bytes, without padding. */
#define AUTH_TOKEN_LEN 43

enum auth_role {
    AUTH_ADMIN,
    AUTH_VIEWER,
    AUTH_AGENT,
};

/* Who made a request. */
struct auth_identity {
    char *name;          /* Token name. */
    enum auth_role role; /* What it may do. */
    char *host;          /* For an agent token, its host. */
};

void auth_identity_clear(struct auth_identity *);
const char *auth_role_name(enum auth_role);

/* Makes a new random token into 'token'.  Returns 0 or an errno value. */
int auth_token_generate(char token[AUTH_TOKEN_LEN + 1]);
/* Stores the SHA-256 of 'token' in lowercase hex into 'hex'. */
void auth_token_hash(const char *token, char hex[65]);

/* Checks the value of an Authorization header ('header', NULL if absent)
 * and fills in 'id'.  Returns 0, or 401 (or a store error status) with
 * 'err' filled in. */
int auth_authenticate(struct api *, const char *header,
                      struct auth_identity *id, struct api_error *err);

/* If the store holds no token yet, creates the admin token "admin", writes
 * it to 'file' (mode 0600) and prints it once on stderr.  Returns 0 or an
 * errno value (logged), in which case nothing was stored. */
int auth_bootstrap(struct store *, const char *file);

/* /v1/tokens. */
int auth_token_create(struct api *, const json_t *in, json_t **out,
                      struct api_error *);
int auth_token_get(struct api *, const char *name, json_t **out,
                   struct api_error *);
int auth_token_list(struct api *, const json_t *query, json_t **out,
                    struct api_error *);
int auth_token_delete(struct api *, const char *name, const json_t *in,
                      int64_t if_match, struct api_error *);

#endif /* controller/auth.h */
