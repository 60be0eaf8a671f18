/*
 * eg_cidr: address blocks; see eg_cidr.h. inet_pton does the reading, so
 * only its canonical forms pass; the rest is byte arithmetic.
 */
#include "eg_cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* An IPv4-mapped IPv6 address becomes the IPv4 one; *prefix (may be NULL)
 * loses the 96 bits of the mapping. 0, or -1 when a prefix under 96 would
 * span more than the mapped space. */
static int fold_mapped(int *family, unsigned char addr[16], int *prefix)
{
    if (*family != AF_INET6 || memcmp(addr, v4_mapped, 12))
        return 0;
    if (prefix && *prefix < 96)
        return -1;
    memmove(addr, addr + 12, 4);
    memset(addr + 4, 0, 12);
    *family = AF_INET;
    if (prefix)
        *prefix -= 96;
    return 0;
}

int eg_cidr_parse(const char *s, size_t len, eg_cidr_t *out, char *err, size_t errlen)
{
    char buf[64], shown[80];
    while (len && blank(*s))
        s++, len--;
    while (len && blank(s[len - 1]))
        len--;
    snprintf(shown, sizeof shown, "%.*s", (int)(len < 64 ? len : 64), s);
    if (!len || len >= sizeof buf) {
        snprintf(err, errlen,
                 "\"%s\" is not an address block (CIDR such as 10.0.0.0/8 or fd00::/8)", shown);
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        out->prefix = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        out->prefix = 128;
    } else {
        snprintf(err, errlen,
                 "\"%s\" is not an address block: an IPv4 (a.b.c.d) or IPv6 address, then "
                 "optionally /prefix",
                 shown);
        return -1;
    }
    if (slash) {
        const char *p = slash + 1;
        char *end;
        long n = strtol(p, &end, 10);
        if (!*p || *end || *p < '0' || *p > '9' || n < 0 || n > out->prefix) {
            snprintf(err, errlen, "\"%s\": the prefix length must be 0 to %d", shown, out->prefix);
            return -1;
        }
        out->prefix = (int)n;
    }
    int bytes = out->family == AF_INET ? 4 : 16;
    for (int bit = out->prefix; bit < bytes * 8; bit++)
        if (out->addr[bit / 8] & (0x80 >> (bit % 8))) {
            snprintf(err, errlen, "\"%s\" has bits set past its /%d prefix", shown, out->prefix);
            return -1;
        }
    if (fold_mapped(&out->family, out->addr, &out->prefix)) {
        snprintf(err, errlen, "\"%s\": an IPv4-mapped block needs a prefix of at least /96", shown);
        return -1;
    }
    return 0;
}

int eg_cidr_parse_list(const char *s, eg_cidr_t *out, size_t max, size_t *n, char *err,
                       size_t errlen)
{
    *n = 0;
    if (!s)
        return 0;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        size_t k = 0;
        while (k < len && blank(p[k]))
            k++;
        if (k < len) { /* empty items are skipped */
            if (*n >= max) {
                snprintf(err, errlen, "more than %zu address blocks", max);
                return -1;
            }
            if (eg_cidr_parse(p, len, &out[*n], err, errlen))
                return -1;
            (*n)++;
        }
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int eg_cidr_list_valid(const char *s)
{
    eg_cidr_t tmp[EG_CIDR_MAX_LIST];
    size_t n;
    char err[160];
    return eg_cidr_parse_list(s, tmp, EG_CIDR_MAX_LIST, &n, err, sizeof err);
}

int eg_cidr_from_sockaddr(const struct sockaddr *sa, size_t len, eg_cidr_addr_t *out)
{
    memset(out, 0, sizeof *out);
    if (!sa)
        return -1;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->addr, &in->sin_addr, 4);
        out->port = ntohs(in->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        out->family = AF_INET6;
        memcpy(out->addr, &in6->sin6_addr, 16);
        out->port = ntohs(in6->sin6_port);
        return fold_mapped(&out->family, out->addr, NULL);
    }
    return -1;
}

int eg_cidr_contains(const eg_cidr_t *c, const eg_cidr_addr_t *a)
{
    if (c->family != a->family)
        return 0;
    int full = c->prefix / 8, rest = c->prefix % 8;
    if (memcmp(c->addr, a->addr, (size_t)full))
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (c->addr[full] & mask) == (a->addr[full] & mask);
}

void eg_cidr_addr_format(const eg_cidr_addr_t *a, int with_port, char out[64])
{
    char ip[INET6_ADDRSTRLEN] = "?";
    inet_ntop(a->family, a->addr, ip, sizeof ip);
    if (!with_port)
        snprintf(out, 64, "%s", ip);
    else if (a->family == AF_INET6)
        snprintf(out, 64, "[%s]:%d", ip, a->port);
    else
        snprintf(out, 64, "%s:%d", ip, a->port);
}
