//! The OData query options the fake understands on its collections:
//! `$filter`, `$search` and the advanced-query gate (graph-api.md §1.7,
//! §3.5, §3.7).
//!
//! Decisions, and why:
//!
//! * **A small OData subset, refused loudly beyond it.** `eq ne gt ge lt
//!   le`, `and or not`, parentheses, `in (…)`, `startswith`, `endswith`,
//!   `contains`, and `any(x: …)` lambdas over string collections
//!   (`physicalIds/any(p:startswith(p,'[OrderId]:Sales'))`). That is every
//!   form the adapter and the tools of §5 send. Anything else is a 400, as
//!   Graph answers an unsupported clause, never a silently wrong result.
//! * **Per-resource capabilities** ([`Resource`]): only the properties
//!   graph-api.md §1.7 marks filterable are accepted, directory objects
//!   refuse `contains`, and `ne`, `not`, `endswith` and lambdas over
//!   `physicalIds` are advanced queries that need `ConsistencyLevel:
//!   eventual` and `$count=true` (§3.7, F14). `groupTypes/any(…)` is not
//!   advanced: Graph serves it without the header.
//! * **String comparisons ignore case**, as the directory does.
//! * **`$search`** takes `"property:term"` clauses joined by `AND`/`OR`;
//!   a clause matches when a word of the property starts with the term
//!   (Graph tokenizes on spaces and symbols). It always needs the header.

use serde_json::Value;

/// A parsed `$filter`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp { path: String, op: Op, value: Lit },
    Func { func: Func, path: String, arg: String },
    In { path: String, values: Vec<Lit> },
    Any { path: String, var: String, body: Box<Expr> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Bool(bool),
    Num(f64),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Open,
    Close,
    Comma,
    Colon,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while chars.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.parse::<f64>() {
                    Ok(n) => out.push(Tok::Num(n)),
                    // Dates and GUIDs written bare: keep them as text.
                    Err(_) => out.push(Tok::Str(word)),
                }
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '/' | '@' | '.' | '$') => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '/' | '@' | '.' | '$'))
                {
                    i += 1;
                }
                out.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == tok => Ok(()),
            _ => Err(format!("expected {what}")),
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn literal(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Num(n)) => Ok(Lit::Num(n)),
            Some(Tok::Ident(w)) if w == "true" => Ok(Lit::Bool(true)),
            Some(Tok::Ident(w)) if w == "false" => Ok(Lit::Bool(false)),
            Some(Tok::Ident(w)) if w == "null" => Ok(Lit::Null),
            _ => Err("expected a literal ('text', a number, true, false or null)".into()),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.or()?;
                self.expect(Tok::Close, "')'")?;
                Ok(e)
            }
            Some(Tok::Ident(name)) => {
                let lower = name.to_ascii_lowercase();
                let func = match lower.as_str() {
                    "startswith" => Some(Func::StartsWith),
                    "endswith" => Some(Func::EndsWith),
                    "contains" => Some(Func::Contains),
                    _ => None,
                };
                if let Some(func) = func {
                    self.expect(Tok::Open, "'(' after the function name")?;
                    let Some(Tok::Ident(path)) = self.next() else {
                        return Err(format!("{name}: expected a property"));
                    };
                    self.expect(Tok::Comma, "','")?;
                    let Lit::Str(arg) = self.literal()? else {
                        return Err(format!("{name}: the second argument is a string"));
                    };
                    self.expect(Tok::Close, "')'")?;
                    return Ok(Expr::Func { func, path, arg });
                }
                if let Some(path) = name.strip_suffix("/any").or_else(|| name.strip_suffix("/all")) {
                    if name.ends_with("/all") {
                        return Err("all() is not supported".into());
                    }
                    self.expect(Tok::Open, "'(' after any")?;
                    let Some(Tok::Ident(var)) = self.next() else {
                        return Err("any: expected a variable".into());
                    };
                    self.expect(Tok::Colon, "':' after the lambda variable")?;
                    let body = self.or()?;
                    self.expect(Tok::Close, "')'")?;
                    return Ok(Expr::Any { path: path.to_string(), var, body: Box::new(body) });
                }
                let Some(Tok::Ident(op)) = self.next() else {
                    return Err(format!("expected an operator after {name}"));
                };
                let op = match op.to_ascii_lowercase().as_str() {
                    "eq" => Op::Eq,
                    "ne" => Op::Ne,
                    "gt" => Op::Gt,
                    "ge" => Op::Ge,
                    "lt" => Op::Lt,
                    "le" => Op::Le,
                    "in" => {
                        self.expect(Tok::Open, "'(' after in")?;
                        let mut values = vec![self.literal()?];
                        while self.peek() == Some(&Tok::Comma) {
                            self.pos += 1;
                            values.push(self.literal()?);
                        }
                        self.expect(Tok::Close, "')'")?;
                        return Ok(Expr::In { path: name, values });
                    }
                    other => return Err(format!("unknown operator {other:?}")),
                };
                Ok(Expr::Cmp { path: name, op, value: self.literal()? })
            }
            _ => Err("expected a property, a function or '('".into()),
        }
    }
}

