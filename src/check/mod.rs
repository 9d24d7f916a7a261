//! Checks: claims (proved by the e-graph, else checked by brute force over sizes, else
//! refuted with a counterexample), the brute-force cross-check of every symbolic result,
//! the Jacobian tables, and the runs on the engine.

mod freivalds;
mod runs;
mod validate;

pub use runs::{conv_of, run_engine, values, EngineRun, JacobianCheck, RunOptions, Weights, ENTRY_LIMIT};

use crate::algebra::formula::{show_value, ElemRef, Summation};
use crate::algebra::index::IndexAtom;
use crate::algebra::{Env, EvalError, Formula, Index, IndexExt, Value};
use crate::derive::{Derivation, Derivative, Prover, Step};
use crate::model::{ClaimKind, Model, Role};
use std::collections::BTreeMap;
use validate::{Claimed, Validation};

/// Why checking could not be completed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    /// A symbolic result disagrees with brute force: a bug in symconv.
    #[error("internal error (a bug in symconv): {0}")]
    Bug(String),
    /// The sizes make no sense for this spec.
    #[error("{0}")]
    Sizes(String),
    /// The work would pass one of symconv's limits (tables, brute-force searches).
    #[error("{0}")]
    Limit(String),
    /// A `run` line would pass one of symconv's limits at the sizes.
    #[error("{message}")]
    RunLimit {
        /// The run's line.
        span: crate::syntax::Span,
        /// Which limit, and by how much.
        message: String,
    },
    /// The engine failed on a run.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// Evaluation failed at concrete sizes.
    #[error("at {sizes}: {error}")]
    Eval {
        /// The sizes, as `n = 10, k = 3`.
        sizes: String,
        /// What failed.
        error: EvalError,
    },
}

/// How a claim was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The e-graph proved it.
    Proved,
    /// Brute force agreed at every size tried.
    Checked,
    /// A counterexample disproves it.
    Refuted,
}

/// A claim with its verdict.
#[derive(Debug, Clone)]
pub struct ClaimReport {
    /// The claim as written.
    pub text: String,
    /// The verdict.
    pub verdict: Verdict,
    /// How: the proof's summary, the sizes checked, or the counterexample.
    pub how: String,
    /// The proof, when proved.
    pub proof: Vec<Step>,
}

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

/// A Jacobian `∂s/∂t` at concrete sizes.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The spec's name.
    pub spec: String,
    /// The output tensor.
    pub output: String,
    /// The tensor differentiated against.
    pub wrt: String,
    /// `∂s_i/∂x_j`, the entry's symbolic name.
    pub title: String,
    /// The output's index names and the tensor's, for labels.
    pub index_names: (Vec<String>, Vec<String>),
    /// The sizes, in the spec's order.
    pub sizes: Vec<(String, i64)>,
    /// The output's shape at these sizes.
    pub output_shape: Vec<i64>,
    /// The tensor's shape at these sizes.
    pub wrt_shape: Vec<i64>,
    /// The output index of each row.
    pub rows: Vec<Vec<i64>>,
    /// The tensor index of each column.
    pub cols: Vec<Vec<i64>>,
    /// `entries[r][c]`, exact.
    pub entries: Vec<Vec<Value>>,
}

impl Table {
    /// The entries as text (`w[2]`, `2*w[0] + w[1]`, `0`).
    pub fn entry_texts(&self) -> Vec<Vec<String>> {
        self.entries.iter().map(|row| row.iter().map(show_value).collect()).collect()
    }
}

/// `n = 10, k = 3`.
pub fn show_sizes(sizes: &[(String, i64)]) -> String {
    sizes.iter().map(|(n, v)| format!("{n} = {v}")).collect::<Vec<_>>().join(", ")
}

pub(crate) fn ordered(model: &Model, sizes: &Env) -> Vec<(String, i64)> {
    model.sizes.iter().filter_map(|n| sizes.get(n).map(|v| (n.clone(), *v))).collect()
}

/// The spec's sizes at these values, in the spec's order, as `n = 10, k = 3`.
pub(crate) fn shown_sizes(model: &Model, sizes: &Env) -> String {
    show_sizes(&ordered(model, sizes))
}

pub(crate) fn eval_err(model: &Model, sizes: &Env) -> impl Fn(EvalError) -> CheckError {
    let shown = shown_sizes(model, sizes);
    move |error| CheckError::Eval { sizes: shown.clone(), error }
}

/// The output index tuples in the domain at the given sizes, by brute force from the
/// definition of the domain (no symbolic result is used), in row-major order.
pub fn brute_domain(model: &Model, sizes: &Env) -> Result<Vec<Vec<i64>>, CheckError> {
    let err = eval_err(model, sizes);
    if let Some(shape) = &model.output.shape {
        let dims = shape.iter().map(|d| d.eval(sizes)).collect::<Result<Vec<_>, _>>().map_err(&err)?;
        let windows: Vec<(i64, i64)> = dims.iter().map(|&d| (0, d.saturating_sub(1))).collect();
        searchable(model, sizes, &windows)?;
        return Ok(tuples(&windows));
    }
    let reach = reach(model, sizes, None);
    let mut ranges = BTreeMap::new();
    for t in &model.tensors {
        let dims = t.shape.iter().map(|d| d.eval(sizes)).collect::<Result<Vec<_>, _>>().map_err(&err)?;
        let (before, after) = (t.pad.0.eval(sizes).map_err(&err)?, t.pad.1.eval(sizes).map_err(&err)?);
        let last = dims.len() - 1;
        let padded: Vec<(i64, i64)> = dims
            .iter()
            .enumerate()
            .map(|(a, &d)| if a == last { (-before, d - 1 + after) } else { (0, d - 1) })
            .collect();
        ranges.insert(t.name.as_str(), (t.role, dims, padded));
    }
    let windows: Vec<(i64, i64)> = model
        .output
        .indices
        .iter()
        .map(|i| weight_window(model, &ranges, i, sizes).unwrap_or((-reach, reach)))
        .collect();
    searchable(model, sizes, &windows)?;
    // Summed indices run over the values that keep a weight element in range: others
    // cannot use the weight.
    let weight_shape = |t: &str| ranges.get(t).filter(|r| r.0 == Role::Weight).map(|r| r.1.clone());
    let summations: Vec<Summation> = model.formula.terms.iter().map(|t| t.summation(&weight_shape)).collect();
    let mut out = Vec::new();
    let mut env = sizes.clone();
    for i in tuples(&windows) {
        for (name, &v) in model.output.indices.iter().zip(&i) {
            set(&mut env, name, v);
        }
        if valid_at(model, &ranges, &summations, &mut env, reach).map_err(&err)? {
            out.push(i);
        }
    }
    Ok(out)
}

