//! The gradients of layer run lines (average pooling, nearest upsampling) and of a
//! convolution's bias, named as one PyTorch call each
//! ([`crate::derive::backward::layers`]): each call's proof checked by its formula's exact
//! numbers, and the call run on the engine against `Jᵀg`, within [`layers::agrees`] where
//! the gradient's values are rationals.

use super::{
    concrete, count_at, first_difference, report, BackwardReport, CallReport, Concrete, Exact, Shared, Values,
};
use crate::algebra::Env;
use crate::check::brute::element_at;
use crate::check::error::{named, shown_sizes, CheckError};
use crate::check::runs::number;
use crate::derive::backward::layers::{layer_gradient, LayerCall, LayerGradient};
use crate::derive::backward::Gather;
use crate::derive::Derivation;
use crate::engine::layers::{self, GradientLayer};
use crate::engine::Array;
use crate::model::Model;
use std::collections::BTreeSet;

/// Whether `∂L/∂wrt` is a layer's gradient or a bias's, named here rather than as a
/// convolution's gradient.
pub(super) fn applies(model: &Model, wrt: &str) -> bool {
    match model.runs.first() {
        Some(run) => run.bias.as_deref() == Some(wrt),
        None => !model.layers.is_empty(),
    }
}

/// The call as the engine runs it at some sizes.
enum Engine {
    /// A composition of candle calls with no convolution.
    Layer(GradientLayer),
    /// A transposed convolution with a kernel of ones shaped `[C, 1, *k]`, divided by the
    /// window's size.
    Convolution(Concrete, Vec<usize>),
}

/// The call at `sizes`, as the engine runs it.
fn engine_of(lg: &LayerGradient, sizes: &Env) -> Result<Engine, String> {
    let at = |v: &[crate::algebra::Index]| v.iter().map(|p| count_at(p, sizes)).collect::<Result<Vec<_>, _>>();
    Ok(match &lg.call {
        LayerCall::SumPool { scale } => Engine::Layer(GradientLayer::SumPool { scale: at(scale)? }),
        LayerCall::Upsampled { kernel, rest } => {
            Engine::Layer(GradientLayer::Upsampled { kernel: at(kernel)?, rest: at(rest)? })
        }
        LayerCall::BiasSum => Engine::Layer(GradientLayer::BiasSum),
        LayerCall::Transposed { .. } => {
            let call = lg.convolution("ones".into()).expect("a transposed call is a convolution");
            Engine::Convolution(concrete(&call, sizes)?, at(&lg.ones_shape())?)
        }
    })
}

/// The upstream gradient `g` (shaped like the output) in the layout the engine takes:
/// `[1, C, *out]` for a layer (a tensor of spatial axes only as one channel), `[C, *out]`
/// for a convolution.
fn upstream(lg: &LayerGradient, g: &Array, convolution: bool) -> Array {
    let channel: &[usize] = if lg.channels.is_none() { &[1] } else { &[] };
    let batch: &[usize] = if convolution { &[] } else { &[1] };
    Array { shape: [batch, channel, g.shape.as_slice()].concat(), data: g.data.clone() }
}

/// The call's text in candle-core's API, for `g` shaped `dims` (as the output).
fn candle_text(lg: &LayerGradient, engine: &Engine, dims: &[usize]) -> String {
    match engine {
        Engine::Layer(layer) => {
            let shape = upstream(lg, &Array { shape: dims.to_vec(), data: Vec::new() }, false).shape;
            layer.candle(&lg.upstream, &shape).unwrap_or_else(|e| e.to_string())
        }
        Engine::Convolution(call, ones) => {
            let shape: Vec<String> = ones.iter().map(usize::to_string).collect();
            let weight = format!("Tensor::ones(({}), DType::F64, &Device::Cpu)?", shape.join(", "));
            let text = call.candle(&lg.upstream, &weight);
            let division = format!(".broadcast_div(&Tensor::new({}f64, &Device::Cpu)?)?", lg.divisor);
            // Where no single candle call makes the convolution, the text says why.
            match text.starts_with("no single candle call") {
                true => format!("{text}; then {division}"),
                false => format!("{text}{division}"),
            }
        }
    }
}

/// The call's report at `sizes` (its proof holds for every size), `g` shaped `dims`.
fn call_at(lg: &LayerGradient, sizes: &Env, dims: &[usize], proof: Result<(), String>) -> Result<CallReport, String> {
    let engine = engine_of(lg, sizes)?;
    Ok(CallReport {
        op: lg.op(),
        symbolic: lg.symbolic(),
        at_sizes: lg.at(sizes).unwrap_or_else(|e| e.to_string()),
        torch: lg.torch(sizes).unwrap_or_else(|e| e.to_string()),
        candle: candle_text(lg, &engine, dims),
        proof,
    })
}

