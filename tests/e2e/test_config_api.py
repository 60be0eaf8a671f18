"""Config API over HTTP: every row of docs/contract.md section 3, statuses and bodies.

One dev gateway serves the whole class; every test works in a space of its
own, so tests are independent. The body-limit test starts its own gateway.
"""

import itertools
import json
import re
import threading
import time
import unittest
import urllib.parse

from egtest import (EXTERNAL_BROKERS, GatewayTestCase, ce10, configure, gw_event, subscription_id_09,
                    sync_answer, topic, wait_until)

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
LIST_KEYS = {"eventtypes": "eventTypes", "functions": "functions", "subscriptions": "subscriptions",
             "cors": "cors"}
_counter = itertools.count(1)


class ConfigAPITestBase(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # writes normally take milliseconds; a short write timeout keeps failures quick
        cls.gw = cls.start_class_gateway(name="config-api", extra_args=["--write-timeout-ms", "5000"])

    def setUp(self):
        short = self._testMethodName.replace("test_", "")[:40]
        self.sp = "t%03d-%s" % (next(_counter), short)

    # -- helpers --

    def call(self, method, rest, body=None, space=None, **kw):
        return self.gw.request(method, "/v1/spaces/%s/%s" % (space or self.sp, rest), body=body, **kw)

    def create(self, kind, body, space=None, status=201):
        r = self.call("POST", kind, body, space=space)
        self.assertStatus(r, status, "POST %s %r" % (kind, body))
        if status == 201:
            self.assertJSONResponse(r)
        return r.body

    def items(self, kind, query="", space=None):
        r = self.call("GET", kind + query, space=space)
        self.assertStatus(r, 200, "GET %s%s" % (kind, query))
        self.assertJSONResponse(r)
        self.assertIsInstance(r.body, dict)
        self.assertEqual(list(r.body.keys()), [LIST_KEYS[kind]],
                         "list answer must be {%r: [...]}, got %r" % (LIST_KEYS[kind], r.body))
        self.assertIsInstance(r.body[LIST_KEYS[kind]], list)
        return r.body[LIST_KEYS[kind]]

    def assertEmpty(self, kind, space=None, what="a refused request must write nothing"):
        self.assertEqual(self.items(kind, space=space), [], what)

    def eventtype(self, name="user.created", **extra):
        return self.create("eventtypes", dict(name=name, **extra))

    def function(self, fid="fn1", url="http://127.0.0.1:9/hook", **extra):
        return self.create("functions", dict(functionId=fid, type="http", provider={"url": url}, **extra))

    def subscription(self, status=201, **fields):
        body = dict(type="async", eventType="user.created", functionId="fn1")
        body.update(fields)
        r = self.call("POST", "subscriptions", body)
        self.assertStatus(r, status, "POST subscriptions %r" % (body,))
        return r


class TestGeneral(ConfigAPITestBase):
    def test_status(self):
        r = self.gw.request("GET", "/v1/status")
        self.assertStatus(r, 200)
        self.assertJSONResponse(r)
        self.assertEqual(r.body.get("status"), "ok")
        kafka = r.body.get("kafka") or {}
        self.assertRegex(kafka.get("brokers", ""), r"^[^,:]+:\d+(,[^,:]+:\d+)*$")
        self.assertEqual(kafka.get("topics", {}).get("events"), topic(self.gw.brokers, "events"))
        self.assertEqual(kafka.get("topics", {}).get("config"), topic(self.gw.brokers, "config"))

    def test_unknown_routes_answer_404_json(self):
        for path in ["/", "/v1", "/v1/nothing", "/v2/spaces/default/eventtypes", "/v1/spaces",
                     "/v1/spaces/default", "/v1/spaces/default/widgets",
                     "/v1/spaces/default/eventtypes/a/b"]:
            with self.subTest(path=path):
                self.assertError(self.gw.request("GET", path), 404, what="GET " + path)

    def test_wrong_method_answers_405(self):
        cases = [("PATCH", "eventtypes"), ("PUT", "eventtypes"), ("DELETE", "functions"),
                 ("POST", "eventtypes/x"), ("PATCH", "functions/x"), ("POST", "cors/GET%2Fa")]
        for method, rest in cases:
            with self.subTest(method=method, rest=rest):
                r = self.call(method, rest, body={})
                self.assertError(r, 405, what="%s %s" % (method, rest))
                self.assertTrue(r.headers.get("Allow"), "405 without an Allow header")
        self.assertError(self.gw.request("POST", "/v1/status"), 405)

    def test_error_body_for_not_found_items(self):
        for kind in LIST_KEYS:
            with self.subTest(kind=kind):
                self.assertError(self.call("GET", kind + "/nope"), 404, "not found", "nope")

    def test_empty_lists(self):
        for kind in LIST_KEYS:
            with self.subTest(kind=kind):
                self.assertEqual(self.items(kind), [])

    def test_bad_space_in_url(self):
        long_space = "s" * 300
        for space in ["ab", "a%20b", "bad!space", long_space, "a%2Fbc"]:
            for method, rest, body in [("GET", "eventtypes", None),
                                       ("POST", "eventtypes", {"name": "x"}),
                                       ("POST", "functions", {"functionId": "f", "type": "http",
                                                              "provider": {"url": "http://h/"}})]:
                with self.subTest(space=space[:20], method=method, rest=rest):
                    r = self.gw.request(method, "/v1/spaces/%s/%s" % (space, rest), body=body)
                    self.assertError(r, 400, what="%s space %r" % (method, space[:20]))

    def test_body_over_one_mib_is_413(self):
        big = json.dumps({"name": "big", "metadata": {"pad": "x" * (1024 * 1024 + 100)}})
        r = self.call("POST", "eventtypes", raw_body=big, headers={"Content-Type": "application/json"})
        self.assertError(r, 413)
        self.assertEmpty("eventtypes")

    def test_case_insensitive_field_names_like_go(self):
        # event-gateway 0.9 decoded bodies with Go's encoding/json: keys match case-insensitively
        body = self.create("functions", {"functionID": "fx", "Type": "http", "provider": {"URL": "http://h/x"}})
        self.assertEqual(body["functionId"], "fx")
        self.assertEqual(body["provider"]["url"], "http://h/x")

    def test_nul_characters_are_refused_not_truncated(self):
        # "\u0000" must not silently cut a value short: "a\u0000b" is not the name "a"
        cases = [("eventtypes", '{"name": "a\\u0000b"}'),
                 ("functions", '{"functionId": "f", "type": "http", "provider": {"url": "http://h/\\u0000x"}}'),
                 ("eventtypes", '{"name": "m", "metadata": {"k\\u0000z": "v"}}')]
        for kind, raw in cases:
            with self.subTest(raw=raw):
                r = self.call("POST", kind, raw_body=raw, headers={"Content-Type": "application/json"})
                self.assertError(r, 400, what="POST %s %s" % (kind, raw))
        self.assertEmpty("eventtypes")
        self.assertEmpty("functions")

    def test_raw_nul_control_characters_and_bad_utf8_are_refused(self):
        # A NUL byte would cut the stored value short, invalid UTF-8 would be
        # stored and answered as it came: both are refused, with the reason.
        cases = [(b'{"name": "m", "metadata": {"k": "a\x00b"}}', "NUL"),
                 (b'{"name": "m", "metadata": {"k": "a\x01b"}}', "control characters"),
                 (b'{"name": "m", "metadata": {"k": "caf\xe9"}}', "not valid UTF-8"),
                 (b'{"name": "m\xc0\xaf"}', "not valid UTF-8")]
        for raw, why in cases:
            with self.subTest(raw=raw):
                r = self.call("POST", "eventtypes", raw_body=raw, headers={"Content-Type": "application/json"})
                self.assertError(r, 400, why, what="POST eventtypes %r" % raw)
        self.assertEmpty("eventtypes")
        ok = self.create("eventtypes", {"name": "m", "metadata": {"k": "caf\u00e9 \u20ac"}})
        self.assertEqual(ok["metadata"], {"k": "caf\u00e9 \u20ac"})

    def test_space_in_body_is_taken_from_url(self):
        body = self.create("eventtypes", {"name": "e1", "space": "other-space"})
        self.assertEqual(body["space"], self.sp)
        self.assertEqual(self.items("eventtypes", space="other-space"), [])


class TestBodyLimit(GatewayTestCase):
    def test_body_over_configured_limit_is_413_and_writes_nothing(self):
        gw = self.start_gateway(name="small-body", extra_args=["--max-body-bytes", "1024"])
        small = {"name": "fits", "metadata": {"pad": "y" * 500}}
        self.assertStatus(gw.request("POST", "/v1/spaces/default/eventtypes", body=small), 201)
        big = {"name": "toobig", "metadata": {"pad": "x" * 2000}}
        r = gw.request("POST", "/v1/spaces/default/eventtypes", body=big)
        self.assertError(r, 413)
        # also with chunked transfer (no Content-Length)
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", gw.config_port, timeout=10)
        try:
            data = json.dumps({"name": "chunked", "metadata": {"pad": "z" * 3000}}).encode()
            conn.request("POST", "/v1/spaces/default/eventtypes", body=iter([data[:1500], data[1500:]]),
                         headers={"Content-Type": "application/json"}, encode_chunked=True)
            resp = conn.getresponse()
            raw = resp.read()
            self.assertEqual(resp.status, 413, raw)
            self.assertTrue(json.loads(raw)["errors"][0]["message"])
        finally:
            conn.close()
        r = gw.request("GET", "/v1/spaces/default/eventtypes")
        self.assertEqual([e["name"] for e in r.body["eventTypes"]], ["fits"])


class TestFraming(GatewayTestCase):
    def test_two_content_lengths_are_400_and_the_connection_closes(self):
        """Two Content-Length headers make a request's end ambiguous (a proxy in
        front may take the other one: request smuggling). Both APIs answer 400
        and close the connection, so the bytes after the first length are never
        read as a request of their own."""
        import socket
        gw = self.start_gateway(name="framing")
        configure(gw, "framing", eventtypes=["smuggled.event"])
        inner = ("POST /v1/spaces/framing/eventtypes HTTP/1.1\r\nHost: x\r\nContent-Length: 19\r\n"
                 "Content-Type: application/json\r\n\r\n{\"name\":\"smuggled\"}")
        ev = json.dumps(ce10("smuggled.event", "framing", data={}))
        for port, path, body in ((gw.config_port, "/v1/spaces/framing/eventtypes", '{"name":"x"}'),
                                 (gw.events_port, "/", ev)):
            with self.subTest(port=port):
                payload = body + inner
                head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (path, len(body), len(payload)))
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(head.encode() + payload.encode())
                    got = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break  # closed by the gateway
                        got += chunk
                self.assertTrue(got.startswith(b"HTTP/1.1 400"), got[:200])
                self.assertIn(b"more than one Content-Length", got)
                self.assertEqual(got.count(b"HTTP/1.1 "), 1, "one answer, then the connection closes")
        names = [e["name"] for e in gw.request("GET", "/v1/spaces/framing/eventtypes").body["eventTypes"]]
        self.assertEqual(names, ["smuggled.event"], "nothing smuggled was created")


    def test_too_many_query_parameters_are_431_not_a_closed_connection(self):
        """libmicrohttpd keeps each query parameter in a 32 KiB pool per
        connection: some 460 of them used to close the connection without an
        answer. Past 256 both APIs answer 431 with the limit."""
        import socket
        gw = self.start_gateway(name="params")
        for port in (gw.config_port, gw.events_port):
            for n, want in ((200, None), (600, b"HTTP/1.1 431"), (20000, b"HTTP/1.1 414")):
                with self.subTest(port=port, n=n):
                    q = "&".join("p%d=1" % i for i in range(n))
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        s.sendall(("GET /v1/status?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                   % q).encode())
                        got = b""
                        while True:
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            got += chunk
                    self.assertTrue(got.startswith(b"HTTP/1.1 "), "an answer, not a closed connection")
                    if want is None:
                        self.assertFalse(got.startswith(b"HTTP/1.1 4"), got[:120])
                    else:
                        self.assertTrue(got.startswith(want), got[:200])
                        if n == 600:
                            self.assertIn(b"more than 256 parameters", got)


class TestSlowClients(GatewayTestCase):
    """Issue 23, item 4: clients that send their requests a byte at a time
    hold no thread of the Config API (an event loop reads the connections,
    as the Events API's do) and are cut off at the request deadline."""
    CROWD = 600          # more than the 512 threads the Config API once had
    DEADLINE_MS = 3000

    def test_a_crowd_of_trickling_clients_locks_nothing_out(self):
        import socket
        gw = self.start_gateway(name="slow", extra_args=["--request-deadline-ms", str(self.DEADLINE_MS)])
        crowd = []
        for _ in range(self.CROWD):
            s = socket.create_connection(("127.0.0.1", gw.config_port), timeout=10)
            s.sendall(b"POST /v1/spaces/slow/eventtypes HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\nX-")
            crowd.append(s)
        t0 = time.monotonic()
        stop = threading.Event()

        def trickle():  # a byte each 0.3 s per connection: MHD's idle time-out never fires
            while not stop.is_set():
                for s in crowd:
                    try:
                        s.send(b"a")
                    except OSError:
                        pass
                stop.wait(0.3)

        threading.Thread(target=trickle, daemon=True).start()
        self.addCleanup(stop.set)
        self.addCleanup(lambda: [s.close() for s in crowd])
        # Everyone else is answered meanwhile, at once.
        took = {}
        for what, call, want in (
                ("status", lambda: gw.request("GET", "/v1/status", timeout=5), 200),
                ("metrics", lambda: gw.request("GET", "/metrics", timeout=5), 200),
                ("create", lambda: gw.request("POST", "/v1/spaces/slow/eventtypes",
                                              body={"name": "fast.event"}, timeout=5), 201),
                ("list", lambda: gw.request("GET", "/v1/spaces/slow/eventtypes", timeout=5), 200)):
            t = time.monotonic()
            self.assertEqual(call().status, want, what)
            took[what] = time.monotonic() - t
        self.assertLess(time.monotonic() - t0, self.DEADLINE_MS / 1000.0, "answered before the deadline")
        # A request whose body comes slowly but whole within the deadline is served.
        body = b'{"name": "slow.event"}'
        with socket.create_connection(("127.0.0.1", gw.config_port), timeout=10) as s:
            s.sendall(b"POST /v1/spaces/slow/eventtypes HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nConnection: close\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            for i in range(0, len(body), 8):
                time.sleep(0.2)
                s.sendall(body[i:i + 8])
            got = s.recv(4096)
        self.assertTrue(got.startswith(b"HTTP/1.1 201"), got[:100])
        # The crowd is cut off at the deadline (checked once a second).
        def closed(s):
            try:
                s.settimeout(0.01)
                return s.recv(1) == b""
            except socket.timeout:
                return False
            except OSError:
                return True

        wait_until(lambda: all(closed(s) for s in crowd),
                   timeout=self.DEADLINE_MS / 1000.0 + 10, interval=0.5,
                   message="the trickling connections closed at the deadline")
        cut = time.monotonic() - t0
        self.assertGreaterEqual(cut, self.DEADLINE_MS / 1000.0 - 0.5, "not before the deadline")
        self.assertIn("no whole request within %d ms" % self.DEADLINE_MS, gw.log_text())
        self.assertEqual(gw.request("GET", "/v1/status", timeout=5).status, 200)
        print("\n%d trickling connections: status %.3f s, metrics %.3f s, create %.3f s, list %.3f s; "
              "all cut off %.1f s after they opened" % (self.CROWD, took["status"], took["metrics"],
                                                          took["create"], took["list"], cut))


class TestBounds(GatewayTestCase):
    """Issue 23, item 3: per-space quotas, and lists answered a page at a time."""

    def test_quota_per_space_is_429_with_the_limit(self):
        gw = self.start_gateway(name="quota", extra_args=["--max-functions-per-space", "3",
                                                          "--max-eventtypes-per-space", "2"])
        for i in range(3):
            configure(gw, "q-a", functions={"f%d" % i: "http://127.0.0.1:9/"})
        body = {"functionId": "f3", "type": "http", "provider": {"url": "http://127.0.0.1:9/"}}
        r = gw.request("POST", "/v1/spaces/q-a/functions", body=body)
        self.assertError(r, 429, "limit", "--max-functions-per-space 3")
        # another space has a quota of its own; updates are not creates
        configure(gw, "q-b", functions={"f0": "http://127.0.0.1:9/"})
        r = gw.request("PUT", "/v1/spaces/q-a/functions/f0",
                       body={"type": "http", "provider": {"url": "http://127.0.0.1:8/"}})
        self.assertStatus(r, 200)
        configure(gw, "q-a", eventtypes=["e1", "e2"])
        self.assertError(gw.request("POST", "/v1/spaces/q-a/eventtypes", body={"name": "e3"}), 429,
                         "--max-eventtypes-per-space 2")
        # a delete makes room again
        self.assertStatus(gw.request("DELETE", "/v1/spaces/q-a/functions/f1"), 204)
        self.assertStatus(gw.request("POST", "/v1/spaces/q-a/functions", body=body), 201)
        names = [f["functionId"] for f in gw.request("GET", "/v1/spaces/q-a/functions").body["functions"]]
        self.assertEqual(names, ["f0", "f2", "f3"])

    def test_lists_come_in_pages_with_a_cursor(self):
        gw = self.start_gateway(name="pages")
        names = ["ev.%02d" % i for i in range(25)]
        configure(gw, "pages", eventtypes=names)
        whole = gw.request("GET", "/v1/spaces/pages/eventtypes").body
        self.assertEqual([e["name"] for e in whole["eventTypes"]], names)
        self.assertNotIn("nextCursor", whole, "a space smaller than a page answers as 0.9 did")
        got, cursor, pages = [], None, 0
        while True:
            q = "?limit=10" + ("&cursor=" + cursor if cursor else "")
            r = gw.request("GET", "/v1/spaces/pages/eventtypes" + q)
            self.assertStatus(r, 200)
            pages += 1
            got += [e["name"] for e in r.body["eventTypes"]]
            cursor = r.body.get("nextCursor")
            if not cursor:
                break
            self.assertLessEqual(pages, 5)
        self.assertEqual((got, pages), (names, 3))
        for q, why in (("?limit=0", "limit"), ("?limit=1001", "limit"), ("?limit=x", "limit"),
                       ("?cursor=%%%", "cursor")):
            self.assertError(gw.request("GET", "/v1/spaces/pages/eventtypes" + q), 400, why)


class TestEventTypes(ConfigAPITestBase):
    def test_create_and_get(self):
        body = self.eventtype("user.created", metadata={"team": "a"})
        expected = {"space": self.sp, "name": "user.created", "metadata": {"team": "a"}}
        self.assertEqual(body, expected)
        r = self.call("GET", "eventtypes/user.created")
        self.assertStatus(r, 200)
        self.assertJSONResponse(r)
        self.assertEqual(r.body, expected)

    def test_create_with_authorizer(self):
        self.function("auth")
        body = self.eventtype("secure", authorizerId="auth")
        self.assertEqual(body["authorizerId"], "auth")
        self.assertEqual(self.call("GET", "eventtypes/secure").body, body)

    def test_metadata_defaults_to_empty_object(self):
        body = self.eventtype("plain")
        self.assertEqual(body.get("metadata", {}), {})
        self.assertNotIn("authorizerId", body)

    def test_invalid_bodies_are_400_and_write_nothing(self):
        cases = {
            "malformed JSON": "{",
            "not an object": "[]",
            "empty body": "",
            "name a number": json.dumps({"name": 42}),
            "missing name": json.dumps({"metadata": {}}),
            "empty name": json.dumps({"name": ""}),
            "over-long name": json.dumps({"name": "n" * 300}),
            "bad characters in name": json.dumps({"name": "a b/c"}),
            "metadata not an object": json.dumps({"name": "x", "metadata": "m"}),
            "metadata value not a string": json.dumps({"name": "x", "metadata": {"k": 1}}),
            "authorizerId not a string": json.dumps({"name": "x", "authorizerId": 5}),
        }
        for what, raw in cases.items():
            with self.subTest(what):
                r = self.call("POST", "eventtypes", raw_body=raw, headers={"Content-Type": "application/json"})
                self.assertError(r, 400, what=what)
        self.assertEmpty("eventtypes")

    def test_unknown_authorizer_is_400(self):
        r = self.call("POST", "eventtypes", {"name": "secure", "authorizerId": "nobody"})
        self.assertError(r, 400, "Authorizer function doesn't exists.")  # 0.9's words
        self.assertEmpty("eventtypes")

    def test_exists_is_409(self):
        self.eventtype("dup")
        r = self.call("POST", "eventtypes", {"name": "dup", "metadata": {"other": "x"}})
        self.assertError(r, 409, "dup", "already exists")
        self.assertEqual(self.call("GET", "eventtypes/dup").body.get("metadata", {}), {})

    def test_get_404(self):
        self.assertError(self.call("GET", "eventtypes/ghost"), 404, "ghost", "not found")

    def test_list(self):
        a = self.eventtype("a.one")
        b = self.eventtype("b.two", metadata={"k": "v"})
        got = self.items("eventtypes")
        self.assertEqual(sorted(got, key=lambda e: e["name"]), [a, b])

    def test_update(self):
        self.function("auth")
        self.eventtype("ev", metadata={"v": "1"})
        r = self.call("PUT", "eventtypes/ev", {"name": "ev", "authorizerId": "auth", "metadata": {"v": "2"}})
        self.assertStatus(r, 200)
        self.assertJSONResponse(r)
        expected = {"space": self.sp, "name": "ev", "authorizerId": "auth", "metadata": {"v": "2"}}
        self.assertEqual(r.body, expected)
        self.assertEqual(self.call("GET", "eventtypes/ev").body, expected)
        # the whole object is replaced: no authorizerId removes it
        r = self.call("PUT", "eventtypes/ev", {"metadata": {"v": "3"}})
        self.assertStatus(r, 200)
        self.assertNotIn("authorizerId", r.body)
        self.assertEqual(r.body["name"], "ev")
        self.assertEqual(self.call("GET", "eventtypes/ev").body, r.body)

    def test_update_errors(self):
        self.eventtype("ev", metadata={"v": "1"})
        before = self.call("GET", "eventtypes/ev").body
        self.assertError(self.call("PUT", "eventtypes/ev", {"authorizerId": "nobody"}), 400,
                         "Authorizer function doesn't exists.")
        self.assertError(self.call("PUT", "eventtypes/ev", raw_body="{"), 400)
        self.assertError(self.call("PUT", "eventtypes/ev", {"metadata": [1]}), 400)
        self.assertEqual(self.call("GET", "eventtypes/ev").body, before, "a refused update changed the resource")
        self.assertError(self.call("PUT", "eventtypes/ghost", {"metadata": {}}), 404, "ghost")
        self.assertError(self.call("GET", "eventtypes/ghost"), 404, what="a 404 update must not create")

    def test_delete(self):
        self.eventtype("gone")
        r = self.call("DELETE", "eventtypes/gone")
        self.assertStatus(r, 204)
        self.assertEqual(r.body, "", "204 must have an empty body")
        self.assertError(self.call("GET", "eventtypes/gone"), 404)
        self.assertError(self.call("DELETE", "eventtypes/gone"), 404, "gone")
        self.assertEmpty("eventtypes", what="deleted")

    def test_delete_while_subscribed_is_400(self):
        self.eventtype("used")
        self.function("fn1")
        sub = self.subscription(eventType="used").body
        self.assertError(self.call("DELETE", "eventtypes/used"), 400, "subscription")
        self.assertStatus(self.call("GET", "eventtypes/used"), 200)
        self.assertStatus(self.call("DELETE", "subscriptions/" + sub["subscriptionId"]), 204)
        self.assertStatus(self.call("DELETE", "eventtypes/used"), 204)


class TestFunctions(ConfigAPITestBase):
    def test_create_http(self):
        body = self.create("functions", {"functionId": "hello", "type": "http",
                                         "provider": {"url": "https://example.com/hook",
                                                      "headers": {"X-Token": "t"}},
                                         "metadata": {"team": "a"}})
        expected = {"space": self.sp, "functionId": "hello", "type": "http",
                    "provider": {"url": "https://example.com/hook", "headers": {"X-Token": "t"}},
                    "metadata": {"team": "a"}}
        self.assertEqual(body, expected)
        r = self.call("GET", "functions/hello")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, expected)

    def test_a_pool_whose_topics_kafka_would_refuse_is_400(self):
        """A pool names its invocation topics (<prefix>invoke.<pool>.async,
        .sync and .overflow, the longest); one past Kafka's 249 characters
        could never be created, and its events would wait for ever: refused,
        with the longest that fits."""
        r = self.call("POST", "functions", {"functionId": "longpool", "type": "http",
                                            "provider": {"url": "http://127.0.0.1:9/hook"},
                                            "pool": "p" * 240})
        self.assertStatus(r, 400)
        msg = r.body["errors"][0]["message"]
        self.assertIn('"pool" must be at most', msg)
        self.assertIn("249", msg)
        longest = int(re.search(r"at most (\d+) characters", msg).group(1))
        self.assertIn("p" * longest + ".overflow", msg)
        self.assertEmpty("functions")
        self.create("functions", {"functionId": "longpool", "type": "http",
                                  "provider": {"url": "http://127.0.0.1:9/hook"}, "pool": "p" * longest})

    def test_create_awslambda(self):
        provider = {"arn": "arn:aws:lambda:us-east-1:123456789012:function:hello", "region": "us-east-1",
                    "awsAccessKeyId": "AKIDEXAMPLE", "awsSecretAccessKey": "secret", "awsSessionToken": "tok"}
        body = self.create("functions", {"functionId": "lam", "type": "awslambda", "provider": provider})
        self.assertEqual(body["type"], "awslambda")
        self.assertEqual(body["provider"], provider)
        self.assertEqual(body["space"], self.sp)
        self.assertEqual(self.call("GET", "functions/lam").body, body)
        minimal = self.create("functions", {"functionId": "lam2", "type": "awslambda",
                                            "provider": {"arn": "arn:x", "region": "eu-west-1"}})
        self.assertEqual(minimal["provider"], {"arn": "arn:x", "region": "eu-west-1"})

    def test_invalid_bodies_are_400_and_write_nothing(self):
        good = {"functionId": "f", "type": "http", "provider": {"url": "http://h/x"}}

        def with_(**kw):
            b = json.loads(json.dumps(good))
            b.update(kw)
            return json.dumps(b)

        cases = {
            "malformed JSON": '{"functionId": "f",',
            "not an object": '"f"',
            "missing functionId": json.dumps({"type": "http", "provider": {"url": "http://h/"}}),
            "functionId a number": with_(functionId=7),
            "bad characters in functionId": with_(functionId="a/b"),
            "over-long functionId": with_(functionId="f" * 300),
            "missing type": json.dumps({"functionId": "f", "provider": {"url": "http://h/"}}),
            "type a number": with_(type=1),
            "unknown provider type": with_(type="carrierpigeon"),
            "missing provider": json.dumps({"functionId": "f", "type": "http"}),
            "provider not an object": with_(provider="http://h/"),
            "http without url": with_(provider={}),
            "http url not a string": with_(provider={"url": 5}),
            "http url not http(s)": with_(provider={"url": "ftp://h/x"}),
            "http url not a URL": with_(provider={"url": "not a url"}),
            "http headers not strings": with_(provider={"url": "http://h/", "headers": {"a": 1}}),
            "awslambda without region": with_(type="awslambda", provider={"arn": "arn:x"}),
            "awslambda without arn": with_(type="awslambda", provider={"region": "us-east-1"}),
            "metadata not strings": with_(metadata={"a": True}),
        }
        for what, raw in cases.items():
            with self.subTest(what):
                r = self.call("POST", "functions", raw_body=raw, headers={"Content-Type": "application/json"})
                self.assertError(r, 400, what=what)
        self.assertEmpty("functions")

    def test_exists_is_409(self):
        self.function("dup", url="http://first/")
        r = self.call("POST", "functions", {"functionId": "dup", "type": "http", "provider": {"url": "http://second/"}})
        self.assertError(r, 409, "dup")
        self.assertEqual(self.call("GET", "functions/dup").body["provider"]["url"], "http://first/")

    def test_get_404_and_list(self):
        self.assertError(self.call("GET", "functions/ghost"), 404, "ghost", "not found")
        a = self.function("a")
        b = self.function("b", url="https://b.example/")
        self.assertEqual(sorted(self.items("functions"), key=lambda f: f["functionId"]), [a, b])

    def test_update(self):
        self.function("f", url="http://old/")
        r = self.call("PUT", "functions/f", {"type": "awslambda", "provider": {"arn": "arn:new", "region": "r1"},
                                             "metadata": {"v": "2"}})
        self.assertStatus(r, 200)
        expected = {"space": self.sp, "functionId": "f", "type": "awslambda",
                    "provider": {"arn": "arn:new", "region": "r1"}, "metadata": {"v": "2"}}
        self.assertEqual(r.body, expected)
        self.assertEqual(self.call("GET", "functions/f").body, expected)

    def test_update_errors(self):
        before = self.function("f", url="http://old/")
        self.assertError(self.call("PUT", "functions/f", {"type": "http", "provider": {"url": "ftp://x"}}), 400)
        self.assertError(self.call("PUT", "functions/f", {"type": "nope", "provider": {}}), 400)
        self.assertError(self.call("PUT", "functions/f", raw_body="]"), 400)
        self.assertEqual(self.call("GET", "functions/f").body, before)
        r = self.call("PUT", "functions/ghost", {"type": "http", "provider": {"url": "http://h/"}})
        self.assertError(r, 404, "ghost")
        self.assertError(self.call("GET", "functions/ghost"), 404)

    def test_delete(self):
        self.function("f")
        r = self.call("DELETE", "functions/f")
        self.assertStatus(r, 204)
        self.assertEqual(r.body, "")
        self.assertError(self.call("GET", "functions/f"), 404)
        self.assertError(self.call("DELETE", "functions/f"), 404, "f")

    def test_delete_while_subscribed_is_400(self):
        self.eventtype()
        self.function("fn1")
        sub = self.subscription().body
        self.assertError(self.call("DELETE", "functions/fn1"), 400, "subscribed")
        self.assertStatus(self.call("GET", "functions/fn1"), 200)
        self.assertStatus(self.call("DELETE", "subscriptions/" + sub["subscriptionId"]), 204)
        self.assertStatus(self.call("DELETE", "functions/fn1"), 204)

    def test_delete_while_authorizer_is_400(self):
        self.function("auth")
        self.eventtype("secure", authorizerId="auth")
        self.assertError(self.call("DELETE", "functions/auth"), 400, "authorizer", "secure")
        self.assertStatus(self.call("GET", "functions/auth"), 200)
        self.assertStatus(self.call("PUT", "eventtypes/secure", {"metadata": {}}), 200)
        self.assertStatus(self.call("DELETE", "functions/auth"), 204)


class TestSubscriptions(ConfigAPITestBase):
    def setUp(self):
        super().setUp()
        self.eventtype("user.created")
        self.eventtype("user.deleted")
        self.function("fn1")
        self.function("fn2")

    def test_create_defaults_and_shape(self):
        r = self.subscription()
        self.assertJSONResponse(r)
        body = r.body
        sid = body.get("subscriptionId", "")
        self.assertRegex(sid, URL_SAFE, "subscriptionId must be URL-safe")
        self.assertEqual(body, {"space": self.sp, "subscriptionId": sid, "type": "async",
                                "eventType": "user.created", "functionId": "fn1", "path": "/",
                                "method": "POST"})
        g = self.call("GET", "subscriptions/" + sid)
        self.assertStatus(g, 200)
        self.assertEqual(g.body, body)
        self.assertEqual(self.items("subscriptions"), [body])

    def test_id_is_event_gateway_09_compatible(self):
        body = self.subscription(path="/users/:id", method="get").body
        self.assertEqual(body["subscriptionId"], subscription_id_09("async", "user.created", "fn1", "/users/:id", "GET"))
        body = self.subscription(type="sync", path="/x y").body
        self.assertEqual(body["subscriptionId"], subscription_id_09("sync", "user.created", "fn1", "/x y", "POST"))

    def test_id_is_stable(self):
        a = self.subscription(path="/a", metadata={"m": "1"}).body
        self.assertStatus(self.call("DELETE", "subscriptions/" + a["subscriptionId"]), 204)
        b = self.subscription(path="/a").body
        self.assertEqual(a["subscriptionId"], b["subscriptionId"], "same content must give the same id")
        # the same content in another space: same id too
        other = self.sp + "-2"
        self.create("eventtypes", {"name": "user.created"}, space=other)
        self.create("functions", {"functionId": "fn1", "type": "http", "provider": {"url": "http://h/"}}, space=other)
        c = self.create("subscriptions", {"type": "async", "eventType": "user.created", "functionId": "fn1", "path": "/a"},
                        space=other)
        self.assertEqual(c["subscriptionId"], a["subscriptionId"])
        # different content: different ids
        d = self.subscription(path="/b").body
        e = self.subscription(path="/a", method="PUT").body
        ids = {b["subscriptionId"], d["subscriptionId"], e["subscriptionId"]}
        self.assertEqual(len(ids), 3)

    def test_method_upper_cased_and_path_prefixed(self):
        body = self.subscription(method="get", path="users/:id").body
        self.assertEqual(body["method"], "GET")
        self.assertEqual(body["path"], "/users/:id")
        body = self.subscription(method="Delete").body
        self.assertEqual(body["method"], "DELETE")

    def test_invalid_is_400_and_writes_nothing(self):
        cases = {
            "malformed JSON": "{'type': 'async'}",
            "unknown function": {"functionId": "ghost"},
            "unknown event type": {"eventType": "no.such.type"},
            "invalid type": {"type": "sometimes"},
            "missing type": {"type": None},
            "type a number": {"type": 1},
            "missing eventType": {"eventType": None},
            "missing functionId": {"functionId": None},
            "invalid method": {"method": "FETCH"},
            "method a number": {"method": 3},
            "path a number": {"path": 5},
            "wildcard not last": {"path": "/a/*rest/b"},
            "empty parameter name": {"path": "/a/:/b"},
            "metadata not strings": {"metadata": {"a": ["b"]}},
        }
        for what, change in cases.items():
            with self.subTest(what):
                if isinstance(change, str):
                    r = self.call("POST", "subscriptions", raw_body=change, headers={"Content-Type": "application/json"})
                else:
                    body = {"type": "async", "eventType": "user.created", "functionId": "fn1"}
                    body.update(change)
                    body = {k: v for k, v in body.items() if v is not None}
                    r = self.call("POST", "subscriptions", body)
                frags = {"unknown function": ("ghost",), "unknown event type": ("no.such.type",)}.get(what, ())
                self.assertError(r, 400, *frags, what=what)
        self.assertEmpty("subscriptions")

    def test_duplicate_is_409(self):
        a = self.subscription(path="/dup").body
        r = self.subscription(status=409, path="/dup")
        self.assertError(r, 409)
        # async vs sync on the same (eventType, functionId, path, method)
        self.assertError(self.subscription(status=409, type="sync", path="/dup"), 409)
        self.subscription(type="sync", path="/dup2")
        self.assertError(self.subscription(status=409, type="async", path="/dup2"), 409)
        self.assertEqual(len(self.items("subscriptions")), 2)
        self.assertEqual(self.call("GET", "subscriptions/" + a["subscriptionId"]).body, a)

    def test_second_sync_on_same_route_is_409(self):
        self.subscription(type="sync", path="/hello", method="GET")
        r = self.subscription(status=409, type="sync", path="/hello", method="GET", functionId="fn2")
        self.assertError(r, 409)
        # async subscriptions of other functions on that route are fine
        self.subscription(type="async", path="/hello", method="GET", functionId="fn2")
        self.assertEqual(len(self.items("subscriptions")), 2)

    def test_second_sync_on_same_route_spelled_with_trailing_slash_is_409(self):
        # "/hello" and "/hello/" are one route for the router: two sync functions would answer it
        self.subscription(type="sync", path="/hello", method="GET")
        r = self.call("POST", "subscriptions", {"type": "sync", "eventType": "user.created",
                                                "functionId": "fn2", "path": "/hello/", "method": "GET"})
        self.assertError(r, 409, what="second sync subscription on /hello spelled /hello/")

    def test_path_conflicts_are_409(self):
        conflicts = [
            ("/users/:id", "/users/:name"),
            ("/users/:id", "/users/me"),
            ("/users/me", "/users/:id"),
            ("/files/*path", "/files/:id"),
            ("/files/*path", "/files/*rest"),
            ("/files/*path", "/files/static"),
            ("/files/static", "/files/*path"),
            ("/a/:x/b", "/a/:y/c"),
        ]
        for i, (first, second) in enumerate(conflicts):
            with self.subTest(first=first, second=second):
                et = "conflict.%d" % i
                self.eventtype(et)
                self.subscription(type="sync", eventType=et, path=first)
                r = self.call("POST", "subscriptions", {"type": "sync", "eventType": et, "functionId": "fn2",
                                                        "path": second})
                self.assertError(r, 409, "conflict", what="%s then %s" % (first, second))
                self.assertEqual(len([s for s in self.items("subscriptions") if s["eventType"] == et]), 1)

    def test_async_path_conflicts_are_409(self):
        self.subscription(path="/users/:id", method="GET")
        r = self.subscription(status=409, path="/users/:name", method="GET", functionId="fn2")
        self.assertError(r, 409, "conflict")

    def test_no_conflict_across_methods_or_event_types(self):
        self.subscription(type="sync", path="/users/:id", method="GET")
        self.subscription(type="sync", path="/users/:name", method="POST")
        self.subscription(type="sync", path="/users/me", method="PUT")
        self.subscription(type="sync", path="/users/:other", method="GET", eventType="user.deleted")
        self.subscription(type="sync", path="/users/*all", method="DELETE")
        self.assertEqual(len(self.items("subscriptions")), 5)

    def test_compatible_paths_coexist(self):
        self.subscription(type="sync", path="/users/:id")
        self.subscription(type="sync", path="/users/:id/posts", functionId="fn2")
        self.subscription(type="sync", path="/static/a")
        self.subscription(type="sync", path="/static/b", functionId="fn2")
        self.subscription(type="async", path="/users/:id", functionId="fn2")

    def test_long_path(self):
        # 1000 bytes: well within the 2048-byte route limit the API accepts
        path = "/" + "a" * 1000
        r = self.subscription(status=201, path=path)
        self.assertEqual(r.body["path"], path)
        self.assertEqual(self.call("GET", "subscriptions/" + r.body["subscriptionId"]).body, r.body)

    def test_update_metadata_only(self):
        sub = self.subscription(type="sync", path="/u/:id", method="GET", metadata={"v": "1"}).body
        sid = sub["subscriptionId"]
        body = {"type": "sync", "eventType": "user.created", "functionId": "fn1", "path": "/u/:id",
                "method": "GET", "metadata": {"v": "2"}}
        r = self.call("PUT", "subscriptions/" + sid, body)
        self.assertStatus(r, 200)
        self.assertJSONResponse(r)
        expected = dict(sub, metadata={"v": "2"})
        self.assertEqual(r.body, expected)
        self.assertEqual(self.call("GET", "subscriptions/" + sid).body, expected)

    def test_update_of_other_fields_is_400(self):
        sub = self.subscription(type="sync", path="/u/:id", method="GET").body
        sid = sub["subscriptionId"]
        base = {"type": "sync", "eventType": "user.created", "functionId": "fn1", "path": "/u/:id", "method": "GET"}
        for field, value in [("path", "/v/:id"), ("method", "POST"), ("type", "async"),
                             ("functionId", "fn2"), ("eventType", "user.deleted")]:
            with self.subTest(field=field):
                r = self.call("PUT", "subscriptions/" + sid, dict(base, **{field: value}))
                self.assertError(r, 400, "update", what="changing " + field)
        self.assertError(self.call("PUT", "subscriptions/" + sid, raw_body="{"), 400)
        self.assertEqual(self.call("GET", "subscriptions/" + sid).body, sub)
        self.assertError(self.call("PUT", "subscriptions/doesNotExist", base), 404, "doesNotExist")

    def test_delete_and_path_is_freed(self):
        sub = self.subscription(type="sync", path="/users/:id").body
        sid = sub["subscriptionId"]
        self.assertError(self.call("POST", "subscriptions", {"type": "sync", "eventType": "user.created",
                                                             "functionId": "fn2", "path": "/users/:name"}), 409)
        r = self.call("DELETE", "subscriptions/" + sid)
        self.assertStatus(r, 204)
        self.assertEqual(r.body, "")
        self.assertError(self.call("GET", "subscriptions/" + sid), 404)
        self.assertError(self.call("DELETE", "subscriptions/" + sid), 404, sid)
        self.subscription(type="sync", path="/users/:name", functionId="fn2")
        self.subscription(type="sync", path="/users/me/:x", functionId="fn1", method="GET")


class TestCORS(ConfigAPITestBase):
    def test_create_defaults_and_id(self):
        body = self.create("cors", {"method": "GET", "path": "/hello"})
        self.assertEqual(body, {"space": self.sp, "corsId": "GET%2Fhello", "method": "GET", "path": "/hello",
                                "allowedOrigins": ["*"], "allowedMethods": ["HEAD", "GET", "POST"],
                                "allowedHeaders": ["Origin", "Accept", "Content-Type"],
                                "allowCredentials": False})
        r = self.call("GET", "cors/GET%2Fhello")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, body)
        self.assertEqual(self.items("cors"), [body])

    def test_create_with_fields_and_nested_path(self):
        body = self.create("cors", {"method": "POST", "path": "/users/:id/posts",
                                    "allowedOrigins": ["https://*.example.com"], "allowedMethods": ["GET", "PUT"],
                                    "allowedHeaders": ["X-Custom"], "allowCredentials": True,
                                    "metadata": {"team": "web"}})
        self.assertEqual(body["corsId"], "POST%2Fusers%2F:id%2Fposts")
        self.assertEqual(body["allowedOrigins"], ["https://*.example.com"])
        self.assertEqual(body["allowedMethods"], ["GET", "PUT"])
        self.assertEqual(body["allowedHeaders"], ["X-Custom"])
        self.assertIs(body["allowCredentials"], True)
        self.assertEqual(self.call("GET", "cors/" + body["corsId"]).body, body)

    def test_any_origin_with_credentials_is_warned_about(self):
        # Allowed, as in 0.9, but any web page could then send credentialed requests.
        quiet = self.create("cors", {"method": "GET", "path": "/open", "allowCredentials": False})
        self.create("cors", {"method": "GET", "path": "/creds", "allowedOrigins": ["https://a.example"],
                             "allowCredentials": True})
        loud = self.create("cors", {"method": "GET", "path": "/wide", "allowCredentials": True})
        self.assertEqual(loud["allowedOrigins"], ["*"])
        warned = wait_until(lambda: [ln for ln in self.gw.log_text().splitlines()
                                     if "WARN" in ln and "with credentials" in ln and self.sp in ln],
                            timeout=5, message="the warning in the log")
        self.assertEqual(len(warned), 1, warned)
        self.assertIn(loud["corsId"], warned[0])
        self.assertNotIn(quiet["corsId"], warned[0])

    def test_invalid_is_400(self):
        cases = {
            "malformed JSON": "{",
            "missing method": json.dumps({"path": "/a"}),
            "missing path": json.dumps({"method": "GET"}),
            "invalid method": json.dumps({"method": "FETCH", "path": "/a"}),
            "path without slash": json.dumps({"method": "GET", "path": "a"}),
            "origins not a list": json.dumps({"method": "GET", "path": "/a", "allowedOrigins": "*"}),
            "origins not strings": json.dumps({"method": "GET", "path": "/a", "allowedOrigins": [1]}),
            "credentials not boolean": json.dumps({"method": "GET", "path": "/a", "allowCredentials": "yes"}),
            "metadata not strings": json.dumps({"method": "GET", "path": "/a", "metadata": {"x": 1}}),
        }
        for what, raw in cases.items():
            with self.subTest(what):
                r = self.call("POST", "cors", raw_body=raw, headers={"Content-Type": "application/json"})
                self.assertError(r, 400, what=what)
        self.assertEmpty("cors")

    def test_same_method_and_path_is_409(self):
        self.create("cors", {"method": "GET", "path": "/hello"})
        r = self.call("POST", "cors", {"method": "GET", "path": "/hello", "allowedOrigins": ["http://x"]})
        self.assertError(r, 409)
        self.assertEqual(self.call("GET", "cors/GET%2Fhello").body["allowedOrigins"], ["*"])
        self.create("cors", {"method": "POST", "path": "/hello"})
        self.create("cors", {"method": "GET", "path": "/hello2"})

    def test_update(self):
        self.create("cors", {"method": "GET", "path": "/hello"})
        r = self.call("PUT", "cors/GET%2Fhello", {"method": "GET", "path": "/hello",
                                                   "allowedOrigins": ["https://a.example"],
                                                   "allowCredentials": True, "metadata": {"v": "2"}})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"space": self.sp, "corsId": "GET%2Fhello", "method": "GET", "path": "/hello",
                                  "allowedOrigins": ["https://a.example"], "allowedMethods": ["HEAD", "GET", "POST"],
                                  "allowedHeaders": ["Origin", "Accept", "Content-Type"],
                                  "allowCredentials": True, "metadata": {"v": "2"}})
        self.assertEqual(self.call("GET", "cors/GET%2Fhello").body, r.body)

    def test_update_errors(self):
        before = self.create("cors", {"method": "GET", "path": "/hello"})
        self.assertError(self.call("PUT", "cors/GET%2Fhello", {"method": "POST", "path": "/hello"}), 400, "method")
        self.assertError(self.call("PUT", "cors/GET%2Fhello", {"method": "GET", "path": "/other"}), 400, "path")
        self.assertError(self.call("PUT", "cors/GET%2Fhello", {"method": "GET", "path": "/hello",
                                                               "allowCredentials": 1}), 400)
        self.assertEqual(self.call("GET", "cors/GET%2Fhello").body, before)
        self.assertError(self.call("PUT", "cors/GET%2Fnope", {"method": "GET", "path": "/nope"}), 404)

    def test_delete(self):
        self.create("cors", {"method": "GET", "path": "/hello"})
        r = self.call("DELETE", "cors/GET%2Fhello")
        self.assertStatus(r, 204)
        self.assertEqual(r.body, "")
        self.assertError(self.call("GET", "cors/GET%2Fhello"), 404)
        self.assertError(self.call("DELETE", "cors/GET%2Fhello"), 404)
        self.assertEmpty("cors", what="deleted")

    def test_long_path(self):
        path = "/" + "/".join("seg%d" % i for i in range(60))
        body = self.create("cors", {"method": "GET", "path": path})
        self.assertEqual(body["corsId"], "GET" + urllib.parse.quote(path, safe=""))
        self.assertEqual(self.call("GET", "cors/" + body["corsId"]).body, body)
        self.assertStatus(self.call("DELETE", "cors/" + body["corsId"]), 204)

    def test_long_single_segment_path(self):
        # 1000 bytes: well within the 2048-byte route limit the API accepts
        path = "/" + "a" * 1000
        r = self.call("POST", "cors", {"method": "GET", "path": path})
        self.assertStatus(r, 201, "CORS with a 1000-byte path")
        self.assertEqual(self.call("GET", "cors/" + r.body["corsId"]).body, r.body)


