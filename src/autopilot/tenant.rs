//! The tenant file: one Autopilot configuration (groups, profiles,
//! assignments, ESP, required apps) as TOML.
//!
//! ```toml
//! [tenant]
//! name = "Contoso"
//! primary_domain = "contoso.com"
//! placeholder_enrollment_user = "autopilot.enroll@contoso.com"   # only when the MDM needs one
//! group_files = ["groups.toml"]      # reuse [[group]] files, paths relative to this file
//!
//! [enrollment_user]                  # that placeholder user's prerequisites
//! upn = "autopilot.enroll@contoso.com"
//! email = "autopilot.enroll@contoso.com"
//! synced = true
//! enabled = true
//! can_enroll_devices = true
//! in_mdm = true
//!
//! [[group]]                          # assigned (static): members are device object ids
//! name = "Autopilot - Lab"
//! members = ["6f1c3a52-0d4e-4c8a-9d2b-7e5f1a3c9b10"]
//!
//! [[group]]
//! name = "Autopilot - HoloLens"
//! rule = '''(device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")) -and (device.deviceModel -eq "HoloLens 2")'''
//!
//! [[profile]]
//! name = "Contoso HoloLens SD"
//! created = 2024-06-03T10:00:00Z     # precedence: the oldest profile wins
//! device_type = "hololens"
//! mode = "self-deploying"
//! include = ["Autopilot - HoloLens"]
//!
//! [[profile]]
//! graph = "profiles/kiosk.json"      # settings from a Graph beta profile
//! include = ["Kiosks"]
//!
//! [[app]]
//! name = "Company Portal"
//! kind = "store"
//! ```
//!
//! Decisions:
//! * A group is dynamic or assigned, as Entra groups are (and as the
//!   vendor guide's console creates them, "static" or "dynamic"); a
//!   plan evaluates an assigned group by its members list, so profile
//!   assignments to it work like assignments to dynamic groups.
//! * The placeholder enrollment user is a requirement of the vendor
//!   guide's MDM, not of Autopilot: its checks run only when `[tenant]
//!   placeholder_enrollment_user` says the MDM needs one.
//! * **Shape errors stop loading; meaning errors are findings.** TOML
//!   syntax, unknown keys, wrong types and unreadable included files are a
//!   [`TenantError`] naming the file, line, column and key: nothing can be
//!   said about a file fleetlab cannot read. Everything else (duplicate
//!   names, dangling groups, contradictory settings) loads, so that
//!   [`crate::autopilot::validate`] can report *all* of it at once.
//! * Keys are snake_case, values kebab-case (`device_type = "hololens"`):
//!   the tenant file follows the Intune UI's vocabulary; Graph JSON keeps
//!   Graph's.
//! * Groups from `group_files` come first, in file order, then the file's
//!   own `[[group]]` tables; a finding about an included group points into
//!   the group file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::autopilot::checks::Finding;
use crate::autopilot::graph_json;
use crate::autopilot::profile::{EspSpec, ProfileSpec};
use crate::autopilot::source::{toml_error, KeyIndex, Location, Origin, Source};

/// Why a tenant, group, Graph profile or edit file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not of the expected shape: syntax, unknown key, wrong type.
    #[error("{location}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// What, starting with the key (`profile[2].mode: unknown variant …`).
        message: String,
    },
}

impl TenantError {
    pub(crate) fn invalid(location: Location, message: impl Into<String>) -> TenantError {
        TenantError::Invalid { location, message: message.into() }
    }
}

/// `[tenant]`: who the tenant is and which group files it reuses.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantInfo {
    /// A label for reports.
    pub name: Option<String>,
    /// The primary domain (Entra "Custom domain names"); the enrollment user's UPN must use it.
    pub primary_domain: Option<String>,
    /// Group files (`[[group]]` with `name`, `description`, `rule` or `members`) whose groups the tenant has.
    #[serde(default)]
    pub group_files: Vec<String>,
    /// The placeholder user (UPN) the tenant's MDM enrolls self-deploying
    /// devices under, set only when the MDM needs one: the vendor guide's
    /// console does, Intune does not. `[enrollment_user]` describes it.
    pub placeholder_enrollment_user: Option<String>,
}

