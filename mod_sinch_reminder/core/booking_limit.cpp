#include "core/booking_limit.hpp"

#include <pqxx/pqxx>

namespace sr {

std::optional<std::chrono::seconds> take_booking_slot(PgLease& lease, const std::string& user, int per_hour) {
    if (per_hour <= 0) return std::nullopt;
    // The minutes of the last hour with their counts; a slot is taken only while the sum is below the
    // limit. When it is not, the wait is until enough of the oldest minutes have left the hour.
    const pqxx::result rows = run_prepared(
        lease, "counting the user's bookings", "sr_take_booking_slot",
        "WITH recent AS (SELECT minute, count FROM booking_counts"
        "  WHERE actor = $1 AND minute > now() - interval '1 hour'),"
        " total AS (SELECT coalesce(sum(count), 0) AS n FROM recent),"
        " taken AS (INSERT INTO booking_counts (actor, minute, count)"
        "  SELECT $1, date_trunc('minute', now()), 1 FROM total WHERE n < $2"
        "  ON CONFLICT (actor, minute) DO UPDATE SET count = booking_counts.count + 1 RETURNING 1)"
        " SELECT EXISTS (SELECT 1 FROM taken),"
        " (SELECT ceil(extract(epoch FROM w.minute + interval '1 hour' - now()))::bigint FROM"
        "  (SELECT minute, (SELECT n FROM total) - sum(count) OVER (ORDER BY minute) AS left_after"
        "   FROM recent) w WHERE w.left_after < $2 ORDER BY w.minute LIMIT 1)",
        user, per_hour);
    const pqxx::row row = rows[0];
    if (row[0].as<bool>()) return std::nullopt;
    const long long wait = row[1].is_null() ? 60 : row[1].as<long long>();
    return std::chrono::seconds(wait < 1 ? 1 : wait);
}

}  // namespace sr
