//! The backward pass checked by numbers: with distinct integer `g`, `x` and `w` from the
//! seed, each gradient's gather form and named engine call against brute force's `Jᵀg`
//! and the engine's own backward (candle autograd's `vᵀJ`, where it has one).

mod layers;

use super::brute::{element_at, BruteForce};
use super::error::{eval_err, named, shown_sizes, CheckError};
use super::runs::{conv_nd, conv_of, number, numeric, signed_permutation, values, RunOptions};
use crate::algebra::compiled::{Compiled, Shape};
use crate::algebra::{Env, Formula, Index, IndexExt};
use crate::derive::backward::{gradient_call, prove_call, shapes, Gather};
use crate::derive::{Derivation, Step};
use crate::engine::{self, Array};
use crate::model::{Model, Run};
use crate::ops::{self, GradientCall};

/// The engine call named for a gradient.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// The operation (`conv_transpose1d`).
    pub op: &'static str,
    /// The call with symbolic arguments.
    pub symbolic: String,
    /// The call with the arguments' values at the sizes.
    pub at_sizes: String,
    /// One PyTorch expression that computes the gradient (see [`GradientCall::torch`]).
    pub torch: String,
    /// The call as symconv ran it, in candle-core's API.
    pub candle: String,
    /// Whether the e-graph proved that it computes the gradient, or why it did not.
    pub proof: Result<(), String>,
}

/// One gradient with its verdict.
#[derive(Debug, Clone)]
pub struct BackwardReport {
    /// The tensor.
    pub wrt: String,
    /// `(∂L/∂x)_j = …`.
    pub gather: String,
    /// The gather form's derivation.
    pub steps: Vec<Step>,
    /// The engine call, or why none is named.
    pub call: Result<CallReport, String>,
    /// `Some(true)` when every number agrees, `Some(false)` when one does not, `None`
    /// when nothing ran on the engine.
    pub holds: Option<bool>,
    /// What was compared and found.
    pub findings: Vec<String>,
}

impl BackwardReport {
    /// The findings on one line.
    pub fn detail(&self) -> String {
        self.findings.join("; ")
    }
}

/// Distinct nonzero integers for the upstream gradient, `±1 … ±N` in an order and with
/// signs drawn from the seed (apart from the inputs' and weights').
pub fn upstream_values(shape: &[usize], seed: u64) -> Array {
    let data = signed_permutation(shape.iter().product(), seed ^ 0x5851_f42d_4c95_7f2d);
    Array { shape: shape.to_vec(), data }
}

/// The run line the gradients are named for: the first.
fn run_of(model: &Model) -> Option<&Run> {
    model.runs.first()
}

/// Checks every gradient at `sizes` against brute force `brute` (at those sizes), or,
/// where the sizes are past brute force (`None`), against the gather forms compiled. The
/// tensors' values and the engine's own backward are shared by every gradient.
pub(crate) fn check_all(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    options: RunOptions,
    brute: Option<&BruteForce>,
) -> Result<Vec<BackwardReport>, CheckError> {
    let err = eval_err(model, sizes);
    let dims = upstream_dims(derivation, sizes).map_err(&err)?;
    if let Some(why) = past_limits(model, derivation, sizes).map_err(&err)? {
        return Err(CheckError::Limit(format!("at {} {why}", shown_sizes(model, sizes))));
    }
    let mut data = values(model, sizes, options);
    let g = match brute {
        Some(_) => upstream_values(&dims, options.seed),
        None => uniform(&dims, options.seed),
    };
    data.insert(model.upstream.clone(), g);
    let at = Shared { sizes, seed: options.seed, data: &data };
    let each = || {
        derivation
            .gathers
            .iter()
            .map(|g| check(model, derivation, &at, brute, g))
            .collect::<Result<Vec<_>, CheckError>>()
    };
    let with = |checked: Vec<(BackwardReport, Vec<f64>)>, autograd: &Autograd| {
        checked.into_iter().zip(&derivation.gathers).map(|(c, g)| with_autograd(model, g, sizes, c, autograd)).collect()
    };
    if brute.is_some() {
        // Small sizes: a thread would cost more than it saves.
        let autograd = autograd(model, derivation, sizes, &data)?;
        return Ok(with(each()?, &autograd));
    }
    // The engine's backward on one core, the gradients' numbers on the other.
    std::thread::scope(|scope| {
        let pending = scope.spawn(|| autograd(model, derivation, sizes, &data));
        let checked: Vec<(BackwardReport, Vec<f64>)> = each()?;
        let autograd = pending.join().map_err(|_| CheckError::Bug("the engine's backward panicked".into()))??;
        Ok(with(checked, &autograd))
    })
}

