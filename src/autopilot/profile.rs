//! Deployment profiles: the settings as written ([`ProfileSpec`]) and the
//! checked model ([`Profile`]).
//!
//! Two types on purpose. A tenant file or a Graph export can say anything,
//! including "HoloLens, user-driven, pre-provisioned": [`ProfileSpec`]
//! holds what was written so every contradiction can be reported with the
//! key that carries it. [`Profile`] is what a clean check produces, and its
//! shape leaves no room for the contradictions:
//!
//! * a self-deploying profile ([`Deployment::SelfDeploying`]) has no user
//!   account type, no licence-terms or privacy choice and no
//!   pre-provisioning flag (a stated account type is not applied, and
//!   stating the pages hidden agrees with the mode: no documentation
//!   makes either an error);
//! * change account options exist only on a standard account
//!   ([`Account::Standard`]);
//! * automatic keyboard exists only with a chosen language ([`Language::Locale`]);
//! * a device name template exists only on Entra join, the
//!   skip-connectivity flag only on hybrid join ([`Join`]).
//!
//! The one cross-field rule the types do not carry (HoloLens ⇒
//! self-deploying, Entra join, no conversion) is enforced by the only
//! constructor, [`check_profile`]; `Profile` has no public fields.
//!
//! Defaults where a setting is absent: Entra join, Windows PC,
//! user-driven (self-deploying on HoloLens: the guide's "HoloLens ⇒
//! Self-deploying" leaves a HoloLens profile no other mode), OS-default language, administrator account (the Graph
//! default, graph-api.md §1.2.2), licence terms, privacy settings and
//! change account options hidden (the Intune defaults), no conversion, no
//! template. A profile with no `created` time is one not created yet: it
//! will be the newest when it is, and loses every precedence tie.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::autopilot::checks::{self, Check, Finding};
use crate::autopilot::name::{NameProblem, NameTemplate};
use crate::autopilot::source::Origin;
use crate::rule::Timestamp;

/// Entra join or hybrid join (the Graph `@odata.type` of the profile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinType {
    /// `azureADWindowsAutopilotDeploymentProfile`: Microsoft Entra join.
    Entra,
    /// `activeDirectoryWindowsAutopilotDeploymentProfile`: Microsoft Entra hybrid join.
    Hybrid,
}

impl JoinType {
    /// `entra` or `hybrid`.
    pub fn as_str(self) -> &'static str {
        match self {
            JoinType::Entra => "entra",
            JoinType::Hybrid => "hybrid",
        }
    }
}

/// Graph `windowsAutopilotDeviceType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeviceType {
    /// `windowsPc` (the default).
    #[serde(rename = "windows-pc")]
    WindowsPc,
    /// `holoLens`.
    #[serde(rename = "hololens")]
    HoloLens,
    /// `surfaceHub2`.
    #[serde(rename = "surface-hub-2")]
    SurfaceHub2,
    /// `surfaceHub2S`.
    #[serde(rename = "surface-hub-2s")]
    SurfaceHub2S,
    /// `virtualMachine`.
    #[serde(rename = "virtual-machine")]
    VirtualMachine,
}

impl DeviceType {
    /// Every device type, in Graph order.
    pub const ALL: [DeviceType; 5] = [
        DeviceType::WindowsPc,
        DeviceType::HoloLens,
        DeviceType::SurfaceHub2,
        DeviceType::SurfaceHub2S,
        DeviceType::VirtualMachine,
    ];

    /// The tenant-file spelling (`windows-pc`, `hololens`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::WindowsPc => "windows-pc",
            DeviceType::HoloLens => "hololens",
            DeviceType::SurfaceHub2 => "surface-hub-2",
            DeviceType::SurfaceHub2S => "surface-hub-2s",
            DeviceType::VirtualMachine => "virtual-machine",
        }
    }

    /// The Graph enum value (`windowsPc`, `holoLens`, …).
    pub fn graph_name(self) -> &'static str {
        match self {
            DeviceType::WindowsPc => "windowsPc",
            DeviceType::HoloLens => "holoLens",
            DeviceType::SurfaceHub2 => "surfaceHub2",
            DeviceType::SurfaceHub2S => "surfaceHub2S",
            DeviceType::VirtualMachine => "virtualMachine",
        }
    }

    /// Reads a Graph enum value.
    pub fn from_graph(name: &str) -> Option<DeviceType> {
        DeviceType::ALL.into_iter().find(|d| d.graph_name() == name)
    }
}

