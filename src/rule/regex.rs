//! `-match` patterns: which engine runs them, and what an invalid one is
//! told.
//!
//! Entra ID evaluates `-match` with .NET regular expressions
//! (groups-dynamic-membership: "-match … regular expression"), whose
//! look-around (`(?=`, `(?!`, `(?<=`, `(?<!`), backreferences (`\1`,
//! `\k<name>`), atomic groups (`(?>…)`) and `\Z` a linear-time engine cannot
//! run. Design decisions:
//!
//! * **Linear by default.** A pattern without such a construct runs on the
//!   `regex` crate, whose matching time is linear in the input: no pattern
//!   or value can hang it.
//! * **Backtracking only when needed, and bounded.** A pattern with one of
//!   those constructs runs on `fancy-regex` with a backtrack limit of
//!   [`BACKTRACK_LIMIT`] steps per value. A value that exceeds it is an
//!   evaluation error (see [`take_eval_error`]), never a hang and never a
//!   silent "no match" for callers that ask.
//! * **Case.** Values are matched in fleetlab's folded form (Unicode
//!   lower case), like every other operator, except when the pattern turns
//!   case-insensitivity off somewhere (`(?-i)`, `(?-i:…)`): then the value
//!   is matched as stored and the engine's own case-insensitive mode does
//!   the folding for the rest, so `(?-i)[A-Z]` can see upper case.
//! * **Errors say what to type.** An invalid pattern gets help specific to
//!   the mistake (a `*` with nothing before it, an unclosed `[`, .NET's
//!   literal `{,2}`…), from the `regex-syntax` parser's error kind.

use std::cell::RefCell;

use regex_syntax::ast::ErrorKind;

/// The largest compiled linear regex fleetlab builds; keeps hostile patterns cheap.
const REGEX_SIZE_LIMIT: usize = 1 << 21;
/// Backtracking steps one value may take before its match is an error.
pub const BACKTRACK_LIMIT: usize = 1_000_000;

/// A compiled `-match` pattern.
#[derive(Debug)]
pub(crate) struct Pattern {
    source: String,
    engine: Engine,
    /// Match the stored value, not its folded form (`(?-i)` in the pattern).
    raw: bool,
}

#[derive(Debug)]
enum Engine {
    Linear(regex::Regex),
    Backtracking(Box<fancy_regex::Regex>),
}

/// Why a pattern does not compile: the engine's reason and help for the mistake.
#[derive(Debug)]
pub(crate) struct PatternError {
    pub reason: String,
    pub help: String,
}

