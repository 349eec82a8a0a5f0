#!/usr/bin/env python3
"""mod_sinch_reminder benchmark (issue 7). Started by bench/run after the Release build; see bench/README.md.

Starts a throwaway PostgreSQL (tests/pg.sh), the Sinch fake and httpd (event MPM) with the module on
loopback, reusing tests/integration/harness.py, then measures with wrk and pgbench:

  GET form (1/16/64 conns), static file of the same size, pgbench single-row INSERTs (16 clients), the
  Sinch fake alone, the full POST flow (1/16/64) with a data-loss check, the POST flow with the fake
  answering after 200 ms, and httpd's RSS + OAuth2 token fetches over 10 000 / 100 000 POSTs.

Writes bench/results/latest.json and latest.md and prints the same table. Python standard library only.
Everything listens on 127.0.0.1; every load run is bounded by wrk's -d and a hard subprocess timeout.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zoneinfo

BENCH = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(BENCH, "lua")
REPO = os.path.dirname(BENCH)
# The tree whose module build, templates, sql/, test harness and fake are used: the repository, or a snapshot
# of HEAD (bench/run --head), given as --source before anything is imported from it.
ROOT = REPO
for _i, _arg in enumerate(sys.argv):
    if _arg == "--source" and _i + 1 < len(sys.argv):
        ROOT = os.path.abspath(sys.argv[_i + 1])
    elif _arg.startswith("--source="):
        ROOT = os.path.abspath(_arg.split("=", 1)[1])
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

PGBENCH = next((p for p in ("/usr/lib/postgresql/15/bin/pgbench",) if os.path.exists(p)), None) or \
    shutil.which("pgbench") or sorted(
        __import__("glob").glob("/usr/lib/postgresql/*/bin/pgbench"))[-1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")

# The event MPM for the whole run: two fixed processes of 64 threads (no spawning or reaping during the
# run, so RSS and the token-fetch count are per stable process), unlimited keep-alive for wrk.
MPM_CONF = """# --- bench/bench.py: event MPM sizing (overrides the harness defaults above) ---
StartServers 2
ServerLimit 2
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 64
MaxSpareThreads 128
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
"""
HTTPD_PROCESSES_EXPECTED = 2


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def apxs(key):
    return subprocess.run(["apxs", "-q", key], capture_output=True, text=True, check=True).stdout.strip()


# --------------------------------------------------------------------------------------------------
# /proc: CPU per group of processes, and httpd's memory
# --------------------------------------------------------------------------------------------------

def proc_stat(pid):
    """(comm, ppid, utime+stime, cutime+cstime) in clock ticks, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    comm = data[data.index("(") + 1:data.rindex(")")]
    fields = data[data.rindex(")") + 2:].split()
    return comm, int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def all_processes():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                out[int(name)] = st
    return out


def cpu_busy_ticks():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, sum(fields[:8])


class CpuMeter:
    """CPU seconds used during a phase by httpd, PostgreSQL, the fake, the load generator and everything
    else on the machine (other users' builds show up as `other`)."""

    def __init__(self, fake_pid):
        self.fake_pid = fake_pid

    def group(self, pid, comm):
        if pid == self.fake_pid:
            return "fake"
        if comm in ("apache2", "httpd"):
            return "httpd"
        if comm.startswith("postgres") or comm == "postmaster":
            return "postgres"
        return None

    def start(self):
        self.t0 = time.monotonic()
        self.busy0, self.total0 = cpu_busy_ticks()
        self.procs0 = all_processes()

    def stop(self, loadgen_seconds=0.0):
        busy1, total1 = cpu_busy_ticks()
        procs1 = all_processes()
        wall = time.monotonic() - self.t0
        groups = {"httpd": 0, "postgres": 0, "fake": 0}
        for pid, (comm, _ppid, own, children) in procs1.items():
            g = self.group(pid, comm)
            if not g:
                continue
            before = self.procs0.get(pid)
            if before and before[0] == comm:
                groups[g] += (own - before[2]) + (children - before[3])
            else:
                groups[g] += own + children
        result = {k: v / CLK_TCK for k, v in groups.items()}
        result["loadgen"] = loadgen_seconds
        result["total"] = (busy1 - self.busy0) / CLK_TCK
        result["other"] = max(0.0, result["total"] - sum(result[k] for k in ("httpd", "postgres", "fake", "loadgen")))
        result["wall"] = wall
        result["capacity"] = wall * os.cpu_count()
        return {k: round(v, 2) for k, v in result.items()}


def boost(pid, nice):
    """Niceness for a service the bench started. With the kernel's autogroup scheduling (one group per
    session; httpd and PostgreSQL each start their own session) a process's nice only counts inside its
    group, so the group's nice is set too. Only ever applied to processes started by this run."""
    if nice in (None, 0) or os.getuid() != 0:
        return
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(nice))
    except OSError:
        pass  # no autogroup scheduling on this kernel: the plain nice value (inherited) is what counts


def httpd_processes(parent_pid):
    pids = [parent_pid]
    for pid, (comm, ppid, _own, _children) in all_processes().items():
        if ppid == parent_pid:
            pids.append(pid)
    return pids


def memory_of(pids):
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return {"rss_kib": rss, "pss_kib": pss, "processes": len(pids), "children": len(pids) - 1}


# --------------------------------------------------------------------------------------------------
# wrk and pgbench
# --------------------------------------------------------------------------------------------------

def run_child(cmd, env=None, timeout=60, stop_when=None, stdout_path=None):
    """Runs a load generator; returns (exit code, stdout text, CPU seconds it used). If stop_when() becomes
    true, SIGINT ends it early (wrk then prints its summary); after `timeout` it is killed."""
    out = open(stdout_path, "w+") if stdout_path else tempfile.TemporaryFile("w+")
    err = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    interrupted = False
    status = usage = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        now = time.monotonic()
        if now > deadline:
            process.kill()
            _, status, usage = os.wait4(process.pid, 0)
            break
        if stop_when and not interrupted and stop_when():
            process.send_signal(signal.SIGINT)
            interrupted = True
            deadline = min(deadline, now + 30)
        time.sleep(0.1)
    process.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    text = out.read() + err.read()
    out.close()
    err.close()
    return process.returncode, text, usage.ru_utime + usage.ru_stime


def parse_wrk(text):
    for line in text.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):])
    raise RuntimeError("wrk printed no summary:\n" + text[-3000:])


