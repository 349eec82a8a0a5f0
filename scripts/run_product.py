#!/usr/bin/env python3
"""The product, running: PostgreSQL, the Sinch fake (or real Sinch) and httpd with the module.
Started by scripts/run after the build; Ctrl-C (or SIGTERM) stops and removes everything."""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def apxs(key):
    return subprocess.run(["apxs", "-q", key], capture_output=True, text=True, check=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    os.environ.update({
        "SR_SOURCE_DIR": ROOT,
        "SR_MODULE": os.path.join(build, "mod_sinch_reminder", "mod_sinch_reminder.so"),
        "SR_ADMIN": os.path.join(build, "mod_sinch_reminder", "sinch-reminder-admin"),
        "SR_HTTPD": os.path.join(apxs("SBINDIR"), apxs("PROGNAME")),
        "SR_HTTPD_MODULES": apxs("LIBEXECDIR"),
    })
    port = int(os.environ.get("SR_PORT", "8080"))
    state = tempfile.mkdtemp(prefix="sr-run-")
    stopping = []

    def stop(*_):
        stopping.append(True)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    started = []
    try:
        subprocess.run(["bash", os.path.join(ROOT, "tests", "pg.sh"), "start", state], check=True)
        started.append(lambda: subprocess.run(["bash", os.path.join(ROOT, "tests", "pg.sh"), "stop", state]))
        os.environ["SR_ENV_FILES"] = os.path.join(state, "env")
        import harness  # reads SR_ENV_FILES
        harness.load_env_files()
        database = harness.Database()

        env = os.environ
        sinch = []
        if env.get("SINCH_SERVICE_PLAN_ID") and env.get("SINCH_API_TOKEN"):
            sinch = [f"SinchReminderServicePlanId {env['SINCH_SERVICE_PLAN_ID']}",
                     f"SinchReminderApiToken {env['SINCH_API_TOKEN']}"]
            mode = "real Sinch (service plan)"
        elif env.get("SINCH_PROJECT_ID") and env.get("SINCH_KEY_ID") and env.get("SINCH_KEY_SECRET"):
            sinch = [f"SinchReminderProjectId {env['SINCH_PROJECT_ID']}",
                     f"SinchReminderKeyId {env['SINCH_KEY_ID']}",
                     f"SinchReminderKeySecret {env['SINCH_KEY_SECRET']}"]
            mode = "real Sinch (OAuth2 project)"
        if sinch:
            if env.get("SINCH_REGION"):
                sinch.append(f"SinchReminderRegion {env['SINCH_REGION']}")
            sinch.append(f"SinchReminderFrom {env.get('SINCH_FROM', '+12025550100')}")
        else:
            fake = harness.SinchFake()
            started.append(fake.stop)
            sinch = ["SinchReminderServicePlanId test-plan", "SinchReminderApiToken test-api-token",
                     "SinchReminderFrom +12025550100",
                     f"SinchReminderSmsBaseUrl {fake.url}", f"SinchReminderAuthBaseUrl {fake.url}"]
            mode = f"the Sinch fake at {fake.url} (see {fake.url}/_fake/batches)"

        several = env.get("SR_CLINICS", "1") != "1"
        if several:
            # README "Several clinics": two clinics with their own zone, lead time, sender (and, dermatology, a
            # Spanish SMS for the patients who read Spanish best), and a front desk
            # that sees both. (With real Sinch, each sender must belong to the account.)
            mounts = ["/cardiology", "/dermatology", "/frontdesk"]
            clinics = [
                '<Location "/cardiology">\n  SetHandler sinch-reminder\n  SinchReminderClinic cardiology\n'
                '  SinchReminderClinicName "Riverside Cardiology"\n  SinchReminderTimeZone America/New_York\n'
                f"  SinchReminderFrom {env.get('SINCH_FROM', '+12025550111')}\n</Location>",
                '<Location "/dermatology">\n  SetHandler sinch-reminder\n  SinchReminderClinic dermatology\n'
                '  SinchReminderClinicName "Lakeside Dermatology"\n  SinchReminderTimeZone America/Chicago\n'
                "  SinchReminderLeadTime 1d\n  SinchReminderLanguages en es\n"
                '  SinchReminderMessage es "{{clinic}}: cita con {{doctor}} el {{date_time}}. Responda STOP para '
                'no recibir más."\n'
                f"  SinchReminderFrom {env.get('SINCH_FROM_2', env.get('SINCH_FROM', '+12025550122'))}\n</Location>",
                '<Location "/frontdesk">\n  SetHandler sinch-reminder\n  SinchReminderClinic frontdesk\n'
                '  SinchReminderClinicName "Front desk"\n  SinchReminderSeeClinics cardiology dermatology\n'
                "</Location>",
            ]
        else:
            mounts = ["/appointment"]
            clinics = ['<Location "/appointment">\n  SetHandler sinch-reminder\n</Location>']
        conf = "\n".join([
            f'SinchReminderDatabase "{database.conninfo}"',
            f"SinchReminderTimeZone {env.get('SR_TIME_ZONE', 'America/New_York')}",
            f"SinchReminderDefaultCountry {env.get('SR_DEFAULT_COUNTRY', 'US')}",
            *sinch,
            "SinchReminderTemplateDir templates",
            f"SinchReminderClinicName \"{env.get('SR_CLINIC_NAME', 'Riverside Clinic')}\"",
            "SinchReminderCookieSecure Off",
            # No login for this local try-out (httpd listens on 127.0.0.1 only); a real site protects the mount
            # with AuthType/Require (README, "Protecting the mount") and leaves this Off.
            "SinchReminderAllowAnonymous On",
            *clinics,
        ])
        httpd = harness.Httpd(conf, port=port, log_level="info")
        started.append(httpd.cleanup)
        httpd.start()
        print("\nmod_sinch_reminder is running: " + "  ".join(f"http://127.0.0.1:{port}{m}" for m in mounts))
        print(f"  Sinch:      {mode}")
        print(f"  PostgreSQL: {database.conninfo}")
        print(f"  error log:  {httpd.error_log}")
        print("Press Ctrl-C to stop (everything started here is stopped and deleted).", flush=True)
        while not stopping:
            time.sleep(0.5)
    finally:
        for undo in reversed(started):
            try:
                undo()
            except Exception as e:  # keep stopping the rest
                print(f"while stopping: {e}", file=sys.stderr)
        subprocess.run(["rm", "-rf", state])
        print("stopped.")


if __name__ == "__main__":
    main()
