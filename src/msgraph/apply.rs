//! Applying a plan: the writes, in order, each recorded in the audit log
//! before and after it is sent.
//!
//! Design decisions, and why:
//!
//! * **A write can be interrupted between "sent" and "answered"**, by a
//!   kill, a lost network or a crash, and an admin re-runs the apply. The
//!   plan a re-run makes comes from a snapshot refreshed just before
//!   (`fleetlab sync apply` pulls first), so what the interrupted run
//!   wrote is already there and is not planned again. Two more guards
//!   cover the window the refresh cannot see (Graph's directory is
//!   eventually consistent, so a group created seconds ago may be missing
//!   from a delta round):
//!   - **Creations are idempotent.** Before a profile or group is created,
//!     the apply looks for one with the same display name (profiles: the
//!     profile list; groups: `$filter=displayName eq '…'`) and for the id
//!     an earlier run's audit log says it created (a `GET` by id, which is
//!     consistent); one that exists is adopted, never created twice.
//!   - **Assignments and deletions are idempotent too.** An assignment
//!     whose target the profile already has is adopted, and a `DELETE`
//!     answered 404 has reached its goal.
//!   - **The audit log is read back.** Each write gets a `sending` line
//!     before the request and a `done` or `failed` line after, with the
//!     id Graph gave a created object. A `sending` line with no answer is
//!     a write an interrupted run may or may not have made; the CLI names
//!     it, and the checks above decide.
//! * **Ids are checked before they go into a path**
//!   ([`crate::msgraph::ids::path_segment`]): a write whose id is not a
//!   Graph id is refused and logged as failed, never sent.
//! * **The first failed write stops the apply** (device property updates,
//!   sent in `$batch`es, are all attempted and counted): later writes may
//!   depend on it, e.g. an assignment on a profile whose creation failed.
//! * **Each audit line is flushed and synced before the request goes
//!   out**, so a power cut cannot lose the record of a write that reached
//!   Graph.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::msgraph::client::{ApiVersion, GraphClient, Request};
use crate::msgraph::error::GraphError;
use crate::msgraph::ids::path_segment;
use crate::msgraph::plan::{is_dynamic, Action, SyncPlan};
use crate::msgraph::protocol::{batch, list_all, BatchRequest};
use crate::msgraph::sync::{AUTOPILOT, PROFILES};

const GROUPS: &str = "/groups";

/// What an apply did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyReport {
    /// Writes that succeeded.
    pub succeeded: usize,
    /// Writes that failed (the apply stops at the first failure outside a batch).
    pub failed: usize,
    /// Creations skipped because the object already existed (an earlier,
    /// interrupted run made it): display names.
    pub adopted: Vec<String>,
}

/// One line of the audit log.
#[derive(Serialize, Deserialize)]
pub(crate) struct Entry {
    pub(crate) time: String,
    /// The apply this line belongs to (`<unix seconds>-<pid>`).
    pub(crate) run: String,
    /// The write's position in that apply.
    pub(crate) seq: u64,
    /// `sending`, `done`, `failed` or `adopted`.
    pub(crate) phase: String,
    pub(crate) action: Action,
    pub(crate) method: String,
    pub(crate) path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ok: Option<bool>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) message: String,
    /// The id of the object a creation made (or adopted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
}

/// What earlier applies left in the audit log.
#[derive(Clone, Debug, Default)]
pub struct AuditHistory {
    /// Writes that were sent (or about to be) with no answer recorded:
    /// their plan lines.
    pub interrupted: Vec<String>,
    /// Objects earlier applies created: (`profile` or `group`, lowercase
    /// display name) → id.
    created: HashMap<(String, String), String>,
}

/// The append-only audit log of writes (JSON Lines).
pub struct AuditLog {
    file: std::fs::File,
    path: PathBuf,
    run: String,
    seq: u64,
    history: AuditHistory,
}

