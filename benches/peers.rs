//! Peer benchmark: the canonical Autopilot rule on one seeded fleet, every
//! engine side by side.
//!
//! ```text
//! (device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))
//! ```
//!
//! The fleet is `fleetlab::inventory::generate` with seed 1, rendered in
//! process and parsed into `fleetlab::inventory::Device` with serde_json.
//! Engines, each timed on 1 and 2 threads (a rayon pool of that size):
//!
//! * `fleetlab reference` — `Rule::matches` over `&[Device]`, rayon `par_iter`;
//! * `handwritten` — the Rust loop an engineer writes for this one rule on
//!   the same structs (ASCII case folding, no allocation): the floor;
//! * `fleetlab columnar` — the hook [`fleetlab_columnar`], absent until wired;
//! * with `--features peers`: `cel` (CEL, the cel-rust interpreter, formerly
//!   published as `cel-interpreter`) and `rhai`, each with the rule compiled
//!   once and every device bound as the variables `os` and `ids`. They cost
//!   about a microsecond a device, so they are timed on the first
//!   `FLEETLAB_BENCH_SUBSET` devices only.
//!
//! Before anything is timed, every engine counts the matches of the subset
//! and the full-fleet engines those of the whole fleet; any disagreement
//! aborts the run. Each timing is one warm-up run and the median of
//! `FLEETLAB_BENCH_RUNS` runs (std::time::Instant).
//!
//! Environment: `FLEETLAB_BENCH_DEVICES` (default 2,000,000),
//! `FLEETLAB_BENCH_SUBSET` (100,000), `FLEETLAB_BENCH_RUNS` (5),
//! `FLEETLAB_BENCH_THREADS` (`1,2`), `FLEETLAB_BENCH_JSON` (a path: also
//! write the results there as JSON, for `benches/peers/peers.py`).
//!
//! Run: `cargo bench --bench peers [--features peers]`; see benches/README.md.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use fleetlab::fleet::{CompiledSet, FleetIndex};
use fleetlab::inventory::{generate, Device, FleetSpec};
use fleetlab::rule::Rule;
use rayon::prelude::*;

type BoxError = Box<dyn Error + Send + Sync>;
type Result<T, E = BoxError> = std::result::Result<T, E>;

const CANONICAL: &str =
    r#"(device.deviceOSType -eq "Windows") -and (device.devicePhysicalIds -any (_ -startsWith "[ZTDId]"))"#;
const SEED: u64 = 1;

// ---------------------------------------------------------------------------
// The engines
// ---------------------------------------------------------------------------

/// What an engineer writes by hand for CANONICAL on the same structs (as in
/// benches/rules.rs).
fn handwritten(d: &Device) -> bool {
    d.operating_system.as_deref().is_some_and(|os| os.eq_ignore_ascii_case("windows"))
        && d.physical_ids
            .iter()
            .flatten()
            .any(|p| p.get(..7).is_some_and(|h| h.eq_ignore_ascii_case("[ztdid]")))
}

/// fleetlab's columnar engine. The indexes (whole fleet and subset) are
/// built once, outside the timed runs, as a service or `fleetlab eval` on a
/// packed inventory holds them; each timed run compiles the rule against
/// the index and evaluates it.
fn columnar_engine<'a>(rule: &'a Rule, fleet: &[Device], subset: &[Device]) -> Result<Engine<'a>> {
    let full = FleetIndex::from_devices(fleet)?;
    let part = FleetIndex::from_devices(subset)?;
    Ok(Engine {
        name: "fleetlab columnar",
        version: format!("fleetlab {}", env!("CARGO_PKG_VERSION")),
        span: Span::Fleet,
        count: Box::new(move |ds: &[Device]| {
            let index = if ds.len() == full.len() {
                &full
            } else if ds.len() == part.len() {
                &part
            } else {
                return Err(format!("no prebuilt index for {} devices", ds.len()).into());
            };
            let set = CompiledSet::compile(&[rule], index)?;
            Ok(set.evaluate().first().map_or(0, |b| b.count()))
        }),
    })
}

