//! Plan and apply: the writes that make the tenant match a tenant file
//! (dynamic and assigned groups, deployment profiles and their assignments) and an edit
//! set (Autopilot device properties and deletions), computed against the
//! snapshot.
//!
//! Decisions, and why:
//!
//! * **Lint first.** The tenant file is checked with
//!   [`crate::autopilot::validate`] and the edits with
//!   [`EditSet::resolve`] against the snapshot's devices; any error refuses
//!   the whole plan ([`SyncPlanError::Lint`]): nothing the linter rejects is
//!   ever sent.
//! * **Profiles are matched by display name**, case-insensitively (Graph
//!   has no other natural key; graph-api.md §3.5). A missing profile is
//!   created with the body of [`crate::autopilot::graph_json::to_graph`]; an
//!   existing one is patched with only the properties whose values differ
//!   (plus `@odata.type`). "Differ" means in meaning: a property is
//!   compared with its stored value and with the stored profile read back
//!   through the same model ([`graph_json::read_profiles`], then
//!   [`graph_json::to_graph`]), and only a value that matches neither is
//!   patched. An absent `description` and `""`, or the deprecated and the
//!   new OOBE names, are the same setting, and patching them would make a
//!   plan that never settles.
//! * **Profiles not in the file are kept** and listed, unless
//!   [`PlanOptions::prune`]: deleting what a file does not mention is too
//!   dangerous to do implicitly. A pruned profile loses its direct
//!   assignments first, then is deleted (Intune refuses to delete an
//!   assigned profile, and tools do it in this order, graph-api.md §4.3);
//!   one that a policy set assigns is refused, since fleetlab never touches
//!   policy-set assignments.
//! * **Groups are matched by display name.** A group of the file missing
//!   from the tenant is created as a dynamic security group
//!   (graph-api.md §4.5) with a `mailNickname` derived from its name
//!   ([`mail_nickname`]); one whose rule or description changed is
//!   patched. Rules are compared by their canonical form, so a rule Graph
//!   stored with other spacing or casing is not rewritten. Rules the rule
//!   engine rejects never get this far: the lint refuses them. An assigned
//!   group of the file (`members`) is created with no rule and gets its
//!   members one `POST /groups/{id}/members/$ref` each; an existing one
//!   gains and loses members one reference at a time (`DELETE
//!   …/members/{id}/$ref`), the Graph v1.0 way to change direct members. A
//!   file group that exists with the other membership type is refused;
//!   fleetlab does not convert groups. Groups the file does not mention are never
//!   touched. Assignments to (and members of) a group created by the same
//!   plan carry its name and get its id when the creation answers.
//! * **Assignments are diffed by target** (type and group id), never by
//!   assignment id (§4.3), and only `source: direct` assignments are
//!   touched; assignments from policy sets belong to them. Groups are found
//!   by display name among the snapshot's groups and the plan's creations.
//! * **Order**: assignment deletions, profile deletions, device deletions,
//!   group creations, group updates and members, profile creations, profile updates,
//!   assignment creations, device property updates. An All-Devices
//!   assignment can therefore move from one profile to another (even from
//!   a pruned one), a profile is deleted only once unassigned, and a group
//!   exists before anything is assigned to it. A plan whose end state has two All-Devices
//!   assignments is refused at plan time ([`SyncPlanError::Refused`]), as the
//!   service would refuse it halfway through an apply (F11).
//! * **Idempotent**: every action is derived from a difference, so planning
//!   again after an apply (and the pull that follows it) finds nothing to do.
//! * **Applied elsewhere**: [`crate::msgraph::apply`] sends the actions,
//!   refreshes what they touch first and keeps the audit log.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::autopilot::{
    check_profile, graph_json, CheckedTenant, EditSet, Finding, Membership, Source, Tenant,
};
use crate::inventory::Device;
use crate::msgraph::snapshot::{Snapshot, SnapshotError, StoredGroup};

const ALL_DEVICES: &str = "#microsoft.graph.allDevicesAssignmentTarget";
const GROUP: &str = "#microsoft.graph.groupAssignmentTarget";
const EXCLUSION: &str = "#microsoft.graph.exclusionGroupAssignmentTarget";

/// A target's type in the prefixed form the constants above use, whichever
/// spelling Graph sent, so comparisons with them hold ([`crate::odata`]).
fn target_type(target: &Value) -> String {
    crate::odata::of(target).map(crate::odata::prefixed).unwrap_or_default()
}