/// User-driven or self-deploying (Graph `deviceUsageType` `singleUser` / `shared`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentMode {
    /// The user signs in during OOBE.
    UserDriven,
    /// No user: the TPM authenticates; kiosks, shared devices, HoloLens.
    SelfDeploying,
}

impl DeploymentMode {
    /// `user-driven` or `self-deploying`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentMode::UserDriven => "user-driven",
            DeploymentMode::SelfDeploying => "self-deploying",
        }
    }
}

/// The local account the signed-in user gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserType {
    /// Local administrator (the Graph default).
    Administrator,
    /// Standard user.
    Standard,
}

impl UserType {
    /// `administrator` or `standard`, as Graph spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Administrator => "administrator",
            UserType::Standard => "standard",
        }
    }
}

/// Whether an OOBE page is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Visibility {
    /// The page is shown.
    Show,
    /// The page is skipped.
    Hide,
}

/// Enrollment Status Page settings as written; absent keys take the
/// defaults of [`EspSettings::default`].
///
/// The first seven map to the profile's Graph
/// `enrollmentStatusScreenSettings`; the others belong to the ESP
/// configuration (enrollment-model.md §2.2) and live in the tenant file only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspSpec {
    /// Show app and profile configuration progress (`!hideInstallationProgress`).
    pub show_progress: Option<bool>,
    /// Block device use until apps and profiles are installed
    /// (`!allowDeviceUseBeforeProfileAndAppInstallComplete`).
    pub block_device_use: Option<bool>,
    /// Minutes before the error screen (`installProgressTimeoutInMinutes`).
    pub timeout_minutes: Option<u32>,
    /// Let the user retry after an error (`!blockDeviceSetupRetryByUser`).
    pub allow_retry: Option<bool>,
    /// Let the user use the device after an error (`allowDeviceUseOnInstallFailure`).
    pub allow_use_on_failure: Option<bool>,
    /// Offer log collection after an error (`allowLogCollectionOnInstallFailure`).
    pub collect_logs: Option<bool>,
    /// Text of the error screen (`customErrorMessage`).
    pub error_message: Option<String>,
    /// Let the user reset the device after an error.
    pub allow_reset: Option<bool>,
    /// Names of the required apps the ESP waits for; absent means all.
    pub blocking_apps: Option<Vec<String>>,
    /// Install Windows quality updates at the end of OOBE.
    pub install_quality_updates: Option<bool>,
    /// Pre-provisioning: try every required app in the technician phase,
    /// failing only on blocking ones ("Only fail selected blocking apps in
    /// technician phase").
    pub technician_phase_all_apps: Option<bool>,
}

/// Which required apps the ESP waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockingApps {
    /// Every required app targeted at the device or user.
    All,
    /// These apps, by name (at most 100).
    Selected(Vec<String>),
}

/// Resolved Enrollment Status Page settings, the input of the simulator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EspSettings {
    /// Show progress; without it there is no ESP at all.
    pub show_progress: bool,
    /// Block device use until apps and profiles are installed.
    pub block_device_use: bool,
    /// Minutes before the error screen (hybrid join adds 40).
    pub timeout_minutes: u32,
    /// "Try again" on the error screen.
    pub allow_retry: bool,
    /// "Reset device" on the error screen.
    pub allow_reset: bool,
    /// "Continue anyway" on the error screen.
    pub allow_use_on_failure: bool,
    /// "Collect logs" on the error screen.
    pub collect_logs: bool,
    /// Custom error text.
    pub error_message: Option<String>,
    /// The apps the ESP waits for.
    pub blocking_apps: BlockingApps,
    /// Quality updates at the end of OOBE (+20–40 min).
    pub install_quality_updates: bool,
    /// Technician phase tries every required app.
    pub technician_phase_all_apps: bool,
}

impl Default for EspSettings {
    /// The Intune defaults of a new ESP: progress shown, device blocked,
    /// 60 minutes, retry allowed, no reset, no "continue anyway", no log
    /// collection, every app blocking, no quality updates, technician
    /// phase tries every app (enrollment-model.md §1.3, §1.7, §2.2).
    fn default() -> Self {
        EspSettings {
            show_progress: true,
            block_device_use: true,
            timeout_minutes: 60,
            allow_retry: true,
            allow_reset: false,
            allow_use_on_failure: false,
            collect_logs: false,
            error_message: None,
            blocking_apps: BlockingApps::All,
            install_quality_updates: false,
            technician_phase_all_apps: true,
        }
    }
}

