//! Faults on demand: the settings, the seeded draws and the looping-pager
//! bugs.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rand::RngExt;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::server::{Incoming, Shared};
use super::tenant::{graph_error, Reply};

/// How `Retry-After` is written on injected 429s and 503s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryAfterStyle {
    /// Delta-seconds (what Graph sends in practice).
    #[default]
    Seconds,
    /// An HTTP date that many seconds ahead.
    Date,
    /// No header: the client falls back to its backoff.
    Absent,
}

/// A looping-pager bug to reproduce (graph-api.md §3.4, §5.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoopBug {
    /// Pages advance normally.
    #[default]
    None,
    /// From the second page on, the nextLink is the URL just requested.
    SameLink,
    /// From the second page on, the same page comes back under a fresh token.
    SamePage,
}

/// Faults injected on Graph routes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Share of requests answered 429.
    pub throttle: f64,
    /// `Retry-After` value on 429/503, in seconds.
    pub retry_after_secs: u64,
    /// How `Retry-After` is written.
    pub retry_after_style: RetryAfterStyle,
    /// Share answered 500.
    pub server_error: f64,
    /// Share answered 503 (with `Retry-After`).
    pub unavailable: f64,
    /// Share of successful bodies cut off mid-transfer.
    pub truncate: f64,
    /// Added latency, milliseconds, uniform in `[min, max]`.
    pub latency_ms: Option<(u64, u64)>,
    /// Pager bug.
    pub loop_bug: LoopBug,
    /// Seed of the fault draws.
    pub seed: u64,
}

pub(super) fn rng(seed: u64) -> Pcg64 {
    Pcg64::new(u128::from(seed) | 1 << 64, 0x5851_f42d_4c95_7f2d)
}

/// What a fault draw decided.
pub(super) enum Fault {
    None,
    Reply(Reply),
    Truncate,
}

impl Shared {
    pub(super) fn latency(&self) -> Duration {
        let Ok(mut slot) = self.faults.lock() else { return Duration::ZERO };
        let (faults, rng) = &mut *slot;
        match faults.latency_ms {
            Some((lo, hi)) if hi >= lo => Duration::from_millis(rng.random_range(lo..=hi)),
            _ => Duration::ZERO,
        }
    }

    pub(super) fn draw(&self) -> Fault {
        let Ok(mut slot) = self.faults.lock() else { return Fault::None };
        let (faults, rng) = &mut *slot;
        let x: f64 = rng.random_range(0.0..1.0);
        let retry_after = |reply: Reply| match faults.retry_after_style {
            RetryAfterStyle::Seconds => reply.with_header("Retry-After", faults.retry_after_secs.to_string()),
            RetryAfterStyle::Date => reply.with_header(
                "Retry-After",
                httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(faults.retry_after_secs + 1)),
            ),
            RetryAfterStyle::Absent => reply,
        };
        let mut edge = faults.throttle;
        if x < edge {
            self.counters.throttled.fetch_add(1, Ordering::Relaxed);
            return Fault::Reply(retry_after(graph_error(
                429,
                "TooManyRequests",
                "Please retry again later.",
            )));
        }
        edge += faults.server_error;
        if x < edge {
            self.counters.server_errors.fetch_add(1, Ordering::Relaxed);
            return Fault::Reply(graph_error(500, "generalException", "General exception while processing."));
        }
        edge += faults.unavailable;
        if x < edge {
            self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
            return Fault::Reply(retry_after(graph_error(
                503,
                "serviceNotAvailable",
                "Service unavailable.",
            )));
        }
        edge += faults.truncate;
        if x < edge {
            return Fault::Truncate;
        }
        Fault::None
    }

    pub(super) fn loop_bug(&self) -> LoopBug {
        self.faults.lock().map(|f| f.0.loop_bug).unwrap_or_default()
    }
}

/// Rewrites the nextLink of a page after the first, per the pager bug.
pub(super) fn apply_loop_bug(shared: &Shared, req: &Incoming, reply: Reply) -> Reply {
    let bug = shared.loop_bug();
    if bug == LoopBug::None {
        return reply;
    }
    let Ok(mut page) = serde_json::from_slice::<Value>(&reply.body) else { return reply };
    let this = format!("{}{}?{}", shared.base, req.path, req.raw_query);
    let next = match bug {
        LoopBug::SameLink => this,
        _ => {
            let n = req
                .query
                .iter()
                .find(|(k, _)| k == "bugpage")
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(0);
            let kept: Vec<String> =
                req.raw_query.split('&').filter(|p| !p.starts_with("bugpage=")).map(str::to_string).collect();
            format!("{}{}?{}&bugpage={}", shared.base, req.path, kept.join("&"), n + 1)
        }
    };
    if let Some(obj) = page.as_object_mut() {
        obj.remove("@odata.deltaLink");
        obj.insert("@odata.nextLink".into(), Value::String(next));
    }
    Reply::json(200, &page)
}
