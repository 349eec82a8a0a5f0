#pragma once
// Secrets shared by every node through PostgreSQL (see sql/002_module_secrets.sql).
#include <pqxx/connection>

#include <string>

namespace sr {

// The key that signs form tokens. Throws std::runtime_error if the schema lacks it (not migrated).
std::string load_form_token_key(pqxx::connection& connection);

}  // namespace sr
