//! Runs of layers that are no convolution (average pooling, nearest upsampling) on the
//! engine, compared entry by entry at sizes with tables: the outputs with the formula's,
//! `∂s/∂x` with the closed form's. A pooling's outputs and Jacobian are rationals, which
//! the engine rounds: each is compared with the exact rational within a stated bound.

use super::common::{numeric, values, RunOptions, RunReport};
use super::nd::{laid_out, laid_out_shape};
use crate::algebra::formula::show_value_over;
use crate::algebra::{Env, Index, IndexExt, Value};
use crate::check::error::{named, shown_sizes, CheckError};
use crate::check::tables::Table;
use crate::engine::layers::{self, AvgPool, Layer as _, LayerError, UpsampleNearest};
use crate::engine::Array;
use crate::model::{Layer, LayerRun, Model};

/// The layer of a run line at concrete sizes, on the engine.
enum Engine {
    /// Average pooling.
    AvgPool(AvgPool),
    /// Nearest upsampling.
    Upsample(UpsampleNearest),
}

impl Engine {
    /// The layer at `sizes`; sizes the model's checks let through but that are negative
    /// are refused here.
    fn of(model: &Model, run: &LayerRun, sizes: &Env) -> Result<Engine, CheckError> {
        let at = |v: &[Index]| -> Result<Vec<usize>, CheckError> {
            v.iter()
                .map(|p| {
                    let value = p.eval(sizes).map_err(crate::check::error::eval_err(model, sizes))?;
                    usize::try_from(value)
                        .map_err(|_| CheckError::Sizes(format!("at {} `{p}` is {value}", shown_sizes(model, sizes))))
                })
                .collect()
        };
        Ok(match &run.layer {
            Layer::AvgPool { kernel_size, stride, padding } => {
                Engine::AvgPool(AvgPool { kernel: at(kernel_size)?, stride: at(stride)?, padding: at(padding)? })
            }
            Layer::UpsampleNearest { scale_factor } => Engine::Upsample(UpsampleNearest { scale: at(scale_factor)? }),
        })
    }

    fn output_shape(&self, x: &[usize]) -> Result<Vec<usize>, LayerError> {
        match self {
            Engine::AvgPool(p) => p.output_shape(x),
            Engine::Upsample(u) => u.output_shape(x),
        }
    }

    fn forward(&self, x: &Array) -> Result<(Array, Vec<&'static str>), LayerError> {
        match self {
            Engine::AvgPool(p) => p.forward(x),
            Engine::Upsample(u) => u.forward(x),
        }
    }

    fn jacobian_x(&self, x: &Array) -> Result<Array, LayerError> {
        match self {
            Engine::AvgPool(p) => p.jacobian_x(x),
            Engine::Upsample(u) => u.jacobian_x(x),
        }
    }
}

/// Runs one layer's run line at `sizes` against the formula's `expansions` (one per
/// output, times the formula's divisor) and the closed forms' `tables`.
pub(super) fn run(
    model: &Model,
    run: &LayerRun,
    sizes: &Env,
    options: RunOptions,
    expansions: &[Value],
    tables: &[Table],
) -> Result<RunReport, CheckError> {
    let report = |holds, findings: Vec<String>| Ok(RunReport { text: run.text.clone(), holds: Some(holds), findings });
    if model.tensors.len() != 1 {
        let why = "not executed: the formula has more tensors than the layer's input".to_string();
        return Ok(RunReport { text: run.text.clone(), holds: None, findings: vec![why] });
    }
    let at = format!("at {} with seed {}", shown_sizes(model, sizes), options.seed);
    let engine = Engine::of(model, run, sizes)?;
    let d = run.op.spatial();
    let data = values(model, sizes, options);
    let x = laid_out(&data[&run.input], d, 1);
    let ours = laid_out_shape(tables.first().map_or(&[][..], |t| &t.output_shape), d, 1);
    let theirs = match engine.output_shape(&x.shape) {
        Ok(shape) => shape,
        Err(e) => return report(false, vec![at, format!("the engine refuses the call: {e}")]),
    };
    if ours != theirs {
        let finding = format!("the output has shape {ours:?} by the formula, {theirs:?} by the engine");
        return report(false, vec![at, finding]);
    }
    let (output, compositions) = engine.forward(&x)?;
    let divisor = model.formula.divisor;
    let formula: Vec<i64> = expansions.iter().map(|v| numeric(v, &data) as i64).collect();
    let shape: Vec<i64> = ours[1..].iter().map(|&v| v as i64).collect();
    let bad = differences(&formula, divisor, &output.data);
    let mut holds = bad.is_none();
    let outputs = match bad {
        None => format!("output shape {shape:?} and all {} outputs agree", formula.len()),
        Some((first, count)) => {
            let row = tables.first().map(|t| t.rows[first].clone()).unwrap_or_default();
            format!(
                "{count} of {} outputs disagree, first {}{row:?}: the formula gives {}, the engine {}",
                formula.len(),
                model.output.name,
                show_value_over(&Value::constant(formula[first]), divisor),
                output.data[first]
            )
        }
    };
    let mut findings = vec![at, outputs];
    if let Some(t) = tables.iter().find(|t| t.wrt == run.input) {
        let jacobian = engine.jacobian_x(&x)?;
        let closed: Vec<i64> = t.entries.iter().flatten().map(|v| numeric(v, &data) as i64).collect();
        let (agrees, finding) = table_finding(t, &closed, &jacobian.data);
        holds &= agrees;
        findings.push(finding);
    }
    findings.extend(compositions.iter().map(|c| format!("composed exactly: {c}")));
    report(holds, findings)
}

/// The first entry where the engine's value is not the exact `ours[i] / divisor` (see
/// [`layers::agrees`]) and how many there are.
fn differences(ours: &[i64], divisor: i64, engine: &[f64]) -> Option<(usize, usize)> {
    let bad: Vec<usize> =
        (0..ours.len()).filter(|&i| !layers::agrees(engine[i], ours[i], divisor.unsigned_abs())).collect();
    bad.first().map(|&first| (first, bad.len()))
}

/// Whether a table's entries (`closed`, numerators over the table's divisor) are the
/// engine's Jacobian, and the finding that says so or names the first disagreement.
fn table_finding(t: &Table, closed: &[i64], engine: &[f64]) -> (bool, String) {
    let Some((first, count)) = differences(closed, t.divisor, engine) else {
        return (true, format!("all {} entries of {} agree (engine by autograd)", closed.len(), t.title));
    };
    let (r, c) = (first / t.cols.len(), first % t.cols.len());
    let (out, wrt) = &t.index_names;
    let place = named(out.iter().zip(&t.rows[r]).chain(wrt.iter().zip(&t.cols[c])));
    let finding = format!(
        "{count} of {} entries of {} disagree (engine by autograd), first at {place}: the closed form gives {}, \
         the engine {}",
        closed.len(),
        t.title,
        t.entry_text(&Value::constant(closed[first])),
        engine[first]
    );
    (false, finding)
}
