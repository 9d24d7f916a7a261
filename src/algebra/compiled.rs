//! Terms compiled at concrete sizes for fast numeric evaluation: every index expression
//! becomes an affine function of a few integer slots (with the general evaluator as a
//! fallback for `div` and `mod`), so that millions of entries cost nanoseconds each.

use super::cond::le;
use super::index::{var, IndexAtom};
use super::{Cond, Env, EvalError, Index, IndexExt, Term};
use std::collections::BTreeSet;

/// An index expression at concrete sizes.
enum Lin {
    /// `constant + Σ c·slot`.
    Affine(Vec<(usize, i64)>, i64),
    /// Anything else, evaluated by name.
    General(Index),
}

impl Lin {
    fn compile(p: &Index, slots: &[String], sizes: &Env) -> Lin {
        let mut q = p.clone();
        for (n, v) in sizes {
            if q.mentions(n) && !slots.contains(n) {
                q = q.substitute(n, &Index::constant(*v));
            }
        }
        let mut terms = Vec::new();
        let mut affine = true;
        for (m, c) in q.terms() {
            match m.as_slice() {
                [] => {}
                [IndexAtom::Var(v)] => match slots.iter().position(|s| **s == **v) {
                    Some(i) => terms.push((i, c)),
                    None => affine = false,
                },
                _ => affine = false,
            }
        }
        if affine {
            Lin::Affine(terms, q.constant_term())
        } else {
            Lin::General(q)
        }
    }

    fn eval(&self, vals: &[i64], slots: &[String]) -> Result<i64, EvalError> {
        match self {
            Lin::Affine(terms, constant) => {
                // i128 cannot overflow here: a few products of two i64 values.
                let sum = terms.iter().fold(*constant as i128, |s, &(i, c)| s + c as i128 * vals[i] as i128);
                i64::try_from(sum).map_err(|_| EvalError::Overflow("an index".into()))
            }
            Lin::General(p) => p.eval_by(&|n| slots.iter().position(|s| s == n).map(|i| vals[i])),
        }
    }

    fn slots(&self, slots: &[String]) -> Vec<usize> {
        match self {
            Lin::Affine(terms, _) => terms.iter().map(|&(i, _)| i).collect(),
            Lin::General(p) => p.names().iter().filter_map(|n| slots.iter().position(|s| s == n)).collect(),
        }
    }
}

/// An index expression along the innermost loop's slot, as [`Compiled::affine_run`] reads
/// it: `base + step·v`, with `base` affine in the other slots, or an expression that does
/// not depend on the slot (evaluated by name).
enum Along {
    Affine { others: Vec<(usize, i64)>, constant: i64, step: i64 },
    General(Index),
}

impl Along {
    /// `p` split along `slot` (an expression that is not affine must not depend on it).
    fn of(p: &Lin, slot: usize) -> Along {
        match p {
            Lin::Affine(terms, constant) => Along::Affine {
                others: terms.iter().filter(|t| t.0 != slot).copied().collect(),
                constant: *constant,
                step: terms.iter().filter(|t| t.0 == slot).map(|t| t.1).sum(),
            },
            Lin::General(q) => Along::General(q.clone()),
        }
    }

    /// `(base, step)` at the other slots' values.
    fn at(&self, vals: &[i64], slots: &[String]) -> Result<(i64, i64), EvalError> {
        match self {
            Along::Affine { others, constant, step } => {
                // i128 cannot overflow here: a few products of two i64 values.
                let base = others.iter().fold(*constant as i128, |s, &(i, c)| s + c as i128 * vals[i] as i128);
                Ok((i64::try_from(base).map_err(|_| EvalError::Overflow("an index".into()))?, *step))
            }
            Along::General(q) => Ok((q.eval_by(&|n| slots.iter().position(|s| s == n).map(|i| vals[i]))?, 0)),
        }
    }
}

/// Every expression of a term whose innermost loop is affine, split along its slot (see
/// [`Along`]): the brackets (`true` for `= 0`, else `≥ 0`), each element's indices, and the
/// coefficient.
struct Split {
    tests: Vec<(Along, bool)>,
    elements: Vec<(usize, Vec<Along>)>,
    coeff: Along,
}

/// A condition at concrete sizes.
enum Test {
    Ge0(Lin),
    Eq0(Lin),
    Other(Cond),
}

/// The shape of a tensor the term reads, for bounds and addressing.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The tensor's name.
    pub name: String,
    /// Its dimensions.
    pub dims: Vec<i64>,
}

/// One summed (or enumerated) index: the slot, and the element axes that bound it.
struct Enumerated {
    slot: usize,
    limits: Vec<(i64, Lin, i64)>,
    fallback: Option<(i64, i64)>,
}

/// A term compiled at concrete sizes.
pub struct Compiled {
    /// Whether every expression is affine in the slots (the fast innermost loop applies).
    affine: bool,
    /// Where it is, the expressions split along the innermost slot.
    split: Option<Split>,
    slots: Vec<String>,
    coeff: Lin,
    elements: Vec<(usize, Vec<Lin>)>,
    tests: Vec<Test>,
    order: Vec<Enumerated>,
    /// Enumerated indices solved for (see [`solve_brackets`]): their slots and values,
    /// set before each visit.
    derived: Vec<(usize, Lin)>,
    shapes: Vec<Vec<i64>>,
}

