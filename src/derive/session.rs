//! The session: an e-graph with explanations, run under explicit limits by a scheduler
//! that enforces them within a step, not only between steps.

use super::explain;
use super::extract::best;
use super::lang::{DiffFree, EGraph, Node};
use super::rules::RulesView;
use super::tree::{Step, Tree};
use super::DeriveError;
use crate::limits::Limits;
use egg::{Id, Rewrite, RewriteScheduler, Runner, RunnerLimits, RunnerResult, SearchMatches, StopReason};
use std::time::Instant;

/// An e-graph with explanations enabled, and the runs on it.
pub struct Session {
    egraph: EGraph,
    limits: Limits,
}

impl Session {
    /// An empty e-graph whose runs stop at `limits`.
    pub fn new(limits: &Limits) -> Session {
        Session::explaining(limits, true)
    }

    /// An empty e-graph that records explanations where `explain`; without, for results
    /// whose proof is not shown, it is a third faster on the small e-graphs of
    /// derivations.
    pub fn explaining(limits: &Limits, explain: bool) -> Session {
        let egraph = EGraph::default();
        let egraph = if explain { egraph.with_explanations_enabled() } else { egraph };
        Session { egraph, limits: *limits }
    }

    /// Adds a term, returning its e-class.
    pub fn add(&mut self, t: &Tree) -> Id {
        self.egraph.add_expr(&t.to_expr())
    }

    /// Runs the rules to saturation within the session's limits.
    ///
    /// egg times itself with quanta, whose clock calibrates for a millisecond or more on
    /// first use; a mock clock skips that, and the time limit is enforced here instead.
    pub fn run(&mut self, rules: RulesView<'_>) -> Result<(), DeriveError> {
        let limits = self.limits;
        let egraph = std::mem::take(&mut self.egraph);
        let started = std::time::Instant::now();
        let (clock, _) = quanta::Clock::mock();
        let deadline = started + limits.egraph_time;
        let runner = quanta::with_clock(&clock, || {
            Runner::default()
                .with_egraph(egraph)
                .with_node_limit(limits.egraph_nodes)
                .with_iter_limit(limits.egraph_iterations)
                .with_scheduler(Bounded { deadline, limits })
                .with_hook(move |_| match Instant::now() > deadline {
                    true => Err(past_time_limit(&limits)),
                    false => Ok(()),
                })
                .run(rules.iter())
        });
        let stop = runner.stop_reason.clone();
        self.egraph = runner.egraph;
        match stop {
            Some(StopReason::Saturated) | None => Ok(()),
            Some(StopReason::NodeLimit(n)) => Err(DeriveError::Limit(format!(
                "the e-graph grew to {n} nodes, past its limit of {}",
                limits.egraph_nodes
            ))),
            Some(StopReason::IterationLimit(n)) => {
                Err(DeriveError::Limit(format!("the e-graph ran {n} iterations without saturating")))
            }
            // egg's own time limit never stops a run on the mock clock; the deadline does.
            Some(StopReason::TimeLimit(_)) => Err(DeriveError::Limit(past_time_limit(&limits))),
            Some(StopReason::Other(why)) => Err(DeriveError::Limit(why)),
        }
    }

    /// The cheapest term of an e-class.
    pub fn best(&self, id: Id) -> Tree {
        best(&self.egraph, id)
    }

    /// Whether two e-classes are one.
    pub fn same(&self, a: Id, b: Id) -> bool {
        self.egraph.find(a) == self.egraph.find(b)
    }

    /// The steps from `from` to `to`, which must be equal, from egg's explanation (see
    /// [`explain::steps`]).
    pub fn explain(&mut self, from: &Tree, to: &Tree, sizes: &[String]) -> Vec<Step> {
        explain::steps(&mut self.egraph, from, to, sizes)
    }
}

/// The message of a run stopped at its time limit.
fn past_time_limit(limits: &Limits) -> String {
    format!("the e-graph ran past its time limit of {:?}", limits.egraph_time)
}

/// egg's simple scheduler (every rule, every match, every iteration), with the limits
/// also enforced within an iteration. egg checks them only between rules, and one rule
/// can match millions of times in one step (associativity in an e-class that has merged
/// with 0), taking seconds and hundreds of megabytes.
struct Bounded {
    /// When the run must stop.
    deadline: Instant,
    /// The run's limits.
    limits: Limits,
}

impl RewriteScheduler<Node, DiffFree> for Bounded {
    /// Past the deadline the run is stopped at the next iteration's start, not saturated.
    fn can_stop(&mut self, _iteration: usize) -> bool {
        Instant::now() <= self.deadline
    }

