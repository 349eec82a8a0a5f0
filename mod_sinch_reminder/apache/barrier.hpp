#pragma once
// Exception barriers: nothing thrown in C++ may unwind through httpd's or a C library's frames.
// Every function httpd calls is noexcept and runs its body through one of these.
#include <exception>
#include <string>

#include "apache/log.hpp"
#include "core/redact.hpp"

namespace sr::apache {

// For hooks and cleanups without a request: log and return `on_error`.
template <typename Result, typename Body>
Result guard_server(const server_rec* server, const char* what, Result on_error, Body&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        ApacheLogger(server).log(LogLevel::Error, "SR0001",
                                 std::string(what) + " failed: " + loggable_error(e));
    } catch (...) {
        ApacheLogger(server).log(LogLevel::Error, "SR0002", std::string(what) + " failed with a non-standard exception");
    }
    return on_error;
}

}  // namespace sr::apache