/// How to plan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Delete deployment profiles the tenant file does not have (after
    /// removing their direct assignments). Off: they are kept and listed.
    pub prune: bool,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum SyncPlanError {
    /// The tenant file or the edits have errors.
    #[error("{} error(s) in the tenant file or the edits:\n{}", .0.len(), .0.join("\n"))]
    Lint(Vec<String>),
    /// The plan would break a service rule or names something unknown.
    #[error("refused:\n{}", .0.join("\n"))]
    Refused(Vec<String>),
    /// The snapshot could not be read.
    #[error("snapshot {0}")]
    Snapshot(#[from] SnapshotError),
}

/// One write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// `DELETE …/windowsAutopilotDeploymentProfiles/{id}/assignments/{aid}`.
    DeleteAssignment {
        /// Profile display name.
        profile: String,
        /// Profile id.
        profile_id: String,
        /// Assignment id.
        assignment_id: String,
        /// What it targets.
        target: String,
    },
    /// `DELETE …/windowsAutopilotDeploymentProfiles/{id}` (with `--prune`,
    /// after its direct assignments are removed).
    DeleteProfile {
        /// Display name.
        profile: String,
        /// Profile id.
        profile_id: String,
    },
    /// `DELETE …/windowsAutopilotDeviceIdentities/{id}`.
    DeleteDevice {
        /// The device as the edit named it.
        device: String,
        /// Autopilot identity id.
        autopilot_id: String,
    },
    /// `POST /groups` (v1.0): a dynamic security group.
    CreateGroup {
        /// Display name.
        group: String,
        /// The Graph body.
        body: Value,
    },
    /// `PATCH /groups/{id}` (v1.0): rule or description.
    UpdateGroup {
        /// Display name.
        group: String,
        /// Group id.
        group_id: String,
        /// Properties that change.
        changed: Vec<String>,
        /// The patch.
        body: Value,
    },
    /// `POST /groups/{id}/members/$ref` or `DELETE
    /// /groups/{id}/members/{member}/$ref` (v1.0): one member of an
    /// assigned group.
    GroupMember {
        /// Display name.
        group: String,
        /// Group id, unless the group is created by this plan.
        group_id: Option<String>,
        /// The member's object id.
        member: String,
        /// Added (true) or removed.
        add: bool,
    },
    /// `POST …/windowsAutopilotDeploymentProfiles`.
    CreateProfile {
        /// Display name.
        profile: String,
        /// Graph beta body.
        body: Value,
    },
    /// `PATCH …/windowsAutopilotDeploymentProfiles/{id}`.
    UpdateProfile {
        /// Display name.
        profile: String,
        /// Profile id.
        profile_id: String,
        /// Properties that change.
        changed: Vec<String>,
        /// The patch.
        body: Value,
    },
    /// `POST …/windowsAutopilotDeploymentProfiles/{id}/assignments`.
    CreateAssignment {
        /// Profile display name.
        profile: String,
        /// Profile id, unless the profile is created by this plan.
        profile_id: Option<String>,
        /// What it targets.
        target: String,
        /// The group, when this plan creates it: its id fills
        /// `target.groupId` once the creation answers.
        #[serde(skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        /// The `target` object.
        body: Value,
    },
    /// One row of a registration CSV, sent with
    /// `POST …/importedWindowsAutopilotDeviceIdentities/import`
    /// (`fleetlab sync import`, [`crate::msgraph::import`]).
    ImportDevice {
        /// Serial number.
        serial: String,
        /// Group tag, when the row has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_tag: Option<String>,
    },
    /// `POST …/windowsAutopilotDeviceIdentities/{id}/updateDeviceProperties`
    /// (sent in `$batch`es).
    UpdateDevice {
        /// The device as the edit named it.
        device: String,
        /// Autopilot identity id.
        autopilot_id: String,
        /// The properties.
        body: Value,
    },
}

