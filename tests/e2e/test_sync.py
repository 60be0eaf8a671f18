"""Sync subscriptions, authorizers and CORS end to end (docs/contract.md section 4):
real binaries, real local HTTP servers as functions (fnserver.FnServer).

TestSync shares one `event-gateway --dev --sync-timeout-ms 1000` for the
class. Plain HTTP requests become http.request events of space `default`, so
those tests use distinct paths (and distinct function ids); tests with event
types of their own use a space of their own (CloudEvents with egspace).
setUpClass waits until a sync call goes all the way through (router and
invoker assigned, reply path working) so that no test pays for start-up.
"""

import itertools
import json
import subprocess
import time
import unittest
import uuid

from egtest import (FUNCTION_FAILED, GatewayTestCase, add_sync_subscription, ce10, configure,
                    events_with_id, free_port, gw_event, kcat_command, needs_real_kafka,
                    new_external_cluster, send_ce10, sync_answer, topic, topic_configs,
                    wait_sync_ready, wait_until)
from fnserver import sync_responder

CE_JSON = "application/cloudevents+json"
SYNC_TIMEOUT_MS = 1000
QUIET = 1.0
_counter = itertools.count(1)


class SyncTestBase(GatewayTestCase):
    GATEWAY_ARGS = ["--sync-timeout-ms", str(SYNC_TIMEOUT_MS), "--function-timeout-ms", "5000"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="sync", extra_args=cls.GATEWAY_ARGS)
        r = cls.gw.request("POST", "/v1/spaces/default/eventtypes", body={"name": "http.request"})
        if r.status != 201:
            cls.stop_class_gateways()
            raise AssertionError("registering http.request: %r" % (r,))
        try:
            cls.warmup_s = wait_sync_ready(cls.gw)
        except BaseException:
            for g in cls._class_gateways:
                print(g.log_tail())
            cls.stop_class_gateways()
            raise

    def setUp(self):
        short = self._testMethodName.replace("test_", "")[:30].replace("_", "-")
        self.n = next(_counter)
        self.sp = "s%03d-%s" % (self.n, short)   # a space of its own
        self.tag = "t%03d" % self.n               # distinct paths and function ids in `default`

    def fn_sync(self, answer, name=None, **kw):
        """A function server answering 200 with the sync answer (dict or call -> dict)."""
        return self.start_fn(name=name or "%s-fn" % self.tag, respond=sync_responder(answer), **kw)

    def rest(self, method, path, timeout=10, **kw):
        t0 = time.monotonic()
        r = gw_event(self.gw, path=path, method=method, timeout=timeout, **kw)
        return r, time.monotonic() - t0

    def assertFunctionFailed(self, resp, what=""):
        self.assertError(resp, 500, FUNCTION_FAILED, what=what)


