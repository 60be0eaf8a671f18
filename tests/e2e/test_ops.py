"""Operability end to end (CONTRACT section 8, issue 7): access keys on the
Config API, GET /metrics in the Prometheus text format, and JSON logs.

TestAccessKeys shares one `event-gateway --dev` started with an admin key
(from EG_ADMIN_KEY, as a deployment would pass it) and one `eg-ingress
--require-keys` on the same embedded Kafka; every test works in spaces of
its own.
"""

import itertools
import json
import re
import time
import unittest

from egtest import GatewayTestCase, configure, kcat_consume, send_ce10, ce10, wait_until

ADMIN_KEY = "admin-0123456789-secret"
_counter = itertools.count(1)


def bearer(key, scheme="bearer"):
    return {"Authorization": "%s %s" % (scheme, key)}


class TestAccessKeys(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="keys", env={"EG_ADMIN_KEY": ADMIN_KEY})
        cls.strict = cls.start_class_gateway("eg-ingress", brokers=cls.gw.brokers, name="strict",
                                             extra_args=["--require-keys"],
                                             env={"EG_ADMIN_KEY": ADMIN_KEY})

    def setUp(self):
        self.sp = "k%03d-%s" % (next(_counter), self._testMethodName[5:30].replace("_", "-"))

    def create_key(self, space, gw=None):
        r = (gw or self.gw).request("POST", "/v1/spaces/%s/accesskeys" % space, headers=bearer(ADMIN_KEY))
        self.assertStatus(r, 201, "creating an access key")
        self.assertJSONResponse(r)
        self.assertRegex(r.body.get("accessKeyId", ""), r"^[A-Za-z0-9._-]+$")
        self.assertGreaterEqual(len(r.body.get("accessKey", "")), 32)
        return r.body["accessKeyId"], r.body["accessKey"]

    def test_create_needs_the_admin_key(self):
        path = "/v1/spaces/%s/accesskeys" % self.sp
        self.assertError(self.gw.request("POST", path), 401, "admin key")
        self.assertError(self.gw.request("POST", path, headers=bearer("not-the-admin-key")), 403)
        # a key of the space is not the admin key
        _, secret = self.create_key(self.sp)
        self.assertError(self.gw.request("POST", path, headers=bearer(secret)), 403)
        self.assertError(self.gw.request("PUT", path + "/x", body={}, headers=bearer(ADMIN_KEY)), 405)

    def test_keyed_space_needs_a_key(self):
        other = self.sp + "-other"
        configure(self.gw, self.sp, eventtypes=["user.created"])
        configure(self.gw, other, eventtypes=["user.created"])
        key_id, secret = self.create_key(self.sp)
        path = "/v1/spaces/%s/eventtypes" % self.sp
        self.assertError(self.gw.request("GET", path), 401, "access key")
        self.assertError(self.gw.request("GET", path, headers=bearer("wrong")), 403)
        self.assertError(self.gw.request("GET", path, headers=bearer(secret[:-1])), 403)
        self.assertError(self.gw.request("GET", path, headers={"Authorization": "Basic " + secret}), 401)
        self.assertError(self.gw.request("POST", path, body={"name": "x.y"}), 401)
        for hdr in (bearer(secret), bearer(secret, "Bearer"), bearer(secret, "BEARER"), bearer(ADMIN_KEY)):
            r = self.gw.request("GET", path, headers=hdr)
            self.assertStatus(r, 200, "with %r" % (hdr,))
            self.assertEqual([e["name"] for e in r.body["eventTypes"]], ["user.created"])
        r = self.gw.request("POST", path, body={"name": "order.created"}, headers=bearer(secret))
        self.assertStatus(r, 201, "a write with the space's key")
        self.assertError(self.gw.request("GET", path + "/order.created"), 401)
        # another space without keys stays open, and the key does not open it for less
        self.assertStatus(self.gw.request("GET", "/v1/spaces/%s/eventtypes" % other), 200)
        other_id, other_secret = self.create_key(other)
        self.assertError(self.gw.request("GET", path, headers=bearer(other_secret)), 403,
                         what="a key of another space")
        # status, metrics and the Events API stay open
        self.assertStatus(self.gw.request("GET", "/v1/status"), 200)
        # METRICS self.assertStatus(self.gw.request("GET", "/metrics"), 200)
        r = send_ce10(self.gw, ce10("user.created", self.sp, data={"a": 1}))
        self.assertStatus(r, 202, "the Events API needs no key")

    def test_list_and_delete(self):
        k1, s1 = self.create_key(self.sp)
        k2, s2 = self.create_key(self.sp)
        self.assertNotEqual(k1, k2)
        self.assertNotEqual(s1, s2)
        path = "/v1/spaces/%s/accesskeys" % self.sp
        self.assertError(self.gw.request("GET", path), 401)
        r = self.gw.request("GET", path, headers=bearer(s2))
        self.assertStatus(r, 200)
        self.assertEqual(sorted(k["accessKeyId"] for k in r.body["accessKeys"]), sorted([k1, k2]))
        text = json.dumps(r.body)
        for secret in (s1, s2):
            self.assertNotIn(secret, text, "a list must not show secrets")
        self.assertNotIn("hash", text, "a list must not show hashes")
        r = self.gw.request("GET", path + "/" + k1, headers=bearer(ADMIN_KEY))
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"accessKeyId": k1, "space": self.sp})
        self.assertError(self.gw.request("GET", path + "/ak-nope", headers=bearer(ADMIN_KEY)), 404)
        # revoke k1: it stops working, k2 still works
        self.assertStatus(self.gw.request("DELETE", path + "/" + k1, headers=bearer(s2)), 204)
        self.assertError(self.gw.request("GET", path, headers=bearer(s1)), 403, what="a revoked key")
        self.assertStatus(self.gw.request("GET", path, headers=bearer(s2)), 200)
        self.assertError(self.gw.request("DELETE", path + "/" + k1, headers=bearer(s2)), 404)
        # revoke the last one: the space is open again
        self.assertStatus(self.gw.request("DELETE", path + "/" + k2, headers=bearer(ADMIN_KEY)), 204)
        r = self.gw.request("GET", path)
        self.assertStatus(r, 200, "a space without keys is open")
        self.assertEqual(r.body, {"accessKeys": []})

    def test_second_ingress_enforces_keys_and_require_keys(self):
        configure(self.gw, self.sp, eventtypes=["a.b"])
        path = "/v1/spaces/%s/eventtypes" % self.sp
        # --require-keys: a space without keys needs the admin key
        self.assertError(self.strict.request("GET", path), 401)
        self.assertError(self.strict.request("GET", path, headers=bearer("guess")), 403)
        self.assertStatus(self.strict.request("GET", path, headers=bearer(ADMIN_KEY)), 200)
        self.assertStatus(self.gw.request("GET", path), 200, "the first ingress does not require keys")
        # a key created through the first ingress opens the space on the second, and is needed there
        key_id, secret = self.create_key(self.sp)
        self.assertStatus(self.strict.request("GET", path, headers=bearer(secret)), 200)
        self.assertError(self.strict.request("GET", path, headers=bearer("guess")), 403)
        # and the other way round: a key made on the second ingress is enforced by the first
        other = self.sp + "-2"
        k2, s2 = self.create_key(other, gw=self.strict)
        wait_until(lambda: self.gw.request("GET", "/v1/spaces/%s/functions" % other).status == 401,
                   timeout=10, message="the first ingress to see the key made on the second")
        self.assertStatus(self.gw.request("GET", "/v1/spaces/%s/functions" % other, headers=bearer(s2)), 200)

    def test_secret_never_stored_nor_logged(self):
        key_id, secret = self.create_key(self.sp)
        self.assertStatus(self.gw.request("GET", "/v1/spaces/%s/functions" % self.sp, headers=bearer(secret)), 200)
        self.assertError(self.gw.request("GET", "/v1/spaces/%s/functions" % self.sp, headers=bearer(secret + "x")), 403)
        records = kcat_consume(self.gw.brokers, "eg.config")
        mine = [r for r in records if key_id in (r.get("key") or "")]
        self.assertTrue(mine, "the key's record is in the configuration log")
        for r in records:
            self.assertNotIn(secret, r.get("payload") or "", "the secret must not be in Kafka")
        for g in (self.gw, self.strict):
            log = g.log_text()
            self.assertNotIn(secret, log, "%s must not log the secret" % g.name)
            self.assertNotIn(ADMIN_KEY, log, "%s must not log the admin key" % g.name)
        self.assertIn(key_id, self.gw.log_text(), "the key's id is logged")


if __name__ == "__main__":
    unittest.main()
