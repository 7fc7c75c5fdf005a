/* Unit tests for utils/units.c: rates and sizes as operators write them.
 *
 * The story: every unit means what tc(8) says it means ("bit" for bits,
 * "bps" for BYTES per second, "kb" for 1024 bytes); each kind of mistake
 * gets its own message naming the input and, where it helps, the forms
 * that are accepted; and formatting for tables gives back short strings
 * that parse to the same value when exact. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utils/units.h"
#include "utils/util.h"

/* An input and the value it means. */
struct good {
    const char *s;  /* Input. */
    uint64_t value; /* Bits per second or bytes. */
};

/* An input, the error it gets and words the message must contain. */
struct bad {
    const char *s;    /* Input. */
    int error;        /* EINVAL or ERANGE. */
    const char *msg;  /* The start of the message. */
    const char *hint; /* Further text the message holds, or NULL. */
};

static void
check_good(int (*parse)(const char *, uint64_t *, char **),
           const struct good *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t value = 0;
        char *err = (char *) "unset";
        int error = parse(cases[i].s, &value, &err);

        if (error || value != cases[i].value || err != NULL) {
            fail_msg("\"%s\": error %d (%s), value %llu, want %llu",
                     cases[i].s, error, err ? err : "no message",
                     (unsigned long long) value,
                     (unsigned long long) cases[i].value);
        }
    }
}

static void
check_bad(int (*parse)(const char *, uint64_t *, char **),
          const struct bad *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t value = 42;
        char *err = NULL;
        int error = parse(cases[i].s, &value, &err);

        if (error != cases[i].error || err == NULL
            || strncmp(err, cases[i].msg, strlen(cases[i].msg))
            || (cases[i].hint && !strstr(err, cases[i].hint)) || value != 42) {
            fail_msg("\"%s\": error %d, want %d; message \"%s\", want \"%s"
                     "...%s\"",
                     cases[i].s, error, cases[i].error, err ? err : "(none)",
                     cases[i].msg, cases[i].hint ? cases[i].hint : "");
        }
        free(err);
    }
}

static void
test_rate_good(void **state)
{
    static const struct good cases[] = {
        /* Bits, powers of 1000, any case. */
        {"100mbit", 100000000},
        {"1gbit", 1000000000},
        {"1Gbit", 1000000000},
        {"10MBIT", 10000000},
        {"64kbit", 64000},
        {"2tbit", 2000000000000},
        {"1bit", 1},
        {"9600", 9600},
        {"1.5gbit", 1500000000},
        {"0.001kbit", 1},
        {"007mbit", 7000000},
        /* Bits, powers of 1024. */
        {"1kibit", 1024},
        {"1mibit", 1048576},
        {"1gibit", 1073741824},
        {"1tibit", 1099511627776},
        /* BYTES per second, as tc. */
        {"1bps", 8},
        {"100mbps", 800000000},
        {"1kbps", 8000},
        {"1gbps", 8000000000},
        {"1tbps", 8000000000000},
        {"1kibps", 8192},
        {"2mibps", 16777216},
        {"1gibps", 8589934592},
        {"1tibps", 8796093022208},
        {"0.125bps", 1},
        /* The largest value there is. */
        {"18446744073709551615", UINT64_MAX},
        {"18446744073709551615bit", UINT64_MAX},
    };

    (void) state;
    check_good(units_parse_rate, cases, sizeof cases / sizeof cases[0]);
}

static void
test_rate_bad(void **state)
{
    static const struct bad cases[] = {
        {"", EINVAL, "rate \"\": empty; expected", "\"100mbit\""},
        {"-5mbit", EINVAL, "rate \"-5mbit\": must not be negative", NULL},
        {"mbit", EINVAL, "rate \"mbit\": must start with a number",
         "kbit, mbit"},
        {" 100mbit", EINVAL, "rate \" 100mbit\": must start with a number",
         NULL},
        {".5mbit", EINVAL, "rate \".5mbit\": must start with a number", NULL},
        {"100mbitz", EINVAL, "rate \"100mbitz\": unknown unit \"mbitz\"",
         "BYTES per second"},
        {"100 mbit", EINVAL, "rate \"100 mbit\": unknown unit \" mbit\"",
         NULL},
        {"100mb", EINVAL, "rate \"100mb\": unknown unit \"mb\"", "bps"},
        {"1e9", EINVAL, "rate \"1e9\": unknown unit \"e9\"", NULL},
        {"1.mbit", EINVAL, "rate \"1.mbit\": no digits after \".\"", NULL},
        {"1.1234567gbit", EINVAL, "rate \"1.1234567gbit\": at most 6 decimals",
         NULL},
        {"1.5bit", EINVAL,
         "rate \"1.5bit\": not a whole number of bits per second", NULL},
        {"0", EINVAL, "rate \"0\": must be greater than zero", NULL},
        {"0mbit", EINVAL, "rate \"0mbit\": must be greater than zero", NULL},
        {"0.000000mbit", EINVAL,
         "rate \"0.000000mbit\": must be greater than zero", NULL},
        {"0.0mbit", EINVAL, "rate \"0.0mbit\": must be greater than zero",
         NULL},
        {"18446744073709551616", ERANGE,
         "rate \"18446744073709551616\": too large; at most "
         "18446744073709551615 bits per second",
         NULL},
        {"99999999999999999999999tbit", ERANGE,
         "rate \"99999999999999999999999tbit\": too large", NULL},
        {"18446744073709552kbit", ERANGE,
         "rate \"18446744073709552kbit\": too large", NULL},
        {"2305843009213693952bps", ERANGE,
         "rate \"2305843009213693952bps\": too large", NULL},
    };

    (void) state;
    check_bad(units_parse_rate, cases, sizeof cases / sizeof cases[0]);
}

