//! Loading inventories for the commands, with the checks they all share:
//! an empty inventory is an error unless asked for, repeated ids are
//! reported (the last record wins, see [`crate::inventory::dedup`]), and
//! so are field names fleetlab does not read because Graph spells them
//! differently, and properties a rule reads that no record carries.
//!
//! Why warnings and not errors: each of these has legitimate uses (a
//! tenant can have no device with `deviceCategory` set), but each can also
//! make a rule quietly match nothing, which is the one answer an admin
//! cannot tell from a right one.

use std::path::Path;

use serde::Serialize;

use super::{fail, Failure};
use crate::autopilot::{CheckedTenant, Tenant, Validation};
use crate::fleet::{load_index_projected, FleetIndex};
use crate::inventory::{load_users, Projection, User};
use crate::rule::{ObjectType, Property, Record, Rule};

/// Something about an inventory worth knowing before trusting a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(super) struct InventoryWarning {
    /// A stable code: `duplicate-id`, `rule-style-field` or `unread-property`.
    pub code: &'static str,
    /// What fleetlab noticed, naming the file.
    pub message: String,
}

impl InventoryWarning {
    fn new(code: &'static str, message: String) -> Self {
        InventoryWarning { code, message }
    }
}

/// Prints warnings on stderr, one per line.
pub(super) fn print(warnings: &[InventoryWarning]) {
    for w in warnings {
        eprintln!("warning[{}]: {}", w.code, w.message);
    }
}

fn empty(path: &Path, what: &str) -> Failure {
    fail(format!("no {what} in {}; pass --allow-empty to accept an empty inventory", path.display()))
}

fn misnamed(path: &Path, object: ObjectType, names: &[&'static str]) -> Vec<InventoryWarning> {
    names
        .iter()
        .filter_map(|name| {
            let graph = Property::lookup(object, name)?.graph_field();
            Some(InventoryWarning::new(
                "rule-style-field",
                format!(
                    "{}: records have a `{name}` field, which fleetlab does not read: rules say \
                     {object}.{name}, but Graph (and fleetlab) call the field `{graph}`",
                    path.display()
                ),
            ))
        })
        .collect()
}

/// A device inventory as the columnar index, with its warnings.
pub(super) fn devices(
    path: &Path,
    allow_empty: bool,
    progress: &(dyn Fn(u64) + Sync),
    projection: &Projection,
) -> Result<(FleetIndex, Vec<InventoryWarning>), Failure> {
    let index = load_index_projected(path, progress, projection).map_err(fail)?;
    if index.is_empty() && !allow_empty {
        return Err(empty(path, "devices"));
    }
    let (index, duplicates) = index.last_record_wins().map_err(fail)?;
    let mut warnings: Vec<InventoryWarning> = duplicates
        .iter()
        .map(|d| InventoryWarning::new("duplicate-id", format!("{}: {d}", path.display())))
        .collect();
    warnings.extend(misnamed(path, ObjectType::Device, index.misnamed_fields()));
    Ok((index, warnings))
}

/// A user inventory, with its warnings.
pub(super) fn users(path: &Path, allow_empty: bool) -> Result<(Vec<User>, Vec<InventoryWarning>), Failure> {
    let users = load_users(path).map_err(fail)?;
    if users.is_empty() && !allow_empty {
        return Err(empty(path, "users"));
    }
    let (keep, duplicates) =
        crate::inventory::dedup::last_wins(users.iter().map(crate::inventory::HasId::id));
    let users: Vec<User> = users.into_iter().zip(keep).filter_map(|(u, k)| k.then_some(u)).collect();
    let mut warnings: Vec<InventoryWarning> = duplicates
        .iter()
        .map(|d| InventoryWarning::new("duplicate-id", format!("{}: {d}", path.display())))
        .collect();
    let mut names: Vec<&'static str> = Vec::new();
    for name in users.iter().flat_map(User::misnamed) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    warnings.extend(misnamed(path, ObjectType::User, &names));
    Ok((users, warnings))
}

/// True when some user has a value for `property`.
pub(super) fn users_carry(users: &[User], property: &Property) -> bool {
    users.iter().any(|u| {
        if property.ty().is_collection() {
            u.any_item(property, &mut |_| true) || u.any_plan(&mut |_| true)
        } else {
            !matches!(u.scalar(property), crate::rule::Scalar::Null)
        }
    })
}

/// One warning per property the rules read that no record carries.
pub(super) fn unread(
    path: &Path,
    rules: &[&Rule],
    carries: &dyn Fn(&Property) -> bool,
) -> Vec<InventoryWarning> {
    let mut seen: Vec<Property> = Vec::new();
    let mut out = Vec::new();
    for property in rules.iter().flat_map(|r| r.properties()) {
        if seen.contains(&property) || carries(&property) {
            continue;
        }
        let object = property.object();
        out.push(InventoryWarning::new(
            "unread-property",
            format!(
                "{}: no record has `{}` (the Graph field {property} reads), so every {object} reads \
                 it as unset",
                path.display(),
                property.graph_field(),
            ),
        ));
        seen.push(property);
    }
    out
}

/// A tenant file, read; the one way every command reads one (a file that
/// cannot be read or parsed: exit 2).
pub(super) fn tenant(path: &Path) -> Result<Tenant, Failure> {
    Tenant::load(path).map_err(fail)
}

/// A tenant file, read and checked: errors are printed and end the command
/// with exit 1 (invalid input), warnings are counted on stderr. `purpose`
/// names what the command would have done (`plan`, `derive flows for`).
pub(super) fn checked_tenant(path: &Path, purpose: &str) -> Result<CheckedTenant, Failure> {
    let tenant = tenant(path)?;
    let Validation { findings, tenant: checked } = crate::autopilot::validate(&tenant);
    let Some(checked) = checked else {
        for f in findings.iter().filter(|f| f.is_error()) {
            eprint!("{}", super::autopilot::finding_text(f));
        }
        eprintln!(
            "error: {} has {} error(s); Intune would not accept it, so there is nothing to {purpose} \
             (fleetlab lint {} lists every finding)",
            path.display(),
            findings.iter().filter(|f| f.is_error()).count(),
            path.display()
        );
        return Err(super::CliError::Findings);
    };
    if !findings.is_empty() {
        eprintln!(
            "warning: {} has {} warning(s); fleetlab lint {} lists them",
            path.display(),
            findings.len(),
            path.display()
        );
    }
    Ok(checked)
}
