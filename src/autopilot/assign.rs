//! Assignment resolution: which profile every device gets, and why.
//!
//! The rules (graph-api.md §4.3, enrollment-model.md §1.1):
//! 1. a profile *matches* a device when the device is in one of the groups
//!    the profile is assigned to and in none of the groups it excludes;
//! 2. of several matching profiles, the **oldest created** wins
//!    (`createdDateTime`; a profile not created yet is newer than all;
//!    equal times fall back to file order);
//! 3. with no match, the profile assigned to **all devices** applies
//!    (the tenant's default profile), unless it excludes the device;
//! 4. otherwise the device has **no profile**: it goes through standard
//!    OOBE (events 809/815) and needs a reset once a profile is assigned.
//!
//! Only devices registered with Autopilot (an `[ZTDId]` item in
//! `physicalIds`) get profiles. A device that is not registered but is
//! targeted by a profile that *converts targeted devices* is registered by
//! Intune if it is a corporate-owned (`deviceOwnership` Company) Windows
//! device enrolled in MDM ("All corporate owned, non-Autopilot devices in
//! assigned groups register … Personally owned devices aren't registered",
//! Microsoft Learn, Configure Autopilot profiles); a device of unknown
//! ownership is not known to be corporate, so it is not converted either; the plan reports it
//! as converted, with the profile resolved on its current groups (groups
//! that test `[ZTDId]` pick it up only after the conversion, so the next
//! evaluation can differ).
//!
//! Group membership comes from the columnar engine ([`CompiledSet`]):
//! every group rule plus a few probes of fleetlab's own (registration,
//! Windows-and-managed, HoloLens, Surface Hub) compiled into one set and
//! evaluated in one pass, so a plan of a million devices costs about what
//! `fleetlab eval --groups` costs. Assigned (static) groups have no rule:
//! their members list names the devices, matched by object id.
//!
//! A device whose model says HoloLens or Surface Hub but whose profile is
//! for another device type (or the reverse) is flagged: Intune fails such
//! assignments (`deploymentProfileAssignmentDetailedStatus`
//! `…ProfileNotSupported`, graph-api.md §1.1; which value it reports is an
//! inference).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use crate::autopilot::profile::{DeviceType, EnrollmentMode, JoinType};
use crate::autopilot::validate::CheckedTenant;
use crate::fleet::{Bitmap, CompileError, CompiledSet, FleetIndex};
use crate::rule::Rule;

const REGISTERED: &str = r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#;
const CONVERTIBLE: &str = r#"(device.deviceOSType -eq "Windows") -and (device.managementType -ne null) -and (device.deviceOwnership -eq "Company")"#;
const HOLOLENS: &str = r#"device.deviceModel -startsWith "HoloLens""#;
const SURFACE_HUB: &str = r#"device.deviceModel -contains "Surface Hub""#;

/// Why a plan could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    /// The rules could not be compiled for the index.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// One of fleetlab's own probe rules did not check (a bug).
    #[error("internal rule {0:?} is invalid")]
    Probe(&'static str),
}

/// How a device came to its profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "group")]
pub enum Via {
    /// Membership of this group (an index into [`Plan::groups`]).
    Group(usize),
    /// The profile is assigned to all devices.
    AllDevices,
}

/// What happens to one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Registered; gets `profile`.
    Assigned {
        /// Index into [`Plan::profiles`].
        profile: usize,
        /// Why.
        via: Via,
        /// Other matching profiles, newer, that lost (oldest first).
        lost: Vec<usize>,
    },
    /// Not registered; a converting profile registers it, then it gets `profile`.
    Converted {
        /// The profile it gets.
        profile: usize,
        /// Why.
        via: Via,
        /// The profile whose "convert all targeted devices" registers it.
        by: usize,
        /// Other matching profiles that lost.
        lost: Vec<usize>,
    },
    /// Registered, but no profile applies.
    NoProfile {
        /// (profile, group) pairs whose exclusion removed the device.
        excluded: Vec<(usize, usize)>,
    },
    /// Not registered with Autopilot.
    NotRegistered {
        /// Profiles whose groups contain the device anyway.
        targeted_by: Vec<usize>,
        /// One of them converts targeted devices, but the device is not a
        /// corporate-owned Windows device enrolled in MDM, so it is not converted.
        unconvertible: bool,
    },
}