impl Action {
    /// One line for the plan listing.
    ///
    /// ```
    /// use fleetlab::msgraph::plan::Action;
    /// let a = Action::CreateProfile { profile: "Kiosk".into(), body: serde_json::json!({}) };
    /// assert_eq!(a.describe(), "+ create profile \"Kiosk\"");
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Action::DeleteAssignment { profile, target, .. } => {
                format!("- unassign {profile:?} from {target}")
            }
            Action::DeleteProfile { profile, profile_id } => {
                format!("- delete profile {profile:?} ({profile_id})")
            }
            Action::CreateGroup { group, body } => format!(
                "+ create group {group:?}: {}",
                body.get("membershipRule").and_then(Value::as_str).unwrap_or("assigned")
            ),
            Action::GroupMember { group, member, add: true, .. } => {
                format!("+ add {member} to group {group:?}")
            }
            Action::GroupMember { group, member, add: false, .. } => {
                format!("- remove {member} from group {group:?}")
            }
            Action::UpdateGroup { group, changed, .. } => {
                format!("~ update group {group:?}: {}", changed.join(", "))
            }
            Action::DeleteDevice { device, autopilot_id } => {
                format!("- delete Autopilot device {device} ({autopilot_id})")
            }
            Action::CreateProfile { profile, .. } => format!("+ create profile {profile:?}"),
            Action::UpdateProfile { profile, changed, .. } => {
                format!("~ update profile {profile:?}: {}", changed.join(", "))
            }
            Action::CreateAssignment { profile, target, .. } => format!("+ assign {profile:?} to {target}"),
            Action::UpdateDevice { device, body, .. } => {
                format!("~ update Autopilot device {device}: {body}")
            }
            Action::ImportDevice { serial, group_tag } => match group_tag {
                Some(tag) => format!("+ import Autopilot device {serial} (group tag {tag:?})"),
                None => format!("+ import Autopilot device {serial}"),
            },
        }
    }
}

/// The writes, in the order they will be sent.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SyncPlan {
    /// The actions.
    pub actions: Vec<Action>,
    /// Profiles in the tenant but not in the file, kept (no `--prune`).
    pub unmanaged_profiles: Vec<String>,
    /// Lint warnings, for the record.
    pub warnings: Vec<String>,
}

impl SyncPlan {
    /// The listing `fleetlab sync plan` prints.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for a in &self.actions {
            s.push_str(&a.describe());
            s.push('\n');
        }
        for p in &self.unmanaged_profiles {
            s.push_str(&format!("  = profile {p:?}: not in tenant file, kept (use --prune to delete it)\n"));
        }
        s.push_str(&match self.actions.len() {
            0 => "nothing to do: the tenant matches\n".to_string(),
            n => format!("{n} change(s)\n"),
        });
        s
    }
}

fn finding_text(f: &Finding) -> String {
    f.to_string()
}

fn target_key(target: &Value) -> (String, String) {
    let kind = target_type(target);
    let group = target.get("groupId").and_then(Value::as_str).unwrap_or("").to_string();
    (kind, group)
}

fn describe_target(kind: &str, group: &str, names: &HashMap<String, String>) -> String {
    let name = names.get(group).map_or(group, String::as_str);
    match kind {
        ALL_DEVICES => "All Devices".to_string(),
        EXCLUSION => format!("exclusion of group {name:?}"),
        _ => format!("group {name:?}"),
    }
}

/// The plan for `tenant` (and `edits`) against `snapshot`, keeping
/// profiles the file does not have.
pub fn plan(
    snapshot: &Snapshot,
    tenant: &Tenant,
    edits: Option<&EditSet>,
) -> Result<SyncPlan, SyncPlanError> {
    plan_with(snapshot, tenant, edits, PlanOptions::default())
}

/// [`plan`] with options (`--prune`).
pub fn plan_with(
    snapshot: &Snapshot,
    tenant: &Tenant,
    edits: Option<&EditSet>,
    options: PlanOptions,
) -> Result<SyncPlan, SyncPlanError> {
    let validation = crate::autopilot::validate(tenant);
    let mut lint: Vec<String> =
        validation.findings.iter().filter(|f| f.is_error()).map(finding_text).collect();
    let warnings: Vec<String> =
        validation.findings.iter().filter(|f| !f.is_error()).map(finding_text).collect();
    let devices: Vec<Device> =
        snapshot.devices()?.into_iter().filter_map(|d| serde_json::from_value(d).ok()).collect();
    let resolved = edits.map(|e| e.resolve(&devices));
    if let Some(r) = &resolved {
        lint.extend(r.findings.iter().filter(|f| f.is_error()).map(finding_text));
    }
    let Some(checked) = validation.tenant.filter(|_| lint.is_empty()) else {
        return Err(SyncPlanError::Lint(lint));
    };
    let mut out = SyncPlan { warnings, ..SyncPlan::default() };
    let mut refusals = Vec::new();
    let groups = snapshot.groups()?;
    let created = group_actions(&groups, &checked, &mut out, &mut refusals);
    profile_actions(snapshot, &groups, &created, &checked, options, &mut out, &mut refusals)?;
    if let (Some(edits), Some(resolved)) = (edits, &resolved) {
        edit_actions(snapshot, edits, resolved, &devices, &mut out, &mut refusals)?;
    }
    refusals.extend(out.actions.iter().filter_map(unusable_id));
    if !refusals.is_empty() {
        return Err(SyncPlanError::Refused(refusals));
    }
    // Deletions first, then creations and updates.
    out.actions.sort_by_key(|a| match a {
        Action::DeleteAssignment { .. } => 0,
        Action::DeleteProfile { .. } => 1,
        Action::DeleteDevice { .. } => 2,
        Action::CreateGroup { .. } => 3,
        Action::UpdateGroup { .. } | Action::GroupMember { .. } => 4,
        Action::CreateProfile { .. } => 5,
        Action::UpdateProfile { .. } => 6,
        Action::CreateAssignment { .. } => 7,
        Action::UpdateDevice { .. } => 8,
        Action::ImportDevice { .. } => 9,
    });
    Ok(out)
}

