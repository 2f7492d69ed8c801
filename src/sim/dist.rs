//! Duration distributions as a scenario writes them, checked when read
//! and compiled once into samplers.
//!
//! A scenario writes a distribution as a one-key table, in minutes:
//!
//! ```toml
//! fixed = 3
//! exponential = 5            # mean
//! lognormal = [2.0, 0.8]     # mean, coefficient of variation (LN(mean, cv) of the spec)
//! triangular = [1, 2, 5]     # min, mode, max
//! pert = [2, 4, 8]           # min, mode, max
//! uniform = [20, 40]         # min, max
//! empirical = [1.5, 2, 2.5, 7]  # observed values, resampled uniformly
//! ```
//!
//! Impossible parameters (a negative mean, `mode > max`, an empty
//! empirical list) are rejected while the file is read, so the error
//! carries the file, line and column of the value.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp, LogNormal, Pert, Triangular, Uniform};
use serde::{Deserialize, Serialize};

use crate::flow::Dist as FlowDist;

/// A distribution of minutes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, try_from = "RawDist", into = "RawDist")]
pub enum Dist {
    /// Always this long.
    Fixed(f64),
    /// Exponential with this mean.
    Exponential(f64),
    /// Lognormal by mean and coefficient of variation.
    Lognormal(f64, f64),
    /// Triangular (min, mode, max).
    Triangular(f64, f64, f64),
    /// PERT (min, mode, max).
    Pert(f64, f64, f64),
    /// Uniform (min, max).
    Uniform(f64, f64),
    /// Resampled observations.
    Empirical(Vec<f64>),
}

/// The file form of [`Dist`], before its parameters are checked.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum RawDist {
    /// `fixed = m`.
    Fixed(f64),
    /// `exponential = mean`.
    Exponential(f64),
    /// `lognormal = [mean, cv]`.
    Lognormal(f64, f64),
    /// `triangular = [min, mode, max]`.
    Triangular(f64, f64, f64),
    /// `pert = [min, mode, max]`.
    Pert(f64, f64, f64),
    /// `uniform = [min, max]`.
    Uniform(f64, f64),
    /// `empirical = [v, …]`.
    Empirical(Vec<f64>),
}

impl From<Dist> for RawDist {
    fn from(d: Dist) -> RawDist {
        match d {
            Dist::Fixed(m) => RawDist::Fixed(m),
            Dist::Exponential(m) => RawDist::Exponential(m),
            Dist::Lognormal(m, cv) => RawDist::Lognormal(m, cv),
            Dist::Triangular(a, b, c) => RawDist::Triangular(a, b, c),
            Dist::Pert(a, b, c) => RawDist::Pert(a, b, c),
            Dist::Uniform(a, b) => RawDist::Uniform(a, b),
            Dist::Empirical(v) => RawDist::Empirical(v),
        }
    }
}

fn finite_non_negative(what: &str, v: f64) -> Result<(), String> {
    if !v.is_finite() || v < 0.0 {
        Err(format!("{what} must be a finite number of minutes ≥ 0, not {v}"))
    } else {
        Ok(())
    }
}

fn ordered(name: &str, min: f64, mode: f64, max: f64) -> Result<(), String> {
    for v in [min, mode, max] {
        finite_non_negative(name, v)?;
    }
    if !(min <= mode && mode <= max) {
        return Err(format!("{name} = [min, mode, max] needs min ≤ mode ≤ max, got [{min}, {mode}, {max}]"));
    }
    Ok(())
}

