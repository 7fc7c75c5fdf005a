#include "utils/units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>

#include "utils/util.h"

/* A unit: its name and how many bits (rates) or bytes (sizes) it is. */
struct unit {
    const char *name; /* Suffix, lower case; "" for a bare number. */
    uint64_t factor;  /* Value of one of it in the base unit. */
};

/* Powers of 1000 and of 1024. */
#define KILO 1000ULL
#define MEGA 1000000ULL
#define GIGA 1000000000ULL
#define TERA 1000000000000ULL
#define KIBI 1024ULL
#define MEBI (1ULL << 20)
#define GIBI (1ULL << 30)
#define TEBI (1ULL << 40)

static const struct unit rate_units[] = {
    {"", 1}, /* A bare number is bits per second, as in tc. */
    {"bit", 1},
    {"kbit", KILO},
    {"mbit", MEGA},
    {"gbit", GIGA},
    {"tbit", TERA},
    {"kibit", KIBI},
    {"mibit", MEBI},
    {"gibit", GIBI},
    {"tibit", TEBI},
    {"bps", 8}, /* "bps" is BYTES per second, as in tc. */
    {"kbps", 8 * KILO},
    {"mbps", 8 * MEGA},
    {"gbps", 8 * GIGA},
    {"tbps", 8 * TERA},
    {"kibps", 8 * KIBI},
    {"mibps", 8 * MEBI},
    {"gibps", 8 * GIBI},
    {"tibps", 8 * TEBI},
};

static const struct unit size_units[] = {
    {"", 1},     {"b", 1},                    /* Bytes. */
    {"k", KIBI}, {"kb", KIBI}, {"kib", KIBI}, /* "kb" is 1024, as in tc. */
    {"m", MEBI}, {"mb", MEBI}, {"mib", MEBI}, /* 1024^2 bytes. */
    {"g", GIBI}, {"gb", GIBI}, {"gib", GIBI}, /* 1024^3 bytes. */
    {"t", TEBI}, {"tb", TEBI}, {"tib", TEBI}, /* 1024^4 bytes. */
};

#define MAX_DECIMALS 6

/* What a kind of quantity is called in messages, and how it is written. */
struct quantity {
    const char *what;         /* "rate" or "size". */
    const char *base;         /* The base unit, for messages. */
    const char *expected;     /* The accepted forms, for messages. */
    const struct unit *units; /* The accepted units. */
    size_t n_units;           /* Number of 'units'. */
};

static const struct quantity rate_quantity = {
    "rate",
    "bits per second",
    "expected a number of bits per second and a unit: bit, kbit, mbit, "
    "gbit, tbit (powers of 1000), kibit, mibit, gibit, tibit (powers of "
    "1024), or bps, kbps, mbps, gbps, tbps, kibps, mibps, gibps, tibps for "
    "BYTES per second, as in tc; e.g. \"100mbit\"",
    rate_units,
    ARRAY_SIZE(rate_units),
};

static const struct quantity size_quantity = {
    "size",
    "bytes",
    "expected a number of bytes and a unit: b, k or kb or kib (1024 "
    "bytes), m, mb, mib, g, gb, gib, t, tb, tib (powers of 1024); "
    "e.g. \"64kb\"",
    size_units,
    ARRAY_SIZE(size_units),
};

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses 's' as quantity 'q' into '*value'.  Returns as
 * units_parse_rate(). */
