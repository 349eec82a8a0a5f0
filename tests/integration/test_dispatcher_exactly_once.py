"""Exactly once and drained at the account's rate (issue 11): real httpd nodes on one PostgreSQL against a Sinch
fake that is slow, pauses, refuses the keys or rate-limits the account. Every test counts at the fake: creates per
client_reference and live batches, beside what PostgreSQL says.

  a. two nodes, creates answered after 2 s, 200 reminders due at once: 200 live batches, none created twice
     (a2: the same with the 60 reminders of the issue's measurement);
  b. a node paused (SIGSTOP) mid-pass for longer than its lease, then resumed: still one live batch each;
  c. 2 000 due reminders, shipped defaults (10 batches/s, 30 s interval): all at Sinch within 220 s;
  d. keys revoked for a minute: no reminder `failed`, all scheduled once the keys work again;
  e. one create answered 429 with Retry-After: 5: no API call from any process for the next 5 s.

Due reminders are seeded straight into PostgreSQL (the rows the module writes for a booking), as
test_dispatcher.py does. Each test bounds its own waits and stops by itself.
"""
import collections
import os
import re
import signal
import sys
import time
import unittest

import harness
from harness import Httpd, SinchFake, module_conf, wait_until

CREATE_PATH = r"/xms/v1/[^/]+/batches$"
# The shipped defaults the drain test relies on (Settings::resolve()).
DEFAULT_RATE = 10
DEFAULT_INTERVAL_S = 30
# The pause test shortens the lease to the shortest accepted value, so it need not sleep through the default 45 s.
SHORT_LEASE_S = 25
# Calls that were already on their way when the 429 was answered (their process had checked the account pause
# before the process that got the 429 stored it in PostgreSQL) may still arrive this long after the 429.
IN_FLIGHT_TOLERANCE_S = 0.5


def seed_due_reminders(database, count, first=1):
    """`count` active appointments 3 h from now, each with a pending reminder due 2 h before (inside the horizon),
    the way the booking stores them."""
    database.query(f"""
        WITH booked AS (
            INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time)
            SELECT 'Patient ' || g, 'Dr. Who', '+1650' || lpad(g::text, 7, '0'), s.at, 'America/New_York',
                   to_char(s.at AT TIME ZONE 'America/New_York', 'YYYY-MM-DD"T"HH24:MI')
            FROM generate_series({first}, {first + count - 1}) g,
                 (SELECT date_trunc('minute', now()) + interval '3 hours' AS at) s
            RETURNING id, starts_at, time_zone)
        INSERT INTO reminders (appointment_id, revision, send_at, time_zone, status, body)
        SELECT id, 1, starts_at - interval '2 hours', time_zone, 'pending', 'Reminder' FROM booked;
        SELECT 1""")


def node_conf(database, fake, extra="", project=False):
    """The usual test configuration; `project` swaps the service-plan credentials for OAuth2 project keys."""
    conf = module_conf(database.conninfo, fake.url, extra=extra)
    if project:
        conf = conf.replace("SinchReminderServicePlanId test-plan\nSinchReminderApiToken test-api-token",
                            "SinchReminderProjectId test-project\nSinchReminderKeyId test-key\n"
                            "SinchReminderKeySecret test-secret")
        assert "SinchReminderProjectId" in conf
    return conf


def status_counts(database):
    return dict((status, int(n)) for status, n in
                database.query("SELECT status, count(*) FROM reminders GROUP BY status ORDER BY status"))


def create_requests(fake):
    return [r for r in fake.requests() if r["method"] == "POST" and re.search(CREATE_PATH, r["path"])]


