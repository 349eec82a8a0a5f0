#pragma once
// The seam between the Sinch client and the network (mod_md's md_http_impl_t): SinchClient logic is
// unit-tested against an in-memory HttpTransport, CurlTransport is tested against a loopback server.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sr {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
    std::string method;  // "GET", "POST", "PUT", "DELETE"
    std::string url;
    HttpHeaders headers;  // sent as given, in this order
    std::string body;     // sent only for POST/PUT (and any other method when non-empty)
    long connect_timeout_ms = 3000;
    long total_timeout_ms = 10000;
};

struct HttpResponse {
    int status = 0;
    HttpHeaders headers;  // names lower-cased, values trimmed, in arrival order
    std::string body;

    // The first value of a header, by lower-case name.
    std::optional<std::string> header(const std::string& lower_case_name) const {
        for (const auto& [name, value] : headers)
            if (name == lower_case_name) return value;
        return std::nullopt;
    }
};

// Whether the server can have seen the request. This decides if repeating a non-idempotent call is safe.
enum class TransportFailure {
    None,            // a complete HTTP response arrived (of any status)
    NotSent,         // connect failed, DNS, refused, TLS handshake: the server never got it; safe to retry
    OutcomeUnknown,  // sent, then timeout/reset/empty reply: the server may have acted on it
};

// "none", "not_sent", "outcome_unknown" (stable; used in logs and stored errors)
inline const char* to_string(TransportFailure failure) noexcept {
    switch (failure) {
        case TransportFailure::None:
            return "none";
        case TransportFailure::NotSent:
            return "not_sent";
        case TransportFailure::OutcomeUnknown:
            return "outcome_unknown";
    }
    return "?";
}

struct HttpResult {
    TransportFailure failure = TransportFailure::None;
    std::string error;      // the transport's own description (curl's error text) when failure != None
    HttpResponse response;  // meaningful only when failure == None
};

class HttpTransport {
  public:
    virtual ~HttpTransport() = default;
    // Performs one exchange. Transport trouble is reported in HttpResult, never thrown; exceptions only
    // for programming errors and out-of-memory. Implementations must be callable from many threads.
    virtual HttpResult perform(const HttpRequest& request) = 0;
};

}  // namespace sr
