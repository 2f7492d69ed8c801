//! Calendars: local time zones with daylight saving, working days,
//! holidays, shipping days and hours, and what they do to a wave.

use std::error::Error;
use std::path::Path;

use fleetlab::sim::engine::MINUTE;
use fleetlab::sim::model::{run_replication, Dev};
use fleetlab::sim::resolve::Scenario;
use fleetlab::sim::scenario::parse;
use jiff::civil::Weekday;

type TestResult = Result<(), Box<dyn Error>>;

fn from_text(text: &str) -> Result<Scenario, Box<dyn Error>> {
    let path = Path::new("scenarios/sim/inline.toml");
    Ok(Scenario::resolve(&parse(text, path)?, path)?)
}

fn devices(sc: &Scenario, rep: u64) -> Result<Vec<Dev>, Box<dyn Error>> {
    run_replication(sc, sc.file.seed, rep, true).devices.ok_or_else(|| "no devices kept".into())
}

#[test]
fn arrivals_never_fall_on_a_non_shipping_day_or_a_holiday() -> TestResult {
    // Users at home in New York power devices on over three weeks; the
    // carrier delivers Monday to Thursday, and 2026-04-03 is a holiday.
    let sc = from_text(
        r#"
name = "shipping"
horizon_hours = 800
replications = 1
[calendar]
start_date = "2026-03-23"
time_zone = "Europe/London"
shipping_days = "mon-thu"
holidays = ["2026-04-02"]
[[site]]
name = "home"
shared = false
time_zone = "America/New_York"
[[wave]]
name = "w"
devices = 300
spread = { uniform = [0, 30240] }
"#,
    )?;
    let cal = sc.calendar.as_ref().ok_or("no calendar")?;
    let mut moved = 0;
    for rep in 0..3 {
        for d in devices(&sc, rep)? {
            if !d.powered_on {
                continue;
            }
            let (date, _) = cal.local(usize::from(d.site()), d.arrived).ok_or("no local time")?;
            let wd = date.weekday();
            assert!(
                !matches!(wd, Weekday::Friday | Weekday::Saturday | Weekday::Sunday),
                "arrived on a {wd:?} ({date})"
            );
            assert_ne!(date.to_string(), "2026-04-02", "arrived on the holiday");
            moved += 1;
        }
    }
    assert!(moved > 500, "only {moved} devices arrived");
    Ok(())
}

#[test]
fn technicians_work_only_in_their_local_hours_across_a_dst_change() -> TestResult {
    // Berlin moves its clocks on Sunday 2026-03-29: a 09:00–17:00 shift is
    // 08:00–16:00 UTC before and 07:00–15:00 UTC after.
    let sc = from_text(
        r#"
name = "dst"
horizon_hours = 504
replications = 1
[calendar]
start_date = "2026-03-23"
time_zone = "UTC"
[[site]]
name = "depot"
time_zone = "Europe/Berlin"
[fleet]
mode = "hands-on-only"
[depot]
technicians = 1
devices = 160
hands_on = { fixed = 30 }
shift = [{ days = "mon-fri", start = "09:00", end = "17:00" }]
"#,
    )?;
    let cal = sc.calendar.as_ref().ok_or("no calendar")?;
    let mut after_change = 0;
    for d in devices(&sc, 0)? {
        if !d.powered_on {
            continue;
        }
        // Hands-on-only: the technician powers the device on as the work starts.
        let (date, minute) = cal.local(0, d.powered).ok_or("no local time")?;
        assert!((9 * 60..17 * 60).contains(&minute), "work started at {minute} min local on {date}");
        assert!(!matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday), "work on {date}");
        if date.to_string().as_str() >= "2026-03-30" {
            after_change += 1;
        }
    }
    assert!(after_change > 50, "only {after_change} devices after the change");
    Ok(())
}

