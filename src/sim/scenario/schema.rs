//! The scenario file's schema: the serde types, exactly what a file may
//! say (every table `deny_unknown_fields`), with their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::sim::dist::Dist;

/// A scenario file, as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Short name (reports, file names).
    pub name: String,
    /// The question the scenario answers.
    #[serde(default)]
    pub description: String,
    /// Base seed of every random stream.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Monte Carlo replications.
    #[serde(default = "default_replications")]
    pub replications: u32,
    /// Simulated time, hours from Monday 00:00.
    #[serde(default = "default_horizon")]
    pub horizon_hours: f64,
    /// Width of the report's time buckets (default: the horizon / 240).
    pub bucket_minutes: Option<f64>,
    /// Which devices, which profile.
    #[serde(default)]
    pub fleet: FleetSpec,
    /// Network sites (default: one site, 1 Gbit/s).
    #[serde(default)]
    pub site: Vec<SiteSpec>,
    /// A pre-provisioning depot.
    pub depot: Option<DepotSpec>,
    /// Waves of devices powered on.
    #[serde(default)]
    pub wave: Vec<WaveSpec>,
    /// A Poisson stream of devices.
    pub arrivals: Option<PoissonSpec>,
    /// The service plane: import, sync, group, assignment (default: all
    /// devices registered and assigned before the run).
    pub registration: Option<RegistrationSpec>,
    /// Required apps.
    #[serde(default)]
    pub app: Vec<AppSpec>,
    /// Enrollment Status Page settings (default: the tenant's, else Intune's defaults).
    pub esp: Option<EspSpec>,
    /// Duration overrides by flow event id.
    #[serde(default)]
    pub durations: BTreeMap<String, Dist>,
    /// Probability overrides by flow event id.
    #[serde(default)]
    pub failures: BTreeMap<String, Probability>,
    /// What people do on error screens and in the admin queue.
    #[serde(default)]
    pub operator: OperatorSpec,
    /// The Intune Connector for Active Directory (hybrid join only).
    pub hybrid: Option<HybridSpec>,
    /// Local days: time zones, working days, holidays, shipping days,
    /// admin hours (default: none, every day the same, times in UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<CalendarSpec>,
    /// Windows updates downloaded during OOBE, as bytes over the links
    /// (default: none; their time is in `[durations]` either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<UpdatesSpec>,
}

/// `[updates]`: what Windows Update downloads during OOBE, in MB per
/// device, each a distribution drawn per device. The bytes go over the
/// site's link like an app's (with Delivery Optimization's peering),
/// before the step's own install time (`updates-done`,
/// `updates-installed` in `[durations]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdatesSpec {
    /// Critical OOBE updates (zero-day patch), in the `updates-done` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oobe_mb: Option<Dist>,
    /// Drivers Windows Update offers in the same step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_mb: Option<Dist>,
    /// A feature update or enablement package in the same step (an image
    /// behind the release the tenant requires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_mb: Option<Dist>,
    /// The monthly quality update the ESP installs at the end of OOBE
    /// (`esp.install_quality_updates`), in the `updates-installed` step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_mb: Option<Dist>,
}

/// `[calendar]`: when things happen in local time (see
/// [`crate::sim::calendar`] for the model).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// The date of time zero, `YYYY-MM-DD` (default 2024-01-01, a Monday).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// IANA time zone of time zero and of the admins (default `UTC`);
    /// sites without a `time_zone` of their own use it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Working days (default `mon-fri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_days: Option<String>,
    /// Technician hours of a depot without shifts, `HH:MM-HH:MM` local
    /// (default `08:00-17:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_hours: Option<String>,
    /// Dates nobody works and nothing ships, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
    /// Days carriers deliver (default: the working days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_days: Option<String>,
    /// Hours the admin queue is worked on working days, `HH:MM-HH:MM` in
    /// the calendar's zone (default: around the clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_hours: Option<String>,
}

