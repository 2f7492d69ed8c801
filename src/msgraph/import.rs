//! Registering devices: the rows of a hardware-hash CSV sent to Graph's
//! `importedWindowsAutopilotDeviceIdentities`, followed until each ends.
//!
//! Design decisions, and why:
//!
//! * **Safe to run again.** An import is a `POST`, and a lost answer must
//!   not register a device twice. Before sending, the serials the tenant's
//!   Autopilot identities already carry (the snapshot, pulled just before
//!   by the CLI) are skipped, and so are serials with an import record left
//!   by an earlier run: one still `unknown` or `pending` is followed, not
//!   posted again; a finished one reports its outcome. Each row gets a
//!   `sending` audit line before the batch goes out and its outcome after.
//! * **One `import` action per batch** (graph-api.md §2.2, F6: `POST
//!   …/importedWindowsAutopilotDeviceIdentities/import` with a list), at most
//!   [`ImportOptions::batch`] rows, then the records are polled by listing
//!   the collection (one paged request per round rather than one per
//!   device) every [`ImportOptions::poll`], as `Import-AutopilotCSV`
//!   does, until every record is `complete` or `error`, or
//!   [`ImportOptions::wait`] has passed. Right after the POST a record reads
//!   `unknown`, then `pending` (graph-api.md §1.4); Graph takes tens of
//!   seconds to about 15 minutes per batch (§3.11).
//! * **`partial` is reported, not waited on.** Graph's enum has it and
//!   documents nothing about it, so a record in it is shown as needing
//!   attention.
//! * **Errors by name**: 806 `ZtdDeviceAlreadyAssigned` (already in this
//!   tenant), 808 `ZtdDeviceAssignedToOtherTenant`, `ZtdDeviceDuplicated`
//!   (the same hash twice in a batch), `InvalidZtdHardwareHash` — each
//!   with what to do (Microsoft Learn, add-devices; graph-api.md §1.4).
//! * **Completed records are deleted** afterwards, as the tools do, so the
//!   tenant's import list does not grow with every run. Records in error
//!   stay, as Intune's import view keeps them until they are dismissed: a
//!   re-run reports their error again instead of posting the serial anew
//!   (an 806 or 808 would only repeat), and deleting the record lets the
//!   next run try again.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use crate::autopilot::register::ImportRow;
use crate::msgraph::apply::AuditLog;
use crate::msgraph::client::{ApiVersion, GraphClient, Request};
use crate::msgraph::error::GraphError;
use crate::msgraph::ids::path_segment;
use crate::msgraph::plan::Action;
use crate::msgraph::protocol::list_all;

/// The collection of import records.
pub const IMPORTS: &str = "/deviceManagement/importedWindowsAutopilotDeviceIdentities";

/// How to import.
#[derive(Clone, Copy, Debug)]
pub struct ImportOptions {
    /// Rows per `import` action.
    pub batch: usize,
    /// Time between polls.
    pub poll: Duration,
    /// How long to follow the records before reporting them as unfinished.
    pub wait: Duration,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions { batch: 100, poll: Duration::from_secs(15), wait: Duration::from_secs(30 * 60) }
    }
}

/// What became of one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowOutcome {
    /// The CSV line.
    pub line: usize,
    /// The serial.
    pub serial: String,
    /// `complete`, `error`, `partial`, `unfinished`, or `skipped`.
    pub status: String,
    /// The Autopilot identity id, once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// Graph's error code and name, or why the row was skipped.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl RowOutcome {
    /// True when the device is registered (now or before).
    pub fn registered(&self) -> bool {
        self.status == "complete" || self.status == "skipped"
    }
}

