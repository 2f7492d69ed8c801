//! The checked program of a device rule → one SQL query: a derived table
//! holding the columns the rule reads, folded once, and a `WHERE` clause
//! over it.
//!
//! Works on the checked program rather than the syntax tree because the
//! checker already did the deciding: properties are resolved, negated
//! operators are a flag on their positive twin, constants are folded and
//! `-in` lists deduplicated. Each [`Matcher`] maps to one SQL form, so the
//! SQL mirrors `eval.rs` construct by construct.
//!
//! Every expression this file emits is two-valued (never NULL): tests are
//! wrapped in `COALESCE(…, FALSE)` unless they cannot be NULL, and the
//! connectives preserve that. Lambdas call their item `x`; no column of the
//! device table has that name, and columns are always quoted.

use std::collections::BTreeMap;

use crate::rule::ast::Quantifier;
use crate::rule::check::{Matcher, Node, NodeKind, Program, Subject, Test};
use crate::rule::{DeviceProperty, Property, PropertyType};
use crate::sql::{column, regex, Dialect, SqlError};

/// Case pairs fleetlab folds (Unicode 16 and 17) that DuckDB 1.5's and
/// Java 21's `lower()` leave alone, as `(first, last, offset, to)`: each
/// letter of `first..=last` folds to `to` when given, else to the letter
/// `offset` code points on.
const PATCH_RANGES: [(char, char, u32, Option<char>); 10] = [
    ('\u{1C89}', '\u{1C89}', 1, None),
    ('\u{A7CB}', '\u{A7CB}', 0, Some('\u{264}')),
    ('\u{A7CC}', '\u{A7CC}', 1, None),
    ('\u{A7CE}', '\u{A7CE}', 1, None),
    ('\u{A7D2}', '\u{A7D2}', 1, None),
    ('\u{A7D4}', '\u{A7D4}', 1, None),
    ('\u{A7DA}', '\u{A7DA}', 1, None),
    ('\u{A7DC}', '\u{A7DC}', 0, Some('\u{19B}')),
    ('\u{10D50}', '\u{10D65}', 0x20, None),
    ('\u{16EA0}', '\u{16EB8}', 0x1B, None),
];

/// The letters whose folding the DuckDB and Spark SQL applies itself with
/// `translate()`, as `(upper, folded)` pairs: the case pairs added in
/// Unicode 16 and 17, which the engines' `lower()` does not know yet.
pub const FOLD_PATCHES: &[(char, char)] = &PATCHES;

const PATCHES: [(char, char); 55] = patches();

const fn patches() -> [(char, char); 55] {
    let mut out = [('\0', '\0'); 55];
    let mut n = 0;
    let mut r = 0;
    while r < PATCH_RANGES.len() {
        let (first, last, offset, to) = PATCH_RANGES[r];
        let mut c = first as u32;
        while c <= last as u32 && n < out.len() {
            let from = match char::from_u32(c) {
                Some(ch) => ch,
                None => '\0',
            };
            let folded = match to {
                Some(t) => t,
                None => match char::from_u32(c + offset) {
                    Some(ch) => ch,
                    None => '\0',
                },
            };
            out[n] = (from, folded);
            n += 1;
            c += 1;
        }
        r += 1;
    }
    out
}

/// The lambda variable of collection predicates.
const VAR: &str = "x";

