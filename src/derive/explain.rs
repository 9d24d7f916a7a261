//! Explanations turned into proof steps: egg's tree explanation of an equivalence,
//! walked so that each rewrite gives the whole term after it.

use super::lang::{EGraph, Node};
use super::tree::{Step, Tree};
use egg::{FlatTerm, TreeTerm};
use std::rc::Rc;

/// The steps from `from` to `to`, which must be equal in `egraph`, from egg's
/// explanation. A step that only regroups a product prints like the one before it; its
/// rule is then added to that step's rules rather than shown as a step of its own. A step
/// that prints like an earlier one closes a detour (egg's explanations can wander, e.g.
/// through a rule and back reversed): the steps since that one are dropped.
pub fn steps(egraph: &mut EGraph, from: &Tree, to: &Tree, sizes: &[String]) -> Vec<Step> {
    let explanation = egraph.explain_equivalence(&from.to_expr(), &to.to_expr());
    let mut steps: Vec<Step> = Vec::new();
    // `shown[k]`: the term after `k` steps, as printed.
    let mut shown = vec![from.show(sizes)];
    let Some(first) = explanation.explanation_trees.first() else { return steps };
    let mut current = initial_term(first);
    walk(&explanation.explanation_trees, &mut Vec::new(), &mut current, &mut |rule, whole| {
        let step = Step::new(rule, Tree::from_flat(whole), sizes);
        match (steps.last_mut(), shown.iter().position(|e| *e == step.expr)) {
            (Some(last), Some(k)) if k + 1 == shown.len() => {
                last.rule = format!("{}, {}", last.rule, step.rule);
                last.term = step.term;
            }
            (_, Some(k)) => {
                steps.truncate(k);
                shown.truncate(k + 1);
            }
            (_, None) => {
                shown.push(step.expr.clone());
                steps.push(step);
            }
        }
    });
    steps
}

/// Walks egg's tree explanation `proof` of the subterm at `path` of `whole`: each
/// rewrite puts its term in place and calls `step` with its rule and the whole term.
/// (egg's own flat explanation copies every enclosing term at every step, which is
/// quadratic in the depth; this copies only the rewritten subterm.)
fn walk(
    proof: &[Rc<TreeTerm<Node>>],
    path: &mut Vec<usize>,
    whole: &mut FlatTerm<Node>,
    step: &mut impl FnMut(String, &FlatTerm<Node>),
) {
    for (k, tree) in proof.iter().enumerate() {
        if k > 0 {
            let at = path.iter().fold(&mut *whole, |t, &i| &mut t.children[i]);
            *at = initial_term(tree);
            // A term without a rule only restates the last one.
            match (tree.forward_rule, tree.backward_rule) {
                (Some(r), _) => step(r.to_string(), whole),
                (None, Some(r)) => step(format!("{r} (reversed)"), whole),
                (None, None) => {}
            }
        }
        for (i, child) in tree.child_proofs.iter().enumerate() {
            path.push(i);
            walk(child, path, whole, step);
            path.pop();
        }
    }
}

/// The term a tree explanation starts from.
fn initial_term(tree: &TreeTerm<Node>) -> FlatTerm<Node> {
    FlatTerm::new(tree.node.clone(), tree.child_proofs.iter().map(|p| initial_term(&p[0])).collect())
}