impl AuditLog {
    /// Opens (creating) the log at `path` and reads what earlier applies
    /// wrote in it. Lines that are not audit entries (a line cut by a
    /// kill, a hand edit) are skipped.
    pub fn open(path: &Path) -> Result<AuditLog, GraphError> {
        let io = |e: std::io::Error| GraphError::Runtime(format!("audit log {}: {e}", path.display()));
        let history = match std::fs::File::open(path) {
            Ok(f) => read_history(std::io::BufReader::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AuditHistory::default(),
            Err(e) => return Err(io(e)),
        };
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        let secs =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Ok(AuditLog {
            file,
            path: path.to_path_buf(),
            run: format!("{secs}-{}", std::process::id()),
            seq: 0,
            history,
        })
    }

    /// What earlier applies left.
    pub fn history(&self) -> &AuditHistory {
        &self.history
    }

    pub(crate) fn write(&mut self, entry: &Entry) -> Result<(), GraphError> {
        let text = serde_json::to_string(entry)
            .map_err(|e| GraphError::Runtime(format!("audit log {}: {e}", self.path.display())))?;
        writeln!(self.file, "{text}")
            .and_then(|_| self.file.flush())
            .and_then(|_| self.file.sync_data())
            .map_err(|e| GraphError::Runtime(format!("audit log {}: {e}", self.path.display())))
    }

    pub(crate) fn next(&mut self) {
        self.seq += 1;
    }

    pub(crate) fn entry(&self, phase: &str, action: &Action, method: &str, path: &str) -> Entry {
        Entry {
            time: crate::rule::Timestamp::now().to_string(),
            run: self.run.clone(),
            seq: self.seq,
            phase: phase.to_string(),
            action: action.clone(),
            method: method.to_string(),
            path: path.to_string(),
            status: None,
            ok: None,
            message: String::new(),
            id: None,
        }
    }
}

fn read_history(reader: impl BufRead) -> AuditHistory {
    let mut pending: BTreeMap<(String, u64), String> = BTreeMap::new();
    let mut history = AuditHistory::default();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        let Ok(entry) = serde_json::from_str::<Entry>(&line) else { continue };
        let key = (entry.run.clone(), entry.seq);
        if entry.phase == "sending" {
            pending.insert(key, entry.action.describe());
            continue;
        }
        pending.remove(&key);
        if matches!(entry.phase.as_str(), "done" | "adopted") {
            if let Some(id) = entry.id {
                if let Some(k) = creation_key(&entry.action) {
                    history.created.insert(k, id);
                }
            }
        }
    }
    history.interrupted = pending.into_values().collect();
    history
}

fn creation_key(action: &Action) -> Option<(String, String)> {
    match action {
        Action::CreateProfile { profile, .. } => Some(("profile".into(), profile.to_lowercase())),
        Action::CreateGroup { group, .. } => Some(("group".into(), group.to_lowercase())),
        _ => None,
    }
}

/// One write, ready to send.
struct Write1 {
    method: Method,
    version: ApiVersion,
    path: String,
    body: Option<Value>,
}

/// Ids of what this apply created, for the assignments that follow.
#[derive(Default)]
struct Created {
    profiles: HashMap<String, String>,
    groups: HashMap<String, String>,
    /// The Graph root (`https://graph.microsoft.com`, a national cloud's),
    /// for the `@odata.id` of a member reference.
    root: String,
}

impl Created {
    fn record(&mut self, action: &Action, id: String) {
        match action {
            Action::CreateProfile { profile, .. } => {
                self.profiles.insert(profile.clone(), id);
            }
            Action::CreateGroup { group, .. } => {
                self.groups.insert(group.to_lowercase(), id);
            }
            _ => {}
        }
    }
}

