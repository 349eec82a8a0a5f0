"""The patient's language (README SinchReminderLanguages): the form offers the clinic's languages, each SMS goes
out in the language chosen, worded by ICU in that language, exactly as the confirmation page shows it; a
reschedule keeps the language; the API takes `language`; `apache2 -t` refuses languages it cannot write."""
import datetime
import html
import json
import re

import harness
from harness import HttpdTestCase, Httpd, NEW_YORK, form_for, iso_z, module_conf, wait_until
from staff_support import PASSWORD, USER, StaffCase, basic

SPANISH = "{{clinic}}: cita con {{doctor}} el {{date_time}}. Responda STOP para no recibir más."
VIETNAMESE = "{{clinic}}: lịch hẹn với {{doctor}} vào {{date_time}}. Trả lời STOP để hủy."

LANGUAGES = "\n".join([
    'SinchReminderClinicName "Clinica Norte"',
    "SinchReminderLanguages en es vi",
    f'SinchReminderMessage es "{SPANISH}"',
    f'SinchReminderMessage vi "{VIETNAMESE}"',
])

# How ICU 72 (CLDR 42, Debian 12) words a date in each language: what the patient reads.
EN_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
ES_WEEKDAYS = ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"]
ES_MONTHS = ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"]
VI_WEEKDAYS = ["Th 2", "Th 3", "Th 4", "Th 5", "Th 6", "Th 7", "CN"]


def in_days(days, hour, minute):
    day = datetime.datetime.now(NEW_YORK).date() + datetime.timedelta(days=days)
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)


def twelve_hour(when):
    return f"{when.hour % 12 or 12}:{when.minute:02d}"


def english_sms(when, doctor):
    date = f"{EN_WEEKDAYS[when.weekday()]}, {EN_MONTHS[when.month - 1]} {when.day}, {when.year}"
    clock = f"{twelve_hour(when)} {'PM' if when.hour >= 12 else 'AM'} {when.tzname()}"
    return f"Clinica Norte reminder: your appointment with {doctor} is on {date}, {clock}. Reply STOP to opt out."


def spanish_sms(when, doctor):
    date = f"{ES_WEEKDAYS[when.weekday()]}, {when.day} de {ES_MONTHS[when.month - 1]} de {when.year}"
    clock = f"{twelve_hour(when)} {'p. m.' if when.hour >= 12 else 'a. m.'} {when.tzname()}"
    return f"Clinica Norte: cita con {doctor} el {date}, {clock}. Responda STOP para no recibir más."


def vietnamese_sms(when, doctor):
    # Vietnamese puts the time first: "2:30 CH EST Th 5, 10 thg 12, 2026" (CH/SA: afternoon/morning).
    clock = f"{twelve_hour(when)} {'CH' if when.hour >= 12 else 'SA'} {when.tzname()}"
    date = f"{VI_WEEKDAYS[when.weekday()]}, {when.day} thg {when.month}, {when.year}"
    return f"Clinica Norte: lịch hẹn với {doctor} vào {clock} {date}. Trả lời STOP để hủy."


def sms_on_page(page):
    match = re.search(r'<blockquote class="sms" id="sms-text">(.*?)</blockquote>', page, re.S)
    return html.unescape(match.group(1)) if match else None