/// How many tuples a box of inclusive ranges `(lo, hi)` holds, saturating.
pub fn box_size(ranges: impl IntoIterator<Item = (i64, i64)>) -> u64 {
    ranges.into_iter().fold(1u64, |n, (lo, hi)| n.saturating_mul(hi.saturating_sub(lo).saturating_add(1).max(0) as u64))
}

/// Refuses a brute-force search of the output indices in `windows` (inclusive ranges)
/// when there are more than [`SEARCH_LIMIT`] of them.
fn searchable(model: &Model, sizes: &Env, windows: &[(i64, i64)]) -> Result<(), CheckError> {
    let searched = box_size(windows.iter().copied());
    if searched > SEARCH_LIMIT {
        return Err(CheckError::Limit(format!(
            "at {} brute force would search {searched} output indices, more than the limit of {SEARCH_LIMIT}: \
             choose smaller sizes with --let",
            shown_sizes(model, sizes)
        )));
    }
    Ok(())
}

/// How far from 0 an output index (`Some`) or any index (`None`) is searched: far enough
/// that beyond it every element index of a term lies outside its (padded) range, for the
/// formulas the valid rule takes (a too small window shows up as a disagreement with the
/// symbolic domain, never silently).
fn reach(model: &Model, sizes: &Env, index: Option<&str>) -> i64 {
    let mut constants = 0i64;
    let mut factor = 1i64;
    for t in &model.formula.terms {
        for p in t.elements.iter().flat_map(|e| &e.index) {
            constants = constants.saturating_add(p.constant_term().saturating_abs());
            for (m, c) in p.terms() {
                let atom = Index::monomial(1, m.clone());
                // A summed index scaled by c moves the others c times as far; an output
                // index under `div d` reaches d times as far as the quotient does.
                if t.bound.iter().any(|b| atom.mentions(b)) || index.is_none() {
                    factor = factor.max(c.saturating_abs());
                }
                for a in m {
                    if let IndexAtom::Div(inner, d) = a {
                        if index.is_none_or(|i| inner.mentions(i)) {
                            factor = factor.max(d.as_constant().unwrap_or(1).saturating_abs());
                        }
                    }
                }
            }
        }
    }
    let total: i64 = sizes.values().fold(0i64, |s, v| s.saturating_add(v.saturating_abs()));
    total.saturating_add(constants).saturating_add(4).saturating_mul(factor)
}

