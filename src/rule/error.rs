//! Everything that can be wrong with a rule, as data.
//!
//! Each variant carries the byte span it blames, a stable kebab-case code
//! (scripts match on it; never renumber or rename), and where it helps a
//! hint that says how to fix it. Rendering with the rule text and a caret is
//! the CLI's job (`rule::Diagnostic`, feature `diagnostics`, adapts an error for miette), so
//! services that embed the engine get the typed value and decide themselves.

use serde::Serialize;
use thiserror::Error;

use crate::rule::ast::{ObjectType, Operator, Span};

/// A problem that makes a rule invalid.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuleError {
    /// The text does not follow the grammar.
    #[error("syntax error: expected {expected}")]
    Syntax {
        /// What the parser would have accepted here, in words.
        expected: String,
        /// Where parsing stopped.
        span: Span,
    },
    /// More than 3,072 characters.
    #[error(
        "rule is {chars} characters long; Entra ID accepts at most 3072 (character 3073 is at line \
         {line}, column {column}; the rule reads `{excerpt}`)"
    )]
    RuleTooLong {
        /// Length in Unicode scalar values.
        chars: usize,
        /// 1-based line of the first character past the limit.
        line: usize,
        /// 1-based column of that character.
        column: usize,
        /// The rule's first and last characters (never the whole rule,
        /// which may be megabytes).
        excerpt: String,
        /// From the first character past the limit to the end.
        span: Span,
    },
    /// Parentheses or brackets nested deeper than fleetlab reads.
    #[error("parentheses nested more than {limit} deep")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
        /// The opening bracket past the limit.
        span: Span,
    },
    /// A character that looks like punctuation the rule needs but is not.
    #[error("unexpected character {found:?}")]
    InvalidCharacter {
        /// The character found.
        found: char,
        /// What to type instead.
        hint: String,
        /// Where it stands.
        span: Span,
    },
    /// A property name without `device.` or `user.`.
    #[error("property `{name}` has no object prefix")]
    MissingObjectPrefix {
        /// The name as written.
        name: String,
        /// The prefixed form to use, when the catalogue knows the name.
        suggestion: Option<String>,
        /// Where it stands.
        span: Span,
    },
    /// A property the catalogue does not know for this object type.
    #[error("{object}.{name} is not a property Entra ID supports in membership rules")]
    UnknownProperty {
        /// `device` or `user`.
        object: ObjectType,
        /// The name as written.
        name: String,
        /// A close known name, or a note about a retired property.
        suggestion: Option<String>,
        /// Where it stands.
        span: Span,
    },
    /// An operator that the property's type does not support.
    #[error("operator {op} is not supported on {property} ({type_name})")]
    OperatorNotSupported {
        /// The operator.
        op: Operator,
        /// The property in canonical form.
        property: String,
        /// The property's type, in words.
        type_name: &'static str,
        /// Operators that do work.
        allowed: String,
        /// Where the operator stands.
        span: Span,
    },
    /// `user.` and `device.` in one rule, or a rule for the wrong object type.
    #[error("rule mixes {first} and {second} properties")]
    MixedObjectTypes {
        /// The object type the rule started with.
        first: ObjectType,
        /// The other one.
        second: ObjectType,
        /// The first reference of the other type.
        span: Span,
    },
    /// A rule for users evaluated against devices, or the reverse.
    #[error("this is a {found} rule, but {expected}s are being evaluated")]
    WrongObjectType {
        /// The rule's object type.
        found: ObjectType,
        /// The object type of the inventory or group.
        expected: ObjectType,
        /// The first reference.
        span: Span,
    },
    /// A `-match` pattern that does not compile.
    #[error("invalid regular expression: {reason}")]
    InvalidRegex {
        /// The regex engine's explanation.
        reason: String,
        /// What to write instead, for this mistake.
        help: String,
        /// The pattern literal.
        span: Span,
    },
    /// A valid .NET regex construct that fleetlab's linear-time engine lacks.
    #[error("regular expression uses {construct}, which fleetlab does not support")]
    UnsupportedRegex {
        /// The construct, in words.
        construct: String,
        /// The pattern literal.
        span: Span,
    },
    /// `-any`/`-all` on a property that is not a collection.
    #[error("{quantifier} needs a collection, but {property} is a single {type_name}")]
    QuantifierOnScalar {
        /// `-any` or `-all`.
        quantifier: &'static str,
        /// The property in canonical form.
        property: String,
        /// Its type.
        type_name: &'static str,
        /// Where the quantifier stands.
        span: Span,
    },
    /// `_` or `assignedPlan.x` used where no collection item is in scope.
    #[error("`{reference}` only has a meaning inside {context}")]
    ItemOutsideQuantifier {
        /// The reference as written.
        reference: String,
        /// Where it may be used.
        context: &'static str,
        /// Where it stands.
        span: Span,
    },
    /// The wrong item form inside a quantifier, such as `_` over `assignedPlans`.
    #[error("`{reference}` cannot be used inside a quantifier over {property}; use {expected}")]
    WrongItemReference {
        /// The reference as written.
        reference: String,
        /// The collection.
        property: String,
        /// The form to use.
        expected: String,
        /// Where it stands.
        span: Span,
    },
    /// A quantifier inside another quantifier's predicate.
    #[error("a quantifier cannot be nested inside another quantifier")]
    NestedQuantifier {
        /// The inner quantifier.
        span: Span,
    },
    /// `p -any _ -eq "x" -and q`: an unparenthesised quantifier followed by
    /// `-and`/`-or`, which Microsoft's precedence (quantifiers lowest) and
    /// the intuitive reading parse differently.
    #[error("-any/-all followed by -and/-or without parentheses can be read two ways")]
    AmbiguousQuantifier {
        /// The two parenthesised readings.
        readings: [String; 2],
        /// From the quantifier to the operator that follows it.
        span: Span,
    },
    /// A value on the left of the operator and the property on the right.
    #[error("the property goes on the left: write `{suggestion}`")]
    PropertyOnRight {
        /// The comparison with its operands swapped.
        suggestion: String,
        /// The comparison.
        span: Span,
    },
    /// `property -not value`.
    #[error("-not is a logical operator and cannot compare a property with a value")]
    NotAsComparison {
        /// Where `-not` stands.
        span: Span,
    },
    /// A value of the wrong type or shape for the operator or property.
    #[error("{message}")]
    ValueMismatch {
        /// What is wrong.
        message: String,
        /// A fix, where one is obvious.
        hint: Option<String>,
        /// The value.
        span: Span,
    },
    /// memberOf or Direct Reports combined with other expressions.
    #[error("{form} cannot be combined with other expressions")]
    NotCombinable {
        /// `memberOf` or `Direct Reports`.
        form: &'static str,
        /// The combined form.
        span: Span,
    },
    /// More than 50 groups in a memberOf rule.
    #[error("memberOf lists {count} groups; at most 50 are allowed")]
    TooManyGroups {
        /// How many were listed.
        count: usize,
        /// The list.
        span: Span,
    },
    /// A Direct Reports rule on devices.
    #[error("Direct Reports rules select users, not devices")]
    DirectReportsOnDevices {
        /// The whole rule.
        span: Span,
    },
    /// A date-time or duration that does not parse or does not exist.
    #[error("{reason}")]
    InvalidDateTime {
        /// What is wrong.
        reason: String,
        /// The literal.
        span: Span,
    },
}

