//! Trees evaluated at concrete sizes, so that every printed proof step can be checked by
//! numbers against the one before it.
//!
//! Two evaluators share one walk of the sums. [`rows`] computes a step's Jacobian a row
//! at a time, fast, reading every tensor element as a pseudo-random residue modulo the
//! prime 2⁶¹ − 1 and differentiating with dual numbers: two steps whose entries differ as
//! polynomials in the elements (of degree `d`) agree there with probability at most
//! `d / (2⁶¹ − 1)`. [`value`] computes one entry exactly, as a polynomial in the elements,
//! to show where two steps part.
//!
//! A Σ runs over the values of its index at which its body can be nonzero: those that
//! keep an element inside its tensor's shape, or satisfy a bracket `[a·v + r = 0]` or
//! `[a·v + r ≥ 0]`; a Σ that nothing bounds is an error, never a guess.

use super::lang::Leaf;
use super::tree::Tree;
use crate::algebra::formula::{ElemRef, Value};
use crate::algebra::index::IndexAtom;
use crate::algebra::poly::floor_div;
use crate::algebra::{Cond, Element, Env, EvalError, Index, IndexExt};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

/// The tensors' shapes at the sizes, by name.
pub type Shapes<'a> = &'a BTreeMap<String, Vec<i64>>;

/// The columns of a Jacobian: the elements of one tensor, row-major, named in the tree
/// by the derivative's index names.
pub struct Columns<'a> {
    /// The tensor.
    pub tensor: &'a str,
    /// Its index names.
    pub names: &'a [String],
    /// Its shape.
    pub dims: &'a [i64],
}

impl Columns<'_> {
    /// How many columns there are.
    pub fn count(&self) -> usize {
        self.dims.iter().map(|&d| d.max(0) as usize).product()
    }

    /// Whether `e` is this tensor's element at the column names, `x_<j>` for `x`.
    fn is_target(&self, e: &Element) -> bool {
        e.tensor == self.tensor
            && e.index.len() == self.names.len()
            && e.index.iter().zip(self.names).all(|(p, n)| is_name(p, n))
    }
}

/// Whether `p` is the name `n` itself.
fn is_name(p: &Index, n: &str) -> bool {
    let mut terms = p.terms();
    matches!((terms.next(), terms.next()), (Some((m, 1)), None) if matches!(m.as_slice(), [IndexAtom::Var(v)] if **v == *n))
}

/// The column of an element of a tensor of shape `dims`, row-major, when inside it.
fn column(dims: &[i64], index: &[i64]) -> Option<usize> {
    let mut col = 0usize;
    for (&i, &d) in index.iter().zip(dims) {
        if !(0..d).contains(&i) {
            return None;
        }
        col = col * d as usize + i as usize;
    }
    Some(col)
}

/// The values of the names in scope, innermost last: a Σ pushes its index and pops it,
/// so that looking a name up from the end finds the binding in scope. A name pushed as
/// [`Scope::UNKNOWN`] has no value there (a Σ's index while its range is worked out).
struct Scope<'n> {
    names: Vec<(&'n str, i64)>,
}

impl<'n> Scope<'n> {
    const UNKNOWN: i64 = i64::MIN;

    fn of(env: &'n Env) -> Scope<'n> {
        Scope { names: env.iter().map(|(n, &v)| (n.as_str(), v)).collect() }
    }

    fn get(&self, n: &str) -> Option<i64> {
        self.names.iter().rev().find(|(m, _)| *m == n).map(|(_, v)| *v).filter(|&v| v != Scope::UNKNOWN)
    }

    fn push(&mut self, n: &'n str, v: i64) {
        self.names.push((n, v));
    }

    fn pop(&mut self) {
        self.names.pop();
    }

    /// Sets the innermost binding's value.
    fn set_last(&mut self, v: i64) {
        if let Some(last) = self.names.last_mut() {
            last.1 = v;
        }
    }

    fn index(&self, p: &Index) -> Result<i64, EvalError> {
        // Affine in names, the usual case, without the general evaluator's indirection.
        let mut total: i64 = 0;
        for (m, c) in p.terms() {
            let term = match m.as_slice() {
                [] => Some(c),
                [IndexAtom::Var(v)] => c.checked_mul(self.get(v).ok_or_else(|| EvalError::Unbound(v.to_string()))?),
                _ => return p.eval_by(&|n| self.get(n)),
            };
            total = term.and_then(|t| total.checked_add(t)).ok_or_else(|| EvalError::Overflow(p.to_string()))?;
        }
        Ok(total)
    }

    fn holds(&self, c: &Cond) -> Result<bool, EvalError> {
        match c {
            Cond::Ge0(p) => Ok(self.index(p)? >= 0),
            Cond::Eq0(p) => Ok(self.index(p)? == 0),
            Cond::Ne0(p) => Ok(self.index(p)? != 0),
            _ => c.eval_by(&|n| self.get(n)),
        }
    }
}

/// A residue modulo the prime 2⁶¹ − 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Num(u64);

const PRIME: u64 = (1 << 61) - 1;

impl Num {
    const ZERO: Num = Num(0);
    const ONE: Num = Num(1);

