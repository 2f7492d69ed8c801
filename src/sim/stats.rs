//! Streaming statistics: what the reduction over replications keeps, in
//! memory that does not grow with the number of replications.
//!
//! Why sketches and not the values: 100,000 replications of twenty
//! metrics would be 16 MB of floats for percentiles alone; a log-binned
//! histogram gives P5/P50/P95 within half a percent in 45 KB per metric,
//! and Welford's update gives the exact mean and spread. Updates happen in
//! replication order on one thread, so the result is the same bit for bit
//! whatever the thread count.
//!
//! Why counts and shares are exact: a count of devices, tickets or
//! timeouts is an integer, and a share of devices is such an integer over
//! the fleet size. Their distinct values are few (at most one per
//! replication, at most one per device count), so [`Sketch::exact`] keeps
//! every distinct value with its multiplicity and gives exact order
//! statistics in memory bounded by the fleet size; a log-binned bin
//! 0.39 points wide would put P5 above the mean of a share near zero.
//! Percentiles are nearest-rank (Hyndman & Fan's definition 1: the
//! smallest value with at least `⌈q·n⌉` values at or below it), so each
//! is a value some replication actually had.

use std::collections::BTreeMap;

use super::report::Summary;

/// Mantissa bits kept per bin: 2⁸ bins per power of two, a relative
/// error under 0.4 %. Binning reads the float's bits (as HdrHistogram
/// does) instead of taking a logarithm per value.
const MANTISSA_BITS: u32 = 8;
/// `1 + x` up to 2⁴⁴ (x up to about 1.7 × 10¹³).
const BINS: usize = 44 << MANTISSA_BITS;

fn bin_of(v: f64) -> usize {
    let bits = (1.0 + v).to_bits() - 1.0f64.to_bits();
    ((bits >> (52 - MANTISSA_BITS)) as usize).min(BINS - 1)
}

fn bin_mid(i: usize) -> f64 {
    let lo = f64::from_bits(((i as u64) << (52 - MANTISSA_BITS)) + 1.0f64.to_bits());
    let hi = f64::from_bits((((i + 1) as u64) << (52 - MANTISSA_BITS)) + 1.0f64.to_bits());
    (lo + hi) / 2.0 - 1.0
}

/// Mean, spread, extremes and percentiles of non-negative values.
///
/// ```
/// use fleetlab::sim::stats::Sketch;
/// let mut s = Sketch::default();
/// for v in 1..=100 { s.add(f64::from(v)); }
/// let sum = s.summary();
/// assert_eq!(sum.mean, 50.5);
/// assert!((sum.p95 - 95.0).abs() / 95.0 < 0.01);
/// ```
#[derive(Clone, Debug)]
pub struct Sketch {
    n: u64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    bins: Vec<u32>,
    /// Exact mode: the unit values are multiples of, and each distinct
    /// multiple's count.
    exact: Option<(f64, BTreeMap<u64, u64>)>,
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch {
            n: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            bins: Vec::new(),
            exact: None,
        }
    }
}

impl Sketch {
    /// A sketch of values that are whole multiples of `unit` (1 for
    /// counts, `1 / devices` for shares of devices), with exact quantiles.
    ///
    /// ```
    /// use fleetlab::sim::stats::Sketch;
    /// let mut s = Sketch::exact(1.0 / 40.0);
    /// for _ in 0..95 { s.add(0.0); }
    /// for _ in 0..5 { s.add(1.0 / 40.0); }
    /// let sum = s.summary();
    /// assert_eq!((sum.p5, sum.p95), (0.0, 0.0)); // not a bin's midpoint
    /// assert!(sum.mean > sum.p5);
    /// ```
    pub fn exact(unit: f64) -> Self {
        let unit = if unit.is_finite() && unit > 0.0 { unit } else { 1.0 };
        Sketch { exact: Some((unit, BTreeMap::new())), ..Sketch::default() }
    }

    /// Adds a value (negative or non-finite values count as 0).
    pub fn add(&mut self, v: f64) {
        let v = if v.is_finite() && v > 0.0 { v } else { 0.0 };
        self.n += 1;
        let d = v - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (v - self.mean);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if let Some((unit, counts)) = &mut self.exact {
            *counts.entry((v / *unit).round() as u64).or_insert(0) += 1;
            return;
        }
        if self.bins.is_empty() {
            self.bins = vec![0; BINS];
        }
        if let Some(c) = self.bins.get_mut(bin_of(v)) {
            *c += 1;
        }
    }