impl EspSpec {
    /// These settings over the defaults.
    pub fn resolve(&self) -> EspSettings {
        let d = EspSettings::default();
        EspSettings {
            show_progress: self.show_progress.unwrap_or(d.show_progress),
            block_device_use: self.block_device_use.unwrap_or(d.block_device_use),
            timeout_minutes: self.timeout_minutes.unwrap_or(d.timeout_minutes),
            allow_retry: self.allow_retry.unwrap_or(d.allow_retry),
            allow_reset: self.allow_reset.unwrap_or(d.allow_reset),
            allow_use_on_failure: self.allow_use_on_failure.unwrap_or(d.allow_use_on_failure),
            collect_logs: self.collect_logs.unwrap_or(d.collect_logs),
            error_message: self.error_message.clone().filter(|m| !m.is_empty()),
            blocking_apps: match &self.blocking_apps {
                Some(list) => BlockingApps::Selected(list.clone()),
                None => BlockingApps::All,
            },
            install_quality_updates: self.install_quality_updates.unwrap_or(d.install_quality_updates),
            technician_phase_all_apps: self.technician_phase_all_apps.unwrap_or(d.technician_phase_all_apps),
        }
    }
}

/// A profile as written in a tenant file (`[[profile]]`) or read from
/// Graph JSON: every setting optional, contradictions allowed, each key's
/// position kept in [`ProfileSpec::origin`].
///
/// ```
/// use fleetlab::autopilot::{check_profile, DeploymentMode, DeviceType, ProfileSpec};
/// let spec = ProfileSpec {
///     name: "Lobby kiosks".into(),
///     device_type: Some(DeviceType::WindowsPc),
///     mode: Some(DeploymentMode::SelfDeploying),
///     pre_provisioning: Some(true),
///     ..ProfileSpec::default()
/// };
/// let (profile, findings) = check_profile(&spec);
/// assert!(profile.is_none());
/// assert_eq!(findings[0].code, "pre-provisioning-self-deploying");
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Display name (required, ≤ 200 characters).
    #[serde(default)]
    pub name: String,
    /// Description (≤ 1,500 characters).
    pub description: Option<String>,
    /// The Graph id, when the profile exists.
    pub id: Option<String>,
    /// `createdDateTime`: decides precedence, oldest first.
    #[serde(default, deserialize_with = "de_timestamp")]
    pub created: Option<Timestamp>,
    /// Entra (default) or hybrid join.
    pub join: Option<JoinType>,
    /// Windows PC (default), HoloLens, Surface Hub 2/2S, virtual machine.
    pub device_type: Option<DeviceType>,
    /// User-driven (default) or self-deploying.
    pub mode: Option<DeploymentMode>,
    /// Allow pre-provisioning (formerly white glove).
    pub pre_provisioning: Option<bool>,
    /// Administrator (default) or standard.
    pub user_type: Option<UserType>,
    /// `os-default` (default), `user-select`, or a language tag such as `en-US`.
    pub locale: Option<String>,
    /// Automatically configure keyboard (skip the keyboard page).
    pub automatic_keyboard: Option<bool>,
    /// Convert all targeted devices to Autopilot (hardware hash extraction).
    pub convert_all_targeted_devices: Option<bool>,
    /// Device name template (Entra join only).
    pub device_name_template: Option<String>,
    /// Microsoft Software License Terms page.
    pub license_terms: Option<Visibility>,
    /// Privacy settings page.
    pub privacy_settings: Option<Visibility>,
    /// Change account options ("start over with another account" link).
    pub change_account_options: Option<Visibility>,
    /// Skip the domain connectivity check (hybrid join only).
    pub skip_connectivity_check: Option<bool>,
    /// Scope tags (`roleScopeTagIds`).
    pub role_scope_tags: Option<Vec<String>>,
    /// Enrollment Status Page for devices of this profile.
    pub esp: Option<EspSpec>,
    /// Names of the groups the profile is assigned to.
    #[serde(default)]
    pub include: Vec<String>,
    /// Names of the groups excluded from the assignment.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Assigned to all devices (the tenant's default profile).
    #[serde(default)]
    pub all_devices: bool,
    /// Tenant files only: read the settings from this Graph JSON file
    /// (relative to the tenant file); only assignment keys may accompany it.
    pub graph: Option<String>,
    /// `include` and `exclude` hold Graph group ids (read from a Graph
    /// export's `assignments`), not group names.
    #[serde(skip)]
    pub assignments_by_id: bool,
    /// Where each key was written.
    #[serde(skip)]
    pub origin: Origin,
}

