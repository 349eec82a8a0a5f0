// Form and query parsing: a query string (or an application/x-www-form-urlencoded body) split and
// decoded as the adapter does (apache/query_string.cpp, APR), then read as the list filters (HTML list
// and API) and as the booking form, with every field check (core/appointment_query.cpp,
// core/appointment_form.cpp).
// Input: the query string as it arrives in r->args (a C string: it ends at the first NUL).
#include <apr_general.h>
#include <apr_pools.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <string>

#include "apache/query_string.hpp"
#include "core/appointment_form.hpp"
#include "core/appointment_query.hpp"
#include "core/clock.hpp"
#include "core/encoding.hpp"
#include "fuzz_support.hpp"

namespace {

// The rules parse_urlencoded documents, written out plainly: the reference it must agree with.
bool reference_decode(const std::string& in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+') {
            out += ' ';
        } else if (in[i] != '%') {
            out += in[i];
        } else {
            if (i + 2 >= in.size()) return false;
            const std::string hex = in.substr(i + 1, 2);
            if (hex.size() != 2 || !std::isxdigit(static_cast<unsigned char>(hex[0])) ||
                !std::isxdigit(static_cast<unsigned char>(hex[1]))) {
                return false;
            }
            const char byte = static_cast<char>(std::stoi(hex, nullptr, 16));
            if (byte == '\0') return false;
            out += byte;
            i += 2;
        }
    }
    return true;
}

std::map<std::string, std::string> reference_parse(const std::string& text) {
    std::map<std::string, std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find('&', start);
        if (end == std::string::npos) end = text.size();
        const std::string pair = text.substr(start, end - start);
        start = end + 1;
        if (pair.empty()) continue;
        const std::size_t eq = pair.find('=');
        std::string name, value;
        if (!reference_decode(pair.substr(0, eq), name)) continue;
        if (!reference_decode(eq == std::string::npos ? "" : pair.substr(eq + 1), value)) continue;
        out.emplace(name, value);
    }
    return out;
}

apr_pool_t* root_pool() {
    static apr_pool_t* pool = [] {
        apr_initialize();
        apr_pool_t* p = nullptr;
        apr_pool_create(&p, nullptr);
        return p;
    }();
    return pool;
}

const sr::ClinicZone& zone() {
    static const sr::ClinicZone z = sr::ClinicZone::load("America/New_York");
    return z;
}

std::string field(const std::map<std::string, std::string>& fields, const char* name) {
    const auto it = fields.find(name);
    return it == fields.end() ? "" : it->second;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string raw(reinterpret_cast<const char*>(data), size);
    const std::string args = raw.c_str();  // r->args ends at the first NUL
    apr_pool_t* pool = nullptr;
    apr_pool_create(&pool, root_pool());
    const std::map<std::string, std::string> fields = sr::apache::parse_urlencoded(args.c_str(), pool);
    SR_FUZZ_CHECK(fields == reference_parse(args));
    for (const auto& [name, value] : fields) {
        // What the list page writes into its links decodes back to the same value.
        const std::string link = "q=" + sr::url_encode(value) + "&" + sr::url_encode(name) + "=1";
        const auto again = sr::apache::parse_urlencoded(link.c_str(), pool);
        SR_FUZZ_CHECK(again.count("q") && again.at("q") == value);
    }
    apr_pool_destroy(pool);

    const sr::Instant now{std::chrono::seconds(1790000000)};  // 2026-09-21
    sr::ListQuery query;
    query.from = field(fields, "from");
    query.to = field(fields, "to");
    query.q = field(fields, "q");
    query.phone = field(fields, "phone");
    query.status = field(fields, "status");
    query.page = field(fields, "page");
    query.limit = field(fields, "limit");
    query.offset = field(fields, "offset");
    for (const bool html : {true, false}) {
        const sr::ParsedListQuery parsed = sr::parse_list_query(query, zone(), "US", now, html, 50);
        if (parsed.ok()) {
            SR_FUZZ_CHECK(parsed.filter.limit >= 1 && parsed.filter.offset >= 0 && parsed.page >= 1);
            SR_FUZZ_CHECK(sr::is_valid_utf8(parsed.filter.name_words));
        }
    }

    sr::AppointmentInput input;
    input.patient_name = field(fields, "patient_name");
    input.doctor_name = field(fields, "doctor_name");
    input.phone = field(fields, "phone");
    input.appointment_date = field(fields, "appointment_date");
    input.appointment_time = field(fields, "appointment_time");
    input.phone_confirmed = fields.count("phone_confirmed") > 0;
    sr::ValidationContext context;
    context.zone = &zone();
    context.default_country = "US";
    context.now = now;
    const sr::FormValidation validation = sr::validate_appointment(input, context);
    if (validation.ok()) {
        const sr::ValidAppointment& a = *validation.appointment;
        for (const std::string* name : {&a.patient_name, &a.doctor_name}) {
            SR_FUZZ_CHECK(!name->empty() && sr::is_valid_utf8(*name));
            SR_FUZZ_CHECK(sr::utf8_length(*name) <= sr::k_max_name_characters);
            for (unsigned char c : *name) SR_FUZZ_CHECK(c >= 0x20 && c != 0x7f);
        }
        SR_FUZZ_CHECK(a.phone_e164.size() >= 2 && a.phone_e164[0] == '+');
        SR_FUZZ_CHECK(a.starts.utc > now && a.reminder_at < a.starts.utc);
    }
    sr::validate_appointment_time(input.appointment_date, input.appointment_time, context);
    return 0;
}
