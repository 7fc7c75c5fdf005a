/* The web console's static files. */
#include "controller/ui.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "controller/http.h"
#include "utils/util.h"

/* Longest file name served, and largest file. */
#define UI_NAME_MAX 128
#define UI_FILE_MAX (16 * 1024 * 1024)

/* The policy allows the console's own files and API only: no inline
 * script or style, no eval, no framing, no form posted elsewhere. */
#define UI_CSP                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; "               \
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; "             \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The file types the console is built of. */
static const struct {
    const char *ext;  /* Extension, with its dot. */
    const char *type; /* Content-Type. */
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".map", "application/json"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

void
ui_add_security_headers(struct http_request *req)
{
    http_add_header(req, "Content-Security-Policy", UI_CSP);
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_add_header(req, "X-Frame-Options", "DENY");
    http_add_header(req, "Referrer-Policy", "no-referrer");
}

/* The Content-Type of file 'name', or NULL if it is no file of the
 * console's: only plain names of known types, never a path. */
static const char *
ui_type(const char *name)
{
    size_t len = strlen(name);
    const char *dot;

    if (!len || len > UI_NAME_MAX || name[0] == '.'
        || strspn(name, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
               != len) {
        return NULL;
    }
    dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++) {
        if (!strcmp(dot, types[i].ext)) {
            return types[i].type;
        }
    }
    return NULL;
}

/* Whether 'name' carries the bundler's content hash, "app-3FJQ2KXA.js":
 * eight upper-case letters or digits after the last "-", before the
 * extension.  Such a file never changes under its name. */
static bool
ui_is_hashed(const char *name)
{
    const char *dash = strrchr(name, '-');
    const char *dot = strrchr(name, '.');

    if (!dash || !dot || dot - dash != 9) {
        return false;
    }
    for (const char *p = dash + 1; p < dot; p++) {
        if (!isupper((unsigned char) *p) && !isdigit((unsigned char) *p)) {
            return false;
        }
    }
    return true;
}

void
ui_serve(struct http_request *req, const char *dir, const char *name)
{
    const char *type = ui_type(name);
    struct stat st;
    char *path, *body;
    size_t len;
    int error;

    ui_add_security_headers(req);
    if (!type) {
        http_reply_error(req, 404, NULL,
                         "%s: no such file of the web console (plain file "
                         "names only)",
                         http_request_path(req));
        return;
    }
    path = xasprintf("%s/%s", dir, name);
    /* lstat(): a link in the directory could lead out of it. */
    error = lstat(path, &st)           ? errno
            : !S_ISREG(st.st_mode)     ? ENOENT
            : st.st_size > UI_FILE_MAX ? EFBIG
                                       : 0;
    if (!error) {
        error = read_file(path, &body, &len);
    }
    free(path);
    if (error) {
        struct stat dst;

        if (stat(dir, &dst)) {
            http_reply_error(req, 404, NULL,
                             "%s: the web console is not installed: ui-dir "
                             "%s: %s (build it with make, or set ui-dir)",
                             http_request_path(req), dir, strerror(errno));
        } else {
            http_reply_error(req, 404, NULL,
                             "%s: no such file of the web console",
                             http_request_path(req));
        }
        return;
    }
    http_add_header(req, "Cache-Control",
                    ui_is_hashed(name) ? "public, max-age=31536000, immutable"
                                       : "no-cache");
    http_reply(req, 200, type, body, len);
    free(body);
}
