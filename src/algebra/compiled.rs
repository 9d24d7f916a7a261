//! Terms compiled at concrete sizes for fast numeric evaluation: every index expression
//! becomes an affine function of a few integer slots (with the general evaluator as a
//! fallback for `div` and `mod`), so that millions of entries cost nanoseconds each.

use super::index::IndexAtom;
use super::{Cond, Env, EvalError, Index, IndexExt, Term};

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
                [IndexAtom::Var(v)] => match slots.iter().position(|s| s == v) {
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
            Lin::General(p) => p.eval(&slots.iter().cloned().zip(vals.iter().copied()).collect()),
        }
    }

    fn slots(&self, slots: &[String]) -> Vec<usize> {
        match self {
            Lin::Affine(terms, _) => terms.iter().map(|&(i, _)| i).collect(),
            Lin::General(p) => p.names().iter().filter_map(|n| slots.iter().position(|s| s == n)).collect(),
        }
    }
}

/// A condition at concrete sizes.
enum Test {
    Ge0(Lin),
    Eq0(Lin),
    Other(Cond),
}

/// The shape of a tensor the term reads, for bounds and addressing.
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
    slots: Vec<String>,
    coeff: Lin,
    elements: Vec<(usize, Vec<Lin>)>,
    tests: Vec<Test>,
    order: Vec<Enumerated>,
    shapes: Vec<Vec<i64>>,
}

impl Compiled {
    /// Compiles `term` with `free` names set by the caller and `enumerated` names (the
    /// term's summed indices and any more, each with a range to use where no element of a
    /// known tensor bounds it) run over by [`Compiled::for_each`].
    pub fn new(
        term: &Term,
        free: &[String],
        enumerated: &[(String, Option<(i64, i64)>)],
        sizes: &Env,
        shapes: &[Shape],
    ) -> Result<Compiled, EvalError> {
        let slots: Vec<String> = free.iter().cloned().chain(enumerated.iter().map(|(n, _)| n.clone())).collect();
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
        // Order the enumerated indices so that each one's bounds depend on known slots.
        let mut known: Vec<usize> = (0..free.len()).collect();
        let mut order = Vec::new();
        let mut left: Vec<usize> = (0..enumerated.len()).collect();
        while !left.is_empty() {
            let limits_of = |k: usize, known: &[usize]| -> Vec<(i64, Lin, i64)> {
                let v = &enumerated[k].0;
                let mut found = Vec::new();
                for e in &term.elements {
                    let Some(s) = shapes.iter().find(|s| s.name == e.tensor) else { continue };
                    for (p, &len) in e.index.iter().zip(&s.dims) {
                        let Some((a, rest)) = p.linear_in(v) else { continue };
                        let Some(a) = a.as_constant().filter(|&a| a != 0) else { continue };
                        let rest = lin(&rest);
                        if rest.slots(&slots).iter().all(|i| known.contains(i)) {
                            found.push((a, rest, len));
                        }
                    }
                }
                found
            };
            let pick = left
                .iter()
                .position(|&k| !limits_of(k, &known).is_empty())
                .or_else(|| left.iter().position(|&k| enumerated[k].1.is_some()));
            let Some(at) = pick else { return Err(EvalError::Unbounded(enumerated[left[0]].0.clone())) };
            let k = left.remove(at);
            order.push(Enumerated { slot: free.len() + k, limits: limits_of(k, &known), fallback: enumerated[k].1 });
            known.push(free.len() + k);
        }
        let coeff = lin(&term.coeff);
        let is_affine = |p: &Lin| matches!(p, Lin::Affine(..));
        let affine = is_affine(&coeff)
            && elements.iter().all(|(_, index)| index.iter().all(is_affine))
            && tests.iter().all(|t| matches!(t, Test::Ge0(p) | Test::Eq0(p) if is_affine(p)));
        Ok(Compiled {
            affine,
            coeff,
            elements,
            tests,
            order,
            shapes: shapes.iter().map(|s| s.dims.clone()).collect(),
            slots,
        })
    }

    /// Calls `visit` with the slots and the term's value at every assignment of the
    /// enumerated indices where it is not zero; `free` sets the free slots and `data`
    /// holds each tensor's values, row-major, in the order of the shapes given.
    pub fn for_each(&self, free: &[i64], data: &[&[f64]], visit: &mut dyn FnMut(&[i64], f64)) -> Result<(), EvalError> {
        let mut vals = vec![0; self.slots.len()];
        vals[..free.len()].copy_from_slice(free);
        self.assign(0, &mut vals, data, visit)
    }

