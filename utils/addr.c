#include "utils/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
addr_hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool
addr_parse_mac(const char *s, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        int hi, lo;

        if (i > 0) {
            if (*s != ':' && *s != '-') {
                return false;
            }
            s++;
        }
        hi = addr_hex_digit(s[0]);
        /* A string that ends at s[0] must not be read past its NUL. */
        lo = hi < 0 ? -1 : addr_hex_digit(s[1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        mac[i] = hi << 4 | lo;
        s += 2;
    }
    return *s == '\0';
}

void
addr_format_mac(const uint8_t mac[6], char buf[ADDR_MAC_STRLEN])
{
    snprintf(buf, ADDR_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
             mac[1], mac[2], mac[3], mac[4], mac[5]);
}

bool
addr_mac_is_zero(const uint8_t mac[6])
{
    static const uint8_t zero[6];

    return !memcmp(mac, zero, 6);
}

bool
addr_parse_ipv4(const char *s, uint32_t *be_addr)
{
    struct in_addr a;

    if (inet_pton(AF_INET, s, &a) != 1) {
        return false;
    }
    *be_addr = a.s_addr;
    return true;
}

bool
addr_parse_ipv4_cidr(const char *s, uint32_t *be_addr, int *prefix_len)
{
    const char *slash = strchr(s, '/');
    char buf[INET_ADDRSTRLEN];
    char *end;
    long len;

    if (slash == NULL || slash - s >= (long) sizeof buf) {
        return false;
    }
    memcpy(buf, s, slash - s);
    buf[slash - s] = '\0';
    if (!addr_parse_ipv4(buf, be_addr) || slash[1] == '\0') {
        return false;
    }
    len = strtol(slash + 1, &end, 10);
    if (*end != '\0' || len < 0 || len > 32) {
        return false;
    }
    *prefix_len = len;
    return true;
}

bool
addr_parse_ipv6(const char *s, uint8_t addr[16])
{
    return inet_pton(AF_INET6, s, addr) == 1;
}