class ExactlyOnceTestCase(harness.NodesTestCase):
    """A fresh database and fake per test; nodes started by the test; every node's log tail on failure."""

    LOG_TAIL = 80

    def setUp(self):
        self.database = harness.Database()
        self.fake = None
        self.nodes = []
        self.stopped_pids = []

    def tearDown(self):
        self.resume(self.stopped_pids)  # never leave a stopped process behind
        for node in self.nodes:
            node.cleanup()
        if self.fake:
            self.fake.stop()
        self.database.drop()

    # --- helpers ---------------------------------------------------------------------------------
    def start_fake(self, *args):
        self.fake = SinchFake(*args)
        return self.fake

    def start_node(self, extra="", project=False):
        node = Httpd(node_conf(self.database, self.fake, extra, project))
        self.nodes.append(node)
        node.start()
        return node

    def node_pids(self, node):
        """The node's parent and children; [] while the pid file is not written yet."""
        try:
            parent = node.pid()
        except (OSError, ValueError):
            return []
        return [parent] + harness.child_pids(parent)

    def pause(self, pids):
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            self.stopped_pids.append(pid)

    def resume(self, pids):
        for pid in list(pids):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            if pid in self.stopped_pids:
                self.stopped_pids.remove(pid)

    def references(self):
        """{client_reference: {creates, batches, live, canceled, dispatched}} at the fake."""
        return self.fake.control("GET", "/_fake/client_references")

    def stored(self):
        """{client_reference: (status, batch_id)} in PostgreSQL."""
        return {ref: (status, batch or None) for ref, status, batch in
                self.database.query("SELECT client_reference, status, coalesce(batch_id, '') FROM reminders")}

    def settle(self, quiet=3.0, timeout=30.0):
        """Waits until no API call is open at the fake and none arrived for `quiet` seconds, so a late duplicate
        (a create still on its way) is counted too."""
        def calm():
            requests = self.fake.requests()
            if any(r["answered_at"] is None for r in requests):
                return False
            return not requests or time.time() - max(r["real_at"] for r in requests) >= quiet
        return wait_until(calm, timeout=timeout, interval=0.5)

    def assert_exactly_once(self, expected_count, creates_once=True):
        """One live batch per stored reminder (and, with creates_once, one create), each the stored batch."""
        refs = self.references()
        stored = self.stored()
        self.assertEqual(len(stored), expected_count)
        twice = {ref: e["creates"] for ref, e in refs.items() if e["creates"] > 1}
        if twice and creates_once:
            self.fail(f"{len(twice)} client_reference(s) created more than once at Sinch, e.g. {first(twice)}")
        not_one_live = {ref: e["live"] for ref, e in refs.items() if e["live"] != 1}
        if not_one_live:
            self.fail(f"{len(not_one_live)} client_reference(s) without exactly one live batch (live batches: "
                      f"{sorted(collections.Counter(not_one_live.values()).items())}; created more than once: "
                      f"{len(twice)}), e.g. {first(not_one_live)}")
        missing, unknown = set(stored) - set(refs), set(refs) - set(stored)
        if missing or unknown:
            self.fail(f"{len(missing)} reminder(s) have no batch at Sinch (statuses {status_counts(self.database)}), "
                      f"{len(unknown)} batch(es) belong to no reminder")
        live_ids = {b["client_reference"]: b["id"] for b in self.fake.batches()
                    if not b["canceled"] and not b["dispatched"]}
        wrong = {ref: (status, batch, live_ids.get(ref)) for ref, (status, batch) in stored.items()
                 if status != "scheduled" or batch != live_ids.get(ref)}
        if wrong:
            self.fail(f"{len(wrong)} reminder(s) not scheduled with their live batch, e.g. (status, stored batch, "
                      f"live batch) {first(wrong)}; statuses {status_counts(self.database)}")
        self.assertEqual(self.fake.stats()["live_batches"], expected_count)


def first(mapping, n=3):
    return dict(list(mapping.items())[:n])


