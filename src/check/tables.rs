//! Jacobian tables from the closed forms, and the cross-check of every symbolic result
//! (domain, lengths, closed forms) against brute force.

use super::brute::{fits_in_table, lengths, set, tuples, BruteForce};
use super::error::{eval_err, ordered, show_sizes, shown_sizes, CheckError};
use crate::algebra::formula::{show_value_over, ElemRef};
use crate::algebra::index::{var, IndexAtom};
use crate::algebra::{Cond, Env, EvalError, Formula, Index, IndexExt, Term, Value};
use crate::derive::backward::Gather;
use crate::derive::{Derivation, Derivative};
use crate::limits::Limits;
use crate::model::{Model, Role};

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
    /// `entries[r][c]` times `divisor`, exact.
    pub entries: Vec<Vec<Value>>,
    /// What every entry is divided by: the formula's divisor (1 but for rational
    /// constants such as average pooling's `1/3`).
    pub divisor: i64,
    /// How many of the output's axes are spatial (its last ones; see [`spatial_axes`]).
    pub spatial_axes: usize,
}

/// One grid of a receptive field: the entries `∂s[output]/∂t` over the tensor's last two
/// axes (or its last one), at one value of each of its leading axes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Grid {
    /// The output element, a value per output axis.
    pub output: Vec<i64>,
    /// The values of the tensor's leading axes (its channels, and the depth of a 3-D one);
    /// empty when it has none.
    pub leading: Vec<i64>,
    /// The values of the tensor's second-to-last axis, a row each; `None` when the grid is
    /// one row over the last axis.
    pub rows: Option<Vec<i64>>,
    /// The values of the tensor's last axis, a column each.
    pub cols: Vec<i64>,
    /// `entries[r][c]` times `divisor`, taken from the table.
    pub entries: Vec<Vec<Value>>,
    /// What every entry is divided by, as in the table.
    pub divisor: i64,
}

impl Grid {
    /// The entries as text, as [`Table::entry_texts`] writes them.
    pub fn entry_texts(&self) -> Vec<Vec<String>> {
        self.entries.iter().map(|row| row.iter().map(|v| show_value_over(v, self.divisor)).collect()).collect()
    }
}

impl Table {
    /// The entries as text (`w[2]`, `2*w[0] + w[1]`, `0`, `1/3`, `1/6*x[2]`).
    pub fn entry_texts(&self) -> Vec<Vec<String>> {
        self.entries.iter().map(|row| row.iter().map(|v| self.entry_text(v)).collect()).collect()
    }

    /// One entry (from [`Table::entries`]) as text, divided by the divisor.
    pub fn entry_text(&self, v: &Value) -> String {
        show_value_over(v, self.divisor)
    }

    /// The row of the output element `at`.
    fn row_of(&self, at: &[i64]) -> Option<usize> {
        self.rows.iter().position(|r| r == at)
    }

    /// The column of the tensor element `at`: its row-major position.
    fn column_of(&self, at: &[i64]) -> usize {
        at.iter().zip(&self.wrt_shape).fold(0, |flat, (&v, &len)| flat * len + v) as usize
    }

    /// The rows a receptive-field form shows unless told: the first output, the middle
    /// one (each index at the middle of its range, rounded down) and the last, each once.
    pub(crate) fn default_outputs(&self) -> Vec<usize> {
        let (Some(first), Some(last)) = (self.rows.first(), self.rows.last()) else {
            return Vec::new();
        };
        let middle: Vec<i64> = first.iter().zip(last).map(|(lo, hi)| lo + (hi - lo + 1) / 2).collect();
        let mut outputs = Vec::new();
        for at in [first, &middle, last] {
            if let Some(row) = self.row_of(at).filter(|r| !outputs.contains(r)) {
                outputs.push(row);
            }
        }
        outputs
    }

