//! The report of `derive` and `check`: the derivation cross-checked at the spec's sizes,
//! its proofs checked by numbers, the tables, the claims and the runs.

use super::brute::{beyond_limits, BruteForce};
use super::claims::{claims, smaller_validation, ClaimReport, Verdict};
use super::error::{ordered, shown_sizes, CheckError};
use super::runs::{self, RunOptions, RunReport};
use super::tables::{check_closed_forms, check_domain, length_at, table, Table};
use super::validate::{self, Validation};
use crate::algebra::{Env, Value};
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
    /// What was not done at these sizes, and why.
    pub notes: Vec<String>,
}

impl Report {
    /// Whether every claim holds and no run disagrees.
    pub fn holds(&self) -> bool {
        self.claims.iter().all(|c| c.verdict != Verdict::Refuted) && self.runs.iter().all(|r| r.holds != Some(false))
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
    // The tables are the closed forms at the let sizes: they are checked as printed,
    // unless they would be too large (then brute force would be too).
    let (validation, tables, notes) = match beyond_limits(&model, &derivation, &sizes)? {
        None => {
            let (brute, tables) = tables_checked(&model, &derivation, &sizes)?;
            (Validation::new(&model, sizes.clone(), brute), Some(tables), Vec::new())
        }
        // Too large for brute force and tables: the proofs are checked by numbers at
        // smaller sizes, and the runs still compare every entry, row by row.
        Some(why) => {
            let validation = smaller_validation(&model, &derivation)?;
            let note = format!(
                "no brute-force cross-check and no tables at these sizes: {why}; the proofs are checked by numbers at {}",
                shown_sizes(&model, &validation.sizes)
            );
            (validation, None, vec![note])
        }
    };
    validate::derivation(&model, &derivation, &validation)?;
    let claims = claims(&model, &derivation, &validation)?;
    let dense = tables.as_deref().map(|t| (validation.brute.expansions.as_slice(), t));
    let runs = runs::run_all(&model, &derivation, &sizes, options, dense)?;
    let tables = tables.filter(|_| with_tables).unwrap_or_default();
    Ok(Report { sizes: ordered(&model, &sizes), model, derivation, length_values, tables, claims, runs, notes })
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

/// Brute force and the tables of the closed forms at `sizes`, the domain and every table
/// checked against brute force.
fn tables_checked(model: &Model, derivation: &Derivation, sizes: &Env) -> Result<(BruteForce, Vec<Table>), CheckError> {
    let brute = BruteForce::at(model, sizes, &derivation.limits)?;
    check_domain(model, derivation, sizes, &brute)?;
    let tables: Vec<Table> =
        model.tensors.iter().map(|t| table(model, derivation, &t.name, sizes)).collect::<Result<_, _>>()?;
    let entries: Vec<Vec<Vec<Value>>> = tables.iter().map(|t| t.entries.clone()).collect();
    check_closed_forms(model, derivation, sizes, &brute, &entries)?;
    Ok((brute, tables))
}
