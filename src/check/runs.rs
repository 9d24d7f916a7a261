//! Runs: each `run` line on the engine, at the spec's sizes, against the formula's outputs
//! and the derived Jacobians, with hints where a known convention explains a disagreement.

use super::{eval_err, shown_sizes, CheckError, RunReport, Table};
use crate::algebra::compiled::{Compiled, Shape};
use crate::algebra::{Env, IndexExt, Value};
use crate::derive::Derivation;
use crate::engine::{Array, Conv, Method};
use crate::model::{Model, Role, Run, RunOp};
use std::collections::BTreeMap;

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
    /// Every entry while the engine's Jacobians stay below [`ENTRY_LIMIT`] entries that
    /// can be nonzero, Freivalds' check beyond.
    Auto,
    /// Every entry, however many.
    EveryEntry,
    /// Freivalds' check, at any size.
    Freivalds,
}

/// How many entries of the engine's Jacobians that can be nonzero (an output's receptive
/// field, and every weight) are compared one by one at most, under [`JacobianCheck::Auto`]:
/// about 64 MB of them held at once.
pub const ENTRY_LIMIT: u64 = 4_000_000;

/// How many values a run's input, weight and output may hold together (the engine and
/// the checks hold a few arrays of each size): n = 10⁶ fits eight times over.
pub const RUN_LIMIT: u64 = 1 << 24;

/// How many entries that can be nonzero the row-by-row check holds at most when asked
/// for every entry (`--jacobians every-entry`): about 2 GB of them.
pub const ROWS_LIMIT: u64 = 1 << 27;

/// How many entries that can be nonzero a run's Jacobians may have at sizes too large
/// for tables: each check goes through all of them, a few nanoseconds each.
pub const WORK_LIMIT: u64 = 1 << 30;

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
    let mut state = options.seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        state >> 33
    };
    let mut pool: Vec<f64> = (1..=total).map(|v| v as f64).collect();
    for i in (1..pool.len()).rev() {
        pool.swap(i, next() as usize % (i + 1));
    }
    for v in &mut pool {
        if next() % 2 == 1 {
            *v = -*v;
        }
    }
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

/// The engine's view of a run: its parameters at the sizes.
pub fn conv_of(model: &Model, run: &Run, sizes: &Env) -> Result<Conv, CheckError> {
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
        transposed: run.op == RunOp::ConvTranspose1d,
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
    if held > RUN_LIMIT {
        return Err(CheckError::RunLimit {
            span: run.span,
            message: format!(
                "at {} this run would hold {held} values in the engine (its padded input and its output), \
                 more than the limit of {RUN_LIMIT}",
                shown_sizes(model, sizes)
            ),
        });
    }
    Ok(conv)
}

/// A tensor in the engine's layout: an input `[n]` is `[1, n]`, a weight `[k]` is `[1, 1, k]`.
pub(super) fn layout(a: &Array, weight: bool) -> Array {
    Array { shape: layout_shape(&a.shape, weight), data: a.data.clone() }
}

