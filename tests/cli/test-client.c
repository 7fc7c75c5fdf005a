/* Unit tests for the parts of cli/client.h that need no network: escaping
 * names for URLs and turning error answers into one-line messages. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/client.h"

static void
check_escape(const char *text, const char *expected)
{
    char *s = client_escape(text);

    assert_string_equal(s, expected);
    free(s);
}

/* Names are [a-z0-9-] by the API's rules, but whatever a user types must
 * stay one path segment or one query value. */
static void
test_escape(void **state)
{
    check_escape("web-1", "web-1");
    check_escape("A.b_c~", "A.b_c~");
    check_escape("", "");
    check_escape("../tokens", "..%2Ftokens");
    check_escape("env=prod", "env%3Dprod");
    check_escape("a b&c?d#e%", "a%20b%26c%3Fd%23e%25");
    check_escape("caf\xc3\xa9", "caf%C3%A9");
}

/* Checks the message for an answer with 'status' and body 'text'. */
static void
check_message(long status, const char *text, const char *expected)
{
    struct client_response r = {.status = status};
    char *msg;

    r.text = strdup(text);
    r.json = json_loads(text, 0, NULL);
    msg = client_error_message(&r);
    assert_string_equal(msg, expected);
    free(msg);
    client_response_clear(&r);
}

static void
test_error_message(void **state)
{
    /* The API's error object: its message, as it is. */
    check_message(400,
                  "{\"error\": {\"status\": 400, \"reason\": \"invalid\", "
                  "\"message\": \"network \\\"blue\\\": cidr "
                  "\\\"10.0.0.0/33\\\": prefix length must be 0..32\", "
                  "\"field\": \"cidr\"}}",
                  "network \"blue\": cidr \"10.0.0.0/33\": prefix length "
                  "must be 0..32");

    /* A message stays on one line. */
    check_message(409,
                  "{\"error\": {\"reason\": \"conflict\", \"message\": "
                  "\"two\\nlines\"}}",
                  "two lines");

    /* Not the API talking: a proxy's page, an empty body, odd JSON. */
    check_message(502, "<html>\r\n<h1>Bad Gateway</h1></html>",
                  "HTTP 502 Bad Gateway: <html>");
    check_message(404, "", "HTTP 404 Not Found");
    check_message(418, "  \n", "HTTP 418");
    check_message(500, "{\"error\": \"boom\"}",
                  "HTTP 500 Internal Server Error: {\"error\": \"boom\"}");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_error_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
