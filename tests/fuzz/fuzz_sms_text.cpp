// SMS text analysis (core/sms_text.cpp): the admin's message template, the text rendered from it, and
// the GSM-7/UCS-2 part count of any text.
// Input: "template\x1f\x1fclinic\x1f\x1fdoctor" (any bytes, not only UTF-8).
#include <chrono>

#include "core/errors.hpp"
#include "core/sms_text.hpp"
#include "fuzz_support.hpp"

namespace {

void check_encoding(const sr::SmsEncoding& e) {
    SR_FUZZ_CHECK(e.segments >= 1);
    const std::size_t single = e.gsm7 ? 160 : 70;
    const std::size_t part = e.gsm7 ? 153 : 67;
    if (e.units <= single) {
        SR_FUZZ_CHECK(e.segments == 1);
    } else {
        const std::size_t at_least = (e.units + part - 1) / part;
        SR_FUZZ_CHECK(e.segments >= at_least && e.segments <= at_least + e.units / part + 1);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string whole(reinterpret_cast<const char*>(data), size);
    check_encoding(sr::analyse_sms(whole));

    const std::string text = sr::fuzz::piece(data, size, 0);
    sr::MessageFields fields;
    fields.clinic = sr::fuzz::piece(data, size, 1);
    fields.doctor = sr::fuzz::piece(data, size, 2);
    fields.date = "Sat, Nov 28, 2026";
    fields.time = "2:30 PM EST";
    fields.date_time = "Sat, Nov 28, 2026, 2:30 PM EST";
    try {
        const sr::MessageTemplate message = sr::MessageTemplate::parse(text);
        SR_FUZZ_CHECK(message.text() == text);
        const std::string rendered = message.render(fields);
        // Control characters in the values become spaces; only the template's own can remain.
        check_encoding(sr::analyse_sms(rendered));
        sr::MessageFields shorter = fields;
        shorter.date = "Nov 28";
        shorter.date_time = "Nov 28, 2:30 PM EST";
        const sr::FittedMessage fitted = sr::render_fitting(message, {fields, shorter});
        SR_FUZZ_CHECK(fitted.candidate <= 1);
        check_encoding(fitted.encoding);
        SR_FUZZ_CHECK(fitted.encoding.segments <= sr::analyse_sms(rendered).segments);
    } catch (const sr::ConfigError&) {
        // Refused at parse time with a message, as the directive does.
    }
    return 0;
}
