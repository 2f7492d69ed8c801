//! A full pull against the fake Graph on loopback, with 50–150 ms of
//! simulated latency per request: one request at a time against four in
//! flight (the CLI's default).
//!
//! Run: `cargo bench --bench sync` (FLEETLAB_BENCH_SYNC_DEVICES, default
//! 10,000 devices; the contoso groups; pages of 200). Criterion reports the
//! time per pull and records per second (devices, Autopilot identities,
//! groups, profiles and assignments received).
//!
//! The second group weighs two request options Graph documents for delta
//! rounds, on the same server: `Prefer: return=minimal` on a group delta
//! round from a deltaLink ("group: delta"), after 10% of the devices moved
//! between dynamic groups; and, for scale, what a larger page would save on
//! the device delta (the fake's page size stands in for
//! `Prefer: odata.maxpagesize`, which Graph documents for other resources
//! but not for directory deltas). Each prints the bytes a round receives.

use std::error::Error;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Faults, Scenario};
use fleetlab::msgraph::sync::{self, PullOptions, Quiet};
use fleetlab::msgraph::{ApiVersion, ClientConfig, Credentials, GraphClient, Request, Secret};

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
    server_with(devices, 200)
}

fn server_with(devices: u64, page_size: usize) -> Result<FakeServer, Box<dyn Error>> {
    let mut scenario = Scenario::generated(devices, 1)?;
    scenario.groups =
        Scenario::groups_from(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso/groups.toml"))?;
    let faults = Faults { latency_ms: Some((50, 150)), seed: 1, ..Faults::default() };
    Ok(FakeServer::start(scenario, FakeConfig { page_size, faults, ..FakeConfig::default() }, 0)?)
}

/// Pages through a round from `url`, sending `headers` on every request;
/// returns the deltaLink and the bytes received.
fn round(
    runtime: &tokio::runtime::Runtime,
    client: &GraphClient,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(String, usize), Box<dyn Error>> {
    let (mut next, mut bytes) = (url.to_string(), 0);
    loop {
        let mut request = Request::get(next.clone());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let response = runtime.block_on(client.send(&request))?;
        bytes += response.body.len();
        let page: serde_json::Value = serde_json::from_slice(&response.body)?;
        match (page["@odata.nextLink"].as_str(), page["@odata.deltaLink"].as_str()) {
            (Some(n), _) => next = n.to_string(),
            (None, Some(d)) => return Ok((d.to_string(), bytes)),
            (None, None) => return Err("a round without a deltaLink".into()),
        }
    }
}

/// Times `rounds` group delta rounds from one deltaLink (the fake answers
/// the same changes every time), with and without `Prefer: return=minimal`.
fn delta_options(c: &mut Criterion) -> Result<(), Box<dyn Error>> {
    let n =
        std::env::var("FLEETLAB_BENCH_SYNC_DEVICES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000u64);
    let server = server(n)?;
    let handle = server.handle();
    let client = GraphClient::new(config(server.url(), 1))?;
    let runtime = sync::runtime()?;
    let initial = client.url(ApiVersion::V1, sync::GROUPS_DELTA);
    let (link, _) = round(&runtime, &client, &initial, &[])?;
    // Move 10% of the devices: a new [OrderId] takes them out of their tag groups.
    for (i, d) in handle.devices()?.iter().enumerate().filter(|(i, _)| i % 10 == 0) {
        let id = d["id"].as_str().unwrap_or_default();
        let mut ids: Vec<serde_json::Value> = d["physicalIds"].as_array().cloned().unwrap_or_default();
        ids.retain(|p| !p.as_str().unwrap_or("").starts_with("[OrderId]"));
        ids.push(serde_json::json!(format!("[OrderId]:moved-{}", i % 7)));
        handle.patch_device(id, &serde_json::json!({ "physicalIds": ids }))?;
    }
    let mut group = c.benchmark_group(format!("group delta round after moving {} of {n} devices", n / 10));
    group.sample_size(10).measurement_time(Duration::from_secs(10)).warm_up_time(Duration::from_secs(1));
    for (name, headers) in
        [("default", vec![]), ("Prefer: return=minimal", vec![("Prefer", "return=minimal")])]
    {
        let (_, bytes) = round(&runtime, &client, &link, &headers)?;
        eprintln!("group delta round, {name}: {bytes} bytes");
        group
            .bench_function(name, |b| b.iter(|| round(&runtime, &client, &link, &headers).map(|r| r.1).ok()));
    }
    group.finish();

    let mut group = c.benchmark_group(format!("device delta round of {n} devices by page size"));
    group.sample_size(10).measurement_time(Duration::from_secs(20)).warm_up_time(Duration::from_secs(1));
    for size in [100usize, 999] {
        let server = server_with(n, size)?;
        let client = GraphClient::new(config(server.url(), 1))?;
        let url = client.url(ApiVersion::V1, &sync::devices_delta());
        let (_, bytes) = round(&runtime, &client, &url, &[])?;
        eprintln!("device delta round, pages of {size}: {bytes} bytes");
        group.bench_function(format!("pages of {size}"), |b| {
            b.iter(|| round(&runtime, &client, &url, &[]).map(|r| r.1).ok())
        });
    }
    group.finish();
    Ok(())
}

fn delta_benches(c: &mut Criterion) {
    if let Err(e) = delta_options(c) {
        eprintln!("delta options: {e}");
    }
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

criterion_group!(sync_benches, benches, delta_benches);
criterion_main!(sync_benches);
