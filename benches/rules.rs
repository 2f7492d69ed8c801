//! Rule-engine benchmarks: parse + check, and the reference evaluator side
//! by side with the hand-written Rust loop an engineer would write for the
//! same rule (the floor any generic engine is measured against).
//!
//! Run: `cargo bench --bench rules`. Criterion prints time per iteration;
//! divide by the device count for ns/device, and compare the
//! `reference` and `handwritten` lines of the same group for the ratio.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use fleetlab::groups::GroupSet;
use fleetlab::inventory::{load_devices, Device};
use fleetlab::rule::{Options, Rule};

const CANONICAL: &str =
    r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#;

fn contoso() -> Vec<Device> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/devices.json");
    load_devices(&path).unwrap_or_default()
}

/// The contoso fleet repeated to `n` devices with distinct ids.
fn scaled(n: usize) -> Vec<Device> {
    let base = contoso();
    if base.is_empty() {
        return Vec::new();
    }
    (0..n)
        .map(|i| {
            let mut d = base[i % base.len()].clone();
            d.id = format!("{}-{i}", d.id);
            d
        })
        .collect()
}

/// What an engineer writes by hand for CANONICAL on the same structs.
fn handwritten(d: &Device) -> bool {
    d.operating_system.as_deref().is_some_and(|os| os.eq_ignore_ascii_case("windows"))
        && d.physical_ids
            .iter()
            .flatten()
            .any(|p| p.get(..7).is_some_and(|h| h.eq_ignore_ascii_case("[ztdid]")))
}

fn parse_check(c: &mut Criterion) {
    c.bench_function("parse+check canonical Autopilot rule", |b| {
        b.iter(|| Rule::new(black_box(CANONICAL)).is_ok())
    });
}

fn canonical_rule(c: &mut Criterion) {
    let Ok(rule) = Rule::new(CANONICAL) else { return };
    let devices = scaled(100_000);
    let mut g = c.benchmark_group("canonical rule, 100k devices, 1 thread");
    g.throughput(Throughput::Elements(devices.len() as u64));
    g.bench_function("reference", |b| b.iter(|| devices.iter().filter(|d| rule.matches(*d)).count()));
    g.bench_function("handwritten", |b| b.iter(|| devices.iter().filter(|d| handwritten(d)).count()));
    g.finish();
}

fn group_set(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/groups.toml");
    let Ok(set) = GroupSet::load(&path, &Options::default()) else { return };
    let devices = scaled(100_000);
    let mut g = c.benchmark_group("contoso group set");
    g.throughput(Throughput::Elements(devices.len() as u64));
    g.bench_with_input(BenchmarkId::new("25 groups", devices.len()), &devices, |b, d| {
        b.iter(|| set.evaluate(d).groups())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = parse_check, canonical_rule, group_set
}
criterion_main!(benches);
