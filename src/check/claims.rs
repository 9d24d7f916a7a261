//! Claims: proved by the e-graph (and checked by numbers before that is said), else
//! checked by brute force over size sets, else refuted with a counterexample.

use super::brute::{beyond_limits, brute_work, element_at, lengths, tuples, BruteForce};
use super::error::{eval_err, named, shown_sizes, CheckError};
use super::tables::{cross_check_against, first_difference, formula_table};
use super::validate::{self, Claimed, Validation};
use crate::algebra::formula::show_value_over;
use crate::algebra::{Env, Formula, Index, IndexExt};
use crate::derive::backward::{call_channels, call_length, claimed_call, shapes};
use crate::derive::{Derivation, Derivative, Prover, Step};
use crate::limits::Limits;
use crate::model::{ClaimKind, Model};
use crate::ops::{GradientCall, Shapes};

/// How a claim was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The e-graph proved it.
    Proved,
    /// Brute force agreed at every size tried.
    Checked,
    /// A counterexample disproves it.
    Refuted,
}

/// A claim with its verdict.
#[derive(Debug, Clone)]
pub struct ClaimReport {
    /// The claim as written.
    pub text: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What the verdict rests on: the proof's summary, the sizes checked, or the
    /// counterexample.
    pub grounds: String,
    /// The proof, when proved.
    pub proof: Vec<Step>,
}

/// The sizes for numeric checks: the `let` sizes, then every `n ≤ 16` (the size named
/// `n`, else the first) with every other size from its least value to `n`, at most
/// [`Limits::claim_size_sets`] sets; and how they are described.
pub fn claim_size_sets(model: &Model, limits: &Limits) -> (Vec<Env>, String) {
    let primary = model.sizes.iter().find(|n| *n == "n").or(model.sizes.first()).cloned();
    let mut sets = vec![model.values.clone()];
    let Some(primary) = primary else { return (sets, "the let sizes".into()) };
    // Each other size from its least value: 0 for a pad, else 1.
    let others: Vec<(&String, i64)> =
        model.sizes.iter().filter(|n| **n != primary).map(|n| (n, model.least(n))).collect();
    // Saturating: a spec may have dozens of sizes, and 16 to the power of them overflows.
    let count = |top: i64| {
        (1..=top)
            .map(|n| others.iter().fold(1u64, |c, (_, least)| c.saturating_mul((n - least + 1) as u64)))
            .fold(0, u64::saturating_add)
    };
    let top = (1..=16).rev().find(|&t| count(t) <= limits.claim_size_sets).unwrap_or(1);
    for n in 1..=top {
        for values in tuples(&others.iter().map(|(_, least)| (*least, n)).collect::<Vec<_>>()) {
            let mut env: Env = others.iter().map(|(s, _)| s.to_string()).zip(values).collect();
            env.insert(primary.clone(), n);
            sets.push(env);
        }
    }
    let pads = if others.iter().any(|(_, least)| *least == 0) { " (pads from 0)" } else { "" };
    let rest = match others.is_empty() {
        true => String::new(),
        false => format!(" with every other size from 1{pads} to {primary}"),
    };
    (sets, format!("the let sizes and every {primary} ≤ {top}{rest}"))
}

/// Whether every size is at least its least value and every tensor and output axis is
/// nonempty at these sizes.
pub(crate) fn nonempty_at(model: &Model, derivation: &Derivation, sizes: &Env) -> bool {
    let least_ok = model.sizes.iter().all(|n| sizes.get(n).is_some_and(|&v| v >= model.least(n)));
    let shapes_ok =
        least_ok && model.tensors.iter().all(|t| t.shape.iter().all(|d| d.eval(sizes).is_ok_and(|v| v > 0)));
    let domain_ok = derivation.domain.at(sizes).is_ok_and(|r| r.iter().all(|(lo, hi)| hi >= lo));
    shapes_ok && domain_ok
}

