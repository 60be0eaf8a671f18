"""The configuration log: several ingress processes share one config topic.

(a) a second eg-ingress joined to a dev gateway's embedded Kafka sees every
    change made through the first, and vice versa;
(b) two ingresses racing on one name: exactly one 201 and one 409 per round,
    and afterwards both serve the winner's resource;
(c) a fresh ingress (after SIGTERM of the previous one) rebuilds exactly the
    same state from the log, deletes included;
(d) kcat shows one record per accepted change with the documented key/value
    shape, and a record written by any Kafka client is applied like an API write;
(e) compaction (issue 17, 3.6): garbage is tombstoned in the order it became
    garbage, a deleted resource's create first and its delete last, so that
    whatever prefix the cleaner has removed, the log replays to the live
    state; on a real Kafka compacting every second, a fresh process after
    hundreds of create/update/delete cycles has exactly the live configuration.
"""

import json
import re
import subprocess
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

from egtest import (KCAT, GatewayTestCase, create_topic, kcat_command, needs_breakable_kafka, needs_real_kafka,
                    new_external_cluster, topic, wait_until)

KINDS = ["eventtypes", "functions", "subscriptions", "cors"]
LIST_KEYS = {"eventtypes": "eventTypes", "functions": "functions", "subscriptions": "subscriptions",
             "cors": "cors"}
ID_FIELDS = {"eventtypes": "name", "functions": "functionId", "subscriptions": "subscriptionId", "cors": "corsId"}
SYNC_TIMEOUT = 10.0  # seconds another process may take to apply a change


def fn_body(fid, url):
    return {"functionId": fid, "type": "http", "provider": {"url": url}}


def race(a, b, path, body_a, body_b):
    """Fires POST path at both processes at once (barrier); returns both responses."""
    barrier = threading.Barrier(2, timeout=10)

    def fire(gw, body):
        barrier.wait()
        return gw.request("POST", path, body=body)

    with ThreadPoolExecutor(2) as pool:
        fa = pool.submit(fire, a, body_a)
        fb = pool.submit(fire, b, body_b)
        return fa.result(30), fb.result(30)


class ConfigLogTestBase(GatewayTestCase):
    def start_pair(self):
        """A dev gateway (embedded Kafka) and an eg-ingress joined to it."""
        a = self.start_gateway(name="gw-a")
        b = self.start_gateway("eg-ingress", brokers=a.brokers, name="ingress-b")
        self.assertEqual(b.brokers, a.brokers)
        return a, b

    def req(self, gw, method, space, rest, body=None, expect=None):
        r = gw.request(method, "/v1/spaces/%s/%s" % (space, rest), body=body)
        if expect is not None:
            self.assertStatus(r, expect, "%s %s %s/%s %r" % (gw.name, method, space, rest, body))
        return r

    def eventually(self, gw, space, rest, status, body=None, timeout=SYNC_TIMEOUT):
        """Polls GET until it answers status (and body, when given)."""
        def check():
            r = gw.request("GET", "/v1/spaces/%s/%s" % (space, rest))
            ok = r.status == status and (body is None or r.body == body)
            return r if ok else None
        try:
            return wait_until(check, timeout, message="%s GET %s/%s -> %s %r" % (gw.name, space, rest, status, body))
        except AssertionError:
            r = gw.request("GET", "/v1/spaces/%s/%s" % (space, rest))
            self.fail("%s never answered GET %s/%s with %s %r within %.0fs; last answer %s %r"
                      % (gw.name, space, rest, status, body, timeout, r.status, r.body))

    def consume(self, brokers):
        """Every record of the configuration log, tombstones included (kcat -J)."""
        p = subprocess.run(kcat_command(brokers, "-C", "-t", topic(brokers, "config"), "-e", "-J", "-q"),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, "kcat failed: %s" % p.stderr.decode(errors="replace"))
        return [json.loads(line) for line in p.stdout.decode().splitlines() if line.strip()]

    def snapshot(self, gw, spaces):
        """Every collection of every space, each sorted by id."""
        snap = {}
        for sp in spaces:
            for kind in KINDS:
                r = gw.request("GET", "/v1/spaces/%s/%s" % (sp, kind))
                self.assertStatus(r, 200)
                snap["%s/%s" % (sp, kind)] = sorted(r.body[LIST_KEYS[kind]], key=lambda o: o[ID_FIELDS[kind]])
        return snap

    def assertSameState(self, reference, other, spaces, timeout=SYNC_TIMEOUT):
        want = self.snapshot(reference, spaces)
        try:
            wait_until(lambda: self.snapshot(other, spaces) == want, timeout,
                       message="%s to show the same configuration as %s" % (other.name, reference.name))
        except AssertionError:
            got = self.snapshot(other, spaces)
            diff = {k: {"%s" % reference.name: want[k], "%s" % other.name: got.get(k)}
                    for k in want if want[k] != got.get(k)}
            self.fail("%s and %s disagree:\n%s" % (reference.name, other.name, json.dumps(diff, indent=1)[:4000]))
        return want


