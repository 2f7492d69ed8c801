//! Group sets: the dynamic groups of a tenant as a TOML file, evaluated together.
//!
//! ```toml
//! [[group]]
//! name = "Autopilot devices"
//! description = "Every device registered with Windows Autopilot."
//! rule = '''device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")'''
//! ```
//!
//! Decisions: every group is checked before any is evaluated, and all
//! broken groups are reported at once (an admin fixing a 300-group export
//! should not iterate one error at a time). Group names must be unique,
//! compared case-insensitively as Entra does for display names in the
//! portal's search. Membership is computed in parallel per group over the
//! records (rayon), and lists members in input order whatever the thread
//! count.

mod bitmap;
mod json;
mod lists;
mod membership;
pub mod write;

pub use bitmap::Bitmap;
pub use membership::Membership;

use std::path::{Path, PathBuf};

#[cfg(not(feature = "parallel"))]
use crate::par::prelude::*;
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use serde::Deserialize;

use crate::rule::{ObjectType, Options, Record, Rule, RuleErrors};

/// A named group and its rule, as written in the file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The group's display name.
    pub name: String,
    /// What the group is for.
    #[serde(default)]
    pub description: Option<String>,
    /// The membership rule.
    pub rule: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    #[serde(default)]
    group: Vec<GroupSpec>,
}

/// A group whose rule checked.
#[derive(Debug)]
pub struct Group {
    /// The group as written.
    pub spec: GroupSpec,
    /// Its compiled rule.
    pub rule: Rule,
}

/// Why a group file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GroupSetError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML (or, for a `.json` file, JSON) of the
    /// expected shape.
    #[error("{path}: {message}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// Two groups share a name.
    #[error("{path}: group name {name:?} is used twice (groups {first} and {second})")]
    DuplicateName {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
        /// 1-based position of the first.
        first: usize,
        /// 1-based position of the second.
        second: usize,
    },
    /// One or more rules are invalid.
    #[error("{path}: {} group rule(s) are invalid", .failures.len())]
    InvalidRules {
        /// The file.
        path: PathBuf,
        /// Each broken group with its errors.
        failures: Vec<(GroupSpec, RuleErrors)>,
    },
}

/// A checked set of groups.
#[derive(Debug)]
pub struct GroupSet {
    /// The groups, in file order.
    pub groups: Vec<Group>,
}

