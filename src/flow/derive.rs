//! From one device's settings ([`FlowInput`]) to its concrete graph
//! ([`FlowGraph`]): every guard of the table resolved, then everything not
//! reachable from the start states pruned.

use std::collections::{HashMap, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde::Serialize;

use super::event::Event;
use super::model::{Cond, Dist, EdgeKind, Flow, JoinKind, Node, Segment, State, Timing};
use super::transitions::{Transition, TRANSITIONS};

/// The deployment mode of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowMode {
    /// User-driven (Autopilot v1); with pre-provisioning allowed the
    /// technician flow and the user flow join the graph.
    UserDriven,
    /// Self-deploying (Autopilot v1), Windows PC or HoloLens 2.
    SelfDeploying,
    /// Windows Autopilot device preparation (APv2).
    DevicePreparation,
}

impl FlowMode {
    /// `user-driven`, `self-deploying` or `device-preparation`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowMode::UserDriven => "user-driven",
            FlowMode::SelfDeploying => "self-deploying",
            FlowMode::DevicePreparation => "device-preparation",
        }
    }
}

/// The device type, as far as the flow cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlowDevice {
    /// A Windows PC (also Surface Hub and VMs: same flow, §1).
    WindowsPc,
    /// HoloLens 2.
    HoloLens,
}

/// The ESP settings that shape the graph (§2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EspOptions {
    /// Show app and profile configuration progress.
    pub show_progress: bool,
    /// Block device use until apps and profiles are installed.
    pub block_device_use: bool,
    /// Minutes before the error screen (hybrid adds 40 to the device phase).
    pub timeout_minutes: u32,
    /// "Try again".
    pub allow_retry: bool,
    /// "Continue anyway".
    pub allow_continue: bool,
    /// "Reset device".
    pub allow_reset: bool,
    /// Windows quality updates after the ESP.
    pub install_quality_updates: bool,
}

impl Default for EspOptions {
    /// The Intune defaults of a new ESP (§2.2): shown, blocking, 60
    /// minutes, Try again only, no quality updates.
    fn default() -> Self {
        EspOptions {
            show_progress: true,
            block_device_use: true,
            timeout_minutes: 60,
            allow_retry: true,
            allow_continue: false,
            allow_reset: false,
            install_quality_updates: false,
        }
    }
}

/// Everything derivation needs about one device and its profile.
///
/// ```
/// use fleetlab::flow::{derive, FlowInput, FlowMode, JoinKind};
/// let input = FlowInput { mode: FlowMode::UserDriven, join: JoinKind::Entra, ..FlowInput::default() };
/// let graph = derive(&input)?;
/// assert!(graph.node_count() > 20);
/// # Ok::<(), fleetlab::flow::FlowError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowInput {
    /// Deployment mode.
    pub mode: FlowMode,
    /// Entra or hybrid join.
    pub join: JoinKind,
    /// Windows PC or HoloLens.
    pub device: FlowDevice,
    /// The profile allows pre-provisioning (user-driven only).
    pub pre_provisioning_allowed: bool,
    /// Language preset with automatic keyboard: OOBE pages skippable on Ethernet.
    pub language_preset: bool,
    /// ESP settings.
    pub esp: EspOptions,
    /// Windows Hello for Business provisioning after the ESP (on by
    /// default in Intune tenants).
    pub hello_for_business: bool,
    /// A kiosk profile (self-deploying ends in autologon).
    pub kiosk: bool,
    /// HoloLens TenantLockdown `RequireNetworkInOOBE`.
    pub tenant_lockdown: bool,
    /// APv2: allow users to skip setup after multiple attempts.
    pub v2_allow_skip: bool,
    /// The tenant assigns a profile to all devices: a registered device
    /// then never lacks a profile, so the 815 escape to standard OOBE
    /// does not exist.
    pub default_profile: bool,
}

impl Default for FlowInput {
    /// User-driven Entra join on a Windows PC, no pre-provisioning, default ESP, WHfB on.
    fn default() -> Self {
        FlowInput {
            mode: FlowMode::UserDriven,
            join: JoinKind::Entra,
            device: FlowDevice::WindowsPc,
            pre_provisioning_allowed: false,
            language_preset: false,
            esp: EspOptions::default(),
            hello_for_business: true,
            kiosk: false,
            tenant_lockdown: false,
            v2_allow_skip: false,
            default_profile: false,
        }
    }
}