impl TryFrom<RawDist> for Dist {
    type Error = String;
    fn try_from(raw: RawDist) -> Result<Dist, String> {
        Ok(match raw {
            RawDist::Fixed(m) => {
                finite_non_negative("fixed", m)?;
                Dist::Fixed(m)
            }
            RawDist::Exponential(m) => {
                finite_non_negative("exponential (the mean)", m)?;
                Dist::Exponential(m)
            }
            RawDist::Lognormal(m, cv) => {
                finite_non_negative("lognormal mean", m)?;
                if !cv.is_finite() || cv < 0.0 {
                    return Err(format!("lognormal = [mean, cv] needs a cv ≥ 0, not {cv}"));
                }
                Dist::Lognormal(m, cv)
            }
            RawDist::Triangular(a, b, c) => {
                ordered("triangular", a, b, c)?;
                Dist::Triangular(a, b, c)
            }
            RawDist::Pert(a, b, c) => {
                ordered("pert", a, b, c)?;
                Dist::Pert(a, b, c)
            }
            RawDist::Uniform(a, b) => {
                ordered("uniform", a, a, b)?;
                Dist::Uniform(a, b)
            }
            RawDist::Empirical(v) => {
                if v.is_empty() {
                    return Err("empirical needs at least one observed value".into());
                }
                for &x in &v {
                    finite_non_negative("empirical values", x)?;
                }
                Dist::Empirical(v)
            }
        })
    }
}

impl Dist {
    /// The flow table's default for an edge, when it has one.
    pub fn from_flow(d: FlowDist) -> Option<Dist> {
        Some(match d {
            FlowDist::Fixed { minutes } => Dist::Fixed(minutes),
            FlowDist::Triangular { min, mode, max } => Dist::Triangular(min, mode, max),
            FlowDist::LogNormal { mean, cv } => Dist::Lognormal(mean, cv),
            FlowDist::Pert { min, mode, max } => Dist::Pert(min, mode, max),
            FlowDist::Uniform { min, max } => Dist::Uniform(min, max),
            FlowDist::EspTimeout | FlowDist::Unset => return None,
        })
    }

    /// The mean, in minutes.
    pub fn mean(&self) -> f64 {
        match self {
            Dist::Fixed(m) | Dist::Exponential(m) | Dist::Lognormal(m, _) => *m,
            Dist::Triangular(a, b, c) => (a + b + c) / 3.0,
            Dist::Pert(a, b, c) => (a + 4.0 * b + c) / 6.0,
            Dist::Uniform(a, b) => (a + b) / 2.0,
            Dist::Empirical(v) => v.iter().sum::<f64>() / v.len().max(1) as f64,
        }
    }

    /// The sampler of this distribution.
    ///
    /// ```
    /// use fleetlab::sim::dist::Dist;
    /// use fleetlab::sim::rng::{stream, Stream};
    /// let s = Dist::Lognormal(15.0, 1.2).sampler();
    /// let mut rng = stream(7, 0, Stream::Durations);
    /// let n = 20_000;
    /// let mean = (0..n).map(|_| s.sample(&mut rng)).sum::<f64>() / n as f64;
    /// assert!((mean - 15.0).abs() < 1.0);
    /// ```
    pub fn sampler(&self) -> Sampler {
        // Degenerate shapes (zero spread) become fixed values: rand_distr
        // rejects them, and they are legitimate in a scenario.
        match *self {
            Dist::Fixed(m) => Sampler::Fixed(m),
            Dist::Exponential(m) if m > 0.0 => match Exp::new(1.0 / m) {
                Ok(d) => Sampler::Exp(d),
                Err(_) => Sampler::Fixed(m),
            },
            Dist::Lognormal(m, cv) if m > 0.0 && cv > 0.0 => match LogNormal::from_mean_cv(m, cv) {
                Ok(d) => Sampler::LogNormal(d),
                Err(_) => Sampler::Fixed(m),
            },
            Dist::Triangular(a, b, c) if a < c => match Triangular::new(a, c, b) {
                Ok(d) => Sampler::Triangular(d),
                Err(_) => Sampler::Fixed(b),
            },
            Dist::Pert(a, b, c) if a < c => match Pert::new(a, c).with_mode(b) {
                Ok(d) => Sampler::Pert(d),
                Err(_) => Sampler::Fixed(b),
            },
            Dist::Uniform(a, b) if a < b => match Uniform::new(a, b) {
                Ok(d) => Sampler::Uniform(d),
                Err(_) => Sampler::Fixed(a),
            },
            Dist::Empirical(ref v) if v.len() > 1 => Sampler::Empirical(v.clone().into_boxed_slice()),
            Dist::Empirical(ref v) => Sampler::Fixed(v.first().copied().unwrap_or(0.0)),
            _ => Sampler::Fixed(self.mean()),
        }
    }
}

