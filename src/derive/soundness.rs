//! Soundness of every rewrite rule, in the style of Herbie's and Ruler's rule checks. Each
//! rule of the e-graph is applied to random instances of its left-hand side, some placed
//! under a Σ, with bound names that clash with free ones and with the facts' names, index
//! coefficients other than ±1, `div` and `mod`. Afterwards every term in the e-class of
//! every subterm of the instance must have the subterm's value, evaluated exactly at
//! random sizes and indices: names no Σ binds take values the facts allow, names some Σ
//! binds any value.

use super::eval;
use super::extract::best;
use super::lang::{bracket, EGraph, Leaf, Rule};
use super::rules::{RuleSet, Rules, RULES};
use super::tree::{from_node, Tree};
use crate::algebra::cond::{eq, le, ne, Bound};
use crate::algebra::index::{div, modulo, var};
use crate::algebra::{Cond, Element, Env, Index};
use egg::Id;
use std::collections::{BTreeMap, BTreeSet};

/// Instances per rule.
const INSTANCES: usize = 10_000;

/// SplitMix64: deterministic, seeded per rule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }

    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// The free names: an output index and the two tensors' indices, which the facts bound.
const FREE: [&str; 3] = ["i", "j", "m"];
/// Names a Σ may bind: fresh ones, and ones that clash with the free names and facts.
const BINDERS: [&str; 5] = ["l", "q", "i", "j", "m"];

/// `x[n]` and `w[k]`, with `0 ≤ i ≤ n - k`, `0 ≤ j ≤ n - 1`, `0 ≤ m ≤ k - 1`, `n, k ≥ 1`.
fn facts() -> Vec<Bound> {
    let (n, k, one) = (var("n"), var("k"), Index::constant(1));
    let bound = |v: &str, hi: Index| Bound { var: v.into(), lo: Some(Index::zero()), hi: Some(hi) };
    vec![
        bound("i", n.sub(&k)),
        bound("j", n.sub(&one)),
        bound("m", k.sub(&one)),
        Bound { var: "n".into(), lo: Some(one.clone()), hi: None },
        Bound { var: "k".into(), lo: Some(one), hi: None },
    ]
}

/// Random terms over the names in scope.
struct Gen<'r> {
    rng: &'r mut Rng,
    scope: Vec<String>,
}

