//! The e-graph: a language of formulas with Σ and ∂ over canonical leaves, the rules,
//! a runner with explicit limits, extraction, and explanations turned into proof steps.
//!
//! Index arithmetic never enters the e-graph as operators: every index expression,
//! element and bracket is a leaf in the algebra's canonical form, so hash-consing merges
//! equal ones and no associativity/commutativity rule ever touches an index.

use super::DeriveError;
use crate::algebra::cond::{eq, Bound};
use crate::algebra::formula::{fresh_name, show_brackets};
use crate::algebra::index::{div, modulo, var, IndexAtom};
use crate::algebra::{Cond, Element, Formula, Index, IndexExt, Term};
use egg::{
    define_language, rewrite, Analysis, Applier, DidMerge, ENodeOrVar, FlatTerm, Id, Language, Pattern, PatternAst,
    RecExpr, Rewrite, RewriteScheduler, Runner, RunnerLimits, RunnerResult, SearchMatches, StopReason, Subst, Symbol,
    TreeTerm, Var,
};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A leaf of the e-graph: an index-valued factor, a tensor element or an Iverson bracket.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Leaf {
    /// An integer or index-valued factor.
    Value(Index),
    /// A tensor element.
    Element(Element),
    /// An Iverson bracket of an undecided condition.
    Bracket(Cond),
}

impl FromStr for Leaf {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<i64>().map(|c| Leaf::Value(Index::constant(c))).map_err(|e| e.to_string())
    }
}

impl fmt::Display for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leaf::Value(p) => write!(f, "{p}"),
            Leaf::Element(e) => write!(f, "{e}"),
            Leaf::Bracket(c) => write!(f, "[{c}]"),
        }
    }
}

/// The bracket `[c]` as a leaf: decided conditions become 0 or 1.
pub fn bracket(c: Cond) -> Leaf {
    match c.decided() {
        Some(b) => Leaf::Value(Index::constant(b.into())),
        None => Leaf::Bracket(c),
    }
}

impl Leaf {
    /// Every name the leaf uses.
    pub fn names(&self) -> BTreeSet<String> {
        match self {
            Leaf::Value(p) => p.names(),
            Leaf::Element(e) => e.index.iter().flat_map(|p| p.names()).collect(),
            Leaf::Bracket(c) => c.names(),
        }
    }

    fn substitute(&self, v: &str, by: &Index) -> Leaf {
        match self {
            Leaf::Value(p) => Leaf::Value(p.substitute(v, by)),
            Leaf::Element(e) => Leaf::Element(e.substitute(v, by)),
            Leaf::Bracket(c) => bracket(c.substitute(v, by)),
        }
    }
}

/// A leaf as the e-graph holds it: shared, so that copying a node (which egg does often)
/// copies no index expression, and hashed once, so that looking one up does not walk it.
#[derive(Clone, Debug)]
pub struct Shared {
    hash: u64,
    leaf: Arc<Leaf>,
}

impl Shared {
    fn new(leaf: Leaf) -> Shared {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        leaf.hash(&mut h);
        Shared { hash: h.finish(), leaf: Arc::new(leaf) }
    }
}

impl PartialEq for Shared {
    fn eq(&self, other: &Shared) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.leaf, &other.leaf) || self.leaf == other.leaf)
    }
}

impl Eq for Shared {}

impl std::hash::Hash for Shared {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for Shared {
    fn partial_cmp(&self, other: &Shared) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Shared {
    fn cmp(&self, other: &Shared) -> std::cmp::Ordering {
        self.leaf.cmp(&other.leaf)
    }
}

impl std::ops::Deref for Shared {
    type Target = Leaf;
    fn deref(&self) -> &Leaf {
        &self.leaf
    }
}

impl FromStr for Shared {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.parse().map(Shared::new)
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.leaf.fmt(f)
    }
}

define_language! {
    /// The e-graph's language: sums, products, Σ and ∂ over canonical leaves.
    pub enum Node {
        "+" = Add([Id; 2]),
        "*" = Mul([Id; 2]),
        "sum" = Sum([Id; 2]),
        "d" = Diff([Id; 2]),
        Leaf(Shared),
        Name(Symbol),
    }
}

/// The e-graph type used throughout.
pub type EGraph = egg::EGraph<Node, DiffFree>;

/// The rewrite type used throughout.
pub type Rule = Rewrite<Node, DiffFree>;

/// An e-class analysis: whether the class holds a term without ∂, so that Σ-δ
/// elimination only extracts bodies that are fully differentiated.
#[derive(Default)]
pub struct DiffFree;

impl Analysis<Node> for DiffFree {
    type Data = bool;

    fn make(egraph: &mut EGraph, enode: &Node, _id: Id) -> bool {
        !matches!(enode, Node::Diff(_)) && enode.children().iter().all(|c| egraph[*c].data)
    }

    fn merge(&mut self, a: &mut bool, b: bool) -> DidMerge {
        let before = *a;
        *a |= b;
        DidMerge(!before && b, before && !b)
    }
}

/// A formula as a tree, the shape in which symconv builds, rewrites and prints terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tree {
    /// `a + b`
    Add(Box<Tree>, Box<Tree>),
    /// `a · b`
    Mul(Box<Tree>, Box<Tree>),
    /// `Σ_v body`
    Sum(String, Box<Tree>),
    /// `∂ body / ∂ element`
    Diff(Box<Tree>, Element),
    /// A leaf.
    Leaf(Leaf),
}

impl Tree {
    fn value(c: i64) -> Tree {
        Tree::Leaf(Leaf::Value(Index::constant(c)))
    }

    /// The product of the factors, right-nested; 1 when there are none.
    pub fn product(factors: Vec<Tree>) -> Tree {
        factors.into_iter().rev().reduce(|acc, f| Tree::Mul(Box::new(f), Box::new(acc))).unwrap_or(Tree::value(1))
    }

    /// The sum of the terms, right-nested; 0 when there are none.
    pub fn sum(terms: Vec<Tree>) -> Tree {
        terms.into_iter().rev().reduce(|acc, t| Tree::Add(Box::new(t), Box::new(acc))).unwrap_or(Tree::value(0))
    }

    /// The factors of a product (the tree itself when it is no product).
    pub fn factors(&self) -> Vec<&Tree> {
        self.operands(true)
    }

    /// The terms of a nest of sums (the tree itself when it is no sum).
    pub fn summands(&self) -> Vec<&Tree> {
        self.operands(false)
    }

