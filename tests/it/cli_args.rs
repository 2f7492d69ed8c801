//! Arguments first: what a command line alone decides is refused before
//! any file is read. Every input here is missing, so a refusal about the
//! flags (exit 2, the flags named, no "No such file") shows that nothing
//! was read first; the same command line without the bad flag then gets as
//! far as the files, which shows the refusal came from the flag.
//! (`eval --format ids --groups`, `explain` and `plan` have theirs in
//! `cli.rs` and `autopilot_cli.rs`.)

use std::error::Error;

use crate::util::{fleetlab, run};

type TestResult = Result<(), Box<dyn Error>>;

const M: &str = "no-such-dir";

/// Runs `fleetlab ARGS` without the Graph connection variables, so a
/// missing `--tenant-id` is missing whatever the environment holds.
fn run_clean(args: &[String]) -> Result<crate::util::Ran, Box<dyn Error>> {
    run(fleetlab().args(args).env_remove("FLEETLAB_TENANT").env_remove("FLEETLAB_CLIENT_ID"))
}

fn words(line: &str) -> Vec<String> {
    line.replace("{M}", M).split_whitespace().map(str::to_string).collect()
}

/// `bad` is refused with `message` before any file is read; `good` (the
/// same command without the bad flag) reaches the files and fails on them.
fn refused_first(bad: &str, message: &str, good: &str) -> TestResult {
    let out = run_clean(&words(bad))?;
    assert_eq!(out.code, Some(2), "{bad}: {}", out.stderr);
    assert_eq!(out.stdout, "", "{bad}");
    assert!(out.stderr.contains(message), "{bad}: expected {message:?} in {}", out.stderr);
    assert!(
        !out.stderr.contains("No such file") && !out.stderr.contains("no snapshot yet"),
        "{bad}: a file was read before the flags were checked: {}",
        out.stderr
    );
    let names_a_path = out.stderr.contains(INPUT) || out.stderr.contains("both name");
    assert!(names_a_path || !out.stderr.contains(M), "{bad}: an input was opened first: {}", out.stderr);
    let out = run_clean(&words(good))?;
    assert_eq!(out.code, Some(2), "{good}: {}", out.stderr);
    assert!(!out.stderr.contains(message), "{good}: {}", out.stderr);
    assert!(out.stderr.contains(M), "{good} should fail on a missing file: {}", out.stderr);
    Ok(())
}

const INPUT: &str = "that is an input of this command";

#[test]
fn eval_refuses_its_meaningless_flags_before_reading_any_file() -> TestResult {
    let inv = "eval --devices {M}/devices.json";
    for (extra, message) in [
        ("--rule-file {M}/rule.txt -o {M}/devices.json", INPUT),
        ("--rule-file {M}/rule.txt -o ./{M}/rule.txt", INPUT),
        ("--groups {M}/groups.toml --format json -o {M}/groups.toml", INPUT),
        ("--rule-file {M}/rule.txt --threads 0", "--threads 0"),
        ("--rule-file {M}/rule.txt --shape groups", "--shape shapes the JSON report of a group file"),
        ("--groups {M}/groups.toml --format csv --shape devices", "use it with --groups and --format json"),
    ] {
        refused_first(&format!("{inv} {extra}"), message, &format!("{inv} --rule-file {M}/rule.txt"))?;
    }
    refused_first(
        "eval --users {M}/users.json --rule-file {M}/rule.txt --stats",
        "--stats measures rules compiled for the columnar device index",
        "eval --users {M}/users.json --rule-file {M}/rule.txt",
    )?;
    // `--shape` where it shapes something, and `--stats` on devices, get as far as the files.
    refused_first(
        "eval --devices {M}/devices.json --groups {M}/groups.toml --shape groups",
        "use it with --groups and --format json",
        "eval --devices {M}/devices.json --groups {M}/groups.toml --format json --shape groups --stats",
    )
}

#[test]
fn inventory_pack_and_export_do_not_overwrite_their_input() -> TestResult {
    refused_first(
        "inventory pack {M}/devices.json -o {M}/devices.json",
        INPUT,
        "inventory pack {M}/devices.json -o {M}/devices.fleet",
    )?;
    refused_first(
        "inventory export {M}/devices.json -o {M}/devices.json",
        INPUT,
        "inventory export {M}/devices.json -o {M}/devices.parquet",
    )
}

