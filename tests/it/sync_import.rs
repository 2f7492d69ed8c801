//! Autopilot imports and group-tag propagation in the fake Graph, driven
//! through the adapter's client: the import state machine (unknown →
//! pending → complete, or error 806/808), the 400 for a malformed hash,
//! and a group tag that reaches `physicalIds` and dynamic groups only after
//! the propagation delay. Time moves with the fake's clock, never a sleep.

use std::error::Error;
use std::time::Duration;

use fleetlab::msgraph::client::Method;
use fleetlab::msgraph::fake::{FakeConfig, FakeHandle, FakeServer};
use fleetlab::msgraph::sync;
use fleetlab::msgraph::{ApiVersion, ClientConfig, GraphClient, GraphError, Request, Snapshot};
use serde_json::{json, Value};

use crate::sync::{assert_matches, client_config, contoso, pull};

type TestResult = Result<(), Box<dyn Error>>;

const IMPORTS: &str = "/deviceManagement/importedWindowsAutopilotDeviceIdentities";
const IDENTITIES: &str = "/deviceManagement/windowsAutopilotDeviceIdentities";
/// "hardware hash" in Base64: short, as in graph-api.md F6.
const HASH: &str = "aGFyZHdhcmUgaGFzaA==";

/// A client and its runtime, with JSON in and out.
struct Graph {
    client: GraphClient,
    runtime: tokio::runtime::Runtime,
}

impl Graph {
    fn new(url: &str) -> Result<Graph, Box<dyn Error>> {
        Graph::with(client_config(url))
    }

    fn with(config: ClientConfig) -> Result<Graph, Box<dyn Error>> {
        Ok(Graph { client: GraphClient::new(config)?, runtime: sync::runtime()? })
    }

    fn send(&self, request: &Request) -> Result<(u16, Value), GraphError> {
        let response = self.runtime.block_on(self.client.send(request))?;
        let body = if response.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&response.body).map_err(|e| GraphError::Runtime(e.to_string()))?
        };
        Ok((response.status, body))
    }

    fn get(&self, path: &str) -> Result<Value, GraphError> {
        self.send(&Request::get(self.client.url(ApiVersion::V1, path))).map(|(_, body)| body)
    }

    fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), GraphError> {
        self.send(&Request::json(Method::POST, self.client.url(ApiVersion::V1, path), body))
    }
}

/// An import record; each serial has its own hardware hash, as real
/// devices do (one hash twice in a batch is `ZtdDeviceDuplicated`).
fn record(serial: &str, tag: &str) -> Value {
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD.encode(format!("{HASH}:{serial}"));
    json!({"@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity", "serialNumber": serial,
           "groupTag": tag, "productKey": "", "importId": "9e499c1c-3e88-4b4a-baee-efb874752df6",
           "hardwareIdentifier": hash, "assignedUserPrincipalName": ""})
}

/// The members of the first group whose rule contains `needle`.
fn members_of(handle: &FakeHandle, needle: &str) -> Result<Vec<String>, Box<dyn Error>> {
    let groups = handle.groups()?;
    let (_, _, members) = groups
        .into_iter()
        .find(|(_, g, _)| g["membershipRule"].as_str().is_some_and(|r| r.contains(needle)))
        .ok_or_else(|| format!("no group with {needle}"))?;
    Ok(members)
}

fn status(record: &Value) -> &str {
    record["state"]["deviceImportStatus"].as_str().unwrap_or("")
}