    /// The operands of a nest of products (or of sums), left to right.
    fn operands(&self, of_product: bool) -> Vec<&Tree> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(t) = stack.pop() {
            match (t, of_product) {
                (Tree::Mul(a, b), true) | (Tree::Add(a, b), false) => stack.extend([&**b, &**a]),
                (t, _) => out.push(t),
            }
        }
        out
    }

    fn has_diff(&self) -> bool {
        match self {
            Tree::Diff(..) => true,
            Tree::Add(a, b) | Tree::Mul(a, b) => a.has_diff() || b.has_diff(),
            Tree::Sum(_, b) => b.has_diff(),
            Tree::Leaf(_) => false,
        }
    }

    /// Replaces the free name `v` by `by`, avoiding capture: a Σ over `v` shadows it, and
    /// a Σ over a name that `by` mentions is renamed to a fresh name first.
    pub fn substitute(&self, v: &str, by: &Index) -> Tree {
        match self {
            Tree::Add(a, b) => Tree::Add(Box::new(a.substitute(v, by)), Box::new(b.substitute(v, by))),
            Tree::Mul(a, b) => Tree::Mul(Box::new(a.substitute(v, by)), Box::new(b.substitute(v, by))),
            Tree::Sum(u, _) if u == v => self.clone(),
            Tree::Sum(u, b) if by.mentions(u) && b.free_names().contains(v) => {
                let mut taken = b.names();
                taken.extend(by.names());
                let fresh = fresh_name(u, &taken);
                let renamed = b.substitute(u, &var(&fresh));
                Tree::Sum(fresh, Box::new(renamed.substitute(v, by)))
            }
            Tree::Sum(u, b) => Tree::Sum(u.clone(), Box::new(b.substitute(v, by))),
            Tree::Diff(b, t) => Tree::Diff(Box::new(b.substitute(v, by)), t.substitute(v, by)),
            Tree::Leaf(l) => Tree::Leaf(l.substitute(v, by)),
        }
    }

    /// Every name the tree uses, Σ's bound names included.
    pub fn names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.visit_names(true, &mut |n| {
            out.insert(n.to_string());
        });
        out
    }

    /// The names the tree uses outside the scope of a Σ over them.
    pub fn free_names(&self) -> BTreeSet<String> {
        match self {
            Tree::Add(a, b) | Tree::Mul(a, b) => {
                let mut out = a.free_names();
                out.extend(b.free_names());
                out
            }
            Tree::Sum(v, b) => {
                let mut out = b.free_names();
                out.remove(v);
                out
            }
            Tree::Diff(b, t) => {
                let mut out = b.free_names();
                out.extend(Leaf::Element(t.clone()).names());
                out
            }
            Tree::Leaf(l) => l.names(),
        }
    }

    /// The names that some Σ of the tree binds.
    pub fn binders(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.visit_names(false, &mut |v| {
            out.insert(v.to_string());
        });
        out
    }

    /// Calls `f` with every Σ's name and, with `leaves`, every name of a leaf or target.
    fn visit_names(&self, leaves: bool, f: &mut impl FnMut(&str)) {
        match self {
            Tree::Add(a, b) | Tree::Mul(a, b) => {
                a.visit_names(leaves, f);
                b.visit_names(leaves, f);
            }
            Tree::Sum(v, b) => {
                f(v);
                b.visit_names(leaves, f);
            }
            Tree::Diff(b, t) => {
                b.visit_names(leaves, f);
                if leaves {
                    Leaf::Element(t.clone()).names().iter().for_each(|n| f(n));
                }
            }
            Tree::Leaf(l) if leaves => l.names().iter().for_each(|n| f(n)),
            Tree::Leaf(_) => {}
        }
    }

    /// The tree with every Σ over a name in `avoid` renamed to a fresh name, so that
    /// names from `avoid` put into it cannot be captured.
    pub fn rename_apart(&self, avoid: &BTreeSet<String>) -> Tree {
        match self {
            Tree::Add(a, b) => Tree::Add(Box::new(a.rename_apart(avoid)), Box::new(b.rename_apart(avoid))),
            Tree::Mul(a, b) => Tree::Mul(Box::new(a.rename_apart(avoid)), Box::new(b.rename_apart(avoid))),
            Tree::Sum(v, b) if avoid.contains(v) => {
                let mut taken = b.names();
                taken.extend(avoid.iter().cloned());
                let fresh = fresh_name(v, &taken);
                Tree::Sum(fresh.clone(), Box::new(b.substitute(v, &var(&fresh)).rename_apart(avoid)))
            }
            Tree::Sum(v, b) => Tree::Sum(v.clone(), Box::new(b.rename_apart(avoid))),
            Tree::Diff(b, t) => Tree::Diff(Box::new(b.rename_apart(avoid)), t.clone()),
            Tree::Leaf(_) => self.clone(),
        }
    }

    /// The formula's tree, each product in canonical order: the coefficient, the
    /// elements, then the brackets sorted and without repeats.
    pub fn from_formula(f: &Formula) -> Tree {
        let terms = f.terms.iter().map(|t| {
            let mut factors = Vec::new();
            if t.coeff != Index::constant(1) {
                factors.push(Tree::Leaf(Leaf::Value(t.coeff.clone())));
            }
            factors.extend(t.elements.iter().map(|e| Tree::Leaf(Leaf::Element(e.clone()))));
            factors.extend(t.brackets.iter().map(|c| Tree::Leaf(bracket(c.clone()))));
            let body = Tree::product(canonical(factors, &|_| Vec::new()));
            t.bound.iter().rev().fold(body, |b, v| Tree::Sum(v.clone(), Box::new(b)))
        });
        Tree::sum(terms.collect())
    }

    /// The tree with `guard(e)`'s brackets added to every product holding an element `e`,
    /// where they are missing. A Σ over a name that a guard brings in (a size of the
    /// tensor's shape) is renamed apart first, so that the guard cannot be captured.
    pub fn guarded(&self, guard: &dyn Fn(&Element) -> Vec<Cond>) -> Tree {
        // What a guard brings in: its names for an element whose indices are placeholders.
        let mut brought = BTreeSet::new();
        self.visit_elements(&mut |e| {
            let probe: Vec<Index> = (0..e.index.len()).map(|a| var(&format!("#{a}"))).collect();
            let probe = Element { tensor: e.tensor.clone(), index: probe };
            brought.extend(guard(&probe).iter().flat_map(|c| c.names()).filter(|n| !n.starts_with('#')));
        });
        let binders = self.binders();
        if brought.iter().any(|n| binders.contains(n)) {
            return self.rename_apart(&brought).guarded_within(guard);
        }
        self.guarded_within(guard)
    }

    fn visit_elements(&self, f: &mut impl FnMut(&Element)) {
        match self {
            Tree::Add(a, b) | Tree::Mul(a, b) => {
                a.visit_elements(f);
                b.visit_elements(f);
            }
            Tree::Sum(_, b) | Tree::Diff(b, _) => b.visit_elements(f),
            Tree::Leaf(Leaf::Element(e)) => f(e),
            Tree::Leaf(_) => {}
        }
    }

    fn guarded_within(&self, guard: &dyn Fn(&Element) -> Vec<Cond>) -> Tree {
        match self {
            Tree::Add(a, b) => Tree::Add(Box::new(a.guarded_within(guard)), Box::new(b.guarded_within(guard))),
            Tree::Sum(v, b) => Tree::Sum(v.clone(), Box::new(b.guarded_within(guard))),
            Tree::Diff(b, t) => Tree::Diff(Box::new(b.guarded_within(guard)), t.clone()),
            Tree::Mul(..) | Tree::Leaf(_) => {
                let factors = self
                    .factors()
                    .into_iter()
                    .map(|f| if let Tree::Leaf(_) = f { f.clone() } else { f.guarded_within(guard) })
                    .collect();
                Tree::product(canonical(factors, guard))
            }
        }
    }

    /// The tree as a formula (sums of products), when it holds no ∂.
    pub fn to_formula(&self) -> Option<Formula> {
        let terms = match self {
            Tree::Add(a, b) => [a.to_formula()?.terms, b.to_formula()?.terms].concat(),
            Tree::Mul(a, b) => {
                let (xs, ys) = (a.to_formula()?, b.to_formula()?);
                xs.terms.iter().flat_map(|x| ys.terms.iter().map(move |y| x.mul(y))).collect()
            }
            Tree::Sum(v, b) => b
                .to_formula()?
                .terms
                .into_iter()
                .map(|t| Term { bound: [vec![v.clone()], t.bound].concat(), ..t })
                .collect(),
            Tree::Diff(..) => return None,
            Tree::Leaf(Leaf::Value(p)) if p.is_zero() => Vec::new(),
            Tree::Leaf(Leaf::Value(p)) => vec![Term::constant(p.clone())],
            Tree::Leaf(Leaf::Element(e)) => {
                vec![Term { elements: vec![e.clone()], ..Term::constant(Index::constant(1)) }]
            }
            Tree::Leaf(Leaf::Bracket(c)) => {
                vec![Term { brackets: vec![c.clone()], ..Term::constant(Index::constant(1)) }]
            }
        };
        Some(Formula { terms })
    }

    /// The tree as an e-graph expression.
    pub fn to_expr(&self) -> RecExpr<Node> {
        let mut expr = RecExpr::default();
        self.add_to(&mut expr);
        expr
    }

    fn add_to(&self, expr: &mut RecExpr<Node>) -> Id {
        let node = match self {
            Tree::Add(a, b) => Node::Add([a.add_to(expr), b.add_to(expr)]),
            Tree::Mul(a, b) => Node::Mul([a.add_to(expr), b.add_to(expr)]),
            Tree::Sum(v, b) => {
                let name = expr.add(Node::Name(Symbol::from(v.as_str())));
                Node::Sum([name, b.add_to(expr)])
            }
            Tree::Diff(b, t) => {
                let body = b.add_to(expr);
                Node::Diff([body, expr.add(Node::Leaf(Shared::new(Leaf::Element(t.clone()))))])
            }
            Tree::Leaf(l) => Node::Leaf(Shared::new(l.clone())),
        };
        expr.add(node)
    }

    /// The tree of an e-graph expression (its root is the last node).
    pub fn from_expr(expr: &RecExpr<Node>) -> Tree {
        fn at(expr: &RecExpr<Node>, id: Id) -> Tree {
            let node = &expr[id];
            from_node(node, node.children().iter().map(|&c| at(expr, c)).collect())
        }
        at(expr, Id::from(expr.as_ref().len() - 1))
    }

    /// The tree of one step of an explanation.
    fn from_flat(ft: &FlatTerm<Node>) -> Tree {
        from_node(&ft.node, ft.children.iter().map(Tree::from_flat).collect())
    }
}