/// The upstream gradient's shape at `sizes`: the output's lengths.
fn upstream_dims(derivation: &Derivation, sizes: &Env) -> Result<Vec<usize>, crate::algebra::EvalError> {
    derivation.lengths.iter().map(|l| l.eval(sizes).map(|v| v.max(0) as usize)).collect()
}

/// Why the gradients' check at `sizes` is past the limits, if it is: the values it holds
/// (the tensors, the upstream gradient and the gradients) or the terms it sums (an
/// input's gradient sums over the weights at each entry, a weight's over the outputs:
/// at most twice outputs × weights terms), bounded as a run's values and entries are.
pub(crate) fn past_limits(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
) -> Result<Option<String>, crate::algebra::EvalError> {
    let count =
        |dims: Option<Vec<i64>>| dims.unwrap_or_default().iter().fold(1u64, |p, &d| p.saturating_mul(d.max(0) as u64));
    let outputs = upstream_dims(derivation, sizes)?.iter().fold(1u64, |p, &d| p.saturating_mul(d as u64));
    let held = model
        .tensors
        .iter()
        .map(|t| count(model.shape_at(&t.name, sizes)).saturating_mul(2))
        .fold(outputs, u64::saturating_add);
    let limits = &derivation.limits;
    if held > limits.run_values {
        return Ok(Some(format!(
            "the gradients' check would hold {held} values, more than the limit of {}",
            limits.run_values
        )));
    }
    let weights = model.tensors.iter().filter(|t| t.role == crate::model::Role::Weight);
    let weights = weights.map(|t| count(model.shape_at(&t.name, sizes))).fold(0u64, u64::saturating_add);
    let entries = outputs.saturating_mul(weights).saturating_mul(2);
    Ok((entries > limits.run_entries).then(|| {
        format!("the gradients' check could sum up to {entries} terms, more than the limit of {}", limits.run_entries)
    }))
}

/// The gradients checked at smaller sizes (`checked`), reported at `sizes`, where their
/// check is past the limits (`why`): the calls named at `sizes` (their proofs kept),
/// nothing run there. A gradient that disagreed at the smaller sizes still disagrees.
pub(crate) fn not_run(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    checked: Vec<BackwardReport>,
    why: &str,
) -> Vec<BackwardReport> {
    checked
        .into_iter()
        .map(|mut b| {
            // The proof holds for every size: only the call's text at `sizes` is new.
            if let (Ok(checked), true) = (&b.call, layers::applies(model, &b.wrt)) {
                let dims = upstream_dims(derivation, sizes).unwrap_or_default();
                if let Some(call) = layers::not_run_call(model, derivation, &b.wrt, sizes, &dims, checked.proof.clone())
                {
                    b.call = Ok(call);
                }
            } else if let (Ok(checked), Some(run)) = (&b.call, run_of(model)) {
                if let Ok(call) = gradient_call(model, derivation, run, &b.wrt) {
                    b.call = Ok(call_at(model, &call, sizes, checked.proof.clone()));
                }
            }
            b.holds = b.holds.filter(|&h| !h);
            b.findings.push(format!("not run at {}: {why}", shown_sizes(model, sizes)));
            b
        })
        .collect()
}

