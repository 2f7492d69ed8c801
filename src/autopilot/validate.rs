//! Checking a whole tenant: every profile ([`check_profile`]), then what
//! only the tenant as a whole can tell — names, limits, assignments, group
//! rules, apps, the self-deploying enrollment user.
//!
//! The result is every finding, in file order, and — when none is an
//! error — a [`CheckedTenant`], the model assignment resolution runs on:
//! compiled device rules, typed profiles, assignments as group indices.
//!
//! Decisions:
//! * all findings are reported at once; no check stops another;
//! * group rules are compiled as *device* rules ([`Options::object`]), so a
//!   user rule in a device group is an error, not an empty group;
//! * a group "drives" a profile when a profile includes it; exclusion
//!   groups may select devices any way they like. The
//!   `group-no-autopilot-attribute` warning is skipped for groups of
//!   profiles that convert targeted devices: selecting not-yet-registered
//!   devices by other attributes is the point of conversion;
//! * a group with `members` is an assigned group: it has no rule to check
//!   and drives profiles like a dynamic one; a memberOf rule whose source
//!   is a memberOf group (itself included) is an error, as Entra refuses
//!   to chain them (rule-language.md §6.4);
//! * a pre-provisioning profile with no ESP targeted to it (neither its
//!   own nor the tenant's, or one hiding progress) is a warning: the
//!   pre-provision page lists a device-targeted ESP as a prerequisite;
//! * the tenant's `[esp]` is the default ESP; a profile's own `esp`
//!   replaces it whole, as ESP profiles do in Intune (they are assigned,
//!   not merged).

use std::collections::HashMap;

use crate::autopilot::checks::{self, sort, Finding};
use crate::autopilot::profile::{
    check_esp, check_profile, DeploymentMode, DeviceType, EspSettings, EspSpec, Profile, ProfileSpec,
};
use crate::autopilot::source::Origin;
use crate::autopilot::tenant::{AppKind, AppSpec, AppTarget, EnrollmentUser, Tenant};
use crate::rule::ast::{Expr, ExprKind, Operand, RefKind, RuleAst, Value};
use crate::rule::{ObjectType, Operator, Options, Rule};

/// Most Autopilot profiles in a tenant (graph-api.md §4.2).
pub const MAX_PROFILES: usize = 350;

/// A group whose rule compiled, or an assigned group.
#[derive(Debug)]
pub struct CheckedGroup {
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Dynamic or assigned, with what decides its members.
    pub membership: Membership,
}

/// How a group gets its members.
#[derive(Debug)]
pub enum Membership {
    /// A dynamic group: its compiled device rule.
    Dynamic(Box<Rule>),
    /// An assigned (static) group: device object ids, as written.
    Assigned(Vec<String>),
}

impl CheckedGroup {
    /// The rule of a dynamic group.
    pub fn rule(&self) -> Option<&Rule> {
        match &self.membership {
            Membership::Dynamic(r) => Some(r),
            Membership::Assigned(_) => None,
        }
    }

    /// The members of an assigned group.
    pub fn members(&self) -> Option<&[String]> {
        match &self.membership {
            Membership::Dynamic(_) => None,
            Membership::Assigned(m) => Some(m),
        }
    }
}

/// A checked profile and its assignments, as group indices.
#[derive(Clone, Debug)]
pub struct AssignedProfile {
    /// The profile.
    pub profile: Profile,
    /// Groups it is assigned to.
    pub include: Vec<usize>,
    /// Groups excluded.
    pub exclude: Vec<usize>,
    /// Assigned to all devices.
    pub all_devices: bool,
}

/// A tenant with no errors: what assignment resolution and the simulator use.
#[derive(Debug)]
pub struct CheckedTenant {
    /// A label: `[tenant] name`, else the file name.
    pub name: String,
    /// Groups, in tenant order.
    pub groups: Vec<CheckedGroup>,
    /// Profiles, in tenant order.
    pub profiles: Vec<AssignedProfile>,
    /// Required apps.
    pub apps: Vec<AppSpec>,
    /// The default ESP.
    pub esp: EspSettings,
    /// The self-deploying enrollment user.
    pub enrollment_user: Option<EnrollmentUser>,
}

