#include "core/encoding.hpp"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <unicode/utf8.h>

#include <climits>
#include <memory>
#include <new>
#include <stdexcept>

namespace sr {

std::string base64(std::string_view bytes) {
    if (bytes.size() > static_cast<std::size_t>(INT_MAX / 4 * 3))
        throw std::length_error("base64: input too long");
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
    const int written =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(written));
    return out;
}

std::string base64url(std::string_view bytes) {
    std::string out = base64(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

std::string base64url(const unsigned char* bytes, std::size_t size) {
    return base64url(std::string_view(reinterpret_cast<const char*>(bytes), size));
}

std::string percent_encode(std::string_view bytes) {
    if (bytes.empty()) return "";  // NB: curl_easy_escape takes a length of 0 to mean strlen()
    if (bytes.size() > static_cast<std::size_t>(INT_MAX))
        throw std::length_error("percent_encode: input too long");
    // The handle is unused since libcurl 7.82 (Debian 12 has 7.88).
    const std::unique_ptr<char, decltype(&curl_free)> escaped(
        curl_easy_escape(nullptr, bytes.data(), static_cast<int>(bytes.size())), &curl_free);
    if (!escaped) throw std::bad_alloc();  // out of memory, or longer than libcurl's 8 MB input limit
    return escaped.get();
}

std::string url_encode(std::string_view bytes) {
    std::string out = percent_encode(bytes);
    // Every '%' there starts a %XX escape, so each "%20" found is an encoded space.
    for (auto at = out.find("%20"); at != std::string::npos; at = out.find("%20", at + 1))
        out.replace(at, 3, "+");
    return out;
}

bool is_valid_utf8(std::string_view text) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
    const std::size_t length = text.size();
    for (std::size_t i = 0; i < length;) {
        UChar32 c;
        U8_NEXT(bytes, i, length, c);
        if (c < 0) return false;
    }
    return true;
}

}  // namespace sr
