"""Kafka faults injected with the embedded broker's own fault injection
(librdkafka's mock cluster, rdkafka_mock.h), driven through eg-fault-broker:
the broker goes down and comes back, requests fail, answers are delayed.

What must hold (issue 7, docs/contract.md section 4): while Kafka cannot take an event
the ingress answers 503 and never 202; every event that got a 202 is
delivered once Kafka is back; the router and the invoker resume on their own,
nobody restarts them.

Every test starts its own eg-fault-broker and one `event-gateway --brokers`
(all roles) joined to it; all are stopped by PID.
"""

import collections
import os
import queue
import subprocess
import threading
import time
import unittest

import json

from egtest import (Brokers, GatewayTestCase, add_sync_subscription, ce10, configure, kcat_command,
                    needs_embedded_broker, popen, send_ce10, sync_answer, wait_until)

TOOLS_DIR = os.environ.get("EG_TEST_TOOLS_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "tests")
INGEST_TIMEOUT_MS = 1500
DELIVERY_TIMEOUT = 60


class FaultBroker:
    """eg-fault-broker: the embedded broker in a process of its own; command()
    sends one line of its fault protocol and returns its answer."""

    def __init__(self):
        self.proc = popen([os.path.join(TOOLS_DIR, "eg-fault-broker"), "--partitions", "4"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, bufsize=1)
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self._line(10)
        if not first.startswith("brokers "):
            self.stop()
            raise AssertionError("eg-fault-broker did not start: %r" % first)
        self.brokers = Brokers(first.split()[1], mock=True)  # joined with --kafka-mock

    def _read(self):
        for line in self.proc.stdout:
            self._lines.put(line.strip())
        self._lines.put(None)

    def _line(self, timeout):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("eg-fault-broker did not answer within %ds" % timeout)
        if line is None:
            raise AssertionError("eg-fault-broker exited")
        return line

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self._line(10)
        if answer != "ok":
            raise AssertionError("eg-fault-broker %r: %s" % (line, answer))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


@needs_embedded_broker("faults are injected into it, in eg-fault-broker")
class KafkaFaultTest(GatewayTestCase):
    def setUp(self):
        self.sp = "kf-" + self._testMethodName.replace("test_", "")[:30].replace("_", "-")
        self.broker = FaultBroker()
        self.addCleanup(self.broker.stop)
        self.gw = self.start_gateway(brokers=self.broker.brokers, name="gateway",
                                     extra_args=["--ingest-timeout-ms", str(INGEST_TIMEOUT_MS)])
        self.fn = self.start_fn(name="sink")
        configure(self.gw, self.sp, eventtypes=["fault.event"], functions={"sink": self.fn.url},
                  subscriptions=[{"eventType": "fault.event", "functionId": "sink"}])
        # The whole path works before any fault.
        first = ce10("fault.event", self.sp, data={"warmup": True})
        self.assertStatus(send_ce10(self.gw, first, timeout=15), 202, "before any fault")
        self.fn.wait_for(lambda calls: first["id"] in {c.event_id() for c in calls}, timeout=30,
                         message="the first event delivered")

    def send(self, n, tag, timeout=15):
        """Sends n events one after another; returns [(event, status, seconds)]."""
        out = []
        for i in range(n):
            ev = ce10("fault.event", self.sp, data={tag: i})
            t0 = time.monotonic()
            try:
                st = send_ce10(self.gw, ev, timeout=timeout).status
            except Exception as e:  # recorded, asserted by the test
                st = repr(e)
            out.append((ev, st, time.monotonic() - t0))
        return out

    def assert_clean_exit(self):
        """After the fault, the gateway still leaves cleanly on SIGTERM."""
        t0 = time.monotonic()
        rc = self.gw.stop(timeout=10)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit status after SIGTERM (-9: killed after 10 s)\n" + self.gw.log_tail())
        print("\nSIGTERM to exit: %.2f s" % took)

    def assert_delivered(self, events, timeout=DELIVERY_TIMEOUT):
        want = {e["id"] for e in events}
        try:
            self.fn.wait_for(lambda calls: want <= {c.event_id() for c in calls}, timeout=timeout,
                             message="%d accepted events delivered" % len(want))
        except AssertionError:
            missing = want - set(self.fn.event_ids())
            self.fail("%d of %d accepted events never delivered (e.g. %s)"
                      % (len(missing), len(want), sorted(missing)[:3]))


class TestBrokerDown(KafkaFaultTest):
    def test_outage_under_load_503_then_recovery_delivers_every_202(self):
        """A steady load runs across an outage of the broker: every answer is 202
        or 503 (504 for a request in flight when it went), the outage gives 503s
        (never a 202), and once the broker is back
        every 202 is delivered without restarting any role."""
        results = []
        lock = threading.Lock()
        stop = threading.Event()

        def sender(k):
            i = 0
            while not stop.is_set():
                ev = ce10("fault.event", self.sp, data={"sender": k, "i": i})
                i += 1
                t0 = time.monotonic()
                try:
                    st = send_ce10(self.gw, ev, timeout=15).status
                except Exception as e:  # recorded, asserted below
                    st = repr(e)
                with lock:
                    results.append((ev, st, t0, time.monotonic()))
                time.sleep(0.02)  # pacing of the load, not synchronisation

        threads = [threading.Thread(target=sender, args=(k,), daemon=True) for k in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: sum(1 for r in results if r[1] == 202) >= 20, timeout=20,
                   message="20 events accepted before the outage")
        down_at = time.monotonic()
        self.broker.command("down")
        wait_until(lambda: sum(1 for r in results if r[1] == 503 and r[2] > down_at + 0.1) >= 4, timeout=30,
                   message="503 answers during the outage")
        up_at = time.monotonic()
        self.broker.command("up")
        wait_until(lambda: sum(1 for r in results if r[1] == 202 and r[2] > up_at) >= 20, timeout=45,
                   message="20 events accepted after the broker came back")
        stop.set()
        for t in threads:
            t.join(20)
        self.assertFalse(any(t.is_alive() for t in threads))

        # 504: the request had reached the broker when it went down; stored or not, nobody knows.
        odd = [(st, round(t1 - t0, 2)) for _, st, t0, t1 in results if st not in (202, 503, 504)]
        self.assertEqual(odd, [], "every answer is 202, 503 or 504")
        accepted = [ev for ev, st, _, _ in results if st == 202]
        refused = [ev for ev, st, _, _ in results if st == 503]
        # A request sent while the broker was down, answered before it came back, is never a 202.
        during = [st for _, st, t0, t1 in results if t0 > down_at + 0.1 and t1 < up_at]
        self.assertTrue(during, "requests were answered during the outage")
        self.assertNotIn(202, during, "a 202 while the broker was down")
        slow = [round(t1 - t0, 2) for _, st, t0, t1 in results
                if st == 503 and t1 - t0 > INGEST_TIMEOUT_MS / 1000.0 + 1.5]
        self.assertEqual(slow, [], "503 later than the ingest time-out allows")

        self.assert_delivered(accepted)
        # Nothing refused reaches a function: a 503 means the event is not in Kafka.
        self.fn.assert_quiet(1.0, self.fn.count())
        ghosts = {e["id"] for e in refused} & set(self.fn.event_ids())
        self.assertEqual(ghosts, set(), "events answered 503 were delivered")
        self.assertTrue(self.gw.alive())
        print("\noutage: %d accepted (all delivered), %d refused with 503, %d calls in all"
              % (len(accepted), len(refused), self.fn.count()))
        self.assert_clean_exit()

    def test_sigterm_while_the_broker_is_down_exits(self):
        """Kafka unreachable, the gateway still leaves on SIGTERM, in bounded
        time: consumers' closes and watermark lookups would otherwise wait on
        the broker for a minute and more (a close for ever)."""
        self.broker.command("down")
        time.sleep(2.0)  # clients notice: their connections fail
        self.assertTrue(self.gw.alive())
        t0 = time.monotonic()
        rc = self.gw.stop(timeout=30)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit status after SIGTERM with the broker down (-9: killed after "
                         "30 s)\n" + self.gw.log_tail())
        print("\nSIGTERM to exit with the broker down: %.2f s" % took)
        self.broker.command("up")


class TestRequestErrors(KafkaFaultTest):
    def run_with_errors(self, api, count, error, n=30):
        self.broker.command("errors %s %d %s" % (api, count, error))
        res = self.send(n, api)
        bad = [(st, round(dt, 2)) for _, st, dt in res if st != 202]
        self.assertEqual(bad, [], "every event accepted despite %d %s errors on %s" % (count, error, api))
        events = [ev for ev, _, _ in res]
        self.assert_delivered(events)
        self.fn.assert_quiet(1.0, self.fn.count())
        counts = collections.Counter(self.fn.event_ids())
        self.assert_clean_exit()
        return events, {i: c for i, c in counts.items() if c > 1 and i in {e["id"] for e in events}}

    def test_produce_errors_are_retried_without_duplicates(self):
        # Retriable produce errors: the idempotent producer retries them; no event twice.
        _, dups = self.run_with_errors("Produce", 5, "NOT_ENOUGH_REPLICAS")
        self.assertEqual(dups, {}, "events delivered twice after produce retries")

    def test_fetch_errors_consumers_resume(self):
        # The router's and the invoker's fetches fail for a while; both go on by themselves.
        self.run_with_errors("Fetch", 10, "NOT_LEADER_FOR_PARTITION")

    def test_transaction_errors_router_recovers_without_duplicates(self):
        # The router's fan-out transaction fails to commit: it aborts, rewinds
        # and fans out again; what reaches the function is each event once.
        _, dups = self.run_with_errors("EndTxn", 3, "NOT_COORDINATOR")
        self.assertEqual(dups, {}, "events delivered twice after a failed transaction")

    def test_aborted_fan_outs_send_each_sync_invocation_once(self):
        """The router's transactions abort (AddOffsetsToTxn refused: the
        error requires an abort), so it reads their events again and routes
        them again: the async fan-out goes into a new transaction, but a sync
        invocation, written at once outside the transaction, went out already
        and is not written a second time (the sync function would be called
        twice for one request)."""
        sync_fn = self.start_fn(name="syncfn", respond=lambda call: (
            200, None, sync_answer(200, body="sync:" + str(call.event_id()))))
        configure(self.gw, self.sp, eventtypes=["sync.event"],
                  functions={"syncfn": sync_fn.url},
                  subscriptions=[{"eventType": "sync.event", "functionId": "sink"}])
        add_sync_subscription(self.gw, self.sp, "sync.event", "syncfn")
        wait_until(lambda: send_ce10(self.gw, ce10("sync.event", self.sp, data={})).status == 200,
                   timeout=30, interval=0.2, message="a sync event answered 200")
        self.broker.command("errors AddOffsetsToTxn 6 GROUP_AUTHORIZATION_FAILED")
        events = [ce10("sync.event", self.sp, data={"i": i}) for i in range(6)]
        answers = [send_ce10(self.gw, ev, timeout=15) for ev in events]
        self.assertEqual([(a.status, a.body) for a in answers],
                         [(200, "sync:" + ev["id"]) for ev in events], "each request its own answer")
        self.assert_delivered(events)  # the async subscription, after the aborts
        self.assertIn("the transaction is aborted", self.gw.log_text(), "the fault made aborts")
        # The embedded broker hides no aborted record, and sync invocations are
        # in no transaction: every record of the sync topic counts.
        p = subprocess.run(kcat_command(self.broker.brokers, "-C", "-t", "eg.invoke.default.sync",
                                        "-e", "-J", "-q"), capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, "kcat: %s" % p.stderr)
        written = collections.Counter()
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                h = json.loads(line).get("headers") or []
                written[dict(zip(h[0::2], h[1::2])).get("eg-event-id")] += 1
        mine = {ev["id"] for ev in events}
        self.assertEqual({i: n for i, n in written.items() if i in mine}, {i: 1 for i in mine},
                         "sync invocations written per event")
        print("\n%d sync requests across aborted fan-outs: each invocation written once" % len(events))
        self.assert_clean_exit()

    def test_offset_commit_errors_invoker_resumes(self):
        self.run_with_errors("OffsetCommit", 5, "REQUEST_TIMED_OUT")


class TestLatency(KafkaFaultTest):
    def test_added_latency_slows_but_loses_nothing(self):
        rtt = 300
        self.broker.command("rtt %d" % rtt)
        res = self.send(10, "slow")
        self.broker.command("rtt 0")
        bad = [(st, round(dt, 2)) for _, st, dt in res if st != 202]
        self.assertEqual(bad, [], "every event accepted within the ingest time-out")
        took = sorted(dt for _, _, dt in res)
        self.assertGreaterEqual(took[len(took) // 2], rtt / 1000.0 * 0.9,
                                "the injected latency shows in the answers")
        self.assert_delivered([ev for ev, _, _ in res])
        print("\nwith %d ms broker latency: answers in %.2f s (median), %.2f s (max)"
              % (rtt, took[len(took) // 2], took[-1]))
        self.assert_clean_exit()


if __name__ == "__main__":
    unittest.main()
