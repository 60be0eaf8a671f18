/*
 * netpolicy: where the invoker may connect when it calls a function (http,
 * awslambda, authorizers, sync calls alike): the guard against a function
 * URL that names the gateway itself, the cloud's metadata service or
 * another internal address (server-side request forgery).
 *
 * The check runs on the RESOLVED address of every connection libcurl opens
 * (CURLOPT_OPENSOCKETFUNCTION, after name resolution, before connect), so a
 * name whose DNS answer changes after the function was configured, or an
 * odd spelling of an address (0x7f000001, 2130706433, 127.1,
 * [::ffff:127.0.0.1]), is judged by what it really reaches. A refused
 * address is never connected to; libcurl tries the name's other addresses,
 * and when none is allowed the attempt fails like an unreachable function
 * (retried, then dead-lettered with the reason).
 *
 * Verdict on an address (first rule that applies):
 *  1. this host (loopback, 0.0.0.0/8, ::, --listen, any interface address)
 *     on one of the gateway's own ports (--events-port, --config-port,
 *     --status-port as this process's settings say): refused, always;
 *  2. --function-deny-cidrs and --function-allow-cidrs: the longest block
 *     of either list that holds the address decides (deny on a tie);
 *  3. defaults: loopback, 0.0.0.0/8 and :: refused unless --dev; link-local
 *     (169.254.0.0/16, fe80::/10) and the cloud metadata addresses
 *     (fd00:ec2::254, 100.100.100.200) refused; multicast and broadcast
 *     refused; everything else, private ranges included, allowed.
 *
 * Thread safety: one policy serves every engine of the role; the check reads
 * constant rules and a cache of the interface addresses (refreshed at most
 * every few seconds under a mutex). The guard is per call, owned by the
 * caller.
 */
#ifndef EG_NETPOLICY_H
#define EG_NETPOLICY_H

#include <stddef.h>
#include <curl/curl.h>

#include "eg_cidr.h"
#include "eg_opts.h"

typedef struct eg_netpolicy eg_netpolicy_t;

/* The policy of the settings (lists parsed, defaults for s->dev). NULL with
 * a message in err when a list is invalid or out of memory. */
eg_netpolicy_t *eg_netpolicy_new(const eg_settings_t *s, char *err, size_t errlen);
void eg_netpolicy_free(eg_netpolicy_t *p);

/* 0 when a connection to a may be opened; 1 when it is refused, with the
 * reason in why (names the address and the rule). */
int eg_netpolicy_check(eg_netpolicy_t *p, const eg_cidr_addr_t *a, char *why, size_t whylen);

/* 1 the first time a refusal is reported for (space, function) since the
 * process started (the log line is written once), else 0. Bounded: past
 * 10,000 pairs it starts over. */
int eg_netpolicy_first_refusal(eg_netpolicy_t *p, const char *space, const char *function);

/* One call's guard: the policy to apply and what it refused. Caller storage;
 * eg_netpolicy_guard sets it up for one attempt. */
typedef struct eg_netpolicy_guard {
    eg_netpolicy_t *policy;
    int refused;   /* connections refused during the attempt */
    char why[256]; /* the last refusal's reason */
} eg_netpolicy_guard_t;

/* Resets g and makes every connection of easy go through the policy. */
void eg_netpolicy_guard(eg_netpolicy_t *p, eg_netpolicy_guard_t *g, CURL *easy);

#endif
