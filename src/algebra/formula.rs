//! Formulas: sums of products of tensor elements, index values and Iverson brackets,
//! and their exact evaluation as polynomials in the tensors' elements.

use super::cond::Cond;
use super::index::{compact, var, Env, EvalError, Index, IndexAtom, IndexExt};
use super::poly::{floor_div, gcd, Poly};
use std::collections::BTreeSet;
use std::fmt;

/// A tensor element `x_<e1, e2>` with symbolic indices.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Element {
    /// The tensor's name.
    pub tensor: String,
    /// One index expression per axis.
    pub index: Vec<Index>,
}

/// One term `Σ_<bound> coeff · elements · [brackets]`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Term {
    /// The summed indices, outermost first.
    pub bound: Vec<String>,
    /// An integer or index-valued factor.
    pub coeff: Index,
    /// The tensor elements multiplied.
    pub elements: Vec<Element>,
    /// The Iverson brackets multiplied.
    pub brackets: Vec<Cond>,
}

/// A sum of terms over a positive integer divisor: `(Σ terms) / divisor`.
///
/// Values with rational constants (`1/3 Σ_m x_<2i+m-1>`) keep integer terms and one
/// divisor, so that everything evaluated stays an integer polynomial: what a formula
/// evaluates to ([`Formula::eval`]) is its value times its divisor, and whoever compares
/// two formulas' values scales them to a common divisor first.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Formula {
    /// The terms added.
    pub terms: Vec<Term>,
    /// What their sum is divided by: 1 for a formula without fractions, never 0.
    pub divisor: i64,
}

impl Default for Formula {
    fn default() -> Formula {
        Formula::integer(Vec::new())
    }
}

/// A concrete tensor element `w[2]`, `w[1,0,2]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ElemRef {
    /// The tensor's name.
    pub tensor: String,
    /// The element's position, one integer per axis.
    pub index: Vec<i64>,
}

/// An exact value: a polynomial in concrete tensor elements (`2*w[0] + w[1]`).
pub type Value = Poly<ElemRef>;

impl Element {
    /// The element with the name `v` replaced by `by` in its indices.
    pub fn substitute(&self, v: &str, by: &Index) -> Element {
        Element { tensor: self.tensor.clone(), index: self.index.iter().map(|p| p.substitute(v, by)).collect() }
    }
}

impl Term {
    /// The term `c`.
    pub fn constant(c: Index) -> Term {
        Term { bound: Vec::new(), coeff: c, elements: Vec::new(), brackets: Vec::new() }
    }

    /// The product of two terms (their summed indices must be distinct).
    pub fn mul(&self, other: &Term) -> Term {
        Term {
            bound: self.bound.iter().chain(&other.bound).cloned().collect(),
            coeff: self.coeff.mul(&other.coeff),
            elements: self.elements.iter().chain(&other.elements).cloned().collect(),
            brackets: self.brackets.iter().chain(&other.brackets).cloned().collect(),
        }
    }

    /// Every name the term uses, summed ones included.
    pub fn names(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.bound.iter().cloned().collect();
        out.extend(self.coeff.names());
        for e in &self.elements {
            out.extend(e.index.iter().flat_map(|p| p.names()));
        }
        out.extend(self.brackets.iter().flat_map(|c| c.names()));
        out
    }

    /// The names the term uses that it does not sum over.
    pub fn free_names(&self) -> BTreeSet<String> {
        let mut out = self.names();
        for b in &self.bound {
            out.remove(b);
        }
        out
    }

    /// Replaces the free name `v` by `by`, avoiding capture: summed indices shadow `v`,
    /// and a summed index that `by` mentions is first renamed to a fresh name.
    pub fn substitute(&self, v: &str, by: &Index) -> Term {
        if self.bound.iter().any(|b| b == v) || !self.mentions(v) {
            return self.clone();
        }
        if !self.bound.iter().any(|b| by.mentions(b)) {
            return self.replace(v, by);
        }
        let clashing: BTreeSet<String> = self.bound.iter().filter(|b| by.mentions(b)).cloned().collect();
        let apart = self.rename_apart(&clashing.iter().chain(&by.names()).cloned().collect());
        apart.replace(v, by)
    }

