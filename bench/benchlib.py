"""What the Python benches share: free ports, one HTTP request, and an
event-gateway process started on them, ready when its /v1/status says 200,
and stopped by its PID."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=60):
    """(status, body bytes) of one request to 127.0.0.1:port, JSON body."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class Gateway:
    """`event-gateway` of bin_dir with args on two free ports, its output in
    log (an open file); exits the bench if it is not ready within ready_s."""

    def __init__(self, bin_dir, args, log, env=None, ready_s=60):
        self.config_port, self.events_port = free_port(), free_port()
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "event-gateway"), "--listen", "127.0.0.1", "--config-port",
             str(self.config_port), "--events-port", str(self.events_port)] + list(args),
            stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + ready_s
        while True:
            try:
                if request(self.config_port, "GET", "/v1/status", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                sys.exit("the gateway did not start; log: %s" % log.name)
            time.sleep(0.1)  # polling for readiness, bounded by ready_s

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
