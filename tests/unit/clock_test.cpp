// Behaviour of sr::ClinicZone and the time helpers: offsets follow the OS's current tz rules (not ICU's
// built-in 2022e copy), gaps and overlaps follow the documented java.time policy, parsing is strict.
#include <cppunit/extensions/HelperMacros.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"

namespace {

using sr::ClinicZone;
using sr::Instant;
using sr::LocalDateTime;
using sr::WallTimePolicy;
using sr::WallTimeResolution;

constexpr int kHour = 3600;

// A UTC instant computed by glibc, independently of the code under test.
Instant utc(int year, int month, int day, int hour, int minute, int second = 0) {
    std::tm fields{};
    fields.tm_year = year - 1900;
    fields.tm_mon = month - 1;
    fields.tm_mday = day;
    fields.tm_hour = hour;
    fields.tm_min = minute;
    fields.tm_sec = second;
    return Instant(std::chrono::seconds(timegm(&fields)));
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// Sets TZDIR for one test and restores the previous value afterwards.
class ScopedTzDir {
  public:
    explicit ScopedTzDir(const std::string& directory) {
        if (const char* previous = std::getenv("TZDIR")) previous_ = previous;
        setenv("TZDIR", directory.c_str(), 1);
    }
    ~ScopedTzDir() {
        if (previous_) {
            setenv("TZDIR", previous_->c_str(), 1);
        } else {
            unsetenv("TZDIR");
        }
    }

  private:
    std::optional<std::string> previous_;
};

}  // namespace

namespace CppUnit {
template <>
struct assertion_traits<LocalDateTime> {
    static bool equal(const LocalDateTime& a, const LocalDateTime& b) { return a == b; }
    static std::string toString(const LocalDateTime& x) { return sr::to_iso_string(x); }
};
template <>
struct assertion_traits<Instant> {
    static bool equal(Instant a, Instant b) { return a == b; }
    static std::string toString(Instant x) { return sr::format_utc_iso_millis(x); }
};
template <>
struct assertion_traits<WallTimeResolution> {
    static bool equal(WallTimeResolution a, WallTimeResolution b) { return a == b; }
    static std::string toString(WallTimeResolution x) { return sr::to_string(x); }
};
}  // namespace CppUnit

class ClockTest : public CppUnit::TestFixture {
    CPPUNIT_TEST_SUITE(ClockTest);
    CPPUNIT_TEST(mexico_city_july_is_utc_minus_6_from_os_rules_not_icus_stale_minus_5);
    CPPUNIT_TEST(two_hour_reminder_for_mexico_city_10am_is_sent_at_14z);
    CPPUNIT_TEST(almaty_is_utc_plus_5);
    CPPUNIT_TEST(asuncion_is_utc_minus_3_in_july_2026);
    CPPUNIT_TEST(london_uses_gmt_in_winter_and_bst_in_summer);
    CPPUNIT_TEST(utc_zone_is_identity);
    CPPUNIT_TEST(ordinary_new_york_times_are_exact_and_round_trip);
    CPPUNIT_TEST(new_york_gap_moves_forward_by_the_gap_length);
    CPPUNIT_TEST(new_york_gap_start_becomes_the_first_valid_minute);
    CPPUNIT_TEST(london_gap_moves_forward_by_the_gap_length);
    CPPUNIT_TEST(new_york_overlap_takes_the_earlier_offset);
    CPPUNIT_TEST(strict_mode_refuses_a_gap_and_names_both_candidates);
    CPPUNIT_TEST(strict_mode_refuses_an_overlap_and_names_both_candidates);
    CPPUNIT_TEST(strict_mode_accepts_times_that_exist_once);
    CPPUNIT_TEST(resolution_is_described_for_staff);
    CPPUNIT_TEST(impossible_local_date_is_rejected_by_to_utc);
    CPPUNIT_TEST(unknown_zone_error_names_the_zone_and_the_directory);
    CPPUNIT_TEST(zone_names_that_are_not_iana_names_are_refused);
    CPPUNIT_TEST(zones_are_loaded_from_tzdir_when_set);
    CPPUNIT_TEST(parse_local_date_time_accepts_form_input);
    CPPUNIT_TEST(parse_local_date_time_rejects_loose_or_impossible_input);
    CPPUNIT_TEST(format_utc_iso_millis_is_what_sinch_wants);
    CPPUNIT_TEST(parse_iso_utc_accepts_z_offsets_and_optional_seconds_and_fractions);
    CPPUNIT_TEST(parse_iso_utc_rejects_times_without_offset_and_malformed_input);
    CPPUNIT_TEST(format_local_iso_shows_the_os_offset);
    CPPUNIT_TEST(format_en_us_uses_os_offset_and_abbreviation);
    CPPUNIT_TEST(format_follows_the_locale_and_stays_sms_friendly);
    CPPUNIT_TEST(format_is_safe_from_many_threads);
    CPPUNIT_TEST(format_applies_each_instants_own_offset_in_turn);
    CPPUNIT_TEST(tz_rules_versions_compare_by_year_then_letter);
    CPPUNIT_TEST(rules_versions_are_reported);
    CPPUNIT_TEST_SUITE_END();

