/*
 * Unit tests of ingress/accesskey.c: SHA-256 against a known vector, new keys
 * (fresh secrets and ids, only the hash in the change, the change valid as a
 * configuration record), the bearer header parser, and the verdicts of
 * eg_accesskey_check / eg_accesskey_check_admin for open, keyed and
 * required spaces, the admin key, wrong and missing keys, and revocation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesskey.h"
#include "eg_configlog.h"

static void test_hash_vector(void **state)
{
    char out[EG_ACCESSKEY_HASH_LEN + 1];
    assert_int_equal(eg_accesskey_hash("abc", 3, out), 0);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(eg_accesskey_hash("", 0, out), 0);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* Creates a key in space and applies it to cfg; returns its id (caller frees)
 * and its secret in secret. */
static char *add_key(eg_config_t *cfg, const char *space, char secret[EG_ACCESSKEY_SECRET_LEN + 1])
{
    eg_change_t c;
    eg_error_t err = {0};
    assert_int_equal(eg_accesskey_new(space, &c, secret, &err), 0);
    assert_int_equal(strlen(secret), EG_ACCESSKEY_SECRET_LEN);
    assert_int_equal(c.kind, EG_KIND_ACCESSKEY);
    assert_int_equal(c.op, EG_OP_CREATE);
    assert_int_equal(strlen(c.id), EG_ACCESSKEY_ID_LEN);
    assert_int_equal(strncmp(c.id, "ak-", 3), 0);
    /* only the hash: the secret is nowhere in what is stored */
    char *rec = eg_config_record_encode(&c);
    assert_non_null(rec);
    assert_null(strstr(rec, secret));
    char hash[EG_ACCESSKEY_HASH_LEN + 1];
    assert_int_equal(eg_accesskey_hash(secret, strlen(secret), hash), 0);
    assert_non_null(strstr(rec, hash));
    /* and the record decodes as any configuration record */
    eg_config_record_t r;
    char key[128];
    snprintf(key, sizeof key, "%s/accesskeys/%s/test-1", space, c.id);
    assert_int_equal(eg_config_record_decode(key, strlen(key), rec, strlen(rec), &r, &err), 0);
    assert_string_equal(r.change.id, c.id);
    eg_config_record_release(&r);
    free(rec);
    assert_int_equal(eg_config_apply(cfg, &c, &err), 0);
    char *id = strdup(c.id);
    eg_change_release(&c);
    return id;
}

static void del_key(eg_config_t *cfg, const char *space, const char *id)
{
    eg_change_t c;
    eg_error_t err = {0};
    assert_int_equal(
        eg_change_from_request(&c, EG_OP_DELETE, EG_KIND_ACCESSKEY, space, id, NULL, 0, &err), 0);
    assert_int_equal(eg_config_apply(cfg, &c, &err), 0);
    eg_change_release(&c);
}

static void test_new_keys_differ(void **state)
{
    eg_config_t *cfg = eg_config_new();
    char s1[EG_ACCESSKEY_SECRET_LEN + 1], s2[EG_ACCESSKEY_SECRET_LEN + 1];
    char *a = add_key(cfg, "space-a", s1), *b = add_key(cfg, "space-a", s2);
    assert_string_not_equal(a, b);
    assert_string_not_equal(s1, s2);
    assert_int_equal(strspn(s1, "0123456789abcdef"), EG_ACCESSKEY_SECRET_LEN);
    /* reads of the model show the hash, never the secret */
    cJSON *list = eg_config_list(cfg, EG_KIND_ACCESSKEY, "space-a", NULL, 0);
    char *text = cJSON_PrintUnformatted(list);
    assert_null(strstr(text, s1));
    assert_null(strstr(text, s2));
    free(text);
    cJSON_Delete(list);
    free(a);
    free(b);
    eg_config_free(cfg);
}

static void test_invalid_records(void **state)
{
    static const char *const bodies[] = {
        "{\"accessKeyId\":\"ak-1\"}",
        "{\"accessKeyId\":\"ak-1\",\"hash\":\"abc\"}",
        "{\"accessKeyId\":\"a/"
        "b\",\"hash\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}",
        "{\"accessKeyId\":\"ak-1\",\"hash\":"
        "\"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\"}",
        "{\"hash\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        eg_change_t c;
        eg_error_t err = {0};
        assert_int_equal(eg_change_from_request(&c, EG_OP_CREATE, EG_KIND_ACCESSKEY, "default",
                                                NULL, bodies[i], strlen(bodies[i]), &err),
                         -1);
        assert_int_equal(err.status, 400);
    }
    /* no updates */
    eg_change_t c;
    eg_error_t err = {0};
    const char *ok = "{\"accessKeyId\":\"ak-1\",\"hash\":"
                     "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}";
    assert_int_equal(eg_change_from_request(&c, EG_OP_UPDATE, EG_KIND_ACCESSKEY, "default", "ak-1",
                                            ok, strlen(ok), &err),
                     -1);
    assert_int_equal(err.status, 400);
}

