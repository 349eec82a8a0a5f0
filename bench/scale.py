#!/usr/bin/env python3
"""bench/scale.py (run it through bench/scale): years of data (issue 17) and PostgreSQL's CPU per booking
(issue 11 item 10).

1. Loads --rows past appointments, each with its sent reminder and audit row (bench/load_history.sql, in
   chunks of --chunk rows, one transaction each), into one database; a second database stays empty. Both are
   served by their own httpd (the module's defaults, SinchReminderMaxBatchesPerSecond 1000, Basic auth) and
   the Sinch fake. Then, operation by operation, the same requests go to the empty and to the loaded one, one
   at a time over a keep-alive connection: booking (API POST), cancel, reschedule, the day's list (the list
   page for tomorrow, 50 rows), a name search and a phone search (API, over every date), and a dispatcher
   pass (sr-bench-dispatch: Dispatcher::run_once handing over --due-per-pass reminders stored just before).
   Medians and p99 per operation, each next to the empty database's, and the targets: median <= 10 ms and
   <= 2 x empty. Also the time of `sinch-reminder-admin tz-recheck --dry-run` and the tables' sizes.
2. (--cpu-seconds > 0) PostgreSQL's CPU per booking as a multiple of its CPU per pgbench INSERT, for the
   schema before this branch's migration 006 and with it, in the same run: on fresh databases, pgbench
   (bench/pgbench_insert_appointment.sql, 16 clients) and sr-bench-store (the booking's own SQL, 16 threads)
   for --cpu-seconds each; CPU is that of this run's PostgreSQL processes only (/proc/<pid>/stat of the
   postmaster and its children, exited ones included through the postmaster's cutime).

Writes bench/results/scale-latest.json and scale-latest.md.
"""
import argparse
import datetime
import hashlib
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zoneinfo

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, BENCH)