  public:
    void mexico_city_july_is_utc_minus_6_from_os_rules_not_icus_stale_minus_5() {
        // Mexico abolished DST in 2022; ICU 72's built-in 2022e rules still say -05 (CDT).
        const ClinicZone mexico = ClinicZone::load("America/Mexico_City");
        const sr::ResolvedTime resolved = mexico.to_utc({2026, 7, 15, 10, 0});
        CPPUNIT_ASSERT_EQUAL(utc(2026, 7, 15, 16, 0), resolved.utc);
        CPPUNIT_ASSERT_EQUAL(-6 * kHour, resolved.utc_offset_seconds);
        CPPUNIT_ASSERT_EQUAL(WallTimeResolution::Exact, resolved.resolution);
        CPPUNIT_ASSERT_EQUAL(std::string("CST"), mexico.abbreviation(resolved.utc));
    }

    void two_hour_reminder_for_mexico_city_10am_is_sent_at_14z() {
        const ClinicZone mexico = ClinicZone::load("America/Mexico_City");
        const Instant appointment = mexico.to_utc({2026, 7, 15, 10, 0}).utc;
        const Instant send_at = sr::reminder_send_at(appointment, std::chrono::hours(2));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-07-15T14:00:00.000Z"), sr::format_utc_iso_millis(send_at));
        CPPUNIT_ASSERT_EQUAL((LocalDateTime{2026, 7, 15, 8, 0}), mexico.to_local(send_at));
    }

    void almaty_is_utc_plus_5() {
        // Kazakhstan unified on +05 in March 2024 (ICU 2022e: +06).
        const ClinicZone almaty = ClinicZone::load("Asia/Almaty");
        const sr::ResolvedTime resolved = almaty.to_utc({2026, 7, 15, 10, 0});
        CPPUNIT_ASSERT_EQUAL(utc(2026, 7, 15, 5, 0), resolved.utc);
        CPPUNIT_ASSERT_EQUAL(5 * kHour, almaty.utc_offset_seconds(utc(2026, 1, 15, 12, 0)));
    }

    void asuncion_is_utc_minus_3_in_july_2026() {
        // Paraguay moved to permanent -03 in October 2024 (ICU 2022e: -04 in the southern winter).
        const ClinicZone asuncion = ClinicZone::load("America/Asuncion");
        const sr::ResolvedTime resolved = asuncion.to_utc({2026, 7, 15, 10, 0});
        CPPUNIT_ASSERT_EQUAL(utc(2026, 7, 15, 13, 0), resolved.utc);
        CPPUNIT_ASSERT_EQUAL(-3 * kHour, resolved.utc_offset_seconds);
    }

    void london_uses_gmt_in_winter_and_bst_in_summer() {
        const ClinicZone london = ClinicZone::load("Europe/London");
        const sr::ResolvedTime winter = london.to_utc({2026, 1, 15, 9, 0});
        const sr::ResolvedTime summer = london.to_utc({2026, 7, 15, 9, 0});
        CPPUNIT_ASSERT_EQUAL(utc(2026, 1, 15, 9, 0), winter.utc);
        CPPUNIT_ASSERT_EQUAL(utc(2026, 7, 15, 8, 0), summer.utc);
        CPPUNIT_ASSERT_EQUAL(std::string("GMT"), london.abbreviation(winter.utc));
        CPPUNIT_ASSERT_EQUAL(std::string("BST"), london.abbreviation(summer.utc));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-07-15T09:00+01:00"), london.format_local_iso(summer.utc));
    }

