/* The delta answers of the desired-state watch (doc/api.md). */
#include "agent/changes.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <jansson.h>

#include "utils/util.h"

/* The list of a document that holds elements of 'kind', or NULL for an
 * unknown kind. */
static const char *
kind_list(const char *kind)
{
    return !strcmp(kind, "network")    ? "networks"
           : !strcmp(kind, "port")     ? "ports"
           : !strcmp(kind, "remote")   ? "remotes"
           : !strcmp(kind, "identity") ? "identities"
           : !strcmp(kind, "vm")       ? "vms"
                                       : NULL;
}

/* Returns the decimal key of the identity 'element' ("300"), or NULL if
 * its "id" is not an integer.  The caller frees it. */
static char *
identity_key(const json_t *element)
{
    const json_t *id = json_object_get(element, "id");

    return json_is_integer(id)
               ? xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(id))
               : NULL;
}

/* Whether 'element' of kind 'kind' has key 'key'. */
static bool
element_has_key(const char *kind, const json_t *element, const char *key)
{
    if (!strcmp(kind, "remote")) {
        const char *net =
            json_string_value(json_object_get(element, "network"));
        const char *mac = json_string_value(json_object_get(element, "mac"));
        const char *slash = strchr(key, '/');

        return net && mac && slash && strlen(net) == (size_t) (slash - key)
               && !strncmp(net, key, slash - key)
               && !strcasecmp(mac, slash + 1);
    } else if (!strcmp(kind, "identity")) {
        char *id = identity_key(element);
        bool match = id && !strcmp(id, key);

        free(id);
        return match;
    } else {
        const char *name = json_string_value(json_object_get(element, "name"));

        return name && !strcmp(name, key);
    }
}

/* Returns the key of 'object' of kind 'kind', or NULL if it lacks the
 * members that make it up.  The caller frees it. */
static char *
element_key(const char *kind, const json_t *object)
{
    if (!strcmp(kind, "remote")) {
        const char *net =
            json_string_value(json_object_get(object, "network"));
        const char *mac = json_string_value(json_object_get(object, "mac"));

        return net && mac ? xasprintf("%s/%s", net, mac) : NULL;
    } else if (!strcmp(kind, "identity")) {
        return identity_key(object);
    } else {
        const char *name = json_string_value(json_object_get(object, "name"));

        return name ? xstrdup(name) : NULL;
    }
}

/* Returns the index in 'list' of the element of kind 'kind' with key
 * 'key', or -1. */
static ssize_t
find_element(const json_t *list, const char *kind, const char *key)
{
    const json_t *element;
    size_t i;

    json_array_foreach(list, i, element)
    {
        if (element_has_key(kind, element, key)) {
            return i;
        }
    }
    return -1;
}

/* Applies change number 'i', 'change', to 'doc'.  Returns NULL or a
 * message. */
static char *
apply_change(json_t *doc, size_t i, const json_t *change)
{
    const char *op = json_string_value(json_object_get(change, "op"));
    const char *kind = json_string_value(json_object_get(change, "kind"));
    const char *list_name;
    json_t *list;
    ssize_t index;

    if (!json_is_object(change)) {
        return xasprintf("changes[%zu]: expected an object", i);
    }
    if (!op || (strcmp(op, "set") && strcmp(op, "delete"))) {
        return xasprintf("changes[%zu].op: expected \"set\" or \"delete\"", i);
    }
    list_name = kind ? kind_list(kind) : NULL;
    if (!list_name) {
        /* The kind comes from the controller's answer: no line break of
         * it may reach the log. */
        char *shown = xstrdup_printable(kind ? kind : "missing");
        char *msg = xasprintf("changes[%zu].kind: %s%s%s: expected "
                              "\"network\", \"port\", \"remote\", "
                              "\"identity\" or \"vm\"",
                              i, kind ? "\"" : "", shown, kind ? "\"" : "");

        free(shown);
        return msg;
    }
    list = json_object_get(doc, list_name);
    if (!list) {
        list = json_array();
        json_object_set_new(doc, list_name, list);
    } else if (!json_is_array(list)) {
        return xasprintf("changes[%zu]: the document's \"%s\" is not an "
                         "array",
                         i, list_name);
    }

    if (!strcmp(op, "set")) {
        json_t *object = json_object_get(change, "object");
        char *key = json_is_object(object) ? element_key(kind, object) : NULL;

        if (!key) {
            return xasprintf("changes[%zu].object: expected %s %s object "
                             "with %s",
                             i, !strcmp(kind, "identity") ? "an" : "a", kind,
                             !strcmp(kind, "remote")
                                 ? "\"network\" and \"mac\""
                             : !strcmp(kind, "identity") ? "an integer \"id\""
                                                         : "\"name\"");
        }
        index = find_element(list, kind, key);
        free(key);
        if (index >= 0) {
            json_array_set(list, index, object);
        } else {
            json_array_append(list, object);
        }
    } else {
        const char *key = json_string_value(json_object_get(change, "key"));

        if (!key) {
            return xasprintf("changes[%zu].key: expected a string", i);
        }
        /* Every element with the key goes, not just the first: a
         * document that (wrongly) holds two would otherwise keep one, and
         * the same answer applied twice would not agree with itself. */
        while ((index = find_element(list, kind, key)) >= 0) {
            json_array_remove(list, index);
        }
    }
    return NULL;
}

int
changes_apply(json_t *doc, const json_t *changes, char **msg)
{
    const json_t *change;
    size_t i;

    *msg = NULL;
    if (!json_is_object(doc)) {
        *msg = xstrdup("the document is not an object");
        return EINVAL;
    }
    if (!json_is_array(changes)) {
        *msg = xstrdup("changes: expected an array");
        return EINVAL;
    }
    json_array_foreach(changes, i, change)
    {
        *msg = apply_change(doc, i, change);
        if (*msg) {
            return EINVAL;
        }
    }
    return 0;
}
