//! Device rules as SQL, and the device table those queries read.
//!
//! [`to_sql`] turns a checked device rule into one `SELECT "id" FROM table
//! WHERE …` for DuckDB, Apache DataFusion or Spark SQL that selects exactly
//! the devices fleetlab's evaluator selects, and [`export`] writes the
//! inventory fleetlab evaluates as the Parquet or Arrow IPC file that query
//! reads. So a rule tested here runs unchanged on a warehouse or a cluster.
//!
//! # The device table
//!
//! One row per Graph device, one column per Graph field, named as Graph
//! names it (the `Graph field` of [`crate::rule::DeviceProperty`]):
//!
//! | Column | Type | Rule property |
//! |---|---|---|
//! | `id` | string, never null | `device.objectId` |
//! | `accountEnabled`, `isRooted` | boolean | the same names |
//! | `deviceCategory`, `deviceId`, `deviceOwnership`, `displayName`, `enrollmentProfileName`, `managementType`, `profileType` | string | the same names |
//! | `manufacturer`, `model`, `mdmAppId`, `operatingSystem`, `operatingSystemVersion`, `trustType` | string | `deviceManufacturer`, `deviceModel`, `deviceManagementAppId`, `deviceOSType`, `deviceOSVersion`, `deviceTrustType` |
//! | `extensionAttribute1` … `extensionAttribute15` | string | the same names |
//! | `physicalIds`, `systemLabels` | list of strings | `devicePhysicalIds`, `systemLabels` |
//! | `memberOf` | list of strings (group ids) | `memberOf` |
//!
//! Decision: Graph nests the extension attributes in an
//! `extensionAttributes` object; the table flattens them into fifteen
//! top-level columns. Struct field access is spelled differently in each
//! engine (and DataFusion lower-cases unquoted names), while a top-level
//! column is `"extensionAttribute3"` everywhere, and a warehouse table built
//! from a Graph export by hand gets the same shape with one `SELECT`.
//!
//! # Semantics, and where each engine needed help
//!
//! The query reproduces the reference evaluator (`src/rule/eval.rs`) rule
//! by rule, in SQL every engine agrees on:
//!
//! * **Two-valued logic.** Every test is `COALESCE(positive, FALSE)` and a
//!   negated operator is `NOT COALESCE(positive, FALSE)`, so an unset value
//!   makes `-eq` false and `-ne` true, as in fleetlab, and `-not`, `-and`,
//!   `-or` never meet SQL's NULL.
//! * **Empty strings are unset**: every string is read through
//!   `NULLIF(value, '')`, items of a collection included.
//! * **Collections.** A scalar operator on a collection is an implicit any;
//!   `-eq null` on one means "no items"; `-all (p)` is written
//!   `NOT any(NOT p)`, so it is vacuously true on an empty or missing list.
//!   Any is a lambda over the list (`list_filter` in DuckDB, `exists` in
//!   Spark, `array_any_match` in DataFusion).
//! * **Case folding.** Constants are folded here, by fleetlab's own folding,
//!   and embedded folded; values are folded by the engine, once per column,
//!   in a derived table that keeps the column names (so the `WHERE` clause
//!   reads like the rule: `"operatingSystem" = 'windows'`). `lower()` differs
//!   from Rust's `to_lowercase` in known places, each patched in the SQL:
//!   DuckDB maps `İ` to `i` (simple case mapping) where Rust gives `i̇`, so
//!   `İ` is replaced first; fleetlab folds every sigma to `σ` while Spark and
//!   DataFusion produce a final `ς`, so `ς` is replaced after; DuckDB 1.5's
//!   Unicode tables lack the 55 case pairs added in Unicode 16 and 17, so
//!   those go through one `translate()` (Java 21's tables lack them too).
//!   The test suite compares the DuckDB fold with fleetlab's over every
//!   Unicode scalar value; Spark 4.0.1 and 4.3.0 on Java 17 passed the same check.
//!   Older Spark releases may lower-case with the JVM's default locale:
//!   run them with a non-Turkic, non-Lithuanian one (`-Duser.language=en`).
//! * **No LIKE.** Prefix, suffix and substring tests are
//!   `starts_with`/`ends_with`/`contains` (Spark: `startswith`, `endswith`),
//!   so `%` and `_` in a value are just characters.
//! * **Regular expressions** are not passed through: the pattern is parsed
//!   with the parser fleetlab's regex engine uses (`regex-syntax`, with the
//!   same flags), and its syntax tree is printed back with every character
//!   class expanded to explicit code point ranges and case-insensitivity
//!   already applied. The engine then needs no Unicode tables and no
//!   case-insensitive mode of its own, which is where RE2 (DuckDB), Java
//!   (Spark) and Rust (DataFusion) differ; `^`/`$` become `\A`/`\z`, since
//!   Java's `$` also matches before a final newline. What an engine cannot
//!   express is an error naming the construct ([`SqlError::UnsupportedRegex`]):
//!   Unicode word boundaries in RE2 and Java, ASCII word-start/end and
//!   CRLF line anchors in RE2, repetition counts above 1,000 in RE2.
//!   DataFusion gets `regexp_like(value, pattern, 'u')`: its optimizer turns
//!   the two-argument form with a literal pattern into a `LIKE` that reads a
//!   backslash as an escape (a pattern matching `\` then tests something
//!   else), and leaves calls with flags alone; `u` is already the default.
//! * **Escaping.** Every constant becomes a string literal fleetlab writes
//!   itself: doubled quotes for DuckDB and DataFusion (whose parsers treat a
//!   backslash as an ordinary character), and for Spark raw literals
//!   (`r'…'`, immune to `spark.sql.parser.escapedStringLiterals`) with `'`
//!   and `$` spliced in as `chr(39)`/`chr(36)`, so neither a quote nor
//!   Spark's `${…}` variable substitution can reach the query text. A NUL
//!   character, which no engine accepts in a literal, is an error.
//!
//! Custom directory extensions (`device.extension_<app>_<name>`) are read
//! from a column of that name, which `inventory export` writes for every
//! extension the inventory's records carry.
//!
//! What is rejected, with a message: user rules (the table is a device
//! table), `Direct Reports for`, and `-match` patterns with .NET constructs
//! the SQL engines' regular expressions lack (look-around, backreferences,
//! atomic groups, `\Z`) or a case-sensitive part (`(?-i)`).
//!
//! Layering: this module builds on [`crate::rule`], [`crate::inventory`] and
//! [`crate::fleet`]; nothing below it imports it.

