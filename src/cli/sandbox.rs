//! `fleetlab sandbox serve`: the fake Graph of [`crate::msgraph::fake`] as
//! a process, for demos and for trying `fleetlab sync` without a tenant.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

use super::{fail, Failure, Outcome};
use crate::msgraph::fake::{FakeConfig, FakeServer, Faults, LoopBug, Modes, RetryAfterStyle, Scenario};

const SERVE_HELP: &str = "\
Prints the URL it listens on (one line on stdout), then serves until stopped. The token endpoint \
accepts any client id and any non-empty secret unless --require-secret-env names a variable \
holding the one to accept. Issued tokens carry the application permissions of --roles (default: \
what `fleetlab sync` needs, Device.Read.All, GroupMember.Read.All, Group.ReadWrite.All and \
DeviceManagementServiceConfig.ReadWrite.All); a route called without its permission gets Graph's 403. \
Autopilot imports (POST …/importedWindowsAutopilotDeviceIdentities or …/import) read `unknown`, \
then `pending`, and end `complete` (the device is registered with its [ZTDId]) or `error` (806 for a \
serial already in the tenant, 808 for one in --other-tenant-serials) after --import-delay; Graph takes \
tens of seconds to about 15 minutes. A group tag set with updateDeviceProperties shows on the \
Autopilot identity at once and reaches the Entra device's [OrderId], and so dynamic groups, after \
--tag-delay; Graph takes minutes. \
Test endpoints under /_fake/ add, edit and delete devices \
(POST /_fake/devices, PATCH|DELETE /_fake/devices/{id}), expire delta tokens \
(POST /_fake/delta/expire), move the clock of the Autopilot timers (POST /_fake/clock/advance \
with {\"seconds\": 90}), list import records (GET /_fake/imports) and report counters \
(GET /_fake/stats). \
Shapes follow Microsoft's documented examples: a devices delta without $select returns only the \
properties of the \"device: delta\" example (so a client must select physicalIds), the $select of a \
delta round travels in its tokens, and Prefer: return=minimal trims group delta rounds from a \
deltaLink.

Examples:
  fleetlab sandbox serve --scenario scenarios/contoso --port 8080
  # An app that may only read: `sync apply` gets 403s naming what is missing
  fleetlab sandbox serve --scenario scenarios/contoso \\
      --roles Device.Read.All,GroupMember.Read.All,DeviceManagementServiceConfig.Read.All
  fleetlab sandbox serve --generate 100000 --groups scenarios/enterprise/groups.toml \\
      --page-size 999 --throttle 0.1 --server-errors 0.01 --latency 50-150";

/// `fleetlab sandbox …`
#[derive(Subcommand, Debug)]
pub(super) enum SandboxCommand {
    /// Serve a fake Microsoft Graph on 127.0.0.1.
    #[command(after_help = SERVE_HELP)]
    Serve(Serve),
}

#[derive(Args, Debug)]
pub(super) struct Serve {
    /// A scenario directory: devices.json, and optionally users.json, groups.toml, profiles.json.
    #[arg(long, value_name = "DIR", conflicts_with = "generate", required_unless_present = "generate")]
    scenario: Option<PathBuf>,
    /// Serve a generated fleet of N devices instead (`fleetlab generate`).
    #[arg(long, value_name = "N")]
    generate: Option<u64>,
    /// Seed of the generated fleet.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Dynamic groups for a generated fleet (or to replace the scenario's).
    #[arg(long, value_name = "FILE")]
    groups: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Directory and delta page size (Graph: 100 by default, `$top` up to 999).
    #[arg(long, value_name = "N", default_value_t = 100)]
    page_size: usize,
    /// Autopilot page size.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    autopilot_page_size: usize,
    /// Lifetime of issued tokens, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3599)]
    token_lifetime: u64,
    /// Application permissions the tokens grant, comma-separated (`--roles ''`: none).
    #[arg(long, value_name = "ROLE,…", value_delimiter = ',')]
    roles: Option<Vec<String>>,
    /// Accept only the client secret held in this environment variable.
    #[arg(long, value_name = "VAR")]
    require_secret_env: Option<String>,
    /// Autopilot sync cooldown, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    sync_cooldown: u64,
    /// Seconds from an Autopilot import's POST to its final state (Graph: tens of seconds to ~15 minutes).
    #[arg(long, value_name = "SECS", default_value = "3", value_parser = parse_secs)]
    import_delay: Duration,
    /// Seconds before a group tag set with updateDeviceProperties reaches the Entra device (Graph: minutes).
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = parse_secs)]
    tag_delay: Duration,
    /// Serials registered to another tenant: importing one ends in error 808.
    #[arg(long, value_name = "SERIAL,…", value_delimiter = ',')]
    other_tenant_serials: Vec<String>,
    /// Share of Graph requests answered 429.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    throttle: f64,
    /// Retry-After on 429/503, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 1)]
    retry_after: u64,
    /// How Retry-After is written.
    #[arg(long, value_enum, default_value = "seconds")]
    retry_after_style: StyleArg,
    /// Share answered 500.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    server_errors: f64,
    /// Share answered 503.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    unavailable: f64,
    /// Share of bodies cut off mid-transfer.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    truncate: f64,
    /// Added latency per request, milliseconds: `MS` or `MIN-MAX`.
    #[arg(long, value_name = "MS", value_parser = parse_range)]
    latency: Option<(u64, u64)>,
    /// Reproduce a looping pager: the nextLink repeats, or the page does.
    #[arg(long, value_enum, default_value = "none")]
    loop_bug: LoopArg,
    /// Seed of the fault draws.
    #[arg(long, value_name = "S", default_value_t = 1)]
    fault_seed: u64,
    /// Write @odata.type of profiles and assignment targets without the leading `#`, as
    /// Intune's documentation examples do.
    #[arg(long)]
    unprefixed_types: bool,
    /// Answer a devices delta without $select with every property, not only those of the
    /// documented example response.
    #[arg(long)]
    all_device_properties: bool,
    /// Refuse the profile assignments route with Intune's 403 (a partial pull to try).
    #[arg(long)]
    refuse_assignments: bool,
    /// Print only the URL.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum StyleArg {
    Seconds,
    Date,
    Absent,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LoopArg {
    None,
    SameLink,
    SamePage,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .ok_or_else(|| format!("{s:?} is not a number of seconds (0 or more)"))
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let parse = |t: &str| t.trim().parse::<u64>().map_err(|_| format!("{s:?} is not MS or MIN-MAX"));
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                return Err(format!("{s:?}: the minimum is above the maximum"));
            }
            Ok((a, b))
        }
        None => parse(s).map(|v| (v, v)),
    }
}