/// `[hybrid]`: the connectors that create computer accounts and return
/// offline domain join blobs (§1.5, §8 Q9).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HybridSpec {
    /// Connector instances.
    #[serde(default = "one")]
    pub connectors: u32,
    /// ODJ requests one connector handles per minute (§8 Q9: 6, assume).
    #[serde(default = "default_odj_rate")]
    pub requests_per_minute: f64,
}

fn default_odj_rate() -> f64 {
    6.0
}

fn default_seed() -> u64 {
    1
}
fn default_replications() -> u32 {
    100
}
fn default_horizon() -> f64 {
    72.0
}

/// A probability, checked to lie in `[0, 1]` when read.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Probability(f64);

impl Probability {
    /// The probability `p`, clamped into `[0, 1]` (NaN becomes 0): for
    /// values the simulator computed itself, never for what a user wrote.
    pub fn clamped(p: f64) -> Probability {
        Probability(if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) })
    }

    /// The value, in `[0, 1]`.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Probability {
    type Error = String;
    fn try_from(p: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&p) {
            Ok(Probability(p))
        } else {
            Err(format!("a probability must lie between 0 and 1, not {p}"))
        }
    }
}
impl From<Probability> for f64 {
    fn from(p: Probability) -> f64 {
        p.0
    }
}

/// A share of devices, checked to lie in `[0, 1]`.
pub type Share = Probability;

/// How the devices enroll.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// User-driven: the user powers on and signs in.
    #[default]
    UserDriven,
    /// Pre-provisioning: a technician runs the technician flow, then Reseal.
    PreProvisioned,
    /// Self-deploying (Windows PC).
    SelfDeploying,
    /// HoloLens 2, self-deploying.
    Hololens,
    /// Windows Autopilot device preparation (APv2).
    DevicePreparation,
    /// The technician's bench work only (queueing studies, validation).
    HandsOnOnly,
}

/// Entra or hybrid join.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Join {
    /// Microsoft Entra join.
    #[default]
    Entra,
    /// Microsoft Entra hybrid join.
    Hybrid,
}

/// `[fleet]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// Deployment mode, when no tenant decides it.
    #[serde(default)]
    pub mode: Mode,
    /// Join type, when no tenant decides it.
    #[serde(default)]
    pub join: Join,
    /// A tenant file: profiles, ESP and apps; with `inventory`, each
    /// device runs the profile the assignment plan gives it.
    pub tenant: Option<PathBuf>,
    /// The profile every device runs (by name, from `tenant`).
    pub profile: Option<String>,
    /// A device inventory (JSON, JSON Lines, packed): with `tenant`, each
    /// device's profile comes from its groups.
    pub inventory: Option<PathBuf>,
    /// Or a synthetic inventory from fleetlab's generator (`fleetlab generate`).
    pub generate: Option<GenerateSpec>,
    /// Language preset with automatic keyboard (pages skipped on Ethernet).
    #[serde(default = "yes")]
    pub language_preset: bool,
    /// Share of devices on Ethernet (the rest use Wi-Fi).
    #[serde(default = "all")]
    pub wired: Share,
    /// Windows Hello for Business provisioning after the ESP.
    #[serde(default = "yes")]
    pub hello_for_business: bool,
    /// Self-deploying kiosk (ends in autologon).
    #[serde(default)]
    pub kiosk: bool,
    /// With a tenant and an inventory: leave out devices not registered
    /// with Autopilot (phones, Macs, PCs nobody imported), which would
    /// never be part of an Autopilot wave.
    #[serde(default)]
    pub registered_only: bool,
}

fn yes() -> bool {
    true
}
fn all() -> Share {
    Probability(1.0)
}

impl Default for FleetSpec {
    fn default() -> Self {
        FleetSpec {
            mode: Mode::default(),
            join: Join::default(),
            tenant: None,
            profile: None,
            inventory: None,
            generate: None,
            language_preset: true,
            wired: all(),
            hello_for_business: true,
            kiosk: false,
            registered_only: false,
        }
    }
}

/// `generate = { devices = 5000, seed = 1 }`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    /// Device records.
    pub devices: u64,
    /// Seed of the generator.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

