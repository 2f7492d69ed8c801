//! [`RuleAst`] → checked program: every check of spec §3.6, and the
//! compile step the evaluator relies on.
//!
//! Checking and compiling are one walk on purpose: a check is exactly "can
//! this node be compiled", and doing both at once means there is no way to
//! evaluate a rule that was not checked. Compiling means: properties
//! resolved to catalogue enums, constants case-folded once, regexes built
//! once, `-in` lists sorted for binary search, `system.now` resolved to an
//! instant, negated operators turned into a flag on their positive twin (so
//! "negated = not positive" holds by construction, nulls included).
//!
//! All errors are collected, not just the first, so an admin fixes a rule
//! in one round trip.

use crate::rule::ast::*;
use crate::rule::catalogue::{suggest, DeviceProperty, PlanField, Property, PropertyType};
use crate::rule::error::{RuleError, Warning};
use crate::rule::eval::fold;
use crate::rule::time::Timestamp;

/// At most this many groups in one `memberOf` rule (spec §6.4).
pub const MAX_MEMBER_OF_GROUPS: usize = 50;

#[derive(Debug)]
pub(crate) enum Program {
    Expr(Node),
    DirectReports { manager: String },
    MemberOf { property: Property, ids: Vec<String> },
}

#[derive(Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub span: Span,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Or(Vec<Node>),
    And(Vec<Node>),
    Not(Box<Node>),
    Test(Test),
    Quantified { property: Property, quantifier: Quantifier, over_plans: bool, predicate: Box<Node> },
}

#[derive(Debug)]
pub(crate) struct Test {
    pub subject: Subject,
    pub negated: bool,
    pub matcher: Matcher,
}

#[derive(Clone, Debug)]
pub(crate) enum Subject {
    Property(Property),
    Item,
    Plan(PlanField),
}

#[derive(Debug)]
pub(crate) enum Matcher {
    /// `-eq null`: the value is unset (a collection: it is empty).
    IsNull,
    Bool(bool),
    Equals(String),
    StartsWith(String),
    EndsWith(String),
    Contains(String),
    Regex(crate::rule::regex::Pattern),
    /// Sorted, deduplicated, folded.
    InList(Vec<String>),
    Date(DateCmp, Timestamp),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DateCmp {
    Eq,
    Le,
    Ge,
}

/// The object type and checked program of a rule.
pub(crate) struct Checked {
    pub object: ObjectType,
    pub program: Program,
    pub warnings: Vec<Warning>,
}

pub(crate) struct Checker<'a> {
    text: &'a str,
    strict: bool,
    now: Timestamp,
    errors: Vec<RuleError>,
    warnings: Vec<Warning>,
    object: Option<(ObjectType, Span)>,
}

/// The collection a predicate is evaluated over.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope<'p> {
    Top,
    Strings(&'p Property),
    Plans,
}

/// `memberOf -all`: groups-dynamic-rule-member-of documents only `-any`.
fn member_of_all(property: &Property, span: Span) -> RuleError {
    RuleError::ValueMismatch {
        message: format!("{property} allows only -any, not -all"),
        hint: Some(format!(
            "write `{property} -any (group.objectId -in ['<group id>'])` \
             (groups-dynamic-rule-member-of documents no other form)"
        )),
        span,
    }
}

impl<'a> Checker<'a> {
    pub fn new(text: &'a str, strict: bool, now: Timestamp) -> Self {
        Checker { text, strict, now, errors: Vec::new(), warnings: Vec::new(), object: None }
    }

    pub fn check(mut self, ast: &RuleAst, expected: Option<ObjectType>) -> Result<Checked, Vec<RuleError>> {
        let program = match ast {
            RuleAst::DirectReports { manager, span } => {
                self.object = Some((ObjectType::User, *span));
                if expected == Some(ObjectType::Device) {
                    self.errors.push(RuleError::DirectReportsOnDevices { span: *span });
                }
                Program::DirectReports { manager: fold(manager) }
            }
            RuleAst::Expression(expr) => {
                if let Some(p) = self.member_of(expr) {
                    p
                } else {
                    Program::Expr(self.expr(expr, Scope::Top))
                }
            }
        };
        let object = match self.object {
            Some((o, span)) => {
                if let Some(e) = expected.filter(|e| *e != o) {
                    if !matches!(ast, RuleAst::DirectReports { .. }) {
                        self.errors.push(RuleError::WrongObjectType { found: o, expected: e, span });
                    }
                }
                o
            }
            None => expected.unwrap_or(ObjectType::Device),
        };
        if self.errors.is_empty() {
            Ok(Checked { object, program, warnings: self.warnings })
        } else {
            Err(self.errors)
        }
    }

