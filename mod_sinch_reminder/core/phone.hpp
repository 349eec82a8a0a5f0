#pragma once
// Patient phone numbers: whatever staff type, normalised to E.164 with libphonenumber.
//
// NB: Debian 12's libphonenumber metadata dates from 2022. Numbers in ranges opened since then
// (new NANP area codes, for instance) are "possible" but not "valid" to it. Such numbers are not
// rejected: they come back as PossibleUnverified so staff can confirm them, while impossible
// numbers (wrong length, letters, no country) are errors.
#include <string>

namespace sr {

enum class PhoneCheck {
    Valid,               // recognised by the numbering-plan metadata
    PossibleUnverified,  // right shape for the country, unknown to the (old) metadata: ask staff to confirm
    Invalid,             // cannot be a phone number; `problem` says why
};

struct PhoneResult {
    PhoneCheck check = PhoneCheck::Invalid;
    std::string e164;     // set unless Invalid
    std::string region;   // ISO 3166 alpha-2 of the number, if known
    std::string problem;  // for staff: what is wrong, or why it needs confirming
};

// default_region: ISO alpha-2 used for numbers written without +country code; empty = none.
PhoneResult normalize_phone(const std::string& typed, const std::string& default_region);

// Whether libphonenumber knows a numbering plan for this ISO alpha-2 code (upper case).
bool is_supported_phone_region(const std::string& region);

// The country calling code of an E.164 number (1 for +1 ...), or 0 if it cannot be parsed.
int phone_calling_code(const std::string& e164);
// The calling code of an ISO alpha-2 region (44 for GB), or 0 if unknown.
int phone_calling_code_of_region(const std::string& region);

}  // namespace sr
