"""Async delivery under faults (docs/contract.md sections 4 and 5): Kafka gone, an
invoker killed, a router restarted or killed, each mid-load; routers that
share a transactional id.

Every test starts its own `event-gateway --dev` (its embedded broker is the
cluster; under EG_TEST_BROKERS, event-gateway on a topic prefix of its own)
plus standalone role processes joined to it with --brokers, or (real Kafka
only) standalone roles alone, without a router of the gateway's; all are
stopped by PID through the harness. Functions are fnserver.FnServer
instances that record every event id they receive.
"""

import collections
import json
import re
import threading
import time
import unittest

from egtest import (REAL_KAFKA, GatewayTestCase, ce10, configure, kcat_consume, needs_breakable_kafka,
                    needs_embedded_broker, needs_real_kafka, new_external_cluster, send_ce10, topic,
                    wait_until)

N_EVENTS = 500
SENDERS = 16
SEND_SPAN = 3.0        # seconds over which the events are sent (paced, so the fault lands mid-load)
KILL_AFTER = 100       # deliveries before the fault
DELIVERY_TIMEOUT = 60  # seconds for all events to arrive after the fault
QUIET = 2.0            # seconds to watch for late duplicates
GAP_GOAL = 10.0        # seconds: the longest an event may wait after a router is killed (real Kafka)


class FaultTestBase(GatewayTestCase):
    def setUp(self):
        self.sp = "f-" + self._testMethodName.replace("test_", "")[:40].replace("_", "-")

    def start_dev(self, *extra):
        return self.start_gateway(name="dev", extra_args=list(extra))

    def start_role(self, binary_name, brokers, name, *extra):
        """A standalone eg-router / eg-invoker on brokers, /v1/status on a fresh port."""
        return self.start_gateway(binary_name, brokers=brokers, name=name, extra_args=list(extra))

    def wait_assigned(self, gw, timeout=20):
        """Until gw's log says it was assigned at least one partition."""
        pat = re.compile(r"assigned [1-9]\d* partition")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pat.search(gw.log_text()):
                return
            if not gw.alive():
                break
            time.sleep(0.05)
        self.fail("%s was not assigned any partition within %ds\n%s" % (gw.name, timeout, gw.log_tail()))

    def send_load(self, gw, events):
        """Sends events from SENDERS threads, paced over SEND_SPAN seconds; returns
        (thread, results) where results collects (event id, status or exception).
        self.accepted maps each event id to the monotonic time its answer came."""
        results = []
        self.accepted = {}
        lock = threading.Lock()
        shares = [events[i::SENDERS] for i in range(SENDERS)]
        gap = SEND_SPAN / max(1, max(len(s) for s in shares))

        def sender(share):
            for ev in share:
                t0 = time.monotonic()
                try:
                    st = send_ce10(gw, ev, timeout=15).status
                except Exception as e:  # recorded, asserted by the test
                    st = repr(e)
                with lock:
                    results.append((ev["id"], st))
                    self.accepted[ev["id"]] = time.monotonic()
                time.sleep(max(0.0, gap - (time.monotonic() - t0)))

        threads = [threading.Thread(target=sender, args=(s,), daemon=True) for s in shares]
        for t in threads:
            t.start()

        def join(timeout=30):
            deadline = time.monotonic() + timeout
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            self.assertFalse(any(t.is_alive() for t in threads), "senders still running after %ds" % timeout)
            bad = [(i, st) for i, st in results if st != 202]
            self.assertEqual(bad, [], "every event must be accepted with 202")
            self.assertEqual(len(results), len(events))
        return join

    def wait_all_delivered(self, fn, ids, timeout=DELIVERY_TIMEOUT):
        want = set(ids)
        t0 = time.monotonic()
        try:
            fn.wait_for(lambda calls: want <= {c.event_id() for c in calls}, timeout=timeout,
                        message="all %d events" % len(want))
        except AssertionError:
            got = set(fn.event_ids())
            self.fail("%d of %d events never delivered within %ds (e.g. %s); %d calls in all"
                      % (len(want - got), len(want), timeout, sorted(want - got)[:5], fn.count()))
        return time.monotonic() - t0


