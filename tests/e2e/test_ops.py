"""Operability end to end (docs/contract.md section 8, issue 7): access keys on the
Config API, GET /metrics in the Prometheus text format, and JSON logs.

TestAccessKeys shares one `event-gateway --dev` started with an admin key
(from EG_ADMIN_KEY, as a deployment would pass it) and one `eg-ingress
--require-keys` on the same embedded Kafka; every test works in spaces of
its own. TestMetricsAndLogs runs one `event-gateway --dev --log-format json
--log-level debug` with short retries, sends events to a healthy and to a
failing function, and checks /metrics (values and syntax) and the log.
"""

import itertools
import json
import re
import time
import unittest

from egtest import (GatewayTestCase, ce10, configure, kcat_consume, kcat_produce, send_ce10, topic,
                    wait_dead_letters, wait_until)

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
        # the space's event history and replays need its key too
        for res in ("events", "replays"):
            rpath = "/v1/spaces/%s/%s" % (self.sp, res)
            self.assertError(self.gw.request("GET", rpath), 401, what=res)
            self.assertError(self.gw.request("GET", rpath, headers=bearer("wrong")), 403, what=res)
            self.assertStatus(self.gw.request("GET", rpath, headers=bearer(secret)), 200, res)
        self.assertError(self.gw.request("POST", "/v1/spaces/%s/replays" % self.sp,
                                         body={"subscriptionId": "x", "from": "2020-01-01T00:00:00Z"}), 401)
        # status, metrics and the Events API stay open
        self.assertStatus(self.gw.request("GET", "/v1/status"), 200)
        self.assertStatus(self.gw.request("GET", "/metrics"), 200)
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
        wait_until(lambda: self.strict.request("GET", path, headers=bearer(secret)).status == 200,
                   timeout=10, message="the second ingress to accept the key made on the first")
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
        records = kcat_consume(self.gw.brokers, topic(self.gw.brokers, "config"))
        mine = [r for r in records if key_id in (r.get("key") or "")]
        self.assertTrue(mine, "the key's record is in the configuration log")
        for r in records:
            self.assertNotIn(secret, r.get("payload") or "", "the secret must not be in Kafka")
        for g in (self.gw, self.strict):
            log = g.log_text()
            self.assertNotIn(secret, log, "%s must not log the secret" % g.name)
            self.assertNotIn(ADMIN_KEY, log, "%s must not log the admin key" % g.name)
        self.assertIn(key_id, self.gw.log_text(), "the key's id is logged")


# ---------------------------------------------------------------------------
# Prometheus text format 0.0.4

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
_VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN)"
SAMPLE_RE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?\})? (%s)$" % (_NAME, _LABEL, _LABEL, _VALUE))
HELP_RE = re.compile(r"^# HELP (%s) .*$" % _NAME)
TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % _NAME)
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def parse_metrics(testcase, text):
    """Checks every line of a /metrics answer; returns ({(name, labels): value}, {family: type})."""
    samples, types = {}, {}
    testcase.assertTrue(text.endswith("\n"), "the exposition ends with a newline")
    for line in text.split("\n")[:-1]:
        if line.startswith("#"):
            m = TYPE_RE.match(line)
            if m:
                testcase.assertNotIn(m.group(1), types, "one TYPE line per family")
                types[m.group(1)] = m.group(2)
            else:
                testcase.assertRegex(line, HELP_RE, "a comment line is # HELP or # TYPE")
            continue
        m = SAMPLE_RE.match(line)
        testcase.assertIsNotNone(m, "not a sample line: %r" % line)
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        testcase.assertIn(family, types, "sample %r before its # TYPE" % line)
        key = (name, frozenset(LABEL_RE.findall(labels)))
        testcase.assertNotIn(key, samples, "duplicate sample %r" % line)
        samples[key] = float(value)
    return samples, types


