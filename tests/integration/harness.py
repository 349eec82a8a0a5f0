"""Integration harness: a real httpd loading the built module, a real PostgreSQL database and the
Sinch fake, all on loopback, started and stopped by the tests themselves.

Environment (set by CTest, see tests/CMakeLists.txt):
  SR_ENV_FILES      KEY=VALUE files of the service fixtures (the PostgreSQL cluster)
  SR_MODULE         the built mod_sinch_reminder.so
  SR_ADMIN          the built sinch-reminder-admin tool
  SR_HTTPD          the httpd binary (apxs SBINDIR/PROGNAME)
  SR_HTTPD_MODULES  httpd's modules directory (apxs LIBEXECDIR)
  SR_SOURCE_DIR     the repository
  SR_SANITIZER_PRELOAD  the ASan runtime, when the module is built with sanitizers (scripts/test --sanitize):
                    every httpd run preloads it, and any ASan/UBSan report fails the test
"""
import datetime
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
import zoneinfo

SOURCE_DIR = os.environ.get("SR_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))


def load_env_files():
    for path in filter(None, os.environ.get("SR_ENV_FILES", "").split(":")):
        with open(path) as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    os.environ[key] = value


load_env_files()


def require_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the integration tests through ctest")
    return value


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=20.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


# --- what most booking tests need ---------------------------------------------------------------
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def tomorrow_at(hour, minute, days=1, zone=NEW_YORK):
    local = datetime.datetime.now(zone).date() + datetime.timedelta(days=days)
    return datetime.datetime(local.year, local.month, local.day, hour, minute, tzinfo=zone)


def iso_z(moment):
    """The instant as Sinch's send_at: UTC with milliseconds."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def form_for(when, **overrides):
    """The booking form's fields for an appointment at `when` (clinic-local)."""
    fields = {
        "patient_name": "Ada Lovelace",
        "doctor_name": "Dr. Grace Hopper",
        "phone": "(650) 253-0000",
        "appointment_date": when.strftime("%Y-%m-%d"),
        "appointment_time": when.strftime("%H:%M"),
    }
    fields.update(overrides)
    return fields


_db_counter = itertools.count()


class Database:
    """A fresh database on the shared throwaway cluster, migrated with the admin tool."""

    def __init__(self, migrate=True, port=None):
        self.name = f"sr_it_{os.getpid()}_{next(_db_counter)}"
        self.port = port or require_env("PGPORT")
        self.admin_conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        self.conninfo = f"host=127.0.0.1 port={self.port} user=postgres dbname={self.name} connect_timeout=3"
        self.psql_admin(f'CREATE DATABASE "{self.name}"')
        if migrate:
            subprocess.run([require_env("SR_ADMIN"), "migrate", "--database", self.conninfo,
                            "--sql-dir", os.path.join(SOURCE_DIR, "sql")],
                           check=True, capture_output=True, text=True)

    def psql_admin(self, sql):
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", self.admin_conninfo, "-c", sql],
                       check=True, capture_output=True, text=True)

    def query(self, sql):
        """Rows as lists of strings (psql unaligned output)."""
        out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              self.conninfo, "-c", sql], check=True, capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def drop(self):
        try:
            self.psql_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        except subprocess.CalledProcessError as e:
            print(f"could not drop {self.name}: {e.stderr}", file=sys.stderr)


class Cluster:
    """A PostgreSQL cluster of the test's own (tests/pg.sh), for tests that restart it."""

    def __init__(self):
        self.state = tempfile.mkdtemp(prefix="sr-pgstate-")
        self.script = os.path.join(SOURCE_DIR, "tests", "pg.sh")
        subprocess.run(["bash", self.script, "start", self.state], check=True, capture_output=True)
        with open(os.path.join(self.state, "env")) as f:
            env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        self.port = env["PGPORT"]

    def restart(self):
        subprocess.run(["bash", self.script, "restart", self.state], check=True, capture_output=True)

    def stop(self):
        subprocess.run(["bash", self.script, "stop", self.state], capture_output=True)
        shutil.rmtree(self.state, ignore_errors=True)


