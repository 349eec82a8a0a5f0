"""Configuration, as an admin meets it: `apache2 -t` refuses every bad value with a message that
names the directive, cross-directive mistakes are caught before start, and virtual hosts inherit
what they do not set. Runs the real httpd with the built module."""
import json
import os
import tempfile
import unittest

import harness
from harness import Httpd, HttpdTestCase, module_conf

VALID = [
    "SinchReminderDatabase \"host=127.0.0.1 port=5 dbname=x\"",
    "SinchReminderTimeZone America/New_York",
    "SinchReminderServicePlanId test-plan",
    "SinchReminderApiToken test-api-token",
    "SinchReminderTemplateDir templates",
]
MOUNT = '<Location "/appointment">\n  SetHandler sinch-reminder\n</Location>'

# (directive, bad value, what the message must say)
INVALID_VALUES = [
    ("SinchReminderProjectId", "'bad id'", "is not a valid ID"),
    ("SinchReminderKeyId", "'a b'", "is not a valid ID"),
    ("SinchReminderKeySecret", "'a b'", "contains white space"),
    ("SinchReminderKeySecretFile", "/nonexistent/secret", "cannot read '/nonexistent/secret'"),
    ("SinchReminderServicePlanId", "'x y'", "is not a valid ID"),
    ("SinchReminderApiToken", "'x y'", "contains white space"),
    ("SinchReminderApiTokenFile", "/nonexistent/token", "cannot read '/nonexistent/token'"),
    ("SinchReminderRegion", "xx", "'xx' is not a Sinch region; use one of us, eu, au, br, ca"),
    ("SinchReminderFrom", "+0123", "is not a sender"),
    ("SinchReminderSmsBaseUrl", "ftp://example.org", "is not an http(s) base URL"),
    ("SinchReminderAuthBaseUrl", "auth.sinch.com", "is not an http(s) base URL"),
    ("SinchReminderDatabase", "'host=x bogus=1'", "not a valid libpq connection string"),
    ("SinchReminderDbPoolMax", "0", "must be a whole number from 1 to 1000"),
    ("SinchReminderTimeZone", "Mars/Olympus_Mons", "Mars/Olympus_Mons"),
    ("SinchReminderDefaultCountry", "XX", "is not an ISO 3166 alpha-2 country code"),
    ("SinchReminderLeadTime", "soon", "'soon' is not a duration"),
    ("SinchReminderTemplateDir", "/nonexistent/templates", "'/nonexistent/templates' is not a directory"),
    ("SinchReminderClinicName", "\"" + "x" * 101 + "\"", "longer than 100 characters"),
    ("SinchReminderLocale", "xx_YY", "is not a locale ICU has data for"),
    ("SinchReminderMessage", "\"Hello {{patient_name}}\"", "patient_name"),
    ("SinchReminderCookieSecure", "maybe", "'maybe' must be On or Off"),
    ("SinchReminderPublicBaseUrl", "clinic.example.org", "is not a public base URL"),
    ("SinchReminderCallbackSecretFile", "/nonexistent/callback-secret", "cannot read '/nonexistent/callback-secret'"),
    ("SinchReminderDeliveryReport", "always", "must be one of none, summary, full, per_recipient"),
    ("SinchReminderReconcileInterval", "2d", "must be between 0s and 1d"),
    ("SinchReminderDispatchWorkers", "0", "must be a whole number from 1 to 256"),
    ("SinchReminderLeaseTime", "10s", "must be between 25s and 1h"),
    ("SinchReminderPublicBaseUrl", "http://clinic.example.org", "is plain HTTP"),
    ("SinchReminderSmsBaseUrl", "http://sms.example.org", "is plain HTTP"),
    ("SinchReminderCallbackAuth", "path", "must be hmac or url-token"),
    ("SinchReminderRetention", "1h", "must be between 1d and"),
    ("SinchReminderBookingsPerUserPerHour", "many", "must be a whole number from 0 to 100000"),
    ("SinchReminderDoctors", "\"Dr. Who\" \"bit.ly/x\"", "must not contain web addresses"),
    ("SinchReminderAllowedCountries", "US XX", "is not an ISO 3166 alpha-2 country code"),
    ("SinchReminderMaxSegments", "0", "must be a whole number from 1 to 10"),
    ("SinchReminderQuietHours", "9pm-8am", "must be HH:MM-HH:MM in 24-hour clinic time"),
    ("SinchReminderSchedule", "1d@6pm", "must be Nd@HH:MM"),
    ("SinchReminderSchedule", "1d@18:00 61d@10:00", "at most 60 days before the appointment"),
    ("SinchReminderSensitiveWords", "\"two words\"", "must be one word"),
    ("SinchReminderCaFile", "/nonexistent/ca.pem", "cannot read '/nonexistent/ca.pem'"),
    ("SinchReminderCaFile", "/etc/passwd", "holds no PEM certificate"),
]

