//! Conditions over index expressions, in a canonical form, and what facts imply them.

use super::index::{compact, div, Env, EvalError, Index, IndexAtom, IndexExt};
use super::poly::gcd;
use std::collections::BTreeSet;
use std::fmt;

/// A condition inside an Iverson bracket.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Cond {
    /// `p ≥ 0`
    Ge0(Index),
    /// `p = 0`
    Eq0(Index),
    /// `p ≠ 0`
    Ne0(Index),
    /// `c ∨ d ∨ …`
    Or(Vec<Cond>),
    /// `c ∧ d ∧ …` (only inside `Or` and `Not`; a bracket of a conjunction is a product)
    And(Vec<Cond>),
    /// `¬c`
    Not(Box<Cond>),
}

/// `a ≤ b`, canonical: `b - a ≥ 0` with the gcd of its index coefficients divided out.
pub fn le(a: &Index, b: &Index) -> Cond {
    let p = b.sub(a);
    let g = gcd(p.sub(&Index::constant(p.constant_term())).content(), 0);
    if g > 1 {
        // Σ g·a·m + c ≥ 0  ⟺  Σ a·m + ⌊c / g⌋ ≥ 0 over the integers.
        let c = p.constant_term();
        let rest = p.sub(&Index::constant(c)).exact_div(g).unwrap_or_default();
        return Cond::Ge0(rest.add(&Index::constant(c.div_euclid(g))));
    }
    Cond::Ge0(p)
}

/// `a < b`.
pub fn lt(a: &Index, b: &Index) -> Cond {
    le(&a.add(&Index::constant(1)), b)
}

/// `a = b`, canonical: `p = 0` with `p`'s content divided out and its first term positive.
pub fn eq(a: &Index, b: &Index) -> Cond {
    Cond::Eq0(normalize_sign(a.sub(b)))
}

/// `a ≠ b`.
pub fn ne(a: &Index, b: &Index) -> Cond {
    Cond::Ne0(normalize_sign(a.sub(b)))
}

fn normalize_sign(p: Index) -> Index {
    let g = p.content();
    let p = if g > 1 && p.constant_term() % g == 0 { p.exact_div(g).unwrap_or(p) } else { p };
    let leading = p.terms().find(|(m, _)| !m.is_empty()).map(|(_, c)| c);
    if leading.is_some_and(|c| c < 0) {
        p.neg()
    } else {
        p
    }
}

/// A variable's known bounds, `lo ≤ v ≤ hi`, for deciding implications.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// The variable.
    pub var: String,
    /// Its lower bound, when known.
    pub lo: Option<Index>,
    /// Its upper bound, when known.
    pub hi: Option<Index>,
}

impl Cond {
    /// Whether the condition holds at the given values.
    pub fn eval(&self, env: &Env) -> Result<bool, EvalError> {
        self.eval_by(&|n| env.get(n).copied())
    }

    /// Whether the condition holds, with each name's value looked up by `value`.
    pub fn eval_by(&self, value: &dyn Fn(&str) -> Option<i64>) -> Result<bool, EvalError> {
        Ok(match self {
            Cond::Ge0(p) => p.eval_by(value)? >= 0,
            Cond::Eq0(p) => p.eval_by(value)? == 0,
            Cond::Ne0(p) => p.eval_by(value)? != 0,
            Cond::Or(cs) => {
                for c in cs {
                    if c.eval_by(value)? {
                        return Ok(true);
                    }
                }
                false
            }
            Cond::And(cs) => {
                for c in cs {
                    if !c.eval_by(value)? {
                        return Ok(false);
                    }
                }
                true
            }
            Cond::Not(c) => !c.eval_by(value)?,
        })
    }

    /// The truth value, when it does not depend on any name.
    pub fn decided(&self) -> Option<bool> {
        self.eval(&Env::new()).ok()
    }

