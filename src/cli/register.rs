//! `fleetlab autopilot import FILE.csv --check` and `fleetlab plan
//! --import FILE.csv`: the registration CSV checked, and the devices it
//! adds planned, before anything is uploaded.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use super::{emit, fail, load_devices_index, Failure, Outcome};
use crate::autopilot::register::{self, ImportFile, Level};
use crate::autopilot::{CheckedTenant, Plan};

const IMPORT_HELP: &str = "\
FILE is a hardware-hash CSV as Get-WindowsAutopilotInfo or an OEM writes it:

  Device Serial Number,Windows Product ID,Hardware Hash[,Group Tag[,Assigned User]]

Checked as Intune's import checks it, and a little more: the exact header, at most 500 rows, no quoted \
fields, Base64 hashes, serials and hashes that appear twice, group tags, assigned users as UPNs, the \
encoding (UTF-8 with or without BOM, or ANSI; not UTF-16). Every problem names the line and column.

Examples:
  fleetlab autopilot import devices.csv --check
  fleetlab plan --tenant tenant.toml --devices devices.json --import devices.csv   # groups and profiles
  fleetlab sync import devices.csv --yes                                           # upload

Exit status: 0 the file is ready to import (warnings allowed), 1 problems, 2 unreadable file.";

/// `fleetlab autopilot …`
#[derive(Subcommand, Debug)]
pub(super) enum AutopilotCommand {
    /// Check a hardware-hash CSV before it is uploaded.
    #[command(after_help = IMPORT_HELP)]
    Import(ImportArgs),
}

/// `fleetlab autopilot import`.
#[derive(Args, Debug)]
pub(super) struct ImportArgs {
    /// The CSV file.
    #[arg(value_name = "FILE.csv")]
    file: PathBuf,
    /// Check the file (nothing is uploaded; `fleetlab sync import` uploads).
    #[arg(long)]
    check: bool,
    /// `text` (one line per problem) or `json`.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

pub(super) fn run(command: AutopilotCommand) -> Outcome {
    match command {
        AutopilotCommand::Import(args) => check(&args),
    }
}

/// Reads the CSV, failing with exit 2 when it cannot be read.
pub(super) fn read(path: &Path) -> Result<ImportFile, Failure> {
    register::read_csv(path).map_err(fail)
}

fn check(args: &ImportArgs) -> Outcome {
    if !args.check {
        return Err(fail(
            "`fleetlab autopilot import` only checks: add --check (to upload, `fleetlab sync import FILE --yes`)",
        ));
    }
    let file = read(&args.file)?;
    let errors = file.problems.iter().filter(|p| p.level == Level::Error).count();
    let warnings = file.problems.len() - errors;
    let text = match args.format {
        Format::Json => {
            #[derive(Serialize)]
            struct Out<'a> {
                file: String,
                encoding: &'a str,
                devices: usize,
                errors: usize,
                warnings: usize,
                problems: &'a [register::Problem],
                rows: &'a [register::ImportRow],
            }
            let out = Out {
                file: args.file.display().to_string(),
                encoding: file.encoding,
                devices: file.rows.len(),
                errors,
                warnings,
                problems: &file.problems,
                rows: &file.rows,
            };
            serde_json::to_string_pretty(&out).map_err(fail)? + "\n"
        }
        Format::Text => format!(
            "{}{}: {} device(s), {errors} error(s), {warnings} warning(s) ({}){}\n",
            file.problems_text(),
            args.file.display(),
            file.rows.len(),
            file.encoding,
            if errors == 0 { "; ready to import" } else { "" }
        ),
    };
    emit(&text, None)?;
    if errors > 0 {
        return Err(super::CliError::Findings);
    }
    Ok(())
}

/// `plan --import`: the new devices' groups and profiles, and the rows
/// the tenant already has.
pub(super) fn plan_import(
    tenant: &CheckedTenant,
    devices: &Path,
    csv: &Path,
    json: bool,
) -> Result<String, Failure> {
    let file = read(csv)?;
    eprint!("{}", file.problems_text());
    if !file.is_clean() {
        eprintln!("error: {} has problems; fix them before planning the import", csv.display());
        return Err(super::CliError::Findings);
    }
    let index = load_devices_index(devices)?;
    let (plan, registration) = register::plan_import(tenant, &index, &file).map_err(fail)?;
    let new: Vec<&crate::autopilot::DevicePlan> =
        plan.devices.iter().filter(|d| d.id.starts_with(register::IMPORT_ID_PREFIX)).collect();
    if json {
        return import_json(&plan, &new, &registration.already);
    }
    let mut rows = Vec::new();
    for d in &new {
        let profile = d.profile().and_then(|p| plan.profiles.get(p));
        let groups: Vec<&str> =
            d.groups.iter().filter_map(|&g| plan.groups.get(g).map(String::as_str)).collect();
        rows.push(vec![
            d.display_name.clone().unwrap_or_default(),
            profile.map_or("-".into(), |p| p.name.clone()),
            profile.map_or("-".into(), |p| p.mode.to_string()),
            if groups.is_empty() { "-".into() } else { groups.join(", ") },
            plan.reason(d),
        ]);
    }
    let mut text = super::table::table(&["SERIAL", "PROFILE", "MODE", "GROUPS", "REASON"], &rows);
    for a in &registration.already {
        text.push_str(&format!(
            "{}:{}: serial {} is already registered (device {}): its import would end in 806 ZtdDeviceAlreadyAssigned\n",
            csv.display(),
            a.line,
            a.serial,
            a.device
        ));
    }
    let without = new.iter().filter(|d| d.profile().is_none()).count();
    text.push_str(&format!(
        "\n{} device(s) to register, {} already registered; {} would get no profile\n",
        new.len(),
        registration.already.len(),
        without
    ));
    Ok(text)
}

fn import_json(
    plan: &Plan,
    new: &[&crate::autopilot::DevicePlan],
    already: &[register::AlreadyRegistered],
) -> Result<String, Failure> {
    #[derive(Serialize)]
    struct Device<'a> {
        serial: &'a str,
        groups: Vec<&'a str>,
        profile: Option<&'a str>,
        mode: Option<String>,
        reason: String,
    }
    #[derive(Serialize)]
    struct Out<'a> {
        new: Vec<Device<'a>>,
        already_registered: &'a [register::AlreadyRegistered],
    }
    let devices = new
        .iter()
        .map(|d| {
            let profile = d.profile().and_then(|p| plan.profiles.get(p));
            Device {
                serial: d.display_name.as_deref().unwrap_or(""),
                groups: d.groups.iter().filter_map(|&g| plan.groups.get(g).map(String::as_str)).collect(),
                profile: profile.map(|p| p.name.as_str()),
                mode: profile.map(|p| p.mode.to_string()),
                reason: plan.reason(d),
            }
        })
        .collect();
    Ok(serde_json::to_string_pretty(&Out { new: devices, already_registered: already }).map_err(fail)? + "\n")
}