class Wrk:
    def __init__(self, base_url, work_root):
        self.base_url = base_url
        self.work_root = work_root
        self.counter = 0

    def new_work_dir(self, name):
        self.counter += 1
        path = os.path.join(self.work_root, f"{self.counter:02d}-{name}")
        os.makedirs(path)
        return path

    def run(self, script, connections, duration, env_extra, work, quota_per_thread=0, url=None,
            hard_timeout=None, label=""):
        threads = min(2, connections)
        env = dict(os.environ)
        env.update({"BENCH_LUA_DIR": LUA, "BENCH_WORK": work, "BENCH_THREADS": str(threads),
                    "BENCH_QUOTA": str(quota_per_thread)})
        env.update({k: str(v) for k, v in env_extra.items()})
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s",
               "-s", os.path.join(LUA, script), url or self.base_url]
        stop_when = None
        if quota_per_thread:
            stop_when = lambda: all(os.path.exists(os.path.join(work, f"done.{t}")) for t in range(threads))
        code, text, cpu = run_child(cmd, env=env, timeout=hard_timeout or duration + 60, stop_when=stop_when,
                                    stdout_path=os.path.join(work, "wrk.out"))
        if code != 0:
            raise RuntimeError(f"wrk ({label}) exited with {code}:\n{text[-3000:]}")
        result = parse_wrk(text)
        result["threads"] = threads
        result["connections"] = connections
        result["loadgen_cpu_s"] = round(cpu, 2)
        seconds = result["duration_us"] / 1e6
        result["seconds"] = round(seconds, 3)
        result["rps"] = round(result["requests"] / seconds, 1) if seconds else 0.0
        if result.get("count_responses"):
            result["ok_rps"] = round(result["count_ok"] / seconds, 1)
        return result