/// Every gradient at `sizes` checked on the engine against its gather form compiled (as
/// at sizes past brute force): the named calls and the engine's own backward, with an
/// upstream gradient uniform in `[-1000, 1000]`.
pub fn check_gradients(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    options: RunOptions,
) -> Result<Vec<BackwardReport>, CheckError> {
    check_all(model, derivation, sizes, options, None)
}

/// A formula of the tensors, indexed by the given names, evaluated exactly at every
/// element of a gradient's tensor.
type Exact<'a> = dyn Fn(&Formula, &[String]) -> Result<Vec<f64>, CheckError> + 'a;

/// What every gradient's check at some sizes shares.
struct Shared<'a> {
    sizes: &'a Env,
    seed: u64,
    data: &'a Values,
}

/// The engine's own backward of the run line, or why there is none to compare.
enum Autograd {
    /// Both pullbacks by `g`, and the run's input and weight.
    Pulled {
        /// `gᵀ·∂y/∂x` and `gᵀ·∂y/∂w`, shaped as the engine lays out the input and the weight.
        pulled: (Array, Array),
        /// The run's input tensor.
        input: String,
        /// The run's weight tensor.
        weight: String,
    },
    /// Why there is none.
    None(String),
}

/// Candle's autograd `vᵀJ` of the spec's run line for `v = g`, where it has a backward and
/// the run's output has the formula's shape.
fn autograd(model: &Model, derivation: &Derivation, sizes: &Env, data: &Values) -> Result<Autograd, CheckError> {
    let Some(run) = run_of(model) else { return Ok(Autograd::None(String::new())) };
    if run.op.spatial() > 1 {
        return Ok(autograd_nd(model, run, sizes, data));
    }
    if run.op.transposed() {
        return Ok(Autograd::None(format!("candle has no backward for {} to compare", run.op.name())));
    }
    let conv = conv_of(model, run, sizes, &derivation.limits)?;
    let (x, w) = (laid_out(model, data, &run.input), laid_out(model, data, &run.weight));
    let g = &data[&model.upstream];
    let last = g.shape[g.shape.len() - 1];
    let v = Array { shape: vec![g.data.len() / last.max(1), last], data: g.data.clone() };
    if conv.output_shape(&x, &w).to_vec() != v.shape {
        return Ok(Autograd::None(
            "the run's output has another shape than the formula's: its backward is not compared".into(),
        ));
    }
    let pulled = conv.backward(&x, &w, &v)?;
    Ok(Autograd::Pulled { pulled: (pulled.x, pulled.w), input: run.input.clone(), weight: run.weight.clone() })
}

/// Candle's autograd `vᵀJ` of a run line of several spatial axes for `v = g`, through the
/// exact composition the engine runs; where candle fails (see the README's engine
/// faults), why, and the gradients are checked without it.
fn autograd_nd(model: &Model, run: &Run, sizes: &Env, data: &Values) -> Autograd {
    let (axes, groups) = ops::axes_of_run(run);
    let conv = match conv_nd(run.op.transposed(), &axes, &groups, run.flip, sizes) {
        Ok(conv) => conv,
        Err(why) => return Autograd::None(format!("candle's backward of {} is not compared: {why}", run.op.name())),
    };
    let batched = |a: Array| Array { shape: [&[1], a.shape.as_slice()].concat(), data: a.data };
    let (x, w) = (batched(laid_out(model, data, &run.input)), laid_out(model, data, &run.weight));
    let g = &data[&model.upstream];
    let shape = conv.output_shape(&x.shape, &w.shape);
    if shape.iter().product::<usize>() != g.data.len()
        || g.shape.len() < axes.len()
        || shape[2..] != g.shape[g.shape.len() - axes.len()..]
    {
        return Autograd::None(
            "the run's output has another shape than the formula's: its backward is not compared".into(),
        );
    }
    let v = Array { shape, data: g.data.clone() };
    match conv.autograd(&x, &w, &v) {
        Ok(pulled) => Autograd::Pulled { pulled, input: run.input.clone(), weight: run.weight.clone() },
        Err(e) => Autograd::None(format!("candle's autograd vᵀJ of {} is not compared: {e}", run.op.name())),
    }
}

