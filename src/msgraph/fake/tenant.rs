//! The fake tenant's data and the Graph routes over it (synchronous; the
//! server in [`super`] adds HTTP, latency and faults around it).
//!
//! Data model, chosen for delta queries: one version counter for the whole
//! tenant. Every device, tombstone and group carries the version of its last
//! change, and each group keeps a log of membership changes with their
//! versions. A delta token is "the version when the round started"; the
//! next round returns what changed after it. Pages inside a round are keyed
//! by the last id served, so a round pages correctly over a changing
//! tenant (an object changed mid-round may come twice, as Graph allows).
//! Tokens carry a random epoch: a token of another server run, or one
//! older than [`Tenant::expire_delta`] allowed, gets 410 Gone with a
//! `Location` to start over, like an expired Graph token.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Map, Value};

use crate::inventory::Device;
use crate::rule::{ObjectType, Options, Rule, Timestamp};

use super::query::{classify, encode, Expr, Resource, Search, Verdict};
use super::{FakeConfig, FakeError, Scenario};

mod import;

/// An answer of the fake, before HTTP.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(status: u16, value: &Value) -> Reply {
        Reply::raw_json(status, value.to_string().into_bytes())
    }

    pub(crate) fn raw_json(status: u16, body: Vec<u8>) -> Reply {
        Reply { status, headers: vec![("Content-Type".into(), "application/json".into())], body }
    }

    pub(crate) fn empty(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new() }
    }

    pub(crate) fn with_header(mut self, name: &str, value: String) -> Reply {
        self.headers.push((name.to_string(), value));
        self
    }
}

/// A directory-style error (graph-api.md F23).
pub(crate) fn graph_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"code": code, "message": message,
            "innerError": {"date": Timestamp::now().to_string(), "request-id": "00000000-0000-0000-0000-000000000000"}}}),
    )
}

/// An Intune-wrapped error (graph-api.md F11, F21, F22).
pub(crate) fn intune_error(status: u16, code: &str, message: &str, path: &str) -> Reply {
    let inner = format!(
        "{{\r\n  \"_version\": 3,\r\n  \"Message\": {} ,\r\n  \"CustomApiErrorPhrase\": \"\",\r\n  \"RetryAfter\": null,\r\n  \"ErrorSourceService\": \"\",\r\n  \"HttpHeaders\": \"{{}}\"\r\n}}",
        Value::String(format!(
            "{message} - Operation ID (for customer support): 00000000-0000-0000-0000-000000000000 - Activity ID: 5e0f7a3c-0000-4000-8000-fa4e00000001 - Url: https://fef.fake.manage.microsoft.com/DeviceEnrollmentFE/StatelessDeviceEnrollmentFEService{path}?api-version=5025-01-01"
        ))
    );
    Reply::json(status, &json!({"error": {"code": code, "message": inner}}))
}

