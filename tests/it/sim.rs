//! The simulator against queueing theory, its own determinism, the
//! bundled scenarios and the `fleetlab simulate` command line.

use std::error::Error;
use std::path::Path;
use std::process::Command;

use fleetlab::sim::engine::{EventQueue, PsLink};
use fleetlab::sim::report::Report;
use fleetlab::sim::resolve::Scenario;
use fleetlab::sim::rng::{stream, Stream};
use fleetlab::sim::run::{simulate, RunOptions};
use fleetlab::sim::scenario::{self, parse};
use proptest::prelude::*;
use rand::RngExt;

type TestResult = Result<(), Box<dyn Error>>;

fn load(path: &str) -> Result<Scenario, Box<dyn Error>> {
    let parsed = scenario::load(Path::new(path))?;
    Ok(Scenario::resolve(&parsed, Path::new(path))?)
}

fn from_text(text: &str) -> Result<Scenario, Box<dyn Error>> {
    let path = Path::new("scenarios/sim/inline.toml");
    Ok(Scenario::resolve(&parse(text, path)?, path)?)
}

fn run(sc: &Scenario, reps: u32, threads: usize) -> Result<Report, Box<dyn Error>> {
    let opts = RunOptions { replications: Some(reps), threads: Some(threads), ..RunOptions::default() };
    Ok(simulate(sc, &opts)?.report)
}

fn metric(r: &Report, name: &str) -> f64 {
    r.metrics.iter().find(|m| m.name == name).map_or(f64::NAN, |m| m.summary.mean)
}

/// Erlang C: the mean wait in queue of M/M/c.
fn erlang_c_wait(lambda: f64, mean_service: f64, c: u32) -> f64 {
    let a = lambda * mean_service;
    let rho = a / f64::from(c);
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        if k > 0 {
            term *= a / f64::from(k);
        }
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    let p_wait = last / (sum + last);
    p_wait * mean_service / (f64::from(c) * (1.0 - rho))
}

#[test]
fn mmc_reproduces_erlang_c_within_two_percent() -> TestResult {
    // λ = 30/h, mean service 5 min, c = 3: ρ = 0.83, a queue that matters.
    let sc = from_text(
        "name = \"mmc\"\nseed = 7\nhorizon_hours = 1200\n[fleet]\nmode = \"hands-on-only\"\n\
         [depot]\ntechnicians = 3\nhands_on = { exponential = 5 }\n\
         [arrivals]\ndevices = 30000\nrate_per_hour = 30\n",
    )?;
    let report = run(&sc, 40, 2)?;
    let techs = report.resources.iter().find(|r| r.name == "technicians").ok_or("no technicians")?;
    let theory = erlang_c_wait(0.5, 5.0, 3);
    let err = (techs.mean_wait_minutes - theory).abs() / theory;
    assert!(
        err < 0.02,
        "simulated {:.3} min vs Erlang C {theory:.3} min ({:.2} %)",
        techs.mean_wait_minutes,
        err * 100.0
    );
    // Utilisation is ρ while devices arrive (1,000 of the 1,200 hours).
    let expected = 0.8333 * 1000.0 / 1200.0;
    assert!((techs.mean_utilisation - expected).abs() < 0.01, "{}", techs.mean_utilisation);
    Ok(())
}

#[test]
fn bundled_mmc_scenario_matches_erlang_c() -> TestResult {
    let sc = load("scenarios/sim/mmc.toml")?;
    let report = run(&sc, sc.file.replications, 2)?;
    let techs = report.resources.iter().find(|r| r.name == "technicians").ok_or("no technicians")?;
    let theory = erlang_c_wait(0.5, 5.0, 3);
    assert!(
        (techs.mean_wait_minutes - theory).abs() / theory < 0.03,
        "{} vs {theory}",
        techs.mean_wait_minutes
    );
    Ok(())
}

