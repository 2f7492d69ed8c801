//! Simulated devices as Intune's Autopilot deployment events
//! (`deviceManagementAutopilotEvent`, `enrollment-model.md` §7), so a run
//! can be set beside a tenant's own history and calibrated against it.
//!
//! Time zero of a scenario is Monday 00:00; events are dated from Monday
//! 5 January 2026 UTC so that weekdays in the output match the shifts.

use serde::Serialize;

use super::engine::Tick;
use super::model::{Dev, Outcome};
use super::resolve::Scenario;
use super::rng::splitmix64;
use crate::rule::Timestamp;

/// 2026-01-05T00:00:00Z, a Monday.
const EPOCH: i64 = 1_767_571_200;

/// The OS build the simulated devices report: Windows 11 24H2 (build
/// 26100), which Autopilot device preparation and current v1 images run.
pub const OS_VERSION: &str = "10.0.26100.4349";

/// The name Intune gives its built-in Enrollment Status Page profile.
const DEFAULT_ESP: &str = "All users and all devices";

/// One deployment, as Graph's beta `autopilotEvents` returns it: every
/// property of the `deviceManagementAutopilotEvent` resource type
/// (microsoft-graph-docs-contrib,
/// `api-reference/beta/resources/intune-troubleshooting-devicemanagementautopilotevent.md`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutopilotEvent {
    /// `#microsoft.graph.deviceManagementAutopilotEvent`.
    #[serde(rename = "@odata.type")]
    pub odata_type: &'static str,
    /// Event id, a GUID.
    pub id: String,
    /// The simulated device's Intune id, a GUID.
    pub device_id: String,
    /// The enrolling user's id, a GUID (`None` without a user: self-deploying).
    pub user_id: Option<String>,
    /// When the event was recorded (the end, or the horizon).
    pub event_date_time: String,
    /// Registration (profile visible to the device).
    pub device_registered_date_time: String,
    /// Power-on.
    pub enrollment_start_date_time: String,
    /// Graph's enrollment type.
    pub enrollment_type: String,
    /// The device's serial number.
    pub device_serial_number: String,
    /// The managed device's name (Windows' default `DESKTOP-` plus seven characters).
    pub managed_device_name: String,
    /// The user principal name used to enroll the device.
    pub user_principal_name: Option<String>,
    /// The profile.
    pub windows_autopilot_deployment_profile_display_name: String,
    /// `enrolled`, `failed` or `notContacted`.
    pub enrollment_state: String,
    /// The Enrollment Status Page profile's name.
    pub windows10_enrollment_completion_page_configuration_display_name: String,
    /// The Enrollment Status Page profile's id, a GUID.
    pub windows10_enrollment_completion_page_configuration_id: String,
    /// Overall state.
    pub deployment_state: String,
    /// Device ESP state.
    pub device_setup_status: String,
    /// Account ESP state.
    pub account_setup_status: String,
    /// The device's OS version.
    pub os_version: String,
    /// Device ESP start.
    pub deployment_start_date_time: String,
    /// End.
    pub deployment_end_date_time: String,
    /// Deployment start to end ("including enrollment"), ISO 8601.
    pub deployment_duration: String,
    /// Power-on (enrollment start) to end, ISO 8601.
    pub deployment_total_duration: String,
    /// Device ESP, ISO 8601.
    pub device_setup_duration: String,
    /// Account ESP, ISO 8601.
    pub account_setup_duration: String,
    /// The first failure's cause.
    pub enrollment_failure_details: Option<String>,
}

/// Whole seconds: every timestamp is cut to the second first and every
/// duration is taken between cut timestamps, so a row's durations are
/// exactly the differences of its own timestamps.
fn secs(t: Tick) -> i64 {
    (t / 1000) as i64
}

fn at(t: Tick) -> String {
    Timestamp::from_unix(EPOCH + secs(t), 0).to_string()
}

/// An ISO 8601 duration such as `PT1H23M4S`.
pub fn iso_duration(t: Tick) -> String {
    iso_seconds((t / 1000) as i64)
}

fn iso_seconds(s: i64) -> String {
    let s = s.max(0);
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 || h > 0 {
        out.push_str(&format!("{m}M"));
    }
    out.push_str(&format!("{s}S"));
    out
}

fn span(from: Tick, to: Tick) -> String {
    iso_seconds(secs(to) - secs(from))
}

