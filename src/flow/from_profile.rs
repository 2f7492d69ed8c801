//! The one place the flow module reads the Autopilot model: a checked
//! [`Profile`] and its [`EspSettings`] become a [`FlowInput`], and an
//! assignment plan's outcome for one device becomes the flow it runs.
//!
//! Everything else in `flow` works on [`FlowInput`] alone, so a change in
//! `autopilot`'s types touches this file only.

use crate::autopilot::{
    CheckedTenant, Deployment, DevicePlan, DeviceType, EspSettings, JoinType, Language, Outcome, Profile,
};

use super::derive::{EspOptions, FlowDevice, FlowInput, FlowMode};
use super::event::Event;
use super::model::JoinKind;

/// The flow input of a profile shown with `esp`.
///
/// ```
/// use fleetlab::autopilot::{check_profile, DeploymentMode, EspSettings, ProfileSpec};
/// use fleetlab::flow::{from_profile, FlowMode};
/// let spec = ProfileSpec { name: "Kiosk".into(), mode: Some(DeploymentMode::SelfDeploying), ..ProfileSpec::default() };
/// let profile = check_profile(&spec).0.ok_or("invalid profile")?;
/// let input = from_profile::input(&profile, &EspSettings::default());
/// assert_eq!(input.mode, FlowMode::SelfDeploying);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn input(profile: &Profile, esp: &EspSettings) -> FlowInput {
    let (mode, pre_provisioning_allowed) = match profile.deployment() {
        Deployment::SelfDeploying => (FlowMode::SelfDeploying, false),
        Deployment::UserDriven(u) => (FlowMode::UserDriven, u.pre_provisioning),
    };
    FlowInput {
        mode,
        join: match profile.join_type() {
            JoinType::Entra => JoinKind::Entra,
            JoinType::Hybrid => JoinKind::Hybrid,
        },
        device: match profile.device_type() {
            DeviceType::HoloLens => FlowDevice::HoloLens,
            _ => FlowDevice::WindowsPc,
        },
        pre_provisioning_allowed,
        language_preset: matches!(profile.language(), Language::Locale { automatic_keyboard: true, .. }),
        esp: EspOptions {
            show_progress: esp.show_progress,
            block_device_use: esp.block_device_use,
            timeout_minutes: esp.timeout_minutes,
            allow_retry: esp.allow_retry,
            allow_continue: esp.allow_use_on_failure,
            allow_reset: esp.allow_reset,
            install_quality_updates: esp.install_quality_updates,
        },
        ..FlowInput::default()
    }
}

/// Every profile of a tenant with its flow input, in tenant order.
pub fn tenant_inputs(tenant: &CheckedTenant) -> Vec<(String, FlowInput)> {
    tenant
        .profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (p.profile.name().to_string(), tenant_input(tenant, i, &p.profile)))
        .collect()
}

/// The flow input of profile `i` of `tenant`, with what the tenant adds:
/// its ESP, and whether a profile is assigned to all devices.
fn tenant_input(tenant: &CheckedTenant, i: usize, profile: &Profile) -> FlowInput {
    FlowInput { default_profile: tenant.default_profile().is_some(), ..input(profile, tenant.esp_for(i)) }
}

/// What one device of an assignment plan runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceFlow {
    /// Its profile's flow.
    Profile {
        /// Profile name.
        name: String,
        /// The flow input.
        input: FlowInput,
    },
    /// No profile reaches it: the lookup fails with this event
    /// (`not-registered` or `profile-not-assigned`) and the device
    /// escapes to standard OOBE.
    Escapes {
        /// The failure event at profile lookup.
        event: Event,
        /// Why, in words.
        reason: String,
    },
}

/// The flow of one planned device. `profiles` are the plan's profile
/// indices into `tenant.profiles` (the plan keeps tenant order).
pub fn device_flow(tenant: &CheckedTenant, device: &DevicePlan) -> DeviceFlow {
    match &device.outcome {
        Outcome::Assigned { profile, .. } | Outcome::Converted { profile, .. } => {
            match tenant.profiles.get(*profile) {
                Some(p) => DeviceFlow::Profile {
                    name: p.profile.name().to_string(),
                    input: tenant_input(tenant, *profile, &p.profile),
                },
                None => DeviceFlow::Escapes {
                    event: Event::ProfileNotAssigned,
                    reason: "the plan names a profile the tenant does not have".into(),
                },
            }
        }
        Outcome::NoProfile { .. } => DeviceFlow::Escapes {
            event: Event::ProfileNotAssigned,
            reason: "registered, but no profile is assigned and there is no default profile (event 815)"
                .into(),
        },
        Outcome::NotRegistered { .. } => DeviceFlow::Escapes {
            event: Event::NotRegistered,
            reason: "not registered with Autopilot (event 807)".into(),
        },
    }
}
