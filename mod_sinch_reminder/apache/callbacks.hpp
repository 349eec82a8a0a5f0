#pragma once
// POST {mount}/callbacks/sinch[/token]: Sinch's delivery reports (core/delivery_reports.hpp).
// SinchReminderCallbackAuth hmac (the default): authenticated by the HMAC signature headers with
// SinchReminderCallbackSecretFile's secret, each nonce accepted once (remembered in PostgreSQL for the
// replay window); url-token: by the shared token in the path (the secret, if any, is not used).
// Anything else gets 401 and changes nothing; refusals are counted and logged at most once a minute per
// process (SR0501). Unknown batches get 200 (so Sinch stops retrying) and a log line; a database outage,
// or a reminder being handed to Sinch right now, gets 503 (so Sinch retries).
#include <string>

#include "apache/appointment_pages.hpp"

namespace sr::apache {

// `token`: the path segment after /callbacks/sinch/ ("" if none).
int handle_delivery_callback(PageRequest& p, const std::string& token);

}  // namespace sr::apache
