//! The canonical text of a rule (`fleetlab fmt`).
//!
//! Canonical means the style of Microsoft's own examples, made regular:
//! documented property casing, hyphenated operators in documented casing,
//! every operand of `-and`/`-or` in parentheses (so precedence never has to
//! be remembered), `-not (…)`, quantifiers always as `-any (…)`, strings in
//! double quotes with backtick escapes, date-times in UTC. The printer is
//! the inverse of the parser: `parse(print(ast)) == ast`, checked by a
//! property test over generated trees.

use std::fmt::Write as _;

use crate::rule::ast::*;
use crate::rule::catalogue::{PlanField, Property};

/// The canonical text of `ast`.
///
/// ```
/// use fleetlab::rule::{parse::parse, print::print};
/// let ast = parse("device.deviceostype EQ 'Windows' and device.accountEnabled -eq TRUE", false)?.ast;
/// assert_eq!(print(&ast), r#"(device.deviceOSType -eq "Windows") -and (device.accountEnabled -eq true)"#);
/// # Ok::<(), fleetlab::rule::RuleErrors>(())
/// ```
pub fn print(ast: &RuleAst) -> String {
    let mut out = String::new();
    match ast {
        RuleAst::DirectReports { manager, .. } => {
            out.push_str("Direct Reports for ");
            string(&mut out, manager);
        }
        RuleAst::Expression(e) => expr(&mut out, e),
    }
    out
}

fn expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Or(parts) | ExprKind::And(parts) => {
            let joiner = if matches!(e.kind, ExprKind::Or(_)) { " -or " } else { " -and " };
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    out.push_str(joiner);
                }
                if matches!(p.kind, ExprKind::Not(_)) {
                    expr(out, p);
                } else {
                    out.push('(');
                    expr(out, p);
                    out.push(')');
                }
            }
        }
        ExprKind::Not(inner) => {
            out.push_str("-not (");
            expr(out, inner);
            out.push(')');
        }
        ExprKind::Comparison(c) => {
            reference(out, &c.target);
            out.push(' ');
            out.push_str(c.op.keyword());
            out.push(' ');
            match &c.operand {
                Operand::Scalar(lit) => value(out, &lit.value),
                Operand::List { items, .. } => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        value(out, &item.value);
                    }
                    out.push(']');
                }
            }
        }
        ExprKind::Quantified(q) => {
            reference(out, &q.target);
            out.push(' ');
            out.push_str(q.quantifier.keyword());
            out.push_str(" (");
            expr(out, &q.predicate);
            out.push(')');
        }
    }
}

fn reference(out: &mut String, r: &Reference) {
    match &r.kind {
        RefKind::Item => out.push('_'),
        RefKind::Property { object, name } => {
            let canonical = Property::lookup(*object, name).map(|p| p.name().into_owned());
            let _ = write!(out, "{object}.{}", canonical.as_deref().unwrap_or(name));
        }
        RefKind::ItemField { prefix, name } => {
            if prefix.eq_ignore_ascii_case("assignedPlan") {
                let field = PlanField::lookup(name).map_or(name.as_str(), |f| f.name());
                let _ = write!(out, "assignedPlan.{field}");
            } else if prefix.eq_ignore_ascii_case("group") && name.eq_ignore_ascii_case("objectId") {
                out.push_str("group.objectId");
            } else {
                let _ = write!(out, "{prefix}.{name}");
            }
        }
    }
}

fn value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(n),
        Value::String(s) => string(out, s),
        Value::DateTime(d) => {
            match d.base {
                DateTimeBase::Now => out.push_str("system.now"),
                DateTimeBase::Instant(t) => {
                    let _ = write!(out, "{t}");
                }
            }
            if let Some((sign, dur)) = &d.offset {
                let op = match sign {
                    Sign::Plus => "-plus",
                    Sign::Minus => "-minus",
                };
                let _ = write!(out, " {op} {dur}");
            }
        }
    }
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("`\""),
            '`' => out.push_str("``"),
            '\'' => out.push_str("''"),
            c => out.push(c),
        }
    }
    out.push('"');
}
