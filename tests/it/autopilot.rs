//! The Autopilot tenant model as a library: the bundled Contoso scenario,
//! assignment precedence, tenant-file errors, Graph JSON, edits, what-if.

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use fleetlab::autopilot::{
    check_profile, graph_json, lint_file, validate, whatif, CheckedTenant, DeviceType, EditSet,
    EnrollmentMode, Outcome, Plan, Source, Tenant, TenantError, Via,
};
use fleetlab::fleet::{load_index, FleetIndex};
use fleetlab::groups::GroupSet;
use fleetlab::inventory::{load_devices, Device};
use fleetlab::rule::{ObjectType, Options};

type TestResult = Result<(), Box<dyn Error>>;

fn scenario(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/contoso").join(file)
}

fn checked(path: &Path) -> Result<CheckedTenant, Box<dyn Error>> {
    let tenant = Tenant::load(path)?;
    let v = validate(&tenant);
    v.tenant.ok_or_else(|| format!("{} is invalid: {:#?}", path.display(), v.findings).into())
}

fn contoso_plan(tenant: &str) -> Result<Plan, Box<dyn Error>> {
    let index = load_index(&scenario("devices.json"), &|_| {})?;
    Ok(checked(&scenario(tenant))?.plan(&index)?)
}

fn profile_of<'p>(plan: &'p Plan, name: &str) -> Option<&'p str> {
    let d = plan.devices.iter().find(|d| d.display_name.as_deref() == Some(name) || d.id == name)?;
    d.profile().and_then(|p| plan.profiles.get(p)).map(|p| p.name.as_str())
}

fn parse(text: &str) -> Result<Tenant, TenantError> {
    Tenant::parse(text, Path::new("tenant.toml"))
}

/// A tenant and devices built in the test, planned.
fn plan_of(tenant: &str, devices: &str) -> Result<Plan, Box<dyn Error>> {
    let v = validate(&parse(tenant)?);
    let checked = v.tenant.ok_or_else(|| format!("invalid tenant: {:#?}", v.findings))?;
    let devices: Vec<Device> = serde_json::from_str(devices)?;
    Ok(checked.plan(&FleetIndex::from_devices(&devices)?)?)
}

// ---------------------------------------------------------------- Contoso

#[test]
fn contoso_tenant_lints_clean_with_only_known_warnings() -> TestResult {
    let (tenant, v) = lint_file(&scenario("tenant.toml"))?;
    assert_eq!(v.errors(), 0, "{:#?}", v.findings);
    assert_eq!(tenant.profiles.len(), 5);
    assert_eq!(tenant.groups.len(), 28, "25 from groups.toml and 3 of its own");
    let codes: Vec<&str> = v.findings.iter().map(|f| f.code).collect();
    assert_eq!(
        codes,
        [
            "name-template-serial-truncated", // the kiosk's Graph JSON
            "name-template-serial-truncated",
            // No display-name-characters: its hyphen warning had no documentation behind it.
            "name-template-serial-truncated",
        ]
    );
    // The kiosk profile came from Graph JSON; its assignment from the tenant file.
    let kiosk = tenant.profiles.iter().find(|p| p.name == "Contoso Kiosk SD").ok_or("no kiosk profile")?;
    assert_eq!(kiosk.include, ["Kiosks"]);
    assert_eq!(kiosk.origin.path("include[0]"), "profile[3].include[0]");
    assert!(kiosk
        .origin
        .location("device_name_template")
        .is_some_and(|l| l.file.ends_with("contoso-kiosk-sd.json")));
    assert!(kiosk.origin.location("include[0]").is_some_and(|l| l.file.ends_with("tenant.toml")));
    Ok(())
}

#[test]
fn contoso_alternative_tenant_and_graph_export_lint_clean() -> TestResult {
    for file in ["tenant-next.toml", "profiles/graph-export.json", "profiles/contoso-kiosk-sd.json"] {
        let (_, v) = lint_file(&scenario(file))?;
        assert_eq!(v.errors(), 0, "{file}: {:#?}", v.findings);
    }
    Ok(())
}

#[test]
fn contoso_plan_gives_every_registered_device_a_profile() -> TestResult {
    let plan = contoso_plan("tenant.toml")?;
    let s = plan.summary();
    assert_eq!((s.devices, s.registered, s.assigned, s.no_profile), (401, 194, 194, 0));
    let per_profile: BTreeMap<&str, usize> =
        plan.profiles.iter().map(|p| p.name.as_str()).zip(s.per_profile.iter().copied()).collect();
    assert_eq!(
        per_profile,
        BTreeMap::from([
            ("Contoso Hybrid HQ", 5),
            ("Contoso UD Entra", 150),
            ("Contoso Pre-provisioned", 29),
            ("Contoso Kiosk SD", 9),
            ("Contoso HoloLens SD", 6),
        ])
    );
    assert_eq!(
        s.per_mode,
        BTreeMap::from([
            (EnrollmentMode::UserDriven, 155),
            (EnrollmentMode::PreProvisioning, 29),
            (EnrollmentMode::SelfDeploying, 15)
        ])
    );
    // Five Amsterdam PCs are converted; four more are not enrolled in MDM, and
    // two shared hybrid PCs in "Kiosks" are not registered: six unreachable.
    assert_eq!((s.converted, s.targeted_unregistered), (5, 6));
    // The privileged workstations left the pre-provisioned profile by exclusion.
    assert_eq!(s.pending_reset, 5);
    assert_eq!(s.mismatched, 0);
    assert_eq!(profile_of(&plan, "HOLOLENS-N6PKXA"), Some("Contoso HoloLens SD"));
    assert_eq!(profile_of(&plan, "Kiosk \"Lobby\" Screen 3"), Some("Contoso Kiosk SD"));
    assert_eq!(profile_of(&plan, "CON-DT-9JR17MA"), Some("Contoso Pre-provisioned"));
    assert_eq!(profile_of(&plan, "İstanbul-LT-01"), Some("Contoso UD Entra"));
    assert_eq!(profile_of(&plan, "Daan's iPhone"), None);
    Ok(())
}

