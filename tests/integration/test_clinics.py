"""Several clinics on one server and one database (README "Several clinics"): each mount is a clinic with its
own zone, lead time, sender and name; each sees only its own appointments; a node whose configuration lacks a
clinic never touches that clinic's reminders; `apache2 -t` refuses clinics it cannot run."""
import datetime
import json
import re
import time
import zoneinfo

import harness
from harness import Browser, Httpd, HttpdTestCase, ServicesTestCase, form_for, iso_z, wait_until

CHICAGO = zoneinfo.ZoneInfo("America/Chicago")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def server_conf(database, fake_url):
    """What every clinic shares: the database, the Sinch account, the dispatcher settings."""
    return "\n".join([
        f'SinchReminderDatabase "{database}"',
        "SinchReminderServicePlanId test-plan",
        "SinchReminderApiToken test-api-token",
        f"SinchReminderSmsBaseUrl {fake_url}",
        f"SinchReminderAuthBaseUrl {fake_url}",
        "SinchReminderTemplateDir templates",
        "SinchReminderCookieSecure Off",
        "SinchReminderAllowAnonymous On",
        "SinchReminderDefaultCountry US",
        "SinchReminderDispatchInterval 1s",
    ])


CARDIOLOGY = """<Location "/cardiology">
  SetHandler sinch-reminder
  SinchReminderClinic cardiology
  SinchReminderClinicName "Riverside Cardiology"
  SinchReminderTimeZone America/New_York
  SinchReminderFrom +12025550111
</Location>"""

DERMATOLOGY = """<Location "/dermatology">
  SetHandler sinch-reminder
  SinchReminderClinic dermatology
  SinchReminderClinicName "Lakeside Dermatology"
  SinchReminderTimeZone America/Chicago
  SinchReminderLeadTime 1d
  SinchReminderFrom +12025550122
</Location>"""

FRONT_DESK = """<Location "/frontdesk">
  SetHandler sinch-reminder
  SinchReminderClinic frontdesk
  SinchReminderTimeZone America/New_York
  SinchReminderFrom +12025550100
  SinchReminderSeeClinics cardiology dermatology
</Location>"""


def local_day_after_tomorrow(zone, hour, minute):
    day = datetime.datetime.now(zone).date() + datetime.timedelta(days=2)
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


