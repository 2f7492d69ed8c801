//! The §6.2 validation rules, run on every derived graph and on any
//! graph handed in (a hand-edited one included).
//!
//! Structural rules: every state is reachable from a start; no non-terminal
//! state is a trap (no way out); every non-terminal state reaches a
//! terminal. Mode invariants: TPM attestation only in self-deploying,
//! HoloLens and the technician flow; no account setup in the technician
//! flow; no device preparation in the user flow; APv2 states only in APv2
//! and no ESP there; the pre-provisioning landing only in the technician
//! flow; HoloLens states only on a HoloLens; the credential re-prompt only
//! where a user signed in. Each finding names the states.

use std::collections::VecDeque;
use std::fmt;

use petgraph::graph::NodeIndex;
use petgraph::Direction;
use serde::Serialize;

use super::derive::{FlowDevice, FlowGraph, FlowMode};
use super::model::{PrepStep, Segment, State};

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code: `unreachable`, `trap`, `no-terminal`, `tpm-outside-sd-pp-hl`,
    /// `account-setup-in-technician-flow`, `prep-in-user-flow`, `v2-outside-v2`,
    /// `esp-in-v2`, `landing-outside-technician-flow`, `hololens-state-on-pc`,
    /// `reprompt-without-user`, `no-start`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// The states concerned (`segment/State`).
    pub states: Vec<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.code, self.message, self.states.join(", "))
    }
}

/// A graph that passed [`validate`]: the only input of
/// [`CompiledFlow::compile`](super::CompiledFlow::compile).
#[derive(Clone, Debug)]
pub struct ValidFlow(FlowGraph);

impl ValidFlow {
    /// The graph.
    pub fn graph(&self) -> &FlowGraph {
        &self.0
    }

    /// Validates `graph`, keeping it when there is no finding.
    ///
    /// ```
    /// use fleetlab::flow::{derive, FlowInput, ValidFlow};
    /// let valid = ValidFlow::new(derive(&FlowInput::default())?).map_err(|f| format!("{f:?}"))?;
    /// assert!(valid.graph().node_count() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(graph: FlowGraph) -> Result<ValidFlow, Vec<Finding>> {
        let findings = validate(&graph);
        if findings.is_empty() {
            Ok(ValidFlow(graph))
        } else {
            Err(findings)
        }
    }
}

