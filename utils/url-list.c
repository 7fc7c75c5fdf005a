#include "utils/url-list.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utils/util.h"

/* Returns the length of the scheme prefix of 'url' ("http://" or
 * "https://"), or 0 if it has neither. */
static size_t
scheme_len(const char *url)
{
    return !strncmp(url, "http://", 7)    ? 7
           : !strncmp(url, "https://", 8) ? 8
                                          : 0;
}

/* Checks the port digits 'p' ('n' bytes).  Returns NULL or a message. */
static const char *
check_port(const char *p, size_t n)
{
    long port = 0;

    if (n == 0) {
        return "expected a port number after ':'";
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return "expected a port number of digits after ':'";
        }
        port = port * 10 + (p[i] - '0');
        if (port > 65535) {
            break;
        }
    }
    return port < 1 || port > 65535 ? "expected a port from 1 to 65535" : NULL;
}

const char *
url_list_check_one(const char *url)
{
    size_t skip = scheme_len(url);
    const char *host, *end, *colon;

    if (!skip) {
        return "expected a URL that starts with http:// or https://";
    }
    if (strpbrk(url, " \t\r\n\v\f?#")) {
        return "expected a base URL without white space, query or fragment";
    }
    for (const unsigned char *p = (const unsigned char *) url; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return "expected a URL without control characters";
        }
    }
    host = url + skip;
    end = host + strcspn(host, "/");
    if (memchr(host, '@', end - host)) {
        return "expected no user name or password in the URL (the token "
               "goes in the token setting)";
    }
    if (*host == '[') {
        const char *close = memchr(host, ']', end - host);

        if (!close || close == host + 1) {
            return "expected an IPv6 address in brackets: [ADDRESS]";
        }
        for (const char *p = host + 1; p < close; p++) {
            if (!strchr("0123456789abcdefABCDEF:.", *p)) {
                return "expected an IPv6 address in brackets: [ADDRESS]";
            }
        }
        colon = close + 1 < end ? close + 1 : NULL;
        if (colon && *colon != ':') {
            return "expected ':PORT' or '/' after the IPv6 address";
        }
    } else {
        colon = memchr(host, ':', end - host);
        if ((colon ? colon : end) == host) {
            return "expected a host name or address after the scheme";
        }
        for (const char *p = host; p < (colon ? colon : end); p++) {
            if (!strchr("abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_",
                        *p)) {
                return "expected a host name of letters, digits, '.', '-' "
                       "and '_', or an address";
            }
        }
    }
    return colon ? check_port(colon + 1, end - colon - 1) : NULL;
}

char *
url_list_parse(const char *text, struct url_list *list)
{
    const char *p = text;
    char *error = NULL;

    memset(list, 0, sizeof *list);
    if (!text[0]) {
        return xstrdup("expected one or more URLs separated by commas");
    }
    for (;;) {
        size_t n = strcspn(p, ",");
        char *url = xasprintf("%.*s", (int) n, p);
        const char *problem = url_list_check_one(url);
        size_t len = strlen(url);

        if (n == 0) {
            error = xasprintf("item %zu is empty (expected URLs separated by "
                              "single commas, e.g. "
                              "http://10.0.0.1:9470,http://10.0.0.2:9470)",
                              list->n + 1);
        } else if (problem) {
            /* A list of one is named by the caller already. */
            error = strchr(text, ',') ? xasprintf("\"%s\": %s", url, problem)
                                      : xstrdup(problem);
        } else if (list->n == URL_LIST_MAX) {
            error = xasprintf("more than %d URLs", URL_LIST_MAX);
        }
        while (!error && len > 0 && url[len - 1] == '/') {
            url[--len] = '\0';
        }
        for (size_t i = 0; !error && i < list->n; i++) {
            if (!strcasecmp(list->urls[i], url)) {
                error = xasprintf("\"%s\" is given twice", url);
            }
        }
        if (error) {
            free(url);
            url_list_clear(list);
            return error;
        }
        list->urls = xrealloc(list->urls, (list->n + 1) * sizeof *list->urls);
        list->urls[list->n++] = url;
        if (!p[n]) {
            return NULL;
        }
        p += n + 1;
    }
}

void
url_list_clear(struct url_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        free(list->urls[i]);
    }
    free(list->urls);
    memset(list, 0, sizeof *list);
}

bool
url_list_all_https(const struct url_list *list)
{
    for (size_t i = 0; i < list->n; i++) {
        if (strncmp(list->urls[i], "https://", 8)) {
            return false;
        }
    }
    return true;
}

bool
url_list_should_retry(const char *method, bool answered, long status,
                      bool sent)
{
    if (answered) {
        return status == 503;
    }
    return !sent || !strcmp(method, "GET") || !strcmp(method, "HEAD")
           || !strcmp(method, "PUT") || !strcmp(method, "DELETE");
}
