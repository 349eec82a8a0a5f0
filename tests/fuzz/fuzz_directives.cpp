// Directive values (core/settings.cpp): each SinchReminder... directive's parser with any argument, then
// what the adapter does with an accepted configuration (merge, resolve, cross-directive checks, the zone,
// the SMS template and a rendered reminder). Directives whose argument is a file name are left out: their
// parsers read the file system.
// Input: lines as in httpd.conf, "SinchReminderLeadTime 90m" (the argument as httpd hands it over,
// quotes already removed), at most 12.
#include <chrono>
#include <cstring>

#include "core/clock.hpp"
#include "core/settings.hpp"
#include "core/sms_text.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    sr::SettingValues values;
    std::size_t start = 0;
    for (int line = 0; line < 12 && start < input.size(); ++line) {
        std::size_t end = input.find('\n', start);
        if (end == std::string::npos) end = input.size();
        const std::string text = input.substr(start, end - start);
        start = end + 1;
        const std::size_t space = text.find(' ');
        const std::string name = text.substr(0, space);
        const std::string argument = space == std::string::npos ? "" : text.substr(space + 1);
        for (const sr::DirectiveSpec& spec : sr::directive_specs()) {
            if (spec.argument_is_path || name != spec.name) continue;
            // The contract (settings.def): a refused value is a ConfigError whose message the adapter shows.
            try {
                spec.apply(values, argument);
            } catch (const sr::ConfigError& e) {
                SR_FUZZ_CHECK(std::strlen(e.what()) > 0);
            }
        }
    }
    const sr::SettingValues merged = sr::merge(sr::SettingValues{}, values);
    sr::cross_directive_problems(merged, true);
    const sr::Settings settings = sr::Settings::resolve(merged);
    if (settings.auth) settings.sinch_config();
    // post_config: the template and the zone that parse-time checks accepted must work.
    const sr::MessageTemplate message = sr::MessageTemplate::parse(settings.message);
    const sr::ClinicZone zone = sr::ClinicZone::load(settings.time_zone.empty() ? "UTC" : settings.time_zone);
    const std::string sms = sr::reminder_text(message, settings.clinic_name, "Dr. Fuzz", zone,
                                              sr::Instant(std::chrono::seconds(1790000000)), settings.locale);
    SR_FUZZ_CHECK(sr::analyse_sms(sms).segments >= 1);
    return 0;
}
