"""Delivery-report callbacks that a leaked URL, a forger or a replay cannot abuse (issue 12 item 3), and
reports for a batch whose create answer was lost adopting it (issue 11 item 6). A real httpd, PostgreSQL
and the Sinch fake, which posts the callbacks (signed with the staff httpd's HMAC secret)."""
import datetime
import re
import time

import harness
from harness import Httpd, module_conf
from staff_support import CALLBACK_SECRET, StaffCase, audit_rows, fake_batch, reminder_rows, sinch_api, tomorrow_at

NUMBER = "+16502530000"  # the number StaffBrowser.book() uses ("(650) 253-0000", US)


class CallbackCase(StaffCase):
    # No dispatcher pass during a test (bookings inside the horizon are handed over by their request): it
    # would otherwise look up and adopt the batches these tests set up by hand.
    extra = "SinchReminderDispatchInterval 1h\n"

    def setUp(self):
        super().setUp()
        self.callback = f"{self.httpd.url}/appointment/callbacks/sinch"

    def book(self, days=1):
        appointment = self.browser.book(tomorrow_at(14, 30, days=days))
        return appointment, reminder_rows(self.database, appointment)[0][2]

    def sql(self, statement):
        return self.database.query(statement)

    def reminder(self, appointment):
        row = self.database.query(
            "SELECT status, coalesce(batch_id, ''), coalesce(delivery_status, '') FROM reminders"
            f" WHERE appointment_id = '{appointment}'")[0]
        return {"status": row[0], "batch_id": row[1], "delivery": row[2]}

    def send_time_passed(self, appointment):
        self.sql(f"UPDATE reminders SET send_at = now() - interval '1 minute' WHERE appointment_id = '{appointment}'")

    def fire(self, batch_id, **options):
        options.setdefault("sign_secret", CALLBACK_SECRET)
        options.setdefault("url", self.callback)
        return self.fake.control("POST", f"/_fake/callbacks/{batch_id}", options)["callback_status"]


class SentNeedsTheNumberAndTheTimeTest(CallbackCase):
    def test_a_report_dated_before_the_send_time_never_marks_sent_and_a_cancel_still_reaches_sinch(self):
        appointment, batch_id = self.book()  # the reminder is due tomorrow
        self.assertEqual(self.fire(batch_id, status="Dispatched"), 200)
        self.assertEqual(self.reminder(appointment)["status"], "scheduled")
        self.assertIn("SR0532", self.httpd.read_error_log())
        # So a cancel still cancels the batch at Sinch.
        self.assertEqual(self.browser.cancel(appointment)[0], 303)
        self.assertTrue(harness.wait_until(lambda: fake_batch(self.fake, batch_id)["canceled"], 10))

    def test_a_report_without_the_recipient_or_with_another_never_marks_sent(self):
        appointment, batch_id = self.book()
        self.send_time_passed(appointment)
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        base = {"type": "recipient_delivery_report_sms", "batch_id": batch_id, "code": 0, "status": "Delivered",
                "at": now, "client_reference": f"sr-{appointment}-r1"}
        self.assertEqual(self.fire(batch_id, payload=base), 200)  # no recipient
        self.assertEqual(self.reminder(appointment)["status"], "scheduled")
        self.assertEqual(self.fire(batch_id, payload=dict(base, recipient="4915112345678")), 200)
        self.assertEqual(self.reminder(appointment)["status"], "scheduled")
        # A summary report (no numbers) is recorded for staff, but does not mark the reminder sent either.
        self.assertEqual(self.fire(batch_id, kind="batch", status="Delivered", report_type="summary"), 200)
        self.assertEqual(self.reminder(appointment)["status"], "scheduled")
        # The number's own report after the send time does.
        self.assertEqual(self.fire(batch_id, status="Delivered"), 200)
        self.assertEqual(self.reminder(appointment)["status"], "sent")


class ReplayAndRefusalsTest(CallbackCase):
    def test_a_replayed_signed_callback_is_refused(self):
        appointment, batch_id = self.book()
        self.send_time_passed(appointment)
        signed = {"nonce": "nonce-0001", "timestamp": str(int(time.time()))}
        self.assertEqual(self.fire(batch_id, status="Dispatched", **signed), 200)
        self.assertEqual(self.fire(batch_id, status="Dispatched", **signed), 401)
        self.assertEqual(self.sql("SELECT count(*) FROM callback_nonces")[0][0], "1")
        # A new nonce is a new callback.
        self.assertEqual(self.fire(batch_id, status="Delivered", nonce="nonce-0002"), 200)
        self.assertEqual(self.reminder(appointment)["delivery"], "Delivered")

    def test_a_signature_older_than_the_replay_window_is_refused(self):
        appointment, batch_id = self.book()
        two_hours_ago = str(int(time.time()) - 2 * 3600)
        self.assertEqual(self.fire(batch_id, status="Queued", timestamp=two_hours_ago), 401)
        self.assertEqual(self.reminder(appointment)["delivery"], "")

    def test_a_token_in_the_url_is_refused_by_default(self):
        token = self.sql("SELECT value FROM module_secrets WHERE name = 'callback_token'")[0][0]
        _, batch_id = self.book()
        self.assertEqual(self.fire(batch_id, status="Delivered", url=f"{self.callback}/{token}"), 401)
        appointment, _ = self.book(days=2)
        self.assertEqual(self.sql(f"SELECT callback_url FROM reminders WHERE appointment_id = '{appointment}'")[0][0],
                         self.callback)