/// The named call's report, with its proof.
fn call_report(model: &Model, derivation: &Derivation, call: &GradientCall, wrt: &str, sizes: &Env) -> CallReport {
    call_at(model, call, sizes, prove_call(model, derivation, call, wrt))
}

/// The named call's report at `sizes`, with its proof (which holds for every size).
fn call_at(model: &Model, call: &GradientCall, sizes: &Env, proof: Result<(), String>) -> CallReport {
    let channels = model.tensors.iter().any(|t| t.shape.len() > 1);
    let engine = concrete(call, sizes);
    let (input, weight) = (call.input.clone(), call.weight.clone());
    CallReport {
        op: call.op.name(),
        symbolic: call.symbolic(channels),
        at_sizes: call.at(sizes, channels).unwrap_or_else(|e| e.to_string()),
        torch: call.torch(sizes).unwrap_or_else(|e| e.to_string()),
        candle: engine.map_or_else(|e| e, |c| c.candle(&input, &weight)),
        proof,
    }
}

/// A named call at concrete sizes, as the engine runs it: one spatial axis, or several.
enum Concrete {
    /// `conv1d` or `conv_transpose1d`.
    One(engine::GradientCall),
    /// A call of 2 or 3 spatial axes.
    Nd(engine::GradientCallNd),
}

impl Concrete {
    /// The gradient in its tensor's engine layout, and the compositions that made a call
    /// of several axes (see [`engine::nd::ConvNd::forward`]).
    fn run(&self, input: &Array, weight: &Array) -> Result<(Array, Vec<&'static str>), engine::EngineError> {
        match self {
            Concrete::One(call) => Ok((call.run(input, weight)?, Vec::new())),
            Concrete::Nd(call) => call.run(input, weight),
        }
    }

    fn footprint(&self, input: &[usize], weight: &[usize]) -> u64 {
        match self {
            Concrete::One(call) => call.footprint(input, weight),
            Concrete::Nd(call) => call.footprint(input, weight),
        }
    }

    fn candle(&self, input: &str, weight: &str) -> String {
        match self {
            Concrete::One(call) => call.candle(input, weight),
            Concrete::Nd(call) => call.candle(input, weight),
        }
    }
}

/// A size at concrete sizes, as a count.
fn count_at(p: &Index, sizes: &Env) -> Result<usize, String> {
    let v = p.eval(sizes).map_err(|e| e.to_string())?;
    usize::try_from(v).map_err(|_| format!("{p} is {v} at these sizes"))
}

/// The call at concrete sizes, as the engine runs it.
fn concrete(call: &GradientCall, sizes: &Env) -> Result<Concrete, String> {
    let at = |p: &Index| count_at(p, sizes);
    let crop = (call.crop.iter())
        .map(|c| c.as_ref().map(|(s, l)| Ok((at(s)?, at(l)?))).transpose())
        .collect::<Result<Vec<_>, String>>()?;
    if let [axis] = call.axes.as_slice() {
        let conv = engine::Conv {
            transposed: call.op.transposed(),
            stride: at(&axis.stride)?,
            padding: (at(&axis.padding.0)?, at(&axis.padding.1)?),
            output_padding: at(&axis.output_padding)?,
            dilation: at(&axis.dilation)?,
            groups: at(&call.groups)?,
            flip: call.flip_weight,
        };
        let (channels_as_batch, flip_result) = (call.channels_as_batch, call.flip_result);
        return Ok(Concrete::One(engine::GradientCall { conv, channels_as_batch, crop: crop[0], flip_result }));
    }
    Ok(Concrete::Nd(engine::GradientCallNd {
        conv: conv_nd(call.op.transposed(), &call.axes, &call.groups, call.flip_weight, sizes)?,
        channels_as_batch: call.channels_as_batch,
        crop,
        flip_result: call.flip_result,
    }))
}