impl Expr {
    /// Parses a `$filter` value.
    pub(crate) fn parse(text: &str) -> Result<Expr, String> {
        let mut p = Parser { toks: tokenize(text)?, pos: 0 };
        let e = p.or()?;
        if p.pos < p.toks.len() {
            return Err("unexpected text after the expression".into());
        }
        Ok(e)
    }

    /// Visits each property test: (property, advanced?) with the lambda
    /// variables resolved to their collection.
    fn walk(&self, vars: &[(&str, &str)], out: &mut Vec<(String, Use)>) {
        let resolve = |path: &str| {
            vars.iter().find(|(v, _)| *v == path).map_or_else(|| path.to_string(), |(_, c)| c.to_string())
        };
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.walk(vars, out);
                b.walk(vars, out);
            }
            Expr::Not(e) => {
                out.push((String::new(), Use::Not));
                e.walk(vars, out);
            }
            Expr::Cmp { path, op, .. } => {
                out.push((resolve(path), if *op == Op::Ne { Use::Ne } else { Use::Compare }))
            }
            Expr::Func { func, path, .. } => out.push((
                resolve(path),
                match func {
                    Func::StartsWith => Use::StartsWith,
                    Func::EndsWith => Use::EndsWith,
                    Func::Contains => Use::Contains,
                },
            )),
            Expr::In { path, .. } => out.push((resolve(path), Use::Compare)),
            Expr::Any { path, var, body } => {
                out.push((path.clone(), Use::Any));
                let mut inner = vars.to_vec();
                inner.push((var.as_str(), path.as_str()));
                body.walk(&inner, out);
            }
        }
    }

    /// True when `item` satisfies the filter.
    pub(crate) fn matches(&self, item: &Value) -> bool {
        self.eval(item, &[])
    }

    fn eval(&self, item: &Value, vars: &[(&str, &Value)]) -> bool {
        let lookup = |path: &str| -> Value {
            if let Some((_, v)) = vars.iter().find(|(name, _)| *name == path) {
                return (*v).clone();
            }
            let mut cur = item;
            for part in path.split('/') {
                match cur.get(part) {
                    Some(v) => cur = v,
                    None => return Value::Null,
                }
            }
            cur.clone()
        };
        match self {
            Expr::And(a, b) => a.eval(item, vars) && b.eval(item, vars),
            Expr::Or(a, b) => a.eval(item, vars) || b.eval(item, vars),
            Expr::Not(e) => !e.eval(item, vars),
            Expr::Cmp { path, op, value } => compare(&lookup(path), *op, value),
            Expr::In { path, values } => {
                let v = lookup(path);
                values.iter().any(|l| compare(&v, Op::Eq, l))
            }
            Expr::Func { func, path, arg } => {
                let Value::String(s) = lookup(path) else { return false };
                let (s, arg) = (s.to_lowercase(), arg.to_lowercase());
                match func {
                    Func::StartsWith => s.starts_with(&arg),
                    Func::EndsWith => s.ends_with(&arg),
                    Func::Contains => s.contains(&arg),
                }
            }
            Expr::Any { path, var, body } => {
                let Value::Array(list) = lookup(path) else { return false };
                list.iter().any(|x| {
                    let mut inner = vars.to_vec();
                    inner.push((var.as_str(), x));
                    body.eval(item, &inner)
                })
            }
        }
    }
}

fn compare(v: &Value, op: Op, lit: &Lit) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, lit) {
        (Value::Null, Lit::Null) => Some(Ordering::Equal),
        (_, Lit::Null) | (Value::Null, _) => None,
        (Value::String(s), Lit::Str(l)) => Some(s.to_lowercase().cmp(&l.to_lowercase())),
        (Value::Bool(b), Lit::Bool(l)) => Some(b.cmp(l)),
        (Value::Number(n), Lit::Num(l)) => n.as_f64().and_then(|n| n.partial_cmp(l)),
        _ => None,
    };
    match op {
        Op::Eq => ord == Some(Ordering::Equal),
        Op::Ne => ord != Some(Ordering::Equal),
        Op::Gt => ord == Some(Ordering::Greater),
        Op::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => ord == Some(Ordering::Less),
        Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
    }
}