/// Delivery Optimization at a site (§3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryOptimization {
    /// Peers behind the same NAT (download mode 1, the default).
    #[default]
    Lan,
    /// No peering: every byte over the uplink.
    Http,
    /// Microsoft Connected Cache on site: after the first fetch 98 % of
    /// the bytes come from the cache.
    Mcc,
}

/// `[[site]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// Name.
    pub name: String,
    /// Internet uplink shared by the site's downloads, Mbit/s.
    #[serde(default = "default_uplink")]
    pub uplink_mbps: f64,
    /// `false` for devices at home: each has its own connection at
    /// `device_mbps` and there are no peers; `uplink_mbps` is ignored.
    #[serde(default = "yes")]
    pub shared: bool,
    /// One device's own top speed (its NIC or Wi-Fi), Mbit/s.
    #[serde(default = "default_device_mbps")]
    pub device_mbps: f64,
    /// Each device's own connection speed drawn from this distribution
    /// (Mbit/s) instead of `device_mbps`, for devices on connections of
    /// their own (`shared = false`): home broadband is not one number, and
    /// its slow tail is what runs into the ESP timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_mbps_spread: Option<Dist>,
    /// LAN speed for peer and cache bytes, Mbit/s per device.
    #[serde(default = "default_lan")]
    pub lan_mbps: f64,
    /// Delivery Optimization mode.
    #[serde(default)]
    pub delivery_optimization: DeliveryOptimization,
    /// Largest share of an app's bytes peers can serve (`p_max`).
    #[serde(default = "default_peer_max")]
    pub peer_max: Probability,
    /// How fast peering saturates with sources (`k`).
    #[serde(default = "default_peer_k")]
    pub peer_k: f64,
    /// Share of devices on AC power (only those serve peers).
    #[serde(default = "default_on_ac")]
    pub on_ac_power: Share,
    /// IANA time zone of the site (default: the calendar's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

fn default_uplink() -> f64 {
    1000.0
}
fn default_device_mbps() -> f64 {
    200.0
}
fn default_lan() -> f64 {
    1000.0
}
fn default_peer_max() -> Probability {
    Probability(0.85)
}
fn default_peer_k() -> f64 {
    0.5
}
fn default_on_ac() -> Share {
    Probability(0.3)
}

impl SiteSpec {
    /// A site with every default.
    pub fn named(name: &str) -> SiteSpec {
        SiteSpec {
            name: name.to_string(),
            uplink_mbps: default_uplink(),
            shared: true,
            device_mbps: default_device_mbps(),
            device_mbps_spread: None,
            lan_mbps: default_lan(),
            delivery_optimization: DeliveryOptimization::Lan,
            peer_max: default_peer_max(),
            peer_k: default_peer_k(),
            on_ac_power: default_on_ac(),
            time_zone: None,
        }
    }
}

/// A weekly shift: technicians work `days` from `start` to `end`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// `mon-fri`, `mon,wed,fri`, `sat` …
    pub days: String,
    /// `HH:MM`.
    pub start: String,
    /// `HH:MM` (after `start`).
    pub end: String,
    /// Technicians on this shift (default: all).
    pub technicians: Option<u32>,
}

/// `[depot]`: a pre-provisioning bench.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepotSpec {
    /// The site whose uplink the bench uses (default: the first).
    pub site: Option<String>,
    /// Technicians.
    pub technicians: u32,
    /// Bench ports (power and network); a device holds one from unboxing
    /// to Reseal. Absent: unlimited.
    pub bench_ports: Option<u32>,
    /// Working hours; absent: around the clock.
    #[serde(default)]
    pub shift: Vec<Shift>,
    /// Unbox, cable, WIN×5, check, Provision (§3.2).
    pub hands_on: Option<Dist>,
    /// Reseal, label, rebox.
    pub reseal: Option<Dist>,
    /// Error triage: collect logs, decide Retry or Reset.
    pub triage: Option<Dist>,
    /// Devices waiting at the start (default: the waves and arrivals
    /// decide; with neither, 1,000).
    pub devices: Option<u32>,
}

