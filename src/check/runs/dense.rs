//! Runs compared entry by entry: against the tables at sizes small enough for them, else
//! row by row over each row's nonzero entries.

use super::common::{
    compare, compare_outputs, compiled_outputs, conv_of, engine_shape, hints, layout, method_text, not_executed,
    number, numeric, ones_finding, outputs_finding, pad_hint, run_laid_out, setup, shapes_of, values, with_bias,
    with_flipped_kernel, RunOptions, RunReport, Setup,
};
use crate::algebra::compiled::{Compiled, Shape};
use crate::algebra::{Env, EvalError, Value};
use crate::check::brute::{element_at, tuples};
use crate::check::error::{eval_err, named, shown_sizes, CheckError};
use crate::check::tables::Table;
use crate::derive::Derivation;
use crate::limits::Limits;
use crate::model::{Model, Run};

/// Runs one `run` line and compares: output length, outputs (the formula's exact
/// `expansions` over the domain) and both Jacobians (the closed forms' `tables`).
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
    if let Some(report) = not_executed(model, run) {
        return Ok(report);
    }
    let conv = conv_of(model, run, sizes, limits)?;
    let data = values(model, sizes, options);
    let (x, w) = (&data[&run.input], &data[&run.weight]);
    // Lengths: the engine's [O, L] against the domain (one output channel for a 1-D output),
    // before the engine's Jacobians, which are as large as the engine's output.
    let ours = engine_shape(tables.first().map(|t| t.output_shape.clone()).unwrap_or_default());
    let (xl, wl) = (layout(x, false), layout(w, true));
    let theirs: Vec<i64> = conv.output_shape(&xl, &wl).iter().map(|&d| d as i64).collect();
    let formula: Vec<f64> = expansions.iter().map(|v| numeric(v, &data)).collect();
    let hints = |engine: &[f64]| {
        let flipped = with_flipped_kernel(&data, &run.weight, 1);
        let flipped: Vec<f64> = expansions.iter().map(|v| numeric(v, &flipped)).collect();
        hints(&conv, (x, w), &formula, &flipped, engine)
    };
    if ours != theirs {
        let output = conv.forward(&xl, &wl)?;
        let mut findings = vec![at, format!("the output has shape {ours:?} by the formula, {theirs:?} by the engine")];
        findings.extend(pad_hint(model, run, &conv, sizes, &data, &output)?);
        findings.extend(hints(&output.data));
        return report(false, findings);
    }
    let engine = run_laid_out(&conv, &xl, &wl)?;
    let (output, by_bias) = with_bias(run, &data, engine.output)?;
    // Each part: the outputs, then ∂s/∂x and ∂s/∂w (and ∂s/∂b); what agrees and what does not.
    let bad = compare(&formula, &output.data).map(|(first, count)| {
        let row = tables.first().map(|t| t.rows[first].clone()).unwrap_or_default();
        (count, row, formula[first], output.data[first])
    });
    let mut holds = bad.is_none();
    let mut parts = vec![at, outputs_finding(model, &ours, formula.len(), bad)];
    if !holds {
        parts.extend(hints(&output.data));
    }
    let how_x = method_text(engine.method_x);
    let bias = run.bias.iter().zip(&by_bias).map(|(b, j)| (b, j, "by autograd through the bias's addition"));
    for (tensor, jacobian, how) in
        [(&run.input, &engine.jacobian_x, how_x), (&run.weight, &engine.jacobian_w, "on unit weights")]
            .into_iter()
            .chain(bias)
    {
        let Some(t) = tables.iter().find(|t| t.wrt == *tensor) else { continue };
        let closed: Vec<f64> = t.entries.iter().flatten().map(|v| numeric(v, &data)).collect();
        let (agrees, finding) = table_finding(t, &closed, &jacobian.data, how);
        holds &= agrees;
        parts.push(finding);
    }
    parts.extend(ones_finding(options, " (w_0 from w_2)"));
    report(holds, parts)
}

/// Runs one `run` line without tables: the outputs and every entry of `∂s/∂x` and
/// `∂s/∂w` are compared row by row over each row's nonzero entries (the closed forms
/// compiled, the engine's Jacobian sparse).
pub(super) fn run_by_rows(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
) -> Result<RunReport, CheckError> {
    // Only `large` calls this, after checking the run can be executed.
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
    let rows = tuples(&ranges);
    // Each Jacobian, row by row: the closed form's nonzero entries against the engine's.
    let (rows_x, method) = conv.jacobian_x_rows(&xl, &wl)?;
    let jw = conv.jacobian_w(&xl, &wl)?;
    let dense_w: Vec<Vec<(usize, f64)>> = jw
        .data
        .chunks(w.data.len().max(1))
        .map(|row| row.iter().copied().enumerate().filter(|&(_, v)| v != 0.0).collect())
        .collect();
    let how_x = method_text(method);
    let by_rows = RowsAt { rows: &rows, shapes: &shapes, slices: &slices };
    for (tensor, engine_rows, how) in [(&run.input, &rows_x, how_x), (&run.weight, &dense_w, "on unit weights")] {
        let (agrees, finding) = rows_finding(model, derivation, sizes, tensor, &by_rows, engine_rows, how)?;
        holds &= agrees;
        parts.push(finding);
    }
    report(holds, parts)
}

/// Where a Jacobian is compared row by row: the output tuples (the rows, in order), the
/// run's input and weight as compiled terms address them, and their values.
pub(super) struct RowsAt<'a> {
    pub rows: &'a [Vec<i64>],
    pub shapes: &'a [Shape],
    pub slices: &'a [&'a [f64]],
}

