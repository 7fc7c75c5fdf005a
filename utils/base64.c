#include "utils/base64.h"

#include <string.h>

#include "utils/util.h"

/* The 64 digits, in the order of their values. */
static const char base64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
base64_encode(const uint8_t *data, size_t len)
{
    char *s = xmalloc((len + 2) / 3 * 4 + 1);
    char *p = s;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t) data[i] << 16;

        v |= i + 1 < len ? (uint32_t) data[i + 1] << 8 : 0;
        v |= i + 2 < len ? data[i + 2] : 0;
        *p++ = base64_digits[v >> 18];
        *p++ = base64_digits[(v >> 12) & 63];
        *p++ = i + 1 < len ? base64_digits[(v >> 6) & 63] : '=';
        *p++ = i + 2 < len ? base64_digits[v & 63] : '=';
    }
    *p = '\0';
    return s;
}

bool
base64_decode(const char *s, uint8_t *buf, size_t size, size_t *lenp)
{
    size_t n = strlen(s), len = 0;

    if (n % 4) {
        return false;
    }
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;

        for (int k = 0; k < 4; k++) {
            const char *c = s[i + k] ? strchr(base64_digits, s[i + k]) : NULL;

            /* "=" only pads the last group, in its last one or two
             * places; a digit after it is an error. */
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                pad++;
                v <<= 6;
            } else if (!c || pad) {
                return false;
            } else {
                v = v << 6 | (uint32_t) (c - base64_digits);
            }
        }
        for (int k = 0; k < 3 - pad; k++) {
            if (len >= size) {
                return false;
            }
            buf[len++] = v >> (16 - 8 * k);
        }
    }
    *lenp = len;
    return true;
}
