//! Autopilot imports and group-tag propagation: the two Autopilot writes
//! Graph acknowledges at once but applies later (graph-api.md §1.4, §2.2,
//! §3.11, F6).
//!
//! Design decisions, and why:
//!
//! * **One fake clock, settled lazily.** [`Tenant::now`] is the real clock
//!   plus an offset that tests move forward ([`Tenant::advance_clock`],
//!   `POST /_fake/clock/advance`), so a test can cross a 15-minute import or
//!   the 10-minute sync cooldown without sleeping. Nothing runs in the
//!   background: every request, and every read through the handle, first
//!   applies whatever has come due ([`Tenant::settle`]). State can only be
//!   observed through those paths, so the effect is the same as a timer,
//!   without a second task taking the tenant lock.
//! * **Import states.** A record reads `unknown` right after the POST (obs:
//!   not `pending`), `pending` from half of [`FakeConfig::import_delay`]
//!   on, and its final state once the whole delay has passed. Graph takes
//!   tens of seconds to about 15 minutes per batch (§3.11); the default is
//!   a few seconds so a demo shows every state without a wait, and tests
//!   set what they need. `partial` is a batch-level state in Graph's enum;
//!   records here are single devices, so it never appears.
//! * **The outcome is decided when the delay ends, not at the POST**, as
//!   the service registers devices asynchronously: a serial listed in
//!   [`FakeConfig::other_tenant_serials`] ends in 808
//!   `ZtdDeviceAssignedToOtherTenant`; a serial some identity of this tenant
//!   already carries ends in 806 `ZtdDeviceAlreadyAssigned` (so the second
//!   record of a serial imported twice fails once the first completes);
//!   a record whose hardware hash an earlier record of the same `import`
//!   batch carries ends in `ZtdDeviceDuplicated` (add-devices: "duplicate
//!   hash in the batch"; Graph documents no number for it, so its
//!   `deviceErrorCode` is 0); anything else is `complete`. Graph's
//!   `InvalidZtdHardwareHash` (a hash whose inner fields are wrong) needs a
//!   real hash parser and is not modelled.
//! * **A malformed hash is refused at the POST.** `hardwareIdentifier` is
//!   an `Edm.Binary`, Base64 in JSON; text that is not strict Base64
//!   (alphabet, length a multiple of four, at most two `=` at the end) or is
//!   empty cannot be deserialized, so the request fails as a whole with
//!   Intune's 400 and the message tools report, "Invalid Device Identifier
//!   parameter found for N import records!" (§3.9). The spec names the
//!   message, not its trigger: tying it to the Base64 check is inference.
//! * **`complete` registers the device** the way a pre-enrolment Autopilot
//!   device looks (F13, second device): an Entra `RegisteredDevice` named
//!   after its serial whose `physicalIds` carry `[ZTDId]:<id>`, a
//!   `[HWID]:h:…` value and, when tagged, `[OrderId]:<tag>`; the identity's
//!   id equals both `deviceRegistrationId` and the `[ZTDId]` value (§1.1,
//!   obs). The new device goes through the same path as any device change,
//!   so dynamic groups and the device delta see it. Graph shows the identity
//!   a little after `complete` (§3.11); here it appears with `complete`.
//! * **Group tags reach Entra later.** `updateDeviceProperties` changes the
//!   identity's `groupTag` at once (an override on the identity) and queues
//!   the `[OrderId]` change of its Entra device for
//!   [`FakeConfig::tag_propagation_delay`]; dynamic groups, which read
//!   `devicePhysicalIds`, follow when it lands. A newer tag for the same
//!   identity replaces a queued one, so the last write wins as on Graph.
//!   Graph documents no figure (§8, question 14; minutes in practice).

use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};

use super::{classify, encode, Expr, Resource, Verdict};
use super::{guid, hash_str, intune_error, page_reply, Listing, Reply, Tenant};