class DispatcherExactlyOnceTest(ExactlyOnceTestCase):
    # --- a -----------------------------------------------------------------------------------------
    def two_slow_nodes(self, count, limit_s):
        self.start_fake()
        self.fake.add_fault(match={"method": "POST", "path_regex": CREATE_PATH}, latency_ms=2000)
        seed_due_reminders(self.database, count)
        for _ in range(2):
            self.start_node("SinchReminderDispatchInterval 1s")
        done = wait_until(lambda: status_counts(self.database).get("scheduled") == count, timeout=limit_s, interval=1)
        quiet = done and self.settle()
        self.assert_exactly_once(count)
        self.assertTrue(done, f"not all {count} scheduled within {limit_s} s: {status_counts(self.database)}")
        self.assertTrue(quiet, "calls went on after every reminder was scheduled")
        passes = [node.read_error_log().count("dispatcher pass:") for node in self.nodes]
        self.assertTrue(all(passes), f"both nodes must have run the dispatcher: {passes}")

    def test_a_two_nodes_slow_creates_200_due_at_once_each_created_once(self):
        # 8 calls in flight (4 per node) at 2 s each: about 50 s; 10/s would allow 20 s.
        self.two_slow_nodes(200, limit_s=150)

    def test_a2_two_nodes_slow_creates_60_due_the_issues_reproduction(self):
        # The case measured in issue 11: one node claims all 60, the other takes over its expired leases.
        self.two_slow_nodes(60, limit_s=100)

    # --- b -----------------------------------------------------------------------------------------
    def test_b_node_paused_longer_than_its_lease_then_resumed_one_live_batch_each(self):
        count = 30
        self.start_fake()
        self.fake.add_fault(match={"method": "POST", "path_regex": CREATE_PATH}, latency_ms=2000)
        lease_line, lease = f"SinchReminderLeaseTime {SHORT_LEASE_S}s", SHORT_LEASE_S
        seed_due_reminders(self.database, count)
        fast = "SinchReminderDispatchInterval 1s\n" + lease_line
        a = self.start_node(fast)

        def a_mid_pass():
            """A's processes while one of them holds reminders and has called Sinch; None otherwise."""
            pids = self.node_pids(a)
            if not pids:
                return None
            owner_of_a = re.compile(r":(%s)(?!\d)" % "|".join(map(str, pids)))
            owners = [row[0] for row in self.database.query(
                "SELECT DISTINCT lease_owner FROM reminders WHERE lease_owner IS NOT NULL")]
            mid = any(owner_of_a.search(o) for o in owners) and len(create_requests(self.fake)) >= 2
            return pids if mid else None

        a_pids = wait_until(a_mid_pass, timeout=60, interval=0.1)
        self.assertTrue(a_pids, f"node A never held reminders while calling Sinch: {status_counts(self.database)}")
        self.pause(a_pids)
        paused_at = time.monotonic()
        held_by_a = int(self.database.scalar("SELECT count(*) FROM reminders WHERE lease_owner IS NOT NULL"))
        done_when_paused = status_counts(self.database).get("scheduled", 0)
        self.start_node(fast)  # node B takes over once A's leases have expired
        time.sleep(max(0.0, lease + 20 - (time.monotonic() - paused_at)))
        taken_over = status_counts(self.database)
        self.resume(a_pids)

        done = wait_until(lambda: status_counts(self.database).get("scheduled") == count, timeout=120, interval=1)
        quiet = done and self.settle(quiet=5)
        stats = self.fake.stats()
        print(f"\npaused A for {lease + 20} s holding {held_by_a} reminder(s), {done_when_paused} scheduled; "
              f"at resume: {taken_over}; at the end {stats['creates']} creates, {stats['canceled_batches']} "
              f"cancelled, {stats['live_batches']} live", file=sys.stderr)
        self.assertGreater(taken_over.get("scheduled", 0), done_when_paused,
                           "node B scheduled nothing while A was paused: the test did not test a takeover")
        # A create A had started may be left over and cancelled (adopt or cancel the orphan): count live batches.
        self.assert_exactly_once(count, creates_once=False)
        self.assertTrue(done, f"not all {count} scheduled: {status_counts(self.database)}")
        self.assertTrue(quiet, "calls went on after every reminder was scheduled")

    # --- c -----------------------------------------------------------------------------------------
    def test_c_2000_due_reminders_drain_at_the_shipped_rate_within_220_s(self):
        count, limit_s, burst = 2000, 220.0, DEFAULT_RATE
        self.start_fake()
        seed_due_reminders(self.database, count)
        self.start_node()  # the shipped defaults: 10 batches/s, a pass every 30 s
        started = time.monotonic()
        first = wait_until(lambda: self.fake.stats()["creates"] > 0, timeout=DEFAULT_INTERVAL_S + 10, interval=0.2)
        self.assertTrue(first, f"no create within {DEFAULT_INTERVAL_S + 10} s of the start")
        first_at = time.monotonic()
        progress = []

        def drained_or_hopeless():
            elapsed = time.monotonic() - first_at
            creates = self.fake.stats()["client_references"]  # reminders with a batch at Sinch
            progress.append((round(elapsed), creates))
            # At 10/s (plus the bucket's burst) the rest cannot arrive in time any more: stop now.
            return creates >= count or creates + DEFAULT_RATE * (limit_s - elapsed) + burst < count

        wait_until(drained_or_hopeless, timeout=limit_s, interval=1)
        elapsed = time.monotonic() - first_at
        creates = self.fake.stats()["client_references"]
        print(f"\nfirst create {first_at - started:.1f} s after the start; {creates} of {count} at Sinch "
              f"{elapsed:.1f} s after it", file=sys.stderr)
        self.assertEqual(creates, count,
                         f"only {creates} of {count} reminders reached Sinch {elapsed:.0f} s after the first create "
                         f"(limit {limit_s:.0f} s); progress (s, creates): {progress[::10]}; "
                         f"statuses {status_counts(self.database)}")
        self.assertLessEqual(elapsed, limit_s + 2)
        # The account's rate holds while draining: no 10 s window of arrivals at the fake has more than 10 s worth of
        # tokens plus the burst, plus the tokens of IN_FLIGHT_TOLERANCE_S: a token is taken in PostgreSQL before its
        # call, and calls delayed on the way (a loaded machine) arrive bunched with later ones.
        arrivals = sorted(r["real_at"] for r in create_requests(self.fake))
        allowed = DEFAULT_RATE * (10 + IN_FLIGHT_TOLERANCE_S) + burst
        busiest, at = max((sum(1 for t in arrivals[i:i + 300] if t < start + 10), start)
                          for i, start in enumerate(arrivals))
        per_second = [sum(1 for t in arrivals if at + k <= t < at + k + 1) for k in range(10)]
        self.assertLessEqual(busiest, allowed,
                             f"the drain exceeded the account's rate: {busiest} creates in the 10 s from "
                             f"{at - arrivals[0]:.1f} s after the first (per second: {per_second})")
        wait_until(lambda: status_counts(self.database).get("scheduled") == count, timeout=30, interval=1)
        self.assertTrue(self.settle())
        self.assert_exactly_once(count)

    # --- d -----------------------------------------------------------------------------------------
    def test_d_keys_revoked_for_a_minute_nothing_failed_all_scheduled_afterwards(self):
        before, during = 20, 50
        self.start_fake()
        seed_due_reminders(self.database, before)
        self.start_node("SinchReminderDispatchInterval 1s\nSinchReminderRetryDelay 1s", project=True)
        self.assertTrue(wait_until(lambda: status_counts(self.database).get("scheduled") == before, timeout=60),
                        f"the first reminders were not scheduled: {status_counts(self.database)}")
        self.assertGreaterEqual(self.fake.stats()["token_fetches"], 1)
        # The module holds a live token now; the key behind it is revoked for a minute.
        self.fake.control("POST", "/_fake/credentials", {"revoked": True, "seconds": 60})
        revoked_at = time.monotonic()
        seed_due_reminders(self.database, during, first=before + 1)
        failed_seen = []

        def failed_or_restored():
            failed = status_counts(self.database).get("failed", 0)
            if failed:
                failed_seen.append(failed)
            return failed or time.monotonic() - revoked_at >= 61

        wait_until(failed_or_restored, timeout=65, interval=1)
        rows = self.database.query("SELECT status, coalesce(last_http_status, 0), coalesce(last_error_code, ''), "
                                   "count(*) FROM reminders GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        self.assertEqual(failed_seen, [], f"reminders marked failed while the keys were revoked: {rows}")
        stats = self.fake.stats()
        self.assertGreater(stats["revoked_rejections"], 0, "the module never called Sinch while the keys were revoked")
        self.assertFalse(self.fake.control("GET", "/_fake/credentials")["revoked"])
        done = wait_until(lambda: status_counts(self.database).get("scheduled") == before + during
                          or status_counts(self.database).get("failed"), timeout=150, interval=1)
        self.assertEqual(status_counts(self.database).get("failed", 0), 0)
        self.assertTrue(done and status_counts(self.database).get("scheduled") == before + during,
                        f"not all scheduled 150 s after the keys came back: {status_counts(self.database)}")
        self.assertTrue(self.settle())
        self.assert_exactly_once(before + during)

    # --- e -----------------------------------------------------------------------------------------
    def test_e_429_retry_after_5_pauses_every_process_for_5_s(self):
        count, retry_after = 300, 5
        self.start_fake()
        # The 31st create is answered 429 Retry-After: 5; every other create takes 100 ms, so calls overlap.
        rule = self.fake.add_fault(match={"method": "POST", "path_regex": CREATE_PATH}, status=429,
                                   headers={"Retry-After": str(retry_after)}, skip=30, count=1)["id"]
        self.fake.add_fault(match={"method": "POST", "path_regex": CREATE_PATH}, latency_ms=100)
        seed_due_reminders(self.database, count)
        fast = "SinchReminderDispatchInterval 1s\nSinchReminderRetryDelay 1s\nSinchReminderMaxBatchesPerSecond 1000"
        for _ in range(2):
            self.start_node(fast)
        done = wait_until(lambda: status_counts(self.database).get("scheduled") == count, timeout=120, interval=1)
        self.settle()
        requests = self.fake.requests()
        limited = [r for r in requests if r.get("fault") == rule]
        self.assertEqual(len(limited), 1, "the 429 was never answered")
        answered = limited[0]["answered_at"]
        window = (answered + IN_FLIGHT_TOLERANCE_S, answered + retry_after)
        inside = [r for r in requests if window[0] < r["real_at"] < window[1]]
        after = [r for r in requests if r["real_at"] >= window[1]]
        just_after = [r for r in requests if answered < r["real_at"] <= window[0]]
        summary = ", ".join(f"{r['method']} {r['path'].rsplit('/', 1)[-1]} +{r['real_at'] - answered:.2f}s"
                            for r in inside[:10])
        self.assertEqual(len(inside), 0,
                         f"{len(inside)} API call(s) arrived between {IN_FLIGHT_TOLERANCE_S} s and {retry_after} s "
                         f"after the 429 (first ones: {summary})")
        self.assertGreater(len(after), 0, "no call after the pause: nothing was left to send, the test proved nothing")
        print(f"\n429 answered; {len(just_after)} call(s) within {IN_FLIGHT_TOLERANCE_S} s (in flight), "
              f"0 in the pause, {len(after)} after it", file=sys.stderr)
        self.assertTrue(done, f"not all scheduled: {status_counts(self.database)}")
        self.assert_exactly_once(count)


if __name__ == "__main__":
    harness.main()
