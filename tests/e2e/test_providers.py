"""Function providers end to end (docs/contract.md section 7, issue 6): awslambda,
http headers and TLS verification, kafka sinks. Real binaries.

The Lambda stand-in is a local HTTP server (fnserver.FnServer) that plays
Lambda's Invoke API: it recomputes every request's SigV4 signature with
botocore (an independent implementation: Debian's python3-botocore or the
interpreter's own) from the headers the request says it signed, refuses a
bad one with 403 as AWS does, and answers with the function's payload, or
with X-Amz-Function-Error for the function named "fails".

TestProviders shares one `event-gateway --dev` (no AWS_* variables in its
environment); tests that need another environment or another cluster start
a process of their own. Every test works in a space of its own.
"""

import itertools
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

from egtest import (FUNCTION_FAILED, KAFKA_ARGS, GatewayTestCase, add_sync_subscription, ce10, configure,
                    create_topic, dead_letters, kcat_consume, needs_real_kafka, send_ce10, topic, wait_dead_letters,
                    wait_until)
from fnserver import FnServer

try:
    import botocore  # noqa: F401
except ImportError:  # Debian's python3-botocore, for an interpreter of another prefix
    sys.path.append("/usr/lib/python3/dist-packages")
from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

# The gateway must not see the runner's AWS settings.
for _k in [k for k in os.environ if k.startswith("AWS_")]:
    del os.environ[_k]

AK, SK = "AKIDPROVIDERSTEST", "providers/test+secret/key"
ENV_AK, ENV_SK, ENV_TOKEN = "AKIDFROMENVIRONMENT", "env/secret+key", "session/token+=="
REGION = "eu-west-1"
ACCOUNT, OTHER_ACCOUNT = "123456789012", "210987654321"
AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")
INVOKE_RE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_counter = itertools.count(1)


def verify_sigv4(call, secrets):
    """None when call carries a valid SigV4 signature for service lambda
    (botocore recomputes it), else the reason."""
    m = AUTH_RE.match(call.headers.get("authorization", ""))
    if not m:
        return "no SigV4 Authorization header: %r" % call.headers.get("authorization")
    ak, day, region, service, signed, sig = m.groups()
    if ak not in secrets:
        return "unknown access key %s" % ak
    if service != "lambda":
        return "signed for service %s" % service
    names = signed.split(";")
    for need in ("host", "x-amz-date"):
        if need not in names:
            return "%s not signed" % need
    if any(n not in call.headers for n in names):
        return "a signed header is missing"
    amz_date = call.headers["x-amz-date"]
    if not amz_date.startswith(day):
        return "date %s outside scope %s" % (amz_date, day)
    t = time.mktime(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) - time.timezone
    if abs(t - time.time()) > 300:
        return "x-amz-date %s is more than 5 minutes off" % amz_date
    token = call.headers.get("x-amz-security-token")
    req = AWSRequest(method=call.method, url="http://%s%s" % (call.headers["host"], call.path),
                     data=call.body, headers={n: call.headers[n] for n in names})
    req.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(ak, secrets[ak], token), "lambda", region)
    expected = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
    if expected != sig:
        return "signature mismatch (botocore: %s, request: %s)" % (expected, sig)
    return None


class Invocation:
    """One call to the stand-in: the recorded call, the FunctionName from the
    path (decoded) and why the signature is wrong (None when it is right)."""

    def __init__(self, call, function, sig_error):
        self.call, self.function, self.sig_error = call, function, sig_error
        self.path, self.headers, self.json = call.path, call.headers, call.json

    def __repr__(self):
        return "<Invocation %s sig_error=%r>" % (self.function, self.sig_error)


