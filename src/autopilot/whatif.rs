//! What-if: two plans of the same inventory, compared device by device.
//!
//! The two plans come from two tenant files (a proposed restructure
//! against production) or from one tenant before and after an edit set.
//! Devices are matched by object id, so the comparison holds even when an
//! edit renames a device; groups and profiles are compared by name, so
//! two tenant files may order them differently. A device *changes* when
//! its groups, its profile, its mode, its registration or a device-type
//! mismatch differ; a device that still gets the same profile but now
//! through a multiple match is reported too, because the next profile
//! created for it will lose to the oldest.
//!
//! [`run`] is the whole pipeline (plan the change, compare), so the
//! command line and the local API answer the same what-if; [`compare`] is
//! its last step, for callers that already hold both plans.
//!
//! Decision: an edit set's errors do not stop [`run`]; they come back as
//! findings with the comparison, and the caller decides whether to show
//! the comparison anyway (the API does, so an editor can show both) or
//! to refuse (the command line does, as Intune would refuse the edits).

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::autopilot::assign::{AssignError, DevicePlan, Plan, Summary};
use crate::autopilot::checks::Finding;
use crate::autopilot::edits::{Applied, EditSet};
use crate::autopilot::profile::EnrollmentMode;
use crate::autopilot::validate::CheckedTenant;
use crate::fleet::{ColumnOverflow, FleetIndex};

/// How one device differs between the plans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeviceChange {
    /// Entra object id.
    pub id: String,
    /// Display name (after).
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// Groups it joins.
    pub groups_added: Vec<String>,
    /// Groups it leaves.
    pub groups_removed: Vec<String>,
    /// Profile before and after.
    pub profile: Side<Option<String>>,
    /// Mode before and after.
    pub mode: Side<Option<EnrollmentMode>>,
    /// Registered before and after.
    pub registered: Side<bool>,
    /// Why, before and after.
    pub reason: Side<String>,
    /// A device-type mismatch after the change.
    pub mismatch_after: Option<String>,
}

impl DeviceChange {
    /// True when the profile differs.
    pub fn profile_changed(&self) -> bool {
        self.profile.before != self.profile.after
    }
    /// True when the mode differs.
    pub fn mode_changed(&self) -> bool {
        self.mode.before != self.mode.after
    }
    /// True when the groups differ.
    pub fn groups_changed(&self) -> bool {
        !self.groups_added.is_empty() || !self.groups_removed.is_empty()
    }
}

/// A value before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Side<T> {
    /// Before.
    pub before: T,
    /// After.
    pub after: T,
}

/// The comparison.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WhatIf {
    /// Devices that change, in inventory order (of the "before" plan).
    pub changes: Vec<DeviceChange>,
    /// Devices whose profile changes.
    pub profile_changed: usize,
    /// Devices whose mode changes.
    pub mode_changed: usize,
    /// Devices whose groups change.
    pub groups_changed: usize,
    /// Profile counts before and after, by name.
    pub profiles: Vec<ProfileCount>,
    /// Summary before.
    pub before: Summary,
    /// Summary after.
    pub after: Summary,
}

/// Devices of one profile before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProfileCount {
    /// The profile's name.
    pub name: String,
    /// Its mode (after when it exists after, else before).
    pub mode: EnrollmentMode,
    /// Devices before (`None` when the profile does not exist before).
    pub before: Option<usize>,
    /// Devices after.
    pub after: Option<usize>,
    /// Devices it matches after but loses to an older profile.
    pub lost_after: usize,
}

/// Compares `before` with `after`.
///
/// ```
/// use fleetlab::autopilot::{whatif, validate, Tenant};
/// use fleetlab::fleet::FleetIndex;
/// use fleetlab::inventory::Device;
/// let a = Tenant::parse("[[profile]]\nname = 'Old'\nall_devices = true\n", "a.toml".as_ref())?;
/// let b = Tenant::parse("[[profile]]\nname = 'New'\nall_devices = true\npre_provisioning = true\n", "b.toml".as_ref())?;
/// let devices: Vec<Device> = serde_json::from_str(r#"[{"id": "x", "physicalIds": ["[ZTDId]:1"]}]"#)?;
/// let index = FleetIndex::from_devices(&devices)?;
/// let plan = |t| validate(t).tenant.ok_or("invalid").map(|c| c.plan(&index));
/// let diff = whatif::compare(&plan(&a)??, &plan(&b)??);
/// assert_eq!(diff.changes[0].profile.after.as_deref(), Some("New"));
/// assert_eq!(diff.mode_changed, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compare(before: &Plan, after: &Plan) -> WhatIf {
    let after_by_id: HashMap<&str, &DevicePlan> = after.devices.iter().map(|d| (d.id.as_str(), d)).collect();
    let mut changes = Vec::new();
    for b in &before.devices {
        let Some(a) = after_by_id.get(b.id.as_str()) else { continue };
        let groups = |p: &Plan, d: &DevicePlan| -> BTreeSet<String> {
            d.groups.iter().filter_map(|&g| p.groups.get(g).cloned()).collect()
        };
        let (gb, ga) = (groups(before, b), groups(after, a));
        let profile =
            |p: &Plan, d: &DevicePlan| d.profile().and_then(|i| p.profiles.get(i)).map(|p| p.name.clone());
        let change = DeviceChange {
            id: b.id.clone(),
            display_name: a.display_name.clone(),
            groups_added: ga.difference(&gb).cloned().collect(),
            groups_removed: gb.difference(&ga).cloned().collect(),
            profile: Side { before: profile(before, b), after: profile(after, a) },
            mode: Side { before: before.mode(b), after: after.mode(a) },
            registered: Side { before: b.registered, after: a.registered },
            reason: Side { before: before.reason(b), after: after.reason(a) },
            mismatch_after: a.mismatch.map(|m| m.to_string()),
        };
        let multiple_now = b.lost().is_empty() && !a.lost().is_empty();
        let interesting = change.groups_changed()
            || change.profile_changed()
            || change.mode_changed()
            || change.registered.before != change.registered.after
            || b.mismatch != a.mismatch
            || multiple_now;
        if interesting {
            changes.push(change);
        }
    }
    // Profile and mode changes first, then group changes, then the rest;
    // inventory order within each.
    changes.sort_by_key(|c| (!c.profile_changed() && !c.mode_changed(), !c.groups_changed()));
    let (sb, sa) = (before.summary(), after.summary());
    let mut profiles: Vec<ProfileCount> = Vec::new();
    for ((p, &n), &lost) in after.profiles.iter().zip(&sa.per_profile).zip(&sa.lost_per_profile) {
        profiles.push(ProfileCount {
            name: p.name.clone(),
            mode: p.mode,
            before: None,
            after: Some(n),
            lost_after: lost,
        });
    }
    for (p, &n) in before.profiles.iter().zip(&sb.per_profile) {
        match profiles.iter_mut().find(|c| c.name.eq_ignore_ascii_case(&p.name)) {
            Some(c) => c.before = Some(n),
            None => profiles.push(ProfileCount {
                name: p.name.clone(),
                mode: p.mode,
                before: Some(n),
                after: None,
                lost_after: 0,
            }),
        }
    }
    WhatIf {
        profile_changed: changes.iter().filter(|c| c.profile_changed()).count(),
        mode_changed: changes.iter().filter(|c| c.mode_changed()).count(),
        groups_changed: changes.iter().filter(|c| c.groups_changed()).count(),
        changes,
        profiles,
        before: sb,
        after: sa,
    }
}

