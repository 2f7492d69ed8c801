//! The Graph adapter against a server shaped exactly like Microsoft's
//! documented example requests and responses (the JSON under
//! `tests/fixtures/graph-docs/`, each file citing its page in the README
//! there), rather than against the fake written with the client.
//!
//! The server is deliberately dumb: it serves the fixture files verbatim
//! (links rewritten to its own address), applies `$select` as the
//! "device: delta" page describes it, answers every delta token with the
//! documented `410 Gone` and `Location`, and in its "no Intune permission"
//! setting answers every `/deviceManagement` route with 403. It records
//! each request so the tests can check what the client sent.

use std::error::Error;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleetlab::inventory::Device;
use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Modes, DEVICE_DELTA_DEFAULTS};
use fleetlab::msgraph::snapshot::Mode;
use fleetlab::msgraph::{protocol, skipped, sync, ApiVersion, GraphClient, Snapshot};
use fleetlab::rule::Rule;
use serde_json::{json, Value};

use crate::sync::{client_config, contoso, pull, root};

type TestResult = Result<(), Box<dyn Error>>;

const SALES_RULE: &str = r#"device.devicePhysicalIds -any (_ -eq "[OrderID]:Sales-EMEA")"#;

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// The `$select` of the devices round in progress (Graph keeps it in
    /// its tokens; this server keeps it here).
    device_select: Option<String>,
    /// Answer `/deviceManagement/…` with 403.
    no_intune: bool,
}

struct DocsServer {
    url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DocsServer {
    fn start(no_intune: bool) -> Result<DocsServer, Box<dyn Error>> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Mutex::new(State { no_intune, ..State::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st, base) = (state.clone(), stop.clone(), url.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = serve(stream, &s, &base);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Ok(DocsServer { url, state, stop, thread: Some(thread) })
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().map(|s| s.seen.clone()).unwrap_or_default()
    }

    fn set_no_intune(&self, on: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.no_intune = on;
        }
    }
}

impl Drop for DocsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/graph-docs").join(name)
}

fn decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn serve(stream: TcpStream, state: &Mutex<State>, base: &str) -> Result<(), Box<dyn Error>> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, raw_query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let query: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    let seen = Seen { method, path: decode(path), query, headers };
    let (status, extra, body) = answer(&seen, state, base)?;
    if let Ok(mut s) = state.lock() {
        s.seen.push(seen);
    }
    let mut out = stream;
    let reason = match status {
        200 => "OK",
        403 => "Forbidden",
        410 => "Gone",
        _ => "Not Found",
    };
    write!(out, "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n", body.len())?;
    for (k, v) in extra {
        write!(out, "{k}: {v}\r\n")?;
    }
    out.write_all(b"\r\n")?;
    out.write_all(body.as_bytes())?;
    out.flush()?;
    Ok(())
}

type Answer = (u16, Vec<(String, String)>, String);