    /// Whether the product uses the name `v` (free or summed).
    fn mentions(&self, v: &str) -> bool {
        self.coeff.mentions(v)
            || self.elements.iter().any(|e| e.index.iter().any(|p| p.mentions(v)))
            || self.brackets.iter().any(|c| c.mentions(v))
    }

    /// Fixes the summed index `v` to `by`, an expression in the term's own scope (its
    /// free names and its other summed indices): drops `v` from the sum and substitutes.
    pub fn substitute_bound(&self, v: &str, by: &Index) -> Term {
        let rest = Term { bound: self.bound.iter().filter(|b| *b != v).cloned().collect(), ..self.clone() };
        rest.replace(v, by)
    }

    /// The term with every summed index that is in `avoid` renamed to a fresh name (see
    /// [`fresh_name`]), so that substituting names from `avoid` cannot capture.
    pub fn rename_apart(&self, avoid: &BTreeSet<String>) -> Term {
        let mut out = self.clone();
        for b in self.bound.iter().filter(|b| avoid.contains(*b)) {
            let mut taken = out.names();
            taken.extend(avoid.iter().cloned());
            let fresh = fresh_name(b, &taken);
            out = Term {
                bound: out.bound.iter().map(|x| if x == b { fresh.clone() } else { x.clone() }).collect(),
                ..out.replace(b, &var(&fresh))
            };
        }
        out
    }

    /// Replaces the name `v` by `by` everywhere in the product, bound or not.
    fn replace(&self, v: &str, by: &Index) -> Term {
        Term {
            bound: self.bound.clone(),
            coeff: self.coeff.substitute(v, by),
            elements: self.elements.iter().map(|e| e.substitute(v, by)).collect(),
            brackets: self.brackets.iter().map(|c| c.substitute(v, by)).collect(),
        }
    }

