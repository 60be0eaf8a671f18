"""Real faults on Apache Kafka clusters of the tests' own (scripts/kafka.sh,
egtest.KafkaCluster): a broker stopped, killed with SIGKILL or frozen with
SIGSTOP under load; on a cluster of three nodes, the broker that leads the
events topic's partitions and the router's transaction coordinator killed
with SIGKILL under a paced load of sync and async events.

What must hold (CONTRACT section 4): while Kafka cannot take an event the
ingress answers 503, never 202; every 202 is delivered at least once; no
(event, subscription) pair is fanned out twice (the invocation topics read
with read_committed); no role is restarted.

These run in `make test-kafka` (the real-Kafka half of `make test`); on the
embedded broker's half they are skipped (needs_real_kafka). The mock's own
fault injection (request errors, added latency) stays in
test_kafka_faults.py, which runs on the embedded broker's half.
"""

import collections
import re
import threading
import time
import unittest

from egtest import (GatewayTestCase, add_sync_subscription, ce10, configure, gw_event, kcat_command,
                    needs_real_kafka, send_ce10, sync_answer, wait_sync_ready, wait_until)
import json
import subprocess

INGEST_TIMEOUT_MS = 1500
DELIVERY_TIMEOUT = 90


class Load:
    """Paced senders: `threads` threads each sending one event every `gap`
    seconds until stop(); results are (event, status or exception text, t0, t1)."""

    def __init__(self, test, gw, make_event, threads=4, gap=0.02, send=send_ce10):
        self.results = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.test = test

        def sender(k):
            i = 0
            while not self._stop.is_set():
                ev = make_event(k, i)
                i += 1
                t0 = time.monotonic()
                try:
                    r = send(gw, ev, timeout=15)
                    st = r.status
                except Exception as e:  # recorded, asserted by the test
                    r, st = None, repr(e)
                with self._lock:
                    self.results.append((ev, st, t0, time.monotonic(), r))
                time.sleep(gap)  # pacing of the load, not synchronisation

        for k in range(threads):
            t = threading.Thread(target=sender, args=(k,), daemon=True)
            t.start()
            self._threads.append(t)

    def count(self, status, after=0.0):
        with self._lock:
            return sum(1 for r in self.results if r[1] == status and r[2] > after)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)
        self.test.assertFalse(any(t.is_alive() for t in self._threads), "senders still running")
        return list(self.results)


class RealKafkaTest(GatewayTestCase):
    NODES = 1
    GATEWAY_ARGS = ["--ingest-timeout-ms", str(INGEST_TIMEOUT_MS)]

    def setUp(self):
        self.sp = "rk-" + self._testMethodName.replace("test_", "")[:30].replace("_", "-")
        self.kafka = self.start_kafka(self.NODES)
        self.gw = self.start_gateway(brokers=self.kafka.brokers, name="gateway",
                                     extra_args=list(self.GATEWAY_ARGS))
        self.pid = self.gw.pid
        self.fn = self.start_fn(name="sink")
        configure(self.gw, self.sp, eventtypes=["fault.event"], functions={"sink": self.fn.url},
                  subscriptions=[{"eventType": "fault.event", "functionId": "sink"}])
        first = ce10("fault.event", self.sp, data={"warmup": True})
        self.assertStatus(send_ce10(self.gw, first, timeout=15), 202, "before any fault")
        self.fn.wait_for(lambda calls: first["id"] in {c.event_id() for c in calls}, timeout=30,
                         message="the first event delivered")

    def event(self, k, i):
        return ce10("fault.event", self.sp, data={"sender": k, "i": i})

    def assert_delivered(self, fn, events, timeout=DELIVERY_TIMEOUT):
        want = {e["id"] for e in events}
        t0 = time.monotonic()
        try:
            fn.wait_for(lambda calls: want <= {c.event_id() for c in calls}, timeout=timeout,
                        message="%d accepted events delivered" % len(want))
        except AssertionError:
            missing = want - set(fn.event_ids())
            self.fail("%d of %d accepted events never delivered (e.g. %s)"
                      % (len(missing), len(want), sorted(missing)[:3]))
        return time.monotonic() - t0

    def assert_not_restarted(self):
        self.assertTrue(self.gw.alive(), "the gateway died\n" + self.gw.log_tail())
        self.assertEqual(self.gw.pid, self.pid, "the gateway was restarted")

    def assert_clean_exit(self):
        t0 = time.monotonic()
        rc = self.gw.stop(timeout=20)
        self.assertEqual(rc, 0, "exit status after SIGTERM (-9: killed after 20 s)\n" + self.gw.log_tail())
        print("SIGTERM to exit: %.2f s" % (time.monotonic() - t0))

    def fan_outs(self, topic_name):
        """(event id, subscription) -> number of committed invocation records in
        topic_name, read with read_committed (aborted fan-outs do not count)."""
        p = subprocess.run(kcat_command(self.kafka.brokers, "-C", "-t", topic_name, "-e", "-J", "-q",
                                        "-X", "isolation.level=read_committed"),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, "kcat: %s" % p.stderr)
        pairs = collections.Counter()
        for line in p.stdout.splitlines():
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            h = rec.get("headers") or []
            hd = dict(zip(h[0::2], h[1::2]))
            pairs[(hd.get("eg-event-id"), hd.get("eg-subscription"))] += 1
        return pairs