    /// Replaces the name `v` by `by`.
    pub fn substitute(&self, v: &str, by: &Index) -> Cond {
        match self {
            Cond::Ge0(p) => le(&Index::zero(), &p.substitute(v, by)),
            Cond::Eq0(p) => eq(&p.substitute(v, by), &Index::zero()),
            Cond::Ne0(p) => ne(&p.substitute(v, by), &Index::zero()),
            Cond::Or(cs) => Cond::Or(cs.iter().map(|c| c.substitute(v, by)).collect()),
            Cond::And(cs) => Cond::And(cs.iter().map(|c| c.substitute(v, by)).collect()),
            Cond::Not(c) => Cond::Not(Box::new(c.substitute(v, by))),
        }
    }

    /// The index expressions compared.
    pub fn indices(&self) -> Vec<&Index> {
        match self {
            Cond::Ge0(p) | Cond::Eq0(p) | Cond::Ne0(p) => vec![p],
            Cond::Or(cs) | Cond::And(cs) => cs.iter().flat_map(Cond::indices).collect(),
            Cond::Not(c) => c.indices(),
        }
    }

    /// Every name used.
    pub fn names(&self) -> BTreeSet<String> {
        match self {
            Cond::Ge0(p) | Cond::Eq0(p) | Cond::Ne0(p) => p.names(),
            Cond::Or(cs) | Cond::And(cs) => cs.iter().flat_map(|c| c.names()).collect(),
            Cond::Not(c) => c.names(),
        }
    }

    /// Whether the name `v` is used.
    pub fn mentions(&self, v: &str) -> bool {
        match self {
            Cond::Ge0(p) | Cond::Eq0(p) | Cond::Ne0(p) => p.mentions(v),
            Cond::Or(cs) | Cond::And(cs) => cs.iter().any(|c| c.mentions(v)),
            Cond::Not(c) => c.mentions(v),
        }
    }

    /// Whether the bounds imply the condition. Bounds are used in order, each replacing
    /// its variable by the end that minimises the expression (sizes come last, as
    /// `1 ≤ n`); the condition is implied when what is left is a constant ≥ 0.
    ///
    /// Sound but incomplete: `false` means "not shown", never "false".
    pub fn implied_by(&self, bounds: &[Bound]) -> bool {
        self.implied_given(bounds, &[])
    }

    /// Whether the bounds imply that the condition fails (sound, incomplete).
    pub fn refuted_by(&self, bounds: &[Bound]) -> bool {
        self.negation().implied_by(bounds)
    }

    /// Whether the bounds and the conditions `given` (the other brackets of a product)
    /// imply the condition. A given `q ≥ 0` is used as `p - q ≥ 0` (also in the form
    /// `a ≥ -k·d` of `a div d + k ≥ 0`, `d` a positive constant or sizes), and a given
    /// `v ± e = 0` by putting `∓e` for `v`. Sound, incomplete.
    pub fn implied_given(&self, bounds: &[Bound], given: &[Cond]) -> bool {
        match self {
            Cond::Ge0(p) => {
                let at_least_zero =
                    |p: &Index| lower_bound(p, bounds).and_then(|lb| lb.as_constant()).is_some_and(|c| c >= 0);
                let mut candidates = vec![p.clone()];
                for g in given {
                    if let Cond::Eq0(q) = g {
                        candidates.extend(solved(q).into_iter().map(|(v, by)| p.substitute(&v, &by)));
                    }
                }
                let lower: Vec<Index> = given.iter().flat_map(lower_forms).collect();
                candidates.iter().any(|p| at_least_zero(p) || lower.iter().any(|q| at_least_zero(&p.sub(q))))
            }
            Cond::Eq0(p) => [p.clone(), p.neg()].iter().all(|q| le(&Index::zero(), q).implied_given(bounds, given)),
            Cond::Ne0(p) => {
                [p.clone(), p.neg()].iter().any(|q| le(&Index::constant(1), q).implied_given(bounds, given))
            }
            Cond::And(cs) => cs.iter().all(|c| c.implied_given(bounds, given)),
            Cond::Or(cs) => cs.iter().any(|c| c.implied_given(bounds, given)),
            Cond::Not(c) => c.negation().implied_given(bounds, given),
        }
    }

