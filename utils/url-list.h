/* Lists of controller URLs, as the agent's "controller" setting and
 * fabricctl's --controller take them (doc/replication.md, "Clients"):
 * "http://10.0.0.1:9470,http://10.0.0.2:9470".  A client sends each
 * request to the URL that answered last and moves on to the next one in
 * the list when it cannot get an answer.
 *
 * The rules of fail-over, shared by both clients, live here too, so that
 * the agent and fabricctl agree on them. */
#ifndef UTILS_URL_LIST_H
#define UTILS_URL_LIST_H 1

#include <stdbool.h>
#include <stddef.h>

/* The most URLs one list may hold. */
#define URL_LIST_MAX 16

/* A parsed list. */
struct url_list {
    char **urls; /* Base URLs without a trailing '/', in the given order. */
    size_t n;    /* Number of 'urls', 1 to URL_LIST_MAX. */
};

/* Parses 'text', one or more base URLs separated by commas, into 'list'.
 * Each must be "http://" or "https://", then a host name, an IPv4
 * address or a bracketed IPv6 address, an optional ":PORT" (1 to 65535)
 * and an optional path, without white space, user information, query or
 * fragment; trailing '/'s are dropped.  Returns NULL, or a malloc'd
 * message naming the bad item and what is wrong with it (an empty item, a
 * bad URL, a URL given twice, too many), in which case 'list' is empty. */
char *url_list_parse(const char *text, struct url_list *list);

/* Frees what 'list' holds (not 'list' itself).  An empty list is fine. */
void url_list_clear(struct url_list *);

/* Whether every URL of 'list' starts with "https://". */
bool url_list_all_https(const struct url_list *);

/* Checks one base URL 'url' by the rules of url_list_parse() (a single
 * item, no comma).  Returns NULL or a static message. */
const char *url_list_check_one(const char *url);

/* Whether a request that got no answer ('answered' false: it could not
 * connect, timed out, or its connection broke) or got HTTP status
 * 'status' should go to the next URL of the list at once.  'sent' says
 * whether the request may have reached the controller (false only when
 * no connection was made).  A 503 answer (the controller is stopping, or
 * its store is unavailable) and a request never sent always go on; one
 * that may have been applied goes on only if 'method' is idempotent (GET,
 * HEAD, PUT, DELETE), lest a POST be applied twice. */
bool url_list_should_retry(const char *method, bool answered, long status,
                           bool sent);

#endif /* utils/url-list.h */