#[test]
fn lint_and_flow_show_do_not_overwrite_the_tenant_file() -> TestResult {
    refused_first(
        "lint {M}/tenant.toml -o {M}/tenant.toml",
        INPUT,
        "lint {M}/tenant.toml -o {M}/findings.txt",
    )?;
    refused_first(
        "flow show --tenant {M}/tenant.toml --profile P -o {M}/tenant.toml",
        INPUT,
        "flow show --tenant {M}/tenant.toml --profile P -o {M}/flow.dot",
    )
}

#[test]
fn flow_walk_takes_a_device_or_a_profile_not_both() -> TestResult {
    refused_first(
        "flow walk --tenant {M}/tenant.toml --devices {M}/devices.json --device PC-1 --profile P",
        "give one of them",
        "flow walk --tenant {M}/tenant.toml --devices {M}/devices.json --device PC-1",
    )
}

#[test]
fn sql_checks_the_table_name_before_reading_the_rule() -> TestResult {
    refused_first(
        "sql --dialect duckdb --rule-file {M}/rule.txt --table main..devices",
        "--table \"main..devices\"",
        "sql --dialect duckdb --rule-file {M}/rule.txt --table main.devices",
    )
}

#[test]
fn simulate_refuses_its_meaningless_flags_before_reading_the_scenario() -> TestResult {
    let sim = "simulate {M}/s.toml";
    for (extra, message) in [
        ("--search depot.technicians=9..1 --goal devices-per-day>=10", "--search \"depot.technicians=9..1\""),
        ("-o {M}/s.toml", INPUT),
        ("--events {M}/s.toml", INPUT),
        ("--out {M}/report.html -o {M}/report.html", "-o and --out both name"),
        ("--explain --out {M}/report.html", "--explain prints the scenario and runs nothing"),
        ("--explain --format json", "--explain prints the scenario as TOML"),
    ] {
        refused_first(&format!("{sim} {extra}"), message, &format!("{sim} --out {M}/report.html"))?;
    }
    Ok(())
}

#[test]
fn serve_and_the_sandbox_check_their_flags_before_their_inputs() -> TestResult {
    let serve = "serve --port 0 --no-watch --devices {M}/devices.json";
    refused_first(
        &format!("{serve} --token-file {M}/token --budget 0"),
        "--budget 0",
        &format!("{serve} --budget 5"),
    )?;
    refused_first(&format!("{serve} --host 0.0.0.0"), "give --token-file FILE", serve)?;
    let sandbox = "sandbox serve --scenario {M}";
    refused_first(&format!("{sandbox} --throttle 2"), "--throttle is a share between 0 and 1", sandbox)?;
    refused_first(
        &format!("{sandbox} --require-secret-env FLEETLAB_TEST_NO_SUCH_VARIABLE"),
        "--require-secret-env FLEETLAB_TEST_NO_SUCH_VARIABLE",
        sandbox,
    )
}

#[test]
fn sync_checks_its_outputs_and_connection_before_reading_anything() -> TestResult {
    let export = "sync export --snapshot {M}/s.db";
    refused_first(&format!("{export} -o {M}/s.db"), INPUT, &format!("{export} -o {M}/devices.jsonl"))?;
    refused_first(
        &format!("{export} --tenant {M}/t.toml -o {M}/t.toml"),
        "-o and --tenant both name",
        &format!("{export} --tenant {M}/t.toml -o {M}/devices.jsonl"),
    )?;
    refused_first(
        &format!("{export} --tenant {M}/t.toml --member-of"),
        "--member-of adds memberOf to the devices written",
        &format!("{export} --tenant {M}/t.toml --member-of -o {M}/devices.jsonl"),
    )?;
    let ids = "--tenant-id contoso.onmicrosoft.com --client-id app";
    let import = format!("sync import {M}/new.csv --snapshot {M}/s.db");
    refused_first(&format!("{import} {ids} --audit-log {M}/new.csv"), INPUT, &format!("{import} {ids}"))?;
    refused_first(&import, "give the tenant id with --tenant-id", &format!("{import} {ids}"))?;
    let apply = format!("sync apply --tenant {M}/t.toml --snapshot {M}/s.db {ids}");
    refused_first(
        &format!("{apply} --audit-log {M}/t.toml"),
        INPUT,
        &format!("{apply} --audit-log {M}/audit.jsonl"),
    )
}
