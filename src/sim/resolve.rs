//! From a scenario file to everything a replication needs: compiled
//! flows with a step plan per state, samplers, sites, the depot, arrivals
//! and the cause table, all built once and shared read-only by every
//! replication.
//!
//! Design decisions, and why:
//!
//! * **A step plan per (flow, state)**: the way forward, the competing
//!   failures with their probabilities, the events the model steers by
//!   (WIN×5, profile lookup outcomes, ESP results, error-screen options),
//!   each resolved to an edge index once. The hot loop then never looks an
//!   event up by name or walks petgraph.
//! * **Causes are a fixed table** (every error event of every flow, plus
//!   one row per app failure and hang), so a replication counts into a
//!   `Vec<u32>` and the reduction over replications has a fixed shape.
//! * **One flow per distinct profile**: with a tenant and an inventory
//!   each device runs the flow of the profile its groups give it; devices
//!   no profile reaches escape at profile lookup, as they would in OOBE.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::apps::{App, UpdateStep};
use super::calendar::Calendar;
use super::dist::{Dist, Sampler};
use super::engine::{ticks, Tick, MINUTE};
use super::scenario::{
    parse_shift, AppContext, AppSpec, Choice, DeliveryOptimization, EspSpec, FleetSpec, HashSource, Join,
    Mode, OperatorSpec, Parsed, Probability, ScenarioError, ScenarioFile, SiteSpec,
};
use crate::autopilot::{self, CheckedTenant, Tenant};
use crate::flow::{
    derive, CompiledFlow, EdgeKind, EspOptions, Event, FlowDevice, FlowInput, FlowMode, JoinKind, Node,
    PrepStep, Segment, State, V2Step, ValidFlow, NO_EDGE,
};

/// How the model treats a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Sample failures, else go forward.
    Generic,
    /// A success end state.
    Done,
    /// Standard OOBE: escaped Autopilot.
    Escaped,
    /// Given up on.
    Abandoned,
    /// A ticket for the admin queue.
    Admin,
    /// First OOBE screen: WIN×5 or the language pages.
    OobeStart,
    /// Network: wired or Wi-Fi.
    Network,
    /// Profile download: the service plane decides.
    Lookup,
    /// TPM attestation.
    Attest,
    /// MDM enrollment (re-enrollment of a used device fails).
    Register,
    /// Device-token join; for hybrid, the connector's ODJ blob first.
    Join,
    /// ESP device setup.
    DeviceSetup,
    /// ESP account setup.
    AccountSetup,
    /// An error screen: the operator chooses.
    ErrorScreen,
    /// The technician's red screen: triage, then choose.
    TechError,
    /// The technician's green screen: Reseal.
    Reseal,
    /// A wipe.
    Resetting,
    /// Device preparation's "selected LOB and Microsoft 365 apps" step.
    V2LobApps,
    /// Device preparation's "selected Win32, Store and Enterprise App Catalog apps" step.
    V2Win32Apps,
    /// Device preparation's deployment begins (join and enrollment after
    /// the user signed in): its one timer starts here.
    V2Start,
    /// Critical OOBE updates with bytes to download (`[updates]`).
    OobeUpdates,
    /// The ESP's quality update with bytes to download (`[updates]`).
    QualityUpdates,
}

/// The plan of one state of one flow.
#[derive(Clone, Debug)]
pub struct StatePlan {
    /// How the model treats it.
    pub kind: Kind,
    /// The technician segment.
    pub technician: bool,
    /// The way forward, or [`NO_EDGE`].
    pub forward: u32,
    /// Competing failures: edge and probability.
    pub failures: Vec<(u32, f64)>,
}

/// Edges the model steers by, per state, by meaning.
#[derive(Clone, Copy, Debug, Default)]
pub struct Steer {
    /// WIN×5.
    pub win_x5: Option<u32>,
    /// Language pages shown / skipped.
    pub pages_shown: Option<u32>,
    /// Pages skipped.
    pub pages_skipped: Option<u32>,
    /// Profile found.
    pub found: Option<u32>,
    /// Not registered (807).
    pub not_registered: Option<u32>,
    /// Registered but not assigned (815).
    pub not_assigned: Option<u32>,
    /// ESP phase: an app failed.
    pub app_failed: Option<u32>,
    /// ESP phase: timeout.
    pub timeout: Option<u32>,
    /// Error screen options.
    pub retry: Option<u32>,
    /// Continue anyway.
    pub continue_anyway: Option<u32>,
    /// Reset.
    pub reset: Option<u32>,
    /// Give up.
    pub give_up: Option<u32>,
    /// Error screen (a TPM error shown on the ESP).
    pub error_screen: Option<u32>,
    /// Admin resolves.
    pub admin_resolves: Option<u32>,
    /// TPM transient failure.
    pub tpm_transient: Option<u32>,
    /// TPM permanent failure.
    pub tpm_permanent: Option<u32>,
    /// Re-enrollment blocked (0x80180014).
    pub reenrollment: Option<u32>,
}

/// One compiled flow with its plans.
#[derive(Clone, Debug)]
pub struct FlowPlan {
    /// The profile (or mode) name.
    pub name: String,
    /// Graph's `enrollmentType` for these devices.
    pub enrollment_type: &'static str,
    /// The table.
    pub table: CompiledFlow,
    /// Per state.
    pub states: Vec<StatePlan>,
    /// Per state.
    pub steer: Vec<Steer>,
    /// Per edge: duration sampler index into [`Scenario::samplers`], or `None` for no time.
    pub edge_sampler: Vec<Option<u16>>,
    /// Per edge: cause index for error edges.
    pub edge_cause: Vec<Option<u16>>,
    /// The device plane's start (`Boxed`).
    pub start: u32,
    /// ESP timeout of the device phase and the account phase, ticks.
    pub timeout: [Tick; 2],
    /// Apps per phase: ESP device setup, account setup, the technician's
    /// device setup, device preparation's two app steps, then the
    /// downloads of the OOBE updates step and of the quality updates step.
    pub phase_apps: [Vec<u8>; 7],
    /// The technician phase tries every app.
    pub technician_all_apps: bool,
    /// Pre-provisioning: take WIN×5 at the first screen.
    pub technician: bool,
    /// Self-deploying or pre-provisioned: one enrollment per record.
    pub enroll_once: bool,
    /// The ESP's selected blocking apps (by name), when it does not block on all.
    pub selected: Option<Vec<String>>,
    /// Per app: its failure fails the ESP phase.
    pub blocks: Vec<bool>,
}

/// A site as the model uses it.
#[derive(Clone, Debug)]
pub struct Site {
    /// The spec.
    pub spec: SiteSpec,
    /// Bytes per tick of the uplink.
    pub uplink: f64,
    /// Bytes per tick of one device.
    pub device: f64,
    /// Each device's own speed, Mbit/s, when it varies (`device_mbps_spread`).
    pub device_spread: Option<Sampler>,
    /// Bytes per tick of the LAN per device.
    pub lan: f64,
}

/// A group of arrivals.
#[derive(Clone, Debug)]
pub enum Arrival {
    /// Devices powered on at `start` plus a spread.
    Wave {
        /// Name.
        name: String,
        /// Devices.
        devices: u32,
        /// Site.
        site: u16,
        /// Start.
        start: Tick,
        /// Spread after the start, minutes.
        spread: Sampler,
    },
    /// A Poisson stream.
    Poisson {
        /// Devices.
        devices: u32,
        /// Site.
        site: u16,
        /// Start.
        start: Tick,
        /// Mean minutes between arrivals.
        mean_gap: f64,
    },
}

/// The depot.
#[derive(Clone, Debug)]
pub struct Depot {
    /// Site.
    pub site: u16,
    /// Technicians.
    pub technicians: u32,
    /// Bench ports (`None`: unlimited).
    pub ports: Option<u32>,
    /// Weekly capacity changes: (minute of the week, technicians).
    pub week: Vec<(u32, u32)>,
    /// With a calendar, the capacity changes over the horizon in absolute
    /// ticks (local shifts, DST and holidays applied); replaces `week`.
    pub changes: Option<Vec<(Tick, u32)>>,
    /// Hands-on work.
    pub hands_on: Sampler,
    /// Reseal work.
    pub reseal: Sampler,
    /// Triage work.
    pub triage: Sampler,
}

/// The service plane.
#[derive(Clone, Debug)]
pub struct Registration {
    /// When the hashes arrive.
    pub hashes_at: Tick,
    /// Rows per import.
    pub batch: u32,
    /// OEM: one batch.
    pub oem: bool,
    /// Per row of a batch, added to the import.
    pub import_per_device: Tick,
    /// Per position in a synced batch, added to the assignment.
    pub assignment_per_device: Tick,
    /// Graph imports: (writes per window, window, back-off after a 429, call time).
    pub graph: Option<(u32, Tick, Tick, Tick)>,
    /// Import per batch.
    pub import: Sampler,
    /// Sync cooldown.
    pub cooldown: Tick,
    /// Group evaluation.
    pub group: Sampler,
    /// Assignment.
    pub assignment: Sampler,
    /// All Devices.
    pub all_devices: bool,
    /// A default profile catches early boots.
    pub default_profile: bool,
}

/// A resolved scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file as written.
    pub file: ScenarioFile,
    /// Where it was read from.
    pub path: PathBuf,
    /// Horizon.
    pub horizon: Tick,
    /// Report bucket width.
    pub bucket: Tick,
    /// Report buckets.
    pub buckets: usize,
    /// Flows (index 0 is the fleet's default).
    pub flows: Vec<FlowPlan>,
    /// Per device ordinal, its flow and how it escapes (0: does not; 1:
    /// not registered; 2: no profile); empty when every device runs flow 0.
    pub device_flows: Vec<(u16, u8)>,
    /// Mode.
    pub mode: Mode,
    /// Sites.
    pub sites: Vec<Site>,
    /// Depot.
    pub depot: Option<Depot>,
    /// Arrivals.
    pub arrivals: Vec<Arrival>,
    /// Devices per replication.
    pub devices: u32,
    /// Service plane.
    pub registration: Option<Registration>,
    /// Apps.
    pub apps: Vec<App>,
    /// Samplers of app installs.
    pub app_install: Vec<Sampler>,
    /// Samplers of edges.
    pub samplers: Vec<Sampler>,
    /// Duration of every event id, as resolved (for `--explain`).
    pub durations: BTreeMap<String, Dist>,
    /// Probability of every event id, as resolved.
    pub failures: BTreeMap<String, f64>,
    /// Cause labels.
    pub causes: Vec<String>,
    /// Per app: cause of failure, cause of hang.
    pub app_causes: Vec<(u16, u16)>,
    /// The ESP timeout cause.
    pub timeout_cause: u16,
    /// People.
    pub operator: OperatorSpec,
    /// Admin delay.
    pub admin_delay: Sampler,
    /// Admin work.
    pub admin_work: Sampler,
    /// ESP settings as resolved.
    pub esp: EspSpec,
    /// Share of devices on Ethernet.
    pub wired: f64,
    /// The network step of a wired device (`[durations] wired-network`).
    pub wired_network: Sampler,
    /// Managed reboot after an app.
    pub reboot: Sampler,
    /// Hybrid connectors and the time one ODJ request holds one, when any flow is hybrid.
    pub connectors: Option<(u32, Tick)>,
    /// Local days, working hours and shipping days (`[calendar]`).
    pub calendar: Option<Calendar>,
}

/// The `[durations]` key of a wired device's network step: no Wi-Fi
/// page, only the link and DHCP coming up.
pub const WIRED_NETWORK: &str = "wired-network";

/// A wired device's network step: 10 s (assume; Ethernet and DHCP, no page to go through).
pub fn default_wired_network() -> Dist {
    Dist::Fixed(1.0 / 6.0)
}

/// §3.1 defaults of the service plane.
pub fn default_import() -> Dist {
    Dist::Lognormal(2.0, 0.8)
}
/// Incremental dynamic-group evaluation.
pub fn default_group_evaluation() -> Dist {
    Dist::Lognormal(10.0, 1.0)
}
/// Profile assignment after membership (§8 Q2).
pub fn default_assignment() -> Dist {
    Dist::Lognormal(15.0, 1.2)
}
/// Technician hands-on (§3.2).
pub fn default_hands_on() -> Dist {
    Dist::Pert(2.0, 4.0, 8.0)
}
/// Technician reseal.
pub fn default_reseal() -> Dist {
    Dist::Pert(1.0, 3.0, 6.0)
}
/// Technician triage.
pub fn default_triage() -> Dist {
    Dist::Pert(3.0, 6.0, 15.0)
}
/// Admin pick-up delay: four business hours (§3.1, assume).
pub fn default_admin_delay() -> Dist {
    Dist::Fixed(240.0)
}
/// Admin work per ticket (assume).
pub fn default_admin_work() -> Dist {
    Dist::Pert(5.0, 10.0, 30.0)
}

fn enrollment_type(input: &FlowInput) -> &'static str {
    match (input.mode, input.join, input.pre_provisioning_allowed) {
        (FlowMode::SelfDeploying, ..) => "azureADJoinedUsingDeviceAuthWithAutopilotProfile",
        (FlowMode::DevicePreparation, ..) => "azureADJoinedWithAutopilotProfile",
        (FlowMode::UserDriven, JoinKind::Hybrid, true) => "offlineDomainJoinedWithWhiteGlove",
        (FlowMode::UserDriven, JoinKind::Hybrid, false) => "offlineDomainJoined",
        (FlowMode::UserDriven, JoinKind::Entra, true) => "azureADJoinedWithWhiteGlove",
        (FlowMode::UserDriven, JoinKind::Entra, false) => "azureADJoinedWithAutopilotProfile",
    }
}

fn esp_options(esp: &EspSpec) -> EspOptions {
    EspOptions {
        show_progress: esp.show_progress,
        block_device_use: esp.block_device_use,
        timeout_minutes: esp.timeout_minutes,
        allow_retry: esp.allow_retry,
        allow_continue: esp.allow_continue,
        allow_reset: esp.allow_reset,
        install_quality_updates: esp.install_quality_updates,
    }
}

fn esp_from_tenant(e: &autopilot::EspSettings) -> EspSpec {
    EspSpec {
        timeout_minutes: e.timeout_minutes,
        show_progress: e.show_progress,
        block_device_use: e.block_device_use,
        allow_retry: e.allow_retry,
        allow_continue: e.allow_use_on_failure,
        allow_reset: e.allow_reset,
        install_quality_updates: e.install_quality_updates,
        technician_all_apps: e.technician_phase_all_apps,
    }
}

/// The flow input of the fleet's own settings (no tenant).
fn fleet_input(f: &FleetSpec, esp: &EspSpec) -> FlowInput {
    let mode = match f.mode {
        Mode::SelfDeploying | Mode::Hololens => FlowMode::SelfDeploying,
        Mode::DevicePreparation => FlowMode::DevicePreparation,
        _ => FlowMode::UserDriven,
    };
    FlowInput {
        mode,
        join: match f.join {
            Join::Entra => JoinKind::Entra,
            Join::Hybrid => JoinKind::Hybrid,
        },
        device: if f.mode == Mode::Hololens { FlowDevice::HoloLens } else { FlowDevice::WindowsPc },
        pre_provisioning_allowed: f.mode == Mode::PreProvisioned,
        language_preset: f.language_preset,
        esp: esp_options(esp),
        hello_for_business: f.hello_for_business,
        kiosk: f.kiosk,
        tenant_lockdown: false,
        v2_allow_skip: false,
        default_profile: false,
    }
}

fn kind_of(node: Node) -> Kind {
    use State as S;
    match node.state {
        S::Desktop | S::SignInScreen | S::KioskAutologon | S::Resealed => Kind::Done,
        S::StandardOobe => Kind::Escaped,
        S::Abandoned => Kind::Abandoned,
        S::AwaitAdmin(_) => Kind::Admin,
        S::OobeStart => Kind::OobeStart,
        S::NetworkConnect => Kind::Network,
        S::ProfileLookup | S::HlDetectWindow => Kind::Lookup,
        S::EspPrep(PrepStep::SecureHardware) => Kind::Attest,
        S::EspPrep(PrepStep::Register) => Kind::Register,
        S::EspPrep(PrepStep::Join) => Kind::Join,
        S::EspDeviceSetup => Kind::DeviceSetup,
        S::EspAccountSetup => Kind::AccountSetup,
        S::PreProvError(_) => Kind::TechError,
        S::EspError(_) | S::EnrollError(_) | S::TpmError(_) | S::V2Failed(_) => Kind::ErrorScreen,
        S::PreProvSuccess => Kind::Reseal,
        S::Resetting => Kind::Resetting,
        S::V2(V2Step::JoinEnroll) => Kind::V2Start,
        S::V2(V2Step::LobM365) => Kind::V2LobApps,
        S::V2(V2Step::Win32Store) => Kind::V2Win32Apps,
        _ => Kind::Generic,
    }
}

/// Builds the plans of one flow; durations and probabilities come from
/// the scenario's overrides, else the flow table's defaults.
struct FlowBuilder<'a> {
    durations: &'a BTreeMap<String, Dist>,
    failures: &'a BTreeMap<String, Probability>,
    samplers: Vec<Sampler>,
    sampler_of: HashMap<Event, u16>,
    resolved_durations: BTreeMap<String, Dist>,
    resolved_failures: BTreeMap<String, f64>,
    causes: Vec<String>,
    cause_of: HashMap<String, u16>,
    /// Whether the OOBE updates step and the quality updates step download bytes.
    update_steps: [bool; 2],
}

impl FlowBuilder<'_> {
    fn sampler(&mut self, event: Event, default: Option<Dist>) -> Option<u16> {
        if let Some(&k) = self.sampler_of.get(&event) {
            return Some(k);
        }
        let dist = self.durations.get(event.as_str()).cloned().or(default)?;
        let k = self.samplers.len() as u16;
        self.samplers.push(dist.sampler());
        self.sampler_of.insert(event, k);
        self.resolved_durations.insert(event.to_string(), dist);
        Some(k)
    }

    fn cause(&mut self, label: &str) -> u16 {
        if let Some(&k) = self.cause_of.get(label) {
            return k;
        }
        let k = self.causes.len() as u16;
        self.causes.push(label.to_string());
        self.cause_of.insert(label.to_string(), k);
        k
    }

    fn build(&mut self, name: String, input: &FlowInput, technician: bool) -> Result<FlowPlan, String> {
        let graph = derive(input).map_err(|e| format!("profile {name:?}: {e}"))?;
        let valid = ValidFlow::new(graph).map_err(|f| format!("profile {name:?}: invalid flow {f:?}"))?;
        let table = CompiledFlow::compile(&valid);
        let mut edge_sampler = Vec::with_capacity(table.edges.len());
        let mut edge_cause = Vec::with_capacity(table.edges.len());
        for e in &table.edges {
            let default = Dist::from_flow(e.edge.timing.dist);
            edge_sampler.push(if e.edge.timing.minutes > 0.0 || default.is_some() {
                self.sampler(e.edge.event, default)
            } else {
                None
            });
            edge_cause.push(if e.edge.kind == EdgeKind::Error {
                Some(self.cause(e.edge.event.as_str()))
            } else {
                None
            });
        }
        let mut states = Vec::with_capacity(table.states.len());
        let mut steer = Vec::with_capacity(table.states.len());
        for (s, node) in table.states.iter().enumerate() {
            let out: Vec<u32> = table.out.get(s).cloned().unwrap_or_default();
            let find = |ev: Event| {
                out.iter().copied().find(|&k| table.edges.get(k as usize).is_some_and(|e| e.edge.event == ev))
            };
            let forward = table.forward(s as u32).map_or_else(
                || {
                    // No way forward: the first edge out that is not a later run.
                    out.iter()
                        .copied()
                        .find(|&k| {
                            table.edges.get(k as usize).is_some_and(|e| e.edge.kind != EdgeKind::NextRun)
                        })
                        .unwrap_or(NO_EDGE)
                },
                |e| out.iter().copied().find(|&k| table.edges.get(k as usize) == Some(e)).unwrap_or(NO_EDGE),
            );
            let kind = match kind_of(*node) {
                // With bytes to fetch, an updates step downloads before it installs.
                Kind::Generic if node.state == State::OobeUpdates && self.update_steps[0] => {
                    Kind::OobeUpdates
                }
                Kind::Generic if node.state == State::QualityUpdates && self.update_steps[1] => {
                    Kind::QualityUpdates
                }
                k => k,
            };
            let v2_apps = matches!(kind, Kind::V2LobApps | Kind::V2Win32Apps);
            let steered = [
                Event::TpmPermanent,
                Event::TpmTransient,
                Event::Reenrollment,
                Event::AppFailed,
                Event::EspTimeout,
            ];
            let mut failures = Vec::new();
            for &k in &out {
                let Some(e) = table.edges.get(k as usize) else { continue };
                if e.edge.kind != EdgeKind::Error && !(e.to == e.from && e.edge.timing.p.is_some()) {
                    continue;
                }
                let p = self.failures.get(e.edge.event.as_str()).map(|p| p.get()).or(e.edge.timing.p);
                if let Some(p) = p {
                    self.resolved_failures.insert(e.edge.event.to_string(), p);
                    if p > 0.0 && !steered.contains(&e.edge.event) {
                        failures.push((k, p));
                    }
                }
            }
            states.push(StatePlan {
                kind,
                technician: node.segment == Segment::Technician,
                forward,
                failures,
            });
            steer.push(Steer {
                win_x5: find(Event::WinX5),
                pages_shown: find(Event::PagesShown),
                pages_skipped: find(Event::PagesSkipped),
                found: find(Event::ProfileFound),
                not_registered: find(Event::NotRegistered),
                not_assigned: find(Event::ProfileNotAssigned),
                // Device preparation fails a step on a selected app's
                // failure and on its timer alike ("item-failed").
                app_failed: find(Event::AppFailed)
                    .or_else(|| v2_apps.then(|| find(Event::ItemFailed)).flatten()),
                timeout: find(Event::EspTimeout)
                    .or_else(|| v2_apps.then(|| find(Event::ItemFailed)).flatten()),
                retry: find(Event::TryAgain)
                    .or_else(|| find(Event::Retry))
                    .or_else(|| find(Event::RetrySignIn)),
                continue_anyway: find(Event::ContinueAnyway),
                reset: find(Event::Reset),
                give_up: find(Event::GiveUp),
                error_screen: find(Event::ErrorScreen),
                admin_resolves: find(Event::AdminResolves).or_else(|| find(Event::AdminUnblocks)),
                tpm_transient: find(Event::TpmTransient),
                tpm_permanent: find(Event::TpmPermanent),
                reenrollment: find(Event::Reenrollment),
            });
        }
        let start =
            table.state(Node::main(State::Boxed)).ok_or_else(|| format!("profile {name:?}: no Boxed"))?;
        let hybrid = input.join == JoinKind::Hybrid;
        let timeout = ticks(f64::from(input.esp.timeout_minutes));
        Ok(FlowPlan {
            name,
            enrollment_type: enrollment_type(input),
            table,
            states,
            steer,
            edge_sampler,
            edge_cause,
            start,
            timeout: [if hybrid { timeout + 40 * MINUTE } else { timeout }, timeout],
            phase_apps: Default::default(),
            technician_all_apps: true,
            technician,
            enroll_once: input.mode == FlowMode::SelfDeploying || input.pre_provisioning_allowed,
            selected: None,
            blocks: Vec::new(),
        })
    }
}

/// Device preparation's documented limits: at most 25 selected apps
/// (raised from 10 in January 2026) and a timer of 15–720 minutes for the
/// whole deployment (learn.microsoft.com/autopilot/device-preparation/whats-new
/// and …/tutorial/user-driven/entra-join-autopilot-policy; enrollment-model.md §3.6).
fn check_device_preparation(p: &Parsed, apps: &[App], esp: &EspSpec) -> Result<(), ScenarioError> {
    let selected = apps.iter().filter(|a| a.blocking && a.update.is_none()).count();
    if selected > APV2_MAX_APPS {
        return Err(p.invalid(
            "app",
            format!(
                "device preparation installs at most {APV2_MAX_APPS} selected apps during OOBE, and {selected} are \
                 selected (blocking); mark the others `blocking = false` to install them after the desktop"
            ),
        ));
    }
    if !(15..=720).contains(&esp.timeout_minutes) {
        return Err(p.invalid(
            "esp.timeout_minutes",
            "device preparation allows 15 to 720 minutes before showing an installation error",
        ));
    }
    Ok(())
}

/// Device preparation's limit on selected apps.
pub const APV2_MAX_APPS: usize = 25;

/// Where the devices of a tenant-driven scenario come from.
enum Inventory {
    File(PathBuf),
    Generated(super::scenario::GenerateSpec),
}

/// A synthetic fleet from fleetlab's generator (`fleetlab generate`), indexed.
fn generated_index(g: &super::scenario::GenerateSpec) -> Result<crate::fleet::FleetIndex, String> {
    let mut bytes = Vec::new();
    let spec = crate::inventory::FleetSpec { devices: g.devices, seed: g.seed };
    crate::inventory::generate(&spec, &mut bytes).map_err(|e| format!("generator: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| format!("generator: {e}"))?;
    let mut devices = Vec::with_capacity(g.devices as usize);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let d: crate::inventory::Device =
            serde_json::from_str(line).map_err(|e| format!("generator: {e}"))?;
        devices.push(d);
    }
    crate::fleet::FleetIndex::from_devices(&devices).map_err(|e| format!("generator: {e}"))
}

fn selected_apps(esp: &autopilot::EspSettings) -> Option<Vec<String>> {
    match &esp.blocking_apps {
        autopilot::BlockingApps::All => None,
        autopilot::BlockingApps::Selected(names) => Some(names.iter().map(|n| n.to_lowercase()).collect()),
    }
}

fn dist_sampler(d: &Option<Dist>, default: fn() -> Dist) -> Sampler {
    d.clone().unwrap_or_else(default).sampler()
}

fn site_index(sites: &[Site], name: &Option<String>) -> u16 {
    name.as_ref().and_then(|n| sites.iter().position(|s| s.spec.name.eq_ignore_ascii_case(n))).unwrap_or(0)
        as u16
}

fn mbps(v: f64) -> f64 {
    // Mbit/s to bytes per millisecond tick.
    v * 1e6 / 8.0 / 1000.0
}

fn read_tenant(p: &Parsed, path: &Path) -> Result<CheckedTenant, ScenarioError> {
    let full = p.dir.join(path);
    let fail = |m: String| ScenarioError::Reference { location: p.at("fleet.tenant"), message: m };
    let tenant = Tenant::load(&full).map_err(|e| fail(format!("{}: {e}", full.display())))?;
    let v = autopilot::validate(&tenant);
    let errors: Vec<String> = v.findings.iter().filter(|f| f.is_error()).map(|f| f.to_string()).collect();
    v.tenant.ok_or_else(|| {
        fail(format!("{} has errors ({}); run `fleetlab lint` on it", full.display(), errors.join("; ")))
    })
}

impl Scenario {
    /// Resolves a parsed file: reads the tenant and inventory it names,
    /// compiles the flows and fills every default.
    pub fn resolve(p: &Parsed, path: &Path) -> Result<Scenario, ScenarioError> {
        let f = &p.file;
        let horizon = ticks(f.horizon_hours * 60.0);
        let bucket = ticks(f.bucket_minutes.unwrap_or(f.horizon_hours * 60.0 / 240.0)).max(MINUTE / 60);
        let buckets = (horizon.div_ceil(bucket) as usize).max(1);

        let sites = build_sites(f);
        let calendar = build_calendar(p, &sites, horizon)?;
        // Tenant: ESP, apps, profiles.
        let tenant = match &f.fleet.tenant {
            Some(t) => Some(read_tenant(p, t)?),
            None => None,
        };
        let profile_index = match (&tenant, &f.fleet.profile) {
            (Some(t), Some(name)) => Some(t.profile(name).ok_or_else(|| {
                let names: Vec<&str> = t.profiles.iter().map(|a| a.profile.name()).collect();
                p.invalid(
                    "fleet.profile",
                    format!("the tenant has no profile {name:?} (profiles: {})", names.join(", ")),
                )
            })?),
            (None, Some(_)) => {
                return Err(p.invalid("fleet.profile", "names a profile but [fleet] has no tenant"))
            }
            _ => None,
        };
        let esp = match (&f.esp, &tenant, profile_index) {
            (Some(e), ..) => e.clone(),
            (None, Some(t), Some(i)) => esp_from_tenant(t.esp_for(i)),
            (None, Some(t), None) => esp_from_tenant(&t.esp),
            _ => EspSpec::default(),
        };
        let apps = build_apps(p, &tenant)?;
        let update_steps = [
            apps.iter().any(|a| a.update == Some(UpdateStep::Oobe)),
            apps.iter().any(|a| a.update == Some(UpdateStep::Quality)),
        ];

        // Flows.
        let mut b = FlowBuilder {
            durations: &f.durations,
            failures: &f.failures,
            samplers: Vec::new(),
            sampler_of: HashMap::new(),
            resolved_durations: BTreeMap::new(),
            resolved_failures: BTreeMap::new(),
            causes: Vec::new(),
            cause_of: HashMap::new(),
            update_steps,
        };
        let (mut flows, device_flows) = build_flows(p, &tenant, profile_index, &esp, &mut b)?;
        check_event_names(p, &flows)?;
        assign_phase_apps(&mut flows, &apps, &esp);
        if f.fleet.mode == Mode::DevicePreparation {
            check_device_preparation(p, &apps, &esp)?;
        }
        let timeout_cause = b.cause("esp-timeout");
        let app_causes: Vec<(u16, u16)> = apps
            .iter()
            .map(|a| (b.cause(&format!("app-failed:{}", a.name)), b.cause(&format!("app-hang:{}", a.name))))
            .collect();
        let app_install = apps.iter().map(|a| a.install.sampler()).collect();

        let depot = build_depot(p, &sites, &calendar)?;
        let (registration, offset) = build_registration(f);
        let (arrivals, devices) = build_arrivals(p, &sites, &device_flows, offset)?;
        let wired_network = f.durations.get(WIRED_NETWORK).cloned().unwrap_or_else(default_wired_network);
        b.resolved_durations.insert(WIRED_NETWORK.to_string(), wired_network.clone());
        let resolved_durations = std::mem::take(&mut b.resolved_durations);
        let resolved_failures = std::mem::take(&mut b.resolved_failures);
        // ODJ requests go through the connectors only where a flow joins hybrid.
        let connectors = flows.iter().any(|fl| fl.table.events.contains(&Event::OdjApplied)).then(|| {
            let h = f
                .hybrid
                .clone()
                .unwrap_or(super::scenario::HybridSpec { connectors: 1, requests_per_minute: 6.0 });
            (h.connectors, ticks(1.0 / h.requests_per_minute))
        });
        Ok(Scenario {
            file: f.clone(),
            path: path.to_path_buf(),
            horizon,
            bucket,
            buckets,
            flows,
            device_flows,
            mode: f.fleet.mode,
            sites,
            depot,
            arrivals,
            devices: devices as u32,
            registration,
            apps,
            app_install,
            samplers: b.samplers,
            durations: resolved_durations,
            failures: resolved_failures,
            causes: b.causes,
            app_causes,
            timeout_cause,
            operator: f.operator.clone(),
            admin_delay: dist_sampler(&f.operator.admin_delay, default_admin_delay),
            admin_work: dist_sampler(&f.operator.admin_work, default_admin_work),
            esp,
            wired: f.fleet.wired.get(),
            wired_network: wired_network.sampler(),
            reboot: Dist::Lognormal(1.5, 0.4).sampler(),
            connectors,
            calendar,
        })
    }

    /// The scenario with every default written out (`simulate --explain`).
    pub fn explained(&self) -> ScenarioFile {
        let mut f = self.file.clone();
        f.bucket_minutes = Some(self.bucket as f64 / MINUTE as f64);
        if f.site.is_empty() {
            f.site = self.sites.iter().map(|s| s.spec.clone()).collect();
        }
        // With a tenant, each profile keeps its own ESP unless the file overrides it.
        if f.fleet.tenant.is_none() {
            f.esp = Some(self.esp.clone());
        }
        f.app = self.apps.iter().filter(|a| a.update.is_none()).map(App::to_spec).collect();
        f.durations = self.durations.clone();
        f.failures = self.failures.iter().map(|(k, &v)| (k.clone(), Probability::clamped(v))).collect();
        if let Some(d) = &mut f.depot {
            d.hands_on.get_or_insert_with(default_hands_on);
            d.reseal.get_or_insert_with(default_reseal);
            d.triage.get_or_insert_with(default_triage);
        }
        if let Some(r) = &mut f.registration {
            r.import.get_or_insert_with(default_import);
            r.group_evaluation.get_or_insert_with(default_group_evaluation);
            r.assignment.get_or_insert_with(default_assignment);
        }
        if let Some((n, per)) = self.connectors {
            f.hybrid.get_or_insert(super::scenario::HybridSpec {
                connectors: n,
                requests_per_minute: MINUTE as f64 / per.max(1) as f64,
            });
        }
        if let Some(c) = &mut f.calendar {
            c.start_date.get_or_insert_with(|| super::calendar::DEFAULT_START_DATE.into());
            c.time_zone.get_or_insert_with(|| "UTC".into());
            let working = c.working_days.get_or_insert_with(|| "mon-fri".into()).clone();
            c.shipping_days.get_or_insert(working);
            c.working_hours.get_or_insert_with(|| "08:00-17:00".into());
        }
        f.operator.admin_delay.get_or_insert_with(default_admin_delay);
        f.operator.admin_work.get_or_insert_with(default_admin_work);
        for w in &mut f.wave {
            w.site.get_or_insert_with(|| self.sites.first().map(|s| s.spec.name.clone()).unwrap_or_default());
            w.spread.get_or_insert(Dist::Fixed(0.0));
        }
        f
    }

    /// Whether the operator may choose `c` at all.
    pub fn allows(&self, c: Choice) -> bool {
        self.operator.on_error.contains(&c)
    }

    /// DO peer share of an app at a site given `sources` devices holding it.
    pub fn peer_share(&self, site: usize, bytes: f64, sources: u32) -> f64 {
        let Some(s) = self.sites.get(site) else { return 0.0 };
        if bytes < 50e6 || !s.spec.shared {
            return 0.0;
        }
        match s.spec.delivery_optimization {
            DeliveryOptimization::Http => 0.0,
            DeliveryOptimization::Mcc => {
                if sources > 0 {
                    0.98
                } else {
                    0.0
                }
            }
            DeliveryOptimization::Lan => {
                s.spec.peer_max.get() * (1.0 - (-s.spec.peer_k * f64::from(sources)).exp())
            }
        }
    }
}

fn build_sites(f: &ScenarioFile) -> Vec<Site> {
    // Sites.
    let specs = if f.site.is_empty() { vec![SiteSpec::named("site")] } else { f.site.clone() };
    let sites: Vec<Site> = specs
        .into_iter()
        .map(|s| Site {
            uplink: mbps(s.uplink_mbps),
            device: mbps(s.device_mbps),
            device_spread: s.device_mbps_spread.as_ref().map(Dist::sampler),
            lan: mbps(s.lan_mbps),
            spec: s,
        })
        .collect();

    sites
}

fn build_calendar(p: &Parsed, sites: &[Site], horizon: Tick) -> Result<Option<Calendar>, ScenarioError> {
    let f = &p.file;
    let calendar = match &f.calendar {
        Some(c) => {
            let zones: Vec<(String, Option<String>)> =
                sites.iter().map(|s| (s.spec.name.clone(), s.spec.time_zone.clone())).collect();
            Some(
                Calendar::resolve(c, &zones, f.depot.is_none(), horizon)
                    .map_err(|e| p.invalid(&e.key, e.message))?,
            )
        }
        None => {
            if let Some(i) = sites.iter().position(|s| s.spec.time_zone.is_some()) {
                return Err(p.invalid(
                    &format!("site[{i}].time_zone"),
                    "a site's time zone needs a [calendar] table (its days and hours)",
                ));
            }
            None
        }
    };

    Ok(calendar)
}

fn build_apps(p: &Parsed, tenant: &Option<CheckedTenant>) -> Result<Vec<App>, ScenarioError> {
    let f = &p.file;
    let app_specs: Vec<AppSpec> = if !f.app.is_empty() || tenant.is_none() {
        f.app.clone()
    } else {
        tenant.as_ref().map_or_else(Vec::new, |t| {
            t.apps
                .iter()
                .map(|a| AppSpec {
                    name: a.name.clone(),
                    preset: Some(match a.kind {
                        autopilot::AppKind::M365 => "m365".into(),
                        autopilot::AppKind::Store => "company-portal".into(),
                        _ => "generic".into(),
                    }),
                    size_mb: a.size_mb.map(f64::from),
                    size_mb_spread: None,
                    install: a.install_minutes.map(|m| Dist::Lognormal(f64::from(m), 0.5)),
                    p_fail: None,
                    p_hang: None,
                    blocking: None,
                    context: Some(match a.target {
                        autopilot::AppTarget::User => AppContext::User,
                        _ => AppContext::Device,
                    }),
                    timeout_minutes: None,
                    reboot: None,
                })
                .collect()
        })
    };
    if app_specs.len() > 128 {
        return Err(p.invalid("app", format!("{} apps; the simulator tracks at most 128", app_specs.len())));
    }
    let mut apps: Vec<App> = app_specs.iter().map(App::resolve).collect();
    // Windows updates ride the app pipeline as downloads of their own.
    if let Some(u) = &f.updates {
        let steps = [
            (&u.oobe_mb, "Windows critical OOBE updates", UpdateStep::Oobe),
            (&u.driver_mb, "Windows driver updates", UpdateStep::Oobe),
            (&u.feature_mb, "Windows feature update", UpdateStep::Oobe),
            (&u.quality_mb, "Windows quality update", UpdateStep::Quality),
        ];
        for (mb, name, step) in steps {
            if let Some(mb) = mb {
                apps.push(App::update(name, mb, step));
            }
        }
        if apps.len() > 128 {
            return Err(p.invalid("updates", "apps and updates together exceed the 128 the simulator tracks"));
        }
    }
    Ok(apps)
}

/// The flows, and per device ordinal its flow and how it escapes.
type Flows = (Vec<FlowPlan>, Vec<(u16, u8)>);

fn build_flows(
    p: &Parsed,
    tenant: &Option<CheckedTenant>,
    profile_index: Option<usize>,
    esp: &EspSpec,
    b: &mut FlowBuilder<'_>,
) -> Result<Flows, ScenarioError> {
    let f = &p.file;
    let depot_flow = f.depot.is_some();
    let mut flows = Vec::new();
    let mut device_flows = Vec::new();
    let fail_flow = |key: &str, m: String| p.invalid(key, m);
    if f.fleet.inventory.is_some() && f.fleet.generate.is_some() {
        return Err(p.invalid("fleet.generate", "give an inventory file or a generated one, not both"));
    }
    let inventory = match (&f.fleet.inventory, &f.fleet.generate) {
        (Some(path), _) => Some(Inventory::File(path.clone())),
        (None, Some(g)) => Some(Inventory::Generated(g.clone())),
        (None, None) => None,
    };
    match (&tenant, profile_index, &inventory) {
        (Some(t), None, Some(inv)) => {
            let index = match inv {
                Inventory::File(path) => {
                    let full = p.dir.join(path);
                    crate::fleet::load_index(&full, &|_| {}).map_err(|e| ScenarioError::Reference {
                        location: p.at("fleet.inventory"),
                        message: e.to_string(),
                    })?
                }
                Inventory::Generated(g) => generated_index(g).map_err(|m| p.invalid("fleet.generate", m))?,
            };
            let plan = t.plan(&index).map_err(|e| ScenarioError::Reference {
                location: p.at("fleet.tenant"),
                message: format!("assignment plan: {e}"),
            })?;
            let mut by_name: HashMap<String, u16> = HashMap::new();
            for d in &plan.devices {
                match crate::flow::from_profile::device_flow(t, d) {
                    crate::flow::from_profile::DeviceFlow::Profile { name, mut input } => {
                        if let Some(e) = &f.esp {
                            input.esp = esp_options(e);
                        }
                        let k = match by_name.get(&name) {
                            Some(&k) => k,
                            None => {
                                let tech = depot_flow && input.pre_provisioning_allowed;
                                let mut plan = b
                                    .build(name.clone(), &input, tech)
                                    .map_err(|m| fail_flow("fleet.tenant", m))?;
                                if f.esp.is_none() {
                                    plan.selected =
                                        t.profile(&name).and_then(|i| selected_apps(t.esp_for(i)));
                                }
                                flows.push(plan);
                                let k = (flows.len() - 1) as u16;
                                by_name.insert(name, k);
                                k
                            }
                        };
                        device_flows.push((k, 0u8));
                    }
                    crate::flow::from_profile::DeviceFlow::Escapes { event, .. } => {
                        if event == Event::NotRegistered && f.fleet.registered_only {
                            continue;
                        }
                        device_flows.push((u16::MAX, if event == Event::NotRegistered { 1 } else { 2 }));
                    }
                }
            }
            if flows.is_empty() {
                // Every device escapes; they still need a flow to boot into.
                flows.push(
                    b.build("no profile".into(), &fleet_input(&f.fleet, esp), false)
                        .map_err(|m| fail_flow("fleet", m))?,
                );
            }
            for d in &mut device_flows {
                if d.0 == u16::MAX {
                    d.0 = 0;
                }
            }
        }
        (Some(t), Some(i), _) => {
            let mut input = t
                .profiles
                .get(i)
                .map(|a| crate::flow::from_profile::input(&a.profile, t.esp_for(i)))
                .ok_or_else(|| p.invalid("fleet.profile", "profile vanished"))?;
            input.esp = esp_options(esp);
            let tech = depot_flow && input.pre_provisioning_allowed;
            let mut plan = b
                .build(f.fleet.profile.clone().unwrap_or_default(), &input, tech)
                .map_err(|m| fail_flow("fleet.profile", m))?;
            if f.esp.is_none() {
                plan.selected = selected_apps(t.esp_for(i));
            }
            flows.push(plan);
        }
        (Some(_), None, None) => {
            return Err(p.invalid(
                "fleet.tenant",
                "with a tenant, name a `profile` or give an `inventory` to assign profiles from",
            ));
        }
        (None, ..) => {
            if inventory.is_some() {
                return Err(
                    p.invalid("fleet.inventory", "an inventory decides profiles only with a `tenant`")
                );
            }
            let input = fleet_input(&f.fleet, esp);
            let name = match f.fleet.mode {
                Mode::UserDriven => "user-driven",
                Mode::PreProvisioned => "pre-provisioned",
                Mode::SelfDeploying => "self-deploying",
                Mode::Hololens => "hololens",
                Mode::DevicePreparation => "device-preparation",
                Mode::HandsOnOnly => "hands-on-only",
            };
            flows.push(
                b.build(name.into(), &input, f.fleet.mode == Mode::PreProvisioned)
                    .map_err(|m| fail_flow("fleet", m))?,
            );
        }
    }
    if f.fleet.mode == Mode::PreProvisioned && f.depot.is_none() && tenant.is_none() {
        return Err(p.invalid(
            "fleet.mode",
            "pre-provisioned devices need a [depot] (technicians run the technician flow)",
        ));
    }
    if f.fleet.mode == Mode::HandsOnOnly && f.depot.is_none() {
        return Err(p.invalid("fleet.mode", "hands-on-only needs a [depot]"));
    }

    Ok((flows, device_flows))
}

fn check_event_names(p: &Parsed, flows: &[FlowPlan]) -> Result<(), ScenarioError> {
    let f = &p.file;
    // Unknown event names in overrides.
    let known: Vec<&str> = {
        let mut v: Vec<&str> =
            flows.iter().flat_map(|fl| fl.table.events.iter().map(|e| e.as_str())).collect();
        v.push(WIRED_NETWORK);
        v.sort_unstable();
        v.dedup();
        v
    };
    let all_events: Vec<&str> = {
        let mut v: Vec<&str> = Event::ALL.iter().map(|e| e.as_str()).collect();
        v.push(WIRED_NETWORK);
        v.sort_unstable();
        v.dedup();
        v
    };
    for (table, map_keys) in
        [("durations", f.durations.keys().collect::<Vec<_>>()), ("failures", f.failures.keys().collect())]
    {
        for k in map_keys {
            if !all_events.contains(&k.as_str()) {
                let near = closest(k, &all_events);
                return Err(p.invalid(
                    &format!("{table}.{k}"),
                    format!("no flow event is called {k:?}{near}; `fleetlab flow show` lists them"),
                ));
            }
            if !known.contains(&k.as_str()) {
                return Err(p.invalid(
                    &format!("{table}.{k}"),
                    format!("{k:?} does not occur in this scenario's flows"),
                ));
            }
        }
    }

    Ok(())
}

fn assign_phase_apps(flows: &mut [FlowPlan], apps: &[App], esp: &EspSpec) {
    // Apps per phase and flow: what the ESP waits for (the profile's
    // selection, else each app's own flag); the technician phase may try
    // every device app (§1.7).
    for fl in flows.iter_mut() {
        fl.technician_all_apps = esp.technician_all_apps;
        let track_all = fl.technician && esp.technician_all_apps;
        let blocking = |a: &App| match &fl.selected {
            Some(names) => names.contains(&a.name.to_lowercase()),
            None => a.blocking,
        };
        let pick_all = |keep: &dyn Fn(&App) -> bool| -> Vec<u8> {
            apps.iter().enumerate().filter(|(_, a)| keep(a)).map(|(i, _)| i as u8).collect()
        };
        let pick = |keep: &dyn Fn(&App) -> bool| pick_all(&|a| a.update.is_none() && keep(a));
        let device = pick(&|a| a.context == AppContext::Device && blocking(a));
        let user = pick(&|a| a.context == AppContext::User && blocking(a));
        let technician = pick(&|a| a.context == AppContext::Device && (blocking(a) || track_all));
        // Device preparation installs the policy's selected apps in two
        // steps, whatever their context ([APv2-wf], enrollment-model.md §1.8).
        let v2_lob = pick(&|a| a.m365 && blocking(a));
        let v2_win32 = pick(&|a| !a.m365 && blocking(a));
        let oobe = pick_all(&|a| a.update == Some(UpdateStep::Oobe));
        let quality = pick_all(&|a| a.update == Some(UpdateStep::Quality));
        fl.phase_apps = [device, user, technician, v2_lob, v2_win32, oobe, quality];
        fl.blocks = apps.iter().map(blocking).collect();
    }
}

fn build_depot(
    p: &Parsed,
    sites: &[Site],
    calendar: &Option<Calendar>,
) -> Result<Option<Depot>, ScenarioError> {
    let f = &p.file;
    // Depot.
    let depot = match &f.depot {
        None => None,
        Some(d) => {
            let mut week: Vec<(u32, u32)> = Vec::new();
            if !d.shift.is_empty() {
                let mut points: Vec<u32> = vec![0];
                let mut ranges = Vec::new();
                for (i, s) in d.shift.iter().enumerate() {
                    let r = parse_shift(s).map_err(|m| p.invalid(&format!("depot.shift[{i}]"), m))?;
                    let n = s.technicians.unwrap_or(d.technicians);
                    for (a, z) in r {
                        points.push(a);
                        points.push(z);
                        ranges.push((a, z, n));
                    }
                }
                points.sort_unstable();
                points.dedup();
                for t in points {
                    let n: u32 = ranges.iter().filter(|(a, z, _)| *a <= t && t < *z).map(|r| r.2).sum();
                    week.push((t, n.min(d.technicians)));
                }
            }
            let site = site_index(sites, &d.site);
            let changes = match &calendar {
                Some(cal) => {
                    let shifts: Vec<_> =
                        d.shift.iter().map(|s| (s.clone(), s.technicians.unwrap_or(d.technicians))).collect();
                    Some(
                        cal.technician_changes(site as usize, &shifts, d.technicians)
                            .map_err(|m| p.invalid("depot.shift", m))?,
                    )
                }
                None => None,
            };
            Some(Depot {
                site,
                changes,
                technicians: d.technicians,
                ports: d.bench_ports,
                week,
                hands_on: dist_sampler(&d.hands_on, default_hands_on),
                reseal: dist_sampler(&d.reseal, default_reseal),
                triage: dist_sampler(&d.triage, default_triage),
            })
        }
    };

    Ok(depot)
}

fn build_registration(f: &ScenarioFile) -> (Option<Registration>, f64) {
    // Registration.
    let registration = f.registration.as_ref().map(|r| Registration {
        hashes_at: ticks(r.hashes_at_hour * 60.0),
        batch: r.batch_size,
        oem: r.source == HashSource::Oem,
        import_per_device: ticks(r.import_per_device_seconds / 60.0),
        assignment_per_device: ticks(r.assignment_per_device_seconds / 60.0),
        graph: (r.source == HashSource::Graph).then(|| {
            let window = ticks(r.graph_window_seconds / 60.0).max(1);
            let back_off = r.graph_retry_after_seconds.map_or(window, |s| ticks(s / 60.0).max(1));
            (r.graph_writes_per_window, window, back_off, ticks(r.graph_call_seconds / 60.0))
        }),
        import: dist_sampler(&r.import, default_import),
        cooldown: ticks(r.sync_cooldown_minutes),
        group: dist_sampler(&r.group_evaluation, default_group_evaluation),
        assignment: dist_sampler(&r.assignment, default_assignment),
        all_devices: r.all_devices,
        default_profile: r.default_profile,
    });
    let offset =
        f.registration.as_ref().and_then(|r| r.hold_hours.map(|h| r.hashes_at_hour + h)).unwrap_or(0.0);

    (registration, offset)
}

fn build_arrivals(
    p: &Parsed,
    sites: &[Site],
    device_flows: &[(u16, u8)],
    offset: f64,
) -> Result<(Vec<Arrival>, u64), ScenarioError> {
    let f = &p.file;
    // Arrivals.
    let mut arrivals = Vec::new();
    let fixed: u64 = f.wave.iter().filter_map(|w| w.devices).map(u64::from).sum::<u64>()
        + f.arrivals.as_ref().map_or(0, |a| u64::from(a.devices));
    let mut rest_taken = false;
    for (i, w) in f.wave.iter().enumerate() {
        let devices = match w.devices {
            Some(n) => n,
            None if device_flows.is_empty() => {
                return Err(p.invalid(
                    &format!("wave[{i}].devices"),
                    "give a count (only a wave over an inventory may leave it out)",
                ));
            }
            None if rest_taken => {
                return Err(p.invalid(
                    &format!("wave[{i}].devices"),
                    "only one wave can take the rest of the inventory",
                ));
            }
            None => {
                rest_taken = true;
                (device_flows.len() as u64).saturating_sub(fixed) as u32
            }
        };
        arrivals.push(Arrival::Wave {
            name: w.name.clone(),
            devices,
            site: site_index(sites, &w.site),
            start: ticks((w.start_hour + offset) * 60.0),
            spread: dist_sampler(&w.spread, || Dist::Fixed(0.0)),
        });
    }
    if let Some(a) = &f.arrivals {
        arrivals.push(Arrival::Poisson {
            devices: a.devices,
            site: site_index(sites, &a.site),
            start: ticks((a.start_hour + offset) * 60.0),
            mean_gap: 60.0 / a.rate_per_hour,
        });
    }
    if let Some(d) = &f.depot {
        let n = d.devices.unwrap_or(if arrivals.is_empty() { 1000 } else { 0 });
        if n > 0 {
            arrivals.push(Arrival::Wave {
                name: "depot".into(),
                devices: n,
                site: site_index(sites, &d.site),
                start: ticks(offset * 60.0),
                spread: Sampler::Fixed(0.0),
            });
        }
    }
    if arrivals.is_empty() {
        return Err(p.invalid("wave", "no devices: add a [[wave]], an [arrivals] stream or a [depot]"));
    }
    let devices: u64 = arrivals
        .iter()
        .map(|a| match a {
            Arrival::Wave { devices, .. } | Arrival::Poisson { devices, .. } => u64::from(*devices),
        })
        .sum();
    if devices == 0 {
        return Err(p.invalid("wave", "the waves and arrivals add up to no devices"));
    }
    if !device_flows.is_empty() && devices > device_flows.len() as u64 {
        return Err(p.invalid(
            "fleet.inventory",
            format!("the waves need {devices} devices but the inventory has {}", device_flows.len()),
        ));
    }

    Ok((arrivals, devices))
}

fn closest(word: &str, options: &[&str]) -> String {
    let mut best: Option<(usize, &str)> = None;
    for &o in options {
        let d = crate::rule::levenshtein(word, o);
        if d <= 3 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, o));
        }
    }
    best.map(|(_, o)| format!(" (did you mean {o:?}?)")).unwrap_or_default()
}
