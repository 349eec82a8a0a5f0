#!/usr/bin/env python3
"""Tests for sinch_fake.py (stdlib unittest only).

Run:
    python3 tests/sinch_fake/test_sinch_fake.py [-v] [--captures DIR]
    python3 -m unittest discover -s tests/sinch_fake -v
The SDK captures are found via --captures DIR, else $SINCH_SDK_CAPTURES, else
<repo>/../shared/sinch/sdk-captures.  A missing captures directory is a
failure unless SINCH_SDK_CAPTURES_OPTIONAL=1.

1. CaptureReplayTest replays every request of every capture file against the
   fake (placeholders replaced by real credentials, tokens and batch ids) and
   checks the recorded response status and the shapes the SDK accepted.
2. The other classes are specification tests of the contract and of the
   control API.
"""

import base64
import contextlib
import glob
import hashlib
import hmac
import http.client
import io
import json
import math
import os
import re
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FAKE = os.path.join(HERE, "sinch_fake.py")
FAKECTL = os.path.join(HERE, "fakectl.sh")


def _pop_captures_arg():
    """Take '--captures DIR' / '--captures=DIR' out of sys.argv (so unittest does not see it)."""
    val = None
    argv = sys.argv
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--captures" and i + 1 < len(argv):
            val = argv[i + 1]
            del argv[i:i + 2]
            continue
        if a.startswith("--captures="):
            val = a.split("=", 1)[1]
            del argv[i]
            continue
        i += 1
    return val


CAPTURES_DIR = os.path.abspath(_pop_captures_arg() or os.environ.get("SINCH_SDK_CAPTURES")
                               or os.path.join(REPO, "..", "shared", "sinch", "sdk-captures"))

ID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Resp:
    def __init__(self, status, headers, data):
        self.status = status
        self.headers = headers
        self.raw = data
        self.text = data.decode("utf-8", errors="replace")
        try:
            self.json = json.loads(self.text) if data else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<Resp {self.status} {self.text[:300]}>"


