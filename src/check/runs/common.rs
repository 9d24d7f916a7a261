//! What every run shares: options, the values fed to the engine, the layout, the
//! engine's call, the setup of a run and the comparison of outputs.

use crate::algebra::compiled::{Compiled, Shape};
use crate::algebra::{Env, Index, IndexExt, Value};
use crate::check::brute::{lengths, tuple};
use crate::check::error::{eval_err, shown_sizes, CheckError};
use crate::derive::Derivation;
use crate::engine::{Array, Conv, Method};
use crate::limits::Limits;
use crate::model::{Model, Role, Run};
use std::collections::BTreeMap;

/// A run line with its verdict.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The run as written.
    pub text: String,
    /// `Some(true)` when it agrees, `Some(false)` when it does not, `None` when not executed.
    pub holds: Option<bool>,
    /// What was compared and found, one finding a line.
    pub findings: Vec<String>,
}

impl RunReport {
    /// The findings on one line.
    pub fn detail(&self) -> String {
        self.findings.join("; ")
    }
}

/// The weights a run feeds the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// Distinct nonzero integers, like the inputs: every weight can be told apart.
    Distinct,
    /// All ones, as the seed test used: no two weights can be told apart.
    Ones,
}

/// How a run's Jacobians are compared with the engine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JacobianCheck {
    /// Every entry while the engine's Jacobians stay within
    /// [`Limits::compared_entries`] entries that can be nonzero, Freivalds' check beyond.
    Auto,
    /// Every entry, however many.
    EveryEntry,
    /// Freivalds' check, at any size.
    Freivalds,
}

/// How runs are fed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// The seed of the inputs' and weights' values.
    pub seed: u64,
    /// Distinct weights, or all ones.
    pub weights: Weights,
    /// How the Jacobians are compared.
    pub jacobians: JacobianCheck,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions { seed: 0, weights: Weights::Distinct, jacobians: JacobianCheck::Auto }
    }
}

/// Every tensor's values, in the spec's shapes: distinct nonzero integers `±1 … ±N` in
/// an order and with signs drawn from the seed (weights all ones when asked).
pub fn values(model: &Model, sizes: &Env, options: RunOptions) -> BTreeMap<String, Array> {
    let shapes: Vec<(String, Role, Vec<usize>)> = model
        .tensors
        .iter()
        .map(|t| {
            let dims = model.shape_at(&t.name, sizes).unwrap_or_default();
            (t.name.clone(), t.role, dims.iter().map(|&d| d.max(0) as usize).collect())
        })
        .collect();
    let total: usize = shapes.iter().map(|(_, _, s)| s.iter().product::<usize>()).sum();
    let pool = signed_permutation(total, options.seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut out = BTreeMap::new();
    let mut taken = 0;
    for (name, role, shape) in shapes {
        let len = shape.iter().product::<usize>();
        let data = match (role, options.weights) {
            (Role::Weight, Weights::Ones) => vec![1.0; len],
            _ => pool[taken..taken + len].to_vec(),
        };
        taken += len;
        out.insert(name, Array { shape, data });
    }
    out
}

/// `±1 … ±len`, each once, in an order and with signs drawn from `seed`.
pub(crate) fn signed_permutation(len: usize, seed: u64) -> Vec<f64> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        state >> 33
    };
    let mut pool: Vec<f64> = (1..=len).map(|v| v as f64).collect();
    for i in (1..pool.len()).rev() {
        pool.swap(i, next() as usize % (i + 1));
    }
    for v in &mut pool {
        if next() % 2 == 1 {
            *v = -*v;
        }
    }
    pool
}

