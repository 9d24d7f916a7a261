//! Terms as trees: building them from formulas, guarding elements by their ranges,
//! substituting without capture, converting to and from the e-graph, and printing.

use super::lang::{bracket, Leaf, Node, Shared};
use crate::algebra::formula::{fresh_name, show_brackets};
use crate::algebra::index::var;
use crate::algebra::{Cond, Element, Formula, Index, IndexExt, Term};
use egg::{FlatTerm, Id, RecExpr, Symbol};
use std::collections::BTreeSet;

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
    /// The integer `c` as a leaf.
    pub(crate) fn value(c: i64) -> Tree {
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

    /// Whether the tree holds a ∂.
    pub(crate) fn has_diff(&self) -> bool {
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
        Some(Formula::integer(terms))
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

    /// The tree of one step of an explanation.
    pub(crate) fn from_flat(ft: &FlatTerm<Node>) -> Tree {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::cond::le;

    fn element(tensor: &str, p: Index) -> Tree {
        Tree::Leaf(Leaf::Element(Element { tensor: tensor.into(), index: vec![p] }))
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
}
