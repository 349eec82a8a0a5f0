// The encodings of core/encoding.cpp (OpenSSL base64, libcurl percent-encoding, ICU UTF-8 checks),
// each checked against the same library's decoder or a second, independent ICU API.
// Input: any bytes.
#include <curl/curl.h>
#include <openssl/evp.h>
#include <unicode/ustring.h>

#include <cctype>
#include <vector>

#include "core/encoding.hpp"
#include "fuzz_support.hpp"

namespace {

std::string base64_decode(std::string text) {
    // EVP_DecodeBlock keeps the padding's zero bytes: count them off.
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
    std::vector<unsigned char> out(text.size() / 4 * 3 + 3);
    const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    SR_FUZZ_CHECK(n >= 0 && static_cast<std::size_t>(n) >= padding);
    return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n) - padding);
}

std::string percent_decode(const std::string& text) {
    int length = 0;
    char* decoded = curl_easy_unescape(nullptr, text.c_str(), static_cast<int>(text.size()), &length);
    SR_FUZZ_CHECK(decoded != nullptr);
    std::string out(decoded, static_cast<std::size_t>(length));
    curl_free(decoded);
    return out;
}

bool unreserved_or_escape(const std::string& text, bool plus) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (plus && c == '+')) continue;
        if (c != '%' || i + 2 >= text.size()) return false;
        const std::string hex = text.substr(i + 1, 2);
        if (hex.find_first_not_of("0123456789ABCDEF") != std::string::npos) return false;
        i += 2;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes(reinterpret_cast<const char*>(data), size);

    const std::string b64 = sr::base64(bytes);
    SR_FUZZ_CHECK(b64.size() == (size + 2) / 3 * 4);
    SR_FUZZ_CHECK(
        b64.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
        std::string::npos);
    SR_FUZZ_CHECK(base64_decode(b64) == bytes);

    std::string url = sr::base64url(data, size);
    SR_FUZZ_CHECK(url.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                  std::string::npos);
    SR_FUZZ_CHECK(url.size() == (size * 4 + 2) / 3);
    for (char& c : url) c = c == '-' ? '+' : c == '_' ? '/' : c;
    while (url.size() % 4 != 0) url += '=';
    SR_FUZZ_CHECK(url == b64);

    const std::string percent = sr::percent_encode(bytes);
    SR_FUZZ_CHECK(unreserved_or_escape(percent, false));
    SR_FUZZ_CHECK(percent_decode(percent) == bytes);
    std::string form = sr::url_encode(bytes);
    SR_FUZZ_CHECK(unreserved_or_escape(form, true));
    for (char& c : form) c = c == '+' ? ' ' : c;  // '+' itself was sent as %2B
    SR_FUZZ_CHECK(percent_decode(form) == bytes);

    // ICU's converter must agree with the U8_NEXT loop.
    UErrorCode status = U_ZERO_ERROR;
    int32_t units = 0;
    u_strFromUTF8(nullptr, 0, &units, bytes.data(), static_cast<int32_t>(size), &status);
    const bool converter_ok =
        status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING || U_SUCCESS(status);
    SR_FUZZ_CHECK(sr::is_valid_utf8(bytes) == converter_ok);
    return 0;
}
