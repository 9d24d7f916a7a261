//! Runs of several spatial axes (`conv2d`, `conv3d` and their transposes) on the engine,
//! compared entry by entry at sizes with tables: the outputs with the formula's, both
//! Jacobians (found on unit inputs) with the closed forms'. The engine's call is an exact
//! composition where candle lacks the call, and the detail names it.

use super::common::{
    compare, compiled_outputs_along, numeric, ones_finding, outputs_finding, shapes_of, values, with_bias,
    with_flipped_kernel, OutputsFinding, RunOptions, RunReport,
};
use super::dense::{rows_finding, table_finding, RowsAt};
use crate::algebra::{Env, Index, IndexExt, Value};
use crate::check::brute::{element_count, lengths, tuple, tuples};
use crate::check::error::{eval_err, named, shown_sizes, CheckError};
use crate::check::tables::Table;
use crate::derive::Derivation;
use crate::engine::nd::ConvNd;
use crate::engine::Array;
use crate::limits::Limits;
use crate::model::{Model, Run};
use crate::ops::{self, Axis};
use std::collections::BTreeMap;

/// Runs one `run` line of several spatial axes and compares its output shape, its
/// outputs (the formula's `expansions`) and both Jacobians (the closed forms' `tables`).
pub(super) fn run(
    model: &Model,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
    expansions: &[Value],
    tables: &[Table],
    limits: &Limits,
) -> Result<RunReport, CheckError> {
    let report = |holds, findings: Vec<String>| Ok(RunReport { text: run.text.clone(), holds: Some(holds), findings });
    let at = format!("at {} with seed {}", shown_sizes(model, sizes), options.seed);
    let conv = conv_nd_of(model, run, sizes)?;
    let d = conv.stride.len();
    let data = values(model, sizes, options);
    let (x, w) = (laid_out(&data[&run.input], d, 1), laid_out(&data[&run.weight], d, 2));
    let theirs = conv.output_shape(&x.shape, &w.shape);
    // Each Jacobian is found by one forward pass per element of its tensor.
    let outputs: usize = theirs.iter().product();
    let held = outputs.saturating_mul(x.data.len().saturating_add(w.data.len()).saturating_add(1));
    if held as u64 > limits.run_values {
        return Err(CheckError::RunLimit {
            span: run.span,
            message: format!(
                "at {} this run's Jacobians would hold {held} values in the engine, more than the limit of {}",
                shown_sizes(model, sizes),
                limits.run_values
            ),
        });
    }
    let ours: Vec<i64> = tables.first().map(|t| t.output_shape.clone()).unwrap_or_default();
    let ours_laid_out: Vec<i64> = laid_out_shape(&ours, d, 1).into_iter().map(|v| v as i64).collect();
    let theirs_i64: Vec<i64> = theirs.iter().map(|&v| v as i64).collect();
    if ours_laid_out != theirs_i64 {
        let finding = format!("the output has shape {ours_laid_out:?} by the formula, {theirs_i64:?} by the engine");
        return report(false, vec![at, finding]);
    }
    let (convolved, compositions) = conv.forward(&x, &w)?;
    let (output, by_bias) = with_bias(run, &data, convolved.clone())?;
    let formula: Vec<f64> = expansions.iter().map(|v| numeric(v, &data)).collect();
    let bad = compare(&formula, &output.data).map(|(first, count)| {
        let row = tables.first().map(|t| t.rows[first].clone()).unwrap_or_default();
        (count, row, formula[first], output.data[first])
    });
    let mut holds = bad.is_none();
    let mut parts = vec![at, outputs_finding(model, &ours, formula.len(), bad)];
    // A flipped kernel: the formula with w reversed along every spatial axis agrees.
    let flipped = with_flipped_kernel(&data, &run.weight, d);
    if !holds && expansions.iter().map(|v| numeric(v, &flipped)).eq(output.data.iter().copied()) {
        parts.push(match run.flip {
            true => "hint: the formula is a cross-correlation, but the run flips the kernel: drop flip(w)".into(),
            false => {
                format!("hint: the formula is a true convolution, {} a cross-correlation: use flip(w)", run.op.name())
            }
        });
    }
    parts.push(composition_finding(run, &compositions));
    let jacobians = [(&run.input, conv.jacobian_x(&x, &w)?), (&run.weight, conv.jacobian_w(&x, &w)?)];
    parts.push(autograd_finding(&conv, &x, &w, &convolved, [&jacobians[0].1, &jacobians[1].1]));
    let bias = run.bias.iter().zip(by_bias).map(|(b, j)| (b, j, "by autograd through the bias's addition"));
    for (tensor, jacobian, how) in jacobians.into_iter().map(|(t, j)| (t, j, "on unit inputs")).chain(bias) {
        let Some(t) = tables.iter().find(|t| t.wrt == *tensor) else { continue };
        let closed: Vec<f64> = t.entries.iter().flatten().map(|v| numeric(v, &data)).collect();
        let (agrees, finding) = table_finding(t, &closed, &jacobian.data, how);
        holds &= agrees;
        parts.push(finding);
    }
    parts.extend(ones_finding(options, ""));
    report(holds, parts)
}

