//! The simulator's answers in the scenarios planners run: cancelled
//! downloads, the bottleneck sentence, exact percentiles, device
//! preparation's apps, Intune-shaped events, common random numbers per
//! device, the wired network step, the histogram, the findings' wording
//! and the wait distribution per resource.

use std::error::Error;
use std::path::Path;

use fleetlab::sim::events::autopilot_events;
use fleetlab::sim::model::{metric, run_replication};
use fleetlab::sim::report::Report;
use fleetlab::sim::resolve::Scenario;
use fleetlab::sim::run::{simulate, RunOptions};
use fleetlab::sim::scenario::{self, parse, with_value};

type TestResult = Result<(), Box<dyn Error>>;

fn load(path: &str) -> Result<Scenario, Box<dyn Error>> {
    let parsed = scenario::load(Path::new(path))?;
    Ok(Scenario::resolve(&parsed, Path::new(path))?)
}

fn from_text(text: &str) -> Result<Scenario, Box<dyn Error>> {
    let path = Path::new("scenarios/sim/inline.toml");
    Ok(Scenario::resolve(&parse(text, path)?, path)?)
}

fn with(path: &str, key: &str, value: &str) -> Result<Scenario, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)?;
    from_text(&with_value(&text, key, value)?)
}

fn run(sc: &Scenario, reps: u32) -> Result<Report, Box<dyn Error>> {
    let opts = RunOptions { replications: Some(reps), threads: Some(2), ..RunOptions::default() };
    Ok(simulate(sc, &opts)?.report)
}

fn summary(r: &Report, name: &str) -> fleetlab::sim::report::Summary {
    r.metrics.iter().find(|m| m.name == name).map(|m| m.summary).unwrap_or_default()
}

fn content_bytes(sc: &Scenario) -> f64 {
    sc.apps.iter().map(|a| a.bytes).sum()
}

#[test]
fn cancelled_downloads_never_move_more_than_the_content() -> TestResult {
    // S4: 40 devices, 100 Mbit/s, ESP timeouts and retries. Each device
    // fetches each file at most once per life (a Reset starts a new one),
    // and no site has more downloads at once than devices.
    let sc = load("scenarios/sim/s4-esp-timeout.toml")?;
    for rep in 0..20 {
        let r = run_replication(&sc, sc.file.seed, rep, false);
        let resets = r.metrics[metric("resets")];
        let bound = content_bytes(&sc) * (f64::from(sc.devices) + resets);
        let moved = r.metrics[metric("uplink-gb")] * 1e9;
        assert!(moved <= bound * 1.000_001, "rep {rep}: {moved:.3e} bytes for content {bound:.3e}");
        assert!(r.metrics[metric("peak-concurrent-downloads")] <= f64::from(sc.devices));
    }
    Ok(())
}

#[test]
fn a_slow_uplink_slows_the_wave_instead_of_stopping_it() -> TestResult {
    // S1 at 10 Mbit/s: downloads that time out used to keep their share,
    // and the next attempt's downloads piled on until nothing finished.
    let sc = with("scenarios/sim/s1-depot-throughput.toml", "site[0].uplink_mbps", "10")?;
    let r = run_replication(&sc, sc.file.seed, 0, false);
    assert!(r.metrics[metric("devices-done")] > 0.0, "no device done at 10 Mbit/s");
    Ok(())
}

#[test]
fn the_bottleneck_sentence_names_a_saturated_uplink() -> TestResult {
    let sc = load("scenarios/sim/s4-esp-timeout.toml")?;
    let r = run(&sc, 16)?;
    assert!(r.bottleneck.contains("uplink of site office"), "{}", r.bottleneck);
    assert!(!r.bottleneck.contains("No shared resource"), "{}", r.bottleneck);
    let gains = fleetlab::sim::bottleneck::gains(&sc, sc.file.seed, 8, &r.resources);
    assert_eq!(gains.first().map(|g| g.0.as_str()), Some("uplink:office"), "{gains:?}");
    Ok(())
}

