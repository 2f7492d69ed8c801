//! States, guards and timings of `enrollment-model.md` §6, as data; the
//! rows that use them are in [`transitions`](super::TRANSITIONS).
//!
//! Every row of the table is a [`Transition`](super::Transition): the spec row it encodes, the
//! state it leaves, the event, the guard (which flows, which join, which
//! profile and ESP conditions), the state it enters, the error code where
//! one applies, and a [`Timing`] slot (duration of the time spent in the
//! source state before the event, and the event's probability) filled
//! with the §3.2/§3.5 defaults where the spec gives them. Nothing here
//! knows about a particular device: [`derive`](super::derive()) resolves
//! the guards for one [`FlowInput`](super::FlowInput).

use std::fmt;

use serde::Serialize;

/// Which plane a state belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Plane {
    /// The Autopilot record in the tenant (§6.1, service plane).
    Service,
    /// The device in front of the user or technician.
    Device,
}

/// The four steps of ESP device preparation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrepStep {
    /// TPM attestation ("Secure your hardware").
    SecureHardware,
    /// Device-token Entra join, or offline domain join.
    Join,
    /// MDM enrollment.
    Register,
    /// IME install and "Identifying".
    Prepare,
}

/// The steps of a device-preparation (APv2) deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum V2Step {
    /// User sign-in.
    SignIn,
    /// Entra join and Intune enrollment.
    JoinEnroll,
    /// IME install.
    Ime,
    /// Selected LOB and Microsoft 365 apps.
    LobM365,
    /// Selected PowerShell scripts.
    Scripts,
    /// Selected Win32, Store and catalog apps.
    Win32Store,
}

/// The ESP phase an error screen belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EspPhase {
    /// Device preparation.
    Prep,
    /// Device setup.
    Device,
    /// Account setup.
    Account,
}

/// Where the pre-provisioning red screen sends "Retry".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PpStep {
    /// The landing page (0x80180005: profile disallows pre-provisioning).
    Landing,
    /// Join (ODJ failure, Entra object missing).
    Join,
    /// IME preparation.
    Prepare,
    /// Device setup (blocking app, timeout).
    DeviceSetup,
}

/// Why enrollment failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnrollCause {
    /// User-driven join or enrollment refused (licence, limit, permissions, edition).
    Join,
    /// 0x80180014: a self-deploying or pre-provisioned device enrolling a second time.
    Reenrollment,
}

/// TPM attestation failure class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TpmFailure {
    /// 0x81039001, clock skew, service incident: a retry often works.
    Transient,
    /// 0x800705B4 (no TPM 2.0, VM), 0x81039024, fTPM firmware: not on this hardware.
    Permanent,
}

/// What the admin has to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdminReason {
    /// Look at the logs and decide.
    Triage,
    /// Delete the Intune record or unblock the device.
    Unblock,
    /// Re-register the hardware hash.
    Reregister,
    /// Fix the MDM configuration.
    Config,
    /// Licence, join permissions or device limit.
    Licence,
}

/// A state of §6.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state", content = "detail")]
#[allow(missing_docs)]
pub enum State {
    // Service plane.
    Unregistered,
    ImportPending,
    ImportFailed,
    Registered,
    Assigning,
    ProfileAssigned,
    EnrollBlocked,
    // Device plane.
    Boxed,
    OobeStart,
    RegionKeyboard,
    NetworkConnect,
    ProfileLookup,
    OobeUpdates,
    PreProvLanding,
    EntraSignIn,
    JoinEnroll,
    EspPrep(PrepStep),
    HybridReboot,
    EspDeviceSetup,
    CredentialReprompt,
    DomainLogon,
    EspAccountSetup,
    QualityUpdates,
    HelloSetup,
    Desktop,
    SignInScreen,
    KioskAutologon,
    PreProvSuccess,
    Resealed,
    UserFlowStart,
    StandardOobe,
    // Device preparation (APv2).
    V2(V2Step),
    V2Complete,
    V2Failed(V2Step),
    // HoloLens.
    HlDetectWindow,
    HlLowBattery,
    HlTenantLockWait,
    // Failures and administration.
    EspError(EspPhase),
    PreProvError(PpStep),
    EnrollError(EnrollCause),
    TpmError(TpmFailure),
    Resetting,
    AwaitAdmin(AdminReason),
    Abandoned,
}

impl State {
    /// The plane of the state.
    pub fn plane(self) -> Plane {
        use State::*;
        match self {
            Unregistered | ImportPending | ImportFailed | Registered | Assigning | ProfileAssigned
            | EnrollBlocked => Plane::Service,
            _ => Plane::Device,
        }
    }

