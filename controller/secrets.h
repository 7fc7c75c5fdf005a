/* Secrets the controller must keep in the store and use again later, such
 * as the token it shows an agent on traces (controller/trace.c), sealed
 * with AES-256-GCM under a key kept outside the store: a copy of the store
 * (a backup, a file left readable) then gives none of them away.
 *
 * The key is 32 random bytes in a file of its own, mode 0600, made on the
 * first start.  A sealed secret is "v1:" and the hex digits of a 12-byte
 * random nonce, the ciphertext and the 16-byte tag; the name of what it
 * is for is authenticated with it, so that a sealed value moved to another
 * object does not open there. */
#ifndef CONTROLLER_SECRETS_H
#define CONTROLLER_SECRETS_H 1

struct secrets;

/* Reads the key in 'path', or creates the file with a new key if it does
 * not exist, into '*secretsp'.  Returns 0 or a positive errno (logged). */
int secrets_open(const char *path, struct secrets **secretsp);
void secrets_close(struct secrets *);

/* Returns 'plaintext' sealed for 'context' ("host/h1"), or NULL if the
 * cipher fails.  The caller frees it. */
char *secrets_seal(const struct secrets *, const char *context,
                   const char *plaintext);

/* Returns the plaintext of 'sealed' for 'context', or NULL if it is not
 * a sealed value, was sealed for another context or under another key, or
 * was altered.  The caller frees it. */
char *secrets_unseal(const struct secrets *, const char *context,
                     const char *sealed);

#endif /* controller/secrets.h */
