/* The entry point of a libFuzzer target.  libFuzzer calls it when the target
 * is built with -fsanitize=fuzzer (tests/fuzz/run-fuzz.sh); replay.c calls
 * it in "make check". */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H 1

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Aborts with a message naming 'COND' unless it holds: how a target says
 * that the code under test broke a promise. */
#define CHECK(COND)                                                           \
    do {                                                                      \
        if (!(COND)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                    #COND);                                                   \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* Runs the target on the 'size' bytes at 'data' and returns 0.  Aborts when
 * the code under test misbehaves. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* tests/fuzz/fuzz.h */