/// What candle's own autograd gives for `v` = the output (distinct values): `vᵀJ` of the
/// Jacobians found on unit inputs, or where it differs, or how it fails. The Jacobians
/// never come from it: candle's conv2d backward takes output_padding from the height alone
/// and fails where the width needs another.
fn autograd_finding(conv: &ConvNd, x: &Array, w: &Array, v: &Array, jacobians: [&Array; 2]) -> String {
    let pulled = match conv.autograd(x, w, v) {
        Err(e) => {
            return format!("candle's own backward does not run here ({e}): the Jacobians come from forward passes")
        }
        Ok((gx, gw)) => [gx, gw],
    };
    let vt_j = |j: &Array| -> Vec<f64> {
        let cols = j.shape.get(1).copied().unwrap_or(0);
        (0..cols).map(|c| v.data.iter().enumerate().map(|(r, vr)| vr * j.data[r * cols + c]).sum()).collect()
    };
    match pulled.iter().zip(jacobians).all(|(p, j)| p.data == vt_j(j)) {
        true => "candle's autograd vᵀJ agrees with both Jacobians".into(),
        false => "candle's autograd vᵀJ differs from the Jacobians found on unit inputs".into(),
    }
}

/// Runs one `run` line of several spatial axes at sizes too large for tables, as
/// [`super::large`] runs a 1-D one: every entry row by row (see [`by_rows`]) while the
/// entries to compare stay within
/// [`Limits::compared_entries`](crate::limits::Limits::compared_entries) (or when asked,
/// [`Limits::every_entry`](crate::limits::Limits::every_entry)), Freivalds' check beyond
/// (or when asked). Sizes past the limits of values and entries a run may have are
/// refused, never cut down.
pub(super) fn large(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
) -> Result<RunReport, CheckError> {
    let limits = &derivation.limits;
    let conv = conv_nd_of(model, run, sizes)?;
    let d = conv.stride.len();
    let shape = |name: &str, channels| laid_out_shape(&model.shape_at(name, sizes).unwrap_or_default(), d, channels);
    let (x, w) = (shape(&run.input, 1), shape(&run.weight, 2));
    let outputs = element_count(&lengths(&derivation.domain.at(sizes).map_err(eval_err(model, sizes))?));
    let count = |s: &[usize]| s.iter().fold(1u64, |p, &v| p.saturating_mul(v as u64));
    let held = count(&x).saturating_add(count(&w)).saturating_add(outputs);
    super::within_values(model, run, sizes, held, limits)?;
    let refused = |what: String| Err(super::refusal(model, run, sizes, what));
    let footprint = conv.footprint(&x, &w);
    if footprint > limits.run_values {
        return refused(format!(
            "would hold {footprint} values in the engine (its padded input and its output), more than the limit of {}",
            limits.run_values
        ));
    }
    // An output reads C/G channels by the kernel's positions of the input, and as many weights.
    let field = (x[1] / conv.groups.max(1)) as u64 * count(&w[2..]);
    let entries = outputs.saturating_mul(field.saturating_mul(2));
    let every_entry = match super::every_entry(entries, limits, options) {
        Ok(every_entry) => every_entry,
        Err(why) => return refused(why),
    };
    match every_entry {
        true => by_rows(model, derivation, run, sizes, options, &conv),
        false => super::freivalds::run_nd(model, derivation, run, sizes, options, &conv),
    }
}

