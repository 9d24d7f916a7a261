//! Runs of several spatial axes (`conv2d`, `conv3d` and their transposes) on the engine,
//! compared entry by entry at sizes with tables: the outputs with the formula's, both
//! Jacobians (found on unit inputs) with the closed forms'. The engine's call is an exact
//! composition where candle lacks the call, and the detail names it.

use super::common::{compare, numeric, outputs_finding, values, with_flipped_kernel, RunOptions, RunReport, Weights};
use super::dense::table_finding;
use crate::algebra::{Env, Index, IndexExt, Value};
use crate::check::error::{eval_err, shown_sizes, CheckError};
use crate::check::tables::Table;
use crate::engine::nd::ConvNd;
use crate::engine::Array;
use crate::limits::Limits;
use crate::model::{Model, Run};
use crate::ops;

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
    let (output, compositions) = conv.forward(&x, &w)?;
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
    let how = match compositions.as_slice() {
        [] => format!("one candle {} call", run.op.name()),
        steps => format!("candle by {}", steps.join(", ")),
    };
    parts.push(format!("the engine ran {} as {how}", run.op.name()));
    let jacobians = [(&run.input, conv.jacobian_x(&x, &w)?), (&run.weight, conv.jacobian_w(&x, &w)?)];
    parts.push(autograd_finding(&conv, &x, &w, &output, [&jacobians[0].1, &jacobians[1].1]));
    for (tensor, jacobian) in jacobians {
        let Some(t) = tables.iter().find(|t| t.wrt == *tensor) else { continue };
        let closed: Vec<f64> = t.entries.iter().flatten().map(|v| numeric(v, &data)).collect();
        let (agrees, finding) = table_finding(t, &closed, &jacobian.data, "on unit inputs");
        holds &= agrees;
        parts.push(finding);
    }
    if options.weights == Weights::Ones {
        parts.push(
            "the weights are all ones, which cannot tell one weight from another: \
             run with distinct weights to check the kernel's orientation"
                .into(),
        );
    }
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

/// The report of a run of several spatial axes at sizes too large for tables, which
/// symconv does not compare yet.
pub(super) fn too_large(run: &Run) -> RunReport {
    let why = format!("not executed: {} runs are compared only at sizes small enough for tables", run.op.name());
    RunReport { text: run.text.clone(), holds: None, findings: vec![why] }
}

/// The engine's call for a run line at the sizes.
fn conv_nd_of(model: &Model, run: &Run, sizes: &Env) -> Result<ConvNd, CheckError> {
    let (axes, groups) = ops::axes_of_run(run);
    let at =
        |p: &Index| -> Result<usize, CheckError> { Ok(p.eval(sizes).map_err(eval_err(model, sizes))?.max(0) as usize) };
    Ok(ConvNd {
        transposed: run.op.transposed(),
        stride: axes.iter().map(|a| at(&a.stride)).collect::<Result<_, _>>()?,
        padding: axes.iter().map(|a| Ok((at(&a.padding.0)?, at(&a.padding.1)?))).collect::<Result<_, CheckError>>()?,
        output_padding: axes.iter().map(|a| at(&a.output_padding)).collect::<Result<_, _>>()?,
        dilation: axes.iter().map(|a| at(&a.dilation)).collect::<Result<_, _>>()?,
        groups: at(&groups)?,
        flip: run.flip,
    })
}

/// A tensor in the engine's layout for `d` spatial axes: the batch of 1 in front, and a
/// tensor of spatial axes only with `channels` axes of 1 before them (an input `[H, V]` is
/// `[1, 1, H, V]`, a weight `[P, Q]` is `[1, 1, P, Q]`; an input `[C, H, V]` is
/// `[1, C, H, V]`).
fn laid_out(a: &Array, d: usize, channels: usize) -> Array {
    let shape = laid_out_shape(&a.shape.iter().map(|&v| v as i64).collect::<Vec<_>>(), d, channels);
    Array { shape, data: a.data.clone() }
}

/// The shape of [`laid_out`]: an input's (`channels` 1) or output's gets the batch axis,
/// a weight's (`channels` 2) does not.
fn laid_out_shape(shape: &[i64], d: usize, channels: usize) -> Vec<usize> {
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
