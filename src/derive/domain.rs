//! The output domain: from an `output` line, or by the valid rule of the spec language.

use super::DeriveError;
use crate::algebra::cond::le;
use crate::algebra::index::{div, var};
use crate::algebra::{Bound, Env, EvalError, Index, IndexExt, Term};
use crate::model::{Model, Role, Tensor};

/// The output domain: a box, `lo ≤ i ≤ hi` on each axis, symbolic in the sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// Per axis, the lowest and highest output index.
    pub axes: Vec<(Index, Index)>,
    /// Conditions `0 ≤ q` on the sizes alone; where one fails, the domain is empty.
    pub conditions: Vec<Index>,
    /// Whether an `output` line gave it (else the valid rule derived it).
    pub from_output_line: bool,
    /// The weight the valid rule went by, where the spec has several (a kernel and a bias).
    pub by_weight: Option<String>,
}

impl Domain {
    /// The number of output indices along `axis`: `hi - lo + 1`.
    pub fn length(&self, axis: usize) -> Index {
        let (lo, hi) = &self.axes[axis];
        hi.sub(lo).add(&Index::constant(1))
    }

    /// The domain as bounds on the named output indices.
    pub fn bounds(&self, names: &[String]) -> Vec<Bound> {
        names
            .iter()
            .zip(&self.axes)
            .map(|(n, (lo, hi))| Bound { var: n.clone(), lo: Some(lo.clone()), hi: Some(hi.clone()) })
            .collect()
    }

    /// The concrete `(lo, hi)` of each axis at the given sizes (`hi < lo` where empty).
    pub fn at(&self, sizes: &Env) -> Result<Vec<(i64, i64)>, EvalError> {
        let mut ranges =
            self.axes.iter().map(|(lo, hi)| Ok((lo.eval(sizes)?, hi.eval(sizes)?))).collect::<Result<Vec<_>, _>>()?;
        for q in &self.conditions {
            if q.eval(sizes)? < 0 {
                ranges.iter_mut().for_each(|r| r.1 = r.0 - 1);
            }
        }
        Ok(ranges)
    }
}

/// Computes the output domain of a model.
pub fn domain(model: &Model) -> Result<Domain, DeriveError> {
    if let Some(shape) = &model.output.shape {
        let axes = shape.iter().map(|l| (Index::zero(), l.sub(&Index::constant(1)))).collect();
        return Ok(Domain { axes, conditions: Vec::new(), from_output_line: true, by_weight: None });
    }
    let valid = model.valid_rule_weight();
    let mut found: Option<Vec<Index>> = None;
    for term in &model.formula.terms {
        let Some(constraints) = term_constraints(model, valid, term)? else { continue };
        match &found {
            None => found = Some(constraints),
            Some(c) if *c == constraints => {}
            Some(_) => return Err(unsupported("its terms give different domains")),
        }
    }
    let constraints = found.ok_or_else(|| unsupported("no term uses an element of a weight"))?;
    let indices = &model.output.indices;
    let mentions_output = |q: &Index| indices.iter().any(|i| q.mentions(i));
    let linear = |q: &Index| indices.iter().all(|i| q.linear_in(i).is_some());
    let mut axes = Vec::new();
    for i in indices {
        let (mut lo, mut hi) = (Vec::new(), Vec::new());
        for q in constraints.iter().filter(|q| linear(q)) {
            let (c, r) = q.linear_in(i).expect("filtered to linear constraints");
            if c.is_zero() {
                continue;
            }
            if indices.iter().any(|o| o != i && r.mentions(o)) {
                return Err(unsupported(&format!("the constraint 0 ≤ {q} ties several output indices")));
            }
            // c·i + r ≥ 0: i ≥ ⌈-r / c⌉ = -(r div c) when c > 0; i ≤ r div (-c) when c < 0.
            match sign(&c) {
                Some(true) => lo.push(div(&r, &c).neg()),
                Some(false) => hi.push(div(&r, &c.neg())),
                None => return Err(unsupported(&format!("the sign of `{c}` is unknown"))),
            }
        }
        let lo = tightest(lo, true).ok_or_else(|| unsupported(&format!("`{i}` has no lower bound")))?;
        let hi = tightest(hi, false).ok_or_else(|| unsupported(&format!("`{i}` has no upper bound")))?;
        axes.push((lo, hi));
    }
    let several = model.tensors.iter().filter(|t| t.role == Role::Weight).count() > 1;
    let by_weight = valid.filter(|_| several).map(|w| w.name.clone());
    let domain = Domain { axes, conditions: Vec::new(), from_output_line: false, by_weight };
    // Constraints through `div` or `mod` of an output index must follow from the box.
    let mut facts = domain.bounds(indices);
    facts.extend(model.sizes.iter().map(|n| Bound { var: n.clone(), lo: Some(Index::zero()), hi: None }));
    for q in constraints.iter().filter(|q| mentions_output(q) && !linear(q)) {
        if !le(&Index::zero(), q).implied_by(&facts) {
            return Err(unsupported(&format!(
                "the constraint 0 ≤ {q} does not follow from the bounds of the output indices"
            )));
        }
    }
    // Constraints on sizes alone: the domain is empty where one fails.
    let conditions = constraints.into_iter().filter(|q| !mentions_output(q)).collect();
    Ok(Domain { conditions, ..domain })
}

