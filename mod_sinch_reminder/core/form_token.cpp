#include "core/form_token.hpp"

#include "core/encoding.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace sr {

namespace {

bool is_base64url(const std::string& s) {
    for (char c : s) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
    }
    return !s.empty();
}

}  // namespace

std::string random_token(std::size_t bytes) {
    std::vector<unsigned char> buffer(bytes);
    if (RAND_bytes(buffer.data(), static_cast<int>(buffer.size())) != 1) {
        throw std::runtime_error("the system random generator failed");
    }
    return base64url(buffer.data(), buffer.size());
}

FormTokens::FormTokens(std::string key, std::chrono::seconds max_age) : m_key(std::move(key)), m_max_age(max_age) {
    if (m_key.size() < 32) throw std::invalid_argument("form token key must be at least 32 bytes");
}

std::string FormTokens::binding(const std::string& cookie_value, const std::string& user,
                                const std::string& action) {
    // Length-prefixed, so no part can be shifted into another (the cookie is base64url, the others free
    // text).
    return cookie_value + '\n' + std::to_string(action.size()) + ':' + action + '\n' + user;
}

std::string FormTokens::mac(const std::string& payload) const {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), m_key.data(), static_cast<int>(m_key.size()),
              reinterpret_cast<const unsigned char*>(payload.data()), payload.size(), digest, &length)) {
        throw std::runtime_error("HMAC failed");
    }
    return base64url(digest, length);
}

std::string FormTokens::issue(const std::string& binding, std::int64_t now_unix) const {
    const std::string head = "v1." + std::to_string(now_unix) + "." + random_token(16);
    return head + "." + mac(head + '\n' + binding);
}

VerifiedToken FormTokens::verify(const std::string& token, const std::string& binding, std::int64_t now_unix) const {
    VerifiedToken result;
    if (token.empty()) return result;
    result.check = TokenCheck::Malformed;
    const auto first = token.find('.');
    const auto second = first == std::string::npos ? first : token.find('.', first + 1);
    const auto third = second == std::string::npos ? second : token.find('.', second + 1);
    if (third == std::string::npos || token.substr(0, first) != "v1") return result;
    const std::string issued_text = token.substr(first + 1, second - first - 1);
    const std::string nonce = token.substr(second + 1, third - second - 1);
    const std::string given_mac = token.substr(third + 1);
    if (issued_text.empty() || issued_text.size() > 12 ||
        issued_text.find_first_not_of("0123456789") != std::string::npos || !is_base64url(nonce) ||
        !is_base64url(given_mac)) {
        return result;
    }
    const std::string expected_mac = mac(token.substr(0, third) + '\n' + binding);
    if (expected_mac.size() != given_mac.size() ||
        CRYPTO_memcmp(expected_mac.data(), given_mac.data(), expected_mac.size()) != 0) {
        result.check = TokenCheck::BadSignature;
        return result;
    }
    const std::int64_t issued = std::stoll(issued_text);
    // A little tolerance for clocks of different nodes behind one balancer.
    if (now_unix - issued > m_max_age.count() || issued - now_unix > 300) {
        result.check = TokenCheck::Expired;
        return result;
    }
    result.check = TokenCheck::Valid;
    result.submission_key = nonce;
    return result;
}

const char* describe(TokenCheck check) noexcept {
    switch (check) {
        case TokenCheck::Valid: return "The form is valid.";
        case TokenCheck::Missing:
            return "The form could not be verified (its security token is missing). Open the form again and "
                   "resubmit.";
        case TokenCheck::Malformed:
        case TokenCheck::BadSignature:
            return "The form could not be verified (it was not issued to this browser, or cookies are blocked). "
                   "Open the form again and resubmit.";
        case TokenCheck::Expired:
            return "This form was opened too long ago. Your entries are kept below; check them and submit again.";
    }
    return "The form could not be verified.";
}

}  // namespace sr