/// Which devices an engine is timed on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Span {
    /// The whole fleet.
    Fleet,
    /// The first `FLEETLAB_BENCH_SUBSET` devices (slow engines).
    #[cfg_attr(not(feature = "peers"), allow(dead_code))]
    Subset,
}

type CountFn<'a> = Box<dyn Fn(&[Device]) -> Result<usize> + Sync + 'a>;

struct Engine<'a> {
    name: &'static str,
    version: String,
    span: Span,
    /// Counts the matches of a slice, in parallel on the current rayon pool.
    count: CountFn<'a>,
}

fn engines<'a>(rule: &'a Rule, fleet: &[Device], subset: &[Device]) -> Result<Vec<Engine<'a>>> {
    let fleetlab = format!("fleetlab {}", env!("CARGO_PKG_VERSION"));
    let mut list = vec![
        Engine {
            name: "fleetlab reference",
            version: fleetlab.clone(),
            span: Span::Fleet,
            count: Box::new(move |ds: &[Device]| Ok(ds.par_iter().filter(|d| rule.matches(*d)).count())),
        },
        Engine {
            name: "handwritten",
            version: rustc_version(),
            span: Span::Fleet,
            count: Box::new(|ds: &[Device]| Ok(ds.par_iter().filter(|d| handwritten(d)).count())),
        },
    ];
    list.push(columnar_engine(rule, fleet, subset)?);
    #[cfg(feature = "peers")]
    {
        list.push(peers::cel_engine()?);
        list.push(peers::rhai_engine()?);
    }
    Ok(list)
}

#[cfg(feature = "peers")]
mod peers {
    use std::sync::Arc;

    use fleetlab::inventory::Device;
    use rayon::prelude::*;

    use super::{locked_version, Engine, Result, Span};

    /// The rule in CEL. `lowerAscii` is the strings extension; a missing
    /// value is bound as `null`.
    pub const CEL: &str = r#"os != null && os.lowerAscii() == "windows" && ids != null && ids.exists(i, i.lowerAscii().startsWith("[ztdid]"))"#;

    /// The rule in Rhai; a missing value is bound as `()`.
    pub const RHAI: &str = r#"os != () && os.to_lower() == "windows" && ids != () && ids.some(|i| i.to_lower().starts_with("[ztdid]"))"#;

    pub fn cel_engine() -> Result<Engine<'static>> {
        let mut env = cel::Env::stdlib();
        env.add_extension(cel::extensions::strings).map_err(|e| format!("CEL strings extension: {e:?}"))?;
        let env = Arc::new(env);
        let program = Arc::new(env.compile(CEL).map_err(|e| format!("CEL: {e}"))?);
        Ok(Engine {
            name: "CEL (cel-rust)",
            version: format!("cel {}", locked_version("cel")),
            span: Span::Subset,
            count: Box::new(move |ds: &[Device]| {
                ds.par_iter()
                    .map_init(
                        || cel::Context::with_env(Arc::clone(&env)),
                        |ctx, d| -> Result<usize> {
                            ctx.add_variable_from_value("os", d.operating_system.as_deref());
                            let ids = d
                                .physical_ids
                                .as_ref()
                                .map(|v| v.iter().map(String::as_str).collect::<Vec<_>>());
                            ctx.add_variable_from_value("ids", ids);
                            match program.execute(ctx) {
                                Ok(cel::Value::Bool(b)) => Ok(usize::from(b)),
                                Ok(other) => {
                                    Err(format!("CEL returned {other:?} for device {}", d.id).into())
                                }
                                Err(e) => Err(format!("CEL failed on device {}: {e}", d.id).into()),
                            }
                        },
                    )
                    .try_reduce(|| 0, |a, b| Ok(a + b))
            }),
        })
    }

    pub fn rhai_engine() -> Result<Engine<'static>> {
        let engine = rhai::Engine::new();
        let ast = engine.compile(RHAI).map_err(|e| format!("Rhai: {e}"))?;
        Ok(Engine {
            name: "Rhai",
            version: format!("rhai {}", locked_version("rhai")),
            span: Span::Subset,
            count: Box::new(move |ds: &[Device]| {
                ds.par_iter()
                    .map_init(rhai::Scope::new, |scope, d| -> Result<usize> {
                        scope.clear();
                        let string = |s: &str| rhai::Dynamic::from(rhai::ImmutableString::from(s));
                        let os = d.operating_system.as_deref().map_or(rhai::Dynamic::UNIT, string);
                        let ids = d.physical_ids.as_ref().map_or(rhai::Dynamic::UNIT, |v| {
                            rhai::Dynamic::from_array(v.iter().map(|s| string(s)).collect())
                        });
                        scope.push_dynamic("os", os).push_dynamic("ids", ids);
                        engine
                            .eval_ast_with_scope::<bool>(scope, &ast)
                            .map(usize::from)
                            .map_err(|e| format!("Rhai failed on device {}: {e}", d.id).into())
                    })
                    .try_reduce(|| 0, |a, b| Ok(a + b))
            }),
        })
    }
}

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

