//! `fleetlab simulate`: a provisioning scenario replicated many times,
//! reported in the terminal, as JSON, as a self-contained HTML report and
//! as Intune-shaped deployment events.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

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
  s6-calendar.toml            time zones, Easter holidays, shipping days, OOBE updates, Graph imports
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

/// What `simulate`'s flags alone decide, before the scenario is read: the
/// `--search` range, outputs that would replace the scenario or each
/// other, and outputs `--explain` would never write (it prints the
/// scenario as TOML and stops).
fn validate_simulate(args: &SimulateArgs) -> Result<(), Failure> {
    if let Some(range) = &args.search {
        crate::sim::search::parse_range(range).map_err(fail)?;
    }
    let outputs = [
        ("-o", args.output.as_deref()),
        ("--out", args.out.as_deref()),
        ("--events", args.events.as_deref()),
    ];
    for (flag, path) in outputs {
        super::args::not_an_input(flag, path, &[Some(&args.scenario)])?;
    }
    super::args::distinct_outputs(&outputs)?;
    if args.explain {
        let ignored = [(args.out.is_some(), "--out"), (args.events.is_some(), "--events")];
        if let Some((_, flag)) = ignored.iter().find(|(given, _)| *given) {
            return Err(fail(format!(
                "{flag} writes a simulation's results; --explain prints the scenario and runs nothing"
            )));
        }
        if args.format == SimFormat::Json {
            return Err(fail(
                "--explain prints the scenario as TOML; --format json is for a simulation's report",
            ));
        }
    }
    Ok(())
}

pub(super) fn run(args: SimulateArgs) -> Outcome {
    validate_simulate(&args)?;
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
        skip_bottleneck: false,
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
    let bar = super::progress::bar(
        Some(u64::from(reps)),
        "{spinner} replications {pos}/{len} [{bar:30}] {per_sec} eta {eta}",
        String::new(),
        !quiet,
    );
    (!bar.is_hidden()).then_some(bar)
}

/// The smallest value of a key that meets a goal.
fn search(args: &SimulateArgs, range: &str, goal: &str) -> Outcome {
    use crate::sim::search::{search, Goal, SearchOptions};
    let goal_parsed = Goal::parse(goal).map_err(fail)?;
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| fail(format!("{}: {e}", args.scenario.display())))?;
    let opts = SearchOptions {
        confidence: args.confidence,
        replications: args.replications,
        seed: args.seed,
        threads: args.threads.map(usize::from),
    };
    let r = search(&text, &args.scenario, range, &goal_parsed, &opts).map_err(fail)?;
    let (key, lo, hi) = (&r.key, r.lo, r.hi);
    let text = match args.format {
        SimFormat::Json => {
            let v = serde_json::json!({ "key": key, "goal": goal, "confidence": args.confidence, "found": r.found });
            let mut t = serde_json::to_string_pretty(&v).map_err(|e| fail(format!("json: {e}")))?;
            t.push('\n');
            t
        }
        SimFormat::Text => {
            let mut t = format!(
                "{} — {} replications per value, seed {}, same random streams for every value\n\n",
                r.scenario, r.replications, r.seed
            );
            t.push_str(&format!("{key:<24}  goal met in\n"));
            let mut probes = r.found.probes.clone();
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
            t.push_str(&match r.found.value {
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
    let axes = crate::sim::sweep::parse_axes(spec).map_err(fail)?;
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| fail(format!("{}: {e}", args.scenario.display())))?;
    let key = axes.iter().map(|a| a.key.as_str()).collect::<Vec<_>>().join(", ");
    let points = crate::sim::sweep::grid(&axes).len() as u32;
    let per = match args.replications {
        Some(n) => n,
        None => scenario::parse(&text, &args.scenario).map_err(fail)?.file.replications,
    };
    let bar = progress_bar(per.saturating_mul(points), args.quiet);
    // The library reports replications done within the current variant.
    let (base, last) = (AtomicU32::new(0), AtomicU32::new(0));
    let tick = |done: u32| {
        if done < last.swap(done, Ordering::Relaxed) {
            base.fetch_add(per, Ordering::Relaxed);
        }
        if let Some(b) = &bar {
            b.set_position(u64::from(base.load(Ordering::Relaxed) + done));
        }
    };
    let opts = RunOptions {
        replications: args.replications,
        seed: args.seed,
        threads: args.threads.map(usize::from),
        keep_first: false,
        progress: Some(&tick),
        skip_bottleneck: true,
    };
    let variants = crate::sim::sweep::sweep(&text, &args.scenario, &axes, &opts).map_err(fail)?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let reports: Vec<(String, crate::sim::report::Report)> =
        variants.into_iter().map(|v| (v.label, v.report)).collect();
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
        // Over each resource's busy period, as the bottleneck sentence judges it.
        let busiest = crate::sim::sweep::busiest(r)
            .map_or_else(|| "–".to_string(), |(name, u)| format!("{name} {:.0} % busy-period", u * 100.0));
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