/// A refusal for an action whose target id (from the snapshot) is missing
/// or is not a Graph id: such an action would address the wrong object.
fn unusable_id(action: &Action) -> Option<String> {
    let ids: Vec<(&str, &str)> = match action {
        Action::DeleteAssignment { profile_id, assignment_id, .. } => {
            vec![("profile", profile_id), ("assignment", assignment_id)]
        }
        Action::DeleteProfile { profile_id, .. } | Action::UpdateProfile { profile_id, .. } => {
            vec![("profile", profile_id)]
        }
        Action::DeleteDevice { autopilot_id, .. } | Action::UpdateDevice { autopilot_id, .. } => {
            vec![("Autopilot device", autopilot_id)]
        }
        Action::UpdateGroup { group_id, .. } => vec![("group", group_id)],
        Action::GroupMember { group_id, member, .. } => {
            let mut ids = vec![("member", member.as_str())];
            ids.extend(group_id.as_deref().map(|g| ("group", g)));
            ids
        }
        Action::CreateAssignment { profile_id: Some(id), .. } => vec![("profile", id)],
        Action::CreateGroup { .. }
        | Action::CreateProfile { .. }
        | Action::CreateAssignment { .. }
        | Action::ImportDevice { .. } => vec![],
    };
    let (what, id) = ids.into_iter().find(|(_, id)| !crate::msgraph::ids::is_valid(id))?;
    Some(format!(
        "{}: the snapshot has no usable {what} id ({}); run `fleetlab sync pull --full`",
        action.describe(),
        crate::msgraph::ids::shown(id)
    ))
}

/// A `mailNickname` for a group named `name` (graph-api.md §1.8: at most 64
/// ASCII characters, none of `@ ( ) \ [ ] " ; : . < > ,` or space): the
/// name lowercased, letters, digits and `_` kept, every run of other
/// characters (`-` included) one `-`. When that is taken (`used`, lowercase), or nothing
/// is left of the name, a hash of the full name makes it unique; the
/// result is deterministic, so a plan is the same each time.
///
/// ```
/// use std::collections::HashSet;
/// use fleetlab::msgraph::plan::mail_nickname;
/// assert_eq!(mail_nickname("Autopilot - NL-LT-FIN", &HashSet::new()), "autopilot-nl-lt-fin");
/// assert_eq!(mail_nickname("Kiosks (Lobby) @ HQ", &HashSet::new()), "kiosks-lobby-hq");
/// let taken = HashSet::from(["kiosks".to_string()]);
/// assert!(mail_nickname("Kiosks", &taken).starts_with("kiosks-"));
/// assert!(mail_nickname("Überwachung ✓", &HashSet::new()).is_ascii());
/// ```
pub fn mail_nickname(name: &str, used: &std::collections::HashSet<String>) -> String {
    let mut base = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            base.push(c);
        } else if !base.ends_with('-') {
            base.push('-');
        }
    }
    let base: String = base.trim_matches('-').chars().take(64).collect();
    if !base.is_empty() && !used.contains(&base) {
        return base;
    }
    // FNV-1a: stable across runs and Rust versions, unlike the std hasher.
    let hash = crate::msgraph::protocol::fnv(name.as_bytes(), 0);
    let stem: String = if base.is_empty() { "group".to_string() } else { base.chars().take(55).collect() };
    format!("{}-{:08x}", stem.trim_end_matches('-'), hash & 0xffff_ffff)
}