#[test]
fn the_bottleneck_sentence_names_technicians_when_they_limit() -> TestResult {
    // M/M/3 at ρ = 0.83: technicians are the only resource, and waiting
    // for one is more than half of a device's time.
    let sc = load("scenarios/sim/mmc.toml")?;
    let r = run(&sc, 4)?;
    assert!(r.bottleneck.starts_with("Technicians are the bottleneck"), "{}", r.bottleneck);
    // S1: whatever the sentence names has the largest gain of the sweep.
    let sc = load("scenarios/sim/s1-depot-throughput.toml")?;
    let r = run(&sc, 4)?;
    let gains = fleetlab::sim::bottleneck::gains(&sc, sc.file.seed, 4, &r.resources);
    let top = gains.first().map(|g| g.0.replace("bench-ports", "bench ports")).ok_or("no gains")?;
    assert!(r.bottleneck.to_lowercase().starts_with(&top), "{top}: {}", r.bottleneck);
    Ok(())
}

#[test]
fn shares_and_counts_have_exact_percentiles() -> TestResult {
    let sc = load("scenarios/sim/s4-esp-timeout.toml")?;
    let r = run(&sc, 40)?;
    let n = f64::from(sc.devices);
    for m in r.metrics.iter().filter(|m| m.unit == "share" || m.unit == "devices") {
        let s = m.summary;
        let scale = if m.unit == "share" { n } else { 1.0 };
        for v in [s.p5, s.p50, s.p95] {
            assert!(((v * scale) - (v * scale).round()).abs() < 1e-6, "{}: {v} is not a count", m.name);
        }
        assert!(s.p5 <= s.p50 && s.p50 <= s.p95 && s.min <= s.p5 && s.p95 <= s.max, "{}: {s:?}", m.name);
    }
    for c in &r.outcomes {
        let s = c.per_replication;
        assert!(s.p5 == s.p5.round() && s.p95 == s.p95.round(), "{}: {s:?}", c.label);
    }
    for p in &r.completion {
        assert!(((p.p50 * n) - (p.p50 * n).round()).abs() < 1e-6, "{p:?}");
    }
    Ok(())
}

const APV2: &str = "name = \"apv2\"\nseed = 3\nreplications = 4\nhorizon_hours = 24\n\
    [fleet]\nmode = \"device-preparation\"\nwired = 1.0\n[[site]]\nname = \"office\"\nuplink_mbps = 1000\n\
    [[wave]]\nname = \"w\"\nsite = \"office\"\ndevices = 20\n[esp]\ntimeout_minutes = 240\n";

fn apps(n: usize) -> String {
    let mut s = String::from("[[app]]\nname = \"Microsoft 365 Apps\"\npreset = \"m365\"\n");
    for i in 1..n {
        s.push_str(&format!("[[app]]\nname = \"App {i}\"\nsize_mb = 300\n"));
    }
    s
}

#[test]
fn device_preparation_installs_the_selected_apps() -> TestResult {
    let none = from_text(APV2)?;
    let twelve = from_text(&format!("{APV2}{}", apps(12)))?;
    let (a, b) = (run(&none, 4)?, run(&twelve, 4)?);
    assert!(summary(&b, "uplink-gb").mean > 1.0, "{:?}", summary(&b, "uplink-gb"));
    let (ta, tb) = (summary(&a, "mean-time-in-system").mean, summary(&b, "mean-time-in-system").mean);
    assert!(tb > ta + 10.0, "12 apps take {tb:.1} min, none {ta:.1} min");
    Ok(())
}

#[test]
fn device_preparations_timer_starts_with_the_deployment_not_the_first_app() -> TestResult {
    // Join and enrollment take 8 minutes and the IME another 8: a 15-minute
    // timer has run out before the first selected app starts, as it runs
    // from the deployment's start after sign-in.
    let text = APV2.replace("timeout_minutes = 240", "timeout_minutes = 15")
        + "[durations]
joined = { fixed = 8 }
ime-installed = { fixed = 8 }
           [[app]]
name = \"Tiny\"
size_mb = 1
install = { fixed = 1 }
p_fail = 0
p_hang = 0
";
    let late = run(&from_text(&text)?, 4)?;
    assert!(summary(&late, "esp-timeouts").mean >= 20.0, "{:?}", summary(&late, "esp-timeouts"));
    // With 6 + 6 minutes the deployment fits in its 15.
    let fits = run(&from_text(&text.replace("fixed = 8", "fixed = 6"))?, 4)?;
    assert_eq!(summary(&fits, "esp-timeouts").mean, 0.0);
    Ok(())
}

