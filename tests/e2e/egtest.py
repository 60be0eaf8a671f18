"""End-to-end test harness for the Event Gateway (Python 3 standard library only).

- Gateway: starts one gateway process (`event-gateway --dev` or a role binary
  joined to a broker with --brokers), captures its log to a temp file, waits
  for readiness by polling GET /v1/status until 200 (bounded), and offers
  request() against its Config API. stop() = SIGTERM, bounded wait, SIGKILL.
- Every child is started with PR_SET_PDEATHSIG=SIGKILL, so it dies with the
  test runner even if the runner itself is killed.
- GatewayTestCase: registers every process it starts for cleanup, prints the
  tail of their logs when a test fails or errors, and bounds every test method
  in time (faulthandler dumps the stacks and exits the runner when a test
  overruns; the children then die with it).
- EG_TEST_WRAPPER (e.g. "valgrind --leak-check=full"): a command line put in
  front of every process Gateway starts. Under valgrind each process writes
  its report to EG_TEST_VALGRIND_DIR (a fresh temp dir by default) as
  vg-<name>-<pid>.log, and the test fails like on a sanitizer report when
  that report shows errors or definitely/indirectly lost bytes, or when it has
  no leak summary because the harness had to SIGKILL the process.
- EG_TEST_TIME_SCALE (default 1; 2 under EG_TEST_BROKERS): multiplies the
  harness's time bounds (readiness, stop, requests, wait_until, whole test
  methods) for slow wrappers and clusters; tests scale their own timing
  bounds with scaled().
- EG_TEST_BROKERS (`make test-kafka`): an external Kafka cluster. A Gateway
  that would start an embedded broker (event-gateway --dev) joins that
  cluster instead, with a topic prefix of its own (egt-<random>.): the
  gateway derives its topics, consumer groups and transactional ids from the
  prefix, so tests never see each other's records, nor those of an earlier
  run. gw.brokers is a Brokers string that carries the prefix: processes
  joined to it (brokers=gw.brokers, or EG_KAFKA_BROKERS in env) take the
  same prefix, and topic(brokers, "events") names that prefix's topics for
  kcat. EG_TEST_KAFKA_ARGS (e.g. "--kafka security.protocol=SASL_SSL ...")
  goes on the command line of every process on that cluster, its --kafka
  settings to kcat as -X. Tests that need the embedded broker itself (they
  kill it, or inject faults into it) are skipped (needs_embedded_broker).
- EG_TEST_BROKER_CONTROL (`make test-kafka-mock`): the external cluster is
  a stand-in, eg-fault-broker (librdkafka's mock cluster) with its control
  port at this address. The mock answers no CreateTopics, so the harness
  creates each prefix's topics there before the first process starts; on a
  real cluster the gateway creates them with the Admin API.
- Topics of a test's own on a real cluster (no topic is created on a first
  record there): create_topic(), topic_configs() and delete_topic() run
  tests/tools/kafka_admin.c (eg-kafka-admin: the Admin API calls kcat does
  not make); produce_at() writes a record with a chosen timestamp
  (tests/tools/produce_at.c), which kcat cannot.
- A process joined to a mock cluster (an embedded broker of another process,
  eg-fault-broker, the stand-in) is told so with --kafka-mock: the gateway
  never guesses it. Brokers.mock carries that, like the prefix.
"""

import base64
import ctypes
import faulthandler
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
BIN_DIR = os.path.abspath(os.environ.get("EG_BIN_DIR") or os.path.join(HERE, "..", "..", "build", "bin"))

EXTERNAL_BROKERS = os.environ.get("EG_TEST_BROKERS", "").strip() or None
KAFKA_ARGS = shlex.split(os.environ.get("EG_TEST_KAFKA_ARGS", "")) if EXTERNAL_BROKERS else []
BROKER_CONTROL = os.environ.get("EG_TEST_BROKER_CONTROL", "").strip() or None
# A real cluster is slower than the embedded broker: group joins wait for
# group.initial.rebalance.delay.ms (3 s by default), topics are created first.
TIME_SCALE = float(os.environ.get("EG_TEST_TIME_SCALE") or ("2" if EXTERNAL_BROKERS else "1"))
WRAPPER = shlex.split(os.environ.get("EG_TEST_WRAPPER", ""))
VALGRIND = bool(WRAPPER) and os.path.basename(WRAPPER[0]) == "valgrind"
_valgrind_dir = os.environ.get("EG_TEST_VALGRIND_DIR")


def scaled(seconds):
    """A time bound of the tests, stretched by EG_TEST_TIME_SCALE (slow wrappers)."""
    return seconds * TIME_SCALE


# Nominal bounds; the harness scales them (and every timeout given to it) where it uses them.
READY_TIMEOUT = 20.0       # seconds a process may take to read the config log
REQUEST_TIMEOUT = 20.0     # seconds for one HTTP request (writes wait for Kafka)
STOP_TIMEOUT = 5.0         # seconds between SIGTERM and SIGKILL
TEST_TIMEOUT = float(os.environ.get("EG_TEST_TIMEOUT", "90"))  # one test method
LOG_TAIL_LINES = 40
WARNING_LINES = 20  # and the warnings and errors before them (Gateway.log_tail)
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def valgrind_dir():
    """Where the processes' valgrind reports go (created on first use)."""
    global _valgrind_dir
    if not _valgrind_dir:
        _valgrind_dir = tempfile.mkdtemp(prefix="eg-valgrind-")
    os.makedirs(_valgrind_dir, exist_ok=True)
    return _valgrind_dir


def valgrind_report_path(name, pid="%p"):
    """The valgrind report of process pid started under name ("%p": the pattern)."""
    return os.path.join(valgrind_dir(), "vg-%s-%s.log" % (re.sub(r"[^A-Za-z0-9_.-]", "_", name), pid))


def wrap(args, name):
    """args behind EG_TEST_WRAPPER; under valgrind with a report file of its own
    (%p: valgrind runs the program in its own process, so that is our child's pid)."""
    if not WRAPPER:
        return list(args)
    pre = list(WRAPPER)
    if VALGRIND:
        pre.append("--log-file=%s" % valgrind_report_path(name))
    return pre + list(args)


def run_binary(name, args, timeout, env=None):
    """Runs a gateway binary to its end (behind EG_TEST_WRAPPER; timeout scaled) and
    returns the CompletedProcess; under valgrind, AssertionError when its report
    is not clean."""
    p = popen(wrap([binary(name)] + list(args), name), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, env=clean_env(env))
    try:
        out, err = p.communicate(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    if VALGRIND:
        path = valgrind_report_path(name, p.pid)
        try:
            with open(path, "rb") as f:
                problems = valgrind_report_problems(f.read().decode("utf-8", "replace"))
        except OSError as e:
            problems = ["no valgrind report: %s" % e]
        if problems:
            raise AssertionError("%s %s: valgrind report %s: %s\n%s"
                                 % (name, " ".join(args), path, "; ".join(problems), _report_excerpt(path)))
    return subprocess.CompletedProcess([binary(name)] + list(args), p.returncode, out, err)


# A valgrind error report's first line ("==PID== Invalid read of size 8", …): what
# can be checked in the report of a process that was SIGKILLed before its summary.
_VG_ERROR_LINE = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump|Use of uninitialised"
    r"|Syscall param|Source and destination overlap|Argument .* of function .* has a fishy).*$", re.M)


