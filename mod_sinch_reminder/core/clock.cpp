// clock.cpp: offsets from the OS's tz database via Abseil; ICU only for locale-aware wording.
#include "clock.hpp"

#include <absl/time/civil_time.h>
#include <absl/time/time.h>
#include <unicode/dtptngen.h>
#include <unicode/locid.h>
#include <unicode/simpletz.h>
#include <unicode/smpdtfmt.h>
#include <unicode/timezone.h>
#include <unicode/unistr.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>

namespace sr {

namespace {

constexpr const char* kDefaultTzDirectory = "/usr/share/zoneinfo";

absl::Time to_absl(Instant instant) { return absl::FromUnixSeconds(instant.time_since_epoch().count()); }

Instant from_absl(absl::Time time) { return Instant(std::chrono::seconds(absl::ToUnixSeconds(time))); }

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

bool is_real_date(int year, int month, int day) {
    return year >= 1 && year <= 9999 && month >= 1 && month <= 12 && day >= 1 &&
           day <= days_in_month(year, month);
}

LocalDateTime to_local_date_time(const absl::CivilSecond& civil) {
    return LocalDateTime{static_cast<int>(civil.year()), civil.month(), civil.day(), civil.hour(),
                         civil.minute()};
}

absl::CivilSecond to_civil(const LocalDateTime& local) {
    return absl::CivilSecond(local.year, local.month, local.day, local.hour, local.minute, 0);
}

// "+05:30", "-03:00", "+00:00"; seconds only when the offset has them (historic LMT offsets).
std::string format_offset(int offset_seconds) {
    const char sign = offset_seconds < 0 ? '-' : '+';
    const int magnitude = offset_seconds < 0 ? -offset_seconds : offset_seconds;
    char buffer[48];
    if (magnitude % 60 != 0) {
        std::snprintf(buffer, sizeof buffer, "%c%02d:%02d:%02d", sign, magnitude / 3600, magnitude / 60 % 60,
                      magnitude % 60);
    } else {
        std::snprintf(buffer, sizeof buffer, "%c%02d:%02d", sign, magnitude / 3600, magnitude / 60 % 60);
    }
    return buffer;
}

// "02:30"
std::string format_hh_mm(const absl::CivilSecond& civil) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%02d:%02d", civil.hour(), civil.minute());
    return buffer;
}

// "2026-03-08 02:30"
std::string format_date_hh_mm(const LocalDateTime& local) {
    std::string text = to_iso_string(local);
    text[10] = ' ';
    return text;
}

// Only plain IANA names reach the loader: no absolute paths, "..", "file:" prefixes, "localtime" (which
// means the server's own zone) or leap-second "right/" zones, all of which Abseil would otherwise accept.
bool looks_like_iana_name(const std::string& name) {
    if (name.empty() || name.size() > 128 || name.front() == '/' || name.back() == '/') return false;
    for (const char c : name) {
        const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                             c == '/' || c == '_' || c == '-' || c == '+' || c == '.';
        if (!allowed) return false;
    }
    if (name.find("..") != std::string::npos || name.find("//") != std::string::npos) return false;
    if (name == "localtime" || name == "posixrules" || name.rfind("right/", 0) == 0) return false;
    return true;
}

std::string zone_display_text(const char* os_abbreviation, int offset_seconds) {
    const std::string abbreviation = os_abbreviation != nullptr ? os_abbreviation : "";
    // Zones without customary letters have numeric abbreviations ("+05"); "UTC+05" reads better in an SMS.
    if (abbreviation.empty() || abbreviation[0] == '+' || abbreviation[0] == '-') {
        std::string offset = format_offset(offset_seconds);
        if (offset.size() == 6 && offset.compare(3, 3, ":00") == 0) offset.resize(3);  // "+05:00" -> "+05"
        return "UTC" + offset;
    }
    return abbreviation;
}

// Replaces the zone fields of an ICU pattern (z, v, V, O, X, x, Z outside quotes) with a quoted literal,
// so ICU prints our abbreviation instead of deriving one from its own stale rules.
icu::UnicodeString with_literal_zone(const icu::UnicodeString& pattern, const std::string& abbreviation) {
    icu::UnicodeString quoted = icu::UnicodeString::fromUTF8(abbreviation);
    quoted.findAndReplace(icu::UnicodeString(u"'"), icu::UnicodeString(u"''"));
    quoted = icu::UnicodeString(u"'") + quoted + icu::UnicodeString(u"'");

    const icu::UnicodeString zone_letters(u"zvVOXxZ");
    icu::UnicodeString result;
    bool in_quote = false;
    for (int32_t i = 0; i < pattern.length();) {
        const char16_t c = pattern.charAt(i);
        if (c == u'\'') {
            const bool escaped_quote = i + 1 < pattern.length() && pattern.charAt(i + 1) == u'\'';
            result.append(pattern, i, escaped_quote ? 2 : 1);
            if (!escaped_quote) in_quote = !in_quote;
            i += escaped_quote ? 2 : 1;
        } else if (!in_quote && zone_letters.indexOf(c) >= 0) {
            while (i < pattern.length() && pattern.charAt(i) == c) ++i;
            result.append(quoted);
        } else {
            result.append(c);
            ++i;
        }
    }
    return result;
}

// ICU's pattern for a skeleton in a locale. A DateTimePatternGenerator costs ~2 M instructions to create,
// so one per locale is kept, and every answer is cached (locales and skeletons come from configuration and
// code, so the cache stays small).
icu::UnicodeString best_pattern(const std::string& icu_locale, const char16_t* skeleton) {
    static std::mutex cache_mutex;
    static std::map<std::string, std::unique_ptr<icu::DateTimePatternGenerator>> generators;
    static std::map<std::pair<std::string, std::u16string>, icu::UnicodeString> patterns;
    std::lock_guard<std::mutex> lock(cache_mutex);
    const auto key = std::make_pair(icu_locale, std::u16string(skeleton));
    if (const auto found = patterns.find(key); found != patterns.end()) return found->second;

    const icu::Locale locale(icu_locale.c_str());
    if (locale.isBogus()) throw std::invalid_argument("malformed ICU locale: \"" + icu_locale + "\"");
    auto& generator = generators[icu_locale];
    if (!generator) {
        UErrorCode status = U_ZERO_ERROR;
        generator.reset(icu::DateTimePatternGenerator::createInstance(locale, status));
        if (U_FAILURE(status)) {
            generators.erase(icu_locale);
            throw std::runtime_error(std::string("ICU DateTimePatternGenerator failed: ") +
                                     u_errorName(status));
        }
    }
    UErrorCode status = U_ZERO_ERROR;
    icu::UnicodeString pattern = generator->getBestPattern(icu::UnicodeString(skeleton), status);
    if (U_FAILURE(status)) {
        throw std::runtime_error(std::string("ICU getBestPattern failed: ") + u_errorName(status));
    }
    if (patterns.size() < 1024) patterns.emplace(key, pattern);
    return pattern;
}

// ICU 72 (CLDR 42) puts U+202F before AM/PM; U+202F/U+00A0/U+2009 are not in the GSM-7 SMS alphabet and
// would force UCS-2 (70 instead of 160 characters per SMS part).
void replace_special_spaces(icu::UnicodeString& text) {
    for (const char16_t space : {u'\u202F', u'\u00A0', u'\u2009'}) {
        text.findAndReplace(icu::UnicodeString(space), icu::UnicodeString(u' '));
    }
}

std::string read_first_line(const std::string& path) {
    std::ifstream file(path);
    std::string line;
    if (!file || !std::getline(file, line)) return "";
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
        line.pop_back();
    return line;
}

// Splits "2025b" into year 2025 and letters "b". False if malformed.
bool split_tz_version(const std::string& version, int& year, std::string& letters) {
    if (version.size() < 4 || version.size() > 8) return false;
    year = 0;
    for (size_t i = 0; i < 4; ++i) {
        if (version[i] < '0' || version[i] > '9') return false;
        year = year * 10 + (version[i] - '0');
    }
    letters = version.substr(4);
    for (const char c : letters) {
        if (c < 'a' || c > 'z') return false;
    }
    return true;
}

// Minimal cursor over a string for the strict parsers below.
class Cursor {
  public:
    explicit Cursor(const std::string& text) : text_(text) {}
    bool at_end() const { return position_ == text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[position_]; }
    bool take(char expected) {
        if (peek() != expected) return false;
        ++position_;
        return true;
    }
    // Exactly `count` ASCII digits.
    bool take_digits(int count, int& value) {
        value = 0;
        for (int i = 0; i < count; ++i) {
            const char c = peek();
            if (c < '0' || c > '9') return false;
            value = value * 10 + (c - '0');
            ++position_;
        }
        return true;
    }
    bool peek_digit() const { return peek() >= '0' && peek() <= '9'; }
    void skip() { ++position_; }