/// A device group: dynamic (`rule`) or assigned (`members`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    /// Display name; assignments refer to it.
    pub name: String,
    /// What the group is for.
    pub description: Option<String>,
    /// The membership rule of a dynamic group (empty for an assigned one).
    #[serde(default)]
    pub rule: String,
    /// The members of an assigned (static) group: Entra device object ids,
    /// as Graph lists group members.
    pub members: Option<Vec<String>>,
    /// The Entra object id, when the group exists.
    pub id: Option<String>,
    /// Where it was written.
    #[serde(skip)]
    pub origin: Origin,
}

/// The placeholder user self-deploying devices enroll under
/// (autopilot-profiles.md, Prerequisites). Each flag states a
/// prerequisite the admin has confirmed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentUser {
    /// User principal name, at the primary domain.
    pub upn: String,
    /// Email address (usually the UPN), carried by SCIM provisioning.
    pub email: Option<String>,
    /// Synced from Entra ID.
    pub synced: Option<bool>,
    /// Account enabled.
    pub enabled: Option<bool>,
    /// Allowed to enroll devices.
    pub can_enroll_devices: Option<bool>,
    /// Present in the MDM as well as in Entra.
    pub in_mdm: Option<bool>,
}

/// How a required app is packaged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppKind {
    /// Win32 (`.intunewin`, EXE or MSI inside); installed by the IME.
    Win32,
    /// MSI line-of-business app.
    Msi,
    /// Microsoft Store / WinGet app.
    Store,
    /// Microsoft 365 Apps.
    M365,
}

/// Who a required app is assigned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppTarget {
    /// Device groups: installs in the device setup phase.
    #[default]
    Device,
    /// User groups: installs in the account setup phase.
    User,
}

/// A required app (what the ESP tracks and the simulator installs).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// Display name; ESP blocking lists refer to it.
    pub name: String,
    /// Packaging.
    pub kind: AppKind,
    /// Device (default) or user.
    #[serde(default)]
    pub target: AppTarget,
    /// Download size.
    pub size_mb: Option<u32>,
    /// Typical install time once downloaded.
    pub install_minutes: Option<u32>,
    /// Where it was written.
    #[serde(skip)]
    pub origin: Origin,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    #[serde(default)]
    tenant: TenantInfo,
    enrollment_user: Option<EnrollmentUser>,
    esp: Option<EspSpec>,
    #[serde(default)]
    group: Vec<GroupDef>,
    #[serde(default)]
    profile: Vec<ProfileSpec>,
    #[serde(default)]
    app: Vec<AppSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    #[serde(default)]
    group: Vec<GroupDef>,
}

/// A tenant file as written, with the files it pulls in: not yet checked
/// (see [`crate::autopilot::validate`]).
#[derive(Clone, Debug)]
pub struct Tenant {
    /// The tenant file.
    pub path: PathBuf,
    /// `[tenant]`.
    pub info: TenantInfo,
    /// Groups: those of `group_files`, then the file's own.
    pub groups: Vec<GroupDef>,
    /// Profiles, in file order.
    pub profiles: Vec<ProfileSpec>,
    /// Required apps.
    pub apps: Vec<AppSpec>,
    /// The self-deploying enrollment user.
    pub enrollment_user: Option<EnrollmentUser>,
    /// The default Enrollment Status Page (profiles without `esp` use it).
    pub esp: Option<EspSpec>,
    /// Where the top-level keys stand.
    pub origin: Origin,
    /// Findings made while reading (deprecated Graph properties that disagree).
    pub read_findings: Vec<Finding>,
}

/// Keys a `[[profile]]` with `graph = …` may have besides `graph`.
const ASSIGNMENT_KEYS: [&str; 3] = ["include", "exclude", "all_devices"];

impl Tenant {
    /// Reads a tenant file and the group and Graph files it names.
    pub fn load(path: &Path) -> Result<Tenant, TenantError> {
        let text = read(path)?;
        Tenant::parse(&text, path)
    }

