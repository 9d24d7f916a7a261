//! Derivation: the output domain and length, `∂s/∂t` for every input and weight in closed
//! form with numbered proof steps, and symbolic proofs of claims, all through egg.

pub mod backward;
pub mod domain;
pub mod eval;
mod explain;
mod extract;
pub mod lang;
pub mod rules;
pub mod session;
#[cfg(test)]
mod soundness;
pub mod tree;

pub use domain::Domain;
pub use rules::{describe, RULES};
pub use tree::{Step, Tree};

use crate::algebra::cond::le;
use crate::algebra::index::var;
use crate::algebra::{Bound, Cond, Element, Formula, Index, IndexExt};
use crate::limits::Limits;
use crate::model::{ClaimKind, Model, Role, Tensor};
use lang::Leaf;
use rules::Rules;
use session::Session;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

/// Why a derivation could not be completed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeriveError {
    /// The output domain could not be derived.
    #[error("{0}")]
    Domain(String),
    /// An e-graph run hit one of its limits.
    #[error("{0}; the derivation was stopped")]
    Limit(String),
    /// Differentiation left a ∂ that no rule removes.
    #[error("no closed form for {0}")]
    NoClosedForm(String),
}

/// `∂s/∂t` for one tensor.
#[derive(Debug, Clone)]
pub struct Derivative {
    /// The tensor differentiated against.
    pub wrt: String,
    /// The names of its indices in the closed form.
    pub wrt_indices: Vec<String>,
    /// The closed form, with explicit Iverson brackets.
    pub closed_form: Formula,
    /// The proof: the definition, then every rewrite, ending in the closed form.
    pub steps: Vec<Step>,
    closed: Tree,
}

/// Everything derived symbolically from a model.
#[derive(Debug, Clone)]
pub struct Derivation {
    /// The output domain.
    pub domain: Domain,
    /// The output length along each axis.
    pub lengths: Vec<Index>,
    /// One derivative per input and weight, in declaration order.
    pub derivatives: Vec<Derivative>,
    /// `∂L/∂t` in gather form for every input and weight, in declaration order.
    pub gathers: Vec<backward::Gather>,
    /// What is known of the free indices and sizes: the domain, the shapes, sizes ≥ 1.
    facts: Vec<Bound>,
    /// The limits it was derived within, which its checks keep to as well.
    pub limits: Limits,
    /// The rules that differentiate and simplify, reading the facts: made once.
    rules: Arc<Rules>,
    /// Each upstream coefficient worked out so far, by its formula and index names: a
    /// gradient's named call and a claim of the same call share it.
    coefficients: Arc<Mutex<Vec<Coefficient>>>,
    /// What the claims about it share.
    claims: Arc<Claims>,
}

/// An upstream coefficient worked out: the formula and index names it is of, and it.
type Coefficient = ((Formula, Vec<String>), Formula);

/// What the claims about one derivation share.
#[derive(Debug, Default)]
struct Claims {
    /// The rules for claims, made when first asked for.
    rules: OnceLock<Rules>,
    /// Each claim the e-graph proved so far, with the tensor it is about.
    proved: Mutex<Vec<(String, Formula)>>,
}

