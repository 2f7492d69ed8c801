//! Monte Carlo: replications in parallel, reduced in a fixed order.
//!
//! Design decisions, and why:
//!
//! * **Batches in replication order.** Replications run in batches of a
//!   few per thread with rayon; each batch's results come back in index
//!   order and are folded into the sketches one by one on the calling
//!   thread. Floating-point sums then happen in the same order whatever
//!   the thread count, so the same seed gives the same report bit for bit
//!   on 1 or 16 threads, and memory holds one batch, not every
//!   replication.
//! * **Each replication owns its generators** ([`super::rng`]): nothing
//!   is shared between threads but the read-only scenario.

use std::collections::BTreeMap;
use std::time::Instant;

use rayon::prelude::*;

use super::engine::{minutes, MINUTE};
use super::model::{run_replication, Dev, RepResult, METRICS, OUTCOMES};
use super::report::{BandPoint, Count, EngineStats, Metric, Report, ResourceSeries, Summary, Versions};
use super::resolve::Scenario;
use super::stats::{ShareBand, Sketch};
use super::summary::duration;

/// How to run.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Replications (default: the scenario's).
    pub replications: Option<u32>,
    /// Base seed (default: the scenario's).
    pub seed: Option<u64>,
    /// Worker threads (default: rayon's, one per core).
    pub threads: Option<usize>,
    /// Keep the first replication's devices (for Intune-shaped events).
    pub keep_first: bool,
    /// Called with the number of replications done so far.
    pub progress: Option<&'a (dyn Fn(u32) + Sync)>,
    /// Leave out the bottleneck check (its internal sweep re-runs the
    /// scenario once per shared resource); sweeps and searches set it.
    pub skip_bottleneck: bool,
}

/// A finished run.
pub struct RunOutput {
    /// The report.
    pub report: Report,
    /// The first replication's devices, when asked for.
    pub first: Option<Vec<Dev>>,
}

/// A run that could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start {threads} worker threads: {message}")]
pub struct RunError {
    threads: usize,
    message: String,
}

struct ResAcc {
    kind: &'static str,
    capacity: f64,
    util: Vec<f64>,
    queue: Vec<f64>,
    busy: f64,
    available: f64,
    busy_period: (f64, f64),
    waited: (u64, u64),
    waits: Sketch,
    waiting_at_end: u64,
    peak: f64,
}

struct Reducer {
    reps: u64,
    bucket: f64,
    band: ShareBand,
    tis: Sketch,
    /// Replications in which 95 % / 50 % of the devices were not done.
    short_of: (u64, u64),
    horizon: f64,
    resources: BTreeMap<usize, (String, ResAcc)>,
    outcomes: Vec<Sketch>,
    causes: Vec<Sketch>,
    metrics: Vec<Sketch>,
    events: u64,
}

impl Reducer {
    fn new(sc: &Scenario) -> Reducer {
        let n = f64::from(sc.devices.max(1));
        // Counts and shares of devices are exact (super::stats); times,
        // rates and volumes are sketched.
        let metric_sketch = |unit: &str| match unit {
            "share" => Sketch::exact(1.0 / n),
            "devices" | "timeouts" | "tickets" | "resets" | "retries" | "downloads" => Sketch::exact(1.0),
            _ => Sketch::default(),
        };
        Reducer {
            reps: 0,
            bucket: sc.bucket as f64,
            band: ShareBand::new(sc.buckets, sc.devices),
            tis: Sketch::default(),
            short_of: (0, 0),
            horizon: minutes(sc.horizon),
            resources: BTreeMap::new(),
            outcomes: vec![Sketch::exact(1.0); OUTCOMES.len()],
            causes: vec![Sketch::exact(1.0); sc.causes.len()],
            metrics: METRICS.iter().map(|m| metric_sketch(m.1)).collect(),
            events: 0,
        }
    }

