#pragma once
// Reconciliation (core/reconciler.hpp) in the background: a mod_watchdog thread of its own in one
// child process per httpd, every SinchReminderReconcileInterval (the shortest any mounted server sets).
// It owns its PostgreSQL pool and Sinch clients, made on the watchdog thread and released when the
// watchdog stops, so it shares no lifetime with the request runtime or the dispatcher.
struct apr_pool_t;
struct server_rec;

namespace sr::apache {

// post_config. Does nothing when no mounted server has a database, credentials and a non-zero
// interval. Throws std::runtime_error if mod_watchdog is missing.
void register_reconciler(apr_pool_t* pconf, server_rec* main_server);

}  // namespace sr::apache
