//! The hunter for false verdicts (issue 11), shared by `tests/hunter.rs` and the `hunter`
//! fuzz target. It makes claims by mutating what symconv derived for every shipped spec
//! (closed forms and lengths: renamed and swapped indices, Σ terms whose bound names
//! clash with the derivation's, terms that vanish everywhere or only at the `let` sizes,
//! brackets dropped, loosened, tightened or with another divisibility, offsets ±1, axes
//! swapped, size-dependent constants), lets symconv settle them, and judges every
//! verdict by its own brute force: plain loops over every summed index, at several size
//! sets (pads at 0 among them). "Proved" or "checked" must agree everywhere tried; "refuted" must print a
//! counterexample that is real.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use symconv::algebra::cond::{eq, le, ne};
use symconv::algebra::formula::{fresh_name, show_value_over, ElemRef};
use symconv::algebra::index::{div, modulo, var, IndexAtom};
use symconv::algebra::{Cond, Element, Env, Formula, Index, IndexExt, Term, Value};
use symconv::check::{self, ClaimReport, Verdict};
use symconv::derive::{self, Derivation};
use symconv::model::{Claim, ClaimKind, Model};

/// SplitMix64: deterministic, from a seed or from a fuzzer's bytes.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator from bytes.
    pub fn from_bytes(data: &[u8]) -> Rng {
        let mut r = Rng(0x005e_ed0f_7e57);
        for &b in data {
            r.0 ^= b as u64;
            r.next();
        }
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// An integer in `lo..=hi`.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }

    /// An index below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }
}

/// A shipped spec, derived, with its definition's Jacobians and lengths by plain loops at
/// the size sets the hunter tries.
pub struct Spec {
    /// Its name.
    pub name: String,
    /// The model, without claims or runs.
    pub model: Model,
    /// What symconv derived.
    pub derivation: Derivation,
    /// The brute force at each size set tried.
    pub at: Vec<Truth>,
    /// The spatial axes its run line convolves (1 for a 1-D spec).
    pub spatial: usize,
}

/// The definition at one size set, by plain loops.
pub struct Truth {
    /// The sizes.
    pub sizes: Env,
    /// The output indices of the domain.
    pub rows: Vec<Vec<i64>>,
    /// The length along each axis.
    pub lengths: Vec<i64>,
    /// The tensors' shapes.
    pub shapes: Vec<(String, Vec<i64>)>,
    /// Per tensor, `∂s[row]/∂t[col]` for every row and column (row-major), times `divisor`.
    pub jacobians: Vec<(String, Vec<Vec<Value>>)>,
    /// The formula's divisor.
    pub divisor: i64,
}

/// Every spec in `dir` (the shipped ones: `specs/`), ready to hunt on.
pub fn shipped(dir: &Path) -> Vec<Spec> {
    let mut paths: Vec<_> =
        std::fs::read_dir(dir).expect("the specs' folder").map(|e| e.expect("entry").path()).collect();
    paths.sort();
    paths.iter().map(|p| spec(p)).collect()
}

fn spec(path: &Path) -> Spec {
    let mut model = symconv::cli::load(path, None).expect("shipped specs load");
    let spatial = model.runs.first().map(|r| r.op.spatial()).or(model.layers.first().map(|r| r.op.spatial()));
    let spatial = spatial.unwrap_or(1);
    model.claims.clear();
    model.runs.clear();
    model.layers.clear();
    let derivation = derive::derive(&model, &symconv::limits::Limits::default()).expect("shipped specs derive");
    // The let sizes, every size one more, the first size two more, and the pads at 0.
    let mut sets = vec![model.values.clone()];
    sets.push(model.values.iter().map(|(n, v)| (n.clone(), v + 1)).collect());
    let mut third = model.values.clone();
    if let Some(first) = model.sizes.first() {
        *third.get_mut(first).expect("a let value") += 2;
    }
    sets.push(third);
    if model.sizes.iter().any(|n| model.least(n) == 0) {
        sets.push(model.values.iter().map(|(n, &v)| (n.clone(), if model.least(n) == 0 { 0 } else { v })).collect());
    }
    let at = sets.into_iter().filter_map(|sizes| truth(&model, sizes)).collect();
    Spec { name: model.name.clone(), model, derivation, at, spatial }
}

