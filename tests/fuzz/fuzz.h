/* The entry point of a libFuzzer target.  libFuzzer calls it when the target
 * is built with -fsanitize=fuzzer (tests/fuzz/run-fuzz.sh); replay.c calls
 * it in "make check". */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H 1

#include <stddef.h>
#include <stdint.h>

/* Runs the target on the 'size' bytes at 'data' and returns 0.  Aborts when
 * the code under test misbehaves. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* tests/fuzz/fuzz.h */
