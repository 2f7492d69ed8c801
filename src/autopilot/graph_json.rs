//! Deployment profiles as Microsoft Graph beta JSON
//! (`/deviceManagement/windowsAutopilotDeploymentProfiles`).
//!
//! Reading accepts what Graph and the tools around it produce: one profile
//! object, an array, or a Graph page (`{"value": [...]}`); the derived
//! types `#microsoft.graph.azureADWindowsAutopilotDeploymentProfile`
//! (Entra join) and `#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile`
//! (hybrid join); and both property sets of graph-api.md §1.2.2 — the new
//! names (`outOfBoxExperienceSetting`, `locale`, `preprovisioningAllowed`,
//! `hardwareHashExtractionEnabled`) are read first, the deprecated ones
//! (`outOfBoxExperienceSettings`, `language`, `enableWhiteGlove`,
//! `extractHardwareHash`) fill in what is missing, and a disagreement
//! between the two is a `graph-deprecated-conflict` warning. Unknown
//! properties (`@odata.context`, `roleScopeTagIds`' siblings added later)
//! are ignored, as Graph clients must; a known property of the wrong type
//! is an error naming the file, line and property.
//!
//! Writing emits only the new names, one shape per request (§1.2.2, §4.2),
//! and never `userType` on a shared profile (the API answers 400,
//! [CIPP-API#1923]).
//!
//! Decisions on values: for a self-deploying profile Graph still carries
//! `eulaHidden`, `privacySettingsHidden` and `escapeLinkHidden`, set to
//! `true`; those are read as "not set" (the mode hides the pages) and
//! `false` is read as "show", which the checks then reject. On a
//! user-driven profile an omitted flag takes the default Graph documents
//! for it (beta `outOfBoxExperienceSetting`: `eulaHidden`,
//! `privacySettingsHidden` and `escapeLinkHidden` "Default value is
//! FALSE", `userType` administrator, `deviceUsageType` singleUser): the
//! page is shown. (The tenant file's own defaults, hidden, are the Intune
//! console's, and stay as they are.) `os-default` and the empty string
//! are the OS-default language.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::autopilot::checks::{self, Finding};
use crate::autopilot::profile::{
    Account, Deployment, DeploymentMode, DeviceType, EspSpec, Join, JoinType, Language, Profile, ProfileSpec,
    UserType, Visibility,
};
use crate::autopilot::source::{KeyIndex, Origin, Source};
use crate::autopilot::tenant::TenantError;
use crate::rule::Timestamp;

/// `@odata.type` of an Entra join profile.
pub const ENTRA_TYPE: &str = "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile";
/// `@odata.type` of a hybrid join profile.
pub const HYBRID_TYPE: &str = "#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile";

