"""A real browser (Debian's headless Chromium through chromedriver) books, fails validation, confirms, lists,
reschedules and cancels; one booking is made with the keyboard alone; every page passes axe-core's checks
with no serious or critical violation. Screenshots of each page at desktop and phone width go to
$SR_SCREENSHOT_DIR (default: the build's test-state/screenshots; docs/screenshots holds the README's).

Skipped, saying so (ctest: "Not Run (Skipped)"), only where Chromium, chromedriver or python3-selenium cannot
be installed."""
import datetime
import io
import json
import os
import re
import shutil
import tarfile
import unittest
import urllib.request

import harness
from harness import Httpd, ServicesTestCase, module_conf, tomorrow_at, wait_until

import sys

try:
    import selenium  # noqa: F401
except ImportError:
    # Debian's python3-selenium lives in the system Python's dist-packages; a python3 from elsewhere on PATH
    # (pyenv, a venv) does not look there.
    sys.path.append("/usr/lib/python3/dist-packages")
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    HAVE_SELENIUM = True
except ImportError:  # pragma: no cover - the skip message says what is missing
    HAVE_SELENIUM = False

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
AXE_VERSION = "4.10.3"
AXE_URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def browser_missing():
    if not HAVE_SELENIUM:
        return "python3-selenium is not installed"
    if not os.path.exists(CHROMEDRIVER):
        return "chromedriver (package chromium-driver) is not installed"
    return ""


def axe_source():
    """axe-core's axe.min.js from the npm registry, cached beside the test state; None if unreachable."""
    cache = os.path.join(os.getcwd(), "test-state", f"axe-{AXE_VERSION}.min.js")
    if os.path.exists(cache):
        return open(cache).read()
    try:
        data = urllib.request.urlopen(AXE_URL, timeout=30).read()
    except OSError as e:
        print(f"\nNOTE: axe-core could not be fetched from the npm registry ({e}); accessibility checks skipped")
        return None
    with tarfile.open(fileobj=io.BytesIO(data)) as tgz:
        source = tgz.extractfile("package/axe.min.js").read().decode()
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    with open(cache, "w") as f:
        f.write(source)
    return source