class TestSync(SyncTestBase):

    # -- 1. REST endpoint --

    def test_rest_endpoint_status_headers_body_and_params(self):
        fn = self.fn_sync(sync_answer(201, {"X-Test": "1"}, "hello"))
        configure(self.gw, "default", functions={self.tag + "-users": fn.url})
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-users",
                              path="/%s/users/:id" % self.tag, method="GET")
        r, dt = self.rest("GET", "/%s/users/42?x=y" % self.tag)
        self.assertStatus(r, 201, "GET /users/42")
        self.assertEqual(r.headers.get("X-Test"), "1", "the function's header: %r" % (dict(r.headers),))
        self.assertEqual(r.body, "hello")
        calls = fn.wait_calls(1, timeout=5)
        self.assertEqual(len(calls), 1, calls)
        ev = calls[0].json
        self.assertIsInstance(ev, dict, "the function gets the event as JSON: %r" % (calls[0],))
        etype = ev.get("type", ev.get("eventType"))
        self.assertEqual(etype, "http.request", ev)
        data = ev.get("data")
        self.assertIsInstance(data, dict, ev)
        self.assertEqual(data.get("params"), {"id": "42"}, "data.params: %r" % (data,))
        self.assertEqual(data.get("method"), "GET", data)
        self.assertEqual(data.get("path"), "/%s/users/42" % self.tag, data)
        self.assertEqual(data.get("query"), {"x": ["y"]} if isinstance((data.get("query") or {}).get("x"), list)
                         else {"x": "y"}, data)
        print("\n  REST sync call: %.1f ms" % (dt * 1000))

    def test_default_status_200_without_status_code(self):
        fn = self.fn_sync({"body": "plain"})
        configure(self.gw, "default", functions={self.tag + "-fn": fn.url})
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-fn",
                              path="/%s/default-status" % self.tag, method="GET")
        r, _ = self.rest("GET", "/%s/default-status" % self.tag)
        self.assertStatus(r, 200, "no statusCode in the answer")
        self.assertEqual(r.body, "plain")

    def test_post_body_reaches_function(self):
        fn = self.fn_sync(lambda call: sync_answer(200, {"Content-Type": "application/json"},
                                                   json.dumps({"got": call.json["data"]["body"]})))
        configure(self.gw, "default", functions={self.tag + "-fn": fn.url})
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-fn",
                              path="/%s/echo" % self.tag, method="POST")
        r, _ = self.rest("POST", "/%s/echo" % self.tag, body={"a": [1, 2], "b": "é"})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"got": {"a": [1, 2], "b": "é"}})

    # -- 2. failures --

    def test_large_answers_come_back_and_too_large_ones_are_502(self):
        """An answer over a topic's default max.message.bytes (1 MiB) comes
        back whole (the reply topic takes records up to 16 MiB); one over the
        4 MiB a reply carries is a 502 that says so, not a time-out."""
        sizes = {"big": 2 * 1024 * 1024, "huge": 5 * 1024 * 1024}
        fn = self.fn_sync(lambda call: sync_answer(200, None, "x" * sizes[call.json["data"]["params"]["which"]]))
        configure(self.gw, "default", functions={self.tag + "-fn": fn.url})
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-fn",
                              path="/%s/size/:which" % self.tag, method="GET")
        r, dt = self.rest("GET", "/%s/size/big" % self.tag, timeout=20)
        self.assertStatus(r, 200, "a 2 MiB answer")
        self.assertEqual(len(r.body), sizes["big"], "the whole answer")
        r, dt = self.rest("GET", "/%s/size/huge" % self.tag, timeout=20)
        self.assertError(r, 502, "too large", what="a 5 MiB answer")
        self.assertLess(dt, SYNC_TIMEOUT_MS / 1000.0, "answered at once, not after the sync time-out")

    def test_answer_with_too_many_header_bytes_is_502(self):
        """The answer's headers go into libmicrohttpd's 32 KiB pool per
        connection: 40 KB of them closed the connection without an answer.
        Past 16 KiB (or 64 headers) the answer is a 502 that says why; what
        fits comes through."""
        fn = self.fn_sync(lambda call: sync_answer(
            200, {"X-Big": "h" * (40000 if call.json["data"]["params"]["which"] == "big" else 8000)}, "ok"))
        configure(self.gw, "default", functions={self.tag + "-fn": fn.url})
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-fn",
                              path="/%s/hdr/:which" % self.tag, method="GET")
        r, _ = self.rest("GET", "/%s/hdr/fits" % self.tag)
        self.assertStatus(r, 200, "8 KB of headers")
        self.assertEqual(len(r.headers.get("X-Big", "")), 8000)
        r, _ = self.rest("GET", "/%s/hdr/big" % self.tag)
        self.assertError(r, 502, "more headers", what="40 KB of headers")

    def _failing(self, path, fn_url=None, **fnkw):
        fn = None
        if fn_url is None:
            fn = self.start_fn(name=self.tag + "-bad", **fnkw)
            fn_url = fn.url
        configure(self.gw, "default", functions={self.tag + "-bad": fn_url})
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-bad",
                              path="/%s/%s" % (self.tag, path), method="GET")
        r, dt = self.rest("GET", "/%s/%s" % (self.tag, path))
        return r, dt, fn

    def test_function_500_gives_500(self):
        r, _, fn = self._failing("fails", status=500, body=sync_answer(200, body="should not be used"))
        self.assertFunctionFailed(r, "function answered 500")
        self.assertGreaterEqual(fn.count(), 1)

    def test_connection_refused_gives_500(self):
        r, _, _ = self._failing("refused", fn_url="http://127.0.0.1:%d/nothing" % free_port())
        self.assertFunctionFailed(r, "connection refused")

    def test_answer_not_json_gives_500(self):
        r, _, _ = self._failing("notjson", respond=lambda c: (200, {"Content-Type": "text/plain"}, "hello"))
        self.assertFunctionFailed(r, "answer is not JSON")

    def test_answer_json_array_gives_500(self):
        r, _, _ = self._failing("array", respond=lambda c: (200, None, [1, 2, 3]))
        self.assertFunctionFailed(r, "answer is a JSON array")

    def test_answer_json_string_gives_500(self):
        r, _, _ = self._failing("string", respond=lambda c: (200, {"Content-Type": "application/json"},
                                                             '"just a string"'))
        self.assertFunctionFailed(r, "answer is a JSON string")

    def test_slow_function_gives_504(self):
        r, dt, fn = self._failing("slow", hang=5, respond=lambda c: (200, None, sync_answer(200, body="late")))
        self.assertStatus(r, 504, "function slower than --sync-timeout-ms")
        self.assertGreaterEqual(dt, SYNC_TIMEOUT_MS / 1000.0 * 0.9, "504 before the timeout")
        self.assertLess(dt, SYNC_TIMEOUT_MS / 1000.0 + 1.5, "504 long after the timeout")
        self.assertGreaterEqual(fn.count(), 1, "the function was called")

    # -- 3. sync and async on one event --

    def test_sync_and_two_async_on_one_event(self):
        sync_fn = self.fn_sync(lambda call: sync_answer(200, body="sync:" + str(call.event_id())),
                               name=self.tag + "-sync")
        a1 = self.start_fn(name=self.tag + "-a1")
        a2 = self.start_fn(name=self.tag + "-a2")
        path = "/%s/orders" % self.tag
        configure(self.gw, "default",
                  functions={self.tag + "-sync": sync_fn.url, self.tag + "-a1": a1.url,
                             self.tag + "-a2": a2.url},
                  subscriptions=[{"eventType": "http.request", "functionId": self.tag + "-a1",
                                  "path": path, "method": "POST"},
                                 {"eventType": "http.request", "functionId": self.tag + "-a2",
                                  "path": path, "method": "POST"}])
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-sync", path=path, method="POST")
        r, _ = self.rest("POST", path, body={"order": 1})
        self.assertStatus(r, 200, "the sync answer")
        calls = sync_fn.wait_calls(1, timeout=5)
        eid = calls[0].event_id()
        self.assertTrue(eid, calls)
        self.assertEqual(r.body, "sync:" + eid)
        for fn in (a1, a2):
            c = fn.wait_calls(1, timeout=10)
            self.assertEqual(c[0].event_id(), eid, "%s got another event" % fn.name)
        a1.assert_quiet(QUIET, 1)
        a2.assert_quiet(0.1, 1)
        self.assertEqual(sync_fn.count(), 1, "the sync function is called once")
        recs = events_with_id(self.gw.brokers, eid)
        self.assertEqual(len(recs), 1, "the event must be in eg.events exactly once: %r" % (recs,))

    # -- 4. event-type-based sync (the SDK example) --

    def test_event_type_sync_ce10_and_ce01(self):
        fn = self.fn_sync(lambda call: sync_answer(200, {"Content-Type": "application/json"},
                                                   json.dumps({"created": call.json.get("data")})))
        configure(self.gw, self.sp, eventtypes=["user.create.request"], functions={"create-user": fn.url})
        add_sync_subscription(self.gw, self.sp, "user.create.request", "create-user", path="/", method="POST")
        ev = ce10("user.create.request", self.sp, data={"name": "ann"})
        r = send_ce10(self.gw, ev, timeout=10)
        self.assertStatus(r, 200, "CloudEvents 1.0 structured")
        self.assertEqual(r.body, {"created": {"name": "ann"}})
        c = fn.wait_calls(1, timeout=5)[0]
        self.assertEqual(c.event_id(), ev["id"])

        # CloudEvents 0.1, as the Node SDK emits it (space through the egspace extension)
        ev01 = {"eventType": "user.create.request", "cloudEventsVersion": "0.1", "source": "/sdk",
                "eventID": str(uuid.uuid4()), "eventTime": "2024-05-01T12:00:00Z",
                "contentType": "application/json", "data": {"name": "bob"},
                "extensions": {"egspace": self.sp}}
        r = gw_event(self.gw, body=ev01, timeout=10)
        self.assertStatus(r, 200, "CloudEvents 0.1")
        self.assertEqual(r.body, {"created": {"name": "bob"}})
        self.assertIn(ev01["eventID"], [c.event_id() for c in fn.snapshot()])

    def test_event_type_sync_unregistered_type_400(self):
        r = send_ce10(self.gw, ce10("never.registered", self.sp, data={}))
        self.assertError(r, 400)

    # -- 5. CORS --

    def _cors(self, path, **conf):
        body = {"method": "POST", "path": path, "allowedOrigins": ["https://*.example.com"]}
        body.update(conf)
        r = self.gw.request("POST", "/v1/spaces/default/cors", body=body)
        self.assertStatus(r, 201, "creating CORS %r" % (body,))
        return r.body

    def test_cors_preflight_and_actual_request(self):
        path = "/%s/cors-path" % self.tag
        self._cors(path)
        origin = "https://a.example.com"
        r = gw_event(self.gw, path=path, method="OPTIONS",
                     headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        self.assertStatus(r, 200, "preflight")
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), origin, dict(r.headers))
        self.assertIn("POST", (r.headers.get("Access-Control-Allow-Methods") or "").upper(), dict(r.headers))

        # the actual request (no subscription: a 202 that carries the CORS headers)
        r = gw_event(self.gw, path=path, method="POST", body={"x": 1}, headers={"Origin": origin})
        self.assertStatus(r, 202, "actual POST")
        self.assertEqual(r.headers.get("Access-Control-Allow-Origin"), origin, dict(r.headers))

        # an origin that is not allowed
        for bad in ("https://evil.com", "http://a.example.com", "https://example.com"):
            r = gw_event(self.gw, path=path, method="OPTIONS",
                         headers={"Origin": bad, "Access-Control-Request-Method": "POST"})
            self.assertStatus(r, 200, "preflight from %s" % bad)
            self.assertIsNone(r.headers.get("Access-Control-Allow-Origin"),
                              "%s must not be allowed: %r" % (bad, dict(r.headers)))
            r = gw_event(self.gw, path=path, method="POST", body={}, headers={"Origin": bad})
            self.assertStatus(r, 202)
            self.assertIsNone(r.headers.get("Access-Control-Allow-Origin"), dict(r.headers))

    def test_cors_on_sync_answer(self):
        path = "/%s/cors-sync" % self.tag
        self._cors(path, allowedOrigins=["*"])
        fn = self.fn_sync(sync_answer(200, {"X-Fn": "yes"}, "corsy"))
        configure(self.gw, "default", functions={self.tag + "-fn": fn.url})
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-fn", path=path)
        r = gw_event(self.gw, path=path, method="POST", body={}, headers={"Origin": "https://x.org"},
                     timeout=10)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, "corsy")
        self.assertEqual(r.headers.get("X-Fn"), "yes")
        self.assertIn(r.headers.get("Access-Control-Allow-Origin"), ("*", "https://x.org"), dict(r.headers))

    def test_no_cors_headers_without_configuration(self):
        path = "/%s/no-cors" % self.tag
        origin = "https://a.example.com"
        r = gw_event(self.gw, path=path, method="OPTIONS",
                     headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        acx = [k for k in r.headers.keys() if k.lower().startswith("access-control-")]
        self.assertEqual(acx, [], "preflight without CORS configuration: %r" % (dict(r.headers),))
        r = gw_event(self.gw, path=path, method="POST", body={}, headers={"Origin": origin})
        self.assertStatus(r, 202)
        acx = [k for k in r.headers.keys() if k.lower().startswith("access-control-")]
        self.assertEqual(acx, [], "POST without CORS configuration: %r" % (dict(r.headers),))

    # -- 6. authorizers --

    def _authorized_space(self, authz_kw, sync=False):
        authz = self.start_fn(name=self.tag + "-authz", **authz_kw)
        sub = self.start_fn(name=self.tag + "-sub")
        configure(self.gw, self.sp, functions={"authz": authz.url, "sub": sub.url})
        configure(self.gw, self.sp, eventtypes=[{"name": "guarded.event", "authorizerId": "authz"}])
        if sync:
            subfn = self.fn_sync(sync_answer(200, body="let in"), name=self.tag + "-syncsub")
            configure(self.gw, self.sp, functions={"syncsub": subfn.url})
            add_sync_subscription(self.gw, self.sp, "guarded.event", "syncsub", path="/", method="POST")
            return authz, subfn
        configure(self.gw, self.sp, subscriptions=[{"eventType": "guarded.event", "functionId": "sub"}])
        return authz, sub

    def test_authorizer_allows_and_passes_authorization(self):
        authz, sub = self._authorized_space(
            {"respond": lambda c: (200, None, {"authorization": {"principalId": "u1", "context": {"k": "v"}}})})
        ev = ce10("guarded.event", self.sp, data={"secret": 1})
        r = send_ce10(self.gw, ev, timeout=10)
        self.assertStatus(r, 202, "authorized async event")
        ac = authz.wait_calls(1, timeout=5)[0]
        self.assertIsInstance(ac.json, dict, ac)
        self.assertIn("event", ac.json, "the authorizer gets {event, request}: %r" % (ac.json,))
        self.assertIn("request", ac.json, ac.json)
        aev = ac.json["event"]
        self.assertEqual(aev.get("id", aev.get("eventID")), ev["id"], aev)
        c = sub.wait_calls(1, timeout=10)[0]
        self.assertEqual(c.event_id(), ev["id"])
        got = c.json.get("eventgateway.authorization")
        if got is None:  # 0.1-style extensions object (what 0.9 sent)
            got = (c.json.get("extensions") or {}).get("eventgateway", {}).get("authorization")
        self.assertIsNotNone(got, "no eventgateway.authorization in what the subscriber got: %r" % (c.json,))
        if isinstance(got, str):
            got = json.loads(got)
        self.assertEqual(got.get("principalId"), "u1", got)
        self.assertEqual(got.get("context"), {"k": "v"}, got)
        print("\n  subscriber got eventgateway.authorization = %s" % json.dumps(got))

    def test_authorizer_refuses_async_403_no_delivery(self):
        authz, sub = self._authorized_space({"respond": lambda c: (200, None, {"error": {"message": "nope"}})})
        ev = ce10("guarded.event", self.sp, data={})
        r = send_ce10(self.gw, ev, timeout=10)
        self.assertStatus(r, 403, "refused by the authorizer")
        self.assertEqual(authz.count(), 1)
        sub.assert_quiet(QUIET, 0)
        self.assertEqual(events_with_id(self.gw.brokers, ev["id"]), [], "a refused event must not be stored")

    def test_authorizer_refuses_sync_403(self):
        authz, subfn = self._authorized_space({"respond": lambda c: (200, None, {"error": {"message": "nope"}})},
                                              sync=True)
        r = send_ce10(self.gw, ce10("guarded.event", self.sp, data={}), timeout=10)
        self.assertStatus(r, 403, "sync, refused by the authorizer")
        self.assertEqual(subfn.count(), 0, "the sync function must not be called")

    def test_authorizer_allows_sync(self):
        authz, subfn = self._authorized_space(
            {"respond": lambda c: (200, None, {"authorization": {"principalId": "u2"}})}, sync=True)
        r = send_ce10(self.gw, ce10("guarded.event", self.sp, data={}), timeout=10)
        self.assertStatus(r, 200, "sync, authorized")
        self.assertEqual(r.body, "let in")

    def test_authorizer_failing_403(self):
        authz, sub = self._authorized_space({"status": 500})
        ev = ce10("guarded.event", self.sp, data={})
        r = send_ce10(self.gw, ev, timeout=10)
        self.assertStatus(r, 403, "authorizer answered 500")
        sub.assert_quiet(QUIET, 0)

    def test_authorizer_slow_403(self):
        authz, sub = self._authorized_space({"hang": 5})
        dt = time.monotonic()
        r = send_ce10(self.gw, ce10("guarded.event", self.sp, data={}), timeout=10)
        dt = time.monotonic() - dt
        self.assertStatus(r, 403, "authorizer slower than --sync-timeout-ms")
        self.assertLess(dt, SYNC_TIMEOUT_MS / 1000.0 + 1.5)


class TestWakeFromDoze(SyncTestBase):
    """After a quiet second the router's and the sync invoker's consumers doze
    (--idle-probe-ms: one fetch window per period). In one process the
    ingress wakes them as a request comes in, so the first request after a
    quiet time does not wait for the next windows: with a 2 s period a doze
    would cost up to 2 s per hop; awake, a request takes milliseconds."""
    PROBE_MS = 2000
    # --sync-timeout-ms past two dozing hops: a doze would show as a slow 200, not a 504
    GATEWAY_ARGS = ["--sync-timeout-ms", str(3 * PROBE_MS), "--function-timeout-ms", "5000",
                    "--idle-probe-ms", str(PROBE_MS)]

    def test_first_request_after_a_quiet_time_does_not_wait_for_the_doze(self):
        fn = self.fn_sync(sync_answer(200, {}, "awake"))
        configure(self.gw, "default", functions={self.tag + "-fn": fn.url})
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-fn",
                              path="/%s/wake" % self.tag, method="POST")
        wait_until(lambda: self.rest("POST", "/%s/wake" % self.tag, body={})[0].status == 200,
                   timeout=30, message="the sync subscription answers")
        took = []
        for _ in range(3):
            time.sleep(1.5)  # quiet: both consumers doze after a second
            r, dt = self.rest("POST", "/%s/wake" % self.tag, body={}, timeout=15)
            self.assertStatus(r, 200, "first request after a quiet time")
            self.assertEqual(r.body, "awake")
            took.append(dt)
        print("\n  first request after 1.5 s quiet (doze period %d ms): %s ms"
              % (self.PROBE_MS, ", ".join("%.1f" % (t * 1000) for t in took)))
        self.assertLess(max(took), 0.5, "a dozing hop waits up to %d ms" % self.PROBE_MS)