/// An input that describes no real flow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// HoloLens runs self-deploying only (§1.9).
    #[error("HoloLens 2 deploys only in self-deploying mode, not {0}")]
    HoloLensMode(&'static str),
    /// Hybrid join is user-driven v1 only (§1.6, §1.8, §1.9).
    #[error("hybrid join is not available in {0} mode")]
    HybridJoin(&'static str),
    /// Pre-provisioning is a user-driven option (§1.7).
    #[error("pre-provisioning is not available in {0} mode")]
    PreProvisioning(&'static str),
}

/// One edge of a derived graph: the row it came from, resolved.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Edge {
    /// Spec row.
    pub row: &'static str,
    /// Event.
    pub event: Event,
    /// Description.
    pub label: &'static str,
    /// Drawing and walking.
    pub kind: EdgeKind,
    /// Error code.
    pub code: Option<&'static str>,
    /// Duration and probability slot, ESP timeouts resolved.
    pub timing: Timing,
}

/// A device's enrollment graph.
#[derive(Clone, Debug)]
pub struct FlowGraph {
    /// What it was derived from.
    pub input: FlowInput,
    /// The graph: nodes are (segment, state), edges carry the event.
    pub graph: DiGraph<Node, Edge>,
    /// Where runs start: the device plane's `Boxed`, and the service
    /// plane's `Unregistered` for Autopilot v1.
    pub starts: Vec<NodeIndex>,
}

impl FlowGraph {
    /// Number of states.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Number of transitions.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The index of `node`, if the graph has it.
    pub fn find(&self, node: Node) -> Option<NodeIndex> {
        self.graph.node_indices().find(|&i| self.graph[i] == node)
    }

    /// Whether any segment of the graph has `state`.
    pub fn has_state(&self, state: State) -> bool {
        self.graph.node_weights().any(|n| n.state == state)
    }

    /// Outgoing edges of `i`, in table order.
    pub fn edges_from(&self, i: NodeIndex) -> Vec<(NodeIndex, &Edge)> {
        let mut out: Vec<_> = self.graph.edges_directed(i, Direction::Outgoing).collect();
        out.sort_by_key(|e| e.id());
        out.into_iter().map(|e| (e.target(), e.weight())).collect()
    }

    /// A name for the graph: mode, join, device, pre-provisioning.
    pub fn title(&self) -> String {
        let i = &self.input;
        let mut s = match (i.mode, i.device) {
            (FlowMode::SelfDeploying, FlowDevice::HoloLens) => "self-deploying (HoloLens 2)".to_string(),
            (m, _) => m.as_str().to_string(),
        };
        if i.mode == FlowMode::UserDriven {
            s.push_str(match i.join {
                JoinKind::Entra => ", Entra join",
                JoinKind::Hybrid => ", hybrid join",
            });
            if i.pre_provisioning_allowed {
                s.push_str(", pre-provisioning");
            }
        }
        s
    }
}

impl FlowInput {
    /// The flows whose rows apply.
    pub fn flows(&self) -> Result<Vec<Flow>, FlowError> {
        match (self.mode, self.device) {
            (FlowMode::SelfDeploying, _) | (FlowMode::DevicePreparation, _)
                if self.join == JoinKind::Hybrid =>
            {
                Err(FlowError::HybridJoin(self.mode.as_str()))
            }
            (FlowMode::SelfDeploying, _) | (FlowMode::DevicePreparation, _)
                if self.pre_provisioning_allowed =>
            {
                Err(FlowError::PreProvisioning(self.mode.as_str()))
            }
            (m, FlowDevice::HoloLens) if m != FlowMode::SelfDeploying => {
                Err(FlowError::HoloLensMode(m.as_str()))
            }
            (FlowMode::SelfDeploying, FlowDevice::HoloLens) => Ok(vec![Flow::HoloLens]),
            (FlowMode::SelfDeploying, FlowDevice::WindowsPc) => Ok(vec![Flow::SelfDeploying]),
            (FlowMode::DevicePreparation, _) => Ok(vec![Flow::DevicePreparation]),
            (FlowMode::UserDriven, _) if self.pre_provisioning_allowed => {
                Ok(vec![Flow::UserDriven, Flow::Technician, Flow::UserFlow])
            }
            // WIN×5 still opens the landing page; Provision then fails with 0x80180005.
            (FlowMode::UserDriven, _) => Ok(vec![Flow::UserDriven, Flow::Technician]),
        }
    }

    /// Whether `cond` holds for this input.
    pub fn holds(&self, cond: Cond) -> bool {
        let esp = &self.esp;
        match cond {
            Cond::EspBlocking => esp.show_progress && esp.block_device_use,
            Cond::EspRetry => esp.allow_retry,
            Cond::EspContinue => esp.allow_continue,
            Cond::EspReset => esp.allow_reset,
            Cond::QualityUpdates => esp.install_quality_updates,
            Cond::NoQualityUpdates => !esp.install_quality_updates,
            Cond::Hello => self.hello_for_business,
            Cond::NoHello => !self.hello_for_business,
            Cond::PreProvisioningAllowed => self.pre_provisioning_allowed,
            Cond::PreProvisioningDisallowed => !self.pre_provisioning_allowed,
            Cond::LanguagePreset => self.language_preset,
            Cond::TenantLockdown => self.tenant_lockdown,
            Cond::NoTenantLockdown => !self.tenant_lockdown,
            Cond::Kiosk => self.kiosk,
            Cond::NotKiosk => !self.kiosk,
            Cond::V2AllowSkip => self.v2_allow_skip,
            Cond::NoDefaultProfile => !self.default_profile,
        }
    }

    /// The ESP timer for an edge leaving `from`: the profile's timeout,
    /// plus 40 minutes in the device phases of a hybrid join (§1.3, Q3:
    /// per phase, restarting at account setup).
    fn timeout_minutes(&self, from: State) -> f64 {
        let base = f64::from(self.esp.timeout_minutes);
        match (self.join, from) {
            (JoinKind::Hybrid, State::EspPrep(_) | State::EspDeviceSetup) => base + 40.0,
            _ => base,
        }
    }
}

/// Builds the graph of one device: the rows whose guard holds, from the
/// start states, nothing unreachable.
///
/// ```
/// use fleetlab::flow::{derive, FlowDevice, FlowInput, FlowMode, Node, PrepStep, State};
/// let holo = FlowInput { mode: FlowMode::SelfDeploying, device: FlowDevice::HoloLens, ..FlowInput::default() };
/// let graph = derive(&holo)?;
/// assert!(graph.find(Node::main(State::HlDetectWindow)).is_some());
/// assert!(graph.find(Node::main(State::EspPrep(PrepStep::SecureHardware))).is_some());
/// assert!(!graph.has_state(State::EntraSignIn));
/// # Ok::<(), fleetlab::flow::FlowError>(())
/// ```
pub fn derive(input: &FlowInput) -> Result<FlowGraph, FlowError> {
    let flows = input.flows()?;
    let mut edges: Vec<(Node, Node, Edge)> = Vec::new();
    for t in TRANSITIONS {
        if !applies(t, input) {
            continue;
        }
        for &flow in t.guard.flows.iter().filter(|f| flows.contains(f)) {
            let seg = flow.segment();
            let from = Node { segment: seg, state: t.from };
            let to = Node { segment: t.to_segment.unwrap_or(seg), state: t.to };
            edges.push((from, to, resolve(t, input)));
        }
    }
    let mut starts = vec![Node::main(State::Boxed)];
    if input.mode != FlowMode::DevicePreparation {
        starts.push(Node::main(State::Unregistered));
    }
    Ok(build(input.clone(), &starts, &edges))
}

fn applies(t: &Transition, input: &FlowInput) -> bool {
    t.guard.join.is_none_or(|j| j == input.join) && t.guard.conds.iter().all(|&c| input.holds(c))
}

fn resolve(t: &Transition, input: &FlowInput) -> Edge {
    let mut timing = t.timing;
    if timing.dist == Dist::EspTimeout {
        let minutes = input.timeout_minutes(t.from);
        timing.minutes = minutes;
        timing.dist = Dist::Fixed { minutes };
    }
    Edge { row: t.row, event: t.event, label: t.label, kind: t.kind, code: t.code, timing }
}

/// Keeps the nodes reachable from `starts`, in discovery order (so node
/// indices follow the way through the flow).
fn build(input: FlowInput, starts: &[Node], edges: &[(Node, Node, Edge)]) -> FlowGraph {
    let mut out: HashMap<Node, Vec<usize>> = HashMap::new();
    for (k, (from, _, _)) in edges.iter().enumerate() {
        out.entry(*from).or_default().push(k);
    }
    let mut graph = DiGraph::new();
    let mut index: HashMap<Node, NodeIndex> = HashMap::new();
    let mut queue: VecDeque<Node> = VecDeque::new();
    for &s in starts {
        index.insert(s, graph.add_node(s));
        queue.push_back(s);
    }
    let mut kept: Vec<usize> = Vec::new();
    while let Some(n) = queue.pop_front() {
        for &k in out.get(&n).map(Vec::as_slice).unwrap_or(&[]) {
            let to = edges[k].1;
            if let std::collections::hash_map::Entry::Vacant(v) = index.entry(to) {
                v.insert(graph.add_node(to));
                queue.push_back(to);
            }
            kept.push(k);
        }
    }
    // Edges in table order, so a node's first edge is its way forward.
    kept.sort_unstable();
    for k in kept {
        let (from, to, edge) = edges[k];
        if let (Some(&a), Some(&b)) = (index.get(&from), index.get(&to)) {
            graph.add_edge(a, b, edge);
        }
    }
    let starts = starts.iter().filter_map(|s| index.get(s).copied()).collect();
    FlowGraph { input, graph, starts }
}

/// Whether a node is in the segment and has the state (for callers
/// inspecting graphs).
pub fn node(segment: Segment, state: State) -> Node {
    Node { segment, state }
}
