//! The backward pass: `(∂L/∂t)_j = Σ_i g_i ∂s_i/∂t_j` for every input and weight in
//! closed form, each gradient named as one engine call and proved to be it, and run lines
//! proved to compute the spec's formula.

pub mod layers;

use super::lang::Leaf;
use super::rules::Rules;
use super::session::Session;
use super::tree::{Step, Tree};
use super::{differentiate, guarded_where_needed, implied_in_products, simplify, Derivation, Derivative, DeriveError};
use crate::algebra::cond::eq;
use crate::algebra::formula::fresh_name;
use crate::algebra::index::{modulo, var};
use crate::algebra::{Element, Formula, Index, IndexExt};
use crate::limits::Limits;
use crate::model::{Model, Output, Role, Run, RunOp, Tensor};
use crate::ops::{self, Axis, GradientCall, Operand};
use std::collections::BTreeSet;

/// `∂L/∂t` for one tensor `t`, in gather form.
#[derive(Debug, Clone)]
pub struct Gather {
    /// The tensor differentiated against.
    pub wrt: String,
    /// The names of its indices.
    pub wrt_indices: Vec<String>,
    /// The closed form: a sum over the kernel (an input's gradient) or over the output
    /// positions (a weight's), with explicit Iverson brackets.
    pub closed_form: Formula,
    /// The proof: the definition, then every rewrite, ending in the closed form.
    pub steps: Vec<Step>,
}

/// The upstream gradient as a tensor shaped like the output (indexed from 0 over the
/// domain).
pub fn upstream_tensor(model: &Model, derivation: &Derivation) -> Tensor {
    Tensor {
        name: model.upstream.clone(),
        role: Role::Input,
        shape: derivation.lengths.clone(),
        pad: vec![(Index::zero(), Index::zero()); derivation.lengths.len()],
    }
}

impl Derivation {
    /// The upstream gradient's element at output index `out` (`g_<i - lo>`).
    fn upstream_at(&self, model: &Model, out: &[String]) -> Element {
        let index = out.iter().zip(&self.domain.axes).map(|(n, (lo, _))| var(n).sub(lo)).collect();
        Element { tensor: model.upstream.clone(), index }
    }

    /// The model with the upstream gradient declared, its output `name_<out>` defined by
    /// `formula`: what a gradient's formula is differentiated in.
    fn with_upstream(&self, model: &Model, formula: Formula, out: &[String]) -> Model {
        let mut m = model.clone();
        m.tensors.push(upstream_tensor(model, self));
        m.output = Output { name: format!("(∂L/∂{})", out.join(",")), indices: out.to_vec(), shape: None };
        m.formula = formula;
        m
    }

    /// `∂V_<out>/∂g_i` for a formula `V` of the upstream gradient (and the spec's
    /// tensors) indexed by `out`, `i` the output's indices: where `V` is linear in `g`, it
    /// is `Σ_i g_i ∂V/∂g_i`, so `V` is `t`'s gradient exactly when this is `∂s_i/∂t_<out>`.
    /// The derivation's own model is `model`; each coefficient is worked out once.
    pub fn upstream_coefficient(&self, model: &Model, value: &Formula, out: &[String]) -> Result<Formula, DeriveError> {
        let key = (value.clone(), out.to_vec());
        let known = |cache: &[(_, Formula)]| cache.iter().find(|(k, _)| *k == key).map(|(_, c)| c.clone());
        if let Some(c) = known(&self.coefficients.lock().expect("no check panics holding the cache")) {
            return Ok(c);
        }
        let m = self.with_upstream(model, value.clone(), out);
        let target = self.upstream_at(model, &model.output.indices);
        let c = self.coefficient(&m, &upstream_tensor(model, self), target)?;
        self.coefficients.lock().expect("no check panics holding the cache").push((key, c.clone()));
        Ok(c)
    }