/// How a filter uses a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    Compare,
    Ne,
    Not,
    StartsWith,
    EndsWith,
    Contains,
    Any,
}

/// A collection the fake filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    Devices,
    Groups,
    Users,
    Autopilot,
}

impl Resource {
    /// Graph's name of the entity type, for error messages.
    pub(crate) fn entity(self) -> &'static str {
        match self {
            Resource::Devices => "Device",
            Resource::Groups => "Group",
            Resource::Users => "User",
            Resource::Autopilot => "windowsAutopilotDeviceIdentity",
        }
    }

    fn filterable(self, path: &str) -> bool {
        let base = path.split('/').next().unwrap_or(path);
        match self {
            Resource::Devices => {
                matches!(
                    base,
                    "id" | "deviceId"
                        | "accountEnabled"
                        | "displayName"
                        | "operatingSystem"
                        | "operatingSystemVersion"
                        | "physicalIds"
                        | "isManaged"
                        | "isCompliant"
                        | "mdmAppId"
                        | "approximateLastSignInDateTime"
                ) || path.starts_with("extensionAttributes/extensionAttribute")
            }
            Resource::Groups => matches!(
                base,
                "id" | "displayName"
                    | "description"
                    | "mailNickname"
                    | "securityEnabled"
                    | "mailEnabled"
                    | "groupTypes"
            ),
            Resource::Users => {
                matches!(base, "id" | "displayName" | "userPrincipalName" | "mail" | "accountEnabled")
            }
            Resource::Autopilot => matches!(
                base,
                "serialNumber"
                    | "groupTag"
                    | "displayName"
                    | "userPrincipalName"
                    | "azureActiveDirectoryDeviceId"
                    | "enrollmentState"
                    | "purchaseOrderIdentifier"
            ),
        }
    }
}

/// What a filter needs from the request, or why it is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A basic query.
    Basic,
    /// An advanced query: needs `ConsistencyLevel: eventual` and `$count=true`.
    Advanced(String),
    /// Not supported on this resource: the offending property.
    Unsupported(String),
}

/// Decides whether `expr` is allowed on `resource`.
pub(crate) fn classify(expr: &Expr, resource: Resource) -> Verdict {
    let mut uses = Vec::new();
    expr.walk(&[], &mut uses);
    let mut advanced = None;
    for (path, how) in uses {
        if how == Use::Not {
            if resource != Resource::Autopilot {
                advanced.get_or_insert_with(|| "not".to_string());
            }
            continue;
        }
        if !resource.filterable(&path) {
            return Verdict::Unsupported(path);
        }
        let directory = resource != Resource::Autopilot;
        match how {
            Use::Contains if directory => return Verdict::Unsupported(path),
            Use::Ne | Use::EndsWith if directory => {
                advanced.get_or_insert(path);
            }
            Use::Any if path == "physicalIds" => {
                advanced.get_or_insert(path);
            }
            _ => {}
        }
    }
    match advanced {
        Some(p) => Verdict::Advanced(p),
        None => Verdict::Basic,
    }
}

/// A parsed `$search`: `"prop:term"` clauses joined by AND / OR (left to right).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Search {
    first: (String, String),
    rest: Vec<(bool, String, String)>,
}

impl Search {
    /// Parses `"displayName:wind" OR "description:kiosk"`.
    pub(crate) fn parse(text: &str) -> Result<Search, String> {
        let mut clauses: Vec<(Option<bool>, String, String)> = Vec::new();
        let mut rest = text.trim();
        let mut join: Option<bool> = None;
        loop {
            let Some(after) = rest.strip_prefix('"') else {
                return Err("each $search clause is a quoted \"property:term\"".into());
            };
            let Some(end) = after.find('"') else { return Err("unterminated quote in $search".into()) };
            let clause = &after[..end];
            let Some((prop, term)) = clause.split_once(':') else {
                return Err(format!("$search clause {clause:?} needs the form \"property:term\""));
            };
            clauses.push((join, prop.trim().to_string(), term.trim().to_string()));
            rest = after[end + 1..].trim_start();
            if rest.is_empty() {
                break;
            }
            let (word, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            join = Some(match word {
                "AND" => true,
                "OR" => false,
                other => return Err(format!("expected AND or OR in $search, found {other:?}")),
            });
            rest = tail.trim_start();
        }
        let mut iter = clauses.into_iter();
        let Some((_, p, t)) = iter.next() else { return Err("empty $search".into()) };
        Ok(Search { first: (p, t), rest: iter.map(|(j, p, t)| (j.unwrap_or(true), p, t)).collect() })
    }

    /// The properties searched.
    pub(crate) fn properties(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.first.0.as_str()).chain(self.rest.iter().map(|(_, p, _)| p.as_str()))
    }

