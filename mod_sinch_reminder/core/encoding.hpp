#pragma once
// Text encodings the module needs, each done by a library it already links rather than by hand:
// base64 by OpenSSL (EVP_EncodeBlock), percent-encoding by libcurl (curl_easy_escape), UTF-8 checks by
// ICU (U8_NEXT). Pure functions, thread-safe.
#include <cstddef>
#include <string>
#include <string_view>

namespace sr {

// RFC 4648 §4, with '=' padding: "Aladdin:open sesame" -> "QWxhZGRpbjpvcGVuIHNlc2FtZQ==".
std::string base64(std::string_view bytes);

// RFC 4648 §5 (URL- and cookie-safe: '-' and '_' for '+' and '/'), without padding.
std::string base64url(std::string_view bytes);
std::string base64url(const unsigned char* bytes, std::size_t size);

// RFC 3986: every byte but the unreserved A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex), so "+" -> "%2B",
// ":" -> "%3A", " " -> "%20". For URL paths and query values.
std::string percent_encode(std::string_view bytes);

// application/x-www-form-urlencoded: as percent_encode, but a space is "+" ("a b+&=" -> "a+b%2B%26%3D").
std::string url_encode(std::string_view bytes);

// Well-formed UTF-8 (Unicode §3.9): no overlong forms, no surrogates, nothing past U+10FFFF, no
// truncated sequence. NUL and other control characters are well-formed.
bool is_valid_utf8(std::string_view text);

}  // namespace sr