class TestFiltersAndSpaces(ConfigAPITestBase):
    def test_metadata_filters_on_every_list(self):
        self.eventtype("e.a", metadata={"team": "a", "env": "prod"})
        self.eventtype("e.b", metadata={"team": "a", "env": "dev"})
        self.eventtype("e.c", metadata={"team": "b", "env": "prod"})
        self.eventtype("e.d")
        for fid, md in [("f.a", {"team": "a", "env": "prod"}), ("f.b", {"team": "a", "env": "dev"}),
                        ("f.c", {"team": "b", "env": "prod"}), ("f.d", {})]:
            self.function(fid, metadata=md)
        subs = {}
        for i, (fid, md) in enumerate([("f.a", {"team": "a", "env": "prod"}), ("f.b", {"team": "a", "env": "dev"}),
                                       ("f.c", {"team": "b", "env": "prod"}), ("f.d", {})]):
            subs[fid] = self.subscription(eventType="e.d", functionId=fid, path="/s%d" % i, metadata=md).body
        for i, md in enumerate([{"team": "a", "env": "prod"}, {"team": "a", "env": "dev"},
                                {"team": "b", "env": "prod"}, {}]):
            self.create("cors", {"method": "GET", "path": "/c%d" % i, "metadata": md})

        def ids(kind, query):
            key = {"eventtypes": "name", "functions": "functionId", "subscriptions": "functionId",
                   "cors": "path"}[kind]
            return sorted(x[key] for x in self.items(kind, query))

        expect = {
            "eventtypes": (["e.a", "e.b"], ["e.a"], ["e.a", "e.c"], ["e.a", "e.b", "e.c", "e.d"]),
            "functions": (["f.a", "f.b"], ["f.a"], ["f.a", "f.c"], ["f.a", "f.b", "f.c", "f.d"]),
            "subscriptions": (["f.a", "f.b"], ["f.a"], ["f.a", "f.c"], ["f.a", "f.b", "f.c", "f.d"]),
            "cors": (["/c0", "/c1"], ["/c0"], ["/c0", "/c2"], ["/c0", "/c1", "/c2", "/c3"]),
        }
        for kind, (team_a, team_a_prod, prod, everything) in expect.items():
            with self.subTest(kind=kind):
                self.assertEqual(ids(kind, "?metadata.team=a"), team_a)
                self.assertEqual(ids(kind, "?metadata.team=a&metadata.env=prod"), team_a_prod)
                self.assertEqual(ids(kind, "?metadata.env=prod&metadata.team=a"), team_a_prod)
                self.assertEqual(ids(kind, "?metadata.env=prod"), prod)
                self.assertEqual(ids(kind, "?metadata.team=c"), [])
                self.assertEqual(ids(kind, "?metadata.team=a&metadata.env=staging"), [])
                self.assertEqual(ids(kind, "?metadata.nokey=a"), [])
                self.assertEqual(ids(kind, "?metadata.team=A"), [], "values are case-sensitive")
                self.assertEqual(ids(kind, ""), everything)
                self.assertEqual(ids(kind, "?other=param"), everything, "non-metadata params are ignored")

    def test_filter_values_are_url_decoded(self):
        self.eventtype("e.sp", metadata={"owner": "a b&c", "x/y": "1"})
        self.eventtype("e.other", metadata={"owner": "ab"})
        q = "?" + urllib.parse.urlencode({"metadata.owner": "a b&c"})
        self.assertEqual([e["name"] for e in self.items("eventtypes", q)], ["e.sp"])
        q = "?metadata.x%2Fy=1"
        self.assertEqual([e["name"] for e in self.items("eventtypes", q)], ["e.sp"])

    def test_spaces_isolate_resources(self):
        other = self.sp + "-other"
        self.eventtype("shared.name")
        self.function("fn1")
        self.create("cors", {"method": "GET", "path": "/x"})
        sub = self.subscription(eventType="shared.name").body
        for kind in LIST_KEYS:
            self.assertEqual(self.items(kind, space=other), [], kind)
        self.assertError(self.call("GET", "eventtypes/shared.name", space=other), 404)
        self.assertError(self.call("GET", "functions/fn1", space=other), 404)
        self.assertError(self.call("GET", "subscriptions/" + sub["subscriptionId"], space=other), 404)
        self.assertError(self.call("GET", "cors/GET%2Fx", space=other), 404)
        self.assertError(self.call("DELETE", "eventtypes/shared.name", space=other), 404)
        # the other space cannot refer to this space's resources
        self.assertError(self.call("POST", "subscriptions", {"type": "async", "eventType": "shared.name",
                                                             "functionId": "fn1"}, space=other), 400)
        self.assertError(self.call("POST", "eventtypes", {"name": "x", "authorizerId": "fn1"}, space=other), 400)
        # the same names can be created there: no 409 across spaces
        et = self.create("eventtypes", {"name": "shared.name"}, space=other)
        self.assertEqual(et["space"], other)
        self.create("functions", {"functionId": "fn1", "type": "http", "provider": {"url": "http://o/"}}, space=other)
        self.create("cors", {"method": "GET", "path": "/x"}, space=other)
        s2 = self.create("subscriptions", {"type": "async", "eventType": "shared.name", "functionId": "fn1"}, space=other)
        self.assertEqual(s2["space"], other)
        # deleting in one space leaves the other alone
        self.assertStatus(self.call("DELETE", "subscriptions/" + s2["subscriptionId"], space=other), 204)
        self.assertEqual(self.call("GET", "subscriptions/" + sub["subscriptionId"]).body, sub)
        self.assertEqual(self.call("GET", "functions/fn1").body["provider"]["url"], "http://127.0.0.1:9/hook")



