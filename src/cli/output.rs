//! Result formats of the CLI (JSON, CSV, tables, diagnostics) and the
//! atomic file writer.

use std::time::Duration;

use serde_json::json;

use crate::fleet::Inventory;
use crate::groups::{write, GroupSet, Membership};
use crate::rule::{Diagnostic, ObjectType, Rule};

/// Wall-clock phases of an evaluation, reported in JSON output.
pub(crate) struct Timings {
    pub check: Duration,
    pub load: Duration,
    pub compile: Duration,
    pub eval: Duration,
}

impl Timings {
    /// The phases from the instants (since the start) at which the rules
    /// were checked, the inventory loaded and the evaluation done, and the
    /// time spent compiling inside the evaluation.
    pub(crate) fn from_marks(
        checked: Duration,
        loaded: Duration,
        compiled: Duration,
        evaluated: Duration,
    ) -> Timings {
        Timings {
            check: checked,
            load: loaded - checked,
            compile: compiled,
            eval: evaluated - loaded - compiled,
        }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        json!({
            "check_ms": ms(self.check),
            "load_ms": ms(self.load),
            "compile_ms": ms(self.compile),
            "eval_ms": ms(self.eval),
        })
    }
}

/// A miette rendering of one diagnostic: colours only on a terminal.
pub(crate) fn render(diagnostic: Diagnostic) -> String {
    use std::io::IsTerminal;
    let theme = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    if handler.render_report(&mut out, &diagnostic).is_err() {
        out = format!("error: {diagnostic}\n");
    }
    out
}

/// The single-rule JSON report, streamed ([`crate::groups::write::rule_json`]);
/// `warnings` are the inventory's, after the rule's own.
pub(crate) fn rule_json(
    w: &mut dyn std::io::Write,
    rule: &Rule,
    hits: &[usize],
    records: &Inventory,
    t: &Timings,
    warnings: &[serde_json::Value],
) -> std::io::Result<()> {
    let mut all: Vec<serde_json::Value> =
        rule.warnings().iter().map(|w| crate::rule::warning_json(w, rule.source())).collect();
    all.extend(warnings.iter().cloned());
    let timings = t.json();
    let extras = write::Extras { timings: &timings, warnings: &all };
    write::rule_json(w, rule, hits, &records.records(), extras)
}

/// One id per line for each of `hits`, streamed
/// ([`crate::groups::write::id_lines`]).
pub(crate) fn id_lines(
    w: &mut dyn std::io::Write,
    hits: &[usize],
    records: &Inventory,
) -> std::io::Result<()> {
    write::id_lines(w, hits, &records.records())
}

pub(crate) fn rule_csv(
    w: &mut dyn std::io::Write,
    hits: &[usize],
    records: &Inventory,
) -> std::io::Result<()> {
    write::rule_csv(w, hits, &records.records())
}

pub(crate) fn rule_table(rule: &Rule, hits: &[usize], records: &Inventory) -> String {
    let rows: Vec<Vec<String>> =
        hits.iter().map(|&i| vec![records.id(i).to_string(), records.name(i).to_string()]).collect();
    let mut s = super::table::table(&["ID", "DISPLAY NAME"], &rows);
    s.push_str(&format!(
        "{} of {} {}s match {}\n",
        hits.len(),
        records.len(),
        rule.object(),
        rule.canonical()
    ));
    s
}

/// The group report, streamed ([`crate::groups::write::groups_json`]).
pub(crate) fn groups_json(
    w: &mut dyn std::io::Write,
    set: &GroupSet,
    m: &Membership,
    records: &Inventory,
    object: ObjectType,
    shape: write::Shape,
    extras: write::Extras<'_>,
) -> std::io::Result<()> {
    write::groups_json(w, set, m, &records.records(), object, shape, extras)
}

/// Long format, one row per (group, member): what spreadsheets pivot best.
pub(crate) fn groups_csv(
    w: &mut dyn std::io::Write,
    set: &GroupSet,
    m: &Membership,
    records: &Inventory,
) -> std::io::Result<()> {
    write::groups_csv(w, set, m, &records.records())
}

pub(crate) fn groups_table(set: &GroupSet, m: &Membership, total: usize, object: ObjectType) -> String {
    use super::table::{render, Column};
    let rows: Vec<Vec<String>> = set
        .groups
        .iter()
        .enumerate()
        .map(|(k, g)| {
            let members = m.count(k);
            let share = if total == 0 { 0.0 } else { 100.0 * members as f64 / total as f64 };
            vec![g.spec.name.clone(), members.to_string(), format!("{share:.1}%")]
        })
        .collect();
    let columns = [Column::left("GROUP"), Column::right("MEMBERS", 8), Column::right("SHARE", 6)];
    let mut s = render(&columns, &rows);
    s.push_str(&format!("{} groups evaluated over {total} {object}s\n", set.groups.len()));
    s
}

pub(crate) use super::atomic::{write_atomic, write_atomic_with};

/// Writes `bytes` to `path` atomically; the one mapping of a failed write
/// to the command's error (`{path}: {reason}`, exit 2).
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), super::CliError> {
    write_atomic(path, bytes).map_err(|e| super::CliError::file(path, e))
}

/// Pretty JSON and a newline; a value that cannot be written is an error,
/// never an empty output.
pub(crate) fn pretty_json(value: &impl serde::Serialize) -> Result<String, super::CliError> {
    let mut s = serde_json::to_string_pretty(value).map_err(|e| super::fail(format!("json: {e}")))?;
    s.push('\n');
    Ok(s)
}
