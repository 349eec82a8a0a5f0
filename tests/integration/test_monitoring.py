"""Monitoring, as hospital IT wires it up: /health says whether this node's dispatcher is passing, what is
waiting to be handed to Sinch, whether the schema and the time-zone rules are what this module expects; the
mod_status section (HTML and ?auto lines) shows each clinic's reminders and every node's dispatcher, and the
Sinch calls of this httpd by kind and answer, summed over its child processes."""
import collections
import datetime
import json
import os
import re
import signal
import socket
import threading
import time

import harness
from harness import (NEW_YORK, Browser, Httpd, ServicesTestCase, child_pids, form_for, module_conf, tomorrow_at,
                     wait_until)

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


OPERATIONS = ["CreateBatch", "CancelBatch", "UpdateBatch", "Lookup", "TokenFetch"]
ANSWERS = ["2xx", "401", "403", "429", "4xx", "5xx", "NotSent", "NoAnswer", "OtherStatus"]


def kind_of(request):
    """The counter a request the fake received belongs in: (operation, answer)."""
    path, method = request["path"], request["method"]
    if path.endswith("/oauth2/token"):
        operation = "TokenFetch"
    elif method == "POST" and path.endswith("/batches"):
        operation = "CreateBatch"
    elif method == "DELETE":
        operation = "CancelBatch"
    elif method in ("POST", "PUT"):
        operation = "UpdateBatch"
    else:
        operation = "Lookup"
    status = request.get("status") or 0
    if request.get("dropped"):
        answer = "NoAnswer"
    elif 200 <= status < 300:
        answer = "2xx"
    elif status in (401, 403, 429):
        answer = str(status)
    elif 400 <= status < 500:
        answer = "4xx"
    elif status >= 500:
        answer = "5xx"
    else:
        answer = "OtherStatus"
    return operation, answer


