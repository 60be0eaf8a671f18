"""History and replay end to end (docs/contract.md section 6): real binaries on the
embedded Kafka, real local HTTP servers as functions.

TestReplay shares one `event-gateway --dev` (replays at most RATE events/s,
so that a cancel lands mid-replay); every test uses a space of its own, and
its replay windows hold only its own events (the tests of a class run one
after the other). TestReplayRestart runs the replayer in a separate eg-router
and restarts that process in the middle of a replay.
"""

import datetime
import itertools
import json
import re
import time
import uuid

from egtest import (REAL_KAFKA, GatewayTestCase, ce10, configure, kcat_consume, produce_at, send_ce10, topic,
                    wait_until)

RATE = 50          # --replay-max-rate of the shared gateway
QUIET = 1.0        # seconds to watch that nothing more arrives
_counter = itertools.count(1)


def rfc3339(ms):
    dt = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms():
    return int(time.time() * 1000)


def mark():
    """A window boundary strictly after every event stored so far and strictly
    before every event sent from now on (record timestamps are milliseconds
    of the same clock): returns it once the clock has passed it."""
    t = now_ms() + 2
    wait_until(lambda: now_ms() > t + 1, timeout=1.0, interval=0.001, message="the clock to move on")
    return t


def replayed(fn, replay_id):
    return [c for c in fn.snapshot() if isinstance(c.json, dict) and c.json.get("replayid") == replay_id]


class ReplayTestBase(GatewayTestCase):
    def setUp(self):
        self.n = next(_counter)
        self.sp = "r%03d-%s" % (self.n, self._testMethodName.replace("test_", "")[:30].replace("_", "-"))

    def send(self, gw, etype, n, spaced=False, **kw):
        """Sends n events; spaced: each in a millisecond of its own (history
        orders events of different partitions by record timestamp only)."""
        ids = []
        for _ in range(n):
            ev = ce10(etype, self.sp, data={"i": len(ids)}, **kw)
            r = send_ce10(gw, ev)
            self.assertStatus(r, 202, "sending %r" % (ev,))
            ids.append(ev["id"])
            if spaced:
                mark()
        return ids

    def replays_url(self, rid=""):
        return "/v1/spaces/%s/replays%s" % (self.sp, "/" + rid if rid else "")

    def start_replay(self, gw, sub_id, from_ms, to_ms=None):
        body = {"subscriptionId": sub_id, "from": rfc3339(from_ms)}
        if to_ms is not None:
            body["to"] = rfc3339(to_ms)
        r = gw.request("POST", self.replays_url(), body=body)
        self.assertStatus(r, 201, "creating a replay")
        self.assertJSONResponse(r)
        return r.body

    def wait_replay(self, gw, rid, predicate, timeout=15.0, message="replay state"):
        last = {}

        def check():
            r = gw.request("GET", self.replays_url(rid))
            self.assertStatus(r, 200, "reading replay %s" % rid)
            last.update(r.body)
            return r.body if predicate(r.body) else None
        try:
            return wait_until(check, timeout=timeout, interval=0.05, message=message)
        except AssertionError as e:
            raise AssertionError("%s; last state %r" % (e, last))


class TestReplayToANewPool(ReplayTestBase):
    def test_the_replayer_makes_the_pools_topic(self):
        """The replay's function is in a pool no event was routed to yet, so
        its invocation topic does not exist (a real Kafka creates no topic by
        itself): the replayer makes it, every replayed invocation is stored
        by the time the replay says done, and the pool's invoker, started
        afterwards, calls them all."""
        gw = self.start_gateway(name="replay-pool")
        fn = self.start_fn(name="pooled")
        pool = "rp-" + uuid.uuid4().hex[:8]
        configure(gw, self.sp, eventtypes=["pool.ev"],
                  functions={"pf": {"provider": {"url": fn.url}, "pool": pool}})
        from_ms = mark()
        ids = self.send(gw, "pool.ev", 20)
        # routed (to nothing) before the subscription exists: only the replay writes to the pool
        routed = re.compile(r'^eventgateway_events_processed_total\{space="%s",type="pool.ev"\} 20$'
                            % re.escape(self.sp), re.M)
        wait_until(lambda: routed.search(gw.request("GET", "/metrics").body), timeout=30,
                   message="the router read the 20 events")
        sub, = configure(gw, self.sp, subscriptions=[{"eventType": "pool.ev", "functionId": "pf"}])
        rid = self.start_replay(gw, sub["subscriptionId"], from_ms)["replayId"]
        done = self.wait_replay(gw, rid, lambda b: b["status"] != "running", timeout=60,
                                message="the end of the replay")
        self.assertEqual((done["status"], done["scanned"], done["delivered"]), ("done", 20, 20), done)
        # "done" means stored: the invocations are in the pool's topic already.
        stored = kcat_consume(gw.brokers, topic(gw.brokers, "invoke.%s.async" % pool))
        self.assertEqual(sorted(r["value"]["id"] for r in stored if isinstance(r.get("value"), dict)),
                         sorted(ids), "the replayed invocations in %s when the replay is done" % pool)
        self.start_gateway("eg-invoker", brokers=gw.brokers, name="pool-invoker",
                           extra_args=["--pool", pool])
        fn.wait_for(lambda c: set(ids) <= {x.event_id() for x in replayed(fn, rid)}, timeout=30,
                    message="every replayed event called by the pool's invoker")