    /// A terminal state ends a run (§6.2 validation rules): `Desktop`,
    /// `SignInScreen`, `KioskAutologon`, `Resealed`, `StandardOobe`,
    /// `Abandoned`, `AwaitAdmin`; on the service plane `ProfileAssigned`.
    /// A terminal may still have edges: the next run (a reboot after a
    /// fix, the user flow after Reseal, the first user after a sign-in
    /// screen).
    pub fn is_terminal(self) -> bool {
        use State::*;
        matches!(
            self,
            Desktop
                | SignInScreen
                | KioskAutologon
                | Resealed
                | StandardOobe
                | Abandoned
                | AwaitAdmin(_)
                | ProfileAssigned
        )
    }

    /// A failure state (drawn apart, counted as failed attempts).
    pub fn is_failure(self) -> bool {
        use State::*;
        matches!(
            self,
            EspError(_)
                | PreProvError(_)
                | EnrollError(_)
                | TpmError(_)
                | V2Failed(_)
                | ImportFailed
                | EnrollBlocked
                | StandardOobe
                | Abandoned
                | AwaitAdmin(_)
        )
    }

    /// The phase the time spent in this state counts towards (`flow walk`).
    pub fn phase(self) -> &'static str {
        use State::*;
        match self {
            Unregistered | ImportPending | ImportFailed | Registered | Assigning | ProfileAssigned
            | EnrollBlocked => "service",
            Boxed | OobeStart | RegionKeyboard | NetworkConnect | ProfileLookup | OobeUpdates
            | HlDetectWindow | HlLowBattery | HlTenantLockWait | UserFlowStart => "oobe",
            PreProvLanding | PreProvSuccess | Resealed => "technician",
            EntraSignIn | JoinEnroll | DomainLogon | CredentialReprompt => "identity",
            EspPrep(_) | HybridReboot => "esp-device-preparation",
            EspDeviceSetup => "esp-device-setup",
            EspAccountSetup => "esp-account-setup",
            QualityUpdates | HelloSetup => "after-esp",
            V2(_) | V2Complete => "device-preparation-v2",
            Desktop | SignInScreen | KioskAutologon | StandardOobe | Abandoned => "end",
            EspError(_) | PreProvError(_) | EnrollError(_) | TpmError(_) | V2Failed(_) | Resetting
            | AwaitAdmin(_) => "error",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use State::*;
        let prep = |s: PrepStep| match s {
            PrepStep::SecureHardware => "SecureHardware",
            PrepStep::Join => "Join",
            PrepStep::Register => "Register",
            PrepStep::Prepare => "Prepare",
        };
        let v2 = |s: V2Step| match s {
            V2Step::SignIn => "SignIn",
            V2Step::JoinEnroll => "JoinEnroll",
            V2Step::Ime => "Ime",
            V2Step::LobM365 => "LobM365",
            V2Step::Scripts => "Scripts",
            V2Step::Win32Store => "Win32Store",
        };
        match *self {
            EspPrep(s) => write!(f, "EspPrep.{}", prep(s)),
            V2(s) => write!(f, "V2.{}", v2(s)),
            V2Complete => f.write_str("V2.Complete"),
            V2Failed(s) => write!(f, "V2.Failed{{{}}}", v2(s)),
            HlDetectWindow => f.write_str("HL.DetectWindow"),
            HlLowBattery => f.write_str("HL.LowBattery"),
            HlTenantLockWait => f.write_str("HL.TenantLockWait"),
            EspError(p) => write!(
                f,
                "EspError{{{}}}",
                match p {
                    EspPhase::Prep => "prep",
                    EspPhase::Device => "device",
                    EspPhase::Account => "account",
                }
            ),
            PreProvError(s) => write!(
                f,
                "PreProvError{{{}}}",
                match s {
                    PpStep::Landing => "landing",
                    PpStep::Join => "join",
                    PpStep::Prepare => "prepare",
                    PpStep::DeviceSetup => "device-setup",
                }
            ),
            EnrollError(c) => write!(
                f,
                "EnrollError{{{}}}",
                match c {
                    EnrollCause::Join => "join",
                    EnrollCause::Reenrollment => "0x80180014",
                }
            ),
            TpmError(t) => write!(
                f,
                "TpmError{{{}}}",
                match t {
                    TpmFailure::Transient => "transient",
                    TpmFailure::Permanent => "permanent",
                }
            ),
            AwaitAdmin(r) => write!(
                f,
                "AwaitAdmin{{{}}}",
                match r {
                    AdminReason::Triage => "triage",
                    AdminReason::Unblock => "unblock",
                    AdminReason::Reregister => "reregister",
                    AdminReason::Config => "config",
                    AdminReason::Licence => "licence",
                }
            ),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A flow a transition can belong to (the guard abbreviations of §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// `UD`: user-driven (join chosen by the guard's `join`).
    UserDriven,
    /// `SD`: self-deploying on a Windows PC.
    SelfDeploying,
    /// `HL`: self-deploying on a HoloLens 2.
    HoloLens,
    /// `PP-T`: the pre-provisioning technician flow.
    Technician,
    /// `PP-U`: the pre-provisioning user flow, after Reseal.
    UserFlow,
    /// `V2`: Windows Autopilot device preparation.
    DevicePreparation,
}

/// Which copy of a state a node is. The technician and user flows of
/// pre-provisioning pass through states with the same name as the plain
/// run (device setup runs in both, differently), so a node is a
/// (segment, state) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Segment {
    /// The device's own run (user-driven, self-deploying, HoloLens, V2), and the service plane.
    Main,
    /// The pre-provisioning technician flow.
    Technician,
    /// The pre-provisioning user flow.
    User,
}

impl Flow {
    /// The segment the flow's nodes live in.
    pub fn segment(self) -> Segment {
        match self {
            Flow::Technician => Segment::Technician,
            Flow::UserFlow => Segment::User,
            _ => Segment::Main,
        }
    }
}

/// A graph node: a state in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Node {
    /// Which copy.
    pub segment: Segment,
    /// The state.
    pub state: State,
}

impl Node {
    /// A node of the main segment.
    pub const fn main(state: State) -> Node {
        Node { segment: Segment::Main, state }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.segment {
            Segment::Main => write!(f, "{}", self.state),
            Segment::Technician => write!(f, "technician/{}", self.state),
            Segment::User => write!(f, "user/{}", self.state),
        }
    }
}

/// Entra or hybrid join (the flow module's own copy; see `from_profile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinKind {
    /// Microsoft Entra join.
    Entra,
    /// Microsoft Entra hybrid join.
    Hybrid,
}

