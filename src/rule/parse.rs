//! Text → [`RuleAst`]: a cheap pre-scan, the pest grammar, then a builder
//! that turns pest's pairs into the typed tree.
//!
//! Why a pre-scan before pest: pest parses recursively, so a hostile rule
//! (`((((…`) could exhaust the stack, and pest's own error for a curly quote
//! or an en dash ("expected operator") does not tell an admin that the
//! character came from a Word document. The pre-scan walks the text once,
//! string-aware, and rejects over-long rules, look-alike characters,
//! unbalanced brackets and unterminated strings with a span and a hint.
//! What reaches pest is then at most 3,072 characters, which the callers
//! in [`crate::rule`] parse on a thread with a stack for the deepest
//! nesting that length allows, and pest's errors are only about grammar.
//! An over-long rule's error quotes only its first and last characters:
//! the text may be megabytes.
//!
//! The builder collects every problem it can name (missing prefix, bad
//! date) instead of stopping at the first one.

use pest::iterators::Pair;
use pest::Parser as _;

use crate::rule::ast::*;
use crate::rule::error::{RuleError, RuleErrors, Warning};
use crate::rule::grammar::{MembershipParser, Rule as G};
use crate::rule::time::{IsoDuration, Timestamp};

/// The longest rule Entra ID accepts, in Unicode scalar values.
pub const MAX_RULE_CHARS: usize = 3072;
/// The deepest bracket nesting fleetlab reads: as deep as a rule within
/// [`MAX_RULE_CHARS`] can nest (the documentation sets no other limit).
/// Real rules stay below 10; deep ones are parsed on a big-stack thread.
pub const MAX_DEPTH: usize = MAX_RULE_CHARS / 2;

/// A parsed rule and the warnings parsing raised.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The syntax tree.
    pub ast: RuleAst,
    /// Legal but suspicious things, such as a lone `'` in a string.
    pub warnings: Vec<Warning>,
}

/// Parses rule text. With `lenient`, en dashes count as hyphens and the
/// docs' unquoted `` `"…`" `` form is read as a string.
///
/// ```
/// use fleetlab::rule::parse::parse;
/// let parsed = parse(r#"device.deviceOSType -eq "Windows""#, false).unwrap();
/// assert!(parse("device.deviceOSType –eq \"Windows\"", false).is_err()); // en dash
/// assert!(parse("device.deviceOSType –eq \"Windows\"", true).is_ok());
/// ```
pub fn parse(text: &str, lenient: bool) -> Result<Parsed, RuleErrors> {
    if text.trim().is_empty() {
        return Err(RuleError::Syntax {
            expected: "a rule such as device.deviceOSType -eq \"Windows\"".into(),
            span: Span::new(0, text.len()),
        }
        .into());
    }
    let scan = prescan(text, lenient)?;
    let pairs = MembershipParser::parse(G::rule, text).map_err(|e| misplaced(text, &scan, &e))?;
    let mut builder = Builder { lenient, errors: Vec::new(), warnings: Vec::new() };
    if let Some((c, at)) = scan.curly_in_string {
        builder.warnings.push(Warning {
            code: "curly-quote-in-string",
            message: format!(
                "this value contains {}, a curly (typographic) quote, which Entra ID compares as \
                 that character; if it was meant to end the string, type a straight quote",
                describe_char(c)
            ),
            span: char_span(text, at),
        });
    }
    let mut ast = None;
    for pair in pairs.flatten() {
        match pair.as_rule() {
            G::direct_reports => {
                let span = span_of(&pair);
                let manager = pair
                    .into_inner()
                    .find(|p| p.as_rule() == G::string)
                    .map(|p| builder.string(p))
                    .unwrap_or_default();
                ast = Some(RuleAst::DirectReports { manager, span });
                break;
            }
            G::expr => {
                ast = Some(RuleAst::Expression(builder.expr(pair)));
                break;
            }
            _ => {}
        }
    }
    if let Some(errors) = RuleErrors::new(builder.errors) {
        return Err(errors);
    }
    match ast {
        Some(ast) => Ok(Parsed { ast, warnings: builder.warnings }),
        None => Err(RuleError::Syntax {
            expected: "an expression such as device.deviceOSType -eq \"Windows\"".into(),
            span: Span::new(0, text.len()),
        }
        .into()),
    }
}