    /// The standalone `X.memberOf -any (group.objectId -in [...])` form, when
    /// the rule is exactly that. Elsewhere memberOf is rejected in `expr`.
    fn member_of(&mut self, expr: &Expr) -> Option<Program> {
        let ExprKind::Quantified(q) = &expr.kind else { return None };
        let property = self.property(&q.target)?;
        if property.ty() != PropertyType::GroupCollection {
            return None;
        }
        if q.quantifier != Quantifier::Any {
            self.errors.push(member_of_all(&property, q.quantifier_span));
            return Some(Program::MemberOf { property, ids: Vec::new() });
        }
        let pred = &q.predicate;
        let ExprKind::Comparison(c) = &pred.kind else {
            self.errors.push(RuleError::NotCombinable {
                form: "memberOf's group.objectId -in [...]",
                span: pred.span,
            });
            return Some(Program::MemberOf { property, ids: Vec::new() });
        };
        let is_group_id = matches!(&c.target.kind, RefKind::ItemField { prefix, name }
            if prefix.eq_ignore_ascii_case("group") && name.eq_ignore_ascii_case("objectId"));
        if !is_group_id {
            self.errors.push(RuleError::WrongItemReference {
                reference: c.target.span.slice(self.text).to_string(),
                property: property.to_string(),
                expected: "group.objectId".into(),
                span: c.target.span,
            });
        }
        if c.op != Operator::In {
            self.errors.push(RuleError::OperatorNotSupported {
                op: c.op,
                property: "group.objectId".into(),
                type_name: "memberOf group id",
                allowed: "-in".into(),
                span: c.op_span,
            });
        }
        let mut ids = Vec::new();
        match &c.operand {
            Operand::List { items, span } => {
                if items.len() > MAX_MEMBER_OF_GROUPS {
                    self.errors.push(RuleError::TooManyGroups { count: items.len(), span: *span });
                }
                for item in items {
                    match &item.value {
                        Value::String(s) | Value::Number(s) => ids.push(fold(s)),
                        other => self.errors.push(RuleError::ValueMismatch {
                            message: format!("group ids are strings, not {}", other.type_name()),
                            hint: None,
                            span: item.span,
                        }),
                    }
                }
            }
            Operand::Scalar(lit) if c.op == Operator::In => self.errors.push(RuleError::ValueMismatch {
                message: "-in takes a list".into(),
                hint: Some("write the group ids as ['<id1>', '<id2>']".into()),
                span: lit.span,
            }),
            Operand::Scalar(_) => {}
        }
        ids.sort();
        ids.dedup();
        Some(Program::MemberOf { property, ids })
    }

    fn note_object(&mut self, object: ObjectType, span: Span) {
        match self.object {
            None => self.object = Some((object, span)),
            Some((first, _)) if first != object => {
                self.errors.push(RuleError::MixedObjectTypes { first, second: object, span })
            }
            Some(_) => {}
        }
    }

    /// Resolves `device.x`/`user.x`; `None` (with an error) when unknown.
    fn property(&mut self, r: &Reference) -> Option<Property> {
        let RefKind::Property { object, name } = &r.kind else { return None };
        self.note_object(*object, r.span);
        match Property::lookup(*object, name) {
            Some(p) => {
                if self.strict && p.name() != name.as_str() {
                    self.warnings.push(Warning {
                        code: "non-canonical-name",
                        message: format!("`{object}.{name}` is documented as `{p}`"),
                        span: r.span,
                    });
                }
                Some(p)
            }
            None => {
                self.errors.push(RuleError::UnknownProperty {
                    object: *object,
                    name: name.clone(),
                    suggestion: suggest(*object, name),
                    span: r.span,
                });
                None
            }
        }
    }

    fn expr(&mut self, expr: &Expr, scope: Scope<'_>) -> Node {
        let kind = match &expr.kind {
            ExprKind::Or(parts) => NodeKind::Or(parts.iter().map(|p| self.expr(p, scope)).collect()),
            ExprKind::And(parts) => NodeKind::And(parts.iter().map(|p| self.expr(p, scope)).collect()),
            ExprKind::Not(inner) => NodeKind::Not(Box::new(self.expr(inner, scope))),
            ExprKind::Comparison(c) => self.comparison(c, scope),
            ExprKind::Quantified(q) => self.quantified(q, expr.span, scope),
        };
        Node { kind, span: expr.span }
    }

