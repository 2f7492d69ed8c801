//! `POST /api/v1/groups`: every group's count and members, the overlaps
//! between groups, each device's groups, and how membership changes
//! against another inventory.
//!
//! Groups are evaluated together on the columnar index (one pass for the
//! whole set, as `fleetlab eval --groups` does); overlaps are popcounts of
//! the AND of two membership bitmaps, so a 25-group set on a million
//! devices costs 300 word-wise ANDs, not 300 set intersections.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::state::Loaded;
use super::Limits;
use crate::fleet::{Bitmap, CompileError, CompiledSet, FleetIndex};
use crate::groups::{GroupSet, GroupSetError};
use crate::inventory::Device;
use crate::rule::{self, ObjectType, Options, Rule};

/// `POST /api/v1/groups`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsRequest {
    /// A group file's text (`[[group]]` tables); the loaded groups by default.
    #[serde(default)]
    pub groups: Option<String>,
    /// Another inventory (Graph device objects) to compare membership with.
    #[serde(default)]
    pub compare: Option<Vec<Device>>,
    /// How many member ids to list per group (default 1,000).
    #[serde(default)]
    pub members_limit: Option<usize>,
    /// How many devices to list with their groups (default 1,000).
    #[serde(default)]
    pub devices_limit: Option<usize>,
}

/// One group's membership.
#[derive(Debug, Serialize)]
pub struct GroupOut {
    /// Graph id (snapshot groups) or name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `groups`, `tenant`, `snapshot` or `request`.
    pub source: &'static str,
    /// Its rule.
    pub rule: String,
    /// Members in all.
    pub count: usize,
    /// The first `members_limit` member ids, in inventory order.
    pub members: Vec<String>,
}

/// Devices in both of two groups.
#[derive(Debug, Serialize)]
pub struct Overlap {
    /// Index of the first group.
    pub a: usize,
    /// Index of the second group.
    pub b: usize,
    /// Devices in both.
    pub count: usize,
}

/// A device and the groups it is in.
#[derive(Debug, Serialize)]
pub struct DeviceGroups {
    /// Device id.
    pub id: String,
    /// Display name.
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    /// Indices into `groups`.
    pub groups: Vec<usize>,
}

/// One group's change against the other inventory.
#[derive(Debug, Serialize)]
pub struct GroupChange {
    /// Index into `groups`.
    pub group: usize,
    /// Members now.
    pub before: usize,
    /// Members with the other inventory.
    pub after: usize,
    /// Ids that join (up to `members_limit`).
    pub added: Vec<String>,
    /// Ids that leave (up to `members_limit`).
    pub removed: Vec<String>,
    /// How many join.
    pub added_count: usize,
    /// How many leave.
    pub removed_count: usize,
}

/// `POST /api/v1/groups` answer.
#[derive(Debug, Serialize)]
pub struct GroupsResponse {
    /// Devices evaluated.
    pub devices_total: usize,
    /// Devices in at least one group.
    pub devices_in_any: usize,
    /// Every group, in file order.
    pub groups: Vec<GroupOut>,
    /// Every pair of groups that share devices.
    pub overlaps: Vec<Overlap>,
    /// The first `devices_limit` devices in some group, with their groups.
    pub devices: Vec<DeviceGroups>,
    /// Membership changes against `compare`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<GroupChange>>,
}

struct Named<'a> {
    id: String,
    name: String,
    description: Option<String>,
    source: &'static str,
    rule: &'a Rule,
}

fn evaluate(rules: &[&Rule], index: &FleetIndex) -> Result<Vec<Bitmap>, ApiError> {
    match CompiledSet::compile(rules, index) {
        Ok(set) => Ok(set.evaluate()),
        Err(CompileError::Evaluation { index: k, message }) => Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "undecidable",
            format!("cannot evaluate group {k}: {message}"),
        )),
        Err(e) => Err(ApiError::bad_request("invalid-rule", e.to_string())),
    }
}