/// True for a group with `DynamicMembership` among its `groupTypes`.
pub(crate) fn is_dynamic(group: &Value) -> bool {
    group.get("groupTypes").and_then(Value::as_array).is_some_and(|t| {
        t.iter().any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("DynamicMembership")))
    })
}

/// True when two rule texts say the same thing (equal text, or equal
/// canonical form when both parse).
fn same_rule(stored: &str, wanted: &crate::rule::Rule) -> bool {
    if stored.trim() == wanted.source().trim() {
        return true;
    }
    crate::rule::Rule::new(stored).is_ok_and(|r| r.canonical() == wanted.canonical())
}

/// Creations and updates of the file's groups; returns the (lowercase)
/// names of the groups the plan creates.
fn group_actions(
    stored: &[StoredGroup],
    checked: &CheckedTenant,
    out: &mut SyncPlan,
    refusals: &mut Vec<String>,
) -> std::collections::HashSet<String> {
    let mut created = std::collections::HashSet::new();
    let mut by_name: HashMap<String, &Value> = HashMap::new();
    let mut nicknames = std::collections::HashSet::new();
    for g in stored {
        if let Some(name) = g.group.get("displayName").and_then(Value::as_str) {
            by_name.entry(name.to_lowercase()).or_insert(&g.group);
        }
        if let Some(nick) = g.group.get("mailNickname").and_then(Value::as_str) {
            nicknames.insert(nick.to_lowercase());
        }
    }
    for g in &checked.groups {
        let key = g.name.to_lowercase();
        let Some(current) = by_name.get(&key) else {
            if !created.insert(key) {
                continue;
            }
            let nickname = mail_nickname(&g.name, &nicknames);
            nicknames.insert(nickname.clone());
            let mut body = Map::new();
            body.insert("displayName".into(), json!(g.name));
            if let Some(d) = g.description.as_deref().filter(|d| !d.is_empty()) {
                body.insert("description".into(), json!(d));
            }
            body.insert("mailNickname".into(), json!(nickname));
            body.insert("mailEnabled".into(), json!(false));
            body.insert("securityEnabled".into(), json!(true));
            match &g.membership {
                Membership::Dynamic(rule) => {
                    body.insert("groupTypes".into(), json!(["DynamicMembership"]));
                    body.insert("membershipRule".into(), json!(rule.source()));
                    body.insert("membershipRuleProcessingState".into(), json!("On"));
                }
                Membership::Assigned(_) => {
                    body.insert("groupTypes".into(), json!([]));
                }
            }
            out.actions.push(Action::CreateGroup { group: g.name.clone(), body: Value::Object(body) });
            if let Membership::Assigned(members) = &g.membership {
                member_actions(&g.name, None, &[], members, out);
            }
            continue;
        };
        let id = current.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        let rule = match &g.membership {
            Membership::Dynamic(rule) => rule,
            Membership::Assigned(members) => {
                if is_dynamic(current) {
                    refusals.push(format!(
                        "group {:?} ({id}) exists as a dynamic group, not an assigned one; fleetlab does not \
                         convert groups: rename the group in the tenant file or convert it in the Entra admin center",
                        g.name
                    ));
                } else {
                    let stored_members = stored
                        .iter()
                        .find(|s| s.group.get("id").and_then(Value::as_str) == Some(id.as_str()))
                        .map_or(&[][..], |s| &s.members[..]);
                    member_actions(&g.name, Some(&id), stored_members, members, out);
                    description_patch(g, current, &id, out);
                }
                continue;
            }
        };
        if !is_dynamic(current) {
            refusals.push(format!(
                "group {:?} ({id}) exists as an assigned group, not a dynamic one; fleetlab does not convert                  groups: rename the group in the tenant file or convert it in the Entra admin center",
                g.name
            ));
            continue;
        }
        let mut patch = Map::new();
        let stored_rule = current.get("membershipRule").and_then(Value::as_str).unwrap_or("");
        if !same_rule(stored_rule, rule) {
            patch.insert("membershipRule".into(), json!(rule.source()));
        }
        if let Some(d) = &g.description {
            if current.get("description").and_then(Value::as_str).unwrap_or("") != d {
                patch.insert("description".into(), json!(d));
            }
        }
        if !patch.is_empty() {
            out.actions.push(Action::UpdateGroup {
                group: g.name.clone(),
                group_id: id,
                changed: patch.keys().cloned().collect(),
                body: Value::Object(patch),
            });
        }
    }
    created
}