class TestReplication(ConfigLogTestBase):
    def one_direction(self, writer, reader, sp):
        # create all four kinds
        created = {}
        created["eventtypes/ev.one"] = self.req(writer, "POST", sp, "eventtypes", {"name": "ev.one", "metadata": {"v": "1"}}, 201).body
        created["functions/fn1"] = self.req(writer, "POST", sp, "functions", fn_body("fn1", "http://one/"), 201).body
        created["functions/auth"] = self.req(writer, "POST", sp, "functions", fn_body("auth", "http://auth/"), 201).body
        created["eventtypes/ev.sec"] = self.req(writer, "POST", sp, "eventtypes", {"name": "ev.sec", "authorizerId": "auth"}, 201).body
        sub = self.req(writer, "POST", sp, "subscriptions", {"type": "sync", "eventType": "ev.one", "functionId": "fn1",
                                                             "path": "/users/:id", "method": "GET"}, 201).body
        created["subscriptions/" + sub["subscriptionId"]] = sub
        cors = self.req(writer, "POST", sp, "cors", {"method": "GET", "path": "/users/:id"}, 201).body
        created["cors/" + cors["corsId"]] = cors
        for rest, body in created.items():
            self.eventually(reader, sp, rest, 200, body)
        # what the reader has applied, it enforces
        self.assertError(self.req(reader, "POST", sp, "functions", fn_body("fn1", "http://other/")), 409)
        self.assertError(self.req(reader, "POST", sp, "subscriptions", {"type": "sync", "eventType": "ev.one",
                                                                        "functionId": "auth", "path": "/users/:name",
                                                                        "method": "GET"}), 409)
        self.assertError(self.req(reader, "DELETE", sp, "functions/auth"), 400, "authorizer")

        # updates
        updated = {
            "eventtypes/ev.one": {"metadata": {"v": "2"}},
            "functions/fn1": fn_body("fn1", "https://one.example/v2"),
            "subscriptions/" + sub["subscriptionId"]: {"type": "sync", "eventType": "ev.one", "functionId": "fn1",
                                                       "path": "/users/:id", "method": "GET", "metadata": {"v": "2"}},
            "cors/" + cors["corsId"]: {"method": "GET", "path": "/users/:id", "allowedOrigins": ["https://*.example"]},
        }
        for rest, body in updated.items():
            new = self.req(writer, "PUT", sp, rest, body, 200).body
            self.eventually(reader, sp, rest, 200, new)

        # deletes (subscription first: it holds the event type and the function)
        for rest in ["subscriptions/" + sub["subscriptionId"], "cors/" + cors["corsId"], "eventtypes/ev.sec",
                     "functions/auth", "eventtypes/ev.one", "functions/fn1"]:
            self.req(writer, "DELETE", sp, rest, expect=204)
            self.eventually(reader, sp, rest, 404)
        for kind in KINDS:
            self.assertEqual(self.req(reader, "GET", sp, kind, expect=200).body[LIST_KEYS[kind]], [])

    def test_changes_reach_the_other_ingress_both_ways(self):
        a, b = self.start_pair()
        self.one_direction(a, b, "via-a")
        self.one_direction(b, a, "via-b")

    def test_mixed_writers_on_one_resource(self):
        a, b = self.start_pair()
        sp = "mixed"
        self.req(a, "POST", sp, "eventtypes", {"name": "e"}, 201)
        self.eventually(b, sp, "eventtypes/e", 200)
        upd = self.req(b, "PUT", sp, "eventtypes/e", {"metadata": {"by": "b"}}, 200).body
        self.eventually(a, sp, "eventtypes/e", 200, upd)
        self.req(a, "DELETE", sp, "eventtypes/e", expect=204)
        self.eventually(b, sp, "eventtypes/e", 404)
        again = self.req(b, "POST", sp, "eventtypes", {"name": "e", "metadata": {"round": "2"}}, 201).body
        self.eventually(a, sp, "eventtypes/e", 200, again)
        self.assertSameState(a, b, [sp])

    def test_subscription_ids_agree_across_processes(self):
        a, b = self.start_pair()
        for gw, sp in [(a, "ids-a"), (b, "ids-b")]:
            self.req(gw, "POST", sp, "eventtypes", {"name": "e"}, 201)
            self.req(gw, "POST", sp, "functions", fn_body("f", "http://h/"), 201)
        sa = self.req(a, "POST", "ids-a", "subscriptions", {"type": "async", "eventType": "e", "functionId": "f",
                                                            "path": "/p/:x", "method": "put"}, 201).body
        sb = self.req(b, "POST", "ids-b", "subscriptions", {"type": "async", "eventType": "e", "functionId": "f",
                                                            "path": "/p/:x", "method": "put"}, 201).body
        self.assertEqual(sa["subscriptionId"], sb["subscriptionId"])