VALID_VALUES = [
    ("SinchReminderProjectId", "my-project\nSinchReminderKeyId key-1\nSinchReminderKeySecret s3cret"),
    ("SinchReminderKeySecretFile", "{secret_file}\nSinchReminderProjectId p\nSinchReminderKeyId k"),
    ("SinchReminderApiTokenFile", "{secret_file}"),
    ("SinchReminderRegion", "eu"),
    ("SinchReminderFrom", "+12025550100"),
    ("SinchReminderSmsBaseUrl", "http://127.0.0.1:9/"),
    ("SinchReminderAuthBaseUrl", "https://auth.sinch.com"),
    ("SinchReminderDbPoolMax", "4"),
    ("SinchReminderTimeZone", "Europe/London"),
    ("SinchReminderDefaultCountry", "gb"),
    ("SinchReminderLeadTime", "1h30m"),
    ("SinchReminderTemplateDir", "{shipped_templates}"),  # an absolute path; apache2 -t compiles them
    ("SinchReminderClinicName", "\"St Mary's Clinic\""),
    ("SinchReminderLocale", "en_GB"),
    ("SinchReminderMessage", "\"{{clinic}}: see {{doctor}} on {{date_time}}\""),
    ("SinchReminderCookieSecure", "Off"),
    ("SinchReminderPublicBaseUrl", "https://clinic.example.org/\nSinchReminderCallbackSecretFile {secret_file}"),
    ("SinchReminderCallbackSecretFile", "{secret_file}"),
    ("SinchReminderDeliveryReport", "per_recipient\nSinchReminderCallbackAuth url-token"),
    ("SinchReminderReconcileInterval", "0"),
    ("SinchReminderDispatchWorkers", "32"),
    ("SinchReminderLeaseTime", "2m"),
    ("SinchReminderCallbackAuth", "hmac"),
    ("SinchReminderRetention", "off"),
    ("SinchReminderBookingsPerUserPerHour", "0"),
    ("SinchReminderDoctors", "\"Dr. Rivera\" \"Dr. Chen\"\nSinchReminderDoctors \"Dr. Okafor\""),
    ("SinchReminderAllowedCountries", "US ca"),
    ("SinchReminderMaxSegments", "3"),
    ("SinchReminderQuietHours", "21:00-08:00"),
    ("SinchReminderSchedule", "1d@18:00 0d@07:00 2h"),
    ("SinchReminderSensitiveWords", "oncology Onkologie"),
    ("SinchReminderCaFile", "/etc/ssl/certs/ca-certificates.crt"),
]


