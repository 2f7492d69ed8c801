//! The bundled scenarios against back-of-envelope physical bounds: no
//! replication may finish more devices than its technicians, bench ports
//! or uplinks could have served, nor move more bytes than its uplinks
//! carry. Each bound is a capacity over the horizon divided by the least
//! work one finished device needs of it, so a simulator that exceeds one
//! has created capacity out of nothing.

use std::error::Error;
use std::path::Path;

use fleetlab::sim::dist::Dist;
use fleetlab::sim::engine::{minutes, MINUTE};
use fleetlab::sim::model::{run_replication, Outcome, RepResult};
use fleetlab::sim::resolve::Scenario;
use fleetlab::sim::scenario;

type TestResult = Result<(), Box<dyn Error>>;

const BUNDLED: [&str; 8] = [
    "scenarios/sim/s1-depot-throughput.toml",
    "scenarios/sim/s2-wave-completion.toml",
    "scenarios/sim/s3-registration.toml",
    "scenarios/sim/s4-esp-timeout.toml",
    "scenarios/sim/s5-failing-app.toml",
    "scenarios/sim/mmc.toml",
    "scenarios/sim/contoso-rollout.toml",
    "scenarios/sim/wave-10k.toml",
];

/// Replications checked per scenario.
const REPS: u64 = 3;

fn load(path: &str) -> Result<Scenario, Box<dyn Error>> {
    let parsed = scenario::load(Path::new(path))?;
    Ok(Scenario::resolve(&parsed, Path::new(path))?)
}

/// The least value a distribution can take (0 when unbounded below).
fn least(d: &Dist) -> f64 {
    match d {
        Dist::Fixed(m) => *m,
        Dist::Triangular(a, ..) | Dist::Pert(a, ..) | Dist::Uniform(a, _) => *a,
        Dist::Empirical(v) => v.iter().copied().fold(f64::INFINITY, f64::min).max(0.0),
        Dist::Exponential(_) | Dist::Lognormal(..) => 0.0,
    }
}

fn done(r: &RepResult) -> f64 {
    f64::from(r.outcomes[1] + r.outcomes[2] + r.outcomes[3])
}

/// Unit-minutes a resource offered over the run.
fn offered(r: &RepResult, name: &str) -> Option<f64> {
    r.resources.iter().find(|x| x.name == name).map(|x| x.available.iter().sum::<f64>() / MINUTE as f64)
}

/// Technician-limited: every finished depot device took at least the
/// least hands-on time (and, pre-provisioned, the least reseal time) of a
/// technician; bench-port-limited: it held a port at least that long.
fn check_people(path: &str, sc: &Scenario, r: &RepResult) {
    let explained = sc.explained();
    let Some(depot) = explained.depot.as_ref() else { return };
    let mut per_device = depot.hands_on.as_ref().map_or(0.0, least);
    if sc.mode == scenario::Mode::PreProvisioned {
        per_device += depot.reseal.as_ref().map_or(0.0, least);
    }
    if per_device <= 0.0 {
        return;
    }
    for name in ["technicians", "bench-ports"] {
        if let Some(minutes) = offered(r, name) {
            let bound = minutes / per_device;
            assert!(
                done(r) <= bound + 1e-9,
                "{path}: {} devices done, {name} allow at most {bound:.1}",
                done(r)
            );
        }
    }
}

/// Bandwidth-limited: an uplink moves at most its capacity in every
/// bucket, and every device that installed all its apps fetched at least
/// the part of each file peers cannot serve over its site's uplink.
fn check_links(path: &str, sc: &Scenario, r: &RepResult) {
    for res in r.resources.iter().filter(|x| x.kind == "link") {
        for (b, (moved, cap)) in res.busy.iter().zip(&res.available).enumerate() {
            assert!(
                *moved <= cap * (1.0 + 1e-9) + 1.0,
                "{path}: {} moved {moved:.0} bytes in bucket {b}, capacity {cap:.0}",
                res.name
            );
        }
    }
    let Some(devs) = &r.devices else { return };
    for (s, site) in sc.sites.iter().enumerate().filter(|(_, s)| s.spec.shared) {
        let capacity = site.uplink * sc.horizon as f64;
        let finished: Vec<usize> = devs
            .iter()
            .enumerate()
            .filter(|(_, d)| d.site() as usize == s)
            .filter(|(_, d)| matches!(d.outcome, Outcome::Success | Outcome::SuccessOnRetry))
            .map(|(i, _)| i)
            .collect();
        let need: f64 = finished
            .iter()
            .map(|&i| {
                let flow = sc.device_flows.get(i).and_then(|f| sc.flows.get(f.0 as usize));
                let phases: &[usize] = if flow.is_some_and(|f| f.technician) { &[2] } else { &[0, 1, 3, 4] };
                phases
                    .iter()
                    .filter_map(|&p| flow.and_then(|f| f.phase_apps.get(p)))
                    .flatten()
                    .filter_map(|&a| sc.apps.get(a as usize))
                    .map(|a| a.bytes * (1.0 - sc.peer_share(s, a.bytes, u32::MAX)))
                    .sum::<f64>()
            })
            .sum();
        assert!(
            need <= capacity * (1.0 + 1e-9),
            "{path}: {} devices done at site {} need {:.1} GB over the uplink, which carries at most {:.1} GB",
            finished.len(),
            site.spec.name,
            need / 1e9,
            capacity / 1e9
        );
    }
}

#[test]
fn bundled_scenarios_stay_within_physical_bounds() -> TestResult {
    for path in BUNDLED {
        let sc = load(path)?;
        for rep in 0..REPS {
            let r = run_replication(&sc, sc.file.seed, rep, true);
            check_people(path, &sc, &r);
            check_links(path, &sc, &r);
            // Nothing ends before it starts, and time in system is bounded by the horizon.
            for t in &r.time_in_system {
                assert!(*t >= 0.0 && *t <= minutes(sc.horizon) + 1e-9, "{path}: time in system {t}");
            }
        }
    }
    Ok(())
}

#[test]
fn the_bounds_catch_a_simulator_that_exceeds_them() -> TestResult {
    // A replication doctored to claim more finished devices than four
    // technicians could have touched must fail the technician bound.
    let sc = load("scenarios/sim/s1-depot-throughput.toml")?;
    let mut r = run_replication(&sc, sc.file.seed, 0, false);
    let techs = offered(&r, "technicians").ok_or("no technicians")?;
    r.outcomes[1] = (techs / 2.0) as u32 + 1;
    let caught = std::panic::catch_unwind(|| check_people("doctored", &sc, &r));
    assert!(caught.is_err(), "a device count above the technician bound passed");
    Ok(())
}
