//! Graphviz DOT, Mermaid and plain-text renderings of a flow graph.
//!
//! One convention in all three: failure edges are dashed and red, the ways
//! out of a failure (Try again, Continue anyway, Reset, Retry) orange,
//! next-run edges (reboot after a fix, the user flow after Reseal) dotted
//! grey; terminal states are drawn with a double border. Node and edge
//! order follows the graph, so the output is stable for a given input.

use std::fmt::Write as _;

use petgraph::graph::NodeIndex;

use super::derive::{Edge, FlowGraph};
use super::model::{EdgeKind, Node, Plane, Segment};

fn edge_label(e: &Edge) -> String {
    match e.code {
        Some(code) => format!("{} [{}]", e.event, code),
        None => e.event.to_string(),
    }
}

fn cluster(n: &Node) -> (&'static str, &'static str) {
    match (n.state.plane(), n.segment) {
        (Plane::Service, _) => ("service", "service plane (Autopilot record)"),
        (_, Segment::Main) => ("device", "device"),
        (_, Segment::Technician) => ("technician", "pre-provisioning: technician flow"),
        (_, Segment::User) => ("user", "pre-provisioning: user flow"),
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz DOT.
///
/// ```
/// use fleetlab::flow::{derive, to_dot, FlowInput};
/// let dot = to_dot(&derive(&FlowInput::default())?);
/// assert!(dot.starts_with("digraph"));
/// assert!(dot.contains("style=dashed, color=red"));
/// # Ok::<(), fleetlab::flow::FlowError>(())
/// ```
pub fn to_dot(g: &FlowGraph) -> String {
    let graph = &g.graph;
    let mut s = String::new();
    let _ = writeln!(s, "digraph enrollment {{");
    let _ = writeln!(s, "  label=\"{}\";", dot_escape(&g.title()));
    let _ = writeln!(s, "  labelloc=t; rankdir=TB; fontname=\"Helvetica\";");
    let _ = writeln!(s, "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=11];");
    let _ = writeln!(s, "  edge [fontname=\"Helvetica\", fontsize=9];");
    for (id, title) in [
        ("service", "service plane (Autopilot record)"),
        ("device", "device"),
        ("technician", "pre-provisioning: technician flow"),
        ("user", "pre-provisioning: user flow"),
    ] {
        let members: Vec<NodeIndex> = graph.node_indices().filter(|&i| cluster(&graph[i]).0 == id).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(s, "  subgraph cluster_{id} {{");
        let _ = writeln!(s, "    label=\"{title}\"; style=dashed; color=gray60;");
        for i in members {
            let n = graph[i];
            let mut attrs = format!("label=\"{}\"", dot_escape(&n.state.to_string()));
            if n.state.is_terminal() {
                attrs.push_str(", peripheries=2");
            }
            if n.state.is_failure() {
                attrs.push_str(", color=red, fontcolor=red");
            }
            if g.starts.contains(&i) {
                attrs.push_str(", style=\"rounded,bold\"");
            }
            let _ = writeln!(s, "    n{} [{attrs}];", i.index());
        }
        let _ = writeln!(s, "  }}");
    }
    for e in graph.edge_indices() {
        let (Some((a, b)), Some(w)) = (graph.edge_endpoints(e), graph.edge_weight(e)) else { continue };
        let style = match w.kind {
            EdgeKind::Normal => "",
            EdgeKind::Error => ", style=dashed, color=red, fontcolor=red",
            EdgeKind::Recovery => ", color=darkorange, fontcolor=darkorange",
            EdgeKind::NextRun => ", style=dotted, color=gray50, fontcolor=gray40",
        };
        let _ = writeln!(
            s,
            "  n{} -> n{} [label=\"{}\"{style}];",
            a.index(),
            b.index(),
            dot_escape(&edge_label(w))
        );
    }
    s.push_str("}\n");
    s
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;").replace('|', "#124;")
}

/// Mermaid `flowchart`.
///
/// ```
/// use fleetlab::flow::{derive, to_mermaid, FlowInput};
/// let m = to_mermaid(&derive(&FlowInput::default())?);
/// assert!(m.starts_with("flowchart TD"));
/// assert!(m.contains("-.->"));
/// # Ok::<(), fleetlab::flow::FlowError>(())
/// ```
pub fn to_mermaid(g: &FlowGraph) -> String {
    let graph = &g.graph;
    let mut s = String::from("flowchart TD\n");
    for (id, title) in [
        ("service", "service plane"),
        ("device", "device"),
        ("technician", "technician flow"),
        ("user", "user flow"),
    ] {
        let members: Vec<NodeIndex> = graph.node_indices().filter(|&i| cluster(&graph[i]).0 == id).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(s, "  subgraph {id} [\"{title}\"]");
        for i in members {
            let n = graph[i];
            let label = mermaid_escape(&n.state.to_string());
            if n.state.is_terminal() {
                let _ = writeln!(s, "    n{}([\"{label}\"])", i.index());
            } else {
                let _ = writeln!(s, "    n{}[\"{label}\"]", i.index());
            }
        }
        s.push_str("  end\n");
    }
    let mut styles: Vec<(usize, &str)> = Vec::new();
    for (k, e) in graph.edge_indices().enumerate() {
        let (Some((a, b)), Some(w)) = (graph.edge_endpoints(e), graph.edge_weight(e)) else { continue };
        let arrow = match w.kind {
            EdgeKind::Error | EdgeKind::NextRun => "-.->",
            _ => "-->",
        };
        let _ =
            writeln!(s, "  n{} {arrow}|\"{}\"| n{}", a.index(), mermaid_escape(&edge_label(w)), b.index());
        match w.kind {
            EdgeKind::Error => styles.push((k, "stroke:red,color:red")),
            EdgeKind::Recovery => styles.push((k, "stroke:darkorange")),
            EdgeKind::NextRun => styles.push((k, "stroke:gray")),
            EdgeKind::Normal => {}
        }
    }
    for (k, style) in styles {
        let _ = writeln!(s, "  linkStyle {k} {style}");
    }
    let failures: Vec<String> = graph
        .node_indices()
        .filter(|&i| graph[i].state.is_failure())
        .map(|i| format!("n{}", i.index()))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(s, "  classDef failure stroke:red,color:red");
        let _ = writeln!(s, "  class {} failure", failures.join(","));
    }
    s
}

/// One line per state, its edges indented below it.
///
/// ```
/// use fleetlab::flow::{derive, to_text, FlowInput};
/// let text = to_text(&derive(&FlowInput::default())?);
/// assert!(text.contains("EntraSignIn"));
/// # Ok::<(), fleetlab::flow::FlowError>(())
/// ```
pub fn to_text(g: &FlowGraph) -> String {
    let mut s = format!("{}: {} states, {} transitions\n", g.title(), g.node_count(), g.edge_count());
    for i in g.graph.node_indices() {
        let n = g.graph[i];
        let mark = if n.state.is_terminal() { "  (terminal)" } else { "" };
        let _ = writeln!(s, "{n}{mark}");
        for (to, e) in g.edges_from(i) {
            let kind = match e.kind {
                EdgeKind::Normal => "",
                EdgeKind::Error => "  error",
                EdgeKind::Recovery => "  recovery",
                EdgeKind::NextRun => "  next run",
            };
            let p = e.timing.p.map(|p| format!("  p={p}")).unwrap_or_default();
            let _ = writeln!(
                s,
                "  --{}--> {}   [row {}{}{}, {:.1} min]",
                edge_label(e),
                g.graph[to],
                e.row,
                kind,
                p,
                e.timing.minutes
            );
        }
    }
    s
}
