//! The `fleetlab` command line, run as a real process.
//!
//! Contract (src/cli/mod.rs): stdout carries only the requested result,
//! diagnostics go to stderr; exit 0 on success, 1 when a rule is invalid, 2
//! when an input cannot be read or the command line is wrong; `-o FILE`
//! writes atomically.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value as Json;

type TestResult = Result<(), Box<dyn Error>>;

const DEVICES: &str = "scenarios/contoso/devices.json";
const GROUPS: &str = "scenarios/contoso/groups.toml";
const EXPECTED: &str = "scenarios/contoso/expected.json";

/// What a finished `fleetlab` process left behind.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Result<Json, Box<dyn Error>> {
        serde_json::from_str(&self.stdout)
            .map_err(|e| format!("stdout is not JSON ({e}):\n{}", self.stdout).into())
    }
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn fleetlab_with_stdin(args: &[&str], stdin: Option<&str>) -> Result<Output, Box<dyn Error>> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleetlab"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().ok_or("no stdin pipe")?;
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    Ok(Output {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout)?,
        stderr: String::from_utf8(out.stderr)?,
    })
}

fn fleetlab(args: &[&str]) -> Result<Output, Box<dyn Error>> {
    fleetlab_with_stdin(args, None)
}

fn read(path: &str) -> Result<String, Box<dyn Error>> {
    Ok(std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))?)
}

/// expected.json: group name → member ids in inventory order.
fn expected() -> Result<BTreeMap<String, Vec<String>>, Box<dyn Error>> {
    Ok(serde_json::from_str(&read(EXPECTED)?)?)
}

/// groups.toml, read independently of fleetlab: (name, rule) in file order.
fn groups() -> Result<Vec<(String, String)>, Box<dyn Error>> {
    let table: toml::Table = read(GROUPS)?.parse()?;
    let list = table.get("group").and_then(|g| g.as_array()).ok_or("groups.toml has no [[group]]")?;
    let mut out = Vec::new();
    for g in list {
        let name = g.get("name").and_then(|v| v.as_str()).ok_or("group without name")?;
        let rule = g.get("rule").and_then(|v| v.as_str()).ok_or("group without rule")?;
        out.push((name.to_string(), rule.to_string()));
    }
    Ok(out)
}

/// All device ids of the inventory, in order.
fn device_ids() -> Result<Vec<String>, Box<dyn Error>> {
    let page: Json = serde_json::from_str(&read(DEVICES)?)?;
    let value = page.get("value").and_then(|v| v.as_array()).ok_or("devices.json has no value array")?;
    value
        .iter()
        .map(|d| {
            d.get("id").and_then(|v| v.as_str()).map(str::to_string).ok_or_else(|| "device without id".into())
        })
        .collect()
}

fn lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_string).collect()
}

/// The columns (in characters, relative to the start of the rule text) that
/// miette underlines in the line after the one that shows `rule`.
fn underlined(stderr: &str, rule: &str) -> Option<(usize, usize)> {
    let all: Vec<&str> = stderr.lines().collect();
    let i = all.iter().position(|l| l.contains('│') && l.ends_with(rule))?;
    let col0 = all[i].chars().count() - rule.chars().count();
    // The underline sits on the next line, behind the `·` gutter.
    let under = all.get(i + 1).filter(|l| l.trim_start().starts_with('·'))?;
    let marks: Vec<usize> = under
        .chars()
        .enumerate()
        .filter(|(j, c)| *j >= col0 && matches!(c, '─' | '┬' | '^'))
        .map(|(j, _)| j - col0)
        .collect();
    Some((*marks.first()?, *marks.last()? + 1))
}

// ---- check -----------------------------------------------------------------

