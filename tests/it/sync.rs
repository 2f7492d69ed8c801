//! The Graph sync adapter against the fake Graph, on loopback: full pulls
//! under injected faults, delta rounds, resyncs, looping pagers, `$batch`,
//! Intune errors, tokens.

use std::error::Error;
use std::path::Path;
use std::time::Duration;

use fleetlab::msgraph::client::Method;
use fleetlab::msgraph::fake::{
    FakeConfig, FakeHandle, FakeServer, Faults, LoopBug, RetryAfterStyle, Scenario,
};
use fleetlab::msgraph::snapshot::Mode;
use fleetlab::msgraph::sync::{self, PullOptions, PullReport, Quiet};
use fleetlab::msgraph::{
    batch, ApiVersion, BatchRequest, ClientConfig, Credentials, GraphClient, GraphError, Request, Secret,
    Snapshot,
};
use serde_json::{json, Value};

type TestResult = Result<(), Box<dyn Error>>;

pub(crate) const GROUPS: &str = "scenarios/contoso/groups.toml";

pub(crate) fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn client_config(url: &str) -> ClientConfig {
    let creds = Credentials {
        tenant: "contoso.onmicrosoft.com".into(),
        client_id: "sandbox".into(),
        secret: Secret::new("test-secret"),
    };
    let mut config = ClientConfig::for_url(url, creds);
    config.retry.base_delay = Duration::from_millis(20);
    config.retry.max_delay = Duration::from_millis(500);
    config.retry.max_attempts = 12;
    config
}

fn profiles() -> Vec<Value> {
    vec![
        json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
               "id": "73eae2b2-5a11-400a-984f-d3ff1f975164", "displayName": "AP-UserDriven-Sales",
               "createdDateTime": "2024-11-02T10:00:00Z", "deviceNameTemplate": "SALES-%RAND:6%",
               "outOfBoxExperienceSetting": {"deviceUsageType": "singleUser", "userType": "standard"},
               "assignments": [{"id": "73eae2b2-5a11-400a-984f-d3ff1f975164_e34a8051-fb68-41fc-910c-114cefb5812a_0",
                                "source": "direct", "sourceId": null,
                                "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget",
                                           "groupId": "e34a8051-fb68-41fc-910c-114cefb5812a"}}]}),
        json!({"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
               "id": "17fa8111-be93-44d7-b6e6-e0310c3ae72d", "displayName": "AP-Kiosk-SelfDeploy",
               "createdDateTime": "2025-01-20T08:30:00Z",
               "outOfBoxExperienceSetting": {"deviceUsageType": "shared"},
               "assignments": [{"id": "17fa8111-be93-44d7-b6e6-e0310c3ae72d_allDevices_0", "source": "direct",
                                "sourceId": null, "target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}}]}),
    ]
}

/// The contoso tenant with two profiles.
pub(crate) fn contoso() -> Result<Scenario, Box<dyn Error>> {
    let mut s = Scenario::load(&root().join("scenarios/contoso"))?;
    s.profiles = profiles();
    Ok(s)
}

/// A generated fleet with the contoso groups and two profiles.
pub(crate) fn fleet(devices: u64) -> Result<Scenario, Box<dyn Error>> {
    let mut s = Scenario::generated(devices, 7)?;
    s.groups = Scenario::groups_from(&root().join(GROUPS))?;
    s.profiles = profiles();
    Ok(s)
}

pub(crate) fn pull(url: &str, db: &Path, full: bool) -> Result<PullReport, GraphError> {
    sync::pull_blocking(client_config(url), db, PullOptions { full }, &Quiet)
}

fn without_annotations(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| !k.starts_with('@')).map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        other => other.clone(),
    }
}

fn by_id(mut list: Vec<Value>) -> Vec<Value> {
    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    list
}