@needs_breakable_kafka("it is stopped")
class TestKafkaDown(FaultTestBase):
    def test_ingress_answers_503_never_202_when_kafka_is_gone(self):
        dev, kafka_down = self.start_breakable_gateway(name="dev")
        configure(dev, self.sp, eventtypes=["down.event"])
        ingress = self.start_gateway("eg-ingress", brokers=dev.brokers, name="ingress",
                                     extra_args=["--ingest-timeout-ms", "1000"])
        r = send_ce10(ingress, ce10("down.event", self.sp, data={}))
        self.assertStatus(r, 202, "while Kafka is up")
        kafka_down()
        results = []
        for i in range(3):
            t0 = time.monotonic()
            r = send_ce10(ingress, ce10("down.event", self.sp, data={"i": i}), timeout=15)
            results.append((r, time.monotonic() - t0))
        lock = threading.Lock()

        def one(i):
            t0 = time.monotonic()
            r = send_ce10(ingress, ce10("down.event", self.sp, data={"c": i}), timeout=15)
            with lock:
                results.append((r, time.monotonic() - t0))
        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(len(results), 11)
        print("\nanswers without Kafka: %s" % ", ".join("%d in %.2fs" % (r.status, dt) for r, dt in results))
        self.assertNotIn(202, [r.status for r, _ in results], "a 202 for an event Kafka never stored")
        for r, dt in results:
            self.assertError(r, 503)
        late = sorted(round(dt, 2) for _, dt in results if dt >= 2.5)
        self.assertEqual(late, [], "%d of %d 503 answers came later than 2.5 s with --ingest-timeout-ms 1000"
                         % (len(late), len(results)))
        self.assertTrue(ingress.alive(), "the ingress survives Kafka going away")


