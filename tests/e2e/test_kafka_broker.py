"""Real faults on an Apache Kafka broker of the test's own (scripts/kafka.sh,
egtest.KafkaCluster): stopped, killed with SIGKILL or frozen with SIGSTOP
under load, and a SIGTERM to the gateway while it is down.

What must hold (docs/contract.md section 4): while Kafka cannot take an event the
ingress answers 503 (or 504 when the event may have been stored), never 202;
no event answered 503 is delivered; every 202 is delivered at least once,
without restarting any role.

These run in `make test-kafka` (the real-Kafka half of `make test`); on the
embedded broker's half they are skipped (needs_real_kafka). The mock's own
fault injection (request errors, added latency) stays in
test_kafka_faults.py, which runs on the embedded broker's half.
"""

import collections
import time
import unittest

from egtest import ce10, needs_real_kafka, send_ce10, wait_until
from realkafka import Load, RealKafkaTest


@needs_real_kafka("it stops, kills and freezes a broker of its own")
class TestBrokerFaults(RealKafkaTest):
    def outage(self, down, up, strict_503=True):
        """A steady load runs across an outage made by down(), ended by up():
        every answer is 202, 503 or 504, requests answered during the outage
        are not 202, no event answered 503 is delivered, and every 202 is
        delivered without restarting any role."""
        load = Load(self, self.gw, self.event)
        wait_until(lambda: load.count(202) >= 20, timeout=20, message="20 events accepted before the fault")
        down_at = time.monotonic()
        down()
        # A broker stopped in order keeps serving through its shutdown (seconds
        # under load): it is down once down() returns (the process is gone,
        # or frozen), and a request sent from then on cannot be stored.
        down_done = time.monotonic()
        wait_until(lambda: load.count(503, after=down_done) + load.count(504, after=down_done) >= 4,
                   timeout=60, message="503 or 504 answers during the outage")
        up_at = time.monotonic()
        up()
        back_at = time.monotonic()
        wait_until(lambda: load.count(202, after=back_at) >= 20, timeout=90,
                   message="20 events accepted after the broker came back")
        results = load.stop()
        # 504: the request reached a broker that did not answer in time, so the
        # event may or may not be stored (docs/contract.md section 4); it is neither
        # promised nor refused
        odd = [(st, round(t1 - t0, 2)) for _, st, t0, t1, _ in results if st not in (202, 503, 504)]
        self.assertEqual(odd, [], "every answer is 202, 503 or 504")
        accepted = [ev for ev, st, _, _, _ in results if st == 202]
        refused = [ev for ev, st, _, _, _ in results if st == 503]
        during = [st for _, st, t0, t1, _ in results if t0 > down_done and t1 < up_at]
        self.assertTrue(during, "requests were answered during the outage")
        self.assertNotIn(202, during, "a 202 while the broker was down")
        took = self.assert_delivered(self.fn, accepted)
        self.fn.assert_quiet(1.0, self.fn.count())
        ghosts = {e["id"] for e in refused} & set(self.fn.event_ids())
        if strict_503:
            self.assertEqual(ghosts, set(), "events answered 503 were delivered")
        self.assert_not_restarted()
        dups = sum(n - 1 for n in collections.Counter(self.fn.event_ids()).values())
        unsure = sum(1 for _, st, _, _, _ in results if st == 504)
        print("\nbroker down in %.1f s; outage of %.1f s: %d accepted (all delivered, the last %.1f s after the load), "
              "%d refused with 503 (%d of them stored all the same), %d answered 504, "
              "%d duplicate call(s)"
              % (down_done - down_at, up_at - down_done, len(accepted), took, len(refused), len(ghosts), unsure, dups))
        self.assert_clean_exit()

    def test_broker_stopped_under_load(self):
        # Known gap (docs/contract.md section 4): a broker stopped in order (SIGTERM)
        # can write an event whose produce request librdkafka 2.0.2 then
        # reports as never persisted; that event's 503 is wrong (seen once in
        # several runs). Counted and printed here, asserted for the others.
        self.outage(lambda: self.kafka.stop(1), lambda: self.kafka.start(1), strict_503=False)

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
        self.gw.stop(timeout=30)
        rc = self.gw.exit_status()
        self.assertEqual(rc, 0, "exit status after SIGTERM with the broker down (-9: killed after 30 s)\n"
                         + self.gw.log_tail())
        print("\nSIGTERM to exit with the broker down: %.2f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    unittest.main()