struct Config {
    devices: usize,
    subset: usize,
    runs: usize,
    threads: Vec<usize>,
    json: Option<String>,
}

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            let digits: String = v.chars().filter(|c| !matches!(c, '_' | ',' | ' ')).collect();
            digits.parse().map_err(|_| format!("{name}={v:?} is not a number").into())
        }
        _ => Ok(default),
    }
}

impl Config {
    fn from_env() -> Result<Config> {
        let devices = env_usize("FLEETLAB_BENCH_DEVICES", 2_000_000)?.max(1);
        let subset = env_usize("FLEETLAB_BENCH_SUBSET", 100_000)?.clamp(1, devices);
        let runs = env_usize("FLEETLAB_BENCH_RUNS", 5)?.max(1);
        let threads = match std::env::var("FLEETLAB_BENCH_THREADS") {
            Ok(v) if !v.trim().is_empty() => v
                .split(',')
                .map(|t| t.trim().parse::<usize>().map_err(|_| format!("FLEETLAB_BENCH_THREADS={v:?}")))
                .collect::<Result<Vec<_>, _>>()?,
            _ => vec![1, 2],
        };
        let json = std::env::var("FLEETLAB_BENCH_JSON").ok().filter(|p| !p.is_empty());
        Ok(Config { devices, subset, runs, threads, json })
    }
}

/// The version of `crate_name` in the workspace's Cargo.lock.
#[cfg_attr(not(feature = "peers"), allow(dead_code))]
fn locked_version(crate_name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.lock");
    let lock = std::fs::read_to_string(path).unwrap_or_default();
    let needle = format!("name = \"{crate_name}\"\nversion = \"");
    lock.split("[[package]]\n")
        .find_map(|block| block.strip_prefix(&needle))
        .and_then(|rest| rest.split('"').next())
        .map_or_else(|| "?".to_string(), str::to_string)
}

fn rustc_version() -> String {
    std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "rustc".into())
}

fn fleet(devices: usize) -> Result<Vec<Device>> {
    let mut bytes = Vec::new();
    generate(&FleetSpec { devices: devices as u64, seed: SEED }, &mut bytes)?;
    let text = std::str::from_utf8(&bytes)?;
    let parsed: Vec<Device> = text
        .par_lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str::<Device>)
        .collect::<Result<_, _>>()?;
    if parsed.len() != devices {
        return Err(format!("generated {} devices, expected {devices}", parsed.len()).into());
    }
    Ok(parsed)
}

/// One warm-up run, then the median of `runs` timed runs; every run must
/// count `expected` matches.
fn time(engine: &Engine<'_>, devices: &[Device], runs: usize, expected: usize) -> Result<Duration> {
    let check = |n: usize| -> Result<()> {
        if n == expected {
            Ok(())
        } else {
            Err(format!("{} counted {n} matches while timing, expected {expected}", engine.name).into())
        }
    };
    check((engine.count)(devices)?)?;
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let n = std::hint::black_box((engine.count)(std::hint::black_box(devices))?);
        times.push(start.elapsed());
        check(n)?;
    }
    times.sort();
    times.get(times.len() / 2).copied().ok_or_else(|| "no timed run".into())
}

struct Row {
    engine: &'static str,
    version: String,
    threads: usize,
    devices: usize,
    matches: usize,
    ns_per_device: f64,
}

