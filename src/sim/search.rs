//! Goal-seek: the smallest value of one scenario key that meets a goal on
//! a metric, at a stated confidence.
//!
//! Design decisions, and why:
//!
//! * **Confidence is a share of replications.** "time-to-95-percent <= 3d
//!   at 0.9" holds for a value when at least 90 % of the replications meet
//!   it, so the answer reads as "in 9 waves out of 10". The share is
//!   exact over the replications run; more replications narrow it.
//! * **Bisection on a monotone response.** More technicians, ports,
//!   bandwidth or a longer timeout never make a goal of the kind "done
//!   sooner" harder to meet, so the smallest value is found by bisection
//!   in `⌈log₂(hi − lo)⌉ + 1` runs instead of a full sweep. Every probe
//!   uses the same seed and replications: with common random numbers per
//!   device ([`super::rng`]) the probes differ by the key, not by noise,
//!   which keeps the response monotone in practice as well as in theory.
//! * **Integer values.** Keys searched are counts (technicians, ports),
//!   Mbit/s or minutes, where a whole unit is the step a planner acts on.

use rayon::prelude::*;

use super::model::{metric, run_replication, METRICS};
use super::resolve::Scenario;
use super::scenario::{parse, with_value};

/// How a metric is compared with the goal's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `<=`
    AtMost,
    /// `>=`
    AtLeast,
}

/// A goal such as `time-to-95-percent <= 3d`.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// The metric's name ([`METRICS`]).
    pub metric: String,
    /// The comparison.
    pub cmp: Cmp,
    /// The bound, in the metric's unit (minutes for times, 0–1 for shares).
    pub value: f64,
}

impl Goal {
    /// Parses `METRIC <= VALUE` or `METRIC >= VALUE`; a value may carry a
    /// unit: `d`, `h`, `min`, `s` (to minutes) or `%` (to a share).
    ///
    /// ```
    /// use fleetlab::sim::search::{Cmp, Goal};
    /// let g = Goal::parse("time-to-95-percent <= 3d")?;
    /// assert_eq!((g.cmp, g.value), (Cmp::AtMost, 3.0 * 1440.0));
    /// assert!(Goal::parse("time-to-96-percent <= 3d").is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn parse(text: &str) -> Result<Goal, String> {
        let (cmp, (name, value)) = if let Some(p) = text.split_once("<=") {
            (Cmp::AtMost, p)
        } else if let Some(p) = text.split_once(">=") {
            (Cmp::AtLeast, p)
        } else {
            return Err(format!("goal {text:?}: expected METRIC <= VALUE or METRIC >= VALUE"));
        };
        let name = name.trim();
        if !METRICS.iter().any(|m| m.0 == name) {
            let names: Vec<&str> = METRICS.iter().map(|m| m.0).collect();
            return Err(format!("goal {text:?}: no metric {name:?}; metrics: {}", names.join(", ")));
        }
        let value = parse_value(value.trim()).ok_or_else(|| {
            format!("goal {text:?}: {:?} is not a number (units: d, h, min, s, %)", value.trim())
        })?;
        Ok(Goal { metric: name.to_string(), cmp, value })
    }

    /// Whether one replication's value meets the goal.
    pub fn met(&self, v: f64) -> bool {
        match self.cmp {
            Cmp::AtMost => v <= self.value,
            Cmp::AtLeast => v >= self.value,
        }
    }
}

fn parse_value(s: &str) -> Option<f64> {
    let units: [(&str, f64); 6] =
        [("min", 1.0), ("d", 1440.0), ("h", 60.0), ("m", 1.0), ("s", 1.0 / 60.0), ("%", 0.01)];
    for (u, scale) in units {
        if let Some(n) = s.strip_suffix(u) {
            return n.trim().parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v * scale);
        }
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `KEY=LO..HI`, whole values.
///
/// ```
/// use fleetlab::sim::search::parse_range;
/// assert_eq!(parse_range("depot.technicians=1..40")?, ("depot.technicians".to_string(), 1, 40));
/// # Ok::<(), String>(())
/// ```
pub fn parse_range(text: &str) -> Result<(String, i64, i64), String> {
    let bad =
        || format!("--search {text:?}: expected KEY=LO..HI with whole numbers (depot.technicians=1..40)");
    let (key, range) = text.split_once('=').ok_or_else(bad)?;
    let (lo, hi) = range.split_once("..").ok_or_else(bad)?;
    let lo: i64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: i64 = hi.trim().parse().map_err(|_| bad())?;
    if lo > hi || key.trim().is_empty() {
        return Err(bad());
    }
    Ok((key.trim().to_string(), lo, hi))
}

/// One value tried.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Probe {
    /// The key's value.
    pub value: i64,
    /// Replications that met the goal.
    pub met: u32,
    /// Replications run.
    pub replications: u32,
}

impl Probe {
    /// Share of replications that met the goal.
    pub fn share(&self) -> f64 {
        f64::from(self.met) / f64::from(self.replications.max(1))
    }
}

/// The outcome of a search.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Found {
    /// The smallest value that meets the goal, if any in the range does.
    pub value: Option<i64>,
    /// Every value tried, in the order tried.
    pub probes: Vec<Probe>,
}