#[test]
fn plan_groups_agree_with_the_reference_evaluator() -> TestResult {
    let plan = contoso_plan("tenant.toml")?;
    let devices = load_devices(&scenario("devices.json"))?;
    let options = Options { object: Some(ObjectType::Device), ..Options::default() };
    let set = GroupSet::load(&scenario("groups.toml"), &options)?;
    let membership = set.evaluate(&devices);
    assert_eq!(membership.groups(), set.groups.len());
    for g in 0..membership.groups() {
        let have: Vec<usize> = (0..devices.len()).filter(|&i| plan.devices[i].groups.contains(&g)).collect();
        let members: Vec<usize> = membership.members(g).collect();
        assert_eq!(have, members, "group {}", set.groups[g].spec.name);
    }
    Ok(())
}

#[test]
fn contoso_edits_change_what_they_should() -> TestResult {
    let tenant = checked(&scenario("tenant.toml"))?;
    let index = load_index(&scenario("devices.json"), &|_| {})?;
    let mut devices: Vec<Device> = (0..index.len()).filter_map(|i| index.device(i)).collect();
    let set = EditSet::load(&scenario("edits.toml"))?;
    let resolved = set.resolve(&devices);
    assert!(!resolved.has_errors(), "{:#?}", resolved.findings);
    assert!(resolved.edits.iter().chain(&resolved.deletes).all(Option::is_some));
    let applied = set.apply(&mut devices, &resolved);
    assert_eq!(applied.len(), 7);
    let before = tenant.plan(&index)?;
    let after = tenant.plan(&FleetIndex::from_devices(&devices)?)?;
    let late = set.check_against(&resolved, &after);
    assert_eq!(late.iter().map(|f| f.code).collect::<Vec<_>>(), ["edit-user-self-deploying"]);
    let diff = whatif::compare(&before, &after);
    let changed: BTreeMap<&str, (Option<&str>, Option<&str>)> = diff
        .changes
        .iter()
        .map(|c| {
            (
                c.display_name.as_deref().unwrap_or(""),
                (c.profile.before.as_deref(), c.profile.after.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        changed,
        BTreeMap::from([
            ("CON-LT-7UWKH1Z", (Some("Contoso UD Entra"), Some("Contoso Pre-provisioned"))),
            // Its new name is pending: it keeps CON-KSK-CZC4676 until its next deployment.
            ("CON-KSK-CZC4676", (Some("Contoso Kiosk SD"), Some("Contoso UD Entra"))),
            ("CON-LT-PF31EN90", (Some("Contoso UD Entra"), None)),
            ("CON-LT-5CG8343Q", (Some("Contoso UD Entra"), Some("Contoso UD Entra"))),
        ])
    );
    assert_eq!((diff.profile_changed, diff.mode_changed, diff.groups_changed), (3, 3, 4));
    Ok(())
}

#[test]
fn contoso_restructure_what_if_shows_the_traps() -> TestResult {
    let diff = whatif::compare(&contoso_plan("tenant.toml")?, &contoso_plan("tenant-next.toml")?);
    let to_pre = diff
        .changes
        .iter()
        .filter(|c| {
            c.mode.before == Some(EnrollmentMode::UserDriven)
                && c.mode.after == Some(EnrollmentMode::PreProvisioning)
        })
        .count();
    assert_eq!(to_pre, 22, "the UK operations laptops");
    let finance =
        diff.profiles.iter().find(|p| p.name == "Contoso UD Entra Finance NL").ok_or("no finance profile")?;
    assert_eq!((finance.before, finance.after, finance.lost_after), (None, Some(0), 53));
    assert_eq!(diff.after.mismatched, 2, "the two untagged HoloLens get the Windows PC default");
    let hybrid = diff.profiles.iter().find(|p| p.name == "Contoso Hybrid HQ").ok_or("no hybrid profile")?;
    assert_eq!((hybrid.before, hybrid.after), (Some(5), None));
    // Real changes come before devices that only now match several profiles.
    let first_plain = diff.changes.iter().position(|c| !c.profile_changed() && !c.mode_changed());
    let last_change = diff.changes.iter().rposition(|c| c.profile_changed() || c.mode_changed());
    assert!(first_plain > last_change);
    Ok(())
}

// ------------------------------------------------------------ Precedence

const GROUPS: &str = r#"
[[group]]
name = "Sales"
rule = 'device.devicePhysicalIds -any (_ -eq "[OrderId]:SALES")'
[[group]]
name = "Laptops"
rule = 'device.deviceModel -startsWith "Latitude"'
[[group]]
name = "Loaners"
rule = 'device.extensionAttribute1 -eq "LOANER"'
"#;

const DEVICES: &str = r#"[
  {"id": "sales-laptop", "model": "Latitude 7440", "physicalIds": ["[ZTDId]:1", "[OrderId]:SALES"]},
  {"id": "sales-loaner", "model": "Latitude 7440", "physicalIds": ["[ZTDId]:2", "[OrderId]:SALES"],
   "extensionAttributes": {"extensionAttribute1": "LOANER"}},
  {"id": "untagged", "model": "OptiPlex 7010", "physicalIds": ["[ZTDId]:3"]},
  {"id": "unregistered", "model": "Latitude 7440", "operatingSystem": "Windows"}
]"#;

fn outcome<'p>(plan: &'p Plan, id: &str) -> Result<&'p Outcome, String> {
    plan.devices.iter().find(|d| d.id == id).map(|d| &d.outcome).ok_or(format!("no device {id}"))
}