/// The snapshot holds exactly the server's data, record for record.
pub(crate) fn assert_matches(server: &FakeHandle, db: &Path) -> TestResult {
    let snap = Snapshot::open(db)?;
    let devices = snap.devices()?;
    let expected = by_id(server.devices()?);
    assert_eq!(devices.len(), expected.len(), "device count");
    for (got, want) in devices.iter().zip(&expected) {
        assert_eq!(got, &without_annotations(want), "device {}", want["id"]);
    }
    let autopilot = snap.autopilot_devices()?;
    let expected: Vec<Value> = by_id(server.autopilot()?).iter().map(without_annotations).collect();
    assert_eq!(autopilot, expected, "autopilot identities");
    let groups = snap.groups()?;
    let expected = server.groups()?;
    assert_eq!(groups.len(), expected.len(), "group count");
    for (got, (id, props, members)) in groups.iter().zip(&expected) {
        assert_eq!(&got.group, props, "group {id}");
        assert_eq!(&got.members, members, "members of group {id}");
    }
    let got = snap.profiles()?;
    let want = by_id(server.profiles()?);
    assert_eq!(got, want, "profiles and assignments");
    Ok(())
}

fn faults_10_1() -> Faults {
    Faults { throttle: 0.10, server_error: 0.01, retry_after_secs: 1, seed: 11, ..Faults::default() }
}

fn big_pull(devices: u64, page_size: usize) -> TestResult {
    let config = FakeConfig { page_size, faults: faults_10_1(), ..FakeConfig::default() };
    let server = FakeServer::start(fleet(devices)?, config, 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    let report = pull(server.url(), &db, false)?;
    let stats = server.handle().stats();
    eprintln!(
        "{devices} devices: {} records in {:.1} s ({:.0}/s); {} requests, {} 429s, {} 500s, {} retries",
        report.received,
        report.seconds,
        report.received as f64 / report.seconds,
        stats.requests,
        stats.throttled,
        stats.server_errors,
        report.http.retries
    );
    assert!(stats.throttled > 0, "faults were injected: {stats:?}");
    assert_eq!(report.changes.devices_upserted, devices);
    assert_matches(&server.handle(), &db)
}

#[test]
fn full_pull_under_429s_and_500s_equals_the_server() -> TestResult {
    // Pages of 200 make enough requests (~150) that the 10% of 429s cannot
    // all miss: the chance of none is below 1e-6.
    big_pull(20_000, 200)
}

/// The full-size run: `cargo test --release -- --ignored full_pull_of_100k`.
#[test]
#[ignore = "100,000 devices: about a minute in release mode"]
fn full_pull_of_100k_devices_under_faults() -> TestResult {
    big_pull(100_000, 999)
}

#[test]
fn a_delta_pull_reflects_exactly_the_changes() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig { page_size: 37, ..FakeConfig::default() }, 0)?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    let first = pull(server.url(), &db, false)?;
    assert!(first.modes.values().all(|m| *m == Mode::Full));
    assert_matches(&handle, &db)?;

    let devices = handle.devices()?;
    // Three adds (one an Autopilot device tagged into a group), two edits
    // (one changing its group tag), two deletions.
    for i in 0..3 {
        handle.put_device(&json!({"id": format!("00000000-0000-4000-8000-00000000000{i}"), "displayName": format!("NEW-{i}"),
            "operatingSystem": "Windows", "accountEnabled": true,
            "physicalIds": [format!("[ZTDId]:10000000-0000-4000-8000-00000000000{i}"), "[OrderId]:NL-LT-FIN"]}))?;
    }
    let ids: Vec<String> = devices.iter().filter_map(|d| d["id"].as_str().map(str::to_string)).collect();
    handle.patch_device(&ids[10], &json!({"displayName": "RENAMED-10"}))?;
    handle.patch_device(
        &ids[11],
        &json!({"physicalIds": ["[ZTDId]:20000000-0000-4000-8000-000000000011", "[OrderID]:NL-LT-HR"]}),
    )?;
    handle.delete_device(&ids[20])?;
    handle.delete_device(&ids[21])?;

    let second = pull(server.url(), &db, false)?;
    assert_eq!(second.modes.get("devices"), Some(&Mode::Delta));
    assert_eq!(second.modes.get("groups"), Some(&Mode::Delta));
    assert_eq!(
        (second.changes.devices_upserted, second.changes.devices_removed),
        (5, 2),
        "{:?}",
        second.changes
    );
    assert!(second.changes.members_added >= 3, "{:?}", second.changes);
    assert_matches(&handle, &db)?;

    // Profiles export as a Graph page with their assignments.
    let mut page = Vec::new();
    assert_eq!(Snapshot::open(&db)?.export_profiles(&mut page)?, 2);
    let page: Value = serde_json::from_slice(&page)?;
    assert_eq!(
        page["value"][1]["@odata.type"],
        json!("#microsoft.graph.azureADWindowsAutopilotDeploymentProfile")
    );
    assert_eq!(
        page["value"][0]["assignments"][0]["target"]["@odata.type"],
        json!("#microsoft.graph.allDevicesAssignmentTarget")
    );

    // Nothing changed: an empty round.
    let third = pull(server.url(), &db, false)?;
    assert_eq!((third.changes.devices_upserted, third.changes.devices_removed), (0, 0));
    assert_eq!((third.changes.members_added, third.changes.members_removed), (0, 0));
    Ok(())
}