impl Compiled {
    /// Compiles `term` with `free` names set by the caller, and `enumerated` names (each
    /// with a range to use where no element of a known tensor bounds it) and then the
    /// term's summed indices run over by [`Compiled::for_each`]. Summed indices named like
    /// one of the caller's names or a size are renamed apart first: a slot is one name.
    pub fn new(
        term: &Term,
        free: &[String],
        enumerated: &[(String, Option<(i64, i64)>)],
        sizes: &Env,
        shapes: &[Shape],
    ) -> Result<Compiled, EvalError> {
        let outer: BTreeSet<String> =
            free.iter().chain(enumerated.iter().map(|(n, _)| n)).chain(sizes.keys()).cloned().collect();
        let mut term = term.rename_apart(&outer);
        let enumerated: Vec<(String, Option<(i64, i64)>)> =
            enumerated.iter().cloned().chain(term.bound.iter().map(|b| (b.clone(), None))).collect();
        let enumerated = enumerated.as_slice();
        for (n, v) in sizes {
            if !free.contains(n) && !enumerated.iter().any(|(e, _)| e == n) {
                term = term.substitute(n, &Index::constant(*v));
            }
        }
        let (term, run, derived) = solve_brackets(term, enumerated, shapes);
        let slots: Vec<String> = free
            .iter()
            .chain(enumerated.iter().map(|(n, _)| n))
            .chain(run.iter().map(|(n, _)| n).filter(|n| !enumerated.iter().any(|(e, _)| e == *n)))
            .cloned()
            .collect();
        let slot = |n: &str| slots.iter().position(|s| s == n).expect("every name has a slot");
        let lin = |p: &Index| Lin::compile(p, &slots, sizes);
        let elements: Vec<(usize, Vec<Lin>)> = term
            .elements
            .iter()
            .map(|e| {
                let t = shapes.iter().position(|s| s.name == e.tensor).ok_or(EvalError::Unbound(e.tensor.clone()))?;
                Ok((t, e.index.iter().map(lin).collect()))
            })
            .collect::<Result<_, EvalError>>()?;
        let tests: Vec<Test> = term
            .brackets
            .iter()
            .map(|c| match c {
                Cond::Ge0(p) => Test::Ge0(lin(p)),
                Cond::Eq0(p) => Test::Eq0(lin(p)),
                other => Test::Other(other.clone()),
            })
            .collect();
        let order = loop_order(&term, &run, shapes, &slots, free.len(), sizes)?;
        let coeff = lin(&term.coeff);
        let affine = innermost_affine(&order, &slots, &coeff, &elements, &tests);
        let split = order.last().filter(|_| affine).map(|e| Split {
            tests: (tests.iter())
                .filter_map(|t| match t {
                    Test::Ge0(p) => Some((Along::of(p, e.slot), false)),
                    Test::Eq0(p) => Some((Along::of(p, e.slot), true)),
                    Test::Other(_) => None,
                })
                .collect(),
            elements: elements
                .iter()
                .map(|(t, index)| (*t, index.iter().map(|p| Along::of(p, e.slot)).collect()))
                .collect(),
            coeff: Along::of(&coeff, e.slot),
        });
        let derived = derived.iter().map(|(v, by)| (slot(v), lin(by))).collect();
        Ok(Compiled {
            affine,
            split,
            coeff,
            elements,
            tests,
            order,
            derived,
            shapes: shapes.iter().map(|s| s.dims.clone()).collect(),
            slots,
        })
    }

    /// Calls `visit` with the slots and the term's value at every assignment of the
    /// enumerated indices where it is not zero; `free` sets the free slots and `data`
    /// holds each tensor's values, row-major, in the order of the shapes given.
    pub fn for_each(
        &self,
        free: &[i64],
        data: &[&[f64]],
        visit: &mut impl FnMut(&[i64], f64),
    ) -> Result<(), EvalError> {
        let mut vals = vec![0; self.slots.len()];
        vals[..free.len()].copy_from_slice(free);
        self.assign(0, &mut vals, data, &mut Vec::new(), visit)
    }

    /// The sums of `terms` at every tuple of the box `free` (inclusive ranges of the free
    /// slots, row-major), and a bound on the sum of the summands' absolute values at any
    /// tuple: every sum, and every partial sum, is exact in f64 while that stays below 2⁵³.
    pub fn sums(terms: &[Compiled], free: &[(i64, i64)], data: &[&[f64]]) -> Result<(Vec<f64>, f64), EvalError> {
        let count = free
            .iter()
            .fold(1usize, |p, &(lo, hi)| p.saturating_mul(hi.saturating_sub(lo).saturating_add(1).max(0) as usize));
        let largest: Vec<f64> = data.iter().map(|d| d.iter().fold(0.0f64, |m, v| m.max(v.abs()))).collect();
        let mut out = Vec::with_capacity(count);
        let mut bound = 0.0f64;
        let mut at: Vec<i64> = free.iter().map(|&(lo, _)| lo).collect();
        let mut vals: Vec<Vec<i64>> = terms.iter().map(|t| vec![0; t.slots.len()]).collect();
        let mut flats = Vec::new();
        for _ in 0..count {
            let (mut sum, mut size) = (0.0, 0.0);
            for (t, vals) in terms.iter().zip(&mut vals) {
                vals[..at.len()].copy_from_slice(&at);
                let (s, b) = t.sum(0, vals, data, &largest, &mut flats)?;
                sum += s;
                size += b;
            }
            out.push(sum);
            bound = bound.max(size);
            // The next tuple: the last axis fastest.
            for (axis, &(lo, hi)) in free.iter().enumerate().rev() {
                if at[axis] < hi {
                    at[axis] += 1;
                    break;
                }
                at[axis] = lo;
            }
        }
        Ok((out, bound))
    }

