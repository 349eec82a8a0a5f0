#pragma once
// The staff pages: the form (GET/POST {mount}) and an appointment's confirmation ({mount}/a/{id}).
#include <string>

#include "apache/log.hpp"

struct request_rec;

namespace sr::apache {

struct ServerRuntime;

struct PageRequest {
    request_rec* r;
    ServerRuntime& runtime;
    std::string mount;  // URL path of the mount point, no trailing slash
    ApacheLogger log;
};

int show_form(PageRequest& request);
int create_appointment(PageRequest& request);
int show_confirmation(PageRequest& request, const std::string& appointment_id);
// The 403 page for a form another web site sent (see foreign_origin in request.hpp); logs SR0103.
int refuse_cross_site(PageRequest& request, const std::string& why);
// An error page (503 database down, 404 not found, ...), plain text if even the template fails.
int show_error(PageRequest& request, int status, const std::string& title, const std::string& message);

}  // namespace sr::apache