/// Upstream gradients at sizes past brute force have entries uniform in
/// `[-LARGE_RANGE, LARGE_RANGE]`, so that sums over a million outputs stay exact.
const LARGE_RANGE: i64 = 1000;

/// One gradient: its gather form against brute force's `Jᵀg` (a disagreement is a bug in
/// symconv), or, without brute force (`None`: sizes too large for it), the gather form
/// compiled is the reference; then the named call on the engine and the engine's own
/// backward against it.
fn check(
    model: &Model,
    derivation: &Derivation,
    shared: &Shared,
    brute: Option<&BruteForce>,
    gather: &Gather,
) -> Result<(BackwardReport, Vec<f64>), CheckError> {
    let (sizes, data) = (shared.sizes, shared.data);
    let err = eval_err(model, sizes);
    let lows: Vec<i64> = derivation.domain.at(sizes).map_err(&err)?.iter().map(|r| r.0).collect();
    let g = &data[&model.upstream];
    let dims = &g.shape;
    let t = model.tensor(&gather.wrt).expect("a gather's tensor is the model's");
    let t_dims = model.shape_at(&t.name, sizes).unwrap_or_default();
    let count: usize = t_dims.iter().map(|&d| d.max(0) as usize).product();
    let place = |c: usize| named(gather.wrt_indices.iter().zip(&element_at(c, &t_dims)));
    let evaluate = |f: &Formula, names: &[String]| evaluate(model, sizes, data, f, names, &t.name);
    let at = format!("at {} with seed {}", shown_sizes(model, sizes), shared.seed);
    let Some(brute) = brute else {
        let expected = compiled(model, sizes, data, gather, &t_dims)?;
        let findings = vec![format!(
            "{at}, past brute force: the engine against the gather form, compiled, at all {count} entries"
        )];
        return engine_side(model, derivation, shared, gather, &expected, findings, None);
    };
    // Jᵀg by brute force: Σ over the domain's rows of g at the row times the entry.
    let mut expected = vec![0.0; count];
    for (row, entries) in brute.rows.iter().zip(&brute.jacobians[&t.name]) {
        let flat = row.iter().zip(&lows).zip(dims).fold(0usize, |f, ((&i, &lo), &d)| f * d + (i - lo) as usize);
        for (c, v) in entries.iter().enumerate() {
            expected[c] += g.data[flat] * numeric(v, data);
        }
    }
    let derived = evaluate(&gather.closed_form, &gather.wrt_indices)?;
    if let Some(c) = first_difference(&derived, &expected) {
        return Err(CheckError::Bug(format!(
            "the gather form of ∂L/∂{} disagrees with brute force's Jᵀg at {}, {}: {} against {}",
            t.name,
            shown_sizes(model, sizes),
            place(c),
            number(derived[c]),
            number(expected[c])
        )));
    }
    let findings = vec![format!("{at}: the gather form equals brute force's Jᵀg at all {count} entries")];
    engine_side(model, derivation, shared, gather, &expected, findings, Some(&evaluate))
}

/// Entries uniform in `[-LARGE_RANGE, LARGE_RANGE]`, drawn from the seed.
fn uniform(shape: &[usize], seed: u64) -> Array {
    let mut state = seed ^ 0x2545_f491_4f6c_dd1d;
    let width = (2 * LARGE_RANGE + 1) as u64;
    let data = (0..shape.iter().product::<usize>())
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) % width) as i64 - LARGE_RANGE
        } as f64)
        .collect();
    Array { shape: shape.to_vec(), data }
}