pub mod export;
mod regex;
mod translate;

use std::fmt;
use std::str::FromStr;

use crate::rule::{DeviceProperty, ObjectType, Rule};

pub use translate::FOLD_PATCHES;
// The CLI checks `--table` before it reads the rule.
pub(crate) use translate::table_name;

/// The SQL engine a query is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// DuckDB 1.3 or newer (lambda syntax `lambda x: …`; RE2 regexes).
    DuckDb,
    /// Apache DataFusion 55 or newer, with `datafusion.sql_parser.dialect`
    /// set to `DuckDB` when the rule reads a collection (lambdas).
    DataFusion,
    /// Spark SQL 3.3 or newer (`startswith`, raw string literals; Java regexes).
    Spark,
}

impl Dialect {
    /// Every dialect, in the order the CLI lists them.
    pub const ALL: [Dialect; 3] = [Dialect::DuckDb, Dialect::DataFusion, Dialect::Spark];

    /// The name used on the command line: `duckdb`, `datafusion` or `spark`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::DuckDb => "duckdb",
            Dialect::DataFusion => "datafusion",
            Dialect::Spark => "spark",
        }
    }

    /// The engine's name in prose.
    fn engine(self) -> &'static str {
        match self {
            Dialect::DuckDb => "DuckDB (RE2)",
            Dialect::DataFusion => "DataFusion",
            Dialect::Spark => "Spark (Java regex)",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dialect {
    type Err = SqlError;

    fn from_str(s: &str) -> Result<Dialect, SqlError> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| SqlError::UnknownDialect { name: s.to_string() })
    }
}