class PatientLanguagesTest(StaffCase):
    extra = LANGUAGES

    def api(self, method, path, document=None):
        headers = {"Authorization": basic(USER, PASSWORD)}
        if method == "GET":
            return self.httpd.get(path, headers=headers)
        return self.httpd.post_json(path, document, headers=headers)

    def batch_to(self, phone):
        batches = [r["json"] for r in self.fake.requests()
                   if r["method"] == "POST" and r["path"].endswith("/batches") and r["json"]["to"] == [phone]]
        return batches[-1] if batches else None

    def test_the_form_offers_each_language_in_its_own_name_the_first_preselected(self):
        status, _, page = self.browser.get("/appointment")
        self.assertEqual(status, 200)
        self.assertIn('<label for="language">Language of the SMS</label>', page)
        options = re.findall(r'<option value="(\w+)" lang="\w+"( selected)?>([^<]+)</option>', page)
        self.assertEqual(options, [("en", " selected", "English"), ("es", "", "español"),
                                   ("vi", "", "Tiếng Việt")])

    def test_each_language_reaches_the_patient_byte_for_byte_as_the_confirmation_shows_it(self):
        when = in_days(3, 14, 30)
        english = self.browser.book(when, doctor_name="Dr. Ruiz", phone="(650) 253-0001")  # preselected
        spanish = self.browser.book(when, doctor_name="Dr. Ruiz", phone="(650) 253-0002", language="es")
        status, _, body = self.api("POST", "/appointment/api/appointments", {
            "patient_name": "Lan Nguyen", "doctor_name": "Dr. Ruiz", "phone": "(650) 253-0003",
            "appointment_local": when.strftime("%Y-%m-%dT%H:%M"), "language": "vi"})
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body)["language"], "vi")
        vietnamese = json.loads(body)["id"]

        self.assertTrue(wait_until(lambda: all(self.batch_to(p) for p in
                                               ("+16502530001", "+16502530002", "+16502530003"))),
                        self.fake.requests())
        self.assertEqual(self.batch_to("+16502530001")["body"], english_sms(when, "Dr. Ruiz"))
        self.assertEqual(self.batch_to("+16502530002")["body"], spanish_sms(when, "Dr. Ruiz"))
        self.assertEqual(self.batch_to("+16502530003")["body"], vietnamese_sms(when, "Dr. Ruiz"))
        for phone in ("+16502530001", "+16502530002", "+16502530003"):
            self.assertEqual(self.batch_to(phone)["send_at"], iso_z(when - datetime.timedelta(hours=2)))

        # Each confirmation page says which language and shows exactly the text Sinch got.
        for appointment, phone, language in ((english, "+16502530001", "English"),
                                             (spanish, "+16502530002", "español"),
                                             (vietnamese, "+16502530003", "Tiếng Việt")):
            _, _, page = self.browser.get(f"/appointment/a/{appointment}")
            self.assertEqual(sms_on_page(page), self.batch_to(phone)["body"])
            self.assertRegex(page, rf"<dt>Language</dt>\s*<dd>{language}</dd>")
        self.assertEqual(dict(self.database.query("SELECT id::text, language FROM appointments")),
                         {english: "en", spanish: "es", vietnamese: "vi"})

    def test_a_reschedule_writes_the_new_time_in_the_language_it_was_booked_in(self):
        when = in_days(3, 9, 5)
        spanish = self.browser.book(when, doctor_name="Dr. Ruiz", phone="(650) 253-0004", language="es")
        self.assertTrue(wait_until(lambda: self.batch_to("+16502530004")))
        self.assertEqual(self.batch_to("+16502530004")["body"], spanish_sms(when, "Dr. Ruiz"))
        later = in_days(4, 16, 40)
        status, _, body = self.browser.reschedule(spanish, later)
        self.assertEqual(status, 303, body[:1000])
        self.assertTrue(wait_until(lambda: self.batch_to("+16502530004")["send_at"] ==
                                   iso_z(later - datetime.timedelta(hours=2))), self.fake.requests())
        self.assertEqual(self.batch_to("+16502530004")["body"], spanish_sms(later, "Dr. Ruiz"))
        status, _, body = self.api("GET", f"/appointment/api/appointments/{spanish}")
        self.assertEqual(json.loads(body)["language"], "es")

    def test_a_language_the_clinic_does_not_offer_is_refused_with_the_choices(self):
        when = in_days(3, 11, 0)
        status, _, body = self.api("POST", "/appointment/api/appointments", {
            "patient_name": "Ana García", "doctor_name": "Dr. Ruiz", "phone": "(650) 253-0005",
            "appointment_local": when.strftime("%Y-%m-%dT%H:%M"), "language": "fr"})
        self.assertEqual(status, 422, body)
        self.assertEqual(json.loads(body)["fields"]["language"],
                         "This clinic writes reminders in en (English), es (español), vi (Tiếng Việt); "
                         "choose one of them.")
        status, _, page = self.browser.submit(form_for(when, phone="(650) 253-0005", language="fr"))
        self.assertEqual(status, 422)
        self.assertRegex(page, r'<p class="field-error" id="language-error">.*\s*This clinic writes reminders in en')
        self.assertEqual(self.database.scalar("SELECT count(*) FROM appointments"), "0")


class LanguageConfigurationTest(HttpdTestCase):
    """What `apache2 -t` refuses about languages, each message naming what to add or change."""

    def configtest(self, extra):
        self.httpd = Httpd(module_conf("host=127.0.0.1 port=5 dbname=x", "http://127.0.0.1:9", extra=extra))
        try:
            return self.httpd.configtest()
        finally:
            self.httpd.cleanup()

    def test_the_languages_above_pass(self):
        code, output = self.configtest(LANGUAGES)
        self.assertEqual(code, 0, output)

    def test_an_offered_language_without_its_text_is_refused(self):
        code, output = self.configtest("SinchReminderLanguages en fr")
        self.assertNotEqual(code, 0, output)
        self.assertIn('SinchReminderLanguages offers fr but there is no text in it: add SinchReminderMessage fr "..."',
                      output)

    def test_a_text_in_a_language_not_offered_is_refused(self):
        code, output = self.configtest(f'SinchReminderMessage es "{SPANISH}"')
        self.assertNotEqual(code, 0, output)
        self.assertIn("SinchReminderMessage es: es is not offered", output)

    def test_an_unknown_language_code_is_refused_where_it_is_written(self):
        code, output = self.configtest("SinchReminderLanguages en spanish")
        self.assertNotEqual(code, 0, output)
        self.assertIn("SinchReminderLanguages: 'spanish' is not an ISO 639 language code", output)
        code, output = self.configtest('SinchReminderMessage xx "{{date_time}}"')
        self.assertNotEqual(code, 0, output)
        self.assertIn("SinchReminderMessage: 'xx' is not an ISO 639 language code", output)

    def test_a_text_too_long_in_one_language_is_refused_naming_that_language(self):
        long_vietnamese = VIETNAMESE + " Vui lòng đến sớm mười lăm phút và mang theo thẻ bảo hiểm của quý vị."
        code, output = self.configtest(LANGUAGES.replace(VIETNAMESE, long_vietnamese))
        self.assertNotEqual(code, 0, output)
        self.assertRegex(output, r"SinchReminderMessage vi: the longest reminder SMS in vi needs 3 parts \(UCS-2")


if __name__ == "__main__":
    harness.main()
