//! The bottleneck sentence: which shared resource, once increased,
//! shortens the wave most.
//!
//! Design decisions, and why:
//!
//! * **Measured, not guessed from utilisation.** Utilisation over the
//!   whole horizon is diluted by the idle days after a wave, and a
//!   resource can run at 100 % without being what holds the wave back
//!   (an uplink saturated by downloads that would time out anyway). The
//!   sentence therefore rests on an internal one-resource sweep: each
//!   shared resource of the run (technicians, bench ports, every shared
//!   uplink, admins, connectors) is doubled on its own and the scenario
//!   re-run on the first [`JUDGE_REPS`] replications. The resource named
//!   is the one whose doubling shortens the wave most — the marginal
//!   analysis of a bottleneck in queueing networks (Hopp & Spearman,
//!   *Factory Physics*, 3rd ed., §7.2: the bottleneck is the resource that
//!   limits throughput, found by relieving one at a time).
//! * **Common random numbers make a few replications enough.** Every
//!   device draws from its own streams ([`super::rng`]), so the doubled
//!   run and the base run differ by the knob and not by noise; the
//!   comparison is paired replication by replication.
//! * **"Shortens the wave" is the mean device's time from arrival to
//!   done**, a device not done by the horizon counted until the horizon.
//!   It moves when devices wait less and when more of them finish, so it
//!   also judges waves that never reach 95 %, and a steady stream of
//!   arrivals (whose last arrival fixes the wave's end whatever the
//!   staffing) is judged by the delay each device sees.
//! * **The numbers quoted** beside the verdict are judged over each
//!   resource's busy period (the report buckets in which it is in use) and the
//!   devices still waiting for it at the horizon.

use super::engine::minutes;
use super::model::run_replication;
use super::report::ResourceSeries;
use super::resolve::Scenario;
use super::summary::duration;
use rayon::prelude::*;

/// Replications per variant of the internal sweep.
pub const JUDGE_REPS: u32 = 12;

/// A doubling below this share of the wave is "would not shorten it".
pub const NEGLIGIBLE: f64 = 0.05;

/// The scenario with one resource doubled, or `None` when the run has no
/// such resource.
fn doubled(sc: &Scenario, name: &str) -> Option<Scenario> {
    let mut v = sc.clone();
    match name {
        "technicians" => {
            let d = v.depot.as_mut()?;
            d.technicians = d.technicians.saturating_mul(2);
            for w in &mut d.week {
                w.1 = w.1.saturating_mul(2);
            }
            for w in d.changes.iter_mut().flatten() {
                w.1 = w.1.saturating_mul(2);
            }
        }
        "bench-ports" => {
            let d = v.depot.as_mut()?;
            d.ports = Some(d.ports?.saturating_mul(2));
        }
        "admins" => v.operator.admins = v.operator.admins.saturating_mul(2),
        "connectors" => {
            let (n, per) = v.connectors?;
            v.connectors = Some((n.saturating_mul(2), per));
        }
        other => {
            let site = other.strip_prefix("uplink:")?;
            let s = v.sites.iter_mut().find(|s| s.spec.name == site)?;
            s.uplink *= 2.0;
            s.spec.uplink_mbps *= 2.0;
        }
    }
    Some(v)
}

/// Mean over devices of the time from arrival until done, of replications
/// `0..reps`; a device not done by the horizon (unfinished, abandoned,
/// escaped) counts until the horizon.
fn wave_length(sc: &Scenario, seed: u64, reps: u32) -> Vec<f64> {
    (0..reps)
        .into_par_iter()
        .map(|r| {
            let rep = run_replication(sc, seed, u64::from(r), true);
            let devs = rep.devices.unwrap_or_default();
            let total: u64 = devs
                .iter()
                .filter(|d| d.arrived < sc.horizon)
                .map(|d| if d.outcome.is_success() { d.end.min(sc.horizon) } else { sc.horizon } - d.arrived)
                .sum();
            minutes(total) / devs.len().max(1) as f64
        })
        .collect()
}