#[test]
fn check_accepts_a_valid_rule() -> TestResult {
    let out = fleetlab(&["check", "--rule", r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    Ok(())
}

#[test]
fn check_rejects_an_invalid_rule_with_a_caret() -> TestResult {
    let rule = r#"device.deviceOSTyp -eq "Windows""#;
    let out = fleetlab(&["check", "--rule", rule])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(out.stderr.contains(rule), "{out:?}");
    assert!(out.stderr.contains("unknown-property"), "{out:?}");
    // The property is underlined, and labelled.
    assert_eq!(underlined(&out.stderr, rule), Some((0, "device.deviceOSTyp".len())), "{out:?}");
    assert!(out.stderr.contains("unknown property"), "{out:?}");
    Ok(())
}

#[test]
fn check_reads_a_rule_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let good = dir.path().join("good-rule.txt");
    std::fs::write(&good, "(device.deviceOSType -eq \"Windows\")\n-and (device.accountEnabled -eq true)\n")?;
    let out = fleetlab(&["check", "--rule-file", good.to_str().ok_or("path")?])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "");

    let bad = dir.path().join("bad-rule.txt");
    std::fs::write(&bad, "device.deviceOSType -eq \"Windows\" -and\n")?;
    let out = fleetlab(&["check", "--rule-file", bad.to_str().ok_or("path")?])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("bad-rule.txt"), "diagnostic names the file: {out:?}");

    let missing = dir.path().join("no-such-rule.txt");
    let out = fleetlab(&["check", "--rule-file", missing.to_str().ok_or("path")?])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no-such-rule.txt"), "{out:?}");
    Ok(())
}

#[test]
fn check_reads_a_rule_from_stdin() -> TestResult {
    let out = fleetlab_with_stdin(&["check", "--rule-file", "-"], Some("user.department -eq \"Sales\"\n"))?;
    assert_eq!(out.code, Some(0), "{out:?}");
    Ok(())
}

#[test]
fn check_json_reports_errors_on_stdout() -> TestResult {
    let rule = "device.accountEnabled -contains true";
    let out = fleetlab(&["check", "--format", "json", "--rule", rule])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    let report = out.json()?;
    assert_eq!(report["valid"], Json::Bool(false), "{out:?}");
    assert_eq!(report["rule"], rule);
    let first = &report["errors"][0];
    assert_eq!(first["code"], "operator-not-supported", "{out:?}");
    let start = first["span"]["start"].as_u64().ok_or("span.start")? as usize;
    let end = first["span"]["end"].as_u64().ok_or("span.end")? as usize;
    assert_eq!(rule.get(start..end), Some("-contains"), "{out:?}");
    assert_eq!(first["line"], 1);
    assert_eq!(first["column"], start as u64 + 1);

    let out = fleetlab(&["check", "--format", "json", "--rule", "device.accountEnabled -eq true"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let report = out.json()?;
    assert_eq!(report["valid"], Json::Bool(true));
    assert_eq!(report["object"], "device");
    assert_eq!(report["errors"], serde_json::json!([]));
    Ok(())
}

#[test]
fn check_rejects_an_en_dash_unless_lenient() -> TestResult {
    let rule = "device.deviceOSType \u{2013}eq \"Windows\"";
    let out = fleetlab(&["check", "--rule", rule])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("invalid-character"), "{out:?}");
    assert!(out.stderr.contains("--lenient"), "the hint names the way out: {out:?}");
    assert_eq!(underlined(&out.stderr, rule), Some((20, 21)), "{out:?}");

    let out = fleetlab(&["check", "--lenient", "--rule", rule])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "");

    let out = fleetlab(&["check", "--format", "json", "--rule", rule])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    let report = out.json()?;
    assert_eq!(report["errors"][0]["code"], "invalid-character");
    assert_eq!(report["errors"][0]["span"]["start"], 20);
    assert_eq!(report["errors"][0]["text"], "\u{2013}");
    Ok(())
}

