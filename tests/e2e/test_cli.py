"""Command lines of the four binaries: --help, --version, bad flags, missing
brokers, port in use, SIGTERM."""

import os
import re
import socket
import time
import unittest

from egtest import BIN_DIR, GatewayTestCase, binary, dev_args, free_port, run_binary, scaled

RUN_TIMEOUT = 15

COMMON = ["--brokers", "--kafka", "--kafka-mock", "--topic-prefix", "--log-level", "--log-format", "--instance-id", "--help",
          "--version"]
HTTP = ["--events-port", "--config-port", "--listen", "--max-body-bytes"]
FLAGS = {
    "event-gateway": COMMON + HTTP + ["--dev", "--embed-data-dir"],
    "eg-ingress": COMMON + HTTP,
    "eg-router": COMMON + ["--status-port", "--listen"],
    "eg-invoker": COMMON + ["--status-port", "--listen"],
}
NOT_FLAGS = {
    "eg-ingress": ["--dev", "--status-port"],
    "eg-router": ["--dev", "--config-port", "--events-port"],
    "eg-invoker": ["--dev", "--config-port", "--events-port"],
}


def run(name, *args, env=None, timeout=RUN_TIMEOUT):
    return run_binary(name, args, timeout, env=env)


class TestCLI(GatewayTestCase):
    def describe(self, p):
        return "exit %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            p.returncode, p.stdout.decode(errors="replace")[-2000:], p.stderr.decode(errors="replace")[-2000:])

    def test_binaries_exist(self):
        for name in FLAGS:
            self.assertTrue(os.access(binary(name), os.X_OK), "%s missing in %s (build first)" % (name, BIN_DIR))

    def test_help(self):
        for name, flags in FLAGS.items():
            for arg in ["--help", "-h"]:
                with self.subTest(binary=name, arg=arg):
                    p = run(name, arg)
                    self.assertEqual(p.returncode, 0, self.describe(p))
                    out = p.stdout.decode()
                    self.assertIn("Usage", out)
                    self.assertIn(name, out)
                    for flag in flags:
                        self.assertRegex(out, r"(^|\s)%s\b" % re.escape(flag), "%s --help lacks %s" % (name, flag))
                    for flag in NOT_FLAGS.get(name, []):
                        self.assertNotRegex(out, r"(^|\s)%s\b" % re.escape(flag),
                                            "%s --help lists %s, which it does not take" % (name, flag))
                    self.assertEqual(p.stderr, b"", "help goes to stdout only")

    def test_help_wins_over_bad_flags(self):
        p = run("event-gateway", "--config-port", "70000", "--help")
        self.assertEqual(p.returncode, 0, self.describe(p))

    def test_version(self):
        for name in FLAGS:
            with self.subTest(binary=name):
                p = run(name, "--version")
                self.assertEqual(p.returncode, 0, self.describe(p))
                out = p.stdout.decode()
                self.assertIn(name, out)
                self.assertRegex(out, r"\d+\.\d+\.\d+")

    def assertUsageError(self, p, *fragments):
        self.assertEqual(p.returncode, 2, self.describe(p))
        err = p.stderr.decode(errors="replace")
        self.assertTrue(err.strip(), "a usage error needs a message on stderr\n" + self.describe(p))
        for f in fragments:
            self.assertIn(f, err, self.describe(p))
        self.assertEqual(p.stdout, b"", "nothing on stdout for a usage error\n" + self.describe(p))

    def test_unknown_flag(self):
        for name in FLAGS:
            with self.subTest(binary=name):
                self.assertUsageError(run(name, "--bogus-flag"), "--bogus-flag")
                self.assertUsageError(run(name, "-x"), "-x")
                self.assertUsageError(run(name, "positional"), "positional")

    def test_bad_values(self):
        cases = [
            (["--config-port", "70000"], ["70000", "config-port"]),
            (["--config-port=0"], ["config-port"]),
            (["--events-port", "abc"], ["abc", "events-port"]),
            (["--log-level", "loud"], ["loud", "log-level"]),
            (["--log-format", "xml"], ["xml", "log-format"]),
            (["--max-body-bytes", "-5"], ["max-body-bytes"]),
            (["--kafka", "novalue"], ["novalue"]),
            (["--config-port"], ["config-port"]),
        ]
        for args, frags in cases:
            with self.subTest(args=args):
                self.assertUsageError(run("event-gateway", "--dev", *args), *frags)
        self.assertUsageError(run("eg-ingress", "--brokers", "127.0.0.1:9", "--config-port", "70000"), "70000")
        self.assertUsageError(run("eg-router", "--log-level", "loud"), "loud")
        self.assertUsageError(run("eg-invoker", "--log-level", "loud"), "loud")

    def test_flags_of_other_roles_are_refused(self):
        for name in ["eg-router", "eg-invoker"]:
            with self.subTest(binary=name):
                self.assertUsageError(run(name, "--config-port", "4001"), "--config-port")
        self.assertUsageError(run("eg-ingress", "--dev"), "--dev")

    def test_bad_environment_values(self):
        p = run("event-gateway", "--dev", env={"EG_CONFIG_PORT": "70000"})
        self.assertUsageError(p, "EG_CONFIG_PORT")
        p = run("eg-router", env={"EG_LOG_LEVEL": "loud"})
        self.assertUsageError(p, "EG_LOG_LEVEL")

    def test_fixed_kafka_properties_are_refused(self):
        """--kafka (and EG_KAFKA) may not change a property the gateway fixes
        (issue 17, 3.11): exit 2 before any connection, naming the property
        and why it is fixed. Nothing listens on port 9."""
        cases = [
            ("event-gateway", "isolation.level=read_uncommitted", "isolation.level"),
            ("eg-router", "transactional.id=mine", "transactional.id"),
            ("eg-invoker", "group.id=mine", "group.id"),
            ("eg-ingress", "acks=1", "acks"),
            ("eg-ingress", "enable.idempotence=false", "enable.idempotence"),
            ("eg-invoker", "enable.auto.commit=true", "enable.auto.commit"),
            ("eg-router", "bootstrap.servers=elsewhere:9092", "bootstrap.servers"),
        ]
        for name, prop, fixed in cases:
            with self.subTest(binary=name, prop=prop):
                p = run(name, "--brokers", "127.0.0.1:9", "--kafka", "linger.ms=5", "--kafka", prop)
                self.assertUsageError(p, "--kafka " + prop, fixed, "fixed by the gateway")
        p = run("eg-router", "--brokers", "127.0.0.1:9", env={"EG_KAFKA": "linger.ms=5; isolation.level=read_uncommitted"})
        self.assertUsageError(p, "isolation.level", "fixed by the gateway", "committed")

    def test_fixed_kafka_value_repeated_is_accepted(self):
        gw = self.start_gateway(name="gw-fixed-same", extra_args=[
            "--kafka", "acks=all", "--kafka", "enable.idempotence=true", "--kafka", "isolation.level=read_committed"])
        self.assertEqual(gw.request("GET", "/v1/status").status, 200)

    def test_no_brokers(self):
        for name in ["eg-ingress", "eg-router", "eg-invoker", "event-gateway"]:
            with self.subTest(binary=name):
                p = run(name, "--config-port", str(free_port()), "--events-port", str(free_port()),
                        "--listen", "127.0.0.1") if name in ("eg-ingress", "event-gateway") else run(name)
                self.assertNotEqual(p.returncode, 0, self.describe(p))
                text = (p.stdout + p.stderr).decode(errors="replace")
                self.assertRegex(text.lower(), r"broker", "the message should say brokers are missing\n"
                                 + self.describe(p))

    def test_brokers_from_environment(self):
        gw = self.start_gateway(name="gw-env")
        ing = self.start_gateway("eg-ingress", name="ingress-env", env={"EG_KAFKA_BROKERS": gw.brokers})
        self.assertEqual(ing.brokers, gw.brokers)

    def test_port_in_use(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            p = run("event-gateway", *dev_args(), "--listen", "127.0.0.1", "--config-port", str(port),
                    "--events-port", str(free_port()), timeout=30)
        self.assertNotEqual(p.returncode, 0, self.describe(p))
        self.assertIn(str(port), (p.stdout + p.stderr).decode(errors="replace"), self.describe(p))

    def test_port_taken_by_another_gateway(self):
        # a second gateway on the port the first one serves must fail, not share the
        # port (with SO_REUSEPORT the kernel would split requests between the two)
        first = self.start_gateway(name="gw-first")
        second = self.start_gateway(name="gw-second", wait=False, config_port=first.config_port)
        instances = set()
        deadline = time.monotonic() + scaled(15)
        while second.proc.poll() is None and time.monotonic() < deadline:
            instances.add(first.request("GET", "/v1/status").body.get("instance"))
            if len(instances) > 1:
                self.fail("a second event-gateway started on the first one's Config API port %d: /v1/status "
                          "answers for instances %r" % (first.config_port, sorted(instances)))
            time.sleep(0.05)
        self.assertIsNotNone(second.proc.poll(), "the second gateway neither failed nor exited")
        self.assertNotEqual(second.proc.returncode, 0)
        self.assertIn(str(first.config_port), second.log_text())

    def test_sigterm_exits_cleanly(self):
        gw = self.start_gateway(name="gw-term")
        for name in ["eg-ingress", "eg-router", "eg-invoker", "event-gateway"]:
            with self.subTest(binary=name):
                if name == "event-gateway":
                    g = gw  # last: the others use its embedded Kafka
                else:
                    g = self.start_gateway(name, brokers=gw.brokers, name=name + "-term")
                self.assertEqual(g.status.get("status"), "ok", g.status)
                t0 = time.monotonic()
                rc = g.stop()
                self.assertEqual(rc, 0, "%s: exit status %r after SIGTERM\n%s" % (name, rc, g.log_tail()))
                self.assertLess(time.monotonic() - t0, scaled(5.0))

if __name__ == "__main__":
    unittest.main()