static void
test_size_good(void **state)
{
    static const struct good cases[] = {
        {"64kb", 65536},
        {"64k", 65536},
        {"64KiB", 65536},
        {"64KB", 65536},
        {"1500", 1500},
        {"1500b", 1500},
        {"1m", 1048576},
        {"1mb", 1048576},
        {"1mib", 1048576},
        {"2g", 2147483648},
        {"2gb", 2147483648},
        {"2gib", 2147483648},
        {"1t", 1099511627776},
        {"1tb", 1099511627776},
        {"1tib", 1099511627776},
        {"1.5kb", 1536},
        {"0.5k", 512},
        {"16777215tb", 18446742974197923840ULL},
        {"18446744073709551615", UINT64_MAX},
    };

    (void) state;
    check_good(units_parse_size, cases, sizeof cases / sizeof cases[0]);
}

static void
test_size_bad(void **state)
{
    static const struct bad cases[] = {
        {"", EINVAL, "size \"\": empty; expected", "\"64kb\""},
        {"-1kb", EINVAL, "size \"-1kb\": must not be negative", NULL},
        {"kb", EINVAL, "size \"kb\": must start with a number", "kib"},
        {"64kbit", EINVAL, "size \"64kbit\": unknown unit \"kbit\"", "bytes"},
        {"64kbps", EINVAL, "size \"64kbps\": unknown unit \"kbps\"", NULL},
        {"1.3b", EINVAL, "size \"1.3b\": not a whole number of bytes", NULL},
        {"0.1kb", EINVAL, "size \"0.1kb\": not a whole number of bytes", NULL},
        {"0kb", EINVAL, "size \"0kb\": must be greater than zero", NULL},
        {"16777216tb", ERANGE,
         "size \"16777216tb\": too large; at most 18446744073709551615 bytes",
         NULL},
        {"16777215.9999999tb", EINVAL,
         "size \"16777215.9999999tb\": at most 6 decimals", NULL},
    };

    (void) state;
    check_bad(units_parse_size, cases, sizeof cases / sizeof cases[0]);
}

/* The caller's '*err' is cleared on success, so a stale message from an
 * earlier call is never mistaken for a new one. */
static void
test_err_cleared(void **state)
{
    uint64_t v;
    char *err = NULL;

    (void) state;

    assert_int_equal(units_parse_rate("fast", &v, &err), EINVAL);
    assert_non_null(err);
    free(err);
    err = (char *) "stale";
    assert_int_equal(units_parse_size("1k", &v, &err), 0);
    assert_null(err);
}

static void
test_format(void **state)
{
    static const struct good rates[] = {
        {"100Mbit", 100000000},
        {"1Gbit", 1000000000},
        {"1.5Gbit", 1500000000},
        {"999bit", 999},
        {"1bit", 1},
        {"64Kbit", 64000},
        {"1.001Mbit", 1001000},
        {"1Gbit", 999999600},
        {"10Tbit", 10000000000000},
    };
    static const struct good sizes[] = {
        {"64KiB", 65536},  {"1000B", 1000},     {"1.465KiB", 1500},
        {"1MiB", 1048576}, {"1.5MiB", 1572864}, {"1TiB", 1099511627776},
        {"1023B", 1023},   {"1KiB", 1024},
    };
    char buf[UNITS_STRLEN];
    size_t i;

    (void) state;

    /* 999999600 bit/s is 999.9996 Mbit/s, which rounds up into the next
     * unit. */
    for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        assert_string_equal(units_format_rate(rates[i].value, buf, sizeof buf),
                            rates[i].s);
    }
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_string_equal(units_format_size(sizes[i].value, buf, sizeof buf),
                            sizes[i].s);
    }

    /* The largest values fit the buffer. */
    units_format_rate(UINT64_MAX, buf, sizeof buf);
    assert_string_equal(buf, "18446744.074Tbit");
    units_format_size(UINT64_MAX, buf, sizeof buf);
    assert_string_equal(buf, "16777216TiB");
}

/* What the table shows parses back to the same value when it is exact. */
static void
test_round_trip(void **state)
{
    static const uint64_t rates[] = {1, 1000, 64000, 1500000000, 100000000000};
    static const uint64_t sizes[] = {1, 1024, 65536, 1572864, 1099511627776};
    char buf[UNITS_STRLEN];
    size_t i;

    (void) state;

    for (i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        uint64_t v = 0;
        char *err = NULL;

        units_format_rate(rates[i], buf, sizeof buf);
        assert_int_equal(units_parse_rate(buf, &v, &err), 0);
        assert_int_equal(v, rates[i]);
    }
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t v = 0;
        char *err = NULL;

        units_format_size(sizes[i], buf, sizeof buf);
        assert_int_equal(units_parse_size(buf, &v, &err), 0);
        assert_int_equal(v, sizes[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_good),   cmocka_unit_test(test_rate_bad),
        cmocka_unit_test(test_size_good),   cmocka_unit_test(test_size_bad),
        cmocka_unit_test(test_err_cleared), cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