/// The documented answer to `seen`.
fn answer(seen: &Seen, state: &Mutex<State>, base: &str) -> Result<Answer, Box<dyn Error>> {
    let file = |name: &str| -> Result<String, Box<dyn Error>> {
        Ok(std::fs::read_to_string(fixture(name))?.replace("https://graph.microsoft.com", base))
    };
    let ok = |text: String| (200, Vec::new(), text);
    let mut st = state.lock().map_err(|_| "state lock")?;
    if seen.path.ends_with("/oauth2/v2.0/token") {
        return Ok(ok(file("token.json")?));
    }
    if seen.path.starts_with("/beta/deviceManagement/") && st.no_intune {
        return Ok((403, Vec::new(), file("forbidden.json")?));
    }
    let segments: Vec<&str> = seen.path.trim_matches('/').split('/').collect();
    Ok(match segments.as_slice() {
        ["v1.0", "devices", "delta"] if seen.query("$deltatoken").is_some() => {
            // Synchronization reset: 410 and a Location with the initial query.
            (410, vec![("Location".into(), format!("{base}/v1.0/devices/delta"))], file("delta-gone.json")?)
        }
        ["v1.0", "devices", "delta"] => {
            let page = if seen.query("$skiptoken").is_some() {
                "devices-delta-2.json"
            } else {
                st.device_select = seen.query("$select").map(str::to_string);
                "devices-delta-1.json"
            };
            ok(select_devices(&file(page)?, st.device_select.as_deref())?)
        }
        ["v1.0", "groups", "delta"] if seen.query("$deltatoken").is_some() => {
            let done = json!({"@odata.context": format!("{base}/v1.0/$metadata#groups"),
                              "@odata.deltaLink": format!("{base}{}?$deltatoken={}", seen.path,
                                                          seen.query("$deltatoken").unwrap_or("")),
                              "value": []});
            ok(done.to_string())
        }
        ["v1.0", "groups", "delta"] => ok(file("groups-delta.json")?),
        ["beta", "deviceManagement", "windowsAutopilotDeviceIdentities"] => {
            ok(file("autopilot-devices.json")?)
        }
        ["beta", "deviceManagement", "windowsAutopilotDeploymentProfiles"] => ok(file("profiles.json")?),
        ["beta", "deviceManagement", "windowsAutopilotDeploymentProfiles", id, "assignments"] => {
            ok(file(&format!("assignments-{id}.json"))?)
        }
        _ => (404, Vec::new(), json!({"error": {"code": "NotFound", "message": seen.path}}).to_string()),
    })
}

/// A devices page as "device: delta" describes it: `id` and the selected
/// properties, or only the properties of the documented example when
/// nothing was selected.
fn select_devices(page: &str, select: Option<&str>) -> Result<String, Box<dyn Error>> {
    let mut page: Value = serde_json::from_str(page)?;
    let keep: Vec<String> = match select {
        Some(s) => s.split(',').map(|f| f.trim().to_string()).collect(),
        None => DEVICE_DELTA_DEFAULTS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(Value::Array(items)) = page.get_mut("value") {
        for item in items {
            if let Value::Object(m) = item {
                m.retain(|k, _| k == "id" || keep.iter().any(|f| f == k));
            }
        }
    }
    Ok(page.to_string())
}

fn docs_pull(server: &DocsServer, db: &Path) -> Result<sync::PullReport, Box<dyn Error>> {
    Ok(pull(&server.url, db, false)?)
}

fn sales_members(db: &Path) -> Result<Vec<String>, Box<dyn Error>> {
    let rule = Rule::new(SALES_RULE)?;
    let mut out = Vec::new();
    for d in Snapshot::open(db)?.devices()? {
        let device: Device = serde_json::from_value(d)?;
        if rule.matches(&device) {
            out.push(device.id.clone());
        }
    }
    Ok(out)
}

#[test]
fn a_docs_shaped_tenant_is_read_whole_with_explicit_selects_and_accept() -> TestResult {
    let server = DocsServer::start(false)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    let report = docs_pull(&server, &db)?;
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);

    // Every Graph request says it wants JSON, as the Intune pages' request headers list.
    let seen = server.seen();
    for s in seen.iter().filter(|s| !s.path.ends_with("/token")) {
        assert_eq!(s.header("accept"), Some("application/json"), "{} {}", s.method, s.path);
    }
    // The first devices request selects what rules read; the nextLink carries it on.
    let devices: Vec<&Seen> = seen.iter().filter(|s| s.path == "/v1.0/devices/delta").collect();
    assert_eq!(devices.len(), 2, "{devices:?}");
    let select = devices[0].query("$select").ok_or("no $select on the first devices delta request")?;
    for field in
        ["physicalIds", "extensionAttributes", "operatingSystem", "enrollmentProfileName", "trustType"]
    {
        assert!(select.split(',').any(|f| f == field), "{field} not selected: {select}");
    }
    assert_eq!(devices[1].query("$select"), None, "the nextLink is followed verbatim");

    // So physicalIds arrive, and a devicePhysicalIds rule works on the snapshot.
    assert_eq!(sales_members(&db)?, ["3c8458ef-0cd6-485d-a73f-5a05a2a071f3"]);
    let snap = Snapshot::open(&db)?;
    assert_eq!(snap.status()?.memberships, 3, "members@delta of #microsoft.graph.device");
    assert_eq!(snap.autopilot_devices()?.len(), 1);

    // The profile of an unknown type is kept as Graph sent it, with a warning.
    let profiles = snap.profiles()?;
    assert_eq!(profiles.len(), 4);
    let future = profiles
        .iter()
        .find(|p| p["id"] == "c4f1d2e3-7a6b-4c5d-8e9f-0a1b2c3d4e5f")
        .ok_or("the unknown profile was not kept")?;
    assert_eq!(future["@odata.type"], "#microsoft.graph.windowsAutopilotDeploymentProfile");
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("AP-Future-Type"), "{:?}", report.warnings);
    Ok(())
}