/// `[[wave]]`: devices powered on around a time.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveSpec {
    /// Name.
    pub name: String,
    /// Site (default: the first).
    pub site: Option<String>,
    /// Devices; with an inventory, absent means the rest of it.
    pub devices: Option<u32>,
    /// Hours after Monday 00:00.
    #[serde(default)]
    pub start_hour: f64,
    /// Minutes after the start each device is powered on.
    pub spread: Option<Dist>,
}

/// `[arrivals]`: a Poisson stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoissonSpec {
    /// Devices in the stream.
    pub devices: u32,
    /// Mean arrivals per hour.
    pub rate_per_hour: f64,
    /// Hours after Monday 00:00.
    #[serde(default)]
    pub start_hour: f64,
    /// Site (default: the first).
    pub site: Option<String>,
}

/// Where hashes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum HashSource {
    /// The admin imports CSVs of at most 500 rows, one after another.
    #[default]
    Csv,
    /// The OEM registers the whole batch.
    Oem,
    /// A script creates one `importedWindowsAutopilotDeviceIdentity` per
    /// device through Microsoft Graph, under Graph's write throttling.
    Graph,
}

/// `[registration]`: the service plane (§3.1).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationSpec {
    /// Hours after Monday 00:00 at which the hashes arrive.
    #[serde(default)]
    pub hashes_at_hour: f64,
    /// CSV or OEM.
    #[serde(default)]
    pub source: HashSource,
    /// Rows per CSV (at most 500).
    #[serde(default = "default_batch")]
    pub batch_size: u32,
    /// Import processing per batch: its fixed part.
    pub import: Option<Dist>,
    /// Import processing per row of a batch, seconds, on top of `import`
    /// (default 0.25; assume: a 500-row CSV then takes about 4 minutes,
    /// "several minutes" in Microsoft's words).
    #[serde(default = "default_import_per_device")]
    pub import_per_device_seconds: f64,
    /// Profile assignment works a synced batch's devices one after
    /// another: the k-th device of a batch waits k times this long, in
    /// seconds, on top of `assignment` (default 1; assume).
    #[serde(default = "default_assignment_per_device")]
    pub assignment_per_device_seconds: f64,
    /// `source = "graph"`: writes Graph accepts per window before it
    /// answers 429 (default 100, the device-enrollment family's limit).
    #[serde(default = "default_graph_writes")]
    pub graph_writes_per_window: u32,
    /// The window of that limit, seconds (default 20).
    #[serde(default = "default_graph_window")]
    pub graph_window_seconds: f64,
    /// The script's wait after a 429 before it tries again, seconds
    /// (default: Graph's `Retry-After`, taken as the window).
    pub graph_retry_after_seconds: Option<f64>,
    /// One Graph call's round trip, seconds (default 0.5): calls go out
    /// one after another.
    #[serde(default = "default_graph_call")]
    pub graph_call_seconds: f64,
    /// Minimum minutes between Autopilot syncs.
    #[serde(default = "default_cooldown")]
    pub sync_cooldown_minutes: f64,
    /// Dynamic group evaluation after the sync.
    pub group_evaluation: Option<Dist>,
    /// Profile assignment after group membership.
    pub assignment: Option<Dist>,
    /// The profile is assigned to All Devices: assigned at once.
    #[serde(default)]
    pub all_devices: bool,
    /// A default profile exists: a device booted before its own
    /// assignment proceeds on it instead of escaping.
    #[serde(default)]
    pub default_profile: bool,
    /// Hours after the hashes arrive before devices are shipped or powered
    /// on; the waves' start hours are relative to that point when set.
    pub hold_hours: Option<f64>,
}

fn default_batch() -> u32 {
    500
}
fn default_import_per_device() -> f64 {
    0.25
}
fn default_assignment_per_device() -> f64 {
    1.0
}
fn default_graph_writes() -> u32 {
    100
}
fn default_graph_window() -> f64 {
    20.0
}
fn default_graph_call() -> f64 {
    0.5
}
fn default_cooldown() -> f64 {
    10.0
}