/// Derives the domain, the lengths and every derivative of a model within `limits`.
pub fn derive(model: &Model, limits: &Limits) -> Result<Derivation, DeriveError> {
    let domain = domain::domain(model)?;
    let lengths = (0..model.output.indices.len()).map(|a| domain.length(a)).collect();
    let mut taken: BTreeSet<String> = model.sizes.iter().cloned().collect();
    taken.extend(model.output.indices.iter().cloned());
    taken.extend(model.tensors.iter().map(|t| t.name.clone()));
    let mut facts = domain.bounds(&model.output.indices);
    let mut ranges = BTreeMap::new();
    let names: Vec<Vec<String>> = model.tensors.iter().map(|t| wrt_names(model, t, &taken, &mut ranges)).collect();
    facts.extend(ranges.iter().map(|(n, d)| Bound {
        var: n.clone(),
        lo: Some(Index::zero()),
        hi: Some(d.sub(&Index::constant(1))),
    }));
    // Sizes in a shape, strides and dilations are at least 1; pads at least 0.
    facts.extend(model.sizes.iter().map(|n| Bound {
        var: n.clone(),
        lo: Some(Index::constant(model.least(n))),
        hi: None,
    }));
    let rules = Rules::derivation(facts.clone());
    let derivatives = model
        .tensors
        .iter()
        .zip(names)
        .map(|(t, wrt)| differentiate(model, t, wrt, None, true, (&rules, &facts), limits))
        .collect::<Result<_, _>>()?;
    let rules = Arc::new(rules);
    let (coefficients, claims) = Default::default();
    let mut derivation = Derivation {
        domain,
        lengths,
        derivatives,
        gathers: Vec::new(),
        facts,
        limits: *limits,
        rules,
        coefficients,
        claims,
    };
    derivation.gathers =
        derivation.derivatives.iter().map(|d| backward::gather(model, &derivation, d)).collect::<Result<_, _>>()?;
    Ok(derivation)
}

/// `0 ≤ e ≤ dim - 1` for every axis of an element: the range in which its tensor is not 0.
pub fn range_guard(model: &Model, e: &Element) -> Vec<Cond> {
    let Some(t) = model.tensor(&e.tensor) else { return Vec::new() };
    e.index
        .iter()
        .zip(&t.shape)
        .flat_map(|(p, d)| [le(&Index::zero(), p), le(p, &d.sub(&Index::constant(1)))])
        .collect()
}

/// Index names for a tensor's axes, each the first of these that is free: the name the
/// spec's first claim about `∂s/∂t` gives the axis; the formula's own name for it, where
/// some element of `t` in the formula is indexed there by a plain name (`m` of `w_m`);
/// then `j` for an input's last axis, `m` for a weight's, `p` for a weight's first
/// (output-channel) axis, `d` for other channel axes, each with fallbacks. A name is free
/// when it is no size, output index or tensor name, not used for another axis of `t`,
/// and used for other tensors only on an axis of the same length, since all of them
/// share one list of facts. (A Σ of the formula that binds a chosen name is renamed
/// apart before differentiating.)
fn wrt_names(model: &Model, t: &Tensor, taken: &BTreeSet<String>, ranges: &mut BTreeMap<String, Index>) -> Vec<String> {
    let last = t.shape.len() - 1;
    let claimed = model.claims.iter().find_map(|c| match &c.kind {
        ClaimKind::Derivative { wrt, wrt_indices, .. } if *wrt == t.name => Some(wrt_indices.clone()),
        _ => None,
    });
    let mut out: Vec<String> = Vec::new();
    for (axis, dim) in t.shape.iter().enumerate() {
        let pool: &[&str] = match (t.role, axis) {
            (Role::Input, a) if a == last => &["j", "u", "v"],
            (Role::Weight, a) if a == last => &["m", "q", "r"],
            (Role::Weight, 0) => &["p", "o", "g"],
            _ => &["d", "e", "f", "h"],
        };
        let own = [claimed.as_ref().and_then(|c| c.get(axis).cloned()), formula_name(model, t, axis)];
        let fallback = (1..).map(|n| format!("{}{n}", pool[0]));
        let free = |n: &String| !taken.contains(n) && !out.contains(n) && ranges.get(n).is_none_or(|d| d == dim);
        let mut names = own.into_iter().flatten().chain(pool.iter().map(|s| s.to_string())).chain(fallback);
        let name = names.find(free).expect("the fallbacks never end");
        ranges.insert(name.clone(), dim.clone());
        out.push(name);
    }
    out
}

/// The formula's name for an axis of `t`: the first plain name that indexes an element of
/// `t` on that axis.
fn formula_name(model: &Model, t: &Tensor, axis: usize) -> Option<String> {
    let elements = model.formula.terms.iter().flat_map(|term| &term.elements);
    elements.filter(|e| e.tensor == t.name).find_map(|e| {
        let p = e.index.get(axis)?;
        p.names().into_iter().find(|n| *p == var(n))
    })
}

