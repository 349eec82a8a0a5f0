#pragma once
// Small helpers over request_rec for the handlers: form bodies, cookies, responses.
#include <map>
#include <string>

struct request_rec;

namespace sr::apache {

// Reads an application/x-www-form-urlencoded body, at most `max_bytes`, decoded with httpd's own
// unescaping. A body announced (Content-Length) or found (chunked) to be larger is refused without reading
// the rest: 413, and the connection is closed after the answer.
// Returns OK, or the HTTP status to answer (400 malformed, 413 too large, 415 wrong type).
int read_form(request_rec* r, std::size_t max_bytes, std::map<std::string, std::string>& fields);

// Why a state-changing request must be refused as coming from another site, or "" if it need not be:
// the browser says `Sec-Fetch-Site: cross-site`, or (unless it says `same-origin`) sends an `Origin` that is
// neither this request's host (`Host`) nor the origin of `public_base_url` (SinchReminderPublicBaseUrl, for
// proxies that change Host). Requests without either header (non-browser clients, old browsers) are not refused here: the
// form token still protects them.
std::string foreign_origin(const request_rec* r, const std::string& public_base_url);

// Whether the answer to this request may set a cookie. Not when another site made the request without
// navigating to us (an image, a frame, a fetch: `Sec-Fetch-Site: cross-site` and not a top-level
// navigation): the browser did not send its SameSite cookie with it, so a new one would replace the cookie
// of the forms open in other tabs.
bool may_set_cookie(const request_rec* r);

std::string read_cookie(request_rec* r, const char* name);

// HttpOnly, SameSite=Lax, scoped to `path`; Secure unless the admin turned it off for plain HTTP.
// Lax (not Strict) so that the browser sends it when staff follow a link from another site (an intranet
// portal) to the form: with Strict that navigation looked cookie-less and got a new cookie, which broke
// every form already open in other tabs. The cookie authenticates nothing by itself; it only binds the
// form tokens to this browser, and cross-site POSTs are refused on Sec-Fetch-Site/Origin first.
void set_cookie(request_rec* r, const char* name, const std::string& value, const std::string& path, bool secure);

// Sends a page with `status` (200, 403, 422, 503, ...) as text/html; charset=UTF-8, never cached.
int send_html(request_rec* r, int status, const std::string& html);

// The authenticated user, or "" when the location needs none.
std::string remote_user(const request_rec* r);

}  // namespace sr::apache