/// What the engine gives: the gradient's values, row-major in its tensor's shape, and the
/// compositions that made a convolution; or how many values a convolution would hold, past
/// the limit.
type Ran = Result<(Vec<f64>, Vec<&'static str>), u64>;

/// The call run on the engine on `g` (shaped like the output), a convolution only where it
/// holds at most `limit` values.
fn run(lg: &LayerGradient, sizes: &Env, g: &Array, limit: u64) -> Result<Ran, CheckError> {
    let engine = engine_of(lg, sizes).map_err(CheckError::Sizes)?;
    match engine {
        Engine::Layer(layer) => Ok(Ok((layer.run(&upstream(lg, g, false))?.data, Vec::new()))),
        Engine::Convolution(call, shape) => {
            let g = upstream(lg, g, true);
            let held = call.footprint(&g.shape, &shape);
            if held > limit {
                return Ok(Err(held));
            }
            let ones = Array { data: vec![1.0; shape.iter().product()], shape };
            let (sums, used) = call.run(&g, &ones)?;
            // The windows' sums, exact on integers, divided once.
            Ok(Ok((sums.data.iter().map(|v| v / lg.divisor as f64).collect(), used)))
        }
    }
}

/// The gradient `∂L/∂wrt` by its named call on the engine, at the values `data`; `None`
/// where no call is named.
pub(super) fn values(
    model: &Model,
    derivation: &Derivation,
    wrt: &str,
    sizes: &Env,
    data: &Values,
) -> Result<Option<Vec<f64>>, CheckError> {
    let Ok(lg) = layer_gradient(model, derivation, wrt) else { return Ok(None) };
    let limit = derivation.limits.run_values;
    match run(&lg, sizes, &data[&model.upstream], limit)? {
        Ok((values, _)) => Ok(Some(values)),
        Err(held) => {
            Err(CheckError::Limit(format!("the call would hold {held} values, more than the limit of {limit}")))
        }
    }
}

/// The gradient's named call: its proof checked by its formula's exact numbers (where
/// `exact` evaluates them), then run on the engine against `expected` (`Jᵀg` times the
/// model's divisor).
pub(super) fn engine_side(
    (model, derivation, shared): (&Model, &Derivation, &Shared),
    (gather, expected, exact): (&Gather, &[f64], Option<&Exact>),
    mut findings: Vec<String>,
) -> Result<(BackwardReport, Vec<f64>), CheckError> {
    let lg = match layer_gradient(model, derivation, &gather.wrt) {
        Ok(lg) => lg,
        Err(why) => return Ok((report(model, gather, Err(why), None, findings), expected.to_vec())),
    };
    let (sizes, data) = (shared.sizes, shared.data);
    let t_dims = model.shape_at(&gather.wrt, sizes).unwrap_or_default();
    let place = |c: usize| named(gather.wrt_indices.iter().zip(&element_at(c, &t_dims)));
    let g = &data[&model.upstream];
    let divisor = model.formula.divisor;
    let proof = lg.prove(model, derivation, &gather.wrt);
    let call = call_at(&lg, sizes, &g.shape, proof).map_err(CheckError::Sizes)?;
    // A proof is trusted only once numbers agree with it: the call's formula, exactly.
    if let (Ok(()), Some(evaluate)) = (&call.proof, exact) {
        let mut taken: BTreeSet<String> = model.sizes.iter().cloned().collect();
        taken.extend(model.tensors.iter().map(|t| t.name.clone()));
        let f = lg.formula(&gather.wrt_indices, &derivation.lengths, &taken);
        let by_formula = evaluate(&f, &gather.wrt_indices)?;
        // Both over a common divisor: the call's ∏k and the model's.
        let scaled = |v: &[f64], by: i64| v.iter().map(|x| x * by as f64).collect::<Vec<_>>();
        if let Some(c) = first_difference(&scaled(&by_formula, divisor), &scaled(expected, f.divisor)) {
            return Err(CheckError::Bug(format!(
                "the call {} was proved to compute ∂L/∂{}, but at {}, {} its formula gives {} and brute force {}",
                call.symbolic,
                gather.wrt,
                shown_sizes(model, sizes),
                place(c),
                fraction(by_formula[c], f.divisor),
                fraction(expected[c], divisor)
            )));
        }
    }
    let limit = derivation.limits.run_values;
    let (by_call, used) = match run(&lg, sizes, g, limit) {
        Ok(Ok(ran)) => ran,
        Ok(Err(held)) => {
            findings.push(format!(
                "the call {} is not run: it would hold {held} values in the engine, more than the limit of {limit}",
                call.at_sizes
            ));
            return Ok((report(model, gather, Ok(call), None, findings), expected.to_vec()));
        }
        Err(CheckError::Engine(e)) => {
            findings.push(format!("the call {} does not run on the engine: {e}", call.at_sizes));
            return Ok((report(model, gather, Ok(call), Some(false), findings), expected.to_vec()));
        }
        Err(e) => return Err(e),
    };
    let (holds, finding) = compared(&by_call, expected, divisor, &place);
    let how = match (divisor, used.as_slice()) {
        (1, []) => String::new(),
        (1, used) => format!(" (composed exactly: {})", used.join("; ")),
        (d, used) => format!(
            ", each within a relative 2⁻⁴⁰ of the exact rational over {d}{}",
            used.iter().map(|u| format!("; composed exactly: {u}")).collect::<String>()
        ),
    };
    findings.push(match holds {
        true => format!("the call {} on the engine agrees at every entry{how}", call.at_sizes),
        false => format!("the call {} on the engine {finding}", call.at_sizes),
    });
    Ok((report(model, gather, Ok(call), Some(holds), findings), expected.to_vec()))
}

/// Whether the engine's values are `expected / divisor` at every entry (exactly for a
/// divisor of 1, else within [`layers::agrees`]); where not, what it gives at the first
/// entry that differs.
pub(crate) fn compared(
    by_call: &[f64],
    expected: &[f64],
    divisor: i64,
    place: &dyn Fn(usize) -> String,
) -> (bool, String) {
    let agrees = |c: usize| match divisor {
        1 => by_call[c] == expected[c],
        d => layers::agrees(by_call[c], expected[c] as i64, d.unsigned_abs()),
    };
    let wrong = (by_call.len() != expected.len()).then_some(by_call.len().min(expected.len()));
    match wrong.or_else(|| (0..expected.len()).find(|&c| !agrees(c))) {
        None => (true, String::new()),
        Some(c) => {
            let got = by_call.get(c).map_or("nothing".into(), |v| v.to_string());
            let want = expected.get(c).map_or("nothing".into(), |v| fraction(*v, divisor));
            (false, format!("gives {got} at {}, Jᵀg is {want}", place(c)))
        }
    }
}

/// An exact numerator over a divisor, as a number or a fraction (`7/3`).
fn fraction(numerator: f64, divisor: i64) -> String {
    match divisor {
        1 => number(numerator),
        d => format!("{}/{d}", number(numerator)),
    }
}

/// The call's report at sizes where it is not run, `g` shaped `dims`: `None` where no
/// call is named.
pub(super) fn not_run_call(
    model: &Model,
    derivation: &Derivation,
    wrt: &str,
    sizes: &Env,
    dims: &[usize],
    proof: Result<(), String>,
) -> Option<CallReport> {
    let lg = layer_gradient(model, derivation, wrt).ok()?;
    call_at(&lg, sizes, dims, proof).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::RunOptions;

    #[test]
    fn a_wrong_division_shows_with_its_values() {
        let src = std::fs::read_to_string("specs/avg_pool1d.conv").unwrap();
        let model = crate::model::resolve(&crate::syntax::parse(&src).unwrap(), &src, "avg_pool1d", &[]).unwrap();
        let derivation = crate::derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        let sizes = &model.values;
        let mut data = crate::check::values(&model, sizes, RunOptions::default());
        data.insert("g".into(), super::super::upstream_values(&[2, 5], 3));
        // Jᵀg over the model's divisor 3, from the gather form.
        let (gather, _) = super::super::gradient_values(&model, &derivation, "x", sizes, &data).unwrap();
        let expected: Vec<f64> = gather.iter().map(|v| (v * 3.0).round()).collect();
        let mut named = layer_gradient(&model, &derivation, "x").unwrap();
        let (right, _) = run(&named, sizes, &data["g"], u64::MAX).unwrap().unwrap();
        assert!(compared(&right, &expected, 3, &|c| c.to_string()).0);
        named.divisor = 2;
        let (wrong, _) = run(&named, sizes, &data["g"], u64::MAX).unwrap().unwrap();
        let (agrees, finding) = compared(&wrong, &expected, 3, &|c| format!("entry {c}"));
        assert!(!agrees);
        assert_eq!(finding, format!("gives {} at entry 0, Jᵀg is {}/3", wrong[0], number(expected[0])));
        // One entry short is a disagreement too.
        assert!(!compared(&right[1..], &expected, 3, &|c| c.to_string()).0);
    }
}
