// JSON API bodies (core/api_json.cpp): create, reschedule and cancel requests as an integrator's system
// sends them, then what the handler does with a parsed create (field checks, JSON error answers).
// Input: the request body.
#include <jansson.h>

#include <chrono>

#include "core/api_json.hpp"
#include "core/appointment_form.hpp"
#include "core/clock.hpp"
#include "fuzz_support.hpp"

namespace {

// Every error answer must be a JSON object with the sentence and each field's message.
void check_error_document(const std::string& error, const std::map<std::string, std::string>& fields) {
    const std::string text = sr::error_json(error, fields);
    json_error_t problem;
    json_t* document = json_loadb(text.data(), text.size(), 0, &problem);
    SR_FUZZ_CHECK(document && json_is_object(document));
    const json_t* sentence = json_object_get(document, "error");
    SR_FUZZ_CHECK(json_is_string(sentence));
    SR_FUZZ_CHECK(std::string(json_string_value(sentence), json_string_length(sentence)) == error);
    const json_t* members = json_object_get(document, "fields");
    SR_FUZZ_CHECK(json_is_object(members) && json_object_size(members) == fields.size());
    json_decref(document);
}

const sr::ClinicZone& zone() {
    static const sr::ClinicZone z = sr::ClinicZone::load("America/New_York");
    return z;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);

    if (const auto error = sr::parse_cancel_request(body)) check_error_document(error->error, error->fields);
    sr::ApiRescheduleRequest reschedule;
    if (const auto error = sr::parse_reschedule_request(body, reschedule)) {
        check_error_document(error->error, error->fields);
    }

    sr::ApiCreateRequest request;
    if (const auto error = sr::parse_create_request(body, request)) {
        SR_FUZZ_CHECK(error->status == 400 || error->status == 422);
        check_error_document(error->error, error->fields);
        return 0;
    }
    // What api.cpp's create() does next, up to the database.
    sr::AppointmentInput input;
    input.patient_name = request.patient_name;
    input.doctor_name = request.doctor_name;
    input.phone = request.phone;
    input.phone_confirmed = request.phone_confirmed;
    std::map<std::string, std::string> fields;
    if (!sr::split_appointment_local(request.appointment_local, input.appointment_date,
                                     input.appointment_time)) {
        fields["appointment_local"] = "Use YYYY-MM-DDTHH:MM.";
        input.appointment_date = "2000-01-01";
        input.appointment_time = "00:00";
    }
    sr::ValidationContext context;
    context.zone = &zone();
    context.default_country = "US";
    context.now = sr::Instant(std::chrono::seconds(1790000000));  // 2026-09-21
    context.wall_time_policy = request.strict ? sr::WallTimePolicy::Strict : sr::WallTimePolicy::Lenient;
    const sr::FormValidation validation = sr::validate_appointment(input, context);
    for (const auto& [field, message] : sr::api_field_errors(validation.field_errors))
        fields.emplace(field, message);
    SR_FUZZ_CHECK(validation.ok() == validation.field_errors.empty());
    check_error_document("The appointment was not booked.", fields);
    return 0;
}