/// `∂s/∂t` at `t_<wrt_indices>`, or at `target` where given (an element of `t` at any
/// index, whose names are `wrt_indices`); with its steps where `explain`.
fn differentiate(
    model: &Model,
    t: &Tensor,
    wrt_indices: Vec<String>,
    target: Option<Element>,
    explain: bool,
    (rules, facts): (&Rules, &[Bound]),
    limits: &Limits,
) -> Result<Derivative, DeriveError> {
    let target = target
        .unwrap_or_else(|| Element { tensor: t.name.clone(), index: wrt_indices.iter().map(|n| var(n)).collect() });
    // Differentiate, then make every remaining element's range explicit where the domain
    // does not imply it already, then simplify.
    // No Σ binds a name of the target: d-element needs it free.
    let formula = model.formula.rename_apart(&wrt_indices.iter().cloned().collect());
    let start = Tree::Diff(Box::new(Tree::from_formula(&formula)), target.clone());
    let sizes = &model.sizes;
    let mut steps = match explain {
        true => vec![Step::new("definition", start.clone(), sizes)],
        false => Vec::new(),
    };
    let differentiated = simplify(&start, rules, limits, sizes, explain.then_some(&mut steps))?;
    let guarded = guarded_where_needed(model, &differentiated, facts);
    let closed = if guarded == differentiated {
        differentiated
    } else {
        if explain {
            steps.push(Step::new("range-guard", guarded.clone(), sizes));
        }
        simplify(&guarded, rules, limits, sizes, explain.then_some(&mut steps))?
    };
    if explain && model.formula.divisor != 1 {
        let definition = format!("∂/∂{target} ({})", model.formula.show(sizes));
        steps = over_divisor(steps, model.formula.divisor, definition);
    }
    let statement = derivative_name(model, &target);
    // ∂(F/D) = ∂F/D: the closed form keeps the formula's divisor.
    let closed_form =
        Formula { divisor: model.formula.divisor, ..closed.to_formula().ok_or(DeriveError::NoClosedForm(statement))? };
    Ok(Derivative { wrt: t.name.clone(), wrt_indices, closed_form, steps, closed })
}

/// A claim about `d` over `d`'s divisor, so that its terms compare with `d`'s closed
/// form: the model's divisor is a multiple of every claim's (see `model::resolve`).
fn over_common_divisor(claim: Formula, d: &Derivative) -> Formula {
    let divisor = d.closed_form.divisor;
    claim.with_divisor(divisor).expect("the formula's divisor is a multiple of every claim's")
}

/// The steps of a derivation of `∂F` (`F` the formula without its divisor) as steps of
/// `∂(F/divisor)`: the definition as written (`definition`), the constant factor taken out,
/// then every step of `F`'s derivation times it. Each step keeps its term of `F`, which
/// the checks by numbers compare with brute force's derivative of `F`.
pub(crate) fn over_divisor(steps: Vec<Step>, divisor: i64, definition: String) -> Vec<Step> {
    let times = |s: Step| {
        let grouped = s.expr.contains(" + ") || s.expr.contains(" - ");
        let expr = if grouped { format!("1/{divisor} · ({})", s.expr) } else { format!("1/{divisor} · {}", s.expr) };
        Step { expr, ..s }
    };
    let mut steps = steps.into_iter();
    let Some(first) = steps.next() else { return Vec::new() };
    let written = Step { expr: definition, ..first.clone() };
    let taken_out = Step { rule: "constant-factor".into(), ..times(first) };
    [written, taken_out].into_iter().chain(steps.map(times)).collect()
}

/// The tree with the range of every element made explicit ([`range_guard`]), but for the
/// brackets that the facts imply already: no proof goes through a bracket and back. Facts
/// about a name some Σ of the tree binds are not used.
fn guarded_where_needed(model: &Model, t: &Tree, facts: &[Bound]) -> Tree {
    let usable = facts_free_of(facts, &t.binders());
    t.guarded(&|e| range_guard(model, e).into_iter().filter(|c| !c.implied_by(&usable)).collect())
}

