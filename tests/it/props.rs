//! Property tests of the rule parser and printer.
//!
//! * the parser (and the checker behind `Rule::new`) never panics, whatever
//!   the input;
//! * hostile nesting and `-not` chains end in a clear error, not a stack
//!   overflow;
//! * the printer is the inverse of the parser on canonical syntax trees:
//!   `parse(print(ast)) == ast`.

use fleetlab::rule::ast::{
    Comparison, DateTimeBase, DateTimeExpr, Expr, ExprKind, Literal, ObjectType, Operand, Operator,
    Quantified, Quantifier, RefKind, Reference, RuleAst, Sign, Span, Value,
};
use fleetlab::rule::parse::{parse, MAX_DEPTH, MAX_RULE_CHARS};
use fleetlab::rule::print::print;
use fleetlab::rule::time::{IsoDuration, Timestamp};
use fleetlab::rule::{DeviceProperty, ExtensionSlot, PlanField, PropertyType, Rule, UserProperty};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

type TestResult = Result<(), Box<dyn std::error::Error>>;

// ---- (a) the parser never panics ------------------------------------------

/// Pieces of the rule language (and of the mistakes admins make with it).
const TOKENS: &[&str] = &[
    "device.deviceOSType",
    "device.devicePhysicalIds",
    "device.accountEnabled",
    "device.extensionAttribute15",
    "device.memberOf",
    "device.employeeHireDate",
    "user.department",
    "user.assignedPlans",
    "user.employeeHireDate",
    "user.memberOf",
    "user.proxyAddresses",
    "assignedPlan.service",
    "assignedPlan.capabilityStatus",
    "group.objectId",
    "deviceOSType",
    "device.",
    "device",
    ".",
    "_",
    "-any",
    "-all",
    "any",
    "(",
    ")",
    "[",
    "]",
    "\"x\"",
    "'y'",
    "\"",
    "'",
    "`",
    "`\"",
    "`\"Sales`\"",
    "\"a`\"b\"",
    "'it''s'",
    "-eq",
    "-ne",
    "eq",
    "-EQ",
    "-startsWith",
    "-notStartsWith",
    "-contains",
    "-notContains",
    "-match",
    "-notMatch",
    "\"(\"",
    "\"[a-\"",
    "\"(?=x)\"",
    "\"\\\\1\"",
    "-in",
    "-notIn",
    "-le",
    "-ge",
    "-not",
    "not",
    "and",
    "-and",
    "or",
    "-or",
    "null",
    "$null",
    "true",
    "FALSE",
    "system.now",
    "-plus",
    "-minus",
    "p1d",
    "PT12H",
    "P",
    "P1",
    "2020-01-01T00:00:00Z",
    "2020-02-30",
    "2020-01-01T25:00:00Z",
    "9999-12-31T23:59:59+23:59",
    "0000-01-01",
    "42",
    "-7",
    "1.5",
    "007",
    ",",
    "\u{2013}",
    "\u{2014}",
    "\u{201C}",
    "\u{201D}",
    "\u{2018}",
    "\u{2019}",
    "\u{00A0}",
    "\u{FEFF}",
    "\n",
    "\r\n",
    "\t",
    "Direct",
    "Reports",
    "for",
    "Direct Reports for",
    "\"62e19b97-8b3d-4d4a-a106-4ce66896a863\"",
    "extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber",
    "İ",
    "é",
    "\u{0}",
    "😀",
];

fn token_soup() -> impl Strategy<Value = String> {
    (prop::collection::vec(prop::sample::select(TOKENS), 0..40), prop::sample::select(&[" ", "", "\n"][..]))
        .prop_map(|(tokens, joiner)| tokens.join(joiner))
}