    /// The coefficient of `target` (an element of `t`) in `m`'s formula: each term that
    /// holds one element `t_e` of `t` (the formula is linear in `t`) with `t_e` replaced by
    /// `[e = target]`, as `∂/∂target` gives it (no Σ binds a name of the target), then
    /// simplified and guarded; the derivative by the rules where a term is not linear.
    fn coefficient(&self, m: &Model, t: &Tensor, target: Element) -> Result<Formula, DeriveError> {
        let rules = &self.rules;
        let (sizes, limits) = (&m.sizes, &self.limits);
        let avoid: BTreeSet<String> = target.index.iter().flat_map(|p| p.names()).collect();
        let renamed = m.formula.rename_apart(&avoid);
        let mut terms = Vec::new();
        for term in &renamed.terms {
            let (of_t, rest): (Vec<&Element>, Vec<&Element>) = term.elements.iter().partition(|e| e.tensor == t.name);
            let [e] = of_t.as_slice() else {
                let names = avoid.iter().cloned().collect();
                let d = differentiate(m, t, names, Some(target), false, (rules, &self.facts), limits)?;
                return Ok(d.closed_form);
            };
            let mut brackets = term.brackets.clone();
            brackets.extend(e.index.iter().zip(&target.index).map(|(a, b)| eq(a, b)));
            let elements = rest.into_iter().cloned().collect();
            terms.push(crate::algebra::Term {
                bound: term.bound.clone(),
                coeff: term.coeff.clone(),
                elements,
                brackets,
            });
        }
        let start = Tree::from_formula(&Formula::integer(terms));
        let simplified = simplify(&start, rules, limits, sizes, None)?;
        let guarded = guarded_where_needed(m, &simplified, &self.facts);
        let closed = if guarded == simplified { simplified } else { simplify(&guarded, rules, limits, sizes, None)? };
        let name = format!("the coefficient of {target}");
        let coefficient = closed.to_formula().ok_or(DeriveError::NoClosedForm(name))?;
        Ok(Formula { divisor: m.formula.divisor, ..coefficient })
    }

    /// Whether `claim` (about `∂s/∂t` in `d`'s names) is `d`'s closed form, as a claim
    /// is proved (without the steps).
    fn proves(&self, model: &Model, d: &Derivative, claim: &Formula) -> Result<bool, DeriveError> {
        self.prover().meets(model, d, claim)
    }
}

/// The gather form of `∂L/∂t` (see [`Gather`]): `Σ_i g_i ∂s_i/∂t_j` with the derived
/// `∂s_i/∂t_j` (before its range guard, which `g`'s range makes good), simplified and
/// re-indexed. For an input, where a Σ over an output index is left, the formula is
/// differentiated again with the output's Σ inside its own, where Σ-δ elimination can
/// solve for the output index (dilations); the first form that sums over no output index
/// is kept.
pub(super) fn gather(model: &Model, derivation: &Derivation, d: &Derivative) -> Result<Gather, DeriveError> {
    let found = gather_of_integer_terms(model, derivation, d)?;
    if model.formula.divisor == 1 {
        return Ok(found);
    }
    let g = derivation.upstream_at(model, &model.output.indices);
    let target = Element { tensor: d.wrt.clone(), index: d.wrt_indices.iter().map(|n| var(n)).collect() };
    let sums = model.output.indices.iter().map(|i| format!("Σ_{i} ")).collect::<String>();
    let definition = format!("{sums}{g} ∂/∂{target} ({})", model.formula.show(&model.sizes));
    Ok(Gather { steps: super::over_divisor(found.steps, model.formula.divisor, definition), ..found })
}

/// [`gather`] of the formula's terms, without its divisor (but for the closed form's).
fn gather_of_integer_terms(model: &Model, derivation: &Derivation, d: &Derivative) -> Result<Gather, DeriveError> {
    let out = &model.output.indices;
    let sizes = &model.sizes;
    let target = Element { tensor: d.wrt.clone(), index: d.wrt_indices.iter().map(|n| var(n)).collect() };
    let formula = model.formula.rename_apart(&d.wrt_indices.iter().cloned().collect());
    let g = Tree::Leaf(Leaf::Element(derivation.upstream_at(model, out)));
    let outside = |body: Tree| {
        out.iter().rev().fold(Tree::Mul(Box::new(g.clone()), Box::new(body)), |b, v| Tree::Sum(v.clone(), Box::new(b)))
    };
    let definition = outside(Tree::Diff(Box::new(Tree::from_formula(&formula)), target.clone()));
    // One Σ per term of the derivative, so that each is re-indexed on its own.
    let jacobian = unguarded(d);
    let derived = Tree::sum(jacobian.summands().into_iter().map(|t| outside(t.clone())).collect());
    let steps = vec![Step::new("definition", definition, sizes), Step::new("jacobian", derived.clone(), sizes)];
    let first = gather_from(model, derivation, d, steps, &derived, true)?;
    let over_outputs = |g: &Gather| g.steps.last().is_some_and(|s| s.term.binders().iter().any(|v| out.contains(v)));
    let input = model.tensor(&d.wrt).is_some_and(|t| t.role == Role::Input);
    if input && over_outputs(&first) && formula.terms.len() == 1 {
        let term = &formula.terms[0];
        let body = crate::algebra::Term { bound: Vec::new(), ..term.clone() };
        let inner = outside(Tree::Diff(Box::new(Tree::from_formula(&Formula::integer(vec![body]))), target));
        let inside = term.bound.iter().rev().fold(inner, |b, v| Tree::Sum(v.clone(), Box::new(b)));
        let second =
            gather_from(model, derivation, d, vec![Step::new("definition", inside.clone(), sizes)], &inside, false)?;
        if !over_outputs(&second) {
            return Ok(second);
        }
    }
    Ok(first)
}