/// Each resource's relative shortening of the wave when doubled, largest
/// first: (name, share of the mean device's time to done saved).
pub fn gains(sc: &Scenario, seed: u64, reps: u32, resources: &[ResourceSeries]) -> Vec<(String, f64)> {
    let reps = reps.clamp(1, JUDGE_REPS);
    let base = wave_length(sc, seed, reps);
    let base_total: f64 = base.iter().sum();
    let mut out: Vec<(String, f64)> = resources
        .iter()
        .filter(|r| r.busy_period_utilisation > 0.0)
        .filter_map(|r| {
            let v = doubled(sc, &r.name)?;
            let total: f64 = wave_length(&v, seed, reps).iter().sum();
            let gain = if base_total > 0.0 { 1.0 - total / base_total } else { 0.0 };
            Some((r.name.clone(), gain))
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

fn label(name: &str) -> String {
    match name {
        "technicians" => "technicians".into(),
        "bench-ports" => "bench ports".into(),
        "admins" => "admins".into(),
        "connectors" => "connectors".into(),
        other => other.replace("uplink:", "the uplink of site "),
    }
}

/// The bottleneck sentence of a run whose resources are `resources`.
pub fn judge(sc: &Scenario, seed: u64, reps: u32, resources: &[ResourceSeries]) -> String {
    if resources.is_empty() {
        return "No shared resource was modelled.".into();
    }
    let gains = gains(sc, seed, reps, resources);
    let list = |skip: usize| {
        let v: Vec<String> =
            gains.iter().skip(skip).map(|(n, g)| format!("{}: {:.0} %", label(n), g * 100.0)).collect();
        if v.is_empty() {
            String::new()
        } else {
            format!(" (doubling {})", v.join(", "))
        }
    };
    let Some((top, gain)) = gains.first().filter(|(_, g)| *g >= NEGLIGIBLE) else {
        let others = list(0);
        let busiest = resources
            .iter()
            .max_by(|a, b| a.busy_period_utilisation.total_cmp(&b.busy_period_utilisation))
            .map_or_else(String::new, |r| {
                format!(
                    " The busiest is {} at {:.0} % over its busy period.",
                    label(&r.name),
                    r.busy_period_utilisation * 100.0
                )
            });
        let best = gains.first().map_or(0.0, |g| g.1.max(0.0) * 100.0);
        return format!(
            "No shared resource holds the wave back: doubling any one of them shortens the mean device's \
             time to done by {best:.0} % at most{others}; the time goes to the devices' own enrollment steps.{busiest}"
        );
    };
    let Some(r) = resources.iter().find(|r| &r.name == top) else { return String::new() };
    let others = list(1);
    let u = r.busy_period_utilisation * 100.0;
    let waiting = r.waiting_at_end;
    let detail = if r.kind == "link" {
        format!(
            "it is {u:.0} % used over its busy period, with up to {:.0} downloads at once and {waiting:.1} still \
             active at the horizon",
            r.peak_queue
        )
    } else {
        format!(
            "it is {u:.0} % busy over its busy period, {:.0} % of requests wait for it ({} on average) and \
             {waiting:.1} devices still wait for it at the horizon",
            r.p_wait * 100.0,
            duration(r.mean_wait_minutes)
        )
    };
    let advice = match r.kind.as_str() {
        "staff" => " Another technician raises throughput more than anything else.",
        "equipment" => " More bench ports (power and network) come first.",
        "link" => " Delivery Optimization peering, a Connected Cache or more bandwidth come first.",
        "connector" => " Add Intune Connector for AD instances.",
        _ => " Faster ticket handling comes first.",
    };
    format!(
        "{} {} the bottleneck: doubling {} shortens the mean device's time to done by {:.0} %{others}; {detail}.{advice}",
        capitalise(&label(top)),
        if top.starts_with("uplink:") { "is" } else { "are" },
        if top.starts_with("uplink:") { "it" } else { "them" },
        gain * 100.0
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