def http_call(port, method, path, body=None, headers=None, conn=None, timeout=10):
    """One request; body may be bytes/str/obj (obj -> JSON).  Headers are sent exactly as given."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        hdrs = {"host": f"127.0.0.1:{port}"}
        for k, v in (headers or {}).items():
            hdrs[k.lower()] = v
        if body is not None:
            hdrs["content-length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        if own:
            conn.close()


class FakeProcess:
    """sinch_fake.py as a subprocess on a free port."""

    def __init__(self, *args):
        self.tmp = tempfile.mkdtemp(prefix="sinch-fake-test-")
        port_file = os.path.join(self.tmp, "port")
        self.log = open(os.path.join(self.tmp, "fake.log"), "wb")
        self.proc = subprocess.Popen([sys.executable, FAKE, "--listen", "127.0.0.1:0", "--port-file", port_file,
                                      *args], stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sinch_fake exited: " + self.read_log())
            if os.path.exists(port_file):
                with open(port_file) as fh:
                    txt = fh.read().strip()
                if txt:
                    self.port = int(txt)
                    break
            time.sleep(0.02)
        else:
            self.proc.kill()
            raise RuntimeError("sinch_fake did not start: " + self.read_log())
        self.url = f"http://127.0.0.1:{self.port}"

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(os.path.join(self.tmp, "fake.log"), "rb") as fh:
            return fh.read().decode(errors="replace")

    def call(self, method, path, body=None, headers=None, **kw):
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            h.setdefault("content-type", "application/json")
        return http_call(self.port, method, path, body, h, **kw)

    def ctl(self, method, path, body=None):
        r = self.call(method, path, body)
        if r.status >= 300:
            raise AssertionError(f"control call {method} {path} failed: {r}")
        return r.json

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("sinch_fake did not exit on SIGTERM")
        rc = self.proc.returncode
        self.log.close()
        log = self.read_log()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return rc, log


# ============================================================================================
# 1. capture replay
# ============================================================================================

REPLAY_CREDS = {"project_id": "test-project-id", "key_id": "test-key-id", "key_secret": "replay-secret",
                "service_plan_id": "test-service-plan", "api_token": "test-api-token"}
# the fake clock is put at the time the captures were recorded (created_at in capture 01)
CAPTURE_NOW = "2026-11-27T13:43:31.000Z"
# what the SDK sent in capture 01; used to create batches that later capture files refer to
FIXTURE_BATCH = {"to": ["+15551234567"], "from": "+15557654321", "body": "Reminder: appointment tomorrow at 10:00",
                 "send_at": "2026-11-29T13:00:00.000Z", "delivery_report": "per_recipient",
                 "client_reference": "appt-42", "callback_url": "https://example.test/sinch/dlr"}
BASIC_PH = re.compile(r'^Basic <base64\("([^":]*):<key secret redacted>"\)>$')
BEARER_PH = re.compile(r"^Bearer <(\d+)-char token redacted>$")
PATH_ID = re.compile(r"(/batches/)([0-9A-Za-z]{26})(?=/|\?|$)")


def load_captures():
    files = sorted(glob.glob(os.path.join(CAPTURES_DIR, "*.json")))
    out = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            out.append((os.path.basename(f), json.load(fh)))
    return out


def norm_msisdn(s):
    s = re.sub(r"[\s\-()\[\]]", "", s)
    return s[1:] if s.startswith("+") else s[2:] if s.startswith("00") else s


def qparams(path):
    q = path.partition("?")[2]
    out = {}
    for part in q.split("&"):
        if part:
            k, _, v = part.partition("=")
            out[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
    return out


def is_list_request(r):
    return r["method"] == "GET" and re.search(r"/batches$", r["path"].partition("?")[0]) is not None


class CaptureReplayTest(unittest.TestCase):
    """Replays every request in every sdk-captures/*.json file."""

    fake = None

    @classmethod
    def setUpClass(cls):
        c = REPLAY_CREDS
        cls.fake = FakeProcess("--project-id", c["project_id"], "--key-id", c["key_id"],
                               "--key-secret", c["key_secret"], "--service-plan-id", c["service_plan_id"],
                               "--api-token", c["api_token"])

    @classmethod
    def tearDownClass(cls):
        if cls.fake:
            cls.fake.stop()

    # -- helpers --
    def fetch_token(self):
        r = self.fake.call("POST", "/oauth2/token", b"grant_type=client_credentials",
                           {"content-type": "application/x-www-form-urlencoded",
                            "authorization": "Basic " + b64(f"{REPLAY_CREDS['key_id']}:{REPLAY_CREDS['key_secret']}")})
        self.assertEqual(r.status, 200, r)
        return r.json["access_token"]

    def create_fixture(self, token, overrides=None):
        body = dict(FIXTURE_BATCH, **(overrides or {}))
        r = self.fake.call("POST", f"/xms/v1/{REPLAY_CREDS['project_id']}/batches", body,
                           {"authorization": "Bearer " + token})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def check_batch_shape(self, b, sent=None):
        self.assertIsInstance(b, dict)
        self.assertRegex(b["id"], ID_RE)
        for k in ("created_at", "modified_at", "expire_at"):
            self.assertRegex(b[k], TS_RE, k)
        self.assertEqual(b["type"], "mt_text")
        self.assertIsInstance(b["canceled"], bool)
        self.assertIn(b["delivery_report"], ("none", "summary", "full", "per_recipient", "per_recipient_final"))
        self.assertIsInstance(b["flash_message"], bool)
        self.assertTrue(all(isinstance(x, str) and x.isdigit() for x in b["to"]), b["to"])
        if sent:
            if "to" in sent:
                self.assertEqual(b["to"], [norm_msisdn(x) for x in sent["to"]])
            if "from" in sent:
                self.assertEqual(b["from"], norm_msisdn(sent["from"]))
            for k in ("body", "delivery_report", "client_reference", "callback_url", "send_at", "expire_at",
                      "feedback_enabled", "flash_message", "max_number_of_message_parts", "truncate_concat"):
                if k in sent:
                    self.assertEqual(b[k], sent[k], k)

    def check_sdk_returned(self, expected, got):
        """The fake's body must have every field the SDK returned, with the same JSON type; values
        must agree up to MSISDN normalisation (the contract: no '+' in responses) and generated fields."""
        for k, v in expected.items():
            self.assertIn(k, got, f"field {k!r} missing in {got}")
            self.assertIs(type(got[k]), type(v), f"type of {k!r}")
            if k == "id":
                self.assertRegex(got[k], ID_RE)
            elif k in ("created_at", "modified_at"):
                self.assertRegex(got[k], TS_RE)
            elif k == "to":
                self.assertEqual(got[k], [norm_msisdn(x) for x in v])
            elif k == "from":
                self.assertEqual(got[k], norm_msisdn(v))
            else:
                self.assertEqual(got[k], v, k)

    # -- the replay --
    def replay_file(self, name, cap):
        reqs = cap.get("requests") or []
        if not reqs:
            self.assertIn("hostnames", cap, f"{name}: capture without requests")
            return
        f = self.fake
        f.ctl("POST", "/_fake/reset")
        f.ctl("POST", "/_fake/clock", {"now": CAPTURE_NOW})
        pid, spid = REPLAY_CREDS["project_id"], REPLAY_CREDS["service_plan_id"]

        # setup: a token if a project call comes before the file's own token fetch
        token = None
        first_token_req = next((i for i, r in enumerate(reqs) if r["path"].startswith("/oauth2/token")), len(reqs))
        if any(r["path"].startswith(f"/xms/v1/{pid}/") for r in reqs[:first_token_req]):
            token = self.fetch_token()
        # setup: batches the file refers to without creating them
        idmap = {}
        creates = [i for i, r in enumerate(reqs) if r["method"] == "POST" and r["path"].endswith("/batches")]
        for r in reqs:
            m = PATH_ID.search(r["path"])
            if m and m.group(2) not in idmap and not creates:
                idmap[m.group(2)] = self.create_fixture(token)
        list_reqs = [r for r in reqs if is_list_request(r)]
        if list_reqs:
            q = qparams(list_reqs[0]["path"])
            ov = {k: q[k] for k in ("from", "client_reference") if k in q}
            if "items_iterated" in cap:
                need = cap["items_iterated"]
            elif "sdk_page_result" in cap:
                ps = int(q.get("page_size", 30))
                pg = int(q.get("page", 0))
                need = pg * ps + cap["sdk_page_result"]["data_length"] + (1 if cap["sdk_page_result"]["hasNextPage"] else 0)
            else:
                need = 1
            for _ in range(need - len(idmap)):
                self.create_fixture(token, ov)

        conn = http.client.HTTPConnection("127.0.0.1", f.port, timeout=10)
        iterated = 0
        last = None
        try:
            for i, r in enumerate(reqs):
                where = f"{name} request #{i} {r['method']} {r['path']}"
                path = PATH_ID.sub(lambda m: m.group(1) + idmap.get(m.group(2), m.group(2)), r["path"])
                hdrs = {}
                expect_expired = None
                for k, v in r["headers"].items():
                    k = k.lower()
                    if k in ("host", "content-length"):
                        continue
                    if k == "authorization":
                        mb = BASIC_PH.match(v)
                        mt = BEARER_PH.match(v)
                        if mb:
                            self.assertEqual(mb.group(1), REPLAY_CREDS["key_id"], where)
                            v = "Basic " + b64(f"{mb.group(1)}:{REPLAY_CREDS['key_secret']}")
                        elif mt and path.startswith(f"/xms/v1/{spid}/"):
                            self.assertEqual(int(mt.group(1)), len(REPLAY_CREDS["api_token"]), where)
                            v = "Bearer " + REPLAY_CREDS["api_token"]
                        elif mt:
                            if r["response_status"] == 401:
                                refresh_follows = any(x["path"].startswith("/oauth2/token") for x in reqs[i + 1:])
                                if refresh_follows:   # scripted "token expired" 401 -> expire ours
                                    f.ctl("POST", "/_fake/expire_tokens")
                                    v = "Bearer " + token
                                    expect_expired = True
                                else:                 # scripted plain 401 -> a token the fake never issued
                                    v = "Bearer " + "x" * int(mt.group(1))
                                    expect_expired = False
                            else:
                                self.assertIsNotNone(token, where)
                                v = "Bearer " + token
                    hdrs[k] = v
                body = None
                if r.get("raw_body") is not None:
                    body = r["raw_body"].encode()
                    if "content-length" in r["headers"]:
                        self.assertEqual(int(r["headers"]["content-length"]), len(body), where)
                resp = http_call(f.port, r["method"], path, body, hdrs, conn=conn)
                last = resp
                self.assertEqual(resp.status, r["response_status"], f"{where}: {resp}")
                self.assertIn("content-length", resp.headers, where)
                st = resp.status
                # per-endpoint checks
                if path.startswith("/oauth2/token"):
                    j = resp.json
                    self.assertIsInstance(j["access_token"], str)
                    self.assertEqual(len(j["access_token"].split(".")), 3, "JWT-looking token")
                    self.assertEqual(j["token_type"].lower(), "bearer")
                    self.assertIsInstance(j["expires_in"], int)
                    self.assertEqual(j["scope"], "")
                    token = j["access_token"]
                    continue
                if st == 401:
                    www = resp.headers.get("www-authenticate", "")
                    if expect_expired:
                        self.assertIn("expired", www.lower(), where)
                    else:
                        self.assertNotIn("expired", www.lower(), where)
                if st >= 400:
                    self.assertEqual(set(resp.json), {"code", "text"}, where)
                    err = cap.get("sdk_error")
                    if err and err.get("statusCode") == st and i == len(reqs) - 1:
                        data = json.loads(err["data"])
                        self.assertEqual(resp.json["code"], data["code"], where)
                    continue
                base = path.partition("?")[0]
                sent = r.get("json_body")
                if is_list_request(r):
                    j = resp.json
                    self.assertEqual(set(j), {"count", "page", "page_size", "batches"}, where)
                    q = qparams(path)
                    ps_req = int(q.get("page_size", 30))
                    self.assertEqual(j["page"], int(q.get("page", 0)))
                    self.assertEqual(j["page_size"], len(j["batches"]))
                    for b in j["batches"]:
                        self.check_batch_shape(b)
                        if "client_reference" in q:
                            self.assertEqual(b["client_reference"], q["client_reference"])
                        if "from" in q:
                            self.assertEqual(b["from"], norm_msisdn(q["from"]))
                    iterated += len(j["batches"])
                    # the Node SDK's pagination rule
                    has_next = j["page"] < math.ceil(j["count"] / ps_req) - 1
                    nxt = reqs[i + 1] if i + 1 < len(reqs) else None
                    if "sdk_page_result" in cap:
                        spr = cap["sdk_page_result"]
                        self.assertEqual(len(j["batches"]), spr["data_length"], where)
                        self.assertEqual(has_next, spr["hasNextPage"], where)
                        if has_next:
                            self.assertEqual(json.loads(spr["nextPageValue"]), str(j["page"] + 1))
                    elif nxt is not None and is_list_request(nxt):
                        self.assertTrue(has_next, where)
                        self.assertEqual(int(qparams(nxt["path"]).get("page", 0)), j["page"] + 1)
                    else:
                        self.assertFalse(has_next, where)
                elif base.endswith("/batches/dry_run"):
                    j = resp.json
                    q = qparams(path)
                    self.assertEqual(j["number_of_recipients"], len(sent["to"]))
                    self.assertIsInstance(j["number_of_messages"], int)
                    if q.get("per_recipient") == "true":
                        for e in j["per_recipient"]:
                            self.assertEqual(set(e), {"recipient", "number_of_parts", "body", "encoding"})
                            self.assertEqual(e["encoding"], "text")
                elif "/delivery_report/" in base:
                    j = resp.json
                    self.assertEqual(j["type"], "recipient_delivery_report_sms")
                    self.assertEqual(j["recipient"], norm_msisdn(urllib.parse.unquote(base.rsplit("/", 1)[1])))
                    self.assertIsInstance(j["code"], int)
                    self.assertIsInstance(j["status"], str)
                    self.assertRegex(j["at"], TS_RE)
                elif base.endswith("/delivery_report"):
                    j = resp.json
                    self.assertEqual(j["type"], "delivery_report_sms")
                    self.assertIsInstance(j["total_message_count"], int)
                    self.assertIsInstance(j["statuses"], list)
                    q = qparams(path)
                    for s in j["statuses"]:
                        if "status" in q:
                            self.assertIn(s["status"], q["status"].split(","))
                        if q.get("type") == "full":
                            self.assertIn("recipients", s)
                else:  # a batch object
                    j = resp.json
                    if r["method"] == "POST" and base.endswith("/batches"):
                        self.check_batch_shape(j, sent)
                        self.assertNotIn("+", json.dumps(j["to"]))
                        if "delivery_report" not in sent:
                            self.assertEqual(j["delivery_report"], "none")
                        if "send_at" not in sent:
                            self.assertNotIn("send_at", j)
                    elif r["method"] == "PUT":
                        self.check_batch_shape(j, sent)
                        self.assertEqual(j["id"], base.rsplit("/", 1)[1])
                        self.assertGreaterEqual(j["modified_at"], j["created_at"])
                    elif r["method"] == "POST":  # update
                        self.check_batch_shape(j)
                        to = set(FIXTURE_BATCH["to"]) | set(sent.get("to_add", []))
                        to -= set(sent.get("to_remove", []))
                        self.assertEqual(set(j["to"]), {norm_msisdn(x) for x in to})
                        for k in ("body", "send_at", "delivery_report"):
                            if k in sent:
                                self.assertEqual(j[k], sent[k])
                    elif r["method"] == "DELETE":
                        self.check_batch_shape(j)
                        self.assertTrue(j["canceled"])
                    else:
                        self.check_batch_shape(j)
                        self.assertEqual(j["id"], base.rsplit("/", 1)[1])
            if "items_iterated" in cap:
                self.assertEqual(iterated, cap["items_iterated"])
            if "sdk_returned" in cap:
                self.check_sdk_returned(cap["sdk_returned"], last.json)
        finally:
            conn.close()
        # everything the replay sent was recorded
        recs = f.ctl("GET", "/_fake/requests")
        self.assertGreaterEqual(len(recs), len(reqs))


def _add_replay_tests():
    if not os.path.isdir(CAPTURES_DIR):
        def test_captures_present(self):
            if os.environ.get("SINCH_SDK_CAPTURES_OPTIONAL") == "1":
                self.skipTest(f"no captures at {CAPTURES_DIR}")
            self.fail(f"SDK captures not found at {CAPTURES_DIR}: pass --captures DIR or set SINCH_SDK_CAPTURES")
        CaptureReplayTest.test_captures_present = test_captures_present
        return
    caps = load_captures()

    def test_captures_present(self):
        self.assertTrue(caps, f"no *.json in {CAPTURES_DIR}")
        self.assertTrue(any(c.get("requests") for _, c in caps), "no capture with requests")
    CaptureReplayTest.test_captures_present = test_captures_present
    for name, cap in caps:
        def t(self, name=name, cap=cap):
            self.replay_file(name, cap)
        t.__doc__ = f"replay {name}"
        setattr(CaptureReplayTest, "test_capture_" + re.sub(r"\W", "_", name[:-5]), t)


_add_replay_tests()


# ============================================================================================
# 2. specification tests
# ============================================================================================

class CallbackReceiver:
    """A tiny HTTP server that records POSTs and answers with a configurable status."""

    def __init__(self):
        self.received = []
        self.status = 200
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(n)
                outer.received.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "raw": raw})
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sinch/dlr"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeTestCase(unittest.TestCase):
    fake_args = ()
    PID = "test-project"
    fake = None

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeProcess(*cls.fake_args)

    @classmethod
    def tearDownClass(cls):
        if cls.fake:
            rc, log = cls.fake.stop()
            assert rc == 0, f"fake exited with {rc}: {log}"
            # the event loop reports errors it caught itself only in the log
            assert not re.search(r"Traceback|Task exception|Exception in callback|Fatal error", log), log

    def setUp(self):
        self.fake.ctl("POST", "/_fake/reset")
        self._token = None

    # -- helpers --
    def get_token(self, fresh=False):
        if self._token is None or fresh:
            r = self.fake.call("POST", "/oauth2/token", "grant_type=client_credentials",
                               {"content-type": "application/x-www-form-urlencoded",
                                "authorization": "Basic " + b64("test-key:test-secret")})
            self.assertEqual(r.status, 200, r)
            self._token = r.json["access_token"]
        return self._token

    def api(self, method, rel, body=None, token=None, ident=None, ctype="application/json", headers=None):
        h = {"accept": "application/json"}
        tok = token if token is not None else self.get_token()
        if tok:
            h["authorization"] = "Bearer " + tok
        if ctype:
            h["content-type"] = ctype
        h.update(headers or {})
        return http_call(self.fake.port, method, f"/xms/v1/{ident or self.PID}{rel}", body, h)

    def create(self, **fields):
        body = {"to": ["+15551234567"], "from": "+15557654321", "body": "hello"}
        body.update(fields)
        body = {k: v for k, v in body.items() if v is not ...}
        r = self.api("POST", "/batches", body)
        self.assertEqual(r.status, 201, r)
        return r.json

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(set(r.json), {"code", "text"}, r)
        self.assertEqual(r.json["code"], code, r)
        self.assertIsInstance(r.json["text"], str)

    def advance(self, seconds):
        self.fake.ctl("POST", "/_fake/clock", {"advance_seconds": seconds})

    def fake_batch(self, bid):
        return self.fake.ctl("GET", f"/_fake/batches/{bid}")

    def now_ms(self):
        return iso_ms(self.fake.ctl("GET", "/_fake/clock")["now"])


def iso_ms(s):
    import datetime as dt
    d = dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return int(d.timestamp() * 1000 + 0.5)


def ms_iso(ms):
    import datetime as dt
    d = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class AuthTest(FakeTestCase):
    def test_token_shape_and_jwt(self):
        r = self.fake.call("POST", "/oauth2/token", "grant_type=client_credentials",
                           {"content-type": "application/x-www-form-urlencoded",
                            "authorization": "Basic " + b64("test-key:test-secret")})
        self.assertEqual(r.status, 200)
        j = r.json
        self.assertEqual((j["token_type"], j["expires_in"], j["scope"]), ("bearer", 3600, ""))
        parts = j["access_token"].split(".")
        self.assertEqual(len(parts), 3)
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        self.assertEqual(payload["exp"] - payload["iat"], 3600)
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["token_fetches"], 1)
        # client_secret_post is accepted too
        r = self.fake.call("POST", "/oauth2/token",
                           "grant_type=client_credentials&client_id=test-key&client_secret=test-secret",
                           {"content-type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["token_fetches"], 2)

    def test_token_wrong_credentials_and_grant(self):
        form = {"content-type": "application/x-www-form-urlencoded"}
        r = self.fake.call("POST", "/oauth2/token", "grant_type=client_credentials",
                           dict(form, authorization="Basic " + b64("test-key:wrong")))
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json["error"], "invalid_client")
        self.assertIn("basic", r.headers["www-authenticate"].lower())
        r = self.fake.call("POST", "/oauth2/token", "grant_type=client_credentials", form)
        self.assertEqual((r.status, r.json["error"]), (401, "invalid_client"))
        auth = dict(form, authorization="Basic " + b64("test-key:test-secret"))
        r = self.fake.call("POST", "/oauth2/token", "grant_type=password", auth)
        self.assertEqual((r.status, r.json["error"]), (400, "unsupported_grant_type"))
        r = self.fake.call("POST", "/oauth2/token", "", auth)
        self.assertEqual((r.status, r.json["error"]), (400, "invalid_request"))
        self.assertEqual(self.fake.call("GET", "/oauth2/token").status, 405)
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["token_fetches"], 0)

    def test_token_expiry_by_clock(self):
        tok = self.get_token()
        b = self.create(send_at="2099-01-01T00:00:00Z")
        self.advance(3601)
        r = self.api("GET", f"/batches/{b['id']}", token=tok)
        self.assertError(r, 401, "unauthorized")
        self.assertIn("expired", r.headers["www-authenticate"])
        self.assertIn('error="invalid_token"', r.headers["www-authenticate"])
        r = self.api("GET", f"/batches/{b['id']}", token=self.get_token(fresh=True))
        self.assertEqual(r.status, 200)

    def test_expire_tokens_endpoint_and_refresh(self):
        tok = self.get_token()
        self.assertEqual(self.fake.ctl("POST", "/_fake/expire_tokens")["expired"], 1)
        r = self.api("GET", "/batches", token=tok)
        self.assertEqual(r.status, 401)
        self.assertIn("expired", r.headers["www-authenticate"])
        self.assertEqual(self.api("GET", "/batches", token=self.get_token(fresh=True)).status, 200)

    def test_token_ttl_config(self):
        self.fake.ctl("POST", "/_fake/config", {"token_ttl": 5})
        r = self.fake.call("POST", "/oauth2/token", "grant_type=client_credentials",
                           {"content-type": "application/x-www-form-urlencoded",
                            "authorization": "Basic " + b64("test-key:test-secret")})
        self.assertEqual(r.json["expires_in"], 5)
        self.assertEqual(self.api("GET", "/batches", token=r.json["access_token"]).status, 200)
        self.advance(6)
        self.assertEqual(self.api("GET", "/batches", token=r.json["access_token"]).status, 401)

    def test_unknown_and_missing_token(self):
        r = self.api("GET", "/batches", token="not-a-token")
        self.assertError(r, 401, "unauthorized")
        self.assertNotIn("expired", r.headers.get("www-authenticate", ""))
        r = self.api("GET", "/batches", token="")
        self.assertEqual(r.status, 401)
        self.assertNotIn("expired", r.headers.get("www-authenticate", ""))

    def test_wrong_project_id(self):
        r = self.api("GET", "/batches", ident="other-project")
        self.assertEqual(r.status, 401)

    def test_service_plan_mode(self):
        r = self.api("POST", "/batches", {"to": ["+15551234567"], "body": "sp"}, token="test-api-token",
                     ident="test-plan")
        self.assertEqual(r.status, 201, r)
        bid = r.json["id"]
        self.assertEqual(self.api("GET", f"/batches/{bid}", token="test-api-token", ident="test-plan").status, 200)
        self.assertEqual(self.api("GET", "/batches", token="wrong-token", ident="test-plan").status, 401)
        # an OAuth2 token does not work on the service plan path, the api token not on the project path
        self.assertEqual(self.api("GET", "/batches", ident="test-plan").status, 401)
        self.assertEqual(self.api("GET", "/batches", token="test-api-token").status, 401)
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["token_fetches"], 1)


class ValidationTest(FakeTestCase):
    BASE = {"to": ["+15551234567"], "from": "+15557654321", "body": "hello"}

    def post(self, body, **kw):
        return self.api("POST", "/batches", body, **kw)

    def test_error_table(self):
        long_url = "https://example.test/" + "a" * 2030
        BASE = self.BASE
        cases = [
            ({"body": "x"}, "syntax_constraint_violation"),                      # to missing
            ({"to": [], "body": "x"}, "syntax_constraint_violation"),
            ({"to": "+15551234567", "body": "x"}, "syntax_invalid_json"),
            ({"to": [15551234567], "body": "x"}, "syntax_invalid_json"),
            ({"to": [f"+1555{i:07d}" for i in range(1001)], "body": "x"}, "syntax_constraint_violation"),
            ({"to": ["abc"], "body": "x"}, "syntax_invalid_parameter_format"),
            ({"to": ["+1555ABC4567"], "body": "x"}, "syntax_invalid_parameter_format"),
            ({"to": ["01FC66621XXXXX119Z8PMV1QPQ"], "body": "x"}, "syntax_invalid_parameter_format"),
            ({"to": ["+15551234567"]}, "syntax_constraint_violation"),            # body missing
            ({"to": ["+15551234567"], "body": None}, "syntax_constraint_violation"),
            ({"to": ["+15551234567"], "body": 5}, "syntax_invalid_json"),
            (dict(BASE, body="x" * 2001), "syntax_constraint_violation"),
            (dict(BASE, send_at="tomorrow"), "syntax_invalid_parameter_format"),
            (dict(BASE, send_at="2030-13-01T00:00:00Z"), "syntax_invalid_parameter_format"),
            (dict(BASE, send_at=1700000000), "syntax_invalid_json"),
            (dict(BASE, send_at="2030-01-01T00:00:00Z", expire_at="2030-01-04T00:00:01Z"),
             "syntax_constraint_violation"),
            (dict(BASE, send_at="2030-01-01T00:00:00Z", expire_at="2029-12-31T00:00:00Z"),
             "syntax_constraint_violation"),
            (dict(BASE, delivery_report="sometimes", callback_url="https://x.test/"),
             "syntax_invalid_parameter_format"),
            (dict(BASE, callback_url="not a url"), "syntax_invalid_parameter_format"),
            (dict(BASE, callback_url="ftp://example.test/x"), "syntax_invalid_parameter_format"),
            (dict(BASE, callback_url=long_url), "syntax_constraint_violation"),
            (dict(BASE, client_reference="r" * 2049), "syntax_constraint_violation"),
            (dict(BASE, client_reference=42), "syntax_invalid_json"),
            (dict(BASE, flash_message="yes"), "syntax_invalid_json"),
            (dict(BASE, max_number_of_message_parts=0), "syntax_constraint_violation"),
            (dict(BASE, from_ton=7), "syntax_constraint_violation"),
            (dict(BASE, parameters="x"), "syntax_invalid_json"),
            (dict(BASE, parameters={"bad key!": {"default": "x"}}), "syntax_constraint_violation"),
            (dict(BASE, parameters={"name": {"default": 5}}), "syntax_invalid_json"),
            (dict(BASE, type="mt_binary"), "syntax_invalid_parameter_format"),
            (dict(BASE, type="mt_media"), "syntax_invalid_parameter_format"),
            (dict(BASE, **{"from": "Way Too Long Sender"}), "syntax_invalid_parameter_format"),
        ]
        for body, code in cases:
            with self.subTest(body=json.dumps(body)[:120]):
                self.assertError(self.post(body), 400, code)
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["creates"], 0)

    def test_invalid_json_and_not_object(self):
        self.assertError(self.post(b'{"to": ['), 400, "syntax_invalid_json")
        self.assertError(self.post(b'["+15551234567"]'), 400, "syntax_invalid_json")
        self.assertError(self.post(b""), 400, "syntax_invalid_json")

    def test_limits_accepted(self):
        self.create(to=[f"+1555{i:07d}" for i in range(1000)], body="x" * 2000, client_reference="r" * 2048)
        self.create(body="")
        self.create(type="mt_text", flash_message=True, feedback_enabled=True, truncate_concat=False,
                    max_number_of_message_parts=3, from_ton=1, from_npi=1,
                    parameters={"name": {"+15551234567": "Ann", "default": "there"}})

    def test_missing_callback_url(self):
        for dr in ("summary", "full", "per_recipient", "per_recipient_final"):
            self.assertError(self.post(dict(self.BASE, delivery_report=dr)), 403, "missing_callback_url")
        b = self.create(delivery_report="per_recipient", callback_url="https://example.test/dlr")
        self.assertEqual(b["delivery_report"], "per_recipient")
        self.create(delivery_report="none")

    def test_content_type_and_routing(self):
        r = self.api("POST", "/batches", self.BASE, ctype=None)
        self.assertError(r, 415, "unsupported_media_type")
        r = self.api("POST", "/batches", self.BASE, ctype="text/plain")
        self.assertEqual(r.status, 415)
        self.create()
        r = self.api("POST", "/batches", self.BASE, ctype="application/json; charset=utf-8")
        self.assertEqual(r.status, 201)
        self.assertEqual(self.api("PATCH", "/batches", self.BASE).status, 405)
        r = self.api("GET", "/batches/dry_run")
        self.assertEqual(r.status, 405)
        self.assertIn("POST", r.headers["allow"])
        self.assertError(self.api("GET", "/inbounds"), 404, "not_found")
        self.assertError(self.api("GET", "/batches/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found")
        self.assertEqual(self.fake.call("GET", "/nothing/here").status, 404)
        # GET/DELETE with Content-Type: application/json and no body (what the SDK sends) are fine
        self.assertEqual(self.api("GET", "/batches").status, 200)

    def test_msisdn_normalisation(self):
        b = self.create(to=["+1 (555) 123-4567", "0015551234567", "15551234567", "+44 20-7123-4567",
                            "[+46]701234567"], **{"from": "+1 555 765-4321"})
        self.assertEqual(b["to"], ["15551234567", "442071234567", "46701234567"])
        self.assertEqual(b["from"], "15557654321")
        b = self.create(**{"from": "MyClinic"})
        self.assertEqual(b["from"], "MyClinic")
        b = self.create(**{"from": ...})
        self.assertNotIn("from", b)

    def test_iso_variants(self):
        cases = {
            "2030-10-02T09:30Z": "2030-10-02T09:30:00.000Z",
            "2030-10-02T09:30:00+02:00": "2030-10-02T07:30:00.000Z",
            "2030-10-02T09:30:00-0130": "2030-10-02T11:00:00.000Z",
            "2030-10-02T09:30:00.123456Z": "2030-10-02T09:30:00.123Z",
            "2030-10-02T09:30:00.5Z": "2030-10-02T09:30:00.500Z",
            "2030-10-02T09:30:00": "2030-10-02T09:30:00.000Z",
            "20301002T093000Z": "2030-10-02T09:30:00.000Z",
            "20301002TZ": "2030-10-02T00:00:00.000Z",
        }
        for given, want in cases.items():
            with self.subTest(given=given):
                b = self.create(send_at=given)
                self.assertEqual(b["send_at"], want)
                self.assertEqual(iso_ms(b["expire_at"]) - iso_ms(want), 3 * 86400_000)

    def test_response_shape(self):
        b = self.create()
        self.assertRegex(b["id"], ID_RE)
        self.assertEqual(len(b["id"]), 26)
        for k in ("created_at", "modified_at", "expire_at"):
            self.assertRegex(b[k], TS_RE)
        self.assertEqual(b["created_at"], b["modified_at"])
        self.assertEqual((b["type"], b["delivery_report"], b["flash_message"], b["canceled"]),
                         ("mt_text", "none", False, False))
        self.assertNotIn("send_at", b)
        self.assertNotIn("feedback_enabled", b)
        self.assertEqual(iso_ms(b["expire_at"]) - iso_ms(b["created_at"]), 3 * 86400_000)
        self.assertEqual(b["to"], ["15551234567"])
        b2 = self.create(send_at="2030-01-01T00:00:00Z", expire_at="2030-01-04T00:00:00Z")
        self.assertEqual(b2["expire_at"], "2030-01-04T00:00:00.000Z")


class LifecycleTest(FakeTestCase):
    def test_get_and_dispatch_by_clock(self):
        send = ms_iso(self.now_ms() + 600_000)
        b = self.create(send_at=send, to=["+15551234567", "+15559990000"])
        r = self.api("GET", f"/batches/{b['id']}")
        self.assertEqual((r.status, r.json), (200, b))
        fb = self.fake_batch(b["id"])
        self.assertFalse(fb["dispatched"])
        self.assertEqual(fb["delivery_statuses"]["15551234567"]["status"], "Queued")
        r = self.api("GET", f"/batches/{b['id']}/delivery_report/+15551234567")
        self.assertEqual((r.json["status"], r.json["code"]), ("Queued", 400))
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["live_batches"], 1)
        self.advance(601)
        fb = self.fake_batch(b["id"])
        self.assertTrue(fb["dispatched"])
        self.assertEqual(fb["delivery_statuses"]["15559990000"]["status"], "Dispatched")
        r = self.api("GET", f"/batches/{b['id']}/delivery_report/%2B15551234567")
        self.assertEqual((r.json["status"], r.json["code"]), ("Dispatched", 401))
        self.assertError(self.api("POST", f"/batches/{b['id']}", {"body": "late"}), 403, "batch_already_dispatched")
        self.assertError(self.api("PUT", f"/batches/{b['id']}", {"to": ["+15551234567"], "body": "x"}), 403,
                         "batch_already_dispatched")
        st = self.fake.ctl("GET", "/_fake/stats")
        self.assertEqual((st["live_batches"], st["dispatched_batches"]), (0, 1))

    def test_no_send_at_is_dispatched_at_once(self):
        b = self.create()
        self.assertTrue(self.fake_batch(b["id"])["dispatched"])
        self.assertError(self.api("POST", f"/batches/{b['id']}", {"body": "x"}), 403, "batch_already_dispatched")
        b = self.create(send_at="2001-01-01T00:00:00Z")  # past -> sent at once
        self.assertTrue(self.fake_batch(b["id"])["dispatched"])

    def test_update_partial(self):
        b = self.create(send_at="2030-01-01T10:00:00Z", client_reference="appt-1")
        self.advance(2)
        r = self.api("POST", f"/batches/{b['id']}", {"to_add": ["+15559990000", "+15551234567"],
                                                     "to_remove": ["+15551234567"],
                                                     "send_at": "2030-01-02T10:00:00.000Z", "body": "moved"})
        self.assertEqual(r.status, 200, r)
        u = r.json
        self.assertEqual(u["id"], b["id"])
        self.assertEqual(u["to"], ["15559990000"])
        self.assertEqual((u["body"], u["send_at"]), ("moved", "2030-01-02T10:00:00.000Z"))
        self.assertEqual(u["expire_at"], "2030-01-05T10:00:00.000Z")   # defaulted expire_at moves along
        self.assertEqual(u["client_reference"], "appt-1")               # untouched fields kept
        self.assertEqual(u["created_at"], b["created_at"])
        self.assertGreater(u["modified_at"], b["modified_at"])
        # explicit expire_at stays and is re-checked
        u = self.api("POST", f"/batches/{b['id']}", {"expire_at": "2030-01-03T10:00:00Z"}).json
        self.assertEqual(u["expire_at"], "2030-01-03T10:00:00.000Z")
        r = self.api("POST", f"/batches/{b['id']}", {"send_at": "2030-01-04T10:00:00Z"})
        self.assertError(r, 400, "syntax_constraint_violation")
        # null clears
        u = self.api("POST", f"/batches/{b['id']}", {"client_reference": None}).json
        self.assertNotIn("client_reference", u)
        self.assertError(self.api("POST", f"/batches/{b['id']}", {"delivery_report": "summary"}), 403,
                         "missing_callback_url")
        u = self.api("POST", f"/batches/{b['id']}", {"delivery_report": "summary",
                                                     "callback_url": "https://example.test/cb"}).json
        self.assertEqual(u["delivery_report"], "summary")
        self.assertError(self.api("POST", f"/batches/{b['id']}", {"to_remove": ["+15559990000"]}), 400,
                         "syntax_constraint_violation")
        self.assertError(self.api("POST", f"/batches/{b['id']}", {"to_add": ["nope"]}), 400,
                         "syntax_invalid_parameter_format")
        self.assertError(self.api("POST", f"/batches/{b['id']}", {"to_add": []}), 400,
                         "syntax_constraint_violation")
        self.assertError(self.api("POST", "/batches/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"body": "x"}), 404, "not_found")

    def test_replace(self):
        b = self.create(send_at="2030-01-01T10:00:00Z", client_reference="appt-1", flash_message=True)
        self.advance(5)
        r = self.api("PUT", f"/batches/{b['id']}", {"to": ["+15559990000"], "body": "new",
                                                    "send_at": "2030-01-01T11:00:00Z"})
        self.assertEqual(r.status, 200, r)
        n = r.json
        self.assertEqual((n["id"], n["created_at"]), (b["id"], b["created_at"]))
        self.assertGreater(iso_ms(n["modified_at"]), iso_ms(b["modified_at"]) + 4000)
        self.assertEqual((n["to"], n["body"], n["flash_message"]), (["15559990000"], "new", False))
        self.assertNotIn("client_reference", n)
        self.assertError(self.api("PUT", f"/batches/{b['id']}", {"body": "x"}), 400, "syntax_constraint_violation")

    def test_cancel_pending(self):
        b = self.create(send_at="2030-01-01T10:00:00Z")
        r = self.api("DELETE", f"/batches/{b['id']}")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.json["canceled"])
        r2 = self.api("DELETE", f"/batches/{b['id']}")
        self.assertEqual((r2.status, r2.json["canceled"]), (200, True))
        self.assertError(self.api("POST", f"/batches/{b['id']}", {"body": "x"}), 403, "batch_already_dispatched")
        rep = self.api("GET", f"/batches/{b['id']}/delivery_report").json
        self.assertEqual((rep["total_message_count"], rep["statuses"]), (0, []))
        rr = self.api("GET", f"/batches/{b['id']}/delivery_report/15551234567").json
        self.assertEqual((rr["status"], rr["code"]), ("Cancelled", 407))
        self.assertError(self.api("DELETE", "/batches/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "not_found")
        self.advance(10 * 86400)
        fb = self.fake.ctl("GET", f"/_fake/batches/{b['id']}")
        self.assertEqual((fb["dispatched"], fb["canceled"]), (False, True))

    def test_cancel_dispatched_default_200(self):
        b = self.create()
        r = self.api("DELETE", f"/batches/{b['id']}")
        self.assertEqual((r.status, r.json["canceled"]), (200, True))
        fb = self.fake_batch(b["id"])
        self.assertEqual(fb["delivery_statuses"]["15551234567"]["status"], "Dispatched")

    def test_delivery_reports(self):
        b = self.create(to=["+15551234567", "+15559990000"], client_reference="ref-1")
        r = self.api("GET", f"/batches/{b['id']}/delivery_report")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json, {"type": "delivery_report_sms", "batch_id": b["id"], "total_message_count": 2,
                                  "statuses": [{"code": 401, "status": "Dispatched", "count": 2}],
                                  "client_reference": "ref-1"})
        r = self.api("GET", f"/batches/{b['id']}/delivery_report?type=full")
        self.assertEqual(r.json["statuses"][0]["recipients"], ["15551234567", "15559990000"])
        r = self.api("GET", f"/batches/{b['id']}/delivery_report?type=full&status=Delivered,Failed&code=0,402")
        self.assertEqual((r.json["statuses"], r.json["total_message_count"]), ([], 2))
        self.assertError(self.api("GET", f"/batches/{b['id']}/delivery_report?type=bogus"), 404, "not_found")
        self.assertError(self.api("GET", f"/batches/{b['id']}/delivery_report?code=x"), 400,
                         "syntax_invalid_parameter_format")
        self.assertError(self.api("GET", f"/batches/{b['id']}/delivery_report/+15550000000"), 404, "not_found")
        rr = self.api("GET", f"/batches/{b['id']}/delivery_report/+15559990000").json
        self.assertEqual((rr["recipient"], rr["client_reference"]), ("15559990000", "ref-1"))
        self.assertRegex(rr["at"], TS_RE)

    def test_dry_run(self):
        body = {"to": ["+15551234567", "+15559990000"], "body": "Hi ${name} " + "x" * 155,
                "parameters": {"name": {"+15551234567": "Ann", "default": "there"}}}
        r = self.api("POST", "/batches/dry_run?per_recipient=true&number_of_recipients=10", body)
        self.assertEqual(r.status, 200, r)
        j = r.json
        self.assertEqual(j["number_of_recipients"], 2)
        self.assertEqual(j["per_recipient"][0]["body"], "Hi Ann " + "x" * 155)
        self.assertEqual(j["per_recipient"][0]["number_of_parts"], 2)
        self.assertEqual(j["per_recipient"][0]["encoding"], "text")
        self.assertEqual(j["number_of_messages"], 4)
        r = self.api("POST", "/batches/dry_run", {"to": ["+15551234567"], "body": "日本"})
        self.assertEqual(r.json, {"number_of_recipients": 1, "number_of_messages": 1})
        r = self.api("POST", "/batches/dry_run?per_recipient=true", {"to": ["+15551234567"], "body": "日本"})
        self.assertEqual(r.json["per_recipient"][0]["encoding"], "unicode")
        r = self.api("POST", "/batches/dry_run?per_recipient=true&number_of_recipients=1", body)
        self.assertEqual(len(r.json["per_recipient"]), 1)
        self.assertError(self.api("POST", "/batches/dry_run", {"to": ["x"], "body": "x"}), 400,
                         "syntax_invalid_parameter_format")
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["batches"], 0)

    def test_delivery_feedback(self):
        b = self.create(feedback_enabled=True)
        r = self.api("POST", f"/batches/{b['id']}/delivery_feedback", {"recipients": ["+15551234567"]})
        self.assertEqual((r.status, r.raw, r.headers["content-length"]), (202, b"", "0"))
        self.assertEqual(self.api("POST", f"/batches/{b['id']}/delivery_feedback", {"recipients": []}).status, 202)
        self.assertError(self.api("POST", f"/batches/{b['id']}/delivery_feedback", {}), 400,
                         "syntax_constraint_violation")
        self.assertEqual(self.fake_batch(b["id"])["feedback"][0]["recipients"], ["15551234567"])


class Policy409ClampTest(FakeTestCase):
    fake_args = ("--cancel-dispatched-status", "409", "--expire-policy", "clamp")

    def test_cancel_dispatched_409(self):
        b = self.create()
        self.assertError(self.api("DELETE", f"/batches/{b['id']}"), 409, "conflict_send_at")
        self.assertFalse(self.fake_batch(b["id"])["canceled"])
        p = self.create(send_at="2030-01-01T00:00:00Z")
        self.assertEqual(self.api("DELETE", f"/batches/{p['id']}").status, 200)
        self.assertEqual(self.api("DELETE", f"/batches/{p['id']}").status, 200)

    def test_expire_clamp(self):
        b = self.create(send_at="2030-01-01T00:00:00Z", expire_at="2030-02-01T00:00:00Z")
        self.assertEqual(b["expire_at"], "2030-01-04T00:00:00.000Z")
        self.assertError(self.api("POST", "/batches", {"to": ["+15551234567"], "body": "x",
                                                       "send_at": "2030-01-01T00:00:00Z",
                                                       "expire_at": "2029-01-01T00:00:00Z"}),
                         400, "syntax_constraint_violation")


class ListTest(FakeTestCase):
    def test_filters_client_reference_and_raw_plus(self):
        a1 = self.create(client_reference="appt-42")
        self.create(client_reference="appt-43")
        self.create(client_reference="appt-42", **{"from": "+15550001111"})
        a2 = self.create(client_reference="appt-42")
        for frm in ("+15557654321", "%2B15557654321", "15557654321", "0015557654321"):
            with self.subTest(frm=frm):
                r = self.api("GET", f"/batches?from={frm}&client_reference=appt-42")
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json["count"], 2)
                self.assertEqual([b["id"] for b in r.json["batches"]], [a2["id"], a1["id"]])  # newest first
        r = self.api("GET", "/batches?from=+15557654321,+15550001111&client_reference=appt-42")
        self.assertEqual(r.json["count"], 3)
        self.assertEqual(self.api("GET", "/batches?client_reference=appt-4").json["count"], 0)  # exact match
        self.assertEqual(self.api("GET", "/batches").json["count"], 4)

    def test_pagination(self):
        ids = [self.create()["id"] for _ in range(5)]
        seen = []
        for page, size in ((0, 2), (1, 2), (2, 1)):
            j = self.api("GET", f"/batches?page={page}&page_size=2").json
            self.assertEqual((j["count"], j["page"], j["page_size"], len(j["batches"])), (5, page, size, size))
            seen += [b["id"] for b in j["batches"]]
        self.assertEqual(seen, ids[::-1])
        self.assertEqual(self.api("GET", "/batches?page=9").json["batches"], [])
        self.assertEqual(self.api("GET", "/batches").json["page_size"], 5)
        self.assertError(self.api("GET", "/batches?page_size=0"), 400, "syntax_constraint_violation")
        self.assertError(self.api("GET", "/batches?page_size=101"), 400, "syntax_constraint_violation")
        self.assertError(self.api("GET", "/batches?page=abc"), 400, "syntax_invalid_parameter_format")
        self.assertError(self.api("GET", "/batches?start_date=yesterday"), 400, "syntax_invalid_parameter_format")

    def test_date_window(self):
        old = self.create()
        t_old = iso_ms(old["created_at"])
        self.advance(25 * 3600)
        tok = self.get_token(fresh=True)
        new = self.create()
        j = self.api("GET", "/batches", token=tok).json
        self.assertEqual([b["id"] for b in j["batches"]], [new["id"]])      # default start_date = now - 24h
        start = ms_iso(t_old - 1000)                                          # raw colons in the query
        j = self.api("GET", f"/batches?start_date={start}", token=tok).json
        self.assertEqual(j["count"], 2)
        j = self.api("GET", f"/batches?start_date={start}&end_date={new['created_at']}", token=tok).json
        self.assertEqual([b["id"] for b in j["batches"]], [old["id"]])        # end_date is exclusive
        # an offset with a raw '+' in the query
        import datetime as dt
        plus = dt.datetime.fromtimestamp((t_old - 1000) / 1000, dt.timezone(dt.timedelta(hours=2)))
        j = self.api("GET", "/batches?start_date=" + plus.strftime("%Y-%m-%dT%H:%M:%S+02:00"), token=tok).json
        self.assertEqual(j["count"], 2)
        self.advance(14 * 86400 - 24 * 3600)
        j = self.api("GET", f"/batches?start_date={start}", token=self.get_token(fresh=True)).json
        self.assertEqual([b["id"] for b in j["batches"]], [new["id"]])      # only the last 14 days


class FaultTest(FakeTestCase):
    fake_args = ("--seed", "7")

    BODY = {"to": ["+15551234567"], "body": "x"}

    def test_status_fault_does_not_act(self):
        self.get_token()
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST", "path_regex": "/batches$"},
                                                "status": 503, "count": 1})
        r = self.api("POST", "/batches", self.BODY)
        self.assertError(r, 503, "service_unavailable")
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["creates"], 0)
        self.assertEqual(self.api("POST", "/batches", self.BODY).status, 201)
        self.assertEqual(self.fake.ctl("GET", "/_fake/faults")[0]["fired"], 1)
        recs = self.fake.ctl("GET", "/_fake/requests?method=POST&path_regex=/batches$")
        self.assertEqual([x["status"] for x in recs], [503, 201])

    def test_429_with_retry_after_and_custom_body(self):
        self.fake.ctl("POST", "/_fake/faults", {"match": {"path_regex": "/batches"}, "status": 429,
                                                "headers": {"Retry-After": "2"},
                                                "body": {"code": "too_many_requests", "text": "slow down"}})
        r = self.api("GET", "/batches")
        self.assertEqual((r.status, r.headers["retry-after"], r.json["text"]), (429, "2", "slow down"))
        self.fake.ctl("DELETE", "/_fake/faults")
        self.assertEqual(self.api("GET", "/batches").status, 200)
        self.fake.ctl("POST", "/_fake/faults", {"match": {}, "status": 500, "body": None})
        r = self.api("GET", "/batches")
        self.assertEqual((r.status, r.raw, r.headers["content-length"]), (500, b"", "0"))

    def test_google_shape(self):
        self.get_token()
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST"}, "status": 400, "shape": "google"})
        r = self.api("POST", "/batches", self.BODY)
        self.assertEqual(r.status, 400)
        self.assertEqual(set(r.json["error"]), {"code", "message", "status", "details"})
        self.assertEqual((r.json["error"]["code"], r.json["error"]["status"], r.json["error"]["details"]),
                         (400, "INVALID_ARGUMENT", []))

    def test_probability_is_seeded(self):
        def run():
            self.fake.ctl("POST", "/_fake/reset")
            self.fake.ctl("POST", "/_fake/config", {"seed": 1234})
            self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "GET"}, "status": 503, "probability": 0.5})
            tok = self.get_token(fresh=True)
            return [self.api("GET", "/batches", token=tok).status for _ in range(40)]
        a, b = run(), run()
        self.assertEqual(a, b)
        self.assertTrue(8 <= a.count(503) <= 32, a)
        self.assertEqual(set(a), {200, 503})

    def test_latency(self):
        tok = self.get_token()
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "GET"}, "latency_ms": 300})
        t0 = time.monotonic()
        r = self.api("GET", "/batches", token=tok)
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)

    def test_act_then_drop(self):
        tok = self.get_token()
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST", "path_regex": "/batches$"},
                                                "act_then_drop": True, "count": 1})
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            self.api("POST", "/batches", dict(self.BODY, client_reference="lost-response"), token=tok)
        batches = self.fake.ctl("GET", "/_fake/batches")
        self.assertEqual([b["client_reference"] for b in batches], ["lost-response"])
        rec = self.fake.ctl("GET", "/_fake/requests?method=POST&path_regex=/batches$")[-1]
        self.assertEqual((rec["status"], rec["dropped"]), (201, True))
        # the retry (same client_reference) can find it via the list filter
        j = self.api("GET", "/batches?client_reference=lost-response", token=tok).json
        self.assertEqual(j["count"], 1)

    def test_token_endpoint_fault_count_and_skip(self):
        self.fake.ctl("POST", "/_fake/faults", {"match": {"path_regex": "^/oauth2/token$"}, "status": 503,
                                                "skip": 1, "count": 2})
        codes = []
        for _ in range(4):
            codes.append(self.fake.call("POST", "/oauth2/token", "grant_type=client_credentials",
                                        {"content-type": "application/x-www-form-urlencoded",
                                         "authorization": "Basic " + b64("test-key:test-secret")}).status)
        self.assertEqual(codes, [200, 503, 503, 200])
        self.assertEqual(self.fake.call("POST", "/_fake/faults", {"match": {}, "status": "x"}).status, 400)


class CallbackTest(FakeTestCase):
    def setUp(self):
        super().setUp()
        self.rx = CallbackReceiver()

    def tearDown(self):
        self.rx.close()

    def test_recipient_callback_unsigned(self):
        b = self.create(delivery_report="per_recipient", callback_url=self.rx.url, client_reference="appt-9")
        r = self.fake.ctl("POST", f"/_fake/callbacks/{b['id']}", {"status": "Delivered", "code": 0})
        self.assertEqual(r["callback_status"], 200)
        self.assertEqual(len(self.rx.received), 1)
        got = self.rx.received[0]
        self.assertEqual(got["path"], "/sinch/dlr")
        self.assertEqual(got["headers"]["content-type"], "application/json")
        self.assertNotIn("x-sinch-webhook-signature", got["headers"])
        p = json.loads(got["raw"])
        self.assertEqual({k: p[k] for k in ("type", "batch_id", "recipient", "code", "status", "client_reference")},
                         {"type": "recipient_delivery_report_sms", "batch_id": b["id"], "recipient": "15551234567",
                          "code": 0, "status": "Delivered", "client_reference": "appt-9"})
        self.assertRegex(p["at"], TS_RE)
        rr = self.api("GET", f"/batches/{b['id']}/delivery_report/15551234567").json
        self.assertEqual((rr["status"], rr["code"]), ("Delivered", 0))

    def test_recipient_callback_signed(self):
        b = self.create(delivery_report="per_recipient_final", callback_url=self.rx.url,
                        to=["+15551234567", "+15559990000"])
        r = self.fake.ctl("POST", f"/_fake/callbacks/{b['id']}", {"status": "Failed", "code": 402,
                                                                  "recipient": "+15559990000",
                                                                  "sign_secret": "s3cr3t"})
        self.assertEqual(r["callback_status"], 200)
        got = self.rx.received[0]
        h = got["headers"]
        msg = got["raw"] + b"." + h["x-sinch-webhook-signature-nonce"].encode() + b"." + \
            h["x-sinch-webhook-signature-timestamp"].encode()
        want = base64.b64encode(hmac.new(b"s3cr3t", msg, hashlib.sha256).digest()).decode()
        self.assertEqual(h["x-sinch-webhook-signature"], want)
        self.assertLessEqual(abs(int(h["x-sinch-webhook-signature-timestamp"]) - time.time()), 5)
        p = json.loads(got["raw"])
        self.assertEqual((p["recipient"], p["status"], p["code"]), ("15559990000", "Failed", 402))
        fb = self.fake_batch(b["id"])
        self.assertEqual(fb["delivery_statuses"]["15551234567"]["status"], "Dispatched")
        self.assertEqual(fb["delivery_statuses"]["15559990000"]["status"], "Failed")

    def test_batch_callback_and_receiver_errors(self):
        b = self.create(delivery_report="full", callback_url=self.rx.url, to=["+15551234567", "+15559990000"])
        r = self.fake.ctl("POST", f"/_fake/callbacks/{b['id']}", {"status": "Delivered", "code": 0, "kind": "batch"})
        self.assertEqual(r["callback_status"], 200)
        p = json.loads(self.rx.received[0]["raw"])
        self.assertEqual(p["type"], "delivery_report_sms")
        self.assertEqual(p["total_message_count"], 2)
        self.assertEqual(p["statuses"], [{"code": 0, "status": "Delivered", "count": 2,
                                          "recipients": ["15551234567", "15559990000"]}])
        self.rx.status = 500
        r = self.fake.call("POST", f"/_fake/callbacks/{b['id']}", {"status": "Delivered", "kind": "batch"})
        self.assertEqual((r.status, r.json["callback_status"]), (200, 500))
        self.assertEqual(self.fake.call("POST", "/_fake/callbacks/01ARZ3NDEKTSV4RRFFQ69G5FAV", {}).status, 404)
        nb = self.create()
        self.assertEqual(self.fake.call("POST", f"/_fake/callbacks/{nb['id']}", {}).status, 409)
        self.rx.status = 200
        r = self.fake.ctl("POST", f"/_fake/callbacks/{nb['id']}", {"url": self.rx.url})
        self.assertEqual(r["callback_status"], 200)


class ControlTest(FakeTestCase):
    def test_request_recording_and_clear(self):
        tok = self.get_token()
        self.api("POST", "/batches", {"to": ["+15551234567"], "body": "rec"}, token=tok)
        self.api("GET", "/batches?from=+15557654321&x=%2B1", token=tok)
        recs = self.fake.ctl("GET", "/_fake/requests")
        self.assertEqual([r["method"] for r in recs], ["POST", "POST", "GET"])
        t, c, g = recs
        self.assertEqual((t["path"], t["body"], t["json"], t["status"]),
                         ("/oauth2/token", "grant_type=client_credentials", None, 200))
        self.assertEqual(c["path"], "/xms/v1/test-project/batches")
        self.assertEqual(c["json"], {"to": ["+15551234567"], "body": "rec"})
        self.assertEqual(json.loads(c["body"]), c["json"])
        self.assertEqual(c["headers"]["authorization"], "Bearer " + tok)
        self.assertTrue(all(k == k.lower() for k in c["headers"]))
        self.assertEqual(c["status"], 201)
        self.assertRegex(c["at"], TS_RE)
        self.assertEqual((g["query"], g["query_params"]), ("from=+15557654321&x=%2B1",
                                                          {"from": "+15557654321", "x": "+1"}))
        self.assertIsNone(g["body"])
        self.fake.ctl("DELETE", "/_fake/requests")
        self.assertEqual(self.fake.ctl("GET", "/_fake/requests"), [])

    def test_reset_clears_everything(self):
        tok = self.get_token()
        self.create()
        self.fake.ctl("POST", "/_fake/faults", {"match": {"path_regex": "^/nothing"}, "status": 500})
        self.advance(100)
        self.fake.ctl("POST", "/_fake/reset")
        st = self.fake.ctl("GET", "/_fake/stats")
        self.assertEqual((st["batches"], st["creates"], st["token_fetches"], st["requests"]), (0, 0, 0, 0))
        self.assertEqual(self.fake.ctl("GET", "/_fake/faults"), [])
        self.assertEqual(self.fake.ctl("GET", "/_fake/clock")["offset_ms"], 0)
        self.assertEqual(self.api("GET", "/batches", token=tok).status, 401)

    def test_clock(self):
        j = self.fake.ctl("POST", "/_fake/clock", {"now": "2031-05-06T07:08:09Z"})
        self.assertTrue(j["now"].startswith("2031-05-06T07:08:"))
        j = self.fake.ctl("POST", "/_fake/clock", {"advance_seconds": 3600})
        self.assertTrue(j["now"].startswith("2031-05-06T08:08:"))
        b = self.create()
        self.assertTrue(b["created_at"].startswith("2031-05-06T08:08:"))
        self.assertEqual(self.fake.call("POST", "/_fake/clock", {"now": "garbage"}).status, 400)
        self.assertEqual(self.fake.call("GET", "/_fake/health").status, 200)

    def test_stats(self):
        self.create()
        self.create(send_at="2030-01-01T00:00:00Z")
        c = self.create(send_at="2030-01-01T00:00:00Z")
        self.api("DELETE", f"/batches/{c['id']}")
        st = self.fake.ctl("GET", "/_fake/stats")
        self.assertEqual({k: st[k] for k in ("token_fetches", "creates", "batches", "live_batches", "requests")},
                         {"token_fetches": 1, "creates": 3, "batches": 3, "live_batches": 1, "requests": 5})

    def test_keep_alive_and_content_length(self):
        tok = self.get_token()
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=10)
        try:
            h = {"authorization": "Bearer " + tok, "content-type": "application/json"}
            socks = set()
            for i in range(30):
                r = http_call(self.fake.port, "POST" if i % 3 == 0 else "GET", "/xms/v1/test-project/batches",
                              {"to": ["+15551234567"], "body": str(i)} if i % 3 == 0 else None, h, conn=conn)
                self.assertIn(r.status, (200, 201))
                self.assertIn("content-length", r.headers)
                self.assertNotEqual(r.headers.get("connection", "").lower(), "close")
                socks.add(id(conn.sock))
            self.assertEqual(len(socks), 1)
            r = http_call(self.fake.port, "DELETE", "/xms/v1/test-project/batches", None, h, conn=conn)
            self.assertEqual((r.status, r.headers["allow"]), (405, "GET, POST"))
            # HTTP/1.1 chunked request body
            conn.putrequest("POST", "/xms/v1/test-project/batches", skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            conn.putheader("transfer-encoding", "chunked")
            conn.endheaders()
            data = json.dumps({"to": ["+15551234567"], "body": "chunked"}).encode()
            conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
            resp = conn.getresponse()
            self.assertEqual(resp.status, 201)
            self.assertEqual(json.loads(resp.read())["body"], "chunked")
        finally:
            conn.close()

    def test_concurrent_creates(self):
        tok = self.get_token()
        ids, errors = [], []

        def worker():
            conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=10)
            try:
                for _ in range(25):
                    r = http_call(self.fake.port, "POST", "/xms/v1/test-project/batches",
                                  {"to": ["+15551234567"], "body": "c"},
                                  {"authorization": "Bearer " + tok, "content-type": "application/json"}, conn=conn)
                    (ids if r.status == 201 else errors).append(r.json.get("id") if r.status == 201 else r)
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            finally:
                conn.close()

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(len(set(ids)), 200)
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["creates"], 200)


# ============================================================================================
# what the dispatcher tests need: stalls, no default originator, revoked keys, account-wide 429,
# counts per client_reference
# ============================================================================================

class DispatcherSupportTest(FakeTestCase):
    BODY = {"to": ["+15551234567"], "from": "+15557654321", "body": "x", "send_at": "2099-01-01T00:00:00Z"}

    def create_async(self, results, key, body=None, token=None, ident=None):
        """Sends a create in a thread; the answer lands in results[key]."""
        tok = token if token is not None else self.get_token()

        def run():
            try:
                results[key] = self.api("POST", "/batches", body or self.BODY, token=tok, ident=ident)
            except Exception as e:  # noqa: BLE001
                results[key] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def fault(self, fid):
        return next(f for f in self.fake.ctl("GET", "/_fake/faults") if f["id"] == fid)

    def wait_held(self, fid, n, timeout=5):
        deadline = time.monotonic() + timeout
        while self.fault(fid)["held"] != n:
            if time.monotonic() > deadline:
                self.fail(f"rule {fid} holds {self.fault(fid)['held']} requests, not {n}")
            time.sleep(0.02)

    # -- stalls and per-endpoint latency --
    def test_latency_per_endpoint_leaves_other_calls_fast(self):
        tok = self.get_token()
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST", "path_regex": "/batches$"},
                                                "latency_ms": 400})
        t0 = time.monotonic()
        b = self.api("POST", "/batches", dict(self.BODY, client_reference="slow"), token=tok)
        took = time.monotonic() - t0
        self.assertEqual(b.status, 201)
        self.assertGreaterEqual(took, 0.39)
        t0 = time.monotonic()
        self.assertEqual(self.api("GET", f"/batches/{b.json['id']}", token=tok).status, 200)
        self.assertEqual(self.api("GET", "/batches?client_reference=slow", token=tok).json["count"], 1)
        self.assertLess(time.monotonic() - t0, 0.3)
        rec = self.fake.ctl("GET", "/_fake/requests?method=POST&path_regex=/batches$")[-1]
        # arrival and answer on the real clock, sub-second
        self.assertGreaterEqual(rec["answered_at"] - rec["real_at"], 0.39)
        self.assertNotEqual(rec["real_at"], int(rec["real_at"]))

    def test_hold_until_released(self):
        fid = self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST", "path_regex": "/batches$"},
                                                      "hold": True})["id"]
        out = {}
        threads = [self.create_async(out, i, dict(self.BODY, client_reference=f"held-{i}")) for i in range(3)]
        self.wait_held(fid, 3)
        time.sleep(0.2)
        self.assertEqual(out, {})
        # a held create has not happened yet (the default: act after the stall)
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["creates"], 0)
        self.assertEqual(self.api("GET", "/batches").status, 200)  # other calls are not held
        self.assertEqual(self.fake.ctl("POST", f"/_fake/faults/{fid}/release"), {"released": 3})
        for t in threads:
            t.join(5)
        self.assertEqual(sorted(r.status for r in out.values()), [201, 201, 201])
        recs = self.fake.ctl("GET", "/_fake/requests?method=POST&path_regex=/batches$")
        self.assertTrue(all(r["held"] for r in recs))
        # the rule still holds new requests until it is deleted; deleting it lets them go on
        t = self.create_async(out, "late")
        self.wait_held(fid, 1)
        self.fake.ctl("DELETE", f"/_fake/faults/{fid}")
        t.join(5)
        self.assertEqual(out["late"].status, 201)
        self.assertEqual(self.fake.call("POST", "/_fake/faults/999/release").status, 404)

    def test_hold_max_and_act_first_and_reset(self):
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST", "path_regex": "/batches$"},
                                                "hold": True, "hold_max_ms": 500, "act_first": True})
        out = {}
        t0 = time.monotonic()
        t = self.create_async(out, "a", dict(self.BODY, client_reference="acted"))
        deadline = time.monotonic() + 5
        while self.fake.ctl("GET", "/_fake/stats")["creates"] != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        # act_first: the batch exists while its answer is still held
        self.assertNotIn("a", out)
        self.assertEqual([b["client_reference"] for b in self.fake.ctl("GET", "/_fake/batches")], ["acted"])
        t.join(5)
        self.assertGreaterEqual(time.monotonic() - t0, 0.45)
        self.assertEqual(out["a"].status, 201)
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["creates"], 1)
        # /_fake/release lets every held request go; /_fake/reset does too
        fid = self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "GET"}, "hold": True})["id"]
        tok = self.get_token()
        got = {}
        ts = [threading.Thread(target=lambda k=k: got.setdefault(k, self.api("GET", "/batches", token=tok)))
              for k in range(2)]
        for x in ts:
            x.start()
        self.wait_held(fid, 2)
        self.assertEqual(self.fake.ctl("POST", "/_fake/release"), {"released": 2})
        for x in ts:
            x.join(5)
        self.assertEqual([got[k].status for k in range(2)], [200, 200])
        x = threading.Thread(target=lambda: got.setdefault("r", self.api("GET", "/batches", token=tok)))
        x.start()
        self.wait_held(fid, 1)
        self.fake.ctl("POST", "/_fake/reset")
        x.join(5)
        self.assertIn("r", got)
        self.assertEqual(self.fake.call("POST", "/_fake/faults", {"match": {}, "act_first": True}).status, 400)
        self.assertEqual(self.fake.call("POST", "/_fake/faults", {"hold": True, "hold_max_ms": -1}).status, 400)

    # -- no default originator --
    def test_without_default_originator_a_batch_without_sender_is_aborted_410(self):
        rx = CallbackReceiver()
        try:
            self.assertTrue(self.fake.ctl("GET", "/_fake/config")["default_originator"])
            nosender = {"to": ["+15551234567", "+15559990000"], "body": "x", "client_reference": "no-from",
                        "callback_url": rx.url, "delivery_report": "per_recipient"}
            b = self.create(**dict(nosender, **{"from": ...}))
            # with a default originator (the default) it is sent like any other
            self.assertEqual(self.api("GET", f"/batches/{b['id']}/delivery_report").json["statuses"],
                             [{"code": 401, "status": "Dispatched", "count": 2}])
            self.fake.ctl("POST", "/_fake/config", {"default_originator": False})
            b = self.create(**dict(nosender, **{"from": ...}))
            self.assertNotIn("from", b)
            with_sender = self.create(to=["+15551234567"])
            pending = self.create(**dict(nosender, **{"from": ..., "send_at": "2099-01-01T00:00:00Z"}))
            self.assertEqual(self.api("GET", f"/batches/{pending['id']}/delivery_report").json["statuses"],
                             [{"code": 400, "status": "Queued", "count": 2}])
            rep = self.api("GET", f"/batches/{b['id']}/delivery_report?type=full").json
            self.assertEqual(rep["statuses"], [{"code": 410, "status": "Aborted", "count": 2,
                                                "recipients": ["15551234567", "15559990000"]}])
            rr = self.api("GET", f"/batches/{b['id']}/delivery_report/+15559990000").json
            self.assertEqual((rr["status"], rr["code"]), ("Aborted", 410))
            self.assertEqual(self.api("GET", f"/batches/{with_sender['id']}/delivery_report").json["statuses"],
                             [{"code": 401, "status": "Dispatched", "count": 1}])
            # once its send_at comes, the pending one is aborted too
            self.fake.ctl("POST", "/_fake/clock", {"now": "2099-01-01T00:00:01Z"})
            self.get_token(fresh=True)  # the old one expired on the way
            self.assertEqual(self.api("GET", f"/batches/{pending['id']}/delivery_report").json["statuses"],
                             [{"code": 410, "status": "Aborted", "count": 2}])
            # callbacks carry it: without an explicit status the aborted recipients stay Aborted/410
            r = self.fake.ctl("POST", f"/_fake/callbacks/{b['id']}", {})
            self.assertEqual(r["callback_statuses"], [200, 200])
            got = [json.loads(x["raw"]) for x in rx.received]
            self.assertEqual([(p["recipient"], p["status"], p["code"]) for p in got],
                             [("15551234567", "Aborted", 410), ("15559990000", "Aborted", 410)])
            self.fake.ctl("POST", f"/_fake/callbacks/{b['id']}", {"kind": "batch"})
            self.assertEqual(json.loads(rx.received[-1]["raw"])["statuses"],
                             [{"code": 410, "status": "Aborted", "count": 2}])
            # reset restores the command line's choice
            self.fake.ctl("POST", "/_fake/reset")
            self.assertTrue(self.fake.ctl("GET", "/_fake/config")["default_originator"])
            self.assertEqual(self.fake.call("POST", "/_fake/config", {"default_originator": "no"}).status, 400)
        finally:
            rx.close()

    # -- revoked keys --
    def test_revoked_keys_refuse_tokens_and_every_call_until_restored(self):
        tok = self.get_token()
        b = self.create()
        token_form = ("grant_type=client_credentials",
                      {"content-type": "application/x-www-form-urlencoded",
                       "authorization": "Basic " + b64("test-key:test-secret")})
        self.assertEqual(self.fake.ctl("POST", "/_fake/credentials", {"revoked": True}),
                         {"revoked": True, "remaining_s": None})
        r = self.fake.call("POST", "/oauth2/token", *token_form)
        self.assertEqual((r.status, r.json["error"]), (401, "invalid_client"))
        for ident, token in ((None, tok), ("test-plan", "test-api-token")):
            for method, rel, body in (("GET", f"/batches/{b['id']}", None), ("GET", "/batches", None),
                                      ("POST", "/batches", self.BODY), ("DELETE", f"/batches/{b['id']}", None)):
                r = self.api(method, rel, body, token=token, ident=ident)
                self.assertError(r, 401, "unauthorized")
                self.assertNotIn("expired", r.headers["www-authenticate"])
        st = self.fake.ctl("GET", "/_fake/stats")
        self.assertEqual((st["creates"], st["canceled_batches"], st["token_fetches"]), (1, 0, 1))
        self.assertEqual(st["revoked_rejections"], 9)
        self.assertEqual(self.fake.ctl("POST", "/_fake/credentials", {"revoked": False}),
                         {"revoked": False, "remaining_s": None})
        self.assertEqual(self.api("GET", f"/batches/{b['id']}", token=tok).status, 200)
        self.assertEqual(self.api("GET", "/batches", token="test-api-token", ident="test-plan").status, 200)
        self.assertEqual(self.fake.call("POST", "/oauth2/token", *token_form).status, 200)
        # revoked for a while: it comes back by itself
        st = self.fake.ctl("POST", "/_fake/credentials", {"revoked": True, "seconds": 0.5})
        self.assertTrue(st["revoked"])
        self.assertLessEqual(st["remaining_s"], 0.5)
        self.assertEqual(self.api("GET", "/batches", token=tok).status, 401)
        time.sleep(0.6)
        self.assertEqual(self.fake.ctl("GET", "/_fake/credentials")["revoked"], False)
        self.assertEqual(self.api("GET", "/batches", token=tok).status, 200)
        self.assertEqual(self.fake.call("POST", "/_fake/credentials", {"revoked": "yes"}).status, 400)
        self.fake.ctl("POST", "/_fake/credentials", {"revoked": True})
        self.fake.ctl("POST", "/_fake/reset")
        self.assertEqual(self.fake.ctl("GET", "/_fake/credentials")["revoked"], False)

    # -- account-wide 429 --
    def test_account_rate_limit_answers_429_to_every_api_call_for_a_while(self):
        tok = self.get_token()
        b = self.create()
        fid = self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "GET"}, "status": 503, "count": 1})["id"]
        st = self.fake.ctl("POST", "/_fake/rate_limit", {"seconds": 1, "retry_after": 5})
        self.assertEqual((st["active"], st["retry_after"]), (True, 5))
        t_on = time.time()
        for method, rel, body, ident, token in (
                ("POST", "/batches", self.BODY, None, tok), ("GET", f"/batches/{b['id']}", None, None, tok),
                ("GET", "/batches", None, "test-plan", "test-api-token"),
                ("DELETE", f"/batches/{b['id']}", None, None, tok),
                ("GET", "/batches", None, None, "not-a-token")):
            r = self.api(method, rel, body, token=token, ident=ident)
            self.assertError(r, 429, "too_many_requests")
            self.assertEqual(r.headers["retry-after"], "5")
        # the token endpoint is another service: not limited
        self.assertEqual(self.get_token(fresh=True) != tok, True)
        st = self.fake.ctl("GET", "/_fake/stats")
        self.assertEqual((st["creates"], st["canceled_batches"], st["rate_limited"]), (1, 0, 5))
        self.assertEqual(self.fault(fid)["fired"], 0)  # faults are not used up meanwhile
        recs = [r for r in self.fake.ctl("GET", "/_fake/requests") if r["path"].startswith("/xms/")]
        limited = [r for r in recs if r.get("rate_limited")]
        self.assertEqual(len(limited), 5)
        self.assertTrue(all(r["status"] == 429 and r["real_at"] >= t_on - 0.01 for r in limited))
        self.assertEqual([r["real_at"] for r in limited], sorted(r["real_at"] for r in limited))
        time.sleep(max(0.0, t_on + 1.05 - time.time()))
        self.assertFalse(self.fake.ctl("GET", "/_fake/rate_limit")["active"])
        self.assertEqual(self.api("GET", f"/batches/{b['id']}", token=tok).status, 503)  # the fault, now
        self.assertEqual(self.api("GET", f"/batches/{b['id']}", token=tok).status, 200)
        # without retry_after the header says the seconds left, rounded up; seconds 0 ends it at once
        self.fake.ctl("POST", "/_fake/rate_limit", {"seconds": 2.5})
        r = self.api("GET", "/batches", token=tok)
        self.assertEqual((r.status, r.headers["retry-after"]), (429, "3"))
        self.assertEqual(self.fake.ctl("POST", "/_fake/rate_limit", {"seconds": 0})["active"], False)
        self.assertEqual(self.api("GET", "/batches", token=tok).status, 200)
        self.assertEqual(self.fake.call("POST", "/_fake/rate_limit", {"seconds": -1}).status, 400)
        self.fake.ctl("POST", "/_fake/rate_limit", {"seconds": 60})
        self.fake.ctl("POST", "/_fake/reset")
        self.assertEqual(self.api("GET", "/batches", token=self.get_token(fresh=True)).status, 200)

    # -- counts per client_reference --
    def test_counts_per_client_reference(self):
        a1 = self.create(client_reference="A", send_at="2099-01-01T00:00:00Z")
        self.create(client_reference="A", send_at="2099-01-01T00:00:00Z")
        b1 = self.create(client_reference="B", send_at="2099-01-01T00:00:00Z")
        self.create(client_reference="C")  # no send_at: dispatched at once
        self.create()  # no client_reference: not listed
        self.api("DELETE", f"/batches/{a1['id']}")
        self.api("DELETE", f"/batches/{b1['id']}")
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST"}, "status": 503, "count": 1})
        self.assertEqual(self.api("POST", "/batches", dict(self.BODY, client_reference="D")).status, 503)
        refs = self.fake.ctl("GET", "/_fake/client_references")
        self.assertEqual(refs, {
            "A": {"creates": 2, "batches": 2, "live": 1, "canceled": 1, "dispatched": 0},
            "B": {"creates": 1, "batches": 1, "live": 0, "canceled": 1, "dispatched": 0},
            "C": {"creates": 1, "batches": 1, "live": 0, "canceled": 0, "dispatched": 1}})
        st = self.fake.ctl("GET", "/_fake/stats")
        self.assertEqual((st["client_references"], st["duplicate_client_references"],
                          st["max_creates_per_client_reference"]), (3, 1, 2))
        self.fake.ctl("POST", "/_fake/reset")
        self.assertEqual(self.fake.ctl("GET", "/_fake/client_references"), {})


class NoDefaultOriginatorOptionTest(FakeTestCase):
    fake_args = ("--no-default-originator",)

    def test_command_line_option(self):
        self.assertFalse(self.fake.ctl("GET", "/_fake/config")["default_originator"])
        b = self.create(**{"from": ...})
        rr = self.api("GET", f"/batches/{b['id']}/delivery_report/15551234567").json
        self.assertEqual((rr["status"], rr["code"]), ("Aborted", 410))
        self.fake.ctl("POST", "/_fake/reset")
        self.assertFalse(self.fake.ctl("GET", "/_fake/config")["default_originator"])


class RawConn:
    """A client socket for exact bytes on the wire; reads responses one by one (pipelining-safe)."""

    def __init__(self, port, timeout=5, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, data):
        self.sock.sendall(data)

    def response(self, head_only=False):
        """(status, headers, body), or None if the server closed the connection."""
        line = self.file.readline()
        if not line:
            return None
        status = int(line.split()[1])
        headers = {}
        while True:
            h = self.file.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if head_only or status == 100 else int(headers.get("content-length", "0"))
        return status, headers, self.file.read(n) if n else b""

    def closed_by_server(self, timeout=2):
        """True if the server closes the connection within `timeout` (no more response bytes expected)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionError:
            return True

    def close(self):
        self.file.close()
        self.sock.close()


def raw_request(method, target, body=b"", headers=(), version="HTTP/1.1"):
    lines = [f"{method} {target} {version}", "Host: fake"] + list(headers)
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HttpLayerTest(FakeTestCase):
    """The asyncio HTTP/1.1 server: framing, keep-alive, strict parsing, and no blocking of the loop."""

    PLAN = "/xms/v1/test-plan/batches"
    AUTH = ("Authorization: Bearer test-api-token", "Content-Type: application/json")
    BODY = json.dumps({"to": ["+15551234567"], "body": "raw"}).encode()

    def conn(self):
        c = RawConn(self.fake.port)
        self.addCleanup(c.close)
        return c

    def test_latency_faults_overlap(self):
        """20 requests delayed by 200 ms each, on 20 connections, take about 200 ms together, not 4 s."""
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST", "path_regex": "/batches$"},
                                                "latency_ms": 200})
        results = []

        def one(i):
            r = http_call(self.fake.port, "POST", self.PLAN, {"to": ["+15551234567"], "body": str(i)},
                          {"authorization": "Bearer test-api-token", "content-type": "application/json"})
            results.append(r.status)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        self.assertEqual(results, [201] * 20)
        self.assertGreaterEqual(elapsed, 0.19)
        self.assertLess(elapsed, 1.5, "delayed requests were served one after the other")
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["creates"], 20)

    def test_pipelined_requests_answer_in_order_even_when_delayed(self):
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST"}, "latency_ms": 150, "count": 1})
        c = self.conn()
        c.send(raw_request("POST", self.PLAN, self.BODY, self.AUTH) + raw_request("GET", "/_fake/health")
               + raw_request("GET", self.PLAN, headers=self.AUTH))
        s1, _, b1 = c.response()
        s2, _, b2 = c.response()
        s3, _, b3 = c.response()
        self.assertEqual((s1, s2, s3), (201, 200, 200))
        self.assertEqual(json.loads(b1)["body"], "raw")
        self.assertTrue(json.loads(b2)["ok"])
        self.assertEqual(json.loads(b3)["count"], 1)

    def test_act_then_drop_on_keep_alive_connection(self):
        self.fake.ctl("POST", "/_fake/faults", {"match": {"method": "POST", "path_regex": "/batches$"},
                                                "act_then_drop": True, "skip": 1, "count": 1})
        c = self.conn()
        c.send(raw_request("POST", self.PLAN, self.BODY, self.AUTH))
        self.assertEqual(c.response()[0], 201)
        c.send(raw_request("POST", self.PLAN, self.BODY, self.AUTH))
        self.assertIsNone(c.response())  # closed without an answer
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["creates"], 2)
        recs = self.fake.ctl("GET", "/_fake/requests?method=POST")
        self.assertEqual([(r["status"], r.get("dropped")) for r in recs], [(201, None), (201, True)])
        self.assertEqual(recs[1]["fault"], self.fake.ctl("GET", "/_fake/faults")[0]["id"])

    def test_chunked_body_in_pieces_with_extensions_and_trailers(self):
        c = self.conn()
        head = (f"POST {self.PLAN} HTTP/1.1\r\nHost: fake\r\nAuthorization: Bearer test-api-token\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
        body = self.BODY
        pieces = [head, b"5;ext=1\r\n", body[:5], b"\r\n", b"%X\r\n" % (len(body) - 5), body[5:],
                  b"\r\n0\r\nX-Trailer: 1\r\n", b"\r\n"]
        for p in pieces:
            c.send(p)
            time.sleep(0.01)
        s, h, b = c.response()
        self.assertEqual(s, 201, b)
        self.assertEqual(json.loads(b)["body"], "raw")
        rec = self.fake.ctl("GET", "/_fake/requests")[-1]
        self.assertEqual(rec["json"], json.loads(body))
        # the connection is still usable
        c.send(raw_request("GET", "/_fake/health"))
        self.assertEqual(c.response()[0], 200)

    def test_bad_chunked_bodies(self):
        for chunks, text in ((b"zz\r\nabc\r\n0\r\n\r\n", "bad chunk size"),
                             (b"3\r\nabcXY0\r\n\r\n", "bad chunk terminator"),
                             (b"%x\r\n" % (MAX_BODY + 1), "body too large")):
            c = self.conn()
            c.send(f"POST {self.PLAN} HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunks)
            s, h, b = c.response()
            self.assertEqual((s, h.get("connection"), json.loads(b)["text"]), (400, "close", text))
            self.assertTrue(c.closed_by_server())
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["requests"], 0)

    def test_http10(self):
        c = self.conn()
        c.send(raw_request("GET", "/_fake/health", version="HTTP/1.0"))
        s, h, b = c.response()
        self.assertEqual((s, h.get("connection")), (200, "close"))
        self.assertTrue(c.closed_by_server())
        c = self.conn()
        for _ in range(2):
            c.send(raw_request("POST", self.PLAN, self.BODY, self.AUTH + ("Connection: keep-alive",),
                               version="HTTP/1.0"))
            s, h, b = c.response()
            self.assertEqual((s, h.get("connection")), (201, "keep-alive"))
        self.assertFalse(c.closed_by_server(0.2))

    def test_connection_close_and_head(self):
        c = self.conn()
        c.send(raw_request("HEAD", self.PLAN, headers=self.AUTH))
        s, h, b = c.response(head_only=True)
        self.assertEqual(s, 200)
        self.assertGreater(int(h["content-length"]), 0)
        self.assertEqual((h["server"], h["content-type"]), ("sinch-fake/1.0", "application/json"))
        self.assertRegex(h["date"], r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$")
        c.send(raw_request("GET", "/_fake/health", headers=("Connection: close",)))
        s, h, b = c.response()  # no body bytes came after the HEAD answer, so this parses cleanly
        self.assertEqual((s, h["connection"], json.loads(b)["ok"]), (200, "close", True))
        self.assertTrue(c.closed_by_server())

    def test_absolute_form_and_double_slash_targets(self):
        c = self.conn()
        c.send(raw_request("POST", "http://sms.api.sinch.com" + self.PLAN + "?x=1", self.BODY, self.AUTH))
        self.assertEqual(c.response()[0], 201)
        c.send(raw_request("GET", "//_fake/health"))
        self.assertEqual(c.response()[0], 200)
        rec = self.fake.ctl("GET", "/_fake/requests")[-1]
        self.assertEqual((rec["path"], rec["query"], rec["query_params"]), (self.PLAN, "x=1", {"x": "1"}))

    def test_expect_100_continue(self):
        c = self.conn()
        head = (f"POST {self.PLAN} HTTP/1.1\r\nHost: f\r\nAuthorization: Bearer test-api-token\r\n"
                f"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                f"Content-Length: {len(self.BODY)}\r\n\r\n").encode()
        c.send(head)
        self.assertEqual(c.response()[0], 100)
        c.send(self.BODY)
        self.assertEqual(c.response()[0], 201)

    def test_repeated_headers_are_joined_and_lower_cased(self):
        c = self.conn()
        c.send(raw_request("GET", self.PLAN, headers=self.AUTH + ("X-Multi: a", "x-multi: b")))
        self.assertEqual(c.response()[0], 200)
        h = self.fake.ctl("GET", "/_fake/requests")[-1]["headers"]
        self.assertEqual((h["x-multi"], h["host"]), ("a, b", "fake"))
        self.assertTrue(all(k == k.lower() for k in h))

    def test_malformed_requests_get_an_error_and_close(self):
        cases = [
            (b"GARBAGE\r\n\r\n", 400),
            (b"GET /_fake/health\r\n\r\n", 400),                       # no version
            (b"GET  /_fake/health HTTP/1.1\r\n\r\n", 400),             # two spaces
            (b"GET /_fake/health HTTP/2.0\r\nHost: f\r\n\r\n", 505),
            (b"GET /_fake/health HTTQ/1.1\r\n\r\n", 400),
            (b"BREW /_fake/health HTTP/1.1\r\n\r\n", 501),
            (b"G@T /_fake/health HTTP/1.1\r\n\r\n", 400),
            (b"GET /_fake/he\x01lth HTTP/1.1\r\n\r\n", 400),
            (b"GET /_fake/health HTTP/1.1\r\nNo colon here\r\n\r\n", 400),
            (b"GET /_fake/health HTTP/1.1\r\nHost : f\r\n\r\n", 400),  # space before the colon
            (b"GET /_fake/health HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", 400),
            (b"POST /_fake/reset HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400),
            (b"POST /_fake/reset HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc", 400),
            (b"POST /_fake/reset HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
            (b"POST /_fake/reset HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1), 400),
            (b"POST /_fake/reset HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
            (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(101)) + b"\r\n", 431),
        ]
        for data, status in cases:
            with self.subTest(data=data[:60]):
                c = self.conn()
                c.send(data)
                s, h, b = c.response()
                self.assertEqual(s, status, b)
                self.assertEqual(h.get("connection"), "close")
                self.assertEqual(set(json.loads(b)), {"code", "text"})
                self.assertTrue(c.closed_by_server())
        self.assertEqual(self.fake.ctl("GET", "/_fake/stats")["requests"], 0)  # nothing was recorded
        self.assertEqual(self.fake.call("GET", "/_fake/health").status, 200)

    def test_truncated_body_and_half_close(self):
        c = self.conn()
        c.send(b"POST /_fake/reset HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        c.sock.shutdown(socket.SHUT_WR)
        s, h, b = c.response()
        self.assertEqual((s, json.loads(b)["text"]), (400, "truncated body"))
        # a complete request followed by a half-close is still answered
        c = self.conn()
        c.send(raw_request("GET", "/_fake/health"))
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(c.response()[0], 200)
        self.assertTrue(c.closed_by_server())

    def test_slow_callback_does_not_block_the_api(self):
        """send_callback to a receiver that never answers runs in a thread: the API keeps answering."""
        b = self.create(delivery_report="per_recipient", callback_url="http://127.0.0.1:1/x")
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        self.addCleanup(silent.close)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/dlr"
        out = {}

        def callback():
            t0 = time.monotonic()
            out["r"] = self.fake.call("POST", f"/_fake/callbacks/{b['id']}", {"url": url, "timeout_s": 1.5})
            out["t"] = time.monotonic() - t0

        t = threading.Thread(target=callback)
        t.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        self.create()
        self.assertEqual(self.fake.call("GET", "/_fake/health").status, 200)
        self.assertLess(time.monotonic() - t0, 0.5)
        t.join()
        self.assertEqual(out["r"].status, 502, out["r"])
        self.assertIn("timed out", out["r"].json["error"])
        self.assertGreaterEqual(out["t"], 1.4)


MAX_BODY = 16 * 1024 * 1024


class HttpServerOptionsTest(unittest.TestCase):
    def test_idle_keep_alive_connections_are_closed(self):
        f = FakeProcess("--idle-timeout", "0.5")
        try:
            c = RawConn(f.port)
            c.send(raw_request("GET", "/_fake/health"))
            self.assertEqual(c.response()[0], 200)
            self.assertFalse(c.closed_by_server(0.2))
            self.assertTrue(c.closed_by_server(2))
            c.close()
        finally:
            self.assertEqual(f.stop()[0], 0)

    def test_max_recorded_zero_records_nothing(self):
        f = FakeProcess("--max-recorded", "0")
        try:
            r = f.call("POST", "/xms/v1/test-plan/batches", {"to": ["+15551234567"], "body": "x"},
                       {"authorization": "Bearer test-api-token"})
            self.assertEqual(r.status, 201)
            self.assertEqual(f.ctl("GET", "/_fake/requests"), [])
            self.assertEqual(f.ctl("GET", "/_fake/stats")["requests"], 1)
        finally:
            self.assertEqual(f.stop()[0], 0)

    def test_sigterm_with_a_delayed_request_in_flight(self):
        f = FakeProcess()
        f.ctl("POST", "/_fake/faults", {"match": {"method": "GET", "path_regex": "^/xms"}, "latency_ms": 30000})
        c = RawConn(f.port, timeout=10)
        c.send(raw_request("GET", "/xms/v1/test-plan/batches", headers=("Authorization: Bearer test-api-token",)))
        time.sleep(0.2)
        t0 = time.monotonic()
        rc, log = f.stop()
        self.assertEqual(rc, 0, log)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("sinch_fake: stopped", log)
        c.close()

    def test_ipv6_listen(self):
        try:
            s = socket.socket(socket.AF_INET6)
            s.bind(("::1", 0))
            s.close()
        except OSError:
            self.skipTest("no IPv6 loopback")
        d = tempfile.mkdtemp(prefix="fake-v6-")
        port_file = os.path.join(d, "port")
        p = subprocess.Popen([sys.executable, FAKE, "--listen", "[::1]:0", "--port-file", port_file],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            line = p.stderr.readline().decode()
            with open(port_file) as fh:
                port = int(fh.read())
            self.assertIn(f"listening on http://[::1]:{port} (pid {p.pid})", line)
            c = RawConn(port, host="::1")
            c.send(raw_request("GET", "/_fake/health"))
            self.assertEqual(c.response()[0], 200)
            c.close()
        finally:
            p.terminate()
            _, err = p.communicate(timeout=10)
            shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"sinch_fake: stopped", err)


def load_fake_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("sinch_fake_inproc", FAKE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class HelpersTest(unittest.TestCase):
    def test_fmt_ms_matches_datetime(self):
        import datetime as dt
        import random
        sf = load_fake_module()
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        lo, hi = sf.parse_iso("0001-01-01T00:00:00Z"), sf.parse_iso("9999-12-31T23:59:59.999Z")
        rng = random.Random(5)
        values = [0, -1, 1, 999, 1000, -1000, 86_399_999, -86_400_001, lo, hi]
        values += [rng.randint(lo, hi) for _ in range(3000)] + [rng.randint(0, 4 * 10 ** 12) for _ in range(3000)]
        for ms in values:
            ref = (epoch + dt.timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)
            self.assertEqual(sf.fmt_ms(ms), ref, ms)
            if lo <= ms <= hi and ms >= sf.parse_iso("1000-01-01T00:00:00Z"):
                self.assertEqual(sf.parse_iso(sf.fmt_ms(ms)), ms)


class InProcessServerTest(unittest.TestCase):
    """FakeServer run in a thread of the test process, to reach into the Fake while it serves."""

    def setUp(self):
        import asyncio
        mod = load_fake_module()
        self.fake = mod.Fake(mod.build_arg_parser().parse_args([]))
        self.server = mod.FakeServer(("127.0.0.1", 0), self.fake)
        self.loop_thread = threading.Thread(target=asyncio.run, args=(self.server.run(),), daemon=True)
        self.loop_thread.start()
        self.port = self.server.server_address[1]

    def tearDown(self):
        self.server.stop()
        self.loop_thread.join(5)
        self.assertFalse(self.loop_thread.is_alive())

    def create(self, **kw):
        return http_call(self.port, "POST", "/xms/v1/test-plan/batches", {"to": ["+15551234567"], "body": "x"},
                         {"authorization": "Bearer test-api-token", "content-type": "application/json"}, **kw)

    def test_api_waits_for_the_lock_off_the_loop(self):
        """An API request that finds Fake.lock taken (by a long control call) waits in a thread, not in the
        event loop: other connections are still served meanwhile."""
        out = {}
        with self.fake.lock:  # stands in for a control call that holds the lock for long
            t = threading.Thread(target=lambda: out.setdefault("r", self.create()))
            t.start()
            time.sleep(0.3)
            self.assertNotIn("r", out)
            t0 = time.monotonic()
            self.assertEqual(http_call(self.port, "GET", "/_fake/health").status, 200)  # needs no lock
            self.assertLess(time.monotonic() - t0, 0.5)
        t.join(5)
        self.assertEqual(out["r"].status, 201)

    def test_crash_answers_500_and_closes(self):
        def boom(*a):
            raise RuntimeError("boom")

        self.fake.api = boom
        c = RawConn(self.port)
        try:
            with contextlib.redirect_stderr(io.StringIO()) as err:
                c.send(raw_request("GET", "/xms/v1/test-plan/batches"))
                s, h, b = c.response()
            self.assertIn("RuntimeError: boom", err.getvalue())
            self.assertEqual((s, h["connection"], json.loads(b)),
                             (500, "close", {"code": "internal_error", "text": "sinch fake crashed; see its log"}))
            self.assertTrue(c.closed_by_server())
        finally:
            c.close()
        del self.fake.api
        self.assertEqual(self.create().status, 201)
        recs = [self.fake.public_record(r) for r in self.fake.requests]
        self.assertEqual([r["status"] for r in recs], [None, 201])


class CliTest(unittest.TestCase):
    def test_fakectl_start_stop(self):
        d = tempfile.mkdtemp(prefix="fakectl-test-")
        try:
            out = subprocess.run(["bash", FAKECTL, "start", d, "--project-id", "proj-x"], stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            with open(os.path.join(d, "env")) as fh:
                env = dict(line.strip().split("=", 1) for line in fh if line.strip())
            self.assertRegex(env["SINCH_FAKE_URL"], r"^http://127\.0\.0\.1:\d+$")
            self.assertEqual(out.stdout.strip(), env["SINCH_FAKE_URL"])
            pid = int(env["SINCH_FAKE_PID"])
            port = int(env["SINCH_FAKE_URL"].rsplit(":", 1)[1])
            self.assertEqual(http_call(port, "GET", "/_fake/config").json["project_id"], "proj-x")
            again = subprocess.run(["bash", FAKECTL, "start", d], stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True, timeout=30)
            self.assertNotEqual(again.returncode, 0)   # already running
            self.assertEqual(subprocess.run(["bash", FAKECTL, "status", d], capture_output=True,
                                            timeout=30).returncode, 0)
            stop = subprocess.run(["bash", FAKECTL, "stop", d], stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=30)
            self.assertEqual(stop.returncode, 0, stop.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "env")))
            self.assertFalse(_pid_alive(pid))
            with open(os.path.join(d, "fake.log")) as fh:
                self.assertIn("stopped", fh.read())
            # stopping twice is fine
            self.assertEqual(subprocess.run(["bash", FAKECTL, "stop", d], capture_output=True,
                                            timeout=30).returncode, 0)
        finally:
            subprocess.run(["bash", FAKECTL, "stop", d], capture_output=True, timeout=30)
            shutil.rmtree(d, ignore_errors=True)

    def test_sigint_exits_cleanly(self):
        f = FakeProcess("--verbose")
        self.assertEqual(http_call(f.port, "GET", "/_fake/health").status, 200)
        f.proc.send_signal(signal.SIGINT)
        f.proc.wait(10)
        self.assertEqual(f.proc.returncode, 0)
        rc, log = f.stop()
        self.assertIn("GET /_fake/health", log)     # --verbose logs requests

    def test_listen_port_taken(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        try:
            p = subprocess.run([sys.executable, FAKE, "--listen", f"127.0.0.1:{s.getsockname()[1]}"],
                               capture_output=True, timeout=10)
            self.assertNotEqual(p.returncode, 0)
        finally:
            s.close()


def _pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    unittest.main()
