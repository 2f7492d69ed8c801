//! Why a device did or did not match: the result of every sub-expression
//! with the property it read and the value it found.
//!
//! The JSON shape follows Graph's `expressionEvaluationDetails` (the
//! `evaluateDynamicMembership` API) so that admins and tools that know that
//! API read fleetlab's output without a manual. One deliberate difference:
//! `propertyValue` is a JSON value (string, boolean, null or array) instead
//! of Graph's flattened string, so a null is distinguishable from "null".
//!
//! Explain re-walks the checked program with the same primitives as
//! `crate::rule::eval`, so its verdict cannot drift from `matches`.

use serde::Serialize;
use serde_json::Value as Json;

use crate::rule::ast::Quantifier;
use crate::rule::check::{Node, NodeKind, Program, Subject, Test};
use crate::rule::eval::{eval_program, test_positive, Item};
use crate::rule::record::{Record, Scalar};

/// One evaluated sub-expression.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The sub-expression's text, whitespace collapsed.
    pub expression: String,
    /// Its result for this object.
    #[serde(rename = "expressionResult")]
    pub result: bool,
    /// The property it read and the value found, for comparisons.
    #[serde(rename = "propertyToEvaluate", skip_serializing_if = "Option::is_none")]
    pub property: Option<PropertyRead>,
    /// The sub-expressions (for a quantifier: one per collection item).
    #[serde(rename = "expressionEvaluationDetails", skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Explanation>,
}

/// A property and the value read from the object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PropertyRead {
    /// `device.deviceOSType`, `_` or `assignedPlan.service`.
    #[serde(rename = "propertyName")]
    pub name: String,
    /// The value found: a string, boolean, null, or an array for collections.
    #[serde(rename = "propertyValue")]
    pub value: Json,
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn scalar_json(s: Scalar<'_>) -> Json {
    match s {
        Scalar::Null => Json::Null,
        Scalar::Str("") => Json::Null,
        Scalar::Str(s) => Json::String(s.to_string()),
        Scalar::Bool(b) => Json::Bool(b),
    }
}

fn items_json<R: Record + ?Sized>(record: &R, p: &crate::rule::Property) -> Json {
    let mut out = Vec::new();
    record.any_item(p, &mut |s| {
        out.push(Json::String(s.to_string()));
        false
    });
    Json::Array(out)
}

pub(crate) fn explain_program<R: Record + ?Sized>(
    program: &Program,
    source: &str,
    record: &R,
) -> Explanation {
    match program {
        Program::Expr(node) => explain_node(node, source, record, Item::None),
        Program::MemberOf { property, .. } => Explanation {
            expression: collapse(source),
            result: eval_program(program, record),
            property: Some(PropertyRead { name: property.to_string(), value: items_json(record, property) }),
            children: Vec::new(),
        },
        Program::DirectReports { .. } => Explanation {
            expression: collapse(source),
            result: eval_program(program, record),
            property: Some(PropertyRead {
                name: "manager".into(),
                value: record.manager_id().map_or(Json::Null, |m| Json::String(m.to_string())),
            }),
            children: Vec::new(),
        },
    }
}

fn explain_test<R: Record + ?Sized>(t: &Test, record: &R, item: Item<'_>) -> (bool, PropertyRead) {
    let result = test_positive(t, record, item) != t.negated;
    let read = match (&t.subject, item) {
        (Subject::Property(p), _) if p.ty().is_collection() => {
            PropertyRead { name: p.to_string(), value: items_json(record, p) }
        }
        (Subject::Property(p), _) => {
            PropertyRead { name: p.to_string(), value: scalar_json(record.scalar(p)) }
        }
        (Subject::Item, Item::Str(s)) => {
            PropertyRead { name: "_".into(), value: Json::String(s.to_string()) }
        }
        (Subject::Plan(f), Item::Plan(plan)) => PropertyRead {
            name: format!("assignedPlan.{}", f.name()),
            value: plan.field(*f).map_or(Json::Null, |s| Json::String(s.to_string())),
        },
        _ => PropertyRead { name: "_".into(), value: Json::Null },
    };
    (result, read)
}

fn explain_node<R: Record + ?Sized>(node: &Node, source: &str, record: &R, item: Item<'_>) -> Explanation {
    let expression = collapse(node.span.slice(source));
    match &node.kind {
        NodeKind::Or(parts) | NodeKind::And(parts) => {
            let children: Vec<Explanation> =
                parts.iter().map(|p| explain_node(p, source, record, item)).collect();
            let result = if matches!(node.kind, NodeKind::Or(_)) {
                children.iter().any(|c| c.result)
            } else {
                children.iter().all(|c| c.result)
            };
            Explanation { expression, result, property: None, children }
        }
        NodeKind::Not(inner) => {
            let child = explain_node(inner, source, record, item);
            Explanation { expression, result: !child.result, property: None, children: vec![child] }
        }
        NodeKind::Test(t) => {
            let (result, read) = explain_test(t, record, item);
            Explanation { expression, result, property: Some(read), children: Vec::new() }
        }
        NodeKind::Quantified { property, quantifier, over_plans, predicate } => {
            let mut children = Vec::new();
            if *over_plans {
                record.any_plan(&mut |plan| {
                    children.push(explain_node(predicate, source, record, Item::Plan(plan)));
                    false
                });
            } else {
                record.any_item(property, &mut |s| {
                    children.push(explain_node(predicate, source, record, Item::Str(s)));
                    false
                });
            }
            let result = match quantifier {
                Quantifier::Any => children.iter().any(|c| c.result),
                Quantifier::All => children.iter().all(|c| c.result),
            };
            let value = if *over_plans {
                Json::from(format!("{} plans", children.len()))
            } else {
                items_json(record, property)
            };
            Explanation {
                expression,
                result,
                property: Some(PropertyRead { name: property.to_string(), value }),
                children,
            }
        }
    }
}

impl Explanation {
    /// A tree for terminals: one line per sub-expression, its verdict first.
    ///
    /// ```
    /// use fleetlab::rule::{Property, Record, Rule, Scalar};
    /// struct Unknown;
    /// impl Record for Unknown {
    ///     fn scalar(&self, _: &Property) -> Scalar<'_> { Scalar::Null }
    /// }
    /// let rule = Rule::new(r#"device.deviceOSType -eq "Windows""#)?;
    /// let text = rule.explain(&Unknown).to_text();
    /// assert!(text.starts_with("false  device.deviceOSType -eq \"Windows\""));
    /// # Ok::<(), fleetlab::rule::RuleErrors>(())
    /// ```
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.render(&mut out, "", "");
        out
    }

    fn render(&self, out: &mut String, first: &str, rest: &str) {
        let verdict = if self.result { "true " } else { "false" };
        out.push_str(first);
        out.push_str(verdict);
        out.push_str("  ");
        out.push_str(&self.expression);
        if let Some(read) = &self.property {
            out.push_str("    [");
            out.push_str(&read.name);
            match &read.value {
                // The items follow one per line; repeating them here only adds noise.
                Json::Array(items) if !self.children.is_empty() => {
                    out.push_str(&format!(": {} items", items.len()));
                }
                value => {
                    out.push_str(" = ");
                    out.push_str(&value.to_string());
                }
            }
            out.push(']');
        }
        out.push('\n');
        let n = self.children.len();
        for (i, c) in self.children.iter().enumerate() {
            let last = i + 1 == n;
            let (a, b) = if last { ("└─ ", "   ") } else { ("├─ ", "│  ") };
            c.render(out, &format!("{rest}{a}"), &format!("{rest}{b}"));
        }
    }
}