@needs_real_kafka("it stops, kills and freezes a broker of its own")
class TestBrokerFaults(RealKafkaTest):
    def outage(self, down, up):
        """A steady load runs across an outage made by down(), ended by up():
        every answer is 202, 503 or 504, requests answered during the outage
        are not 202, no event answered 503 is delivered, and every 202 is
        delivered without restarting any role."""
        load = Load(self, self.gw, self.event)
        wait_until(lambda: load.count(202) >= 20, timeout=20, message="20 events accepted before the fault")
        down_at = time.monotonic()
        down()
        wait_until(lambda: load.count(503, after=down_at + 0.5) + load.count(504, after=down_at + 0.5) >= 4,
                   timeout=60, message="503 or 504 answers during the outage")
        up_at = time.monotonic()
        up()
        back_at = time.monotonic()
        wait_until(lambda: load.count(202, after=back_at) >= 20, timeout=90,
                   message="20 events accepted after the broker came back")
        results = load.stop()
        # 504: the request reached a broker that did not answer in time, so the
        # event may or may not be stored (README, Events API); it is neither
        # promised nor refused
        odd = [(st, round(t1 - t0, 2)) for _, st, t0, t1, _ in results if st not in (202, 503, 504)]
        self.assertEqual(odd, [], "every answer is 202, 503 or 504")
        accepted = [ev for ev, st, _, _, _ in results if st == 202]
        refused = [ev for ev, st, _, _, _ in results if st == 503]
        during = [st for _, st, t0, t1, _ in results if t0 > down_at + 0.5 and t1 < up_at]
        self.assertTrue(during, "requests were answered during the outage")
        self.assertNotIn(202, during, "a 202 while the broker was down")
        took = self.assert_delivered(self.fn, accepted)
        self.fn.assert_quiet(1.0, self.fn.count())
        ghosts = {e["id"] for e in refused} & set(self.fn.event_ids())
        self.assertEqual(ghosts, set(), "events answered 503 were delivered")
        self.assert_not_restarted()
        dups = sum(n - 1 for n in collections.Counter(self.fn.event_ids()).values())
        unsure = sum(1 for _, st, _, _, _ in results if st == 504)
        print("\noutage of %.1f s: %d accepted (all delivered, the last %.1f s after the load), "
              "%d refused with 503, %d answered 504, %d duplicate call(s)"
              % (up_at - down_at, len(accepted), took, len(refused), unsure, dups))
        self.assert_clean_exit()

    def test_broker_stopped_under_load(self):
        self.outage(lambda: self.kafka.stop(1), lambda: self.kafka.start(1))

    def test_broker_killed_under_load(self):
        self.outage(lambda: self.kafka.kill(1), lambda: self.kafka.start(1))

    def test_broker_frozen_under_load(self):
        """SIGSTOP: connections stay open and nothing answers (a hung broker,
        a network partition): the same promises as an outage."""
        self.outage(lambda: self.kafka.pause(1), lambda: self.kafka.resume(1))

    def test_sigterm_while_the_broker_is_down_exits(self):
        """Kafka unreachable, the gateway still leaves on SIGTERM in bounded
        time (consumers' closes would otherwise wait on the broker)."""
        self.kafka.stop(1)
        r = send_ce10(self.gw, ce10("fault.event", self.sp, data={}), timeout=15)
        self.assertError(r, 503)
        self.assertTrue(self.gw.alive())
        t0 = time.monotonic()
        rc = self.gw.stop(timeout=30)
        self.assertEqual(rc, 0, "exit status after SIGTERM with the broker down (-9: killed after 30 s)\n"
                         + self.gw.log_tail())
        print("\nSIGTERM to exit with the broker down: %.2f s" % (time.monotonic() - t0))