/// A product's factors in canonical order, with `guard`'s brackets for each element added
/// where missing: other factors as they come, then the brackets sorted, each once.
fn canonical(factors: Vec<Tree>, guard: &dyn Fn(&Element) -> Vec<Cond>) -> Vec<Tree> {
    let mut brackets: Vec<Cond> = Vec::new();
    let mut out = Vec::new();
    for f in factors {
        match f {
            Tree::Leaf(Leaf::Bracket(c)) => brackets.push(c),
            Tree::Leaf(Leaf::Element(ref e)) => {
                for g in guard(e) {
                    match bracket(g) {
                        Leaf::Bracket(c) => brackets.push(c),
                        // An index outside the shape at every size: the element is 0.
                        Leaf::Value(v) if v.is_zero() => out.push(Tree::value(0)),
                        _ => {}
                    }
                }
                out.push(f);
            }
            f => out.push(f),
        }
    }
    brackets.sort();
    brackets.dedup();
    out.extend(brackets.into_iter().map(|c| Tree::Leaf(Leaf::Bracket(c))));
    out
}

/// A tree node from an e-graph node and its children, already converted.
pub(crate) fn from_node(node: &Node, mut kids: Vec<Tree>) -> Tree {
    let mut kid = |k: usize| Box::new(std::mem::replace(&mut kids[k], Tree::value(0)));
    match node {
        Node::Add(_) => Tree::Add(kid(0), kid(1)),
        Node::Mul(_) => Tree::Mul(kid(0), kid(1)),
        Node::Sum(_) => {
            let (name, body) = (kid(0), kid(1));
            Tree::Sum(name.show(&[]), body)
        }
        Node::Diff(_) => {
            let (body, target) = (kid(0), kid(1));
            match *target {
                Tree::Leaf(Leaf::Element(e)) => Tree::Diff(body, e),
                other => Tree::Diff(body, Element { tensor: other.show(&[]), index: Vec::new() }),
            }
        }
        Node::Leaf(l) => Tree::Leaf((**l).clone()),
        Node::Name(n) => Tree::Leaf(Leaf::Value(crate::algebra::index::var(n.as_str()))),
    }
}

impl Tree {
    /// The tree as text; `sizes` tell which names are sizes, so that brackets read as
    /// ranges (see [`show_brackets`]).
    pub fn show(&self, sizes: &[String]) -> String {
        match self {
            Tree::Add(..) => self.summands().iter().map(|t| t.show(sizes)).collect::<Vec<_>>().join(" + "),
            Tree::Mul(..) => {
                let factors = self.factors();
                let mut elements = Vec::new();
                let mut brackets = Vec::new();
                let mut others = Vec::new();
                for f in factors {
                    match f {
                        Tree::Leaf(Leaf::Bracket(c)) => brackets.push(c.clone()),
                        Tree::Leaf(Leaf::Element(e)) => {
                            elements.push(e.clone());
                            others.push(f);
                        }
                        f => others.push(f),
                    }
                }
                let last = others.len().saturating_sub(1);
                let mut parts: Vec<String> = others
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| match t {
                        Tree::Add(..) => format!("({})", t.show(sizes)),
                        Tree::Sum(..) | Tree::Diff(..) if i < last || !brackets.is_empty() => {
                            format!("({})", t.show(sizes))
                        }
                        Tree::Leaf(Leaf::Value(p)) if crate::algebra::index::is_compound(p) => format!("({p})"),
                        t => t.show(sizes),
                    })
                    .collect();
                parts.extend(show_brackets(&brackets, &elements, sizes).into_iter().map(|b| format!("[{b}]")));
                parts.join(" ")
            }
            Tree::Sum(v, b) => match **b {
                Tree::Add(..) => format!("Σ_{v} ({})", b.show(sizes)),
                _ => format!("Σ_{v} {}", b.show(sizes)),
            },
            Tree::Diff(b, t) if matches!(**b, Tree::Leaf(_)) => format!("∂{}/∂{t}", b.show(sizes)),
            Tree::Diff(b, t) => format!("∂/∂{t} ({})", b.show(sizes)),
            Tree::Leaf(Leaf::Bracket(c)) => {
                format!("[{}]", show_brackets(std::slice::from_ref(c), &[], sizes).join(""))
            }
            Tree::Leaf(l) => l.to_string(),
        }
    }
}