static void test_bearer(void **state)
{
    size_t n = 0;
    const char *t = eg_accesskey_bearer("bearer abc", &n);
    assert_non_null(t);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "abc", 3);
    t = eg_accesskey_bearer("  Bearer   xyz  ", &n);
    assert_non_null(t);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "xyz", 3);
    assert_non_null(eg_accesskey_bearer("BEARER k", &n));
    assert_null(eg_accesskey_bearer(NULL, &n));
    assert_null(eg_accesskey_bearer("", &n));
    assert_null(eg_accesskey_bearer("bearer", &n));
    assert_null(eg_accesskey_bearer("bearer   ", &n));
    assert_null(eg_accesskey_bearer("Basic abc", &n));
    assert_null(eg_accesskey_bearer("bearerabc", &n));
}

static void header(char *buf, size_t len, const char *scheme, const char *key)
{
    snprintf(buf, len, "%s %s", scheme, key);
}

static void test_verdicts(void **state)
{
    eg_config_t *cfg = eg_config_new();
    const char *admin = "the-admin-key";
    char s1[EG_ACCESSKEY_SECRET_LEN + 1], s2[EG_ACCESSKEY_SECRET_LEN + 1];
    char h1[128], h2[128], hadmin[64], hwrong[128];

    /* open spaces: anything goes, even a wrong key */
    assert_int_equal(eg_accesskey_check(cfg, "space-a", NULL, admin, 0), 0);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", "bearer nope", admin, 0), 0);

    char *k1 = add_key(cfg, "space-a", s1);
    char *k2 = add_key(cfg, "space-b", s2);
    header(h1, sizeof h1, "bearer", s1);
    header(h2, sizeof h2, "Bearer", s2);
    header(hadmin, sizeof hadmin, "BEARER", admin);
    snprintf(hwrong, sizeof hwrong, "bearer %.63sX", s1);

    assert_int_equal(eg_accesskey_check(cfg, "space-a", NULL, admin, 0), 401);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", "Basic Zm9vOmJhcg==", admin, 0), 401);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", h1, admin, 0), 0);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", hadmin, admin, 0), 0);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", h2, admin, 0), 403); /* other space's */
    assert_int_equal(eg_accesskey_check(cfg, "space-a", hwrong, admin, 0), 403);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", "bearer the-admin-ke", admin, 0), 403);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", hadmin, NULL, 0), 403); /* no admin key */
    assert_int_equal(eg_accesskey_check(cfg, "space-a", hadmin, "", 0), 403);
    assert_int_equal(eg_accesskey_check(cfg, "space-b", h2, admin, 0), 0);
    assert_int_equal(eg_accesskey_check(cfg, "space-c", NULL, admin, 0), 0);

    /* --require-keys: a space without keys opens to the admin key only */
    assert_int_equal(eg_accesskey_check(cfg, "space-c", NULL, admin, 1), 401);
    assert_int_equal(eg_accesskey_check(cfg, "space-c", h1, admin, 1), 403);
    assert_int_equal(eg_accesskey_check(cfg, "space-c", hadmin, admin, 1), 0);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", h1, admin, 1), 0);

    /* admin-only */
    assert_int_equal(eg_accesskey_check_admin(NULL, admin), 401);
    assert_int_equal(eg_accesskey_check_admin(h1, admin), 403);
    assert_int_equal(eg_accesskey_check_admin(hadmin, admin), 0);
    assert_int_equal(eg_accesskey_check_admin(hadmin, NULL), 403);
    assert_int_equal(eg_accesskey_is_admin(hadmin, admin), 1);
    assert_int_equal(eg_accesskey_is_admin("bearer the-admin-key2", admin), 0);

    /* revocation: the space is open again once its last key is gone */
    del_key(cfg, "space-a", k1);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", NULL, admin, 0), 0);
    assert_int_equal(eg_accesskey_check(cfg, "space-a", h1, admin, 1), 403);
    free(k1);
    free(k2);
    eg_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_vector),     cmocka_unit_test(test_new_keys_differ),
        cmocka_unit_test(test_invalid_records), cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
