//! A full pull against the fake Graph on loopback, with 50–150 ms of
//! simulated latency per request: one request at a time against four in
//! flight (the CLI's default).
//!
//! Run: `cargo bench --bench sync` (FLEETLAB_BENCH_SYNC_DEVICES, default
//! 10,000 devices; the contoso groups; pages of 200). Criterion reports the
//! time per pull and records per second (devices, Autopilot identities,
//! groups, profiles and assignments received).

use std::error::Error;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Faults, Scenario};
use fleetlab::msgraph::sync::{self, PullOptions, Quiet};
use fleetlab::msgraph::{ClientConfig, Credentials, Secret};

fn config(url: &str, concurrency: usize) -> ClientConfig {
    let creds = Credentials {
        tenant: "contoso.onmicrosoft.com".into(),
        client_id: "bench".into(),
        secret: Secret::new("bench"),
    };
    let mut c = ClientConfig::for_url(url, creds);
    c.concurrency = concurrency;
    c
}

fn server(devices: u64) -> Result<FakeServer, Box<dyn Error>> {
    let mut scenario = Scenario::generated(devices, 1)?;
    scenario.groups =
        Scenario::groups_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/groups.toml"))?;
    let faults = Faults { latency_ms: Some((50, 150)), seed: 1, ..Faults::default() };
    Ok(FakeServer::start(scenario, FakeConfig { page_size: 200, faults, ..FakeConfig::default() }, 0)?)
}

fn benches(c: &mut Criterion) {
    let n =
        std::env::var("FLEETLAB_BENCH_SYNC_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000u64);
    let Ok(server) = server(n) else { return };
    let Ok(dir) = tempfile::tempdir() else { return };
    let db = dir.path().join("bench.db");
    // One pull to learn how many records a pull receives.
    let Ok(probe) = sync::pull_blocking(config(server.url(), 4), &db, PullOptions { full: true }, &Quiet)
    else {
        return;
    };
    let mut group = c.benchmark_group(format!("full pull of {n} devices, 50-150 ms latency"));
    group.sample_size(10).measurement_time(Duration::from_secs(30)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(probe.received));
    for (name, concurrency) in [("sequential", 1), ("4 in flight", 4), ("8 in flight", 8)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                sync::pull_blocking(
                    config(server.url(), concurrency),
                    &db,
                    PullOptions { full: true },
                    &Quiet,
                )
                .map(|r| r.received)
                .ok()
            })
        });
    }
    group.finish();
}

criterion_group!(sync_benches, benches);
criterion_main!(sync_benches);