/// One numbered step of a proof: the rule applied and the expression it gave.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The rule's name (`d-product`, `sigma-delta`, …).
    pub rule: String,
    /// The whole expression after the step, as printed.
    pub expr: String,
    /// The whole expression after the step, for checking it by numbers.
    pub term: Tree,
}

impl Step {
    /// The step that gives `term` by `rule`, printed with `sizes` read as sizes.
    pub fn new(rule: impl Into<String>, term: Tree, sizes: &[String]) -> Step {
        Step { rule: rule.into(), expr: term.show(sizes), term }
    }
}

/// Explicit bounds on the work of one e-graph run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most e-nodes.
    pub nodes: usize,
    /// Most iterations.
    pub iterations: usize,
    /// Most time.
    pub time: Duration,
    /// Most matches of one rule in one iteration.
    pub matches: usize,
}

/// The limits every run uses.
pub const LIMITS: Limits = Limits { nodes: 20_000, iterations: 400, time: Duration::from_secs(2), matches: 200_000 };

/// What each rule does, for readers of a proof.
#[rustfmt::skip]
pub const RULES: &[(&str, &str)] = &[
    ("definition",         "the formula as written"),
    ("range-guard",        "a tensor reads 0 outside its shape: x_e = x_e [0 ≤ e ≤ n-1]"),
    ("d-sum",              "∂ passes under Σ"),
    ("d-add",              "∂ of a sum is the sum of the ∂s"),
    ("d-product",          "product rule: ∂(ab) = ∂a b + a ∂b"),
    ("d-element",          "the derivative of a tensor element is a δ: ∂x_e/∂x_j = [e = j]"),
    ("d-other-tensor",     "elements of another tensor do not depend on this one"),
    ("d-constant",         "index values and brackets do not depend on any tensor"),
    ("zero-times",         "0 · a = 0"),
    ("times-zero",         "a · 0 = 0"),
    ("one-times",          "1 · a = a"),
    ("times-one",          "a · 1 = a"),
    ("zero-plus",          "0 + a = a"),
    ("plus-zero",          "a + 0 = a"),
    ("sum-zero",           "Σ 0 = 0"),
    ("sum-add",            "Σ distributes over +"),
    ("distribute-left",    "a (b + c) = a b + a c"),
    ("distribute-right",   "(a + b) c = a c + b c"),
    ("add-same",           "a + a = 2 a"),
    ("fold-values",        "the product of two index values is one value: 2 · 3 = 6"),
    ("fold-values-nested", "a · (b · c) = (a b) · c for index values a, b"),
    ("sigma-delta",        "Σ-δ elimination: Σ_l [a·l + b = 0] f(l) = [a | b] f(-b/a)"),
    ("drop-implied",       "a bracket implied by the domain (output in range, index in shape) is 1"),
    ("mul-comm",           "a b = b a"),
    ("mul-assoc",          "a (b c) = (a b) c"),
    ("add-comm",           "a + b = b + a"),
    ("add-assoc",          "a + (b + c) = (a + b) + c"),
    ("bracket-idempotent", "[c] [c] = [c]"),
    ("like-terms",         "terms equal but for an integer factor add up: a - a = 0, a + a = 2 a"),
    ("contradicted",       "a product holding a bracket the domain contradicts is 0"),
    ("implied-in-product", "a bracket implied by the domain and the other brackets of its product is 1; one they contradict makes the product 0"),
    ("equal-indices",      "indices that a bracket makes equal are written alike: w_<d> [c = d] = w_<c> [c = d]"),
    ("index-normalisation","both sides have the same canonical index form"),
    ("claim",              "the claim as written"),
    ("domain-length",      "the derived length: the number of output indices in the domain"),
    ("ceil-div",           "a ceiling is a floor: -(a div b) = (b - 1 - a) div b, for b ≥ 1"),
    ("div-div",            "(a div b) div c = a div (b c), for b, c ≥ 1"),
    ("mod-div",            "a mod b = a - b (a div b)"),
];

/// The rules of one derivation: those that hold everywhere (made once per process) and
/// `drop-implied`, which knows the derivation's facts.
pub struct Rules {
    fixed: &'static [Rule],
    claims: &'static [Rule],
    /// `drop-implied`, then, for claims, `contradicted`.
    implied: Vec<Rule>,
}

impl Rules {
    /// The rules that differentiate and simplify; `facts` bound the free indices.
    pub fn derivation(facts: Vec<Bound>) -> Rules {
        Rules { fixed: fixed_rules(), claims: &[], implied: facts_rules(facts, false) }
    }

    /// The derivation rules plus associativity, commutativity, idempotence and
    /// `contradicted`, for claims.
    pub fn claims(facts: Vec<Bound>) -> Rules {
        Rules { fixed: fixed_rules(), claims: claim_only_rules(), implied: facts_rules(facts, true) }
    }

    /// The same rules without associativity and commutativity.
    pub fn without_claim_rules(&self) -> RulesView<'_> {
        RulesView { rules: self, claims: false }
    }

    /// All the rules.
    pub fn all(&self) -> RulesView<'_> {
        RulesView { rules: self, claims: true }
    }
}

/// A selection of [`Rules`] for one run.
#[derive(Clone, Copy)]
pub struct RulesView<'r> {
    rules: &'r Rules,
    claims: bool,
}

impl<'r> RulesView<'r> {
    pub(crate) fn iter(self) -> impl Iterator<Item = &'r Rule> {
        let (claims, implied): (&[Rule], &[Rule]) = match self.claims {
            true => (self.rules.claims, &self.rules.implied),
            false => (&[], &self.rules.implied[..1]),
        };
        self.rules.fixed.iter().chain(claims).chain(implied)
    }
}