#[test]
fn ps_link_reproduces_mm1_ps_sojourn() -> TestResult {
    // Processor sharing, Poisson arrivals, exponential sizes: E[T] = 1 / (μC − λ)
    // whatever the size distribution's shape, here with μC = 1/1000 per tick, λ = 0.8 μC.
    #[derive(Clone, Copy)]
    enum Ev {
        Arrive,
        Wake(u32),
    }
    let (mean_size, capacity, lambda) = (1000.0, 1.0, 0.0008);
    let theory = 1.0 / (capacity / mean_size - lambda);
    let jobs = 400_000u32;
    let mut total = 0.0;
    let mut done_jobs = 0u64;
    for rep in 0..4 {
        let mut rng = stream(99, rep, Stream::Arrivals);
        let mut q = EventQueue::with_capacity(64);
        let mut link = PsLink::new(capacity, f64::INFINITY, 1 << 40, 1);
        let mut started = Vec::with_capacity(jobs as usize);
        let mut t = 0.0f64;
        let mut done = Vec::new();
        q.schedule(0, Ev::Arrive);
        while let Some((now, ev)) = q.pop() {
            match ev {
                Ev::Arrive => {
                    let size = -mean_size * (1.0 - rng.random::<f64>()).ln();
                    link.start(now, started.len() as u32, size);
                    started.push(now);
                    if started.len() < jobs as usize {
                        t += -(1.0 - rng.random::<f64>()).ln() / lambda;
                        q.schedule(t.round() as u64, Ev::Arrive);
                    }
                }
                Ev::Wake(g) if g == link.generation() => {
                    done.clear();
                    link.complete_due(now, &mut done);
                    for &j in &done {
                        total += (now - started[j as usize]) as f64;
                        done_jobs += 1;
                    }
                }
                Ev::Wake(_) => continue,
            }
            if let Some(next) = link.next_completion() {
                q.schedule(next, Ev::Wake(link.generation()));
            }
        }
    }
    let mean = total / done_jobs as f64;
    assert_eq!(done_jobs, 4 * u64::from(jobs));
    assert!((mean - theory).abs() / theory < 0.02, "mean sojourn {mean:.1} vs {theory:.1}");
    Ok(())
}

#[test]
fn same_seed_same_report_on_any_thread_count() -> TestResult {
    let sc = load("scenarios/sim/s4-esp-timeout.toml")?;
    let strip = |r: &Report| -> Result<String, Box<dyn Error>> {
        let mut v = serde_json::to_value(r)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("engine");
            o.remove("threads");
        }
        Ok(serde_json::to_string(&v)?)
    };
    let one = strip(&run(&sc, 9, 1)?)?;
    let two = strip(&run(&sc, 9, 2)?)?;
    let three = strip(&run(&sc, 9, 3)?)?;
    assert_eq!(one, two);
    assert_eq!(one, three);
    let other =
        RunOptions { replications: Some(9), seed: Some(5), threads: Some(2), ..RunOptions::default() };
    assert_ne!(one, strip(&simulate(&sc, &other)?.report)?, "another seed, other numbers");
    Ok(())
}

#[test]
fn every_bundled_scenario_runs_and_accounts_for_every_device() -> TestResult {
    let mut seen = 0;
    for entry in std::fs::read_dir("scenarios/sim")? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.display().to_string();
        let sc = load(&name)?;
        let report = run(&sc, 2, 2)?;
        for o in &report.outcomes {
            assert!(o.per_replication.n == 2, "{name}: {}", o.label);
        }
        let total: f64 = report.outcomes.iter().map(|o| o.per_replication.mean).sum();
        assert!((total - f64::from(report.devices)).abs() < 1e-6, "{name}: {total} of {}", report.devices);
        assert!(report.engine.events > 0, "{name}");
        seen += 1;
    }
    assert!(seen >= 7, "bundled scenarios: {seen}");
    Ok(())
}

#[test]
fn explained_scenario_reads_back_to_the_same_numbers() -> TestResult {
    for path in ["scenarios/sim/s1-depot-throughput.toml", "scenarios/sim/contoso-rollout.toml"] {
        let sc = load(path)?;
        let text = toml::to_string_pretty(&sc.explained())?;
        let again = Scenario::resolve(&parse(&text, Path::new(path))?, Path::new(path))?;
        let a = serde_json::to_string(&run(&sc, 3, 2)?.metrics)?;
        let b = serde_json::to_string(&run(&again, 3, 2)?.metrics)?;
        assert_eq!(a, b, "{path}: every default written out must mean the same scenario");
    }
    Ok(())
}

#[test]
fn contoso_devices_run_their_own_profiles() -> TestResult {
    let sc = load("scenarios/sim/contoso-rollout.toml")?;
    let names: Vec<&str> = sc.flows.iter().map(|f| f.name.as_str()).collect();
    assert!(names.len() >= 3, "{names:?}");
    assert!(
        names.contains(&"Contoso Pre-provisioned") && names.contains(&"Contoso HoloLens SD"),
        "{names:?}"
    );
    // Only Autopilot-registered devices take part; the rest of the 401 are phones, Macs and strays.
    assert!(sc.devices > 50 && sc.devices < 401, "{}", sc.devices);
    let report = run(&sc, 2, 2)?;
    let success = report.outcomes.iter().find(|o| o.label == "success").ok_or("no success row")?;
    assert!(success.per_replication.mean > 0.0);
    // With registered devices only, nobody escapes for lack of registration.
    assert!(report.causes.iter().all(|c| c.label != "not-registered"), "{:?}", report.causes);
    Ok(())
}