/// A deterministic version-4-shaped GUID for `(seed, kind, n)` (RFC 9562
/// §5.4 layout: version nibble 4, variant bits 10).
pub fn guid(seed: u64, kind: u64, n: u64) -> String {
    let hi = splitmix64(seed ^ splitmix64(kind ^ splitmix64(n)));
    let lo = splitmix64(hi ^ 0x9E37_79B9_7F4A_7C15);
    let hi = (hi & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

fn phase_status(span: (Tick, Tick), outcome: Outcome, failed_here: bool) -> &'static str {
    match span {
        (0, _) => "notAttempted",
        (_, 0) => match outcome {
            Outcome::Unfinished => "inProgress",
            Outcome::SuccessWithTimeout => "successWithTimeout",
            _ => "failure",
        },
        _ if failed_here => match outcome {
            Outcome::SuccessOnRetry => "successOnRetry",
            Outcome::SuccessWithTimeout => "successWithTimeout",
            _ => "failure",
        },
        _ => "success",
    }
}

/// The events of one replication's devices. A device that was never
/// powered on by the horizon never contacted Intune and has no event.
pub fn autopilot_events(sc: &Scenario, devs: &[Dev]) -> Vec<AutopilotEvent> {
    let seed = sc.file.seed;
    let esp_name = DEFAULT_ESP.to_string();
    let esp_id = guid(seed, 4, 0);
    devs.iter()
        .enumerate()
        .filter(|(_, d)| d.powered_on)
        .map(|(i, d)| {
            let n = i as u64;
            let flow = sc.flows.get(sc.device_flows.get(i).map_or(0, |f| f.0 as usize));
            let end = if d.outcome == Outcome::Unfinished || d.end == 0 { sc.horizon } else { d.end };
            let state = match d.outcome {
                Outcome::Success => "success",
                Outcome::SuccessOnRetry => "successOnRetry",
                Outcome::SuccessWithTimeout => "successWithTimeout",
                Outcome::Unfinished => "inProgress",
                _ => "failure",
            };
            let enroll_start = if d.device_setup.0 > 0 { d.device_setup.0 } else { d.powered };
            let enrollment_type = flow.map_or("unknown", |f| f.enrollment_type);
            // Self-deploying authenticates the device, not a user.
            let user = !enrollment_type.contains("DeviceAuth");
            let phase = |p: (Tick, Tick)| match p {
                (0, _) => span(0, 0),
                (s, 0) => span(s, end),
                (s, e) => span(s, e),
            };
            let name_hash = splitmix64(seed ^ splitmix64(n ^ 0xDE5C));
            AutopilotEvent {
                odata_type: "#microsoft.graph.deviceManagementAutopilotEvent",
                id: guid(seed, 1, n),
                device_id: guid(seed, 2, n),
                user_id: user.then(|| guid(seed, 3, n)),
                event_date_time: at(end),
                device_registered_date_time: at(d.registered_at),
                enrollment_start_date_time: at(d.powered),
                enrollment_type: enrollment_type.to_string(),
                device_serial_number: format!("SIM{i:09}"),
                managed_device_name: format!("DESKTOP-{:07X}", name_hash & 0xFFF_FFFF),
                user_principal_name: user.then(|| format!("user{i:06}@contoso.example")),
                windows_autopilot_deployment_profile_display_name: flow
                    .map_or(String::new(), |f| f.name.clone()),
                enrollment_state: match d.outcome {
                    Outcome::Escaped => "notContacted",
                    o if o.is_success() => "enrolled",
                    Outcome::Unfinished => "enrolled",
                    _ => "failed",
                }
                .to_string(),
                windows10_enrollment_completion_page_configuration_display_name: esp_name.clone(),
                windows10_enrollment_completion_page_configuration_id: esp_id.clone(),
                deployment_state: state.to_string(),
                device_setup_status: phase_status(d.device_setup, d.outcome, d.failed_phase[0]).to_string(),
                account_setup_status: phase_status(d.account_setup, d.outcome, d.failed_phase[1]).to_string(),
                os_version: OS_VERSION.to_string(),
                deployment_start_date_time: at(enroll_start),
                deployment_end_date_time: at(end),
                deployment_duration: span(enroll_start, end),
                deployment_total_duration: span(d.powered, end),
                device_setup_duration: phase(d.device_setup),
                account_setup_duration: phase(d.account_setup),
                enrollment_failure_details: d.first_cause.and_then(|c| sc.causes.get(c as usize).cloned()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::MINUTE;

    #[test]
    fn durations_read_as_iso() {
        assert_eq!(iso_duration(0), "PT0S");
        assert_eq!(iso_duration(61_000), "PT1M1S");
        assert_eq!(iso_duration(3 * 60 * MINUTE + 5_000), "PT3H0M5S");
        assert_eq!(at(0), "2026-01-05T00:00:00Z");
        // Cut to the second before subtracting: 0.6 s to 2.4 s is 2 s − 0 s.
        assert_eq!(span(600, 2_400), "PT2S");
    }

    #[test]
    fn guids_have_the_version_4_shape() {
        let g = guid(7, 1, 42);
        let parts: Vec<&str> = g.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].chars().next(), Some('8' | '9' | 'a' | 'b')));
        assert_ne!(g, guid(7, 1, 43));
        assert_eq!(g, guid(7, 1, 42));
    }
}
