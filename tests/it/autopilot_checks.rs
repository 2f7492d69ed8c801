//! Every Autopilot check, triggered and silent.
//!
//! Each case gives an input that breaks exactly the rule under test and a
//! valid neighbour that differs as little as possible and passes with no
//! error at all. `every_check_has_a_case` fails when a check is added to
//! the catalogue without a case here.

use std::error::Error;
use std::path::Path;

use fleetlab::autopilot::{self, lint_file, validate, EditSet, Finding, Tenant, CATALOGUE};
use fleetlab::fleet::FleetIndex;
use fleetlab::inventory::Device;

type TestResult = Result<(), Box<dyn Error>>;

/// What a case checks.
enum Input {
    /// A tenant file; a valid `[enrollment_user]` is appended when the text has none.
    Tenant(String),
    /// A tenant file as is.
    Raw(String),
    /// Graph profile JSON.
    Graph(&'static str),
    /// An edit file, against [`EDIT_TENANT`] and [`EDIT_DEVICES`].
    Edits(String),
}

fn tenant(text: impl Into<String>) -> Input {
    Input::Tenant(text.into())
}
fn raw(text: &str) -> Input {
    Input::Raw(text.to_string())
}
fn edits(text: impl Into<String>) -> Input {
    Input::Edits(text.into())
}

const ENROLLMENT_USER: &str =
    "\n[enrollment_user]\nupn = \"enroll@contoso.com\"\nemail = \"enroll@contoso.com\"\n\
                               synced = true\nenabled = true\ncan_enroll_devices = true\nin_mdm = true\n";

/// Profiles by group tag: STD (default, all devices), HYB (hybrid), KIOSK (self-deploying).
const EDIT_TENANT: &str = r#"
[[group]]
name = "Hybrid"
rule = 'device.devicePhysicalIds -any (_ -eq "[OrderId]:HYB")'
[[group]]
name = "Kiosk"
rule = 'device.devicePhysicalIds -any (_ -eq "[OrderId]:KIOSK")'
[[profile]]
name = "Standard"
created = 2023-01-01T00:00:00Z
all_devices = true
[[profile]]
name = "Hybrid"
created = 2022-01-01T00:00:00Z
join = "hybrid"
include = ["Hybrid"]
[[profile]]
name = "Kiosk"
created = 2024-01-01T00:00:00Z
mode = "self-deploying"
include = ["Kiosk"]
"#;

const EDIT_DEVICES: &str = r#"[
  {"id": "dev-a", "deviceId": "did-a", "displayName": "PC-A", "physicalIds": ["[ZTDId]:ztd-a", "[OrderId]:STD"]},
  {"id": "dev-b", "displayName": "PC-B", "physicalIds": ["[ZTDId]:ztd-b", "[OrderId]:HYB"]},
  {"id": "dev-k", "displayName": "KIOSK-1", "physicalIds": ["[ZTDId]:ztd-k", "[OrderId]:KIOSK"]},
  {"id": "dev-t1", "displayName": "TWIN", "physicalIds": ["[ZTDId]:ztd-t1"]},
  {"id": "dev-t2", "displayName": "TWIN", "physicalIds": ["[ZTDId]:ztd-t2"]},
  {"id": "dev-n", "displayName": "BYOD-1", "operatingSystem": "Windows"},
  {"id": "dev-m", "displayName": "PC-M", "managementType": "MDM", "physicalIds": ["[ZTDId]:ztd-m", "[OrderId]:STD"]}
]"#;

const MO_A: &str = "0a0a0a0a-0000-4000-8000-00000000000a";
const MO_B: &str = "0b0b0b0b-0000-4000-8000-00000000000b";
const MO_C: &str = "0c0c0c0c-0000-4000-8000-00000000000c";

/// A plain dynamic group (A) and a memberOf group (B) that reads it.
const MEMBER_OF_BASE: &str = "[[group]]\nname = \"A\"\nid = \"0a0a0a0a-0000-4000-8000-00000000000a\"\n\
    rule = 'device.deviceModel -eq \"X\"'\n[[group]]\nname = \"B\"\nid = \"0b0b0b0b-0000-4000-8000-00000000000b\"\n\
    rule = \"device.memberOf -any (group.objectId -in ['0a0a0a0a-0000-4000-8000-00000000000a'])\"\n";

