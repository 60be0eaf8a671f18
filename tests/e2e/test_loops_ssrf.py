"""Loops and server-side request forgery (issue 23, item 2).

A function may post back the events it gets (directly, or to a kafka
function writing into the gateway's own events topic), and a function URL
may name the gateway itself or any internal address.

TestLoops: every call carries Eg-Hops (the event's hop count + 1); an event
posted back with it keeps it, and past --max-hops (8) the Events API answers
508 and counts it; a kafka function stops writing past it (dead letter).

TestFunctionAddresses: the invoker judges the resolved address of every
connection (--function-deny-cidrs / --function-allow-cidrs): the gateway's
own ports on this host are refused even in dev mode, loopback outside dev
mode unless allowed, link-local always; odd spellings of loopback are the
same address; a refusal is a failed call (retried, dead-lettered with the
reason, logged once per function), sync calls and authorizers included.
"""

import json
import time
import urllib.request
import uuid

from egtest import (GatewayTestCase, ce10, configure, kcat_consume, scaled, send_ce10, topic,
                    wait_dead_letters, wait_until)
from test_ops import parse_metrics, sample
from test_providers import headers_of

CE_JSON = "application/cloudevents+json"
MAX_HOPS = 8  # the default of --max-hops
POST_BACK_LIMIT = 40  # a looping function stops on its own after this many calls (bounded test)


def post_back(gw, answers, forward_hops=True):
    """A `respond` for FnServer: posts the event it gets back to gw's Events
    API as it came (forwarding the Eg-Hops header it got), records the
    status of each post in answers, and answers 200."""
    def respond(call):
        if call.n > POST_BACK_LIMIT:
            return 200, None, None
        headers = {"Content-Type": call.content_type}
        if forward_hops and "eg-hops" in call.headers:
            headers["Eg-Hops"] = call.headers["eg-hops"]
        req = urllib.request.Request("http://127.0.0.1:%d/" % gw.events_port, data=call.body,
                                     headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=scaled(10)) as r:
                answers.append((r.status, r.read().decode()))
        except urllib.error.HTTPError as e:
            answers.append((e.code, e.read().decode()))
        return 200, None, None
    return respond


class TestLoops(GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="loops", extra_args=[
            "--retry-attempts", "1", "--log-level", "info"])

    def metrics(self):
        r = self.gw.request("GET", "/metrics")
        self.assertStatus(r, 200)
        return parse_metrics(self, r.body)[0]

    def test_function_posting_back_stops_at_max_hops(self):
        """One subscription whose function posts each event back: the event is
        delivered MAX_HOPS + 1 times (Eg-Hops 1..9), the 9th post is refused
        with 508 and counted, and nothing more comes."""
        sp = "loop-http"
        answers = []
        fn = self.start_fn(name="echo", respond=post_back(self.gw, answers))
        configure(self.gw, sp, eventtypes=["echo.me"], functions={"echo": fn.url},
                  subscriptions=[{"eventType": "echo.me", "functionId": "echo"}])
        ev = ce10("echo.me", sp, data={"n": 1})
        self.assertStatus(send_ce10(self.gw, ev), 202)
        fn.wait_calls(MAX_HOPS + 1, timeout=30)
        wait_until(lambda: len(answers) >= MAX_HOPS + 1, timeout=10, message="the 9th post's answer")
        fn.assert_quiet(scaled(2.0), MAX_HOPS + 1)
        calls = fn.snapshot()
        hops = [c.headers.get("eg-hops") for c in calls]
        print("\n  calls' Eg-Hops: %s; posts answered %s" % (hops, [a[0] for a in answers]))
        self.assertEqual(hops, [str(i) for i in range(1, MAX_HOPS + 2)])
        self.assertTrue(all(c.json == ev for c in calls), "the event itself went round")
        self.assertEqual([a[0] for a in answers], [202] * MAX_HOPS + [508])
        self.assertIn("Loop detected", answers[-1][1])
        self.assertIn("--max-hops", answers[-1][1])
        self.assertEqual(sample(self.metrics(), "eventgateway_events_loop_refused_total", space=sp), 1)
        self.assertIn("refused with 508", self.gw.log_text())

    def test_hop_header_is_checked_on_ingest(self):
        """Eg-Hops on a request: kept up to --max-hops, 508 past it, 400 when it
        is not a number; an ordinary request carries none (counts from 0)."""
        sp = "loop-ingest"
        fn = self.start_fn(name="plain")
        configure(self.gw, sp, eventtypes=["hop.t"], functions={"plain": fn.url},
                  subscriptions=[{"eventType": "hop.t", "functionId": "plain"}])

        def send(hops):
            h = {"Content-Type": CE_JSON}
            if hops is not None:
                h["Eg-Hops"] = hops
            return self.gw.request("POST", "/", raw_body=json.dumps(ce10("hop.t", sp)), headers=h,
                                   port=self.gw.events_port)
        self.assertStatus(send(None), 202)
        self.assertStatus(send(str(MAX_HOPS)), 202)
        self.assertError(send(str(MAX_HOPS + 1)), 508, "Loop detected")
        self.assertError(send("99999999999999999999"), 508, "Loop detected")
        self.assertError(send("two"), 400, "Eg-Hops")
        self.assertError(send("-1"), 400, "Eg-Hops")
        calls = fn.wait_calls(2, timeout=10)
        fn.assert_quiet(1.0, 2)
        self.assertEqual(sorted(c.headers.get("eg-hops") for c in calls), ["1", str(MAX_HOPS + 1)])
        self.assertEqual(sample(self.metrics(), "eventgateway_events_loop_refused_total", space=sp), 2)

    def test_kafka_function_into_own_events_topic_stops(self):
        """A kafka function that writes each event into the gateway's own events
        topic: the event goes round MAX_HOPS times (eg-hops 1..8 on the
        records), then the invocation is dead-lettered as a loop."""
        sp = "loop-kafka"
        events_topic = topic(self.gw.brokers, "events")
        configure(self.gw, sp, eventtypes=["round.t"],
                  functions={"again": {"type": "kafka", "provider": {"topic": events_topic}}},
                  subscriptions=[{"eventType": "round.t", "functionId": "again"}])
        ev = ce10("round.t", sp)
        self.assertStatus(send_ce10(self.gw, ev), 202)
        dl = wait_dead_letters(self.gw.brokers, lambda v: v.get("eventId") == ev["id"], timeout=30)
        self.assertIn("loop detected", dl[0]["lastError"])
        self.assertEqual(dl[0]["functionId"], "again")

        def rounds():
            return [r for r in kcat_consume(self.gw.brokers, events_topic)
                    if isinstance(r.get("value"), dict) and r["value"].get("id") == ev["id"]]
        time.sleep(scaled(1.0))  # anything still going round would show now
        recs = rounds()
        hops = sorted(int(headers_of(r).get("eg-hops", "0")) for r in recs)
        print("\n  records of the event in %s: %d, eg-hops %s; dead letter: %s"
              % (events_topic, len(recs), hops, dl[0]["lastError"]))
        self.assertEqual(hops, list(range(0, MAX_HOPS + 1)))


