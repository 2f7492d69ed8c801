//! The `fleetlab` command line.
//!
//! Contract (scripts rely on it): stdout carries only the requested result
//! (ids one per line, JSON, CSV, a table, a tree, a rule); diagnostics go to
//! stderr; exit 0 on success, 1 for invalid input or findings, 2 when an
//! input cannot be read, the command line is wrong or a write fails (the
//! whole contract, and the one place it is applied, is in `error.rs`). With `--output FILE` the
//! result is written to a temporary file beside FILE and renamed into
//! place, so a failed run never leaves a half-written report.

mod args;
mod atomic;
mod autopilot;
mod error;
mod flow;
mod load;
mod output;
mod progress;
mod register;
mod sandbox;
mod serve;
mod simulate;
mod sql;
mod sync;
mod table;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::fleet::{CompiledSet, FleetIndex, Inventory, InventoryWarning};
use crate::groups::{GroupSet, GroupSetError};
use crate::inventory::{HasId, Projection};
use crate::rule::{self, Diagnostic, ObjectType, Options, Rule, RuleErrors, Timestamp};

const EXAMPLES: &str = "\
Examples:
  Is this rule valid?
    fleetlab check --rule 'device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")'
  Which devices does it catch?
    fleetlab eval --devices scenarios/contoso/devices.json \\
                  --rule 'device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")'
  Membership of every group in a group file:
    fleetlab eval --devices scenarios/contoso/devices.json --groups scenarios/contoso/groups.toml
  Why does this device not match?
    fleetlab explain --devices scenarios/contoso/devices.json --device <id or name> --rule '…'
  The canonical form of a rule:
    fleetlab fmt --rule 'device.deviceostype eq \"Windows\" and device.accountenabled eq true'

Exit status:
  0  success
  1  invalid input or findings: a rule, group file, tenant, edit file, scenario or
     registration CSV that was read but breaks a documented rule (the findings are printed)
  2  unreadable input, bad arguments, a failed write or a failed Graph call
  3  sync pull --strict only: the pull skipped a resource";

