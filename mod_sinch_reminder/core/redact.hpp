#pragma once
// Masking for logs: phone numbers, secrets and PostgreSQL row data never appear (hospital PHI rules).
#include <exception>
#include <string>

namespace sr {

// "+15551234567" -> "+1********67": enough to tell two patients apart in a log, not to call them.
std::string mask_phone(const std::string& e164);

// Secrets are never shown, only whether they are set and how long they are.
std::string mask_secret(const std::string& secret);

// libpq conninfo with any password=... value replaced by "***".
std::string mask_conninfo(const std::string& conninfo);

// What a log line may say about a caught exception. PostgreSQL errors become their SQLSTATE and, when
// the server named one, the constraint ("PostgreSQL error 23514 (constraint
// appointments_phone_e164_format)"): their text can quote row data ("DETAIL: Failing row contains (...,
// patient, +4930...)"), which must never reach a log. Anything else is its what().
std::string loggable_error(const std::exception& e);

// The constraint a PostgreSQL message names (`... violates check constraint "name"`), or "".
std::string constraint_of(const std::string& postgres_message);

}  // namespace sr
