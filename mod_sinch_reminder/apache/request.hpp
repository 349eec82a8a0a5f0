#pragma once
// Small helpers over request_rec for the handlers: form bodies, cookies, responses.
#include <map>
#include <string>

struct request_rec;

namespace sr::apache {

// Reads an application/x-www-form-urlencoded body with httpd's own parser, at most `max_bytes`.
// Returns OK, or the HTTP status to answer (400 malformed, 413 too large, 415 wrong type).
int read_form(request_rec* r, std::size_t max_bytes, std::map<std::string, std::string>& fields);

std::string read_cookie(request_rec* r, const char* name);

// HttpOnly, SameSite=Strict, scoped to `path`; Secure unless the admin turned it off for plain HTTP.
void set_cookie(request_rec* r, const char* name, const std::string& value, const std::string& path, bool secure);

// Sends a page with `status` (200, 403, 422, 503, ...) as text/html; charset=UTF-8, never cached.
int send_html(request_rec* r, int status, const std::string& html);

// The authenticated user, or "" when the location needs none.
std::string remote_user(const request_rec* r);

}  // namespace sr::apache
