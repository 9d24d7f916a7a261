//! `--sweep`: every symbolic result and every claim against brute force at every
//! combination of size ranges, on all cores.

use super::brute::{box_size, tuples, BruteForce};
use super::claims::{as_jacobian, counterexample, length_differs, nonempty_at, AsJacobian, ClaimReport, Verdict};
use super::error::CheckError;
use super::tables::{cross_check_against, first_difference, formula_table};
use crate::algebra::{Env, Formula};
use crate::derive::Derivation;
use crate::model::ClaimKind;
use crate::model::Model;
use std::collections::BTreeMap;

/// A range of values for one size: `n = 1..32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeRange {
    /// The size.
    pub name: String,
    /// The first value.
    pub lo: i64,
    /// The last value (inclusive).
    pub hi: i64,
}

/// What a sweep found.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    /// The ranges swept; other sizes kept their values.
    pub ranges: Vec<SizeRange>,
    /// How many size sets were checked.
    pub checked: usize,
    /// How many were skipped because a tensor or the output is empty there.
    pub skipped: usize,
    /// For each claim that fails somewhere, its text and the first counterexample.
    pub failures: Vec<(String, String)>,
}

/// Cross-checks every symbolic result (domain, lengths, closed forms) and every claim
/// against brute force at every combination of the ranges, the other sizes keeping their
/// values, on all cores; `tick` is called once per size set. A disagreement of a symbolic
/// result, or of a claim that `claims` says was proved, is a bug ([`CheckError::Bug`]);
/// another claim's is a counterexample in the report.
pub fn sweep_check(
    model: &Model,
    derivation: &Derivation,
    claims: &[ClaimReport],
    ranges: &[SizeRange],
    tick: &(dyn Fn() + Sync),
) -> Result<SweepReport, CheckError> {
    let proved: Vec<bool> = claims.iter().map(|c| c.verdict == Verdict::Proved).collect();
    for r in ranges {
        if !model.sizes.contains(&r.name) {
            return Err(CheckError::Sizes(format!("--sweep names `{}`, which is no size of this spec", r.name)));
        }
        if r.lo < 0 || r.hi < r.lo {
            return Err(CheckError::Sizes(format!("--sweep {} = {}..{} is no range of sizes", r.name, r.lo, r.hi)));
        }
    }
    let count = box_size(ranges.iter().map(|r| (r.lo, r.hi)));
    let limit = derivation.limits.sweep_size_sets;
    if count > limit {
        return Err(CheckError::Sizes(format!("--sweep spans {count} size sets; the limit is {limit}")));
    }
    let sets: Vec<Env> = tuples(&ranges.iter().map(|r| (r.lo, r.hi)).collect::<Vec<_>>())
        .into_iter()
        .map(|values| {
            let mut env = model.values.clone();
            env.extend(ranges.iter().map(|r| r.name.clone()).zip(values));
            env
        })
        .collect();
    let proved = proved.as_slice();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, sets.len().max(1));
    let chunk = sets.len().div_ceil(threads).max(1);
    let shares: Vec<Result<SweepShare, CheckError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sets
            .chunks(chunk)
            .enumerate()
            .map(|(k, share)| scope.spawn(move || sweep_share(model, derivation, proved, share, k * chunk, tick)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(CheckError::Bug("a sweep thread panicked".into()))))
            .collect()
    });
    let mut report = SweepReport { ranges: ranges.to_vec(), checked: 0, skipped: 0, failures: Vec::new() };
    let mut first: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    for share in shares {
        let share = share?;
        report.checked += share.checked;
        report.skipped += share.skipped;
        for (claim, at, counter) in share.failures {
            if first.get(&claim).is_none_or(|(seen, _)| at < *seen) {
                first.insert(claim, (at, counter));
            }
        }
    }
    report.failures = first.into_iter().map(|(c, (_, counter))| (model.claims[c].text.clone(), counter)).collect();
    Ok(report)
}

/// One thread's share of a sweep: counts, and `(claim, set, counterexample)` failures.
struct SweepShare {
    checked: usize,
    skipped: usize,
    failures: Vec<(usize, usize, String)>,
}

