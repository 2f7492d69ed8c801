//! `fleetlab flow` as a real process: show, check, walk, exit codes.

use std::error::Error;

type TestResult = Result<(), Box<dyn Error>>;

const TENANT: &str = "scenarios/contoso/tenant.toml";
const DEVICES: &str = "scenarios/contoso/devices.json";

fn fleetlab(args: &[&str]) -> Result<(Option<i32>, String, String), Box<dyn Error>> {
    let r = crate::util::run_args(args)?;
    Ok((r.code, r.stdout, r.stderr))
}

#[test]
fn check_contoso_tenant() -> TestResult {
    let (code, stdout, stderr) = fleetlab(&["flow", "check", "--tenant", TENANT])?;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.lines().count() >= 5, "{stdout}");
    assert!(stdout.lines().all(|l| l.starts_with("ok")), "{stdout}");
    Ok(())
}

#[test]
fn check_builtin_modes() -> TestResult {
    let (code, stdout, _) = fleetlab(&["flow", "check"])?;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("device-preparation") && stdout.contains("HoloLens"));
    Ok(())
}

#[test]
fn show_formats() -> TestResult {
    let (code, dot, _) = fleetlab(&[
        "flow",
        "show",
        "--tenant",
        TENANT,
        "--profile",
        "Contoso Pre-provisioned",
        "--format",
        "dot",
    ])?;
    assert_eq!(code, Some(0));
    assert!(dot.starts_with("digraph") && dot.contains("style=dashed, color=red"));
    let (code, mermaid, _) = fleetlab(&[
        "flow",
        "show",
        "--mode",
        "self-deploying",
        "--device-type",
        "holoLens",
        "--format",
        "mermaid",
    ])?;
    assert_eq!(code, Some(0));
    assert!(mermaid.contains("HL.DetectWindow"));
    let (code, text, _) = fleetlab(&["flow", "show", "--mode", "user-driven", "--join", "hybrid"])?;
    assert_eq!(code, Some(0));
    assert!(text.contains("HybridReboot"));
    Ok(())
}

#[test]
fn show_rejects_impossible_profiles_and_unknown_names() -> TestResult {
    let (code, _, stderr) =
        fleetlab(&["flow", "show", "--mode", "user-driven", "--device-type", "holoLens"])?;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("HoloLens"), "{stderr}");
    let (code, _, stderr) = fleetlab(&["flow", "show", "--tenant", TENANT, "--profile", "No such profile"])?;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("no profile"), "{stderr}");
    let (code, _, _) = fleetlab(&["flow", "show", "--tenant", TENANT, "--mode", "user-driven"])?;
    assert_eq!(code, Some(2));
    Ok(())
}

#[test]
fn walk_a_contoso_hololens_with_a_transient_tpm_failure() -> TestResult {
    let (code, stdout, stderr) = fleetlab(&[
        "flow",
        "walk",
        "--tenant",
        TENANT,
        "--devices",
        DEVICES,
        "--device",
        "HOLOLENS-1XUCDR",
        "--fail",
        "tpm-transient",
        "--retry",
    ])?;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("TpmError{transient}"), "{stdout}");
    assert!(stdout.contains("end: SignInScreen"), "{stdout}");
    assert!(stdout.contains("phase timings:"));
    Ok(())
}

#[test]
fn walk_json_and_unregistered_devices() -> TestResult {
    let (code, stdout, _) = fleetlab(&[
        "flow",
        "walk",
        "--mode",
        "user-driven",
        "--fail",
        "esp-timeout",
        "--retry",
        "--format",
        "json",
    ])?;
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&stdout)?;
    assert!(json["walk"]["minutes"].as_f64().unwrap_or(0.0) > 60.0);
    let (code, stdout, stderr) =
        fleetlab(&["flow", "walk", "--tenant", TENANT, "--devices", DEVICES, "--device", "NLUTR-WS1116"])?;
    assert_eq!(code, Some(0));
    assert!(stderr.contains("not registered"), "{stderr}");
    assert!(stdout.contains("end: StandardOobe"), "{stdout}");
    let (code, _, _) =
        fleetlab(&["flow", "walk", "--tenant", TENANT, "--devices", DEVICES, "--device", "nope"])?;
    assert_eq!(code, Some(2));
    Ok(())
}

/// `flow walk --help`: "it never retries or resets unless asked". The red screen after 0x80180005 offers
/// Retry and Reset only, so a walk given neither stops on it.
#[test]
fn walk_takes_no_recovery_option_unasked() -> TestResult {
    let (code, stdout, stderr) =
        fleetlab(&["flow", "walk", "--mode", "user-driven", "--technician", "--fail", "preprov-disallowed"])?;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("end: technician/PreProvError{landing}"), "{stdout}");
    assert!(!stdout.contains("--retry-->") && !stdout.contains("--reset-->"), "{stdout}");
    let (_, help, _) = fleetlab(&["flow", "walk", "--help"])?;
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("never retries or resets unless asked"), "{help}");
    Ok(())
}

/// Microsoft Learn, Configure Autopilot profiles, Autopilot profile priority: with a profile assigned to
/// all devices, a registered device always has one, so `flow show` draws no 815 escape — for a tenant
/// that has one (Contoso's "Contoso UD Entra") or with `--all-devices-profile`.
#[test]
fn show_leaves_out_the_815_escape_beside_an_all_devices_profile() -> TestResult {
    let edge = "profile-not-assigned";
    let (_, plain, _) = fleetlab(&["flow", "show", "--mode", "user-driven", "--format", "text"])?;
    assert!(plain.contains(edge), "{plain}");
    let (_, flagged, _) =
        fleetlab(&["flow", "show", "--mode", "user-driven", "--format", "text", "--all-devices-profile"])?;
    assert!(!flagged.contains(edge), "{flagged}");
    let (code, kiosk, _) =
        fleetlab(&["flow", "show", "--tenant", TENANT, "--profile", "Contoso Kiosk SD", "--format", "text"])?;
    assert_eq!(code, Some(0));
    assert!(!kiosk.contains(edge), "{kiosk}");
    Ok(())
}