/// `drop-implied` and, with `contradicted`, the rule that zeroes a product holding a
/// bracket the facts refute; both read the facts through one [`Implied`].
fn facts_rules(facts: Vec<Bound>, contradicted: bool) -> Vec<Rule> {
    let mentioned = facts
        .iter()
        .flat_map(|b| {
            let ends = b.lo.iter().chain(&b.hi).flat_map(|p| p.names());
            std::iter::once(b.var.clone()).chain(ends)
        })
        .collect();
    let implied = Arc::new(Implied { facts, mentioned, known: Mutex::new(HashMap::new()) });
    let by_facts = implied.clone();
    let mut rules = vec![computed("drop-implied", "(* ?a ?b)", move |eg, _, s| drop_implied(eg, s, &by_facts))];
    if contradicted {
        rules.push(computed("contradicted", "(* ?a ?b)", move |eg, _, s| {
            let refuted = |x: Var| matches!(leaf(eg, s[x]), Some(Leaf::Bracket(c)) if implied.decides(c, eg, false));
            (refuted(vars().a) || refuted(vars().b)).then(|| ground(&Tree::value(0)))
        }));
    }
    rules
}

/// The facts of a derivation, the names they mention, and what they were found to
/// imply so far.
struct Implied {
    facts: Vec<Bound>,
    mentioned: BTreeSet<String>,
    /// Per condition, what the facts were found to say of it.
    known: Mutex<HashMap<Cond, Decided>>,
}

/// Whether the facts imply a condition, and whether they imply its negation, each worked
/// out when first asked.
#[derive(Default)]
struct Decided {
    implied: Option<bool>,
    refuted: Option<bool>,
}

impl Implied {
    /// Whether the facts imply `c` (`wanted`) or its negation (not `wanted`) wherever `c`
    /// occurs in `eg`. The facts are about free names; where a Σ of the e-graph binds
    /// a name of `c` that they mention, that name may be the bound one in some
    /// occurrence, and nothing is concluded. (The e-graph shares a term between every
    /// place it occurs, so this is checked over the whole e-graph, not where the rule
    /// happens to match.)
    fn decides(&self, c: &Cond, eg: &EGraph, wanted: bool) -> bool {
        let decided = {
            let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let decided = known.entry(c.clone()).or_default();
            match wanted {
                true => *decided.implied.get_or_insert_with(|| c.implied_by(&self.facts)),
                false => *decided.refuted.get_or_insert_with(|| c.refuted_by(&self.facts)),
            }
        };
        decided && !c.names().iter().any(|n| self.mentioned.contains(n) && bound_somewhere(eg, n))
    }
}

#[rustfmt::skip]
fn fixed_rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| vec![
        computed("d-sum",          "(d (sum ?v ?b) ?t)", d_sum),
        rewrite!("d-add";     "(d (+ ?a ?b) ?t)"   => "(+ (d ?a ?t) (d ?b ?t))"),
        rewrite!("d-product"; "(d (* ?a ?b) ?t)"   => "(+ (* (d ?a ?t) ?b) (* ?a (d ?b ?t)))"),
        computed("d-element",      "(d ?e ?t)", d_element),
        computed("d-other-tensor", "(d ?e ?t)", d_other_tensor),
        computed("d-constant",     "(d ?e ?t)", d_constant),
        rewrite!("zero-times"; "(* 0 ?a)" => "0"),
        rewrite!("times-zero"; "(* ?a 0)" => "0"),
        rewrite!("one-times";  "(* 1 ?a)" => "?a"),
        rewrite!("times-one";  "(* ?a 1)" => "?a"),
        rewrite!("zero-plus";  "(+ 0 ?a)" => "?a"),
        rewrite!("plus-zero";  "(+ ?a 0)" => "?a"),
        rewrite!("sum-zero";   "(sum ?v 0)"          => "0"),
        rewrite!("sum-add";    "(sum ?v (+ ?a ?b))"  => "(+ (sum ?v ?a) (sum ?v ?b))"),
        rewrite!("distribute-left";  "(* ?a (+ ?b ?c))" => "(+ (* ?a ?b) (* ?a ?c))"),
        rewrite!("distribute-right"; "(* (+ ?a ?b) ?c)" => "(+ (* ?a ?c) (* ?b ?c))"),
        rewrite!("add-same";   "(+ ?a ?a)"           => "(* 2 ?a)"),
        computed("fold-values", "(* ?a ?b)", |eg, _, s| {
            let (a, b) = (value(eg, s[vars().a])?, value(eg, s[vars().b])?);
            Some(ground(&Tree::Leaf(Leaf::Value(a.mul(b)))))
        }),
        computed("fold-values-nested", "(* ?a (* ?b ?c))", |eg, _, s| {
            // Where ?c is a value itself (0 above all, whose class absorbs every product),
            // folding would only feed a cycle: fold-values does the work there.
            if value(eg, s[vars().c]).is_some() {
                return None;
            }
            let (a, b) = (value(eg, s[vars().a])?, value(eg, s[vars().b])?);
            Some(scaled(a.mul(b), vars().c))
        }),
        computed("sigma-delta",  "(sum ?v ?b)", sigma_delta),
    ])
}

#[rustfmt::skip]
fn claim_only_rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| vec![
        rewrite!("mul-comm";  "(* ?a ?b)"        => "(* ?b ?a)"),
        rewrite!("mul-assoc"; "(* ?a (* ?b ?c))" => "(* (* ?a ?b) ?c)"),
        rewrite!("add-comm";  "(+ ?a ?b)"        => "(+ ?b ?a)"),
        rewrite!("add-assoc"; "(+ ?a (+ ?b ?c))" => "(+ (+ ?a ?b) ?c)"),
        computed("bracket-idempotent", "(* ?a ?a)", |eg, _, s| {
            matches!(leaf(eg, s[vars().a]), Some(Leaf::Bracket(_))).then(|| var_pattern(vars().a))
        }),
    ])
}

/// The rules that compare lengths: identities of floor division by a positive divisor,
/// a positive constant or a positive sum of products of sizes (sizes are never negative,
/// and a division by 0 has no value, so such a divisor is at least 1 wherever the length
/// is defined). They hold for sizes, not for indices, which may be negative.
#[rustfmt::skip]
pub(crate) fn length_rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| vec![
        computed("ceil-div", "?a", |eg, _, s| rewritten_value(eg, s, ceil_div)),
        computed("div-div",  "?a", |eg, _, s| rewritten_value(eg, s, div_div)),
        computed("mod-div",  "?a", |eg, _, s| rewritten_value(eg, s, mod_div)),
    ])
}

/// The value leaf of `?a` rewritten by `f`, at the top or inside a `div` or `mod`, when
/// it changes.
fn rewritten_value(eg: &EGraph, s: &Subst, f: fn(&Index) -> Option<Index>) -> Option<PatternAst<Node>> {
    let p = value(eg, s[vars().a])?;
    let q = anywhere(p, f).filter(|q| q != p)?;
    Some(ground(&Tree::Leaf(Leaf::Value(q))))
}