/// A quoted identifier.
pub(crate) fn ident(name: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Spark => format!("`{}`", name.replace('`', "``")),
        Dialect::DuckDb | Dialect::DataFusion => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// A dotted table name, each part quoted.
pub(crate) fn table_name(name: &str, dialect: Dialect) -> Result<String, SqlError> {
    let bad = |reason| SqlError::InvalidTable { name: name.to_string(), reason };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.contains('\0') {
        return Err(bad("it contains a NUL character"));
    }
    if dialect == Dialect::Spark && name.contains("${") {
        return Err(bad("Spark would substitute the `${…}` in it as a variable"));
    }
    let mut parts = Vec::new();
    for part in name.split('.') {
        if part.is_empty() {
            return Err(bad("it has an empty part between dots"));
        }
        parts.push(ident(part, dialect));
    }
    Ok(parts.join("."))
}

/// A string literal holding exactly `value`.
pub(crate) fn literal(value: &str, dialect: Dialect) -> Result<String, SqlError> {
    if value.contains('\0') {
        return Err(SqlError::NulCharacter { value: value.to_string() });
    }
    Ok(match dialect {
        // Neither parser gives a backslash any meaning in '…'.
        Dialect::DuckDb | Dialect::DataFusion => format!("'{}'", value.replace('\'', "''")),
        Dialect::Spark => spark_literal(value),
    })
}

/// Raw literals (`r'…'`: a backslash is a backslash whatever
/// `spark.sql.parser.escapedStringLiterals` says), with `'` (which a raw
/// literal cannot hold) and `$` (which could start a `${…}` substitution)
/// spliced in as `chr(…)`.
fn spark_literal(value: &str) -> String {
    if !value.contains(['\'', '$']) {
        return format!("r'{value}'");
    }
    let mut parts = Vec::new();
    let mut run = String::new();
    for c in value.chars() {
        let code = match c {
            '\'' => 39,
            '$' => 36,
            _ => {
                run.push(c);
                continue;
            }
        };
        if !run.is_empty() {
            parts.push(format!("r'{run}'"));
            run.clear();
        }
        parts.push(format!("chr({code})"));
    }
    if !run.is_empty() {
        parts.push(format!("r'{run}'"));
    }
    format!("concat({})", parts.join(", "))
}

/// `value` case-folded the way fleetlab folds (see the module docs of
/// [`crate::sql`] for each patch).
fn fold(value: &str, dialect: Dialect) -> String {
    match dialect {
        // Rust's own lower-casing: only the final sigma differs.
        Dialect::DataFusion => format!("replace(lower({value}), 'ς', 'σ')"),
        Dialect::DuckDb | Dialect::Spark => {
            // Fixed texts with no quote, `$` or NUL: plain literals suffice.
            let lit = |s: &str| match dialect {
                Dialect::Spark => spark_literal(s),
                _ => format!("'{s}'"),
            };
            let from: String = FOLD_PATCHES.iter().map(|p| p.0).collect();
            let to: String = FOLD_PATCHES.iter().map(|p| p.1).collect();
            format!(
                "replace(lower(translate(replace({value}, {}, {}), {}, {})), {}, {})",
                lit("İ"),
                lit("i\u{307}"),
                lit(&from),
                lit(&to),
                lit("ς"),
                lit("σ")
            )
        }
    }
}

/// How a column enters the folded table the predicate reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Booleans: as they are.
    Raw,
    /// A string: folded, `NULL` when empty.
    String,
    /// A list of strings: each item folded, `NULL` when empty.
    Items,
    /// `memberOf`: each group id folded, as eval.rs compares them.
    GroupIds,
}

pub(crate) struct Translator {
    dialect: Dialect,
    /// Columns the predicate reads: alias → (source column, shape).
    columns: BTreeMap<String, (String, Shape)>,
}

/// A positive test in SQL, and whether it can be NULL.
struct Positive {
    sql: String,
    nullable: bool,
}

impl Positive {
    fn nullable(sql: String) -> Positive {
        Positive { sql, nullable: true }
    }
    fn total(sql: String) -> Positive {
        Positive { sql, nullable: false }
    }
    /// The two-valued form, negated or not.
    fn finish(self, negated: bool) -> String {
        let sql = if self.nullable { format!("COALESCE({}, FALSE)", self.sql) } else { self.sql };
        if negated {
            format!("(NOT {sql})")
        } else {
            sql
        }
    }
}

impl Translator {
    pub(crate) fn new(dialect: Dialect) -> Translator {
        Translator { dialect, columns: BTreeMap::new() }
    }

