//! `fleetlab lint` and `fleetlab plan`: the Autopilot tenant model on the
//! command line.
//!
//! Same contract as every command: the result on stdout (or atomically in
//! `-o FILE`), diagnostics on stderr; exit 0 when clean, 1 when the tenant
//! or the edits have errors (or warnings, with `--deny-warnings`), 2 when
//! a file cannot be read or has the wrong shape. `lint` findings *are* its
//! result, so they go to stdout; `plan` reports findings on stderr and
//! refuses to plan a tenant with errors, because Intune would refuse to
//! save it.
//!
//! `plan` runs in two stages: [`plan_mode`] checks everything the
//! arguments alone decide (flags that mean nothing with the chosen output
//! or mode, an output path that is one of the inputs) before any file is
//! read, then the files are loaded and planned. The plan and what-if JSON
//! shapes and the what-if pipeline are library code
//! ([`crate::autopilot::report`], [`crate::autopilot::whatif::run`]) the
//! local API shares; only the table and CSV renderings live here.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::table::table;
use super::{emit, fail, load_devices_index, output, Failure, Outcome};
use crate::autopilot::report::{DeviceOut, FindingOut, PlanReport, WhatIfReport};
use crate::autopilot::{
    self, graph_json, whatif, Applied, CheckedTenant, DevicePlan, EditSet, Finding, Plan, WhatIf, CATALOGUE,
};

const LINT_HELP: &str = "\
FILE is a tenant file (TOML: [tenant], [[group]], [[profile]], [[app]], [esp], [enrollment_user]) or \
Graph beta profile JSON (one profile, an array, or a Graph page as GET \
/beta/deviceManagement/windowsAutopilotDeploymentProfiles returns it).

Every finding has a stable code, a severity, the file:line:column of the key it blames, and the document \
its rule comes from. `fleetlab lint --checks` lists every rule.

Examples:
  fleetlab lint scenarios/contoso/tenant.toml
  fleetlab lint exported-profiles.json --format json
  fleetlab lint tenant.toml --deny-warnings          # a CI gate
  fleetlab lint tenant.toml --graph-out build/profiles   # Graph bodies to POST

Exit status: 0 no errors, 1 errors (or warnings with --deny-warnings), 2 unreadable or malformed file.";

const PLAN_HELP: &str = "\
Resolves, for every device of the inventory, the groups it is in (the tenant's dynamic group rules, \
evaluated on the columnar engine), the profile it gets and why: the oldest created matching profile wins, \
an excluded group removes a profile, the profile assigned to all devices is the default. Only devices \
registered with Autopilot ([ZTDId] in physicalIds) get profiles, plus those a profile with \"convert all \
targeted devices\" registers.

With --against or --edits, prints a what-if instead: the devices whose groups, profile or mode change. \
A device name edit is listed as pending: the device gets the name at its next deployment and keeps its \
groups until then. Deleting the Autopilot record of a device still enrolled in Intune is refused unless \
the [[delete]] entry says managed_device_deleted = true (Intune first, then Autopilot). \
With --import, the devices a hardware-hash CSV will register: the groups and profile each gets once \
imported, and the serials the tenant already has.

Examples:
  fleetlab plan --tenant scenarios/contoso/tenant.toml --devices scenarios/contoso/devices.json
  fleetlab plan --tenant tenant.toml --devices devices.json --format csv -o plan.csv
  fleetlab plan --tenant tenant.toml --devices devices.json --against tenant-next.toml
  fleetlab plan --tenant tenant.toml --devices devices.json --edits edits.toml --format json
  fleetlab plan --tenant tenant.toml --devices devices.json --import new-devices.csv

Exit status: 0 planned, 1 the tenant or the edits have errors (run fleetlab lint), 2 unreadable input.";

