"""Subscription filters end to end (issue 21): the Subscriptions API's
dialects (exact, prefix, suffix, all, any, not) and CloudEvents SQL decide
which events the router fans out to a subscription; bad filters are refused
with a 400 that says where; PUT changes them; events no subscription's
filters let through are counted in eventgateway_events_filtered_total.

One `event-gateway --dev` for the class; each test has a space of its own.
"""

import itertools
import re
import unittest

import datetime
import time

from egtest import GatewayTestCase, ce10, configure, send_ce10, sync_answer, wait_until
from fnserver import sync_responder

_counter = itertools.count(1)
QUIET = 1.0


def rfc3339(ms):
    dt = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TestFilters(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="filters")

    def setUp(self):
        self.sp = "f%03d-%s" % (next(_counter), self._testMethodName.replace("test_", "")[:24].replace("_", "-"))

    def send_all(self, events):
        for ev in events:
            self.assertStatus(send_ce10(self.gw, ev), 202)

    def test_each_subscription_gets_the_events_its_filters_let_through(self):
        fns = {name: self.start_fn(name=name) for name in ("all", "eu", "big", "either", "sql", "nottest")}
        configure(self.gw, self.sp, eventtypes=["order.created"],
                  functions={n: f.url for n, f in fns.items()},
                  subscriptions=[
                      {"eventType": "order.created", "functionId": "all"},
                      {"eventType": "order.created", "functionId": "eu",
                       "filters": [{"exact": {"region": "eu"}}, {"prefix": {"source": "/shop/"}}]},
                      {"eventType": "order.created", "functionId": "big",
                       "filters": [{"suffix": {"data.customer.tier": "gold"}}]},
                      {"eventType": "order.created", "functionId": "either",
                       "filters": [{"any": [{"exact": {"region": "us"}},
                                            {"all": [{"exact": {"region": "eu"}},
                                                     {"exact": {"data.total": "50"}}]}]}]},
                      {"eventType": "order.created", "functionId": "sql",
                       "filters": [{"sql": "region IN ('eu', 'us') AND data.total > 100 "
                                           "AND LOWER(data.customer.tier) LIKE 'g%'"}]},
                      {"eventType": "order.created", "functionId": "nottest",
                       "filters": [{"not": {"exact": {"test": "true"}}}]},
                  ])
        events = {
            "eu-gold-200": ce10("order.created", self.sp, source="/shop/eu", region="eu",
                                data={"total": 200, "customer": {"tier": "Gold"}}),
            "eu-silver-50": ce10("order.created", self.sp, source="/shop/eu", region="eu",
                                 data={"total": 50, "customer": {"tier": "silver"}}),
            "us-gold-500": ce10("order.created", self.sp, source="/api/us", region="us", test="true",
                                data={"total": 500, "customer": {"tier": "gold"}}),
            "no-region": ce10("order.created", self.sp, source="/shop/x", data={"total": 999}),
        }
        want = {
            "all": set(events),
            "eu": {"eu-gold-200", "eu-silver-50"},
            "big": {"us-gold-500"},  # suffix is case-sensitive: "Gold" does not end with "gold"
            "either": {"us-gold-500", "eu-silver-50"},
            "sql": {"eu-gold-200", "us-gold-500"},
            "nottest": {"eu-gold-200", "eu-silver-50", "no-region"},
        }
        self.send_all(events.values())
        name_of = {ev["id"]: k for k, ev in events.items()}
        fns["all"].wait_calls(len(events), timeout=30)
        for n, f in fns.items():
            f.wait_for(lambda calls, n=n: {name_of[c.event_id()] for c in calls} >= want[n], timeout=30,
                       message="%s's events" % n)
        for n, f in fns.items():
            f.assert_quiet(QUIET if n == "all" else 0.1, len(want[n]))
            self.assertEqual({name_of[i] for i in f.event_ids()}, want[n], n)

    def test_bad_filters_are_refused_with_where(self):
        configure(self.gw, self.sp, eventtypes=["e"], functions={"f": "http://127.0.0.1:9/"})
        cases = [
            ([{"sql": "region = "}], "filters[0].sql: at 10: "),
            ([{"exact": {"region": "eu"}}, {"regex": {"x": "y"}}], "filters[1]: unknown dialect \"regex\""),
            ([{"all": []}], "filters[0].all: must be a list of one filter or more"),
            ([{"exact": {"region": 3}}], "filters[0].exact.region: the value must be a string"),
            ([{"prefix": {"Region": "e"}}], "\"Region\" is not an attribute name"),
            ([{"sql": "NOSUCH(region)"}], "no function NOSUCH"),
            ({"exact": {"region": "eu"}}, "filters: must be a list"),
        ]
        for filters, msg in cases:
            r = self.gw.request("POST", "/v1/spaces/%s/subscriptions" % self.sp,
                                body={"type": "async", "eventType": "e", "functionId": "f", "filters": filters})
            self.assertEqual(r.status, 400, "%r: %r" % (filters, r.body))
            self.assertIn(msg, r.body["errors"][0]["message"], filters)
        r = self.gw.request("GET", "/v1/spaces/%s/subscriptions" % self.sp)
        self.assertEqual(r.body["subscriptions"], [], "nothing was created")

    def test_put_changes_the_filters(self):
        fn = self.start_fn(name="fn")
        sub, = configure(self.gw, self.sp, eventtypes=["e"], functions={"f": fn.url},
                         subscriptions=[{"eventType": "e", "functionId": "f",
                                         "filters": [{"exact": {"color": "red"}}]}])
        self.assertEqual(sub["filters"], [{"exact": {"color": "red"}}])
        red, blue = ce10("e", self.sp, color="red"), ce10("e", self.sp, color="blue")
        self.send_all([red, blue])
        fn.wait_for(lambda calls: red["id"] in {c.event_id() for c in calls}, timeout=30, message="red")
        fn.assert_quiet(QUIET, 1)
        body = dict(sub, filters=[{"exact": {"color": "blue"}}])
        r = self.gw.request("PUT", "/v1/spaces/%s/subscriptions/%s" % (self.sp, sub["subscriptionId"]), body=body)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.body["filters"], [{"exact": {"color": "blue"}}])
        red2, blue2 = ce10("e", self.sp, color="red"), ce10("e", self.sp, color="blue")
        self.send_all([red2, blue2])
        fn.wait_for(lambda calls: blue2["id"] in {c.event_id() for c in calls}, timeout=30, message="blue")
        fn.assert_quiet(QUIET, 2)
        # and without filters, every event again
        body = {k: v for k, v in sub.items() if k != "filters"}
        r = self.gw.request("PUT", "/v1/spaces/%s/subscriptions/%s" % (self.sp, sub["subscriptionId"]), body=body)
        self.assertEqual(r.status, 200, r.body)
        self.assertNotIn("filters", r.body)
        red3 = ce10("e", self.sp, color="red")
        self.send_all([red3])
        fn.wait_for(lambda calls: red3["id"] in {c.event_id() for c in calls}, timeout=30, message="red again")

    def test_events_no_filter_lets_through_are_counted(self):
        fn = self.start_fn(name="fn")
        configure(self.gw, self.sp, eventtypes=["e"], functions={"f": fn.url},
                  subscriptions=[{"eventType": "e", "functionId": "f",
                                  "filters": [{"sql": "EXISTS keep"}]}])
        kept, dropped = ce10("e", self.sp, keep="1"), [ce10("e", self.sp) for _ in range(3)]
        self.send_all(dropped + [kept])
        fn.wait_for(lambda calls: kept["id"] in {c.event_id() for c in calls}, timeout=30, message="kept")
        fn.assert_quiet(QUIET, 1)

        def filtered():
            text = self.gw.request("GET", "/metrics").body
            m = re.search(r'^eventgateway_events_filtered_total\{space="%s",type="e"\} (\S+)$' % re.escape(self.sp),
                          text, re.M)
            return float(m.group(1)) if m else 0.0
        self.assertEqual(filtered(), 3.0)

    def test_a_sync_subscription_answers_only_what_its_filters_let_through(self):
        fn = self.start_fn(name="sync", respond=sync_responder(sync_answer(200, body="for vips")))
        configure(self.gw, self.sp, eventtypes=["req"], functions={"f": fn.url},
                  subscriptions=[{"type": "sync", "eventType": "req", "functionId": "f",
                                  "filters": [{"exact": {"tier": "vip"}}]}])
        # the first sync call waits for the routes to be ready
        wait_until(lambda: send_ce10(self.gw, ce10("req", self.sp, tier="vip"), timeout=15).status == 200,
                   timeout=60, message="a sync answer for a vip")
        calls = fn.count()
        r = send_ce10(self.gw, ce10("req", self.sp, tier="vip"))
        self.assertEqual((r.status, r.body), (200, "for vips"))
        # kept out by the filters: not the answer; the event goes on as async (202)
        r = send_ce10(self.gw, ce10("req", self.sp, tier="basic"))
        self.assertStatus(r, 202)
        fn.assert_quiet(QUIET, calls + 1)

    def test_a_replay_applies_the_filters_as_they_are_when_it_runs(self):
        fn = self.start_fn(name="fn")
        sub, = configure(self.gw, self.sp, eventtypes=["e"], functions={"f": fn.url},
                         subscriptions=[{"eventType": "e", "functionId": "f",
                                         "filters": [{"exact": {"color": "red"}}]}])
        from_ms = int(time.time() * 1000) - 1
        evs = [ce10("e", self.sp, color=c) for c in ("red", "blue", "blue", "red", "green")]
        self.send_all(evs)
        fn.wait_for(lambda calls: len(calls) >= 2, timeout=30, message="the red events")
        fn.assert_quiet(QUIET, 2)
        to_ms = int(time.time() * 1000) + 1
        wait_until(lambda: time.time() * 1000 > to_ms + 1, timeout=1.0, interval=0.001,
                   message="the clock past the window's end")
        body = dict(sub, filters=[{"exact": {"color": "blue"}}])
        r = self.gw.request("PUT", "/v1/spaces/%s/subscriptions/%s" % (self.sp, sub["subscriptionId"]), body=body)
        self.assertEqual(r.status, 200, r.body)
        r = self.gw.request("POST", "/v1/spaces/%s/replays" % self.sp,
                            body={"subscriptionId": sub["subscriptionId"], "from": rfc3339(from_ms),
                                  "to": rfc3339(to_ms)})
        self.assertEqual(r.status, 201, r.body)
        rid = r.body["replayId"]
        done = wait_until(lambda: (lambda b: b if b["status"] != "running" else None)(
            self.gw.request("GET", "/v1/spaces/%s/replays/%s" % (self.sp, rid)).body), timeout=30,
            message="the replay's end")
        self.assertEqual(done["status"], "done", done)
        self.assertEqual(done["delivered"], 2, done)
        blue = {e["id"] for e in evs if e["color"] == "blue"}
        fn.wait_for(lambda calls: {c.event_id() for c in calls if isinstance(c.json, dict)
                                   and c.json.get("replayid") == rid} == blue, timeout=30,
                    message="the two blue events replayed")
        fn.assert_quiet(QUIET, 4)


if __name__ == "__main__":
    unittest.main()