class LambdaStandIn(FnServer):
    """Lambda's Invoke API on a local port; .invocations lists what came."""

    def __init__(self, secrets=None, name="lambda"):
        self.secrets = secrets or {AK: SK}
        self.invocations = []
        super().__init__(name=name, respond=self._invoke)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def _invoke(self, call):
        m = INVOKE_RE.match(call.path)
        inv = Invocation(call, urllib.parse.unquote(m.group(1)) if m else None,
                         verify_sigv4(call, self.secrets))
        with self._cond:
            self.invocations.append(inv)
            self._cond.notify_all()
        if inv.sig_error:
            return 403, {"Content-Type": "application/json", "x-amzn-ErrorType": "InvalidSignatureException"}, \
                {"message": inv.sig_error}
        if not m or call.method != "POST" or call.headers.get("x-amz-invocation-type") != "RequestResponse":
            return 400, None, {"message": "not an Invoke RequestResponse call"}
        if inv.function.split(":")[-1] == "fails" or inv.function.endswith(":function:fails"):
            return 200, {"X-Amz-Function-Error": "Unhandled"}, {"errorMessage": "boom", "errorType": "Error"}
        ev = call.json or {}
        return 200, {"Content-Type": "application/json"}, {
            "statusCode": 201, "headers": {"X-Lambda": inv.function},
            "body": "hello from %s for %s" % (inv.function, ev.get("id"))}

    def wait_invocations(self, n, timeout=15.0):
        self.wait_for(lambda _: len(self.invocations) >= n, timeout, "%d invocation(s)" % n)
        with self._cond:
            return list(self.invocations)

    def verified(self):
        with self._cond:
            return [i for i in self.invocations if i.sig_error is None]


