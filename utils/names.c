/* The rules for the names fabric gives things. */
#include "utils/names.h"

#include <string.h>

bool
names_object_is_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > NAMES_OBJECT_MAX
        || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != len) {
        return false;
    }
    return s[0] != '-' && s[len - 1] != '-';
}

bool
names_device_is_valid(const char *s)
{
    size_t len = strlen(s);

    return len > 0 && len <= NAMES_DEVICE_MAX && strcmp(s, ".")
           && strcmp(s, "..") && !strpbrk(s, "/: \t\n\v\f\r");
}