/// The engine's view of a run: its parameters at the sizes.
pub fn conv_of(model: &Model, run: &Run, sizes: &Env, limits: &Limits) -> Result<Conv, CheckError> {
    let param = |name: &str, default: i64| -> Result<Vec<usize>, CheckError> {
        match run.params.iter().find(|(n, _, _)| n == name) {
            None => Ok(vec![default as usize]),
            Some((_, vs, _)) => {
                vs.iter().map(|v| Ok(v.eval(sizes).map_err(eval_err(model, sizes))?.max(0) as usize)).collect()
            }
        }
    };
    let padding = param("padding", 0)?;
    let conv = Conv {
        transposed: run.op.transposed(),
        stride: param("stride", 1)?[0],
        padding: (padding[0], *padding.get(1).unwrap_or(&padding[0])),
        output_padding: param("output_padding", 0)?[0],
        dilation: param("dilation", 1)?[0],
        groups: param("groups", 1)?[0],
        flip: run.flip,
    };
    // The padding, stride and dilation can make the engine's arrays far larger than the
    // formula's output.
    let shape = |name: &str, weight: bool| {
        let dims: Vec<usize> =
            model.shape_at(name, sizes).unwrap_or_default().iter().map(|&d| d.max(0) as usize).collect();
        layout_shape(&dims, weight)
    };
    let held = conv.footprint(&shape(&run.input, false), &shape(&run.weight, true));
    if held > limits.run_values {
        return Err(CheckError::RunLimit {
            span: run.span,
            message: format!(
                "at {} this run would hold {held} values in the engine (its padded input and its output), \
                 more than the limit of {}",
                shown_sizes(model, sizes),
                limits.run_values
            ),
        });
    }
    Ok(conv)
}

/// A tensor in the engine's layout: an input `[n]` is `[1, n]`, a weight `[k]` is `[1, 1, k]`.
pub(crate) fn layout(a: &Array, weight: bool) -> Array {
    Array { shape: layout_shape(&a.shape, weight), data: a.data.clone() }
}

/// The shape of a tensor in the engine's layout (see [`layout`]).
pub(crate) fn layout_shape(shape: &[usize], weight: bool) -> Vec<usize> {
    match (shape, weight) {
        (&[n], false) => vec![1, n],
        (&[k], true) => vec![1, 1, k],
        _ => shape.to_vec(),
    }
}

/// What the engine computes for a run: its output `[O, L]` and both Jacobians.
pub struct EngineRun {
    /// The output.
    pub output: Array,
    /// `∂y/∂x`, rows over the output, columns over the input.
    pub jacobian_x: Array,
    /// How `∂y/∂x` was obtained.
    pub method_x: Method,
    /// `∂y/∂w`, rows over the output, columns over the weight.
    pub jacobian_w: Array,
}

/// Runs the engine on the given values.
pub fn run_engine(conv: &Conv, x: &Array, w: &Array) -> Result<EngineRun, CheckError> {
    run_laid_out(conv, &layout(x, false), &layout(w, true))
}

/// Runs the engine on values already in its layout (see [`layout`]).
pub(crate) fn run_laid_out(conv: &Conv, x: &Array, w: &Array) -> Result<EngineRun, CheckError> {
    let output = conv.forward(x, w)?;
    let (jacobian_x, method_x) = conv.jacobian_x(x, w)?;
    let jacobian_w = conv.jacobian_w(x, w)?;
    Ok(EngineRun { output, jacobian_x, method_x, jacobian_w })
}

/// A convolution's output (`[O, *out]` or `[1, O, *out]`) with the run's bias added, and
/// the engine's Jacobian of it by the bias (`None` without a bias).
pub(crate) fn with_bias(
    run: &Run,
    data: &BTreeMap<String, Array>,
    output: Array,
) -> Result<(Array, Option<Array>), CheckError> {
    let Some(b) = &run.bias else { return Ok((output, None)) };
    let batched = output.shape.len() == run.op.spatial() + 2;
    let y = match batched {
        true => output,
        false => Array { shape: [vec![1], output.shape].concat(), data: output.data },
    };
    let jacobian = crate::engine::layers::bias_jacobian(&y, &data[b])?;
    let mut sum = crate::engine::layers::add_bias(&y, &data[b])?;
    if !batched {
        sum.shape.remove(0);
    }
    Ok((sum, Some(jacobian)))
}