/// `p` rewritten by `f` where it first applies: `p` itself, else the operands of its
/// `div` and `mod` atoms, outermost first.
fn anywhere(p: &Index, f: fn(&Index) -> Option<Index>) -> Option<Index> {
    if let Some(q) = f(p).filter(|q| q != p) {
        return Some(q);
    }
    for (m, c) in p.terms() {
        for (at, atom) in m.iter().enumerate() {
            let (IndexAtom::Div(a, b) | IndexAtom::Mod(a, b)) = atom else { continue };
            let rebuilt = |a: &Index, b: &Index| match atom {
                IndexAtom::Div(..) => div(a, b),
                _ => modulo(a, b),
            };
            let new = match (anywhere(a, f), anywhere(b, f)) {
                (Some(a2), _) => rebuilt(&a2, b),
                (None, Some(b2)) => rebuilt(a, &b2),
                (None, None) => continue,
            };
            let rest: Vec<IndexAtom> = m.iter().enumerate().filter(|(k, _)| *k != at).map(|(_, x)| x.clone()).collect();
            let term = Index::monomial(c, m.clone());
            return Some(p.sub(&term).add(&new.mul(&Index::monomial(c, rest))));
        }
    }
    None
}

/// Whether `b` is a positive divisor (see [`length_rules`]).
fn positive_divisor(b: &Index) -> bool {
    !b.is_zero() && b.terms().all(|(m, c)| c > 0 && m.iter().all(|a| matches!(a, IndexAtom::Var(_))))
}

/// The first term `c·(a div b)` of `p` with `c < 0` and a positive `b`.
fn negative_division(p: &Index) -> Option<(i64, Index, Index)> {
    p.terms().find_map(|(m, c)| match m.as_slice() {
        [IndexAtom::Div(a, b)] if c < 0 && positive_divisor(b) => Some((c, (**a).clone(), (**b).clone())),
        _ => None,
    })
}

/// `-(a div b) = (b - 1 - a) div b`: a ceiling is a floor.
fn ceil_div(p: &Index) -> Option<Index> {
    let (c, a, b) = negative_division(p)?;
    let atom = div(&a, &b);
    let ceiling = div(&b.sub(&Index::constant(1)).sub(&a), &b);
    Some(p.sub(&atom.scale(c)).add(&ceiling.scale(-c)))
}

/// `(a div b) div c = a div (b·c)`.
fn div_div(p: &Index) -> Option<Index> {
    p.terms().find_map(|(m, k)| {
        let [IndexAtom::Div(inner, c)] = m.as_slice() else { return None };
        let [(im, 1)] = inner.terms().collect::<Vec<_>>()[..] else { return None };
        let [IndexAtom::Div(a, b)] = im.as_slice() else { return None };
        if !positive_divisor(b) || !positive_divisor(c) {
            return None;
        }
        let atom = Index::monomial(k, m.clone());
        Some(p.sub(&atom).add(&div(a, &b.mul(c)).scale(k)))
    })
}

/// `a mod b = a - b·(a div b)`.
fn mod_div(p: &Index) -> Option<Index> {
    p.terms().find_map(|(m, k)| {
        let [IndexAtom::Mod(a, b)] = m.as_slice() else { return None };
        if b.is_zero() {
            return None;
        }
        let atom = Index::monomial(k, m.clone());
        Some(p.sub(&atom).add(&a.sub(&b.mul(&div(a, b))).scale(k)))
    })
}

/// A computed rewrite: the term it rewrites, when more specific than the rule's pattern
/// (so that explanations show it), and the term it gives.
struct Rewritten {
    from: Option<PatternAst<Node>>,
    to: PatternAst<Node>,
}

impl From<PatternAst<Node>> for Rewritten {
    fn from(to: PatternAst<Node>) -> Rewritten {
        Rewritten { from: None, to }
    }
}

type Rhs = dyn Fn(&EGraph, Id, &Subst) -> Option<Rewritten> + Send + Sync;

/// An applier whose right-hand side is computed from the match.
struct Computed(Box<Rhs>);

impl Applier<Node, DiffFree> for Computed {
    fn apply_one(
        &self,
        egraph: &mut EGraph,
        eclass: Id,
        subst: &Subst,
        ast: Option<&PatternAst<Node>>,
        rule: Symbol,
    ) -> Vec<Id> {
        let Some(Rewritten { from, to: rhs }) = (self.0)(egraph, eclass, subst) else { return Vec::new() };
        if lookup(egraph, &rhs, subst).is_some_and(|id| egraph.find(id) == egraph.find(eclass)) {
            // Applied before: adding it again would only grow the explanations.
            return Vec::new();
        }
        let changed = match from.as_ref().or(ast) {
            Some(ast) => egraph.union_instantiations(ast, &rhs, subst, rule).1,
            None => {
                let id = egraph.add_instantiation(&rhs, subst);
                egraph.union(eclass, id)
            }
        };
        if changed {
            vec![eclass]
        } else {
            Vec::new()
        }
    }
}

/// The e-class of a pattern's instance, when every node of it is in the e-graph already.
fn lookup(egraph: &EGraph, pattern: &PatternAst<Node>, subst: &Subst) -> Option<Id> {
    let mut ids: Vec<Id> = Vec::with_capacity(pattern.as_ref().len());
    for node in pattern.as_ref() {
        let id = match node {
            ENodeOrVar::Var(v) => *subst.get(*v)?,
            ENodeOrVar::ENode(n) => egraph.lookup(n.clone().map_children(|c| ids[usize::from(c)]))?,
        };
        ids.push(id);
    }
    ids.last().copied()
}

fn computed<R: Into<Rewritten>>(
    name: &str,
    lhs: &str,
    rhs: impl Fn(&EGraph, Id, &Subst) -> Option<R> + Send + Sync + 'static,
) -> Rule {
    let searcher: Pattern<Node> = lhs.parse().expect("rule patterns are written correctly");
    let applier = Computed(Box::new(move |eg, id, s| rhs(eg, id, s).map(Into::into)));
    Rewrite::new(name, searcher, applier).expect("computed rules bind no new variables")
}

/// The pattern variables that computed rules read, parsed once.
struct Vars {
    a: Var,
    b: Var,
    c: Var,
    e: Var,
    t: Var,
    v: Var,
}

fn vars() -> &'static Vars {
    static VARS: OnceLock<Vars> = OnceLock::new();
    VARS.get_or_init(|| {
        let v = |name: &str| name.parse().expect("variable names start with ?");
        Vars { a: v("?a"), b: v("?b"), c: v("?c"), e: v("?e"), t: v("?t"), v: v("?v") }
    })
}

fn var_pattern(var: Var) -> PatternAst<Node> {
    let mut p = PatternAst::default();
    p.add(ENodeOrVar::Var(var));
    p
}

fn ground(t: &Tree) -> PatternAst<Node> {
    let mut p = PatternAst::default();
    for node in t.to_expr().as_ref() {
        p.add(ENodeOrVar::ENode(node.clone()));
    }
    p
}

fn leaf(eg: &EGraph, id: Id) -> Option<&Leaf> {
    eg[id].nodes.iter().find_map(|n| match n {
        Node::Leaf(l) => Some(&**l),
        _ => None,
    })
}

