//! A `-match` pattern → the same regular expression in RE2 (DuckDB), Java
//! (Spark) or Rust (DataFusion) syntax.
//!
//! The pattern is parsed by `regex-syntax`, the parser of the regex crate
//! fleetlab evaluates with, with fleetlab's flags (case-insensitive,
//! Unicode), into its high-level IR. In that IR case-insensitivity is
//! already applied (`k` is the class `[Kk\x{212A}]`), `.`, `\w`, `\d`,
//! `\p{…}` and `[[:alpha:]]` are explicit sets of code point ranges, and
//! captures are just groups. Printing it back needs nothing from the target
//! engine but literals, classes of `\x{…}` ranges, groups, alternation,
//! repetition and a few assertions, which all three spell alike; so the
//! engines' different Unicode tables, case-folding rules and `\w`/`\d`/`\s`
//! definitions never come into play.
//!
//! Every character except ASCII letters and digits is written `\x{…}`, so
//! the printed pattern contains no quote, no `$` and no character any of the
//! three syntaxes treats specially. Assertions differ per engine:
//!
//! | IR | RE2 | Java | Rust |
//! |---|---|---|---|
//! | start / end of text | `\A` `\z` | `\A` `\z` (Java's `$` also matches before a final `\n`) | `\A` `\z` |
//! | line start / end (`(?m)`) | `(?m:^)` `(?m:$)` | look-around on `\n` (Java's own also honour `\r`, U+2028, …) | `(?m:^)` `(?m:$)` |
//! | CRLF-aware lines (`(?mR)`) | rejected | look-around | `(?mR:^)` `(?mR:$)` |
//! | ASCII `\b` `\B` | `\b` `\B` | look-around on `[0-9A-Za-z_]` | `(?-u:\b)` `(?-u:\B)` |
//! | ASCII word start/end | rejected | look-around | `(?-u:\b{start})` … |
//! | Unicode word boundaries | rejected | rejected | `\b` `\B` `\b{start}` … |

use regex_syntax::hir::{Class, Hir, HirKind, Look};

use crate::sql::{Dialect, SqlError};

/// RE2 refuses repetition counts above this.
const RE2_MAX_REPEAT: u32 = 1000;

/// ASCII word characters, for Java look-around.
const ASCII_WORD: &str = "[0-9A-Za-z\\x{5F}]";

/// `pattern` (as written in a `-match`) in `dialect`'s syntax, to be matched
/// case-sensitively and unanchored against the folded value.
pub(crate) fn translate(pattern: &str, dialect: Dialect) -> Result<String, SqlError> {
    // The flags of check.rs's RegexBuilder; everything else is the default of both.
    let hir =
        regex_syntax::ParserBuilder::new().case_insensitive(true).build().parse(pattern).map_err(|e| {
            SqlError::UnsupportedRegex {
                pattern: pattern.to_string(),
                construct: format!("syntax the regex parser rejects ({e})"),
                engine: dialect.engine(),
                hint: None,
            }
        })?;
    let mut out = String::new();
    Printer { pattern, dialect }.hir(&hir, &mut out)?;
    Ok(out)
}

struct Printer<'a> {
    pattern: &'a str,
    dialect: Dialect,
}