/// Runs one `run` line of several spatial axes without tables, comparing every entry:
/// the outputs with the formula compiled at the sizes, and every entry of both
/// Jacobians row by row with the closed forms compiled (see [`rows_finding`]). The
/// engine's Jacobians are found by forward passes: `∂s/∂x` compressed, several inputs
/// whose fields do not meet probed at once ([`ConvNd::jacobian_x_rows`]), `∂s/∂w` on
/// unit weights, each output channel's own ones at once ([`ConvNd::jacobian_w_rows`]).
fn by_rows(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
    conv: &ConvNd,
) -> Result<RunReport, CheckError> {
    let report = |holds, findings: Vec<String>| Ok(RunReport { text: run.text.clone(), holds: Some(holds), findings });
    let NdRun { at, d, data, xl, wl, ranges } = NdRun::new(model, derivation, run, sizes, options, conv)?;
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    let (output, compositions) = conv.forward(&xl, &wl)?;
    let outputs = compare_outputs_nd(model, sizes, run, d, &ranges, &data, (None, &output))?;
    let (mut holds, mut parts) = (outputs.holds, [vec![at], outputs.findings].concat());
    parts.push(composition_finding(run, &compositions));
    if !outputs.same_shape {
        return report(false, parts);
    }
    let rows = tuples(&ranges);
    let shapes = shapes_of(run, x, w);
    let slices = [x.data.as_slice(), w.data.as_slice()];
    let jx = conv.jacobian_x_rows(&xl, &wl, derivation.limits.run_values as usize)?;
    let (jw, passes) = conv.jacobian_w_rows(&xl, &wl)?;
    let how_x = format!(
        "by {} on {} probes, each the sum of unit inputs that no output reads two of",
        forward_passes(jx.calls),
        jx.probes
    );
    let how_w = format!("on unit weights, {}", forward_passes(passes));
    let by_rows = RowsAt { rows: &rows, shapes: &shapes, slices: &slices };
    // Each Jacobian compared on a core of its own.
    let findings = std::thread::scope(|scope| {
        let weight = scope.spawn(|| rows_finding(model, derivation, sizes, &run.weight, &by_rows, &jw, &how_w));
        let input = rows_finding(model, derivation, sizes, &run.input, &by_rows, &jx.rows, &how_x);
        let weight = weight.join().map_err(|_| CheckError::Bug("the weight's comparison panicked".into()));
        [input, weight.and_then(|w| w)]
    });
    for found in findings {
        let (agrees, finding) = found?;
        holds &= agrees;
        parts.push(finding);
    }
    if let Some((r, count)) = jx.stray {
        holds = false;
        let place = named(model.output.indices.iter().zip(&rows[r]));
        parts.push(format!(
            "the engine's output at {place} took {count} values on the probes from inputs it does not read by \
             the call's parameters: its ∂s/∂x is not the call's, and the entries above may be wrong"
        ));
    }
    parts.extend(ones_finding(options, ""));
    report(holds, parts)
}

/// What an N-D run's checks past table sizes start from.
pub(super) struct NdRun {
    /// `at SIZES with seed N`, for the findings.
    pub at: String,
    /// How many spatial axes.
    pub d: usize,
    /// The tensors' values, in the spec's layout.
    pub data: BTreeMap<String, Array>,
    /// The input and the weight in the engine's layout.
    pub xl: Array,
    pub wl: Array,
    /// The output domain.
    pub ranges: Vec<(i64, i64)>,
}

impl NdRun {
    /// The values of the run's tensors at `sizes`, drawn from the seed, and the domain.
    pub(super) fn new(
        model: &Model,
        derivation: &Derivation,
        run: &Run,
        sizes: &Env,
        options: RunOptions,
        conv: &ConvNd,
    ) -> Result<NdRun, CheckError> {
        let d = conv.stride.len();
        let data = values(model, sizes, options);
        let (xl, wl) = (laid_out(&data[&run.input], d, 1), laid_out(&data[&run.weight], d, 2));
        let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
        let at = format!("at {} with seed {}", shown_sizes(model, sizes), options.seed);
        Ok(NdRun { at, d, data, xl, wl, ranges })
    }
}

/// `one forward pass`, `12 forward passes`.
fn forward_passes(count: usize) -> String {
    match count {
        1 => "one forward pass".into(),
        _ => format!("{count} forward passes"),
    }
}

/// What the engine ran: one call, or the compositions.
pub(super) fn composition_finding(run: &Run, compositions: &[&str]) -> String {
    let how = match compositions {
        [] => format!("one candle {} call", run.op.name()),
        steps => format!("candle by {}", steps.join(", ")),
    };
    format!("the engine ran {} as {how}", run.op.name())
}