    /// An integer's residue.
    pub fn new(c: i64) -> Num {
        Num(c.rem_euclid(PRIME as i64) as u64)
    }

    fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::Add for Num {
    type Output = Num;
    fn add(self, other: Num) -> Num {
        let s = self.0 + other.0;
        Num(if s >= PRIME { s - PRIME } else { s })
    }
}

impl std::ops::Mul for Num {
    type Output = Num;
    fn mul(self, other: Num) -> Num {
        let x = self.0 as u128 * other.0 as u128;
        let s = (x as u64 & PRIME) + (x >> 61) as u64;
        Num(if s >= PRIME { s - PRIME } else { s })
    }
}

/// The residue an element is read as: a hash of its tensor and position, the same
/// wherever it is read.
pub fn element_value(tensor: &str, index: &[i64]) -> Num {
    let mut h = Hash::of(tensor);
    index.iter().for_each(|&i| h.mix(i as u64));
    h.num()
}

/// SplitMix64 over a tensor's name and then an element's indices.
struct Hash(u64);

impl Hash {
    fn of(tensor: &str) -> Hash {
        let mut h = Hash(0x9e37_79b9_7f4a_7c15);
        tensor.bytes().for_each(|b| h.mix(b as u64));
        h.mix(u64::MAX);
        h
    }

    fn mix(&mut self, x: u64) {
        let mut z = (self.0 ^ x).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }

    fn num(&self) -> Num {
        Num(self.0 % PRIME)
    }
}

/// An exact value read at [`element_value`].
pub fn number(v: &Value) -> Num {
    v.terms()
        .fold(Num::ZERO, |sum, (m, c)| sum + m.iter().fold(Num::new(c), |p, e| p * element_value(&e.tensor, &e.index)))
}

/// The tree's value at every row and column (as residues, see [`element_value`]): a row
/// gives the `row_names` their values, `sizes` every other free name.
pub fn rows<'t>(
    tree: &'t Tree,
    sizes: &'t Env,
    row_names: &'t [String],
    rows: &[Vec<i64>],
    shapes: Shapes<'t>,
    columns: &'t Columns<'t>,
) -> Result<Vec<Vec<Num>>, EvalError> {
    let mut reading = HashSet::new();
    collect_reading(tree, columns, &mut reading);
    let eval = Fast { shapes, columns: Some(columns), plans: Rc::default(), reading: Rc::new(reading) };
    let mut scope = Scope::of(sizes);
    let outer = scope.names.len();
    scope.names.extend(row_names.iter().map(|n| (n.as_str(), 0)));
    rows.iter()
        .map(|row| {
            for (slot, &v) in scope.names[outer..].iter_mut().zip(row) {
                slot.1 = v;
            }
            let mut out = vec![Num::ZERO; columns.count()];
            match eval.tree(tree, &mut scope).map_err(Fail::into_error)? {
                Row::Same(v) => out.iter_mut().for_each(|slot| *slot = v),
                Row::Cols(cols) => cols.into_iter().for_each(|(c, v)| out[c] = v),
            }
            Ok(out)
        })
        .collect()
}

/// The leaves of `t` that read a column's name.
fn collect_reading(t: &Tree, columns: &Columns, out: &mut HashSet<*const Leaf>) {
    match t {
        Tree::Leaf(l) if columns.names.iter().any(|n| mentions(l, n)) => {
            out.insert(l as *const Leaf);
        }
        Tree::Leaf(_) => {}
        Tree::Add(a, b) | Tree::Mul(a, b) => {
            collect_reading(a, columns, out);
            collect_reading(b, columns, out);
        }
        Tree::Sum(_, b) | Tree::Diff(b, _) => collect_reading(b, columns, out),
    }
}

/// Why the fast evaluator stopped: an error, or a value that needs the columns set.
enum Fail {
    Eval(EvalError),
    Columns,
}

impl Fail {
    fn into_error(self) -> EvalError {
        match self {
            Fail::Eval(e) => e,
            Fail::Columns => EvalError::Unbounded("a column index".into()),
        }
    }
}

impl From<EvalError> for Fail {
    fn from(e: EvalError) -> Fail {
        Fail::Eval(e)
    }
}

/// A row's value: the same at every column, or column by column (sorted, no zeros).
enum Row {
    Same(Num),
    Cols(Vec<(usize, Num)>),
}

impl Row {
    fn is_zero(&self) -> bool {
        match self {
            Row::Same(v) => v.is_zero(),
            Row::Cols(c) => c.is_empty(),
        }
    }

