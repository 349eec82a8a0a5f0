#!/usr/bin/env python3
"""One booking through an httpd that runs the installed package (tests/package/test_package.sh): GET the
form for its token and cookie, POST it, follow the 303; the appointment is stored in PostgreSQL with its
reminder scheduled, and the Sinch fake holds its one batch.

  book.py PORT CONNINFO FAKE_URL"""
import json
import os
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402  (the integration tests' browser and form helpers)

port, conninfo, fake_url = sys.argv[1], sys.argv[2], sys.argv[3]


class InstalledHttpd:
    """What harness.Browser needs of an httpd: its port."""
    port = int(port)


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)


browser = harness.Browser(InstalledHttpd)
when = harness.tomorrow_at(14, 30)
status, headers, body = browser.submit(harness.form_for(when))
check(status == 303, f"POST /appointment answered {status}, not 303: {body[:800]}")
location = headers["location"]
check(location.startswith("/appointment/a/"), f"redirected to {location}")
appointment_id = location.rsplit("/", 1)[1]

rows = subprocess.run(
    ["psql", "-X", "-q", "-A", "-t", "-F", " ", "-v", "ON_ERROR_STOP=1", conninfo, "-c",
     "SELECT a.phone_e164, r.status, r.batch_id FROM appointments a JOIN reminders r ON r.appointment_id = a.id "
     f"WHERE a.id = '{appointment_id}'"], check=True, capture_output=True, text=True).stdout.split()
check(len(rows) == 3, f"appointment {appointment_id} and its reminder are not stored: {rows}")
phone, reminder_status, batch_id = rows
check(phone == "+16502530000" and reminder_status == "scheduled", f"stored as {rows}")

with urllib.request.urlopen(fake_url + "/_fake/batches", timeout=10) as response:
    batches = json.loads(response.read())
check([b["id"] for b in batches] == [batch_id], f"the fake holds {batches}, not batch {batch_id}")

status, _, page = browser.get(location)
check(status == 200 and batch_id in page, f"GET {location} answered {status} without the batch id")
print(f"booked appointment {appointment_id}: stored, reminder scheduled as Sinch batch {batch_id}, "
      f"confirmation page served")