  private:
    const std::string& text_;
    size_t position_ = 0;
};

bool take_date(Cursor& cursor, int& year, int& month, int& day) {
    return cursor.take_digits(4, year) && cursor.take('-') && cursor.take_digits(2, month) &&
           cursor.take('-') && cursor.take_digits(2, day) && is_real_date(year, month, day);
}

bool take_hh_mm(Cursor& cursor, int& hour, int& minute) {
    return cursor.take_digits(2, hour) && cursor.take(':') && cursor.take_digits(2, minute) && hour <= 23 &&
           minute <= 59;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------

Instant now_utc() {
    return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

bool operator==(const LocalDateTime& a, const LocalDateTime& b) {
    return a.year == b.year && a.month == b.month && a.day == b.day && a.hour == b.hour &&
           a.minute == b.minute;
}

bool operator!=(const LocalDateTime& a, const LocalDateTime& b) { return !(a == b); }

bool is_valid(const LocalDateTime& local) {
    return is_real_date(local.year, local.month, local.day) && local.hour >= 0 && local.hour <= 23 &&
           local.minute >= 0 && local.minute <= 59;
}

std::string to_iso_string(const LocalDateTime& local) {
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d", local.year, local.month, local.day,
                  local.hour, local.minute);
    return buffer;
}

const char* to_string(WallTimeResolution resolution) noexcept {
    switch (resolution) {
        case WallTimeResolution::Exact:
            return "exact";
        case WallTimeResolution::GapShiftedForward:
            return "gap_shifted_forward";
        case WallTimeResolution::OverlapEarlierOffset:
            return "overlap_earlier_offset";
    }
    return "unknown";
}

WallTimeError::WallTimeError(Kind kind, const std::string& message, Instant with_pre_transition_offset,
                             Instant with_post_transition_offset)
    : std::runtime_error(message),
      kind_(kind),
      with_pre_transition_offset_(with_pre_transition_offset),
      with_post_transition_offset_(with_post_transition_offset) {}

// ---------------------------------------------------------------------------------------------------------

struct ClinicZone::Impl {
    std::string name;
    absl::TimeZone zone;  // a handle to Abseil's process-wide cache of loaded zones; thread-safe

    // "03:30 EDT"
    std::string wall_time_with_abbreviation(absl::Time time) const {
        const absl::TimeZone::CivilInfo info = zone.At(time);
        return format_hh_mm(info.cs) + " " + zone_display_text(info.zone_abbr, info.offset);
    }

    // The wall clock reading just before and at a transition: "02:00" -> "03:00".
    std::pair<std::string, std::string> transition_wall_times(absl::Time transition) const {
        const int offset_before = zone.At(transition - absl::Seconds(1)).offset;
        const absl::CivilSecond from = absl::ToCivilSecond(transition, absl::FixedTimeZone(offset_before));
        return {format_hh_mm(from), format_hh_mm(zone.At(transition).cs)};
    }
};

namespace {

// The rules version in force when this process first read a zone: Abseil keeps every zone it
// loaded for the life of the process, so that is the version it computes with.
std::once_flag g_rules_version_once;
std::string g_rules_version;

void remember_rules_version() {
    std::call_once(g_rules_version_once, [] { g_rules_version = os_tz_rules_version(); });
}

}  // namespace

std::string computing_tz_rules_version() {
    remember_rules_version();
    return g_rules_version;
}

ClinicZone ClinicZone::load(const std::string& iana_name) {
    remember_rules_version();
    const auto unknown = [&iana_name](const std::string& why) {
        return UnknownTimeZone("unknown time zone \"" + iana_name + "\": " + why +
                               "; use an IANA name such as \"America/New_York\" (case matters)");
    };
    if (!looks_like_iana_name(iana_name)) throw unknown("not an IANA time zone name");
    absl::TimeZone zone;
    if (!absl::LoadTimeZone(iana_name, &zone)) {
        throw unknown("not found in the OS tz database (" + tz_directory() + ")");
    }
    return ClinicZone(std::make_shared<const Impl>(Impl{iana_name, zone}));
}

const std::string& ClinicZone::name() const noexcept { return impl_->name; }

ResolvedTime ClinicZone::to_utc(const LocalDateTime& local, WallTimePolicy policy) const {
    if (!is_valid(local)) {
        throw std::invalid_argument("not a real date and time: " + to_iso_string(local));
    }
    const absl::TimeZone::TimeInfo info = impl_->zone.At(to_civil(local));
    ResolvedTime resolved{from_absl(info.pre), 0, WallTimeResolution::Exact, local};
    switch (info.kind) {
        case absl::TimeZone::TimeInfo::UNIQUE:
            break;
        case absl::TimeZone::TimeInfo::SKIPPED: {
            // `pre` reads the wall time with the offset from before the jump, which is exactly "move forward
            // by the length of the gap" (02:30 EST == 03:30 EDT).
            if (policy == WallTimePolicy::Strict) {
                const auto [from, to] = impl_->transition_wall_times(info.trans);
                throw WallTimeError(WallTimeError::Kind::Gap,
                                    format_date_hh_mm(local) + " does not exist in " + impl_->name +
                                        " (clocks jump forward from " + from + " to " + to +
                                        "): it could mean " + impl_->wall_time_with_abbreviation(info.pre) +
                                        " (" + format_utc_iso_millis(from_absl(info.pre)) + ") or " +
                                        impl_->wall_time_with_abbreviation(info.post) + " (" +
                                        format_utc_iso_millis(from_absl(info.post)) + ")",
                                    from_absl(info.pre), from_absl(info.post));
            }
            resolved.resolution = WallTimeResolution::GapShiftedForward;
            resolved.local_used = to_local(resolved.utc);
            break;
        }
        case absl::TimeZone::TimeInfo::REPEATED: {
            // `pre` is the first occurrence: the offset in force before clocks fell back.
            if (policy == WallTimePolicy::Strict) {
                const auto [from, to] = impl_->transition_wall_times(info.trans);
                throw WallTimeError(WallTimeError::Kind::Overlap,
                                    format_date_hh_mm(local) + " happens twice in " + impl_->name +
                                        " (clocks fall back from " + from + " to " + to + "): first at " +
                                        impl_->wall_time_with_abbreviation(info.pre) + " (" +
                                        format_utc_iso_millis(from_absl(info.pre)) + "), again at " +
                                        impl_->wall_time_with_abbreviation(info.post) + " (" +
                                        format_utc_iso_millis(from_absl(info.post)) + ")",
                                    from_absl(info.pre), from_absl(info.post));
            }
            resolved.resolution = WallTimeResolution::OverlapEarlierOffset;
            break;
        }
    }
    resolved.utc_offset_seconds = utc_offset_seconds(resolved.utc);
    return resolved;
}

LocalDateTime ClinicZone::to_local(Instant utc) const {
    return to_local_date_time(impl_->zone.At(to_absl(utc)).cs);
}

int ClinicZone::utc_offset_seconds(Instant utc) const { return impl_->zone.At(to_absl(utc)).offset; }

std::string ClinicZone::abbreviation(Instant utc) const {
    const char* abbreviation = impl_->zone.At(to_absl(utc)).zone_abbr;
    return abbreviation != nullptr ? abbreviation : "";
}

std::string ClinicZone::display_abbreviation(Instant utc) const {
    const absl::TimeZone::CivilInfo info = impl_->zone.At(to_absl(utc));
    return zone_display_text(info.zone_abbr, info.offset);
}

std::string ClinicZone::format(Instant utc, const std::string& icu_locale) const {
    // Weekday, day, abbreviated month, year, hour in the locale's 12/24 h convention, minutes, zone.
    return format_at_offset(utc, u"yMMMEdjmmz", icu_locale, display_abbreviation(utc));
}

std::string ClinicZone::format_skeleton(Instant utc, const char16_t* skeleton,
                                        const std::string& icu_locale) const {
    return format_at_offset(utc, skeleton, icu_locale, "");
}

std::string ClinicZone::format_at_offset(Instant utc, const char16_t* skeleton, const std::string& icu_locale,
                                         const std::string& zone_literal) const {
    // A SimpleDateFormat costs ~1 M instructions to build and may not be shared between threads: each
    // thread keeps one per (locale, skeleton, zone text). Bounded: the keys come from configuration.
    struct ThreadFormatter {
        std::unique_ptr<icu::SimpleDateFormat> format;
        std::optional<int> offset_seconds;  // of the zone the formatter has now
    };
    thread_local std::map<std::string, ThreadFormatter> formatters;
    std::string key = icu_locale;
    key += '\x1f';
    icu::UnicodeString(skeleton).toUTF8String(key);
    key += '\x1f';
    key += zone_literal;
    auto found = formatters.find(key);
    if (found == formatters.end()) {
        icu::UnicodeString pattern = best_pattern(icu_locale, skeleton);
        if (!zone_literal.empty()) pattern = with_literal_zone(pattern, zone_literal);
        UErrorCode status = U_ZERO_ERROR;
        auto format =
            std::make_unique<icu::SimpleDateFormat>(pattern, icu::Locale(icu_locale.c_str()), status);
        if (U_FAILURE(status)) {
            throw std::runtime_error(std::string("ICU SimpleDateFormat failed: ") + u_errorName(status));
        }
        if (formatters.size() >= 64) formatters.clear();
        found = formatters.emplace(std::move(key), ThreadFormatter{std::move(format), std::nullopt}).first;
    }
    ThreadFormatter& formatter = found->second;
    // A fixed-offset zone: ICU's calendar applies exactly the offset the OS rules give for this instant.
    const int offset_seconds = utc_offset_seconds(utc);
    if (formatter.offset_seconds != offset_seconds) {
        formatter.format->adoptTimeZone(
            new icu::SimpleTimeZone(offset_seconds * 1000, icu::UnicodeString::fromUTF8(impl_->name)));
        formatter.offset_seconds = offset_seconds;
    }
    icu::UnicodeString text;
    formatter.format->format(static_cast<UDate>(utc.time_since_epoch().count()) * 1000.0, text);
    replace_special_spaces(text);
    std::string result;
    text.toUTF8String(result);
    return result;
}

std::string ClinicZone::format_local_iso(Instant utc) const {
    const absl::TimeZone::CivilInfo info = impl_->zone.At(to_absl(utc));
    std::string text = to_iso_string(to_local_date_time(info.cs));
    if (info.cs.second() != 0) {
        char seconds[32];
        std::snprintf(seconds, sizeof seconds, ":%02d", info.cs.second());
        text += seconds;
    }
    return text + format_offset(info.offset);
}

std::string ClinicZone::describe_resolution(const LocalDateTime& requested,
                                            const ResolvedTime& resolved) const {
    if (resolved.resolution == WallTimeResolution::Exact || !is_valid(requested)) return "";
    const absl::TimeZone::TimeInfo info = impl_->zone.At(to_civil(requested));
    const auto [from, to] = impl_->transition_wall_times(info.trans);
    if (resolved.resolution == WallTimeResolution::GapShiftedForward) {
        return format_date_hh_mm(requested) + " does not exist in " + impl_->name +
               " (clocks jump forward from " + from + " to " + to + "); booked for " +
               impl_->wall_time_with_abbreviation(to_absl(resolved.utc)) + " instead.";
    }
    return format_date_hh_mm(requested) + " happens twice in " + impl_->name + " (clocks fall back from " +
           from + " to " + to + "); booked for the first one, " +
           impl_->wall_time_with_abbreviation(to_absl(resolved.utc)) + ".";
}

// ---------------------------------------------------------------------------------------------------------

std::string format_utc_iso_millis(Instant utc) {
    const absl::CivilSecond civil = absl::ToCivilSecond(to_absl(utc), absl::UTCTimeZone());
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%04lld-%02d-%02dT%02d:%02d:%02d.000Z",
                  static_cast<long long>(civil.year()), civil.month(), civil.day(), civil.hour(),
                  civil.minute(), civil.second());
    return buffer;
}

std::optional<Instant> parse_iso_utc(const std::string& text) {
    Cursor cursor(text);
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!take_date(cursor, year, month, day)) return std::nullopt;
    // 'T' per ISO 8601; 't' and ' ' are allowed by RFC 3339 (PostgreSQL prints a space).
    if (!(cursor.take('T') || cursor.take('t') || cursor.take(' '))) return std::nullopt;
    if (!take_hh_mm(cursor, hour, minute)) return std::nullopt;
    if (cursor.take(':')) {
        if (!cursor.take_digits(2, second) || second > 59) return std::nullopt;
        if (cursor.take('.') || cursor.take(',')) {
            if (!cursor.peek_digit()) return std::nullopt;
            while (cursor.peek_digit()) cursor.skip();  // Instant has whole seconds: truncate
        }
    }
    int offset_seconds = 0;
    if (cursor.take('Z') || cursor.take('z')) {
        offset_seconds = 0;
    } else if (cursor.peek() == '+' || cursor.peek() == '-') {
        const int sign = cursor.peek() == '-' ? -1 : 1;
        cursor.skip();
        int offset_hours = 0, offset_minutes = 0;
        if (!cursor.take_digits(2, offset_hours)) return std::nullopt;
        if (cursor.take(':')) {
            if (!cursor.take_digits(2, offset_minutes)) return std::nullopt;
        } else if (cursor.peek_digit() && !cursor.take_digits(2, offset_minutes)) {
            return std::nullopt;
        }
        if (offset_hours > 23 || offset_minutes > 59) return std::nullopt;
        offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
    } else {
        return std::nullopt;  // no zone designator: not an instant
    }
    if (!cursor.at_end()) return std::nullopt;
    const absl::Time as_if_utc =
        absl::FromCivil(absl::CivilSecond(year, month, day, hour, minute, second), absl::UTCTimeZone());
    return from_absl(as_if_utc) - std::chrono::seconds(offset_seconds);
}