    /// The sums of `terms` at every tuple of the box `outer` (the free slots but the last)
    /// by the last free index `inner`, row-major, and the largest sum of the summands'
    /// absolute values at any tuple (see [`Compiled::sums`]). Each term must have been
    /// compiled with the last free index as its first enumerated one (ranging over
    /// `inner`): its loops then run along that index innermost where they can, adding a
    /// run of the summands into a run of outputs at once, which keeps the work per
    /// summand small where the summed indices' runs are short (a 2-D kernel's 3 columns).
    pub fn sums_along(
        terms: &[Compiled],
        outer: &[(i64, i64)],
        inner: (i64, i64),
        data: &[&[f64]],
    ) -> Result<(Vec<f64>, f64), EvalError> {
        let len = inner.1.saturating_sub(inner.0).saturating_add(1).max(0) as usize;
        let rows = outer
            .iter()
            .fold(1usize, |p, &(lo, hi)| p.saturating_mul(hi.saturating_sub(lo).saturating_add(1).max(0) as usize));
        let mut out = vec![0.0; rows.saturating_mul(len)];
        let mut abs = vec![0.0; len];
        let largest: Vec<f64> = data.iter().map(|d| d.iter().fold(0.0f64, |m, v| m.max(v.abs()))).collect();
        let (mut bound, mut at): (f64, Vec<i64>) = (0.0, outer.iter().map(|&(lo, _)| lo).collect());
        let mut flats = Vec::new();
        for row in out.chunks_mut(len.max(1)).take(rows) {
            // Per output, the summands' absolute values: those added one by one in `abs`,
            // and for the runs added at once, a bound for any output in `runs`.
            abs.iter_mut().for_each(|a| *a = 0.0);
            let mut runs = 0.0;
            for t in terms {
                let mut vals = vec![0; t.slots.len()];
                vals[..at.len()].copy_from_slice(&at);
                let (slot, first) = (at.len(), inner.0);
                // Indices solved for (set_derived) are not read: the summands are all it needs.
                match t.affine && t.order.last().is_some_and(|e| e.slot == slot) {
                    true => t.spread(0, &mut vals, data, &mut flats, (first, row, &mut runs), &largest)?,
                    false => t.assign(0, &mut vals, data, &mut flats, &mut |vals, v| {
                        let i = (vals[slot] - first) as usize;
                        row[i] += v;
                        abs[i] += v.abs();
                    })?,
                }
            }
            bound = bound.max(abs.iter().fold(0.0f64, |m, &a| m.max(a)) + runs);
            for (axis, &(lo, hi)) in outer.iter().enumerate().rev() {
                if at[axis] < hi {
                    at[axis] += 1;
                    break;
                }
                at[axis] = lo;
            }
        }
        Ok((out, bound))
    }

    /// [`Compiled::sums_along`]'s loops: the innermost one runs along the outputs' index
    /// (`first` its first value), adding each summand into `row`, and to `runs` a bound on
    /// the absolute value of any one summand of the run (an output gets one summand of
    /// each run; `largest`: each tensor's largest absolute value). A constant coefficient
    /// with one element moving by ±1 along it and the others fixed is one scaled slice
    /// added at once.
    fn spread(
        &self,
        level: usize,
        vals: &mut [i64],
        data: &[&[f64]],
        flats: &mut Vec<(usize, i64, i64)>,
        (first, row, runs): (i64, &mut [f64], &mut f64),
        largest: &[f64],
    ) -> Result<(), EvalError> {
        let e = &self.order[level];
        if level + 1 < self.order.len() {
            let (lo, hi) = self.bounds(e, vals)?;
            for v in lo..=hi {
                vals[e.slot] = v;
                self.spread(level + 1, vals, data, flats, (first, row, runs), largest)?;
            }
            return Ok(());
        }
        let Some((lo, hi, (cb, cs))) = self.affine_run(vals, flats)? else { return Ok(()) };
        let (a, b) = ((lo - first) as usize, (hi - first) as usize);
        let fixed: f64 = flats.iter().filter(|f| f.2 == 0).fold(cb as f64, |p, &(t, f, _)| p * data[t][f as usize]);
        let mut moving = flats.iter().filter(|f| f.2 != 0);
        match (cs, moving.next(), moving.next()) {
            (0, None, _) => {
                row[a..=b].iter_mut().for_each(|o| *o += fixed);
                *runs += fixed.abs();
            }
            (0, Some(&(t, f, s)), None) if s.abs() == 1 => {
                let (x0, x1) = (f + s * lo, f + s * hi);
                let slice = &data[t][x0.min(x1) as usize..=x0.max(x1) as usize];
                let add = |(o, x): (&mut f64, &f64)| *o += fixed * x;
                match s {
                    1 => row[a..=b].iter_mut().zip(slice).for_each(add),
                    _ => row[a..=b].iter_mut().zip(slice.iter().rev()).for_each(add),
                }
                *runs += fixed.abs() * largest[t];
            }
            _ => {
                let mut most = 0.0f64;
                for v in lo..=hi {
                    let value =
                        flats.iter().fold((cb + cs * v) as f64, |p, &(t, f, s)| p * data[t][(f + s * v) as usize]);
                    row[(v - first) as usize] += value;
                    most = most.max(value.abs());
                }
                *runs += most;
            }
        }
        Ok(())
    }