static int
parse(const struct quantity *q, const char *s, uint64_t *value, char **err)
{
    const struct unit *unit = NULL;
    uint64_t whole = 0, frac = 0, den = 1, v, part;
    int decimals = 0;
    bool digits = false;
    const char *p = s;
    size_t i;

    *err = NULL;
    if (*s == '\0') {
        *err = xasprintf("%s \"\": empty; %s", q->what, q->expected);
        return EINVAL;
    }
    if (*s == '-') {
        *err = xasprintf("%s \"%s\": must not be negative", q->what, s);
        return EINVAL;
    }
    for (; is_digit(*p); p++) {
        uint64_t d = (uint64_t) (*p - '0');

        if (whole > (UINT64_MAX - d) / 10) {
            goto too_large;
        }
        whole = whole * 10 + d;
        digits = true;
    }
    if (*p == '.' && digits) {
        for (p++; is_digit(*p); p++) {
            if (++decimals > MAX_DECIMALS) {
                *err = xasprintf("%s \"%s\": at most %d decimals", q->what, s,
                                 MAX_DECIMALS);
                return EINVAL;
            }
            frac = frac * 10 + (uint64_t) (*p - '0');
            den *= 10;
        }
        if (decimals == 0) {
            *err = xasprintf("%s \"%s\": no digits after \".\"; %s", q->what,
                             s, q->expected);
            return EINVAL;
        }
    }
    if (!digits) {
        *err = xasprintf("%s \"%s\": must start with a number; %s", q->what, s,
                         q->expected);
        return EINVAL;
    }
    for (i = 0; i < q->n_units; i++) {
        if (!strcasecmp(p, q->units[i].name)) {
            unit = &q->units[i];
            break;
        }
    }
    if (unit == NULL) {
        *err = xasprintf("%s \"%s\": unknown unit \"%s\"; %s", q->what, s, p,
                         q->expected);
        return EINVAL;
    }

    /* 'frac' < 10^6 and every factor < 2^44, so 'part' fits. */
    part = frac * unit->factor;
    if (part % den) {
        *err = xasprintf("%s \"%s\": not a whole number of %s", q->what, s,
                         q->base);
        return EINVAL;
    }
    part /= den;
    if (whole > UINT64_MAX / unit->factor) {
        goto too_large;
    }
    v = whole * unit->factor;
    if (v > UINT64_MAX - part) {
        goto too_large;
    }
    v += part;
    if (v == 0) {
        *err = xasprintf("%s \"%s\": must be greater than zero", q->what, s);
        return EINVAL;
    }
    *value = v;
    return 0;

too_large:
    *err = xasprintf("%s \"%s\": too large; at most %" PRIu64 " %s", q->what,
                     s, UINT64_MAX, q->base);
    return ERANGE;
}

int
units_parse_rate(const char *s, uint64_t *bits_per_s, char **err)
{
    return parse(&rate_quantity, s, bits_per_s, err);
}

int
units_parse_size(const char *s, uint64_t *bytes, char **err)
{
    return parse(&size_quantity, s, bytes, err);
}

/* Formats 'v' into 'buf' with the largest of the 'n' units in 'names'
 * (the i-th worth 'step' to the power i) that leaves at least 1 after
 * rounding to 3 decimals. */
static char *
format(uint64_t v, const char *const names[], int n, uint64_t step, char *buf,
       size_t size)
{
    uint64_t factor = 1, whole = v, frac = 0;
    int i, decimals = 3;

    for (i = 1; i < n; i++) {
        factor *= step;
    }
    for (i = n - 1; i > 0; i--, factor /= step) {
        /* 'factor' < 2^41, so the remainder times 1000 fits. */
        whole = v / factor;
        frac = (v % factor * 1000 + factor / 2) / factor;
        if (frac == 1000) {
            whole++;
            frac = 0;
        }
        if (whole >= 1) {
            break;
        }
    }
    if (i == 0) {
        whole = v;
        frac = 0;
    }
    if (frac == 0) {
        snprintf(buf, size, "%" PRIu64 "%s", whole, names[i]);
        return buf;
    }
    for (; frac % 10 == 0; frac /= 10) {
        decimals--;
    }
    snprintf(buf, size, "%" PRIu64 ".%0*" PRIu64 "%s", whole, decimals, frac,
             names[i]);
    return buf;
}

char *
units_format_rate(uint64_t bits_per_s, char *buf, size_t size)
{
    static const char *const names[] = {"bit", "Kbit", "Mbit", "Gbit", "Tbit"};

    return format(bits_per_s, names, ARRAY_SIZE(names), KILO, buf, size);
}

char *
units_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const names[] = {"B", "KiB", "MiB", "GiB", "TiB"};

    return format(bytes, names, ARRAY_SIZE(names), KIBI, buf, size);
}
