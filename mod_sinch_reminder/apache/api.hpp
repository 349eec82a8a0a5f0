#pragma once
// The JSON API under {mount}/api (README "JSON API"): the same validation, store and dispatcher as the
// pages, for integrators (an EHR). No cookies and no CSRF token: it must be protected by Apache
// (Require ...), and every POST must be application/json, which a browser form cannot send to another
// site without a CORS preflight this module never answers.
#include <string>

#include "apache/appointment_pages.hpp"

namespace sr::apache {

// `route` is the path below the mount, starting with "/api".
int handle_api(PageRequest& p, const std::string& route);

}  // namespace sr::apache
