#pragma once
// The Sinch fake's control API (tests/sinch_fake), for component tests: reset it, inject faults,
// read what it received. The fake runs as a CTest fixture; SINCH_FAKE_URL says where.
#include <jansson.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "core/curl_transport.hpp"
#include "core/sinch_client.hpp"

namespace sr::test {

struct JsonDecref {
    void operator()(json_t* json) const noexcept { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDecref>;

inline std::string string_member(const json_t* object, const char* key) {
    const json_t* value = json_object_get(object, key);
    return json_is_string(value) ? json_string_value(value) : "";
}

// libcurl is initialised once per process, as the module does in post_config.
inline void ensure_curl_initialised() { static const sr::CurlGlobal curl_global; }

inline std::string fake_url() {
    const char* url = std::getenv("SINCH_FAKE_URL");
    if (!url || !*url) {
        throw std::runtime_error("SINCH_FAKE_URL is not set: start tests/sinch_fake/fakectl.sh (CTest fixture)");
    }
    return url;
}

class FakeControl {
  public:
    FakeControl() : m_base_url(fake_url()) { ensure_curl_initialised(); }

    const std::string& base_url() const { return m_base_url; }

    sr::HttpResponse control(const std::string& method, const std::string& path, const std::string& body = "") {
        sr::HttpRequest request;
        request.method = method;
        request.url = m_base_url + path;
        request.body = body;
        if (!body.empty()) request.headers = {{"Content-Type", "application/json"}};
        const sr::HttpResult result = m_transport.perform(request);
        if (result.failure != sr::TransportFailure::None) {
            throw std::runtime_error("Sinch fake control call " + path + " failed: " + result.error);
        }
        if (result.response.status >= 300) {
            throw std::runtime_error("Sinch fake control call " + path + ": HTTP " +
                                     std::to_string(result.response.status) + " " + result.response.body);
        }
        return result.response;
    }

    JsonPtr control_json(const std::string& method, const std::string& path, const std::string& body = "") {
        const std::string text = control(method, path, body).body;
        json_error_t error;
        JsonPtr json(json_loadb(text.data(), text.size(), 0, &error));
        if (!json) throw std::runtime_error("Sinch fake " + path + " answered no JSON: " + text);
        return json;
    }

    void reset() { control("POST", "/_fake/reset"); }

    long stat(const char* name) {
        const JsonPtr stats = control_json("GET", "/_fake/stats");
        return static_cast<long>(json_integer_value(json_object_get(stats.get(), name)));
    }

    void add_fault(const std::string& rule_json) { control("POST", "/_fake/faults", rule_json); }

    JsonPtr batches() { return control_json("GET", "/_fake/batches"); }

    // Recorded creates: POST .../batches.
    std::size_t recorded_creates() {
        const JsonPtr requests = control_json("GET", "/_fake/requests?method=POST&path_regex=/batches%24");
        return json_array_size(requests.get());
    }

    // Service-plan credentials the fake accepts by default.
    sr::SinchConfig service_plan_config() const {
        sr::SinchConfig config;
        config.mode = sr::SinchAuthMode::ServicePlan;
        config.service_plan_id = "test-plan";
        config.api_token = "test-api-token";
        config.sms_base_url = m_base_url;
        config.from = "+15557654321";
        return config;
    }

  private:
    std::string m_base_url;
    sr::CurlTransport m_transport;
};

}  // namespace sr::test