    /// The whole query. Folding is done once per column, in a derived
    /// table whose columns keep their names (the object id, which is also
    /// the result, is read folded as `objectId`), so the predicate compares
    /// folded values with folded constants and reads like the rule.
    pub(crate) fn query(mut self, program: &Program, table: &str) -> Result<String, SqlError> {
        let predicate = self.program(program)?;
        let d = self.dialect;
        let id = ident("id", d);
        let folded: Vec<String> = self
            .columns
            .iter()
            .filter(|(_, (_, shape))| *shape != Shape::Raw)
            .map(|(alias, (col, shape))| {
                let col = ident(col, d);
                let expr = match shape {
                    Shape::String | Shape::Raw => fold(&format!("NULLIF({col}, '')"), d),
                    Shape::Items => self.transform(&col, &fold(&format!("NULLIF({VAR}, '')"), d)),
                    Shape::GroupIds => self.transform(&col, &fold(VAR, d)),
                };
                format!("{expr} AS {}", ident(alias, d))
            })
            .collect();
        if folded.is_empty() {
            return Ok(format!("SELECT {id} FROM {table} WHERE {predicate}"));
        }
        let raw = self
            .columns
            .iter()
            .filter(|(_, (_, shape))| *shape == Shape::Raw)
            .map(|(alias, _)| ident(alias, d));
        let select: Vec<String> = std::iter::once(id.clone()).chain(raw).chain(folded).collect();
        let derived = ident("folded", d);
        Ok(format!(
            "SELECT {id} FROM (SELECT {} FROM {table}) AS {derived} WHERE {predicate}",
            select.join(", ")
        ))
    }

    fn program(&mut self, program: &Program) -> Result<String, SqlError> {
        match program {
            Program::Expr(node) => self.node(node),
            Program::DirectReports { .. } => Err(SqlError::DirectReports),
            Program::MemberOf { property, ids } => {
                let list = self.column(property, Shape::GroupIds)?;
                // eval.rs compares the folded group id as is: no NULLIF here.
                let test = self.in_list(VAR, ids)?;
                Ok(self.any(&list, &Positive::nullable(test).finish(false)))
            }
        }
    }

    fn node(&mut self, node: &Node) -> Result<String, SqlError> {
        Ok(match &node.kind {
            NodeKind::Or(parts) => self.join(parts, " OR ", "FALSE")?,
            NodeKind::And(parts) => self.join(parts, " AND ", "TRUE")?,
            NodeKind::Not(inner) => format!("(NOT {})", self.node(inner)?),
            NodeKind::Test(test) => self.test(test)?,
            NodeKind::Quantified { property, quantifier, over_plans, predicate } => {
                if *over_plans {
                    return Err(SqlError::Unsupported { what: "user.assignedPlans".into() });
                }
                let list = self.column(property, Shape::Items)?;
                let predicate = self.node(predicate)?;
                match quantifier {
                    Quantifier::Any => self.any(&list, &predicate),
                    // all(p) = not any(not p): vacuously true on no items.
                    Quantifier::All => format!("(NOT {})", self.any(&list, &format!("(NOT {predicate})"))),
                }
            }
        })
    }

    fn join(&mut self, parts: &[Node], op: &str, empty: &str) -> Result<String, SqlError> {
        if parts.is_empty() {
            return Ok(empty.to_string());
        }
        let parts = parts.iter().map(|p| self.node(p)).collect::<Result<Vec<_>, _>>()?;
        Ok(format!("({})", parts.join(op)))
    }

    /// `list` with `expr` (over `x`) applied to each item.
    fn transform(&self, list: &str, expr: &str) -> String {
        match self.dialect {
            Dialect::DuckDb => format!("list_transform({list}, lambda {VAR}: {expr})"),
            Dialect::Spark => format!("transform({list}, {VAR} -> {expr})"),
            Dialect::DataFusion => format!("array_transform({list}, {VAR} -> {expr})"),
        }
    }

    /// True when some item of `list` satisfies the two-valued `predicate`
    /// over `x`; false for an empty or NULL list.
    fn any(&self, list: &str, predicate: &str) -> String {
        match self.dialect {
            Dialect::DuckDb => {
                format!("COALESCE(len(list_filter({list}, lambda {VAR}: {predicate})) > 0, FALSE)")
            }
            Dialect::Spark => format!("COALESCE(exists({list}, {VAR} -> {predicate}), FALSE)"),
            Dialect::DataFusion => format!("COALESCE(array_any_match({list}, {VAR} -> {predicate}), FALSE)"),
        }
    }

    /// True when `list` is NULL or has no items.
    fn is_empty(&self, list: &str) -> String {
        match self.dialect {
            Dialect::DuckDb => format!("(COALESCE(len({list}), 0) = 0)"),
            // size(NULL) is -1 unless ANSI mode makes it NULL: both count as empty.
            Dialect::Spark => format!("(COALESCE(size({list}), 0) <= 0)"),
            Dialect::DataFusion => format!("(COALESCE(cardinality({list}), 0) = 0)"),
        }
    }

