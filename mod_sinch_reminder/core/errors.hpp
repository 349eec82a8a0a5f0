#pragma once
// Exception types that cross the core's interface. Expected user-input problems are return values
// (validation results), not exceptions.
#include <stdexcept>

namespace sr {

// A configuration value is wrong. The message says what is wrong and what is allowed; the
// adapter prefixes the directive name.
class ConfigError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

}  // namespace sr