/// Brute force by plain loops at one size set; `None` where a tensor or the output is
/// empty there.
fn truth(model: &Model, sizes: Env) -> Option<Truth> {
    let shapes: Vec<(String, Vec<i64>)> =
        model.tensors.iter().map(|t| (t.name.clone(), model.shape_at(&t.name, &sizes).unwrap_or_default())).collect();
    if shapes.iter().any(|(_, s)| s.iter().any(|&d| d <= 0)) {
        return None;
    }
    // The domain is the valid rule's, found by symconv's brute force (not its symbolic
    // domain, which the cross-check compares with it).
    let rows = check::brute_domain(model, &sizes, &symconv::limits::Limits::default()).ok()?;
    if rows.is_empty() {
        return None;
    }
    let axes = model.output.indices.len();
    let lengths = (0..axes).map(|a| rows.iter().map(|r| r[a]).collect::<BTreeSet<_>>().len() as i64).collect();
    let window = window(&sizes);
    let expansions: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut env = sizes.clone();
            env.extend(model.output.indices.iter().cloned().zip(row.iter().copied()));
            formula_value(&model.formula, &env, &shapes, window)
        })
        .collect();
    let jacobians = shapes
        .iter()
        .map(|(t, dims)| {
            let cols = tuples(dims);
            let table = expansions.iter().map(|e| cols.iter().map(|c| derivative(e, t, c)).collect()).collect();
            (t.clone(), table)
        })
        .collect();
    Some(Truth { sizes, rows, lengths, shapes, jacobians, divisor: model.formula.divisor })
}

/// How far each summed index runs, both ways: beyond it every element index is outside
/// its tensor, for the shipped specs' index coefficients.
fn window(sizes: &Env) -> i64 {
    2 * sizes.values().map(|v| v.abs()).sum::<i64>() + 6
}

/// Every index tuple of a shape, row-major.
fn tuples(dims: &[i64]) -> Vec<Vec<i64>> {
    let mut out = vec![Vec::new()];
    for &d in dims {
        out = out.into_iter().flat_map(|t| (0..d).map(move |v| [t.clone(), vec![v]].concat())).collect();
    }
    out
}

/// Whether two values over divisors (`a.0 / a.1`, `b.0 / b.1`) are the same rational.
fn same_rational(a: (&Value, i64), b: (&Value, i64)) -> bool {
    a.0.scale(b.1) == b.0.scale(a.1)
}

/// A formula's value by plain loops (times its divisor): every summed index over
/// `-window..=window`.
fn formula_value(f: &Formula, env: &Env, shapes: &[(String, Vec<i64>)], window: i64) -> Value {
    let mut out = Value::zero();
    for t in &f.terms {
        let mut env = env.clone();
        sum_over(t, 0, &mut env, shapes, window, &mut out);
    }
    out
}

fn sum_over(t: &Term, k: usize, env: &mut Env, shapes: &[(String, Vec<i64>)], window: i64, out: &mut Value) {
    let Some(v) = t.bound.get(k) else {
        if t.brackets.iter().all(|c| c.eval(env) == Ok(true)) {
            let mut monomial = Vec::new();
            for e in &t.elements {
                let dims = &shapes.iter().find(|(n, _)| *n == e.tensor).expect("a declared tensor").1;
                let index: Vec<i64> = e.index.iter().map(|p| p.eval(env).expect("every name has a value")).collect();
                if index.iter().zip(dims).any(|(&i, &d)| i < 0 || i >= d) {
                    return;
                }
                monomial.push(ElemRef { tensor: e.tensor.clone(), index });
            }
            out.add_term(monomial, t.coeff.eval(env).expect("every name has a value"));
        }
        return;
    };
    for value in -window..=window {
        env.insert(v.clone(), value);
        if !vanishes(t, env, shapes) {
            sum_over(t, k + 1, env, shapes, window, out);
        }
    }
    env.remove(v);
}