class TwoClinicsOnOneServerTest(ServicesTestCase):
    @classmethod
    def make_httpd(cls, database, fake):
        return Httpd(server_conf(database.conninfo, fake.url) + "\n" + CARDIOLOGY + "\n" + DERMATOLOGY + "\n" +
                     FRONT_DESK)

    def book(self, mount, when, **fields):
        status, headers, body = Browser(self.httpd).submit(form_for(when, **fields), path=mount)
        self.assertEqual(status, 303, body[:2000])
        self.assertTrue(headers["location"].startswith(mount + "/a/"), headers["location"])
        return headers["location"].rsplit("/", 1)[1]

    def created(self):
        return [r["json"] for r in self.fake.requests() if r["method"] == "POST" and r["path"].endswith("/batches")]

    def test_each_reminder_carries_its_clinics_sender_text_zone_and_lead_time(self):
        heart_at = local_day_after_tomorrow(NEW_YORK, 9, 15)
        skin_at = local_day_after_tomorrow(CHICAGO, 16, 45)
        heart = self.book("/cardiology", heart_at, patient_name="Hank Heart", phone="(650) 253-0001")
        skin = self.book("/dermatology", skin_at, patient_name="Sara Skin", phone="(650) 253-0002")
        self.assertTrue(wait_until(lambda: len(self.created()) == 2), self.created())
        by_phone = {c["to"][0]: c for c in self.created()}
        heart_batch, skin_batch = by_phone["+16502530001"], by_phone["+16502530002"]
        # The sender, the name in the text and the send time are each clinic's own, computed in its own zone
        # (9:15 New York, 2 h before; 16:45 Chicago, 1 day before), against Python's zoneinfo.
        self.assertEqual(heart_batch["from"], "+12025550111")
        self.assertEqual(skin_batch["from"], "+12025550122")
        self.assertIn("Riverside Cardiology", heart_batch["body"])
        self.assertIn("Lakeside Dermatology", skin_batch["body"])
        self.assertNotIn("Riverside", skin_batch["body"])
        self.assertIn("9:15", heart_batch["body"])
        self.assertIn("4:45", skin_batch["body"])
        self.assertEqual(heart_batch["send_at"], iso_z(heart_at - datetime.timedelta(hours=2)))
        self.assertEqual(skin_batch["send_at"], iso_z(skin_at - datetime.timedelta(days=1)))
        self.assertEqual(dict(self.database.query("SELECT id::text, clinic FROM appointments")),
                         {heart: "cardiology", skin: "dermatology"})
        self.assertEqual(dict(self.database.query("SELECT id::text, time_zone FROM appointments")),
                         {heart: "America/New_York", skin: "America/Chicago"})

    def test_each_mount_lists_shows_and_changes_only_its_own_clinic(self):
        heart = self.book("/cardiology", local_day_after_tomorrow(NEW_YORK, 10, 0), patient_name="Hank Heart")
        skin = self.book("/dermatology", local_day_after_tomorrow(CHICAGO, 11, 0), patient_name="Sara Skin")

        _, _, heart_list = self.httpd.get("/cardiology/list")
        self.assertIn("Hank Heart", heart_list)
        self.assertNotIn("Sara Skin", heart_list)
        status, _, body = self.httpd.get("/dermatology/api/appointments")
        self.assertEqual(status, 200, body)
        self.assertEqual([a["id"] for a in json.loads(body)["appointments"]], [skin])

        # Another clinic's appointment does not exist at this mount: no page, no API read, no cancel.
        status, _, _ = self.httpd.get(f"/dermatology/a/{heart}")
        self.assertEqual(status, 404)
        status, _, body = self.httpd.get(f"/dermatology/api/appointments/{heart}")
        self.assertEqual(status, 404, body)
        status, _, body = self.httpd.post_json(f"/dermatology/api/appointments/{heart}/cancel", {})
        self.assertEqual(status, 404, body)
        self.assertEqual(self.database.scalar(f"SELECT status FROM appointments WHERE id = '{heart}'"), "active")

        # The front desk sees both (SinchReminderSeeClinics), each marked with its clinic, and may cancel either.
        status, _, body = self.httpd.get("/frontdesk/api/appointments")
        self.assertEqual({a["id"]: a["clinic"] for a in json.loads(body)["appointments"]},
                         {heart: "cardiology", skin: "dermatology"})
        _, _, desk_list = self.httpd.get("/frontdesk/list")
        self.assertIn('<th scope="col">Clinic</th>', desk_list)
        self.assertRegex(desk_list, r"<td>cardiology</td>\s*<td>Hank Heart</td>")
        self.assertRegex(desk_list, r"<td>dermatology</td>\s*<td>Sara Skin</td>")
        self.assertNotIn('<th scope="col">Clinic</th>', heart_list)  # one clinic: no column
        status, _, body = self.httpd.post_json(f"/frontdesk/api/appointments/{heart}/cancel", {})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.database.scalar(f"SELECT status FROM appointments WHERE id = '{heart}'"), "cancelled")

    def test_the_startup_log_names_each_clinic_with_its_mount_zone_and_sender(self):
        log = self.httpd.read_error_log()
        self.assertRegex(log, r"SR0022: .*clinic cardiology at /cardiology: time zone America/New_York, "
                              r"lead time 2h, sender \+12025550111")
        self.assertRegex(log, r"SR0022: .*clinic dermatology at /dermatology: time zone America/Chicago, "
                              r"lead time 1d, sender \+12025550122")