impl CheckedTenant {
    /// The ESP a device of profile `p` shows: the profile's own, else the tenant's.
    pub fn esp_for(&self, p: usize) -> &EspSettings {
        self.profiles.get(p).and_then(|a| a.profile.esp()).unwrap_or(&self.esp)
    }

    /// The position of the group named `name` (case-insensitive).
    pub fn group(&self, name: &str) -> Option<usize> {
        let key = name.to_lowercase();
        self.groups.iter().position(|g| g.name.to_lowercase() == key)
    }

    /// The position of the profile named `name` (case-insensitive).
    pub fn profile(&self, name: &str) -> Option<usize> {
        let key = name.to_lowercase();
        self.profiles.iter().position(|p| p.profile.name().to_lowercase() == key)
    }

    /// The profile assigned to all devices, if any.
    pub fn default_profile(&self) -> Option<usize> {
        self.profiles.iter().position(|p| p.all_devices)
    }
}

/// Every finding, and the checked tenant when there is no error.
#[derive(Debug)]
pub struct Validation {
    /// Findings in file order.
    pub findings: Vec<Finding>,
    /// `Some` when no finding is an error.
    pub tenant: Option<CheckedTenant>,
}

impl Validation {
    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.findings.iter().filter(|f| f.is_error()).count()
    }
    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.findings.len() - self.errors()
    }
}

/// Checks a tenant.
///
/// ```
/// use fleetlab::autopilot::{validate, Tenant};
/// let text = r#"
/// [[profile]]
/// name = "Default"
/// all_devices = true
///
/// [[profile]]
/// name = "Also default"
/// all_devices = true
/// "#;
/// let tenant = Tenant::parse(text, "tenant.toml".as_ref())?;
/// let v = validate(&tenant);
/// assert_eq!(v.findings[0].code, "all-devices-multiple");
/// assert_eq!(v.findings[0].location.as_ref().map(|l| l.line), Some(8));
/// assert!(v.tenant.is_none());
/// # Ok::<(), fleetlab::autopilot::TenantError>(())
/// ```
pub fn validate(tenant: &Tenant) -> Validation {
    let mut findings = tenant.read_findings.clone();
    let (group_index, groups_out) = check_groups(tenant, &mut findings);
    let mut profiles: Vec<Option<Profile>> = Vec::new();
    for spec in &tenant.profiles {
        let (profile, mut f) = check_profile(spec);
        findings.append(&mut f);
        profiles.push(profile);
    }
    let assignments = check_profiles_together(tenant, &group_index, &mut findings);
    check_driving_groups(tenant, &groups_out, &assignments, &mut findings);
    check_apps(tenant, &mut findings);

    // The placeholder enrollment user, when the tenant's MDM needs one.
    let self_deploying = |p: &&ProfileSpec| {
        p.mode == Some(DeploymentMode::SelfDeploying)
            || (p.mode.is_none() && p.device_type == Some(DeviceType::HoloLens))
    };
    if let (Some(placeholder), Some(sd)) =
        (&tenant.info.placeholder_enrollment_user, tenant.profiles.iter().find(self_deploying))
    {
        findings.extend(check_enrollment_user(tenant, placeholder, sd));
    }
    findings.extend(check_pre_provisioning_esp(tenant));

    sort(&mut findings);
    let errors = findings.iter().any(Finding::is_error);
    let checked = if errors { None } else { Some(checked_tenant(tenant, groups_out, profiles, assignments)) };
    Validation { findings, tenant: checked }
}

/// The groups each profile includes and excludes, as indices into the
/// tenant's groups.
type Assignments = Vec<(Vec<usize>, Vec<usize>)>;