    fn device_property<'p>(&self, property: &'p Property) -> Result<&'p DeviceProperty, SqlError> {
        match property {
            Property::Device(p) => Ok(p),
            Property::Extension { .. } => Err(SqlError::CustomExtension { property: property.to_string() }),
            Property::User(_) => Err(SqlError::NotDeviceRule { object: property.object() }),
        }
    }

    /// The (quoted) name the predicate reads `property` by, in `shape`.
    fn column(&mut self, property: &Property, shape: Shape) -> Result<String, SqlError> {
        let col = match property {
            // The export writes each custom extension as a column of its own name.
            Property::Extension { name, .. } => name.clone(),
            _ => column(*self.device_property(property)?),
        };
        // The result column stays as it is; its folded twin gets the rule's name.
        let alias = if col == "id" { "objectId".to_string() } else { col.clone() };
        self.columns.insert(alias.clone(), (col, shape));
        Ok(ident(&alias, self.dialect))
    }

    fn test(&mut self, test: &Test) -> Result<String, SqlError> {
        let positive = match &test.subject {
            Subject::Item => self.string_test(VAR, &test.matcher)?,
            Subject::Plan(_) => return Err(SqlError::Unsupported { what: "user.assignedPlans".into() }),
            Subject::Property(property) => {
                if let Property::User(_) = property {
                    return Err(SqlError::NotDeviceRule { object: property.object() });
                }
                match property.ty() {
                    PropertyType::StringCollection | PropertyType::GroupCollection => {
                        let list = self.column(property, Shape::Items)?;
                        if let Matcher::IsNull = test.matcher {
                            Positive::total(self.is_empty(&list))
                        } else {
                            // Implicit any.
                            let item = self.string_test(VAR, &test.matcher)?;
                            Positive::total(self.any(&list, &item.finish(false)))
                        }
                    }
                    PropertyType::Bool => {
                        let col = self.column(property, Shape::Raw)?;
                        self.bool_test(&col, &test.matcher)?
                    }
                    PropertyType::String => {
                        let col = self.column(property, Shape::String)?;
                        self.string_test(&col, &test.matcher)?
                    }
                    PropertyType::DateTime | PropertyType::PlanCollection => {
                        return Err(SqlError::Unsupported { what: format!("{property}") })
                    }
                }
            }
        };
        Ok(positive.finish(test.negated))
    }

    fn bool_test(&self, col: &str, matcher: &Matcher) -> Result<Positive, SqlError> {
        Ok(match matcher {
            Matcher::IsNull => Positive::total(format!("({col} IS NULL)")),
            Matcher::Bool(b) => {
                Positive::nullable(format!("({col} = {})", if *b { "TRUE" } else { "FALSE" }))
            }
            // A boolean read as the text `true`/`false`, as eval.rs does.
            other => self.string_test(
                &format!("(CASE WHEN {col} THEN 'true' WHEN NOT {col} THEN 'false' END)"),
                other,
            )?,
        })
    }

    /// The positive test of `matcher` on `value`: a folded string, NULL
    /// when unset.
    fn string_test(&self, value: &str, matcher: &Matcher) -> Result<Positive, SqlError> {
        let d = self.dialect;
        Ok(match matcher {
            Matcher::IsNull => Positive::total(format!("({value} IS NULL)")),
            // eval.rs: eq_ignore_ascii_case with "true"/"false"; no other
            // character folds to one of their letters.
            Matcher::Bool(b) => {
                Positive::nullable(format!("({value} = '{}')", if *b { "true" } else { "false" }))
            }
            Matcher::Equals(c) => Positive::nullable(format!("({value} = {})", literal(c, d)?)),
            Matcher::StartsWith(c) => {
                let f = if d == Dialect::Spark { "startswith" } else { "starts_with" };
                Positive::nullable(format!("{f}({value}, {})", literal(c, d)?))
            }
            Matcher::EndsWith(c) => {
                let f = if d == Dialect::Spark { "endswith" } else { "ends_with" };
                Positive::nullable(format!("{f}({value}, {})", literal(c, d)?))
            }
            Matcher::Contains(c) => Positive::nullable(format!("contains({value}, {})", literal(c, d)?)),
            Matcher::Regex(re) => {
                if let Some(construct) = crate::rule::regex::backtracking_construct(re.as_str()) {
                    return Err(SqlError::UnsupportedRegex {
                        pattern: re.as_str().to_string(),
                        construct: construct.to_string(),
                        engine: d.engine(),
                        hint: Some(
                            "the SQL engines' regular expressions run in linear time and have no \
                             look-around, backreferences or atomic groups; fleetlab eval runs this \
                             pattern with a bounded backtracking engine"
                                .into(),
                        ),
                    });
                }
                if re.raw() {
                    // The table's text is compared folded; a case-sensitive part cannot be.
                    return Err(SqlError::UnsupportedRegex {
                        pattern: re.as_str().to_string(),
                        construct: "a case-sensitive part ((?-i))".into(),
                        engine: d.engine(),
                        hint: Some("the query matches folded (lower-case) text; drop (?-i)".into()),
                    });
                }
                let pattern = regex::translate(re.as_str(), d)?;
                let pattern = match d {
                    // The printed pattern holds no quote and no `$`.
                    Dialect::Spark => format!("r'{pattern}'"),
                    _ => format!("'{pattern}'"),
                };
                Positive::nullable(match d {
                    Dialect::DuckDb => format!("regexp_matches({value}, {pattern})"),
                    Dialect::Spark => format!("regexp_like({value}, {pattern})"),
                    // DataFusion 55 rewrites a two-argument regexp_like whose
                    // pattern is a literal run into `LIKE '%…%'` without
                    // escaping a backslash, LIKE's escape character, so a
                    // pattern matching `\` would test something else. With a
                    // flags argument other than '' or 'i' the call runs as
                    // written; `u` (Unicode) is the regex crate's default.
                    Dialect::DataFusion => format!("regexp_like({value}, {pattern}, 'u')"),
                })
            }
            Matcher::InList(items) => Positive::nullable(self.in_list(value, items)?),
            Matcher::Date(..) => return Err(SqlError::Unsupported { what: "a date-time comparison".into() }),
        })
    }

    fn in_list(&self, folded: &str, items: &[String]) -> Result<String, SqlError> {
        if items.is_empty() {
            return Ok("FALSE".into());
        }
        let items = items.iter().map(|i| literal(i, self.dialect)).collect::<Result<Vec<_>, _>>()?;
        Ok(format!("({folded} IN ({}))", items.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::eval::fold as fleetlab_fold;

    #[test]
    fn patches_are_fleetlab_folding() {
        assert_eq!(FOLD_PATCHES.len(), 55);
        for (from, to) in FOLD_PATCHES {
            assert_ne!(from, to);
            assert_eq!(fleetlab_fold(&from.to_string()), to.to_string(), "{from:?}");
        }
    }

    #[test]
    fn literals_cannot_escape_their_quotes() -> Result<(), SqlError> {
        assert_eq!(literal(r"O'Brien \' --", Dialect::DuckDb)?, r"'O''Brien \'' --'");
        assert_eq!(literal(r"a\", Dialect::DataFusion)?, r"'a\'");
        assert_eq!(literal(r"a\", Dialect::Spark)?, r"r'a\'");
        assert_eq!(
            literal("it's ${env:HOME}", Dialect::Spark)?,
            "concat(r'it', chr(39), r's ', chr(36), r'{env:HOME}')"
        );
        assert!(matches!(literal("a\0b", Dialect::DuckDb), Err(SqlError::NulCharacter { .. })));
        Ok(())
    }

    #[test]
    fn table_names_are_quoted_per_part() -> Result<(), SqlError> {
        assert_eq!(table_name("main.devices", Dialect::DuckDb)?, "\"main\".\"devices\"");
        assert_eq!(table_name("we\"ird", Dialect::DataFusion)?, "\"we\"\"ird\"");
        assert_eq!(table_name("db.t`x", Dialect::Spark)?, "`db`.`t``x`");
        assert!(table_name("a..b", Dialect::DuckDb).is_err());
        assert!(table_name("", Dialect::DuckDb).is_err());
        assert!(table_name("t${x}", Dialect::Spark).is_err());
        Ok(())
    }
}