/// Reads every profile in a Graph JSON file: the specs (origins point
/// into the file) and the warnings found while reading.
///
/// ```
/// use fleetlab::autopilot::graph_json::read_profiles;
/// use fleetlab::autopilot::source::Source;
/// let source = Source::new("kiosk.json", r##"{
///   "@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
///   "displayName": "Kiosk",
///   "outOfBoxExperienceSettings": {"deviceUsageType": "shared", "hideEULA": true}
/// }"##);
/// let (profiles, warnings) = read_profiles(&source)?;
/// assert_eq!(profiles[0].mode, Some(fleetlab::autopilot::DeploymentMode::SelfDeploying));
/// assert!(warnings.is_empty());
/// # Ok::<(), fleetlab::autopilot::TenantError>(())
/// ```
pub fn read_profiles(source: &Arc<Source>) -> Result<(Vec<ProfileSpec>, Vec<Finding>), TenantError> {
    let value: Value = serde_json::from_str(source.text.trim_start_matches('\u{feff}')).map_err(|e| {
        let location = crate::autopilot::source::Location {
            file: source.path.clone(),
            line: e.line(),
            column: e.column(),
        };
        TenantError::invalid(location, format!("not JSON: {e}"))
    })?;
    let index = KeyIndex::from_json(&source.text).unwrap_or_default();
    let items: Vec<(String, &Value)> = match &value {
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (format!("[{i}]"), v)).collect(),
        Value::Object(obj) => match obj.get("value") {
            Some(Value::Array(items)) if !obj.contains_key("@odata.type") => {
                items.iter().enumerate().map(|(i, v)| (format!("value[{i}]"), v)).collect()
            }
            _ => vec![(String::new(), &value)],
        },
        _ => {
            return Err(TenantError::invalid(
                source.location(0),
                "expected a Graph profile object, an array of them, or a Graph page ({\"value\": [...]})",
            ))
        }
    };
    let mut specs = Vec::new();
    let mut findings = Vec::new();
    for (prefix, item) in items {
        let Value::Object(obj) = item else {
            let at = index.get(&prefix).map_or(0, |p| p.value.start);
            return Err(TenantError::invalid(
                source.location(at),
                format!("{prefix}: expected a profile object"),
            ));
        };
        let mut reader = Reader {
            obj,
            new_oobe: None,
            old_oobe: None,
            index: &index,
            source,
            origin: Origin::json(source, &index, &prefix),
            findings: Vec::new(),
            subject: String::new(),
        };
        specs.push(reader.profile()?);
        findings.append(&mut reader.findings);
    }
    Ok((specs, findings))
}

struct Reader<'a> {
    obj: &'a Map<String, Value>,
    new_oobe: Option<&'a Map<String, Value>>,
    old_oobe: Option<&'a Map<String, Value>>,
    index: &'a KeyIndex,
    source: &'a Arc<Source>,
    origin: Origin,
    findings: Vec<Finding>,
    subject: String,
}

/// Where a property lives: the profile itself or one of the OOBE objects.
#[derive(Clone, Copy)]
enum In {
    Profile,
    NewOobe,
    OldOobe,
}

impl In {
    fn path(self, name: &str) -> String {
        match self {
            In::Profile => name.to_string(),
            In::NewOobe => format!("outOfBoxExperienceSetting.{name}"),
            In::OldOobe => format!("outOfBoxExperienceSettings.{name}"),
        }
    }
}

