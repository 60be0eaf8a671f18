#!/usr/bin/env python3
"""Config API under load (issue 23, item 3): the memory of the process that
serves it before, at the peak of and after concurrent list requests, and
how long writes take meanwhile.

    python3 bench/config_load.py [BIN_DIR]     (default: build/bin)

Starts `event-gateway --dev` on free ports (stopped by its PID at the end,
whatever happens), creates FUNCTIONS functions of about METADATA bytes of
metadata each in one space, then runs READERS threads that list that space
over and over for SECONDS, while one writer creates event types in another
space and times each write. RSS is read from /proc/PID/status (VmRSS)
every 50 ms. Environment: EG_BENCH_FUNCTIONS (2000), EG_BENCH_METADATA
(2000), EG_BENCH_READERS (100), EG_BENCH_SECONDS (15).
"""
import os
import sys
import tempfile
import threading
import time

from benchlib import Gateway, request

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "build", "bin"))
FUNCTIONS = int(os.environ.get("EG_BENCH_FUNCTIONS", "2000"))
METADATA = int(os.environ.get("EG_BENCH_METADATA", "2000"))
READERS = int(os.environ.get("EG_BENCH_READERS", "100"))
SECONDS = float(os.environ.get("EG_BENCH_SECONDS", "15"))


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main():
    log = tempfile.NamedTemporaryFile(prefix="eg-bench-config-", suffix=".log", delete=False)
    gw = Gateway(BIN, ["--dev"], log, env=dict(os.environ, EG_MAX_FUNCTIONS_PER_SPACE="0"))
    proc, cport = gw.proc, gw.config_port
    try:
        pad = "x" * METADATA
        for i in range(FUNCTIONS):
            st, body = request(cport, "POST", "/v1/spaces/big/functions",
                               {"functionId": "f%05d" % i, "type": "http",
                                "provider": {"url": "http://127.0.0.1:9/"}, "metadata": {"pad": pad}})
            if st != 201:
                sys.exit("create: %d %r" % (st, body[:200]))
        before = rss_mb(proc.pid)
        stop = threading.Event()
        peak = [before]
        statuses = {}
        writes = []
        lock = threading.Lock()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(proc.pid))
                time.sleep(0.05)

        def reader():
            while not stop.is_set():
                try:
                    st = request(cport, "GET", "/v1/spaces/big/functions")[0]
                except OSError as e:
                    st = type(e).__name__
                with lock:
                    statuses[st] = statuses.get(st, 0) + 1

        def writer():
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    st = request(cport, "POST", "/v1/spaces/other/eventtypes", {"name": "w%05d" % i})[0]
                except OSError as e:
                    st = type(e).__name__
                writes.append((st, time.monotonic() - t0))
                i += 1

        threads = [threading.Thread(target=sample, daemon=True), threading.Thread(target=writer, daemon=True)]
        threads += [threading.Thread(target=reader, daemon=True) for _ in range(READERS)]
        for t in threads:
            t.start()
        time.sleep(SECONDS)  # the length of the load
        stop.set()
        for t in threads:
            t.join(120)
        time.sleep(2.0)  # what the process keeps once the load is over
        after = rss_mb(proc.pid)
        wt = sorted(d for _, d in writes)
        wst = {}
        for st, _ in writes:
            wst[st] = wst.get(st, 0) + 1
        print("config load: %d functions of %d B metadata, %d readers for %.0f s (%s)"
              % (FUNCTIONS, METADATA, READERS, SECONDS, BIN))
        print("  RSS: before %.0f MB, peak %.0f MB, 2 s after %.0f MB" % (before, peak[0], after))
        print("  lists answered: %s" % statuses)
        if wt:
            print("  writes meanwhile: %d (%s), p50 %.3f s, max %.3f s"
                  % (len(wt), wst, wt[len(wt) // 2], wt[-1]))
    finally:
        gw.stop()
        os.unlink(log.name)


if __name__ == "__main__":
    main()
