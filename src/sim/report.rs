//! What a simulation run reports: every metric reduced over the
//! replications, in one serialisable value.
//!
//! The JSON form (`--format json`) is this struct as serde writes it; the
//! terminal summary ([`super::summary`]) and the HTML report
//! ([`super::html`]) are views of it and compute nothing of their own, so
//! the three can never disagree.

use serde::Serialize;

/// The result of `fleetlab simulate`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// The scenario's description (the question it answers).
    pub description: String,
    /// The scenario file, as given.
    pub file: String,
    /// Base seed.
    pub seed: u64,
    /// Replications run.
    pub replications: u32,
    /// Worker threads used (results do not depend on it).
    pub threads: usize,
    /// Crate versions that determine the numbers.
    pub versions: Versions,
    /// Devices per replication.
    pub devices: u32,
    /// Simulated horizon, minutes.
    pub horizon_minutes: f64,
    /// Width of a time bucket of the curves, minutes.
    pub bucket_minutes: f64,
    /// Share of devices done (at their success end state) by the end of
    /// each bucket: mean and P5/P50/P95 over replications.
    pub completion: Vec<BandPoint>,
    /// Time in system (first power-on or arrival to end state) of devices
    /// that finished, over all replications.
    pub time_in_system: Histogram,
    /// Every resource: technicians, bench ports, uplinks, admin queue, connectors.
    pub resources: Vec<ResourceSeries>,
    /// How devices ended, per replication.
    pub outcomes: Vec<Count>,
    /// Failures and rework by cause, per replication.
    pub causes: Vec<Count>,
    /// Scalar metrics (throughput, percentiles of completion, timeouts …).
    pub metrics: Vec<Metric>,
    /// The busiest resource and what it means, in words.
    pub bottleneck: String,
    /// Plain-language answers to the scenario's question.
    pub findings: Vec<String>,
    /// Engine statistics.
    pub engine: EngineStats,
}

/// Versions of what shapes the random streams.
#[derive(Clone, Debug, Serialize)]
pub struct Versions {
    /// fleetlab.
    pub fleetlab: String,
    /// The generator (`rand_pcg` `Pcg64Mcg`).
    pub generator: String,
    /// rand_distr.
    pub rand_distr: String,
}

/// One point of a band over replications.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct BandPoint {
    /// End of the bucket, minutes.
    pub minute: f64,
    /// Mean over replications.
    pub mean: f64,
    /// 5th percentile over replications.
    pub p5: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
}

/// A histogram with its summary.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Histogram {
    /// Width of a bin, minutes (bins start at 0).
    pub bin_minutes: f64,
    /// Mean count per replication in each bin.
    pub counts: Vec<f64>,
    /// Summary of the values.
    pub summary: Summary,
}

/// Mean, spread and percentiles of a quantity.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Default)]
pub struct Summary {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// 5th percentile.
    pub p5: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Values summarised.
    pub n: u64,
}

/// One resource over time.
#[derive(Clone, Debug, Serialize)]
pub struct ResourceSeries {
    /// Name (`technicians`, `bench-ports`, `uplink:depot`, `admin`, …).
    pub name: String,
    /// What it is: `staff`, `equipment`, `link`, `queue`.
    pub kind: String,
    /// Capacity (units, or Mbit/s for a link).
    pub capacity: f64,
    /// Mean utilisation (0–1) in each bucket, over replications.
    pub utilisation: Vec<f64>,
    /// Mean queue length in each bucket (active downloads for a link).
    pub queue: Vec<f64>,
    /// Utilisation over the whole run (busy time over available time).
    pub mean_utilisation: f64,
    /// Mean wait for a unit, minutes (0 for a link).
    pub mean_wait_minutes: f64,
    /// Utilisation over the resource's busy period: the report buckets in
    /// which it was in use at all, so that idle nights and the days before
    /// and after a wave do not dilute it.
    pub busy_period_utilisation: f64,
    /// Share of requests that had to wait for a unit, P(wait > 0)
    /// (0 for a link).
    pub p_wait: f64,
    /// Waits of the requests that waited, minutes, over all replications.
    pub wait_when_waiting: Summary,
    /// Mean number of devices still waiting at the horizon (active
    /// downloads, for a link).
    pub waiting_at_end: f64,
    /// Largest queue seen in any replication.
    pub peak_queue: f64,
}

