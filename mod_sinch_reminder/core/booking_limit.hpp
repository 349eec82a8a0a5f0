#pragma once
// SinchReminderBookingsPerUserPerHour: how many appointments one user may book in any hour, counted in
// PostgreSQL (per user and minute) so the limit holds across every process and node.
#include <chrono>
#include <optional>
#include <string>

#include "core/pg_pool.hpp"

namespace sr {

// Takes one booking slot for `user` if fewer than `per_hour` were taken in the last hour, and returns
// nullopt; otherwise takes none and returns how long until one is free (at least 1 s). per_hour <= 0:
// no limit, nothing is counted. One statement. Throws DatabaseUnavailable.
std::optional<std::chrono::seconds> take_booking_slot(PgLease& lease, const std::string& user, int per_hour);

}  // namespace sr
