"""What may go into the clinic's SMS (issue 12 item 5): no links or markup in a typed doctor's name, a list of
doctors to choose from (SinchReminderDoctors), only numbers of allowed countries
(SinchReminderAllowedCountries), a per-user booking limit counted in PostgreSQL
(SinchReminderBookingsPerUserPerHour), and no SMS longer than SinchReminderMaxSegments parts (issue 13 item 6):
form and JSON API alike; staff see the exact SMS and its parts on the appointment page."""
import json

import harness
from harness import form_for
from staff_support import (API_PASSWORD, API_USER, StaffBrowser, StaffCase, basic, fake_batch, reminder_rows,
                           staff_httpd, text_of, tomorrow_at)


def api_book(httpd, **overrides):
    document = {"patient_name": "Ada Lovelace", "doctor_name": "Dr. Grace Hopper", "phone": "+1 650 253 0000",
                "appointment_local": tomorrow_at(14, 30).strftime("%Y-%m-%dT%H:%M")}
    document.update(overrides)
    status, headers, body = httpd.post_json("/appointment/api/appointments", document,
                                            {"Authorization": basic(API_USER, API_PASSWORD)})
    return status, headers, json.loads(body)


class SmsContentCase(StaffCase):

    def submit(self, **overrides):
        return self.browser.submit(form_for(tomorrow_at(14, 30), **overrides))


class FreeTextDoctorTest(SmsContentCase):
    def test_links_markup_and_numbers_in_the_doctors_name_are_refused(self):
        for doctor in ("Dr. Hopper www.clinic-refunds.example", "Dr. Hopper, see bit.ly/x1",
                       "<a href=x>Dr. Hopper</a>", "Dr. Hopper https://evil", "Dr. Hopper call 0900 123 456",
                       "Dr. Hopper mail@evil.example"):
            with self.subTest(doctor):
                status, _, page = self.submit(doctor_name=doctor)
                self.assertEqual(status, 422, page[:300])
                self.assertIn("The doctor's name must not contain", text_of(page))
                status, _, answer = api_book(self.httpd, doctor_name=doctor)
                self.assertEqual(status, 422)
                self.assertIn("must not contain", answer["fields"]["doctor_name"])
        self.assertEqual(self.database.scalar("SELECT count(*) FROM appointments"), "0")
        for doctor in ("Dr. Grace Hopper", "Dr. O'Neil-Smith", "Prof. Dr. Müller (Cardiology)"):
            with self.subTest(doctor):
                status, _, page = self.submit(doctor_name=doctor)
                self.assertEqual(status, 303, page[:500])


class DoctorListTest(SmsContentCase):
    extra = 'SinchReminderDoctors "Dr. Grace Hopper" "Dr. Ada Byron"\nSinchReminderDoctors "Dr. Alan Turing"\n'

    def test_the_form_offers_the_list_and_anything_else_is_refused(self):
        status, _, page = self.browser.get("/appointment")
        self.assertEqual(status, 200)
        self.assertIn('<select id="doctor_name" name="doctor_name"', page)
        for doctor in ("Dr. Grace Hopper", "Dr. Ada Byron", "Dr. Alan Turing"):
            self.assertIn(f'<option value="{doctor}">', page)
        status, _, page = self.submit(doctor_name="Dr. Mallory")
        self.assertEqual(status, 422)
        self.assertIn("Choose the doctor from the list.", text_of(page))
        status, _, answer = api_book(self.httpd, doctor_name="Dr. Mallory")
        self.assertEqual((status, answer["fields"]["doctor_name"]), (422, "Choose the doctor from the list."))
        self.assertEqual(self.submit(doctor_name="Dr. Alan Turing")[0], 303)
        self.assertEqual(api_book(self.httpd, doctor_name="Dr. Ada Byron")[0], 201)


