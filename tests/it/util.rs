//! The one way the integration tests run the `fleetlab` binary: from the
//! project root, without colours, backtraces or stdin, both streams captured.

use std::error::Error;
use std::path::Path;
use std::process::{Command, Stdio};

/// The binary, run from the project root without colours or stdin.
pub(crate) fn fleetlab() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fleetlab"));
    cmd.current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    cmd
}

/// What a run printed and how it ended.
pub(crate) struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd`, capturing both streams.
pub(crate) fn run(cmd: &mut Command) -> Result<Ran, Box<dyn Error>> {
    let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output()?;
    Ok(Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `fleetlab ARGS…`, run and captured.
pub(crate) fn run_args(args: &[&str]) -> Result<Ran, Box<dyn Error>> {
    run(fleetlab().args(args))
}