/// The facts that mention none of the names `bound`: those a term under Σs over `bound`
/// may use.
fn facts_free_of<'a>(facts: &[Bound], bound: impl IntoIterator<Item = &'a String> + Clone) -> Vec<Bound> {
    let free = |b: &&Bound| {
        let mut names: BTreeSet<String> = b.lo.iter().chain(&b.hi).flat_map(|p| p.names()).collect();
        names.insert(b.var.clone());
        !bound.clone().into_iter().any(|v| names.contains(v))
    };
    facts.iter().filter(free).cloned().collect()
}

/// Runs the rules on `start` and appends the explanation of its simplest form to `steps`
/// (without explanations where there are no steps to keep).
fn simplify(
    start: &Tree,
    rules: &Rules,
    limits: &Limits,
    sizes: &[String],
    steps: Option<&mut Vec<Step>>,
) -> Result<Tree, DeriveError> {
    let mut session = Session::explaining(limits, steps.is_some());
    let id = session.add(start);
    session.run(rules.all())?;
    let best = session.best(id);
    if let Some(steps) = steps {
        steps.extend(session.explain(start, &best, sizes));
    }
    Ok(best)
}

/// `∂s_i/∂x_j` for the model's output and the given element.
pub fn derivative_name(model: &Model, target: &Element) -> String {
    let out =
        Element { tensor: model.output.name.clone(), index: model.output.indices.iter().map(|n| var(n)).collect() };
    format!("∂{out}/∂{target}")
}

impl Derivative {
    /// `∂s_i/∂x_j` in this derivative's names.
    pub fn name(&self, model: &Model) -> String {
        let target = Element { tensor: self.wrt.clone(), index: self.wrt_indices.iter().map(|n| var(n)).collect() };
        derivative_name(model, &target)
    }
}

/// Proves claims about the derivatives of one derivation.
pub struct Prover {
    /// The rules for claims, and the claims proved so far.
    shared: Arc<Claims>,
    facts: Vec<Bound>,
    limits: Limits,
}

impl Derivation {
    /// The derivative with respect to a tensor, when it is an input or weight.
    pub fn derivative(&self, wrt: &str) -> Option<&Derivative> {
        self.derivatives.iter().find(|d| d.wrt == wrt)
    }

    /// The names the facts are about: the output indices, every derivative's indices
    /// and the sizes.
    pub fn fact_names(&self) -> BTreeSet<String> {
        let ends = |b: &Bound| b.lo.iter().chain(&b.hi).flat_map(|p| p.names()).collect::<Vec<_>>();
        self.facts.iter().flat_map(|b| std::iter::once(b.var.clone()).chain(ends(b))).collect()
    }

    /// A claim's value (about `∂s_<out>/∂t_<wrt>`, in the claim's own index names) in the
    /// names of the derivative `d`: its summed indices are first renamed apart from every
    /// name the derivation's facts are about, then its free indices renamed, so that no
    /// renaming is captured by a Σ of the claim and no fact is read about a summed index.
    pub fn in_own_names(
        &self,
        model: &Model,
        claim: &Formula,
        out: &[String],
        wrt: &[String],
        d: &Derivative,
    ) -> Formula {
        let mut avoid = self.fact_names();
        avoid.extend(model.output.indices.iter().cloned());
        avoid.extend(d.wrt_indices.iter().cloned());
        let mut f = claim.rename_apart(&avoid);
        let pairs: Vec<(&String, &String)> =
            out.iter().zip(&model.output.indices).chain(wrt.iter().zip(&d.wrt_indices)).collect();
        // Simultaneously, through placeholders no spec can write.
        for (k, (from, _)) in pairs.iter().enumerate() {
            f = f.substitute(from, &var(&format!("#{k}")));
        }
        for (k, (_, to)) in pairs.iter().enumerate() {
            f = f.substitute(&format!("#{k}"), &var(to));
        }
        over_common_divisor(f, d)
    }