/// Brute force at smaller sizes than the model's, where those are too large for it: of
/// the size sets of the claims' check within [`Limits::validation_work`], one whose
/// smallest size and number of outputs are both largest (no size at 1 and no output
/// alone where another set will do), then with the most brute-force work; cross-checked
/// there.
pub(crate) fn smaller_validation(model: &Model, derivation: &Derivation) -> Result<Validation, CheckError> {
    let limits = &derivation.limits;
    let (sets, _) = claim_size_sets(model, limits);
    let sizes = sets
        .into_iter()
        .skip(1)
        .filter(|s| nonempty_at(model, derivation, s))
        .map(|s| (brute_work(model, derivation, &s), s))
        .filter(|(work, _)| *work <= limits.validation_work)
        .max_by_key(|(work, s)| {
            let outputs = derivation.domain.at(s).map_or(0, |r| lengths(&r).iter().product::<i64>());
            (s.values().copied().min().unwrap_or(0).min(outputs), *work)
        })
        .map(|(_, s)| s)
        .ok_or_else(|| CheckError::Limit("no sizes are small enough to check the proofs by numbers".into()))?;
    let brute = BruteForce::at(model, &sizes, limits)?;
    cross_check_against(model, derivation, &sizes, &brute)?;
    Ok(Validation::new(model, sizes, brute))
}

/// Settles every claim of the model as the report does: proved claims are
/// checked by numbers at the `let` sizes (or, where those are too large for brute force,
/// at the smaller sizes `report` would use), after the derivation is cross-checked there.
pub fn settle_claims(model: &Model, derivation: &Derivation) -> Result<Vec<ClaimReport>, CheckError> {
    let at = match beyond_limits(model, derivation, &model.values)? {
        None => {
            let brute = BruteForce::at(model, &model.values, &derivation.limits)?;
            cross_check_against(model, derivation, &model.values, &brute)?;
            Validation::new(model, model.values.clone(), brute)
        }
        Some(_) => smaller_validation(model, derivation)?,
    };
    claims(model, derivation, &at)
}

/// Settles every claim of the model; proved claims are checked by numbers at `at`.
pub(crate) fn claims(model: &Model, derivation: &Derivation, at: &Validation) -> Result<Vec<ClaimReport>, CheckError> {
    let prover = derivation.prover();
    model
        .claims
        .iter()
        .map(|c| match as_jacobian(model, derivation, &c.kind)? {
            AsJacobian::Unchanged => claim(model, derivation, &prover, &c.text, &c.kind, at),
            AsJacobian::Gradient { kind, coefficient, length } => {
                gradient(model, derivation, &prover, &c.text, (&kind, &coefficient, length.as_ref()), at)
            }
            AsJacobian::Unfit(grounds) => {
                Ok(ClaimReport { text: c.text.clone(), verdict: Verdict::Refuted, grounds, proof: Vec::new() })
            }
        })
        .collect()
}

/// A claim as the e-graph and brute force settle it.
pub(crate) enum AsJacobian {
    /// A length or Jacobian claim: as it is.
    Unchanged,
    /// A gradient claim `(∂L/∂t)_j = V`, `V` linear in the upstream gradient (or a call's
    /// formula): it holds exactly when `V`'s coefficient of `g_i` is `∂s_i/∂t_j` for every
    /// output `i` (and a call's output is as long as `t`), which is the Jacobian claim `kind`.
    Gradient {
        /// The Jacobian claim.
        kind: Box<ClaimKind>,
        /// The coefficient, as printed.
        coefficient: String,
        /// A call's lengths against its tensor's.
        length: Option<CallLengths>,
    },
    /// A call whose tensors' ranks do not fit it: refuted, for this reason.
    Unfit(String),
}

