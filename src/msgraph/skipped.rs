//! Resources a pull was not allowed to read, and why.
//!
//! A tenant without Intune, or an app registration without
//! `DeviceManagementServiceConfig.Read.All`, answers every
//! `/deviceManagement/…` request with 403, while devices and groups are
//! readable. A pull that stopped at the first 403 would leave an admin
//! with nothing; so a pull reads what it may and skips the rest.
//!
//! Decisions, and why:
//!
//! * **Only a 403 skips.** It is the one answer that says "this app may not
//!   read this" (Graph's 403 is documented as the missing-permission
//!   answer, graph-api.md §3.3); throttling, server errors and broken
//!   links still fail the pull, since skipping them would hide a fault.
//! * **A skipped resource keeps its previous pull.** Its staged pages are
//!   dropped before the pull is applied, so the snapshot's copy stays what
//!   it was (possibly nothing) rather than being replaced by an empty
//!   listing, which `sync plan` would read as "delete everything".
//! * **Profiles and their assignments go together.** The assignments
//!   route is beta-only and separately permissioned on some tenants; if it
//!   is refused, the profiles are skipped too, since profiles stored without
//!   their assignments would make a plan re-create every assignment.
//! * **The record lives in the snapshot** (its `meta` table, key
//!   [`META_KEY`], replaced by every pull), so `fleetlab sync status` shows
//!   what the last pull skipped and which permission to add.

use serde::{Deserialize, Serialize};

use crate::msgraph::error::GraphError;
use crate::msgraph::snapshot::{Snapshot, SnapshotError};

/// The `meta` key holding the last pull's skipped resources (JSON).
pub const META_KEY: &str = "skipped";

/// A resource the last pull could not read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// `devices`, `groups`, `autopilot`, `profiles` or `assignments`.
    pub resource: String,
    /// The request Graph refused (method and path, no query).
    pub request: String,
    /// HTTP status (403).
    pub status: u16,
    /// Graph's reason, as a sentence.
    pub reason: String,
    /// The least privileged application permission that grants the route.
    pub permission: Option<String>,
    /// What the snapshot holds for the resource instead.
    pub kept: String,
}

impl Skipped {
    /// The skip a pull error stands for: `Some` for a 403, `None` for any
    /// error that must fail the pull. `had_data` says whether the snapshot
    /// holds an earlier pull of the resource.
    pub fn from_error(resource: &str, error: &GraphError, had_data: bool) -> Option<Skipped> {
        let GraphError::Forbidden { method, path, error, .. } = error else { return None };
        let permission = crate::msgraph::permissions::required(method, path).map(|r| r.least.to_string());
        let kept = match (resource, had_data) {
            ("assignments", true) => "profiles and assignments of the previous pull",
            ("assignments", false) => "no profiles (never pulled with their assignments)",
            (_, true) => "the previous pull",
            (_, false) => "nothing (never pulled)",
        };
        Some(Skipped {
            resource: resource.to_string(),
            request: format!("{method} {path}"),
            status: error.status,
            reason: error.message.clone(),
            permission,
            kept: kept.to_string(),
        })
    }

    /// One line for a person: what, why, and what to grant.
    ///
    /// ```
    /// use fleetlab::msgraph::skipped::Skipped;
    /// let s = Skipped { resource: "autopilot".into(), request: "GET /beta/deviceManagement/windowsAutopilotDeviceIdentities".into(),
    ///                   status: 403, reason: "Application is not authorized to perform this operation.".into(),
    ///                   permission: Some("DeviceManagementServiceConfig.Read.All".into()), kept: "the previous pull".into() };
    /// assert!(s.to_text().contains("add the DeviceManagementServiceConfig.Read.All application permission"));
    /// ```
    pub fn to_text(&self) -> String {
        let grant = match &self.permission {
            Some(p) => format!("; add the {p} application permission (and grant admin consent)"),
            None => String::new(),
        };
        format!(
            "{}: skipped, {} answered HTTP {} ({}){grant}; the snapshot keeps {}",
            self.resource, self.request, self.status, self.reason, self.kept
        )
    }
}

/// The skips the last pull recorded (none when it skipped nothing, or when
/// the snapshot predates the record).
pub fn load(snapshot: &Snapshot) -> Result<Vec<Skipped>, SnapshotError> {
    Ok(snapshot
        .meta(META_KEY)?
        .and_then(|text| serde_json::from_str::<Vec<Skipped>>(&text).ok())
        .unwrap_or_default())
}

/// Replaces the record with `skipped`.
pub fn store(snapshot: &Snapshot, skipped: &[Skipped]) -> Result<(), SnapshotError> {
    let text = serde_json::to_string(skipped).unwrap_or_else(|_| "[]".into());
    snapshot.set_meta(META_KEY, &text)
}