/// `fleetlab lint`.
#[derive(Args, Debug)]
#[command(after_help = LINT_HELP)]
pub(super) struct LintArgs {
    /// A tenant file (.toml) or Graph profile JSON (.json).
    #[arg(value_name = "FILE", required_unless_present = "checks")]
    file: Option<PathBuf>,
    /// `text` (one line per finding) or `json`.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Exit 1 on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Write the findings to FILE (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// When there is no error, write each profile as the Graph beta JSON body
    /// that creates it (new property names only) into DIR.
    #[arg(long, value_name = "DIR")]
    graph_out: Option<PathBuf>,
    /// List every check (code, severity, rule, source) and exit.
    #[arg(long, conflicts_with_all = ["file", "graph_out"])]
    checks: bool,
}

/// `fleetlab plan`.
#[derive(Args, Debug)]
#[command(after_help = PLAN_HELP)]
pub(super) struct PlanArgs {
    /// The tenant file.
    #[arg(long, value_name = "FILE")]
    tenant: PathBuf,
    /// Graph device objects (JSON array, Graph page, JSON Lines) or a packed index.
    #[arg(long, value_name = "FILE")]
    devices: PathBuf,
    /// What-if: compare with this tenant file on the same devices.
    #[arg(long, value_name = "FILE", conflicts_with = "edits")]
    against: Option<PathBuf>,
    /// What-if: compare with the inventory after these device edits.
    #[arg(long, value_name = "FILE")]
    edits: Option<PathBuf>,
    /// Registration: plan the devices this hardware-hash CSV will add (their
    /// groups and profile), and name the serials already registered.
    #[arg(long = "import", value_name = "FILE.csv", conflicts_with_all = ["against", "edits"])]
    import: Option<PathBuf>,
    /// `table` (registered devices, then counts per profile and mode), or
    /// `json` / `csv` (every device).
    #[arg(long, value_enum, default_value = "table")]
    format: PlanFormat,
    /// Write the result to FILE (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Table: also list devices that are not registered with Autopilot.
    #[arg(long)]
    all: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PlanFormat {
    Table,
    Json,
    Csv,
}

/// Pretty JSON and a newline; a value that cannot be written is an error,
/// never an empty output.
fn pretty(value: &impl Serialize) -> Result<String, Failure> {
    output::pretty_json(value)
}

/// One finding as a compiler-style line plus a pointer line.
pub(super) fn finding_text(f: &Finding) -> String {
    format!("{f}\n  --> {} ({})\n", f.path, f.source)
}

/// `lint`'s arguments alone: the findings must not replace the file they
/// are about.
fn validate_lint(args: &LintArgs) -> Result<(), Failure> {
    super::args::not_an_input("-o", args.output.as_deref(), &[args.file.as_deref()])
}

pub(super) fn lint(args: &LintArgs) -> Outcome {
    validate_lint(args)?;
    if args.checks {
        return list_checks(args.format, args.output.as_deref());
    }
    let Some(path) = &args.file else { return Err(fail("give a tenant file or Graph profile JSON")) };
    let (tenant, validation) = autopilot::lint_file(path).map_err(fail)?;
    let (errors, warnings) = (validation.errors(), validation.warnings());
    let text = match args.format {
        Format::Text => validation.findings.iter().map(finding_text).collect::<String>(),
        Format::Json => {
            #[derive(Serialize)]
            struct Report<'a> {
                file: String,
                valid: bool,
                errors: usize,
                warnings: usize,
                profiles: usize,
                groups: usize,
                apps: usize,
                findings: Vec<FindingOut<'a>>,
            }
            pretty(&Report {
                file: path.display().to_string(),
                valid: errors == 0,
                errors,
                warnings,
                profiles: tenant.profiles.len(),
                groups: tenant.groups.len(),
                apps: tenant.apps.len(),
                findings: validation.findings.iter().map(FindingOut::from).collect(),
            })?
        }
    };
    emit(&text, args.output.as_deref())?;
    eprintln!(
        "{}: {errors} error{}, {warnings} warning{} ({} profiles, {} groups, {} apps)",
        path.display(),
        plural(errors),
        plural(warnings),
        tenant.profiles.len(),
        tenant.groups.len(),
        tenant.apps.len()
    );
    if let (Some(dir), Some(checked)) = (&args.graph_out, &validation.tenant) {
        write_graph(dir, checked)?;
    } else if args.graph_out.is_some() {
        eprintln!("error: no Graph JSON written: fix the errors first");
    }
    if errors > 0 || (args.deny_warnings && warnings > 0) {
        return Err(super::CliError::Findings);
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn list_checks(format: Format, path: Option<&Path>) -> Outcome {
    let text = match format {
        Format::Json => pretty(&CATALOGUE)?,
        Format::Text => {
            let width = CATALOGUE.iter().map(|c| c.code.len()).max().unwrap_or(4);
            let mut s = format!("{:<width$}  {:<8} RULE (SOURCE)\n", "CODE", "SEVERITY");
            for c in CATALOGUE {
                let _ = writeln!(
                    s,
                    "{:<width$}  {:<8} {} ({})",
                    c.code,
                    c.severity.to_string(),
                    c.summary,
                    c.source
                );
            }
            s
        }
    };
    emit(&text, path)
}

/// Writes one Graph body per profile, named after the profile.
fn write_graph(dir: &Path, tenant: &CheckedTenant) -> Outcome {
    std::fs::create_dir_all(dir).map_err(|e| super::CliError::file(dir, e))?;
    for a in &tenant.profiles {
        let slug: String = a
            .profile
            .name()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
            .collect();
        let file = dir.join(format!("{slug}.json"));
        let body = pretty(&graph_json::to_graph(&a.profile))?;
        output::write_file(&file, body.as_bytes())?;
    }
    eprintln!("wrote {} Graph profile bodies to {}", tenant.profiles.len(), dir.display());
    Ok(())
}

/// What `plan` prints, decided from the arguments alone (the first stage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlanMode<'a> {
    /// The plan of every device.
    Plan,
    /// The what-if of another tenant file.
    Against(&'a Path),
    /// The what-if of an edit set.
    Edits(&'a Path),
    /// The devices a hardware-hash CSV will register.
    Import(&'a Path),
}

/// Checks everything the arguments alone decide, before any file is read:
/// a mistyped flag is refused in milliseconds, not after loading a large
/// inventory. Conflicts clap can state (`--against` with `--edits`) are
/// clap's; these are the ones that depend on the output format.
fn plan_mode(args: &PlanArgs) -> Result<PlanMode<'_>, Failure> {
    let mode = match (&args.against, &args.edits, &args.import) {
        (Some(p), None, None) => PlanMode::Against(p),
        (None, Some(p), None) => PlanMode::Edits(p),
        (None, None, Some(p)) => PlanMode::Import(p),
        (None, None, None) => PlanMode::Plan,
        _ => return Err(fail("give one of --against, --edits and --import")),
    };
    if args.all && args.format != PlanFormat::Table {
        return Err(fail(
            "--all adds unregistered devices to the table; json and csv list every device already",
        ));
    }
    if args.all && mode != PlanMode::Plan {
        return Err(fail(
            "--all adds unregistered devices to the plan table; a what-if or an import lists the devices it changes",
        ));
    }
    if matches!(mode, PlanMode::Import(_)) && args.format == PlanFormat::Csv {
        return Err(fail("--import prints a table or json (--format table|json), not csv"));
    }
    let inputs = [
        Some(&args.tenant),
        Some(&args.devices),
        args.against.as_ref(),
        args.edits.as_ref(),
        args.import.as_ref(),
    ];
    super::args::not_an_input("-o", args.output.as_deref(), &inputs.map(|p| p.map(PathBuf::as_path)))?;
    Ok(mode)
}

pub(super) fn plan(args: &PlanArgs) -> Outcome {
    let mode = plan_mode(args)?;
    let tenant = super::load::checked_tenant(&args.tenant, "plan")?;
    let text = match mode {
        PlanMode::Import(csv) => {
            let json = args.format == PlanFormat::Json;
            super::register::plan_import(&tenant, &args.devices, csv, json)?
        }
        PlanMode::Against(path) => {
            let other = super::load::checked_tenant(path, "plan")?;
            let index = load_devices_index(&args.devices)?;
            let before = tenant.plan(&index).map_err(fail)?;
            let outcome =
                whatif::run(&tenant, &index, &before, whatif::Change::Tenant(&other)).map_err(fail)?;
            let labels = (args.tenant.display().to_string(), path.display().to_string());
            whatif_output(args.format, &outcome.diff, &labels, &[], &[])?
        }
        PlanMode::Edits(path) => {
            let edits = EditSet::load(path).map_err(fail)?;
            let index = load_devices_index(&args.devices)?;
            let before = tenant.plan(&index).map_err(fail)?;
            let outcome =
                whatif::run(&tenant, &index, &before, whatif::Change::Edits(&edits)).map_err(fail)?;
            for f in &outcome.findings {
                eprint!("{}", finding_text(f));
            }
            let errors = outcome.errors();
            if errors > 0 {
                eprintln!(
                    "error: {} has {errors} error(s); fix them to see what the edits change",
                    path.display()
                );
                return Err(super::CliError::Findings);
            }
            let before_label = args.tenant.display().to_string();
            let labels = (before_label.clone(), format!("{before_label} + {}", path.display()));
            whatif_output(args.format, &outcome.diff, &labels, &outcome.applied, &outcome.findings)?
        }
        PlanMode::Plan => {
            let index = load_devices_index(&args.devices)?;
            let before = tenant.plan(&index).map_err(fail)?;
            match args.format {
                PlanFormat::Table => plan_table(&before, args.all),
                PlanFormat::Json => plan_json(&before, &args.tenant, &args.devices)?,
                PlanFormat::Csv => plan_csv(&before).map_err(fail)?,
            }
        }
    };
    emit(&text, args.output.as_deref())
}

fn name(d: &DevicePlan) -> &str {
    d.display_name.as_deref().unwrap_or(&d.id)
}

fn assignment_groups(plan: &Plan, d: &DevicePlan) -> Vec<String> {
    d.groups
        .iter()
        .filter(|&&g| plan.assignment_groups.get(g).copied().unwrap_or(false))
        .filter_map(|&g| plan.groups.get(g).cloned())
        .collect()
}

fn plan_table(plan: &Plan, all: bool) -> String {
    let mut rows = Vec::new();
    for d in &plan.devices {
        if !all && d.profile().is_none() && !d.registered {
            continue;
        }
        let profile = d.profile().and_then(|p| plan.profiles.get(p));
        let mut note = Vec::new();
        if let Some(m) = d.mismatch {
            note.push(m.to_string());
        }
        if plan.pending_reset(d) {
            note.push(format!(
                "enrolled with {:?}; the change applies after a reset",
                d.enrolled_with.as_deref().unwrap_or("")
            ));
        }
        let mut reason = plan.reason(d);
        if !note.is_empty() {
            reason = format!("{reason} [{}]", note.join("; "));
        }
        rows.push(vec![
            name(d).to_string(),
            profile.map_or("-".into(), |p| p.name.clone()),
            profile.map_or("-".into(), |p| p.mode.to_string()),
            profile.map_or("-".into(), |p| p.join.as_str().to_string()),
            assignment_groups(plan, d).join(", "),
            reason,
        ]);
    }
    let mut s = table(&["DEVICE", "PROFILE", "MODE", "JOIN", "ASSIGNMENT GROUPS", "REASON"], &rows);
    s.push('\n');
    s.push_str(&summary_text(plan));
    s
}

fn summary_text(plan: &Plan) -> String {
    let sum = plan.summary();
    let mut rows: Vec<Vec<String>> = plan
        .profiles
        .iter()
        .zip(&sum.per_profile)
        .map(|(p, n)| {
            let mut target = Vec::new();
            if p.all_devices {
                target.push("all devices");
            }
            if p.converts {
                target.push("converts");
            }
            vec![
                p.name.clone(),
                p.mode.to_string(),
                p.join.as_str().to_string(),
                p.device_type.as_str().to_string(),
                p.created.clone().unwrap_or_else(|| "not created".into()),
                n.to_string(),
                target.join(", "),
            ]
        })
        .collect();
    rows.push(vec![
        "(no profile)".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        sum.no_profile.to_string(),
        String::new(),
    ]);
    let mut s = table(&["PROFILE", "MODE", "JOIN", "DEVICE TYPE", "CREATED", "DEVICES", "NOTE"], &rows);
    s.push('\n');
    let modes: Vec<String> = sum.per_mode.iter().map(|(m, n)| format!("{m} {n}")).collect();
    let _ = writeln!(
        s,
        "{} devices, {} registered with Autopilot: {} with a profile, {} without; {} match several profiles \
         (the oldest created wins).",
        sum.devices, sum.registered, sum.assigned, sum.no_profile, sum.multiple
    );
    if !modes.is_empty() {
        let _ = writeln!(s, "By mode: {}.", modes.join(", "));
    }
    if sum.converted > 0 {
        let _ = writeln!(
            s,
            "{} unregistered devices will be registered by \"convert all targeted devices\".",
            sum.converted
        );
    }
    if sum.targeted_unregistered > 0 {
        let _ = writeln!(
            s,
            "{} unregistered devices are in profile groups but no profile reaches them (not converted, or not a \
             managed Windows device).",
            sum.targeted_unregistered
        );
    }
    for (p, n) in plan.shadowed() {
        let _ = writeln!(
            s,
            "Profile {:?} matches {n} devices but gets none: an older profile wins each of them.",
            plan.profiles.get(p).map_or("?", |p| p.name.as_str())
        );
    }
    if sum.mismatched > 0 {
        let _ = writeln!(
            s,
            "{} devices have a profile for another device type; Intune fails those assignments.",
            sum.mismatched
        );
    }
    if sum.pending_reset > 0 {
        let _ = writeln!(
            s,
            "{} devices enrolled with another profile; profile changes apply only after a reset or re-enrollment.",
            sum.pending_reset
        );
    }
    s
}

fn plan_json(plan: &Plan, tenant: &Path, devices: &Path) -> Result<String, Failure> {
    let (tenant, devices) = (tenant.display().to_string(), devices.display().to_string());
    pretty(&PlanReport::new(plan, &tenant, &devices))
}

fn plan_csv(plan: &Plan) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "displayName",
        "registered",
        "status",
        "profile",
        "mode",
        "join",
        "groups",
        "reason",
        "enrollmentProfileName",
        "pendingReset",
        "mismatch",
    ])?;
    for d in &plan.devices {
        let o = DeviceOut::new(plan, d);
        w.write_record([
            o.id,
            o.display_name.unwrap_or(""),
            if o.registered { "true" } else { "false" },
            o.status,
            o.profile.unwrap_or(""),
            o.mode.map_or("", |m| m.as_str()),
            o.join.unwrap_or(""),
            &o.groups.join("; "),
            &o.reason,
            o.enrolled_with.unwrap_or(""),
            if o.pending_reset { "true" } else { "false" },
            o.mismatch.as_deref().unwrap_or(""),
        ])?;
    }
    into_string(w)
}

