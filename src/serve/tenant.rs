//! `POST /api/v1/plan` and `GET /api/v1/flows`: which Autopilot profile
//! every device gets, what an edited tenant or an edit set would change,
//! and each profile's enrollment flow.
//!
//! The plan answer has the shape of `fleetlab plan --format json`: both
//! are built from [`crate::autopilot::report`], and the what-if from
//! [`crate::autopilot::whatif::run`], so the API and the command line
//! cannot disagree. Devices are listed in the compact
//! [`DeviceBrief`] form, as a browser may ask for ten thousand.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::state::Loaded;
use crate::autopilot::report::{self, DeviceBrief, DeviceOut, GroupOut, ProfileOut, WhatIfReport};
use crate::autopilot::{self, whatif, DevicePlan, EditSet, Outcome, Summary, Tenant};

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
    pub devices: Vec<DeviceBrief<'a>>,
    /// Devices the filter selected in all.
    pub devices_matching: usize,
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
        let outcome = whatif::run(tenant, &loaded.index, plan, whatif::Change::Tenant(&other))
            .map_err(|e| ApiError::bad_request("invalid-tenant", e.to_string()))?;
        return to_json(&WhatIfReport::<String>::new(&outcome.diff));
    }
    if let Some(text) = &req.edits {
        let edits = EditSet::parse(text, Path::new("edits.toml"))
            .map_err(|e| ApiError::bad_request("invalid-edits", e.to_string()))?;
        let outcome = whatif::run(tenant, &loaded.index, plan, whatif::Change::Edits(&edits))
            .map_err(|e| ApiError::bad_request("invalid-edits", e.to_string()))?;
        let mut report = WhatIfReport::new(&outcome.diff);
        report.edits = &outcome.applied;
        report.findings = outcome.findings.iter().map(ToString::to_string).collect();
        return to_json(&report);
    }
    let filter = req.filter.as_deref().unwrap_or("all");
    let limit = req.devices_limit.unwrap_or(10_000);
    let mut devices = Vec::new();
    let mut matching = 0;
    for d in &plan.devices {
        if keep(filter, d)? {
            matching += 1;
            if devices.len() < limit {
                devices.push(DeviceOut::new(plan, d).brief());
            }
        }
    }
    let summary = plan.summary();
    let profiles = report::profiles(plan, &summary);
    let groups = report::groups(plan);
    to_json(&PlanResponse {
        tenant: &tenant.name,
        summary,
        profiles,
        groups,
        devices,
        devices_matching: matching,
    })
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
