//! Polynomials with integer coefficients over ordered atoms, in a canonical form.

use std::fmt;

/// A monomial: a sorted multiset of atoms (empty for the constant monomial).
pub type Monomial<A> = Vec<A>;

/// A polynomial `Σ c·m` with nonzero integer coefficients over sorted monomials.
///
/// Equal polynomials have equal representations, so `==` and hashing decide equality.
/// Coefficient arithmetic saturates; the evaluators that produce numbers are checked.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Poly<A: Ord> {
    /// The terms, sorted by monomial, each monomial once. (Index expressions have a few
    /// terms: a sorted vector is smaller and faster to build than a map.)
    terms: Vec<(Monomial<A>, i64)>,
}

impl<A: Ord + fmt::Debug> fmt::Debug for Poly<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terms = DebugTerms(&self.terms);
        f.debug_struct("Poly").field("terms", &terms).finish()
    }
}

/// The terms written as a map, monomial to coefficient.
struct DebugTerms<'a, A>(&'a [(Monomial<A>, i64)]);

impl<A: fmt::Debug> fmt::Debug for DebugTerms<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(m, c)| (m, c))).finish()
    }
}

impl<A: Ord + Clone> Default for Poly<A> {
    fn default() -> Self {
        Poly::zero()
    }
}

impl<A: Ord + Clone> Poly<A> {
    /// The zero polynomial.
    pub fn zero() -> Self {
        Poly { terms: Vec::new() }
    }

    /// The constant `c`.
    pub fn constant(c: i64) -> Self {
        Poly::monomial(c, Vec::new())
    }

    /// The polynomial made of one atom.
    pub fn atom(a: A) -> Self {
        Poly::monomial(1, vec![a])
    }

    /// `c·m`, with the monomial's atoms in any order.
    pub fn monomial(c: i64, mut m: Monomial<A>) -> Self {
        m.sort();
        Poly { terms: if c != 0 { vec![(m, c)] } else { Vec::new() } }
    }

    /// The terms, monomial to coefficient, in canonical order.
    pub fn terms(&self) -> impl Iterator<Item = (&Monomial<A>, i64)> {
        self.terms.iter().map(|(m, c)| (m, *c))
    }

    /// Builds a polynomial from terms, merging equal monomials.
    pub fn from_terms(terms: impl IntoIterator<Item = (Monomial<A>, i64)>) -> Self {
        let mut p = Poly::zero();
        for (m, c) in terms {
            p.add_term(m, c);
        }
        p
    }

    /// Adds `c·m` in place.
    pub fn add_term(&mut self, mut m: Monomial<A>, c: i64) {
        if c == 0 {
            return;
        }
        m.sort();
        match self.terms.binary_search_by(|(n, _)| n.cmp(&m)) {
            Err(at) => self.terms.insert(at, (m, c)),
            Ok(at) => {
                let sum = self.terms[at].1.saturating_add(c);
                if sum == 0 {
                    self.terms.remove(at);
                } else {
                    self.terms[at].1 = sum;
                }
            }
        }
    }

    /// Adds `other` in place.
    pub fn add_assign(&mut self, other: &Self) {
        // A few terms go in place; more are merged, which stays linear.
        if other.terms.len() > 4 {
            *self = self.combine(other, 1);
            return;
        }
        for (m, c) in other.terms() {
            self.add_term(m.clone(), c);
        }
    }