    fn assign(
        &self,
        level: usize,
        vals: &mut [i64],
        data: &[&[f64]],
        flats: &mut Vec<(usize, i64, i64)>,
        visit: &mut impl FnMut(&[i64], f64),
    ) -> Result<(), EvalError> {
        let Some(e) = self.order.get(level) else {
            let v = self.value(vals, data)?;
            if v != 0.0 {
                self.set_derived(vals)?;
                visit(vals, v);
            }
            return Ok(());
        };
        if level + 1 == self.order.len() && self.affine {
            let Some((lo, hi, (cb, cs))) = self.affine_run(vals, flats)? else { return Ok(()) };
            for v in lo..=hi {
                let mut value = (cb + cs * v) as f64;
                for &(t, flat, dflat) in flats.iter() {
                    value *= data[t][(flat + dflat * v) as usize];
                }
                if value != 0.0 {
                    vals[e.slot] = v;
                    self.set_derived(vals)?;
                    visit(vals, value);
                }
            }
            return Ok(());
        }
        let (lo, hi) = self.bounds(e, vals)?;
        for v in lo..=hi {
            vals[e.slot] = v;
            self.assign(level + 1, vals, data, flats, visit)?;
        }
        Ok(())
    }

    fn set_derived(&self, vals: &mut [i64]) -> Result<(), EvalError> {
        for (slot, by) in &self.derived {
            vals[*slot] = by.eval(vals, &self.slots)?;
        }
        Ok(())
    }

    /// The term's sum over the enumerated indices from `level` on, and a bound on the sum
    /// of its summands' absolute values (`largest`: each tensor's largest absolute value).
    fn sum(
        &self,
        level: usize,
        vals: &mut [i64],
        data: &[&[f64]],
        largest: &[f64],
        flats: &mut Vec<(usize, i64, i64)>,
    ) -> Result<(f64, f64), EvalError> {
        let Some(e) = self.order.get(level) else {
            let v = self.value(vals, data)?;
            return Ok((v, v.abs()));
        };
        if level + 1 == self.order.len() && self.affine {
            let Some((lo, hi, coeff)) = self.affine_run(vals, flats)? else { return Ok((0.0, 0.0)) };
            let most = (coeff.0 + coeff.1 * lo).abs().max((coeff.0 + coeff.1 * hi).abs()) as f64;
            let bound = flats.iter().fold((hi - lo + 1) as f64 * most, |b, &(t, _, _)| b * largest[t]);
            return Ok((product_sum((lo, hi), coeff, flats, data), bound));
        }
        let (lo, hi) = self.bounds(e, vals)?;
        let mut total = (0.0, 0.0);
        for v in lo..=hi {
            vals[e.slot] = v;
            let (s, b) = self.sum(level + 1, vals, data, largest, flats)?;
            total = (total.0 + s, total.1 + b);
        }
        Ok(total)
    }

    /// The range of an enumerated index that keeps every element it bounds in its shape.
    fn bounds(&self, e: &Enumerated, vals: &[i64]) -> Result<(i64, i64), EvalError> {
        let (mut lo, mut hi) = e.fallback.unwrap_or((i64::MIN, i64::MAX));
        for (a, rest, len) in &e.limits {
            let r = rest.eval(vals, &self.slots)?;
            // 0 ≤ a·v + r ≤ len - 1
            let (x, y) = (-r, len - 1 - r);
            let (l, h) = if *a > 0 { (div_ceil(x, *a), x_floor(y, *a)) } else { (div_ceil(y, *a), x_floor(x, *a)) };
            lo = lo.max(l);
            hi = hi.min(h);
        }
        Ok((lo, hi))
    }