class TestFunctionAddresses(GatewayTestCase):

    def start_guarded_invoker(self, gw, pool, *extra):
        """An eg-invoker of its own pool on gw's cluster, without the test
        suite's loopback allowance: the defaults of a real deployment."""
        return self.start_gateway("eg-invoker", brokers=gw.brokers, name="invoker-" + pool,
                                  function_allow=None,
                                  extra_args=["--pool", pool, "--retry-attempts", "2",
                                              "--retry-base-ms", "10", "--retry-max-ms", "20"]
                                  + list(extra))

    def test_loopback_and_its_odd_spellings_refused_outside_dev(self):
        """Outside dev mode, a function on loopback is not called, however its
        address is written: the resolved address is judged. Each refusal is a
        failed call (retried), dead-lettered with the reason, logged once."""
        gw = self.start_gateway(name="ssrf")
        inv = self.start_guarded_invoker(gw, "guarded")
        fn = self.start_fn(name="internal")
        sp = "ssrf-loopback"
        hosts = {"plain": "127.0.0.1", "hex": "0x7f000001", "decimal": "2130706433",
                 "short": "127.1", "mapped": "[::ffff:127.0.0.1]", "v6": "[::1]",
                 "name": "localhost", "meta": "169.254.169.254"}
        functions = {k: {"provider": {"url": "http://%s:%d/%s" % (h, fn.port, k)}, "pool": "guarded"}
                     for k, h in hosts.items()}
        configure(gw, sp, eventtypes=["poke"], functions=functions,
                  subscriptions=[{"eventType": "poke", "functionId": k} for k in hosts])
        ev = ce10("poke", sp)
        self.assertStatus(send_ce10(gw, ev), 202)
        dls = wait_dead_letters(gw.brokers, lambda v: v.get("eventId") == ev["id"],
                                count=len(hosts), timeout=30)
        by_fn = {d["functionId"]: d for d in dls}
        self.assertEqual(set(by_fn), set(hosts))
        for k, d in sorted(by_fn.items()):
            print("\n  %-8s %-22s -> %s (attempts %d)" % (k, hosts[k], d["lastError"], d["attempts"]))
            self.assertIn("refused by the gateway's function address policy", d["lastError"])
            self.assertEqual(d["attempts"], 2, "a refusal is a failed call: retried")
            self.assertIn("link-local" if k == "meta" else "loopback", d["lastError"])
        self.assertEqual(fn.count(), 0, "nothing reached the function")
        log = inv.log_text()
        for k in hosts:
            self.assertEqual(log.count("function %s of space %s not called" % (k, sp)), 1,
                             "one log line per function: %s" % k)

    def test_the_gateway_never_calls_itself(self):
        """Loopback allowed (the suite's --function-allow-cidrs, or --dev), a
        function on loopback is called, but the gateway's own ports stay
        refused: a function pointing at its Config API cannot create an event
        type in another space, async, sync or as an authorizer."""
        gw = self.start_gateway(name="self", extra_args=["--retry-base-ms", "10",
                                                         "--retry-max-ms", "20"])
        sp = "ssrf-self"
        fn = self.start_fn(name="fine")
        victim = "/v1/spaces/victim-%s/eventtypes" % uuid.uuid4().hex[:8]
        configure(gw, sp, eventtypes=["poke"],
                  functions={"fine": fn.url,
                             "config": "http://127.0.0.1:%d%s" % (gw.config_port, victim),
                             "events": "http://localhost:%d/" % gw.events_port},
                  subscriptions=[{"eventType": "poke", "functionId": k}
                                 for k in ("fine", "config", "events")])
        # the event is also a valid event type: {"name": …} is all an eventtypes create reads
        ev = ce10("poke", sp, name="pwned")
        self.assertStatus(send_ce10(gw, ev), 202)
        fn.wait_calls(1, timeout=10)
        dls = wait_dead_letters(gw.brokers, lambda v: v.get("eventId") == ev["id"], count=2,
                                timeout=40)
        for d in dls:
            print("\n  %-7s -> %s" % (d["functionId"], d["lastError"]))
            self.assertIn("the gateway's own", d["lastError"])
        self.assertEqual(sorted(d["functionId"] for d in dls), ["config", "events"])
        self.assertStatus(gw.request("GET", victim + "/pwned"), 404)
        # a sync subscription to the gateway itself: the caller gets 500, nothing is created
        configure(gw, sp, eventtypes=["sync.poke"],
                  functions={"syncself": "http://127.0.0.1:%d%s" % (gw.config_port, victim)})
        self.assertStatus(gw.request("POST", "/v1/spaces/%s/subscriptions" % sp,
                                     body={"type": "sync", "eventType": "sync.poke",
                                           "functionId": "syncself", "path": "/sync"}), 201)
        r = send_ce10(gw, ce10("sync.poke", sp, name="pwned2"), path="/sync")
        self.assertError(r, 500, "Function call failed")
        self.assertStatus(gw.request("GET", victim + "/pwned2"), 404)
        self.assertIn("function syncself of space %s not called" % sp, gw.log_text())
        # nor an authorizer: the event is refused, as when an authorizer fails
        configure(gw, sp, functions={"authself": "http://127.0.0.1:%d%s" % (gw.config_port, victim)})
        configure(gw, sp, eventtypes=[{"name": "auth.poke", "authorizerId": "authself"}])
        r = send_ce10(gw, ce10("auth.poke", sp, name="pwned3"))
        self.assertError(r, 403, "Unauthorized")
        self.assertStatus(gw.request("GET", victim + "/pwned3"), 404)
        self.assertIn("function authself of space %s not called" % sp, gw.log_text())

    def test_dev_mode_allows_loopback_but_not_itself(self):
        """event-gateway --dev, no flags: functions on loopback are called (a
        developer's laptop), the gateway's own ports and link-local are not."""
        gw = self.start_gateway(name="dev", dev=True, function_allow=None)
        fn = self.start_fn(name="local")
        sp = "ssrf-dev"
        configure(gw, sp, eventtypes=["poke"],
                  functions={"local": fn.url,
                             "self": "http://[::ffff:127.0.0.1]:%d/" % gw.config_port,
                             "meta": {"provider": {"url": "http://169.254.169.254/latest/"},
                                      "retry": {"attempts": 1}}},
                  subscriptions=[{"eventType": "poke", "functionId": k}
                                 for k in ("local", "self", "meta")])
        ev = ce10("poke", sp)
        self.assertStatus(send_ce10(gw, ev), 202)
        fn.wait_calls(1, timeout=10)
        dls = wait_dead_letters(gw.brokers, lambda v: v.get("eventId") == ev["id"], count=2,
                                timeout=40)
        errors = {d["functionId"]: d["lastError"] for d in dls}
        print("\n  %s" % errors)
        self.assertIn("Config API", errors["self"])
        self.assertIn("link-local", errors["meta"])
