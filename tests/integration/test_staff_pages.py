"""Staff operations through the pages, in a real httpd with PostgreSQL and the Sinch fake: the list,
cancel and reschedule from the appointment page (CSRF-protected), and the audit trail with the user
Apache authenticated."""
import datetime
import re
import subprocess
import urllib.parse

import harness
from staff_support import (NEW_YORK, USER, StaffBrowser, StaffCase, audit_rows, fake_batch, iso_z, live_batches,
                           reminder_rows, text_of, tomorrow_at, wait_until)


class StaffPagesTest(StaffCase):

    def page(self, appointment_id, query=""):
        status, headers, body = self.browser.get(f"/appointment/a/{appointment_id}{query}")
        self.assertEqual(status, 200, body)
        return body

    # --- the list ----------------------------------------------------------------------------
    def test_list_shows_appointments_in_time_order_with_masked_phones_and_links(self):
        later = self.browser.book(tomorrow_at(11, 0), patient_name="Charles Babbage", phone="(650) 253-0001")
        earlier = self.browser.book(tomorrow_at(9, 30))
        status, headers, body = self.browser.get("/appointment/list")
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["cache-control"], "no-store")
        self.assertLess(body.index(f'/appointment/a/{earlier}"'), body.index(f'/appointment/a/{later}"'))
        self.assertIn("+1********00", body)
        self.assertIn("+1********01", body)
        self.assertNotIn("6502530000", body)  # the full number only on the appointment's own page
        self.assertIn("Scheduled with Sinch", body)
        self.assertIn('data-status="scheduled"', body)

    def test_list_filters_by_name_phone_status_and_dates(self):
        ada = self.browser.book(tomorrow_at(9, 0))
        bob = self.browser.book(tomorrow_at(10, 0), patient_name="Bob Byte", phone="(650) 253-0042")
        far = self.browser.book(tomorrow_at(10, 0, days=5), patient_name="Carol Far", phone="(650) 253-0043")
        self.assertEqual(self.browser.cancel(bob)[0], 303)

        def listed(query):
            status, _, body = self.browser.get("/appointment/list?" + urllib.parse.urlencode(query))
            self.assertEqual(status, 200, body)
            return {i for i in (ada, bob, far) if f"/appointment/a/{i}\"" in body}

        self.assertEqual(listed({}), {ada, bob, far})
        self.assertEqual(listed({"q": "bob"}), {bob})
        self.assertEqual(listed({"q": "BYTE"}), {bob})
        self.assertEqual(listed({"q": "650-253-0043"}), {far})
        self.assertEqual(listed({"q": "0042"}), {bob})
        self.assertEqual(listed({"status": "cancelled"}), {bob})
        self.assertEqual(listed({"status": "scheduled"}), {ada, far})
        day = tomorrow_at(0, 0).strftime("%Y-%m-%d")
        self.assertEqual(listed({"from": day, "to": day}), {ada, bob})
        self.assertEqual(listed({"from": tomorrow_at(0, 0, days=2).strftime("%Y-%m-%d")}), {far})
        # LIKE's wildcards mean nothing in a name search: "%" and "_" only separate words.
        self.assertEqual(listed({"q": "B%te"}), set())  # as a LIKE pattern it would match "Bob Byte"
        self.assertEqual(listed({"q": "Bob_Byte"}), {bob})
        self.assertEqual(listed({"q": "Bob%"}), {bob})
        # Beginnings of words, in any order; not the middle of a word.
        self.assertEqual(listed({"q": "by bo"}), {bob})
        self.assertEqual(listed({"q": "yte"}), set())

    def test_list_refuses_bad_filters_with_a_message(self):
        status, _, body = self.browser.get("/appointment/list?from=2026-02-30&status=bogus")
        self.assertEqual(status, 400)
        text = text_of(body)
        self.assertIn("The start date is not a date", text)
        self.assertIn("Unknown status filter", text)

    def test_list_is_paginated(self):
        # 55 appointments straight into the database (no Sinch involved).
        self.database.query(
            "INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time)"
            " SELECT 'Patient ' || lpad(n::text, 2, '0'), 'Dr. X', '+16502530000',"
            " date_trunc('day', now()) + interval '2 days' + n * interval '10 minutes', 'America/New_York',"
            " '2030-01-01T10:00' FROM generate_series(1, 55) n")
        status, _, first = self.browser.get("/appointment/list")
        self.assertEqual(status, 200)
        self.assertEqual(first.count("<tr data-status"), 50)
        self.assertIn("Patient 01", first)
        self.assertNotIn("Patient 51", first)
        next_url = re.search(r'href="([^"]+)">Next</a>', first).group(1).replace("&amp;", "&")
        self.assertIn("page=2", next_url)
        status, _, second = self.browser.get(next_url)
        self.assertEqual(second.count("<tr data-status"), 5)
        self.assertIn("Patient 55", second)
        self.assertNotIn("Patient 50", second)
        self.assertIn(">Previous</a>", second)
        self.assertNotIn(">Next</a>", second)
        # Back to the first page: the same 50 rows.
        previous_url = re.search(r'href="([^"]+)">Previous</a>', second).group(1).replace("&amp;", "&")
        status, _, back = self.browser.get(previous_url)
        self.assertEqual((status, back.count("<tr data-status")), (200, 50))
        self.assertIn("Patient 01", back)
        self.assertIn("Patient 50", back)

    def test_list_pages_forward_and_back_by_position(self):
        # 120 appointments at the same minute, so only the id orders them: pages must neither skip nor repeat.
        self.database.query(
            "INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time)"
            " SELECT 'Patient ' || lpad(n::text, 3, '0'), 'Dr. X', '+16502530000',"
            " date_trunc('day', now()) + interval '2 days', 'America/New_York', '2030-01-01T10:00'"
            " FROM generate_series(1, 120) n")

        def rows(body):
            return re.findall(r'/appointment/a/([0-9a-f-]{36})"', body)

        def link(body, label):
            found = re.search(rf'href="([^"]+)">{label}</a>', body)
            return found.group(1).replace("&amp;", "&") if found else None

        pages = [self.browser.get("/appointment/list")[2]]
        while link(pages[-1], "Next"):
            pages.append(self.browser.get(link(pages[-1], "Next"))[2])
        self.assertEqual([len(rows(p)) for p in pages], [50, 50, 20])
        seen = [i for p in pages for i in rows(p)]
        self.assertEqual(len(set(seen)), 120)
        self.assertIn("page 3.", pages[2])
        # Previous from page 3 shows page 2 exactly, and says so.
        status, _, back = self.browser.get(link(pages[2], "Previous"))
        self.assertEqual((status, rows(back)), (200, rows(pages[1])))
        self.assertIn("page 2.", back)
        self.assertIn(">Next</a>", back)
        # A position the list did not give out is refused with a message, not a server error.
        status, _, body = self.browser.get("/appointment/list?after=123.nope")
        self.assertEqual(status, 400)
        self.assertIn("page position", body)

    def test_list_name_search_needs_two_letters(self):
        status, _, body = self.browser.get("/appointment/list?q=A")
        self.assertEqual(status, 400)
        self.assertIn("at least 2 letters", text_of(body))

    def test_list_needs_the_login(self):
        anonymous = StaffBrowser(self.httpd, user=None)
        self.assertEqual(anonymous.get("/appointment/list")[0], 401)

    # --- cancel -------------------------------------------------------------------------------
    def test_cancel_cancels_the_batch_at_sinch_and_the_page_says_so(self):
        appointment = self.browser.book(tomorrow_at(14, 30))
        batch_id = reminder_rows(self.database, appointment)[0][2]
        self.assertTrue(batch_id)
        status, headers, body = self.browser.cancel(appointment)
        self.assertEqual(status, 303, body)
        self.assertEqual(headers["location"], f"/appointment/a/{appointment}?done=cancelled")
        self.assertTrue(fake_batch(self.fake, batch_id)["canceled"])
        self.assertEqual(live_batches(self.fake), [])
        self.assertEqual(self.database.scalar(f"SELECT status FROM appointments WHERE id = '{appointment}'"),
                         "cancelled")
        self.assertEqual(reminder_rows(self.database, appointment)[0][1], "cancelled")
        text = text_of(self.page(appointment, "?done=cancelled"))
        self.assertIn("The appointment was cancelled.", text)
        self.assertIn("This appointment is cancelled", text)
        self.assertIn("Cancelled: no SMS will be sent.", text)
        self.assertNotIn("Cancel this appointment", text)  # no forms on a cancelled appointment
        deletes = [r for r in self.fake.requests() if r["method"] == "DELETE"]
        self.assertEqual(len(deletes), 1)

    def test_cancel_twice_is_harmless(self):
        appointment = self.browser.book(tomorrow_at(14, 30))
        token = self.browser.page_token(f"/appointment/a/{appointment}")
        for _ in range(2):
            status, _, _ = self.browser.post_page_form(f"/appointment/a/{appointment}/cancel", {}, token=token)
            self.assertEqual(status, 303)
        self.assertEqual([a for a, _, _ in audit_rows(self.database, appointment)], ["create", "cancel"])
        self.assertEqual(len([r for r in self.fake.requests() if r["method"] == "DELETE"]), 1)

    def test_cancel_after_the_sms_went_out_says_already_sent(self):
        appointment = self.browser.book(tomorrow_at(14, 30))
        self.fake.control("POST", "/_fake/config", {"cancel_dispatched_status": 409})
        self.fake.control("POST", "/_fake/clock", {"advance_seconds": 3 * 86400})  # Sinch has sent it
        self.assertEqual(self.browser.cancel(appointment)[0], 303)
        self.assertEqual(reminder_rows(self.database, appointment)[0][1], "sent")
        text = text_of(self.page(appointment))
        self.assertIn("Already sent", text)
        self.assertIn("Tell the patient the appointment is cancelled", text)
        status, _, listing = self.browser.get("/appointment/list?status=cancelled")
        self.assertIn("Already sent before the cancel", text_of(listing))

    def test_failed_cancel_is_shown_as_a_problem_and_retried(self):
        appointment = self.browser.book(tomorrow_at(14, 30))
        batch_id = reminder_rows(self.database, appointment)[0][2]
        fault = self.fake.add_fault(match={"method": "DELETE"}, status=503, probability=1.0)
        self.assertEqual(self.browser.cancel(appointment)[0], 303)
        self.assertEqual(reminder_rows(self.database, appointment)[0][1], "cancel_failed")
        self.assertIn("Cancelling at Sinch failed; the module keeps trying.", text_of(self.page(appointment)))
        status, _, listing = self.browser.get("/appointment/list?status=problem")
        self.assertIn(f"/appointment/a/{appointment}\"", listing)
        # Sinch is back; the dispatcher's next attempt (made due now) cancels it.
        self.fake.control("DELETE", f"/_fake/faults/{fault['id']}")
        self.database.query(f"UPDATE reminders SET next_attempt_at = now() WHERE appointment_id = '{appointment}'")
        self.assertTrue(wait_until(lambda: fake_batch(self.fake, batch_id)["canceled"], 20),
                        "the dispatcher did not retry the cancel")
        self.assertTrue(wait_until(lambda: reminder_rows(self.database, appointment)[0][1] == "cancelled", 10))

    def test_cancel_without_the_token_is_forbidden_and_changes_nothing(self):
        appointment = self.browser.book(tomorrow_at(14, 30))
        self.browser.get(f"/appointment/a/{appointment}")
        status, _, _ = self.browser.post_page_form(f"/appointment/a/{appointment}/cancel", {}, token="")
        self.assertEqual(status, 403)
        stranger = StaffBrowser(self.httpd)  # another browser: the token was not issued to it
        token = self.browser.page_token(f"/appointment/a/{appointment}")
        status, _, _ = stranger.post_page_form(f"/appointment/a/{appointment}/cancel", {}, token=token)
        self.assertEqual(status, 403)
        self.assertEqual(reminder_rows(self.database, appointment)[0][1], "scheduled")
        self.assertEqual(self.browser.get(f"/appointment/a/{appointment}/cancel")[0], 405)

    def test_cancel_token_of_one_appointment_cannot_cancel_another(self):
        # (Was: a cancel of an unknown appointment is 404. Tokens are now bound to their appointment, so no
        # page issues a token that could cancel an unknown one: it is refused before the lookup.)
        self.browser.book(tomorrow_at(14, 30))
        some = self.database.scalar("SELECT id FROM appointments")
        token = self.browser.page_token(f"/appointment/a/{some}")
        status, _, _ = self.browser.post_page_form("/appointment/a/00000000-0000-0000-0000-000000000000/cancel", {},
                                                   token=token)
        self.assertEqual(status, 403)
        self.assertEqual(self.database.scalar("SELECT status FROM appointments"), "active")

    # --- reschedule -----------------------------------------------------------------------------
    def test_reschedule_leaves_exactly_one_live_batch_at_the_new_time(self):
        appointment = self.browser.book(tomorrow_at(10, 0))
        old_batch = reminder_rows(self.database, appointment)[0][2]
        new_time = tomorrow_at(15, 45)
        status, headers, body = self.browser.reschedule(appointment, new_time)
        self.assertEqual(status, 303, body)
        self.assertEqual(headers["location"], f"/appointment/a/{appointment}?done=rescheduled")
        rows = reminder_rows(self.database, appointment)
        self.assertEqual([(r[0], r[1]) for r in rows], [(1, "superseded"), (2, "scheduled")])
        self.assertTrue(fake_batch(self.fake, old_batch)["canceled"])
        live = live_batches(self.fake)
        self.assertEqual(len(live), 1)
        self.assertEqual(live[0]["id"], rows[1][2])
        self.assertEqual(live[0]["send_at"], iso_z(new_time - datetime.timedelta(hours=2)))
        self.assertEqual(live[0]["client_reference"], f"sr-{appointment}-r2")
        self.assertIn("3:45", live[0]["body"])  # the SMS names the new time
        text = text_of(self.page(appointment, "?done=rescheduled"))
        self.assertIn("The appointment was moved to", text)
        self.assertIn("Earlier reminders", text)
        self.assertIn("Replaced by a newer reminder", text)
        self.assertIn('value="15:45"', self.page(appointment))

    def test_reschedule_of_a_reminder_still_waiting_just_moves_it(self):
        appointment = self.browser.book(tomorrow_at(10, 0, days=20))  # beyond the 7-day horizon
        self.assertEqual(reminder_rows(self.database, appointment)[0][1], "pending")
        self.assertEqual(self.browser.reschedule(appointment, tomorrow_at(11, 0, days=21))[0], 303)
        rows = reminder_rows(self.database, appointment)
        self.assertEqual([(r[0], r[1]) for r in rows], [(1, "superseded"), (2, "pending")])
        self.assertEqual(self.fake.requests(), [])

    def test_reschedule_refusals_keep_the_appointment_and_say_why(self):
        appointment = self.browser.book(tomorrow_at(10, 0))
        page = f"/appointment/a/{appointment}"
        yesterday = datetime.datetime.now(NEW_YORK) - datetime.timedelta(days=1)
        cases = [({"appointment_date": yesterday.strftime("%Y-%m-%d"), "appointment_time": "10:00"},
                  "already passed"),
                 ({"appointment_date": "2026-02-30", "appointment_time": "10:00"}, "not a date"),
                 ({"appointment_date": tomorrow_at(0, 0).strftime("%Y-%m-%d"), "appointment_time": "25:00"},
                  "not a time of day")]
        for fields, message in cases:
            with self.subTest(message=message):
                status, _, body = self.browser.post_page_form(page + "/reschedule", fields, token_from=page)
                self.assertEqual(status, 422, body)
                self.assertIn(message, text_of(body))
                self.assertIn(f'value="{fields["appointment_time"]}"', body)  # what staff typed is kept
        self.assertEqual([(r[0], r[1]) for r in reminder_rows(self.database, appointment)], [(1, "scheduled")])
        self.assertEqual(len(live_batches(self.fake)), 1)

    def test_reschedule_of_a_cancelled_appointment_is_refused(self):
        appointment = self.browser.book(tomorrow_at(10, 0))
        page = f"/appointment/a/{appointment}"
        token = self.browser.page_token(page, "reschedule")
        self.assertEqual(self.browser.cancel(appointment)[0], 303)
        status, _, body = self.browser.post_page_form(page + "/reschedule", {
            "appointment_date": tomorrow_at(0, 0).strftime("%Y-%m-%d"), "appointment_time": "12:00"}, token=token)
        self.assertEqual(status, 409, body)
        self.assertEqual(len(reminder_rows(self.database, appointment)), 1)

    # --- the audit trail ------------------------------------------------------------------------
    def test_audit_trail_shows_who_did_what_from_where(self):
        appointment = self.browser.book(tomorrow_at(10, 0))
        self.assertEqual(self.browser.reschedule(appointment, tomorrow_at(12, 0))[0], 303)
        self.assertEqual(self.browser.cancel(appointment)[0], 303)
        self.assertEqual(audit_rows(self.database, appointment),
                         [("create", USER, "127.0.0.1"), ("reschedule", USER, "127.0.0.1"),
                          ("cancel", USER, "127.0.0.1")])
        body = self.page(appointment)
        trail = text_of(body[body.index('id="audit"'):])
        self.assertIn("Booked", trail)
        self.assertIn("Rescheduled Moved from " + tomorrow_at(10, 0).strftime("%Y-%m-%dT10:00") + " to " +
                      tomorrow_at(12, 0).strftime("%Y-%m-%dT12:00"), trail)
        self.assertIn("Cancelled Status active → cancelled", trail)
        self.assertEqual(trail.count(USER), 3)
        self.assertIn("127.0.0.1", trail)

    def test_log_never_contains_the_full_phone_number(self):
        appointment = self.browser.book(tomorrow_at(10, 0))
        self.browser.reschedule(appointment, tomorrow_at(12, 0))
        self.browser.cancel(appointment)
        self.browser.get("/appointment/list?q=650+253+0000")
        self.assertNotIn("6502530000", self.httpd.read_error_log())



