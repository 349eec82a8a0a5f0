#include "apache/request.hpp"

#include <cstring>
#include <string>

#include <httpd.h>
#include <apr_buckets.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <util_cookies.h>

namespace sr::apache {

int read_form(request_rec* r, std::size_t max_bytes, std::map<std::string, std::string>& fields) {
    const char* type = apr_table_get(r->headers_in, "Content-Type");
    // NB: for any other type ap_parse_form_data silently reads nothing and returns OK.
    if (!type || strncasecmp(type, "application/x-www-form-urlencoded", 33) != 0) {
        return HTTP_UNSUPPORTED_MEDIA_TYPE;
    }
    apr_array_header_t* pairs = nullptr;
    const int status = ap_parse_form_data(r, nullptr, &pairs, -1, static_cast<apr_size_t>(max_bytes));
    if (status != OK) return status;
    for (int i = 0; pairs && i < pairs->nelts; ++i) {
        ap_form_pair_t& pair = APR_ARRAY_IDX(pairs, i, ap_form_pair_t);
        apr_off_t length = 0;
        apr_brigade_length(pair.value, 1, &length);
        std::string value(static_cast<std::size_t>(length), '\0');
        apr_size_t size = value.size();
        apr_brigade_flatten(pair.value, value.data(), &size);
        value.resize(size);
        fields.emplace(pair.name, std::move(value));  // the first of repeated names wins
    }
    return OK;
}

std::string read_cookie(request_rec* r, const char* name) {
    const char* value = nullptr;
    if (ap_cookie_read(r, name, &value, 0) != APR_SUCCESS || !value) return "";
    return value;
}

void set_cookie(request_rec* r, const char* name, const std::string& value, const std::string& path, bool secure) {
    const std::string attributes =
        "Path=" + (path.empty() ? std::string("/") : path) + ";HttpOnly;SameSite=Strict" + (secure ? ";Secure" : "");
    ap_cookie_write(r, name, value.c_str(), attributes.c_str(), 0, r->err_headers_out, nullptr);
}

int send_html(request_rec* r, int status, const std::string& html) {
    r->status = status;
    ap_set_content_type(r, "text/html; charset=UTF-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
                   "frame-ancestors 'none'");
    ap_set_content_length(r, static_cast<apr_off_t>(html.size()));
    if (!r->header_only) ap_rwrite(html.data(), static_cast<int>(html.size()), r);
    return OK;
}

std::string remote_user(const request_rec* r) { return r->user ? r->user : ""; }

}  // namespace sr::apache
