"""Apache Kafka clusters of the test's own: three nodes (scripts/kafka.sh,
egtest.KafkaCluster) of which the broker that leads the events topic, or the
router's transaction coordinator, is killed with SIGKILL under a paced load
of sync and async events; and a backlog kept, not held, on one node.

What must hold (docs/contract.md section 4): every 202 is delivered at least once; a
sync answer belongs to its own event; no (event, subscription) pair is fanned
out twice (the invocation topics read with read_committed); no role is
restarted. Run in `make test-kafka`; skipped on the embedded broker's half.
"""

import collections
import re
import threading
import time
import unittest

from egtest import (GatewayTestCase, add_sync_subscription, ce10, configure, needs_real_kafka,
                    send_ce10, sync_answer, wait_until)
from realkafka import Load, RealKafkaTest, java_string_hash


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
            total += sum(len(recs) for recs in pairs.values())
            twice.update({(t,) + k: recs for k, recs in pairs.items() if len(recs) > 1})
        print("\nnode %d killed %.1f s into the load: %d async events accepted (%d refused: %s), "
              "%d sync answers 200 (others: %s); every 202 delivered within %.1f s of the load's end; "
              "%d committed invocation records, %d pair(s) fanned out more than once"
              % (victim, killed_at - t0, len(accepted), len(refused),
                 dict(collections.Counter(map(str, refused))), len(synced), dict(other_sync), took,
                 total, len(twice)))
        self.assertEqual(twice, {}, "(event, subscription) pairs fanned out more than once: "
                         "(topic, event, subscription): [(partition, offset, time)]")
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
