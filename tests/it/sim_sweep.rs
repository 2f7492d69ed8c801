//! Sweeps and searches as library calls: the grid, the busiest resource
//! judged over its busy period, and no bottleneck re-runs per value.

use std::error::Error;
use std::path::Path;

use fleetlab::sim::run::RunOptions;
use fleetlab::sim::search::{search, Goal, SearchOptions};
use fleetlab::sim::sweep::{busiest, parse_axes, sweep};

type TestResult = Result<(), Box<dyn Error>>;

const S1: &str = "scenarios/sim/s1-depot-throughput.toml";

#[test]
fn a_sweep_names_the_busiest_resource_by_busy_period_and_skips_the_bottleneck_check() -> TestResult {
    let text = std::fs::read_to_string(S1)?;
    let axes = parse_axes("depot.technicians=2,6")?;
    let opts = RunOptions { replications: Some(3), threads: Some(2), ..RunOptions::default() };
    let variants = sweep(&text, Path::new(S1), &axes, &opts)?;
    assert_eq!(variants.len(), 2);
    for v in &variants {
        assert!(v.report.bottleneck.is_empty(), "{}: {}", v.label, v.report.bottleneck);
        let (name, u) = busiest(&v.report).ok_or("no resources")?;
        let best = v.report.resources.iter().map(|r| r.busy_period_utilisation).fold(0.0, f64::max);
        assert_eq!(u, best, "{name}");
        // Over the busy period a limiting resource is near saturation even
        // when the idle days after the wave dilute its whole-run mean.
        let r = v.report.resources.iter().find(|r| r.name == name).ok_or("no such resource")?;
        assert!(r.busy_period_utilisation >= r.mean_utilisation, "{name}");
    }
    // Two technicians are the limit, and run near flat out while they are.
    let (name, u) = busiest(&variants[0].report).ok_or("no resources")?;
    assert_eq!(name, "technicians");
    assert!(u > 0.9, "{u}");
    Ok(())
}

#[test]
fn the_search_is_a_library_call() -> TestResult {
    let text = "name = \"q\"\nhorizon_hours = 24\nreplications = 4\n[fleet]\nmode = \"hands-on-only\"\n\
                [depot]\ntechnicians = 1\ndevices = 96\nhands_on = { fixed = 30 }\n";
    let goal = Goal::parse("devices-done >= 96")?;
    let opts = SearchOptions { confidence: 1.0, replications: None, seed: None, threads: Some(2) };
    let r = search(text, Path::new("q.toml"), "depot.technicians=1..8", &goal, &opts)?;
    // 96 half-hour jobs in 24 hours: 2 technicians exactly.
    assert_eq!(r.found.value, Some(2));
    assert!(r.found.probes.iter().any(|p| p.value == 1 && p.met == 0));
    Ok(())
}