def summarize(r, ok_key="rps"):
    lat = r["latency_us"]
    return {"connections": r["connections"], "rps": r.get(ok_key, r["rps"]), "all_rps": r["rps"],
            "requests": r["requests"], "p50_ms": round(lat["p50"] / 1000, 2), "p90_ms": round(lat["p90"] / 1000, 2),
            "p99_ms": round(lat["p99"] / 1000, 2), "max_ms": round(lat["max"] / 1000, 2),
            "errors": r["errors"], "statuses": r.get("statuses", {})}


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.results = {"phases": {}, "checks": {}, "targets": [], "notes": []}
        self.cleanup = []
        self.phone_next = 0  # distinct phone numbers over the whole run: +1 650 2xx xxxx
        self.own_sessions = 0  # psql sessions the bench opened on the module's database

    def q(self, sql):
        """A query on the module's database (one psql session, counted so PostgreSQL's counters can be
        corrected for the bench's own sessions)."""
        self.own_sessions += 1
        return self.db.query(sql)

    # ---- setup ----------------------------------------------------------------------------------
    def start_services(self):
        build = os.path.abspath(self.args.build)
        os.environ.update({
            "SR_SOURCE_DIR": ROOT,
            "SR_MODULE": os.path.join(build, "mod_sinch_reminder", "mod_sinch_reminder.so"),
            "SR_ADMIN": os.path.join(build, "mod_sinch_reminder", "sinch-reminder-admin"),
            "SR_HTTPD": os.path.join(apxs("SBINDIR"), apxs("PROGNAME")),
            "SR_HTTPD_MODULES": apxs("LIBEXECDIR"),
        })
        self.state = tempfile.mkdtemp(prefix="sr-bench-")
        os.chmod(self.state, 0o755)
        self.cleanup.append(lambda: shutil.rmtree(self.state, ignore_errors=True))
        pg = os.path.join(ROOT, "tests", "pg.sh")
        subprocess.run(["bash", pg, "start", self.state], check=True, stdout=subprocess.DEVNULL)
        self.cleanup.append(lambda: subprocess.run(["bash", pg, "stop", self.state]))
        os.environ["SR_ENV_FILES"] = os.path.join(self.state, "env")
        import harness
        self.h = harness
        harness.load_env_files()
        self.nice = getattr(self.args, "nice", 0)
        try:
            with open("/proc/self/autogroup") as f:  # e.g. "/autogroup-2972 nice 0"
                own = int(f.read().split()[-1])
            self.cleanup.append(lambda: boost(os.getpid(), str(own)))  # back to what it was
        except (OSError, ValueError):
            pass
        boost(os.getpid(), self.nice)  # this session's group: the bench itself, the fake and wrk
        with open(os.path.join(os.environ["PGDIR"], "data", "postmaster.pid")) as f:
            boost(int(f.readline()), self.nice)
        self.db = harness.Database()
        self.pgbench_db = harness.Database()
        self.store_db = harness.Database()
        # --max-recorded: the fake keeps every recorded request in memory; the bench never reads them back.
        self.fake = harness.SinchFake("--max-recorded", "2000")
        self.cleanup.append(self.fake.stop)
        self.cpu = CpuMeter(self.fake.process.pid)
        self.work_root = os.path.join(self.state, "work")
        os.makedirs(self.work_root)

    def start_httpd(self, conf, name):
        httpd = self.h.Httpd(conf, extra_top_conf=MPM_CONF, log_level="warn")
        self.cleanup.append(httpd.cleanup)
        httpd.start()
        # The harness writes the pid file before the children have started their threads and pools.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if len(httpd_processes(httpd.pid())) >= 1 + HTTPD_PROCESSES_EXPECTED:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"httpd ({name}) did not come up:\n{httpd.read_error_log()}")
        time.sleep(0.5)
        boost(httpd.pid(), self.nice)
        log(f"httpd ({name}) on {httpd.url}, pid {httpd.pid()}, conf {httpd.conf}")
        return httpd

    def extra_directives(self):
        """Module settings the bench changes from their defaults, when the module has them: the Sinch
        account's rate limit (default 10 batches/s) would otherwise defer most bookings to the background
        dispatcher, and the bench measures the booking's own hand-over."""
        try:
            with open(os.path.join(ROOT, "mod_sinch_reminder", "core", "settings.def")) as f:
                known = f.read()
        except OSError:
            known = ""
        lines = []
        if "SinchReminderMaxBatchesPerSecond" in known:
            lines.append("SinchReminderMaxBatchesPerSecond 1000")
        # One bench user books 100 000 appointments: the per-user limit (default 100/hour) would refuse them.
        if "SinchReminderBookingsPerUserPerHour" in known:
            lines.append("SinchReminderBookingsPerUserPerHour 0")
        return lines

    def service_plan_conf(self):
        return self.h.module_conf(self.db.conninfo, self.fake.url, extra="\n".join(self.extra_directives()))

    def oauth2_conf(self):
        return "\n".join([
            f'SinchReminderDatabase "{self.db.conninfo}"',
            "SinchReminderTimeZone America/New_York",
            "SinchReminderDefaultCountry US",
            "SinchReminderFrom +12025550100",
            "SinchReminderProjectId test-project",
            "SinchReminderKeyId test-key",
            "SinchReminderKeySecret test-secret",
            f"SinchReminderSmsBaseUrl {self.fake.url}",
            f"SinchReminderAuthBaseUrl {self.fake.url}",
            "SinchReminderTemplateDir templates",
            'SinchReminderClinicName "Riverside Clinic"',
            "SinchReminderCookieSecure Off",
            "SinchReminderAllowAnonymous On",  # the bench's httpd is on 127.0.0.1 only, no login
            *self.extra_directives(),
            '<Location "/appointment">\n  SetHandler sinch-reminder\n</Location>',
        ])

    # ---- helpers --------------------------------------------------------------------------------
    def dates(self):
        today = datetime.datetime.now(NEW_YORK).date()
        return ",".join((today + datetime.timedelta(days=d)).isoformat() for d in range(2, 7))

    def phones(self, count):
        base = self.phone_next
        self.phone_next += count
        if self.phone_next > 1_000_000:
            raise RuntimeError("more than 1 000 000 distinct phone numbers needed")
        return base

    def reset_fake(self):
        self.fake.control("POST", "/_fake/reset")

    def harvest_tokens(self, httpd, count):
        """`count` distinct form tokens bound to self.cookie, fetched by GETs (wrk, 16 connections)."""
        work = self.wrk.new_work_dir("harvest")
        per_thread = math.ceil(count / 2)
        started = time.monotonic()
        r = self.wrk.run("harvest.lua", 16, 600, {"BENCH_PATH": "/appointment", "BENCH_COOKIE": self.cookie},
                         work, quota_per_thread=per_thread, url=httpd.url,
                         hard_timeout=max(60, count // 100 + 60), label="token harvest")
        tokens = []
        for t in range(2):
            with open(os.path.join(work, f"tokens.{t}")) as f:
                tokens.extend(line.strip() for line in f if line.strip())
        if len(set(tokens)) != len(tokens):
            raise RuntimeError("the form issued the same token twice")
        log(f"  {len(tokens)} tokens in {time.monotonic() - started:.1f} s ({r['rps']} GET/s)")
        if len(tokens) < count:
            raise RuntimeError(f"harvest got {len(tokens)} of {count} tokens: {r}")
        return tokens[:count]

    def write_tokens(self, work, tokens, threads):
        for t in range(threads):
            with open(os.path.join(work, f"tokens.{t}"), "w") as f:
                f.write("\n".join(tokens[t::threads]) + "\n")

    def pg_counters(self):
        """PostgreSQL's own counters for the module's database: sessions opened, commits, rows inserted."""
        row = self.q(
            "SELECT sessions, xact_commit, xact_rollback, tup_inserted, tup_updated FROM pg_stat_database "
            f"WHERE datname = '{self.db.name}'")[0]
        return dict(zip(("sessions", "commits", "rollbacks", "inserted", "updated"), (int(x) for x in row)))

    def pg_delta(self, before, own_before, bookings):
        time.sleep(1.2)  # PostgreSQL publishes its statistics at most once a second
        after = self.pg_counters()
        delta = {k: after[k] - before[k] for k in after}
        # the bench's own psql sessions in between (give or take the one that read `before`)
        own = self.own_sessions - own_before
        delta["sessions"] = max(0, delta["sessions"] - own)
        delta["commits"] = max(0, delta["commits"] - own)  # about one transaction per psql session
        if bookings:
            delta["per_booking"] = {k: round(v / bookings, 2) for k, v in delta.items()}
        return delta

    def db_now(self):
        return self.q("SELECT clock_timestamp()")[0][0]

    def wait_quiet(self, since, timeout=30, drain=75):
        """Requests wrk abandoned at its stop still finish in httpd: wait until no row changes for 1 s.
        Reminders the booking did not hand over itself (deferred to the background dispatcher, e.g. by the
        rate limit) are then waited for too, at most `drain` seconds. Returns (open reminders when the
        bookings were quiet, seconds spent draining them)."""
        last = None
        deadline = time.monotonic() + timeout
        open_sql = ("SELECT count(*), count(*) FILTER (WHERE r.status NOT IN ('scheduled', 'failed', 'too_late', "
                    "'cancelled', 'superseded', 'sent')), max(r.updated_at) FROM appointments a "
                    f"JOIN reminders r ON r.appointment_id = a.id WHERE a.created_at >= '{since}'")
        while time.monotonic() < deadline:
            now = self.q(open_sql)[0]
            if now == last:
                break
            last = now
            time.sleep(1.0)
        open_at_quiet = int(last[1]) if last else 0
        started = time.monotonic()
        while last and last[1] != "0" and time.monotonic() - started < drain:
            time.sleep(2.0)
            last = self.q(open_sql)[0]
        return open_at_quiet, round(time.monotonic() - started, 1)

    def data_check(self, since, work, result, threads, connections, fake_stats_before=None):
        """rows stored == 303s == batches at the fake, and every 303's appointment is stored and scheduled."""
        open_at_quiet, drain_seconds = self.wait_quiet(since)
        rows = self.q(
            "SELECT count(DISTINCT a.id), count(*) FILTER (WHERE r.status = 'scheduled'), "
            "count(DISTINCT r.batch_id) FILTER (WHERE r.status = 'scheduled') "
            f"FROM appointments a JOIN reminders r ON r.appointment_id = a.id WHERE a.created_at >= '{since}'")[0]
        stored, scheduled, distinct_batches = (int(x) for x in rows)
        other_status = self.q(
            "SELECT r.status, count(*) FROM appointments a JOIN reminders r ON r.appointment_id = a.id "
            f"WHERE a.created_at >= '{since}' AND r.status <> 'scheduled' GROUP BY 1")
        stats = self.fake.stats()
        creates = stats["creates"] - (fake_stats_before or {}).get("creates", 0)
        ids = []
        for t in range(threads):
            path = os.path.join(work, f"locations.{t}")
            if os.path.exists(path):
                with open(path) as f:
                    ids.extend(line.strip().rsplit("/", 1)[-1] for line in f if line.strip())
        missing = None
        if ids:
            sql = ("CREATE TEMP TABLE seen (id uuid);\nCOPY seen FROM STDIN;\n" + "\n".join(ids) + "\n\\.\n"
                   "SELECT count(*) FROM seen s LEFT JOIN reminders r ON r.appointment_id = s.id "
                   "AND r.status = 'scheduled' WHERE r.id IS NULL;\n")
            self.own_sessions += 1
            out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", self.db.conninfo],
                                 input=sql, capture_output=True, text=True, check=True).stdout.split()
            missing = int(out[-1])
        n303 = int(result["count_ok"])
        in_flight = stored - n303
        ok = (missing == 0 and len(ids) == n303 and stored == scheduled == creates == distinct_batches
              and 0 <= in_flight <= connections)
        check = {"responses_303": n303, "locations_logged": len(ids), "rows_stored": stored,
                 "reminders_scheduled": scheduled, "distinct_batch_ids": distinct_batches, "fake_batches": creates,
                 "missing_303_rows": missing, "completed_after_wrk_stopped": in_flight,
                 "not_scheduled": {s: int(n) for s, n in other_status}, "ok": ok,
                 "deferred_after_run": open_at_quiet, "drain_seconds": drain_seconds}
        verdict = "OK" if ok else "MISMATCH"
        log(f"  data check {verdict}: 303={n303} rows={stored} scheduled={scheduled} fake={creates} "
            f"missing={missing} finished-after-stop={in_flight} deferred={open_at_quiet} "
            f"(drained in {drain_seconds} s)")
        return check

    # ---- phases ---------------------------------------------------------------------------------
    def smoke(self, httpd):
        """One real booking through the harness's Browser: proves the flow before loading it, gives the
        form's size and the body the module sends to Sinch (the fake-alone load replays its shape)."""
        browser = self.h.Browser(httpd)
        status, headers, body = browser.get("/appointment")
        if status != 200:
            raise RuntimeError(f"GET /appointment answered {status}: {body[:300]}")
        self.form_bytes = len(body.encode())
        self.form_html = body
        self.cookie = "sr_csrf=" + browser.cookies["sr_csrf"]
        when = datetime.datetime.now(NEW_YORK) + datetime.timedelta(days=3)
        status, headers, body = browser.submit({
            "patient_name": "Smoke Test", "doctor_name": "Dr. Grace Hopper", "phone": "+16502999999",
            "appointment_date": when.strftime("%Y-%m-%d"), "appointment_time": "10:30"})
        if status != 303:
            raise RuntimeError(f"the smoke booking answered {status}: {body[:2000]}\n{httpd.read_error_log()}")
        creates = [r for r in self.fake.requests() if r["method"] == "POST" and r["path"].endswith("/batches")]
        if len(creates) != 1:
            raise RuntimeError(f"the smoke booking made {len(creates)} batch requests")
        sent = creates[0]["json"]
        self.fake_path = creates[0]["path"]
        sent["to"] = ["@TO@"]
        sent["client_reference"] = "@REF@"
        self.fake_body_template = json.dumps(sent, separators=(",", ":"))
        self.results["form_bytes"] = self.form_bytes
        self.results["sinch_request_example"] = sent
        log(f"smoke booking OK; form is {self.form_bytes} bytes; module POSTs to {self.fake_path}")

    def phase_get(self, httpd, connections):
        work = self.wrk.new_work_dir(f"get-{connections}")
        self.cpu.start()
        r = self.wrk.run("get.lua", connections, self.args.duration,
                         {"BENCH_PATH": "/appointment", "BENCH_COOKIE": self.cookie}, work, url=httpd.url, label="GET")
        r["cpu"] = self.cpu.stop(r["loadgen_cpu_s"])
        return r

    def phase_static(self, httpd, connections):
        work = self.wrk.new_work_dir(f"static-{connections}")
        self.cpu.start()
        r = self.wrk.run("get.lua", connections, self.args.duration,
                         {"BENCH_PATH": "/static-form.html", "BENCH_COOKIE": self.cookie}, work, url=httpd.url,
                         label="static")
        r["cpu"] = self.cpu.stop(r["loadgen_cpu_s"])
        return r

    def phase_pgbench(self, clients=16):
        script = os.path.join(self.state, "insert_appointment.sql")
        shutil.copy(os.path.join(BENCH, "pgbench_insert_appointment.sql"), script)  # bench/ of this checkout
        os.chmod(script, 0o644)
        port = os.environ["PGPORT"]
        cmd = [PGBENCH, "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(self.args.duration),
               "-f", script, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-r", self.pgbench_db.name]
        self.cpu.start()
        code, text, cpu = run_child(cmd, timeout=self.args.duration + 60)
        usage = self.cpu.stop(cpu)
        if code != 0:
            raise RuntimeError(f"pgbench failed ({code}):\n{text}")
        tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text).group(1))
        latency = float(re.search(r"latency average = ([0-9.]+) ms", text).group(1))
        rows = int(self.pgbench_db.scalar("SELECT count(*) FROM appointments"))
        # Vacuum now, not counted: autovacuum would otherwise do it during a later phase and show up as
        # PostgreSQL CPU of the POST flow.
        subprocess.run(["psql", "-X", "-q", self.pgbench_db.conninfo, "-c", "VACUUM ANALYZE appointments"],
                       check=True, capture_output=True, timeout=300)
        log(f"  pgbench: {tps:.0f} INSERT/s, {latency} ms average, {rows} rows")
        return {"clients": clients, "tps": round(tps, 1), "latency_avg_ms": latency, "rows": rows,
                "command": " ".join(cmd[:-1] + ["<db>"]), "cpu": usage, "protocol": "prepared"}

    def phase_store(self, threads=16):
        """The booking's own SQL (create + record the batch), with the module's code, no httpd, no Sinch."""
        tool = os.path.join(os.path.abspath(self.args.build), "mod_sinch_reminder", "sr-bench-store")
        cmd = [tool, self.store_db.conninfo, str(threads), str(self.args.duration)]
        self.cpu.start()
        code, text, cpu = run_child(cmd, timeout=self.args.duration + 60)
        usage = self.cpu.stop(cpu)
        if code != 0:
            raise RuntimeError(f"sr-bench-store failed ({code}):\n{text}")
        out = json.loads(text.strip().splitlines()[-1])
        rate = out["bookings"] / out["seconds"]
        subprocess.run(["psql", "-X", "-q", self.store_db.conninfo, "-c", "VACUUM ANALYZE"],
                       check=True, capture_output=True, timeout=300)
        log(f"  booking SQL alone: {rate:.0f} bookings/s")
        return {"threads": threads, "rate": round(rate, 1), "bookings": out["bookings"], "cpu": usage,
                "command": f"sr-bench-store <db> {threads} {self.args.duration}"}

    def phase_fake(self, connections):
        self.reset_fake()
        work = self.wrk.new_work_dir(f"fake-{connections}")
        self.cpu.start()
        r = self.wrk.run("fake.lua", connections, self.args.duration,
                         {"BENCH_PATH": self.fake_path, "BENCH_BODY_TEMPLATE": self.fake_body_template,
                          "BENCH_BEARER": "test-api-token", "BENCH_PHONE_BASE": 0},
                         work, url=self.fake.url, label="fake alone")
        r["cpu"] = self.cpu.stop(r["loadgen_cpu_s"])
        r["fake_batches"] = self.fake.stats()["creates"]
        return r

    def phase_post(self, httpd, connections, expected_rate, latency_ms=0, label="POST"):
        """The full booking for `duration` seconds. Tokens are fetched beforehand for the expected rate
        (x 1.3); if a thread still runs out, the run is repeated once with enough for the measured rate."""
        for attempt in (1, 2):
            r = self.post_run(httpd, connections, expected_rate, latency_ms, label)
            if not r.get("count_exhausted"):
                return r
            note = (f"{label} at {connections} connections ran out of tokens ({r['count_exhausted']} requests "
                    f"sent without one, answered 403)")
            if attempt == 1:
                expected_rate = max(expected_rate, r["count_ok"] / r["seconds"]) * 2
                log(f"  {note}: repeating with tokens for {expected_rate:.0f}/s")
                self.results["notes"].append(note + "; repeated with more tokens")
            else:
                self.results["notes"].append(note + " again; its rate is a lower bound")
        return r

    def post_run(self, httpd, connections, expected_rate, latency_ms, label):
        duration = self.args.duration
        threads = min(2, connections)
        count = int(math.ceil(expected_rate * duration * 1.3)) + 20 * connections
        tokens = self.harvest_tokens(httpd, count)
        work = self.wrk.new_work_dir(f"post-{connections}-{latency_ms}")
        self.write_tokens(work, tokens, threads)
        self.reset_fake()
        if latency_ms:
            self.fake.add_fault(match={"method": "POST", "path_regex": "/batches$"}, latency_ms=latency_ms)
        since = self.db_now()
        pg_before = self.pg_counters()
        own_before = self.own_sessions
        self.cpu.start()
        r = self.wrk.run("post.lua", connections, duration,
                         {"BENCH_PATH": "/appointment", "BENCH_COOKIE": self.cookie, "BENCH_DATES": self.dates(),
                          "BENCH_PHONE_BASE": self.phones(count)}, work, url=httpd.url, label=label)
        r["cpu"] = self.cpu.stop(r["loadgen_cpu_s"])
        r["tokens_prepared"] = count
        r["data_check"] = self.data_check(since, work, r, threads, connections)
        r["postgres"] = self.pg_delta(pg_before, own_before, r["data_check"]["rows_stored"])
        log(f"  PostgreSQL per booking: {r['postgres'].get('per_booking')}")
        if latency_ms:
            self.fake.control("DELETE", "/_fake/faults")
        return r

    def phase_rss(self, httpd_conf, token_sets):
        """A fresh httpd with OAuth2 credentials: RSS before, after 10 000 and after 100 000 POSTs (16
        connections), and how many OAuth2 tokens its processes fetched from the fake."""
        self.reset_fake()
        httpd = self.start_httpd(httpd_conf, "OAuth2, RSS")
        parent = httpd.pid()
        points = [{"posts": 0, **memory_of(httpd_processes(parent))}]
        log(f"  RSS before: {points[0]['rss_kib'] / 1024:.1f} MiB in {points[0]['processes']} processes")
        total = 0
        runs = []
        checks = []
        for target, tokens in token_sets:
            batch = target - total
            connections, threads = 16, 2
            work = self.wrk.new_work_dir(f"rss-{target}")
            slack = connections  # requests in flight when a thread reaches its quota
            per_thread = batch // threads
            self.write_tokens(work, tokens, threads)
            since = self.db_now()
            before = self.fake.stats()
            self.cpu.start()
            limit = self.args.rss_time_cap + 60  # bounded in time as well as by the quota
            r = self.wrk.run("post.lua", connections, limit,
                             {"BENCH_PATH": "/appointment", "BENCH_COOKIE": self.cookie, "BENCH_DATES": self.dates(),
                              "BENCH_PHONE_BASE": self.phones(len(tokens))}, work, quota_per_thread=per_thread,
                             url=httpd.url, hard_timeout=limit + 60, label=f"RSS to {target}")
            r["cpu"] = self.cpu.stop(r["loadgen_cpu_s"])
            r["ok_rps_while_running"] = round(r["count_ok"] / r["seconds"], 1)
            check = self.data_check(since, work, r, threads, connections, fake_stats_before=before)
            total += check["rows_stored"]
            runs.append(summarize(r, "ok_rps"))
            checks.append(check)
            point = {"posts": total, **memory_of(httpd_processes(parent))}
            points.append(point)
            log(f"  RSS after {total} POSTs: {point['rss_kib'] / 1024:.1f} MiB (PSS {point['pss_kib'] / 1024:.1f} MiB) "
                f"in {point['processes']} processes")
        stats = self.fake.stats()
        processes = memory_of(httpd_processes(parent))
        httpd.cleanup()
        return {"points": points, "runs": runs, "checks": checks,
                "token_fetches": stats["token_fetches"], "token_fetch_attempts": stats["token_fetch_attempts"],
                "httpd_processes": processes["processes"], "httpd_children": processes["children"]}

    # ---- main -----------------------------------------------------------------------------------
    def run(self):
        a = self.args
        started = time.monotonic()
        self.results["started_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.results["command"] = os.environ.get("SR_BENCH_COMMAND") or "bench/bench.py " + " ".join(sys.argv[1:])
        self.results["measured"] = a.label
        self.results["mode"] = "quick" if a.quick else "full"
        self.results["duration_s"] = a.duration
        self.results["machine"] = machine_description(a.label)
        self.results["mpm"] = MPM_CONF.strip().splitlines()[1:]
        self.results["niceness"] = os.getpriority(os.PRIO_PROCESS, 0)
        self.results["module_settings_changed"] = self.extra_directives()
        self.start_services()
        phases = self.results["phases"]
        httpd = self.start_httpd(self.service_plan_conf(), "service plan")
        self.wrk = Wrk(httpd.url, self.work_root)
        self.smoke(httpd)
        with open(os.path.join(httpd.root, "htdocs", "static-form.html"), "w") as f:
            f.write(self.form_html)
        busy = wait_for_quiet(a.wait_idle)
        self.results["idle_cpu_before"] = (f"{busy:.0f}% of {os.cpu_count()} CPUs busy with other work"
                                           f"{' (waited ' + str(a.wait_idle) + ' s, still busy)' if busy >= 20 else ''}")
        log(f"background CPU before the run: {self.results['idle_cpu_before']}")

        phases["get_form"] = []
        for c in a.connections:
            log(f"GET form, {c} connections, {a.duration} s")
            r = self.phase_get(httpd, c)
            phases["get_form"].append(r)
            log(f"  {r['rps']} req/s, p99 {r['latency_us']['p99'] / 1000:.2f} ms")
        phases["static"] = []
        for c in (a.connections if not a.quick else [16]):
            log(f"static file ({self.form_bytes} bytes), {c} connections, {a.duration} s")
            r = self.phase_static(httpd, c)
            phases["static"].append(r)
            log(f"  {r['rps']} req/s, p99 {r['latency_us']['p99'] / 1000:.2f} ms")
        log(f"pgbench: single-row INSERT into appointments, 16 clients, {a.duration} s")
        phases["pgbench"] = self.phase_pgbench()
        log(f"booking SQL alone (AppointmentStore::create + ReminderQueue::scheduled), 16 threads, {a.duration} s")
        phases["store"] = self.phase_store()
        phases["fake_alone"] = []
        for c in a.connections:
            log(f"Sinch fake alone, {c} connections, {a.duration} s")
            r = self.phase_fake(c)
            phases["fake_alone"].append(r)
            log(f"  {r.get('ok_rps')} creates/s, p99 {r['latency_us']['p99'] / 1000:.2f} ms")
        # A booking needs a form GET's work, a batch at the fake and a few INSERTs: none of those rates is
        # exceeded, so the smallest sizes the tokens (a run that still runs out is repeated).
        fake_rate = {r["connections"]: r.get("ok_rps", 0) for r in phases["fake_alone"]}
        get_rate = {r["connections"]: r["rps"] for r in phases["get_form"]}
        def expected(c):
            return max(20.0, min(fake_rate.get(c, max(fake_rate.values())), get_rate.get(c, max(get_rate.values())),
                                 phases["pgbench"]["tps"]))
        phases["post"] = []
        for c in a.connections:
            log(f"POST flow, {c} connections, {a.duration} s")
            r = self.phase_post(httpd, c, expected(c))
            phases["post"].append(r)
            log(f"  {r.get('ok_rps')} bookings/s (303), p99 {r['latency_us']['p99'] / 1000:.2f} ms")
        phases["post_fake_200ms"] = []
        for c in a.latency_connections:
            log(f"POST flow with the fake answering after 200 ms, {c} connections, {a.duration} s")
            r = self.phase_post(httpd, c, c / 0.2, latency_ms=200, label="POST (fake 200 ms)")
            phases["post_fake_200ms"].append(r)
            log(f"  {r.get('ok_rps')} bookings/s (303), p99 {r['latency_us']['p99'] / 1000:.2f} ms")

        # Tokens for the RSS run come from this httpd (same database, so the same signing key).
        # Tokens for the RSS run come from this httpd (same database, so the same signing key). The run is
        # bounded by --rss-time-cap too: tokens beyond what the measured 16-connection rate can use in that
        # time are not fetched, and the report says how many POSTs were reached.
        token_sets = []
        done = 0
        post16 = at(phases["post"], 16) or phases["post"][-1]
        rate16 = max(post16["count_ok"] / post16["seconds"], 20)
        for i, target in enumerate(a.rss_posts):
            need = target - done
            if i > 0:
                need = min(need, int(rate16 * a.rss_time_cap * 1.3))
            need += 3 * 16
            log(f"fetching {need} tokens for the RSS run to {done + need - 48} POSTs")
            token_sets.append((done + need - 48, self.harvest_tokens(httpd, need)))
            done += need - 48
        if a.rss_posts and done < a.rss_posts[-1]:
            self.results["notes"].append(
                f"RSS run: at the measured {rate16:.0f} POSTs/s, {a.rss_posts[-1]} POSTs do not fit the "
                f"{a.rss_time_cap} s cap (--rss-time-cap); tokens for at most {done} were fetched, and the run "
                f"also stops when the cap is reached.")
        httpd.cleanup()
        log(f"RSS and OAuth2 token fetches: fresh httpd with OAuth2 project credentials, POSTs to {a.rss_posts}")
        phases["rss"] = self.phase_rss(self.oauth2_conf(), token_sets) if a.rss_posts else None

        self.results["elapsed_s"] = round(time.monotonic() - started, 1)
        evaluate(self.results, a)
        return self.results

    def close(self):
        for undo in reversed(self.cleanup):
            try:
                undo()
            except Exception as e:  # keep stopping the rest
                print(f"while stopping: {e}", file=sys.stderr)


def wait_for_quiet(max_seconds, threshold=20.0):
    """Waits (bounded) until other processes use less than `threshold` % of the CPUs; returns what it saw."""
    deadline = time.monotonic() + max_seconds
    while True:
        busy0, total0 = cpu_busy_ticks()
        time.sleep(2.0)
        busy1, total1 = cpu_busy_ticks()
        busy = 100.0 * (busy1 - busy0) / max(1, total1 - total0)
        if busy < threshold or time.monotonic() > deadline:
            return busy
        if int(time.monotonic()) % 20 < 2:
            log(f"the machine is busy with other work ({busy:.0f}% CPU); waiting (at most {max_seconds} s)")


def idle_background(seconds=2.0):
    busy0, total0 = cpu_busy_ticks()
    time.sleep(seconds)
    busy1, total1 = cpu_busy_ticks()
    return f"{100.0 * (busy1 - busy0) / max(1, total1 - total0):.0f}% of {os.cpu_count()} CPUs busy while idle"


def machine_description(label):
    def first(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except Exception:  # noqa: BLE001
            return "?"
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    git = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = ROOT == REPO and subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--", "mod_sinch_reminder",
                            "templates", "sql"], capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(), "cpu": model, "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(), "os": first(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "httpd": first(["apache2", "-v"]).replace("Server version: ", ""),
        "postgresql": first([os.path.join(os.path.dirname(PGBENCH), "postgres"), "--version"]),
        "wrk": first(["sh", "-c", "wrk -v 2>&1"]).split(" [")[0],
        "python": platform.python_version(), "libcurl": first(["curl-config", "--version"]),
        "commit": (git + (" + uncommitted changes in module sources/templates" if dirty else "")) if ROOT == REPO
                  else f"a snapshot of {label}",
    }