fn unsupported(why: &str) -> DeriveError {
    DeriveError::Domain(format!(
        "the valid rule cannot be applied symbolically: {why}; state the output shape with an `output` line"
    ))
}

/// The constraints `q ≥ 0` on the output indices that one term's elements of `valid` (the
/// weight the valid rule goes by) impose, or `None` when the term uses none.
fn term_constraints(model: &Model, valid: Option<&Tensor>, term: &Term) -> Result<Option<Vec<Index>>, DeriveError> {
    let is_weight = |t: &str| valid.is_some_and(|w| w.name == t);
    if !term.elements.iter().any(|e| is_weight(&e.tensor)) {
        return Ok(None);
    }
    if !term.brackets.is_empty() {
        return Err(unsupported("the formula has Iverson brackets"));
    }
    // Parametrise the summed indices by the weight's element indices m#a ∈ [0, K_a - 1].
    let mut term = term.clone();
    let mut params: Vec<Bound> = Vec::new();
    let mut constraints = Vec::new();
    let weights: Vec<_> = term.elements.iter().filter(|e| is_weight(&e.tensor)).cloned().collect();
    for w in weights {
        let shape = &model.tensor(&w.tensor).expect("weights are declared").shape;
        for (axis, dim) in shape.iter().enumerate() {
            let e = term.elements.iter().find(|x| x.tensor == w.tensor).expect("present").index[axis].clone();
            let hi = dim.sub(&Index::constant(1));
            let solvable = term.bound.iter().find_map(|t| {
                let (c, r) = e.linear_in(t)?;
                matches!(c.as_constant(), Some(1 | -1)).then(|| (t.clone(), c, r))
            });
            match solvable {
                Some((t, c, r)) => {
                    let m = format!("{}#{}", w.tensor, params.len());
                    // c·t + r = m  ⟹  t = c·(m - r) for c = ±1.
                    let value = var(&m).sub(&r).mul(&c);
                    term = term.substitute_bound(&t, &value);
                    params.push(Bound { var: m, lo: Some(Index::zero()), hi: Some(hi) });
                }
                None if term.bound.iter().any(|t| e.mentions(t)) => {
                    return Err(unsupported(&format!("the weight index `{e}` cannot be solved for a summed index")));
                }
                None => {
                    constraints.push(e.clone());
                    constraints.push(hi.sub(&e));
                }
            }
        }
    }
    for x in term.elements.iter().filter(|e| !is_weight(&e.tensor)) {
        if let Some(t) = term.bound.iter().find(|t| x.index.iter().any(|p| p.mentions(t))) {
            return Err(unsupported(&format!("the summed index `{t}` is not fixed by a weight index")));
        }
        let tensor = model.tensor(&x.tensor).expect("elements name declared tensors");
        for ((e, dim), (before, after)) in x.index.iter().zip(&tensor.shape).zip(&tensor.pad) {
            // -before ≤ e ≤ dim - 1 + after, for every weight index in its range.
            for q in [e.add(before), dim.sub(&Index::constant(1)).add(after).sub(e)] {
                constraints.push(minimum(&q, &params)?);
            }
        }
    }
    let mut sorted: Vec<Index> = Vec::new();
    for q in constraints {
        if q.as_constant().is_some_and(|c| c >= 0) || sorted.contains(&q) {
            continue;
        }
        sorted.push(q);
    }
    sorted.sort();
    Ok(Some(sorted))
}