    /// The exact value at the given names, summing the bound indices over every value
    /// at which the tensors' shapes (`shape(t)`) leave an element in range.
    pub fn eval(&self, env: &Env, shape: &dyn Fn(&str) -> Option<Vec<i64>>) -> Result<Value, EvalError> {
        if self.bound.is_empty() {
            return self.eval_bound(env, shape);
        }
        let mut env = env.clone();
        let mut out = Value::zero();
        self.summation(shape).for_each(&mut env, None, &mut |env| {
            out.add_assign(&self.eval_bound(env, shape)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The summation of this term over its summed indices, with each index's limits from
    /// the elements of tensors known to `shape` and from its `≥` brackets worked out once.
    pub fn summation(&self, shape: &dyn Fn(&str) -> Option<Vec<i64>>) -> Summation<'_> {
        let limits = self
            .bound
            .iter()
            .map(|v| {
                let linear = |p: &Index| {
                    let (a, rest) = p.linear_in(v)?;
                    Some((a.as_constant().filter(|&a| a != 0)?, rest))
                };
                let mut found = Vec::new();
                for e in &self.elements {
                    let Some(dims) = shape(&e.tensor) else { continue };
                    for (p, &len) in e.index.iter().zip(&dims) {
                        if let Some((a, rest)) = linear(p) {
                            found.push(Limit { a, rest, len: Some(len) });
                        }
                    }
                }
                for c in &self.brackets {
                    if let Some((a, rest)) = if let Cond::Ge0(p) = c { linear(p) } else { None } {
                        found.push(Limit { a, rest, len: None });
                    }
                }
                found
            })
            .collect();
        Summation { term: self, limits }
    }

    fn eval_bound(&self, env: &Env, shape: &dyn Fn(&str) -> Option<Vec<i64>>) -> Result<Value, EvalError> {
        for c in &self.brackets {
            if !c.eval(env)? {
                return Ok(Value::zero());
            }
        }
        let mut monomial = Vec::new();
        for e in &self.elements {
            let dims = shape(&e.tensor).ok_or_else(|| EvalError::Unbound(e.tensor.clone()))?;
            let index = e.index.iter().map(|p| p.eval(env)).collect::<Result<Vec<_>, _>>()?;
            if index.iter().zip(&dims).any(|(&i, &d)| i < 0 || i >= d) {
                return Ok(Value::zero());
            }
            monomial.push(ElemRef { tensor: e.tensor.clone(), index });
        }
        Ok(Value::monomial(self.coeff.eval(env)?, monomial))
    }
}

/// A term's summation over its summed indices, ready to enumerate.
pub struct Summation<'t> {
    term: &'t Term,
    limits: Vec<Vec<Limit>>,
}

impl Summation<'_> {
    /// Calls `visit` with every assignment of the summed indices at which each of them
    /// keeps every element of a known tensor inside its shape; an index that no such
    /// element bounds runs over `fallback`, and is an error without one. `visit` returns
    /// `false` to stop early, and so does this.
    pub fn for_each(
        &self,
        env: &mut Env,
        fallback: Option<(i64, i64)>,
        visit: &mut dyn FnMut(&Env) -> Result<bool, EvalError>,
    ) -> Result<bool, EvalError> {
        let free: Vec<usize> = (0..self.term.bound.len()).collect();
        self.assign(&free, env, fallback, visit)
    }

    fn assign(
        &self,
        free: &[usize],
        env: &mut Env,
        fallback: Option<(i64, i64)>,
        visit: &mut dyn FnMut(&Env) -> Result<bool, EvalError>,
    ) -> Result<bool, EvalError> {
        let Some(&first) = free.first() else { return visit(env) };
        let bounded = free.iter().enumerate().find_map(|(i, &v)| range_of(&self.limits[v], env).map(|r| (i, r)));
        let (pos, (lo, hi)) = match (bounded, fallback) {
            (Some(found), _) => found,
            (None, Some(range)) => (0, range),
            (None, None) => return Err(EvalError::Unbounded(self.term.bound[first].clone())),
        };
        let v = &self.term.bound[free[pos]];
        let rest: Vec<usize> = free.iter().copied().filter(|&u| u != free[pos]).collect();
        // The summed index shadows a free name of the same name, whose value comes back.
        let shadowed = env.insert(v.clone(), lo);
        let mut going = Ok(true);
        for value in lo..=hi {
            if let Some(slot) = env.get_mut(v) {
                *slot = value;
            }
            going = self.assign(&rest, env, fallback, visit);
            if !matches!(going, Ok(true)) {
                break;
            }
        }
        match shadowed {
            Some(outer) => env.insert(v.clone(), outer),
            None => env.remove(v),
        };
        going
    }
}

/// An element axis whose index is `a·v + rest`, with `0 ≤ index < len` where it is not
/// 0; or a bracket `[a·v + rest ≥ 0]` (no `len`).
struct Limit {
    a: i64,
    rest: Index,
    len: Option<i64>,
}

/// The values of a summed index that keep every element axis and bracket in `limits`
/// whose rest is known inside its range; `None` until both ends are known.
fn range_of(limits: &[Limit], env: &Env) -> Option<(i64, i64)> {
    let (mut lo, mut hi): (Option<i64>, Option<i64>) = (None, None);
    let mut tighten = |(l, h): (Option<i64>, Option<i64>)| {
        lo = lo.max(l);
        hi = match (hi, h) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    };
    for &Limit { a, ref rest, len } in limits {
        let Ok(r) = rest.eval(env) else { continue };
        // 0 ≤ a·v + r, and a·v + r ≤ len - 1 where there is a length.
        let x = r.checked_neg()?;
        let at_least = if a > 0 { (Some(ceil_div(x, a)?), None) } else { (None, Some(floor_div(x, a)?)) };
        tighten(at_least);
        if let Some(len) = len {
            let y = len.checked_sub(1)?.checked_sub(r)?;
            tighten(if a > 0 { (None, Some(floor_div(y, a)?)) } else { (Some(ceil_div(y, a)?), None) });
        }
    }
    Some((lo?, hi?))
}

/// A name for a summed index renamed apart: `base` with primes (`j′`, `j″`, …), which no
/// spec can write, so it can clash with no size, output index or fact; the first not in
/// `taken`.
pub fn fresh_name(base: &str, taken: &BTreeSet<String>) -> String {
    let mut name = base.to_string();
    loop {
        name = match name.strip_suffix('′') {
            Some(stem) => format!("{stem}″"),
            None => match name.strip_suffix('″') {
                Some(stem) => format!("{stem}‴"),
                None => format!("{name}′"),
            },
        };
        if !taken.contains(&name) {
            return name;
        }
    }
}

fn ceil_div(a: i64, b: i64) -> Option<i64> {
    floor_div(a.checked_neg()?, b)?.checked_neg()
}

impl Formula {
    /// The sum of `terms`, without a divisor.
    pub fn integer(terms: Vec<Term>) -> Formula {
        Formula { terms, divisor: 1 }
    }