/// The gather form at every element of its tensor, compiled; refused where its sums
/// could pass 2⁵³, past which f64 is not exact.
fn compiled(model: &Model, sizes: &Env, data: &Values, gather: &Gather, dims: &[i64]) -> Result<Vec<f64>, CheckError> {
    let err = eval_err(model, sizes);
    let names: Vec<&String> = data.keys().collect();
    let shapes: Vec<Shape> = names
        .iter()
        .map(|n| Shape { name: n.to_string(), dims: data[*n].shape.iter().map(|&d| d as i64).collect() })
        .collect();
    let slices: Vec<&[f64]> = names.iter().map(|n| data[*n].data.as_slice()).collect();
    let over: Vec<(i64, i64)> = dims.iter().map(|&d| (0, d - 1)).collect();
    let compile = |free: &[String], enumerated: &[(String, Option<(i64, i64)>)]| {
        let terms = gather.closed_form.terms.iter().map(|t| Compiled::new(t, free, enumerated, sizes, &shapes));
        terms.collect::<Result<Vec<_>, _>>().map_err(&err)
    };
    // The innermost loop runs along the tensor's last index where that is at least as long
    // as the upstream gradient's last axis (an input's gradient; see
    // [`Compiled::sums_along`]), else along a summed index (a kernel's gradient sums
    // along the outputs).
    let upstream = data[&model.upstream].shape.last().copied().unwrap_or(0) as i64;
    let (sums, bound) = match (gather.wrt_indices.split_last(), over.split_last()) {
        (Some((last, outer)), Some((&inner, boxed))) if inner.1 + 1 >= upstream => {
            let terms = compile(outer, &[(last.clone(), Some(inner))])?;
            Compiled::sums_along(&terms, boxed, inner, &slices).map_err(&err)?
        }
        _ => Compiled::sums(&compile(&gather.wrt_indices, &[])?, &over, &slices).map_err(&err)?,
    };
    if bound >= 9_007_199_254_740_992.0 {
        return Err(CheckError::Sizes(format!(
            "at {} the gradient's sums may pass 2⁵³, past which the check is not exact",
            shown_sizes(model, sizes)
        )));
    }
    Ok(sums)
}

/// The engine's side of a gradient against `expected`: the named call, and the engine's
/// own backward. `exact` evaluates a formula exactly, where the sizes are small enough:
/// a proved call's formula is then checked against `expected` first.
fn engine_side(
    model: &Model,
    derivation: &Derivation,
    shared: &Shared,
    gather: &Gather,
    expected: &[f64],
    mut findings: Vec<String>,
    exact: Option<&Exact>,
) -> Result<(BackwardReport, Vec<f64>), CheckError> {
    let t = model.tensor(&gather.wrt).expect("a gather's tensor is the model's");
    if layers::applies(model, &t.name) {
        return layers::engine_side((model, derivation, shared), (gather, expected, exact), findings);
    }
    let Some(run) = run_of(model) else {
        let why = "the spec has no run line to name the forward call".to_string();
        return Ok((report(model, gather, Err(why), None, findings), expected.to_vec()));
    };
    if model.formula.divisor != 1 {
        let why = format!(
            "not run: the formula divides by {}, and convolution runs are compared only with formulas \
             without fractions",
            model.formula.divisor
        );
        return Ok((report(model, gather, Err(why), None, findings), expected.to_vec()));
    }
    let (call, holds) = match gradient_call(model, derivation, run, &t.name) {
        Ok(call) => {
            let (named_call, holds) =
                named_call(model, derivation, shared, gather, &call, expected, &mut findings, exact)?;
            (Ok(named_call), holds)
        }
        Err(why) => (Err(why), None),
    };
    Ok((report(model, gather, call, holds, findings), expected.to_vec()))
}