/// Where an import record is (Graph's `importedWindowsAutopilotDeviceIdentityImportStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Unknown,
    Pending,
    Complete,
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Pending => "pending",
            Status::Complete => "complete",
            Status::Error => "error",
        }
    }
}

/// One imported identity.
pub(crate) struct ImportRec {
    /// The caller's properties, normalised to strings.
    fields: Map<String, Value>,
    /// Arrival order: records that come due together finish in it.
    seq: u64,
    created: Instant,
    status: Status,
    registration_id: String,
    error: (i64, &'static str),
    /// An earlier record of the same `import` batch has this hash.
    duplicate: bool,
}

/// A group tag on its way to the Entra device.
pub(crate) struct TagChange {
    due: Instant,
    pub(crate) identity: String,
    tag: String,
}

/// The properties an import record keeps (graph-api.md §1.4).
const FIELDS: &[&str] = &[
    "groupTag",
    "serialNumber",
    "productKey",
    "importId",
    "hardwareIdentifier",
    "assignedUserPrincipalName",
];

/// Why a record was refused at the POST.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The hardware hash is missing or not Base64.
    Hash,
    /// Anything else (not an object, a non-string property, no serial).
    Shape,
}

/// Decodes strict, padded Base64 (RFC 4648 §4); `None` for anything else.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The record's properties as strings (absent or null → `""`), or why it is refused.
fn parse_record(value: &Value) -> Result<Map<String, Value>, Refusal> {
    let Some(obj) = value.as_object() else { return Err(Refusal::Shape) };
    let mut fields = Map::new();
    for key in FIELDS {
        // `orderIdentifier` is the tag's former name; old examples still send it.
        let raw = match (*key, obj.get(*key)) {
            ("groupTag", None | Some(Value::Null)) => obj.get("orderIdentifier"),
            (_, v) => v,
        };
        let text = match raw {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s.as_str(),
            Some(_) if *key == "hardwareIdentifier" => return Err(Refusal::Hash),
            Some(_) => return Err(Refusal::Shape),
        };
        fields.insert((*key).to_string(), json!(text));
    }
    let hash = fields.get("hardwareIdentifier").and_then(Value::as_str).unwrap_or("");
    if base64_decode(hash).is_none_or(|b| b.is_empty()) {
        return Err(Refusal::Hash);
    }
    if fields.get("serialNumber").and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
        return Err(Refusal::Shape);
    }
    Ok(fields)
}

fn text<'a>(fields: &'a Map<String, Value>, key: &str) -> &'a str {
    fields.get(key).and_then(Value::as_str).unwrap_or("")
}

fn render(id: &str, rec: &ImportRec) -> Value {
    let mut out = Map::new();
    out.insert("@odata.type".into(), json!("#microsoft.graph.importedWindowsAutopilotDeviceIdentity"));
    out.insert("id".into(), json!(id));
    for key in FIELDS {
        out.insert((*key).to_string(), json!(text(&rec.fields, key)));
    }
    out.insert(
        "state".into(),
        json!({
            "@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
            "deviceImportStatus": rec.status.as_str(),
            "deviceRegistrationId": rec.registration_id,
            "deviceErrorCode": rec.error.0,
            "deviceErrorName": rec.error.1,
        }),
    );
    Value::Object(out)
}

impl Tenant {
    /// The fake's monotonic "now": real time plus what tests advanced.
    pub(crate) fn now(&self) -> Instant {
        Instant::now() + self.clock_offset
    }