    /// Whether the bounds and the conditions `given` imply that the condition fails.
    pub fn refuted_given(&self, bounds: &[Bound], given: &[Cond]) -> bool {
        self.negation().implied_given(bounds, given)
    }

    /// `¬c`, pushed inward.
    pub fn negation(&self) -> Cond {
        match self {
            Cond::Ge0(p) => le(p, &Index::constant(-1)),
            Cond::Eq0(p) => ne(p, &Index::zero()),
            Cond::Ne0(p) => eq(p, &Index::zero()),
            Cond::Or(cs) => Cond::And(cs.iter().map(Cond::negation).collect()),
            Cond::And(cs) => Cond::Or(cs.iter().map(Cond::negation).collect()),
            Cond::Not(c) => (**c).clone(),
        }
    }
}

/// The lower bounds `q ≥ 0` that a given condition states: `q` itself for `q ≥ 0`, and
/// for `±(a div d) + k ≥ 0` with a positive divisor also the bound on `a` it means.
fn lower_forms(c: &Cond) -> Vec<Index> {
    let Cond::Ge0(q) = c else { return Vec::new() };
    let mut out = vec![q.clone()];
    let k = Index::constant(q.constant_term());
    let rest = q.sub(&k);
    if let [(m, sign @ (1 | -1))] = rest.terms().collect::<Vec<_>>()[..] {
        if let [IndexAtom::Div(a, d)] = m.as_slice() {
            let positive =
                !d.is_zero() && d.terms().all(|(dm, dc)| dc > 0 && dm.iter().all(|x| matches!(x, IndexAtom::Var(_))));
            if positive {
                out.push(match sign {
                    // a div d ≥ -k  ⟺  a ≥ -k·d
                    1 => (**a).add(&k.mul(d)),
                    // a div d ≤ k  ⟺  a ≤ (k + 1)·d - 1
                    _ => k.add(&Index::constant(1)).mul(d).sub(&Index::constant(1)).sub(a),
                });
            }
        }
    }
    out
}

/// For `p = 0` with a name of coefficient ±1, that name and what it equals.
fn solved(p: &Index) -> Vec<(String, Index)> {
    p.names()
        .into_iter()
        .filter_map(|v| {
            let (c, r) = p.linear_in(&v)?;
            let c = c.as_constant().filter(|c| c.abs() == 1)?;
            Some((v, r.scale(-c)))
        })
        .collect()
}

/// A lower bound of `p` over the bounded variables, which are taken in order: each one is
/// replaced, wherever it occurs, by the end of its range that minimises `p` there. It may
/// occur linearly, times names known to be ≥ 0 (`S·i` with `S ≥ 1`), or inside `e div d`
/// and `e mod d` with a constant `d > 0` (floor division is monotone; a remainder lies in
/// `[0, d - 1]`). Where that fails, each `d·(e div d)` it occurs in (`d` a constant, or
/// names known to be ≥ 1) is first replaced by the end of `[e - d + 1, e]` that bounds
/// `p` from below.
fn lower_bound(p: &Index, bounds: &[Bound]) -> Option<Index> {
    let mut p = p.clone();
    for b in bounds {
        if !p.mentions(&b.var) {
            continue;
        }
        p = replace_by_bound(&p, b, true, bounds)
            .or_else(|| replace_by_bound(&relax_divisions(&p, &b.var, bounds)?, b, true, bounds))?;
    }
    // Remainders left over lie in [0, d - 1].
    let mut out = Index::zero();
    for (m, c) in p.terms() {
        out.add_assign(&match m.as_slice() {
            [IndexAtom::Mod(_, d)] if d.as_constant().is_some_and(|d| d > 0) => {
                Index::constant(if c > 0 { 0 } else { c.saturating_mul(d.as_constant()? - 1) })
            }
            _ => Index::monomial(c, m.clone()),
        });
    }
    Some(out)
}