    /// A prover with the rules for claims, made once for all of them.
    pub fn prover(&self) -> Prover {
        self.claims.rules.get_or_init(|| Rules::claims(self.facts.clone()));
        Prover { shared: self.claims.clone(), facts: self.facts.clone(), limits: self.limits }
    }
}

impl Prover {
    /// Tries to prove that `claim` (in `d`'s index names) equals `d`'s closed form:
    /// `Some(steps)` when both land in one e-class, with the steps from the closed form to
    /// the claim (none when they are the same term).
    pub fn prove(&self, model: &Model, d: &Derivative, claim: &Formula) -> Result<Option<Vec<Step>>, DeriveError> {
        self.prove_explained(model, d, claim, true)
    }

    /// Whether `claim` (in `d`'s index names) equals `d`'s closed form, as
    /// [`Prover::prove`] finds it, without the steps.
    pub fn meets(&self, model: &Model, d: &Derivative, claim: &Formula) -> Result<bool, DeriveError> {
        Ok(self.prove_explained(model, d, claim, false)?.is_some())
    }

    fn prove_explained(
        &self,
        model: &Model,
        d: &Derivative,
        claim: &Formula,
        explain: bool,
    ) -> Result<Option<Vec<Step>>, DeriveError> {
        let proved = |c: &Vec<(String, Formula)>| c.iter().any(|(t, f)| *t == d.wrt && f == claim);
        if !explain && proved(&self.shared.proved.lock().expect("no proof panics holding the list")) {
            return Ok(Some(Vec::new()));
        }
        let rules = self.shared.rules.get().expect("a prover's rules are made with it");
        let claim = &over_common_divisor(claim.clone(), d);
        let plain = Tree::from_formula(claim);
        let guarded = guarded_where_needed(model, &plain, &self.facts);
        let equal = equal_indices(&guarded);
        let implied = implied_in_products(&equal, &self.facts, &mut Vec::new());
        let tidied = like_terms(&implied);
        // The closed form with equal indices written alike, as the claim's are.
        let closed = equal_indices(&d.closed);
        let mut session = Session::explaining(&self.limits, explain);
        let (a, b) = (session.add(&closed), session.add(&tidied));
        // Simplification alone often meets the claim; associativity and commutativity,
        // which grow the e-graph much more, run only when it does not.
        for rules in [rules.without_claim_rules(), rules.all()] {
            if !session.same(a, b) {
                session.run(rules)?;
            }
        }
        if !session.same(a, b) {
            return Ok(None);
        }
        self.shared.proved.lock().expect("no proof panics holding the list").push((d.wrt.clone(), claim.clone()));
        if !explain {
            return Ok(Some(Vec::new()));
        }
        let mut steps = Vec::new();
        if closed != d.closed {
            steps.push(Step::new("equal-indices", closed.clone(), &model.sizes));
        }
        steps.extend(session.explain(&closed, &tidied, &model.sizes));
        // Then symconv's own steps on the claim, undone in turn back to the claim.
        let undone = [
            (&tidied, &implied, "like-terms"),
            (&implied, &equal, "implied-in-product"),
            (&equal, &guarded, "equal-indices"),
            (&guarded, &plain, "range-guard"),
        ];
        for (after, before, rule) in undone {
            if after != before {
                steps.push(Step::new(format!("{rule} (reversed)"), before.clone(), &model.sizes));
            }
        }
        Ok(Some(steps))
    }
}