/// The pattern `(* c ?var)`.
fn scaled(c: Index, var: Var) -> PatternAst<Node> {
    let mut p = PatternAst::default();
    let c = p.add(ENodeOrVar::ENode(Node::Leaf(Shared::new(Leaf::Value(c)))));
    let x = p.add(ENodeOrVar::Var(var));
    p.add(ENodeOrVar::ENode(Node::Mul([c, x])));
    p
}

fn value(eg: &EGraph, id: Id) -> Option<&Index> {
    match leaf(eg, id)? {
        Leaf::Value(p) => Some(p),
        _ => None,
    }
}

fn target(eg: &EGraph, s: &Subst) -> Option<Element> {
    match leaf(eg, s[vars().t])? {
        Leaf::Element(e) => Some(e.clone()),
        _ => None,
    }
}

/// Whether some Σ of the e-graph binds the name `n` (Σ's names are its only `Name` nodes).
fn bound_somewhere(eg: &EGraph, n: &str) -> bool {
    eg.lookup(Node::Name(Symbol::from(n))).is_some()
}

/// `∂x_e/∂x_t = [e = t]` holds for a target inside its tensor's shape, which the facts
/// say of the derivative's free target index: the rule does not fire where a Σ of the
/// e-graph binds a name of the target, which may then lie anywhere.
fn d_element(eg: &EGraph, _: Id, s: &Subst) -> Option<PatternAst<Node>> {
    let t = target(eg, s)?;
    let Leaf::Element(e) = leaf(eg, s[vars().e])? else { return None };
    if e.tensor != t.tensor || Leaf::Element(t.clone()).names().iter().any(|n| bound_somewhere(eg, n)) {
        return None;
    }
    let deltas = e.index.iter().zip(&t.index).map(|(a, b)| Tree::Leaf(bracket(eq(a, b)))).collect();
    Some(ground(&Tree::product(deltas)))
}

fn d_other_tensor(eg: &EGraph, _: Id, s: &Subst) -> Option<PatternAst<Node>> {
    let t = target(eg, s)?;
    let Leaf::Element(e) = leaf(eg, s[vars().e])? else { return None };
    (e.tensor != t.tensor).then(|| ground(&Tree::value(0)))
}

fn d_constant(eg: &EGraph, _: Id, s: &Subst) -> Option<PatternAst<Node>> {
    target(eg, s)?;
    matches!(leaf(eg, s[vars().e])?, Leaf::Value(_) | Leaf::Bracket(_)).then(|| ground(&Tree::value(0)))
}

/// Σ_v (… [c·v + r = 0] …) = [(-r) mod c = 0] (…)|_{v = (-r) div c}.
fn sigma_delta(eg: &EGraph, eclass: Id, s: &Subst) -> Option<Rewritten> {
    // Done already: the class holds the product that elimination gave.
    if eg[eclass].nodes.iter().any(|n| matches!(n, Node::Mul(_) | Node::Leaf(_))) {
        return None;
    }
    let name = binder(eg, s[vars().v])?;
    if !eg[s[vars().b]].data {
        return None;
    }
    let body = best(eg, s[vars().b]);
    if body.has_diff() {
        return None;
    }
    let factors = body.factors();
    let (at, value, extra) = factors.iter().enumerate().find_map(|(k, f)| {
        let Tree::Leaf(Leaf::Bracket(Cond::Eq0(p))) = f else { return None };
        let (c, r) = p.linear_in(&name)?;
        match c.as_constant() {
            Some(0) => None,
            Some(c @ (1 | -1)) => Some((k, r.scale(-c), None)),
            _ => Some((k, div(&r.neg(), &c), Some(bracket(eq(&modulo(&r.neg(), &c), &Index::zero()))))),
        }
    })?;
    let mut rest: Vec<Tree> = extra.into_iter().map(Tree::Leaf).collect();
    rest.extend(factors.iter().enumerate().filter(|(k, _)| *k != at).map(|(_, f)| f.substitute(&name, &value)));
    let from = Tree::Sum(name.clone(), Box::new(body.clone()));
    Some(Rewritten { from: Some(ground(&from)), to: ground(&Tree::product(rest)) })
}

/// `(∂ Σ_v b) / ∂t = Σ_v (∂b / ∂t)`, with `v` renamed apart first where the target
/// mentions it (else the Σ would capture the target's index).
fn d_sum(eg: &EGraph, _: Id, s: &Subst) -> Option<PatternAst<Node>> {
    let t = target(eg, s)?;
    let name = binder(eg, s[vars().v])?;
    let mut p = PatternAst::default();
    if !Leaf::Element(t.clone()).names().contains(&name) {
        let v = p.add(ENodeOrVar::Var(vars().v));
        let b = p.add(ENodeOrVar::Var(vars().b));
        let t = p.add(ENodeOrVar::Var(vars().t));
        let d = p.add(ENodeOrVar::ENode(Node::Diff([b, t])));
        p.add(ENodeOrVar::ENode(Node::Sum([v, d])));
        return Some(p);
    }
    let body = best(eg, s[vars().b]);
    let mut taken = body.names();
    taken.extend(Leaf::Element(t.clone()).names());
    let fresh = fresh_name(&name, &taken);
    let renamed = body.substitute(&name, &var(&fresh));
    Some(ground(&Tree::Sum(fresh, Box::new(Tree::Diff(Box::new(renamed), t)))))
}

/// The name of a Σ's binder class.
fn binder(eg: &EGraph, id: Id) -> Option<String> {
    eg[id].nodes.iter().find_map(|n| match n {
        Node::Name(n) => Some(n.to_string()),
        _ => None,
    })
}

fn drop_implied(eg: &EGraph, s: &Subst, implied: &Implied) -> Option<PatternAst<Node>> {
    let (a, b) = (vars().a, vars().b);
    for (x, y) in [(a, b), (b, a)] {
        if let Some(Leaf::Bracket(c)) = leaf(eg, s[x]) {
            if implied.decides(c, eg, true) {
                return Some(var_pattern(y));
            }
        }
    }
    None
}

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

/// An e-graph with explanations enabled, and the runs on it.
pub struct Session {
    egraph: EGraph,
}

impl Default for Session {
    fn default() -> Session {
        Session { egraph: EGraph::default().with_explanations_enabled() }
    }
}

impl Session {
    /// Adds a term, returning its e-class.
    pub fn add(&mut self, t: &Tree) -> Id {
        self.egraph.add_expr(&t.to_expr())
    }

    /// Runs the rules to saturation within [`LIMITS`].
    ///
    /// egg times itself with quanta, whose clock calibrates for a millisecond or more on
    /// first use; a mock clock skips that, and the time limit is enforced here instead.
    pub fn run(&mut self, rules: RulesView<'_>) -> Result<(), DeriveError> {
        self.run_rules(rules.iter())
    }