    /// The formula over `divisor`, in lowest terms: a common factor of every integer
    /// coefficient and the divisor is cancelled (`2 x_i / 4` is `x_i / 2`).
    pub fn over(terms: Vec<Term>, divisor: i64) -> Formula {
        let g = terms.iter().fold(divisor, |g, t| gcd(g, t.coeff.content())).max(1);
        let terms = terms
            .into_iter()
            .map(|t| Term { coeff: t.coeff.exact_div(g).expect("the content divides every coefficient"), ..t })
            .collect();
        Formula { terms, divisor: divisor / g }
    }

    /// The same value with its terms multiplied by `c` and its divisor by `c` (`c ≥ 1`):
    /// two formulas scaled to a common divisor compare term by term.
    pub fn with_divisor(&self, divisor: i64) -> Option<Formula> {
        let c = (divisor % self.divisor == 0).then(|| divisor / self.divisor)?;
        let terms = self.terms.iter().map(|t| Term { coeff: t.coeff.scale(c), ..t.clone() }).collect();
        Some(Formula { terms, divisor })
    }

    /// Whether some term reads `tensor` at an index that mentions one of its summed
    /// indices (`w_<o,c,m>` under `Σ_m`): the tensor is convolved, not read pointwise.
    pub fn reads_at_summed_index(&self, tensor: &str) -> bool {
        self.terms.iter().any(|t| {
            let summed = |p: &Index| t.bound.iter().any(|b| p.mentions(b));
            t.elements.iter().any(|e| e.tensor == tensor && e.index.iter().any(summed))
        })
    }

    /// Every name the formula uses.
    pub fn names(&self) -> BTreeSet<String> {
        self.terms.iter().flat_map(|t| t.names()).collect()
    }

    /// Replaces the free name `v` by `by`, avoiding capture (see [`Term::substitute`]).
    pub fn substitute(&self, v: &str, by: &Index) -> Formula {
        Formula { terms: self.terms.iter().map(|t| t.substitute(v, by)).collect(), divisor: self.divisor }
    }

    /// The formula with every summed index that is in `avoid` renamed to a fresh name.
    pub fn rename_apart(&self, avoid: &BTreeSet<String>) -> Formula {
        Formula { terms: self.terms.iter().map(|t| t.rename_apart(avoid)).collect(), divisor: self.divisor }
    }

    /// The exact value at the given names times the divisor (see [`Term::eval`]).
    pub fn eval(&self, env: &Env, shape: &dyn Fn(&str) -> Option<Vec<i64>>) -> Result<Value, EvalError> {
        let mut out = Value::zero();
        for t in &self.terms {
            out.add_assign(&t.eval(env, shape)?);
        }
        Ok(out)
    }
}

impl Formula {
    /// The formula ready to be evaluated at many names with the same shapes: each
    /// summation's limits worked out once (see [`Formula::eval`], which it agrees with).
    pub fn at_shapes<'f>(&'f self, shape: &'f dyn Fn(&str) -> Option<Vec<i64>>) -> AtShapes<'f> {
        let terms = self.terms.iter().map(|t| (t, (!t.bound.is_empty()).then(|| t.summation(shape)))).collect();
        AtShapes { terms, shape }
    }
}

/// A formula at fixed shapes (see [`Formula::at_shapes`]).
pub struct AtShapes<'f> {
    terms: Vec<(&'f Term, Option<Summation<'f>>)>,
    shape: &'f dyn Fn(&str) -> Option<Vec<i64>>,
}