/// An exact value at concrete tensor values.
pub fn numeric(v: &Value, data: &BTreeMap<String, Array>) -> f64 {
    v.terms()
        .map(|(m, c)| {
            m.iter().fold(c as f64, |p, e| {
                let a = &data[&e.tensor];
                let flat = e.index.iter().zip(&a.shape).fold(0usize, |f, (&i, &d)| f * d + i as usize);
                p * a.data[flat]
            })
        })
        .sum()
}

/// A number as the findings print it: an integer while it is one (`0`, never `-0`), else
/// the exact binary fraction an f64 holds (`-3/4`), else Rust's shortest form of it.
pub(crate) fn number(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    for e in 0..63 {
        let scaled = v * (1u64 << e) as f64;
        if scaled.fract() == 0.0 && scaled.abs() < 9.2e18 {
            return match e {
                0 => format!("{}", scaled as i64),
                _ => format!("{}/{}", scaled as i64, 1u64 << e),
            };
        }
    }
    format!("{v}")
}

/// The first disagreement of two lists of numbers and how many there are.
pub(crate) fn compare(ours: &[f64], engine: &[f64]) -> Option<(usize, usize)> {
    let bad: Vec<usize> = (0..ours.len()).filter(|&i| ours[i] != engine[i]).collect();
    bad.first().map(|&first| (first, bad.len()))
}

/// How the engine found `∂s/∂x`.
pub(crate) fn method_text(method: Method) -> &'static str {
    match method {
        Method::Autograd => "by autograd",
        Method::UnitInputs => "on unit inputs: candle has no backward for conv_transpose1d",
    }
}

/// The formula's output lengths as the engine shapes its output: `[O, L]`, with one
/// output channel for a 1-D output.
pub(crate) fn engine_shape(mut lengths: Vec<i64>) -> Vec<i64> {
    if lengths.len() == 1 {
        lengths.insert(0, 1);
    }
    lengths
}

/// The finding on the outputs: all agree, or how many of `total` disagree, with the first
/// as (count, output index, the formula's value, the engine's).
pub(crate) fn outputs_finding(
    model: &Model,
    shape: &[i64],
    total: usize,
    bad: Option<(usize, Vec<i64>, f64, f64)>,
) -> String {
    match bad {
        None => format!("output shape {shape:?} and all {total} outputs agree"),
        Some((count, at, ours, theirs)) => format!(
            "{count} of {total} outputs disagree, first {}{at:?}: the formula gives {}, the engine {}",
            model.output.name,
            number(ours),
            number(theirs)
        ),
    }
}

/// The report of a convolution run that cannot be executed: the formula reads more
/// tensors than the run's input and weight, or divides by a constant.
pub(crate) fn not_executed(model: &Model, run: &Run) -> Option<RunReport> {
    let tensors = 2 + usize::from(run.bias.is_some());
    let why = match (model.tensors.len(), model.formula.divisor) {
        (n, 1) if n == tensors => return None,
        (n, d) if n == tensors => format!(
            "not executed: the formula divides by {d}, and convolution runs are compared only with formulas \
             without fractions"
        ),
        _ => "not executed: the formula has other tensors than the run's input, weight and bias".into(),
    };
    Some(RunReport { text: run.text.clone(), holds: None, findings: vec![why] })
}