impl Printer<'_> {
    fn unsupported(&self, construct: &str, hint: Option<&str>) -> SqlError {
        SqlError::UnsupportedRegex {
            pattern: self.pattern.to_string(),
            construct: construct.to_string(),
            engine: self.dialect.engine(),
            hint: hint.map(str::to_string),
        }
    }

    fn hir(&self, hir: &Hir, out: &mut String) -> Result<(), SqlError> {
        match hir.kind() {
            HirKind::Empty => out.push_str("(?:)"),
            HirKind::Literal(lit) => {
                let text = std::str::from_utf8(&lit.0)
                    .map_err(|_| self.unsupported("a non-UTF-8 byte literal", None))?;
                for c in text.chars() {
                    push_char(c, out);
                }
            }
            HirKind::Class(Class::Unicode(class)) => {
                self.class(class.ranges().iter().map(|r| (r.start() as u32, r.end() as u32)), out)
            }
            HirKind::Class(Class::Bytes(class)) => {
                if class.ranges().iter().any(|r| r.end() > 0x7F) {
                    return Err(self.unsupported("a byte class beyond ASCII", None));
                }
                self.class(class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))), out)
            }
            HirKind::Look(look) => self.look(*look, out)?,
            HirKind::Repetition(rep) => {
                if self.dialect == Dialect::DuckDb
                    && (rep.min > RE2_MAX_REPEAT || rep.max.is_some_and(|m| m > RE2_MAX_REPEAT))
                {
                    return Err(
                        self.unsupported("a repetition count above 1000", Some("RE2 allows at most {1000}"))
                    );
                }
                out.push_str("(?:");
                self.hir(&rep.sub, out)?;
                out.push(')');
                match (rep.min, rep.max) {
                    (0, None) => out.push('*'),
                    (1, None) => out.push('+'),
                    (0, Some(1)) => out.push('?'),
                    (n, None) => out.push_str(&format!("{{{n},}}")),
                    (n, Some(m)) if n == m => out.push_str(&format!("{{{n}}}")),
                    (n, Some(m)) => out.push_str(&format!("{{{n},{m}}}")),
                }
                if !rep.greedy {
                    out.push('?');
                }
            }
            HirKind::Capture(cap) => {
                out.push_str("(?:");
                self.hir(&cap.sub, out)?;
                out.push(')');
            }
            HirKind::Concat(parts) => {
                for part in parts {
                    self.hir(part, out)?;
                }
            }
            HirKind::Alternation(parts) => {
                out.push_str("(?:");
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    self.hir(part, out)?;
                }
                out.push(')');
            }
        }
        Ok(())
    }

    /// A class of inclusive code point ranges; an empty one matches nothing.
    fn class(&self, ranges: impl Iterator<Item = (u32, u32)>, out: &mut String) {
        let mut body = String::new();
        for (lo, hi) in ranges {
            // Never name a surrogate: split a range that spans them.
            let pieces: &[(u32, u32)] =
                if lo < 0xD800 && hi > 0xDFFF { &[(lo, 0xD7FF), (0xE000, hi)] } else { &[(lo, hi)] };
            for &(lo, hi) in pieces {
                push_code(lo, &mut body);
                if hi > lo {
                    body.push('-');
                    push_code(hi, &mut body);
                }
            }
        }
        if body.is_empty() {
            out.push_str("[^\\x{0}-\\x{10FFFF}]");
        } else {
            out.push('[');
            out.push_str(&body);
            out.push(']');
        }
    }

    fn look(&self, look: Look, out: &mut String) -> Result<(), SqlError> {
        use Dialect::*;
        let word_hint = Some("write (?-u:\\b) for an ASCII word boundary, which every engine has");
        let s: String = match (look, self.dialect) {
            (Look::Start, _) => "\\A".into(),
            (Look::End, _) => "\\z".into(),
            (Look::StartLF, Spark) => "(?:\\A|(?<=\\x{A}))".into(),
            (Look::EndLF, Spark) => "(?:\\z|(?=\\x{A}))".into(),
            (Look::StartLF, _) => "(?m:^)".into(),
            (Look::EndLF, _) => "(?m:$)".into(),
            (Look::StartCRLF, Spark) => "(?:\\A|(?<=\\x{A})|(?<=\\x{D})(?!\\x{A}))".into(),
            (Look::EndCRLF, Spark) => "(?:\\z|(?=\\x{D})|(?<!\\x{D})(?=\\x{A}))".into(),
            (Look::StartCRLF, DataFusion) => "(?mR:^)".into(),
            (Look::EndCRLF, DataFusion) => "(?mR:$)".into(),
            (Look::StartCRLF | Look::EndCRLF, DuckDb) => {
                return Err(
                    self.unsupported("CRLF-aware line anchors ((?R) with (?m))", Some("drop the R flag"))
                )
            }
            (Look::WordAscii, DuckDb) => "\\b".into(),
            (Look::WordAsciiNegate, DuckDb) => "\\B".into(),
            (Look::WordAscii, DataFusion) => "(?-u:\\b)".into(),
            (Look::WordAsciiNegate, DataFusion) => "(?-u:\\B)".into(),
            (Look::WordStartAscii, DataFusion) => "(?-u:\\b{start})".into(),
            (Look::WordEndAscii, DataFusion) => "(?-u:\\b{end})".into(),
            (Look::WordStartHalfAscii, DataFusion) => "(?-u:\\b{start-half})".into(),
            (Look::WordEndHalfAscii, DataFusion) => "(?-u:\\b{end-half})".into(),
            (Look::WordUnicode, DataFusion) => "\\b".into(),
            (Look::WordUnicodeNegate, DataFusion) => "\\B".into(),
            (Look::WordStartUnicode, DataFusion) => "\\b{start}".into(),
            (Look::WordEndUnicode, DataFusion) => "\\b{end}".into(),
            (Look::WordStartHalfUnicode, DataFusion) => "\\b{start-half}".into(),
            (Look::WordEndHalfUnicode, DataFusion) => "\\b{end-half}".into(),
            (Look::WordAscii, Spark) => format!("(?:(?<={w})(?!{w})|(?<!{w})(?={w}))", w = ASCII_WORD),
            (Look::WordAsciiNegate, Spark) => format!("(?:(?<={w})(?={w})|(?<!{w})(?!{w}))", w = ASCII_WORD),
            (Look::WordStartAscii, Spark) => format!("(?<!{w})(?={w})", w = ASCII_WORD),
            (Look::WordEndAscii, Spark) => format!("(?<={w})(?!{w})", w = ASCII_WORD),
            (Look::WordStartHalfAscii, Spark) => format!("(?<!{w})", w = ASCII_WORD),
            (Look::WordEndHalfAscii, Spark) => format!("(?!{w})", w = ASCII_WORD),
            (
                Look::WordStartAscii | Look::WordEndAscii | Look::WordStartHalfAscii | Look::WordEndHalfAscii,
                DuckDb,
            ) => {
                return Err(self.unsupported(
                    "a word-start or word-end assertion",
                    Some("RE2 has no look-around; (?-u:\\b) is the nearest it has"),
                ))
            }
            (
                Look::WordUnicode
                | Look::WordUnicodeNegate
                | Look::WordStartUnicode
                | Look::WordEndUnicode
                | Look::WordStartHalfUnicode
                | Look::WordEndHalfUnicode,
                DuckDb | Spark,
            ) => return Err(self.unsupported("a Unicode word boundary (\\b, \\B, \\<, \\>)", word_hint)),
        };
        out.push_str(&s);
        Ok(())
    }
}

