"""SinchReminderSchedule (issue 13 item 3) in a real httpd with PostgreSQL and the Sinch fake: each schedule
entry is its own reminder and batch, at the instant Python's zoneinfo computes (fold=0: the module's gap and
overlap policy); cancel and reschedule end or move all of them; one whose time has passed at booking is too_late
while the others still go; the pages and the API show each; apache2 -t refuses a schedule beside a lead time."""
import datetime
import json

import harness
from harness import Httpd, HttpdTestCase, module_conf
from staff_support import (API_PASSWORD, API_USER, NEW_YORK, StaffCase, basic, fake_batch, live_batches,
                           text_of, tomorrow_at)

UTC = datetime.timezone.utc
AUTH = {"Authorization": basic(API_USER, API_PASSWORD)}
SCHEDULE = "SinchReminderSchedule 1d@18:00 2h"


def iso_ms(moment):
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def expected_send_ats(when):
    """zoneinfo's answer for `1d@18:00 2h`: the clinic day before at 18:00 (fold=0), and 2 h of elapsed time."""
    day_before = when.date() - datetime.timedelta(days=1)
    evening = datetime.datetime(day_before.year, day_before.month, day_before.day, 18, 0, tzinfo=NEW_YORK)
    return [iso_ms(evening), iso_ms(when.astimezone(UTC) - datetime.timedelta(hours=2))]


def local(moment):
    return moment.strftime("%Y-%m-%dT%H:%M")


