//! Windows Autopilot tenant model: deployment profiles, their assignments
//! to dynamic device groups, and what every device of an inventory gets.
//!
//! ```text
//! tenant.toml ──Tenant::load──▶ Tenant ──validate──▶ Validation { findings, CheckedTenant }
//!                                                                      │
//! devices.json ──fleet::load_index──▶ FleetIndex ──CheckedTenant::plan─┴─▶ Plan
//! edits.toml ──EditSet::load──▶ EditSet ──resolve/apply──▶ edited inventory ──plan──▶ Plan'
//!                                                              whatif::compare(Plan, Plan')
//! ```
//!
//! * [`tenant`]: the tenant file (groups, profiles, assignments, ESP,
//!   required apps), with the position of every key;
//! * [`profile`]: [`ProfileSpec`] (as written, contradictions allowed) and
//!   [`Profile`] (checked, contradictions unrepresentable);
//! * [`graph_json`]: profiles from and to Graph beta JSON, old and new
//!   property names;
//! * [`checks`]: the validation rules as data — code, severity, summary,
//!   source document — and [`Finding`];
//! * [`validate`](validate()): every tenant-level rule, producing a [`CheckedTenant`];
//! * [`assign`]: profile resolution (oldest created wins, exclusions
//!   remove, the all-devices profile is the default) on the columnar engine;
//! * [`edits`]: group tag, user, friendly name, device name edits and deletions;
//! * [`whatif`]: two plans compared device by device, and the what-if
//!   pipeline (another tenant or an edit set → the change);
//! * [`report`]: the JSON shapes of a plan and a what-if, shared by the
//!   command line and the local API;
//! * [`register`]: the hardware-hash CSV that registers devices, checked
//!   before upload, and the devices it will add.
//!
//! Layering: this module builds on [`crate::rule`], [`crate::inventory`]
//! and [`crate::fleet`]; nothing below it knows about Autopilot.
//!
//! Sources: `../shared/spec/graph-api.md` §1.1–1.4 (resources), §4
//! (constraints); `autopilot-profiles.md` (the console's rules);
//! `enrollment-model.md` §1 (modes). Each check names its section.

pub mod assign;
pub mod checks;
pub mod edits;
pub mod graph_json;
pub mod name;
pub mod profile;
pub mod register;
pub mod report;
pub mod source;
pub mod tenant;
mod validate;
pub mod whatif;

pub use assign::{AssignError, DevicePlan, Mismatch, Outcome, Plan, PlanProfile, Summary, Via};
pub use checks::{Check, Finding, Severity, CATALOGUE};
pub use edits::{Applied, DeviceDelete, DeviceEdit, EditSet, Resolved};
pub use name::NameTemplate;
pub use profile::{
    check_profile, Account, BlockingApps, Deployment, DeploymentMode, DeviceType, EnrollmentMode,
    EspSettings, EspSpec, Join, JoinType, Language, Profile, ProfileSpec, UserDriven, UserType, Visibility,
};
pub use source::{Location, Origin, Source};
pub use tenant::{AppKind, AppSpec, AppTarget, EnrollmentUser, GroupDef, Tenant, TenantError, TenantInfo};
pub use validate::{
    validate, AssignedProfile, CheckedGroup, CheckedTenant, Membership, Validation, MAX_PROFILES,
};
pub use whatif::WhatIf;

/// Reads a tenant file, or Graph profile JSON (`.json`: one profile, an
/// array or a Graph page), and checks it. For Graph JSON the profile-level
/// rules, the tenant-wide name and count rules and the all-devices rules
/// apply; group targets are not checked, as the file has no groups.
pub fn lint_file(path: &std::path::Path) -> Result<(Tenant, Validation), TenantError> {
    let tenant = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let source = Source::new(path, tenant::read(path)?);
        let (mut profiles, read_findings) = graph_json::read_profiles(&source)?;
        // Group targets are ids of groups this file does not describe.
        for p in &mut profiles {
            p.include.clear();
            p.exclude.clear();
            p.assignments_by_id = false;
        }
        Tenant {
            path: path.to_path_buf(),
            info: TenantInfo::default(),
            groups: Vec::new(),
            profiles,
            apps: Vec::new(),
            enrollment_user: None,
            esp: None,
            origin: Origin::none(""),
            read_findings,
        }
    } else {
        Tenant::load(path)?
    };
    let mut validation = validate(&tenant);
    if tenant.origin.file().is_none() {
        // No tenant file: neither the enrollment user nor the ESP targeted
        // to a profile's devices (a separate Intune object) can be described.
        validation.findings.retain(|f| {
            f.code != checks::ENROLLMENT_USER_MISSING.code && f.code != checks::PRE_PROVISIONING_ESP.code
        });
    }
    Ok((tenant, validation))
}