fn span_of(pair: &Pair<'_, G>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// The span of one character at byte `at`.
fn char_span(text: &str, at: usize) -> Span {
    let len = text.get(at..).and_then(|s| s.chars().next()).map_or(0, char::len_utf8);
    Span::new(at, at + len)
}

fn lookalike_hint(c: char, lenient: bool) -> Option<String> {
    Some(match c {
        '\u{2013}' if lenient => return None,
        '\u{2013}' => "this is an en dash (–), which word processors put in place of a hyphen; \
                       type `-` instead, or pass --lenient to accept it"
            .into(),
        '\u{2014}' | '\u{2212}' | '\u{2010}' | '\u{2011}' => {
            format!("this is U+{:04X}, not a hyphen; type `-` instead", c as u32)
        }
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{00AB}' | '\u{00BB}' => {
            "this is a curly (typographic) quote; type a straight double quote `\"` instead".into()
        }
        '\u{2018}' | '\u{2019}' | '\u{201A}' => {
            "this is a curly (typographic) quote; type a straight single quote `'` instead".into()
        }
        '\u{00A0}' | '\u{2007}' | '\u{202F}' | '\u{200B}' | '\u{FEFF}' => {
            format!("this is an invisible U+{:04X} space; replace it with an ordinary space", c as u32)
        }
        _ => return None,
    })
}

/// `U+201D (”)`.
fn describe_char(c: char) -> String {
    format!("U+{:04X} ({c})", c as u32)
}

fn is_curly_quote(c: char) -> bool {
    matches!(
        c,
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{00AB}' | '\u{00BB}'
    )
}

/// What the pre-scan learned about text it let through.
struct Scan {
    /// The first curly quote inside a string, and its byte offset.
    curly_in_string: Option<(char, usize)>,
    /// Byte ranges of the string literals, quotes included.
    strings: Vec<(usize, usize)>,
}

/// The first and last characters of `text`, for messages about long rules.
pub fn excerpt(text: &str) -> String {
    const EACH: usize = 40;
    let chars = text.chars().count();
    if chars <= 2 * EACH + 5 {
        return text.to_string();
    }
    let head: String = text.chars().take(EACH).collect();
    let tail: String = text.chars().skip(chars - EACH).collect();
    format!("{head} … {tail}")
}

/// Length, nesting, look-alike characters, balance and string termination,
/// in one string-aware pass.
fn prescan(text: &str, lenient: bool) -> Result<Scan, RuleErrors> {
    let chars = text.chars().count();
    if chars > MAX_RULE_CHARS {
        let start = text.char_indices().nth(MAX_RULE_CHARS).map_or(text.len(), |(i, _)| i);
        let (line, column) = crate::rule::line_col(text, start);
        return Err(RuleError::RuleTooLong {
            chars,
            line,
            column,
            excerpt: excerpt(text),
            span: Span::new(start, text.len()),
        }
        .into());
    }
    let mut scan = Scan { curly_in_string: None, strings: Vec::new() };
    enum State {
        Code,
        Double(usize),
        Single(usize),
        Backtick(usize),
    }
    let mut state = State::Code;
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        match state {
            State::Code => match c {
                '"' => state = State::Double(i),
                '\'' => state = State::Single(i),
                '`' if it.peek().is_some_and(|(_, n)| *n == '"') => {
                    it.next();
                    state = State::Backtick(i);
                }
                '(' | '[' => {
                    open.push((c, i));
                    if open.len() > MAX_DEPTH {
                        return Err(RuleError::TooDeep { limit: MAX_DEPTH, span: char_span(text, i) }.into());
                    }
                }
                ')' | ']' => {
                    let want = if c == ')' { '(' } else { '[' };
                    match open.pop() {
                        Some((o, _)) if o == want => {}
                        Some((o, at)) => {
                            let close = if o == '(' { ')' } else { ']' };
                            return Err(RuleError::Syntax {
                                expected: format!("`{close}` to close the `{o}` at byte {at}"),
                                span: char_span(text, i),
                            }
                            .into());
                        }
                        None => {
                            return Err(RuleError::Syntax {
                                expected: format!("an expression; this `{c}` closes nothing"),
                                span: char_span(text, i),
                            }
                            .into())
                        }
                    }
                }
                _ => {
                    if let Some(hint) = lookalike_hint(c, lenient) {
                        return Err(
                            RuleError::InvalidCharacter { found: c, hint, span: char_span(text, i) }.into()
                        );
                    }
                }
            },
            State::Double(start) => match c {
                '`' => {
                    it.next();
                }
                '"' => {
                    scan.strings.push((start, i + 1));
                    state = State::Code;
                }
                c if is_curly_quote(c) => {
                    scan.curly_in_string.get_or_insert((c, i));
                }
                _ => {}
            },
            State::Single(start) => {
                if c == '\'' {
                    if it.peek().is_some_and(|(_, n)| *n == '\'') {
                        it.next();
                    } else {
                        scan.strings.push((start, i + 1));
                        state = State::Code;
                    }
                } else if is_curly_quote(c) {
                    scan.curly_in_string.get_or_insert((c, i));
                }
            }
            State::Backtick(_) => {
                if c == '`' && it.peek().is_some_and(|(_, n)| *n == '"') {
                    it.next();
                    state = State::Code;
                }
            }
        }
    }
    match state {
        State::Double(at) | State::Single(at) | State::Backtick(at) => {
            // Strings pair up wrongly once one was meant to end at a curly quote.
            if let Some((c, curly)) = scan.curly_in_string {
                return Err(RuleError::InvalidCharacter {
                    found: c,
                    hint: format!(
                        "a string never ends (the last one starts at column {}); {} here is a curly \
                         (typographic) quote: type a straight quote to end the string",
                        text[..at].chars().count() + 1,
                        describe_char(c)
                    ),
                    span: char_span(text, curly),
                }
                .into());
            }
            return Err(RuleError::Syntax {
                expected: "a closing quote for the string that starts here".into(),
                span: char_span(text, at),
            }
            .into());
        }
        State::Code => {}
    }
    if let Some((o, at)) = open.pop() {
        let close = if o == '(' { ')' } else { ']' };
        return Err(RuleError::Syntax {
            expected: format!("`{close}` to close this `{o}`"),
            span: char_span(text, at),
        }
        .into());
    }
    Ok(scan)
}