/// The derived `∂s/∂t` before its range guard: the term of the step before it.
fn unguarded(d: &Derivative) -> Tree {
    match d.steps.iter().position(|s| s.rule == "range-guard") {
        Some(k) if k > 0 => d.steps[k - 1].term.clone(),
        _ => d.closed.clone(),
    }
}

/// The gather form from its start (`steps` ending there; `simplified` where the e-graph
/// has nothing to do on it yet): simplified, an input's
/// gradient re-indexed by the weight's index where a Σ over an output index reads the
/// weight at an affine index of it, then guarded and simplified again.
fn gather_from(
    model: &Model,
    derivation: &Derivation,
    d: &Derivative,
    mut steps: Vec<Step>,
    start: &Tree,
    simplified: bool,
) -> Result<Gather, DeriveError> {
    let sizes = &model.sizes;
    let rules = &derivation.rules;
    let limits = &derivation.limits;
    let mut t = match simplified {
        true => start.clone(),
        false => simplify(start, rules, limits, sizes, Some(&mut steps))?,
    };
    if model.tensor(&d.wrt).is_some_and(|t| t.role == Role::Input) {
        let mut taken = t.names();
        taken.extend(sizes.iter().cloned());
        taken.extend(d.wrt_indices.iter().cloned());
        if let Some(reindexed) = reindex(model, derivation, &t, &model.output.indices, &mut taken) {
            steps.push(Step::new("reindex", reindexed.clone(), sizes));
            t = simplify(&reindexed, rules, limits, sizes, Some(&mut steps))?;
        }
    }
    let guarded = guarded_where_needed(model_with_upstream(model, derivation).as_ref(), &t, &derivation.facts);
    if guarded != t {
        steps.push(Step::new("range-guard", guarded.clone(), sizes));
        t = guarded;
    }
    // The brackets that the facts and the others imply: symconv drops them itself.
    let tidied = implied_in_products(&t, &derivation.facts, &mut Vec::new());
    if tidied != t {
        steps.push(Step::new("implied-in-product", tidied.clone(), sizes));
        t = tidied;
    }
    let index = d.wrt_indices.iter().map(|n| var(n)).collect();
    let name = Element { tensor: format!("(∂L/∂{})", d.wrt), index }.to_string();
    let closed_form =
        Formula { divisor: model.formula.divisor, ..t.to_formula().ok_or(DeriveError::NoClosedForm(name))? };
    Ok(Gather { wrt: d.wrt.clone(), wrt_indices: d.wrt_indices.clone(), closed_form, steps })
}

/// The model with the upstream gradient among its tensors (for range guards).
fn model_with_upstream(model: &Model, derivation: &Derivation) -> Box<Model> {
    let mut m = model.clone();
    m.tensors.push(upstream_tensor(model, derivation));
    Box::new(m)
}

