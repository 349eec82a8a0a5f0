// Why apr_shm rather than mod_slotmem_shm: the counters are a fixed array of atomics sized once per
// configuration, which an anonymous segment gives with no extra module to load (LoadModule slotmem_shm) and
// no file; slotmem's slots are copied in and out under its own lock (ap_slotmem_get/put), where each
// child here only needs an atomic add on memory it already has mapped.
#include "apache/sinch_counters.hpp"

#include <algorithm>
#include <map>
#include <new>
#include <set>
#include <string>
#include <vector>

#include <httpd.h>
#include <apr_pools.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <http_log.h>

#include "apache/config.hpp"
#include "apache/module_api.h"
#include "apache/runtime.hpp"
#include "core/text_join.hpp"

APLOG_USE_MODULE(sinch_reminder);

namespace sr::apache {

namespace {

constexpr const char* k_kept_segment_key = "sinch_reminder_counters";

// What httpd's process pool keeps across restarts. NB: the module is unloaded and loaded again with each
// configuration, so this is plain C data with no cleanup of ours (a cleanup would point into unloaded code);
// the segment's own cleanup is APR's.
struct KeptSegment {
    apr_shm_t* shm;
    int count;
    const char** identities;  // `count` entries, in the order of the blocks
};

struct Slot {
    std::string identity, label;
    SinchCounters* counters = nullptr;
};
// Filled by post_config in the parent; children inherit it (and the mapping) across fork.
std::vector<Slot> g_slots;

bool same_layout(const KeptSegment* kept, const std::vector<Slot>& slots) {
    if (!kept || kept->count != static_cast<int>(slots.size())) return false;
    for (std::size_t i = 0; i < slots.size(); ++i) {
        if (slots[i].identity != kept->identities[i]) return false;
    }
    return true;
}

}  // namespace

void create_shared_counters(server_rec* main_server) {
    std::map<std::string, std::set<std::string>> clinics_of;  // identity -> the clinic keys that use it
    for (server_rec* s = main_server; s; s = s->next) {
        for (const auto& [key, clinic] : server_config(s).clinics) {
            if (clinic.settings && clinic.settings->auth)
                clinics_of[sinch_identity(*clinic.settings)].insert(key);
        }
    }
    g_slots.clear();
    std::map<std::string, int> label_uses;
    for (const auto& [identity, keys] : clinics_of) {
        std::string label = joined(keys, ",");
        // The same keys on two databases with different credentials: two identities, told apart.
        const int uses = ++label_uses[label];
        if (uses > 1) label += "#" + std::to_string(uses);
        g_slots.push_back({identity, label, nullptr});
    }
    if (g_slots.empty()) return;

    apr_pool_t* process_pool = main_server->process->pool;
    void* data = nullptr;
    apr_pool_userdata_get(&data, k_kept_segment_key, process_pool);
    auto* kept = static_cast<KeptSegment*>(data);
    SinchCounters* blocks = nullptr;
    if (same_layout(kept, g_slots)) {
        blocks = static_cast<SinchCounters*>(apr_shm_baseaddr_get(kept->shm));
    } else {
        apr_shm_t* shm = nullptr;
        const apr_status_t rv =
            apr_shm_create(&shm, g_slots.size() * sizeof(SinchCounters), nullptr, process_pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, main_server,
                         "SR0033: cannot create shared memory for the Sinch counters (%zu bytes): mod_status "
                         "shows no Sinch counters; each process counts on its own",
                         g_slots.size() * sizeof(SinchCounters));
            g_slots.clear();
            return;
        }
        blocks = static_cast<SinchCounters*>(apr_shm_baseaddr_get(shm));
        for (std::size_t i = 0; i < g_slots.size(); ++i) new (blocks + i) SinchCounters();
        if (kept) {
            // Identities the new configuration still has keep their counts. NB: children of the previous
            // generation still finishing a call count it in the old segment, which nobody reads any more.
            const auto* old_blocks = static_cast<const SinchCounters*>(apr_shm_baseaddr_get(kept->shm));
            for (std::size_t i = 0; i < g_slots.size(); ++i) {
                for (int j = 0; j < kept->count; ++j) {
                    if (g_slots[i].identity == kept->identities[j]) add_counters(blocks[i], old_blocks[j]);
                }
            }
            // Unmaps it in this process only: the children that still use it keep their own mapping.
            apr_shm_destroy(kept->shm);
        }
        auto* fresh = static_cast<KeptSegment*>(apr_pcalloc(process_pool, sizeof(KeptSegment)));
        fresh->shm = shm;
        fresh->count = static_cast<int>(g_slots.size());
        fresh->identities =
            static_cast<const char**>(apr_pcalloc(process_pool, g_slots.size() * sizeof(char*)));
        for (std::size_t i = 0; i < g_slots.size(); ++i)
            fresh->identities[i] = apr_pstrdup(process_pool, g_slots[i].identity.c_str());
        apr_pool_userdata_set(fresh, k_kept_segment_key, apr_pool_cleanup_null, process_pool);
    }
    for (std::size_t i = 0; i < g_slots.size(); ++i) g_slots[i].counters = blocks + i;
}

SinchCounters* shared_counters(const std::string& identity) {
    for (const Slot& slot : g_slots) {
        if (slot.identity == identity) return slot.counters;
    }
    return nullptr;
}

std::vector<CountedIdentity> counted_identities() {
    std::vector<CountedIdentity> out;
    for (const Slot& slot : g_slots) out.push_back({slot.label, slot.counters});
    std::sort(out.begin(), out.end(),
              [](const CountedIdentity& a, const CountedIdentity& b) { return a.label < b.label; });
    return out;
}

}  // namespace sr::apache
