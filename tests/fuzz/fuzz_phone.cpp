// Phone normalisation (core/phone.cpp, libphonenumber): whatever staff type, with any default country.
// Input: "REGION\x1f\x1fnumber as typed" (the region may be empty, or anything).
#include "core/phone.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string region = sr::fuzz::piece(data, size, 0);
    const std::string typed = sr::fuzz::piece(data, size, 1);
    if (region.size() > 8) return 0;  // the directive accepts only ISO alpha-2 codes
    sr::is_supported_phone_region(region);
    const sr::PhoneResult result = sr::normalize_phone(typed, region);
    if (result.check == sr::PhoneCheck::Invalid) {
        SR_FUZZ_CHECK(!result.problem.empty());
        SR_FUZZ_CHECK(result.e164.empty());
    } else {
        // "+" and digits only: this is what goes to the database and to Sinch.
        SR_FUZZ_CHECK(result.e164.size() >= 2 && result.e164[0] == '+');
        SR_FUZZ_CHECK(result.e164.find_first_not_of("0123456789", 1) == std::string::npos);
        // A number the metadata knows comes back unchanged when normalised again. (Not so for every
        // PossibleUnverified one: "0000283357962" in DE gives +49000283357962, which reads back as
        // +4900283357962. Staff confirm those with the patient; see docs/security.md.)
        if (result.check == sr::PhoneCheck::Valid) {
            const sr::PhoneResult again = sr::normalize_phone(result.e164, "");
            SR_FUZZ_CHECK(again.check == sr::PhoneCheck::Valid && again.e164 == result.e164);
        }
    }
    return 0;
}