    /// Searches each rule for at most [`Limits::egraph_matches`] matches, and stops the run
    /// when one has more, or when the deadline has passed.
    fn search_rewrites<'a>(
        &mut self,
        iteration: usize,
        egraph: &EGraph,
        rewrites: &[&'a Rewrite<Node, DiffFree>],
        limits: &RunnerLimits,
    ) -> RunnerResult<Vec<Vec<SearchMatches<'a, Node>>>> {
        let mut all = Vec::with_capacity(rewrites.len());
        for rewrite in rewrites {
            if Instant::now() > self.deadline {
                return Err(StopReason::Other(past_time_limit(&self.limits)));
            }
            let matches = rewrite.search_with_limit(egraph, self.limits.egraph_matches + 1);
            if matches.iter().map(|m| m.substs.len()).sum::<usize>() > self.limits.egraph_matches {
                return Err(StopReason::Other(format!(
                    "the rule {} matched more than {} times in one step, the e-graph's limit",
                    rewrite.name, self.limits.egraph_matches
                )));
            }
            all.push(matches);
            limits.check_limits(iteration, egraph)?;
        }
        Ok(all)
    }

    /// Applies the matches in egg's order, a few at a time, stopping once the e-graph is
    /// past the node limit (egg then stops on it) or the deadline has passed (the next
    /// iteration's hook stops on it).
    fn apply_rewrite(
        &mut self,
        _iteration: usize,
        egraph: &mut EGraph,
        rewrite: &Rewrite<Node, DiffFree>,
        matches: Vec<SearchMatches<Node>>,
    ) -> usize {
        let mut applied = 0;
        for m in &matches {
            for substs in m.substs.chunks(256) {
                if egraph.total_size() > self.limits.egraph_nodes || Instant::now() > self.deadline {
                    return applied;
                }
                let some = SearchMatches { eclass: m.eclass, substs: substs.to_vec(), ast: m.ast.clone() };
                applied += rewrite.apply(egraph, std::slice::from_ref(&some)).len();
            }
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::cond::eq;
    use crate::algebra::cond::le;
    use crate::algebra::index::var;
    use crate::algebra::{Bound, Element, Index};
    use crate::derive::lang::{bracket, Leaf};
    use crate::derive::rules::Rules;
    use crate::limits::Limits;

    fn element(tensor: &str, p: Index) -> Tree {
        Tree::Leaf(Leaf::Element(Element { tensor: tensor.into(), index: vec![p] }))
    }

    fn simplest(start: &Tree, facts: Vec<Bound>) -> String {
        let mut s = Session::new(&Limits::default());
        let id = s.add(start);
        s.run(Rules::derivation(facts).all()).unwrap();
        s.best(id).show(&["n".into()])
    }

    fn in_shape(v: &str) -> Bound {
        Bound { var: v.into(), lo: Some(Index::zero()), hi: Some(var("n").sub(&Index::constant(1))) }
    }

    #[test]
    fn sigma_delta_substitutes_without_capture() {
        // Σ_l [l = u] Σ_u x_<l+u> w_u: l := u goes under Σ_u, which is renamed apart.
        let (l, u) = (var("l"), var("u"));
        let inner =
            Tree::Sum("u".into(), Box::new(Tree::product(vec![element("x", l.add(&u)), element("w", u.clone())])));
        let start = Tree::Sum("l".into(), Box::new(Tree::product(vec![Tree::Leaf(bracket(eq(&l, &u))), inner])));
        assert_eq!(simplest(&start, Vec::new()), "Σ_u′ x_<u+u′> w_u′");
    }

    #[test]
    fn d_sum_renames_a_sum_that_would_capture_the_target() {
        // ∂(Σ_j x_j)/∂x_j = 1: pushed under Σ_j as it stands, ∂ would read the bound j.
        let j = var("j");
        let target = Element { tensor: "x".into(), index: vec![j.clone()] };
        let start = Tree::Diff(Box::new(Tree::Sum("j".into(), Box::new(element("x", j)))), target);
        // The target's j is now apart from the Σ's; d-element stays off, as a Σ over j
        // is in the e-graph, so the term is left as it is, and true.
        assert_eq!(simplest(&start, vec![in_shape("j")]), "Σ_j′ ∂x_j′/∂x_j");
    }

    #[test]
    fn facts_are_not_used_for_a_name_a_sum_binds() {
        // With 0 ≤ i, j ≤ n-1 known of the free i and j, Σ_j w_0 [j = i + n] [j ≤ n-1] is 0
        // (i + n ≤ n - 1 fails); dropping [j ≤ n-1] as if this j were the free one gives w_0.
        let (i, j, n) = (var("i"), var("j"), var("n"));
        let body = vec![
            element("w", Index::zero()),
            Tree::Leaf(bracket(eq(&j, &i.add(&n)))),
            Tree::Leaf(bracket(le(&j, &n.sub(&Index::constant(1))))),
        ];
        let start = Tree::Sum("j".into(), Box::new(Tree::product(body)));
        assert_eq!(simplest(&start, vec![in_shape("i"), in_shape("j")]), "w_0 [i ≤ -1]");
    }

    #[test]
    fn a_derivative_by_a_bound_index_is_left_alone() {
        // Σ_j ∂x_j/∂x_j: the target's j is the bound one, which may lie outside x's shape,
        // where [j = j] = 1 would be wrong; d-element does not fire.
        let j = var("j");
        let target = Element { tensor: "x".into(), index: vec![j.clone()] };
        let start = Tree::Sum("j".into(), Box::new(Tree::Diff(Box::new(element("x", j)), target)));
        assert_eq!(simplest(&start, vec![in_shape("j")]), "Σ_j ∂x_j/∂x_j");
    }

    #[test]
    fn sigma_delta_eliminates_a_sum() {
        let x = |p: Index| Tree::Leaf(Leaf::Element(Element { tensor: "w".into(), index: vec![p] }));
        let delta = Tree::Leaf(bracket(eq(&var("l"), &var("j"))));
        let body = Tree::product(vec![delta, x(var("i").sub(&var("l")))]);
        let start = Tree::Sum("l".into(), Box::new(body));
        let mut s = Session::new(&Limits::default());
        let id = s.add(&start);
        s.run(Rules::derivation(Vec::new()).all()).unwrap();
        assert_eq!(s.best(id).show(&[]), "w_<i-j>");
        let steps = s.explain(&start, &s.best(id), &[]);
        assert_eq!(steps.last().unwrap().rule, "sigma-delta");
    }

    #[test]
    fn trees_round_trip_through_the_egraph() {
        let t = Tree::Sum("l".into(), Box::new(Tree::product(vec![element("x", var("l")), Tree::value(2)])));
        let mut session = Session::new(&crate::limits::Limits::default());
        let id = session.add(&t);
        assert_eq!(session.best(id), t);
        assert_eq!(t.show(&[]), "Σ_l x_l 2");
    }
}