    /// Reads tenant text; `path` labels errors and anchors relative paths.
    ///
    /// ```
    /// use fleetlab::autopilot::Tenant;
    /// let text = r#"
    /// [[group]]
    /// name = "Autopilot devices"
    /// rule = 'device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")'
    ///
    /// [[profile]]
    /// name = "Standard"
    /// include = ["Autopilot devices"]
    /// "#;
    /// let tenant = Tenant::parse(text, "tenant.toml".as_ref())?;
    /// assert_eq!(tenant.profiles[0].include, ["Autopilot devices"]);
    ///
    /// let err = Tenant::parse("[[profile]]\nname = 'x'\nmdoe = 'self-deploying'\n", "t.toml".as_ref());
    /// assert!(err.is_err_and(|e| e.to_string().starts_with("t.toml:3:1: profile[0].mdoe: unknown field")));
    /// # Ok::<(), fleetlab::autopilot::TenantError>(())
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Tenant, TenantError> {
        let source = Source::new(path, text);
        let index = parse_index(&source)?;
        let file: TenantFile = toml::from_str(text).map_err(|e| shape_error(&source, &index, &e))?;
        let base = path.parent().unwrap_or(Path::new(""));

        let mut groups = Vec::new();
        for (i, name) in file.tenant.group_files.iter().enumerate() {
            let key = format!("tenant.group_files[{i}]");
            let group_path = base.join(name);
            let text = std::fs::read_to_string(&group_path).map_err(|e| {
                let at = index.get(&key).map_or(0, |p| p.key.start);
                TenantError::invalid(
                    source.location(at),
                    format!("{key}: cannot read {}: {e}", group_path.display()),
                )
            })?;
            groups.extend(parse_group_file(&text, &group_path)?);
        }
        for (i, mut g) in file.group.into_iter().enumerate() {
            g.origin = Origin::toml(&source, &index, &format!("group[{i}]"));
            groups.push(g);
        }

        let mut profiles = Vec::new();
        let mut read_findings = Vec::new();
        for (i, mut p) in file.profile.into_iter().enumerate() {
            let prefix = format!("profile[{i}]");
            let origin = Origin::toml(&source, &index, &prefix);
            let Some(graph) = p.graph.clone() else {
                p.origin = origin;
                profiles.push(p);
                continue;
            };
            let extra: Vec<String> = index
                .under(&prefix)
                .map(|(k, _)| k.split(['[', '.']).next().unwrap_or(k).to_string())
                .filter(|k| !matches!(k.as_str(), "graph" | "name") && !ASSIGNMENT_KEYS.contains(&k.as_str()))
                .collect();
            let at =
                |key: &str| source.location(index.get(&format!("{prefix}.{key}")).map_or(0, |p| p.key.start));
            if let Some(k) = extra.first() {
                return Err(TenantError::invalid(
                    at(k),
                    format!(
                        "{prefix}.{k}: a profile read from Graph JSON (graph = {graph:?}) takes its settings from \
                         that file; only name (to pick one of several profiles), include, exclude and all_devices \
                         may accompany it"
                    ),
                ));
            }
            let json_path = base.join(&graph);
            let json_text = std::fs::read_to_string(&json_path).map_err(|e| {
                TenantError::invalid(
                    at("graph"),
                    format!("{prefix}.graph: cannot read {}: {e}", json_path.display()),
                )
            })?;
            let json_source = Source::new(json_path, json_text);
            let (mut specs, findings) = graph_json::read_profiles(&json_source)?;
            let pick = if origin.has("name") {
                let names: Vec<String> = specs.iter().map(|s| format!("{:?}", s.name)).collect();
                specs.iter().position(|s| s.name.eq_ignore_ascii_case(&p.name)).ok_or_else(|| {
                    TenantError::invalid(
                        at("name"),
                        format!(
                            "{prefix}.name: {graph:?} has no profile named {:?}; it has {}",
                            p.name,
                            names.join(", ")
                        ),
                    )
                })?
            } else if specs.len() == 1 {
                0
            } else {
                return Err(TenantError::invalid(
                    at("graph"),
                    format!(
                        "{prefix}.graph: {graph:?} holds {} profiles; add name = \"<display name>\" to pick one",
                        specs.len()
                    ),
                ));
            };
            let mut spec = specs.swap_remove(pick);
            if ASSIGNMENT_KEYS.iter().any(|k| origin.has(k)) {
                // The tenant file's assignment replaces the one in the export.
                spec.include = p.include;
                spec.exclude = p.exclude;
                spec.all_devices = p.all_devices;
                spec.assignments_by_id = false;
                spec.origin.adopt(&origin, &ASSIGNMENT_KEYS);
            }
            spec.graph = Some(graph);
            let own = |path: &str| {
                let prefix = spec.origin.prefix();
                prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}."))
            };
            read_findings.extend(findings.into_iter().filter(|f| own(&f.path)));
            profiles.push(spec);
        }