fn findings(input: &Input) -> Result<Vec<Finding>, Box<dyn Error>> {
    match input {
        Input::Tenant(text) => {
            let mut text = text.clone();
            if !text.contains("[enrollment_user]") {
                text.push_str(ENROLLMENT_USER);
            }
            Ok(validate(&Tenant::parse(&text, Path::new("tenant.toml"))?).findings)
        }
        Input::Raw(text) => Ok(validate(&Tenant::parse(text, Path::new("tenant.toml"))?).findings),
        Input::Graph(json) => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("profiles.json");
            std::fs::write(&path, json)?;
            Ok(lint_file(&path)?.1.findings)
        }
        Input::Edits(text) => {
            let checked = validate(&Tenant::parse(EDIT_TENANT, Path::new("tenant.toml"))?)
                .tenant
                .ok_or("the edit tenant is invalid")?;
            let mut devices: Vec<Device> = serde_json::from_str(EDIT_DEVICES)?;
            let set = EditSet::parse(text, Path::new("edits.toml"))?;
            let resolved = set.resolve(&devices);
            set.apply(&mut devices, &resolved);
            let after = checked.plan(&FleetIndex::from_devices(&devices)?)?;
            let mut out = resolved.findings.clone();
            out.extend(set.check_against(&resolved, &after));
            Ok(out)
        }
    }
}

fn assert_fires(code: &str, input: &Input) -> TestResult {
    let found = findings(input)?;
    let hit = found.iter().find(|f| f.code == code);
    assert!(hit.is_some(), "{code} did not fire; found {:#?}", found);
    if let Some(f) = hit {
        assert!(!f.message.is_empty() && !f.path.is_empty() && !f.source.is_empty(), "{f:?}");
        if !matches!(input, Input::Graph(_)) {
            assert!(f.location.is_some(), "{code} has no location: {f:?}");
        }
    }
    Ok(())
}

fn assert_silent(code: &str, input: &Input) -> TestResult {
    let found = findings(input)?;
    assert!(found.iter().all(|f| f.code != code), "{code} fired on its valid neighbour: {found:#?}");
    assert!(found.iter().all(|f| !f.is_error()), "the valid neighbour of {code} has errors: {found:#?}");
    Ok(())
}

macro_rules! cases {
    ($($name:ident: $code:literal => $bad:expr, $good:expr;)*) => {
        $(
            mod $name {
                use super::*;

                #[test]
                fn triggers() -> TestResult {
                    assert_fires($code, &$bad)
                }

                #[test]
                fn is_silent_on_a_valid_neighbour() -> TestResult {
                    assert_silent($code, &$good)
                }
            }
        )*

        const COVERED: &[&str] = &[$($code),*];
    };
}

fn many(n: usize, f: impl Fn(usize) -> String) -> String {
    (0..n).map(f).collect()
}