class RefusalLogTest(CallbackCase):
    """Its own httpd: the once-a-minute log line must not have been used up by another test."""

    def test_refused_callbacks_are_counted_and_logged_at_most_once_a_minute(self):
        _, batch_id = self.book()
        for _ in range(20):
            self.assertEqual(self.fire(batch_id, status="Delivered", sign_secret=None), 401)
        lines = [line for line in self.httpd.read_error_log().splitlines() if "SR0501" in line]
        # One line per httpd child process at most (ServerLimit 2), with the count.
        self.assertTrue(1 <= len(lines) <= 2, "\n".join(lines))
        self.assertTrue(all(re.search(r"refused \(401\): \d+", line) for line in lines), lines)
        self.assertIn("signature headers missing", lines[0])


class AdoptionTest(CallbackCase):
    """A batch Sinch has but the database does not (the create's answer was lost)."""

    def unstored_batch(self, status="unknown", lease="NULL", owner="NULL"):
        appointment, batch_id = self.book(days=10)  # beyond the horizon: stored, not handed over
        self.assertEqual(batch_id, "")
        self.sql(f"UPDATE reminders SET status = '{status}', next_attempt_at = now() + interval '1 day',"
                 f" lease_until = {lease}, lease_owner = {owner}, send_at = now() - interval '1 minute'"
                 f" WHERE appointment_id = '{appointment}'")
        batch = sinch_api(self.fake, "POST", "/batches", {
            "to": [NUMBER], "from": "+12025550100", "body": "Riverside Clinic reminder",
            "client_reference": f"sr-{appointment}-r1"})
        return appointment, batch["id"]

    def test_a_report_for_an_unstored_batch_adopts_it_by_client_reference(self):
        appointment, batch_id = self.unstored_batch()
        self.assertEqual(self.fire(batch_id, status="Queued"), 200)
        self.assertEqual(self.reminder(appointment), {"status": "scheduled", "batch_id": batch_id,
                                                      "delivery": "Queued"})
        self.assertIn(("adopt_batch", "sinch", "127.0.0.1"), audit_rows(self.database, appointment))
        self.assertEqual(self.fire(batch_id, status="Delivered"), 200)
        self.assertEqual(self.reminder(appointment)["status"], "sent")

    def test_a_reminder_being_handed_over_answers_503_so_sinch_retries(self):
        appointment, batch_id = self.unstored_batch(status="scheduling", lease="now() + interval '10 minutes'",
                                                    owner="'other-node:1'")
        self.assertEqual(self.fire(batch_id, status="Queued"), 503)
        self.assertEqual(self.reminder(appointment), {"status": "scheduling", "batch_id": "", "delivery": ""})
        # Once the lease has run out, Sinch's retry adopts the batch.
        self.sql(f"UPDATE reminders SET lease_until = now() - interval '1 second' WHERE appointment_id = '{appointment}'")
        self.assertEqual(self.fire(batch_id, status="Queued"), 200)
        self.assertEqual(self.reminder(appointment)["batch_id"], batch_id)

    def test_a_report_for_a_second_batch_of_a_reminder_with_a_batch_is_ignored_and_logged(self):
        appointment, first = self.book()
        second = sinch_api(self.fake, "POST", "/batches", {
            "to": [NUMBER], "from": "+12025550100", "body": "duplicate", "client_reference": f"sr-{appointment}-r1"})
        self.send_time_passed(appointment)
        self.assertEqual(self.fire(second["id"], status="Delivered"), 200)
        self.assertEqual(self.reminder(appointment), {"status": "scheduled", "batch_id": first, "delivery": ""})
        self.assertIn("SR0531", self.httpd.read_error_log())


class ConfigurationTest(harness.HttpdTestCase):
    """What `apache2 -t` refuses: plain-HTTP base URLs to other hosts, and delivery reports that could not be
    authenticated."""

    def configtest(self, extra):
        httpd = Httpd(module_conf("host=127.0.0.1 dbname=unused", extra=extra))
        try:
            return httpd.configtest()
        finally:
            httpd.cleanup()

    def test_plain_http_base_urls_are_refused_unless_the_host_is_loopback(self):
        for directive in ("SinchReminderPublicBaseUrl", "SinchReminderSmsBaseUrl", "SinchReminderAuthBaseUrl"):
            with self.subTest(directive):
                code, output = self.configtest(f"{directive} http://clinic.example.org\n"
                                               "SinchReminderDeliveryReport none\n")
                self.assertNotEqual(code, 0, output)
                self.assertIn(directive, output)
                self.assertIn("plain HTTP", output)
                for fine in ("http://127.0.0.1:8080", "http://localhost", "http://[::1]:99", "https://x.example"):
                    code, output = self.configtest(f"{directive} {fine}\nSinchReminderDeliveryReport none\n")
                    self.assertEqual(code, 0, f"{fine}: {output}")

    def test_delivery_reports_without_a_way_to_authenticate_callbacks_are_refused(self):
        code, output = self.configtest("SinchReminderPublicBaseUrl https://clinic.example.org\n")
        self.assertNotEqual(code, 0, output)
        self.assertIn("SinchReminderCallbackSecretFile", output)


if __name__ == "__main__":
    harness.main()
