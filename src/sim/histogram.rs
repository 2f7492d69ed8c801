//! The time-in-system histogram of a report, with its bin width taken
//! from the data.
//!
//! Why from the data: a width derived from the horizon puts a queue whose
//! customers stay minutes into one bar of a 10-day horizon. The width is
//! the Freedman–Diaconis rule, `2 · IQR · n^(−1/3)` (Freedman & Diaconis,
//! "On the histogram as a density estimator", Z. Wahrscheinlichkeitstheorie
//! 57, 1981), with `n` the values of one replication (the histogram shows
//! the mean count per replication), rounded to a width that reads well
//! and widened if the bars would be more than [`MAX_BARS`] over the range.
//! The values are re-binned from the sketch's fine log bins (0.4 %
//! relative precision), so nothing per value is kept.

use super::report::Histogram;
use super::run::nice_bin;
use super::stats::Sketch;

/// At most this many bars over `[0, max]`.
pub const MAX_BARS: f64 = 80.0;

/// The histogram of `values` (summed over `reps` replications), as mean
/// counts per replication.
///
/// ```
/// use fleetlab::sim::{histogram::linear, stats::Sketch};
/// let mut s = Sketch::default();
/// for i in 0..1000 { s.add(f64::from(i % 100)); }
/// let h = linear(&s, 10.0);
/// assert!(h.counts.len() >= 5, "{:?}", h); // Freedman–Diaconis: 20-minute bars for 100 values
/// assert!((h.counts.iter().sum::<f64>() - 100.0).abs() < 1e-9);
/// ```
pub fn linear(values: &Sketch, reps: f64) -> Histogram {
    let summary = values.summary();
    let reps = if reps > 0.0 { reps } else { 1.0 };
    if values.is_empty() {
        return Histogram { bin_minutes: 1.0, counts: Vec::new(), summary };
    }
    let per_rep = (values.len() as f64 / reps).max(1.0);
    let iqr = values.quantile(0.75) - values.quantile(0.25);
    let fd = 2.0 * iqr / per_rep.cbrt();
    let floor = summary.max / MAX_BARS;
    let bin = nice_bin(if fd > floor { fd } else { floor.max(1e-3) });
    let bars = ((summary.max / bin).floor() as usize) + 1;
    let mut counts = vec![0.0; bars];
    for (mid, c) in values.bins() {
        let i = ((mid / bin) as usize).min(bars - 1);
        if let Some(x) = counts.get_mut(i) {
            *x += c as f64 / reps;
        }
    }
    Histogram { bin_minutes: bin, counts, summary }
}
