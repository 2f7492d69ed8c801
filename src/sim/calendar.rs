//! Calendars: the local days, working hours, holidays and shipping days
//! that decide when devices arrive and when people work.
//!
//! Design decisions, and why:
//!
//! * **IANA time zones with their daylight-saving rules**, from the tz
//!   database bundled into the binary (`jiff` with `tzdb-bundle-always`):
//!   a site in `Europe/Berlin` works 08:00–17:00 Berlin time on both sides
//!   of the spring change, and a run gives the same answer on any machine
//!   whatever its own zone files say. Fixed offsets would put a depot's
//!   shift an hour off for half the year.
//! * **Time zero is 00:00 of `start_date` in the calendar's zone**
//!   (default UTC); every site's local day is computed from there. The
//!   default start date, 2024-01-01, is a Monday, so a scenario without
//!   dates keeps the "hours from Monday 00:00" reading of its start hours.
//! * **Everything is turned into absolute ticks once**, when the scenario
//!   is resolved: the start of each local day of each site, which days
//!   ship and which are worked, and the capacity changes of technicians
//!   and admins over the horizon. The event loop never converts a time.
//! * **A device never arrives on a day it cannot**: an arrival that falls
//!   on a non-shipping day or a holiday at its site moves to the same
//!   local clock time of the next shipping day. Shipping carriers and
//!   receiving docks keep to days; the spread within a day is kept. Where
//!   users power devices on at home (no depot), the day must also be a
//!   working day of the user's site: people unbox work laptops on work
//!   days.
//! * **Work is not preempted**: a technician or admin who starts a task
//!   inside working hours finishes it (as the weekly shifts always did);
//!   no task starts outside them.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::engine::{Tick, MINUTE};
use super::scenario::{parse_clock_range, parse_days, CalendarSpec, Shift};

/// The start date when a calendar names none: a Monday.
pub const DEFAULT_START_DATE: &str = "2024-01-01";

/// Days past the horizon the day tables cover, so an arrival deferred over
/// a long holiday still finds its day.
const SPARE_DAYS: i64 = 62;

/// One site's local days over the horizon.
#[derive(Clone, Debug)]
pub struct SiteDays {
    /// Start of each local day, ticks from time zero (day 0 is the local
    /// day holding time zero; the first may start before it and is clamped).
    pub starts: Vec<Tick>,
    /// Per day: a shipping day that is no holiday.
    pub ships: Vec<bool>,
    /// Per day: a working day that is no holiday.
    pub works: Vec<bool>,
    /// Per day: its date.
    pub dates: Vec<Date>,
    /// Whether arrivals must also fall on a working day (field waves).
    pub field: bool,
}

impl SiteDays {
    /// The index of the local day holding `t`.
    fn day_of(&self, t: Tick) -> usize {
        self.starts.partition_point(|&s| s <= t).saturating_sub(1)
    }

    /// `t`, or the same local clock time of the next day a device may
    /// arrive on; `None` when there is none within the tables.
    pub fn defer(&self, t: Tick) -> Option<Tick> {
        let d = self.day_of(t);
        let ok = |i: usize| self.ships.get(i).copied().unwrap_or(false) && (!self.field || self.works[i]);
        if ok(d) {
            return Some(t);
        }
        let offset = t.saturating_sub(self.starts.get(d).copied().unwrap_or(0));
        let next = (d + 1..self.starts.len().saturating_sub(1)).find(|&i| ok(i))?;
        let (start, end) = (self.starts[next], self.starts[next + 1]);
        // A day with a DST change is an hour shorter or longer: stay in it.
        Some((start + offset).min(end.saturating_sub(1)))
    }
}

/// A resolved calendar.
#[derive(Clone, Debug)]
pub struct Calendar {
    /// The calendar's own zone (admins work in it).
    pub zone: TimeZone,
    /// The zone's name, as written.
    pub zone_name: String,
    /// Time zero as an instant.
    pub origin: Timestamp,
    /// Per site, its zone.
    pub site_zones: Vec<TimeZone>,
    /// Per site, its days.
    pub days: Vec<SiteDays>,
    /// Admin queue capacity changes: (tick, admins).
    pub admin_changes: Vec<(Tick, u32)>,
    /// Working days of the week (0 = Monday).
    pub working_days: Vec<u32>,
    /// Technician hours when a depot has no shifts: minutes of the day.
    pub working_hours: (u32, u32),
    /// Holidays: nobody works and nothing ships.
    pub holidays: Vec<Date>,
}

