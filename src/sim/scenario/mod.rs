//! Scenario files: what a capacity question looks like as TOML, read with
//! every error located, then resolved with every default of
//! `enrollment-model.md` §3 filled in.
//!
//! Design decisions, and why:
//!
//! * **Two layers.** [`ScenarioFile`] is exactly what the file says (every
//!   table `deny_unknown_fields`, so a typo is an error with its line, not a
//!   silently ignored knob). [`Scenario::resolve`](crate::sim::resolve::Scenario::resolve) turns it into a
//!   [`Scenario`](crate::sim::resolve::Scenario): sites, apps and every duration and probability filled,
//!   the tenant and inventory read. `fleetlab simulate --explain` prints the
//!   resolved form back as TOML, so an admin sees every assumption the
//!   numbers rest on and can copy any of them into their file.
//! * **Durations and probabilities are named by flow event id**
//!   (`power-on`, `tpm-transient`, `esp-timeout` …), the names `fleetlab
//!   flow show` prints: one vocabulary for the graph and the simulator,
//!   checked against the compiled flows so an unknown name is an error
//!   with a suggestion.
//! * **Apps have presets** from the §3.3 catalogue (`preset = "m365"`)
//!   and any field can be overridden; a tenant file's apps are used when
//!   the scenario lists none.
//! * **Time zero is Monday 00:00.** Waves start at `start_hour`; shifts are
//!   weekly (`days = "mon-fri"`), so a five-day horizon sees a working week.
//!   A `[calendar]` makes it 00:00 of a real date in a real time zone, with
//!   each site's local days, holidays and shipping days
//!   ([`super::calendar`]).
//! * **Modes the flow module does not have** are `hands-on-only`: the
//!   technician's bench work alone, so a depot reduces to an M/M/c queue
//!   for validation and staffing questions.
//!
//! The module is split by job: `schema.rs` holds the serde types (what a
//! file may say), `checks.rs` the value checks serde cannot express (ranges,
//! references between tables), `shift.rs` the weekly shift and clock
//! syntax; this file reads a file and locates its errors. Calendars,
//! sweep rewriting and the service plane live in [`super::calendar`],
//! [`super::sweep`](mod@super::sweep) and [`super::service`]. Every item is re-exported here,
//! so `fleetlab::sim::scenario::…` paths do not depend on the split.

mod checks;
pub mod schema;
pub mod shift;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::autopilot::source::{toml_error, KeyIndex};
use crate::autopilot::{Location, Origin, Source};

/// Rewriting a scenario's text for a sweep lives with the sweeps.
pub use super::sweep::with_value;
pub use schema::*;
pub use shift::{parse_clock_range, parse_days, parse_shift};

/// A scenario that cannot be used, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Syntax, an unknown key, a wrong type or an impossible value.
    #[error("{location}: {message}")]
    Invalid {
        /// Where.
        location: Location,
        /// What, starting with the key.
        message: String,
    },
    /// A file the scenario names could not be used.
    #[error("{location}: {message}")]
    Reference {
        /// Where the scenario names it.
        location: Location,
        /// Why it cannot be used.
        message: String,
    },
}

/// A parsed file with what locates its keys.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The file's content.
    pub file: ScenarioFile,
    /// Where each key was written.
    pub origin: Origin,
    /// The directory relative paths are resolved from.
    pub dir: PathBuf,
}

impl Parsed {
    /// The location of `key` (a dotted path such as `wave[1].devices`), or
    /// of the file's start.
    pub fn at(&self, key: &str) -> Location {
        self.origin.location(key).unwrap_or_else(|| Location {
            file: self.origin.file().map(Path::to_path_buf).unwrap_or_default(),
            line: 1,
            column: 1,
        })
    }

    /// An error at `key`.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid { location: self.at(key), message: format!("{key}: {}", message.into()) }
    }
}

/// Reads and shapes a scenario file.
///
/// ```
/// use fleetlab::sim::scenario::parse;
/// let err = parse("name = \"x\"\n[depot]\ntechnicians = 2\nbench_port = 4\n", "s.toml".as_ref())
///     .err().ok_or("accepted a typo")?;
/// assert!(err.to_string().starts_with("s.toml:4:1: "), "{err}");
/// assert!(err.to_string().contains("bench_port"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse(text: &str, path: &Path) -> Result<Parsed, ScenarioError> {
    let source: Arc<Source> = Source::new(path, text);
    let index = KeyIndex::from_toml(text).map_err(|e| {
        let (location, message) = toml_error(&source, None, &e);
        ScenarioError::Invalid { location, message }
    })?;
    let file: ScenarioFile = toml::from_str(text).map_err(|e| {
        let (location, message) = toml_error(&source, Some(&index), &e);
        ScenarioError::Invalid { location, message }
    })?;
    let origin = Origin::toml(&source, &index, "");
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let parsed = Parsed { file, origin, dir };
    checks::check_values(&parsed)?;
    Ok(parsed)
}

/// Reads a scenario file from disk.
pub fn load(path: &Path) -> Result<Parsed, ScenarioError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ScenarioError::Io { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

/// Devices per replication the file asks for.
pub fn total_devices(f: &ScenarioFile) -> u64 {
    let waves: u64 = f.wave.iter().map(|w| u64::from(w.devices.unwrap_or(0))).sum();
    let stream = f.arrivals.as_ref().map_or(0, |a| u64::from(a.devices));
    let depot = f.depot.as_ref().and_then(|d| d.devices).map_or(0, u64::from);
    waves + stream + depot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifts_parse() -> Result<(), String> {
        let s =
            Shift { days: "mon-fri".into(), start: "08:00".into(), end: "17:30".into(), technicians: None };
        let r = parse_shift(&s)?;
        assert_eq!(r.len(), 5);
        assert_eq!(r[0], (480, 1050));
        assert_eq!(r[4], (4 * 1440 + 480, 4 * 1440 + 1050));
        let bad = Shift { days: "mon".into(), start: "18:00".into(), end: "02:00".into(), technicians: None };
        assert!(parse_shift(&bad).is_err());
        assert!(parse_days("funday").is_err());
        assert_eq!(parse_days("sat,mon")?, vec![0, 5]);
        Ok(())
    }

    #[test]
    fn errors_name_line_and_key() {
        let text = "name = \"x\"\n\n[[site]]\nname = \"hq\"\nuplink_mbps = -5\n";
        let err = parse(text, Path::new("s.toml")).map(|_| ()).map_err(|e| e.to_string());
        let msg = err.err().unwrap_or_default();
        assert!(msg.starts_with("s.toml:5:"), "{msg}");
        assert!(msg.contains("site[0].uplink_mbps"), "{msg}");

        let text = "name = \"x\"\n[[wave]]\nname = \"w\"\ndevices = 10\nsite = \"nowhere\"\n";
        let msg =
            parse(text, Path::new("s.toml")).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("no [[site]]"), "{msg}");

        let text = "name = \"x\"\n[failures]\ntpm-transient = 1.5\n";
        let msg =
            parse(text, Path::new("s.toml")).map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("s.toml:3:"), "{msg}");
        assert!(msg.contains("between 0 and 1"), "{msg}");
    }
}