/// Compares every entry of `∂s/∂tensor` with the engine's, row by row: the closed form
/// compiled, its entries that are not 0 against the engine's row (`engine_rows`, each by
/// column; zeros in it are dropped); an entry in neither is 0 in both. Gives whether all
/// agree, and the finding that says so or counts the disagreements and names the first.
pub(super) fn rows_finding(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    tensor: &str,
    at: &RowsAt,
    engine_rows: &[Vec<(usize, f64)>],
    how: &str,
) -> Result<(bool, String), CheckError> {
    let err = eval_err(model, sizes);
    let d = derivation.derivative(tensor).expect("runs name declared tensors");
    let dims = at.shapes.iter().find(|s| s.name == tensor).map(|s| s.dims.clone()).unwrap_or_default();
    let enumerated: Vec<(String, Option<(i64, i64)>)> =
        d.wrt_indices.iter().zip(&dims).map(|(n, &len)| (n.clone(), Some((0, len - 1)))).collect();
    let closed = d
        .closed_form
        .terms
        .iter()
        .map(|t| Compiled::new(t, &model.output.indices, &enumerated, sizes, at.shapes))
        .collect::<Result<Vec<_>, _>>()
        .map_err(&err)?;
    let (mut entries, mut count, mut first) = (0usize, 0usize, None);
    let (mut ours, mut nonzero) = (Vec::new(), Vec::new());
    for (r, row) in at.rows.iter().enumerate() {
        closed_form_row(&closed, row, at.slices, &dims, &mut ours).map_err(&err)?;
        // The engine's row without its zeros (most rows have none).
        let theirs = match engine_rows[r].iter().any(|&(_, v)| v == 0.0) {
            false => engine_rows[r].as_slice(),
            true => {
                nonzero.clear();
                nonzero.extend(engine_rows[r].iter().copied().filter(|&(_, v)| v != 0.0));
                nonzero.as_slice()
            }
        };
        entries += ours.len().max(theirs.len());
        if ours == theirs {
            continue;
        }
        for (col, closed_value, engine_value) in row_differences(&ours, theirs) {
            count += 1;
            first.get_or_insert((r, col, closed_value, engine_value));
        }
    }
    let total = at.rows.len() * dims.iter().product::<i64>().max(0) as usize;
    let title = d.name(model);
    Ok(match first {
        None => (
            true,
            format!("all {total} entries of {title} agree (engine {how}), compared row by row over the {entries} that are not 0"),
        ),
        Some((r, col, a, b)) => {
            let element = element_at(col, &dims);
            let names = model.output.indices.iter().chain(&d.wrt_indices);
            let place = named(names.zip(at.rows[r].iter().chain(&element)));
            (
                false,
                format!(
                    "{count} of {total} entries of {title} disagree (engine {how}), first at {}: the closed form gives {}, the engine {}",
                    place,
                    number(a),
                    number(b)
                ),
            )
        }
    })
}

/// Whether a table's entries (`closed`, as numbers) agree with the engine's Jacobian, and
/// the finding that says so or counts the disagreements and names the first.
pub(super) fn table_finding(t: &Table, closed: &[f64], engine: &[f64], how: &str) -> (bool, String) {
    let Some((first, count)) = compare(closed, engine) else {
        return (true, format!("all {} entries of {} agree (engine {how})", closed.len(), t.title));
    };
    let (r, c) = (first / t.cols.len(), first % t.cols.len());
    let (out, wrt) = &t.index_names;
    let place = named(out.iter().zip(&t.rows[r]).chain(wrt.iter().zip(&t.cols[c])));
    let finding = format!(
        "{count} of {} entries of {} disagree (engine {how}), first at {}: the closed form gives {}, the engine {}",
        closed.len(),
        t.title,
        place,
        number(closed[first]),
        number(engine[first])
    );
    (false, finding)
}

/// The nonzero entries `(column, value)` of one row of a closed form (its terms
/// compiled, the output's indices first, then the tensor's of shape `dims`), by column,
/// into `entries`.
fn closed_form_row(
    closed: &[Compiled],
    row: &[i64],
    slices: &[&[f64]],
    dims: &[i64],
    entries: &mut Vec<(usize, f64)>,
) -> Result<(), EvalError> {
    entries.clear();
    for t in closed {
        t.for_each(row, slices, &mut |vals, v| {
            let col = vals[row.len()..].iter().zip(dims).fold(0i64, |f, (&i, &d)| f * d + i) as usize;
            entries.push((col, v));
        })?;
    }
    entries.sort_by_key(|&(c, _)| c);
    entries.dedup_by(|b, a| {
        let same = a.0 == b.0;
        if same {
            a.1 += b.1;
        }
        same
    });
    entries.retain(|&(_, v)| v != 0.0);
    Ok(())
}

/// The columns where two rows of nonzero entries, each by column, differ:
/// `(column, closed form's value, engine's value)`, a missing entry being 0.
fn row_differences(closed: &[(usize, f64)], engine: &[(usize, f64)]) -> Vec<(usize, f64, f64)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < closed.len() || j < engine.len() {
        let (col, a, b) = match (closed.get(i), engine.get(j)) {
            (Some(&a), Some(&b)) if a.0 == b.0 => {
                (i, j) = (i + 1, j + 1);
                (a.0, a.1, b.1)
            }
            (Some(&a), Some(&b)) if a.0 < b.0 => {
                i += 1;
                (a.0, a.1, 0.0)
            }
            (Some(&a), None) => {
                i += 1;
                (a.0, a.1, 0.0)
            }
            (_, Some(&b)) => {
                j += 1;
                (b.0, 0.0, b.1)
            }
            (None, None) => break,
        };
        if a != b {
            out.push((col, a, b));
        }
    }
    out
}
