"""sinch-reminder-admin reads the clinic settings it needs from httpd's configuration (issue 15): httpd writes
each clinic's settings to the clinics file at start (SinchReminderClinicsFile, default in DefaultRuntimeDir), and
`tz-recheck --clinic KEY` with nothing but the database re-makes that clinic's SMS texts and send times with
them; flags still override; an unknown clinic or a missing file is a clear usage error."""
import datetime
import json
import os
import subprocess

import harness
from harness import Browser, Database, Httpd, HttpdTestCase, form_for, require_env, wait_until

from test_clinics import CHICAGO, NEW_YORK, server_conf as clinics_server_conf


def server_conf(database, fake_url):
    """test_clinics' shared server settings, one sender for both clinics, and a horizon far enough that the
    dispatcher leaves the reminders in the database for this test to look at."""
    return clinics_server_conf(database, fake_url) + "\nSinchReminderFrom +12025550100\nSinchReminderHorizon 1h"


CARDIOLOGY = """<Location "/cardiology">
  SetHandler sinch-reminder
  SinchReminderClinic cardiology
  SinchReminderClinicName "Riverside Cardiology"
  SinchReminderTimeZone America/New_York
</Location>"""

DERMATOLOGY = """<Location "/dermatology">
  SetHandler sinch-reminder
  SinchReminderClinic dermatology
  SinchReminderClinicName "Lakeside Dermatology"
  SinchReminderTimeZone America/Chicago
  SinchReminderLocale en_GB
  SinchReminderLeadTime 1d
  SinchReminderQuietHours 22:00-07:00
  SinchReminderMessage "{{clinic}}: see {{doctor}} on {{date_time}}. Reply STOP to opt out."
  SinchReminderLanguages en es
  SinchReminderMessage es "{{clinic}}: cita con {{doctor}} el {{date_time}}. Responda STOP para no recibir más."
</Location>"""


