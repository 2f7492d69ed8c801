//! Sweeps: one scenario run once per value of a key, or per pair of
//! values of two keys, on the same random streams.
//!
//! Design decisions, and why:
//!
//! * **Variants are rewritten scenario text** ([`with_value`]): the file
//!   is read as a TOML table, the key's value replaced (missing tables
//!   created), and the result parsed and resolved like any scenario, so a
//!   swept value meets every check a written one does, and its errors
//!   name the key and the value.
//! * **Same seed for every variant.** Every device draws from its own
//!   streams ([`super::rng`]), so two variants differ by the knob and not
//!   by noise.
//! * **No bottleneck check per variant.** The bottleneck sentence re-runs
//!   the scenario once per shared resource ([`super::bottleneck`]); a
//!   sweep already is the comparison a planner asked for, and the check on
//!   every value would multiply its cost by the number of resources. A
//!   sweep's report therefore leaves `bottleneck` empty; run the scenario
//!   alone (`fleetlab simulate S`) for the sentence. The table's "busiest
//!   resource" uses the busy-period utilisation the sentence quotes.

use std::path::Path;

use super::report::Report;
use super::resolve::Scenario;
use super::run::{simulate, RunOptions};
use super::scenario::parse;

/// One key and its values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    /// Dotted key path (`depot.technicians`, `site[1].uplink_mbps`).
    pub key: String,
    /// TOML values, as written.
    pub values: Vec<String>,
}

/// One variant's report.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Its values, `, `-joined in axis order.
    pub label: String,
    /// The report (without the bottleneck sentence).
    pub report: Report,
}

/// Reads `KEY=V1,V2,…` or `K1=A,B;K2=X,Y`.
///
/// ```
/// use fleetlab::sim::sweep::parse_axes;
/// let axes = parse_axes("depot.technicians=4,6; depot.bench_ports=24,48")?;
/// assert_eq!(axes.len(), 2);
/// assert_eq!(axes[1].values, vec!["24", "48"]);
/// assert!(parse_axes("a=1;b=2;c=3").is_err());
/// # Ok::<(), String>(())
/// ```
pub fn parse_axes(spec: &str) -> Result<Vec<Axis>, String> {
    let mut axes = Vec::new();
    for axis in spec.split(';').map(str::trim).filter(|a| !a.is_empty()) {
        let (key, values) = axis.split_once('=').ok_or_else(|| {
            format!("--sweep {spec:?}: expected KEY=V1,V2,… (e.g. esp.timeout_minutes=60,90)")
        })?;
        let values: Vec<String> =
            values.split(',').map(str::trim).filter(|v| !v.is_empty()).map(String::from).collect();
        if values.is_empty() {
            return Err(format!("--sweep {spec:?}: no values after '=' for {key}"));
        }
        axes.push(Axis { key: key.trim().to_string(), values });
    }
    if axes.is_empty() || axes.len() > 2 {
        return Err(format!("--sweep {spec:?}: one key, or two keys separated by ';'"));
    }
    Ok(axes)
}

/// Every combination of the axes' values, the first key slowest.
pub fn grid(axes: &[Axis]) -> Vec<Vec<(&str, &str)>> {
    let mut grid: Vec<Vec<(&str, &str)>> = vec![Vec::new()];
    for a in axes {
        grid = grid
            .iter()
            .flat_map(|row| {
                a.values
                    .iter()
                    .map(move |v| row.iter().copied().chain([(a.key.as_str(), v.as_str())]).collect())
            })
            .collect();
    }
    grid
}

