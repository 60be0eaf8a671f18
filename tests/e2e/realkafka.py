"""What the real-Kafka fault tests share (test_kafka_broker.py,
test_kafka_cluster.py): a paced load, and a test case with a cluster of its
own, a gateway on it and a function subscribed to "fault.event"."""

import collections
import json
import subprocess
import threading
import time

from egtest import GatewayTestCase, ce10, configure, kcat_command, send_ce10

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
    # Brokers stopped, killed or frozen can leave a TxnOffsetCommit pending in
    # a router producer when it is destroyed (egtest.librdkafka_txn_leak).
    LIBRDKAFKA_TXN_LEAK_OK = True

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
        self.gw.stop(timeout=20)
        rc = self.gw.exit_status()
        self.assertEqual(rc, 0, "exit status after SIGTERM (-9: killed after 20 s)\n" + self.gw.log_tail())
        print("SIGTERM to exit: %.2f s" % (time.monotonic() - t0))

    def fan_outs(self, topic_name):
        """(event id, subscription) -> the committed invocation records of that
        pair in topic_name as (partition, offset, timestamp), read with
        read_committed (aborted fan-outs do not count)."""
        p = subprocess.run(kcat_command(self.kafka.brokers, "-C", "-t", topic_name, "-e", "-J", "-q",
                                        "-X", "isolation.level=read_committed"),
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, "kcat: %s" % p.stderr)
        pairs = collections.defaultdict(list)
        for line in p.stdout.splitlines():
            if not line.startswith("{"):
                continue
            rec = json.loads(line)
            h = rec.get("headers") or []
            hd = dict(zip(h[0::2], h[1::2]))
            pairs[(hd.get("eg-event-id"), hd.get("eg-subscription"))].append(
                (rec.get("partition"), rec.get("offset"), rec.get("ts")))
        return pairs


def java_string_hash(s):
    """Java's String.hashCode (Kafka places a transactional id on the
    __transaction_state partition Utils.abs(hashCode) % partitions)."""
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


