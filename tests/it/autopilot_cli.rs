//! `fleetlab lint` and `fleetlab plan`, run as real processes on the
//! bundled Contoso scenario: output shapes, locations, exit codes.

use std::error::Error;
use std::path::Path;

use serde_json::Value as Json;

type TestResult = Result<(), Box<dyn Error>>;

const TENANT: &str = "scenarios/contoso/tenant.toml";
const NEXT: &str = "scenarios/contoso/tenant-next.toml";
const EDITS: &str = "scenarios/contoso/edits.toml";
const DEVICES: &str = "scenarios/contoso/devices.json";

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

impl Output {
    fn json(&self) -> Result<Json, Box<dyn Error>> {
        serde_json::from_str(&self.stdout)
            .map_err(|e| format!("stdout is not JSON ({e}):\n{}", self.stdout).into())
    }
}

fn fleetlab(args: &[&str]) -> Result<Output, Box<dyn Error>> {
    let r = crate::util::run_args(args)?;
    Ok(Output { code: r.code, stdout: r.stdout, stderr: r.stderr })
}

fn temp_file(dir: &Path, name: &str, text: &str) -> Result<String, Box<dyn Error>> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.to_string_lossy().into_owned())
}

// ------------------------------------------------------------------ lint

#[test]
fn lint_contoso_reports_warnings_with_locations_and_exits_0() -> TestResult {
    let out = fleetlab(&["lint", TENANT])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let first =
        out.stdout.lines().find(|l| l.contains("scenarios/contoso/tenant.toml:")).ok_or("no finding")?;
    assert_eq!(
        first.split(": ").take(2).collect::<Vec<_>>(),
        ["scenarios/contoso/tenant.toml:89:1", "warning[name-template-serial-truncated]"]
    );
    assert!(
        out.stdout.contains("  --> profile[1].device_name_template (graph-api.md §4.1 [MD-profiles])"),
        "{out:?}"
    );
    assert!(out.stderr.contains("0 errors, 3 warnings (5 profiles, 28 groups, 7 apps)"), "{out:?}");
    // The bundled tenant lints clean of the removed warnings.
    for code in ["display-name-characters", "shared-user-type", "pre-provisioning-change-account-options"] {
        assert!(!out.stdout.contains(code), "{code}: {out:?}");
    }
    Ok(())
}

#[test]
fn lint_json_is_machine_readable() -> TestResult {
    let out = fleetlab(&["lint", TENANT, "--format", "json"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let report = out.json()?;
    assert_eq!(
        (report["valid"].as_bool(), report["errors"].as_u64(), report["warnings"].as_u64()),
        (Some(true), Some(0), Some(3))
    );
    let f = &report["findings"][1];
    assert_eq!(f["code"], "name-template-serial-truncated");
    assert_eq!(
        (f["file"].as_str(), f["line"].as_u64(), f["column"].as_u64()),
        (Some(TENANT), Some(89), Some(1))
    );
    assert_eq!(f["path"], "profile[1].device_name_template");
    assert_eq!(f["severity"], "warning");
    Ok(())
}

#[test]
fn lint_errors_exit_1_and_deny_warnings_makes_warnings_fatal() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bad = temp_file(
        dir.path(),
        "bad.toml",
        "[[profile]]\nname = \"Kiosk\"\nmode = \"self-deploying\"\npre_provisioning = true\n",
    )?;
    let out = fleetlab(&["lint", &bad])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.contains("bad.toml:4:1: error[pre-provisioning-self-deploying]"), "{out:?}");
    let out = fleetlab(&["lint", TENANT, "--deny-warnings"])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    Ok(())
}

#[test]
fn malformed_tenant_files_exit_2_naming_file_line_and_key() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bad = temp_file(
        dir.path(),
        "bad.toml",
        "[[profile]]\nname = \"P\"\n\n[[profile]]\nname = \"Q\"\nmode = \"kiosk\"\n",
    )?;
    let out = fleetlab(&["lint", &bad])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("bad.toml:6:8: profile[1].mode: unknown variant `kiosk`"), "{out:?}");
    let out = fleetlab(&["plan", "--tenant", &bad, "--devices", DEVICES])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    Ok(())
}

