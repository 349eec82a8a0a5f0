/* What the C module struct needs from the C++ adapter. */
#ifndef SR_APACHE_MODULE_API_H
#define SR_APACHE_MODULE_API_H

#include <httpd.h>
#include <http_config.h>

#ifdef __cplusplus
#define SR_NOEXCEPT noexcept
extern "C" {
#else
#define SR_NOEXCEPT
#endif

extern module AP_MODULE_DECLARE_DATA sinch_reminder_module;
extern const command_rec sr_directives[];
void* sr_create_dir_config(apr_pool_t* pool, char* dir) SR_NOEXCEPT;
void* sr_merge_dir_config(apr_pool_t* pool, void* base, void* overrides) SR_NOEXCEPT;
void* sr_create_server_config(apr_pool_t* pool, server_rec* server) SR_NOEXCEPT;
void* sr_merge_server_config(apr_pool_t* pool, void* base, void* overrides) SR_NOEXCEPT;
void sr_register_hooks(apr_pool_t* pool) SR_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif
