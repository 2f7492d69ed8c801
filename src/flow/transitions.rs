//! The transition table of `enrollment-model.md` §6.2, as data: one
//! [`Transition`] per spec row, built with `const fn` so the whole table is
//! a `static` checked at compile time. The types it speaks of (states,
//! guards, timings) are in [`model`](super::model); the table is kept apart
//! so a spec revision touches this file only.

use serde::Serialize;

use super::event::Event;

use super::model::{
    AdminReason, Cond, Dist, EdgeKind, EnrollCause, EspPhase, Flow, Guard, JoinKind, PpStep, PrepStep,
    Segment, State, Timing, TpmFailure, V2Step,
};

/// A row of the §6.2 table.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Transition {
    /// The spec row (`"12a"`, `"37"`; `"+…"` for rows fleetlab adds).
    pub row: &'static str,
    /// Source state.
    pub from: State,
    /// Event id (kebab case; `flow walk --fail` takes these).
    pub event: Event,
    /// Human description of the event.
    pub label: &'static str,
    /// When it applies.
    pub guard: Guard,
    /// Target state.
    pub to: State,
    /// Target segment when the edge crosses segments (WIN×5, Reseal, Reset).
    pub to_segment: Option<Segment>,
    /// Drawing and walking.
    pub kind: EdgeKind,
    /// Error code, where one applies.
    pub code: Option<&'static str>,
    /// Duration and probability slot.
    pub timing: Timing,
}

impl Transition {
    const fn new(
        row: &'static str,
        from: State,
        event: Event,
        label: &'static str,
        flows: &'static [Flow],
        to: State,
    ) -> Transition {
        Transition {
            row,
            from,
            event,
            label,
            guard: Guard { flows, join: None, conds: &[] },
            to,
            to_segment: None,
            kind: EdgeKind::Normal,
            code: None,
            timing: Timing::ZERO,
        }
    }
    const fn join(mut self, join: JoinKind) -> Self {
        self.guard.join = Some(join);
        self
    }
    const fn when(mut self, conds: &'static [Cond]) -> Self {
        self.guard.conds = conds;
        self
    }
    const fn error(mut self, code: Option<&'static str>) -> Self {
        self.kind = EdgeKind::Error;
        self.code = code;
        self
    }
    const fn recovery(mut self) -> Self {
        self.kind = EdgeKind::Recovery;
        self
    }
    const fn next_run(mut self) -> Self {
        self.kind = EdgeKind::NextRun;
        self
    }
    const fn into(mut self, segment: Segment) -> Self {
        self.to_segment = Some(segment);
        self
    }
    const fn takes(mut self, minutes: f64, dist: Dist) -> Self {
        self.timing.minutes = minutes;
        self.timing.dist = dist;
        self
    }
    const fn p(mut self, p: f64) -> Self {
        self.timing.p = Some(p);
        self
    }
}

use Cond as C;
use Event as E;
use Flow::{
    DevicePreparation as FV2, HoloLens as FHL, SelfDeploying as FSD, Technician as FPT, UserDriven as FUD,
    UserFlow as FPU,
};
use State as S;

const V1: &[Flow] = &[FUD, FSD, FHL, FPT, FPU];
const ALL: &[Flow] = &[FUD, FSD, FHL, FPT, FPU, FV2];
const UD: &[Flow] = &[FUD];
const SD: &[Flow] = &[FSD];
const HL: &[Flow] = &[FHL];
const SD_HL: &[Flow] = &[FSD, FHL];
const PPT: &[Flow] = &[FPT];
const PPU: &[Flow] = &[FPU];
const V2: &[Flow] = &[FV2];
const SD_PPT_HL: &[Flow] = &[FSD, FPT, FHL];
const UD_PPU: &[Flow] = &[FUD, FPU];
const ESP_FLOWS: &[Flow] = &[FUD, FSD, FHL, FPU];
const SERVICE: &[Flow] = &[FUD, FSD, FHL];

const fn ln(mean: f64, cv: f64) -> Dist {
    Dist::LogNormal { mean, cv }
}
const fn tri(min: f64, mode: f64, max: f64) -> Dist {
    Dist::Triangular { min, mode, max }
}
const fn pert(min: f64, mode: f64, max: f64) -> Dist {
    Dist::Pert { min, mode, max }
}
const fn fixed(minutes: f64) -> Dist {
    Dist::Fixed { minutes }
}
const TIMEOUT: Dist = Dist::EspTimeout;
/// §3.2 technician error triage, PERT(3, 6, 15).
const TRIAGE: Dist = pert(3.0, 6.0, 15.0);

const PREP_SH: State = S::EspPrep(PrepStep::SecureHardware);
const PREP_JOIN: State = S::EspPrep(PrepStep::Join);
const PREP_REG: State = S::EspPrep(PrepStep::Register);
const PREP_PREP: State = S::EspPrep(PrepStep::Prepare);