@needs_real_kafka("its broker is paused (SIGSTOP)")
class TestKafkaPaused(FaultTestBase):
    def test_no_event_answered_503_is_stored(self):
        """A 503 means "not stored": the broker is paused while events are
        sent with a short --ingest-timeout-ms, then resumed. Every event
        answered 202 is in the events topic and none answered 503 is, even
        those whose request had reached the paused broker (it writes them
        when it resumes): those get a 504, "may be stored"."""
        k = self.start_kafka(1)
        ingress = self.start_gateway("eg-ingress", brokers=k.brokers, name="ingress",
                                     extra_args=["--ingest-timeout-ms", "2000"])
        configure(ingress, self.sp, eventtypes=["paused.event"])
        self.assertStatus(send_ce10(ingress, ce10("paused.event", self.sp, data={})), 202, "Kafka up")
        results, lock, stop = [], threading.Lock(), threading.Event()

        def sender():
            while not stop.is_set():
                ev = ce10("paused.event", self.sp, data={})
                try:
                    st = send_ce10(ingress, ev, timeout=20).status
                except Exception as e:  # recorded, asserted below
                    st = repr(e)
                with lock:
                    results.append((ev["id"], st))
        threads = [threading.Thread(target=sender, daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        wait_until(lambda: len(results) >= 50, timeout=20, message="50 answers before the pause")
        k.pause(1)
        time.sleep(5)  # the fault's length: longer than --ingest-timeout-ms
        k.resume(1)
        n = len(results)
        wait_until(lambda: sum(1 for _, st in results[n:] if st == 202) >= 20, timeout=60,
                   message="20 events accepted after the broker resumed")
        stop.set()
        for t in threads:
            t.join(30)
        self.assertFalse(any(t.is_alive() for t in threads), "senders still running")
        # Once the ingress has exited nothing more can be written on its behalf.
        self.assertEqual(ingress.stop(timeout=20), 0, "ingress exit status\n%s" % ingress.log_tail())
        stored = {json.loads(r["payload"]).get("id") for r in kcat_consume(k.brokers, topic(k.brokers, "events"))
                  if r.get("payload")}
        by = collections.defaultdict(set)
        for i, st in results:
            by[st].add(i)
        print("\nbroker paused 5 s: %s; %d records in the events topic"
              % (", ".join("%d x %s" % (len(v), st) for st, v in sorted(by.items(), key=str)), len(stored)))
        self.assertEqual(set(by) - {202, 503, 504}, set(), "only 202, 503 or 504")
        self.assertTrue(by[503] or by[504], "the pause should have cost some events their 202")
        self.assertEqual(by[202] - stored, set(), "every 202 is in the events topic")
        self.assertEqual(by[503] & stored, set(), "an event answered 503 is in the events topic")


class TestInvokerKilled(FaultTestBase):
    def test_no_event_lost_when_an_invoker_is_killed_mid_load(self):
        dev = self.start_dev()
        fn = self.start_fn(name="sink")
        configure(dev, self.sp, eventtypes=["load.event"], functions={"sink": fn.url},
                  subscriptions=[{"eventType": "load.event", "functionId": "sink"}])
        inv2 = self.start_role("eg-invoker", dev.brokers, "invoker2")
        self.wait_assigned(inv2)
        events = [ce10("load.event", self.sp, data={"i": i}) for i in range(N_EVENTS)]
        join = self.send_load(dev, events)
        fn.wait_calls(KILL_AFTER, timeout=30)
        inv2.kill()  # SIGKILL
        killed_at = fn.count()
        join()
        took = self.wait_all_delivered(fn, [e["id"] for e in events])
        fn.assert_quiet(0.5, fn.count())
        counts = collections.Counter(fn.event_ids())
        dups = sum(n - 1 for n in counts.values())
        print("\ninvoker killed after %d deliveries; all %d events delivered %.1fs later; "
              "%d calls, %d duplicate(s) (at least once)" % (killed_at, N_EVENTS, took, fn.count(), dups))


class TestRouterRestart(FaultTestBase):
    def run_router_fault(self, kill):
        dev = self.start_dev()
        fn = self.start_fn(name="sink")
        configure(dev, self.sp, eventtypes=["route.event"], functions={"sink": fn.url},
                  subscriptions=[{"eventType": "route.event", "functionId": "sink"}])
        r2 = self.start_role("eg-router", dev.brokers, "router2")
        self.wait_assigned(r2)
        events = [ce10("route.event", self.sp, data={"i": i}) for i in range(N_EVENTS)]
        join = self.send_load(dev, events)
        fn.wait_calls(KILL_AFTER, timeout=30)
        t_fault = time.monotonic()
        if kill:
            r2.kill()
        else:
            r2.stop()
        stopped_at = fn.count()
        r3 = self.start_role("eg-router", dev.brokers, "router3")
        join()
        took = self.wait_all_delivered(fn, [e["id"] for e in events])
        fn.assert_quiet(QUIET, fn.count())
        counts = collections.Counter(fn.event_ids())
        dups = {i: n for i, n in counts.items() if n > 1}
        # The delivery gap: the longest an event not delivered before the
        # fault waited for its first call, from the fault or from its 202,
        # whichever came later.
        first = {}
        for c in fn.calls:
            first.setdefault(c.event_id(), c.mono)
        gap = max(first[i] - max(self.accepted[i], t_fault) for i in first if first[i] > t_fault)
        print("\nrouter %s after %d deliveries; all %d events delivered %.1fs later; %d calls, "
              "%d event(s) received more than once; delivery gap %.1f s"
              % ("killed (SIGKILL)" if kill else "stopped (SIGTERM)", stopped_at, N_EVENTS, took,
                 fn.count(), len(dups), gap))
        self.assertEqual(dups, {}, "%d of %d events were called more than once (%d extra calls)"
                         % (len(dups), N_EVENTS, sum(n - 1 for n in dups.values())))
        self.assertEqual(fn.count(), N_EVENTS)
        self.assertTrue(r3.alive())
        if REAL_KAFKA:
            # A killed router's open transaction stops read_committed readers
            # of the invocation partitions it wrote to until it ends: the
            # next owner of its partitions fences it, so the gap is the
            # group's session timeout (6 s) and a rebalance, not the
            # transaction timeout (60 s).
            self.assertLess(gap, GAP_GOAL, "an event waited %.1f s after the router %s"
                            % (gap, "was killed" if kill else "stopped"))

    def test_a_router_joining_later_starts_after_what_was_routed(self):
        """The partitions a new router takes start at the offsets the old owner
        committed with its last fan-out (on the embedded broker, which keeps no
        offsets of a transaction, the router commits them a second time):
        nothing routed before is routed again."""
        dev = self.start_dev()
        fn = self.start_fn(name="sink")
        configure(dev, self.sp, eventtypes=["route.event"], functions={"sink": fn.url},
                  subscriptions=[{"eventType": "route.event", "functionId": "sink"}])
        events = [ce10("route.event", self.sp, data={"i": i}) for i in range(40)]
        for ev in events:
            self.assertStatus(send_ce10(dev, ev), 202)
        self.wait_all_delivered(fn, [e["id"] for e in events])
        r2 = self.start_role("eg-router", dev.brokers, "router2")
        self.wait_assigned(r2)
        time.sleep(QUIET)  # time to route again whatever it would
        r = r2.request("GET", "/metrics")
        self.assertStatus(r, 200, "router2's /metrics")
        text = r.body if isinstance(r.body, str) else str(r.body)
        routed = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                     if line.startswith("eventgateway_events_processed_total{")
                     and 'space="%s"' % self.sp in line)
        print("\nrouter2 took partitions after 40 routed events; it routed %d of them again" % routed)
        self.assertEqual(routed, 0, "events routed again by the router that joined later")
        self.assertEqual(fn.count(), len(events))

    @needs_real_kafka("a cluster without a router (an embedded broker comes with one)")
    def test_a_backlog_is_routed_against_the_whole_configuration(self):
        """Events that wait for a router (none runs) are routed when one
        starts, against the whole configuration: a router that routed them
        before it had read the configuration log would match them against
        part of it, or none, and commit them with no fan-out."""
        cluster = new_external_cluster()
        ingress = self.start_gateway("eg-ingress", brokers=cluster, name="ingress")
        fn = self.start_fn(name="sink")
        # Some history in the configuration log, as any deployment has.
        configure(ingress, self.sp, eventtypes=["route.event"] + ["other.%d" % i for i in range(30)],
                  functions={"sink": fn.url},
                  subscriptions=[{"eventType": "route.event", "functionId": "sink"}])
        self.start_role("eg-invoker", cluster, "invoker")
        took = []
        for n in range(3):
            backlog = [ce10("route.event", self.sp, data={"round": n, "i": i}) for i in range(20)]
            for ev in backlog:
                self.assertStatus(send_ce10(ingress, ev), 202)
            router = self.start_role("eg-router", cluster, "router%d" % n)
            took.append(self.wait_all_delivered(fn, [e["id"] for e in backlog], timeout=30))
            router.stop()
        print("\n3 backlogs of 20 events, each routed by a router started after them: delivered "
              "in %s s" % ", ".join("%.1f" % t for t in took))

    def test_router_sigterm_mid_load_doubles_nothing(self):
        self.run_router_fault(kill=False)

    def test_router_sigkill_mid_load_doubles_nothing(self):
        self.run_router_fault(kill=True)


@needs_real_kafka("fencing needs Kafka's transaction coordinator")
class TestFencedRouter(FaultTestBase):
    def test_routers_sharing_a_transactional_id_stop_with_status_1(self):
        """Two routers with the same --instance-id share a transactional id
        and fence each other's producer under load. A router whose producer
        is fenced builds a new one (fencing the other in turn), /v1/status
        answering 503 meanwhile; fenced three times within five minutes, it
        stops with exit status 1 for a supervisor to restart it (it used to
        go on without its routing thread, /v1/status answering 200)."""
        cluster = new_external_cluster()
        ingress = self.start_gateway("eg-ingress", brokers=cluster, name="ingress")
        fn = self.start_fn(name="sink")
        configure(ingress, self.sp, eventtypes=["fenced.event"], functions={"sink": fn.url},
                  subscriptions=[{"eventType": "fenced.event", "functionId": "sink"}])
        self.start_role("eg-invoker", cluster, "invoker")
        routers = [self.start_role("eg-router", cluster, "router%d" % n, "--instance-id", "same-id")
                   for n in (1, 2)]
        done = threading.Event()

        def load():
            while not done.is_set():
                send_ce10(ingress, ce10("fenced.event", self.sp, data={}), timeout=15)
                done.wait(0.02)
        sender = threading.Thread(target=load, daemon=True)
        sender.start()
        self.addCleanup(done.set)
        unavailable = []

        def one_exited():
            for r in routers:
                if r.alive():
                    try:
                        st = r.request("GET", "/v1/status", timeout=2)
                        if st.status == 503:
                            unavailable.append(st.body)
                    except OSError:
                        pass
            return [r for r in routers if not r.alive()]
        wait_until(one_exited, timeout=45, interval=0.05,
                   message="a router fenced again and again to exit")
        done.set()
        gone = one_exited()[0]
        self.assertEqual(gone.proc.returncode, 1, gone.log_tail())
        self.assertIn("another process uses it", gone.log_text())
        print("\n%s exited with status 1 after %d new producers were fenced too; /v1/status "
              "answered 503 %d time(s) while producers were being built, e.g. %s"
              % (gone.name, gone.log_text().count("building a new transactional producer"),
                 len(unavailable), unavailable[0].get("faults") if unavailable else None))


@needs_embedded_broker("its bound of 5 MB per partition")
class TestEmbeddedBrokerBound(FaultTestBase):
    def test_events_are_held_not_dropped_while_the_invoker_is_behind(self):
        """The embedded broker drops a partition's oldest records past 5 MB,
        consumed or not. With one partition and a function that answers
        nothing until released, 2,400 events of 4 KB (twice the bound) would
        lose about half of what was accepted; the ingress holds events while
        the invoker is behind (503 with Retry-After after --ingest-timeout-ms),
        and every event answered 202 is delivered."""
        # Without shares: the held function's records past its share would
        # move to the overflow topic, whose consumer prefetches them all
        # (16 MB) into the invoker, so the backlog the guard counts could
        # stay under its bound and no event be held for its 503.
        dev = self.start_dev("--partitions", "1", "--ingest-timeout-ms", "2000",
                             "--function-timeout-ms", "60000", "--max-inflight-per-function", "0")
        fn, release = self.start_held_fn()
        configure(dev, self.sp, eventtypes=["big.event"],
                  functions={"held": {"type": "http", "provider": {"url": fn.url}}},
                  subscriptions=[{"eventType": "big.event", "functionId": "held"}])
        # The router and the invoker read their partitions: the backlog builds
        # up in the invocation topic (a burst before that is held too, on the
        # events topic).
        wait_until(lambda: re.search(r"\[router\] assigned [1-9]", dev.log_text()) and
                   re.search(r"assigned [1-9]\d* partition\(s\) of \S+invoke\.default\.async",
                             dev.log_text()),
                   timeout=30, message="router and invoker assigned")
        pad = "x" * 4096
        events = [ce10("big.event", self.sp, data={"i": i, "pad": pad}) for i in range(2400)]
        results, lock, full = [], threading.Lock(), []

        def sender(share):
            for ev in share:
                try:
                    r = send_ce10(dev, ev, timeout=15)
                    st = r.status
                    if st == 503:
                        with lock:
                            full.append((r.headers.get("Retry-After"), r.body))
                except Exception as e:  # recorded, asserted below
                    st = repr(e)
                with lock:
                    results.append((ev["id"], st))

        threads = [threading.Thread(target=sender, args=(events[i::32],), daemon=True)
                   for i in range(32)]
        for t in threads:
            t.start()
        # The guard holds events: the log says so, and held events get their
        # 503 after 2 s.
        wait_until(lambda: "held until it catches up" in dev.log_text(), timeout=60,
                   message="the ingress holding events\n" + dev.log_tail())
        wait_until(lambda: full, timeout=30, message="a held event answered 503")
        backlog = dev.request("GET", "/v1/status").body["kafka"]["backlog"]
        self.assertEqual(backlog["limitBytes"], 5 * 1024 * 1024)
        self.assertTrue(backlog["holdingEvents"], backlog)
        self.assertGreater(backlog["worstPartitionBytes"], 0.5 * backlog["limitBytes"], backlog)
        release.set()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "senders still running")
        statuses = collections.Counter(st for _, st in results)
        self.assertEqual(set(statuses) - {202, 503}, set(), statuses)
        retry, body = full[0]
        self.assertEqual(retry, "1")
        self.assertIn("embedded Kafka is full", json.dumps(body))
        accepted = [i for i, st in results if st == 202]
        self.assertGreater(len(accepted), 1000, statuses)
        self.wait_all_delivered(fn, accepted, timeout=90)
        self.assertNotIn("Offset out of range", dev.log_text())


if __name__ == "__main__":
    unittest.main()