#[test]
fn unprefixed_assignment_targets_export_and_plan_to_nothing() -> TestResult {
    let server = DocsServer::start(false)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    docs_pull(&server, &db)?;
    let export = fleetlab::msgraph::export::tenant_toml(&Snapshot::open(&db)?, "the docs tenant")?;
    let text = &export.text;
    // Intune writes the targets without `#`: they must still become the file's assignments.
    assert!(text.contains(r#"include = ["AP - Sales-EMEA devices"]"#), "{text}");
    assert!(text.contains(r#"exclude = ["AP - Excluded devices"]"#), "{text}");
    assert!(text.contains("all_devices = true"), "{text}");
    assert!(!export.notes.iter().any(|n| n.contains("names no dynamic group")), "{:?}", export.notes);
    // The unknown profile type is a comment, not a failure of the whole file.
    assert_eq!(export.profiles, 3, "{text}");
    assert!(
        text.contains("# not written: profile \"AP-Future-Type\" (c4f1d2e3-7a6b-4c5d-8e9f-0a1b2c3d4e5f) has the type #microsoft.graph.windowsAutopilotDeploymentProfile"),
        "{text}"
    );
    // And the plan of that file against the snapshot touches no assignment.
    let file = dir.path().join("tenant.toml");
    std::fs::write(&file, text)?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetlab"))
        .args(["sync", "plan", "--tenant"])
        .arg(&file)
        .arg("--snapshot")
        .arg(&db)
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("nothing to do"), "{said}");
    Ok(())
}

#[test]
fn without_select_a_documented_delta_has_no_physical_ids() -> TestResult {
    // What the test above would see had the client not selected: the
    // documented default properties, no physicalIds, and no rule matches.
    let server = DocsServer::start(false)?;
    let client = GraphClient::new(client_config(&server.url))?;
    let runtime = sync::runtime()?;
    let items =
        runtime.block_on(protocol::list_all(&client, &client.url(ApiVersion::V1, "/devices/delta")))?;
    assert_eq!(items.len(), 2);
    assert!(
        items.iter().all(|d| d.get("physicalIds").is_none() && d.get("displayName").is_some()),
        "{items:?}"
    );
    let rule = Rule::new(SALES_RULE)?;
    for d in items {
        let device: Device = serde_json::from_value(d)?;
        assert!(!rule.matches(&device));
    }

    // The fake answers the same way by default, and the client's pull still
    // evaluates rules because it selects.
    let fake = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let client = GraphClient::new(client_config(fake.url()))?;
    let bare =
        runtime.block_on(protocol::list_all(&client, &client.url(ApiVersion::V1, "/devices/delta")))?;
    assert!(bare.iter().all(|d| d.get("physicalIds").is_none()), "the fake kept physicalIds");
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("t.db");
    pull(fake.url(), &db, false)?;
    let with_ids = |list: Vec<Value>| list.iter().filter(|d| d.get("physicalIds").is_some()).count();
    let served = with_ids(fake.handle().devices()?);
    assert!(served > 300, "{served}");
    assert_eq!(with_ids(Snapshot::open(&db)?.devices()?), served);
    Ok(())
}

#[test]
fn a_410_on_the_delta_link_restarts_the_round_from_the_initial_query() -> TestResult {
    let server = DocsServer::start(false)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    docs_pull(&server, &db)?;
    let report = docs_pull(&server, &db)?;
    assert_eq!(report.modes.get("devices"), Some(&Mode::Full), "{:?}", report.modes);
    assert!(report.resyncs >= 1);
    let seen = server.seen();
    let devices: Vec<&Seen> = seen.iter().filter(|s| s.path == "/v1.0/devices/delta").collect();
    // Round 1: initial + nextLink; round 2: deltaLink (410), then the initial
    // query again, with its $select (the Location has none), then the nextLink.
    assert_eq!(devices.len(), 5, "{devices:?}");
    assert!(devices[2].query("$deltatoken").is_some());
    assert!(devices[3].query("$select").is_some_and(|s| s.contains("physicalIds")), "{:?}", devices[3]);
    assert_eq!(Snapshot::open(&db)?.devices()?.len(), 2);
    assert_eq!(sales_members(&db)?.len(), 1);
    Ok(())
}

#[test]
fn without_intune_permission_devices_and_groups_are_still_pulled() -> TestResult {
    let server = DocsServer::start(true)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    let report = docs_pull(&server, &db)?;
    let skipped: Vec<(&str, Option<&str>)> =
        report.skipped.iter().map(|s| (s.resource.as_str(), s.permission.as_deref())).collect();
    let need = Some("DeviceManagementServiceConfig.Read.All");
    assert_eq!(skipped, [("autopilot", need), ("profiles", need)]);
    let snap = Snapshot::open(&db)?;
    let status = snap.status()?;
    assert_eq!((status.devices, status.groups, status.profiles, status.autopilot_devices), (2, 3, 0, 0));
    assert_eq!(skipped::load(&snap)?, report.skipped);
    assert!(report.skipped[0].kept.contains("never pulled"), "{:?}", report.skipped[0]);

    // Granted later, then revoked: the snapshot keeps the last profiles it read.
    server.set_no_intune(false);
    docs_pull(&server, &db)?;
    assert_eq!(Snapshot::open(&db)?.status()?.profiles, 4);
    assert!(skipped::load(&Snapshot::open(&db)?)?.is_empty());
    server.set_no_intune(true);
    let report = docs_pull(&server, &db)?;
    assert_eq!(report.skipped.len(), 2);
    assert!(report.skipped[1].kept.contains("previous pull"), "{:?}", report.skipped[1]);
    let status = Snapshot::open(&db)?.status()?;
    assert_eq!((status.profiles, status.assignments, status.autopilot_devices), (4, 4, 1));
    Ok(())
}

#[test]
fn a_refused_assignments_route_skips_the_profiles_with_it() -> TestResult {
    let modes = Modes { refuse_assignments: true, ..Modes::default() };
    let server = FakeServer::start(contoso()?, FakeConfig { modes, ..FakeConfig::default() }, 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("t.db");
    let report = pull(server.url(), &db, false)?;
    let skipped: Vec<&str> = report.skipped.iter().map(|s| s.resource.as_str()).collect();
    assert_eq!(skipped, ["assignments"]);
    let status = Snapshot::open(&db)?.status()?;
    assert_eq!((status.profiles, status.assignments), (0, 0), "no profiles without their assignments");
    assert!(status.devices > 0 && status.autopilot_devices > 0);
    Ok(())
}

#[test]
fn the_fake_in_unprefixed_mode_round_trips_through_export_and_plan() -> TestResult {
    let modes = Modes { unprefixed_types: true, ..Modes::default() };
    let server = FakeServer::start(contoso()?, FakeConfig { modes, ..FakeConfig::default() }, 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("t.db");
    pull(server.url(), &db, false)?;
    let snap = Snapshot::open(&db)?;
    let targets: Vec<String> = snap
        .profiles()?
        .iter()
        .flat_map(|p| p["assignments"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["target"]["@odata.type"].as_str().map(str::to_string))
        .collect();
    assert_eq!(targets.len(), 2);
    assert!(targets.iter().all(|t| !t.starts_with('#')), "{targets:?}");
    let export = fleetlab::msgraph::export::tenant_toml(&snap, "unprefixed")?;
    // (The contoso groups do not hold the Sales group the test profile names.)
    assert!(export.text.contains("all_devices = true"), "{}", export.text);
    crate::sync::assert_matches(&server.handle(), &db)?;
    Ok(())
}

/// Every item of a round from `url` (following nextLinks), with `headers`.
fn round_items(
    client: &GraphClient,
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(Vec<Value>, String), Box<dyn Error>> {
    let runtime = sync::runtime()?;
    let (mut next, mut items) = (url.to_string(), Vec::new());
    loop {
        let mut request = fleetlab::msgraph::Request::get(next.clone());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let mut page = runtime.block_on(client.send_json(&request))?;
        items.extend(page["value"].as_array_mut().map(std::mem::take).unwrap_or_default());
        match (page["@odata.nextLink"].as_str(), page["@odata.deltaLink"].as_str()) {
            (Some(n), _) => next = n.to_string(),
            (None, Some(d)) => return Ok((items, d.to_string())),
            (None, None) => return Err("a round without a deltaLink".into()),
        }
    }
}

#[test]
fn the_fake_answers_prefer_return_minimal_as_group_delta_documents() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let client = GraphClient::new(client_config(server.url()))?;
    let initial = client.url(ApiVersion::V1, sync::GROUPS_DELTA);
    // The header means nothing on the initial round: full objects.
    let (first, link) = round_items(&client, &initial, &[("Prefer", "return=minimal")])?;
    assert!(first.iter().all(|g| g.get("displayName").is_some()));
    // A device loses its physical ids: memberships change, group properties do not.
    let id = handle
        .groups()?
        .into_iter()
        .find(|(_, props, members)| {
            props["membershipRule"].as_str().is_some_and(|r| r.contains("devicePhysicalIds"))
                && !members.is_empty()
        })
        .and_then(|(_, _, members)| members.first().cloned())
        .ok_or("no group of physical ids with members")?;
    handle.patch_device(&id, &json!({"physicalIds": []}))?;
    let (full, _) = round_items(&client, &link, &[])?;
    let (minimal, _) = round_items(&client, &link, &[("Prefer", "return=minimal")])?;
    assert!(!full.is_empty() && full.len() == minimal.len(), "{full:?} {minimal:?}");
    assert!(full.iter().all(|g| g.get("displayName").is_some()), "{full:?}");
    for g in &minimal {
        let keys: Vec<&String> = g.as_object().map(|m| m.keys().collect()).unwrap_or_default();
        assert_eq!(keys, ["id", "members@delta"], "{g}");
    }
    Ok(())
}

#[test]
fn a_devices_delta_link_of_another_selection_starts_a_full_round() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("t.db");
    pull(server.url(), &db, false)?;
    let again = pull(server.url(), &db, false)?;
    assert_eq!(again.modes.get("devices"), Some(&Mode::Delta));
    // As a snapshot written before the selection grew would have it.
    Snapshot::open(&db)?.set_meta("select:devices", "/devices/delta")?;
    let report = pull(server.url(), &db, false)?;
    assert_eq!(report.modes.get("devices"), Some(&Mode::Full), "{:?}", report.modes);
    assert_eq!(report.modes.get("groups"), Some(&Mode::Delta), "{:?}", report.modes);
    crate::sync::assert_matches(&server.handle(), &db)?;
    Ok(())
}
