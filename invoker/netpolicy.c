/*
 * netpolicy: the invoker's outbound address policy; see netpolicy.h for the
 * rules. The libcurl callback opens the socket itself (as libcurl would)
 * once the address passed, so nothing connects to a refused one.
 */
#include "netpolicy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "eg_alloc.h"
#include "eg_map.h"
#include "eg_time.h"

#define MAX_LOCAL 256         /* interface addresses remembered */
#define LOCAL_REFRESH_MS 5000 /* interface addresses read again after this */
#define MAX_LOGGED 10000      /* (space, function) pairs whose refusal was logged */

typedef struct rule {
    eg_cidr_t block;
    const char *why; /* static: the reason of a refusal */
} rule_t;

struct eg_netpolicy {
    eg_cidr_t deny[EG_CIDR_MAX_LIST], allow[EG_CIDR_MAX_LIST];
    size_t ndeny, nallow;
    int dev;
    struct {
        int port;
        const char *what;
    } own[3];
    size_t nown;
    eg_cidr_addr_t listen; /* --listen when it is one address, else family 0 */
    pthread_mutex_t mu;    /* local[] and logged */
    eg_cidr_addr_t local[MAX_LOCAL];
    size_t nlocal;
    int64_t local_read_ms; /* monotonic, 0: never */
    eg_map_t *logged;
};

/* ---- defaults ---- */

#define LOOPBACK_WHY "loopback (this host: --function-allow-cidrs 127.0.0.0/8,::1/128 allows it)"
#define THIS_HOST_WHY "an address of this host (0.0.0.0/8 and :: reach it)"
#define LINK_LOCAL_WHY                                                                             \
    "link-local (where cloud metadata services answer; --function-allow-cidrs can open it)"
#define METADATA_WHY "a cloud metadata service address"
#define MULTICAST_WHY "not a unicast address"

static const struct {
    const char *cidr;
    const char *why;
    int dev_allows;
} defaults[] = {
    {"127.0.0.0/8", LOOPBACK_WHY, 1},       {"::1/128", LOOPBACK_WHY, 1},
    {"0.0.0.0/8", THIS_HOST_WHY, 1},        {"::/128", THIS_HOST_WHY, 1},
    {"169.254.0.0/16", LINK_LOCAL_WHY, 0},  {"fe80::/10", LINK_LOCAL_WHY, 0},
    {"fd00:ec2::254/128", METADATA_WHY, 0}, {"100.100.100.200/32", METADATA_WHY, 0},
    {"224.0.0.0/4", MULTICAST_WHY, 0},      {"255.255.255.255/32", MULTICAST_WHY, 0},
    {"ff00::/8", MULTICAST_WHY, 0},
};
#define NDEFAULTS (sizeof defaults / sizeof defaults[0])

static eg_cidr_t default_blocks[NDEFAULTS];
static pthread_once_t defaults_once = PTHREAD_ONCE_INIT;

static void defaults_parse(void)
{
    char err[160];
    for (size_t i = 0; i < NDEFAULTS; i++)
        eg_cidr_parse(defaults[i].cidr, strlen(defaults[i].cidr), &default_blocks[i], err,
                      sizeof err);
}

/* ---- this host ---- */

static int is_local_class(const eg_cidr_addr_t *a)
{
    for (size_t i = 0; i < 4; i++) /* loopback and "this host" */
        if (eg_cidr_contains(&default_blocks[i], a))
            return 1;
    return 0;
}

static int same_addr(const eg_cidr_addr_t *x, const eg_cidr_addr_t *y)
{
    return x->family == y->family && !memcmp(x->addr, y->addr, x->family == AF_INET ? 4 : 16);
}

/* Reads the interface addresses again when the cache is old (mu held). */
static void local_refresh(eg_netpolicy_t *p)
{
    int64_t now = eg_time_mono_ms();
    if (p->local_read_ms && now - p->local_read_ms < LOCAL_REFRESH_MS)
        return;
    p->local_read_ms = now;
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs))
        return; /* the last list stays */
    p->nlocal = 0;
    for (struct ifaddrs *i = ifs; i && p->nlocal < MAX_LOCAL; i = i->ifa_next) {
        if (!i->ifa_addr)
            continue;
        size_t len = i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                       : sizeof(struct sockaddr_in6);
        if (eg_cidr_from_sockaddr(i->ifa_addr, len, &p->local[p->nlocal]) == 0)
            p->nlocal++;
    }
    freeifaddrs(ifs);
}

static int is_this_host(eg_netpolicy_t *p, const eg_cidr_addr_t *a)
{
    if (is_local_class(a) || (p->listen.family && same_addr(&p->listen, a)))
        return 1;
    int found = 0;
    pthread_mutex_lock(&p->mu);
    local_refresh(p);
    for (size_t i = 0; i < p->nlocal && !found; i++)
        found = same_addr(&p->local[i], a);
    pthread_mutex_unlock(&p->mu);
    return found;
}

/* ---- the verdict ---- */

/* The longest block of list holding a, or -1. */
static int longest(const eg_cidr_t *list, size_t n, const eg_cidr_addr_t *a, size_t *at)
{
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (list[i].prefix > best && eg_cidr_contains(&list[i], a)) {
            best = list[i].prefix;
            *at = i;
        }
    return best;
}

static void block_text(const eg_cidr_t *c, char out[80])
{
    char ip[INET6_ADDRSTRLEN] = "?";
    inet_ntop(c->family, c->addr, ip, sizeof ip);
    snprintf(out, 80, "%s/%d", ip, c->prefix);
}

int eg_netpolicy_check(eg_netpolicy_t *p, const eg_cidr_addr_t *a, char *why, size_t whylen)
{
    char at[64], blk[80];
    eg_cidr_addr_format(a, 1, at);
    for (size_t i = 0; i < p->nown; i++)
        if (a->port == p->own[i].port && is_this_host(p, a)) {
            snprintf(why, whylen, "%s is the gateway's own %s (this host, port %d)", at,
                     p->own[i].what, a->port);
            return 1;
        }
    size_t di = 0, ai = 0;
    int d = longest(p->deny, p->ndeny, a, &di), al = longest(p->allow, p->nallow, a, &ai);
    if (d >= 0 && d >= al) {
        block_text(&p->deny[di], blk);
        snprintf(why, whylen, "%s is in %s of --function-deny-cidrs", at, blk);
        return 1;
    }
    if (al >= 0)
        return 0;
    for (size_t i = 0; i < NDEFAULTS; i++)
        if (eg_cidr_contains(&default_blocks[i], a)) {
            if (defaults[i].dev_allows && p->dev)
                return 0;
            snprintf(why, whylen, "%s is %s", at, defaults[i].why);
            return 1;
        }
    return 0;
}

int eg_netpolicy_first_refusal(eg_netpolicy_t *p, const char *space, const char *function)
{
    char key[600];
    snprintf(key, sizeof key, "%s\n%s", space ? space : "", function ? function : "");
    pthread_mutex_lock(&p->mu);
    int first = !eg_map_get(p->logged, key);
    if (first) {
        if (eg_map_size(p->logged) >= MAX_LOGGED) {
            eg_map_iter_t it;
            const char *k;
            void *v;
            eg_map_iter_init(&it, p->logged);
            while (eg_map_iter_next(&it, &k, &v))
                eg_map_del(p->logged, k);
        }
        eg_map_put(p->logged, key, (void *)1, NULL);
    }
    pthread_mutex_unlock(&p->mu);
    return first;
}

/* ---- libcurl ---- */

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *sa)
{
    eg_netpolicy_guard_t *g = clientp;
    eg_cidr_addr_t a;
    (void)purpose; /* every connection: to the function, or to a proxy */
    if (eg_cidr_from_sockaddr(&sa->addr, sa->addrlen, &a) == 0) {
        if (eg_netpolicy_check(g->policy, &a, g->why, sizeof g->why)) {
            g->refused++;
            return CURL_SOCKET_BAD;
        }
    } else { /* the engine speaks TCP over IP only */
        snprintf(g->why, sizeof g->why, "an address of family %d (not IP)", sa->family);
        g->refused++;
        return CURL_SOCKET_BAD;
    }
    return socket(sa->family, sa->socktype | SOCK_CLOEXEC, sa->protocol);
}

void eg_netpolicy_guard(eg_netpolicy_t *p, eg_netpolicy_guard_t *g, CURL *easy)
{
    g->policy = p;
    g->refused = 0;
    g->why[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, g);
}

/* ---- life ---- */

eg_netpolicy_t *eg_netpolicy_new(const eg_settings_t *s, char *err, size_t errlen)
{
    pthread_once(&defaults_once, defaults_parse);
    eg_netpolicy_t *p = eg_xcalloc(1, sizeof *p);
    char e[200];
    p->logged = eg_map_new();
    pthread_mutex_init(&p->mu, NULL);
    p->dev = s->dev;
    if (eg_cidr_parse_list(s->function_deny_cidrs, p->deny, EG_CIDR_MAX_LIST, &p->ndeny, e,
                           sizeof e)) {
        snprintf(err, errlen, "--function-deny-cidrs: %s", e);
        eg_netpolicy_free(p);
        return NULL;
    }
    if (eg_cidr_parse_list(s->function_allow_cidrs, p->allow, EG_CIDR_MAX_LIST, &p->nallow, e,
                           sizeof e)) {
        snprintf(err, errlen, "--function-allow-cidrs: %s", e);
        eg_netpolicy_free(p);
        return NULL;
    }
    const struct {
        int port;
        const char *what;
    } own[] = {{s->events_port, "Events API"},
               {s->config_port, "Config API"},
               {s->status_port, "status port"}};
    for (size_t i = 0; i < 3; i++)
        if (own[i].port > 0) {
            p->own[p->nown].port = own[i].port;
            p->own[p->nown].what = own[i].what;
            p->nown++;
        }
    eg_cidr_t l;
    if (s->listen && eg_cidr_parse(s->listen, strlen(s->listen), &l, e, sizeof e) == 0) {
        p->listen.family = l.family;
        memcpy(p->listen.addr, l.addr, sizeof l.addr);
    }
    return p;
}

void eg_netpolicy_free(eg_netpolicy_t *p)
{
    if (!p)
        return;
    eg_map_free(p->logged);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