/// Compares the formula's outputs at sizes too large for tables (compiled over the
/// domain `ranges`, unless given) with the engine's `[1, O, *out]`: the shapes, then every output, with
/// a hint where the formula with the kernel flipped along every spatial axis agrees.
pub(super) fn compare_outputs_nd(
    model: &Model,
    sizes: &Env,
    run: &Run,
    d: usize,
    ranges: &[(i64, i64)],
    data: &BTreeMap<String, Array>,
    (formula, engine): (Option<&[f64]>, &Array),
) -> Result<OutputsFinding, CheckError> {
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    let ours: Vec<i64> = laid_out_shape(&lengths(ranges), d, 1).into_iter().map(|v| v as i64).collect();
    let theirs: Vec<i64> = engine.shape.iter().map(|&v| v as i64).collect();
    if ours != theirs {
        let finding = format!("the output has shape {ours:?} by the formula, {theirs:?} by the engine");
        return Ok(OutputsFinding { same_shape: false, holds: false, findings: vec![finding] });
    }
    let shapes = shapes_of(run, x, w);
    let formula = match formula {
        Some(formula) => formula.to_vec(),
        None => compiled_outputs_along(model, sizes, ranges, &shapes, &[&x.data, &w.data])?.0,
    };
    let bad = compare(&formula, &engine.data)
        .map(|(first, count)| (count, tuple(first, ranges), formula[first], engine.data[first]));
    let holds = bad.is_none();
    let mut findings = vec![outputs_finding(model, &lengths(ranges), formula.len(), bad)];
    if !holds {
        let flipped = with_flipped_kernel(data, &run.weight, d);
        let (f, _) = compiled_outputs_along(model, sizes, ranges, &shapes, &[&x.data, &flipped[&run.weight].data])?;
        if f == engine.data {
            findings.push(match run.flip {
                true => "hint: the formula is a cross-correlation, but the run flips the kernel: drop flip(w)".into(),
                false => format!(
                    "hint: the formula is a true convolution, {} a cross-correlation: use flip(w)",
                    run.op.name()
                ),
            });
        }
    }
    Ok(OutputsFinding { same_shape: true, holds, findings })
}

/// The engine's call for a run line at the sizes.
pub(super) fn conv_nd_of(model: &Model, run: &Run, sizes: &Env) -> Result<ConvNd, CheckError> {
    let (axes, groups) = ops::axes_of_run(run);
    conv_nd(run.op.transposed(), &axes, &groups, run.flip, sizes)
        .map_err(|why| CheckError::Sizes(format!("at {}: {why}", shown_sizes(model, sizes))))
}

/// A call of several spatial axes at concrete sizes; `Err` names a parameter that is no
/// count there.
pub(crate) fn conv_nd(
    transposed: bool,
    axes: &[Axis],
    groups: &Index,
    flip: bool,
    sizes: &Env,
) -> Result<ConvNd, String> {
    let at = |p: &Index| -> Result<usize, String> {
        let v = p.eval(sizes).map_err(|e| e.to_string())?;
        usize::try_from(v).map_err(|_| format!("{p} is {v} at these sizes"))
    };
    Ok(ConvNd {
        transposed,
        stride: axes.iter().map(|a| at(&a.stride)).collect::<Result<_, _>>()?,
        padding: axes.iter().map(|a| Ok((at(&a.padding.0)?, at(&a.padding.1)?))).collect::<Result<_, String>>()?,
        output_padding: axes.iter().map(|a| at(&a.output_padding)).collect::<Result<_, _>>()?,
        dilation: axes.iter().map(|a| at(&a.dilation)).collect::<Result<_, _>>()?,
        groups: at(groups)?,
        flip,
    })
}

/// A tensor in the engine's layout for `d` spatial axes: the batch of 1 in front, and a
/// tensor of spatial axes only with `channels` axes of 1 before them (an input `[H, V]` is
/// `[1, 1, H, V]`, a weight `[P, Q]` is `[1, 1, P, Q]`; an input `[C, H, V]` is
/// `[1, C, H, V]`).
pub(super) fn laid_out(a: &Array, d: usize, channels: usize) -> Array {
    let shape = laid_out_shape(&a.shape.iter().map(|&v| v as i64).collect::<Vec<_>>(), d, channels);
    Array { shape, data: a.data.clone() }
}

/// The shape of [`laid_out`]: an input's (`channels` 1) or output's gets the batch axis,
/// a weight's (`channels` 2) does not.
pub(super) fn laid_out_shape(shape: &[i64], d: usize, channels: usize) -> Vec<usize> {
    let dims: Vec<usize> = shape.iter().map(|&v| v.max(0) as usize).collect();
    let padded = match dims.len() == d {
        true => [vec![1; channels], dims].concat(),
        false => dims,
    };
    match channels {
        1 => [vec![1], padded].concat(),
        _ => padded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_are_laid_out_as_pytorch_takes_them() {
        assert_eq!(laid_out_shape(&[5, 6], 2, 1), [1, 1, 5, 6]);
        assert_eq!(laid_out_shape(&[3, 5, 6], 2, 1), [1, 3, 5, 6]);
        assert_eq!(laid_out_shape(&[2, 3], 2, 2), [1, 1, 2, 3]);
        assert_eq!(laid_out_shape(&[4, 3, 2, 3], 2, 2), [4, 3, 2, 3]);
        assert_eq!(laid_out_shape(&[2, 3, 4], 3, 1), [1, 1, 2, 3, 4]);
    }
}
