//! Translation validation: every printed proof step and every proved claim, checked by
//! numbers. Each step's Jacobian, at every output index of the domain and every element
//! of its tensor, must equal the step's before it (the first, brute force's); a proved
//! claim must equal brute force. A disagreement is a bug in symconv, never a verdict.

use super::brute::{element_at, BruteForce};
use super::error::{eval_err, named, shown_sizes, CheckError};
use super::tables::first_difference;
use crate::algebra::formula::show_value_over;
use crate::algebra::Element;
use crate::algebra::{Env, Formula, IndexExt};
use crate::derive::eval::{self, Columns, Num};
use crate::derive::lang::Leaf;
use crate::derive::{Derivation, Derivative, Step, Tree};
use crate::model::{ClaimKind, Model};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;

/// Brute force at the sizes at which proofs are checked.
pub(crate) struct Validation {
    /// The sizes.
    pub sizes: Env,
    /// Brute force there.
    pub brute: BruteForce,
    /// Every tensor's shape there.
    pub shapes: BTreeMap<String, Vec<i64>>,
}

impl Validation {
    /// Brute force at `sizes`, with the tensors' shapes there.
    pub fn new(model: &Model, sizes: Env, brute: BruteForce) -> Validation {
        let shapes =
            model.tensors.iter().filter_map(|t| Some((t.name.clone(), model.shape_at(&t.name, &sizes)?))).collect();
        Validation { sizes, brute, shapes }
    }
}

/// Checks every derivative's steps: the first (the definition) against brute force, each
/// later one against the one before. The last is the closed form.
pub(crate) fn derivation(model: &Model, derivation: &Derivation, at: &Validation) -> Result<(), CheckError> {
    for d in &derivation.derivatives {
        let Some(definition) = d.steps.first() else { continue };
        let expected = &at.brute.jacobians[&d.wrt];
        // The definition's pieces, kept for the next step, which changes some of them.
        let mut memo = Vec::new();
        let mut sum = table(model, d, &[], at)?;
        for p in pieces(&definition.term) {
            let tree = p.tree();
            let piece = table(model, d, std::slice::from_ref(&tree), at)?;
            add_into(&mut sum, &piece);
            memo.push((tree, piece));
        }
        if let Some((r, c)) = first_difference(
            &sum,
            &expected.iter().map(|row| row.iter().map(eval::number).collect::<Vec<_>>()).collect::<Vec<_>>(),
        ) {
            return Err(CheckError::Bug(format!(
                "step 0 of {} ({}: {}) is contradicted by numbers: at {} it gives {}, brute force gives {}",
                d.name(model),
                definition.rule,
                definition.expr,
                place(model, d, &at.brute.rows[r], c, at),
                exact_entry(model, d, &definition.term, r, c, at)?,
                show_value_over(&expected[r][c], d.closed_form.divisor)
            )));
        }
        chain(model, d, (&definition.term, "step 0 (definition)"), &d.steps[1..], &d.name(model), at, memo)?;
    }
    Ok(())
}

/// Checks a claim's proof, from `d`'s closed form (the last step of its derivation, which
/// [`derivation`] checks) through each step to the claim itself (`claimed`, in the
/// derivative's names): `false` when the claim disagrees with the proof's last step.
pub(crate) fn claim(
    model: &Model,
    d: &Derivative,
    text: &str,
    proof: &[Step],
    claimed: Claimed,
    at: &Validation,
) -> Result<bool, CheckError> {
    let Some(closed) = d.steps.last() else { return Ok(false) };
    let what = format!("the proof of `{text}`");
    let mut memo = chain(model, d, (&closed.term, "the closed form"), proof, &what, at, Vec::new())?;
    let last = proof.last().map_or(&closed.term, |s| &s.term);
    match claimed {
        // The last step equals the closed form, which is brute force's, and so the claim.
        Claimed::Agrees => Ok(true),
        Claimed::Unknown(f) => Ok(difference(model, d, last, &Tree::from_formula(f), at, &mut memo)?.is_none()),
    }
}

/// What is known of a proved claim before its proof is checked.
pub(crate) enum Claimed<'f> {
    /// Numbers at these sizes agree with brute force already (see [`agrees`]).
    Agrees,
    /// Nothing: the claim's value, in the derivative's names.
    Unknown(&'f Formula),
}