fn name(plan: &Plan, id: &str) -> Result<Option<String>, String> {
    let d = plan.devices.iter().find(|d| d.id == id).ok_or(format!("no device {id}"))?;
    Ok(d.profile().and_then(|p| plan.profiles.get(p)).map(|p| p.name.clone()))
}

#[test]
fn the_oldest_created_profile_wins_whatever_the_file_order() -> TestResult {
    // "Laptops" is listed first but created later.
    let tenant = format!(
        "{GROUPS}[[profile]]\nname = \"Laptops\"\ncreated = 2024-05-01T00:00:00Z\ninclude = [\"Laptops\"]\n\
         [[profile]]\nname = \"Sales\"\ncreated = 2023-05-01T00:00:00Z\ninclude = [\"Sales\"]\n"
    );
    let plan = plan_of(&tenant, DEVICES)?;
    assert_eq!(name(&plan, "sales-laptop")?.as_deref(), Some("Sales"));
    let Outcome::Assigned { via, lost, .. } = outcome(&plan, "sales-laptop")? else {
        return Err("not assigned".into());
    };
    assert_eq!(*via, Via::Group(0));
    assert_eq!(lost, &[0], "Laptops matched and lost");
    let d = plan.devices.iter().find(|d| d.id == "sales-laptop").ok_or("no device")?;
    assert!(plan.reason(d).contains("oldest of 2 matching, over \"Laptops\""), "{}", plan.reason(d));
    assert_eq!(plan.summary().multiple, 2);
    Ok(())
}

#[test]
fn a_profile_not_created_yet_loses_to_every_created_one() -> TestResult {
    let tenant = format!(
        "{GROUPS}[[profile]]\nname = \"New\"\ninclude = [\"Sales\"]\n\
         [[profile]]\nname = \"Old\"\ncreated = 2020-01-01T00:00:00Z\ninclude = [\"Laptops\"]\n"
    );
    let plan = plan_of(&tenant, DEVICES)?;
    assert_eq!(name(&plan, "sales-laptop")?.as_deref(), Some("Old"));
    assert_eq!(plan.shadowed(), vec![(0, 2)], "New matches two devices and wins none");
    Ok(())
}

#[test]
fn equal_creation_times_fall_back_to_file_order() -> TestResult {
    let tenant = format!(
        "{GROUPS}[[profile]]\nname = \"First\"\ncreated = 2023-01-01T00:00:00Z\ninclude = [\"Laptops\"]\n\
         [[profile]]\nname = \"Second\"\ncreated = 2023-01-01T00:00:00Z\ninclude = [\"Sales\"]\n"
    );
    assert_eq!(name(&plan_of(&tenant, DEVICES)?, "sales-laptop")?.as_deref(), Some("First"));
    Ok(())
}

#[test]
fn an_exclusion_removes_the_profile_and_the_next_one_applies() -> TestResult {
    let tenant = format!(
        "{GROUPS}[[profile]]\nname = \"Sales\"\ncreated = 2023-01-01T00:00:00Z\ninclude = [\"Sales\"]\nexclude = [\"Loaners\"]\n\
         [[profile]]\nname = \"Laptops\"\ncreated = 2024-01-01T00:00:00Z\ninclude = [\"Laptops\"]\n"
    );
    let plan = plan_of(&tenant, DEVICES)?;
    assert_eq!(name(&plan, "sales-laptop")?.as_deref(), Some("Sales"));
    assert_eq!(name(&plan, "sales-loaner")?.as_deref(), Some("Laptops"));
    Ok(())
}

#[test]
fn an_excluded_device_with_no_other_profile_has_none_and_says_why() -> TestResult {
    let tenant =
        format!("{GROUPS}[[profile]]\nname = \"Sales\"\ncreated = 2023-01-01T00:00:00Z\ninclude = [\"Sales\"]\nexclude = [\"Loaners\"]\n");
    let plan = plan_of(&tenant, DEVICES)?;
    let Outcome::NoProfile { excluded } = outcome(&plan, "sales-loaner")? else {
        return Err("has a profile".into());
    };
    assert_eq!(excluded, &[(0, 2)]);
    let d = plan.devices.iter().find(|d| d.id == "sales-loaner").ok_or("no device")?;
    assert_eq!(plan.reason(d), "no profile: \"Sales\" excludes it by group \"Loaners\"");
    Ok(())
}

#[test]
fn the_all_devices_profile_is_the_default_only() -> TestResult {
    // The default is older than the group profile, yet the group profile wins:
    // all devices is a fallback, not a competitor.
    let tenant = format!(
        "{GROUPS}[[profile]]\nname = \"Default\"\ncreated = 2020-01-01T00:00:00Z\nall_devices = true\n\
         [[profile]]\nname = \"Sales\"\ncreated = 2024-01-01T00:00:00Z\ninclude = [\"Sales\"]\n"
    );
    let plan = plan_of(&tenant, DEVICES)?;
    assert_eq!(name(&plan, "sales-laptop")?.as_deref(), Some("Sales"));
    assert_eq!(name(&plan, "untagged")?.as_deref(), Some("Default"));
    assert!(matches!(outcome(&plan, "untagged")?, Outcome::Assigned { via: Via::AllDevices, .. }));
    assert_eq!(name(&plan, "unregistered")?, None, "all devices means all registered devices");
    Ok(())
}