cases! {
    display_name_required: "display-name-required" =>
        tenant("[[profile]]\nname = \" \"\n"),
        tenant("[[profile]]\nname = \"Standard\"\n");
    display_name_too_long: "display-name-too-long" =>
        tenant(format!("[[profile]]\nname = \"{}\"\n", "x".repeat(201))),
        tenant(format!("[[profile]]\nname = \"{}\"\n", "x".repeat(200)));
    // No documentation supports a hyphen warning: "AP-Sales" is a valid neighbour.
    display_name_characters: "display-name-characters" =>
        tenant("[[profile]]\nname = \"AP+Sales\"\n"),
        tenant("[[profile]]\nname = \"AP-Sales\"\ndescription = \"User-driven (Sales)\"\n");
    display_name_offline_prefix: "display-name-offline-prefix" =>
        tenant("[[profile]]\nname = \"OfflineAutopilotprofile-7f3c\"\n"),
        tenant("[[profile]]\nname = \"Offline Autopilot profile\"\n");
    description_too_long: "description-too-long" =>
        tenant(format!("[[profile]]\nname = \"P\"\ndescription = \"{}\"\n", "d".repeat(1501))),
        tenant(format!("[[profile]]\nname = \"P\"\ndescription = \"{}\"\n", "d".repeat(1500)));
    // autopilot-profiles.md: "HoloLens ⇒ deployment mode Self-deploying", so no mode means self-deploying.
    hololens_self_deploying: "hololens-self-deploying" =>
        tenant("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nmode = \"user-driven\"\n"),
        tenant("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\n");
    hololens_entra_join: "hololens-entra-join" =>
        tenant("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nmode = \"self-deploying\"\njoin = \"hybrid\"\n"),
        tenant("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nmode = \"self-deploying\"\njoin = \"entra\"\n");
    hololens_pre_provisioning: "hololens-pre-provisioning" =>
        tenant("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nmode = \"self-deploying\"\npre_provisioning = true\n"),
        tenant("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nmode = \"self-deploying\"\npre_provisioning = false\n");
    hololens_convert_devices: "hololens-convert-devices" =>
        tenant("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nmode = \"self-deploying\"\nconvert_all_targeted_devices = true\n"),
        tenant("[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nmode = \"self-deploying\"\nconvert_all_targeted_devices = false\n");
    hybrid_self_deploying: "hybrid-self-deploying" =>
        tenant("[[profile]]\nname = \"P\"\njoin = \"hybrid\"\nmode = \"self-deploying\"\n"),
        tenant("[[profile]]\nname = \"P\"\njoin = \"hybrid\"\nmode = \"user-driven\"\n");
    pre_provisioning_self_deploying: "pre-provisioning-self-deploying" =>
        tenant("[[profile]]\nname = \"P\"\nmode = \"self-deploying\"\npre_provisioning = true\n"),
        tenant("[[profile]]\nname = \"P\"\nmode = \"user-driven\"\npre_provisioning = true\n");
    attestation_virtual_machine: "attestation-virtual-machine" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_type = \"virtual-machine\"\npre_provisioning = true\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_type = \"virtual-machine\"\n");
    // Self-deploying hides the licence terms: stating "hide" agrees with the mode.
    license_terms_user_driven: "license-terms-user-driven" =>
        tenant("[[profile]]\nname = \"P\"\nmode = \"self-deploying\"\nlicense_terms = \"show\"\n"),
        tenant("[[profile]]\nname = \"P\"\nmode = \"self-deploying\"\nlicense_terms = \"hide\"\n");
    privacy_settings_user_driven: "privacy-settings-user-driven" =>
        tenant("[[profile]]\nname = \"P\"\nmode = \"self-deploying\"\nprivacy_settings = \"show\"\n"),
        tenant("[[profile]]\nname = \"P\"\nmode = \"self-deploying\"\nprivacy_settings = \"hide\"\n");
    change_account_options_standard_user: "change-account-options-standard-user" =>
        tenant("[[profile]]\nname = \"P\"\nuser_type = \"administrator\"\nchange_account_options = \"show\"\n"),
        tenant("[[profile]]\nname = \"P\"\nuser_type = \"standard\"\nchange_account_options = \"show\"\n");
    // Microsoft Learn, Configure Autopilot profiles: "If a Language (Region) is selected, choose Yes to
    // skip the keyboard selection page"; user-select selects none.
    automatic_keyboard_language: "automatic-keyboard-language" =>
        tenant("[[profile]]\nname = \"P\"\nlocale = \"user-select\"\nautomatic_keyboard = true\n"),
        tenant("[[profile]]\nname = \"P\"\nlocale = \"nl-NL\"\nautomatic_keyboard = true\n");
    locale_format: "locale-format" =>
        tenant("[[profile]]\nname = \"P\"\nlocale = \"english\"\n"),
        tenant("[[profile]]\nname = \"P\"\nlocale = \"sr-Latn-RS\"\n");
    skip_connectivity_check_entra: "skip-connectivity-check-entra" =>
        tenant("[[profile]]\nname = \"P\"\njoin = \"entra\"\nskip_connectivity_check = true\n"),
        tenant("[[profile]]\nname = \"P\"\njoin = \"hybrid\"\nskip_connectivity_check = true\n");
    name_template_hybrid: "name-template-hybrid" =>
        tenant("[[profile]]\nname = \"P\"\njoin = \"hybrid\"\ndevice_name_template = \"HQ-%RAND:5%\"\n"),
        tenant("[[profile]]\nname = \"P\"\njoin = \"entra\"\ndevice_name_template = \"HQ-%RAND:5%\"\n");
    name_template_character: "name-template-character" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"LAPTOP_%RAND:4%\"\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"LAPTOP-%RAND:4%\"\n");
    name_template_macro: "name-template-macro" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"HQ-%DATE%\"\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"HQ-%SERIAL%\"\n");
    // Only the upper-case spelling is documented; nothing says %serial% fails: a warning, not an error.
    name_template_macro_case: "name-template-macro-case" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"HQ-%serial%\"\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"HQ-%SERIAL%\"\n");
    // Microsoft Learn, Windows Autopilot for pre-provisioned deployment, Prerequisites: "An enrollment
    // status page (ESP) profile must be targeted to the device."
    pre_provisioning_esp: "pre-provisioning-esp" =>
        tenant("[[profile]]\nname = \"P\"\npre_provisioning = true\n"),
        tenant("[esp]\nshow_progress = true\n[[profile]]\nname = \"P\"\npre_provisioning = true\n");
    name_template_too_long: "name-template-too-long" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"ACME-WORKSTATION-%RAND:3%\"\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"ACME-WS-%RAND:3%\"\n");
    name_template_all_digits: "name-template-all-digits" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"%RAND:15%\"\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"K%RAND:14%\"\n");
    name_template_serial_digits: "name-template-serial-digits" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"%SERIAL%\"\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"S%SERIAL%\"\n");
    name_template_serial_truncated: "name-template-serial-truncated" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"CON-LT-%SERIAL%\"\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"HQ-%SERIAL%\"\n");
    name_template_multiple_serial: "name-template-multiple-serial" =>
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"A%SERIAL%%SERIAL%\"\n"),
        tenant("[[profile]]\nname = \"P\"\ndevice_name_template = \"A%SERIAL%\"\n");
    esp_blocking_apps_limit: "esp-blocking-apps-limit" =>
        tenant(format!(
            "[esp]\nblocking_apps = [{}]\n{}",
            many(101, |i| format!("\"App {i}\",")),
            many(101, |i| format!("[[app]]\nname = \"App {i}\"\nkind = \"win32\"\n"))
        )),
        tenant(format!(
            "[esp]\nblocking_apps = [{}]\n{}",
            many(100, |i| format!("\"App {i}\",")),
            many(101, |i| format!("[[app]]\nname = \"App {i}\"\nkind = \"win32\"\n"))
        ));
    esp_blocking_app_unknown: "esp-blocking-app-unknown" =>
        tenant("[[profile]]\nname = \"P\"\n[profile.esp]\nblocking_apps = [\"Contoso VPM\"]\n[[app]]\nname = \"Contoso VPN\"\nkind = \"win32\"\n"),
        tenant("[[profile]]\nname = \"P\"\n[profile.esp]\nblocking_apps = [\"contoso vpn\"]\n[[app]]\nname = \"Contoso VPN\"\nkind = \"win32\"\n");
    esp_quality_updates_blocking: "esp-quality-updates-blocking" =>
        tenant("[esp]\ninstall_quality_updates = true\nblock_device_use = false\n"),
        tenant("[esp]\ninstall_quality_updates = true\nblock_device_use = true\n");
    app_msi_win32_mix: "app-msi-win32-mix" =>
        tenant("[[app]]\nname = \"Inventory client\"\nkind = \"msi\"\n[[app]]\nname = \"VPN\"\nkind = \"win32\"\n"),
        tenant("[[app]]\nname = \"Inventory client\"\nkind = \"msi\"\ntarget = \"user\"\n[[app]]\nname = \"VPN\"\nkind = \"win32\"\n");
    duplicate_app_name: "duplicate-app-name" =>
        tenant("[[app]]\nname = \"VPN\"\nkind = \"win32\"\n[[app]]\nname = \"vpn\"\nkind = \"store\"\n"),
        tenant("[[app]]\nname = \"VPN\"\nkind = \"win32\"\n[[app]]\nname = \"VPN client\"\nkind = \"store\"\n");
    profile_limit: "profile-limit" =>
        tenant(many(351, |i| format!("[[profile]]\nname = \"P {i}\"\n"))),
        tenant(many(350, |i| format!("[[profile]]\nname = \"P {i}\"\n")));
    duplicate_profile_name: "duplicate-profile-name" =>
        tenant("[[profile]]\nname = \"Sales\"\n[[profile]]\nname = \"SALES\"\n"),
        tenant("[[profile]]\nname = \"Sales\"\n[[profile]]\nname = \"Sales NL\"\n");
    duplicate_group_name: "duplicate-group-name" =>
        tenant("[[group]]\nname = \"Kiosks\"\nrule = 'device.deviceOSType -eq \"Windows\"'\n[[group]]\nname = \"KIOSKS\"\nrule = 'device.deviceOSType -eq \"Windows\"'\n"),
        tenant("[[group]]\nname = \"Kiosks\"\nrule = 'device.deviceOSType -eq \"Windows\"'\n[[group]]\nname = \"Kiosks NL\"\nrule = 'device.deviceOSType -eq \"Windows\"'\n");
    all_devices_multiple: "all-devices-multiple" =>
        tenant("[[profile]]\nname = \"A\"\nall_devices = true\n[[profile]]\nname = \"B\"\nall_devices = true\n"),
        tenant("[[profile]]\nname = \"A\"\nall_devices = true\n[[profile]]\nname = \"B\"\nall_devices = false\n");
    all_devices_exclusion: "all-devices-exclusion" =>
        tenant("[[group]]\nname = \"G\"\nrule = 'device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")'\n[[profile]]\nname = \"A\"\nall_devices = true\nexclude = [\"G\"]\n"),
        tenant("[[group]]\nname = \"G\"\nrule = 'device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")'\n[[group]]\nname = \"H\"\nrule = 'device.devicePhysicalIds -any (_ -eq \"[OrderId]:H\")'\n[[profile]]\nname = \"A\"\ninclude = [\"G\"]\nexclude = [\"H\"]\n");
    assignment_unknown_group: "assignment-unknown-group" =>
        tenant("[[group]]\nname = \"Kiosks\"\nrule = 'device.devicePhysicalIds -any (_ -eq \"[OrderId]:K\")'\n[[profile]]\nname = \"A\"\ninclude = [\"Kiosk\"]\n"),
        tenant("[[group]]\nname = \"Kiosks\"\nrule = 'device.devicePhysicalIds -any (_ -eq \"[OrderId]:K\")'\n[[profile]]\nname = \"A\"\ninclude = [\"kiosks\"]\n");
    assignment_include_exclude: "assignment-include-exclude" =>
        tenant("[[group]]\nname = \"G\"\nrule = 'device.devicePhysicalIds -any (_ -eq \"[OrderId]:G\")'\n[[profile]]\nname = \"A\"\ninclude = [\"G\"]\nexclude = [\"G\"]\n"),
        tenant("[[group]]\nname = \"G\"\nrule = 'device.devicePhysicalIds -any (_ -eq \"[OrderId]:G\")'\n[[profile]]\nname = \"A\"\ninclude = [\"G\"]\n");
    group_rule_invalid: "group-rule-invalid" =>
        tenant("[[group]]\nname = \"G\"\nrule = '''device.deviceOSType -eq'''\n"),
        tenant("[[group]]\nname = \"G\"\nrule = '''device.deviceOSType -eq \"Windows\"'''\n");
    group_membership: "group-membership" =>
        tenant("[[group]]\nname = \"Lab\"\nrule = 'device.deviceModel -eq \"X\"'\nmembers = [\"dev-a\"]\n"),
        tenant("[[group]]\nname = \"Lab\"\nmembers = [\"dev-a\"]\n");
    // rule-language.md §6.4 [S6]: a memberOf group cannot feed another memberOf group.
    group_member_of_chain: "group-member-of-chain" =>
        tenant(format!("{MEMBER_OF_BASE}[[group]]\nname = \"C\"\nid = \"{MO_C}\"\nrule = \"device.memberOf -any (group.objectId -in ['{MO_B}'])\"\n")),
        tenant(format!("{MEMBER_OF_BASE}[[group]]\nname = \"C\"\nid = \"{MO_C}\"\nrule = \"device.memberOf -any (group.objectId -in ['{MO_A}'])\"\n"));
    group_rule_warning: "group-rule-warning" =>
        tenant("[[group]]\nname = \"G\"\nrule = 'device.accountEnabled -eq \"true\"'\n"),
        tenant("[[group]]\nname = \"G\"\nrule = 'device.accountEnabled -eq true'\n");
    group_no_autopilot_attribute: "group-no-autopilot-attribute" =>
        tenant("[[group]]\nname = \"HoloLens\"\nrule = 'device.deviceModel -eq \"HoloLens 2\"'\n[[profile]]\nname = \"A\"\ninclude = [\"HoloLens\"]\n"),
        tenant("[[group]]\nname = \"HoloLens\"\nrule = '(device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")) -and (device.deviceModel -eq \"HoloLens 2\")'\n[[profile]]\nname = \"A\"\ninclude = [\"HoloLens\"]\n");
    group_unknown_profile_name: "group-unknown-profile-name" =>
        tenant("[[group]]\nname = \"G\"\nrule = 'device.enrollmentProfileName -eq \"Sales profile\"'\n[[profile]]\nname = \"Sales\"\ninclude = [\"G\"]\n"),
        tenant("[[group]]\nname = \"G\"\nrule = 'device.enrollmentProfileName -eq \"sales\"'\n[[profile]]\nname = \"Sales\"\ninclude = [\"G\"]\n");
    // The placeholder user is the vendor console's requirement (autopilot-profiles.md, Prerequisites):
    // only a tenant that says its MDM needs one is checked.
    enrollment_user_missing: "enrollment-user-missing" =>
        raw("[tenant]\nplaceholder_enrollment_user = \"enroll@contoso.com\"\n[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\n"),
        raw("[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\n");
    enrollment_user_prerequisite: "enrollment-user-prerequisite" =>
        raw("[tenant]\nprimary_domain = \"contoso.com\"\nplaceholder_enrollment_user = \"enroll@fabrikam.com\"\n[enrollment_user]\nupn = \"enroll@fabrikam.com\"\nemail = \"enroll@fabrikam.com\"\nsynced = true\nenabled = true\ncan_enroll_devices = true\nin_mdm = true\n[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\n"),
        raw("[tenant]\nprimary_domain = \"contoso.com\"\nplaceholder_enrollment_user = \"enroll@contoso.com\"\n[enrollment_user]\nupn = \"enroll@contoso.com\"\nemail = \"enroll@contoso.com\"\nsynced = true\nenabled = true\ncan_enroll_devices = true\nin_mdm = true\n[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\n");
    enrollment_user_unconfirmed: "enrollment-user-unconfirmed" =>
        raw("[tenant]\nplaceholder_enrollment_user = \"enroll@contoso.com\"\n[enrollment_user]\nupn = \"enroll@contoso.com\"\n[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\n"),
        raw("[enrollment_user]\nupn = \"enroll@contoso.com\"\n[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\n");
    graph_deprecated_conflict: "graph-deprecated-conflict" =>
        Input::Graph(r##"{"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "UD",
            "outOfBoxExperienceSetting": {"eulaHidden": true}, "outOfBoxExperienceSettings": {"hideEULA": false}}"##),
        Input::Graph(r##"{"@odata.type": "#microsoft.graph.azureADWindowsAutopilotDeploymentProfile", "displayName": "UD",
            "outOfBoxExperienceSetting": {"eulaHidden": true}, "outOfBoxExperienceSettings": {"hideEULA": true}}"##);
    edit_unknown_device: "edit-unknown-device" =>
        edits("[[edit]]\ndevice = \"PC-Z\"\ngroup_tag = \"STD\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"STD\"\n");
    edit_ambiguous_device: "edit-ambiguous-device" =>
        edits("[[edit]]\ndevice = \"TWIN\"\ngroup_tag = \"STD\"\n"),
        edits("[[edit]]\ndevice = \"dev-t1\"\ngroup_tag = \"STD\"\n");
    edit_not_registered: "edit-not-registered" =>
        edits("[[edit]]\ndevice = \"BYOD-1\"\ngroup_tag = \"STD\"\n"),
        edits("[[edit]]\ndevice = \"ztd-a\"\ngroup_tag = \"STD\"\n");
    edit_duplicate_device: "edit-duplicate-device" =>
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"STD\"\n[[delete]]\ndevice = \"did-a\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"STD\"\n[[delete]]\ndevice = \"dev-t2\"\n");
    edit_empty: "edit-empty" =>
        edits("[[edit]]\ndevice = \"PC-A\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"\"\n");
    edit_friendly_name_without_user: "edit-friendly-name-without-user" =>
        edits("[[edit]]\ndevice = \"PC-A\"\nfriendly_name = \"Sanne Bakker\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\nuser = \"sanne.bakker@contoso.com\"\nfriendly_name = \"Sanne Bakker\"\n");
    edit_device_name_unset: "edit-device-name-unset" =>
        edits("[[edit]]\ndevice = \"PC-A\"\ndevice_name = \"\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ndevice_name = \"PC-A2\"\n");
    edit_device_name_invalid: "edit-device-name-invalid" =>
        edits("[[edit]]\ndevice = \"PC-A\"\ndevice_name = \"PC-%RAND:4%\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ndevice_name = \"PC-4711\"\n");
    edit_device_name_hybrid: "edit-device-name-hybrid" =>
        edits("[[edit]]\ndevice = \"PC-B\"\ndevice_name = \"PC-B2\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ndevice_name = \"PC-A2\"\n");
    edit_group_tag_control: "edit-group-tag-control" =>
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"NL\\tFIN\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"NL-FIN\"\n");
    edit_group_tag_quote: "edit-group-tag-quote" =>
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"O'Brien\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"OBrien\"\n");
    edit_group_tag_whitespace: "edit-group-tag-whitespace" =>
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"STD \"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\ngroup_tag = \"STD\"\n");
    // Microsoft Learn, Manually register devices with Windows Autopilot, Delete Autopilot devices:
    // "You can delete Windows Autopilot devices that aren't enrolled in Intune".
    delete_enrolled_device: "delete-enrolled-device" =>
        edits("[[delete]]\ndevice = \"PC-M\"\n"),
        edits("[[delete]]\ndevice = \"PC-M\"\nmanaged_device_deleted = true\n");
    edit_user_upn: "edit-user-upn" =>
        edits("[[edit]]\ndevice = \"PC-A\"\nuser = \"sanne bakker\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\nuser = \"sanne.bakker@contoso.com\"\n");
    edit_user_hybrid: "edit-user-hybrid" =>
        edits("[[edit]]\ndevice = \"PC-B\"\nuser = \"sanne.bakker@contoso.com\"\n"),
        edits("[[edit]]\ndevice = \"PC-B\"\ngroup_tag = \"STD\"\nuser = \"sanne.bakker@contoso.com\"\n");
    edit_user_self_deploying: "edit-user-self-deploying" =>
        edits("[[edit]]\ndevice = \"KIOSK-1\"\nuser = \"facilities@contoso.com\"\n"),
        edits("[[edit]]\ndevice = \"PC-A\"\nuser = \"facilities@contoso.com\"\n");
}