/// Whether a term is 0 whatever values its unbound names take: a bracket whose names all
/// have values is false, or an axis of an element whose index has a value is outside its
/// tensor. (The plain loops over several summed indices, as an N-D spec has, stay short.)
fn vanishes(t: &Term, env: &Env, shapes: &[(String, Vec<i64>)]) -> bool {
    t.brackets.iter().any(|c| c.eval(env) == Ok(false))
        || t.elements.iter().any(|e| {
            let dims = &shapes.iter().find(|(n, _)| *n == e.tensor).expect("a declared tensor").1;
            e.index.iter().zip(dims).any(|(p, &d)| p.eval(env).is_ok_and(|i| i < 0 || i >= d))
        })
}

/// `∂p/∂t[at]`, formally.
fn derivative(p: &Value, t: &str, at: &[i64]) -> Value {
    let e = ElemRef { tensor: t.to_string(), index: at.to_vec() };
    let mut out = Value::zero();
    for (m, c) in p.terms() {
        let times = m.iter().filter(|x| **x == e).count() as i64;
        if let Some(k) = m.iter().position(|x| *x == e) {
            let mut rest = m.clone();
            rest.remove(k);
            out.add_term(rest, c * times);
        }
    }
    out
}

/// A claim made by mutating one of the spec's derived results.
pub fn mutant(spec: &Spec, rng: &mut Rng) -> Claim {
    let m = &spec.model;
    if rng.one_in(6) {
        return length_mutant(spec, rng);
    }
    let d = &spec.derivation.derivatives[rng.below(spec.derivation.derivatives.len())];
    let mut f = d.closed_form.clone();
    let mut out: Vec<String> = m.output.indices.clone();
    let mut wrt: Vec<String> = d.wrt_indices.clone();
    let mut taken: BTreeSet<String> = m.sizes.iter().cloned().collect();
    taken.extend(m.tensors.iter().map(|t| t.name.clone()));
    taken.insert(m.output.name.clone());
    // Renamed indices: the claim's own names, apart from the derivation's.
    if rng.one_in(2) {
        // Enough names for an N-D spec (three output indices, four of a weight), most of
        // which the formula uses already; a 1-D spec takes the first ones, as before.
        let pool = ["a", "b", "c", "e", "p", "t", "u", "v", "y", "z", "d", "f", "h", "k", "l", "m", "n", "o", "q", "r"];
        let mut fresh = pool.iter().map(|s| s.to_string()).filter(|s| !taken.contains(s) && !f.names().contains(s));
        let new_out: Vec<String> = out.iter().map(|_| fresh.next().expect("enough names")).collect();
        let new_wrt: Vec<String> = wrt.iter().map(|_| fresh.next().expect("enough names")).collect();
        f = rename(&f, &[out.clone(), wrt.clone()].concat(), &[new_out.clone(), new_wrt.clone()].concat());
        (out, wrt) = (new_out, new_wrt);
    }
    let free: Vec<String> = out.iter().chain(&wrt).cloned().collect();
    taken.extend(free.iter().cloned());
    for _ in 0..rng.int(0, 2) {
        f = mutate(spec, &f, &out, &wrt, &taken, rng);
    }
    let lhs = |t: &str, names: &[String]| match names {
        [one] => format!("{t}_{one}"),
        many => format!("{t}_<{}>", many.join(", ")),
    };
    let text = format!("∂{}/∂{} = {}", lhs(&m.output.name, &out), lhs(&d.wrt, &wrt), f.show(&m.sizes));
    let kind = ClaimKind::Derivative { wrt: d.wrt.clone(), out_indices: out, wrt_indices: wrt, value: f };
    Claim { text, span: m.definition_span, kind }
}

/// Simultaneous renaming of free names (the formula has no Σ over them).
fn rename(f: &Formula, from: &[String], to: &[String]) -> Formula {
    let mut f = f.clone();
    for (k, n) in from.iter().enumerate() {
        f = f.substitute(n, &var(&format!("#{k}")));
    }
    for (k, n) in to.iter().enumerate() {
        f = f.substitute(&format!("#{k}"), &var(n));
    }
    f
}