def in_three_days(zone, hour, minute):
    day = datetime.datetime.now(zone).date() + datetime.timedelta(days=3)
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def utc_minute(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M")


class ClinicsFileTest(HttpdTestCase):
    @classmethod
    def setUpClass(cls):
        cls.database = Database()
        cls.fake = harness.SinchFake()
        cls.httpd = Httpd(server_conf(cls.database.conninfo, cls.fake.url) + "\n" + CARDIOLOGY + "\n" +
                          DERMATOLOGY)
        cls.httpd.start()
        cls.clinics_file = os.path.join(cls.httpd.root, "run", "sinch-reminder-clinics.json")
        # httpd listens from its first configuration pass on; the file comes with the second (the real start).
        wait_until(lambda: os.path.exists(cls.clinics_file))

    @classmethod
    def tearDownClass(cls):
        cls.httpd.cleanup()
        cls.fake.stop()
        cls.database.drop()

    def admin(self, *args, clinics_file=None):
        """The admin tool with the clinics file in the environment, as a Debian host has it at the default."""
        environment = dict(os.environ, SINCH_REMINDER_CLINICS_FILE=clinics_file or self.clinics_file)
        return subprocess.run([require_env("SR_ADMIN"), "tz-recheck", "--database", self.database.conninfo, *args],
                              capture_output=True, text=True, env=environment)

    def book(self, mount, when, **fields):
        status, headers, body = Browser(self.httpd).submit(form_for(when, **fields), path=mount)
        self.assertEqual(status, 303, body[:2000])
        return headers["location"].rsplit("/", 1)[1]

    def age(self, appointment):
        """As if stored under older time-zone rules: an hour off, its reminder 2 h before that."""
        self.database.query(
            f"UPDATE appointments SET starts_at = starts_at + interval '1 hour' WHERE id = '{appointment}';"
            "UPDATE reminders r SET send_at = a.starts_at - interval '2 hours' FROM appointments a"
            f" WHERE a.id = r.appointment_id AND a.id = '{appointment}'")

    def current_reminder(self, appointment):
        return self.database.query(
            "SELECT r.body, to_char(r.send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI') FROM reminders r"
            f" JOIN appointments a ON a.id = r.appointment_id AND a.revision = r.revision WHERE a.id = '{appointment}'"
        )[0]

    def test_1_httpd_writes_each_clinics_settings_and_no_secret(self):
        with open(self.clinics_file) as f:
            text = f.read()
        self.assertEqual(os.stat(self.clinics_file).st_mode & 0o777, 0o644)
        for secret in ("test-api-token", "user=postgres", "password"):
            self.assertNotIn(secret, text)
        document = json.loads(text)
        clinics = {c["key"]: c for c in document["clinics"]}
        self.assertEqual(sorted(clinics), ["cardiology", "dermatology"])
        derm = clinics["dermatology"]
        self.assertEqual(derm["time_zone"], "America/Chicago")
        self.assertEqual(derm["clinic_name"], "Lakeside Dermatology")
        self.assertEqual(derm["locale"], "en_GB")
        self.assertEqual(derm["lead_time_seconds"], 86400)
        self.assertEqual(derm["quiet_hours"], "22:00-07:00")
        self.assertEqual(derm["schedule"], "1d")  # SinchReminderLeadTime 1d: one reminder a day before
        self.assertEqual(derm["mounts"], ["/dermatology"])
        self.assertEqual(derm["database"], f"host=127.0.0.1 port={self.database.port} dbname={self.database.name}")
        self.assertEqual(clinics["cardiology"]["time_zone"], "America/New_York")
        self.assertEqual(clinics["cardiology"]["lead_time_seconds"], 7200)
        # Each language's text (the clinic's own first, as SinchReminderLanguages lists them).
        self.assertEqual([(l["code"], l["message"][:20]) for l in derm["languages"]],
                         [("en", "{{clinic}}: see {{do"), ("es", "{{clinic}}: cita con")])
        self.assertEqual([l["code"] for l in clinics["cardiology"]["languages"]], ["en"])
        self.assertIn("wrote the settings of 2 clinic(s) to", self.httpd.read_error_log())

    def test_2_tz_recheck_takes_a_clinics_settings_from_the_file(self):
        heart = self.book("/cardiology", in_three_days(NEW_YORK, 9, 15))
        skin_at = in_three_days(CHICAGO, 16, 0)
        skin = self.book("/dermatology", skin_at)
        self.age(heart)
        self.age(skin)

        dry = self.admin("--clinic", "dermatology", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn(f'clinic dermatology (settings from {self.clinics_file}): time zone America/Chicago, name '
                      '"Lakeside Dermatology", locale en_GB, lead time 1d, quiet hours 22:00-07:00', dry.stdout)
        self.assertIn(f"{skin}  {skin_at.strftime('%Y-%m-%d')}T16:00 America/Chicago", dry.stdout)
        self.assertNotIn(heart, dry.stdout)
        self.assertIn("would move 1 of 1 future appointment(s)", dry.stdout)

        # Flags still override the file.
        overridden = self.admin("--clinic", "dermatology", "--dry-run", "--locale", "de_DE", "--lead-time", "3h")
        self.assertEqual(overridden.returncode, 0, overridden.stderr)
        self.assertIn('locale de_DE, lead time 3h, quiet hours 22:00-07:00', overridden.stdout)

        # For real: the new text is the clinic's message in its name, the reminder a day before (its lead time).
        done = self.admin("--clinic", "dermatology")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("moved 1 of 1", done.stdout)
        body, send_at = self.current_reminder(skin)
        self.assertTrue(body.startswith("Lakeside Dermatology: see Dr. Grace Hopper on "), body)
        self.assertEqual(send_at, utc_minute(skin_at - datetime.timedelta(days=1)))
        # Cardiology was not touched: still an hour off.
        self.assertIn(heart, self.admin("--clinic", "cardiology", "--dry-run").stdout)

        # Without --clinic: every clinic in the file, each with its own settings.
        every = self.admin()
        self.assertEqual(every.returncode, 0, every.stderr)
        self.assertIn("clinic cardiology (settings from", every.stdout)
        self.assertIn("moved 1 of 2", every.stdout)
        body, send_at = self.current_reminder(heart)
        self.assertTrue(body.startswith("Riverside Cardiology reminder: your appointment with Dr. Grace Hopper"),
                        body)
        self.assertEqual(send_at, utc_minute(in_three_days(NEW_YORK, 7, 15)))

    def test_4_tz_recheck_rewrites_each_appointment_in_its_own_language(self):
        when = in_three_days(CHICAGO, 11, 30)
        spanish = self.book("/dermatology", when, language="es", phone="(650) 253-0044")
        self.age(spanish)
        done = self.admin("--clinic", "dermatology")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("moved 1 of", done.stdout)
        body, _ = self.current_reminder(spanish)
        self.assertTrue(body.startswith("Lakeside Dermatology: cita con Dr. Grace Hopper el "), body)
        self.assertEqual(self.database.scalar(f"SELECT language FROM appointments WHERE id = '{spanish}'"), "es")

    def test_3_an_unknown_clinic_or_a_missing_file_is_a_usage_error(self):
        unknown = self.admin("--clinic", "radiology", "--dry-run")
        self.assertEqual(unknown.returncode, 2, unknown.stdout + unknown.stderr)
        self.assertIn(f"--clinic: clinic 'radiology' is not in {self.clinics_file} (httpd's configuration there "
                      "has the clinics: cardiology, dermatology)", unknown.stderr)
        for named in (("--clinics-file", "/nonexistent/clinics.json"), ()):
            missing = self.admin("--clinic", "dermatology", "--dry-run", *named,
                                 clinics_file="/nonexistent/clinics.json")
            self.assertEqual(missing.returncode, 2, missing.stdout + missing.stderr)
            self.assertIn("cannot read the clinics file /nonexistent/clinics.json", missing.stderr)
            self.assertEqual(missing.stdout, "")


class ClinicsFileDirectiveTest(HttpdTestCase):
    def test_the_directive_names_the_place_and_apache2_t_checks_its_directory(self):
        database = Database()
        fake_url = "http://127.0.0.1:9"
        try:
            broken = Httpd(server_conf(database.conninfo, fake_url) + "\n" + CARDIOLOGY +
                           "\nSinchReminderClinicsFile /nonexistent/dir/clinics.json")
            code, output = broken.configtest()
            self.assertNotEqual(code, 0, output)
            self.assertIn("SinchReminderClinicsFile", output)
            self.assertIn("the directory '/nonexistent/dir' does not exist", output)
            broken.cleanup()

            type(self).httpd = Httpd(server_conf(database.conninfo, fake_url) + "\n" + CARDIOLOGY +
                                     "\nSinchReminderClinicsFile run/elsewhere.json")
            code, output = self.httpd.configtest()
            self.assertEqual(code, 0, output)
            written = os.path.join(self.httpd.root, "run", "elsewhere.json")
            self.assertFalse(os.path.exists(written), "apache2 -t wrote the clinics file")
            self.httpd.start()
            self.assertTrue(wait_until(lambda: os.path.exists(written)), self.httpd.read_error_log())
            with open(written) as f:
                self.assertEqual([c["key"] for c in json.load(f)["clinics"]], ["cardiology"])
            self.assertFalse(os.path.exists(os.path.join(self.httpd.root, "run", "sinch-reminder-clinics.json")))
        finally:
            if self.httpd:
                self.httpd.cleanup()
            database.drop()


if __name__ == "__main__":
    harness.main()
