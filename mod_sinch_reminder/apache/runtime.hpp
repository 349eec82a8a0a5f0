#pragma once
// Per-process resources (after fork): PostgreSQL pools, curl handles, Sinch clients with their
// cached OAuth2 tokens. Created in child_init, released by a cleanup on the child's pool.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/form_token.hpp"

#include "core/clock.hpp"
#include "core/settings.hpp"

struct apr_pool_t;
struct server_rec;

namespace sr {
class Dispatcher;
class PgPool;
class SinchClient;
class PageTemplates;
class MessageTemplate;
}  // namespace sr

namespace sr::apache {

// One clinic of one (virtual) server in this process: its settings and templates, and the server's shared
// database pool, Sinch client and dispatcher.
struct ServerRuntime {
    std::string clinic = "default";  // SinchReminderClinic key: what it books into
    std::vector<std::string>
        visible_clinics;                    // what it lists and changes: itself and SinchReminderSeeClinics
    std::vector<std::string> node_clinics;  // every clinic this node dispatches on the same database
    std::shared_ptr<const Settings> settings;
    PgPool* database = nullptr;      // shared by virtual hosts with the same conninfo; null: none set
    SinchClient* sinch = nullptr;    // shared by virtual hosts with the same credentials; null: none set
    Dispatcher* dispatcher = nullptr;  // set when both a database and credentials are
    std::optional<ClinicZone> zone;  // the clinic's zone; unset only when no SinchReminderTimeZone
    std::shared_ptr<const PageTemplates> pages;
    std::shared_ptr<const ClinicLanguages> languages;  // the SMS texts, by language

    // The form-token signer, made on first use from the key every node reads from PostgreSQL.
    // Throws DatabaseUnavailable (or runtime_error if the schema is not migrated).
    const FormTokens& form_tokens();

  private:
    std::mutex m_tokens_mutex;
    std::optional<FormTokens> m_tokens;
};

// This node's name in leases and heartbeats: the host name.
std::string node_name();

// Which SinchClient a clinic uses: virtual hosts and clinics with the same credentials, hosts and sender
// share one client per process (so one OAuth2 token) and one block of counters (sinch_counters.hpp). Needs
// settings.auth.
std::string sinch_identity(const Settings& settings);

// Once per start in the parent: libcurl's global state, released with the configuration pool.
void init_process_globals(apr_pool_t* pconf);

// child_init: builds every server's runtime and ties it to pchild.
void start_child_runtime(apr_pool_t* pchild, server_rec* main_server);

// post_config: the background dispatcher, one mod_watchdog thread per child process.
void register_dispatcher(apr_pool_t* pconf, server_rec* main_server);

// The one start-up line (versions, time-zone rules) plus what each mount is configured with.
void log_startup(server_rec* main_server);

}  // namespace sr::apache