/// Why a rule has no SQL translation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// The rule selects users; the query reads a device table.
    #[error("this is a {object} rule; SQL translation covers device rules (the query reads a device table)")]
    NotDeviceRule {
        /// What the rule selects.
        object: ObjectType,
    },
    /// `Direct Reports for "…"` selects users by manager.
    #[error("`Direct Reports for` selects users by their manager and has no device-table translation")]
    DirectReports,
    /// `device.extension_<app>_<name>` where no column can hold it (kept
    /// for compatibility; the translator now reads a column of that name).
    #[error(
        "{property} is a custom directory extension; Graph device exports, and so the device table, \
         do not carry it"
    )]
    CustomExtension {
        /// The property as written.
        property: String,
    },
    /// A regex construct the target engine has no exact equivalent for.
    #[error("the regular expression {pattern:?} uses {construct}, which {engine} cannot express exactly{}",
        hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    UnsupportedRegex {
        /// The pattern as written in the rule.
        pattern: String,
        /// The construct, in words.
        construct: String,
        /// The engine, in words.
        engine: &'static str,
        /// How to rewrite the pattern, when there is a way.
        hint: Option<String>,
    },
    /// A value with U+0000, which no engine accepts in a string literal.
    #[error("the value {value:?} contains a NUL character (U+0000), which SQL string literals cannot carry")]
    NulCharacter {
        /// The offending value.
        value: String,
    },
    /// The `--table` name cannot be quoted safely.
    #[error("invalid table name {name:?}: {reason}")]
    InvalidTable {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Not `duckdb`, `datafusion` or `spark`.
    #[error("unknown SQL dialect {name:?}; expected duckdb, datafusion or spark")]
    UnknownDialect {
        /// The name as given.
        name: String,
    },
    /// A construct only user rules produce (date-times, service plans).
    #[error("{what} has no device-table translation")]
    Unsupported {
        /// The construct, in words.
        what: String,
    },
}

/// The SQL `SELECT` of the ids of the devices `rule` selects, from `table`
/// (a possibly dotted name such as `main.devices`; each part is quoted).
///
/// The table has the columns described in the [module docs](self), as
/// [`export`] writes them. Rows come back in no particular order.
///
/// ```
/// use fleetlab::rule::Rule;
/// use fleetlab::sql::{to_sql, Dialect};
///
/// let rule = Rule::new(r#"device.deviceOSType -startsWith "Win_10%""#)?;
/// let sql = to_sql(&rule, Dialect::DuckDb, "devices")?;
/// // Values are folded once, in a derived table that keeps the column names…
/// assert!(sql.starts_with(r#"SELECT "id" FROM (SELECT "id", replace(lower("#));
/// // …and compared with constants folded by fleetlab; `%` and `_` are just
/// // characters (no LIKE).
/// assert!(sql.ends_with(r#"WHERE COALESCE(starts_with("operatingSystem", 'win_10%'), FALSE)"#));
/// assert!(!sql.contains("LIKE"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn to_sql(rule: &Rule, dialect: Dialect, table: &str) -> Result<String, SqlError> {
    if rule.object() != ObjectType::Device {
        if let crate::rule::ast::RuleAst::DirectReports { .. } = rule.ast() {
            return Err(SqlError::DirectReports);
        }
        return Err(SqlError::NotDeviceRule { object: rule.object() });
    }
    let table = translate::table_name(table, dialect)?;
    translate::Translator::new(dialect).query(rule.program(), &table)
}

/// The table column that holds `property` (see the [module docs](self)).
///
/// ```
/// use fleetlab::rule::{DeviceProperty, ExtensionSlot};
/// use fleetlab::sql::column;
/// assert_eq!(column(DeviceProperty::DeviceOsType), "operatingSystem");
/// let slot = ExtensionSlot::new(7).ok_or("slot")?;
/// assert_eq!(column(DeviceProperty::ExtensionAttribute(slot)), "extensionAttribute7");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn column(property: DeviceProperty) -> String {
    match property {
        DeviceProperty::ExtensionAttribute(slot) => format!("extensionAttribute{}", slot.number()),
        other => other.graph_field().into_owned(),
    }
}