/// The tree with, in every product holding a bracket `[v = e]` (`v` the greatest name in
/// it with a coefficient ±1), `v` replaced by `e` in the product's other factors: indices
/// that a bracket makes equal are written alike, whichever one a claim or a derivation
/// chose (`w_<d> [c = d]` is `w_<c> [c = d]`).
fn equal_indices(t: &Tree) -> Tree {
    match t {
        Tree::Add(a, b) => Tree::Add(Box::new(equal_indices(a)), Box::new(equal_indices(b))),
        Tree::Sum(v, b) => Tree::Sum(v.clone(), Box::new(equal_indices(b))),
        Tree::Diff(..) => t.clone(),
        Tree::Mul(..) | Tree::Leaf(_) => {
            let mut factors: Vec<Tree> = t
                .factors()
                .into_iter()
                .map(|f| match f {
                    Tree::Leaf(_) => f.clone(),
                    other => equal_indices(other),
                })
                .collect();
            for k in 0..factors.len() {
                let Tree::Leaf(Leaf::Bracket(Cond::Eq0(p))) = &factors[k] else { continue };
                let solved = p.names().into_iter().rev().find_map(|v| {
                    let (c, rest) = p.linear_in(&v)?;
                    let c = c.as_constant().filter(|c| c.abs() == 1)?;
                    Some((v, rest.scale(-c)))
                });
                let Some((v, by)) = solved else { continue };
                for (j, f) in factors.iter_mut().enumerate() {
                    if j != k {
                        *f = f.substitute(&v, &by);
                    }
                }
            }
            Tree::product(factors)
        }
    }
}

/// The tree's terms (of its outermost sum) that are equal but for an integer factor,
/// added up: `a - a` is 0, `a + a` is `2 a`.
fn like_terms(t: &Tree) -> Tree {
    let mut terms: Vec<(i64, Vec<Tree>)> = Vec::new();
    for summand in t.summands() {
        let mut factor = 1i64;
        let mut rest = Vec::new();
        for f in summand.factors() {
            match f {
                Tree::Leaf(Leaf::Value(p)) if p.as_constant().is_some() => {
                    factor = factor.saturating_mul(p.as_constant().unwrap_or(1));
                }
                other => rest.push(other.clone()),
            }
        }
        match terms.iter_mut().find(|(_, r)| *r == rest) {
            Some((c, _)) => *c = c.saturating_add(factor),
            None => terms.push((factor, rest)),
        }
    }
    let summands = terms
        .into_iter()
        .filter(|(c, _)| *c != 0)
        .map(|(c, rest)| match c {
            1 => Tree::product(rest),
            c => Tree::product([vec![Tree::Leaf(Leaf::Value(Index::constant(c)))], rest].concat()),
        })
        .collect();
    let summed = Tree::sum(summands);
    // Only where something added up: the tree as it was, otherwise.
    if summed.summands().len() == t.summands().len() {
        return t.clone();
    }
    summed
}