#[test]
fn every_check_has_a_case() {
    let missing: Vec<&str> = CATALOGUE.iter().map(|c| c.code).filter(|c| !COVERED.contains(c)).collect();
    assert!(missing.is_empty(), "checks without a trigger/silent case: {missing:?}");
    let unknown: Vec<&&str> = COVERED.iter().filter(|c| autopilot::checks::by_code(c).is_none()).collect();
    assert!(unknown.is_empty(), "cases for codes not in the catalogue: {unknown:?}");
}

#[test]
fn findings_point_at_the_blamed_key() -> TestResult {
    let text = "[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\n\npre_provisioning = true\n";
    let found = findings(&tenant(text))?;
    let f = found.iter().find(|f| f.code == "pre-provisioning-self-deploying").ok_or("no finding")?;
    assert_eq!(f.path, "profile[0].pre_provisioning");
    let l = f.location.as_ref().ok_or("no location")?;
    assert_eq!((l.file.to_string_lossy().as_ref(), l.line, l.column), ("tenant.toml", 5, 1));
    assert_eq!(f.to_string().split(": ").next(), Some("tenant.toml:5:1"));
    Ok(())
}

#[test]
fn rule_errors_point_inside_the_rule() -> TestResult {
    let text = "[[group]]\nname = \"G\"\nrule = '''device.deviceOSType –eq \"Windows\"'''\n";
    let found = findings(&tenant(text))?;
    let f = found.iter().find(|f| f.code == "group-rule-invalid").ok_or("no finding")?;
    let l = f.location.as_ref().ok_or("no location")?;
    // The en dash is character 21 of the rule, which starts at column 11.
    assert_eq!((l.line, l.column), (3, 31));
    assert!(
        f.message.contains("invalid-character") || f.message.contains("unexpected character"),
        "{}",
        f.message
    );
    Ok(())
}