/// The client secret and the injected faults, from the flags (and the
/// environment variable `--require-secret-env` names) alone: a share out of
/// range or an unset variable is refused before any scenario is read.
fn resolve_faults(args: &Serve) -> Result<(Option<String>, Faults), Failure> {
    let client_secret = match &args.require_secret_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            fail(format!("--require-secret-env {var}: the environment variable {var} is not set"))
        })?),
        None => None,
    };
    let share = |name: &str, v: f64| {
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(fail(format!("--{name} is a share between 0 and 1")))
        }
    };
    let faults = Faults {
        throttle: share("throttle", args.throttle)?,
        retry_after_secs: args.retry_after,
        retry_after_style: match args.retry_after_style {
            StyleArg::Seconds => RetryAfterStyle::Seconds,
            StyleArg::Date => RetryAfterStyle::Date,
            StyleArg::Absent => RetryAfterStyle::Absent,
        },
        server_error: share("server-errors", args.server_errors)?,
        unavailable: share("unavailable", args.unavailable)?,
        truncate: share("truncate", args.truncate)?,
        latency_ms: args.latency,
        loop_bug: match args.loop_bug {
            LoopArg::None => LoopBug::None,
            LoopArg::SameLink => LoopBug::SameLink,
            LoopArg::SamePage => LoopBug::SamePage,
        },
        seed: args.fault_seed,
    };
    Ok((client_secret, faults))
}

pub(super) fn run(command: SandboxCommand) -> Outcome {
    let SandboxCommand::Serve(args) = command;
    // First stage: the flags alone, before a scenario is read or generated.
    let (client_secret, faults) = resolve_faults(&args)?;
    let mut scenario = match (&args.scenario, args.generate) {
        (Some(dir), _) => Scenario::load(dir).map_err(fail)?,
        (None, Some(n)) => Scenario::generated(n, args.seed).map_err(fail)?,
        (None, None) => return Err(fail("give --scenario DIR or --generate N")),
    };
    if let Some(path) = &args.groups {
        scenario.groups = Scenario::groups_from(path).map_err(fail)?;
    }
    let config = FakeConfig {
        page_size: args.page_size.max(1),
        autopilot_page_size: args.autopilot_page_size.max(1),
        token_lifetime: Duration::from_secs(args.token_lifetime.max(1)),
        client_secret,
        sync_cooldown: Duration::from_secs(args.sync_cooldown),
        import_delay: args.import_delay,
        tag_propagation_delay: args.tag_delay,
        other_tenant_serials: args
            .other_tenant_serials
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        faults,
        roles: match &args.roles {
            Some(list) => list.iter().map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect(),
            None => FakeConfig::default().roles,
        },
        modes: Modes {
            documented_device_defaults: !args.all_device_properties,
            unprefixed_types: args.unprefixed_types,
            refuse_assignments: args.refuse_assignments,
            ..Modes::default()
        },
        ..FakeConfig::default()
    };
    let devices = scenario.devices.len();
    let groups = scenario.groups.len();
    let quiet = args.quiet;
    FakeServer::serve_forever(scenario, config, args.port, |url| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{url}");
        let _ = out.flush();
        if !quiet {
            eprintln!("fake Graph: {devices} devices, {groups} dynamic groups; Ctrl-C stops it");
            eprintln!(
                "try: FLEETLAB_CLIENT_SECRET=anything fleetlab sync pull --graph-url {url} \
                 --tenant-id contoso.onmicrosoft.com --client-id sandbox"
            );
        }
    })
    .map_err(fail)
}
