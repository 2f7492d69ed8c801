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

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::autopilot::assign::{DevicePlan, Plan, Summary};
use crate::autopilot::profile::EnrollmentMode;

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
