// Per-server configuration: creation, merge and the directive table, all generated from
// core/settings.def so each directive has one source of truth.
#include "apache/config.hpp"

#include <cstring>
#include <new>

#include <httpd.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_log.h>

#include "apache/module_api.h"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

namespace {

template <class Config>
apr_status_t delete_config(void* config) noexcept {
    delete static_cast<Config*>(config);
    return APR_SUCCESS;
}

// The C++ object (a ServerConfig or a DirConfig) lives as long as the pool httpd gave us for it.
template <class Config>
Config* new_config(apr_pool_t* pool, Config&& from) {
    auto* config = new Config(std::move(from));
    apr_pool_cleanup_register(pool, config, delete_config<Config>, apr_pool_cleanup_null);
    return config;
}

const DirectiveSpec* find_spec(const char* name) {
    for (const auto& spec : directive_specs()) {
        if (std::strcmp(spec.name, name) == 0) return &spec;
    }
    return nullptr;
}

// The section a directive sits in: "" at server or virtual-host level, else e.g. "<Location".
std::string enclosing_section(const cmd_parms* cmd) {
    for (const ap_directive_t* node = cmd->directive ? cmd->directive->parent : nullptr; node;
         node = node->parent) {
        if (strcasecmp(node->directive, "<VirtualHost") == 0) return "";
        if (strcasecmp(node->directive, "<IfModule") == 0 || strcasecmp(node->directive, "<IfDefine") == 0 ||
            strcasecmp(node->directive, "<IfFile") == 0 || strcasecmp(node->directive, "<IfDirective") == 0 ||
            strcasecmp(node->directive, "<IfSection") == 0 || strcasecmp(node->directive, "<If") == 0 ||
            strcasecmp(node->directive, "<Else") == 0 || strcasecmp(node->directive, "<ElseIf") == 0)
            continue;
        return node->directive;
    }
    return "";
}

// Every SinchReminder… directive lands here (a list directive once per argument; a labelled one with its
// label, or none); the spec says how to parse and where to store: a clinic's setting inside a mount's
// <Location> goes to that section's configuration, everything else to the (virtual) server's.
const char* set_labelled_directive(cmd_parms* cmd, void* dir_config, const char* first,
                                   const char* second) noexcept {
    const char* name = cmd->cmd->name;
    try {
        const DirectiveSpec* spec = find_spec(name);
        if (!spec) return apr_psprintf(cmd->pool, "%s: unknown directive", name);
        // With two arguments the first is the label (SR_LABELLED_DIRECTIVE), the second the value.
        const char* argument = second ? second : first;
        std::string value = argument;
        if (spec->argument_is_path) {
            const char* resolved = ap_server_root_relative(cmd->pool, argument);
            if (!resolved) return apr_psprintf(cmd->pool, "%s: invalid file path '%s'", name, argument);
            value = resolved;
        }
        SettingValues* values = &server_config(cmd->server).values;
        if (cmd->path) {
            const std::string section = enclosing_section(cmd);
            if (strcasecmp(section.c_str(), "<Location") != 0) {
                return apr_psprintf(
                    cmd->pool,
                    "%s: a clinic's setting belongs in the <Location> of its mount (or at server "
                    "level), not in %s>",
                    name, section.c_str());
            }
            values = &static_cast<DirConfig*>(dir_config)->values;
        }
        if (second) {
            if (!spec->apply_labelled) return apr_psprintf(cmd->pool, "%s takes one argument", name);
            spec->apply_labelled(*values, first, value);
        } else {
            spec->apply(*values, value);
        }
        return nullptr;
    } catch (const std::exception& e) {
        return apr_psprintf(cmd->pool, "%s: %s", name, e.what());
    } catch (...) {
        return apr_psprintf(cmd->pool, "%s: invalid value", name);
    }
}

const char* set_directive(cmd_parms* cmd, void* dir_config, const char* argument) noexcept {
    return set_labelled_directive(cmd, dir_config, argument, nullptr);
}

// C++ sees cmd_func as `const char *(*)()`; cast through a plain function pointer type.
template <typename F>
cmd_func as_cmd_func(F f) {
    return reinterpret_cast<cmd_func>(reinterpret_cast<void (*)()>(f));
}

}  // namespace