    pub(crate) fn matches(&self, item: &Value) -> bool {
        let hit = |prop: &str, term: &str| {
            let Some(Value::String(s)) = item.get(prop) else { return false };
            let term = term.to_lowercase();
            s.to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| !w.is_empty() && w.starts_with(&term))
                || (term.chars().any(|c| !c.is_alphanumeric()) && s.to_lowercase().contains(&term))
        };
        let mut result = hit(&self.first.0, &self.first.1);
        for (and, p, t) in &self.rest {
            result = if *and { result && hit(p, t) } else { result || hit(p, t) };
        }
        result
    }
}

/// Percent-encodes a query value for a nextLink.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_parse_and_match() -> Result<(), String> {
        let d = json!({"id": "a", "deviceId": "D-1", "displayName": "SALES-01", "accountEnabled": true,
                       "physicalIds": ["[ZTDId]:x", "[OrderId]:Sales-EMEA"],
                       "extensionAttributes": {"extensionAttribute1": "kiosk"}});
        let yes = [
            "deviceId eq 'd-1'",
            "physicalIds/any(p:startswith(p,'[OrderId]:Sales'))",
            "startswith(displayName,'sales') and accountEnabled eq true",
            "id in ('b', 'a')",
            "not (displayName eq 'x') or id eq 'z'",
            "extensionAttributes/extensionAttribute1 eq 'KIOSK'",
            "displayName ne null",
        ];
        for f in yes {
            assert!(Expr::parse(f)?.matches(&d), "{f}");
        }
        for f in
            ["deviceId eq 'd-2'", "physicalIds/any(p:p eq '[OrderId]:Sales')", "endswith(displayName,'02')"]
        {
            assert!(!Expr::parse(f)?.matches(&d), "{f}");
        }
        assert_eq!(
            Expr::parse("displayName eq 'it''s'")?,
            Expr::Cmp { path: "displayName".into(), op: Op::Eq, value: Lit::Str("it's".into()) }
        );
        assert!(Expr::parse("displayName eq").is_err());
        assert!(Expr::parse("displayName eq 'x' extra").is_err());
        Ok(())
    }

    #[test]
    fn advanced_queries_are_recognised() -> Result<(), String> {
        let c = |f: &str, r| Expr::parse(f).map(|e| classify(&e, r));
        assert_eq!(c("deviceId eq 'x'", Resource::Devices)?, Verdict::Basic);
        assert_eq!(
            c("physicalIds/any(p:startswith(p,'[ZTDId]'))", Resource::Devices)?,
            Verdict::Advanced("physicalIds".into())
        );
        assert_eq!(c("displayName ne 'x'", Resource::Groups)?, Verdict::Advanced("displayName".into()));
        assert_eq!(c("groupTypes/any(c:c eq 'DynamicMembership')", Resource::Groups)?, Verdict::Basic);
        assert_eq!(
            c("contains(displayName,'x')", Resource::Groups)?,
            Verdict::Unsupported("displayName".into())
        );
        assert_eq!(c("manufacturer eq 'x'", Resource::Devices)?, Verdict::Unsupported("manufacturer".into()));
        assert_eq!(c("contains(serialNumber,'PF3')", Resource::Autopilot)?, Verdict::Basic);
        Ok(())
    }

    #[test]
    fn search_matches_word_prefixes() -> Result<(), String> {
        let g = json!({"displayName": "Autopilot - NL-LT-FIN", "description": "Finance laptops"});
        assert!(Search::parse("\"displayName:nl\"")?.matches(&g));
        assert!(Search::parse("\"displayName:xx\" OR \"description:fin\"")?.matches(&g));
        assert!(!Search::parse("\"displayName:auto\" AND \"description:hr\"")?.matches(&g));
        assert!(!Search::parse("\"displayName:pilot\"")?.matches(&g));
        assert!(Search::parse("displayName:x").is_err());
        assert_eq!(encode("a b'/"), "a%20b%27%2F");
        Ok(())
    }
}