#[test]
fn an_import_goes_unknown_pending_complete_and_the_device_joins_its_groups() -> TestResult {
    let config = FakeConfig { import_delay: Duration::from_secs(90), ..FakeConfig::default() };
    let server = FakeServer::start(contoso()?, config, 0)?;
    let handle = server.handle();
    let graph = Graph::new(server.url())?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;

    let (code, created) = graph.post(IMPORTS, &record("5CG3310KLM", "NL-LT-FIN"))?;
    assert_eq!(code, 201, "{created}");
    assert_eq!(status(&created), "unknown", "{created}");
    assert_eq!(created["state"]["deviceRegistrationId"], "");
    assert_eq!(created["hardwareIdentifier"], record("5CG3310KLM", "")["hardwareIdentifier"]);
    let id = created["id"].as_str().ok_or("no id")?.to_string();
    let one = format!("{IMPORTS}/{id}");

    // Unknown for the first half of the delay, pending for the second.
    handle.advance_clock(Duration::from_secs(44))?;
    assert_eq!(status(&graph.get(&one)?), "unknown");
    handle.advance_clock(Duration::from_secs(2))?;
    assert_eq!(status(&graph.get(&one)?), "pending");
    assert!(
        !handle.autopilot()?.iter().any(|a| a["serialNumber"] == "5CG3310KLM"),
        "registered before the import completed"
    );
    handle.advance_clock(Duration::from_secs(44))?;
    let done = graph.get(&one)?;
    assert_eq!(status(&done), "complete", "{done}");
    assert_eq!(
        (done["state"]["deviceErrorCode"].clone(), done["state"]["deviceErrorName"].clone()),
        (json!(0), json!(""))
    );
    let registration =
        done["state"]["deviceRegistrationId"].as_str().ok_or("no registration id")?.to_string();

    // The identity's id is the registration id and the [ZTDId] of its Entra device.
    let identity = graph.get(&format!("{IDENTITIES}/{registration}"))?;
    assert_eq!(
        (identity["serialNumber"].as_str(), identity["groupTag"].as_str()),
        (Some("5CG3310KLM"), Some("NL-LT-FIN"))
    );
    let device = handle
        .devices()?
        .into_iter()
        .find(|d| d["deviceId"] == identity["azureActiveDirectoryDeviceId"])
        .ok_or("no Entra device")?;
    let ids = device["physicalIds"].to_string();
    assert!(ids.contains(&format!("[ZTDId]:{registration}")) && ids.contains("[OrderId]:NL-LT-FIN"), "{ids}");
    assert_eq!(device["displayName"], "5CG3310KLM");
    let object_id = device["id"].as_str().ok_or("no id")?.to_string();
    assert!(members_of(&handle, "[ZTDId]")?.contains(&object_id), "not in the all-Autopilot group");
    assert!(members_of(&handle, "[OrderID]:NL-LT-FIN")?.contains(&object_id), "not in its tag's group");

    // A delta pull brings the device, its identity and its memberships.
    let report = pull(server.url(), &db, false)?;
    assert!(report.changes.devices_upserted >= 1, "{:?}", report.changes);
    assert_matches(&handle, &db)?;
    let snap = Snapshot::open(&db)?;
    assert!(snap.devices()?.iter().any(|d| d["id"] == json!(object_id)));
    assert!(snap.autopilot_devices()?.iter().any(|a| a["id"] == json!(registration)));

    // Tools delete the record once done; the device stays.
    let (code, _) = graph.send(&Request::delete(graph.client.url(ApiVersion::V1, &one)))?;
    assert_eq!(code, 204);
    let err = graph.get(&one).err().ok_or("a deleted record was served")?;
    assert!(err.to_string().contains("404"), "{err}");
    assert!(handle.imports()?.is_empty());
    assert!(handle.autopilot()?.iter().any(|a| a["id"] == json!(registration)));
    Ok(())
}

