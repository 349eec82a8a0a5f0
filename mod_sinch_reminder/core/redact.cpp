#include "core/redact.hpp"

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

}  // namespace sr