impl<'a> Reader<'a> {
    fn map(&self, place: In) -> Option<&'a Map<String, Value>> {
        match place {
            In::Profile => Some(self.obj),
            In::NewOobe => self.new_oobe,
            In::OldOobe => self.old_oobe,
        }
    }

    fn error(&self, written: &str, message: String) -> TenantError {
        let path = if self.origin.prefix().is_empty() {
            written.to_string()
        } else {
            format!("{}.{written}", self.origin.prefix())
        };
        let at = self.index.get(&path).map_or(0, |p| p.key.start);
        TenantError::invalid(self.source.location(at), format!("{path}: {message}"))
    }

    /// The non-null value of `name` in `place`.
    fn raw(&self, place: In, name: &str) -> Option<&'a Value> {
        self.map(place)?.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, place: In, name: &str) -> Result<Option<String>, TenantError> {
        match self.raw(place, name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.error(&place.path(name), format!("expected a string, found {}", kind(v)))),
        }
    }

    fn boolean(&self, place: In, name: &str) -> Result<Option<bool>, TenantError> {
        match self.raw(place, name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.error(&place.path(name), format!("expected a boolean, found {}", kind(v)))),
        }
    }

    /// A setting stored under a new and a deprecated name: the new one
    /// wins; a disagreement is a warning. Records which one was read.
    fn pair<T: PartialEq + std::fmt::Debug>(
        &mut self,
        canonical: &str,
        new: (In, &str),
        old: (In, &str),
        read: impl Fn(&Self, In, &str) -> Result<Option<T>, TenantError>,
    ) -> Result<Option<T>, TenantError> {
        let n = read(self, new.0, new.1)?;
        let o = read(self, old.0, old.1)?;
        let new_path = new.0.path(new.1);
        let old_path = old.0.path(old.1);
        match (n, o) {
            (Some(n), Some(o)) => {
                if n != o {
                    self.origin.record(self.index, canonical, &new_path);
                    self.findings.push(Finding::new(
                        &checks::GRAPH_DEPRECATED_CONFLICT,
                        &self.origin,
                        canonical,
                        format!(
                            "{}: {new_path} is {n:?} but the deprecated {old_path} is {o:?}; {new_path} is used",
                            self.subject
                        ),
                    ));
                }
                self.origin.record(self.index, canonical, &new_path);
                Ok(Some(n))
            }
            (Some(n), None) => {
                self.origin.record(self.index, canonical, &new_path);
                Ok(Some(n))
            }
            (None, Some(o)) => {
                self.origin.record(self.index, canonical, &old_path);
                Ok(Some(o))
            }
            (None, None) => Ok(None),
        }
    }

    fn oobe_object(&self, name: &str) -> Result<Option<&'a Map<String, Value>>, TenantError> {
        match self.raw(In::Profile, name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(self.error(name, format!("expected an object, found {}", kind(v)))),
        }
    }

    fn profile(&mut self) -> Result<ProfileSpec, TenantError> {
        let mut spec = ProfileSpec::default();
        let odata = self.string(In::Profile, "@odata.type")?;
        let known = odata.as_deref().map(|t| (crate::odata::profile_kind(t), crate::odata::name(t)));
        spec.join = Some(match known {
            Some((Some(crate::odata::ENTRA_PROFILE), _)) => JoinType::Entra,
            Some((Some(_), _)) => JoinType::Hybrid,
            Some((None, t)) => {
                return Err(self.error(
                    "@odata.type",
                    format!(
                        "{t:?} is not an Autopilot deployment profile type ({ENTRA_TYPE} or {HYBRID_TYPE})"
                    ),
                ))
            }
            None => {
                return Err(self.error(
                    "@odata.type",
                    format!("missing; Graph profiles are polymorphic and need {ENTRA_TYPE} or {HYBRID_TYPE}"),
                ))
            }
        });
        self.origin.record(self.index, "join", "@odata.type");
        spec.name = self.string(In::Profile, "displayName")?.unwrap_or_default();
        self.origin.record(self.index, "name", "displayName");
        self.subject = format!("profile {:?}", spec.name);
        spec.description = self.string(In::Profile, "description")?;
        self.origin.record(self.index, "description", "description");
        spec.id = self.string(In::Profile, "id")?;
        if let Some(text) = self.string(In::Profile, "createdDateTime")? {
            spec.created = Some(Timestamp::parse(&text).map_err(|e| {
                self.error("createdDateTime", format!("{text:?} is not a date-time: {}", e.0))
            })?);
            self.origin.record(self.index, "created", "createdDateTime");
        }
        spec.locale = self
            .pair("locale", (In::Profile, "locale"), (In::Profile, "language"), Self::string)?
            .filter(|l| !l.is_empty());
        spec.convert_all_targeted_devices = self
            .pair(
                "convert_all_targeted_devices",
                (In::Profile, "hardwareHashExtractionEnabled"),
                (In::Profile, "extractHardwareHash"),
                Self::boolean,
            )?
            .filter(|b| *b);
        spec.pre_provisioning = self
            .pair(
                "pre_provisioning",
                (In::Profile, "preprovisioningAllowed"),
                (In::Profile, "enableWhiteGlove"),
                Self::boolean,
            )?
            .filter(|b| *b);
        spec.device_name_template = self.string(In::Profile, "deviceNameTemplate")?.filter(|t| !t.is_empty());
        self.origin.record(self.index, "device_name_template", "deviceNameTemplate");
        if let Some(t) = self.string(In::Profile, "deviceType")? {
            spec.device_type = Some(DeviceType::from_graph(&t).ok_or_else(|| {
                self.error(
                    "deviceType",
                    format!("{t:?} is not one of {}", DeviceType::ALL.map(DeviceType::graph_name).join(", ")),
                )
            })?);
            self.origin.record(self.index, "device_type", "deviceType");
        }
        if let Some(b) = self.boolean(In::Profile, "hybridAzureADJoinSkipConnectivityCheck")? {
            spec.skip_connectivity_check = Some(b).filter(|b| *b);
            self.origin.record(
                self.index,
                "skip_connectivity_check",
                "hybridAzureADJoinSkipConnectivityCheck",
            );
        }
        if let Some(tags) = self.raw(In::Profile, "roleScopeTagIds") {
            let list = tags
                .as_array()
                .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect::<Vec<_>>())
                .ok_or_else(|| {
                    self.error("roleScopeTagIds", format!("expected an array, found {}", kind(tags)))
                })?;
            spec.role_scope_tags = Some(list);
        }
        spec.esp = self.esp()?;
        self.assignments(&mut spec)?;

        self.oobe(&mut spec)?;
        spec.origin = std::mem::take(&mut self.origin);
        Ok(spec)
    }

    /// The OOBE settings (`outOfBoxExperienceSetting`, or the older
    /// `outOfBoxExperienceSettings`): mode, account type and the pages.
    fn oobe(&mut self, spec: &mut ProfileSpec) -> Result<(), TenantError> {
        self.new_oobe = self.oobe_object("outOfBoxExperienceSetting")?;
        self.old_oobe = self.oobe_object("outOfBoxExperienceSettings")?;
        let usage = self.pair(
            "mode",
            (In::NewOobe, "deviceUsageType"),
            (In::OldOobe, "deviceUsageType"),
            Self::string,
        )?;
        let stated = match usage.as_deref() {
            None => None,
            Some("singleUser") => Some(DeploymentMode::UserDriven),
            Some("shared") => Some(DeploymentMode::SelfDeploying),
            Some(other) => {
                return Err(self.error(
                    &In::NewOobe.path("deviceUsageType"),
                    format!("{other:?} is not singleUser or shared"),
                ))
            }
        };
        // An omitted deviceUsageType is Graph's default, singleUser, except on
        // a HoloLens profile, whose only mode is self-deploying.
        let mode = stated.unwrap_or(if spec.device_type == Some(DeviceType::HoloLens) {
            DeploymentMode::SelfDeploying
        } else {
            DeploymentMode::UserDriven
        });
        spec.mode = Some(mode);
        let shared = mode == DeploymentMode::SelfDeploying;
        if let Some(t) =
            self.pair("user_type", (In::NewOobe, "userType"), (In::OldOobe, "userType"), Self::string)?
        {
            spec.user_type = Some(match t.as_str() {
                "administrator" => UserType::Administrator,
                "standard" => UserType::Standard,
                other => {
                    return Err(self.error(
                        &In::NewOobe.path("userType"),
                        format!("{other:?} is not administrator or standard"),
                    ))
                }
            });
        }
        // A hidden page is the self-deploying default, so only "shown" counts
        // there. Elsewhere an omitted flag takes Graph's documented default,
        // FALSE: the page is shown.
        let page = |hidden: Option<bool>, applies: bool| -> Option<Visibility> {
            match hidden {
                Some(h) if applies => Some(Visibility::from_hidden(h)),
                None if applies => Some(Visibility::Show),
                Some(false) => Some(Visibility::Show),
                _ => None,
            }
        };
        let eula = self.pair(
            "license_terms",
            (In::NewOobe, "eulaHidden"),
            (In::OldOobe, "hideEULA"),
            Self::boolean,
        )?;
        spec.license_terms = page(eula, !shared);
        let privacy = self.pair(
            "privacy_settings",
            (In::NewOobe, "privacySettingsHidden"),
            (In::OldOobe, "hidePrivacySettings"),
            Self::boolean,
        )?;
        spec.privacy_settings = page(privacy, !shared);
        let escape = self.pair(
            "change_account_options",
            (In::NewOobe, "escapeLinkHidden"),
            (In::OldOobe, "hideEscapeLink"),
            Self::boolean,
        )?;
        spec.change_account_options = page(escape, !shared && spec.user_type == Some(UserType::Standard));
        spec.automatic_keyboard = self
            .pair(
                "automatic_keyboard",
                (In::NewOobe, "keyboardSelectionPageSkipped"),
                (In::OldOobe, "skipKeyboardSelectionPage"),
                Self::boolean,
            )?
            .filter(|b| *b);
        Ok(())
    }

    /// The `assignments` array Graph exports carry (`$expand=assignments`,
    /// or `fleetlab sync export`): group targets become `include`,
    /// exclusion targets `exclude`, all-devices targets `all_devices`.
    /// Group ids stay ids here; a tenant file maps them to its groups.
    fn assignments(&mut self, spec: &mut ProfileSpec) -> Result<(), TenantError> {
        let Some(list) = self.raw(In::Profile, "assignments") else { return Ok(()) };
        let items = list
            .as_array()
            .ok_or_else(|| self.error("assignments", format!("expected an array, found {}", kind(list))))?;
        for (i, item) in items.iter().enumerate() {
            let at = format!("assignments[{i}].target");
            let target = item.get("target").and_then(Value::as_object).ok_or_else(|| {
                self.error(&format!("assignments[{i}]"), "expected an object with a target".into())
            })?;
            let odata = target.get("@odata.type").and_then(Value::as_str).unwrap_or("");
            let group = target.get("groupId").and_then(Value::as_str).filter(|g| !g.is_empty());
            match (crate::odata::target_kind(odata), group) {
                (Some(crate::odata::ALL_DEVICES_TARGET), _) => {
                    spec.all_devices = true;
                    self.origin.record(self.index, "all_devices", &at);
                }
                (Some(crate::odata::GROUP_TARGET), Some(g)) => {
                    self.origin.record(
                        self.index,
                        &format!("include[{}]", spec.include.len()),
                        &format!("{at}.groupId"),
                    );
                    spec.include.push(g.to_string());
                }
                (Some(crate::odata::EXCLUSION_TARGET), Some(g)) => {
                    self.origin.record(
                        self.index,
                        &format!("exclude[{}]", spec.exclude.len()),
                        &format!("{at}.groupId"),
                    );
                    spec.exclude.push(g.to_string());
                }
                (_, _) => {
                    let other = crate::odata::name(odata);
                    return Err(self.error(
                        &at,
                        format!(
                            "{other:?} is not a target Autopilot profiles take: groupAssignmentTarget and \
                             exclusionGroupAssignmentTarget (with a groupId) or allDevicesAssignmentTarget"
                        ),
                    ));
                }
            }
        }
        spec.assignments_by_id = !spec.include.is_empty() || !spec.exclude.is_empty();
        Ok(())
    }

    fn esp(&mut self) -> Result<Option<EspSpec>, TenantError> {
        const KEY: &str = "enrollmentStatusScreenSettings";
        let obj = match self.raw(In::Profile, KEY) {
            None => return Ok(None),
            Some(Value::Object(m)) => m,
            Some(v) => return Err(self.error(KEY, format!("expected an object, found {}", kind(v)))),
        };
        let b =
            |name: &str| -> Result<Option<bool>, TenantError> {
                match obj.get(name).filter(|v| !v.is_null()) {
                    None => Ok(None),
                    Some(Value::Bool(b)) => Ok(Some(*b)),
                    Some(v) => Err(self
                        .error(&format!("{KEY}.{name}"), format!("expected a boolean, found {}", kind(v)))),
                }
            };
        let timeout = match obj.get("installProgressTimeoutInMinutes").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                self.error(
                    &format!("{KEY}.installProgressTimeoutInMinutes"),
                    format!("expected a whole number of minutes, found {v}"),
                )
            })?),
        };
        let message = match obj.get("customErrorMessage").filter(|v| !v.is_null()) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                return Err(self.error(
                    &format!("{KEY}.customErrorMessage"),
                    format!("expected a string, found {}", kind(v)),
                ))
            }
        };
        let esp = EspSpec {
            show_progress: b("hideInstallationProgress")?.map(|h| !h),
            block_device_use: b("allowDeviceUseBeforeProfileAndAppInstallComplete")?.map(|a| !a),
            timeout_minutes: timeout,
            allow_retry: b("blockDeviceSetupRetryByUser")?.map(|b| !b),
            allow_use_on_failure: b("allowDeviceUseOnInstallFailure")?,
            collect_logs: b("allowLogCollectionOnInstallFailure")?,
            error_message: message,
            ..EspSpec::default()
        };
        self.origin.record(self.index, "esp", KEY);
        Ok(Some(esp))
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The Graph beta body that creates `profile`
/// (`POST /beta/deviceManagement/windowsAutopilotDeploymentProfiles`):
/// new property names only, no read-only fields.
///
/// ```
/// use fleetlab::autopilot::{check_profile, graph_json, DeploymentMode, ProfileSpec};
/// let spec = ProfileSpec { name: "Kiosk".into(), mode: Some(DeploymentMode::SelfDeploying), ..ProfileSpec::default() };
/// let (Some(profile), _) = check_profile(&spec) else { return Err("invalid".into()) };
/// let body = graph_json::to_graph(&profile);
/// assert_eq!(body["outOfBoxExperienceSetting"]["deviceUsageType"], "shared");
/// assert!(body["outOfBoxExperienceSetting"].get("userType").is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn to_graph(profile: &Profile) -> Value {
    let (usage, user_type, eula, privacy, escape, pre) = match profile.deployment() {
        Deployment::SelfDeploying => ("shared", None, true, true, true, false),
        Deployment::UserDriven(u) => {
            let (user_type, escape) = match u.account {
                Account::Administrator => (UserType::Administrator, true),
                Account::Standard { change_account_options } => {
                    (UserType::Standard, change_account_options.is_hidden())
                }
            };
            (
                "singleUser",
                Some(user_type),
                u.license_terms.is_hidden(),
                u.privacy_settings.is_hidden(),
                escape,
                u.pre_provisioning,
            )
        }
    };
    let keyboard = matches!(profile.language(), Language::Locale { automatic_keyboard: true, .. });
    let mut oobe = Map::new();
    oobe.insert("@odata.type".into(), json!("microsoft.graph.outOfBoxExperienceSetting"));
    oobe.insert("privacySettingsHidden".into(), json!(privacy));
    oobe.insert("eulaHidden".into(), json!(eula));
    if let Some(t) = user_type {
        oobe.insert("userType".into(), json!(t.as_str()));
    }
    oobe.insert("deviceUsageType".into(), json!(usage));
    oobe.insert("keyboardSelectionPageSkipped".into(), json!(keyboard));
    oobe.insert("escapeLinkHidden".into(), json!(escape));

    let mut body = Map::new();
    let (odata, template) = match profile.join() {
        Join::Entra { device_name_template } => {
            (ENTRA_TYPE, device_name_template.as_ref().map(|t| t.as_str().to_string()).unwrap_or_default())
        }
        Join::Hybrid { .. } => (HYBRID_TYPE, String::new()),
    };
    body.insert("@odata.type".into(), json!(odata));
    body.insert("displayName".into(), json!(profile.name()));
    body.insert("description".into(), json!(profile.description().unwrap_or("")));
    body.insert("locale".into(), json!(profile.language().as_str()));
    body.insert("hardwareHashExtractionEnabled".into(), json!(profile.converts_targeted_devices()));
    body.insert("deviceNameTemplate".into(), json!(template));
    body.insert("deviceType".into(), json!(profile.device_type().graph_name()));
    body.insert("preprovisioningAllowed".into(), json!(pre));
    body.insert("roleScopeTagIds".into(), json!(profile.role_scope_tags()));
    body.insert("outOfBoxExperienceSetting".into(), Value::Object(oobe));
    if let Some(esp) = profile.esp() {
        body.insert(
            "enrollmentStatusScreenSettings".into(),
            json!({
                "@odata.type": "microsoft.graph.windowsEnrollmentStatusScreenSettings",
                "hideInstallationProgress": !esp.show_progress,
                "allowDeviceUseBeforeProfileAndAppInstallComplete": !esp.block_device_use,
                "blockDeviceSetupRetryByUser": !esp.allow_retry,
                "allowLogCollectionOnInstallFailure": esp.collect_logs,
                "customErrorMessage": esp.error_message,
                "installProgressTimeoutInMinutes": esp.timeout_minutes,
                "allowDeviceUseOnInstallFailure": esp.allow_use_on_failure,
            }),
        );
    }
    if let Join::Hybrid { skip_connectivity_check } = profile.join() {
        body.insert("hybridAzureADJoinSkipConnectivityCheck".into(), json!(skip_connectivity_check));
    }
    Value::Object(body)
}