    /// The wall-clock twin of [`Tenant::now`], for timestamps in bodies.
    pub(crate) fn wall_now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }

    /// Moves the fake clock forward and applies what came due.
    pub(crate) fn advance_clock(&mut self, by: Duration) {
        self.clock_offset += by;
        self.settle();
    }

    /// Applies every queued tag and finishes every import whose time has come.
    pub(crate) fn settle(&mut self) {
        let now = self.now();
        if self.tag_changes.iter().any(|c| c.due <= now) {
            let (due, later): (Vec<TagChange>, Vec<TagChange>) =
                std::mem::take(&mut self.tag_changes).into_iter().partition(|c| c.due <= now);
            self.tag_changes = later;
            for change in due {
                self.propagate_tag(&change.identity, &change.tag);
            }
        }
        let delay = self.config.import_delay;
        let mut ready = Vec::new();
        for (id, rec) in &mut self.imports {
            if !matches!(rec.status, Status::Unknown | Status::Pending) {
                continue;
            }
            let age = now.saturating_duration_since(rec.created);
            if age >= delay {
                ready.push((rec.seq, id.clone()));
            } else if age >= delay / 2 {
                rec.status = Status::Pending;
            }
        }
        ready.sort();
        for (_, id) in ready {
            self.finish_import(&id);
        }
    }

    /// Every import record, as `GET` renders it.
    pub(crate) fn imports_json(&self) -> Vec<Value> {
        self.imports.iter().map(|(id, rec)| render(id, rec)).collect()
    }

    /// Queues the `[OrderId]` change for identity `id`'s Entra device.
    pub(super) fn queue_tag(&mut self, id: &str, tag: &str) {
        self.tag_changes.retain(|c| c.identity != id);
        let due = self.now() + self.config.tag_propagation_delay;
        self.tag_changes.push(TagChange { due, identity: id.to_string(), tag: tag.to_string() });
        // A zero delay lands before the 204, as the fake did before delays existed.
        self.settle();
    }

    /// Writes a tag into the Entra device's `physicalIds`; the identity's
    /// override goes once the device says the same.
    fn propagate_tag(&mut self, identity: &str, tag: &str) {
        let device =
            self.device_autopilot.iter().find(|(_, ap)| ap.as_str() == identity).map(|(d, _)| d.clone());
        let Some(dev) = device else { return };
        let Some(mut v) = self.devices.get(&dev).and_then(|raw| serde_json::from_str::<Value>(raw).ok())
        else {
            return;
        };
        let mut ids: Vec<Value> = v.get("physicalIds").and_then(Value::as_array).cloned().unwrap_or_default();
        ids.retain(|p| !p.as_str().is_some_and(|s| s.to_ascii_lowercase().starts_with("[orderid]:")));
        if !tag.is_empty() {
            ids.push(json!(format!("[OrderId]:{tag}")));
        }
        v["physicalIds"] = Value::Array(ids);
        if let Some(over) = self.autopilot_overrides.get_mut(identity) {
            if over.get("groupTag").and_then(Value::as_str) == Some(tag) {
                over.remove("groupTag");
            }
        }
        // The device came from the store and only its ids changed, so it
        // stays valid; a failure would leave the identity's override in
        // charge, which is what the caller sees anyway.
        let _ = self.put_device(&v);
    }

    /// Decides an import's outcome and, on success, registers the device.
    fn finish_import(&mut self, id: &str) {
        let Some(rec) = self.imports.get(id) else { return };
        let fields = rec.fields.clone();
        let serial = text(&fields, "serialNumber");
        let same = |s: &str| s.trim().eq_ignore_ascii_case(serial.trim());
        let outcome = if rec.duplicate {
            Err((0, "ZtdDeviceDuplicated"))
        } else if self.config.other_tenant_serials.iter().any(|s| same(s)) {
            Err((808, "ZtdDeviceAssignedToOtherTenant"))
        } else if self
            .autopilot
            .values()
            .any(|ap| ap.get("serialNumber").and_then(Value::as_str).is_some_and(same))
        {
            Err((806, "ZtdDeviceAlreadyAssigned"))
        } else {
            // Graph's generic "retry later" error, for a device the store refuses.
            self.register(&fields).ok_or((0, "StorageError"))
        };
        let Some(rec) = self.imports.get_mut(id) else { return };
        match outcome {
            Ok(registration) => {
                rec.status = Status::Complete;
                rec.registration_id = registration;
            }
            Err(error) => {
                rec.status = Status::Error;
                rec.error = error;
            }
        }
    }

    /// Creates the Entra device of an imported identity; returns the identity id.
    fn register(&mut self, fields: &Map<String, Value>) -> Option<String> {
        self.created += 1;
        let n = self.created ^ hash_str(&self.epoch);
        let identity = guid(0x7a74_6469_6d70, n);
        let object_id = guid(0x6f62_6a69_6d70, n);
        let device_id = guid(0x6465_7669_6d70, n);
        let tag = text(fields, "groupTag");
        let mut physical = vec![
            format!("[ZTDId]:{identity}"),
            format!("[HWID]:h:{}", hash_str(text(fields, "hardwareIdentifier")) % 10_000_000_000_000_000),
        ];
        if !tag.is_empty() {
            physical.push(format!("[OrderId]:{tag}"));
        }
        let mut over = Map::new();
        over.insert("serialNumber".into(), json!(text(fields, "serialNumber")));
        over.insert("productKey".into(), json!(text(fields, "productKey")));
        over.insert("userPrincipalName".into(), json!(text(fields, "assignedUserPrincipalName")));
        self.autopilot_overrides.insert(identity.clone(), over);
        let device = json!({
            "id": object_id, "deviceId": device_id, "displayName": text(fields, "serialNumber"),
            "accountEnabled": true, "operatingSystem": "Windows", "operatingSystemVersion": "10.0.0.0",
            "physicalIds": physical, "profileType": "RegisteredDevice", "trustType": "AzureAd",
            "isManaged": false, "isCompliant": false, "systemLabels": [],
        });
        if self.put_device(&device).is_err() {
            self.autopilot_overrides.remove(&identity);
            return None;
        }
        self.device_autopilot.get(&object_id).cloned()
    }

    /// `…/importedWindowsAutopilotDeviceIdentities[/{id}|/import]` (§2.2).
    pub(super) fn imports_route(
        &mut self,
        method: &str,
        tail: &[&str],
        body: &[u8],
        listing: &Listing<'_>,
        size: usize,
        path: &str,
    ) -> Reply {
        let generic = || intune_error(400, "BadRequest", "An error has occurred", path);
        let bad_hashes = |n: usize| {
            intune_error(
                400,
                "BadRequest",
                &format!("Invalid Device Identifier parameter found for {n} import records!"),
                path,
            )
        };
        let context = format!("{}/{}/$metadata#", listing.base, listing.version);
        match (method, tail) {
            ("GET", []) => {
                let filter = match listing.q("$filter") {
                    None => None,
                    Some(text) => match Expr::parse(text) {
                        Ok(e) if classify(&e, Resource::Autopilot) == Verdict::Basic => Some(e),
                        _ => return generic(),
                    },
                };
                let rendered: std::collections::BTreeMap<String, String> = self
                    .imports
                    .iter()
                    .map(|(id, rec)| (id, render(id, rec)))
                    .filter(|(_, v)| filter.as_ref().is_none_or(|f| f.matches(v)))
                    .map(|(id, v)| (id.clone(), v.to_string()))
                    .collect();
                let carry =
                    listing.q("$filter").map(|f| format!("$filter={}&", encode(f))).unwrap_or_default();
                page_reply(
                    &rendered,
                    listing.after,
                    size,
                    listing.link,
                    listing.top,
                    |raw| raw.clone(),
                    "deviceManagement/importedWindowsAutopilotDeviceIdentities",
                    listing.base,
                    listing.version,
                    &carry,
                    None,
                )
            }
            ("GET", [id]) => match self.imports.get(*id) {
                Some(rec) => Reply::json(200, &render(id, rec)),
                None => intune_error(404, "NotFound", "An error has occurred", path),
            },
            ("DELETE", [id]) => match self.imports.remove(*id) {
                Some(_) => Reply::empty(204),
                None => intune_error(404, "NotFound", "An error has occurred", path),
            },
            ("POST", []) => {
                let Ok(value) = serde_json::from_slice::<Value>(body) else { return generic() };
                match parse_record(&value) {
                    Ok(fields) => {
                        let id = self.add_import(fields);
                        let mut out = Map::new();
                        out.insert(
                            "@odata.context".into(),
                            json!(format!(
                                "{context}deviceManagement/importedWindowsAutopilotDeviceIdentities/$entity"
                            )),
                        );
                        if let Some(Value::Object(entity)) = self.imports.get(&id).map(|rec| render(&id, rec))
                        {
                            out.extend(entity);
                        }
                        Reply::json(201, &Value::Object(out))
                    }
                    Err(Refusal::Hash) => bad_hashes(1),
                    Err(Refusal::Shape) => generic(),
                }
            }
            ("POST", ["import"]) => {
                let Ok(value) = serde_json::from_slice::<Value>(body) else { return generic() };
                let Some(list) =
                    value.get("importedWindowsAutopilotDeviceIdentities").and_then(Value::as_array)
                else {
                    return generic();
                };
                let parsed: Vec<Result<Map<String, Value>, Refusal>> =
                    list.iter().map(parse_record).collect();
                let hashes = parsed.iter().filter(|r| matches!(r, Err(Refusal::Hash))).count();
                if hashes > 0 {
                    return bad_hashes(hashes);
                }
                let Ok(records) = parsed.into_iter().collect::<Result<Vec<_>, _>>() else { return generic() };
                let mut value = Vec::new();
                let mut hashes = std::collections::HashSet::new();
                for fields in records {
                    let duplicate = !hashes.insert(text(&fields, "hardwareIdentifier").to_string());
                    let id = self.add_import(fields);
                    if let Some(rec) = self.imports.get_mut(&id) {
                        rec.duplicate = duplicate;
                    }
                    if let Some(rec) = self.imports.get(&id) {
                        value.push(render(&id, rec));
                    }
                }
                Reply::json(
                    200,
                    &json!({
                        "@odata.context": format!("{context}Collection(microsoft.graph.importedWindowsAutopilotDeviceIdentity)"),
                        "value": value,
                    }),
                )
            }
            // PATCH included: Graph has no route for it (docs-contrib#7499).
            _ => intune_error(400, "BadRequest", "No OData route exists that match template", path),
        }
    }

    fn add_import(&mut self, fields: Map<String, Value>) -> String {
        self.created += 1;
        let seq = self.created;
        let id = guid(0x696d_706f_7274, seq ^ hash_str(&self.epoch));
        let rec = ImportRec {
            fields,
            seq,
            created: self.now(),
            status: Status::Unknown,
            registration_id: String::new(),
            error: (0, ""),
            duplicate: false,
        };
        self.imports.insert(id.clone(), rec);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGVsbG8h").as_deref(), Some(&b"hello!"[..]));
        assert_eq!(base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode("aA==").as_deref(), Some(&b"h"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
        for bad in ["aGVsbG8", "aGVsbG8==", "a===", "aG=sbG8=", "aGVs bG8=", "aGVsbG8-", "aGVsbG8_"] {
            assert_eq!(base64_decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn records_need_a_hash_and_a_serial() {
        let ok = json!({"serialNumber": "S1", "hardwareIdentifier": "aGVsbG8=", "orderIdentifier": "T"});
        let fields = parse_record(&ok).ok().unwrap_or_default();
        assert_eq!(text(&fields, "groupTag"), "T", "the legacy tag name is read");
        assert_eq!(text(&fields, "productKey"), "");
        assert_eq!(
            parse_record(&json!({"serialNumber": "S1", "hardwareIdentifier": "aGVsbG8"})),
            Err(Refusal::Hash)
        );
        assert_eq!(parse_record(&json!({"serialNumber": "S1"})), Err(Refusal::Hash));
        assert_eq!(
            parse_record(&json!({"serialNumber": "", "hardwareIdentifier": "aGk="})),
            Err(Refusal::Shape)
        );
        assert_eq!(parse_record(&json!([])), Err(Refusal::Shape));
    }
}