    fn add(&mut self, r: &RepResult) {
        self.reps += 1;
        self.events += r.events;
        self.band.add(r.done_by_bucket.iter().copied());
        for &t in &r.time_in_system {
            self.tis.add(t);
        }
        let reached =
            |name: &str| r.metrics.get(super::model::metric(name)).is_some_and(|&t| t < self.horizon);
        self.short_of.0 += u64::from(!reached("time-to-95-percent"));
        self.short_of.1 += u64::from(!reached("time-to-50-percent"));
        for (i, res) in r.resources.iter().enumerate() {
            let entry = self.resources.entry(i).or_insert_with(|| {
                (
                    res.name.clone(),
                    ResAcc {
                        kind: res.kind,
                        capacity: res.capacity,
                        util: vec![0.0; res.busy.len()],
                        queue: vec![0.0; res.queue.len()],
                        busy: 0.0,
                        available: 0.0,
                        busy_period: (0.0, 0.0),
                        waited: (0, 0),
                        waits: Sketch::default(),
                        waiting_at_end: 0,
                        peak: 0.0,
                    },
                )
            });
            let acc = &mut entry.1;
            acc.capacity = acc.capacity.max(res.capacity);
            for ((u, b), a) in acc.util.iter_mut().zip(&res.busy).zip(&res.available) {
                *u += if *a > 0.0 { (b / a).min(1.0) } else { 0.0 };
            }
            for (q, area) in acc.queue.iter_mut().zip(&res.queue) {
                *q += area / self.bucket;
            }
            acc.busy += res.busy.iter().sum::<f64>();
            acc.available += res.available.iter().sum::<f64>();
            for (busy, available) in res.busy.iter().zip(&res.available).filter(|(b, _)| **b > 0.0) {
                acc.busy_period.0 += busy;
                acc.busy_period.1 += available;
            }
            acc.waited.0 += res.waited.0;
            acc.waited.1 += res.waited.1;
            for &w in &res.waits {
                acc.waits.add(minutes(w));
            }
            acc.waiting_at_end += u64::from(res.waiting_at_end);
            acc.peak = acc.peak.max(res.peak_queue);
        }
        for (s, &c) in self.outcomes.iter_mut().zip(&r.outcomes) {
            s.add(f64::from(c));
        }
        for (s, &c) in self.causes.iter_mut().zip(&r.causes) {
            s.add(f64::from(c));
        }
        for (s, &v) in self.metrics.iter_mut().zip(&r.metrics) {
            s.add(v);
        }
    }
}

/// A histogram bin width near `raw` minutes that reads well (1, 2, 5 × 10ⁿ).
pub(crate) fn nice_bin(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    let step = if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    step * p
}

