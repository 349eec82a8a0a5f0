#pragma once
// Counters of what one Sinch identity (credentials, host and sender: one SinchClient) did: its calls by
// operation and answer, and its dispatchers' waits for the account's rate. The block is plain atomics, so
// it may live anywhere: in a SinchClient of its own (tests, the admin tool) or in memory that every httpd
// child process shares (apache/sinch_counters.cpp, for mod_status). No httpd or APR here.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/http_transport.hpp"

namespace sr {

// What a call was for.
enum class SinchOperation : unsigned {
    CreateBatch,  // POST .../batches (schedule)
    CancelBatch,  // DELETE .../batches/{id}
    UpdateBatch,  // POST .../batches/{id} (update_send_at)
    Lookup,       // GET a batch, its delivery report, or one page of a list by client_reference
    TokenFetch,   // POST {auth}/oauth2/token
};
constexpr std::size_t k_sinch_operations = 5;

// How a call ended, one per exchange with Sinch (a 401 "expired" and its resend are two).
enum class SinchAnswer : unsigned {
    Status2xx,
    Status401,
    Status403,
    Status429,
    Status4xx,  // every other 4xx (400, 404, 409, ...)
    Status5xx,
    NotSent,      // connect, DNS, TLS: the request never reached Sinch
    NoAnswer,     // sent, then timeout / reset / empty reply
    OtherStatus,  // 1xx or 3xx (not expected from Sinch)
};
constexpr std::size_t k_sinch_answers = 9;

// Stable names, used in mod_status's ?auto keys: "CreateBatch", ...; "2xx", "401", ..., "NoAnswer".
const char* metric_name(SinchOperation operation) noexcept;
const char* metric_name(SinchAnswer answer) noexcept;

// The answer class of one exchange, from what the transport reported.
SinchAnswer classify(TransportFailure failure, int http_status) noexcept;

// NB: shared between processes when it lives in shared memory, so only lock-free (address-free) atomics,
// and nothing else: no pointers, no constructors with side effects. A value-initialised block is all zeros.
struct SinchCounters {
    std::atomic<std::uint64_t> calls[k_sinch_operations][k_sinch_answers];
    std::atomic<std::uint64_t> rate_waits;    // a worker found no rate token at hand and waited for one
    std::atomic<std::uint64_t> rate_wait_ms;  // the time those waits took, in total

    void count_call(SinchOperation operation, SinchAnswer answer) noexcept {
        calls[static_cast<unsigned>(operation)][static_cast<unsigned>(answer)].fetch_add(
            1, std::memory_order_relaxed);
    }
    void count_rate_wait(std::uint64_t milliseconds) noexcept {
        rate_waits.fetch_add(1, std::memory_order_relaxed);
        rate_wait_ms.fetch_add(milliseconds, std::memory_order_relaxed);
    }
    std::uint64_t calls_of(SinchOperation operation, SinchAnswer answer) const noexcept {
        return calls[static_cast<unsigned>(operation)][static_cast<unsigned>(answer)].load(
            std::memory_order_relaxed);
    }
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "SinchCounters lives in memory shared by processes: its atomics must be lock-free");
static_assert(std::is_standard_layout_v<SinchCounters>);

// Adds every counter of `from` to `to` (a graceful restart keeps what an identity counted so far).
void add_counters(SinchCounters& to, const SinchCounters& from) noexcept;

}  // namespace sr