fn de_timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Datetime(toml::value::Datetime),
        Text(String),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Datetime(dt) => dt.to_string(),
        Raw::Text(s) => s,
    };
    Timestamp::parse(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a date-time with offset: {}", e.0)))
}

/// The local account and OOBE pages of a user-driven profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserDriven {
    /// The account the user gets.
    pub account: Account,
    /// Pre-provisioning allowed.
    pub pre_provisioning: bool,
    /// Licence terms page.
    pub license_terms: Visibility,
    /// Privacy settings page.
    pub privacy_settings: Visibility,
}

/// User account type; change account options exist only for standard users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Account {
    /// Local administrator.
    Administrator,
    /// Standard user.
    Standard {
        /// The "change account options" link.
        change_account_options: Visibility,
    },
}

/// How the device deploys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deployment {
    /// A user signs in during OOBE.
    UserDriven(UserDriven),
    /// No user; licence terms and privacy pages are hidden, no account type.
    SelfDeploying,
}

/// Entra or hybrid join, with the settings only that join has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Join {
    /// Microsoft Entra join.
    Entra {
        /// Device name template, if any.
        device_name_template: Option<NameTemplate>,
    },
    /// Microsoft Entra hybrid join.
    Hybrid {
        /// Skip the domain connectivity check (VPN scenarios).
        skip_connectivity_check: bool,
    },
}

/// The OOBE language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Language {
    /// The operating system's default (`os-default`).
    OsDefault,
    /// The user picks (`user-select`).
    UserSelect,
    /// A language tag such as `en-US`.
    Locale {
        /// The tag as written.
        tag: String,
        /// Automatically configure the keyboard.
        automatic_keyboard: bool,
    },
}

impl Language {
    /// `os-default`, `user-select` or the tag.
    pub fn as_str(&self) -> &str {
        match self {
            Language::OsDefault => "os-default",
            Language::UserSelect => "user-select",
            Language::Locale { tag, .. } => tag,
        }
    }
}

/// What a device goes through, for plans and the simulator: the
/// deployment mode, with user-driven split by whether pre-provisioning is
/// allowed (the technician flow is then available; the user flow follows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnrollmentMode {
    /// User-driven.
    UserDriven,
    /// User-driven with pre-provisioning allowed.
    PreProvisioning,
    /// Self-deploying.
    SelfDeploying,
}

impl EnrollmentMode {
    /// `user-driven`, `pre-provisioning` or `self-deploying`.
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentMode::UserDriven => "user-driven",
            EnrollmentMode::PreProvisioning => "pre-provisioning",
            EnrollmentMode::SelfDeploying => "self-deploying",
        }
    }
}

impl fmt::Display for EnrollmentMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A checked deployment profile. Build one with [`check_profile`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    name: String,
    description: Option<String>,
    id: Option<String>,
    created: Option<Timestamp>,
    device_type: DeviceType,
    join: Join,
    deployment: Deployment,
    language: Language,
    convert_all_targeted_devices: bool,
    esp: Option<EspSettings>,
    role_scope_tags: Vec<String>,
}

impl Profile {
    /// Display name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// Graph id, when known.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// Creation time; `None` for a profile not created yet.
    pub fn created(&self) -> Option<Timestamp> {
        self.created
    }
    /// Device type.
    pub fn device_type(&self) -> DeviceType {
        self.device_type
    }
    /// Join and its settings.
    pub fn join(&self) -> &Join {
        &self.join
    }
    /// Entra or hybrid.
    pub fn join_type(&self) -> JoinType {
        match self.join {
            Join::Entra { .. } => JoinType::Entra,
            Join::Hybrid { .. } => JoinType::Hybrid,
        }
    }
    /// Deployment and its settings.
    pub fn deployment(&self) -> &Deployment {
        &self.deployment
    }
    /// The mode a device of this profile goes through.
    pub fn mode(&self) -> EnrollmentMode {
        match &self.deployment {
            Deployment::SelfDeploying => EnrollmentMode::SelfDeploying,
            Deployment::UserDriven(u) if u.pre_provisioning => EnrollmentMode::PreProvisioning,
            Deployment::UserDriven(_) => EnrollmentMode::UserDriven,
        }
    }
    /// OOBE language.
    pub fn language(&self) -> &Language {
        &self.language
    }
    /// Converts targeted devices to Autopilot.
    pub fn converts_targeted_devices(&self) -> bool {
        self.convert_all_targeted_devices
    }
    /// The profile's own ESP settings, when it has any.
    pub fn esp(&self) -> Option<&EspSettings> {
        self.esp.as_ref()
    }
    /// Scope tags.
    pub fn role_scope_tags(&self) -> &[String] {
        &self.role_scope_tags
    }
    /// Device name template (Entra join only).
    pub fn device_name_template(&self) -> Option<&NameTemplate> {
        match &self.join {
            Join::Entra { device_name_template } => device_name_template.as_ref(),
            Join::Hybrid { .. } => None,
        }
    }
    /// Precedence key: oldest created first; profiles not created yet last.
    pub(crate) fn age_key(&self) -> (bool, Option<Timestamp>) {
        (self.created.is_none(), self.created)
    }
}