def wait_until(condition, timeout=15.0, interval=0.2):
    """Polls until condition() is truthy; returns its last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def child_pids(parent):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == parent:
                        pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return pids


class SinchFake:
    """The Sinch fake (tests/sinch_fake) as a subprocess with its control API.

    tls=(certificate, key, ca): it serves HTTPS with that certificate, and the control calls trust `ca`."""

    def __init__(self, *extra_args, tls=None):
        self.dir = tempfile.mkdtemp(prefix="sr-fake-")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "fake.log"), "w")
        self.ssl_context = None
        if tls:
            certificate, key, ca = tls
            extra_args = (*extra_args, "--tls-cert", certificate, "--tls-key", key)
            self.ssl_context = ssl.create_default_context(cafile=ca)
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(SOURCE_DIR, "tests", "sinch_fake", "sinch_fake.py"),
             "--listen", "127.0.0.1:0", "--port-file", port_file, *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the Sinch fake did not start: " + open(self.log.name).read())
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=self.ssl_context) as response:
            raw = response.read()
            return json.loads(raw) if raw else None

    def batches(self):
        return self.control("GET", "/_fake/batches")

    def requests(self):
        return self.control("GET", "/_fake/requests")

    def stats(self):
        return self.control("GET", "/_fake/stats")

    def add_fault(self, **rule):
        return self.control("POST", "/_fake/faults", rule)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


BASE_MODULES = ["mpm_event", "authz_core", "authz_host", "authn_core", "auth_basic", "authn_file",
                "authz_user", "headers"]


class Httpd:
    """A real httpd with a generated configuration that loads the built module.

    NB: the checkout may be under a 0700 directory the worker user cannot enter, so the module
    and the templates are copied into a world-readable /tmp ServerRoot. `module` and `templates` choose
    another build than SR_MODULE and the repository's templates (test_mixed_versions.py: the previous release)."""

    def __init__(self, module_conf, extra_top_conf="", log_level="warn sinch_reminder:debug", port=None,
                 module=None, templates=None):
        self.root = tempfile.mkdtemp(prefix="sr-httpd-")
        os.chmod(self.root, 0o755)
        for sub in ("logs", "run", "htdocs", "conf"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        shutil.copy(module or require_env("SR_MODULE"), os.path.join(self.root, "mod_sinch_reminder.so"))
        shutil.copytree(templates or os.path.join(SOURCE_DIR, "templates"), os.path.join(self.root, "templates"))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.error_log = os.path.join(self.root, "logs", "error.log")
        self.conf = os.path.join(self.root, "conf", "httpd.conf")
        self.write_conf(module_conf, extra_top_conf, log_level)
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", "nobody:nogroup", os.path.join(self.root, "logs"),
                            os.path.join(self.root, "run")], check=True)
        self.started = False

    def write_conf(self, module_conf, extra_top_conf="", log_level="warn sinch_reminder:debug"):
        modules_dir = require_env("SR_HTTPD_MODULES")
        loads = "\n".join(f"LoadModule {m}_module {modules_dir}/mod_{m}.so" for m in BASE_MODULES)
        with open(self.conf, "w") as f:
            f.write(f"""ServerRoot "{self.root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{self.port}
PidFile "{self.root}/run/httpd.pid"
DefaultRuntimeDir "{self.root}/run"
Mutex file:{self.root}/run default
ErrorLog "{self.error_log}"
LogLevel {log_level}
User nobody
Group nogroup
{loads}
LoadModule sinch_reminder_module "{self.root}/mod_sinch_reminder.so"
StartServers 1
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
DocumentRoot "{self.root}/htdocs"
<Directory />
  Require all granted
</Directory>
{extra_top_conf}
{module_conf}
""")

    def run(self, *args):
        return subprocess.run([require_env("SR_HTTPD"), "-d", self.root, "-f", self.conf, *args],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                              env=self.sanitizer_env())

    def sanitizer_env(self):
        """httpd itself is not instrumented, so the ASan runtime must be preloaded (ENV.md). Reports go to
        files (httpd has fd 2 on its error log); LSan is off because httpd's own pools outlive exit."""
        preload = os.environ.get("SR_SANITIZER_PRELOAD")
        if not preload:
            return None
        prefix = os.path.join(self.root, "logs", "sanitizer")
        return dict(os.environ, LD_PRELOAD=preload,
                    ASAN_OPTIONS=f"detect_leaks=0:log_path={prefix}",
                    UBSAN_OPTIONS=f"print_stacktrace=1:log_path={prefix}")

    def sanitizer_reports(self):
        logs = os.path.join(self.root, "logs")
        reports = []
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            if name.startswith("sanitizer."):
                with open(os.path.join(logs, name), errors="replace") as f:
                    reports.append(f"--- {name} ---\n{f.read()}")
        return "\n".join(reports)

    def configtest(self):
        """(exit code, everything httpd printed) of `httpd -t`."""
        result = self.run("-t")
        return result.returncode, result.stdout + result.stderr

    def start(self):
        result = self.run("-k", "start")
        if result.returncode != 0 or not wait_for_port(self.port):
            raise RuntimeError(f"httpd did not start ({result.returncode}):\n{result.stdout}{result.stderr}\n"
                               f"--- error log ---\n{self.read_error_log()}")
        self.started = True
        return self

    def pid(self):
        with open(os.path.join(self.root, "run", "httpd.pid")) as f:
            return int(f.read().strip())

    def stop(self):
        if not self.started:
            return
        try:
            pid = self.pid()
        except (OSError, ValueError):
            pid = None
        self.run("-k", "stop")
        deadline = time.monotonic() + 20
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            if pid:
                os.kill(pid, signal.SIGKILL)
        self.started = False

    def graceful(self):
        self.run("-k", "graceful")

    def read_error_log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except OSError:
            return getattr(self, "final_error_log", "(no error log)")

    def cleanup(self):
        self.stop()
        self.final_error_log = self.read_error_log()  # kept for the failure report
        reports = self.sanitizer_reports()
        shutil.rmtree(self.root, ignore_errors=True)
        if reports:
            raise AssertionError(f"httpd's sanitizers reported errors:\n{reports}")

    # --- HTTP ---------------------------------------------------------------------------------
    def request(self, method, path, body=None, headers=None):
        """(status, headers dict with lower-case names, body text). Never follows redirects."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            data = response.read().decode("utf-8", errors="replace")
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post_form(self, path, fields, headers=None):
        all_headers = {"Content-Type": "application/x-www-form-urlencoded"}
        all_headers.update(headers or {})
        return self.request("POST", path, urllib.parse.urlencode(fields), all_headers)

    def post_json(self, path, document, headers=None):
        all_headers = {"Content-Type": "application/json"}
        all_headers.update(headers or {})
        return self.request("POST", path, json.dumps(document), all_headers)


def module_conf(database_conninfo, fake_url=None, extra="", location="/appointment", location_extra="",
                allow_anonymous=True, sender=True):
    """The usual module configuration for tests: service-plan credentials against the fake.

    The mount has no login unless location_extra adds one, so by default SinchReminderAllowAnonymous On lets
    the handler serve it (on loopback, to the tests only); the staff tests use Basic auth instead
    (staff_support.staff_httpd) and pass allow_anonymous=False. sender=False leaves SinchReminderFrom out (Sinch
    then uses the account's default originator, if it has one)."""
    lines = [
        f'SinchReminderDatabase "{database_conninfo}"',
        "SinchReminderTimeZone America/New_York",
        "SinchReminderDefaultCountry US",
        "SinchReminderServicePlanId test-plan",
        "SinchReminderApiToken test-api-token",
        "SinchReminderTemplateDir templates",
        "SinchReminderClinicName \"Riverside Clinic\"",
        "SinchReminderCookieSecure Off",
    ]
    if sender:
        lines.append("SinchReminderFrom +12025550100")
    if allow_anonymous:
        lines.append("SinchReminderAllowAnonymous On")
    if fake_url:
        lines.append(f"SinchReminderSmsBaseUrl {fake_url}")
        lines.append(f"SinchReminderAuthBaseUrl {fake_url}")
    lines.append(extra)
    lines.append(f'<Location "{location}">\n  SetHandler sinch-reminder\n{location_extra}</Location>')
    return "\n".join(lines)


class HttpdTestCase(unittest.TestCase):
    """Prints httpd's error log when a test fails, so CI output says what happened."""

    httpd = None

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        failures_before = len(result.failures) + len(result.errors)
        outcome = super().run(result)
        if len(result.failures) + len(result.errors) > failures_before and self.httpd is not None:
            print(f"\n--- httpd error log ({self.id()}) ---\n{self.httpd.read_error_log()}\n---", file=sys.stderr)
        return outcome


class NodesTestCase(unittest.TestCase):
    """Several httpd nodes per test: when a test fails, the tail of each node's error log is printed.
    Subclasses keep their nodes in self.nodes (a list, or a dict by name)."""

    LOG_TAIL = 80

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        outcome = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            nodes = getattr(self, "nodes", None) or {}
            named = nodes.items() if isinstance(nodes, dict) else ((f"node {i}", n) for i, n in enumerate(nodes))
            for name, node in named:
                lines = node.read_error_log().splitlines()
                print(f"\n--- {name} error log, last {self.LOG_TAIL} of {len(lines)} lines ({self.id()}) ---\n"
                      + "\n".join(lines[-self.LOG_TAIL:]) + "\n---", file=sys.stderr)
        return outcome


class ServicesTestCase(HttpdTestCase):
    """One database, one Sinch fake and one httpd for the whole class; each test starts from an empty
    store and a reset fake. Subclasses choose the httpd with make_httpd() and the fake's options with
    fake_args."""

    fake_args = ()

    @classmethod
    def make_httpd(cls, database, fake):
        return Httpd(module_conf(database.conninfo, fake.url))

    @classmethod
    def setUpClass(cls):
        cls.database = Database()
        cls.fake = SinchFake(*cls.fake_args)
        cls.httpd = cls.make_httpd(cls.database, cls.fake)
        cls.httpd.start()

    @classmethod
    def tearDownClass(cls):
        cls.httpd.cleanup()
        cls.fake.stop()
        cls.database.drop()

    def setUp(self):
        self.fake.control("POST", "/_fake/reset")
        # The running httpd's dispatcher workers may hold row locks (a claim locks a reminder, then reads its
        # appointment): TRUNCATE can then lose a deadlock. It is only the test's clean-up, so try again.
        for attempt in range(5):
            try:
                self.database.query("TRUNCATE appointments, reminders, audit_log CASCADE")
                return
            except subprocess.CalledProcessError as e:
                if attempt == 4:
                    raise AssertionError(f"TRUNCATE kept failing: {e.stderr}") from e
                time.sleep(0.5)


def main():
    unittest.main(verbosity=2)


class Browser:
    """Keeps cookies and the form's token like a browser would; never follows redirects."""

    TOKEN = __import__("re").compile(r'name="csrf_token"\s+value="([^"]*)"|value="([^"]*)"\s+name="csrf_token"')

    def __init__(self, httpd):
        self.httpd = httpd
        self.cookies = {}

    def _remember(self, headers_list):
        for name, value in headers_list:
            if name.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                self.cookies[key.strip()] = val.strip()

    def request(self, method, path, body=None, headers=None):
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.httpd.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            data = response.read().decode("utf-8", errors="replace")
            raw_headers = response.getheaders()
            self._remember(raw_headers)
            headers = {}
            for k, v in raw_headers:
                headers[k.lower()] = v if k.lower() not in headers else headers[k.lower()] + ", " + v
            return response.status, headers, data
        finally:
            connection.close()

    def get(self, path):
        return self.request("GET", path)

    def open_form(self, path="/appointment"):
        status, headers, body = self.get(path)
        if status != 200:
            raise AssertionError(f"GET {path} answered {status}: {body[:500]}")
        match = self.TOKEN.search(body)
        if not match:
            raise AssertionError("the form has no csrf_token field")
        return match.group(1) or match.group(2)

    def submit(self, fields, path="/appointment", token=None):
        data = dict(fields)
        data["csrf_token"] = token if token is not None else self.open_form(path)
        return self.request("POST", path, urllib.parse.urlencode(data),
                            {"Content-Type": "application/x-www-form-urlencoded"})
