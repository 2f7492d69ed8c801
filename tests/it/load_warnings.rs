//! Inventory warnings are the library's ([`fleetlab::fleet::Inventory`]):
//! the CLI prints them, `serve` reports them in `GET /api/v1/status`, and
//! both see the same ones for the same file.

use std::error::Error;
use std::path::Path;

use fleetlab::serve::{Loaded, Sources};
use serde_json::json;

use crate::util::run_args;

type TestResult = Result<(), Box<dyn Error>>;

/// The `warning[code]: message` lines of a CLI run, as `(code, message)`.
fn cli_warnings(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("warning["))
        .filter_map(|l| l.split_once("]: "))
        .map(|(code, message)| (code.to_string(), message.to_string()))
        .collect()
}

fn write(dir: &Path, name: &str, value: &serde_json::Value) -> Result<String, Box<dyn Error>> {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string())?;
    Ok(path.to_str().ok_or("a UTF-8 temporary path")?.to_string())
}

#[test]
fn serve_and_the_cli_see_the_same_inventory_warnings() -> TestResult {
    let dir = tempfile::tempdir()?;
    let devices = write(
        dir.path(),
        "devices.json",
        &json!([
            {"id": "d1", "displayName": "PC-1", "operatingSystem": "Windows", "deviceOSType": "Windows"},
            {"id": "d2", "displayName": "PC-2", "operatingSystem": "Windows"},
            {"id": "d1", "displayName": "PC-1 again", "operatingSystem": "Windows"}
        ]),
    )?;
    let users = write(
        dir.path(),
        "users.json",
        &json!([{"id": "u1", "displayName": "Ada"}, {"id": "u1", "displayName": "Ada again"}]),
    )?;
    // A rule on a property every record carries, so no unread-property
    // warning (it depends on the rule, and serve has none at load).
    let rule = r#"device.displayName -startsWith "PC""#;
    let device_run = run_args(&["eval", "--devices", &devices, "--rule", rule])?;
    assert_eq!(device_run.code, Some(0), "{}", device_run.stderr);
    assert_eq!(device_run.stdout, "d2\nd1\n", "the later d1 is used, in its place");
    let device_warnings = cli_warnings(&device_run.stderr);
    let codes: Vec<&str> = device_warnings.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["duplicate-id", "rule-style-field"], "{}", device_run.stderr);
    let user_run = run_args(&["eval", "--users", &users, "--rule", r#"user.displayName -startsWith "Ada""#])?;
    assert_eq!((user_run.code, user_run.stdout.as_str()), (Some(0), "u1\n"), "{}", user_run.stderr);
    let user_warnings = cli_warnings(&user_run.stderr);
    assert_eq!(user_warnings.len(), 1, "{}", user_run.stderr);

    let sources = Sources { devices: devices.into(), users: Some(users.into()), ..Sources::default() };
    let loaded = Loaded::load(&sources)?;
    let expected: Vec<String> = device_warnings.into_iter().chain(user_warnings).map(|(_, m)| m).collect();
    assert_eq!(loaded.warnings, expected);
    assert_eq!(loaded.index.len(), 2);
    assert_eq!(loaded.users.len(), 1);
    Ok(())
}