#[test]
fn serials_of_this_tenant_and_of_another_end_in_806_and_808() -> TestResult {
    let config = FakeConfig {
        import_delay: Duration::ZERO,
        other_tenant_serials: vec!["PF3K9Q2A".into()],
        ..FakeConfig::default()
    };
    let server = FakeServer::start(contoso()?, config, 0)?;
    let handle = server.handle();
    let graph = Graph::new(server.url())?;
    let known = handle
        .autopilot()?
        .first()
        .and_then(|a| a["serialNumber"].as_str().map(str::to_string))
        .ok_or("no identity")?;
    let before = handle.autopilot()?.len();

    let body = json!({"importedWindowsAutopilotDeviceIdentities":
        [record(&known, ""), record("pf3k9q2a", "Kiosk"), record("NEW-0001", "")]});
    let (code, page) = graph.post(&format!("{IMPORTS}/import"), &body)?;
    assert_eq!(code, 200, "{page}");
    let ids: Vec<String> = page["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 3, "{page}");
    assert!(page["value"].as_array().into_iter().flatten().all(|r| status(r) == "unknown"), "{page}");

    // With no delay, the next request sees the outcome.
    let states: Vec<Value> = ids
        .iter()
        .map(|id| graph.get(&format!("{IMPORTS}/{id}")).map(|r| r["state"].clone()))
        .collect::<Result<_, _>>()?;
    assert_eq!(states[0]["deviceImportStatus"], "error");
    assert_eq!(
        (states[0]["deviceErrorCode"].clone(), states[0]["deviceErrorName"].clone()),
        (json!(806), json!("ZtdDeviceAlreadyAssigned"))
    );
    assert_eq!(states[0]["deviceRegistrationId"], "");
    assert_eq!(states[1]["deviceImportStatus"], "error");
    assert_eq!(
        (states[1]["deviceErrorCode"].clone(), states[1]["deviceErrorName"].clone()),
        (json!(808), json!("ZtdDeviceAssignedToOtherTenant"))
    );
    assert_eq!(states[2]["deviceImportStatus"], "complete");
    assert_eq!(handle.autopilot()?.len(), before + 1, "only the new serial was registered");

    // Importing the new serial again: it is now this tenant's, 806.
    let (_, again) = graph.post(IMPORTS, &record("NEW-0001", ""))?;
    let again = graph.get(&format!("{IMPORTS}/{}", again["id"].as_str().unwrap_or_default()))?;
    assert_eq!(again["state"]["deviceErrorCode"], 806, "{again}");

    // Tools find records by serial.
    let filter = "$filter=contains(serialNumber,'NEW-0')";
    let found = graph.get(&format!("{IMPORTS}?{filter}"))?;
    assert_eq!(found["value"].as_array().map(Vec::len), Some(2), "{found}");
    // Imported records cannot be patched (graph-api.md §1.4).
    let url = graph.client.url(ApiVersion::V1, &format!("{IMPORTS}/{}", ids[0]));
    let err = graph
        .send(&Request::json(Method::PATCH, url, &json!({"groupTag": "x"})))
        .err()
        .ok_or("PATCH accepted")?;
    assert!(err.to_string().contains("No OData route exists"), "{err}");
    Ok(())
}

#[test]
fn a_hash_that_is_not_base64_is_refused_at_the_post() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let graph = Graph::new(server.url())?;
    for bad in ["aGFyZHdhcmUgaGFzaA", "not base64!", "aGFyZHdhcmUgaGFzaA===", ""] {
        let mut one = record("BAD-0001", "");
        one["hardwareIdentifier"] = json!(bad);
        let err = graph.post(IMPORTS, &one).err().ok_or_else(|| format!("{bad:?} accepted"))?;
        let text = err.to_string();
        assert!(text.contains("HTTP 400"), "{text}");
        assert!(text.contains("Invalid Device Identifier parameter found for 1 import records!"), "{text}");
    }
    // A batch is refused as a whole, counting its bad records.
    let mut bad = record("BAD-0002", "");
    bad["hardwareIdentifier"] = json!("a-b_c");
    let body =
        json!({"importedWindowsAutopilotDeviceIdentities": [bad.clone(), record("GOOD-0001", ""), bad]});
    let err = graph
        .post(&format!("{IMPORTS}/import"), &body)
        .err()
        .ok_or("a batch with bad hashes was accepted")?;
    assert!(err.to_string().contains("found for 2 import records!"), "{err}");
    assert!(handle.imports()?.is_empty(), "nothing is stored from a refused request");
    Ok(())
}