#[test]
fn an_expired_delta_token_is_answered_with_a_full_resync() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    let first = handle.devices()?;
    let victim = first.first().and_then(|d| d["id"].as_str()).ok_or("no device")?.to_string();
    handle.delete_device(&victim)?;
    handle.expire_delta()?;
    let report = pull(server.url(), &db, false)?;
    assert_eq!(report.resyncs, 2, "devices and groups were redone");
    assert_eq!(report.modes.get("devices"), Some(&Mode::Full));
    assert_matches(&handle, &db)
}

#[test]
fn looping_pagers_stop_with_a_clear_error() -> TestResult {
    for bug in [LoopBug::SameLink, LoopBug::SamePage] {
        let faults = Faults { loop_bug: bug, ..Faults::default() };
        let server =
            FakeServer::start(contoso()?, FakeConfig { page_size: 50, faults, ..FakeConfig::default() }, 0)?;
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("tenant.db");
        let err = pull(server.url(), &db, false).err().ok_or("the loop was not detected")?;
        assert!(matches!(err, GraphError::PagingLoop { .. }), "{bug:?}: {err}");
        assert!(err.to_string().contains("paging loop"), "{err}");
        // The stage is kept, the live tables untouched.
        let status = Snapshot::open(&db)?.status()?;
        assert_eq!(status.devices, 0);
        assert!(!status.staged.is_empty());
    }
    Ok(())
}

#[test]
fn retry_after_as_a_date_and_truncated_bodies_are_survived() -> TestResult {
    let faults = Faults {
        throttle: 0.2,
        retry_after_secs: 0,
        retry_after_style: RetryAfterStyle::Date,
        truncate: 0.2,
        unavailable: 0.05,
        seed: 5,
        ..Faults::default()
    };
    let server =
        // Pages of 10: about 60 requests, so both faults certainly occur (0.8^60 < 1e-5).
        FakeServer::start(contoso()?, FakeConfig { page_size: 10, faults, ..FakeConfig::default() }, 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    let report = pull(server.url(), &db, false)?;
    let stats = server.handle().stats();
    assert!(stats.throttled > 0 && stats.truncated > 0, "{stats:?}");
    assert!(report.http.transport_errors > 0, "{:?}", report.http);
    assert_matches(&server.handle(), &db)
}

#[test]
fn batches_retry_only_their_throttled_items() -> TestResult {
    let faults = Faults { throttle: 0.3, retry_after_secs: 0, seed: 3, ..Faults::default() };
    let server = FakeServer::start(contoso()?, FakeConfig { faults, ..FakeConfig::default() }, 0)?;
    let handle = server.handle();
    let ids: Vec<String> =
        handle.devices()?.iter().take(45).filter_map(|d| d["id"].as_str().map(str::to_string)).collect();
    let requests: Vec<BatchRequest> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| BatchRequest {
            id: format!("{i}"),
            method: "PATCH".into(),
            url: format!("/devices/{id}"),
            body: Some(json!({"extensionAttributes": {"extensionAttribute9": format!("batch-{i}")}})),
            headers: Default::default(),
        })
        .collect();
    let client = GraphClient::new(client_config(server.url()))?;
    let runtime = sync::runtime()?;
    let responses = runtime.block_on(batch(&client, ApiVersion::V1, requests))?;
    assert_eq!(responses.len(), 45);
    for (i, r) in responses.iter().enumerate() {
        assert_eq!((r.id.as_str(), r.status), (i.to_string().as_str(), 204), "{r:?}");
    }
    assert!(handle.stats().throttled > 0);
    for (i, id) in ids.iter().enumerate() {
        let device = handle.devices()?.into_iter().find(|d| d["id"] == json!(id)).ok_or("device gone")?;
        assert_eq!(device["extensionAttributes"]["extensionAttribute9"], json!(format!("batch-{i}")));
    }
    Ok(())
}

