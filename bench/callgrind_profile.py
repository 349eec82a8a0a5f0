#!/usr/bin/env python3
"""Profiles the module's request paths under valgrind's callgrind (started by bench/profile).

A single-process httpd (`-X`, event MPM) under callgrind, with the same module configuration as the bench
(service-plan credentials against the Sinch fake, a throwaway PostgreSQL), once per kind of request:

  static  GET of the rendered form saved as a static file (httpd's own cost, the reference)
  get     GET /appointment (the form)
  post    the full booking (distinct token, phone number and time per request)

Only request processing is counted (`--toggle-collect=ap_process_async_request`: from the request line read
to the response written), and the counters are zeroed by one GET {mount}/health (`--zero-before=sr::schema_version*`: of the
request paths, only the health check reads the schema version; a static function would be inlined)
after 20 warm-up requests (pools, caches, the token key, first-use ICU data), so the dump at exit holds only
the measured requests (plus that one health request). Form tokens for the POSTs come from a second, ordinary
httpd on the same database, so no GET is counted in the POST profile. valgrind runs as `nobody`, the user
httpd would switch to, so it can write its output.

Prints callgrind_annotate's top functions (inclusive and self) per request and keeps the files in --out.
Instruction counts (Ir) do not depend on other load on the machine.
"""
import argparse
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zoneinfo

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
for _i, _arg in enumerate(sys.argv):  # --source DIR: a snapshot of HEAD (bench/profile --head)
    if _arg == "--source" and _i + 1 < len(sys.argv):
        ROOT = os.path.abspath(sys.argv[_i + 1])
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def apxs(key):
    return subprocess.run(["apxs", "-q", key], capture_output=True, text=True, check=True).stdout.strip()


SKIP = re.compile(r"^(0x[0-9a-f]+|clone|start_thread)$")


def annotate(path, inclusive):
    """[(instructions, function)] from callgrind_annotate, each function once (callgrind lists a function
    once per source file its inlined code came from), without the thread-start frames."""
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100",
                          path], capture_output=True, text=True, check=True, timeout=300).stdout
    best = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)\s*$", line)
        if not m or "PROGRAM TOTALS" in line or "file:function" in line:
            continue
        name = short(m.group(2))
        if SKIP.match(name):
            continue
        best[name] = max(best.get(name, 0), int(m.group(1).replace(",", "")))
    return sorted(((count, name) for name, count in best.items()), reverse=True)


def short(name, width=140):
    name = re.sub(r"\s*\[[^\]]*\]$", "", name)  # the object file
    name = re.sub(r"^[^ :]*:(?!:)", "", name, count=1)  # the source file (or ???)
    name = name.replace("std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string")
    return name if len(name) <= width else name[:width - 3] + "..."


