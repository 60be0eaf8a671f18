"""A function server for end-to-end tests (Python 3 standard library only).

FnServer is a threaded HTTP/1.1 server on a free local port that plays an
`http` function: it records every call (monotonic and wall time, method,
path, headers, raw body, parsed JSON body) and answers according to its
behaviour:

    FnServer()                          always 200
    FnServer(status=404)                always 404
    FnServer(fail_first=2)              500 to the first 2 calls, then 200
    FnServer(statuses=[500, 429])       these answers first, then `status`
    FnServer(hang=30)                   holds every call for 30 s (released by stop())
    FnServer(respond=callable)          callable(call) -> (status, headers, body)

Waiting is done on a condition variable with a deadline, never by sleeping:

    fn.wait_calls(3, timeout=10)        blocks until >= 3 calls (AssertionError on timeout)
    fn.wait_for(lambda calls: ..., 10)  any predicate over the list of calls
    fn.assert_quiet(1.0, count)         the number of calls stays `count` for 1 s

Use it as a context manager or call start()/stop(); stop() releases hanging
handlers, closes the listening socket and is safe to call twice.
"""

import http.server
import json
import os
import socketserver
import threading
import time

# EG_TEST_TIME_SCALE stretches waits for slow wrappers such as valgrind (see egtest.py).
TIME_SCALE = float(os.environ.get("EG_TEST_TIME_SCALE") or "1")


class Call:
    """One recorded request."""

    __slots__ = ("n", "mono", "wall", "method", "path", "headers", "body", "json")

    def __init__(self, n, mono, wall, method, path, headers, body):
        self.n = n              # 1-based index among this server's calls
        self.mono = mono        # time.monotonic() when the request was fully read
        self.wall = wall        # time.time() likewise
        self.method = method
        self.path = path
        self.headers = headers  # dict, lower-case names (last value wins)
        self.body = body        # bytes
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            self.json = None

    @property
    def content_type(self):
        return self.headers.get("content-type", "")

    def event_id(self):
        """The id of the CloudEvent in the body (1.0 `id` or 0.1 `eventID`)."""
        j = self.json
        if isinstance(j, dict):
            return j.get("id", j.get("eventID"))
        return None

    def __repr__(self):
        return "<Call #%d %s %s %s %r>" % (self.n, self.method, self.path, self.content_type,
                                            self.body[:200])


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fnserver/1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _handle(self):
        fn = self.server.fn
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, rheaders, rbody = fn._record_and_decide(self.command, self.path, headers, body)
        if rbody is None:
            rbody = b""
        elif isinstance(rbody, str):
            rbody = rbody.encode()
        elif not isinstance(rbody, bytes):
            rbody = json.dumps(rbody).encode()
            rheaders = dict(rheaders or {})
            rheaders.setdefault("Content-Type", "application/json")
        try:
            self.send_response(status)
            for k, v in (rheaders or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(rbody)))
            self.end_headers()
            self.wfile.write(rbody)
        except OSError:
            self.close_connection = True

    do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle


class FnServer:
    def __init__(self, name="fn", status=200, fail_first=0, fail_status=500, statuses=(),
                 hang=0.0, respond=None, body=None):
        self.name = name
        self.status = status
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.statuses = list(statuses)
        self.hang = hang
        self.respond = respond
        self.body = body
        self.calls = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._srv = None
        self._thread = None

    # -- lifecycle --

    def start(self):
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.fn = self
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fnserver-%s" % self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._srv is None:
            return
        self._stopping.set()
        self._srv.shutdown()
        self._srv.server_close()
        self._thread.join(5)
        self._srv = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._srv.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d/%s" % (self.port, self.name)

    # -- behaviour --

    def _record_and_decide(self, method, path, headers, body):
        with self._cond:
            call = Call(len(self.calls) + 1, time.monotonic(), time.time(), method, path, headers, body)
            self.calls.append(call)
            self._cond.notify_all()
        if self.hang:
            self._stopping.wait(self.hang)
        if self.respond is not None:
            return self.respond(call)
        if call.n <= len(self.statuses):
            return self.statuses[call.n - 1], None, self.body
        if call.n <= len(self.statuses) + self.fail_first:
            return self.fail_status, None, self.body
        return self.status, None, self.body

    # -- observation --

    def snapshot(self):
        with self._cond:
            return list(self.calls)

    def count(self):
        with self._cond:
            return len(self.calls)

    def wait_for(self, predicate, timeout=10.0, message="condition"):
        """Blocks until predicate(list of calls) is truthy; returns its value.
        AssertionError (with the calls seen) after timeout seconds (scaled by
        EG_TEST_TIME_SCALE)."""
        timeout *= TIME_SCALE
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = predicate(self.calls)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: timed out after %.1fs waiting for %s; %d calls: %r"
                                         % (self.name, timeout, message, len(self.calls),
                                            self.calls[-5:]))
                self._cond.wait(min(left, 0.5))

    def wait_calls(self, n, timeout=10.0):
        """Blocks until at least n calls were made; returns the calls."""
        self.wait_for(lambda calls: len(calls) >= n, timeout, "%d call(s)" % n)
        return self.snapshot()

    def assert_quiet(self, period, expected):
        """Fails if the number of calls differs from expected now or within period seconds."""
        deadline = time.monotonic() + period
        with self._cond:
            while True:
                if len(self.calls) != expected:
                    raise AssertionError("%s: expected %d call(s), got %d: %r"
                                         % (self.name, expected, len(self.calls), self.calls[-5:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def event_ids(self):
        """The event id of every call, in order (duplicates kept)."""
        return [c.event_id() for c in self.snapshot()]

    def __repr__(self):
        return "<FnServer %s %s calls=%d>" % (self.name, self.url if self._srv else "stopped",
                                              self.count())


def sync_responder(answer):
    """A `respond` callable for FnServer that answers 200 with a sync answer
    body: answer is a dict ({"statusCode","headers","body"}), or a callable
    call -> dict (e.g. to echo something of the event)."""
    def respond(call):
        return 200, {"Content-Type": "application/json"}, answer(call) if callable(answer) else answer
    return respond