/// Install context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum AppContext {
    /// Device setup phase.
    #[default]
    Device,
    /// Account setup phase.
    User,
}

/// `[[app]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// Display name.
    pub name: String,
    /// A §3.3 catalogue class the other fields default from.
    pub preset: Option<String>,
    /// Download size, MB.
    pub size_mb: Option<f64>,
    /// Each device's download of this app drawn from this distribution
    /// (MB) instead of `size_mb`: packages differ by hardware model and
    /// language, and the large ones are what run into the ESP timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_mb_spread: Option<Dist>,
    /// Install time once downloaded.
    pub install: Option<Dist>,
    /// Failure probability per attempt.
    pub p_fail: Option<Probability>,
    /// Probability the installer never returns (then it fails at its timeout).
    pub p_hang: Option<Probability>,
    /// The ESP waits for it.
    pub blocking: Option<bool>,
    /// Device or user context.
    pub context: Option<AppContext>,
    /// Win32 "installation time required", minutes.
    pub timeout_minutes: Option<f64>,
    /// A reboot follows the install.
    pub reboot: Option<bool>,
}

/// `[esp]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EspSpec {
    /// Minutes before the error screen, per phase (hybrid device phase +40).
    #[serde(default = "default_timeout")]
    pub timeout_minutes: u32,
    /// Show progress (without it there is no ESP).
    #[serde(default = "yes")]
    pub show_progress: bool,
    /// Block device use until done.
    #[serde(default = "yes")]
    pub block_device_use: bool,
    /// "Try again".
    #[serde(default = "yes")]
    pub allow_retry: bool,
    /// "Continue anyway".
    #[serde(default)]
    pub allow_continue: bool,
    /// "Reset device".
    #[serde(default)]
    pub allow_reset: bool,
    /// Windows quality updates after the ESP.
    #[serde(default)]
    pub install_quality_updates: bool,
    /// Technician phase: try every app, fail only on blocking ones (§8 Q4: yes).
    #[serde(default = "yes")]
    pub technician_all_apps: bool,
}

fn default_timeout() -> u32 {
    60
}

impl Default for EspSpec {
    fn default() -> Self {
        EspSpec {
            timeout_minutes: 60,
            show_progress: true,
            block_device_use: true,
            allow_retry: true,
            allow_continue: false,
            allow_reset: false,
            install_quality_updates: false,
            technician_all_apps: true,
        }
    }
}

/// An option on an error screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Choice {
    /// Try again / Retry.
    Retry,
    /// Continue anyway.
    ContinueAnyway,
    /// Reset device.
    Reset,
    /// Call the helpdesk: the admin queue.
    GiveUp,
}

/// `[operator]`: people.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorSpec {
    /// Options tried on an error screen, in order; options the screen
    /// does not offer are skipped.
    #[serde(default = "default_choices")]
    pub on_error: Vec<Choice>,
    /// Attempts of one phase before `retry` is no longer chosen.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Resets of one device before `reset` is no longer chosen.
    #[serde(default = "default_resets")]
    pub max_resets: u32,
    /// Admins working the ticket queue.
    #[serde(default = "one")]
    pub admins: u32,
    /// Time before an admin picks a ticket up (calendar time, not work).
    pub admin_delay: Option<Dist>,
    /// Admin work per ticket.
    pub admin_work: Option<Dist>,
    /// Times a device goes back to OOBE after an admin fix before it is abandoned.
    #[serde(default = "one")]
    pub max_admin_fixes: u32,
}

fn default_choices() -> Vec<Choice> {
    vec![Choice::Retry, Choice::ContinueAnyway, Choice::Reset, Choice::GiveUp]
}
fn default_attempts() -> u32 {
    2
}
fn default_resets() -> u32 {
    1
}
fn one() -> u32 {
    1
}

impl Default for OperatorSpec {
    fn default() -> Self {
        OperatorSpec {
            on_error: default_choices(),
            max_attempts: default_attempts(),
            max_resets: default_resets(),
            admins: 1,
            admin_delay: None,
            admin_work: None,
            max_admin_fixes: 1,
        }
    }
}
