//! The JSON shapes of a plan and of a what-if, as `fleetlab plan --format
//! json` prints them and the local API answers them.
//!
//! Decision: the shapes are `Serialize` types borrowing from the [`Plan`],
//! built here once, so the command line and the API cannot drift apart
//! (before, each rebuilt the same fields from the same library types).
//! Field names and order are a documented output contract: scripts read
//! them, so a field is added at the end and never renamed. The compact
//! [`DeviceBrief`] leaves out the enrollment and device-type detail for
//! answers that list many devices in a browser.

use serde::Serialize;

use super::assign::{DevicePlan, Outcome, Plan, PlanProfile, Summary, Via};
use super::checks::{Finding, Severity};
use super::edits::Applied;
use super::profile::EnrollmentMode;
use super::whatif::WhatIf;

/// One finding with its location split into fields.
#[derive(Debug, Serialize)]
pub struct FindingOut<'a> {
    /// Stable code, e.g. `hololens-self-deploying`.
    pub code: &'a str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: &'a str,
    /// The key it blames, e.g. `profile[1].device_name_template`.
    pub path: &'a str,
    /// The file, when the finding has a location.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// The document the rule comes from.
    pub source: &'a str,
}

impl<'a> From<&'a Finding> for FindingOut<'a> {
    fn from(f: &'a Finding) -> Self {
        FindingOut {
            code: f.code,
            severity: f.severity,
            message: &f.message,
            path: &f.path,
            file: f.location.as_ref().map(|l| l.file.display().to_string()),
            line: f.location.as_ref().map(|l| l.line),
            column: f.location.as_ref().map(|l| l.column),
            source: f.source,
        }
    }
}

/// A profile with its device counts.
#[derive(Debug, Serialize)]
pub struct ProfileOut<'a> {
    /// The profile.
    #[serde(flatten)]
    pub profile: &'a PlanProfile,
    /// Devices it gets.
    pub devices: usize,
    /// Devices it matches but loses to an older profile.
    pub lost_to_older: usize,
}

/// A group with its size.
#[derive(Debug, Serialize)]
pub struct GroupOut<'a> {
    /// Name.
    pub name: &'a str,
    /// Members.
    pub members: usize,
    /// Some profile includes or excludes it.
    pub assignment: bool,
}

/// One device's plan, every field.
#[derive(Debug, Serialize)]
pub struct DeviceOut<'a> {
    /// Object id.
    pub id: &'a str,
    /// Display name.
    #[serde(rename = "displayName")]
    pub display_name: Option<&'a str>,
    /// Registered with Autopilot.
    pub registered: bool,
    /// Groups it is in.
    pub groups: Vec<&'a str>,
    /// The profile it gets.
    pub profile: Option<&'a str>,
    /// That profile's mode.
    pub mode: Option<EnrollmentMode>,
    /// That profile's join type.
    pub join: Option<&'static str>,
    /// `assigned`, `converted`, `no-profile` or `not-registered`.
    pub status: &'static str,
    /// `group` or `all-devices`.
    pub via: Option<&'static str>,
    /// The group that gave the profile.
    pub via_group: Option<&'a str>,
    /// Newer matching profiles that lost.
    pub also_matched: Vec<&'a str>,
    /// Why, in words.
    pub reason: String,
    /// The profile the device enrolled with.
    #[serde(rename = "enrollmentProfileName")]
    pub enrolled_with: Option<&'a str>,
    /// A profile change waits for a reset.
    pub pending_reset: bool,
    /// A profile for another device type.
    pub mismatch: Option<String>,
}

/// One device's plan without the enrollment and device-type detail.
#[derive(Debug, Serialize)]
pub struct DeviceBrief<'a> {
    /// Object id.
    pub id: &'a str,
    /// Display name.
    #[serde(rename = "displayName")]
    pub display_name: Option<&'a str>,
    /// Registered with Autopilot.
    pub registered: bool,
    /// Groups it is in.
    pub groups: Vec<&'a str>,
    /// The profile it gets.
    pub profile: Option<&'a str>,
    /// That profile's mode.
    pub mode: Option<EnrollmentMode>,
    /// `assigned`, `converted`, `no-profile` or `not-registered`.
    pub status: &'static str,
    /// `group` or `all-devices`.
    pub via: Option<&'static str>,
    /// The group that gave the profile.
    pub via_group: Option<&'a str>,
    /// Newer matching profiles that lost.
    pub also_matched: Vec<&'a str>,
    /// Why, in words.
    pub reason: String,
}