/// Imports `rows`, skipping `registered` serials (uppercase) and following
/// earlier runs' records; returns one outcome per row, in file order.
pub async fn import(
    client: &GraphClient,
    rows: &[ImportRow],
    registered: &HashSet<String>,
    log: &mut AuditLog,
    options: ImportOptions,
    progress: &dyn Fn(&str),
) -> Result<Vec<RowOutcome>, GraphError> {
    let collection = client.url(ApiVersion::Beta, IMPORTS);
    let earlier: HashMap<String, Value> = list_all(client, &collection)
        .await?
        .into_iter()
        .filter_map(|r| Some((text(&r, "serialNumber")?.to_uppercase(), r)))
        .collect();
    let mut outcomes: Vec<RowOutcome> = Vec::with_capacity(rows.len());
    let mut tracked: HashMap<String, usize> = HashMap::new(); // record id → outcome index
    let mut to_send = Vec::new();
    for row in rows {
        let key = row.serial.to_uppercase();
        let mut outcome = RowOutcome {
            line: row.line,
            serial: row.serial.clone(),
            status: "unfinished".into(),
            identity: None,
            message: String::new(),
        };
        if registered.contains(&key) {
            outcome.status = "skipped".into();
            outcome.message = "already registered in the tenant (not sent again)".into();
        } else if let Some(record) = earlier.get(&key) {
            outcome.message =
                "imported by an earlier run, not sent again (delete its import record to retry)".into();
            if let Some(id) = text(record, "id") {
                tracked.insert(id.to_string(), outcomes.len());
            }
        } else {
            to_send.push((outcomes.len(), row));
        }
        outcomes.push(outcome);
    }
    for chunk in to_send.chunks(options.batch.max(1)) {
        let ids = send_batch(client, chunk, log).await?;
        for ((index, _), id) in chunk.iter().zip(ids) {
            tracked.insert(id, *index);
        }
    }
    follow(client, &collection, &mut tracked, &mut outcomes, options, progress).await?;
    for outcome in &outcomes {
        record_outcome(log, outcome)?;
    }
    Ok(outcomes)
}

/// Posts one batch; the import record id of each row, in order.
async fn send_batch(
    client: &GraphClient,
    chunk: &[(usize, &ImportRow)],
    log: &mut AuditLog,
) -> Result<Vec<String>, GraphError> {
    let import_id = batch_id();
    let path = format!("{IMPORTS}/import");
    let mut body = Vec::new();
    for (_, row) in chunk {
        log.next();
        log.write(&log.entry("sending", &action(row), "POST", &path))?;
        body.push(json!({
            "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
            "serialNumber": row.serial,
            "productKey": row.product_id,
            "hardwareIdentifier": row.hash,
            "groupTag": row.group_tag.clone().unwrap_or_default(),
            "assignedUserPrincipalName": row.user.clone().unwrap_or_default(),
            "importId": import_id,
        }));
    }
    let request = Request::json(
        Method::POST,
        client.url(ApiVersion::Beta, &path),
        &json!({ "importedWindowsAutopilotDeviceIdentities": body }),
    );
    let answer = client.send_json(&request).await?;
    let records = answer.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut by_serial: HashMap<String, String> = HashMap::new();
    for r in &records {
        if let (Some(serial), Some(id)) = (text(r, "serialNumber"), text(r, "id")) {
            by_serial.entry(serial.to_uppercase()).or_insert_with(|| id.to_string());
        }
    }
    let mut ids = Vec::new();
    for (i, (_, row)) in chunk.iter().enumerate() {
        // Graph answers in request order; the serial is the check.
        let id = by_serial
            .remove(&row.serial.to_uppercase())
            .or_else(|| records.get(i).and_then(|r| text(r, "id")).map(str::to_string))
            .ok_or_else(|| GraphError::Malformed {
                path: crate::msgraph::client::path_of(&request.url),
                message: format!("no import record came back for serial {}", row.serial),
            })?;
        path_segment("import record", &id)?;
        ids.push(id);
    }
    Ok(ids)
}