class TestRaces(ConfigLogTestBase):
    ROUNDS = 20

    def race(self, a, b, path, body_a, body_b):
        return race(a, b, path, body_a, body_b)

    def check_round(self, i, ra, rb):
        statuses = sorted([ra.status, rb.status])
        self.assertEqual(statuses, [201, 409], "round %d: want exactly one 201 and one 409, got a=%d %r / b=%d %r"
                         % (i, ra.status, ra.body, rb.status, rb.body))
        loser = ra if ra.status == 409 else rb
        self.assertError(loser, 409)
        return ra if ra.status == 201 else rb

    def test_racing_function_creates(self):
        a, b = self.start_pair()
        sp = "race-fn"
        wins = {"a": 0, "b": 0}
        for i in range(self.ROUNDS):
            fid = "race-%d" % i
            ra, rb = self.race(a, b, "/v1/spaces/%s/functions" % sp,
                               fn_body(fid, "http://a.example/%d" % i), fn_body(fid, "http://b.example/%d" % i))
            winner = self.check_round(i, ra, rb)
            wins["a" if winner is ra else "b"] += 1
            # the loser had applied the winner's record before it answered 409: both serve it now
            for gw in (a, b):
                r = self.req(gw, "GET", sp, "functions/" + fid, expect=200)
                self.assertEqual(r.body, winner.body, "round %d: %s serves another function than the winner's"
                                 % (i, gw.name))
        print("\nfunction races won: %r" % wins)
        self.assertSameState(a, b, [sp], timeout=1.0)

    def test_racing_subscription_creates(self):
        a, b = self.start_pair()
        sp = "race-sub"
        self.req(a, "POST", sp, "eventtypes", {"name": "ev"}, 201)
        self.req(a, "POST", sp, "functions", fn_body("fa", "http://a/"), 201)
        self.req(a, "POST", sp, "functions", fn_body("fb", "http://b/"), 201)
        self.eventually(b, sp, "functions/fb", 200)
        variants = [
            ("/r%d/:id", "/r%d/:name"),   # parameter under another name
            ("/r%d/me", "/r%d/:id"),      # static where a parameter would stand
            ("/r%d/x", "/r%d/x"),         # the same sync route for two functions
            ("/r%d/*all", "/r%d/:id"),    # wildcard against parameter
        ]
        for i in range(self.ROUNDS):
            pa, pb = variants[i % len(variants)]
            body_a = {"type": "sync", "eventType": "ev", "functionId": "fa", "path": pa % i, "method": "GET"}
            body_b = {"type": "sync", "eventType": "ev", "functionId": "fb", "path": pb % i, "method": "GET"}
            ra, rb = self.race(a, b, "/v1/spaces/%s/subscriptions" % sp, body_a, body_b)
            winner = self.check_round(i, ra, rb)
            for gw in (a, b):
                subs = self.req(gw, "GET", sp, "subscriptions", expect=200).body["subscriptions"]
                mine = [s for s in subs if s["path"].startswith("/r%d/" % i)]
                self.assertEqual(mine, [winner.body], "round %d: %s" % (i, gw.name))
        self.assertSameState(a, b, [sp], timeout=1.0)

    def test_racing_event_type_creates(self):
        a, b = self.start_pair()
        sp = "race-et"
        for i in range(self.ROUNDS):
            name = "ev.%d" % i
            ra, rb = self.race(a, b, "/v1/spaces/%s/eventtypes" % sp, {"name": name, "metadata": {"by": "a"}},
                               {"name": name, "metadata": {"by": "b"}})
            winner = self.check_round(i, ra, rb)
            for gw in (a, b):
                self.assertEqual(self.req(gw, "GET", sp, "eventtypes/" + name, expect=200).body, winner.body)


    def test_racing_delete_and_reference(self):
        """DELETE a function on one process while the other subscribes it: the log
        order decides, and no process ever holds a subscription to a missing function."""
        a, b = self.start_pair()
        sp = "race-ref"
        self.req(a, "POST", sp, "eventtypes", {"name": "ev"}, 201)
        outcomes = {}
        for i in range(self.ROUNDS):
            fid = "f%d" % i
            self.req(a, "POST", sp, "functions", fn_body(fid, "http://f/"), 201)
            self.eventually(b, sp, "functions/" + fid, 200)
            barrier = threading.Barrier(2, timeout=10)

            def delete():
                barrier.wait()
                return a.request("DELETE", "/v1/spaces/%s/functions/%s" % (sp, fid))

            def subscribe():
                barrier.wait()
                return b.request("POST", "/v1/spaces/%s/subscriptions" % sp,
                                 body={"type": "async", "eventType": "ev", "functionId": fid})

            with ThreadPoolExecutor(2) as pool:
                fd, fs = pool.submit(delete), pool.submit(subscribe)
                rd, rs = fd.result(30), fs.result(30)
            pair = (rd.status, rs.status)
            outcomes[pair] = outcomes.get(pair, 0) + 1
            self.assertIn(pair, [(204, 400), (400, 201)], "round %d: delete %r / subscribe %r" % (i, rd.body, rs.body))
            if pair == (204, 400):
                self.assertError(rs, 400, fid)
                expect_fn, expect_subs = 404, 0
            else:
                self.assertError(rd, 400, "subscribed")
                expect_fn, expect_subs = 200, 1
            for gw in (a, b):
                self.eventually(gw, sp, "functions/" + fid, expect_fn)
                subs = self.req(gw, "GET", sp, "subscriptions", expect=200).body["subscriptions"]
                self.assertEqual(len([x for x in subs if x["functionId"] == fid]), expect_subs,
                                 "round %d: %s" % (i, gw.name))
        print("\ndelete/subscribe outcomes: %r" % outcomes)
        self.assertSameState(a, b, [sp])

    def test_racing_updates_and_deletes(self):
        a, b = self.start_pair()
        sp = "race-upd"
        for i in range(self.ROUNDS):
            name = "e%d" % i
            self.req(a, "POST", sp, "eventtypes", {"name": name}, 201)
            self.eventually(b, sp, "eventtypes/" + name, 200)
            barrier = threading.Barrier(2, timeout=10)

            def put(gw, v):
                barrier.wait()
                return gw.request("PUT", "/v1/spaces/%s/eventtypes/%s" % (sp, name), body={"metadata": {"v": v}})

            def delete(gw):
                barrier.wait()
                return gw.request("DELETE", "/v1/spaces/%s/eventtypes/%s" % (sp, name))

            with ThreadPoolExecutor(2) as pool:
                if i % 2:
                    f1, f2 = pool.submit(put, a, "a"), pool.submit(put, b, "b")
                else:
                    f1, f2 = pool.submit(put, a, "a"), pool.submit(delete, b)
                r1, r2 = f1.result(30), f2.result(30)
            if i % 2:
                self.assertEqual((r1.status, r2.status), (200, 200), (r1.body, r2.body))
            else:
                self.assertIn((r1.status, r2.status), [(200, 204), (404, 204)], (r1.body, r2.body))
                self.eventually(a, sp, "eventtypes/" + name, 404)
                self.eventually(b, sp, "eventtypes/" + name, 404)
        # the last update in the log wins, everywhere
        self.assertSameState(a, b, [sp])