    fn add(self, other: Row, count: usize) -> Row {
        match (self, other) {
            (Row::Same(a), Row::Same(b)) => Row::Same(a + b),
            (Row::Same(z), r) | (r, Row::Same(z)) if z.is_zero() => r,
            (Row::Same(a), Row::Cols(c)) | (Row::Cols(c), Row::Same(a)) => {
                let mut dense = vec![a; count];
                for (k, v) in c {
                    dense[k] = dense[k] + v;
                }
                Row::Cols(dense.into_iter().enumerate().filter(|(_, v)| !v.is_zero()).collect())
            }
            (Row::Cols(a), Row::Cols(b)) => Row::Cols(merge(a, b)),
        }
    }

    fn mul(self, other: Row) -> Row {
        match (self, other) {
            (Row::Same(a), Row::Same(b)) => Row::Same(a * b),
            (Row::Same(a), Row::Cols(c)) | (Row::Cols(c), Row::Same(a)) => Row::Cols(scale(c, a)),
            (Row::Cols(a), Row::Cols(b)) => {
                let mut out = Vec::new();
                let mut other = b.into_iter().peekable();
                for (k, v) in a {
                    while other.next_if(|(j, _)| *j < k).is_some() {}
                    if let Some((_, w)) = other.next_if(|(j, _)| *j == k) {
                        let p = v * w;
                        if !p.is_zero() {
                            out.push((k, p));
                        }
                    }
                }
                Row::Cols(out)
            }
        }
    }
}

/// The sum of two sorted sparse vectors.
fn merge(a: Vec<(usize, Num)>, b: Vec<(usize, Num)>) -> Vec<(usize, Num)> {
    if a.is_empty() {
        return b;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let mut other = b.into_iter().peekable();
    for (k, v) in a {
        while let Some(x) = other.next_if(|(j, _)| *j < k) {
            out.push(x);
        }
        match other.next_if(|(j, _)| *j == k) {
            Some((_, w)) if (v + w).is_zero() => {}
            Some((_, w)) => out.push((k, v + w)),
            None => out.push((k, v)),
        }
    }
    out.extend(other);
    out
}

fn scale(c: Vec<(usize, Num)>, a: Num) -> Vec<(usize, Num)> {
    match a.is_zero() {
        true => Vec::new(),
        false => c.into_iter().map(|(k, v)| (k, v * a)).collect(),
    }
}

/// The fast evaluator: in a row (with columns) or at a point (without), with the plan
/// of each Σ it has met, by address (the tree outlives it).
struct Fast<'t> {
    shapes: Shapes<'t>,
    columns: Option<&'t Columns<'t>>,
    plans: Rc<RefCell<HashMap<*const Tree, Rc<Plan<'t>>>>>,
    /// The leaves that read a column's name, by address.
    reading: Rc<HashSet<*const Leaf>>,
}

impl<'t> Fast<'t> {
    fn tree(&self, t: &'t Tree, env: &mut Scope<'t>) -> Result<Row, Fail> {
        match t {
            Tree::Leaf(l) => match self.columns {
                Some(cols) if self.reading.contains(&(l as *const Leaf)) => match pin(l, cols, env) {
                    Some(hits) => Ok(Row::Cols(hits)),
                    None => self.per_column(cols, env, &mut |env| leaf_number(l, env, self.shapes)),
                },
                _ => Ok(Row::Same(leaf_number(l, env, self.shapes)?)),
            },
            Tree::Add(a, b) => Ok(self.tree(a, env)?.add(self.tree(b, env)?, self.count())),
            Tree::Mul(a, b) => {
                let x = match self.tree(a, env) {
                    Ok(x) => x,
                    // A step's form of 0 may leave a name unbound in one factor (finite for
                    // any value of it): the other factor being 0 settles the product.
                    Err(Fail::Eval(EvalError::Unbound(name))) => match self.tree(b, env)? {
                        y if y.is_zero() => return Ok(Row::Same(Num::ZERO)),
                        _ => return Err(Fail::Eval(EvalError::Unbound(name))),
                    },
                    Err(e) => return Err(e),
                };
                if x.is_zero() {
                    return Ok(Row::Same(Num::ZERO));
                }
                Ok(x.mul(self.tree(b, env)?))
            }
            Tree::Sum(v, b) => {
                let mut acc = Row::Same(Num::ZERO);
                let count = self.count();
                let plan = self.plan(t, v, b);
                let summed = over(v, b, &plan, env, self.columns.is_some(), &mut |env| {
                    acc = std::mem::replace(&mut acc, Row::Same(Num::ZERO)).add(self.tree(b, env)?, count);
                    Ok(())
                });
                match summed {
                    Ok(()) => Ok(acc),
                    Err(Fail::Columns) => self.each_column(t, env),
                    Err(e) => Err(e),
                }
            }
            Tree::Diff(b, target) if constant_in(b, target) => Ok(Row::Same(Num::ZERO)),
            Tree::Diff(b, target) => match self.columns {
                Some(cols) if cols.is_target(target) => match self.dual(b, env, cols.tensor, cols.dims) {
                    Ok((_, tangent)) => Ok(Row::Cols(tangent)),
                    Err(Fail::Columns) => self.each_column(t, env),
                    Err(e) => Err(e),
                },
                Some(_) => self.each_column(t, env),
                None => {
                    let index = target.index.iter().map(|p| env.index(p)).collect::<Result<Vec<_>, _>>()?;
                    let dims =
                        self.shapes.get(&target.tensor).ok_or_else(|| EvalError::Unbound(target.tensor.clone()))?;
                    let Some(col) = column(dims, &index) else { return Ok(Row::Same(Num::ZERO)) };
                    let (_, tangent) = self.dual(b, env, &target.tensor, dims)?;
                    Ok(Row::Same(tangent.iter().find(|(k, _)| *k == col).map_or(Num::ZERO, |(_, v)| *v)))
                }
            },
        }
    }