# event-gateway 0.9's validator (go-playground/validator.v9): one line per failing field
def key09(struct, field, tag):
    return "Key: '%s.%s' Error:Field validation for '%s' failed on the '%s' tag" % (struct, field, field, tag)


METHODS09 = "eq=GET|eq=POST|eq=DELETE|eq=PUT|eq=PATCH|eq=HEAD|eq=OPTIONS"


class TestShapes09(ConfigAPITestBase):
    """What @serverless/event-gateway-sdk's own suite expects of 0.9's answers."""

    def assertNoMetadata(self, kind, obj, idfield):
        self.assertNotIn("metadata", obj, "0.9 left empty metadata out of %s" % kind)
        got = self.call("GET", "%s/%s" % (kind, obj[idfield]))  # ids are URL-safe as they come
        self.assertStatus(got, 200)
        self.assertEqual(got.body, obj)
        self.assertEqual(self.items(kind), [obj])

    def test_no_metadata_key_without_metadata(self):
        self.assertNoMetadata("eventtypes", self.eventtype(), "name")
        self.assertNoMetadata("functions", self.create("functions", {
            "functionId": "fn1", "type": "awslambda", "provider": {"arn": "arn::::", "region": "us-east-1"}}),
            "functionId")
        self.assertNoMetadata("subscriptions", self.subscription().body, "subscriptionId")
        self.assertNoMetadata("cors", self.create("cors", {"method": "GET", "path": "/test",
                                                           "allowedOrigins": ["http://example.com"]}), "corsId")

    def test_metadata_kept_when_given_and_dropped_when_emptied(self):
        et = self.eventtype(metadata={"team": "a"})
        self.assertEqual(et["metadata"], {"team": "a"})
        self.assertEqual(self.items("eventtypes"), [et])
        upd = self.call("PUT", "eventtypes/user.created", {"metadata": {}})
        self.assertStatus(upd, 200)
        self.assertEqual(upd.body, {"space": self.sp, "name": "user.created"})
        self.assertNotIn("metadata", self.create("cors", {"method": "GET", "path": "/m", "metadata": {}}))

    def test_validation_messages(self):
        self.eventtype()
        self.function()
        cases = [
            ("subscriptions", {"eventType": "user.created", "functionId": "fn1"},
             "Subscription doesn't validate. Validation error: " + key09("Subscription", "Type", "required")),
            ("subscriptions", {"type": "later", "eventType": "user.created", "functionId": "fn1"},
             "Subscription doesn't validate. Validation error: " + key09("Subscription", "Type", "eq=async|eq=sync")),
            ("subscriptions", {"method": "FOO"},
             "Subscription doesn't validate. Validation error: " + "\n".join([
                 key09("Subscription", "Type", "required"), key09("Subscription", "EventType", "required"),
                 key09("Subscription", "FunctionID", "required"), key09("Subscription", "Method", METHODS09)])),
            ("subscriptions", {"type": "async", "eventType": "user created", "functionId": "fn1"},
             "Subscription doesn't validate. Validation error: " + key09("Subscription", "EventType", "eventType")),
            ("subscriptions", {"type": "async", "eventType": "user.created", "functionId": "no such"},
             'Function "no such" not found.'),
            ("eventtypes", {}, "Event Type doesn't validate. Validation error: " + key09("Type", "Name", "required")),
            ("eventtypes", {"name": "e", "authorizerId": "nope"}, "Authorizer function doesn't exists."),
            ("functions", {"functionId": "f"}, "Function doesn't validate. Validation error: provider configuration not set"),
            ("functions", {"functionId": "f", "type": "gcf", "provider": {}},
             "Function doesn't validate. Validation error: provider gcf not supported"),
            ("functions", {"functionId": "f", "type": "http", "provider": {}},
             "Function doesn't validate. Validation error: missing required fields for HTTP endpoint"),
            ("functions", {"functionId": "f", "type": "awslambda", "provider": {"arn": "a"}},
             "Function doesn't validate. Validation error: missing required fields for AWS Lambda function"),
            ("functions", {"type": "http", "provider": {"url": "http://a/"}},
             "Function doesn't validate. Validation error: " + key09("Function", "ID", "required")),
            ("functions", {"functionId": "a b", "type": "http", "provider": {"url": "http://a/"}},
             "Function doesn't validate. Validation error: " + key09("Function", "ID", "functionid")),
            ("cors", {}, "CORS configuration doesn't validate. Validation error: " + "\n".join([
                key09("CORS", "Method", METHODS09), key09("CORS", "Path", "path")])),
        ]
        for kind, body, message in cases:
            with self.subTest(kind=kind, body=body):
                r = self.call("POST", kind, body)
                self.assertStatus(r, 400)
                self.assertEqual(r.body, {"errors": [{"message": message}]})
        r = self.call("POST", "eventtypes", {"name": "e"}, space="ab")
        self.assertStatus(r, 400)
        self.assertEqual(r.body, {"errors": [{"message": "Event Type doesn't validate. Validation error: " +
                                              key09("Type", "Space", "min")}]})

    def test_metrics_at_09_path(self):
        r = self.gw.request("GET", "/v1/metrics")
        self.assertStatus(r, 200)
        self.assertIn("eventgateway_", r.body if isinstance(r.body, str) else str(r.body))


if __name__ == "__main__":
    unittest.main()