class TestRestart(ConfigLogTestBase):
    SPACES = ["default", "team-a", "team-b"]

    def populate(self, a, b):
        for gw, sp in [(a, "team-a"), (b, "team-b"), (a, "default")]:
            self.req(gw, "POST", sp, "functions", fn_body("auth", "http://auth/"), 201)
            self.req(gw, "POST", sp, "functions", fn_body("f1", "http://f1/"), 201)
            self.req(gw, "POST", sp, "functions", {"functionId": "lam", "type": "awslambda",
                                                   "provider": {"arn": "arn:x", "region": "us-east-1"}}, 201)
            self.req(gw, "POST", sp, "eventtypes", {"name": "ev.a", "authorizerId": "auth", "metadata": {"k": "v"}}, 201)
            self.req(gw, "POST", sp, "eventtypes", {"name": "ev.b"}, 201)
            s1 = self.req(gw, "POST", sp, "subscriptions", {"type": "sync", "eventType": "ev.a", "functionId": "f1",
                                                            "path": "/u/:id", "method": "GET"}, 201).body
            self.req(gw, "POST", sp, "subscriptions", {"type": "async", "eventType": "ev.b", "functionId": "lam"}, 201)
            self.req(gw, "POST", sp, "subscriptions", {"type": "async", "eventType": "ev.b", "functionId": "f1",
                                                       "path": "/x/*rest"}, 201)
            self.req(gw, "POST", sp, "cors", {"method": "GET", "path": "/u/:id"}, 201)
            self.req(gw, "POST", sp, "cors", {"method": "POST", "path": "/x"}, 201)
            # updates, several times (older update records become garbage)
            for v in range(3):
                self.req(gw, "PUT", sp, "functions/f1", fn_body("f1", "http://f1/v%d" % v), 200)
                self.req(gw, "PUT", sp, "subscriptions/" + s1["subscriptionId"],
                         {"type": "sync", "eventType": "ev.a", "functionId": "f1", "path": "/u/:id",
                          "method": "GET", "metadata": {"v": str(v)}}, 200)
            self.req(gw, "PUT", sp, "cors/GET%2Fu%2F:id", {"method": "GET", "path": "/u/:id",
                                                           "allowCredentials": True}, 200)
            self.req(gw, "PUT", sp, "eventtypes/ev.b", {"metadata": {"upd": "1"}}, 200)
            # created then deleted: must not come back
            self.req(gw, "POST", sp, "eventtypes", {"name": "ev.tmp"}, 201)
            self.req(gw, "DELETE", sp, "eventtypes/ev.tmp", expect=204)
            # refused requests write nothing
            self.assertError(self.req(gw, "POST", sp, "functions", fn_body("f1", "http://dup/")), 409)
            self.assertError(self.req(gw, "DELETE", sp, "functions/auth"), 400)
        # conflicting writes that both reach the log: one is rejected on replay too
        self.req(a, "POST", "default", "eventtypes", {"name": "ev.race"}, 201)
        self.req(a, "POST", "default", "functions", fn_body("ra", "http://ra/"), 201)
        self.req(a, "POST", "default", "functions", fn_body("rb", "http://rb/"), 201)
        self.eventually(b, "default", "functions/rb", 200)
        for i in range(5):
            race_body = lambda fid, p: {"type": "sync", "eventType": "ev.race", "functionId": fid, "path": p}
            ra, rb = race(a, b, "/v1/spaces/default/subscriptions",
                                    race_body("ra", "/race%d/:a" % i), race_body("rb", "/race%d/:b" % i))
            self.assertEqual(sorted([ra.status, rb.status]), [201, 409])

    def test_fresh_ingress_rebuilds_the_same_state(self):
        a, b = self.start_pair()
        self.populate(a, b)
        want = self.assertSameState(a, b, self.SPACES)
        self.assertTrue(all(want[k] for k in want), "every collection should hold something")

        rc = b.stop()
        self.assertEqual(rc, 0, "eg-ingress should exit 0 on SIGTERM within 5 s (got %r)" % rc)
        c = self.start_gateway("eg-ingress", brokers=a.brokers, name="ingress-c")
        # ready means caught up: no polling needed
        self.assertEqual(self.snapshot(c, self.SPACES), want, "fresh ingress differs from the dev gateway")

        # deletes, through both processes, then another fresh process
        self.req(a, "DELETE", "team-a", "cors/POST%2Fx", expect=204)
        subs = self.req(c, "GET", "team-b", "subscriptions", expect=200).body["subscriptions"]
        for s in subs:
            self.req(c, "DELETE", "team-b", "subscriptions/" + s["subscriptionId"], expect=204)
        self.req(c, "DELETE", "team-b", "eventtypes/ev.a", expect=204)
        self.req(c, "DELETE", "team-b", "functions/auth", expect=204)
        self.req(a, "DELETE", "default", "functions/lam", expect=400)  # still subscribed
        want = self.assertSameState(c, a, self.SPACES)
        self.assertEqual(want["team-b/subscriptions"], [])
        self.assertEqual([f["functionId"] for f in want["team-b/functions"]], ["f1", "lam"])

        self.assertEqual(c.stop(), 0)
        d = self.start_gateway("eg-ingress", brokers=a.brokers, name="ingress-d")
        got = self.snapshot(d, self.SPACES)
        self.assertEqual(got, want, "a fresh ingress after deletes differs")
        self.assertNotIn("POST%2Fx", [x["corsId"] for x in got["team-a/cors"]])
        # and it enforces what it rebuilt
        self.assertError(self.req(d, "POST", "team-a", "functions", fn_body("f1", "http://x/")), 409)
        self.req(d, "POST", "team-b", "functions", fn_body("auth", "http://new-auth/"), 201)