impl AtShapes<'_> {
    /// The exact value at the given names, as [`Formula::eval`] finds it; `env` is as it
    /// was after.
    pub fn eval(&self, env: &mut Env) -> Result<Value, EvalError> {
        let mut out = Value::zero();
        for (t, summation) in &self.terms {
            match summation {
                None => out.add_assign(&t.eval_bound(env, self.shape)?),
                Some(summation) => {
                    let mut sum = Value::zero();
                    summation.for_each(env, None, &mut |env| {
                        sum.add_assign(&t.eval_bound(env, self.shape)?);
                        Ok(true)
                    })?;
                    out.add_assign(&sum);
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let simple = |p: &Index| {
            p.as_constant().is_some_and(|c| c >= 0)
                || (p.terms().count() == 1
                    && p.terms().all(|(m, c)| c == 1 && matches!(m.as_slice(), [IndexAtom::Var(_)])))
        };
        match self.index.as_slice() {
            [p] if simple(p) => write!(f, "{}_{}", self.tensor, p),
            idx => {
                let parts: Vec<String> = idx.iter().map(compact).collect();
                write!(f, "{}_<{}>", self.tensor, parts.join(", "))
            }
        }
    }
}

impl fmt::Display for ElemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let idx: Vec<String> = self.index.iter().map(|i| i.to_string()).collect();
        write!(f, "{}[{}]", self.tensor, idx.join(","))
    }
}

/// Writes an exact value as `2*w[0] + w[1]`.
pub fn show_value(v: &Value) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = v.write(&mut s, true, "*", "*", &mut |f, a, _| write!(f, "{a}"));
    s
}

/// Writes an exact value divided by `divisor` (≥ 1), each coefficient a fraction in
/// lowest terms: `1/3`, `1/6*x[2] - 2/3*x[3]`, `2*w[0] + w[1]` (see [`show_value`]).
pub fn show_value_over(v: &Value, divisor: i64) -> String {
    if divisor == 1 {
        return show_value(v);
    }
    let mut out = String::new();
    // Positive terms first, then negative ones, then the constant, as `show_value` writes.
    let nonconst = v.terms().filter(|(m, _)| !m.is_empty());
    let (pos, neg): (Vec<_>, Vec<_>) = nonconst.partition(|(_, c)| *c > 0);
    let constant = v.terms().filter(|(m, _)| m.is_empty());
    for (m, c) in pos.into_iter().chain(neg).chain(constant) {
        let g = gcd(c, divisor).max(1);
        let (c, d) = (c / g, divisor / g);
        let sign = match (out.is_empty(), c < 0) {
            (true, true) => "-",
            (true, false) => "",
            (false, true) => " - ",
            (false, false) => " + ",
        };
        let atoms: Vec<String> = m.iter().map(|a| a.to_string()).collect();
        let factor = match (d, c.unsigned_abs()) {
            (1, 1) if !atoms.is_empty() => String::new(),
            (1, c) => c.to_string(),
            (d, c) => format!("{c}/{d}"),
        };
        let text = [factor].into_iter().chain(atoms).filter(|p| !p.is_empty()).collect::<Vec<_>>().join("*");
        out += &format!("{sign}{text}");
    }
    if out.is_empty() {
        out.push('0');
    }
    out
}

