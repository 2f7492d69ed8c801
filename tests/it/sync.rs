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

/// A device as a pull selects it: `id` and [`sync::device_properties`].
pub(crate) fn selected(device: &Value) -> Value {
    let keep = sync::device_properties();
    match device {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| *k == "id" || keep.iter().any(|p| p == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The snapshot holds exactly the server's data, record for record (the
/// device properties the pull selects).
pub(crate) fn assert_matches(server: &FakeHandle, db: &Path) -> TestResult {
    let snap = Snapshot::open(db)?;
    let devices = snap.devices()?;
    let expected = by_id(server.devices()?);
    assert_eq!(devices.len(), expected.len(), "device count");
    for (got, want) in devices.iter().zip(&expected) {
        assert_eq!(got, &selected(&without_annotations(want)), "device {}", want["id"]);
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
    // Writing extension attributes needs Device.ReadWrite.All, which the adapter never asks for.
    let mut roles = FakeConfig::default().roles;
    roles.push("Device.ReadWrite.All".into());
    let server = FakeServer::start(contoso()?, FakeConfig { faults, roles, ..FakeConfig::default() }, 0)?;
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

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn routes_without_their_permission_get_graphs_403_and_the_client_names_it() -> TestResult {
    let roles = vec!["Device.Read.All".to_string(), "DeviceManagementServiceConfig.Read.All".to_string()];
    let server = FakeServer::start(contoso()?, FakeConfig { roles, ..FakeConfig::default() }, 0)?;
    let dir = tempfile::tempdir()?;

    // The pull reads groups: directory 403, which names nothing; the client
    // does, and the pull skips groups and reads the rest.
    let report = pull(server.url(), &dir.path().join("t.db"), false)?;
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.resource.as_str()).collect();
    assert_eq!(skipped, ["groups"]);
    let text = report.skipped[0].to_text();
    assert!(text.contains("HTTP 403 (Insufficient privileges to complete the operation.)"), "{text}");
    assert!(text.contains("add the GroupMember.Read.All application permission"), "{text}");
    assert!(report.changes.devices_upserted > 0 && report.changes.profiles > 0, "{:?}", report.changes);

    // With nothing readable at all, the pull fails on the 403.
    let none = FakeServer::start(contoso()?, FakeConfig { roles: Vec::new(), ..FakeConfig::default() }, 0)?;
    let err =
        pull(none.url(), &dir.path().join("none.db"), false).err().ok_or("pull without any permission")?;
    assert!(matches!(err, GraphError::Forbidden { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("HTTP 403"), "{text}");
    assert!(text.contains("Grant admin consent"), "{text}");

    // An Intune write with only the read permission: the wrapped 403 lists the scopes.
    let client = GraphClient::new(client_config(server.url()))?;
    let runtime = sync::runtime()?;
    let url = client.url(
        ApiVersion::Beta,
        "/deviceManagement/windowsAutopilotDeploymentProfiles/73eae2b2-5a11-400a-984f-d3ff1f975164",
    );
    let err = runtime
        .block_on(client.send(&Request::json(Method::PATCH, url, &json!({"description": "x"}))))
        .err()
        .ok_or("a write without ReadWrite was accepted")?;
    let text = err.to_string();
    assert!(
        text.contains("HTTP 403 Forbidden: Application is not authorized to perform this operation. Application must have one of the following scopes: DeviceManagementServiceConfig.ReadWrite.All"),
        "{text}"
    );
    assert!(
        text.contains("lacks the DeviceManagementServiceConfig.ReadWrite.All application permission"),
        "{text}"
    );
    assert!(!text.contains("Operation ID"), "{text}");
    // Reads it has still work, and the token says what it grants (graph-api.md F24).
    let ok = runtime.block_on(client.send(&Request::get(client.url(ApiVersion::V1, "/devices?$top=1"))))?;
    assert_eq!(ok.status, 200);
    let token = runtime.block_on(client.token())?;
    assert_eq!(token.split('.').count(), 3, "an unsigned JWT: {token}");

    // $batch items are checked one by one.
    let requests = vec![
        BatchRequest {
            id: "1".into(),
            method: "GET".into(),
            url: "/devices?$top=1".into(),
            body: None,
            headers: Default::default(),
        },
        BatchRequest {
            id: "2".into(),
            method: "GET".into(),
            url: "/groups?$top=1".into(),
            body: None,
            headers: Default::default(),
        },
    ];
    let responses = runtime.block_on(batch(&client, ApiVersion::V1, requests))?;
    let status: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(status, [200, 403]);
    assert_eq!(
        responses[1].body.as_ref().map(|b| b["error"]["code"].clone()),
        Some(json!("Authorization_RequestDenied"))
    );
    Ok(())
}

#[test]
fn filters_search_and_count_follow_graphs_advanced_query_rules() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let client = GraphClient::new(client_config(server.url()))?;
    let runtime = sync::runtime()?;
    let eventual = |mut r: Request| {
        r.headers.push(("ConsistencyLevel".into(), "eventual".into()));
        r
    };
    let get = |path: &str, advanced: bool| -> Result<Value, GraphError> {
        let mut request = Request::get(client.url(ApiVersion::V1, path));
        if advanced {
            request = eventual(request);
        }
        let response = runtime.block_on(client.send(&request))?;
        serde_json::from_slice(&response.body).map_err(|e| GraphError::Runtime(e.to_string()))
    };
    let devices = handle.devices()?;

    // Basic filters: a device by deviceId, groups by name.
    let one = devices.iter().find(|d| d["deviceId"].is_string()).ok_or("no deviceId")?;
    let id = one["deviceId"].as_str().unwrap_or_default();
    let page =
        get(&format!("/devices?$filter={}", enc(&format!("deviceId eq '{}'", id.to_uppercase()))), false)?;
    assert_eq!(page["value"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["value"][0]["id"], one["id"]);
    let page = get(&format!("/groups?$filter={}", enc("displayName eq 'Autopilot - NL-LT-FIN'")), false)?;
    assert_eq!(page["value"].as_array().map(Vec::len), Some(1), "{page}");
    let page = get(&format!("/groups?$filter={}", enc("startswith(displayName,'Autopilot - NL')")), false)?;
    let names: Vec<&str> =
        page["value"].as_array().into_iter().flatten().filter_map(|g| g["displayName"].as_str()).collect();
    assert!(names.len() >= 3 && names.iter().all(|n| n.starts_with("Autopilot - NL")), "{names:?}");

    // physicalIds/any is an advanced query: refused without the header and $count=true.
    let filter = enc("physicalIds/any(p:startswith(p,'[OrderId]:NL-'))");
    let err =
        get(&format!("/devices?$filter={filter}"), false).err().ok_or("advanced query without the header")?;
    assert!(err.to_string().contains("HTTP 400 Request_UnsupportedQuery"), "{err}");
    let expected = devices
        .iter()
        .filter(|d| {
            d["physicalIds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p.as_str().is_some_and(|p| p.to_lowercase().starts_with("[orderid]:nl-")))
        })
        .count();
    assert!(expected > 5, "the scenario has Dutch devices");
    let mut page = get(&format!("/devices?$filter={filter}&$count=true&$top=5"), true)?;
    assert_eq!(page["@odata.count"], json!(expected));
    let mut seen = page["value"].as_array().map(Vec::len).unwrap_or(0);
    while let Some(next) = page["@odata.nextLink"].as_str().map(str::to_string) {
        assert!(next.contains("$filter="), "the nextLink keeps the filter: {next}");
        page = serde_json::from_slice(&runtime.block_on(client.send(&eventual(Request::get(next))))?.body)?;
        assert!(page.get("@odata.count").is_none(), "the count is on the first page only");
        seen += page["value"].as_array().map(Vec::len).unwrap_or(0);
    }
    assert_eq!(seen, expected);

    // $search needs the header; $count=true without it is ignored; the $count segment needs it.
    let search = enc("\"displayName:NL\"");
    let err = get(&format!("/groups?$search={search}"), false).err().ok_or("$search without the header")?;
    assert!(
        err.to_string().contains(
            "only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'"
        ),
        "{err}"
    );
    let page = get(&format!("/groups?$search={search}&$count=true"), true)?;
    assert!(page["@odata.count"].as_u64().is_some_and(|n| n >= 3), "{page}");
    let page = get("/groups?$count=true", false)?;
    assert!(page.get("@odata.count").is_none(), "{page}");
    let err = get("/devices/$count", false).err().ok_or("$count segment without the header")?;
    assert!(
        err.to_string().contains("HTTP 400 Request_BadRequest: $count is not currently supported."),
        "{err}"
    );
    let count = runtime
        .block_on(client.send(&eventual(Request::get(client.url(ApiVersion::V1, "/devices/$count")))))?;
    assert_eq!(String::from_utf8_lossy(&count.body), devices.len().to_string());

    // contains() is not a directory operator; Autopilot identities take it (graph-api.md §3.5).
    let err = get(&format!("/devices?$filter={}", enc("contains(displayName,'A')")), false)
        .err()
        .ok_or("contains on devices")?;
    assert!(err.to_string().contains("Request_UnsupportedQuery"), "{err}");
    let identity = handle.autopilot()?.into_iter().next().ok_or("no Autopilot identity")?;
    let serial = identity["serialNumber"].as_str().unwrap_or_default();
    let path = format!(
        "/deviceManagement/windowsAutopilotDeviceIdentities?$filter={}",
        enc(&format!("contains(serialNumber,'{}')", &serial[2..]))
    );
    let page: Value = serde_json::from_slice(
        &runtime.block_on(client.send(&Request::get(client.url(ApiVersion::Beta, &path))))?.body,
    )?;
    assert_eq!(page["value"].as_array().map(Vec::len), Some(1), "{page}");
    // Profiles take no $filter at all: Intune's generic 400.
    let path =
        format!("/deviceManagement/windowsAutopilotDeploymentProfiles?$filter={}", enc("displayName eq 'x'"));
    let err = runtime
        .block_on(client.send(&Request::get(client.url(ApiVersion::Beta, &path))))
        .err()
        .ok_or("profiles filtered")?;
    assert!(err.to_string().contains("HTTP 400 BadRequest: An error has occurred"), "{err}");
    Ok(())
}
