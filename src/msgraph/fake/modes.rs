//! Behaviours of the fake that follow Microsoft's documented examples
//! rather than the most convenient answer, so the client is tested against
//! what the documentation promises and nothing more.
//!
//! * **Default properties of a devices delta.** Without `$select`, the
//!   fake answers `GET /devices/delta` with only the properties the
//!   example response of "device: delta"
//!   (<https://learn.microsoft.com/graph/api/device-delta?view=graph-rest-1.0>)
//!   shows: `id`, `accountEnabled`, `createdDateTime`, `deviceId`,
//!   `displayName`, `operatingSystem`, `operatingSystemVersion`,
//!   `alternativeSecurityIds`. The page documents no default set at all,
//!   so a client that needs `physicalIds` (every `devicePhysicalIds` rule)
//!   must select it; this makes a missing `$select` visible in tests. With
//!   `$select`, the answer holds `id` and the selected properties, as the
//!   page says ("The **id** property is always returned").
//! * **The selection lives in the tokens.** Graph "automatically encodes
//!   any specified parameters into the `$deltatoken` portion of the
//!   `@odata.nextLink` or `@odata.deltaLink`"; the fake keeps the `$select`
//!   text inside its own tokens likewise, so a link followed verbatim keeps
//!   the selection and a client that drops it cannot tell.
//! * **Unprefixed type annotations** ([`Modes::unprefixed_types`]): Intune's
//!   documentation writes `"@odata.type": "microsoft.graph.groupAssignmentTarget"`
//!   without `#`; in this mode the fake writes assignment targets and
//!   profiles that way.
//! * **Refusing the assignments route** ([`Modes::refuse_assignments`]):
//!   the profile list answers, its `/assignments` route gets Intune's 403,
//!   for the partial-pull tests.
//! * **`Prefer: return=minimal`** ([`Modes::return_minimal`]): on a group
//!   delta round started from a deltaLink, a group whose properties did not
//!   change comes back with `id` and `members@delta` only, as "group:
//!   delta" documents for that header.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Properties of a device in the documented example response of
/// `GET /devices/delta` (no `$select`).
pub const DEVICE_DELTA_DEFAULTS: &[&str] = &[
    "id",
    "accountEnabled",
    "createdDateTime",
    "deviceId",
    "displayName",
    "operatingSystem",
    "operatingSystemVersion",
    "alternativeSecurityIds",
];

/// Switches for the documented-shape behaviours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Modes {
    /// A devices delta without `$select` returns only
    /// [`DEVICE_DELTA_DEFAULTS`]. On by default: what the documentation
    /// promises is all a client may count on.
    pub documented_device_defaults: bool,
    /// Write `@odata.type` without the leading `#` on profiles and
    /// assignment targets.
    pub unprefixed_types: bool,
    /// Answer `…/windowsAutopilotDeploymentProfiles/{id}/assignments` with
    /// Intune's 403, whatever the token's roles.
    pub refuse_assignments: bool,
    /// Honour `Prefer: return=minimal` on group delta rounds.
    pub return_minimal: bool,
    /// Device properties this tenant's v1.0 does not know: a `$select`
    /// naming one is Graph's 400 "Could not find a property named …".
    pub unknown_device_properties: Vec<String>,
}

impl Default for Modes {
    fn default() -> Modes {
        Modes {
            documented_device_defaults: true,
            unprefixed_types: false,
            refuse_assignments: false,
            return_minimal: true,
            unknown_device_properties: Vec::new(),
        }
    }
}

/// The query option the routes read for `Prefer: return=minimal` (a name
/// no client can send, since Graph's options start with `$`).
pub(crate) const PREFER_MINIMAL: &str = "@prefer-return-minimal";

/// `query` plus [`PREFER_MINIMAL`] when the request carried
/// `Prefer: return=minimal`, so routes that honour it need no headers.
pub(crate) fn with_prefer(
    query: &[(String, String)],
    headers: &axum::http::HeaderMap,
) -> Vec<(String, String)> {
    let mut out = query.to_vec();
    let minimal = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("return=minimal")));
    if minimal {
        out.push((PREFER_MINIMAL.to_string(), String::new()));
    }
    out
}

/// The fields a `$select` names (trimmed, empty ones dropped).
pub(crate) fn select_fields(select: &str) -> Vec<&str> {
    select.split(',').map(str::trim).filter(|f| !f.is_empty()).collect()
}

/// A device as a delta round renders it: `id` plus the selected
/// properties, or the documented defaults when nothing was selected (and
/// the mode is on), or the whole record.
pub(crate) fn project_device(raw: &str, select: Option<&str>, modes: &Modes) -> String {
    let keep: Vec<&str> = match select {
        Some(s) => select_fields(s),
        None if modes.documented_device_defaults => DEVICE_DELTA_DEFAULTS.to_vec(),
        None => return raw.to_string(),
    };
    let Ok(Value::Object(device)) = serde_json::from_str::<Value>(raw) else { return raw.to_string() };
    let out: Map<String, Value> = device
        .into_iter()
        .filter(|(k, _)| k == "id" || keep.iter().any(|f| f.eq_ignore_ascii_case(k)))
        .collect();
    Value::Object(out).to_string()
}

/// `value` with the `#` dropped from its `@odata.type` and from its
/// `target`'s, in the unprefixed mode; unchanged otherwise.
pub(crate) fn write_types(mut value: Map<String, Value>, modes: &Modes) -> Map<String, Value> {
    if !modes.unprefixed_types {
        return value;
    }
    let strip = |m: &mut Map<String, Value>| {
        if let Some(Value::String(t)) = m.get_mut("@odata.type") {
            *t = crate::odata::name(t).to_string();
        }
    };
    strip(&mut value);
    if let Some(Value::Object(target)) = value.get_mut("target") {
        strip(target);
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_id_and_the_selection() {
        let raw = r#"{"id":"d1","displayName":"A","physicalIds":["[ZTDId]:x"],"model":"M"}"#;
        let modes = Modes::default();
        let parsed = |s: String| serde_json::from_str::<Value>(&s).unwrap_or(Value::Null);
        assert_eq!(
            parsed(project_device(raw, Some("physicalIds, model"), &modes)),
            serde_json::json!({"id": "d1", "model": "M", "physicalIds": ["[ZTDId]:x"]})
        );
        assert_eq!(
            parsed(project_device(raw, None, &modes)),
            serde_json::json!({"id": "d1", "displayName": "A"})
        );
        let all = Modes { documented_device_defaults: false, ..Modes::default() };
        assert_eq!(project_device(raw, None, &all), raw);
    }

    #[test]
    fn unprefixed_mode_strips_the_hash() {
        let a = serde_json::json!({"id": "a", "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget"}});
        let Value::Object(a) = a else { return };
        let on = Modes { unprefixed_types: true, ..Modes::default() };
        let out = Value::Object(write_types(a.clone(), &on));
        assert_eq!(out["target"]["@odata.type"], "microsoft.graph.groupAssignmentTarget");
        assert_eq!(Value::Object(write_types(a.clone(), &Modes::default())), Value::Object(a));
    }
}