#[test]
fn device_preparation_refuses_more_than_25_selected_apps() -> TestResult {
    let path = Path::new("scenarios/sim/inline.toml");
    let parsed = parse(&format!("{APV2}{}", apps(26)), path)?;
    let err = Scenario::resolve(&parsed, path).err().ok_or("26 apps accepted")?.to_string();
    assert!(err.contains("25") && err.contains("app"), "{err}");
    let parsed = parse(&APV2.replace("timeout_minutes = 240", "timeout_minutes = 10"), path)?;
    let err = Scenario::resolve(&parsed, path).err().ok_or("10 min accepted")?.to_string();
    assert!(err.contains("esp.timeout_minutes") && err.contains("15"), "{err}");
    Ok(())
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn seconds(iso: &str) -> Option<i64> {
    fleetlab::rule::Timestamp::parse(iso).ok().map(|t| t.unix_seconds())
}

fn iso_seconds(d: &str) -> Option<i64> {
    let mut rest = d.strip_prefix("PT")?;
    let mut total = 0i64;
    for (unit, mult) in [('H', 3600), ('M', 60), ('S', 1)] {
        if let Some(i) = rest.find(unit) {
            total += rest.get(..i)?.parse::<i64>().ok()? * mult;
            rest = rest.get(i + 1..)?;
        }
    }
    Some(total)
}

#[test]
fn events_are_possible_rows() -> TestResult {
    for (path, started) in
        [("scenarios/sim/mmc.toml", true), ("scenarios/sim/s2-wave-completion.toml", false)]
    {
        let sc = load(path)?;
        let r = run_replication(&sc, sc.file.seed, 0, true);
        let devs = r.devices.ok_or("no devices")?;
        let events = autopilot_events(&sc, &devs);
        let powered = devs.iter().filter(|d| d.powered_on).count();
        assert_eq!(events.len(), powered, "{path}: only devices that were powered on");
        assert!(!started || !events.is_empty());
        for e in &events {
            assert!(is_guid(&e.id) && is_guid(&e.device_id), "{path}: {} / {}", e.id, e.device_id);
            assert!(!e.managed_device_name.is_empty() && !e.os_version.is_empty());
            assert!(is_guid(&e.windows10_enrollment_completion_page_configuration_id));
            let start = seconds(&e.enrollment_start_date_time).ok_or("start")?;
            let dstart = seconds(&e.deployment_start_date_time).ok_or("deployment start")?;
            let end = seconds(&e.deployment_end_date_time).ok_or("end")?;
            assert!(start <= dstart && dstart <= end, "{path}: {e:?}");
            assert_eq!(iso_seconds(&e.deployment_total_duration), Some(end - start), "{path}: {e:?}");
            assert_eq!(iso_seconds(&e.deployment_duration), Some(end - dstart), "{path}: {e:?}");
        }
    }
    // Hands-on-only: power-on is when the technician starts.
    let sc = load("scenarios/sim/mmc.toml")?;
    let r = run_replication(&sc, sc.file.seed, 0, true);
    let events = autopilot_events(&sc, &r.devices.ok_or("no devices")?);
    let longest = events.iter().filter_map(|e| iso_seconds(&e.deployment_total_duration)).max().unwrap_or(0);
    assert!(longest < 3 * 3600, "a hands-on job of minutes lasted {longest} s");
    Ok(())
}

const TWO_SITES: &str = "name = \"two-sites\"\nseed = 11\nhorizon_hours = 48\n\
    [fleet]\nmode = \"user-driven\"\nwired = 0.5\n\
    [[site]]\nname = \"a\"\nuplink_mbps = 100\n[[site]]\nname = \"b\"\nuplink_mbps = 200\n\
    [[wave]]\nname = \"wa\"\nsite = \"a\"\ndevices = 60\nspread = { uniform = [0, 120] }\n\
    [[wave]]\nname = \"wb\"\nsite = \"b\"\ndevices = 60\nspread = { uniform = [0, 120] }\n\
    [operator]\nadmins = 1000\n\
    [[app]]\nname = \"M365\"\npreset = \"m365\"\n[[app]]\nname = \"Teams\"\npreset = \"teams\"\n";

#[test]
fn sweeping_one_sites_uplink_leaves_the_other_sites_devices_alone() -> TestResult {
    let base = from_text(TWO_SITES)?;
    let faster = from_text(&with_value(TWO_SITES, "site[0].uplink_mbps", "1000")?)?;
    let mut changed_a = 0;
    for rep in 0..5 {
        let x = run_replication(&base, 11, rep, true).devices.ok_or("devices")?;
        let y = run_replication(&faster, 11, rep, true).devices.ok_or("devices")?;
        for (i, (p, q)) in x.iter().zip(&y).enumerate() {
            assert_eq!(p.arrived, q.arrived, "device {i}: arrivals are common");
            if p.site() == 1 {
                assert_eq!((p.end, p.outcome), (q.end, q.outcome), "rep {rep}: device {i} at site b changed");
            } else if p.end != q.end {
                changed_a += 1;
            }
        }
    }
    assert!(changed_a > 0, "the swept uplink changed nothing at its own site");
    Ok(())
}

#[test]
fn the_wired_network_step_is_a_duration_and_explained() -> TestResult {
    let sc = load("scenarios/sim/s4-esp-timeout.toml")?;
    let explained = sc.explained();
    assert!(explained.durations.contains_key("wired-network"), "{:?}", explained.durations.keys());
    let slow = from_text(&format!("{TWO_SITES}[durations]\nwired-network = {{ fixed = 30 }}\n"))?;
    let fast = from_text(TWO_SITES)?;
    let (s, f) = (run_replication(&slow, 1, 0, false), run_replication(&fast, 1, 0, false));
    let t = |r: &fleetlab::sim::model::RepResult| r.metrics[metric("mean-time-in-system")];
    assert!(t(&s) > t(&f) + 5.0, "30 min wired step: {} vs {}", t(&s), t(&f));
    Ok(())
}

#[test]
fn the_time_in_system_histogram_has_bars_for_a_short_queue() -> TestResult {
    let sc = load("scenarios/sim/mmc.toml")?;
    let r = run(&sc, 2)?;
    let bars = r.time_in_system.counts.iter().filter(|c| **c > 0.0).count();
    assert!(bars >= 10, "{bars} bars of {} min", r.time_in_system.bin_minutes);
    Ok(())
}

#[test]
fn findings_say_every_replication_and_do_not_invent_a_half_way_time() -> TestResult {
    // Ten devices, one technician with a 2-day job, a 1-day horizon: none done.
    let sc = from_text(
        "name = \"stuck\"\nseed = 5\nhorizon_hours = 24\n[fleet]\nmode = \"hands-on-only\"\n\
         [depot]\ntechnicians = 1\nhands_on = { fixed = 2880 }\n[[wave]]\nname = \"w\"\ndevices = 10\n",
    )?;
    let r = run(&sc, 3)?;
    let text = r.findings.join(" ");
    assert!(text.contains("in every replication"), "{text}");
    assert!(!text.contains("half are done after"), "{text}");
    Ok(())
}

/// Erlang C: P(wait > 0) in M/M/c.
fn erlang_c(lambda: f64, mean_service: f64, c: u32) -> f64 {
    let a = lambda * mean_service;
    let rho = a / f64::from(c);
    let (mut term, mut sum) = (1.0, 0.0);
    for k in 0..c {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    last / (sum + last)
}

#[test]
fn p_wait_matches_erlang_c_and_waits_are_reported() -> TestResult {
    let sc = load("scenarios/sim/mmc.toml")?;
    let r = run(&sc, 20)?;
    let techs = r.resources.iter().find(|x| x.name == "technicians").ok_or("no technicians")?;
    let theory = erlang_c(0.5, 5.0, 3);
    assert!((techs.p_wait - theory).abs() / theory < 0.03, "P(wait>0) {} vs Erlang C {theory}", techs.p_wait);
    // Given a wait, M/M/c's wait is exponential with mean 1/(cμ − λ),
    // here 1 / (3/5 − 1/2) = 10 min: its median is 10·ln 2.
    let median = techs.wait_when_waiting.p50;
    assert!((median - 10.0 * std::f64::consts::LN_2).abs() < 0.5, "median wait when waiting {median}");
    Ok(())
}

#[test]
fn goal_seek_finds_the_smallest_value_that_meets_the_goal() -> TestResult {
    use fleetlab::sim::search::{Goal, Search};
    // M/M/c, λ = 0.5/min, mean service 5 min: the service alone has a
    // P95 of 5·ln 20 = 15 min, and with 3 technicians (ρ = 0.83) the
    // queue adds far more, so a 20-minute P95 needs a few more
    // technicians than the 3 that keep the queue stable.
    let text = std::fs::read_to_string("scenarios/sim/mmc.toml")?;
    let text = with_value(&text, "arrivals.devices", "1500")?;
    let goal = Goal::parse("time-in-system-p95 <= 20min")?;
    let s = Search {
        text: &text,
        path: Path::new("scenarios/sim/mmc.toml"),
        key: "depot.technicians",
        lo: 1,
        hi: 12,
        goal: &goal,
        confidence: 0.9,
        replications: 6,
        seed: 7,
    };
    let found = s.run()?;
    let v = found.value.ok_or("no value met the goal")?;
    assert!((4..=8).contains(&v), "{v}: {:?}", found.probes);
    // Its answer holds and the value below it does not.
    let at = |n: i64| found.probes.iter().find(|p| p.value == n).map(|p| p.share());
    assert!(at(v).is_some_and(|s| s >= 0.9));
    if let Some(below) = at(v - 1) {
        assert!(below < 0.9);
    }
    Ok(())
}

#[test]
fn sweep_runs_the_grid_of_two_keys() -> TestResult {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetlab"))
        .args([
            "simulate",
            "scenarios/sim/mmc.toml",
            "-n",
            "2",
            "-q",
            "--sweep",
            "depot.technicians=3,4;arrivals.devices=200,300",
        ])
        .output()?;
    let stdout = String::from_utf8(out.stdout)?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for row in ["3, 200", "3, 300", "4, 200", "4, 300"] {
        assert!(stdout.contains(row), "{row} missing:\n{stdout}");
    }
    Ok(())
}

const HOME: &str = "name = \"home\"\nseed = 9\nhorizon_hours = 48\n\
    [fleet]\nmode = \"user-driven\"\n\
    [[site]]\nname = \"home\"\nshared = false\ndevice_mbps = 80\n\
    [[wave]]\nname = \"w\"\nsite = \"home\"\ndevices = 300\nspread = { uniform = [0, 240] }\n\
    [esp]\ntimeout_minutes = 60\nallow_retry = true\n\
    [[app]]\nname = \"M365\"\npreset = \"m365\"\n[[app]]\nname = \"LOB\"\nsize_mb = 900\n";

#[test]
fn a_slow_tail_of_home_bandwidth_causes_esp_timeouts() -> TestResult {
    // The same mean speed, once fixed and once lognormal with a long slow
    // tail: the tail's devices run into the 60-minute ESP timeout.
    let fixed = from_text(HOME)?;
    let spread = from_text(&HOME.replace(
        "device_mbps = 80\n",
        "device_mbps = 80\ndevice_mbps_spread = { lognormal = [80, 1.5] }\n",
    ))?;
    let share = |sc: &Scenario| -> f64 {
        (0..4).map(|r| run_replication(sc, 9, r, false).metrics[metric("timed-out-share")]).sum::<f64>() / 4.0
    };
    let (f, s) = (share(&fixed), share(&spread));
    assert!(s > f + 0.02, "timed out: spread {s:.3}, fixed {f:.3}");
    assert!(spread.explained().site.iter().any(|x| x.device_mbps_spread.is_some()));
    Ok(())
}
