/* Base64 (RFC 4648, the standard alphabet, with padding), as the trace API
 * carries frames between fabricctl, the controller and the agents.  One
 * implementation for both ends, so that they always agree on the
 * encoding. */
#ifndef UTILS_BASE64_H
#define UTILS_BASE64_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns the base64 of the 'len' bytes at 'data' as a new NUL-terminated
 * string, which the caller frees. */
char *base64_encode(const uint8_t *data, size_t len);

/* Decodes base64 string 's' into 'buf', which holds 'size' bytes, and
 * stores the number of bytes decoded in '*lenp'.  Returns false, leaving
 * '*lenp' alone, if 's' is not padded base64 (a length that is not a
 * multiple of 4, a character outside the alphabet, padding anywhere but at
 * the end) or decodes to more than 'size' bytes. */
bool base64_decode(const char *s, uint8_t *buf, size_t size, size_t *lenp);

#endif /* utils/base64.h */