/// A grammar error, unless the pre-scan or the words at hand explain it
/// better: a `Direct Reports` rule combined with other expressions, or a
/// curly quote inside a string that was probably meant to end it.
fn misplaced(text: &str, scan: &Scan, e: &pest::error::Error<G>) -> RuleErrors {
    let in_string = |at: usize| scan.strings.iter().any(|(s, e)| (*s..*e).contains(&at));
    if let Ok(re) = regex::Regex::new(r"(?i)\bdirect\s+reports\s+for\b") {
        let filler = |t: &str| t.trim_matches(|c: char| c.is_whitespace() || c == '(' || c == ')').is_empty();
        let combined = |m: regex::Match<'_>| {
            let after = scan.strings.iter().find(|(s, _)| *s >= m.end()).map_or(text.len(), |(_, e)| *e);
            !filler(&text[..m.start()]) || !filler(text.get(after..).unwrap_or(""))
        };
        if re.find_iter(text).any(|m| !in_string(m.start()) && combined(m)) {
            return RuleError::NotCombinable { form: "Direct Reports", span: Span::new(0, text.len()) }
                .into();
        }
    }
    // Only when the rest of that string reads like rule text: an apostrophe
    // in `"Ada’s iPhone"` is not the problem.
    let swallowed_code = |at: usize| {
        scan.strings.iter().find(|(s, e)| (*s..*e).contains(&at)).is_some_and(|(_, e)| {
            let rest = text.get(at..*e).unwrap_or("");
            rest.contains(" -") || rest.contains('(') || rest.contains(')')
        })
    };
    if let Some((c, at)) = scan.curly_in_string.filter(|(_, at)| swallowed_code(*at)) {
        return RuleError::InvalidCharacter {
            found: c,
            hint: format!(
                "{} is a curly (typographic) quote inside a string; if it was meant to end the \
                 string, type a straight quote instead",
                describe_char(c)
            ),
            span: char_span(text, at),
        }
        .into();
    }
    syntax_error(text, e)
}