def report(kind, path, n, top):
    inclusive = annotate(path, True)
    base = next((c for c, name in inclusive if name == "ap_process_async_request"), None)
    if not base:
        print(f"== {kind}: no ap_process_async_request in the profile\n")
        return
    print(f"== {kind.upper()}: {base // n:,} instructions per request (ap_process_async_request, {n} requests; "
          f"percentages of that) ==")
    print("   inclusive:")
    for count, name in [(c, nm) for c, nm in inclusive if c <= base][:top]:
        print(f"{count // n:>12,} {100.0 * count / base:5.1f}%  {name}")
    print("   self:")
    for count, name in annotate(path, False)[:top]:
        print(f"{count // n:>12,} {100.0 * count / base:5.1f}%  {name}")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build-bench-prof"))
    parser.add_argument("--requests", type=int, default=200, help="measured requests per kind (default 200)")
    parser.add_argument("--kinds", default="static,get,post")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "sr-callgrind"))
    parser.add_argument("--source", default=ROOT, help="tree with templates, sql/, harness and fake")
    parser.add_argument("--report-only", action="store_true", help="only print the report of the files in --out")
    args = parser.parse_args()
    if args.report_only:
        for kind in args.kinds.split(","):
            report(kind, os.path.join(args.out, f"callgrind.{kind}"), args.requests, args.top)
        return
    build = os.path.abspath(args.build)
    os.environ.update({
        "SR_SOURCE_DIR": ROOT,
        "SR_MODULE": os.path.join(build, "mod_sinch_reminder", "mod_sinch_reminder.so"),
        "SR_ADMIN": os.path.join(build, "mod_sinch_reminder", "sinch-reminder-admin"),
        "SR_HTTPD": os.path.join(apxs("SBINDIR"), apxs("PROGNAME")),
        "SR_HTTPD_MODULES": apxs("LIBEXECDIR"),
    })
    os.makedirs(args.out, exist_ok=True)
    os.chmod(args.out, 0o777)
    for old in os.listdir(args.out):
        if old.startswith("callgrind."):
            os.remove(os.path.join(args.out, old))
    state = tempfile.mkdtemp(prefix="sr-prof-")
    undo = []
    results = {}
    day = (datetime.datetime.now(NEW_YORK) + datetime.timedelta(days=3)).strftime("%Y-%m-%d")
    counter = [0]

    def booking():
        n = counter[0]
        counter[0] += 1
        return {"patient_name": f"Profile Patient {n}", "doctor_name": "Dr. Grace Hopper",
                "phone": f"+1650{3000000 + n:07d}", "appointment_date": day,
                "appointment_time": f"{8 + n % 10:02d}:{(n * 7) % 60:02d}"}

    try:
        pg = os.path.join(ROOT, "tests", "pg.sh")
        subprocess.run(["bash", pg, "start", state], check=True, stdout=subprocess.DEVNULL)
        undo.append(lambda: subprocess.run(["bash", pg, "stop", state]))
        os.environ["SR_ENV_FILES"] = os.path.join(state, "env")
        import harness
        harness.load_env_files()
        db = harness.Database()
        fake = harness.SinchFake("--max-recorded", "100")
        undo.append(fake.stop)
        conf = harness.module_conf(db.conninfo, fake.url)
        # An ordinary httpd on the same database issues the POSTs' form tokens (same signing key).
        issuer = harness.Httpd(conf, log_level="warn")
        undo.append(issuer.cleanup)
        issuer.start()
        issuing = harness.Browser(issuer)
        status, _, form_html = issuing.get("/appointment")
        for kind in args.kinds.split(","):
            httpd = harness.Httpd(conf, log_level="warn")
            undo.append(lambda h=httpd: shutil.rmtree(h.root, ignore_errors=True))
            with open(os.path.join(httpd.root, "htdocs", "static-form.html"), "w") as f:
                f.write(form_html)
            os.chmod(os.path.join(httpd.root, "htdocs", "static-form.html"), 0o644)
            out_file = os.path.join(args.out, f"callgrind.{kind}")
            as_nobody = ["runuser", "-u", "nobody", "--"] if os.getuid() == 0 else []
            cmd = [*as_nobody, "valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                   "--toggle-collect=ap_process_async_request", "--zero-before=sr::schema_version*",
                   os.environ["SR_HTTPD"], "-X", "-d", httpd.root, "-f", httpd.conf]
            log = open(os.path.join(args.out, f"valgrind.{kind}.log"), "w")
            started = time.monotonic()
            valgrind = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            try:
                if not harness.wait_for_port(httpd.port, timeout=240, process=valgrind):
                    raise RuntimeError(f"httpd under valgrind did not start; see {log.name}\n{httpd.read_error_log()}")
                browser = harness.Browser(httpd)
                browser.cookies = dict(issuing.cookies)
                for _ in range(20):  # warm-up: not counted
                    browser.get("/static-form.html")
                    browser.open_form()
                    status, _, body = browser.submit(booking())
                    if status != 303:
                        raise RuntimeError(f"warm-up booking answered {status}: {body[:300]}")
                tokens = [issuing.open_form() for _ in range(args.requests)] if kind == "post" else []
                if browser.get("/appointment/health")[0] != 200:  # zeroes callgrind's counters
                    raise RuntimeError("health check failed")
                t0 = time.monotonic()
                for i in range(args.requests):
                    if kind == "static":
                        status = browser.get("/static-form.html")[0]
                        expected = 200
                    elif kind == "get":
                        status = browser.get("/appointment")[0]
                        expected = 200
                    else:
                        status, _, body = browser.submit(booking(), token=tokens[i])
                        expected = 303
                    if status != expected:
                        raise RuntimeError(f"{kind} request answered {status}")
                measured = time.monotonic() - t0
            finally:
                launcher = valgrind.pid
                for pid in [p for p in map(int, filter(str.isdigit, os.listdir("/proc")))]:
                    try:
                        with open(f"/proc/{pid}/stat") as f:
                            if int(f.read().rsplit(")", 1)[1].split()[1]) == launcher:
                                os.kill(pid, signal.SIGTERM)  # the valgrind process under runuser
                    except (OSError, ValueError):
                        pass
                if not as_nobody:
                    valgrind.terminate()
                try:
                    valgrind.wait(180)
                except subprocess.TimeoutExpired:
                    valgrind.kill()
                    valgrind.wait()
                log.close()
            results[kind] = out_file
            print(f"{kind}: {args.requests} requests measured in {measured:.1f} s under callgrind "
                  f"(valgrind run {time.monotonic() - started:.0f} s)", flush=True)
        stored = int(db.scalar("SELECT count(*) FROM reminders WHERE status = 'scheduled'"))
        print(f"{stored} reminders scheduled in total (warm-up included)\n")
    finally:
        for step in reversed(undo):
            try:
                step()
            except Exception as e:  # noqa: BLE001
                print(f"while stopping: {e}", file=sys.stderr)
        shutil.rmtree(state, ignore_errors=True)

    n = args.requests
    foreign = {"static": ("show_form", "create_appointment"), "get": ("create_appointment",), "post": ("show_form",)}
    for kind, path in results.items():
        names = " ".join(name for _, name in annotate(path, True))
        leaked = [f for f in foreign.get(kind, ()) if f"::{f}(" in names]
        if leaked:
            print(f"WARNING: the {kind} profile contains {', '.join(leaked)}: the warm-up was not zeroed "
                  f"(did the health check stop calling os_tz_rules_version?)\n")
        report(kind, path, n, args.top)
    print(f"callgrind files: {args.out} (kcachegrind or callgrind_annotate)")


if __name__ == "__main__":
    main()