def valgrind_report_problems(text, killed=None):
    """The problems in one valgrind report, as a list of strings ([] = clean).
    killed: why the process got SIGKILL, if it did (it then has no summary)."""
    problems = []
    m = re.search(r"ERROR SUMMARY: ([\d,]+) errors", text)
    if m is None:
        errs = [e.group(0) for e in _VG_ERROR_LINE.finditer(text)]
        if errs:
            problems.append("%d error(s) before it died: %s" % (len(errs), "; ".join(errs[:5])))
        problems.append("no leak summary (%s): leaks NOT checked"
                        % (killed or "the process did not exit normally"))
        return problems
    if int(m.group(1).replace(",", "")) > 0:
        problems.append("ERROR SUMMARY: %s errors" % m.group(1))
    for kind in ("definitely", "indirectly"):
        lm = re.search(r"%s lost: ([\d,]+) bytes" % kind, text)
        if lm and int(lm.group(1).replace(",", "")) > 0:
            problems.append("%s lost: %s bytes" % (kind, lm.group(1)))
    return problems


def binary(name):
    return os.path.join(BIN_DIR, name)


def free_port():
    """A port that was free a moment ago (bind to port 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def librdkafka_txn_leak(report):
    """Is this LeakSanitizer report only librdkafka 2.0.2's leak of a
    send_offsets_to_transaction operation whose TxnOffsetCommit request was
    still pending when the producer was destroyed? Its response handler
    (rdkafka_txnmgr.c, rd_kafka_txn_handle_TxnOffsetCommit) returns on
    ERR__DESTROY without destroying the operation. The request is pending when
    its group coordinator is unreachable (a coordinator request has no
    time-out, librdkafka issue 5456) and the producer is destroyed: at exit, or
    when the router replaces a producer that failed. What leaks is the operation (one object of 152 bytes)
    with its offsets and group metadata: every allocation of the report is
    librdkafka's (it is built without frame pointers: the stacks end in it)
    and every direct leak is such an operation."""
    blocks = re.split(r"\n(?=(?:Direct|Indirect) leak of )", report)[1:]
    if not blocks:
        return False
    for b in blocks:
        frames = re.findall(r"^\s*#(\d+) (.*)$", b.split("SUMMARY:")[0], re.M)
        if len(frames) < 2 or any("librdkafka.so" not in f for n, f in frames if n != "0"):
            return False
        m = re.match(r"Direct leak of (\d+) byte\(s\) in (\d+) object", b)
        if m and int(m.group(1)) != 152 * int(m.group(2)):
            return False
    return True


def clean_env(extra=None):
    """The test runner's environment without EG_* variables (they would change
    the processes' settings), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EG_")}
    env.update(extra or {})
    return env


_libc = None


def _die_with_parent():
    """preexec_fn: SIGKILL this child when the runner dies (Linux prctl)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass


def _die_with_parent_term():
    """preexec_fn: SIGTERM this child when the runner dies (it then cleans up)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _report_excerpt(path, limit=6000):
    """A valgrind report without its banner (for a failure message)."""
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    banner = re.compile(r"^==\d+== (Memcheck|Copyright|Using Valgrind|Command|Parent PID)")
    return "\n".join(ln for ln in text.splitlines() if not banner.match(ln))[:limit]


def popen(args, **kw):
    """subprocess.Popen with the die-with-parent guard (start only from the main thread)."""
    return subprocess.Popen(args, preexec_fn=_die_with_parent, **kw)


def go_path_escape(path):
    """Go's url.PathEscape (what 0.9 used inside ids)."""
    return urllib.parse.quote(path, safe="$&+:=@")


