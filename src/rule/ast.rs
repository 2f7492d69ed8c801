//! The syntax tree of a membership rule, exactly as written (after decoding
//! strings and dates), before any property is looked up.
//!
//! Parentheses leave no node behind, but nesting does: `a -and (b -and c)`
//! stays `And[a, And[b, c]]`, so the explanation tree mirrors what the admin
//! wrote and the printer can round-trip it.

use std::fmt;

use crate::rule::time::{IsoDuration, Timestamp};

/// A byte range in the rule text.
///
/// Two spans always compare equal: equality on syntax trees means "says the
/// same rule", wherever it was written. Read positions with [`Span::start`]
/// and [`Span::end`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    start: usize,
    end: usize,
}

impl Span {
    /// A span from byte `start` (inclusive) to byte `end` (exclusive).
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end: end.max(start) }
    }
    /// First byte of the span.
    pub fn start(&self) -> usize {
        self.start
    }
    /// One past the last byte of the span.
    pub fn end(&self) -> usize {
        self.end
    }
    /// The span as a range, for slicing the rule text.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.end
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// True when the span covers no bytes.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// The text this span covers, or `""` when it does not fit `text`.
    pub fn slice<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.range()).unwrap_or("")
    }
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}
impl Eq for Span {}

/// A whole rule: one of the three mutually exclusive forms Entra ID accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleAst {
    /// A boolean expression over `device.` or `user.` properties.
    Expression(Expr),
    /// `Direct Reports for "<manager object id>"`.
    DirectReports {
        /// The manager's object id, decoded.
        manager: String,
        /// Where the whole form stands.
        span: Span,
    },
}

/// A boolean expression with the span of its source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it stands in the rule.
    pub span: Span,
}

/// The forms an expression takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// Two or more operands joined by `-or`.
    Or(Vec<Expr>),
    /// Two or more operands joined by `-and`.
    And(Vec<Expr>),
    /// `-not` applied to an operand.
    Not(Box<Expr>),
    /// `reference -op operand`.
    Comparison(Comparison),
    /// `property -any (…)` or `property -all (…)`.
    Quantified(Quantified),
}

/// `reference -op operand`, such as `device.deviceOSType -eq "Windows"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// The left-hand side.
    pub target: Reference,
    /// The operator.
    pub op: Operator,
    /// Where the operator keyword stands.
    pub op_span: Span,
    /// The right-hand side.
    pub operand: Operand,
}

/// A quantified expression over a collection property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quantified {
    /// The collection, such as `device.devicePhysicalIds`.
    pub target: Reference,
    /// `-any` or `-all`.
    pub quantifier: Quantifier,
    /// Where the quantifier keyword stands.
    pub quantifier_span: Span,
    /// The predicate applied to each item.
    pub predicate: Box<Expr>,
}

/// `-any` or `-all`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quantifier {
    /// At least one item satisfies the predicate (false on an empty collection).
    Any,
    /// Every item satisfies the predicate (true on an empty collection).
    All,
}

impl Quantifier {
    /// The canonical keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Quantifier::Any => "-any",
            Quantifier::All => "-all",
        }
    }
}

/// The left-hand side of a comparison, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// What the reference names.
    pub kind: RefKind,
    /// Where it stands.
    pub span: Span,
}

/// What a reference names, before the catalogue is consulted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefKind {
    /// `device.<name>` or `user.<name>`.
    Property {
        /// The object prefix.
        object: ObjectType,
        /// The property name as written (case preserved).
        name: String,
    },
    /// `_`, the current item of a string collection.
    Item,
    /// `<prefix>.<name>` with a prefix other than `device`/`user`, such as
    /// `assignedPlan.service` or `group.objectId`.
    ItemField {
        /// The prefix as written.
        prefix: String,
        /// The field name as written.
        name: String,
    },
}

/// `device` or `user`: the kind of object a rule selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    /// Entra ID device objects (dynamic device groups).
    Device,
    /// Entra ID user objects (dynamic user groups).
    User,
}

impl ObjectType {
    /// The rule prefix without the dot: `device` or `user`.
    pub fn prefix(self) -> &'static str {
        match self {
            ObjectType::Device => "device",
            ObjectType::User => "user",
        }
    }
}

impl fmt::Display for ObjectType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// Comparison operators. Each negated operator is the exact boolean
/// complement of its positive twin, including on null values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operator {
    /// `-eq`
    Eq,
    /// `-ne`
    Ne,
    /// `-startsWith`
    StartsWith,
    /// `-notStartsWith`
    NotStartsWith,
    /// `-endsWith`
    EndsWith,
    /// `-notEndsWith`
    NotEndsWith,
    /// `-contains` (substring)
    Contains,
    /// `-notContains`
    NotContains,
    /// `-match` (unanchored, case-insensitive regular expression)
    Match,
    /// `-notMatch`
    NotMatch,
    /// `-in [ … ]`
    In,
    /// `-notIn [ … ]`
    NotIn,
    /// `-le` (date-time properties only)
    Le,
    /// `-ge` (date-time properties only)
    Ge,
    /// `-not` written where a comparison operator belongs; always rejected
    /// by the checker.
    NotAsComparison,
}