/// The adds and removals that turn an assigned group's `stored` members
/// into `wanted` (object ids, compared case-insensitively), one request each.
fn member_actions(
    group: &str,
    group_id: Option<&str>,
    stored: &[String],
    wanted: &[String],
    out: &mut SyncPlan,
) {
    let has = |list: &[String], id: &str| list.iter().any(|m| m.trim().eq_ignore_ascii_case(id.trim()));
    let mut seen: Vec<&str> = Vec::new();
    for m in wanted {
        if !has(stored, m) && !seen.iter().any(|s| s.eq_ignore_ascii_case(m.trim())) {
            seen.push(m.trim());
            out.actions.push(Action::GroupMember {
                group: group.to_string(),
                group_id: group_id.map(str::to_string),
                member: m.trim().to_string(),
                add: true,
            });
        }
    }
    for m in stored.iter().filter(|m| !has(wanted, m)) {
        out.actions.push(Action::GroupMember {
            group: group.to_string(),
            group_id: group_id.map(str::to_string),
            member: m.clone(),
            add: false,
        });
    }
}

/// The description patch of an existing group, when the file's differs.
fn description_patch(g: &crate::autopilot::CheckedGroup, current: &Value, id: &str, out: &mut SyncPlan) {
    let Some(d) = &g.description else { return };
    if current.get("description").and_then(Value::as_str).unwrap_or("") != d {
        out.actions.push(Action::UpdateGroup {
            group: g.name.clone(),
            group_id: id.to_string(),
            changed: vec!["description".into()],
            body: json!({ "description": d }),
        });
    }
}

/// The stored profile read back through the tenant model and written as
/// [`graph_json::to_graph`] would: what it means, in the shape a desired
/// body has. `None` when fleetlab cannot read or check it.
fn canonical_profile(stored: &Value) -> Option<Value> {
    let mut settings = stored.clone();
    settings.as_object_mut()?.remove("assignments");
    let source = Source::new("snapshot", settings.to_string());
    let (mut specs, _) = graph_json::read_profiles(&source).ok()?;
    let (profile, _) = check_profile(&specs.pop()?);
    Some(graph_json::to_graph(&profile?))
}

#[allow(clippy::too_many_arguments)]
fn profile_actions(
    snapshot: &Snapshot,
    groups: &[StoredGroup],
    created_groups: &std::collections::HashSet<String>,
    checked: &CheckedTenant,
    options: PlanOptions,
    out: &mut SyncPlan,
    refusals: &mut Vec<String>,
) -> Result<(), SyncPlanError> {
    let mut group_ids: HashMap<String, String> = HashMap::new();
    let mut group_names: HashMap<String, String> = HashMap::new();
    for g in groups {
        let id = g.group.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        let name = g.group.get("displayName").and_then(Value::as_str).unwrap_or("").to_string();
        group_ids.insert(name.to_lowercase(), id.clone());
        group_names.insert(id, name);
    }
    let existing = snapshot.profiles()?;
    let mut by_name: BTreeMap<String, &Value> = BTreeMap::new();
    for p in &existing {
        if let Some(name) = p.get("displayName").and_then(Value::as_str) {
            by_name.insert(name.to_lowercase(), p);
        }
    }
    // All-Devices assignments that stay: on profiles the file does not manage.
    let mut all_devices_after =
        existing_profile_actions(&existing, checked, options, &group_names, out, refusals);
    for assigned in &checked.profiles {
        let profile = &assigned.profile;
        let name = profile.name().to_string();
        let mut body = graph_json::to_graph(profile);
        if let Some(obj) = body.as_object_mut() {
            obj.remove("id");
            obj.remove("createdDateTime");
            obj.remove("lastModifiedDateTime");
        }
        // Desired targets: (kind, group id, the group's name when this plan creates it).
        let mut desired: Vec<(String, String, Option<String>)> = Vec::new();
        for (list, kind) in [(&assigned.include, GROUP), (&assigned.exclude, EXCLUSION)] {
            for &g in list.iter() {
                let gname = checked.groups.get(g).map(|g| g.name.clone()).unwrap_or_default();
                match group_ids.get(&gname.to_lowercase()) {
                    Some(id) => desired.push((kind.to_string(), id.clone(), None)),
                    None if created_groups.contains(&gname.to_lowercase()) => {
                        desired.push((kind.to_string(), String::new(), Some(gname)))
                    }
                    None => refusals.push(format!("profile {name:?}: group {gname:?} does not exist in the tenant (pull, or create it first)")),
                }
            }
        }
        if assigned.all_devices {
            desired.push((ALL_DEVICES.to_string(), String::new(), None));
            all_devices_after.push(name.clone());
        }
        let current = by_name.get(&name.to_lowercase());
        let profile_id = current.and_then(|p| p.get("id")).and_then(Value::as_str).map(str::to_string);
        match current {
            None => out.actions.push(Action::CreateProfile { profile: name.clone(), body: body.clone() }),
            Some(cur) => update_profile(cur, &body, &name, profile_id.as_deref(), out, refusals),
        }
        assignment_actions(current.copied(), &desired, &name, profile_id.as_deref(), &group_names, out);
    }
    if all_devices_after.len() > 1 {
        refusals.push(format!(
            "only one profile may be assigned to All Devices; after this plan {} would be: {} \
             (Graph: \"Another Profile … is already assigned to All Devices.\")",
            all_devices_after.len(),
            all_devices_after.join(", ")
        ));
    }
    Ok(())
}