# --------------------------------------------------------------------------------------------------
# Targets and the report
# --------------------------------------------------------------------------------------------------

def at(rows, connections):
    return next((r for r in rows or [] if r["connections"] == connections), None)


def evaluate(res, args):
    p = res["phases"]
    targets = res["targets"]

    def add(name, value, limit, ok, detail):
        targets.append({"target": name, "measured": value, "required": limit,
                        "result": ("INFO" if limit == "(no target)" else "SKIPPED") if ok is None
                        else ("PASS" if ok else "FAIL"), "detail": detail})

    get16, static16 = at(p["get_form"], 16), at(p["static"], 16)
    if get16 and static16:
        ratio = get16["rps"] / static16["rps"]
        add("GET form >= 0.85 x static file (16 conns)", f"{ratio:.2f}", ">= 0.85", ratio >= 0.85,
            f"{get16['rps']:.0f} vs {static16['rps']:.0f} req/s")
    post16 = at(p["post"], 16)
    if post16:
        if p.get("store"):
            # The reference (issue 11): the booking's own SQL ceiling, measured in the same run by the module's
            # code with no httpd and no Sinch (sr-bench-store, 16 threads).
            ratio = post16["ok_rps"] / p["store"]["rate"]
            add("POST flow >= 0.5 x the booking's own SQL ceiling (16 conns)", f"{ratio:.2f}", ">= 0.50",
                ratio >= 0.5, f"{post16['ok_rps']:.0f} bookings/s vs {p['store']['rate']:.0f} bookings/s of "
                "sr-bench-store")
        context = post16["ok_rps"] / p["pgbench"]["tps"]
        add("(context) POST flow vs pgbench INSERT rate (16 conns)", f"{context:.2f}", "(no target)", None,
            f"{post16['ok_rps']:.0f} bookings/s vs {p['pgbench']['tps']:.0f} INSERT/s")
        p99 = post16["latency_us"]["p99"] / 1000
        add("POST flow p99 <= 15 ms (16 conns)", f"{p99:.1f} ms", "<= 15 ms", p99 <= 15.0, "")
    for r in p["post_fake_200ms"]:
        c = r["connections"]
        need = 0.8 * c / 0.2
        add(f"fake at 200 ms: >= 0.8 x {c}/0.2 s ({c} conns)", f"{r['ok_rps']:.1f}/s", f">= {need:.0f}/s",
            r["ok_rps"] >= need, f"ideal {c / 0.2:.0f}/s")
    checks = [(f"POST {r['connections']}", r["data_check"]) for r in p["post"]] + \
             [(f"POST 200ms {r['connections']}", r["data_check"]) for r in p["post_fake_200ms"]]
    if p.get("rss"):
        checks += [(f"RSS run {i + 1}", c) for i, c in enumerate(p["rss"]["checks"])]
    bad = [name for name, c in checks if not c["ok"]]
    add("no data loss (rows == 303s == fake batches)", "all OK" if not bad else "MISMATCH: " + ", ".join(bad),
        "all OK", not bad, f"{len(checks)} runs checked")
    rss = p.get("rss")
    points = {pt["posts"]: pt for pt in (rss or {}).get("points", [])}
    p10 = next((pt for n, pt in sorted(points.items()) if n >= 10_000), None)
    last = max(points.items())[1] if points else None
    if p10 and last and last["posts"] > p10["posts"]:
        growth = last["rss_kib"] / p10["rss_kib"] - 1
        short_of = last["posts"] < 100_000
        add(f"RSS after {'100k' if not short_of else last['posts']} POSTs within 10 % of after 10k",
            f"{growth * 100:+.1f} %", "<= +10 %", abs(growth) <= 0.10,
            f"{p10['rss_kib'] / 1024:.1f} -> {last['rss_kib'] / 1024:.1f} MiB"
            + (f"; stopped at {last['posts']} POSTs by --rss-time-cap, not 100 000" if short_of else ""))
    else:
        add("RSS after 100k POSTs within 10 % of after 10k", "not measured", "<= +10 %", None,
            "run without --quick for the 100 000 POSTs")
    if rss:
        add("OAuth2 token fetches <= httpd processes", str(rss["token_fetches"]),
            f"<= {rss['httpd_processes']}", rss["token_fetches"] <= rss["httpd_processes"],
            f"{rss['httpd_children']} children + 1 parent")