@needs_breakable_kafka("kills it")
class TestKafkaDown(ConfigLogTestBase):
    def test_write_without_kafka_is_503_and_reads_still_work(self):
        a, kafka_down = self.start_breakable_gateway(name="gw-dies")
        b = self.start_gateway("eg-ingress", brokers=a.brokers, name="ingress-alone",
                               extra_args=["--write-timeout-ms", "1500"])
        before = self.req(b, "POST", "default", "eventtypes", {"name": "before"}, 201).body
        kafka_down()
        r = b.request("POST", "/v1/spaces/default/eventtypes", body={"name": "after"}, timeout=15)
        self.assertError(r, 503)
        # what was applied is still served
        self.assertEqual(self.req(b, "GET", "default", "eventtypes/before", expect=200).body, before)
        self.assertEqual(b.stop(), 0, "eg-ingress should exit 0 within 5 s of SIGTERM even without Kafka")


class TestKcat(ConfigLogTestBase):
    def setUp(self):
        if not KCAT:
            self.skipTest("kcat (or kafkacat) is not installed: Kafka-level checks skipped")

    def test_one_record_per_accepted_change(self):
        a = self.start_gateway(name="gw-kcat")
        sp = "kcat-space"
        accepted = []  # (op, kind, id, data or None)

        def change(method, rest, body, status, kind, op):
            r = self.req(a, method, sp, rest, body, status)
            if op == "create":
                accepted.append((op, kind, r.body[ID_FIELDS[kind]], r.body))
            elif op == "update":
                accepted.append((op, kind, rest.split("/", 1)[1], r.body))
            elif op == "delete":
                accepted.append((op, kind, rest.split("/", 1)[1], None))
            return r

        change("POST", "functions", fn_body("f1", "http://f1/"), 201, "functions", "create")
        self.assertError(self.req(a, "POST", sp, "functions", fn_body("f1", "http://again/")), 409)
        self.assertError(self.req(a, "POST", sp, "functions", {"functionId": "bad"}), 400)
        change("POST", "eventtypes", {"name": "e1", "authorizerId": "f1"}, 201, "eventtypes", "create")
        self.assertError(self.req(a, "POST", sp, "eventtypes", {"name": "e2", "authorizerId": "ghost"}), 400)
        sub = change("POST", "subscriptions", {"type": "async", "eventType": "e1", "functionId": "f1",
                                               "path": "/a/:b"}, 201, "subscriptions", "create").body
        self.assertError(self.req(a, "POST", sp, "subscriptions", {"type": "async", "eventType": "e1",
                                                                   "functionId": "f1", "path": "/a/:c"}), 409)
        change("POST", "cors", {"method": "GET", "path": "/a"}, 201, "cors", "create")
        change("PUT", "functions/f1", fn_body("f1", "http://f1/v2"), 200, "functions", "update")
        change("PUT", "eventtypes/e1", {"metadata": {"x": "y"}}, 200, "eventtypes", "update")
        change("PUT", "subscriptions/" + sub["subscriptionId"],
               {"type": "async", "eventType": "e1", "functionId": "f1", "path": "/a/:b", "metadata": {"m": "1"}},
               200, "subscriptions", "update")
        self.assertError(self.req(a, "PUT", sp, "subscriptions/" + sub["subscriptionId"],
                                  {"type": "async", "eventType": "e1", "functionId": "f1", "path": "/z"}), 400)
        change("PUT", "cors/GET%2Fa", {"method": "GET", "path": "/a", "allowedOrigins": ["http://o"]}, 200,
               "cors", "update")
        self.assertError(self.req(a, "DELETE", sp, "functions/f1"), 400)
        self.assertError(self.req(a, "DELETE", sp, "eventtypes/ghost"), 404)
        change("DELETE", "subscriptions/" + sub["subscriptionId"], None, 204, "subscriptions", "delete")
        change("DELETE", "cors/GET%2Fa", None, 204, "cors", "delete")
        change("DELETE", "eventtypes/e1", None, 204, "eventtypes", "delete")
        change("DELETE", "functions/f1", None, 204, "functions", "delete")

        records = self.consume(a.brokers)
        self.assertTrue(all(r.get("partition") == 0 for r in records), "eg.config has one partition")
        values = [r for r in records if r.get("payload") is not None]
        tombstones = [r for r in records if r.get("payload") is None]
        summary = "\n".join("%s %s" % (r.get("key"), (r.get("payload") or "<tombstone>")[:120]) for r in records)
        self.assertEqual(len(values), len(accepted),
                         "want one record per accepted change (%d), got %d:\n%s" % (len(accepted), len(values), summary))
        rids = set()
        for rec, (op, kind, rid_id, data) in zip(values, accepted):
            with self.subTest(key=rec["key"]):
                m = re.match(r"^(?P<space>[^/]+)/(?P<kind>[^/]+)/(?P<id>.+)/(?P<rid>[^/]+)$", rec["key"] or "")
                self.assertTrue(m, "key %r is not <space>/<kind>/<id>/<recordId>" % rec["key"])
                self.assertEqual((m["space"], m["kind"], m["id"]), (sp, kind, rid_id))
                self.assertRegex(m["rid"], r"^.+-\d+$", "record id is <instance>.<random>-<sequence>")
                self.assertNotIn(m["rid"], rids, "record ids must be unique")
                rids.add(m["rid"])
                value = json.loads(rec["payload"])
                self.assertEqual({k: value.get(k) for k in ("op", "space", "kind", "id")},
                                 {"op": op, "space": sp, "kind": kind, "id": rid_id})
                if data is None:
                    self.assertIsNone(value.get("data"), "a delete record carries no data")
                else:
                    self.assertEqual(value.get("data"), data, "data is the resource as the API returned it")
                self.assertLessEqual(set(value), {"op", "space", "kind", "id", "data"})
        keys_seen = set()
        for r in records:
            if r.get("payload") is None:
                self.assertIn(r["key"], keys_seen, "a tombstone for a key that never had a record: %r" % r["key"])
            keys_seen.add(r["key"])

    def test_record_from_any_kafka_client_is_applied(self):
        a = self.start_gateway(name="gw-kcat")
        b = self.start_gateway("eg-ingress", brokers=a.brokers, name="ingress-b")
        sp = "external"
        good_fn = {"op": "create", "space": sp, "kind": "functions", "id": "ext",
                   "data": {"space": sp, "functionId": "ext", "type": "http", "provider": {"url": "http://ext/"},
                            "metadata": {}}}
        # breaks a rule (unknown event type and function): applied by nobody
        bad_sub = {"op": "create", "space": sp, "kind": "subscriptions", "id": "x",
                   "data": {"type": "async", "eventType": "nope", "functionId": "nope"}}
        marker = {"op": "create", "space": sp, "kind": "eventtypes", "id": "after",
                  "data": {"space": sp, "name": "after", "metadata": {}}}
        lines = ["%s/functions/ext/kcat.test-1|%s" % (sp, json.dumps(good_fn)),
                 "%s/subscriptions/x/kcat.test-2|%s" % (sp, json.dumps(bad_sub)),
                 "%s/eventtypes/after/kcat.test-3|%s" % (sp, json.dumps(marker))]
        p = subprocess.run(kcat_command(a.brokers, "-P", "-t", topic(a.brokers, "config"), "-p", "0", "-K", "|"),
                           input="\n".join(lines).encode() + b"\n", capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        # a record's empty metadata is left out of the answers, as 0.9 left it out
        without_md = lambda d: {k: v for k, v in d.items() if k != "metadata"}
        for gw in (a, b):
            self.eventually(gw, sp, "functions/ext", 200, without_md(good_fn["data"]))
            self.eventually(gw, sp, "eventtypes/after", 200, without_md(marker["data"]))
        # both processes are past the bad record: it changed nothing
        for gw in (a, b):
            self.assertEqual(self.req(gw, "GET", sp, "subscriptions", expect=200).body["subscriptions"], [])
        # the external resource behaves like any other
        self.assertError(self.req(b, "POST", sp, "functions", fn_body("ext", "http://dup/")), 409)
        self.req(b, "DELETE", sp, "functions/ext", expect=204)
        self.eventually(a, sp, "functions/ext", 404)


def garbage_order(records):
    """The record keys that became garbage, in the order they did, for a log
    whose records were all accepted: a superseded update when the next one
    came, a deleted resource's create, newest update and delete record when
    its delete came."""
    live, order = {}, []
    for r in records:
        if r.get("payload") is None:
            continue
        res, op = r["key"].rsplit("/", 1)[0], json.loads(r["payload"])["op"]
        if op == "create":
            live[res] = [r["key"]]
        elif op == "update":
            order += live[res][1:]
            live[res] = live[res][:1] + [r["key"]]
        else:
            order += live.pop(res) + [r["key"]]
    return order


class TestCompaction(ConfigLogTestBase):
    SPACES = ["default", "gc-b"]

    def setUp(self):
        if not KCAT:
            self.skipTest("kcat (or kafkacat) is not installed: Kafka-level checks skipped")

    def churn(self, gw, rounds, keep_every=10):
        """rounds x an event type, a function, a subscription and a CORS
        configuration, each created, updated twice and deleted (the
        subscription and the CORS configuration first); every keep_every-th
        round's stay, updated."""
        for i in range(rounds):
            sp = self.SPACES[i % len(self.SPACES)]
            et, fid, path = "ev.%d" % i, "fn%d" % i, "/r%d/:id" % i
            self.req(gw, "POST", sp, "eventtypes", {"name": et}, 201)
            self.req(gw, "POST", sp, "functions", fn_body(fid, "http://f/%d" % i), 201)
            sub = self.req(gw, "POST", sp, "subscriptions", {"type": "async", "eventType": et, "functionId": fid,
                                                             "path": path}, 201).body["subscriptionId"]
            cors = self.req(gw, "POST", sp, "cors", {"method": "GET", "path": path}, 201).body["corsId"]
            for v in range(2):
                self.req(gw, "PUT", sp, "eventtypes/" + et, {"metadata": {"v": str(v)}}, 200)
                self.req(gw, "PUT", sp, "functions/" + fid, fn_body(fid, "http://f/%d/v%d" % (i, v)), 200)
                self.req(gw, "PUT", sp, "subscriptions/" + sub, {"type": "async", "eventType": et, "functionId": fid,
                                                                 "path": path, "metadata": {"v": str(v)}}, 200)
                self.req(gw, "PUT", sp, "cors/" + cors, {"method": "GET", "path": path,
                                                         "allowedOrigins": ["http://o%d" % v]}, 200)
            if i % keep_every != keep_every - 1:
                for rest in ["subscriptions/" + sub, "cors/" + cors, "eventtypes/" + et, "functions/" + fid]:
                    self.req(gw, "DELETE", sp, rest, expect=204)

    def test_tombstones_in_the_order_records_became_garbage(self):
        gw = self.start_gateway(name="gw-order")
        self.churn(gw, rounds=30)
        records, want = [], []

        def all_tombstoned():
            records[:] = self.consume(gw.brokers)
            want[:] = garbage_order(records)
            return set(want) <= {r["key"] for r in records if r.get("payload") is None}
        wait_until(all_tombstoned, timeout=30, interval=0.5, message="every garbage record tombstoned")
        got = []
        for r in records:
            if r.get("payload") is None and r["key"] not in got:
                got.append(r["key"])
        # per resource one superseded update; per deleted one its create, newest update and delete
        self.assertEqual(len(want), 30 * 4 + 27 * 4 * 3, "garbage records")
        first_wrong = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), None)
        self.assertIsNone(first_wrong, "tombstone %s is %s, garbage order wants %s (a deleted resource's "
                          "create must go before its delete)"
                          % (first_wrong, got[first_wrong] if first_wrong is not None else "",
                             want[first_wrong] if first_wrong is not None else ""))
        self.assertEqual(got, want)

    def compacting_cluster(self):
        """The run's cluster under a fresh prefix, its configuration log
        compacted at once: a segment a second, cleaned when 1% is garbage,
        tombstones kept a second."""
        b = new_external_cluster()
        create_topic(b, topic(b, "config"), 1, {"cleanup.policy": "compact", "segment.ms": "1000",
                                                "min.cleanable.dirty.ratio": "0.01",
                                                "delete.retention.ms": "1000"})
        return b

    @needs_real_kafka("Kafka's log cleaner")
    def test_fresh_process_after_compaction_has_the_live_configuration(self):
        b = self.compacting_cluster()
        live = self.start_gateway("eg-ingress", brokers=b, name="ingress-live")
        rounds = 150  # 600 resources through create, update, update, delete: ~10 s, ~10 segments
        self.churn(live, rounds)
        written = max(r["offset"] for r in self.consume(b)) + 1
        counts, ticks = [], []

        def compacted():
            # The cleaner never touches the active segment: a change every
            # poll rolls segments (segment.ms) so that the churn's get cleaned.
            ticks.append(1)
            self.req(live, "PUT", "gc-b", "eventtypes/ev.9", {"metadata": {"tick": str(len(ticks))}}, 200)
            counts.append(len(self.consume(b)))
            return counts[-1] < written / 4
        wait_until(compacted, timeout=120, interval=1.2,
                   message="Kafka's cleaner to remove most of the %d records written" % written)
        print("\nconfig log: %d records written, %d left after compaction (%d changes since)"
              % (written, counts[-1], len(ticks)))
        fresh = self.start_gateway("eg-ingress", brokers=b, name="ingress-fresh")
        want = self.snapshot(live, self.SPACES)
        self.assertEqual(sum(len(v) for v in want.values()), rounds // 10 * 4, "the kept resources")
        got = self.snapshot(fresh, self.SPACES)
        diff = {k: {"live": want[k], "fresh": got.get(k)} for k in want if want[k] != got.get(k)}
        self.assertEqual(got, want, "the fresh process differs after compaction:\n" + json.dumps(diff)[:3000])

    @needs_real_kafka("Kafka's log cleaner")
    def test_another_writers_garbage_goes_before_the_delete_that_follows_it(self):
        """A create record from another writer, rejected (the event type
        exists), waits for its writer's grace period (30 s) before live
        tombstones it; the delete that follows must not be collected before
        it, or the rejected create is all that is left of the event type,
        and a fresh process applies it."""
        b = self.compacting_cluster()
        live = self.start_gateway("eg-ingress", brokers=b, name="ingress-live")
        sp = "default"
        self.req(live, "POST", sp, "eventtypes", {"name": "ev.tick"}, 201)
        self.req(live, "POST", sp, "eventtypes", {"name": "ev.twice"}, 201)
        again = {"op": "create", "space": sp, "kind": "eventtypes", "id": "ev.twice",
                 "data": {"space": sp, "name": "ev.twice", "metadata": {"by": "another writer"}}}
        p = subprocess.run(kcat_command(b, "-P", "-t", topic(b, "config"), "-p", "0", "-K", "|"),
                           input=("%s/eventtypes/ev.twice/other.writer-1|%s\n" % (sp, json.dumps(again))).encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))
        # live has read it (rejected) once a write made after it is back
        wait_until(lambda: any(r.get("payload") and "other.writer-1" in r["key"] for r in self.consume(b)),
                   timeout=15, message="the other writer's record in the log")
        self.req(live, "PUT", sp, "eventtypes/ev.tick", {"metadata": {"tick": "0"}}, 200)
        self.req(live, "DELETE", sp, "eventtypes/ev.twice", expect=204)
        created = [r["key"] for r in self.consume(b)
                   if r.get("payload") and r["key"].startswith("%s/eventtypes/ev.twice/" % sp)
                   and json.loads(r["payload"])["op"] == "create" and "other.writer" not in r["key"]]
        self.assertEqual(len(created), 1, "live's create record of ev.twice")
        ticks = []

        def create_collected():
            ticks.append(1)  # rolls segments, as above
            self.req(live, "PUT", sp, "eventtypes/ev.tick", {"metadata": {"tick": str(len(ticks))}}, 200)
            return created[0] not in {r["key"] for r in self.consume(b) if r.get("payload")}
        wait_until(create_collected, timeout=120, interval=1.2, message="the cleaner to collect ev.twice's create")
        fresh = self.start_gateway("eg-ingress", brokers=b, name="ingress-fresh")
        self.assertStatus(fresh.request("GET", "/v1/spaces/%s/eventtypes/ev.twice" % sp), 404,
                          "ev.twice was deleted: the fresh process must not bring it back")
        self.assertEqual(self.snapshot(fresh, [sp]), self.snapshot(live, [sp]))


if __name__ == "__main__":
    unittest.main()
