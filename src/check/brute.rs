//! Brute force, straight from the definition: the valid domain found by search, the
//! formula expanded exactly as a polynomial in the tensors' elements, and its Jacobians
//! differentiated formally. No symbolic result is used.

use super::error::{eval_err, shown_sizes, CheckError};
use crate::algebra::formula::{ElemRef, Summation};
use crate::algebra::index::IndexAtom;
use crate::algebra::{Env, EvalError, Index, IndexExt, Value};
use crate::derive::Derivation;
use crate::limits::Limits;
use crate::model::{Model, Role};
use std::collections::BTreeMap;

/// The output index tuples in the domain at the given sizes, by brute force from the
/// definition of the domain (no symbolic result is used), in row-major order; refused
/// when the search would pass [`Limits::searched_outputs`].
pub fn brute_domain(model: &Model, sizes: &Env, limits: &Limits) -> Result<Vec<Vec<i64>>, CheckError> {
    let search = Search::at(model, sizes)?;
    if let Some(why) = too_many_searched(model, sizes, &search.windows, limits) {
        return Err(CheckError::Limit(why));
    }
    search.valid(model, sizes)
}

/// The output indices brute force searches for the domain at some sizes, and what it
/// needs to decide each.
struct Search<'m> {
    /// One inclusive range per output axis.
    windows: Vec<(i64, i64)>,
    /// Each tensor's role, shape and padded range; `None` when the output has a shape of
    /// its own, all of which is the domain.
    ranges: Option<Ranges<'m>>,
    /// How far summed indices that no weight bounds are searched.
    radius: i64,
}

