"""What a process checks and sets on its Kafka cluster at start-up.

(a) Topics it depends on (issue 17, 3.5): a configuration log or a replays
    topic that is not compacted would lose records; the process refuses to
    start and says which topic, what it has and what it needs. A topic with
    one replica on several brokers is logged as a warning. Topics it creates
    on several brokers get min.insync.replicas = 2 of their own.
(b) The mock cluster is told, never guessed (3.10): a process joined to
    librdkafka's mock cluster from outside gets its tuning only with
    --kafka-mock; without it, even a cluster whose metadata looks like the
    mock's (eg-fault-broker) is a cluster like any other, and with it any
    cluster is tuned as the mock (/v1/status kafka.mock says which).
"""

from egtest import (Brokers, GatewayTestCase, create_topic, needs_real_kafka, new_external_cluster, topic,
                    topic_configs, wait_until)
from test_kafka_faults import FaultBroker

MOCK_LINE = "librdkafka's mock cluster"


@needs_real_kafka("CreateTopics and DescribeConfigs of a real broker")
class TestTopicChecks(GatewayTestCase):
    def refused(self, brokers, name):
        """Starts an eg-ingress on brokers and returns its log once it has
        exited (it must, within 60 s, with a non-zero status)."""
        g = self.start_gateway("eg-ingress", brokers=brokers, name=name, wait=False)
        try:
            wait_until(lambda: not g.alive(), timeout=60, message="%s to refuse to start" % name)
        except AssertionError:
            self.fail("%s is running on a topic it should have refused:\n%s" % (name, g.log_tail()))
        self.assertNotEqual(g.proc.returncode, 0, g.log_tail())
        return g.log_text()

    def test_config_topic_not_compacted_is_refused(self):
        b = new_external_cluster()
        create_topic(b, topic(b, "config"), 1, {"cleanup.policy": "delete"})
        log = self.refused(b, "ingress-delete")
        self.assertIn("topic %s has cleanup.policy=delete where the gateway needs "
                      "cleanup.policy=compact" % topic(b, "config"), log)
        self.assertIn("configuration log loses its oldest records", log)
        self.assertNotIn("running (Kafka", log)

    def test_replays_topic_compacted_and_deleted_is_refused(self):
        b = new_external_cluster()
        create_topic(b, topic(b, "replays"), 2, {"cleanup.policy": "compact,delete"})
        log = self.refused(b, "ingress-replays")
        self.assertIn("topic %s has cleanup.policy=compact,delete where the gateway needs "
                      "cleanup.policy=compact" % topic(b, "replays"), log)

    def test_compacted_topics_pass_and_are_left_as_they_are(self):
        b = new_external_cluster()
        create_topic(b, topic(b, "config"), 1, {"cleanup.policy": "compact", "segment.ms": "600000"})
        g = self.start_gateway("eg-ingress", brokers=b, name="ingress-compact")
        self.assertNotIn("where the gateway needs", g.log_text())
        self.assertEqual(topic_configs(b, topic(b, "config")), {"cleanup.policy": "compact", "segment.ms": "600000"})

    def test_three_brokers_replication_warning_and_min_insync(self):
        k = self.start_kafka(3)
        # --replication-factor 1 on three brokers: a warning per topic
        one = Brokers(k.brokers, "rf1.")
        g1 = self.start_gateway("eg-ingress", brokers=one, name="ingress-rf1",
                                extra_args=["--replication-factor", "1"])
        log = g1.log_text()
        for name in ["config", "events", "replays"]:
            with self.subTest("warning", topic=name):
                self.assertIn("topic %s has replication factor 1 on a cluster of 3 brokers" % topic(one, name), log)
        # one replica: nothing to wait for, min.insync.replicas is not the gateway's business
        self.assertNotIn("min.insync.replicas", topic_configs(one, topic(one, "events")))

        # the brokers' default factor (3 here) and an explicit 2: min.insync.replicas 2 on each topic
        for prefix, args in [("rfdef.", []), ("rf2.", ["--replication-factor", "2"])]:
            b = Brokers(k.brokers, prefix)
            g = self.start_gateway("eg-ingress", brokers=b, name="ingress-" + prefix.rstrip("."), extra_args=args)
            self.assertNotIn("has replication factor 1", g.log_text())
            for name in ["config", "events", "dlq", "invoke.default.async", "invoke.default.sync",
                         "invoke.default.overflow", "replays"]:
                with self.subTest(prefix=prefix, topic=name):
                    isr = topic_configs(b, topic(b, name), sources=True)["min.insync.replicas"]
                    self.assertEqual((isr["value"], isr["source"]), ("2", "DYNAMIC_TOPIC_CONFIG"),
                                     "%s: min.insync.replicas must be the topic's own" % topic(b, name))
            # the configuration log still works with it
            self.assertStatus(g.request("POST", "/v1/spaces/default/eventtypes", body={"name": "ev"}), 201)


class TestMockIsTold(GatewayTestCase):
    def test_a_cluster_that_looks_like_the_mock_is_not_taken_for_it(self):
        """eg-fault-broker's metadata is the mock's (it names a controller that
        is none of its brokers): only --kafka-mock gets the mock's tuning."""
        fb = FaultBroker()
        self.addCleanup(fb.stop)
        plain = self.start_gateway("eg-ingress", brokers=Brokers(str(fb.brokers)), name="ingress-untold")
        self.assertNotIn(MOCK_LINE, plain.log_text())
        self.assertIs(plain.status["kafka"].get("mock"), False, plain.status)

        told = self.start_gateway("eg-ingress", brokers=Brokers(str(fb.brokers), mock=True), name="ingress-told")
        self.assertIn("--kafka-mock", told.command())
        self.assertIn(MOCK_LINE, told.log_text())
        self.assertIs(told.status["kafka"].get("mock"), True, told.status)

    def test_the_flag_decides_on_any_cluster(self):
        """On this run's cluster (the embedded broker, or a real Kafka under
        EG_TEST_BROKERS): a process joined without the flag is not tuned for
        the mock, one with it is, whatever the cluster is."""
        gw = self.start_gateway(name="gw")
        real = not gw.status["kafka"]["embedded"] and not gw.brokers.mock
        untold = self.start_gateway("eg-ingress", brokers=Brokers(gw.brokers, gw.brokers.prefix),
                                    name="ingress-untold")
        self.assertIs(untold.status["kafka"]["mock"], False)
        told = self.start_gateway("eg-ingress", brokers=Brokers(gw.brokers, gw.brokers.prefix, mock=True),
                                  name="ingress-told")
        self.assertIs(told.status["kafka"]["mock"], True)
        if real:
            self.assertIs(gw.status["kafka"]["mock"], False, "a real cluster is never the mock untold")