#[test]
fn a_weekend_stretches_the_wave_by_two_days() -> TestResult {
    // One technician, 60 minutes a device, 8 hours a day: 48 devices take
    // six working days. Working every day they are done on Saturday at
    // 17:00; working Monday to Friday, on the next Monday at 17:00.
    let text = |days: &str| {
        format!(
            r#"
name = "weekend"
horizon_hours = 336
replications = 1
[calendar]
working_days = "{days}"
working_hours = "09:00-17:00"
[fleet]
mode = "hands-on-only"
[depot]
technicians = 1
devices = 48
hands_on = {{ fixed = 60 }}
"#
        )
    };
    let last = |sc: &Scenario| -> Result<u64, Box<dyn Error>> {
        Ok(devices(sc, 0)?.iter().map(|d| d.end).max().unwrap_or(0))
    };
    let every_day = last(&from_text(&text("mon-sun"))?)?;
    let weekdays = last(&from_text(&text("mon-fri"))?)?;
    let hour = 60 * MINUTE;
    assert_eq!(every_day, (5 * 24 + 17) * hour);
    assert_eq!(weekdays - every_day, 48 * hour);
    Ok(())
}

#[test]
fn admins_work_tickets_only_in_admin_hours() -> TestResult {
    // Every device fails and lands in the admin queue; admins work 09–17.
    let sc = from_text(
        r#"
name = "admins"
horizon_hours = 168
replications = 1
[calendar]
time_zone = "Asia/Tokyo"
admin_hours = "09:00-17:00"
[[wave]]
name = "w"
devices = 40
spread = { uniform = [0, 2000] }
[[app]]
name = "broken"
size_mb = 10
p_fail = 1.0
[operator]
on_error = ["give-up"]
admin_delay = { fixed = 1 }
admin_work = { fixed = 20 }
"#,
    )?;
    let r = run_replication(&sc, 1, 0, false);
    let admins = r.resources.iter().find(|x| x.name == "admins").ok_or("no admin resource")?;
    let cal = sc.calendar.as_ref().ok_or("no calendar")?;
    // No work in a bucket that lies wholly between 17:20 (the last task
    // started before 17:00 is done) and 09:00 Tokyo time, nor at weekends.
    let mut checked = 0;
    for (b, &busy) in admins.busy.iter().enumerate() {
        let start = b as u64 * sc.bucket;
        let (date, a) = cal.local(0, start).ok_or("no local time")?;
        let (_, z) = cal.local(0, start + sc.bucket).ok_or("no local time")?;
        let weekend = matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && a >= 20;
        let night =
            a >= 17 * 60 + 20 && (z > a && z <= 24 * 60 || z <= 9 * 60) || (a < 9 * 60 && z <= 9 * 60);
        if weekend || night {
            assert_eq!(busy, 0.0, "admins busy on {date} at {a} min local (bucket {b})");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} buckets checked");
    assert!(admins.busy.iter().sum::<f64>() > 0.0, "no admin work at all");
    Ok(())
}

#[test]
fn unknown_zones_and_bad_dates_name_file_and_key() {
    let bad = [
        ("[calendar]\ntime_zone = \"Mars/Olympus\"\n", "calendar.time_zone"),
        ("[calendar]\nstart_date = \"2026-02-30\"\n", "calendar.start_date"),
        ("[calendar]\nholidays = [\"25.12.2026\"]\n", "calendar.holidays[0]"),
        ("[calendar]\nadmin_hours = \"17:00-09:00\"\n", "calendar.admin_hours"),
        ("[[site]]\nname = \"a\"\ntime_zone = \"Europe/Paris\"\n", "site[0].time_zone"),
    ];
    for (table, key) in bad {
        let text = format!("name = \"x\"\n[[wave]]\nname = \"w\"\ndevices = 1\n{table}");
        let msg = from_text(&text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("scenarios/sim/inline.toml:"), "{msg}");
        assert!(msg.contains(key), "{key}: {msg}");
    }
}
