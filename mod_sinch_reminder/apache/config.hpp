#pragma once
// Per-(virtual-)server configuration as httpd stores it, and the per-process runtime hung off it.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/settings.hpp"

namespace sr {
class PageTemplates;
class MessageTemplate;
}  // namespace sr

struct server_rec;
struct ap_conf_vector_t;

namespace sr::apache {

struct ServerRuntime;  // per child process, see runtime.hpp

// What a <Location> says about its clinic (settings.def scope `clinic`); merged the Apache way.
struct DirConfig {
    SettingValues values;
};

// One clinic of a (virtual) server: the server's settings with its mount's <Location> settings over them.
struct ClinicConfig {
    SettingValues values;                            // merged: server, then the mount's <Location> sections
    std::shared_ptr<const Settings> settings;        // resolved in post_config (read-only afterwards)
    std::shared_ptr<const PageTemplates> pages;      // compiled in check_config (so apache2 -t sees errors)
    std::shared_ptr<const ClinicLanguages> languages;  // its languages and texts, made in post_config
    std::vector<std::string> mounts;                 // the <Location> paths that serve it
};

struct ServerConfig {
    SettingValues values;                      // as parsed and merged (server level)
    std::shared_ptr<const Settings> settings;  // resolved in post_config: the server-wide settings
    std::vector<std::string> mounts;           // <Location> paths with SetHandler sinch-reminder
    bool handler_mounted = false;
    std::map<std::string, ClinicConfig> clinics;     // by SinchReminderClinic key; filled by check_config
    std::map<std::string, ServerRuntime*> runtimes;  // by clinic key; set in child_init, owned by the child
};

ServerConfig& server_config(const server_rec* server);
// This module's part of a per-directory configuration (a request's r->per_dir_config, a section's).
const DirConfig* dir_config(const ap_conf_vector_t* per_dir_config);

// "example.org (/etc/apache2/sites-enabled/x.conf:3)" — how messages name a virtual host.
std::string describe_server(const server_rec* server);

}  // namespace sr::apache