@unittest.skipIf(browser_missing(), f"SKIPPED (browser test): {browser_missing()}")
class BrowserTest(ServicesTestCase):
    @classmethod
    def make_httpd(cls, database, fake):
        # Two languages, so the pages show the SMS language list as a clinic with it sees it.
        return Httpd(module_conf(database.conninfo, fake.url, extra="\n".join([
            "SinchReminderDispatchInterval 1s",
            "SinchReminderLanguages en es",
            'SinchReminderMessage es "{{clinic}}: cita con {{doctor}} el {{date_time}}. Responda STOP para no '
            'recibir más."'])))

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        options = webdriver.ChromeOptions()
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--lang=en-US", "--hide-scrollbars"):
            options.add_argument(argument)
        cls.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        cls.axe = axe_source()
        cls.shots = os.environ.get("SR_SCREENSHOT_DIR", os.path.join(os.getcwd(), "test-state", "screenshots"))
        os.makedirs(cls.shots, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        super().tearDownClass()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.port}{path}"

    def look(self, name):
        """Screenshots at both widths, and axe-core's verdict on the page as it is."""
        for size, (width, height) in SIZES.items():
            self.driver.set_window_size(width, height)
            self.driver.save_screenshot(os.path.join(self.shots, f"{name}-{size}.png"))
        self.driver.set_window_size(*SIZES["desktop"])
        if self.axe:
            self.driver.execute_script(self.axe)
            result = self.driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "axe.run(document, {resultTypes: ['violations']}).then(r => done(JSON.stringify(r.violations)));")
            serious = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]])
                       for v in json.loads(result) if v["impact"] in ("serious", "critical")]
            self.assertEqual(serious, [], f"axe-core on {name}")

    def fill(self, field, text):
        element = self.driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(text)

    def type_date(self, field, day):
        # Chrome's date input (en-US) takes the digits month, day, year and moves on by itself.
        self.driver.find_element(By.ID, field).send_keys(day.strftime("%m%d%Y"))

    def type_time(self, field, moment):
        self.driver.find_element(By.ID, field).send_keys(moment.strftime("%I%M%p")[:-1])  # 0230P

    def appointment_id(self):
        match = re.search(r"/a/([0-9a-f-]{36})$", self.driver.current_url)
        self.assertIsNotNone(match, self.driver.current_url)
        return match.group(1)

    def test_a_booking_with_a_mistake_then_confirm_list_reschedule_and_cancel(self):
        d = self.driver
        d.get(self.url("/appointment"))
        self.assertIn("America/New_York", d.page_source)
        self.look("form")

        # A number that cannot be a phone: the page says so next to the field, and keeps the other entries.
        when = tomorrow_at(14, 30)
        self.fill("patient_name", "Ada Lovelace")
        self.fill("doctor_name", "Dr. Grace Hopper")
        self.fill("phone", "12")
        self.type_date("appointment_date", when)
        self.type_time("appointment_time", when)
        d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.assertTrue(wait_until(lambda: d.find_elements(By.ID, "phone-error")), d.current_url + d.page_source)
        error = d.find_element(By.ID, "phone-error")
        self.assertIn("too short", error.text.lower())
        self.assertEqual(d.find_element(By.ID, "phone").get_attribute("aria-invalid"), "true")
        self.assertIn("phone-error", d.find_element(By.ID, "phone").get_attribute("aria-describedby"))
        self.assertEqual(d.find_element(By.ID, "patient_name").get_attribute("value"), "Ada Lovelace")
        self.assertTrue(d.find_element(By.CSS_SELECTOR, "[role=alert]").is_displayed())
        self.look("form-with-errors")

        self.fill("phone", "(650) 253-0000")
        d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        self.assertTrue(wait_until(lambda: "/a/" in d.current_url))
        appointment = self.appointment_id()
        self.assertIn("Dr. Grace Hopper", d.page_source)
        self.assertTrue(wait_until(lambda: self.database.scalar(
            f"SELECT status FROM reminders WHERE appointment_id = '{appointment}'") == "scheduled"))
        d.refresh()
        self.look("confirmation")

        d.get(self.url("/appointment/list"))
        self.assertIn("Ada Lovelace", d.page_source)
        self.look("list")

        # Reschedule to 16:00 on the appointment's page: a new revision, one live batch at the fake.
        d.get(self.url(f"/appointment/a/{appointment}"))
        later = when.replace(hour=16, minute=0)
        time_field = d.find_element(By.CSS_SELECTOR, "form[action$='/reschedule'] #appointment_time")
        time_field.send_keys(later.strftime("%I%M%p")[:-1])
        d.find_element(By.CSS_SELECTOR, "form[action$='/reschedule'] button[type=submit]").click()
        self.assertTrue(wait_until(lambda: self.database.scalar(
            f"SELECT revision FROM appointments WHERE id = '{appointment}'") == "2"), d.page_source[:3000])
        starts = self.database.scalar(
            f"SELECT to_char(starts_at AT TIME ZONE 'America/New_York', 'HH24:MI') FROM appointments"
            f" WHERE id = '{appointment}'")
        self.assertEqual(starts, "16:00")
        self.look("rescheduled")

        d.get(self.url(f"/appointment/a/{appointment}"))
        d.find_element(By.CSS_SELECTOR, "form[action$='/cancel'] button[type=submit]").click()
        self.assertTrue(wait_until(lambda: self.database.scalar(
            f"SELECT status FROM appointments WHERE id = '{appointment}'") == "cancelled"))
        self.assertTrue(wait_until(lambda: [b for b in self.fake.batches() if not b.get("canceled")] == []),
                        self.fake.batches())
        d.get(self.url(f"/appointment/a/{appointment}"))
        self.assertIn("ancelled", d.page_source)
        self.look("cancelled")

    def test_a_booking_with_the_keyboard_alone(self):
        d = self.driver
        d.get(self.url("/appointment"))
        body = d.find_element(By.TAG_NAME, "body")
        when = tomorrow_at(10, 15)
        # Tab from the top of the page to the first field, then field by field; Enter submits.
        body.send_keys(Keys.TAB)
        for _ in range(10):
            if d.switch_to.active_element.get_attribute("id") == "patient_name":
                break
            d.switch_to.active_element.send_keys(Keys.TAB)
        self.assertEqual(d.switch_to.active_element.get_attribute("id"), "patient_name")
        # The SMS language list takes type-ahead like any select: "esp" picks español.
        steps = [("patient_name", "Alan Turing"), ("doctor_name", "Dr. Grace Hopper"), ("phone", "(650) 253-0001"),
                 ("language", "esp"), ("appointment_date", when.strftime("%m%d%Y")),
                 ("appointment_time", when.strftime("%I%M%p")[:-1])]
        for field, keys in steps:
            while d.switch_to.active_element.get_attribute("id") != field:
                d.switch_to.active_element.send_keys(Keys.TAB)
            d.switch_to.active_element.send_keys(keys)
        d.switch_to.active_element.send_keys(Keys.ENTER)
        self.assertTrue(wait_until(lambda: "/a/" in d.current_url), d.page_source[:3000])
        appointment = self.appointment_id()
        row = self.database.query(
            f"SELECT patient_name, phone_e164, to_char(starts_at AT TIME ZONE 'America/New_York',"
            f" 'YYYY-MM-DD HH24:MI'), language FROM appointments WHERE id = '{appointment}'")[0]
        self.assertEqual(row, ["Alan Turing", "+16502530001", when.strftime("%Y-%m-%d %H:%M"), "es"])
        self.assertIn("cita con Dr. Grace Hopper", d.find_element(By.ID, "sms-text").text)


if __name__ == "__main__":
    if browser_missing():
        # ctest shows exit code 77 as "Not Run (Skipped)" in its summary (SKIP_RETURN_CODE in tests/CMakeLists.txt).
        print(f"SKIPPED (browser test): {browser_missing()}")
        sys.exit(77)
    harness.main()