    /// The row of the output element named by `at`, as `[("i", 1), ("j", 2)]`; why not
    /// when a name is no index of the output, an index is missing or named twice, or a
    /// value is outside the output.
    pub(crate) fn output_row(&self, at: &[(String, i64)]) -> Result<usize, String> {
        let names = &self.index_names.0;
        let (s, all) = (&self.output, names.join(", "));
        if let Some((name, _)) = at.iter().find(|(n, _)| !names.contains(n)) {
            return Err(format!("`{s}` has no index `{name}` (its indices are {all})"));
        }
        let mut element = Vec::new();
        for (axis, name) in names.iter().enumerate() {
            let values: Vec<i64> = at.iter().filter(|(n, _)| n == name).map(|&(_, v)| v).collect();
            let &[v] = values.as_slice() else {
                let how = if values.is_empty() { "no value" } else { "more than one value" };
                return Err(format!("{how} for `{name}`: name each index of `{s}` once ({all})"));
            };
            let (lo, hi) = match (self.rows.first(), self.rows.last()) {
                (Some(first), Some(last)) => (first[axis], last[axis]),
                _ => return Err(format!("`{s}` has no elements at {}", show_sizes(&self.sizes))),
            };
            if !(lo..=hi).contains(&v) {
                let sizes = show_sizes(&self.sizes);
                return Err(format!("{name} = {v} is outside `{s}`, where {lo} ≤ {name} ≤ {hi} (at {sizes})"));
            }
            element.push(v);
        }
        self.row_of(&element).ok_or_else(|| format!("`{s}` has no element {element:?}"))
    }

    /// How many of the tensor's last axes a grid of its receptive fields lays out: two
    /// when the convolution and the tensor have two axes or more, else the last one.
    pub(crate) fn grid_axes(&self) -> usize {
        if self.spatial_axes >= 2 && self.wrt_shape.len() >= 2 {
            2
        } else {
            1
        }
    }

    /// The receptive field of the output in row `row`: a [`Grid`] for each value of the
    /// tensor's leading axes, in row-major order.
    pub(crate) fn receptive_field(&self, row: usize) -> Vec<Grid> {
        let (rank, shown) = (self.wrt_shape.len(), self.grid_axes());
        let lead = rank - shown;
        let values = |axis: usize| (0..self.wrt_shape[axis]).collect::<Vec<i64>>();
        let (rows, cols) = ((shown == 2).then(|| values(rank - 2)), values(rank - 1));
        let line = |leading: &[i64], r: Option<i64>| -> Vec<Value> {
            let at = |c: i64| leading.iter().copied().chain(r).chain([c]).collect::<Vec<i64>>();
            cols.iter().map(|&c| self.entries[row][self.column_of(&at(c))].clone()).collect()
        };
        tuples(&self.wrt_shape[..lead].iter().map(|&d| (0, d - 1)).collect::<Vec<_>>())
            .into_iter()
            .map(|leading| {
                let entries = match &rows {
                    Some(rs) => rs.iter().map(|&r| line(&leading, Some(r))).collect(),
                    None => vec![line(&leading, None)],
                };
                Grid {
                    output: self.rows[row].clone(),
                    leading,
                    rows: rows.clone(),
                    cols: cols.clone(),
                    entries,
                    divisor: self.divisor,
                }
            })
            .collect()
    }
}

