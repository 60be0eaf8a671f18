"""Publishing into a guarded space (issue 23, item 6).

With --require-publish-keys (here EG_REQUIRE_PUBLISH_KEYS), a space that has
access keys takes events over HTTP only with one of its keys or the admin
key (401 without, 403 with a wrong one), whatever the event's form; the key
is not passed on to functions. The gateway's own extensions (an
authorizer's result, a replay's mark) are dropped from events that come over
HTTP, with or without keys. Without the flag, keys guard the Config API
only, as before.
"""

import json
import uuid

from egtest import GatewayTestCase, ce10, gw_event, send_ce10

CE_JSON = "application/cloudevents+json"
ADMIN = "admin-" + uuid.uuid4().hex


def bearer(key):
    return {"Authorization": "bearer %s" % key}


class PublishKeysBase(GatewayTestCase):
    ENV = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="publish", env=dict(cls.ENV, EG_ADMIN_KEY=ADMIN))

    def new_key(self, space):
        r = self.gw.request("POST", "/v1/spaces/%s/accesskeys" % space, headers=bearer(ADMIN))
        self.assertStatus(r, 201)
        return r.body["accessKey"]

    def configure(self, space, fn, event_type, key=None, path="/"):
        """An event type, a function at fn and an async subscription, with key
        (the admin key when None)."""
        h = bearer(key or ADMIN)

        def post(kind, body):
            r = self.gw.request("POST", "/v1/spaces/%s/%s" % (space, kind), body=body, headers=h)
            self.assertStatus(r, 201, "creating %s %r" % (kind, body))
        post("eventtypes", {"name": event_type})
        fid = "f-" + uuid.uuid4().hex[:8]
        post("functions", {"functionId": fid, "type": "http", "provider": {"url": fn.url}})
        post("subscriptions", {"type": "async", "eventType": event_type, "functionId": fid,
                               "path": path, "method": "POST"})

    def publish(self, event, key=None, raw=None):
        headers = {"Content-Type": CE_JSON}
        if key is not None:
            headers["Authorization"] = "bearer %s" % key
        return gw_event(self.gw, raw_body=raw if raw is not None else json.dumps(event),
                        headers=headers)


