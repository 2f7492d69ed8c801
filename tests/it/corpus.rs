//! The test corpus of spec `rule-language.md` §7: every rule of §7.1
//! (T1–T96 with T13b), §7.2 (X1–X19) and the derived cases of §7.3, with
//! the parse result the P column gives in strict mode, the diagnostic
//! (code and blamed span) for the rules that must fail, and the evaluation
//! examples the spec states, plus the null rules of the Decisions table.
//!
//! Records are Graph-shaped (`Device`/`User` loaded from JSON with Graph
//! field names), so these tests also pin the §2.1 property → field mapping.

use std::error::Error;

use fleetlab::inventory::{Device, User};
use fleetlab::rule::ast::{Expr, ExprKind, Operand, RuleAst, Value};
use fleetlab::rule::parse::parse;
use fleetlab::rule::time::Timestamp;
use fleetlab::rule::{Options, Rule, RuleErrors, Span};
use serde_json::{json, Value as Json};

type TestResult = Result<(), Box<dyn Error>>;

/// The instant `system.now` stands for in every test.
const NOW: &str = "2024-06-01T00:00:00Z";

// ---------------------------------------------------------------------------
// The corpus table
// ---------------------------------------------------------------------------

/// Where an error must point: the `nth` (0-based) occurrence of `text` in
/// the rule.
#[derive(Clone, Copy, Debug)]
struct Blame {
    text: &'static str,
    nth: usize,
}

const fn at(text: &'static str) -> Blame {
    Blame { text, nth: 0 }
}

const fn nth(text: &'static str, nth: usize) -> Blame {
    Blame { text, nth }
}