fn ratio(row: &Row, rows: &[Row], base: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.engine == base && r.threads == row.threads)
        .filter(|b| b.ns_per_device > 0.0)
        .map(|b| row.ns_per_device / b.ns_per_device)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peers benchmark: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let config = Config::from_env()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("fleetlab peer benchmark");
    println!("rule:    {CANONICAL}");
    println!(
        "fleet:   {} devices, seed {SEED}; slow engines on the first {}; median of {} runs after 1 warm-up; {cores} cores",
        config.devices, config.subset, config.runs
    );

    let start = Instant::now();
    let devices = fleet(config.devices)?;
    println!("         generated and parsed in {:.1} s", start.elapsed().as_secs_f64());
    let subset = devices.get(..config.subset).ok_or("subset larger than the fleet")?;

    let rule = Rule::new(CANONICAL).map_err(|e| format!("the canonical rule does not check: {e}"))?;
    let engines = engines(&rule, &devices, subset)?;

    // Agreement before timing: every engine on the subset, the full-fleet
    // engines on the fleet.
    let mut subset_counts = Vec::new();
    for e in &engines {
        subset_counts.push((e.name, (e.count)(subset)?));
    }
    let mut fleet_counts = Vec::new();
    for e in engines.iter().filter(|e| e.span == Span::Fleet) {
        fleet_counts.push((e.name, (e.count)(&devices)?));
    }
    let first = format!("first {} devices", config.subset);
    for (what, counts) in [(first.as_str(), &subset_counts), ("whole fleet", &fleet_counts)] {
        if counts.iter().any(|c| Some(c.1) != counts.first().map(|f| f.1)) {
            let mut msg = format!("engines disagree on the match count of the {what}:");
            for (name, n) in counts {
                let _ = write!(msg, "\n  {name}: {n}");
            }
            return Err(msg.into());
        }
    }
    let subset_matches = subset_counts.first().map_or(0, |c| c.1);
    let fleet_matches = fleet_counts.first().map_or(0, |c| c.1);
    println!(
        "counts:  all {} engines agree: {subset_matches} of the first {} devices, {fleet_matches} of {}",
        engines.len(),
        config.subset,
        config.devices
    );

    let mut rows = Vec::new();
    for &threads in &config.threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        for e in &engines {
            let (slice, expected) = match e.span {
                Span::Fleet => (&devices[..], fleet_matches),
                Span::Subset => (subset, subset_matches),
            };
            let median = pool.install(|| time(e, slice, config.runs, expected))?;
            rows.push(Row {
                engine: e.name,
                version: e.version.clone(),
                threads,
                devices: slice.len(),
                matches: expected,
                ns_per_device: median.as_nanos() as f64 / slice.len() as f64,
            });
        }
    }

    println!();
    println!(
        "{:<20} {:<22} {:>7} {:>10} {:>9} {:>11} {:>11} {:>10}",
        "engine", "version", "threads", "devices", "matches", "ns/device", "x fleetlab", "x columnar"
    );
    for row in &rows {
        println!(
            "{:<20} {:<22} {:>7} {:>10} {:>9} {:>11.2} {:>11} {:>10}",
            row.engine,
            row.version,
            row.threads,
            row.devices,
            row.matches,
            row.ns_per_device,
            fmt_ratio(ratio(row, &rows, "fleetlab reference")),
            fmt_ratio(ratio(row, &rows, "fleetlab columnar")),
        );
    }
    #[cfg(not(feature = "peers"))]
    println!("(CEL and Rhai: cargo bench --bench peers --features peers)");

    if let Some(path) = &config.json {
        let json = serde_json::json!({
            "rule": CANONICAL,
            "seed": SEED,
            "devices": config.devices,
            "subset": config.subset,
            "runs": config.runs,
            "fleet_matches": fleet_matches,
            "subset_matches": subset_matches,
            "rows": rows.iter().map(|r| serde_json::json!({
                "engine": r.engine,
                "version": r.version,
                "threads": r.threads,
                "devices": r.devices,
                "matches": r.matches,
                "ns_per_device": r.ns_per_device,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
    }
    Ok(())
}
