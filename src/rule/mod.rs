//! Entra ID dynamic-membership rules: parse, check, evaluate, explain, print.
//!
//! The pipeline is `text → parse → RuleAst → check → Rule`, and a [`Rule`]
//! is the only thing that evaluates. It owns its source text (for
//! explanations and diagnostics), is immutable, `Send + Sync`, and reads
//! objects through the [`Record`] trait, so one compiled rule serves any
//! number of threads and any data model.
//!
//! Layering: this module is the bottom of fleetlab. It knows nothing of
//! inventories, Autopilot, the simulator or Graph; they all build on it.
//!
//! Design decisions (spec `rule-language.md`, Decisions table):
//! * strict by default: en dashes and curly quotes are errors with a hint;
//!   [`Options::lenient`] accepts en dashes and the docs' backtick form;
//! * `system.now` is resolved once, when the rule is checked
//!   ([`Options::now`]), so one evaluation pass sees one "now";
//! * a rule is bound to one object type; checking against an expected type
//!   ([`Options::object`]) turns a user rule on a device inventory into an
//!   error instead of an empty result;
//! * nothing is silently read two ways: where Microsoft's precedence and the
//!   intuitive reading differ (an unparenthesised `-any`/`-all` before
//!   `-and`/`-or`) the rule is an error showing both readings;
//! * `-match` takes .NET constructs on a bounded backtracking engine (the
//!   `regex` submodule); a value that exhausts the bound makes
//!   [`Rule::try_matches`] an error rather than a quiet "no match";
//! * the documentation sets no nesting limit, so neither does fleetlab
//!   beyond the 3,072-character length: rules longer than a few hundred
//!   bytes are parsed and checked on a thread with a large stack.

pub mod ast;
mod catalogue;
#[cfg(feature = "diagnostics")]
mod diagnostic;
#[cfg(any(feature = "autopilot", feature = "sim"))]
pub(crate) use catalogue::levenshtein;
pub(crate) mod check;
pub mod error;
pub(crate) mod eval;
pub mod explain;
mod grammar;
pub mod parse;
pub mod print;
mod record;
pub(crate) mod regex;
pub(crate) mod stack;
pub mod time;

use std::fmt;

pub use ast::{ObjectType, Operator, Span};
pub use catalogue::{DeviceProperty, ExtensionSlot, PlanField, Property, PropertyType, UserProperty};
pub use check::MAX_MEMBER_OF_GROUPS;
#[cfg(feature = "diagnostics")]
pub use diagnostic::Diagnostic;
pub use error::{RuleError, RuleErrors, Warning};
pub use explain::{Explanation, PropertyRead};
pub use record::{PlanItem, Record, Scalar};
pub use time::Timestamp;

/// How to read and check a rule.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Accept an en dash as a hyphen and `` `"x`" `` as the string `"x"`.
    pub lenient: bool,
    /// Warn about property names not in their documented casing.
    pub strict: bool,
    /// The object type the rule must select (devices for a device group).
    pub object: Option<ObjectType>,
    /// The instant `system.now` stands for; the current time when `None`.
    pub now: Option<Timestamp>,
}

/// A checked, compiled membership rule.
///
/// ```
/// use fleetlab::rule::{Options, ObjectType, Rule};
/// let rule = Rule::with_options(
///     r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#,
///     &Options { object: Some(ObjectType::Device), ..Options::default() },
/// )?;
/// assert_eq!(rule.object(), ObjectType::Device);
/// # Ok::<(), fleetlab::rule::RuleErrors>(())
/// ```
pub struct Rule {
    source: String,
    ast: ast::RuleAst,
    object: ObjectType,
    program: check::Program,
    warnings: Vec<Warning>,
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule").field("source", &self.source).field("object", &self.object).finish()
    }
}

impl Rule {
    /// Parses and checks `text` with default [`Options`].
    pub fn new(text: &str) -> Result<Rule, RuleErrors> {
        Rule::with_options(text, &Options::default())
    }

    /// Parses and checks `text`.
    pub fn with_options(text: &str, options: &Options) -> Result<Rule, RuleErrors> {
        stack::for_rule(text.len(), || Rule::compile(text, options))
    }

    fn compile(text: &str, options: &Options) -> Result<Rule, RuleErrors> {
        let parsed = parse::parse(text, options.lenient)?;
        let now = options.now.unwrap_or_else(Timestamp::now);
        let checked = check::Checker::new(text, options.strict, now)
            .check(&parsed.ast, options.object)
            .map_err(|errs| {
                RuleErrors::new(errs).unwrap_or_else(|| {
                    RuleError::Syntax { expected: "a valid rule".into(), span: Span::default() }.into()
                })
            })?;
        let mut warnings = parsed.warnings;
        warnings.extend(checked.warnings);
        Ok(Rule {
            source: text.to_string(),
            ast: parsed.ast,
            object: checked.object,
            program: checked.program,
            warnings,
        })
    }