/// Runs the scenario `text` (read from `path`) once per point of the
/// grid of `axes`, with `opts` (replications, seed, threads, progress).
///
/// ```
/// use fleetlab::sim::run::RunOptions;
/// use fleetlab::sim::sweep::{parse_axes, sweep};
/// let text = "name = \"q\"\nhorizon_hours = 24\n[fleet]\nmode = \"hands-on-only\"\n\
///             [depot]\ntechnicians = 1\ndevices = 1000\n";
/// let axes = parse_axes("depot.technicians=1,4")?;
/// let opts = RunOptions { replications: Some(2), threads: Some(1), ..RunOptions::default() };
/// let variants = sweep(text, "q.toml".as_ref(), &axes, &opts)?;
/// let done = |i: usize| variants[i].report.metrics.iter().find(|m| m.name == "devices-done").map(|m| m.summary.mean);
/// assert!(done(1) > done(0));
/// # Ok::<(), String>(())
/// ```
pub fn sweep(text: &str, path: &Path, axes: &[Axis], opts: &RunOptions<'_>) -> Result<Vec<Variant>, String> {
    let key = axes.iter().map(|a| a.key.as_str()).collect::<Vec<_>>().join(", ");
    let mut out = Vec::new();
    for row in grid(axes) {
        let mut variant = text.to_string();
        for (k, v) in &row {
            variant = with_value(&variant, k, v).map_err(|m| format!("--sweep: {m}"))?;
        }
        let label = row.iter().map(|(_, v)| *v).collect::<Vec<_>>().join(", ");
        let parsed = parse(&variant, path).map_err(|e| format!("{e} (with {key} = {label})"))?;
        let sc = Scenario::resolve(&parsed, path).map_err(|e| format!("{e} (with {key} = {label})"))?;
        let run_opts = RunOptions {
            replications: opts.replications,
            seed: opts.seed,
            threads: opts.threads,
            keep_first: false,
            progress: opts.progress,
            skip_bottleneck: true,
        };
        let report = simulate(&sc, &run_opts).map_err(|e| e.to_string())?.report;
        out.push(Variant { label, report });
    }
    Ok(out)
}

/// The resource busiest over its busy period, and that utilisation.
pub fn busiest(report: &Report) -> Option<(&str, f64)> {
    report
        .resources
        .iter()
        .max_by(|a, b| a.busy_period_utilisation.total_cmp(&b.busy_period_utilisation))
        .map(|r| (r.name.as_str(), r.busy_period_utilisation))
}

/// The scenario text with one value replaced: `key` is a dotted path
/// (`esp.timeout_minutes`, `depot.technicians`, `site[1].uplink_mbps`) and
/// `value` a TOML value (`90`, `"mcc"`, `true`). Missing tables on the way
/// are created, so a scenario without `[esp]` can still be swept over the
/// ESP timeout. This is what `fleetlab simulate --sweep` runs variants with.
///
/// ```
/// use fleetlab::sim::scenario::with_value;
/// let text = with_value("name = \"x\"\n[depot]\ntechnicians = 2\n", "depot.technicians", "5")?;
/// assert!(text.contains("technicians = 5"));
/// let text = with_value("name = \"x\"\n", "esp.timeout_minutes", "120")?;
/// assert!(text.contains("timeout_minutes = 120"));
/// # Ok::<(), String>(())
/// ```
pub fn with_value(text: &str, key: &str, value: &str) -> Result<String, String> {
    let mut doc: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let parsed: toml::Table =
        toml::from_str(&format!("v = {value}")).map_err(|_| format!("{value:?} is not a TOML value"))?;
    let new = parsed.get("v").cloned().ok_or_else(|| format!("{value:?} is not a TOML value"))?;
    let segments: Vec<&str> = key.split('.').collect();
    let mut table = &mut doc;
    for (i, seg) in segments.iter().enumerate() {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => {
                let idx: usize = rest
                    .strip_suffix(']')
                    .and_then(|x| x.parse().ok())
                    .ok_or_else(|| format!("{key}: {seg:?} is not NAME or NAME[INDEX]"))?;
                (n, Some(idx))
            }
            None => (*seg, None),
        };
        if name.is_empty() {
            return Err(format!("{key}: empty key"));
        }
        let last = i + 1 == segments.len();
        if last && index.is_none() {
            table.insert(name.to_string(), new);
            return toml::to_string(&doc).map_err(|e| e.to_string());
        }
        let entry = table.entry(name.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let target = match index {
            Some(idx) => {
                let arr = entry.as_array_mut().ok_or_else(|| format!("{key}: {name} is not a list"))?;
                let len = arr.len();
                let item = arr.get_mut(idx).ok_or_else(|| format!("{key}: {name} has {len} entries"))?;
                if last {
                    *item = new;
                    return toml::to_string(&doc).map_err(|e| e.to_string());
                }
                item
            }
            None => entry,
        };
        table = target.as_table_mut().ok_or_else(|| format!("{key}: {name} is not a table"))?;
    }
    Err(format!("{key}: empty key"))
}