/// A named count per replication.
#[derive(Clone, Debug, Serialize)]
pub struct Count {
    /// Label (`success`, `successOnRetry`, `escaped`, or a cause such as `app-failed:M365`).
    pub label: String,
    /// The count's distribution over replications.
    pub per_replication: Summary,
}

/// A named scalar metric.
#[derive(Clone, Debug, Serialize)]
pub struct Metric {
    /// Kebab-case name (`devices-per-day`, `time-to-95-percent`).
    pub name: String,
    /// Unit (`devices/day`, `minutes`, `share`).
    pub unit: String,
    /// What it means.
    pub description: String,
    /// Its distribution over replications.
    pub summary: Summary,
}

/// How hard the engine worked.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EngineStats {
    /// Events processed over all replications.
    pub events: u64,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
    /// Events per wall-clock second (all threads).
    pub events_per_second: f64,
}

/// A hand-made report of a plausible depot wave, so that the views, their
/// doctests and their tests have something realistic to show without
/// running a simulation.
#[doc(hidden)]
pub fn example() -> Report {
    const DEVICES: u32 = 2_000;
    const BUCKET: f64 = 60.0;
    const BUCKETS: usize = 120; // five days of hourly buckets
    let summary = |mean: f64, spread: f64| Summary {
        mean,
        sd: spread / 3.3,
        p5: (mean - spread / 2.0).max(0.0),
        p50: mean,
        p95: mean + spread / 2.0,
        min: (mean - spread * 0.8).max(0.0),
        max: mean + spread * 0.8,
        n: 200,
    };
    let count = |label: &str, mean: f64, spread: f64| Count {
        label: label.to_owned(),
        per_replication: summary(mean, spread),
    };
    let metric = |name: &str, unit: &str, description: &str, mean: f64, spread: f64| Metric {
        name: name.to_owned(),
        unit: unit.to_owned(),
        description: description.to_owned(),
        summary: summary(mean, spread),
    };
    let bins = 40;
    let counts = (0..bins)
        .map(|i| {
            let x = (i as f64 + 0.5) / 6.0;
            (1_910.0 * x * x * (-x * 1.8).exp() * 0.486 * 10.0).round() / 10.0
        })
        .collect();
    Report {
        scenario: "leeds-depot-wave".to_owned(),
        description: "Can six technicians and 48 bench ports provision 2,000 laptops at the \
                      Leeds depot within a working week?"
            .to_owned(),
        file: "scenarios/leeds-depot.toml".to_owned(),
        seed: 20_240_917,
        replications: 200,
        threads: 2,
        versions: Versions {
            fleetlab: env!("CARGO_PKG_VERSION").to_owned(),
            generator: "rand_pcg 0.10 Pcg64Mcg".to_owned(),
            rand_distr: "0.6".to_owned(),
        },
        devices: DEVICES,
        horizon_minutes: BUCKETS as f64 * BUCKET,
        bucket_minutes: BUCKET,
        completion: example_completion(BUCKETS, BUCKET),
        time_in_system: Histogram {
            bin_minutes: 15.0,
            counts,
            summary: Summary {
                mean: 150.3,
                sd: 86.6,
                p5: 41.0,
                p50: 133.7,
                p95: 314.8,
                min: 6.2,
                max: 598.0,
                n: 382_014,
            },
        },
        resources: example_resources(BUCKETS),
        outcomes: vec![
            count("success", 1_742.6, 40.0),
            count("successOnRetry", 167.3, 22.0),
            count("escaped", 38.4, 12.0),
            count("unfinished", 51.7, 60.0),
        ],
        causes: vec![
            count("app-failed:M365", 96.2, 20.0),
            count("esp-timeout:device", 61.8, 16.0),
            count("tpm-attestation", 23.5, 9.0),
            count("network-drop", 18.1, 8.0),
            count("app-failed:CompanyPortal", 9.4, 6.0),
            count("hybrid-join-timeout", 6.3, 5.0),
            count("profile-not-assigned", 2.2, 3.0),
        ],
        metrics: vec![
            metric("devices-per-day", "devices/day", "Devices finished per day", 381.9, 18.0),
            metric("time-to-50-percent", "minutes", "Time until half the devices are done", 2_655.0, 240.0),
            metric(
                "time-to-95-percent",
                "minutes",
                "Time until 95 % of the devices are done",
                5_895.0,
                610.0,
            ),
            metric(
                "mean-time-in-system",
                "minutes",
                "Power-on to desktop, devices that finished",
                150.3,
                9.0,
            ),
            metric("first-attempt-success", "share", "Devices done without a reset or retry", 0.871, 0.02),
            metric("esp-timeouts", "devices", "Enrollment Status Page timeouts", 61.8, 16.0),
        ],
        bottleneck: "technicians: 93 % busy in working hours with 11 devices waiting on average; \
                     every other resource has slack."
            .to_owned(),
        findings: vec![
            "95 % of the laptops are done after 4 d 2 h (P95 4 d 7 h): the wave fits the week \
             with a day to spare."
                .to_owned(),
            "M365 Apps install failures cause half of the rework; a longer ESP timeout would \
             avoid most of it."
                .to_owned(),
            "A seventh technician shortens the wave by about half a day.".to_owned(),
        ],
        engine: EngineStats { events: 48_213_977, wall_seconds: 11.84, events_per_second: 4_072_126.4 },
    }
}

