//! Registration end to end: a hardware-hash CSV checked
//! (`autopilot import --check`), planned (`plan --import`) and imported
//! into the fake Graph (`sync import`), safely re-run.

use std::error::Error;
use std::time::Duration;

use fleetlab::autopilot::register::read_csv;
use fleetlab::msgraph::apply::AuditLog;
use fleetlab::msgraph::fake::{FakeConfig, FakeServer};
use fleetlab::msgraph::import::{import, ImportOptions};
use fleetlab::msgraph::{sync, GraphClient};

use crate::sync::{client_config, contoso, pull};
use crate::sync_cli::{run, Ran};

type TestResult = Result<(), Box<dyn Error>>;

const CSV: &str = "scenarios/contoso/new-devices.csv";
const HEADER: &str = "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\n";

fn fleetlab(args: &[&str]) -> Result<Ran, Box<dyn Error>> {
    run(crate::sync_cli::fleetlab().args(args).env("FLEETLAB_CLIENT_SECRET", "test-secret"))
}

#[test]
fn the_bundled_csv_is_ready_and_a_broken_one_is_blamed_line_by_line() -> TestResult {
    let ok = fleetlab(&["autopilot", "import", CSV, "--check"])?;
    assert_eq!(ok.code, Some(0), "{}{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("4 device(s), 0 error(s)") && ok.stdout.contains("ready to import"),
        "{}",
        ok.stdout
    );

    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, format!("{HEADER}A1,,QUJD,,\nA1,,QUJE,,\nB2,,QU!D,,adele\n"))?;
    let ran = fleetlab(&["autopilot", "import", &bad.to_string_lossy(), "--check"])?;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let name = bad.display().to_string();
    for expected in [
        format!("{name}:2:1: error: the same serial is also on line 3 [duplicate-serial]"),
        format!("{name}:3:1: error: the same serial is also on line 2 [duplicate-serial]"),
        format!("{name}:4:7: error: the hardware hash is not Base64: '!'"),
        format!("{name}:4:11: error: assigned user \"adele\" is not a user principal name"),
    ] {
        assert!(ran.stdout.contains(&expected), "{expected}\n{}", ran.stdout);
    }
    let json = fleetlab(&["autopilot", "import", &name, "--check", "--format", "json"])?;
    let value: serde_json::Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(value["errors"], 4);

    let utf16 = dir.path().join("utf16.csv");
    std::fs::write(&utf16, b"\xFF\xFED\x00e\x00v\x00")?;
    let ran = fleetlab(&["autopilot", "import", &utf16.to_string_lossy(), "--check"])?;
    assert_eq!(ran.code, Some(2));
    assert!(ran.stderr.contains("UTF-16"), "{}", ran.stderr);
    let missing = fleetlab(&["autopilot", "import", "no/such.csv", "--check"])?;
    assert_eq!(missing.code, Some(2));
    Ok(())
}

#[test]
fn plan_import_shows_groups_and_profiles_before_upload_and_names_806() -> TestResult {
    let dir = tempfile::tempdir()?;
    // One device Autopilot registered already: named after its serial, with a [ZTDId].
    let devices = dir.path().join("devices.json");
    std::fs::write(
        &devices,
        r#"[{"id": "d1", "displayName": "R90ZQ8W1", "operatingSystem": "Windows", "accountEnabled": true,
             "physicalIds": ["[ZTDId]:0b4a3c2d-0000-0000-0000-000000000001"]}]"#,
    )?;
    let ran = fleetlab(&[
        "plan",
        "--tenant",
        "scenarios/contoso/tenant.toml",
        "--devices",
        &devices.to_string_lossy(),
        "--import",
        CSV,
    ])?;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let line = |serial: &str| ran.stdout.lines().find(|l| l.starts_with(serial)).unwrap_or("").to_string();
    assert!(line("5CG3310KLM").contains("Contoso Pre-provisioned"), "{}", ran.stdout);
    assert!(line("5CG3310KLM").contains("Autopilot - US-DT-ENG"), "{}", ran.stdout);
    assert!(line("MXL4120ZZ7").contains("Contoso Kiosk SD"), "{}", ran.stdout);
    assert!(line("PF3K9Q2B").contains("Contoso UD Entra"), "{}", ran.stdout);
    assert!(ran.stdout.contains("serial R90ZQ8W1 is already registered (device d1)"), "{}", ran.stdout);
    assert!(ran.stdout.contains("806 ZtdDeviceAlreadyAssigned"));
    assert!(ran.stdout.contains("3 device(s) to register, 1 already registered"), "{}", ran.stdout);
    Ok(())
}

fn fast_fake() -> Result<FakeServer, Box<dyn Error>> {
    let config = FakeConfig {
        import_delay: Duration::from_millis(300),
        other_tenant_serials: vec!["MXL4120ZZ7".into()],
        ..FakeConfig::default()
    };
    Ok(FakeServer::start(contoso()?, config, 0)?)
}