/// The brackets of a product as text, as ranges where they can be read as one: first
/// around each element's index (`0 ≤ i-j ≤ k-1`, `i+m ≤ n-1`), then any pair
/// `[0 ≤ p][0 ≤ q]` whose sum `p + q` holds sizes only (`1 ≤ i ≤ n`).
pub fn show_brackets(brackets: &[Cond], elements: &[Element], sizes: &[String]) -> Vec<String> {
    let sized = |p: &Index| p.names().iter().all(|n| sizes.contains(n));
    let ge: Vec<Option<&Index>> = brackets.iter().map(|c| if let Cond::Ge0(p) = c { Some(p) } else { None }).collect();
    let mut used = vec![false; brackets.len()];
    let mut out = Vec::new();
    for e in elements.iter().flat_map(|e| &e.index) {
        if sized(e) {
            continue;
        }
        // e - lo ≥ 0 and hi - e ≥ 0, with lo and hi in sizes only.
        let lower = (0..brackets.len()).find(|&a| !used[a] && ge[a].is_some_and(|p| sized(&e.sub(p))));
        let upper =
            (0..brackets.len()).find(|&b| !used[b] && Some(b) != lower && ge[b].is_some_and(|q| sized(&q.add(e))));
        let shown = match (lower.and_then(|a| ge[a]), upper.and_then(|b| ge[b])) {
            (Some(p), Some(q)) => format!("{} ≤ {} ≤ {}", compact(&e.sub(p)), compact(e), compact(&q.add(e))),
            (Some(p), None) => format!("{} ≤ {}", compact(&e.sub(p)), compact(e)),
            (None, Some(q)) => format!("{} ≤ {}", compact(e), compact(&q.add(e))),
            (None, None) => continue,
        };
        for k in [lower, upper].into_iter().flatten() {
            used[k] = true;
        }
        out.push(shown);
    }
    for a in 0..brackets.len() {
        if used[a] {
            continue;
        }
        used[a] = true;
        let partner = ge[a].and_then(|p| {
            (a + 1..brackets.len()).find(|&b| !used[b] && !sized(p) && ge[b].is_some_and(|q| sized(&p.add(q))))
        });
        match (ge[a], partner) {
            (Some(p), Some(b)) => {
                used[b] = true;
                let q = ge[b].expect("partners are ≥ brackets");
                let top = p.add(q);
                // 0 ≤ p ≤ top, or 0 ≤ q ≤ top: written around the one with fewer minus signs.
                let minuses = |e: &Index| e.terms().filter(|(m, c)| !m.is_empty() && *c < 0).count();
                let e = if minuses(q) < minuses(p) { q } else { p };
                let c = Index::constant(e.constant_term());
                out.push(format!("{} ≤ {} ≤ {}", c.neg(), compact(&e.sub(&c)), compact(&top.sub(&c))));
            }
            (Some(p), None) => out.push(show_bound(p, &sized).unwrap_or_else(|| brackets[a].to_string())),
            _ => out.push(brackets[a].to_string()),
        }
    }
    out
}

/// `p ≥ 0` as a bound on its indices by its sizes, `k-1 ≤ i+m` or `i+m ≤ n-1`, where the
/// terms in names other than sizes all have one sign and some term holds sizes only.
fn show_bound(p: &Index, sized: &dyn Fn(&Index) -> bool) -> Option<String> {
    let indices = Index::from_terms(
        p.terms().filter(|(m, _)| !sized(&Index::monomial(1, m.to_vec()))).map(|(m, c)| (m.clone(), c)),
    );
    let sizes = p.sub(&indices);
    if indices.is_zero() || sizes.is_zero() {
        return None;
    }
    match indices.terms().map(|(_, c)| c.signum()).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>()[..] {
        [1] => Some(format!("{} ≤ {}", compact(&sizes.neg()), compact(&indices))),
        [-1] => Some(format!("{} ≤ {}", compact(&indices.neg()), compact(&sizes))),
        _ => None,
    }
}

impl Term {
    /// The term as text (`Σ_l x_l w_<i-l> [0 ≤ i-l ≤ k-1]`); `sizes` tell which names
    /// are sizes, so that brackets read as ranges.
    pub fn show(&self, sizes: &[String]) -> String {
        self.show_over(sizes, 1)
    }

    /// The term divided by `divisor`, as text: the fraction in lowest terms leads
    /// (`1/3 Σ_m x_<2i+m-1>`, `-2/3 x_i`, `(i+1)/2 x_i`).
    pub fn show_over(&self, sizes: &[String], divisor: i64) -> String {
        let g = gcd(self.coeff.content(), divisor).max(1);
        let (coeff, divisor) = (self.coeff.exact_div(g).unwrap_or_else(|| self.coeff.clone()), divisor / g);
        if divisor == 1 {
            return Term { coeff, ..self.clone() }.show_integer(sizes);
        }
        let bare = self.elements.is_empty() && self.brackets.is_empty() && self.bound.is_empty();
        let rest = Term { coeff: Index::constant(1), ..self.clone() }.show_integer(sizes);
        let fraction = match coeff.as_constant() {
            Some(c) => format!("{c}/{divisor}"),
            None => format!("({coeff})/{divisor}"),
        };
        if bare {
            fraction
        } else {
            format!("{fraction} {rest}")
        }
    }