#[test]
fn longer_esp_timeout_means_fewer_timeouts() -> TestResult {
    let base = std::fs::read_to_string("scenarios/sim/s4-esp-timeout.toml")?;
    let short = from_text(&base)?;
    let long = from_text(&base.replace("timeout_minutes = 60", "timeout_minutes = 180"))?;
    let (a, b) = (run(&short, 20, 2)?, run(&long, 20, 2)?);
    assert!(
        metric(&a, "esp-timeouts") > metric(&b, "esp-timeouts"),
        "{} vs {}",
        metric(&a, "esp-timeouts"),
        metric(&b, "esp-timeouts")
    );
    Ok(())
}

#[test]
fn more_technicians_and_ports_resealed_more() -> TestResult {
    let base = std::fs::read_to_string("scenarios/sim/s1-depot-throughput.toml")?;
    let small = from_text(
        &base.replace("technicians = 4", "technicians = 2").replace("bench_ports = 24", "bench_ports = 8"),
    )?;
    let large = from_text(&base)?;
    let (a, b) = (run(&small, 6, 2)?, run(&large, 6, 2)?);
    assert!(metric(&a, "devices-per-day") < metric(&b, "devices-per-day"));
    Ok(())
}

#[test]
fn registration_hold_decides_escapes() -> TestResult {
    let base = std::fs::read_to_string("scenarios/sim/s3-registration.toml")?;
    let early = from_text(&base.replace("hold_hours = 2", "hold_hours = 0"))?;
    let late = from_text(&base.replace("hold_hours = 2", "hold_hours = 24"))?;
    let (a, b) = (run(&early, 6, 2)?, run(&late, 6, 2)?);
    assert!(metric(&a, "booted-before-assigned") > 0.2, "{}", metric(&a, "booted-before-assigned"));
    assert!(metric(&b, "booted-before-assigned") < metric(&a, "booted-before-assigned"));
    assert!(metric(&a, "time-to-assigned-p95") > 10.0);
    Ok(())
}

fn fleetlab(args: &[&str]) -> Result<(Option<i32>, String, String), Box<dyn Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetlab")).args(args).output()?;
    Ok((out.status.code(), String::from_utf8(out.stdout)?, String::from_utf8(out.stderr)?))
}

#[test]
fn cli_writes_json_html_and_intune_events() -> TestResult {
    let dir = tempfile::tempdir()?;
    let html = dir.path().join("report.html");
    let events = dir.path().join("events.jsonl");
    let (code, stdout, stderr) = fleetlab(&[
        "simulate",
        "scenarios/sim/s4-esp-timeout.toml",
        "-n",
        "3",
        "--format",
        "json",
        "--out",
        &html.display().to_string(),
        "--events",
        &events.display().to_string(),
    ])?;
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout)?;
    assert_eq!(report["replications"], 3);
    assert_eq!(report["seed"], 4);
    assert!(report["versions"]["generator"].as_str().is_some_and(|g| g.contains("Pcg64Mcg")));
    let page = std::fs::read_to_string(&html)?;
    assert!(page.contains("<svg") && page.contains("s4-esp-timeout"));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&events)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(lines.len(), 40);
    for e in &lines {
        for key in ["deploymentState", "deviceSetupDuration", "enrollmentType", "deploymentTotalDuration"] {
            assert!(e.get(key).is_some(), "{key} missing in {e}");
        }
    }
    // Success first time or on retry: S4's 100 Mbit/s makes most devices retry.
    assert!(lines.iter().any(|e| e["deploymentState"].as_str().is_some_and(|s| s.starts_with("success"))));
    Ok(())
}

#[test]
fn cli_explain_prints_every_default() -> TestResult {
    let (code, stdout, stderr) =
        fleetlab(&["simulate", "scenarios/sim/s1-depot-throughput.toml", "--explain"])?;
    assert_eq!(code, Some(0), "{stderr}");
    for needle in ["[durations", "tpm-transient", "hands_on", "triage", "timeout_minutes", "p_hang"] {
        assert!(stdout.contains(needle), "{needle} missing");
    }
    Ok(())
}