#[test]
fn sync_import_registers_reports_808_and_a_second_run_sends_nothing() -> TestResult {
    let server = fast_fake()?;
    let handle = server.handle();
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("t.db");
    pull(server.url(), &db, false)?;
    let audit = dir.path().join("audit.jsonl");
    let (db_s, audit_s) = (db.to_string_lossy().into_owned(), audit.to_string_lossy().into_owned());
    let args = |yes: bool| {
        let mut a = vec![
            "sync",
            "import",
            CSV,
            "--graph-url",
            server.url(),
            "--tenant-id",
            "contoso.onmicrosoft.com",
        ];
        a.extend([
            "--client-id",
            "sandbox",
            "--snapshot",
            &db_s,
            "--audit-log",
            &audit_s,
            "--poll-seconds",
            "1",
        ]);
        if yes {
            a.push("--yes");
        }
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let as_str = |v: &[String]| v.iter().map(String::as_str).collect::<Vec<_>>().join("\u{0}");
    let run = |v: Vec<String>| -> Result<Ran, Box<dyn Error>> {
        let joined = as_str(&v);
        fleetlab(&joined.split('\u{0}').collect::<Vec<_>>())
    };
    let dry = run(args(false))?;
    assert_eq!(dry.code, Some(2), "{}", dry.stderr);
    assert!(
        dry.stderr.contains("4 device(s) to import") && dry.stderr.contains("nothing was sent"),
        "{}",
        dry.stderr
    );
    assert!(handle.imports()?.is_empty());

    let ran = run(args(true))?;
    assert_eq!(ran.code, Some(2), "808 leaves one device unregistered: {}{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("808 ZtdDeviceAssignedToOtherTenant"), "{}", ran.stdout);
    assert!(ran.stdout.contains("3 registered, 1 not"), "{}", ran.stdout);
    let identities = handle.autopilot()?;
    for serial in ["5CG3310KLM", "PF3K9Q2B", "R90ZQ8W1"] {
        let found = identities.iter().find(|i| i["serialNumber"] == serial).ok_or(serial)?;
        let row = ran.stdout.lines().find(|l| l.contains(serial)).unwrap_or("");
        assert!(row.contains("complete"), "{}", ran.stdout);
        assert_ne!(found["id"], serde_json::Value::Null);
    }
    let tagged = identities.iter().find(|i| i["serialNumber"] == "5CG3310KLM").ok_or("no identity")?;
    assert_eq!(tagged["groupTag"], "US-DT-ENG");
    // The snapshot was pulled after the import: the new devices are in it.
    let snap = fleetlab::msgraph::Snapshot::open(&db)?;
    assert!(snap.autopilot_devices()?.iter().any(|d| d["serialNumber"] == "PF3K9Q2B"));
    drop(snap);

    let before = handle.stats().requests;
    let again = run(args(true))?;
    assert!(again.stdout.contains("already registered in the tenant"), "{}", again.stdout);
    assert!(
        again.stdout.contains("808 ZtdDeviceAssignedToOtherTenant")
            && again.stdout.contains("not sent again"),
        "{}",
        again.stdout
    );
    let posts =
        std::fs::read_to_string(&audit)?.lines().filter(|l| l.contains("\"phase\":\"sending\"")).count();
    assert_eq!(posts, 4, "the second run sent nothing new");
    assert!(handle.stats().requests > before);
    Ok(())
}

#[test]
fn the_same_hash_twice_in_a_batch_ends_in_ztd_device_duplicated() -> TestResult {
    let server = fast_fake()?;
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("dup.csv");
    std::fs::write(&csv, format!("{HEADER}DUP-1,,QUJDRA==,,\nDUP-2,,QUJDRA==,,\n"))?;
    let file = read_csv(&csv)?;
    assert!(!file.is_clean(), "the check catches it before upload");
    let client = GraphClient::new(client_config(server.url()))?;
    let runtime = sync::runtime()?;
    let mut log = AuditLog::open(&dir.path().join("audit.jsonl"))?;
    let options = ImportOptions { poll: Duration::from_millis(200), ..ImportOptions::default() };
    let outcomes =
        runtime.block_on(import(&client, &file.rows, &Default::default(), &mut log, options, &|_| {}))?;
    assert_eq!(outcomes[0].status, "complete", "{outcomes:?}");
    assert_eq!(outcomes[1].status, "error");
    assert!(outcomes[1].message.contains("ZtdDeviceDuplicated"), "{outcomes:?}");
    assert_eq!(server.handle().imports()?.len(), 1, "completed records are deleted, the one in error stays");
    Ok(())
}

mod never_panics {
    use proptest::prelude::*;

    fn csv_like() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            "Device Serial Number,Windows Product ID,Hardware Hash",
            ",Group Tag",
            ",Assigned User",
            "\n",
            "\r\n",
            ",",
            "\"",
            "QUJD",
            "==",
            "a@b.c",
            "5CG3310KLM",
            "\u{FEFF}",
            "é",
            "\t",
            " ",
        ]);
        prop::collection::vec(pieces, 0..60).prop_map(|p| p.concat().into_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn any_bytes_are_read_or_refused_without_panicking(
            bytes in prop_oneof![csv_like(), prop::collection::vec(any::<u8>(), 0..400)]
        ) {
            let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let path = dir.path().join("x.csv");
            std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Ok(file) = fleetlab::autopilot::register::read_csv(&path) {
                let lines = bytes.split(|&b| b == b'\n').count().max(1);
                for p in &file.problems {
                    prop_assert!(p.line >= 1 && p.line <= lines, "{p:?} in {lines} lines");
                    prop_assert!(p.column >= 1);
                }
                prop_assert!(file.rows.len() <= lines);
            }
        }
    }
}