/// The profiles together: the profile limit, duplicate names, one All
/// Devices profile, and each profile's assignments resolved to groups.
fn check_profiles_together(
    tenant: &Tenant,
    group_index: &HashMap<String, usize>,
    findings: &mut Vec<Finding>,
) -> Assignments {
    if tenant.profiles.len() > MAX_PROFILES {
        if let Some(spec) = tenant.profiles.get(MAX_PROFILES) {
            findings.push(Finding::new(
                &checks::PROFILE_LIMIT,
                &spec.origin,
                "name",
                format!(
                    "the tenant has {} profiles; Intune allows at most {MAX_PROFILES} (this is profile {})",
                    tenant.profiles.len(),
                    MAX_PROFILES + 1
                ),
            ));
        }
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut default_profile: Option<usize> = None;
    let mut assignments = Vec::new();
    for (i, spec) in tenant.profiles.iter().enumerate() {
        let subject = format!("profile {:?}", spec.name);
        let o = &spec.origin;
        if !spec.name.trim().is_empty() {
            if let Some(&first) = names.get(&spec.name.to_lowercase()) {
                findings.push(Finding::new(
                    &checks::DUPLICATE_PROFILE_NAME,
                    o,
                    "name",
                    format!("{subject} is defined twice (first as profile {})", first + 1),
                ));
            } else {
                names.insert(spec.name.to_lowercase(), i);
            }
        }
        if spec.all_devices {
            match default_profile {
                Some(first) => findings.push(Finding::new(
                    &checks::ALL_DEVICES_MULTIPLE,
                    o,
                    "all_devices",
                    format!(
                        "{subject} is assigned to all devices, but so is {:?}; Intune answers \"Another Profile … \
                         is already assigned to All Devices\"",
                        tenant.profiles[first].name
                    ),
                )),
                None => default_profile = Some(i),
            }
            if !spec.exclude.is_empty() {
                findings.push(Finding::new(
                    &checks::ALL_DEVICES_EXCLUSION,
                    o,
                    "exclude",
                    format!(
                        "{subject} is assigned to all devices and excludes {}; exclusions are not supported with \
                         All Devices and can leave devices unassigned until their hashes are re-uploaded",
                        quoted(&spec.exclude)
                    ),
                ));
            }
        }
        let mut resolve = |list: &[String], key: &str| -> Vec<usize> {
            let mut out = Vec::new();
            for (j, name) in list.iter().enumerate() {
                match group_index.get(&name.to_lowercase()) {
                    Some(&g) => out.push(g),
                    None => findings.push(Finding::new(
                        &checks::ASSIGNMENT_UNKNOWN_GROUP,
                        o,
                        &format!("{key}[{j}]"),
                        if spec.assignments_by_id && looks_like_id(name) {
                            format!(
                                "{subject}: no group of the tenant has id {name:?} (from the Graph export's \
                                 assignments); give that group `id = {name:?}`"
                            )
                        } else {
                            format!(
                                "{subject}: group {name:?} is not defined{}",
                                suggest(name, &tenant.groups)
                            )
                        },
                    )),
                }
            }
            out
        };
        let include = resolve(&spec.include, "include");
        let exclude = resolve(&spec.exclude, "exclude");
        for (j, name) in spec.exclude.iter().enumerate() {
            if spec.include.iter().any(|n| n.to_lowercase() == name.to_lowercase()) {
                findings.push(Finding::new(
                    &checks::ASSIGNMENT_INCLUDE_EXCLUDE,
                    o,
                    &format!("exclude[{j}]"),
                    format!("{subject} both includes and excludes {name:?}; the exclusion wins, so the include does nothing"),
                ));
            }
        }
        assignments.push((include, exclude));
    }
    assignments
}

/// Groups that drive profiles: they should follow Autopilot registration,
/// and the profile names they select should exist.
fn check_driving_groups(
    tenant: &Tenant,
    groups_out: &[Option<Membership>],
    assignments: &Assignments,
    findings: &mut Vec<Finding>,
) {
    for (g, def) in tenant.groups.iter().enumerate() {
        // Assigned groups name their devices: nothing to follow registration by.
        let Some(Some(Membership::Dynamic(rule))) = groups_out.get(g) else { continue };
        let driven: Vec<usize> =
            assignments.iter().enumerate().filter(|(_, (inc, _))| inc.contains(&g)).map(|(p, _)| p).collect();
        if driven.is_empty() {
            continue;
        }
        let refs = references(rule);
        let converting =
            driven.iter().any(|&p| tenant.profiles[p].convert_all_targeted_devices == Some(true));
        if !refs.autopilot && !converting {
            let names: Vec<String> = driven.iter().map(|&p| tenant.profiles[p].name.clone()).collect();
            findings.push(Finding::new(
                &checks::GROUP_NO_AUTOPILOT_ATTRIBUTE,
                &def.origin,
                "rule",
                format!(
                    "group {:?} drives {} but selects devices by neither devicePhysicalIds ([ZTDId], [OrderId], \
                     [PurchaseOrderId]) nor enrollmentProfileName; such groups do not follow Autopilot registration \
                     and have caused enrollment failures (80004005)",
                    def.name,
                    quoted(&names)
                ),
            ));
        }
        for value in refs.profile_names {
            let known = tenant.profiles.iter().any(|p| p.name.to_lowercase() == value.to_lowercase());
            if !known && !value.to_lowercase().starts_with("offlineautopilotprofile-") {
                findings.push(Finding::new(
                    &checks::GROUP_UNKNOWN_PROFILE_NAME,
                    &def.origin,
                    "rule",
                    format!(
                        "group {:?} selects enrollmentProfileName {value:?}, which is not a profile of this tenant; \
                         the value must match a profile's display name exactly",
                        def.name
                    ),
                ));
            }
        }
    }
}

/// Apps and ESP: duplicate app names, MSI and Win32 together, blocking apps
/// the tenant does not define.
fn check_apps(tenant: &Tenant, findings: &mut Vec<Finding>) {
    let mut app_names: HashMap<String, usize> = HashMap::new();
    for (i, app) in tenant.apps.iter().enumerate() {
        if let Some(&first) = app_names.get(&app.name.to_lowercase()) {
            findings.push(Finding::new(
                &checks::DUPLICATE_APP_NAME,
                &app.origin,
                "name",
                format!("app {:?} is defined twice (first as app {})", app.name, first + 1),
            ));
        } else {
            app_names.insert(app.name.to_lowercase(), i);
        }
    }
    let device_app =
        |kind: AppKind| tenant.apps.iter().find(|a| a.kind == kind && a.target == AppTarget::Device);
    if let (Some(msi), Some(win32)) = (device_app(AppKind::Msi), device_app(AppKind::Win32)) {
        let later = if msi.origin.location("name") > win32.origin.location("name") { msi } else { win32 };
        findings.push(Finding::new(
            &checks::APP_MSI_WIN32_MIX,
            &later.origin,
            "kind",
            format!(
                "device-targeted MSI app {:?} and Win32 app {:?}: both install through TrustedInstaller during the \
                 ESP and collide (\"Another installation is in progress\"); repackage the MSI as Win32",
                msi.name, win32.name
            ),
        ));
    }
    let mut esp_apps = |esp: &EspSpec, o: &Origin, key: &str, subject: &str| {
        for (j, name) in esp.blocking_apps.iter().flatten().enumerate() {
            if !app_names.contains_key(&name.to_lowercase()) {
                findings.push(Finding::new(
                    &checks::ESP_BLOCKING_APP_UNKNOWN,
                    o,
                    &format!("{key}.blocking_apps[{j}]"),
                    format!("{subject}: blocking app {name:?} is not one of the tenant's [[app]] entries"),
                ));
            }
        }
    };
    if let Some(esp) = &tenant.esp {
        esp_apps(esp, &tenant.origin, "esp", "default ESP");
    }
    for spec in &tenant.profiles {
        if let Some(esp) = &spec.esp {
            esp_apps(esp, &spec.origin, "esp", &format!("profile {:?}", spec.name));
        }
    }
    if let Some(esp) = &tenant.esp {
        findings.extend(check_esp(esp, &tenant.origin, "esp", "default ESP"));
    }
}

/// The checked tenant of a tenant with no error.
fn checked_tenant(
    tenant: &Tenant,
    groups_out: Vec<Option<Membership>>,
    profiles: Vec<Option<Profile>>,
    assignments: Assignments,
) -> CheckedTenant {
    let groups = tenant
        .groups
        .iter()
        .zip(groups_out)
        .filter_map(|(g, m)| {
            m.map(|membership| CheckedGroup {
                name: g.name.clone(),
                description: g.description.clone(),
                membership,
            })
        })
        .collect();
    let profiles = tenant
        .profiles
        .iter()
        .zip(profiles)
        .zip(assignments)
        .filter_map(|((spec, p), (include, exclude))| {
            p.map(|profile| AssignedProfile { profile, include, exclude, all_devices: spec.all_devices })
        })
        .collect();
    CheckedTenant {
        name: tenant.info.name.clone().unwrap_or_else(|| {
            tenant.path.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        }),
        groups,
        profiles,
        apps: tenant.apps.clone(),
        esp: tenant.esp.as_ref().map(EspSpec::resolve).unwrap_or_default(),
        enrollment_user: tenant.enrollment_user.clone(),
    }
}

/// The groups: duplicate names, each rule compiled (or the members of an
/// assigned group taken as written), memberOf chains. Returns the index of
/// the first group of each (lowercase) name and each group's membership,
/// `None` where it does not compile.
fn check_groups(
    tenant: &Tenant,
    findings: &mut Vec<Finding>,
) -> (HashMap<String, usize>, Vec<Option<Membership>>) {
    let options = Options { object: Some(ObjectType::Device), ..Options::default() };
    let mut group_index: HashMap<String, usize> = HashMap::new();
    let mut groups_out: Vec<Option<Membership>> = Vec::new();
    for (i, g) in tenant.groups.iter().enumerate() {
        let key = g.name.to_lowercase();
        if let Some(&first) = group_index.get(&key) {
            let other = &tenant.groups[first];
            findings.push(Finding::new(
                &checks::DUPLICATE_GROUP_NAME,
                &g.origin,
                "name",
                format!(
                    "group {:?} is defined twice (first at {})",
                    g.name,
                    other
                        .origin
                        .location("name")
                        .map_or_else(|| other.origin.path("name"), |l| l.to_string())
                ),
            ));
        } else {
            group_index.insert(key, i);
        }
        if let Some(members) = &g.members {
            if !g.rule.trim().is_empty() {
                findings.push(Finding::new(
                    &checks::GROUP_MEMBERSHIP,
                    &g.origin,
                    "members",
                    format!(
                        "group {:?} has both a rule and a members list; a group is dynamic or assigned, not both",
                        g.name
                    ),
                ));
            }
            groups_out.push(Some(Membership::Assigned(members.clone())));
            continue;
        }
        if g.rule.trim().is_empty() {
            findings.push(Finding::new(
                &checks::GROUP_MEMBERSHIP,
                &g.origin,
                "name",
                format!(
                    "group {:?} has neither a rule (a dynamic group) nor members (an assigned group)",
                    g.name
                ),
            ));
            groups_out.push(None);
            continue;
        }
        match Rule::with_options(&g.rule, &options) {
            Ok(rule) => {
                for w in rule.warnings() {
                    findings.push(Finding::located(
                        &checks::GROUP_RULE_WARNING,
                        g.origin.path("rule"),
                        g.origin.location_in_string("rule", &g.rule, w.span.start()),
                        format!("group {:?}: [{}] {}", g.name, w.code, w.message),
                    ));
                }
                groups_out.push(Some(Membership::Dynamic(Box::new(rule))));
            }
            Err(errors) => {
                for e in errors.iter() {
                    let help = e.help().map(|h| format!(" ({h})")).unwrap_or_default();
                    findings.push(Finding::located(
                        &checks::GROUP_RULE_INVALID,
                        g.origin.path("rule"),
                        g.origin.location_in_string("rule", &g.rule, e.span().start()),
                        format!("group {:?}: [{}] {e}{help}", g.name, e.code()),
                    ));
                }
                groups_out.push(None);
            }
        }
    }
    findings.extend(member_of_chains(tenant, &groups_out));
    (group_index, groups_out)
}
/// A pre-provisioning profile's ESP: its own, else the tenant's; none, or
/// one that hides progress (no ESP page at all), is a finding.
fn check_pre_provisioning_esp(tenant: &Tenant) -> Vec<Finding> {
    let mut out = Vec::new();
    for spec in &tenant.profiles {
        let hololens = spec.device_type == Some(DeviceType::HoloLens);
        if spec.pre_provisioning != Some(true) || spec.mode == Some(DeploymentMode::SelfDeploying) || hololens
        {
            continue;
        }
        let (esp, whose) = match (&spec.esp, &tenant.esp) {
            (Some(e), _) => (Some(e), "its own ESP"),
            (None, Some(e)) => (Some(e), "the tenant's default ESP"),
            (None, None) => (None, ""),
        };
        let problem = match esp {
            None => "no Enrollment Status Page is targeted to its devices (no esp on the profile, no [esp] in the \
                     tenant)"
                .to_string(),
            Some(e) if e.show_progress == Some(false) => {
                format!("{whose} hides progress (show_progress = false), so no Enrollment Status Page is shown")
            }
            Some(_) => continue,
        };
        out.push(Finding::new(
            &checks::PRE_PROVISIONING_ESP,
            &spec.origin,
            "pre_provisioning",
            format!(
                "profile {:?} allows pre-provisioning, but {problem}; pre-provisioning needs an ESP profile targeted \
                 to the device",
                spec.name
            ),
        ));
    }
    out
}

/// memberOf groups fed by memberOf groups, their own id included: Entra
/// does not let one memberOf group feed another.
fn member_of_chains(tenant: &Tenant, groups: &[Option<Membership>]) -> Vec<Finding> {
    let sources: Vec<Vec<String>> = groups
        .iter()
        .map(|m| match m {
            Some(Membership::Dynamic(rule)) => member_of_ids(rule),
            _ => Vec::new(),
        })
        .collect();
    let mut out = Vec::new();
    for (i, ids) in sources.iter().enumerate() {
        let Some(g) = tenant.groups.get(i) else { continue };
        for id in ids {
            let fed_by = tenant.groups.iter().enumerate().find(|(j, other)| {
                other.id.as_deref().is_some_and(|oid| oid.eq_ignore_ascii_case(id))
                    && sources.get(*j).is_some_and(|s| !s.is_empty())
            });
            let Some((j, other)) = fed_by else { continue };
            let what = if j == i {
                "itself".to_string()
            } else {
                format!("group {:?}, which is a memberOf group too", other.name)
            };
            out.push(Finding::new(
                &checks::GROUP_MEMBER_OF_CHAIN,
                &g.origin,
                "rule",
                format!(
                    "group {:?}: its memberOf rule reads {id:?}, {what}; a memberOf group cannot feed another \
                     memberOf group",
                    g.name
                ),
            ));
        }
    }
    out
}

/// The group ids a rule's `memberOf -any (group.objectId -in [...])` reads.
fn member_of_ids(rule: &Rule) -> Vec<String> {
    fn strings(e: &Expr, out: &mut Vec<String>) {
        match &e.kind {
            ExprKind::Or(items) | ExprKind::And(items) => items.iter().for_each(|i| strings(i, out)),
            ExprKind::Not(inner) => strings(inner, out),
            ExprKind::Quantified(q) => strings(&q.predicate, out),
            ExprKind::Comparison(c) => {
                let values: Vec<&Value> = match &c.operand {
                    Operand::Scalar(l) => vec![&l.value],
                    Operand::List { items, .. } => items.iter().map(|l| &l.value).collect(),
                };
                out.extend(values.into_iter().filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                }));
            }
        }
    }
    fn walk_member_of(e: &Expr, out: &mut Vec<String>) {
        match &e.kind {
            ExprKind::Or(items) | ExprKind::And(items) => items.iter().for_each(|i| walk_member_of(i, out)),
            ExprKind::Not(inner) => walk_member_of(inner, out),
            ExprKind::Quantified(q) => {
                let member_of = matches!(&q.target.kind, RefKind::Property { name, .. } if name.eq_ignore_ascii_case("memberOf"));
                if member_of {
                    strings(&q.predicate, out);
                }
            }
            ExprKind::Comparison(_) => {}
        }
    }
    let mut out = Vec::new();
    if let RuleAst::Expression(e) = rule.ast() {
        walk_member_of(e, &mut out);
    }
    out
}

