"""The appointment flow in a real httpd: form -> E.164 -> UTC reminder -> PostgreSQL -> Sinch send_at
-> confirmation. Everything a front-desk user can get wrong is refused with a clear message and
leaves nothing behind."""
import datetime
import html
import re
import unittest

import harness
from harness import NEW_YORK, Browser, Httpd, ServicesTestCase, SinchFake, form_for, iso_z, module_conf, tomorrow_at

class AppointmentFlowTest(ServicesTestCase):

    def setUp(self):
        super().setUp()
        self.browser = Browser(self.httpd)

    def created_batches(self):
        return [r for r in self.fake.requests() if r["method"] == "POST" and r["path"].endswith("/batches")]

    def appointment_count(self):
        return int(self.database.scalar("SELECT count(*) FROM appointments"))

    # --- the form ---------------------------------------------------------------------------
    def test_form_is_served_with_its_fields_zone_and_no_caching(self):
        status, headers, body = self.browser.get("/appointment")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "text/html; charset=UTF-8")
        self.assertEqual(headers["cache-control"], "no-store")
        for field in ("patient_name", "doctor_name", "phone", "appointment_date", "appointment_time", "csrf_token"):
            self.assertIn(f'name="{field}"', body)
        for field in ("patient_name", "doctor_name", "phone", "appointment_date", "appointment_time"):
            self.assertRegex(body, rf'<label[^>]+for="{field}"')
        self.assertIn("America/New_York", body)
        cookie = headers["set-cookie"]
        self.assertIn("sr_csrf=", cookie)
        self.assertIn("HttpOnly", cookie)
        # Lax, not Strict: a link from another site (an intranet portal) must bring the cookie along, or the
        # visit would mint a new one and break the forms open in other tabs (test_security_pages).
        self.assertIn("SameSite=Lax", cookie)

    # --- the happy path -----------------------------------------------------------------------
    def test_valid_booking_stores_then_schedules_one_batch_two_hours_earlier(self):
        when = tomorrow_at(14, 30)
        status, headers, body = self.browser.submit(form_for(when))
        self.assertEqual(status, 303, body)
        location = headers["location"]
        self.assertRegex(location, r"^/appointment/a/[0-9a-f-]{36}$")
        appointment_id = location.rsplit("/", 1)[1]

        rows = self.database.query(
            "SELECT a.patient_name, a.phone_e164, a.time_zone, to_char(a.starts_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI'), r.status, r.batch_id, r.client_reference, "
            "to_char(r.send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI') "
            f"FROM appointments a JOIN reminders r ON r.appointment_id = a.id WHERE a.id = '{appointment_id}'")
        self.assertEqual(len(rows), 1)
        name, phone, zone, starts, reminder_status, batch_id, reference, send_at = rows[0]
        self.assertEqual((name, phone, zone), ("Ada Lovelace", "+16502530000", "America/New_York"))
        self.assertEqual(starts, when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M"))
        reminder_at = when - datetime.timedelta(hours=2)
        self.assertEqual(send_at, reminder_at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M"))
        self.assertEqual(reminder_status, "scheduled")
        self.assertEqual(reference, f"sr-{appointment_id}-r1")

        creates = self.created_batches()
        self.assertEqual(len(creates), 1)
        sent = creates[0]["json"]
        self.assertEqual(sent["to"], ["+16502530000"])
        self.assertEqual(sent["from"], "+12025550100")
        self.assertEqual(sent["send_at"], iso_z(reminder_at))
        self.assertEqual(sent["client_reference"], reference)
        self.assertIn("Dr. Grace Hopper", sent["body"])
        self.assertNotIn("Ada", sent["body"])  # no patient name in the SMS
        self.assertEqual(creates[0]["status"], 201)
        batches = self.fake.batches()
        self.assertEqual([b["id"] for b in batches], [batch_id])

        status, headers, page = self.browser.get(location)
        self.assertEqual(status, 200)
        self.assertIn(batch_id, page)
        self.assertIn("+16502530000", page)
        self.assertIn("Scheduled with Sinch", page)
        self.assertIn(reminder_at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), page)
        self.assertEqual(headers["cache-control"], "no-store")

    def test_reload_of_confirmation_changes_nothing(self):
        status, headers, _ = self.browser.submit(form_for(tomorrow_at(9, 0)))
        self.assertEqual(status, 303)
        for _ in range(3):
            self.assertEqual(self.browser.get(headers["location"])[0], 200)
        self.assertEqual(self.appointment_count(), 1)
        self.assertEqual(len(self.created_batches()), 1)

    def test_double_submit_of_the_same_form_books_once_and_sends_once(self):
        token = self.browser.open_form()
        fields = form_for(tomorrow_at(11, 15))
        first = self.browser.submit(fields, token=token)
        second = self.browser.submit(fields, token=token)
        self.assertEqual((first[0], second[0]), (303, 303))
        self.assertEqual(first[1]["location"], second[1]["location"])
        self.assertEqual(self.appointment_count(), 1)
        self.assertEqual(len(self.fake.batches()), 1)

    def test_reusing_a_used_form_for_another_patient_is_refused_not_merged(self):
        token = self.browser.open_form()
        self.assertEqual(self.browser.submit(form_for(tomorrow_at(10, 0)), token=token)[0], 303)
        status, _, body = self.browser.submit(form_for(tomorrow_at(10, 0), patient_name="Charles Babbage"), token=token)
        self.assertEqual(status, 409, body)
        self.assertIn("already used", body)
        self.assertEqual(self.appointment_count(), 1)

    # --- refusals -------------------------------------------------------------------------------
    def assert_refused(self, fields, field, message_part):
        status, headers, body = self.browser.submit(fields)
        self.assertEqual(status, 422, body)
        self.assertEqual(headers["content-type"], "text/html; charset=UTF-8")
        self.assertIn(message_part, html.unescape(body))
        self.assertRegex(body, rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"')
        self.assertEqual(self.appointment_count(), 0)
        self.assertEqual(self.created_batches(), [])
        return body

    def test_each_invalid_input_is_refused_with_its_message_and_nothing_is_kept(self):
        when = tomorrow_at(14, 30)
        cases = [
            (form_for(when, patient_name="  "), "patient_name", "Enter the patient's name."),
            (form_for(when, doctor_name=""), "doctor_name", "Enter the doctor's name."),
            (form_for(when, patient_name="x" * 201), "patient_name", "too long"),
            (form_for(when, phone="call me"), "phone", "not a phone number"),
            (form_for(when, phone="123"), "phone", "too short"),
            (form_for(when, appointment_date="2026-02-30"), "appointment_date", "not a date"),
            (form_for(when, appointment_date="tomorrow"), "appointment_date", "not a date"),
            (form_for(when, appointment_time="25:00"), "appointment_time", "not a time of day"),
            (form_for(when, appointment_time=""), "appointment_time", "Enter the appointment time"),
            (form_for(datetime.datetime.now(NEW_YORK) - datetime.timedelta(days=1)), "appointment_date",
             "already passed"),
        ]
        for fields, field, message in cases:
            with self.subTest(field=field, message=message):
                self.assert_refused(fields, field, message)

    def test_entered_values_are_kept_on_refusal(self):
        body = self.assert_refused(form_for(tomorrow_at(14, 30), phone="call me"), "phone", "not a phone number")
        self.assertIn('value="Ada Lovelace"', body)
        self.assertIn('value="Dr. Grace Hopper"', body)
        self.assertIn('value="call me"', body)

    def test_html_in_names_is_escaped_everywhere(self):
        attack = '<script>alert("x")</script>'
        body = self.assert_refused(form_for(tomorrow_at(14, 30), patient_name=attack, phone="nope"), "phone",
                                   "not a phone number")
        self.assertNotIn(attack, body)
        self.assertIn("&lt;script&gt;", body)
        # Markup in the doctor's name (it goes into the SMS) is refused, and the refusal page escapes it too.
        body = self.assert_refused(form_for(tomorrow_at(14, 30), doctor_name=attack), "doctor_name",
                                   "must not contain web addresses, e-mail addresses or markup")
        self.assertNotIn(attack, body)
        status, headers, _ = self.browser.submit(form_for(tomorrow_at(14, 30), patient_name=attack))
        self.assertEqual(status, 303)
        page = self.browser.get(headers["location"])[2]
        self.assertNotIn(attack, page)
        self.assertIn("&lt;script&gt;", page)

    def test_number_unknown_to_old_metadata_asks_staff_to_confirm(self):
        fields = form_for(tomorrow_at(14, 30), phone="(645) 555-0123")
        status, _, body = self.browser.submit(fields)
        self.assertEqual(status, 422, body)
        self.assertIn('name="phone_confirmed"', body)
        fields["phone_confirmed"] = "1"
        status, headers, body = self.browser.submit(fields)
        self.assertEqual(status, 303, body)
        self.assertEqual(self.created_batches()[0]["json"]["to"], ["+16455550123"])

    def test_post_without_the_form_token_is_forbidden_and_stores_nothing(self):
        self.browser.open_form()
        status, _, body = self.browser.submit(form_for(tomorrow_at(14, 30)), token="")
        self.assertEqual(status, 403, body)
        stranger = Browser(self.httpd)  # another browser: the token was not issued to it
        token = self.browser.open_form()
        status, _, _ = stranger.submit(form_for(tomorrow_at(14, 30)), token=token)
        self.assertEqual(status, 403)
        self.assertEqual(self.appointment_count(), 0)
        self.assertEqual(self.created_batches(), [])

    def test_wrong_content_type_is_refused(self):
        status, _, _ = self.browser.request("POST", "/appointment", '{"a":1}', {"Content-Type": "application/json"})
        self.assertEqual(status, 415)
        self.assertEqual(self.appointment_count(), 0)

    # --- time ---------------------------------------------------------------------------------
    def test_reminder_slot_already_past_is_stored_but_not_sent_and_staff_are_told(self):
        soon = datetime.datetime.now(NEW_YORK) + datetime.timedelta(minutes=70)
        status, headers, body = self.browser.submit(form_for(soon))
        self.assertEqual(status, 303, body)
        self.assertEqual(self.created_batches(), [])
        self.assertEqual(self.database.scalar("SELECT status FROM reminders"), "too_late")
        page = self.browser.get(headers["location"])[2]
        self.assertIn("No SMS will be sent", page)

    # --- Sinch trouble ----------------------------------------------------------------------------
    def test_sinch_unavailable_keeps_the_appointment_and_says_so(self):
        self.fake.add_fault(match={"method": "POST", "path_regex": "/batches$"}, status=503, probability=1.0)
        status, headers, body = self.browser.submit(form_for(tomorrow_at(15, 0)))
        self.assertEqual(status, 303, body)
        self.assertEqual(self.appointment_count(), 1)
        self.assertEqual(self.database.scalar("SELECT status FROM reminders"), "retrying")
        self.assertEqual(self.database.scalar("SELECT last_http_status FROM reminders"), "503")
        self.assertEqual(self.fake.batches(), [])
        page = self.browser.get(headers["location"])[2]
        self.assertIn("Sinch could not take the reminder yet", page)

    def test_sinch_refusal_is_stored_with_its_code_and_shown(self):
        self.fake.add_fault(match={"method": "POST", "path_regex": "/batches$"}, status=400, probability=1.0,
                            body={"code": "syntax_invalid_parameter_format", "text": "Invalid from address"})
        status, headers, _ = self.browser.submit(form_for(tomorrow_at(15, 0)))
        self.assertEqual(status, 303)
        row = self.database.query("SELECT status, last_error_code FROM reminders")[0]
        self.assertEqual(row, ["failed", "syntax_invalid_parameter_format"])
        page = self.browser.get(headers["location"])[2]
        self.assertIn("Sinch refused the reminder", page)
        self.assertIn("Invalid from address", page)

    def test_lost_response_is_not_retried_blindly_the_batch_is_adopted(self):
        self.fake.add_fault(match={"method": "POST", "path_regex": "/batches$"}, act_then_drop=True, count=1,
                            probability=1.0)
        status, headers, _ = self.browser.submit(form_for(tomorrow_at(16, 0)))
        self.assertEqual(status, 303)
        batches = self.fake.batches()
        self.assertEqual(len(batches), 1)
        self.assertEqual(self.database.scalar("SELECT status FROM reminders"), "scheduled")
        self.assertEqual(self.database.scalar("SELECT batch_id FROM reminders"), batches[0]["id"])
        self.assertEqual(len(self.created_batches()), 1)

    def test_log_never_contains_the_full_phone_number_or_the_message(self):
        self.browser.submit(form_for(tomorrow_at(14, 30)))
        log = self.httpd.read_error_log()
        self.assertNotIn("6502530000", log)
        self.assertNotIn("Reply STOP", log)


class DatabaseDownTest(ServicesTestCase):
    """PostgreSQL unreachable: a clear 503 page, no Sinch call, no crash."""


    def test_database_down_answers_503_and_schedules_nothing(self):
        browser = Browser(self.httpd)
        token = browser.open_form()
        self.database.drop()  # the database disappears under the running server
        status, headers, body = browser.submit(form_for(tomorrow_at(14, 30)), token=token)
        self.assertEqual(status, 503, body)
        self.assertIn("nothing was booked", body)
        self.assertIn('value="Ada Lovelace"', body)  # what staff typed is still on the page
        self.assertEqual(headers["content-type"], "text/html; charset=UTF-8")
        self.assertEqual(self.fake.requests(), [])
        self.assertEqual(browser.get("/appointment/health")[0], 503)
        self.assertNotIn("Segmentation fault", self.httpd.read_error_log())
        self.assertNotIn("exit signal", self.httpd.read_error_log())


if __name__ == "__main__":
    harness.main()