    /// Runs the given rules to saturation within [`LIMITS`] (see [`Session::run`]).
    pub fn run_rules<'r>(&mut self, rules: impl IntoIterator<Item = &'r Rule>) -> Result<(), DeriveError> {
        let egraph = std::mem::take(&mut self.egraph);
        let started = std::time::Instant::now();
        let (clock, _) = quanta::Clock::mock();
        let deadline = started + LIMITS.time;
        let runner = quanta::with_clock(&clock, || {
            Runner::default()
                .with_egraph(egraph)
                .with_node_limit(LIMITS.nodes)
                .with_iter_limit(LIMITS.iterations)
                .with_scheduler(Bounded { deadline })
                .with_hook(move |_| match Instant::now() > deadline {
                    true => Err(past_time_limit()),
                    false => Ok(()),
                })
                .run(rules)
        });
        let stop = runner.stop_reason.clone();
        self.egraph = runner.egraph;
        match stop {
            Some(StopReason::Saturated) | None => Ok(()),
            Some(StopReason::NodeLimit(n)) => {
                Err(DeriveError::Limit(format!("the e-graph grew to {n} nodes, past its limit of {}", LIMITS.nodes)))
            }
            Some(StopReason::IterationLimit(n)) => {
                Err(DeriveError::Limit(format!("the e-graph ran {n} iterations without saturating")))
            }
            // egg's own time limit never stops a run on the mock clock; the deadline does.
            Some(StopReason::TimeLimit(_)) => Err(DeriveError::Limit(past_time_limit())),
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

    /// The steps from `from` to `to`, which must be equal, from egg's explanation. A step
    /// that only regroups a product prints like the one before it; its rule is then added
    /// to that step's rules rather than shown as a step of its own.
    pub fn explain(&mut self, from: &Tree, to: &Tree, sizes: &[String]) -> Vec<Step> {
        let explanation = self.egraph.explain_equivalence(&from.to_expr(), &to.to_expr());
        let mut steps: Vec<Step> = Vec::new();
        let mut previous = from.show(sizes);
        let Some(first) = explanation.explanation_trees.first() else { return steps };
        let mut current = initial_term(first);
        walk(&explanation.explanation_trees, &mut Vec::new(), &mut current, &mut |rule, whole| {
            let step = Step::new(rule, Tree::from_flat(whole), sizes);
            match steps.last_mut() {
                Some(last) if step.expr == previous => {
                    last.rule = format!("{}, {}", last.rule, step.rule);
                    last.term = step.term;
                }
                _ => steps.push(step),
            }
            previous = steps.last().map(|s| s.expr.clone()).unwrap_or_default();
        });
        steps
    }
}

/// The message of a run stopped at [`LIMITS`]' time.
fn past_time_limit() -> String {
    format!("the e-graph ran past its time limit of {:?}", LIMITS.time)
}

/// egg's simple scheduler (every rule, every match, every iteration), with [`LIMITS`]
/// also enforced within an iteration. egg checks them only between rules, and one rule
/// can match millions of times in one step (associativity in an e-class that has merged
/// with 0), taking seconds and hundreds of megabytes.
struct Bounded {
    /// When the run must stop.
    deadline: Instant,
}

impl RewriteScheduler<Node, DiffFree> for Bounded {
    /// Past the deadline the run is stopped at the next iteration's start, not saturated.
    fn can_stop(&mut self, _iteration: usize) -> bool {
        Instant::now() <= self.deadline
    }

    /// Searches each rule for at most [`Limits::matches`] matches, and stops the run
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
                return Err(StopReason::Other(past_time_limit()));
            }
            let matches = rewrite.search_with_limit(egraph, LIMITS.matches + 1);
            if matches.iter().map(|m| m.substs.len()).sum::<usize>() > LIMITS.matches {
                return Err(StopReason::Other(format!(
                    "the rule {} matched more than {} times in one step, the e-graph's limit",
                    rewrite.name, LIMITS.matches
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
                if egraph.total_size() > LIMITS.nodes || Instant::now() > self.deadline {
                    return applied;
                }
                let some = SearchMatches { eclass: m.eclass, substs: substs.to_vec(), ast: m.ast.clone() };
                applied += rewrite.apply(egraph, std::slice::from_ref(&some)).len();
            }
        }
        applied
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::cond::le;

    #[test]
    fn trees_round_trip_through_expressions() {
        let e = Element { tensor: "x".into(), index: vec![var("l")] };
        let t =
            Tree::Sum("l".into(), Box::new(Tree::product(vec![Tree::Leaf(Leaf::Element(e.clone())), Tree::value(2)])));
        assert_eq!(Tree::from_expr(&t.to_expr()), t);
        assert_eq!(t.show(&[]), "Σ_l x_l 2");
    }

    fn element(tensor: &str, p: Index) -> Tree {
        Tree::Leaf(Leaf::Element(Element { tensor: tensor.into(), index: vec![p] }))
    }

    fn simplest(start: &Tree, facts: Vec<Bound>) -> String {
        let mut s = Session::default();
        let id = s.add(start);
        s.run(Rules::derivation(facts).all()).unwrap();
        s.best(id).show(&["n".into()])
    }

    fn in_shape(v: &str) -> Bound {
        Bound { var: v.into(), lo: Some(Index::zero()), hi: Some(var("n").sub(&Index::constant(1))) }
    }

    #[test]
    fn tree_substitution_renames_a_sum_it_would_capture() {
        // Σ_u x_<l+u> with l := u is Σ_u′ x_<u+u′>, not Σ_u x_<2u>.
        let t = Tree::Sum("u".into(), Box::new(element("x", var("l").add(&var("u")))));
        assert_eq!(t.substitute("l", &var("u")).show(&[]), "Σ_u′ x_<u+u′>");
        assert_eq!(t.substitute("u", &var("q")), t, "the Σ shadows its own name");
    }

    #[test]
    fn range_guards_are_not_captured_by_a_sum_over_a_size() {
        // Σ_k w_k, with w's guard [0 ≤ e ≤ k-1] for the size k: the Σ is renamed apart.
        let k = var("k");
        let t = Tree::Sum("k".into(), Box::new(element("w", k.clone())));
        let guard = |e: &Element| vec![le(&Index::zero(), &e.index[0]), le(&e.index[0], &k.sub(&Index::constant(1)))];
        assert_eq!(t.guarded(&guard).show(&["k".into()]), "Σ_k′ w_k′ [0 ≤ k′ ≤ k-1]");
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
        assert_eq!(simplest(&start, vec![in_shape("i"), in_shape("j")]), "w_0 [0 ≤ -i-1]");
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
        let mut s = Session::default();
        let id = s.add(&start);
        s.run(Rules::derivation(Vec::new()).all()).unwrap();
        assert_eq!(s.best(id).show(&[]), "w_<i-j>");
        let steps = s.explain(&start, &s.best(id), &[]);
        assert_eq!(steps.last().unwrap().rule, "sigma-delta");
    }
}