impl<'m> Search<'m> {
    fn at(model: &'m Model, sizes: &Env) -> Result<Search<'m>, CheckError> {
        let err = eval_err(model, sizes);
        if let Some(shape) = &model.output.shape {
            let dims = shape.iter().map(|d| d.eval(sizes)).collect::<Result<Vec<_>, _>>().map_err(&err)?;
            let windows = dims.iter().map(|&d| (0, d.saturating_sub(1))).collect();
            return Ok(Search { windows, ranges: None, radius: 0 });
        }
        let radius = search_radius(model, sizes, None);
        let mut ranges = BTreeMap::new();
        let valid = model.valid_rule_weight();
        for t in &model.tensors {
            let dims = t.shape.iter().map(|d| d.eval(sizes)).collect::<Result<Vec<_>, _>>().map_err(&err)?;
            let padded: Vec<(i64, i64)> = (dims.iter().zip(&t.pad))
                .map(|(&d, (before, after))| {
                    Ok((before.eval(sizes)?.saturating_neg(), d.saturating_sub(1).saturating_add(after.eval(sizes)?)))
                })
                .collect::<Result<_, _>>()
                .map_err(&err)?;
            // The valid rule goes by one weight; another (a bias) is read as an input is.
            let role = match valid.is_some_and(|w| w.name == t.name) {
                true => Role::Weight,
                false => Role::Input,
            };
            ranges.insert(t.name.as_str(), (role, dims, padded));
        }
        // An output index no weight bounds is searched as far as it can reach: scaled only
        // by the summed indices' coefficients and its own divisors (`2i + a` reaches less
        // far than `i`, not twice as far).
        let windows = model
            .output
            .indices
            .iter()
            .map(|i| {
                // Past WINDOW_SIZES the windows' sums of sizes could overflow: the radius
                // (saturating) stands in, and the search's limit refuses it.
                let windowed = sizes.values().all(|v| v.unsigned_abs() <= WINDOW_SIZES);
                let window = windowed
                    .then(|| weight_window(model, &ranges, i, sizes).or_else(|| input_window(model, &ranges, i, sizes)))
                    .flatten();
                window.unwrap_or_else(|| {
                    let reach = search_radius(model, sizes, Some(i));
                    (-reach, reach)
                })
            })
            .collect();
        Ok(Search { windows, ranges: Some(ranges), radius })
    }

    /// The tuples of the windows that the valid rule keeps.
    fn valid(&self, model: &Model, sizes: &Env) -> Result<Vec<Vec<i64>>, CheckError> {
        let Some(ranges) = &self.ranges else { return Ok(tuples(&self.windows)) };
        let err = eval_err(model, sizes);
        // Summed indices run over the values that keep a weight element in range: others
        // cannot use the weight.
        let weight_shape = |t: &str| ranges.get(t).filter(|r| r.0 == Role::Weight).map(|r| r.1.clone());
        let summations: Vec<Summation> = model.formula.terms.iter().map(|t| t.summation(&weight_shape)).collect();
        let mut out = Vec::new();
        let mut env = sizes.clone();
        for i in tuples(&self.windows) {
            for (name, &v) in model.output.indices.iter().zip(&i) {
                set(&mut env, name, v);
            }
            if valid_at(model, ranges, &summations, &mut env, self.radius).map_err(&err)? {
                out.push(i);
            }
        }
        Ok(out)
    }
}

/// The largest size (in absolute value) at which the search's windows are worked out:
/// their arithmetic on sizes, kernel positions and coefficients stays far from `i64`'s
/// limits below it.
const WINDOW_SIZES: u64 = 1 << 40;

/// How many tuples a box of inclusive ranges `(lo, hi)` holds, saturating.
pub fn box_size(ranges: impl IntoIterator<Item = (i64, i64)>) -> u64 {
    ranges.into_iter().fold(1u64, |n, (lo, hi)| n.saturating_mul(hi.saturating_sub(lo).saturating_add(1).max(0) as u64))
}

/// Why a brute-force search of the output indices in `windows` (inclusive ranges) is
/// refused: more than [`Limits::searched_outputs`] of them.
fn too_many_searched(model: &Model, sizes: &Env, windows: &[(i64, i64)], limits: &Limits) -> Option<String> {
    let searched = box_size(windows.iter().copied());
    let limit = limits.searched_outputs;
    (searched > limit).then(|| {
        format!(
            "at {} brute force would search {searched} output indices, more than the limit of {limit}: \
             choose smaller sizes with --let",
            shown_sizes(model, sizes)
        )
    })
}

/// How far from 0 an output index (`Some`) or any index (`None`) is searched: far enough
/// that beyond it every element index of a term lies outside its (padded) range, for the
/// formulas the valid rule takes (a too small window shows up as a disagreement with the
/// symbolic domain, never silently).
fn search_radius(model: &Model, sizes: &Env, index: Option<&str>) -> i64 {
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

/// The values an output index can take at all when every weight-using term reads an
/// input at `c·index + r` (`c` a constant, not 0), `r` made of sizes and of summed indices
/// that index a weight directly (`x_<c, 2i+a-1, j+b>` with `w_<o,c,a,b>`): a term that
/// uses the weight keeps those summed indices in the weight's range, and the input's
/// index in its padded range. The union over the terms of the values that allows.
fn input_window(model: &Model, ranges: &Ranges, index: &str, sizes: &Env) -> Option<(i64, i64)> {
    let mut window: Option<(i64, i64)> = None;
    for term in &model.formula.terms {
        let role = |e: &&crate::algebra::Element| ranges.get(e.tensor.as_str()).map(|r| r.0);
        let weights: Vec<_> = term.elements.iter().filter(|e| role(e) == Some(Role::Weight)).collect();
        if weights.is_empty() {
            continue;
        }
        // Each summed index's range, where a weight's index is ±it plus sizes.
        let summed = |b: &str| -> Option<(i64, i64)> {
            let mut range: Option<(i64, i64)> = None;
            for e in &weights {
                for (p, &d) in e.index.iter().zip(&ranges[e.tensor.as_str()].1) {
                    let Some((c, rest)) = p.linear_in(b) else { continue };
                    let Some(r) =
                        rest.names().iter().all(|n| model.sizes.contains(n)).then(|| rest.eval(sizes).ok()).flatten()
                    else {
                        continue;
                    };
                    let found = match c.as_constant() {
                        Some(1) => (-r, d - 1 - r),
                        Some(-1) => (r - d + 1, r),
                        _ => continue,
                    };
                    range = Some(range.map_or(found, |(lo, hi)| (lo.max(found.0), hi.min(found.1))));
                }
            }
            range
        };
        let mut found: Option<(i64, i64)> = None;
        for e in term.elements.iter().filter(|e| role(e) == Some(Role::Input)) {
            for (p, &(lo, hi)) in e.index.iter().zip(&ranges[e.tensor.as_str()].2) {
                let Some((c, mut rest)) = p.linear_in(index) else { continue };
                let Some(c) = c.as_constant().filter(|&c| c != 0) else { continue };
                // r's least and greatest values over the summed indices' ranges.
                let (mut least, mut most, mut known) = (0i64, 0i64, true);
                for b in &term.bound {
                    let Some((a, r2)) = rest.linear_in(b) else { continue };
                    let Some(a) = a.as_constant() else {
                        known = false;
                        break;
                    };
                    if a != 0 {
                        let Some((blo, bhi)) = summed(b) else {
                            known = false;
                            break;
                        };
                        least = least.saturating_add((a * blo).min(a * bhi));
                        most = most.saturating_add((a * blo).max(a * bhi));
                    }
                    rest = r2;
                }
                let only_sizes = rest.names().iter().all(|n| model.sizes.contains(n));
                let Some(r) = (known && only_sizes).then(|| rest.eval(sizes).ok()).flatten() else { continue };
                // lo ≤ c·index + r ≤ hi for some r in [r + least, r + most].
                let (a, b) = (lo - r - most, hi - r - least);
                let w = if c > 0 { (div_ceil(a, c), a_floor(b, c)) } else { (div_ceil(b, c), a_floor(a, c)) };
                found = Some(found.map_or(w, |(l, h)| (l.max(w.0), h.min(w.1))));
            }
        }
        let (lo, hi) = found?;
        window = Some(window.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
    }
    window
}

/// `⌈a / c⌉` for `c ≠ 0`.
fn div_ceil(a: i64, c: i64) -> i64 {
    -a_floor(-a, c)
}

/// `⌊a / c⌋` for `c ≠ 0`.
fn a_floor(a: i64, c: i64) -> i64 {
    let q = a / c;
    if (a % c != 0) && ((a < 0) != (c < 0)) {
        q - 1
    } else {
        q
    }
}

/// Each tensor's role, shape and padded range at the sizes being checked.
type Ranges<'m> = BTreeMap<&'m str, (Role, Vec<i64>, Vec<(i64, i64)>)>;

/// The valid rule at one output index: some term uses a weight element, and every term
/// that does reads every other tensor inside its padded range. Summed indices run over
/// the values that keep a weight element in range (others cannot use the weight), and over
/// `-radius..=radius` where no weight index bounds them.
fn valid_at(
    model: &Model,
    ranges: &Ranges,
    summations: &[Summation],
    env: &mut Env,
    radius: i64,
) -> Result<bool, EvalError> {
    let role = |t: &str| ranges.get(t).map(|r| r.0);
    let mut used = false;
    for (term, summation) in model.formula.terms.iter().zip(summations) {
        if !term.elements.iter().any(|e| role(&e.tensor) == Some(Role::Weight)) {
            continue;
        }
        let complete = summation.for_each(env, Some((-radius, radius)), &mut |env| {
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
pub(crate) fn set(env: &mut Env, name: &str, value: i64) {
    match env.get_mut(name) {
        Some(v) => *v = value,
        None => {
            env.insert(name.to_string(), value);
        }
    }
}

/// Every tuple in a box of inclusive ranges, row-major.
pub fn tuples(ranges: &[(i64, i64)]) -> Vec<Vec<i64>> {
    let count = box_size(ranges.iter().copied());
    let mut out = Vec::with_capacity(count.min(1 << 16) as usize);
    if count == 0 {
        return out;
    }
    let mut at: Vec<i64> = ranges.iter().map(|&(lo, _)| lo).collect();
    loop {
        out.push(at.clone());
        // The next tuple: the last axis that is not at its end steps, the later ones restart.
        let Some(axis) = (0..ranges.len()).rev().find(|&a| at[a] < ranges[a].1) else { return out };
        at[axis] += 1;
        for (v, &(lo, _)) in at[axis + 1..].iter_mut().zip(&ranges[axis + 1..]) {
            *v = lo;
        }
    }
}

/// The row-major tuple of a flat position in a box of inclusive ranges.
pub(crate) fn tuple(mut flat: usize, ranges: &[(i64, i64)]) -> Vec<i64> {
    let mut out = vec![0; ranges.len()];
    for (axis, &(lo, hi)) in ranges.iter().enumerate().rev() {
        let len = hi.saturating_sub(lo).saturating_add(1).max(1) as usize;
        out[axis] = lo + (flat % len) as i64;
        flat /= len;
    }
    out
}

/// The index tuple of the `flat`-th element, row-major, of a tensor of shape `dims`.
pub(crate) fn element_at(flat: usize, dims: &[i64]) -> Vec<i64> {
    tuple(flat, &dims.iter().map(|&d| (0, d - 1)).collect::<Vec<_>>())
}

/// The formula's value at each row, differentiated formally: `∂s/∂t` by brute force.
pub fn brute_jacobian(
    model: &Model,
    sizes: &Env,
    wrt: &str,
    rows: &[Vec<i64>],
    limits: &Limits,
) -> Result<Vec<Vec<Value>>, CheckError> {
    differentiate(model, sizes, wrt, &expand(model, sizes, rows)?, limits)
}

/// The formula at each row, expanded exactly into a polynomial in the tensors' elements.
pub fn expand(model: &Model, sizes: &Env, rows: &[Vec<i64>]) -> Result<Vec<Value>, CheckError> {
    let err = eval_err(model, sizes);
    // Each tensor's shape evaluated once: the same at every row.
    let shapes: BTreeMap<&str, Option<Vec<i64>>> =
        model.tensors.iter().map(|t| (t.name.as_str(), model.shape_at(&t.name, sizes))).collect();
    let shape = |t: &str| shapes.get(t).cloned().unwrap_or_else(|| model.shape_at(t, sizes));
    let formula = model.formula.at_shapes(&shape);
    let mut env = sizes.clone();
    rows.iter()
        .map(|i| {
            for (name, &v) in model.output.indices.iter().zip(i) {
                set(&mut env, name, v);
            }
            formula.eval(&mut env).map_err(&err)
        })
        .collect()
}

/// Each expansion differentiated formally by every element of `wrt`.
fn differentiate(
    model: &Model,
    sizes: &Env,
    wrt: &str,
    expansions: &[Value],
    limits: &Limits,
) -> Result<Vec<Vec<Value>>, CheckError> {
    let dims =
        model.shape_at(wrt, sizes).ok_or_else(|| CheckError::Sizes(format!("`{wrt}` has no shape at these sizes")))?;
    fits_in_table(model, sizes, wrt, &dims, expansions.len(), limits)?;
    let count = element_count(&dims) as usize;
    // The row-major position of an element of `wrt` (each one in an expansion is inside it).
    let col_of = |at: &[i64]| -> usize {
        assert!(at.len() == dims.len() && at.iter().zip(&dims).all(|(&v, &d)| (0..d).contains(&v)), "{wrt}{at:?}");
        at.iter().zip(&dims).fold(0, |flat, (&v, &d)| flat * d as usize + v as usize)
    };
    let mut table = Vec::new();
    for s in expansions {
        let mut row = vec![Value::zero(); count];
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
                let col = col_of(&e.index);
                row[col].add_term(rest, c.saturating_mul(times));
            }
        }
        table.push(row);
    }
    Ok(table)
}

/// Why a table `∂s/∂wrt` of `rows` rows is refused: more than
/// [`Limits::table_entries`] entries.
fn too_many_entries(
    model: &Model,
    sizes: &Env,
    wrt: &str,
    dims: &[i64],
    rows: usize,
    limits: &Limits,
) -> Option<String> {
    let count = (rows as u64).saturating_mul(element_count(dims));
    let limit = limits.table_entries;
    (count > limit).then(|| {
        format!(
            "at {} the table ∂{}/∂{wrt} would have {count} entries, more than the limit of {limit}: \
             choose smaller sizes with --let",
            shown_sizes(model, sizes),
            model.output.name
        )
    })
}

/// Refuses a table of more than [`Limits::table_entries`] entries (see [`too_many_entries`]).
pub(crate) fn fits_in_table(
    model: &Model,
    sizes: &Env,
    wrt: &str,
    dims: &[i64],
    rows: usize,
    limits: &Limits,
) -> Result<(), CheckError> {
    too_many_entries(model, sizes, wrt, dims, rows, limits).map_or(Ok(()), |why| Err(CheckError::Limit(why)))
}

/// Why brute force and tables at these sizes are refused, by the table sizes at the
/// derived domain's lengths or by the search for the domain; `None` when they fit.
pub(crate) fn beyond_limits(model: &Model, derivation: &Derivation, sizes: &Env) -> Result<Option<String>, CheckError> {
    Ok(table_limits(model, derivation, sizes)?.into_iter().flatten().next())
}

/// For each input and weight, in the spec's order, why its table (and brute force of its
/// Jacobian) at these sizes is refused: that table's own size at the derived domain's
/// lengths, or the search for the domain, which every table needs; `None` when it fits.
pub(crate) fn table_limits(
    model: &Model,
    derivation: &Derivation,
    sizes: &Env,
) -> Result<Vec<Option<String>>, CheckError> {
    let limits = &derivation.limits;
    let ranges = derivation.domain.at(sizes).map_err(eval_err(model, sizes))?;
    let outputs = element_count(&lengths(&ranges));
    let search = too_many_searched(model, sizes, &Search::at(model, sizes)?.windows, limits);
    Ok(model
        .tensors
        .iter()
        .map(|t| {
            let dims = model.shape_at(&t.name, sizes).unwrap_or_default();
            too_many_entries(model, sizes, &t.name, &dims, outputs as usize, limits).or_else(|| search.clone())
        })
        .collect())
}

/// Brute force at one set of sizes, straight from the definition: the domain and the
/// Jacobian of every input and weight over it.
pub(crate) struct BruteForce {
    /// The output indices of the domain, row-major.
    pub rows: Vec<Vec<i64>>,
    /// The formula at each row, expanded.
    pub expansions: Vec<Value>,
    /// Each input's and weight's Jacobian over the rows (only those asked for, when
    /// [restricted](BruteForce::restricted)).
    pub jacobians: BTreeMap<String, Vec<Vec<Value>>>,
}

impl BruteForce {
    /// Brute force at `sizes`; refused past a limit (see [`beyond_limits`] to ask first).
    pub(crate) fn at(model: &Model, sizes: &Env, limits: &Limits) -> Result<BruteForce, CheckError> {
        let all: Vec<&str> = model.tensors.iter().map(|t| t.name.as_str()).collect();
        BruteForce::restricted(model, sizes, limits, &all)
    }

    /// Brute force at `sizes` with the Jacobians of `tensors` only; refused when the
    /// domain's search or one of their tables passes a limit (see [`table_limits`]).
    pub(crate) fn restricted(
        model: &Model,
        sizes: &Env,
        limits: &Limits,
        tensors: &[&str],
    ) -> Result<BruteForce, CheckError> {
        let rows = brute_domain(model, sizes, limits)?;
        for t in tensors {
            let dims = model.shape_at(t, sizes).unwrap_or_default();
            fits_in_table(model, sizes, t, &dims, rows.len(), limits)?;
        }
        let expansions = expand(model, sizes, &rows)?;
        let jacobians = tensors
            .iter()
            .map(|t| Ok((t.to_string(), differentiate(model, sizes, t, &expansions, limits)?)))
            .collect::<Result<_, CheckError>>()?;
        Ok(BruteForce { rows, expansions, jacobians })
    }
}

/// The work of brute force at one set of sizes: every output, times every element of
/// every tensor it may read.
pub(crate) fn brute_work(model: &Model, derivation: &Derivation, sizes: &Env) -> u64 {
    let outputs = derivation.domain.at(sizes).map_or(0, |r| element_count(&lengths(&r)));
    let elements = model
        .tensors
        .iter()
        .map(|t| element_count(&model.shape_at(&t.name, sizes).unwrap_or_default()))
        .fold(0u64, u64::saturating_add);
    outputs.saturating_mul(elements)
}

/// The lengths of a box of inclusive ranges (0 where empty).
pub(crate) fn lengths(ranges: &[(i64, i64)]) -> Vec<i64> {
    ranges.iter().map(|(lo, hi)| hi.saturating_sub(*lo).saturating_add(1).max(0)).collect()
}

/// How many elements a shape holds (0 where an axis is empty), saturating.
pub(crate) fn element_count(dims: &[i64]) -> u64 {
    dims.iter().fold(1u64, |n, &d| n.saturating_mul(d.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::formula::show_value;
    use crate::limits::Limits;

    #[test]
    fn tuples_are_row_major() {
        assert_eq!(tuples(&[(0, 1), (2, 4)]), [[0, 2], [0, 3], [0, 4], [1, 2], [1, 3], [1, 4]]);
        assert_eq!(tuples(&[(-1, -1)]), [[-1]]);
        assert_eq!(tuples(&[]), [Vec::<i64>::new()]);
        assert!(tuples(&[(0, 2), (1, 0)]).is_empty());
    }

    #[test]
    fn brute_force_finds_the_valid_domain() {
        let (model, _) = crate::check::tests::standard();
        let rows = brute_domain(&model, &model.values, &Limits::default()).unwrap();
        assert_eq!(rows, (0..=3).map(|i| vec![i]).collect::<Vec<_>>());
    }

    #[test]
    fn brute_jacobians_differentiate_products_formally() {
        let src = "input x[n]\nweight w[k]\nlet n = 3, k = 1\ns_i = Σ x_l x_l w_<i-l>\n";
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let jx = brute_jacobian(&model, &model.values, "x", &[vec![1]], &Limits::default()).unwrap();
        let shown: Vec<String> = jx[0].iter().map(show_value).collect();
        assert_eq!(shown, ["0", "2*w[0]*x[1]", "0"]);
    }
}
