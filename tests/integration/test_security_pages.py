"""Security of the pages and requests (issue 12, items 1, 2, 4 and the page items of 7), through a real
httpd with PostgreSQL and the Sinch fake: cross-site posts, forged and expired tokens, tokens bound to their
action, the cookie policy, numbers too long for E.164, PostgreSQL errors in the log, JSON errors, the
fail-closed authorization, audited reads, masked API lists, no-user vs a user called "anonymous", notices
from the stored state, security headers, oversized bodies and the access log."""
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import time
import urllib.parse

import harness
from harness import Browser, Httpd, HttpdTestCase, ServicesTestCase, form_for, module_conf, tomorrow_at
from staff_support import (API_PASSWORD, API_USER, USER, StaffBrowser, basic, read_audit_rows, staff_httpd, text_of)

ATTACKER = {"patient_name": "Victim Patient", "doctor_name": "Visit evil.example now", "phone": "+1 650 253 0099"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_token(key, cookie, issued, user="", action="book"):
    """A token as the module signs it (core/form_token.cpp), made with the key from the database."""
    head = f"v1.{issued}.{b64url(os.urandom(16))}"
    binding = f"{cookie}\n{len(action)}:{action}\n{user}"
    mac = hmac.new(key.encode(), (head + "\n" + binding).encode(), hashlib.sha256).digest()
    return f"{head}.{b64url(mac)}"


def raw_post(port, path, content_type, declared_length, sent=b"", timeout=5.0):
    """Sends a POST announcing `declared_length` bytes but sending only `sent`; returns what came back before
    the server closed the connection or `timeout` passed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
                   f"Content-Length: {declared_length}\r\n\r\n").encode() + sent)
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    return data, True  # closed by the server
                data += chunk
        except socket.timeout:
            pass
        return data, False


class PagesSecurityTest(ServicesTestCase):
    """A mount without a login (SinchReminderAllowAnonymous On, as harness.module_conf sets)."""

    def setUp(self):
        super().setUp()
        self.browser = Browser(self.httpd)

    def count(self, table="appointments"):
        return int(self.database.scalar(f"SELECT count(*) FROM {table}"))

    # --- item 1: CSRF -------------------------------------------------------------------------------
    def test_cross_site_post_is_refused_before_reading_with_a_clear_page(self):
        fields = form_for(tomorrow_at(14, 30), **ATTACKER)
        for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"},
                        {"Origin": "null"}):
            status, response_headers, body = self.httpd.post_form("/appointment", fields, headers)
            self.assertEqual(status, 403, headers)
            self.assertIn("another web site", text_of(body))
            self.assertNotIn("evil.example now", body)  # nothing of the attacker's entries comes back
            self.assertNotIn("253 0099", body)
            self.assertNotIn('name="csrf_token"', body)  # no fresh, valid token to resubmit with
            self.assertNotIn("set-cookie", response_headers)
        self.assertEqual(self.count(), 0)
        self.assertIn("SR0103", self.httpd.read_error_log())

    def test_chromes_own_form_post_with_origin_null_is_accepted(self):
        # Under our Referrer-Policy no-referrer Chrome sends `Origin: null` with its own form POSTs, and says
        # `Sec-Fetch-Site: same-origin` (headers no page can set): that is our own form (test_browser.py).
        token = self.browser.open_form()
        data = dict(form_for(tomorrow_at(14, 30)), csrf_token=token)
        status, _, body = self.browser.request(
            "POST", "/appointment", urllib.parse.urlencode(data),
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": "null", "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(status, 303, body)
        self.assertEqual(self.count(), 1)

    def test_post_from_our_own_origin_is_accepted(self):
        token = self.browser.open_form()
        data = dict(form_for(tomorrow_at(14, 30)), csrf_token=token)
        status, _, body = self.browser.request(
            "POST", "/appointment", urllib.parse.urlencode(data),
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.httpd.url,
             "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(status, 303, body)
        self.assertEqual(self.count(), 1)

    def test_missing_or_forged_token_gets_a_blank_form(self):
        self.browser.open_form()  # the browser has its cookie
        fields = form_for(tomorrow_at(14, 30), **ATTACKER)
        for token in ("", "v1.1800000000.AAAA.BBBB", "garbage"):
            data = dict(fields, csrf_token=token)
            status, _, body = self.browser.request("POST", "/appointment", urllib.parse.urlencode(data),
                                                   {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(status, 403, token)
            self.assertNotIn("evil.example now", body, token)
            self.assertNotIn("Victim Patient", body, token)
            self.assertIn("could not be verified", body)
        self.assertEqual(self.count(), 0)

    def test_expired_token_keeps_the_entries(self):
        self.browser.open_form()
        key = self.database.scalar("SELECT value FROM module_secrets WHERE name = 'form_token_key'")
        token = forge_token(key, self.browser.cookies["sr_csrf"], int(time.time()) - 13 * 3600)
        fields = dict(form_for(tomorrow_at(14, 30), patient_name="Kept Entry"), csrf_token=token)
        status, _, body = self.browser.request("POST", "/appointment", urllib.parse.urlencode(fields),
                                               {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 403, body)
        self.assertIn("opened too long ago", body)
        self.assertIn('value="Kept Entry"', body)
        self.assertEqual(self.count(), 0)

    def test_cookie_is_lax_and_never_replaced_by_a_cross_site_request(self):
        status, headers, _ = self.httpd.get("/appointment")
        self.assertEqual(status, 200)
        self.assertIn("SameSite=Lax", headers["set-cookie"])
        # Another site's image/frame/fetch arrives without the browser's (SameSite) cookie: no new cookie.
        for dest, mode in (("image", "no-cors"), ("iframe", "navigate"), ("empty", "cors")):
            status, headers, _ = self.httpd.get("/appointment", headers={
                "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest})
            self.assertNotIn("set-cookie", headers, dest)
        # A link from another site (top-level navigation) carries a Lax cookie: it is kept, the form works.
        token = self.browser.open_form()
        cookie = self.browser.cookies["sr_csrf"]
        status, headers, _ = self.browser.request("GET", "/appointment", headers={
            "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
        self.assertEqual(status, 200)
        self.assertNotIn("set-cookie", headers)
        self.assertEqual(self.browser.cookies["sr_csrf"], cookie)
        status, _, body = self.browser.submit(form_for(tomorrow_at(14, 30)), token=token)
        self.assertEqual(status, 303, body)

    # --- item 2: data errors ------------------------------------------------------------------------
    def test_number_longer_than_e164_is_a_422_on_the_form_and_the_api(self):
        long_number = "+49 301234567890123"  # 17 digits; libphonenumber calls it "possible"
        log_before = len(self.httpd.read_error_log())
        status, _, body = self.browser.submit(form_for(tomorrow_at(14, 30), phone=long_number))
        self.assertEqual(status, 422, body)
        self.assertIn("The number is too long.", body)
        status, headers, body = self.httpd.post_json("/appointment/api/appointments", {
            "patient_name": "Long Number", "doctor_name": "Dr. L", "phone": long_number,
            "appointment_local": tomorrow_at(14, 30).strftime("%Y-%m-%dT%H:%M")})
        self.assertEqual(status, 422, body)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertIn("too long", json.loads(body)["fields"]["phone"])
        self.assertEqual(self.count(), 0)
        self.assertNotIn("SR0090", self.httpd.read_error_log()[log_before:])

    def test_database_refusal_logs_sqlstate_and_constraint_never_row_data_and_the_api_answers_json(self):
        self.database.query("ALTER TABLE appointments ADD CONSTRAINT it_refuses_mallory "
                            "CHECK (patient_name <> 'Mallory Rowdata')")
        try:
            when = tomorrow_at(14, 30)
            status, headers, body = self.httpd.post_json("/appointment/api/appointments", {
                "patient_name": "Mallory Rowdata", "doctor_name": "Dr. Row", "phone": "+1 650 253 0000",
                "appointment_local": when.strftime("%Y-%m-%dT%H:%M")})
            self.assertEqual(status, 500, body)
            self.assertEqual(headers["content-type"], "application/json")
            self.assertIn("SR0521", json.loads(body)["error"])
            status, _, body = self.browser.submit(form_for(when, patient_name="Mallory Rowdata"))
            self.assertEqual(status, 500, body)
            log = self.httpd.read_error_log()
            self.assertIn("SR0521: API request failed: PostgreSQL error 23514 (constraint it_refuses_mallory)", log)
            self.assertIn("SR0090: request failed: PostgreSQL error 23514 (constraint it_refuses_mallory)", log)
            self.assertNotIn("Mallory", log)
            self.assertNotIn("Failing row", log)
            self.assertNotIn("6502530000", log)
        finally:
            self.database.query("ALTER TABLE appointments DROP CONSTRAINT it_refuses_mallory")

    # --- item 7: the rest ---------------------------------------------------------------------------
    def test_done_in_the_url_cannot_claim_a_change_that_did_not_happen(self):
        status, headers, _ = self.browser.submit(form_for(tomorrow_at(14, 30)))
        self.assertEqual(status, 303)
        page = headers["location"]
        body = self.browser.get(page + "?done=cancelled")[2]
        self.assertNotIn("The appointment was cancelled", body)
        body = self.browser.get(page + "?done=rescheduled")[2]
        self.assertNotIn("The appointment was moved", body)

    def test_landline_notice_survives_the_redirect(self):
        status, headers, _ = self.browser.submit(form_for(tomorrow_at(14, 30), phone="+44 20 7946 0123"))
        self.assertEqual(status, 303)
        status, _, body = self.browser.get(headers["location"])
        self.assertEqual(status, 200)
        self.assertIn("This looks like a landline; SMS may not arrive.", body)

    def test_no_user_is_stored_as_null_not_as_a_name(self):
        self.assertEqual(self.browser.submit(form_for(tomorrow_at(14, 30)))[0], 303)
        self.assertEqual(self.database.scalar("SELECT coalesce(created_by, '(null)') FROM appointments"), "(null)")
        self.assertEqual(self.database.scalar(
            "SELECT coalesce(actor, '(null)') FROM audit_log WHERE action = 'create'"), "(null)")
        appointment = self.database.scalar("SELECT id FROM appointments")
        body = self.browser.get(f"/appointment/a/{appointment}")[2]
        self.assertIn("(no login)", text_of(body[body.index('id="audit"'):]))

    def test_security_headers_on_health_pages_and_api(self):
        status, headers, _ = self.httpd.get("/appointment/health")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(headers.get("referrer-policy"), "no-referrer")
        status, headers, _ = self.httpd.get("/appointment")
        self.assertEqual(headers.get("referrer-policy"), "no-referrer")
        status, headers, _ = self.httpd.get("/appointment/api/appointments")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("referrer-policy"), "no-referrer")

    def test_oversized_bodies_are_refused_before_they_are_read(self):
        for path, content_type in (("/appointment", "application/x-www-form-urlencoded"),
                                   ("/appointment/api/appointments", "application/json")):
            started = time.monotonic()
            data, closed = raw_post(self.httpd.port, path, content_type, 50_000_000, b"x" * 1000)
            self.assertTrue(data.startswith(b"HTTP/1.1 413"), (path, data[:200]))
            self.assertTrue(closed, f"{path}: the connection stayed open to read the rest")
            self.assertLess(time.monotonic() - started, 4.5, path)


class StaffSecurityTest(ServicesTestCase):
    """Behind Basic auth, as a hospital runs it."""

    @classmethod
    def make_httpd(cls, database, fake):
        httpd = staff_httpd(database, fake)
        with open(os.path.join(httpd.root, "staff.htpasswd"), "a") as f:  # a user really called "anonymous"
            digest = base64.b64encode(hashlib.sha1(b"anon-pass").digest()).decode()
            f.write(f"anonymous:{{SHA}}{digest}\n")
        return httpd

    def setUp(self):
        super().setUp()
        self.browser = StaffBrowser(self.httpd)

    def api(self, path):
        status, headers, body = self.httpd.get("/appointment/api" + path,
                                               headers={"Authorization": basic(API_USER, API_PASSWORD)})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/json")
        return json.loads(body)

    def test_tokens_are_bound_to_their_action_and_appointment(self):
        appointment = self.browser.book(tomorrow_at(14, 30))
        other = self.browser.book(tomorrow_at(15, 30), patient_name="Other Patient")
        page = f"/appointment/a/{appointment}"
        booking_token = self.browser.open_form()
        cancel_token = self.browser.page_token(page, "cancel")
        reschedule_token = self.browser.page_token(page, "reschedule")
        other_cancel_token = self.browser.page_token(f"/appointment/a/{other}", "cancel")
        move = {"appointment_date": tomorrow_at(0, 0).strftime("%Y-%m-%d"), "appointment_time": "16:00"}
        for path, fields, token in ((page + "/cancel", {}, booking_token),
                                    (page + "/cancel", {}, reschedule_token),
                                    (page + "/cancel", {}, other_cancel_token),
                                    (page + "/reschedule", move, cancel_token)):
            status, _, _ = self.browser.post_page_form(path, fields, token=token)
            self.assertEqual(status, 403, path)
        self.assertEqual(self.database.scalar(f"SELECT status || revision FROM appointments WHERE id = '{appointment}'"),
                         "active1")
        # A cancel token cannot book either.
        status, _, _ = self.browser.submit(form_for(tomorrow_at(17, 0), patient_name="Booked By Cancel"),
                                           token=cancel_token)
        self.assertEqual(status, 403)
        self.assertEqual(self.database.scalar("SELECT count(*) FROM appointments"), "2")
        # Each with its own form: fine, and a double submit of the cancel stays harmless.
        self.assertEqual(self.browser.post_page_form(page + "/reschedule", move, token=reschedule_token)[0], 303)
        self.assertEqual(self.browser.post_page_form(page + "/cancel", {}, token=cancel_token)[0], 303)
        self.assertEqual(self.browser.post_page_form(page + "/cancel", {}, token=cancel_token)[0], 303)

    def test_reads_are_audited_without_patient_data(self):
        appointment = self.browser.book(tomorrow_at(14, 30))
        self.assertEqual(self.browser.get(f"/appointment/a/{appointment}")[0], 200)
        self.assertEqual(self.browser.get("/appointment/list?q=Lovelace&Lovelace=1")[0], 200)
        self.api(f"/appointments/{appointment}")
        self.api("/appointments?q=Lovelace&phone=%2B16502530000")
        rows = read_audit_rows(self.database)
        self.assertEqual([(a, who, target) for a, who, target, _ in rows],
                         [("view", USER, appointment), ("list", USER, ""), ("view", API_USER, appointment),
                          ("list", API_USER, "")])
        page_list, api_list = json.loads(rows[1][3]), json.loads(rows[3][3])
        self.assertEqual((page_list["via"], page_list["filters"], page_list["shown"]), ("page", ["q"], [appointment]))
        self.assertEqual((api_list["via"], sorted(api_list["filters"]), api_list["full_numbers"]),
                         ("api", ["phone", "q"], False))
        for row in rows:
            self.assertNotIn("Lovelace", row[3])
            self.assertNotIn("6502530000", row[3])

    def test_api_lists_from_today_with_masked_numbers_unless_asked(self):
        self.database.query(
            "INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time)"
            " VALUES ('Past Patient', 'Dr. Past', '+16502530001', now() - interval '3 days', 'America/New_York',"
            " to_char(now() - interval '3 days', 'YYYY-MM-DD\"T\"HH24:MI'))")
        future = self.browser.book(tomorrow_at(14, 30))
        listed = self.api("/appointments")["appointments"]
        self.assertEqual([a["id"] for a in listed], [future])
        self.assertIsNone(listed[0]["phone"])
        self.assertEqual(listed[0]["phone_masked"], "+1********00")
        week_ago = (tomorrow_at(0, 0, days=-7)).strftime("%Y-%m-%d")
        self.assertEqual(len(self.api(f"/appointments?from={week_ago}")["appointments"]), 2)
        full = self.api("/appointments?full_numbers=1")["appointments"]
        self.assertEqual(full[0]["phone"], "+16502530000")
        self.assertTrue(json.loads(read_audit_rows(self.database)[-1][3])["full_numbers"])
        self.assertEqual(self.api(f"/appointments/{future}")["phone"], "+16502530000")  # one appointment: in full

    def test_a_user_called_anonymous_is_a_user(self):
        named = StaffBrowser(self.httpd, user="anonymous", password="anon-pass")
        named.book(tomorrow_at(14, 30))
        self.assertEqual(self.database.scalar("SELECT coalesce(created_by, '(null)') FROM appointments"),
                         "anonymous")


class UnprotectedMountTest(HttpdTestCase):
    """A mount no AuthType/Require protects, without SinchReminderAllowAnonymous: fail closed."""

    @classmethod
    def setUpClass(cls):
        cls.database = harness.Database()
        cls.httpd = Httpd(module_conf(cls.database.conninfo, "http://127.0.0.1:9", allow_anonymous=False))
        cls.httpd.start()

    @classmethod
    def tearDownClass(cls):
        cls.httpd.cleanup()
        cls.database.drop()

    def test_pages_and_api_answer_500_and_the_log_says_why(self):
        for path in ("/appointment", "/appointment/list", "/appointment/a/00000000-0000-0000-0000-000000000000"):
            status, _, body = self.httpd.get(path)
            self.assertEqual(status, 500, path)
            self.assertIn("SR0095", body)
            self.assertNotIn("csrf_token", body)
        status, _, body = self.httpd.post_form("/appointment", form_for(tomorrow_at(14, 30)))
        self.assertEqual(status, 500)
        status, headers, body = self.httpd.get("/appointment/api/appointments")
        self.assertEqual(status, 500)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertIn("SR0095", json.loads(body)["error"])
        self.assertEqual(self.httpd.get("/appointment/health")[0], 200)  # no patient data: still served
        self.assertEqual(self.database.scalar("SELECT count(*) FROM appointments"), "0")
        self.assertIn("SR0095", self.httpd.read_error_log())

    def test_configtest_warns_about_an_unprotected_mount_only(self):
        base = module_conf(self.database.conninfo, "http://127.0.0.1:9", allow_anonymous=False)
        cases = [
            (base, True),
            (module_conf(self.database.conninfo, "http://127.0.0.1:9"), False),  # AllowAnonymous On
            (module_conf(self.database.conninfo, "http://127.0.0.1:9", allow_anonymous=False,
                         location_extra='  AuthType Basic\n  AuthName "x"\n  AuthUserFile /dev/null\n'
                                        '  Require valid-user\n'), False),
            (base + '\n<Location "/">\n  Require ip 10.0.0.0/8\n</Location>', False),
        ]
        for conf, warns in cases:
            httpd = Httpd(conf)
            try:
                rc, output = httpd.configtest()
            finally:
                httpd.cleanup()
            self.assertEqual(rc, 0, output)
            self.assertEqual("SR0012" in output, warns, output)


class AccessLogSnippetTest(HttpdTestCase):
    """README's CustomLog lines keep list searches (patient names and numbers) out of the access log."""

    @classmethod
    def setUpClass(cls):
        with open(os.path.join(harness.SOURCE_DIR, "README.md")) as f:
            readme = f.read()
        blocks = [b for b in re.findall(r"```apache\n(.*?)```", readme, re.S) if "CustomLog" in b]
        if not blocks:
            raise AssertionError("README.md shows no CustomLog lines for list searches")
        cls.database = harness.Database()
        cls.httpd = Httpd("")
        logs = os.path.join(cls.httpd.root, "logs")
        snippet = blocks[0].replace("${APACHE_LOG_DIR}", logs)
        cls.access_log = os.path.join(logs, "access.log")
        cls.httpd.write_conf(module_conf(cls.database.conninfo, "http://127.0.0.1:9") + "\n" +
                             'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined\n'
                             + snippet)
        cls.httpd.start()

    @classmethod
    def tearDownClass(cls):
        cls.httpd.cleanup()
        cls.database.drop()

    def test_searches_are_logged_without_their_query(self):
        self.assertEqual(self.httpd.get("/appointment/list?q=Lovelace&status=active")[0], 200)
        self.assertEqual(self.httpd.get("/appointment/api/appointments?phone=%2B16502530000&q=Lovelace")[0], 200)
        self.assertEqual(self.httpd.get("/appointment?from=portal")[0], 200)
        self.httpd.stop()  # flushes the log
        with open(self.access_log) as f:
            log = f.read()
        self.assertNotIn("Lovelace", log)
        self.assertNotIn("6502530000", log)
        self.assertIn('"GET /appointment/list HTTP/1.1" 200', log)
        self.assertIn('"GET /appointment/api/appointments HTTP/1.1" 200', log)
        self.assertIn('"GET /appointment?from=portal HTTP/1.1" 200', log)  # other requests as before


if __name__ == "__main__":
    harness.main()
