//! The reference semantics: a checked rule against one [`Record`].
//!
//! This is the row-at-a-time evaluator every faster path must agree with,
//! so it is written for obviousness first. The Decisions table of the spec
//! is implemented here, one rule each:
//!
//! * strings compare case-insensitively with `to_lowercase` folding (and
//!   final sigma folded to σ), done
//!   per character into a thread-local buffer so no device costs an
//!   allocation; constants were folded once at check time;
//! * positive operators on null are false, negated ones are their exact
//!   complement (the checker stored negation as a flag, so this is
//!   structural);
//! * a scalar operator on a string collection is an implicit `-any`;
//!   `-eq null` on a collection means "empty";
//! * `-any` over nothing is false, `-all` over nothing is true
//!   (`all(p) = not any(not p)`);
//! * `-match` is unanchored and runs on the folded value (on the stored
//!   value when the pattern turns case-insensitivity off), in linear time,
//!   or for .NET-only constructs on a backtracking engine with a step limit
//!   ([`crate::rule::regex`]): no pattern can hang it.

use std::cell::RefCell;

use crate::rule::ast::Quantifier;
use crate::rule::check::{DateCmp, Matcher, Node, NodeKind, Program, Subject, Test};
use crate::rule::record::{PlanItem, Record, Scalar};
use crate::rule::time::Timestamp;

/// Appends the case-folded form of `s` to `out`.
pub(crate) fn fold_into(out: &mut String, s: &str) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out[start..].make_ascii_lowercase();
    } else {
        // Per character, so the buffer is reused; the one context-dependent
        // lower-case letter, final sigma, is folded to σ as Unicode case
        // folding does, so "ΟΔΟΣ" and "οδος" compare equal.
        for c in s.chars() {
            out.extend(c.to_lowercase().map(|l| if l == 'ς' { 'σ' } else { l }));
        }
    }
}

/// The case-folded form of `s`, the way every comparison sees it.
pub(crate) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_into(&mut out, s);
    out
}