class ProvidersTestBase(GatewayTestCase):
    GATEWAY_ARGS = ["--retry-base-ms", "50", "--retry-max-ms", "200", "--function-timeout-ms", "3000",
                    "--sync-timeout-ms", "5000"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gw = cls.start_class_gateway(name="providers", extra_args=cls.GATEWAY_ARGS)

    def setUp(self):
        self.n = next(_counter)
        self.sp = "p%03d-%s" % (self.n, self._testMethodName.replace("test_", "")[:30].replace("_", "-"))

    def start_lambda(self, **kw):
        fn = LambdaStandIn(**kw).start()
        self.addCleanup(fn.stop)
        return fn

    def lambda_fn(self, arn, endpoint=None, creds=True, **extra):
        prov = {"arn": arn, "region": REGION}
        if endpoint:
            prov["endpoint"] = endpoint
        if creds:
            prov.update(awsAccessKeyId=AK, awsSecretAccessKey=SK)
        return dict({"type": "awslambda", "provider": prov}, **extra)

    def send(self, gw, ev, path="/", status=202):
        r = send_ce10(gw, ev, path=path)
        self.assertStatus(r, status, "sending %r" % (ev,))
        return r


class TestLambda(ProvidersTestBase):

    def test_async_by_name_qualifier_full_and_other_account_arn(self):
        lam = self.start_lambda()
        names = {
            "by-name": "orders",
            "by-qualifier": "orders:prod",
            "by-arn": "arn:aws:lambda:%s:%s:function:orders:live" % (REGION, ACCOUNT),
            "other-account": "arn:aws:lambda:%s:%s:function:shared-fn" % (REGION, OTHER_ACCOUNT),
        }
        configure(self.gw, self.sp, eventtypes=["order.placed"],
                  functions={fid: self.lambda_fn(arn, lam.endpoint) for fid, arn in names.items()},
                  subscriptions=[{"eventType": "order.placed", "functionId": fid} for fid in names])
        ev = ce10("order.placed", self.sp, data={"n": 1})
        self.send(self.gw, ev)
        lam.wait_calls(len(names), timeout=15)
        lam.assert_quiet(0.5, len(names))
        calls = lam.wait_invocations(len(names))
        self.assertEqual(sorted(c.function for c in calls), sorted(names.values()),
                         "FunctionName in the path, decoded: %r" % calls)
        for c in calls:
            self.assertIsNone(c.sig_error, "%s: %s" % (c.function, c.sig_error))
            self.assertEqual(c.json, ev, "the event is the payload")
            if c.function.startswith("arn:"):
                self.assertIn("arn%3Aaws%3Alambda%3A", c.path, "the ARN travels URI-encoded")
        self.assertEqual(dead_letters(self.gw.brokers, lambda d: d.get("eventId") == ev["id"]), [])

    def test_sync_answer_becomes_http_response(self):
        lam = self.start_lambda()
        for fid, arn in (("lam-arn", "arn:aws:lambda:%s:%s:function:api:prod" % (REGION, ACCOUNT)),
                         ("lam-name", "api:v2")):
            configure(self.gw, self.sp, eventtypes=["api." + fid],
                      functions={fid: self.lambda_fn(arn, lam.endpoint)})
            add_sync_subscription(self.gw, self.sp, "api." + fid, fid)
            ev = ce10("api." + fid, self.sp)
            r = send_ce10(self.gw, ev)
            self.assertStatus(r, 201, "sync through Lambda %s" % arn)
            self.assertEqual(r.headers.get("X-Lambda"), arn, dict(r.headers))
            self.assertEqual(r.body, "hello from %s for %s" % (arn, ev["id"]))
        self.assertEqual(len(lam.verified()), 2, lam.snapshot())

    def test_function_error_is_a_failed_call(self):
        lam = self.start_lambda()
        configure(self.gw, self.sp, eventtypes=["err.async", "err.sync"],
                  functions={"fails": self.lambda_fn("fails", lam.endpoint,
                                                      retry={"attempts": 2, "baseDelayMs": 20}),
                             "fails-sync": self.lambda_fn("arn:aws:lambda:%s:%s:function:fails"
                                                          % (REGION, ACCOUNT), lam.endpoint)},
                  subscriptions=[{"eventType": "err.async", "functionId": "fails"}])
        add_sync_subscription(self.gw, self.sp, "err.sync", "fails-sync")
        ev = ce10("err.async", self.sp)
        self.send(self.gw, ev)
        dl = wait_dead_letters(self.gw.brokers, lambda d: d.get("eventId") == ev["id"])[0]
        self.assertEqual(dl["attempts"], 2, "a function error is retried like a 5xx: %r" % dl)
        self.assertIn("X-Amz-Function-Error: Unhandled", dl["lastError"], dl)
        self.assertIn("boom", dl["lastError"], dl)
        r = send_ce10(self.gw, ce10("err.sync", self.sp))
        self.assertError(r, 500, FUNCTION_FAILED, what="sync call to a failing Lambda function")
        self.assertEqual(len(lam.verified()), 3, lam.snapshot())

    def test_missing_credentials_dead_letter_with_reason(self):
        lam = self.start_lambda()
        configure(self.gw, self.sp, eventtypes=["no.creds"],
                  functions={"nocreds": self.lambda_fn("orders", lam.endpoint, creds=False)},
                  subscriptions=[{"eventType": "no.creds", "functionId": "nocreds"}])
        ev = ce10("no.creds", self.sp)
        self.send(self.gw, ev)
        dl = wait_dead_letters(self.gw.brokers, lambda d: d.get("eventId") == ev["id"])[0]
        self.assertIn("no AWS credentials", dl["lastError"], dl)
        self.assertEqual(dl["attempts"], 0, dl)
        self.assertEqual(lam.count(), 0, "nothing is sent without credentials")

    def test_wrong_secret_is_refused_by_the_verifier(self):
        """The negative control: the stand-in's check is real."""
        lam = self.start_lambda()
        fn = self.lambda_fn("orders", lam.endpoint)
        fn["provider"]["awsSecretAccessKey"] = "not-the-secret"
        configure(self.gw, self.sp, eventtypes=["bad.sig"], functions={"badsig": fn},
                  subscriptions=[{"eventType": "bad.sig", "functionId": "badsig"}])
        ev = ce10("bad.sig", self.sp)
        self.send(self.gw, ev)
        dl = wait_dead_letters(self.gw.brokers, lambda d: d.get("eventId") == ev["id"])[0]
        self.assertEqual(dl["lastStatus"], 403, dl)
        self.assertIn("signature mismatch", lam.wait_invocations(1)[0].sig_error)

    def test_credentials_and_endpoint_from_environment(self):
        lam = self.start_lambda(secrets={ENV_AK: ENV_SK})
        gw = self.start_gateway(name="providers-env", extra_args=self.GATEWAY_ARGS,
                                env={"AWS_ACCESS_KEY_ID": ENV_AK, "AWS_SECRET_ACCESS_KEY": ENV_SK,
                                     "AWS_SESSION_TOKEN": ENV_TOKEN,
                                     "AWS_ENDPOINT_URL": "http://127.0.0.1:9/not-this-one",
                                     "AWS_ENDPOINT_URL_LAMBDA": lam.endpoint})
        arn = "arn:aws:lambda:%s:%s:function:env-fn" % (REGION, OTHER_ACCOUNT)
        configure(gw, self.sp, eventtypes=["env.creds"],
                  functions={"envfn": self.lambda_fn(arn, creds=False)},
                  subscriptions=[{"eventType": "env.creds", "functionId": "envfn"}])
        ev = ce10("env.creds", self.sp)
        self.send(gw, ev)
        c = lam.wait_invocations(1)[0]
        self.assertIsNone(c.sig_error, c.sig_error)
        self.assertEqual(c.function, arn)
        self.assertEqual(c.headers.get("x-amz-security-token"), ENV_TOKEN)
        self.assertIn(ENV_AK + "/", c.headers["authorization"])


class TestHTTP(ProvidersTestBase):

    def test_headers_reach_the_function(self):
        fn = self.start_fn(name="authed")
        headers = {"Authorization": "Bearer s3cr3t", "x-functions-key": "azure-key",
                   "X-Custom": "a b  c"}
        configure(self.gw, self.sp, eventtypes=["with.headers"],
                  functions={"authed": {"provider": {"url": fn.url, "headers": headers}}},
                  subscriptions=[{"eventType": "with.headers", "functionId": "authed"}])
        ev = ce10("with.headers", self.sp)
        self.send(self.gw, ev)
        c = fn.wait_calls(1, timeout=10)[0]
        for k, v in headers.items():
            self.assertEqual(c.headers.get(k.lower()), v, "header %s: %r" % (k, c.headers))
        self.assertEqual(c.json, ev)

    def test_bad_headers_are_refused_at_config_time(self):
        for headers, frag in (("x", "object of strings"), ({"a": 1}, "object of strings"),
                              ({"bad name": "v"}, "not a valid HTTP header name"),
                              ({"X-Ok": "v\r\nX-Injected: 1"}, "control characters")):
            r = self.gw.request("POST", "/v1/spaces/%s/functions" % self.sp,
                                body={"functionId": "h", "type": "http",
                                      "provider": {"url": "http://127.0.0.1:9/", "headers": headers}})
            self.assertError(r, 400, frag, what="headers %r" % (headers,))

    def test_https_self_signed_certificate_is_refused(self):
        d = tempfile.mkdtemp(prefix="eg-tls-")
        self.addCleanup(lambda: [os.unlink(os.path.join(d, f)) for f in os.listdir(d)] and os.rmdir(d))
        key, crt = os.path.join(d, "key.pem"), os.path.join(d, "crt.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        fn = self.start_fn(name="tls")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        fn._srv.socket = ctx.wrap_socket(fn._srv.socket, server_side=True)
        # The server itself works: a client that trusts the certificate gets through.
        import http.client
        cctx = ssl.create_default_context(cafile=crt)
        conn = http.client.HTTPSConnection("127.0.0.1", fn.port, context=cctx, timeout=5)
        conn.request("POST", "/tls", body=b"{}")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        configure(self.gw, self.sp, eventtypes=["tls.event"],
                  functions={"tls": {"provider": {"url": "https://127.0.0.1:%d/tls" % fn.port},
                                     "retry": {"attempts": 1}}},
                  subscriptions=[{"eventType": "tls.event", "functionId": "tls"}])
        ev = ce10("tls.event", self.sp)
        self.send(self.gw, ev)
        dl = wait_dead_letters(self.gw.brokers, lambda d: d.get("eventId") == ev["id"])[0]
        self.assertRegex(dl["lastError"].lower(), "certificate|ssl", dl)
        self.assertEqual(fn.count(), 1, "only the trusting client's call got through")


def sink_records(brokers, topic, ids):
    recs = [r for r in kcat_consume(brokers, topic) if isinstance(r.get("value"), dict)
            and r["value"].get("id") in ids]
    return recs if len(recs) >= len(ids) else None


def headers_of(rec):
    h = rec.get("headers") or []
    return dict(zip(h[0::2], h[1::2])) if isinstance(h, list) else dict(h)


class TestKafka(ProvidersTestBase):

    def check_sink(self, gw, brokers, topic):
        configure(gw, self.sp, eventtypes=["to.kafka"],
                  functions={"sink": {"type": "kafka", "provider": dict(
                      {"topic": topic}, **({"brokers": brokers} if brokers else {}))}},
                  subscriptions=[{"eventType": "to.kafka", "functionId": "sink"}])
        keyed = ce10("to.kafka", self.sp, data={"k": 1}, partitionkey="customer-7")
        plain = ce10("to.kafka", self.sp, data={"k": 2})
        for ev in (keyed, plain):
            self.send(gw, ev)
        recs = wait_until(lambda: sink_records(brokers or gw.brokers, topic, {keyed["id"], plain["id"]}),
                          timeout=20, interval=0.3, message="both events in %s" % topic)
        by_id = {r["value"]["id"]: r for r in recs}
        self.assertEqual(len(recs), 2, "each event once: %r" % recs)
        self.assertEqual(by_id[keyed["id"]]["value"], keyed)
        self.assertEqual(by_id[keyed["id"]]["key"], "customer-7", "keyed by partitionkey")
        self.assertEqual(by_id[plain["id"]]["key"], plain["id"], "else by id")
        for r in recs:
            self.assertEqual(headers_of(r).get("content-type"), "application/cloudevents+json", r)

    def sink_topic(self, create=True):
        """A sink topic of this test's own, under the gateway's prefix; created
        first on a real cluster, as a user would (the gateway never creates a
        function's topic)."""
        name = topic(self.gw.brokers, "sink.%s" % self.sp)
        if create:
            create_topic(self.gw.brokers, name, partitions=2)
        return name

    def test_sink_on_the_gateways_cluster(self):
        self.check_sink(self.gw, None, self.sink_topic())

    # The other cluster is an embedded broker, also under EG_TEST_BROKERS.
    @unittest.skipIf(KAFKA_ARGS, "every --kafka setting of EG_TEST_KAFKA_ARGS applies to a kafka "
                     "function's cluster too, and the other cluster, an embedded broker, takes none")
    def test_sink_on_another_cluster(self):
        other = self.start_gateway(name="other-cluster", dev=True)
        sink = self.sink_topic(create=False)  # the embedded broker creates it
        self.check_sink(self.gw, other.brokers, sink)
        self.assertEqual(kcat_consume(self.gw.brokers, sink), [], "nothing on the gateway's cluster")

    def test_sync_to_kafka_function_gives_500_and_writes(self):
        sink = self.sink_topic()
        configure(self.gw, self.sp, eventtypes=["kafka.sync"],
                  functions={"ksink": {"type": "kafka", "provider": {"topic": sink}}})
        add_sync_subscription(self.gw, self.sp, "kafka.sync", "ksink")
        ev = ce10("kafka.sync", self.sp)
        r = send_ce10(self.gw, ev)
        self.assertError(r, 500, FUNCTION_FAILED, what="a topic gives no answer")
        wait_until(lambda: sink_records(self.gw.brokers, sink, {ev["id"]}), timeout=20, interval=0.3,
                   message="the event in %s" % sink)

    @needs_real_kafka("a real cluster creates no topic on a first record; the embedded broker does")
    def test_missing_sink_topic_is_retried_then_dead_lettered_with_the_reason(self):
        sink = self.sink_topic(create=False)
        configure(self.gw, self.sp, eventtypes=["to.nowhere"],
                  functions={"nowhere": {"type": "kafka", "provider": {"topic": sink},
                                         "retry": {"attempts": 2, "baseDelayMs": 50, "maxDelayMs": 100}}},
                  subscriptions=[{"eventType": "to.nowhere", "functionId": "nowhere"}])
        ev = ce10("to.nowhere", self.sp)
        t0 = time.monotonic()
        self.send(self.gw, ev)
        dl = wait_dead_letters(self.gw.brokers, lambda d: d.get("eventId") == ev["id"], timeout=40)[0]
        took = time.monotonic() - t0
        print("\nmissing sink topic: dead-lettered after %.1fs: %s" % (took, dl["lastError"]))
        self.assertEqual(dl["attempts"], 2, dl)
        self.assertIn(sink, dl["lastError"], "the reason names the topic: %r" % dl)
        self.assertRegex(dl["lastError"].lower(), "unknown topic|does not exist|not exist",
                         "the reason says the topic does not exist: %r" % dl)
        self.assertEqual(kcat_consume(self.gw.brokers, sink), [], "no topic was created")

    def test_config_validation(self):
        for prov, frag in (({}, "provider.topic"), ({"topic": "a b"}, "provider.topic"),
                           ({"topic": "t", "brokers": 5}, "brokers")):
            r = self.gw.request("POST", "/v1/spaces/%s/functions" % self.sp,
                                body={"functionId": "k", "type": "kafka", "provider": prov})
            self.assertError(r, 400, frag, what="provider %r" % (prov,))


if __name__ == "__main__":
    unittest.main()