fn sweep_share(
    model: &Model,
    derivation: &Derivation,
    proved: &[bool],
    sets: &[Env],
    offset: usize,
    tick: &(dyn Fn() + Sync),
) -> Result<SweepShare, CheckError> {
    let mut share = SweepShare { checked: 0, skipped: 0, failures: Vec::new() };
    let jacobian =
        model.claims.iter().map(|c| as_jacobian(model, derivation, &c.kind)).collect::<Result<Vec<_>, _>>()?;
    let renamed: Vec<Option<Renamed>> =
        model.claims.iter().zip(&jacobian).map(|(c, j)| renamed(model, derivation, &c.kind, j)).collect();
    for (k, sizes) in sets.iter().enumerate() {
        tick();
        if !nonempty_at(model, derivation, sizes) {
            share.skipped += 1;
            continue;
        }
        share.checked += 1;
        let brute = BruteForce::at(model, sizes, &derivation.limits)?;
        cross_check_against(model, derivation, sizes, &brute)?;
        for (c, ((claim, as_jacobian), renamed)) in model.claims.iter().zip(&jacobian).zip(&renamed).enumerate() {
            if share.failures.iter().any(|(seen, _, _)| *seen == c) {
                continue;
            }
            let counter = match as_jacobian {
                AsJacobian::Unchanged => claim_counterexample(model, derivation, &claim.kind, renamed, sizes, &brute)?,
                AsJacobian::Gradient { kind, length, .. } => {
                    let wrt = match kind.as_ref() {
                        ClaimKind::Derivative { wrt, .. } => wrt.as_str(),
                        _ => "",
                    };
                    let short = length.as_ref().and_then(|(l, want, _)| length_differs(model, l, want, wrt, sizes));
                    match short {
                        Some(why) => Some(why),
                        None => claim_counterexample(model, derivation, kind, renamed, sizes, &brute)?,
                    }
                }
                AsJacobian::Unfit(_) => None,
            };
            if let Some(counter) = counter {
                if proved.get(c) == Some(&true) {
                    return Err(CheckError::Bug(format!("the claim `{}` was proved, but {counter}", claim.text)));
                }
                share.failures.push((c, offset + k, counter));
            }
        }
    }
    Ok(share)
}

/// A Jacobian claim's value in its derivative's names, and the derivative's index names:
/// what [`counterexample`] works out first at every size set, worked out once.
struct Renamed {
    formula: Formula,
    wrt_indices: Vec<String>,
}

/// The claim `kind` (as [`AsJacobian`] turns it) renamed, when it is a Jacobian claim.
fn renamed(model: &Model, derivation: &Derivation, kind: &ClaimKind, as_jacobian: &AsJacobian) -> Option<Renamed> {
    let kind = match as_jacobian {
        AsJacobian::Unchanged => kind,
        AsJacobian::Gradient { kind, .. } => kind,
        AsJacobian::Unfit(_) => return None,
    };
    let ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } = kind else { return None };
    let d = derivation.derivative(wrt)?;
    let formula = derivation.in_own_names(model, value, out_indices, wrt_indices, d);
    Some(Renamed { formula, wrt_indices: d.wrt_indices.clone() })
}

/// [`counterexample`], with a Jacobian claim's table made from its value `renamed` once:
/// where it agrees with brute force, there is none; elsewhere `counterexample` tells it.
fn claim_counterexample(
    model: &Model,
    derivation: &Derivation,
    kind: &ClaimKind,
    renamed: &Option<Renamed>,
    sizes: &Env,
    brute: &BruteForce,
) -> Result<Option<String>, CheckError> {
    if let (Some(r), ClaimKind::Derivative { wrt, .. }) = (renamed, kind) {
        let claimed = formula_table(model, sizes, &r.formula, wrt, &r.wrt_indices, &brute.rows, &derivation.limits)?;
        if brute.jacobians.get(wrt).is_some_and(|actual| first_difference(&claimed, actual).is_none()) {
            return Ok(None);
        }
    }
    counterexample(model, derivation, kind, sizes, brute)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive;

    #[test]
    fn a_proved_claim_that_fails_in_a_sweep_is_a_bug() {
        // `len(s) = n - k + 1` holds; told that a false `len(s) = n` was proved, the sweep
        // must stop with a bug, not list a counterexample.
        let src = "input x[n]\nweight w[k]\nlet n = 6, k = 3\ns_i = Σ x_l w_<i+k-l-1>\nclaim len(s) = n\n";
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let derivation = derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        let ranges = [SizeRange { name: "n".into(), lo: 3, hi: 4 }];
        let told =
            |verdict| vec![ClaimReport { text: "len(s) = n".into(), verdict, grounds: String::new(), proof: vec![] }];
        let report = sweep_check(&model, &derivation, &told(Verdict::Refuted), &ranges, &|| ()).unwrap();
        assert_eq!(report.failures.len(), 1);
        let err = sweep_check(&model, &derivation, &told(Verdict::Proved), &ranges, &|| ()).unwrap_err();
        assert!(matches!(&err, CheckError::Bug(why) if why.contains("`len(s) = n` was proved, but at n = 3")), "{err}");
    }
}