impl Gen<'_> {
    fn name(&mut self) -> Index {
        let mut names: Vec<&str> = self.scope.iter().map(String::as_str).collect();
        names.extend(["n", "k"]);
        var(self.rng.pick(&names))
    }

    /// `a·u + b·v + c`, with coefficients up to ±3, sometimes under `div` or `mod`.
    fn index(&mut self) -> Index {
        let mut p = Index::constant(self.rng.int(-2, 2));
        for _ in 0..self.rng.int(1, 2) {
            let a = *[-3, -2, -1, 1, 1, 1, 2, 3].get(self.rng.int(0, 7) as usize).unwrap_or(&1);
            p = p.add(&self.name().scale(a));
        }
        match self.rng.int(0, 9) {
            0 => div(&p, &Index::constant(self.rng.int(2, 3))),
            1 => modulo(&p, &Index::constant(self.rng.int(2, 3))),
            _ => p,
        }
    }

    fn element(&mut self, tensor: &str) -> Tree {
        Tree::Leaf(Leaf::Element(Element { tensor: tensor.into(), index: vec![self.index()] }))
    }

    fn cond(&mut self) -> Cond {
        let p = self.index();
        match self.rng.int(0, 3) {
            0 | 1 => le(&Index::zero(), &p),
            2 => eq(&p, &Index::zero()),
            _ => ne(&p, &Index::zero()),
        }
    }

    fn bracket(&mut self) -> Tree {
        Tree::Leaf(bracket(self.cond()))
    }

    fn value(&mut self) -> Tree {
        let v = match self.rng.int(0, 2) {
            0 => self.index(),
            _ => Index::constant(self.rng.int(-3, 3)),
        };
        Tree::Leaf(Leaf::Value(v))
    }

    fn leaf(&mut self) -> Tree {
        match self.rng.int(0, 5) {
            0 => self.value(),
            1 | 2 => self.bracket(),
            3 => self.element("w"),
            _ => self.element("x"),
        }
    }

    /// A term of depth at most `depth`.
    fn tree(&mut self, depth: usize) -> Tree {
        if depth == 0 || self.rng.one_in(3) {
            return self.leaf();
        }
        match self.rng.int(0, 4) {
            0 => Tree::Add(Box::new(self.tree(depth - 1)), Box::new(self.tree(depth - 1))),
            1 | 2 => Tree::Mul(Box::new(self.tree(depth - 1)), Box::new(self.tree(depth - 1))),
            3 => {
                let v = self.rng.pick(&BINDERS).to_string();
                self.sum(&v, depth - 1)
            }
            _ => Tree::Diff(Box::new(self.tree(depth - 1)), target(self.rng)),
        }
    }

    /// `Σ_v (element reading v) (term)`: bounded by its element.
    fn sum(&mut self, v: &str, depth: usize) -> Tree {
        self.scope.push(v.to_string());
        let tensor = if self.rng.one_in(2) { "x" } else { "w" };
        let a = *[-2, -1, 1, 1, 2].get(self.rng.int(0, 4) as usize).unwrap_or(&1);
        let index = var(v).scale(a).add(&self.index());
        let bounding = Tree::Leaf(Leaf::Element(Element { tensor: tensor.into(), index: vec![index] }));
        let body = Tree::Mul(Box::new(bounding), Box::new(self.tree(depth)));
        self.scope.pop();
        Tree::Sum(v.to_string(), Box::new(body))
    }

    /// An expression in the sizes alone, as lengths are, with a positive divisor.
    fn length(&mut self) -> (Index, Index) {
        let (n, k) = (var("n"), var("k"));
        let p =
            n.scale(self.rng.int(-2, 2)).add(&k.scale(self.rng.int(-2, 2))).add(&Index::constant(self.rng.int(-3, 3)));
        let divisor = match self.rng.int(0, 4) {
            0 => Index::constant(2),
            1 => Index::constant(3),
            2 => n,
            3 => k,
            _ => var("n").add(&var("k")),
        };
        (p, divisor)
    }

    /// A bracket the facts often imply: an index of a tensor inside its shape.
    fn implied_bracket(&mut self) -> Tree {
        let (n, k, one) = (var("n"), var("k"), Index::constant(1));
        let c = match self.rng.int(0, 6) {
            0 => le(&Index::zero(), &var("j")),
            1 => le(&var("j"), &n.sub(&one)),
            2 => le(&var("m"), &k.sub(&one)),
            3 => le(&Index::zero(), &var("i").add(&var("m"))),
            4 => le(&var("i").add(&var("m")), &n.sub(&one)),
            5 => le(&var("i"), &n.sub(&Index::constant(self.rng.int(0, 3)))),
            _ => self.cond(),
        };
        Tree::Leaf(bracket(c))
    }
}

/// A derivative's target: `x_j` or `w_m`.
fn target(rng: &mut Rng) -> Element {
    match rng.one_in(2) {
        true => Element { tensor: "x".into(), index: vec![var("j")] },
        false => Element { tensor: "w".into(), index: vec![var("m")] },
    }
}

fn value(c: i64) -> Tree {
    Tree::Leaf(Leaf::Value(Index::constant(c)))
}

fn add(a: Tree, b: Tree) -> Tree {
    Tree::Add(Box::new(a), Box::new(b))
}

fn mul(a: Tree, b: Tree) -> Tree {
    Tree::Mul(Box::new(a), Box::new(b))
}