#[test]
fn intune_errors_read_as_sentences_and_beta_only_routes_refuse_v1() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let client = GraphClient::new(client_config(server.url()))?;
    let runtime = sync::runtime()?;
    let url = client.url(ApiVersion::Beta, "/deviceManagement/windowsAutopilotDeploymentProfiles/73eae2b2-5a11-400a-984f-d3ff1f975164/assignments");
    let body = json!({"target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}});
    let err = runtime
        .block_on(client.send(&Request::json(Method::POST, url, &body)))
        .err()
        .ok_or("a second All Devices assignment was accepted")?;
    let text = err.to_string();
    assert!(
        text.contains(
            "Another Profile 17fa8111-be93-44d7-b6e6-e0310c3ae72d is already assigned to All Devices."
        ),
        "{text}"
    );
    assert!(!text.contains("Operation ID"), "{text}");
    assert!(text.contains("Activity ID"), "{text}");

    let v1 = client.url(ApiVersion::V1, "/deviceManagement/windowsAutopilotDeploymentProfiles");
    let err =
        runtime.block_on(client.send(&Request::get(v1))).err().ok_or("v1.0 served a beta-only collection")?;
    assert!(
        err.to_string().contains("Resource not found for the segment 'windowsAutopilotDeploymentProfiles'"),
        "{err}"
    );

    // The sync cooldown: 204, then 409 while running.
    let sync_url = client.url(ApiVersion::Beta, "/deviceManagement/windowsAutopilotSettings/sync");
    let post = Request { method: Method::POST, idempotent: false, ..Request::get(sync_url) };
    assert_eq!(runtime.block_on(client.send(&post))?.status, 204);
    let err = runtime.block_on(client.send(&post)).err().ok_or("a second sync was accepted")?;
    assert!(err.to_string().contains("409"), "{err}");
    Ok(())
}

#[test]
fn tokens_are_cached_and_refreshed_before_expiry() -> TestResult {
    let config = FakeConfig { token_lifetime: Duration::from_secs(2), ..FakeConfig::default() };
    let server = FakeServer::start(contoso()?, config, 0)?;
    let client = GraphClient::new(client_config(server.url()))?;
    let runtime = sync::runtime()?;
    let a = runtime.block_on(client.token())?;
    let b = runtime.block_on(client.token())?;
    assert_eq!(a, b, "cached");
    std::thread::sleep(Duration::from_millis(1100));
    let c = runtime.block_on(client.token())?;
    assert_ne!(a, c, "refreshed at half-life");
    assert_eq!(server.handle().stats().tokens, 2);
    // A wrong secret is a sign-in error naming the AADSTS code.
    let strict = FakeConfig { client_secret: Some("right".into()), ..FakeConfig::default() };
    let server = FakeServer::start(contoso()?, strict, 0)?;
    let err = pull(server.url(), &tempfile::tempdir()?.path().join("x.db"), false)
        .err()
        .ok_or("wrong secret accepted")?;
    assert!(matches!(err, GraphError::Auth(_)), "{err}");
    assert!(err.to_string().contains("AADSTS7000215"), "{err}");
    Ok(())
}