    /// The innermost index when everything is affine: each expression is `base + step·v`
    /// along it, so the tests and the elements' ranges cut one interval. Gives the
    /// interval (`None` when empty) and the coefficient as `(base, step)`, and leaves each
    /// element as `(tensor, flat position at v = 0, its step)` in `flats`.
    fn affine_run(&self, vals: &[i64], flats: &mut Vec<(usize, i64, i64)>) -> Result<Option<AffineRun>, EvalError> {
        let split = self.split.as_ref().expect("an affine term has its expressions split");
        let (mut lo, mut hi) = self.order[self.order.len() - 1].fallback.unwrap_or((i64::MIN, i64::MAX));
        // base + step·v ≥ 0, or = 0, narrows [lo, hi].
        let at_least = |base: i64, step: i64, lo: &mut i64, hi: &mut i64| match step.signum() {
            0 if base < 0 => *hi = i64::MIN,
            0 => {}
            1 => *lo = (*lo).max(div_ceil(-base, step)),
            _ => *hi = (*hi).min(x_floor(base, -step)),
        };
        for (p, equal) in &split.tests {
            let (b, st) = p.at(vals, &self.slots)?;
            at_least(b, st, &mut lo, &mut hi);
            if *equal {
                at_least(-b, -st, &mut lo, &mut hi);
            }
        }
        for t in &self.tests {
            // Checked not to depend on the slot.
            if let Test::Other(c) = t {
                if !c.eval(&self.slots.iter().cloned().zip(vals.iter().copied()).collect())? {
                    return Ok(None);
                }
            }
        }
        flats.clear();
        for (t, index) in &split.elements {
            let (mut flat, mut dflat) = (0i64, 0i64);
            for (p, &d) in index.iter().zip(&self.shapes[*t]) {
                let (b, st) = p.at(vals, &self.slots)?;
                at_least(b, st, &mut lo, &mut hi);
                at_least(d - 1 - b, -st, &mut lo, &mut hi);
                flat = flat.saturating_mul(d).saturating_add(b);
                dflat = dflat.saturating_mul(d).saturating_add(st);
            }
            flats.push((*t, flat, dflat));
        }
        Ok((lo <= hi).then_some((lo, hi, split.coeff.at(vals, &self.slots)?)))
    }

    fn value(&self, vals: &[i64], data: &[&[f64]]) -> Result<f64, EvalError> {
        for t in &self.tests {
            let holds = match t {
                Test::Ge0(p) => p.eval(vals, &self.slots)? >= 0,
                Test::Eq0(p) => p.eval(vals, &self.slots)? == 0,
                Test::Other(c) => c.eval(&self.slots.iter().cloned().zip(vals.iter().copied()).collect())?,
            };
            if !holds {
                return Ok(0.0);
            }
        }
        let mut product = self.coeff.eval(vals, &self.slots)? as f64;
        for (t, index) in &self.elements {
            let mut flat = 0i64;
            for (p, &d) in index.iter().zip(&self.shapes[*t]) {
                let i = p.eval(vals, &self.slots)?;
                if i < 0 || i >= d {
                    return Ok(0.0);
                }
                flat = flat * d + i;
            }
            product *= data[*t][flat as usize];
        }
        Ok(product)
    }
}

/// `Σ_{v = lo..=hi} (cb + cs·v) · Π data[t][flat + step·v]` for the elements `flats`.
/// Two elements stepping by ±1 under a constant coefficient (a convolution's product)
/// read two contiguous slices, multiplied four lanes at a time; the values are integers
/// below 2⁵³, so the order of the additions does not change the sum.
fn product_sum((lo, hi): (i64, i64), (cb, cs): (i64, i64), flats: &[(usize, i64, i64)], data: &[&[f64]]) -> f64 {
    if let [(t0, f0, s0), (t1, f1, s1)] = *flats {
        if cs == 0 && s0.abs() == 1 && s1.abs() == 1 {
            let slice = |t: usize, f: i64, s: i64| {
                let (a, b) = (f + s * lo, f + s * hi);
                &data[t][a.min(b) as usize..=a.max(b) as usize]
            };
            let (a, b) = (slice(t0, f0, s0), slice(t1, f1, s1));
            return cb as f64 * if s0 == s1 { dot(a, b) } else { dot_reversed(a, b) };
        }
    }
    (lo..=hi).fold(0.0, |sum, v| {
        let value = flats.iter().fold((cb + cs * v) as f64, |p, &(t, f, s)| p * data[t][(f + s * v) as usize]);
        sum + value
    })
}