/// Characters some tools reject in profile names (graph-api.md §4.2).
/// The hyphen is not among them: tool checks that reject it have no
/// documentation behind them, and Microsoft's own examples use it.
const AWKWARD_NAME_CHARS: &[char] = &['!', '#', '%', '^', '*', ')', '(', '+', ';', '\'', '>', '<'];

/// Longest display name and description (graph-api.md §1.2.1).
pub const MAX_DISPLAY_NAME: usize = 200;
/// Longest description.
pub const MAX_DESCRIPTION: usize = 1500;
/// Most selected blocking apps of an ESP.
pub const MAX_BLOCKING_APPS: usize = 100;

/// Checks `spec` against every profile-level rule and builds the
/// [`Profile`] when none is an error. Findings come with warnings even
/// when the profile is built.
pub fn check_profile(spec: &ProfileSpec) -> (Option<Profile>, Vec<Finding>) {
    let o = &spec.origin;
    let subject = format!("profile {:?}", spec.name);
    let mut out = Vec::new();
    let mut add = |check: &'static Check, key: &str, message: String| {
        out.push(Finding::new(check, o, key, format!("{subject}: {message}")));
    };
    check_names(spec, &mut add);
    let shape = Shape::of(spec);
    check_mode(&shape, &mut add);
    check_oobe(spec, &shape, &mut add);
    let language = check_language(spec, &mut add);
    let template = check_join_settings(spec, shape.join, &mut add);
    if let Some(esp) = &spec.esp {
        out.extend(check_esp(esp, o, "esp", &subject));
    }
    if out.iter().any(Finding::is_error) {
        return (None, out);
    }
    (Some(build_profile(spec, &shape, language, template)), out)
}

/// Where a check's finding goes: the check, the key it is about, the message.
type Add<'a> = dyn FnMut(&'static Check, &str, String) + 'a;

/// The display name and the description.
fn check_names(spec: &ProfileSpec, add: &mut Add<'_>) {
    let name_len = spec.name.chars().count();
    if spec.name.trim().is_empty() {
        add(&checks::DISPLAY_NAME_REQUIRED, "name", "the display name is empty".into());
    } else if name_len > MAX_DISPLAY_NAME {
        add(
            &checks::DISPLAY_NAME_TOO_LONG,
            "name",
            format!("the display name has {name_len} characters; at most {MAX_DISPLAY_NAME} are allowed"),
        );
    }
    let mut awkward: Vec<char> = Vec::new();
    for c in spec.name.chars().filter(|c| AWKWARD_NAME_CHARS.contains(c)) {
        if !awkward.contains(&c) {
            awkward.push(c);
        }
    }
    if !awkward.is_empty() {
        let list: Vec<String> = awkward.iter().map(|c| format!("{c:?}")).collect();
        add(
            &checks::DISPLAY_NAME_CHARACTERS,
            "name",
            format!(
                "the display name contains {}; Terraform and IntuneManagement reject it (an undocumented \
                 service rule that may fail some tools)",
                list.join(", ")
            ),
        );
    }
    if spec.name.to_ascii_lowercase().starts_with("offlineautopilotprofile-") {
        add(
            &checks::DISPLAY_NAME_OFFLINE_PREFIX,
            "name",
            "names starting with OfflineAutopilotprofile- are what offline configuration files report as \
             enrollmentProfileName; rules cannot tell the two apart"
                .into(),
        );
    }
    if let Some(d) = &spec.description {
        let n = d.chars().count();
        if n > MAX_DESCRIPTION {
            add(
                &checks::DESCRIPTION_TOO_LONG,
                "description",
                format!("the description has {n} characters; at most {MAX_DESCRIPTION} are allowed"),
            );
        }
    }
}

