//! The runs on the engine: per run, the choice between comparing every entry
//! ([`dense`]) and Freivalds' check ([`freivalds`]), and the limits of a run.

mod common;
mod dense;
mod freivalds;
mod layers;
mod nd;

pub use common::{conv_of, numeric, run_engine, values, EngineRun, JacobianCheck, RunOptions, RunReport, Weights};
pub(crate) use common::{number, signed_permutation};
pub(crate) use nd::conv_nd;

use super::brute::{element_count, lengths};
use super::error::{eval_err, shown_sizes, CheckError};
use super::tables::Table;
use crate::algebra::{Env, Value};
use crate::derive::Derivation;
use crate::limits::Limits;
use crate::model::{Model, Run};
use common::not_executed;

/// Every run of the model on the engine at `sizes`. With `dense` (the formula's
/// expansions over the domain and the closed forms' tables there) each is compared entry
/// by entry against them, or by Freivalds' check when asked; without, at sizes too
/// large for tables, see [`large`].
pub(crate) fn run_all(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    options: RunOptions,
    dense: Option<(&[Value], &[Table])>,
) -> Result<Vec<RunReport>, CheckError> {
    let run = |r: &Run| {
        if let Some(report) = not_executed(model, r) {
            return Ok(report);
        }
        let past_tables = dense.is_none() || options.jacobians == JacobianCheck::Freivalds;
        if r.bias.is_some() && past_tables {
            let why = format!(
                "not run at {}: with a bias, runs are compared only at sizes with tables, entry by entry",
                shown_sizes(model, sizes)
            );
            return Ok(RunReport { text: r.text.clone(), holds: None, findings: vec![why] });
        }
        // Runs of several spatial axes: entry by entry against the tables where there are
        // some, otherwise as 1-D runs at large sizes.
        match (dense, r.op.spatial()) {
            (Some(_), 2..) if options.jacobians == JacobianCheck::Freivalds => {
                nd::large(model, derivation, r, sizes, options)
            }
            (Some((expansions, tables)), 2..) => {
                nd::run(model, r, sizes, options, expansions, tables, &derivation.limits)
            }
            (None, 2..) => nd::large(model, derivation, r, sizes, options),
            (Some(_), _) if options.jacobians == JacobianCheck::Freivalds => {
                freivalds::run(model, derivation, r, sizes, options)
            }
            (Some((expansions, tables)), _) => {
                dense::run(model, r, sizes, options, expansions, tables, &derivation.limits)
            }
            (None, _) => large(model, derivation, r, sizes, options),
        }
    };
    let layer = |r: &crate::model::LayerRun| match dense {
        Some((expansions, tables)) => layers::run(model, r, sizes, options, expansions, tables),
        None => Ok(RunReport {
            text: r.text.clone(),
            holds: None,
            findings: vec![format!(
                "not run at {}: a layer's run is compared only at sizes with tables",
                shown_sizes(model, sizes)
            )],
        }),
    };
    // In the order of the spec's lines.
    let mut runs: Vec<(usize, Result<RunReport, CheckError>)> =
        model.runs.iter().map(|r| (r.span.start, run(r))).collect();
    runs.extend(model.layers.iter().map(|r| (r.span.start, layer(r))));
    runs.sort_by_key(|(at, _)| *at);
    runs.into_iter().map(|(_, report)| report).collect()
}

/// Runs one `run` line at sizes too large for dense tables: row by row (see
/// [`dense::run_by_rows`]) while the entries to compare stay within
/// [`Limits::compared_entries`](crate::limits::Limits::compared_entries) (or when asked,
/// [`Limits::every_entry`](crate::limits::Limits::every_entry)), Freivalds' check beyond
/// (or when asked). Sizes past the limits of values and entries a run may have are
/// refused.
fn large(
    model: &Model,
    derivation: &Derivation,
    run: &Run,
    sizes: &Env,
    options: RunOptions,
) -> Result<RunReport, CheckError> {
    if let Some(report) = not_executed(model, run) {
        return Ok(report);
    }
    let limits = &derivation.limits;
    let (x, w) =
        (model.shape_at(&run.input, sizes).unwrap_or_default(), model.shape_at(&run.weight, sizes).unwrap_or_default());
    let outputs = element_count(&lengths(&derivation.domain.at(sizes).map_err(eval_err(model, sizes))?));
    let held = element_count(&x).saturating_add(element_count(&w)).saturating_add(outputs);
    within_values(model, run, sizes, held, limits)?;
    let refused = |what: String| Err(refusal(model, run, sizes, what));
    // An output reads a receptive field of C/G channels by k positions, and every weight.
    let conv = conv_of(model, run, sizes, limits)?;
    let channels = if x.len() > 1 { x[0] as u64 } else { 1 } / conv.groups.max(1) as u64;
    let field = channels.max(1).saturating_mul(*w.last().unwrap_or(&1) as u64);
    let entries = outputs.saturating_mul(field.saturating_add(element_count(&w)));
    let by_rows = match every_entry(entries, limits, options) {
        Ok(by_rows) => by_rows,
        Err(why) => return refused(why),
    };
    match by_rows {
        true => dense::run_by_rows(model, derivation, run, sizes, options),
        false => freivalds::run(model, derivation, run, sizes, options),
    }
}

/// Whether a run whose Jacobians have `entries` entries that can be nonzero compares every
/// entry (else Freivalds' check), as asked and within the limits; past them, why it is
/// refused.
fn every_entry(entries: u64, limits: &Limits, options: RunOptions) -> Result<bool, String> {
    if entries > limits.run_entries {
        return Err(format!(
            "has Jacobians with {entries} entries that can be nonzero, more than the limit of {} \
             that a check may go through",
            limits.run_entries
        ));
    }
    if options.jacobians == JacobianCheck::EveryEntry && entries > limits.every_entry {
        return Err(format!(
            "has Jacobians with {entries} entries that can be nonzero, more than the {} that fit in \
             memory row by row (--jacobians every-entry); Freivalds' check (auto) needs none of them",
            limits.every_entry
        ));
    }
    Ok(match options.jacobians {
        JacobianCheck::EveryEntry => true,
        JacobianCheck::Freivalds => false,
        JacobianCheck::Auto => entries <= limits.compared_entries,
    })
}

/// A run refused at `sizes`: it `what`, past a limit.
fn refusal(model: &Model, run: &Run, sizes: &Env, what: String) -> CheckError {
    CheckError::RunLimit { span: run.span, message: format!("at {} this run {what}", shown_sizes(model, sizes)) }
}

/// Refuses a run whose input, weight and output would hold `held` values, more than the
/// limit.
fn within_values(model: &Model, run: &Run, sizes: &Env, held: u64, limits: &Limits) -> Result<(), CheckError> {
    match held > limits.run_values {
        true => Err(refusal(
            model,
            run,
            sizes,
            format!(
                "would hold {held} values in its input, weight and output, more than the limit of {}",
                limits.run_values
            ),
        )),
        false => Ok(()),
    }
}