/// Whether a claim (a derivative's `renamed` to the derivation's names) agrees with brute
/// force at `at`'s sizes, read at the elements' residues (a `false` is then made exact
/// by the caller's counterexample).
pub(crate) fn agrees(
    model: &Model,
    derivation: &Derivation,
    kind: &ClaimKind,
    renamed: Option<&Formula>,
    at: &Validation,
) -> Result<bool, CheckError> {
    match (kind, renamed) {
        (ClaimKind::Length { axis, value, .. }, _) => {
            let actual = at.brute.rows.iter().map(|r| r[*axis]).collect::<BTreeSet<_>>().len() as i64;
            Ok(value.eval(&at.sizes).map_err(eval_err(model, &at.sizes))? == actual)
        }
        (ClaimKind::Derivative { .. } | ClaimKind::Gradient { .. } | ClaimKind::GradientCall { .. }, None) => Ok(false),
        (
            ClaimKind::Derivative { wrt, .. } | ClaimKind::Gradient { wrt, .. } | ClaimKind::GradientCall { wrt, .. },
            Some(claimed),
        ) => {
            let d = derivation.derivative(wrt).expect("claims name declared tensors");
            let expected: Table =
                at.brute.jacobians[&d.wrt].iter().map(|row| row.iter().map(eval::number).collect()).collect();
            Ok(table(model, d, &[Tree::from_formula(claimed)], at)? == expected)
        }
    }
}

/// Checks a length claim's proof: each step's value at the sizes is the length along
/// `axis` that brute force finds.
pub(crate) fn length(
    model: &Model,
    axis: usize,
    text: &str,
    proof: &[Step],
    at: &Validation,
) -> Result<(), CheckError> {
    let actual = at.brute.rows.iter().map(|r| r[axis]).collect::<BTreeSet<_>>().len() as i64;
    for (k, step) in proof.iter().enumerate() {
        let Tree::Leaf(Leaf::Value(p)) = &step.term else {
            return Err(CheckError::Bug(format!("step {} of the proof of `{text}` is no length", k + 1)));
        };
        let value = p.eval(&at.sizes).map_err(eval_err(model, &at.sizes))?;
        if value != actual {
            return Err(CheckError::Bug(format!(
                "step {} of the proof of `{text}` ({}: {}) is contradicted by numbers: at {} it gives {value}, \
                 brute force finds a length of {actual}",
                k + 1,
                step.rule,
                step.expr,
                shown_sizes(model, &at.sizes)
            )));
        }
    }
    Ok(())
}

/// Checks that each step (numbered from 1) equals the one before, the first `start`
/// (a term and what to call it). Only the pieces of
/// the sum that a step changes are evaluated: it holds when the pieces it drops add up
/// to the pieces it brings. `memo` holds tables of `start`'s pieces where known; the
/// tables of the last step's new pieces are returned.
fn chain(
    model: &Model,
    d: &Derivative,
    start: (&Tree, &str),
    steps: &[Step],
    what: &str,
    at: &Validation,
    mut memo: Vec<(Tree, Table)>,
) -> Result<Vec<(Tree, Table)>, CheckError> {
    let (mut previous, start_name) = start;
    for (k, step) in steps.iter().enumerate() {
        if let Some((r, c)) = difference(model, d, previous, &step.term, at, &mut memo)? {
            let before = match k.checked_sub(1) {
                None => start_name.to_string(),
                Some(b) => format!("step {} ({})", b + 1, steps[b].rule),
            };
            return Err(CheckError::Bug(format!(
                "step {} of {what} ({}: {}) is contradicted by numbers: at {} it gives {}, {before} gives {}",
                k + 1,
                step.rule,
                step.expr,
                place(model, d, &at.brute.rows[r], c, at),
                exact_entry(model, d, &step.term, r, c, at)?,
                exact_entry(model, d, previous, r, c, at)?,
            )));
        }
        previous = &step.term;
    }
    Ok(memo)
}

/// A Jacobian as residues, row by row.
type Table = Vec<Vec<Num>>;

/// The first entry where two trees' Jacobians differ, comparing only the pieces of their
/// sums that are not in both. `memo` holds the tables of the pieces `a` brought in the
/// step before, and then those `b` brings.
fn difference(
    model: &Model,
    d: &Derivative,
    a: &Tree,
    b: &Tree,
    at: &Validation,
    memo: &mut Vec<(Tree, Table)>,
) -> Result<Option<(usize, usize)>, CheckError> {
    let (a, b) = (pieces(a), pieces(b));
    let mut left: HashMap<&Piece, usize, BuildHasherDefault<Fnv>> = HashMap::default();
    for t in &a {
        *left.entry(t).or_default() += 1;
    }
    let mut added = Vec::new();
    for t in &b {
        match left.get_mut(t) {
            Some(n) if *n > 0 => *n -= 1,
            _ => added.push(t),
        }
    }
    let mut removed = Vec::new();
    for t in &a {
        if let Some(n) = left.get_mut(t).filter(|n| **n > 0) {
            *n -= 1;
            removed.push(t);
        }
    }
    if added.is_empty() && removed.is_empty() {
        return Ok(None);
    }
    let mut before = table(model, d, &[], at)?;
    for p in removed {
        let tree = p.tree();
        let piece = match memo.iter().position(|(t, _)| *t == tree) {
            Some(at) => memo.swap_remove(at).1,
            None => table(model, d, &[tree], at)?,
        };
        add_into(&mut before, &piece);
    }
    let mut after = table(model, d, &[], at)?;
    memo.clear();
    for p in added {
        let tree = p.tree();
        let piece = table(model, d, std::slice::from_ref(&tree), at)?;
        add_into(&mut after, &piece);
        memo.push((tree, piece));
    }
    Ok(first_difference(&before, &after))
}

