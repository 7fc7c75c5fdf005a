/* What an image's bytes are. */
#include "controller/image-format.h"

#include <inttypes.h>
#include <string.h>

#include "utils/util.h"

/* qcow2 (docs/interop/qcow2.txt in QEMU): big-endian header fields. */
#define IMAGE_QCOW2_MAGIC 0x514649fbu /* "QFI\xfb". */
#define IMAGE_QCOW2_V2_HEADER 72      /* Header length of version 2. */
#define IMAGE_QCOW2_V3_HEADER                                                 \
    104                                  /* Smallest header length of         \
                                          * version 3. */
#define IMAGE_QCOW2_INCOMPAT_DIRTY 1     /* Refcounts may be stale. */
#define IMAGE_QCOW2_INCOMPAT_CORRUPT 2   /* Marked corrupt by QEMU. */
#define IMAGE_QCOW2_INCOMPAT_DATA_FILE 4 /* Data in an external file. */

/* Reads a big-endian integer of 'n' bytes at 'p'. */
static uint64_t
get_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

char *
image_format_detect(const uint8_t *head, size_t have, uint64_t len,
                    struct image_format *info)
{
    static const struct {
        const char *name;  /* Format. */
        size_t offset;     /* Of its magic. */
        const char *magic; /* Its magic bytes. */
        size_t len;        /* Their number. */
    } others[] = {
        {"vmdk", 0, "KDMV", 4},
        {"vmdk", 0, "# Disk DescriptorFile", 21},
        {"vhdx", 0, "vhdxfile", 8},
        {"vpc (vhd)", 0, "conectix", 8},
        {"qed", 0, "QED\0", 4},
        {"luks", 0, "LUKS\xba\xbe", 6},
        {"vdi", 64, "\x7f\x10\xda\xbe", 4},
    };

    if (len == 0) {
        return xasprintf("the file is empty (send the image's bytes as "
                         "the body, application/octet-stream)");
    }
    if (have >= 4 && get_be(head, 4) == IMAGE_QCOW2_MAGIC) {
        uint64_t version = have >= 8 ? get_be(head + 4, 4) : 0;
        uint64_t header_len = version == 2  ? IMAGE_QCOW2_V2_HEADER
                              : have >= 104 ? get_be(head + 100, 4)
                                            : 0;
        uint64_t cluster_bits, incompat;

        if ((version != 2 && version != 3) || have < IMAGE_QCOW2_V2_HEADER
            || header_len < (version == 2 ? IMAGE_QCOW2_V2_HEADER
                                          : IMAGE_QCOW2_V3_HEADER)
            || header_len > len) {
            return xasprintf("the file starts with the qcow2 magic but "
                             "its header is not a qcow2 version 2 or 3 "
                             "header (check it with \"qemu-img check\")");
        }
        cluster_bits = get_be(head + 20, 4);
        incompat = version == 3 ? get_be(head + 72, 8) : 0;
        if (cluster_bits < 9 || cluster_bits > 21) {
            return xasprintf("qcow2 cluster_bits %" PRIu64
                             " is not 9..21: the header is damaged",
                             cluster_bits);
        }
        if (get_be(head + 8, 8) != 0) {
            return xasprintf("the qcow2 image has a backing file; upload "
                             "one that stands alone (qemu-img convert -O "
                             "qcow2 IN OUT)");
        }
        if (get_be(head + 32, 4) != 0) {
            return xasprintf("the qcow2 image is encrypted; upload an "
                             "unencrypted one");
        }
        if (incompat & IMAGE_QCOW2_INCOMPAT_DATA_FILE) {
            return xasprintf("the qcow2 image keeps its data in an "
                             "external file; upload one that stands alone "
                             "(qemu-img convert -O qcow2 IN OUT)");
        }
        if (incompat
                & (IMAGE_QCOW2_INCOMPAT_DIRTY | IMAGE_QCOW2_INCOMPAT_CORRUPT)
            || incompat >> 5) {
            return xasprintf("the qcow2 image is marked dirty or "
                             "corrupt, or needs features this controller "
                             "does not know (incompatible features %#" PRIx64
                             "); repair it with \"qemu-img check -r all\"",
                             incompat);
        }
        info->format = "qcow2";
        info->virtual_size = get_be(head + 24, 8);
        if (info->virtual_size == 0 || info->virtual_size > INT64_MAX) {
            return xasprintf("the qcow2 image's virtual size %" PRIu64
                             " is not a disk's",
                             info->virtual_size);
        }
        return NULL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
        if (have >= others[i].offset + others[i].len
            && !memcmp(head + others[i].offset, others[i].magic,
                       others[i].len)) {
            return xasprintf("the file is a %s image, not qcow2 or raw; "
                             "convert it with \"qemu-img convert -O qcow2 IN "
                             "OUT\"",
                             others[i].name);
        }
    }
    if (len % 512) {
        return xasprintf("%" PRIu64 " bytes is no raw disk image (not a "
                         "whole number of 512-byte sectors) and the file "
                         "has no qcow2 header",
                         len);
    }
    info->format = "raw";
    info->virtual_size = len;
    return NULL;
}