#[test]
fn check_object_flag_rejects_the_wrong_object_type() -> TestResult {
    let out = fleetlab(&["check", "--object", "device", "--rule", r#"user.department -eq "Sales""#])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("wrong-object-type"), "{out:?}");
    Ok(())
}

#[test]
fn unknown_flags_exit_two() -> TestResult {
    let out = fleetlab(&["check", "--no-such-flag"])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    Ok(())
}

// ---- eval with one rule ----------------------------------------------------

#[test]
fn eval_prints_matching_ids_in_input_order() -> TestResult {
    let expected = expected()?;
    let groups = groups()?;
    assert_eq!(groups.len(), 25);
    for (name, rule) in &groups {
        let out = fleetlab(&["eval", "--devices", DEVICES, "--rule", rule])?;
        assert_eq!(out.code, Some(0), "group {name}: {out:?}");
        let want = expected.get(name).ok_or(format!("{name} not in expected.json"))?;
        assert_eq!(&lines(&out.stdout), want, "group {name}, rule {rule}");
        assert!(out.stdout.is_empty() || out.stdout.ends_with('\n'));
    }
    Ok(())
}

#[test]
fn eval_rejects_an_invalid_rule_before_reading() -> TestResult {
    let rule = "device.deviceOSType -eq";
    let out = fleetlab(&["eval", "--devices", DEVICES, "--rule", rule])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains(rule), "{out:?}");
    assert!(out.stderr.contains("syntax"), "{out:?}");
    // Also when JSON was asked for: stdout carries only a result.
    let out = fleetlab(&["eval", "--devices", DEVICES, "--rule", rule, "--format", "json"])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(out.stderr.contains(rule), "{out:?}");
    Ok(())
}

#[test]
fn eval_rejects_a_user_rule_on_devices() -> TestResult {
    let out = fleetlab(&["eval", "--devices", DEVICES, "--rule", r#"user.department -eq "Sales""#])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("wrong-object-type"), "{out:?}");
    Ok(())
}

#[test]
fn eval_names_an_unreadable_inventory() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing-devices.json");
    let out = fleetlab(&[
        "eval",
        "--devices",
        missing.to_str().ok_or("path")?,
        "--rule",
        "device.accountEnabled -eq true",
    ])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("missing-devices.json"), "{out:?}");

    // A directory is not a file either.
    let out = fleetlab(&[
        "eval",
        "--devices",
        dir.path().to_str().ok_or("path")?,
        "--rule",
        "device.accountEnabled -eq true",
    ])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    Ok(())
}

#[test]
fn eval_json_has_rule_count_ids_and_timings() -> TestResult {
    let rule = r#"device.deviceModel -eq "HoloLens 2""#;
    let out = fleetlab(&["eval", "--devices", DEVICES, "--rule", rule, "--format", "json"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let report = out.json()?;
    let want = expected()?.remove("HoloLens 2").ok_or("HoloLens 2 not in expected.json")?;
    assert_eq!(report["rule"], rule);
    assert_eq!(report["count"], want.len() as u64);
    assert_eq!(report["total"], 401);
    let ids: Vec<String> = serde_json::from_value(report["ids"].clone())?;
    assert_eq!(ids, want);
    for phase in ["check_ms", "load_ms", "eval_ms"] {
        assert!(report["timings"][phase].is_number(), "timings.{phase}: {out:?}");
    }
    Ok(())
}

#[test]
fn eval_csv_and_table_for_one_rule() -> TestResult {
    let rule = r#"device.deviceModel -eq "HoloLens 2""#;
    let want = expected()?.remove("HoloLens 2").ok_or("HoloLens 2 not in expected.json")?;
    let out = fleetlab(&["eval", "--devices", DEVICES, "--rule", rule, "--format", "csv"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    assert_eq!(reader.headers()?.iter().collect::<Vec<_>>(), ["id", "displayName"]);
    let ids: Vec<String> = reader.records().map(|r| r.map(|r| r[0].to_string())).collect::<Result<_, _>>()?;
    assert_eq!(ids, want);

    let out = fleetlab(&["eval", "--devices", DEVICES, "--rule", rule, "--format", "table"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    for id in &want {
        assert!(out.stdout.contains(id.as_str()), "{id} missing from table: {out:?}");
    }
    Ok(())
}

// ---- eval with a group file ------------------------------------------------

/// `groups` of a `--groups … --format json` report as name → member ids.
fn membership(report: &Json) -> Result<BTreeMap<String, Vec<String>>, Box<dyn Error>> {
    let mut out = BTreeMap::new();
    for g in report["groups"].as_array().ok_or("no groups array")? {
        let name = g["name"].as_str().ok_or("group without name")?.to_string();
        let members: Vec<String> = serde_json::from_value(g["members"].clone())?;
        assert_eq!(g["count"], members.len() as u64, "count of {name}");
        assert!(out.insert(name.clone(), members).is_none(), "{name} listed twice");
    }
    Ok(out)
}

/// The differential test: fleetlab against the scenario's independent oracle.
#[test]
fn eval_groups_json_matches_the_oracle() -> TestResult {
    let out = fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS, "--format", "json"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let report = out.json()?;
    let got = membership(&report)?;
    let want = expected()?;
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (name, members) in &want {
        assert_eq!(got.get(name), Some(members), "group {name}");
    }
    // Groups come in file order.
    let order: Vec<String> = report["groups"]
        .as_array()
        .ok_or("groups")?
        .iter()
        .filter_map(|g| g["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(order, groups()?.into_iter().map(|(n, _)| n).collect::<Vec<_>>());
    // The per-device view agrees with the per-group one.
    let devices = report["devices"].as_array().ok_or("no devices array")?;
    assert_eq!(devices.len(), 401);
    let ids = device_ids()?;
    for (device, id) in devices.iter().zip(&ids) {
        assert_eq!(device["id"], id.as_str());
        for g in device["groups"].as_array().ok_or("device groups")? {
            let g = g.as_str().ok_or("group name")?;
            assert!(want.get(g).is_some_and(|m| m.contains(id)), "{id} claims {g}");
        }
    }
    Ok(())
}

#[test]
fn eval_groups_csv_has_one_row_per_membership() -> TestResult {
    let out = fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS, "--format", "csv"])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.starts_with("group,id,displayName\n")
            || out.stdout.starts_with("group,id,displayName\r\n")
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rows = 0;
    for record in reader.records() {
        let record = record?;
        assert_eq!(record.len(), 3);
        got.entry(record[0].to_string()).or_default().push(record[1].to_string());
        rows += 1;
    }
    let want = expected()?;
    assert_eq!(rows, want.values().map(Vec::len).sum::<usize>());
    for (name, members) in &want {
        if members.is_empty() {
            assert!(!got.contains_key(name));
        } else {
            assert_eq!(got.get(name), Some(members), "group {name}");
        }
    }
    // The display name with a double quote in it survives CSV quoting.
    assert!(out.stdout.contains(r#""Kiosk ""Lobby"" Screen 3""#), "{out:?}");
    Ok(())
}

#[test]
fn eval_groups_table_lists_every_group() -> TestResult {
    let out = fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let expected = expected()?;
    for (name, _) in groups()? {
        let row = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .ok_or(format!("no row for {name}: {out:?}"))?;
        let count = expected.get(&name).map_or(0, Vec::len);
        assert!(row.split_whitespace().any(|w| w == count.to_string()), "{row} should show {count}");
    }
    let explicit = fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS, "--format", "table"])?;
    assert_eq!(explicit.stdout, out.stdout);
    Ok(())
}

#[test]
fn eval_groups_rejects_format_ids() -> TestResult {
    let out = fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS, "--format", "ids"])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    Ok(())
}

#[test]
fn eval_output_file_is_written_and_stdout_stays_empty() -> TestResult {
    let dir = tempfile::tempdir()?;
    let target = dir.path().join("membership.json");
    std::fs::write(&target, "stale content from an earlier run")?;
    let path = target.to_str().ok_or("path")?;
    let out = fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS, "--format", "json", "-o", path])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "");
    let report: Json = serde_json::from_str(&std::fs::read_to_string(&target)?)?;
    assert_eq!(membership(&report)?, expected()?);
    // Nothing but the report is left in the directory (no temporary file).
    let names: Vec<_> =
        std::fs::read_dir(dir.path())?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    assert_eq!(names, [std::ffi::OsString::from("membership.json")]);

    // --output with a single rule and the ids format.
    let ids_file = dir.path().join("ids.txt");
    let out = fleetlab(&[
        "eval",
        "--devices",
        DEVICES,
        "--rule",
        r#"device.deviceModel -eq "HoloLens 2""#,
        "--output",
        ids_file.to_str().ok_or("path")?,
    ])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "");
    let want = expected()?.remove("HoloLens 2").ok_or("HoloLens 2")?;
    assert_eq!(lines(&std::fs::read_to_string(&ids_file)?), want);
    Ok(())
}

#[test]
fn eval_output_failure_leaves_the_old_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let target = dir.path().join("membership.json");
    std::fs::write(&target, "old")?;
    let path = target.to_str().ok_or("path")?;
    // An invalid rule fails before anything is written.
    let out = fleetlab(&["eval", "--devices", DEVICES, "--rule", "device.nope -eq 1", "-o", path])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(std::fs::read_to_string(&target)?, "old");
    // So does an output file in a directory that does not exist.
    let nowhere = dir.path().join("no-such-dir").join("out.json");
    let out =
        fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS, "-o", nowhere.to_str().ok_or("path")?])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("out.json"), "{out:?}");
    Ok(())
}