import bench as common  # noqa: E402  (proc_stat, run_child, boost, apxs, PGBENCH)

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message):
    print(f"[scale {time.strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values, p):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def family_name(seed):
    """A 9-letter name unlike the loader's (another md5 seed), so a search finds exactly the bench's own."""
    digest = hashlib.md5(f"bench-family-{seed}".encode()).hexdigest()[:9]
    return digest.translate(str.maketrans("0123456789", "aeiourlnst")).capitalize()


class PostgresCpu:
    """CPU seconds of one cluster's processes: the postmaster, its children, and (through the postmaster's
    cutime) children that exited meanwhile."""

    def __init__(self, pgdir):
        with open(os.path.join(pgdir, "data", "postmaster.pid")) as f:
            self.postmaster = int(f.readline())

    def sample(self):
        total = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            st = common.proc_stat(int(name))
            if not st:
                continue
            comm, ppid, own, children = st
            if int(name) == self.postmaster:
                total += own + children
            elif ppid == self.postmaster:
                total += own
        return total / CLK_TCK


class Scale:
    def __init__(self, args):
        self.args = args
        self.cleanup = []
        self.results = {"operations": [], "notes": []}

    # ---- services ----------------------------------------------------------------------------------
    def start(self):
        build = os.path.abspath(self.args.build)
        self.tool = lambda name: os.path.join(build, "mod_sinch_reminder", name)
        os.environ.update({
            "SR_SOURCE_DIR": REPO,
            "SR_MODULE": self.tool("mod_sinch_reminder.so"),
            "SR_ADMIN": self.tool("sinch-reminder-admin"),
            "SR_HTTPD": os.path.join(common.apxs("SBINDIR"), common.apxs("PROGNAME")),
            "SR_HTTPD_MODULES": common.apxs("LIBEXECDIR"),
        })
        self.state = tempfile.mkdtemp(prefix="sr-scale-")
        os.chmod(self.state, 0o755)
        self.cleanup.append(lambda: shutil.rmtree(self.state, ignore_errors=True))
        pg = os.path.join(REPO, "tests", "pg.sh")
        subprocess.run(["bash", pg, "start", self.state], check=True, stdout=subprocess.DEVNULL)
        self.cleanup.append(lambda: subprocess.run(["bash", pg, "stop", self.state]))
        os.environ["SR_ENV_FILES"] = os.path.join(self.state, "env")
        import harness
        import staff_support
        self.h, self.staff = harness, staff_support
        harness.load_env_files()
        self.pgcpu = PostgresCpu(os.environ["PGDIR"])
        common.boost(self.pgcpu.postmaster, self.args.nice)
        common.boost(os.getpid(), self.args.nice)
        self.fake = harness.SinchFake("--max-recorded", "0")
        self.cleanup.append(self.fake.stop)

    def psql(self, db, sql, *extra):
        return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", db.conninfo, *extra,
                               "-c", sql], check=True, capture_output=True, text=True).stdout.strip()

    def start_httpd(self, db, name):
        """The integration tests' staff httpd (Basic auth), with the account rate at 1000/s and background
        dispatcher passes an hour apart (the bench times its own passes with sr-bench-dispatch)."""
        port = self.h.free_port()
        httpd = self.h.Httpd("", port=port, log_level="warn")
        htpasswd = self.staff.write_htpasswd(httpd.root)
        location_extra = (f'  AuthType Basic\n  AuthName "Front desk"\n  AuthUserFile "{htpasswd}"\n'
                          "  Require valid-user\n")
        secret_file = os.path.join(httpd.root, "callback-secret")
        with open(secret_file, "w") as f:
            f.write(self.staff.CALLBACK_SECRET + "\n")
        # Delivery-report callbacks signed (the default HMAC needs its secret); no per-user booking limit
        # (the bench books hundreds as one user); no daily retention purge by the dispatcher (it would
        # anonymise the loaded history in the background while the operations are timed; the purge is
        # timed on its own at the end).
        conf = self.h.module_conf(db.conninfo, self.fake.url,
                                  extra=f"SinchReminderPublicBaseUrl http://127.0.0.1:{port}\n"
                                        f"SinchReminderCallbackSecretFile {secret_file}\n"
                                        "SinchReminderBookingsPerUserPerHour 0\n"
                                        "SinchReminderRetention off\n"
                                        "SinchReminderDispatchInterval 1h\n"
                                        "SinchReminderMaxBatchesPerSecond 1000\n",
                                  location_extra=location_extra)
        httpd.write_conf(conf, log_level="warn")
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", "nobody:nogroup", os.path.join(httpd.root, "logs"),
                            os.path.join(httpd.root, "run")], check=True)
        self.cleanup.append(httpd.cleanup)
        httpd.start()
        for _ in range(100):  # the pid file comes a moment after the port
            try:
                common.boost(httpd.pid(), self.args.nice)
                break
            except (OSError, ValueError):
                time.sleep(0.1)
        log(f"httpd ({name}) on {httpd.url}")
        return httpd

    # ---- data ----------------------------------------------------------------------------------------
    def load(self, db):
        rows, chunk = self.args.rows, self.args.chunk
        loader = os.path.join(BENCH, "load_history.sql")
        started = time.monotonic()
        for first in range(0, rows, chunk):
            last = min(rows, first + chunk)
            t0 = time.monotonic()
            subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", db.conninfo, "-c",
                            f"SET sr.load_from = {first}; SET sr.load_to = {last}; SET sr.load_total = {rows}",
                            "-f", loader], check=True, capture_output=True, text=True)
            log(f"  loaded rows {first}..{last - 1} in {time.monotonic() - t0:.0f} s")
        load_seconds = time.monotonic() - started
        t0 = time.monotonic()
        subprocess.run(["psql", "-X", "-q", db.conninfo, "-c", "VACUUM ANALYZE"], check=True, capture_output=True)
        subprocess.run(["psql", "-X", "-q", db.conninfo, "-c", "CHECKPOINT"], check=True, capture_output=True)
        vacuum_seconds = time.monotonic() - t0
        log(f"loaded {rows} appointments in {load_seconds:.0f} s, VACUUM ANALYZE {vacuum_seconds:.0f} s")
        self.results["load"] = {"rows": rows, "chunk": chunk, "seconds": round(load_seconds, 1),
                                "vacuum_analyze_seconds": round(vacuum_seconds, 1)}  # with the CHECKPOINT after it

    def sizes(self, db):
        out = self.psql(db, """
            SELECT c.relname, c.relkind, pg_relation_size(c.oid), coalesce(t.relname, '')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 't')
              AND coalesce(t.relname, c.relname) IN ('appointments', 'reminders', 'audit_log')
            ORDER BY 4, 2 DESC, 3 DESC""")
        sizes = []
        for line in out.splitlines():
            name, kind, size, table = line.split("|")
            sizes.append({"name": name, "kind": "table" if kind == "r" else "index", "bytes": int(size),
                          "table": table or name})
        return sizes

    # ---- measurements ---------------------------------------------------------------------------------
    def timed(self, connection, method, path, body=None, expect=(200,)):
        headers = {"Authorization": self.staff.basic(self.staff.API_USER, self.staff.API_PASSWORD)}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        if connection.sock is None:
            connection.connect()  # outside the timing (httpd closes idle keep-alive connections after 5 s)
        t0 = time.perf_counter()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        ms = (time.perf_counter() - t0) * 1000
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return ms, data

    def run_operations(self, targets):
        """targets: {"empty": (db, httpd), "loaded": (db, httpd)}. Each operation runs on both, in turn."""
        n = self.args.samples
        tomorrow = (datetime.datetime.now(NEW_YORK) + datetime.timedelta(days=1)).date()
        connections = {k: http.client.HTTPConnection("127.0.0.1", h.port, timeout=60)
                       for k, (_, h) in targets.items()}
        booked = {k: [] for k in targets}
        samples = {}

        def measure(op, fn):
            for k in targets:
                connections[k].close()  # a fresh connection: the other database's turn may have outlasted its keep-alive
                times = []
                for i in range(len(booked[k]) if op in ("cancel", "reschedule") else n):
                    times.append(fn(k, i))
                samples.setdefault(op, {})[k] = [t for t in times if t is not None]
            log(f"  {op}: " + ", ".join(f"{k} median {statistics.median(v):.2f} ms"
                                        for k, v in samples[op].items()))

        def book(k, i):
            start = datetime.datetime.combine(tomorrow, datetime.time(7, 0)) + datetime.timedelta(minutes=2 * i)
            document = {"patient_name": f"Bench {family_name(i)}", "doctor_name": "Dr. Grace Hopper",
                        "phone": f"+1650{2000000 + i}", "appointment_local": start.strftime("%Y-%m-%dT%H:%M")}
            ms, data = self.timed(connections[k], "POST", "/appointment/api/appointments", document, (201,))
            booked[k].append(json.loads(data)["id"])
            return ms

        # Warm-up, not counted: connections, prepared statements, caches.
        for k in targets:
            for i in range(20):
                book(k, n + 1000 + i)
        for k in booked:
            booked[k].clear()
        measure("booking", book)
        day = tomorrow.isoformat()
        measure("day's list (page, tomorrow)",
                lambda k, i: self.timed(connections[k], "GET", f"/appointment/list?from={day}&to={day}")[0])
        measure("name search (API q=, every date)", lambda k, i: self.timed(
            connections[k], "GET", "/appointment/api/appointments?q=" + family_name(i))[0])
        measure("phone search (API phone=, every date)", lambda k, i: self.timed(
            connections[k], "GET", "/appointment/api/appointments?phone=" + urllib.parse.quote(f"+1650{2000000 + i}"))[0])
        measure("phone search, last 5 digits (page q=)", lambda k, i: self.timed(
            connections[k], "GET", f"/appointment/list?q={i % 100000:05d}")[0])
        past = (datetime.datetime.now(NEW_YORK) - datetime.timedelta(days=100)).date().isoformat()
        measure("a past day's list (page, 100 days ago)",
                lambda k, i: self.timed(connections[k], "GET", f"/appointment/list?from={past}&to={past}")[0])
        half = {k: len(v) // 2 for k, v in booked.items()}
        to_move = {k: v[:half[k]] for k, v in booked.items()}
        to_cancel = {k: v[half[k]:] for k, v in booked.items()}
        booked.update(to_move)

        def reschedule(k, i):
            when = datetime.datetime.combine(tomorrow + datetime.timedelta(days=1), datetime.time(7, 0)) + \
                datetime.timedelta(minutes=2 * i)
            return self.timed(connections[k], "POST", f"/appointment/api/appointments/{booked[k][i]}/reschedule",
                              {"appointment_local": when.strftime("%Y-%m-%dT%H:%M")})[0]

        measure("reschedule", reschedule)
        booked.update(to_cancel)
        measure("cancel", lambda k, i: self.timed(
            connections[k], "POST", f"/appointment/api/appointments/{booked[k][i]}/cancel", {})[0])
        for c in connections.values():
            c.close()
        samples["dispatcher pass"] = {k: self.dispatcher_passes(db) for k, (db, _) in targets.items()}
        log("  dispatcher pass: " + ", ".join(f"{k} median {statistics.median(v):.2f} ms"
                                              for k, v in samples["dispatcher pass"].items()))
        return samples

    def dispatcher_passes(self, db):
        """--passes passes, each handing over --due-per-pass reminders stored (due, pending) just before."""
        due = self.args.due_per_pass
        store_due = (
            "WITH a AS (INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone,"
            " local_wall_time, created_by) SELECT 'Due Patient', 'Dr. Due', '+1212' || (5550000 + n)::text,"
            " now() + interval '3 hours', 'America/New_York', '2030-01-01T10:00', 'bench-due'"
            f" FROM generate_series(1, {due}) AS n RETURNING id, starts_at)"
            " INSERT INTO reminders (appointment_id, revision, send_at, time_zone, body)"
            " SELECT id, 1, starts_at - interval '2 hours', 'America/New_York', 'Reminder text.' FROM a")
        process = subprocess.Popen([self.tool("sr-bench-dispatch"), db.conninfo, self.fake.url,
                                    str(self.args.passes)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True)
        times = []
        try:
            json.loads(process.stdout.readline())  # {"ready": true}: its warm-up pass is over
            for pass_number in range(self.args.passes):
                self.psql(db, store_due)
                process.stdin.write("next\n")
                process.stdin.flush()
                result = json.loads(process.stdout.readline())
                times.append(result["ms"])
                if result["scheduled"] != due:
                    self.results["notes"].append(f"dispatcher pass {pass_number + 1} on {db.name} handed over "
                                                 f"{result['scheduled']} of {due}")
        finally:
            process.stdin.close()
            process.wait(timeout=60)
        return times

    def tz_recheck(self, db):
        t0 = time.monotonic()
        subprocess.run([self.tool("sinch-reminder-admin"), "tz-recheck", "--dry-run", "--database", db.conninfo],
                       check=True, capture_output=True, text=True)
        return (time.monotonic() - t0) * 1000

    # ---- PostgreSQL CPU per booking vs per pgbench INSERT ---------------------------------------------
    def cpu_ratio(self, label, sql_dir):
        seconds = self.args.cpu_seconds
        dbs = []
        for _ in range(2):
            db = self.h.Database(migrate=False)
            subprocess.run([self.tool("sinch-reminder-admin"), "migrate", "--database", db.conninfo, "--sql-dir",
                            sql_dir], check=True, capture_output=True, text=True)
            dbs.append(db)
        pgbench_db, store_db = dbs
        script = os.path.join(self.state, "insert_appointment.sql")
        shutil.copy(os.path.join(BENCH, "pgbench_insert_appointment.sql"), script)
        os.chmod(script, 0o644)
        cmd = [common.PGBENCH, "-n", "-M", "prepared", "-c", "16", "-j", "2", "-T", str(seconds), "-f", script,
               "-h", "127.0.0.1", "-p", os.environ["PGPORT"], "-U", "postgres", pgbench_db.name]
        w0, c0 = self.wal(pgbench_db), self.pgcpu.sample()
        code, text, _ = common.run_child(cmd, timeout=seconds + 60)
        pgbench_cpu, pgbench_wal = self.pgcpu.sample() - c0, self.wal(pgbench_db, w0)
        if code != 0:
            raise RuntimeError(f"pgbench failed:\n{text}")
        inserts = int(self.psql(pgbench_db, "SELECT count(*) FROM appointments"))
        w0, c0 = self.wal(store_db), self.pgcpu.sample()
        code, text, _ = common.run_child([self.tool("sr-bench-store"), store_db.conninfo, "16", str(seconds)],
                                         timeout=seconds + 60)
        store_cpu, store_wal = self.pgcpu.sample() - c0, self.wal(store_db, w0)
        if code != 0:
            raise RuntimeError(f"sr-bench-store failed:\n{text}")
        bookings = json.loads(text.strip().splitlines()[-1])["bookings"]
        rows = int(self.psql(store_db, "SELECT count(*) FROM appointments"))
        per_insert = pgbench_cpu / inserts * 1000
        per_booking = store_cpu / rows * 1000
        result = {"schema": label, "pgbench_inserts": inserts, "pgbench_pg_cpu_s": round(pgbench_cpu, 2),
                  "ms_per_insert": round(per_insert, 4), "bookings": rows, "bookings_counted": bookings,
                  "store_pg_cpu_s": round(store_cpu, 2), "ms_per_booking": round(per_booking, 4),
                  "ratio": round(per_booking / per_insert, 2),
                  "inserts_per_s": round(inserts / seconds), "bookings_per_s": round(rows / seconds),
                  # WAL records per row: one per heap row and one per index entry written, so a count of the
                  # work that does not depend on how busy the machine is (CPU seconds do).
                  "wal_records_per_insert": round(pgbench_wal[0] / inserts, 2),
                  "wal_records_per_booking": round(store_wal[0] / rows, 2),
                  "wal_bytes_per_insert": round(pgbench_wal[1] / inserts), "wal_bytes_per_booking": round(store_wal[1] / rows)}
        log(f"  {label}: {per_booking:.3f} ms PostgreSQL CPU per booking, {per_insert:.3f} per INSERT: "
            f"{result['ratio']}x")
        for db in dbs:
            db.drop()
        return result

    def wal(self, db, before=None):
        """(WAL records, WAL bytes) of the whole cluster (nothing else writes during these phases)."""
        records, size = (int(x) for x in self.psql(db, "SELECT wal_records, wal_bytes FROM pg_stat_wal").split("|"))
        return (records, size) if before is None else (records - before[0], size - before[1])

    def run(self):
        self.start()
        if self.args.cpu_seconds > 0:
            before_dir = os.path.join(self.state, "sql-before-006")
            os.makedirs(before_dir)
            for name in sorted(os.listdir(os.path.join(REPO, "sql"))):
                if name.endswith(".sql") and int(name[:3]) < 6:
                    shutil.copy(os.path.join(REPO, "sql", name), before_dir)
            runs = []
            for repeat in range(self.args.cpu_repeats):
                runs.append(self.cpu_ratio("before 006 (sql/001-005)", before_dir))
                runs.append(self.cpu_ratio("all migrations (sql/001-" + max(n[:3] for n in os.listdir(os.path.join(REPO, "sql")) if n.endswith(".sql")) + ")", os.path.join(REPO, "sql")))
            self.results["cpu"] = runs
        if self.args.rows >= 0:
            empty = self.h.Database()
            loaded = self.h.Database()
            if self.args.rows > 0:
                if self.args.load_nice is not None:
                    common.boost(self.pgcpu.postmaster, self.args.load_nice)
                self.load(loaded)
                common.boost(self.pgcpu.postmaster, self.args.nice)
            self.results["sizes"] = self.sizes(loaded)
            targets = {"empty": (empty, self.start_httpd(empty, "empty")),
                       "loaded": (loaded, self.start_httpd(loaded, "loaded"))}
            samples = self.run_operations(targets)
            for op, by in samples.items():
                row = {"operation": op}
                for k, values in by.items():
                    row[k] = {"n": len(values), "median_ms": round(statistics.median(values), 2),
                              "p99_ms": round(percentile(values, 99), 2)}
                self.results["operations"].append(row)
            self.results["tz_recheck_ms"] = {k: round(self.tz_recheck(db), 1) for k, (db, _) in targets.items()}
            if self.args.rows > 0 and self.args.purge_rows > 0:
                self.results["purge"] = self.purge_under_load(*targets["loaded"])
        return self.results

    # ---- retention purge of the oldest rows, and bookings meanwhile ---------------------------------------
    def purge_under_load(self, db, httpd):
        """Times `sinch-reminder-admin purge` of the oldest --purge-rows appointments and the booking p99
        while it runs, next to the booking p99 just before it (same connection, same requests)."""
        rows = self.args.rows
        purge_rows = min(self.args.purge_rows, rows)
        # The loader spreads rows evenly over the 3 years before yesterday (interval '3 years' / total, and
        # PostgreSQL divides an interval's months as 30 days each: 1080 days): the oldest purge_rows rows are
        # older than 1 day + (rows - purge_rows) x (1080 days / rows).
        retention_days = int(1 + (rows - purge_rows) * 1080 / rows)
        connection = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=60)
        day = (datetime.datetime.now(NEW_YORK) + datetime.timedelta(days=3)).date()
        counter = [0]

        def book():
            i = counter[0]
            counter[0] += 1
            start = datetime.datetime.combine(day, datetime.time(6, 0)) + datetime.timedelta(minutes=i % 900)
            document = {"patient_name": f"Purge {family_name(900000 + i)}", "doctor_name": "Dr. Grace Hopper",
                        "phone": f"+1651{2000000 + i}", "appointment_local": start.strftime("%Y-%m-%dT%H:%M")}
            return self.timed(connection, "POST", "/appointment/api/appointments", document, (201,))[0]

        for _ in range(20):
            book()  # warm-up
        without = [book() for _ in range(self.args.samples)]
        command = [self.tool("sinch-reminder-admin"), "purge", "--retention", f"{retention_days}d",
                   "--database", db.conninfo]
        log(f"  purge: {' '.join(command[:4])} (the oldest {purge_rows:,} of {rows:,})")
        t0 = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        during = []
        while process.poll() is None:
            during.append(book())
        output = process.communicate()[0].strip()
        seconds = time.monotonic() - t0
        if process.returncode != 0:
            raise RuntimeError(f"purge failed ({process.returncode}): {output}")
        result = {"retention": f"{retention_days}d", "rows_asked": purge_rows, "seconds": round(seconds, 1),
                  "output": output,
                  "booking_without": {"n": len(without), "median_ms": round(statistics.median(without), 2),
                                      "p99_ms": round(percentile(without, 99), 2)},
                  "booking_during": {"n": len(during),
                                     "median_ms": round(statistics.median(during), 2) if during else None,
                                     "p99_ms": round(percentile(during, 99), 2) if during else None}}
        log(f"  purge took {seconds:.1f} s: {output}; booking p99 {result['booking_without']['p99_ms']} ms "
            f"without, {result['booking_during']['p99_ms']} ms during ({len(during)} bookings)")
        return result

    def close(self):
        for fn in reversed(self.cleanup):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 (cleanup goes on)
                print(f"cleanup: {e}", file=sys.stderr)


INFO_ONLY = ("phone search, last 5 digits (page q=)", "a past day's list (page, 100 days ago)")


def markdown(results, command):
    out = [f"Command: `{command}`", ""]
    if "load" in results:
        load = results["load"]
        out += [f"Loaded {load['rows']:,} past appointments (with reminder and audit row) in {load['seconds']:.0f} s "
                f"({load['chunk']:,} per transaction), VACUUM ANALYZE {load['vacuum_analyze_seconds']:.0f} s.", ""]
    if results["operations"]:
        out += ["| operation | empty: median | empty: p99 | loaded: median | loaded: p99 | loaded / empty | "
                "target (median <= 10 ms and <= 2x empty) |", "|---|---:|---:|---:|---:|---:|---|"]
        for row in results["operations"]:
            e, l = row["empty"], row["loaded"]
            ratio = l["median_ms"] / e["median_ms"] if e["median_ms"] else float("inf")
            verdict = "info" if row["operation"] in INFO_ONLY else (
                "**PASS**" if l["median_ms"] <= 10 and ratio <= 2 else "**FAIL**")
            out.append(f"| {row['operation']} (n={l['n']}) | {e['median_ms']:.2f} ms | {e['p99_ms']:.2f} ms | "
                       f"{l['median_ms']:.2f} ms | {l['p99_ms']:.2f} ms | {ratio:.2f} | {verdict} |")
        out.append("")
        tz = results.get("tz_recheck_ms", {})
        out += [f"`sinch-reminder-admin tz-recheck --dry-run`: empty {tz.get('empty', 0):.0f} ms, "
                f"loaded {tz.get('loaded', 0):.0f} ms (the loaded database's future appointments are the bench's own).",
                ""]
    if results.get("purge"):
        p = results["purge"]
        w, d = p["booking_without"], p["booking_during"]
        ratio = d["p99_ms"] / w["p99_ms"] if d["p99_ms"] and w["p99_ms"] else float("inf")
        out += [f"Retention purge (`sinch-reminder-admin purge --retention {p['retention']}`, the oldest "
                f"{p['rows_asked']:,} appointments): **{p['seconds']:.1f} s** — {p['output']}", "",
                "| booking (API, one connection) | n | median | p99 | p99 during / without | target (<= 2x) |",
                "|---|---:|---:|---:|---:|---|",
                f"| without the purge | {w['n']} | {w['median_ms']:.2f} ms | {w['p99_ms']:.2f} ms | | |",
                f"| while the purge runs | {d['n']} | {d['median_ms'] or 0:.2f} ms | {d['p99_ms'] or 0:.2f} ms | "
                f"{ratio:.2f} | {'**PASS**' if ratio <= 2 else '**FAIL**'} |", ""]
    if results.get("sizes"):
        out += ["| relation | of | size |", "|---|---|---:|"]
        for s in results["sizes"]:
            out.append(f"| {s['name']} ({s['kind']}) | {s['table']} | {s['bytes'] / 1048576:.1f} MiB |")
        out.append("")
    if results.get("cpu"):
        out += ["| schema | PostgreSQL CPU per pgbench INSERT | per booking (sr-bench-store) | ratio | INSERT/s | "
                "bookings/s | WAL records per INSERT / per booking | WAL bytes per INSERT / per booking |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for c in results["cpu"]:
            out.append(f"| {c['schema']} | {c['ms_per_insert']:.3f} ms | {c['ms_per_booking']:.3f} ms | "
                       f"**{c['ratio']:.2f}x** | {c['inserts_per_s']} | {c['bookings_per_s']} | "
                       f"{c['wal_records_per_insert']} / {c['wal_records_per_booking']} | "
                       f"{c['wal_bytes_per_insert']} / {c['wal_bytes_per_booking']} |")
        for schema in dict.fromkeys(c["schema"] for c in results["cpu"]):
            runs = [c for c in results["cpu"] if c["schema"] == schema]
            out.append(f"| {schema}: median of {len(runs)} | {statistics.median(c['ms_per_insert'] for c in runs):.3f} ms"
                       f" | {statistics.median(c['ms_per_booking'] for c in runs):.3f} ms | "
                       f"**{statistics.median(c['ratio'] for c in runs):.2f}x** | | | | |")
        out.append("")
    for note in results["notes"]:
        out.append(f"- {note}")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(REPO, "build-bench"))
    parser.add_argument("--rows", type=int, default=1000000,
                        help="past appointments to load (0: none; -1: skip the operations part)")
    parser.add_argument("--chunk", type=int, default=1000000, help="rows per loading transaction")
    parser.add_argument("--samples", type=int, default=400, help="bookings (and list/search requests) per database")
    parser.add_argument("--passes", type=int, default=30, help="dispatcher passes per database")
    parser.add_argument("--purge-rows", type=int, default=1000000,
                        help="oldest appointments the retention purge anonymises at the end (0: skip)")
    parser.add_argument("--due-per-pass", type=int, default=20, help="reminders each dispatcher pass hands over")
    parser.add_argument("--cpu-seconds", type=int, default=10, help="pgbench and sr-bench-store run time (0: skip)")
    parser.add_argument("--cpu-repeats", type=int, default=3, help="before/after pairs of the CPU measurement")
    parser.add_argument("--nice", default="-10", help="niceness of PostgreSQL and the bench (as root)")
    parser.add_argument("--load-nice", default="10",
                        help="niceness of PostgreSQL while it loads (10: the long load leaves the machine to others; "
                             "the measurements then run at --nice)")
    parser.add_argument("--out", default=os.path.join(BENCH, "results"))
    args = parser.parse_args()
    command = os.environ.get("SR_BENCH_COMMAND", "bench/scale " + " ".join(sys.argv[1:]))
    scale = Scale(args)
    try:
        results = scale.run()
    finally:
        scale.close()
    results["command"] = command
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scale-latest.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    text = markdown(results, command)
    with open(os.path.join(args.out, "scale-latest.md"), "w") as f:
        f.write(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
