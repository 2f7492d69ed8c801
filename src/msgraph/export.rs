//! The snapshot as a tenant file (`fleetlab sync export --tenant FILE`):
//! the groups with their rules (dynamic) or members (assigned), the deployment profiles with their
//! settings and direct assignments, in the format
//! [`crate::autopilot::Tenant`] reads.
//!
//! Decisions, and why:
//!
//! * **Round trip is the contract.** `fleetlab sync plan` on the written
//!   file against the same snapshot finds nothing to do. So profile
//!   settings go through the same reader a tenant file's `graph = "…"`
//!   profile uses ([`graph_json::read_profiles`]): what the plan compares
//!   is exactly what the file will say.
//! * **One self-contained file**, settings inline rather than `graph =`
//!   references: it can be reviewed and diffed as text, and lives without
//!   the snapshot. Groups are named, never referred to by id: the tenant
//!   file's assignments are by name, and Graph ids do not survive a
//!   tenant rebuild. The ids are written too (`id`), for the record.
//! * **Assigned (static) groups are written with their members** (direct
//!   member object ids, as the snapshot holds them): a tenant file says
//!   `members = [...]` where a dynamic group says `rule`.
//! * **What a tenant file cannot say is left out, loudly.** Assignments
//!   from policy sets belong to the policy set; an
//!   assignment whose group is not in the snapshot cannot be named. Each
//!   is a [`TenantExport::notes`] line and a comment at the top of the
//!   file, so a plan on the file that wants to remove such an assignment
//!   does not come as a surprise.
//! * A group whose display name repeats keeps its first occurrence (a
//!   tenant file refers to groups by name); the others are notes.
//! * **One profile never fails the file.** Graph's beta schema adds
//!   profile types; a profile whose `@odata.type` is neither of the two
//!   fleetlab reads, or that the reader rejects, stays in the snapshot as
//!   Graph sent it (`sync export --profiles DIR` writes it) and is a note
//!   here, with its assignments. Types are compared with [`crate::odata`],
//!   so `#microsoft.graph.x` and `microsoft.graph.x` are the same type.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::autopilot::graph_json;
use crate::autopilot::source::Source;
use crate::autopilot::{EspSpec, ProfileSpec, TenantError};
use crate::msgraph::snapshot::{Snapshot, SnapshotError};

use crate::odata::{self, ALL_DEVICES_TARGET, EXCLUSION_TARGET, GROUP_TARGET};