/// One mutation of a claim's value.
fn mutate(
    spec: &Spec,
    f: &Formula,
    out: &[String],
    wrt: &[String],
    taken: &BTreeSet<String>,
    rng: &mut Rng,
) -> Formula {
    let m = &spec.model;
    let mut f = f.clone();
    let pick_term = |f: &Formula, rng: &mut Rng| rng.below(f.terms.len());
    let size = |rng: &mut Rng| m.sizes[rng.below(m.sizes.len())].clone();
    let choice = rng.int(0, 12);
    match choice {
        // Output and element indices swapped (a true claim only by chance).
        0 => {
            let (a, b) = (&out[rng.below(out.len())], &wrt[rng.below(wrt.len())]);
            f = rename(&f, &[a.clone(), b.clone()], &[b.clone(), a.clone()]);
        }
        // An index off by ±1.
        1 if !f.terms.is_empty() => {
            let k = pick_term(&f, rng);
            shift_by_one(&mut f.terms[k], rng);
        }
        // A bracket dropped.
        2 if !f.terms.is_empty() => {
            let k = pick_term(&f, rng);
            let t = &mut f.terms[k];
            if !t.brackets.is_empty() {
                let b = rng.below(t.brackets.len());
                t.brackets.remove(b);
            }
        }
        // A bracket loosened or tightened, or its divisibility changed.
        3 if !f.terms.is_empty() => {
            let k = pick_term(&f, rng);
            loosen_or_tighten(&mut f.terms[k], rng);
        }
        // A Σ term that vanishes everywhere, its bound name often the derivation's.
        4 | 5 => {
            let term = vanishing_sum(spec, &f, (out, wrt), taken, rng);
            f.terms.push(term);
        }
        // A term that vanishes at the let sizes only.
        6 => {
            let s = size(rng);
            let t = &m.tensors[rng.below(m.tensors.len())];
            f.terms.push(zero_at_let_sizes(spec, &s, &t.name));
        }
        _ => mutate_more(spec, &mut f, choice, (out, wrt), taken, rng),
    }
    f
}

/// The mutations numbered 7 to 12 of [`mutate`].
fn mutate_more(
    spec: &Spec,
    f: &mut Formula,
    choice: i64,
    (out, wrt): (&[String], &[String]),
    taken: &BTreeSet<String>,
    rng: &mut Rng,
) {
    let m = &spec.model;
    let pick_term = |f: &Formula, rng: &mut Rng| rng.below(f.terms.len());
    let size = |rng: &mut Rng| m.sizes[rng.below(m.sizes.len())].clone();
    match choice {
        // A constant of a bracket replaced by a size expression equal to it at the let sizes.
        7 if !f.terms.is_empty() => {
            let k = pick_term(f, rng);
            let s = size(rng);
            let t = &mut f.terms[k];
            if !t.brackets.is_empty() {
                let b = rng.below(t.brackets.len());
                t.brackets[b] = shift_cond(&t.brackets[b], &var(&s).sub(&Index::constant(m.values[&s])));
            }
        }
        // Two axes of an element swapped.
        8 if !f.terms.is_empty() => {
            let k = pick_term(f, rng);
            let t = &mut f.terms[k];
            if let Some(e) = t.elements.iter_mut().find(|e| e.index.len() > 1) {
                let (a, b) = (rng.below(e.index.len()), rng.below(e.index.len()));
                e.index.swap(a, b);
            }
        }
        // A term doubled, or added and taken away again (true).
        9 if !f.terms.is_empty() => {
            let k = pick_term(f, rng);
            let t = f.terms[k].clone();
            let doubled = rng.one_in(2);
            if !doubled {
                f.terms.push(Term { coeff: t.coeff.neg(), ..t.clone() });
            }
            f.terms.push(t);
        }
        // A Σ term that does not vanish: the claim is false.
        10 => {
            let term = live_sum(spec, f, (out, wrt), taken, rng);
            f.terms.push(term);
        }
        // A bracket that the facts imply added (true), or its negation (false).
        11 if !f.terms.is_empty() => {
            let k = pick_term(f, rng);
            let n = &wrt[rng.below(wrt.len())];
            let c = if rng.one_in(3) { le(&var(n), &Index::constant(-1)) } else { le(&Index::zero(), &var(n)) };
            f.terms[k].brackets.push(c);
        }
        // An index's coefficient changed.
        _ if !f.terms.is_empty() => {
            let k = pick_term(f, rng);
            let t = &mut f.terms[k];
            if !t.elements.is_empty() {
                let e = rng.below(t.elements.len());
                let axis = rng.below(t.elements[e].index.len());
                let n = free_name(out, wrt, rng);
                t.elements[e].index[axis] = t.elements[e].index[axis].add(&var(&n));
            }
        }
        _ => {}
    }
}

