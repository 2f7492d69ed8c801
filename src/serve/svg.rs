//! An enrollment flow drawn as SVG, in Rust, so the page needs neither
//! Graphviz nor a layout library.
//!
//! Layout: layered, top to bottom. A state's layer is its breadth-first
//! depth from the start states along forward (normal) edges, then along
//! any edge for states only failures reach; states keep graph order within
//! a layer. Edges are cubic curves coloured as `fleetlab flow show
//! --format dot` colours them (failure red dashed, recovery orange,
//! next run grey dotted), each with its event as a tooltip.

use std::collections::VecDeque;
use std::fmt::Write as _;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use crate::flow::model::EdgeKind;
use crate::flow::FlowGraph;

const W: f64 = 150.0;
const H: f64 = 30.0;
const GAP_X: f64 = 24.0;
const GAP_Y: f64 = 46.0;
const PAD: f64 = 12.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Each node's layer.
fn layers(g: &FlowGraph) -> Vec<usize> {
    let graph = &g.graph;
    let mut layer = vec![usize::MAX; graph.node_count()];
    let mut queue: VecDeque<NodeIndex> = VecDeque::new();
    for &s in &g.starts {
        if let Some(l) = layer.get_mut(s.index()) {
            *l = 0;
            queue.push_back(s);
        }
    }
    for forward_only in [true, false] {
        let mut q = queue.clone();
        if !forward_only {
            q = graph
                .node_indices()
                .filter(|i| layer.get(i.index()).is_some_and(|&l| l != usize::MAX))
                .collect();
        }
        while let Some(n) = q.pop_front() {
            let here = layer.get(n.index()).copied().unwrap_or(0);
            for e in graph.edges(n) {
                if forward_only && e.weight().kind != EdgeKind::Normal {
                    continue;
                }
                if let Some(l) = layer.get_mut(e.target().index()) {
                    if *l == usize::MAX {
                        *l = here + 1;
                        q.push_back(e.target());
                    }
                }
            }
        }
    }
    layer.iter().map(|&l| if l == usize::MAX { 0 } else { l }).collect()
}

/// The graph as a standalone SVG document.
pub fn flow_svg(g: &FlowGraph) -> String {
    let graph = &g.graph;
    let layer = layers(g);
    let depth = layer.iter().copied().max().unwrap_or(0) + 1;
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (i, &l) in layer.iter().enumerate() {
        if let Some(r) = rows.get_mut(l) {
            r.push(i);
        }
    }
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let width = PAD * 2.0 + widest as f64 * (W + GAP_X) - GAP_X;
    let height = PAD * 2.0 + depth as f64 * (H + GAP_Y) - GAP_Y;
    let mut pos = vec![(0.0, 0.0); graph.node_count()];
    for (r, row) in rows.iter().enumerate() {
        let row_width = row.len() as f64 * (W + GAP_X) - GAP_X;
        let left = (width - row_width) / 2.0;
        for (k, &i) in row.iter().enumerate() {
            if let Some(p) = pos.get_mut(i) {
                *p = (left + k as f64 * (W + GAP_X), PAD + r as f64 * (H + GAP_Y));
            }
        }
    }
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" \
         height=\"{height:.0}\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"10\">",
        escape(&g.title())
    );
    s.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" \
         markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"context-stroke\"/>\
         </marker></defs>",
    );
    for e in graph.edge_references() {
        let (Some(&(ax, ay)), Some(&(bx, by))) = (pos.get(e.source().index()), pos.get(e.target().index()))
        else {
            continue;
        };
        let w = e.weight();
        let style = match w.kind {
            EdgeKind::Normal => "stroke=\"#444\"",
            EdgeKind::Error => "stroke=\"#c62828\" stroke-dasharray=\"4 3\"",
            EdgeKind::Recovery => "stroke=\"#ef6c00\"",
            EdgeKind::NextRun => "stroke=\"#888\" stroke-dasharray=\"1 3\"",
        };
        let (x1, y1, x2, y2) = (ax + W / 2.0, ay + H, bx + W / 2.0, by);
        let (y1, y2) = if by > ay { (y1, y2) } else { (ay, by + H) };
        let bend = ((y2 - y1).abs() / 2.0).max(20.0);
        let (c1, c2) = if by > ay { (y1 + bend, y2 - bend) } else { (y1 - bend, y2 + bend) };
        let label = match w.code {
            Some(code) => format!("{} [{code}]", w.event),
            None => w.event.to_string(),
        };
        let _ = write!(
            s,
            "<path d=\"M{x1:.1},{y1:.1} C{x1:.1},{c1:.1} {x2:.1},{c2:.1} {x2:.1},{y2:.1}\" fill=\"none\" {style} \
             marker-end=\"url(#arrow)\"><title>{}</title></path>",
            escape(&label)
        );
    }
    for i in graph.node_indices() {
        let n = graph[i];
        let Some(&(x, y)) = pos.get(i.index()) else { continue };
        let stroke = if n.state.is_failure() { "#c62828" } else { "#37474f" };
        let fill = if g.starts.contains(&i) { "#e3f2fd" } else { "#fff" };
        let width = if n.state.is_terminal() { 2.5 } else { 1.0 };
        let name = escape(&n.state.to_string());
        let _ = write!(
            s,
            "<g><title>{name}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{W}\" height=\"{H}\" rx=\"6\" \
             fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{width}\"/><text x=\"{:.1}\" y=\"{:.1}\" \
             text-anchor=\"middle\" dominant-baseline=\"middle\" fill=\"{stroke}\">{}</text></g>",
            x + W / 2.0,
            y + H / 2.0,
            escape(&shorten(&n.state.to_string()))
        );
    }
    s.push_str("</svg>");
    s
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 26 {
        return s.to_string();
    }
    let mut t: String = s.chars().take(25).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_is_drawn_once() -> Result<(), crate::flow::FlowError> {
        let g = crate::flow::derive(&crate::flow::FlowInput::default())?;
        let svg = flow_svg(&g);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), g.node_count());
        assert_eq!(svg.matches("marker-end=").count(), g.edge_count());
        Ok(())
    }
}
