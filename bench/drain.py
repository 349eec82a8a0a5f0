#!/usr/bin/env python3
"""Dispatcher drain benchmark (issue 11): how fast a backlog of due reminders reaches Sinch.

For each fake latency and node count: N reminders due now are stored in a fresh database, then one or two
httpd nodes (each a real httpd with the module, `SinchReminderDispatchWorkers` calls in flight) hand them
over. The drain rate (batches/s, from the first to the last reminder scheduled) is reported next to
min(account rate, what the fake alone sustains at the same concurrency and latency), measured in the same
run with wrk. Every run also checks exactly once: creates at the fake == batches == N.

Run it through bench/drain (which builds a Release module first); see bench/README.md.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import bench as b  # noqa: E402  (the main bench's helpers: Wrk, apxs, log)


def seed(db, count):
    db.query(f"""
        INSERT INTO appointments (patient_name, doctor_name, phone_e164, starts_at, time_zone, local_wall_time)
        SELECT 'Patient ' || g, 'Dr. Who', '+1650' || lpad((2000000 + g)::text, 7, '0'),
               date_trunc('minute', now()) + interval '3 hours', 'America/New_York', '2026-12-01T14:30'
        FROM generate_series(1, {count}) g;
        INSERT INTO reminders (appointment_id, revision, send_at, time_zone, status, body)
        SELECT id, 1, starts_at - interval '2 hours', time_zone, 'pending',
               'Riverside Clinic reminder: appointment with Dr. Who. Reply STOP to opt out.' FROM appointments;
        ANALYZE appointments; ANALYZE reminders;
        SELECT 1""")


def fake_alone(h, wrk, fake, latency_ms, connections, seconds):
    """Creates/s the fake sustains at this latency and concurrency (wrk, the module's own request shape)."""
    fake.control("POST", "/_fake/reset")
    if latency_ms:
        fake.add_fault(match={"method": "POST", "path_regex": "/batches$"}, latency_ms=latency_ms)
    body = json.dumps({"to": ["@TO@"], "body": "Riverside Clinic reminder: appointment with Dr. Who.",
                       "send_at": "2030-01-01T10:00:00.000Z", "expire_at": "2030-01-01T12:00:00.000Z",
                       "delivery_report": "none", "client_reference": "@REF@"})
    work = wrk.new_work_dir(f"fake-{latency_ms}ms-{connections}")
    r = wrk.run("fake.lua", connections, seconds,
                {"BENCH_PATH": "/xms/v1/test-plan/batches", "BENCH_BODY_TEMPLATE": body,
                 "BENCH_BEARER": "test-api-token", "BENCH_PHONE_BASE": 0},
                work, url=fake.url, label="fake alone")
    return r.get("ok_rps", r["rps"])


def drain(h, fake, args, latency_ms, nodes):
    # The fake-alone run's last requests are still in the fake's latency when wrk stops: let them finish first.
    time.sleep(latency_ms / 1000 + 1)
    fake.control("POST", "/_fake/reset")
    if latency_ms:
        fake.add_fault(match={"method": "POST", "path_regex": "/batches$"}, latency_ms=latency_ms)
    db = h.Database()
    try:
        seed(db, args.count)
        extra = "\n".join([
            "SinchReminderDispatchInterval 1s", "SinchReminderRetryDelay 1s", "SinchReminderReconcileInterval 0",
            f"SinchReminderMaxBatchesPerSecond {args.rate}", f"SinchReminderDispatchWorkers {args.workers}",
            f"SinchReminderDbPoolMax {args.workers + 8}"])
        servers = []
        try:
            for _ in range(nodes):
                httpd = h.Httpd(h.module_conf(db.conninfo, fake.url, extra=extra), log_level="warn")
                servers.append(httpd)
            started = time.monotonic()
            for httpd in servers:
                httpd.start()
            # Polled once a second with a cheap count (the due index); the rate itself comes from the rows'
            # own times afterwards (updated_at of the 'scheduled' recordings), so the bench's polling neither
            # loads the machine it measures nor rounds the drain's length to its poll interval.
            drained = False
            deadline = started + args.timeout
            while time.monotonic() < deadline:
                try:
                    left = int(db.scalar("SELECT count(*) FROM reminders WHERE status IN "
                                         "('pending', 'retrying', 'unknown', 'scheduling')"))
                except subprocess.CalledProcessError as e:  # e.g. every connection slot taken for a moment
                    b.log(f"poll failed: {(e.stderr or '').strip()[:200]}")
                    time.sleep(0.5)
                    continue
                if left == 0:
                    drained = True
                    break
                time.sleep(1)
            span = float(db.scalar("SELECT coalesce(extract(epoch FROM max(updated_at) - min(updated_at)), 0)"
                                   " FROM reminders WHERE status = 'scheduled'"))
            stats = fake.stats()
            # Exactly once, counted per reminder revision (client_reference "sr-…") at the fake.
            refs = {ref: v for ref, v in fake.control("GET", "/_fake/client_references").items()
                    if ref.startswith("sr-")}
            statuses = dict(db.query("SELECT status, count(*) FROM reminders GROUP BY status"))
        finally:
            for httpd in servers:
                httpd.cleanup()
        scheduled = int(statuses.get("scheduled", 0))
        if not drained or scheduled != args.count or span <= 0:
            return {"latency_ms": latency_ms, "nodes": nodes, "error": f"not drained: {statuses}"}
        # From the first hand-over recorded to the last: count - 1 intervals.
        rate = (args.count - 1) / span
        return {"latency_ms": latency_ms, "nodes": nodes, "rate": round(rate, 1),
                "seconds": round(span, 2), "creates": sum(v["creates"] for v in refs.values()),
                "live_per_reminder_max": max((v["live"] for v in refs.values()), default=0),
                "exactly_once": len(refs) == args.count and all(v["creates"] == 1 and v["live"] == 1
                                                                 for v in refs.values()),
                "statuses": statuses}
    finally:
        db.drop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    parser.add_argument("--count", type=int, default=20000, help="due reminders per run (default 20000)")
    parser.add_argument("--rate", type=int, default=1000, help="SinchReminderMaxBatchesPerSecond (default 1000)")
    parser.add_argument("--workers", type=int, default=64, help="SinchReminderDispatchWorkers (default 64)")
    parser.add_argument("--latencies", default="0,50,200", help="fake latencies in ms (default 0,50,200)")
    parser.add_argument("--nodes", default="1,2", help="node counts (default 1,2)")
    parser.add_argument("--fake-seconds", type=int, default=5, help="seconds of each fake-alone wrk run")
    parser.add_argument("--timeout", type=int, default=600, help="give up a drain after this many seconds")
    parser.add_argument("--out", default=os.path.join(BENCH, "results", "drain.json"))
    args = parser.parse_args()

    build = os.path.abspath(args.build)
    os.environ.update({
        "SR_SOURCE_DIR": ROOT,
        "SR_MODULE": os.path.join(build, "mod_sinch_reminder", "mod_sinch_reminder.so"),
        "SR_ADMIN": os.path.join(build, "mod_sinch_reminder", "sinch-reminder-admin"),
        "SR_HTTPD": os.path.join(b.apxs("SBINDIR"), b.apxs("PROGNAME")),
        "SR_HTTPD_MODULES": b.apxs("LIBEXECDIR"),
    })
    state = tempfile.mkdtemp(prefix="sr-drain-")
    os.chmod(state, 0o755)
    pg = os.path.join(ROOT, "tests", "pg.sh")
    subprocess.run(["bash", pg, "start", state], check=True, stdout=subprocess.DEVNULL)
    rows = []
    try:
        os.environ["SR_ENV_FILES"] = os.path.join(state, "env")
        import harness as h
        h.load_env_files()
        fake = h.SinchFake("--max-recorded", "0")
        wrk = b.Wrk(fake.url, tempfile.mkdtemp(prefix="sr-drain-wrk-"))
        try:
            for latency in [int(x) for x in args.latencies.split(",")]:
                for nodes in [int(x) for x in args.nodes.split(",")]:
                    connections = args.workers * nodes
                    alone = fake_alone(h, wrk, fake, latency, connections, args.fake_seconds)
                    b.log(f"fake alone at {latency} ms, {connections} connections: {alone:.0f} creates/s")
                    row = drain(h, fake, args, latency, nodes)
                    row["fake_alone"] = round(alone, 1)
                    row["reference"] = round(min(args.rate, alone), 1)
                    if "rate" in row:
                        row["ratio"] = round(row["rate"] / row["reference"], 2)
                    b.log(f"drain {args.count} at {latency} ms, {nodes} node(s): {json.dumps(row)}")
                    rows.append(row)
        finally:
            fake.stop()
    finally:
        subprocess.run(["bash", pg, "stop", state], stdout=subprocess.DEVNULL)
    result = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "count": args.count, "rate": args.rate, "workers": args.workers, "machine": b.machine_description("drain"),
              "rows": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print("\n| fake latency | nodes | drained batches/s | fake alone | min(rate, fake) | ratio | exactly once |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['latency_ms']} ms | {r['nodes']} | {r.get('rate', r.get('error'))} | {r['fake_alone']} | "
              f"{r['reference']} | {r.get('ratio', '-')} | {r.get('exactly_once', '-')} |")


if __name__ == "__main__":
    main()
