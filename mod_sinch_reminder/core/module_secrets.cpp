#include "core/module_secrets.hpp"

#include <pqxx/pqxx>

namespace sr {

std::string load_form_token_key(pqxx::connection& connection) {
    pqxx::read_transaction tx(connection);
    const pqxx::result rows = tx.exec_params("SELECT value FROM module_secrets WHERE name = $1", "form_token_key");
    if (rows.empty()) {
        throw std::runtime_error("the database has no form token key: run sinch-reminder-admin migrate");
    }
    return rows[0][0].as<std::string>();
}

}  // namespace sr
