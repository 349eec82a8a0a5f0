// sr_tz_all_zones: checks sr::ClinicZone against glibc for every zone in the OS's tz database.
//
// Zone names: every `Z` (zone) and `L` (link) line of <tzdir>/tzdata.zi. That file is the exact input zic
// compiled the directory from, so it lists every name the OS resolves, including backward-compatible links
// such as "US/Eastern" that old records may carry. zone1970.tab + backward would miss zones that are kept
// only for compatibility and the Etc/ zones.
//
// Reference: glibc, given TZ=":<name>" (it reads the same compiled files, with its own parser and its own
// POSIX-TZ-footer logic). For each zone, the transitions between 2026-01-01 and 2035-12-31 are found by
// scanning glibc's localtime_r day by day and bisecting to the second; that list must equal the one Abseil
// reports, so two transitions inside one day cannot slip through. Around each transition T (offset `pre`
// before, `post` after):
//   UTC -> local at T-1h, T-1s, T, T+1h and mid-way to the next transition: wall time (to the minute),
//     UTC offset and abbreviation must equal localtime_r's.
//   local -> UTC for the wall times 1h before and after T, mid-season, the last minute before the
//     discontinuity, the first minute after it, and the first, middle and last minute of the gap or overlap.
//     glibc decides what kind of wall time it is: each candidate offset o is valid iff localtime_r(W - o)
//     reads W back with offset o.
//       one valid candidate  -> Exact, that instant; glibc mktime(tm_isdst = -1) must agree too.
//       two (an overlap)     -> OverlapEarlierOffset, the earlier instant (the offset before the change);
//                               mktime's answer must be one of the two; strict mode must throw.
//       none (a gap)         -> GapShiftedForward, W read with `pre` (moved forward by the gap's length),
//                               local_used = localtime_r of that instant; strict mode must throw.
// Exit status 1 on any mismatch, or if fewer than 300 zones or no gaps/overlaps were checked.
#include <absl/time/time.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace {

using sr::ClinicZone;
using sr::Instant;
using sr::LocalDateTime;

constexpr long kMinute = 60;
constexpr long kHour = 3600;
constexpr long kDay = 86400;
constexpr int kMinimumZones = 300;
constexpr size_t kMaxMismatchesPrinted = 200;

// What glibc says about one instant in the current TZ.
struct GlibcLocal {
    LocalDateTime local;
    long offset;
    bool is_dst;
    std::string abbreviation;

    bool same_rules_as(const GlibcLocal& other) const {
        return offset == other.offset && is_dst == other.is_dst && abbreviation == other.abbreviation;
    }
};

GlibcLocal glibc_local(long utc_seconds) {
    const std::time_t t = utc_seconds;
    std::tm fields{};
    localtime_r(&t, &fields);
    return GlibcLocal{
        {fields.tm_year + 1900, fields.tm_mon + 1, fields.tm_mday, fields.tm_hour, fields.tm_min},
        fields.tm_gmtoff,
        fields.tm_isdst > 0,
        fields.tm_zone != nullptr ? fields.tm_zone : ""};
}

// The wall time read as if it were UTC, in seconds (glibc's timegm ignores TZ).
long as_if_utc(const LocalDateTime& local) {
    std::tm fields{};
    fields.tm_year = local.year - 1900;
    fields.tm_mon = local.month - 1;
    fields.tm_mday = local.day;
    fields.tm_hour = local.hour;
    fields.tm_min = local.minute;
    return timegm(&fields);
}

LocalDateTime wall_time_at(long utc_seconds, long offset) {
    const std::time_t shifted = utc_seconds + offset;
    std::tm fields{};
    gmtime_r(&shifted, &fields);
    return {fields.tm_year + 1900, fields.tm_mon + 1, fields.tm_mday, fields.tm_hour, fields.tm_min};
}

LocalDateTime plus_minutes(const LocalDateTime& local, long minutes) {
    return wall_time_at(as_if_utc(local) + minutes * kMinute, 0);
}

long glibc_mktime(const LocalDateTime& local) {
    std::tm fields{};
    fields.tm_year = local.year - 1900;
    fields.tm_mon = local.month - 1;
    fields.tm_mday = local.day;
    fields.tm_hour = local.hour;
    fields.tm_min = local.minute;
    fields.tm_isdst = -1;
    return mktime(&fields);
}

long seconds(Instant instant) { return instant.time_since_epoch().count(); }
Instant instant(long utc_seconds) { return Instant(std::chrono::seconds(utc_seconds)); }

std::string iso(long utc_seconds) { return sr::format_utc_iso_millis(instant(utc_seconds)); }

std::string describe(const LocalDateTime& local) { return sr::to_iso_string(local); }