/// A profile, ESP or device condition a transition needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cond {
    /// The ESP is shown and blocks device use: it can time out and fail.
    EspBlocking,
    /// "Try again" is offered.
    EspRetry,
    /// "Continue anyway" is offered.
    EspContinue,
    /// "Reset device" is offered.
    EspReset,
    /// Windows quality updates run after the ESP.
    QualityUpdates,
    /// They do not.
    NoQualityUpdates,
    /// Windows Hello for Business provisioning runs.
    Hello,
    /// It does not.
    NoHello,
    /// The profile allows pre-provisioning.
    PreProvisioningAllowed,
    /// It does not (WIN×5 still opens the landing page).
    PreProvisioningDisallowed,
    /// Language preset and keyboard automatic: the pages can be skipped on Ethernet.
    LanguagePreset,
    /// TenantLockdown `RequireNetworkInOOBE` (HoloLens).
    TenantLockdown,
    /// No TenantLockdown.
    NoTenantLockdown,
    /// A kiosk profile: self-deploying ends in autologon.
    Kiosk,
    /// No kiosk profile.
    NotKiosk,
    /// APv2: "Allow users to skip setup after multiple attempts".
    V2AllowSkip,
    /// No profile is assigned to all devices: a registered device no
    /// group's profile reaches has none (event 815).
    NoDefaultProfile,
}

/// The guard of a transition: all of it must hold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Guard {
    /// The flows the row applies to.
    pub flows: &'static [Flow],
    /// Only this join, when set.
    pub join: Option<JoinKind>,
    /// Further conditions, all required.
    pub conds: &'static [Cond],
}

/// How an edge is drawn and walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    /// The way forward.
    Normal,
    /// A failure (dashed red in exports).
    Error,
    /// A way out of a failure: Try again, Continue anyway, Reset, Retry.
    Recovery,
    /// A later run: reboot after a fix, the user flow after Reseal, the
    /// first user after the sign-in screen (dotted).
    NextRun,
}

/// A duration distribution, in minutes (§3 notation).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Dist {
    /// Always this long.
    Fixed {
        /// Minutes.
        minutes: f64,
    },
    /// `Tri(min, mode, max)`.
    Triangular {
        /// Minimum.
        min: f64,
        /// Mode.
        mode: f64,
        /// Maximum.
        max: f64,
    },
    /// `LN(mean, cv)` (`LogNormal::from_mean_cv`).
    LogNormal {
        /// Mean.
        mean: f64,
        /// Coefficient of variation.
        cv: f64,
    },
    /// `PERT(min, mode, max)`.
    Pert {
        /// Minimum.
        min: f64,
        /// Mode.
        mode: f64,
        /// Maximum.
        max: f64,
    },
    /// `Uniform(min, max)`.
    Uniform {
        /// Minimum.
        min: f64,
        /// Maximum.
        max: f64,
    },
    /// The ESP timeout of the profile (hybrid device phase: +40 min);
    /// resolved by derivation.
    EspTimeout,
    /// No default: the scenario fills it.
    Unset,
}

/// The per-edge slot a scenario fills: how long the source state lasts
/// before this event, and how likely the event is there.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Timing {
    /// The spec's default ("Default" column of §3.2), in minutes: what
    /// `flow walk` uses.
    pub minutes: f64,
    /// The distribution for the simulator.
    pub dist: Dist,
    /// Probability of this event when it competes with others (§3.5);
    /// `None` for the default way forward or a choice.
    pub p: Option<f64>,
}

impl Timing {
    /// No time, no probability.
    pub const ZERO: Timing = Timing { minutes: 0.0, dist: Dist::Fixed { minutes: 0.0 }, p: None };
}