/// Actions on the profiles the tenant has now: with `--prune`, delete the
/// ones the file does not manage (their direct assignments first). Returns
/// the profiles that stay assigned to All Devices.
fn existing_profile_actions(
    existing: &[Value],
    checked: &CheckedTenant,
    options: PlanOptions,
    group_names: &HashMap<String, String>,
    out: &mut SyncPlan,
    refusals: &mut Vec<String>,
) -> Vec<String> {
    let mut all_devices_after: Vec<String> = Vec::new();
    let managed: Vec<String> = checked.profiles.iter().map(|p| p.profile.name().to_lowercase()).collect();
    for p in existing {
        let name = p.get("displayName").and_then(Value::as_str).unwrap_or("");
        let id = p.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        let unmanaged = !managed.contains(&name.to_lowercase());
        let pruned = unmanaged && options.prune;
        if unmanaged && !pruned {
            out.unmanaged_profiles.push(name.to_string());
        }
        let assignments: Vec<&Value> =
            p.get("assignments").and_then(Value::as_array).into_iter().flatten().collect();
        for a in &assignments {
            let direct = a.get("source").and_then(Value::as_str).is_none_or(|s| s == "direct");
            let (kind, group) = a.get("target").map(target_key).unwrap_or_default();
            if kind == ALL_DEVICES && ((unmanaged && !pruned) || !direct) {
                all_devices_after.push(if id.is_empty() { name.to_string() } else { id.clone() });
            }
            if !pruned {
                continue;
            }
            if direct {
                out.actions.push(Action::DeleteAssignment {
                    profile: name.to_string(),
                    profile_id: id.clone(),
                    assignment_id: a.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
                    target: describe_target(&kind, &group, group_names),
                });
            } else {
                refusals.push(format!(
                    "profile {name:?} is not in the tenant file, but a policy set ({}) assigns it; fleetlab touches                      only direct assignments: remove it from the policy set first, or add it to the tenant file",
                    a.get("sourceId").and_then(Value::as_str).unwrap_or("unknown")
                ));
            }
        }
        if pruned {
            out.actions.push(Action::DeleteProfile { profile: name.to_string(), profile_id: id });
        }
    }
    all_devices_after
}

/// A PATCH of the properties of `cur` whose meaning `body` changes; a
/// change of join type is refused.
fn update_profile(
    cur: &Value,
    body: &Value,
    name: &str,
    profile_id: Option<&str>,
    out: &mut SyncPlan,
    refusals: &mut Vec<String>,
) {
    let (cur_type, new_type) = (crate::odata::of(cur), crate::odata::of(body));
    if cur_type.is_some_and(|c| !new_type.is_some_and(|n| crate::odata::same(c, n))) {
        refusals.push(format!("profile {name:?}: the join type cannot change; create a new profile instead"));
    }
    let mut changed = Vec::new();
    let mut patch = Map::new();
    let meaning = canonical_profile(cur);
    for (k, v) in body.as_object().into_iter().flatten() {
        if k == "@odata.type" {
            continue;
        }
        if cur.get(k) != Some(v) && meaning.as_ref().and_then(|m| m.get(k)) != Some(v) {
            changed.push(k.clone());
            patch.insert(k.clone(), v.clone());
        }
    }
    if !changed.is_empty() {
        if let Some(t) = body.get("@odata.type") {
            patch.insert("@odata.type".into(), t.clone());
        }
        out.actions.push(Action::UpdateProfile {
            profile: name.to_string(),
            profile_id: profile_id.unwrap_or_default().to_string(),
            changed,
            body: Value::Object(patch),
        });
    }
}