/// A deterministic GUID from two numbers: a SplitMix64 sequence seeded
/// from both.
pub(crate) fn guid(seed: u64, n: u64) -> String {
    let golden = 0x9e37_79b9_7f4a_7c15_u64;
    let mut x = seed ^ n.wrapping_mul(golden);
    let mut next = || {
        let z = crate::inventory::splitmix64(x);
        x = x.wrapping_add(golden);
        z
    };
    let (a, b) = (next(), next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

/// FNV-1a: the fake's ids must be the same on every run, machine and Rust
/// version (the std hasher promises none of that).
fn hash_str(s: &str) -> u64 {
    crate::msgraph::protocol::fnv(s.as_bytes(), 0)
}

/// Base64url without padding (RFC 4648 §5), as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

struct GroupRec {
    props: Map<String, Value>,
    rule: Option<Rule>,
    members: BTreeSet<String>,
    version: u64,
    /// (version, member id, added?)
    log: Vec<(u64, String, bool)>,
}

struct ProfileRec {
    raw: Map<String, Value>,
    assignments: BTreeMap<String, Map<String, Value>>,
}

/// Why a device could not be stored.
pub(crate) fn device_id_of(value: &Value) -> Result<String, FakeError> {
    value
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| FakeError::Data("a device record has no `id`".into()))
}

/// The tenant.
pub(crate) struct Tenant {
    pub config: FakeConfig,
    epoch: String,
    version: u64,
    min_delta_version: u64,
    devices: BTreeMap<String, String>,
    device_versions: HashMap<String, u64>,
    tombstones: BTreeMap<String, u64>,
    users: BTreeMap<String, String>,
    groups: BTreeMap<String, GroupRec>,
    /// Autopilot identity id → beta JSON.
    autopilot: BTreeMap<String, Map<String, Value>>,
    /// Entra object id → Autopilot identity id.
    device_autopilot: HashMap<String, String>,
    /// Properties set with updateDeviceProperties that do not live on the Entra device.
    autopilot_overrides: HashMap<String, Map<String, Value>>,
    profiles: BTreeMap<String, ProfileRec>,
    created: u64,
    /// Issued tokens: expiry and the roles granted when issued.
    tokens: HashMap<String, (Instant, Vec<String>)>,
    sync_triggered: Option<(Instant, SystemTime)>,
    /// How far the fake clock is ahead of the real one ([`Tenant::now`]).
    clock_offset: Duration,
    /// Import records by id.
    imports: BTreeMap<String, import::ImportRec>,
    /// Group tags written to identities and not yet on their Entra devices.
    tag_changes: Vec<import::TagChange>,
}

const SYNC_RUNNING: Duration = Duration::from_secs(2);

/// Group properties the group delta returns.
const GROUP_PROPS: &[&str] = &[
    "displayName",
    "description",
    "groupTypes",
    "membershipRule",
    "membershipRuleProcessingState",
    "securityEnabled",
    "mailEnabled",
    "mailNickname",
];

/// Properties of an Autopilot identity that v1.0 returns (graph-api.md F3).
const V1_AUTOPILOT: &[&str] = &[
    "id",
    "groupTag",
    "purchaseOrderIdentifier",
    "serialNumber",
    "productKey",
    "manufacturer",
    "model",
    "enrollmentState",
    "lastContactedDateTime",
    "addressableUserName",
    "userPrincipalName",
    "resourceName",
    "skuNumber",
    "systemFamily",
    "azureActiveDirectoryDeviceId",
    "managedDeviceId",
    "displayName",
];

impl Tenant {
    pub(crate) fn new(scenario: Scenario, config: FakeConfig) -> Result<Tenant, FakeError> {
        let epoch = format!(
            "{:x}",
            hash_str(&format!("{:?}{}", SystemTime::now(), std::process::id())) & 0xffff_ffff
        );
        let mut t = Tenant {
            config,
            epoch,
            version: 1,
            min_delta_version: 0,
            devices: BTreeMap::new(),
            device_versions: HashMap::new(),
            tombstones: BTreeMap::new(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            autopilot: BTreeMap::new(),
            device_autopilot: HashMap::new(),
            autopilot_overrides: HashMap::new(),
            profiles: BTreeMap::new(),
            created: 0,
            tokens: HashMap::new(),
            sync_triggered: None,
            clock_offset: Duration::ZERO,
            imports: BTreeMap::new(),
            tag_changes: Vec::new(),
        };
        for d in &scenario.devices {
            let id = device_id_of(d)?;
            t.devices.insert(id.clone(), d.to_string());
            t.device_versions.insert(id, 1);
        }
        for u in &scenario.users {
            if let Some(id) = u.get("id").and_then(Value::as_str) {
                t.users.insert(id.to_string(), u.to_string());
            }
        }
        let seed = 0x0067_726f_7570;
        for (i, g) in scenario.groups.iter().enumerate() {
            let id = guid(seed, hash_str(&g.name.to_lowercase()) ^ i as u64);
            let rule = Rule::new(&g.rule).map_err(|e| FakeError::Data(format!("group {:?}: {e}", g.name)))?;
            let nickname: String = g.name.chars().filter(char::is_ascii_alphanumeric).take(60).collect();
            let mut props = Map::new();
            props.insert("displayName".into(), json!(g.name));
            props.insert("description".into(), json!(g.description));
            props.insert("groupTypes".into(), json!(["DynamicMembership"]));
            props.insert("membershipRule".into(), json!(g.rule));
            props.insert("membershipRuleProcessingState".into(), json!("On"));
            props.insert("securityEnabled".into(), json!(true));
            props.insert("mailEnabled".into(), json!(false));
            props.insert("mailNickname".into(), json!(nickname.to_lowercase()));
            t.groups.insert(
                id,
                GroupRec { props, rule: Some(rule), members: BTreeSet::new(), version: 1, log: Vec::new() },
            );
        }
        t.evaluate_all()?;
        let ids: Vec<String> = t.devices.keys().cloned().collect();
        for id in ids {
            t.refresh_autopilot(&id);
        }
        for p in scenario.profiles {
            let Value::Object(mut raw) = p else { continue };
            let id = raw.get("id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| {
                t.created += 1;
                guid(0x7072_6f66, t.created)
            });
            raw.insert("id".into(), json!(id));
            let mut assignments = BTreeMap::new();
            if let Some(Value::Array(list)) = raw.remove("assignments") {
                for a in list {
                    if let Value::Object(a) = a {
                        let aid = a.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                        assignments.insert(aid, a);
                    }
                }
            }
            t.profiles.insert(id, ProfileRec { raw, assignments });
        }
        Ok(t)
    }

    /// The members of each rule over the current devices, with the
    /// columnar engine (one pass for all rules).
    fn members_of(&self, rules: &[&Rule]) -> Result<Vec<BTreeSet<String>>, FakeError> {
        let devices: Vec<Device> = self
            .devices
            .values()
            .map(|raw| serde_json::from_str(raw))
            .collect::<Result<_, _>>()
            .map_err(|e| FakeError::Data(format!("device record: {e}")))?;
        let index =
            crate::fleet::FleetIndex::from_devices(&devices).map_err(|e| FakeError::Data(e.to_string()))?;
        let set =
            crate::fleet::CompiledSet::compile(rules, &index).map_err(|e| FakeError::Data(e.to_string()))?;
        Ok(set.evaluate().iter().map(|bits| bits.ones().map(|i| index.id(i).to_string()).collect()).collect())
    }

    /// Initial membership of every scenario group.
    fn evaluate_all(&mut self) -> Result<(), FakeError> {
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        let rules: Vec<&Rule> = self.groups.values().filter_map(|g| g.rule.as_ref()).collect();
        if rules.len() != ids.len() {
            return Err(FakeError::Data("every scenario group needs a rule".into()));
        }
        let members = self.members_of(&rules)?;
        for (id, m) in ids.iter().zip(members) {
            if let Some(g) = self.groups.get_mut(id) {
                g.members = m;
            }
        }
        Ok(())
    }

    /// Recomputes one group after its rule changed or it was created, and
    /// logs the differences at version `v` so the group delta reports them.
    /// A paused group keeps its members, as Entra's does.
    fn evaluate_group(&mut self, id: &str, v: u64) -> Result<(), FakeError> {
        let Some(g) = self.groups.get(id) else { return Ok(()) };
        let Some(rule) = g.rule.as_ref().filter(|_| !paused(g)) else { return Ok(()) };
        let members = self.members_of(&[rule])?.pop().unwrap_or_default();
        let Some(g) = self.groups.get_mut(id) else { return Ok(()) };
        for gone in g.members.difference(&members) {
            g.log.push((v, gone.clone(), false));
        }
        for new in members.difference(&g.members) {
            g.log.push((v, new.clone(), true));
        }
        g.members = members;
        Ok(())
    }

    // ----- mutations (test endpoints and writes) -----

    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Adds or replaces a device.
    pub(crate) fn put_device(&mut self, value: &Value) -> Result<String, FakeError> {
        let id = device_id_of(value)?;
        let _: Device = serde_json::from_value(value.clone())
            .map_err(|e| FakeError::Data(format!("device {id}: {e}")))?;
        let v = self.bump();
        self.devices.insert(id.clone(), value.to_string());
        self.device_versions.insert(id.clone(), v);
        self.tombstones.remove(&id);
        self.reevaluate(&id, v);
        self.refresh_autopilot(&id);
        Ok(id)
    }

    /// Merges `patch` into a device (top-level keys; `extensionAttributes` merged by slot).
    pub(crate) fn patch_device(&mut self, id: &str, patch: &Value) -> Result<bool, FakeError> {
        let Some(raw) = self.devices.get(id) else { return Ok(false) };
        let mut current: Value = serde_json::from_str(raw).map_err(|e| FakeError::Data(e.to_string()))?;
        let (Some(obj), Some(p)) = (current.as_object_mut(), patch.as_object()) else {
            return Err(FakeError::Data("a device patch must be a JSON object".into()));
        };
        for (k, v) in p {
            if k == "id" {
                continue;
            }
            match (k.as_str(), obj.get_mut(k), v) {
                ("extensionAttributes", Some(Value::Object(old)), Value::Object(new)) => {
                    for (slot, value) in new {
                        old.insert(slot.clone(), value.clone());
                    }
                }
                _ => {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        self.put_device(&current)?;
        Ok(true)
    }

    /// Deletes a device (it leaves its groups; a tombstone feeds delta).
    pub(crate) fn delete_device(&mut self, id: &str) -> bool {
        if self.devices.remove(id).is_none() {
            return false;
        }
        let v = self.bump();
        self.device_versions.remove(id);
        self.tombstones.insert(id.to_string(), v);
        for g in self.groups.values_mut() {
            if g.members.remove(id) {
                g.log.push((v, id.to_string(), false));
            }
        }
        if let Some(ap) = self.device_autopilot.remove(id) {
            self.autopilot.remove(&ap);
        }
        true
    }

    /// Re-evaluates one device against every dynamic group.
    fn reevaluate(&mut self, id: &str, v: u64) {
        let device: Option<Device> = self.devices.get(id).and_then(|raw| serde_json::from_str(raw).ok());
        for g in self.groups.values_mut() {
            if paused(g) {
                continue;
            }
            let Some(rule) = &g.rule else { continue };
            let now = device.as_ref().is_some_and(|d| rule.matches(d));
            let was = g.members.contains(id);
            if now && !was {
                g.members.insert(id.to_string());
                g.log.push((v, id.to_string(), true));
            } else if was && !now {
                g.members.remove(id);
                g.log.push((v, id.to_string(), false));
            }
        }
    }

    /// Makes delta tokens older than now invalid (the next round gets 410).
    pub(crate) fn expire_delta(&mut self) {
        self.min_delta_version = self.bump();
    }

    /// Derives the Autopilot identity of an Entra device from its
    /// `[ZTDId]`, `[OrderId]` and `[PurchaseOrderId]` physical ids.
    fn refresh_autopilot(&mut self, device_id: &str) {
        if let Some(old) = self.device_autopilot.remove(device_id) {
            self.autopilot.remove(&old);
        }
        let Some(raw) = self.devices.get(device_id) else { return };
        let Ok(device) = serde_json::from_str::<Device>(raw) else { return };
        let ids = device.physical_ids.clone().unwrap_or_default();
        let find = |prefix: &str| {
            ids.iter().find_map(|p| {
                let (head, rest) = p.split_once(':')?;
                head.eq_ignore_ascii_case(prefix).then(|| rest.to_string())
            })
        };
        let Some(ztd) = find("[ZTDId]") else { return };
        let ap_id = if ztd.len() == 36 && !self.autopilot.contains_key(&ztd) {
            ztd
        } else {
            guid(0x007a_7464, hash_str(device_id))
        };
        let h = hash_str(device_id);
        let managed = device.management_type.as_deref().is_some_and(|m| !m.is_empty());
        let mut ap = Map::new();
        ap.insert("@odata.type".into(), json!("#microsoft.graph.windowsAutopilotDeviceIdentity"));
        ap.insert("id".into(), json!(ap_id));
        ap.insert("groupTag".into(), json!(find("[OrderId]").unwrap_or_default()));
        ap.insert("purchaseOrderIdentifier".into(), json!(find("[PurchaseOrderId]").unwrap_or_default()));
        ap.insert("serialNumber".into(), json!(format!("FL{:010X}", h & 0xff_ffff_ffff)));
        ap.insert("productKey".into(), json!(""));
        ap.insert("manufacturer".into(), json!(device.manufacturer.clone().unwrap_or_default()));
        ap.insert("model".into(), json!(device.model.clone().unwrap_or_default()));
        ap.insert("enrollmentState".into(), json!(if managed { "enrolled" } else { "notContacted" }));
        ap.insert("lastContactedDateTime".into(), json!("0001-01-01T00:00:00Z"));
        ap.insert("addressableUserName".into(), json!(""));
        ap.insert("userPrincipalName".into(), json!(""));
        ap.insert("resourceName".into(), json!(""));
        ap.insert("skuNumber".into(), json!(""));
        ap.insert("systemFamily".into(), json!(""));
        ap.insert("azureActiveDirectoryDeviceId".into(), json!(device.device_id.clone().unwrap_or_default()));
        ap.insert("azureAdDeviceId".into(), json!(device.device_id.clone().unwrap_or_default()));
        ap.insert("managedDeviceId".into(), json!("00000000-0000-0000-0000-000000000000"));
        ap.insert("displayName".into(), json!(""));
        ap.insert("deploymentProfileAssignmentStatus".into(), json!("notAssigned"));
        ap.insert("deploymentProfileAssignmentDetailedStatus".into(), json!("none"));
        ap.insert("deploymentProfileAssignedDateTime".into(), json!("0001-01-01T00:00:00Z"));
        ap.insert("remediationState".into(), json!("unknown"));
        ap.insert("userlessEnrollmentStatus".into(), json!("unknown"));
        if let Some(over) = self.autopilot_overrides.get(&ap_id) {
            for (k, v) in over {
                ap.insert(k.clone(), v.clone());
            }
        }
        self.device_autopilot.insert(device_id.to_string(), ap_id.clone());
        self.autopilot.insert(ap_id, ap);
    }

    // ----- views for tests -----

    pub(crate) fn devices_json(&self) -> Vec<Value> {
        self.devices.values().filter_map(|raw| serde_json::from_str(raw).ok()).collect()
    }

    pub(crate) fn groups_json(&self) -> Vec<(String, Value, Vec<String>)> {
        self.groups
            .iter()
            .map(|(id, g)| {
                let mut props = g.props.clone();
                props.insert("id".into(), json!(id));
                (id.clone(), Value::Object(props), g.members.iter().cloned().collect())
            })
            .collect()
    }

    pub(crate) fn autopilot_json(&self) -> Vec<Value> {
        self.autopilot.values().map(|m| Value::Object(m.clone())).collect()
    }

    pub(crate) fn profiles_json(&self) -> Vec<Value> {
        self.profiles
            .values()
            .map(|p| {
                let mut raw = self.written(&p.raw);
                raw.insert(
                    "assignments".into(),
                    Value::Array(p.assignments.values().map(|a| Value::Object(self.written(a))).collect()),
                );
                Value::Object(raw)
            })
            .collect()
    }

    // ----- tokens -----

    /// An unsigned JWT whose payload lists the tenant and the application
    /// roles granted (graph-api.md F24), so a client or a person decoding
    /// it sees what the fake will allow.
    pub(crate) fn issue_token(&mut self, tenant: &str) -> (String, u64) {
        self.created += 1;
        let roles = self.config.roles.clone();
        let header = base64url(br#"{"typ":"JWT","alg":"none"}"#);
        let payload = json!({"tid": tenant, "roles": roles,
            "jti": guid(hash_str(&self.epoch), self.created), "iss": format!("fake.{}", self.epoch)});
        let token = format!("{header}.{}.", base64url(payload.to_string().as_bytes()));
        let life = self.config.token_lifetime;
        self.tokens.insert(token.clone(), (Instant::now() + life, roles));
        (token, life.as_secs().max(1))
    }

    /// The roles of a valid token; `None` when it is unknown or expired.
    pub(crate) fn token_roles(&self, token: &str) -> Option<Vec<String>> {
        self.tokens.get(token).filter(|(exp, _)| Instant::now() < *exp).map(|(_, roles)| roles.clone())
    }

    // ----- Graph routes -----

    /// Serves one Graph request: `version` is `v1.0` or `beta`, `path`
    /// the rest (decoded), `base` the server's URL for links, `eventual`
    /// whether it carried `ConsistencyLevel: eventual`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn route(
        &mut self,
        method: &str,
        version: &str,
        path: &str,
        query: &[(String, String)],
        body: &[u8],
        base: &str,
        eventual: bool,
    ) -> Reply {
        self.settle();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let beta = version == "beta";
        let q =
            |name: &str| query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let top = q("$top").and_then(|t| t.parse::<usize>().ok());
        let after = q("$skiptoken").and_then(unhex);
        let link = format!("{base}/{version}/{}", segs.join("/"));
        let dir_page = |top: Option<usize>| top.unwrap_or(self.config.page_size).clamp(1, 999);
        let listing = Listing { query, eventual, after: after.as_deref(), link: &link, top, base, version };
        match (method, segs.as_slice()) {
            ("GET", ["devices" | "groups" | "users", "$count"]) => {
                let n = match segs[0] {
                    "devices" => self.devices.len(),
                    "groups" => self.groups.len(),
                    _ => self.users.len(),
                };
                count_reply(n, eventual)
            }
            ("GET", ["groups", id, "members" | "transitiveMembers", "$count"]) => match self.groups.get(*id) {
                Some(g) => count_reply(g.members.len(), eventual),
                None => not_found(id),
            },
            ("GET", ["devices"]) if has_query(query) => {
                listing.directory(Resource::Devices, &self.devices, dir_page(top), "devices")
            }
            ("GET", ["devices"]) => {
                let size = dir_page(top);
                page_reply(&self.devices, after.as_deref(), size, &link, top, |raw| raw.clone(), "devices", base, version, "", None)
            }
            ("GET", ["devices", "delta"]) => self.devices_delta(query, &link, base, version),
            ("GET", ["devices", id]) => match self.devices.get(*id) {
                Some(raw) => Reply::raw_json(200, raw.clone().into_bytes()),
                None => not_found(id),
            },
            ("GET", [one]) if one.starts_with("devices(deviceId='") && one.ends_with("')") => {
                let device_id = one.trim_start_matches("devices(deviceId='").trim_end_matches("')");
                match self.find_by_device_id(device_id).and_then(|k| self.devices.get(&k)) {
                    Some(raw) => Reply::raw_json(200, raw.clone().into_bytes()),
                    None => not_found(device_id),
                }
            }
            ("PATCH", ["devices", id]) => match serde_json::from_slice::<Value>(body) {
                Ok(patch) => match self.patch_device(id, &patch) {
                    Ok(true) => Reply::empty(204),
                    Ok(false) => not_found(id),
                    Err(e) => graph_error(400, "Request_BadRequest", &e.to_string()),
                },
                Err(e) => graph_error(400, "BadRequest", &format!("invalid JSON: {e}")),
            },
            ("GET", ["users"]) if has_query(query) => {
                listing.directory(Resource::Users, &self.users, dir_page(top), "users")
            }
            ("GET", ["users"]) => {
                let size = dir_page(top);
                page_reply(&self.users, after.as_deref(), size, &link, top, |raw| raw.clone(), "users", base, version, "", None)
            }
            ("GET", ["groups"]) => {
                let size = dir_page(top);
                let rendered: BTreeMap<String, String> = self.groups.iter().map(|(id, g)| (id.clone(), group_json(id, g).to_string())).collect();
                if has_query(query) {
                    return listing.directory(Resource::Groups, &rendered, size, "groups");
                }
                page_reply(&rendered, after.as_deref(), size, &link, top, |raw| raw.clone(), "groups", base, version, "", None)
            }
            ("POST", ["groups"]) => self.create_group(body, base, version),
            ("PATCH", ["groups", id]) => self.patch_group(id, body),
            ("GET", ["groups", "delta"]) => self.groups_delta(query, &link, base, version),
            ("GET", ["groups", id]) => match self.groups.get(*id) {
                Some(g) => Reply::json(200, &group_json(id, g)),
                None => not_found(id),
            },
            ("GET", ["groups", id, "members" | "transitiveMembers", rest @ ..]) if rest.is_empty() || rest == ["microsoft.graph.device"] => {
                let Some(g) = self.groups.get(*id) else { return not_found(id) };
                let size = dir_page(top);
                let members: BTreeMap<String, String> = g
                    .members
                    .range::<String, _>((after.clone().map_or(Bound::Unbounded, Bound::Excluded), Bound::Unbounded))
                    .take(size + 1)
                    .filter_map(|m| self.devices.get(m).map(|raw| (m.clone(), raw.clone())))
                    .collect();
                page_reply(&members, after.as_deref(), size, &link, top, |raw| {
                    raw.replacen('{', "{\"@odata.type\":\"#microsoft.graph.device\",", 1)
                }, "directoryObjects", base, version, "", None)
            }
            ("POST", ["groups", id, "members", "$ref"]) if self.groups.get(*id).is_some_and(|g| g.rule.is_some()) => graph_error(400, "Request_BadRequest", "Insufficient privileges to complete the operation: the members of a dynamic group are computed from its rule and cannot be added manually."),
            ("POST", ["groups", id, "members", "$ref"]) => self.member_ref(id, Some(body), None),
            ("DELETE", ["groups", id, "members", member, "$ref"]) => self.member_ref(id, None, Some(member)),
            (_, ["deviceManagement", rest @ ..]) => self.device_management(method, beta, rest, query, body, &listing),
            _ => graph_error(400, "BadRequest", &format!("Resource not found for the segment '{}'.", segs.first().unwrap_or(&""))),
        }
    }

    fn find_by_device_id(&self, device_id: &str) -> Option<String> {
        self.devices.iter().find_map(|(id, raw)| {
            let v: Value = serde_json::from_str(raw).ok()?;
            (v.get("deviceId")?.as_str()? == device_id).then(|| id.clone())
        })
    }

    fn device_management(
        &mut self,
        method: &str,
        beta: bool,
        rest: &[&str],
        query: &[(String, String)],
        body: &[u8],
        listing: &Listing<'_>,
    ) -> Reply {
        let (link, base, version) = (listing.link, listing.base, listing.version);
        let path = format!("/deviceManagement/{}", rest.join("/"));
        let beta_only =
            matches!(rest.first(), Some(&"windowsAutopilotDeploymentProfiles" | &"windowsAutopilotSettings"));
        if beta_only && !beta {
            return graph_error(
                400,
                "BadRequest",
                &format!("Resource not found for the segment '{}'.", rest.first().unwrap_or(&"")),
            );
        }
        let q =
            |name: &str| query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let top = q("$top").and_then(|t| t.parse::<usize>().ok());
        let after = q("$skiptoken").and_then(unhex);
        let size = top.unwrap_or(self.config.autopilot_page_size).clamp(1, 1000);
        let body_json = || serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
        match (method, rest) {
            (_, ["importedWindowsAutopilotDeviceIdentities", tail @ ..]) => {
                self.imports_route(method, tail, body, listing, size, &path)
            }
            ("GET", ["windowsAutopilotDeviceIdentities"]) if q("$filter").is_some() => {
                let Some(filter) = q("$filter").and_then(|f| Expr::parse(f).ok()) else {
                    return intune_error(400, "BadRequest", "An error has occurred", &path);
                };
                if classify(&filter, Resource::Autopilot) != Verdict::Basic {
                    return intune_error(400, "BadRequest", "An error has occurred", &path);
                }
                let matched: BTreeMap<String, String> = self
                    .autopilot
                    .iter()
                    .filter(|(_, m)| filter.matches(&Value::Object((*m).clone())))
                    .map(|(id, m)| (id.clone(), autopilot_view(m, !beta)))
                    .collect();
                let carry = q("$filter").map(|f| format!("$filter={}&", encode(f))).unwrap_or_default();
                page_reply(
                    &matched,
                    after.as_deref(),
                    size,
                    link,
                    top,
                    |raw| raw.clone(),
                    "deviceManagement/windowsAutopilotDeviceIdentities",
                    base,
                    version,
                    &carry,
                    None,
                )
            }
            ("GET", ["windowsAutopilotDeploymentProfiles", ..])
                if q("$filter").is_some() || q("$search").is_some() =>
            {
                // Profiles take $select, $top, $skip and $orderby only (graph-api.md §3.5).
                intune_error(400, "BadRequest", "An error has occurred", &path)
            }
            ("GET", ["windowsAutopilotDeviceIdentities"]) => {
                let v1 = !beta;
                page_reply(
                    &self.autopilot,
                    after.as_deref(),
                    size,
                    link,
                    top,
                    |m| autopilot_view(m, v1),
                    "deviceManagement/windowsAutopilotDeviceIdentities",
                    base,
                    version,
                    "",
                    None,
                )
            }
            ("GET", ["windowsAutopilotDeviceIdentities", id]) => match self.autopilot.get(*id) {
                Some(m) => Reply::raw_json(200, autopilot_view(m, !beta).into_bytes()),
                None => intune_error(404, "NotFound", "An error has occurred", &path),
            },
            ("DELETE", ["windowsAutopilotDeviceIdentities", id]) => {
                let device =
                    self.device_autopilot.iter().find(|(_, ap)| ap.as_str() == *id).map(|(d, _)| d.clone());
                let Some(dev) = device else {
                    return intune_error(404, "NotFound", "An error has occurred", &path);
                };
                // The Autopilot record goes; the Entra device stays without its Autopilot ids.
                if let Some(mut v) =
                    self.devices.get(&dev).and_then(|raw| serde_json::from_str::<Value>(raw).ok())
                {
                    let mut ids: Vec<Value> =
                        v.get("physicalIds").and_then(Value::as_array).cloned().unwrap_or_default();
                    ids.retain(|p| {
                        let s = p.as_str().unwrap_or("").to_ascii_lowercase();
                        !(s.starts_with("[ztdid]:")
                            || s.starts_with("[orderid]:")
                            || s.starts_with("[purchaseorderid]:"))
                    });
                    v["physicalIds"] = Value::Array(ids);
                    if self.put_device(&v).is_err() {
                        return intune_error(400, "BadRequest", "An error has occurred", &path);
                    }
                }
                self.autopilot_overrides.remove(*id);
                self.tag_changes.retain(|c| c.identity != *id);
                Reply::empty(204)
            }
            ("POST", ["windowsAutopilotDeviceIdentities", id, "updateDeviceProperties"]) => {
                let Some(_) = self.autopilot.get(*id) else {
                    return intune_error(404, "NotFound", "An error has occurred", &path);
                };
                let props = body_json();
                let Some(props) = props.as_object() else {
                    return intune_error(400, "BadRequest", "An error has occurred", &path);
                };
                let device =
                    self.device_autopilot.iter().find(|(_, ap)| ap.as_str() == *id).map(|(d, _)| d.clone());
                // `orderIdentifier` is the tag's former name; old scripts still send it.
                let tag =
                    props.get("groupTag").or_else(|| props.get("orderIdentifier")).and_then(Value::as_str);
                let over = self.autopilot_overrides.entry(id.to_string()).or_default();
                for key in ["displayName", "userPrincipalName", "addressableUserName"] {
                    if let Some(v) = props.get(key) {
                        over.insert(key.into(), v.clone());
                    }
                }
                if let Some(tag) = tag {
                    over.insert("groupTag".into(), json!(tag));
                }
                if let Some(dev) = device {
                    self.refresh_autopilot(&dev);
                }
                if let Some(tag) = tag {
                    self.queue_tag(id, tag);
                }
                Reply::empty(204)
            }
            ("GET", ["windowsAutopilotDeploymentProfiles"]) => {
                let rendered: BTreeMap<String, String> = self
                    .profiles
                    .iter()
                    .map(|(id, p)| (id.clone(), Value::Object(self.written(&p.raw)).to_string()))
                    .collect();
                page_reply(
                    &rendered,
                    after.as_deref(),
                    size,
                    link,
                    top,
                    |raw| raw.clone(),
                    "deviceManagement/windowsAutopilotDeploymentProfiles",
                    base,
                    version,
                    "",
                    None,
                )
            }
            ("POST", ["windowsAutopilotDeploymentProfiles"]) => self.create_profile(body_json(), &path),
            ("GET", ["windowsAutopilotDeploymentProfiles", id]) => match self.profiles.get(*id) {
                Some(p) => Reply::json(200, &Value::Object(self.written(&p.raw))),
                None => intune_error(404, "NotFound", "An error has occurred", &path),
            },
            ("PATCH", ["windowsAutopilotDeploymentProfiles", id]) => {
                let patch = body_json();
                let Some(p) = self.profiles.get_mut(*id) else {
                    return intune_error(404, "NotFound", "An error has occurred", &path);
                };
                let Some(patch) = patch.as_object() else {
                    return intune_error(400, "BadRequest", "An error has occurred", &path);
                };
                let same = |t: &Value| {
                    let stored = p.raw.get("@odata.type").and_then(Value::as_str);
                    t.as_str().zip(stored).is_some_and(|(a, b)| crate::odata::same(a, b))
                };
                if patch.get("@odata.type").is_some_and(|t| !same(t)) {
                    return intune_error(400, "BadRequest", "An error has occurred", &path);
                }
                for (k, v) in patch {
                    if k != "id" && k != "createdDateTime" {
                        p.raw.insert(k.clone(), v.clone());
                    }
                }
                p.raw.insert("lastModifiedDateTime".into(), json!(Timestamp::now().to_string()));
                Reply::json(200, &Value::Object(p.raw.clone()))
            }
            ("DELETE", ["windowsAutopilotDeploymentProfiles", id]) => match self.profiles.get(*id) {
                None => intune_error(404, "NotFound", "An error has occurred", &path),
                Some(p) if !p.assignments.is_empty() => intune_error(
                    400,
                    "BadRequest",
                    "The profile is assigned to groups; remove its assignments first.",
                    &path,
                ),
                Some(_) => {
                    self.profiles.remove(*id);
                    Reply::empty(204)
                }
            },
            (_, ["windowsAutopilotDeploymentProfiles", _, "assignments", ..])
                if self.config.modes.refuse_assignments =>
            {
                intune_error(
                    403,
                    "Forbidden",
                    "Application is not authorized to perform this operation. Application must have one of the \
                     following scopes: DeviceManagementServiceConfig.Read.All, \
                     DeviceManagementServiceConfig.ReadWrite.All",
                    &path,
                )
            }
            ("GET", ["windowsAutopilotDeploymentProfiles", id, "assignments"]) => {
                match self.profiles.get(*id) {
                    Some(p) => {
                        let rendered: BTreeMap<String, String> = p
                            .assignments
                            .iter()
                            .map(|(k, a)| (k.clone(), Value::Object(self.written(a)).to_string()))
                            .collect();
                        let rel = format!(
                            "deviceManagement/windowsAutopilotDeploymentProfiles('{id}')/assignments"
                        );
                        page_reply(
                            &rendered,
                            after.as_deref(),
                            size,
                            link,
                            top,
                            |raw| raw.clone(),
                            &rel,
                            base,
                            version,
                            "",
                            None,
                        )
                    }
                    None => intune_error(404, "NotFound", "An error has occurred", &path),
                }
            }
            ("POST", ["windowsAutopilotDeploymentProfiles", id, "assignments"]) => {
                self.create_assignment(id, body_json(), &path)
            }
            ("DELETE", ["windowsAutopilotDeploymentProfiles", id, "assignments", aid]) => {
                match self.profiles.get_mut(*id).and_then(|p| p.assignments.remove(*aid)) {
                    Some(_) => Reply::empty(204),
                    None => intune_error(404, "NotFound", "An error has occurred", &path),
                }
            }
            ("GET", ["windowsAutopilotSettings"]) => {
                let (status, last_sync, last_trigger) = match self.sync_triggered {
                    Some((at, wall)) => {
                        let running = self.now().saturating_duration_since(at) < SYNC_RUNNING;
                        let trig = Timestamp::from_unix(unix(wall), 0).to_string();
                        let done =
                            Timestamp::from_unix(unix(wall) + SYNC_RUNNING.as_secs() as i64, 0).to_string();
                        (if running { "inProgress" } else { "completed" }, json!(done), json!(trig))
                    }
                    None => ("completed", Value::Null, Value::Null),
                };
                Reply::json(
                    200,
                    &json!({"@odata.context": format!("{base}/beta/$metadata#deviceManagement/windowsAutopilotSettings/$entity"),
                    "id": "0d5b7cc9-461f-44cb-a0cf-9a7a94599c8f", "lastSyncDateTime": last_sync,
                    "lastManualSyncTriggerDateTime": last_trigger, "syncStatus": status}),
                )
            }
            ("POST", ["windowsAutopilotSettings", "sync"]) => {
                if let Some((at, _)) = self.sync_triggered {
                    let since = self.now().saturating_duration_since(at);
                    if since < SYNC_RUNNING {
                        return intune_error(409, "Conflict", "Sync already in progress", &path);
                    }
                    if since < self.config.sync_cooldown {
                        let wait = (self.config.sync_cooldown - since).as_secs().max(1);
                        return intune_error(
                            429,
                            "TooManyRequests",
                            "Sync was requested less than 10 minutes ago",
                            &path,
                        )
                        .with_header("Retry-After", wait.to_string());
                    }
                }
                self.sync_triggered = Some((self.now(), self.wall_now()));
                Reply::empty(204)
            }
            _ => intune_error(400, "BadRequest", "No OData route exists that match template", &path),
        }
    }

    /// `POST /groups` (graph-api.md §4.5, F16): the required properties,
    /// a valid `mailNickname`, and for a dynamic group a rule the rule
    /// engine accepts as a device rule; the members are computed at once
    /// (Entra takes minutes: tests need determinism).
    /// Adds (`body` with an `@odata.id`) or removes (`member`) a direct
    /// member of an assigned group; a dynamic group's members come from
    /// its rule only.
    fn member_ref(&mut self, id: &str, body: Option<&[u8]>, member: Option<&str>) -> Reply {
        let Some(g) = self.groups.get(id) else { return not_found(id) };
        if g.rule.is_some() {
            return graph_error(
                400,
                "Request_BadRequest",
                "Insufficient privileges to complete the operation: the members of a dynamic group are computed \
                 from its rule and cannot be changed manually.",
            );
        }
        let member = match (body, member) {
            (Some(body), _) => {
                let bind = serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| v.get("@odata.id").and_then(Value::as_str).map(str::to_string));
                let Some(bind) = bind else {
                    return graph_error(
                        400,
                        "Request_BadRequest",
                        "Invalid request body: expected an @odata.id.",
                    );
                };
                bind.rsplit('/').next().unwrap_or("").to_string()
            }
            (None, Some(m)) => m.to_string(),
            (None, None) => return not_found(id),
        };
        let add = body.is_some();
        if add && !self.devices.contains_key(&member) {
            return not_found(&member);
        }
        let present = self.groups.get(id).is_some_and(|g| g.members.contains(&member));
        if add && present {
            return graph_error(400, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.");
        }
        if !add && !present {
            return not_found(&member);
        }
        let v = self.bump();
        let Some(g) = self.groups.get_mut(id) else { return not_found(id) };
        if add {
            g.members.insert(member.clone());
        } else {
            g.members.remove(&member);
        }
        g.log.push((v, member, add));
        g.version = v;
        Reply::empty(204)
    }

    fn create_group(&mut self, body: &[u8], base: &str, version: &str) -> Reply {
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
            return graph_error(400, "BadRequest", "Invalid request body: expected a JSON object.");
        };
        let required = |key: &str| {
            graph_error(
                400,
                "Request_BadRequest",
                &format!("A value is required for property '{key}' of resource 'Group'."),
            )
        };
        let invalid = |key: &str| {
            graph_error(
                400,
                "Request_BadRequest",
                &format!("Invalid value specified for property '{key}' of resource 'Group'."),
            )
        };
        for key in ["displayName", "mailNickname"] {
            match body.get(key) {
                None | Some(Value::Null) => return required(key),
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(_) => return invalid(key),
            }
        }
        for key in ["mailEnabled", "securityEnabled"] {
            match body.get(key) {
                None | Some(Value::Null) => return required(key),
                Some(Value::Bool(_)) => {}
                Some(_) => return invalid(key),
            }
        }
        if body.get("displayName").and_then(Value::as_str).is_some_and(|n| n.chars().count() > 256) {
            return invalid("displayName");
        }
        if !body.get("mailNickname").and_then(Value::as_str).is_some_and(valid_mail_nickname) {
            return invalid("mailNickname");
        }
        let types: Vec<String> = match body.get("groupTypes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
                a.iter().filter_map(Value::as_str).map(str::to_string).collect()
            }
            Some(_) => return invalid("groupTypes"),
        };
        let dynamic = types.iter().any(|t| t.eq_ignore_ascii_case("DynamicMembership"));
        let rule_text = body.get("membershipRule").and_then(Value::as_str).map(str::to_string);
        if dynamic && body.get("isAssignableToRole").and_then(Value::as_bool) == Some(true) {
            return invalid("isAssignableToRole");
        }
        let rule = match (dynamic, &rule_text) {
            (true, None) => return required("membershipRule"),
            (false, Some(_)) => return invalid("membershipRule"),
            (false, None) => None,
            (true, Some(text)) => match device_rule(text) {
                Ok(rule) => Some(rule),
                Err(reply) => return reply,
            },
        };
        let state = match body.get("membershipRuleProcessingState").and_then(Value::as_str) {
            None => "On",
            Some(s) if s.eq_ignore_ascii_case("On") => "On",
            Some(s) if s.eq_ignore_ascii_case("Paused") => "Paused",
            Some(_) => return invalid("membershipRuleProcessingState"),
        };
        self.created += 1;
        let id = guid(0x0067_726f_7570, self.created.wrapping_add(hash_str(&self.epoch)));
        let mut props = Map::new();
        for key in GROUP_PROPS {
            if let Some(v) = body.get(*key) {
                props.insert((*key).to_string(), v.clone());
            }
        }
        props.entry("description").or_insert(Value::Null);
        props.insert("groupTypes".into(), json!(types));
        if dynamic {
            props.insert("membershipRuleProcessingState".into(), json!(state));
        } else {
            props.insert("membershipRule".into(), Value::Null);
            props.insert("membershipRuleProcessingState".into(), Value::Null);
        }
        let v = self.bump();
        self.groups.insert(
            id.clone(),
            GroupRec { props, rule, members: BTreeSet::new(), version: v, log: Vec::new() },
        );
        if let Err(e) = self.evaluate_group(&id, v) {
            return graph_error(500, "generalException", &e.to_string());
        }
        let Some(g) = self.groups.get(&id) else { return not_found(&id) };
        let mut out = Map::new();
        out.insert("@odata.context".into(), json!(format!("{base}/{version}/$metadata#groups/$entity")));
        if let Value::Object(m) = group_json(&id, g) {
            out.extend(m);
        }
        let now = Timestamp::now().to_string();
        out.insert("createdDateTime".into(), json!(now));
        out.insert("renewedDateTime".into(), json!(now));
        out.insert("deletedDateTime".into(), Value::Null);
        out.insert("isAssignableToRole".into(), Value::Null);
        out.insert("mail".into(), Value::Null);
        out.insert("proxyAddresses".into(), json!([]));
        Reply::json(201, &Value::Object(out))
    }

    /// `PATCH /groups/{id}`: rule text, processing state, names. A changed
    /// rule or a resumed group is evaluated again at once.
    fn patch_group(&mut self, id: &str, body: &[u8]) -> Reply {
        let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(body) else {
            return graph_error(400, "BadRequest", "Invalid request body: expected a JSON object.");
        };
        let Some(g) = self.groups.get(id) else { return not_found(id) };
        let invalid = |key: &str| {
            graph_error(
                400,
                "Request_BadRequest",
                &format!("Invalid value specified for property '{key}' of resource 'Group'."),
            )
        };
        let dynamic = g.props.get("groupTypes").and_then(Value::as_array).is_some_and(|t| {
            t.iter().any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("DynamicMembership")))
        });
        let mut rule = None;
        for (key, value) in &patch {
            match (key.as_str(), value) {
                ("displayName", Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => {}
                ("description", Value::String(_) | Value::Null) => {}
                ("mailNickname", Value::String(s)) if valid_mail_nickname(s) => {}
                ("membershipRuleProcessingState", Value::String(s))
                    if dynamic && (s == "On" || s == "Paused") => {}
                ("membershipRule", Value::String(text)) if dynamic => match device_rule(text) {
                    Ok(r) => rule = Some(r),
                    Err(reply) => return reply,
                },
                (
                    "displayName"
                    | "description"
                    | "mailNickname"
                    | "membershipRuleProcessingState"
                    | "membershipRule",
                    _,
                ) => return invalid(key),
                (other, _) => {
                    return graph_error(
                        400,
                        "Request_BadRequest",
                        &format!(
                        "Property '{other}' is read-only or does not exist on type 'microsoft.graph.group'."
                    ),
                    )
                }
            }
        }
        let v = self.bump();
        let Some(g) = self.groups.get_mut(id) else { return not_found(id) };
        for (key, value) in patch {
            g.props.insert(key, value);
        }
        if let Some(r) = rule {
            g.rule = Some(r);
        }
        g.version = v;
        match self.evaluate_group(id, v) {
            Ok(()) => Reply::empty(204),
            Err(e) => graph_error(500, "generalException", &e.to_string()),
        }
    }

    fn create_profile(&mut self, body: Value, path: &str) -> Reply {
        let Value::Object(mut raw) = body else {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        };
        let kind = raw.get("@odata.type").and_then(Value::as_str).unwrap_or("");
        if crate::odata::profile_kind(kind).is_none() {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        }
        let shared = ["outOfBoxExperienceSetting", "outOfBoxExperienceSettings"].iter().any(|k| {
            raw.get(*k).is_some_and(|o| {
                o.get("deviceUsageType").and_then(Value::as_str) == Some("shared")
                    && o.get("userType").is_some_and(|u| !u.is_null())
            })
        });
        if shared || raw.get("displayName").and_then(Value::as_str).is_none_or(str::is_empty) {
            return intune_error(400, "BadRequest", "An error has occurred", path);
        }
        self.created += 1;
        let id = guid(0x7072_6f66, self.created + hash_str(&self.epoch));
        let now = Timestamp::now().to_string();
        raw.insert("id".into(), json!(id));
        raw.insert("createdDateTime".into(), json!(now));
        raw.insert("lastModifiedDateTime".into(), json!(now));
        raw.entry("roleScopeTagIds").or_insert(json!(["0"]));
        self.profiles.insert(id, ProfileRec { raw: raw.clone(), assignments: BTreeMap::new() });
        Reply::json(201, &Value::Object(self.written(&raw)))
    }

    fn create_assignment(&mut self, profile: &str, body: Value, path: &str) -> Reply {
        let target = body.get("target").cloned().unwrap_or(Value::Null);
        let kind = target.get("@odata.type").and_then(Value::as_str).unwrap_or("").to_string();
        let group = target.get("groupId").and_then(Value::as_str).map(str::to_string);
        let suffix = match (crate::odata::target_kind(&kind), &group) {
            (Some(crate::odata::ALL_DEVICES_TARGET), _) => "allDevices_0".to_string(),
            (Some(crate::odata::GROUP_TARGET), Some(g)) => format!("{g}_0"),
            (Some(crate::odata::EXCLUSION_TARGET), Some(g)) => format!("{g}_1"),
            _ => return intune_error(400, "BadRequest", "An error has occurred", path),
        };
        if !self.profiles.contains_key(profile) {
            return intune_error(404, "NotFound", "An error has occurred", path);
        }
        if crate::odata::is(&kind, crate::odata::ALL_DEVICES_TARGET) {
            let other = self.profiles.iter().find(|(pid, p)| {
                pid.as_str() != profile
                    && p.assignments.values().any(|a| {
                        a.get("target")
                            .and_then(crate::odata::of)
                            .is_some_and(|t| crate::odata::is(t, crate::odata::ALL_DEVICES_TARGET))
                    })
            });
            if let Some((other, _)) = other {
                return intune_error(
                    400,
                    "BadRequest",
                    &format!("Another Profile {other} is already assigned to All Devices."),
                    path,
                );
            }
        }
        let id = format!("{profile}_{suffix}");
        let Some(p) = self.profiles.get_mut(profile) else {
            return intune_error(404, "NotFound", "An error has occurred", path);
        };
        if p.assignments.contains_key(&id) {
            return intune_error(400, "BadRequest", "The profile is already assigned to this target.", path);
        }
        let mut t = Map::new();
        t.insert("@odata.type".into(), json!(kind));
        t.insert("deviceAndAppManagementAssignmentFilterId".into(), Value::Null);
        t.insert("deviceAndAppManagementAssignmentFilterType".into(), json!("none"));
        if let Some(g) = group {
            t.insert("groupId".into(), json!(g));
        }
        let mut a = Map::new();
        a.insert("id".into(), json!(id));
        a.insert("source".into(), json!("direct"));
        a.insert("sourceId".into(), Value::Null);
        a.insert("target".into(), Value::Object(t));
        p.assignments.insert(id, a.clone());
        Reply::json(201, &Value::Object(self.written(&a)))
    }

    /// A profile or an assignment as the fake writes it ([`super::modes`]).
    fn written(&self, value: &Map<String, Value>) -> Map<String, Value> {
        super::modes::write_types(value.clone(), &self.config.modes)
    }

    // ----- delta -----

    /// (since, members?) from `$deltatoken`, or the state of a `$skiptoken`.
    fn delta_state(&self, query: &[(String, String)]) -> Result<DeltaState, ()> {
        let get = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        if let Some(tok) = get("$deltatoken") {
            if tok == "latest" {
                let select = get("$select").map(str::to_string);
                return Ok(DeltaState {
                    since: self.version,
                    start: self.version,
                    members: true,
                    after: None,
                    latest: true,
                    select,
                });
            }
            let parts: Vec<&str> = tok.split('.').collect();
            let [epoch, since, members, select] = parts.as_slice() else { return Err(()) };
            let since: u64 = since.parse().map_err(|_| ())?;
            if *epoch != self.epoch || since < self.min_delta_version {
                return Err(());
            }
            return Ok(DeltaState {
                since,
                start: self.version,
                members: *members == "1",
                after: None,
                latest: false,
                select: unselect(select),
            });
        }
        if let Some(tok) = get("$skiptoken") {
            let parts: Vec<&str> = tok.split('.').collect();
            let [epoch, since, start, members, after, select] = parts.as_slice() else { return Err(()) };
            let since: u64 = since.parse().map_err(|_| ())?;
            if *epoch != self.epoch || (since > 0 && since < self.min_delta_version) {
                return Err(());
            }
            return Ok(DeltaState {
                since,
                start: start.parse().map_err(|_| ())?,
                members: *members == "1",
                after: unhex(after),
                latest: false,
                select: unselect(select),
            });
        }
        let select = get("$select").map(str::to_string);
        let members = select.as_deref().is_some_and(|s| s.split(',').any(|f| f.trim() == "members"));
        Ok(DeltaState { since: 0, start: self.version, members, after: None, latest: false, select })
    }

    fn skip_link(&self, link: &str, st: &DeltaState, after: &str) -> String {
        format!(
            "{link}?$skiptoken={}.{}.{}.{}.{}.{}",
            self.epoch,
            st.since,
            st.start,
            u8::from(st.members),
            hex(after),
            reselect(st)
        )
    }

    fn delta_link(&self, link: &str, st: &DeltaState) -> String {
        format!("{link}?$deltatoken={}.{}.{}.{}", self.epoch, st.start, u8::from(st.members), reselect(st))
    }

    fn gone(&self, link: &str) -> Reply {
        graph_error(410, "resyncRequired", "The delta token has expired or is not valid; start a new round.")
            .with_header("Location", link.to_string())
    }

    fn devices_delta(&self, query: &[(String, String)], link: &str, base: &str, version: &str) -> Reply {
        let Ok(st) = self.delta_state(query) else { return self.gone(link) };
        let unknown = st.select.as_deref().and_then(|s| {
            s.split(',')
                .map(str::trim)
                .find(|f| self.config.modes.unknown_device_properties.iter().any(|u| u == f))
        });
        if let Some(property) = unknown {
            return graph_error(
                400,
                "Request_BadRequest",
                &format!("Could not find a property named '{property}' on type 'microsoft.graph.device'."),
            );
        }
        let context = format!("{base}/{version}/$metadata#devices");
        if st.latest {
            return Reply::json(
                200,
                &json!({"@odata.context": context, "@odata.deltaLink": self.delta_link(link, &st), "value": []}),
            );
        }
        let size = self.config.page_size.max(1);
        let lower = st.after.clone().map_or(Bound::Unbounded, Bound::Excluded);
        let live = self
            .devices
            .range::<String, _>((lower.clone(), Bound::Unbounded))
            .filter(|(id, _)| self.device_versions.get(*id).is_some_and(|v| *v > st.since))
            .take(size + 1)
            .map(|(id, raw)| {
                (id.clone(), super::modes::project_device(raw, st.select.as_deref(), &self.config.modes))
            });
        let mut items: Vec<(String, String)> = live.collect();
        if st.since > 0 {
            let gone = self
                .tombstones
                .range::<String, _>((lower, Bound::Unbounded))
                .filter(|(_, v)| **v > st.since)
                .map(|(id, _)| (id.clone(), json!({"id": id, "@removed": {"reason": "deleted"}}).to_string()))
                .take(size + 1);
            items.extend(gone);
            items.sort_by(|a, b| a.0.cmp(&b.0));
        }
        let more = items.len() > size;
        items.truncate(size);
        let mut body = format!("{{\"@odata.context\":{}", Value::String(context));
        if more {
            let last = items.last().map(|(id, _)| id.as_str()).unwrap_or("");
            body.push_str(&format!(
                ",\"@odata.nextLink\":{}",
                Value::String(self.skip_link(link, &st, last))
            ));
        } else {
            body.push_str(&format!(",\"@odata.deltaLink\":{}", Value::String(self.delta_link(link, &st))));
        }
        body.push_str(",\"value\":[");
        for (i, (_, raw)) in items.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(raw);
        }
        body.push_str("]}");
        Reply::raw_json(200, body.into_bytes())
    }

    fn groups_delta(&self, query: &[(String, String)], link: &str, base: &str, version: &str) -> Reply {
        let Ok(st) = self.delta_state(query) else { return self.gone(link) };
        let context = format!("{base}/{version}/$metadata#groups");
        if st.latest {
            return Reply::json(
                200,
                &json!({"@odata.context": context, "@odata.deltaLink": self.delta_link(link, &st), "value": []}),
            );
        }
        let size = self.config.page_size.max(1);
        let chunk = self.config.members_chunk.max(1);
        let minimal = self.config.modes.return_minimal
            && st.since > 0
            && query.iter().any(|(k, _)| k == super::modes::PREFER_MINIMAL);
        // The position: "groupId/chunk".
        let (after_group, after_chunk) = match &st.after {
            Some(a) => match a.rsplit_once('/') {
                Some((g, c)) => (Some(g.to_string()), c.parse::<usize>().ok()),
                None => (Some(a.clone()), None),
            },
            None => (None, None),
        };
        let lower = after_group.clone().map_or(Bound::Unbounded, Bound::Included);
        let mut items: Vec<Value> = Vec::new();
        let mut last_key = String::new();
        let mut more = false;
        'groups: for (id, g) in self.groups.range::<String, _>((lower, Bound::Unbounded)) {
            let changes: Vec<(String, bool)> = if !st.members {
                Vec::new()
            } else if st.since == 0 {
                g.members.iter().map(|m| (m.clone(), true)).collect()
            } else {
                let mut net: BTreeMap<&str, bool> = BTreeMap::new();
                for (v, m, added) in &g.log {
                    if *v > st.since {
                        net.insert(m.as_str(), *added);
                    }
                }
                net.into_iter().map(|(m, a)| (m.to_string(), a)).collect()
            };
            let props_changed = st.since == 0 || g.version > st.since;
            if !props_changed && changes.is_empty() {
                continue;
            }
            let chunks: Vec<&[(String, bool)]> =
                if changes.is_empty() { vec![&[]] } else { changes.chunks(chunk).collect() };
            for (ci, part) in chunks.iter().enumerate() {
                if after_group.as_deref() == Some(id.as_str()) && after_chunk.is_some_and(|c| ci <= c) {
                    continue;
                }
                if items.len() == size {
                    more = true;
                    break 'groups;
                }
                // "group: delta": with Prefer: return=minimal a deltaLink round
                // carries only what changed; properties unchanged since the
                // token are left out (the fake does not track them one by one).
                let mut item =
                    if minimal && !props_changed { json!({ "id": id }) } else { group_json(id, g) };
                if let Some(obj) = item.as_object_mut() {
                    if st.members {
                        let list: Vec<Value> = part
                            .iter()
                            .map(|(m, added)| {
                                if *added {
                                    json!({"@odata.type": "#microsoft.graph.device", "id": m})
                                } else {
                                    json!({"@odata.type": "#microsoft.graph.device", "id": m, "@removed": {"reason": "deleted"}})
                                }
                            })
                            .collect();
                        obj.insert("members@delta".into(), Value::Array(list));
                    }
                }
                items.push(item);
                last_key = format!("{id}/{ci}");
            }
        }
        let mut body = Map::new();
        body.insert("@odata.context".into(), json!(context));
        if more {
            body.insert("@odata.nextLink".into(), json!(self.skip_link(link, &st, &last_key)));
        } else {
            body.insert("@odata.deltaLink".into(), json!(self.delta_link(link, &st)));
        }
        body.insert("value".into(), Value::Array(items));
        Reply::json(200, &Value::Object(body))
    }
}

