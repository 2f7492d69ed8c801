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

mod delta;
mod encode;
mod groups;
mod import;
mod intune;
mod router;

pub(crate) use encode::*;
use groups::*;
use router::*;

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

    // ----- delta -----
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