/// The shape of a tensor in the engine's layout (see [`layout`]).
fn layout_shape(shape: &[usize], weight: bool) -> Vec<usize> {
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
fn run_laid_out(conv: &Conv, x: &Array, w: &Array) -> Result<EngineRun, CheckError> {
    let output = conv.forward(x, w)?;
    let (jacobian_x, method_x) = conv.jacobian_x(x, w)?;
    let jacobian_w = conv.jacobian_w(x, w)?;
    Ok(EngineRun { output, jacobian_x, method_x, jacobian_w })
}

/// An exact value at concrete tensor values.
fn numeric(v: &Value, data: &BTreeMap<String, Array>) -> f64 {
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

/// The row-major tuple of a flat position in a box of inclusive ranges.
pub(super) fn tuple(mut flat: usize, ranges: &[(i64, i64)]) -> Vec<i64> {
    let mut out = vec![0; ranges.len()];
    for (axis, &(lo, hi)) in ranges.iter().enumerate().rev() {
        let len = hi.saturating_sub(lo).saturating_add(1).max(1) as usize;
        out[axis] = lo + (flat % len) as i64;
        flat /= len;
    }
    out
}

/// The first disagreement of two lists of numbers and how many there are.
pub(super) fn compare(ours: &[f64], engine: &[f64]) -> Option<(usize, usize)> {
    let bad: Vec<usize> = (0..ours.len()).filter(|&i| ours[i] != engine[i]).collect();
    bad.first().map(|&first| (first, bad.len()))
}

/// How the engine found `∂s/∂x`.
fn how(method: Method) -> &'static str {
    match method {
        Method::Autograd => "by autograd",
        Method::UnitInputs => "on unit inputs: candle has no backward for conv_transpose1d",
    }
}

/// The lengths of a box of inclusive ranges (0 where empty).
pub(super) fn lengths(ranges: &[(i64, i64)]) -> Vec<i64> {
    ranges.iter().map(|(lo, hi)| hi.saturating_sub(*lo).saturating_add(1).max(0)).collect()
}

/// The formula's output lengths as the engine shapes its output: `[O, L]`, with one
/// output channel for a 1-D output.
pub(super) fn engine_shape(mut lengths: Vec<i64>) -> Vec<i64> {
    if lengths.len() == 1 {
        lengths.insert(0, 1);
    }
    lengths
}

/// The finding on the outputs: all agree, or how many of `total` disagree, with the first
/// as (count, output index, the formula's value, the engine's).
pub(super) fn outputs_finding(
    model: &Model,
    shape: &[i64],
    total: usize,
    bad: Option<(usize, Vec<i64>, f64, f64)>,
) -> String {
    match bad {
        None => format!("output shape {shape:?} and all {total} outputs agree"),
        Some((count, at, ours, theirs)) => format!(
            "{count} of {total} outputs disagree, first {}{at:?}: the formula gives {ours}, the engine {theirs}",
            model.output.name
        ),
    }
}

/// The report of a run that cannot be executed: the formula reads more tensors than the
/// run's input and weight.
pub(super) fn not_executed(model: &Model, run: &Run) -> Option<RunReport> {
    (model.tensors.len() != 2).then(|| RunReport {
        text: run.text.clone(),
        holds: None,
        findings: vec!["not executed: the formula has more tensors than the run's input and weight".into()],
    })
}

/// Runs one `run` line and compares: output length, outputs (the formula's exact
/// `expansions` over the domain) and both Jacobians (the closed forms' `tables`).
pub fn run(
    model: &Model,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
    expansions: &[Value],
    tables: &[Table],
) -> Result<RunReport, CheckError> {
    let report = |holds, findings: Vec<String>| Ok(RunReport { text: run.text.clone(), holds: Some(holds), findings });
    let at = format!("at {} with seed {}", shown_sizes(model, sizes), options.seed);
    if let Some(report) = not_executed(model, run) {
        return Ok(report);
    }
    let conv = conv_of(model, run, sizes)?;
    let data = values(model, sizes, options);
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    // Lengths: the engine's [O, L] against the domain (one output channel for a 1-D output),
    // before the engine's Jacobians, which are as large as the engine's output.
    let ours = engine_shape(tables.first().map(|t| t.output_shape.clone()).unwrap_or_default());
    let (xl, wl) = (layout(x, false), layout(w, true));
    let theirs: Vec<i64> = conv.output_shape(&xl, &wl).iter().map(|&d| d as i64).collect();
    let formula: Vec<f64> = expansions.iter().map(|v| numeric(v, &data)).collect();
    let hints = |engine: &[f64]| {
        let flipped = with_flipped_kernel(&data, &run.weight);
        let flipped: Vec<f64> = expansions.iter().map(|v| numeric(v, &flipped)).collect();
        hints(&conv, (x, w), &formula, &flipped, engine)
    };
    if ours != theirs {
        let output = conv.forward(&xl, &wl)?;
        let mut findings = vec![at, format!("the output has shape {ours:?} by the formula, {theirs:?} by the engine")];
        findings.extend(hints(&output.data));
        return report(false, findings);
    }
    let engine = run_laid_out(&conv, &xl, &wl)?;
    // Each part: the outputs, then ∂s/∂x and ∂s/∂w; what agrees and what does not.
    let bad = compare(&formula, &engine.output.data).map(|(first, count)| {
        let row = tables.first().map(|t| t.rows[first].clone()).unwrap_or_default();
        (count, row, formula[first], engine.output.data[first])
    });
    let mut holds = bad.is_none();
    let mut parts = vec![at, outputs_finding(model, &ours, formula.len(), bad)];
    if !holds {
        parts.extend(hints(&engine.output.data));
    }
    let how_x = how(engine.method_x);
    for (tensor, jacobian, how) in
        [(&run.input, &engine.jacobian_x, how_x), (&run.weight, &engine.jacobian_w, "on unit weights")]
    {
        let Some(t) = tables.iter().find(|t| t.wrt == *tensor) else { continue };
        let ours: Vec<f64> = t.entries.iter().flatten().map(|v| numeric(v, &data)).collect();
        match compare(&ours, &jacobian.data) {
            None => parts.push(format!("all {} entries of {} agree (engine {how})", ours.len(), t.title)),
            Some((first, count)) => {
                holds = false;
                let (r, c) = (first / t.cols.len(), first % t.cols.len());
                let (out, wrt) = &t.index_names;
                let place: Vec<String> = out
                    .iter()
                    .zip(&t.rows[r])
                    .chain(wrt.iter().zip(&t.cols[c]))
                    .map(|(n, v)| format!("{n} = {v}"))
                    .collect();
                parts.push(format!(
                    "{count} of {} entries of {} disagree (engine {how}), first at {}: the closed form gives {}, the engine {}",
                    ours.len(),
                    t.title,
                    place.join(", "),
                    ours[first],
                    jacobian.data[first]
                ));
            }
        }
    }
    if options.weights == Weights::Ones {
        parts.push(
            "the weights are all ones, which cannot tell one weight from another (w_0 from w_2): \
             run with distinct weights to check the kernel's orientation"
                .into(),
        );
    }
    report(holds, parts)
}

/// What known conventions explain a disagreement of the outputs, one hint each: the
/// formula's outputs, the formula's with the kernel flipped, and the engine's.
pub(super) fn hints(
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
pub(super) struct Setup {
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
pub(super) fn setup(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
) -> Result<Setup, CheckError> {
    let at = format!("at {} with seed {}", shown_sizes(model, sizes), options.seed);
    let conv = conv_of(model, run, sizes)?;
    let data = values(model, sizes, options);
    let (xl, wl) = (layout(&data[&run.input], false), layout(&data[&run.weight], true));
    let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
    Ok(Setup { at, conv, data, xl, wl, ranges })
}

/// The run's input and weight as compiled terms address them.
pub(super) fn shapes_of(run: &Run, x: &Array, w: &Array) -> Vec<Shape> {
    [(&run.input, x), (&run.weight, w)]
        .iter()
        .map(|(name, a)| Shape { name: (*name).clone(), dims: a.shape.iter().map(|&d| d as i64).collect() })
        .collect()
}

/// The formula's outputs over the domain `ranges`, compiled at the sizes, and a bound on
/// the sums of absolute values (see [`Compiled::sums`]).
pub(super) fn compiled_outputs(
    model: &Model,
    sizes: &Env,
    ranges: &[(i64, i64)],
    shapes: &[Shape],
    data: &[&[f64]],
) -> Result<(Vec<f64>, f64), CheckError> {
    let err = eval_err(model, sizes);
    let terms = model
        .formula
        .terms
        .iter()
        .map(|t| Compiled::new(t, &model.output.indices, &[], sizes, shapes))
        .collect::<Result<Vec<_>, _>>()
        .map_err(&err)?;
    Compiled::sums(&terms, ranges, data).map_err(err)
}

/// What the formula's outputs and the engine's have shown.
pub(super) struct OutputsFinding {
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
pub(super) fn compare_outputs(
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
        let flipped = with_flipped_kernel(data, &run.weight);
        let shapes = shapes_of(run, x, w);
        let (f, _) = compiled_outputs(model, sizes, ranges, &shapes, &[&x.data, &flipped[&run.weight].data])?;
        Ok(hints(conv, (x, w), formula, &f, &engine.data))
    };
    if ours != theirs {
        let mut findings = vec![format!("the output has shape {ours:?} by the formula, {theirs:?} by the engine")];
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

/// The values with the weight reversed along its last axis.
pub(super) fn with_flipped_kernel(data: &BTreeMap<String, Array>, weight: &str) -> BTreeMap<String, Array> {
    let mut flipped = data.clone();
    if let Some(a) = flipped.get_mut(weight) {
        let k = *a.shape.last().unwrap_or(&1);
        for chunk in a.data.chunks_mut(k.max(1)) {
            chunk.reverse();
        }
    }
    flipped
}

/// Runs one `run` line at sizes too large for dense tables: row by row (see
/// [`run_by_rows`]) while the entries to compare stay below [`ENTRY_LIMIT`] (or when
/// asked, up to [`ROWS_LIMIT`]), Freivalds' check beyond (or when asked). Sizes past
/// [`RUN_LIMIT`] or [`WORK_LIMIT`] are refused.
pub fn run_large(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
) -> Result<RunReport, CheckError> {
    if let Some(report) = not_executed(model, run) {
        return Ok(report);
    }
    let err = eval_err(model, sizes);
    let count = |dims: &[i64]| dims.iter().fold(1u64, |p, &d| p.saturating_mul(d.max(0) as u64));
    let (x, w) =
        (model.shape_at(&run.input, sizes).unwrap_or_default(), model.shape_at(&run.weight, sizes).unwrap_or_default());
    let outputs = count(&lengths(&derivation.domain.at(sizes).map_err(&err)?));
    let held = count(&x).saturating_add(count(&w)).saturating_add(outputs);
    let limit = |what: String| {
        Err(CheckError::RunLimit {
            span: run.span,
            message: format!("at {} this run {what}", shown_sizes(model, sizes)),
        })
    };
    if held > RUN_LIMIT {
        return limit(format!(
            "would hold {held} values in its input, weight and output, more than the limit of {RUN_LIMIT}"
        ));
    }
    // An output reads a receptive field of C/G channels by k positions, and every weight.
    let conv = conv_of(model, run, sizes)?;
    let channels = if x.len() > 1 { x[0] as u64 } else { 1 } / conv.groups.max(1) as u64;
    let field = channels.max(1).saturating_mul(*w.last().unwrap_or(&1) as u64);
    let entries = outputs.saturating_mul(field.saturating_add(count(&w)));
    if entries > WORK_LIMIT {
        return limit(format!(
            "has Jacobians with {entries} entries that can be nonzero, more than the limit of {WORK_LIMIT} \
             that a check may go through"
        ));
    }
    if options.jacobians == JacobianCheck::EveryEntry && entries > ROWS_LIMIT {
        return limit(format!(
            "has Jacobians with {entries} entries that can be nonzero, more than the {ROWS_LIMIT} that fit in \
             memory row by row (--jacobians every-entry); Freivalds' check (auto) needs none of them"
        ));
    }
    let by_rows = match options.jacobians {
        JacobianCheck::EveryEntry => true,
        JacobianCheck::Freivalds => false,
        JacobianCheck::Auto => entries <= ENTRY_LIMIT,
    };
    if by_rows {
        run_by_rows(model, derivation, run, sizes, options)
    } else {
        super::freivalds::run(model, derivation, run, sizes, options)
    }
}

/// Runs one `run` line without tables: the outputs and every entry of `∂s/∂x` and
/// `∂s/∂w` are compared row by row over each row's nonzero entries (the closed forms
/// compiled, the engine's Jacobian sparse).
fn run_by_rows(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
) -> Result<RunReport, CheckError> {
    // Only `run_large` calls this, after checking the run can be executed.
    let err = eval_err(model, sizes);
    let Setup { at, conv, data, xl, wl, ranges } = setup(model, derivation, run, sizes, options)?;
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    let output = conv.forward(&xl, &wl)?;
    let shapes = shapes_of(run, x, w);
    let slices = [x.data.as_slice(), w.data.as_slice()];
    let (formula, _) = compiled_outputs(model, sizes, &ranges, &shapes, &slices)?;
    let outputs = compare_outputs(model, sizes, run, &conv, &ranges, &data, &formula, &output)?;
    let (mut holds, mut parts) = (outputs.holds, [vec![at], outputs.findings].concat());
    let report = |holds, findings: Vec<String>| Ok(RunReport { text: run.text.clone(), holds: Some(holds), findings });
    if !outputs.same_shape {
        return report(false, parts);
    }
    let rows = super::tuples(&ranges);
    let free = &model.output.indices;
    // Each Jacobian, row by row: the closed form's nonzero entries against the engine's.
    let (rows_x, method) = conv.jacobian_x_rows(&xl, &wl)?;
    let jw = conv.jacobian_w(&xl, &wl)?;
    let dense_w: Vec<Vec<(usize, f64)>> = jw
        .data
        .chunks(w.data.len().max(1))
        .map(|row| row.iter().copied().enumerate().filter(|&(_, v)| v != 0.0).collect())
        .collect();
    let how_x = how(method);
    for (tensor, engine_rows, how) in [(&run.input, &rows_x, how_x), (&run.weight, &dense_w, "on unit weights")] {
        let d = derivation.derivatives.iter().find(|d| d.wrt == *tensor).expect("runs name declared tensors");
        let dims: Vec<i64> = data[tensor].shape.iter().map(|&v| v as i64).collect();
        let enumerated: Vec<(String, Option<(i64, i64)>)> =
            d.wrt_indices.iter().zip(&dims).map(|(n, &len)| (n.clone(), Some((0, len - 1)))).collect();
        let closed = d
            .closed_form
            .terms
            .iter()
            .map(|t| Compiled::new(t, free, &enumerated, sizes, &shapes))
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        let (mut entries, mut count, mut first) = (0usize, 0usize, None);
        for (r, row) in rows.iter().enumerate() {
            let mut ours: Vec<(usize, f64)> = Vec::new();
            for t in &closed {
                t.for_each(row, &slices, &mut |vals, v| {
                    let col = vals[free.len()..].iter().zip(&dims).fold(0i64, |f, (&i, &d)| f * d + i) as usize;
                    ours.push((col, v));
                })
                .map_err(&err)?;
            }
            ours.sort_by_key(|&(c, _)| c);
            ours.dedup_by(|b, a| {
                let same = a.0 == b.0;
                if same {
                    a.1 += b.1;
                }
                same
            });
            let theirs: Vec<(usize, f64)> = engine_rows[r].iter().copied().filter(|&(_, v)| v != 0.0).collect();
            let ours: Vec<(usize, f64)> = ours.into_iter().filter(|&(_, v)| v != 0.0).collect();
            entries += ours.len().max(theirs.len());
            if ours != theirs {
                let (mut i, mut j) = (0, 0);
                while i < ours.len() || j < theirs.len() {
                    let (a, b) = (ours.get(i).copied(), theirs.get(j).copied());
                    let (col, x_ours, x_theirs) = match (a, b) {
                        (Some(a), Some(b)) if a.0 == b.0 => {
                            i += 1;
                            j += 1;
                            (a.0, a.1, b.1)
                        }
                        (Some(a), Some(b)) if a.0 < b.0 => {
                            i += 1;
                            (a.0, a.1, 0.0)
                        }
                        (Some(a), None) => {
                            i += 1;
                            (a.0, a.1, 0.0)
                        }
                        (_, Some(b)) => {
                            j += 1;
                            (b.0, 0.0, b.1)
                        }
                        (None, None) => break,
                    };
                    if x_ours != x_theirs {
                        count += 1;
                        first.get_or_insert((r, col, x_ours, x_theirs));
                    }
                }
            }
        }
        let total = rows.len() * data[tensor].data.len();
        let title = d.name(model);
        match first {
            None => parts.push(format!(
                "all {total} entries of {title} agree (engine {how}), compared row by row over the {entries} that are not 0"
            )),
            Some((r, col, a, b)) => {
                holds = false;
                parts.push(format!(
                    "{count} of {total} entries of {title} disagree (engine {how}), first at row {:?}, column {col}: the closed form gives {a}, the engine {b}",
                    rows[r]
                ));
            }
        }
    }
    report(holds, parts)
}