thread_local! {
    static FOLD_BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` on the folded form of `s`, reusing a per-thread buffer.
fn with_folded<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    FOLD_BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            fold_into(&mut buf, s);
            f(&buf)
        }
        // Re-entered (a Record impl that evaluates a rule itself): fall back.
        Err(_) => f(&fold(s)),
    })
}

/// True when the positive form of `m` holds for the string `value`.
pub(crate) fn string_matches(m: &Matcher, value: &str) -> bool {
    if value.is_empty() {
        return matches!(m, Matcher::IsNull);
    }
    match m {
        Matcher::IsNull => false,
        // ASCII values fold to their ASCII lower case, so comparing bytes
        // case-insensitively against the folded constant is exact, and
        // skips copying the value into the fold buffer.
        Matcher::Equals(c) if value.is_ascii() && c.is_ascii() => {
            value.len() == c.len() && value.bytes().zip(c.bytes()).all(|(a, b)| a.to_ascii_lowercase() == b)
        }
        Matcher::StartsWith(c) if value.is_ascii() && c.is_ascii() => {
            value.as_bytes().get(..c.len()).is_some_and(|h| h.eq_ignore_ascii_case(c.as_bytes()))
        }
        Matcher::EndsWith(c) if value.is_ascii() && c.is_ascii() => value
            .len()
            .checked_sub(c.len())
            .and_then(|start| value.as_bytes().get(start..))
            .is_some_and(|t| t.eq_ignore_ascii_case(c.as_bytes())),
        Matcher::Bool(b) => value.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Matcher::Date(cmp, at) => Timestamp::parse(value).is_ok_and(|t| date_cmp(*cmp, t, *at)),
        // A pattern that turns case-insensitivity off must see upper case.
        Matcher::Regex(re) if re.raw() => re.is_match(value),
        m => with_folded(value, |v| match m {
            Matcher::Equals(c) => v == c,
            Matcher::StartsWith(c) => v.starts_with(c.as_str()),
            Matcher::EndsWith(c) => v.ends_with(c.as_str()),
            Matcher::Contains(c) => v.contains(c.as_str()),
            Matcher::Regex(re) => re.is_match(v),
            Matcher::InList(items) => items.binary_search_by(|x| x.as_str().cmp(v)).is_ok(),
            _ => false,
        }),
    }
}

fn date_cmp(cmp: DateCmp, value: Timestamp, at: Timestamp) -> bool {
    match cmp {
        DateCmp::Eq => value == at,
        DateCmp::Le => value <= at,
        DateCmp::Ge => value >= at,
    }
}

/// The positive result of a test on a scalar value.
pub(crate) fn scalar_matches(m: &Matcher, value: Scalar<'_>) -> bool {
    match value {
        Scalar::Null => matches!(m, Matcher::IsNull),
        Scalar::Bool(b) => match m {
            Matcher::Bool(x) => b == *x,
            Matcher::IsNull => false,
            other => string_matches(other, if b { "true" } else { "false" }),
        },
        Scalar::Str(s) => string_matches(m, s),
    }
}

/// What a predicate inside a quantifier reads.
#[derive(Clone, Copy)]
pub(crate) enum Item<'a> {
    None,
    Str(&'a str),
    Plan(&'a PlanItem<'a>),
}

pub(crate) fn test_positive<R: Record + ?Sized>(t: &Test, record: &R, item: Item<'_>) -> bool {
    match &t.subject {
        Subject::Property(p) if p.ty().is_collection() => {
            // Implicit any; `-eq null` means "has no items".
            if let Matcher::IsNull = t.matcher {
                !record.any_item(p, &mut |_| true)
            } else {
                record.any_item(p, &mut |v| string_matches(&t.matcher, v))
            }
        }
        Subject::Property(p) => scalar_matches(&t.matcher, record.scalar(p)),
        Subject::Item => match item {
            Item::Str(s) => string_matches(&t.matcher, s),
            _ => false,
        },
        Subject::Plan(field) => match item {
            Item::Plan(plan) => scalar_matches(&t.matcher, Scalar::from_opt(plan.field(*field))),
            _ => false,
        },
    }
}

pub(crate) fn eval_node<R: Record + ?Sized>(node: &Node, record: &R, item: Item<'_>) -> bool {
    match &node.kind {
        NodeKind::Or(parts) => parts.iter().any(|p| eval_node(p, record, item)),
        NodeKind::And(parts) => parts.iter().all(|p| eval_node(p, record, item)),
        NodeKind::Not(inner) => !eval_node(inner, record, item),
        NodeKind::Test(t) => test_positive(t, record, item) != t.negated,
        NodeKind::Quantified { property, quantifier, over_plans, predicate } => {
            let want = *quantifier == Quantifier::Any;
            // all(p) == !any(!p): one primitive serves both quantifiers.
            let hit = if *over_plans {
                record.any_plan(&mut |plan| eval_node(predicate, record, Item::Plan(plan)) == want)
            } else {
                record.any_item(property, &mut |s| eval_node(predicate, record, Item::Str(s)) == want)
            };
            if want {
                hit
            } else {
                !hit
            }
        }
    }
}

pub(crate) fn eval_program<R: Record + ?Sized>(program: &Program, record: &R) -> bool {
    match program {
        Program::Expr(node) => eval_node(node, record, Item::None),
        Program::DirectReports { manager } => {
            // The manager is a member too (spec S1-new).
            let is = |v: Option<&str>| v.is_some_and(|v| with_folded(v, |f| f == manager));
            is(record.manager_id())
                || is(
                    match record.scalar(&crate::rule::Property::User(crate::rule::UserProperty::ObjectId)) {
                        Scalar::Str(s) => Some(s),
                        _ => None,
                    },
                )
        }
        Program::MemberOf { property, ids, .. } => record.any_item(property, &mut |g| {
            with_folded(g, |f| ids.binary_search_by(|x| x.as_str().cmp(f)).is_ok())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folding_is_unicode_aware_and_context_free() {
        assert_eq!(fold("İstanbul"), "i\u{307}stanbul");
        assert_eq!(fold("ΟΔΟΣ"), fold("οδος"));
        assert_eq!(fold("STRASSE"), "strasse");
        assert_eq!(fold("\u{212A}elvin"), "kelvin");
    }
}