/// The values an output index can take at all when every weight-using term indexes a
/// weight by it directly (`w_<o, c, m>`, `w_<c, 0, m>`): the weight's range along that
/// axis, since a term that uses the weight must keep that index inside it.
fn weight_window(model: &Model, ranges: &Ranges, index: &str, sizes: &Env) -> Option<(i64, i64)> {
    let mut window: Option<(i64, i64)> = None;
    for term in &model.formula.terms {
        let weights =
            term.elements.iter().filter(|e| ranges.get(e.tensor.as_str()).is_some_and(|r| r.0 == Role::Weight));
        let mut found = None;
        for e in weights {
            for (p, &d) in e.index.iter().zip(&ranges[e.tensor.as_str()].1) {
                let (c, rest) = p.linear_in(index)?;
                let only_sizes = rest.names().iter().all(|n| model.sizes.contains(n));
                if let (Some(c @ (1 | -1)), true) = (c.as_constant(), only_sizes) {
                    // 0 ≤ c·i + r ≤ d - 1
                    let r = rest.eval(sizes).ok()?;
                    found = Some(if c == 1 { (-r, d - 1 - r) } else { (r - d + 1, r) });
                }
            }
        }
        let (lo, hi) = found?;
        window = Some(window.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
    }
    window
}

/// Each tensor's role, shape and padded range at the sizes being checked.
type Ranges<'m> = BTreeMap<&'m str, (Role, Vec<i64>, Vec<(i64, i64)>)>;

/// The valid rule at one output index: some term uses a weight element, and every term
/// that does reads every other tensor inside its padded range. Summed indices run over
/// the values that keep a weight element in range (others cannot use the weight), and over
/// `-reach..=reach` where no weight index bounds them.
fn valid_at(
    model: &Model,
    ranges: &Ranges,
    summations: &[Summation],
    env: &mut Env,
    reach: i64,
) -> Result<bool, EvalError> {
    let role = |t: &str| ranges.get(t).map(|r| r.0);
    let mut used = false;
    for (term, summation) in model.formula.terms.iter().zip(summations) {
        if !term.elements.iter().any(|e| role(&e.tensor) == Some(Role::Weight)) {
            continue;
        }
        let complete = summation.for_each(env, Some((-reach, reach)), &mut |env| {
            for c in &term.brackets {
                if !c.eval(env)? {
                    return Ok(true);
                }
            }
            for e in term.elements.iter().filter(|e| role(&e.tensor) == Some(Role::Weight)) {
                for (p, &d) in e.index.iter().zip(&ranges[e.tensor.as_str()].1) {
                    if !(0..d).contains(&p.eval(env)?) {
                        return Ok(true);
                    }
                }
            }
            used = true;
            for e in term.elements.iter().filter(|e| role(&e.tensor) == Some(Role::Input)) {
                for (p, &(lo, hi)) in e.index.iter().zip(&ranges[e.tensor.as_str()].2) {
                    if !(lo..=hi).contains(&p.eval(env)?) {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })?;
        if !complete {
            return Ok(false);
        }
    }
    Ok(used)
}

/// Sets a name's value, allocating only for a new name.
fn set(env: &mut Env, name: &str, value: i64) {
    match env.get_mut(name) {
        Some(v) => *v = value,
        None => {
            env.insert(name.to_string(), value);
        }
    }
}

/// Every tuple in a box of inclusive ranges, row-major.
pub(crate) fn tuples(ranges: &[(i64, i64)]) -> Vec<Vec<i64>> {
    let mut out = vec![Vec::new()];
    for &(lo, hi) in ranges {
        out = out.into_iter().flat_map(|t| (lo..=hi).map(move |v| [t.clone(), vec![v]].concat())).collect();
    }
    out
}

/// The formula's value at each row, differentiated formally: `∂s/∂t` by brute force.
pub fn brute_jacobian(model: &Model, sizes: &Env, wrt: &str, rows: &[Vec<i64>]) -> Result<Vec<Vec<Value>>, CheckError> {
    differentiate(model, sizes, wrt, &expand(model, sizes, rows)?)
}

/// The formula at each row, expanded exactly into a polynomial in the tensors' elements.
pub fn expand(model: &Model, sizes: &Env, rows: &[Vec<i64>]) -> Result<Vec<Value>, CheckError> {
    let err = eval_err(model, sizes);
    let shape = |t: &str| model.shape_at(t, sizes);
    let mut env = sizes.clone();
    rows.iter()
        .map(|i| {
            env.extend(model.output.indices.iter().cloned().zip(i.iter().copied()));
            model.formula.eval(&env, &shape).map_err(&err)
        })
        .collect()
}

/// Each expansion differentiated formally by every element of `wrt`.
fn differentiate(model: &Model, sizes: &Env, wrt: &str, expansions: &[Value]) -> Result<Vec<Vec<Value>>, CheckError> {
    let dims =
        model.shape_at(wrt, sizes).ok_or_else(|| CheckError::Sizes(format!("`{wrt}` has no shape at these sizes")))?;
    table_size(model, sizes, wrt, &dims, expansions.len())?;
    let cols = tuples(&dims.iter().map(|&d| (0, d - 1)).collect::<Vec<_>>());
    let col_of: BTreeMap<&Vec<i64>, usize> = cols.iter().enumerate().map(|(c, t)| (t, c)).collect();
    let mut table = Vec::new();
    for s in expansions {
        let mut row = vec![Value::zero(); cols.len()];
        for (m, c) in s.terms() {
            let mut seen: Vec<&ElemRef> = Vec::new();
            for e in m.iter().filter(|e| e.tensor == wrt) {
                if seen.contains(&e) {
                    continue;
                }
                seen.push(e);
                let times = m.iter().filter(|x| *x == e).count() as i64;
                let mut rest = m.clone();
                let at = rest.iter().position(|x| x == e).expect("e is in m");
                rest.remove(at);
                let col = col_of[&e.index];
                row[col].add_term(rest, c.saturating_mul(times));
            }
        }
        table.push(row);
    }
    Ok(table)
}

/// A formula's table over the rows and every element of `wrt`, with the output's index
/// names bound to the row and `wrt_names` to the column.
fn formula_table(
    model: &Model,
    sizes: &Env,
    f: &Formula,
    wrt: &str,
    wrt_names: &[String],
    rows: &[Vec<i64>],
) -> Result<Vec<Vec<Value>>, CheckError> {
    let err = eval_err(model, sizes);
    let shape = |t: &str| model.shape_at(t, sizes);
    let dims = shape(wrt).unwrap_or_default();
    table_size(model, sizes, wrt, &dims, rows.len())?;
    let cols = tuples(&dims.iter().map(|&d| (0, d - 1)).collect::<Vec<_>>());
    let mut table = Vec::new();
    let mut env = sizes.clone();
    for i in rows {
        let mut row = Vec::new();
        for (name, &v) in model.output.indices.iter().zip(i) {
            set(&mut env, name, v);
        }
        for j in &cols {
            for (name, &v) in wrt_names.iter().zip(j) {
                set(&mut env, name, v);
            }
            row.push(f.eval(&env, &shape).map_err(&err)?);
        }
        table.push(row);
    }
    Ok(table)
}

/// The rows of the symbolic domain at the given sizes.
pub(crate) fn domain_rows(derivation: &Derivation, model: &Model, sizes: &Env) -> Result<Vec<Vec<i64>>, CheckError> {
    let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
    Ok(tuples(&ranges))
}

/// Most entries a Jacobian table may have (at most this many exact values are computed).
pub const TABLE_LIMIT: u64 = 1_000_000;

/// Most output index tuples brute force may try for the domain.
pub const SEARCH_LIMIT: u64 = 4_000_000;

/// Refuses a table of more than [`TABLE_LIMIT`] entries, saying how large it would be.
fn table_size(model: &Model, sizes: &Env, wrt: &str, dims: &[i64], rows: usize) -> Result<(), CheckError> {
    let count = dims.iter().fold(rows as u64, |n, &d| n.saturating_mul(d.max(0) as u64));
    if count > TABLE_LIMIT {
        return Err(CheckError::Limit(format!(
            "at {} the table ∂{}/∂{wrt} would have {count} entries, more than the limit of {TABLE_LIMIT}: \
             choose smaller sizes with --let",
            shown_sizes(model, sizes),
            model.output.name
        )));
    }
    Ok(())
}

/// The Jacobian table `∂s/∂t` from the derived closed form.
pub fn table(model: &Model, derivation: &Derivation, wrt: &str, sizes: &Env) -> Result<Table, CheckError> {
    let d = derivation
        .derivatives
        .iter()
        .find(|d| d.wrt == wrt)
        .ok_or_else(|| CheckError::Sizes(format!("`{wrt}` is no input or weight")))?;
    let rows = domain_rows(derivation, model, sizes)?;
    let wrt_shape = model.shape_at(wrt, sizes).unwrap_or_default();
    if wrt_shape.iter().any(|&d| d <= 0) {
        return Err(CheckError::Sizes(format!("`{wrt}` has shape {wrt_shape:?} at {}", shown_sizes(model, sizes))));
    }
    let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
    let output_shape: Vec<i64> = runs::lengths(&ranges);
    let entries = formula_table(model, sizes, &d.closed_form, wrt, &d.wrt_indices, &rows)?;
    Ok(Table {
        spec: model.name.clone(),
        output: model.output.name.clone(),
        wrt: wrt.to_string(),
        title: d.name(model),
        index_names: (model.output.indices.clone(), d.wrt_indices.clone()),
        sizes: ordered(model, sizes),
        output_shape,
        cols: tuples(&wrt_shape.iter().map(|&d| (0, d - 1)).collect::<Vec<_>>()),
        wrt_shape,
        rows,
        entries,
    })
}

/// Cross-checks every symbolic result (domain, length, each closed form) against brute
/// force at the given sizes; a disagreement is a bug in symconv.
pub fn cross_check(model: &Model, derivation: &Derivation, sizes: &Env) -> Result<(), CheckError> {
    cross_check_against(model, derivation, sizes, &Brute::at(model, sizes)?)
}

/// Brute force at one set of sizes, straight from the definition: the domain and the
/// Jacobian of every input and weight over it.
struct Brute {
    rows: Vec<Vec<i64>>,
    expansions: Vec<Value>,
    jacobians: BTreeMap<String, Vec<Vec<Value>>>,
}

impl Brute {
    fn at(model: &Model, sizes: &Env) -> Result<Brute, CheckError> {
        let rows = brute_domain(model, sizes)?;
        for t in &model.tensors {
            table_size(model, sizes, &t.name, &model.shape_at(&t.name, sizes).unwrap_or_default(), rows.len())?;
        }
        let expansions = expand(model, sizes, &rows)?;
        let jacobians = model
            .tensors
            .iter()
            .map(|t| Ok((t.name.clone(), differentiate(model, sizes, &t.name, &expansions)?)))
            .collect::<Result<_, CheckError>>()?;
        Ok(Brute { rows, expansions, jacobians })
    }
}

fn cross_check_against(model: &Model, derivation: &Derivation, sizes: &Env, brute: &Brute) -> Result<(), CheckError> {
    check_domain(model, derivation, sizes, brute)?;
    let closed = derivation
        .derivatives
        .iter()
        .map(|d| formula_table(model, sizes, &d.closed_form, &d.wrt, &d.wrt_indices, &brute.rows))
        .collect::<Result<Vec<_>, _>>()?;
    check_closed_forms(model, derivation, sizes, brute, &closed)
}

/// The derived domain against brute force.
fn check_domain(model: &Model, derivation: &Derivation, sizes: &Env, brute: &Brute) -> Result<(), CheckError> {
    let symbolic = domain_rows(derivation, model, sizes)?;
    if symbolic != brute.rows {
        return Err(CheckError::Bug(format!(
            "at {} the derived domain has {} outputs, brute force finds {}",
            shown_sizes(model, sizes),
            symbolic.len(),
            brute.rows.len()
        )));
    }
    Ok(())
}

/// Each derivative's closed form, tabled over the domain, against brute force.
fn check_closed_forms(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    brute: &Brute,
    closed: &[Vec<Vec<Value>>],
) -> Result<(), CheckError> {
    for (d, table) in derivation.derivatives.iter().zip(closed) {
        let expected = &brute.jacobians[&d.wrt];
        if let Some((r, c)) = first_difference(table, expected) {
            return Err(CheckError::Bug(format!(
                "at {}, row {:?}, column {c}: the closed form of {} gives {}, brute force {}",
                shown_sizes(model, sizes),
                brute.rows[r],
                d.name(model),
                show_value(&table[r][c]),
                show_value(&expected[r][c])
            )));
        }
    }
    Ok(())
}

fn first_difference<T: PartialEq>(a: &[Vec<T>], b: &[Vec<T>]) -> Option<(usize, usize)> {
    a.iter().zip(b).enumerate().find_map(|(r, (x, y))| x.iter().zip(y).position(|(p, q)| p != q).map(|c| (r, c)))
}

/// The sizes for numeric checks: the `let` sizes, then every `n ≤ 16` (the size named
/// `n`, else the first) with every other size from 1 to `n`, at most [`SWEEP_CAP`] sets.
pub fn sweep(model: &Model) -> (Vec<Env>, String) {
    let primary = model.sizes.iter().find(|n| *n == "n").or(model.sizes.first()).cloned();
    let mut sets = vec![model.values.clone()];
    let Some(primary) = primary else { return (sets, "the let sizes".into()) };
    // Each other size from its least value: 0 for a pad, else 1.
    let others: Vec<(&String, i64)> =
        model.sizes.iter().filter(|n| **n != primary).map(|n| (n, model.least(n))).collect();
    // Saturating: a spec may have dozens of sizes, and 16 to the power of them overflows.
    let count = |top: i64| {
        (1..=top)
            .map(|n| others.iter().fold(1i64, |c, (_, least)| c.saturating_mul(n - least + 1)))
            .fold(0, i64::saturating_add)
    };
    let top = (1..=16).rev().find(|&t| count(t) <= SWEEP_CAP).unwrap_or(1);
    for n in 1..=top {
        for values in tuples(&others.iter().map(|(_, least)| (*least, n)).collect::<Vec<_>>()) {
            let mut env: Env = others.iter().map(|(s, _)| s.to_string()).zip(values).collect();
            env.insert(primary.clone(), n);
            sets.push(env);
        }
    }
    let pads = if others.iter().any(|(_, least)| *least == 0) { " (pads from 0)" } else { "" };
    let rest = match others.is_empty() {
        true => String::new(),
        false => format!(" with every other size from 1{pads} to {primary}"),
    };
    (sets, format!("the let sizes and every {primary} ≤ {top}{rest}"))
}

/// Most size sets a numeric check tries.
pub const SWEEP_CAP: i64 = 2000;

/// Whether every tensor and output axis is nonempty at these sizes.
fn sensible(model: &Model, derivation: &Derivation, sizes: &Env) -> bool {
    let least_ok = model.sizes.iter().all(|n| sizes.get(n).is_some_and(|&v| v >= model.least(n)));
    let shapes_ok =
        least_ok && model.tensors.iter().all(|t| t.shape.iter().all(|d| d.eval(sizes).is_ok_and(|v| v > 0)));
    let domain_ok = derivation.domain.at(sizes).is_ok_and(|r| r.iter().all(|(lo, hi)| hi >= lo));
    shapes_ok && domain_ok
}

/// Brute force at smaller sizes than the model's, where those are too large for it: of
/// the size sets of the claims' sweep within [`VALIDATION_WORK`], one whose smallest size
/// and number of outputs are both largest (no size at 1 and no output alone where
/// another set will do), then with the most brute-force work; cross-checked there.
fn smaller_validation(model: &Model, derivation: &Derivation) -> Result<Validation, CheckError> {
    let (sets, _) = sweep(model);
    let sizes = sets
        .into_iter()
        .skip(1)
        .filter(|s| sensible(model, derivation, s))
        .map(|s| (brute_work(model, derivation, &s), s))
        .filter(|(work, _)| *work <= VALIDATION_WORK)
        .max_by_key(|(work, s)| {
            let outputs = derivation.domain.at(s).map_or(0, |r| runs::lengths(&r).iter().product::<i64>());
            (s.values().copied().min().unwrap_or(0).min(outputs), *work)
        })
        .map(|(_, s)| s)
        .ok_or_else(|| CheckError::Limit("no sizes are small enough to check the proofs by numbers".into()))?;
    let brute = Brute::at(model, &sizes)?;
    cross_check_against(model, derivation, &sizes, &brute)?;
    Ok(Validation::new(model, sizes, brute))
}

/// Most brute-force work (see [`brute_work`]) spent on checking proofs at smaller sizes.
pub const VALIDATION_WORK: u64 = 200_000;

/// Settles every claim of the model as [`report`] does: proved claims are checked by
/// numbers at the `let` sizes (or, where those are too large for brute force, at the
/// smaller sizes [`report`] would use), after the derivation is cross-checked there.
pub fn settle_claims(model: &Model, derivation: &Derivation) -> Result<Vec<ClaimReport>, CheckError> {
    let at = match Brute::at(model, &model.values) {
        Ok(brute) => {
            cross_check_against(model, derivation, &model.values, &brute)?;
            Validation::new(model, model.values.clone(), brute)
        }
        Err(CheckError::Limit(_)) => smaller_validation(model, derivation)?,
        Err(e) => return Err(e),
    };
    claims(model, derivation, &at)
}

/// Settles every claim of the model; proved claims are checked by numbers at `at`.
fn claims(model: &Model, derivation: &Derivation, at: &Validation) -> Result<Vec<ClaimReport>, CheckError> {
    let prover = derivation.prover();
    model.claims.iter().map(|c| claim(model, derivation, &prover, &c.text, &c.kind, at)).collect()
}

fn claim(
    model: &Model,
    derivation: &Derivation,
    prover: &Prover,
    text: &str,
    kind: &ClaimKind,
    at: &Validation,
) -> Result<ClaimReport, CheckError> {
    let report = |verdict, how: String, proof| Ok(ClaimReport { text: text.to_string(), verdict, how, proof });
    // A proof is printed only once numbers agree with it: each step, and the claim.
    let renamed = match kind {
        ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } => {
            Some(derivation.in_own_names(model, value, out_indices, wrt_indices, derivative(derivation, wrt)))
        }
        ClaimKind::Length { .. } => None,
    };
    // A claim that numbers refute at the let sizes is not worth proving: it is refuted
    // with the counterexample that the sweep below would find first.
    let agreed = at.sizes == model.values && validate::agrees(model, derivation, kind, renamed.as_ref(), at)?;
    if at.sizes == model.values && !agreed {
        if let Some(how) = counterexample(model, derivation, kind, &at.sizes, &at.brute)? {
            return report(Verdict::Refuted, how, Vec::new());
        }
    }
    let proved = |proof: Vec<Step>, how: String, claimed: Option<&Formula>| {
        let agrees = match (kind, claimed) {
            (ClaimKind::Derivative { wrt, .. }, Some(f)) => {
                let claimed = if agreed { Claimed::Agrees } else { Claimed::Unknown(f) };
                validate::claim(model, derivative(derivation, wrt), text, &proof, claimed, at)?
            }
            _ => agreed,
        };
        // Where the fast check by residues did not settle it, exactly.
        if !agrees {
            if let Some(why) = counterexample(model, derivation, kind, &at.sizes, &at.brute)? {
                return Err(CheckError::Bug(format!("the claim `{text}` was proved, but {why}")));
            }
        }
        report(Verdict::Proved, how, proof)
    };
    let why_not = match kind {
        ClaimKind::Length { axis, value, written } => match derivation.prove_length(model, *axis, value, written) {
            Ok(Some(proof)) => {
                validate::length(model, *axis, text, &proof, at)?;
                return proved(proof, format!("the derived length is {}", derivation.lengths[*axis]), None);
            }
            Ok(None) => String::new(),
            Err(e) => format!(" ({e})"),
        },
        ClaimKind::Derivative { wrt, .. } => {
            let d = derivative(derivation, wrt);
            let renamed = renamed.as_ref().expect("a derivative claim is renamed");
            match prover.prove(model, d, renamed) {
                Ok(Some(proof)) => {
                    let how = match proof.is_empty() {
                        true => format!("it is the derived closed form of {}", d.name(model)),
                        false => format!("it shares an e-class with the derived closed form of {}", d.name(model)),
                    };
                    return proved(proof, how, Some(renamed));
                }
                Ok(None) => String::new(),
                Err(e) => format!(" ({e})"),
            }
        }
    };
    let (sets, described) = sweep(model);
    let (mut tried, mut work, mut stopped) = (0, 0u64, None);
    for sizes in sets.iter().filter(|s| sensible(model, derivation, s)) {
        let cost = brute_work(model, derivation, sizes);
        if tried > 0 && work.saturating_add(cost) > CHECK_WORK {
            stopped = Some(sizes);
            break;
        }
        (tried, work) = (tried + 1, work + cost);
        if let Some(how) = counterexample(model, derivation, kind, sizes, &Brute::at(model, sizes)?)? {
            return report(Verdict::Refuted, how, Vec::new());
        }
    }
    let stopped = stopped.map_or(String::new(), |s| {
        format!(", in that order, stopping before {} at symconv's limit of brute-force work", shown_sizes(model, s))
    });
    report(
        Verdict::Checked,
        format!("not proved{why_not}; brute force agrees at {tried} size sets ({described}{stopped})"),
        Vec::new(),
    )
}

/// The derivative of a tensor that a claim or run names (a declared input or weight).
fn derivative<'d>(derivation: &'d Derivation, wrt: &str) -> &'d Derivative {
    derivation.derivatives.iter().find(|d| d.wrt == wrt).expect("claims and runs name declared tensors")
}

/// Most brute-force work one claim's check does, counted as in [`brute_work`].
pub const CHECK_WORK: u64 = 2_000_000;

/// The work of brute force at one set of sizes: every output, times every element of
/// every tensor it may read.
fn brute_work(model: &Model, derivation: &Derivation, sizes: &Env) -> u64 {
    let count = |dims: &[i64]| dims.iter().fold(1u64, |p, &d| p.saturating_mul(d.max(0) as u64));
    let outputs = derivation.domain.at(sizes).map_or(0, |r| count(&runs::lengths(&r)));
    let elements = model
        .tensors
        .iter()
        .map(|t| count(&model.shape_at(&t.name, sizes).unwrap_or_default()))
        .fold(0u64, u64::saturating_add);
    outputs.saturating_mul(elements)
}

/// The first place where a claim and brute force disagree at one set of sizes, told with
/// the sizes, the claim's own index names and both values; `None` when they agree.
fn counterexample(
    model: &Model,
    derivation: &Derivation,
    kind: &ClaimKind,
    sizes: &Env,
    brute: &Brute,
) -> Result<Option<String>, CheckError> {
    let at = shown_sizes(model, sizes);
    let rows = &brute.rows;
    match kind {
        ClaimKind::Length { axis, value, .. } => {
            let actual = rows.iter().map(|r| r[*axis]).collect::<std::collections::BTreeSet<_>>().len() as i64;
            let claimed = value.eval(sizes).map_err(eval_err(model, sizes))?;
            Ok((actual != claimed).then(|| format!("at {at} the length is {actual}, the claim gives {claimed}")))
        }
        ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } => {
            let d = derivative(derivation, wrt);
            let renamed = derivation.in_own_names(model, value, out_indices, wrt_indices, d);
            let claimed = formula_table(model, sizes, &renamed, wrt, &d.wrt_indices, rows)?;
            let actual = &brute.jacobians[wrt];
            let Some((r, c)) = first_difference(&claimed, actual) else { return Ok(None) };
            let dims = model.shape_at(wrt, sizes).unwrap_or_default();
            let col = &tuples(&dims.iter().map(|&d| (0, d - 1)).collect::<Vec<_>>())[c];
            let indices: Vec<String> = out_indices
                .iter()
                .zip(&rows[r])
                .chain(wrt_indices.iter().zip(col))
                .map(|(n, v)| format!("{n} = {v}"))
                .collect();
            Ok(Some(format!(
                "at {at}, {}: the claim gives {}, the definition gives {}",
                indices.join(", "),
                show_value(&claimed[r][c]),
                show_value(&actual[r][c])
            )))
        }
    }
}

