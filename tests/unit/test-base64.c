/* Unit tests for utils/base64.h: the RFC 4648 test vectors both ways,
 * every byte value surviving a round trip, and the malformed or oversized
 * inputs that the agent and the controller must refuse rather than
 * half-decode. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "utils/base64.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof(a)[0])

/* The test vectors of RFC 4648 section 10, each encoded and decoded. */
static void
test_rfc4648_vectors(void **state)
{
    static const char *const cases[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    uint8_t buf[16];
    size_t len;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *s =
            base64_encode((const uint8_t *) cases[i][0], strlen(cases[i][0]));

        assert_string_equal(s, cases[i][1]);
        free(s);
        assert_true(base64_decode(cases[i][1], buf, sizeof buf, &len));
        assert_int_equal(len, strlen(cases[i][0]));
        assert_memory_equal(buf, cases[i][0], len);
    }
}

/* A frame with every byte value, as a trace carries, comes back whole,
 * in a buffer of exactly its size; "+" and "/" are the last two digits. */
static void
test_round_trip_all_bytes(void **state)
{
    uint8_t data[256], back[256];
    size_t len = 0;
    char *s;

    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = i;
    }
    s = base64_encode(data, sizeof data);
    assert_int_equal(strlen(s), (sizeof data + 2) / 3 * 4);
    assert_memory_equal(s + strlen(s) - 8, "/P3+/w==", 8);
    assert_true(base64_decode(s, back, sizeof back, &len));
    assert_int_equal(len, sizeof data);
    assert_memory_equal(back, data, sizeof data);
    free(s);
}

/* Wrong lengths, misplaced padding, characters outside the alphabet and
 * output that does not fit are refused, and '*lenp' is left alone. */
static void
test_decode_refuses(void **state)
{
    static const char *const bad[] = {
        "Zg=",      /* Not a multiple of 4. */
        "Z===",     /* Padding in the second place. */
        "=Zg=",     /* Padding first. */
        "Zg=a",     /* A digit after padding. */
        "Zg==Zg==", /* Padding before the last group. */
        "Zm9v!A==", /* Not a base64 digit. */
        "Zm9v-_==", /* base64url's digits, not base64's. */
    };
    uint8_t buf[16];
    size_t len = 42;

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        assert_false(base64_decode(bad[i], buf, sizeof buf, &len));
        assert_int_equal(len, 42);
    }
    /* Six bytes into five. */
    assert_false(base64_decode("Zm9vYmFy", buf, 5, &len));
    assert_int_equal(len, 42);
    /* Padding that leaves exactly enough room fits. */
    assert_true(base64_decode("Zm9vYmE=", buf, 5, &len));
    assert_int_equal(len, 5);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_round_trip_all_bytes),
        cmocka_unit_test(test_decode_refuses),
    };

    return cmocka_run_group_tests_name("utils/base64.h", tests, NULL, NULL);
}
