"""Shared by the staff-operations integration tests (test_staff_*.py, test_api*.py, test_delivery*.py):
an httpd whose mount is behind HTTP Basic auth (so the audit trail has a user), a browser that logs in,
and small helpers over the Sinch fake and the database."""
import base64
import datetime
import hashlib
import json
import os
import re
import time
import urllib.parse
import zoneinfo

import harness
from harness import (NEW_YORK, Browser, Httpd, ServicesTestCase, form_for, iso_z, module_conf,  # noqa: F401 (re-exported)
                     tomorrow_at, wait_until)

USER, PASSWORD = "frontdesk", "s3cret-desk"
# The HMAC secret staff_httpd configures (SinchReminderCallbackAuth hmac is the default); the fake signs with it
# when a test passes sign_secret=CALLBACK_SECRET.
CALLBACK_SECRET = "hmac-secret-for-the-staff-tests-0123456789"
API_USER, API_PASSWORD = "ehr", "ehr-pass"


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def write_htpasswd(directory):
    """{SHA} entries, which httpd's authn_file accepts on every platform."""
    path = os.path.join(directory, "staff.htpasswd")
    with open(path, "w") as f:
        for user, password in ((USER, PASSWORD), (API_USER, API_PASSWORD)):
            digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
            f.write(f"{user}:{{SHA}}{digest}\n")
    os.chmod(path, 0o644)
    return path


def staff_httpd(database, fake, extra="", protect=True, sender=True, **httpd_args):
    """httpd with the mount behind Basic auth, the callbacks open, this httpd as the public base URL, and
    callbacks signed with CALLBACK_SECRET (`extra` may override any of it). `httpd_args` go to Httpd (module,
    templates)."""
    port = harness.free_port()
    httpd = Httpd("", port=port, **httpd_args)
    secret_file = os.path.join(httpd.root, "callback-secret")
    with open(secret_file, "w") as f:
        f.write(CALLBACK_SECRET + "\n")
    location_extra = ""
    top = ""
    if protect:
        htpasswd = write_htpasswd(httpd.root)
        location_extra = (f'  AuthType Basic\n  AuthName "Front desk"\n  AuthUserFile "{htpasswd}"\n'
                          "  Require valid-user\n")
        top = '<Location "/appointment/callbacks">\n  Require all granted\n</Location>\n'
    conf = module_conf(database.conninfo, fake.url,
                       extra=f"SinchReminderPublicBaseUrl http://127.0.0.1:{port}\n"
                             f"SinchReminderCallbackSecretFile {secret_file}\n"
                             "SinchReminderDispatchInterval 1s\n" + extra,
                       location_extra=location_extra, allow_anonymous=not protect, sender=sender)
    httpd.write_conf(conf + "\n" + top)
    return httpd


class StaffCase(ServicesTestCase):
    """The staff tests' shared set-up: staff_httpd configured with the class's `extra` (or what
    module_extra() returns) and `sender`, and a browser logged in as the front desk for each test."""

    extra = ""
    sender = True

    @classmethod
    def module_extra(cls):
        return cls.extra

    @classmethod
    def make_httpd(cls, database, fake):
        return staff_httpd(database, fake, extra=cls.module_extra(), sender=cls.sender)

    def setUp(self):
        super().setUp()
        self.browser = StaffBrowser(self.httpd)