fn parse_and_check_do_not_panic(text: &str) {
    // Ok and Err are both fine; a panic fails the test.
    let _ = parse(text, false);
    let _ = parse(text, true);
    let _ = Rule::new(text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parser_never_panics_on_arbitrary_strings(text in any::<String>()) {
        parse_and_check_do_not_panic(&text);
    }

    #[test]
    fn parser_never_panics_on_printable_strings(text in "\\PC{0,200}") {
        parse_and_check_do_not_panic(&text);
    }

    #[test]
    fn parser_never_panics_on_token_soup(text in token_soup()) {
        parse_and_check_do_not_panic(&text);
    }

    /// A valid rule with one token replaced, dropped or repeated.
    #[test]
    fn parser_never_panics_on_mutated_rules(
        at in 0usize..64,
        token in prop::sample::select(TOKENS),
        mode in 0u8..3,
    ) {
        let base = [
            "(device.deviceOSType", "-eq", "\"Windows\")", "-and", "(device.devicePhysicalIds",
            "-any", "(_", "-startsWith", "\"[ZTDId]\"))", "-and", "-not", "(device.extensionAttribute1",
            "-in", "[\"a\",", "\"b\"])", "-or", "(user.employeeHireDate", "-le", "system.now", "-minus",
            "p30d)",
        ];
        let mut words: Vec<&str> = base.to_vec();
        let i = at % words.len();
        match mode {
            0 => words[i] = token,
            1 => {
                words.remove(i);
            }
            _ => words.insert(i, token),
        }
        parse_and_check_do_not_panic(&words.join(" "));
    }
}

// ---- (b) hostile nesting --------------------------------------------------

fn first_code(text: &str) -> Result<&'static str, String> {
    match parse(text, false) {
        Ok(p) => Err(format!("expected an error, got {:?}", p.ast)),
        Err(e) => Ok(e.first().code()),
    }
}

fn nested(depth: usize) -> String {
    format!("{}device.deviceOSType -eq \"x\"{}", "(".repeat(depth), ")".repeat(depth))
}

#[test]
fn ten_thousand_parentheses_are_a_clear_error() -> TestResult {
    let text = nested(10_000);
    let code = first_code(&text)?;
    assert!(code == "too-deep" || code == "rule-too-long", "first error code {code}");
    let rule = Rule::new(&text);
    assert!(rule.is_err());
    Ok(())
}

#[test]
fn deep_nesting_within_the_length_limit_parses() -> TestResult {
    // The documentation sets no nesting limit: 1,000 levels fit in 3,072
    // characters and must parse, check and print (on the big-stack thread
    // `Rule` uses for long rules).
    let text = nested(1_000);
    assert!(text.chars().count() <= MAX_RULE_CHARS);
    const { assert!(MAX_DEPTH >= 1_000) };
    let rule = Rule::new(&text)?;
    assert_eq!(rule.canonical(), "device.deviceOSType -eq \"x\"");
    // Nested lists are not a value: a syntax error, not a crash.
    let brackets = format!("device.deviceOSType -in {}{}", "[".repeat(500), "]".repeat(500));
    assert_eq!(first_code(&brackets)?, "syntax");
    Ok(())
}

#[test]
fn nesting_up_to_the_limit_parses() -> TestResult {
    for depth in [1, 60, 1_000, (MAX_RULE_CHARS - nested(0).len()) / 2] {
        let text = nested(depth);
        let rule = Rule::new(&text)?;
        assert_eq!(rule.canonical(), "device.deviceOSType -eq \"x\"", "depth {depth}");
    }
    let past = nested((MAX_RULE_CHARS - nested(0).len()) / 2 + 1);
    assert_eq!(first_code(&past)?, "rule-too-long");
    Ok(())
}

#[test]
fn ten_thousand_nots_are_a_clear_error() -> TestResult {
    let text = format!("{}device.deviceOSType -eq \"x\"", "-not ".repeat(10_000));
    let code = first_code(&text)?;
    assert!(code == "too-deep" || code == "rule-too-long", "first error code {code}");
    assert!(Rule::new(&text).is_err());
    Ok(())
}

#[test]
fn a_long_not_chain_within_the_length_limit_does_not_overflow() -> TestResult {
    // ~600 nested Not nodes: parse, check, print and evaluate must not recurse
    // their way into a stack overflow (and the printer must round-trip it).
    let text = format!("{}device.deviceOSType -eq \"x\"", "-not ".repeat(600));
    assert!(text.chars().count() <= MAX_RULE_CHARS);
    let parsed = parse(&text, false)?;
    let mut depth = 0;
    let RuleAst::Expression(mut e) = parsed.ast.clone() else {
        return Err("expected an expression".into());
    };
    while let ExprKind::Not(inner) = e.kind {
        depth += 1;
        e = *inner;
    }
    assert_eq!(depth, 600);
    let rule = Rule::new(&text)?;
    assert!(!rule.canonical().is_empty());
    Ok(())
}

