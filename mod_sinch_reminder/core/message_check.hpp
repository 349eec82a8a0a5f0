// message_check.hpp: what apache2 -t says about the reminder SMS a configuration produces.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/settings.hpp"

namespace sr {

struct MessageCheck {
    std::vector<std::string> problems;  // refuse the configuration
    std::vector<std::string> warnings;  // each starts with its log id
};

// SinchReminderMessage against SinchReminderMaxSegments (the longest text, see longest_reminder(), rendered
// in `year`, by default the next one in the clinic's zone) and SinchReminderSensitiveWords (in the message
// and the clinic's name). Needs the clinic's time zone; without one it checks nothing
// (cross_directive_problems() says it is missing).
MessageCheck check_reminder_message(const Settings& settings, std::optional<int> year = std::nullopt);

}  // namespace sr
