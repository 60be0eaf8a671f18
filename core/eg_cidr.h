/*
 * eg_cidr: IPv4 and IPv6 address blocks (CIDR notation), parsed from the
 * operator's flags and matched against the addresses the invoker is about
 * to connect to (invoker/netpolicy.c).
 *
 * Rules of this module:
 *  - Text is strict: inet_pton's forms only ("10.0.0.0/8", "fd00::/8",
 *    "::ffff:10.0.0.1/128"), a bare address is one host (/32, /128). Odd
 *    spellings a resolver would take (0x7f000001, 2130706433, 127.1, 0177.0.0.1)
 *    are refused here: a policy that says what it means is one that matches
 *    what it says. Host bits set past the prefix ("10.1.2.3/8") are refused.
 *  - An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address it
 *    maps, wherever it comes from (a flag or a socket address): a connection
 *    to it reaches that IPv4 host.
 *  - Values live in caller storage; nothing allocates; thread safe.
 */
#ifndef EG_CIDR_H
#define EG_CIDR_H

#include <stddef.h>
#include <sys/socket.h>

#define EG_CIDR_MAX_LIST 256 /* blocks in one list */

typedef struct eg_cidr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network order; 4 bytes used for AF_INET */
    int prefix;             /* 0..32 or 0..128 */
} eg_cidr_t;

/* One address (family and bytes, mapped IPv6 folded to IPv4) with a port. */
typedef struct eg_cidr_addr {
    int family;
    unsigned char addr[16];
    int port; /* host order; 0 when the socket address has none */
} eg_cidr_addr_t;

/* Parses one block from len bytes of s (surrounding blanks allowed). 0, or
 * -1 with the reason in err. */
int eg_cidr_parse(const char *s, size_t len, eg_cidr_t *out, char *err, size_t errlen);

/* Parses a comma-separated list (NULL or blank: none) into out[max]; *n gets
 * the count. 0, or -1 with the reason (naming the item) in err. */
int eg_cidr_parse_list(const char *s, eg_cidr_t *out, size_t max, size_t *n, char *err,
                       size_t errlen);

/* 0 when s is a valid list (for the settings table), else -1. */
int eg_cidr_list_valid(const char *s);

/* Reads a socket address. 0, or -1 when it is neither AF_INET nor AF_INET6
 * (or too short). */
int eg_cidr_from_sockaddr(const struct sockaddr *sa, size_t len, eg_cidr_addr_t *out);

/* 1 when the block holds the address (families must agree), else 0. */
int eg_cidr_contains(const eg_cidr_t *c, const eg_cidr_addr_t *a);

/* The address as text (inet_ntop, "[v6]:port" / "v4:port" with a port), at
 * most 64 bytes with the NUL. */
void eg_cidr_addr_format(const eg_cidr_addr_t *a, int with_port, char out[64]);

#endif