fn describe(expected: &G) -> Option<&'static str> {
    Some(match expected {
        G::expr
        | G::and_expr
        | G::unary
        | G::primary
        | G::paren
        | G::comparison
        | G::quantified
        | G::reversed
        | G::direct_reports
        | G::kw_direct => "an expression such as device.deviceOSType -eq \"Windows\"",
        G::reference | G::ident => "a property such as device.deviceOSType",
        G::operator | G::op_not => "an operator such as -eq, -startsWith or -in",
        G::quantifier | G::op_any | G::op_all => "-any/-all",
        G::op_and | G::op_or => "-and or -or",
        G::operand
        | G::scalar
        | G::list
        | G::string
        | G::dq_string
        | G::sq_string
        | G::null
        | G::boolean
        | G::number
        | G::datetime_expr
        | G::datetime_lit
        | G::system_now => "a value (a quoted string, true/false, null, a date-time or a [list])",
        G::op_plus | G::op_minus => "-plus or -minus",
        G::duration => "an ISO-8601 duration such as P1D",
        G::EOI => "the end of the rule",
        G::kw_reports => "`Reports`",
        G::kw_for => "`for`",
        _ => return None,
    })
}

fn syntax_error(text: &str, e: &pest::error::Error<G>) -> RuleErrors {
    let at = match e.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let mut wanted: Vec<&str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &e.variant {
        for r in positives {
            if let Some(d) = describe(r) {
                if !wanted.contains(&d) {
                    wanted.push(d);
                }
            }
        }
    }
    let expected = match wanted.len() {
        0 => "something else here".to_string(),
        1 => wanted[0].to_string(),
        n => format!("{} or {}", wanted[..n - 1].join(", "), wanted[n - 1]),
    };
    // Blame the whole word that stands where parsing stopped.
    let rest = text.get(at..).unwrap_or("");
    let word = rest
        .char_indices()
        .find(|(_, c)| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | ','))
        .map_or(rest.len(), |(i, _)| i);
    let end = if word == 0 { char_span(text, at).end() } else { at + word };
    RuleError::Syntax { expected, span: Span::new(at, end) }.into()
}

struct Builder {
    lenient: bool,
    errors: Vec<RuleError>,
    warnings: Vec<Warning>,
}

impl Builder {
    fn expr(&mut self, pair: Pair<'_, G>) -> Expr {
        let span = span_of(&pair);
        let children: Vec<Pair<'_, G>> = pair.into_inner().collect();
        // The last operand of each `-and` chain but the final one stands
        // before an `-or`.
        for (k, child) in children.iter().enumerate() {
            if child.as_rule() == G::and_expr {
                let last = child.clone().into_inner().filter(|p| p.as_rule() == G::unary).last();
                if let (Some(unary), Some(op)) = (last, children.get(k + 1)) {
                    self.ambiguous_quantifier(&unary, op, span);
                }
            }
        }
        let mut parts: Vec<Expr> =
            children.into_iter().filter(|p| p.as_rule() == G::and_expr).map(|p| self.and_expr(p)).collect();
        if parts.len() == 1 {
            if let Some(only) = parts.pop() {
                return only;
            }
        }
        Expr { kind: ExprKind::Or(parts), span }
    }

    fn and_expr(&mut self, pair: Pair<'_, G>) -> Expr {
        let span = span_of(&pair);
        let children: Vec<Pair<'_, G>> = pair.into_inner().collect();
        for (k, child) in children.iter().enumerate() {
            if let (G::unary, Some(op)) = (child.as_rule(), children.get(k + 1)) {
                self.ambiguous_quantifier(child, op, span);
            }
        }
        let mut parts: Vec<Expr> =
            children.into_iter().filter(|p| p.as_rule() == G::unary).map(|p| self.unary(p)).collect();
        if parts.len() == 1 {
            if let Some(only) = parts.pop() {
                return only;
            }
        }
        Expr { kind: ExprKind::And(parts), span }
    }