/// Whether the bounds say the name is at least `least`.
fn at_least(name: &str, least: i64, bounds: &[Bound]) -> bool {
    bounds.iter().any(|b| b.var == name && b.lo.as_ref().and_then(Index::as_constant).is_some_and(|lo| lo >= least))
}

/// `p` with the variable `b.var` replaced by the end of its range that makes `p` smallest
/// (`lower`) or largest, or `None` where that end is unknown or `b.var` occurs otherwise.
/// `all` are every bound, which say which other names of a product are ≥ 0.
fn replace_by_bound(p: &Index, b: &Bound, lower: bool, all: &[Bound]) -> Option<Index> {
    let end = |toward_lower: bool| if toward_lower { b.lo.as_ref() } else { b.hi.as_ref() };
    let mut out = Index::zero();
    for (m, c) in p.terms() {
        let term = Index::monomial(c, m.clone());
        if !term.mentions(&b.var) {
            out.add_assign(&term);
            continue;
        }
        let is_var = |a: &IndexAtom| matches!(a, IndexAtom::Var(v) if **v == *b.var);
        let rest: Vec<IndexAtom> = m.iter().filter(|a| !is_var(a)).cloned().collect();
        let nonnegative = |a: &IndexAtom| matches!(a, IndexAtom::Var(v) if at_least(v, 0, all));
        let replaced = match m.as_slice() {
            // c·v·r with r a product of names ≥ 0: the sign of c says which end.
            _ if m.len() == rest.len() + 1 && rest.iter().all(nonnegative) => {
                end(lower == (c > 0))?.mul(&Index::monomial(c, rest))
            }
            [IndexAtom::Div(inner, d)] if d.as_constant().is_some_and(|d| d > 0) && !d.mentions(&b.var) => {
                let bounded = replace_by_bound(inner, b, lower == (c > 0), all)?;
                div(&bounded, d).scale(c)
            }
            [IndexAtom::Mod(_, d)] if d.as_constant().is_some_and(|d| d > 0) => term,
            _ => return None,
        };
        out.add_assign(&replaced);
    }
    Some(out)
}

/// `p` with each term `c·d·(e div d)` that mentions `v` replaced by the end of
/// `c·[e - d + 1, e]` that makes `p` smallest: `d·(e div d)` lies
/// in `[e - d + 1, e]` for `d ≥ 1`. `d` is a positive constant dividing `c`, or the
/// product of the term's other names, each ≥ 1 by the bounds. `None` where no term is
/// replaced.
fn relax_divisions(p: &Index, v: &str, bounds: &[Bound]) -> Option<Index> {
    let mut out = Index::zero();
    let mut relaxed = false;
    for (m, c) in p.terms() {
        let term = Index::monomial(c, m.clone());
        let Some((e, d, per)) = division_term(m, c, bounds).filter(|_| term.mentions(v)) else {
            out.add_assign(&term);
            continue;
        };
        // per·d·(e div d) with per·d = c, or per·(d·(e div d)) for a symbolic d.
        let low_end = e.sub(&d).add(&Index::constant(1));
        let at = if per > 0 { low_end } else { e };
        out.add_assign(&at.scale(per));
        relaxed = true;
    }
    relaxed.then_some(out)
}