fn check_enrollment_user(tenant: &Tenant, placeholder: &str, sd: &ProfileSpec) -> Vec<Finding> {
    let o = &tenant.origin;
    let mut out = Vec::new();
    let Some(user) = &tenant.enrollment_user else {
        out.push(Finding::new(
            &checks::ENROLLMENT_USER_MISSING,
            &sd.origin,
            if sd.origin.has("mode") { "mode" } else { "name" },
            format!(
                "profile {:?} is self-deploying and the MDM enrolls such devices under {placeholder:?}, but the \
                 tenant file has no [enrollment_user]: that user must exist, be synced, enabled and allowed to enroll",
                sd.name
            ),
        ));
        return out;
    };
    let upn = user.upn.trim();
    if !upn.eq_ignore_ascii_case(placeholder.trim()) {
        out.push(Finding::new(
            &checks::ENROLLMENT_USER_PREREQUISITE,
            o,
            "enrollment_user.upn",
            format!(
                "[enrollment_user] describes {upn:?}, but [tenant] placeholder_enrollment_user is {placeholder:?}"
            ),
        ));
    }
    match upn.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') => {
            if let Some(primary) = &tenant.info.primary_domain {
                if !domain.eq_ignore_ascii_case(primary) {
                    out.push(Finding::new(
                        &checks::ENROLLMENT_USER_PREREQUISITE,
                        o,
                        "enrollment_user.upn",
                        format!("enrollment user {upn:?} is not at the primary domain {primary:?}"),
                    ));
                }
            }
        }
        _ => out.push(Finding::new(
            &checks::ENROLLMENT_USER_PREREQUISITE,
            o,
            "enrollment_user.upn",
            format!("enrollment user {upn:?} is not a user principal name (name@domain)"),
        )),
    }
    if user.email.as_deref().is_some_and(|e| !e.contains('@')) {
        out.push(Finding::new(
            &checks::ENROLLMENT_USER_PREREQUISITE,
            o,
            "enrollment_user.email",
            "the enrollment user's email is not an address; SCIM provisioning needs one (usually the UPN)",
        ));
    }
    let flags = [
        ("synced", user.synced, "synced from Entra ID"),
        ("enabled", user.enabled, "enabled"),
        ("can_enroll_devices", user.can_enroll_devices, "allowed to enroll devices"),
        ("in_mdm", user.in_mdm, "present in the MDM"),
    ];
    let mut unconfirmed = Vec::new();
    if user.email.is_none() {
        unconfirmed.push("email");
    }
    for (key, value, what) in flags {
        match value {
            Some(false) => out.push(Finding::new(
                &checks::ENROLLMENT_USER_PREREQUISITE,
                o,
                &format!("enrollment_user.{key}"),
                format!("the self-deploying enrollment user must be {what}"),
            )),
            None => unconfirmed.push(key),
            Some(true) => {}
        }
    }
    if !unconfirmed.is_empty() {
        out.push(Finding::new(
            &checks::ENROLLMENT_USER_UNCONFIRMED,
            o,
            "enrollment_user",
            format!("[enrollment_user] does not state {}; confirm each and set it", unconfirmed.join(", ")),
        ));
    }
    out
}