#[test]
fn a_group_tag_reaches_physical_ids_and_groups_only_after_the_delay() -> TestResult {
    let delay = Duration::from_secs(300);
    let config = FakeConfig { tag_propagation_delay: delay, ..FakeConfig::default() };
    let server = FakeServer::start(contoso()?, config, 0)?;
    let handle = server.handle();
    let graph = Graph::new(server.url())?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;

    let hr = members_of(&handle, "[OrderID]:NL-LT-HR")?;
    let device = handle
        .devices()?
        .into_iter()
        .find(|d| {
            let ids = d["physicalIds"].to_string();
            ids.contains("[ZTDId]")
                && ids.contains("[OrderId]:NL-LT-FIN")
                && d["id"].as_str().is_some_and(|id| !hr.iter().any(|m| m == id))
        })
        .ok_or("no NL-LT-FIN Autopilot device")?;
    let object_id = device["id"].as_str().ok_or("no id")?.to_string();
    let identity = handle
        .autopilot()?
        .into_iter()
        .find(|a| a["azureActiveDirectoryDeviceId"] == device["deviceId"])
        .ok_or("no identity")?;
    let ap = identity["id"].as_str().ok_or("no id")?.to_string();

    let (code, _) =
        graph.post(&format!("{IDENTITIES}/{ap}/updateDeviceProperties"), &json!({"groupTag": "NL-LT-HR"}))?;
    assert_eq!(code, 204);
    // The identity says so at once ...
    assert_eq!(graph.get(&format!("{IDENTITIES}/{ap}"))?["groupTag"], "NL-LT-HR");
    // ... the Entra device and the groups do not, until the delay has passed.
    let physical = || -> Result<String, GraphError> {
        Ok(graph.get(&format!("/devices/{object_id}"))?["physicalIds"].to_string())
    };
    handle.advance_clock(delay - Duration::from_secs(1))?;
    assert!(physical()?.contains("[OrderId]:NL-LT-FIN"), "propagated early");
    assert!(!members_of(&handle, "[OrderID]:NL-LT-HR")?.contains(&object_id));
    assert!(members_of(&handle, "[OrderID]:NL-LT-FIN")?.contains(&object_id));
    let early = pull(server.url(), &db, false)?;
    assert_eq!((early.changes.members_added, early.changes.members_removed), (0, 0), "{:?}", early.changes);

    handle.advance_clock(Duration::from_secs(1))?;
    let ids = physical()?;
    assert!(ids.contains("[OrderId]:NL-LT-HR") && !ids.contains("[OrderId]:NL-LT-FIN"), "{ids}");
    assert!(members_of(&handle, "[OrderID]:NL-LT-HR")?.contains(&object_id));
    assert!(!members_of(&handle, "[OrderID]:NL-LT-FIN")?.contains(&object_id));
    let late = pull(server.url(), &db, false)?;
    assert!(late.changes.members_added >= 1 && late.changes.members_removed >= 1, "{:?}", late.changes);
    assert_matches(&handle, &db)?;

    // The legacy name works too; a newer tag replaces a queued one; "" clears.
    for body in [json!({"orderIdentifier": "US-DT-ENG"}), json!({"groupTag": ""})] {
        graph.post(&format!("{IDENTITIES}/{ap}/updateDeviceProperties"), &body)?;
    }
    assert_eq!(graph.get(&format!("{IDENTITIES}/{ap}"))?["groupTag"], "");
    handle.advance_clock(delay)?;
    let ids = physical()?;
    assert!(!ids.contains("[OrderId]"), "{ids}");
    assert!(!members_of(&handle, "[OrderID]:US-DT-ENG")?.contains(&object_id));
    assert_eq!(graph.get(&format!("{IDENTITIES}/{ap}"))?["groupTag"], "");
    Ok(())
}

#[test]
fn the_sync_cooldown_follows_the_fake_clock() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    // A 429 asking for minutes should fail the call, not wait out the real clock.
    let mut config = client_config(server.url());
    config.retry.max_retry_after = Duration::from_secs(1);
    let graph = Graph::with(config)?;
    let url = graph.client.url(ApiVersion::Beta, "/deviceManagement/windowsAutopilotSettings/sync");
    let post = Request { method: Method::POST, idempotent: false, ..Request::get(url) };
    let refused = |graph: &Graph| graph.send(&post).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(graph.send(&post)?.0, 204);
    assert!(refused(&graph).contains("409"), "running");
    handle.advance_clock(Duration::from_secs(5))?;
    assert!(refused(&graph).contains("429"), "cooling down");
    handle.advance_clock(Duration::from_secs(600))?;
    assert_eq!(graph.send(&post)?.0, 204);
    Ok(())
}