/// The expected result of checking a rule.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Valid in strict mode (and therefore in lenient mode too).
    Ok,
    /// Invalid in both modes, with this first error.
    Err(&'static str, Blame),
    /// Invalid in strict mode with this first error, valid in lenient mode.
    StrictErr(&'static str, Blame),
    /// LENIENT: an en dash; strict mode names the first one.
    Lenient(Blame),
}

use Expect::{Err as E, Lenient as L, Ok as OK, StrictErr as SE};

const EN_DASH: Blame = at("\u{2013}");

/// T69 exactly as S7 prints it, one `-or` branch per line.
const T69: &str = concat!(
    r#"(user.department -eq "Accounts" -and user.city -eq "Lagos") -or"#,
    "\n",
    r#"(user.department -eq "Accounts" -and user.city -eq "Ibadan") -or"#,
    "\n",
    r#"(user.department -eq "Accounts" -and user.city -eq "Kaduna") -or"#,
    "\n",
    r#"(user.department -eq "Accounts" -and user.city -eq "Abuja") -or"#,
    "\n",
    r#"(user.department -eq "Accounts" -and user.city -eq "Port Harcourt")"#,
);

const CORPUS: &[(&str, &str, Expect)] = &[
    // §7.1 From the official docs
    ("T1", r#"user.department -eq "Sales""#, OK),
    ("T2", r#"(user.department -eq "Sales") -or (user.department -eq "Marketing")"#, OK),
    ("T3", r#"(user.department -eq "Sales") -and -not (user.jobTitle -startsWith "SDE")"#, OK),
    ("T4", "user.department \u{2013}eq \"Marketing\" \u{2013}and user.country \u{2013}eq \"US\"", L(EN_DASH)),
    (
        "T5",
        "user.country \u{2013}eq \"US\" \u{2013}and (user.department \u{2013}eq \"Marketing\" \u{2013}or user.department \u{2013}eq \"Sales\")",
        L(EN_DASH),
    ),
    (
        "T6",
        r#"user.department -in ["50001","50002","50003","50005","50006","50007","50008","50016","50020","50024","50038","50039","51100"]"#,
        OK,
    ),
    ("T7", "user.employeehiredate -ge system.now -plus p1d", OK),
    ("T8", "user.employeehiredate -le 2020-06-10T18:13:20Z", OK),
    ("T9", r#"user.displayName -match "^Da.*""#, OK),
    ("T10", r#"user.displayName -match ".*vid""#, OK),
    ("T11", "user.mail \u{2013}ne null", L(EN_DASH)),
    ("T12", "user.department -eq null", OK),
    ("T13", r#"user.department -eq `"Sales`""#, SE("value-mismatch", at(r#"`"Sales`""#))),
    ("T13b", r#"user.department -eq "`"Sales`"""#, OK),
    (
        "T14",
        r#"user.assignedPlans -any (assignedPlan.servicePlanId -eq "efb87545-963c-4e0d-99df-69c6916d9eb0" -and assignedPlan.capabilityStatus -eq "Enabled")"#,
        OK,
    ),
    (
        "T15",
        r#"user.assignedPlans -any (assignedPlan.servicePlanId -eq "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e" -and assignedPlan.capabilityStatus -eq "Enabled")"#,
        OK,
    ),
    (
        "T16",
        r#"user.assignedPlans -any (assignedPlan.service -eq "SCO" -and assignedPlan.capabilityStatus -eq "Enabled")"#,
        OK,
    ),
    (
        "T17",
        r#"user.assignedPlans -all (assignedPlan.service -ne "SCO" -or assignedPlan.capabilityStatus -ne "Enabled")"#,
        OK,
    ),
    ("T18", "user.assignedPlans -all (assignedPlan.servicePlanId -eq null)", OK),
    ("T19", r#"user.assignedPlans -all (assignedPlan.servicePlanId -eq "")"#, OK),
    ("T20", r#"(user.proxyAddresses -any (_ -startsWith "contoso"))"#, OK),
    ("T21", r#"(user.proxyAddresses -any (_ -contains "contoso"))"#, OK),
    ("T22", r#"Direct Reports for "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb""#, OK),
    ("T23", r#"Direct Reports for "62e19b97-8b3d-4d4a-a106-4ce66896a863""#, OK),
    ("T24", "user.objectId -ne null", OK),
    ("T25", r#"(user.objectId -ne null) -and (user.userType -eq "Member")"#, OK),
    ("T26a", "user.objectid -ne null", OK),
    ("T26b", "device.objectid -ne null", OK),
    ("T27", "device.objectId -ne null", OK),
    ("T28", r#"(user.extensionAttribute15 -eq "Marketing")"#, OK),
    ("T29", r#"user.extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber -eq "123""#, OK),
    ("T30", "device.accountEnabled -eq true", OK),
    ("T31", r#"device.deviceCategory -eq "BYOD""#, OK),
    ("T32", r#"device.deviceId -eq "d4fe7726-5966-431c-b3b8-cddc8fdb717d""#, OK),
    ("T33", r#"device.deviceManagementAppId -eq "0000000a-0000-0000-c000-000000000000""#, OK),
    ("T34", r#"device.deviceManufacturer -eq "Samsung""#, OK),
    ("T35", r#"device.deviceModel -eq "iPad Air""#, OK),
    ("T36", r#"device.displayName -eq "Rob iPhone""#, OK),
    ("T37", r#"(device.deviceOSType -eq "iPad") -or (device.deviceOSType -eq "iPhone")"#, OK),
    ("T38", r#"device.deviceOSType -startsWith "AndroidEnterprise""#, OK),
    ("T39", r#"(device.deviceOSType -contains "AndroidEnterprise")"#, OK),
    ("T40", r#"device.deviceOSType -eq "AndroidForWork""#, OK),
    ("T41", r#"device.deviceOSType -eq "Windows""#, OK),
    ("T42", r#"device.deviceOSVersion -eq "9.1""#, OK),
    ("T43", r#"device.deviceOSVersion -startsWith "10.0.1""#, OK),
    ("T44", r#"device.deviceOwnership -eq "Company""#, OK),
    ("T45", r#"device.devicePhysicalIDs -any _ -startsWith "[ZTDId]""#, OK),
    ("T46", r#"device.devicePhysicalIds -any _ -eq "[OrderID]:179887111881""#, OK),
    ("T47", r#"device.devicePhysicalIds -any _ -eq "[PurchaseOrderId]:76222342342""#, OK),
    ("T48", r#"device.deviceTrustType -eq "AzureAD""#, OK),
    ("T49", r#"device.enrollmentProfileName -eq "DEP iPhones""#, OK),
    ("T50", r#"device.extensionAttribute1 -eq "some string value""#, OK),
    ("T51", "device.isRooted -eq true", OK),
    ("T52", r#"device.managementType -eq "MDM""#, OK),
    ("T53", "device.memberOf -any (group.objectId -in ['value'])", OK),
    ("T54", r#"device.objectId -eq "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb""#, OK),
    ("T55", r#"device.profileType -eq "RegisteredDevice""#, OK),
    ("T56", r#"device.systemLabels -startsWith "M365Managed" SystemLabels"#, E("syntax", at("SystemLabels"))),
    ("T57", r#"(device.systemLabels -contains "M365Managed")"#, OK),
    ("T58", "user.memberof -any (group.objectId -in ['<groupObjectId1>', '<groupObjectId2>'])", OK),
    ("T59", "(user.memberof -any (group.objectId -in ['value']))", OK),
    (
        "T60",
        r#"user.memberOf -any (group.objectId -in ['value']) -and user.city -eq "Redmond""#,
        E("not-combinable", at("user.memberOf -any (group.objectId -in ['value'])")),
    ),
    ("T61", r#"(device.devicePhysicalIDs -any (_ -startsWith "[ZTDid]"))"#, OK),
    ("T62", r#"(device.devicePhysicalIDs -any (_ -contains "[ZTDID]"))"#, OK),
    ("T63", r#"(device.devicePhysicalIds -any (_ -eq "[OrderID]:179887111881"))"#, OK),
    ("T64", r#"(device.devicePhysicalIds -any (_ -eq "[PurchaseOrderId]:76222342342"))"#, OK),
    ("T65", r#"user.city -match "ago""#, OK),
    ("T66", r#"user.city -match ".*?ago.*""#, OK),
    ("T67", r#"user.city -startswith "Lag""#, OK),
    ("T68", r#"user.city -eq "Lagos""#, OK),
    ("T69", T69, OK),
    (
        "T70",
        r#"user.department -eq "Accounts" -and user.city -in ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]"#,
        OK,
    ),
    (
        "T71",
        r#"(user.city -ne "Lagos") -and (user.city -ne "Ibadan") -and (user.city -ne "Kaduna") -and (user.city -ne "Abuja") -and (user.city -ne "Port Harcourt")"#,
        OK,
    ),
    ("T72", r#"user.city -notin ["Lagos", "Ibadan", "Kaduna", "Abuja", "Port Harcourt"]"#, OK),
    ("T73", r#"user.city -eq "Lagos" or user.city -startswith "Lag""#, OK),
    ("T74", r#"(user.invalidProperty -eq "Value")"#, E("unknown-property", at("user.invalidProperty"))),
    ("T75", "(user.accountEnabled -contains true)", E("operator-not-supported", at("-contains"))),
    // Parsing stops at the second expression's opening parenthesis.
    (
        "T76",
        r#"(user.department -eq "Sales") (user.department -eq "Marketing")"#,
        E("syntax", nth("(", 1)),
    ),
    ("T77", r#"(user.userPrincipalName -match "*@domain.ext")"#, E("invalid-regex", at(r#""*@domain.ext""#))),
    ("T78", r#"(user.userPrincipalName -match ".*@domain.ext")"#, OK),
    ("T79", r#"(user.userPrincipalName -match "@domain.ext$")"#, OK),
    ("T80", "user.mail \u{2013}ne $null", L(EN_DASH)),
    ("T81", r#"user.displayName -startsWith "Peter""#, OK),
    ("T82", r#"user.mail -notEndsWith "@Contoso.com""#, OK),
    ("T83", r#"user.mailNickname -endsWith "-vendor""#, OK),
    ("T84", r#"user.otherMails -startsWith "alias@domain""#, OK),
    ("T85", r#"user.otherMails -endsWith"@contoso.com""#, OK),
    ("T86", r#"user.proxyAddresses -notEndsWith "@outlook.com""#, OK),
    ("T87", r#"(user.otherMails -any (_ -endsWith "@contoso.com"))"#, OK),
    ("T88", r#"(user.proxyAddresses -any (_ -notEndsWith "@outlook.com"))"#, OK),
    ("T89", r#"user.employeeId -ne "null""#, OK),
    ("T90", "(user.country -eq 'United States')", OK),
    ("T91", "(deviceOSType -eq 'Windows')", E("missing-object-prefix", at("deviceOSType"))),
    ("T92", r#"device.extensionAttribute1 -ne "SAW""#, OK),
    (
        "T93",
        r#"user.memberof -any (group.objectId -startsWith "SSO-SalesForce")"#,
        E("operator-not-supported", at("-startsWith")),
    ),
    ("T94", r#"(device.devicePhysicalIds -contains "[ZTDId]")"#, OK),
    ("T95", "(user.userType -eq \u{201C}Member\u{201D})", E("invalid-character", at("\u{201C}"))),
    ("T96", "user.mail -not null", E("not-as-comparison", at("-not"))),
    // §7.2 From third-party material
    (
        "X1",
        r#"(device.deviceOSType -eq "Windows") and (device.devicePhysicalIDs -all (_ -notStartsWith "[ZTDID]"))"#,
        OK,
    ),
    (
        "X2",
        r#"(device.managementType -eq "MDM") and (device.deviceOwnership -eq "Personal") and ((device.deviceOSType -eq "iOS") or (device.deviceOSType -eq "iPad"))"#,
        OK,
    ),
    ("X3", r#"(device.devicePhysicalIds -any (_ -match "^\[OrderID\]:.*DT.*FIN.*"))"#, OK),
    ("X4", r#"(device.devicePhysicalIds -any (_ -match "^\[OrderID\]:.*LT.*FR$"))"#, OK),
    ("X5", "(device.devicePhysicalIds -any _ \u{2013}startsWith \"[OrderID]:AJ-LT\")", L(EN_DASH)),
    ("X6", r#"(device.devicePhysicalIds -any _ -eq "[OrderID]:EXCLUDE")"#, OK),
    (
        "X7",
        "(user.employeeHireDate -ge 2023-01-01T00:00:00Z) and (user.employeeHireDate -le 2023-12-31T23:59:59Z)",
        OK,
    ),
    (
        "X8",
        "(user.employeeHireDate -ge system.now) and (user.employeeHireDate -le system.now -plus p1d)",
        OK,
    ),
    ("X9", "user.employeeHireDate -ge system.now -minus p365d", OK),
    ("X10", "user.employeeHireDate -le 2018-01-01T06:00:00", OK),
    ("X11", r#"user.department -eq "IT" and user.jobTitle -contains "Engineer""#, OK),
    (
        "X12",
        r#"(device.deviceManufacturer -eq "HP") or (device.deviceManufacturer -eq "Hewlett-Packard")"#,
        OK,
    ),
    (
        "X13",
        r#"(device.deviceManufacturer -eq "Microsoft Corporation") and (device.deviceModel -startsWith "Surface")"#,
        OK,
    ),
    ("X14", r#"(device.deviceManagementAppId -eq "54b943f8-d761-4f8d-951e-9cea1846db5a")"#, OK),
    (
        "X15",
        r#"(device.deviceOSType -eq "Windows") and (device.deviceOSVersion -startsWith "10.0.2") and (device.managementType -eq "MDM")"#,
        OK,
    ),
    ("X16", r#"(device.deviceModel -startsWith "Cloud PC")"#, OK),
    (
        "X17",
        r#"(user.accountEnabled -eq True) and (user.userType -eq "Member") and ((user.department -eq "d1" and (user.jobTitle -eq "d1j1" or user.jobTitle -eq "d1j2")) or (user.department -eq "d2" and (user.jobTitle -eq "d2j1")))"#,
        OK,
    ),
    ("X18a", "(user.extensionAttribute1 -ne $null)", OK),
    ("X18b", "(user.jobTitle -ne $null)", OK),
    ("X19", r#"(device.devicePhysicalIDs -any _ -contains "[ZTDId]")"#, OK),
    // §7.3 Derived precedence and lexing cases (the length limit is in
    // `corpus_rule_length_limit`, which builds its rules at run time).
    ("D1", r#"user.department -eq "1" -or user.city -eq "2" -and user.country -eq "3""#, OK),
    ("D2", r#"-not user.department -eq "1" -and user.city -eq "2""#, OK),
    ("D3", r#"-not -not (user.department -eq "1")"#, OK),
    ("D4", r#"user.department -EQ "Sales" AND user.jobTitle -StartsWith "SDE" Or user.city -NOTIN ["Lagos"]"#, OK),
    ("D5", r#"user.department eq "Sales""#, OK),
    ("D6", r#"user.department -eq "a''b""#, OK),
    ("D7", "user.department -eq 'a''b'", OK),
    ("D8", r#"user.department -eq "O'Brien""#, OK),
    ("D9", r#"user.department -eq "he said `"hi`"""#, OK),
    ("D10", "user.department\t-eq\t\"Sales\"\r\n-and\r\n\tuser.city -eq \"Lagos\"", OK),
    ("D11", r#"user.otherMails -endsWith"@x""#, OK),
    (
        "D12",
        r#"user.department -eq "Sales" -and device.deviceOSType -eq "Windows""#,
        E("mixed-object-types", at("device.deviceOSType")),
    ),
    (
        "D13",
        r#"device.deviceOSType -eq "Windows" -or user.department -eq "Sales""#,
        E("mixed-object-types", at("user.department")),
    ),
];

fn fixed_now() -> Result<Timestamp, Box<dyn Error>> {
    Ok(Timestamp::parse(NOW).map_err(|e| e.0)?)
}

fn strict() -> Result<Options, Box<dyn Error>> {
    Ok(Options { now: Some(fixed_now()?), ..Options::default() })
}

fn lenient() -> Result<Options, Box<dyn Error>> {
    Ok(Options { lenient: true, now: Some(fixed_now()?), ..Options::default() })
}

/// The byte range of the `nth` occurrence of `blame.text` in `rule`.
fn blamed(rule: &str, blame: Blame) -> Result<std::ops::Range<usize>, Box<dyn Error>> {
    let start = rule
        .match_indices(blame.text)
        .nth(blame.nth)
        .map(|(i, _)| i)
        .ok_or_else(|| format!("`{}` (occurrence {}) is not in `{rule}`", blame.text, blame.nth))?;
    Ok(start..start + blame.text.len())
}

/// Checks that `result` failed with `code` at `range`; a description of
/// the mismatch otherwise.
fn error_is(
    result: Result<Rule, RuleErrors>,
    code: &str,
    range: &std::ops::Range<usize>,
) -> Result<(), String> {
    match result {
        Ok(_) => Err(format!("accepted; expected {code} at {range:?}")),
        Err(errors) => {
            let first = errors.first();
            if first.code() == code && first.span().range() == *range {
                Ok(())
            } else {
                Err(format!(
                    "first error {} at {:?} ({first}); expected {code} at {range:?}",
                    first.code(),
                    first.span().range()
                ))
            }
        }
    }
}

#[test]
fn corpus_parses_as_the_p_column_says() -> TestResult {
    let (strict, lenient) = (strict()?, lenient()?);
    let mut failures = Vec::new();
    for &(id, text, expect) in CORPUS {
        let in_strict = Rule::with_options(text, &strict);
        let in_lenient = Rule::with_options(text, &lenient);
        let outcome: Result<(), String> = match expect {
            Expect::Ok => match (in_strict, in_lenient) {
                (Ok(_), Ok(_)) => Ok(()),
                (Err(e), _) => Err(format!("strict: rejected: {e}")),
                (_, Err(e)) => Err(format!("lenient: rejected: {e}")),
            },
            Expect::Err(code, blame) => {
                let range = blamed(text, blame)?;
                error_is(in_strict, code, &range)
                    .map_err(|m| format!("strict: {m}"))
                    .and_then(|()| error_is(in_lenient, code, &range).map_err(|m| format!("lenient: {m}")))
            }
            Expect::StrictErr(code, blame) => {
                let range = blamed(text, blame)?;
                error_is(in_strict, code, &range)
                    .map_err(|m| format!("strict: {m}"))
                    .and_then(|()| in_lenient.map(|_| ()).map_err(|e| format!("lenient: rejected: {e}")))
            }
            Expect::Lenient(blame) => {
                let range = blamed(text, blame)?;
                error_is(in_strict, "invalid-character", &range)
                    .map_err(|m| format!("strict: {m}"))
                    .and_then(|()| in_lenient.map(|_| ()).map_err(|e| format!("lenient: rejected: {e}")))
            }
        };
        if let Err(message) = outcome {
            failures.push(format!("{id} `{text}`: {message}"));
        }
    }
    assert!(failures.is_empty(), "{} corpus rows failed:\n{}", failures.len(), failures.join("\n"));
    Ok(())
}

#[test]
fn corpus_covers_every_numbered_row() {
    let ids: Vec<&str> = CORPUS.iter().map(|(id, _, _)| *id).collect();
    let mut missing = Vec::new();
    for n in 1..=96 {
        let t = format!("T{n}");
        if !ids
            .iter()
            .any(|id| id.strip_prefix(t.as_str()).is_some_and(|rest| rest.is_empty() || rest == "a"))
        {
            missing.push(t);
        }
    }
    for n in 1..=19 {
        let x = format!("X{n}");
        if !ids
            .iter()
            .any(|id| id.strip_prefix(x.as_str()).is_some_and(|rest| rest.is_empty() || rest == "a"))
        {
            missing.push(x);
        }
    }
    if !ids.contains(&"T13b") {
        missing.push("T13b".into());
    }
    assert!(missing.is_empty(), "corpus rows missing: {missing:?}");
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "duplicate corpus ids");
}

#[test]
fn corpus_rule_length_limit() -> TestResult {
    let opts = strict()?;
    let head = r#"user.department -eq ""#;
    let make = |fill: &str, n: usize| format!("{head}{}\"", fill.repeat(n));
    let budget = 3072 - head.chars().count() - 1;

    let exact = make("a", budget);
    assert_eq!(exact.chars().count(), 3072);
    Rule::with_options(&exact, &opts)?;

    let over = make("a", budget + 1);
    assert_eq!(over.chars().count(), 3073);
    let range = 3072..3073;
    error_is(Rule::with_options(&over, &opts), "rule-too-long", &range)?;

    // The limit counts Unicode scalar values, not bytes (Decisions: Rule length).
    let wide = make("é", budget);
    assert_eq!(wide.chars().count(), 3072);
    assert!(wide.len() > 3072);
    Rule::with_options(&wide, &opts)?;
    let wide_over = make("é", budget + 1);
    let quote = wide_over.len() - 1;
    error_is(Rule::with_options(&wide_over, &opts), "rule-too-long", &(quote..quote + 1))?;
    Ok(())
}

// ---------------------------------------------------------------------------
// §7.3 precedence and lexing: compare syntax trees
// ---------------------------------------------------------------------------

fn ast(text: &str) -> Result<RuleAst, Box<dyn Error>> {
    Ok(parse(text, false)?.ast)
}

fn expr(text: &str) -> Result<Expr, Box<dyn Error>> {
    match ast(text)? {
        RuleAst::Expression(e) => Ok(e),
        other => Err(format!("`{text}` is not an expression: {other:?}").into()),
    }
}

/// The decoded value of a single comparison's right-hand side.
fn operand_value(text: &str) -> Result<Value, Box<dyn Error>> {
    match expr(text)?.kind {
        ExprKind::Comparison(c) => match c.operand {
            Operand::Scalar(lit) => Ok(lit.value),
            Operand::List { .. } => Err(format!("`{text}` compares with a list").into()),
        },
        other => Err(format!("`{text}` is not a comparison: {other:?}").into()),
    }
}

#[test]
fn precedence_and_binds_tighter_than_or() -> TestResult {
    assert_eq!(
        ast(r#"user.department -eq "1" -or user.city -eq "2" -and user.country -eq "3""#)?,
        ast(r#"user.department -eq "1" -or (user.city -eq "2" -and user.country -eq "3")"#)?
    );
    assert_ne!(
        ast(r#"user.department -eq "1" -or user.city -eq "2" -and user.country -eq "3""#)?,
        ast(r#"(user.department -eq "1" -or user.city -eq "2") -and user.country -eq "3""#)?
    );
    Ok(())
}

#[test]
fn precedence_not_binds_tighter_than_and() -> TestResult {
    assert_eq!(
        ast(r#"-not user.department -eq "1" -and user.city -eq "2""#)?,
        ast(r#"(-not (user.department -eq "1")) -and user.city -eq "2""#)?
    );
    Ok(())
}

#[test]
fn precedence_double_not_is_allowed_and_cancels() -> TestResult {
    let inner = expr(r#"user.department -eq "1""#)?;
    let not = |e: Expr| Expr { kind: ExprKind::Not(Box::new(e)), span: Span::default() };
    assert_eq!(expr(r#"-not -not (user.department -eq "1")"#)?, not(not(inner)));

    let opts = strict()?;
    let twice = Rule::with_options(r#"-not -not (user.department -eq "1")"#, &opts)?;
    let plain = Rule::with_options(r#"user.department -eq "1""#, &opts)?;
    for u in [json!({"department": "1"}), json!({"department": "2"}), json!({})] {
        let u = user(u)?;
        assert_eq!(twice.matches(&u), plain.matches(&u), "{u:?}");
    }
    Ok(())
}

#[test]
fn lexing_operator_case_and_hyphen_are_free() -> TestResult {
    assert_eq!(
        ast(
            r#"user.department -EQ "Sales" AND user.jobTitle -StartsWith "SDE" Or user.city -NOTIN ["Lagos"]"#
        )?,
        ast(
            r#"user.department -eq "Sales" -and user.jobTitle -startsWith "SDE" -or user.city -notIn ["Lagos"]"#
        )?
    );
    assert_eq!(ast(r#"user.department eq "Sales""#)?, ast(r#"user.department -eq "Sales""#)?);
    assert_eq!(
        ast(r#"user.city -eq "Lagos" or user.city -startswith "Lag""#)?,
        ast(r#"user.city -eq "Lagos" -or user.city -startsWith "Lag""#)?
    );
    Ok(())
}

#[test]
fn lexing_whitespace_is_insignificant_between_tokens() -> TestResult {
    assert_eq!(
        ast("user.department\t-eq\t\"Sales\"\r\n-and\r\n\tuser.city -eq \"Lagos\"")?,
        ast(r#"user.department -eq "Sales" -and user.city -eq "Lagos""#)?
    );
    assert_eq!(ast(r#"user.otherMails -endsWith"@x""#)?, ast(r#"user.otherMails -endsWith "@x""#)?);
    assert_eq!(ast(T69)?, ast(&T69.replace('\n', " "))?);
    // Whitespace inside a string is kept.
    assert_eq!(
        operand_value("user.city -eq \" Port\tHarcourt \"")?,
        Value::String(" Port\tHarcourt ".into())
    );
    Ok(())
}

#[test]
fn lexing_escapes_decode() -> TestResult {
    assert_eq!(operand_value(r#"user.department -eq "a''b""#)?, Value::String("a'b".into()));
    assert_eq!(operand_value("user.department -eq 'a''b'")?, Value::String("a'b".into()));
    assert_eq!(
        operand_value(r#"user.department -eq "he said `"hi`"""#)?,
        Value::String(r#"he said "hi""#.into())
    );
    assert_eq!(operand_value(r#"user.department -eq "`"Sales`"""#)?, Value::String(r#""Sales""#.into()));
    assert_eq!(operand_value(r#"user.department -eq "O'Brien""#)?, Value::String("O'Brien".into()));
    // Backslash is an ordinary character (regexes pass through).
    assert_eq!(
        operand_value(r#"user.department -eq "^\[OrderID\]:.*""#)?,
        Value::String(r"^\[OrderID\]:.*".into())
    );
    // `"null"` in quotes is the literal string.
    assert_eq!(operand_value(r#"user.employeeId -ne "null""#)?, Value::String("null".into()));
    assert_eq!(operand_value("user.employeeId -ne null")?, Value::Null);
    assert_eq!(operand_value("user.employeeId -ne $null")?, Value::Null);
    Ok(())
}

#[test]
fn lexing_lone_single_quote_is_literal_with_a_warning() -> TestResult {
    let rule = Rule::with_options(r#"user.department -eq "O'Brien""#, &strict()?)?;
    assert!(rule.warnings().iter().any(|w| w.code == "lone-single-quote"), "warnings: {:?}", rule.warnings());
    assert!(rule.matches(&user(json!({"department": "o'brien"}))?));
    Ok(())
}

// ---------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------

/// A Graph user; `id` defaults to a fixed GUID.
fn user(mut v: Json) -> Result<User, Box<dyn Error>> {
    if let Some(obj) = v.as_object_mut() {
        obj.entry("id").or_insert_with(|| json!("00000000-0000-0000-0000-0000000000a1"));
    }
    Ok(serde_json::from_value(v)?)
}

/// A Graph device; `id` defaults to a fixed GUID.
fn device(mut v: Json) -> Result<Device, Box<dyn Error>> {
    if let Some(obj) = v.as_object_mut() {
        obj.entry("id").or_insert_with(|| json!("00000000-0000-0000-0000-0000000000d1"));
    }
    Ok(serde_json::from_value(v)?)
}

fn check_users(text: &str, opts: &Options, cases: &[(Json, bool)]) -> TestResult {
    let rule = Rule::with_options(text, opts)?;
    for (record, want) in cases {
        let u = user(record.clone())?;
        assert_eq!(rule.matches(&u), *want, "`{text}` on user {record}");
    }
    Ok(())
}

fn check_devices(text: &str, opts: &Options, cases: &[(Json, bool)]) -> TestResult {
    let rule = Rule::with_options(text, opts)?;
    for (record, want) in cases {
        let d = device(record.clone())?;
        assert_eq!(rule.matches(&d), *want, "`{text}` on device {record}");
    }
    Ok(())
}

/// Strict mode, fixed `now`: the usual case.
fn users(text: &str, cases: &[(Json, bool)]) -> TestResult {
    check_users(text, &strict()?, cases)
}

fn devices(text: &str, cases: &[(Json, bool)]) -> TestResult {
    check_devices(text, &strict()?, cases)
}

/// The text of corpus row `id`.
fn row(id: &str) -> Result<&'static str, Box<dyn Error>> {
    CORPUS.iter().find(|(i, _, _)| *i == id).map(|(_, t, _)| *t).ok_or_else(|| format!("no row {id}").into())
}

#[test]
fn eval_user_string_examples() -> TestResult {
    users(
        row("T1")?,
        &[(json!({"department": "sales"}), true), (json!({"department": "Marketing"}), false)],
    )?;
    users(
        row("T2")?,
        &[
            (json!({"department": "Sales"}), true),
            (json!({"department": "MARKETING"}), true),
            (json!({"department": "HR"}), false),
        ],
    )?;
    users(
        row("T3")?,
        &[
            (json!({"department": "Sales", "jobTitle": "Account Executive"}), true),
            (json!({"department": "Sales", "jobTitle": "SDE II"}), false),
            (json!({"department": "Sales", "jobTitle": "sde"}), false),
            (json!({"department": "Sales"}), true),
            (json!({"department": "HR", "jobTitle": "Recruiter"}), false),
        ],
    )?;
    users(
        row("T6")?,
        &[
            (json!({"department": "50016"}), true),
            (json!({"department": "50004"}), false),
            (json!({}), false),
        ],
    )?;
    users(
        row("T12")?,
        &[
            (json!({}), true),
            (json!({"department": null}), true),
            // Decisions: an empty string is read as null.
            (json!({"department": ""}), true),
            (json!({"department": "Sales"}), false),
        ],
    )?;
    users(
        row("T13b")?,
        &[(json!({"department": "\"Sales\""}), true), (json!({"department": "Sales"}), false)],
    )?;
    users(
        row("T25")?,
        &[(json!({"userType": "Member"}), true), (json!({"userType": "Guest"}), false), (json!({}), false)],
    )?;
    users(row("T24")?, &[(json!({"userType": "Guest"}), true)])?;
    users(row("T26a")?, &[(json!({}), true)])?;
    users(
        row("T28")?,
        &[
            (json!({"onPremisesExtensionAttributes": {"extensionAttribute15": "marketing"}}), true),
            (json!({"onPremisesExtensionAttributes": {"extensionAttribute14": "Marketing"}}), false),
        ],
    )?;
    users(
        row("T29")?,
        &[
            (json!({"extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber": "123"}), true),
            (json!({"extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber": "124"}), false),
        ],
    )?;
    users(row("T67")?, &[(json!({"city": "Lagos"}), true), (json!({"city": "Abuja"}), false)])?;
    users(row("T68")?, &[(json!({"city": "LAGOS"}), true), (json!({"city": "Lagos Island"}), false)])?;
    users(
        row("T73")?,
        &[
            (json!({"city": "Lagos"}), true),
            (json!({"city": "Lagoon"}), true),
            (json!({"city": "Abuja"}), false),
        ],
    )?;
    users(
        row("T81")?,
        &[(json!({"displayName": "Peter Parker"}), true), (json!({"displayName": "Mary Peterson"}), false)],
    )?;
    users(
        row("T82")?,
        &[
            (json!({"mail": "ann@contoso.com"}), false),
            (json!({"mail": "ann@fabrikam.com"}), true),
            (json!({}), true),
        ],
    )?;
    users(
        row("T83")?,
        &[(json!({"mailNickname": "bob-vendor"}), true), (json!({"mailNickname": "bob"}), false)],
    )?;
    users(
        row("T89")?,
        &[
            // The literal string "null", not "is set".
            (json!({"employeeId": "null"}), false),
            (json!({"employeeId": "NULL"}), false),
            (json!({"employeeId": "12345"}), true),
            (json!({}), true),
        ],
    )?;
    users(
        row("T90")?,
        &[(json!({"country": "united states"}), true), (json!({"country": "United Kingdom"}), false)],
    )?;
    users(
        row("X11")?,
        &[
            (json!({"department": "IT", "jobTitle": "Senior Engineer II"}), true),
            (json!({"department": "it", "jobTitle": "engineering manager"}), true),
            (json!({"department": "IT", "jobTitle": "Analyst"}), false),
            (json!({"department": "HR", "jobTitle": "Senior Engineer II"}), false),
        ],
    )?;
    users(
        row("X17")?,
        &[
            (
                json!({"accountEnabled": true, "userType": "Member", "department": "d1", "jobTitle": "d1j2"}),
                true,
            ),
            (
                json!({"accountEnabled": true, "userType": "Member", "department": "d2", "jobTitle": "d2j1"}),
                true,
            ),
            (
                json!({"accountEnabled": true, "userType": "Member", "department": "d2", "jobTitle": "d1j1"}),
                false,
            ),
            (
                json!({"accountEnabled": false, "userType": "Member", "department": "d1", "jobTitle": "d1j1"}),
                false,
            ),
            (
                json!({"accountEnabled": true, "userType": "Guest", "department": "d1", "jobTitle": "d1j1"}),
                false,
            ),
        ],
    )?;
    users(
        row("X18a")?,
        &[
            (json!({"onPremisesExtensionAttributes": {"extensionAttribute1": "x"}}), true),
            (json!({"onPremisesExtensionAttributes": {}}), false),
            (json!({}), false),
        ],
    )?;
    users(row("X18b")?, &[(json!({"jobTitle": "PM"}), true), (json!({}), false)])?;
    Ok(())
}

#[test]
fn eval_regex_truth_tables() -> TestResult {
    let names = |cases: &[(&str, bool)]| -> Vec<(Json, bool)> {
        cases.iter().map(|(n, b)| (json!({"displayName": n}), *b)).collect()
    };
    users(row("T9")?, &names(&[("Da", true), ("Dav", true), ("David", true), ("aDa", false)]))?;
    users(row("T10")?, &names(&[("David", true), ("Da", false), ("Davidson", true)]))?;
    users(row("T65")?, &[(json!({"city": "Lagos"}), true), (json!({"city": "Abuja"}), false)])?;
    users(row("T66")?, &[(json!({"city": "Lagos"}), true), (json!({"city": "Kaduna"}), false)])?;
    let upn = |u: &str| json!({ "userPrincipalName": u });
    users(row("T78")?, &[(upn("ann@domain.ext"), true), (upn("ann@other.ext"), false)])?;
    users(
        row("T79")?,
        &[(upn("ann@domain.ext"), true), (upn("ANN@DOMAIN.EXT"), true), (upn("ann@domain.ext.org"), false)],
    )?;
    Ok(())
}

#[test]
fn eval_user_collections() -> TestResult {
    let plan = |id: &str, service: &str, status: &str| json!({"servicePlanId": id, "service": service, "capabilityStatus": status});
    let exo = "efb87545-963c-4e0d-99df-69c6916d9eb0";
    users(
        row("T14")?,
        &[
            (json!({"assignedPlans": [plan(exo, "exchange", "Enabled")]}), true),
            (json!({"assignedPlans": [plan(exo, "exchange", "Deleted")]}), false),
            // Both conditions must hold for the same plan.
            (
                json!({"assignedPlans": [plan(exo, "exchange", "Deleted"), plan("other", "SCO", "Enabled")]}),
                false,
            ),
            (json!({"assignedPlans": []}), false),
            (json!({}), false),
        ],
    )?;
    let placeholder = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e";
    users(
        row("T15")?,
        &[
            (json!({"assignedPlans": [plan(placeholder, "x", "enabled")]}), true),
            (json!({"assignedPlans": [plan(exo, "x", "Enabled")]}), false),
        ],
    )?;
    users(
        row("T16")?,
        &[
            (
                json!({"assignedPlans": [plan("p1", "exchange", "Enabled"), plan("p2", "SCO", "Enabled")]}),
                true,
            ),
            (json!({"assignedPlans": [plan("p2", "SCO", "Suspended")]}), false),
        ],
    )?;
    users(
        row("T17")?,
        &[
            (json!({"assignedPlans": []}), true),
            (json!({}), true),
            (json!({"assignedPlans": [plan("p2", "SCO", "Enabled")]}), false),
            (
                json!({"assignedPlans": [plan("p2", "SCO", "Deleted"), plan("p1", "exchange", "Enabled")]}),
                true,
            ),
        ],
    )?;
    users(
        row("T18")?,
        &[
            (json!({"assignedPlans": []}), true),
            (json!({}), true),
            (json!({"assignedPlans": [plan(exo, "exchange", "Enabled")]}), false),
        ],
    )?;
    users(
        row("T19")?,
        &[
            (json!({"assignedPlans": []}), true),
            (json!({"assignedPlans": [plan(exo, "exchange", "Enabled")]}), false),
        ],
    )?;
    // Spec T20 lists ["SMTP:contoso@x"] → true, which contradicts the prefix
    // semantics of -startsWith (§3.1); the -contains form T21 is the one that
    // matches it. Here -startsWith is tested as a prefix test.
    users(
        row("T20")?,
        &[
            (json!({"proxyAddresses": ["smtp:ann@fabrikam.com", "contoso@x"]}), true),
            (json!({"proxyAddresses": ["CONTOSO-admin@x"]}), true),
            (json!({"proxyAddresses": ["SMTP:contoso@x"]}), false),
            (json!({"proxyAddresses": []}), false),
        ],
    )?;
    users(
        row("T21")?,
        &[
            (json!({"proxyAddresses": ["SMTP:contoso@x"]}), true),
            (json!({"proxyAddresses": ["SMTP:a@b"]}), false),
        ],
    )?;
    users(
        row("T84")?,
        &[
            (json!({"otherMails": ["x@y.com", "alias@domain.com"]}), true),
            (json!({"otherMails": ["x@y.com"]}), false),
            (json!({}), false),
        ],
    )?;
    users(
        row("T85")?,
        &[
            (json!({"otherMails": ["ann@Contoso.com"]}), true),
            (json!({"otherMails": ["ann@contoso.org"]}), false),
        ],
    )?;
    users(
        row("T87")?,
        &[(json!({"otherMails": ["ann@contoso.com"]}), true), (json!({"otherMails": []}), false)],
    )?;
    // T86 (legacy negated scalar op) is the complement of the implicit any;
    // T88 is -any of the negated predicate. They differ on mixed collections.
    let mixed = json!({"proxyAddresses": ["smtp:ann@outlook.com", "SMTP:ann@contoso.com"]});
    let outlook_only = json!({"proxyAddresses": ["smtp:ann@OUTLOOK.com"]});
    users(
        row("T86")?,
        &[
            (mixed.clone(), false),
            (outlook_only.clone(), false),
            (json!({"proxyAddresses": ["a@b.com"]}), true),
            (json!({}), true),
        ],
    )?;
    users(row("T88")?, &[(mixed, true), (outlook_only, false), (json!({}), false)])?;
    Ok(())
}

#[test]
fn eval_dates_with_fixed_now() -> TestResult {
    let hired = |d: &str| json!({ "employeeHireDate": d });
    // now = 2024-06-01T00:00:00Z
    users(
        row("T7")?,
        &[
            (hired("2024-06-02T00:00:00Z"), true),
            (hired("2024-07-01T00:00:00Z"), true),
            (hired("2024-06-01T12:00:00Z"), false),
            (json!({}), false),
        ],
    )?;
    users(
        row("T8")?,
        &[
            (hired("2020-06-10T18:13:20Z"), true),
            (hired("2019-01-01T00:00:00Z"), true),
            (hired("2020-06-10T18:13:21Z"), false),
        ],
    )?;
    users(
        row("X7")?,
        &[
            (hired("2023-01-01T00:00:00Z"), true),
            (hired("2023-06-15T09:00:00Z"), true),
            (hired("2023-12-31T23:59:59Z"), true),
            (hired("2022-12-31T23:59:59Z"), false),
            (hired("2024-01-01T00:00:00Z"), false),
            (json!({}), false),
        ],
    )?;
    users(
        row("X8")?,
        &[
            (hired("2024-06-01T00:00:00Z"), true),
            (hired("2024-06-01T12:00:00Z"), true),
            (hired("2024-06-02T00:00:00Z"), true),
            (hired("2024-06-02T00:00:01Z"), false),
            (hired("2024-05-31T23:59:59Z"), false),
        ],
    )?;
    // 365 days before 2024-06-01 is 2023-06-02.
    users(
        row("X9")?,
        &[
            (hired("2023-06-02T00:00:00Z"), true),
            (hired("2024-01-15T00:00:00Z"), true),
            (hired("2023-06-01T23:59:59Z"), false),
        ],
    )?;
    // A literal without a zone is UTC.
    users(
        row("X10")?,
        &[
            (hired("2018-01-01T06:00:00Z"), true),
            (hired("2017-12-31T00:00:00Z"), true),
            (hired("2018-01-01T06:00:01Z"), false),
        ],
    )?;
    Ok(())
}

#[test]
fn eval_lenient_examples() -> TestResult {
    let opts = lenient()?;
    check_users(
        row("T4")?,
        &opts,
        &[
            (json!({"department": "Marketing", "country": "US"}), true),
            (json!({"department": "Marketing", "country": "UK"}), false),
            (json!({"department": "Sales", "country": "US"}), false),
        ],
    )?;
    check_users(
        row("T5")?,
        &opts,
        &[
            (json!({"department": "Sales", "country": "US"}), true),
            (json!({"department": "Marketing", "country": "us"}), true),
            (json!({"department": "Sales", "country": "UK"}), false),
            (json!({"department": "HR", "country": "US"}), false),
        ],
    )?;
    check_users(row("T11")?, &opts, &[(json!({"mail": "ann@contoso.com"}), true), (json!({}), false)])?;
    check_users(row("T80")?, &opts, &[(json!({"mail": "ann@contoso.com"}), true), (json!({}), false)])?;
    // T13 read leniently is the value "Sales" with its quotes, like T13b.
    check_users(
        row("T13")?,
        &opts,
        &[(json!({"department": "\"Sales\""}), true), (json!({"department": "Sales"}), false)],
    )?;
    check_devices(
        row("X5")?,
        &opts,
        &[
            (json!({"physicalIds": ["[HWID]:h:1", "[OrderID]:AJ-LT-0042"]}), true),
            (json!({"physicalIds": ["[OrderID]:AJ-DT-0042"]}), false),
        ],
    )?;
    // The en dash reads as a hyphen: same tree as the typed form.
    assert_eq!(
        parse(row("T4")?, true)?.ast,
        ast(r#"user.department -eq "Marketing" -and user.country -eq "US""#)?
    );
    Ok(())
}

#[test]
fn eval_device_examples() -> TestResult {
    devices(row("T26b")?, &[(json!({}), true)])?;
    devices(row("T27")?, &[(json!({"operatingSystem": "Windows"}), true)])?;
    devices(
        row("T30")?,
        &[
            (json!({"accountEnabled": true}), true),
            (json!({"accountEnabled": false}), false),
            (json!({}), false),
        ],
    )?;
    devices(row("T31")?, &[(json!({"deviceCategory": "byod"}), true), (json!({}), false)])?;
    devices(row("T32")?, &[(json!({"deviceId": "D4FE7726-5966-431C-B3B8-CDDC8FDB717D"}), true)])?;
    devices(
        row("T33")?,
        &[(json!({"mdmAppId": "0000000a-0000-0000-c000-000000000000"}), true), (json!({}), false)],
    )?;
    devices(
        row("T34")?,
        &[(json!({"manufacturer": "samsung"}), true), (json!({"manufacturer": "HP"}), false)],
    )?;
    devices(row("T35")?, &[(json!({"model": "iPad Air"}), true), (json!({"model": "iPad Air 2"}), false)])?;
    devices(row("T36")?, &[(json!({"displayName": "Rob iPhone"}), true)])?;
    devices(
        row("T37")?,
        &[
            (json!({"operatingSystem": "iPad"}), true),
            (json!({"operatingSystem": "iPhone"}), true),
            (json!({"operatingSystem": "Windows"}), false),
        ],
    )?;
    devices(
        row("T38")?,
        &[
            (json!({"operatingSystem": "AndroidEnterprise"}), true),
            (json!({"operatingSystem": "AndroidForWork"}), false),
        ],
    )?;
    devices(
        row("T39")?,
        &[
            (json!({"operatingSystem": "AndroidEnterprise"}), true),
            (json!({"operatingSystem": "Android"}), false),
        ],
    )?;
    devices(row("T40")?, &[(json!({"operatingSystem": "AndroidForWork"}), true)])?;
    devices(row("T41")?, &[(json!({"operatingSystem": "windows"}), true), (json!({}), false)])?;
    devices(row("T42")?, &[(json!({"operatingSystemVersion": "9.1"}), true)])?;
    devices(
        row("T43")?,
        &[
            (json!({"operatingSystemVersion": "10.0.19045.4170"}), true),
            (json!({"operatingSystemVersion": "10.0.22631.3296"}), false),
        ],
    )?;
    devices(
        row("T44")?,
        &[(json!({"deviceOwnership": "company"}), true), (json!({"deviceOwnership": "personal"}), false)],
    )?;
    devices(
        row("T48")?,
        &[(json!({"trustType": "AzureAd"}), true), (json!({"trustType": "ServerAd"}), false)],
    )?;
    devices(row("T49")?, &[(json!({"enrollmentProfileName": "DEP iPhones"}), true)])?;
    devices(
        row("T50")?,
        &[
            (json!({"extensionAttributes": {"extensionAttribute1": "Some String Value"}}), true),
            (json!({"extensionAttributes": {"extensionAttribute2": "some string value"}}), false),
            (json!({}), false),
        ],
    )?;
    // "(repeat for 2..15)"
    for n in 2..=15 {
        let field = format!("extensionAttribute{n}");
        devices(
            &format!(r#"device.{field} -eq "some string value""#),
            &[
                (json!({"extensionAttributes": {field.as_str(): "some string value"}}), true),
                (json!({}), false),
            ],
        )?;
    }
    devices(row("T51")?, &[(json!({"isRooted": true}), true), (json!({"isRooted": false}), false)])?;
    devices(
        row("T52")?,
        &[(json!({"managementType": "mdm"}), true), (json!({"managementType": "easMdm"}), false)],
    )?;
    devices(
        row("T54")?,
        &[
            (json!({"id": "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb"}), true),
            (json!({"id": "aaaaaaaa-0000-1111-2222-cccccccccccc"}), false),
        ],
    )?;
    devices(
        row("T55")?,
        &[(json!({"profileType": "RegisteredDevice"}), true), (json!({"profileType": "Printer"}), false)],
    )?;
    devices(
        row("T92")?,
        &[
            (json!({"extensionAttributes": {"extensionAttribute1": "saw"}}), false),
            (json!({"extensionAttributes": {"extensionAttribute1": "Kiosk"}}), true),
            (json!({}), true),
        ],
    )?;
    devices(
        row("X2")?,
        &[
            (
                json!({"managementType": "mdm", "deviceOwnership": "personal", "operatingSystem": "iPad"}),
                true,
            ),
            (json!({"managementType": "MDM", "deviceOwnership": "Personal", "operatingSystem": "iOS"}), true),
            (json!({"managementType": "mdm", "deviceOwnership": "company", "operatingSystem": "iOS"}), false),
            (
                json!({"managementType": "mdm", "deviceOwnership": "personal", "operatingSystem": "Android"}),
                false,
            ),
        ],
    )?;
    devices(
        row("X12")?,
        &[
            (json!({"manufacturer": "HP"}), true),
            (json!({"manufacturer": "Hewlett-Packard"}), true),
            (json!({"manufacturer": "Dell Inc."}), false),
        ],
    )?;
    devices(
        row("X13")?,
        &[
            (json!({"manufacturer": "Microsoft Corporation", "model": "Surface Laptop 5"}), true),
            (json!({"manufacturer": "Microsoft Corporation", "model": "Virtual Machine"}), false),
        ],
    )?;
    devices(
        row("X14")?,
        &[(json!({"mdmAppId": "54b943f8-d761-4f8d-951e-9cea1846db5a"}), true), (json!({}), false)],
    )?;
    devices(
        row("X15")?,
        &[
            (
                json!({"operatingSystem": "Windows", "operatingSystemVersion": "10.0.22631.3296", "managementType": "MDM"}),
                true,
            ),
            (
                json!({"operatingSystem": "Windows", "operatingSystemVersion": "10.0.19045.4170", "managementType": "MDM"}),
                false,
            ),
        ],
    )?;
    devices(
        row("X16")?,
        &[
            (json!({"model": "Cloud PC Enterprise 2vCPU/8GB/128GB"}), true),
            (json!({"model": "Surface"}), false),
        ],
    )?;
    Ok(())
}

#[test]
fn eval_autopilot_physical_ids() -> TestResult {
    let ids = |v: &[&str]| json!({ "physicalIds": v });
    let ztd = "[ZTDID]:6349bbfe-c07a-444c-a7e0-eee62553f000";
    let hw =
        ["[USER-HWID]:d31f8f5c-0000-0000-0000-000000000000:6825816683144846", "[HWID]:h:6825816683144846"];
    devices(row("T45")?, &[(ids(&[hw[0], ztd, hw[1]]), true), (ids(&hw), false), (json!({}), false)])?;
    devices(
        row("T46")?,
        &[(ids(&["[OrderId]:179887111881"]), true), (ids(&["[OrderId]:1798871118810"]), false)],
    )?;
    devices(row("T47")?, &[(ids(&["[PurchaseOrderId]:76222342342"]), true), (ids(&[ztd]), false)])?;
    devices(row("T61")?, &[(ids(&[ztd]), true), (ids(&hw), false)])?;
    devices(row("T62")?, &[(ids(&[ztd]), true), (ids(&hw), false)])?;
    devices(row("T63")?, &[(ids(&["[OrderId]:179887111881"]), true)])?;
    devices(row("T64")?, &[(ids(&["[PURCHASEORDERID]:76222342342"]), true)])?;
    devices(row("T94")?, &[(ids(&[hw[1], ztd]), true), (ids(&hw), false), (json!({}), false)])?;
    devices(row("X19")?, &[(ids(&[ztd]), true), (ids(&hw), false)])?;
    devices(
        row("X1")?,
        &[
            (json!({"operatingSystem": "Windows"}), true),
            (json!({"operatingSystem": "Windows", "physicalIds": []}), true),
            (json!({"operatingSystem": "Windows", "physicalIds": hw}), true),
            (json!({"operatingSystem": "Windows", "physicalIds": [hw[1], ztd]}), false),
            (json!({"operatingSystem": "iOS"}), false),
        ],
    )?;
    // Backslashes reach the regex engine; matching ignores case.
    devices(
        row("X3")?,
        &[
            (ids(&["[OrderId]:LT-DT-FIN-01"]), true),
            (ids(&["[OrderID]:dt-fin"]), true),
            (ids(&["[OrderID]:DT-SWE"]), false),
            (ids(&["x[OrderID]:DT-FIN"]), false),
        ],
    )?;
    devices(
        row("X4")?,
        &[
            (ids(&["[OrderID]:AJ-LT-FR"]), true),
            (ids(&["[OrderID]:AJ-LT-FR-2"]), false),
            (ids(&["[OrderID]:DT-FR"]), false),
        ],
    )?;
    devices(row("X6")?, &[(ids(&["[OrderID]:Exclude"]), true), (ids(&["[OrderID]:EXCLUDED"]), false)])?;
    devices(
        row("T57")?,
        &[
            (json!({"systemLabels": ["M365Managed"]}), true),
            (json!({"systemLabels": ["MultiUser"]}), false),
            (json!({}), false),
        ],
    )?;
    Ok(())
}

#[test]
fn eval_direct_reports_include_the_manager() -> TestResult {
    let manager = "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb";
    users(
        row("T22")?,
        &[
            (json!({"id": "u1", "manager": {"id": manager}}), true),
            (json!({"id": "u2", "manager": {"id": manager.to_uppercase()}}), true),
            // S1-new: the manager is also placed in the group.
            (json!({"id": manager}), true),
            (json!({"id": "u3", "manager": {"id": "62e19b97-8b3d-4d4a-a106-4ce66896a863"}}), false),
            (json!({"id": "u4"}), false),
        ],
    )?;
    users(
        row("T23")?,
        &[
            (json!({"id": "u3", "manager": {"id": "62e19b97-8b3d-4d4a-a106-4ce66896a863"}}), true),
            (json!({"id": "u1", "manager": {"id": manager}}), false),
        ],
    )?;
    Ok(())
}

#[test]
fn eval_member_of() -> TestResult {
    devices(
        row("T53")?,
        &[
            (json!({"memberOf": [{"id": "value"}]}), true),
            (json!({"memberOf": [{"id": "other"}, {"id": "value"}]}), true),
            (json!({"memberOf": [{"id": "other"}]}), false),
            (json!({}), false),
        ],
    )?;
    users(
        row("T58")?,
        &[
            (json!({"memberOf": [{"id": "<groupObjectId2>"}]}), true),
            (json!({"memberOf": [{"id": "<groupObjectId1>"}]}), true),
            (json!({"memberOf": [{"id": "<groupObjectId3>"}]}), false),
            (json!({}), false),
        ],
    )?;
    users(row("T59")?, &[(json!({"memberOf": [{"id": "value"}]}), true), (json!({"memberOf": []}), false)])?;
    Ok(())
}

/// A small population covering every branch of T69–T72.
fn lagos_people() -> Vec<Json> {
    vec![
        json!({"department": "Accounts", "city": "Lagos"}),
        json!({"department": "accounts", "city": "PORT HARCOURT"}),
        json!({"department": "Accounts", "city": "Abuja"}),
        json!({"department": "Accounts", "city": "London"}),
        json!({"department": "Accounts"}),
        json!({"department": "Sales", "city": "Lagos"}),
        json!({"department": "Sales", "city": "Kano"}),
        json!({"city": "Ibadan"}),
        json!({}),
    ]
}

#[test]
fn eval_or_chain_equals_in_list() -> TestResult {
    let opts = strict()?;
    let (t69, t70) = (Rule::with_options(T69, &opts)?, Rule::with_options(row("T70")?, &opts)?);
    let (t71, t72) = (Rule::with_options(row("T71")?, &opts)?, Rule::with_options(row("T72")?, &opts)?);
    for person in lagos_people() {
        let u = user(person.clone())?;
        assert_eq!(t69.matches(&u), t70.matches(&u), "T69 vs T70 on {person}");
        assert_eq!(t71.matches(&u), t72.matches(&u), "T71 vs T72 on {person}");
    }
    users(
        T69,
        &[
            (json!({"department": "Accounts", "city": "Lagos"}), true),
            (json!({"department": "accounts", "city": "PORT HARCOURT"}), true),
            (json!({"department": "Accounts", "city": "London"}), false),
            (json!({"department": "Sales", "city": "Lagos"}), false),
        ],
    )?;
    users(
        row("T72")?,
        &[
            (json!({"city": "Lagos"}), false),
            (json!({"city": "ibadan"}), false),
            (json!({"city": "London"}), true),
            (json!({}), true),
        ],
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Decisions table
// ---------------------------------------------------------------------------

#[test]
fn decisions_null_positive_false_negated_true() -> TestResult {
    let nobody = [json!({}), json!({"department": null}), json!({"department": ""})];
    let positive = [
        r#"user.department -eq "Sales""#,
        r#"user.department -startsWith "S""#,
        r#"user.department -endsWith "s""#,
        r#"user.department -contains "a""#,
        r#"user.department -match ".*""#,
        r#"user.department -in ["Sales", "HR"]"#,
        "user.department -ne null",
    ];
    let negated = [
        r#"user.department -ne "Sales""#,
        r#"user.department -notStartsWith "S""#,
        r#"user.department -notEndsWith "s""#,
        r#"user.department -notContains "a""#,
        r#"user.department -notMatch ".*""#,
        r#"user.department -notIn ["Sales", "HR"]"#,
        "user.department -eq null",
        "user.department -eq $null",
    ];
    for text in positive {
        users(text, &nobody.iter().map(|u| (u.clone(), false)).collect::<Vec<_>>())?;
    }
    for text in negated {
        users(text, &nobody.iter().map(|u| (u.clone(), true)).collect::<Vec<_>>())?;
    }
    // Booleans too.
    devices("device.accountEnabled -eq true", &[(json!({}), false)])?;
    devices("device.accountEnabled -eq false", &[(json!({}), false)])?;
    devices("device.accountEnabled -ne true", &[(json!({}), true)])?;
    devices("device.isRooted -eq null", &[(json!({}), true), (json!({"isRooted": false}), false)])?;
    Ok(())
}

#[test]
fn decisions_missing_collection_is_empty() -> TestResult {
    let missing = json!({});
    let empty = json!({"proxyAddresses": [], "otherMails": [], "assignedPlans": []});
    for text in [
        r#"user.proxyAddresses -any (_ -eq "x")"#,
        r#"user.proxyAddresses -any (_ -ne "x")"#,
        r#"user.otherMails -any _ -notContains "x""#,
        r#"user.assignedPlans -any (assignedPlan.service -ne "SCO")"#,
    ] {
        users(text, &[(missing.clone(), false), (empty.clone(), false)])?;
    }
    for text in [
        r#"user.proxyAddresses -all (_ -eq "x")"#,
        r#"user.otherMails -all _ -startsWith "x""#,
        r#"user.assignedPlans -all (assignedPlan.service -eq "SCO")"#,
    ] {
        users(text, &[(missing.clone(), true), (empty.clone(), true)])?;
    }
    devices(r#"device.devicePhysicalIds -any (_ -startsWith "[ZTDId]")"#, &[(json!({}), false)])?;
    devices(r#"device.devicePhysicalIds -all (_ -startsWith "[ZTDId]")"#, &[(json!({}), true)])?;
    devices(r#"device.systemLabels -any _ -eq "M365Managed""#, &[(json!({"systemLabels": []}), false)])?;
    // `-eq null` on a collection: it has no items.
    users(
        "user.otherMails -eq null",
        &[(missing.clone(), true), (empty.clone(), true), (json!({"otherMails": ["a@b.c"]}), false)],
    )?;
    users(
        "user.otherMails -ne null",
        &[(missing, false), (empty, false), (json!({"otherMails": ["a@b.c"]}), true)],
    )?;
    devices("device.devicePhysicalIds -eq null", &[(json!({"physicalIds": []}), true)])?;
    Ok(())
}

#[test]
fn decisions_case_folding_numbers_and_regex() -> TestResult {
    // Unicode-aware folding for comparisons, lists and regexes.
    let etudes = json!({"department": "ÉTUDES"});
    users(r#"user.department -eq "études""#, &[(etudes.clone(), true)])?;
    users(r#"user.department -in ["études", "x"]"#, &[(etudes.clone(), true)])?;
    users(r#"user.department -match "^étu""#, &[(etudes.clone(), true)])?;
    users(r#"user.department -startsWith "étu""#, &[(etudes, true)])?;
    // Numbers compare with string properties by their text.
    users(
        "user.department -in [50001, 50016]",
        &[(json!({"department": "50016"}), true), (json!({"department": "50004"}), false)],
    )?;
    users("user.employeeId -eq 123", &[(json!({"employeeId": "123"}), true)])?;
    // -match never hangs: the classic catastrophic pattern on a long input.
    let long = format!("{}!", "a".repeat(20_000));
    users(r#"user.displayName -match "(a+)+$""#, &[(json!({ "displayName": long }), false)])?;
    // .NET look-around and backreferences run on the bounded backtracking engine.
    users(
        r#"user.displayName -match "^(?!admin).*""#,
        &[(json!({"displayName": "Admin Ada"}), false), (json!({"displayName": "Ada"}), true)],
    )?;
    users(r#"user.displayName -match "(a)\1""#, &[(json!({"displayName": "bAAb"}), true)])?;
    Ok(())
}

#[test]
fn decisions_property_case_and_member_of_limit() -> TestResult {
    // Names are looked up case-insensitively; `strict` warns on the casing.
    let opts = Options { strict: true, ..strict()? };
    let rule = Rule::with_options(row("T7")?, &opts)?;
    assert!(rule.warnings().iter().any(|w| w.code == "non-canonical-name"), "{:?}", rule.warnings());
    let rule = Rule::with_options(r#"user.employeeHireDate -ge system.now -plus p1d"#, &opts)?;
    assert!(rule.warnings().iter().all(|w| w.code != "non-canonical-name"), "{:?}", rule.warnings());

    // memberOf: at most 50 ids.
    let ids = |n: usize| (0..n).map(|i| format!("'g{i}'")).collect::<Vec<_>>().join(", ");
    let fifty = format!("user.memberOf -any (group.objectId -in [{}])", ids(50));
    Rule::with_options(&fifty, &strict()?)?;
    let fifty_one = format!("user.memberOf -any (group.objectId -in [{}])", ids(51));
    let list = fifty_one.find('[').ok_or("no list")?..fifty_one.len() - 1;
    error_is(Rule::with_options(&fifty_one, &strict()?), "too-many-groups", &list)?;
    Ok(())
}