/// `Σ_i f = Σ_m Σ_i [m = e(i)] f'` for every Σ over an output index `i` whose body reads a
/// weight at an index `e(i)` affine in `i` (and not `i` itself): `f'` reads it at `m`,
/// the weight's own name for that axis. Σ-δ elimination then solves `m = e(i)` for `i`.
fn reindex(
    model: &Model,
    derivation: &Derivation,
    t: &Tree,
    outputs: &[String],
    taken: &mut BTreeSet<String>,
) -> Option<Tree> {
    match t {
        Tree::Add(a, b) => {
            // Each term's Σs are apart from the others': the same names serve both.
            let (ra, rb) = (
                reindex(model, derivation, a, outputs, &mut taken.clone()),
                reindex(model, derivation, b, outputs, &mut taken.clone()),
            );
            (ra.is_some() || rb.is_some()).then(|| {
                Tree::Add(Box::new(ra.unwrap_or_else(|| (**a).clone())), Box::new(rb.unwrap_or_else(|| (**b).clone())))
            })
        }
        Tree::Sum(v, body) => {
            let inner = reindex(model, derivation, body, outputs, taken);
            let body = inner.clone().unwrap_or_else(|| (**body).clone());
            let here = outputs.contains(v).then(|| reindex_sum(model, derivation, v, &body, taken)).flatten();
            match (here, inner) {
                (Some(r), _) => Some(r),
                (None, Some(b)) => Some(Tree::Sum(v.clone(), Box::new(b))),
                (None, None) => None,
            }
        }
        _ => None,
    }
}

/// [`reindex`] of one `Σ_v body`.
fn reindex_sum(
    model: &Model,
    derivation: &Derivation,
    v: &str,
    body: &Tree,
    taken: &mut BTreeSet<String>,
) -> Option<Tree> {
    let factors = body.factors();
    let (at, axis, e) = factors.iter().enumerate().find_map(|(k, f)| {
        let Tree::Leaf(Leaf::Element(e)) = f else { return None };
        if model.tensor(&e.tensor).is_none_or(|t| t.role != Role::Weight) {
            return None;
        }
        e.index.iter().enumerate().find_map(|(axis, p)| {
            let (c, _) = p.linear_in(v)?;
            (!c.is_zero() && *p != var(v) && c.as_constant().is_some()).then(|| (k, axis, e.clone()))
        })
    })?;
    let own = derivation.derivative(&e.tensor).map(|d| d.wrt_indices[axis].clone()).unwrap_or_else(|| "m".into());
    let name = if taken.contains(&own) { fresh_name(&own, taken) } else { own };
    taken.insert(name.clone());
    let mut index = e.index.clone();
    let delta = eq(&var(&name), &index[axis]);
    index[axis] = var(&name);
    let mut rebuilt: Vec<Tree> = factors.iter().map(|f| (*f).clone()).collect();
    rebuilt[at] = Tree::Leaf(Leaf::Element(Element { tensor: e.tensor.clone(), index }));
    rebuilt.push(Tree::Leaf(super::lang::bracket(delta)));
    Some(Tree::Sum(name, Box::new(Tree::Sum(v.to_string(), Box::new(Tree::product(rebuilt))))))
}