/// Every run of the model on the engine, at the given sizes, against the formula's
/// expansions over the domain and the closed forms' tables there.
fn runs(
    model: &Model,
    sizes: &Env,
    options: RunOptions,
    expansions: &[Value],
    tables: &[Table],
) -> Result<Vec<RunReport>, CheckError> {
    model.runs.iter().map(|r| runs::run(model, r, sizes, options, expansions, tables)).collect()
}

/// The symbolic length at the given sizes, per axis (0 where the domain is empty).
pub fn length_at(model: &Model, derivation: &Derivation, sizes: &Env) -> Result<Vec<i64>, CheckError> {
    let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
    Ok(runs::lengths(&ranges))
}

/// A derivative's closed form as `∂s_i/∂x_j = …`.
pub fn closed_form_text(model: &Model, d: &Derivative) -> String {
    format!("{} = {}", d.name(model), d.closed_form.show(&model.sizes))
}

/// A range of values for one size: `n = 1..32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeRange {
    /// The size.
    pub name: String,
    /// The first value.
    pub lo: i64,
    /// The last value (inclusive).
    pub hi: i64,
}

/// What a sweep found.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    /// The ranges swept; other sizes kept their values.
    pub ranges: Vec<SizeRange>,
    /// How many size sets were checked.
    pub checked: usize,
    /// How many were skipped because a tensor or the output is empty there.
    pub skipped: usize,
    /// For each claim that fails somewhere, its text and the first counterexample.
    pub failures: Vec<(String, String)>,
}

