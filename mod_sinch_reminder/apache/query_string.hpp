#pragma once
// Query strings and other application/x-www-form-urlencoded text, split with APR (apr_strtok) and
// decoded with APR's apr_punescape_url. Needs APR only, no httpd, so the fuzz target
// (tests/fuzz/fuzz_form_query.cpp) links this file as the module does.
#include <map>
#include <string>

#include <apr_pools.h>

namespace sr::apache {

// "a=1&b=x+y%2B" -> {a: "1", b: "x y+"}: '+' is a space, %XX a byte. Empty pairs ("a=1&&b=2") are
// skipped, a name without '=' has an empty value, the first of repeated names wins, and a pair with a
// malformed escape ("%G1", "%4") or an encoded NUL is ignored. `text` may be null.
std::map<std::string, std::string> parse_urlencoded(const char* text, apr_pool_t* pool);

}  // namespace sr::apache
