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
use crate::rule::Timestamp;

/// 2026-01-05T00:00:00Z, a Monday.
const EPOCH: i64 = 1_767_571_200;

/// One deployment, as Graph's beta `autopilotEvents` returns it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutopilotEvent {
    /// Event id.
    pub id: String,
    /// The simulated device.
    pub device_id: String,
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
    /// The profile.
    pub windows_autopilot_deployment_profile_display_name: String,
    /// `enrolled`, `failed` or `notContacted`.
    pub enrollment_state: String,
    /// Overall state.
    pub deployment_state: String,
    /// Device ESP state.
    pub device_setup_status: String,
    /// Account ESP state.
    pub account_setup_status: String,
    /// Device ESP start.
    pub deployment_start_date_time: String,
    /// End.
    pub deployment_end_date_time: String,
    /// Enrollment to end, ISO 8601.
    pub deployment_duration: String,
    /// Power-on to end, ISO 8601.
    pub deployment_total_duration: String,
    /// Device ESP, ISO 8601.
    pub device_setup_duration: String,
    /// Account ESP, ISO 8601.
    pub account_setup_duration: String,
    /// The first failure's cause.
    pub enrollment_failure_details: Option<String>,
}

fn at(t: Tick) -> String {
    let secs = (t / 1000) as i64;
    Timestamp::from_unix(EPOCH + secs, 0).to_string()
}

/// An ISO 8601 duration such as `PT1H23M4S`.
pub fn iso_duration(t: Tick) -> String {
    let s = t / 1000;
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

/// The events of one replication's devices.
pub fn autopilot_events(sc: &Scenario, devs: &[Dev]) -> Vec<AutopilotEvent> {
    devs.iter()
        .enumerate()
        .map(|(i, d)| {
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
            AutopilotEvent {
                id: format!("sim-{:08}-{i:07}", sc.file.seed % 100_000_000),
                device_id: format!("device-{i:07}"),
                event_date_time: at(end),
                device_registered_date_time: at(d.registered_at),
                enrollment_start_date_time: at(d.powered),
                enrollment_type: flow.map_or("unknown", |f| f.enrollment_type).to_string(),
                device_serial_number: format!("SIM{i:09}"),
                windows_autopilot_deployment_profile_display_name: flow
                    .map_or(String::new(), |f| f.name.clone()),
                enrollment_state: match d.outcome {
                    Outcome::Escaped => "notContacted",
                    o if o.is_success() => "enrolled",
                    Outcome::Unfinished => "enrolled",
                    _ => "failed",
                }
                .to_string(),
                deployment_state: state.to_string(),
                device_setup_status: phase_status(d.device_setup, d.outcome, d.failed_phase[0]).to_string(),
                account_setup_status: phase_status(d.account_setup, d.outcome, d.failed_phase[1]).to_string(),
                deployment_start_date_time: at(enroll_start),
                deployment_end_date_time: at(end),
                deployment_duration: iso_duration(end.saturating_sub(enroll_start)),
                deployment_total_duration: iso_duration(end.saturating_sub(d.powered)),
                device_setup_duration: iso_duration(d.device_setup.1.saturating_sub(d.device_setup.0)),
                account_setup_duration: iso_duration(d.account_setup.1.saturating_sub(d.account_setup.0)),
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
    }
}