/// A device-type mismatch between a device and its profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// What the device is, from its model.
    pub device: DeviceType,
    /// What the profile is for.
    pub profile: DeviceType,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} device with a {} profile: Intune fails the assignment ({}ProfileNotSupported)",
            self.device.as_str(),
            self.profile.as_str(),
            self.profile.graph_name()
        )
    }
}

/// The plan for one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePlan {
    /// Entra object id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Registered with Autopilot.
    pub registered: bool,
    /// Groups the device is in (indices into [`Plan::groups`]).
    pub groups: Vec<usize>,
    /// What happens.
    pub outcome: Outcome,
    /// `enrollmentProfileName`: the profile it last enrolled with.
    pub enrolled_with: Option<String>,
    /// A device-type mismatch with the profile.
    pub mismatch: Option<Mismatch>,
}

impl DevicePlan {
    /// The profile the device gets (assigned or after conversion).
    pub fn profile(&self) -> Option<usize> {
        match self.outcome {
            Outcome::Assigned { profile, .. } | Outcome::Converted { profile, .. } => Some(profile),
            _ => None,
        }
    }

    /// Matching profiles that lost to the oldest.
    pub fn lost(&self) -> &[usize] {
        match &self.outcome {
            Outcome::Assigned { lost, .. } | Outcome::Converted { lost, .. } => lost,
            _ => &[],
        }
    }
}

/// A profile as plans show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanProfile {
    /// Display name.
    pub name: String,
    /// The mode its devices go through.
    pub mode: EnrollmentMode,
    /// Entra or hybrid.
    pub join: JoinType,
    /// Device type.
    pub device_type: DeviceType,
    /// Assigned to all devices.
    pub all_devices: bool,
    /// Converts targeted devices.
    pub converts: bool,
    /// Creation time, as written.
    pub created: Option<String>,
}

/// Every device's profile under one tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Group names, in tenant order.
    pub groups: Vec<String>,
    /// Members of each group.
    pub group_sizes: Vec<usize>,
    /// Groups some profile includes or excludes.
    pub assignment_groups: Vec<bool>,
    /// Profiles, in tenant order.
    pub profiles: Vec<PlanProfile>,
    /// Devices, in inventory order.
    pub devices: Vec<DevicePlan>,
}