    /// True when `record` is a member. A backtracking `-match` pattern that
    /// runs out of steps on a value counts as no match here; use
    /// [`Rule::try_matches`] to see that as an error.
    pub fn matches<R: Record + ?Sized>(&self, record: &R) -> bool {
        eval::eval_program(&self.program, record)
    }

    /// True when `record` is a member, or why it cannot be decided (a
    /// backtracking `-match` pattern ran out of steps on one of its values).
    ///
    /// ```
    /// use fleetlab::rule::{DeviceProperty, Property, Record, Rule, Scalar};
    /// struct Name(String);
    /// impl Record for Name {
    ///     fn scalar(&self, p: &Property) -> Scalar<'_> {
    ///         match p {
    ///             Property::Device(DeviceProperty::DisplayName) => Scalar::Str(&self.0),
    ///             _ => Scalar::Null,
    ///         }
    ///     }
    /// }
    /// let rule = Rule::new(r#"device.displayName -match "^(a|a)+\1$""#)?;
    /// assert!(rule.try_matches(&Name(format!("{}b", "a".repeat(40)))).is_err());
    /// assert_eq!(rule.try_matches(&Name("aa".into())), Ok(true));
    /// # Ok::<(), fleetlab::rule::RuleErrors>(())
    /// ```
    pub fn try_matches<R: Record + ?Sized>(&self, record: &R) -> Result<bool, EvalError> {
        let _stale = regex::take_eval_error();
        let hit = eval::eval_program(&self.program, record);
        match regex::take_eval_error() {
            Some(message) => Err(EvalError { message }),
            None => Ok(hit),
        }
    }

    /// The result of every sub-expression for `record`.
    pub fn explain<R: Record + ?Sized>(&self, record: &R) -> Explanation {
        explain::explain_program(&self.program, &self.source, record)
    }

    /// Whether the rule selects devices or users.
    pub fn object(&self) -> ObjectType {
        self.object
    }

    /// The text the rule was built from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The syntax tree.
    pub fn ast(&self) -> &ast::RuleAst {
        &self.ast
    }

    /// The canonical text (see [`print::print`]).
    pub fn canonical(&self) -> String {
        print::print(&self.ast)
    }

    /// The checked program, for the columnar compiler.
    pub(crate) fn program(&self) -> &check::Program {
        &self.program
    }

    /// The properties the rule reads, each once, in the order they appear.
    pub fn properties(&self) -> Vec<Property> {
        let mut out: Vec<Property> = Vec::new();
        let mut add = |p: &Property| {
            if !out.contains(p) {
                out.push(p.clone());
            }
        };
        match &self.program {
            check::Program::MemberOf { property, .. } => add(property),
            check::Program::DirectReports { .. } => {}
            check::Program::Expr(root) => {
                // Iterative: a rule may nest hundreds of levels deep.
                let mut stack = vec![root];
                while let Some(node) = stack.pop() {
                    match &node.kind {
                        check::NodeKind::Or(parts) | check::NodeKind::And(parts) => {
                            stack.extend(parts.iter().rev())
                        }
                        check::NodeKind::Not(inner) => stack.push(inner),
                        check::NodeKind::Test(t) => {
                            if let check::Subject::Property(p) = &t.subject {
                                add(p);
                            }
                        }
                        check::NodeKind::Quantified { property, .. } => add(property),
                    }
                }
            }
        }
        out
    }

    /// Legal but suspicious things found while checking.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

/// Why a rule could not be evaluated on one object.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    /// What failed, naming the pattern and the value.
    pub message: String,
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The machine-readable form of an error (`--format json`).
pub fn error_json(error: &RuleError, text: &str) -> serde_json::Value {
    let span = error.span();
    let (line, column) = line_col(text, span.start());
    serde_json::json!({
        "code": error.code(),
        "message": error.to_string(),
        "help": error.help(),
        "span": { "start": span.start(), "end": span.end() },
        "line": line,
        "column": column,
        "text": match error {
            RuleError::RuleTooLong { excerpt, .. } => excerpt.as_str(),
            _ => span.slice(text),
        },
    })
}

/// `text` as diagnostics may quote it: whole, or its ends when it is
/// longer than Entra ID accepts.
pub fn quotable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().nth(parse::MAX_RULE_CHARS).is_some() {
        parse::excerpt(text).into()
    } else {
        text.into()
    }
}

/// The machine-readable form of a warning.
pub fn warning_json(warning: &Warning, text: &str) -> serde_json::Value {
    let (line, column) = line_col(text, warning.span.start());
    serde_json::json!({
        "code": warning.code,
        "message": warning.message,
        "span": { "start": warning.span.start(), "end": warning.span.end() },
        "line": line,
        "column": column,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn rules_are_send_and_sync() {
        assert_send_sync::<Rule>();
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_col("abc", 0), (1, 1));
    }
}