    fn assign(
        &self,
        level: usize,
        vals: &mut [i64],
        data: &[&[f64]],
        visit: &mut dyn FnMut(&[i64], f64),
    ) -> Result<(), EvalError> {
        let Some(e) = self.order.get(level) else {
            let v = self.value(vals, data)?;
            if v != 0.0 {
                visit(vals, v);
            }
            return Ok(());
        };
        if level + 1 == self.order.len() && self.affine {
            return self.last_affine(e.slot, vals, data, visit);
        }
        let (mut lo, mut hi) = e.fallback.unwrap_or((i64::MIN, i64::MAX));
        for (a, rest, len) in &e.limits {
            let r = rest.eval(vals, &self.slots)?;
            // 0 ≤ a·v + r ≤ len - 1
            let (x, y) = (-r, len - 1 - r);
            let (l, h) = if *a > 0 { (div_ceil(x, *a), x_floor(y, *a)) } else { (div_ceil(y, *a), x_floor(x, *a)) };
            lo = lo.max(l);
            hi = hi.min(h);
        }
        for v in lo..=hi {
            vals[e.slot] = v;
            self.assign(level + 1, vals, data, visit)?;
        }
        Ok(())
    }

    /// The innermost index when everything is affine: each expression is `base + step·v`
    /// along it, so the tests and the elements' ranges cut one interval, and the loop over
    /// it only multiplies.
    fn last_affine(
        &self,
        slot: usize,
        vals: &mut [i64],
        data: &[&[f64]],
        visit: &mut dyn FnMut(&[i64], f64),
    ) -> Result<(), EvalError> {
        let along = |p: &Lin| -> Result<(i64, i64), EvalError> {
            let Lin::Affine(terms, constant) = p else { unreachable!("checked affine") };
            let (mut base, mut step) = (*constant as i128, 0i128);
            for &(i, c) in terms {
                if i == slot {
                    step += c as i128;
                } else {
                    base += c as i128 * vals[i] as i128;
                }
            }
            let fit = |v: i128| i64::try_from(v).map_err(|_| EvalError::Overflow("an index".into()));
            Ok((fit(base)?, fit(step)?))
        };
        let (mut lo, mut hi) = self.order[self.order.len() - 1].fallback.unwrap_or((i64::MIN, i64::MAX));
        // base + step·v ≥ 0, or = 0, narrows [lo, hi].
        let at_least = |base: i64, step: i64, lo: &mut i64, hi: &mut i64| match step.signum() {
            0 if base < 0 => *hi = i64::MIN,
            0 => {}
            1 => *lo = (*lo).max(div_ceil(-base, step)),
            _ => *hi = (*hi).min(x_floor(base, -step)),
        };
        for t in &self.tests {
            match t {
                Test::Ge0(p) => {
                    let (b, st) = along(p)?;
                    at_least(b, st, &mut lo, &mut hi);
                }
                Test::Eq0(p) => {
                    let (b, st) = along(p)?;
                    at_least(b, st, &mut lo, &mut hi);
                    at_least(-b, -st, &mut lo, &mut hi);
                }
                Test::Other(_) => unreachable!("checked affine"),
            }
        }
        let mut flats = Vec::with_capacity(self.elements.len());
        for (t, index) in &self.elements {
            let (mut flat, mut dflat) = (0i64, 0i64);
            for (p, &d) in index.iter().zip(&self.shapes[*t]) {
                let (b, st) = along(p)?;
                at_least(b, st, &mut lo, &mut hi);
                at_least(d - 1 - b, -st, &mut lo, &mut hi);
                flat = flat.saturating_mul(d).saturating_add(b);
                dflat = dflat.saturating_mul(d).saturating_add(st);
            }
            flats.push((*t, flat, dflat));
        }
        let (cb, cs) = along(&self.coeff)?;
        for v in lo..=hi {
            let mut value = (cb + cs * v) as f64;
            for &(t, flat, dflat) in &flats {
                value *= data[t][(flat + dflat * v) as usize];
            }
            if value != 0.0 {
                vals[slot] = v;
                visit(vals, value);
            }
        }
        Ok(())
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
        let c = Compiled::new(&term, &["i".into()], &[("l".into(), None)], &Env::new(), &shapes).unwrap();
        let (x, w) = ([1.0, 2.0, 3.0], [10.0, 100.0]);
        let mut sum = 0.0;
        c.for_each(&[2], &[&x, &w], &mut |_, v| sum += v).unwrap();
        assert_eq!(sum, 2.0 * 100.0 + 3.0 * 10.0);
    }
}