/// Most size sets one sweep may visit.
pub const SWEEP_LIMIT: u64 = 1_000_000;

/// Cross-checks every symbolic result (domain, lengths, closed forms) and every claim
/// against brute force at every combination of the ranges, the other sizes keeping their
/// values, on all cores; `tick` is called once per size set. A disagreement of a symbolic
/// result, or of a claim that `claims` says was proved, is a bug ([`CheckError::Bug`]);
/// another claim's is a counterexample in the report.
pub fn sweep_check(
    model: &Model,
    derivation: &Derivation,
    claims: &[ClaimReport],
    ranges: &[SizeRange],
    tick: &(dyn Fn() + Sync),
) -> Result<SweepReport, CheckError> {
    let proved: Vec<bool> = claims.iter().map(|c| c.verdict == Verdict::Proved).collect();
    for r in ranges {
        if !model.sizes.contains(&r.name) {
            return Err(CheckError::Sizes(format!("--sweep names `{}`, which is no size of this spec", r.name)));
        }
        if r.lo < 0 || r.hi < r.lo {
            return Err(CheckError::Sizes(format!("--sweep {} = {}..{} is no range of sizes", r.name, r.lo, r.hi)));
        }
    }
    let count = box_size(ranges.iter().map(|r| (r.lo, r.hi)));
    if count > SWEEP_LIMIT {
        return Err(CheckError::Sizes(format!("--sweep spans {count} size sets; the limit is {SWEEP_LIMIT}")));
    }
    let sets: Vec<Env> = tuples(&ranges.iter().map(|r| (r.lo, r.hi)).collect::<Vec<_>>())
        .into_iter()
        .map(|values| {
            let mut env = model.values.clone();
            env.extend(ranges.iter().map(|r| r.name.clone()).zip(values));
            env
        })
        .collect();
    let proved = proved.as_slice();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, sets.len().max(1));
    let chunk = sets.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Part, CheckError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sets
            .chunks(chunk)
            .enumerate()
            .map(|(k, part)| scope.spawn(move || sweep_part(model, derivation, proved, part, k * chunk, tick)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(CheckError::Bug("a sweep thread panicked".into()))))
            .collect()
    });
    let mut report = SweepReport { ranges: ranges.to_vec(), checked: 0, skipped: 0, failures: Vec::new() };
    let mut first: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    for part in parts {
        let part = part?;
        report.checked += part.checked;
        report.skipped += part.skipped;
        for (claim, at, how) in part.failures {
            if first.get(&claim).is_none_or(|(seen, _)| at < *seen) {
                first.insert(claim, (at, how));
            }
        }
    }
    report.failures = first.into_iter().map(|(c, (_, how))| (model.claims[c].text.clone(), how)).collect();
    Ok(report)
}