#[test]
fn eval_results_do_not_depend_on_threads() -> TestResult {
    let one =
        fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS, "--format", "json", "--threads", "1"])?;
    let two =
        fleetlab(&["eval", "--devices", DEVICES, "--groups", GROUPS, "--format", "json", "--threads", "2"])?;
    assert_eq!(one.code, Some(0), "{one:?}");
    assert_eq!(two.code, Some(0), "{two:?}");
    let (one, two) = (one.json()?, two.json()?);
    assert_eq!(one["groups"], two["groups"]);
    assert_eq!(one["devices"], two["devices"]);
    Ok(())
}

#[test]
fn eval_names_a_malformed_record() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("broken-inventory.jsonl");
    let text = concat!(
        r#"{"id": "a1", "displayName": "PC-1", "accountEnabled": true, "operatingSystem": "Windows"}"#,
        "\n",
        r#"{"id": "a2", "displayName": "PC-2", "accountEnabled": "yes", "operatingSystem": "Windows"}"#,
        "\n",
    );
    std::fs::write(&path, text)?;
    let out = fleetlab(&[
        "eval",
        "--devices",
        path.to_str().ok_or("path")?,
        "--rule",
        "device.accountEnabled -eq true",
    ])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("broken-inventory.jsonl"), "{out:?}");
    assert!(out.stderr.contains("broken-inventory.jsonl:2:"), "line 2: {out:?}");
    assert!(out.stderr.contains("accountEnabled"), "{out:?}");

    // The same file without the bad line reads fine.
    std::fs::write(&path, text.lines().next().ok_or("line")?)?;
    let out = fleetlab(&[
        "eval",
        "--devices",
        path.to_str().ok_or("path")?,
        "--rule",
        "device.accountEnabled -eq true",
    ])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "a1\n");
    Ok(())
}