class TestRequirePublishKeys(PublishKeysBase):
    ENV = {"EG_REQUIRE_PUBLISH_KEYS": "true"}

    def test_guarded_space_needs_its_key_to_publish(self):
        fn = self.start_fn(name="team-b")
        key_b, key_a = self.new_key("team-b"), self.new_key("team-a")
        self.configure("team-b", fn, "order.placed", key=key_b)
        refused = {
            "none": (self.publish(ce10("order.placed", "team-b")), 401),
            "wrong": (self.publish(ce10("order.placed", "team-b"), key="not-a-key"), 403),
            "team-a's": (self.publish(ce10("order.placed", "team-b"), key=key_a), 403),
        }
        for what, (r, status) in refused.items():
            print("\n  %s key -> %d %s" % (what, r.status, r.body))
            self.assertStatus(r, status, "%s key" % what)
        self.assertError(refused["none"][0], 401, "team-b", "Authorization: bearer")
        self.assertError(refused["wrong"][0], 403, "team-b")
        # binary mode is an event like any other
        r = gw_event(self.gw, raw_body="{}", headers={
            "ce-specversion": "1.0", "ce-id": "bin-1", "ce-source": "/s", "ce-type": "order.placed",
            "ce-egspace": "team-b", "Content-Type": "application/json"})
        self.assertStatus(r, 401, "binary mode without a key")
        good = [ce10("order.placed", "team-b"), ce10("order.placed", "team-b")]
        self.assertStatus(self.publish(good[0], key=key_b), 202)
        self.assertStatus(self.publish(good[1], key=ADMIN), 202)
        fn.wait_calls(2, timeout=10)
        fn.assert_quiet(1.0, 2)
        self.assertEqual(sorted(fn.event_ids()), sorted(e["id"] for e in good))
        self.assertFalse(any("authorization" in c.headers for c in fn.snapshot()),
                         "the key is not passed on")
        self.assertIn("event refused (401)", self.gw.log_text())
        self.assertNotIn(key_b, self.gw.log_text())

    def test_forged_http_request_into_guarded_default(self):
        """A plain request becomes an http.request event of space default: once
        default has a key, it needs it; the key stays out of the event."""
        fn = self.start_fn(name="default")
        key = self.new_key("default")
        self.configure("default", fn, "http.request", key=key, path="/hook")
        r = gw_event(self.gw, body={"forged": True}, path="/hook")
        self.assertError(r, 401, "default")
        r = gw_event(self.gw, body={"real": True}, path="/hook", headers=bearer(key))
        self.assertStatus(r, 202)
        calls = fn.wait_calls(1, timeout=10)
        fn.assert_quiet(1.0, 1)
        data = calls[0].json["data"]
        self.assertEqual(data["body"], {"real": True})
        self.assertNotIn("Authorization", data["headers"], "the space's key is not in the event")

    def test_open_space_stays_open(self):
        fn = self.start_fn(name="team-c")
        self.configure("team-c", fn, "open.t")
        self.assertStatus(self.publish(ce10("open.t", "team-c")), 202)
        fn.wait_calls(1, timeout=10)

    def test_gateway_extensions_dropped_on_ingest(self):
        """replayid (a replay's mark) and eventgateway.* (an authorizer's result)
        are the gateway's: a client cannot set them, in any form."""
        fn = self.start_fn(name="ext")
        self.configure("team-x", fn, "ext.t")
        forged = dict(ce10("ext.t", "team-x"), replayid="forged-replay", mine="kept")
        self.assertStatus(self.publish(forged), 202)
        v01 = {"eventType": "ext.t", "eventID": str(uuid.uuid4()), "cloudEventsVersion": "0.1",
               "source": "/s", "extensions": {"egspace": "team-x", "replayid": "forged-replay",
                                              "eventgateway.authorization": {"principalId": "root"}},
               "data": {}}
        self.assertStatus(self.publish(None, raw=json.dumps(v01)), 202)
        r = gw_event(self.gw, raw_body="{}", headers={
            "ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": "/s",
            "ce-type": "ext.t", "ce-egspace": "team-x", "ce-replayid": "forged-replay",
            "Content-Type": "application/json"})
        self.assertStatus(r, 202)

        def check(calls):
            for c in calls:
                body = c.json
                ext = body.get("extensions", {}) if "cloudEventsVersion" in body else body
                print("\n  got %s" % sorted(ext))
                self.assertNotIn("replayid", ext)
                self.assertFalse([k for k in ext if k.startswith("eventgateway.")], ext)
        check(fn.wait_calls(3, timeout=10))
        self.assertEqual([c.json.get("mine") for c in fn.snapshot()
                          if c.json.get("id") == forged["id"]], ["kept"])
        # a 1.0 event forwarded as a function got it: dropped, not refused
        v10auth = dict(ce10("ext.t", "team-x"), **{"eventgateway.authorization": {"p": "root"}})
        r = self.publish(v10auth)
        print("\n  1.0 event with eventgateway.authorization -> %d" % r.status)
        self.assertStatus(r, 202, "dropped, not refused")
        check(fn.wait_calls(4, timeout=10)[3:])
        fn.assert_quiet(1.0, 4)


class TestKeysWithoutPublishFlag(PublishKeysBase):

    def test_keys_guard_only_the_config_api_by_default(self):
        fn = self.start_fn(name="compat")
        key = self.new_key("team-d")
        self.configure("team-d", fn, "compat.t", key=key)
        self.assertStatus(self.gw.request("GET", "/v1/spaces/team-d/functions"), 401)
        self.assertStatus(send_ce10(self.gw, ce10("compat.t", "team-d")), 202)
        fn.wait_calls(1, timeout=10)