// ---- (c) print ∘ parse round trip -----------------------------------------

fn span() -> Span {
    Span::default()
}

fn lit(value: Value) -> Literal {
    Literal { value, span: span() }
}

fn expr(kind: ExprKind) -> Expr {
    Expr { kind, span: span() }
}

fn property_ref(object: ObjectType, name: String) -> Reference {
    Reference { kind: RefKind::Property { object, name }, span: span() }
}

/// Canonical names of the string-typed properties of `object`, with a few
/// extension attributes and a custom directory extension.
fn string_properties(object: ObjectType) -> Vec<String> {
    let mut names: Vec<String> = match object {
        ObjectType::Device => DeviceProperty::all()
            .filter(|p| p.ty() == PropertyType::String)
            .map(|p| p.name().into_owned())
            .collect(),
        ObjectType::User => UserProperty::all()
            .filter(|p| p.ty() == PropertyType::String)
            .map(|p| p.name().into_owned())
            .collect(),
    };
    for n in [1u8, 9, 15] {
        if let Some(slot) = ExtensionSlot::new(n) {
            let name = match object {
                ObjectType::Device => DeviceProperty::ExtensionAttribute(slot).name(),
                ObjectType::User => UserProperty::ExtensionAttribute(slot).name(),
            };
            names.push(name.into_owned());
        }
    }
    names.push("extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber".to_string());
    names
}

/// Characters that stress the string encoder: quotes of all three kinds,
/// line breaks, look-alikes (harmless inside a string), non-ASCII.
const NASTY: &[char] = &[
    '"', '\'', '`', '\n', '\r', '\t', ' ', '\u{2013}', '\u{201C}', '\u{201D}', '\u{2019}', 'é', 'İ', 'ß',
    '😀', '(', ')', '[', ']', '\\', ',', '$', '-', '_', '\u{0}', '\u{A0}', '\u{FEFF}',
];

fn string_value() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![2 => any::<char>(), 3 => prop::sample::select(NASTY)], 0..10)
        .prop_map(|chars| chars.into_iter().collect())
}

fn number_value() -> impl Strategy<Value = String> {
    "-?[0-9]{1,6}(\\.[0-9]{1,3})?"
}

fn duration() -> impl Strategy<Value = IsoDuration> {
    (0u32..3, 0u32..13, 0u32..3, 0u32..400, 0u32..25, 0u32..61, 0u32..61).prop_map(
        |(years, months, weeks, days, hours, minutes, seconds)| IsoDuration {
            years,
            months,
            weeks,
            days,
            hours,
            minutes,
            seconds,
        },
    )
}

fn datetime_value() -> impl Strategy<Value = Value> {
    // Years 1900..=9999: the grammar reads four-digit years.
    let instant = (-2_208_988_800i64..253_402_300_800, prop_oneof![Just(0u32), 0u32..1_000_000_000])
        .prop_map(|(secs, nanos)| DateTimeBase::Instant(Timestamp::from_unix(secs, nanos)));
    let base = prop_oneof![Just(DateTimeBase::Now), instant];
    let sign = prop_oneof![Just(Sign::Plus), Just(Sign::Minus)];
    (base, prop::option::of((sign, duration())))
        .prop_map(|(base, offset)| Value::DateTime(DateTimeExpr { base, offset }))
}

fn scalar() -> impl Strategy<Value = Literal> {
    prop_oneof![
        6 => string_value().prop_map(Value::String),
        2 => number_value().prop_map(Value::Number),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => datetime_value(),
    ]
    .prop_map(lit)
}

fn operator() -> impl Strategy<Value = Operator> {
    let ops: Vec<Operator> =
        Operator::ALL.iter().copied().filter(|op| !matches!(op, Operator::Le | Operator::Ge)).collect();
    prop::sample::select(ops)
}

fn operand_for(op: Operator) -> BoxedStrategy<Operand> {
    if op.takes_list() {
        prop::collection::vec(scalar(), 0..4).prop_map(|items| Operand::List { items, span: span() }).boxed()
    } else {
        scalar().prop_map(Operand::Scalar).boxed()
    }
}