class ReminderScheduleTest(StaffCase):
    extra = SCHEDULE

    def api(self, method, path, document=None):
        headers = dict(AUTH)
        body = None
        if document is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(document)
        status, _, text = self.httpd.request(method, "/appointment/api" + path, body, headers)
        return status, json.loads(text)

    def book(self, when):
        status, a = self.api("POST", "/appointments", {"patient_name": "Ada Lovelace",
                                                        "doctor_name": "Dr. Grace Hopper",
                                                        "phone": "+1 650 253 0000",
                                                        "appointment_local": local(when)})
        self.assertEqual(status, 201, a)
        return a

    def appointment(self, appointment_id):
        status, a = self.api("GET", f"/appointments/{appointment_id}")
        self.assertEqual(status, 200, a)
        return a

    def batches_of(self, appointment_id):
        return sorted((b for b in self.fake.batches() if appointment_id in b.get("client_reference", "")),
                      key=lambda b: b["client_reference"])

    def test_each_entry_is_its_own_batch_at_zoneinfos_instant_and_cancel_ends_both(self):
        when = tomorrow_at(9, 0, days=3)
        a = self.book(when)
        # The booking request hands both over itself (not the next background pass): the answer says so.
        self.assertEqual([(r["slot"], r["status"]) for r in a["reminders"]], [(1, "scheduled"), (2, "scheduled")])
        ref = f"sr-{a['id']}-r1"
        harness.wait_until(lambda: len(self.batches_of(a["id"])) == 2)
        batches = self.batches_of(a["id"])
        self.assertEqual([b["client_reference"] for b in batches], [ref, ref + "-s2"])
        self.assertEqual([b["send_at"] for b in batches], expected_send_ats(when))
        harness.wait_until(lambda: all(r["status"] == "scheduled" for r in self.appointment(a["id"])["reminders"]))
        shown = self.appointment(a["id"])
        self.assertEqual([(r["slot"], r["status"], r["client_reference"]) for r in shown["reminders"]],
                         [(1, "scheduled", ref), (2, "scheduled", ref + "-s2")])
        self.assertEqual(sorted(r["batch_id"] for r in shown["reminders"]), sorted(b["id"] for b in batches))
        # `reminder` is the next one to go: the evening before.
        self.assertEqual(shown["reminder"]["slot"], 1)

        status, cancelled = self.api("POST", f"/appointments/{a['id']}/cancel", {})
        self.assertEqual(status, 200, cancelled)
        self.assertEqual([r["status"] for r in cancelled["reminders"]], ["cancelled", "cancelled"])
        for batch in batches:
            self.assertTrue(fake_batch(self.fake, batch["id"])["canceled"], batch)
        self.assertEqual(live_batches(self.fake), [])

    def test_reschedule_cancels_both_old_batches_and_makes_two_new_ones(self):
        a = self.book(tomorrow_at(9, 0, days=3))
        harness.wait_until(lambda: len(self.batches_of(a["id"])) == 2)
        old = self.batches_of(a["id"])
        new = tomorrow_at(15, 30, days=4)
        status, moved = self.api("POST", f"/appointments/{a['id']}/reschedule", {"appointment_local": local(new)})
        self.assertEqual(status, 200, moved)
        for batch in old:
            self.assertTrue(fake_batch(self.fake, batch["id"])["canceled"], batch)
        harness.wait_until(lambda: len(live_batches(self.fake)) == 2)
        live = sorted(live_batches(self.fake), key=lambda b: b["client_reference"])
        ref = f"sr-{a['id']}-r2"
        self.assertEqual([b["client_reference"] for b in live], [ref, ref + "-s2"])
        self.assertEqual([b["send_at"] for b in live], expected_send_ats(new))
        shown = self.appointment(a["id"])
        self.assertEqual([(r["revision"], r["slot"], r["status"]) for r in shown["reminders"]],
                         [(1, 1, "superseded"), (1, 2, "superseded"), (2, 1, "scheduled"), (2, 2, "scheduled")])

    def test_a_slot_passed_at_booking_is_too_late_and_the_other_still_goes(self):
        # Four hours from now: the evening before at 18:00 is gone (today's or yesterday's), 2 h before is not.
        when = (datetime.datetime.now(UTC) + datetime.timedelta(hours=4)).astimezone(NEW_YORK).replace(
            second=0, microsecond=0)
        a = self.book(when)
        self.assertTrue(any("the other reminder still goes" in n for n in a.get("notices", [])), a)
        self.assertEqual(a["reminders"][0]["status"], "too_late")  # stored so, never claimed
        harness.wait_until(lambda: len(self.batches_of(a["id"])) == 1)
        batch = self.batches_of(a["id"])[0]
        self.assertEqual(batch["client_reference"], f"sr-{a['id']}-r1-s2")
        self.assertEqual(batch["send_at"], expected_send_ats(when)[1])
        harness.wait_until(lambda: self.appointment(a["id"])["reminders"][1]["status"] == "scheduled")
        shown = self.appointment(a["id"])
        self.assertEqual([(r["slot"], r["status"]) for r in shown["reminders"]], [(1, "too_late"), (2, "scheduled")])
        self.assertEqual(shown["reminder"]["slot"], 2)
        self.assertIsNone(shown["reminders"][0]["batch_id"])

    def test_the_pages_show_each_reminder(self):
        when = tomorrow_at(10, 0, days=2)
        appointment_id = self.browser.book(when)
        harness.wait_until(lambda: len(self.batches_of(appointment_id)) == 2)
        status, _, page = self.browser.get(f"/appointment/a/{appointment_id}")
        self.assertEqual(status, 200, page)
        self.assertIn('id="reminders"', page)
        self.assertIn('data-slot="1"', page)
        self.assertIn('data-slot="2"', page)
        for batch in self.batches_of(appointment_id):
            self.assertIn(batch["id"], page)
        status, _, listing = self.browser.get("/appointment/list")
        self.assertEqual(status, 200, listing)
        self.assertIn("next of 2 reminders", text_of(listing))


class ScheduleConfigTest(HttpdTestCase):
    def configtest(self, body):
        httpd = Httpd(body)
        try:
            return httpd.configtest()
        finally:
            httpd.cleanup()

    def test_a_schedule_beside_a_lead_time_stops_apache_t(self):
        base = module_conf("host=127.0.0.1 port=5 dbname=x", "http://127.0.0.1:9")
        rc, output = self.configtest(base + "\n" + SCHEDULE)
        self.assertEqual(rc, 0, output)
        rc, output = self.configtest(base + "\n" + SCHEDULE + "\nSinchReminderLeadTime 3h")
        self.assertNotEqual(rc, 0, output)
        self.assertIn("SinchReminderSchedule and SinchReminderLeadTime are both set", output)
        # A mount's schedule under a server-wide lead time: the same.
        mounted = module_conf("host=127.0.0.1 port=5 dbname=x", "http://127.0.0.1:9",
                              extra="SinchReminderLeadTime 3h", location_extra=f"  {SCHEDULE}\n")
        rc, output = self.configtest(mounted)
        self.assertNotEqual(rc, 0, output)
        self.assertIn("SinchReminderSchedule and SinchReminderLeadTime are both set", output)


if __name__ == "__main__":
    harness.main()