/// The settings every other check depends on, with their defaults applied.
#[derive(Clone, Copy)]
struct Shape {
    join: JoinType,
    device_type: DeviceType,
    mode: DeploymentMode,
    pre: bool,
    convert: bool,
    self_deploying: bool,
    /// The key a mode finding points at: `mode`, or `device_type` when the
    /// mode is the device type's default.
    mode_key: &'static str,
}

impl Shape {
    fn of(spec: &ProfileSpec) -> Shape {
        let o = &spec.origin;
        let join = spec.join.unwrap_or(JoinType::Entra);
        let device_type = spec.device_type.unwrap_or(DeviceType::WindowsPc);
        // HoloLens has one mode, so a HoloLens profile that names none is self-deploying.
        let mode = spec.mode.unwrap_or(if device_type == DeviceType::HoloLens {
            DeploymentMode::SelfDeploying
        } else {
            DeploymentMode::UserDriven
        });
        let pre = spec.pre_provisioning == Some(true);
        let convert = spec.convert_all_targeted_devices == Some(true);
        let self_deploying = mode == DeploymentMode::SelfDeploying;
        let mode_key = if o.has("mode") { "mode" } else { "device_type" };
        Shape { join, device_type, mode, pre, convert, self_deploying, mode_key }
    }
}

/// Device type, join and mode.
fn check_mode(shape: &Shape, add: &mut Add<'_>) {
    let Shape { join, device_type, mode, pre, convert, self_deploying, mode_key } = *shape;
    if device_type == DeviceType::HoloLens {
        if !self_deploying {
            add(
                &checks::HOLOLENS_SELF_DEPLOYING,
                mode_key,
                format!("HoloLens profiles must use self-deploying mode; this one is {}", mode.as_str()),
            );
        }
        if join == JoinType::Hybrid {
            add(
                &checks::HOLOLENS_ENTRA_JOIN,
                "join",
                "HoloLens joins Microsoft Entra ID only, never hybrid".into(),
            );
        }
        if pre {
            add(
                &checks::HOLOLENS_PRE_PROVISIONING,
                "pre_provisioning",
                "HoloLens cannot be pre-provisioned".into(),
            );
        }
        if convert {
            add(
                &checks::HOLOLENS_CONVERT_DEVICES,
                "convert_all_targeted_devices",
                "HoloLens does not support converting targeted devices (hardware hash extraction)".into(),
            );
        }
    } else if self_deploying && pre {
        add(
            &checks::PRE_PROVISIONING_SELF_DEPLOYING,
            "pre_provisioning",
            "pre-provisioning is not available with self-deploying mode".into(),
        );
    }
    if self_deploying && join == JoinType::Hybrid && device_type != DeviceType::HoloLens {
        add(
            &checks::HYBRID_SELF_DEPLOYING,
            mode_key,
            "self-deploying mode joins Microsoft Entra ID only; hybrid join needs user-driven mode".into(),
        );
    }
    if device_type == DeviceType::VirtualMachine && (self_deploying || pre) {
        add(
            &checks::ATTESTATION_VIRTUAL_MACHINE,
            "device_type",
            format!(
                "{} needs TPM 2.0 attestation, which virtual machines cannot do (0x800705B4)",
                if self_deploying { "self-deploying mode" } else { "pre-provisioning" }
            ),
        );
    }
}

/// OOBE pages and account.
fn check_oobe(spec: &ProfileSpec, shape: &Shape, add: &mut Add<'_>) {
    let self_deploying = shape.self_deploying;
    // OOBE pages and account. Self-deploying hides the licence terms and
    // privacy pages, so only asking to show them contradicts the mode.
    if self_deploying {
        if spec.license_terms == Some(Visibility::Show) {
            add(
                &checks::LICENSE_TERMS_USER_DRIVEN,
                "license_terms",
                "licence terms can be shown only in user-driven mode; self-deploying hides them".into(),
            );
        }
        if spec.privacy_settings == Some(Visibility::Show) {
            add(
                &checks::PRIVACY_SETTINGS_USER_DRIVEN,
                "privacy_settings",
                "privacy settings can be shown only in user-driven mode; self-deploying hides them".into(),
            );
        }
        if spec.change_account_options.is_some() {
            add(
                &checks::CHANGE_ACCOUNT_OPTIONS_STANDARD_USER,
                "change_account_options",
                "change account options exist only in user-driven mode".into(),
            );
        }
    } else if spec.change_account_options.is_some()
        && spec.user_type.unwrap_or(UserType::Administrator) != UserType::Standard
    {
        add(
            &checks::CHANGE_ACCOUNT_OPTIONS_STANDARD_USER,
            "change_account_options",
            format!(
                "change account options exist only with a standard user account; the account type is {}{}",
                spec.user_type.unwrap_or(UserType::Administrator).as_str(),
                if spec.user_type.is_none() { " (the default)" } else { "" }
            ),
        );
    }
}