    /// Values added.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Nothing added.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The `q` quantile (0–1), within the bin's precision, clamped to the
    /// values seen.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0u64;
        if let Some((unit, counts)) = &self.exact {
            for (&k, &c) in counts {
                seen += c;
                if seen >= rank {
                    return (k as f64 * unit).clamp(self.min, self.max);
                }
            }
            return self.max;
        }
        for (i, &c) in self.bins.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return bin_mid(i).clamp(self.min, self.max);
            }
        }
        self.max
    }

    /// The non-empty bins as (midpoint, count), in increasing order (the
    /// distinct values, for an exact sketch).
    pub fn bins(&self) -> Vec<(f64, u64)> {
        if let Some((unit, counts)) = &self.exact {
            return counts.iter().map(|(&k, &c)| (k as f64 * unit, c)).collect();
        }
        self.bins
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .map(|(i, &c)| (bin_mid(i).clamp(self.min, self.max), u64::from(c)))
            .collect()
    }

    /// The summary.
    pub fn summary(&self) -> Summary {
        if self.n == 0 {
            return Summary::default();
        }
        let sd = if self.n > 1 { (self.m2 / (self.n - 1) as f64).sqrt() } else { 0.0 };
        Summary {
            mean: self.mean,
            sd,
            p5: self.quantile(0.05),
            p50: self.quantile(0.5),
            p95: self.quantile(0.95),
            min: self.min,
            max: self.max,
            n: self.n,
        }
    }
}

/// Exact percentiles of a share of devices per time bucket.
#[derive(Clone, Debug)]
pub struct ShareBand {
    sums: Vec<f64>,
    hist: Vec<BTreeMap<u32, u32>>,
    devices: f64,
    n: u64,
}

impl ShareBand {
    /// A band over `buckets` buckets of counts out of `devices`.
    pub fn new(buckets: usize, devices: u32) -> Self {
        ShareBand {
            sums: vec![0.0; buckets],
            hist: vec![BTreeMap::new(); buckets],
            devices: f64::from(devices.max(1)),
            n: 0,
        }
    }

    /// Adds one replication's curve of device counts.
    pub fn add(&mut self, curve: impl Iterator<Item = u32>) {
        self.n += 1;
        for ((v, sum), hist) in curve.zip(&mut self.sums).zip(&mut self.hist) {
            *sum += f64::from(v) / self.devices;
            *hist.entry(v).or_insert(0) += 1;
        }
    }

    /// Mean, P5, P50, P95 per bucket.
    pub fn points(&self) -> Vec<[f64; 4]> {
        let n = self.n.max(1);
        self.sums
            .iter()
            .zip(&self.hist)
            .map(|(sum, hist)| {
                let q = |p: f64| {
                    let rank = ((p * n as f64).ceil() as u64).clamp(1, n);
                    let mut seen = 0u64;
                    for (&k, &c) in hist {
                        seen += u64::from(c);
                        if seen >= rank {
                            return (f64::from(k) / self.devices).min(1.0);
                        }
                    }
                    1.0
                };
                [sum / n as f64, q(0.05), q(0.5), q(0.95)]
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_quantiles() {
        let mut b = ShareBand::new(2, 100);
        for i in 0..100 {
            b.add([i, 100].into_iter());
        }
        let p = b.points();
        assert!((p[0][0] - 0.495).abs() < 1e-9);
        assert!((p[0][3] - 0.94).abs() < 1e-9);
        assert_eq!(p[1], [1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn exact_sketch_gives_order_statistics() {
        // 1,000 replications of a share out of 256 devices: the values
        // sit between the log bins, where the binned sketch rounds.
        let mut s = Sketch::exact(1.0 / 256.0);
        let mut all = Vec::new();
        for i in 0..1000u32 {
            let v = f64::from((i * 7919) % 97) / 256.0;
            s.add(v);
            all.push(v);
        }
        all.sort_by(f64::total_cmp);
        for q in [0.05, 0.5, 0.95] {
            let rank = (q * 1000.0_f64).ceil() as usize;
            assert_eq!(s.quantile(q), all[rank - 1], "q {q}");
        }
    }

    #[test]
    fn sketch_handles_zero_and_spread() {
        let mut s = Sketch::default();
        for _ in 0..10 {
            s.add(0.0);
        }
        assert_eq!(s.summary().p95, 0.0);
        s.add(1e6);
        assert!((s.quantile(1.0) - 1e6).abs() < 1.0);
    }
}