class ConfigTest(HttpdTestCase):
    def configtest(self, body):
        httpd = Httpd(body)
        try:
            return httpd.configtest()
        finally:
            httpd.cleanup()

    def test_valid_configuration_passes(self):
        rc, output = self.configtest("\n".join(VALID + [MOUNT]))
        self.assertEqual(rc, 0, output)
        self.assertIn("Syntax OK", output)

    def test_each_valid_value_is_accepted(self):
        with tempfile.NamedTemporaryFile("w", suffix=".secret") as secret:
            secret.write("token-from-a-file\n")
            secret.flush()
            for directive, value in VALID_VALUES:
                with self.subTest(directive=directive):
                    line = f"{directive} {value}".replace("{secret_file}", secret.name).replace(
                        "{shipped_templates}", os.path.join(harness.SOURCE_DIR, "templates"))
                    rc, output = self.configtest("\n".join(VALID + [line, MOUNT]))
                    self.assertEqual(rc, 0, output)

    def test_each_invalid_value_stops_apache_t_naming_the_directive(self):
        for directive, value, message in INVALID_VALUES:
            with self.subTest(directive=directive):
                rc, output = self.configtest("\n".join(VALID + [f"{directive} {value}", MOUNT]))
                self.assertNotEqual(rc, 0, output)
                self.assertIn(f"{directive}: ", output)
                self.assertIn(message, output)

    def test_no_sender_and_no_delivery_reports_warns_at_configtest(self):
        # Sinch would accept each batch and abort it (410) if the account has no default originator.
        rc, output = self.configtest("\n".join(VALID + [MOUNT]))
        self.assertEqual(rc, 0, output)
        self.assertIn("SR0026", output)
        for enough in ("SinchReminderFrom +12025550100",
                       "SinchReminderPublicBaseUrl https://clinic.example.org\nSinchReminderCallbackAuth url-token"):
            with self.subTest(enough):
                rc, output = self.configtest("\n".join(VALID + [enough, MOUNT]))
                self.assertEqual(rc, 0, output)
                self.assertNotIn("SR0026", output)

    def test_a_reminder_longer_than_max_segments_stops_apache_t_and_sensitive_words_warn(self):
        long_clinic = 'SinchReminderClinicName "Saint Bartholomew\'s University Hospital of London"'
        rc, output = self.configtest("\n".join(VALID + [long_clinic, "SinchReminderMaxSegments 1", MOUNT]))
        self.assertNotEqual(rc, 0, output)
        self.assertIn("SR0010", output)
        self.assertIn("SinchReminderMessage: the longest reminder SMS needs 2 parts (GSM-7", output)
        self.assertIn("more than SinchReminderMaxSegments 1 allows", output)
        # The default, 2 parts, holds it; a department word in the clinic's name is a warning, not an error.
        rc, output = self.configtest("\n".join(VALID + [long_clinic, MOUNT]))
        self.assertEqual(rc, 0, output)
        self.assertNotIn("SR0027", output)
        rc, output = self.configtest("\n".join(VALID + ['SinchReminderClinicName "Riverside Oncology"', MOUNT]))
        self.assertEqual(rc, 0, output)
        self.assertIn('SR0027: SinchReminderClinicName puts "oncology" into the reminder SMS', output)

    def test_directives_are_refused_inside_location(self):
        rc, output = self.configtest("\n".join(VALID) + '\n<Location "/appointment">\n'
                                     "  SetHandler sinch-reminder\n  SinchReminderRegion eu\n</Location>")
        self.assertNotEqual(rc, 0, output)
        self.assertIn("SinchReminderRegion", output)

    def test_a_virtual_host_with_another_ca_file_is_refused(self):
        # One TLS client per process: the CA bundle is the server's, not a virtual host's.
        rc, output = self.configtest("\n".join(VALID) + "\n" + MOUNT + "\n<VirtualHost 127.0.0.1:*>\n"
                                     "  ServerName other.test\n  SinchReminderCaFile /etc/ssl/certs/ca-certificates.crt\n"
                                     "</VirtualHost>")
        self.assertNotEqual(rc, 0, output)
        self.assertIn("SinchReminderCaFile differs from the main server's", output)

    def test_a_virtual_host_with_another_clinics_file_is_refused(self):
        # One httpd, one clinics file listing every virtual host's clinics (sinch-reminder-admin reads it).
        rc, output = self.configtest("\n".join(VALID) + "\n" + MOUNT + "\n<VirtualHost 127.0.0.1:*>\n"
                                     "  ServerName other.test\n  SinchReminderClinicsFile /tmp/other-clinics.json\n"
                                     "</VirtualHost>")
        self.assertNotEqual(rc, 0, output)
        self.assertIn("SinchReminderClinicsFile differs from the main server's", output)

    def test_mounted_handler_without_database_fails_naming_the_directive(self):
        rc, output = self.configtest("\n".join(v for v in VALID if "Database" not in v) + "\n" + MOUNT)
        self.assertNotEqual(rc, 0, output)
        self.assertIn("SinchReminderDatabase is not set, but the sinch-reminder handler is used here", output)

    def test_mounted_handler_without_time_zone_fails(self):
        rc, output = self.configtest("\n".join(v for v in VALID if "TimeZone" not in v) + "\n" + MOUNT)
        self.assertNotEqual(rc, 0, output)
        self.assertIn("SinchReminderTimeZone is not set", output)

    def test_mounted_handler_without_credentials_fails(self):
        rc, output = self.configtest("\n".join(VALID[:2] + [MOUNT]))
        self.assertNotEqual(rc, 0, output)
        self.assertIn("no Sinch credentials", output)

    def test_incomplete_project_credentials_fail_even_without_the_handler(self):
        rc, output = self.configtest("SinchReminderProjectId p\nSinchReminderKeyId k")
        self.assertNotEqual(rc, 0, output)
        self.assertIn("Sinch project credentials are incomplete", output)

    def test_module_loaded_but_unused_needs_no_settings(self):
        rc, output = self.configtest("")
        self.assertEqual(rc, 0, output)

    def test_broken_template_stops_httpd_naming_the_file(self):
        httpd = Httpd("\n".join(VALID + [MOUNT]))
        try:
            with open(os.path.join(httpd.root, "templates", "form.html"), "a") as f:
                f.write("{{#has_errors}} never closed")
            result = httpd.run("-k", "start")
            log = httpd.read_error_log()
            self.assertFalse(harness.wait_for_port(httpd.port, timeout=2), "httpd must not serve")
            self.assertIn("SR0011", log + result.stderr)
            self.assertIn("form.html", log + result.stderr)
        finally:
            httpd.cleanup()

    def test_broken_template_fails_apache_t_so_a_reload_never_stops_the_server(self):
        httpd = Httpd("\n".join(VALID + [MOUNT]))
        try:
            with open(os.path.join(httpd.root, "templates", "list.html"), "a") as f:
                f.write("{{#has_errors}} never closed")
            rc, output = httpd.configtest()
            self.assertNotEqual(rc, 0, output)
            self.assertIn("SR0011", output)
            self.assertIn("list.html", output)
        finally:
            httpd.cleanup()

    def test_handler_in_one_virtual_host_checks_only_that_host(self):
        conf = f"""
<VirtualHost 127.0.0.1:*>
  ServerName clinic-a.test
</VirtualHost>
<VirtualHost 127.0.0.1:*>
  ServerName clinic-b.test
  SinchReminderTimeZone Europe/London
  {MOUNT}
</VirtualHost>"""
        rc, output = self.configtest(conf)
        self.assertNotEqual(rc, 0, output)
        self.assertIn("clinic-b.test", output)
        self.assertNotIn("clinic-a.test", output)
        self.assertIn("SinchReminderDatabase is not set", output)