/// An instance of the left-hand side of the rule `name`, or `None` for a rule this test
/// does not know: every rule must have one.
fn instance(name: &str, g: &mut Gen) -> Option<Tree> {
    derivative_instance(name, g)
        .or_else(|| algebra_instance(name, g))
        .or_else(|| bracket_instance(name, g))
        .or_else(|| length_instance(name, g))
}

/// An instance of a rule that differentiates.
fn derivative_instance(name: &str, g: &mut Gen) -> Option<Tree> {
    let d = 2;
    Some(match name {
        "d-sum" => {
            let t = target(g.rng);
            // Often over the target's own index, which the rule must rename apart.
            let v = if g.rng.one_in(2) { t.index[0].to_string() } else { g.rng.pick(&BINDERS).to_string() };
            Tree::Diff(Box::new(g.sum(&v, d)), t)
        }
        "d-add" => Tree::Diff(Box::new(add(g.tree(d), g.tree(d))), target(g.rng)),
        "d-product" => Tree::Diff(Box::new(mul(g.tree(d), g.tree(d))), target(g.rng)),
        "d-constant-factor" => {
            // A bracket or an index value beside any term, on either side.
            let constant = if g.rng.one_in(2) { g.value() } else { g.bracket() };
            let (a, b) = if g.rng.one_in(2) { (constant, g.tree(d)) } else { (g.tree(d), constant) };
            Tree::Diff(Box::new(mul(a, b)), target(g.rng))
        }
        "d-element" => {
            let t = target(g.rng);
            let e = g.element(&t.tensor);
            Tree::Diff(Box::new(e), t)
        }
        "d-other-tensor" => {
            let t = target(g.rng);
            let e = g.element(if t.tensor == "x" { "w" } else { "x" });
            Tree::Diff(Box::new(e), t)
        }
        "d-constant" => {
            let leaf = if g.rng.one_in(2) { g.value() } else { g.bracket() };
            Tree::Diff(Box::new(leaf), target(g.rng))
        }
        _ => return None,
    })
}

/// An instance of a rule of sums and products.
fn algebra_instance(name: &str, g: &mut Gen) -> Option<Tree> {
    let d = 2;
    Some(match name {
        "zero-times" => mul(value(0), g.tree(d)),
        "times-zero" => mul(g.tree(d), value(0)),
        "one-times" => mul(value(1), g.tree(d)),
        "times-one" => mul(g.tree(d), value(1)),
        "zero-plus" => add(value(0), g.tree(d)),
        "plus-zero" => add(g.tree(d), value(0)),
        "sum-zero" => Tree::Sum(g.rng.pick(&BINDERS).into(), Box::new(value(0))),
        "sum-add" => {
            let v = g.rng.pick(&BINDERS).to_string();
            let (a, b) = (g.sum(&v, d), g.sum(&v, d));
            let (Tree::Sum(_, a), Tree::Sum(_, b)) = (a, b) else { unreachable!("sum gives a Σ") };
            Tree::Sum(v, Box::new(add(*a, *b)))
        }
        "distribute-left" => mul(g.tree(d), add(g.tree(d), g.tree(d))),
        "distribute-right" => mul(add(g.tree(d), g.tree(d)), g.tree(d)),
        "add-same" => {
            let a = g.tree(d);
            add(a.clone(), a)
        }
        "fold-values" => mul(g.value(), g.value()),
        "fold-values-nested" => mul(g.value(), mul(g.value(), g.tree(d))),
        "mul-comm" => mul(g.tree(d), g.tree(d)),
        "mul-assoc" => mul(g.tree(d), mul(g.tree(d), g.tree(d))),
        "add-comm" => add(g.tree(d), g.tree(d)),
        "add-assoc" => add(g.tree(d), add(g.tree(d), g.tree(d))),
        "bracket-idempotent" => {
            let b = g.bracket();
            mul(b.clone(), b)
        }
        _ => return None,
    })
}