def sample(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class TestMetricsAndLogs(GatewayTestCase):

    def test_made_up_spaces_get_no_series_of_their_own(self):
        """Requests that name spaces holding nothing count under space="(other)":
        a client cannot fill /metrics (and its cap of series) with junk."""
        for i in range(300):
            r = self.gw.request("GET", "/v1/spaces/junk-%03d/functions" % i)
            self.assertStatus(r, 200)
        text = self.gw.request("GET", "/metrics").body
        self.assertNotIn("junk-", text)
        s = parse_metrics(self, text)[0]
        self.assertGreaterEqual(sample(s, "eventgateway_config_requests_total", space="(other)",
                                       resource="functions", operation="list"), 300)

    def test_records_written_into_kafka_name_no_series_of_their_own(self):
        """Anyone with the right may write to the events topic: the router's
        events_processed counts an event of a space that holds nothing, or of
        a type its space does not have, under "(other)"."""
        sp = "ops-junk"
        configure(self.gw, sp, eventtypes=["known.type"])
        events = topic(self.gw.brokers, "events")
        evs = [ce10("junk.type.%02d" % i, "junk-space-%02d" % i) for i in range(30)]
        evs += [ce10("junk.type.in.known", sp), ce10("known.type", sp)]
        for ev in evs:
            kcat_produce(self.gw.brokers, events, json.dumps(ev), key=ev["id"],
                         headers=[("content-type", "application/cloudevents+json")])

        def counted():
            s, _ = self.metrics()
            return (sample(s, "eventgateway_events_processed_total", space="(other)", type="(other)") == 30
                    and sample(s, "eventgateway_events_processed_total", space=sp, type="(other)") == 1
                    and sample(s, "eventgateway_events_processed_total", space=sp, type="known.type") == 1)
        wait_until(counted, timeout=15, interval=0.2, message="the router counted the 32 records")
        text = self.gw.request("GET", "/metrics").body
        self.assertNotIn("junk-space-", text)
        self.assertNotIn("junk.type.", text)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="ops", extra_args=[
            "--log-format", "json", "--log-level", "debug", "--retry-attempts", "2",
            "--retry-base-ms", "10", "--retry-max-ms", "20"])

    def metrics(self, gw=None):
        r = (gw or self.gw).request("GET", "/metrics")
        self.assertStatus(r, 200)
        self.assertTrue(r.headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
                        r.headers.get("Content-Type"))
        return parse_metrics(self, r.body)

    def test_metrics_and_delivery_logs(self):
        sp = "ops-metrics"
        ok_fn = self.start_fn(name="ok")
        bad_fn = self.start_fn(name="bad", status=500)
        subs = configure(self.gw, sp, eventtypes=["user.created", "user.deleted"],
                         functions={"okfn": ok_fn.url, "badfn": bad_fn.url},
                         subscriptions=[{"eventType": "user.created", "functionId": "okfn"},
                                        {"eventType": "user.deleted", "functionId": "badfn"}])
        self.assertStatus(self.gw.request("GET", "/v1/spaces/%s/functions" % sp), 200)
        ok_ids = []
        for i in range(3):
            ev = ce10("user.created", sp, data={"n": i})
            ok_ids.append(ev["id"])
            self.assertStatus(send_ce10(self.gw, ev), 202)
        bad = ce10("user.deleted", sp, data={"n": 9})
        self.assertStatus(send_ce10(self.gw, bad), 202)
        ok_fn.wait_calls(3, timeout=10)
        wait_dead_letters(self.gw.brokers, lambda d: d.get("eventId") == bad["id"], timeout=15)

        def settled():
            s, _ = self.metrics()
            return (sample(s, "eventgateway_invocations_total", space=sp, function="okfn", result="success") == 3
                    and sample(s, "eventgateway_dead_letters_total", space=sp, function="badfn") == 1
                    and s)
        s = wait_until(settled, timeout=10, interval=0.1, message="the invocation metrics")
        s, types = self.metrics()
        self.assertEqual(types.get("eventgateway_invocation_duration_seconds"), "histogram")
        for fam, typ in (("eventgateway_events_received_total", "counter"),
                         ("eventgateway_events_processed_total", "counter"),
                         ("eventgateway_config_requests_total", "counter"),
                         ("eventgateway_eventtypes_total", "gauge"),
                         ("eventgateway_functions_total", "gauge"),
                         ("eventgateway_subscriptions_total", "gauge"),
                         ("eventgateway_invocations_total", "counter"),
                         ("eventgateway_retries_total", "counter"),
                         ("eventgateway_dead_letters_total", "counter"),
                         ("eventgateway_consumer_lag", "gauge"),
                         ("eventgateway_invocations_in_flight", "gauge"),
                         ("eventgateway_invocations_queued", "gauge")):
            self.assertEqual(types.get(fam), typ, fam)
        self.assertEqual(sample(s, "eventgateway_events_received_total", space=sp, type="user.created"), 3)
        self.assertEqual(sample(s, "eventgateway_events_received_total", space=sp, type="user.deleted"), 1)
        self.assertEqual(sample(s, "eventgateway_events_processed_total", space=sp, type="user.created"), 3)
        # the first create found the space empty: it counts under "(other)"
        self.assertEqual(sample(s, "eventgateway_config_requests_total", space=sp, resource="eventtypes",
                                operation="create"), 1)
        self.assertEqual(sample(s, "eventgateway_config_requests_total", space=sp, resource="functions",
                                operation="list"), 1)
        self.assertEqual(sample(s, "eventgateway_eventtypes_total", space=sp), 2)
        self.assertEqual(sample(s, "eventgateway_functions_total", space=sp), 2)
        self.assertEqual(sample(s, "eventgateway_subscriptions_total", space=sp), 2)
        self.assertEqual(sample(s, "eventgateway_invocations_total", space=sp, function="badfn", result="failure"), 2)
        self.assertIsNone(sample(s, "eventgateway_invocations_total", space=sp, function="okfn", result="failure"))
        self.assertEqual(sample(s, "eventgateway_retries_total", space=sp, function="badfn"), 1)
        self.assertEqual(sample(s, "eventgateway_invocations_in_flight"), 0)
        self.assertEqual(sample(s, "eventgateway_invocations_queued"), 0)
        for fn, calls in (("okfn", 3), ("badfn", 2)):
            h = "eventgateway_invocation_duration_seconds"
            self.assertEqual(sample(s, h + "_count", space=sp, function=fn), calls)
            self.assertEqual(sample(s, h + "_bucket", space=sp, function=fn, le="+Inf"), calls)
            self.assertGreater(sample(s, h + "_sum", space=sp, function=fn), 0)
            buckets = sorted((float(dict(k[1])["le"]), v) for k, v in s.items()
                             if k[0] == h + "_bucket" and dict(k[1]).get("space") == sp
                             and dict(k[1]).get("function") == fn)
            self.assertGreaterEqual(len(buckets), 5)
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), "buckets are cumulative")
        lags = {dict(k[1])["role"]: v for k, v in s.items() if k[0] == "eventgateway_consumer_lag"}
        self.assertIn("router", lags)
        self.assertIn("invoker", lags)
        self.assertTrue(all(v >= 0 for v in lags.values()), lags)

        # the log: one JSON object per line; every delivery line names its event,
        # subscription, function and space
        sub_of = {x["functionId"]: x["subscriptionId"] for x in subs}
        wait_until(lambda: "dead-lettered" in self.gw.log_text(), timeout=5, message="the dead-letter line")
        delivered, retries, dead = [], [], []
        for line in self.gw.log_text().splitlines():
            if line.startswith("### "):
                continue  # the harness's own lines
            rec = json.loads(line)
            for f in ("time", "level", "msg"):
                self.assertIn(f, rec, line)
            self.assertRegex(rec["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            if rec.get("space") != sp or rec.get("component") != "invoker":
                continue
            if rec["msg"].startswith("delivered"):
                delivered.append(rec)
            elif "retry in" in rec["msg"]:
                retries.append(rec)
            elif "dead-lettered" in rec["msg"]:
                dead.append(rec)
        self.assertEqual(sorted(r["event"] for r in delivered), sorted(ok_ids))
        self.assertEqual([r["event"] for r in retries], [bad["id"]])
        self.assertEqual([r["event"] for r in dead], [bad["id"]])
        for r in delivered:
            self.assertEqual((r["function"], r["subscription"]), ("okfn", sub_of["okfn"]))
        for r in retries + dead:
            self.assertEqual((r["function"], r["subscription"]), ("badfn", sub_of["badfn"]))
            self.assertEqual(r["status"], "500")

    def test_role_status_port_serves_metrics(self):
        router = self.start_gateway("eg-router", brokers=self.gw.brokers, name="router-status",
                                    extra_args=["--log-format", "json"])
        s, types = self.metrics(router)
        self.assertEqual(types.get("eventgateway_consumer_lag"), "gauge")
        self.assertIn("eventgateway_events_processed_total", types)
        self.assertStatus(router.request("GET", "/nope"), 404)
        router.stop()
        for line in router.log_text().splitlines():
            if not line.startswith("### "):
                json.loads(line)


class TestManyCallsInFlight(GatewayTestCase):
    def test_config_api_answers_with_over_a_thousand_calls_in_flight(self):
        """An invoker keeps thousands of calls in flight, each a socket of
        the process: the Config API, /v1/status and /metrics still answer
        with more than FD_SETSIZE (1024) descriptors open (they refused every
        connection past it when their server used select())."""
        gw = self.start_gateway(name="many", extra_args=["--partitions", "1",
                                                          "--partition-window", "2000",
                                                          "--function-timeout-ms", "60000"])
        fn, release = self.start_held_fn()
        sp = "many-calls"
        configure(gw, sp, eventtypes=["many.event"],
                  functions={"held": {"type": "http", "provider": {"url": fn.url}}},
                  subscriptions=[{"eventType": "many.event", "functionId": "held"}])
        events = [ce10("many.event", sp, data={"i": i}) for i in range(1100)]
        for ev in events:
            self.assertStatus(send_ce10(gw, ev), 202)
        fn.wait_calls(1100, timeout=60)
        self.assertStatus(gw.request("GET", "/v1/status"), 200, "status")
        self.assertStatus(gw.request("GET", "/metrics"), 200, "metrics")
        self.assertStatus(gw.request("GET", "/v1/spaces/%s/functions" % sp), 200, "functions")
        release.set()


if __name__ == "__main__":
    unittest.main()
