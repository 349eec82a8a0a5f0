#!/usr/bin/env python3
"""SinchReminderSchedule x quiet hours x DST, against Python's zoneinfo (issue 13 item 7).

For appointments around every DST transition of 2026-2028 in zones with a one-hour change (New York,
London), a southern-hemisphere one (Sydney), a 30-minute one (Lord Howe) and one without DST (Tokyo), at many
times of day, and for schedules mixing durations and Nd@HH:MM wall times (some in the gaps and overlaps) with and
without quiet hours, this computes the reminders independently here, with zoneinfo and the README's rules:
  - a duration entry is elapsed time before the appointment;
  - Nd@HH:MM is N calendar days before the appointment's clinic-local day, at that wall time, fold=0 (a time in a
    gap is read with the offset before the change, i.e. moved forward by the gap; in an overlap the first);
  - inside the quiet hours it moves to the last minute before the period began (a period that wraps past
    midnight began the day before for the early-morning part), that minute read with fold=0;
  - at or after the appointment: left out; the same minute as an earlier entry's: left out; all left out: the
    first entry's, marked "after";
and compares with what sr_schedule_cases (the module's code) answers. Exit 1 on any difference."""
import datetime
import subprocess
import sys
from zoneinfo import ZoneInfo

UTC = datetime.timezone.utc
ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Tokyo"]
SCHEDULES = [["1d@18:00", "2h"], ["0d@07:00", "90m"], ["2d@02:30", "1d@01:30", "0d@02:15"], ["1d", "3h", "1d@09:00"],
             ["1d@22:00", "2h", "1d@12:00"], ["0d@06:00"]]
QUIET = ["off", "21:00-08:00", "01:00-03:00", "12:00-13:30"]


def parse_quiet(text):
    if text == "off":
        return None
    start, end = text.split("-")
    to_minutes = lambda hhmm: int(hhmm[:2]) * 60 + int(hhmm[3:])
    return to_minutes(start), to_minutes(end)


def in_quiet(quiet, minute):
    start, end = quiet
    return start <= minute < end if start < end else (minute >= start or minute < end)


def wall_to_utc(zone, date, minute_of_day):
    local = datetime.datetime(date.year, date.month, date.day, minute_of_day // 60, minute_of_day % 60, tzinfo=zone,
                              fold=0)
    return local.astimezone(UTC)


def out_of_quiet(slot_utc, quiet, zone):
    if quiet is None:
        return slot_utc
    local = slot_utc.astimezone(zone)
    minute = local.hour * 60 + local.minute
    if not in_quiet(quiet, minute):
        return slot_utc
    start, end = quiet
    began_day = local.date() - datetime.timedelta(days=1) if (start > end and minute < end) else local.date()
    if start == 0:
        return wall_to_utc(zone, began_day - datetime.timedelta(days=1), 23 * 60 + 59)
    return wall_to_utc(zone, began_day, start - 1)


def entry_utc(entry, starts_utc, zone):
    if "@" in entry:
        days, hhmm = entry.split("d@")
        day = starts_utc.astimezone(zone).date() - datetime.timedelta(days=int(days))
        return wall_to_utc(zone, day, int(hhmm[:2]) * 60 + int(hhmm[3:]))
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return starts_utc - datetime.timedelta(seconds=int(entry[:-1]) * units[entry[-1]])


def expected(zone_name, starts_epoch, quiet_text, schedule):
    zone = ZoneInfo(zone_name)
    quiet = parse_quiet(quiet_text)
    starts = datetime.datetime.fromtimestamp(starts_epoch, UTC)
    planned = []
    for slot, entry in enumerate(schedule, 1):
        send = out_of_quiet(entry_utc(entry, starts, zone), quiet, zone)
        if send >= starts:
            continue
        if any(int(p.timestamp()) // 60 == int(send.timestamp()) // 60 for _, p in planned):
            continue
        planned.append((slot, send))
    if not planned:
        send = out_of_quiet(entry_utc(schedule[0], starts, zone), quiet, zone)
        return f"1:{int(send.timestamp())}:after"
    return " ".join(f"{slot}:{int(send.timestamp())}" for slot, send in planned)


def transitions(zone, year):
    """The UTC instants in `year` where the zone's offset changes (to the minute)."""
    found = []
    t = datetime.datetime(year, 1, 1, tzinfo=UTC)
    end = datetime.datetime(year + 1, 1, 1, tzinfo=UTC)
    step = datetime.timedelta(hours=6)
    while t < end:
        if t.astimezone(zone).utcoffset() != (t + step).astimezone(zone).utcoffset():
            lo, hi = t, t + step
            while hi - lo > datetime.timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(zone).utcoffset() == lo.astimezone(zone).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        t += step
    return found


def cases():
    for zone_name in ZONES:
        zone = ZoneInfo(zone_name)
        anchors = [datetime.datetime(2027, 6, 15, 12, tzinfo=UTC)]
        for year in (2026, 2027, 2028):
            anchors += transitions(zone, year)
        for anchor in anchors:
            for day_offset in (-1, 0, 1, 2):
                day = anchor.astimezone(zone).date() + datetime.timedelta(days=day_offset)
                for hhmm in ("00:30", "01:30", "02:30", "06:00", "07:45", "09:00", "13:00", "23:30"):
                    starts = wall_to_utc(zone, day, int(hhmm[:2]) * 60 + int(hhmm[3:]))
                    for schedule in SCHEDULES:
                        for quiet in QUIET:
                            yield zone_name, int(starts.timestamp()), quiet, schedule


def main():
    tool = sys.argv[1]
    all_cases = list(cases())
    request = "".join(f"{z} {s} {q} {' '.join(sched)}\n" for z, s, q, sched in all_cases)
    answers = subprocess.run([tool], input=request, capture_output=True, text=True, check=True).stdout.splitlines()
    if len(answers) != len(all_cases):
        print(f"{tool} answered {len(answers)} lines for {len(all_cases)} cases")
        return 1
    differences = 0
    for (z, s, q, sched), got in zip(all_cases, answers):
        want = expected(z, s, q, sched)
        if got != want:
            differences += 1
            if differences <= 20:
                starts = datetime.datetime.fromtimestamp(s, UTC).astimezone(ZoneInfo(z))
                print(f"{z} {starts.isoformat()} quiet {q} schedule {' '.join(sched)}: module {got}, zoneinfo {want}")
    print(f"{len(all_cases)} cases, {differences} differences")
    return 1 if differences or len(all_cases) < 1000 else 0


if __name__ == "__main__":
    sys.exit(main())
