/* Fuzz target for the delta answers of the controller's long poll, as the
 * agent's watch applies them (agent/changes.c), and for the controller's side
 * of the same contract (desired_diff() in controller/desired.c).
 *
 * The input is a JSON object:
 *
 *   {"document": D, "changes": C}   applies C to D with
 *                                   changes_apply() and validates the
 *                                   result with state_from_json(), as the
 *                                   watch does with an answer;
 *   {"document": D, "new": N}       when both are valid documents, applies
 *                                   the changes desired_diff(D, N) to D.
 *
 * Beyond memory errors and leaks, which the sanitizers catch, the target
 * checks that:
 *
 *   - changes_apply() answers 0 without a message, or EINVAL with a
 *     one-line message;
 *   - changes that lead to a valid document lead there again when applied
 *     to it once more: "set" and "delete" say what an element is, not what
 *     to do to it, so a repeated answer (after a lost reply, say) changes
 *     nothing;
 *   - the changes desired_diff() computes between two valid documents turn
 *     the first into the second, element for element.
 *
 * Any broken promise aborts. */

#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/changes.h"
#include "agent/state.h"
#include "controller/desired.h"

/* The lists of a document, and what the changes call their elements. */
static const char *const lists[] = {"networks", "ports", "remotes",
                                    "identities"};

/* Whether 'doc' is a desired-state document the agent accepts.  Checks
 * that each message about it is one line. */
static bool
is_valid(const json_t *doc)
{
    struct state_errors errors;
    struct state *s;
    int error;

    state_errors_init(&errors);
    error = state_from_json(doc, &s, &errors);
    for (size_t i = 0; i < errors.n; i++) {
        CHECK(*errors.msgs[i] && !strpbrk(errors.msgs[i], "\n\r"));
    }
    state_errors_destroy(&errors);
    state_destroy(s);
    return !error;
}

/* Applies 'changes' to a copy of 'doc' and returns the copy, or NULL if
 * changes_apply() refused them. */
static json_t *
apply(const json_t *doc, const json_t *changes)
{
    json_t *copy = json_deep_copy(doc);
    char *msg;
    int error;

    error = changes_apply(copy, changes, &msg);
    if (error) {
        CHECK(error == EINVAL);
        CHECK(msg && *msg && !strpbrk(msg, "\n\r"));
        free(msg);
        json_decref(copy);
        return NULL;
    }
    CHECK(!msg);
    return copy;
}

/* Returns the element of 'list' json_equal() to 'element', or NULL. */
static const json_t *
find_equal(const json_t *list, const json_t *element)
{
    const json_t *e;
    size_t i;

    json_array_foreach(list, i, e)
    {
        if (json_equal(e, element)) {
            return e;
        }
    }
    return NULL;
}

/* Checks that documents 'a' and 'b' hold the same host and external VTEPs
 * and, list by list, the same elements, in any order (an absent list is
 * empty). */
static void
check_same_elements(const json_t *a, const json_t *b)
{
    CHECK(json_equal(json_object_get(a, "host"), json_object_get(b, "host")));
    CHECK(json_equal(json_object_get(a, "external_vteps"),
                     json_object_get(b, "external_vteps"))
          || (!json_object_get(a, "external_vteps")
              && !json_object_get(b, "external_vteps")));
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
        const json_t *la = json_object_get(a, lists[i]);
        const json_t *lb = json_object_get(b, lists[i]);
        const json_t *e;
        size_t j;

        CHECK(json_array_size(la) == json_array_size(lb));
        json_array_foreach(lb, j, e)
        {
            CHECK(find_equal(la, e));
        }
    }
}

/* Applies 'changes' to 'doc', as the watch does with a delta answer. */
static void
fuzz_changes(const json_t *doc, const json_t *changes)
{
    json_t *result = apply(doc, changes);

    if (result && json_is_object(doc) && is_valid(result)) {
        json_t *again = apply(result, changes);

        CHECK(again);
        CHECK(json_equal(again, result));
        json_decref(again);
    }
    json_decref(result);
}

/* Checks that desired_diff('old', 'new') turns 'old' into 'new'. */
static void
fuzz_diff(const json_t *old, const json_t *new)
{
    json_t *changes, *result;

    if (!json_is_object(old) || !json_is_object(new) || !is_valid(old)
        || !is_valid(new)) {
        return;
    }
    changes = desired_diff(old, new);
    if (!changes) {
        /* Only a whole document can change the host or the external
         * VTEPs. */
        CHECK(!json_equal(json_object_get(old, "host"),
                          json_object_get(new, "host"))
              || !json_equal(json_object_get(old, "external_vteps"),
                             json_object_get(new, "external_vteps")));
        return;
    }
    result = apply(old, changes);
    CHECK(result);
    check_same_elements(result, new);
    json_decref(result);
    json_decref(changes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in =
        json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, NULL);
    const json_t *doc = json_object_get(in, "document");
    const json_t *changes = json_object_get(in, "changes");
    const json_t *new = json_object_get(in, "new");

    if (doc && changes) {
        fuzz_changes(doc, changes);
    }
    if (doc && new) {
        fuzz_diff(doc, new);
    }
    json_decref(in);
    return 0;
}
