//! `POST /api/v1/plan` and `GET /api/v1/flows`: which Autopilot profile
//! every device gets, what an edited tenant or an edit set would change,
//! and each profile's enrollment flow.
//!
//! The plan answer has the shape of `fleetlab plan --format json`; the
//! CLI renders it from [`crate::autopilot::Plan`] in private code, so this
//! module renders the same fields from the same library types.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::state::Loaded;
use crate::autopilot::{
    self, whatif, DevicePlan, EditSet, EnrollmentMode, Outcome, Plan, PlanProfile, Summary, Tenant, Via,
};
use crate::fleet::FleetIndex;

/// `POST /api/v1/plan`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// An edited tenant file's text: answer the what-if against it.
    #[serde(default)]
    pub against: Option<String>,
    /// An edit set's text (`[[device]]` edits): answer the what-if of applying it.
    #[serde(default)]
    pub edits: Option<String>,
    /// Which devices to list: `all` (default), `several` (matching several
    /// profiles), `none` (registered, no profile) or `changed`.
    #[serde(default)]
    pub filter: Option<String>,
    /// How many devices to list (default 10,000).
    #[serde(default)]
    pub devices_limit: Option<usize>,
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

/// One device's plan.
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

/// `POST /api/v1/plan` answer without a what-if.
#[derive(Debug, Serialize)]
pub struct PlanResponse<'a> {
    /// The tenant's name.
    pub tenant: &'a str,
    /// Counts.
    pub summary: Summary,
    /// Profiles, in tenant order.
    pub profiles: Vec<ProfileOut<'a>>,
    /// Groups, in tenant order.
    pub groups: Vec<GroupOut<'a>>,
    /// Devices (filtered and limited as asked).
    pub devices: Vec<DeviceOut<'a>>,
    /// Devices the filter selected in all.
    pub devices_matching: usize,
}

fn device_out<'a>(plan: &'a Plan, d: &'a DevicePlan) -> DeviceOut<'a> {
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
        status,
        via,
        via_group,
        also_matched: d
            .lost()
            .iter()
            .filter_map(|&p| plan.profiles.get(p).map(|p| p.name.as_str()))
            .collect(),
        reason: plan.reason(d),
    }
}

fn no_tenant() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "no-tenant",
        "no tenant is loaded; start the server with --tenant tenant.toml",
    )
}

fn keep(filter: &str, d: &DevicePlan) -> Result<bool, ApiError> {
    Ok(match filter {
        "all" => true,
        "several" => !d.lost().is_empty(),
        "none" => matches!(d.outcome, Outcome::NoProfile { .. }),
        other => {
            return Err(ApiError::bad_request(
                "invalid-filter",
                format!("filter {other:?}: expected all, several or none"),
            ))
        }
    })
}