/// Test Entra ID dynamic-group membership rules against a device or user
/// inventory, offline, before you save them.
#[derive(Parser, Debug)]
#[command(name = "fleetlab", version, about, long_about = None, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a rule: syntax, properties, operators, values. Exit 0 when valid.
    #[command(after_help = "Examples:\n  fleetlab check --rule 'user.department -eq \"Sales\"'\n  \
                            fleetlab check --rule-file rule.txt --format json\n\n\
                            Exit status: 0 valid, 1 invalid, 2 unreadable input.")]
    Check {
        #[command(flatten)]
        rule: RuleArgs,
        /// Which objects the rule must select; by default whatever it names.
        #[arg(long, value_enum)]
        object: Option<ObjectArg>,
        /// `text` (a diagnostic with a caret under the problem) or `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Evaluate a rule or a group file against an inventory.
    #[command(after_help = "Inventories are Graph device (or user) objects: a JSON array, a Graph page \
                            ({\"value\": [...]}) or JSON Lines.\n\n\
                            With --rule: prints the id of each matching object, one per line, in input order.\n\
                            With --groups: prints each group's membership (--format table|json|csv).\n\n\
                            Examples:\n  fleetlab eval --devices devices.json --rule 'device.deviceOSType -eq \"Windows\"'\n  \
                            fleetlab eval --devices devices.json --groups groups.toml --format csv -o membership.csv")]
    Eval {
        #[command(flatten)]
        inventory: InventoryArgs,
        #[command(flatten)]
        load: LoadOptions,
        #[command(flatten)]
        rule: RuleOrGroups,
        #[command(flatten)]
        options: RuleOptions,
        /// Output format. Default: `ids` for a rule, `table` for a group file.
        #[arg(long, value_enum)]
        format: Option<EvalFormat>,
        /// Write the result to FILE (atomically) instead of stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Also print each rule's compile and evaluation cost on stderr.
        #[arg(long)]
        stats: bool,
        /// With --groups --format json: list each group's members (`groups`),
        /// each record's groups (`devices`), or both (the default).
        #[arg(long, value_enum)]
        shape: Option<ShapeArg>,
    },
    /// Show why one device (or user) does or does not match a rule.
    #[command(after_help = "The tree lists every sub-expression with its result and the value it read, \
                            in the shape of Graph's expressionEvaluationDetails (--format json).\n\n\
                            Example:\n  fleetlab explain --devices devices.json --device CPC-ADA-7731 \\\n    \
                            --rule '(device.deviceOSType -eq \"Windows\") -and (device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\"))'")]
    Explain {
        #[command(flatten)]
        inventory: InventoryArgs,
        #[command(flatten)]
        load: LoadOptions,
        #[command(flatten)]
        rule: RuleArgs,
        /// The object to explain: its id, its deviceId, or its exact display name.
        #[arg(long, visible_alias = "user", value_name = "ID")]
        device: String,
        /// `text` (a tree) or `json`.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Print a rule in canonical form (documented casing, explicit parentheses).
    Fmt {
        #[command(flatten)]
        rule: RuleArgs,
    },
    /// Pack a device inventory for fast reloads, export it for SQL engines, or show how it is stored.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Check an Autopilot tenant file (profiles, groups, assignments) or Graph profile JSON.
    Lint(autopilot::LintArgs),
    /// Which Autopilot profile every device gets, and what a change would change.
    Plan(autopilot::PlanArgs),
    /// Autopilot registration: check a hardware-hash CSV before it is uploaded.
    #[command(subcommand)]
    Autopilot(register::AutopilotCommand),
    /// Translate a device rule into a DuckDB, DataFusion or Spark SQL query.
    #[command(after_help = sql::SQL_HELP)]
    Sql(sql::SqlArgs),
    /// Pull a tenant from Microsoft Graph into a local snapshot, and export it.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// A fake Microsoft Graph on 127.0.0.1, for demos and tests.
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCommand),
    /// Enrollment flows: each Autopilot mode as a validated graph; show, check, walk.
    #[command(subcommand)]
    Flow(flow::FlowCommand),
    /// A local HTTP API and browser UI over a loaded inventory (and tenant).
    #[command(after_help = serve::HELP)]
    Serve(serve::ServeArgs),
    /// Simulate provisioning waves: depots, bandwidth, failures, Monte Carlo replications.
    #[command(after_help = simulate::HELP)]
    Simulate(simulate::SimulateArgs),
    /// Write a synthetic fleet of Graph device records (JSON Lines).
    #[command(
        after_help = "A realistic mix: Autopilot laptops and desktops with group tags and purchase orders, \
                      hybrid joined PCs, Cloud PCs, HoloLens, iOS, Android, macOS, disabled and sparse \
                      records. The same --devices and --seed give the same bytes on any machine.\n\n\
                      Examples:\n  fleetlab generate --devices 10000 --seed 7 -o fleet.jsonl\n  \
                      fleetlab eval --devices fleet.jsonl \\\n    \
                      --rule 'device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")'\n  \
                      fleetlab generate --devices 5 | head -1"
    )]
    Generate {
        /// How many devices.
        #[arg(long, value_name = "N")]
        devices: u64,
        /// Seed of the generator.
        #[arg(long, value_name = "S", default_value_t = 1)]
        seed: u64,
        /// Write to FILE (atomically) instead of stdout; `-` is stdout.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum InventoryCommand {
    /// Write a packed index of a device inventory; `eval` and `explain` load it
    /// at disk speed, with no JSON parsing.
    #[command(after_help = "Example:\n  fleetlab inventory pack fleet.jsonl -o fleet.fleet\n  \
                            fleetlab eval --devices fleet.fleet --groups groups.toml\n\n\
                            A packed index is a cache of the JSON inventory: re-pack it after each export. \
                            Corrupt, truncated or foreign files are rejected with an error.")]
    Pack {
        /// The device inventory (JSON array, Graph page or JSON Lines).
        input: PathBuf,
        /// Where to write the packed index (atomically).
        #[arg(long, short = 'o', value_name = "FILE")]
        output: PathBuf,
        #[command(flatten)]
        load: LoadOptions,
    },
    /// Count the devices of an inventory and show the memory its index takes.
    Stats {
        /// The device inventory (JSON or packed).
        input: PathBuf,
        #[command(flatten)]
        load: LoadOptions,
    },
    /// Write a device inventory as a Parquet or Arrow file, the table `fleetlab sql` queries.
    #[command(after_help = sql::EXPORT_HELP)]
    Export(sql::ExportArgs),
}

