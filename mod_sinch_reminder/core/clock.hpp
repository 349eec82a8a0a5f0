// clock.hpp: the one place where the module turns clinic wall-clock times into UTC and back.
//
// ---------------------------------------------------------------------------------------------------------
// Time-zone rules and the gap/overlap policy (README text)
// ---------------------------------------------------------------------------------------------------------
// Which rules. Every UTC offset comes from the operating system's compiled tz database (/usr/share/zoneinfo,
// or the directory named by the TZDIR environment variable), read through Abseil's time library. Debian's
// `tzdata` package keeps that directory current, so a tzdata update takes effect without rebuilding the
// module; each process loads a zone once and keeps it, so restart httpd after a tzdata update (a full
// `systemctl restart apache2`, not just a graceful reload). ICU is used only for the words and the order of
// the fields in formatted dates ("Sat, Nov 28, 2026, 2:30 PM EST"); its built-in tz rules (2022e in Debian
// 12, wrong for Mexico, Kazakhstan, Paraguay, ...) never decide an offset: ICU is handed a fixed offset and
// the abbreviation that the OS rules give for that instant.
//
// Wall times that do not exist or exist twice. A clinic's local time is converted to UTC like java.time does:
//  - Gap (clocks jump forward, e.g. New York 2026-03-08 02:00 -> 03:00): a time inside the gap is moved
//    forward by the length of the gap. 02:30 becomes 03:30 EDT (07:30Z). Reported as GapShiftedForward, and
//    ResolvedTime::local_used holds 03:30 so the confirmation page can say which time was booked.
//  - Overlap (clocks fall back, e.g. New York 2026-11-01 02:00 -> 01:00): a time that happens twice takes the
//    earlier offset, i.e. its first occurrence. 01:30 becomes 01:30 EDT (05:30Z), not 01:30 EST (06:30Z).
//    Reported as OverlapEarlierOffset.
//  - Strict mode (WallTimePolicy::Strict, for API callers who ask for it) refuses both cases with a
//    WallTimeError that says whether it was a gap or an overlap and names both candidate instants.
// Reminder lead times are elapsed time: "2 hours before" is the appointment's UTC instant minus 2 hours.
// ---------------------------------------------------------------------------------------------------------
//
// Thread safety: every function here may be called from any thread. ClinicZone is immutable.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace sr {

// A UTC instant with second precision. Only UTC instants are stored or sent to Sinch.
using Instant = std::chrono::time_point<std::chrono::system_clock, std::chrono::seconds>;

// The current time, truncated to whole seconds.
Instant now_utc();

// The send time of a reminder `lead_time` before an appointment (elapsed time, independent of DST).
inline Instant reminder_send_at(Instant appointment_utc, std::chrono::minutes lead_time) {
    return appointment_utc - lead_time;
}

// A clinic wall-clock time with minute precision. It means nothing without its ClinicZone.
struct LocalDateTime {
    int year;    // 1..9999
    int month;   // 1..12
    int day;     // 1..31, must exist in that month
    int hour;    // 0..23
    int minute;  // 0..59
};
bool operator==(const LocalDateTime& a, const LocalDateTime& b);
bool operator!=(const LocalDateTime& a, const LocalDateTime& b);
// True when the fields name a real calendar date and a time between 00:00 and 23:59.
bool is_valid(const LocalDateTime& local);
// "2026-03-08T02:30"
std::string to_iso_string(const LocalDateTime& local);

enum class WallTimePolicy {
    Lenient,  // resolve gaps and overlaps by the policy above
    Strict,   // throw WallTimeError for gaps and overlaps
};

enum class WallTimeResolution {
    Exact,                 // the wall time happens exactly once
    GapShiftedForward,     // it did not exist; moved forward by the length of the gap
    OverlapEarlierOffset,  // it happened twice; the first occurrence (earlier offset) was taken
};
// "exact", "gap_shifted_forward", "overlap_earlier_offset" (stable; used in JSON and logs)
const char* to_string(WallTimeResolution resolution) noexcept;

struct ResolvedTime {
    Instant utc;
    int utc_offset_seconds;  // the offset in force at `utc`
    WallTimeResolution resolution;
    LocalDateTime local_used;  // the wall time actually meant; differs from the request only for gaps
};

// Strict mode: the requested wall time falls into a gap or an overlap.
class WallTimeError : public std::runtime_error {
  public:
    enum class Kind { Gap, Overlap };
    WallTimeError(Kind kind, const std::string& message, Instant with_pre_transition_offset,
                  Instant with_post_transition_offset);
    Kind kind() const noexcept { return kind_; }
    // The two readings of the wall time: with the offset before the transition (what lenient mode picks)
    // and with the offset after it.
    Instant with_pre_transition_offset() const noexcept { return with_pre_transition_offset_; }
    Instant with_post_transition_offset() const noexcept { return with_post_transition_offset_; }