impl CheckedTenant {
    /// Resolves the profile of every device of `index`.
    ///
    /// ```
    /// use fleetlab::autopilot::{validate, Tenant};
    /// use fleetlab::fleet::FleetIndex;
    /// use fleetlab::inventory::Device;
    /// let tenant = Tenant::parse(r#"
    /// [[group]]
    /// name = "Kiosks"
    /// rule = 'device.devicePhysicalIds -any (_ -eq "[OrderId]:KIOSK")'
    /// [[profile]]
    /// name = "Kiosk"
    /// created = 2024-01-01T00:00:00Z
    /// mode = "self-deploying"
    /// include = ["Kiosks"]
    /// [[profile]]
    /// name = "Standard"
    /// created = 2023-01-01T00:00:00Z
    /// all_devices = true
    /// [enrollment_user]
    /// upn = "enroll@contoso.com"
    /// email = "enroll@contoso.com"
    /// synced = true
    /// enabled = true
    /// can_enroll_devices = true
    /// in_mdm = true
    /// "#, "tenant.toml".as_ref())?;
    /// let checked = validate(&tenant).tenant.ok_or("invalid tenant")?;
    /// let devices: Vec<Device> = serde_json::from_str(r#"[
    ///   {"id": "a", "physicalIds": ["[ZTDId]:1", "[OrderId]:KIOSK"]},
    ///   {"id": "b", "physicalIds": ["[ZTDId]:2"]},
    ///   {"id": "c"}
    /// ]"#)?;
    /// let plan = checked.plan(&FleetIndex::from_devices(&devices)?)?;
    /// let profile = |i: usize| plan.devices[i].profile().map(|p| plan.profiles[p].name.as_str());
    /// assert_eq!(profile(0), Some("Kiosk"));      // its group's profile
    /// assert_eq!(profile(1), Some("Standard"));   // the default profile
    /// assert_eq!(profile(2), None);               // not registered with Autopilot
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plan(&self, index: &FleetIndex) -> Result<Plan, AssignError> {
        let probe = |text: &'static str| Rule::new(text).map_err(|_| AssignError::Probe(text));
        let probes = [probe(REGISTERED)?, probe(CONVERTIBLE)?, probe(HOLOLENS)?, probe(SURFACE_HUB)?];
        let mut rules: Vec<&Rule> = self.groups.iter().filter_map(|g| g.rule()).collect();
        let dynamic = rules.len();
        rules.extend(probes.iter());
        let mut bits = CompiledSet::compile(&rules, index)?.evaluate();
        let probe_bits = bits.split_off(dynamic);
        let [registered, convertible, hololens, hub] = &probe_bits[..] else {
            return Err(AssignError::Probe(REGISTERED));
        };
        let groups_bits = self.membership_bits(bits, index);
        let n = groups_bits.len();

        let mut assignment_groups = vec![false; n];
        for p in &self.profiles {
            for &g in p.include.iter().chain(&p.exclude) {
                if let Some(slot) = assignment_groups.get_mut(g) {
                    *slot = true;
                }
            }
        }
        // Profiles oldest first.
        let mut order: Vec<usize> = (0..self.profiles.len()).collect();
        order.sort_by_key(|&p| (self.profiles[p].profile.age_key(), p));
        let default = self.default_profile();

        let devices = (0..index.len())
            .map(|i| {
                let in_group = |g: usize| groups_bits.get(g).is_some_and(|b| b.get(i));
                let groups: Vec<usize> = (0..n).filter(|&g| in_group(g)).collect();
                let mut matched = Vec::new();
                let mut excluded = Vec::new();
                for &p in &order {
                    let a = &self.profiles[p];
                    let Some(&g) = a.include.iter().find(|&&g| in_group(g)) else { continue };
                    match a.exclude.iter().find(|&&x| in_group(x)) {
                        Some(&x) => excluded.push((p, x)),
                        None => matched.push((p, Via::Group(g))),
                    }
                }
                if let Some(d) = default {
                    if matched.is_empty() {
                        match self.profiles[d].exclude.iter().find(|&&x| in_group(x)) {
                            Some(&x) => excluded.push((d, x)),
                            None => matched.push((d, Via::AllDevices)),
                        }
                    }
                }
                let is_registered = registered.get(i);
                let outcome = match (matched.first(), is_registered) {
                    (Some(&(profile, via)), true) => {
                        Outcome::Assigned { profile, via, lost: matched[1..].iter().map(|m| m.0).collect() }
                    }
                    (None, true) => Outcome::NoProfile { excluded },
                    (Some(&(profile, via)), false) => {
                        let by = matched
                            .iter()
                            .map(|m| m.0)
                            .find(|&p| self.profiles[p].profile.converts_targeted_devices());
                        match by {
                            Some(by) if convertible.get(i) => Outcome::Converted {
                                profile,
                                via,
                                by,
                                lost: matched[1..].iter().map(|m| m.0).collect(),
                            },
                            _ => Outcome::NotRegistered {
                                targeted_by: matched
                                    .iter()
                                    .filter(|m| m.1 != Via::AllDevices)
                                    .map(|m| m.0)
                                    .collect(),
                                unconvertible: by.is_some(),
                            },
                        }
                    }
                    (None, false) => Outcome::NotRegistered { targeted_by: Vec::new(), unconvertible: false },
                };
                let mut plan = DevicePlan {
                    id: index.id(i).to_string(),
                    display_name: index.display_name(i).map(str::to_string),
                    registered: is_registered,
                    groups,
                    outcome,
                    enrolled_with: None,
                    mismatch: None,
                };
                if let Some(p) = plan.profile() {
                    plan.enrolled_with = index.device(i).and_then(|d| d.enrollment_profile_name);
                    let device = if hololens.get(i) {
                        DeviceType::HoloLens
                    } else if hub.get(i) {
                        DeviceType::SurfaceHub2S
                    } else {
                        DeviceType::WindowsPc
                    };
                    plan.mismatch = mismatch(device, self.profiles[p].profile.device_type());
                }
                plan
            })
            .collect();

        Ok(Plan {
            groups: self.groups.iter().map(|g| g.name.clone()).collect(),
            group_sizes: groups_bits.iter().map(|b| b.count()).collect(),
            assignment_groups,
            profiles: self
                .profiles
                .iter()
                .map(|a| PlanProfile {
                    name: a.profile.name().to_string(),
                    mode: a.profile.mode(),
                    join: a.profile.join_type(),
                    device_type: a.profile.device_type(),
                    all_devices: a.all_devices,
                    converts: a.profile.converts_targeted_devices(),
                    created: a.profile.created().map(|t| t.to_string()),
                })
                .collect(),
            devices,
        })
    }
}