def subscription_id_09(type_, event_type, function_id, path="/", method="POST"):
    """event-gateway 0.9's subscription id: base64url (no padding) of
    "type,eventType[,functionId],PathEscape(path),method" (no functionId for sync)."""
    parts = [type_, event_type] + ([] if type_ == "sync" else [function_id]) + [go_path_escape(path), method]
    raw = ",".join(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def wait_until(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Polls predicate() until it returns a truthy value; returns that value.
    Raises AssertionError with the last value seen after timeout seconds
    (scaled by EG_TEST_TIME_SCALE)."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, message, last))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# The Kafka cluster of a test: the embedded broker, or an external cluster
# (EG_TEST_BROKERS) where a topic prefix of its own keeps each test apart

DEFAULT_PREFIX = "eg."     # the gateway's --topic-prefix default
DEFAULT_PARTITIONS = 8     # the gateway's --partitions default


class Brokers(str):
    """Kafka bootstrap servers as tests pass them around (what gw.brokers
    returns), carrying the topic prefix of the process they came from: None
    for the gateway's default (the embedded broker of a test is its own);
    on the external cluster, the prefix of the test's gateway. A Gateway
    joined to it (brokers=b) takes that prefix; topic(b, name) names its
    topics. mock: the servers are librdkafka's mock cluster (an embedded
    broker, eg-fault-broker): a process joined to it gets --kafka-mock."""

    def __new__(cls, servers, prefix=None, mock=False):
        b = str.__new__(cls, servers)
        b.prefix = prefix
        b.mock = mock
        return b


def topic(brokers, name):
    """The topic the gateway names <prefix>name on brokers ("events", "dlq",
    "config", "invoke.default.async", ...; or a topic of the test's own, such
    as a sink, kept under the same prefix)."""
    return (getattr(brokers, "prefix", None) or DEFAULT_PREFIX) + name


def is_external(brokers):
    """Are brokers the external cluster (EG_TEST_BROKERS)?"""
    return EXTERNAL_BROKERS is not None and str(brokers) == EXTERNAL_BROKERS


def new_external_cluster():
    """The external cluster under a topic prefix nobody used before: where a
    process that would start an embedded broker of its own runs instead."""
    return Brokers(EXTERNAL_BROKERS, "egt-%s." % uuid.uuid4().hex[:12], mock=BROKER_CONTROL is not None)


def cluster_args(brokers):
    """What a process on brokers needs besides --brokers: its topic prefix,
    --kafka-mock on a mock cluster, and on the external cluster
    EG_TEST_KAFKA_ARGS."""
    args = []
    if getattr(brokers, "prefix", None):
        args += ["--topic-prefix", brokers.prefix]
    if getattr(brokers, "mock", False):
        args.append("--kafka-mock")
    if is_external(brokers):
        args += KAFKA_ARGS
    return args


def kafka_properties():
    """The librdkafka properties of EG_TEST_KAFKA_ARGS (its --kafka PROP=VALUE)."""
    props, args = [], iter(KAFKA_ARGS)
    for a in args:
        if a == "--kafka":
            props.append(next(args, ""))
        elif a.startswith("--kafka="):
            props.append(a[len("--kafka="):])
    return [p for p in props if "=" in p]


_prepared_prefixes = set()


def prepare_cluster(brokers, partitions=DEFAULT_PARTITIONS):
    """Makes brokers ready for the first process of its prefix. Only a
    stand-in needs it (EG_TEST_BROKER_CONTROL): the mock answers no
    CreateTopics, so its control port creates the prefix's topics, as dev
    mode does for its own broker; a real cluster gets them from the
    gateway's Admin API. Once per prefix; AssertionError when it fails."""
    prefix = getattr(brokers, "prefix", None)
    if not BROKER_CONTROL or not is_external(brokers) or not prefix or prefix in _prepared_prefixes:
        return
    host, port = BROKER_CONTROL.rsplit(":", 1)
    command = "topics %s %d" % (prefix, partitions)
    try:
        with socket.create_connection((host, int(port)), timeout=scaled(10)) as s:
            s.sendall(command.encode() + b"\n")
            answer = s.makefile("r").readline().strip()
    except OSError as e:
        raise AssertionError("stand-in control port %s: %r: %s" % (BROKER_CONTROL, command, e))
    if answer != "ok":
        raise AssertionError("stand-in control port %s: %r: %r" % (BROKER_CONTROL, command, answer))
    _prepared_prefixes.add(prefix)


def dev_args():
    """The arguments of an event-gateway with a cluster of its own: --dev, or
    under EG_TEST_BROKERS the external cluster under a fresh prefix (made
    ready for it)."""
    if not EXTERNAL_BROKERS:
        return ["--dev"]
    brokers = new_external_cluster()
    prepare_cluster(brokers)
    return ["--brokers", str(brokers)] + cluster_args(brokers)


def needs_embedded_broker(why):
    """Decorator of a test or a class that needs the embedded broker itself
    (it kills it, or injects faults into it): skipped under EG_TEST_BROKERS."""
    return unittest.skipIf(EXTERNAL_BROKERS is not None,
                           "embedded broker only (%s): runs in the embedded broker's half" % why)


KAFKA_SCRIPT = os.environ.get("EG_TEST_KAFKA_SCRIPT") or os.path.join(HERE, "..", "..", "scripts", "kafka.sh")
# Tests that need a cluster of their own (they stop, kill or pause a broker) run
# in the real-Kafka half of the suite (make test-kafka), where EG_TEST_BROKERS is
# set, and are skipped on the embedded broker's half: the same test twice would
# only cost time.
REAL_KAFKA = EXTERNAL_BROKERS is not None and not BROKER_CONTROL


def needs_real_kafka(why):
    """Decorator of a test or a class that starts Apache Kafka clusters of its
    own (KafkaCluster) to make real faults: run with make test-kafka."""
    return unittest.skipUnless(REAL_KAFKA, "needs Apache Kafka (%s): runs in make test-kafka" % why)


def _consecutive_free_ports(n):
    """The first of n consecutive ports of 127.0.0.1 that were free a moment ago
    (scripts/kafka.sh gives node N the ports base+2(N-1) and the next)."""
    out = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "scripts", "free-ports.py"),
                          "--consecutive", str(n)], capture_output=True, text=True, timeout=30)
    return int(out.stdout.strip())


