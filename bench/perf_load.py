#!/usr/bin/env python3
"""System-wide CPU profile of the POST flow under load (perf's cpu-clock sampler, which works where hardware
counters do not). Started by `bench/profile --perf`; needs a Release build (bench/run builds build-bench).

Same services and configuration as bench/run (PostgreSQL, the Sinch fake, httpd with the event MPM, service-plan
credentials); wrk POSTs the full booking at --connections for --seconds while `perf record -a -g` samples every
CPU. Prints where the CPU went: per process kind (httpd, postgres, fake, wrk, other), then the top symbols of
httpd and of postgres (self time, with the shared object).
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import bench as B  # noqa: E402  (bench.py reads --source from sys.argv before importing the harness)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(B.ROOT, "build-bench"))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "sr-perf"))
    parser.add_argument("--source", default=B.ROOT, help="tree with templates, sql/, harness and fake")
    parser.add_argument("--nice", type=int, default=-10)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    bench_args = argparse.Namespace(build=args.build, duration=args.seconds, nice=args.nice)
    if args.nice and os.getuid() == 0:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    bench = B.Bench(bench_args)
    data = os.path.join(args.out, "perf.data")
    try:
        bench.start_services()
        httpd = bench.start_httpd(bench.service_plan_conf(), "perf")
        bench.wrk = B.Wrk(httpd.url, bench.work_root)
        bench.smoke(httpd)
        # wrk runs seconds + 2; a run that ran out of tokens would profile 403 form pages instead of bookings.
        tokens = bench.harvest_tokens(httpd, 3000 * (args.seconds + 2))
        work = bench.wrk.new_work_dir("perf-post")
        threads = min(2, args.connections)
        bench.write_tokens(work, tokens, threads)
        env = dict(os.environ)
        env.update({"BENCH_LUA_DIR": B.LUA, "BENCH_WORK": work, "BENCH_THREADS": str(threads), "BENCH_QUOTA": "0",
                    "BENCH_PATH": "/appointment", "BENCH_COOKIE": bench.cookie, "BENCH_DATES": bench.dates(),
                    "BENCH_PHONE_BASE": "0"})
        wrk = subprocess.Popen(["wrk", "-t", str(threads), "-c", str(args.connections), "-d", f"{args.seconds + 2}s",
                                "--timeout", "10s", "-s", os.path.join(B.LUA, "post.lua"), httpd.url],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1)
        subprocess.run(["perf", "record", "-e", "cpu-clock", "-F", "999", "-a", "-g", "-o", data, "--",
                        "sleep", str(args.seconds)], check=True, capture_output=True, timeout=args.seconds + 60)
        out, _ = wrk.communicate(timeout=60)
        r = B.parse_wrk(out)
        print(f"wrk: {r['count_ok']} bookings (303) in {r['duration_us'] / 1e6:.1f} s at {args.connections} connections")
        others = {k: v for k, v in r.get("statuses", {}).items() if str(k) != "303"}
        print(f"other answers: {others or 'none'}\n")
        if others:
            print("WARNING: not every request was a booking; the profile mixes in other pages\n")
    finally:
        bench.close()

    def report(*extra):
        return subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--percent-limit", "0.3",
                               *extra], capture_output=True, text=True, timeout=600).stdout

    kinds = collections.Counter()
    for line in report("--sort", "comm", "-g", "none").splitlines():
        m = re.match(r"^\s+([\d.]+)%\s+(\S.*?)\s*$", line)
        if m:
            comm = m.group(2)
            kind = ("httpd" if comm == "apache2" else "postgres" if comm.startswith("postgres") else
                    "fake/python" if comm.startswith("python") else "wrk" if comm == "wrk" else "other")
            kinds[kind] += float(m.group(1))
    print("CPU samples by process kind (% of all CPUs' samples):")
    for kind, pct in kinds.most_common():
        print(f"  {kind:12} {pct:5.1f}%")
    for comm in ("apache2", "postgres"):
        print(f"\nTop self symbols in {comm} (% of all samples):")
        lines = report("--comms", comm, "--sort", "dso,sym", "-g", "none").splitlines()
        shown = 0
        for line in lines:
            m = re.match(r"^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*?)\s*$", line)
            if m:
                print(f"  {m.group(1):>6}%  {m.group(2):28} {m.group(3)[:110]}")
                shown += 1
                if shown >= args.top:
                    break
    print(f"\nperf data: {data} (perf report -i {data})")


if __name__ == "__main__":
    main()
