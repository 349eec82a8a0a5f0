"""Monitoring, as hospital IT wires it up: /health says whether this node's dispatcher is passing, what is
waiting to be handed to Sinch, whether the schema and the time-zone rules are what this module expects; the
mod_status section (HTML and ?auto lines) shows each clinic's reminders and every node's dispatcher."""
import json
import os
import socket

import harness
from harness import Browser, Httpd, ServicesTestCase, form_for, module_conf, tomorrow_at, wait_until

STATUS = """LoadModule status_module {modules}/mod_status.so
<Location "/server-status">
  SetHandler server-status
  Require ip 127.0.0.1
</Location>"""


class MonitoringTest(ServicesTestCase):
    @classmethod
    def make_httpd(cls, database, fake):
        modules = os.environ["SR_HTTPD_MODULES"]
        return Httpd(module_conf(database.conninfo, fake.url, extra="SinchReminderDispatchInterval 1s"),
                     extra_top_conf=STATUS.format(modules=modules))

    def health(self, expect=200):
        status, _, body = self.httpd.get("/appointment/health")
        self.assertEqual(status, expect, body)
        return json.loads(body)

    def dispatcher_has_passed(self):
        """Its last pass went through (a pass may lose a deadlock against the TRUNCATE of setUp; the next one,
        a second later, goes through)."""
        dispatcher = self.health().get("dispatcher", {})
        return dispatcher.get("state") == "alive" and not dispatcher.get("last_pass_failed")

    def tearDown(self):
        self.database.query("UPDATE sinch_rate_bucket SET paused_until = NULL, pause_reason = NULL")

    def test_health_says_the_dispatcher_of_this_node_is_alive_with_its_last_outcome(self):
        # A pass can take its whole budget (25 s) while the account is paused (an earlier test): wait for it.
        self.assertTrue(wait_until(self.dispatcher_has_passed, timeout=60), self.health())
        dispatcher = self.health()["dispatcher"]
        self.assertEqual(dispatcher["node"], socket.gethostname())
        self.assertLessEqual(dispatcher["seconds_since_last_pass"], 5)
        self.assertEqual(dispatcher["last_outcome"], "nothing to do")
        self.assertFalse(dispatcher["last_pass_failed"])
        self.assertEqual(self.database.scalar("SELECT clinics FROM dispatcher_heartbeats"), "default")

    # Named to run last (unittest sorts by name): the dispatcher honours the pause for its whole length.
    def test_while_the_account_is_paused_health_counts_what_waits_for_sinch(self):
        self.assertEqual(self.health()["backlog"], {"due": 0, "overdue": 0, "oldest_send_at": None})
        # A paused account (429 / refused credentials) holds every hand-over: the reminder waits, and says so.
        self.database.query("UPDATE sinch_rate_bucket SET paused_until = now() + interval '1 hour',"
                            " pause_reason = 'rate_limited'")
        status, headers, body = Browser(self.httpd).submit(form_for(tomorrow_at(14, 30)))
        self.assertEqual(status, 303, body)
        backlog = self.health()["backlog"]
        self.assertEqual((backlog["due"], backlog["overdue"]), (1, 0), backlog)
        self.assertRegex(backlog["oldest_send_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def test_health_compares_the_schema_and_the_time_zone_rules_with_this_module(self):
        h = self.health()
        self.assertEqual(h["schema_version"], h["schema_expected"])
        self.assertEqual(h["tz_rules_on_disk"], h["tz_rules"])
        self.assertFalse(h["tz_rules_restart_needed"])
        # A database behind the module (a node upgraded before `sinch-reminder-admin migrate`): 503, said why.
        newest = self.database.scalar("SELECT max(version) FROM schema_migrations")
        row = self.database.query(f"SELECT * FROM schema_migrations WHERE version = {newest}")
        self.database.query(f"DELETE FROM schema_migrations WHERE version = {newest}")
        try:
            h = self.health(expect=503)
            self.assertEqual(h["status"], "degraded")
            self.assertIn("run sinch-reminder-admin migrate", h["schema"])
        finally:
            values = ", ".join("'" + str(v).replace("'", "''") + "'" for v in row[0])
            self.database.query(f"INSERT INTO schema_migrations VALUES ({values})")
        self.assertEqual(self.health()["status"], "ok")

    def test_server_status_shows_each_clinic_and_every_nodes_dispatcher(self):
        status, headers, body = Browser(self.httpd).submit(form_for(tomorrow_at(15, 0)))
        self.assertEqual(status, 303, body)
        self.assertTrue(wait_until(self.dispatcher_has_passed, timeout=60))
        self.assertTrue(wait_until(lambda: "SinchReminderClinic_default_Reminders_scheduled: 1"
                                   in self.httpd.get("/server-status?auto")[2], timeout=60),
                        self.httpd.get("/server-status?auto"))
        _, _, auto = self.httpd.get("/server-status?auto")
        self.assertIn("SinchReminderClinic_default_BacklogDue: 0\n", auto)
        self.assertRegex(auto, rf"SinchReminderDispatcher_{socket.gethostname()}_default_SecondsSinceLastPass: \d+\n")
        self.assertIn(f"SinchReminderDispatcher_{socket.gethostname()}_default_LastPassFailed: 0\n", auto)
        self.assertRegex(auto, r"SinchReminderDbPoolOpen: [1-9]\d*\n")
        _, _, page = self.httpd.get("/server-status")
        self.assertIn("<h2>mod_sinch_reminder</h2>", page)
        self.assertRegex(page, r"<tr><td>default</td><td>/appointment</td><td>scheduled 1</td>"
                               r"<td>0 due, 0 overdue</td></tr>")
        self.assertNotIn("650", page)  # no patient data: no numbers, no names
        self.assertNotIn("Ada", page)


if __name__ == "__main__":
    harness.main()
