"""Sync calls under load (docs/contract.md section 4): latency at concurrency 1, 200
concurrent sync requests, two ingress processes sharing one cluster, and a
sync request behind an async backlog of 10,000 events.

Every class starts its own gateway(s); setUpClass waits until a sync call
goes all the way through so that no measurement pays for start-up.
"""

import concurrent.futures
import itertools
import json
import subprocess
import statistics
import time
import unittest

from egtest import (GatewayTestCase, add_sync_subscription, ce10, configure, gw_event, kcat_command,
                    kcat_produce, scaled, send_ce10, sync_answer, topic, wait_sync_ready)
from fnserver import sync_responder

_counter = itertools.count(1)


def echo_id_answer(call):
    """Sync answer echoing data.params.id (REST) or data.id (body) of the event."""
    data = (call.json or {}).get("data") or {}
    ident = (data.get("params") or {}).get("id")
    if ident is None and isinstance(data.get("body"), dict):
        ident = data["body"].get("id")
    return sync_answer(200, {"X-Echo": str(ident)}, "id=%s" % ident)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


class ScaleBase(GatewayTestCase):
    GATEWAY_ARGS = ["--sync-timeout-ms", "10000"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="sync-scale", extra_args=cls.GATEWAY_ARGS)
        try:
            r = cls.gw.request("POST", "/v1/spaces/default/eventtypes", body={"name": "http.request"})
            if r.status != 201:
                raise AssertionError("registering http.request: %r" % (r,))
            cls.warmup_s = wait_sync_ready(cls.gw)
        except BaseException:
            for g in cls._class_gateways:
                print(g.log_tail())
            cls.stop_class_gateways()
            raise

    def setUp(self):
        self.n = next(_counter)
        self.tag = "x%03d" % self.n
        self.sp = "sc%03d-%s" % (self.n, self._testMethodName.replace("test_", "")[:24].replace("_", "-"))

    def echo_endpoint(self, gw=None, name="echo"):
        """A sync REST endpoint GET /<tag>/<name>/:id answering id=<id>; returns (fn, path prefix)."""
        gw = gw or self.gw
        fn = self.start_fn(name="%s-%s" % (self.tag, name), respond=sync_responder(echo_id_answer))
        fid = "%s-%s" % (self.tag, name)
        configure(gw, "default", functions={fid: fn.url})
        add_sync_subscription(gw, "default", "http.request", fid, path="/%s/%s/:id" % (self.tag, name),
                              method="GET")
        return fn, "/%s/%s/" % (self.tag, name)

    def call_echo(self, gw, prefix, ident, timeout=20):
        t0 = time.monotonic()
        r = gw_event(gw, path=prefix + str(ident), method="GET", timeout=timeout)
        return r, time.monotonic() - t0

    def check_echo(self, r, ident, what=""):
        self.assertStatus(r, 200, what)
        self.assertEqual(r.body, "id=%s" % ident, "%s: another request's answer" % what)
        self.assertEqual(r.headers.get("X-Echo"), str(ident), what)