def topic_names(brokers):
    """The names of every topic of the cluster (kcat -L)."""
    out = subprocess.run(kcat_command(brokers, "-L", "-J", "-m", "10"), capture_output=True, text=True,
                         timeout=30).stdout
    return {t["topic"] for t in json.loads(out).get("topics", [])} if out.strip() else set()


@needs_real_kafka("topic configurations and DeleteTopics (the embedded broker has neither)")
class TestReplyTopics(GatewayTestCase):
    """The ingresses' reply topics on a real cluster: bounded, and deleted
    once their ingress is gone."""

    def ingress(self, brokers, name, *extra):
        return self.start_gateway("eg-ingress", brokers=brokers, name=name,
                                  extra_args=["--instance-id", name] + list(extra))

    def test_reply_topic_is_bounded(self):
        brokers = new_external_cluster()
        self.ingress(brokers, "bounded")
        configs = topic_configs(brokers, topic(brokers, "replies.bounded"))
        # retention deletes closed segments only: segments of 10 minutes at most
        self.assertEqual({k: configs.get(k) for k in ("retention.ms", "segment.ms", "segment.bytes",
                                                       "max.message.bytes")},
                         {"retention.ms": "3600000", "segment.ms": "600000", "segment.bytes": "67108864",
                          "max.message.bytes": "16777216"}, configs)

    def test_reply_topic_of_a_gone_ingress_is_deleted_a_live_ones_kept(self):
        brokers = new_external_cluster()
        reap = ["--reply-topic-reap-ms", "3000"]  # heartbeats every 250 ms, looks every 500 ms
        gone = self.ingress(brokers, "gone", *reap)
        live = self.ingress(brokers, "live", *reap)
        names = (topic(brokers, "replies.gone"), topic(brokers, "replies.live"))
        self.assertLessEqual(set(names), topic_names(brokers))
        self.assertEqual(gone.stop(), 0, "exit status\n%s" % gone.log_tail())
        t0 = time.monotonic()
        wait_until(lambda: names[0] not in topic_names(brokers), timeout=20, interval=0.5,
                   message="the reply topic of the ingress that is gone deleted")
        took = time.monotonic() - t0
        self.assertIn("deleted reply topic %s" % names[0], live.log_text())
        # The live one, idle but for its heartbeats, outlives two more periods.
        time.sleep(6.0)  # the time a wrongly idle topic would take to go
        self.assertIn(names[1], topic_names(brokers), "a live ingress's reply topic is kept")
        self.assertTrue(live.alive())
        print("\nreply topic of a stopped ingress deleted %.1fs later (--reply-topic-reap-ms 3000)" % took)


if __name__ == "__main__":
    unittest.main(verbosity=2)
