//! Weekly shifts and times of day: `days = "mon-fri"`, `"08:00"`,
//! `"08:00-17:00"`, as minutes from Monday 00:00.

use super::Shift;

/// A shift as weekly minute ranges `[start, end)` from Monday 00:00.
pub fn parse_shift(s: &Shift) -> Result<Vec<(u32, u32)>, String> {
    let days = parse_days(&s.days)?;
    let start = parse_clock(&s.start)?;
    let end = parse_clock(&s.end)?;
    if end <= start {
        return Err(format!("ends ({}) before it starts ({}); split a night shift in two", s.end, s.start));
    }
    Ok(days.into_iter().map(|d| (d * 1440 + start, d * 1440 + end)).collect())
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(name: &str) -> Result<u32, String> {
    let n = name.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|d| n.starts_with(d) && d.len() <= n.len())
        .map(|i| i as u32)
        .ok_or_else(|| format!("unknown day {name:?} (mon, tue, wed, thu, fri, sat, sun)"))
}

/// Days of the week (`mon-fri`, `sat,sun`) as 0 = Monday … 6 = Sunday.
pub fn parse_days(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                if b < a {
                    return Err(format!("day range {part:?} runs backwards"));
                }
                out.extend(a..=b);
            }
            None => out.push(day(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// `HH:MM-HH:MM` as minutes of the day, the end after the start.
pub fn parse_clock_range(text: &str) -> Result<(u32, u32), String> {
    let (a, z) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not a range of hours (HH:MM-HH:MM, e.g. \"08:00-17:00\")"))?;
    let (a, z) = (parse_clock(a)?, parse_clock(z)?);
    if z <= a {
        return Err(format!("{text:?} ends before it starts; split a night shift in two"));
    }
    Ok((a, z))
}

fn parse_clock(text: &str) -> Result<u32, String> {
    let bad = || format!("{text:?} is not a time of day (HH:MM, 00:00–24:00)");
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}