#[test]
fn registered_devices_no_profile_reaches_are_listed() -> TestResult {
    let tenant = format!(
        "{GROUPS}[[profile]]\nname = \"Sales\"\ncreated = 2024-01-01T00:00:00Z\ninclude = [\"Sales\"]\n"
    );
    let plan = plan_of(&tenant, DEVICES)?;
    assert!(matches!(outcome(&plan, "untagged")?, Outcome::NoProfile { excluded } if excluded.is_empty()));
    assert!(matches!(outcome(&plan, "unregistered")?, Outcome::NotRegistered { .. }));
    let s = plan.summary();
    assert_eq!((s.registered, s.assigned, s.no_profile), (3, 2, 1));
    Ok(())
}

#[test]
fn converting_profiles_register_managed_windows_devices_only() -> TestResult {
    let tenant = format!(
        "{GROUPS}[[profile]]\nname = \"Convert\"\ncreated = 2024-01-01T00:00:00Z\nconvert_all_targeted_devices = true\ninclude = [\"Laptops\"]\n"
    );
    let unmanaged = plan_of(&tenant, DEVICES)?;
    assert!(matches!(
        outcome(&unmanaged, "unregistered")?,
        Outcome::NotRegistered { unconvertible: true, targeted_by } if targeted_by == &[0]
    ));
    let managed = DEVICES.replace(
        r#""operatingSystem": "Windows""#,
        r#""operatingSystem": "Windows", "managementType": "MDM", "deviceOwnership": "Company""#,
    );
    let plan = plan_of(&tenant, &managed)?;
    assert!(matches!(outcome(&plan, "unregistered")?, Outcome::Converted { by: 0, .. }));
    assert_eq!(plan.summary().converted, 1);
    Ok(())
}

/// Microsoft Learn, Configure Autopilot profiles (learn.microsoft.com/autopilot/profiles), Convert all
/// targeted devices to Autopilot: "All corporate owned, non-Autopilot devices in assigned groups register
/// with the Autopilot deployment service. Personally owned devices aren't registered to Autopilot."
#[test]
fn converting_profiles_never_register_personal_devices() -> TestResult {
    let tenant = format!(
        "{GROUPS}[[profile]]\nname = \"Convert\"\ncreated = 2024-01-01T00:00:00Z\nconvert_all_targeted_devices = true\ninclude = [\"Laptops\"]\n"
    );
    for (ownership, converted) in [("Company", true), ("Personal", false), ("Unknown", false)] {
        let devices = DEVICES.replace(
            r#""operatingSystem": "Windows""#,
            &format!(
                r#""operatingSystem": "Windows", "managementType": "MDM", "deviceOwnership": "{ownership}""#
            ),
        );
        let plan = plan_of(&tenant, &devices)?;
        let outcome = outcome(&plan, "unregistered")?;
        assert_eq!(matches!(outcome, Outcome::Converted { .. }), converted, "{ownership}: {outcome:?}");
        if !converted {
            assert!(matches!(outcome, Outcome::NotRegistered { unconvertible: true, .. }), "{ownership}");
        }
    }
    Ok(())
}

#[test]
fn device_type_mismatches_are_flagged() -> TestResult {
    let tenant = "[[profile]]\nname = \"PC\"\ncreated = 2024-01-01T00:00:00Z\nall_devices = true\n";
    let plan = plan_of(tenant, r#"[{"id": "h", "model": "HoloLens 2", "physicalIds": ["[ZTDId]:1"]}]"#)?;
    let m = plan.devices[0].mismatch.ok_or("no mismatch")?;
    assert_eq!((m.device, m.profile), (DeviceType::HoloLens, DeviceType::WindowsPc));
    Ok(())
}

// ---------------------------------------------------------- File errors

#[test]
fn unknown_keys_name_the_file_line_and_key() {
    let err = parse("[tenant]\nname = \"x\"\n\n[[profile]]\nname = \"P\"\nallow_preprovisioning = true\n")
        .map(|_| ());
    let message = err.map_err(|e| e.to_string());
    assert!(
        matches!(&message, Err(m) if m.starts_with("tenant.toml:6:1: profile[0].allow_preprovisioning: unknown field")),
        "{message:?}"
    );
}

#[test]
fn wrong_types_name_the_file_line_and_key() {
    let message =
        parse("[[profile]]\nname = \"P\"\ninclude = \"Sales\"\n").map(|_| ()).map_err(|e| e.to_string());
    assert!(
        matches!(&message, Err(m) if m.starts_with("tenant.toml:3:11: profile[0].include: invalid type")),
        "{message:?}"
    );
    let message = parse("[esp]\ntimeout_minutes = -5\n").map(|_| ()).map_err(|e| e.to_string());
    assert!(
        matches!(&message, Err(m) if m.starts_with("tenant.toml:2:19: esp.timeout_minutes:")),
        "{message:?}"
    );
}

#[test]
fn duplicate_names_and_dangling_groups_are_located() -> TestResult {
    let text = "[[group]]\nname = \"G\"\nrule = 'device.deviceOSType -eq \"Windows\"'\n\
                [[group]]\nname = \"g\"\nrule = 'device.deviceOSType -eq \"Windows\"'\n\
                [[profile]]\nname = \"P\"\ninclude = [\"G\", \"H\"]\n";
    let v = validate(&parse(text)?);
    let lines: Vec<String> = v
        .findings
        .iter()
        .filter(|f| f.is_error())
        .map(|f| format!("{} {}", f.code, f.location.as_ref().map_or(String::new(), |l| l.to_string())))
        .collect();
    assert_eq!(lines, ["duplicate-group-name tenant.toml:5:1", "assignment-unknown-group tenant.toml:9:17"]);
    Ok(())
}

#[test]
fn findings_in_included_group_files_point_into_them() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("groups.toml"),
        "[[group]]\nname = \"Models\"\nrule = 'device.deviceModel -eq \"X\"'\n",
    )?;
    let tenant = dir.path().join("tenant.toml");
    std::fs::write(
        &tenant,
        "[tenant]\ngroup_files = [\"groups.toml\"]\n[[profile]]\nname = \"P\"\ninclude = [\"Models\"]\n",
    )?;
    let (_, v) = lint_file(&tenant)?;
    let f = v.findings.iter().find(|f| f.code == "group-no-autopilot-attribute").ok_or("no finding")?;
    let l = f.location.as_ref().ok_or("no location")?;
    assert!(l.file.ends_with("groups.toml") && l.line == 3, "{l}");
    Ok(())
}