fn into_string(w: csv::Writer<Vec<u8>>) -> Result<String, csv::Error> {
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn arrow<T: PartialEq>(before: &T, after: &T, show: impl Fn(&T) -> String) -> String {
    if before == after {
        show(after)
    } else {
        format!("{} → {}", show(before), show(after))
    }
}

fn whatif_output(
    format: PlanFormat,
    diff: &WhatIf,
    labels: &(String, String),
    applied: &[Applied],
    findings: &[Finding],
) -> Result<String, Failure> {
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let mode = |m: &Option<autopilot::EnrollmentMode>| m.map_or("-".into(), |m| m.to_string());
    match format {
        PlanFormat::Json => {
            let mut report = WhatIfReport::new(diff);
            report.before = Some(&labels.0);
            report.after = Some(&labels.1);
            report.edits = applied;
            report.findings = findings.iter().map(FindingOut::from).collect();
            pretty(&report)
        }
        PlanFormat::Csv => {
            let run = || -> Result<String, csv::Error> {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record([
                    "id",
                    "displayName",
                    "profileBefore",
                    "profileAfter",
                    "modeBefore",
                    "modeAfter",
                    "groupsAdded",
                    "groupsRemoved",
                    "reasonAfter",
                ])?;
                for c in &diff.changes {
                    w.write_record([
                        c.id.as_str(),
                        c.display_name.as_deref().unwrap_or(""),
                        c.profile.before.as_deref().unwrap_or(""),
                        c.profile.after.as_deref().unwrap_or(""),
                        c.mode.before.map_or("", |m| m.as_str()),
                        c.mode.after.map_or("", |m| m.as_str()),
                        &c.groups_added.join("; "),
                        &c.groups_removed.join("; "),
                        &c.reason.after,
                    ])?;
                }
                into_string(w)
            };
            run().map_err(fail)
        }
        PlanFormat::Table => {
            let mut s = format!("before: {}\nafter:  {}\n\n", labels.0, labels.1);
            if !applied.is_empty() {
                let rows: Vec<Vec<String>> = applied
                    .iter()
                    .map(|a| {
                        let pending = a.pending.iter().map(|p| format!("pending: {p}"));
                        let changes: Vec<String> = a.changes.iter().cloned().chain(pending).collect();
                        vec![a.display_name.clone().unwrap_or_else(|| a.id.clone()), changes.join("; ")]
                    })
                    .collect();
                s.push_str(&table(&["EDITED DEVICE", "CHANGES"], &rows));
                s.push('\n');
            }
            let rows: Vec<Vec<String>> = diff
                .changes
                .iter()
                .map(|c| {
                    let mut groups: Vec<String> = c.groups_added.iter().map(|g| format!("+{g}")).collect();
                    groups.extend(c.groups_removed.iter().map(|g| format!("-{g}")));
                    let mut reason = c.reason.after.clone();
                    if let Some(m) = &c.mismatch_after {
                        reason = format!("{reason} [{m}]");
                    }
                    vec![
                        c.display_name.clone().unwrap_or_else(|| c.id.clone()),
                        arrow(&c.profile.before, &c.profile.after, opt),
                        arrow(&c.mode.before, &c.mode.after, mode),
                        groups.join(" "),
                        reason,
                    ]
                })
                .collect();
            if rows.is_empty() {
                s.push_str("No device changes group, profile or mode.\n");
            } else {
                s.push_str(&table(&["DEVICE", "PROFILE", "MODE", "GROUPS", "REASON (AFTER)"], &rows));
            }
            s.push('\n');
            let count = |n: Option<usize>| n.map_or("-".into(), |n| n.to_string());
            let rows: Vec<Vec<String>> = diff
                .profiles
                .iter()
                .map(|p| {
                    let lost = if p.lost_after > 0 {
                        format!(
                            "also matches {} device{} an older profile wins",
                            p.lost_after,
                            plural(p.lost_after)
                        )
                    } else {
                        String::new()
                    };
                    vec![p.name.clone(), p.mode.to_string(), count(p.before), count(p.after), lost]
                })
                .chain(std::iter::once(vec![
                    "(no profile)".into(),
                    String::new(),
                    diff.before.no_profile.to_string(),
                    diff.after.no_profile.to_string(),
                    String::new(),
                ]))
                .collect();
            s.push_str(&table(&["PROFILE", "MODE", "BEFORE", "AFTER", "NOTE"], &rows));
            s.push('\n');
            let _ = writeln!(
                s,
                "{} devices change: {} profile, {} mode, {} groups. Devices matching several profiles: {} → {}.",
                diff.changes.len(),
                diff.profile_changed,
                diff.mode_changed,
                diff.groups_changed,
                diff.before.multiple,
                diff.after.multiple
            );
            if diff.after.mismatched > diff.before.mismatched {
                let _ = writeln!(
                    s,
                    "{} devices would get a profile for another device type (Intune fails those assignments).",
                    diff.after.mismatched
                );
            }
            Ok(s)
        }
    }
}
