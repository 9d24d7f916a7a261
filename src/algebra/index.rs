//! Index expressions: polynomials over index and size names, with floor `div` and `mod`.

use super::poly::{floor_div, floor_mod, Poly};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// An atom of an index expression.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum IndexAtom {
    /// An index or size name (shared: index expressions are cloned often).
    Var(std::sync::Arc<str>),
    /// `a div b`, rounding toward minus infinity.
    Div(Box<Index>, Box<Index>),
    /// `a mod b`, the remainder of `div`.
    Mod(Box<Index>, Box<Index>),
}

/// An index expression in canonical form (`i + k - l - 1`, `(j - i) div 2`).
pub type Index = Poly<IndexAtom>;

/// Values for names, used to evaluate index expressions.
pub type Env = BTreeMap<String, i64>;

/// Why an index expression has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// A name without a value.
    #[error("`{0}` has no value")]
    Unbound(String),
    /// `div` or `mod` by zero.
    #[error("division by zero in `{0}`")]
    DivByZero(String),
    /// A summed index that no tensor's shape bounds.
    #[error("the summed index `{0}` is not bounded by any tensor's shape")]
    Unbounded(String),
    /// A result beyond 64-bit integers.
    #[error("arithmetic overflow in `{0}`")]
    Overflow(String),
}

/// The index expression made of one name.
pub fn var(name: &str) -> Index {
    Poly::atom(IndexAtom::Var(name.into()))
}

/// `a div b` in canonical form: the multiples of `b` are taken out of `a`
/// (`(2i + j + 5) div 2 = i + 2 + (j + 1) div 2`, `(D·k + j) div D = k + j div D`).
pub fn div(a: &Index, b: &Index) -> Index {
    if let (Some(x), Some(y)) = (a.as_constant(), b.as_constant()) {
        if let Some(q) = floor_div(x, y) {
            return Index::constant(q);
        }
    }
    if leading_negative(b) {
        return div(&a.neg(), &b.neg());
    }
    let Some((q, r)) = split(a, b) else {
        return Index::atom(IndexAtom::Div(Box::new(a.clone()), Box::new(b.clone())));
    };
    if r.is_zero() || (r.as_constant().is_some() && b.as_constant().is_some()) {
        // A constant remainder of a constant divisor lies in [0, b): its floor is 0.
        return q;
    }
    q.add(&Index::atom(IndexAtom::Div(Box::new(r), Box::new(b.clone()))))
}

/// `a mod b` in canonical form: the multiples of `b` are dropped from `a`.
pub fn modulo(a: &Index, b: &Index) -> Index {
    if leading_negative(b) || b.is_zero() {
        return Index::atom(IndexAtom::Mod(Box::new(a.clone()), Box::new(b.clone())));
    }
    match split(a, b) {
        Some((_, r)) if r.is_zero() || (r.as_constant().is_some() && b.as_constant().is_some()) => r,
        Some((_, r)) => Index::atom(IndexAtom::Mod(Box::new(r), Box::new(b.clone()))),
        None => Index::atom(IndexAtom::Mod(Box::new(a.clone()), Box::new(b.clone()))),
    }
}

/// Whether the first term of `p` has a negative coefficient.
fn leading_negative(p: &Index) -> bool {
    p.terms().next().is_some_and(|(_, c)| c < 0)
}

/// `a = q·b + r` with `q·b` the terms of `a` that `b` divides exactly, when `b` is a
/// positive constant (whose multiples are also taken out of the constant term, leaving
/// `0 ≤ r's constant < b`) or one monomial with a positive coefficient.
fn split(a: &Index, b: &Index) -> Option<(Index, Index)> {
    let (mut q, mut r) = (Index::zero(), Index::zero());
    match b.as_constant() {
        Some(d) if d > 0 => {
            for (m, c) in a.terms() {
                if m.is_empty() {
                    q = q.add(&Index::constant(c.div_euclid(d)));
                    r = r.add(&Index::constant(c.rem_euclid(d)));
                } else if c % d == 0 {
                    q = q.add(&Index::monomial(c / d, m.clone()));
                } else {
                    r = r.add(&Index::monomial(c, m.clone()));
                }
            }
        }
        Some(_) => return None,
        None if b.terms().count() == 1 && !leading_negative(b) => {
            for (m, c) in a.terms() {
                let term = Index::monomial(c, m.clone());
                match divide_by_monomial(&term, b) {
                    Some(t) => q = q.add(&t),
                    None => r = r.add(&term),
                }
            }
        }
        None => return None,
    }
    Some((q, r))
}

/// `a / b` when `b` is one monomial that divides every term of `a` exactly.
fn divide_by_monomial(a: &Index, b: &Index) -> Option<Index> {
    let mut terms = b.terms();
    let (bm, bc) = terms.next()?;
    if terms.next().is_some() || bm.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for (m, c) in a.terms() {
        if c % bc != 0 {
            return None;
        }
        let mut rest = m.clone();
        for atom in bm {
            let at = rest.iter().position(|x| x == atom)?;
            rest.remove(at);
        }
        out.push((rest, c / bc));
    }
    Some(Index::from_terms(out))
}