thread_local! {
    static EVAL_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The first evaluation error raised on this thread since the last call,
/// cleared. Evaluation returns `bool` on the hot path; the rare backtracking
/// pattern that runs out of steps leaves its reason here instead of threading
/// a `Result` through every operator.
pub(crate) fn take_eval_error() -> Option<String> {
    EVAL_ERROR.with(|e| e.try_borrow_mut().ok().and_then(|mut e| e.take()))
}

fn note_eval_error(message: String) {
    EVAL_ERROR.with(|e| {
        if let Ok(mut e) = e.try_borrow_mut() {
            e.get_or_insert(message);
        }
    });
}

impl Pattern {
    /// Compiles `pattern` (case-insensitive, unanchored).
    pub fn new(pattern: &str) -> Result<Pattern, PatternError> {
        if let Some(at) = open_lower_bound(pattern) {
            let tail: String = pattern[at..].chars().take_while(|c| *c != '}').collect();
            return Err(PatternError {
                reason: format!("`{tail}}}` has no lower bound"),
                help: format!(
                    ".NET reads `{tail}}}` as literal text, not as a repetition; write `{{0{}}}` for \
                     \"at most\", or `\\{{` to match the brace",
                    tail.trim_start_matches('{')
                ),
            });
        }
        let raw = disables_case_insensitivity(pattern);
        let engine = if backtracking_construct(pattern).is_some() {
            fancy_regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(REGEX_SIZE_LIMIT)
                .delegate_dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(|re| Engine::Backtracking(Box::new(re)))
                .map_err(|e| explain(pattern, &e.to_string()))?
        } else {
            regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map(Engine::Linear)
                .map_err(|e| explain(pattern, &e.to_string()))?
        };
        Ok(Pattern { source: pattern.to_string(), engine, raw })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the value must be matched as stored, not folded.
    pub fn raw(&self) -> bool {
        self.raw
    }

    /// True when the pattern runs on the backtracking engine.
    #[cfg(test)]
    pub fn backtracking(&self) -> bool {
        matches!(self.engine, Engine::Backtracking(_))
    }

    /// Whether `value` matches; a backtracking pattern that runs out of
    /// steps counts as no match and leaves an evaluation error.
    pub fn is_match(&self, value: &str) -> bool {
        match &self.engine {
            Engine::Linear(re) => re.is_match(value),
            Engine::Backtracking(re) => match re.is_match(value) {
                Ok(hit) => hit,
                Err(e) => {
                    note_eval_error(format!(
                        "-match \"{}\" gave up on the value {:?}: {e} (more than {BACKTRACK_LIMIT} \
                         backtracking steps); simplify the pattern",
                        self.source,
                        shorten(value)
                    ));
                    false
                }
            },
        }
    }
}

fn shorten(value: &str) -> String {
    if value.chars().count() <= 60 {
        return value.to_string();
    }
    let head: String = value.chars().take(40).collect();
    format!("{head}…")
}

/// The construct that needs the backtracking engine, if any: look-around,
/// backreferences, atomic groups, `\Z`. Skips escaped characters and the
/// insides of character classes, where these spellings mean something else.
pub(crate) fn backtracking_construct(pattern: &str) -> Option<&'static str> {
    let b = pattern.as_bytes();
    let mut i = 0;
    let mut class = 0usize;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let next = b.get(i + 1).copied();
                if class == 0 {
                    match next {
                        Some(b'1'..=b'9') => return Some("a backreference (\\1)"),
                        Some(b'k') if matches!(b.get(i + 2), Some(b'<' | b'\'' | b'{')) => {
                            return Some("a named backreference (\\k<name>)")
                        }
                        Some(b'Z') => return Some("\\Z (end, or before a final newline)"),
                        _ => {}
                    }
                }
                i += 2;
                continue;
            }
            b'[' => class += 1,
            b']' if class > 0 => class -= 1,
            b'(' if class == 0 && b.get(i + 1) == Some(&b'?') => {
                let rest = &b[i + 2..];
                if rest.starts_with(b"=") || rest.starts_with(b"!") {
                    return Some("look-ahead ((?=…), (?!…))");
                }
                if rest.starts_with(b"<=") || rest.starts_with(b"<!") {
                    return Some("look-behind ((?<=…), (?<!…))");
                }
                if rest.starts_with(b">") {
                    return Some("an atomic group ((?>…))");
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// True when an inline flag group turns `i` off: `(?-i)`, `(?s-i:…)`.
fn disables_case_insensitivity(pattern: &str) -> bool {
    let mut rest = pattern;
    while let Some(at) = rest.find("(?") {
        let flags: String =
            rest[at + 2..].chars().take_while(|c| c.is_ascii_alphabetic() || *c == '-').collect();
        if flags.split_once('-').is_some_and(|(_, off)| off.contains('i')) {
            return true;
        }
        rest = &rest[at + 2..];
    }
    false
}

/// Where a `{,n}` repetition starts, outside classes and escapes.
fn open_lower_bound(pattern: &str) -> Option<usize> {
    let b = pattern.as_bytes();
    let mut i = 0;
    let mut class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => class = true,
            b']' => class = false,
            b'{' if !class && b.get(i + 1) == Some(&b',') => {
                let digits = b[i + 2..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 && b.get(i + 2 + digits) == Some(&b'}') {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The engine's reason, shortened to one line, and help for the mistake
/// the `regex-syntax` parser names.
fn explain(pattern: &str, engine_message: &str) -> PatternError {
    let reason = engine_message.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let reason = reason.strip_prefix("error: ").unwrap_or(reason).to_string();
    let kind = regex_syntax::ast::parse::Parser::new().parse(pattern).err().map(|e| e.kind().clone());
    let backreference = reason.to_ascii_lowercase().contains("back reference");
    let help = match kind {
        // The backtracking engine's own complaint; regex-syntax does not know `\k`.
        _ if backreference => {
            "a backreference refers to a group before it: `\\1` to the first `(…)`, `\\k<name>` to \
             a `(?<name>…)`"
        }
        Some(ErrorKind::RepetitionMissing) => {
            "`*`, `+`, `?` and `{n}` repeat what stands before them, and here nothing does; \
             write `.*` for \"any text\" (e.g. `.*@contoso.com`), or `\\*` for a literal star"
        }
        Some(ErrorKind::ClassUnclosed) => {
            "this `[` opens a character class that never closes; write `\\[` for a literal \
             bracket, as in `^\\[ZTDId\\]`"
        }
        Some(ErrorKind::GroupUnclosed) => {
            "this `(` opens a group that never closes; write `\\(` for a literal parenthesis"
        }
        Some(ErrorKind::GroupUnopened) => "this `)` closes no group; write `\\)` for a literal parenthesis",
        Some(ErrorKind::EscapeUnexpectedEof) => {
            "the pattern ends with a lone `\\`; write `\\\\` for a literal backslash"
        }
        Some(ErrorKind::EscapeUnrecognized) => {
            "this escape means nothing here; write the character without the backslash, or \
             `\\\\` for a backslash"
        }
        Some(ErrorKind::ClassRangeInvalid) => {
            "a range such as `a-z` must go from the lower to the higher character"
        }
        Some(ErrorKind::RepetitionCountInvalid) => "in `{n,m}` the first number must not exceed the second",
        Some(ErrorKind::RepetitionCountUnclosed | ErrorKind::RepetitionCountDecimalEmpty) => {
            "a repetition is `{n}`, `{n,}` or `{n,m}`; write `\\{` to match a brace"
        }
        Some(
            ErrorKind::FlagUnrecognized
            | ErrorKind::FlagDanglingNegation
            | ErrorKind::FlagDuplicate { .. }
            | ErrorKind::FlagRepeatedNegation { .. },
        ) => "inline flags are `i`, `m`, `s` and `x`, as in `(?i)` or `(?-i:…)`",
        Some(ErrorKind::GroupNameDuplicate { .. }) => "each named group needs its own name",
        Some(ErrorKind::GroupNameEmpty | ErrorKind::GroupNameInvalid | ErrorKind::GroupNameUnexpectedEof) => {
            "a named group is `(?<name>…)` with a name of letters, digits and `_`"
        }
        Some(ErrorKind::NestLimitExceeded(_)) => "the pattern nests groups too deeply; flatten it",
        _ if reason.contains("exceeds size limit") => {
            "the compiled pattern is too large; use fewer or smaller repetitions"
        }
        _ => "-match takes a .NET-style regular expression; check the pattern near the position shown",
    };
    PatternError { reason, help: help.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn help(p: &str) -> String {
        Pattern::new(p).map(|_| String::new()).unwrap_or_else(|e| e.help)
    }

    #[test]
    fn each_mistake_gets_its_own_help() {
        assert!(help("*@contoso.com").contains(".*"));
        assert!(help("^[ZTDId").contains("\\["));
        assert!(help("(abc").contains("never closes"));
        assert!(help("abc)").contains("closes no group"));
        assert!(help("a{,2}").contains("{0,2}"));
        assert!(help("abc\\").contains("lone"));
    }

    #[test]
    fn dotnet_constructs_run_bounded() {
        for p in [r"(?=a)a", r"(?<!x)a", r"(a)\1", r"(?<n>a)\k<n>", r"(?>a+)b", r"a\Z"] {
            let re = Pattern::new(p);
            assert!(re.as_ref().is_ok_and(Pattern::backtracking), "{p}: {re:?}");
        }
        assert!(Pattern::new(r"[(?=]").is_ok_and(|p| !p.backtracking()));
        let Ok(re) = Pattern::new(r"^(a|a)+\1$") else { return };
        assert!(!re.is_match(&format!("{}b", "a".repeat(40))));
        assert!(take_eval_error().is_some_and(|e| e.contains("gave up")));
        assert!(take_eval_error().is_none());
    }

    #[test]
    fn case_sensitive_parts_see_upper_case() {
        let Ok(re) = Pattern::new("(?-i)^[A-Z]+$") else { return };
        assert!(re.raw());
        assert!(re.is_match("ABC"));
        assert!(!re.is_match("abc"));
        assert!(Pattern::new("(?i)abc").is_ok_and(|p| !p.raw()));
    }
}