    fn quantified(&mut self, q: &Quantified, span: Span, scope: Scope<'_>) -> NodeKind {
        let dead = || NodeKind::And(Vec::new());
        if scope != Scope::Top {
            self.errors.push(RuleError::NestedQuantifier { span: q.quantifier_span });
            return dead();
        }
        match &q.target.kind {
            RefKind::Property { .. } => {}
            _ => {
                self.errors.push(RuleError::ItemOutsideQuantifier {
                    reference: q.target.span.slice(self.text).to_string(),
                    context: "a quantifier's predicate",
                    span: q.target.span,
                });
                return dead();
            }
        }
        let Some(property) = self.property(&q.target) else { return dead() };
        let ty = property.ty();
        let over_plans = match ty {
            PropertyType::StringCollection => false,
            PropertyType::PlanCollection => true,
            PropertyType::GroupCollection if q.quantifier == Quantifier::All => {
                self.errors.push(member_of_all(&property, q.quantifier_span));
                return dead();
            }
            PropertyType::GroupCollection => {
                self.errors.push(RuleError::NotCombinable { form: "memberOf", span });
                return dead();
            }
            _ => {
                self.errors.push(RuleError::QuantifierOnScalar {
                    quantifier: q.quantifier.keyword(),
                    property: property.to_string(),
                    type_name: ty.name(),
                    span: q.quantifier_span,
                });
                return dead();
            }
        };
        let inner_scope = if over_plans { Scope::Plans } else { Scope::Strings(&property) };
        let predicate = Box::new(self.expr(&q.predicate, inner_scope));
        NodeKind::Quantified { property: property.clone(), quantifier: q.quantifier, over_plans, predicate }
    }

    fn comparison(&mut self, c: &Comparison, scope: Scope<'_>) -> NodeKind {
        let dead = || NodeKind::And(Vec::new());
        if c.op == Operator::NotAsComparison {
            self.errors.push(RuleError::NotAsComparison { span: c.op_span });
            return dead();
        }
        let as_written = || c.target.span.slice(self.text).to_string();
        let (subject, ty, shown) = match (&c.target.kind, scope) {
            (RefKind::Property { .. }, Scope::Top) => {
                let Some(p) = self.property(&c.target) else { return dead() };
                let ty = p.ty();
                if p.ty() == PropertyType::GroupCollection {
                    self.errors.push(RuleError::NotCombinable { form: "memberOf", span: c.target.span });
                    return dead();
                }
                let shown = p.to_string();
                (Subject::Property(p), ty, shown)
            }
            (RefKind::Item, Scope::Strings(_)) => (Subject::Item, PropertyType::String, "_".to_string()),
            (RefKind::ItemField { prefix, name }, Scope::Plans)
                if prefix.eq_ignore_ascii_case("assignedPlan") =>
            {
                match PlanField::lookup(name) {
                    Some(f) => (Subject::Plan(f), PropertyType::String, format!("assignedPlan.{}", f.name())),
                    None => {
                        self.errors.push(RuleError::WrongItemReference {
                            reference: as_written(),
                            property: "user.assignedPlans".into(),
                            expected: "assignedPlan.capabilityStatus, assignedPlan.service or assignedPlan.servicePlanId"
                                .into(),
                            span: c.target.span,
                        });
                        return dead();
                    }
                }
            }
            (RefKind::Property { .. }, Scope::Strings(p))
            | (RefKind::ItemField { .. }, Scope::Strings(p)) => {
                self.errors.push(RuleError::WrongItemReference {
                    reference: as_written(),
                    property: p.to_string(),
                    expected: "`_` for the current item".into(),
                    span: c.target.span,
                });
                return dead();
            }
            (_, Scope::Plans) => {
                self.errors.push(RuleError::WrongItemReference {
                    reference: as_written(),
                    property: "user.assignedPlans".into(),
                    expected:
                        "assignedPlan.capabilityStatus, assignedPlan.service or assignedPlan.servicePlanId"
                            .into(),
                    span: c.target.span,
                });
                return dead();
            }
            (RefKind::Item, Scope::Top) => {
                self.errors.push(RuleError::ItemOutsideQuantifier {
                    reference: as_written(),
                    context: "-any/-all over a string collection such as device.devicePhysicalIds",
                    span: c.target.span,
                });
                return dead();
            }
            (RefKind::ItemField { prefix, .. }, Scope::Top) => {
                let context = if prefix.eq_ignore_ascii_case("assignedPlan") {
                    "user.assignedPlans -any/-all (…)"
                } else if prefix.eq_ignore_ascii_case("group") {
                    "X.memberOf -any (group.objectId -in [...])"
                } else {
                    "a quantifier; properties start with device. or user."
                };
                self.errors.push(RuleError::ItemOutsideQuantifier {
                    reference: as_written(),
                    context,
                    span: c.target.span,
                });
                return dead();
            }
        };
        if !ty.allows(c.op) {
            let allowed = ty.allowed_list();
            self.errors.push(RuleError::OperatorNotSupported {
                op: c.op,
                property: shown,
                type_name: ty.name(),
                allowed,
                span: c.op_span,
            });
            return dead();
        }
        if let Subject::Property(p) = &subject {
            self.value_hints(p, c);
        }
        match self.matcher(c, ty) {
            Some(matcher) => NodeKind::Test(Test { subject, negated: c.op.is_negated(), matcher }),
            None => dead(),
        }
    }