#[test]
fn eval_groups_names_the_group_with_an_invalid_rule() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("groups.toml");
    std::fs::write(
        &path,
        r#"
[[group]]
name = "Windows"
rule = '''device.deviceOSType -eq "Windows"'''

[[group]]
name = "Broken Autopilot group"
rule = '''device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"'''
"#,
    )?;
    let out = fleetlab(&["eval", "--devices", DEVICES, "--groups", path.to_str().ok_or("path")?])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("Broken Autopilot group"), "{out:?}");
    assert!(!out.stderr.contains("[Windows]"), "only the broken group is blamed: {out:?}");
    Ok(())
}

// ---- explain ---------------------------------------------------------------

const EXPLAIN_RULE: &str =
    r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#;

#[test]
fn explain_prints_a_tree_with_the_verdict_first() -> TestResult {
    let want = expected()?.remove("Autopilot - All devices").ok_or("group")?;
    let ids = device_ids()?;
    let member = want.first().ok_or("no member")?;
    let outsider = ids.iter().find(|id| !want.contains(id)).ok_or("no outsider")?;
    let rule = r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#;
    for (id, verdict) in [(member, "true"), (outsider, "false")] {
        let out = fleetlab(&["explain", "--devices", DEVICES, "--device", id, "--rule", rule])?;
        assert_eq!(out.code, Some(0), "{out:?}");
        let first = out.stdout.lines().next().ok_or("empty output")?;
        assert!(first.starts_with(verdict), "{id}: {first}");
    }

    let out = fleetlab(&["explain", "--devices", DEVICES, "--device", &ids[0], "--rule", EXPLAIN_RULE])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let first = out.stdout.lines().next().ok_or("empty output")?;
    assert!(first.starts_with("true") || first.starts_with("false"), "{out:?}");
    assert!(out.stdout.lines().count() >= 3, "one line per sub-expression: {out:?}");
    Ok(())
}

