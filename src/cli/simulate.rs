//! `fleetlab simulate`: a provisioning scenario replicated many times,
//! reported in the terminal, as JSON, as a self-contained HTML report and
//! as Intune-shaped deployment events.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{emit, fail, output, Outcome};
use crate::sim::events::autopilot_events;
use crate::sim::resolve::Scenario;
use crate::sim::run::{simulate, RunOptions};
use crate::sim::{html, scenario, summary};

pub(super) const HELP: &str = "\
Every device walks its own enrollment graph (the profile's flow, `fleetlab flow show`) with the \
enrollment model's durations and failure rates, competing for technicians, bench ports, the admin \
queue and its site's uplink; the whole wave is replicated many times with independent random \
streams and reduced to percentiles. The same seed gives the same report on any number of threads.

Scenario files are TOML; `--explain` prints one back with every default filled in (durations and \
failure probabilities by flow event id, apps, sites, ESP, people), which is the place to start \
overriding assumptions with your tenant's own numbers.

Bundled scenarios (scenarios/sim/):
  s1-depot-throughput.toml    devices per day from N technicians, P ports, X Mbit/s
  s2-wave-completion.toml     when 95 % of a 5,000-laptop user-driven wave reaches the desktop
  s3-registration.toml        how long to hold devices after the hashes arrive
  s4-esp-timeout.toml         the ESP timeout that keeps timeouts under 1 % on a slow site
  s5-failing-app.toml         what a failing Win32 app does to Reseal yield

Examples:
  fleetlab simulate scenarios/sim/s1-depot-throughput.toml
  fleetlab simulate scenarios/sim/s2-wave-completion.toml --replications 200 --out wave.html
  fleetlab simulate scenarios/sim/s4-esp-timeout.toml --format json > s4.json
  fleetlab simulate scenarios/sim/s1-depot-throughput.toml --explain
  fleetlab simulate scenarios/sim/s5-failing-app.toml --events events.jsonl

Exit status: 0 simulated, 2 unreadable or impossible scenario.";

/// How the result is printed.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub(super) enum SimFormat {
    /// A summary for people.
    Text,
    /// The whole report (every metric, seed, versions).
    Json,
}

#[derive(Args, Debug)]
pub(super) struct SimulateArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// Replications (default: the scenario's).
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    replications: Option<u32>,
    /// Base seed (default: the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Worker threads (default: one per core); results do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Also write the HTML report (charts and tables, one self-contained file).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value = "text")]
    format: SimFormat,
    /// Write the result to FILE instead of stdout (atomically).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Write the first replication's devices as Intune Autopilot deployment events (JSON Lines).
    #[arg(long, value_name = "FILE")]
    events: Option<PathBuf>,
    /// Print the scenario with every default filled in, and stop.
    #[arg(long)]
    explain: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

pub(super) fn run(args: SimulateArgs) -> Outcome {
    let parsed = scenario::load(&args.scenario).map_err(fail)?;
    let sc = Scenario::resolve(&parsed, &args.scenario).map_err(fail)?;
    if args.explain {
        let text = toml::to_string_pretty(&sc.explained()).map_err(|e| fail(format!("explain: {e}")))?;
        let header = format!(
            "# {} with every default filled in ({} flow(s): {}).\n# Durations are minutes; \
             failures are probabilities per attempt.\n\n",
            args.scenario.display(),
            sc.flows.len(),
            sc.flows.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
        );
        return emit(&(header + &text), args.output.as_deref());
    }
    let reps = args.replications.unwrap_or(sc.file.replications);
    let bar = progress_bar(reps, args.quiet);
    let tick = |done: u32| {
        if let Some(b) = &bar {
            b.set_position(u64::from(done));
        }
    };
    let opts = RunOptions {
        replications: args.replications,
        seed: args.seed,
        threads: args.threads.map(usize::from),
        keep_first: args.events.is_some(),
        progress: Some(&tick),
    };
    let out = simulate(&sc, &opts).map_err(fail)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(path) = &args.out {
        write(path, &html::render(&out.report))?;
    }
    if let (Some(path), Some(devs)) = (&args.events, &out.first) {
        let mut text = String::new();
        for e in autopilot_events(&sc, devs) {
            let line = serde_json::to_string(&e).map_err(|e| fail(format!("events: {e}")))?;
            text.push_str(&line);
            text.push('\n');
        }
        write(path, &text)?;
    }
    let text = match args.format {
        SimFormat::Json => {
            let mut s = serde_json::to_string_pretty(&out.report).map_err(|e| fail(format!("json: {e}")))?;
            s.push('\n');
            s
        }
        SimFormat::Text => {
            let color = args.output.is_none() && std::io::stdout().is_terminal();
            let mut s = summary::render(&out.report, color);
            if let Some(path) = &args.out {
                s.push_str(&format!("\nHTML report: {}\n", path.display()));
            }
            s
        }
    };
    emit(&text, args.output.as_deref())
}

fn write(path: &Path, text: &str) -> Outcome {
    output::write_atomic(path, text.as_bytes()).map_err(|e| fail(format!("{}: {e}", path.display())))
}

fn progress_bar(reps: u32, quiet: bool) -> Option<indicatif::ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(u64::from(reps));
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} replications {pos}/{len} [{bar:30}] {per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    Some(bar)
}