class TestSyncScale(ScaleBase):

    def test_latency_concurrency_1(self):
        fn, prefix = self.echo_endpoint()
        lat = []
        for i in range(50):
            r, dt = self.call_echo(self.gw, prefix, i)
            self.check_echo(r, i, "request %d" % i)
            lat.append(dt * 1000)
        print("\n  sync latency over %d sequential requests: p50 %.1f ms, p90 %.1f ms, max %.1f ms "
              "(warm-up took %.1f s)" % (len(lat), statistics.median(lat), percentile(lat, 90), max(lat),
                                         self.warmup_s))
        self.assertLess(statistics.median(lat), 500, "sync p50 on an idle gateway")

    def test_200_concurrent_requests_get_their_own_answers(self):
        fn, prefix = self.echo_endpoint()
        n = 200
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
            futs = {pool.submit(self.call_echo, self.gw, prefix, i): i for i in range(n)}
            results = {futs[f]: f.result() for f in concurrent.futures.as_completed(futs, timeout=60)}
        wall = time.monotonic() - t0
        bad = [(i, r.status, r.body) for i, (r, _) in results.items()
               if r.status != 200 or r.body != "id=%d" % i or r.headers.get("X-Echo") != str(i)]
        self.assertEqual(bad, [], "%d of %d requests got a wrong answer" % (len(bad), n))
        lat = [dt * 1000 for _, dt in results.values()]
        print("\n  %d concurrent sync requests: wall %.2f s, p50 %.1f ms, p99 %.1f ms, max %.1f ms"
              % (n, wall, statistics.median(lat), percentile(lat, 99), max(lat)))
        self.assertEqual(fn.count(), n, "each request calls the function once")

    def test_concurrent_post_bodies(self):
        fn = self.start_fn(name=self.tag + "-body", respond=sync_responder(echo_id_answer))
        configure(self.gw, "default", functions={self.tag + "-body": fn.url})
        path = "/%s/body" % self.tag
        add_sync_subscription(self.gw, "default", "http.request", self.tag + "-body", path=path, method="POST")

        def one(i):
            return gw_event(self.gw, path=path, method="POST", body={"id": "b%d" % i}, timeout=20)
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            res = list(pool.map(one, range(100)))
        bad = [(i, r.status, r.body) for i, r in enumerate(res) if r.status != 200 or r.body != "id=b%d" % i]
        self.assertEqual(bad, [])


class TestSeveralEventLoops(ScaleBase):
    """--events-threads 3: the Events API's connections spread over three
    event loops; the first serves the Kafka delivery reports (async 202s) for
    all of them, the reply thread the sync answers."""
    GATEWAY_ARGS = ScaleBase.GATEWAY_ARGS + ["--events-threads", "3"]

    def test_sync_and_async_requests_on_three_loops(self):
        TestSyncScale.test_200_concurrent_requests_get_their_own_answers(self)
        fn = self.start_fn(name=self.tag + "-async")
        configure(self.gw, self.sp, eventtypes=["loop.event"], functions={"f": fn.url},
                  subscriptions=[{"eventType": "loop.event", "functionId": "f"}])
        n = 300

        def one(i):
            return send_ce10(self.gw, ce10("loop.event", space=self.sp, id="%s-%d" % (self.tag, i)),
                             timeout=20)
        with concurrent.futures.ThreadPoolExecutor(max_workers=60) as pool:
            res = list(pool.map(one, range(n)))
        self.assertEqual([(i, r.status) for i, r in enumerate(res) if r.status != 202], [])
        calls = fn.wait_calls(n, timeout=30)
        ids = sorted({c.json["id"] for c in calls})
        self.assertEqual(ids, sorted("%s-%d" % (self.tag, i) for i in range(n)))
        self.assertIn("(3 event loops)", self.gw.log_text())