fn parse_groups(text: &str) -> Result<GroupSet, ApiError> {
    let options = Options { object: Some(ObjectType::Device), ..Options::default() };
    GroupSet::parse(text, Path::new("groups.toml"), &options).map_err(|e| match e {
        GroupSetError::InvalidRules { failures, .. } => {
            let details: Vec<serde_json::Value> = failures
                .iter()
                .map(|(spec, errors)| {
                    serde_json::json!({
                        "group": spec.name,
                        "errors": errors.iter().map(|e| rule::error_json(e, &spec.rule)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            ApiError::bad_request("invalid-rule", format!("{} group rule(s) are invalid", failures.len()))
                .with_details(serde_json::Value::Array(details))
        }
        other => ApiError::bad_request("invalid-groups", other.to_string()),
    })
}

/// Evaluates the loaded group set or the request's.
pub fn groups(loaded: &Loaded, req: GroupsRequest, limits: &Limits) -> Result<GroupsResponse, ApiError> {
    let parsed = req.groups.as_deref().map(parse_groups).transpose()?;
    let named: Vec<Named<'_>> = match &parsed {
        Some(set) => set
            .groups
            .iter()
            .map(|g| Named {
                id: g.spec.name.clone(),
                name: g.spec.name.clone(),
                description: g.spec.description.clone(),
                source: "request",
                rule: &g.rule,
            })
            .collect(),
        None => loaded
            .groups
            .iter()
            .filter(|g| g.rule.object() == ObjectType::Device)
            .map(|g| Named {
                id: g.id.clone(),
                name: g.name.clone(),
                description: g.description.clone(),
                source: g.source,
                rule: &g.rule,
            })
            .collect(),
    };
    let rules: Vec<&Rule> = named.iter().map(|n| n.rule).collect();
    let index = &loaded.index;
    let bitmaps = evaluate(&rules, index)?;
    let members_limit = req.members_limit.unwrap_or(1000).min(limits.max_page);
    let devices_limit = req.devices_limit.unwrap_or(1000).min(limits.max_page);
    let changes = match &req.compare {
        Some(devices) => Some(compare(index, &bitmaps, devices, &rules, members_limit)?),
        None => None,
    };
    let (devices, devices_in_any) = device_groups(index, &bitmaps, devices_limit);
    Ok(GroupsResponse {
        devices_total: index.len(),
        devices_in_any,
        overlaps: overlaps(&bitmaps),
        groups: named
            .into_iter()
            .zip(&bitmaps)
            .map(|(n, b)| GroupOut {
                id: n.id,
                name: n.name,
                description: n.description,
                source: n.source,
                rule: n.rule.source().to_string(),
                count: b.count(),
                members: b.ones().take(members_limit).map(|i| index.id(i).to_string()).collect(),
            })
            .collect(),
        devices,
        changes,
    })
}

fn overlaps(bitmaps: &[Bitmap]) -> Vec<Overlap> {
    let mut out = Vec::new();
    for (a, x) in bitmaps.iter().enumerate() {
        for (b, y) in bitmaps.iter().enumerate().skip(a + 1) {
            let count: usize = x.words.iter().zip(&y.words).map(|(p, q)| (p & q).count_ones() as usize).sum();
            if count > 0 {
                out.push(Overlap { a, b, count });
            }
        }
    }
    out
}

fn device_groups(index: &FleetIndex, bitmaps: &[Bitmap], limit: usize) -> (Vec<DeviceGroups>, usize) {
    let mut out = Vec::new();
    let mut any = 0;
    for i in 0..index.len() {
        let groups: Vec<usize> =
            bitmaps.iter().enumerate().filter(|(_, b)| b.get(i)).map(|(g, _)| g).collect();
        if groups.is_empty() {
            continue;
        }
        any += 1;
        if out.len() < limit {
            out.push(DeviceGroups {
                id: index.id(i).to_string(),
                display_name: index.display_name(i).map(str::to_string),
                groups,
            });
        }
    }
    (out, any)
}

fn compare(
    index: &FleetIndex,
    bitmaps: &[Bitmap],
    devices: &[Device],
    rules: &[&Rule],
    limit: usize,
) -> Result<Vec<GroupChange>, ApiError> {
    let other = FleetIndex::from_devices(devices)
        .and_then(FleetIndex::last_record_wins)
        .map(|(i, _)| i)
        .map_err(|e| ApiError::bad_request("invalid-devices", e.to_string()))?;
    let after = evaluate(rules, &other)?;
    let mut out = Vec::new();
    for (g, (b, a)) in bitmaps.iter().zip(&after).enumerate() {
        let before_ids: HashSet<&str> = b.ones().map(|i| index.id(i)).collect();
        let after_ids: HashSet<&str> = a.ones().map(|i| other.id(i)).collect();
        let added: Vec<String> =
            a.ones().map(|i| other.id(i)).filter(|id| !before_ids.contains(id)).map(str::to_string).collect();
        let removed: Vec<String> =
            b.ones().map(|i| index.id(i)).filter(|id| !after_ids.contains(id)).map(str::to_string).collect();
        out.push(GroupChange {
            group: g,
            before: before_ids.len(),
            after: after_ids.len(),
            added_count: added.len(),
            removed_count: removed.len(),
            added: added.into_iter().take(limit).collect(),
            removed: removed.into_iter().take(limit).collect(),
        });
    }
    Ok(out)
}
