#!/usr/bin/env python3
"""Noisy neighbours (issue 23, item 5): how much one tenant's slow function
delays another tenant's deliveries, on a real Kafka.

    python3 bench/fairness.py [BIN_DIR]     (default: build/bin)

Starts the project's Apache Kafka (scripts/kafka.sh, one node, on free ports,
in a directory of its own, stopped at the end) unless EG_BENCH_BROKERS names
a cluster, and `event-gateway` on it (stopped by its PID at the end, whatever
happens). Two tenants, each a space with one event type, one function and one
async subscription: "slow", whose function answers after SLOW_MS, and
"fast", whose function answers at once. Both functions are HTTP servers of
this process, so a delivery's latency is the time from the POST of its event
to the call, on one clock.

  1. idle: FAST_EVENTS events of "fast", RATE a second; their latencies;
  2. burst: BURST events of "slow" sent as fast as 16 connections go, while
     "fast" goes on at RATE a second; the latencies of the fast events sent
     during the burst (until every slow event is accepted).

Three rounds, each with a gateway and topics of its own on the same Kafka: the
baseline with no shares (--max-inflight-per-function 0: every function's
records stay in the async windows), the defaults, and "load only", the same
burst to a function that answers at once (what the load alone costs). For each it prints
p50/p99 of both phases and the ratio of the burst's p99 to the idle one (the
issue's goal: at most 2). Environment: EG_BENCH_BROKERS,
EG_BENCH_SLOW_MS (1000), EG_BENCH_BURST (6000), EG_BENCH_FAST_EVENTS (100),
EG_BENCH_RATE (20), EG_BENCH_GW_ARGS (extra event-gateway flags).
"""
import http.client
import http.server
import json
import os
import shlex
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from benchlib import Gateway, request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin"))
SLOW_MS = int(os.environ.get("EG_BENCH_SLOW_MS", "1000"))
BURST = int(os.environ.get("EG_BENCH_BURST", "6000"))
FAST_EVENTS = int(os.environ.get("EG_BENCH_FAST_EVENTS", "100"))
RATE = float(os.environ.get("EG_BENCH_RATE", "20"))
GW_ARGS = shlex.split(os.environ.get("EG_BENCH_GW_ARGS", ""))
DRAIN_S = 300  # longest wait for the last fast event of a phase


class Fn:
    """A function: answers 200 after delay_ms; records when each event id came."""

    def __init__(self, delay_ms):
        fn = self
        self.delay = delay_ms / 1000.0
        self.seen = {}
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                t = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    eid = json.loads(body).get("id")
                except ValueError:
                    eid = None
                with fn.lock:
                    fn.seen.setdefault(eid, t)
                if fn.delay:
                    time.sleep(fn.delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            request_queue_size = 4096

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/" % self.server.server_address[1]


def event(space, etype):
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/bench/fairness",
            "type": etype, "egspace": space, "datacontenttype": "application/json", "data": {}}


def post_event(conn, ev):
    conn.request("POST", "/", body=json.dumps(ev),
                 headers={"Content-Type": "application/cloudevents+json"})
    r = conn.getresponse()
    r.read()
    return r.status


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def fast_load(eport, fast, until, out):
    """Fast events at RATE a second until until() is true; out gets (id, sent)."""
    conn = http.client.HTTPConnection("127.0.0.1", eport, timeout=30)
    nxt = time.monotonic()
    while not until():
        ev = event("fast", "fast.ev")
        t = time.monotonic()
        if post_event(conn, ev) == 202:
            out.append((ev["id"], t))
        nxt += 1.0 / RATE
        time.sleep(max(0.0, nxt - time.monotonic()))  # the load's pace, not a synchronisation
    conn.close()


def latencies(fn, sent):
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline:
        with fn.lock:
            if all(i in fn.seen for i, _ in sent):
                break
        time.sleep(0.1)
    with fn.lock:
        return [fn.seen[i] - t for i, t in sent if i in fn.seen], sum(1 for i, _ in sent if i not in fn.seen)


