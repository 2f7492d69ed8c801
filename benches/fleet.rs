//! Columnar engine benchmarks on a generated fleet: the canonical Autopilot
//! rule on 1 and 2 threads against the reference evaluator in the same run,
//! and a whole group set in one pass.
//!
//! End to end, in process: a JSON Lines file loaded whole and projected to
//! the rule's two fields, a packed index opened (memory-mapped) and the rule
//! answered from it, and the 50-group membership report written as JSON
//! (bytes per second). Whole-process figures next to DuckDB come from
//! `python3 benches/peers/peers.py --end-to-end`.
//!
//! Run: `cargo bench --bench fleet` (FLEETLAB_BENCH_DEVICES, default
//! 2,000,000). Criterion reports time per pass and devices per second;
//! ns/device is the inverse of the throughput.

use std::error::Error;
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetlab::fleet::{load_index, load_index_projected, pack, CompiledSet, FleetIndex};
use fleetlab::groups::write::{groups_json, Extras, Shape};
use fleetlab::groups::{GroupSet, Membership};
use fleetlab::inventory::{generate, Device, FleetSpec, Projection};
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

/// JSON Lines and packed files of the fleet, loaded and answered end to end.
fn end_to_end(c: &mut Criterion, n: u64, index: &FleetIndex, rule: &Rule) -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let lines = dir.path().join("fleet.jsonl");
    generate(
        &FleetSpec { devices: n, seed: 1 },
        &mut std::io::BufWriter::new(std::fs::File::create(&lines)?),
    )?;
    let packed = dir.path().join("fleet.fleet");
    std::fs::write(&packed, pack::to_bytes(index)?)?;
    let answer =
        |ix: &FleetIndex| CompiledSet::compile(&[rule], ix).map(|s| s.evaluate()[0].count()).unwrap_or(0);
    let projection = Projection::for_rules(&[rule]);
    let mut g = c.benchmark_group(format!("end to end, {n} devices"));
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("JSON Lines, projected -> answer", |b| {
        b.iter(|| load_index_projected(&lines, &|_| {}, &projection).map(|ix| answer(&ix)).unwrap_or(0))
    });
    g.bench_function("JSON Lines, every field -> answer", |b| {
        b.iter(|| load_index(&lines, &|_| {}).map(|ix| answer(&ix)).unwrap_or(0))
    });
    g.bench_function("packed, memory-mapped: open", |b| {
        b.iter(|| FleetIndex::open(&packed).map(|ix| ix.len()).unwrap_or(0))
    });
    g.bench_function("packed, memory-mapped -> answer", |b| {
        b.iter(|| FleetIndex::open(&packed).map(|ix| answer(&ix)).unwrap_or(0))
    });
    g.bench_function("packed, read into memory -> answer", |b| {
        b.iter(|| FleetIndex::read(&packed).map(|ix| answer(&ix)).unwrap_or(0))
    });
    g.finish();
    Ok(())
}

/// Bytes a writer was given.
struct Counting(u64);

impl std::io::Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The 50-group membership report as JSON, into a sink: output bytes per second.
fn membership_output(c: &mut Criterion, index: &FleetIndex, groups: &GroupSet) {
    let rules: Vec<&Rule> = groups.groups.iter().map(|g| &g.rule).collect();
    let Ok(set) = CompiledSet::compile(&rules, index) else { return };
    let m = Membership::from_bitmaps(set.evaluate());
    let records: Vec<(&str, &str)> =
        (0..index.len()).map(|i| (index.id(i), index.display_name(i).unwrap_or(""))).collect();
    let timings = serde_json::json!({});
    let extras = Extras { timings: &timings, warnings: &[] };
    let mut size = Counting(0);
    if groups_json(
        &mut size,
        groups,
        &m,
        &records[..],
        fleetlab::rule::ObjectType::Device,
        Shape::Both,
        extras,
    )
    .is_err()
    {
        return;
    }
    let mut g = c.benchmark_group(format!("{} groups, membership JSON", groups.groups.len()));
    g.throughput(Throughput::Bytes(size.0));
    g.sample_size(10);
    // The writers format on the global pool from a thread of their own
    // while this one writes, so the pool is the process's, as in the CLI.
    g.bench_function("write to io::sink", |b| {
        b.iter(|| {
            groups_json(
                &mut std::io::sink(),
                groups,
                &m,
                &records[..],
                fleetlab::rule::ObjectType::Device,
                Shape::Both,
                extras,
            )
            .is_ok()
        })
    });
    g.finish();
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
    if let Err(e) = end_to_end(c, n, &index, &rule) {
        eprintln!("end-to-end benchmarks skipped: {e}");
    }

    let options = Options { object: Some(ObjectType::Device), ..Options::default() };
    for file in ["scenarios/contoso/groups.toml", "scenarios/enterprise/groups.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let Ok(groups) = GroupSet::load(&path, &options) else { continue };
        if groups.groups.len() == 50 {
            membership_output(c, &index, &groups);
        }
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