/// What went wrong, with the key it concerns.
#[derive(Debug)]
pub struct CalendarError {
    /// Dotted key path.
    pub key: String,
    /// What was expected.
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> CalendarError {
    CalendarError { key: key.to_string(), message: message.into() }
}

/// Looks an IANA zone up, naming the key on failure.
pub fn zone(name: &str, key: &str) -> Result<TimeZone, CalendarError> {
    TimeZone::get(name.trim()).map_err(|_| {
        err(
            key,
            format!("unknown time zone {name:?}; use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\""),
        )
    })
}

/// Reads a `YYYY-MM-DD` date, naming the key on failure.
pub fn date(text: &str, key: &str) -> Result<Date, CalendarError> {
    text.trim()
        .parse::<Date>()
        .map_err(|_| err(key, format!("{text:?} is not a date (YYYY-MM-DD, e.g. \"2026-03-23\")")))
}

/// Ticks from `origin` to `ts` (instants before it are clamped to 0).
fn tick_of(origin: Timestamp, ts: Timestamp) -> Tick {
    let ms = ts.as_millisecond() - origin.as_millisecond();
    Tick::try_from(ms).unwrap_or(0) * (MINUTE / 60_000)
}

/// The instant of a local date and clock minute in `tz` (the later
/// instant of a repeated hour, the hour after a skipped one).
fn instant(tz: &TimeZone, d: Date, minute: u32) -> Option<Timestamp> {
    if minute >= 1440 {
        let next = d.tomorrow().ok()?;
        return instant(tz, next, minute - 1440);
    }
    let t = Time::new((minute / 60) as i8, (minute % 60) as i8, 0, 0).ok()?;
    d.to_datetime(t).to_zoned_datetime(tz.clone()).ok().map(|z| z.timestamp())
}

impl Calendar {
    /// Resolves a `[calendar]` table for sites with the given zone names
    /// (`None`: the calendar's zone); `field` tells whether devices are
    /// powered on by their users (no depot), `horizon` bounds the tables.
    pub fn resolve(
        spec: &CalendarSpec,
        site_zone_names: &[(String, Option<String>)],
        field: bool,
        horizon: Tick,
    ) -> Result<Calendar, CalendarError> {
        let zone_name = spec.time_zone.clone().unwrap_or_else(|| "UTC".into());
        let tz = zone(&zone_name, "calendar.time_zone")?;
        let start = date(spec.start_date.as_deref().unwrap_or(DEFAULT_START_DATE), "calendar.start_date")?;
        let origin = instant(&tz, start, 0)
            .ok_or_else(|| err("calendar.start_date", "has no midnight in the calendar's zone"))?;
        let mut holidays = Vec::new();
        for (i, h) in spec.holidays.iter().enumerate() {
            holidays.push(date(h, &format!("calendar.holidays[{i}]"))?);
        }
        let working_days = parse_days(spec.working_days.as_deref().unwrap_or("mon-fri"))
            .map_err(|m| err("calendar.working_days", m))?;
        let shipping_days = match &spec.shipping_days {
            Some(s) => parse_days(s).map_err(|m| err("calendar.shipping_days", m))?,
            None => working_days.clone(),
        };
        let working_hours = parse_clock_range(spec.working_hours.as_deref().unwrap_or("08:00-17:00"))
            .map_err(|m| err("calendar.working_hours", m))?;
        let admin_hours = match &spec.admin_hours {
            Some(h) => Some(parse_clock_range(h).map_err(|m| err("calendar.admin_hours", m))?),
            None => None,
        };
        let n_days = (horizon / (1440 * MINUTE)) as i64 + SPARE_DAYS;
        let mut site_zones = Vec::new();
        let mut days = Vec::new();
        for (i, (_, name)) in site_zone_names.iter().enumerate() {
            let z = match name {
                Some(n) => zone(n, &format!("site[{i}].time_zone"))?,
                None => tz.clone(),
            };
            let local_start = z.to_datetime(origin).date();
            let mut sd = SiteDays { starts: vec![], ships: vec![], works: vec![], dates: vec![], field };
            let mut d = local_start;
            for _ in 0..=n_days {
                let at = instant(&z, d, 0)
                    .ok_or_else(|| err(&format!("site[{i}].time_zone"), "a day without midnight"))?;
                let weekday = d.weekday().to_monday_zero_offset() as u32;
                let holiday = holidays.contains(&d);
                sd.starts.push(tick_of(origin, at));
                sd.ships.push(!holiday && shipping_days.contains(&weekday));
                sd.works.push(!holiday && working_days.contains(&weekday));
                sd.dates.push(d);
                d = d.tomorrow().map_err(|_| err("calendar.start_date", "runs past the year 9999"))?;
            }
            site_zones.push(z);
            days.push(sd);
        }
        let mut cal = Calendar {
            zone: tz,
            zone_name,
            origin,
            site_zones,
            days,
            admin_changes: Vec::new(),
            working_days,
            working_hours,
            holidays,
        };
        if let Some((a, z)) = admin_hours {
            let ranges = cal.windows_in(&cal.zone, start, n_days, &|wd| cal.working_days.contains(&wd), a, z);
            cal.admin_changes =
                changes(&ranges.into_iter().map(|(s, e)| (s, e, 1)).collect::<Vec<_>>(), u32::MAX);
        }
        Ok(cal)
    }