/// A gradient's report with the engine's own backward compared against `expected`.
fn with_autograd(
    model: &Model,
    gather: &Gather,
    sizes: &Env,
    (mut report, expected): (BackwardReport, Vec<f64>),
    autograd: &Autograd,
) -> BackwardReport {
    let dims = model.shape_at(&gather.wrt, sizes).unwrap_or_default();
    let place = |c: usize| named(gather.wrt_indices.iter().zip(&element_at(c, &dims)));
    if model.formula.divisor != 1 {
        return report;
    }
    let agrees = match autograd {
        // A bias's gradient is no pullback of the convolution.
        Autograd::Pulled { input, weight, .. } if gather.wrt != *input && gather.wrt != *weight => return report,
        Autograd::Pulled { pulled, input, .. } => {
            let by_autograd = if gather.wrt == *input { &pulled.0 } else { &pulled.1 };
            match first_difference(&by_autograd.data, &expected) {
                None => {
                    report.findings.push("candle's autograd vᵀJ agrees at every entry".into());
                    true
                }
                Some(c) => {
                    report.findings.push(format!(
                        "candle's autograd vᵀJ gives {} at {}, Jᵀg is {}",
                        number(by_autograd.data[c]),
                        place(c),
                        number(expected[c])
                    ));
                    false
                }
            }
        }
        Autograd::None(why) => {
            if !why.is_empty() {
                report.findings.push(why.clone());
            }
            return report;
        }
    };
    report.holds = Some(report.holds.unwrap_or(true) && agrees);
    report
}

/// The named call: its proof checked by numbers where they are exact, then run on the
/// engine against `expected`; whether it agrees (`None`: not run).
#[allow(clippy::too_many_arguments)]
fn named_call(
    model: &Model,
    derivation: &Derivation,
    shared: &Shared,
    gather: &Gather,
    call: &GradientCall,
    expected: &[f64],
    findings: &mut Vec<String>,
    exact: Option<&Exact>,
) -> Result<(CallReport, Option<bool>), CheckError> {
    let (sizes, data) = (shared.sizes, shared.data);
    let t = model.tensor(&gather.wrt).expect("a gather's tensor is the model's");
    let t_dims = model.shape_at(&t.name, sizes).unwrap_or_default();
    let place = |c: usize| named(gather.wrt_indices.iter().zip(&element_at(c, &t_dims)));
    let named_call = call_report(model, derivation, call, &t.name, sizes);
    // A proof is trusted only once numbers agree with it: the call's formula, exactly.
    if let (Ok(_), Some(evaluate)) = (&named_call.proof, exact) {
        let names = gather.wrt_indices.clone();
        let (f, _) = call.formula(&shapes(model, derivation), &names).expect("a proved call has a formula");
        let exact = evaluate(&f, &names)?;
        if let Some(c) = first_difference(&exact, expected) {
            return Err(CheckError::Bug(format!(
                "the call {} was proved to compute ∂L/∂{}, but at {}, {} its formula gives {} and brute force {}",
                named_call.symbolic,
                t.name,
                shown_sizes(model, sizes),
                place(c),
                number(exact[c]),
                number(expected[c])
            )));
        }
    }
    let engine_call = concrete(call, sizes).map_err(CheckError::Sizes)?;
    let (a, b) = (laid_out(model, data, &call.input), laid_out(model, data, &call.weight));
    let held = engine_call.footprint(&a.shape, &b.shape);
    if held > derivation.limits.run_values {
        findings.push(format!(
            "the call {} is not run: it would hold {held} values in the engine, more than the limit of {}",
            named_call.at_sizes, derivation.limits.run_values
        ));
        return Ok((named_call, None));
    }
    let agrees = match engine_call.run(&a, &b) {
        Err(e) => {
            findings.push(format!("the call {} does not run on the engine: {e}", named_call.at_sizes));
            false
        }
        Ok((by_call, compositions)) => match first_difference(&by_call.data, expected) {
            None => {
                findings.push(format!(
                    "the call {} on the engine{} agrees at every entry",
                    named_call.at_sizes,
                    composed(&compositions)
                ));
                true
            }
            Some(c) => {
                let got = by_call.data.get(c).copied().map_or("nothing".into(), number);
                findings.push(format!(
                    "the call {} on the engine{} gives {got} at {}, Jᵀg is {}",
                    named_call.at_sizes,
                    composed(&compositions),
                    place(c),
                    expected.get(c).copied().map_or("nothing".into(), number)
                ));
                false
            }
        },
    };
    Ok((named_call, Some(agrees)))
}

