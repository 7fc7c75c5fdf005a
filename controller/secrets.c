/* Secrets sealed under a key outside the store (controller/secrets.h). */
#include "controller/secrets.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "utils/log.h"
#include "utils/util.h"

#define KEY_BYTES 32   /* AES-256. */
#define NONCE_BYTES 12 /* GCM's usual nonce. */
#define TAG_BYTES 16   /* GCM's full tag. */
#define PREFIX "v1:"   /* The format of a sealed value. */

/* Longest plaintext sealed: agent tokens are 64 characters. */
#define PLAINTEXT_MAX 1024

struct secrets {
    pthread_mutex_t mutex;          /* A cipher serves one call at a time. */
    gnutls_aead_cipher_hd_t cipher; /* AES-256-GCM under the key. */
};

/* Writes 'n' bytes at 'bytes' as lower-case hex into 'hex'. */
static void
to_hex(const uint8_t *bytes, size_t n, char *hex)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    }
}

/* Reads 'n' bytes of hex at 'hex' into 'bytes'. */
static bool
from_hex(const char *hex, size_t n, uint8_t *bytes)
{
    for (size_t i = 0; i < n; i++) {
        unsigned int b;

        if (!isxdigit((unsigned char) hex[2 * i])
            || !isxdigit((unsigned char) hex[2 * i + 1])
            || sscanf(hex + 2 * i, "%2x", &b) != 1) {
            return false;
        }
        bytes[i] = b;
    }
    return true;
}

/* Creates key file 'path' with a new key in 'key'. */
static int
create_key(const char *path, uint8_t key[KEY_BYTES])
{
    char line[2 * KEY_BYTES + 2];
    int error = 0;
    int fd;

    if (gnutls_rnd(GNUTLS_RND_KEY, key, KEY_BYTES)) {
        LOG_ERR("secrets key %s: no random bytes for a key", path);
        return EIO;
    }
    to_hex(key, KEY_BYTES, line);
    strcat(line, "\n");
    /* Mode 0600 whatever the umask, and never over an existing key. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = errno;
    } else {
        if (write(fd, line, strlen(line)) != (ssize_t) strlen(line)
            || fsync(fd)) {
            error = errno ? errno : EIO;
        }
        if (close(fd) && !error) {
            error = errno;
        }
        if (error) {
            unlink(path);
        }
    }
    explicit_bzero(line, sizeof line);
    if (error) {
        LOG_ERR("secrets key %s: cannot create it: %s", path, strerror(error));
    } else {
        LOG_INFO("secrets key %s: created (mode 0600); back it up with the "
                 "store, which needs it for the agents' trace tokens",
                 path);
    }
    return error;
}

/* Reads key file 'path' into 'key', creating it if it does not exist. */
static int
read_key(const char *path, uint8_t key[KEY_BYTES])
{
    char *text = NULL;
    size_t len = 0;
    int error;

    error = read_file(path, &text, &len);
    if (ENOENT == error) {
        return create_key(path, key);
    } else if (error) {
        LOG_ERR("secrets key %s: %s", path, strerror(error));
        return error;
    }
    while (len && isspace((unsigned char) text[len - 1])) {
        text[--len] = '\0';
    }
    if (len != 2 * KEY_BYTES || !from_hex(text, KEY_BYTES, key)) {
        LOG_ERR("secrets key %s: expected %d hex digits on one line (restore "
                "it from the backup of the store, or remove it and let "
                "agents register again)",
                path, 2 * KEY_BYTES);
        error = EINVAL;
    }
    explicit_bzero(text, len);
    free(text);
    return error;
}

int
secrets_open(const char *path, struct secrets **secretsp)
{
    uint8_t bytes[KEY_BYTES];
    gnutls_datum_t key = {bytes, KEY_BYTES};
    struct secrets *secrets;
    int error;

    *secretsp = NULL;
    error = read_key(path, bytes);
    if (error) {
        return error;
    }
    secrets = xzalloc(sizeof *secrets);
    if (gnutls_aead_cipher_init(&secrets->cipher, GNUTLS_CIPHER_AES_256_GCM,
                                &key)) {
        LOG_ERR("secrets key %s: this GnuTLS has no AES-256-GCM", path);
        free(secrets);
        error = ENOTSUP;
    } else {
        pthread_mutex_init(&secrets->mutex, NULL);
        *secretsp = secrets;
    }
    explicit_bzero(bytes, sizeof bytes);
    return error;
}

void
secrets_close(struct secrets *secrets)
{
    if (secrets) {
        gnutls_aead_cipher_deinit(secrets->cipher);
        pthread_mutex_destroy(&secrets->mutex);
        free(secrets);
    }
}

char *
secrets_seal(const struct secrets *secrets, const char *context,
             const char *plaintext)
{
    size_t len = strlen(plaintext);
    uint8_t buf[NONCE_BYTES + PLAINTEXT_MAX + TAG_BYTES];
    size_t out_len = len + TAG_BYTES;
    struct secrets *s = (struct secrets *) secrets;
    char *sealed;
    int rc;

    if (len > PLAINTEXT_MAX
        || gnutls_rnd(GNUTLS_RND_NONCE, buf, NONCE_BYTES)) {
        return NULL;
    }
    pthread_mutex_lock(&s->mutex);
    rc = gnutls_aead_cipher_encrypt(s->cipher, buf, NONCE_BYTES, context,
                                    strlen(context), TAG_BYTES, plaintext, len,
                                    buf + NONCE_BYTES, &out_len);
    pthread_mutex_unlock(&s->mutex);
    if (rc) {
        return NULL;
    }
    sealed = xmalloc(strlen(PREFIX) + 2 * (NONCE_BYTES + out_len) + 1);
    strcpy(sealed, PREFIX);
    to_hex(buf, NONCE_BYTES + out_len, sealed + strlen(PREFIX));
    return sealed;
}

char *
secrets_unseal(const struct secrets *secrets, const char *context,
               const char *sealed)
{
    uint8_t buf[NONCE_BYTES + PLAINTEXT_MAX + TAG_BYTES];
    struct secrets *s = (struct secrets *) secrets;
    const char *hex;
    size_t n, len;
    char *plaintext;
    int rc;

    if (strncmp(sealed, PREFIX, strlen(PREFIX))) {
        return NULL;
    }
    hex = sealed + strlen(PREFIX);
    n = strlen(hex) / 2;
    if (strlen(hex) % 2 || n < NONCE_BYTES + TAG_BYTES || n > sizeof buf
        || !from_hex(hex, n, buf)) {
        return NULL;
    }
    len = n - NONCE_BYTES - TAG_BYTES;
    plaintext = xmalloc(len + 1);
    pthread_mutex_lock(&s->mutex);
    rc = gnutls_aead_cipher_decrypt(
        s->cipher, buf, NONCE_BYTES, context, strlen(context), TAG_BYTES,
        buf + NONCE_BYTES, n - NONCE_BYTES, plaintext, &len);
    pthread_mutex_unlock(&s->mutex);
    if (rc) {
        free(plaintext);
        return NULL;
    }
    plaintext[len] = '\0';
    if (strlen(plaintext) != len) {
        /* A NUL inside is nothing this module sealed. */
        free(plaintext);
        return NULL;
    }
    return plaintext;
}
