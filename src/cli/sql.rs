//! `fleetlab sql` (a device rule as a DuckDB, DataFusion or Spark query)
//! and `fleetlab inventory export` (the table those queries read).
//!
//! Kept apart from the other commands because both only adapt
//! [`crate::sql`] to the command line: the rule is checked as a device rule
//! first (so a user rule fails with the usual diagnostic and exit 1), a rule
//! the engine cannot express exactly also exits 1 with the reason, and the
//! export goes through the same atomic writer as every report.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, ValueEnum};

use super::{compile, emit, fail, load_devices_index, output, Outcome, RuleArgs};
use crate::rule::ObjectType;
use crate::sql::export::{self, Format};
use crate::sql::{to_sql, Dialect};

pub(super) const SQL_HELP: &str = "\
The query reads a table with one row per device and the Graph device fields as columns, \
as `fleetlab inventory export` writes it (extensionAttribute1..15 flattened; physicalIds, \
systemLabels and memberOf as lists of strings). It selects the same devices as \
`fleetlab eval`, nulls, empty strings, case folding and regexes included; a rule the engine \
cannot express exactly is an error (exit 1), never a different answer.

Examples:
  fleetlab inventory export devices.json -o devices.parquet
  (echo \"CREATE VIEW devices AS FROM 'devices.parquet';\"
   fleetlab sql --dialect duckdb --rule 'device.deviceOSType -eq \"Windows\"') | duckdb
  fleetlab sql --dialect spark --table intune.devices --rule-file rule.txt

Exit status: 0 translated, 1 invalid or untranslatable rule, 2 unreadable input.";

pub(super) const EXPORT_HELP: &str = "\
Columns are the Graph device fields (id, accountEnabled, …, extensionAttribute1..15 flattened, \
physicalIds, systemLabels and memberOf as lists of strings): the table `fleetlab sql` queries.

Examples:
  fleetlab inventory export devices.json -o devices.parquet
  fleetlab inventory export fleet.fleet --format arrow -o devices.arrow";

/// `fleetlab sql`.
#[derive(Args, Debug)]
pub(super) struct SqlArgs {
    #[command(flatten)]
    rule: RuleArgs,
    /// The engine to write for.
    #[arg(long, value_enum)]
    dialect: DialectArg,
    /// The device table (a dotted name such as `main.devices` is quoted part by part).
    #[arg(long, value_name = "NAME", default_value = "devices")]
    table: String,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum DialectArg {
    Duckdb,
    Datafusion,
    Spark,
}

/// `fleetlab inventory export`.
#[derive(Args, Debug)]
pub(super) struct ExportArgs {
    /// The device inventory (JSON array, Graph page, JSON Lines or packed index).
    input: PathBuf,
    /// `parquet` (Snappy) or `arrow` (Arrow IPC file).
    #[arg(long, value_enum, default_value = "parquet")]
    format: FormatArg,
    /// Where to write the file (atomically).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Parquet,
    Arrow,
}

/// The dialect, and `--table` checked from the arguments alone, before the
/// rule (perhaps a file) is read.
fn resolve_sql(args: &SqlArgs) -> Result<Dialect, super::Failure> {
    let dialect = match args.dialect {
        DialectArg::Duckdb => Dialect::DuckDb,
        DialectArg::Datafusion => Dialect::DataFusion,
        DialectArg::Spark => Dialect::Spark,
    };
    match crate::sql::table_name(&args.table, dialect) {
        Err(crate::sql::SqlError::InvalidTable { name, reason }) => Err(invalid_table(&name, reason)),
        _ => Ok(dialect),
    }
}

fn invalid_table(name: &str, reason: impl std::fmt::Display) -> super::Failure {
    fail(format!("--table {name:?}: {reason}"))
}

pub(super) fn sql(args: &SqlArgs) -> Outcome {
    let dialect = resolve_sql(args)?;
    let (rule, _) = compile(&args.rule, Some(ObjectType::Device), false)?;
    match to_sql(&rule, dialect, &args.table) {
        Ok(sql) => emit(&format!("{sql};\n"), None),
        Err(crate::sql::SqlError::InvalidTable { name, reason }) => Err(invalid_table(&name, reason)),
        Err(e) => {
            eprintln!("error: {e}");
            Err(super::CliError::Findings)
        }
    }
}

/// `inventory export`'s arguments alone: the export must not replace the
/// inventory it is made from.
fn validate_export(args: &ExportArgs) -> Result<(), super::Failure> {
    super::args::not_an_input("-o", Some(&args.output), &[Some(&args.input)])
}

pub(super) fn export(args: &ExportArgs) -> Outcome {
    validate_export(args)?;
    let started = Instant::now();
    let index = load_devices_index(&args.input)?;
    let format = match args.format {
        FormatArg::Parquet => Format::Parquet,
        FormatArg::Arrow => Format::Arrow,
    };
    let path = &args.output;
    output::write_atomic_with(path, |file| export::write(&index, format, file).map_err(std::io::Error::from))
        .map_err(|e| super::CliError::file(path, e))?;
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    eprintln!(
        "exported {} devices to {} ({:.1} MB) in {:.1} s",
        index.len(),
        path.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