    /// Absolute working windows `[start, end)` of the clock range `a..z`
    /// on the days `keep` accepts, holidays left out.
    fn windows_in(
        &self,
        tz: &TimeZone,
        first: Date,
        n_days: i64,
        keep: &dyn Fn(u32) -> bool,
        a: u32,
        z: u32,
    ) -> Vec<(Tick, Tick)> {
        let mut out = Vec::new();
        let mut d = first;
        for _ in 0..=n_days {
            let wd = d.weekday().to_monday_zero_offset() as u32;
            if keep(wd) && !self.holidays.contains(&d) {
                if let (Some(s), Some(e)) = (instant(tz, d, a), instant(tz, d, z)) {
                    out.push((tick_of(self.origin, s), tick_of(self.origin, e)));
                }
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        out
    }

    /// The technicians' capacity changes at `site`: each shift's days and
    /// hours in the site's local time, or the calendar's working days and
    /// hours when there are no shifts; never on a holiday.
    pub fn technician_changes(
        &self,
        site: usize,
        shifts: &[(Shift, u32)],
        technicians: u32,
    ) -> Result<Vec<(Tick, u32)>, String> {
        let (Some(tz), Some(sd)) = (self.site_zones.get(site), self.days.get(site)) else {
            return Ok(Vec::new());
        };
        let first = sd.dates.first().copied().unwrap_or_default();
        let n_days = sd.dates.len() as i64 - 1;
        let mut ranges = Vec::new();
        if shifts.is_empty() {
            let (a, z) = self.working_hours;
            for w in self.windows_in(tz, first, n_days, &|wd| self.working_days.contains(&wd), a, z) {
                ranges.push((w.0, w.1, technicians));
            }
        }
        for (s, n) in shifts {
            let days = parse_days(&s.days)?;
            let (a, z) = parse_clock_range(&format!("{}-{}", s.start, s.end))?;
            for w in self.windows_in(tz, first, n_days, &|wd| days.contains(&wd), a, z) {
                ranges.push((w.0, w.1, *n));
            }
        }
        Ok(changes(&ranges, technicians))
    }

    /// The local date and clock minute of tick `t` at `site`.
    pub fn local(&self, site: usize, t: Tick) -> Option<(Date, u32)> {
        let tz = self.site_zones.get(site)?;
        let ms = self.origin.as_millisecond() + i64::try_from(t / (MINUTE / 60_000)).ok()?;
        let dt = tz.to_datetime(Timestamp::from_millisecond(ms).ok()?);
        Some((dt.date(), dt.hour() as u32 * 60 + dt.minute() as u32))
    }
}

/// Capacity changes of overlapping windows, each adding its count; the
/// total is capped at `cap`.
fn changes(ranges: &[(Tick, Tick, u32)], cap: u32) -> Vec<(Tick, u32)> {
    let mut points: Vec<Tick> = vec![0];
    for &(a, z, _) in ranges {
        points.push(a);
        points.push(z);
    }
    points.sort_unstable();
    points.dedup();
    let mut out: Vec<(Tick, u32)> = Vec::new();
    for t in points {
        let n: u32 = ranges.iter().filter(|(a, z, _)| *a <= t && t < *z).map(|r| r.2).sum();
        let n = n.min(cap);
        if out.last().is_none_or(|l| l.1 != n) {
            out.push((t, n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CalendarSpec {
        CalendarSpec {
            start_date: Some("2026-03-23".into()),
            time_zone: Some("Europe/Berlin".into()),
            working_days: None,
            working_hours: None,
            holidays: vec!["2026-03-25".into()],
            shipping_days: None,
            admin_hours: Some("09:00-17:00".into()),
        }
    }

    #[test]
    fn days_follow_dst_and_holidays() -> Result<(), String> {
        let cal = Calendar::resolve(&spec(), &[("hq".into(), None)], false, 14 * 1440 * MINUTE)
            .map_err(|e| e.message)?;
        let sd = &cal.days[0];
        assert_eq!(sd.starts[0], 0);
        // Berlin moves to summer time on Sunday 29 March 2026: that day is 23 h.
        assert_eq!(sd.starts[7] - sd.starts[6], 23 * 60 * MINUTE);
        assert!(!sd.ships[2], "the holiday ships nothing");
        assert!(!sd.ships[5] && !sd.ships[6], "nor the weekend");
        // Saturday 12:00 moves to Monday 12:00.
        let sat_noon = sd.starts[5] + 12 * 60 * MINUTE;
        assert_eq!(sd.defer(sat_noon), Some(sd.starts[7] + 12 * 60 * MINUTE));
        // Admins: 09:00 local before and after the change, an hour apart in UTC.
        let opens: Vec<Tick> = cal.admin_changes.iter().filter(|c| c.1 == 1).map(|c| c.0).collect();
        assert_eq!(opens[0], 9 * 60 * MINUTE);
        assert_eq!(opens[4], sd.starts[7] + 9 * 60 * MINUTE, "{opens:?}");
        Ok(())
    }

    #[test]
    fn bad_zone_and_date_name_their_key() {
        let mut s = spec();
        s.time_zone = Some("Europe/Berlinn".into());
        let e = Calendar::resolve(&s, &[], false, MINUTE).err().map(|e| e.key);
        assert_eq!(e.as_deref(), Some("calendar.time_zone"));
        let mut s = spec();
        s.holidays = vec!["2026-13-01".into()];
        let e = Calendar::resolve(&s, &[], false, MINUTE).err().map(|e| e.key);
        assert_eq!(e.as_deref(), Some("calendar.holidays[0]"));
    }
}