/// The §6.2 table (rows in spec order; within a source state the first
/// `Normal` row listed is the way forward `flow walk` takes by default).
/// Rows marked `+` are fleetlab's: the service-plane unblock edge, the
/// "user gives up" exits of error states that had none, the HoloLens
/// power-cycle of `autopilot-profiles.md`, and self-loops the spec names
/// in prose (reboots, Refresh).
pub static TRANSITIONS: &[Transition] = &[
    // Service plane (v1 only; V2 devices are not registered).
    Transition::new(
        "1",
        S::Unregistered,
        E::Import,
        "hash imported (CSV ≤ 500 or Graph) or OEM registers",
        SERVICE,
        S::ImportPending,
    )
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "2",
        S::ImportPending,
        E::ImportComplete,
        "import complete; Entra stub created",
        SERVICE,
        S::Registered,
    ),
    Transition::new(
        "3",
        S::ImportPending,
        E::ImportError,
        "import error 806 / 808 / 400",
        SERVICE,
        S::ImportFailed,
    )
    .error(Some("806/808/400")),
    Transition::new(
        "4",
        S::ImportFailed,
        E::AdminFixesImport,
        "admin fixes padding, MSfB removal, support case",
        SERVICE,
        S::ImportPending,
    )
    .recovery()
    .takes(240.0, Dist::Unset),
    Transition::new(
        "5",
        S::Registered,
        E::GroupMatched,
        "a group includes the device and the profile targets it",
        SERVICE,
        S::Assigning,
    )
    .takes(10.0, ln(10.0, 1.0)),
    Transition::new(
        "6",
        S::Registered,
        E::AllDevicesProfile,
        "an All Devices profile exists: assigned at once",
        SERVICE,
        S::ProfileAssigned,
    ),
    Transition::new(
        "7",
        S::Assigning,
        E::Assigned,
        "assignment latency elapses",
        SERVICE,
        S::ProfileAssigned,
    )
    .takes(15.0, ln(15.0, 1.2)),
    Transition::new(
        "+s1",
        S::ProfileAssigned,
        E::EnrolledOnce,
        "self-deploying device enrolled: its one enrollment is used",
        SD_HL,
        S::EnrollBlocked,
    )
    .next_run(),
    Transition::new(
        "+s1",
        S::ProfileAssigned,
        E::EnrolledOnce,
        "pre-provisioned device enrolled: its one enrollment is used",
        UD,
        S::EnrollBlocked,
    )
    .when(&[C::PreProvisioningAllowed])
    .next_run(),
    Transition::new(
        "+s2",
        S::EnrollBlocked,
        E::AdminUnblocks,
        "admin deletes the Intune record or uses Unblock device",
        SERVICE,
        S::ProfileAssigned,
    )
    .recovery()
    .takes(240.0, Dist::Unset),
    // Power on.
    Transition::new("8", S::Boxed, E::PowerOn, "powered on", ALL, S::OobeStart)
        .takes(2.0, tri(1.0, 2.0, 5.0)),
    Transition::new("9", S::Resealed, E::UserPowersOn, "powered on by the user", PPT, S::UserFlowStart)
        .into(Segment::User)
        .next_run(),
    Transition::new(
        "75",
        S::Resealed,
        E::PoweredOnEarly,
        "powered on < 90 min after Reseal (token issue)",
        PPT,
        S::UserFlowStart,
    )
    .into(Segment::User)
    .next_run()
    .p(0.01),
    Transition::new(
        "76",
        S::Resealed,
        E::PoweredOnLate,
        "powered on > 6 months after Reseal (IME certificates expired)",
        PPT,
        S::UserFlowStart,
    )
    .into(Segment::User)
    .next_run()
    .p(0.01),
    Transition::new("10", S::OobeStart, E::LowBattery, "battery below 45 %", HL, S::HlLowBattery).error(None),
    Transition::new("11", S::HlLowBattery, E::Charged, "charged to 45 % and woken", HL, S::OobeStart)
        .recovery()
        .takes(30.0, Dist::Unset),
    // OOBE.
    Transition::new(
        "14",
        S::OobeStart,
        E::PagesShown,
        "language, region and keyboard pages",
        V1,
        S::RegionKeyboard,
    )
    .takes(1.0, tri(0.3, 1.0, 3.0)),
    Transition::new(
        "14",
        S::OobeStart,
        E::PagesShown,
        "language, region, keyboard (and eye calibration)",
        V2,
        S::RegionKeyboard,
    )
    .takes(1.0, tri(0.3, 1.0, 3.0)),
    Transition::new(
        "13",
        S::OobeStart,
        E::PagesSkipped,
        "language and keyboard preset, wired",
        &[FUD, FSD, FHL],
        S::NetworkConnect,
    )
    .when(&[C::LanguagePreset]),
    Transition::new(
        "12",
        S::OobeStart,
        E::WinX5,
        "WIN×5 pressed at the first OOBE screen (wired)",
        UD,
        S::PreProvLanding,
    )
    .into(Segment::Technician)
    .takes(4.0, pert(2.0, 4.0, 8.0)),
    Transition::new("15", S::RegionKeyboard, E::RegionDone, "pages done", ALL, S::NetworkConnect)
        .takes(1.0, tri(0.5, 1.0, 4.0)),
    Transition::new(
        "16",
        S::NetworkConnect,
        E::Connected,
        "connected (NCSI ok)",
        &[FUD, FSD, FPT, FPU, FV2],
        S::ProfileLookup,
    ),
    Transition::new(
        "16",
        S::NetworkConnect,
        E::Connected,
        "connected; the 15 s detection window starts",
        HL,
        S::HlDetectWindow,
    ),
    Transition::new(
        "17",
        S::NetworkConnect,
        E::NetworkRetry,
        "no network or blocked endpoints; retry",
        ALL,
        S::NetworkConnect,
    )
    .error(None)
    .p(0.01),
    Transition::new(
        "17",
        S::NetworkConnect,
        E::NetworkFailed,
        "no network: OOBE continues without Autopilot",
        V1,
        S::StandardOobe,
    )
    .error(Some("OOBEIDPS"))
    .p(0.002),
    Transition::new(
        "18",
        S::ProfileLookup,
        E::ProfileFound,
        "profile downloaded (event 153)",
        &[FUD, FSD, FPT, FPU],
        S::OobeUpdates,
    )
    .takes(0.33, ln(0.33, 0.5)),
    Transition::new(
        "19",
        S::ProfileLookup,
        E::NotRegistered,
        "not registered (807) or lookup failed (IsAutopilotDisabled)",
        &[FUD, FSD, FPT, FPU],
        S::StandardOobe,
    )
    .error(Some("807")),
    Transition::new(
        "19a",
        S::ProfileLookup,
        E::NoV1Registration,
        "not registered: standard OOBE sign-in, policy after authentication",
        V2,
        S::V2(V2Step::SignIn),
    )
    .takes(0.33, ln(0.33, 0.5)),
    Transition::new(
        "20",
        S::ProfileLookup,
        E::ProfileNotAssigned,
        "registered, profile not yet assigned, no default profile (815)",
        &[FUD, FSD, FPT, FPU],
        S::StandardOobe,
    )
    .when(&[C::NoDefaultProfile])
    .error(Some("815")),
    Transition::new(
        "+hl1",
        S::HlDetectWindow,
        E::ProfileFound,
        "profile within the 15 s window",
        HL,
        S::OobeUpdates,
    )
    .takes(0.25, fixed(0.25)),
    Transition::new(
        "22",
        S::HlDetectWindow,
        E::DetectionMissed,
        "no profile within 15 s: EULA, non-Autopilot path",
        HL,
        S::StandardOobe,
    )
    .when(&[C::NoTenantLockdown])
    .error(None)
    .takes(0.25, fixed(0.25))
    .p(0.05),
    Transition::new(
        "23",
        S::HlDetectWindow,
        E::NoProfileLockdown,
        "no profile; TenantLockdown waits indefinitely",
        HL,
        S::HlTenantLockWait,
    )
    .when(&[C::TenantLockdown])
    .error(None)
    .p(0.05),
    Transition::new("82", S::HlTenantLockWait, E::ProfileAssigned, "profile assigned", HL, S::OobeUpdates)
        .recovery()
        .takes(15.0, ln(15.0, 1.2)),
    Transition::new(
        "24",
        S::StandardOobe,
        E::RebootAfterFix,
        "OOBE restarted after the fix",
        V1,
        S::OobeStart,
    )
    .next_run(),
    // OOBE updates and identity.
    Transition::new("25", S::OobeUpdates, E::UpdatesDone, "critical OOBE updates done", UD, S::EntraSignIn)
        .takes(3.0, ln(3.0, 1.0)),
    Transition::new("26", S::OobeUpdates, E::UpdatesDone, "critical OOBE updates done", SD_HL, PREP_SH)
        .takes(3.0, ln(3.0, 1.0)),
    Transition::new("27", S::OobeUpdates, E::UpdatesDone, "critical OOBE updates done", PPU, S::EntraSignIn)
        .join(JoinKind::Entra)
        .takes(3.0, ln(3.0, 1.0)),
    Transition::new(
        "27",
        S::OobeUpdates,
        E::UpdatesDone,
        "updates done; device ESP re-runs, logon after",
        PPU,
        S::EspDeviceSetup,
    )
    .join(JoinKind::Hybrid)
    .takes(3.0, ln(3.0, 1.0)),
    Transition::new(
        "+25r",
        S::OobeUpdates,
        E::UpdatesReboot,
        "an update needs a reboot",
        &[FUD, FSD, FHL, FPU],
        S::OobeUpdates,
    )
    .takes(1.5, ln(1.5, 0.4))
    .p(0.3),
    Transition::new(
        "28",
        S::PreProvLanding,
        E::Refresh,
        "Refresh: profile downloaded again",
        PPT,
        S::PreProvLanding,
    ),
    Transition::new(
        "29",
        S::PreProvLanding,
        E::Provision,
        "Provision; the profile allows pre-provisioning",
        PPT,
        PREP_SH,
    )
    .when(&[C::PreProvisioningAllowed])
    .takes(1.5, ln(1.5, 0.4)),
    Transition::new(
        "30",
        S::PreProvLanding,
        E::PreprovDisallowed,
        "Provision; the profile disallows pre-provisioning",
        PPT,
        S::PreProvError(PpStep::Landing),
    )
    .when(&[C::PreProvisioningDisallowed])
    .error(Some("0x80180005")),
    Transition::new(
        "31",
        S::EntraSignIn,
        E::SignedIn,
        "credentials and MFA ok, tenant matches",
        UD,
        S::JoinEnroll,
    )
    .takes(1.5, ln(1.5, 0.6)),
    Transition::new(
        "31a",
        S::EntraSignIn,
        E::SignedIn,
        "credentials ok; device already joined and enrolled",
        PPU,
        S::EspDeviceSetup,
    )
    .join(JoinKind::Entra)
    .takes(1.5, ln(1.5, 0.6)),
    Transition::new(
        "32",
        S::EntraSignIn,
        E::TenantMismatch,
        "account of another organization; user retries",
        UD,
        S::EntraSignIn,
    )
    .error(None)
    .takes(1.5, ln(1.5, 0.6))
    .p(0.01),
    Transition::new(
        "12a",
        S::EntraSignIn,
        E::WinX5,
        "WIN×5 instead of signing in (Wi-Fi path)",
        UD,
        S::PreProvLanding,
    )
    .into(Segment::Technician)
    .takes(4.0, pert(2.0, 4.0, 8.0)),
    Transition::new("33", S::JoinEnroll, E::Joined, "Entra join and MDM enrollment done", UD, PREP_PREP)
        .join(JoinKind::Entra)
        .takes(1.5, ln(1.5, 0.5)),
    // Hybrid: the user's Entra sign-in registers the device; MDM
    // enrollment comes next, and the offline domain join only after it
    // (the ODJ blob is delivered to the enrolled device).
    Transition::new("34", S::JoinEnroll, E::Joined, "signed in; MDM enrollment next", UD, PREP_REG)
        .join(JoinKind::Hybrid)
        .takes(1.5, ln(1.5, 0.5)),
    Transition::new(
        "35",
        S::JoinEnroll,
        E::JoinFailed,
        "join or enrollment refused (licence, limit, edition)",
        UD,
        S::EnrollError(EnrollCause::Join),
    )
    .error(Some("0x801C0003/0x80180018/0x80180022"))
    .takes(1.5, ln(1.5, 0.5))
    .p(0.005),
    // ESP device preparation.
    Transition::new("36", PREP_SH, E::Attested, "TPM attestation ok", SD_PPT_HL, PREP_JOIN)
        .takes(1.5, ln(1.5, 0.6)),
    Transition::new(
        "37",
        PREP_SH,
        E::TpmTransient,
        "attestation failed, transient (0x81039001, clock skew, incident)",
        SD_PPT_HL,
        S::TpmError(TpmFailure::Transient),
    )
    .error(Some("0x81039001"))
    .takes(1.5, ln(1.5, 0.6))
    .p(0.03),
    Transition::new(
        "38",
        PREP_SH,
        E::TpmPermanent,
        "attestation failed, permanent (no TPM 2.0 / VM, vulnerable firmware)",
        SD_PPT_HL,
        S::TpmError(TpmFailure::Permanent),
    )
    .error(Some("0x800705B4"))
    .takes(1.5, ln(1.5, 0.6))
    .p(0.002),
    Transition::new(
        "39",
        S::TpmError(TpmFailure::Transient),
        E::Retry,
        "technician presses Retry",
        PPT,
        PREP_SH,
    )
    .recovery()
    .takes(6.0, TRIAGE)
    .p(0.8),
    Transition::new(
        "73",
        S::TpmError(TpmFailure::Transient),
        E::Reset,
        "technician presses Reset",
        PPT,
        S::Resetting,
    )
    .recovery()
    .takes(6.0, TRIAGE),
    Transition::new(
        "40",
        S::TpmError(TpmFailure::Transient),
        E::ErrorScreen,
        "ESP error screen",
        SD_HL,
        S::EspError(EspPhase::Prep),
    ),
    Transition::new(
        "40",
        S::TpmError(TpmFailure::Permanent),
        E::ErrorScreen,
        "ESP error screen",
        SD_HL,
        S::EspError(EspPhase::Prep),
    ),
    Transition::new(
        "41",
        S::TpmError(TpmFailure::Permanent),
        E::GiveUp,
        "unsupported hardware: abandon or use another mode",
        SD_PPT_HL,
        S::Abandoned,
    )
    .recovery()
    .takes(6.0, TRIAGE),
    Transition::new("42", PREP_JOIN, E::Joined, "device-token Entra join", &[FSD, FHL, FPT], PREP_REG)
        .join(JoinKind::Entra)
        .takes(0.75, ln(0.75, 0.5)),
    Transition::new("43", PREP_JOIN, E::OdjApplied, "ODJ blob received and applied", UD, S::HybridReboot)
        .join(JoinKind::Hybrid)
        .takes(8.0, ln(8.0, 0.8)),
    Transition::new(
        "43",
        PREP_JOIN,
        E::OdjApplied,
        "ODJ blob applied; reboot postponed until after Reseal",
        PPT,
        PREP_REG,
    )
    .join(JoinKind::Hybrid)
    .takes(8.0, ln(8.0, 0.8)),
    Transition::new(
        "44",
        PREP_JOIN,
        E::OdjFailed,
        "ODJ failure (event 30132, 10-computer limit, DC unreachable)",
        UD,
        S::EspError(EspPhase::Prep),
    )
    .join(JoinKind::Hybrid)
    .error(Some("0x80070774"))
    .takes(8.0, ln(8.0, 0.8))
    .p(0.02),
    Transition::new(
        "44",
        PREP_JOIN,
        E::OdjFailed,
        "ODJ failure (event 30132, 10-computer limit)",
        PPT,
        S::PreProvError(PpStep::Join),
    )
    .join(JoinKind::Hybrid)
    .error(Some("30132"))
    .takes(8.0, ln(8.0, 0.8))
    .p(0.02),
    Transition::new(
        "45",
        PREP_JOIN,
        E::EntraObjectMissing,
        "Entra device object missing or conflicting profiles",
        SD_HL,
        S::AwaitAdmin(AdminReason::Reregister),
    )
    .join(JoinKind::Entra)
    .error(Some("0x801C03EA"))
    .p(0.001),
    Transition::new(
        "45",
        PREP_JOIN,
        E::EntraObjectMissing,
        "Entra device object missing (deleted)",
        PPT,
        S::PreProvError(PpStep::Join),
    )
    .join(JoinKind::Entra)
    .error(Some("0x801C03F3"))
    .p(0.001),
    Transition::new(
        "46",
        S::HybridReboot,
        E::DcReachable,
        "rebooted; domain controller reachable or check skipped",
        UD,
        PREP_PREP,
    )
    .join(JoinKind::Hybrid)
    .takes(1.5, ln(1.5, 0.4)),
    Transition::new("47", PREP_REG, E::Enrolled, "MDM enrollment", &[FSD, FPT, FHL], PREP_PREP)
        .takes(0.75, ln(0.75, 0.5)),
    Transition::new("47", PREP_REG, E::Enrolled, "MDM enrollment; offline domain join next", UD, PREP_JOIN)
        .join(JoinKind::Hybrid)
        .takes(0.75, ln(0.75, 0.5)),
    Transition::new(
        "48",
        PREP_REG,
        E::Reenrollment,
        "second enrollment of a one-time device",
        SD_PPT_HL,
        S::EnrollError(EnrollCause::Reenrollment),
    )
    .error(Some("0x80180014")),
    Transition::new(
        "+48",
        S::EnrollError(EnrollCause::Reenrollment),
        E::ErrorScreen,
        "enrollment blocked until the admin acts",
        SD_PPT_HL,
        S::AwaitAdmin(AdminReason::Unblock),
    ),
    Transition::new(
        "49",
        PREP_REG,
        E::MultipleMdm,
        "multiple MDM configurations in Entra",
        SD,
        S::AwaitAdmin(AdminReason::Config),
    )
    .error(Some("0xc1036501"))
    .p(0.001),
    Transition::new(
        "50",
        PREP_PREP,
        E::Prepared,
        "IME installed, tracking computed",
        &[FUD, FSD, FHL, FPT],
        S::EspDeviceSetup,
    )
    .takes(3.0, ln(3.0, 0.5)),
    Transition::new(
        "51",
        PREP_PREP,
        E::PrepTimeout,
        "stuck (VM under-sized, no licence): timer",
        ESP_FLOWS,
        S::EspError(EspPhase::Prep),
    )
    .when(&[C::EspBlocking])
    .error(Some("timeout"))
    .takes(60.0, TIMEOUT)
    .p(0.002),
    Transition::new("51", PREP_PREP, E::PrepTimeout, "stuck: timer", PPT, S::PreProvError(PpStep::Prepare))
        .when(&[C::EspBlocking])
        .error(Some("timeout"))
        .takes(60.0, TIMEOUT)
        .p(0.002),
    // ESP device setup.
    Transition::new(
        "54",
        S::EspDeviceSetup,
        E::DeviceSetupDone,
        "all tracked device items done",
        UD,
        S::EspAccountSetup,
    )
    .join(JoinKind::Entra)
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "54",
        S::EspDeviceSetup,
        E::DeviceSetupDone,
        "all tracked device items done",
        PPU,
        S::EspAccountSetup,
    )
    .join(JoinKind::Entra)
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "55",
        S::EspDeviceSetup,
        E::DeviceSetupDone,
        "all tracked device items done; AD logon",
        UD_PPU,
        S::DomainLogon,
    )
    .join(JoinKind::Hybrid)
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "56",
        S::EspDeviceSetup,
        E::DeviceSetupDone,
        "device ESP done; account setup waits for the first user",
        HL,
        S::SignInScreen,
    )
    .when(&[C::NotKiosk])
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "56",
        S::EspDeviceSetup,
        E::DeviceSetupDone,
        "device ESP done; account setup waits for the first user",
        SD,
        S::SignInScreen,
    )
    .when(&[C::NotKiosk, C::NoQualityUpdates])
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "56",
        S::EspDeviceSetup,
        E::DeviceSetupDone,
        "device ESP done; kiosk autologon",
        SD,
        S::KioskAutologon,
    )
    .when(&[C::Kiosk, C::NoQualityUpdates])
    .takes(2.0, ln(2.0, 0.8)),
    // Self-deploying: the ESP ends with device setup, and the quality
    // updates run at the end of OOBE, before the sign-in screen or the
    // kiosk's autologon.
    Transition::new(
        "+56q",
        S::EspDeviceSetup,
        E::DeviceSetupDone,
        "device ESP done; quality updates at the end of OOBE",
        SD,
        S::QualityUpdates,
    )
    .when(&[C::QualityUpdates])
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "+66s",
        S::QualityUpdates,
        E::UpdatesInstalled,
        "quality updates installed; sign-in screen",
        SD,
        S::SignInScreen,
    )
    .when(&[C::NotKiosk])
    .takes(30.0, Dist::Uniform { min: 20.0, max: 40.0 }),
    Transition::new(
        "+66s",
        S::QualityUpdates,
        E::UpdatesInstalled,
        "quality updates installed; kiosk autologon",
        SD,
        S::KioskAutologon,
    )
    .when(&[C::Kiosk])
    .takes(30.0, Dist::Uniform { min: 20.0, max: 40.0 }),
    Transition::new(
        "57",
        S::EspDeviceSetup,
        E::DeviceSetupDone,
        "all blocking items done: green screen",
        PPT,
        S::PreProvSuccess,
    )
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "52",
        S::EspDeviceSetup,
        E::ManagedReboot,
        "reboot requested by an app or policy; credentials lost",
        UD_PPU,
        S::CredentialReprompt,
    )
    .takes(1.5, ln(1.5, 0.4))
    .p(0.1),
    Transition::new(
        "52",
        S::EspDeviceSetup,
        E::ManagedReboot,
        "reboot requested by an app or policy",
        SD_PPT_HL,
        S::EspDeviceSetup,
    )
    .takes(1.5, ln(1.5, 0.4))
    .p(0.1),
    Transition::new(
        "53",
        S::CredentialReprompt,
        E::CredentialsEntered,
        "user re-enters credentials",
        UD_PPU,
        S::EspDeviceSetup,
    )
    .takes(0.5, Dist::Unset),
    Transition::new(
        "58",
        S::EspDeviceSetup,
        E::AppFailed,
        "blocking app failed (or MSI LOB + Win32 collision)",
        ESP_FLOWS,
        S::EspError(EspPhase::Device),
    )
    .when(&[C::EspBlocking])
    .error(Some("0x81036502"))
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "58",
        S::EspDeviceSetup,
        E::EspTimeout,
        "device setup timer elapsed",
        ESP_FLOWS,
        S::EspError(EspPhase::Device),
    )
    .when(&[C::EspBlocking])
    .error(Some("timeout"))
    .takes(60.0, TIMEOUT)
    .p(0.005),
    Transition::new(
        "59",
        S::EspDeviceSetup,
        E::AppFailed,
        "blocking app failed: red screen",
        PPT,
        S::PreProvError(PpStep::DeviceSetup),
    )
    .when(&[C::EspBlocking])
    .error(Some("0x81036502"))
    .takes(2.0, ln(2.0, 0.8)),
    Transition::new(
        "59",
        S::EspDeviceSetup,
        E::EspTimeout,
        "timer elapsed: red screen",
        PPT,
        S::PreProvError(PpStep::DeviceSetup),
    )
    .when(&[C::EspBlocking])
    .error(Some("timeout"))
    .takes(60.0, TIMEOUT)
    .p(0.005),
    Transition::new(
        "84",
        S::EspDeviceSetup,
        E::HololensStuck,
        "stuck on \"Setting up your device for work\"; power-cycled: sign-in screen",
        HL,
        S::SignInScreen,
    )
    .error(None)
    .takes(30.0, fixed(30.0))
    .p(0.01),
    // Hybrid logon, account setup, after the ESP.
    Transition::new("61", S::DomainLogon, E::AdLogon, "AD credentials ok", UD_PPU, S::EspAccountSetup)
        .join(JoinKind::Hybrid)
        .takes(1.0, Dist::Unset),
    Transition::new("65", S::SignInScreen, E::FirstUser, "first user signs in", SD_HL, S::EspAccountSetup)
        .next_run(),
    Transition::new(
        "63",
        S::EspAccountSetup,
        E::AccountSetupDone,
        "all tracked user items done",
        UD_PPU,
        S::QualityUpdates,
    )
    .when(&[C::QualityUpdates])
    .takes(3.0, ln(3.0, 0.8)),
    Transition::new(
        "63",
        S::EspAccountSetup,
        E::AccountSetupDone,
        "all tracked user items done",
        UD_PPU,
        S::HelloSetup,
    )
    .when(&[C::NoQualityUpdates, C::Hello])
    .takes(3.0, ln(3.0, 0.8)),
    Transition::new(
        "63",
        S::EspAccountSetup,
        E::AccountSetupDone,
        "all tracked user items done",
        UD_PPU,
        S::Desktop,
    )
    .when(&[C::NoQualityUpdates, C::NoHello])
    .takes(3.0, ln(3.0, 0.8)),
    // The first user of a self-deploying device or HoloLens signs in after
    // OOBE, so quality updates (if any) are already behind it.
    Transition::new(
        "63",
        S::EspAccountSetup,
        E::AccountSetupDone,
        "all tracked user items done",
        SD_HL,
        S::HelloSetup,
    )
    .when(&[C::Hello])
    .takes(3.0, ln(3.0, 0.8)),
    Transition::new(
        "63",
        S::EspAccountSetup,
        E::AccountSetupDone,
        "all tracked user items done",
        SD_HL,
        S::Desktop,
    )
    .when(&[C::NoHello])
    .takes(3.0, ln(3.0, 0.8)),
    Transition::new(
        "62",
        S::EspAccountSetup,
        E::IdentifyingStuck,
        "\"Identifying\" never completes (no Intune licence)",
        &[FUD, FPU, FSD, FHL],
        S::EspError(EspPhase::Account),
    )
    .when(&[C::EspBlocking])
    .error(Some("identifying"))
    .takes(60.0, TIMEOUT)
    .p(0.002),
    Transition::new(
        "64",
        S::EspAccountSetup,
        E::AppFailed,
        "user app failed",
        &[FUD, FPU, FSD, FHL],
        S::EspError(EspPhase::Account),
    )
    .when(&[C::EspBlocking])
    .error(Some("0x81036502"))
    .takes(3.0, ln(3.0, 0.8)),
    Transition::new(
        "64",
        S::EspAccountSetup,
        E::EspTimeout,
        "account setup timer elapsed",
        &[FUD, FPU, FSD, FHL],
        S::EspError(EspPhase::Account),
    )
    .when(&[C::EspBlocking])
    .error(Some("timeout"))
    .takes(60.0, TIMEOUT)
    .p(0.005),
    Transition::new(
        "66",
        S::QualityUpdates,
        E::UpdatesInstalled,
        "quality updates installed",
        UD_PPU,
        S::HelloSetup,
    )
    .when(&[C::Hello])
    .takes(30.0, Dist::Uniform { min: 20.0, max: 40.0 }),
    Transition::new(
        "66",
        S::QualityUpdates,
        E::UpdatesInstalled,
        "quality updates installed",
        UD_PPU,
        S::Desktop,
    )
    .when(&[C::NoHello])
    .takes(30.0, Dist::Uniform { min: 20.0, max: 40.0 }),
    Transition::new(
        "67",
        S::HelloSetup,
        E::PinCreated,
        "Windows Hello PIN created",
        &[FUD, FPU, FSD, FHL],
        S::Desktop,
    )
    .takes(1.0, tri(0.5, 1.0, 3.0)),
    // The ESP error screen (§2.2): options come from the ESP settings.
    Transition::new("68", S::EspError(EspPhase::Prep), E::TryAgain, "Try again", &[FSD, FHL], PREP_SH)
        .when(&[C::EspRetry])
        .recovery(),
    Transition::new("68", S::EspError(EspPhase::Prep), E::TryAgain, "Try again", UD, PREP_PREP)
        .join(JoinKind::Entra)
        .when(&[C::EspRetry])
        .recovery(),
    Transition::new("68", S::EspError(EspPhase::Prep), E::TryAgain, "Try again", UD, PREP_JOIN)
        .join(JoinKind::Hybrid)
        .when(&[C::EspRetry])
        .recovery(),
    Transition::new("68", S::EspError(EspPhase::Prep), E::TryAgain, "Try again", PPU, PREP_PREP)
        .when(&[C::EspRetry])
        .recovery(),
    Transition::new(
        "68",
        S::EspError(EspPhase::Device),
        E::TryAgain,
        "Try again",
        ESP_FLOWS,
        S::EspDeviceSetup,
    )
    .when(&[C::EspRetry])
    .recovery(),
    Transition::new(
        "68",
        S::EspError(EspPhase::Account),
        E::TryAgain,
        "Try again",
        &[FUD, FPU, FSD, FHL],
        S::EspAccountSetup,
    )
    .when(&[C::EspRetry])
    .recovery(),
    Transition::new(
        "69",
        S::EspError(EspPhase::Prep),
        E::ContinueAnyway,
        "Continue anyway (successWithTimeout)",
        UD_PPU,
        S::Desktop,
    )
    .when(&[C::EspContinue])
    .recovery(),
    Transition::new(
        "69",
        S::EspError(EspPhase::Device),
        E::ContinueAnyway,
        "Continue anyway (successWithTimeout)",
        UD_PPU,
        S::Desktop,
    )
    .when(&[C::EspContinue])
    .recovery(),
    Transition::new(
        "69",
        S::EspError(EspPhase::Prep),
        E::ContinueAnyway,
        "Continue anyway: sign-in screen",
        SD_HL,
        S::SignInScreen,
    )
    .when(&[C::EspContinue])
    .recovery(),
    Transition::new(
        "69",
        S::EspError(EspPhase::Device),
        E::ContinueAnyway,
        "Continue anyway: sign-in screen",
        SD_HL,
        S::SignInScreen,
    )
    .when(&[C::EspContinue])
    .recovery(),
    Transition::new(
        "69",
        S::EspError(EspPhase::Account),
        E::ContinueAnyway,
        "Continue anyway (successWithTimeout)",
        &[FUD, FPU, FSD, FHL],
        S::Desktop,
    )
    .when(&[C::EspContinue])
    .recovery(),
    Transition::new("70", S::EspError(EspPhase::Prep), E::Reset, "Reset device", ESP_FLOWS, S::Resetting)
        .when(&[C::EspReset])
        .recovery(),
    Transition::new("70", S::EspError(EspPhase::Device), E::Reset, "Reset device", ESP_FLOWS, S::Resetting)
        .when(&[C::EspReset])
        .recovery(),
    Transition::new(
        "70",
        S::EspError(EspPhase::Account),
        E::Reset,
        "Reset device",
        &[FUD, FPU, FSD, FHL],
        S::Resetting,
    )
    .when(&[C::EspReset])
    .recovery(),
    Transition::new(
        "71",
        S::EspError(EspPhase::Prep),
        E::GiveUp,
        "no option taken: admin triage",
        ESP_FLOWS,
        S::AwaitAdmin(AdminReason::Triage),
    ),
    Transition::new(
        "71",
        S::EspError(EspPhase::Device),
        E::GiveUp,
        "no option taken: admin triage",
        ESP_FLOWS,
        S::AwaitAdmin(AdminReason::Triage),
    ),
    Transition::new(
        "71",
        S::EspError(EspPhase::Account),
        E::GiveUp,
        "no option taken: admin triage",
        &[FUD, FPU, FSD, FHL],
        S::AwaitAdmin(AdminReason::Triage),
    ),
    // The pre-provisioning red screen.
    Transition::new(
        "72",
        S::PreProvError(PpStep::Landing),
        E::Retry,
        "profile changed; Refresh and retry",
        PPT,
        S::PreProvLanding,
    )
    .recovery()
    .takes(6.0, TRIAGE),
    Transition::new("72", S::PreProvError(PpStep::Join), E::Retry, "Retry", PPT, PREP_JOIN)
        .recovery()
        .takes(6.0, TRIAGE),
    Transition::new("72", S::PreProvError(PpStep::Prepare), E::Retry, "Retry", PPT, PREP_PREP)
        .recovery()
        .takes(6.0, TRIAGE),
    Transition::new("72", S::PreProvError(PpStep::DeviceSetup), E::Retry, "Retry", PPT, S::EspDeviceSetup)
        .recovery()
        .takes(6.0, TRIAGE),
    Transition::new("73", S::PreProvError(PpStep::Landing), E::Reset, "Reset", PPT, S::Resetting)
        .recovery()
        .takes(6.0, TRIAGE),
    Transition::new("73", S::PreProvError(PpStep::Join), E::Reset, "Reset", PPT, S::Resetting)
        .recovery()
        .takes(6.0, TRIAGE),
    Transition::new("73", S::PreProvError(PpStep::Prepare), E::Reset, "Reset", PPT, S::Resetting)
        .recovery()
        .takes(6.0, TRIAGE),
    Transition::new("73", S::PreProvError(PpStep::DeviceSetup), E::Reset, "Reset", PPT, S::Resetting)
        .recovery()
        .takes(6.0, TRIAGE),
    Transition::new(
        "+73",
        S::PreProvError(PpStep::Join),
        E::GiveUp,
        "technician escalates",
        PPT,
        S::AwaitAdmin(AdminReason::Reregister),
    )
    .takes(6.0, TRIAGE),
    Transition::new("74", S::PreProvSuccess, E::Reseal, "Reseal: the device powers off", PPT, S::Resealed)
        .takes(3.0, pert(1.0, 3.0, 6.0)),
    Transition::new(
        "77",
        S::UserFlowStart,
        E::Started,
        "user flow: language, region, keyboard",
        PPU,
        S::RegionKeyboard,
    )
    .takes(2.0, tri(1.0, 2.0, 5.0)),
    // Reset and the admin queue.
    Transition::new(
        "78",
        S::Resetting,
        E::Wiped,
        "wipe done; OOBE restarts (SD/PP: the record is still enrolled)",
        &[FUD, FSD, FHL, FPT, FPU],
        S::OobeStart,
    )
    .into(Segment::Main)
    .takes(20.0, Dist::Unset),
    Transition::new(
        "81",
        S::EnrollError(EnrollCause::Join),
        E::RetrySignIn,
        "user retries after the fix",
        UD,
        S::EntraSignIn,
    )
    .recovery(),
    Transition::new(
        "+81",
        S::EnrollError(EnrollCause::Join),
        E::GiveUp,
        "licence, permission or limit to fix",
        UD,
        S::AwaitAdmin(AdminReason::Licence),
    ),
    Transition::new(
        "80",
        S::AwaitAdmin(AdminReason::Triage),
        E::AdminResolves,
        "admin resolves; device restarted",
        V1,
        S::OobeStart,
    )
    .into(Segment::Main)
    .next_run()
    .takes(240.0, Dist::Unset),
    Transition::new(
        "80",
        S::AwaitAdmin(AdminReason::Unblock),
        E::AdminResolves,
        "record deleted or unblocked; device reset",
        V1,
        S::OobeStart,
    )
    .into(Segment::Main)
    .next_run()
    .takes(240.0, Dist::Unset),
    Transition::new("83", PREP_SH, E::PowerPressed, "power pressed during Autopilot", HL, S::OobeStart)
        .error(None)
        .p(0.001),
    Transition::new("83", PREP_PREP, E::PowerPressed, "power pressed during Autopilot", HL, S::OobeStart)
        .error(None)
        .p(0.001),
    // Device preparation (APv2).
    Transition::new(
        "85",
        S::V2(V2Step::SignIn),
        E::SignedIn,
        "user in the policy's user group signs in",
        V2,
        S::V2(V2Step::JoinEnroll),
    )
    .takes(1.5, ln(1.5, 0.6)),
    Transition::new(
        "86",
        S::V2(V2Step::JoinEnroll),
        E::Joined,
        "Entra join and Intune enrollment",
        V2,
        S::V2(V2Step::Ime),
    )
    .takes(1.5, ln(1.5, 0.5)),
    Transition::new(
        "87",
        S::V2(V2Step::Ime),
        E::ImeInstalled,
        "IME installed (45 s faster than v1)",
        V2,
        S::V2(V2Step::LobM365),
    )
    .takes(2.25, ln(2.25, 0.5)),
    Transition::new(
        "88",
        S::V2(V2Step::LobM365),
        E::Done,
        "selected LOB and M365 apps done",
        V2,
        S::V2(V2Step::Scripts),
    )
    .takes(2.0, Dist::Unset),
    Transition::new(
        "89",
        S::V2(V2Step::Scripts),
        E::Done,
        "selected scripts done",
        V2,
        S::V2(V2Step::Win32Store),
    )
    .takes(1.0, Dist::Unset),
    Transition::new(
        "90",
        S::V2(V2Step::Win32Store),
        E::Done,
        "selected Win32/Store apps done",
        V2,
        S::V2Complete,
    )
    .takes(2.0, Dist::Unset),
    Transition::new(
        "91",
        S::V2(V2Step::JoinEnroll),
        E::ItemFailed,
        "join or enrollment failed",
        V2,
        S::V2Failed(V2Step::JoinEnroll),
    )
    .error(None)
    .p(0.005),
    Transition::new(
        "91",
        S::V2(V2Step::Ime),
        E::ItemFailed,
        "IME install failed",
        V2,
        S::V2Failed(V2Step::Ime),
    )
    .error(None)
    .p(0.002),
    Transition::new(
        "91",
        S::V2(V2Step::LobM365),
        E::ItemFailed,
        "selected app failed or timer elapsed",
        V2,
        S::V2Failed(V2Step::LobM365),
    )
    .error(None),
    Transition::new(
        "91",
        S::V2(V2Step::Scripts),
        E::ItemFailed,
        "selected script failed or timer elapsed",
        V2,
        S::V2Failed(V2Step::Scripts),
    )
    .error(None),
    Transition::new(
        "91",
        S::V2(V2Step::Win32Store),
        E::ItemFailed,
        "selected app failed or timer elapsed",
        V2,
        S::V2Failed(V2Step::Win32Store),
    )
    .error(None),
    Transition::new("92", S::V2Failed(V2Step::JoinEnroll), E::Retry, "Retry", V2, S::V2(V2Step::JoinEnroll))
        .recovery(),
    Transition::new("92", S::V2Failed(V2Step::Ime), E::Retry, "Retry", V2, S::V2(V2Step::Ime)).recovery(),
    Transition::new("92", S::V2Failed(V2Step::LobM365), E::Retry, "Retry", V2, S::V2(V2Step::LobM365))
        .recovery(),
    Transition::new("92", S::V2Failed(V2Step::Scripts), E::Retry, "Retry", V2, S::V2(V2Step::Scripts))
        .recovery(),
    Transition::new("92", S::V2Failed(V2Step::Win32Store), E::Retry, "Retry", V2, S::V2(V2Step::Win32Store))
        .recovery(),
    Transition::new(
        "93",
        S::V2Failed(V2Step::LobM365),
        E::ContinueAnyway,
        "Continue anyway after ≥ 2 attempts",
        V2,
        S::Desktop,
    )
    .when(&[C::V2AllowSkip])
    .recovery(),
    Transition::new(
        "93",
        S::V2Failed(V2Step::Scripts),
        E::ContinueAnyway,
        "Continue anyway after ≥ 2 attempts",
        V2,
        S::Desktop,
    )
    .when(&[C::V2AllowSkip])
    .recovery(),
    Transition::new(
        "93",
        S::V2Failed(V2Step::Win32Store),
        E::ContinueAnyway,
        "Continue anyway after ≥ 2 attempts",
        V2,
        S::Desktop,
    )
    .when(&[C::V2AllowSkip])
    .recovery(),
    Transition::new(
        "+93",
        S::V2Failed(V2Step::JoinEnroll),
        E::GiveUp,
        "user gives up: admin triage",
        V2,
        S::AwaitAdmin(AdminReason::Triage),
    ),
    Transition::new(
        "+93",
        S::V2Failed(V2Step::Ime),
        E::GiveUp,
        "user gives up: admin triage",
        V2,
        S::AwaitAdmin(AdminReason::Triage),
    ),
    Transition::new(
        "+93",
        S::V2Failed(V2Step::LobM365),
        E::GiveUp,
        "user gives up: admin triage",
        V2,
        S::AwaitAdmin(AdminReason::Triage),
    ),
    Transition::new(
        "+93",
        S::V2Failed(V2Step::Scripts),
        E::GiveUp,
        "user gives up: admin triage",
        V2,
        S::AwaitAdmin(AdminReason::Triage),
    ),
    Transition::new(
        "+93",
        S::V2Failed(V2Step::Win32Store),
        E::GiveUp,
        "user gives up: admin triage",
        V2,
        S::AwaitAdmin(AdminReason::Triage),
    ),
    Transition::new("94", S::V2Complete, E::Dismissed, "Required setup complete dismissed", V2, S::Desktop)
        .takes(0.25, fixed(0.25)),
];
