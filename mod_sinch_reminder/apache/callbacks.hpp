#pragma once
// POST {mount}/callbacks/sinch[/token]: Sinch's delivery reports (core/delivery_reports.hpp).
// Authenticated by the HMAC signature when SinchReminderCallbackSecretFile is set, otherwise by the
// shared token in the path; anything else gets 401 and changes nothing. Unknown batches get 200 (so
// Sinch stops retrying) and a log line; a database outage gets 503 (so Sinch retries).
#include <string>

#include "apache/appointment_pages.hpp"

namespace sr::apache {

// `token`: the path segment after /callbacks/sinch/ ("" if none).
int handle_delivery_callback(PageRequest& p, const std::string& token);

}  // namespace sr::apache