/// The tree with, in every product, each bracket that the facts and the product's other
/// brackets imply dropped, and each product holding a bracket they contradict made 0.
/// No fact is used about a name that a Σ around the product binds (`bound`).
fn implied_in_products(t: &Tree, facts: &[Bound], bound: &mut Vec<String>) -> Tree {
    match t {
        Tree::Add(a, b) => {
            Tree::Add(Box::new(implied_in_products(a, facts, bound)), Box::new(implied_in_products(b, facts, bound)))
        }
        Tree::Sum(v, b) => {
            bound.push(v.clone());
            let body = implied_in_products(b, facts, bound);
            bound.pop();
            Tree::Sum(v.clone(), Box::new(body))
        }
        Tree::Diff(..) => t.clone(),
        Tree::Mul(..) | Tree::Leaf(_) => {
            let usable = facts_free_of(facts, bound.iter());
            let factors = t.factors();
            let mut kept: Vec<Cond> = factors
                .iter()
                .filter_map(|f| match f {
                    Tree::Leaf(Leaf::Bracket(c)) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            let mut k = 0;
            while k < kept.len() {
                // The bracket, taken out while the others are asked about it.
                let c = kept.remove(k);
                if c.refuted_given(&usable, &kept) {
                    return Tree::Leaf(Leaf::Value(Index::zero()));
                }
                if !c.implied_given(&usable, &kept) {
                    kept.insert(k, c);
                    k += 1;
                }
            }
            let rebuilt = factors
                .into_iter()
                .filter(|f| match f {
                    Tree::Leaf(Leaf::Bracket(c)) => kept.contains(c),
                    _ => true,
                })
                .map(|f| match f {
                    Tree::Leaf(_) => f.clone(),
                    other => implied_in_products(other, facts, bound),
                })
                .collect();
            Tree::product(rebuilt)
        }
    }
}

impl Derivation {
    /// Proves a length claim, `len(s, axis) = claimed` (`written` as in the spec): the
    /// steps from the claim as written to its canonical form, then, where that is not the
    /// derived length's, the e-graph's steps between them by [`RuleSet::Lengths`](rules::RuleSet::Lengths), and
    /// last the derived length as the size of the domain. `None` when they do not meet.
    pub fn prove_length(
        &self,
        model: &Model,
        axis: usize,
        claimed: &Index,
        written: &str,
    ) -> Result<Option<Vec<Step>>, DeriveError> {
        let derived = &self.lengths[axis];
        let value = |p: &Index| Tree::Leaf(Leaf::Value(p.clone()));
        let mut steps = vec![Step { rule: "claim".into(), expr: written.to_string(), term: value(claimed) }];
        if claimed.to_string() != written {
            steps.push(Step::new("index-normalisation", value(claimed), &model.sizes));
        }
        if claimed != derived {
            let mut session = Session::new(&self.limits);
            let (a, b) = (session.add(&value(claimed)), session.add(&value(derived)));
            session.run(Rules::lengths().all())?;
            if !session.same(a, b) {
                return Ok(None);
            }
            steps.extend(session.explain(&value(claimed), &value(derived), &model.sizes));
        }
        let (lo, hi) = &self.domain.axes[axis];
        let i = &model.output.indices[axis];
        let expr = format!("{derived}: the number of {i} with {lo} ≤ {i} ≤ {hi}");
        steps.push(Step { rule: "domain-length".into(), expr, term: value(derived) });
        Ok(Some(steps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::cond::eq;
    use lang::bracket;

    fn w(p: Index) -> Tree {
        Tree::Leaf(Leaf::Element(Element { tensor: "w".into(), index: vec![p] }))
    }

    fn derived(src: &str) -> (Model, Derivation) {
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let derivation = derive(&model, &Limits::default()).unwrap();
        (model, derivation)
    }

    fn closed_form(src: &str, wrt: &str) -> String {
        let (model, derivation) = derived(src);
        let d = derivation.derivative(wrt).unwrap();
        format!("{} = {}", d.name(&model), d.closed_form.show(&model.sizes))
    }

    const STRIDED: &str = "input x[n]\nweight w[k]\nlet n = 10, k = 3, S = 2\ns_i = Σ x_<S i + m> w_m\n";

    #[test]
    fn index_names_are_the_claims_then_the_formulas() {
        // No claim: w's index is the formula's m, the Σ over m renamed apart.
        let (model, derivation) = derived(STRIDED);
        let d = derivation.derivative("w").unwrap();
        assert_eq!(d.name(&model), "∂s_i/∂w_m");
        assert_eq!(d.steps[0].expr, "∂/∂w_m (Σ_m′ x_<S·i+m′> w_m′)");
        // x's index is an expression there: the pool's j.
        assert_eq!(derivation.derivative("x").unwrap().name(&model), "∂s_i/∂x_j");
        // A claim's names come first, for x and for w.
        let claimed = format!("{STRIDED}claim ∂s_i/∂w_r = x_<S i + r>\nclaim ∂s_i/∂x_u = w_<u - S i>\n");
        let (model, derivation) = derived(&claimed);
        assert_eq!(derivation.derivative("w").unwrap().name(&model), "∂s_i/∂w_r");
        assert_eq!(derivation.derivative("x").unwrap().name(&model), "∂s_i/∂x_u");
        // A claim's name that is an output index is not taken.
        let clash = format!("{STRIDED}claim ∂s_o/∂w_i = x_<S o + i>\n");
        let (model, derivation) = derived(&clash);
        assert_eq!(derivation.derivative("w").unwrap().name(&model), "∂s_i/∂w_m");
    }

    #[test]
    fn a_formula_name_shared_by_two_tensors_of_different_lengths_is_used_once() {
        // x_l and w_l: one name, two ranges; w falls back to the pool.
        let src = "input x[n]\nweight w[k]\nlet n = 10, k = 3\ns_i = Σ x_l w_l x_<i + l>\n";
        let (model, derivation) = derived(src);
        assert_eq!(derivation.derivative("x").unwrap().name(&model), "∂s_i/∂x_l");
        assert_eq!(derivation.derivative("w").unwrap().name(&model), "∂s_i/∂w_m");
    }

    #[test]
    fn closed_forms_keep_only_the_brackets_the_domain_does_not_imply() {
        // Strided: 0 ≤ S·i + m ≤ n - 1 on the whole domain, and no step adds it to drop it.
        assert_eq!(closed_form(STRIDED, "w"), "∂s_i/∂w_m = x_<S·i+m>");
        let (_, derivation) = derived(STRIDED);
        let rules: Vec<&str> = derivation.derivative("w").unwrap().steps.iter().map(|s| s.rule.as_str()).collect();
        assert!(!rules.contains(&"range-guard") && !rules.contains(&"drop-implied"), "{rules:?}");
        // Strided causal: 2i + 2m - 6 ≤ n - 1 is implied, 0 ≤ 2i + 2m - 6 is not.
        let causal = "input x[n]\nweight w[4]\npad x (6, 0)\nlet n = 10\ns_i = Σ x_<2i + 2m - 6> w_m\n";
        assert_eq!(closed_form(causal, "w"), "∂s_i/∂w_m = x_<2i+2m-6> [3 ≤ i+m]");
        // One zero more on the right: 2i + 2m - 6 ≤ n - 1 is no longer implied, and stays.
        let right = "input x[n]\nweight w[4]\npad x (6, 1)\nlet n = 10\ns_i = Σ x_<2i + 2m - 6> w_m\n";
        assert_eq!(closed_form(right, "w"), "∂s_i/∂w_m = x_<2i+2m-6> [2i+2m-6 ≤ n-1] [3 ≤ i+m]");
    }

    #[test]
    fn brackets_under_a_sum_over_a_fact_name_are_not_decided_by_that_fact() {
        // With 0 ≤ j ≤ n - 1 known of the free j, [0 ≤ j] is implied where j is free, but
        // not inside Σ_j, where j runs over every integer.
        let (j, n) = (var("j"), var("n"));
        let facts = vec![Bound { var: "j".into(), lo: Some(Index::zero()), hi: Some(n.sub(&Index::constant(1))) }];
        let guarded = |t: Tree| Tree::product(vec![t, Tree::Leaf(bracket(le(&Index::zero(), &j)))]);
        let free = guarded(w(Index::zero()));
        assert_eq!(implied_in_products(&free, &facts, &mut Vec::new()).show(&[]), "w_0");
        let bound = Tree::Sum("j".into(), Box::new(guarded(w(j.clone()))));
        assert_eq!(implied_in_products(&bound, &facts, &mut Vec::new()), bound);
        // A bracket the product's own brackets imply is dropped under the Σ too: no fact
        // about j is needed for [j = 3] ⟹ [0 ≤ j].
        let pinned = Tree::Sum(
            "j".into(),
            Box::new(Tree::product(vec![w(j.clone()), Tree::Leaf(bracket(eq(&j, &Index::constant(3))))])),
        );
        let with_guard = Tree::Sum(
            "j".into(),
            Box::new(Tree::product(vec![
                w(j.clone()),
                Tree::Leaf(bracket(le(&Index::zero(), &j))),
                Tree::Leaf(bracket(eq(&j, &Index::constant(3)))),
            ])),
        );
        assert_eq!(implied_in_products(&with_guard, &facts, &mut Vec::new()), pinned);
    }
}
