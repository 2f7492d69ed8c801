//! `fleetlab simulate`: a provisioning scenario replicated many times,
//! reported in the terminal, as JSON, as a self-contained HTML report and
//! as Intune-shaped deployment events.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use super::{emit, fail, output, Failure, Outcome};
use crate::sim::events::autopilot_events;
use crate::sim::resolve::Scenario;
use crate::sim::run::{simulate, RunOptions, RunOutput};
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
  contoso-rollout.toml        the Contoso tenant end to end: groups → profiles → flows → a Monday
  s1-depot-throughput.toml    devices per day from N technicians, P ports, X Mbit/s
  s2-wave-completion.toml     when 95 % of a 5,000-laptop user-driven wave reaches the desktop
  s3-registration.toml        how long to hold devices after the hashes arrive
  s4-esp-timeout.toml         the ESP timeout that keeps timeouts under 1 % on a slow site
  s5-failing-app.toml         what a failing Win32 app does to Reseal yield
  wave-10k.toml               S2 at 10,000 laptops (scale)
  mmc.toml                    an M/M/3 queue, to check the engine against Erlang C

Examples:
  fleetlab simulate scenarios/sim/s1-depot-throughput.toml
  fleetlab simulate scenarios/sim/s2-wave-completion.toml --replications 200 --out wave.html
  fleetlab simulate scenarios/sim/s4-esp-timeout.toml --format json > s4.json
  fleetlab simulate scenarios/sim/s1-depot-throughput.toml --explain
  fleetlab simulate scenarios/sim/s5-failing-app.toml --events events.jsonl
  fleetlab simulate scenarios/sim/s4-esp-timeout.toml --sweep esp.timeout_minutes=60,90,120,180
  fleetlab simulate scenarios/sim/s1-depot-throughput.toml --sweep depot.technicians=3,4,6,8
  fleetlab simulate scenarios/sim/s1-depot-throughput.toml --sweep \"depot.technicians=4,6;depot.bench_ports=24,48\"
  fleetlab simulate scenarios/sim/s2-wave-completion.toml --search site[1].uplink_mbps=100..2000 --goal \"time-to-95-percent <= 1d\"

--sweep KEY=V1,V2,… runs the scenario once per value (same seed, so the variants see the same arrivals and failures elsewhere: their difference is the knob) and prints one line per value. KEY is a dotted path into the file: esp.timeout_minutes, depot.technicians, depot.bench_ports, site[0].uplink_mbps, site[0].delivery_optimization (values \"lan\", \"http\", \"mcc\"), registration.hold_hours, wave[0].devices … Two keys separated by ';' run the grid of both.

--search KEY=LO..HI --goal \"METRIC <= VALUE\" finds the smallest whole value of KEY for which the goal holds in at least --confidence (default 0.9) of the replications, by bisection with the same seed for every value; METRIC is any metric of the JSON report (time-to-95-percent, devices-per-day, timed-out-share …), VALUE may carry d, h, min, s or %.

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
    /// Run one variant per value of a scenario key and compare them (KEY=V1,V2,…).
    #[arg(long, value_name = "KEY=V1,V2,…", conflicts_with_all = ["explain", "out", "events"])]
    sweep: Option<String>,
    /// Find the smallest value of a key that meets --goal (KEY=LO..HI).
    #[arg(long, value_name = "KEY=LO..HI", requires = "goal", conflicts_with_all = ["explain", "out", "events", "sweep"])]
    search: Option<String>,
    /// The goal of --search: METRIC <= VALUE or METRIC >= VALUE (units d, h, min, s, %).
    #[arg(long, value_name = "GOAL", requires = "search")]
    goal: Option<String>,
    /// Share of replications that must meet the goal.
    #[arg(long, default_value_t = 0.9, value_parser = confidence)]
    confidence: f64,
}

fn confidence(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!("{s:?} is not a share in (0, 1]")),
    }
}