#[test]
fn unreadable_included_files_are_errors_at_the_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tenant = dir.path().join("tenant.toml");
    std::fs::write(&tenant, "[tenant]\ngroup_files = [\"missing.toml\"]\n")?;
    let message = lint_file(&tenant).map(|_| ()).map_err(|e| e.to_string());
    assert!(
        matches!(&message, Err(m) if m.contains("tenant.toml:2:16: tenant.group_files[0]: cannot read")),
        "{message:?}"
    );
    std::fs::write(&tenant, "[[profile]]\ngraph = \"p.json\"\nmode = \"self-deploying\"\n")?;
    let message = lint_file(&tenant).map(|_| ()).map_err(|e| e.to_string());
    assert!(
        matches!(&message, Err(m) if m.contains("profile[0].mode: a profile read from Graph JSON")),
        "{message:?}"
    );
    Ok(())
}

// ----------------------------------------------------------- Graph JSON

#[test]
fn graph_pages_read_both_derived_types_and_old_names() -> TestResult {
    let (tenant, v) = lint_file(&scenario("profiles/graph-export.json"))?;
    assert_eq!(v.errors(), 0);
    let profiles = v.tenant.ok_or("invalid")?.profiles;
    let summary: Vec<(String, &str, EnrollmentMode)> = profiles
        .iter()
        .map(|a| (a.profile.name().to_string(), a.profile.join_type().as_str(), a.profile.mode()))
        .collect();
    assert_eq!(
        summary,
        [
            ("AP-UserDriven-Sales".to_string(), "entra", EnrollmentMode::PreProvisioning),
            ("AP-Kiosk-SelfDeploy".to_string(), "entra", EnrollmentMode::SelfDeploying),
            ("AP-Hybrid-HQ".to_string(), "hybrid", EnrollmentMode::UserDriven),
        ]
    );
    assert_eq!(tenant.profiles[0].origin.path("pre_provisioning"), "value[0].preprovisioningAllowed");
    // The deprecated shape alone reads the same.
    let old = Source::new(
        "old.json",
        r##"{"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Old",
            "language": "de-DE", "enableWhiteGlove": true, "extractHardwareHash": true,
            "outOfBoxExperienceSettings": {"userType": "standard", "deviceUsageType": "singleUser",
              "hideEULA": false, "hidePrivacySettings": true, "hideEscapeLink": true, "skipKeyboardSelectionPage": true}}"##,
    );
    let (specs, warnings) = graph_json::read_profiles(&old)?;
    assert!(warnings.is_empty());
    let (Some(p), findings) = check_profile(&specs[0]) else { return Err("invalid".into()) };
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(
        (p.mode(), p.language().as_str(), p.converts_targeted_devices()),
        (EnrollmentMode::PreProvisioning, "de-DE", true)
    );
    assert_eq!(specs[0].origin.path("convert_all_targeted_devices"), "extractHardwareHash");
    Ok(())
}

#[test]
fn graph_bodies_use_only_the_new_names() -> TestResult {
    let tenant = checked(&scenario("tenant.toml"))?;
    for a in &tenant.profiles {
        let body = graph_json::to_graph(&a.profile);
        let text = serde_json::to_string(&body)?;
        for old in [
            "outOfBoxExperienceSettings",
            "\"language\"",
            "enableWhiteGlove",
            "extractHardwareHash",
            "hideEULA",
        ] {
            assert!(!text.contains(old), "{} writes {old}: {text}", a.profile.name());
        }
        assert!(body.get("id").is_none() && body.get("createdDateTime").is_none());
        let shared = a.profile.mode() == EnrollmentMode::SelfDeploying;
        assert_eq!(
            body["outOfBoxExperienceSetting"].get("userType").is_none(),
            shared,
            "{}",
            a.profile.name()
        );
        assert_eq!(
            body.get("hybridAzureADJoinSkipConnectivityCheck").is_some(),
            a.profile.join_type().as_str() == "hybrid"
        );
    }
    Ok(())
}