/// `(s - its let value) t_<0, …, 0>`: a term that vanishes at the let sizes only.
fn zero_at_let_sizes(spec: &Spec, s: &str, tensor: &str) -> Term {
    let t = spec.model.tensor(tensor).expect("a tensor of the spec");
    let element = Element { tensor: t.name.clone(), index: t.shape.iter().map(|_| Index::zero()).collect() };
    let coeff = var(s).sub(&Index::constant(spec.model.values[s]));
    Term { bound: Vec::new(), coeff, elements: vec![element], brackets: Vec::new() }
}

/// A bracket of the term loosened or tightened, or its divisibility changed.
fn loosen_or_tighten(t: &mut Term, rng: &mut Rng) {
    if !t.brackets.is_empty() {
        let b = rng.below(t.brackets.len());
        t.brackets[b] = match &t.brackets[b] {
            Cond::Eq0(p) => Cond::Eq0(other_divisibility(p, rng)),
            c => shift_cond(c, &Index::constant(rng.int(-2, 2))),
        };
    }
}

/// An index or a bracket of the term off by ±1.
fn shift_by_one(t: &mut Term, rng: &mut Rng) {
    let shift = Index::constant(if rng.one_in(2) { 1 } else { -1 });
    if !t.elements.is_empty() && rng.one_in(2) {
        let e = rng.below(t.elements.len());
        let axis = rng.below(t.elements[e].index.len());
        t.elements[e].index[axis] = t.elements[e].index[axis].add(&shift);
    } else if !t.brackets.is_empty() {
        let b = rng.below(t.brackets.len());
        t.brackets[b] = shift_cond(&t.brackets[b], &shift);
    }
}

/// A Σ term that vanishes at every size, its bound name often one of the derivation's:
/// `Σ_v c t_<0, …, v> [v = -1 - anchor]`, outside its tensor for an anchor ≥ 0.
fn vanishing_sum(
    spec: &Spec,
    f: &Formula,
    names: (&[String], &[String]),
    taken: &BTreeSet<String>,
    rng: &mut Rng,
) -> Term {
    let (v, element, anchor) = sum_over_last_axis(spec, f, names, taken, rng);
    Term {
        bound: vec![v.clone()],
        coeff: Index::constant(rng.int(1, 3)),
        elements: vec![element],
        brackets: vec![eq(&var(&v), &Index::constant(-1).sub(&anchor))],
    }
}

/// A Σ term that does not vanish: `Σ_v t_<0, …, v> [v = anchor + 0 or 1]`.
fn live_sum(spec: &Spec, f: &Formula, names: (&[String], &[String]), taken: &BTreeSet<String>, rng: &mut Rng) -> Term {
    let (v, element, anchor) = sum_over_last_axis(spec, f, names, taken, rng);
    Term {
        bound: vec![v.clone()],
        coeff: Index::constant(1),
        elements: vec![element],
        brackets: vec![eq(&var(&v), &anchor.add(&Index::constant(rng.int(0, 1))))],
    }
}

