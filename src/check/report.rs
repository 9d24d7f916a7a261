//! The report of `derive` and `check`: the derivation cross-checked at the spec's sizes,
//! its proofs checked by numbers, the tables, the claims and the runs.

use super::backward::{self, BackwardReport};
use super::brute::table_limits;
use super::claims::{claims, smaller_validation, ClaimReport, Verdict};
use super::error::{ordered, shown_sizes, CheckError};
use super::runs::{self, RunOptions, RunReport};
use super::tables::{checked_tables, length_at, Table};
use super::validate::{self, Validation};
use crate::algebra::Env;
use crate::derive::backward::prove_run;
use crate::derive::Derivation;
use crate::model::Model;

/// Everything `derive` shows for one spec.
#[derive(Debug, Clone)]
pub struct Report {
    /// The resolved spec.
    pub model: Model,
    /// The symbolic results.
    pub derivation: Derivation,
    /// The sizes used for numbers, in the spec's order.
    pub sizes: Vec<(String, i64)>,
    /// The output length along each axis at those sizes.
    pub length_values: Vec<i64>,
    /// One Jacobian table per input and weight, at those sizes.
    pub tables: Vec<Table>,
    /// The claims with their verdicts.
    pub claims: Vec<ClaimReport>,
    /// The runs with their verdicts.
    pub runs: Vec<RunReport>,
    /// The gradients with their verdicts.
    pub backward: Vec<BackwardReport>,
    /// What was not done at these sizes, and why.
    pub notes: Vec<String>,
}

impl Report {
    /// Whether every claim holds and no run or gradient disagrees.
    pub fn holds(&self) -> bool {
        self.claims.iter().all(|c| c.verdict != Verdict::Refuted)
            && self.runs.iter().all(|r| r.holds != Some(false))
            && self.backward.iter().all(|b| b.holds != Some(false))
    }
}

/// Cross-checks the derivation at the model's sizes, then builds the tables (when asked)
/// and settles the claims and runs.
pub fn report(
    model: Model,
    derivation: Derivation,
    with_tables: bool,
    options: RunOptions,
) -> Result<Report, CheckError> {
    let sizes = model.values.clone();
    let length_values = length_at(&model, &derivation, &sizes)?;
    refuse_empty(&model, &derivation, &sizes, &length_values)?;
    // The tables are the closed forms at the let sizes: they are checked as printed.
    // Each table is limited by its own size: one too large leaves the others.
    let refused = table_limits(&model, &derivation, &sizes)?;
    let (validation, tables, notes) = match refused.iter().flatten().next() {
        None => {
            let all: Vec<&str> = model.tensors.iter().map(|t| t.name.as_str()).collect();
            let (brute, tables) = checked_tables(&model, &derivation, &sizes, &all)?;
            (Validation::new(&model, sizes.clone(), brute), Some(tables), Vec::new())
        }
        // Too large for brute force of the whole spec: the proofs are checked by numbers
        // at smaller sizes, the runs compare every entry row by row, and the tables that
        // fit are checked against brute force of their own Jacobians.
        Some(why) => {
            let validation = smaller_validation(&model, &derivation)?;
            let proofs = format!("the proofs are checked by numbers at {}", shown_sizes(&model, &validation.sizes));
            let (tables, note) = match with_tables {
                true => tables_that_fit(&model, &derivation, &sizes, &refused)?,
                false => (Vec::new(), None),
            };
            let note =
                note.unwrap_or_else(|| format!("no brute-force cross-check and no tables at these sizes: {why}"));
            (validation, Some(tables), vec![format!("{note}; {proofs}")])
        }
    };
    validate::derivation(&model, &derivation, &validation)?;
    // Past brute force, the gradients on one core, the claims and the runs on the other.
    let (claims, runs, backward) = std::thread::scope(|scope| {
        let large = validation.sizes != sizes;
        let pending = large.then(|| scope.spawn(|| gradients(&model, &derivation, &sizes, options, &validation)));
        let claims = claims(&model, &derivation, &validation)?;
        let every_table = tables.as_ref().is_some_and(|t| t.len() == model.tensors.len());
        let dense = tables.as_deref().filter(|_| every_table).map(|t| (validation.brute.expansions.as_slice(), t));
        let mut runs = runs::run_all(&model, &derivation, &sizes, options, dense)?;
        for (report, run) in runs.iter_mut().zip(&model.runs) {
            report.findings.insert(0, run_proof(&model, &derivation, run, &validation)?);
        }
        let backward = match pending {
            Some(pending) => pending.join().map_err(|_| CheckError::Bug("the gradients' check panicked".into()))??,
            None => gradients(&model, &derivation, &sizes, options, &validation)?,
        };
        Ok::<_, CheckError>((claims, runs, backward))
    })?;
    let tables = tables.filter(|_| with_tables).unwrap_or_default();
    Ok(Report {
        sizes: ordered(&model, &sizes),
        model,
        derivation,
        length_values,
        tables,
        claims,
        runs,
        backward,
        notes,
    })
}

/// Every gradient checked at `sizes`: against brute force there where it fits, else, after
/// the gather forms are checked against brute force at the validation's sizes, against
/// the gather forms compiled; where that is past the limits, the gradients are reported
/// as checked at the validation's sizes and not run at `sizes`.
fn gradients(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    options: RunOptions,
    validation: &Validation,
) -> Result<Vec<BackwardReport>, CheckError> {
    if validation.sizes == *sizes {
        return backward::check_all(model, derivation, sizes, options, Some(&validation.brute));
    }
    let checked = backward::check_all(model, derivation, &validation.sizes, options, Some(&validation.brute))?;
    match backward::past_limits(model, derivation, sizes).map_err(super::error::eval_err(model, sizes))? {
        Some(why) => Ok(backward::not_run(model, derivation, sizes, checked, &why)),
        None => backward::check_all(model, derivation, sizes, options, None),
    }
}

/// Whether the run line computes the formula for every size, in one line: proved when
/// its formula has the derived shape and the same `∂s/∂x` in one e-graph. A proof is
/// checked by numbers first: the run's formula expanded at every output of the
/// validation's domain is the spec's (a difference is a bug in symconv).
fn run_proof(
    model: &Model,
    derivation: &Derivation,
    run: &crate::model::Run,
    at: &Validation,
) -> Result<String, CheckError> {
    let formula = match prove_run(model, derivation, run) {
        Ok(proved) => proved,
        Err(why) => return Ok(format!("not proved for all sizes: {why}")),
    };
    let err = super::error::eval_err(model, &at.sizes);
    let shape = |name: &str| model.shape_at(name, &at.sizes);
    for (row, expansion) in at.brute.rows.iter().zip(&at.brute.expansions) {
        let mut env = at.sizes.clone();
        env.extend(model.output.indices.iter().cloned().zip(row.iter().copied()));
        if formula.eval(&env, &shape).map_err(&err)? != *expansion {
            return Err(CheckError::Bug(format!(
                "the run `{}` was proved to compute the formula, but at {} its output {:?} differs",
                run.text,
                shown_sizes(model, &at.sizes),
                row
            )));
        }
    }
    let bias = run.bias.as_ref().map(|b| format!(" and ∂{}/∂{b}", model.output.name)).unwrap_or_default();
    Ok(format!(
        "proved for all sizes: the call's formula has the derived output shape and the same ∂{}/∂{}{bias} (the e-graph)",
        model.output.name, run.input
    ))
}

/// Refuses sizes at which the output or a tensor is empty, or a stride, dilation or
/// divisor is below 1.
fn refuse_empty(model: &Model, derivation: &Derivation, sizes: &Env, length_values: &[i64]) -> Result<(), CheckError> {
    if let Some(axis) = length_values.iter().position(|&l| l <= 0) {
        return Err(CheckError::Sizes(format!(
            "at {} the output is empty: its length along axis {axis} is {} = {}",
            shown_sizes(model, sizes),
            derivation.lengths[axis],
            length_values[axis]
        )));
    }
    if let Some(t) =
        model.tensors.iter().find(|t| model.shape_at(&t.name, sizes).is_none_or(|s| s.iter().any(|&d| d <= 0)))
    {
        return Err(CheckError::Sizes(format!("at {} the tensor `{}` is empty", shown_sizes(model, sizes), t.name)));
    }
    if let Some(n) = model.sizes.iter().find(|n| sizes.get(*n).is_some_and(|&v| v < model.least(n))) {
        return Err(CheckError::Sizes(format!(
            "at {} the size `{n}`, which the formula multiplies an index by or divides by, is {}; it must be at least 1",
            shown_sizes(model, sizes),
            sizes[n]
        )));
    }
    Ok(())
}

/// The tables whose own size fits the limits (`refused` says why each other one does
/// not), each checked against brute force of its own Jacobian, and the note that says so;
/// no tables and no note when none fits.
fn tables_that_fit(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    refused: &[Option<String>],
) -> Result<(Vec<Table>, Option<String>), CheckError> {
    let fitting: Vec<&str> =
        model.tensors.iter().zip(refused).filter(|(_, why)| why.is_none()).map(|(t, _)| t.name.as_str()).collect();
    if fitting.is_empty() {
        return Ok((Vec::new(), None));
    }
    let (_, tables) = checked_tables(model, derivation, sizes, &fitting)?;
    let why: Vec<&str> = refused.iter().flatten().map(String::as_str).collect();
    let kept: Vec<String> =
        tables.iter().map(|t| format!("{} (against brute force of ∂{}/∂{} alone)", t.title, t.output, t.wrt)).collect();
    let note = format!(
        "no brute-force cross-check of the whole spec at these sizes: {}; the tables that fit are shown and checked entry by entry: {}",
        why.join("; "),
        kept.join(", ")
    );
    Ok((tables, Some(note)))
}