/// Why a claimed call's output is not `wrt`'s gradient by its channels alone, where it
/// has other channels than `wrt` (the coefficient is compared over `wrt`'s indices only,
/// so channels past them would go unseen).
fn other_channels(model: &Model, shapes: Shapes, call: &GradientCall, wrt: &str) -> Option<String> {
    let t = model.tensor(wrt)?;
    let channels = call_channels(call, shapes)?;
    let own = &t.shape[..t.shape.len().checked_sub(call.axes.len())?];
    let at = |c: &[Index]| c.iter().map(|c| c.eval(&model.values).ok()).collect::<Option<Vec<i64>>>();
    let (theirs, ours) = (at(&channels)?, at(own)?);
    // A tensor of spatial axes only is one channel.
    let ours = if ours.is_empty() { vec![1; theirs.len().min(1)] } else { ours };
    let product = |v: &[i64]| v.iter().product::<i64>();
    (product(&theirs) != product(&ours))
        .then(|| format!("the call's output has {} channels, `{wrt}` has {}", product(&theirs), product(&ours)))
}

/// A call's lengths along its spatial axes, its tensor's there, and whether the e-graph
/// proved them equal.
pub(crate) type CallLengths = (Vec<Index>, Vec<Index>, bool);

/// A claim as the Jacobian claim that settles it (see [`AsJacobian`]).
pub(crate) fn as_jacobian(model: &Model, derivation: &Derivation, kind: &ClaimKind) -> Result<AsJacobian, CheckError> {
    let (wrt, call) = match kind {
        ClaimKind::Gradient { wrt, .. } => (wrt, None),
        ClaimKind::GradientCall { wrt, call } => (wrt, Some(claimed_call(call))),
        ClaimKind::Length { .. } | ClaimKind::Derivative { .. } => return Ok(AsJacobian::Unchanged),
    };
    let d = derivative(derivation, wrt);
    let own = match (kind, &call) {
        (ClaimKind::Gradient { wrt_indices, value, .. }, _) => {
            derivation.in_own_names(model, value, &[], wrt_indices, d)
        }
        (_, Some(call)) => {
            let shapes = shapes(model, derivation);
            let unfit = call.misfit(&shapes, &model.values).or_else(|| other_channels(model, &shapes, call, wrt));
            if let Some(why) = unfit {
                return Ok(AsJacobian::Unfit(why));
            }
            match call.formula(&shapes, &d.wrt_indices) {
                Some((f, _)) => f,
                None => return Ok(AsJacobian::Unfit("the call's tensors have ranks that do not fit it".into())),
            }
        }
        _ => unreachable!("a gradient claim is in gather form or a call"),
    };
    let coefficient = derivation.upstream_coefficient(model, &own, &d.wrt_indices).map_err(|e| {
        CheckError::Limit(format!(
            "{}: {e}",
            model.claims.iter().find(|c| c.kind == *kind).map_or("", |c| c.text.as_str())
        ))
    })?;
    let index = model.output.indices.iter().map(|n| crate::algebra::index::var(n)).collect();
    let g_i = crate::algebra::Element { tensor: model.upstream.clone(), index };
    let printed = format!("its coefficient of {g_i}, {}", coefficient.show(&model.sizes));
    let length = call.as_ref().map(|call| {
        let (lengths, proved) = call_length(model, derivation, call, wrt).expect("a call with a formula has a length");
        let t = model.tensor(wrt).expect("a claim's tensor is the model's");
        (lengths.clone(), t.shape[t.shape.len() - lengths.len()..].to_vec(), proved)
    });
    let kind = ClaimKind::Derivative {
        wrt: wrt.clone(),
        out_indices: model.output.indices.clone(),
        wrt_indices: d.wrt_indices.clone(),
        value: coefficient,
    };
    Ok(AsJacobian::Gradient { kind: Box::new(kind), coefficient: printed, length })
}