impl std::fmt::Display for Dist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dist::Fixed(m) => write!(f, "{m} min"),
            Dist::Exponential(m) => write!(f, "Exp(mean {m} min)"),
            Dist::Lognormal(m, cv) => write!(f, "LN({m} min, cv {cv})"),
            Dist::Triangular(a, b, c) => write!(f, "Tri({a}, {b}, {c}) min"),
            Dist::Pert(a, b, c) => write!(f, "PERT({a}, {b}, {c}) min"),
            Dist::Uniform(a, b) => write!(f, "U({a}, {b}) min"),
            Dist::Empirical(v) => write!(f, "empirical({} values)", v.len()),
        }
    }
}

/// A compiled [`Dist`]: draws minutes.
#[derive(Clone, Debug)]
pub enum Sampler {
    /// A constant.
    Fixed(f64),
    /// Exponential.
    Exp(Exp<f64>),
    /// Lognormal.
    LogNormal(LogNormal<f64>),
    /// Triangular.
    Triangular(Triangular<f64>),
    /// PERT.
    Pert(Pert<f64>),
    /// Uniform.
    Uniform(Uniform<f64>),
    /// Observations.
    Empirical(Box<[f64]>),
}

impl Sampler {
    /// One draw, in minutes (never negative).
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let v = match self {
            Sampler::Fixed(m) => return *m,
            Sampler::Exp(d) => d.sample(rng),
            Sampler::LogNormal(d) => d.sample(rng),
            Sampler::Triangular(d) => d.sample(rng),
            Sampler::Pert(d) => d.sample(rng),
            Sampler::Uniform(d) => d.sample(rng),
            Sampler::Empirical(v) => v.get(rng.random_range(0..v.len())).copied().unwrap_or(0.0),
        };
        v.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::rng::{stream, Stream};

    #[derive(Deserialize)]
    struct Holder {
        d: Dist,
    }

    #[test]
    fn reads_every_form() -> Result<(), toml::de::Error> {
        for (text, want) in [
            ("d = { fixed = 3 }", Dist::Fixed(3.0)),
            ("d = { exponential = 5 }", Dist::Exponential(5.0)),
            ("d = { lognormal = [2, 0.8] }", Dist::Lognormal(2.0, 0.8)),
            ("d = { triangular = [1, 2, 5] }", Dist::Triangular(1.0, 2.0, 5.0)),
            ("d = { pert = [2, 4, 8] }", Dist::Pert(2.0, 4.0, 8.0)),
            ("d = { uniform = [20, 40] }", Dist::Uniform(20.0, 40.0)),
            ("d = { empirical = [1, 2] }", Dist::Empirical(vec![1.0, 2.0])),
        ] {
            let h: Holder = toml::from_str(text)?;
            assert_eq!(h.d, want, "{text}");
        }
        Ok(())
    }

    #[test]
    fn rejects_impossible_parameters() {
        for text in [
            "d = { fixed = -1 }",
            "d = { triangular = [5, 2, 1] }",
            "d = { lognormal = [2, -1] }",
            "d = { empirical = [] }",
            "d = { gamma = 2 }",
            "d = { fixed = 1, uniform = [1, 2] }",
        ] {
            assert!(toml::from_str::<Holder>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn sample_means_match() {
        let mut rng = stream(3, 0, Stream::Durations);
        for d in [
            Dist::Exponential(4.0),
            Dist::Triangular(1.0, 2.0, 6.0),
            Dist::Pert(2.0, 4.0, 8.0),
            Dist::Uniform(20.0, 40.0),
            Dist::Empirical(vec![1.0, 3.0]),
        ] {
            let s = d.sampler();
            let n = 40_000;
            let mean = (0..n).map(|_| s.sample(&mut rng)).sum::<f64>() / f64::from(n);
            assert!((mean - d.mean()).abs() < 0.03 * d.mean() + 0.05, "{d}: {mean}");
        }
    }
}