/// [`to_graph`] plus the read-only `id` and `createdDateTime` when known:
/// an export that reloads with its precedence intact.
pub fn to_graph_export(profile: &Profile) -> Value {
    let mut body = to_graph(profile);
    if let Value::Object(map) = &mut body {
        if let Some(id) = profile.id() {
            map.insert("id".into(), json!(id));
        }
        if let Some(created) = profile.created() {
            map.insert("createdDateTime".into(), json!(created.to_string()));
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autopilot::check_profile;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn wrong_types_name_the_property_and_line() {
        let source = Source::new(
            "p.json",
            "{\n  \"@odata.type\": \"#microsoft.graph.azureADWindowsAutopilotDeploymentProfile\",\n  \"preprovisioningAllowed\": \"yes\"\n}",
        );
        let err = read_profiles(&source).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(err, Err("p.json:3:3: preprovisioningAllowed: expected a boolean, found a string".into()));
    }

    #[test]
    fn missing_odata_type_is_an_error() {
        let source = Source::new("p.json", "{\"displayName\": \"x\"}");
        let err = read_profiles(&source).map(|_| ()).map_err(|e| e.to_string());
        assert!(matches!(&err, Err(m) if m.contains("@odata.type: missing")), "{err:?}");
    }

    #[test]
    fn round_trip_keeps_the_profile() -> TestResult {
        let source = Source::new(
            "p.json",
            r##"{"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile",
                "displayName": "UD", "locale": "nl-NL", "deviceNameTemplate": "NL-%RAND:6%",
                "createdDateTime": "2024-11-02T10:00:00Z", "id": "73eae2b2",
                "preprovisioningAllowed": true,
                "enrollmentStatusScreenSettings": {"installProgressTimeoutInMinutes": 90, "hideInstallationProgress": false},
                "outOfBoxExperienceSetting": {"userType": "standard", "deviceUsageType": "singleUser",
                  "eulaHidden": false, "privacySettingsHidden": true, "escapeLinkHidden": true,
                  "keyboardSelectionPageSkipped": true}}"##,
        );
        let (specs, warnings) = read_profiles(&source)?;
        assert!(warnings.is_empty());
        let (Some(first), findings) = check_profile(&specs[0]) else { return Err("invalid".into()) };
        assert!(findings.is_empty(), "{findings:?}");
        let again = Source::new("q.json", serde_json::to_string(&to_graph_export(&first))?);
        let (specs, _) = read_profiles(&again)?;
        let (Some(second), _) = check_profile(&specs[0]) else { return Err("invalid".into()) };
        assert_eq!(first, second);
        Ok(())
    }
}
