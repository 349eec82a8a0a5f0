#include "core/redact.hpp"

#include <pqxx/except>

#include <cctype>
#include <regex>

namespace sr {

std::string mask_phone(const std::string& e164) {
    if (e164.size() < 6) return std::string(e164.size(), '*');
    // Keep the '+' and the first digit (country hint) and the last two digits.
    const std::size_t keep_front = e164[0] == '+' ? 2 : 1;
    std::string masked = e164.substr(0, keep_front);
    masked.append(e164.size() - keep_front - 2, '*');
    masked.append(e164.substr(e164.size() - 2));
    return masked;
}

std::string mask_secret(const std::string& secret) {
    if (secret.empty()) return "(unset)";
    return "(set, " + std::to_string(secret.size()) + " chars)";
}

std::string mask_conninfo(const std::string& conninfo) {
    static const std::regex key_value_password(R"((password\s*=\s*)('([^'\\]|\\.)*'|\S+))",
                                               std::regex::icase);
    static const std::regex uri_password(R"((postgres(ql)?://[^:/@]+:)[^@]*@)", std::regex::icase);
    std::string out = std::regex_replace(conninfo, key_value_password, "$1***");
    return std::regex_replace(out, uri_password, "$1***@");
}

std::string constraint_of(const std::string& postgres_message) {
    const std::string first_line = postgres_message.substr(0, postgres_message.find('\n'));
    const std::string marker = "constraint \"";
    const auto start = first_line.find(marker);
    if (start == std::string::npos) return "";
    const auto name_start = start + marker.size();
    const auto end = first_line.find('"', name_start);
    if (end == std::string::npos || end == name_start || end - name_start > 63) return "";
    const std::string name = first_line.substr(name_start, end - name_start);
    for (unsigned char c : name) {
        if (!(std::isalnum(c) || c == '_' || c == '$')) return "";  // only a plain identifier is safe to log
    }
    return name;
}

std::string loggable_error(const std::exception& e) {
    if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
        std::string text =
            "PostgreSQL error " + (sql->sqlstate().empty() ? std::string("(no SQLSTATE)") : sql->sqlstate());
        if (const std::string constraint = constraint_of(sql->what()); !constraint.empty()) {
            text += " (constraint " + constraint + ")";
        }
        return text;
    }
    if (dynamic_cast<const pqxx::conversion_error*>(&e)) {
        return "a value read from PostgreSQL could not be converted";  // its text quotes the value
    }
    return e.what();
}

}  // namespace sr