impl Operator {
    /// Every real comparison operator, in canonical order.
    pub const ALL: [Operator; 14] = [
        Operator::Eq,
        Operator::Ne,
        Operator::StartsWith,
        Operator::NotStartsWith,
        Operator::EndsWith,
        Operator::NotEndsWith,
        Operator::Contains,
        Operator::NotContains,
        Operator::Match,
        Operator::NotMatch,
        Operator::In,
        Operator::NotIn,
        Operator::Le,
        Operator::Ge,
    ];

    /// Reads an operator keyword without its hyphen, in any case.
    pub fn from_keyword(word: &str) -> Option<Operator> {
        let lower = word.to_ascii_lowercase();
        Some(match lower.as_str() {
            "eq" => Operator::Eq,
            "ne" => Operator::Ne,
            "startswith" => Operator::StartsWith,
            "notstartswith" => Operator::NotStartsWith,
            "endswith" => Operator::EndsWith,
            "notendswith" => Operator::NotEndsWith,
            "contains" => Operator::Contains,
            "notcontains" => Operator::NotContains,
            "match" => Operator::Match,
            "notmatch" => Operator::NotMatch,
            "in" => Operator::In,
            "notin" => Operator::NotIn,
            "le" => Operator::Le,
            "ge" => Operator::Ge,
            "not" => Operator::NotAsComparison,
            _ => return None,
        })
    }

    /// The canonical spelling, such as `-startsWith`.
    pub fn keyword(self) -> &'static str {
        match self {
            Operator::Eq => "-eq",
            Operator::Ne => "-ne",
            Operator::StartsWith => "-startsWith",
            Operator::NotStartsWith => "-notStartsWith",
            Operator::EndsWith => "-endsWith",
            Operator::NotEndsWith => "-notEndsWith",
            Operator::Contains => "-contains",
            Operator::NotContains => "-notContains",
            Operator::Match => "-match",
            Operator::NotMatch => "-notMatch",
            Operator::In => "-in",
            Operator::NotIn => "-notIn",
            Operator::Le => "-le",
            Operator::Ge => "-ge",
            Operator::NotAsComparison => "-not",
        }
    }

    /// True for the operators that are the complement of another one.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            Operator::Ne
                | Operator::NotStartsWith
                | Operator::NotEndsWith
                | Operator::NotContains
                | Operator::NotMatch
                | Operator::NotIn
        )
    }

    /// The positive twin of a negated operator (itself otherwise).
    pub fn positive(self) -> Operator {
        match self {
            Operator::Ne => Operator::Eq,
            Operator::NotStartsWith => Operator::StartsWith,
            Operator::NotEndsWith => Operator::EndsWith,
            Operator::NotContains => Operator::Contains,
            Operator::NotMatch => Operator::Match,
            Operator::NotIn => Operator::In,
            other => other,
        }
    }

    /// True for `-in` and `-notIn`, which take a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Operator::In | Operator::NotIn)
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The right-hand side of a comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    /// One value.
    Scalar(Literal),
    /// `[v1, v2, …]`.
    List {
        /// The items.
        items: Vec<Literal>,
        /// Where the whole list stands.
        span: Span,
    },
}

impl Operand {
    /// Where the operand stands.
    pub fn span(&self) -> Span {
        match self {
            Operand::Scalar(lit) => lit.span,
            Operand::List { span, .. } => *span,
        }
    }
}

/// A value with its span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Literal {
    /// The decoded value.
    pub value: Value,
    /// Where it stands.
    pub span: Span,
}

/// A decoded value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `null` or `$null`.
    Null,
    /// `true` / `false`, any case.
    Bool(bool),
    /// An unquoted number, kept as its text: Entra compares numbers with
    /// string properties by their text.
    Number(String),
    /// A quoted string, escapes decoded.
    String(String),
    /// A date-time literal or `system.now`, with optional arithmetic.
    DateTime(DateTimeExpr),
}

impl Value {
    /// A short name of the value's type, for diagnostics.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::DateTime(_) => "a date-time",
        }
    }
}

/// `2020-06-10T18:13:20Z`, `system.now`, `system.now -plus p1d`, …
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateTimeExpr {
    /// The starting point.
    pub base: DateTimeBase,
    /// An optional `-plus`/`-minus` duration.
    pub offset: Option<(Sign, IsoDuration)>,
}

/// The starting point of a date-time expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateTimeBase {
    /// `system.now`: resolved when the rule is checked (see [`crate::rule::Options::now`]).
    Now,
    /// A literal instant.
    Instant(Timestamp),
}

/// `-plus` or `-minus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sign {
    /// `-plus`
    Plus,
    /// `-minus`
    Minus,
}