/// How many of the output's axes are spatial: those that no weight reads as they are.
/// An output axis whose index a weight reads as it is (`o` in `w_<o, c, m>`, `c` in a
/// depthwise `w_<c, 0, m>`) picks a filter: it is a channel.
fn spatial_axes(model: &Model) -> usize {
    let is_weight = |tensor: &str| model.tensor(tensor).is_some_and(|t| t.role == Role::Weight);
    let weights_read = model.formula.terms.iter().flat_map(|t| &t.elements).filter(|e| is_weight(&e.tensor));
    let picks_a_filter = |name: &String| weights_read.clone().any(|e| e.index.contains(&var(name)));
    model.output.indices.iter().filter(|name| !picks_a_filter(name)).count()
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
    let shape = |t: &str| model.shape_at(t, sizes);
    let dims = shape(wrt).unwrap_or_default();
    fits_in_table(model, sizes, wrt, &dims, rows.len(), limits)?;
    let cols = tuples(&dims.iter().map(|&d| (0, d - 1)).collect::<Vec<_>>());
    let out_names = &model.output.indices;
    let names = Names { out: out_names, wrt: wrt_names, sizes };
    // Every name of a row and a column is set at each entry: slots can stand for them.
    let whole = wrt_names.len() == dims.len() && rows.iter().all(|i| i.len() == out_names.len());
    let terms = whole.then(|| f.terms.iter().map(|t| SlottedTerm::new(t, &names, &shape)).collect()).flatten();
    let Some(terms) = terms else { return table_by_names(model, sizes, f, wrt_names, rows, &cols) };
    let terms: Vec<SlottedTerm> = terms;
    let mut vals = vec![0; out_names.len() + wrt_names.len()];
    let mut index = Vec::new();
    let mut table = Vec::with_capacity(rows.len());
    for i in rows {
        vals[..i.len()].copy_from_slice(i);
        let mut row = Vec::with_capacity(cols.len());
        for j in &cols {
            vals[i.len()..].copy_from_slice(j);
            let mut entry = Value::zero();
            let fast = terms.iter().try_for_each(|t| t.add_to(&mut entry, &names, &vals, &mut index));
            if fast.is_err() {
                // The error as the evaluation by names tells it.
                entry = entry_by_names(model, sizes, f, wrt_names, i, j)?;
            }
            row.push(entry);
        }
        table.push(row);
    }
    Ok(table)
}

/// [`formula_table`] by evaluating every entry with its names in a map.
fn table_by_names(
    model: &Model,
    sizes: &Env,
    f: &Formula,
    wrt_names: &[String],
    rows: &[Vec<i64>],
    cols: &[Vec<i64>],
) -> Result<Vec<Vec<Value>>, CheckError> {
    let err = eval_err(model, sizes);
    let shape = |t: &str| model.shape_at(t, sizes);
    let mut table = Vec::new();
    let mut env = sizes.clone();
    for i in rows {
        let mut row = Vec::new();
        for (name, &v) in model.output.indices.iter().zip(i) {
            set(&mut env, name, v);
        }
        for j in cols {
            for (name, &v) in wrt_names.iter().zip(j) {
                set(&mut env, name, v);
            }
            row.push(f.eval(&env, &shape).map_err(&err)?);
        }
        table.push(row);
    }
    Ok(table)
}

/// One entry of [`formula_table`], evaluated with its names in a map.
fn entry_by_names(
    model: &Model,
    sizes: &Env,
    f: &Formula,
    wrt_names: &[String],
    row: &[i64],
    col: &[i64],
) -> Result<Value, CheckError> {
    let mut env = sizes.clone();
    for (name, &v) in model.output.indices.iter().zip(row).chain(wrt_names.iter().zip(col)) {
        set(&mut env, name, v);
    }
    f.eval(&env, &|t: &str| model.shape_at(t, sizes)).map_err(eval_err(model, sizes))
}

/// An index expression compiled for a table: its terms in their canonical order, each a
/// coefficient times the value of a slot (`Some`) or times 1, with sizes folded in; or
/// `None` where a term is not of that form, evaluated by name.
struct Slotted<'f> {
    linear: Option<Vec<(Option<usize>, i64)>>,
    general: &'f Index,
}

/// How names are looked up in a table's entry: the tensor's index names (the last of a
/// name wins, as they are set last), then the output's, then the sizes.
struct Names<'a> {
    out: &'a [String],
    wrt: &'a [String],
    sizes: &'a Env,
}

