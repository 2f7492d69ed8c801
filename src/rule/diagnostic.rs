//! Rule errors as [`miette::Diagnostic`]s, with the rule text attached so
//! a miette handler draws a caret under the span (feature `diagnostics`).
//!
//! Decision: kept behind a feature because only a terminal front end needs
//! it; an embedder reads [`RuleError::code`], [`RuleError::help`] and
//! [`RuleError::span`] directly, without miette in its build.

use std::fmt;

use super::RuleError;

/// A rule error paired with its source, for miette's caret rendering.
#[derive(Debug)]
pub struct Diagnostic {
    error: RuleError,
    /// None for an over-long rule: its message quotes the ends instead of
    /// printing what may be megabytes of text.
    source: Option<miette::NamedSource<String>>,
}

impl Diagnostic {
    /// Adapts `error` found in `text`; `name` labels the source (a file name,
    /// a group name, or `rule`).
    pub fn new(error: RuleError, name: &str, text: &str) -> Diagnostic {
        if let RuleError::RuleTooLong { .. } = error {
            return Diagnostic { error, source: None };
        }
        // miette draws no marker for an empty span at the very end of the
        // source ("expected a value" after a dangling `-eq`); a trailing
        // space gives the caret a column to stand on.
        let mut source = text.to_string();
        if error.span().is_empty() && error.span().start() >= text.len() {
            source.push(' ');
        }
        Diagnostic { error, source: Some(miette::NamedSource::new(name, source)) }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.error.code()))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.error.help().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let span = self.error.span();
        let label = match &self.error {
            RuleError::Syntax { .. } => "here",
            RuleError::InvalidCharacter { .. } => "this character",
            RuleError::UnknownProperty { .. } => "unknown property",
            RuleError::OperatorNotSupported { .. } => "not allowed here",
            _ => "here",
        };
        Some(Box::new(std::iter::once(miette::LabeledSpan::new(
            Some(label.to_string()),
            span.start(),
            span.len().max(1),
        ))))
    }
}