impl RuleError {
    /// The span this error blames.
    pub fn span(&self) -> Span {
        use RuleError::*;
        match self {
            Syntax { span, .. }
            | RuleTooLong { span, .. }
            | TooDeep { span, .. }
            | InvalidCharacter { span, .. }
            | MissingObjectPrefix { span, .. }
            | UnknownProperty { span, .. }
            | OperatorNotSupported { span, .. }
            | MixedObjectTypes { span, .. }
            | WrongObjectType { span, .. }
            | InvalidRegex { span, .. }
            | UnsupportedRegex { span, .. }
            | QuantifierOnScalar { span, .. }
            | ItemOutsideQuantifier { span, .. }
            | WrongItemReference { span, .. }
            | NestedQuantifier { span }
            | AmbiguousQuantifier { span, .. }
            | PropertyOnRight { span, .. }
            | NotAsComparison { span }
            | ValueMismatch { span, .. }
            | NotCombinable { span, .. }
            | TooManyGroups { span, .. }
            | DirectReportsOnDevices { span }
            | InvalidDateTime { span, .. } => *span,
        }
    }

    /// A stable, machine-readable code such as `unknown-property`.
    pub fn code(&self) -> &'static str {
        use RuleError::*;
        match self {
            Syntax { .. } => "syntax",
            RuleTooLong { .. } => "rule-too-long",
            TooDeep { .. } => "too-deep",
            InvalidCharacter { .. } => "invalid-character",
            MissingObjectPrefix { .. } => "missing-object-prefix",
            UnknownProperty { .. } => "unknown-property",
            OperatorNotSupported { .. } => "operator-not-supported",
            MixedObjectTypes { .. } => "mixed-object-types",
            WrongObjectType { .. } => "wrong-object-type",
            InvalidRegex { .. } => "invalid-regex",
            UnsupportedRegex { .. } => "unsupported-regex",
            QuantifierOnScalar { .. } => "quantifier-on-scalar",
            ItemOutsideQuantifier { .. } => "item-outside-quantifier",
            WrongItemReference { .. } => "wrong-item-reference",
            NestedQuantifier { .. } => "nested-quantifier",
            AmbiguousQuantifier { .. } => "ambiguous-quantifier",
            PropertyOnRight { .. } => "property-on-right",
            NotAsComparison { .. } => "not-as-comparison",
            ValueMismatch { .. } => "value-mismatch",
            NotCombinable { .. } => "not-combinable",
            TooManyGroups { .. } => "too-many-groups",
            DirectReportsOnDevices { .. } => "direct-reports-on-devices",
            InvalidDateTime { .. } => "invalid-date-time",
        }
    }

    /// How to fix it, when fleetlab knows.
    pub fn help(&self) -> Option<String> {
        use RuleError::*;
        match self {
            InvalidCharacter { hint, .. } => Some(hint.clone()),
            MissingObjectPrefix { suggestion: Some(s), .. } => Some(format!("write `{s}`")),
            MissingObjectPrefix { name, .. } => {
                Some(format!("write `device.{name}` or `user.{name}`"))
            }
            UnknownProperty { suggestion, .. } => suggestion.clone(),
            OperatorNotSupported { allowed, .. } => Some(format!("operators that work here: {allowed}")),
            MixedObjectTypes { .. } => Some(
                "a rule selects either users or devices; split it into two groups".to_string(),
            ),
            WrongObjectType { expected, .. } => {
                Some(format!("evaluate it with --{}s, or write a {expected} rule", match expected {
                    ObjectType::Device => "user",
                    ObjectType::User => "device",
                }))
            }
            InvalidRegex { help, .. } => Some(help.clone()),
            UnsupportedRegex { .. } => {
                Some("rewrite the pattern or split it into several clauses".to_string())
            }
            QuantifierOnScalar { .. } => Some("compare the property directly, e.g. `-eq`".to_string()),
            ItemOutsideQuantifier { .. } => Some(
                "put it inside a quantifier, e.g. `device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")`"
                    .to_string(),
            ),
            AmbiguousQuantifier { readings, .. } => Some(format!(
                "Microsoft documents -any and -all as the lowest-precedence operators \
                 (learn.microsoft.com/entra/identity/users/groups-dynamic-membership, operator \
                 precedence); write the reading you mean:\n  {}\nor\n  {}",
                readings[0], readings[1]
            )),
            PropertyOnRight { .. } => Some(
                "a comparison is `<object>.<property> <operator> <value>` (groups-dynamic-membership)".to_string(),
            ),
            NotAsComparison { .. } => Some("to test for an unset value write `-eq null`; for a set one `-ne null`".to_string()),
            ValueMismatch { hint, .. } => hint.clone(),
            NotCombinable { .. } => Some("make it a group of its own".to_string()),
            TooDeep { .. } => Some("flatten the rule: -and and -or chains need no extra parentheses".to_string()),
            RuleTooLong { .. } => Some(
                "shorten the rule, e.g. replace -or chains of -eq with one -in [..] list".to_string(),
            ),
            _ => None,
        }
    }
}

/// Something legal but suspicious about a rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// A stable code such as `non-canonical-name`.
    pub code: &'static str,
    /// What fleetlab noticed.
    pub message: String,
    /// Where.
    #[serde(skip)]
    pub span: Span,
}

/// One or more errors found in a rule (never empty), in source order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleErrors {
    errors: Vec<RuleError>,
}

impl RuleErrors {
    /// Wraps a non-empty list; `None` when it is empty.
    pub fn new(mut errors: Vec<RuleError>) -> Option<RuleErrors> {
        if errors.is_empty() {
            return None;
        }
        errors.sort_by_key(|e| (e.span().start(), e.span().end()));
        Some(RuleErrors { errors })
    }

    /// The first error in source order.
    pub fn first(&self) -> &RuleError {
        &self.errors[0]
    }

    /// All errors in source order.
    pub fn iter(&self) -> impl Iterator<Item = &RuleError> {
        self.errors.iter()
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false: a `RuleErrors` holds at least one error.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl From<RuleError> for RuleErrors {
    fn from(e: RuleError) -> Self {
        RuleErrors { errors: vec![e] }
    }
}

impl std::fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e} (at byte {})", e.span().start())?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}

impl IntoIterator for RuleErrors {
    type Item = RuleError;
    type IntoIter = std::vec::IntoIter<RuleError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}