/// The plan, or the what-if of an edited tenant or an edit set. `dir`
/// anchors the relative paths of an edited tenant (its `graph = …`
/// profiles), as the loaded tenant file's directory anchors its own.
pub fn plan(loaded: &Loaded, req: PlanRequest, dir: &Path) -> Result<serde_json::Value, ApiError> {
    let (Some(tenant), Some(plan)) = (&loaded.tenant, &loaded.plan) else { return Err(no_tenant()) };
    if let Some(text) = &req.against {
        let other = checked(text, &dir.join("tenant-edited.toml"))?;
        let after =
            other.plan(&loaded.index).map_err(|e| ApiError::bad_request("invalid-tenant", e.to_string()))?;
        let diff = whatif::compare(plan, &after);
        return to_json(&WhatIfOut {
            changed: diff.changes.len(),
            diff: &diff,
            edits: &[],
            findings: Vec::new(),
        });
    }
    if let Some(text) = &req.edits {
        let edits = EditSet::parse(text, Path::new("edits.toml"))
            .map_err(|e| ApiError::bad_request("invalid-edits", e.to_string()))?;
        let mut devices: Vec<_> = (0..loaded.index.len()).filter_map(|i| loaded.index.device(i)).collect();
        let resolved = edits.resolve(&devices);
        let applied = edits.apply(&mut devices, &resolved);
        let edited = FleetIndex::from_devices(&devices)
            .map_err(|e| ApiError::bad_request("invalid-edits", e.to_string()))?;
        let after =
            tenant.plan(&edited).map_err(|e| ApiError::bad_request("invalid-edits", e.to_string()))?;
        let mut findings = resolved.findings.clone();
        findings.extend(edits.check_against(&resolved, &after));
        let diff = whatif::compare(plan, &after);
        let findings: Vec<String> = findings.iter().map(ToString::to_string).collect();
        return to_json(&WhatIfOut { changed: diff.changes.len(), diff: &diff, edits: &applied, findings });
    }
    let filter = req.filter.as_deref().unwrap_or("all");
    let limit = req.devices_limit.unwrap_or(10_000);
    let mut devices = Vec::new();
    let mut matching = 0;
    for d in &plan.devices {
        if keep(filter, d)? {
            matching += 1;
            if devices.len() < limit {
                devices.push(device_out(plan, d));
            }
        }
    }
    let summary = plan.summary();
    let profiles = plan
        .profiles
        .iter()
        .zip(summary.per_profile.iter().zip(&summary.lost_per_profile))
        .map(|(profile, (&devices, &lost_to_older))| ProfileOut { profile, devices, lost_to_older })
        .collect();
    let groups = plan
        .groups
        .iter()
        .enumerate()
        .map(|(g, name)| GroupOut {
            name,
            members: plan.group_sizes.get(g).copied().unwrap_or(0),
            assignment: plan.assignment_groups.get(g).copied().unwrap_or(false),
        })
        .collect();
    to_json(&PlanResponse {
        tenant: &tenant.name,
        summary,
        profiles,
        groups,
        devices,
        devices_matching: matching,
    })
}

/// What-if answer: the shape of `fleetlab plan --against/--edits --format json`.
#[derive(Serialize)]
struct WhatIfOut<'a> {
    changed: usize,
    #[serde(flatten)]
    diff: &'a autopilot::WhatIf,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    edits: &'a [autopilot::Applied],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    findings: Vec<String>,
}

fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))
}

fn checked(text: &str, path: &Path) -> Result<autopilot::CheckedTenant, ApiError> {
    let tenant =
        Tenant::parse(text, path).map_err(|e| ApiError::bad_request("invalid-tenant", e.to_string()))?;
    let validation = autopilot::validate(&tenant);
    let findings: Vec<String> =
        validation.findings.iter().filter(|f| f.is_error()).map(|f| f.to_string()).collect();
    validation.tenant.ok_or_else(|| {
        ApiError::bad_request("invalid-tenant", format!("the tenant has {} error(s)", findings.len()))
            .with_details(serde_json::json!(findings))
    })
}

/// One profile's enrollment flow.
#[derive(Debug, Serialize)]
pub struct FlowOut {
    /// The profile.
    pub profile: String,
    /// The flow's title (mode, join, pre-provisioning).
    pub title: String,
    /// States.
    pub nodes: usize,
    /// Transitions.
    pub edges: usize,
    /// The graph drawn as SVG.
    pub svg: String,
}

/// Every profile's flow of the loaded tenant.
pub fn flows(loaded: &Loaded) -> Result<Vec<FlowOut>, ApiError> {
    let Some(tenant) = &loaded.tenant else { return Err(no_tenant()) };
    let mut out = Vec::new();
    for (name, input) in crate::flow::from_profile::tenant_inputs(tenant) {
        match crate::flow::derive(&input) {
            Ok(graph) => out.push(FlowOut {
                title: graph.title(),
                nodes: graph.node_count(),
                edges: graph.edge_count(),
                svg: super::svg::flow_svg(&graph),
                profile: name,
            }),
            Err(e) => out.push(FlowOut {
                profile: name,
                title: e.to_string(),
                nodes: 0,
                edges: 0,
                svg: String::new(),
            }),
        }
    }
    Ok(out)
}