/// The parts of a request a filtered listing needs.
struct Listing<'a> {
    query: &'a [(String, String)],
    eventual: bool,
    after: Option<&'a str>,
    link: &'a str,
    top: Option<usize>,
    base: &'a str,
    version: &'a str,
}

impl Listing<'_> {
    fn q(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A directory collection under `$filter`, `$search` and `$count`,
    /// with the advanced-query gate of graph-api.md §3.7.
    fn directory(
        &self,
        resource: Resource,
        items: &BTreeMap<String, String>,
        size: usize,
        context: &str,
    ) -> Reply {
        let count = self.q("$count").is_some_and(|c| c.eq_ignore_ascii_case("true"));
        let filter = match self.q("$filter") {
            None => None,
            Some(text) => match Expr::parse(text) {
                Ok(e) => Some(e),
                Err(e) => return graph_error(400, "BadRequest", &format!("Invalid filter clause: {e}")),
            },
        };
        if let Some(e) = &filter {
            let refused = match classify(e, resource) {
                Verdict::Basic => None,
                Verdict::Advanced(_) if self.eventual && count => None,
                Verdict::Advanced(p) | Verdict::Unsupported(p) => Some(p),
            };
            if let Some(p) = refused {
                return graph_error(
                    400,
                    "Request_UnsupportedQuery",
                    &format!("Unsupported or invalid query filter clause specified for property '{p}' of resource '{}'.", resource.entity()),
                );
            }
        }
        let search = match self.q("$search") {
            None => None,
            Some(_) if !self.eventual => {
                return graph_error(
                    400,
                    "Request_UnsupportedQuery",
                    "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
                )
            }
            Some(text) => match Search::parse(text) {
                Ok(s) => {
                    if let Some(p) = s.properties().find(|p| !matches!(*p, "displayName" | "description")) {
                        return graph_error(
                            400,
                            "Request_UnsupportedQuery",
                            &format!("Search on property '{p}' is not supported for resource '{}'.", resource.entity()),
                        );
                    }
                    Some(s)
                }
                Err(e) => return graph_error(400, "BadRequest", &format!("Syntax error: {e}")),
            },
        };
        let matched: BTreeMap<String, String> = items
            .iter()
            .filter(|(_, raw)| {
                let Ok(v) = serde_json::from_str::<Value>(raw) else { return false };
                filter.as_ref().is_none_or(|f| f.matches(&v)) && search.as_ref().is_none_or(|s| s.matches(&v))
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // The options travel in every nextLink, as Graph's opaque tokens embed them.
        let mut carry = String::new();
        for key in ["$filter", "$search", "$count"] {
            if let Some(v) = self.q(key) {
                carry.push_str(&format!("{key}={}&", encode(v)));
            }
        }
        // Without the header `$count=true` is ignored (graph-api.md §3.7).
        let total = (count && self.eventual).then_some(matched.len());
        page_reply(
            &matched,
            self.after,
            size,
            self.link,
            self.top,
            |raw| raw.clone(),
            context,
            self.base,
            self.version,
            &carry,
            total,
        )
    }
}

/// True when a listing carries options the plain pager does not handle.
fn has_query(query: &[(String, String)]) -> bool {
    query.iter().any(|(k, _)| matches!(k.to_ascii_lowercase().as_str(), "$filter" | "$search" | "$count"))
}

/// `…/$count`: a plain-text number, only with `ConsistencyLevel: eventual`.
fn count_reply(n: usize, eventual: bool) -> Reply {
    if !eventual {
        return graph_error(400, "Request_BadRequest", "$count is not currently supported.");
    }
    Reply {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: n.to_string().into_bytes(),
    }
}

fn paused(g: &GroupRec) -> bool {
    g.props
        .get("membershipRuleProcessingState")
        .and_then(Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case("Paused"))
}

/// `mailNickname`: 1–64 ASCII characters, none of `@ ( ) \ [ ] " ; : . < > ,` or space
/// (graph-api.md §1.8).
pub(crate) fn valid_mail_nickname(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars().all(|c| c.is_ascii() && !c.is_ascii_control() && !"@()\\[]\";:.<>, ".contains(c))
}

/// A membership rule for a device group, or Graph's 400 for it.
fn device_rule(text: &str) -> Result<Rule, Reply> {
    let options = Options { object: Some(ObjectType::Device), ..Options::default() };
    Rule::with_options(text, &options).map_err(|e| {
        graph_error(400, "Request_BadRequest", &format!("Dynamic membership rule validation error: {e}"))
    })
}

struct DeltaState {
    since: u64,
    start: u64,
    members: bool,
    after: Option<String>,
    latest: bool,
    /// The `$select` of the round's first request, carried in its tokens.
    select: Option<String>,
}

/// The `$select` a token carries: hex, `-` for none (empty is a selection
/// of nothing, which Graph would refuse anyway).
fn reselect(st: &DeltaState) -> String {
    st.select.as_deref().map_or_else(|| "-".to_string(), hex)
}

fn unselect(token_part: &str) -> Option<String> {
    if token_part == "-" {
        None
    } else {
        unhex(token_part)
    }
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn group_json(id: &str, g: &GroupRec) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    for key in GROUP_PROPS {
        if let Some(v) = g.props.get(*key) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    Value::Object(out)
}

fn autopilot_view(m: &Map<String, Value>, v1: bool) -> String {
    if !v1 {
        return Value::Object(m.clone()).to_string();
    }
    let subset: Map<String, Value> = m
        .iter()
        .filter(|(k, _)| V1_AUTOPILOT.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(subset).to_string()
}

fn not_found(id: &str) -> Reply {
    graph_error(
        404,
        "Request_ResourceNotFound",
        &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
    )
}

/// One page of a keyed collection, with a nextLink holding the last key.
/// `carry` is query text (`$filter=…&`) every nextLink repeats; `count`
/// becomes `@odata.count` on the first page.
#[allow(clippy::too_many_arguments)]
fn page_reply<T>(
    map: &BTreeMap<String, T>,
    after: Option<&str>,
    size: usize,
    link: &str,
    top: Option<usize>,
    render: impl Fn(&T) -> String,
    context: &str,
    base: &str,
    version: &str,
    carry: &str,
    count: Option<usize>,
) -> Reply {
    let lower = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
    let mut iter = map.range::<String, _>((lower, Bound::Unbounded));
    let mut body =
        format!("{{\"@odata.context\":{}", Value::String(format!("{base}/{version}/$metadata#{context}")));
    if let Some(n) = count.filter(|_| after.is_none()) {
        body.push_str(&format!(",\"@odata.count\":{n}"));
    }
    body.push_str(",\"value\":[");
    let mut last = None;
    for i in 0..size {
        let Some((id, item)) = iter.next() else { break };
        if i > 0 {
            body.push(',');
        }
        body.push_str(&render(item));
        last = Some(id.clone());
    }
    body.push(']');
    if let (Some(last), Some(_)) = (last, iter.next()) {
        let mut next = format!("{link}?{carry}");
        if let Some(top) = top {
            next.push_str(&format!("$top={top}&"));
        }
        next.push_str(&format!("$skiptoken={}", hex(&last)));
        body.push_str(&format!(",\"@odata.nextLink\":{}", Value::String(next)));
    }
    body.push('}');
    Reply::raw_json(200, body.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_look_like_guids_and_hex_round_trips() {
        let g = guid(1, 2);
        assert_eq!(g.len(), 36);
        assert_eq!(g.as_bytes()[14], b'4');
        assert_ne!(guid(1, 2), guid(1, 3));
        assert_eq!(unhex(&hex("abc/1")).as_deref(), Some("abc/1"));
        assert_eq!(unhex("zz"), None);
    }
}
