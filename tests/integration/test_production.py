"""Production set-up as docs/production.md describes it: the schema belongs to an owner that runs migrations;
httpd connects as a runtime role that `sinch-reminder-admin grant-runtime` lets read and write rows and
nothing more; the admin tool takes its connection string from a file or the environment, never only from
the command line (where ps shows it)."""
import os
import re
import subprocess
import tempfile

import harness
from harness import Browser, Database, Httpd, HttpdTestCase, form_for, module_conf, require_env, tomorrow_at, wait_until


def admin(*args, env=None):
    return subprocess.run([require_env("SR_ADMIN"), *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))


class RuntimeRoleTest(HttpdTestCase):
    @classmethod
    def setUpClass(cls):
        cls.database = Database()
        cls.role = f"sr_runtime_{os.getpid()}"
        cls.database.psql_admin(f"CREATE ROLE {cls.role} LOGIN")
        cls.runtime_conninfo = re.sub(r"user=\S+", f"user={cls.role}", cls.database.conninfo)
        cls.fake = harness.SinchFake()
        cls.secret_dir = tempfile.mkdtemp(prefix="sr-conninfo-")
        cls.owner_file = os.path.join(cls.secret_dir, "owner.conninfo")
        with open(cls.owner_file, "w") as f:
            f.write(cls.database.conninfo + "\n")
        os.chmod(cls.owner_file, 0o600)

    @classmethod
    def tearDownClass(cls):
        if cls.httpd:
            cls.httpd.cleanup()
        cls.fake.stop()
        cls.database.drop()  # with it the role's privileges there; then the role itself can go
        cls.database.psql_admin(f"DROP ROLE IF EXISTS {cls.role}")
        subprocess.run(["rm", "-rf", cls.secret_dir])

    def as_runtime(self, sql):
        return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.runtime_conninfo, "-c", sql],
                              capture_output=True, text=True)

    def test_a_granted_runtime_role_books_and_cannot_change_the_schema(self):
        result = admin("grant-runtime", "--database-file", self.owner_file, "--role", self.role)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"role {self.role} may now read and write", result.stdout)
        self.assertNotIn(self.database.conninfo, result.stdout + result.stderr)

        # httpd as the runtime role: a booking goes all the way to Sinch.
        type(self).httpd = Httpd(module_conf(self.runtime_conninfo, self.fake.url))
        self.httpd.start()
        status, headers, body = Browser(self.httpd).submit(form_for(tomorrow_at(14, 30)))
        self.assertEqual(status, 303, body[:2000])
        self.assertTrue(wait_until(lambda: self.database.scalar("SELECT status FROM reminders") == "scheduled"))
        _, _, health = self.httpd.get("/appointment/health")
        self.assertIn('"status":"ok"', health)

        # ... and nothing more: no DDL, no TRUNCATE, no schema version of its own.
        for sql in ("DROP TABLE audit_log", "TRUNCATE appointments CASCADE", "ALTER TABLE reminders ADD COLUMN x int",
                    "INSERT INTO schema_migrations (version, name) VALUES (999, 'x')",
                    "CREATE TABLE mine (x int)"):
            refused = self.as_runtime(sql)
            self.assertNotEqual(refused.returncode, 0, sql)
            self.assertRegex(refused.stderr, r"permission denied|must be owner", sql)
        self.assertEqual(self.as_runtime("SELECT count(*) FROM schema_migrations").returncode, 0)

        # Running it again changes nothing and still succeeds.
        self.assertEqual(admin("grant-runtime", "--database-file", self.owner_file, "--role", self.role).returncode, 0)

    def test_the_connection_string_comes_from_the_environment_or_a_file(self):
        by_environment = admin("schema-version", env={"SINCH_REMINDER_DATABASE": self.database.conninfo})
        self.assertEqual(by_environment.returncode, 0, by_environment.stderr)
        self.assertIn("database schema version:", by_environment.stdout)
        by_file = admin("schema-version", "--database-file", self.owner_file)
        self.assertEqual(by_file.stdout, by_environment.stdout)

        environment = {k: v for k, v in os.environ.items() if k != "SINCH_REMINDER_DATABASE"}
        missing = subprocess.run([require_env("SR_ADMIN"), "schema-version"], capture_output=True, text=True,
                                 env=environment)
        self.assertEqual(missing.returncode, 2)
        self.assertIn("--database CONNINFO (or --database-file, or SINCH_REMINDER_DATABASE) is required", missing.stderr)
        unreadable = admin("schema-version", "--database-file", "/nonexistent/conninfo")
        self.assertEqual(unreadable.returncode, 2)
        self.assertIn("--database-file: cannot read", unreadable.stderr)
        no_role = admin("grant-runtime", "--database-file", self.owner_file)
        self.assertEqual(no_role.returncode, 2)
        self.assertIn("grant-runtime needs --role NAME", no_role.stderr)


if __name__ == "__main__":
    harness.main()