class SinchCountersTest(ServicesTestCase):
    """The counters are shared by every httpd child process: the calls of a child that died are still counted,
    and the sum equals what the Sinch fake received, call by call."""

    @classmethod
    def make_httpd(cls, database, fake):
        # Two identities: the default clinic, and one with its own sender (so its own SinchClient) that books
        # nothing. A low rate makes the dispatcher wait for tokens.
        other = ('<Location "/other">\n  SetHandler sinch-reminder\n  SinchReminderClinic other\n'
                 '  SinchReminderFrom +12025550199\n</Location>')
        extra = "\n".join(["SinchReminderDispatchInterval 1s", "SinchReminderRetryDelay 1s",
                           "SinchReminderMaxBatchesPerSecond 2", "SinchReminderBookingsPerUserPerHour 0", other])
        return Httpd(module_conf(database.conninfo, fake.url, extra=extra),
                     extra_top_conf=STATUS.format(modules=os.environ["SR_HTTPD_MODULES"]))

    def counters(self, label):
        _, _, auto = self.httpd.get("/server-status?auto")
        found = dict(re.findall(rf"^SinchReminderSinch_{re.escape(label)}_(\w+): (\d+)$", auto, re.M))
        return {key: int(value) for key, value in found.items()}

    def expected_from_fake(self):
        expected = {f"{op}_{answer}": 0 for op in OPERATIONS for answer in ANSWERS}
        for request in self.fake.requests():
            expected["_".join(kind_of(request))] += 1
        return expected

    def calls_match_the_fake(self):
        counted = self.counters("default")
        calls = {key: value for key, value in counted.items() if not key.startswith("RateWait")}
        return calls == self.expected_from_fake()

    def book(self, first_minute, count):
        start = tomorrow_at(8, 0)
        statuses = []

        def one(n):
            when = start + datetime.timedelta(minutes=first_minute + n)
            status, _, body = Browser(self.httpd).submit(form_for(when, phone=f"+1 650 253 {first_minute + n:04d}"))
            statuses.append((status, body[:300]))

        threads = [threading.Thread(target=one, args=(n,)) for n in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual([s for s, _ in statuses], [303] * count, statuses)

    def settle(self, scheduled):
        done = wait_until(lambda: self.database.scalar(
            "SELECT count(*) FROM reminders WHERE status = 'scheduled'") == str(scheduled), timeout=90)
        self.assertTrue(done, self.database.query("SELECT status, count(*) FROM reminders GROUP BY status"))
        matched = wait_until(self.calls_match_the_fake, timeout=30)
        self.assertTrue(matched, f"counted {self.counters('default')}\nthe fake got {self.expected_from_fake()}")

    def sinch_pids(self):
        """The httpd processes that called Sinch to create a batch, from the error log's [pid N:tid M]."""
        return {int(pid) for pid in re.findall(r"\[pid (\d+):tid \d+\] .*Sinch schedule", self.httpd.read_error_log())}

    def test_sinch_calls_by_kind_and_answer_are_summed_over_every_child_process(self):
        self.assertEqual(self.counters("default"), {**{f"{op}_{a}": 0 for op in OPERATIONS for a in ANSWERS},
                                                    "RateWaits": 0, "RateWaitMs": 0})
        # The first creates meet a 429 (the account pauses for Retry-After), a 500 (the batch may exist: a
        # lookup follows) and a 503.
        create = {"method": "POST", "path_regex": "/batches$"}
        self.fake.add_fault(match=create, status=429, headers={"Retry-After": "1"}, count=1)
        self.fake.add_fault(match=create, status=500, count=1)
        self.fake.add_fault(match=create, status=503, count=1)
        self.book(0, 6)
        self.settle(6)
        first_wave = self.sinch_pids()
        self.assertTrue(first_wave, self.httpd.read_error_log())
        # A child that called Sinch dies (after its calls were answered and counted): what it counted stays.
        children = child_pids(self.httpd.pid())
        victim = next(pid for pid in sorted(first_wave) if pid in children)
        os.kill(victim, signal.SIGKILL)
        self.assertTrue(wait_until(lambda: victim not in child_pids(self.httpd.pid()), timeout=10))
        self.fake.add_fault(match=create, status=503, count=1)
        self.book(6, 4)
        self.settle(10)
        # At least two child processes made these calls (the dead one and another).
        self.assertGreaterEqual(len(self.sinch_pids()), 2, self.sinch_pids())
        self.assertIn(victim, self.sinch_pids())

        counted = self.counters("default")
        by_kind = collections.Counter("_".join(kind_of(r)) for r in self.fake.requests())
        self.assertEqual(counted["CreateBatch_2xx"], 10)
        self.assertEqual(by_kind["CreateBatch_2xx"], 10)
        self.assertEqual(counted["CreateBatch_429"], 1)
        self.assertEqual(counted["CreateBatch_5xx"], 3)
        self.assertGreaterEqual(counted["Lookup_2xx"], 1, "the 500 is followed by a lookup")
        self.assertEqual(counted["TokenFetch_2xx"], 0)  # a service plan's static token
        # 6 bookings at 2 per second: the dispatcher waited for tokens, and the 429 paused the account.
        self.assertGreaterEqual(counted["RateWaits"], 1)
        self.assertGreaterEqual(counted["RateWaitMs"], 1)
        # The other clinic's identity made no call; its lines are there, at zero.
        self.assertEqual(set(self.counters("other").values()), {0})
        self.assertEqual(len(self.counters("other")), len(OPERATIONS) * len(ANSWERS) + 2)

        _, _, page = self.httpd.get("/server-status")
        self.assertIn("<h3>Sinch calls (every child process of this httpd, since it started)</h3>", page)
        self.assertRegex(page, r"<tr><td>default</td><td>CreateBatch</td><td>10</td><td>0</td><td>0</td>"
                               r"<td>1</td><td>0</td><td>3</td>")
        self.assertRegex(page, r"<tr><td>default</td><td colspan=\"10\">waited for a rate token [1-9]\d* times")

        # A graceful restart (same configuration) keeps the counts: the new generation of children shows them.
        before = set(child_pids(self.httpd.pid()))
        self.httpd.graceful()
        renewed = wait_until(lambda: (lambda now: now and not now & before)(set(child_pids(self.httpd.pid()))),
                             timeout=30)
        self.assertTrue(renewed, f"the children did not change: {before}")
        after = self.counters("default")
        # The calls are all answered, so their counts stand still; rate waits go on growing (a worker takes its
        # token before it looks for work, README), but never start again from zero.
        calls = lambda counts: {k: v for k, v in counts.items() if not k.startswith("RateWait")}  # noqa: E731
        self.assertEqual(calls(after), calls(counted))
        self.assertGreaterEqual(after["RateWaits"], counted["RateWaits"])
        self.assertGreaterEqual(after["RateWaitMs"], counted["RateWaitMs"])


if __name__ == "__main__":
    harness.main()