#[test]
fn every_contoso_profile_round_trips_through_graph_json() -> TestResult {
    let tenant = checked(&scenario("tenant.toml"))?;
    for a in &tenant.profiles {
        let text = serde_json::to_string_pretty(&graph_json::to_graph_export(&a.profile))?;
        let (specs, warnings) = graph_json::read_profiles(&Source::new("export.json", text))?;
        assert!(warnings.is_empty());
        let (again, _) = check_profile(&specs[0]);
        let again = again.ok_or("the exported profile does not check")?;
        // Blocking apps, reset, quality updates and the technician-phase
        // setting are ESP configuration, not part of the Graph profile.
        assert_eq!(graph_json::to_graph_export(&again), graph_json::to_graph_export(&a.profile));
        if a.profile.esp().is_none() {
            assert_eq!(again, a.profile, "{}", a.profile.name());
        }
    }
    Ok(())
}

#[test]
fn graph_exports_with_assignments_plug_into_a_tenant_file() -> TestResult {
    // A Graph page with its assignments (as `fleetlab sync export` writes
    // it): one profile picked by name, group targets mapped by group id.
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("export.json"),
        r##"{"value": [
          {"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "id": "p1",
           "displayName": "Sales", "createdDateTime": "2024-11-02T10:00:00Z",
           "assignments": [
             {"id": "a", "source": "direct", "target": {"@odata.type": "#microsoft.graph.groupAssignmentTarget",
               "groupId": "e34a8051-fb68-41fc-910c-114cefb5812a"}},
             {"id": "b", "source": "direct", "target": {"@odata.type": "#microsoft.graph.exclusionGroupAssignmentTarget",
               "groupId": "318da0e2-c5bc-494f-b1f5-a9a0135a3980"}}]},
          {"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "id": "p2",
           "displayName": "Default", "createdDateTime": "2023-01-01T00:00:00Z",
           "assignments": [{"id": "c", "target": {"@odata.type": "#microsoft.graph.allDevicesAssignmentTarget"}}]}
        ]}"##,
    )?;
    let tenant = dir.path().join("tenant.toml");
    std::fs::write(
        &tenant,
        "[[group]]\nname = \"Sales\"\nid = \"e34a8051-fb68-41fc-910c-114cefb5812a\"\n\
         rule = 'device.devicePhysicalIds -any (_ -eq \"[OrderId]:SALES\")'\n\
         [[profile]]\ngraph = \"export.json\"\nname = \"Sales\"\n\
         [[profile]]\ngraph = \"export.json\"\nname = \"default\"\n",
    )?;
    let (t, v) = lint_file(&tenant)?;
    assert_eq!(t.profiles[0].include, ["Sales"]);
    assert!(t.profiles[1].all_devices);
    // The exclusion's group id matches no group: located in the export.
    let f = v.findings.iter().find(|f| f.code == "assignment-unknown-group").ok_or("no finding")?;
    assert_eq!(f.path, "value[0].assignments[1].target.groupId");
    assert!(
        f.message.contains("no group of the tenant has id \"318da0e2-c5bc-494f-b1f5-a9a0135a3980\""),
        "{}",
        f.message
    );
    assert!(
        f.location.as_ref().is_some_and(|l| l.file.ends_with("export.json") && (l.line, l.column) == (8, 16)),
        "{f:?}"
    );
    // Without a name, a page of several profiles is ambiguous.
    std::fs::write(&tenant, "[[profile]]\ngraph = \"export.json\"\n")?;
    let message = lint_file(&tenant).map(|_| ()).map_err(|e| e.to_string());
    assert!(matches!(&message, Err(m) if m.contains("holds 2 profiles; add name")), "{message:?}");
    // Linted alone, the export checks its all-devices assignment, not its group ids.
    let (_, alone) = lint_file(&dir.path().join("export.json"))?;
    assert_eq!(alone.errors(), 0, "{:#?}", alone.findings);
    Ok(())
}

// ---------------------------------------------------------------- Edits

#[test]
fn group_tag_edits_rewrite_physical_ids_and_deletes_deregister() -> TestResult {
    let mut devices: Vec<Device> = serde_json::from_str(
        r#"[{"id": "a", "displayName": "PC-A", "physicalIds": ["[ZTDID]:z", "[OrderID]:OLD", "[PurchaseOrderId]:PO1", "[HWID]:h:1"]},
            {"id": "b", "displayName": "PC-B", "physicalIds": ["[ZTDId]:y", "[OrderId]:B", "[GID]:g:1"]}]"#,
    )?;
    let set = EditSet::parse(
        "[[edit]]\ndevice = \"z\"\ngroup_tag = \"NEW\"\n[[delete]]\ndevice = \"PC-B\"\n",
        Path::new("edits.toml"),
    )?;
    let resolved = set.resolve(&devices);
    assert!(!resolved.has_errors(), "{:#?}", resolved.findings);
    let applied = set.apply(&mut devices, &resolved);
    assert_eq!(applied[0].changes, ["group tag: \"OLD\" → \"NEW\""]);
    assert_eq!(
        devices[0].physical_ids.as_deref(),
        Some(
            &[
                "[ZTDID]:z".to_string(),
                "[PurchaseOrderId]:PO1".into(),
                "[HWID]:h:1".into(),
                "[OrderId]:NEW".into()
            ][..]
        )
    );
    assert_eq!(devices[1].physical_ids.as_deref(), Some(&["[GID]:g:1".to_string()][..]));
    Ok(())
}

#[test]
fn malformed_edit_files_name_the_key() {
    let message = EditSet::parse("[[edit]]\ndevice = \"PC-A\"\ngrouptag = \"X\"\n", Path::new("edits.toml"))
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert!(
        matches!(&message, Err(m) if m.starts_with("edits.toml:3:1: edit[0].grouptag: unknown field")),
        "{message:?}"
    );
}

