/* Runs a fuzz target as an ordinary test, with no libFuzzer and no
 * sanitizer: feeds it every input of the corpus, then a few hundred
 * pseudo-random mutations of each.
 *
 * usage: replay [FILE | DIRECTORY]...
 *
 * Without arguments it replays the target's seed corpus, FUZZ_CORPUS under
 * $top_srcdir ("make check" sets top_srcdir; otherwise it is "."), which is
 * how a crash that run-fuzz.sh found, once fixed and copied into the
 * corpus, stays fixed.
 * With arguments it replays those files and directories, for example to
 * reproduce a crash under gdb.
 *
 * The mutations come from a fixed seed, so every run feeds the same inputs.
 * Every input ends at a guard page (tests/unit/guard-buf.h), so a read past
 * its end crashes here as it would under AddressSanitizer. */

#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/unit/guard-buf.h"

/* The seed corpus of the target, relative to the top of the source tree;
 * each target's build names its own. */
#ifndef FUZZ_CORPUS
#define FUZZ_CORPUS "tests/fuzz/corpus"
#endif

/* Mutations replayed per input: targets that cost more per input (a store
 * transaction rather than a frame parse) ask for fewer, so that "make
 * check" stays fast. */
#ifndef MUTATIONS_PER_INPUT
#define MUTATIONS_PER_INPUT 500
#endif
#define INPUT_MAX 65536 /* Longer files are cut to this length. */

/* State of the xorshift64 generator behind the mutations. */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static uint32_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t) (rng_state >> 32);
}

/* Returns a pseudo-random number in [0, 'n'), for 'n' > 0. */
static size_t
rng_below(size_t n)
{
    return rng() % n;
}

static size_t n_inputs;    /* Corpus inputs replayed. */
static size_t n_mutations; /* Mutations of them replayed. */

/* Feeds the 'len' bytes at 'data' to the target from a guard_buf. */
static void
run_one(const uint8_t *data, size_t len)
{
    struct guard_buf b;

    LLVMFuzzerTestOneInput(guard_buf_init(&b, data, len), len);
    guard_buf_destroy(&b);
}

/* Byte values that mean something to the parsers: IPv4 version and IHL,
 * IPv6 version, extension header and L4 protocol numbers, and the edges. */
static const uint8_t interesting8[] = {
    0x00, 0x01, 0x05, 0x06, 0x08, 0x11, 0x2c, 0x3a, 0x3c,
    0x40, 0x45, 0x46, 0x4f, 0x60, 0x7f, 0x80, 0x88, 0xff,
};

/* Ethertypes, the VXLAN port and the edges, as 16-bit values. */
static const uint16_t interesting16[] = {
    0x0000, 0x0008, 0x0800, 0x0806, 0x8100, 0x86dd,
    0x88a8, 0x12b5, 0x2000, 0x3fff, 0x7fff, 0xffff,
};

/* Applies one random mutation to the '*len' bytes at 'buf', which has room
 * for INPUT_MAX + 16 bytes. */
static void
mutate_once(uint8_t *buf, size_t *len)
{
    size_t pos = *len ? rng_below(*len) : 0;

    switch (rng_below(8)) {
    case 0: /* Flip a bit. */
        if (*len) {
            buf[pos] ^= 1u << rng_below(8);
        }
        break;
    case 1: /* Replace a byte. */
        if (*len) {
            buf[pos] = (uint8_t) rng();
        }
        break;
    case 2: /* Write an interesting byte. */
        if (*len) {
            buf[pos] = interesting8[rng_below(sizeof interesting8)];
        }
        break;
    case 3: /* Write an interesting 16-bit value. */
        if (*len >= 2) {
            uint16_t v = interesting16[rng_below(sizeof interesting16
                                                 / sizeof interesting16[0])];

            pos = rng_below(*len - 1);
            buf[pos] = v >> 8;
            buf[pos + 1] = v & 0xff;
        }
        break;
    case 4: /* Cut the input short. */
        *len = *len ? rng_below(*len) : 0;
        break;
    case 5: /* Append up to 16 random bytes. */
        for (size_t n = 1 + rng_below(16); n && *len < INPUT_MAX + 16; n--) {
            buf[(*len)++] = (uint8_t) rng();
        }
        break;
    case 6: /* Insert a byte, shifting the rest along. */
        if (*len < INPUT_MAX + 16) {
            memmove(buf + pos + 1, buf + pos, *len - pos);
            buf[pos] = (uint8_t) rng();
            (*len)++;
        }
        break;
    case 7: /* Delete a byte. */
        if (*len) {
            memmove(buf + pos, buf + pos + 1, *len - pos - 1);
            (*len)--;
        }
        break;
    }
}

/* Replays the 'len'-byte input at 'data' and MUTATIONS_PER_INPUT mutations
 * of it, each with one to four mutations stacked. */
static void
replay_input(const uint8_t *data, size_t len)
{
    static uint8_t buf[INPUT_MAX + 16];

    run_one(data, len);
    n_inputs++;
    for (int i = 0; i < MUTATIONS_PER_INPUT; i++) {
        size_t mutated_len = len;

        memcpy(buf, data, len);
        for (size_t n = 1 + rng_below(4); n; n--) {
            mutate_once(buf, &mutated_len);
        }
        run_one(buf, mutated_len);
        n_mutations++;
    }
}

/* Replays the file at 'path'.  Returns false, after saying why, if it cannot
 * be read. */
static bool
replay_file(const char *path)
{
    static uint8_t data[INPUT_MAX];
    FILE *f = fopen(path, "rb");
    size_t len;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return false;
    }
    len = fread(data, 1, sizeof data, f);
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        fclose(f);
        return false;
    }
    fclose(f);
    replay_input(data, len);
    return true;
}

/* Replays every regular file in the directory 'dir', in name order so that
 * every run mutates the same way.  Returns false, after saying why, if
 * anything cannot be read. */
static bool
replay_dir(const char *dir)
{
    struct dirent **names;
    bool ok = true;
    int n;

    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return false;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;

        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (!stat(path, &st) && S_ISREG(st.st_mode)) {
            ok = replay_file(path) && ok;
        }
        free(names[i]);
    }
    free(names);
    return ok;
}

static bool
replay_path(const char *path)
{
    struct stat st;

    if (stat(path, &st)) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return false;
    }
    return S_ISDIR(st.st_mode) ? replay_dir(path) : replay_file(path);
}

int
main(int argc, char *argv[])
{
    bool ok = true;

    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            ok = replay_path(argv[i]) && ok;
        }
    } else {
        const char *top_srcdir = getenv("top_srcdir");
        char corpus[4096];

        snprintf(corpus, sizeof corpus, "%s/%s", top_srcdir ? top_srcdir : ".",
                 FUZZ_CORPUS);
        ok = replay_path(corpus);
    }
    if (!n_inputs) {
        fprintf(stderr, "replay: no inputs found; run from the top of the "
                        "source tree or pass a corpus directory\n");
        ok = false;
    }
    printf("replayed %zu inputs and %zu mutations of them\n", n_inputs,
           n_mutations);
    /* 99 tells the automake test driver that the test could not run. */
    return ok ? 0 : 99;
}