/// Why the snapshot could not be written as a tenant file.
#[derive(Debug, thiserror::Error)]
pub enum TenantExportError {
    /// The snapshot could not be read.
    #[error("snapshot {0}")]
    Snapshot(#[from] SnapshotError),
}

/// A tenant file made from a snapshot.
#[derive(Clone, Debug, Default)]
pub struct TenantExport {
    /// The TOML text.
    pub text: String,
    /// Groups written.
    pub groups: usize,
    /// Profiles written.
    pub profiles: usize,
    /// What could not be written, one sentence each.
    pub notes: Vec<String>,
}

/// A group to write: name, description, rule (dynamic) or members
/// (assigned), id.
type ExportedGroup = (String, Option<String>, Result<String, Vec<String>>, String);

/// The snapshot's groups and profiles as tenant-file TOML. `label` names
/// the snapshot in the file's header comment.
pub fn tenant_toml(snapshot: &Snapshot, label: &str) -> Result<TenantExport, TenantExportError> {
    let mut notes = Vec::new();
    let mut groups: Vec<ExportedGroup> = Vec::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut taken: HashMap<String, String> = HashMap::new();
    let mut stored = snapshot.groups()?;
    stored.sort_by_key(|g| str_of(&g.group, "displayName").to_lowercase());
    for g in &stored {
        let (id, name) = (str_of(&g.group, "id"), str_of(&g.group, "displayName"));
        let dynamic = g.group.get("groupTypes").and_then(Value::as_array).is_some_and(|t| {
            t.iter().any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("DynamicMembership")))
        });
        let rule = g.group.get("membershipRule").and_then(Value::as_str).filter(|r| !r.trim().is_empty());
        // Ok: a dynamic group's rule; Err: an assigned group's members.
        let membership = match rule.filter(|_| dynamic) {
            Some(rule) => Ok(rule.to_string()),
            None => Err(g.members.clone()),
        };
        if let Some(first) = taken.get(&name.to_lowercase()) {
            notes.push(format!(
                "group {name:?} ({id}) has the name of group {first}: only the first is written, and assignments to \
                 this one are left out"
            ));
            continue;
        }
        taken.insert(name.to_lowercase(), id.clone());
        names.insert(id.to_lowercase(), name.clone());
        let description = g.group.get("description").and_then(Value::as_str).map(str::to_string);
        groups.push((name, description.filter(|d| !d.is_empty()), membership, id));
    }

    let mut profiles = Vec::new();
    for raw in snapshot.profiles()? {
        let id = str_of(&raw, "id");
        let pname = str_of(&raw, "displayName");
        let mut settings = raw.clone();
        let assignments = settings.as_object_mut().and_then(|o| o.remove("assignments"));
        let kind = odata::of(&raw).unwrap_or("(none)");
        if odata::profile_kind(kind).is_none() {
            notes.push(format!(
                "profile {pname:?} ({id}) has the type {kind}, which fleetlab does not read; it stays in the \
                 snapshot as Graph sent it (`sync export --profiles DIR` writes it), with its assignments"
            ));
            continue;
        }
        let source = Source::new(format!("snapshot profile {id}"), settings.to_string());
        let mut specs = match graph_json::read_profiles(&source) {
            Ok((specs, _)) => specs,
            Err(e) => {
                notes.push(format!(
                    "profile {pname:?} ({id}) cannot be read ({}), nor its assignments",
                    reason(&e)
                ));
                continue;
            }
        };
        let Some(mut spec) = specs.pop() else { continue };
        for a in assignments.as_ref().and_then(Value::as_array).into_iter().flatten() {
            let source_kind = a.get("source").and_then(Value::as_str).unwrap_or("direct");
            let target = a.get("target").cloned().unwrap_or(Value::Null);
            let kind = str_of(&target, "@odata.type");
            let group = str_of(&target, "groupId");
            if source_kind != "direct" {
                notes.push(format!(
                    "profile {pname:?}: the assignment {} comes from a policy set ({}); left to the policy set",
                    str_of(a, "id"),
                    str_of(a, "sourceId")
                ));
                continue;
            }
            match (odata::target_kind(&kind), names.get(&group.to_lowercase())) {
                (Some(ALL_DEVICES_TARGET), _) => spec.all_devices = true,
                (Some(GROUP_TARGET), Some(n)) => spec.include.push(n.clone()),
                (Some(EXCLUSION_TARGET), Some(n)) => spec.exclude.push(n.clone()),
                _ => notes.push(format!(
                    "profile {pname:?}: the assignment to group {group} ({kind}) names no group of the \
                     snapshot; left out, so a plan on this file would remove it"
                )),
            }
        }
        profiles.push(spec);
    }
    profiles.sort_by_key(|p| p.name.to_lowercase());

    let mut text = String::new();
    text.push_str(&format!(
        "# Tenant file written by `fleetlab sync export --tenant` from {label}.\n\
         # `fleetlab sync plan --tenant` on it against that snapshot finds nothing to do.\n"
    ));
    for n in &notes {
        text.push_str(&format!("#\n# not written: {n}\n"));
    }
    for (name, description, membership, id) in &groups {
        text.push_str("\n[[group]]\n");
        line(&mut text, "name", &string(name));
        if let Some(d) = description {
            line(&mut text, "description", &string(d));
        }
        line(&mut text, "id", &string(id));
        match membership {
            Ok(rule) => line(&mut text, "rule", &string(rule)),
            Err(members) => line(&mut text, "members", &strings(members)),
        }
    }
    for p in &profiles {
        write_profile(&mut text, p);
    }
    Ok(TenantExport { text, groups: groups.len(), profiles: profiles.len(), notes })
}