// ------------------------------------------------ Fidelity to the documentation

/// autopilot-profiles.md, Profile settings: "Device name template … used at enrollment"; Microsoft Learn,
/// Manually register devices with Windows Autopilot, Edit Autopilot device attributes (device name). The
/// name is the device's at its next deployment: until then it stays in groups that test its current name.
#[test]
fn a_device_name_edit_is_pending_and_keeps_display_name_groups() -> TestResult {
    let tenant = checked_text(
        "[[group]]\nname = \"Lobby\"\nrule = 'device.displayName -startsWith \"KIOSK-\"'\n\
         [[profile]]\nname = \"Kiosk\"\ncreated = 2024-01-01T00:00:00Z\nconvert_all_targeted_devices = true\n\
         include = [\"Lobby\"]\n",
    )?;
    let mut devices: Vec<Device> =
        serde_json::from_str(r#"[{"id": "k", "displayName": "KIOSK-1", "physicalIds": ["[ZTDId]:z-k"]}]"#)?;
    let before = tenant.plan(&FleetIndex::from_devices(&devices)?)?;
    let set =
        EditSet::parse("[[edit]]\ndevice = \"KIOSK-1\"\ndevice_name = \"MTG-1\"\n", Path::new("e.toml"))?;
    let resolved = set.resolve(&devices);
    assert!(!resolved.has_errors(), "{:#?}", resolved.findings);
    let applied = set.apply(&mut devices, &resolved);
    assert_eq!(devices[0].display_name.as_deref(), Some("KIOSK-1"));
    assert_eq!(applied[0].pending, ["device name: \"KIOSK-1\" → \"MTG-1\" at the next deployment"]);
    let after = tenant.plan(&FleetIndex::from_devices(&devices)?)?;
    assert_eq!(after.devices[0].groups, [0]);
    assert!(whatif::compare(&before, &after).changes.is_empty());
    Ok(())
}

fn checked_text(text: &str) -> Result<CheckedTenant, Box<dyn Error>> {
    let v = validate(&parse(text)?);
    v.tenant.ok_or_else(|| format!("invalid tenant: {:#?}", v.findings).into())
}

/// Graph beta outOfBoxExperienceSetting: eulaHidden, privacySettingsHidden and escapeLinkHidden each have
/// "Default value is FALSE" (the page is shown); userType defaults to administrator, deviceUsageType to
/// singleUser.
#[test]
fn graph_profiles_omitting_oobe_flags_take_graphs_defaults() -> TestResult {
    let source = Source::new(
        "p.json",
        r##"[{"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Bare"},
            {"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "Std",
             "outOfBoxExperienceSetting": {"userType": "standard"}}]"##,
    );
    let (specs, _) = graph_json::read_profiles(&source)?;
    let bare = check_profile(&specs[0]).0.ok_or("bare profile invalid")?;
    let body = graph_json::to_graph(&bare);
    let oobe = &body["outOfBoxExperienceSetting"];
    assert_eq!(
        (oobe["eulaHidden"].as_bool(), oobe["privacySettingsHidden"].as_bool()),
        (Some(false), Some(false))
    );
    assert_eq!(
        (oobe["userType"].as_str(), oobe["deviceUsageType"].as_str()),
        (Some("administrator"), Some("singleUser"))
    );
    let std = check_profile(&specs[1]).0.ok_or("standard profile invalid")?;
    assert_eq!(
        graph_json::to_graph(&std)["outOfBoxExperienceSetting"]["escapeLinkHidden"].as_bool(),
        Some(false)
    );
    // A HoloLens profile has one mode: without deviceUsageType it is self-deploying, not singleUser.
    let holo = Source::new(
        "h.json",
        r##"{"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "H",
             "deviceType": "holoLens"}"##,
    );
    let (specs, _) = graph_json::read_profiles(&holo)?;
    let holo = check_profile(&specs[0]).0.ok_or("HoloLens profile invalid")?;
    assert_eq!(holo.mode(), EnrollmentMode::SelfDeploying);
    Ok(())
}

/// Microsoft Learn, Configure Autopilot profiles: "If a Language (Region) is selected, choose Yes to skip
/// the keyboard selection page." Neither the OS default nor user-select selects one.
#[test]
fn automatic_keyboard_needs_a_selected_language() -> TestResult {
    for (locale, fires) in [("os-default", true), ("user-select", true), ("nl-NL", false)] {
        let text = format!("[[profile]]\nname = \"P\"\nlocale = \"{locale}\"\nautomatic_keyboard = true\n");
        let v = validate(&parse(&text)?);
        assert_eq!(v.findings.iter().any(|f| f.code == "automatic-keyboard-language"), fires, "{locale}");
    }
    Ok(())
}

/// autopilot-profiles.md: "HoloLens ⇒ deployment mode Self-deploying"; a HoloLens profile without a mode
/// is a self-deploying one, not an error.
#[test]
fn a_hololens_profile_without_a_mode_is_self_deploying() -> TestResult {
    let tenant = checked_text("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nall_devices = true\n")?;
    assert_eq!(tenant.profiles[0].profile.mode(), EnrollmentMode::SelfDeploying);
    Ok(())
}

