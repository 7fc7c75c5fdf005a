/* Parsing and printing of MAC and IP addresses as operators write them. */
#ifndef UTILS_ADDR_H
#define UTILS_ADDR_H 1

#include <stdbool.h>
#include <stdint.h>

#define ADDR_MAC_STRLEN 18 /* "xx:xx:xx:xx:xx:xx" and NUL. */

/* Parses "02:00:00:aa:bb:cc" (colons or dashes).  Returns true on success. */
bool addr_parse_mac(const char *, uint8_t mac[6]);

/* Returns the value of hexadecimal digit 'c' (either case), or -1. */
int addr_hex_digit(char c);
void addr_format_mac(const uint8_t mac[6], char buf[ADDR_MAC_STRLEN]);
bool addr_mac_is_zero(const uint8_t mac[6]);

/* Parses a dotted-quad IPv4 address into network byte order. */
bool addr_parse_ipv4(const char *, uint32_t *be_addr);
/* Parses "a.b.c.d/len"; the address part is returned in network order. */
bool addr_parse_ipv4_cidr(const char *, uint32_t *be_addr, int *prefix_len);
bool addr_parse_ipv6(const char *, uint8_t addr[16]);

#endif /* utils/addr.h */