    /// Microsoft documents `-any`/`-all` as the lowest-precedence operators
    /// (groups-dynamic-membership, "Operator precedence"), so a quantifier
    /// that is not in parentheses and is followed by `-and`/`-or` reads two
    /// ways: fleetlab refuses to pick one.
    fn ambiguous_quantifier(&mut self, unary: &Pair<'_, G>, op: &Pair<'_, G>, enclosing: Span) {
        let Some(q) = unary
            .clone()
            .into_inner()
            .find(|p| p.as_rule() == G::primary)
            .and_then(|p| p.into_inner().next())
            .filter(|p| p.as_rule() == G::quantified)
        else {
            return;
        };
        let text = q.get_input();
        let q_span = span_of(&q);
        let target = q.clone().into_inner().next().map_or("", |p| p.as_str());
        if target.len() >= 9
            && target.get(target.len() - 9..).is_some_and(|t| t.eq_ignore_ascii_case(".memberOf"))
        {
            // memberOf stands alone whatever the precedence: `not-combinable` says so.
            return;
        }
        let parts: Vec<Pair<'_, G>> = q.into_inner().collect();
        let head_end =
            parts.iter().find(|p| p.as_rule() == G::quantifier).map_or(q_span.start(), |p| p.as_span().end());
        let predicate = parts.last().map_or("", |p| {
            let t = p.as_str();
            if p.as_rule() == G::paren {
                t.strip_prefix('(').and_then(|t| t.strip_suffix(')')).unwrap_or(t).trim()
            } else {
                t
            }
        });
        let head = text.get(q_span.start()..head_end).unwrap_or("");
        let rest = text.get(op.as_span().start()..enclosing.end()).unwrap_or("").trim();
        let quantifier = text.get(q_span.start()..q_span.end()).unwrap_or("");
        self.errors.push(RuleError::AmbiguousQuantifier {
            readings: [format!("({quantifier}) {rest}"), format!("{head} ({predicate} {rest})")],
            span: Span::new(q_span.start(), op.as_span().end()),
        });
    }