#[test]
fn lint_reads_graph_profile_json() -> TestResult {
    let out = fleetlab(&["lint", "scenarios/contoso/profiles/graph-export.json"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    // "AP-UserDriven-Sales": no documentation supports a hyphen warning.
    assert!(!out.stdout.contains("display-name-characters"), "{out:?}");
    // A Graph profile file cannot say which ESP targets its devices: no pre-provisioning-esp finding.
    assert!(!out.stdout.contains("pre-provisioning-esp"), "{out:?}");
    assert!(out.stdout.contains("--> value[1].deviceNameTemplate"), "{out:?}");
    Ok(())
}

#[test]
fn lint_checks_lists_the_catalogue() -> TestResult {
    let out = fleetlab(&["lint", "--checks", "--format", "json"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let list = out.json()?;
    let codes: Vec<&str> =
        list.as_array().ok_or("not a list")?.iter().filter_map(|c| c["code"].as_str()).collect();
    assert_eq!(codes.len(), fleetlab::autopilot::CATALOGUE.len());
    assert!(codes.contains(&"hololens-self-deploying"));
    let text = fleetlab(&["lint", "--checks"])?;
    assert!(text.stdout.starts_with("CODE"), "{text:?}");
    // Every check shows the document it comes from.
    for c in fleetlab::autopilot::CATALOGUE {
        assert!(!c.source.trim().is_empty(), "{}", c.code);
        let line = text.stdout.lines().find(|l| l.starts_with(&format!("{} ", c.code))).ok_or(c.code)?;
        assert!(line.ends_with(&format!("({})", c.source)), "{line}");
    }
    let removed = ["shared-user-type", "pre-provisioning-change-account-options", "edit-group-tag-length"];
    assert!(removed.iter().all(|r| !codes.contains(r)), "undocumented checks are gone: {codes:?}");
    Ok(())
}

#[test]
fn lint_writes_graph_bodies_and_reports_atomically() -> TestResult {
    let dir = tempfile::tempdir()?;
    let graph = dir.path().join("graph");
    let report = dir.path().join("lint.json");
    let out = fleetlab(&[
        "lint",
        TENANT,
        "--format",
        "json",
        "-o",
        &report.to_string_lossy(),
        "--graph-out",
        &graph.to_string_lossy(),
    ])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
    assert_eq!(saved["warnings"], 3);
    let mut names: Vec<String> = std::fs::read_dir(&graph)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "Contoso-HoloLens-SD.json",
            "Contoso-Hybrid-HQ.json",
            "Contoso-Kiosk-SD.json",
            "Contoso-Pre-provisioned.json",
            "Contoso-UD-Entra.json"
        ]
    );
    let body: Json = serde_json::from_str(&std::fs::read_to_string(graph.join("Contoso-Hybrid-HQ.json"))?)?;
    assert_eq!(body["@odata.type"], "#microsoft.graph.activeDirectoryWindowsAutopilotDeploymentProfile");
    assert_eq!(body["hardwareHashExtractionEnabled"], true);
    Ok(())
}

// ------------------------------------------------------------------ plan

#[test]
fn plan_table_lists_devices_profiles_and_a_summary() -> TestResult {
    let out = fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.starts_with("DEVICE "), "{out:?}");
    assert!(
        out.stdout.contains("401 devices, 194 registered with Autopilot: 194 with a profile, 0 without"),
        "{out:?}"
    );
    assert!(
        out.stdout.contains("By mode: user-driven 155, pre-provisioning 29, self-deploying 15."),
        "{out:?}"
    );
    let hololens = out.stdout.lines().find(|l| l.starts_with("HOLOLENS-N6PKXA")).ok_or("no HoloLens row")?;
    assert!(hololens.contains("Contoso HoloLens SD") && hololens.contains("self-deploying"), "{hololens}");
    // Unregistered devices appear only with --all.
    assert!(!out.stdout.contains("Daan's iPhone"));
    let all = fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--all"])?;
    assert!(all.stdout.contains("Daan's iPhone"));
    assert!(out.stderr.contains("3 warning(s)"), "{out:?}");
    Ok(())
}

#[test]
fn plan_json_and_csv_cover_every_device() -> TestResult {
    let out = fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--format", "json"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let plan = out.json()?;
    assert_eq!(plan["devices"].as_array().map(Vec::len), Some(401));
    assert_eq!(plan["summary"]["per_mode"]["self-deploying"], 15);
    let kiosk = plan["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["displayName"] == "CON-KSK-CZC1632"))
        .ok_or("no kiosk")?;
    assert_eq!(
        (kiosk["profile"].as_str(), kiosk["via"].as_str(), kiosk["via_group"].as_str()),
        (Some("Contoso Kiosk SD"), Some("group"), Some("Kiosks"))
    );
    let csv = fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--format", "csv"])?;
    let mut reader = csv::Reader::from_reader(csv.stdout.as_bytes());
    assert_eq!(reader.headers()?.get(4), Some("profile"));
    assert_eq!(reader.records().count(), 401);
    Ok(())
}

#[test]
fn plan_against_another_tenant_is_a_what_if() -> TestResult {
    let out = fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--against", NEXT])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("Contoso UD Entra → Contoso Pre-provisioned  user-driven → pre-provisioning"),
        "{out:?}"
    );
    assert!(out.stdout.contains("also matches 53 devices an older profile wins"), "{out:?}");
    assert!(out.stdout.contains("2 devices would get a profile for another device type"), "{out:?}");
    let json =
        fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--against", NEXT, "--format", "json"])?
            .json()?;
    assert_eq!((json["changed"].as_u64(), json["profile_changed"].as_u64()), (Some(90), Some(29)));
    Ok(())
}

#[test]
fn plan_with_edits_shows_the_edits_and_their_effect() -> TestResult {
    let out = fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--edits", EDITS])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    // The new name is pending until the next deployment; the device keeps its name meanwhile.
    assert!(out.stdout.contains("CON-KSK-CZC4676  group tag: \"KIOSK-LOBBY\" → \"\"; pending: device name: \"CON-KSK-CZC4676\" → \"CON-MTG-AMS01\" at the next deployment"), "{out:?}");
    assert!(out.stdout.contains("CON-KSK-CZC4676  Contoso Kiosk SD → Contoso UD Entra"), "{out:?}");
    assert!(out.stderr.contains("edits.toml:44:1: warning[edit-user-self-deploying]"), "{out:?}");
    let json =
        fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--edits", EDITS, "--format", "json"])?
            .json()?;
    assert_eq!(json["edits"].as_array().map(Vec::len), Some(7));
    assert_eq!(json["findings"][0]["code"], "edit-user-self-deploying");
    assert_eq!(json["changed"], 4);
    Ok(())
}

#[test]
fn plan_refuses_invalid_tenants_and_edits() -> TestResult {
    let dir = tempfile::tempdir()?;
    let bad = temp_file(
        dir.path(),
        "bad.toml",
        "[[profile]]\nname = \"H\"\ndevice_type = \"hololens\"\nmode = \"user-driven\"\n",
    )?;
    let out = fleetlab(&["plan", "--tenant", &bad, "--devices", DEVICES])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("error[hololens-self-deploying]"), "{out:?}");
    let edits = temp_file(dir.path(), "edits.toml", "[[edit]]\ndevice = \"TWIN-404\"\ngroup_tag = \"X\"\n")?;
    let out = fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--edits", &edits])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("edits.toml:2:1: error[edit-unknown-device]"), "{out:?}");
    let out =
        fleetlab(&["plan", "--tenant", TENANT, "--devices", DEVICES, "--edits", EDITS, "--against", NEXT])?;
    assert_eq!(out.code, Some(2), "--edits and --against together: {out:?}");
    Ok(())
}