const DirConfig* dir_config(const ap_conf_vector_t* per_dir_config) {
    if (!per_dir_config) return nullptr;
    return static_cast<const DirConfig*>(ap_get_module_config(per_dir_config, &sinch_reminder_module));
}

ServerConfig& server_config(const server_rec* server) {
    return *static_cast<ServerConfig*>(ap_get_module_config(server->module_config, &sinch_reminder_module));
}

std::string describe_server(const server_rec* server) {
    std::string name = server->server_hostname ? server->server_hostname : "(no ServerName)";
    if (server->defn_name) {
        name += " (" + std::string(server->defn_name) + ":" + std::to_string(server->defn_line_number) + ")";
    } else {
        name += " (main server)";
    }
    return name;
}

}  // namespace sr::apache

using sr::apache::DirConfig;
using sr::apache::ServerConfig;

extern "C" {

void* sr_create_server_config(apr_pool_t* pool, server_rec*) noexcept {
    try {
        return sr::apache::new_config(pool, ServerConfig{});
    } catch (...) {
        return nullptr;  // httpd treats this as out of memory
    }
}

void* sr_merge_server_config(apr_pool_t* pool, void* base, void* overrides) noexcept {
    try {
        ServerConfig merged;
        merged.values = sr::merge(static_cast<ServerConfig*>(base)->values,
                                  static_cast<ServerConfig*>(overrides)->values);
        return sr::apache::new_config(pool, std::move(merged));
    } catch (...) {
        return nullptr;
    }
}

void* sr_create_dir_config(apr_pool_t* pool, char*) noexcept {
    try {
        return sr::apache::new_config(pool, DirConfig{});
    } catch (...) {
        return nullptr;
    }
}

void* sr_merge_dir_config(apr_pool_t* pool, void* base, void* overrides) noexcept {
    try {
        DirConfig merged;
        merged.values =
            sr::merge(static_cast<DirConfig*>(base)->values, static_cast<DirConfig*>(overrides)->values);
        return sr::apache::new_config(pool, std::move(merged));
    } catch (...) {
        return nullptr;
    }
}

namespace {
// Where each directive may appear: a clinic's setting also in a <Location> (settings.def scope).
#define SR_FIELD(member, type, scope) constexpr int k_context_##member = SR_CONTEXT_##scope;
#define SR_CONTEXT_server RSRC_CONF
#define SR_CONTEXT_clinic (RSRC_CONF | ACCESS_CONF)
#include "core/settings.def"
#undef SR_CONTEXT_clinic
#undef SR_CONTEXT_server
#undef SR_FIELD
}  // namespace

const command_rec sr_directives[] = {
#define SR_DIRECTIVE(name, member, parser, is_path, syntax, help)                                         \
    AP_INIT_TAKE1(#name, sr::apache::as_cmd_func(sr::apache::set_directive), nullptr, k_context_##member, \
                  syntax " - " help),
#include "core/settings.def"
#undef SR_DIRECTIVE
// Each argument is parsed and appended (set_directive is called once per argument).
#define SR_LIST_DIRECTIVE(name, member, parser, syntax, help)                                               \
    AP_INIT_ITERATE(#name, sr::apache::as_cmd_func(sr::apache::set_directive), nullptr, k_context_##member, \
                    syntax " - " help),
#include "core/settings.def"
#undef SR_LIST_DIRECTIVE
// `Name value` or `Name label value`.
#define SR_LABELLED_DIRECTIVE(name, member, labelled_member, label_parser, parser, syntax, help) \
    AP_INIT_TAKE12(#name, sr::apache::as_cmd_func(sr::apache::set_labelled_directive), nullptr,  \
                   k_context_##member, syntax " - " help),
#include "core/settings.def"
#undef SR_LABELLED_DIRECTIVE
    {nullptr, nullptr, nullptr, 0, RAW_ARGS, nullptr},
};

}  // extern "C"
