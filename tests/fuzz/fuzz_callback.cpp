// Sinch's delivery-report callbacks (core/delivery_reports.cpp), as apache/callbacks.cpp handles them:
// the three signature headers checked against the body, then the body read.
// Input: "body\x1f\x1fnonce\x1f\x1ftimestamp\x1f\x1fsignature" (the last three are header values).
#include <chrono>

#include "core/delivery_reports.hpp"
#include "fuzz_support.hpp"

namespace {

bool printable(const std::string& text) {
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body = sr::fuzz::piece(data, size, 0);
    const std::string nonce = sr::fuzz::piece(data, size, 1);
    const std::string timestamp = sr::fuzz::piece(data, size, 2);
    const std::string signature = sr::fuzz::piece(data, size, 3);
    const std::string secret = "fuzz-callback-secret";
    const sr::Instant now{std::chrono::seconds(1790000000)};

    // A forged signature never passes; the right one passes while the timestamp is fresh.
    const sr::SignatureCheck forged =
        sr::verify_webhook_signature(secret, body, nonce, timestamp, signature, now);
    if (forged == sr::SignatureCheck::Valid || forged == sr::SignatureCheck::Stale) {
        SR_FUZZ_CHECK(signature == sr::webhook_signature(secret, body, nonce, timestamp));
    }
    // A nonce no HTTP header could carry (control bytes) or longer than 200 is refused, however signed.
    const bool nonce_acceptable = !nonce.empty() && nonce.size() <= 200 && printable(nonce);
    if (!nonce_acceptable) SR_FUZZ_CHECK(forged != sr::SignatureCheck::Valid);
    if (nonce_acceptable && !timestamp.empty() && timestamp.size() <= 12 &&
        timestamp.find_first_not_of("0123456789") == std::string::npos) {
        const std::string right = sr::webhook_signature(secret, body, nonce, timestamp);
        const sr::Instant signed_at{std::chrono::seconds(std::stoll(timestamp))};
        SR_FUZZ_CHECK(sr::verify_webhook_signature(secret, body, nonce, timestamp, right, signed_at) ==
                      sr::SignatureCheck::Valid);
        SR_FUZZ_CHECK(sr::constant_time_equals(right, right));
    }
    SR_FUZZ_CHECK(sr::constant_time_equals(signature, nonce) == (signature == nonce));

    const sr::ParsedCallback parsed = sr::parse_delivery_callback(body);
    if (!parsed.ok) {
        // Logged and answered: a short reason, never the body.
        SR_FUZZ_CHECK(!parsed.error.empty() && parsed.error.size() < 40 && printable(parsed.error));
        return 0;
    }
    const sr::DeliveryReport& report = parsed.report;
    if (report.kind == sr::CallbackKind::Ignored) return 0;
    // What reaches the log and the database: bounded, printable.
    SR_FUZZ_CHECK(!report.batch_id.empty() && report.batch_id.size() <= 200 && printable(report.batch_id));
    SR_FUZZ_CHECK(!report.status.empty() && report.status.size() <= 40 && printable(report.status));
    SR_FUZZ_CHECK(report.client_reference.size() <= 200 && printable(report.client_reference));
    const int rank = sr::delivery_status_rank(report.status);
    SR_FUZZ_CHECK(rank >= 1 && rank <= 4);
    sr::delivery_report_replaces(std::nullopt, std::nullopt, report.status, report.at.value_or(now));
    sr::delivery_report_replaces(std::string("Dispatched"), now, report.status, report.at.value_or(now));
    return 0;
}
