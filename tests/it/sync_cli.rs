//! `fleetlab sync` and `fleetlab sandbox serve` as real processes: a pull
//! killed halfway loses nothing, and the client secret never shows up in
//! any output, log or file.

use std::error::Error;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fleetlab::msgraph::fake::{FakeConfig, FakeServer, Faults};
use fleetlab::msgraph::Snapshot;
use serde_json::json;

use crate::sync::{assert_matches, fleet, pull};

type TestResult = Result<(), Box<dyn Error>>;

// The CLI runner lives in `util`; these names stay for the tests that use them.
pub(crate) use crate::util::{fleetlab, run, Ran};

fn sync_pull(url: &str, db: &Path) -> Command {
    let mut cmd = fleetlab();
    cmd.args([
        "sync",
        "pull",
        "--graph-url",
        url,
        "--tenant-id",
        "contoso.onmicrosoft.com",
        "--client-id",
        "sandbox",
    ])
    .arg("--snapshot")
    .arg(db)
    .env("FLEETLAB_CLIENT_SECRET", "test-secret");
    cmd
}

#[test]
fn a_pull_killed_midway_keeps_the_old_snapshot_and_the_next_one_completes() -> TestResult {
    let server = FakeServer::start(fleet(6_000)?, FakeConfig { page_size: 50, ..FakeConfig::default() }, 0)?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    pull(server.url(), &db, false)?;
    let before = Snapshot::open(&db)?.devices()?;
    assert_eq!(before.len(), 6_000);

    // The tenant moves on, and the network gets slow.
    let ids: Vec<String> =
        before.iter().take(5).filter_map(|d| d["id"].as_str().map(str::to_string)).collect();
    for id in &ids {
        handle.delete_device(id)?;
    }
    handle.put_device(&json!({"id": "k-1", "displayName": "AFTER-KILL", "operatingSystem": "Windows"}))?;
    handle.set_faults(Faults { latency_ms: Some((20, 40)), ..Faults::default() })?;

    let mut child = sync_pull(server.url(), &db)
        .args(["--full", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let started = Instant::now();
    loop {
        let staged: u64 = Snapshot::open(&db)?.status()?.staged.iter().map(|c| c.items).sum();
        if staged >= 500 {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) || child.try_wait()?.is_some() {
            let _ = child.kill();
            return Err(format!("the pull never got halfway (staged {staged})").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    child.wait()?;

    let snap = Snapshot::open(&db)?;
    assert_eq!(snap.devices()?, before, "the previous snapshot is intact");
    let status = snap.status()?;
    assert!(!status.staged.is_empty(), "the interrupted pull is staged");
    let text = run(fleetlab().args(["sync", "status", "--snapshot"]).arg(&db))?;
    assert!(text.stdout.contains("interrupted pull"), "{}", text.stdout);

    handle.set_faults(Faults::default())?;
    let resumed = run(&mut sync_pull(server.url(), &db))?;
    assert_eq!(resumed.code, Some(0), "{}{}", resumed.stdout, resumed.stderr);
    assert!(resumed.stdout.contains("resuming an interrupted pull"), "{}", resumed.stdout);
    assert_matches(&handle, &db)?;
    assert!(Snapshot::open(&db)?.status()?.staged.is_empty());

    // Profiles export one file each, Graph beta JSON with assignments.
    let out = dir.path().join("profiles");
    let export = run(fleetlab()
        .args(["sync", "export", "-o", "-", "--snapshot"])
        .arg(&db)
        .arg("--profiles")
        .arg(&out))?;
    assert_eq!(export.code, Some(0), "{}", export.stderr);
    assert_eq!(export.stdout.lines().count(), 6_000 - 5 + 1);
    let kiosk: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        out.join("17fa8111-be93-44d7-b6e6-e0310c3ae72d.json"),
    )?)?;
    assert_eq!(kiosk["@odata.type"], json!("#microsoft.graph.azureADWindowsAutopilotDeploymentProfile"));
    assert_eq!(
        kiosk["assignments"][0]["target"]["@odata.type"],
        json!("#microsoft.graph.allDevicesAssignmentTarget")
    );
    Ok(())
}

#[test]
fn the_secret_never_appears_in_any_output_log_or_file() -> TestResult {
    const SECRET: &str = "Zq9~sEcReT~7731-never-print-me";
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, format!("{SECRET}\n"))?;

    let mut serve = fleetlab()
        .args(["sandbox", "serve", "--scenario", "scenarios/contoso", "--port", "0"])
        .args(["--require-secret-env", "SANDBOX_SECRET", "--throttle", "0.2", "--retry-after", "0"])
        .env("SANDBOX_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut url = String::new();
    BufReader::new(serve.stdout.take().ok_or("no stdout")?).read_line(&mut url)?;
    let url = url.trim().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url:?}");

    let mut outputs = Vec::new();
    let base = |cmd: &mut Command| {
        cmd.args(["--graph-url", &url, "--tenant-id", "contoso.onmicrosoft.com", "--client-id", "sandbox"])
            .arg("--snapshot")
            .arg(&db);
    };
    let mut ok = fleetlab();
    ok.args(["sync", "pull", "--format", "json"]).env("FLEETLAB_CLIENT_SECRET", SECRET);
    base(&mut ok);
    let first = run(&mut ok)?;
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    outputs.push(first);
    let mut from_file = fleetlab();
    from_file.args(["sync", "pull"]).arg("--secret-file").arg(&secret_file);
    base(&mut from_file);
    let second = run(&mut from_file)?;
    assert_eq!(second.code, Some(0), "{}", second.stderr);
    outputs.push(second);
    let mut wrong = fleetlab();
    wrong.args(["sync", "pull"]).env("FLEETLAB_CLIENT_SECRET", format!("{SECRET}-wrong"));
    base(&mut wrong);
    let refused = run(&mut wrong)?;
    assert_eq!(refused.code, Some(2));
    assert!(refused.stderr.contains("AADSTS7000215"), "{}", refused.stderr);
    outputs.push(refused);
    let on_the_command_line = run(fleetlab().args(["sync", "pull", "--secret", SECRET]))?;
    assert_eq!(on_the_command_line.code, Some(2), "there is no option that takes the secret itself");
    outputs.push(Ran { stderr: String::new(), ..on_the_command_line });
    outputs.push(run(fleetlab().args(["sync", "status", "--format", "json", "--snapshot"]).arg(&db))?);
    outputs.push(run(fleetlab().args(["sync", "export", "--member-of", "--snapshot"]).arg(&db))?);

    serve.kill()?;
    serve.wait()?;
    let mut serve_err = String::new();
    serve.stderr.take().ok_or("no stderr")?.read_to_string(&mut serve_err)?;

    for out in &outputs {
        assert!(
            !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
            "secret printed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
    }
    assert!(!serve_err.contains(SECRET));
    for entry in std::fs::read_dir(dir.path())? {
        let path = entry?.path();
        if path == secret_file {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "secret stored in {}",
            path.display()
        );
    }
    let status: serde_json::Value = serde_json::from_str(&outputs[4].stdout)?;
    assert_eq!(status["devices"], json!(401));
    Ok(())
}

#[test]
fn a_pull_without_intune_permission_warns_exits_0_and_status_names_the_permission() -> TestResult {
    let roles = vec!["Device.Read.All".to_string(), "GroupMember.Read.All".to_string()];
    let server = FakeServer::start(fleet(300)?, FakeConfig { roles, ..FakeConfig::default() }, 0)?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("tenant.db");

    let out = run(&mut sync_pull(server.url(), &db))?;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for resource in ["autopilot", "profiles"] {
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("warning: {resource}: skipped")))
            .ok_or_else(|| format!("no warning for {resource}: {}", out.stderr))?;
        assert!(line.contains("HTTP 403"), "{line}");
        assert!(
            line.contains("add the DeviceManagementServiceConfig.Read.All application permission"),
            "{line}"
        );
    }
    assert!(out.stdout.contains("pulled "), "{}", out.stdout);
    assert_eq!(Snapshot::open(&db)?.status()?.devices, 300);

    let mut status = fleetlab();
    status.args(["sync", "status", "--snapshot"]).arg(&db);
    let shown = run(&mut status)?;
    assert_eq!(shown.code, Some(0), "{}", shown.stderr);
    assert!(shown.stdout.contains("skipped by the last pull"), "{}", shown.stdout);
    assert!(
        shown
            .stdout
            .contains("autopilot: skipped, GET /beta/deviceManagement/windowsAutopilotDeviceIdentities"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("DeviceManagementServiceConfig.Read.All"), "{}", shown.stdout);
    let mut json_status = fleetlab();
    json_status.args(["sync", "status", "--format", "json", "--snapshot"]).arg(&db);
    let value: serde_json::Value = serde_json::from_str(&run(&mut json_status)?.stdout)?;
    assert_eq!(value["skipped"].as_array().map(Vec::len), Some(2), "{value}");
    assert_eq!(value["skipped"][0]["permission"], "DeviceManagementServiceConfig.Read.All");

    // --strict: the same partial pull is applied, and the exit status says partial.
    let strict = run(sync_pull(server.url(), &db).args(["--strict", "--quiet"]))?;
    assert_eq!(strict.code, Some(3), "{}", strict.stderr);
    assert!(strict.stderr.contains("warning: autopilot: skipped"), "{}", strict.stderr);
    assert!(strict.stderr.contains("partial pull (2 resource(s) skipped) and --strict"), "{}", strict.stderr);
    let json_out = run(sync_pull(server.url(), &db).args(["--strict", "--format", "json"]))?;
    assert_eq!(json_out.code, Some(3), "{}", json_out.stderr);
    let report: serde_json::Value = serde_json::from_str(&json_out.stdout)?;
    assert_eq!(report["skipped"][1]["resource"], "profiles", "{report}");

    // Fully permitted again: --strict passes and the record is cleared.
    let full = FakeServer::start(fleet(300)?, FakeConfig::default(), 0)?;
    let ok = run(sync_pull(full.url(), &db).args(["--strict", "--full"]))?;
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert!(!ok.stderr.contains("warning"), "{}", ok.stderr);
    assert!(!run(&mut status)?.stdout.contains("skipped"));
    Ok(())
}

#[test]
fn pull_help_documents_the_partial_exit_status() -> TestResult {
    let out = run(fleetlab().args(["sync", "pull", "--help"]))?;
    assert_eq!(out.code, Some(0));
    assert!(out.stdout.contains("--strict"), "{}", out.stdout);
    assert!(out.stdout.contains("3 with --strict"), "{}", out.stdout);
    Ok(())
}