std::vector<std::string> zone_names_from_tzdata_zi(const std::string& path) {
    std::ifstream file(path);
    std::vector<std::string> names;
    std::string line;
    while (std::getline(file, line)) {
        std::istringstream fields(line);
        std::string kind, first, second;
        fields >> kind >> first >> second;
        if (kind == "Z") names.push_back(first);   // Z NAME STDOFF RULES FORMAT [UNTIL]
        if (kind == "L") names.push_back(second);  // L TARGET LINK-NAME
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

class Checker {
  public:
    Checker(long window_start, long window_end) : window_start_(window_start), window_end_(window_end) {}

    void check_zone(const std::string& name, const std::string& tz_directory) {
        struct stat info {};
        if (stat((tz_directory + "/" + name).c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
            mismatch(name, "listed in tzdata.zi but no compiled file in " + tz_directory);
            return;
        }
        std::optional<ClinicZone> zone;
        try {
            zone = ClinicZone::load(name);
        } catch (const std::exception& error) {
            mismatch(name, std::string("ClinicZone::load failed: ") + error.what());
            return;
        }
        absl::TimeZone absl_zone;
        if (!absl::LoadTimeZone(name, &absl_zone)) {
            mismatch(name, "absl::LoadTimeZone failed");
            return;
        }
        setenv("TZ", (":" + name).c_str(), 1);
        tzset();
        ++zones_checked_;

        const std::vector<long> transitions = glibc_transitions();
        compare_transition_lists(name, transitions, absl_transitions(absl_zone));

        // Segment boundaries: window start, each transition, window end.
        std::vector<long> boundaries{window_start_};
        boundaries.insert(boundaries.end(), transitions.begin(), transitions.end());
        boundaries.push_back(window_end_);
        for (size_t i = 0; i + 1 < boundaries.size(); ++i) {
            const long mid_season = boundaries[i] + (boundaries[i + 1] - boundaries[i]) / 2;
            check_instant(name, *zone, mid_season);
            check_wall_time(name, *zone, glibc_local(mid_season).local, "mid-season", {});
        }
        check_instant(name, *zone, window_start_);
        check_instant(name, *zone, window_end_ - 1);
        for (const long transition : transitions) check_transition(name, *zone, transition);
    }

    int report(double elapsed_seconds, const std::string& source) const {
        std::printf("tz_all_zones: rules %s from %s (ICU built-in %s is not used for offsets)\n",
                    sr::os_tz_rules_version().c_str(), source.c_str(), sr::icu_tz_rules_version().c_str());
        std::printf(
            "tz_all_zones: %d zones, %ld transitions from 2026-01-01 to 2035-12-31 (%ld gaps, %ld overlaps, "
            "%ld without a wall-clock jump)\n",
            zones_checked_, transitions_, gaps_, overlaps_, other_transitions_);
        std::printf(
            "tz_all_zones: %ld comparisons (%ld UTC->local, %ld local->UTC of which %ld in gaps and %ld in "
            "overlaps), %zu mismatches, %.2f s\n",
            utc_to_local_checks_ + local_to_utc_checks_, utc_to_local_checks_, local_to_utc_checks_,
            gap_wall_times_, overlap_wall_times_, mismatches_, elapsed_seconds);
        bool vacuous = false;
        if (zones_checked_ < kMinimumZones) {
            std::printf("tz_all_zones: FAIL only %d zones checked (expected at least %d)\n", zones_checked_,
                        kMinimumZones);
            vacuous = true;
        }
        if (gap_wall_times_ == 0 || overlap_wall_times_ == 0) {
            std::printf("tz_all_zones: FAIL no gap or no overlap was checked\n");
            vacuous = true;
        }
        if (mismatches_ > 0 || vacuous) return 1;
        std::printf("tz_all_zones: OK\n");
        return 0;
    }

  private:
    // Transition instants (first second of the new rules) by glibc: daily scan, then bisection.
    std::vector<long> glibc_transitions() const {
        std::vector<long> transitions;
        long previous_time = window_start_;
        GlibcLocal previous = glibc_local(previous_time);
        while (previous_time < window_end_) {
            const long next_time = std::min(previous_time + kDay, window_end_);
            const GlibcLocal next = glibc_local(next_time);
            if (next.same_rules_as(previous)) {
                previous_time = next_time;
                continue;
            }
            long unchanged = previous_time, changed = next_time;
            while (changed - unchanged > 1) {
                const long middle = unchanged + (changed - unchanged) / 2;
                (glibc_local(middle).same_rules_as(previous) ? unchanged : changed) = middle;
            }
            if (changed < window_end_) transitions.push_back(changed);
            previous_time = changed;
            previous = glibc_local(changed);
        }
        return transitions;
    }

    std::vector<long> absl_transitions(const absl::TimeZone& zone) const {
        std::vector<long> transitions;
        absl::Time cursor = absl::FromUnixSeconds(window_start_);
        absl::TimeZone::CivilTransition transition;
        while (zone.NextTransition(cursor, &transition)) {
            const absl::Time at = zone.At(transition.to).trans;
            if (absl::ToUnixSeconds(at) >= window_end_) break;
            transitions.push_back(absl::ToUnixSeconds(at));
            cursor = at;
        }
        return transitions;
    }

    void compare_transition_lists(const std::string& name, const std::vector<long>& glibc,
                                  const std::vector<long>& absl) {
        if (glibc == absl) return;
        std::ostringstream text;
        text << "transition lists differ: glibc " << glibc.size() << ", Abseil " << absl.size() << ";";
        std::vector<long> only_glibc, only_absl;
        std::set_difference(glibc.begin(), glibc.end(), absl.begin(), absl.end(),
                            std::back_inserter(only_glibc));
        std::set_difference(absl.begin(), absl.end(), glibc.begin(), glibc.end(),
                            std::back_inserter(only_absl));
        for (const long t : only_glibc) text << " glibc-only " << iso(t);
        for (const long t : only_absl) text << " Abseil-only " << iso(t);
        mismatch(name, text.str());
    }

    void check_transition(const std::string& name, const ClinicZone& zone, long transition) {
        ++transitions_;
        const long pre = glibc_local(transition - 1).offset;
        const long post = glibc_local(transition).offset;
        for (const long at : {transition - kHour, transition - 1, transition, transition + kHour}) {
            check_instant(name, zone, at);
        }
        const std::vector<long> offsets{pre, post};
        check_wall_time(name, zone, glibc_local(transition - kHour).local, "1h before", offsets);
        check_wall_time(name, zone, glibc_local(transition + kHour).local, "1h after", offsets);
        // Wall clock just before the change and the first wall time after it, in the new offset.
        const LocalDateTime clock_at_change_before = wall_time_at(transition, pre);
        const LocalDateTime clock_at_change_after = wall_time_at(transition, post);
        check_wall_time(name, zone, plus_minutes(clock_at_change_before, -1), "last minute before", offsets);
        if (post > pre) {
            ++gaps_;
            const long gap_minutes = (post - pre) / kMinute;
            for (const long minute : {0L, gap_minutes / 2, gap_minutes - 1}) {
                check_wall_time(name, zone, plus_minutes(clock_at_change_before, minute), "in gap", offsets);
            }
            check_wall_time(name, zone, clock_at_change_after, "gap end", offsets);
        } else if (post < pre) {
            ++overlaps_;
            const long overlap_minutes = (pre - post) / kMinute;
            for (const long minute : {0L, overlap_minutes / 2, overlap_minutes - 1}) {
                check_wall_time(name, zone, plus_minutes(clock_at_change_after, minute), "in overlap",
                                offsets);
            }
            check_wall_time(name, zone, clock_at_change_before, "overlap end", offsets);
        } else {
            ++other_transitions_;  // only the abbreviation or the DST flag changes
        }
    }

    void check_instant(const std::string& name, const ClinicZone& zone, long at) {
        ++utc_to_local_checks_;
        const GlibcLocal expected = glibc_local(at);
        const LocalDateTime local = zone.to_local(instant(at));
        const int offset = zone.utc_offset_seconds(instant(at));
        const std::string abbreviation = zone.abbreviation(instant(at));
        if (local != expected.local || offset != expected.offset || abbreviation != expected.abbreviation) {
            mismatch(name, "UTC->local at " + iso(at) + ": got " + describe(local) + " offset " +
                               std::to_string(offset) + " " + abbreviation + ", glibc " +
                               describe(expected.local) + " offset " + std::to_string(expected.offset) + " " +
                               expected.abbreviation);
        }
    }

    void check_wall_time(const std::string& name, const ClinicZone& zone, const LocalDateTime& wall,
                         const char* what, std::vector<long> candidate_offsets) {
        ++local_to_utc_checks_;
        const long wall_as_utc = as_if_utc(wall);
        // Offsets in force around the wall time, plus the transition's own two.
        for (const long probe : {wall_as_utc - 15 * kHour, wall_as_utc, wall_as_utc + 15 * kHour}) {
            candidate_offsets.push_back(glibc_local(probe).offset);
        }
        std::set<long> valid;  // instants that glibc reads back as exactly this wall time
        for (const long offset : candidate_offsets) {
            const GlibcLocal back = glibc_local(wall_as_utc - offset);
            if (back.offset == offset && back.local == wall) valid.insert(wall_as_utc - offset);
        }
        const std::string context = std::string(what) + " " + describe(wall) + ": ";

        sr::ResolvedTime resolved{};
        try {
            resolved = zone.to_utc(wall);
        } catch (const std::exception& error) {
            mismatch(name, context + "to_utc threw " + error.what());
            return;
        }
        const long got = seconds(resolved.utc);
        const std::string got_text = iso(got) + " (" + sr::to_string(resolved.resolution) + ")";

        if (valid.size() == 1) {
            const long expected = *valid.begin();
            const long from_mktime = glibc_mktime(wall);
            if (resolved.resolution != sr::WallTimeResolution::Exact || got != expected ||
                resolved.local_used != wall || from_mktime != expected) {
                mismatch(name, context + "got " + got_text + ", glibc " + iso(expected) + " (mktime " +
                                   iso(from_mktime) + ")");
            }
            expect_strict(name, zone, wall, context, false);
        } else if (valid.size() == 2) {
            ++overlap_wall_times_;
            const long earlier = *valid.begin();
            const long from_mktime = glibc_mktime(wall);
            if (resolved.resolution != sr::WallTimeResolution::OverlapEarlierOffset || got != earlier ||
                resolved.local_used != wall || valid.count(from_mktime) == 0) {
                mismatch(name, context + "overlap: got " + got_text + ", glibc candidates " + iso(earlier) +
                                   " and " + iso(*valid.rbegin()) + " (mktime " + iso(from_mktime) + ")");
            }
            expect_strict(name, zone, wall, context, true);
        } else if (valid.empty()) {
            ++gap_wall_times_;
            // Move forward by the gap's length == read the wall time with the offset before the gap.
            const long offset_before_gap = gap_offset_before(wall_as_utc);
            const long expected = wall_as_utc - offset_before_gap;
            const LocalDateTime expected_local = glibc_local(expected).local;
            if (resolved.resolution != sr::WallTimeResolution::GapShiftedForward || got != expected ||
                resolved.local_used != expected_local) {
                mismatch(name, context + "gap: got " + got_text + " local_used " +
                                   describe(resolved.local_used) + ", expected " + iso(expected) + " local " +
                                   describe(expected_local));
            }
            expect_strict(name, zone, wall, context, true);
        } else {
            mismatch(name, context + "glibc reads it back at " + std::to_string(valid.size()) + " instants");
        }
    }

    // For a wall time W in a gap: the offset in force just before the gap, from glibc. The wall clock
    // m + offset(m) rises with m and jumps over W at the gap's transition, so bisect for the last instant
    // whose wall clock is still <= W. UTC offsets lie within -12 h..+14 h, hence the ±27 h bracket.
    long gap_offset_before(long wall_as_utc) const {
        long before = wall_as_utc - 27 * kHour, after = wall_as_utc + 27 * kHour;
        while (after - before > 1) {
            const long middle = before + (after - before) / 2;
            const long wall_then = middle + glibc_local(middle).offset;
            (wall_then <= wall_as_utc ? before : after) = middle;
        }
        return glibc_local(before).offset;
    }

    void expect_strict(const std::string& name, const ClinicZone& zone, const LocalDateTime& wall,
                       const std::string& context, bool should_throw) {
        bool threw = false;
        try {
            zone.to_utc(wall, sr::WallTimePolicy::Strict);
        } catch (const sr::WallTimeError&) {
            threw = true;
        } catch (const std::exception& error) {
            mismatch(name, context + "strict mode threw the wrong exception: " + error.what());
            return;
        }
        if (threw != should_throw) {
            mismatch(name, context + (should_throw ? "strict mode accepted it" : "strict mode refused it"));
        }
    }

    void mismatch(const std::string& name, const std::string& what) {
        if (++mismatches_ <= kMaxMismatchesPrinted)
            std::printf("MISMATCH %s: %s\n", name.c_str(), what.c_str());
        if (mismatches_ == kMaxMismatchesPrinted + 1)
            std::printf("(further mismatches are counted, not printed)\n");
    }

    long window_start_, window_end_;
    int zones_checked_ = 0;
    long transitions_ = 0, gaps_ = 0, overlaps_ = 0, other_transitions_ = 0;
    long utc_to_local_checks_ = 0, local_to_utc_checks_ = 0, gap_wall_times_ = 0, overlap_wall_times_ = 0;
    size_t mismatches_ = 0;
};

}  // namespace

int main() {
    const auto started = std::chrono::steady_clock::now();
    const std::string tz_directory = sr::tz_directory();
    const std::string source = tz_directory + "/tzdata.zi";
    const std::vector<std::string> names = zone_names_from_tzdata_zi(source);
    if (names.empty()) {
        std::printf("tz_all_zones: FAIL no zone names in %s\n", source.c_str());
        return 1;
    }
    std::tm start{}, end{};
    start.tm_year = 2026 - 1900, start.tm_mday = 1;  // 2026-01-01T00:00Z
    end.tm_year = 2036 - 1900, end.tm_mday = 1;      // 2036-01-01T00:00Z (exclusive)
    Checker checker(timegm(&start), timegm(&end));
    for (const std::string& name : names) checker.check_zone(name, tz_directory);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return checker.report(elapsed, source);
}