fn add_into(sum: &mut Table, t: &Table) {
    for (acc, row) in sum.iter_mut().zip(t) {
        acc.iter_mut().zip(row).for_each(|(a, v)| *a = *a + *v);
    }
}

/// The tree as a sum of pieces, by the linearity of Σ and ∂: `∂(a + b)/∂t` is
/// `∂a/∂t + ∂b/∂t`, and `Σ_v (a + b)` is `Σ_v a + Σ_v b` (each side bounded exactly where
/// the whole is: what bounds a sum's index bounds both of its terms).
fn pieces(t: &Tree) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    split(t, &mut Vec::new(), &mut out);
    out
}

fn split<'t>(t: &'t Tree, wraps: &mut Vec<Wrap<'t>>, out: &mut Vec<Piece<'t>>) {
    match t {
        Tree::Add(a, b) => {
            split(a, wraps, out);
            split(b, wraps, out);
        }
        Tree::Diff(b, target) if matches!(**b, Tree::Add(..) | Tree::Sum(..) | Tree::Diff(..)) => {
            wraps.push(Wrap::Diff(target));
            split(b, wraps, out);
            wraps.pop();
        }
        Tree::Sum(v, b) => {
            wraps.push(Wrap::Sum(v));
            split(b, wraps, out);
            wraps.pop();
        }
        _ => out.push(Piece { wraps: wraps.clone(), core: t }),
    }
}

/// FNV-1a: the pieces of every step are hashed, and SipHash's defence against chosen
/// keys is not needed for them.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A piece of a tree: a term of its sums, under the Σs and ∂s around it (outermost first).
#[derive(PartialEq, Eq, Hash)]
struct Piece<'t> {
    wraps: Vec<Wrap<'t>>,
    core: &'t Tree,
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum Wrap<'t> {
    Sum(&'t str),
    Diff(&'t Element),
}

impl Piece<'_> {
    fn tree(&self) -> Tree {
        self.wraps.iter().rev().fold(self.core.clone(), |inner, w| match w {
            Wrap::Sum(v) => Tree::Sum(v.to_string(), Box::new(inner)),
            Wrap::Diff(t) => Tree::Diff(Box::new(inner), (*t).clone()),
        })
    }
}

/// The Jacobian of a sum of trees over the domain's rows and every element of `d`'s
/// tensor, read at the elements' residues (see [`eval::rows`]).
fn table(model: &Model, d: &Derivative, terms: &[Tree], at: &Validation) -> Result<Table, CheckError> {
    let dims = at.shapes.get(&d.wrt).cloned().unwrap_or_default();
    let columns = Columns { tensor: &d.wrt, names: &d.wrt_indices, dims: &dims };
    let mut sum = vec![vec![Num::default(); columns.count()]; at.brute.rows.len()];
    for t in terms {
        let rows = eval::rows(t, &at.sizes, &model.output.indices, &at.brute.rows, &at.shapes, &columns)
            .map_err(|e| eval_err(model, &at.sizes)(e))?;
        add_into(&mut sum, &rows);
    }
    Ok(sum)
}

/// A step's entry at row `r` and column `c`, exactly, as text.
fn exact_entry(
    model: &Model,
    d: &Derivative,
    term: &Tree,
    r: usize,
    c: usize,
    at: &Validation,
) -> Result<String, CheckError> {
    let mut env = at.sizes.clone();
    env.extend(model.output.indices.iter().cloned().zip(at.brute.rows[r].iter().copied()));
    env.extend(d.wrt_indices.iter().cloned().zip(element(model, d, c, at)));
    let v = eval::value(term, &env, &at.shapes).map_err(eval_err(model, &at.sizes))?;
    Ok(show_value_over(&v, d.closed_form.divisor))
}

/// The index tuple of column `c` of `d`'s tensor.
fn element(model: &Model, d: &Derivative, c: usize, at: &Validation) -> Vec<i64> {
    element_at(c, &model.shape_at(&d.wrt, &at.sizes).unwrap_or_default())
}

