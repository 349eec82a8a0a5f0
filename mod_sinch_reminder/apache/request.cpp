#include "apache/request.hpp"

#include <cstring>
#include <string>

#include <httpd.h>
#include <apr_buckets.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <util_cookies.h>

namespace sr::apache {

namespace {

bool equals_ignoring_case(const std::string& a, const std::string& b) {
    return a.size() == b.size() && strncasecmp(a.c_str(), b.c_str(), a.size()) == 0;
}

// "https://Clinic.example.org:443/x" -> "https://clinic.example.org" (scheme and authority, no default
// port, lower case); "" if it is not an http(s) URL.
std::string origin_of(const std::string& url) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return "";
    std::string scheme = url.substr(0, scheme_end);
    for (char& c : scheme) c = static_cast<char>(apr_tolower(c));
    if (scheme != "http" && scheme != "https") return "";
    std::string authority = url.substr(scheme_end + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    for (char& c : authority) c = static_cast<char>(apr_tolower(c));
    const std::string default_port = scheme == "https" ? ":443" : ":80";
    if (authority.size() > default_port.size() &&
        authority.compare(authority.size() - default_port.size(), default_port.size(), default_port) == 0) {
        authority.resize(authority.size() - default_port.size());
    }
    return authority.empty() ? "" : scheme + "://" + authority;
}

std::string authority_of(const std::string& origin) {
    const auto scheme_end = origin.find("://");
    return scheme_end == std::string::npos ? "" : origin.substr(scheme_end + 3);
}

}  // namespace

int read_form(request_rec* r, std::size_t max_bytes, std::map<std::string, std::string>& fields) {
    const char* type = apr_table_get(r->headers_in, "Content-Type");
    if (!type || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0) {
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    if (const int status = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK); status != OK) return status;
    // NB: refused before reading: httpd would otherwise read (discard) the rest to keep the connection.
    if (r->remaining > static_cast<apr_off_t>(max_bytes)) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    std::string body;
    if (ap_should_client_block(r)) {
        char buffer[8192];
        for (;;) {
            const long n = ap_get_client_block(r, buffer, sizeof buffer);
            if (n < 0) return HTTP_BAD_REQUEST;
            if (n == 0) break;
            if (body.size() + static_cast<std::size_t>(n) > max_bytes) {  // chunked, no length announced
                r->connection->keepalive = AP_CONN_CLOSE;
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            body.append(buffer, static_cast<std::size_t>(n));
        }
    }
    // name=value pairs separated by '&'; '+' is a space and %XX a byte (ap_unescape_urlencoded).
    std::size_t start = 0;
    while (start < body.size()) {
        std::size_t end = body.find('&', start);
        if (end == std::string::npos) end = body.size();
        const std::string pair = body.substr(start, end - start);
        start = end + 1;
        if (pair.empty()) continue;
        const std::size_t eq = pair.find('=');
        char* name = apr_pstrdup(r->pool, pair.substr(0, eq).c_str());
        char* value = apr_pstrdup(r->pool, eq == std::string::npos ? "" : pair.substr(eq + 1).c_str());
        if (pair.find('\0') != std::string::npos || ap_unescape_urlencoded(name) != OK ||
            ap_unescape_urlencoded(value) != OK) {
            return HTTP_BAD_REQUEST;  // a bad %-escape or a NUL byte
        }
        fields.emplace(name, value);  // the first of repeated names wins
    }
    return OK;
}

std::string foreign_origin(const request_rec* r, const std::string& public_base_url) {
    const char* site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    if (site && strcasecmp(site, "cross-site") == 0) return "Sec-Fetch-Site: cross-site";
    // The browser itself says the form came from this origin (no page can set Sec-Fetch-* headers). Its
    // Origin is then "null": our pages' Referrer-Policy no-referrer makes Chrome send `Origin: null` with
    // every form POST, its own included (seen in headless Chromium).
    if (site && strcasecmp(site, "same-origin") == 0) return "";
    const char* origin_header = apr_table_get(r->headers_in, "Origin");
    if (!origin_header) return "";
    const std::string origin = origin_of(origin_header);
    if (origin.empty()) return "Origin: " + std::string(origin_header).substr(0, 100);  // "null", garbage
    const char* host = apr_table_get(r->headers_in, "Host");
    std::string own = host ? host : r->hostname ? r->hostname : "";
    for (char& c : own) c = static_cast<char>(apr_tolower(c));
    const std::string given = authority_of(origin);
    const bool https = origin.compare(0, 8, "https://") == 0;
    if (equals_ignoring_case(given, own) || equals_ignoring_case(given + (https ? ":443" : ":80"), own))
        return "";
    if (!public_base_url.empty() && origin == origin_of(public_base_url)) return "";
    return "Origin: " + origin.substr(0, 100);
}

bool may_set_cookie(const request_rec* r) {
    const char* site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    if (!site || strcasecmp(site, "cross-site") != 0) return true;
    // A top-level navigation from another site carries our SameSite=Lax cookie, so arriving without one
    // means the browser has none yet.
    const char* mode = apr_table_get(r->headers_in, "Sec-Fetch-Mode");
    const char* dest = apr_table_get(r->headers_in, "Sec-Fetch-Dest");
    return mode && dest && strcasecmp(mode, "navigate") == 0 && strcasecmp(dest, "document") == 0;
}

std::string read_cookie(request_rec* r, const char* name) {
    const char* value = nullptr;
    if (ap_cookie_read(r, name, &value, 0) != APR_SUCCESS || !value) return "";
    return value;
}

void set_cookie(request_rec* r, const char* name, const std::string& value, const std::string& path, bool secure) {
    const std::string attributes = "Path=" + (path.empty() ? std::string("/") : path) +
                                   ";HttpOnly;SameSite=Lax" + (secure ? ";Secure" : "");
    ap_cookie_write(r, name, value.c_str(), attributes.c_str(), 0, r->err_headers_out, nullptr);
}

int send_html(request_rec* r, int status, const std::string& html) {
    r->status = status;
    ap_set_content_type(r, "text/html; charset=UTF-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
                   "frame-ancestors 'none'");
    ap_set_content_length(r, static_cast<apr_off_t>(html.size()));
    if (!r->header_only) ap_rwrite(html.data(), static_cast<int>(html.size()), r);
    return OK;
}

std::string remote_user(const request_rec* r) { return r->user ? r->user : ""; }

}  // namespace sr::apache
