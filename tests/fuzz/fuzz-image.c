/* Fuzz target for controller/image-format.h: the first bytes of an image
 * an operator uploads, as the controller reads them to tell its format.
 *
 * Besides staying in bounds (replay.c's guard page, or the sanitizers),
 * image_format_detect() must judge the bytes as the contract says: an
 * image it takes is qcow2 only if it starts with the qcow2 magic and has a
 * virtual size, and raw only if it does not and is whole sectors, its
 * virtual size its length; what it refuses, it says why.  The same bytes
 * as the start of a longer image must not change a qcow2 verdict, since
 * the header is all that is read. */

#include "tests/fuzz/fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "controller/image-format.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t have = size < IMAGE_FORMAT_HEAD ? size : IMAGE_FORMAT_HEAD;
    struct image_format info = {NULL, 0}, longer = {NULL, 0};
    bool qcow2_magic = size >= 4 && !memcmp(data, "QFI\xfb", 4);
    char *problem, *again;

    problem = image_format_detect(data, have, size, &info);
    if (problem) {
        CHECK(*problem);
        free(problem);
    } else if (!strcmp(info.format, "qcow2")) {
        CHECK(qcow2_magic);
        CHECK(info.virtual_size > 0 && info.virtual_size <= INT64_MAX);
    } else {
        CHECK(!strcmp(info.format, "raw"));
        CHECK(!qcow2_magic);
        CHECK(size > 0 && size % 512 == 0 && info.virtual_size == size);
    }

    /* A qcow2 header says the same at the start of a larger file. */
    again = image_format_detect(data, have, (uint64_t) size + 1024 * 1024,
                                &longer);
    if (!problem && !strcmp(info.format, "qcow2")) {
        CHECK(!again && !strcmp(longer.format, "qcow2"));
        CHECK(longer.virtual_size == info.virtual_size);
    }
    free(again);
    return 0;
}
