//! `@odata.type` values, compared one way everywhere in the crate.
//!
//! Graph writes a type annotation as `#microsoft.graph.groupAssignmentTarget`
//! in most responses, but Intune's own documentation pages show
//! `"@odata.type": "microsoft.graph.groupAssignmentTarget"` (no `#`) in
//! request and response examples, and the service accepts both: in OData
//! JSON the `#` is the fragment marker of a type name relative to the
//! metadata document, so both spellings name the same type. Comparing
//! strings exactly made the unprefixed form silently "unknown". So:
//!
//! * **Every comparison goes through [`is`] or [`same`]**, which ignore a
//!   leading `#` and ASCII case (type names never differ only in case).
//! * **What fleetlab writes is the prefixed form** ([`prefixed`]), which is
//!   what Graph itself returns and what tools send on create.
//!
//! This module sits below everything else in the crate (it uses nothing of
//! it), so the Autopilot reader, the Graph adapter and the fake Graph share
//! it without breaking the layering.

use serde_json::Value;

/// Entra join deployment profile.
pub const ENTRA_PROFILE: &str = "microsoft.graph.azureADWindowsAutopilotDeploymentProfile";
/// Hybrid join deployment profile.
pub const HYBRID_PROFILE: &str = "microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile";
/// Assignment target: the All Devices virtual group.
pub const ALL_DEVICES_TARGET: &str = "microsoft.graph.allDevicesAssignmentTarget";
/// Assignment target: include a group.
pub const GROUP_TARGET: &str = "microsoft.graph.groupAssignmentTarget";
/// Assignment target: exclude a group.
pub const EXCLUSION_TARGET: &str = "microsoft.graph.exclusionGroupAssignmentTarget";

/// The type name without the leading `#` (and surrounding blanks).
///
/// ```
/// assert_eq!(fleetlab::odata::name("#microsoft.graph.device"), "microsoft.graph.device");
/// assert_eq!(fleetlab::odata::name("microsoft.graph.device"), "microsoft.graph.device");
/// ```
pub fn name(value: &str) -> &str {
    value.trim().trim_start_matches('#')
}

/// True when the annotation `value` names the type `name` (either written
/// with or without `#`).
///
/// ```
/// use fleetlab::odata::{is, GROUP_TARGET};
/// assert!(is("#microsoft.graph.groupAssignmentTarget", GROUP_TARGET));
/// assert!(is("microsoft.graph.groupAssignmentTarget", GROUP_TARGET));
/// assert!(is("microsoft.graph.groupAssignmentTarget", "#microsoft.graph.groupAssignmentTarget"));
/// assert!(!is("#microsoft.graph.exclusionGroupAssignmentTarget", GROUP_TARGET));
/// ```
pub fn is(value: &str, type_name: &str) -> bool {
    name(value).eq_ignore_ascii_case(name(type_name))
}

/// True when two annotations name the same type.
pub fn same(a: &str, b: &str) -> bool {
    is(a, b)
}

/// The `@odata.type` of a JSON object, as written (`None` when absent or
/// not a string).
pub fn of(value: &Value) -> Option<&str> {
    value.get("@odata.type").and_then(Value::as_str)
}

/// The annotation in the form fleetlab writes: `#` and the type name.
///
/// ```
/// use fleetlab::odata::{prefixed, ALL_DEVICES_TARGET};
/// assert_eq!(prefixed(ALL_DEVICES_TARGET), "#microsoft.graph.allDevicesAssignmentTarget");
/// assert_eq!(prefixed("#microsoft.graph.device"), "#microsoft.graph.device");
/// ```
pub fn prefixed(value: &str) -> String {
    format!("#{}", name(value))
}

/// The assignment-target types an Autopilot profile takes, canonical form:
/// one of the three constants (prefixed), or `None` for anything else.
pub fn target_kind(value: &str) -> Option<&'static str> {
    [ALL_DEVICES_TARGET, GROUP_TARGET, EXCLUSION_TARGET].into_iter().find(|t| is(value, t))
}

/// The profile types fleetlab reads: one of [`ENTRA_PROFILE`] and
/// [`HYBRID_PROFILE`], or `None` for a type Graph added later.
pub fn profile_kind(value: &str) -> Option<&'static str> {
    [ENTRA_PROFILE, HYBRID_PROFILE].into_iter().find(|t| is(value, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_and_case_match_one_type() {
        assert!(is(" #Microsoft.Graph.AllDevicesAssignmentTarget", ALL_DEVICES_TARGET));
        assert!(same("#microsoft.graph.device", "microsoft.graph.device"));
        assert!(!is("microsoft.graph.groupAssignmentTargetX", GROUP_TARGET));
        assert!(!is("", GROUP_TARGET));
        assert_eq!(target_kind("microsoft.graph.exclusionGroupAssignmentTarget"), Some(EXCLUSION_TARGET));
        assert_eq!(profile_kind("#microsoft.graph.windowsAutopilotDeploymentProfile"), None);
        assert_eq!(of(&serde_json::json!({"@odata.type": 3})), None);
    }
}
