#include "apache/query_string.hpp"

#include <cstring>

#include <apr_escape.h>
#include <apr_strings.h>

namespace sr::apache {

std::map<std::string, std::string> parse_urlencoded(const char* text, apr_pool_t* pool) {
    std::map<std::string, std::string> out;
    if (!text) return out;
    char* state = nullptr;
    // apr_strtok skips empty tokens, so "a&&b" and a leading or trailing '&' give no empty pair.
    for (char* pair = apr_strtok(apr_pstrdup(pool, text), "&", &state); pair;
         pair = apr_strtok(nullptr, "&", &state)) {
        char* value = std::strchr(pair, '=');
        if (value) *value++ = '\0';
        // NULL for a malformed escape or an encoded NUL (always forbidden); the pair is ignored.
        const char* name = apr_punescape_url(pool, pair, nullptr, nullptr, 1);
        const char* decoded = value ? apr_punescape_url(pool, value, nullptr, nullptr, 1) : "";
        if (!name || !decoded) continue;
        out.emplace(name, decoded);
    }
    return out;
}

}  // namespace sr::apache