    /// Whether this is the zero polynomial.
    pub fn is_zero(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value, when the polynomial is a constant.
    pub fn as_constant(&self) -> Option<i64> {
        match self.terms.as_slice() {
            [] => Some(0),
            [(m, c)] if m.is_empty() => Some(*c),
            _ => None,
        }
    }

    /// The constant term.
    pub fn constant_term(&self) -> i64 {
        // The constant monomial, empty, sorts first.
        self.terms.first().filter(|(m, _)| m.is_empty()).map_or(0, |(_, c)| *c)
    }

    /// `self + other`.
    pub fn add(&self, other: &Self) -> Self {
        self.combine(other, 1)
    }

    /// `self - other`.
    pub fn sub(&self, other: &Self) -> Self {
        self.combine(other, -1)
    }

    /// `self + sign·other`, both sorted, merged in one pass.
    fn combine(&self, other: &Self, sign: i64) -> Self {
        let mut terms = Vec::with_capacity(self.terms.len() + other.terms.len());
        let (mut a, mut b) = (self.terms.iter().peekable(), other.terms.iter().peekable());
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some((m, _)), Some((n, _))) => m.cmp(n),
            };
            let (m, c) = match order {
                std::cmp::Ordering::Less => a.next().map(|(m, c)| (m, *c)),
                std::cmp::Ordering::Greater => b.next().map(|(n, d)| (n, d.saturating_mul(sign))),
                std::cmp::Ordering::Equal => {
                    let ((m, c), (_, d)) = (a.next().expect("peeked"), b.next().expect("peeked"));
                    Some((m, c.saturating_add(d.saturating_mul(sign))))
                }
            }
            .expect("peeked");
            if c != 0 {
                terms.push((m.clone(), c));
            }
        }
        Poly { terms }
    }

    /// `-self`.
    pub fn neg(&self) -> Self {
        self.scale(-1)
    }

    /// `c · self`.
    pub fn scale(&self, c: i64) -> Self {
        if c == 0 {
            return Poly::zero();
        }
        // Nonzero coefficients stay nonzero (they saturate), and the order is kept.
        Poly { terms: self.terms.iter().map(|(m, k)| (m.clone(), k.saturating_mul(c))).collect() }
    }

    /// `self · other`.
    pub fn mul(&self, other: &Self) -> Self {
        let mut p = Poly::zero();
        for (m1, c1) in self.terms() {
            for (m2, c2) in other.terms() {
                let mut m = m1.clone();
                m.extend(m2.iter().cloned());
                p.add_term(m, c1.saturating_mul(c2));
            }
        }
        p
    }

    /// The greatest common divisor of the coefficients (0 for the zero polynomial).
    pub fn content(&self) -> i64 {
        self.terms().fold(0, |g, (_, c)| gcd(g, c))
    }

    /// Divides every coefficient by `d`, when all are multiples of it.
    pub fn exact_div(&self, d: i64) -> Option<Self> {
        if d == 0 || self.terms().any(|(_, c)| c % d != 0) {
            return None;
        }
        Some(Poly::from_terms(self.terms().map(|(m, c)| (m.clone(), c / d))))
    }

    /// Maps every atom to a polynomial and multiplies out.
    pub fn map_atoms<B: Ord + Clone>(&self, f: &mut impl FnMut(&A) -> Poly<B>) -> Poly<B> {
        let mut out = Poly::zero();
        for (m, c) in self.terms() {
            let mut prod = Poly::constant(c);
            for a in m {
                prod = prod.mul(&f(a));
            }
            out.add_assign(&prod);
        }
        out
    }

    /// Writes the polynomial as `2a + b·c - 3`: positive terms first, then negative ones,
    /// then the constant, with spaces around `+` and `-` when `spaced`; `show_atom` writes
    /// one atom (told whether it stands alone, without
    /// a coefficient or other atoms beside it), `coef_sep` follows a coefficient
    /// other than ±1 and `sep` joins the atoms of a monomial.
    pub fn write(
        &self,
        f: &mut impl fmt::Write,
        spaced: bool,
        coef_sep: &str,
        sep: &str,
        show_atom: &mut impl FnMut(&mut dyn fmt::Write, &A, bool) -> fmt::Result,
    ) -> fmt::Result {
        if self.is_zero() {
            return write!(f, "0");
        }
        let nonconst = self.terms().filter(|(m, _)| !m.is_empty());
        let (pos, neg): (Vec<_>, Vec<_>) = nonconst.partition(|(_, c)| *c > 0);
        let constant = self.constant_term();
        let mut first = true;
        for (m, c) in pos.into_iter().chain(neg) {
            let sign = if c < 0 { "-" } else { "+" };
            match (first, c < 0, spaced) {
                (true, true, _) => write!(f, "-")?,
                (true, false, _) => {}
                (false, _, true) => write!(f, " {sign} ")?,
                (false, _, false) => write!(f, "{sign}")?,
            }
            first = false;
            if c.unsigned_abs() != 1 {
                write!(f, "{}{coef_sep}", c.unsigned_abs())?;
            }
            let alone = m.len() == 1 && c == 1;
            for (i, a) in m.iter().enumerate() {
                if i > 0 {
                    write!(f, "{sep}")?;
                }
                show_atom(f, a, alone)?;
            }
        }
        if constant != 0 {
            let (plus, minus) = if spaced { (" + ", " - ") } else { ("+", "-") };
            match (first, constant < 0) {
                (true, _) => write!(f, "{constant}")?,
                (false, true) => write!(f, "{minus}{}", constant.unsigned_abs())?,
                (false, false) => write!(f, "{plus}{constant}")?,
            }
        }
        Ok(())
    }
}