def fmt_ms(us):
    return f"{us / 1000:.2f}"


def markdown(res):
    p = res["phases"]
    m = res["machine"]
    lines = [f"# mod_sinch_reminder benchmark — {res['mode']} run, {res['started_at']}", "",
             f"`{res['command']}` — {res['duration_s']} s per wrk run, total {res['elapsed_s']} s. "
             f"Machine: {m['nproc']} × {m['cpu']}, {m['memory_gib']} GiB, Linux {m['kernel']}, {m['httpd']}, "
             f"{m['postgresql']}, {m['wrk']}; module at {m['commit']}. Everything on 127.0.0.1; "
             f"{res['idle_cpu_before']} (before the run). Module settings changed from their defaults: "
             f"{', '.join(res.get('module_settings_changed') or []) or 'none'}; MPM: "
             f"{'; '.join(res['mpm'][:5])}.", "",
             "| what | conns | req/s (success) | p50 ms | p90 ms | p99 ms | max ms | non-success | CPU s: httpd / pg / fake / wrk / other |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]

    def cpu(r):
        c = r.get("cpu")
        if not c:
            return ""
        return f"{c['httpd']:.1f} / {c['postgres']:.1f} / {c['fake']:.1f} / {c['loadgen']:.1f} / {c['other']:.1f} (of {c['capacity']:.0f})"

    def non_success(r):
        e = r["errors"]
        parts = []
        if "count_other" in r and r.get("count_responses"):
            bad = {k: v for k, v in r.get("statuses", {}).items() if k not in ("303", "201", "200")}
            if bad:
                parts.append(", ".join(f"{k}: {v}" for k, v in sorted(bad.items())))
        elif e["status"]:
            parts.append(f"status>399: {e['status']}")
        for k in ("connect", "read", "write", "timeout"):
            if e[k]:
                parts.append(f"{k} errors: {e[k]}")
        if r.get("count_exhausted"):
            parts.append(f"tokens exhausted: {r['count_exhausted']}")
        return "; ".join(parts) or "0"

    def row(label, r, rate):
        lat = r["latency_us"]
        lines.append(f"| {label} | {r['connections']} | {rate:.0f} | {fmt_ms(lat['p50'])} | {fmt_ms(lat['p90'])} | "
                     f"{fmt_ms(lat['p99'])} | {fmt_ms(lat['max'])} | {non_success(r)} | {cpu(r)} |")

    for r in p["get_form"]:
        row("GET form", r, r["rps"])
    for r in p["static"]:
        row(f"static file ({res['form_bytes']} B)", r, r["rps"])
    pg = p["pgbench"]
    c = pg["cpu"]
    lines.append(f"| pgbench INSERT (appointments row) | {pg['clients']} | {pg['tps']:.0f} | | | | | avg {pg['latency_avg_ms']} ms | "
                 f"{c['httpd']:.1f} / {c['postgres']:.1f} / {c['fake']:.1f} / {c['loadgen']:.1f} / {c['other']:.1f} (of {c['capacity']:.0f}) |")
    st = p.get("store")
    if st:
        c = st["cpu"]
        lines.append(f"| booking SQL alone (sr-bench-store) | {st['threads']} | {st['rate']:.0f} | | | | | | "
                     f"{c['httpd']:.1f} / {c['postgres']:.1f} / {c['fake']:.1f} / {c['loadgen']:.1f} / {c['other']:.1f} (of {c['capacity']:.0f}) |")
    for r in p["fake_alone"]:
        row("Sinch fake alone (POST batches)", r, r.get("ok_rps", 0))
    for r in p["post"]:
        row("POST flow (303)", r, r.get("ok_rps", 0))
    for r in p["post_fake_200ms"]:
        row("POST flow, fake +200 ms (303)", r, r.get("ok_rps", 0))
    lines += ["", "Data-loss check (after each POST run; requests wrk abandoned when its time was up still finish "
              "in httpd and are counted as `after stop`):", "",
              "| run | 303s | rows stored | scheduled | fake batches | 303s not stored+scheduled | after stop | left to the dispatcher | result | PostgreSQL per booking: sessions opened / commits |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    runs = [(f"POST {r['connections']} conns", r["data_check"], r.get("postgres")) for r in p["post"]]
    runs += [(f"POST +200 ms {r['connections']} conns", r["data_check"], r.get("postgres")) for r in p["post_fake_200ms"]]
    if p.get("rss"):
        runs += [(f"RSS run to {pt['posts']} POSTs", c, None) for pt, c in zip(p["rss"]["points"][1:], p["rss"]["checks"])]
    for name, c, pg in runs:
        per = (pg or {}).get("per_booking")
        pg_text = f"{per['sessions']} / {per['commits']}" if per else ""
        lines.append(f"| {name} | {c['responses_303']} | {c['rows_stored']} | {c['reminders_scheduled']} | "
                     f"{c['fake_batches']} | {c['missing_303_rows']} | {c['completed_after_wrk_stopped']} | "
                     f"{c.get('deferred_after_run', '')} | {'OK' if c['ok'] else 'MISMATCH'} | {pg_text} |")
    rss = p.get("rss")
    if rss:
        lines += ["", "httpd memory (sum over the parent and its children; fresh httpd with OAuth2 project credentials, "
                  "POSTs at 16 connections):", "", "| after POSTs | RSS MiB | PSS MiB | processes |", "|---:|---:|---:|---:|"]
        for pt in rss["points"]:
            lines.append(f"| {pt['posts']} | {pt['rss_kib'] / 1024:.1f} | {pt['pss_kib'] / 1024:.1f} | {pt['processes']} |")
        lines.append(f"\nOAuth2 token fetches seen by the fake: {rss['token_fetches']} "
                     f"(attempts {rss['token_fetch_attempts']}); httpd processes: {rss['httpd_processes']} "
                     f"({rss['httpd_children']} children). POST rate during the RSS runs: "
                     + ", ".join(f"{r['rps']:.0f}/s (p99 {r['p99_ms']} ms)" for r in rss["runs"]) + ".")
    lines += ["", "Targets (issue 7; reported, not asserted):", "", "| target | measured | required | result | detail |",
              "|---|---|---|---|---|"]
    for t in res["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {t['required']} | **{t['result']}** | {t['detail']} |")
    for note in res["notes"]:
        lines.append(f"\nNOTE: {note}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description="mod_sinch_reminder benchmark (see bench/README.md)")
    parser.add_argument("--quick", action="store_true",
                        help="5 s runs, static file at 16 connections only, RSS up to 10 000 POSTs only")
    parser.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10, --quick 5)")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--latency-connections", default="16,64", help="connections for the fake-at-200-ms runs")
    parser.add_argument("--rss-posts", help="cumulative POST counts for the RSS points (default 10000,100000; "
                        "--quick 10000; 'none' skips the RSS run)")
    parser.add_argument("--rss-time-cap", type=int, help="seconds the run to the last RSS point may take "
                        "(default 420); fewer POSTs are made if the measured rate cannot reach it")
    parser.add_argument("--nice", type=int, default=-10, help="niceness of everything the bench starts "
                        "(default -10 as root, so other work on the machine disturbs less; 0 = unchanged)")
    parser.add_argument("--wait-idle", type=int, default=120, help="wait up to this many seconds for the "
                        "machine's other CPU use to drop below 20 %% before starting (default 120)")
    parser.add_argument("--source", default=REPO, help="tree with the module's templates, sql/, harness and fake "
                        "(default: this repository; bench/run --head passes a snapshot of HEAD)")
    parser.add_argument("--label", default="working tree", help="what is measured, for the report")
    parser.add_argument("--out", default=os.path.join(BENCH, "results"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory (wrk outputs, tokens)")
    parser.add_argument("--report-only", metavar="JSON", help="recompute the targets and the Markdown of a results "
                        "file (e.g. bench/results/latest.json) and rewrite it; measures nothing")
    args = parser.parse_args()
    if args.report_only:
        with open(args.report_only) as f:
            results = json.load(f)
        results["targets"] = []
        evaluate(results, args)
        with open(args.report_only, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
            f.write("\n")
        text = markdown(results)
        with open(os.path.splitext(args.report_only)[0] + ".md", "w") as f:
            f.write(text)
        print(text)
        return
    args.duration = args.duration or (5 if args.quick else 10)
    args.rss_time_cap = args.rss_time_cap or (120 if args.quick else 420)
    args.connections = [int(c) for c in args.connections.split(",")]
    args.latency_connections = [int(c) for c in args.latency_connections.split(",") if c]
    rss = args.rss_posts or ("10000" if args.quick else "10000,100000")
    args.rss_posts = [] if rss == "none" else sorted(int(x) for x in rss.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

    if args.nice and os.getuid() == 0:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by PostgreSQL, the fake, httpd and wrk
    bench = Bench(args)
    stopping = []

    def on_signal(signum, _frame):
        stopping.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        results = bench.run()
    finally:
        if args.keep and getattr(bench, "state", None):
            kept = tempfile.mkdtemp(prefix="sr-bench-kept-")
            shutil.copytree(bench.work_root, os.path.join(kept, "work"), dirs_exist_ok=True)
            log(f"work directory kept in {kept}")
        bench.close()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    text = markdown(results)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(text)
    print()
    print(text)
    log(f"wrote {os.path.join(args.out, 'latest.json')} and latest.md")


if __name__ == "__main__":
    main()
