// The pure parts of the staff operations (issue 6): delivery-report callbacks (reading, ranking,
// signatures), list filters, the JSON API's documents, staff page data, and the new directives.
#include <cppunit/extensions/HelperMacros.h>

#include <jansson.h>

#include <memory>
#include <string>

#include "core/api_json.hpp"
#include "core/appointment_form.hpp"
#include "core/appointment_query.hpp"
#include "core/delivery_reports.hpp"
#include "core/settings.hpp"
#include "core/staff_view.hpp"

namespace {

using namespace std::chrono_literals;

sr::Instant at(const std::string& iso) { return *sr::parse_iso_utc(iso); }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct JsonFree {
    void operator()(json_t* j) const { json_decref(j); }
};
using Json = std::unique_ptr<json_t, JsonFree>;

Json parse(const std::string& text) {
    json_error_t error;
    Json doc(json_loads(text.c_str(), 0, &error));
    CPPUNIT_ASSERT_MESSAGE(text, doc != nullptr);
    return doc;
}

std::string str(json_t* object, const char* name) {
    json_t* value = json_object_get(object, name);
    return json_is_string(value) ? json_string_value(value) : "";
}

sr::AppointmentRecord sample_appointment() {
    sr::AppointmentRecord a;
    a.id = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
    a.patient_name = "Ada Lovelace";
    a.doctor_name = "Dr. Grace Hopper";
    a.phone_e164 = "+16502530000";
    a.starts_at = at("2026-12-01T19:30:00Z");
    a.time_zone = "America/New_York";
    a.local_wall_time = "2026-12-01T14:30";
    a.wall_time_resolution = "exact";
    a.status = "active";
    a.revision = 2;
    a.created_by = "frontdesk";
    a.created_at = at("2026-11-27T10:00:00Z");
    a.updated_at = at("2026-11-27T11:00:00Z");
    sr::ReminderRecord old;
    old.id = 7;
    old.appointment_id = a.id;
    old.revision = 1;
    old.send_at = at("2026-12-01T15:30:00Z");
    old.status = "superseded";
    old.client_reference = "sr-" + a.id + "-r1";
    old.batch_id = "01OLD";
    sr::ReminderRecord current = old;
    current.id = 8;
    current.revision = 2;
    current.send_at = at("2026-12-01T17:30:00Z");
    current.status = "sent";
    current.client_reference = "sr-" + a.id + "-r2";
    current.batch_id = "01NEW";
    current.delivery_status = "Delivered";
    current.delivery_code = 0;
    current.delivery_at = at("2026-12-01T17:30:05Z");
    a.reminders = {old, current};
    return a;
}

}  // namespace

class StaffOperationsTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(StaffOperationsTest);
    CPPUNIT_TEST(testRecipientCallbackIsRead);
    CPPUNIT_TEST(testBatchCallbackTakesTheHighestRankedStatus);
    CPPUNIT_TEST(testOtherCallbackTypesAreIgnoredAndGarbageRefused);
    CPPUNIT_TEST(testRankingMakesReportsOrderInsensitive);
    CPPUNIT_TEST(testSignatureMatchesTheSdkScheme);
    CPPUNIT_TEST(testSignatureChecks);
    CPPUNIT_TEST(testListQueryDefaultsAndDates);
    CPPUNIT_TEST(testListQuerySearchAndErrors);
    CPPUNIT_TEST(testCreateRequestIsReadStrictly);
    CPPUNIT_TEST(testRescheduleAndCancelRequests);
    CPPUNIT_TEST(testFieldErrorsUseTheApiNames);
    CPPUNIT_TEST(testAppointmentJsonCarriesEverything);
    CPPUNIT_TEST(testAuditDetailsReadLikeSentences);
    CPPUNIT_TEST(testRescheduleTimeValidationMatchesBooking);
    CPPUNIT_TEST(testStaffPageDataForSentAndCancelled);
    CPPUNIT_TEST(testListViewRowsAndPaging);
    CPPUNIT_TEST(testNewDirectives);
    CPPUNIT_TEST_SUITE_END();

  public:
    void testRecipientCallbackIsRead() {
        const sr::ParsedCallback p = sr::parse_delivery_callback(
            R"({"type":"recipient_delivery_report_sms","batch_id":"01W4","recipient":"12017777777","code":0,)"
            R"("status":"Delivered","at":"2024-06-06T08:17:19.210Z","client_reference":"sr-x-r1"})");
        CPPUNIT_ASSERT(p.ok);
        CPPUNIT_ASSERT(p.report.kind == sr::CallbackKind::RecipientReport);
        CPPUNIT_ASSERT_EQUAL(std::string("01W4"), p.report.batch_id);
        CPPUNIT_ASSERT_EQUAL(std::string("Delivered"), p.report.status);
        CPPUNIT_ASSERT_EQUAL(0, *p.report.code);
        CPPUNIT_ASSERT_EQUAL(std::string("12017777777"), p.report.recipient);
        CPPUNIT_ASSERT(p.report.at == at("2024-06-06T08:17:19Z"));
        CPPUNIT_ASSERT_EQUAL(std::string("sr-x-r1"), p.report.client_reference);
    }

    void testBatchCallbackTakesTheHighestRankedStatus() {
        const sr::ParsedCallback p = sr::parse_delivery_callback(
            R"({"type":"delivery_report_sms","batch_id":"01W4","total_message_count":1,"statuses":[)"
            R"({"code":401,"status":"Dispatched","count":1},{"code":402,"status":"Aborted","count":1}]})");
        CPPUNIT_ASSERT(p.ok);
        CPPUNIT_ASSERT(p.report.kind == sr::CallbackKind::BatchReport);
        CPPUNIT_ASSERT_EQUAL(std::string("Aborted"), p.report.status);
        CPPUNIT_ASSERT_EQUAL(402, *p.report.code);
        CPPUNIT_ASSERT(!p.report.at);
    }

    void testOtherCallbackTypesAreIgnoredAndGarbageRefused() {
        const sr::ParsedCallback mo = sr::parse_delivery_callback(R"({"type":"mo_text","body":"STOP"})");
        CPPUNIT_ASSERT(mo.ok);
        CPPUNIT_ASSERT(mo.report.kind == sr::CallbackKind::Ignored);
        for (const char* bad : {"{", "[]", R"({"type":"recipient_delivery_report_sms","status":"Delivered"})",
                                R"({"type":"recipient_delivery_report_sms","batch_id":"b"})",
                                R"({"type":"delivery_report_sms","batch_id":"b"})",
                                R"({"type":"recipient_delivery_report_sms","batch_id":"a\nb","status":"Delivered"})",
                                R"({"type":"x","type":"y"})"}) {
            CPPUNIT_ASSERT_MESSAGE(bad, !sr::parse_delivery_callback(bad).ok);
        }
    }

    void testRankingMakesReportsOrderInsensitive() {
        const sr::Instant t0 = at("2026-12-01T10:00:00Z"), t1 = t0 + 10s, t2 = t0 + 20s;
        CPPUNIT_ASSERT(sr::delivery_report_replaces(std::nullopt, std::nullopt, "Queued", t0));
        CPPUNIT_ASSERT(sr::delivery_report_replaces(std::string("Queued"), t0, "Dispatched", t1));
        CPPUNIT_ASSERT(sr::delivery_report_replaces(std::string("Dispatched"), t1, "Delivered", t2));
        CPPUNIT_ASSERT(!sr::delivery_report_replaces(std::string("Delivered"), t2, "Queued", t2 + 60s));
        CPPUNIT_ASSERT(!sr::delivery_report_replaces(std::string("Delivered"), t2, "Dispatched", t2 + 60s));
        CPPUNIT_ASSERT(!sr::delivery_report_replaces(std::string("Delivered"), t2, "Delivered", t2 + 60s));
        CPPUNIT_ASSERT(!sr::delivery_report_replaces(std::string("Delivered"), t0, "Failed", t2));
        CPPUNIT_ASSERT(sr::delivery_report_replaces(std::string("Cancelled"), t2, "Delivered", t0));
        CPPUNIT_ASSERT(sr::delivery_report_replaces(std::string("Expired"), t0, "Failed", t1));
        CPPUNIT_ASSERT(!sr::delivery_report_replaces(std::string("Failed"), t1, "Expired", t0));
        CPPUNIT_ASSERT(!sr::delivery_report_replaces(std::string("Failed"), t1, "Expired", t1));  // tie: first stays
        CPPUNIT_ASSERT_EQUAL(2, sr::delivery_status_rank("SomethingNew"));
        CPPUNIT_ASSERT(sr::delivery_means_sent("Dispatched"));
        CPPUNIT_ASSERT(!sr::delivery_means_sent("Aborted"));
        CPPUNIT_ASSERT(!sr::delivery_means_sent("Cancelled"));
    }

    void testSignatureMatchesTheSdkScheme() {
        // base64(HMAC-SHA256("secret", body "." nonce "." timestamp)), computed independently with Python.
        CPPUNIT_ASSERT_EQUAL(std::string("yde1TufkPMb8XT62XSY7ZGt50/Egicnu93WebnvnxkM="),
                             sr::webhook_signature("secret", R"({"a":1})", "n", "1700000000"));
    }

    void testSignatureChecks() {
        const std::string body = R"({"a":1})";
        const sr::Instant now{std::chrono::seconds(1700000100)};
        const std::string good = sr::webhook_signature("secret", body, "n", "1700000000");
        CPPUNIT_ASSERT(sr::verify_webhook_signature("secret", body, "n", "1700000000", good, now) ==
                       sr::SignatureCheck::Valid);
        CPPUNIT_ASSERT(sr::verify_webhook_signature("other", body, "n", "1700000000", good, now) ==
                       sr::SignatureCheck::Mismatch);
        CPPUNIT_ASSERT(sr::verify_webhook_signature("secret", body + " ", "n", "1700000000", good, now) ==
                       sr::SignatureCheck::Mismatch);
        CPPUNIT_ASSERT(sr::verify_webhook_signature("secret", body, "", "1700000000", good, now) ==
                       sr::SignatureCheck::Missing);
        CPPUNIT_ASSERT(sr::verify_webhook_signature("secret", body, "n", "17e8", good, now) ==
                       sr::SignatureCheck::Mismatch);
        CPPUNIT_ASSERT(sr::verify_webhook_signature("secret", body, "n", "1700000000", good, now + 27h) ==
                       sr::SignatureCheck::Stale);
        CPPUNIT_ASSERT(sr::constant_time_equals("abc", "abc"));
        CPPUNIT_ASSERT(!sr::constant_time_equals("abc", "abd"));
        CPPUNIT_ASSERT(!sr::constant_time_equals("abc", "ab"));
    }

    void testListQueryDefaultsAndDates() {
        const sr::ClinicZone ny = sr::ClinicZone::load("America/New_York");
        const sr::Instant now = at("2026-11-28T03:00:00Z");  // still the 27th in New York
        sr::ParsedListQuery p = sr::parse_list_query({}, ny, "US", now, true, 50);
        CPPUNIT_ASSERT(p.ok());
        CPPUNIT_ASSERT_EQUAL(std::string("2026-11-27"), p.from);
        CPPUNIT_ASSERT(*p.filter.from == at("2026-11-27T05:00:00Z"));
        CPPUNIT_ASSERT(!p.filter.to);
        p = sr::parse_list_query({}, ny, "US", now, false, 50);
        CPPUNIT_ASSERT(!p.filter.from && !p.filter.to);

        sr::ListQuery q;
        q.from = "2026-03-08";
        q.to = "2026-03-08";  // the DST day: 23 hours long
        p = sr::parse_list_query(q, ny, "US", now, true, 50);
        CPPUNIT_ASSERT(*p.filter.from == at("2026-03-08T05:00:00Z"));
        CPPUNIT_ASSERT(*p.filter.to == at("2026-03-09T04:00:00Z"));
        q.from = "2026-12-31";
        q.to = "2026-12-31";
        p = sr::parse_list_query(q, ny, "US", now, true, 50);
        CPPUNIT_ASSERT(*p.filter.to == at("2027-01-01T05:00:00Z"));
        q.to = "2026-12-30";
        CPPUNIT_ASSERT(sr::parse_list_query(q, ny, "US", now, true, 50).errors.count("to"));
    }

    void testListQuerySearchAndErrors() {
        const sr::ClinicZone ny = sr::ClinicZone::load("America/New_York");
        const sr::Instant now = at("2026-11-28T15:00:00Z");
        sr::ListQuery q;
        q.q = "(650) 253-0000";
        sr::ParsedListQuery p = sr::parse_list_query(q, ny, "US", now, true, 50);
        // A whole number is searched as one; anything shorter by its last digits.
        CPPUNIT_ASSERT(p.filter.phone_digits.empty());
        CPPUNIT_ASSERT_EQUAL(std::string("+16502530000"), p.filter.phone_e164);
        CPPUNIT_ASSERT(p.filter.name_words.empty());
        q.q = "30-000";
        p = sr::parse_list_query(q, ny, "US", now, true, 50);
        CPPUNIT_ASSERT_EQUAL(std::string("30000"), p.filter.phone_digits);
        CPPUNIT_ASSERT(p.filter.phone_e164.empty());
        // A name needs a word of 2 letters (a single letter begins a large share of all names).
        for (const char* short_name : {"A", "A. B.", "a-b-c"}) {
            q.q = short_name;
            CPPUNIT_ASSERT_MESSAGE(short_name, sr::parse_list_query(q, ny, "US", now, true, 50).errors.count("q"));
        }
        q.q = "Al";
        CPPUNIT_ASSERT_EQUAL(std::string("Al"), sr::parse_list_query(q, ny, "US", now, true, 50).filter.name_words);
        q.q = "Zoë";  // 3 characters, one of them 2 bytes
        CPPUNIT_ASSERT_EQUAL(std::string("Zoë"), sr::parse_list_query(q, ny, "US", now, true, 50).filter.name_words);
        q.q = "  Lovelace ";
        p = sr::parse_list_query(q, ny, "US", now, true, 50);
        CPPUNIT_ASSERT_EQUAL(std::string("Lovelace"), p.filter.name_words);
        CPPUNIT_ASSERT(p.filter.phone_digits.empty());
        q = {};
        q.status = "problem";
        q.page = "3";
        q.after = "1764345600000000.6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F";
        p = sr::parse_list_query(q, ny, "US", now, true, 50);
        CPPUNIT_ASSERT(p.ok());
        // Keyset pages: the position, not an offset; the page number is what the page says it is.
        CPPUNIT_ASSERT_EQUAL(0, p.filter.offset);
        CPPUNIT_ASSERT_EQUAL(3, p.page);
        CPPUNIT_ASSERT_EQUAL(1764345600000000LL, p.filter.after->starts_at_us);
        CPPUNIT_ASSERT_EQUAL(std::string("6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"), p.filter.after->id);
        CPPUNIT_ASSERT_EQUAL(std::string("1764345600000000.6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"),
                             sr::to_string(*p.filter.after));
        CPPUNIT_ASSERT(!p.filter.before);
        q.after.clear();
        CPPUNIT_ASSERT_EQUAL(1, sr::parse_list_query(q, ny, "US", now, true, 50).page);  // no position: page 1
        for (const char* bad : {"12", ".6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "x.6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
                                "12.6f1c2d3e", "12.6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f'--"}) {
            q.before = bad;
            CPPUNIT_ASSERT_MESSAGE(bad, sr::parse_list_query(q, ny, "US", now, true, 50).errors.count("cursor"));
        }
        q = {};
        q.offset = "1000";
        CPPUNIT_ASSERT_EQUAL(1000, sr::parse_list_query(q, ny, "US", now, false, 50).filter.offset);
        q.offset = "1001";  // deeper pages go through the cursor
        CPPUNIT_ASSERT(sr::parse_list_query(q, ny, "US", now, false, 50).errors.count("offset"));
        q = {};
        q.from = "2026-02-30";
        q.to = "soon";
        q.status = "bogus";
        q.page = "0";
        q.limit = "500";
        q.offset = "-1";
        q.phone = "nope";
        p = sr::parse_list_query(q, ny, "US", now, false, 50);
        for (const char* field : {"from", "to", "status", "page", "limit", "offset", "phone"}) {
            CPPUNIT_ASSERT_MESSAGE(field, p.errors.count(field));
        }
        CPPUNIT_ASSERT(sr::is_status_filter("cancelled"));
        CPPUNIT_ASSERT(sr::is_status_filter("cancel_failed"));
        CPPUNIT_ASSERT(!sr::is_status_filter("' OR 1=1 --"));
    }

    void testCreateRequestIsReadStrictly() {
        sr::ApiCreateRequest r;
        CPPUNIT_ASSERT(!sr::parse_create_request(
            R"({"patient_name":"A","doctor_name":"B","phone":"+1650","appointment_local":"2026-12-01T14:30",)"
            R"("time_zone":"America/New_York","strict":true,"phone_confirmed":false})",
            r));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01T14:30"), r.appointment_local);
        CPPUNIT_ASSERT(r.strict && !r.phone_confirmed);
        CPPUNIT_ASSERT_EQUAL(std::string("America/New_York"), *r.time_zone);

        auto error = sr::parse_create_request("{", r);
        CPPUNIT_ASSERT(error && error->status == 400);
        error = sr::parse_create_request("[]", r);
        CPPUNIT_ASSERT(error && error->status == 400);
        error = sr::parse_create_request("", r);
        CPPUNIT_ASSERT(error && error->status == 400);
        error = sr::parse_create_request(R"({"patient_name":1,"strict":"yes","color":"red"})", r);
        CPPUNIT_ASSERT(error && error->status == 422);
        CPPUNIT_ASSERT_EQUAL(std::string("Must be a string."), error->fields["patient_name"]);
        CPPUNIT_ASSERT_EQUAL(std::string("Must be true or false."), error->fields["strict"]);
        CPPUNIT_ASSERT_EQUAL(std::string("Unknown field."), error->fields["color"]);
        CPPUNIT_ASSERT_EQUAL(std::string("Required."), error->fields["doctor_name"]);
        CPPUNIT_ASSERT(!error->fields.count("time_zone"));
    }

    void testRescheduleAndCancelRequests() {
        sr::ApiRescheduleRequest r;
        CPPUNIT_ASSERT(!sr::parse_reschedule_request(R"({"appointment_local":"2026-12-01T09:00"})", r));
        CPPUNIT_ASSERT(sr::parse_reschedule_request("{}", r)->fields.count("appointment_local"));
        CPPUNIT_ASSERT(!sr::parse_cancel_request(""));
        CPPUNIT_ASSERT(!sr::parse_cancel_request(" {} "));
        CPPUNIT_ASSERT_EQUAL(422, sr::parse_cancel_request(R"({"reason":"x"})")->status);
        std::string date, time;
        CPPUNIT_ASSERT(sr::split_appointment_local("2026-12-01T09:05", date, time));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01"), date);
        CPPUNIT_ASSERT_EQUAL(std::string("09:05"), time);
        CPPUNIT_ASSERT(!sr::split_appointment_local("2026-12-01 09:05", date, time));
        CPPUNIT_ASSERT(!sr::split_appointment_local("2026-12-01T09:05:00", date, time));
    }

    void testFieldErrorsUseTheApiNames() {
        const auto fields = sr::api_field_errors({{"appointment_date", "Past."}, {"phone", "Bad."}});
        CPPUNIT_ASSERT_EQUAL(std::string("Past."), fields.at("appointment_local"));
        CPPUNIT_ASSERT_EQUAL(std::string("Bad."), fields.at("phone"));
        const Json error = parse(sr::error_json("Nope \"quoted\"", {{"phone", "Bad <b>"}}));
        CPPUNIT_ASSERT_EQUAL(std::string("Nope \"quoted\""), str(error.get(), "error"));
        CPPUNIT_ASSERT_EQUAL(std::string("Bad <b>"), str(json_object_get(error.get(), "fields"), "phone"));
        const Json empty = parse(sr::error_json("x"));
        CPPUNIT_ASSERT(json_is_object(json_object_get(empty.get(), "fields")));
    }

    void testAppointmentJsonCarriesEverything() {
        const Json a = parse(sr::appointment_json(sample_appointment(), {"A notice."}));
        CPPUNIT_ASSERT_EQUAL(std::string("6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"), str(a.get(), "id"));
        CPPUNIT_ASSERT_EQUAL(std::string("+16502530000"), str(a.get(), "phone"));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01T19:30:00Z"), str(a.get(), "starts_at"));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01T14:30"), str(a.get(), "local_time"));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01T14:30-05:00"), str(a.get(), "local_time_offset"));
        CPPUNIT_ASSERT_EQUAL(std::string("America/New_York"), str(a.get(), "time_zone"));
        CPPUNIT_ASSERT_EQUAL(2, static_cast<int>(json_integer_value(json_object_get(a.get(), "revision"))));
        json_t* reminders = json_object_get(a.get(), "reminders");
        CPPUNIT_ASSERT_EQUAL(static_cast<size_t>(2), json_array_size(reminders));
        json_t* current = json_object_get(a.get(), "reminder");
        CPPUNIT_ASSERT_EQUAL(std::string("01NEW"), str(current, "batch_id"));
        CPPUNIT_ASSERT_EQUAL(std::string("Delivered"), str(current, "delivery_status"));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01T17:30:05Z"), str(current, "delivery_at"));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-12-01T17:30:00Z"), str(current, "send_at"));
        CPPUNIT_ASSERT(json_is_null(json_object_get(current, "last_error")));
        CPPUNIT_ASSERT_EQUAL(std::string("A notice."),
                             std::string(json_string_value(json_array_get(json_object_get(a.get(), "notices"), 0))));
    }

    void testAuditDetailsReadLikeSentences() {
        CPPUNIT_ASSERT_EQUAL(std::string("Moved from 2026-12-01T10:00 to 2026-12-01T12:00 (revision 2)."),
                             sr::describe_audit_details("reschedule",
                                                        R"({"revision": 2, "starts_at": {"to": "x", "from": "y"},)"
                                                        R"( "local_wall_time": {"to": "2026-12-01T12:00", "from":)"
                                                        R"( "2026-12-01T10:00"}})"));
        CPPUNIT_ASSERT_EQUAL(std::string("Status active → cancelled."),
                             sr::describe_audit_details("cancel", R"({"status":{"from":"active","to":"cancelled"}})"));
        CPPUNIT_ASSERT_EQUAL(std::string("Sinch reported Delivered (code 0) for batch 01B; reminder scheduled → sent."),
                             sr::describe_audit_details("delivery_report",
                                                        R"({"batch_id":"01B","delivery_status":"Delivered","code":0,)"
                                                        R"("reminder_status":{"from":"scheduled","to":"sent"}})"));
        CPPUNIT_ASSERT_EQUAL(std::string("Look here."), sr::describe_audit_details("attention", R"({"note":"Look here."})"));
        CPPUNIT_ASSERT_EQUAL(std::string("a: 1"), sr::describe_audit_details("other", R"({"a":1})"));
        CPPUNIT_ASSERT_EQUAL(std::string(""), sr::describe_audit_details("other", "not json"));
    }

    void testRescheduleTimeValidationMatchesBooking() {
        const sr::ClinicZone ny = sr::ClinicZone::load("America/New_York");
        sr::ValidationContext context;
        context.zone = &ny;
        context.default_country = "US";
        context.now = at("2026-11-28T15:00:00Z");
        sr::AppointmentInput input;
        input.patient_name = "Ada";
        input.doctor_name = "Dr. B";
        input.phone = "(650) 253-0000";
        for (const auto& [date, time] : std::vector<std::pair<std::string, std::string>>{
                 {"2026-12-01", "14:30"}, {"2027-03-14", "02:30"}, {"2026-11-27", "10:00"}, {"2026-02-30", "10:00"},
                 {"2026-12-01", "24:00"}, {"", "10:00"}, {"2026-11-28", "11:30"}}) {
            input.appointment_date = date;
            input.appointment_time = time;
            const sr::FormValidation booking = sr::validate_appointment(input, context);
            const sr::FormValidation moving = sr::validate_appointment_time(date, time, context);
            CPPUNIT_ASSERT_MESSAGE(date + " " + time, booking.field_errors == moving.field_errors);
            CPPUNIT_ASSERT(booking.notices == moving.notices);
            CPPUNIT_ASSERT_EQUAL(booking.ok(), moving.ok());
            if (moving.ok()) {
                CPPUNIT_ASSERT(booking.appointment->starts.utc == moving.appointment->starts.utc);
                CPPUNIT_ASSERT(booking.appointment->reminder_at == moving.appointment->reminder_at);
                CPPUNIT_ASSERT_EQUAL(booking.appointment->reminder_slot_passed, moving.appointment->reminder_slot_passed);
            }
        }
    }

    void testStaffPageDataForSentAndCancelled() {
        const sr::ClinicZone ny = sr::ClinicZone::load("America/New_York");
        sr::AppointmentRecord a = sample_appointment();
        const sr::ReminderRecord& current = a.reminders.back();
        CPPUNIT_ASSERT(contains(sr::delivery_text(current, ny, "en_US"), "Delivered to the phone at Tue, Dec 1, 2026"));
        sr::ReminderRecord failed = current;
        failed.delivery_status = "Failed";
        failed.delivery_code = 402;
        CPPUNIT_ASSERT(sr::delivery_is_problem(failed));
        CPPUNIT_ASSERT(contains(sr::delivery_text(failed, ny, "en_US"), "Failed: not delivered (code 402) at"));

        sr::TemplateData page;
        sr::StaffActions actions;
        actions.cancel_token = "tok-cancel";
        actions.reschedule_token = "tok-move";
        a.status = "cancelled";
        sr::add_staff_details(page, a, {}, ny, "en_US", actions);
        sr::PageTemplates templates = sr::PageTemplates::load(std::string(std::getenv("SR_SOURCE_DIR")) + "/templates");
        const std::string html = templates.render(sr::Page::Confirmation, page);
        CPPUNIT_ASSERT(contains(html, "This appointment is cancelled"));
        CPPUNIT_ASSERT(contains(html, "Already sent"));
        CPPUNIT_ASSERT(contains(html, "Earlier reminders"));
        CPPUNIT_ASSERT(!contains(html, "csrf_token"));  // no forms for a cancelled appointment

        a.status = "active";
        sr::TemplateData active;
        sr::add_staff_details(active, a, {}, ny, "en_US", actions);
        const std::string forms = templates.render(sr::Page::Confirmation, active);
        CPPUNIT_ASSERT(contains(forms, "name=\"csrf_token\" value=\"tok-cancel\""));
        CPPUNIT_ASSERT(contains(forms, "name=\"csrf_token\" value=\"tok-move\""));
        CPPUNIT_ASSERT(contains(forms, "Cancel this appointment"));
    }

    void testListViewRowsAndPaging() {
        const sr::ClinicZone ny = sr::ClinicZone::load("America/New_York");
        sr::ListPage list;
        list.appointments = {sample_appointment()};
        list.has_more = true;
        list.has_previous = true;
        list.first_cursor = list.last_cursor = "1764345600000000.6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f";
        sr::ListQuery typed;
        typed.q = "Ada & <Co>";
        typed.page = "2";
        typed.after = "1764300000000000.00000000-0000-4000-8000-000000000000";
        const sr::ParsedListQuery parsed = sr::parse_list_query(typed, ny, "US", at("2026-11-28T15:00:00Z"), true, 50);
        const sr::TemplateData page = sr::list_view(list, parsed, typed, ny, "en_US", "Clinic", "/appointment");
        sr::PageTemplates templates = sr::PageTemplates::load(std::string(std::getenv("SR_SOURCE_DIR")) + "/templates");
        const std::string html = templates.render(sr::Page::List, page);
        CPPUNIT_ASSERT(contains(html, "+1********00"));
        CPPUNIT_ASSERT(!contains(html, "+16502530000"));
        CPPUNIT_ASSERT(contains(html, "href=\"/appointment/a/6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f\""));
        CPPUNIT_ASSERT(contains(html, "Delivered to the phone at"));
        CPPUNIT_ASSERT(contains(html, "/appointment/list?from=2026-11-28&amp;q=Ada+%26+%3CCo%3E&amp;after=1764345600000000."
                                      "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f&amp;page=3"));
        CPPUNIT_ASSERT(contains(html, "/appointment/list?from=2026-11-28&amp;q=Ada+%26+%3CCo%3E\">Previous"));
        CPPUNIT_ASSERT_EQUAL(std::string("a+b%2B%26%3D"), sr::url_encode("a b+&="));
    }

    void testNewDirectives() {
        CPPUNIT_ASSERT_EQUAL(std::string("https://clinic.example.org"),
                             sr::parse_public_base_url("https://clinic.example.org/"));
        CPPUNIT_ASSERT_EQUAL(std::string("https://example.org/reminders"),
                             sr::parse_public_base_url("https://example.org/reminders"));
        CPPUNIT_ASSERT_THROW(sr::parse_public_base_url("https://example.org/?x=1"), sr::ConfigError);
        CPPUNIT_ASSERT_THROW(sr::parse_public_base_url("example.org"), sr::ConfigError);
        CPPUNIT_ASSERT_EQUAL(std::string("per_recipient"), sr::parse_delivery_report("per_recipient"));
        CPPUNIT_ASSERT_THROW(sr::parse_delivery_report("all"), sr::ConfigError);
        CPPUNIT_ASSERT(sr::parse_reconcile_interval("0") == 0s);
        CPPUNIT_ASSERT(sr::parse_reconcile_interval("15m") == 15min);
        CPPUNIT_ASSERT_THROW(sr::parse_reconcile_interval("2d"), sr::ConfigError);
        sr::SettingValues values;
        CPPUNIT_ASSERT_EQUAL(std::string("none"), sr::Settings::resolve(values).delivery_report);
        CPPUNIT_ASSERT(sr::Settings::resolve(values).reconcile_interval == 5min);
        values.public_base_url = "https://clinic.example.org";
        CPPUNIT_ASSERT_EQUAL(std::string("per_recipient_final"), sr::Settings::resolve(values).delivery_report);
        values.delivery_report = "summary";
        CPPUNIT_ASSERT_EQUAL(std::string("summary"), sr::Settings::resolve(values).delivery_report);
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(StaffOperationsTest);