    /// Warnings for values that are legal but cannot be what the admin
    /// meant: values Graph never stores in the property (documented in
    /// groups-dynamic-membership's device property table), an empty list,
    /// an empty string in a list.
    fn value_hints(&mut self, property: &Property, c: &Comparison) {
        let (values, list_span): (Vec<&Literal>, Option<Span>) = match &c.operand {
            Operand::Scalar(l) => (vec![l], None),
            Operand::List { items, span } => (items.iter().collect(), Some(*span)),
        };
        if let Some(span) = list_span.filter(|_| values.is_empty()) {
            let effect = if c.op.is_negated() { "every object" } else { "no object" };
            self.warnings.push(Warning {
                code: "empty-list",
                message: format!("{} [] matches {effect}; list the values, or drop the comparison", c.op),
                span,
            });
        }
        for lit in values
            .iter()
            .filter(|l| list_span.is_some() && matches!(&l.value, Value::String(s) if s.is_empty()))
        {
            self.warnings.push(Warning {
                code: "empty-string-in-list",
                message: "\"\" in a list never matches: Entra ID stores no empty strings, an empty value \
                          is unset; test it with -eq null"
                    .into(),
                span: lit.span,
            });
        }
        if !matches!(c.op.positive(), Operator::Eq | Operator::In) {
            return;
        }
        let documented: &[&str] = match property {
            Property::Device(DeviceProperty::DeviceOwnership) => &["Company", "Personal", "Unknown"],
            Property::Device(DeviceProperty::DeviceTrustType) => &["AzureAD", "ServerAD", "Workplace"],
            _ => return,
        };
        for lit in values {
            let Value::String(v) = &lit.value else { continue };
            if v.is_empty() || documented.iter().any(|d| d.eq_ignore_ascii_case(v)) {
                continue;
            }
            let message = match property {
                Property::Device(DeviceProperty::DeviceOwnership) if v.eq_ignore_ascii_case("corporate") => {
                    format!(
                        "{property} is never \"{v}\": Intune says Corporate, Graph uses Company / Personal \
                         (and Unknown); write \"Company\""
                    )
                }
                Property::Device(DeviceProperty::DeviceOwnership) => {
                    format!("{property} is never \"{v}\": Graph uses Company / Personal (and Unknown)")
                }
                _ => format!(
                    "{property} is never \"{v}\": its documented values are AzureAD (Microsoft Entra \
                     joined), ServerAD (hybrid joined) and Workplace (registered)"
                ),
            };
            self.warnings.push(Warning { code: "undocumented-value", message, span: lit.span });
        }
    }

    fn mismatch(&mut self, message: String, hint: Option<String>, span: Span) -> Option<Matcher> {
        self.errors.push(RuleError::ValueMismatch { message, hint, span });
        None
    }