/// For a term `c·m` that is `per·(d·(e div d))` with `d ≥ 1` (see [`relax_divisions`]):
/// `e`, `d` and `per`.
fn division_term(m: &[IndexAtom], c: i64, bounds: &[Bound]) -> Option<(Index, Index, i64)> {
    let [IndexAtom::Div(e, d)] = m.iter().filter(|a| matches!(a, IndexAtom::Div(..))).collect::<Vec<_>>()[..] else {
        return None;
    };
    let others: Vec<IndexAtom> = m.iter().filter(|a| !matches!(a, IndexAtom::Div(..))).cloned().collect();
    if let Some(k) = d.as_constant() {
        let divides = k > 0 && c % k == 0 && others.is_empty();
        return divides.then(|| ((**e).clone(), (**d).clone(), c / k));
    }
    let names_at_least_one = others.iter().all(|a| matches!(a, IndexAtom::Var(v) if at_least(v, 1, bounds)));
    let exact = names_at_least_one && Index::monomial(1, others) == **d;
    exact.then(|| ((**e).clone(), (**d).clone(), c))
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cond::Ge0(p) => write_relation(f, p, "≤", true),
            Cond::Eq0(p) => write_relation(f, p, "=", false),
            Cond::Ne0(p) => write_relation(f, p, "≠", false),
            Cond::Or(cs) => write_joined(f, cs, " ∨ "),
            Cond::And(cs) => write_joined(f, cs, " ∧ "),
            Cond::Not(c) => write!(f, "¬({c})"),
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, cs: &[Cond], sep: &str) -> fmt::Result {
    for (i, c) in cs.iter().enumerate() {
        if i > 0 {
            write!(f, "{sep}")?;
        }
        match c {
            Cond::Or(_) | Cond::And(_) => write!(f, "({c})")?,
            _ => write!(f, "{c}")?,
        }
    }
    Ok(())
}