#[test]
fn plan_writes_atomically() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("plan.csv");
    let out = fleetlab(&[
        "plan",
        "--tenant",
        TENANT,
        "--devices",
        DEVICES,
        "--format",
        "csv",
        "-o",
        &path.to_string_lossy(),
    ])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    assert!(std::fs::read_to_string(&path)?.starts_with("id,displayName,registered,status,profile"));
    Ok(())
}

#[test]
fn help_teaches_with_examples() -> TestResult {
    for cmd in ["lint", "plan"] {
        let out = fleetlab(&[cmd, "--help"])?;
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(out.stdout.contains("Examples:") && out.stdout.contains("Exit status:"), "{out:?}");
    }
    let top = fleetlab(&["--help"])?;
    assert!(top.stdout.contains("lint") && top.stdout.contains("plan"), "{top:?}");
    Ok(())
}

#[test]
fn plan_refuses_meaningless_flag_combinations_before_reading_any_file() -> TestResult {
    // No input exists: a refusal about the flags shows that nothing was read first.
    let (tenant, devices) = ("no-such-dir/tenant.toml", "no-such-dir/devices.json");
    let cases: [(&[&str], &str); 5] = [
        (&["--all", "--format", "json"], "--all adds unregistered devices to the table"),
        (&["--all", "--against", "no-such-dir/next.toml"], "a what-if or an import lists"),
        (&["--import", "no-such-dir/new.csv", "--format", "csv"], "--import prints a table or json"),
        (&["-o", "no-such-dir/devices.json"], "that is an input of this command"),
        (&["--edits", "no-such-dir/e.toml", "-o", "no-such-dir/e.toml"], "that is an input of this command"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["plan", "--tenant", tenant, "--devices", devices];
        args.extend_from_slice(extra);
        let out = fleetlab(&args)?;
        assert_eq!(out.code, Some(2), "{extra:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        assert!(out.stderr.contains(message), "{extra:?}: {out:?}");
        assert!(
            !out.stderr.contains("tenant.toml"),
            "the tenant was read before the flags were checked: {out:?}"
        );
    }
    // Without the bad flag the same command line reaches the tenant file.
    let out = fleetlab(&["plan", "--tenant", tenant, "--devices", devices, "--format", "json"])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("no-such-dir/tenant.toml"), "{out:?}");
    Ok(())
}