pub(super) fn run(args: SimulateArgs) -> Outcome {
    if let Some(spec) = &args.sweep {
        return sweep(&args, spec);
    }
    if let (Some(range), Some(goal)) = (&args.search, &args.goal) {
        return search(&args, range, goal);
    }
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
    let out = run_with_progress(&sc, &args, args.events.is_some())?;
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

/// Runs the replications with a progress bar on stderr (when it is a terminal).
fn run_with_progress(sc: &Scenario, args: &SimulateArgs, keep_first: bool) -> Result<RunOutput, Failure> {
    let bar = progress_bar(args.replications.unwrap_or(sc.file.replications), args.quiet);
    let tick = |done: u32| {
        if let Some(b) = &bar {
            b.set_position(u64::from(done));
        }
    };
    let opts = RunOptions {
        replications: args.replications,
        seed: args.seed,
        threads: args.threads.map(usize::from),
        keep_first,
        progress: Some(&tick),
    };
    let out = simulate(sc, &opts).map_err(fail)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    Ok(out)
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

/// The smallest value of a key that meets a goal.
fn search(args: &SimulateArgs, range: &str, goal: &str) -> Outcome {
    use crate::sim::search::{parse_range, Goal, Search};
    let (key, lo, hi) = parse_range(range).map_err(fail)?;
    let goal_parsed = Goal::parse(goal).map_err(fail)?;
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| fail(format!("{}: {e}", args.scenario.display())))?;
    let parsed = scenario::parse(&text, &args.scenario).map_err(fail)?;
    let base = Scenario::resolve(&parsed, &args.scenario).map_err(fail)?;
    let s = Search {
        text: &text,
        path: &args.scenario,
        key: &key,
        lo,
        hi,
        goal: &goal_parsed,
        confidence: args.confidence,
        replications: args.replications.unwrap_or(base.file.replications).max(1),
        seed: args.seed.unwrap_or(base.file.seed),
    };
    let run = || s.run();
    let found = match args.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(usize::from(t))
            .build()
            .map_err(|e| fail(format!("threads: {e}")))?
            .install(run),
        None => run(),
    }
    .map_err(fail)?;
    let text = match args.format {
        SimFormat::Json => {
            let v = serde_json::json!({ "key": key, "goal": goal, "confidence": args.confidence, "found": found });
            let mut t = serde_json::to_string_pretty(&v).map_err(|e| fail(format!("json: {e}")))?;
            t.push('\n');
            t
        }
        SimFormat::Text => {
            let mut t = format!(
                "{} — {} replications per value, seed {}, same random streams for every value\n\n",
                base.file.name, s.replications, s.seed
            );
            t.push_str(&format!("{key:<24}  goal met in\n"));
            let mut probes = found.probes.clone();
            probes.sort_by_key(|p| p.value);
            for p in &probes {
                t.push_str(&format!(
                    "{:<24}  {} of {} ({:.0} %)\n",
                    p.value,
                    p.met,
                    p.replications,
                    p.share() * 100.0
                ));
            }
            t.push('\n');
            t.push_str(&match found.value {
                Some(v) => format!(
                    "{key} = {v} is the smallest value in {lo}..{hi} for which {goal} holds in at least {:.0} % of replications.\n",
                    args.confidence * 100.0
                ),
                None => format!(
                    "No value in {lo}..{hi} meets {goal} in {:.0} % of replications (not even {hi}).\n",
                    args.confidence * 100.0
                ),
            });
            t
        }
    };
    emit(&text, args.output.as_deref())
}