#[test]
fn explain_json_has_the_graph_shape() -> TestResult {
    let ids = device_ids()?;
    let out = fleetlab(&[
        "explain",
        "--devices",
        DEVICES,
        "--device",
        &ids[1],
        "--rule",
        EXPLAIN_RULE,
        "--format",
        "json",
    ])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    let report = out.json()?;
    assert!(report["expression"].is_string(), "{out:?}");
    assert!(report["expressionResult"].is_boolean(), "{out:?}");
    let details = report["expressionEvaluationDetails"].as_array().ok_or("expressionEvaluationDetails")?;
    assert_eq!(details.len(), 2);
    Ok(())
}

#[test]
fn explain_names_an_unknown_device() -> TestResult {
    let out =
        fleetlab(&["explain", "--devices", DEVICES, "--device", "no-such-device", "--rule", EXPLAIN_RULE])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no-such-device"), "{out:?}");
    Ok(())
}

// ---- fmt -------------------------------------------------------------------

#[test]
fn fmt_prints_the_canonical_form() -> TestResult {
    let out = fleetlab(&[
        "fmt",
        "--rule",
        r#"device.deviceostype eq "Windows" and device.accountenabled eq TRUE"#,
    ])?;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(out.stdout, "(device.deviceOSType -eq \"Windows\") -and (device.accountEnabled -eq true)\n");

    // The canonical form is a fixed point.
    let canonical = out.stdout.trim_end();
    let again = fleetlab(&["fmt", "--rule", canonical])?;
    assert_eq!(again.stdout, out.stdout);

    let bad = fleetlab(&["fmt", "--rule", "device.deviceostype eq"])?;
    assert_eq!(bad.code, Some(1), "{bad:?}");
    assert_eq!(bad.stdout, "");
    Ok(())
}

// ---- diagnostics, as an admin sees them -------------------------------------

fn diagnostic(rule: &str) -> Result<String, Box<dyn Error>> {
    let out = fleetlab(&["check", "--rule", rule])?;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains(rule), "{out:?}");
    Ok(out.stderr)
}

#[test]
fn snapshot_en_dash() -> TestResult {
    insta::assert_snapshot!("en_dash", diagnostic("device.deviceOSType \u{2013}eq \"Windows\"")?);
    Ok(())
}

#[test]
fn snapshot_curly_quotes() -> TestResult {
    insta::assert_snapshot!("curly_quotes", diagnostic("device.deviceOSType -eq \u{201C}Windows\u{201D}")?);
    Ok(())
}