    fn count(&self) -> usize {
        self.columns.map_or(1, Columns::count)
    }

    /// The plan of the Σ `sum` (over `v`, with body `b`), made on first use.
    fn plan(&self, sum: &Tree, v: &str, b: &'t Tree) -> Rc<Plan<'t>> {
        let key = sum as *const Tree;
        let mut plans = self.plans.borrow_mut();
        plans.entry(key).or_insert_with(|| Rc::new(Plan::of(b, v, self.shapes))).clone()
    }

    /// The tree at each column in turn, at a point.
    fn each_column(&self, t: &'t Tree, env: &mut Scope<'t>) -> Result<Row, Fail> {
        let cols = self.columns.ok_or(Fail::Columns)?;
        let point =
            Fast { shapes: self.shapes, columns: None, plans: self.plans.clone(), reading: self.reading.clone() };
        self.per_column(cols, env, &mut |env| match point.tree(t, env) {
            Ok(Row::Same(v)) => Ok(v),
            Ok(Row::Cols(_)) => unreachable!("at a point every value is one value"),
            Err(e) => Err(e.into_error()),
        })
    }

    /// `b` and its derivatives by every element of `tensor` (of shape `dims`): forward
    /// differentiation with dual numbers, the tangent sparse by column. In a row, a part
    /// that reads the columns' names needs them set: `Fail::Columns`.
    fn dual(
        &self,
        b: &'t Tree,
        env: &mut Scope<'t>,
        tensor: &str,
        dims: &[i64],
    ) -> Result<(Num, Vec<(usize, Num)>), Fail> {
        let reads_columns = |l: &Leaf| self.columns.is_some() && self.reading.contains(&(l as *const Leaf));
        match b {
            Tree::Leaf(l) if reads_columns(l) => Err(Fail::Columns),
            Tree::Leaf(l) => {
                let v = leaf_number(l, env, self.shapes)?;
                let tangent = match l {
                    Leaf::Element(e) if e.tensor == tensor && !v.is_zero() => {
                        let index = e.index.iter().map(|p| env.index(p)).collect::<Result<Vec<_>, _>>()?;
                        column(dims, &index).map(|c| vec![(c, Num::ONE)]).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                Ok((v, tangent))
            }
            Tree::Add(x, y) => {
                let ((a, da), (c, dc)) = (self.dual(x, env, tensor, dims)?, self.dual(y, env, tensor, dims)?);
                Ok((a + c, merge(da, dc)))
            }
            Tree::Mul(x, y) => {
                let (a, da) = self.dual(x, env, tensor, dims)?;
                // 0 times anything, with no tangent: 0 (the other factor may read a name
                // that a step's form of 0 leaves unbound).
                if a.is_zero() && da.is_empty() {
                    return Ok((Num::ZERO, Vec::new()));
                }
                let (c, dc) = self.dual(y, env, tensor, dims)?;
                Ok((a * c, merge(scale(dc, a), scale(da, c))))
            }
            Tree::Sum(v, body) => {
                let (mut value, mut tangent) = (Num::ZERO, Vec::new());
                let plan = self.plan(b, v, body);
                over(v, body, &plan, env, self.columns.is_some(), &mut |env| {
                    let (a, da) = self.dual(body, env, tensor, dims)?;
                    value = value + a;
                    tangent = merge(std::mem::take(&mut tangent), da);
                    Ok(())
                })?;
                Ok((value, tangent))
            }
            Tree::Diff(inner, target) if constant_in(inner, target) => Ok((Num::ZERO, Vec::new())),
            Tree::Diff(..) => Err(Fail::Eval(EvalError::Unbounded("a derivative of a derivative".into()))),
        }
    }

    /// A value computed at each column in turn, with the column names set.
    fn per_column(
        &self,
        cols: &'t Columns<'t>,
        env: &mut Scope<'t>,
        at: &mut dyn FnMut(&mut Scope<'t>) -> Result<Num, EvalError>,
    ) -> Result<Row, Fail> {
        let mut out = Vec::new();
        with_columns(cols, env, &mut |k, env| {
            let v = at(env)?;
            if !v.is_zero() {
                out.push((k, v));
            }
            Ok(())
        })?;
        Ok(Row::Cols(out))
    }
}

/// Calls `visit` at each column with the column names bound to its tuple.
fn with_columns<'t>(
    cols: &'t Columns<'t>,
    env: &mut Scope<'t>,
    visit: &mut dyn FnMut(usize, &mut Scope<'t>) -> Result<(), EvalError>,
) -> Result<(), EvalError> {
    let first = env.names.len();
    env.names.extend(cols.names.iter().map(|n| (n.as_str(), 0)));
    let mut tuple = vec![0i64; cols.dims.len()];
    let mut result = Ok(());
    for k in 0..cols.count() {
        if k > 0 {
            for (slot, &d) in tuple.iter_mut().zip(cols.dims).rev() {
                *slot += 1;
                if *slot < d {
                    break;
                }
                *slot = 0;
            }
        }
        for (slot, &i) in env.names[first..].iter_mut().zip(&tuple) {
            slot.1 = i;
        }
        result = visit(k, env);
        if result.is_err() {
            break;
        }
    }
    env.names.truncate(first);
    result
}

/// Runs `visit` with `v` bound to each value at which `body` can be nonzero. Where what
/// bounds `v` reads a name `env` lacks (a column's, `in_row`), `Fail::Columns`; where
/// nothing bounds it, `Unbounded`.
fn over<'t>(
    v: &'t str,
    body: &Tree,
    plan: &Plan<'t>,
    env: &mut Scope<'t>,
    in_row: bool,
    visit: &mut dyn FnMut(&mut Scope<'t>) -> Result<(), Fail>,
) -> Result<(), Fail> {
    env.push(v, Scope::UNKNOWN);
    let range = plan.interval(env);
    let result = if !range.bounded() {
        Err(match in_row && support_needs_more(body, v) {
            true => Fail::Columns,
            false => Fail::Eval(EvalError::Unbounded(v.to_string())),
        })
    } else {
        let mut result = Ok(());
        for x in range.lo..=range.hi {
            env.set_last(x);
            result = visit(env);
            if result.is_err() {
                break;
            }
        }
        result
    };
    env.pop();
    result
}

/// Whether a Σ over `v` could be bounded once more names are known: its body has an
/// element or bracket linear in `v` at all.
fn support_needs_more(body: &Tree, v: &str) -> bool {
    match body {
        Tree::Leaf(l) => mentions(l, v),
        Tree::Add(a, b) | Tree::Mul(a, b) => support_needs_more(a, v) || support_needs_more(b, v),
        Tree::Sum(u, b) => u != v && support_needs_more(b, v),
        Tree::Diff(b, _) => support_needs_more(b, v),
    }
}

/// Whether the leaf uses the name `n`.
fn mentions(l: &Leaf, n: &str) -> bool {
    match l {
        Leaf::Value(p) => p.mentions(n),
        Leaf::Element(e) => e.index.iter().any(|p| p.mentions(n)),
        Leaf::Bracket(c) => c.mentions(n),
    }
}

/// A bracket `[±c + r = 0]` that pins one column name `c` of a one-axis tensor (`r`
/// known): 1 at that column, without trying every column.
fn pin(l: &Leaf, cols: &Columns, env: &Scope) -> Option<Vec<(usize, Num)>> {
    let (Leaf::Bracket(Cond::Eq0(p)), [name], [d]) = (l, cols.names, cols.dims) else { return None };
    // p = a·c + r, with c in one term of its own and nowhere else: r is p at c = 0.
    let mut a = None;
    for (m, k) in p.terms() {
        match m.as_slice() {
            [IndexAtom::Var(v)] if **v == **name && k.abs() == 1 => a = Some(k),
            m if m.iter().any(|x| match x {
                IndexAtom::Var(v) => **v == **name,
                IndexAtom::Div(a, b) | IndexAtom::Mod(a, b) => a.mentions(name) || b.mentions(name),
            }) =>
            {
                return None
            }
            _ => {}
        }
    }
    let r = p.eval_by(&|n| if n == name.as_str() { Some(0) } else { env.get(n) }).ok()?;
    let at = r.checked_mul(-a?)?;
    Some(if (0..*d).contains(&at) { vec![(at as usize, Num::ONE)] } else { Vec::new() })
}

fn leaf_number(l: &Leaf, env: &Scope, shapes: Shapes) -> Result<Num, EvalError> {
    Ok(match l {
        Leaf::Value(p) => Num::new(env.index(p)?),
        Leaf::Bracket(c) => Num::new(env.holds(c)?.into()),
        Leaf::Element(e) => {
            let dims = shapes.get(&e.tensor).ok_or_else(|| EvalError::Unbound(e.tensor.clone()))?;
            let mut hash = Hash::of(&e.tensor);
            for (p, &d) in e.index.iter().zip(dims) {
                let i = env.index(p)?;
                if !(0..d).contains(&i) {
                    return Ok(Num::ZERO);
                }
                hash.mix(i as u64);
            }
            hash.num()
        }
    })
}

/// The tree's exact value, a polynomial in the tensors' elements, where `env` gives
/// every free name.
pub fn value(tree: &Tree, env: &Env, shapes: Shapes) -> Result<Value, EvalError> {
    exact(tree, &mut Scope::of(env), shapes)
}

fn exact<'t>(tree: &'t Tree, env: &mut Scope<'t>, shapes: Shapes) -> Result<Value, EvalError> {
    Ok(match tree {
        Tree::Leaf(Leaf::Value(p)) => Value::constant(env.index(p)?),
        Tree::Leaf(Leaf::Bracket(c)) => Value::constant(env.holds(c)?.into()),
        Tree::Leaf(Leaf::Element(e)) => {
            let dims = shapes.get(&e.tensor).ok_or_else(|| EvalError::Unbound(e.tensor.clone()))?;
            let index = e.index.iter().map(|p| env.index(p)).collect::<Result<Vec<_>, _>>()?;
            match column(dims, &index) {
                Some(_) => Value::monomial(1, vec![ElemRef { tensor: e.tensor.clone(), index }]),
                None => Value::zero(),
            }
        }
        Tree::Add(a, b) => exact(a, env, shapes)?.add(&exact(b, env, shapes)?),
        Tree::Mul(a, b) => exact(a, env, shapes)?.mul(&exact(b, env, shapes)?),
        Tree::Sum(v, b) => {
            let mut acc = Value::zero();
            over(v, b, &Plan::of(b, v, shapes), env, false, &mut |env| {
                acc.add_assign(&exact(b, env, shapes)?);
                Ok(())
            })
            .map_err(Fail::into_error)?;
            acc
        }
        Tree::Diff(b, target) if constant_in(b, target) => Value::zero(),
        Tree::Diff(b, target) => {
            let index = target.index.iter().map(|p| env.index(p)).collect::<Result<Vec<_>, _>>()?;
            let dims = shapes.get(&target.tensor).ok_or_else(|| EvalError::Unbound(target.tensor.clone()))?;
            if column(dims, &index).is_none() {
                return Ok(Value::zero());
            }
            derivative(&exact(b, env, shapes)?, &ElemRef { tensor: target.tensor.clone(), index })
        }
    })
}

/// Whether `b` is a leaf that is constant in `target`'s tensor: its derivative is 0
/// whatever its indices are (a step may show `∂w_<…>/∂x` with an index that no Σ binds,
/// as a form of 0).
fn constant_in(b: &Tree, target: &Element) -> bool {
    match b {
        Tree::Leaf(Leaf::Element(e)) => e.tensor != target.tensor,
        Tree::Leaf(_) => true,
        _ => false,
    }
}

/// `∂p/∂e`, formally.
fn derivative(p: &Value, e: &ElemRef) -> Value {
    let mut out = Value::zero();
    for (m, c) in p.terms() {
        let times = m.iter().filter(|x| *x == e).count() as i64;
        if let Some(at) = m.iter().position(|x| x == e) {
            let mut rest = m.clone();
            rest.remove(at);
            out.add_term(rest, c.saturating_mul(times));
        }
    }
    out
}

/// Most values one Σ runs over.
const WIDEST_SUM: i64 = crate::limits::Limits::DEFAULT.widest_sum;

/// An interval of integers; empty when `lo > hi`, unbounded at `i64::MIN` or `i64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Interval {
    lo: i64,
    hi: i64,
}

impl Interval {
    const ALL: Interval = Interval { lo: i64::MIN, hi: i64::MAX };
    const EMPTY: Interval = Interval { lo: 1, hi: 0 };

    fn is_empty(self) -> bool {
        self.lo > self.hi
    }

    /// Empty, or finite and not wider than [`WIDEST_SUM`].
    fn bounded(self) -> bool {
        self.is_empty() || (self.lo > i64::MIN && self.hi < i64::MAX && self.hi - self.lo < WIDEST_SUM)
    }

    fn meet(self, other: Interval) -> Interval {
        Interval { lo: self.lo.max(other.lo), hi: self.hi.min(other.hi) }
    }

    fn join(self, other: Interval) -> Interval {
        match (self.is_empty(), other.is_empty()) {
            (true, _) => other,
            (_, true) => self,
            _ => Interval { lo: self.lo.min(other.lo), hi: self.hi.max(other.hi) },
        }
    }

    /// The values of `v` with `a·v + r ≥ 0`, for `a ≠ 0`.
    fn at_least(a: i64, r: i64) -> Interval {
        match (a > 0, r.checked_neg()) {
            // v ≥ ⌈-r / a⌉ = -⌊r / a⌋
            (true, _) => Interval { lo: floor_div(r, a).map_or(i64::MIN, i64::saturating_neg), hi: i64::MAX },
            // v ≤ ⌊-r / a⌋
            (false, Some(n)) => Interval { lo: i64::MIN, hi: floor_div(n, a).unwrap_or(i64::MAX) },
            (false, None) => Interval::ALL,
        }
    }
}

/// What bounds a summed index `v` in a body: worked out once per Σ, then read at each
/// assignment of the other names.
#[derive(Debug)]
enum Plan<'t> {
    /// Nothing known: every value.
    All,
    /// The body is 0.
    Empty,
    /// `0 ≤ a·v + rest` (and `≤ top`, when given): an element's axis, a `≥` bracket.
    Range { a: i64, rest: Index, top: Option<i64> },
    /// `a·v + rest = 0`: a δ bracket.
    Point { a: i64, rest: Index },
    /// A product: every factor bounds it.
    Meet(Vec<Plan<'t>>),
    /// A sum: each term may be nonzero.
    Join(Vec<Plan<'t>>),
    /// `Σ_u b`: what bounds `v` in `b`, or else, for each value `u` takes, the same.
    Nested { u: &'t str, for_v: Box<Plan<'t>>, for_u: Box<Plan<'t>> },
}

impl<'t> Plan<'t> {
    /// The plan for `v` in `t`, at the tensors' `shapes`.
    fn of(t: &'t Tree, v: &str, shapes: Shapes) -> Plan<'t> {
        let linear = |p: &Index| {
            let (a, rest) = p.linear_in(v)?;
            Some((a.as_constant().filter(|&a| a != 0)?, rest))
        };
        match t {
            Tree::Leaf(Leaf::Value(p)) if p.is_zero() => Plan::Empty,
            Tree::Leaf(Leaf::Element(e)) if e.index.iter().any(|p| p.mentions(v)) => {
                let Some(dims) = shapes.get(&e.tensor) else { return Plan::All };
                let axes = e.index.iter().zip(dims).filter_map(|(p, &d)| {
                    let (a, rest) = linear(p)?;
                    Some(Plan::Range { a, rest, top: d.checked_sub(1) })
                });
                Plan::Meet(axes.collect())
            }
            Tree::Leaf(Leaf::Bracket(Cond::Eq0(p))) if p.mentions(v) => {
                linear(p).map_or(Plan::All, |(a, rest)| Plan::Point { a, rest })
            }
            Tree::Leaf(Leaf::Bracket(Cond::Ge0(p))) if p.mentions(v) => {
                linear(p).map_or(Plan::All, |(a, rest)| Plan::Range { a, rest, top: None })
            }
            Tree::Leaf(_) => Plan::All,
            Tree::Mul(a, b) => Plan::Meet(vec![Plan::of(a, v, shapes), Plan::of(b, v, shapes)]),
            Tree::Add(a, b) => Plan::Join(vec![Plan::of(a, v, shapes), Plan::of(b, v, shapes)]),
            Tree::Diff(b, target) if constant_in(b, target) => Plan::Empty,
            Tree::Diff(b, _) => Plan::of(b, v, shapes),
            Tree::Sum(u, _) if u == v => Plan::All,
            Tree::Sum(u, b) => {
                Plan::Nested { u, for_v: Box::new(Plan::of(b, v, shapes)), for_u: Box::new(Plan::of(b, u, shapes)) }
            }
        }
    }

    /// The values of the index outside which the body is 0, from what `env` knows (a
    /// constraint that reads a name without a value is left out).
    fn interval(&self, env: &mut Scope<'t>) -> Interval {
        match self {
            Plan::All => Interval::ALL,
            Plan::Empty => Interval::EMPTY,
            Plan::Range { a, rest, top } => {
                let Ok(r) = env.index(rest) else { return Interval::ALL };
                let at_least = Interval::at_least(*a, r);
                match top.and_then(|t| t.checked_sub(r)) {
                    // a·v + r ≤ top  ⟺  -a·v + (top - r) ≥ 0
                    Some(room) => at_least.meet(Interval::at_least(-a, room)),
                    None => at_least,
                }
            }
            Plan::Point { a, rest } => match env.index(rest) {
                Ok(r) if r.checked_rem(*a) == Some(0) => {
                    let x = (-(r as i128) / *a as i128) as i64;
                    Interval { lo: x, hi: x }
                }
                Ok(_) => Interval::EMPTY,
                Err(_) => Interval::ALL,
            },
            Plan::Meet(ps) => ps.iter().fold(Interval::ALL, |i, p| i.meet(p.interval(env))),
            Plan::Join(ps) => ps.iter().fold(Interval::EMPTY, |i, p| i.join(p.interval(env))),
            Plan::Nested { u, for_v, for_u } => {
                env.push(u, Scope::UNKNOWN);
                let mut out = for_v.interval(env);
                if !out.bounded() {
                    let over = for_u.interval(env);
                    if over.bounded() {
                        out = Interval::EMPTY;
                        for x in over.lo..=over.hi {
                            env.set_last(x);
                            out = out.join(for_v.interval(env));
                        }
                    }
                }
                env.pop();
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::index::var;
    use crate::derive::derive;

    fn model(src: &str) -> crate::model::Model {
        crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap()
    }

    #[test]
    fn rows_by_residues_agree_with_exact_values_at_every_step() {
        // Strided and transposed: δ brackets with coefficients, div and mod, two tensors.
        for src in [
            "input x[n]\nweight w[k]\nlet n = 7, k = 3, S = 2\ns_i = Σ x_<S i + m> w_m\n",
            "input x[n]\nweight w[k]\noutput s[2n + k]\nlet n = 4, k = 3\ns_o = Σ x_i w_m [o = 2i + m - 1]\n",
        ] {
            let m = model(src);
            let d = derive(&m, &crate::limits::Limits::default()).unwrap();
            let shapes: BTreeMap<String, Vec<i64>> =
                m.tensors.iter().map(|t| (t.name.clone(), m.shape_at(&t.name, &m.values).unwrap())).collect();
            let rows: Vec<Vec<i64>> = (0..5).map(|i| vec![i]).collect();
            for der in &d.derivatives {
                let dims = shapes[&der.wrt].clone();
                let cols = Columns { tensor: &der.wrt, names: &der.wrt_indices, dims: &dims };
                for step in &der.steps {
                    let mut env = m.values.clone();
                    let fast = super::rows(&step.term, &m.values, &m.output.indices, &rows, &shapes, &cols).unwrap();
                    for (r, row) in rows.iter().enumerate() {
                        for c in 0..dims[0] {
                            env.insert(m.output.indices[0].clone(), row[0]);
                            env.insert(der.wrt_indices[0].clone(), c);
                            let exact = value(&step.term, &env, &shapes).unwrap();
                            assert_eq!(number(&exact), fast[r][c as usize], "{} at {row:?}, {c}", step.expr);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_sum_that_nothing_bounds_is_an_error() {
        let t = Tree::Sum("l".into(), Box::new(Tree::Leaf(Leaf::Value(var("l")))));
        let shapes = BTreeMap::new();
        assert_eq!(value(&t, &Env::new(), &shapes), Err(EvalError::Unbounded("l".into())));
        let zero = Tree::Sum("l".into(), Box::new(Tree::Leaf(Leaf::Value(Index::zero()))));
        assert_eq!(value(&zero, &Env::new(), &shapes), Ok(Value::zero()));
    }

    #[test]
    fn a_derivative_of_another_tensor_is_zero_whatever_its_indices() {
        // Σ_u ∂w_<u, v>/∂x_0 with v bound by nothing: a step may show 0 in this form.
        let element = |t: &str, index| Element { tensor: t.into(), index };
        let dw = Tree::Diff(
            Box::new(Tree::Leaf(Leaf::Element(element("w", vec![var("u"), var("v")])))),
            element("x", vec![Index::zero()]),
        );
        let t = Tree::Sum("u".into(), Box::new(dw));
        let shapes: BTreeMap<String, Vec<i64>> =
            [("x".to_string(), vec![4]), ("w".to_string(), vec![3, 3])].into_iter().collect();
        assert_eq!(value(&t, &Env::new(), &shapes), Ok(Value::zero()));
        // The same of x itself still reads its indices.
        let dx = Tree::Diff(
            Box::new(Tree::Leaf(Leaf::Element(element("x", vec![var("v")])))),
            element("x", vec![Index::zero()]),
        );
        assert_eq!(value(&dx, &Env::new(), &shapes), Err(EvalError::Unbound("v".into())));
    }

    #[test]
    fn a_sum_shadows_a_free_name_of_the_same_name() {
        // Σ_j x_j with a free j = 7 around it: the Σ's j runs over x's range.
        let x = |p| Tree::Leaf(Leaf::Element(Element { tensor: "x".into(), index: vec![p] }));
        let t = Tree::Mul(Box::new(x(var("j"))), Box::new(Tree::Sum("j".into(), Box::new(x(var("j"))))));
        let shapes: BTreeMap<String, Vec<i64>> = [("x".to_string(), vec![8])].into_iter().collect();
        let env: Env = [("j".to_string(), 7)].into_iter().collect();
        let v = value(&t, &env, &shapes).unwrap();
        assert_eq!(
            crate::algebra::formula::show_value(&v),
            "x[0]*x[7] + x[1]*x[7] + x[2]*x[7] + x[3]*x[7] + x[4]*x[7] + x[5]*x[7] + x[6]*x[7] + x[7]*x[7]"
        );
        assert_eq!(env["j"], 7);
    }
}
