#include "core/curl_transport.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <utility>

namespace sr {

// ------------------------------------------------------------------------------------------------
// CurlGlobal, CurlHandle
// ------------------------------------------------------------------------------------------------

CurlGlobal::CurlGlobal() {
    const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        throw std::runtime_error(std::string("curl_global_init failed: ") + curl_easy_strerror(rc));
}

CurlGlobal::~CurlGlobal() { curl_global_cleanup(); }

std::string curl_version_description() { return curl_version(); }

CurlHandle::CurlHandle() : m_curl(curl_easy_init()) {
    if (!m_curl) throw std::runtime_error("curl_easy_init failed (out of memory or curl not initialised)");
}

CurlHandle::~CurlHandle() { destroy(); }

CurlHandle::CurlHandle(CurlHandle&& other) noexcept
    : m_curl(std::exchange(other.m_curl, nullptr)), m_headers(std::exchange(other.m_headers, nullptr)) {}

CurlHandle& CurlHandle::operator=(CurlHandle&& other) noexcept {
    if (this != &other) {
        destroy();
        m_curl = std::exchange(other.m_curl, nullptr);
        m_headers = std::exchange(other.m_headers, nullptr);
    }
    return *this;
}

void CurlHandle::set_header_list(curl_slist* headers) noexcept {
    if (m_headers) curl_slist_free_all(m_headers);
    m_headers = headers;
}

void CurlHandle::leak() noexcept {
    m_curl = nullptr;
    m_headers = nullptr;
}

void CurlHandle::destroy() noexcept {
    // NB: the handle goes first: it may still point at the header list.
    if (m_curl) curl_easy_cleanup(m_curl);
    if (m_headers) curl_slist_free_all(m_headers);
    m_curl = nullptr;
    m_headers = nullptr;
}

// ------------------------------------------------------------------------------------------------
// One transfer: the state the C callbacks see
// ------------------------------------------------------------------------------------------------

namespace {

struct Transfer {
    const std::string* request_body = nullptr;
    std::size_t body_sent = 0;  // how far curl has read the request body
    std::size_t max_response_bytes = 0;
    HttpResponse response;
    bool response_too_large = false;
    std::exception_ptr callback_exception;  // rethrown after curl_easy_perform returns
};

std::string lower_case(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::string trimmed(const char* begin, const char* end) {
    while (begin < end && std::isspace(static_cast<unsigned char>(*begin))) ++begin;
    while (end > begin && std::isspace(static_cast<unsigned char>(end[-1]))) --end;
    return std::string(begin, end);
}

// CURLOPT_READFUNCTION: hands out the request body.
size_t read_request_body(char* buffer, size_t size, size_t count, void* userdata) noexcept {
    auto* transfer = static_cast<Transfer*>(userdata);
    try {
        const std::string& body = *transfer->request_body;
        const std::size_t n = std::min(size * count, body.size() - transfer->body_sent);
        std::memcpy(buffer, body.data() + transfer->body_sent, n);
        transfer->body_sent += n;
        return n;
    } catch (...) {
        transfer->callback_exception = std::current_exception();
        return CURL_READFUNC_ABORT;
    }
}

// CURLOPT_SEEKFUNCTION: curl asks to rewind the body when it wants to resend the request, e.g. after a
// reused keep-alive connection died with no response. Once any body byte went out the server may have
// acted on it, so refuse: curl then fails with CURLE_SEND_FAIL_REWIND instead of sending it twice.
int rewind_request_body(void* userdata, curl_off_t offset, int origin) noexcept {
    auto* transfer = static_cast<Transfer*>(userdata);
    if (origin != SEEK_SET || offset != 0 || transfer->body_sent != 0) return CURL_SEEKFUNC_FAIL;
    return CURL_SEEKFUNC_OK;
}

// CURLOPT_WRITEFUNCTION: collects the response body, up to the configured limit.
size_t collect_body(char* data, size_t size, size_t count, void* userdata) noexcept {
    auto* transfer = static_cast<Transfer*>(userdata);
    try {
        const std::size_t n = size * count;
        if (transfer->response.body.size() + n > transfer->max_response_bytes) {
            transfer->response_too_large = true;
            return 0;  // aborts the transfer with CURLE_WRITE_ERROR
        }
        transfer->response.body.append(data, n);
        return n;
    } catch (...) {
        transfer->callback_exception = std::current_exception();
        return 0;
    }
}

// CURLOPT_HEADERFUNCTION: one header line at a time, status lines included.
size_t collect_header(char* data, size_t size, size_t count, void* userdata) noexcept {
    auto* transfer = static_cast<Transfer*>(userdata);
    try {
        const std::size_t n = size * count;
        const char* end = data + n;
        if (n >= 5 && std::memcmp(data, "HTTP/", 5) == 0) {
            // A new response starts (after a 100 Continue, say): only the final one's headers count.
            transfer->response.headers.clear();
            return n;
        }
        const char* colon = static_cast<const char*>(std::memchr(data, ':', n));
        if (colon)
            transfer->response.headers.emplace_back(lower_case(trimmed(data, colon)),
                                                    trimmed(colon + 1, end));
        return n;
    } catch (...) {
        transfer->callback_exception = std::current_exception();
        return 0;
    }
}

bool has_header(const HttpHeaders& headers, const char* lower_case_name) {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& header) { return lower_case(header.first) == lower_case_name; });
}

// Throws if curl refuses an option: that is a programming or build error, never a network condition.
template <typename Value>
void set_option(CURL* curl, CURLoption option, Value value) {
    const CURLcode rc = curl_easy_setopt(curl, option, value);
    if (rc != CURLE_OK)
        throw std::runtime_error(std::string("curl_easy_setopt(") + std::to_string(static_cast<int>(option)) +
                                 ") failed: " + curl_easy_strerror(rc));
}

curl_slist* append_header(curl_slist* list, const std::string& line) {
    curl_slist* extended = curl_slist_append(list, line.c_str());
    if (!extended) {
        curl_slist_free_all(list);
        throw std::bad_alloc();
    }
    return extended;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// CurlTransport
// ------------------------------------------------------------------------------------------------

CurlTransport::CurlTransport(CurlTransportOptions options) : m_options(std::move(options)) {}

CurlTransport::~CurlTransport() = default;

std::size_t CurlTransport::idle_handles() const {
    std::lock_guard<std::mutex> lock(m_idle_mutex);
    return m_idle.size();
}

namespace {

// Handles given up after fork. Never destroyed, but reachable: leak checkers see a choice, not a leak.
std::vector<CurlHandle>& abandoned_after_fork() {
    static auto* handles = new std::vector<CurlHandle>();
    return *handles;
}

}  // namespace

void CurlTransport::forget_idle_handles_after_fork() noexcept {
    std::lock_guard<std::mutex> lock(m_idle_mutex);
    // NB: cleaning them up would close (and for TLS, shut down) connections the parent still owns.
    for (auto& handle : m_idle) {
        try {
            abandoned_after_fork().push_back(std::move(handle));
        } catch (...) {
            handle.leak();
        }
    }
    m_idle.clear();
}

CurlHandle CurlTransport::acquire_handle() {
    {
        std::lock_guard<std::mutex> lock(m_idle_mutex);
        if (!m_idle.empty()) {
            CurlHandle handle = std::move(m_idle.back());
            m_idle.pop_back();
            return handle;
        }
    }
    return CurlHandle();
}

void CurlTransport::return_handle(CurlHandle handle) noexcept {
    // Forget this request's options and its pointers into perform()'s frame; live connections and the
    // DNS cache survive for the next request.
    curl_easy_reset(handle.get());
    handle.set_header_list(nullptr);
    std::lock_guard<std::mutex> lock(m_idle_mutex);
    if (m_idle.size() < m_options.max_idle_handles) {
        try {
            m_idle.push_back(std::move(handle));
        } catch (...) {
            // Out of memory for the vector: the handle is simply destroyed.
        }
    }
}

HttpResult CurlTransport::perform(const HttpRequest& request) {
    // NB: declared before the handle, so that they outlive it whatever path leaves this function.
    Transfer transfer;
    transfer.request_body = &request.body;
    transfer.max_response_bytes = m_options.max_response_bytes;
    char error_text[CURL_ERROR_SIZE] = {};

    CurlHandle handle = acquire_handle();
    CURL* curl = handle.get();

    set_option(curl, CURLOPT_URL, request.url.c_str());
    set_option(curl, CURLOPT_NOSIGNAL, 1L);  // NB: threaded MPMs; signals would hit a random thread
    set_option(curl, CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, request.connect_timeout_ms));
    set_option(curl, CURLOPT_TIMEOUT_MS, std::max(1L, request.total_timeout_ms));
    set_option(curl, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    set_option(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    set_option(curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
    set_option(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    set_option(curl, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    set_option(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    set_option(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!m_options.ca_file.empty()) set_option(curl, CURLOPT_CAINFO, m_options.ca_file.c_str());
    if (!m_options.ca_path.empty()) set_option(curl, CURLOPT_CAPATH, m_options.ca_path.c_str());
    set_option(curl, CURLOPT_ERRORBUFFER, error_text);
    set_option(curl, CURLOPT_WRITEFUNCTION, &collect_body);
    set_option(curl, CURLOPT_WRITEDATA, static_cast<void*>(&transfer));
    set_option(curl, CURLOPT_HEADERFUNCTION, &collect_header);
    set_option(curl, CURLOPT_HEADERDATA, static_cast<void*>(&transfer));

    const bool sends_body = request.method == "POST" || request.method == "PUT" || !request.body.empty();
    if (sends_body) {
        // The body goes through a read callback (not POSTFIELDS) so that curl must ask before resending it.
        set_option(curl, CURLOPT_POST, 1L);
        set_option(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
        set_option(curl, CURLOPT_READFUNCTION, &read_request_body);
        set_option(curl, CURLOPT_READDATA, static_cast<void*>(&transfer));
        set_option(curl, CURLOPT_SEEKFUNCTION, &rewind_request_body);
        set_option(curl, CURLOPT_SEEKDATA, static_cast<void*>(&transfer));
        if (request.method != "POST") set_option(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    } else if (request.method == "GET") {
        set_option(curl, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
        set_option(curl, CURLOPT_NOBODY, 1L);
    } else {
        set_option(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }

    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers) headers = append_header(headers, name + ": " + value);
    // No "Expect: 100-continue" round trip for our small bodies.
    headers = append_header(headers, "Expect:");
    if (!m_options.user_agent.empty() && !has_header(request.headers, "user-agent"))
        headers = append_header(headers, "User-Agent: " + m_options.user_agent);
    handle.set_header_list(headers);
    set_option(curl, CURLOPT_HTTPHEADER, headers);

    const CURLcode rc = curl_easy_perform(curl);
    // NB: the error buffer lives on this stack frame; curl must not keep pointing at it.
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
    if (transfer.callback_exception) std::rethrow_exception(transfer.callback_exception);

    HttpResult result;
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        result.response = std::move(transfer.response);
        result.response.status = static_cast<int>(status);
        return_handle(std::move(handle));
        return result;
    }

    // CURLINFO_REQUEST_SIZE counts request bytes handed to the socket (headers and body, partial sends
    // included). Zero means the server cannot have seen anything of it: refused, DNS, TLS handshake,
    // or a connect timeout. Anything more and the server may have acted.
    long request_bytes_sent = 0;
    curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_bytes_sent);
    result.failure = request_bytes_sent == 0 ? TransportFailure::NotSent : TransportFailure::OutcomeUnknown;
    result.error = error_text[0] ? error_text : curl_easy_strerror(rc);
    if (transfer.response_too_large)
        result.error = "response larger than " + std::to_string(m_options.max_response_bytes) + " bytes";
    result.error += " (curl error " + std::to_string(static_cast<int>(rc)) + ")";
    // The handle is dropped, not reused: its connection state after a failure is not worth trusting.
    return result;
}

}  // namespace sr
