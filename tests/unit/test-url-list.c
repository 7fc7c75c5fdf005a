/* Unit tests for utils/url-list.h: the lists of controllers that
 * fabric-agent's "controller" setting and fabricctl's --controller take,
 * and the rule that says when a request goes on to the next controller.
 *
 * A list is what an operator types, so each bad one must be refused with
 * a message that names the item and what is wrong with it; a good one
 * comes out in order, without trailing '/'s. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "utils/url-list.h"

/* Fails unless 'text' parses into the 'n' URLs that follow. */
static void
assert_parses(const char *text, size_t n, ...)
{
    struct url_list list;
    char *msg = url_list_parse(text, &list);
    va_list args;

    if (msg) {
        fail_msg("\"%s\" refused: %s", text, msg);
    }
    assert_int_equal(list.n, n);
    va_start(args, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(list.urls[i], va_arg(args, const char *));
    }
    va_end(args);
    url_list_clear(&list);
    assert_int_equal(list.n, 0);
}

/* Fails unless 'text' is refused with a message that contains 'want'. */
static void
assert_refused(const char *text, const char *want)
{
    struct url_list list;
    char *msg = url_list_parse(text, &list);

    if (!msg) {
        fail_msg("\"%s\" accepted", text);
    }
    if (!strstr(msg, want)) {
        fail_msg("\"%s\": message \"%s\" does not say \"%s\"", text, msg,
                 want);
    }
    assert_int_equal(list.n, 0);
    assert_null(list.urls);
    free(msg);
}

static void
test_good_lists(void **state)
{
    assert_parses("http://127.0.0.1:9470", 1, "http://127.0.0.1:9470");
    assert_parses("http://a:1/,https://b.example.net//,http://[fd00::1]:9", 3,
                  "http://a:1", "https://b.example.net", "http://[fd00::1]:9");
    assert_parses("https://c/api/", 1, "https://c/api");
    (void) state;
}

static void
test_bad_lists(void **state)
{
    char many[40 * (URL_LIST_MAX + 1)] = "";

    assert_refused("", "expected one or more URLs");
    assert_refused(",http://a", "item 1 is empty");
    assert_refused("http://a,,http://b", "item 2 is empty");
    assert_refused("http://a,", "item 2 is empty");
    assert_refused("http://a,http://a/", "\"http://a\" is given twice");
    assert_refused("http://a:1,http://A:1", "is given twice");
    assert_refused("ftp://a", "expected a URL that starts with http://");
    assert_refused("http://a,b", "\"b\": expected a URL that starts with");
    assert_refused("http://", "expected a host name or address");
    assert_refused("http://:80", "expected a host name or address");
    assert_refused("http://a:", "expected a port number after ':'");
    assert_refused("http://a:x1", "expected a port number of digits");
    assert_refused("http://a:0", "expected a port from 1 to 65535");
    assert_refused("http://a:65536", "expected a port from 1 to 65535");
    assert_refused("http://a:99999999999999999999", "from 1 to 65535");
    assert_refused("http://a b", "without white space");
    assert_refused("http://a?x=1", "query or fragment");
    assert_refused("http://a#top", "query or fragment");
    assert_refused("http://a\x01", "control characters");
    assert_refused("http://user:pw@a", "no user name or password");
    assert_refused("http://[]:1", "IPv6 address in brackets");
    assert_refused("http://[::1", "IPv6 address in brackets");
    assert_refused("http://[::1]x", "expected ':PORT' or '/'");
    assert_refused("http://a%2f", "expected a host name of letters");
    for (int i = 0; i <= URL_LIST_MAX; i++) {
        char item[40];

        snprintf(item, sizeof item, "%shttp://h%d:1", i ? "," : "", i);
        strcat(many, item);
    }
    assert_refused(many, "more than 16 URLs");
    (void) state;
}

static void
test_all_https(void **state)
{
    struct url_list list;

    assert_null(url_list_parse("https://a,https://b", &list));
    assert_true(url_list_all_https(&list));
    url_list_clear(&list);
    assert_null(url_list_parse("https://a,http://b", &list));
    assert_false(url_list_all_https(&list));
    url_list_clear(&list);
    (void) state;
}

/* A request that never left goes on, whatever it is; a 503 goes on; a
 * POST or PATCH that may have been applied does not, lest it be applied
 * twice; any other answer ends the request. */
static void
test_should_retry(void **state)
{
    assert_true(url_list_should_retry("POST", false, 0, false));
    assert_true(url_list_should_retry("PATCH", false, 0, false));
    assert_false(url_list_should_retry("POST", false, 0, true));
    assert_false(url_list_should_retry("PATCH", false, 0, true));
    assert_true(url_list_should_retry("GET", false, 0, true));
    assert_true(url_list_should_retry("PUT", false, 0, true));
    assert_true(url_list_should_retry("DELETE", false, 0, true));
    assert_true(url_list_should_retry("POST", true, 503, true));
    assert_false(url_list_should_retry("GET", true, 500, true));
    assert_false(url_list_should_retry("GET", true, 404, true));
    assert_false(url_list_should_retry("GET", true, 200, true));
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_lists),
        cmocka_unit_test(test_bad_lists),
        cmocka_unit_test(test_all_https),
        cmocka_unit_test(test_should_retry),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