/// The vendor guide's console needs a placeholder enrollment user; Intune does not. Without
/// `[tenant] placeholder_enrollment_user` no enrollment-user check runs.
#[test]
fn enrollment_user_checks_need_the_tenant_to_ask_for_them() -> TestResult {
    let sd = "[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\n";
    let codes = |text: &str| -> Result<Vec<&'static str>, Box<dyn Error>> {
        Ok(validate(&parse(text)?).findings.iter().map(|f| f.code).collect())
    };
    assert!(codes(sd)?.iter().all(|c| !c.starts_with("enrollment-user")));
    let asked = format!("[tenant]\nplaceholder_enrollment_user = \"enroll@contoso.com\"\n{sd}");
    assert_eq!(codes(&asked)?, ["enrollment-user-missing"]);
    let other = format!("{asked}[enrollment_user]\nupn = \"other@contoso.com\"\n");
    assert!(codes(&other)?.contains(&"enrollment-user-prerequisite"));
    Ok(())
}

/// rule-language.md §6.4 [S6]: "a memberOf group cannot feed another memberOf group" (Microsoft Learn,
/// groups-dynamic-rule-member-of); a memberOf group reading itself is the shortest such chain.
#[test]
fn member_of_groups_reading_themselves_or_each_other_are_errors() -> TestResult {
    let (a, b) = ("0a0a0a0a-0000-4000-8000-00000000000a", "0b0b0b0b-0000-4000-8000-00000000000b");
    let group = |name: &str, id: &str, source: &str| {
        format!("[[group]]\nname = \"{name}\"\nid = \"{id}\"\nrule = \"device.memberOf -any (group.objectId -in ['{source}'])\"\n")
    };
    let count = |text: &str| -> Result<usize, Box<dyn Error>> {
        let v = validate(&parse(text)?);
        Ok(v.findings.iter().filter(|f| f.code == "group-member-of-chain" && f.is_error()).count())
    };
    assert_eq!(count(&group("A", a, a))?, 1, "itself");
    assert_eq!(count(&format!("{}{}", group("A", a, b), group("B", b, a)))?, 2, "each other");
    let plain = format!("[[group]]\nname = \"B\"\nid = \"{b}\"\nrule = 'device.deviceModel -eq \"X\"'\n");
    assert_eq!(count(&format!("{}{plain}", group("A", a, b)))?, 0, "a plain source group");
    Ok(())
}

/// autopilot-profiles.md, Entra device groups: "static (the admin picks devices) or dynamic". An assigned
/// group's members get its profile like a dynamic group's.
#[test]
fn assigned_groups_drive_profiles_like_dynamic_ones() -> TestResult {
    let plan = plan_of(
        &format!(
            "{GROUPS}[[group]]\nname = \"Lab\"\nmembers = [\"UNTAGGED\"]\n\
             [[profile]]\nname = \"Lab\"\ncreated = 2023-01-01T00:00:00Z\ninclude = [\"Lab\"]\n\
             [[profile]]\nname = \"Sales\"\ncreated = 2024-01-01T00:00:00Z\ninclude = [\"Sales\"]\nexclude = [\"Lab\"]\n"
        ),
        DEVICES,
    )?;
    assert_eq!(name(&plan, "untagged")?.as_deref(), Some("Lab"));
    assert_eq!(name(&plan, "sales-laptop")?.as_deref(), Some("Sales"));
    let lab = plan.groups.iter().position(|g| g == "Lab").ok_or("no Lab group")?;
    assert_eq!(plan.group_sizes[lab], 1);
    Ok(())
}

/// Microsoft Learn, Windows Autopilot for pre-provisioned deployment, Prerequisites: "An enrollment status
/// page (ESP) profile must be targeted to the device."
#[test]
fn pre_provisioning_without_a_device_esp_is_a_finding() -> TestResult {
    let fires = |text: &str| -> Result<bool, Box<dyn Error>> {
        Ok(validate(&parse(text)?).findings.iter().any(|f| f.code == "pre-provisioning-esp"))
    };
    let pp = "[[profile]]\nname = \"P\"\npre_provisioning = true\n";
    assert!(fires(pp)?);
    assert!(fires(&format!("[esp]\nshow_progress = false\n{pp}"))?);
    assert!(!fires(&format!("[esp]\nshow_progress = true\n{pp}"))?);
    assert!(!fires(&format!("{pp}[profile.esp]\ntimeout_minutes = 90\n"))?);
    Ok(())
}

/// Microsoft Learn, Manually register devices with Windows Autopilot, Delete Autopilot devices: "You can
/// delete Windows Autopilot devices that aren't enrolled in Intune"; enrolled ones are deleted from Intune
/// first.
#[test]
fn deleting_the_record_of_an_enrolled_device_is_refused() -> TestResult {
    let mut devices: Vec<Device> = serde_json::from_str(
        r#"[{"id": "m", "displayName": "PC-M", "managementType": "MDM", "physicalIds": ["[ZTDId]:z-m"]}]"#,
    )?;
    let set = EditSet::parse("[[delete]]\ndevice = \"PC-M\"\n", Path::new("e.toml"))?;
    let resolved = set.resolve(&devices);
    assert_eq!(resolved.findings.iter().map(|f| f.code).collect::<Vec<_>>(), ["delete-enrolled-device"]);
    assert_eq!(resolved.deletes, [None]);
    let set = EditSet::parse(
        "[[delete]]\ndevice = \"PC-M\"\nmanaged_device_deleted = true\n",
        Path::new("e.toml"),
    )?;
    let resolved = set.resolve(&devices);
    assert!(!resolved.has_errors());
    set.apply(&mut devices, &resolved);
    assert_eq!(
        (devices[0].management_type.as_deref(), devices[0].physical_ids.as_deref()),
        (None, Some(&[][..]))
    );
    Ok(())
}