/// Writes `p ≥ 0` as `b ≤ a` when `p = a - b` is a difference of two plain terms, else
/// `0 ≤ p`; `p = 0` as `a = b` when `p` has positive and negative parts, else `p = 0`.
fn write_relation(f: &mut fmt::Formatter<'_>, p: &Index, op: &str, ge: bool) -> fmt::Result {
    let pos = Index::from_terms(p.terms().filter(|(_, c)| *c > 0).map(|(m, c)| (m.clone(), c)));
    let neg = Index::from_terms(p.terms().filter(|(_, c)| *c < 0).map(|(m, c)| (m.clone(), -c)));
    let plain = |q: &Index| q.terms().count() == 1 && q.terms().all(|(m, c)| c == 1 && m.len() == 1);
    if ge && plain(&pos) && plain(&neg) {
        return write!(f, "{} {op} {}", compact(&neg), compact(&pos));
    }
    // 0 ≤ i+q-3 as 3 ≤ i+q, and 0 ≤ 3-i-q as i+q ≤ 3.
    let c = p.constant_term();
    let (pos_rest, neg_rest) = (pos.sub(&Index::constant(c.max(0))), neg.sub(&Index::constant((-c).max(0))));
    if ge && c < 0 && neg_rest.is_zero() {
        return write!(f, "{} {op} {}", -c, compact(&pos_rest));
    }
    if ge && c > 0 && pos_rest.is_zero() {
        return write!(f, "{} {op} {c}", compact(&neg_rest));
    }
    if ge {
        return write!(f, "0 {op} {}", compact(p));
    }
    if pos.is_zero() || neg.is_zero() || pos.as_constant().is_some() {
        return write!(f, "{} {op} 0", compact(p));
    }
    write!(f, "{} {op} {}", compact(&pos), compact(&neg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::index::var;

    fn c(n: i64) -> Index {
        Index::constant(n)
    }

    #[test]
    fn spellings_meet_in_one_canonical_form() {
        let (i, j, k) = (var("i"), var("j"), var("k"));
        // i - j ≤ k - 1  ⟺  i < j + k
        assert_eq!(le(&i.sub(&j), &k.sub(&c(1))), lt(&i, &j.add(&k)));
        assert_eq!(eq(&i, &j), eq(&j, &i));
        assert_eq!(eq(&i.scale(2), &j.scale(2)), eq(&i, &j));
        // 2i ≥ 1  ⟺  i ≥ 1 over the integers
        assert_eq!(le(&c(1), &i.scale(2)), le(&c(1), &i));
    }

    #[test]
    fn display_reads_naturally() {
        let (i, j, k) = (var("i"), var("j"), var("k"));
        assert_eq!(le(&j, &i).to_string(), "j ≤ i");
        assert_eq!(le(&c(0), &i.add(&k).sub(&j).sub(&c(1))).to_string(), "0 ≤ i+k-j-1");
        assert_eq!(le(&c(3), &i.add(&j)).to_string(), "3 ≤ i+j");
        assert_eq!(le(&i.add(&j), &c(3)).to_string(), "i+j ≤ 3");
        assert_eq!(eq(&var("l"), &j).to_string(), "j = l");
        assert_eq!(eq(&crate::algebra::index::modulo(&j.sub(&i), &c(2)), &c(0)).to_string(), "(j-i) mod 2 = 0");
    }

    #[test]
    fn implication_from_bounds() {
        let (i, m, n, k) = (var("i"), var("m"), var("n"), var("k"));
        // 0 ≤ i ≤ n - k and 0 ≤ m ≤ k - 1 imply 0 ≤ i + k - m - 1 ≤ n - 1.
        let bounds = [
            Bound { var: "i".into(), lo: Some(c(0)), hi: Some(n.sub(&k)) },
            Bound { var: "m".into(), lo: Some(c(0)), hi: Some(k.sub(&c(1))) },
            Bound { var: "n".into(), lo: Some(c(1)), hi: None },
            Bound { var: "k".into(), lo: Some(c(1)), hi: None },
        ];
        let e = i.add(&k).sub(&m).sub(&c(1));
        assert!(le(&c(0), &e).implied_by(&bounds));
        assert!(le(&e, &n.sub(&c(1))).implied_by(&bounds));
        assert!(!le(&c(1), &e).implied_by(&bounds));
        assert!(!le(&i, &m).implied_by(&bounds));
        assert!(le(&c(0), &n.add(&k).sub(&c(1))).implied_by(&bounds));
        // A summed index is no size: nothing is known about it.
        assert!(!le(&c(0), &var("l")).implied_by(&bounds));
    }

    #[test]
    fn implication_through_floor_division() {
        // o ∈ [0, 3] ⟹ 0 ≤ 2(o div 2) and 2(o div 2) + 1 ≤ 3: grouped channels stay in range.
        let o = var("o");
        let bounds = [Bound { var: "o".into(), lo: Some(c(0)), hi: Some(c(3)) }];
        let group = crate::algebra::index::div(&o, &c(2)).scale(2);
        assert!(le(&c(0), &group).implied_by(&bounds));
        assert!(le(&group.add(&c(1)), &c(3)).implied_by(&bounds));
        assert!(!le(&group.add(&c(2)), &c(3)).implied_by(&bounds));
        let rem = crate::algebra::index::modulo(&o, &c(2));
        assert!(le(&rem, &c(1)).implied_by(&[]));
        assert!(!le(&rem, &c(0)).implied_by(&[]));
    }

    /// `0 ≤ i ≤ (n - k) div S` (strided, valid), `0 ≤ q ≤ k - 1`, `n, k, S ≥ 1`.
    fn strided() -> Vec<Bound> {
        let (n, k, s) = (var("n"), var("k"), var("S"));
        vec![
            Bound { var: "i".into(), lo: Some(c(0)), hi: Some(crate::algebra::index::div(&n.sub(&k), &s)) },
            Bound { var: "q".into(), lo: Some(c(0)), hi: Some(k.sub(&c(1))) },
            Bound { var: "n".into(), lo: Some(c(1)), hi: None },
            Bound { var: "k".into(), lo: Some(c(1)), hi: None },
            Bound { var: "S".into(), lo: Some(c(1)), hi: None },
        ]
    }

    #[test]
    fn implication_through_products_and_divisions() {
        let (i, q, n, s) = (var("i"), var("q"), var("n"), var("S"));
        let e = s.mul(&i).add(&q);
        // 0 ≤ S·i + q ≤ n - 1 on the strided domain: S ≥ 1 and S·((n-k) div S) ≤ n - k.
        assert!(le(&c(0), &e).implied_by(&strided()));
        assert!(le(&e, &n.sub(&c(1))).implied_by(&strided()));
        // Not S·i + q ≤ n - 2 (n = k, i = 0, q = k - 1), nor 1 ≤ S·i + q (i = q = 0).
        assert!(!le(&e, &n.sub(&c(2))).implied_by(&strided()));
        assert!(!le(&c(1), &e).implied_by(&strided()));
        // The strided causal conv: 0 ≤ i ≤ (n + 1) div 2 - 1, 0 ≤ q ≤ 3 imply
        // 2i + 2q - 6 ≤ n - 1, but not 2i + 2q - 6 ≤ n - 2 (n = 9, i = 4, q = 3) nor 3 ≤ i + q.
        let causal = [
            Bound {
                var: "i".into(),
                lo: Some(c(0)),
                hi: Some(crate::algebra::index::div(&n.add(&c(1)), &c(2)).sub(&c(1))),
            },
            Bound { var: "q".into(), lo: Some(c(0)), hi: Some(c(3)) },
            Bound { var: "n".into(), lo: Some(c(1)), hi: None },
        ];
        let e = i.add(&q).scale(2).sub(&c(6));
        assert!(le(&e, &n.sub(&c(1))).implied_by(&causal));
        assert!(!le(&e, &n.sub(&c(2))).implied_by(&causal));
        assert!(!le(&c(3), &i.add(&q)).implied_by(&causal));
    }

    #[test]
    fn implications_through_products_and_divisions_hold_at_every_point() {
        // Every condition `a·S·i + b·i + d·q + e·n + f·k + g ≥ 0` (and a few with a div)
        // the strided facts are said to imply holds at every point of small sizes.
        let (i, q, n, k, s) = (var("i"), var("q"), var("n"), var("k"), var("S"));
        let div = |a: &Index, b: &Index| crate::algebra::index::div(a, b);
        let mut implied = Vec::new();
        for code in 0..3usize.pow(7) {
            let coeff = |slot: u32| (code / 3usize.pow(slot) % 3) as i64 - 1;
            let p = s
                .mul(&i)
                .scale(coeff(0))
                .add(&i.scale(coeff(1)))
                .add(&q.scale(coeff(2)))
                .add(&n.scale(coeff(3)))
                .add(&k.scale(coeff(4)))
                .add(&c(coeff(5) * 2))
                .add(&s.mul(&div(&n.sub(&k), &s)).scale(coeff(6)));
            let cond = le(&c(0), &p);
            if cond.implied_by(&strided()) {
                implied.push(cond);
            }
        }
        assert!(implied.len() > 20, "{}", implied.len());
        for (nv, kv, sv) in (1..9).flat_map(|n| (1..=n).flat_map(move |k| (1..4).map(move |s| (n, k, s)))) {
            for (iv, qv) in (0..=(nv - kv) / sv).flat_map(|i| (0..kv).map(move |q| (i, q))) {
                let env: Env = [("i", iv), ("q", qv), ("n", nv), ("k", kv), ("S", sv)]
                    .into_iter()
                    .map(|(name, v)| (name.to_string(), v))
                    .collect();
                for cond in &implied {
                    assert_eq!(cond.eval(&env), Ok(true), "{cond} at {env:?}");
                }
            }
        }
    }

    #[test]
    fn evaluation() {
        let env: Env = [("i".to_string(), 2), ("j".to_string(), 3)].into_iter().collect();
        assert_eq!(le(&var("i"), &var("j")).eval(&env), Ok(true));
        assert_eq!(Cond::Not(Box::new(eq(&var("i"), &var("j")))).eval(&env), Ok(true));
        assert_eq!(le(&c(3), &c(2)).decided(), Some(false));
    }
}
