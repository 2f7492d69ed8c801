//! One device stepped through its compiled flow with chosen outcomes.
//!
//! The walk is deterministic: at each state it takes, in order, (1) an
//! edge whose event is the next requested failure (`fail`, each consumed
//! once), (2) at a failure state, the chosen recovery (Try again / Retry,
//! Continue anyway, Reset, give up), else the screen's normal way on, else
//! give up, else it stops there (no option is taken unasked), (3) a preferred event, once (`win-x5`
//! for the technician flow), (4) the way forward (the first non-loop `Normal`
//! edge), (5) any edge out. It stops at a terminal state, except that the
//! user flow follows Reseal. Durations are the §3.2 defaults in each
//! edge's slot.

use serde::Serialize;

use super::event::Event;
use super::model::{EdgeKind, Node, State};
use super::table::{CompiledEdge, CompiledFlow};

/// What to do on an error screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recovery {
    /// Try again (ESP) / Retry (red screen, APv2).
    Retry,
    /// Continue anyway.
    Continue,
    /// Reset device.
    Reset,
    /// Take no option: the admin queue.
    GiveUp,
}

impl Recovery {
    fn events(self) -> &'static [&'static str] {
        match self {
            Recovery::Retry => &["try-again", "retry", "retry-sign-in"],
            Recovery::Continue => &["continue-anyway"],
            Recovery::Reset => &["reset"],
            Recovery::GiveUp => &["give-up"],
        }
    }
}

/// How to walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkOptions {
    /// Failure events to take, in order, each at its first opportunity.
    pub fail: Vec<String>,
    /// The option taken on error screens.
    pub recovery: Recovery,
    /// Events taken at their first chance, each once (e.g. `win-x5`).
    pub prefer: Vec<String>,
    /// Safety bound on the number of steps.
    pub max_steps: usize,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions { fail: Vec::new(), recovery: Recovery::GiveUp, prefer: Vec::new(), max_steps: 500 }
    }
}

/// One step of a walk.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Where the device was.
    pub from: Node,
    /// The event.
    pub event: Event,
    /// Where it went.
    pub to: Node,
    /// Spec row.
    pub row: &'static str,
    /// Edge kind.
    pub kind: EdgeKind,
    /// Error code.
    pub code: Option<&'static str>,
    /// Minutes spent in `from`.
    pub minutes: f64,
    /// Minutes since power-on when the event happened.
    pub at: f64,
}

/// The result of a walk.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Walk {
    /// The steps.
    pub steps: Vec<Step>,
    /// Where it ended.
    pub end: Node,
    /// Total minutes.
    pub minutes: f64,
    /// Minutes per phase, in order of first appearance.
    pub phases: Vec<(&'static str, f64)>,
    /// Requested failures the walk never had the chance to take.
    pub unused: Vec<String>,
}

impl Walk {
    /// The states visited, start included.
    pub fn path(&self) -> Vec<Node> {
        let mut p: Vec<Node> = self.steps.first().map(|s| vec![s.from]).unwrap_or_default();
        p.extend(self.steps.iter().map(|s| s.to));
        p
    }

    /// The visited states' names, start included (`technician/EspDeviceSetup`, …).
    pub fn names(&self) -> Vec<String> {
        self.path().iter().map(Node::to_string).collect()
    }

    /// Text: one line per step, then the phase totals.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for st in &self.steps {
            let code = st.code.map(|c| format!(" [{c}]")).unwrap_or_default();
            let mark = match st.kind {
                EdgeKind::Error => "  ✗",
                EdgeKind::Recovery => "  ↺",
                _ => "",
            };
            let _ = writeln!(
                s,
                "{:>7}  {:>6.1} min  {} --{}{}--> {}{mark}",
                clock(st.at - st.minutes),
                st.minutes,
                st.from,
                st.event,
                code,
                st.to
            );
        }
        let _ = writeln!(s, "{:>7}  end: {}", clock(self.minutes), self.end);
        let _ = writeln!(s, "\nphase timings:");
        for (phase, m) in &self.phases {
            let _ = writeln!(s, "  {phase:<24} {m:>6.1} min");
        }
        let _ = writeln!(s, "  {:<24} {:>6.1} min", "total", self.minutes);
        for u in &self.unused {
            let _ = writeln!(s, "note: the walk never reached a state where `{u}` can happen");
        }
        s
    }
}