class ANodeWithoutAClinicLeavesItsRemindersAloneTest(ServicesTestCase):
    """Two nodes share a database; this one has only cardiology. Dermatology's due reminder must stay as it
    is until a node that has dermatology hands it over, with dermatology's sender."""

    @classmethod
    def make_httpd(cls, database, fake):
        return Httpd(server_conf(database.conninfo, fake.url) + "\n" + CARDIOLOGY)

    def insert_due_reminder(self, clinic, phone):
        self.database.query(f"""
            WITH a AS (INSERT INTO appointments (clinic, patient_name, doctor_name, phone_e164, starts_at,
                                                 time_zone, local_wall_time)
                       VALUES ('{clinic}', 'Patient', 'Dr. Who', '{phone}', date_trunc('minute', now()) + interval '3 hours',
                               'America/New_York', '2026-12-01T14:30') RETURNING id, starts_at, time_zone)
            INSERT INTO reminders (appointment_id, revision, send_at, time_zone, status, body)
            SELECT id, 1, starts_at - interval '2 hours', time_zone, 'pending', 'Reminder for {clinic}' FROM a""")

    def test_only_the_nodes_own_clinics_reminders_are_handed_over(self):
        self.insert_due_reminder("cardiology", "+16502530011")
        self.insert_due_reminder("dermatology", "+16502530012")
        self.assertTrue(wait_until(lambda: len(self.fake.batches()) == 1), self.fake.batches())
        # Several more dispatcher passes (1 s apart) leave dermatology's reminder untouched.
        time.sleep(4)
        self.assertEqual([b["to"] for b in self.fake.batches()], [["16502530011"]])  # Sinch lists MSISDNs without '+' 
        rows = dict(self.database.query(
            "SELECT a.clinic, r.status || ' ' || r.attempts FROM reminders r JOIN appointments a"
            " ON a.id = r.appointment_id"))
        self.assertEqual(rows, {"cardiology": "scheduled 1", "dermatology": "pending 0"})
        # ... and this node says so: in /health and in its log (SR0028).
        status, _, body = self.httpd.get("/cardiology/health")
        self.assertEqual(json.loads(body)["reminders_of_clinics_not_here"], {"dermatology": 1}, body)
        # (looked for every 10 s; said when it changes)
        self.assertTrue(wait_until(lambda: "SR0028: 1 reminder(s) of clinic dermatology are due" in
                                   self.httpd.read_error_log(), timeout=20), self.httpd.read_error_log())

        # A node that has dermatology takes it, with dermatology's sender.
        other = Httpd(server_conf(self.database.conninfo, self.fake.url) + "\n" + DERMATOLOGY)
        try:
            other.start()
            self.assertTrue(wait_until(lambda: len(self.fake.batches()) == 2), self.fake.batches())
            skin = [b for b in self.fake.batches() if b["to"] == ["16502530012"]]
            self.assertEqual([b["from"] for b in skin], ["12025550122"])
            status, _, body = self.httpd.get("/cardiology/health")
            self.assertEqual(json.loads(body)["reminders_of_clinics_not_here"], {}, body)
        finally:
            other.cleanup()


class ClinicConfigurationTest(HttpdTestCase):
    """What `apache2 -t` refuses about clinics, each with a message that says what to change."""

    BASE = server_conf("host=127.0.0.1 port=5 dbname=x", "http://127.0.0.1:9")

    def configtest(self, conf):
        self.httpd = Httpd(self.BASE + "\n" + conf)
        try:
            return self.httpd.configtest()
        finally:
            self.httpd.cleanup()

    def test_two_mounts_with_one_key_and_different_settings_are_refused(self):
        code, output = self.configtest(CARDIOLOGY + "\n" + CARDIOLOGY.replace("/cardiology", "/heart").replace(
            "America/New_York", "America/Chicago"))
        self.assertNotEqual(code, 0, output)
        self.assertRegex(output, r"SinchReminderClinic cardiology is served by .*/cardiology.* and "
                                 r".*/heart.* with different settings \(time_zone\)")

    def test_two_mounts_with_one_key_and_the_same_settings_are_one_clinic(self):
        code, output = self.configtest(CARDIOLOGY + "\n" + CARDIOLOGY.replace("/cardiology", "/heart"))
        self.assertEqual(code, 0, output)

    def test_a_clinic_without_a_time_zone_is_refused_and_named(self):
        code, output = self.configtest(CARDIOLOGY + "\n" + DERMATOLOGY.replace(
            "  SinchReminderTimeZone America/Chicago\n", ""))
        self.assertNotEqual(code, 0, output)
        self.assertRegex(output, r"clinic dermatology: .*SinchReminderTimeZone")

    def test_a_server_setting_inside_a_location_is_refused(self):
        code, output = self.configtest(CARDIOLOGY.replace(
            "</Location>", '  SinchReminderDatabase "dbname=other"\n</Location>'))
        self.assertNotEqual(code, 0, output)
        self.assertIn("SinchReminderDatabase", output)
        self.assertIn("not allowed in <Location> context", output)

    def test_a_clinic_setting_in_a_directory_section_is_refused(self):
        code, output = self.configtest(CARDIOLOGY + '\n<Directory "/tmp">\n  SinchReminderLeadTime 1h\n</Directory>')
        self.assertNotEqual(code, 0, output)
        self.assertRegex(output, r"SinchReminderLeadTime: a clinic's setting belongs in the <Location> of its mount")

    def test_a_malformed_clinic_key_is_refused(self):
        code, output = self.configtest(CARDIOLOGY.replace("SinchReminderClinic cardiology", "SinchReminderClinic Cardio!"))
        self.assertNotEqual(code, 0, output)
        self.assertIn("SinchReminderClinic: 'Cardio!' is not a clinic key", output)


if __name__ == "__main__":
    harness.main()