#[derive(Args, Debug)]
struct RuleArgs {
    /// The rule text (quote it for your shell). It may begin with `-not`.
    #[arg(
        long,
        value_name = "RULE",
        conflicts_with = "rule_file",
        required_unless_present = "rule_file",
        allow_hyphen_values = true
    )]
    rule: Option<String>,
    /// Read the rule from FILE (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    rule_file: Option<PathBuf>,
    #[command(flatten)]
    options: RuleOptions,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct RuleOrGroups {
    /// The rule text (quote it for your shell). It may begin with `-not`.
    #[arg(long, value_name = "RULE", allow_hyphen_values = true)]
    rule: Option<String>,
    /// Read the rule from FILE (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    rule_file: Option<PathBuf>,
    /// A group file: `[[group]]` tables with `name` and `rule`.
    #[arg(long, value_name = "FILE")]
    groups: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct RuleOptions {
    /// Accept an en dash (–) as a hyphen, as the Microsoft docs print it.
    #[arg(long)]
    lenient: bool,
    /// Also warn about property names not in their documented casing.
    #[arg(long)]
    strict: bool,
    /// The instant `system.now` stands for (default: the current time).
    #[arg(long, value_name = "DATETIME", value_parser = parse_now)]
    now: Option<Timestamp>,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct InventoryArgs {
    /// Graph device objects (JSON array, Graph page or JSON Lines).
    #[arg(long, value_name = "FILE")]
    devices: Option<PathBuf>,
    /// Graph user objects, for user rules.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, Copy)]
struct LoadOptions {
    /// Accept an inventory with no records (otherwise an error: an empty
    /// export usually means a failed one).
    #[arg(long)]
    allow_empty: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ObjectArg {
    Device,
    User,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CheckFormat {
    Text,
    Json,
}

/// `--shape` of a group report ([`crate::groups::write::Shape`]).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ShapeArg {
    Groups,
    Devices,
    Both,
}

impl From<ShapeArg> for crate::groups::write::Shape {
    fn from(s: ShapeArg) -> Self {
        match s {
            ShapeArg::Groups => crate::groups::write::Shape::Groups,
            ShapeArg::Devices => crate::groups::write::Shape::Devices,
            ShapeArg::Both => crate::groups::write::Shape::Both,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum EvalFormat {
    /// Matching ids, one per line (rules only).
    Ids,
    Json,
    Csv,
    Table,
}

fn parse_now(s: &str) -> Result<Timestamp, String> {
    Timestamp::parse(s).map_err(|e| e.0)
}

pub(crate) use error::{fail, CliError};

/// The error of every handler (the name `simulate` and older handlers use).
pub(crate) type Failure = CliError;

type Outcome = Result<(), CliError>;

/// Runs the CLI with the process arguments.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Check { rule, object, format } => check(&rule, object, format),
        Command::Eval { inventory, load, rule, options, format, output, threads, stats, shape } => {
            eval(&inventory, load, &rule, &options, format, output.as_deref(), threads, stats, shape)
        }
        Command::Explain { inventory, load, rule, device, format } => {
            explain(&inventory, load, &rule, &device, format)
        }
        Command::Fmt { rule } => fmt(&rule),
        Command::Generate { devices, seed, output } => generate(devices, seed, output.as_deref()),
        Command::Inventory(cmd) => inventory(cmd),
        Command::Lint(args) => autopilot::lint(&args),
        Command::Plan(args) => autopilot::plan(&args),
        Command::Autopilot(cmd) => register::run(cmd),
        Command::Sql(args) => sql::sql(&args),
        Command::Sync(cmd) => sync::run(cmd),
        Command::Sandbox(cmd) => sandbox::run(cmd),
        Command::Flow(cmd) => flow::run(cmd),
        Command::Simulate(args) => simulate::run(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit(),
    }
}

fn read_rule(inline: &Option<String>, file: &Option<PathBuf>) -> Result<(String, String), Failure> {
    if let Some(text) = inline {
        return Ok((text.clone(), "rule".into()));
    }
    let Some(path) = file else { return Err(fail("give a rule with --rule RULE or --rule-file FILE")) };
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| fail(format!("stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| CliError::file(path, e))?
    };
    // A rule file ends with a newline; the rule does not.
    let text =
        text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string();
    Ok((text, path.display().to_string()))
}

fn options(o: &RuleOptions, object: Option<ObjectType>) -> Options {
    Options { lenient: o.lenient, strict: o.strict, object, now: o.now }
}

/// Renders rule errors on stderr with the rule text and a caret.
fn report_rule_errors(errors: &RuleErrors, name: &str, text: &str) {
    let mut out = String::new();
    for e in errors.iter() {
        out.push_str(&output::render(Diagnostic::new(e.clone(), name, text)));
    }
    eprint!("{out}");
}

fn report_warnings(rule: &Rule, name: &str) {
    for w in rule.warnings() {
        let (line, col) = rule::line_col(rule.source(), w.span.start());
        eprintln!("warning[{}]: {name}:{line}:{col}: {}", w.code, w.message);
    }
}

fn compile(args: &RuleArgs, object: Option<ObjectType>, json: bool) -> Result<(Rule, String), Failure> {
    let (text, name) = read_rule(&args.rule, &args.rule_file)?;
    match Rule::with_options(&text, &options(&args.options, object)) {
        Ok(rule) => {
            if !json {
                report_warnings(&rule, &name);
            }
            Ok((rule, name))
        }
        Err(errors) => {
            if json {
                let report = serde_json::json!({
                    "valid": false,
                    "rule": rule::quotable(&text),
                    "errors": errors.iter().map(|e| rule::error_json(e, &text)).collect::<Vec<_>>(),
                });
                // Written like every result: a closed pipe is not a panic.
                emit(&(serde_json::to_string_pretty(&report).map_err(fail)? + "\n"), None)?;
            } else {
                report_rule_errors(&errors, &name, &text);
            }
            Err(CliError::Findings)
        }
    }
}

fn check(args: &RuleArgs, object: Option<ObjectArg>, format: CheckFormat) -> Outcome {
    let object = object.map(|o| match o {
        ObjectArg::Device => ObjectType::Device,
        ObjectArg::User => ObjectType::User,
    });
    let json = format == CheckFormat::Json;
    let (rule, _) = compile(args, object, json)?;
    if json {
        let report = serde_json::json!({
            "valid": true,
            "rule": rule.source(),
            "canonical": rule.canonical(),
            "object": rule.object(),
            "warnings": rule.warnings().iter().map(|w| rule::warning_json(w, rule.source())).collect::<Vec<_>>(),
            "errors": [],
        });
        return emit(&(serde_json::to_string_pretty(&report).map_err(fail)? + "\n"), None);
    }
    eprintln!("ok: valid {} rule", rule.object());
    Ok(())
}

/// Per-rule costs on stderr (`--stats`): each rule compiled and run alone.
/// Device inventories only: `check_eval_args` refuses `--stats` with `--users`.
fn print_stats(index: &FleetIndex, names: &[&str], rules: &[&Rule]) {
    let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(4).max(4);
    eprintln!(
        "{:<width$}  {:>11}  {:>11}  {:>9}  {:>10}",
        "RULE", "COMPILE µs", "EVAL µs", "ns/device", "MEMBERS"
    );
    for (name, rule) in names.iter().zip(rules) {
        let t = Instant::now();
        let Ok(set) = CompiledSet::compile(&[*rule], index) else { continue };
        let compiled = t.elapsed();
        let t = Instant::now();
        let members = set.evaluate().first().map_or(0, |b| b.count());
        let ran = t.elapsed();
        let per = ran.as_secs_f64() * 1e9 / index.len().max(1) as f64;
        eprintln!(
            "{name:<width$}  {:>11.1}  {:>11.1}  {per:>9.3}  {members:>10}",
            compiled.as_secs_f64() * 1e6,
            ran.as_secs_f64() * 1e6
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn eval(
    inv_args: &InventoryArgs,
    load_options: LoadOptions,
    which: &RuleOrGroups,
    rule_options: &RuleOptions,
    format: Option<EvalFormat>,
    output_path: Option<&Path>,
    threads: Option<usize>,
    stats: bool,
    shape: Option<ShapeArg>,
) -> Outcome {
    // First stage: everything the arguments alone decide is checked before
    // a (possibly 2 GB) inventory or the rules are read.
    let format = resolve_eval_format(which, format)?;
    let shape = check_eval_args(inv_args, which, format, output_path, threads, stats, shape)?;
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build_global().map_err(fail)?;
    }
    let object = if inv_args.devices.is_some() { ObjectType::Device } else { ObjectType::User };
    let started = Instant::now();
    // Check the rules before reading a possibly large inventory.
    if let Some(groups_path) = &which.groups {
        let set = match GroupSet::load(groups_path, &options(rule_options, Some(object))) {
            Ok(set) => set,
            Err(GroupSetError::InvalidRules { path, failures }) => {
                for (spec, errors) in &failures {
                    let label = format!("{} [{}]", path.display(), spec.name);
                    report_rule_errors(errors, &label, &spec.rule);
                }
                eprintln!("error: {} of the groups in {} have invalid rules", failures.len(), path.display());
                return Err(CliError::Findings);
            }
            Err(e) => return Err(fail(e)),
        };
        let checked = started.elapsed();
        let rules: Vec<&Rule> = set.groups.iter().map(|g| &g.rule).collect();
        let (inventory, mut warnings) =
            load::inventory(inv_args, load_options, &CompiledSet::projection(&rules))?;
        let loaded = started.elapsed();
        warnings.extend(inventory.unread(inventory_path(inv_args), &rules));
        load::print(&warnings);
        let (membership, compiled) = inventory.members_timed(&rules).map_err(fail)?;
        let evaluated = started.elapsed();
        if let (true, Inventory::Devices(index)) = (stats, &inventory) {
            let names: Vec<&str> = set.groups.iter().map(|g| g.spec.name.as_str()).collect();
            print_stats(index, &names, &rules);
        }
        let timings = output::Timings::from_marks(checked, loaded, compiled, evaluated);
        let text = match format {
            EvalFormat::Ids => unreachable_ids()?,
            EvalFormat::Json => {
                inventory.verify_records().map_err(fail)?;
                let warnings = warning_values(&warnings);
                let timings = timings.json();
                let extras = crate::groups::write::Extras { timings: &timings, warnings: &warnings };
                return emit_with(output_path, &mut |w| {
                    output::groups_json(w, &set, &membership, &inventory, object, shape.into(), extras)
                });
            }
            EvalFormat::Csv => {
                inventory.verify_records().map_err(fail)?;
                return emit_with(output_path, &mut |w| output::groups_csv(w, &set, &membership, &inventory));
            }
            EvalFormat::Table => output::groups_table(&set, &membership, inventory.len(), object),
        };
        return emit(&text, output_path);
    }
    let rule_args = RuleArgs {
        rule: which.rule.clone(),
        rule_file: which.rule_file.clone(),
        options: rule_options.clone(),
    };
    // Even with --format json, a broken rule is a diagnostic on stderr: stdout stays empty.
    let (rule, name) = compile(&rule_args, Some(object), false)?;
    let checked = started.elapsed();
    let mut projection = CompiledSet::projection(&[&rule]);
    if format == EvalFormat::Ids {
        // The answer prints ids alone: names would be read for nothing.
        projection = projection.without_display_names(&[&rule]);
    }
    let (inventory, mut warnings) = load::inventory(inv_args, load_options, &projection)?;
    let loaded = started.elapsed();
    warnings.extend(inventory.unread(inventory_path(inv_args), &[&rule]));
    load::print(&warnings);
    let (membership, compiled) = inventory.members_timed(&[&rule]).map_err(fail)?;
    let hits: Vec<usize> = membership.members(0).collect();
    let evaluated = started.elapsed();
    if let (true, Inventory::Devices(index)) = (stats, &inventory) {
        print_stats(index, &[name.as_str()], &[&rule]);
    }
    let timings = output::Timings::from_marks(checked, loaded, compiled, evaluated);
    inventory.verify_records().map_err(fail)?;
    let text = match format {
        EvalFormat::Ids => {
            return emit_with(output_path, &mut |w| output::id_lines(w, &hits, &inventory));
        }
        EvalFormat::Json => {
            let warnings = warning_values(&warnings);
            return emit_with(output_path, &mut |w| {
                output::rule_json(w, &rule, &hits, &inventory, &timings, &warnings)
            });
        }
        EvalFormat::Csv => {
            return emit_with(output_path, &mut |w| output::rule_csv(w, &hits, &inventory));
        }
        EvalFormat::Table => output::rule_table(&rule, &hits, &inventory),
    };
    emit(&text, output_path)
}

/// The output format of `eval`, from the arguments alone: `ids` for a
/// rule and `table` for a group file by default; `ids` with a group file is
/// a wrong command line (exit 2).
fn resolve_eval_format(which: &RuleOrGroups, format: Option<EvalFormat>) -> Result<EvalFormat, Failure> {
    match (which.groups.is_some(), format) {
        (true, Some(EvalFormat::Ids)) => Err(ids_with_groups()),
        (true, f) => Ok(f.unwrap_or(EvalFormat::Table)),
        (false, f) => Ok(f.unwrap_or(EvalFormat::Ids)),
    }
}

/// What else `eval`'s arguments alone make meaningless, and the `--shape`
/// to use: an output that names an input, zero threads, `--shape` where no
/// group JSON report is written (it would be ignored), and `--stats` on
/// users (it measures rules compiled for the columnar device index).
fn check_eval_args(
    inventory: &InventoryArgs,
    which: &RuleOrGroups,
    format: EvalFormat,
    output: Option<&Path>,
    threads: Option<usize>,
    stats: bool,
    shape: Option<ShapeArg>,
) -> Result<ShapeArg, Failure> {
    let inputs =
        [&inventory.devices, &inventory.users, &which.groups, &which.rule_file].map(|p| p.as_deref());
    args::not_an_input("-o", output, &inputs)?;
    if threads == Some(0) {
        return Err(fail(
            "--threads 0: give at least one worker thread, or leave --threads out to use every core",
        ));
    }
    if shape.is_some() && !(which.groups.is_some() && format == EvalFormat::Json) {
        return Err(fail(
            "--shape shapes the JSON report of a group file: use it with --groups and --format json",
        ));
    }
    if stats && inventory.users.is_some() {
        return Err(fail(
            "--stats measures rules compiled for the columnar device index; --users inventories are evaluated \
             record by record: use --stats with --devices",
        ));
    }
    Ok(shape.unwrap_or(ShapeArg::Both))
}

fn ids_with_groups() -> Failure {
    fail("--format ids lists one rule's matches; use table, json or csv with --groups")
}

/// `ids` with a group file, refused by [`resolve_eval_format`] before
/// anything was read; kept as an error rather than a panic.
fn unreachable_ids() -> Result<String, Failure> {
    Err(ids_with_groups())
}

fn inventory_path(args: &InventoryArgs) -> &Path {
    args.devices.as_deref().or(args.users.as_deref()).unwrap_or(Path::new("inventory"))
}

fn warning_values(warnings: &[InventoryWarning]) -> Vec<serde_json::Value> {
    warnings.iter().filter_map(|w| serde_json::to_value(w).ok()).collect()
}

/// Streams `write`'s output to stdout, or atomically to a file, buffered.
fn emit_with(path: Option<&Path>, write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>) -> Outcome {
    let run = |sink: &mut dyn Write, write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>| {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, sink);
        write(&mut buffered)?;
        buffered.flush()
    };
    match path {
        Some(path) => output::write_atomic_with(path, |file| run(file, write))
            .map_err(|e| fail(format!("{}: {e}", path.display()))),
        None => match run(&mut std::io::stdout().lock(), write) {
            Ok(()) => Ok(()),
            // `| head` closing the pipe is not an error worth a message.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(fail(format!("stdout: {e}"))),
        },
    }
}

/// Writes to stdout, or atomically to a file.
fn emit(text: &str, path: Option<&Path>) -> Outcome {
    match path {
        Some(path) => output::write_file(path, text.as_bytes()),
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => Ok(()),
                // `| head` closing the pipe is not an error worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(fail(format!("stdout: {e}"))),
            }
        }
    }
}

fn find<'a, R: HasId>(records: &'a [R], key: &str) -> Result<&'a R, String> {
    if let Some(r) = records.iter().find(|r| r.id().eq_ignore_ascii_case(key)) {
        return Ok(r);
    }
    let by_name: Vec<&R> = records.iter().filter(|r| r.display_name() == Some(key)).collect();
    match by_name.len() {
        1 => Ok(by_name[0]),
        0 => Err(format!("no object with id or display name {key:?}")),
        n => Err(format!("{n} objects are named {key:?}; give the id instead")),
    }
}

fn explain(
    inv_args: &InventoryArgs,
    load_options: LoadOptions,
    args: &RuleArgs,
    key: &str,
    format: CheckFormat,
) -> Outcome {
    // First stage: the arguments alone, before the rule file or the inventory is read.
    check_explain_args(load_options, key)?;
    let object = if inv_args.devices.is_some() { ObjectType::Device } else { ObjectType::User };
    let json = format == CheckFormat::Json;
    let (rule, _) = compile(args, Some(object), false)?;
    let (inventory, mut warnings) = load::inventory(inv_args, load_options, &Projection::all())?;
    warnings.extend(inventory.unread(inventory_path(inv_args), &[&rule]));
    load::print(&warnings);
    let explanation = match &inventory {
        Inventory::Devices(index) => {
            let i = index.find(key).map_err(fail)?;
            let device = index.device(i).ok_or_else(|| fail(format!("no device {key:?}")))?;
            rule.explain(&device)
        }
        Inventory::Users(u) => rule.explain(find(u, key).map_err(fail)?),
    };
    let text = if json { output::pretty_json(&explanation)? } else { explanation.to_text() };
    emit(&text, None)
}

/// What `explain`'s arguments alone make meaningless: an object key that
/// names nothing, and `--allow-empty` (an empty inventory holds no object
/// to explain, so accepting one only defers the error past the load).
fn check_explain_args(load_options: LoadOptions, key: &str) -> Result<(), Failure> {
    if key.trim().is_empty() {
        return Err(fail("--device needs an object id, a deviceId or a display name"));
    }
    if load_options.allow_empty {
        return Err(fail(
            "--allow-empty cannot be used with explain: an empty inventory has no object to explain",
        ));
    }
    Ok(())
}

fn fmt(args: &RuleArgs) -> Outcome {
    let (rule, _) = compile(args, None, false)?;
    emit(&format!("{}\n", rule.canonical()), None)
}

/// Streams a synthetic fleet to stdout, or into a temporary file beside
/// `path` that is renamed over it only once every record is written.
fn generate(devices: u64, seed: u64, path: Option<&Path>) -> Outcome {
    let spec = crate::inventory::FleetSpec { devices, seed };
    let started = Instant::now();
    let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
        return match crate::inventory::generate(&spec, std::io::stdout().lock()) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(fail(format!("stdout: {e}"))),
        };
    };
    let bar = progress::bar(
        None,
        "{spinner} generating {msg}: {bytes} written ({bytes_per_sec})",
        format!("{devices} devices"),
        devices >= 100_000,
    );
    let bytes = output::write_atomic_with(path, |file| {
        crate::inventory::generate(&spec, ProgressWriter { inner: file, bar: &bar })
    })
    .map_err(|e| CliError::file(path, e))?;
    bar.finish_and_clear();
    eprintln!(
        "wrote {devices} devices ({:.1} MB) to {} in {:.1} s",
        bytes as f64 / 1e6,
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Counts bytes written into a progress bar.
struct ProgressWriter<'b, W> {
    inner: W,
    bar: &'b indicatif::ProgressBar,
}

impl<W: std::io::Write> std::io::Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A device inventory for the commands without `--allow-empty` (plan,
/// sql export), its warnings printed.
fn load_devices_index(path: &Path) -> Result<FleetIndex, Failure> {
    load::devices(path, LoadOptions { allow_empty: false })
}

/// `inventory pack`'s arguments alone: the packed index must not replace
/// the inventory it is packed from.
fn validate_pack(input: &Path, output: &Path) -> Result<(), Failure> {
    args::not_an_input("-o", Some(output), &[Some(input)])
}

fn inventory(cmd: InventoryCommand) -> Outcome {
    match cmd {
        InventoryCommand::Pack { input, output, load } => {
            validate_pack(&input, &output)?;
            let started = Instant::now();
            let index = load::devices(&input, load)?;
            let bytes = crate::fleet::pack::to_bytes(&index).map_err(fail)?;
            output::write_file(&output, &bytes)?;
            eprintln!(
                "packed {} devices into {} ({:.1} MB) in {:.1} s",
                index.len(),
                output.display(),
                bytes.len() as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        InventoryCommand::Export(args) => sql::export(&args),
        InventoryCommand::Stats { input, load } => {
            let started = Instant::now();
            let index = load::devices(&input, load)?;
            let n = index.len().max(1);
            let text = format!(
                "devices          {}\nstructure        {} bytes/device (codes, offsets, lane masks)\n\
                 distinct text    {} bytes/device\nloaded in        {:.2} s\n",
                index.len(),
                index.structure_bytes() / n,
                index.text_bytes() / n,
                started.elapsed().as_secs_f64()
            );
            emit(&text, None)
        }
    }
}
