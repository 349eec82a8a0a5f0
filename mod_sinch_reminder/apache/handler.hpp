#pragma once
// The sinch-reminder handler: the appointment pages and endpoints under the mount point.
struct apr_pool_t;
struct server_rec;
struct request_rec;

namespace sr::apache {

// post_config: load and compile what the handler needs (templates). False stops httpd.
bool prepare_handlers(apr_pool_t* pconf, server_rec* main_server);

// Serves one request for which r->handler is "sinch-reminder". Never throws.
int handle_request(request_rec* request) noexcept;

}  // namespace sr::apache