fn comparison_on(target: impl Strategy<Value = Reference>) -> impl Strategy<Value = Expr> {
    (target, operator()).prop_flat_map(|(target, op)| {
        operand_for(op).prop_map(move |operand| {
            expr(ExprKind::Comparison(Comparison { target: target.clone(), op, op_span: span(), operand }))
        })
    })
}

fn property_comparison(object: ObjectType) -> impl Strategy<Value = Expr> {
    let names = string_properties(object);
    comparison_on(prop::sample::select(names).prop_map(move |name| property_ref(object, name)))
}

/// `-not`, `-and` and `-or` (with at least two operands) over `leaf`.
fn boolean_over(leaf: BoxedStrategy<Expr>, depth: u32) -> BoxedStrategy<Expr> {
    leaf.prop_recursive(depth, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| expr(ExprKind::Not(Box::new(e)))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| expr(ExprKind::And(v))),
            prop::collection::vec(inner, 2..4).prop_map(|v| expr(ExprKind::Or(v))),
        ]
    })
    .boxed()
}

fn quantified(
    target: Reference,
    item: impl Strategy<Value = Reference> + 'static,
) -> impl Strategy<Value = Expr> {
    let predicate = boolean_over(comparison_on(item).boxed(), 2);
    let quantifier = prop_oneof![Just(Quantifier::Any), Just(Quantifier::All)];
    (quantifier, predicate).prop_map(move |(quantifier, predicate)| {
        expr(ExprKind::Quantified(Quantified {
            target: target.clone(),
            quantifier,
            quantifier_span: span(),
            predicate: Box::new(predicate),
        }))
    })
}

fn item() -> impl Strategy<Value = Reference> {
    Just(Reference { kind: RefKind::Item, span: span() })
}

fn plan_field() -> impl Strategy<Value = Reference> {
    prop::sample::select(vec![PlanField::CapabilityStatus, PlanField::Service, PlanField::ServicePlanId])
        .prop_map(|f| Reference {
            kind: RefKind::ItemField { prefix: "assignedPlan".to_string(), name: f.name().to_string() },
            span: span(),
        })
}

fn device_expr() -> BoxedStrategy<Expr> {
    let physical_ids =
        property_ref(ObjectType::Device, DeviceProperty::DevicePhysicalIds.name().into_owned());
    let leaf =
        prop_oneof![3 => property_comparison(ObjectType::Device), 1 => quantified(physical_ids, item())];
    boolean_over(leaf.boxed(), 4)
}

fn user_expr() -> BoxedStrategy<Expr> {
    let proxy = property_ref(ObjectType::User, UserProperty::ProxyAddresses.name().into_owned());
    let plans = property_ref(ObjectType::User, UserProperty::AssignedPlans.name().into_owned());
    let leaf = prop_oneof![
        4 => property_comparison(ObjectType::User),
        1 => quantified(proxy, item()),
        1 => quantified(plans, plan_field()),
    ];
    boolean_over(leaf.boxed(), 4)
}

fn rule_ast() -> impl Strategy<Value = RuleAst> {
    prop_oneof![
        5 => device_expr().prop_map(RuleAst::Expression),
        4 => user_expr().prop_map(RuleAst::Expression),
        1 => string_value().prop_map(|manager| RuleAst::DirectReports { manager, span: span() }),
    ]
}

fn round_trip(ast: &RuleAst) -> Result<(), TestCaseError> {
    let text = print(ast);
    prop_assume!(text.chars().count() <= MAX_RULE_CHARS, "printed rule longer than Entra accepts");
    let parsed = parse(&text, false)
        .map_err(|e| TestCaseError::fail(format!("printed rule does not parse: {e}\n{text}")))?;
    prop_assert_eq!(&parsed.ast, ast, "printed as {}", text);
    // Canonical text is a fixed point.
    prop_assert_eq!(print(&parsed.ast), text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn printer_round_trips(ast in rule_ast()) {
        round_trip(&ast)?;
    }

    #[test]
    fn strings_round_trip(s in string_value()) {
        let ast = RuleAst::Expression(expr(ExprKind::Comparison(Comparison {
            target: property_ref(ObjectType::Device, "displayName".to_string()),
            op: Operator::Eq,
            op_span: span(),
            operand: Operand::Scalar(lit(Value::String(s))),
        })));
        round_trip(&ast)?;
    }
}
