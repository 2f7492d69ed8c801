//! Simulator benchmarks: one replication of the full enrollment model (S1,
//! S2, the 10,000-laptop wave), one of the M/M/3 queue, and whole Monte Carlo runs on 1 and 2
//! threads.
//!
//! Run: `cargo bench --bench sim`. Every group reports time per
//! replication (or per run) and, through `Throughput::Elements`, events per
//! second: the event count is taken once from an untimed replication, and a
//! replication's count is a pure function of scenario, seed and index, so
//! every timed iteration processes exactly that many events.
//!
//! The SimPy comparison on the M/M/3 queue is a separate driver,
//! `python3 benches/peers/simpy_mmc.py` (benches/README.md).

use std::error::Error;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use fleetlab::sim::model::run_replication;
use fleetlab::sim::resolve::Scenario;
use fleetlab::sim::run::{simulate, RunOptions};
use fleetlab::sim::scenario;

/// Replications of one Monte Carlo run in the scaling group: enough that
/// both threads have batches to share, few enough that a sample of S2
/// stays near a second on a 2-core machine.
const MONTE_CARLO_REPS: u32 = 8;

type Outcome = Result<(), Box<dyn Error>>;

fn load(file: &str) -> Result<Scenario, Box<dyn Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let parsed = scenario::load(&path)?;
    Ok(Scenario::resolve(&parsed, &path)?)
}

/// One replication, the scenario's own seed, index 0 — what `fleetlab
/// simulate -n 1` runs.
fn replication(c: &mut Criterion, group: &str, file: &str, samples: usize) -> Outcome {
    let sc = load(file)?;
    let seed = sc.file.seed;
    let events = run_replication(&sc, seed, 0, false).events;
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(events));
    g.sample_size(samples);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function(format!("{file}, 1 replication, {events} events"), |b| {
        b.iter(|| run_replication(black_box(&sc), seed, 0, false).events)
    });
    g.finish();
    Ok(())
}

/// `simulate` as the CLI calls it, minus printing: replications in
/// batches on a rayon pool of its own, reduced in order.
fn monte_carlo(c: &mut Criterion, file: &str) -> Outcome {
    let sc = load(file)?;
    let seed = sc.file.seed;
    let events: u64 =
        (0..MONTE_CARLO_REPS).map(|r| run_replication(&sc, seed, u64::from(r), false).events).sum();
    let mut g = c.benchmark_group(format!("Monte Carlo, {file}, {MONTE_CARLO_REPS} replications"));
    g.throughput(Throughput::Elements(events));
    // A run takes a fifth of a second or more: flat sampling keeps ten
    // samples within the measurement time instead of criterion's growing
    // iteration counts.
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(10));
    for threads in [1, 2] {
        let opts = RunOptions {
            replications: Some(MONTE_CARLO_REPS),
            threads: Some(threads),
            ..RunOptions::default()
        };
        let out = simulate(&sc, &opts)?;
        if out.report.engine.events != events {
            return Err(format!(
                "simulate counted {} events on {threads} thread(s), the replications {events}",
                out.report.engine.events
            )
            .into());
        }
        g.bench_function(format!("simulate, {threads} thread(s)"), |b| {
            b.iter(|| simulate(black_box(&sc), &opts).map(|o| o.report.engine.events).unwrap_or(0))
        });
    }
    g.finish();
    Ok(())
}

fn benches(c: &mut Criterion) {
    let runs: [(&str, Outcome); 6] = [
        ("s2", replication(c, "enrollment model, S2", "scenarios/sim/s2-wave-completion.toml", 10)),
        ("wave-10k", replication(c, "enrollment model, wave-10k", "scenarios/sim/wave-10k.toml", 10)),
        ("s1", replication(c, "enrollment model, S1", "scenarios/sim/s1-depot-throughput.toml", 20)),
        ("mmc", replication(c, "M/M/3 queue", "scenarios/sim/mmc.toml", 20)),
        ("mc s2", monte_carlo(c, "scenarios/sim/s2-wave-completion.toml")),
        ("mc mmc", monte_carlo(c, "scenarios/sim/mmc.toml")),
    ];
    for (what, result) in runs {
        if let Err(e) = result {
            eprintln!("sim bench {what}: {e}");
        }
    }
}

criterion_group!(sim_benches, benches);
criterion_main!(sim_benches);