fn clock(minutes: f64) -> String {
    let total = minutes.max(0.0).round() as u64;
    format!("{}:{:02}", total / 60, total % 60)
}

/// Walks the device from its `Boxed` start.
///
/// ```
/// use fleetlab::flow::{derive, walk, CompiledFlow, FlowInput, ValidFlow, WalkOptions};
/// let table = CompiledFlow::compile(&ValidFlow::new(derive(&FlowInput::default())?).map_err(|f| format!("{f:?}"))?);
/// let w = walk(&table, &WalkOptions::default());
/// assert_eq!(w.end.to_string(), "Desktop");
/// assert!(w.minutes > 10.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn walk(table: &CompiledFlow, options: &WalkOptions) -> Walk {
    let mut pending: Vec<String> = options.fail.clone();
    let mut prefer: Vec<String> = options.prefer.clone();
    let start = table.state(Node::main(State::Boxed)).or_else(|| table.starts.first().copied()).unwrap_or(0);
    let mut state = start;
    let mut at = 0.0;
    let mut steps = Vec::new();
    let mut phases: Vec<(&'static str, f64)> = Vec::new();
    let mut visits = vec![0usize; table.states.len()];
    while steps.len() < options.max_steps {
        let Some(&node) = table.states.get(state as usize) else { break };
        let edges: Vec<&CompiledEdge> = table
            .out
            .get(state as usize)
            .map(|v| v.iter().filter_map(|&k| table.edges.get(k as usize)).collect())
            .unwrap_or_default();
        let by_event = |ids: &[&str]| edges.iter().copied().find(|e| ids.contains(&e.edge.event.as_str()));
        let chosen = if node.state.is_terminal() {
            if node.state == State::Resealed {
                by_event(&["user-powers-on"])
            } else {
                None
            }
        } else if let Some((k, e)) =
            pending.iter().enumerate().find_map(|(k, f)| by_event(&[f.as_str()]).map(|e| (k, e)))
        {
            pending.remove(k);
            Some(e)
        } else if node.state.is_failure() {
            // Only the option asked for, the screen's own way on (an error
            // screen after a TPM failure), or giving up: a walk never
            // retries or resets unasked. A failure that recurs after the
            // same choice twice is not going away, so the walk then gives up,
            // and stops where it cannot.
            let seen = visits.get(state as usize).copied().unwrap_or(0);
            let choice = if seen >= 2 { Recovery::GiveUp.events() } else { options.recovery.events() };
            by_event(choice)
                .or_else(|| edges.iter().copied().find(|e| e.edge.kind == EdgeKind::Normal))
                .or_else(|| by_event(Recovery::GiveUp.events()))
        } else {
            match prefer.iter().position(|p| by_event(&[p.as_str()]).is_some()) {
                Some(k) => by_event(&[prefer.remove(k).as_str()]),
                None => None,
            }
            .or_else(|| table.forward(state))
            .or_else(|| edges.iter().copied().find(|e| e.to != state))
        };
        let Some(e) = chosen else { break };
        if let Some(v) = visits.get_mut(state as usize) {
            *v += 1;
        }
        let minutes = e.edge.timing.minutes;
        at += minutes;
        let phase = node.state.phase();
        match phases.iter_mut().find(|(p, _)| *p == phase) {
            Some((_, m)) => *m += minutes,
            None => phases.push((phase, minutes)),
        }
        let to = table.states.get(e.to as usize).copied().unwrap_or(node);
        steps.push(Step {
            from: node,
            event: e.edge.event,
            to,
            row: e.edge.row,
            kind: e.edge.kind,
            code: e.edge.code,
            minutes,
            at,
        });
        state = e.to;
    }
    let end = table.states.get(state as usize).copied().unwrap_or(Node::main(State::Boxed));
    phases.retain(|(_, m)| *m > 0.0);
    Walk { steps, end, minutes: at, phases, unused: pending }
}
