#pragma once
// The Sinch counters (core/metrics.hpp) of every Sinch identity of this httpd, in memory every child process
// shares, so mod_status shows the sum over all children.
//
// The parent makes one anonymous shared-memory segment in post_config, sized from the configuration (one
// SinchCounters block per Sinch identity); children inherit it across fork and count with lock-free atomics.
// The segment belongs to httpd's process pool, not to the configuration: a graceful (or plain) restart keeps
// the counts of every identity the new configuration still has; they start from zero when httpd starts.
#include <string>
#include <vector>

#include "core/metrics.hpp"

struct apr_pool_t;
struct server_rec;

namespace sr::apache {

// post_config (parent, both passes): makes or keeps the shared counters for this configuration's identities.
// Never fails httpd's start: without shared memory (SR0033) each process counts on its own.
void create_shared_counters(server_rec* main_server);

// The block of an identity (runtime.hpp sinch_identity), or nullptr when there is none.
SinchCounters* shared_counters(const std::string& identity);

struct CountedIdentity {
    std::string label;  // the clinic keys that use it, sorted, joined with ','; "#2" ... if two share keys
    const SinchCounters* counters = nullptr;
};
// Every identity's label and counters, by label (mod_status).
std::vector<CountedIdentity> counted_identities();

}  // namespace sr::apache