    void utc_zone_is_identity() {
        const ClinicZone zone = ClinicZone::load("UTC");
        CPPUNIT_ASSERT_EQUAL(std::string("UTC"), zone.name());
        const sr::ResolvedTime resolved = zone.to_utc({2026, 3, 29, 1, 30});
        CPPUNIT_ASSERT_EQUAL(utc(2026, 3, 29, 1, 30), resolved.utc);
        CPPUNIT_ASSERT_EQUAL(0, resolved.utc_offset_seconds);
        CPPUNIT_ASSERT_EQUAL(std::string("UTC"), zone.abbreviation(resolved.utc));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-03-29T01:30+00:00"), zone.format_local_iso(resolved.utc));
    }

    void ordinary_new_york_times_are_exact_and_round_trip() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const LocalDateTime winter{2026, 11, 28, 14, 30};
        const sr::ResolvedTime resolved = new_york.to_utc(winter);
        CPPUNIT_ASSERT_EQUAL(utc(2026, 11, 28, 19, 30), resolved.utc);
        CPPUNIT_ASSERT_EQUAL(-5 * kHour, resolved.utc_offset_seconds);
        CPPUNIT_ASSERT_EQUAL(winter, resolved.local_used);
        CPPUNIT_ASSERT_EQUAL(winter, new_york.to_local(resolved.utc));
        CPPUNIT_ASSERT_EQUAL(std::string("EDT"), new_york.abbreviation(utc(2026, 7, 1, 12, 0)));
    }

    void new_york_gap_moves_forward_by_the_gap_length() {
        // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT; 02:30 never happens.
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const sr::ResolvedTime resolved = new_york.to_utc({2026, 3, 8, 2, 30});
        CPPUNIT_ASSERT_EQUAL(WallTimeResolution::GapShiftedForward, resolved.resolution);
        CPPUNIT_ASSERT_EQUAL(utc(2026, 3, 8, 7, 30), resolved.utc);
        CPPUNIT_ASSERT_EQUAL((LocalDateTime{2026, 3, 8, 3, 30}), resolved.local_used);
        CPPUNIT_ASSERT_EQUAL(-4 * kHour, resolved.utc_offset_seconds);
    }