/// The completion band of [`example`]: logistic curves around day two.
fn example_completion(buckets: usize, bucket: f64) -> Vec<BandPoint> {
    let logistic = |minute: f64, mid: f64| 0.955 / (1.0 + (-(minute - mid) / 520.0).exp());
    (1..=buckets)
        .map(|i| {
            let minute = i as f64 * bucket;
            BandPoint {
                minute,
                mean: logistic(minute, 2_640.0),
                p5: logistic(minute, 2_880.0),
                p50: logistic(minute, 2_650.0),
                p95: logistic(minute, 2_420.0),
            }
        })
        .collect()
}

/// The shared resources of [`example`]: busy in working hours, idle at night.
fn example_resources(buckets: usize) -> Vec<ResourceSeries> {
    // Working hours are 08:00–18:00; the wave winds down on day four.
    let working = |i: usize| {
        let hour = i % 24;
        (8..18).contains(&hour)
    };
    let taper = |i: usize| if i < 80 { 1.0 } else { (1.0 - (i - 80) as f64 / 40.0).max(0.05) };
    let series = |peak: f64, idle: f64| -> Vec<f64> {
        (0..buckets).map(|i| if working(i) { peak * taper(i) } else { idle }).collect()
    };
    let resource = |name: &str, kind: &str, capacity: f64, peak: f64, queue: f64| {
        let utilisation = series(peak, 0.02);
        let queue = series(queue, 0.0);
        ResourceSeries {
            name: name.to_owned(),
            kind: kind.to_owned(),
            capacity,
            mean_utilisation: utilisation.iter().sum::<f64>() / buckets as f64,
            peak_queue: (queue.iter().fold(0.0_f64, |a, &b| a.max(b)) * 1.6).round(),
            utilisation,
            queue,
            mean_wait_minutes: 0.0,
            busy_period_utilisation: 0.0,
            p_wait: 0.0,
            wait_when_waiting: Summary::default(),
            waiting_at_end: 0.0,
        }
    };
    let mut technicians = resource("technicians", "staff", 6.0, 0.93, 11.5);
    technicians.mean_wait_minutes = 24.6;
    let mut bench = resource("bench-ports", "equipment", 48.0, 0.71, 0.0);
    bench.mean_wait_minutes = 0.0;
    let uplink = resource("uplink:depot", "link", 1_000.0, 0.64, 37.0);
    let mut admin = resource("admin", "queue", 2.0, 0.22, 0.4);
    admin.mean_wait_minutes = 3.1;
    vec![technicians, bench, uplink, admin]
}