/// The language page: `os-default`, `user-select` or a language tag.
fn check_language(spec: &ProfileSpec, add: &mut Add<'_>) -> Language {
    let language = match spec.locale.as_deref().map(str::trim) {
        None | Some("") | Some("os-default") => Language::OsDefault,
        Some("user-select") | Some("user_select") => Language::UserSelect,
        Some(tag) => {
            if !looks_like_language_tag(tag) {
                add(
                    &checks::LOCALE_FORMAT,
                    "locale",
                    format!(
                        "{tag:?} is not os-default, user-select or a language tag such as en-US or sr-Latn-RS"
                    ),
                );
            }
            Language::Locale {
                tag: tag.to_string(),
                automatic_keyboard: spec.automatic_keyboard == Some(true),
            }
        }
    };
    if spec.automatic_keyboard == Some(true) && !matches!(language, Language::Locale { .. }) {
        add(
            &checks::AUTOMATIC_KEYBOARD_LANGUAGE,
            "automatic_keyboard",
            format!(
                "automatic keyboard skips the keyboard page only when a language is selected; the language is \
                 {}, so set locale to a language tag or remove automatic_keyboard",
                language.as_str()
            ),
        );
    }
    language
}

/// Join-specific settings; the parsed device name template of an Entra
/// join profile.
fn check_join_settings(spec: &ProfileSpec, join: JoinType, add: &mut Add<'_>) -> Option<NameTemplate> {
    if join == JoinType::Entra && spec.skip_connectivity_check == Some(true) {
        add(
            &checks::SKIP_CONNECTIVITY_CHECK_ENTRA,
            "skip_connectivity_check",
            "skip domain connectivity check exists only on hybrid join profiles".into(),
        );
    }
    let template_text = spec.device_name_template.as_deref().filter(|t| !t.is_empty());
    let mut template = None;
    if let Some(text) = template_text {
        if join == JoinType::Hybrid {
            add(
                &checks::NAME_TEMPLATE_HYBRID,
                "device_name_template",
                "hybrid join profiles take no device name template; the domain join profile names devices"
                    .into(),
            );
        } else {
            let (parsed, problems) = NameTemplate::check(text);
            for p in problems {
                let check = match p {
                    NameProblem::Character { .. } => &checks::NAME_TEMPLATE_CHARACTER,
                    NameProblem::Macro { .. } => &checks::NAME_TEMPLATE_MACRO,
                    NameProblem::TooLong { .. } => &checks::NAME_TEMPLATE_TOO_LONG,
                    NameProblem::AllDigits => &checks::NAME_TEMPLATE_ALL_DIGITS,
                    NameProblem::SerialMayBeDigits => &checks::NAME_TEMPLATE_SERIAL_DIGITS,
                    NameProblem::SerialTruncated { .. } => &checks::NAME_TEMPLATE_SERIAL_TRUNCATED,
                    NameProblem::MultipleSerial => &checks::NAME_TEMPLATE_MULTIPLE_SERIAL,
                    NameProblem::MacroCase { .. } => &checks::NAME_TEMPLATE_MACRO_CASE,
                };
                add(check, "device_name_template", format!("device name template {text:?}: {p}"));
            }
            template = parsed;
        }
    }
    template
}