#[test]
fn cli_errors_name_file_line_and_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.toml");
    let cases = [
        ("name = \"x\"\n[depot]\ntechnicians = 2\nbench_port = 4\n", "bad.toml:4:", "bench_port"),
        (
            "name = \"x\"\n[[wave]]\nname = \"w\"\ndevices = 5\n[durations]\npower-of = { fixed = 1 }\n",
            "bad.toml:6:",
            "did you mean \"power-on\"",
        ),
        (
            "name = \"x\"\n[[wave]]\nname = \"w\"\ndevices = 5\nspread = { triangular = [5, 1, 2] }\n",
            "bad.toml:5:",
            "min ≤ mode ≤ max",
        ),
        (
            "name = \"x\"\nreplications = 0\n[[wave]]\nname = \"w\"\ndevices = 5\n",
            "bad.toml:2:",
            "replications",
        ),
        ("name = \"x\"\n", "bad.toml:1:", "no devices"),
    ];
    for (text, place, what) in cases {
        std::fs::write(&bad, text)?;
        let (code, _, stderr) = fleetlab(&["simulate", &bad.display().to_string()])?;
        assert_eq!(code, Some(2), "{text}");
        assert!(stderr.contains(place) && stderr.contains(what), "{text}\n→ {stderr}");
    }
    let (code, _, stderr) = fleetlab(&["simulate", "no/such/file.toml"])?;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no/such/file.toml"), "{stderr}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn scenario_reader_never_panics(cut in 0usize..2000, noise in "[ -~\\n]{0,40}") {
        let base = include_str!("../../scenarios/sim/s5-failing-app.toml");
        let at = base.char_indices().map(|(i, _)| i).nth(cut % base.chars().count()).unwrap_or(0);
        let text = format!("{}{}{}", &base[..at], noise, &base[at..]);
        let path = Path::new("scenarios/sim/fuzz.toml");
        if let Ok(p) = parse(&text, path) {
            if let Ok(sc) = Scenario::resolve(&p, path) {
                prop_assume!(sc.devices <= 2000);
                let _ = simulate(&sc, &RunOptions { replications: Some(1), threads: Some(1), ..RunOptions::default() });
            }
        }
    }
}

#[test]
fn cli_sweep_compares_values_on_the_same_streams() -> TestResult {
    let (code, stdout, stderr) = fleetlab(&[
        "simulate",
        "scenarios/sim/s4-esp-timeout.toml",
        "-n",
        "4",
        "--sweep",
        "esp.timeout_minutes=60,240",
    ])?;
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("60 ") || l.starts_with("240 ")).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let (code, _, stderr) =
        fleetlab(&["simulate", "scenarios/sim/s4-esp-timeout.toml", "--sweep", "esp.timeout_minutes=0"])?;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("timeout_minutes") && stderr.contains("with esp.timeout_minutes = 0"),
        "{stderr}"
    );
    let (code, _, stderr) =
        fleetlab(&["simulate", "scenarios/sim/s4-esp-timeout.toml", "--sweep", "nonsense"])?;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("KEY=V1,V2"), "{stderr}");
    Ok(())
}

#[test]
fn hybrid_connectors_queue_odj_requests() -> TestResult {
    let text = |connectors: u32| {
        format!(
            "name = \"odj\"\nseed = 3\nhorizon_hours = 24\n[fleet]\nmode = \"user-driven\"\njoin = \"hybrid\"\n\
             [hybrid]\nconnectors = {connectors}\nrequests_per_minute = 6\n\
             [[wave]]\nname = \"hq\"\ndevices = 300\nstart_hour = 8\nspread = {{ uniform = [0, 20] }}\n"
        )
    };
    let one = run(&from_text(&text(1))?, 3, 2)?;
    let four = run(&from_text(&text(4))?, 3, 2)?;
    let wait = |r: &Report| r.resources.iter().find(|x| x.name == "connectors").map(|x| x.mean_wait_minutes);
    let (w1, w4) = (wait(&one).ok_or("no connectors")?, wait(&four).ok_or("no connectors")?);
    // 300 requests at 6 a minute on one connector: the queue drains over about 50 minutes.
    assert!(w1 > 10.0 && w4 < w1 / 3.0, "one connector {w1} min, four {w4} min");
    Ok(())
}

#[test]
fn a_generated_inventory_gets_profiles_from_the_tenant() -> TestResult {
    let sc = from_text(
        "name = \"generated\"\nhorizon_hours = 24\n[fleet]\ntenant = \"../contoso/tenant.toml\"\n\
         generate = { devices = 2000, seed = 5 }\nregistered_only = true\n\
         [[wave]]\nname = \"all\"\nstart_hour = 8\nspread = { uniform = [0, 60] }\n",
    )?;
    assert!(sc.devices > 100 && sc.devices < 2000, "{}", sc.devices);
    assert!(sc.flows.len() >= 2, "{}", sc.flows.len());
    let report = run(&sc, 1, 1)?;
    let total: f64 = report.outcomes.iter().map(|o| o.per_replication.mean).sum();
    assert_eq!(total, f64::from(sc.devices));
    let both = from_text(
        "name = \"x\"\n[fleet]\ntenant = \"../contoso/tenant.toml\"\ninventory = \"../contoso/devices.json\"\n\
         generate = { devices = 10 }\n[[wave]]\nname = \"w\"\n",
    );
    assert!(both.is_err_and(|e| e.to_string().contains("not both")));
    Ok(())
}