/// One run per value of one key, or per pair of values of two keys
/// (`K1=A,B;K2=X,Y`: the grid of both), side by side.
fn sweep(args: &SimulateArgs, spec: &str) -> Outcome {
    let mut axes: Vec<(&str, Vec<&str>)> = Vec::new();
    for axis in spec.split(';').map(str::trim).filter(|a| !a.is_empty()) {
        let (key, values) = axis.split_once('=').ok_or_else(|| {
            fail(format!("--sweep {spec:?}: expected KEY=V1,V2,… (e.g. esp.timeout_minutes=60,90)"))
        })?;
        let values: Vec<&str> = values.split(',').map(str::trim).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err(fail(format!("--sweep {spec:?}: no values after '=' for {key}")));
        }
        axes.push((key.trim(), values));
    }
    if axes.is_empty() || axes.len() > 2 {
        return Err(fail(format!("--sweep {spec:?}: one key, or two keys separated by ';'")));
    }
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| fail(format!("{}: {e}", args.scenario.display())))?;
    // The grid, first key slowest.
    let mut grid: Vec<Vec<(&str, &str)>> = vec![Vec::new()];
    for (key, values) in &axes {
        grid = grid
            .iter()
            .flat_map(|row| {
                values.iter().map(move |v| row.iter().copied().chain([(*key, *v)]).collect::<Vec<_>>())
            })
            .collect();
    }
    let key = axes.iter().map(|a| a.0).collect::<Vec<_>>().join(", ");
    let mut reports = Vec::new();
    for row in &grid {
        let mut variant = text.clone();
        for (k, v) in row {
            variant = scenario::with_value(&variant, k, v).map_err(|m| fail(format!("--sweep: {m}")))?;
        }
        let label = row.iter().map(|(_, v)| *v).collect::<Vec<_>>().join(", ");
        let parsed = scenario::parse(&variant, &args.scenario)
            .map_err(|e| fail(format!("{e} (with {key} = {label})")))?;
        let sc = Scenario::resolve(&parsed, &args.scenario)
            .map_err(|e| fail(format!("{e} (with {key} = {label})")))?;
        let out = run_with_progress(&sc, args, false)?;
        reports.push((label, out.report));
    }
    let text = match args.format {
        SimFormat::Json => {
            let rows: Vec<serde_json::Value> = reports
                .iter()
                .map(|(v, r)| serde_json::json!({ "key": key, "value": v, "report": r }))
                .collect();
            let mut s = serde_json::to_string_pretty(&rows).map_err(|e| fail(format!("json: {e}")))?;
            s.push('\n');
            s
        }
        SimFormat::Text => sweep_table(&key, &reports),
    };
    emit(&text, args.output.as_deref())
}

fn sweep_table(key: &str, reports: &[(String, crate::sim::report::Report)]) -> String {
    use crate::sim::summary::duration;
    let get = |r: &crate::sim::report::Report, name: &str| {
        r.metrics.iter().find(|m| m.name == name).map(|m| m.summary).unwrap_or_default()
    };
    let mut rows = vec![[
        key.to_string(),
        "done".to_string(),
        "per day".to_string(),
        "95 % done after".to_string(),
        "timed out".to_string(),
        "tickets".to_string(),
        "busiest resource".to_string(),
    ]];
    for (value, r) in reports {
        let done = get(r, "devices-done");
        let t95 = get(r, "time-to-95-percent");
        let busiest = r
            .resources
            .iter()
            .max_by(|a, b| a.mean_utilisation.total_cmp(&b.mean_utilisation))
            .map_or_else(|| "–".to_string(), |x| format!("{} {:.0} %", x.name, x.mean_utilisation * 100.0));
        rows.push([
            value.clone(),
            format!("{:.1} % ", done.mean / f64::from(r.devices.max(1)) * 100.0),
            format!("{:.0}", get(r, "devices-per-day").mean),
            if t95.p95 >= r.horizon_minutes * 0.999 {
                "not within horizon".into()
            } else {
                format!("{} (P95 {})", duration(t95.mean), duration(t95.p95))
            },
            format!("{:.2} %", get(r, "timed-out-share").mean * 100.0),
            format!("{:.1}", get(r, "helpdesk-tickets").mean),
            busiest,
        ]);
    }
    let widths: Vec<usize> =
        (0..7).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    if let Some((_, first)) = reports.first() {
        out.push_str(&format!(
            "{} — {} replications per value, seed {}, same random streams for every value\n\n",
            first.scenario, first.replications, first.seed
        ));
    }
    for row in &rows {
        let line: Vec<String> =
            row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}", w = *w)).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
