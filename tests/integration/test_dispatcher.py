"""Durable, exactly-once scheduling in real httpd processes: the horizon, several nodes sharing one
PostgreSQL, and faults (Sinch 503s and lost answers, a PostgreSQL restart, a graceful httpd restart,
a child killed with SIGKILL) — every accepted appointment ends with exactly one live batch."""
import collections
import datetime
import os
import signal
import threading
import time
import unittest

import harness
from harness import NEW_YORK, Browser, Cluster, Httpd, HttpdTestCase, SinchFake, module_conf, wait_until

FAST = "\n".join(["SinchReminderDispatchInterval 1s", "SinchReminderRetryDelay 1s",
                  "SinchReminderMaxBatchesPerSecond 1000",
                  "SinchReminderBookingsPerUserPerHour 0"])  # hundreds of bookings from one client


def form(when, phone, name="Ada Lovelace"):
    return {"patient_name": name, "doctor_name": "Dr. Grace Hopper", "phone": phone,
            "appointment_date": when.strftime("%Y-%m-%d"), "appointment_time": when.strftime("%H:%M")}


def batches_by_reference(fake):
    live = collections.defaultdict(list)
    for batch in fake.batches():
        if not batch.get("canceled"):
            live[batch.get("client_reference")].append(batch)
    return live