/// The change a what-if asks about.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// Another tenant (a proposed restructure) on the same devices.
    Tenant(&'a CheckedTenant),
    /// The same tenant on the devices after these edits.
    Edits(&'a EditSet),
}

/// Why a what-if could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfError {
    /// The "after" plan could not be computed.
    #[error(transparent)]
    Plan(#[from] AssignError),
    /// The edited inventory does not fit the columnar index.
    #[error(transparent)]
    Index(#[from] ColumnOverflow),
}

/// A what-if's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The plan after the change.
    pub after: Plan,
    /// The comparison of `before` with [`Outcome::after`].
    pub diff: WhatIf,
    /// The edits applied, one per device (empty for [`Change::Tenant`]).
    pub applied: Vec<Applied>,
    /// The edit set's findings: devices it names that do not exist, and
    /// edits the "after" plan makes wrong (empty for [`Change::Tenant`]).
    pub findings: Vec<Finding>,
}

impl Outcome {
    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }
}

/// What `change` does to the devices of `index`: `tenant` is the tenant
/// as it is, `before` its plan of `index` (callers usually hold it
/// already; it is not recomputed).
///
/// ```
/// use fleetlab::autopilot::{validate, whatif, EditSet, Tenant};
/// use fleetlab::fleet::FleetIndex;
/// use fleetlab::inventory::Device;
/// let tenant = Tenant::parse(
///     "[[group]]\nname = 'Kiosks'\nrule = 'device.devicePhysicalIds -any (_ -eq \"[OrderId]:KIOSK\")'\n\
///      [[profile]]\nname = 'Kiosk'\ninclude = ['Kiosks']\n\
///      [[profile]]\nname = 'Office'\nall_devices = true\n",
///     "t.toml".as_ref(),
/// )?;
/// let tenant = validate(&tenant).tenant.ok_or("invalid")?;
/// let devices: Vec<Device> = serde_json::from_str(
///     r#"[{"id": "x", "displayName": "K1", "physicalIds": ["[ZTDId]:1", "[OrderId]:KIOSK"]}]"#,
/// )?;
/// let index = FleetIndex::from_devices(&devices)?;
/// let before = tenant.plan(&index)?;
/// let edits = EditSet::parse("[[edit]]\ndevice = 'K1'\ngroup_tag = ''\n", "edits.toml".as_ref())?;
/// let outcome = whatif::run(&tenant, &index, &before, whatif::Change::Edits(&edits))?;
/// assert_eq!(outcome.errors(), 0);
/// assert_eq!(outcome.diff.changes[0].profile.after.as_deref(), Some("Office"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run(
    tenant: &CheckedTenant,
    index: &FleetIndex,
    before: &Plan,
    change: Change<'_>,
) -> Result<Outcome, WhatIfError> {
    match change {
        Change::Tenant(other) => {
            let after = other.plan(index)?;
            let diff = compare(before, &after);
            Ok(Outcome { after, diff, applied: Vec::new(), findings: Vec::new() })
        }
        Change::Edits(edits) => {
            // Edits apply to Graph records, so the index is decoded back
            // into devices and rebuilt: the "after" inventory is exactly
            // what the tenant would hold once the edits are saved.
            let mut devices: Vec<_> = (0..index.len()).filter_map(|i| index.device(i)).collect();
            let resolved = edits.resolve(&devices);
            let applied = edits.apply(&mut devices, &resolved);
            let edited = FleetIndex::from_devices(&devices)?;
            let after = tenant.plan(&edited)?;
            let mut findings = resolved.findings.clone();
            findings.extend(edits.check_against(&resolved, &after));
            let diff = compare(before, &after);
            Ok(Outcome { after, diff, applied, findings })
        }
    }
}