class TestTwoIngresses(ScaleBase):
    """event-gateway --dev plus a second eg-ingress joined to its cluster."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.gw2 = cls.start_class_gateway("eg-ingress", brokers=cls.gw.brokers, name="ingress2",
                                              extra_args=["--sync-timeout-ms", "10000"])
        except BaseException:
            cls.stop_class_gateways()
            raise

    def test_two_ingresses_each_get_their_own_replies(self):
        fn, prefix = self.echo_endpoint(gw=self.gw)
        # the second ingress reads the same configuration log
        from egtest import wait_until
        wait_until(lambda: self.gw2.request("GET", "/v1/spaces/default/functions/%s-echo" % self.tag).status == 200,
                   timeout=10, interval=0.1, message="the configuration on ingress2")
        # ingress2 answers sync calls once its Events API listens and its reply consumer works
        # (its /v1/status may say 200 before the Events API listens: see the report)
        def through_gw2():
            try:
                return self.call_echo(self.gw2, prefix, "w", timeout=15)[0].status == 200
            except OSError:
                return False
        t0 = time.monotonic()
        wait_until(through_gw2, timeout=30, interval=0.2, message="a sync call through ingress2")
        print("\n  ingress2: first sync answer %.1f s after /v1/status said ready" % (time.monotonic() - t0))
        n = 100
        jobs = [(g, "%s-%d" % (name, i)) for i in range(n) for g, name in ((self.gw, "a"), (self.gw2, "b"))]
        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
            futs = {pool.submit(self.call_echo, g, prefix, ident): (g, ident) for g, ident in jobs}
            results = [(futs[f], f.result()) for f in concurrent.futures.as_completed(futs, timeout=60)]
        bad = [(g.name, ident, r.status, r.body) for (g, ident), (r, _) in results
               if r.status != 200 or r.body != "id=%s" % ident]
        self.assertEqual(bad, [], "%d of %d requests got a wrong answer" % (len(bad), len(jobs)))
        for g in (self.gw, self.gw2):
            lat = [dt * 1000 for (gg, _), (_, dt) in results if gg is g]
            print("\n  %s: %d sync requests, p50 %.1f ms, max %.1f ms" % (g.name, len(lat),
                                                                       statistics.median(lat), max(lat)))


def invoke_backlog(brokers, partitions=8):
    """Records written to the default pool's async invocation topic (kcat -Q)."""
    total = 0
    for p in range(partitions):
        out = subprocess.run(kcat_command(brokers, "-Q", "-t", "%s:%d:-1" % (topic(brokers, "invoke.default.async"), p)),
                             capture_output=True, text=True, timeout=15).stdout
        for word in out.split():
            if word.isdigit():
                total += int(word)
    return total


class TestSyncDuringBacklog(ScaleBase):
    GATEWAY_ARGS = ["--sync-timeout-ms", "10000", "--max-inflight", "256"]
    BACKLOG = 10000

    def test_sync_answers_fast_behind_async_backlog(self):
        fn, prefix = self.echo_endpoint()
        r, dt = self.call_echo(self.gw, prefix, "before")
        self.check_echo(r, "before", "before the backlog")

        # async subscription to a slow function (0.2 s per call)
        slow = self.start_fn(name=self.tag + "-slow", hang=0.2)
        configure(self.gw, self.sp, eventtypes=["backlog.event"], functions={"slow": slow.url},
                  subscriptions=[{"eventType": "backlog.event", "functionId": "slow"}])
        records = "\x01".join(json.dumps(ce10("backlog.event", self.sp, data={"i": i}))
                              for i in range(self.BACKLOG))
        t0 = time.monotonic()
        kcat_produce(self.gw.brokers, topic(self.gw.brokers, "events"), records,
                     headers=[("content-type", "application/cloudevents+json")], timeout=60)
        produced_s = time.monotonic() - t0
        slow.wait_calls(1, timeout=15)   # the backlog is being worked on
        # The backlog this test is about is the invokers': wait until the
        # router has fanned every event out to the async invocation topic
        # (the events topic itself is read in order by design).
        deadline = time.monotonic() + scaled(30)
        while invoke_backlog(self.gw.brokers) < self.BACKLOG:
            self.assertLess(time.monotonic(), deadline, "the router did not fan the backlog out")
            time.sleep(0.1)

        lat = []
        for i in range(5):
            before = fn.count()
            t_req = time.monotonic()
            r, dt = self.call_echo(self.gw, prefix, "during-%d" % i)
            calls = fn.snapshot()[before:]
            if calls:
                print("\n  during-%d: function called %.1f ms after the request, answered after %.1f ms"
                      % (i, (calls[0].mono - t_req) * 1000, dt * 1000))
            self.check_echo(r, "during-%d" % i, "during the backlog")
            lat.append(dt)
        done = slow.count()
        print("\n  backlog of %d produced in %.2f s; %d async calls made so far; sync latencies during "
              "backlog: %s ms" % (self.BACKLOG, produced_s, done, ", ".join("%.1f" % (x * 1000) for x in lat)))
        self.assertLess(done, self.BACKLOG, "the backlog was already gone: the test proves nothing")
        self.assertLess(max(lat), scaled(1.0), "a sync request behind an async backlog must answer within 1 s")


if __name__ == "__main__":
    unittest.main(verbosity=2)