/// The reader's complaint in one line.
fn reason(e: &TenantError) -> String {
    e.to_string().lines().next().unwrap_or("").to_string()
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn line(out: &mut String, key: &str, value: &str) {
    out.push_str(key);
    out.push_str(" = ");
    out.push_str(value);
    out.push('\n');
}

/// A TOML string: a literal `'''…'''` string when the text allows it
/// (rules keep their quotes and backslashes readable), else a basic one.
fn string(s: &str) -> String {
    let literal_ok = !s.contains("'''")
        && !s.ends_with('\'')
        && !s.starts_with('\n')
        && s.chars().all(|c| c == '\t' || !c.is_control());
    if literal_ok && (s.contains('"') || s.contains('\\')) {
        return format!("'''{s}'''");
    }
    toml::Value::String(s.to_string()).to_string()
}

fn strings(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| string(s)).collect();
    format!("[{}]", items.join(", "))
}

/// A value of one of the tenant file's kebab-case enums.
fn kebab<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(string))
}

fn write_profile(out: &mut String, p: &ProfileSpec) {
    out.push_str("\n[[profile]]\n");
    line(out, "name", &string(&p.name));
    if let Some(d) = p.description.as_deref().filter(|d| !d.is_empty()) {
        line(out, "description", &string(d));
    }
    if let Some(id) = &p.id {
        line(out, "id", &string(id));
    }
    if let Some(created) = &p.created {
        // A bare TOML date-time when it is one, as hand-written files have it.
        let text = created.to_string();
        let bare = text.parse::<toml::value::Datetime>().is_ok();
        line(out, "created", &if bare { text } else { string(&text) });
    }
    let enums: [(&str, Option<String>); 7] = [
        ("join", p.join.as_ref().and_then(kebab)),
        ("device_type", p.device_type.as_ref().and_then(kebab)),
        ("mode", p.mode.as_ref().and_then(kebab)),
        ("user_type", p.user_type.as_ref().and_then(kebab)),
        ("license_terms", p.license_terms.as_ref().and_then(kebab)),
        ("privacy_settings", p.privacy_settings.as_ref().and_then(kebab)),
        ("change_account_options", p.change_account_options.as_ref().and_then(kebab)),
    ];
    for (key, value) in enums {
        if let Some(v) = value {
            line(out, key, &v);
        }
    }
    let flags = [
        ("pre_provisioning", p.pre_provisioning),
        ("automatic_keyboard", p.automatic_keyboard),
        ("convert_all_targeted_devices", p.convert_all_targeted_devices),
        ("skip_connectivity_check", p.skip_connectivity_check),
    ];
    for (key, value) in flags {
        if let Some(v) = value {
            line(out, key, &v.to_string());
        }
    }
    if let Some(l) = &p.locale {
        line(out, "locale", &string(l));
    }
    if let Some(t) = &p.device_name_template {
        line(out, "device_name_template", &string(t));
    }
    if let Some(tags) = &p.role_scope_tags {
        line(out, "role_scope_tags", &strings(tags));
    }
    if p.all_devices {
        line(out, "all_devices", "true");
    }
    if !p.include.is_empty() {
        line(out, "include", &strings(&p.include));
    }
    if !p.exclude.is_empty() {
        line(out, "exclude", &strings(&p.exclude));
    }
    if let Some(esp) = &p.esp {
        write_esp(out, esp);
    }
}

fn write_esp(out: &mut String, esp: &EspSpec) {
    let Ok(Value::Object(fields)) = serde_json::to_value(esp) else { return };
    let set: BTreeMap<&String, &Value> = fields.iter().filter(|(_, v)| !v.is_null()).collect();
    if set.is_empty() {
        return;
    }
    out.push_str("\n[profile.esp]\n");
    for (key, value) in set {
        let text = match value {
            Value::String(s) => string(s),
            Value::Array(list) => {
                strings(&list.iter().filter_map(Value::as_str).map(str::to_string).collect::<Vec<_>>())
            }
            other => other.to_string(),
        };
        line(out, key, &text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_stay_readable_and_valid() -> Result<(), Box<dyn std::error::Error>> {
        let rule = r#"(device.devicePhysicalIds -any (_ -eq "[OrderID]:NL-LT-FIN"))"#;
        assert_eq!(string(rule), format!("'''{rule}'''"));
        for s in [rule, "plain", "it's", "a'''b", "tab\there", "back\\slash'", "line\nbreak"] {
            let doc: toml::Table = toml::from_str(&format!("k = {}", string(s)))?;
            assert_eq!(doc.get("k").and_then(|v| v.as_str()), Some(s), "{s:?}");
        }
        Ok(())
    }
}