impl GroupSet {
    /// Reads and checks a group file.
    pub fn load(path: &Path, options: &Options) -> Result<GroupSet, GroupSetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| GroupSetError::Io { path: path.to_path_buf(), source })?;
        GroupSet::parse(&text, path, options)
    }

    /// Checks the groups in `text`: JSON when `path` ends in `.json`,
    /// TOML otherwise (`path` only labels errors and picks the format).
    ///
    /// ```
    /// use fleetlab::groups::GroupSet;
    /// use fleetlab::rule::Options;
    /// let text = r#"
    /// [[group]]
    /// name = "Windows"
    /// rule = 'device.deviceOSType -eq "Windows"'
    /// "#;
    /// let set = GroupSet::parse(text, "groups.toml".as_ref(), &Options::default())?;
    /// assert_eq!(set.groups.len(), 1);
    /// # Ok::<(), fleetlab::groups::GroupSetError>(())
    /// ```
    pub fn parse(text: &str, path: &Path, options: &Options) -> Result<GroupSet, GroupSetError> {
        let file = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            parse_json(text, path)?
        } else {
            parse_toml(text, path)?
        };
        GroupSet::from_specs(file.group, path, options)
    }

    /// Checks groups built in code (`label` only names them in errors): the
    /// same checks as a group file gets, for services that keep their groups
    /// elsewhere.
    ///
    /// ```
    /// use fleetlab::groups::{GroupSet, GroupSpec};
    /// use fleetlab::rule::Options;
    /// let spec = GroupSpec {
    ///     name: "Autopilot".into(),
    ///     description: None,
    ///     rule: r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#.into(),
    /// };
    /// let set = GroupSet::from_specs(vec![spec], "service config".as_ref(), &Options::default())?;
    /// assert_eq!(set.groups.len(), 1);
    /// # Ok::<(), fleetlab::groups::GroupSetError>(())
    /// ```
    pub fn from_specs(
        specs: Vec<GroupSpec>,
        label: &Path,
        options: &Options,
    ) -> Result<GroupSet, GroupSetError> {
        let path = label;
        let file = GroupFile { group: specs };
        for (i, a) in file.group.iter().enumerate() {
            if let Some(j) =
                file.group[..i].iter().position(|b| b.name.to_lowercase() == a.name.to_lowercase())
            {
                return Err(GroupSetError::DuplicateName {
                    path: path.to_path_buf(),
                    name: a.name.clone(),
                    first: j + 1,
                    second: i + 1,
                });
            }
        }
        let results: Vec<(GroupSpec, Result<Rule, RuleErrors>)> = file
            .group
            .into_iter()
            .map(|spec| {
                let rule = Rule::with_options(&spec.rule, options);
                (spec, rule)
            })
            .collect();
        let mut groups = Vec::new();
        let mut failures = Vec::new();
        for (spec, rule) in results {
            match rule {
                Ok(rule) => groups.push(Group { spec, rule }),
                Err(e) => failures.push((spec, e)),
            }
        }
        if !failures.is_empty() {
            return Err(GroupSetError::InvalidRules { path: path.to_path_buf(), failures });
        }
        Ok(GroupSet { groups })
    }

    /// Evaluates every group over `records` with the reference evaluator,
    /// 64 records (one word of a group's bitmap) per task.
    pub fn evaluate<R: Record + Sync>(&self, records: &[R]) -> Membership {
        let bitmaps = self
            .groups
            .iter()
            .map(|g| {
                let words: Vec<u64> = (0..records.len().div_ceil(64))
                    .into_par_iter()
                    .map(|w| {
                        let chunk = records.get(w * 64..records.len().min(w * 64 + 64)).unwrap_or(&[]);
                        chunk
                            .iter()
                            .enumerate()
                            .fold(0u64, |bits, (k, r)| bits | u64::from(g.rule.matches(r)) << k)
                    })
                    .collect();
                Bitmap { words, len: records.len() }
            })
            .collect();
        Membership::from_bitmaps(bitmaps)
    }

    /// The object type of the set's rules (devices when empty).
    pub fn object(&self) -> ObjectType {
        self.groups.first().map_or(ObjectType::Device, |g| g.rule.object())
    }
}

/// `{"group": [{"name": …, "rule": …}]}`, the TOML file's shape in JSON.
fn parse_json(text: &str, path: &Path) -> Result<GroupFile, GroupSetError> {
    serde_json::from_str(text).map_err(|e| GroupSetError::Toml {
        path: path.to_path_buf(),
        message: format!("line {}, column {}: {e}", e.line(), e.column()),
    })
}

#[cfg(feature = "toml")]
fn parse_toml(text: &str, path: &Path) -> Result<GroupFile, GroupSetError> {
    toml::from_str(text)
        .map_err(|e| GroupSetError::Toml { path: path.to_path_buf(), message: toml_message(text, &e) })
}

// Decision: TOML is a feature (on in every build but the lean core), so an
// embedder that keeps its groups in code or JSON does not compile five TOML
// crates; a TOML file without it is a clear error, never a guess.
#[cfg(not(feature = "toml"))]
fn parse_toml(_text: &str, path: &Path) -> Result<GroupFile, GroupSetError> {
    Err(GroupSetError::Toml {
        path: path.to_path_buf(),
        message: "TOML group files need fleetlab's `toml` feature (on by default); without it, \
                  give the groups as JSON (a `.json` file: {\"group\": [{\"name\": …, \"rule\": …}]}) \
                  or build them with GroupSet::from_specs"
            .into(),
    })
}

#[cfg(feature = "toml")]
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().to_string();
    match e.span() {
        Some(span) => {
            let (line, col) = crate::rule::line_col(text, span.start);
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}
