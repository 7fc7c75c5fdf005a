/* Rates and sizes as operators write them ("100mbit", "64kb"), with the
 * conventions of tc(8), so that a number means the same here as in a tc
 * command line.
 *
 * Rates, in bits per second:
 *   - "bit" suffixes count BITS per second: bit, kbit, mbit, gbit, tbit are
 *     powers of 1000; kibit, mibit, gibit, tibit are powers of 1024.  A bare
 *     number is bits per second.
 *   - "bps" suffixes count BYTES per second, as in tc: bps, kbps, mbps,
 *     gbps, tbps are 1, 1000, ... bytes per second (8, 8000, ... bits), and
 *     kibps, mibps, gibps, tibps powers of 1024 bytes.  Beware: "100mbps"
 *     is 800 Mbit/s, not 100.
 * Sizes, in bytes: a bare number or "b" is bytes; k, kb, kib are 1024
 * bytes, m, mb, mib 1024^2, g, gb, gib 1024^3 and t, tb, tib 1024^4 (tc
 * takes "kb" as 1024 bytes too).
 *
 * Units are case-insensitive ("1Gbit", "64KB"), follow the number without
 * white space, and the number may have up to 6 decimals ("1.5gbit") as
 * long as the result is a whole number of bits or bytes.  Zero, negative
 * numbers and values beyond 64 bits are errors. */
#ifndef UTILS_UNITS_H
#define UTILS_UNITS_H 1

#include <stddef.h>
#include <stdint.h>

#define UNITS_STRLEN 32 /* Room for any formatted rate or size. */

/* Parses rate 's' into '*bits_per_s'.  Returns 0, with '*err' NULL; or
 * EINVAL for a malformed, zero or negative rate, or ERANGE for one beyond
 * 64 bits, with '*err' a message naming 's' and the accepted forms, which
 * the caller frees. */
int units_parse_rate(const char *s, uint64_t *bits_per_s, char **err);

/* Parses size 's' into '*bytes'.  Returns as units_parse_rate(). */
int units_parse_size(const char *s, uint64_t *bytes, char **err);

/* Formats 'bits_per_s' for a table in 'buf' of 'size' bytes (UNITS_STRLEN
 * is always enough) with the largest 1000-based unit that leaves at least
 * 1, up to 3 decimals: "100Mbit", "1.5Gbit", "999bit".  Returns 'buf'. */
char *units_format_rate(uint64_t bits_per_s, char *buf, size_t size);

/* Formats 'bytes' like units_format_rate(), with 1024-based units: "64KiB",
 * "1.5MiB", "512B".  Returns 'buf'. */
char *units_format_size(uint64_t bytes, char *buf, size_t size);

#endif /* utils/units.h */