class StaffBrowser(Browser):
    """A browser logged in with Basic auth (as the front desk)."""

    def __init__(self, httpd, user=USER, password=PASSWORD):
        super().__init__(httpd)
        self.authorization = basic(user, password) if user else None

    def request(self, method, path, body=None, headers=None):
        all_headers = dict(headers or {})
        if self.authorization:
            all_headers.setdefault("Authorization", self.authorization)
        return super().request(method, path, body, all_headers)

    def book(self, when, **overrides):
        status, headers, body = self.submit(form_for(when, **overrides))
        if status != 303:
            raise AssertionError(f"booking answered {status}: {body[:800]}")
        return headers["location"].rsplit("/", 1)[1]

    def page_token(self, path, form="cancel"):
        """The csrf_token of the page's `form` ("cancel" or "reschedule"): each form has its own."""
        status, _, body = self.get(path)
        if status != 200:
            raise AssertionError(f"GET {path} answered {status}: {body[:500]}")
        start = body.find(f'/{form}"')
        match = self.TOKEN.search(body, start) if start >= 0 else None
        if not match:
            raise AssertionError(f"{path} has no {form} form with a csrf_token field")
        return match.group(1) or match.group(2)

    def post_page_form(self, path, fields, token_from=None, token=None):
        data = dict(fields)
        data["csrf_token"] = token if token is not None else self.page_token(token_from, path.rsplit("/", 1)[1])
        return self.request("POST", path, urllib.parse.urlencode(data),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def cancel(self, appointment_id):
        page = f"/appointment/a/{appointment_id}"
        return self.post_page_form(page + "/cancel", {}, token_from=page)

    def reschedule(self, appointment_id, when):
        page = f"/appointment/a/{appointment_id}"
        return self.post_page_form(page + "/reschedule", {"appointment_date": when.strftime("%Y-%m-%d"),
                                                          "appointment_time": when.strftime("%H:%M")},
                                   token_from=page)


def text_of(html_page):
    """The page's text, tags removed and white space collapsed, entities decoded."""
    import html as html_module
    return re.sub(r"\s+", " ", html_module.unescape(re.sub(r"<[^>]+>", " ", html_page))).strip()


def fake_batch(fake, batch_id):
    return fake.control("GET", f"/_fake/batches/{batch_id}")


def live_batches(fake):
    return [b for b in fake.batches() if not b.get("canceled") and not b.get("dispatched")]


def sinch_api(fake, method, path, body=None):
    """A call to the fake's Sinch API itself (as the Sinch dashboard or another tool would)."""
    import urllib.request
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(fake.url + "/xms/v1/test-plan" + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer test-api-token"})
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def reminder_rows(database, appointment_id):
    """[(revision, status, batch_id, send_at 'YYYY-MM-DDTHH:MM' UTC)] oldest first."""
    return [(int(r[0]), *r[1:]) for r in database.query(
        "SELECT revision, status, coalesce(batch_id, ''), to_char(send_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI') FROM reminders "
        f"WHERE appointment_id = '{appointment_id}' ORDER BY revision")]


def audit_rows(database, appointment_id):
    """[(action, actor, remote_addr)] oldest first, without the reads (view rows, see read_audit_rows)."""
    return [tuple(r) for r in database.query(
        "SELECT action, actor, coalesce(remote_addr, '') FROM audit_log "
        f"WHERE appointment_id = '{appointment_id}' AND action <> 'view' ORDER BY at, id")]


def read_audit_rows(database):
    """[(action, actor or '(null)', appointment_id or '', details)] of the audited reads, oldest first."""
    return [tuple(r) for r in database.query(
        "SELECT action, coalesce(actor, '(null)'), coalesce(appointment_id::text, ''), details::text "
        "FROM audit_log WHERE action IN ('view', 'list') ORDER BY at, id")]


def next_dst_gap(zone=NEW_YORK):
    """A local wall time inside the next spring-forward gap (02:30 on the second Sunday of March)."""
    today = datetime.datetime.now(zone).date()
    for year in (today.year, today.year + 1, today.year + 2):
        march = datetime.date(year, 3, 1)
        first_sunday = march + datetime.timedelta(days=(6 - march.weekday()) % 7)
        second_sunday = first_sunday + datetime.timedelta(days=7)
        if second_sunday > today + datetime.timedelta(days=1):
            return second_sunday.strftime("%Y-%m-%d") + "T02:30"
    raise AssertionError("no DST gap found")