/// What both Σ terms above are made of: a bound name `v`, an element `t_<0, …, v>` of a
/// random tensor, and an anchor, a free index of the derivative.
fn sum_over_last_axis(
    spec: &Spec,
    f: &Formula,
    (out, wrt): (&[String], &[String]),
    taken: &BTreeSet<String>,
    rng: &mut Rng,
) -> (String, Element, Index) {
    let m = &spec.model;
    let v = binder(spec, f, taken, rng);
    let t = &m.tensors[rng.below(m.tensors.len())];
    let last = t.shape.len() - 1;
    let anchor = var(&free_name(out, wrt, rng));
    let mut index: Vec<Index> = (0..=last).map(|_| Index::zero()).collect();
    index[last] = var(&v);
    (v, Element { tensor: t.name.clone(), index }, anchor)
}

/// A name for a Σ: one of the derivation's own names where the claim does not use it
/// (the clash that renaming once captured), else a fresh one.
fn binder(spec: &Spec, f: &Formula, taken: &BTreeSet<String>, rng: &mut Rng) -> String {
    let mut candidates: Vec<String> = spec.model.output.indices.clone();
    candidates.extend(spec.derivation.derivatives.iter().flat_map(|d| d.wrt_indices.iter().cloned()));
    candidates.extend(["l".to_string(), "q".to_string()]);
    let names = f.names();
    let free: Vec<&String> = candidates.iter().filter(|c| !taken.contains(*c) && !names.contains(*c)).collect();
    match free.is_empty() {
        true => fresh_name("h", taken),
        false => free[rng.below(free.len())].clone(),
    }
}

fn free_name(out: &[String], wrt: &[String], rng: &mut Rng) -> String {
    let all: Vec<&String> = out.iter().chain(wrt).collect();
    all[rng.below(all.len())].clone()
}

/// `p ≥ 0` as `p + shift ≥ 0`, `p = 0` as `p + shift = 0`, and so on.
fn shift_cond(c: &Cond, shift: &Index) -> Cond {
    match c {
        Cond::Ge0(p) => le(&Index::zero(), &p.add(shift)),
        Cond::Eq0(p) => eq(&p.add(shift), &Index::zero()),
        Cond::Ne0(p) => ne(&p.add(shift), &Index::zero()),
        other => other.clone(),
    }
}

/// `[(e) mod D = 0]` with another divisor or a shifted `e`; other `[p = 0]` shifted.
fn other_divisibility(p: &Index, rng: &mut Rng) -> Index {
    let rebuilt = p.terms().find_map(|(m, _)| match m.as_slice() {
        [IndexAtom::Mod(e, d)] => Some(match rng.one_in(2) {
            true => modulo(e, &d.add(&Index::constant(1))),
            false => modulo(&e.add(&Index::constant(1)), d),
        }),
        _ => None,
    });
    rebuilt.unwrap_or_else(|| p.add(&Index::constant(1)))
}

/// A length claim made from the derived length: as it is, spelled another way, off by
/// one, or equal at the let sizes only.
fn length_mutant(spec: &Spec, rng: &mut Rng) -> Claim {
    let m = &spec.model;
    let axis = rng.below(m.output.indices.len());
    let derived = spec.derivation.lengths[axis].clone();
    let value = match rng.int(0, 4) {
        0 => derived,
        1 => derived.add(&Index::constant(if rng.one_in(2) { 1 } else { -1 })),
        // (L - 1) div 1 + 1 is L; ceil-style: -((-L) div 1).
        2 => div(&derived.sub(&Index::constant(1)), &Index::constant(1)).add(&Index::constant(1)),
        3 => {
            let s = &m.sizes[rng.below(m.sizes.len())];
            derived.add(&var(s)).sub(&Index::constant(m.values[s]))
        }
        _ => div(&derived.scale(2), &Index::constant(2)),
    };
    let written = value.to_string();
    let text = format!("len({}, {axis}) = {written}", m.output.name);
    Claim { text, span: m.definition_span, kind: ClaimKind::Length { axis, value, written } }
}

/// What a hunt found.
#[derive(Debug, Default)]
pub struct Tally {
    /// Claims settled.
    pub claims: usize,
    /// Proved by the e-graph.
    pub proved: usize,
    /// Checked by brute force.
    pub checked: usize,
    /// Refuted with a counterexample.
    pub refuted: usize,
}

