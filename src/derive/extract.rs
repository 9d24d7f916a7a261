//! Extraction: the cheapest term of an e-class.

use super::lang::{EGraph, Node};
use super::tree::{from_node, Tree};
use egg::{Id, Language};
use std::collections::HashMap;

/// The cost of a node: its size, with ∂ and Σ made expensive so that extraction prefers
/// them gone.
fn cost(node: &Node) -> usize {
    match node {
        Node::Diff(_) => 1000,
        Node::Sum(_) => 50,
        _ => 1,
    }
}

/// The cheapest term of an e-class, costing only the classes it reaches (egg's
/// `Extractor` costs the whole e-graph, which Σ-δ elimination would do once per sum).
pub(crate) fn best(eg: &EGraph, id: Id) -> Tree {
    let root = eg.find(id);
    let mut classes = vec![root];
    let mut seen = std::collections::HashSet::from([root]);
    let mut next = 0;
    while next < classes.len() {
        for node in &eg[classes[next]].nodes {
            for &child in node.children() {
                let child = eg.find(child);
                if seen.insert(child) {
                    classes.push(child);
                }
            }
        }
        next += 1;
    }
    // Costs to a fixpoint; every choice costs more than its children, so none is cyclic.
    let mut chosen: HashMap<Id, (usize, &Node)> = HashMap::new();
    loop {
        let mut changed = false;
        for &class in &classes {
            for node in &eg[class].nodes {
                let total = node.children().iter().try_fold(cost(node), |sum, &child| {
                    chosen.get(&eg.find(child)).map(|(c, _)| sum.saturating_add(*c))
                });
                let Some(total) = total else { continue };
                if chosen.get(&class).is_none_or(|(c, _)| total < *c) {
                    chosen.insert(class, (total, node));
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    build(eg, root, &chosen)
}

fn build(eg: &EGraph, class: Id, chosen: &HashMap<Id, (usize, &Node)>) -> Tree {
    let node = chosen[&class].1;
    from_node(node, node.children().iter().map(|&child| build(eg, eg.find(child), chosen)).collect())
}