/// What known conventions explain a disagreement of the outputs, one hint each: the
/// formula's outputs, the formula's with the kernel flipped, and the engine's.
pub(crate) fn hints(
    conv: &Conv,
    (x, w): (&Array, &Array),
    formula: &[f64],
    flipped: &[f64],
    engine: &[f64],
) -> Vec<String> {
    let mut found = Vec::new();
    // A flipped kernel: the formula with w reversed along its last axis agrees.
    if formula.len() == engine.len() && flipped == engine {
        found.push(if conv.flip {
            "the formula is a cross-correlation, but the run flips the kernel: drop flip(w)".to_string()
        } else {
            "the formula is a true convolution, conv1d a cross-correlation: use flip(w)".to_string()
        });
    }
    // A shift: engine output i is formula output i + c for a constant c (padding off by c),
    // over at least half the outputs.
    let n = formula.len().min(engine.len()) as i64;
    for c in (1..=n / 2).flat_map(|c| [c, -c]) {
        let from = 0.max(-c);
        let to = (engine.len() as i64).min(formula.len() as i64 - c);
        if to - from >= n / 2 && (from..to).all(|i| engine[i as usize] == formula[(i + c) as usize]) {
            found.push(format!(
                "engine output i is formula output i{}{}: the padding is off by {}",
                if c > 0 { " + " } else { " - " },
                c.abs(),
                c.abs()
            ));
            break;
        }
    }
    // A stride or dilation mismatch: the engine with another one agrees.
    let (xl, wl) = (layout(x, false), layout(w, true));
    'outer: for stride in 1..=4 {
        for dilation in 1..=4 {
            let other = Conv { stride, dilation, ..*conv };
            let [o, l] = other.output_shape(&xl, &wl);
            if other == *conv || o * l != formula.len() {
                continue;
            }
            if let Ok(y) = other.forward(&xl, &wl) {
                if y.data == formula {
                    found.push(format!(
                        "the engine with stride = {stride}, dilation = {dilation} agrees: a stride or dilation mismatch"
                    ));
                    break 'outer;
                }
            }
        }
    }
    found.iter().map(|h| format!("hint: {h}")).collect()
}

/// What a run at sizes too large for tables starts from.
pub(crate) struct Setup {
    /// The sizes and the seed, as the first finding.
    pub at: String,
    /// The engine's call.
    pub conv: Conv,
    /// Every tensor's values.
    pub data: BTreeMap<String, Array>,
    /// The input in the engine's layout.
    pub xl: Array,
    /// The weight in the engine's layout.
    pub wl: Array,
    /// The output domain at the sizes.
    pub ranges: Vec<(i64, i64)>,
}

/// The engine's call, the values and the domain of one run at the sizes.
pub(crate) fn setup(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
) -> Result<Setup, CheckError> {
    let at = format!("at {} with seed {}", shown_sizes(model, sizes), options.seed);
    let conv = conv_of(model, run, sizes, &derivation.limits)?;
    let data = values(model, sizes, options);
    let (xl, wl) = (layout(&data[&run.input], false), layout(&data[&run.weight], true));
    let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
    Ok(Setup { at, conv, data, xl, wl, ranges })
}

/// The run's input and weight as compiled terms address them.
pub(crate) fn shapes_of(run: &Run, x: &Array, w: &Array) -> Vec<Shape> {
    [(&run.input, x), (&run.weight, w)]
        .iter()
        .map(|(name, a)| Shape { name: (*name).clone(), dims: a.shape.iter().map(|&d| d as i64).collect() })
        .collect()
}

/// The formula's outputs over the domain `ranges`, compiled at the sizes, and a bound on
/// the sums of absolute values (see [`Compiled::sums`]).
pub(crate) fn compiled_outputs(
    model: &Model,
    sizes: &Env,
    ranges: &[(i64, i64)],
    shapes: &[Shape],
    data: &[&[f64]],
) -> Result<(Vec<f64>, f64), CheckError> {
    let terms = formula_compiled(model, sizes, shapes, &model.output.indices, &[])?;
    Compiled::sums(&terms, ranges, data).map_err(eval_err(model, sizes))
}