/// Operations on index expressions beyond ring arithmetic.
pub trait IndexExt {
    /// The value at the given names; every name must have one.
    fn eval(&self, env: &Env) -> Result<i64, EvalError>;
    /// The value with each name's value looked up by `value`; every name must have one.
    fn eval_by(&self, value: &dyn Fn(&str) -> Option<i64>) -> Result<i64, EvalError>;
    /// Replaces the name `v` by `by` everywhere, inside `div` and `mod` too.
    fn substitute(&self, v: &str, by: &Index) -> Index;
    /// Every name used, inside `div` and `mod` too.
    fn names(&self) -> BTreeSet<String>;
    /// Whether the name `v` is used.
    fn mentions(&self, v: &str) -> bool;
    /// `(c, r)` with `self = c·v + r` and `v` in neither, when `self` is linear in `v`.
    fn linear_in(&self, v: &str) -> Option<(Index, Index)>;
}

impl IndexExt for Index {
    fn eval(&self, env: &Env) -> Result<i64, EvalError> {
        self.eval_by(&|n| env.get(n).copied())
    }

    fn eval_by(&self, value: &dyn Fn(&str) -> Option<i64>) -> Result<i64, EvalError> {
        let overflow = || EvalError::Overflow(self.to_string());
        let mut total: i64 = 0;
        for (m, c) in self.terms() {
            let mut t = c;
            for a in m {
                let v = a.eval_by(value)?;
                t = t.checked_mul(v).ok_or_else(overflow)?;
            }
            total = total.checked_add(t).ok_or_else(overflow)?;
        }
        Ok(total)
    }

    fn substitute(&self, v: &str, by: &Index) -> Index {
        if !self.mentions(v) {
            return self.clone();
        }
        self.map_atoms(&mut |a| match a {
            IndexAtom::Var(n) if **n == *v => by.clone(),
            IndexAtom::Var(_) => Index::atom(a.clone()),
            IndexAtom::Div(x, y) => div(&x.substitute(v, by), &y.substitute(v, by)),
            IndexAtom::Mod(x, y) => modulo(&x.substitute(v, by), &y.substitute(v, by)),
        })
    }

    fn names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (m, _) in self.terms() {
            for a in m {
                match a {
                    IndexAtom::Var(n) => {
                        out.insert(n.to_string());
                    }
                    IndexAtom::Div(x, y) | IndexAtom::Mod(x, y) => {
                        out.extend(x.names());
                        out.extend(y.names());
                    }
                }
            }
        }
        out
    }

    fn mentions(&self, v: &str) -> bool {
        self.terms().any(|(m, _)| {
            m.iter().any(|a| match a {
                IndexAtom::Var(n) => **n == *v,
                IndexAtom::Div(x, y) | IndexAtom::Mod(x, y) => x.mentions(v) || y.mentions(v),
            })
        })
    }

    fn linear_in(&self, v: &str) -> Option<(Index, Index)> {
        let target = IndexAtom::Var(v.into());
        let (mut coeff, mut rest) = (Vec::new(), Vec::new());
        for (m, c) in self.terms() {
            let hits = m.iter().filter(|a| **a == target).count();
            let inside = m.iter().any(|a| !matches!(a, IndexAtom::Var(_)) && Index::atom(a.clone()).mentions(v));
            match (hits, inside) {
                (0, false) => rest.push((m.clone(), c)),
                (1, false) => coeff.push((m.iter().filter(|a| **a != target).cloned().collect(), c)),
                _ => return None,
            }
        }
        Some((Index::from_terms(coeff), Index::from_terms(rest)))
    }
}

impl IndexAtom {
    fn eval_by(&self, value: &dyn Fn(&str) -> Option<i64>) -> Result<i64, EvalError> {
        match self {
            IndexAtom::Var(n) => value(n).ok_or_else(|| EvalError::Unbound(n.to_string())),
            IndexAtom::Div(x, y) | IndexAtom::Mod(x, y) => {
                let (a, b) = (x.eval_by(value)?, y.eval_by(value)?);
                let shown = || Index::atom(self.clone()).to_string();
                if b == 0 {
                    return Err(EvalError::DivByZero(shown()));
                }
                let r = if matches!(self, IndexAtom::Div(..)) { floor_div(a, b) } else { floor_mod(a, b) };
                r.ok_or_else(|| EvalError::Overflow(shown()))
            }
        }
    }
}

/// An index expression without spaces around `+` and `-` (`i+k-j-1`), as in elements
/// and brackets.
pub fn compact(p: &Index) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_index(&mut s, p, false);
    s
}