/// Settles the claims with symconv and judges each verdict; a false verdict is an error
/// that says which claim, which verdict, and where brute force disagrees.
pub fn hunt(spec: &Spec, claims: Vec<Claim>, tally: &mut Tally) -> Result<(), String> {
    let mut model = spec.model.clone();
    model.claims = claims;
    let reports =
        check::settle_claims(&model, &spec.derivation).map_err(|e| format!("{}: symconv failed: {e}", spec.name))?;
    for (claim, report) in model.claims.iter().zip(&reports) {
        if std::env::var("HUNT_LOG").is_ok() {
            eprintln!("VERDICT\t{}\t{}\t{:?}\t{}", spec.name, claim.text, report.verdict, report.grounds);
        }
        tally.claims += 1;
        judge(spec, claim, report)
            .map_err(|why| format!("{}: `{}` {:?}: {why}", spec.name, claim.text, report.verdict))?;
        match report.verdict {
            Verdict::Proved => tally.proved += 1,
            Verdict::Checked => tally.checked += 1,
            Verdict::Refuted => tally.refuted += 1,
        }
    }
    Ok(())
}

/// `Err` when the verdict is false.
fn judge(spec: &Spec, claim: &Claim, report: &ClaimReport) -> Result<(), String> {
    match report.verdict {
        Verdict::Proved | Verdict::Checked => {
            for truth in &spec.at {
                if let Some(why) = disagreement(truth, &claim.kind) {
                    return Err(why);
                }
            }
            Ok(())
        }
        Verdict::Refuted => match report.grounds.strip_prefix("it holds at the `let` sizes") {
            None => real_counterexample(spec, &claim.kind, &report.grounds),
            Some(rest) => held_at_let_sizes(spec, &claim.kind, rest),
        },
    }
}

/// A refutation that says the claim holds at the `let` sizes (`it holds at the `let`
/// sizes (…), but not at n = 1, k = 1: the length is 4, the claim gives 1; if …`): true
/// there, and its counterexample real.
fn held_at_let_sizes(spec: &Spec, kind: &ClaimKind, rest: &str) -> Result<(), String> {
    let at_let = truth(&spec.model, spec.model.values.clone()).ok_or("the let sizes leave nothing to compare")?;
    if let Some(why) = disagreement(&at_let, kind) {
        return Err(format!("said to hold at the let sizes, but {why}"));
    }
    let (_, rest) = rest.split_once("), but not at ").ok_or("no counterexample")?;
    let rest = rest.split("; if ").next().unwrap_or(rest);
    let (at, what) = rest.split_once(": ").ok_or("no counterexample")?;
    let plain = match what.starts_with("the length is") {
        true => format!("at {at} {what}"),
        false => format!("at {at}, {what}"),
    };
    real_counterexample(spec, kind, &plain)
}

/// Where the claim and the definition disagree at one size set, if anywhere.
fn disagreement(truth: &Truth, kind: &ClaimKind) -> Option<String> {
    let sizes = &truth.sizes;
    match kind {
        ClaimKind::Length { axis, value, .. } => {
            let claimed = value.eval(sizes).ok()?;
            (claimed != truth.lengths[*axis])
                .then(|| format!("at {sizes:?} the length is {}, the claim gives {claimed}", truth.lengths[*axis]))
        }
        ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } => {
            let table = &truth.jacobians.iter().find(|(t, _)| t == wrt)?.1;
            let dims = &truth.shapes.iter().find(|(t, _)| t == wrt)?.1;
            let window = window(sizes);
            for (r, row) in truth.rows.iter().enumerate() {
                for (c, col) in tuples(dims).iter().enumerate() {
                    let mut env = sizes.clone();
                    env.extend(out_indices.iter().cloned().zip(row.iter().copied()));
                    env.extend(wrt_indices.iter().cloned().zip(col.iter().copied()));
                    let claimed = formula_value(value, &env, &truth.shapes, window);
                    if !same_rational((&claimed, value.divisor), (&table[r][c], truth.divisor)) {
                        return Some(format!(
                            "at {sizes:?}, {row:?}, {col:?} the claim gives {}, the definition {}",
                            show_value_over(&claimed, value.divisor),
                            show_value_over(&table[r][c], truth.divisor)
                        ));
                    }
                }
            }
            None
        }
        // The hunter makes no gradient claims: one here is a bug of the hunter, said loudly.
        ClaimKind::Gradient { .. } | ClaimKind::GradientCall { .. } => {
            Some("a gradient claim, which the hunter does not judge".into())
        }
    }
}

