#pragma once
// Masking for logs: phone numbers and secrets never appear in full (hospital PHI rules).
#include <string>

namespace sr {

// "+15551234567" -> "+1********67": enough to tell two patients apart in a log, not to call them.
std::string mask_phone(const std::string& e164);

// Secrets are never shown, only whether they are set and how long they are.
std::string mask_secret(const std::string& secret);

// libpq conninfo with any password=... value replaced by "***".
std::string mask_conninfo(const std::string& conninfo);

}  // namespace sr
