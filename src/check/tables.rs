//! Jacobian tables from the closed forms, and the cross-check of every symbolic result
//! (domain, lengths, closed forms) against brute force.

use super::brute::{fits_in_table, lengths, set, tuples, BruteForce};
use super::error::{eval_err, ordered, shown_sizes, CheckError};
use crate::algebra::formula::show_value;
use crate::algebra::{Env, Formula, Value};
use crate::derive::backward::Gather;
use crate::derive::{Derivation, Derivative};
use crate::limits::Limits;
use crate::model::Model;

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

/// A formula's table over the rows and every element of `wrt`, with the output's index
/// names bound to the row and `wrt_names` to the column.
pub(crate) fn formula_table(
    model: &Model,
    sizes: &Env,
    f: &Formula,
    wrt: &str,
    wrt_names: &[String],
    rows: &[Vec<i64>],
    limits: &Limits,
) -> Result<Vec<Vec<Value>>, CheckError> {
    let err = eval_err(model, sizes);
    let shape = |t: &str| model.shape_at(t, sizes);
    let dims = shape(wrt).unwrap_or_default();
    fits_in_table(model, sizes, wrt, &dims, rows.len(), limits)?;
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

/// The Jacobian table `∂s/∂t` from the derived closed form.
pub fn table(model: &Model, derivation: &Derivation, wrt: &str, sizes: &Env) -> Result<Table, CheckError> {
    let d = derivation.derivative(wrt).ok_or_else(|| CheckError::Sizes(format!("`{wrt}` is no input or weight")))?;
    let rows = domain_rows(derivation, model, sizes)?;
    let wrt_shape = model.shape_at(wrt, sizes).unwrap_or_default();
    if wrt_shape.iter().any(|&d| d <= 0) {
        return Err(CheckError::Sizes(format!("`{wrt}` has shape {wrt_shape:?} at {}", shown_sizes(model, sizes))));
    }
    let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
    let output_shape: Vec<i64> = lengths(&ranges);
    let entries = formula_table(model, sizes, &d.closed_form, wrt, &d.wrt_indices, &rows, &derivation.limits)?;
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
    cross_check_against(model, derivation, sizes, &BruteForce::at(model, sizes, &derivation.limits)?)
}

/// [`cross_check`] against brute force done already at these sizes.
pub(crate) fn cross_check_against(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    brute: &BruteForce,
) -> Result<(), CheckError> {
    check_domain(model, derivation, sizes, brute)?;
    let closed = derivation
        .derivatives
        .iter()
        .map(|d| formula_table(model, sizes, &d.closed_form, &d.wrt, &d.wrt_indices, &brute.rows, &derivation.limits))
        .collect::<Result<Vec<_>, _>>()?;
    check_closed_forms(model, derivation, sizes, brute, &closed)
}

/// The derived domain against brute force.
pub(crate) fn check_domain(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    brute: &BruteForce,
) -> Result<(), CheckError> {
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
pub(crate) fn check_closed_forms(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    brute: &BruteForce,
    closed: &[Vec<Vec<Value>>],
) -> Result<(), CheckError> {
    for (d, table) in derivation.derivatives.iter().zip(closed) {
        check_closed_form(model, d, sizes, brute, table)?;
    }
    Ok(())
}

/// One derivative's closed form, tabled over the domain, against brute force (which must
/// hold that derivative's Jacobian).
fn check_closed_form(
    model: &Model,
    d: &Derivative,
    sizes: &Env,
    brute: &BruteForce,
    table: &[Vec<Value>],
) -> Result<(), CheckError> {
    let expected = brute.jacobians.get(&d.wrt).ok_or_else(|| {
        CheckError::Bug(format!("{} has no brute-force Jacobian to be checked against", d.name(model)))
    })?;
    match first_difference(table, expected) {
        None => Ok(()),
        Some((r, c)) => Err(CheckError::Bug(format!(
            "at {}, row {:?}, column {c}: the closed form of {} gives {}, brute force {}",
            shown_sizes(model, sizes),
            brute.rows[r],
            d.name(model),
            show_value(&table[r][c]),
            show_value(&expected[r][c])
        ))),
    }
}

/// The tables of `tensors` at `sizes`, and brute force of their Jacobians only: the
/// domain and each table checked against it. Refused when one of these tables (not
/// another) or the domain's search passes a limit.
pub(crate) fn checked_tables(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
    tensors: &[&str],
) -> Result<(BruteForce, Vec<Table>), CheckError> {
    let brute = BruteForce::restricted(model, sizes, &derivation.limits, tensors)?;
    check_domain(model, derivation, sizes, &brute)?;
    let tables: Vec<Table> = tensors.iter().map(|t| table(model, derivation, t, sizes)).collect::<Result<_, _>>()?;
    for t in &tables {
        let d = derivation
            .derivative(&t.wrt)
            .ok_or_else(|| CheckError::Sizes(format!("`{}` is no input or weight", t.wrt)))?;
        check_closed_form(model, d, sizes, &brute, &t.entries)?;
    }
    Ok((brute, tables))
}

/// The table `∂s/∂wrt` at `sizes`, checked against brute force of that Jacobian alone
/// (see [`checked_tables`]): only its own size limits it.
pub fn checked_table(model: &Model, derivation: &Derivation, wrt: &str, sizes: &Env) -> Result<Table, CheckError> {
    let (_, mut tables) = checked_tables(model, derivation, sizes, &[wrt])?;
    tables.pop().ok_or_else(|| CheckError::Bug(format!("no table of `{wrt}` was made")))
}

/// The first `(row, column)` at which two tables differ.
pub(crate) fn first_difference<T: PartialEq>(a: &[Vec<T>], b: &[Vec<T>]) -> Option<(usize, usize)> {
    a.iter().zip(b).enumerate().find_map(|(r, (x, y))| x.iter().zip(y).position(|(p, q)| p != q).map(|c| (r, c)))
}

/// The symbolic length at the given sizes, per axis (0 where the domain is empty).
pub fn length_at(model: &Model, derivation: &Derivation, sizes: &Env) -> Result<Vec<i64>, CheckError> {
    let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
    Ok(lengths(&ranges))
}

/// A derivative's closed form as `∂s_i/∂x_j = …`.
pub fn closed_form_text(model: &Model, d: &Derivative) -> String {
    format!("{} = {}", d.name(model), d.closed_form.show(&model.sizes))
}

/// `(∂L/∂x)_j` in the gather's names.
pub fn gather_name(g: &Gather) -> String {
    let index = g.wrt_indices.iter().map(|n| crate::algebra::index::var(n)).collect();
    crate::algebra::Element { tensor: format!("(∂L/∂{})", g.wrt), index }.to_string()
}

/// `(∂L/∂x)_j = …` as the output prints it.
pub fn gather_text(model: &Model, g: &Gather) -> String {
    format!("{} = {}", gather_name(g), g.closed_form.show(&model.sizes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::index::var;
    use crate::algebra::Index;

    #[test]
    fn a_wrong_closed_form_is_reported_as_a_bug() {
        let (model, mut derivation) = crate::check::tests::standard();
        assert_eq!(cross_check(&model, &derivation, &model.values), Ok(()));
        // The cross-correlation's kernel index instead of the convolution's.
        let d = &mut derivation.derivatives[0];
        let j = var(&d.wrt_indices[0]);
        d.closed_form.terms[0].elements[0].index[0] = j.sub(&var("i"));
        let err = cross_check(&model, &derivation, &model.values).unwrap_err();
        assert!(matches!(&err, CheckError::Bug(why) if why.contains("row [0], column 0")), "{err}");
    }

    #[test]
    fn a_table_is_limited_by_its_own_size_and_checked_all_the_same() {
        let (model, mut derivation) = crate::check::tests::standard();
        // At n = 2000, ∂s/∂x has 1998 × 2000 entries, past the limit; ∂s/∂w has 1998 × 3.
        let mut sizes = model.values.clone();
        sizes.insert("n".into(), 2000);
        let w = checked_table(&model, &derivation, "w", &sizes).unwrap();
        assert_eq!((w.rows.len(), w.cols.len()), (1998, 3));
        let err = checked_table(&model, &derivation, "x", &sizes).unwrap_err();
        assert!(matches!(&err, CheckError::Limit(why) if why.contains("∂s/∂x would have 3996000 entries")), "{err}");
        // A wrong closed form of ∂s/∂w is caught by brute force of that Jacobian alone.
        let term = &mut derivation.derivatives[1].closed_form.terms[0];
        term.elements[0].index[0] = var("m");
        let err = checked_table(&model, &derivation, "w", &sizes).unwrap_err();
        assert!(matches!(&err, CheckError::Bug(why) if why.contains("the closed form of ∂s_i/∂w_m")), "{err}");
    }

    #[test]
    fn a_wrong_domain_is_reported_as_a_bug() {
        let (model, mut derivation) = crate::check::tests::standard();
        derivation.domain.axes[0].1 = var("n").sub(&Index::constant(1));
        let err = cross_check(&model, &derivation, &model.values).unwrap_err();
        assert!(matches!(&err, CheckError::Bug(why) if why.contains("6 outputs, brute force finds 4")), "{err}");
    }
}