/// The greatest common divisor, always nonnegative.
pub fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i64::try_from(a).unwrap_or(i64::MAX)
}

/// Division rounding toward minus infinity; `None` on division by zero or overflow.
pub fn floor_div(a: i64, b: i64) -> Option<i64> {
    let q = a.checked_div(b)?;
    if a % b != 0 && ((a < 0) != (b < 0)) {
        q.checked_sub(1)
    } else {
        Some(q)
    }
}

/// The remainder of [`floor_div`]: it has the sign of `b`.
pub fn floor_mod(a: i64, b: i64) -> Option<i64> {
    let q = floor_div(a, b)?;
    a.checked_sub(q.checked_mul(b)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    type P = Poly<char>;

    fn show(p: &P) -> String {
        let mut s = String::new();
        p.write(&mut s, true, "", "·", &mut |f, a, _| write!(f, "{a}")).unwrap();
        s
    }

    #[test]
    fn canonical_form_merges_and_orders_terms() {
        let p = P::atom('i').add(&P::atom('k')).sub(&P::atom('j')).sub(&P::constant(1));
        assert_eq!(show(&p), "i + k - j - 1");
        let q = P::atom('k').sub(&P::constant(1)).add(&P::atom('i')).sub(&P::atom('j'));
        assert_eq!(p, q);
        assert!(p.sub(&q).is_zero());
    }

    #[test]
    fn products_multiply_out() {
        let p = P::atom('n').sub(&P::constant(1)).scale(2);
        assert_eq!(show(&p), "2n - 2");
        let q = P::atom('a').add(&P::atom('b')).mul(&P::atom('a').sub(&P::atom('b')));
        assert_eq!(show(&q), "a·a - b·b");
    }

    #[test]
    fn sums_agree_with_a_map_of_terms() {
        // Polynomials over a few atoms with coefficients that cancel, built in scrambled
        // orders: every way of adding them matches a map from monomial to coefficient.
        let atoms = ['a', 'b', 'c', 'n'];
        let poly = |seed: usize, len: usize| {
            let terms = (0..len).map(|t| {
                let k = (seed * 7 + t * 13) % 11;
                let m: Vec<char> = (0..k % 3).map(|q| atoms[(k + q * 5) % 4]).collect();
                (m, (k as i64 % 5) - 2)
            });
            P::from_terms(terms)
        };
        let as_map = |p: &P| p.terms().map(|(m, c)| (m.clone(), c)).collect::<std::collections::BTreeMap<_, _>>();
        for (x, y) in [(1, 2), (3, 9), (5, 5), (8, 0), (0, 12)] {
            let (p, q) = (poly(x, x + 1), poly(y, 12 - y));
            let mut want = as_map(&p);
            for (m, c) in q.terms() {
                *want.entry(m.clone()).or_insert(0) += c;
            }
            want.retain(|_, c| *c != 0);
            let mut in_place = p.clone();
            in_place.add_assign(&q);
            for sum in [
                p.add(&q),
                in_place,
                p.sub(&q.neg()),
                P::from_terms(p.terms().chain(q.terms()).map(|(m, c)| (m.clone(), c))),
            ] {
                assert_eq!(as_map(&sum), want);
                assert!(sum.terms().zip(sum.terms().skip(1)).all(|((m, _), (n, _))| m < n), "sorted: {sum:?}");
            }
            assert!(p.sub(&p).is_zero() && p.scale(0).is_zero());
        }
    }

    #[test]
    fn floor_division_rounds_down() {
        assert_eq!(floor_div(7, 2), Some(3));
        assert_eq!(floor_div(-7, 2), Some(-4));
        assert_eq!(floor_div(7, -2), Some(-4));
        assert_eq!(floor_mod(-7, 2), Some(1));
        assert_eq!(floor_mod(7, -2), Some(-1));
        assert_eq!(floor_div(1, 0), None);
        assert_eq!(floor_div(i64::MIN, -1), None);
    }
}