/// Assignment actions of one profile: delete the direct targets it should
/// no longer have, create the ones it lacks.
fn assignment_actions(
    current: Option<&Value>,
    desired: &[(String, String, Option<String>)],
    name: &str,
    profile_id: Option<&str>,
    group_names: &HashMap<String, String>,
    out: &mut SyncPlan,
) {
    let mut current_targets: Vec<((String, String), String)> = Vec::new();
    for a in current.and_then(|p| p.get("assignments")).and_then(Value::as_array).into_iter().flatten() {
        if a.get("source").and_then(Value::as_str).is_some_and(|s| s != "direct") {
            continue;
        }
        let key = a.get("target").map(target_key).unwrap_or_default();
        let id = a.get("id").and_then(Value::as_str).unwrap_or("").to_string();
        current_targets.push((key, id));
    }
    for ((kind, group), id) in &current_targets {
        if !desired.iter().any(|(k, g, pending)| pending.is_none() && k == kind && g == group) {
            out.actions.push(Action::DeleteAssignment {
                profile: name.to_string(),
                profile_id: profile_id.unwrap_or_default().to_string(),
                assignment_id: id.clone(),
                target: describe_target(kind, group, group_names),
            });
        }
    }
    for (kind, group, pending) in desired {
        if pending.is_none() && current_targets.iter().any(|(k, _)| k.0 == *kind && k.1 == *group) {
            continue;
        }
        let mut target = Map::new();
        target.insert("@odata.type".into(), json!(kind));
        if !group.is_empty() {
            target.insert("groupId".into(), json!(group));
        }
        out.actions.push(Action::CreateAssignment {
            profile: name.to_string(),
            profile_id: profile_id.map(str::to_string),
            target: match pending {
                Some(g) => describe_target(kind, g, group_names),
                None => describe_target(kind, group, group_names),
            },
            group: pending.clone(),
            body: json!({ "target": Value::Object(target) }),
        });
    }
}

fn edit_actions(
    snapshot: &Snapshot,
    edits: &EditSet,
    resolved: &crate::autopilot::Resolved,
    devices: &[Device],
    out: &mut SyncPlan,
    refusals: &mut Vec<String>,
) -> Result<(), SyncPlanError> {
    let identities = snapshot.autopilot_devices()?;
    let by_device_id: HashMap<String, &Value> = identities
        .iter()
        .filter_map(|i| {
            i.get("azureActiveDirectoryDeviceId")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|d| (d.to_lowercase(), i))
        })
        .collect();
    let identity_of = |index: Option<usize>| -> Option<&Value> {
        let device = devices.get(index?)?;
        by_device_id.get(&device.device_id.as_deref()?.to_lowercase()).copied()
    };
    for (edit, index) in edits.edits.iter().zip(&resolved.edits) {
        let Some(identity) = identity_of(*index) else {
            refusals.push(format!(
                "edit of {:?}: no Autopilot identity found for it in the snapshot",
                edit.device
            ));
            continue;
        };
        let mut body = Map::new();
        let fields = [
            ("groupTag", &edit.group_tag),
            ("userPrincipalName", &edit.user),
            ("addressableUserName", &edit.friendly_name),
            ("displayName", &edit.device_name),
        ];
        for (key, wanted) in fields {
            if let Some(w) = wanted {
                if identity.get(key).and_then(Value::as_str).unwrap_or("") != w {
                    body.insert(key.to_string(), json!(w));
                }
            }
        }
        if !body.is_empty() {
            out.actions.push(Action::UpdateDevice {
                device: edit.device.clone(),
                autopilot_id: identity.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
                body: Value::Object(body),
            });
        }
    }
    for (delete, index) in edits.deletes.iter().zip(&resolved.deletes) {
        // Already gone: nothing to do (idempotent).
        if let Some(identity) = identity_of(*index) {
            out.actions.push(Action::DeleteDevice {
                device: delete.device.clone(),
                autopilot_id: identity.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
            });
        }
    }
    Ok(())
}