/// The formula's terms compiled at the sizes, with the `free` output indices given and
/// the `inner` ones enumerated (see [`Compiled::new`]).
fn formula_compiled(
    model: &Model,
    sizes: &Env,
    shapes: &[Shape],
    free: &[String],
    inner: &[(String, Option<(i64, i64)>)],
) -> Result<Vec<Compiled>, CheckError> {
    let terms = model.formula.terms.iter().map(|t| Compiled::new(t, free, inner, sizes, shapes));
    terms.collect::<Result<Vec<_>, _>>().map_err(eval_err(model, sizes))
}

/// [`compiled_outputs`], with the loops running along the output's last axis innermost
/// (see [`Compiled::sums_along`]): the N-D runs' sums, whose kernels are short along
/// every axis.
pub(crate) fn compiled_outputs_along(
    model: &Model,
    sizes: &Env,
    ranges: &[(i64, i64)],
    shapes: &[Shape],
    data: &[&[f64]],
) -> Result<(Vec<f64>, f64), CheckError> {
    let Some((last, outer)) = model.output.indices.split_last() else {
        return compiled_outputs(model, sizes, ranges, shapes, data);
    };
    let inner = ranges[ranges.len() - 1];
    let terms = formula_compiled(model, sizes, shapes, outer, &[(last.clone(), Some(inner))])?;
    Compiled::sums_along(&terms, &ranges[..ranges.len() - 1], inner, data).map_err(eval_err(model, sizes))
}

/// What the formula's outputs and the engine's have shown.
pub(crate) struct OutputsFinding {
    /// Whether the shapes agree.
    pub same_shape: bool,
    /// Whether the shapes and every output agree.
    pub holds: bool,
    /// The shapes when they differ, else the outputs; hints when they disagree.
    pub findings: Vec<String>,
}

/// Compares the formula's outputs at sizes too large for tables (compiled, over the
/// domain `ranges`) with the engine's.
#[allow(clippy::too_many_arguments)]
pub(crate) fn compare_outputs(
    model: &Model,
    sizes: &Env,
    run: &Run,
    conv: &Conv,
    ranges: &[(i64, i64)],
    data: &BTreeMap<String, Array>,
    formula: &[f64],
    engine: &Array,
) -> Result<OutputsFinding, CheckError> {
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    let ours = engine_shape(lengths(ranges));
    let theirs: Vec<i64> = engine.shape.iter().map(|&d| d as i64).collect();
    let hints = || -> Result<Vec<String>, CheckError> {
        let flipped = with_flipped_kernel(data, &run.weight, 1);
        let shapes = shapes_of(run, x, w);
        let (f, _) = compiled_outputs(model, sizes, ranges, &shapes, &[&x.data, &flipped[&run.weight].data])?;
        Ok(hints(conv, (x, w), formula, &f, &engine.data))
    };
    if ours != theirs {
        let mut findings = vec![format!("the output has shape {ours:?} by the formula, {theirs:?} by the engine")];
        findings.extend(pad_hint(model, run, conv, sizes, data, engine)?);
        findings.extend(hints()?);
        return Ok(OutputsFinding { same_shape: false, holds: false, findings });
    }
    let bad = compare(formula, &engine.data)
        .map(|(first, count)| (count, tuple(first, ranges), formula[first], engine.data[first]));
    let holds = bad.is_none();
    let mut findings = vec![outputs_finding(model, &ours, formula.len(), bad)];
    if !holds {
        findings.extend(hints()?);
    }
    Ok(OutputsFinding { same_shape: true, holds, findings })
}

/// The values with the weight reversed along its last `spatial` axes.
pub(crate) fn with_flipped_kernel(
    data: &BTreeMap<String, Array>,
    weight: &str,
    spatial: usize,
) -> BTreeMap<String, Array> {
    let mut flipped = data.clone();
    if let Some(a) = flipped.get_mut(weight) {
        // Reversing every one of the last axes reverses each block of them, flattened.
        let block: usize = a.shape.iter().rev().take(spatial).product();
        for chunk in a.data.chunks_mut(block.max(1)) {
            chunk.reverse();
        }
    }
    flipped
}

