//! Instants and ISO-8601 durations, just enough for `employeeHireDate`
//! rules and Graph timestamps.
//!
//! Why hand-rolled rather than `chrono`/`time`: the rule language needs one
//! instant type (UTC seconds + nanoseconds), one duration type that keeps
//! calendar units apart (`P1M` is not 30 days), and a parser for the handful
//! of ISO-8601 shapes Graph and the docs use. That is ~200 lines of
//! well-tested civil-calendar arithmetic (Howard Hinnant's algorithms);
//! a full date-time crate would add a dependency for a sliver of it.
//!
//! Decisions: a date-time without a zone (`2018-01-01T06:00:00`) and a bare
//! date (`2023-01-01`) are read as UTC, which is what Entra does with Graph
//! values that carry no offset.

use std::fmt;

/// A UTC instant with nanosecond precision.
///
/// ```
/// use fleetlab::rule::time::Timestamp;
/// let t = Timestamp::parse("2020-06-10T18:13:20Z").unwrap();
/// assert_eq!(t.to_string(), "2020-06-10T18:13:20Z");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Why a date-time or duration text was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeError(pub String);

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Reads `n` ASCII digits at `pos`, advancing it.
fn digits(b: &[u8], pos: &mut usize, n: usize) -> Option<u32> {
    let chunk = b.get(*pos..*pos + n)?;
    let mut v = 0u32;
    for &c in chunk {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    *pos += n;
    Some(v)
}

fn expect(b: &[u8], pos: &mut usize, c: u8) -> Option<()> {
    if b.get(*pos).is_some_and(|x| x.eq_ignore_ascii_case(&c)) {
        *pos += 1;
        Some(())
    } else {
        None
    }
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// An instant from seconds since the Unix epoch.
    pub fn from_unix(secs: i64, nanos: u32) -> Timestamp {
        Timestamp { secs: secs + i64::from(nanos / 1_000_000_000), nanos: nanos % 1_000_000_000 }
    }

    /// The current time.
    pub fn now() -> Timestamp {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp::from_unix(d.as_secs() as i64, d.subsec_nanos()),
            Err(_) => Timestamp::EPOCH,
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.secs
    }

    /// Parses `YYYY-MM-DD`, optionally followed by `THH:MM[:SS[.fff…]]` and
    /// `Z` or `±HH:MM`. A missing zone means UTC.
    pub fn parse(text: &str) -> Result<Timestamp, TimeError> {
        Self::parse_inner(text.trim()).ok_or_else(|| {
            TimeError(format!("`{text}` is not an ISO-8601 date-time (expected e.g. 2020-06-10T18:13:20Z)"))
        })?
    }

    fn parse_inner(text: &str) -> Option<Result<Timestamp, TimeError>> {
        let b = text.as_bytes();
        let mut p = 0;
        let year = digits(b, &mut p, 4)?;
        expect(b, &mut p, b'-')?;
        let month = digits(b, &mut p, 2)?;
        expect(b, &mut p, b'-')?;
        let day = digits(b, &mut p, 2)?;
        let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0u32);
        let mut offset_secs: i64 = 0;
        if p < b.len() {
            expect(b, &mut p, b't').or_else(|| expect(b, &mut p, b' '))?;
            hour = digits(b, &mut p, 2)?;
            expect(b, &mut p, b':')?;
            minute = digits(b, &mut p, 2)?;
            if expect(b, &mut p, b':').is_some() {
                second = digits(b, &mut p, 2)?;
                if expect(b, &mut p, b'.').is_some() {
                    let start = p;
                    while p < b.len() && b[p].is_ascii_digit() {
                        p += 1;
                    }
                    let frac = &text[start..p];
                    if frac.is_empty() {
                        return None;
                    }
                    let mut n = 0u32;
                    for (i, c) in frac.bytes().take(9).enumerate() {
                        n += u32::from(c - b'0') * 10u32.pow(8 - i as u32);
                    }
                    nanos = n;
                }
            }
            if p < b.len() && expect(b, &mut p, b'z').is_none() {
                let sign = match b.get(p) {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return None,
                };
                p += 1;
                let oh = digits(b, &mut p, 2)?;
                expect(b, &mut p, b':')?;
                let om = digits(b, &mut p, 2)?;
                if oh > 23 || om > 59 {
                    return Some(Err(TimeError(format!("`{text}` has an invalid zone offset"))));
                }
                offset_secs = sign * i64::from(oh * 3600 + om * 60);
            }
        }
        if p != b.len() {
            return None;
        }
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
            return Some(Err(TimeError(format!("`{text}` names a day that does not exist"))));
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Some(Err(TimeError(format!("`{text}` has an invalid time of day"))));
        }
        let days = days_from_civil(i64::from(year), month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second.min(59)) - offset_secs;
        Some(Ok(Timestamp { secs, nanos }))
    }

    /// Adds (or, with `negative`, subtracts) an ISO duration: calendar
    /// units first (months clamp to the end of the month), then fixed ones.
    pub fn offset(self, duration: &IsoDuration, negative: bool) -> Timestamp {
        let sign: i64 = if negative { -1 } else { 1 };
        let days = self.secs.div_euclid(86_400);
        let tod = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let total_months =
            y * 12 + i64::from(m - 1) + sign * (i64::from(duration.years) * 12 + i64::from(duration.months));
        let ny = total_months.div_euclid(12);
        let nm = (total_months.rem_euclid(12) + 1) as u32;
        let nd = d.min(days_in_month(ny, nm));
        let base = days_from_civil(ny, nm, nd) * 86_400 + tod;
        let fixed = i64::from(duration.weeks) * 7 * 86_400
            + i64::from(duration.days) * 86_400
            + i64::from(duration.hours) * 3600
            + i64::from(duration.minutes) * 60
            + i64::from(duration.seconds);
        Timestamp { secs: base.saturating_add(sign.saturating_mul(fixed)), nanos: self.nanos }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.secs.div_euclid(86_400);
        let tod = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        write!(f, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", tod / 3600, tod % 3600 / 60, tod % 60)?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// An ISO-8601 duration such as `P1D`, `P365D` or `PT12H`, with calendar
/// units kept apart.
///
/// ```
/// use fleetlab::rule::time::IsoDuration;
/// let d = IsoDuration::parse("p1y2m10dt2h").unwrap();
/// assert_eq!(d.to_string(), "P1Y2M10DT2H");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IsoDuration {
    /// Calendar years.
    pub years: u32,
    /// Calendar months.
    pub months: u32,
    /// Weeks of 7 days.
    pub weeks: u32,
    /// Days of 24 hours.
    pub days: u32,
    /// Hours.
    pub hours: u32,
    /// Minutes.
    pub minutes: u32,
    /// Seconds.
    pub seconds: u32,
}

impl IsoDuration {
    /// Parses `P[nY][nM][nW][nD][T[nH][nM][nS]]`, any case, with at least one component.
    pub fn parse(text: &str) -> Result<IsoDuration, TimeError> {
        let bad =
            || TimeError(format!("`{text}` is not an ISO-8601 duration (expected e.g. P1D, P365D, PT12H)"));
        let lower = text.to_ascii_lowercase();
        let rest = lower.strip_prefix('p').ok_or_else(bad)?;
        let mut d = IsoDuration::default();
        let mut in_time = false;
        let mut any = false;
        let mut number = String::new();
        for c in rest.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            if c == 't' && number.is_empty() && !in_time {
                in_time = true;
                continue;
            }
            let n: u32 = number.parse().map_err(|_| bad())?;
            number.clear();
            let slot = match (in_time, c) {
                (false, 'y') => &mut d.years,
                (false, 'm') => &mut d.months,
                (false, 'w') => &mut d.weeks,
                (false, 'd') => &mut d.days,
                (true, 'h') => &mut d.hours,
                (true, 'm') => &mut d.minutes,
                (true, 's') => &mut d.seconds,
                _ => return Err(bad()),
            };
            *slot = n;
            any = true;
        }
        if !number.is_empty() || !any {
            return Err(bad());
        }
        Ok(d)
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        let date = [(self.years, 'Y'), (self.months, 'M'), (self.weeks, 'W'), (self.days, 'D')];
        let time = [(self.hours, 'H'), (self.minutes, 'M'), (self.seconds, 'S')];
        let mut wrote = false;
        for (n, u) in date {
            if n != 0 {
                write!(f, "{n}{u}")?;
                wrote = true;
            }
        }
        if time.iter().any(|(n, _)| *n != 0) {
            f.write_str("T")?;
            for (n, u) in time {
                if n != 0 {
                    write!(f, "{n}{u}")?;
                }
            }
        } else if !wrote {
            f.write_str("0D")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_the_docs_use() -> Result<(), TimeError> {
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z")?, Timestamp::EPOCH);
        assert_eq!(Timestamp::parse("2018-01-01T06:00:00")?.to_string(), "2018-01-01T06:00:00Z");
        assert_eq!(Timestamp::parse("2023-01-01")?.to_string(), "2023-01-01T00:00:00Z");
        assert_eq!(Timestamp::parse("2020-06-10T20:13:20+02:00")?.to_string(), "2020-06-10T18:13:20Z");
        assert_eq!(Timestamp::parse("2020-06-10T18:13:20.5Z")?.to_string(), "2020-06-10T18:13:20.5Z");
        assert!(Timestamp::parse("2023-02-29").is_err());
        assert!(Timestamp::parse("2023-13-01").is_err());
        assert!(Timestamp::parse("yesterday").is_err());
        Ok(())
    }

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn month_arithmetic_clamps_to_month_end() -> Result<(), TimeError> {
        let t = Timestamp::parse("2024-01-31T10:00:00Z")?;
        let one_month = IsoDuration::parse("P1M")?;
        assert_eq!(t.offset(&one_month, false).to_string(), "2024-02-29T10:00:00Z");
        let d = IsoDuration::parse("p365d")?;
        assert_eq!(t.offset(&d, true).to_string(), "2023-01-31T10:00:00Z");
        Ok(())
    }

    #[test]
    fn durations_print_canonically() -> Result<(), TimeError> {
        assert_eq!(IsoDuration::parse("pt12h")?.to_string(), "PT12H");
        assert_eq!(IsoDuration::parse("P1W")?.to_string(), "P1W");
        assert!(IsoDuration::parse("P").is_err());
        assert!(IsoDuration::parse("PT").is_err());
        assert!(IsoDuration::parse("P1").is_err());
        assert!(IsoDuration::parse("P1H").is_err());
        Ok(())
    }
}
