#include "apache/log.hpp"

#include <string>

#include <httpd.h>
#include <http_log.h>

#include "apache/module_api.h"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

namespace {

int to_apache_level(LogLevel level) {
    switch (level) {
        case LogLevel::Error: return APLOG_ERR;
        case LogLevel::Warn: return APLOG_WARNING;
        case LogLevel::Info: return APLOG_INFO;
        case LogLevel::Debug: return APLOG_DEBUG;
    }
    return APLOG_ERR;
}

}  // namespace

ApacheLogger::ApacheLogger(const request_rec* request) : m_server(request->server), m_request(request) {}

bool ApacheLogger::enabled(LogLevel level) const noexcept {
    const int apache_level = to_apache_level(level);
    if (m_request) return APLOG_R_MODULE_IS_LEVEL(m_request, APLOG_MODULE_INDEX, apache_level);
    if (m_server) return APLOG_MODULE_IS_LEVEL(m_server, APLOG_MODULE_INDEX, apache_level);
    return apache_level <= APLOG_NOTICE;
}

void ApacheLogger::log(LogLevel level, const char* message_id, const std::string& message) noexcept {
    const int apache_level = to_apache_level(level);
    const char* id = message_id && *message_id ? message_id : nullptr;
    // NB: a last guard for PostgreSQL text that slipped past loggable_error(): its DETAIL quotes row data.
    const std::size_t detail = message.find("DETAIL:");
    const char* text = message.c_str();
    std::string cut;
    if (detail != std::string::npos) {
        try {
            cut = message.substr(0, detail) + "[DETAIL removed]";
            text = cut.c_str();
        } catch (...) {
            text = "(message withheld: it quoted PostgreSQL row data)";
        }
    }
    if (m_request) {
        ap_log_rerror(APLOG_MARK, apache_level, 0, m_request, "%s%s%s", id ? id : "", id ? ": " : "", text);
    } else {
        ap_log_error(APLOG_MARK, apache_level, 0, m_server, "%s%s%s", id ? id : "", id ? ": " : "", text);
    }
}

}  // namespace sr::apache