/// Where a call's output length differs from its tensor's along a spatial axis, at these
/// sizes.
pub(crate) fn length_differs(
    model: &Model,
    lengths: &[Index],
    wanted: &[Index],
    wrt: &str,
    sizes: &Env,
) -> Option<String> {
    lengths.iter().zip(wanted).enumerate().find_map(|(axis, (length, want))| {
        let (a, b) = (length.eval(sizes).ok()?, want.eval(sizes).ok()?);
        let along = if lengths.len() == 1 { String::new() } else { format!(" along spatial axis {axis}") };
        (a != b).then(|| {
            format!("at {} the call's output has length {a}{along}, `{wrt}` has {b}", shown_sizes(model, sizes))
        })
    })
}

/// Lengths as written in a report: one, or a tuple of one per spatial axis.
fn shown_lengths(lengths: &[Index]) -> String {
    match lengths {
        [one] => one.to_string(),
        _ => format!("({})", lengths.iter().map(Index::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// A gradient claim's verdict: its Jacobian claim's, and a call's length checked over the
/// claims' size sets (proved only where the e-graph proved it too).
fn gradient(
    model: &Model,
    derivation: &Derivation,
    prover: &Prover,
    text: &str,
    (kind, coefficient, length): (&ClaimKind, &str, Option<&CallLengths>),
    at: &Validation,
) -> Result<ClaimReport, CheckError> {
    let ClaimKind::Derivative { wrt, .. } = kind else { unreachable!("a gradient claim is a Jacobian claim") };
    let d = derivative(derivation, wrt);
    let mut report = claim(model, derivation, prover, text, kind, at)?;
    report.grounds = format!("{coefficient}, is {}: {}", d.name(model), report.grounds);
    let Some((length, want, proved)) = length else { return Ok(report) };
    let (sets, _) = claim_size_sets(model, &derivation.limits);
    let differs = sets
        .iter()
        .filter(|s| nonempty_at(model, derivation, s))
        .find_map(|s| length_differs(model, length, want, wrt, s));
    match (differs, proved) {
        (Some(why), _) => {
            report.verdict = Verdict::Refuted;
            report.grounds = why;
            report.proof.clear();
        }
        (None, false) if report.verdict == Verdict::Proved => {
            report.verdict = Verdict::Checked;
            report.grounds = format!(
                "{}; its length {} is `{wrt}`'s at every size checked, not proved",
                report.grounds,
                shown_lengths(length)
            );
            report.proof.clear();
        }
        _ => {}
    }
    Ok(report)
}

/// One claim's verdict: refuted at once where the `let` sizes refute it, else proved
/// (and checked by numbers), else checked or refuted over the claims' size sets.
fn claim(
    model: &Model,
    derivation: &Derivation,
    prover: &Prover,
    text: &str,
    kind: &ClaimKind,
    at: &Validation,
) -> Result<ClaimReport, CheckError> {
    let settled = |verdict, grounds: String, proof| ClaimReport { text: text.to_string(), verdict, grounds, proof };
    let renamed = match kind {
        ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } => {
            Some(derivation.in_own_names(model, value, out_indices, wrt_indices, derivative(derivation, wrt)))
        }
        ClaimKind::Length { .. } | ClaimKind::Gradient { .. } | ClaimKind::GradientCall { .. } => None,
    };
    // A claim that numbers refute at the let sizes is not worth proving: it is refuted
    // with the counterexample that the check below would find first.
    let agreed = at.sizes == model.values && validate::agrees(model, derivation, kind, renamed.as_ref(), at)?;
    if at.sizes == model.values && !agreed {
        if let Some(counter) = counterexample(model, derivation, kind, &at.sizes, &at.brute)? {
            return Ok(settled(Verdict::Refuted, counter, Vec::new()));
        }
    }
    let why_not = match prove(model, derivation, prover, kind, renamed.as_ref()) {
        Ok(Some((proof, grounds))) => {
            // A proof is printed only once numbers agree with it: each step, and the claim.
            validate_proof(model, derivation, text, kind, &proof, renamed.as_ref(), agreed, at)?;
            return Ok(settled(Verdict::Proved, grounds, proof));
        }
        Ok(None) => String::new(),
        Err(e) => format!(" ({e})"),
    };
    check_by_numbers(model, derivation, kind, &why_not).map(|(verdict, grounds)| settled(verdict, grounds, Vec::new()))
}

/// The e-graph's proof of a claim (`renamed`: a derivative claim in the derivation's
/// names) and what it says, or `None` when there is none.
fn prove(
    model: &Model,
    derivation: &Derivation,
    prover: &Prover,
    kind: &ClaimKind,
    renamed: Option<&Formula>,
) -> Result<Option<(Vec<Step>, String)>, crate::derive::DeriveError> {
    match kind {
        ClaimKind::Length { axis, value, written } => {
            let proof = derivation.prove_length(model, *axis, value, written)?;
            Ok(proof.map(|p| (p, format!("the derived length is {}", derivation.lengths[*axis]))))
        }
        ClaimKind::Derivative { wrt, .. } => {
            let d = derivative(derivation, wrt);
            let renamed = renamed.expect("a derivative claim is renamed");
            let proof = prover.prove(model, d, renamed)?;
            Ok(proof.map(|proof| {
                let grounds = match proof.is_empty() {
                    true => format!("it is the derived closed form of {}", d.name(model)),
                    false => format!("it shares an e-class with the derived closed form of {}", d.name(model)),
                };
                (proof, grounds)
            }))
        }
        ClaimKind::Gradient { .. } | ClaimKind::GradientCall { .. } => Ok(None),
    }
}

/// Checks a proof by numbers at `at`: each step, and the claim against brute force
/// (already done when `agreed`). A contradiction is a bug in symconv.
#[allow(clippy::too_many_arguments)]
fn validate_proof(
    model: &Model,
    derivation: &Derivation,
    text: &str,
    kind: &ClaimKind,
    proof: &[Step],
    renamed: Option<&Formula>,
    agreed: bool,
    at: &Validation,
) -> Result<(), CheckError> {
    let agrees = match (kind, renamed) {
        (ClaimKind::Length { axis, .. }, _) => {
            validate::length(model, *axis, text, proof, at)?;
            agreed
        }
        (ClaimKind::Derivative { wrt, .. }, Some(f)) => {
            let claimed = if agreed { Claimed::Agrees } else { Claimed::Unknown(f) };
            validate::claim(model, derivative(derivation, wrt), text, proof, claimed, at)?
        }
        (ClaimKind::Derivative { .. } | ClaimKind::Gradient { .. } | ClaimKind::GradientCall { .. }, _) => agreed,
    };
    // Where the fast check by residues did not settle it, exactly.
    if !agrees {
        if let Some(why) = counterexample(model, derivation, kind, &at.sizes, &at.brute)? {
            return Err(CheckError::Bug(format!("the claim `{text}` was proved, but {why}")));
        }
    }
    Ok(())
}

/// A claim not proved, against brute force over the claims' size sets, in order, within
/// [`Limits::claim_work`]: refuted at the first counterexample, else checked.
fn check_by_numbers(
    model: &Model,
    derivation: &Derivation,
    kind: &ClaimKind,
    why_not: &str,
) -> Result<(Verdict, String), CheckError> {
    let limits = &derivation.limits;
    let (sets, described) = claim_size_sets(model, limits);
    let (mut tried, mut work, mut stopped) = (0, 0u64, None);
    for sizes in sets.iter().filter(|s| nonempty_at(model, derivation, s)) {
        let cost = brute_work(model, derivation, sizes);
        if tried > 0 && work.saturating_add(cost) > limits.claim_work {
            stopped = Some(sizes);
            break;
        }
        (tried, work) = (tried + 1, work + cost);
        let brute = BruteForce::at(model, sizes, limits)?;
        if let Some(counter) = counterexample(model, derivation, kind, sizes, &brute)? {
            // The let sizes come first: a counterexample elsewhere means the claim held there.
            let let_sizes_held = *sizes != model.values && nonempty_at(model, derivation, &model.values);
            if let_sizes_held {
                return Ok((Verdict::Refuted, held_at_let_sizes(model, derivation, kind, sizes, &counter)?));
            }
            return Ok((Verdict::Refuted, counter));
        }
    }
    let stopped = stopped.map_or(String::new(), |s| {
        format!(", in that order, stopping before {} at symconv's limit of brute-force work", shown_sizes(model, s))
    });
    Ok((
        Verdict::Checked,
        format!("not proved{why_not}; brute force agrees at {tried} size sets ({described}{stopped})"),
    ))
}

/// A counterexample to a claim that holds at the `let` sizes, said so, with the likely
/// cause: a size built into the formula or the claim as a number but declared as a name.
/// A size is offered as fixed where changing it alone from its `let` value refutes the
/// claim too; it is offered as a number, in the declaration of a tensor whose shape
/// names it.
fn held_at_let_sizes(
    model: &Model,
    derivation: &Derivation,
    kind: &ClaimKind,
    sizes: &Env,
    counter: &str,
) -> Result<String, CheckError> {
    let at = shown_sizes(model, sizes);
    let what = counter.strip_prefix(&format!("at {at}")).unwrap_or(counter).trim_start_matches([',', ' ']);
    let mut out =
        format!("it holds at the `let` sizes ({}), but not at {at}: {what}", shown_sizes(model, &model.values));
    for name in model.sizes.iter().filter(|n| sizes.get(*n) != model.values.get(*n)) {
        let mut alone = model.values.clone();
        alone.insert(name.clone(), sizes[name]);
        let limits = &derivation.limits;
        if !nonempty_at(model, derivation, &alone) || brute_work(model, derivation, &alone) > limits.claim_work {
            continue;
        }
        let brute = BruteForce::at(model, &alone, limits)?;
        if counterexample(model, derivation, kind, &alone, &brute)?.is_some() {
            out += &format!("; if {name} is fixed, write it as a number ({})", as_number(model, name));
        }
    }
    Ok(out)
}

/// Where a size would be written as its `let` value: the declaration of the first tensor
/// whose shape names it (`weight w[4]`), else the value alone.
fn as_number(model: &Model, name: &str) -> String {
    let value = model.values[name];
    let Some(t) = model.tensors.iter().find(|t| t.shape.iter().any(|d| d.mentions(name))) else {
        return value.to_string();
    };
    let role = match t.role {
        crate::model::Role::Input => "input",
        crate::model::Role::Weight => "weight",
    };
    let by = crate::algebra::Index::constant(value);
    let dims: Vec<String> = t.shape.iter().map(|d| d.substitute(name, &by).to_string()).collect();
    format!("`{role} {}[{}]`", t.name, dims.join(", "))
}

/// The derivative of a tensor that a claim names (a declared input or weight).
fn derivative<'d>(derivation: &'d Derivation, wrt: &str) -> &'d Derivative {
    derivation.derivative(wrt).expect("claims name declared tensors")
}

/// The first place where a claim and brute force disagree at one set of sizes, told with
/// the sizes, the claim's own index names and both values; `None` when they agree.
pub(crate) fn counterexample(
    model: &Model,
    derivation: &Derivation,
    kind: &ClaimKind,
    sizes: &Env,
    brute: &BruteForce,
) -> Result<Option<String>, CheckError> {
    let at = shown_sizes(model, sizes);
    let rows = &brute.rows;
    match kind {
        ClaimKind::Length { axis, value, .. } => {
            let actual = rows.iter().map(|r| r[*axis]).collect::<std::collections::BTreeSet<_>>().len() as i64;
            let claimed = value.eval(sizes).map_err(eval_err(model, sizes))?;
            Ok((actual != claimed).then(|| format!("at {at} the length is {actual}, the claim gives {claimed}")))
        }
        ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } => {
            let d = derivative(derivation, wrt);
            let renamed = derivation.in_own_names(model, value, out_indices, wrt_indices, d);
            let claimed = formula_table(model, sizes, &renamed, wrt, &d.wrt_indices, rows, &derivation.limits)?;
            let actual = &brute.jacobians[wrt];
            let Some((r, c)) = first_difference(&claimed, actual) else { return Ok(None) };
            let dims = model.shape_at(wrt, sizes).unwrap_or_default();
            let col = element_at(c, &dims);
            let indices = named(out_indices.iter().zip(&rows[r]).chain(wrt_indices.iter().zip(&col)));
            Ok(Some(format!(
                "at {at}, {}: the claim gives {}, the definition gives {}",
                indices,
                show_value_over(&claimed[r][c], d.closed_form.divisor),
                show_value_over(&actual[r][c], d.closed_form.divisor)
            )))
        }
        ClaimKind::Gradient { .. } | ClaimKind::GradientCall { .. } => {
            Err(CheckError::Bug("a gradient claim was not turned into its Jacobian claim first".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive;

    #[test]
    fn sweeps_of_specs_with_many_sizes_stay_within_the_cap() {
        // 21 sizes: 2^20 sets with every size up to 2 pass the cap, so only n = 1 is swept
        // (every other size 1), after the let sizes. 16^20 once overflowed.
        let names: Vec<String> = (0..20).map(|i| format!("a{i}")).collect();
        let src = format!(
            "input x[n + {}]\nweight w[k]\nlet n = 6, k = 3, {}\ns_i = Σ x_l w_<i+k-l-1>\n",
            names.join(" + "),
            names.iter().map(|a| format!("{a} = 1")).collect::<Vec<_>>().join(", ")
        );
        let model = crate::model::resolve(&crate::syntax::parse(&src).unwrap(), &src, "t", &[]).unwrap();
        let (sets, described) = claim_size_sets(&model, &crate::limits::Limits::default());
        assert_eq!(sets.len(), 2, "{described}");
        assert!(sets[1].values().all(|&v| v == 1), "{:?}", sets[1]);
        assert_eq!(described, "the let sizes and every n ≤ 1 with every other size from 1 to n");
    }

    #[test]
    fn a_rule_that_explodes_in_one_step_stops_at_the_match_limit() {
        let path = std::path::Path::new("tests/fixtures/zero_claim.conv");
        let model = crate::cli::load(path, None).unwrap();
        // The match limit is under test, not the time limit: a loaded machine must not
        // reach the 2 s time limit first.
        let limits = crate::limits::Limits { egraph_time: std::time::Duration::from_secs(120), ..Default::default() };
        let derivation = derive::derive(&model, &limits).unwrap();
        let ClaimKind::Derivative { wrt, out_indices, wrt_indices, value } = &model.claims[0].kind else {
            panic!("the fixture's claim is a derivative")
        };
        let d = derivation.derivative(wrt).unwrap();
        let renamed = derivation.in_own_names(&model, value, out_indices, wrt_indices, d);
        let proved = derivation.prover().prove(&model, d, &renamed);
        let Err(derive::DeriveError::Limit(why)) = proved else { panic!("expected a limit, got {proved:?}") };
        assert!(why.contains("matched more than 200000 times in one step"), "{why}");
        let at = Validation::new(
            &model,
            model.values.clone(),
            BruteForce::at(&model, &model.values, &derivation.limits).unwrap(),
        );
        let reports = claims(&model, &derivation, &at).unwrap();
        assert_eq!(reports[0].verdict, Verdict::Refuted);
        assert!(
            reports[0].grounds.contains("the claim gives 0, the definition gives x[0,0]"),
            "{}",
            reports[0].grounds
        );
    }
}