/// `n = 10, k = 3, i = 2, j = 3`: the sizes, the output index and the element's.
fn place(model: &Model, d: &Derivative, row: &[i64], c: usize, at: &Validation) -> String {
    let element = element(model, d, c, at);
    let indices = model.output.indices.iter().zip(row).chain(d.wrt_indices.iter().zip(&element));
    format!("{}, {}", shown_sizes(model, &at.sizes), named(indices))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algebra::Index;
    use crate::derive::lang::Leaf;

    fn standard() -> (Model, Derivation, Validation) {
        let src = "input x[n]\nweight w[k]\nlet n = 6, k = 3\ns_i = Σ x_j w_<i+k-j-1>\n";
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let derivation = crate::derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        let at = Validation::new(
            &model,
            model.values.clone(),
            BruteForce::at(&model, &model.values, &derivation.limits).unwrap(),
        );
        (model, derivation, at)
    }

    /// The step's term with every `w` element read one place further: a wrong rewrite.
    fn shifted(t: &Tree) -> Tree {
        match t {
            Tree::Leaf(Leaf::Element(e)) if e.tensor == "w" => {
                Tree::Leaf(Leaf::Element(Element { index: vec![e.index[0].add(&Index::constant(1))], ..e.clone() }))
            }
            Tree::Leaf(_) => t.clone(),
            Tree::Add(a, b) => Tree::Add(Box::new(shifted(a)), Box::new(shifted(b))),
            Tree::Mul(a, b) => Tree::Mul(Box::new(shifted(a)), Box::new(shifted(b))),
            Tree::Sum(v, b) => Tree::Sum(v.clone(), Box::new(shifted(b))),
            Tree::Diff(b, target) => Tree::Diff(Box::new(shifted(b)), target.clone()),
        }
    }

    #[test]
    fn every_step_of_a_derivation_agrees_with_the_one_before() {
        let (model, derivation, at) = standard();
        assert_eq!(super::derivation(&model, &derivation, &at), Ok(()));
    }

    #[test]
    fn a_step_contradicted_by_numbers_is_a_bug_with_the_step_the_indices_and_both_values() {
        let (model, mut derivation, at) = standard();
        let steps = &mut derivation.derivatives[0].steps;
        let k = steps.iter().position(|s| s.rule == "sigma-delta").expect("Σ-δ elimination is a step");
        steps[k].term = shifted(&steps[k].term);
        let Err(CheckError::Bug(why)) = super::derivation(&model, &derivation, &at) else { panic!("not caught") };
        assert!(why.starts_with(&format!("step {k} of ∂s_i/∂x_j (sigma-delta: ")), "{why}");
        let expected = format!("at n = 6, k = 3, i = 0, j = 0 it gives 0, step {} (d-element) gives w[2]", k - 1);
        assert!(why.ends_with(&expected), "{why}");
    }

    #[test]
    fn the_first_step_after_the_definition_is_compared_with_it() {
        let (model, mut derivation, at) = standard();
        let second = &mut derivation.derivatives[0].steps[1];
        second.term = shifted(&second.term);
        let Err(CheckError::Bug(why)) = super::derivation(&model, &derivation, &at) else { panic!("not caught") };
        assert!(why.starts_with("step 1 of ∂s_i/∂x_j (d-sum: "), "{why}");
        assert!(why.contains(", step 0 (definition) gives "), "{why}");
    }

    #[test]
    fn a_wrong_definition_step_is_caught_against_brute_force() {
        let (model, mut derivation, at) = standard();
        let first = &mut derivation.derivatives[1].steps[0];
        first.term = shifted(&first.term);
        let Err(CheckError::Bug(why)) = super::derivation(&model, &derivation, &at) else { panic!("not caught") };
        assert!(why.starts_with("step 0 of ∂s_i/∂w_m (definition: "), "{why}");
        assert!(why.contains("brute force gives x[2]"), "{why}");
    }

    #[test]
    fn a_proof_and_a_claim_are_checked_to_its_end() {
        let (model, derivation, at) = standard();
        let d = &derivation.derivatives[0];
        let closed = d.steps.last().unwrap().term.clone();
        let claimed = closed.to_formula().unwrap();
        // The closed form proves itself; a claim one place off does not follow from it.
        assert_eq!(claim(&model, d, "c", &[], Claimed::Unknown(&claimed), &at), Ok(true));
        let off = shifted(&closed).to_formula().unwrap();
        assert_eq!(claim(&model, d, "c", &[], Claimed::Unknown(&off), &at), Ok(false));
        // A proof step that is wrong is a bug.
        let wrong = Step::new("mul-comm", shifted(&closed), &model.sizes);
        let Err(CheckError::Bug(why)) = claim(&model, d, "c", &[wrong], Claimed::Unknown(&off), &at) else {
            panic!("not caught")
        };
        assert!(why.starts_with("step 1 of the proof of `c` (mul-comm: "), "{why}");
        assert!(why.contains("the closed form gives"), "{why}");
    }
}
