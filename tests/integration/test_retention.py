"""Retention (issue 12 item 6): the patient data of past appointments is anonymised after
SinchReminderRetention, by `sinch-reminder-admin purge [--dry-run]` and by the dispatcher once a day, in
small transactions, keeping the rows (and so the counts) for statistics."""
import subprocess

import harness
from harness import require_env, wait_until
from staff_support import StaffCase, text_of, tomorrow_at


class RetentionCase(StaffCase):
    extra = "SinchReminderRetention 30d\n"

    def setUp(self):
        super().setUp()
        self.database.query("DELETE FROM module_state WHERE name LIKE 'retention%'")

    def book_in_the_past(self, days_ago, name="Ada Lovelace"):
        """Booked through the form (so reminder, SMS text and audit rows are real), then moved back in time."""
        appointment = self.browser.book(tomorrow_at(14, 30, days=10), patient_name=name)
        self.database.query(
            f"UPDATE appointments SET starts_at = now() - interval '{days_ago} days' WHERE id = '{appointment}';"
            f"UPDATE reminders SET send_at = now() - interval '{days_ago} days' - interval '2 hours',"
            f" status = 'sent' WHERE appointment_id = '{appointment}'")
        return appointment

    def row(self, appointment):
        return self.database.query(
            "SELECT a.patient_name, a.phone_e164, coalesce(a.created_from, ''), r.body, a.purged_at IS NOT NULL,"
            " a.doctor_name, r.status FROM appointments a JOIN reminders r ON r.appointment_id = a.id"
            f" WHERE a.id = '{appointment}'")[0]

    def audit(self, appointment):
        return self.database.query(
            "SELECT action, details::text, coalesce(remote_addr, '') FROM audit_log"
            f" WHERE appointment_id = '{appointment}' ORDER BY id")

    def admin(self, *args):
        return subprocess.run([require_env("SR_ADMIN"), "purge", "--database", self.database.conninfo, *args],
                              capture_output=True, text=True, timeout=120)


class AdminPurgeTest(RetentionCase):
    # The dispatcher's own daily run is tested below; here only the admin command acts.
    extra = "SinchReminderRetention off\nSinchReminderDispatchInterval 1h\n"

    def test_dry_run_counts_and_purge_anonymises_only_what_is_old_enough(self):
        old = self.book_in_the_past(200, name="Old Patient")
        recent = self.book_in_the_past(20, name="Recent Patient")
        dry = self.admin("--retention", "180d", "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertIn("would anonymise 1 appointment(s), 1 reminder(s)", dry.stdout)
        self.assertEqual(self.row(old)[0], "Old Patient")  # a dry run changes nothing

        done = self.admin("--retention", "180d")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("anonymised 1 appointment(s), 1 reminder(s)", done.stdout)
        name, phone, created_from, body, purged, doctor, status = self.row(old)
        self.assertEqual((name, phone, created_from, body, purged), ("(removed)", "", "", "", "t"))
        self.assertEqual((doctor, status), ("Dr. Grace Hopper", "sent"))  # kept for statistics
        for action, details, remote_addr in self.audit(old):
            self.assertEqual((details, remote_addr), ("{}", ""), action)
        self.assertEqual(self.row(recent)[0], "Recent Patient")
        self.assertEqual(self.database.scalar("SELECT count(*) FROM appointments"), "2")  # counts stay
        # The appointment's page still opens, without the patient's data.
        status, _, page = self.browser.get(f"/appointment/a/{old}")
        self.assertEqual(status, 200)
        self.assertNotIn("Old Patient", text_of(page))
        # Run again: nothing left to do.
        self.assertIn("anonymised 0 appointment(s)", self.admin("--retention", "180d").stdout)

    def test_purge_works_in_transactions_of_at_most_a_thousand(self):
        self.database.query(
            "INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time)"
            " SELECT 'P' || i, 'Dr. X', '+16502530000', now() - interval '400 days' + i * interval '1 minute',"
            " 'America/New_York', '2025-01-01T10:00' FROM generate_series(1, 2500) i")
        done = self.admin("--retention", "365d")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("anonymised 2500 appointment(s)", done.stdout)
        transactions = int(done.stdout.split(" in ")[1].split(" transaction")[0])
        self.assertGreaterEqual(transactions, 3)
        self.assertEqual(self.database.scalar("SELECT count(*) FROM appointments WHERE purged_at IS NULL"), "0")

    def test_bad_retention_is_a_usage_error(self):
        result = self.admin("--retention", "soon")
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)


class DailyPurgeTest(RetentionCase):
    extra = "SinchReminderRetention 30d\n"  # and staff_httpd's 1 s dispatch interval

    def test_the_dispatcher_purges_once_a_day(self):
        old = self.book_in_the_past(45)
        recent = self.book_in_the_past(10)
        # The day's run may have happened already (at start): as if a day had passed since.
        self.database.query("DELETE FROM module_state WHERE name = 'retention_last_run'")
        self.assertTrue(wait_until(lambda: self.row(old)[4] == "t", 20), "not purged by the dispatcher")
        self.assertEqual(self.row(recent)[4], "f")
        # The run is recorded. (A run claimed just before the DELETE above may be the one that purged `old`;
        # the row it wrote is gone, and the next pass claims the day's run again.)
        self.assertTrue(wait_until(lambda: self.database.scalar(
            "SELECT count(*) FROM module_state WHERE name = 'retention_last_run'") == "1", 20))
        # Once a day: an appointment that becomes old enough now waits for tomorrow's run.
        later = self.book_in_the_past(40)  # NB: after `old`: the purge resumes where it stopped
        self.assertFalse(wait_until(lambda: self.row(later)[4] == "t", 4))
        # ... which comes when the day has passed.
        self.database.query("UPDATE module_state SET updated_at = now() - interval '25 hours'"
                            " WHERE name = 'retention_last_run'")
        self.assertTrue(wait_until(lambda: self.row(later)[4] == "t", 20), "the next day's run did not come")


if __name__ == "__main__":
    harness.main()