    void new_york_gap_start_becomes_the_first_valid_minute() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const sr::ResolvedTime resolved = new_york.to_utc({2026, 3, 8, 2, 0});
        CPPUNIT_ASSERT_EQUAL(WallTimeResolution::GapShiftedForward, resolved.resolution);
        CPPUNIT_ASSERT_EQUAL(utc(2026, 3, 8, 7, 0), resolved.utc);
        CPPUNIT_ASSERT_EQUAL((LocalDateTime{2026, 3, 8, 3, 0}), resolved.local_used);
        // One minute before the gap is an ordinary time.
        CPPUNIT_ASSERT_EQUAL(WallTimeResolution::Exact, new_york.to_utc({2026, 3, 8, 1, 59}).resolution);
    }

    void london_gap_moves_forward_by_the_gap_length() {
        // 2026-03-29: 01:00 GMT -> 02:00 BST.
        const ClinicZone london = ClinicZone::load("Europe/London");
        const sr::ResolvedTime resolved = london.to_utc({2026, 3, 29, 1, 30});
        CPPUNIT_ASSERT_EQUAL(WallTimeResolution::GapShiftedForward, resolved.resolution);
        CPPUNIT_ASSERT_EQUAL(utc(2026, 3, 29, 1, 30), resolved.utc);
        CPPUNIT_ASSERT_EQUAL((LocalDateTime{2026, 3, 29, 2, 30}), resolved.local_used);
    }

    void new_york_overlap_takes_the_earlier_offset() {
        // 2026-11-01: clocks fall back from 02:00 EDT to 01:00 EST; 01:30 happens twice.
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const LocalDateTime requested{2026, 11, 1, 1, 30};
        const sr::ResolvedTime resolved = new_york.to_utc(requested);
        CPPUNIT_ASSERT_EQUAL(WallTimeResolution::OverlapEarlierOffset, resolved.resolution);
        CPPUNIT_ASSERT_EQUAL(utc(2026, 11, 1, 5, 30), resolved.utc);  // 01:30 EDT, not 06:30Z (EST)
        CPPUNIT_ASSERT_EQUAL(-4 * kHour, resolved.utc_offset_seconds);
        CPPUNIT_ASSERT_EQUAL(requested, resolved.local_used);
        CPPUNIT_ASSERT_EQUAL(std::string("EDT"), new_york.abbreviation(resolved.utc));
    }

    void strict_mode_refuses_a_gap_and_names_both_candidates() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        try {
            new_york.to_utc({2026, 3, 8, 2, 30}, WallTimePolicy::Strict);
            CPPUNIT_FAIL("a time in the spring-forward gap must be refused in strict mode");
        } catch (const sr::WallTimeError& error) {
            CPPUNIT_ASSERT(error.kind() == sr::WallTimeError::Kind::Gap);
            CPPUNIT_ASSERT_EQUAL(utc(2026, 3, 8, 7, 30), error.with_pre_transition_offset());
            CPPUNIT_ASSERT_EQUAL(utc(2026, 3, 8, 6, 30), error.with_post_transition_offset());
            const std::string message = error.what();
            CPPUNIT_ASSERT_MESSAGE(message,
                                   contains(message, "2026-03-08 02:30 does not exist in America/New_York"));
            CPPUNIT_ASSERT_MESSAGE(message, contains(message, "03:30 EDT (2026-03-08T07:30:00.000Z)"));
            CPPUNIT_ASSERT_MESSAGE(message, contains(message, "01:30 EST (2026-03-08T06:30:00.000Z)"));
        }
    }

    void strict_mode_refuses_an_overlap_and_names_both_candidates() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        try {
            new_york.to_utc({2026, 11, 1, 1, 30}, WallTimePolicy::Strict);
            CPPUNIT_FAIL("a repeated fall-back time must be refused in strict mode");
        } catch (const sr::WallTimeError& error) {
            CPPUNIT_ASSERT(error.kind() == sr::WallTimeError::Kind::Overlap);
            CPPUNIT_ASSERT_EQUAL(utc(2026, 11, 1, 5, 30), error.with_pre_transition_offset());
            CPPUNIT_ASSERT_EQUAL(utc(2026, 11, 1, 6, 30), error.with_post_transition_offset());
            const std::string message = error.what();
            CPPUNIT_ASSERT_MESSAGE(message,
                                   contains(message, "2026-11-01 01:30 happens twice in America/New_York"));
            CPPUNIT_ASSERT_MESSAGE(message, contains(message, "01:30 EDT (2026-11-01T05:30:00.000Z)"));
            CPPUNIT_ASSERT_MESSAGE(message, contains(message, "01:30 EST (2026-11-01T06:30:00.000Z)"));
        }
    }

    void strict_mode_accepts_times_that_exist_once() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const sr::ResolvedTime before_gap = new_york.to_utc({2026, 3, 8, 1, 59}, WallTimePolicy::Strict);
        const sr::ResolvedTime after_overlap = new_york.to_utc({2026, 11, 1, 2, 0}, WallTimePolicy::Strict);
        CPPUNIT_ASSERT_EQUAL(utc(2026, 3, 8, 6, 59), before_gap.utc);
        CPPUNIT_ASSERT_EQUAL(utc(2026, 11, 1, 7, 0), after_overlap.utc);
        CPPUNIT_ASSERT_EQUAL(WallTimeResolution::Exact, after_overlap.resolution);
    }

    void resolution_is_described_for_staff() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const LocalDateTime in_gap{2026, 3, 8, 2, 30};
        const LocalDateTime in_overlap{2026, 11, 1, 1, 30};
        const LocalDateTime ordinary{2026, 11, 2, 1, 30};
        CPPUNIT_ASSERT_EQUAL(
            std::string("2026-03-08 02:30 does not exist in America/New_York (clocks jump forward "
                        "from 02:00 to 03:00); booked for 03:30 EDT instead."),
            new_york.describe_resolution(in_gap, new_york.to_utc(in_gap)));
        CPPUNIT_ASSERT_EQUAL(
            std::string("2026-11-01 01:30 happens twice in America/New_York (clocks fall back from "
                        "02:00 to 01:00); booked for the first one, 01:30 EDT."),
            new_york.describe_resolution(in_overlap, new_york.to_utc(in_overlap)));
        CPPUNIT_ASSERT_EQUAL(std::string(),
                             new_york.describe_resolution(ordinary, new_york.to_utc(ordinary)));
        CPPUNIT_ASSERT_EQUAL(std::string("overlap_earlier_offset"),
                             std::string(sr::to_string(WallTimeResolution::OverlapEarlierOffset)));
    }

    void impossible_local_date_is_rejected_by_to_utc() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        CPPUNIT_ASSERT_THROW(new_york.to_utc({2026, 2, 30, 10, 0}), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(new_york.to_utc({2026, 7, 15, 24, 0}), std::invalid_argument);
        CPPUNIT_ASSERT_THROW(new_york.to_utc({2026, 13, 1, 10, 0}), std::invalid_argument);
    }

    void unknown_zone_error_names_the_zone_and_the_directory() {
        try {
            ClinicZone::load("Mars/Olympus_Mons");
            CPPUNIT_FAIL("an unknown zone must be refused");
        } catch (const sr::UnknownTimeZone& error) {
            const std::string message = error.what();
            CPPUNIT_ASSERT_MESSAGE(message, contains(message, "unknown time zone \"Mars/Olympus_Mons\""));
            CPPUNIT_ASSERT_MESSAGE(
                message, contains(message, "not found in the OS tz database (" + sr::tz_directory() + ")"));
        }
        // Zone names are case-sensitive, as in the tz database.
        CPPUNIT_ASSERT_THROW(ClinicZone::load("america/new_york"), sr::UnknownTimeZone);
        CPPUNIT_ASSERT_THROW(ClinicZone::load("EST5EDT "), std::invalid_argument);  // base class works too
    }

    void zone_names_that_are_not_iana_names_are_refused() {
        for (const char* name :
             {"", "/etc/localtime", "../../etc/passwd", "file:/etc/localtime", "localtime",
              "right/America/New_York", "America//New_York", "America/New_York/", "Fixed/UTC+05:00:00"}) {
            CPPUNIT_ASSERT_THROW_MESSAGE(name, ClinicZone::load(name), sr::UnknownTimeZone);
        }
        // Backward-compatible links from the tz database still load.
        CPPUNIT_ASSERT_EQUAL(-5 * kHour,
                             ClinicZone::load("US/Eastern").utc_offset_seconds(utc(2026, 1, 1, 0, 0)));
    }

    void zones_are_loaded_from_tzdir_when_set() {
        // A private zone directory: copies of Asia/Tokyo under made-up names, and a version stamp.
        char directory_template[] = "/tmp/sr_clock_tzdir_XXXXXX";
        const char* directory = mkdtemp(directory_template);
        CPPUNIT_ASSERT(directory != nullptr);
        const std::string root = directory;
        CPPUNIT_ASSERT_EQUAL(0, mkdir((root + "/Clinic").c_str(), 0755));
        {
            std::ifstream tokyo(sr::tz_directory() + "/Asia/Tokyo", std::ios::binary);
            std::ofstream(root + "/Clinic/Test_Zone", std::ios::binary) << tokyo.rdbuf();
            tokyo.seekg(0);
            std::ofstream(root + "/Clinic/Other_Zone", std::ios::binary) << tokyo.rdbuf();
            std::ofstream(root + "/tzdata.zi") << "# version 2099z\n# Rule ...\n";
        }
        {
            ScopedTzDir scoped(root);
            CPPUNIT_ASSERT_EQUAL(root, sr::tz_directory());
            CPPUNIT_ASSERT_EQUAL(std::string("2099z"), sr::os_tz_rules_version());
            const ClinicZone zone = ClinicZone::load("Clinic/Test_Zone");
            CPPUNIT_ASSERT_EQUAL(9 * kHour, zone.utc_offset_seconds(utc(2026, 7, 15, 0, 0)));
            CPPUNIT_ASSERT_THROW(ClinicZone::load("Clinic/Missing"), sr::UnknownTimeZone);
        }
        // With TZDIR unset again, the private directory is not searched.
        CPPUNIT_ASSERT_THROW(ClinicZone::load("Clinic/Other_Zone"), sr::UnknownTimeZone);
        std::remove((root + "/Clinic/Test_Zone").c_str());
        std::remove((root + "/Clinic/Other_Zone").c_str());
        std::remove((root + "/tzdata.zi").c_str());
        rmdir((root + "/Clinic").c_str());
        rmdir(root.c_str());
    }

    void parse_local_date_time_accepts_form_input() {
        CPPUNIT_ASSERT_EQUAL((LocalDateTime{2026, 7, 15, 10, 0}),
                             *sr::parse_local_date_time("2026-07-15", "10:00"));
        CPPUNIT_ASSERT_EQUAL((LocalDateTime{2028, 2, 29, 0, 0}),
                             *sr::parse_local_date_time("2028-02-29", "00:00"));
        CPPUNIT_ASSERT_EQUAL((LocalDateTime{2026, 12, 31, 23, 59}),
                             *sr::parse_local_date_time("2026-12-31", "23:59"));
    }

    void parse_local_date_time_rejects_loose_or_impossible_input() {
        const std::vector<std::pair<std::string, std::string>> rejected = {
            {"2026-02-30", "10:00"},  {"2027-02-29", "10:00"},  {"2026-04-31", "10:00"},
            {"2026-13-01", "10:00"},  {"2026-00-10", "10:00"},  {"2026-07-00", "10:00"},
            {"0000-07-15", "10:00"},  {"2026-7-15", "10:00"},   {"2026/07/15", "10:00"},
            {"26-07-15", "10:00"},    {"2026-07-15 ", "10:00"}, {"", "10:00"},
            {"2026-07-15", "24:00"},  {"2026-07-15", "9:5"},    {"2026-07-15", "9:05"},
            {"2026-07-15", "09:5"},   {"2026-07-15", "10:60"},  {"2026-07-15", "10:00:00"},
            {"2026-07-15", " 10:00"}, {"2026-07-15", "10.00"},  {"2026-07-15", "10:00 AM"},
            {"2026-07-15", ""},       {"2026-07-15", "-1:00"},  {"+026-07-15", "10:00"}};
        for (const auto& [date, time] : rejected) {
            CPPUNIT_ASSERT_MESSAGE("'" + date + "' '" + time + "'", !sr::parse_local_date_time(date, time));
        }
    }

    void format_utc_iso_millis_is_what_sinch_wants() {
        CPPUNIT_ASSERT_EQUAL(std::string("2026-11-29T13:00:00.000Z"),
                             sr::format_utc_iso_millis(utc(2026, 11, 29, 13, 0)));
        CPPUNIT_ASSERT_EQUAL(std::string("1970-01-01T00:00:00.000Z"), sr::format_utc_iso_millis(Instant{}));
        CPPUNIT_ASSERT_EQUAL(std::string("2035-12-31T23:59:59.000Z"),
                             sr::format_utc_iso_millis(utc(2035, 12, 31, 23, 59, 59)));
    }

    void parse_iso_utc_accepts_z_offsets_and_optional_seconds_and_fractions() {
        const Instant expected = utc(2026, 11, 29, 13, 0);
        for (const char* text :
             {"2026-11-29T13:00:00.000Z", "2026-11-29T13:00:00Z", "2026-11-29T13:00Z", "2026-11-29t13:00:00z",
              "2026-11-29 13:00:00+00", "2026-11-29T08:00:00-05:00", "2026-11-29T08:00-0500",
              "2026-11-29T18:30:00.000+05:30", "2026-11-29T18:30+0530", "2026-11-29T13:00:00.999999Z"}) {
            const std::optional<Instant> parsed = sr::parse_iso_utc(text);
            CPPUNIT_ASSERT_MESSAGE(text, parsed.has_value());
            CPPUNIT_ASSERT_EQUAL_MESSAGE(text, expected, *parsed);
        }
        CPPUNIT_ASSERT_EQUAL(utc(2026, 11, 29, 13, 0, 42), *sr::parse_iso_utc("2026-11-29T13:00:42.5Z"));
        // Offsets can move the date: 2026-03-01T00:30+01:00 is still February in UTC.
        CPPUNIT_ASSERT_EQUAL(utc(2026, 2, 28, 23, 30), *sr::parse_iso_utc("2026-03-01T00:30+01:00"));
        // What we send to Sinch, we can read back.
        CPPUNIT_ASSERT_EQUAL(expected, *sr::parse_iso_utc(sr::format_utc_iso_millis(expected)));
    }

    void parse_iso_utc_rejects_times_without_offset_and_malformed_input() {
        for (const char* text :
             {"", "2026-11-29T13:00:00", "2026-11-29T13:00", "2026-11-29", "2026-02-30T13:00Z",
              "2026-11-29T24:00Z", "2026-11-29T13:60Z", "2026-11-29T13:00:60Z", "2026-11-29T13:00:00.Z",
              "2026-11-29T13:00:00.000Z ", " 2026-11-29T13:00Z", "2026-11-29T13:00+24:00",
              "2026-11-29T13:00+05:60", "2026-11-29T13:00+5", "2026-11-29T13:00+05:3", "2026-11-29X13:00Z",
              "2026-11-29T1:00Z", "2026-11-29T13:00UTC", "1764421200"}) {
            CPPUNIT_ASSERT_MESSAGE(text, !sr::parse_iso_utc(text).has_value());
        }
    }

    void format_local_iso_shows_the_os_offset() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        CPPUNIT_ASSERT_EQUAL(std::string("2026-11-28T14:30-05:00"),
                             new_york.format_local_iso(utc(2026, 11, 28, 19, 30)));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-11-28T14:30:15-05:00"),
                             new_york.format_local_iso(utc(2026, 11, 28, 19, 30, 15)));
        CPPUNIT_ASSERT_EQUAL(
            std::string("2026-07-15T10:00-06:00"),
            ClinicZone::load("America/Mexico_City").format_local_iso(utc(2026, 7, 15, 16, 0)));
        CPPUNIT_ASSERT_EQUAL(std::string("2026-07-15T21:45+05:45"),
                             ClinicZone::load("Asia/Kathmandu").format_local_iso(utc(2026, 7, 15, 16, 0)));
    }

    void format_en_us_uses_os_offset_and_abbreviation() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        CPPUNIT_ASSERT_EQUAL(std::string("Sat, Nov 28, 2026, 2:30 PM EST"),
                             new_york.format(utc(2026, 11, 28, 19, 30), "en_US"));
        CPPUNIT_ASSERT_EQUAL(std::string("Wed, Jul 15, 2026, 10:00 AM EDT"),
                             new_york.format(utc(2026, 7, 15, 14, 0), "en_US"));
        // ICU's own 2022e rules would print "11:00 AM CDT" here.
        const std::string mexico =
            ClinicZone::load("America/Mexico_City").format(utc(2026, 7, 15, 16, 0), "en_US");
        CPPUNIT_ASSERT_EQUAL(std::string("Wed, Jul 15, 2026, 10:00 AM CST"), mexico);
        CPPUNIT_ASSERT_MESSAGE(mexico, !contains(mexico, "CDT"));
        // Zones whose OS abbreviation is numeric are shown as UTC offsets.
        CPPUNIT_ASSERT_EQUAL(std::string("Wed, Jul 15, 2026, 9:00 PM UTC+05"),
                             ClinicZone::load("Asia/Almaty").format(utc(2026, 7, 15, 16, 0), "en_US"));
        CPPUNIT_ASSERT_EQUAL(std::string("Wed, Jul 15, 2026, 1:00 PM UTC-03"),
                             ClinicZone::load("America/Asuncion").format(utc(2026, 7, 15, 16, 0), "en_US"));
    }

    void format_follows_the_locale_and_stays_sms_friendly() {
        const ClinicZone berlin = ClinicZone::load("Europe/Berlin");
        const Instant appointment = utc(2026, 7, 15, 12, 30);  // 14:30 CEST
        const std::string german = berlin.format(appointment, "de_DE");
        CPPUNIT_ASSERT_MESSAGE(german, contains(german, "15. Juli 2026"));
        CPPUNIT_ASSERT_MESSAGE(german, contains(german, "14:30 CEST"));
        const std::string british = berlin.format(appointment, "en_GB");
        CPPUNIT_ASSERT_MESSAGE(british, contains(british, "15 Jul 2026") && contains(british, "14:30 CEST"));
        // ICU 72 separates "2:30" and "PM" with U+202F, which is not in the GSM-7 SMS alphabet.
        const std::string american = berlin.format(appointment, "en_US");
        CPPUNIT_ASSERT_MESSAGE(american, contains(american, "2:30 PM CEST"));
        CPPUNIT_ASSERT_MESSAGE(american,
                               !contains(american, "\xE2\x80\xAF") && !contains(american, "\xC2\xA0"));
    }

    void format_is_safe_from_many_threads() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const std::string expected = "Sat, Nov 28, 2026, 2:30 PM EST";
        std::vector<std::thread> threads;
        std::vector<int> mismatches(8, 0);
        for (size_t t = 0; t < mismatches.size(); ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 50; ++i) {
                    if (new_york.format(utc(2026, 11, 28, 19, 30),
                                        t % 2 ? "en_US" : "en_US@calendar=gregorian") != expected) {
                        ++mismatches[t];
                    }
                }
            });
        }
        for (std::thread& thread : threads) thread.join();
        for (const int count : mismatches) CPPUNIT_ASSERT_EQUAL(0, count);
    }

    // Formatters are reused per thread: each call must still use its own instant's offset and zone.
    void format_applies_each_instants_own_offset_in_turn() {
        const ClinicZone new_york = ClinicZone::load("America/New_York");
        const ClinicZone kathmandu = ClinicZone::load("Asia/Kathmandu");
        for (int round = 0; round < 2; ++round) {
            CPPUNIT_ASSERT_EQUAL(std::string("2:30 PM"),
                                 new_york.format_skeleton(utc(2026, 11, 28, 19, 30), u"jmm", "en_US"));
            CPPUNIT_ASSERT_EQUAL(std::string("10:00 AM"),
                                 new_york.format_skeleton(utc(2026, 7, 15, 14, 0), u"jmm", "en_US"));
            CPPUNIT_ASSERT_EQUAL(std::string("9:45 PM"),
                                 kathmandu.format_skeleton(utc(2026, 7, 15, 16, 0), u"jmm", "en_US"));
            CPPUNIT_ASSERT_EQUAL(std::string("EDT"), new_york.display_abbreviation(utc(2026, 7, 15, 14, 0)));
            CPPUNIT_ASSERT_EQUAL(std::string("UTC+05:45"),
                                 kathmandu.display_abbreviation(utc(2026, 7, 15, 16, 0)));
            CPPUNIT_ASSERT_EQUAL(std::string("Sat, Nov 28, 2026, 2:30 PM EST"),
                                 new_york.format(utc(2026, 11, 28, 19, 30), "en_US"));
            CPPUNIT_ASSERT_EQUAL(std::string("Wed, Jul 15, 2026, 10:00 AM EDT"),
                                 new_york.format(utc(2026, 7, 15, 14, 0), "en_US"));
        }
        CPPUNIT_ASSERT_THROW(new_york.format_skeleton(utc(2026, 7, 15, 14, 0), u"jmm", "@@@"),
                             std::exception);
    }

    void tz_rules_versions_compare_by_year_then_letter() {
        CPPUNIT_ASSERT(sr::tz_rules_older("2022e", "2025b"));
        CPPUNIT_ASSERT(sr::tz_rules_older("2025a", "2025b"));
        CPPUNIT_ASSERT(sr::tz_rules_older("2025z", "2026a"));
        CPPUNIT_ASSERT(!sr::tz_rules_older("2025b", "2022e"));
        CPPUNIT_ASSERT(!sr::tz_rules_older("2025b", "2025b"));
        CPPUNIT_ASSERT(!sr::tz_rules_older("", "2025b"));
        CPPUNIT_ASSERT(!sr::tz_rules_older("2025b", "unknown"));
        CPPUNIT_ASSERT(!sr::tz_rules_older("2022E", "2025b"));
    }

    void rules_versions_are_reported() {
        // The OS version is what offsets are computed with; ICU's is only reported.
        const std::string os = sr::os_tz_rules_version();
        const std::string icu = sr::icu_tz_rules_version();
        CPPUNIT_ASSERT_MESSAGE("OS tz version '" + os + "'",
                               os.size() >= 5 && !sr::tz_rules_older(os, "2024b"));
        CPPUNIT_ASSERT_MESSAGE("ICU tz version '" + icu + "'", icu.size() >= 5);
        CPPUNIT_ASSERT(sr::tz_rules_older(icu, os) || icu == os || sr::tz_rules_older(os, icu));
    }
};

CPPUNIT_TEST_SUITE_REGISTRATION(ClockTest);