/// What a rule reads that matters to Autopilot.
#[derive(Debug, Default)]
pub(crate) struct References {
    /// Reads devicePhysicalIds or enrollmentProfileName.
    pub autopilot: bool,
    /// Values compared with enrollmentProfileName by -eq or -in.
    pub profile_names: Vec<String>,
}

/// Walks the rule's syntax tree.
pub(crate) fn references(rule: &Rule) -> References {
    let mut out = References::default();
    if let RuleAst::Expression(e) = rule.ast() {
        walk(e, &mut out);
    }
    out
}

fn walk(e: &Expr, out: &mut References) {
    match &e.kind {
        ExprKind::Or(items) | ExprKind::And(items) => items.iter().for_each(|i| walk(i, out)),
        ExprKind::Not(inner) => walk(inner, out),
        ExprKind::Quantified(q) => {
            note(&q.target.kind, out);
            walk(&q.predicate, out);
        }
        ExprKind::Comparison(c) => {
            note(&c.target.kind, out);
            let is_profile = matches!(&c.target.kind, RefKind::Property { name, .. } if name.eq_ignore_ascii_case("enrollmentProfileName"));
            if is_profile && matches!(c.op, Operator::Eq | Operator::In) {
                let values: Vec<&Value> = match &c.operand {
                    Operand::Scalar(l) => vec![&l.value],
                    Operand::List { items, .. } => items.iter().map(|l| &l.value).collect(),
                };
                for v in values {
                    if let Value::String(s) = v {
                        out.profile_names.push(s.clone());
                    }
                }
            }
        }
    }
}

