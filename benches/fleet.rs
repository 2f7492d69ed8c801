//! Columnar engine benchmarks on a generated fleet: the canonical Autopilot
//! rule on 1 and 2 threads against the reference evaluator in the same run,
//! and a whole group set in one pass.
//!
//! Run: `cargo bench --bench fleet` (FLEETLAB_BENCH_DEVICES, default
//! 2,000,000). Criterion reports time per pass and devices per second;
//! ns/device is the inverse of the throughput.

use std::error::Error;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetlab::fleet::{CompiledSet, FleetIndex};
use fleetlab::groups::GroupSet;
use fleetlab::inventory::{generate, Device, FleetSpec};
use fleetlab::rule::{ObjectType, Options, Rule};
use rayon::prelude::*;

const CANONICAL: &str =
    r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#;

fn fleet(n: u64) -> Result<Vec<Device>, Box<dyn Error>> {
    let mut buf = Vec::new();
    generate(&FleetSpec { devices: n, seed: 1 }, &mut buf)?;
    let text = String::from_utf8(buf)?;
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines.par_iter().map(|l| serde_json::from_str(l)).collect::<Result<Vec<Device>, _>>()?)
}

fn pool(threads: usize) -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok()
}

fn benches(c: &mut Criterion) {
    let n = std::env::var("FLEETLAB_BENCH_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000_000u64);
    let Ok(devices) = fleet(n) else { return };
    let Ok(index) = FleetIndex::from_devices(&devices) else { return };
    let Ok(rule) = Rule::new(CANONICAL) else { return };
    let Ok(set) = CompiledSet::compile(&[&rule], &index) else { return };
    let columnar = set.evaluate().first().map_or(0, |b| b.count());
    let reference = devices.par_iter().filter(|d| rule.matches(*d)).count();
    if columnar != reference {
        eprintln!("columnar ({columnar}) and reference ({reference}) disagree; not timing");
        return;
    }

    let mut g = c.benchmark_group(format!("canonical rule, {n} devices"));
    g.throughput(Throughput::Elements(n));
    g.sample_size(20);
    for threads in [1, 2] {
        let Some(p) = pool(threads) else { continue };
        g.bench_function(format!("columnar, {threads} thread(s)"), |b| {
            b.iter(|| p.install(|| set.evaluate().first().map_or(0, |m| m.count())))
        });
        g.bench_function(format!("reference, {threads} thread(s)"), |b| {
            b.iter(|| p.install(|| devices.par_iter().filter(|d| rule.matches(*d)).count()))
        });
    }
    g.bench_function("compile", |b| b.iter(|| CompiledSet::compile(&[black_box(&rule)], &index).is_ok()));
    g.finish();

    let options = Options { object: Some(ObjectType::Device), ..Options::default() };
    for file in ["scenarios/contoso/groups.toml", "scenarios/enterprise/groups.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let Ok(groups) = GroupSet::load(&path, &options) else { continue };
        let rules: Vec<&Rule> = groups.groups.iter().map(|g| &g.rule).collect();
        let mut g = c.benchmark_group(format!("{} groups of {file}, {n} devices", rules.len()));
        g.throughput(Throughput::Elements(n));
        g.sample_size(10);
        for threads in [1, 2] {
            let Some(p) = pool(threads) else { continue };
            g.bench_function(format!("compile + evaluate, {threads} thread(s)"), |b| {
                b.iter(|| {
                    p.install(|| {
                        CompiledSet::compile(&rules, &index).map(|s| s.evaluate().len()).unwrap_or(0)
                    })
                })
            });
        }
        g.finish();
    }
}

criterion_group!(fleet_benches, benches);
criterion_main!(fleet_benches);