class KafkaCluster:
    """An Apache Kafka cluster of one test's own (scripts/kafka.sh): 1 or 3
    combined broker+controller nodes on loopback, data in a temp dir. Real
    faults: stop(n) (SIGTERM), kill(n) (SIGKILL), pause(n)/resume(n)
    (SIGSTOP/SIGCONT), start(n). close() stops every node by its PID and
    removes the data. brokers is the bootstrap list (a Brokers, prefix eg.)."""

    def __init__(self, nodes=1):
        self.nodes = nodes
        self.dir = tempfile.mkdtemp(prefix="eg-kafka-")
        self.port = _consecutive_free_ports(2 * nodes)
        self.env = dict(os.environ, KAFKA_NODES=str(nodes), KAFKA_DIR=self.dir,
                        KAFKA_PORT=str(self.port), KAFKA_HEAP="384m")
        self.paused = set()
        # A runner that dies (a test over its time bound ends the runner at
        # once, without cleanups) must not leave the nodes running: they are
        # not our children (kafka.sh starts them in the background), so a
        # watchdog that gets SIGTERM when the runner dies kills them by the
        # PIDs in their files.
        self._watchdog = subprocess.Popen(
            ["bash", "-c", 'trap \'for f in "$0"/node-*/pid; do kill -9 "$(cat "$f")" 2>/dev/null; done; '
             'rm -rf "$0"; exit 0\' TERM; while :; do sleep 1; done', self.dir],
            preexec_fn=_die_with_parent_term, stdin=subprocess.DEVNULL)
        out = self._script("start", timeout=scaled(120))
        m = re.search(r"^KAFKA_BROKERS=(\S+)$", out, re.M)
        if not m:
            self.close()
            raise AssertionError("scripts/kafka.sh start said no KAFKA_BROKERS:\n" + out)
        self.brokers = Brokers(m.group(1))
        self.brokers.real = True

    def _script(self, *args, timeout=60):
        p = subprocess.run(["bash", KAFKA_SCRIPT] + list(args), env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError("scripts/kafka.sh %s failed (%d): %s%s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p.stdout

    def address(self, n):
        return "127.0.0.1:%d" % (self.port + 2 * (n - 1))

    def pid(self, n):
        try:
            with open(os.path.join(self.dir, "node-%d" % n, "pid")) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def log_path(self, n):
        return os.path.join(self.dir, "node-%d" % n, "server.log")

    def stop(self, n):
        self.resume(n)
        self._script("stop-node", str(n), timeout=60)

    def kill(self, n):
        self.paused.discard(n)
        self._script("kill-node", str(n), timeout=60)

    def pause(self, n):
        os.kill(self.pid(n), signal.SIGSTOP)
        self.paused.add(n)

    def resume(self, n):
        if n in self.paused and self.pid(n):
            os.kill(self.pid(n), signal.SIGCONT)
        self.paused.discard(n)

    def start(self, n, wait=True):
        """Starts node n again (after stop or kill); waits until it is a broker
        of the cluster's metadata again."""
        self._script("start-node", str(n), timeout=60)
        if wait:
            wait_until(lambda: self.broker_count() >= self.nodes, timeout=90,
                       message="node %d back in the cluster" % n)

    def broker_count(self):
        p = subprocess.run([KCAT or "kcat", "-b", self.brokers, "-L", "-m", "5"], capture_output=True,
                           text=True, timeout=30)
        m = re.search(r"^ (\d+) brokers:", p.stdout, re.M)
        return int(m.group(1)) if m else 0

    def metadata(self, topic_name):
        """kcat's JSON metadata of one topic (partitions with their leaders)."""
        p = subprocess.run([KCAT or "kcat", "-b", self.brokers, "-L", "-J", "-t", topic_name, "-m", "10"],
                           capture_output=True, text=True, timeout=30)
        return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else {}

    def leader(self, topic_name, partition):
        """The node that leads topic [partition], or None."""
        for t in self.metadata(topic_name).get("topics", []):
            for p in t.get("partitions", []):
                if p.get("partition") == partition and p.get("leader", -1) >= 0:
                    return p["leader"]
        return None

    def close(self):
        """SIGKILL every node (its data goes with it: no need for an orderly
        stop, which takes seconds a node) and wait until each is gone."""
        pids = [p for p in (self.pid(n) for n in range(1, self.nodes + 1)) if p]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        deadline = time.monotonic() + 30
        while any(os.path.exists("/proc/%d" % p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._watchdog.kill()
        self._watchdog.wait(10)
        self.last_logs = self.log_tail()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n=LOG_TAIL_LINES):
        """The last n lines of each node's server.log and stdout (what a failed
        test prints: the data goes with close())."""
        parts = []
        for node in range(1, self.nodes + 1):
            for name in ("server.log", "stdout.log"):
                path = os.path.join(self.dir, "node-%d" % node, name)
                try:
                    with open(path, errors="replace") as f:
                        lines = f.read().splitlines()[-n:]
                except OSError:
                    continue
                if lines:
                    parts.append("---- last %d lines of kafka node %d %s ----\n%s"
                                 % (len(lines), node, name, "\n".join(lines)))
        return "\n".join(parts)


def needs_breakable_kafka(why):
    """Decorator of a test that takes Kafka away (start_breakable_gateway):
    skipped only on the stand-in of make test-kafka-mock, which is shared."""
    return unittest.skipIf(BROKER_CONTROL is not None, "takes Kafka away (%s): not the shared stand-in" % why)


_SECRET_PROPERTY = re.compile(r"^((?:--kafka=)?[^=]*(?:password|secret)[^=]*=).+$", re.I)


def redact(args):
    """args for a log line: values of --kafka properties that hold secrets masked."""
    return [_SECRET_PROPERTY.sub(r"\1***", a) for a in args]


class Response(tuple):
    """(status, body, headers): body is parsed JSON when it parses, else text."""

    __slots__ = ()

    def __new__(cls, status, body, headers):
        return tuple.__new__(cls, (status, body, headers))

    status = property(lambda self: self[0])
    body = property(lambda self: self[1])
    headers = property(lambda self: self[2])


class ProcessFailed(AssertionError):
    pass


# What the processes a test starts may call although the invoker refuses it by
# default: loopback, where fnserver functions listen (Gateway's function_allow).
FUNCTION_ALLOW = "127.0.0.0/8,::1/128"
FUNCTION_CALLERS = ("event-gateway", "eg-invoker")  # the binaries that take the flag


class Gateway:
    """One gateway process.

    Gateway()                               event-gateway --dev (embedded Kafka)
    Gateway("eg-ingress", brokers=B)        an ingress joined to cluster B
    Gateway("eg-router", brokers=B)         a router; request() goes to its --status-port
    Gateway(dev=True)                       embedded Kafka even under EG_TEST_BROKERS

    Under EG_TEST_BROKERS, Gateway() is event-gateway on the external cluster
    under a fresh topic prefix; joined with brokers=gw.brokers, a process
    takes gw's prefix (see Brokers).

    Test functions (fnserver) listen on loopback, which the invoker refuses
    to call outside dev mode (--function-allow-cidrs): every process that
    calls functions gets --function-allow-cidrs FUNCTION_ALLOW (loopback)
    unless the test says otherwise with function_allow (None: the flag is
    not given, the gateway's defaults apply; extra_args win over it too).
    """

    def __init__(self, binary_name="event-gateway", brokers=None, dev=None, extra_args=(),
                 name=None, env=None, listen="127.0.0.1", function_allow=FUNCTION_ALLOW):
        self.binary_name = binary_name
        self.dev = (binary_name == "event-gateway" and brokers is None) if dev is None else dev
        if self.dev and dev is None and EXTERNAL_BROKERS:
            self.dev, brokers = False, new_external_cluster()
        self.brokers_arg = brokers
        # The cluster it is on, when known (from brokers or EG_KAFKA_BROKERS): its prefix and settings
        self.cluster = brokers if brokers is not None else (env or {}).get("EG_KAFKA_BROKERS")
        self.extra_args = list(extra_args)
        self.name = name or binary_name
        self.env = env
        self.listen = listen
        self.function_allow = function_allow
        # eg-router and eg-invoker serve only /v1/status (on --status-port, kept in config_port)
        self.status_only = binary_name in ("eg-router", "eg-invoker")
        self.config_port = None
        self.events_port = None
        self.proc = None
        self.status = None
        self._logf = None
        self.log_path = None
        self._spawns = []  # [pid, why it was SIGKILLed or None], one per process started
        self.librdkafka_txn_leak_ok = False  # see assert_no_sanitizer_report

    # -- lifecycle --

    def command(self):
        args = [binary(self.binary_name)]
        if self.dev:
            args.append("--dev")
        if self.brokers_arg:
            args += ["--brokers", str(self.brokers_arg)]
        args += cluster_args(self.cluster)
        args += ["--listen", self.listen]
        if self.function_allow is not None and self.binary_name in FUNCTION_CALLERS:
            args += ["--function-allow-cidrs", self.function_allow]
        if self.status_only:
            # eg-router / eg-invoker: /v1/status on --status-port, no APIs
            args += ["--status-port", str(self.config_port)]
        else:
            args += ["--config-port", str(self.config_port), "--events-port", str(self.events_port)]
        return args + self.extra_args

    def wrapped_command(self):
        """command() behind EG_TEST_WRAPPER, if set."""
        return wrap(self.command(), self.name)

    def start(self, wait=True, timeout=READY_TIMEOUT, config_port=None):
        """Starts the process on fresh ports (or the given Config API port); waits
        for readiness unless wait=False. Retries on other ports if the first ones
        were taken meanwhile."""
        prepare_cluster(self.cluster, int(self.arg("--partitions", DEFAULT_PARTITIONS)))
        for attempt in range(3):
            self.config_port, self.events_port = config_port or free_port(), free_port()
            if self.config_port == self.events_port:
                continue
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_ready(timeout)
                return self
            except ProcessFailed:
                if attempt < 2 and not config_port and "port in use" in self.log_text():
                    self.kill()
                    continue
                raise
        raise ProcessFailed("%s: could not find free ports" % self.name)

    def arg(self, flag, default=None):
        """The value of flag among the extra arguments ("--flag V" or "--flag=V")."""
        for i, a in enumerate(self.extra_args):
            if a == flag and i + 1 < len(self.extra_args):
                return self.extra_args[i + 1]
            if a.startswith(flag + "="):
                return a[len(flag) + 1:]
        return default

    def _spawn(self):
        if self._logf is None:
            fd, self.log_path = tempfile.mkstemp(prefix="eg-%s-" % self.name, suffix=".log")
            self._logf = os.fdopen(fd, "ab", buffering=0)
        cmd = self.wrapped_command()
        self._logf.write(("### %s\n" % " ".join(redact(cmd))).encode())
        self.proc = popen(cmd, stdin=subprocess.DEVNULL, stdout=self._logf,
                          stderr=subprocess.STDOUT, env=clean_env(self.env), cwd=HERE)
        self._spawns.append([self.proc.pid, None])

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Polls GET /v1/status until 200; fails early if the process exits.
        timeout is scaled by EG_TEST_TIME_SCALE."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.alive():
                raise ProcessFailed("%s exited with status %s before it was ready\n%s"
                                    % (self.name, self.proc.returncode, self.log_tail()))
            try:
                r = self.request("GET", "/v1/status", timeout=2)
                last = r
                if r.status == 200:
                    self.status = r.body
                    return r.body
            except (OSError, http.client.HTTPException) as e:
                last = e
            time.sleep(0.02)
        raise ProcessFailed("%s not ready after %.0fs (last status answer: %r)\n%s"
                            % (self.name, timeout, last, self.log_tail()))

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, wait up to timeout (scaled by EG_TEST_TIME_SCALE), then
        SIGKILL. Returns the exit status (negative: killed by that signal)."""
        if self.proc is None:
            return None
        timeout = scaled(timeout)
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._logf.write(b"### harness: no exit within %.1fs of SIGTERM: SIGKILL\n" % timeout)
                self._dump_stacks()
                self.kill(why="SIGKILLed by the harness: no exit within %.1fs of SIGTERM" % timeout)
        return self.proc.returncode

    def _dump_stacks(self):
        """Every thread's stack of a process that hangs, into its log (needs gdb)."""
        gdb = shutil.which("gdb")
        if not gdb:
            return
        try:
            if VALGRIND:  # the process is valgrind's: its gdbserver (vgdb) shows the program's threads
                attach = [binary(self.binary_name), "-ex", "target remote | vgdb --pid=%d" % self.proc.pid]
            else:
                attach = ["-p", str(self.proc.pid)]
            out = subprocess.run([gdb, "-batch"] + attach + ["-ex", "thread apply all bt"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=scaled(30)).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            out = ("gdb: %r\n" % e).encode()
        # One line per thread: its frames' function names, innermost first.
        lines, cur = [], None
        for ln in out.decode(errors="replace").splitlines():
            m = re.match(r"Thread \d+ \(.*?\)", ln)
            if m:
                cur = [m.group(0)]
                lines.append(cur)
            elif cur is not None:
                f = re.match(r"#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", ln)
                if f:
                    cur.append(f.group(1))
        text = "\n".join("%s: %s" % (t[0], " < ".join(t[1:])) for t in lines) or out.decode(errors="replace")
        self._logf.write(("### harness: stacks of the hanging process\n%s\n" % text).encode())

    def kill(self, why="SIGKILLed by the test"):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if self._spawns and self._spawns[-1][0] == self.proc.pid:
                self._spawns[-1][1] = why
            self.proc.wait(scaled(10))
        return self.proc.returncode if self.proc else None

    def close(self):
        """Stops the process and forgets the log file (kept with
        EG_TEST_KEEP_LOGS=1, to read after a run)."""
        self.stop()
        if self._logf:
            self._logf.close()
            self._logf = None
        if self.log_path and os.path.exists(self.log_path) and not os.environ.get("EG_TEST_KEEP_LOGS"):
            os.unlink(self.log_path)

    # -- logs --

    def allowed_leak_report(self):
        """The log's LeakSanitizer report when it is librdkafka's own leak of a
        pending TxnOffsetCommit (librdkafka_txn_leak) and this process is
        allowed it (librdkafka_txn_leak_ok); else None."""
        if not self.librdkafka_txn_leak_ok:
            return None
        text = self.log_text()
        at = text.find("ERROR: LeakSanitizer")
        if at < 0:
            return None
        end = text.find("SUMMARY:", at)
        report = text[at:text.find("\n", end) if end >= 0 else len(text)]
        return report if librdkafka_txn_leak(report) else None

    def exit_status(self):
        """The exit status, with the status a sanitizer gives an allowed leak
        report (allowed_leak_report) counted as 0 when it is the only report."""
        rc = self.proc.returncode if self.proc else None
        if rc and rc > 0 and self.allowed_leak_report():
            text = self.log_text()
            if not any(m in text for m in SANITIZER_MARKERS if m != "ERROR: LeakSanitizer"):
                return 0
        return rc

    def assert_no_sanitizer_report(self):
        """Fails when the process's log holds an AddressSanitizer, LeakSanitizer or
        UndefinedBehaviorSanitizer report (builds with -DEG_SANITIZE=ON), or, under
        valgrind, when one of its reports is not clean (see valgrind_problems).
        With librdkafka_txn_leak_ok (tests that stop, kill or freeze brokers), a
        leak report that is librdkafka's own pending TxnOffsetCommit
        (librdkafka_txn_leak) is printed, not failed."""
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            at = text.find(marker)
            if marker == "ERROR: LeakSanitizer" and at >= 0:
                report = self.allowed_leak_report()
                if report:
                    sys.stderr.write("\n%s (pid %s): librdkafka 2.0.2's own leak of a pending "
                                     "TxnOffsetCommit, allowed here: %s\n"
                                     % (self.name, self.pid, report.splitlines()[-1]))
                    at = -1
            if at >= 0:
                start = text.rfind("\n", 0, max(0, at - 200)) + 1
                raise AssertionError("%s (pid %s): sanitizer report:\n%s"
                                     % (self.name, self.pid, text[start:start + 4000]))
        failures = []
        for path, problems, fatal in self.valgrind_problems():
            if fatal:
                failures.append("%s: valgrind report %s: %s\n%s"
                                % (self.name, path, "; ".join(problems), _report_excerpt(path)))
            else:
                sys.stderr.write("\n%s: valgrind report %s: %s\n" % (self.name, path, "; ".join(problems)))
        if failures:
            raise AssertionError("\n".join(failures))

    def valgrind_problems(self):
        """Under valgrind: (report path, problems, fatal) for each process this
        Gateway started whose report is not clean. A process the test killed on
        purpose has no leak summary: that is reported, but only errors logged
        before its death fail the test; one the harness had to SIGKILL fails."""
        if not VALGRIND:
            return []
        out = []
        for pid, why in self._spawns:
            path = valgrind_report_path(self.name, pid)
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError as e:
                out.append((path, ["no valgrind report: %s" % e], True))
                continue
            problems = valgrind_report_problems(text, why)
            if problems:
                deliberate = why is not None and "harness" not in why
                fatal = not deliberate or any("before it died" in p for p in problems)
                out.append((path, problems, fatal))
        return out

    def log_text(self):
        if not self.log_path:
            return ""
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=LOG_TAIL_LINES):
        """The log's last n lines, after its last warnings and errors of the
        gateway's own (a sanitizer report at exit can fill the tail)."""
        lines = self.log_text().splitlines()
        own = [l for l in lines[:-n] if re.search(r" (WARN|ERROR) +\[(?!kafka\])", l)][-WARNING_LINES:]
        head = ("---- its last %d warnings and errors before that ----\n%s\n"
                % (len(own), "\n".join(own))) if own else ""
        return "%s---- last %d lines of %s log (pid %s, %s) ----\n%s\n----" % (
            head, min(n, len(lines)), self.name, self.pid, self.log_path, "\n".join(lines[-n:]))

    # -- HTTP --

    @property
    def config_url(self):
        return "http://%s:%d" % (self.listen, self.config_port)

    @property
    def events_url(self):
        return "http://%s:%d" % (self.listen, self.events_port)

    @property
    def brokers(self):
        """The Kafka bootstrap servers this process uses (from /v1/status), as
        Brokers with its topic prefix and whether it is a mock cluster."""
        if self.status is None:
            self.status = self.request("GET", "/v1/status").body
        b = Brokers(self.status["kafka"]["brokers"], getattr(self.cluster, "prefix", None),
                    mock=bool(self.status["kafka"].get("mock")))
        b.real = getattr(self.cluster, "real", False)  # a KafkaCluster of the test's own
        return b

    def request(self, method, path, body=None, raw_body=None, headers=None, timeout=REQUEST_TIMEOUT,
                port=None):
        """One HTTP request on its own connection. body: JSON-encoded; raw_body:
        bytes/str sent as is. Returns Response(status, parsed JSON or text, headers)."""
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif raw_body is not None:
            data = raw_body.encode() if isinstance(raw_body, str) else raw_body
        conn = http.client.HTTPConnection(self.listen, port or self.config_port, timeout=scaled(timeout))
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw = resp.read()
            text = raw.decode("utf-8", "replace")
            parsed = text
            if text:
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = text
            return Response(resp.status, parsed, resp.headers)
        finally:
            conn.close()

    def __repr__(self):
        return "<Gateway %s pid=%s config=%s>" % (self.name, self.pid, self.config_port)


class GatewayTestCase(unittest.TestCase):
    """Base class: process bookkeeping, failure logs, time bounds, assertions."""

    # Processes shared by the class (started in setUpClass via start_class_gateway).
    _class_gateways = []
    # A test that stops, kills or freezes brokers may meet librdkafka's own leak
    # (librdkafka_txn_leak): its gateways' logs are allowed that report, and the
    # exit status it gives (Gateway.exit_status).
    LIBRDKAFKA_TXN_LEAK_OK = False

    @classmethod
    def start_class_gateway(cls, *args, **kw):
        g = Gateway(*args, **kw)
        cls._class_gateways = list(cls._class_gateways) + [g]
        try:
            g.start()
        except BaseException:
            cls.stop_class_gateways()
            raise
        return g

    @classmethod
    def stop_class_gateways(cls):
        reports = []
        for g in cls._class_gateways:
            g.stop()
            try:
                g.assert_no_sanitizer_report()
            except AssertionError as e:
                reports.append(str(e))
            g.close()
        cls._class_gateways = []
        if reports:
            raise AssertionError("\n".join(reports))

    @classmethod
    def tearDownClass(cls):
        cls.stop_class_gateways()
        super().tearDownClass()

    def start_gateway(self, *args, wait=True, config_port=None, **kw):
        """Starts a process for this test; stopped (by PID) in cleanup whatever happens,
        then its log is checked for sanitizer reports."""
        g = Gateway(*args, **kw)
        g.librdkafka_txn_leak_ok = self.LIBRDKAFKA_TXN_LEAK_OK
        self._gateways.append(g)
        self.addCleanup(g.assert_no_sanitizer_report)
        self.addCleanup(g.stop)
        g.start(wait=wait, config_port=config_port)
        return g

    def start_kafka(self, nodes=1):
        """Starts an Apache Kafka cluster of this test's own (KafkaCluster);
        stopped by its PIDs and removed in cleanup whatever happens."""
        k = KafkaCluster(nodes)
        self._kafkas.append(k)
        self.addCleanup(k.close)
        return k

    def start_breakable_gateway(self, *extra, name="dev"):
        """event-gateway on a Kafka this test may take away: --dev on the
        embedded broker's half (the broker dies with the process); on the real
        half, a cluster of the test's own. Returns (gateway, down), down() takes
        Kafka away (SIGKILL of the process, or of the broker)."""
        if REAL_KAFKA:
            k = self.start_kafka(1)
            gw = self.start_gateway(brokers=k.brokers, name=name, extra_args=list(extra))
            return gw, lambda: k.kill(1)
        gw = self.start_gateway(name=name, dev=True, extra_args=list(extra))
        return gw, gw.kill

    def run(self, result=None):
        self._gateways = []
        self._kafkas = []
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        faulthandler.dump_traceback_later(scaled(TEST_TIMEOUT), exit=True)
        try:
            return super().run(result)
        finally:
            faulthandler.cancel_dump_traceback_later()
            failed = len(result.failures) + len(result.errors) > before
            for g in list(self._gateways) + list(type(self)._class_gateways):
                if failed:
                    sys.stderr.write("\n%s: %s\n" % (self.id(), g.log_tail()))
            for k in self._kafkas:
                if failed and getattr(k, "last_logs", ""):
                    sys.stderr.write("\n%s: %s\n" % (self.id(), k.last_logs))
            if failed:
                # The logs above can be long: the failure itself once more,
                # last, where a truncated CI log still shows it.
                for test, text in (result.failures + result.errors)[before:]:
                    last = [ln for ln in text.strip().splitlines() if ln.strip()][-3:]
                    sys.stderr.write("\n%s failed: %s\n" % (test.id(), "\n    ".join(last)))
            for g in self._gateways:
                g.close()
            self._gateways = []

    # -- assertions --

    def assertStatus(self, resp, status, what=""):
        if resp.status != status:
            self.fail("%sexpected HTTP %d, got %d with body %r" % (what + ": " if what else "", status,
                                                                   resp.status, resp.body))

    def assertJSONResponse(self, resp):
        ctype = resp.headers.get("Content-Type", "")
        self.assertTrue(ctype.startswith("application/json"),
                        "Content-Type should be application/json, got %r (body %r)" % (ctype, resp.body))

    def assertError(self, resp, status, *fragments, what=""):
        """HTTP status plus the error body {"errors":[{"message": non-empty}]};
        each fragment must occur in the message (case-insensitive)."""
        self.assertStatus(resp, status, what)
        self.assertJSONResponse(resp)
        body = resp.body
        self.assertIsInstance(body, dict, "error body must be a JSON object, got %r" % (body,))
        errs = body.get("errors")
        self.assertIsInstance(errs, list, "error body needs an 'errors' array: %r" % (body,))
        self.assertGreaterEqual(len(errs), 1, "'errors' must not be empty: %r" % (body,))
        for e in errs:
            self.assertIsInstance(e, dict, "each error is an object: %r" % (body,))
            self.assertIsInstance(e.get("message"), str, "error without a string message: %r" % (body,))
            self.assertTrue(e["message"].strip(), "empty error message: %r" % (body,))
        msg = errs[0]["message"]
        for frag in fragments:
            self.assertIn(frag.lower(), msg.lower(),
                          "%serror message %r should mention %r" % (what + ": " if what else "", msg, frag))
        return msg


# ---------------------------------------------------------------------------
# Delivery helpers (events, configuration, kcat, function servers)

KCAT_TIMEOUT = 15.0  # seconds one kcat run may take
KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def kcat_command(brokers, *args):
    """A kcat command line on brokers; on the external cluster with the
    --kafka settings of EG_TEST_KAFKA_ARGS as -X (both are librdkafka
    properties; its other flags are the gateway's own)."""
    cmd = [KCAT or "kcat", "-b", str(brokers)]
    if is_external(brokers):
        for prop in kafka_properties():
            cmd += ["-X", prop]
    return cmd + list(args)


def gw_event(gw, body=None, raw_body=None, headers=None, path="/", method="POST", timeout=REQUEST_TIMEOUT):
    """Sends one request to gw's Events API; returns Response(status, body, headers)."""
    return gw.request(method, path, body=body, raw_body=raw_body, headers=headers, timeout=timeout,
                      port=gw.events_port)


def ce10(type_, space=None, data=None, id=None, source="/e2e/tests", **extensions):
    """A CloudEvents 1.0 event (structured JSON form) as a dict; a fresh UUID id
    unless given; egspace set to space when given."""
    import uuid
    ev = {"specversion": "1.0", "id": id or str(uuid.uuid4()), "source": source, "type": type_}
    if space is not None:
        ev["egspace"] = space
    if data is not None:
        ev["datacontenttype"] = "application/json"
        ev["data"] = data
    ev.update(extensions)
    return ev


def send_ce10(gw, event, timeout=REQUEST_TIMEOUT, path="/", method="POST"):
    """Posts a CloudEvents 1.0 event in structured mode (application/cloudevents+json)."""
    return gw_event(gw, raw_body=json.dumps(event), path=path, method=method, timeout=timeout,
                    headers={"Content-Type": "application/cloudevents+json"})


def configure(gw, space, eventtypes=(), functions=(), subscriptions=()):
    """Creates event types (names or dicts), functions ({functionId: url or
    full dict}) and async subscriptions (dicts; type async by default) in
    space through gw's Config API; raises AssertionError unless each is 201.
    Returns the created subscriptions (with their subscriptionId)."""
    def post(kind, body):
        r = gw.request("POST", "/v1/spaces/%s/%s" % (space, kind), body=body)
        if r.status != 201:
            raise AssertionError("POST %s %r in space %s: HTTP %d %r" % (kind, body, space, r.status, r.body))
        return r.body
    for et in eventtypes:
        post("eventtypes", et if isinstance(et, dict) else {"name": et})
    for fid, fn in (functions.items() if isinstance(functions, dict) else functions):
        if isinstance(fn, dict):
            body = dict(fn, functionId=fid)
            body.setdefault("type", "http")
        else:
            body = {"functionId": fid, "type": "http", "provider": {"url": fn}}
        post("functions", body)
    subs = []
    for s in subscriptions:
        body = dict(s)
        body.setdefault("type", "async")
        subs.append(post("subscriptions", body))
    return subs


def kcat_consume(brokers, topic, timeout=KCAT_TIMEOUT):
    """Every record of topic (kcat -C -e -J) as dicts; payload decoded as JSON
    into "value" when it parses. [] when the topic does not exist yet."""
    try:
        out = subprocess.run(kcat_command(brokers, "-C", "-t", topic, "-e", "-J", "-q"),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=scaled(timeout), preexec_fn=_die_with_parent).stdout
    except subprocess.TimeoutExpired:
        raise AssertionError("kcat -C -t %s did not finish within %.0fs" % (topic, timeout))
    records = []
    for line in out.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        try:
            rec["value"] = json.loads(rec.get("payload") or "")
        except (ValueError, TypeError):
            rec["value"] = None
        records.append(rec)
    return records


def kcat_produce(brokers, topic, value, headers=(), key=None, timeout=KCAT_TIMEOUT):
    """Produces one record with kcat (value: str or bytes, no newline handling
    needed: the whole value is one message); headers: (name, value) pairs."""
    args = kcat_command(brokers, "-P", "-t", topic, "-D", "\x01")
    if key is not None:
        args += ["-k", key]
    for name, val in headers:
        args += ["-H", "%s=%s" % (name, val)]
    data = value.encode() if isinstance(value, str) else value
    try:
        p = subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=scaled(timeout), preexec_fn=_die_with_parent)
    except subprocess.TimeoutExpired:
        raise AssertionError("kcat -P -t %s did not finish within %.0fs" % (topic, timeout))
    if p.returncode != 0:
        raise AssertionError("kcat -P failed (%d): %s" % (p.returncode, p.stderr.decode("utf-8", "replace")))


TOOLS_DIR = os.environ.get("EG_TEST_TOOLS_DIR") or os.path.join(HERE, "..", "..", "build", "tests")


def produce_at(brokers, topic, value, timestamp_ms, key=None, headers=()):
    """Produces one record stamped timestamp_ms (CreateTime) with
    eg-produce-at, which kcat cannot; headers: (name, value) pairs."""
    args = [os.path.join(TOOLS_DIR, "eg-produce-at"), "-b", str(brokers), "-t", topic,
            "-T", str(int(timestamp_ms))]
    if key is not None:
        args += ["-k", key]
    for name, val in headers:
        args += ["-H", "%s=%s" % (name, val)]
    if is_external(brokers):
        for prop in kafka_properties():
            args += ["-X", prop]
    data = value.encode() if isinstance(value, str) else value
    p = subprocess.run(args, input=data, capture_output=True, timeout=scaled(KCAT_TIMEOUT + 30),
                       preexec_fn=_die_with_parent)
    if p.returncode != 0:
        raise AssertionError("eg-produce-at failed (%d): %s" % (p.returncode, p.stderr.decode("utf-8", "replace")))


def kafka_admin(brokers, *args, timeout=60):
    """Runs tests/tools/eg-kafka-admin on brokers (with EG_TEST_KAFKA_ARGS's
    --kafka settings on the external cluster, as kcat gets them); returns its
    standard output, AssertionError with its message when it fails."""
    cmd = [os.path.join(TOOLS_DIR, "eg-kafka-admin"), "-b", str(brokers)]
    if is_external(brokers):
        for prop in kafka_properties():
            cmd += ["-X", prop]
    p = subprocess.run(cmd + list(args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=scaled(timeout), preexec_fn=_die_with_parent)
    if p.returncode != 0:
        raise AssertionError("eg-kafka-admin %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p.stdout


def create_topic(brokers, name, partitions=1, configs=None, replication_factor=-1):
    """Creates topic `name` (a full name: topic(brokers, "config") for the
    gateway's) on a real cluster, as a user would before naming it in a
    function or to give it configs of its own ({name: value}): a real cluster
    does not create topics on a first record (auto.create.topics.enable=false
    in scripts/kafka.sh). A topic that exists is left as it is. No-op on the
    embedded broker and its stand-in, which create a topic on its first
    record and answer no CreateTopics."""
    real = getattr(brokers, "real", False) or (is_external(brokers) and not BROKER_CONTROL)
    if not real:
        return
    try:
        kafka_admin(brokers, "create", name, str(partitions), str(replication_factor),
                    *["%s=%s" % kv for kv in sorted((configs or {}).items())])
    except AssertionError as e:
        if "already exists" not in str(e):
            raise


def topic_configs(brokers, name, sources=False):
    """The configurations set on topic `name` of a real cluster, {name: value};
    with sources, every configuration the topic has, {name: {"value": v,
    "source": s}}, s as Kafka's DescribeConfigs says: DYNAMIC_TOPIC_CONFIG
    for the topic's own setting, STATIC_BROKER_CONFIG or DEFAULT_CONFIG for
    what it inherits."""
    every = json.loads(kafka_admin(brokers, "describe", name))
    if sources:
        return every
    return {k: v["value"] for k, v in every.items() if v["source"] == "DYNAMIC_TOPIC_CONFIG"}


def delete_topic(brokers, name):
    """Deletes topic `name` of a real cluster."""
    kafka_admin(brokers, "delete", name)


def dead_letters(brokers, predicate=lambda v: True):
    """The values (parsed JSON) of the dead-letter records matching predicate."""
    return [r["value"] for r in kcat_consume(brokers, topic(brokers, "dlq"))
            if isinstance(r.get("value"), dict) and predicate(r["value"])]


def wait_dead_letters(brokers, predicate, count=1, timeout=15.0):
    """Polls the dead-letter topic until at least count records match; returns them."""
    found = []

    def check():
        found[:] = dead_letters(brokers, predicate)
        return len(found) >= count
    wait_until(check, timeout=timeout, interval=0.3,
               message="%d dead letter(s) in %s" % (count, topic(brokers, "dlq")))
    return list(found)


def _start_fn(self, **kw):
    """GatewayTestCase.start_fn: a fnserver.FnServer for this test, stopped in cleanup."""
    from fnserver import FnServer
    fn = FnServer(**kw).start()
    self.addCleanup(fn.stop)
    return fn


GatewayTestCase.start_fn = _start_fn


def _start_held_fn(self, name="held"):
    """GatewayTestCase.start_held_fn: a function that holds every call until
    the test sets the returned event (then answers 200); (fn, release). The
    cleanup releases the calls, then stops the server."""
    release = threading.Event()

    def held(call):
        release.wait(60)
        return 200, None, None
    fn = self.start_fn(name=name, respond=held)
    self.addCleanup(release.set)  # cleanups run last-in first: before fn.stop
    return fn, release


GatewayTestCase.start_held_fn = _start_held_fn


# ---------------------------------------------------------------------------
# Sync helpers (docs/contract.md section 4: sync subscriptions, authorizers, CORS)

FUNCTION_FAILED = "Function call failed. Please check logs."


def sync_answer(status=None, headers=None, body=None):
    """The body of a sync function's answer, as event-gateway 0.9 read it:
    {"statusCode":…, "headers":{…}, "body":"…"} (absent fields left out)."""
    ans = {}
    if status is not None:
        ans["statusCode"] = status
    if headers is not None:
        ans["headers"] = headers
    if body is not None:
        ans["body"] = body
    return ans


def add_sync_subscription(gw, space, event_type, function_id, path="/", method="POST"):
    """Creates a sync subscription; returns it (AssertionError unless 201)."""
    return configure(gw, space, subscriptions=[{"type": "sync", "eventType": event_type,
                                                "functionId": function_id, "path": path,
                                                "method": method}])[0]


def wait_sync_ready(gw, space="default", path="/__sync-warmup", timeout=30.0):
    """Blocks until a sync call goes all the way through gw (router and invoker
    have their partitions and the reply path works): registers a sync
    subscription on http.request GET path (http.request must be registered in
    space) to a throw-away function server and polls it until it answers 200.
    Returns the seconds it took."""
    from fnserver import FnServer
    fn = FnServer(name="warmup", respond=lambda call: (200, None, sync_answer(200, body="warm"))).start()
    t0 = time.monotonic()
    try:
        configure(gw, space, functions={"sync-warmup-fn": fn.url})
        add_sync_subscription(gw, space, "http.request", "sync-warmup-fn", path=path, method="GET")
        last = [None]

        def ready():
            try:
                r = gw_event(gw, path=path, method="GET", timeout=15)
            except (OSError, http.client.HTTPException) as e:
                last[0] = e
                return False
            last[0] = r
            return r.status == 200 and r.body == "warm"
        try:
            wait_until(ready, timeout=timeout, interval=0.2, message="a sync call through %r" % (gw,))
        except AssertionError as e:
            raise AssertionError("%s; last answer %r" % (e, last[0]))
        return time.monotonic() - t0
    finally:
        fn.stop()


def events_with_id(brokers, event_id):
    """The records of the events topic whose payload holds event_id (1.0 id or 0.1 eventID)."""
    return [r for r in kcat_consume(brokers, topic(brokers, "events")) if event_id in (r.get("payload") or "")]