def run_round(brokers, work, name, extra, slow_ms=SLOW_MS):
    """One gateway (topics of its own) through the idle and burst phases;
    returns the figures of the round."""
    slow, fast = Fn(slow_ms), Fn(0)
    gw = None
    try:
        log = open(os.path.join(work, "gateway-%s.log" % name), "w")
        gw = Gateway(BIN, ["--brokers", brokers, "--topic-prefix", "fair%s." % uuid.uuid4().hex[:6],
                           "--function-allow-cidrs", "127.0.0.0/8"] + extra + GW_ARGS, log)
        cport, eport = gw.config_port, gw.events_port
        for sp, fn in (("slow", slow), ("fast", fast)):
            for kind, body in (("eventtypes", {"name": sp + ".ev"}),
                               ("functions", {"functionId": sp + "fn", "type": "http",
                                              "provider": {"url": fn.url}}),
                               ("subscriptions", {"type": "async", "eventType": sp + ".ev",
                                                  "functionId": sp + "fn"})):
                st, b = request(cport, "POST", "/v1/spaces/%s/%s" % (sp, kind), body)
                if st != 201:
                    sys.exit("POST %s: %d %r" % (kind, st, b[:200]))
        # Warm up: the first event after start takes the router's first transaction.
        warm = []
        fast_load(eport, fast, lambda: len(warm) >= 5, warm)
        latencies(fast, warm)

        idle = []
        fast_load(eport, fast, lambda: len(idle) >= FAST_EVENTS, idle)
        idle_lat, idle_lost = latencies(fast, idle)

        burst_done = threading.Event()
        accepted = [0]
        lock = threading.Lock()

        def slow_sender(n):
            conn = http.client.HTTPConnection("127.0.0.1", eport, timeout=60)
            for _ in range(n):
                if post_event(conn, event("slow", "slow.ev")) == 202:
                    with lock:
                        accepted[0] += 1
            conn.close()

        senders = [threading.Thread(target=slow_sender, args=(BURST // 16,), daemon=True)
                   for _ in range(16)]
        during = []
        t0 = time.monotonic()
        for t in senders:
            t.start()
        waiter = threading.Thread(target=lambda: ([t.join() for t in senders], burst_done.set()),
                                  daemon=True)
        waiter.start()
        fast_load(eport, fast, lambda: burst_done.is_set() and time.monotonic() - t0 > 5, during)
        burst_s = time.monotonic() - t0
        burst_lat, burst_lost = latencies(fast, during)
        return {"name": name, "idle": idle_lat, "idle_lost": idle_lost, "burst": burst_lat,
                "burst_lost": burst_lost, "accepted": accepted[0], "burst_s": burst_s}
    finally:
        if gw:
            gw.stop()
        for fn in (slow, fast):
            fn.server.shutdown()
            fn.server.server_close()


def main():
    work = tempfile.mkdtemp(prefix="eg-bench-fair-")
    kafka_env = None
    brokers = os.environ.get("EG_BENCH_BROKERS")
    try:
        if not brokers:
            base = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "free-ports.py"),
                                   "--consecutive", "2"], capture_output=True, text=True,
                                  check=True).stdout.strip()
            kafka_env = dict(os.environ, KAFKA_DIR=os.path.join(work, "kafka"), KAFKA_PORT=base,
                             KAFKA_NODES="1")
            out = subprocess.run(["bash", os.path.join(ROOT, "scripts", "kafka.sh"), "start"],
                                 env=kafka_env, capture_output=True, text=True, timeout=300)
            if out.returncode:
                sys.exit("kafka.sh start failed: %s" % out.stderr[-2000:])
            brokers = [l.split("=", 1)[1] for l in out.stdout.splitlines()
                       if l.startswith("KAFKA_BROKERS=")][0]
        # The baseline: no shares (every function's records in the async
        # windows, as before the overflow topic); then the defaults.
        # Last, the same burst to a function that answers at once: what the
        # load alone (ingest, routing, calls, on this machine) does to the
        # fast tenant's latency, the floor of the other two.
        rounds = [run_round(brokers, work, "no shares", ["--max-inflight-per-function", "0"]),
                  run_round(brokers, work, "default", []),
                  run_round(brokers, work, "load only", [], slow_ms=0)]
        print("noisy neighbours on %s (Kafka %s): slow tenant %d events, its function %d ms; "
              "fast tenant %.0f events/s" % (os.uname().nodename, brokers, BURST, SLOW_MS, RATE))
        print("  %-10s %8s %8s %9s %9s %9s %7s" % ("", "idle p50", "idle p99", "burst p50",
                                                  "burst p99", "(events)", "ratio"))
        for r in rounds:
            ratio = pct(r["burst"], 0.99) / max(pct(r["idle"], 0.99), 1e-9)
            lost = r["idle_lost"] + r["burst_lost"]
            print("  %-10s %7.3fs %7.3fs %8.3fs %8.3fs %9d %6.1fx %s%s"
                  % (r["name"], pct(r["idle"], 0.5), pct(r["idle"], 0.99), pct(r["burst"], 0.5),
                     pct(r["burst"], 0.99), len(r["burst"]), ratio,
                     "PASS" if ratio <= 2 and not lost else "FAIL",
                     " (%d fast events not delivered within %d s)" % (lost, DRAIN_S) if lost else ""))
        print("  ratio: burst p99 / idle p99 (goal: at most 2x); \"load only\": the same burst to "
              "a function that answers at once")
        print("  default burst p99 / load-only burst p99: %.1fx"
              % (pct(rounds[1]["burst"], 0.99) / max(pct(rounds[2]["burst"], 0.99), 1e-9)))
    finally:
        if kafka_env:
            subprocess.run(["bash", os.path.join(ROOT, "scripts", "kafka.sh"), "stop"],
                           env=kafka_env, capture_output=True, timeout=120)
        print("  (logs in %s)" % work)


if __name__ == "__main__":
    main()