impl Names<'_> {
    fn slot(&self, name: &str) -> Option<usize> {
        let wrt = self.wrt.iter().rposition(|n| n == name).map(|k| self.out.len() + k);
        wrt.or_else(|| self.out.iter().rposition(|n| n == name))
    }

    fn value(&self, name: &str, vals: &[i64]) -> Option<i64> {
        self.slot(name).map(|s| vals[s]).or_else(|| self.sizes.get(name).copied())
    }
}

impl<'f> Slotted<'f> {
    fn new(p: &'f Index, names: &Names) -> Slotted<'f> {
        let linear = p
            .terms()
            .map(|(m, c)| match m.as_slice() {
                [] => Some((None, c)),
                [IndexAtom::Var(v)] => match names.slot(v) {
                    Some(s) => Some((Some(s), c)),
                    None => Some((None, c.checked_mul(*names.sizes.get(&**v)?)?)),
                },
                _ => None,
            })
            .collect();
        Slotted { linear, general: p }
    }

    /// The value, by the same checked steps as [`IndexExt::eval_by`]: an error exactly
    /// where that one fails (the error itself may read differently).
    fn eval(&self, names: &Names, vals: &[i64]) -> Result<i64, EvalError> {
        let Some(linear) = &self.linear else { return self.general.eval_by(&|n| names.value(n, vals)) };
        let mut total: i64 = 0;
        for &(slot, c) in linear {
            let t = match slot {
                Some(s) => c.checked_mul(vals[s]),
                None => Some(c),
            };
            total = t.and_then(|t| total.checked_add(t)).ok_or(EvalError::Overflow(String::new()))?;
        }
        Ok(total)
    }
}

/// A bracket compiled for a table.
enum SlottedCond<'f> {
    Ge0(Slotted<'f>),
    Eq0(Slotted<'f>),
    Ne0(Slotted<'f>),
    Other(&'f Cond),
}

/// A term without Σ compiled for a table (see [`Term::eval`], which it agrees with).
struct SlottedTerm<'f> {
    brackets: Vec<SlottedCond<'f>>,
    /// Each element's tensor, its shape and its index.
    elements: Vec<(&'f str, Vec<i64>, Vec<Slotted<'f>>)>,
    coeff: Slotted<'f>,
}

impl<'f> SlottedTerm<'f> {
    /// `None` for a term with a Σ or an element of a tensor without a shape.
    fn new(t: &'f Term, names: &Names, shape: &dyn Fn(&str) -> Option<Vec<i64>>) -> Option<SlottedTerm<'f>> {
        if !t.bound.is_empty() {
            return None;
        }
        let brackets = t
            .brackets
            .iter()
            .map(|c| match c {
                Cond::Ge0(p) => SlottedCond::Ge0(Slotted::new(p, names)),
                Cond::Eq0(p) => SlottedCond::Eq0(Slotted::new(p, names)),
                Cond::Ne0(p) => SlottedCond::Ne0(Slotted::new(p, names)),
                other => SlottedCond::Other(other),
            })
            .collect();
        let elements = t
            .elements
            .iter()
            .map(|e| {
                Some((e.tensor.as_str(), shape(&e.tensor)?, e.index.iter().map(|p| Slotted::new(p, names)).collect()))
            })
            .collect::<Option<_>>()?;
        Some(SlottedTerm { brackets, elements, coeff: Slotted::new(&t.coeff, names) })
    }

    /// The term's value added to `out`, by the steps of [`Term::eval`] in its order.
    fn add_to(&self, out: &mut Value, names: &Names, vals: &[i64], index: &mut Vec<i64>) -> Result<(), EvalError> {
        for c in &self.brackets {
            let holds = match c {
                SlottedCond::Ge0(p) => p.eval(names, vals)? >= 0,
                SlottedCond::Eq0(p) => p.eval(names, vals)? == 0,
                SlottedCond::Ne0(p) => p.eval(names, vals)? != 0,
                SlottedCond::Other(c) => c.eval_by(&|n| names.value(n, vals))?,
            };
            if !holds {
                return Ok(());
            }
        }
        let mut monomial = Vec::with_capacity(self.elements.len());
        for (tensor, dims, at) in &self.elements {
            index.clear();
            for p in at {
                index.push(p.eval(names, vals)?);
            }
            if index.iter().zip(dims).any(|(&i, &d)| i < 0 || i >= d) {
                return Ok(());
            }
            monomial.push(ElemRef { tensor: tensor.to_string(), index: index.clone() });
        }
        // As `out.add_assign(&Value::monomial(c, monomial))`, without the copy.
        out.add_term(monomial, self.coeff.eval(names, vals)?);
        Ok(())
    }
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
        divisor: d.closed_form.divisor,
        spatial_axes: spatial_axes(model),
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
            show_value_over(&table[r][c], d.closed_form.divisor),
            show_value_over(&expected[r][c], d.closed_form.divisor)
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
    let index = g.wrt_indices.iter().map(|n| var(n)).collect();
    crate::algebra::Element { tensor: format!("(∂L/∂{})", g.wrt), index }.to_string()
}

/// `(∂L/∂x)_j = …` as the output prints it.
pub fn gather_text(model: &Model, g: &Gather) -> String {
    format!("{} = {}", gather_name(g), g.closed_form.show(&model.sizes))
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn tables_by_slots_agree_with_tables_by_names() {
        // Every shipped spec's closed forms and Jacobian claims (strides, dilations, pads,
        // div and mod), tabled both ways at its `let` sizes.
        let mut specs: Vec<_> = std::fs::read_dir("specs").unwrap().map(|e| e.unwrap().path()).collect();
        specs.sort();
        for path in specs.iter().filter(|p| p.extension().is_some_and(|e| e == "conv")) {
            let model = crate::cli::load(path, None).unwrap();
            let derivation = crate::derive::derive(&model, &Limits::default()).unwrap();
            let sizes = &model.values;
            let rows = domain_rows(&derivation, &model, sizes).unwrap();
            let mut formulas: Vec<(Formula, &Derivative)> =
                derivation.derivatives.iter().map(|d| (d.closed_form.clone(), d)).collect();
            for c in &model.claims {
                if let crate::model::ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } = &c.kind {
                    let d = derivation.derivative(wrt).unwrap();
                    formulas.push((derivation.in_own_names(&model, value, out_indices, wrt_indices, d), d));
                }
            }
            for (f, d) in &formulas {
                let fast = formula_table(&model, sizes, f, &d.wrt, &d.wrt_indices, &rows, &derivation.limits);
                let dims = model.shape_at(&d.wrt, sizes).unwrap();
                let cols = tuples(&dims.iter().map(|&n| (0, n - 1)).collect::<Vec<_>>());
                let by_names = table_by_names(&model, sizes, f, &d.wrt_indices, &rows, &cols);
                assert_eq!(fast, by_names, "{} of {}", path.display(), d.name(&model));
            }
        }
    }

    /// The table `∂s/∂wrt` of a spec's source at its `let` sizes.
    fn table_of(src: &str, wrt: &str) -> Table {
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let derivation = crate::derive::derive(&model, &Limits::default()).unwrap();
        table(&model, &derivation, wrt, &model.values).unwrap()
    }

    const CONV2D_CHANNELS: &str = "input x[C, H, V]\nweight w[O, C, P, Q]\nlet C = 2, O = 3, H = 4, V = 4, P = 2, Q = 3\ns_<o,i,j> = Σ_<c,a,b> x_<c, i+a, j+b> w_<o,c,a,b>\n";

    #[test]
    fn channels_are_the_output_axes_that_pick_a_filter() {
        let multichannel = "input x[C, n]\nweight w[O, C, k]\nlet n = 8, k = 3, C = 2, O = 3\ns_<o,i> = Σ_<c,m> x_<c, i+m> w_<o,c,m>\n";
        assert_eq!(table_of(multichannel, "x").spatial_axes, 1);
        let depthwise =
            "input x[C, n]\nweight w[C, 1, k]\nlet n = 8, k = 3, C = 3\ns_<c,i> = Σ x_<c, i+m> w_<c, 0, m>\n";
        assert_eq!(table_of(depthwise, "w").spatial_axes, 1);
        let conv2d =
            "input x[H, V]\nweight w[P, Q]\nlet H = 4, V = 5, P = 2, Q = 2\ns_<i,j> = Σ_<a,b> x_<i+a, j+b> w_<a,b>\n";
        assert_eq!(table_of(conv2d, "x").spatial_axes, 2);
        let t = table_of(CONV2D_CHANNELS, "w");
        assert_eq!((t.spatial_axes, t.grid_axes()), (2, 2));
    }

    #[test]
    fn the_default_outputs_are_the_first_the_middle_and_the_last() {
        let t = table_of(CONV2D_CHANNELS, "x");
        let outputs: Vec<&Vec<i64>> = t.default_outputs().iter().map(|&r| &t.rows[r]).collect();
        assert_eq!(outputs, [&vec![0, 0, 0], &vec![1, 1, 1], &vec![2, 2, 1]]);
        // One output: it is all three.
        let one = "input x[n]\nweight w[k]\nlet n = 3, k = 3\ns_i = Σ x_<i+m> w_m\n";
        assert_eq!(table_of(one, "x").default_outputs(), [0]);
    }

    #[test]
    fn an_output_is_named_by_every_index_once_within_its_range() {
        let t = table_of(CONV2D_CHANNELS, "x");
        let at =
            |pairs: &[(&str, i64)]| t.output_row(&pairs.iter().map(|&(n, v)| (n.to_string(), v)).collect::<Vec<_>>());
        assert_eq!(at(&[("j", 1), ("o", 2), ("i", 0)]).map(|r| t.rows[r].clone()), Ok(vec![2, 0, 1]));
        assert!(at(&[("o", 0), ("i", 0), ("k", 0)]).unwrap_err().contains("has no index `k`"));
        assert!(at(&[("o", 0), ("i", 0)]).unwrap_err().contains("no value for `j`"));
        assert!(at(&[("o", 0), ("i", 0), ("j", 0), ("j", 1)]).unwrap_err().contains("more than one value for `j`"));
        assert!(at(&[("o", 3), ("i", 0), ("j", 0)]).unwrap_err().contains("o = 3 is outside `s`, where 0 ≤ o ≤ 2"));
    }

    #[test]
    fn a_grid_holds_the_table_entries_of_its_tensor_elements() {
        let t = table_of(CONV2D_CHANNELS, "x");
        for row in 0..t.rows.len() {
            let grids = t.receptive_field(row);
            assert_eq!(grids.iter().map(|g| g.leading.clone()).collect::<Vec<_>>(), [vec![0], vec![1]]);
            for g in grids {
                let rows = g.rows.clone().expect("a grid over (H, V)");
                assert_eq!((rows.len(), g.cols.len()), (4, 4));
                for (r, line) in rows.iter().zip(&g.entries) {
                    for (c, entry) in g.cols.iter().zip(line) {
                        let col = t.cols.iter().position(|e| *e == [g.leading[0], *r, *c]).unwrap();
                        assert_eq!(entry, &t.entries[row][col], "row {row}, x_<{}, {r}, {c}>", g.leading[0]);
                    }
                }
            }
        }
        // A tensor with one axis, in a convolution with two: one row over it.
        let separable = "input x[H, V]\nweight u[P]\nlet H = 4, V = 3, P = 2\ns_<i,j> = Σ x_<i+a, j> u_a\n";
        let t = table_of(separable, "u");
        let grid = &t.receptive_field(t.rows.len() - 1)[0];
        assert_eq!((&grid.rows, &grid.cols, grid.entries.len()), (&None, &vec![0, 1], 1));
        assert_eq!(grid.entry_texts()[0], ["x[2,2]", "x[3,2]"]);
    }
}
