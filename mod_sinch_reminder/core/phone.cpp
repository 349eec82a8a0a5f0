#include "core/phone.hpp"

#include <phonenumbers/phonenumberutil.h>

#include <set>

namespace sr {

namespace {

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

std::string parse_problem(PhoneNumberUtil::ErrorType error, bool has_default_region) {
    switch (error) {
        case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
            return has_default_region ? "The country code is not valid."
                                      : "Enter the number with its country code, e.g. +1 202 555 0123.";
        case PhoneNumberUtil::NOT_A_NUMBER:
            return "This is not a phone number.";
        case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
        case PhoneNumberUtil::TOO_SHORT_NSN:
            return "The number is too short.";
        case PhoneNumberUtil::TOO_LONG_NSN:
            return "The number is too long.";
        default:
            return "This is not a phone number.";
    }
}

std::string possibility_problem(PhoneNumberUtil::ValidationResult reason) {
    switch (reason) {
        case PhoneNumberUtil::INVALID_COUNTRY_CODE:
            return "The country code is not valid.";
        case PhoneNumberUtil::TOO_SHORT:
            return "The number is too short.";
        case PhoneNumberUtil::TOO_LONG:
            return "The number is too long.";
        default:
            return "The number has the wrong length for its country.";
    }
}

}  // namespace

PhoneResult normalize_phone(const std::string& typed, const std::string& default_region) {
    const PhoneNumberUtil& util = *PhoneNumberUtil::GetInstance();
    PhoneResult result;
    if (typed.find_first_not_of(" \t") == std::string::npos) {
        result.problem = "Enter the patient's mobile number.";
        return result;
    }
    PhoneNumber number;
    const std::string region = default_region.empty() ? "ZZ" : default_region;
    const auto parse_error = util.Parse(typed, region, &number);
    if (parse_error != PhoneNumberUtil::NO_PARSING_ERROR) {
        result.problem = parse_problem(parse_error, !default_region.empty());
        return result;
    }
    const auto possibility = util.IsPossibleNumberWithReason(number);
    if (possibility != PhoneNumberUtil::IS_POSSIBLE) {
        result.problem = possibility_problem(possibility);
        return result;
    }
    util.Format(number, PhoneNumberUtil::E164, &result.e164);
    // E.164 allows at most 15 digits; libphonenumber calls some longer numbers "possible" (and the
    // database refuses them), so they are refused here with the field's message.
    if (result.e164.size() > 16) {
        result.e164.clear();
        result.problem = "The number is too long.";
        return result;
    }
    util.GetRegionCodeForNumber(number, &result.region);
    // GetNumberType is UNKNOWN exactly when IsValidNumber is false (both match the number against its
    // region's patterns); asking once saves a second pass of libphonenumber's regular expressions.
    const auto type = util.GetNumberType(number);
    if (type != PhoneNumberUtil::UNKNOWN) {
        result.check = PhoneCheck::Valid;
        if (type == PhoneNumberUtil::FIXED_LINE) {
            // Still accepted: some landlines take SMS (text-to-voice), but staff should know.
            result.problem = "This looks like a landline; SMS may not arrive.";
        }
    } else {
        result.check = PhoneCheck::PossibleUnverified;
        result.problem =
            "This number has the right length but is not in this server's numbering-plan data (it may be "
            "a newly opened range). Check it with the patient and confirm.";
    }
    return result;
}

bool is_supported_phone_region(const std::string& region) {
    static const std::set<std::string> regions = [] {
        std::set<std::string> out;
        PhoneNumberUtil::GetInstance()->GetSupportedRegions(&out);
        return out;
    }();
    return regions.count(region) > 0;
}

int phone_calling_code(const std::string& e164) {
    PhoneNumber number;
    if (PhoneNumberUtil::GetInstance()->Parse(e164, "ZZ", &number) != PhoneNumberUtil::NO_PARSING_ERROR)
        return 0;
    return number.country_code();
}

int phone_calling_code_of_region(const std::string& region) {
    return PhoneNumberUtil::GetInstance()->GetCountryCodeForRegion(region);
}

}  // namespace sr