/// The engine call that computes `∂L/∂t` for the spec's run line, and why there is none
/// where no single call fits.
pub fn gradient_call(model: &Model, derivation: &Derivation, run: &Run, wrt: &str) -> Result<GradientCall, String> {
    let t = model.tensor(wrt).ok_or_else(|| format!("`{wrt}` is not a tensor of the spec"))?;
    let (x, w) = (model.tensor(&run.input), model.tensor(&run.weight));
    let (Some(x), Some(w)) = (x, w) else { return Err("the run line names no tensors of the spec".into()) };
    if !derivation.domain.axes.iter().all(|(lo, _)| lo.is_zero()) {
        return Err("the output domain does not start at 0, so the engine's output is not the formula's".into());
    }
    if t.name != x.name && t.name != w.name {
        return Err(format!("the run line does not pass `{}`", t.name));
    }
    let (axes, groups) = ops::axes_of_run(run);
    let d = axes.len();
    let spatial = |shape: &[Index]| shape[shape.len() - d..].to_vec();
    let (ns, ks) = (spatial(&x.shape), spatial(&w.shape));
    let (zero, one) = (Index::zero(), Index::constant(1));
    let g = model.upstream.clone();
    let grouped = groups.as_constant().is_none_or(|c| c != 1);
    // A weight's gradient is one call where each group has one channel on either side
    // (depthwise), or there is one group.
    let one_per_group = w.shape.len() == d + 2 && w.shape[1] == one && {
        let outs = ops::output_channels(run.op, &w.shape, &groups);
        crate::algebra::index::div(&outs, &groups) == one
    };
    let (conv, transpose) = (RunOp::of(d, false), RunOp::of(d, true));
    // A transposed call takes one padding per axis, cropped from both ends.
    let symmetric = |a: &Axis| Axis { padding: (a.padding.0.clone(), a.padding.0.clone()), ..a.clone() };
    let call = match (run.op.transposed(), t.name == x.name) {
        // Per axis: a symmetric padding is the transpose's; an asymmetric one is cropped
        // from the transpose's unpadded output.
        (false, true) => {
            let (axes, crop) = (axes.iter().zip(ns.iter().zip(&ks)))
                .map(|(a, (n, k))| {
                    let room = n.add(&a.padding.0).add(&a.padding.1).sub(&a.dilation.mul(&k.sub(&one))).sub(&one);
                    let output_padding = modulo(&room, &a.stride);
                    match a.padding.0 == a.padding.1 {
                        true => (Axis { output_padding, ..a.clone() }, None),
                        false => {
                            let unpadded = Axis { padding: (zero.clone(), zero.clone()), output_padding, ..a.clone() };
                            (unpadded, Some((a.padding.0.clone(), n.clone())))
                        }
                    }
                })
                .unzip();
            GradientCall {
                op: transpose,
                input: g,
                weight: w.name.clone(),
                flip_weight: run.flip,
                axes,
                groups,
                channels_as_batch: false,
                crop,
                flip_result: false,
            }
        }
        (true, true) => GradientCall {
            op: conv,
            input: g,
            weight: w.name.clone(),
            flip_weight: run.flip,
            axes: axes.iter().map(|a| Axis { output_padding: zero.clone(), ..symmetric(a) }).collect(),
            groups,
            channels_as_batch: false,
            crop: vec![None; d],
            flip_result: false,
        },
        // A weight's gradient: the input and the upstream gradient correlated, channels
        // as the batch, stride and dilation exchanged.
        (transposed, false) => {
            if grouped && !one_per_group {
                return Err(block_diagonal(run.op, &groups, &w.name));
            }
            let (input, weight) = match transposed {
                false => (x.name.clone(), g),
                true => (g, x.name.clone()),
            };
            let exchanged = |a: &Axis| Axis {
                stride: a.dilation.clone(),
                dilation: a.stride.clone(),
                padding: if transposed { symmetric(a).padding } else { a.padding.clone() },
                output_padding: zero.clone(),
            };
            GradientCall {
                op: conv,
                input,
                weight,
                flip_weight: false,
                axes: axes.iter().map(exchanged).collect(),
                groups,
                channels_as_batch: true,
                crop: vec![None; d],
                flip_result: run.flip,
            }
        }
    };
    Ok(cropped(model, derivation, call, t))
}

/// Why a weight's gradient with groups of more than one channel is no single call.
fn block_diagonal(op: RunOp, groups: &Index, w: &str) -> String {
    format!(
        "with groups = {groups} and more than one channel per group on a side, ∂L/∂{w} is the block diagonal \
         of a {} over every pair of channels, not one call",
        RunOp::of(op.spatial(), false).name()
    )
}

/// The call, cropped to the tensor's length along each spatial axis where its output's
/// length is not provably that.
fn cropped(model: &Model, derivation: &Derivation, mut call: GradientCall, t: &Tensor) -> GradientCall {
    let shapes = shapes(model, derivation);
    let names: Vec<String> = (0..t.shape.len()).map(|a| format!("#{a}")).collect();
    let Some((_, lengths)) = call.formula(&shapes, &names) else { return call };
    let wanted = &t.shape[t.shape.len() - lengths.len()..];
    for (a, (length, want)) in lengths.iter().zip(wanted).enumerate() {
        if call.crop[a].is_none() && !same_length(length, want, &derivation.limits) {
            call.crop[a] = Some((Index::zero(), want.clone()));
        }
    }
    call
}

/// Every tensor's shape by name, the upstream gradient's too.
pub fn shapes<'a>(model: &'a Model, derivation: &'a Derivation) -> impl Fn(&str) -> Option<Vec<Index>> + 'a {
    move |name: &str| match name == model.upstream {
        true => Some(derivation.lengths.clone()),
        false => model.tensor(name).map(|t| t.shape.clone()),
    }
}