fn note(kind: &RefKind, out: &mut References) {
    if let RefKind::Property { name, .. } = kind {
        if name.eq_ignore_ascii_case("devicePhysicalIds")
            || name.eq_ignore_ascii_case("enrollmentProfileName")
        {
            out.autopilot = true;
        }
    }
}

/// A GUID-shaped string (Graph object ids).
fn looks_like_id(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// "; did you mean …?" for a near miss among the group names.
fn suggest(name: &str, groups: &[crate::autopilot::GroupDef]) -> String {
    let lower = name.to_lowercase();
    let best = groups
        .iter()
        .map(|g| (crate::rule::levenshtein(&lower, &g.name.to_lowercase()), &g.name))
        .filter(|(d, _)| *d <= 3.max(lower.chars().count() / 5))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, g)) => format!("; did you mean {g:?}?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(crate::rule::levenshtein("kiosk", "kiosks"), 1);
        assert_eq!(crate::rule::levenshtein("", "abc"), 3);
        assert_eq!(crate::rule::levenshtein("autopilot - nl", "autopilot - nl"), 0);
    }

    #[test]
    fn references_find_autopilot_attributes() -> Result<(), crate::rule::RuleErrors> {
        let r = Rule::new(
            r#"(device.deviceModel -eq "HoloLens 2") -or (device.enrollmentProfileName -in ["A", "B"])"#,
        )?;
        let refs = references(&r);
        assert!(refs.autopilot);
        assert_eq!(refs.profile_names, ["A", "B"]);
        let r = Rule::new(r#"device.deviceModel -eq "HoloLens 2""#)?;
        assert!(!references(&r).autopilot);
        Ok(())
    }
}
