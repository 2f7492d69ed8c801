//! `fleetlab sync plan` and `sync apply` against the fake Graph: apply, then
//! apply again (a no-op), the audit log, and a second All Devices
//! assignment refused at plan time.

use std::error::Error;
use std::path::Path;
use std::process::{Command, Stdio};

use fleetlab::msgraph::fake::{FakeConfig, FakeServer};
use serde_json::Value;

use crate::sync::{contoso, pull, root};

type TestResult = Result<(), Box<dyn Error>>;

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn fleetlab(args: &[&str], db: &Path) -> Result<Ran, Box<dyn Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetlab"))
        .args(args)
        .arg("--snapshot")
        .arg(db)
        .env("NO_COLOR", "1")
        .env("FLEETLAB_CLIENT_SECRET", "test-secret")
        .stdin(Stdio::null())
        .output()?;
    Ok(Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

const TENANT: &str = r#"
[tenant]
name = "Contoso"
primary_domain = "contoso.com"
group_files = ["groups.toml"]

[[profile]]
name = "Contoso UD Entra"
description = "User-driven Entra join for knowledge workers."
join = "entra"
mode = "user-driven"
user_type = "standard"
device_name_template = "CON-LT-%SERIAL%"
include = ["Autopilot - Netherlands", "Autopilot - US-LT-SALES"]

[[profile]]
name = "AP-UserDriven-Sales"
description = "User-driven Entra join for Sales"
join = "entra"
mode = "user-driven"
user_type = "standard"
include = ["Autopilot - UK-LT-OPS"]
"#;

fn setup(dir: &Path, tenant: &str) -> Result<(), Box<dyn Error>> {
    std::fs::copy(root().join("scenarios/contoso/groups.toml"), dir.join("groups.toml"))?;
    std::fs::write(dir.join("tenant.toml"), tenant)?;
    Ok(())
}

#[test]
fn apply_writes_the_plan_and_a_second_apply_is_a_no_op() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    setup(dir.path(), TENANT)?;
    // An Autopilot device to re-tag.
    let device = handle
        .devices()?
        .into_iter()
        .find(|d| {
            d["physicalIds"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|p| p.as_str().is_some_and(|s| s.starts_with("[ZTDId]"))))
                && d["deviceId"].is_string()
        })
        .ok_or("no Autopilot device")?;
    let id = device["id"].as_str().ok_or("no id")?.to_string();
    std::fs::write(
        dir.path().join("edits.toml"),
        format!("[[edit]]\ndevice = \"{id}\"\ngroup_tag = \"PLAN-TEST\"\n"),
    )?;
    let tenant = dir.path().join("tenant.toml");
    let edits = dir.path().join("edits.toml");
    let audit = dir.path().join("audit.jsonl");
    let (t, e, a) = (tenant.to_string_lossy(), edits.to_string_lossy(), audit.to_string_lossy());

    let plan = fleetlab(&["sync", "plan", "--tenant", &t, "--edits", &e], &db)?;
    assert_eq!(plan.code, Some(0), "{}{}", plan.stdout, plan.stderr);
    for expected in [
        "+ create profile \"Contoso UD Entra\"",
        "- unassign \"AP-UserDriven-Sales\" from group \"e34a8051",
        "+ assign \"AP-UserDriven-Sales\" to group \"Autopilot - UK-LT-OPS\"",
        "~ update profile \"AP-UserDriven-Sales\"",
        "~ update Autopilot device",
        "profile \"AP-Kiosk-SelfDeploy\" is not in the tenant file: left alone",
    ] {
        assert!(plan.stdout.contains(expected), "{expected:?} missing from\n{}", plan.stdout);
    }
    let unassign = plan.stdout.find("- unassign").ok_or("no unassign")?;
    let assign = plan.stdout.find("+ assign").ok_or("no assign")?;
    assert!(unassign < assign, "deletions come first:\n{}", plan.stdout);

    let connection =
        ["--graph-url", server.url(), "--tenant-id", "contoso.onmicrosoft.com", "--client-id", "sandbox"];
    let mut args = vec!["sync", "apply", "--tenant", &t, "--edits", &e, "--audit-log", &a];
    args.extend(connection);
    let refused = fleetlab(&args, &db)?;
    assert_eq!(refused.code, Some(2), "no --yes, no writes: {}", refused.stderr);
    assert!(refused.stderr.contains("--yes"));
    assert_eq!(handle.profiles()?.len(), 2);

    args.push("--yes");
    let applied = fleetlab(&args, &db)?;
    assert_eq!(applied.code, Some(0), "{}{}", applied.stdout, applied.stderr);
    let log = std::fs::read_to_string(&audit)?;
    let lines: Vec<Value> = log.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert!(lines.len() >= 6, "{log}");
    assert!(lines.iter().all(|l| l["ok"] == Value::Bool(true)), "{log}");
    let profiles = handle.profiles()?;
    let created =
        profiles.iter().find(|p| p["displayName"] == "Contoso UD Entra").ok_or("profile not created")?;
    assert_eq!(created["assignments"].as_array().map(Vec::len), Some(2));
    let retagged =
        handle.devices()?.into_iter().find(|d| d["id"] == Value::String(id.clone())).ok_or("device gone")?;
    assert!(retagged["physicalIds"].to_string().contains("[OrderId]:PLAN-TEST"), "{retagged}");

    let again = fleetlab(&args, &db)?;
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert_eq!(std::fs::read_to_string(&audit)?, log, "the second apply wrote nothing");
    Ok(())
}

#[test]
fn a_second_all_devices_assignment_is_refused_at_plan_time() -> TestResult {
    let server = FakeServer::start(contoso()?, FakeConfig::default(), 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    setup(dir.path(), &TENANT.replace("include = [\"Autopilot - UK-LT-OPS\"]", "all_devices = true"))?;
    let t = dir.path().join("tenant.toml");
    let plan = fleetlab(&["sync", "plan", "--tenant", &t.to_string_lossy()], &db)?;
    assert_eq!(plan.code, Some(1), "{}{}", plan.stdout, plan.stderr);
    assert!(plan.stderr.contains("All Devices"), "{}", plan.stderr);
    assert!(plan.stderr.contains("17fa8111-be93-44d7-b6e6-e0310c3ae72d"), "{}", plan.stderr);
    assert!(plan.stdout.is_empty());
    Ok(())
}