/// What to search.
pub struct Search<'a> {
    /// The scenario file's text and path.
    pub text: &'a str,
    /// Its path (for error messages).
    pub path: &'a std::path::Path,
    /// The key and its range.
    pub key: &'a str,
    /// Lowest value.
    pub lo: i64,
    /// Highest value.
    pub hi: i64,
    /// The goal.
    pub goal: &'a Goal,
    /// Share of replications that must meet it (0–1].
    pub confidence: f64,
    /// Replications per value.
    pub replications: u32,
    /// Base seed.
    pub seed: u64,
}

impl Search<'_> {
    fn probe(&self, value: i64) -> Result<Probe, String> {
        let variant = with_value(self.text, self.key, &value.to_string())?;
        let parsed = parse(&variant, self.path).map_err(|e| format!("{e} (with {} = {value})", self.key))?;
        let sc = Scenario::resolve(&parsed, self.path)
            .map_err(|e| format!("{e} (with {} = {value})", self.key))?;
        let k = metric(&self.goal.metric);
        let met = (0..self.replications)
            .into_par_iter()
            .map(|r| {
                let rep = run_replication(&sc, self.seed, u64::from(r), false);
                u32::from(rep.metrics.get(k).is_some_and(|&v| self.goal.met(v)))
            })
            .sum();
        Ok(Probe { value, met, replications: self.replications })
    }

    fn holds(&self, p: &Probe) -> bool {
        p.share() >= self.confidence - 1e-12
    }

    /// Runs the search.
    pub fn run(&self) -> Result<Found, String> {
        let mut probes = Vec::new();
        let top = self.probe(self.hi)?;
        let top_holds = self.holds(&top);
        probes.push(top);
        if !top_holds {
            return Ok(Found { value: None, probes });
        }
        // Invariant: `hi` holds; every value below `lo` is known not to.
        let (mut lo, mut hi) = (self.lo, self.hi);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let p = self.probe(mid)?;
            if self.holds(&p) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
            probes.push(p);
        }
        Ok(Found { value: Some(hi), probes })
    }
}

/// How to run a search.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// Share of replications that must meet the goal.
    pub confidence: f64,
    /// Replications per probe (default: the scenario's).
    pub replications: Option<u32>,
    /// Base seed (default: the scenario's).
    pub seed: Option<u64>,
    /// Worker threads (default: rayon's, one per core).
    pub threads: Option<usize>,
}

/// A finished search.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SearchResult {
    /// The scenario's name.
    pub scenario: String,
    /// The key searched.
    pub key: String,
    /// The range searched.
    pub lo: i64,
    /// Its top.
    pub hi: i64,
    /// Replications per probe.
    pub replications: u32,
    /// The seed every probe used.
    pub seed: u64,
    /// The answer and the probes that led to it.
    pub found: Found,
}

/// Searches `range` (`KEY=LO..HI`) of the scenario `text`, read from
/// `path`, for the smallest value meeting `goal`.
///
/// ```
/// use fleetlab::sim::search::{search, Goal, SearchOptions};
/// let text = "name = \"q\"\nhorizon_hours = 24\nreplications = 4\n[fleet]\nmode = \"hands-on-only\"\n\
///             [depot]\ntechnicians = 1\ndevices = 200\nhands_on = { fixed = 30 }\n";
/// let goal = Goal::parse("devices-done >= 200")?;
/// let opts = SearchOptions { confidence: 1.0, replications: None, seed: None, threads: Some(1) };
/// let r = search(text, "q.toml".as_ref(), "depot.technicians=1..10", &goal, &opts)?;
/// // 200 half-hour jobs in a day need at least 5 technicians.
/// assert_eq!(r.found.value, Some(5));
/// # Ok::<(), String>(())
/// ```
pub fn search(
    text: &str,
    path: &std::path::Path,
    range: &str,
    goal: &Goal,
    opts: &SearchOptions,
) -> Result<SearchResult, String> {
    let (key, lo, hi) = parse_range(range)?;
    let base =
        Scenario::resolve(&parse(text, path).map_err(|e| e.to_string())?, path).map_err(|e| e.to_string())?;
    let s = Search {
        text,
        path,
        key: &key,
        lo,
        hi,
        goal,
        confidence: opts.confidence,
        replications: opts.replications.unwrap_or(base.file.replications).max(1),
        seed: opts.seed.unwrap_or(base.file.seed),
    };
    let run = || s.run();
    let found = match opts.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build()
            .map_err(|e| format!("threads: {e}"))?
            .install(run),
        None => run(),
    }?;
    Ok(SearchResult {
        scenario: base.file.name.clone(),
        key: key.clone(),
        lo,
        hi,
        replications: s.replications,
        seed: s.seed,
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_units() {
        assert_eq!(parse_value("3d"), Some(4320.0));
        assert_eq!(parse_value("90 min"), Some(90.0));
        assert_eq!(parse_value("1 %"), Some(0.01));
        assert_eq!(parse_value("2.5h"), Some(150.0));
        assert_eq!(parse_value("x"), None);
        assert!(parse_range("a=5..1").is_err());
    }
}