impl CheckedTenant {
    /// Every group's members as bits over `index`, in tenant order: the
    /// evaluated rules of dynamic groups (`dynamic`, in order) and, for
    /// assigned groups, the devices whose object id the members list names.
    fn membership_bits(&self, dynamic: Vec<Bitmap>, index: &FleetIndex) -> Vec<Bitmap> {
        let mut dynamic = dynamic.into_iter();
        let mut ids: Option<HashMap<String, usize>> = None;
        self.groups
            .iter()
            .map(|g| match g.members() {
                None => dynamic.next().unwrap_or_else(|| Bitmap::from_bools(&vec![false; index.len()])),
                Some(members) => {
                    let ids = ids.get_or_insert_with(|| {
                        (0..index.len()).map(|i| (index.id(i).to_lowercase(), i)).collect()
                    });
                    let mut bools = vec![false; index.len()];
                    for m in members {
                        if let Some(&i) = ids.get(&m.trim().to_lowercase()) {
                            bools[i] = true;
                        }
                    }
                    Bitmap::from_bools(&bools)
                }
            })
            .collect()
    }
}

/// HoloLens and Surface Hub profiles fit only their devices, and their
/// devices only them; Windows PC and virtual machine profiles fit any PC.
fn mismatch(device: DeviceType, profile: DeviceType) -> Option<Mismatch> {
    let special = |d: DeviceType| {
        matches!(d, DeviceType::HoloLens | DeviceType::SurfaceHub2 | DeviceType::SurfaceHub2S)
    };
    let family = |d: DeviceType| match d {
        DeviceType::SurfaceHub2 | DeviceType::SurfaceHub2S => DeviceType::SurfaceHub2S,
        other => other,
    };
    let fits = if special(device) || special(profile) { family(device) == family(profile) } else { true };
    (!fits).then_some(Mismatch { device, profile })
}

impl Plan {
    /// Profiles that match devices but win none of them, with how many
    /// they match: an older profile takes every one (the classic trap of a
    /// new profile on groups an older one already covers).
    pub fn shadowed(&self) -> Vec<(usize, usize)> {
        let s = self.summary();
        s.per_profile
            .iter()
            .zip(&s.lost_per_profile)
            .enumerate()
            .filter(|(_, (won, lost))| **won == 0 && **lost > 0)
            .map(|(p, (_, lost))| (p, *lost))
            .collect()
    }

    /// Why device `d` ends where it does, in one line.
    pub fn reason(&self, d: &DevicePlan) -> String {
        let group = |g: usize| self.groups.get(g).map_or("?", String::as_str);
        let profile = |p: usize| self.profiles.get(p).map_or("?", |p| p.name.as_str());
        let via = |v: Via| match v {
            Via::Group(g) => format!("group {:?}", group(g)),
            Via::AllDevices => "all devices (default profile)".to_string(),
        };
        let lost = |lost: &[usize]| {
            if lost.is_empty() {
                String::new()
            } else {
                let names: Vec<String> = lost.iter().map(|&p| format!("{:?}", profile(p))).collect();
                format!("; oldest of {} matching, over {}", lost.len() + 1, names.join(", "))
            }
        };
        match &d.outcome {
            Outcome::Assigned { via: v, lost: l, .. } => format!("{}{}", via(*v), lost(l)),
            Outcome::Converted { via: v, by, lost: l, .. } => format!(
                "not registered; {:?} converts targeted devices; {}{}",
                profile(*by),
                via(*v),
                lost(l)
            ),
            Outcome::NoProfile { excluded } if excluded.is_empty() => {
                "no assigned group contains it and no profile is assigned to all devices".to_string()
            }
            Outcome::NoProfile { excluded } => {
                let parts: Vec<String> = excluded
                    .iter()
                    .map(|&(p, g)| format!("{:?} excludes it by group {:?}", profile(p), group(g)))
                    .collect();
                format!("no profile: {}", parts.join("; "))
            }
            Outcome::NotRegistered { targeted_by, .. } if targeted_by.is_empty() => {
                "not registered with Autopilot".to_string()
            }
            Outcome::NotRegistered { targeted_by, unconvertible } => {
                let names: Vec<String> = targeted_by.iter().map(|&p| format!("{:?}", profile(p))).collect();
                let why = match (*unconvertible, names.len()) {
                    (true, _) => {
                        "it is not a Windows device enrolled in MDM, so conversion cannot register it"
                    }
                    (false, 1) => "that profile does not convert targeted devices",
                    (false, _) => "none of those profiles converts targeted devices",
                };
                format!("not registered with Autopilot; in a group of {}, but {why}", names.join(", "))
            }
        }
    }

