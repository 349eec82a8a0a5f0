#pragma once
// The core's Logger, forwarded to httpd's error log under this module's LogLevel, so
// `LogLevel warn sinch_reminder:debug` works. Messages carry stable ids (docs/error-reference.md).
#include <string>

#include "core/logger.hpp"

struct server_rec;
struct request_rec;

namespace sr::apache {

class ApacheLogger final : public Logger {
  public:
    explicit ApacheLogger(const server_rec* server) : m_server(server) {}
    explicit ApacheLogger(const request_rec* request);
    bool enabled(LogLevel level) const noexcept override;
    void log(LogLevel level, const char* message_id, const std::string& message) noexcept override;

  private:
    const server_rec* m_server = nullptr;
    const request_rec* m_request = nullptr;
};

}  // namespace sr::apache