#[test]
fn snapshot_missing_prefix() -> TestResult {
    insta::assert_snapshot!("missing_prefix", diagnostic(r#"deviceOSType -eq "Windows""#)?);
    Ok(())
}

#[test]
fn snapshot_unknown_property() -> TestResult {
    insta::assert_snapshot!("unknown_property", diagnostic(r#"device.deviceOSTyp -eq "Windows""#)?);
    Ok(())
}

#[test]
fn snapshot_contains_on_boolean() -> TestResult {
    insta::assert_snapshot!("contains_on_boolean", diagnostic("device.accountEnabled -contains true")?);
    Ok(())
}

#[test]
fn eval_groups_names_an_unusable_group_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("missing-groups.toml");
    let out = fleetlab(&["eval", "--devices", DEVICES, "--groups", missing.to_str().ok_or("path")?])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("missing-groups.toml"), "{out:?}");

    let dup = dir.path().join("dup-groups.toml");
    std::fs::write(
        &dup,
        "[[group]]\nname = \"Laptops\"\nrule = 'device.accountEnabled -eq true'\n\n\
         [[group]]\nname = \"LAPTOPS\"\nrule = 'device.accountEnabled -eq false'\n",
    )?;
    let out = fleetlab(&["eval", "--devices", DEVICES, "--groups", dup.to_str().ok_or("path")?])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("dup-groups.toml") && out.stderr.contains("LAPTOPS"), "{out:?}");
    Ok(())
}

#[test]
fn eval_names_a_malformed_record_in_a_json_array() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("array-inventory.json");
    let text = "[\n  {\"id\": \"a1\", \"physicalIds\": [\"[ZTDId]:x\"]},\n  {\"id\": \"a2\", \"physicalIds\": [\"ok\", 5]}\n]\n";
    std::fs::write(&path, text)?;
    let out = fleetlab(&[
        "eval",
        "--devices",
        path.to_str().ok_or("path")?,
        "--rule",
        "device.accountEnabled -eq true",
    ])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("array-inventory.json:3:"), "line 3: {out:?}");
    assert!(out.stderr.contains("physicalIds[1]"), "{out:?}");
    Ok(())
}

#[test]
fn check_marks_the_end_of_an_incomplete_rule() -> TestResult {
    for rule in ["device.deviceOSType -eq", r#"device.deviceOSType -eq "x" -and"#, "device.deviceOSType"] {
        let out = fleetlab(&["check", "--rule", rule])?;
        assert_eq!(out.code, Some(1), "{out:?}");
        let all: Vec<&str> = out.stderr.lines().collect();
        let i =
            all.iter().position(|l| l.contains('│') && l.trim_end().ends_with(rule)).ok_or("no rule line")?;
        let col0 = all[i].trim_end().chars().count() - rule.chars().count();
        let under = all.get(i + 1).ok_or("no underline")?;
        let caret = under.chars().position(|c| c == '┬').ok_or("no caret")?;
        // The caret stands just past the last character: where the missing token belongs.
        assert_eq!(caret - col0, rule.chars().count(), "{}", out.stderr);
    }
    Ok(())
}

#[test]
fn a_closed_stdout_is_not_a_panic() -> Result<(), Box<dyn std::error::Error>> {
    for args in [
        vec!["check", "--rule", "device.deviceOSType -eq \"Windows\"", "--format", "json"],
        vec!["check", "--rule", "device.nothing -eq 1", "--format", "json"],
        vec![
            "eval",
            "--devices",
            "scenarios/contoso/devices.json",
            "--rule",
            "device.accountEnabled -eq true",
        ],
    ] {
        let (reader, writer) = std::io::pipe()?;
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetlab"))
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {:?} {stderr}", out.status);
    }
    Ok(())
}

#[test]
fn explain_refuses_meaningless_arguments_before_reading_any_file() -> TestResult {
    // Neither the inventory nor the rule file exists: a refusal about the
    // flags shows that nothing was read first.
    let missing = "no-such-dir/devices.json";
    let cases: [(&[&str], &str); 2] = [
        (&["--device", "  "], "--device needs an object id"),
        (&["--device", "CON-LT-1", "--allow-empty"], "--allow-empty cannot be used with explain"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["explain", "--devices", missing, "--rule-file", "no-such-dir/rule.txt"];
        args.extend_from_slice(extra);
        let out = fleetlab(&args)?;
        assert_eq!(out.code, Some(2), "{out:?}");
        assert_eq!(out.stdout, "");
        assert!(out.stderr.contains(message), "{extra:?}: {out:?}");
        assert!(
            !out.stderr.contains("no-such-dir"),
            "a file was read before the flags were checked: {out:?}"
        );
    }
    // The same command line with a usable key gets as far as the files.
    let out =
        fleetlab(&["explain", "--devices", missing, "--rule-file", "no-such-dir/rule.txt", "--device", "x"])?;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("no-such-dir"), "{out:?}");
    Ok(())
}