    /// The positive matcher for `c.op` against `c.operand` on a value of type `ty`.
    fn matcher(&mut self, c: &Comparison, ty: PropertyType) -> Option<Matcher> {
        let op = c.op.positive();
        let lit = match (&c.operand, op) {
            (Operand::List { items, span }, Operator::In) => return self.list(items, *span),
            (Operand::List { span, .. }, _) => {
                return self.mismatch(
                    format!("{} compares with one value, not a list", c.op),
                    Some(format!(
                        "use {} [..] to compare with several values",
                        if c.op.is_negated() { "-notIn" } else { "-in" }
                    )),
                    *span,
                )
            }
            (Operand::Scalar(lit), Operator::In) => {
                return self.mismatch(
                    format!("{} takes a list", c.op),
                    Some(format!("write [{}]", lit.span.slice(self.text))),
                    lit.span,
                )
            }
            (Operand::Scalar(lit), _) => lit,
        };
        // Entra stores no empty strings (an empty value is unset), so
        // `-eq ""` asks exactly what `-eq null` asks.
        let empty_is_null = op == Operator::Eq && matches!(&lit.value, Value::String(s) if s.is_empty());
        if matches!(lit.value, Value::Null) || empty_is_null {
            if op != Operator::Eq {
                return self.mismatch(
                    format!("null can only be compared with -eq or -ne, not {}", c.op),
                    Some("-eq null tests that a value is unset, -ne null that it is set".into()),
                    lit.span,
                );
            }
            return Some(Matcher::IsNull);
        }
        match ty {
            PropertyType::Bool => match &lit.value {
                Value::Bool(b) => Some(Matcher::Bool(*b)),
                Value::String(s) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                    self.warnings.push(Warning {
                        code: "quoted-boolean",
                        message: format!(
                            "\"{s}\" is read as the boolean {}; write it without quotes",
                            s.to_ascii_lowercase()
                        ),
                        span: lit.span,
                    });
                    Some(Matcher::Bool(s.eq_ignore_ascii_case("true")))
                }
                other => self.mismatch(
                    format!("a boolean property compares with true or false, not {}", other.type_name()),
                    Some("write true or false, unquoted".into()),
                    lit.span,
                ),
            },
            PropertyType::DateTime => {
                let at = match &lit.value {
                    Value::DateTime(d) => Some(self.resolve(d)),
                    Value::String(s) => match Timestamp::parse(s) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            self.errors.push(RuleError::InvalidDateTime { reason: e.0, span: lit.span });
                            None
                        }
                    },
                    other => {
                        self.mismatch(
                            format!(
                                "a date-time property compares with a date-time, not {}",
                                other.type_name()
                            ),
                            Some("write e.g. 2024-01-01T00:00:00Z or system.now -minus P30D".into()),
                            lit.span,
                        );
                        None
                    }
                }?;
                let cmp = match op {
                    Operator::Le => DateCmp::Le,
                    Operator::Ge => DateCmp::Ge,
                    _ => DateCmp::Eq,
                };
                Some(Matcher::Date(cmp, at))
            }
            _ => {
                let text = match &lit.value {
                    Value::String(s) | Value::Number(s) => s.as_str(),
                    Value::Bool(_) => {
                        return self.mismatch(
                            "a string property compares with a string, not a boolean".into(),
                            Some(format!("write \"{}\" in quotes", lit.span.slice(self.text))),
                            lit.span,
                        )
                    }
                    Value::DateTime(_) => {
                        return self.mismatch(
                            "a string property compares with a string, not a date-time".into(),
                            Some(format!("write \"{}\" in quotes", lit.span.slice(self.text))),
                            lit.span,
                        )
                    }
                    Value::Null => return Some(Matcher::IsNull),
                };
                match op {
                    Operator::Eq => Some(Matcher::Equals(fold(text))),
                    Operator::StartsWith => Some(Matcher::StartsWith(fold(text))),
                    Operator::EndsWith => Some(Matcher::EndsWith(fold(text))),
                    Operator::Contains => Some(Matcher::Contains(fold(text))),
                    Operator::Match => self.regex(text, lit.span),
                    _ => None,
                }
            }
        }
    }

    fn resolve(&self, d: &DateTimeExpr) -> Timestamp {
        let base = match d.base {
            DateTimeBase::Now => self.now,
            DateTimeBase::Instant(t) => t,
        };
        match &d.offset {
            Some((sign, dur)) => base.offset(dur, *sign == Sign::Minus),
            None => base,
        }
    }

    fn list(&mut self, items: &[Literal], _span: Span) -> Option<Matcher> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match &item.value {
                Value::String(s) | Value::Number(s) => out.push(fold(s)),
                other => {
                    self.errors.push(RuleError::ValueMismatch {
                        message: format!("-in lists hold strings, not {}", other.type_name()),
                        hint: Some("quote the value".into()),
                        span: item.span,
                    });
                }
            }
        }
        out.sort();
        out.dedup();
        Some(Matcher::InList(out))
    }

    fn regex(&mut self, pattern: &str, span: Span) -> Option<Matcher> {
        match crate::rule::regex::Pattern::new(pattern) {
            Ok(re) => Some(Matcher::Regex(re)),
            Err(e) => {
                self.errors.push(RuleError::InvalidRegex { reason: e.reason, help: e.help, span });
                None
            }
        }
    }
}