/// Polls the records in `tracked` until each is final or the wait is over.
async fn follow(
    client: &GraphClient,
    collection: &str,
    tracked: &mut HashMap<String, usize>,
    outcomes: &mut [RowOutcome],
    options: ImportOptions,
    progress: &dyn Fn(&str),
) -> Result<(), GraphError> {
    let started = Instant::now();
    let mut finished = Vec::new();
    loop {
        let records = list_all(client, collection).await?;
        for record in &records {
            let Some(id) = text(record, "id") else { continue };
            let Some(&index) = tracked.get(id) else { continue };
            let state = record.get("state").cloned().unwrap_or(Value::Null);
            let status = text(&state, "deviceImportStatus").unwrap_or("unknown").to_string();
            let Some(outcome) = outcomes.get_mut(index) else { continue };
            match status.as_str() {
                "complete" => {
                    outcome.status = status;
                    outcome.identity = text(&state, "deviceRegistrationId").map(str::to_string);
                    finished.push(id.to_string());
                }
                "error" => {
                    outcome.status = status;
                    let earlier = std::mem::take(&mut outcome.message);
                    outcome.message = if earlier.is_empty() {
                        error_text(&state)
                    } else {
                        format!("{} ({earlier})", error_text(&state))
                    };
                }
                "partial" => {
                    outcome.status = status;
                    outcome.message =
                        "Graph reports the import as partial (undocumented): check it in Intune".into();
                }
                _ => continue,
            }
            tracked.remove(id);
        }
        let waiting = tracked.len();
        if waiting == 0 || started.elapsed() >= options.wait {
            break;
        }
        progress(&format!(
            "{waiting} import(s) still unknown or pending; next check in {} s",
            options.poll.as_secs()
        ));
        tokio::time::sleep(options.poll).await;
    }
    for id in finished {
        let segment = path_segment("import record", &id)?;
        let url = client.url(ApiVersion::Beta, &format!("{IMPORTS}/{segment}"));
        match client.send(&Request::delete(url)).await {
            Ok(_) => {}
            Err(GraphError::Api { error, .. }) if error.status == 404 => {}
            Err(e) => progress(&format!("could not delete the completed import record {id}: {e}")),
        }
    }
    Ok(())
}

fn error_text(state: &Value) -> String {
    let code = state.get("deviceErrorCode").and_then(Value::as_i64).unwrap_or(0);
    let name = text(state, "deviceErrorName").unwrap_or("");
    let what = match name {
        "ZtdDeviceAlreadyAssigned" => "the device is already registered in this tenant",
        "ZtdDeviceAssignedToOtherTenant" | "ZtdDeviceAssignedToAnotherTenant" => {
            "the device is registered to another tenant: that tenant must deregister it first"
        }
        "ZtdDeviceDuplicated" => "the same hardware hash is on another row of the batch",
        "InvalidZtdHardwareHash" => "the hardware hash is damaged or lacks fields: capture it again",
        "StorageError" => "a service error: import it again later",
        _ => "see the import in Intune",
    };
    if code == 0 {
        format!("{name}: {what}")
    } else {
        format!("{code} {name}: {what}")
    }
}

fn record_outcome(log: &mut AuditLog, outcome: &RowOutcome) -> Result<(), GraphError> {
    let action = Action::ImportDevice { serial: outcome.serial.clone(), group_tag: None };
    let phase = match outcome.status.as_str() {
        "complete" | "skipped" => "done",
        "unfinished" | "partial" => "pending",
        _ => "failed",
    };
    log.next();
    let mut entry = log.entry(phase, &action, "POST", &format!("{IMPORTS}/import"));
    entry.ok = Some(outcome.registered());
    entry.message = format!(
        "{}{}",
        outcome.status,
        if outcome.message.is_empty() { String::new() } else { format!(": {}", outcome.message) }
    );
    entry.id = outcome.identity.clone();
    log.write(&entry)
}

fn action(row: &ImportRow) -> Action {
    Action::ImportDevice { serial: row.serial.clone(), group_tag: row.group_tag.clone() }
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// A GUID-shaped id shared by one batch (tools use one per batch).
fn batch_id() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let x = nanos ^ (u128::from(std::process::id()) << 64);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (x >> 96) as u32,
        (x >> 80) as u16,
        (x >> 64) as u16 & 0xfff,
        (x >> 48) as u16 & 0xfff,
        x as u64 & 0xffff_ffff_ffff
    )
}