/// Every finding on `g` (empty: the graph is sound).
///
/// ```
/// use fleetlab::flow::{derive, validate, FlowInput, Node, State};
/// let mut g = derive(&FlowInput::default())?;
/// assert!(validate(&g).is_empty());
/// // Hand-break it: cut every way out of the sign-in page.
/// let signin = g.find(Node::main(State::EntraSignIn)).ok_or("no sign-in")?;
/// g.graph.retain_edges(|gr, e| gr.edge_endpoints(e).map(|(a, _)| a) != Some(signin));
/// let findings = validate(&g);
/// assert!(findings.iter().any(|f| f.code == "trap" && f.states == ["EntraSignIn"]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn validate(g: &FlowGraph) -> Vec<Finding> {
    let mut findings = Vec::new();
    let graph = &g.graph;
    let name = |i: NodeIndex| graph[i].to_string();
    let mut push = |code: &'static str, message: &str, states: Vec<String>| {
        if !states.is_empty() {
            findings.push(Finding { code, message: message.to_string(), states });
        }
    };

    if g.starts.is_empty() {
        push("no-start", "the graph has no start state", vec!["Boxed".into()]);
    }
    let forward = search(g, &g.starts, Direction::Outgoing);
    push(
        "unreachable",
        "states no run can reach from a start",
        graph.node_indices().filter(|i| !forward[i.index()]).map(name).collect(),
    );
    push(
        "trap",
        "non-terminal states with no way out",
        graph
            .node_indices()
            .filter(|&i| !graph[i].state.is_terminal())
            .filter(|&i| graph.edges_directed(i, Direction::Outgoing).next().is_none())
            .map(name)
            .collect(),
    );
    let terminals: Vec<NodeIndex> = graph.node_indices().filter(|&i| graph[i].state.is_terminal()).collect();
    let backward = search(g, &terminals, Direction::Incoming);
    push(
        "no-terminal",
        "non-terminal states from which no terminal state can be reached",
        graph
            .node_indices()
            .filter(|&i| !backward[i.index()])
            .filter(|&i| graph.edges_directed(i, Direction::Outgoing).next().is_some())
            .map(name)
            .collect(),
    );

    // Mode invariants (§6.2), on the states a run can reach.
    let reachable: Vec<NodeIndex> = graph.node_indices().filter(|i| forward[i.index()]).collect();
    let mode = g.input.mode;
    let hololens = g.input.device == FlowDevice::HoloLens;
    let sel = |pred: &dyn Fn(Segment, State) -> bool| -> Vec<String> {
        reachable.iter().filter(|&&i| pred(graph[i].segment, graph[i].state)).map(|&i| name(i)).collect()
    };
    push(
        "tpm-outside-sd-pp-hl",
        "TPM attestation (EspPrep.SecureHardware) is reachable only in self-deploying, HoloLens and the technician flow",
        sel(&|seg, s| {
            matches!(s, State::EspPrep(PrepStep::SecureHardware) | State::TpmError(_))
                && !(seg == Segment::Technician || (seg == Segment::Main && mode == FlowMode::SelfDeploying))
        }),
    );
    push(
        "account-setup-in-technician-flow",
        "EspAccountSetup is unreachable in the technician flow",
        sel(&|seg, s| {
            seg == Segment::Technician
                && matches!(s, State::EspAccountSetup | State::EspError(super::model::EspPhase::Account))
        }),
    );
    push(
        "prep-in-user-flow",
        "EspPrep.* is unreachable in the pre-provisioning user flow",
        sel(&|seg, s| seg == Segment::User && matches!(s, State::EspPrep(_) | State::HybridReboot)),
    );
    push(
        "v2-outside-v2",
        "V2.* states are reachable only in device preparation",
        sel(&|_, s| {
            mode != FlowMode::DevicePreparation
                && matches!(s, State::V2(_) | State::V2Complete | State::V2Failed(_))
        }),
    );
    push(
        "esp-in-v2",
        "device preparation has no ESP",
        sel(&|_, s| {
            mode == FlowMode::DevicePreparation
                && matches!(
                    s,
                    State::EspPrep(_) | State::EspDeviceSetup | State::EspAccountSetup | State::EspError(_)
                )
        }),
    );
    push(
        "landing-outside-technician-flow",
        "the pre-provisioning landing page and red screen exist only in the technician flow",
        sel(&|seg, s| {
            seg != Segment::Technician
                && matches!(s, State::PreProvLanding | State::PreProvError(_) | State::PreProvSuccess)
        }),
    );
    push(
        "hololens-state-on-pc",
        "HL.* states are reachable only on a HoloLens",
        sel(&|_, s| {
            !hololens && matches!(s, State::HlDetectWindow | State::HlLowBattery | State::HlTenantLockWait)
        }),
    );
    push(
        "reprompt-without-user",
        "the credential re-prompt needs a user who signed in (user-driven or the user flow)",
        sel(&|seg, s| {
            s == State::CredentialReprompt && (seg == Segment::Technician || mode != FlowMode::UserDriven)
        }),
    );
    findings
}

/// Marks the nodes reachable from `from` along `dir`.
fn search(g: &FlowGraph, from: &[NodeIndex], dir: Direction) -> Vec<bool> {
    let mut seen = vec![false; g.graph.node_count()];
    let mut queue: VecDeque<NodeIndex> = VecDeque::new();
    for &s in from {
        if let Some(slot) = seen.get_mut(s.index()) {
            *slot = true;
            queue.push_back(s);
        }
    }
    while let Some(n) = queue.pop_front() {
        for m in g.graph.neighbors_directed(n, dir) {
            if let Some(slot) = seen.get_mut(m.index()) {
                if !*slot {
                    *slot = true;
                    queue.push_back(m);
                }
            }
        }
    }
    seen
}