/// One thread's share of a sweep: counts, and `(claim, set, counterexample)` failures.
struct Part {
    checked: usize,
    skipped: usize,
    failures: Vec<(usize, usize, String)>,
}

fn sweep_part(
    model: &Model,
    derivation: &Derivation,
    proved: &[bool],
    sets: &[Env],
    offset: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<Part, CheckError> {
    let mut part = Part { checked: 0, skipped: 0, failures: Vec::new() };
    for (k, sizes) in sets.iter().enumerate() {
        tick();
        if !sensible(model, derivation, sizes) {
            part.skipped += 1;
            continue;
        }
        part.checked += 1;
        let brute = Brute::at(model, sizes)?;
        cross_check_against(model, derivation, sizes, &brute)?;
        for (c, claim) in model.claims.iter().enumerate() {
            if part.failures.iter().any(|(seen, _, _)| *seen == c) {
                continue;
            }
            if let Some(how) = counterexample(model, derivation, &claim.kind, sizes, &brute)? {
                if proved.get(c) == Some(&true) {
                    return Err(CheckError::Bug(format!("the claim `{}` was proved, but {how}", claim.text)));
                }
                part.failures.push((c, offset + k, how));
            }
        }
    }
    Ok(part)
}

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
    if let Some(axis) = length_values.iter().position(|&l| l <= 0) {
        return Err(CheckError::Sizes(format!(
            "at {} the output is empty: its length along axis {axis} is {} = {}",
            shown_sizes(&model, &sizes),
            derivation.lengths[axis],
            length_values[axis]
        )));
    }
    if let Some(t) =
        model.tensors.iter().find(|t| model.shape_at(&t.name, &sizes).is_none_or(|s| s.iter().any(|&d| d <= 0)))
    {
        return Err(CheckError::Sizes(format!("at {} the tensor `{}` is empty", shown_sizes(&model, &sizes), t.name)));
    }
    if let Some(n) = model.sizes.iter().find(|n| sizes.get(*n).is_some_and(|&v| v < model.least(n))) {
        return Err(CheckError::Sizes(format!(
            "at {} the size `{n}`, which the formula multiplies an index by or divides by, is {}; it must be at least 1",
            shown_sizes(&model, &sizes),
            sizes[n]
        )));
    }
    // The tables are the closed forms at the let sizes: they are checked as printed,
    // unless they would be too large (then brute force would be too).
    let outputs = length_values.iter().fold(1u64, |n, &l| n.saturating_mul(l as u64));
    let dense = model
        .tensors
        .iter()
        .try_for_each(|t| {
            let dims = model.shape_at(&t.name, &sizes).unwrap_or_default();
            table_size(&model, &sizes, &t.name, &dims, outputs as usize)
        })
        .and_then(|()| Brute::at(&model, &sizes))
        .and_then(|brute| {
            check_domain(&model, &derivation, &sizes, &brute)?;
            let tables: Vec<Table> =
                model.tensors.iter().map(|t| table(&model, &derivation, &t.name, &sizes)).collect::<Result<_, _>>()?;
            let entries: Vec<Vec<Vec<Value>>> = tables.iter().map(|t| t.entries.clone()).collect();
            check_closed_forms(&model, &derivation, &sizes, &brute, &entries)?;
            Ok((brute, tables))
        });
    let (validation, tables, notes) = match dense {
        Ok((brute, tables)) => (Validation::new(&model, sizes.clone(), brute), Some(tables), Vec::new()),
        // Too large for brute force and tables: the proofs are checked by numbers at
        // smaller sizes, and the runs still compare every entry, row by row.
        Err(CheckError::Limit(why)) => {
            let validation = smaller_validation(&model, &derivation)?;
            let note = format!(
                "no brute-force cross-check and no tables at these sizes: {why}; the proofs are checked by numbers at {}",
                shown_sizes(&model, &validation.sizes)
            );
            (validation, None, vec![note])
        }
        Err(e) => return Err(e),
    };
    validate::derivation(&model, &derivation, &validation)?;
    let claims = claims(&model, &derivation, &validation)?;
    let runs = match &tables {
        Some(_) if options.jacobians == JacobianCheck::Freivalds => {
            model.runs.iter().map(|r| freivalds::run(&model, &derivation, r, &sizes, options)).collect()
        }
        Some(tables) => runs(&model, &sizes, options, &validation.brute.expansions, tables),
        None => model.runs.iter().map(|r| runs::run_large(&model, &derivation, r, &sizes, options)).collect(),
    }?;
    let tables = tables.filter(|_| with_tables).unwrap_or_default();
    Ok(Report { sizes: ordered(&model, &sizes), model, derivation, length_values, tables, claims, runs, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::index::var;
    use crate::algebra::Index;
    use crate::derive;

    fn standard() -> (Model, Derivation) {
        let src = "input x[n]\nweight w[k]\nlet n = 6, k = 3\ns_i = Σ x_l w_<i+k-l-1>\n";
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let derivation = derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        (model, derivation)
    }

    #[test]
    fn sweeps_of_specs_with_many_sizes_stay_within_the_cap() {
        // 21 sizes: 2^20 sets with every size up to 2 pass the cap, so only n = 1 is swept
        // (every other size 1), after the let sizes. 16^20 once overflowed.
        let names: Vec<String> = (0..20).map(|i| format!("a{i}")).collect();
        let src = format!(
            "input x[n + {}]\nweight w[k]\nlet n = 6, k = 3, {}\ns_i = Σ x_l w_<i+k-l-1>\n",
            names.join(" + "),
            names.iter().map(|a| format!("{a} = 1")).collect::<Vec<_>>().join(", ")
        );
        let model = crate::model::resolve(&crate::syntax::parse(&src).unwrap(), &src, "t", &[]).unwrap();
        let (sets, described) = sweep(&model);
        assert_eq!(sets.len(), 2, "{described}");
        assert!(sets[1].values().all(|&v| v == 1), "{:?}", sets[1]);
        assert_eq!(described, "the let sizes and every n ≤ 1 with every other size from 1 to n");
    }

    #[test]
    fn a_rule_that_explodes_in_one_step_stops_at_the_match_limit() {
        let path = std::path::Path::new("tests/fixtures/zero_claim.conv");
        let model = crate::cli::load(path, None).unwrap();
        let derivation = derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        let ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } = &model.claims[0].kind else {
            panic!("the fixture's claim is a derivative")
        };
        let d = derivation.derivatives.iter().find(|d| d.wrt == *wrt).unwrap();
        let renamed = derivation.in_own_names(&model, value, out_indices, wrt_indices, d);
        let proved = derivation.prover().prove(&model, d, &renamed);
        let Err(derive::DeriveError::Limit(why)) = proved else { panic!("expected a limit, got {proved:?}") };
        assert!(why.contains("matched more than 200000 times in one step"), "{why}");
        let at = Validation::new(&model, model.values.clone(), Brute::at(&model, &model.values).unwrap());
        let reports = claims(&model, &derivation, &at).unwrap();
        assert_eq!(reports[0].verdict, Verdict::Refuted);
        assert!(reports[0].how.contains("the claim gives 0, the definition gives x[0,0]"), "{}", reports[0].how);
    }

    #[test]
    fn a_proved_claim_that_fails_in_a_sweep_is_a_bug() {
        // `len(s) = n - k + 1` holds; told that a false `len(s) = n` was proved, the sweep
        // must stop with a bug, not list a counterexample.
        let src = "input x[n]\nweight w[k]\nlet n = 6, k = 3\ns_i = Σ x_l w_<i+k-l-1>\nclaim len(s) = n\n";
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let derivation = derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        let ranges = [SizeRange { name: "n".into(), lo: 3, hi: 4 }];
        let told =
            |verdict| vec![ClaimReport { text: "len(s) = n".into(), verdict, how: String::new(), proof: vec![] }];
        let report = sweep_check(&model, &derivation, &told(Verdict::Refuted), &ranges, &|| ()).unwrap();
        assert_eq!(report.failures.len(), 1);
        let err = sweep_check(&model, &derivation, &told(Verdict::Proved), &ranges, &|| ()).unwrap_err();
        assert!(matches!(&err, CheckError::Bug(why) if why.contains("`len(s) = n` was proved, but at n = 3")), "{err}");
    }

    #[test]
    fn brute_force_finds_the_valid_domain() {
        let (model, _) = standard();
        let rows = brute_domain(&model, &model.values).unwrap();
        assert_eq!(rows, (0..=3).map(|i| vec![i]).collect::<Vec<_>>());
    }

    #[test]
    fn a_wrong_closed_form_is_reported_as_a_bug() {
        let (model, mut derivation) = standard();
        assert_eq!(cross_check(&model, &derivation, &model.values), Ok(()));
        // The cross-correlation's kernel index instead of the convolution's.
        let term = &mut derivation.derivatives[0].closed_form.terms[0];
        term.elements[0].index[0] = var("j").sub(&var("i"));
        let err = cross_check(&model, &derivation, &model.values).unwrap_err();
        assert!(matches!(&err, CheckError::Bug(why) if why.contains("row [0], column 0")), "{err}");
    }

    #[test]
    fn a_wrong_domain_is_reported_as_a_bug() {
        let (model, mut derivation) = standard();
        derivation.domain.axes[0].1 = var("n").sub(&Index::constant(1));
        let err = cross_check(&model, &derivation, &model.values).unwrap_err();
        assert!(matches!(&err, CheckError::Bug(why) if why.contains("6 outputs, brute force finds 4")), "{err}");
    }

    #[test]
    fn brute_jacobians_differentiate_products_formally() {
        let src = "input x[n]\nweight w[k]\nlet n = 3, k = 1\ns_i = Σ x_l x_l w_<i-l>\n";
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let jx = brute_jacobian(&model, &model.values, "x", &[vec![1]]).unwrap();
        let shown: Vec<String> = jx[0].iter().map(show_value).collect();
        assert_eq!(shown, ["0", "2*w[0]*x[1]", "0"]);
    }
}