class HorizonTest(HttpdTestCase):
    def setUp(self):
        self.database = harness.Database()
        self.fake = SinchFake()
        self.httpd = Httpd(module_conf(self.database.conninfo, self.fake.url,
                                       extra=FAST + "\nSinchReminderHorizon 1m"))
        self.httpd.start()

    def tearDown(self):
        self.httpd.cleanup()
        self.fake.stop()
        self.database.drop()

    def test_reminder_beyond_the_horizon_waits_in_the_database_then_goes(self):
        now = datetime.datetime.now(NEW_YORK)
        # The reminder slot lands 75-135 s from now: beyond the 1-minute horizon at booking.
        start = (now + datetime.timedelta(hours=2, seconds=75 + 59)).replace(second=0, microsecond=0)
        send_at = start - datetime.timedelta(hours=2)
        status, headers, body = Browser(self.httpd).submit(form(start, "(650) 253-0000"))
        self.assertEqual(status, 303, body)
        self.assertEqual(self.database.scalar("SELECT status FROM reminders"), "pending")
        self.assertEqual(self.fake.stats()["creates"], 0)

        scheduled = wait_until(lambda: self.database.scalar("SELECT status FROM reminders") == "scheduled",
                               timeout=180, interval=0.25)
        handed_over = datetime.datetime.now(NEW_YORK)
        self.assertTrue(scheduled, "the dispatcher never handed the reminder over")
        # Not before it entered the horizon (1 s dispatch interval, 2 s slack for clocks and polling).
        self.assertGreaterEqual(handed_over, send_at - datetime.timedelta(seconds=62))
        creates = [r for r in self.fake.requests() if r["method"] == "POST" and r["path"].endswith("/batches")]
        self.assertEqual(len(creates), 1)
        self.assertEqual(creates[0]["json"]["send_at"],
                         send_at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        self.assertIn("dispatcher pass: 1 scheduled", self.httpd.read_error_log())


class TwoNodesTest(HttpdTestCase):
    COUNT = 300

    def setUp(self):
        self.database = harness.Database()
        self.fake = SinchFake()
        self.nodes = []
        self.httpd = None

    def tearDown(self):
        for node in self.nodes:
            node.cleanup()
        self.fake.stop()
        self.database.drop()

    def test_two_httpd_nodes_on_one_database_schedule_each_reminder_exactly_once(self):
        for _ in range(2):
            node = Httpd(module_conf(self.database.conninfo, self.fake.url, extra=FAST))
            self.nodes.append(node)
            node.start()
        # Both dispatchers are running before the work appears, so both take part (one node started a
        # moment later could otherwise find everything handed over already).
        self.database.query(f"""
            INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time)
            SELECT 'Patient ' || g, 'Dr. Who', '+1650253' || lpad(g::text, 4, '0'),
                   date_trunc('minute', now()) + interval '3 hours', 'America/New_York', '2026-12-01T14:30'
            FROM generate_series(1, {self.COUNT}) g;
            INSERT INTO reminders (appointment_id, revision, send_at, time_zone, status, body)
            SELECT id, 1, starts_at - interval '2 hours', time_zone, 'pending', 'Reminder' FROM appointments;
            SELECT 1""")
        self.httpd = self.nodes[0]
        done = wait_until(lambda: self.database.scalar(
            "SELECT count(*) FROM reminders WHERE status = 'scheduled'") == str(self.COUNT), timeout=120)
        self.assertTrue(done, self.database.query("SELECT status, count(*) FROM reminders GROUP BY status"))
        live = batches_by_reference(self.fake)
        self.assertEqual(len(live), self.COUNT)
        self.assertEqual([ref for ref, batches in live.items() if len(batches) != 1], [])
        self.assertEqual(self.fake.stats()["creates"], self.COUNT)
        stored = dict(self.database.query("SELECT client_reference, batch_id FROM reminders"))
        self.assertEqual({ref: batches[0]["id"] for ref, batches in live.items()}, stored)
        # Both dispatchers run passes (idle ones are logged at debug): a node whose first pass came after the
        # other had handed everything over still takes part.
        passes = lambda: [node.read_error_log().count("dispatcher pass:") for node in self.nodes]
        wait_until(lambda: all(passes()), timeout=20)
        self.assertTrue(all(passes()), f"both nodes must run the dispatcher: {passes()}")


class FaultsTest(HttpdTestCase):
    """A few hundred bookings while Sinch fails and drops answers and everything is restarted."""

    BOOKINGS = 200
    WORKERS = 4

    def setUp(self):
        self.cluster = Cluster()
        self.database = harness.Database(port=self.cluster.port)
        self.fake = SinchFake("--seed", "7")
        # 20 % of creates answer 503 without acting; 10 % act and then drop the answer.
        self.fake.add_fault(match={"method": "POST", "path_regex": "/batches$"}, status=503, probability=0.2)
        self.fake.add_fault(match={"method": "POST", "path_regex": "/batches$"}, act_then_drop=True,
                            probability=0.125)
        self.httpd = Httpd(module_conf(self.database.conninfo, self.fake.url, extra=FAST))
        self.httpd.start()

    def tearDown(self):
        self.httpd.cleanup()
        self.fake.stop()
        self.database.drop()
        self.cluster.stop()

    def book_many(self, worker, accepted, counter, lock):
        browser = Browser(self.httpd)
        tomorrow = (datetime.datetime.now(NEW_YORK) + datetime.timedelta(days=1)).replace(
            hour=8, minute=0, second=0, microsecond=0)
        while True:
            with lock:
                n = counter[0]
                counter[0] += 1
            if n >= self.BOOKINGS:
                return
            when = tomorrow + datetime.timedelta(minutes=n)
            try:
                status, headers, _ = browser.submit(form(when, f"+1 650 253 {n:04d}", f"Patient {n}"))
            except (OSError, AssertionError):
                # The connection died with a killed child, or the form was unavailable (503) while
                # PostgreSQL restarted: not accepted, and the next booking goes on.
                time.sleep(0.05)
                continue
            if status == 303:
                with lock:
                    accepted.append(headers["location"].rsplit("/", 1)[1])
            else:
                # Refused (503 while PostgreSQL restarts): wait a moment as staff would, so an outage
                # does not use up the bookings this test needs for its exactly-once check.
                time.sleep(0.2)

    def test_every_accepted_appointment_ends_with_exactly_one_live_batch(self):
        accepted, counter, lock = [], [0], threading.Lock()
        workers = [threading.Thread(target=self.book_many, args=(i, accepted, counter, lock))
                   for i in range(self.WORKERS)]
        for w in workers:
            w.start()
        disruptions = []
        wait_until(lambda: counter[0] >= 50, timeout=120, interval=0.05)
        self.cluster.restart()
        disruptions.append("postgresql restarted")
        wait_until(lambda: counter[0] >= 100, timeout=120, interval=0.05)
        self.httpd.graceful()
        disruptions.append("httpd graceful restart")
        wait_until(lambda: counter[0] >= 150, timeout=120, interval=0.05)
        # After the graceful restart old children are still leaving: kill one that is still there.
        killed = None
        for _ in range(50):
            for child in reversed(harness.child_pids(self.httpd.pid())):
                try:
                    os.kill(child, signal.SIGKILL)
                    killed = child
                    break
                except ProcessLookupError:
                    continue
            if killed:
                break
            time.sleep(0.1)
        self.assertIsNotNone(killed, "no httpd child to kill")
        disruptions.append("a child killed with SIGKILL")
        for w in workers:
            w.join(300)
        self.assertGreaterEqual(len(accepted), self.BOOKINGS // 2, f"too few bookings accepted ({disruptions})")

        open_work = "SELECT count(*) FROM reminders WHERE status NOT IN ('scheduled', 'failed', 'too_late')"
        settled = wait_until(lambda: self.database.scalar(open_work) == "0", timeout=240, interval=1)
        self.assertTrue(settled, self.database.query("SELECT status, count(*) FROM reminders GROUP BY status"))

        rows = self.database.query(
            "SELECT a.id, r.client_reference, r.status, r.batch_id, "
            "to_char(r.send_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.000\"Z\"') "
            "FROM appointments a JOIN reminders r ON r.appointment_id = a.id")
        stored_ids = {row[0] for row in rows}
        self.assertTrue(set(accepted) <= stored_ids, "an accepted appointment was lost")
        live = batches_by_reference(self.fake)
        for appointment_id, reference, status, batch_id, send_at in rows:
            self.assertEqual(status, "scheduled", f"{appointment_id}: {status}")
            self.assertEqual(len(live.get(reference, [])), 1, f"{reference}: {len(live.get(reference, []))} batches")
            self.assertEqual(live[reference][0]["id"], batch_id)
            self.assertEqual(live[reference][0]["send_at"], send_at)
        self.assertEqual(set(live), {row[1] for row in rows}, "a batch exists for no stored appointment")
        stats = self.fake.stats()
        print(f"\n{len(accepted)} accepted of {self.BOOKINGS}; {len(rows)} stored; {stats['creates']} creates "
              f"for {len(live)} live batches; disruptions: {', '.join(disruptions)}")


if __name__ == "__main__":
    harness.main()