/// The request for `action` (not a device update), with every id checked.
fn route(action: &Action, created: &Created) -> Result<Write1, GraphError> {
    let seg = path_segment;
    let beta = ApiVersion::Beta;
    let w = |method, version, path, body| Ok(Write1 { method, version, path, body });
    match action {
        Action::DeleteAssignment { profile_id, assignment_id, .. } => w(
            Method::DELETE,
            beta,
            format!(
                "{PROFILES}/{}/assignments/{}",
                seg("profile", profile_id)?,
                seg("assignment", assignment_id)?
            ),
            None,
        ),
        Action::DeleteProfile { profile_id, .. } => {
            w(Method::DELETE, beta, format!("{PROFILES}/{}", seg("profile", profile_id)?), None)
        }
        Action::DeleteDevice { autopilot_id, .. } => {
            w(Method::DELETE, beta, format!("{AUTOPILOT}/{}", seg("Autopilot device", autopilot_id)?), None)
        }
        Action::CreateGroup { body, .. } => {
            w(Method::POST, ApiVersion::V1, GROUPS.to_string(), Some(body.clone()))
        }
        Action::UpdateGroup { group_id, body, .. } => w(
            Method::PATCH,
            ApiVersion::V1,
            format!("{GROUPS}/{}", seg("group", group_id)?),
            Some(body.clone()),
        ),
        Action::GroupMember { group, group_id, member, add } => {
            let id = group_id.clone().or_else(|| created.groups.get(&group.to_lowercase()).cloned());
            let Some(id) = id else {
                return Err(GraphError::Refused(format!(
                    "group {group:?} was not created, so no member can be added to it"
                )));
            };
            let (gid, mid) = (seg("group", &id)?, seg("member", member)?);
            if *add {
                let bind = format!("{}/v1.0/directoryObjects/{mid}", created.root);
                w(
                    Method::POST,
                    ApiVersion::V1,
                    format!("{GROUPS}/{gid}/members/$ref"),
                    Some(json!({ "@odata.id": bind })),
                )
            } else {
                w(Method::DELETE, ApiVersion::V1, format!("{GROUPS}/{gid}/members/{mid}/$ref"), None)
            }
        }
        Action::CreateProfile { body, .. } => w(Method::POST, beta, PROFILES.to_string(), Some(body.clone())),
        Action::UpdateProfile { profile_id, body, .. } => {
            w(Method::PATCH, beta, format!("{PROFILES}/{}", seg("profile", profile_id)?), Some(body.clone()))
        }
        Action::CreateAssignment { profile, profile_id, group, body, .. } => {
            let id =
                profile_id.clone().or_else(|| created.profiles.get(profile).cloned()).unwrap_or_default();
            let path = format!("{PROFILES}/{}/assignments", seg(&format!("profile {profile:?}"), &id)?);
            let mut body = body.clone();
            if let Some(name) = group {
                let Some(gid) = created.groups.get(&name.to_lowercase()) else {
                    return Err(GraphError::Refused(format!(
                        "group {name:?} was not created, so nothing can be assigned to it"
                    )));
                };
                if let Some(target) = body.get_mut("target").and_then(Value::as_object_mut) {
                    target.insert("groupId".into(), json!(seg("group", gid)?));
                }
            }
            w(Method::POST, beta, path, Some(body))
        }
        Action::ImportDevice { .. } => Err(GraphError::Refused(
            "device imports are sent by `fleetlab sync import`, not in a plan".into(),
        )),
        Action::UpdateDevice { autopilot_id, body, .. } => w(
            Method::POST,
            beta,
            format!("{AUTOPILOT}/{}/updateDeviceProperties", seg("Autopilot device", autopilot_id)?),
            Some(body.clone()),
        ),
    }
}