    fn unary(&mut self, pair: Pair<'_, G>) -> Expr {
        let mut nots: Vec<usize> = Vec::new();
        let mut inner = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                G::op_not => nots.push(p.as_span().start()),
                G::primary => inner = Some(self.primary(p)),
                _ => {}
            }
        }
        let mut expr = inner.unwrap_or(Expr { kind: ExprKind::And(Vec::new()), span: Span::default() });
        // Innermost `-not` first, iteratively: a long chain must not recurse.
        for start in nots.into_iter().rev() {
            let span = Span::new(start, expr.span.end());
            expr = Expr { kind: ExprKind::Not(Box::new(expr)), span };
        }
        expr
    }

    fn primary(&mut self, pair: Pair<'_, G>) -> Expr {
        let span = span_of(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return Expr { kind: ExprKind::And(Vec::new()), span };
        };
        match inner.as_rule() {
            G::paren => match inner.into_inner().find(|p| p.as_rule() == G::expr) {
                Some(e) => self.expr(e),
                None => Expr { kind: ExprKind::And(Vec::new()), span },
            },
            G::quantified => self.quantified(inner),
            G::reversed => {
                let words: Vec<&str> = inner.into_inner().map(|p| p.as_str()).collect();
                if let [value, op, property] = words.as_slice() {
                    self.errors.push(RuleError::PropertyOnRight {
                        suggestion: format!("{property} {op} {value}"),
                        span,
                    });
                }
                Expr { kind: ExprKind::And(Vec::new()), span }
            }
            _ => self.comparison(inner),
        }
    }

    fn quantified(&mut self, pair: Pair<'_, G>) -> Expr {
        let span = span_of(&pair);
        let mut target = None;
        let mut quantifier = (Quantifier::Any, Span::default());
        let mut predicate = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                G::reference => target = Some(self.reference(&p)),
                G::quantifier => {
                    let q_span = span_of(&p);
                    let is_all = p.as_str().to_ascii_lowercase().ends_with("all");
                    quantifier = (if is_all { Quantifier::All } else { Quantifier::Any }, q_span);
                }
                G::paren => predicate = p.into_inner().find(|x| x.as_rule() == G::expr).map(|e| self.expr(e)),
                G::comparison => predicate = Some(self.comparison(p)),
                _ => {}
            }
        }
        let target = target.unwrap_or(Reference { kind: RefKind::Item, span });
        let predicate = predicate.unwrap_or(Expr { kind: ExprKind::And(Vec::new()), span });
        Expr {
            kind: ExprKind::Quantified(Quantified {
                target,
                quantifier: quantifier.0,
                quantifier_span: quantifier.1,
                predicate: Box::new(predicate),
            }),
            span,
        }
    }

    fn comparison(&mut self, pair: Pair<'_, G>) -> Expr {
        let span = span_of(&pair);
        let mut target = Reference { kind: RefKind::Item, span };
        let mut op = (Operator::Eq, span);
        let mut operand = Operand::Scalar(Literal { value: Value::Null, span });
        for p in pair.into_inner() {
            match p.as_rule() {
                G::reference => target = self.reference(&p),
                G::operator | G::op_not => {
                    let word = p.as_str().trim_start_matches(['-', '\u{2013}']);
                    op = (Operator::from_keyword(word).unwrap_or(Operator::Eq), span_of(&p));
                }
                G::operand => operand = self.operand(p),
                _ => {}
            }
        }
        Expr { kind: ExprKind::Comparison(Comparison { target, op: op.0, op_span: op.1, operand }), span }
    }

    fn reference(&mut self, pair: &Pair<'_, G>) -> Reference {
        let span = span_of(pair);
        let text = pair.as_str();
        let kind = match text.split_once('.') {
            None if text == "_" => RefKind::Item,
            None => {
                let suggestion = [ObjectType::Device, ObjectType::User]
                    .into_iter()
                    .find_map(|o| crate::rule::catalogue::Property::lookup(o, text))
                    .map(|p| p.to_string());
                self.errors.push(RuleError::MissingObjectPrefix { name: text.to_string(), suggestion, span });
                RefKind::Item
            }
            Some((prefix, name)) if prefix.eq_ignore_ascii_case("device") => {
                RefKind::Property { object: ObjectType::Device, name: name.to_string() }
            }
            Some((prefix, name)) if prefix.eq_ignore_ascii_case("user") => {
                RefKind::Property { object: ObjectType::User, name: name.to_string() }
            }
            Some((prefix, name)) => RefKind::ItemField { prefix: prefix.to_string(), name: name.to_string() },
        };
        Reference { kind, span }
    }

    fn operand(&mut self, pair: Pair<'_, G>) -> Operand {
        let span = span_of(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return Operand::Scalar(Literal { value: Value::Null, span });
        };
        if inner.as_rule() == G::list {
            let list_span = span_of(&inner);
            let items =
                inner.into_inner().filter(|p| p.as_rule() == G::scalar).map(|p| self.scalar(p)).collect();
            Operand::List { items, span: list_span }
        } else {
            Operand::Scalar(self.scalar(inner))
        }
    }

    fn scalar(&mut self, pair: Pair<'_, G>) -> Literal {
        let span = span_of(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return Literal { value: Value::Null, span };
        };
        let value = match inner.as_rule() {
            G::null => Value::Null,
            G::boolean => Value::Bool(inner.as_str().eq_ignore_ascii_case("true")),
            G::number => Value::Number(inner.as_str().to_string()),
            G::string => Value::String(self.string(inner)),
            G::datetime_expr => self.datetime(inner),
            _ => Value::Null,
        };
        Literal { value, span }
    }

    fn datetime(&mut self, pair: Pair<'_, G>) -> Value {
        let mut base = DateTimeBase::Now;
        let mut sign = None;
        let mut offset = None;
        for p in pair.into_inner() {
            let span = span_of(&p);
            match p.as_rule() {
                G::system_now => base = DateTimeBase::Now,
                G::datetime_lit => match Timestamp::parse(p.as_str()) {
                    Ok(t) => base = DateTimeBase::Instant(t),
                    Err(e) => self.errors.push(RuleError::InvalidDateTime { reason: e.0, span }),
                },
                G::op_plus => sign = Some(Sign::Plus),
                G::op_minus => sign = Some(Sign::Minus),
                G::duration => match IsoDuration::parse(p.as_str()) {
                    Ok(d) => offset = Some(d),
                    Err(e) => self.errors.push(RuleError::InvalidDateTime { reason: e.0, span }),
                },
                _ => {}
            }
        }
        let offset = match (sign, offset) {
            (Some(s), Some(d)) => Some((s, d)),
            _ => None,
        };
        Value::DateTime(DateTimeExpr { base, offset })
    }

    /// Decodes a string token: backtick escapes in `"…"`, doubled `''` in both.
    fn string(&mut self, pair: Pair<'_, G>) -> String {
        let span = span_of(&pair);
        let Some(inner) = pair.into_inner().next() else { return String::new() };
        let raw = inner.clone().into_inner().next().map(|p| p.as_str()).unwrap_or("");
        match inner.as_rule() {
            G::dq_string => {
                let mut out = String::with_capacity(raw.len());
                let mut it = raw.chars().peekable();
                let mut lone_quote = false;
                while let Some(c) = it.next() {
                    match c {
                        '`' => out.extend(it.next()),
                        '\'' if it.peek() == Some(&'\'') => {
                            it.next();
                            out.push('\'');
                        }
                        '\'' => {
                            lone_quote = true;
                            out.push('\'');
                        }
                        c => out.push(c),
                    }
                }
                if lone_quote {
                    self.warnings.push(Warning {
                        code: "lone-single-quote",
                        message: "a single `'` in a value is taken literally here, but Entra ID has been \
                                  seen to match nothing; write it doubled (`''`)"
                            .into(),
                        span,
                    });
                }
                out
            }
            G::sq_string => raw.replace("''", "'"),
            _ => {
                if !self.lenient {
                    self.errors.push(RuleError::ValueMismatch {
                        message: "a backtick-quoted value needs enclosing double quotes".into(),
                        hint: Some(format!(
                            "to match the value \"{raw}\" with its quotes, write \"`\"{raw}`\"\"; \
                             --lenient reads this form as that"
                        )),
                        span,
                    });
                }
                format!("\"{raw}\"")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(text: &str) -> RuleError {
        match parse(text, false) {
            Ok(p) => {
                RuleError::Syntax { expected: format!("an error, got {:?}", p.ast), span: Span::default() }
            }
            Err(e) => e.first().clone(),
        }
    }

    #[test]
    fn precedence_is_or_and_not_comparison() -> Result<(), RuleErrors> {
        let p = parse(r#"user.a -eq "1" -or user.b -eq "2" -and user.c -eq "3""#, false)?;
        let RuleAst::Expression(Expr { kind: ExprKind::Or(parts), .. }) = p.ast else {
            return Err(RuleError::Syntax { expected: "or".into(), span: Span::default() }.into());
        };
        assert_eq!(parts.len(), 2);
        assert!(matches!(parts[1].kind, ExprKind::And(_)));
        Ok(())
    }

    #[test]
    fn strings_decode_escapes() -> Result<(), RuleErrors> {
        let value = |t: &str| -> Result<Value, RuleErrors> {
            match parse(t, false)?.ast {
                RuleAst::Expression(Expr { kind: ExprKind::Comparison(c), .. }) => match c.operand {
                    Operand::Scalar(l) => Ok(l.value),
                    Operand::List { .. } => Ok(Value::Null),
                },
                _ => Ok(Value::Null),
            }
        };
        assert_eq!(value(r#"user.department -eq "a''b""#)?, Value::String("a'b".into()));
        assert_eq!(value(r#"user.department -eq 'a''b'"#)?, Value::String("a'b".into()));
        assert_eq!(
            value(r#"user.department -eq "he said `"hi`"""#)?,
            Value::String(r#"he said "hi""#.into())
        );
        assert_eq!(value(r#"user.department -eq "^\[OrderID\]""#)?, Value::String(r"^\[OrderID\]".into()));
        Ok(())
    }

    #[test]
    fn lookalikes_are_named() {
        let e = first_error("user.mail –ne null");
        assert_eq!(e.code(), "invalid-character");
        assert_eq!(e.span().range(), 10..13);
        assert_eq!(first_error("(user.userType -eq “Member”)").code(), "invalid-character");
    }

    #[test]
    fn unbalanced_and_unterminated_are_located() {
        assert_eq!(first_error(r#"(device.a -eq "x""#).span().range(), 0..1);
        assert_eq!(first_error(r#"device.a -eq "x"#).span().range(), 13..14);
        assert_eq!(first_error(r#"device.a -eq "x")"#).span().range(), 16..17);
    }

    #[test]
    fn nesting_is_limited_only_by_the_rule_length() -> Result<(), RuleErrors> {
        let comparison = "device.a -eq \"x\"";
        let depth = (MAX_RULE_CHARS - comparison.len()) / 2;
        let text = format!("{}{comparison}{}", "(".repeat(depth), ")".repeat(depth));
        assert!(depth <= MAX_DEPTH);
        // The deepest nesting 3,072 characters allow, on the big-stack thread callers use.
        let parsed = crate::rule::stack::for_rule(text.len(), || parse(&text, false).map(|_| ()));
        parsed?;
        let too_long = format!("({text})");
        assert_eq!(first_error(&too_long).code(), "rule-too-long");
        Ok(())
    }

    #[test]
    fn missing_conjunction_is_a_syntax_error_at_the_second_expression() {
        let e = first_error(r#"(user.department -eq "Sales") (user.department -eq "Marketing")"#);
        assert_eq!(e.code(), "syntax");
        assert_eq!(e.span().start(), 30);
        assert!(e.to_string().contains("-and or -or"), "{e}");
    }
}