  private:
    Kind kind_;
    Instant with_pre_transition_offset_;
    Instant with_post_transition_offset_;
};

// The zone name is not a zone in the OS's tz database (or not a plain IANA name at all).
class UnknownTimeZone : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

// A clinic's IANA time zone with the OS's current rules. Immutable, thread-safe, cheap to copy or share.
class ClinicZone {
  public:
    // Loads e.g. "America/Mexico_City" from the OS's tz database. "UTC" is always available.
    // Throws UnknownTimeZone with a message naming the zone and the directory searched.
    static ClinicZone load(const std::string& iana_name);

    const std::string& name() const noexcept;

    // Wall time in this zone -> UTC, gaps and overlaps resolved by `policy` (see the top of this file).
    // Throws std::invalid_argument if `local` is not a real date/time, WallTimeError in strict mode.
    ResolvedTime to_utc(const LocalDateTime& local, WallTimePolicy policy = WallTimePolicy::Lenient) const;

    // UTC -> wall time in this zone (seconds are dropped).
    LocalDateTime to_local(Instant utc) const;
    int utc_offset_seconds(Instant utc) const;
    // The OS's abbreviation, e.g. "EDT", "CST", or a numeric one like "+05" where the zone has no letters.
    std::string abbreviation(Instant utc) const;

    // Locale-aware date and time for pages and SMS, e.g. "Sat, Nov 28, 2026, 2:30 PM EST" for "en_US".
    // ICU chooses words and order; the offset and abbreviation come from the OS rules (a numeric
    // abbreviation is shown as "UTC+05"). No-break spaces are replaced by plain spaces so the text stays
    // in the GSM-7 SMS alphabet. Throws std::invalid_argument for a malformed locale, std::runtime_error
    // if ICU fails.
    std::string format(Instant utc, const std::string& icu_locale) const;

    // The fields of an ICU skeleton (e.g. u"MMMEd", u"jmm") in the order and words of `icu_locale`, at the
    // OS's offset for `utc`. Zone fields in the skeleton would use ICU's stale names: append
    // display_abbreviation() instead. Same errors and spaces as format().
    std::string format_skeleton(Instant utc, const char16_t* skeleton, const std::string& icu_locale) const;

    // The zone as pages and SMS show it at `utc`: the OS abbreviation ("EST"), or "UTC+05" / "UTC+05:30"
    // where the zone has only a numeric one.
    std::string display_abbreviation(Instant utc) const;

    // "2026-11-28T14:30-05:00" (":ss" is added only if the instant has seconds).
    std::string format_local_iso(Instant utc) const;

    // If `resolved` is not Exact: a sentence for staff, e.g. "2026-03-08 02:30 does not exist in
    // America/New_York (clocks jump forward at 02:00); booked for 03:30 EDT instead." Else "".
    std::string describe_resolution(const LocalDateTime& requested, const ResolvedTime& resolved) const;

  private:
    std::string format_at_offset(Instant utc, const char16_t* skeleton, const std::string& icu_locale,
                                 const std::string& zone_literal) const;
    struct Impl;
    explicit ClinicZone(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
    std::shared_ptr<const Impl> impl_;
};

// "2026-11-29T13:00:00.000Z": the form Sinch wants in `send_at`.
std::string format_utc_iso_millis(Instant utc);

// Parses an RFC 3339 / ISO 8601 instant with a zone designator: "2026-11-29T13:00:00.000Z",
// "2026-11-29T13:00Z", "2026-11-29T08:00:00-05:00", "+0530". Seconds and fractions are optional (fractions
// are truncated). nullopt for anything else, including times without an offset and impossible dates.
std::optional<Instant> parse_iso_utc(const std::string& text);

// Parses form input "2026-07-15" + "10:00" (exactly YYYY-MM-DD and HH:MM, 00:00..23:59, real dates).
std::optional<LocalDateTime> parse_local_date_time(const std::string& date_yyyy_mm_dd,
                                                   const std::string& time_hh_mm);

// The directory zones are loaded from: $TZDIR if set and non-empty, else /usr/share/zoneinfo.
std::string tz_directory();
// Version of the OS's tz rules, which is what every offset is computed with: the first line of
// <tz_directory>/tzdata.zi ("# version 2026f"), else <tz_directory>/+VERSION. "" if unknown.
std::string os_tz_rules_version();

// The version this process computes with: the OS's version when the process first loaded a zone.
// Differs from os_tz_rules_version() after a tzdata update until httpd is fully restarted (zones,
// once loaded, are kept for the life of the process).
std::string computing_tz_rules_version();
// Version of ICU's built-in tz rules (e.g. "2022e"). Informational only: ICU does not decide offsets here.
std::string icu_tz_rules_version();
// True when tz version `a` is older than `b` ("2022e" < "2025b" < "2025c"). False if either is malformed.
bool tz_rules_older(const std::string& a, const std::string& b);

}  // namespace sr