/// Whether two lengths are equal for every size, by the e-graph's length rules.
fn same_length(a: &Index, b: &Index, limits: &Limits) -> bool {
    if a == b {
        return true;
    }
    let value = |p: &Index| Tree::Leaf(Leaf::Value(p.clone()));
    let mut session = Session::new(limits);
    let (x, y) = (session.add(&value(a)), session.add(&value(b)));
    session.run(Rules::lengths().all()).is_ok() && session.same(x, y)
}

/// A claim's call `op(a, b, …)` (a run line's call on the spec's tensors and the upstream
/// gradient) as a gradient call.
pub fn claimed_call(call: &Run) -> GradientCall {
    let (axes, groups) = ops::axes_of_run(call);
    GradientCall {
        op: call.op,
        input: call.input.clone(),
        weight: call.weight.clone(),
        flip_weight: call.flip,
        crop: vec![None; axes.len()],
        axes,
        groups,
        channels_as_batch: false,
        flip_result: false,
    }
}

/// The lengths of a call's output along its spatial axes, and whether they are `t`'s
/// for every size (by the e-graph's length rules).
pub fn call_length(
    model: &Model,
    derivation: &Derivation,
    call: &GradientCall,
    wrt: &str,
) -> Option<(Vec<Index>, bool)> {
    let t = model.tensor(wrt)?;
    let names: Vec<String> = (0..t.shape.len()).map(|a| format!("#{a}")).collect();
    let (_, lengths) = call.formula(&shapes(model, derivation), &names)?;
    let lengths = call.cropped_lengths(&lengths);
    let wanted = t.shape.get(t.shape.len().checked_sub(lengths.len())?..)?;
    let same = lengths.iter().zip(wanted).all(|(l, want)| same_length(l, want, &derivation.limits));
    Some((lengths, same))
}