/// An instance of Σ-δ elimination or of a rule that reads the facts.
fn bracket_instance(name: &str, g: &mut Gen) -> Option<Tree> {
    let d = 2;
    Some(match name {
        "sigma-delta" => {
            // Σ_v [c·v + r = 0] f(v), c not always ±1, f often holding a Σ over a name in r.
            let v = g.rng.pick(&BINDERS).to_string();
            g.scope.push(v.clone());
            let c = *[-2, -1, 1, 1, 2, 3].get(g.rng.int(0, 5) as usize).unwrap_or(&1);
            let delta = Tree::Leaf(bracket(eq(&var(&v).scale(c), &g.index())));
            let mut factors = vec![delta, g.tree(d)];
            if g.rng.one_in(2) {
                let u = g.rng.pick(&BINDERS).to_string();
                factors.push(g.sum(&u, 1));
            }
            g.scope.pop();
            Tree::Sum(v, Box::new(Tree::product(factors)))
        }
        "drop-implied" => match g.rng.one_in(2) {
            true => mul(g.implied_bracket(), g.tree(d)),
            false => mul(g.tree(d), g.implied_bracket()),
        },
        "contradicted" => {
            let n = var("n");
            let c = match g.rng.int(0, 3) {
                0 => le(&var("j"), &Index::constant(-1)),
                1 => le(&n, &var("j")),
                2 => eq(&var("m"), &var("k").add(&Index::constant(g.rng.int(0, 2)))),
                _ => g.cond(),
            };
            match g.rng.one_in(2) {
                true => mul(Tree::Leaf(bracket(c)), g.tree(d)),
                false => mul(g.tree(d), Tree::Leaf(bracket(c))),
            }
        }
        _ => return None,
    })
}

/// An instance of a rule that compares lengths.
fn length_instance(name: &str, g: &mut Gen) -> Option<Tree> {
    Some(match name {
        "ceil-div" => {
            let (p, b) = g.length();
            let c = g.rng.int(-3, -1);
            Tree::Leaf(Leaf::Value(div(&p, &b).scale(c).add(&Index::constant(g.rng.int(-2, 2)))))
        }
        "div-div" => {
            let (p, b) = g.length();
            let (_, c) = g.length();
            Tree::Leaf(Leaf::Value(div(&div(&p, &b), &c).scale(g.rng.int(-2, 2))))
        }
        "mod-div" => {
            let (p, b) = g.length();
            let inner = modulo(&p, &b).scale(g.rng.int(-2, 2));
            // Sometimes inside a division, where the rule must reach too.
            let (_, c) = g.length();
            Tree::Leaf(Leaf::Value(if g.rng.one_in(2) { div(&inner.add(&p), &c) } else { inner }))
        }
        _ => return None,
    })
}

/// Every subterm of `t`, `t` first.
fn subterms(t: &Tree) -> Vec<&Tree> {
    let mut out = vec![t];
    let mut next = 0;
    while next < out.len() {
        match out[next] {
            Tree::Add(a, b) | Tree::Mul(a, b) => out.extend([&**a, &**b]),
            Tree::Sum(_, b) | Tree::Diff(b, _) => out.push(b),
            Tree::Leaf(_) => {}
        }
        next += 1;
    }
    out
}

/// What one rule's instances showed: how many the rule changed, how many value checks
/// were made, and the first unsound rewrite.
#[derive(Default)]
struct Outcome {
    fired: usize,
    compared: usize,
    unsound: Option<String>,
}

