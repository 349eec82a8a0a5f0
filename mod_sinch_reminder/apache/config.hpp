#pragma once
// Per-(virtual-)server configuration as httpd stores it, and the per-process runtime hung off it.
#include <memory>
#include <string>
#include <vector>

#include "core/settings.hpp"

namespace sr {
class PageTemplates;
class MessageTemplate;
}  // namespace sr

struct server_rec;

namespace sr::apache {

struct ServerRuntime;  // per child process, see runtime.hpp

struct ServerConfig {
    SettingValues values;                            // as parsed and merged
    std::shared_ptr<const Settings> settings;        // resolved in post_config (read-only afterwards)
    std::shared_ptr<const PageTemplates> pages;      // compiled in check_config (so apache2 -t sees errors)
    std::shared_ptr<const MessageTemplate> message;  // parsed in post_config
    std::vector<std::string> mounts;                 // <Location> paths with SetHandler sinch-reminder
    bool handler_mounted = false;
    ServerRuntime* runtime = nullptr;  // set in child_init, owned by the child's pool
};

ServerConfig& server_config(const server_rec* server);

// "example.org (/etc/apache2/sites-enabled/x.conf:3)" — how messages name a virtual host.
std::string describe_server(const server_rec* server);

}  // namespace sr::apache