    /// The mode device `d` goes through, if it gets a profile.
    pub fn mode(&self, d: &DevicePlan) -> Option<EnrollmentMode> {
        d.profile().and_then(|p| self.profiles.get(p)).map(|p| p.mode)
    }

    /// True when `d` last enrolled with another profile than it gets now
    /// (changes apply only after a reset, graph-api.md §4.3).
    pub fn pending_reset(&self, d: &DevicePlan) -> bool {
        match (d.profile().and_then(|p| self.profiles.get(p)), &d.enrolled_with) {
            (Some(p), Some(was)) => !p.name.eq_ignore_ascii_case(was),
            _ => false,
        }
    }

    /// Counts for the summary.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            devices: self.devices.len(),
            per_profile: vec![0; self.profiles.len()],
            lost_per_profile: vec![0; self.profiles.len()],
            ..Summary::default()
        };
        for d in &self.devices {
            s.registered += usize::from(d.registered);
            match &d.outcome {
                Outcome::Assigned { profile, lost, .. } => {
                    s.assigned += 1;
                    s.multiple += usize::from(!lost.is_empty());
                    if let Some(c) = s.per_profile.get_mut(*profile) {
                        *c += 1;
                    }
                }
                Outcome::Converted { profile, lost, .. } => {
                    s.converted += 1;
                    s.multiple += usize::from(!lost.is_empty());
                    if let Some(c) = s.per_profile.get_mut(*profile) {
                        *c += 1;
                    }
                }
                Outcome::NoProfile { .. } => s.no_profile += 1,
                Outcome::NotRegistered { targeted_by, .. } => {
                    s.targeted_unregistered += usize::from(!targeted_by.is_empty())
                }
            }
            for &p in d.lost() {
                if let Some(c) = s.lost_per_profile.get_mut(p) {
                    *c += 1;
                }
            }
            s.mismatched += usize::from(d.mismatch.is_some());
            s.pending_reset += usize::from(self.pending_reset(d));
        }
        for (p, &count) in self.profiles.iter().zip(&s.per_profile) {
            *s.per_mode.entry(p.mode).or_insert(0) += count;
        }
        s
    }
}

/// Counts over a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Devices in the inventory.
    pub devices: usize,
    /// Registered with Autopilot.
    pub registered: usize,
    /// Registered devices with a profile.
    pub assigned: usize,
    /// Devices a converting profile will register.
    pub converted: usize,
    /// Registered devices with no profile.
    pub no_profile: usize,
    /// Devices matching several profiles (the oldest wins).
    pub multiple: usize,
    /// Devices whose model does not fit their profile's device type.
    pub mismatched: usize,
    /// Devices enrolled with another profile than they get now.
    pub pending_reset: usize,
    /// Unregistered devices in profile groups that cannot reach them.
    pub targeted_unregistered: usize,
    /// Devices per profile, in profile order (assigned and converted).
    #[serde(skip)]
    pub per_profile: Vec<usize>,
    /// Devices each profile matches but loses to an older one, in profile order.
    #[serde(skip)]
    pub lost_per_profile: Vec<usize>,
    /// Devices per mode.
    pub per_mode: BTreeMap<EnrollmentMode, usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_types_fit() {
        assert_eq!(mismatch(DeviceType::WindowsPc, DeviceType::WindowsPc), None);
        assert_eq!(mismatch(DeviceType::WindowsPc, DeviceType::VirtualMachine), None);
        assert_eq!(mismatch(DeviceType::SurfaceHub2S, DeviceType::SurfaceHub2), None);
        assert!(mismatch(DeviceType::HoloLens, DeviceType::WindowsPc).is_some());
        assert!(mismatch(DeviceType::WindowsPc, DeviceType::HoloLens).is_some());
    }
}