fn check_rule(rule: &Rule, seed: u64) -> Outcome {
    let name = rule.name.as_str();
    let mut rng = Rng(seed);
    let mut out = Outcome::default();
    for _ in 0..INSTANCES {
        let mut g = Gen { rng: &mut rng, scope: FREE.iter().map(|s| s.to_string()).collect() };
        let inner = instance(name, &mut g).unwrap_or_else(|| panic!("the rule {name} has no soundness check"));
        // Half of them under a Σ whose name may clash with the instance's free names.
        let t = match g.rng.one_in(2) {
            true => {
                let v = g.rng.pick(&BINDERS).to_string();
                let Tree::Sum(_, bounding) = g.sum(&v, 0) else { unreachable!("sum gives a Σ") };
                Tree::Sum(v, Box::new(mul(*bounding, inner)))
            }
            false => inner,
        };
        let mut egraph = EGraph::default();
        let subs: Vec<(&Tree, Id)> = subterms(&t).into_iter().map(|s| (s, egraph.add_expr(&s.to_expr()))).collect();
        egraph.rebuild();
        let before = egraph.number_of_classes();
        let matches = rule.search(&egraph);
        let changed = rule.apply(&mut egraph, &matches);
        egraph.rebuild();
        if changed.is_empty() && egraph.number_of_classes() == before {
            continue;
        }
        out.fired += 1;
        let env = environment(&mut rng, &t);
        let shapes: BTreeMap<String, Vec<i64>> =
            [("x".to_string(), vec![env["n"]]), ("w".to_string(), vec![env["k"]])].into_iter().collect();
        for (s, id) in subs {
            let Ok(expected) = eval::value(s, &env, &shapes) else { continue };
            for node in &egraph[egraph.find(id)].nodes {
                let kids = egg::Language::children(node).iter().map(|&c| best(&egraph, c)).collect();
                let term = from_node(node, kids);
                let Ok(got) = eval::value(&term, &env, &shapes) else { continue };
                out.compared += 1;
                if got != expected {
                    out.unsound.get_or_insert_with(|| {
                        format!(
                            "{name}: {} = {} at {env:?}, but {} = {}",
                            s.show(&[]),
                            crate::algebra::formula::show_value(&expected),
                            term.show(&[]),
                            crate::algebra::formula::show_value(&got)
                        )
                    });
                }
            }
        }
    }
    out
}

/// Sizes with `n ≥ k ≥ 1`; free names inside the facts, except where a Σ of `t` binds
/// the name (then anything).
fn environment(rng: &mut Rng, t: &Tree) -> Env {
    let k = rng.int(1, 4);
    let n = rng.int(k, 7);
    let bound: BTreeSet<String> = t.binders();
    let mut env: Env = [("n".to_string(), n), ("k".to_string(), k)].into_iter().collect();
    for (v, hi) in [("i", n - k), ("j", n - 1), ("m", k - 1)] {
        let value = if bound.contains(v) { rng.int(-5, 10) } else { rng.int(0, hi) };
        env.insert(v.to_string(), value);
    }
    for v in ["l", "q"] {
        env.insert(v.to_string(), rng.int(-5, 10));
    }
    env
}

#[test]
fn every_rule_is_sound_on_ten_thousand_instances() {
    // Every rule of the table that the e-graph runs, in every set.
    let rules = Rules::of(&[RuleSet::Derivation, RuleSet::Claims, RuleSet::Lengths], facts());
    let all: Vec<&Rule> = rules.all().iter().collect();
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    let in_egraph: Vec<&str> = RULES.iter().filter(|r| r.set().is_some()).map(|r| r.name).collect();
    assert_eq!(names, in_egraph, "every rule of the table is checked");
    // One rule after another: the other unit tests run beside this one, and some of
    // them time the e-graph.
    let outcomes = all.iter().enumerate().map(|(k, rule)| (rule.name.to_string(), check_rule(rule, 11 + k as u64)));
    for (name, o) in outcomes {
        assert!(o.unsound.is_none(), "{}", o.unsound.as_deref().unwrap_or_default());
        // Not vacuous: the rule fired on a good share of its instances, and was compared.
        assert!(o.fired >= INSTANCES / 10, "{name} fired on only {} of {INSTANCES} instances", o.fired);
        assert!(o.compared >= INSTANCES, "{name}: only {} comparisons", o.compared);
    }
}