        // Graph assignments name groups by id: use the tenant's names for them.
        for spec in profiles.iter_mut().filter(|p| p.assignments_by_id) {
            for id in spec.include.iter_mut().chain(spec.exclude.iter_mut()) {
                if let Some(g) =
                    groups.iter().find(|g| g.id.as_deref().is_some_and(|gid| gid.eq_ignore_ascii_case(id)))
                {
                    *id = g.name.clone();
                }
            }
        }

        let apps = file
            .app
            .into_iter()
            .enumerate()
            .map(|(i, mut a)| {
                a.origin = Origin::toml(&source, &index, &format!("app[{i}]"));
                a
            })
            .collect();

        Ok(Tenant {
            path: path.to_path_buf(),
            info: file.tenant,
            groups,
            profiles,
            apps,
            enrollment_user: file.enrollment_user,
            esp: file.esp,
            origin: Origin::toml(&source, &index, ""),
            read_findings,
        })
    }
}

/// Reads a file, as a [`TenantError`].
pub(crate) fn read(path: &Path) -> Result<String, TenantError> {
    std::fs::read_to_string(path).map_err(|source| TenantError::Io { path: path.to_path_buf(), source })
}

/// Indexes TOML text, or reports its syntax error.
pub(crate) fn parse_index(source: &Arc<Source>) -> Result<KeyIndex, TenantError> {
    KeyIndex::from_toml(&source.text).map_err(|e| {
        let (location, message) = toml_error(source, None, &e);
        TenantError::Invalid { location, message }
    })
}

/// A serde error of TOML text, naming the key.
pub(crate) fn shape_error(source: &Source, index: &KeyIndex, e: &toml::de::Error) -> TenantError {
    let (location, message) = toml_error(source, Some(index), e);
    TenantError::Invalid { location, message }
}

/// The groups of a group file (`[[group]]` tables), with their origins.
pub(crate) fn parse_group_file(text: &str, path: &Path) -> Result<Vec<GroupDef>, TenantError> {
    let source = Source::new(path, text);
    let index = parse_index(&source)?;
    let file: GroupFile = toml::from_str(text).map_err(|e| shape_error(&source, &index, &e))?;
    Ok(file
        .group
        .into_iter()
        .enumerate()
        .map(|(i, mut g)| {
            g.origin = Origin::toml(&source, &index, &format!("group[{i}]"));
            g
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn wrong_types_name_the_key_and_line() {
        let text = "[[profile]]\nname = \"a\"\n\n[[profile]]\nname = \"b\"\npre_provisioning = \"yes\"\n";
        let err = Tenant::parse(text, Path::new("t.toml")).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            err,
            Err("t.toml:6:20: profile[1].pre_provisioning: invalid type: string \"yes\", expected a boolean"
                .into())
        );
    }

    #[test]
    fn unknown_enum_values_list_the_choices() {
        let text = "[[profile]]\nname = \"a\"\ndevice_type = \"holo-lens\"\n";
        let err = Tenant::parse(text, Path::new("t.toml")).map(|_| ()).map_err(|e| e.to_string());
        assert!(
            matches!(&err, Err(m) if m.starts_with("t.toml:3:15: profile[0].device_type: unknown variant `holo-lens`")),
            "{err:?}"
        );
    }

    #[test]
    fn created_accepts_toml_datetimes_and_strings() -> TestResult {
        let text = "[[profile]]\nname = \"a\"\ncreated = 2023-03-01T09:00:00Z\n[[profile]]\nname = \"b\"\ncreated = \"2024-01-01T00:00:00Z\"\n";
        let t = Tenant::parse(text, Path::new("t.toml"))?;
        assert!(t.profiles[0].created < t.profiles[1].created);
        let bad = Tenant::parse("[[profile]]\nname = 'a'\ncreated = 'last year'\n", Path::new("t.toml"));
        assert!(bad.is_err_and(|e| e.to_string().contains("profile[0].created")));
        Ok(())
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let err = Tenant::parse("[[profile]\nname = 1\n", Path::new("t.toml"))
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(matches!(&err, Err(m) if m.starts_with("t.toml:1:")), "{err:?}");
    }
}
