//! `fleetlab generate` end to end: a generated fleet loads in `fleetlab eval`
//! and the rule count agrees with a count taken by reading the file here.

use std::error::Error;
use std::process::Command;

use serde_json::Value as Json;

type TestResult = Result<(), Box<dyn Error>>;

fn fleetlab(args: &[&str]) -> Result<std::process::Output, Box<dyn Error>> {
    Ok(Command::new(env!("CARGO_BIN_EXE_fleetlab")).args(args).env("NO_COLOR", "1").output()?)
}

#[test]
fn generated_fleet_evaluates_with_the_expected_autopilot_count() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("fleet.jsonl");
    let path_str = path.to_str().ok_or("temp path is not UTF-8")?;

    let gen = fleetlab(&["generate", "--devices", "2000", "--seed", "7", "-o", path_str])?;
    assert_eq!(gen.status.code(), Some(0), "{}", String::from_utf8_lossy(&gen.stderr));
    assert!(gen.stdout.is_empty(), "generate -o wrote to stdout");
    // Written atomically: the file and nothing else (no temp file left over).
    let entries: Vec<_> = std::fs::read_dir(dir.path())?.collect::<Result<_, _>>()?;
    assert_eq!(entries.len(), 1);

    // The independent count: string operators ignore case, so "[ZTDID]:…"
    // and "[ZTDid]:…" count as well.
    let text = std::fs::read_to_string(&path)?;
    let mut expected = Vec::new();
    let mut total = 0;
    for line in text.lines() {
        let device: Json = serde_json::from_str(line)?;
        total += 1;
        let autopilot = device.get("physicalIds").and_then(Json::as_array).is_some_and(|ids| {
            ids.iter().filter_map(Json::as_str).any(|id| id.to_lowercase().starts_with("[ztdid]"))
        });
        if autopilot {
            expected.push(device.get("id").and_then(Json::as_str).ok_or("device without id")?.to_string());
        }
    }
    assert_eq!(total, 2000);
    assert!(!expected.is_empty() && expected.len() < total, "{} of {total} are Autopilot", expected.len());

    let eval = fleetlab(&[
        "eval",
        "--devices",
        path_str,
        "--rule",
        r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#,
    ])?;
    assert_eq!(eval.status.code(), Some(0), "{}", String::from_utf8_lossy(&eval.stderr));
    let ids: Vec<String> = String::from_utf8(eval.stdout)?.lines().map(str::to_string).collect();
    assert_eq!(ids.len(), expected.len());
    assert_eq!(ids, expected);

    // Same seed, same bytes, whether written to a file or to stdout.
    let again = fleetlab(&["generate", "--devices", "2000", "--seed", "7"])?;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(again.stdout, text.as_bytes());
    Ok(())
}