class TestReplay(ReplayTestBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="replay", extra_args=["--replay-max-rate", str(RATE)])

    def test_window_only_that_subscription_counts_and_replayid(self):
        fa, fb = self.start_fn(name="sub-a"), self.start_fn(name="sub-b")
        sub_a, sub_b = configure(self.gw, self.sp, eventtypes=["order.placed"],
                                 functions={"fa": fa.url, "fb": fb.url},
                                 subscriptions=[{"eventType": "order.placed", "functionId": "fa"},
                                                {"eventType": "order.placed", "functionId": "fb"}])
        before = self.send(self.gw, "order.placed", 3)
        from_ms = mark()
        inside = self.send(self.gw, "order.placed", 4)
        to_ms = mark()
        after = self.send(self.gw, "order.placed", 2)
        for fn in (fa, fb):
            fn.wait_calls(9)
        self.assertEqual(sorted(fa.event_ids()), sorted(before + inside + after))

        rep = self.start_replay(self.gw, sub_a["subscriptionId"], from_ms, to_ms)
        rid = rep["replayId"]
        self.assertRegex(rid, r"^[A-Za-z0-9_-]+$", "replay ids are URL-safe")
        self.assertEqual(rep["space"], self.sp)
        self.assertEqual(rep["subscriptionId"], sub_a["subscriptionId"])
        self.assertEqual(rep["status"], "running")
        self.assertEqual((rep["scanned"], rep["delivered"]), (0, 0))
        self.assertEqual(rep["from"], rfc3339(from_ms))
        self.assertEqual(rep["to"], rfc3339(to_ms))

        done = self.wait_replay(self.gw, rid, lambda b: b["status"] != "running", message="the end")
        self.assertEqual(done["status"], "done", done)
        self.assertEqual(done["scanned"], 4, "the window holds the 4 inside events: %r" % done)
        self.assertEqual(done["delivered"], 4, done)
        calls = fa.wait_for(lambda c: len(c) >= 13 and c, message="4 replayed calls")
        fa.assert_quiet(QUIET, 13)
        fb.assert_quiet(0.0, 9)  # the other subscription gets nothing
        again = replayed(fa, rid)
        self.assertEqual(sorted(c.event_id() for c in again), sorted(inside),
                         "only the window's events, each once")
        for c in again:
            self.assertEqual(c.json.get("egspace"), self.sp)
            self.assertEqual(c.json.get("type"), "order.placed")
        self.assertFalse([c for c in calls[:9] if "replayid" in c.json], "live deliveries carry no replayid")
        listed = self.gw.request("GET", self.replays_url()).body["replays"]
        self.assertEqual([r["replayId"] for r in listed], [rid])
        self.assertEqual(listed[0]["status"], "done")

    def test_a_record_stamped_out_of_order_does_not_end_the_window(self):
        """Producers stamp records (CreateTime): a record stamped after the
        window, written in its middle, is skipped, and the window's records
        after it in the same partition are still replayed. On a real
        cluster the window's start comes from offsets-for-times."""
        fn = self.start_fn(name="ooo")
        sub, = configure(self.gw, self.sp, eventtypes=["ooo.event"], functions={"f": fn.url},
                         subscriptions=[{"eventType": "ooo.event", "functionId": "f"}])
        key = "same-partition-" + self.sp  # every event in one partition, in this order
        before = self.send(self.gw, "ooo.event", 2, partitionkey=key)
        from_ms = mark()
        inside = self.send(self.gw, "ooo.event", 2, partitionkey=key)
        ahead = ce10("ooo.event", self.sp, data={"ahead": True}, partitionkey=key)
        # Stamped 10 minutes ahead (a producer whose clock runs fast; Kafka
        # 4 refuses records stamped more than an hour ahead by default).
        produce_at(self.gw.brokers, topic(self.gw.brokers, "events"), json.dumps(ahead),
                   now_ms() + 600000, key=key, headers=[("content-type", "application/cloudevents+json")])
        inside += self.send(self.gw, "ooo.event", 3, partitionkey=key)
        to_ms = mark()
        after = self.send(self.gw, "ooo.event", 1, partitionkey=key)
        fn.wait_calls(9)

        rep = self.start_replay(self.gw, sub["subscriptionId"], from_ms, to_ms)
        done = self.wait_replay(self.gw, rep["replayId"], lambda b: b["status"] != "running",
                                message="the end")
        self.assertEqual(done["status"], "done", done)
        # done: every invocation is written; the calls follow through the pool
        fn.wait_for(lambda c: len(c) >= 9 + len(inside), message="%d replayed calls" % len(inside))
        fn.assert_quiet(QUIET, fn.count())
        again = sorted(c.event_id() for c in replayed(fn, rep["replayId"]))
        self.assertEqual(again, sorted(inside), "the 5 events stamped inside the window, not %s"
                         % ("the one stamped ahead" if ahead["id"] in again else "fewer"))
        self.assertEqual((done["scanned"], done["delivered"]), (5, 5), done)
        if REAL_KAFKA:
            self.assertIn("replay %s/%s of subscription %s started (offsets by time)"
                          % (self.sp, rep["replayId"], sub["subscriptionId"]), self.gw.log_text())

    def test_whole_history_to_now_and_cancel(self):
        fn = self.start_fn(name="cancel")
        sub, = configure(self.gw, self.sp, eventtypes=["tick"], functions={"f": fn.url},
                         subscriptions=[{"eventType": "tick", "functionId": "f"}])
        from_ms = mark()
        ids = self.send(self.gw, "tick", 100)
        fn.wait_calls(100)
        # no "to": until now; at RATE events/s the replay takes 2 s
        rid = self.start_replay(self.gw, sub["subscriptionId"], from_ms)["replayId"]
        fn.wait_for(lambda c: len(replayed(fn, rid)) >= 5, message="a few replayed calls")
        r = self.gw.request("DELETE", self.replays_url(rid))
        self.assertStatus(r, 204, "cancelling")
        st = self.wait_replay(self.gw, rid, lambda b: b["status"] == "cancelled", message="cancelled")
        t_cancel = time.monotonic()
        # the replayer stops: a few in flight may still arrive, then nothing
        wait_until(lambda: time.monotonic() - t_cancel > QUIET, timeout=QUIET + 1, interval=0.1)
        n = len(replayed(fn, rid))
        fn.assert_quiet(QUIET, fn.count())
        self.assertLess(n, 100, "a cancelled replay stops before the end")
        self.assertEqual(len(replayed(fn, rid)), n)
        final = self.wait_replay(self.gw, rid, lambda b: b["delivered"] >= 5, message="final counts")
        self.assertEqual(final["status"], "cancelled", final)
        self.assertLessEqual(final["delivered"], n)
        self.assertTrue(set(c.event_id() for c in replayed(fn, rid)) <= set(ids))
        self.assertEqual(st["replayId"], rid)
        # cancelling again, or an ended replay: nothing changes
        self.assertStatus(self.gw.request("DELETE", self.replays_url(rid)), 204)

    def test_bad_input(self):
        fn = self.start_fn(name="bad")
        sub, = configure(self.gw, self.sp, eventtypes=["bad.input"], functions={"f": fn.url},
                         subscriptions=[{"eventType": "bad.input", "functionId": "f"}])
        sid = sub["subscriptionId"]
        url = self.replays_url()
        now = now_ms()
        cases = [
            (None, "x{", "JSON object"),
            ({"from": rfc3339(now - 1000)}, None, "subscriptionId"),
            ({"subscriptionId": 7, "from": rfc3339(now - 1000)}, None, "subscriptionId"),
            ({"subscriptionId": sid}, None, "from"),
            ({"subscriptionId": sid, "from": "yesterday"}, None, "RFC 3339"),
            ({"subscriptionId": sid, "from": "2024-05-01"}, None, "RFC 3339"),
            ({"subscriptionId": sid, "from": "2024-05-01T12:00:00"}, None, "RFC 3339"),
            ({"subscriptionId": sid, "from": rfc3339(now - 1000), "to": "2024-13-01T00:00:00Z"}, None, "to"),
            ({"subscriptionId": sid, "from": rfc3339(now - 1000), "to": rfc3339(now - 2000)}, None, "after"),
            ({"subscriptionId": sid, "from": rfc3339(now + 3600 * 1000)}, None, "future"),
        ]
        for body, raw, frag in cases:
            r = self.gw.request("POST", url, body=body, raw_body=raw)
            self.assertError(r, 400, frag, what="POST %r" % (body or raw,))
        self.assertError(self.gw.request("POST", url, body={"subscriptionId": "nope", "from": rfc3339(now - 1000)}),
                         404, "nope", what="unknown subscription")
        configure(self.gw, self.sp, functions={"g": fn.url})
        sync = self.gw.request("POST", "/v1/spaces/%s/subscriptions" % self.sp,
                               body={"type": "sync", "eventType": "bad.input", "functionId": "g", "path": "/s"})
        self.assertStatus(sync, 201)
        self.assertError(self.gw.request("POST", url, body={"subscriptionId": sync.body["subscriptionId"],
                                                            "from": rfc3339(now - 1000)}),
                         400, "sync", what="a sync subscription")
        self.assertError(self.gw.request("GET", self.replays_url("no-such-replay")), 404, "not found")
        self.assertError(self.gw.request("DELETE", self.replays_url("no-such-replay")), 404, "not found")
        self.assertEqual(self.gw.request("GET", url).body, {"replays": []}, "nothing was created")
        ev = "/v1/spaces/%s/events" % self.sp
        for q, frag in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                        ("from=nope", "RFC 3339"), ("to=2024-05-01T25:00:00Z", "RFC 3339"),
                        ("from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "after")):
            self.assertError(self.gw.request("GET", ev + "?" + q), 400, frag, what=q)

    def test_history_filters_and_limit(self):
        configure(self.gw, self.sp, eventtypes=["h.one", "h.two"])
        other = "%s-other" % self.sp
        configure(self.gw, other, eventtypes=["h.one"])
        first = self.send(self.gw, "h.one", 3, spaced=True)
        from_ms = mark()
        mid_one = self.send(self.gw, "h.one", 2, spaced=True)
        mid_two = self.send(self.gw, "h.two", 2, spaced=True)
        to_ms = mark()
        last = self.send(self.gw, "h.one", 1, spaced=True)
        r = send_ce10(self.gw, ce10("h.one", other))
        self.assertStatus(r, 202)
        ev = "/v1/spaces/%s/events" % self.sp

        def ids(query=""):
            r = self.gw.request("GET", ev + query)
            self.assertStatus(r, 200, query)
            self.assertJSONResponse(r)
            for e in r.body["events"]:
                self.assertEqual(e["specversion"], "1.0", "structured CloudEvents: %r" % e)
                self.assertEqual(e["egspace"], self.sp, "only the space's events")
            return [e["id"] for e in r.body["events"]]
        everything = first + mid_one + mid_two + last
        self.assertEqual(ids(), everything, "every event of the space, oldest first")
        self.assertEqual(ids("?type=h.two"), mid_two)
        self.assertEqual(ids("?type=h.one"), first + mid_one + last)
        self.assertEqual(ids("?from=%s&to=%s" % (rfc3339(from_ms), rfc3339(to_ms))), mid_one + mid_two)
        self.assertEqual(ids("?type=h.one&from=%s&to=%s" % (rfc3339(from_ms), rfc3339(to_ms))), mid_one)
        self.assertEqual(ids("?limit=4"), everything[:4], "limit keeps the oldest")
        self.assertEqual(ids("?from=%s&limit=1" % rfc3339(to_ms)), last)
        self.assertEqual(ids("?type=none"), [])
        self.assertEqual(ids("?to=%s" % rfc3339(from_ms - 1)), first)


class TestReplayRestart(ReplayTestBase):
    def test_restart_of_the_replaying_router(self):
        # routers of the dev gateway route but do not replay; a separate
        # eg-router runs replays slowly, and is restarted mid-replay
        dev = self.start_gateway(name="replay-dev", extra_args=["--run-replays=false"])
        args = ["--replay-max-rate", "20"]
        r1 = self.start_gateway("eg-router", brokers=dev.brokers, name="replayer-1", extra_args=args)
        fn = self.start_fn(name="restart")
        sub, = configure(dev, self.sp, eventtypes=["restart.ev"], functions={"f": fn.url},
                         subscriptions=[{"eventType": "restart.ev", "functionId": "f"}])
        from_ms = mark()
        ids = self.send(dev, "restart.ev", 50)
        fn.wait_calls(50, timeout=15)
        rid = self.start_replay(dev, sub["subscriptionId"], from_ms)["replayId"]
        self.wait_replay(dev, rid, lambda b: b["delivered"] > 0, message="progress saved by replayer-1")
        self.assertLess(len(replayed(fn, rid)), 50, "the restart must come mid-replay")
        self.assertEqual(r1.stop(), 0, "SIGTERM with a replay running: a clean exit")
        self.assertIn("replay %s/%s paused here" % (self.sp, rid), r1.log_text())
        self.start_gateway("eg-router", brokers=dev.brokers, name="replayer-2", extra_args=args)
        done = self.wait_replay(dev, rid, lambda b: b["status"] != "running", timeout=25, message="the end")
        self.assertEqual(done["status"], "done", done)
        self.assertGreaterEqual(done["delivered"], 50, done)
        fn.wait_for(lambda c: set(ids) <= set(x.event_id() for x in replayed(fn, rid)),
                    timeout=10, message="every event replayed")
        again = [c.event_id() for c in replayed(fn, rid)]
        self.assertEqual(set(again), set(ids), "none missing (duplicates allowed): %d calls" % len(again))