class VirtualHostMergeTest(HttpdTestCase):
    """Settings made in the main server reach every virtual host unless the host overrides them. A host that
    changes a clinic's setting on the same database is another clinic (its own SinchReminderClinic key)."""

    @classmethod
    def setUpClass(cls):
        cls.database = harness.Database()
        main = "\n".join([
            f'SinchReminderDatabase "{cls.database.conninfo}"',
            "SinchReminderTimeZone Europe/London",
            "SinchReminderServicePlanId test-plan",
            "SinchReminderApiToken test-api-token",
            "SinchReminderLeadTime 3h",
            "SinchReminderSmsBaseUrl http://127.0.0.1:9",
            "SinchReminderTemplateDir templates",
            MOUNT,
        ])
        vhosts = """
<VirtualHost 127.0.0.1:*>
  ServerName inherits.test
</VirtualHost>
<VirtualHost 127.0.0.1:*>
  ServerName chicago.test
  SinchReminderClinic chicago
  SinchReminderTimeZone America/Chicago
  SinchReminderRegion eu
</VirtualHost>"""
        cls.httpd = Httpd(main + vhosts)
        cls.httpd.start()

    @classmethod
    def tearDownClass(cls):
        cls.httpd.cleanup()
        cls.database.drop()

    def health(self, host):
        status, headers, body = self.httpd.get("/appointment/health", headers={"Host": host})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/json")
        return json.loads(body)

    def test_virtual_host_inherits_unset_values(self):
        h = self.health("inherits.test")
        self.assertEqual(h["clinic"], "default")
        self.assertEqual(h["time_zone"], "Europe/London")
        self.assertEqual(h["lead_time_seconds"], 3 * 3600)
        self.assertEqual(h["region"], "us")

    def test_virtual_host_overrides_what_it_sets_and_keeps_the_rest(self):
        h = self.health("chicago.test")
        self.assertEqual(h["clinic"], "chicago")
        self.assertEqual(h["time_zone"], "America/Chicago")
        self.assertEqual(h["region"], "eu")
        self.assertEqual(h["lead_time_seconds"], 3 * 3600)
        self.assertEqual(h["sinch_sms_base_url"], "http://127.0.0.1:9")

    def test_health_reports_database_schema_and_tz_rules(self):
        h = self.health("inherits.test")
        self.assertEqual(h["status"], "ok")
        self.assertEqual(h["database"], "ok")
        self.assertGreaterEqual(h["schema_version"], 1)
        self.assertRegex(h["tz_rules"], r"^20\d\d[a-z]$")

    def test_startup_log_names_the_time_zone_rules_version(self):
        log = self.httpd.read_error_log()
        self.assertIn("SR0020: mod_sinch_reminder", log)
        self.assertRegex(log, r"time-zone rules 20\d\d[a-z] from /usr/share/zoneinfo")


if __name__ == "__main__":
    harness.main()
