#pragma once
// HttpTransport over libcurl easy handles, reused from a small per-process stack (mod_auth_openidc http.c).
//
// NB: curl_global_init is not called here. The module calls it once in the parent's post_config (through
// CurlGlobal); tests create a CurlGlobal in their setup.
#include "core/http_transport.hpp"

#include <curl/curl.h>

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace sr {

// curl_global_init(CURL_GLOBAL_DEFAULT) for its lifetime, curl_global_cleanup at the end.
// NB: not thread-safe in libcurl < 7.84: create it before any thread uses curl.
class CurlGlobal {
  public:
    CurlGlobal();  // throws std::runtime_error if libcurl cannot initialise
    ~CurlGlobal();
    CurlGlobal(const CurlGlobal&) = delete;
    CurlGlobal& operator=(const CurlGlobal&) = delete;
};

// "libcurl/7.88.1 OpenSSL/3.0.x ..." for the startup log line.
std::string curl_version_description();

// Owns one CURL easy handle and the header list set on it (cpr's CurlHolder). Move-only.
class CurlHandle {
  public:
    CurlHandle();  // throws std::runtime_error if curl_easy_init fails
    ~CurlHandle();
    CurlHandle(CurlHandle&& other) noexcept;
    CurlHandle& operator=(CurlHandle&& other) noexcept;
    CurlHandle(const CurlHandle&) = delete;
    CurlHandle& operator=(const CurlHandle&) = delete;

    CURL* get() const noexcept { return m_curl; }
    // Replaces the header list; the handle keeps it alive as long as curl may read it.
    void set_header_list(curl_slist* headers) noexcept;
    // Gives up the handle without cleaning it up (after fork: its sockets belong to the parent too).
    void leak() noexcept;

  private:
    void destroy() noexcept;
    CURL* m_curl = nullptr;
    curl_slist* m_headers = nullptr;
};

struct CurlTransportOptions {
    std::size_t max_idle_handles = 8;          // handles kept for reuse (each keeps its connections alive)
    std::string ca_file;                       // empty: libcurl's default CA bundle
    std::string ca_path;                       // empty: libcurl's default
    std::size_t max_response_bytes = 1 << 20;  // larger responses are aborted (OutcomeUnknown)
    std::string user_agent;                    // used when the request has no User-Agent header
};

// Thread-safe. Every request gets CURLOPT_NOSIGNAL (threaded MPMs), HTTP/1.1, its connect and total
// timeouts, verified TLS and no redirects.
//
// NB: libcurl silently resends a request whose reused keep-alive connection died before any response
// byte arrived. For a POST that can create a second batch, so a request body that has (even partly)
// gone out is never rewound: libcurl fails instead, and the result is OutcomeUnknown.
class CurlTransport final : public HttpTransport {
  public:
    explicit CurlTransport(CurlTransportOptions options = {});
    ~CurlTransport() override;

    HttpResult perform(const HttpRequest& request) override;

    // Handles waiting for reuse right now.
    std::size_t idle_handles() const;
    // For child_init: drops idle handles inherited over fork without closing their connections.
    void forget_idle_handles_after_fork() noexcept;

  private:
    CurlHandle acquire_handle();
    void return_handle(CurlHandle handle) noexcept;

    const CurlTransportOptions m_options;
    mutable std::mutex m_idle_mutex;
    std::vector<CurlHandle> m_idle;  // guarded by m_idle_mutex; used as a stack (most recent = warmest)
};

}  // namespace sr