/// Writes an index expression, with spaces around `+` and `-` when `spaced`.
fn write_index(f: &mut dyn fmt::Write, p: &Index, spaced: bool) -> fmt::Result {
    let mut f = f;
    p.write(&mut f, spaced, "", "·", &mut |f, a, alone| match a {
        IndexAtom::Var(n) => write!(f, "{n}"),
        _ if alone => write_atom(f, a, spaced),
        _ => {
            write!(f, "(")?;
            write_atom(f, a, spaced)?;
            write!(f, ")")
        }
    })
}

fn write_atom(f: &mut dyn fmt::Write, a: &IndexAtom, spaced: bool) -> fmt::Result {
    match a {
        IndexAtom::Var(n) => write!(f, "{n}"),
        IndexAtom::Div(x, y) | IndexAtom::Mod(x, y) => {
            let op = if matches!(a, IndexAtom::Div(..)) { "div" } else { "mod" };
            write_operand(f, x, spaced)?;
            write!(f, " {op} ")?;
            write_operand(f, y, spaced)
        }
    }
}

/// Whether an index expression needs parentheses as an operand of a product, `div` or `mod`.
pub fn is_compound(p: &Index) -> bool {
    let mut terms = p.terms();
    match (terms.next(), terms.next()) {
        (Some((m, c)), None) => c < 0 && !m.is_empty(),
        (None, _) => false,
        _ => true,
    }
}

fn write_operand(f: &mut dyn fmt::Write, p: &Index, spaced: bool) -> fmt::Result {
    let simple_atom = p.terms().count() == 1 && p.terms().all(|(m, c)| c == 1 && m.len() == 1);
    if is_compound(p) || (p.as_constant().is_none() && !simple_atom && p.terms().any(|(m, _)| m.len() > 1)) {
        write!(f, "(")?;
        write_index(f, p, spaced)?;
        write!(f, ")")
    } else {
        write_index(f, p, spaced)
    }
}

impl fmt::Display for IndexAtom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_atom(f, self, true)
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_index(f, self, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, i64)]) -> Env {
        pairs.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    #[test]
    fn division_by_constants_is_canonical() {
        let (i, j) = (var("i"), var("j"));
        let two = Index::constant(2);
        assert_eq!(div(&i.scale(2), &two), i);
        assert_eq!(div(&i.scale(2).add(&Index::constant(1)), &two), i);
        let a = div(&j.sub(&i).add(&Index::constant(4)), &two);
        let b = div(&j.sub(&i), &two).add(&Index::constant(2));
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "(j - i) div 2 + 2");
        assert_eq!(modulo(&j.sub(&i).add(&Index::constant(5)), &two).to_string(), "(j - i + 1) mod 2");
        assert_eq!(modulo(&i.scale(4), &two), Index::zero());
        assert_eq!(div(&i.scale(2).add(&j).add(&Index::constant(5)), &two).to_string(), "i + (j + 1) div 2 + 2");
    }

    #[test]
    fn multiples_of_a_size_leave_the_division() {
        let (d, k, i, j) = (var("D"), var("k"), var("i"), var("j"));
        // (D·k + j - D - i) div D = (j - i) div D + k - 1
        let a = d.mul(&k).add(&j).sub(&d).sub(&i);
        assert_eq!(div(&a, &d), div(&j.sub(&i), &d).add(&k).sub(&Index::constant(1)));
        assert_eq!(modulo(&a, &d), modulo(&j.sub(&i), &d));
        assert_eq!(modulo(&d.scale(3), &d), Index::zero());
    }

    #[test]
    fn evaluation_floors_and_checks() {
        let p = div(&var("j").sub(&var("i")), &var("S"));
        assert_eq!(p.eval(&env(&[("i", 3), ("j", 0), ("S", 2)])), Ok(-2));
        assert!(matches!(p.eval(&env(&[("i", 3), ("j", 0), ("S", 0)])), Err(EvalError::DivByZero(_))));
        assert_eq!(var("q").eval(&env(&[])), Err(EvalError::Unbound("q".into())));
        let big = var("n").scale(i64::MAX);
        assert!(matches!(big.eval(&env(&[("n", 2)])), Err(EvalError::Overflow(_))));
    }

    #[test]
    fn substitution_and_linearity() {
        let e = var("i").add(&var("k")).sub(&var("l")).sub(&Index::constant(1));
        let (c, r) = e.linear_in("l").unwrap();
        assert_eq!(c, Index::constant(-1));
        assert_eq!(r.to_string(), "i + k - 1");
        assert_eq!(e.substitute("l", &var("j")).to_string(), "i + k - j - 1");
        let d = div(&var("l"), &Index::constant(2));
        assert!(d.linear_in("l").is_none());
        assert!(d.mentions("l"));
        assert_eq!(var("S").mul(&var("i")).linear_in("i").unwrap().0, var("S"));
    }
}
