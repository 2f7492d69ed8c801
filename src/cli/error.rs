//! The one error type of the command line, and the one place it becomes an
//! exit status.
//!
//! Contract (scripts rely on it, and `--help` and the README state it):
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | invalid input or findings: a rule, group file, tenant, scenario or CSV that fleetlab read but that breaks a documented rule (the findings are printed) |
//! | 2 | unusable input or a failed action: a file that cannot be read or parsed, a wrong command line, a failed write, a Graph call that failed |
//! | 3 | `sync pull --strict` only: the pull was partial |
//!
//! Decision: a handler returns the error and prints nothing about it;
//! [`CliError::exit`] prints the message (when the error carries one) and
//! chooses the status, so every command fails the same way. Findings are
//! printed where they are found (they are the command's output), and end
//! the command with [`CliError::Findings`].

use std::fmt::Display;
use std::path::Path;
use std::process::ExitCode;

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Unusable input, a wrong command line or a failed action (exit 2).
    #[error("{0}")]
    Unusable(String),
    /// Invalid input or findings, already printed (exit 1).
    #[error("invalid input or findings (printed above)")]
    Findings,
    /// An action that failed, already printed with its details (exit 2).
    #[error("failed (printed above)")]
    Failed,
    /// `sync pull --strict` on a partial pull, already printed (exit 3).
    #[error("partial pull (printed above)")]
    Partial,
}

impl CliError {
    /// `{path}: {error}`, the form every file error takes.
    pub(crate) fn file(path: &Path, error: impl Display) -> CliError {
        CliError::Unusable(format!("{}: {error}", path.display()))
    }

    /// The exit status of the contract above.
    pub(crate) fn code(&self) -> u8 {
        match self {
            CliError::Findings => 1,
            CliError::Unusable(_) | CliError::Failed => 2,
            CliError::Partial => 3,
        }
    }

    /// Prints the message, if it has not been printed, and returns the status.
    pub(crate) fn exit(&self) -> ExitCode {
        if let CliError::Unusable(message) = self {
            eprintln!("error: {message}");
        }
        ExitCode::from(self.code())
    }
}

/// Unusable input: the message of `error`, exit 2.
pub(crate) fn fail(error: impl Display) -> CliError {
    CliError::Unusable(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_documented_status() {
        assert_eq!(CliError::Findings.code(), 1);
        assert_eq!(fail("x").code(), 2);
        assert_eq!(CliError::Failed.code(), 2);
        assert_eq!(CliError::Partial.code(), 3);
        assert_eq!(CliError::file(Path::new("a.toml"), "gone").to_string(), "a.toml: gone");
    }
}