/// Runs every replication and reduces them into a [`Report`].
///
/// ```
/// use fleetlab::sim::{resolve::Scenario, run::{simulate, RunOptions}, scenario::parse};
/// let text = "name = \"tiny\"\nreplications = 4\nhorizon_hours = 24\n[[wave]]\nname = \"w\"\ndevices = 30\n";
/// let sc = Scenario::resolve(&parse(text, "t.toml".as_ref())?, "t.toml".as_ref())?;
/// let one = simulate(&sc, &RunOptions { threads: Some(1), ..RunOptions::default() })?;
/// let two = simulate(&sc, &RunOptions { threads: Some(2), ..RunOptions::default() })?;
/// // The same seed gives the same numbers on any number of threads.
/// assert_eq!(
///     serde_json::to_string(&one.report.metrics)?,
///     serde_json::to_string(&two.report.metrics)?,
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn simulate(sc: &Scenario, opts: &RunOptions<'_>) -> Result<RunOutput, RunError> {
    let reps = opts.replications.unwrap_or(sc.file.replications).max(1);
    let seed = opts.seed.unwrap_or(sc.file.seed);
    let started = Instant::now();
    let pool = match opts.threads {
        Some(t) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(t.max(1))
                .build()
                .map_err(|e| RunError { threads: t, message: e.to_string() })?,
        ),
        None => None,
    };
    let threads = pool.as_ref().map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
    let batch = (threads * 4).max(1) as u32;
    let mut reducer = Reducer::new(sc);
    let mut first = None;
    let mut done = 0u32;
    while done < reps {
        let end = (done + batch).min(reps);
        let keep_first = opts.keep_first && done == 0;
        let work = || -> Vec<RepResult> {
            (done..end)
                .into_par_iter()
                .map(|r| run_replication(sc, seed, u64::from(r), keep_first && r == 0))
                .collect()
        };
        let results = match &pool {
            Some(p) => p.install(work),
            None => work(),
        };
        for mut r in results {
            reducer.add(&r);
            if first.is_none() {
                first = r.devices.take();
            }
        }
        done = end;
        if let Some(progress) = opts.progress {
            progress(done);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let mut report = build_report(sc, reducer, seed, reps, threads, wall);
    if !opts.skip_bottleneck {
        let judge = || super::bottleneck::judge(sc, seed, reps, &report.resources);
        report.bottleneck = match &pool {
            Some(p) => p.install(judge),
            None => judge(),
        };
    }
    Ok(RunOutput { report, first })
}

fn build_report(sc: &Scenario, r: Reducer, seed: u64, reps: u32, threads: usize, wall: f64) -> Report {
    let bucket_minutes = sc.bucket as f64 / MINUTE as f64;
    let horizon = minutes(sc.horizon);
    let completion = r
        .band
        .points()
        .into_iter()
        .enumerate()
        .map(|(i, [mean, p5, p50, p95])| BandPoint {
            minute: ((i + 1) as f64 * bucket_minutes).min(horizon),
            mean,
            p5,
            p50,
            p95,
        })
        .collect();
    let reps_f = r.reps.max(1) as f64;
    let resources: Vec<ResourceSeries> = r
        .resources
        .into_values()
        .map(|(name, a)| ResourceSeries {
            name,
            kind: a.kind.to_string(),
            capacity: a.capacity,
            utilisation: a.util.iter().map(|u| u / reps_f).collect(),
            queue: a.queue.iter().map(|q| q / reps_f).collect(),
            mean_utilisation: if a.available > 0.0 { a.busy / a.available } else { 0.0 },
            mean_wait_minutes: if a.waited.1 > 0 { minutes(a.waited.0) / a.waited.1 as f64 } else { 0.0 },
            busy_period_utilisation: if a.busy_period.1 > 0.0 {
                a.busy_period.0 / a.busy_period.1
            } else {
                0.0
            },
            p_wait: if a.waited.1 > 0 { a.waits.len() as f64 / a.waited.1 as f64 } else { 0.0 },
            wait_when_waiting: a.waits.summary(),
            waiting_at_end: a.waiting_at_end as f64 / reps_f,
            peak_queue: a.peak,
        })
        .collect();
    let outcomes = OUTCOMES
        .iter()
        .zip(&r.outcomes)
        .map(|(l, s)| Count { label: (*l).to_string(), per_replication: s.summary() })
        .collect();
    let mut causes: Vec<Count> = sc
        .causes
        .iter()
        .zip(&r.causes)
        .filter(|(_, s)| s.summary().max > 0.0)
        .map(|(l, s)| Count { label: l.clone(), per_replication: s.summary() })
        .collect();
    causes.sort_by(|a, b| b.per_replication.mean.total_cmp(&a.per_replication.mean));
    let metrics: Vec<Metric> = METRICS
        .iter()
        .zip(&r.metrics)
        .filter(|((name, ..), _)| sc.registration.is_some() || !name.contains("assigned"))
        .map(|((name, unit, description), s)| Metric {
            name: (*name).to_string(),
            unit: (*unit).to_string(),
            description: (*description).to_string(),
            summary: s.summary(),
        })
        .collect();
    let get = |name: &str| metrics.iter().find(|m| m.name == name).map(|m| m.summary).unwrap_or_default();
    let findings = findings(sc, &get, &causes, horizon, (r.short_of.0, r.short_of.1, r.reps));
    Report {
        scenario: sc.file.name.clone(),
        description: sc.file.description.clone(),
        file: sc.path.display().to_string(),
        seed,
        replications: reps,
        threads,
        versions: Versions {
            fleetlab: env!("CARGO_PKG_VERSION").to_string(),
            generator: "rand_pcg 0.10 Pcg64Mcg, SplitMix64 stream seeds".into(),
            rand_distr: "0.6".into(),
        },
        devices: sc.devices,
        horizon_minutes: horizon,
        bucket_minutes,
        completion,
        time_in_system: super::histogram::linear(&r.tis, reps_f),
        resources,
        outcomes,
        causes,
        metrics,
        bottleneck: String::new(),
        findings,
        engine: EngineStats {
            events: r.events,
            wall_seconds: wall,
            events_per_second: if wall > 0.0 { r.events as f64 / wall } else { 0.0 },
        },
    }
}

/// The findings; `short` is (replications short of 95 %, short of 50 %, replications).
fn findings(
    sc: &Scenario,
    get: &dyn Fn(&str) -> Summary,
    causes: &[Count],
    horizon: f64,
    short: (u64, u64, u64),
) -> Vec<String> {
    let mut out = Vec::new();
    let n = f64::from(sc.devices.max(1));
    let done = get("devices-done");
    out.push(format!(
        "{:.0} of {} devices done per replication ({:.1} %), P5–P95 {:.0}–{:.0}; {:.0} per day of the horizon.",
        done.mean,
        sc.devices,
        done.mean / n * 100.0,
        done.p5,
        done.p95,
        get("devices-per-day").mean
    ));
    out.push(completion_finding(get, horizon, short));
    let timeouts = get("esp-timeouts");
    if timeouts.mean > 0.0 {
        let share = get("timed-out-share");
        out.push(format!(
            "{:.2} % of devices hit an ESP timeout (P95 over replications {:.2} %); {:.1} timeouts per replication.",
            share.mean * 100.0,
            share.p95 * 100.0,
            timeouts.mean
        ));
    }
    if sc.registration.is_some() {
        let p95 = get("time-to-assigned-p95");
        let p99 = get("time-to-assigned-p99");
        out.push(format!(
            "Profiles are assigned within {} of the hashes arriving for 95 % of devices (worst replication {}); hold devices at least {} before powering them on to be 99 % safe.",
            duration(p95.mean),
            duration(p95.max),
            duration(p99.p95)
        ));
        let early = get("booted-before-assigned");
        if early.mean > 0.0 {
            out.push(format!(
                "{:.1} % of devices were powered on before their profile was assigned; {:.1} % escaped to standard OOBE and need a reset.",
                early.mean * 100.0,
                get("escaped").mean * 100.0
            ));
        }
    } else if get("escaped").mean > 0.0 {
        out.push(format!(
            "{:.1} % of devices escaped to standard OOBE and need a reset.",
            get("escaped").mean * 100.0
        ));
    }
    let nb = get("non-blocking-app-failures");
    if nb.mean > 0.0 {
        out.push(format!(
            "{:.1} devices per replication are left without a non-blocking app until the IME retries it (about 24 h).",
            nb.mean
        ));
    }
    if let Some(c) = causes.first() {
        out.push(format!(
            "The most frequent failure is {} ({:.1} per replication).",
            c.label, c.per_replication.mean
        ));
    }
    out
}

/// How far the wave gets: the wording follows how many replications fell
/// short, and an average is only quoted over replications that got there.
fn completion_finding(get: &dyn Fn(&str) -> Summary, horizon: f64, short: (u64, u64, u64)) -> String {
    let (short95, short50, reps) = short;
    let t95 = get("time-to-95-percent");
    let t50 = get("time-to-50-percent");
    let h = duration(horizon);
    if short95 == 0 {
        return format!(
            "95 % of the devices are done {} after the first one starts (P95 over replications: {}).",
            duration(t95.mean),
            duration(t95.p95)
        );
    }
    let which = if short95 == reps {
        "in every replication".to_string()
    } else {
        format!("in {short95} of {reps} replications")
    };
    let half = if short50 == 0 {
        format!("half are done after {} on average", duration(t50.mean))
    } else if short50 == reps {
        format!("not even half are done within the {h} in any replication")
    } else {
        format!("half are done within the horizon in {} of {reps} replications", reps - short50)
    };
    format!("95 % of the devices are not done within the {h} horizon {which}; {half}.")
}
