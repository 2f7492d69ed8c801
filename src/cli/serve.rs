//! `fleetlab serve`: flags to a [`crate::serve::ServeConfig`], then the library runs it.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{fail, Failure, Outcome};
use crate::serve::{serve_forever, Limits, ServeConfig, Sources};

pub(super) const HELP: &str = "\
The first line on stdout is the server's URL; open it in a browser for the Rule lab, Groups,
Tenant and Simulate pages, or call the API (GET /api/openapi.json describes it; docs/serve.md).
Graph scripts can point at it: POST /v1.0/groups/evaluateDynamicMembership.

Examples:
  fleetlab serve --devices scenarios/contoso/devices.json --tenant scenarios/contoso/tenant.toml
  fleetlab serve --devices fleet.fleet --groups groups.toml --port 8080
  curl -s localhost:8080/api/v1/eval -H 'content-type: application/json' \\
       -d '{\"rule\": \"device.deviceOSType -eq \\\"Windows\\\"\"}'

The inputs are read again when a file changes, or on POST /api/v1/reload.";

/// `fleetlab serve` flags.
#[derive(Args, Debug)]
pub(super) struct ServeArgs {
    /// Graph device objects (JSON array, Graph page, JSON Lines) or a packed `.fleet` index.
    #[arg(long, value_name = "FILE")]
    devices: PathBuf,
    /// Graph user objects, for user rules.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// An Autopilot tenant file: enables the plan, what-if and flows.
    #[arg(long, value_name = "FILE")]
    tenant: Option<PathBuf>,
    /// A group file (`[[group]]` tables); by default the tenant's dynamic groups.
    #[arg(long, value_name = "FILE")]
    groups: Option<PathBuf>,
    /// A snapshot from `fleetlab sync pull`: its dynamic groups, by Graph id.
    #[arg(long, value_name = "DB")]
    snapshot: Option<PathBuf>,
    /// The port (0: any free port).
    #[arg(long, value_name = "P", default_value_t = 8080)]
    port: u16,
    /// The address to bind; anything but loopback needs --token-file.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    host: IpAddr,
    /// A file holding the bearer token every API call must carry.
    #[arg(long, value_name = "F")]
    token_file: Option<PathBuf>,
    /// Seconds a request may take before it is answered with an error.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    budget: f64,
    /// Do not watch the input files for changes.
    #[arg(long)]
    no_watch: bool,
}

/// What `serve`'s flags alone decide, before the token file or any input
/// is read: the budget's range, and that an address off this machine has
/// a token to guard it (the library refuses it too, but only after the
/// token file was read).
fn validate_serve(args: &ServeArgs) -> Result<(), Failure> {
    if !(args.budget.is_finite() && args.budget > 0.0 && args.budget <= 3600.0) {
        return Err(fail(format!("--budget {}: expected seconds between 0 and 3600", args.budget)));
    }
    if !args.host.is_loopback() && args.token_file.is_none() {
        return Err(fail(crate::serve::ServeError::TokenRequired(args.host)));
    }
    Ok(())
}

pub(super) fn run(args: ServeArgs) -> Outcome {
    validate_serve(&args)?;
    let token = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
            let token = text.trim().to_string();
            if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(fail(format!("{}: expected one token on one line", path.display())));
            }
            Some(token)
        }
        None => None,
    };
    let config = ServeConfig {
        sources: Sources {
            devices: args.devices,
            users: args.users,
            tenant: args.tenant,
            groups: args.groups,
            snapshot: args.snapshot,
        },
        host: args.host,
        port: args.port,
        token,
        limits: Limits { budget: Duration::from_secs_f64(args.budget), ..Limits::default() },
        watch: (!args.no_watch).then_some(Duration::from_secs(1)),
    };
    serve_forever(config, |url| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{url}");
        let _ = out.flush();
        eprintln!("fleetlab serve: listening on {url} (Ctrl-C stops)");
    })
    .map_err(fail)
}
