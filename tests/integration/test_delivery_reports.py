"""Delivery reports and reconciliation in a real httpd with PostgreSQL and the Sinch fake: the fake posts
Sinch's callbacks to the module's endpoint (token in the URL, or HMAC-signed), with bad credentials,
duplicates and statuses out of order; reconciliation finds and fixes drift between the database and
Sinch."""
import datetime
import json
import os

import harness
from staff_support import (StaffCase, audit_rows, fake_batch, reminder_rows, sinch_api, text_of, tomorrow_at,
                           wait_until)


def iso_ms(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


class DeliveryCase(StaffCase):
    """Shared helpers; subclasses say how the module is configured."""

    def book(self, when=None):
        appointment = self.browser.book(when or tomorrow_at(14, 30))
        batch_id = reminder_rows(self.database, appointment)[0][2]
        self.assertTrue(batch_id, "the reminder was not scheduled")
        return appointment, batch_id

    def send_time_passed(self, appointment):
        """As if the reminder's send time had come: only then may a report mark it sent."""
        self.database.query(f"UPDATE reminders SET send_at = now() - interval '1 minute' "
                            f"WHERE appointment_id = '{appointment}'")

    def callback_url(self, appointment):
        return self.database.scalar(f"SELECT callback_url FROM reminders WHERE appointment_id = '{appointment}'")

    def fire(self, batch_id, url, **options):
        """The fake posts a callback to `url`; returns the HTTP status the module answered."""
        answer = self.fake.control("POST", f"/_fake/callbacks/{batch_id}", dict(url=url, **options))
        return answer["callback_status"]

    def delivery(self, appointment):
        row = self.database.query(
            "SELECT coalesce(delivery_status, ''), coalesce(delivery_code::text, ''),"
            " coalesce(to_char(delivery_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS'), ''), status,"
            f" coalesce(attention, '') FROM reminders WHERE appointment_id = '{appointment}' ORDER BY revision DESC")[0]
        return {"status": row[0], "code": row[1], "at": row[2], "reminder": row[3], "attention": row[4]}

    def page_text(self, appointment):
        status, _, body = self.browser.get(f"/appointment/a/{appointment}")
        self.assertEqual(status, 200)
        return text_of(body)


class DeliveryReportTokenTest(DeliveryCase):
    """SinchReminderCallbackAuth url-token: the callback URL carries the shared token."""

    extra = "SinchReminderCallbackAuth url-token\n"

    def token(self):
        return self.database.scalar("SELECT value FROM module_secrets WHERE name = 'callback_token'")

    def test_each_reminder_gets_the_callback_url_and_report_kind(self):
        appointment, _ = self.book()
        self.assertEqual(self.callback_url(appointment),
                         f"{self.httpd.url}/appointment/callbacks/sinch/{self.token()}")
        self.assertEqual(self.database.scalar("SELECT delivery_report FROM reminders"), "per_recipient_final")
        # A reschedule's new revision gets them too.
        self.assertEqual(self.browser.reschedule(appointment, tomorrow_at(16, 0))[0], 303)
        self.assertEqual(self.database.query("SELECT count(DISTINCT callback_url) FROM reminders")[0][0], "1")

    def test_batches_carry_the_callback_url_and_delivery_report(self):
        appointment, batch_id = self.book()
        batch = fake_batch(self.fake, batch_id)
        self.assertEqual(batch["callback_url"], self.callback_url(appointment))
        self.assertEqual(batch["delivery_report"], "per_recipient_final")

    def test_delivered_is_shown_on_the_page_and_the_list_with_its_time(self):
        appointment, batch_id = self.book()
        self.send_time_passed(appointment)
        self.assertEqual(self.fire(batch_id, self.callback_url(appointment), status="Delivered"), 200)
        d = self.delivery(appointment)
        self.assertEqual((d["status"], d["code"], d["reminder"]), ("Delivered", "0", "sent"))
        self.assertTrue(d["at"])
        self.assertIn("Delivered to the phone at", self.page_text(appointment))
        status, _, listing = self.browser.get("/appointment/list?status=delivered")
        self.assertIn(f"/appointment/a/{appointment}\"", listing)
        self.assertIn("Delivered to the phone at", text_of(listing))
        self.assertEqual(audit_rows(self.database, appointment)[-1], ("delivery_report", "sinch", "127.0.0.1"))

    def test_duplicates_and_late_intermediate_statuses_change_nothing(self):
        appointment, batch_id = self.book()
        self.send_time_passed(appointment)
        url = self.callback_url(appointment)
        base = datetime.datetime.now(datetime.timezone.utc)
        recipient = "16502530000"

        def report(status, code, seconds):
            return {"type": "recipient_delivery_report_sms", "batch_id": batch_id, "recipient": recipient,
                    "code": code, "status": status, "at": iso_ms(base + datetime.timedelta(seconds=seconds)),
                    "client_reference": f"sr-{appointment}-r1"}

        sequence = [report("Queued", 400, 0), report("Delivered", 0, 20), report("Dispatched", 401, 10),
                    report("Delivered", 0, 20), report("Queued", 400, 0), report("Delivered", 0, 20)]
        for payload in sequence:
            self.assertEqual(self.fire(batch_id, url, payload=payload), 200)
        d = self.delivery(appointment)
        self.assertEqual((d["status"], d["code"], d["reminder"]), ("Delivered", "0", "sent"))
        self.assertEqual(d["at"], (base + datetime.timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%S"))
        reports = [r for r in audit_rows(self.database, appointment) if r[0] == "delivery_report"]
        self.assertEqual(len(reports), 2)  # Queued, then Delivered; every later one changed nothing

    def test_a_later_final_status_replaces_an_earlier_one_but_not_the_reverse(self):
        appointment, batch_id = self.book()
        self.send_time_passed(appointment)
        url = self.callback_url(appointment)
        base = datetime.datetime.now(datetime.timezone.utc)
        late = {"type": "recipient_delivery_report_sms", "batch_id": batch_id, "recipient": "16502530000",
                "code": 0, "status": "Delivered", "at": iso_ms(base + datetime.timedelta(seconds=30))}
        early = dict(late, status="Expired", code=406, at=iso_ms(base))
        self.assertEqual(self.fire(batch_id, url, payload=late), 200)
        self.assertEqual(self.fire(batch_id, url, payload=early), 200)
        self.assertEqual(self.delivery(appointment)["status"], "Delivered")

    def test_bad_or_missing_token_is_401_and_changes_nothing(self):
        appointment, batch_id = self.book()
        base = f"{self.httpd.url}/appointment/callbacks/sinch"
        token = self.token()
        wrong_last = token[:-1] + ("1" if token.endswith("0") else "0")  # one character off, never the token
        for url in (base + "/" + "x" * 64, base, base + "/" + wrong_last):
            with self.subTest(url=url):
                self.assertEqual(self.fire(batch_id, url, status="Delivered"), 401)
        self.assertEqual(self.delivery(appointment)["status"], "")
        self.assertEqual([r[0] for r in audit_rows(self.database, appointment)], ["create"])
        self.assertIn("SR0501", self.httpd.read_error_log())
        status, headers, body = self.httpd.request("POST", "/appointment/callbacks/sinch/wrong", "{}",
                                                   {"Content-Type": "application/json"})
        self.assertEqual((status, headers["content-type"]), (401, "application/json"))
        self.assertEqual(json.loads(body)["error"], "unauthorized")
        self.assertEqual(self.httpd.request("GET", f"/appointment/callbacks/sinch/{self.token()}")[0], 405)

    def test_unknown_batch_is_200_and_logged(self):
        status, _, body = self.httpd.request(
            "POST", f"/appointment/callbacks/sinch/{self.token()}",
            json.dumps({"type": "recipient_delivery_report_sms", "batch_id": "01NOSUCHBATCH", "recipient": "1555",
                        "code": 0, "status": "Delivered", "at": "2026-01-01T00:00:00.000Z"}),
            {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        self.assertIn("SR0503", self.httpd.read_error_log())

    def test_unreadable_report_is_400_and_other_types_are_ignored(self):
        url = f"/appointment/callbacks/sinch/{self.token()}"
        for raw in ("{", "[]", json.dumps({"type": "recipient_delivery_report_sms", "status": "Delivered"})):
            with self.subTest(raw=raw):
                self.assertEqual(self.httpd.request("POST", url, raw, {"Content-Type": "application/json"})[0], 400)
        status, _, body = self.httpd.request("POST", url, json.dumps({"type": "mo_text", "body": "STOP"}),
                                             {"Content-Type": "application/json"})
        self.assertEqual((status, json.loads(body)["result"]), (200, "ignored"))

    def test_batch_level_failed_report_is_a_problem_for_staff(self):
        appointment, batch_id = self.book()
        self.send_time_passed(appointment)
        # A full report lists the recipient, so it can mark the reminder sent (a summary cannot).
        self.assertEqual(self.fire(batch_id, self.callback_url(appointment), kind="batch", status="Failed",
                                   code=402, report_type="full"), 200)
        d = self.delivery(appointment)
        self.assertEqual((d["status"], d["code"], d["reminder"]), ("Failed", "402", "sent"))
        self.assertIn("Failed: not delivered (code 402)", self.page_text(appointment))
        status, _, listing = self.browser.get("/appointment/list?status=not_delivered")
        self.assertIn(f"/appointment/a/{appointment}\"", listing)
        self.assertIn("Problem:", text_of(listing))

    def test_cancelled_batch_report_and_delivery_after_cancel(self):
        appointment, batch_id = self.book()
        self.assertEqual(self.browser.cancel(appointment)[0], 303)
        url = self.callback_url(appointment)
        self.assertEqual(self.fire(batch_id, url, status="Cancelled"), 200)
        self.assertEqual(self.delivery(appointment)["reminder"], "cancelled")
        self.assertIn("Cancelled at Sinch at", self.page_text(appointment))
        # Sinch delivers it all the same (the worst case): staff must be told.
        self.send_time_passed(appointment)
        self.assertEqual(self.fire(batch_id, url, status="Delivered"), 200)
        d = self.delivery(appointment)
        self.assertEqual((d["status"], d["reminder"]), ("Delivered", "sent"))
        self.assertIn("although the appointment was cancelled", d["attention"])
        self.assertIn("Flagged for staff", self.page_text(appointment))
        self.assertIn("SR0505", self.httpd.read_error_log())


class DeliveryReportHmacTest(DeliveryCase):
    """SinchReminderCallbackSecretFile: the signature authenticates, the URL has no token."""

    SECRET = "hmac-secret-for-the-tests-0123456789"

    @classmethod
    def module_extra(cls):
        cls.secret_dir = __import__("tempfile").mkdtemp(prefix="sr-secret-")
        path = os.path.join(cls.secret_dir, "callback-secret")
        with open(path, "w") as f:
            f.write(cls.SECRET + "\n")
        return f"SinchReminderCallbackSecretFile {path}\nSinchReminderDeliveryReport per_recipient\n"

    def test_url_has_no_token_and_signed_reports_are_applied(self):
        appointment, batch_id = self.book()
        url = self.callback_url(appointment)
        self.assertEqual(url, f"{self.httpd.url}/appointment/callbacks/sinch")
        self.assertEqual(self.database.scalar("SELECT delivery_report FROM reminders"), "per_recipient")
        self.send_time_passed(appointment)
        self.assertEqual(self.fire(batch_id, url, status="Dispatched", sign_secret=self.SECRET), 200)
        self.assertEqual(self.fire(batch_id, url, status="Delivered", sign_secret=self.SECRET), 200)
        self.assertEqual(self.delivery(appointment)["status"], "Delivered")

    def test_missing_wrong_or_stale_signatures_are_401_and_change_nothing(self):
        appointment, batch_id = self.book()
        url = self.callback_url(appointment)
        cases = {
            "unsigned": {},
            "wrong secret": {"sign_secret": "not-the-secret-at-all"},
            "stale": {"sign_secret": self.SECRET, "timestamp": "1500000000"},
            "token instead": {"url": url + "/" + "a" * 64},
            "tampered signature": {"sign_secret": self.SECRET,
                                   "headers": {"x-sinch-webhook-signature": "AAAA" + "=" * 40}},
        }
        for name, options in cases.items():
            with self.subTest(name):
                arguments = dict(status="Delivered", **options)
                target = arguments.pop("url", url)
                self.assertEqual(self.fire(batch_id, target, **arguments), 401)
        self.assertEqual(self.delivery(appointment)["status"], "")
        self.assertEqual([r[0] for r in audit_rows(self.database, appointment)], ["create"])


class ReconciliationTest(DeliveryCase):
    """SinchReminderReconcileInterval 1s: drift between PostgreSQL and Sinch is found and fixed or flagged."""

    extra = "SinchReminderReconcileInterval 1s\n"

    def recheck_now(self, appointment):
        self.database.query(f"UPDATE reminders SET reconciled_at = NULL, reconcile_done = false "
                            f"WHERE appointment_id = '{appointment}'")

    def test_a_cancel_that_never_reached_sinch_is_done_by_reconciliation(self):
        appointment, batch_id = self.book()
        # Cancelled in the database, but the batch is still live at Sinch (the drift to fix).
        self.database.query(f"UPDATE appointments SET status = 'cancelled' WHERE id = '{appointment}';"
                            f"UPDATE reminders SET status = 'cancelled' WHERE appointment_id = '{appointment}'")
        self.recheck_now(appointment)
        self.assertTrue(wait_until(lambda: fake_batch(self.fake, batch_id)["canceled"], 20),
                        "reconciliation did not cancel the live batch")
        self.assertTrue(wait_until(lambda: ("reconcile", "reconciler", "") in audit_rows(self.database, appointment)))
        self.assertTrue(wait_until(lambda: self.database.scalar(
            f"SELECT reconcile_done FROM reminders WHERE appointment_id = '{appointment}'") == "t"))
        self.assertIn("SR0602", self.httpd.read_error_log())
        self.assertIn("still live at Sinch", self.page_text(appointment))

    def test_a_batch_cancelled_outside_the_module_is_flagged_for_staff(self):
        appointment, batch_id = self.book()
        sinch_api(self.fake, "DELETE", f"/batches/{batch_id}")  # e.g. in the Sinch dashboard
        self.recheck_now(appointment)
        self.assertTrue(wait_until(lambda: self.delivery(appointment)["attention"], 20), "not flagged")
        self.assertIn("cancelled at Sinch outside this module", self.delivery(appointment)["attention"])
        self.assertEqual(self.delivery(appointment)["reminder"], "scheduled")  # flagged, not rewritten
        self.assertIn("Flagged for staff", self.page_text(appointment))
        status, _, listing = self.browser.get("/appointment/list?status=attention")
        self.assertIn(f"/appointment/a/{appointment}\"", listing)
        self.assertIn(("attention", "reconciler", ""), audit_rows(self.database, appointment))

    def test_a_moved_send_time_at_sinch_is_flagged(self):
        appointment, batch_id = self.book()
        moved = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
        # Moved past the appointment, so expire_at (the appointment's start) has to move too.
        sinch_api(self.fake, "POST", f"/batches/{batch_id}",
                  {"send_at": iso_ms(moved), "expire_at": iso_ms(moved + datetime.timedelta(hours=1))})
        self.recheck_now(appointment)
        self.assertTrue(wait_until(lambda: self.delivery(appointment)["attention"], 20), "not flagged")
        self.assertIn("Sinch will send batch", self.delivery(appointment)["attention"])

    def test_consistent_reminders_are_left_alone(self):
        appointment, batch_id = self.book()
        self.recheck_now(appointment)
        self.assertTrue(wait_until(lambda: self.database.scalar(
            f"SELECT reconciled_at IS NOT NULL FROM reminders WHERE appointment_id = '{appointment}'") == "t", 20))
        self.assertEqual(self.delivery(appointment)["attention"], "")
        self.assertFalse(fake_batch(self.fake, batch_id)["canceled"])
        self.assertEqual([r[0] for r in audit_rows(self.database, appointment)], ["create"])


class ReportsOffCase(DeliveryCase):
    """SinchReminderDeliveryReport none: no callbacks, so 'sent' must come from reading the batch's delivery
    report once its send time has passed (issue 11, item 7)."""

    extra = "SinchReminderDeliveryReport none\nSinchReminderReconcileInterval 1s\n"

    def send_time_passed_at_both_ends(self, appointment, batch_id):
        """As if the reminder's send time had come, here and at Sinch (which then dispatches the batch)."""
        past = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=1)
        sinch_api(self.fake, "POST", f"/batches/{batch_id}",
                  {"send_at": iso_ms(past), "expire_at": iso_ms(past + datetime.timedelta(hours=2))})
        self.database.query(f"UPDATE reminders SET send_at = '{past.isoformat()}', reconciled_at = NULL, "
                            f"reconcile_done = false WHERE appointment_id = '{appointment}'")

    def reminder_status(self, appointment):
        return self.delivery(appointment)["reminder"]


class SentOnlyWhenSinchSaysSoTest(ReportsOffCase):
    def test_a_batch_is_scheduled_until_its_send_time_then_sent_from_its_delivery_report(self):
        appointment, batch_id = self.book()
        self.assertEqual(fake_batch(self.fake, batch_id)["delivery_report"], "none")
        # Looked at before its send time: still scheduled, however often reconciliation passes.
        self.assertTrue(wait_until(lambda: self.database.scalar(
            f"SELECT reconciled_at IS NOT NULL FROM reminders WHERE appointment_id = '{appointment}'") == "t", 20))
        self.assertEqual(self.reminder_status(appointment), "scheduled")
        self.send_time_passed_at_both_ends(appointment, batch_id)
        self.assertTrue(wait_until(lambda: self.reminder_status(appointment) == "sent", 20),
                        f"not marked sent: {self.delivery(appointment)}")
        self.assertEqual(self.delivery(appointment)["attention"], "")


class NoSenderAbortedBySinchTest(ReportsOffCase):
    """No SinchReminderFrom and an account without a default originator: Sinch accepts each batch, then aborts
    it with code 410 when it is due. Staff must see 'failed' and why, never 'sent'."""

    fake_args = ("--no-default-originator",)
    sender = False

    def test_an_aborted_batch_ends_failed_and_flagged_with_the_missing_sender_named(self):
        appointment, batch_id = self.book()
        self.assertNotIn("from", fake_batch(self.fake, batch_id))
        self.send_time_passed_at_both_ends(appointment, batch_id)
        self.assertTrue(wait_until(lambda: self.reminder_status(appointment) == "failed", 20),
                        f"not marked failed: {self.delivery(appointment)}")
        attention = self.delivery(appointment)["attention"]
        self.assertIn("Aborted, code 410", attention)
        self.assertIn("set SinchReminderFrom", attention)
        self.assertIn("SR0606", self.httpd.read_error_log())
        self.assertIn("Flagged for staff", self.page_text(appointment))
        status, _, listing = self.browser.get("/appointment/list?status=attention")
        self.assertEqual(status, 200)
        self.assertIn(f"/appointment/a/{appointment}\"", listing)


if __name__ == "__main__":
    harness.main()