/// The profile of a spec that has no error.
fn build_profile(
    spec: &ProfileSpec,
    shape: &Shape,
    language: Language,
    template: Option<NameTemplate>,
) -> Profile {
    let Shape { join, device_type, mode, pre, convert, .. } = *shape;
    let deployment = match mode {
        DeploymentMode::SelfDeploying => Deployment::SelfDeploying,
        DeploymentMode::UserDriven => Deployment::UserDriven(UserDriven {
            account: match spec.user_type.unwrap_or(UserType::Administrator) {
                UserType::Administrator => Account::Administrator,
                UserType::Standard => Account::Standard {
                    change_account_options: spec.change_account_options.unwrap_or(Visibility::Hide),
                },
            },
            pre_provisioning: pre,
            license_terms: spec.license_terms.unwrap_or(Visibility::Hide),
            privacy_settings: spec.privacy_settings.unwrap_or(Visibility::Hide),
        }),
    };
    let join = match join {
        JoinType::Entra => Join::Entra { device_name_template: template },
        JoinType::Hybrid => {
            Join::Hybrid { skip_connectivity_check: spec.skip_connectivity_check == Some(true) }
        }
    };
    let profile = Profile {
        name: spec.name.clone(),
        description: spec.description.clone().filter(|d| !d.is_empty()),
        id: spec.id.clone(),
        created: spec.created,
        device_type,
        join,
        deployment,
        language,
        convert_all_targeted_devices: convert,
        esp: spec.esp.as_ref().map(EspSpec::resolve),
        role_scope_tags: spec.role_scope_tags.clone().unwrap_or_default(),
    };
    profile
}

/// ESP rules that need nothing but the settings: the 100-app limit and
/// quality updates without blocking. (Unknown app names are a tenant check.)
pub(crate) fn check_esp(esp: &EspSpec, o: &Origin, key: &str, subject: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(apps) = &esp.blocking_apps {
        if apps.len() > MAX_BLOCKING_APPS {
            out.push(Finding::new(
                &checks::ESP_BLOCKING_APPS_LIMIT,
                o,
                &format!("{key}.blocking_apps"),
                format!("{subject}: {} blocking apps selected; at most {MAX_BLOCKING_APPS}", apps.len()),
            ));
        }
    }
    if esp.install_quality_updates == Some(true) && esp.block_device_use == Some(false) {
        out.push(Finding::new(
            &checks::ESP_QUALITY_UPDATES_BLOCKING,
            o,
            &format!("{key}.install_quality_updates"),
            format!(
                "{subject}: quality updates install only when device use is blocked until apps install \
                 (block_device_use = true)"
            ),
        ));
    }
    out
}

/// `en`, `en-US`, `sr-Latn-RS`, `es-419`, `zh-Hant-TW`: a primary language
/// of 2–3 letters, an optional 4-letter script, an optional region of 2
/// letters or 3 digits.
fn looks_like_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let Some(lang) = parts.next() else { return false };
    if !(2..=3).contains(&lang.len()) || !lang.chars().all(|c| c.is_ascii_alphabetic()) {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    let mut i = 0;
    if rest.get(i).is_some_and(|s| s.len() == 4 && s.chars().all(|c| c.is_ascii_alphabetic())) {
        i += 1;
    }
    if let Some(region) = rest.get(i) {
        let alpha = region.len() == 2 && region.chars().all(|c| c.is_ascii_alphabetic());
        let digits = region.len() == 3 && region.chars().all(|c| c.is_ascii_digit());
        if !alpha && !digits {
            return false;
        }
        i += 1;
    }
    i == rest.len()
}

impl Visibility {
    /// From a Graph `…Hidden` flag.
    pub(crate) fn from_hidden(hidden: bool) -> Visibility {
        if hidden {
            Visibility::Hide
        } else {
            Visibility::Show
        }
    }

    /// To a Graph `…Hidden` flag.
    pub(crate) fn is_hidden(self) -> bool {
        self == Visibility::Hide
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in ["en", "en-US", "sr-Latn-RS", "es-419", "zh-Hant-TW", "nl-NL"] {
            assert!(looks_like_language_tag(ok), "{ok}");
        }
        for bad in ["english", "en_US", "en-USA", "e", "en-US-x", ""] {
            assert!(!looks_like_language_tag(bad), "{bad}");
        }
    }

    #[test]
    fn defaults_build_an_administrator_user_driven_entra_profile() -> Result<(), &'static str> {
        let spec = ProfileSpec { name: "P".into(), ..ProfileSpec::default() };
        let (profile, findings) = check_profile(&spec);
        assert!(findings.is_empty(), "{findings:?}");
        let p = profile.ok_or("no profile")?;
        assert_eq!(p.mode(), EnrollmentMode::UserDriven);
        assert_eq!(p.join_type(), JoinType::Entra);
        assert!(matches!(
            p.deployment(),
            Deployment::UserDriven(UserDriven { account: Account::Administrator, .. })
        ));
        assert_eq!(p.language(), &Language::OsDefault);
        Ok(())
    }
}