    fn show_integer(&self, sizes: &[String]) -> String {
        let mut parts = Vec::new();
        match self.bound.as_slice() {
            [] => {}
            [v] => parts.push(format!("Σ_{v}")),
            vs => parts.push(format!("Σ_<{}>", vs.join(", "))),
        }
        let bare = self.elements.is_empty() && self.brackets.is_empty();
        let negative = !bare && self.coeff == Index::constant(-1);
        if (self.coeff != Index::constant(1) && !negative) || bare {
            if super::index::is_compound(&self.coeff) && !bare {
                parts.push(format!("({})", self.coeff));
            } else {
                parts.push(self.coeff.to_string());
            }
        }
        parts.extend(self.elements.iter().map(|e| e.to_string()));
        parts.extend(show_brackets(&self.brackets, &self.elements, sizes).into_iter().map(|b| format!("[{b}]")));
        let text = parts.join(" ");
        if negative {
            format!("-{text}")
        } else {
            text
        }
    }
}

impl Formula {
    /// The formula as text (see [`Term::show`]).
    pub fn show(&self, sizes: &[String]) -> String {
        if self.terms.is_empty() {
            return "0".into();
        }
        let mut out = String::new();
        for (i, t) in self.terms.iter().enumerate() {
            let text = t.show_over(sizes, self.divisor);
            match (i, text.strip_prefix('-')) {
                (0, _) => out += &text,
                (_, Some(rest)) => out += &format!(" - {rest}"),
                (_, None) => out += &format!(" + {text}"),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::cond::le;
    use crate::algebra::index::var;

    fn standard() -> Term {
        // Σ_l x_l w_<i+k-l-1>
        let w_index = var("i").add(&var("k")).sub(&var("l")).sub(&Index::constant(1));
        Term {
            bound: vec!["l".into()],
            coeff: Index::constant(1),
            elements: vec![
                Element { tensor: "x".into(), index: vec![var("l")] },
                Element { tensor: "w".into(), index: vec![w_index] },
            ],
            brackets: vec![],
        }
    }

    #[test]
    fn evaluates_a_convolution_exactly() {
        let shape = |t: &str| Some(vec![if t == "x" { 5 } else { 3 }]);
        let env: Env = [("i".to_string(), 1), ("k".to_string(), 3)].into_iter().collect();
        let v = standard().eval(&env, &shape).unwrap();
        // s_1 = x_1 w_2 + x_2 w_1 + x_3 w_0
        assert_eq!(show_value(&v), "w[0]*x[3] + w[1]*x[2] + w[2]*x[1]");
        assert_eq!(standard().show(&["k".into()]), "Σ_l x_l w_<i+k-l-1>");
    }

    fn w(p: Index) -> Element {
        Element { tensor: "w".into(), index: vec![p] }
    }

    #[test]
    fn substitution_renames_a_summed_index_it_would_capture() {
        // Σ_j w_j [j = l + 1] with l := j: the Σ's j is renamed apart, so the term still
        // reads w_<l+1> at l = j, not [j = j + 1] = 0.
        let (j, l) = (var("j"), var("l"));
        let t = Term {
            bound: vec!["j".into()],
            elements: vec![w(j.clone())],
            brackets: vec![crate::algebra::cond::eq(&j, &l.add(&Index::constant(1)))],
            ..Term::constant(Index::constant(1))
        };
        let renamed = t.substitute("l", &j);
        assert_eq!(renamed.show(&[]), "Σ_j′ w_j′ [j+1 = j′]");
        let shape = |_: &str| Some(vec![3]);
        let env: Env = [("j".to_string(), 0)].into_iter().collect();
        assert_eq!(show_value(&renamed.eval(&env, &shape).unwrap()), "w[1]");
        // Substituting the summed name itself changes nothing: the Σ shadows it.
        assert_eq!(t.substitute("j", &var("q")), t);
        // A Σ over a name `by` does not mention is kept.
        assert_eq!(t.substitute("l", &var("q")).bound, ["j"]);
    }

    #[test]
    fn a_summed_index_shadows_a_free_name_of_the_same_name() {
        // Σ_j w_j with a free j = 7 around it: j runs over w's range, and j = 7 is back after.
        let t = Term { bound: vec!["j".into()], elements: vec![w(var("j"))], ..Term::constant(Index::constant(1)) };
        let shape = |_: &str| Some(vec![3]);
        let mut env: Env = [("j".to_string(), 7)].into_iter().collect();
        assert_eq!(show_value(&t.eval(&env, &shape).unwrap()), "w[0] + w[1] + w[2]");
        let mut seen = Vec::new();
        t.summation(&shape)
            .for_each(&mut env, None, &mut |e| {
                seen.push(e["j"]);
                Ok(true)
            })
            .unwrap();
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!(env["j"], 7);
    }

    #[test]
    fn fixing_a_summed_index_stays_in_its_scope() {
        // Σ_<l,m> x_<l+m> w_m with l := u - m, an expression of the other summed index:
        // m is the same m, not renamed apart.
        let (l, m) = (var("l"), var("m"));
        let t = Term {
            bound: vec!["l".into(), "m".into()],
            elements: vec![Element { tensor: "x".into(), index: vec![l.add(&m)] }, w(m.clone())],
            ..Term::constant(Index::constant(1))
        };
        let fixed = t.substitute_bound("l", &var("u").sub(&m));
        assert_eq!(fixed.show(&[]), "Σ_m x_u w_m");
    }

    #[test]
    fn fresh_names_take_primes_no_spec_can_write() {
        let taken: BTreeSet<String> = ["j′".to_string(), "j″".to_string()].into_iter().collect();
        assert_eq!(fresh_name("j", &BTreeSet::new()), "j′");
        assert_eq!(fresh_name("j", &taken), "j‴");
    }

    #[test]
    fn unbounded_sums_are_reported() {
        let t = Term { bound: vec!["l".into()], ..Term::constant(Index::constant(1)) };
        assert_eq!(t.eval(&Env::new(), &|_| None), Err(EvalError::Unbounded("l".into())));
    }

    #[test]
    fn brackets_pair_into_ranges() {
        let e = var("i").sub(&var("j"));
        let w = Element { tensor: "w".into(), index: vec![e.clone()] };
        let k1 = var("k").sub(&Index::constant(1));
        let sizes = ["k".to_string(), "n".to_string()];
        let shown = show_brackets(&[le(&Index::zero(), &e), le(&e, &k1)], &[w], &sizes);
        assert_eq!(shown, vec!["0 ≤ i-j ≤ k-1"]);
        let shown = show_brackets(&[le(&Index::constant(1), &var("i")), le(&var("i"), &var("n"))], &[], &sizes);
        assert_eq!(shown, vec!["1 ≤ i ≤ n"]);
        // A bound on indices by sizes reads as one.
        let (i, m, k) = (var("i"), var("m"), var("k"));
        let shown = show_brackets(&[le(&k.sub(&Index::constant(1)), &i.add(&m))], &[], &sizes);
        assert_eq!(shown, vec!["k-1 ≤ i+m"]);
        let shown = show_brackets(&[le(&i.add(&m), &var("n").sub(&Index::constant(1)))], &[], &sizes);
        assert_eq!(shown, vec!["i+m ≤ n-1"]);
        // Written as a person would, not as [-2 ≤ -m ≤ 0].
        let m = var("m");
        let shown = show_brackets(&[le(&m, &Index::constant(2)), le(&Index::zero(), &m)], &[], &sizes);
        assert_eq!(shown, vec!["0 ≤ m ≤ 2"]);
        let x = Element { tensor: "x".into(), index: vec![var("i").add(&var("m"))] };
        let shown = show_brackets(&[le(&var("i").add(&var("m")), &var("n").sub(&Index::constant(1)))], &[x], &sizes);
        assert_eq!(shown, vec!["i+m ≤ n-1"]);
        // x_j's range is not w_<i-j>'s: [j ≤ i] is no upper bound of j.
        let (xj, wij) = (
            Element { tensor: "x".into(), index: vec![var("j")] },
            Element { tensor: "w".into(), index: vec![e.clone()] },
        );
        let shown = show_brackets(&[le(&Index::zero(), &e), le(&e, &k1)], &[xj, wij], &sizes);
        assert_eq!(shown, vec!["0 ≤ i-j ≤ k-1"]);
    }
}