@needs_real_kafka("the counterpart of the embedded broker's 5 MB bound")
class TestNoBoundOnKafka(GatewayTestCase):
    def test_a_backlog_is_kept_not_held(self):
        """Kafka keeps what it was given (retention, not a bound per
        partition): with one partition and a function that answers nothing
        until released, 2,400 events of 4 KB all get 202 at once (the
        embedded broker's backlog guard never holds on a real cluster), and
        every one is delivered once the function answers."""
        kafka = self.start_kafka(1)
        gw = self.start_gateway(brokers=kafka.brokers, name="gateway",
                                extra_args=["--partitions", "1", "--ingest-timeout-ms", "2000",
                                            "--function-timeout-ms", "60000"])
        sp = "rk-backlog"
        fn, release = self.start_held_fn()
        configure(gw, sp, eventtypes=["big.event"],
                  functions={"held": {"type": "http", "provider": {"url": fn.url}}},
                  subscriptions=[{"eventType": "big.event", "functionId": "held"}])
        pad = "x" * 4096
        events = [ce10("big.event", sp, data={"i": i, "pad": pad}) for i in range(2400)]
        results, lock = [], threading.Lock()

        def sender(share):
            for ev in share:
                try:
                    st = send_ce10(gw, ev, timeout=15).status
                except Exception as e:  # recorded, asserted below
                    st = repr(e)
                with lock:
                    results.append((ev["id"], st))

        threads = [threading.Thread(target=sender, args=(events[i::16],), daemon=True) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(any(t.is_alive() for t in threads), "senders still running")
        statuses = collections.Counter(st for _, st in results)
        self.assertEqual(statuses, {202: len(events)}, "every event accepted while the function holds")
        self.assertNotIn("held until it catches up", gw.log_text())
        self.assertNotIn("backlog", gw.request("GET", "/v1/status").body["kafka"])
        release.set()
        want = {e["id"] for e in events}
        fn.wait_for(lambda calls: want <= {c.event_id() for c in calls}, timeout=120,
                    message="all %d events delivered" % len(want))


def java_string_hash(s):
    """Java's String.hashCode (Kafka places a transactional id on the
    __transaction_state partition Utils.abs(hashCode) % partitions)."""
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


@needs_real_kafka("a cluster of three nodes of its own, one killed")
class TestThreeNodes(RealKafkaTest):
    """Three nodes, replication factor 3, min.insync.replicas 2: one node
    killed with SIGKILL under a paced load of async events and sync requests
    (whose event also has an async subscription)."""
    NODES = 3
    GATEWAY_ARGS = ["--ingest-timeout-ms", "5000", "--sync-timeout-ms", "5000"]
    BEFORE = 300   # async events accepted before the kill
    AFTER = 600    # and after it

    def run_kill(self, victim_of):
        sync_fn = self.start_fn(name="syncfn", respond=lambda call: (
            200, None, sync_answer(200, body="sync:" + str(call.event_id()))))
        sink2 = self.start_fn(name="sink2")
        configure(self.gw, self.sp, eventtypes=["sync.event"],
                  functions={"syncfn": sync_fn.url, "sink2": sink2.url},
                  subscriptions=[{"eventType": "sync.event", "functionId": "sink2"}])
        add_sync_subscription(self.gw, self.sp, "sync.event", "syncfn")
        wait_until(lambda: send_ce10(self.gw, ce10("sync.event", self.sp, data={})).status == 200,
                   timeout=30, interval=0.2, message="a sync event answered 200")
        async_load = Load(self, self.gw, self.event, threads=3, gap=0.03)
        sync_load = Load(self, self.gw, lambda k, i: ce10("sync.event", self.sp, data={"k": k, "i": i}),
                         threads=2, gap=0.03)
        t0 = time.monotonic()
        wait_until(lambda: async_load.count(202) >= self.BEFORE, timeout=60,
                   message="%d events accepted before the kill" % self.BEFORE)
        victim = victim_of()
        self.assertIsNotNone(victim, "no node to kill")
        killed_at = time.monotonic()
        self.kafka.kill(victim)
        wait_until(lambda: async_load.count(202, after=killed_at) >= self.AFTER, timeout=120,
                   message="%d events accepted after the kill" % self.AFTER)
        a = async_load.stop()
        s = sync_load.stop()
        accepted = [ev for ev, st, _, _, _ in a if st == 202]
        refused = [st for _, st, _, _, _ in a if st != 202]
        synced = [(ev, r) for ev, st, _, _, r in s if st == 200]
        other_sync = collections.Counter(str(st) for _, st, _, _, _ in s if st != 200)
        # A sync answer is the function's answer to that very event.
        wrong = [ev["id"] for ev, r in synced if r.body != "sync:" + ev["id"]]
        self.assertEqual(wrong, [], "sync answers that belong to another event")
        took = self.assert_delivered(self.fn, accepted)
        self.assert_delivered(sink2, [ev for ev, _ in synced])
        self.assert_not_restarted()
        # Fanned out once: count the committed invocation records per (event, subscription).
        prefix = "eg."
        twice = {}
        total = 0
        for t in ("invoke.default.async", "invoke.default.sync"):
            pairs = self.fan_outs(prefix + t)
            total += sum(pairs.values())
            twice.update({k: n for k, n in pairs.items() if n > 1})
        print("\nnode %d killed %.1f s into the load: %d async events accepted (%d refused: %s), "
              "%d sync answers 200 (others: %s); every 202 delivered within %.1f s of the load's end; "
              "%d committed invocation records, %d pair(s) fanned out more than once"
              % (victim, killed_at - t0, len(accepted), len(refused),
                 dict(collections.Counter(map(str, refused))), len(synced), dict(other_sync), took,
                 total, len(twice)))
        self.assertEqual(twice, {}, "(event, subscription) pairs fanned out more than once")
        self.assertGreaterEqual(len(synced), 20, "sync requests went through")

    def events_leader(self):
        """The node that leads most partitions of the events topic."""
        leaders = collections.Counter(self.kafka.leader("eg.events", p) for p in range(8))
        leaders.pop(None, None)
        return leaders.most_common(1)[0][0] if leaders else None

    def coordinator(self):
        """The node that leads the __transaction_state partition of the
        router's transactional id (the first one its log names)."""
        m = re.search(r"transactional id (\S+?)\)", self.gw.log_text())
        self.assertIsNotNone(m, "the router's log names no transactional id")
        tid = m.group(1)
        h = java_string_hash(tid)
        part = (0 if h == -(1 << 31) else abs(h)) % 8  # Kafka's Utils.abs; 8 partitions (scripts/kafka.sh)
        return self.kafka.leader("__transaction_state", part)

    def test_kill_the_events_leader(self):
        self.run_kill(self.events_leader)

    def test_kill_the_transaction_coordinator(self):
        self.run_kill(self.coordinator)


if __name__ == "__main__":
    unittest.main()