/// The proof that a call computes `∂L/∂t`: its output has `t`'s shape, and its
/// coefficient of `g_i` (the call differentiated in the e-graph) meets `∂s_i/∂t_j` in
/// the e-graph; `Err` says why it is not proved.
pub fn prove_call(model: &Model, derivation: &Derivation, call: &GradientCall, wrt: &str) -> Result<(), String> {
    let d = derivation.derivative(wrt).ok_or_else(|| format!("`{wrt}` is not a tensor of the spec"))?;
    let t = model.tensor(wrt).expect("a derivative's tensor is the model's");
    let shapes = shapes(model, derivation);
    let (formula, lengths) =
        call.formula(&shapes, &d.wrt_indices).ok_or("its tensors' ranks do not fit the call".to_string())?;
    let lengths = call.cropped_lengths(&lengths);
    let wanted = &t.shape[t.shape.len() - lengths.len()..];
    for (a, (got, want)) in lengths.iter().zip(wanted).enumerate() {
        if !same_length(got, want, &derivation.limits) {
            let axis = if lengths.len() == 1 { String::new() } else { format!(" along spatial axis {a}") };
            return Err(format!("its output's length {got}{axis} is not {want} for every size"));
        }
    }
    if let Some(channels) = call_channels(call, &shapes) {
        if t.shape.len() > lengths.len() && channels != t.shape[..t.shape.len() - lengths.len()] {
            let shown: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
            return Err(format!("its output's channels are [{}], not those of `{wrt}`", shown.join(", ")));
        }
    }
    let coefficient = derivation.upstream_coefficient(model, &formula, &d.wrt_indices).map_err(|e| e.to_string())?;
    match derivation.proves(model, d, &coefficient) {
        Ok(true) => Ok(()),
        Ok(false) => {
            Err(format!("the e-graph did not meet its coefficient of {} with {}", model.upstream, d.name(model)))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The channel axes of a call's output, where its operands have channels.
pub fn call_channels(call: &GradientCall, shapes: &dyn Fn(&str) -> Option<Vec<Index>>) -> Option<Vec<Index>> {
    let (a, b) = (shapes(&call.input)?, shapes(&call.weight)?);
    if a.len() <= call.axes.len() {
        return None;
    }
    match call.channels_as_batch {
        true => {
            Some(vec![b[0].clone(), if call.groups == Index::constant(1) { a[0].clone() } else { Index::constant(1) }])
        }
        false => Some(vec![ops::output_channels(call.op, &b, &call.groups)]),
    }
}

/// The proof that a run line computes the spec's formula for every size: the same
/// output shape, and, both being linear in the input, the same `∂s/∂x` (they meet in the
/// e-graph); the run's formula (in the output's index names). `Err` says why it is not
/// proved.
pub fn prove_run(model: &Model, derivation: &Derivation, run: &Run) -> Result<Formula, String> {
    let (Some(x), Some(w)) = (model.tensor(&run.input), model.tensor(&run.weight)) else {
        return Err("the run line names no tensors of the spec".into());
    };
    if !derivation.domain.axes.iter().all(|(lo, _)| lo.is_zero()) {
        return Err("the output domain does not start at 0".into());
    }
    if model.formula.divisor != 1 {
        return Err(format!("the formula divides by {}, and a convolution does not", model.formula.divisor));
    }
    // Each term reads x once, or (with a bias) is one element of the bias alone.
    let bias = run.bias.as_ref().and_then(|b| model.tensor(b));
    let of_bias = |t: &crate::algebra::Term| bias.is_some_and(|b| matches!(&t.elements[..], [e] if e.tensor == b.name));
    let linear = |f: &Formula| {
        f.terms.iter().all(|t| of_bias(t) || t.elements.iter().filter(|e| e.tensor == x.name).count() == 1)
    };
    if !linear(&model.formula) {
        return Err(match bias {
            None => format!("the formula is not linear in {}", x.name),
            Some(b) => format!("the formula is not linear in {} plus an element of {}", x.name, b.name),
        });
    }
    let (axes, groups) = ops::axes_of_run(run);
    let input = Operand { name: &x.name, shape: &x.shape, flip: false };
    let weight = Operand { name: &w.name, shape: &w.shape, flip: run.flip };
    let out = &model.output.indices;
    let transposed = run.op.transposed();
    let convolved = ops::formula(transposed, &input, &weight, &axes, &groups, out)
        .ok_or("its tensors' ranks do not fit the call")?;
    let dims = axes.len();
    let spatial = |shape: &[Index]| shape[shape.len() - dims..].to_vec();
    let lengths = &derivation.lengths[derivation.lengths.len() - dims..];
    for (a, ((n, k), derived)) in spatial(&x.shape).iter().zip(spatial(&w.shape)).zip(lengths).enumerate() {
        let length = ops::axis_length(transposed, n, &k, &axes[a]);
        if !same_length(&length, derived, &derivation.limits) {
            let axis = if dims == 1 { String::new() } else { format!(" along spatial axis {a}") };
            return Err(format!("its output's length {length}{axis} is not the derived {derived} for every size"));
        }
    }
    if out.len() == dims + 1 {
        let channels = ops::output_channels(run.op, &w.shape, &groups);
        if !same_length(&channels, &derivation.lengths[0], &derivation.limits) {
            return Err(format!("its {channels} output channels are not the derived {}", derivation.lengths[0]));
        }
    }
    // The bias `b_o` of the output's channel (of its one channel without a channel axis).
    let bias_term = bias.map(|b| {
        let channel = if out.len() == dims + 1 { var(&out[0]) } else { Index::zero() };
        let element = Element { tensor: b.name.clone(), index: vec![channel] };
        crate::algebra::Term { elements: vec![element], ..crate::algebra::Term::constant(Index::constant(1)) }
    });
    let formula = Formula::integer(convolved.terms.iter().cloned().chain(bias_term.clone()).collect());
    // Linear in x (and the bias): the same ∂s/∂x (and ∂s/∂b) is the same formula.
    for (t, part) in
        [(x, &convolved)].into_iter().chain(bias.zip(bias_term.map(|t| Formula::integer(vec![t])).as_ref()))
    {
        let d = derivation.derivative(&t.name).expect("every tensor has a derivative");
        let mut m = model.clone();
        m.formula = part.clone();
        let target = Element { tensor: t.name.clone(), index: d.wrt_indices.iter().map(|n| var(n)).collect() };
        let ran = derivation.coefficient(&m, t, target).map_err(|e| e.to_string())?;
        match derivation.proves(model, d, &ran) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!("the e-graph did not meet the run's {} with the formula's", d.name(model)))
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(formula)
}
