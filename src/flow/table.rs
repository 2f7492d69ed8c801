//! A validated graph compiled into a dense transition table: state index ×
//! event index → edge, so a simulator steps a device with two array reads
//! per event and never walks petgraph.
//!
//! Layout: states and events are numbered (states in graph order, events
//! in order of first appearance); `cells[state * events + event]` holds
//! the edge index or [`NO_EDGE`]; `edges` holds the target and the
//! duration/probability slot; `out[state]` lists a state's edges, table
//! order, for sampling among competing events.

use serde::Serialize;

use super::derive::Edge;
use super::event::Event;
use super::model::{EdgeKind, Node};
use super::validate::ValidFlow;

/// No transition for this (state, event).
pub const NO_EDGE: u32 = u32::MAX;

/// One compiled edge.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CompiledEdge {
    /// Source state index.
    pub from: u32,
    /// Event index.
    pub event: u32,
    /// Target state index.
    pub to: u32,
    /// The edge as derived (row, event id, kind, code, timing).
    pub edge: Edge,
}

/// The dense table of one device's flow.
#[derive(Clone, Debug, Serialize)]
pub struct CompiledFlow {
    /// States, by index.
    pub states: Vec<Node>,
    /// Events, by index.
    pub events: Vec<Event>,
    /// `states.len() × events.len()` cells: an index into `edges`, or [`NO_EDGE`].
    pub cells: Vec<u32>,
    /// Edges.
    pub edges: Vec<CompiledEdge>,
    /// Per state, the indices of its edges.
    pub out: Vec<Vec<u32>>,
    /// Start states.
    pub starts: Vec<u32>,
}

impl CompiledFlow {
    /// Compiles a validated graph.
    ///
    /// ```
    /// use fleetlab::flow::{derive, CompiledFlow, FlowInput, Node, State, ValidFlow};
    /// let valid = ValidFlow::new(derive(&FlowInput::default())?).map_err(|f| format!("{f:?}"))?;
    /// let table = CompiledFlow::compile(&valid);
    /// let boxed = table.state(Node::main(State::Boxed)).ok_or("no Boxed")?;
    /// let next = table.step(boxed, "power-on").ok_or("no power-on")?;
    /// assert_eq!(table.states[next as usize], Node::main(State::OobeStart));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn compile(valid: &ValidFlow) -> CompiledFlow {
        let g = &valid.graph().graph;
        let states: Vec<Node> = g.node_weights().copied().collect();
        let mut events: Vec<Event> = Vec::new();
        for e in g.edge_weights() {
            if !events.contains(&e.event) {
                events.push(e.event);
            }
        }
        let width = events.len();
        let mut cells = vec![NO_EDGE; states.len() * width];
        let mut edges = Vec::with_capacity(g.edge_count());
        let mut out = vec![Vec::new(); states.len()];
        for e in g.edge_indices() {
            let (Some((a, b)), Some(w)) = (g.edge_endpoints(e), g.edge_weight(e)) else { continue };
            let event = events.iter().position(|&x| x == w.event).unwrap_or(0);
            let k = edges.len() as u32;
            let cell = a.index() * width + event;
            // Two edges with the same event from one state: the first
            // (table order) wins in the cell; both stay in `out`.
            if cells.get(cell) == Some(&NO_EDGE) {
                cells[cell] = k;
            }
            if let Some(list) = out.get_mut(a.index()) {
                list.push(k);
            }
            edges.push(CompiledEdge {
                from: a.index() as u32,
                event: event as u32,
                to: b.index() as u32,
                edge: *w,
            });
        }
        let starts = valid.graph().starts.iter().map(|s| s.index() as u32).collect();
        CompiledFlow { states, events, cells, edges, out, starts }
    }

    /// The index of a state.
    pub fn state(&self, node: Node) -> Option<u32> {
        self.states.iter().position(|&n| n == node).map(|i| i as u32)
    }

    /// The index of an event, by [`Event`] or by its id.
    pub fn event(&self, id: impl AsRef<str>) -> Option<u32> {
        let id = id.as_ref();
        self.events.iter().position(|e| e.as_str() == id).map(|i| i as u32)
    }

    /// The edge taken from `state` on event index `event`.
    #[inline]
    pub fn edge(&self, state: u32, event: u32) -> Option<&CompiledEdge> {
        let cell = *self.cells.get(state as usize * self.events.len() + event as usize)?;
        self.edges.get(cell as usize)
    }

    /// The next state from `state` on event id `event`.
    pub fn step(&self, state: u32, event: &str) -> Option<u32> {
        Some(self.edge(state, self.event(event)?)?.to)
    }

    /// The way forward from `state`: its first `Normal` edge that is not a
    /// self-loop.
    pub fn forward(&self, state: u32) -> Option<&CompiledEdge> {
        self.out
            .get(state as usize)?
            .iter()
            .filter_map(|&k| self.edges.get(k as usize))
            .find(|e| e.edge.kind == EdgeKind::Normal && e.to != state)
    }
}