/// The `pad` line that makes the formula's output shape and values the engine's, when
/// the run pads its input and the spec does not say so (or says otherwise): the run's own
/// padding, as written, on the input's last axis.
pub(crate) fn pad_hint(
    model: &Model,
    run: &Run,
    conv: &Conv,
    sizes: &Env,
    data: &BTreeMap<String, Array>,
    engine: &Array,
) -> Result<Option<String>, CheckError> {
    let Some(input) = model.tensor(&run.input) else { return Ok(None) };
    if conv.transposed || model.output.shape.is_some() || conv.padding == (0, 0) {
        return Ok(None);
    }
    let wanted = run_padding(run, conv);
    let current = input.pad.last().expect("a tensor has at least one axis");
    if *current == wanted {
        return Ok(None);
    }
    let mut padded = model.clone();
    for t in padded.tensors.iter_mut().filter(|t| t.name == run.input) {
        *t.pad.last_mut().expect("a tensor has at least one axis") = wanted.clone();
    }
    let Some(ranges) = crate::derive::domain::domain(&padded).ok().and_then(|d| d.at(sizes).ok()) else {
        return Ok(None);
    };
    let theirs: Vec<i64> = engine.shape.iter().map(|&d| d as i64).collect();
    if engine_shape(lengths(&ranges)) != theirs {
        return Ok(None);
    }
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    let shapes = shapes_of(run, x, w);
    let flipped = with_flipped_kernel(data, &run.weight, 1);
    let line = format!("pad {} ({}, {})", run.input, wanted.0, wanted.1);
    let change = match current.0.is_zero() && current.1.is_zero() {
        true => format!("add `{line}`"),
        false => format!("write `{line}` instead of `pad {} ({}, {})`", run.input, current.0, current.1),
    };
    let (f, _) = compiled_outputs(model, sizes, &ranges, &shapes, &[&x.data, &w.data])?;
    if f == engine.data {
        return Ok(Some(format!("hint: {change}: the run pads {}, and with that line the outputs agree", run.input)));
    }
    let (f, _) = compiled_outputs(model, sizes, &ranges, &shapes, &[&x.data, &flipped[&run.weight].data])?;
    Ok((f == engine.data).then(|| {
        let flip = if conv.flip { "drop flip(w)" } else { "use flip(w)" };
        format!("hint: {change} and {flip}: with both, the outputs agree")
    }))
}

/// The run's padding of its input as the spec's `pad` line would state it: the `padding`
/// argument as written (one value pads both sides), else the engine's numbers.
fn run_padding(run: &Run, conv: &Conv) -> (Index, Index) {
    match run.params.iter().find(|(n, _, _)| n == "padding").map(|(_, v, _)| v.as_slice()) {
        Some([both]) => (both.clone(), both.clone()),
        Some([a, b]) => (a.clone(), b.clone()),
        _ => (Index::constant(conv.padding.0 as i64), Index::constant(conv.padding.1 as i64)),
    }
}

/// The finding that all-ones weights cannot tell one weight from another, where the run
/// has them; `example` names two that they confuse, if any (` (w_0 from w_2)`).
pub(super) fn ones_finding(options: RunOptions, example: &str) -> Option<String> {
    (options.weights == Weights::Ones).then(|| {
        format!(
            "the weights are all ones, which cannot tell one weight from another{example}: \
             run with distinct weights to check the kernel's orientation"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::number;

    #[test]
    fn numbers_print_as_integers_or_exact_fractions_never_minus_zero() {
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(0.0), "0");
        // An empty f64 sum is -0.0, as a closed form's zero entry once was.
        assert_eq!(number(std::iter::empty::<f64>().sum()), "0");
        assert_eq!(number(-63.0), "-63");
        assert_eq!(number(9_007_199_254_740_992.0), "9007199254740992");
        assert_eq!(number(-0.75), "-3/4");
        assert_eq!(number(2.5), "5/2");
    }
}