/// `Σ a_i b_i`, four lanes at a time.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    let mut lanes = [0.0; 4];
    for (x, y) in ca.zip(cb) {
        for q in 0..4 {
            lanes[q] += x[q] * y[q];
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// `Σ a_i b_(len-1-i)`, four lanes at a time.
fn dot_reversed(a: &[f64], b: &[f64]) -> f64 {
    let (ca, cb) = (a.chunks_exact(4), b.rchunks_exact(4));
    // a's last r values meet b's first r, reversed.
    let tail: f64 = ca.remainder().iter().zip(cb.remainder().iter().rev()).map(|(x, y)| x * y).sum();
    let mut lanes = [0.0; 4];
    for (x, y) in ca.zip(cb) {
        for q in 0..4 {
            lanes[q] += x[q] * y[3 - q];
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// The innermost index's interval `(lo, hi)` and the coefficient as `(base, step)`.
type AffineRun = (i64, i64, (i64, i64));

/// A term rewritten by [`solve_brackets`], the indices it enumerates, and each replaced
/// index with its value.
type Solved = (Term, Vec<(String, Option<(i64, i64)>)>, Vec<(String, Index)>);

/// The enumerated indices `run` in an order in which each one's bounds depend only on
/// slots known before it (the `free` first slots are known from the start): each with
/// its slot, the limits that elements of known tensors give it, and its fallback range.
fn loop_order(
    term: &Term,
    run: &[(String, Option<(i64, i64)>)],
    shapes: &[Shape],
    slots: &[String],
    free: usize,
    sizes: &Env,
) -> Result<Vec<Enumerated>, EvalError> {
    let slot = |n: &str| slots.iter().position(|s| s == n).expect("every name has a slot");
    let lin = |p: &Index| Lin::compile(p, slots, sizes);
    let limits_of = |k: usize, known: &[usize]| -> Vec<(i64, Lin, i64)> {
        let v = &run[k].0;
        let mut found = Vec::new();
        for e in &term.elements {
            let Some(s) = shapes.iter().find(|s| s.name == e.tensor) else { continue };
            for (p, &len) in e.index.iter().zip(&s.dims) {
                let Some((a, rest)) = p.linear_in(v) else { continue };
                let Some(a) = a.as_constant().filter(|&a| a != 0) else { continue };
                let rest = lin(&rest);
                if rest.slots(slots).iter().all(|i| known.contains(i)) {
                    found.push((a, rest, len));
                }
            }
        }
        found
    };
    let mut known: Vec<usize> = (0..free).collect();
    let mut order: Vec<Enumerated> = Vec::new();
    let mut left: Vec<usize> = (0..run.len()).collect();
    while !left.is_empty() {
        let pick = left
            .iter()
            .position(|&k| !limits_of(k, &known).is_empty())
            .or_else(|| left.iter().position(|&k| run[k].1.is_some()));
        let Some(at) = pick else { return Err(EvalError::Unbounded(run[left[0]].0.clone())) };
        let k = left.remove(at);
        order.push(Enumerated { slot: slot(&run[k].0), limits: limits_of(k, &known), fallback: run[k].1 });
        known.push(slot(&run[k].0));
    }
    Ok(order)
}

/// Whether every expression of the term is affine along the innermost loop's index (or
/// does not depend on it at all), as that loop needs.
fn innermost_affine(
    order: &[Enumerated],
    slots: &[String],
    coeff: &Lin,
    elements: &[(usize, Vec<Lin>)],
    tests: &[Test],
) -> bool {
    let last = order.last().map(|e| slots[e.slot].clone());
    let along = |p: &Lin| match (p, &last) {
        (Lin::Affine(..), _) => true,
        (Lin::General(q), Some(v)) => !q.mentions(v),
        (Lin::General(_), None) => false,
    };
    along(coeff)
        && elements.iter().all(|(_, index)| index.iter().all(along))
        && tests.iter().all(|t| match t {
            Test::Ge0(p) | Test::Eq0(p) => along(p),
            Test::Other(c) => last.as_ref().is_some_and(|v| !c.mentions(v)),
        })
}

/// Solves the brackets that pin an enumerated index `v` down, so that the loops run over
/// the values they keep alone (with `a = ±1`, and `v`'s own range kept as two brackets):
/// - `[a·v + r = 0]` fixes `v = -a·r`: `v` is no longer enumerated;
/// - `[(a·v + r) mod D = 0]` (`D` a constant above 1) keeps every `D`-th value:
///   `v = a·(D·t - r)` for a new index `t` in `v`'s place, which turns `(a·v + r) div D`
///   into `t`; a `t` that no element bounds is not introduced.
fn solve_brackets(mut term: Term, enumerated: &[(String, Option<(i64, i64)>)], shapes: &[Shape]) -> Solved {
    let mut run = enumerated.to_vec();
    let mut derived = Vec::new();
    let unit_in = |e: &Index, v: &str| -> Option<(i64, Index)> {
        let (a, rest) = e.linear_in(v)?;
        Some((a.as_constant().filter(|a| a.abs() == 1)?, rest))
    };
    for _ in 0..enumerated.len() {
        // (which index, its value, the new index if any)
        let found = term.brackets.iter().find_map(|c| {
            let Cond::Eq0(p) = c else { return None };
            if let Some((k, a, rest)) = run.iter().enumerate().find_map(|(k, (v, _))| {
                let (a, rest) = unit_in(p, v)?;
                Some((k, a, rest))
            }) {
                return Some((k, rest.scale(-a), None));
            }
            let [(m, _)] = p.terms().collect::<Vec<_>>()[..] else { return None };
            let [IndexAtom::Mod(e, d)] = m.as_slice() else { return None };
            let d = d.as_constant().filter(|&d| d > 1)?;
            run.iter().enumerate().find_map(|(k, (v, _))| {
                let (a, rest) = unit_in(e, v)?;
                let t = format!("·{v}");
                Some((k, var(&t).scale(d).sub(&rest).scale(a), Some(t)))
            })
        });
        let Some((k, by, new)) = found else { break };
        let (v, range) = run[k].clone();
        let mut next = term.substitute_bound(&v, &by);
        if let Some(t) = &new {
            let bounded = next.elements.iter().any(|e| {
                shapes.iter().any(|s| s.name == e.tensor)
                    && e.index.iter().any(|p| p.linear_in(t).and_then(|(c, _)| c.as_constant()).is_some_and(|c| c != 0))
            });
            if !bounded {
                break;
            }
        }
        if let Some((lo, hi)) = range {
            next.brackets.push(le(&Index::constant(lo), &by));
            next.brackets.push(le(&by, &Index::constant(hi)));
        }
        match new {
            Some(t) => run[k] = (t, None),
            None => {
                run.remove(k);
            }
        }
        derived.push((v, by));
        term = next;
    }
    (term, run, derived)
}

fn x_floor(a: i64, b: i64) -> i64 {
    super::poly::floor_div(a, b).unwrap_or(if (a < 0) == (b < 0) { i64::MAX } else { i64::MIN })
}

fn div_ceil(a: i64, b: i64) -> i64 {
    x_floor(-a, b).saturating_neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::cond::le;
    use crate::algebra::index::var;
    use crate::algebra::Element;

    #[test]
    fn a_convolution_evaluates_fast_and_exactly() {
        // Σ_l x_l w_<i-l>, at i = 2 with x = [1, 2, 3], w = [10, 100]: x_1 w_1 + x_2 w_0.
        let term = Term {
            bound: vec!["l".into()],
            coeff: Index::constant(1),
            elements: vec![
                Element { tensor: "x".into(), index: vec![var("l")] },
                Element { tensor: "w".into(), index: vec![var("i").sub(&var("l"))] },
            ],
            brackets: vec![le(&Index::zero(), &var("l"))],
        };
        let shapes = [Shape { name: "x".into(), dims: vec![3] }, Shape { name: "w".into(), dims: vec![2] }];
        let c = Compiled::new(&term, &["i".into()], &[], &Env::new(), &shapes).unwrap();
        let (x, w) = ([1.0, 2.0, 3.0], [10.0, 100.0]);
        let mut sum = 0.0;
        c.for_each(&[2], &[&x, &w], &mut |_, v| sum += v).unwrap();
        assert_eq!(sum, 2.0 * 100.0 + 3.0 * 10.0);
    }

    #[test]
    fn a_summed_index_named_like_a_free_one_gets_its_own_slot() {
        // Σ_i x_i w_<i-r> with the caller's free names i and r: the Σ's i is renamed apart
        // from the free i, which it would otherwise share a slot with. At i = 7, r = 1 with
        // x = [1, 2, 3], w = [10, 100]: x_1 w_0 + x_2 w_1, whatever the free i.
        let i = var("i");
        let term = Term {
            bound: vec!["i".into()],
            coeff: Index::constant(1),
            elements: vec![
                Element { tensor: "x".into(), index: vec![i.clone()] },
                Element { tensor: "w".into(), index: vec![i.sub(&var("r"))] },
            ],
            brackets: vec![],
        };
        let shapes = [Shape { name: "x".into(), dims: vec![3] }, Shape { name: "w".into(), dims: vec![2] }];
        let (x, w) = ([1.0, 2.0, 3.0], [10.0, 100.0]);
        let c = Compiled::new(&term, &["i".into(), "r".into()], &[], &Env::new(), &shapes).unwrap();
        let (mut sum, mut rows) = (0.0, Vec::new());
        c.for_each(&[7, 1], &[&x, &w], &mut |vals, v| {
            sum += v;
            rows.push(vals[0]);
        })
        .unwrap();
        assert_eq!(sum, 2.0 * 10.0 + 3.0 * 100.0);
        assert_eq!(rows, [7, 7], "the free i keeps its value in every visit");
    }

    fn shapes(dims: &[(&str, i64)]) -> Vec<Shape> {
        dims.iter().map(|&(name, len)| Shape { name: name.into(), dims: vec![len] }).collect()
    }

    fn elem(tensor: &str, index: Index) -> Element {
        Element { tensor: tensor.into(), index: vec![index] }
    }

    #[test]
    fn sums_agree_with_plain_loops() {
        let (n, k) = (23i64, 7i64);
        let x: Vec<f64> = (0..n).map(|v| (v * 37 % 19 - 9) as f64).collect();
        let w: Vec<f64> = (0..k).map(|v| (v * 5 % 7 - 3) as f64).collect();
        let u: Vec<f64> = (0..n).map(|v| (v % 5 - 2) as f64).collect();
        let shapes = shapes(&[("x", n), ("w", k), ("u", n)]);
        let data = [x.as_slice(), &w, &u];
        let term = |elements: Vec<Element>, coeff: Index| Term {
            bound: vec!["l".into()],
            coeff,
            elements,
            brackets: vec![le(&Index::zero(), &var("l"))],
        };
        let (i, l) = (var("i"), var("l"));
        // (term, the step of w along l, whether u is read, the coefficient or 0 for l)
        let cases = [
            // x_l w_<i-l>: one slice forwards, one backwards.
            (term(vec![elem("x", l.clone()), elem("w", i.sub(&l))], Index::constant(3)), -1, false, 3),
            // x_l w_<l-i>: both forwards.
            (term(vec![elem("x", l.clone()), elem("w", l.sub(&i))], Index::constant(1)), 1, false, 1),
            // x_l w_<l-i> u_l, times l: three elements and a coefficient along l.
            (term(vec![elem("x", l.clone()), elem("w", l.sub(&i)), elem("u", l.clone())], l.clone()), 1, true, 0),
        ];
        for (t, sign, with_u, c) in cases {
            let compiled = Compiled::new(&t, &["i".into()], &[], &Env::new(), &shapes).unwrap();
            let (sums, bound) = Compiled::sums(&[compiled], &[(-3, n + 3)], &data).unwrap();
            for (r, row) in (-3..=n + 3).enumerate() {
                let mut expected = 0.0;
                for lv in 0..n {
                    let m = if sign < 0 { row - lv } else { lv - row };
                    if (0..k).contains(&m) {
                        let coeff = if c == 0 { lv as f64 } else { c as f64 };
                        expected += coeff * x[lv as usize] * w[m as usize] * if with_u { u[lv as usize] } else { 1.0 };
                    }
                }
                assert_eq!(sums[r], expected, "row {row} of {t:?}");
            }
            assert!(bound >= sums.iter().fold(0.0f64, |m, v| m.max(v.abs())));
        }
    }

    #[test]
    fn sums_along_the_last_free_index_are_the_sums() {
        // s_<i,j> = Σ_<a,b> x_<i+a, j+b> w_<a,b> (a 2-D valid cross-correlation) and
        // Σ_<a,b> x_<i+a, j-b> w_<a,b> [b ≤ j] times j + 1 (a moving coefficient, a bracket).
        let (h, v, p, q) = (6i64, 7i64, 2i64, 3i64);
        let x: Vec<f64> = (0..h * v).map(|e| (e * 37 % 19 - 9) as f64).collect();
        let w: Vec<f64> = (0..p * q).map(|e| (e * 5 % 7 - 3) as f64).collect();
        let shapes = [Shape { name: "x".into(), dims: vec![h, v] }, Shape { name: "w".into(), dims: vec![p, q] }];
        let (i, j, a, b) = (var("i"), var("j"), var("a"), var("b"));
        let term = |col: Index, coeff: Index, brackets| Term {
            bound: vec!["a".into(), "b".into()],
            coeff,
            elements: vec![
                Element { tensor: "x".into(), index: vec![i.add(&a), col] },
                Element { tensor: "w".into(), index: vec![a.clone(), b.clone()] },
            ],
            brackets,
        };
        let terms = [
            term(j.add(&b), Index::constant(1), vec![]),
            term(j.sub(&b), j.add(&Index::constant(1)), vec![le(&b, &j)]),
        ];
        let (rows, cols) = ((-1, h - p + 1), (0, v - 1));
        let free = ["i".to_string(), "j".to_string()];
        for t in &terms {
            let plain = Compiled::new(t, &free, &[], &Env::new(), &shapes).unwrap();
            let (expected, bound) = Compiled::sums(&[plain], &[rows, cols], &[&x, &w]).unwrap();
            let along = Compiled::new(t, &free[..1], &[("j".into(), Some(cols))], &Env::new(), &shapes).unwrap();
            let (found, found_bound) = Compiled::sums_along(&[along], &[rows], cols, &[&x, &w]).unwrap();
            assert_eq!(found, expected, "{t:?}");
            assert!(found_bound <= bound && found_bound >= found.iter().fold(0.0f64, |m, s| m.max(s.abs())));
        }
    }

    #[test]
    fn brackets_that_pin_an_index_are_solved_for_it() {
        // ∂s_i/∂x_j = w_<(j-i) div D> [(j-i) mod D = 0] with j over 0..n-1, and
        // Σ_<i,m> x_i w_m [o = i + m] over i and m: each loop runs over the values kept.
        let (n, k, d) = (17i64, 4i64, 3i64);
        let x: Vec<f64> = (1..=n).map(|v| v as f64).collect();
        let w: Vec<f64> = (1..=k).map(|v| 100.0 * v as f64).collect();
        let shapes = shapes(&[("x", n), ("w", k)]);
        let sizes: Env = [("D".to_string(), d)].into_iter().collect();
        let (i, j) = (var("i"), var("j"));
        let gap = j.sub(&i);
        let dilated = Term {
            bound: vec![],
            coeff: Index::constant(1),
            elements: vec![elem("w", crate::algebra::index::div(&gap, &var("D")))],
            brackets: vec![Cond::Eq0(crate::algebra::index::modulo(&gap, &var("D")))],
        };
        let c = Compiled::new(&dilated, &["i".into()], &[("j".into(), Some((0, n - 1)))], &sizes, &shapes).unwrap();
        assert!(c.derived.len() == 1 && c.affine, "solved into an affine progression");
        for row in 0..n {
            let mut seen = Vec::new();
            c.for_each(&[row], &[&x, &w], &mut |vals, v| seen.push((vals[1], v))).unwrap();
            let expected: Vec<(i64, f64)> = (0..n)
                .filter(|jv| (jv - row).rem_euclid(d) == 0 && (0..k).contains(&((jv - row).div_euclid(d))))
                .map(|jv| (jv, w[((jv - row) / d) as usize]))
                .collect();
            assert_eq!(seen, expected, "row {row}");
        }
        let (o, m) = (var("o"), var("m"));
        let transposed = Term {
            bound: vec!["i".into(), "m".into()],
            coeff: Index::constant(1),
            elements: vec![elem("x", i.clone()), elem("w", m.clone())],
            brackets: vec![Cond::Eq0(o.sub(&i.add(&m)))],
        };
        let c = Compiled::new(&transposed, &["o".into()], &[], &Env::new(), &shapes).unwrap();
        assert_eq!(c.order.len(), 1, "one index solved away");
        let (sums, _) = Compiled::sums(&[c], &[(0, n + k - 2)], &[&x, &w]).unwrap();
        for (ov, s) in sums.iter().enumerate() {
            let expected: f64 = (0..n)
                .flat_map(|iv| (0..k).map(move |mv| (iv, mv)))
                .filter(|&(iv, mv)| iv + mv == ov as i64)
                .map(|(iv, mv)| x[iv as usize] * w[mv as usize])
                .sum();
            assert_eq!(*s, expected, "output {ov}");
        }
    }
}