class AllowedCountriesTest(SmsContentCase):
    extra = "SinchReminderAllowedCountries US CA\n"

    def test_a_number_of_another_country_is_refused(self):
        status, _, page = self.submit(phone="+44 20 7946 0958")
        self.assertEqual(status, 422)
        self.assertIn("only to numbers of US, CA", text_of(page))
        status, _, answer = api_book(self.httpd, phone="+49 30 123456789")
        self.assertEqual(status, 422)
        self.assertIn("only to numbers of US, CA", answer["fields"]["phone"])
        self.assertEqual(self.submit(phone="+1 613 992 4793")[0], 303)  # Ottawa
        self.assertEqual(self.submit()[0], 303)


class SmsLengthTest(SmsContentCase):
    extra = "SinchReminderMaxSegments 1\n"
    LONG_DOCTOR = "Dr. Maximiliane Alexandra Featherstonehaugh-Abbott of Cardiology"

    def test_a_doctors_name_that_makes_the_sms_longer_than_allowed_is_refused(self):
        status, _, page = self.submit(doctor_name=self.LONG_DOCTOR)
        self.assertEqual(status, 422, page[:300])
        self.assertIn("With this doctor's name the reminder SMS would need 2 parts; this clinic sends at most 1.",
                      text_of(page))
        status, _, answer = api_book(self.httpd, doctor_name=self.LONG_DOCTOR)
        self.assertEqual(status, 422)
        self.assertIn("would need 2 parts", answer["fields"]["doctor_name"])
        self.assertEqual(self.database.scalar("SELECT count(*) FROM appointments"), "0")
        self.assertEqual(self.fake.batches(), [])

    def test_the_appointment_page_shows_the_sms_exactly_as_sent_and_its_parts(self):
        appointment = self.browser.book(tomorrow_at(14, 30), doctor_name="Dr. Grace Hopper")
        sent = fake_batch(self.fake, reminder_rows(self.database, appointment)[0][2])["body"]
        self.assertTrue(sent.startswith("Riverside Clinic reminder: your appointment with Dr. Grace Hopper is on "))
        status, _, page = self.browser.get(f"/appointment/a/{appointment}")
        self.assertEqual(status, 200)
        self.assertIn(f"Text {sent} 1 SMS part · GSM-7 alphabet · {len(sent)} of 160 characters", text_of(page))


class BookingLimitTest(SmsContentCase):
    extra = "SinchReminderBookingsPerUserPerHour 3\n"

    def setUp(self):
        super().setUp()
        self.database.query("DELETE FROM booking_counts")

    def test_over_the_limit_is_429_with_retry_after_in_the_page_and_the_api_across_nodes(self):
        other_node = staff_httpd(self.database, self.fake, extra=self.extra)  # a second node, same database
        other_node.start()
        try:
            self.assertEqual(self.submit(patient_name="One")[0], 303)
            self.assertEqual(StaffBrowser(other_node).submit(form_for(tomorrow_at(15, 0), patient_name="Two"))[0],
                             303)
            self.assertEqual(self.submit(patient_name="Three")[0], 303)
            status, headers, page = StaffBrowser(other_node).submit(form_for(tomorrow_at(16, 0), patient_name="Four"))
            self.assertEqual(status, 429, page[:300])
            self.assertTrue(0 < int(headers["retry-after"]) <= 3600, headers)
            self.assertIn("You have booked 3 appointments in the last hour", text_of(page))
            self.assertIn('value="Four"', page)  # the entries are kept
        finally:
            other_node.cleanup()
        self.assertEqual(self.database.scalar("SELECT count(*) FROM appointments"), "3")
        # The API user has a limit of its own, and gets JSON.
        for _ in range(3):
            self.assertEqual(api_book(self.httpd)[0], 201)
        status, headers, answer = api_book(self.httpd)
        self.assertEqual(status, 429)
        self.assertTrue(0 < int(headers["retry-after"]) <= 3600, headers)
        self.assertIn("in the last hour", answer["error"])


if __name__ == "__main__":
    harness.main()
