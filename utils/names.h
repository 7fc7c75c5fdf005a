/* The rules for the names fabric gives things, shared by the controller,
 * which checks them on input, and the agent, which checks its own
 * configuration against them. */
#ifndef UTILS_NAMES_H
#define UTILS_NAMES_H 1

#include <stdbool.h>

#define NAMES_OBJECT_MAX 63 /* Longest object name. */
#define NAMES_DEVICE_MAX 15 /* Longest device name (IFNAMSIZ - 1). */

/* Whether 's' can name a fabric object (a network, port, host or token):
 * 1 to NAMES_OBJECT_MAX characters of a-z, 0-9 and "-", starting and
 * ending with a letter or digit. */
bool names_object_is_valid(const char *s);

/* Whether 's' can name a Linux network device, by Linux's own rule
 * (dev_valid_name()): 1 to NAMES_DEVICE_MAX characters, no "/", ":" or
 * white space, not "." or "..". */
bool names_device_is_valid(const char *s);

#endif /* utils/names.h */
