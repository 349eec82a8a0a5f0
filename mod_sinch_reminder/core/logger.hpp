#pragma once
// How the core reports what it did. The adapter forwards to ap_log_error/ap_log_rerror under the
// module's LogLevel; tests capture messages. Never pass secrets, full phone numbers or message
// bodies: mask them with the helpers in redact.hpp first.
#include <string>

namespace sr {

enum class LogLevel { Error, Warn, Info, Debug };

class Logger {
  public:
    virtual ~Logger() = default;
    // Cheap check so callers can skip building debug strings nobody will see.
    virtual bool enabled(LogLevel level) const noexcept = 0;
    // message_id is a stable "SR####" id (docs/error-reference.md); empty for debug/info flow messages.
    virtual void log(LogLevel level, const char* message_id, const std::string& message) noexcept = 0;
};

// Discards everything: for tools and tests that do not care.
class NullLogger final : public Logger {
  public:
    bool enabled(LogLevel) const noexcept override { return false; }
    void log(LogLevel, const char*, const std::string&) noexcept override {}
};

}  // namespace sr
