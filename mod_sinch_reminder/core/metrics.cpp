#include "core/metrics.hpp"

namespace sr {

const char* metric_name(SinchOperation operation) noexcept {
    switch (operation) {
        case SinchOperation::CreateBatch:
            return "CreateBatch";
        case SinchOperation::CancelBatch:
            return "CancelBatch";
        case SinchOperation::UpdateBatch:
            return "UpdateBatch";
        case SinchOperation::Lookup:
            return "Lookup";
        case SinchOperation::TokenFetch:
            return "TokenFetch";
    }
    return "?";
}

const char* metric_name(SinchAnswer answer) noexcept {
    switch (answer) {
        case SinchAnswer::Status2xx:
            return "2xx";
        case SinchAnswer::Status401:
            return "401";
        case SinchAnswer::Status403:
            return "403";
        case SinchAnswer::Status429:
            return "429";
        case SinchAnswer::Status4xx:
            return "4xx";
        case SinchAnswer::Status5xx:
            return "5xx";
        case SinchAnswer::NotSent:
            return "NotSent";
        case SinchAnswer::NoAnswer:
            return "NoAnswer";
        case SinchAnswer::OtherStatus:
            return "OtherStatus";
    }
    return "?";
}

SinchAnswer classify(TransportFailure failure, int http_status) noexcept {
    if (failure == TransportFailure::NotSent) return SinchAnswer::NotSent;
    if (failure == TransportFailure::OutcomeUnknown) return SinchAnswer::NoAnswer;
    if (http_status >= 200 && http_status < 300) return SinchAnswer::Status2xx;
    if (http_status == 401) return SinchAnswer::Status401;
    if (http_status == 403) return SinchAnswer::Status403;
    if (http_status == 429) return SinchAnswer::Status429;
    if (http_status >= 400 && http_status < 500) return SinchAnswer::Status4xx;
    if (http_status >= 500 && http_status < 600) return SinchAnswer::Status5xx;
    return SinchAnswer::OtherStatus;
}

void add_counters(SinchCounters& to, const SinchCounters& from) noexcept {
    for (std::size_t op = 0; op < k_sinch_operations; ++op) {
        for (std::size_t answer = 0; answer < k_sinch_answers; ++answer) {
            to.calls[op][answer].fetch_add(from.calls[op][answer].load(std::memory_order_relaxed),
                                           std::memory_order_relaxed);
        }
    }
    to.rate_waits.fetch_add(from.rate_waits.load(std::memory_order_relaxed), std::memory_order_relaxed);
    to.rate_wait_ms.fetch_add(from.rate_wait_ms.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

}  // namespace sr