class QuietHoursTest(StaffCase):
    """SinchReminderQuietHours (issue 13 item 4): no SMS at night in the clinic's zone."""

    extra = "SinchReminderQuietHours 21:00-08:00\n"

    def test_a_reminder_due_in_quiet_hours_goes_the_evening_before_and_the_page_says_so(self):
        visit = tomorrow_at(8, 0, days=2)  # 2 h before is 06:00: inside the quiet hours
        appointment = self.browser.book(visit)
        evening_before = (visit - datetime.timedelta(days=1)).replace(hour=20, minute=59)
        batch = fake_batch(self.fake, reminder_rows(self.database, appointment)[0][2])
        self.assertEqual(batch["send_at"], iso_z(evening_before))
        page = text_of(self.browser.get(f"/appointment/a/{appointment}")[2])
        self.assertIn("Quiet hours (21:00–08:00, clinic time): the reminder goes at", page)
        # Moved to the afternoon, the reminder goes 2 h before again, and the page no longer explains a move.
        status, _, _ = self.browser.reschedule(appointment, tomorrow_at(15, 0, days=2))
        self.assertEqual(status, 303)
        self.assertEqual(reminder_rows(self.database, appointment)[-1][3],
                         (tomorrow_at(13, 0, days=2)).astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M"))
        self.assertNotIn("Quiet hours", text_of(self.browser.get(f"/appointment/a/{appointment}")[2]))

    def test_the_admin_tz_recheck_places_moved_reminders_by_lead_time_and_quiet_hours(self):
        visit = tomorrow_at(8, 0, days=2)
        appointment = self.browser.book(visit)
        # As if stored with older time-zone rules: an hour off, its reminder 2 h before that (06:00 local).
        self.database.query(
            f"UPDATE appointments SET starts_at = starts_at + interval '1 hour' WHERE id = '{appointment}';"
            "UPDATE reminders r SET send_at = a.starts_at - interval '2 hours' FROM appointments a"
            f" WHERE a.id = r.appointment_id AND a.id = '{appointment}'")
        admin = [harness.require_env("SR_ADMIN"), "tz-recheck", "--database", self.database.conninfo]
        refused = subprocess.run(admin + ["--quiet-hours", "9pm-8am"], capture_output=True, text=True)
        self.assertEqual(refused.returncode, 2, refused.stderr)
        self.assertIn("--quiet-hours: '9pm-8am' must be HH:MM-HH:MM", refused.stderr)
        done = subprocess.run(admin + ["--lead-time", "2h", "--quiet-hours", "21:00-08:00"],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(appointment, done.stdout)
        # Back at 08:00, and its reminder out of the quiet hours: 20:59 the evening before, not 06:00.
        evening_before = (visit - datetime.timedelta(days=1)).replace(hour=20, minute=59)
        self.assertEqual(reminder_rows(self.database, appointment)[-1][3],
                         evening_before.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M"))

if __name__ == "__main__":
    harness.main()
