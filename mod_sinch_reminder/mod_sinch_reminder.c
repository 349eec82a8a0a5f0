/* The module struct, and nothing else: httpd finds it by name, and admins can write
 * <IfModule mod_sinch_reminder.c>. Everything it points to is in apache/ (C++ behind C linkage). */
#include "apache/module_api.h"

/* NB: the build hides every symbol; this is the one httpd must see. */
__attribute__((visibility("default"))) module AP_MODULE_DECLARE_DATA sinch_reminder_module = {
    STANDARD20_MODULE_STUFF, sr_create_dir_config, /* a mount's <Location>: its clinic's settings */
    sr_merge_dir_config,     sr_create_server_config, sr_merge_server_config,
    sr_directives,           sr_register_hooks,       AP_MODULE_FLAG_NONE,
};
