/*
 * Unit tests of core/eg_cidr (address blocks) and invoker/netpolicy (where
 * the invoker may connect): strict parsing (odd spellings refused), matching
 * with IPv4-mapped addresses folded, the policy's rules in order (own ports
 * on this host always refused, the operator's lists by longest block, the
 * defaults with and without --dev), the flags' validation, and libcurl
 * itself going through the policy: the odd spellings a resolver accepts
 * (0x7f000001, 2130706433, 127.1, [::ffff:127.0.0.1]) are refused because
 * the resolved address is what is judged, and nothing connects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eg_cidr.h"
#include "eg_opts.h"
#include "netpolicy.h"

static eg_cidr_addr_t addr(const char *ip, int port)
{
    eg_cidr_addr_t a;
    struct sockaddr_storage ss = {0};
    size_t len;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
        len = sizeof *s6;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
        len = sizeof *s4;
    }
    assert_int_equal(eg_cidr_from_sockaddr((struct sockaddr *)&ss, len, &a), 0);
    return a;
}

static int in_block(const char *cidr, const char *ip)
{
    eg_cidr_t c;
    char err[160];
    assert_int_equal(eg_cidr_parse(cidr, strlen(cidr), &c, err, sizeof err), 0);
    eg_cidr_addr_t a = addr(ip, 0);
    return eg_cidr_contains(&c, &a);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    eg_cidr_t c;
    char err[160];
    const char *good[] = {"10.0.0.0/8",          " 127.0.0.1 ",     "::1",
                          "fe80::/10",           "0.0.0.0/0",       "::/0",
                          "::ffff:10.0.0.0/104", "192.168.1.128/25"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (eg_cidr_parse(good[i], strlen(good[i]), &c, err, sizeof err))
            fail_msg("%s: %s", good[i], err);
    /* a mapped block is the IPv4 block it maps */
    eg_cidr_parse("::ffff:10.0.0.0/104", 19, &c, err, sizeof err);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(c.prefix, 8);
    const char *bad[] = {"",
                         "0x7f000001",
                         "2130706433",
                         "127.1",
                         "0177.0.0.1",
                         "10.0.0.0/33",
                         "10.0.0.0/",
                         "10.0.0.0/-1",
                         "10.0.0.0/8x",
                         "::1/129",
                         "10.1.2.3/8",
                         "localhost",
                         "::ffff:0:0/95",
                         "1.2.3.4/ 8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!eg_cidr_parse(bad[i], strlen(bad[i]), &c, err, sizeof err))
            fail_msg("%s was accepted", bad[i]);
    eg_cidr_t list[4];
    size_t n;
    assert_int_equal(eg_cidr_parse_list("127.0.0.0/8, ::1/128,,", list, 4, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(eg_cidr_parse_list(NULL, list, 4, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(eg_cidr_parse_list("1.0.0.0/8,2.0.0.0/8,3.0.0.0/8,4.0.0.0/8,5.0.0.0/8", list,
                                        4, &n, err, sizeof err),
                     -1);
    assert_int_equal(eg_cidr_parse_list("10.0.0.0/8,nope", list, 4, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "nope"));
}

static void test_cidr_contains(void **state)
{
    (void)state;
    assert_true(in_block("127.0.0.0/8", "127.255.0.1"));
    assert_false(in_block("127.0.0.0/8", "128.0.0.1"));
    assert_true(in_block("169.254.0.0/16", "169.254.169.254"));
    assert_true(in_block("192.168.1.128/25", "192.168.1.200"));
    assert_false(in_block("192.168.1.128/25", "192.168.1.100"));
    assert_true(in_block("fe80::/10", "febf::1"));
    assert_false(in_block("fe80::/10", "fec0::1"));
    assert_true(in_block("0.0.0.0/0", "8.8.8.8"));
    assert_false(in_block("::/0", "8.8.8.8")); /* families differ */
    /* a mapped address is the IPv4 address it maps, either way round */
    assert_true(in_block("127.0.0.0/8", "::ffff:127.0.0.1"));
    assert_true(in_block("::ffff:127.0.0.1", "127.0.0.1"));
    eg_cidr_addr_t a = addr("::ffff:169.254.169.254", 80);
    char text[64];
    eg_cidr_addr_format(&a, 1, text);
    assert_string_equal(text, "169.254.169.254:80");
    a = addr("::1", 8080);
    eg_cidr_addr_format(&a, 1, text);
    assert_string_equal(text, "[::1]:8080");
}

/* A policy from flags, as eg-invoker (or event-gateway with dev) parses them. */
static eg_netpolicy_t *policy(int dev, const char *deny, const char *allow)
{
    eg_settings_t s;
    eg_settings_init(&s);
    s.dev = dev;
    s.events_port = 4000;
    s.config_port = 4001;
    s.status_port = 4005;
    free(s.listen);
    s.listen = strdup("0.0.0.0");
    s.function_deny_cidrs = deny ? strdup(deny) : NULL;
    s.function_allow_cidrs = allow ? strdup(allow) : NULL;
    char err[256];
    eg_netpolicy_t *p = eg_netpolicy_new(&s, err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    eg_settings_release(&s);
    return p;
}

static int refused(eg_netpolicy_t *p, const char *ip, int port, const char *needle)
{
    char why[256] = "";
    eg_cidr_addr_t a = addr(ip, port);
    int r = eg_netpolicy_check(p, &a, why, sizeof why);
    if (r && needle && !strstr(why, needle))
        fail_msg("%s:%d refused because \"%s\", not \"%s\"", ip, port, why, needle);
    return r;
}

static void test_policy_defaults(void **state)
{
    (void)state;
    eg_netpolicy_t *p = policy(0, NULL, NULL);
    assert_true(refused(p, "127.0.0.1", 8080, "loopback"));
    assert_true(refused(p, "127.1.2.3", 80, "loopback"));
    assert_true(refused(p, "::1", 8080, "loopback"));
    assert_true(refused(p, "::ffff:127.0.0.1", 8080, "loopback"));
    assert_true(refused(p, "0.0.0.0", 8080, "this host"));
    assert_true(refused(p, "::", 8080, "this host"));
    assert_true(refused(p, "169.254.169.254", 80, "link-local"));
    assert_true(refused(p, "::ffff:169.254.169.254", 80, "link-local"));
    assert_true(refused(p, "fe80::1", 80, "link-local"));
    assert_true(refused(p, "fd00:ec2::254", 80, "metadata"));
    assert_true(refused(p, "224.0.0.1", 80, "unicast"));
    assert_true(refused(p, "127.0.0.1", 4001, "Config API"));
    assert_true(refused(p, "::1", 4000, "Events API"));
    assert_true(refused(p, "0.0.0.0", 4005, "status port"));
    /* private networks are where functions often run: allowed */
    assert_false(refused(p, "10.1.2.3", 80, NULL));
    assert_false(refused(p, "172.16.0.1", 4001, NULL)); /* another host's 4001 */
    assert_false(refused(p, "192.168.0.10", 8080, NULL));
    assert_false(refused(p, "fd12::1", 80, NULL));
    assert_false(refused(p, "8.8.8.8", 443, NULL));
    eg_netpolicy_free(p);

    /* --dev: loopback is where the developer's functions run; the gateway's
     * own ports and link-local stay refused */
    p = policy(1, NULL, NULL);
    assert_false(refused(p, "127.0.0.1", 8080, NULL));
    assert_false(refused(p, "::1", 8080, NULL));
    assert_true(refused(p, "127.0.0.1", 4001, "Config API"));
    assert_true(refused(p, "::ffff:127.0.0.1", 4000, "Events API"));
    assert_true(refused(p, "169.254.169.254", 80, "link-local"));
    eg_netpolicy_free(p);
}

static void test_policy_lists(void **state)
{
    (void)state;
    eg_netpolicy_t *p = policy(0, "10.0.0.0/8,2001:db8::/32", "127.0.0.0/8,10.1.0.0/16");
    assert_false(refused(p, "127.0.0.1", 8080, NULL));        /* allowed */
    assert_true(refused(p, "::1", 8080, "loopback"));         /* not in the allow list */
    assert_true(refused(p, "127.0.0.1", 4001, "Config API")); /* own ports: always */
    assert_true(refused(p, "10.2.0.1", 80, "10.0.0.0/8 of --function-deny-cidrs"));
    assert_false(refused(p, "10.1.0.1", 80, NULL)); /* the longer block wins */
    assert_true(refused(p, "2001:db8::5", 80, "--function-deny-cidrs"));
    assert_true(refused(p, "169.254.169.254", 80, "link-local"));
    eg_netpolicy_free(p);
    /* a tie is a refusal; allow opens a default */
    p = policy(0, "192.168.0.0/16", "192.168.0.0/16,169.254.169.254/32");
    assert_true(refused(p, "192.168.1.1", 80, "deny"));
    assert_false(refused(p, "169.254.169.254", 80, NULL));
    eg_netpolicy_free(p);

    /* refusals are logged once per (space, function) */
    p = policy(0, NULL, NULL);
    assert_true(eg_netpolicy_first_refusal(p, "s", "f"));
    assert_false(eg_netpolicy_first_refusal(p, "s", "f"));
    assert_true(eg_netpolicy_first_refusal(p, "s", "g"));
    assert_true(eg_netpolicy_first_refusal(p, "t", "f"));
    eg_netpolicy_free(p);
}

static void test_flags(void **state)
{
    (void)state;
    eg_settings_t s;
    char *errbuf = NULL;
    size_t errlen = 0;
    FILE *err = open_memstream(&errbuf, &errlen);
    eg_settings_init(&s);
    char *ok[] = {"eg-invoker",
                  "--function-allow-cidrs",
                  "127.0.0.0/8,::1/128",
                  "--function-deny-cidrs=10.0.0.0/8",
                  "--max-hops",
                  "3",
                  NULL};
    assert_int_equal(eg_settings_parse(&s, EG_ROLE_INVOKER, 6, ok, NULL, err), 0);
    assert_string_equal(s.function_allow_cidrs, "127.0.0.0/8,::1/128");
    assert_string_equal(s.function_deny_cidrs, "10.0.0.0/8");
    assert_int_equal(s.max_hops, 3);
    eg_settings_release(&s);
    eg_settings_init(&s);
    assert_int_equal(s.max_hops, 8);
    char *bad[] = {"eg-invoker", "--function-allow-cidrs", "0x7f000001", NULL};
    assert_int_equal(eg_settings_parse(&s, EG_ROLE_INVOKER, 3, bad, NULL, err), 2);
    eg_settings_release(&s);
    eg_settings_init(&s);
    /* the ingress takes neither list, but --max-hops and --require-publish-keys */
    char *ing[] = {"eg-ingress", "--function-allow-cidrs", "127.0.0.0/8", NULL};
    assert_int_equal(eg_settings_parse(&s, EG_ROLE_INGRESS, 3, ing, NULL, err), 2);
    eg_settings_release(&s);
    eg_settings_init(&s);
    char *ing2[] = {"eg-ingress", "--require-publish-keys", "--max-hops", "2", NULL};
    assert_int_equal(eg_settings_parse(&s, EG_ROLE_INGRESS, 4, ing2, NULL, err), 0);
    assert_int_equal(s.require_publish_keys, 1);
    assert_int_equal(s.max_hops, 2);
    eg_settings_release(&s);
    fclose(err);
    assert_non_null(strstr(errbuf, "--function-allow-cidrs"));
    free(errbuf);
}

/* libcurl through the guard: nothing listens on the port, so a connection
 * that was opened fails with "connection refused" by the kernel, while one
 * the policy refused never gets a socket (guard.refused). */
static int curl_refused(eg_netpolicy_t *p, const char *url, char *why, size_t whylen)
{
    CURL *e = curl_easy_init();
    assert_non_null(e);
    eg_netpolicy_guard_t g;
    eg_netpolicy_guard(p, &g, e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no proxy from the environment */
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    assert_int_not_equal(rc, CURLE_OK);
    snprintf(why, whylen, "%s", g.why);
    return g.refused > 0;
}

static void test_curl_odd_spellings(void **state)
{
    (void)state;
    /* a port nothing listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    int port = ntohs(sa.sin_port);
    close(fd);

    eg_netpolicy_t *p = policy(0, NULL, NULL);
    const char *hosts[] = {
        "127.0.0.1",          "0x7f000001", "2130706433", "127.1",   "0177.0.0.1",
        "[::ffff:127.0.0.1]", "[::1]",      "localhost",  "0.0.0.0", "[::]"};
    char url[128], why[256];
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) {
        snprintf(url, sizeof url, "http://%s:%d/", hosts[i], port);
        if (!curl_refused(p, url, why, sizeof why))
            fail_msg("%s was not refused by the policy", url);
        if (!strstr(why, "loopback") && !strstr(why, "this host"))
            fail_msg("%s: %s", url, why);
    }
    snprintf(url, sizeof url, "http://169.254.169.254:%d/latest/meta-data/", port);
    assert_true(curl_refused(p, url, why, sizeof why));
    assert_non_null(strstr(why, "link-local"));
    eg_netpolicy_free(p);

    /* allowed: libcurl connects (and the kernel refuses: nothing listens) */
    p = policy(0, NULL, "127.0.0.0/8,::1/128");
    snprintf(url, sizeof url, "http://0x7f000001:%d/", port);
    assert_false(curl_refused(p, url, why, sizeof why));
    eg_netpolicy_free(p);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse),      cmocka_unit_test(test_cidr_contains),
        cmocka_unit_test(test_policy_defaults), cmocka_unit_test(test_policy_lists),
        cmocka_unit_test(test_flags),           cmocka_unit_test(test_curl_odd_spellings),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