std::optional<LocalDateTime> parse_local_date_time(const std::string& date_yyyy_mm_dd,
                                                   const std::string& time_hh_mm) {
    LocalDateTime local{};
    Cursor date(date_yyyy_mm_dd);
    if (!take_date(date, local.year, local.month, local.day) || !date.at_end()) return std::nullopt;
    Cursor time(time_hh_mm);
    if (!take_hh_mm(time, local.hour, local.minute) || !time.at_end()) return std::nullopt;
    return local;
}

// ---------------------------------------------------------------------------------------------------------

std::string tz_directory() {
    // Same rule as Abseil's zone loader and glibc: a non-empty TZDIR wins.
    const char* from_environment = std::getenv("TZDIR");
    return from_environment != nullptr && *from_environment != '\0' ? from_environment : kDefaultTzDirectory;
}

std::string os_tz_rules_version() {
    const std::string directory = tz_directory();
    const std::string first_line = read_first_line(directory + "/tzdata.zi");
    const std::string prefix = "# version ";
    std::string version;
    if (first_line.rfind(prefix, 0) == 0) {
        version = first_line.substr(prefix.size());
    } else {
        version = read_first_line(directory + "/+VERSION");
    }
    int year = 0;
    std::string letters;
    return split_tz_version(version, year, letters) ? version : "";
}

std::string icu_tz_rules_version() {
    UErrorCode status = U_ZERO_ERROR;
    const char* version = icu::TimeZone::getTZDataVersion(status);
    return U_SUCCESS(status) && version != nullptr ? version : "";
}

bool tz_rules_older(const std::string& a, const std::string& b) {
    int year_a = 0, year_b = 0;
    std::string letters_a, letters_b;
    if (!split_tz_version(a, year_a, letters_a) || !split_tz_version(b, year_b, letters_b)) return false;
    if (year_a != year_b) return year_a < year_b;
    // Within a year releases go a, b, ..., z; a longer suffix ("zz") would come after a shorter one.
    if (letters_a.size() != letters_b.size()) return letters_a.size() < letters_b.size();
    return letters_a < letters_b;
}

}  // namespace sr
