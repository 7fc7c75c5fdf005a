/* What an image's bytes are: the part of the image store
 * (controller/api-images.c) that reads the bytes an operator uploads,
 * apart so that it can be fuzzed (tests/fuzz/fuzz-image.c).
 *
 * An image is a qcow2 file that stands alone (QEMU's docs/interop/
 * qcow2.txt, versions 2 and 3) or raw bytes in whole 512-byte sectors.
 * A qcow2 file that names a backing file or keeps its data in an external
 * file is refused: a disk made on it would read a file of the uploader's
 * choice on every host.  So are encrypted, dirty and corrupt ones, and
 * those that need features this code does not know.  The other formats
 * qemu-img knows by their magic are refused too: taken as raw, their bytes
 * would boot nothing. */
#ifndef CONTROLLER_IMAGE_FORMAT_H
#define CONTROLLER_IMAGE_FORMAT_H 1

#include <stddef.h>
#include <stdint.h>

/* How many of an image's first bytes tell its format: the qcow2 header,
 * and the places where other formats put their magic. */
#define IMAGE_FORMAT_HEAD 512

/* What an image's bytes are. */
struct image_format {
    const char *format;    /* "qcow2" or "raw". */
    uint64_t virtual_size; /* Bytes the guest sees. */
};

/* Tells the format of an image of 'len' bytes whose first 'have' bytes
 * (all of them, or at least IMAGE_FORMAT_HEAD) are at 'head', into
 * 'info'.  Returns NULL, or what is wrong with the bytes as one sentence
 * for people (the caller frees it). */
char *image_format_detect(const uint8_t *head, size_t have, uint64_t len,
                          struct image_format *info);

#endif /* controller/image-format.h */