/// One character as a literal every syntax reads the same way.
fn push_char(c: char, out: &mut String) {
    push_code(c as u32, out)
}

fn push_code(code: u32, out: &mut String) {
    match char::from_u32(code) {
        Some(c) if c.is_ascii_alphanumeric() => out.push(c),
        _ => out.push_str(&format!("\\x{{{code:X}}}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_explicit_and_case_folded() -> Result<(), SqlError> {
        assert_eq!(translate("^\\[ZTDId\\]", Dialect::DuckDb)?, "\\A\\x{5B}[Zz][Tt][Dd][Ii][Dd]\\x{5D}");
        // Kelvin sign: the engine needs no Unicode case tables.
        assert_eq!(translate("k$", Dialect::Spark)?, "[Kk\\x{212A}]\\z");
        assert_eq!(translate("a{2,}?|", Dialect::DataFusion)?, "(?:(?:[Aa]){2,}?|(?:))");
        assert_eq!(translate("[^\\x00-\\x{10FFFF}]", Dialect::DuckDb)?, "[^\\x{0}-\\x{10FFFF}]");
        Ok(())
    }

    #[test]
    fn unexpressible_constructs_are_errors() {
        assert!(matches!(translate("\\bx", Dialect::DuckDb), Err(SqlError::UnsupportedRegex { .. })));
        assert!(matches!(translate("\\bx", Dialect::Spark), Err(SqlError::UnsupportedRegex { .. })));
        assert!(translate("\\bx", Dialect::DataFusion).is_ok());
        assert!(translate("(?-u:\\b)x", Dialect::DuckDb).is_ok());
        assert!(matches!(translate("a{1001}", Dialect::DuckDb), Err(SqlError::UnsupportedRegex { .. })));
        assert!(translate("a{1001}", Dialect::Spark).is_ok());
    }
}