/// The minimum of `q` over the box of weight indices.
fn minimum(q: &Index, params: &[Bound]) -> Result<Index, DeriveError> {
    let mut q = q.clone();
    for b in params {
        let (c, r) = q.linear_in(&b.var).ok_or_else(|| unsupported("an index is not linear in the weight index"))?;
        let side = match sign(&c) {
            _ if c.is_zero() => continue,
            Some(true) => b.lo.as_ref(),
            Some(false) => b.hi.as_ref(),
            None => return Err(unsupported(&format!("the sign of `{c}` is unknown"))),
        };
        q = r.add(&c.mul(side.expect("parameters have both bounds")));
    }
    Ok(q)
}

/// `Some(true)` when `c` > 0 for all sizes ≥ 1, `Some(false)` when `c` < 0, else `None`.
fn sign(c: &Index) -> Option<bool> {
    let positive = |p: &Index| p.terms().all(|(_, k)| k > 0) && !p.is_zero();
    if positive(c) {
        Some(true)
    } else if positive(&c.neg()) {
        Some(false)
    } else {
        None
    }
}

/// The tightest of several bounds, when their differences are constants.
fn tightest(mut bounds: Vec<Index>, lower: bool) -> Option<Index> {
    bounds.sort();
    bounds.dedup();
    let mut best = bounds.pop()?;
    for b in bounds {
        let d = b.sub(&best).as_constant()?;
        if (lower && d > 0) || (!lower && d < 0) {
            best = b;
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resolve;
    use crate::syntax::parse;

    fn domain_of(body: &str) -> Result<Domain, DeriveError> {
        let src = format!("input x[n]\nweight w[k]\nlet n = 10, k = 3\n{body}\n");
        let model = resolve(&parse(&src).unwrap(), &src, "t", &[]).unwrap();
        domain(&model)
    }

    fn shown(d: &Domain) -> Vec<String> {
        d.axes.iter().map(|(lo, hi)| format!("{lo} ≤ · ≤ {hi}")).collect()
    }

    #[test]
    fn valid_rule_gives_the_seed_lengths() {
        let d = domain_of("s_i = Σ x_l w_<i+k-l-1>").unwrap();
        assert_eq!(shown(&d), ["0 ≤ · ≤ n - k"]);
        assert_eq!(d.length(0).to_string(), "n - k + 1");
        let d = domain_of("pad x (k - 1, 0)\ns_i = Σ x_l w_<i-l>").unwrap();
        assert_eq!(d.length(0).to_string(), "n");
        let d = domain_of("pad x (k - 1, k - 1)\ns_i = Σ x_l w_<i-l>").unwrap();
        assert_eq!(d.length(0).to_string(), "k + n - 1");
    }

    #[test]
    fn strides_give_floors() {
        let d = domain_of("s_i = Σ x_<2i+m> w_m").unwrap();
        assert_eq!(shown(&d), ["0 ≤ · ≤ (n - k) div 2"]);
    }

    #[test]
    fn an_output_line_states_the_domain() {
        let d = domain_of("output s[n + 1]\ns_o = Σ x_i w_m [o = i + m]").unwrap();
        assert!(d.from_output_line);
        assert_eq!(shown(&d), ["0 ≤ · ≤ n"]);
    }

    #[test]
    fn formulas_outside_the_rule_are_told_to_state_an_output_line() {
        for body in ["s_i = Σ x_l w_l", "s_o = Σ x_i w_m [o = i + m]", "s_i = Σ x_<l> w_<2l>"] {
            let err = domain_of(body).unwrap_err().to_string();
            assert!(err.contains("`output` line"), "{body}: {err}");
        }
    }
}