/// Whether a refutation's counterexample (`at n = 10, k = 3, i = 0, j = 1: the claim gives
/// A, the definition gives B`, or `at n = 10, k = 3 the length is L, the claim gives C`)
/// is real: recomputed by plain loops, the two values are those printed, and differ.
fn real_counterexample(spec: &Spec, kind: &ClaimKind, how: &str) -> Result<(), String> {
    let m = &spec.model;
    let rest = how.strip_prefix("at ").ok_or("no counterexample")?;
    let (place, values) = match kind {
        ClaimKind::Length { .. } => rest.split_once(" the length is ").ok_or("no length")?,
        ClaimKind::Derivative { .. } => rest.split_once(": the claim gives ").ok_or("no values")?,
        ClaimKind::Gradient { .. } | ClaimKind::GradientCall { .. } => return Err("a gradient claim".into()),
    };
    let mut env = Env::new();
    for pair in place.split(", ") {
        let (n, v) = pair.split_once(" = ").ok_or("a malformed place")?;
        env.insert(n.to_string(), v.parse::<i64>().map_err(|_| "a malformed value")?);
    }
    let sizes: Env = env.iter().filter(|(n, _)| m.sizes.contains(n)).map(|(n, v)| (n.clone(), *v)).collect();
    let truth = truth(m, sizes.clone()).ok_or("the counterexample's sizes leave nothing to compare")?;
    match kind {
        ClaimKind::Length { axis, value, .. } => {
            let (actual, claimed) = values.split_once(", the claim gives ").ok_or("no claimed length")?;
            let (actual, claimed): (i64, i64) =
                (actual.parse().map_err(|_| "a length")?, claimed.parse().map_err(|_| "a length")?);
            let mine = value.eval(&sizes).map_err(|e| e.to_string())?;
            if actual != truth.lengths[*axis] || claimed != mine || actual == claimed {
                return Err(format!("not real: the length is {}, the claim gives {mine}", truth.lengths[*axis]));
            }
            Ok(())
        }
        ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } => {
            let (claimed, defined) = values.split_once(", the definition gives ").ok_or("no definition value")?;
            let row: Vec<i64> = out_indices.iter().map(|n| env[n]).collect();
            let col: Vec<i64> = wrt_indices.iter().map(|n| env[n]).collect();
            let r = truth.rows.iter().position(|x| *x == row).ok_or("the output index is outside the domain")?;
            let dims = &truth.shapes.iter().find(|(t, _)| t == wrt).ok_or("a tensor")?.1;
            let c = tuples(dims).iter().position(|x| *x == col).ok_or("the element is outside its tensor")?;
            let definition = &truth.jacobians.iter().find(|(t, _)| t == wrt).ok_or("a tensor")?.1[r][c];
            let mut point = sizes.clone();
            point.extend(env.iter().map(|(n, v)| (n.clone(), *v)));
            let mine = formula_value(value, &point, &truth.shapes, window(&sizes));
            let (mine_text, definition_text) =
                (show_value_over(&mine, value.divisor), show_value_over(definition, truth.divisor));
            if mine_text != claimed
                || definition_text != defined
                || same_rational((&mine, value.divisor), (definition, truth.divisor))
            {
                return Err(format!(
                    "not real: recomputed, the claim gives {mine_text}, the definition {definition_text}"
                ));
            }
            Ok(())
        }
        ClaimKind::Gradient { .. } | ClaimKind::GradientCall { .. } => Err("a gradient claim".into()),
    }
}