/// A formula of the tensors in `data` (the upstream gradient's too), indexed by `names`,
/// evaluated exactly at every element of the tensor `wrt`, row-major.
fn evaluate(
    model: &Model,
    sizes: &Env,
    data: &Values,
    f: &Formula,
    names: &[String],
    wrt: &str,
) -> Result<Vec<f64>, CheckError> {
    let err = eval_err(model, sizes);
    let dims = model.shape_at(wrt, sizes).unwrap_or_default();
    let shapes = |name: &str| data.get(name).map(|a| a.shape.iter().map(|&d| d as i64).collect());
    let count: usize = dims.iter().map(|&d| d.max(0) as usize).product();
    let mut env = sizes.clone();
    (0..count)
        .map(|c| {
            env.extend(names.iter().cloned().zip(element_at(c, &dims)));
            Ok(numeric(&f.eval(&env, &shapes).map_err(&err)?, data))
        })
        .collect()
}

/// How the engine composed a call, for a finding: nothing where one candle call made it.
fn composed(compositions: &[&str]) -> String {
    match compositions {
        [] => String::new(),
        _ => format!(" (composed exactly: {})", compositions.join("; ")),
    }
}

/// A tensor of `data` in the engine's layout: a tensor of spatial axes only (as many as
/// the run line's) as one channel, an input `[*n]` as `[1, *n]`, a weight `[*k]` as
/// `[1, 1, *k]`.
fn laid_out(model: &Model, data: &Values, name: &str) -> Array {
    let a = &data[name];
    let spatial = run_of(model).map_or(1, |r| r.op.spatial());
    let weight = model.tensor(name).is_some_and(|t| t.role == crate::model::Role::Weight);
    let shape = match (a.shape.len() == spatial, weight) {
        (true, false) => [&[1], a.shape.as_slice()].concat(),
        (true, true) => [&[1, 1], a.shape.as_slice()].concat(),
        (false, _) => a.shape.clone(),
    };
    Array { shape, data: a.data.clone() }
}

/// Every tensor's values by name, in the spec's shapes; the upstream gradient's shaped
/// like the output.
pub type Values = std::collections::BTreeMap<String, Array>;

/// The gradient `∂L/∂wrt` at the values `data` (every tensor's and the upstream
/// gradient's): its gather form evaluated exactly, and the named call of the spec's run
/// line run on the engine (`None` where none is named), both row-major in the tensor's
/// shape.
pub fn gradient_values(
    model: &Model,
    derivation: &Derivation,
    wrt: &str,
    sizes: &Env,
    data: &Values,
) -> Result<(Vec<f64>, Option<Vec<f64>>), CheckError> {
    let gather = derivation
        .gathers
        .iter()
        .find(|g| g.wrt == wrt)
        .ok_or_else(|| CheckError::Sizes(format!("no tensor `{wrt}`")))?;
    let derived = evaluate(model, sizes, data, &gather.closed_form, &gather.wrt_indices, wrt)?;
    let derived = derived.into_iter().map(|v| v / gather.closed_form.divisor as f64).collect();
    if layers::applies(model, wrt) {
        return Ok((derived, layers::values(model, derivation, wrt, sizes, data)?));
    }
    let Some(call) = run_of(model).and_then(|run| gradient_call(model, derivation, run, wrt).ok()) else {
        return Ok((derived, None));
    };
    let engine_call = concrete(&call, sizes).map_err(CheckError::Sizes)?;
    let (by_call, _) = engine_call.run(&laid_out(model, data, &call.input), &laid_out(model, data, &call.weight))?;
    Ok((derived, Some(by_call.data)))
}

fn report(
    model: &Model,
    gather: &Gather,
    call: Result<CallReport, String>,
    holds: Option<bool>,
    findings: Vec<String>,
) -> BackwardReport {
    BackwardReport {
        wrt: gather.wrt.clone(),
        gather: super::gather_text(model, gather),
        steps: gather.steps.clone(),
        call,
        holds,
        findings,
    }
}

/// The first place where two vectors differ (exact integers in f64).
fn first_difference(a: &[f64], b: &[f64]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y).or((a.len() != b.len()).then_some(a.len().min(b.len())))
}