impl<'a> DeviceOut<'a> {
    /// Device `d` of `plan`.
    pub fn new(plan: &'a Plan, d: &'a DevicePlan) -> Self {
        let profile = d.profile().and_then(|p| plan.profiles.get(p));
        let (status, via) = match &d.outcome {
            Outcome::Assigned { via, .. } => ("assigned", Some(*via)),
            Outcome::Converted { via, .. } => ("converted", Some(*via)),
            Outcome::NoProfile { .. } => ("no-profile", None),
            Outcome::NotRegistered { .. } => ("not-registered", None),
        };
        let (via, via_group) = match via {
            Some(Via::Group(g)) => (Some("group"), plan.groups.get(g).map(String::as_str)),
            Some(Via::AllDevices) => (Some("all-devices"), None),
            None => (None, None),
        };
        DeviceOut {
            id: &d.id,
            display_name: d.display_name.as_deref(),
            registered: d.registered,
            groups: d.groups.iter().filter_map(|&g| plan.groups.get(g).map(String::as_str)).collect(),
            profile: profile.map(|p| p.name.as_str()),
            mode: profile.map(|p| p.mode),
            join: profile.map(|p| p.join.as_str()),
            status,
            via,
            via_group,
            also_matched: d
                .lost()
                .iter()
                .filter_map(|&p| plan.profiles.get(p).map(|p| p.name.as_str()))
                .collect(),
            reason: plan.reason(d),
            enrolled_with: d.enrolled_with.as_deref(),
            pending_reset: plan.pending_reset(d),
            mismatch: d.mismatch.map(|m| m.to_string()),
        }
    }

    /// The compact form.
    pub fn brief(self) -> DeviceBrief<'a> {
        DeviceBrief {
            id: self.id,
            display_name: self.display_name,
            registered: self.registered,
            groups: self.groups,
            profile: self.profile,
            mode: self.mode,
            status: self.status,
            via: self.via,
            via_group: self.via_group,
            also_matched: self.also_matched,
            reason: self.reason,
        }
    }
}

/// Every profile of `plan` with its counts from `summary` (of the same plan).
pub fn profiles<'a>(plan: &'a Plan, summary: &Summary) -> Vec<ProfileOut<'a>> {
    plan.profiles
        .iter()
        .zip(summary.per_profile.iter().zip(&summary.lost_per_profile))
        .map(|(profile, (&devices, &lost_to_older))| ProfileOut { profile, devices, lost_to_older })
        .collect()
}

/// Every group of `plan` with its size.
pub fn groups(plan: &Plan) -> Vec<GroupOut<'_>> {
    plan.groups
        .iter()
        .enumerate()
        .map(|(g, name)| GroupOut {
            name,
            members: plan.group_sizes.get(g).copied().unwrap_or(0),
            assignment: plan.assignment_groups.get(g).copied().unwrap_or(false),
        })
        .collect()
}

/// A whole plan: the files it came from, counts, profiles, groups and every device.
///
/// ```
/// use fleetlab::autopilot::{report::PlanReport, validate, Tenant};
/// use fleetlab::fleet::FleetIndex;
/// use fleetlab::inventory::Device;
/// let tenant = Tenant::parse("[[profile]]\nname = 'All'\nall_devices = true\n", "t.toml".as_ref())?;
/// let devices: Vec<Device> = serde_json::from_str(r#"[{"id": "x", "physicalIds": ["[ZTDId]:1"]}]"#)?;
/// let plan = validate(&tenant).tenant.ok_or("invalid")?.plan(&FleetIndex::from_devices(&devices)?)?;
/// let json = serde_json::to_value(PlanReport::new(&plan, "t.toml", "devices.json"))?;
/// assert_eq!(json["devices"][0]["profile"], "All");
/// assert_eq!(json["devices"][0]["status"], "assigned");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Serialize)]
pub struct PlanReport<'a> {
    /// The tenant, as the caller names it (a path).
    pub tenant: &'a str,
    /// The inventory, as the caller names it.
    pub devices_file: &'a str,
    /// Counts.
    pub summary: Summary,
    /// Profiles, in tenant order.
    pub profiles: Vec<ProfileOut<'a>>,
    /// Groups, in tenant order.
    pub groups: Vec<GroupOut<'a>>,
    /// Every device, in inventory order.
    pub devices: Vec<DeviceOut<'a>>,
}

impl<'a> PlanReport<'a> {
    /// The report of `plan`, labelled with the tenant and inventory names.
    pub fn new(plan: &'a Plan, tenant: &'a str, devices_file: &'a str) -> Self {
        let summary = plan.summary();
        PlanReport {
            tenant,
            devices_file,
            profiles: profiles(plan, &summary),
            groups: groups(plan),
            devices: plan.devices.iter().map(|d| DeviceOut::new(plan, d)).collect(),
            summary,
        }
    }
}

/// A what-if: the comparison, the edits applied and their findings.
///
/// `F` is how a finding is shown: [`FindingOut`] for every field, or a
/// `String` (its one-line form). The labels are left out when `None`.
#[derive(Debug, Serialize)]
pub struct WhatIfReport<'a, F: Serialize> {
    /// What the "before" side is (a tenant path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<&'a str>,
    /// What the "after" side is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<&'a str>,
    /// Devices that change.
    pub changed: usize,
    /// The comparison.
    #[serde(flatten)]
    pub diff: &'a WhatIf,
    /// The edits applied, one per device.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub edits: &'a [Applied],
    /// The edit set's findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<F>,
}

impl<'a, F: Serialize> WhatIfReport<'a, F> {
    /// The report of `diff`, unlabelled, with no edits.
    pub fn new(diff: &'a WhatIf) -> Self {
        WhatIfReport {
            before: None,
            after: None,
            changed: diff.changes.len(),
            diff,
            edits: &[],
            findings: Vec::new(),
        }
    }
}