/// The id of an existing object that `action` would create: the one an
/// earlier apply logged (if Graph still has it), else one with the same
/// display name, or (for an assignment) one with the same target.
async fn existing(
    client: &GraphClient,
    action: &Action,
    write: &Write1,
    history: &AuditHistory,
) -> Result<Option<String>, GraphError> {
    if let Action::CreateAssignment { .. } = action {
        return existing_assignment(client, write).await;
    }
    let Some(key) = creation_key(action) else { return Ok(None) };
    let (kind, name) = &key;
    let (version, collection) =
        if kind == "group" { (ApiVersion::V1, GROUPS) } else { (ApiVersion::Beta, PROFILES) };
    if let Some(id) = history.created.get(&key) {
        if let Ok(segment) = path_segment(kind, id) {
            match client
                .send_json(&Request::get(client.url(version, &format!("{collection}/{segment}"))))
                .await
            {
                Ok(found) if same_name(&found, name) => return Ok(Some(id.clone())),
                Ok(_) => {}
                Err(GraphError::Api { error, .. }) if error.status == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    let listing = if kind == "group" {
        let quoted = name.replace('\'', "''");
        let filter = format!("displayName eq '{quoted}'");
        let query: String =
            percent_encoding::utf8_percent_encode(&filter, percent_encoding::NON_ALPHANUMERIC).to_string();
        client.url(version, &format!("{GROUPS}?$filter={query}&$select=id,displayName,groupTypes"))
    } else {
        client.url(version, PROFILES)
    };
    let items = list_all(client, &listing).await?;
    let Some(found) = items.iter().find(|item| same_name(item, name)) else { return Ok(None) };
    let wanted_dynamic = write.body.as_ref().is_some_and(is_dynamic);
    if kind == "group" && is_dynamic(found) != wanted_dynamic {
        return Err(GraphError::Refused(format!(
            "a group named {name:?} appeared in the tenant as {} group after the plan was made; nothing was \
             written for it",
            if wanted_dynamic { "an assigned" } else { "a dynamic" }
        )));
    }
    Ok(found.get("id").and_then(Value::as_str).map(str::to_string))
}

/// An assignment of the profile in `write.path` with the target `write`
/// would create (same type, ignoring the optional `#`, and same group).
async fn existing_assignment(client: &GraphClient, write: &Write1) -> Result<Option<String>, GraphError> {
    let key = |target: Option<&Value>| {
        let kind = target.and_then(|t| t.get("@odata.type")).and_then(Value::as_str).unwrap_or("");
        let group = target.and_then(|t| t.get("groupId")).and_then(Value::as_str).unwrap_or("");
        (kind.trim_start_matches('#').to_string(), group.to_lowercase())
    };
    let wanted = key(write.body.as_ref().and_then(|b| b.get("target")));
    let items = list_all(client, &client.url(write.version, &write.path)).await?;
    Ok(items
        .iter()
        .find(|a| key(a.get("target")) == wanted)
        .and_then(|a| a.get("id").and_then(Value::as_str).map(str::to_string)))
}

fn same_name(object: &Value, lower: &str) -> bool {
    object.get("displayName").and_then(Value::as_str).is_some_and(|n| n.to_lowercase() == lower)
}

/// Sends the plan's writes in order, each between a `sending` and a
/// `done`/`failed` audit line. Stops at the first failed write (device
/// updates, sent in `$batch`es, are all attempted and their failures
/// counted). Call it on a plan made from a freshly pulled snapshot.
pub async fn apply(
    client: &GraphClient,
    plan: &SyncPlan,
    log: &mut AuditLog,
) -> Result<ApplyReport, GraphError> {
    let mut report = ApplyReport::default();
    let mut created = Created { root: client.config().graph_root.clone(), ..Created::default() };
    let mut updates: Vec<&Action> = Vec::new();
    for action in &plan.actions {
        if matches!(action, Action::UpdateDevice { .. }) {
            updates.push(action);
            continue;
        }
        log.seq += 1;
        let write = match route(action, &created) {
            Ok(w) => w,
            Err(e) => {
                let mut entry = log.entry("failed", action, "", "");
                (entry.ok, entry.message) = (Some(false), e.to_string());
                log.write(&entry)?;
                return Err(e);
            }
        };
        let method = write.method.as_str().to_string();
        if let Some(id) = existing(client, action, &write, &log.history).await? {
            let mut entry = log.entry("adopted", action, &method, &write.path);
            entry.ok = Some(true);
            entry.message =
                "already in the tenant (an earlier apply made it?): matched, not created again".into();
            entry.id = Some(id.clone());
            log.write(&entry)?;
            created.record(action, id);
            report.adopted.push(action.describe());
            continue;
        }
        log.write(&log.entry("sending", action, &method, &write.path))?;
        let url = client.url(write.version, &write.path);
        let request = match &write.body {
            Some(b) => Request::json(write.method.clone(), url, b),
            None => Request { method: write.method.clone(), ..Request::delete(url) },
        };
        let mut entry = log.entry("done", action, &method, &write.path);
        match client.send(&request).await {
            Ok(response) => {
                let new_id = serde_json::from_slice::<Value>(&response.body)
                    .ok()
                    .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string));
                if let (Some(id), Some(_)) = (&new_id, creation_key(action)) {
                    created.record(action, id.clone());
                }
                (entry.status, entry.ok, entry.id) = (Some(response.status), Some(true), new_id);
                log.write(&entry)?;
                report.succeeded += 1;
            }
            // A deletion of what is already gone has reached its goal.
            Err(GraphError::Api { error, .. }) if write.method == Method::DELETE && error.status == 404 => {
                (entry.status, entry.ok, entry.message) = (Some(404), Some(true), "already gone".into());
                log.write(&entry)?;
                report.succeeded += 1;
            }
            Err(e) => {
                entry.phase = "failed".into();
                (entry.status, entry.ok, entry.message) = (error_status(&e), Some(false), e.to_string());
                log.write(&entry)?;
                return Err(e);
            }
        }
    }
    if !updates.is_empty() {
        device_updates(client, &updates, &created, log, &mut report).await?;
    }
    Ok(report)
}

fn error_status(e: &GraphError) -> Option<u16> {
    match e {
        GraphError::Api { error, .. } | GraphError::Forbidden { error, .. } => Some(error.status),
        _ => None,
    }
}

/// The device property updates, in `$batch`es.
async fn device_updates(
    client: &GraphClient,
    updates: &[&Action],
    created: &Created,
    log: &mut AuditLog,
    report: &mut ApplyReport,
) -> Result<(), GraphError> {
    let mut requests = Vec::new();
    let mut sent: Vec<(&Action, u64)> = Vec::new();
    let mut ids = HashSet::new();
    for action in updates {
        log.seq += 1;
        let write = match route(action, created) {
            Ok(w) => w,
            Err(e) => {
                let mut entry = log.entry("failed", action, "POST", "");
                (entry.ok, entry.message) = (Some(false), e.to_string());
                log.write(&entry)?;
                report.failed += 1;
                continue;
            }
        };
        let id = log.seq.to_string();
        ids.insert(id.clone());
        log.write(&log.entry("sending", action, "POST", &write.path))?;
        requests.push(BatchRequest {
            id,
            method: "POST".into(),
            url: write.path,
            body: write.body,
            headers: BTreeMap::new(),
        });
        sent.push((action, log.seq));
    }
    let responses = batch(client, ApiVersion::Beta, requests.clone()).await?;
    for (((action, seq), request), response) in sent.iter().zip(&requests).zip(&responses) {
        let mut message = response
            .body
            .as_ref()
            .map(|b| crate::msgraph::ApiError::parse(response.status, b.to_string().as_bytes()).message)
            .unwrap_or_default();
        if response.status == 403 {
            if let Some(hint) = crate::msgraph::permissions::hint("POST", &request.url) {
                message = format!("{message}; {hint}");
            }
        }
        let ok = (200..300).contains(&response.status);
        let mut entry = log.entry(if ok { "done" } else { "failed" }, action, "POST", &request.url);
        (entry.seq, entry.status, entry.ok, entry.message) = (*seq, Some(response.status), Some(ok), message);
        log.write(&entry)?;
        if ok {
            report.succeeded += 1;
        } else {
            report.failed += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unanswered_write_and_created_ids_are_read_back() {
        let create =
            serde_json::to_string(&Action::CreateProfile { profile: "Kiosk".into(), body: json!({}) });
        let create = create.unwrap_or_default();
        let log = format!(
            "{{\"time\":\"t\",\"run\":\"1-1\",\"seq\":1,\"phase\":\"sending\",\"action\":{create},\"method\":\"POST\",\"path\":\"/p\"}}\n\
             {{\"time\":\"t\",\"run\":\"1-1\",\"seq\":1,\"phase\":\"done\",\"action\":{create},\"method\":\"POST\",\"path\":\"/p\",\"id\":\"abc\"}}\n\
             {{\"time\":\"t\",\"run\":\"2-2\",\"seq\":1,\"phase\":\"sending\",\"action\":{create},\"method\":\"POST\",\"path\":\"/p\"}}\n\
             {{\"time\":\"t\",\"run\":\"2-2\",\"seq\":2,\"pha"
        );
        let history = read_history(log.as_bytes());
        assert_eq!(history.interrupted, vec!["+ create profile \"Kiosk\"".to_string()]);
        assert_eq!(history.created.get(&("profile".into(), "kiosk".into())).map(String::as_str), Some("abc"));
    }

    #[test]
    fn ids_that_are_not_ids_never_reach_a_path() {
        let action = Action::DeleteProfile { profile: "x".into(), profile_id: "../../v1.0/secret?x=".into() };
        assert!(matches!(route(&action, &Created::default()), Err(GraphError::BadId { .. })));
        let empty = Action::DeleteProfile { profile: "x".into(), profile_id: String::new() };
        assert!(route(&empty, &Created::default()).is_err());
    }
}
