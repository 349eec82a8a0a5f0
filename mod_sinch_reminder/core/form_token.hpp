#pragma once
// Stateless CSRF protection and double-submit detection for the staff form.
//
// A form token is `v1.<issued unix seconds>.<nonce>.<mac>`, where mac = HMAC-SHA256 over the
// version, issue time, nonce and the "binding" (the browser's CSRF cookie, the form's action and the
// user Apache authenticated). Every node that shares the key (kept in PostgreSQL) can check any token, so it
// works behind a balancer with no server-local state. The nonce is unique per rendered form and
// doubles as the submission key: the same form submitted twice books one appointment.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace sr {

// Cryptographically strong random bytes, base64url without padding.
std::string random_token(std::size_t bytes = 16);

enum class TokenCheck { Valid, Missing, Malformed, BadSignature, Expired };

struct VerifiedToken {
    TokenCheck check = TokenCheck::Missing;
    std::string submission_key;  // set when Valid
};

class FormTokens {
  public:
    // key: the shared secret (at least 32 bytes); max_age: how long a rendered form stays usable.
    FormTokens(std::string key, std::chrono::seconds max_age);

    std::string issue(const std::string& binding, std::int64_t now_unix) const;
    VerifiedToken verify(const std::string& token, const std::string& binding, std::int64_t now_unix) const;

    // What the binding is made of: the CSRF cookie value, the action the form performs ("book",
    // "cancel:{id}", "reschedule:{id}": a token minted for one form is refused by every other) and the
    // authenticated user (or "").
    static std::string binding(const std::string& cookie_value, const std::string& user,
                               const std::string& action);

  private:
    std::string mac(const std::string& payload) const;
    std::string m_key;
    std::chrono::seconds m_max_age;
};

// For staff: why the form was refused, in a sentence.
const char* describe(TokenCheck check) noexcept;

}  // namespace sr
