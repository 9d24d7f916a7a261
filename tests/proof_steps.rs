//! The proof steps `derive` prints for every shipped spec never come back to a term they
//! printed before: egg's explanations can wander (a rule, then the same rule reversed),
//! and such a detour is cut out of the steps (`src/derive/explain.rs`). Before the cut,
//! conv3d_valid's ∂L/∂x took 81 steps, 72 of them a loop back to the definition.

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

/// The first term that a list of steps prints twice, with both step numbers.
fn repeated(steps: &[Value]) -> Option<(usize, usize, String)> {
    let mut seen = BTreeMap::new();
    for (k, step) in steps.iter().enumerate() {
        let expr = step["expr"].as_str().expect("a step's term").to_string();
        if let Some(&first) = seen.get(&expr) {
            return Some((first, k, expr));
        }
        seen.insert(expr, k);
    }
    None
}

#[test]
fn no_proof_comes_back_to_a_term_it_printed() {
    let mut proofs = 0;
    for path in common::shipped_specs() {
        let out = Command::new(env!("CARGO_BIN_EXE_symconv"))
            .args(["derive", "--format", "json"])
            .arg(&path)
            .output()
            .expect("symconv runs");
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let lists =
            ["derivatives", "backward"].into_iter().flat_map(|k| report[k].as_array().cloned().unwrap_or_default());
        for entry in lists {
            let steps = entry["steps"].as_array().expect("steps");
            let wrt = entry["wrt"].as_str().expect("a tensor");
            assert!(!steps.is_empty(), "{}: ∂/∂{wrt} has no steps", path.display());
            if let Some((first, again, expr)) = repeated(steps) {
                panic!(
                    "{}: ∂/∂{}: step {again} prints step {first}'s term again: {expr}",
                    path.display(),
                    entry["wrt"]
                );
            }
            proofs += 1;
        }
    }
    assert!(proofs >= 4 * 28, "{proofs} proofs read");
}

#[test]
fn a_repeated_term_is_found() {
    let step = |e: &str| serde_json::json!({"rule": "r", "expr": e});
    assert_eq!(repeated(&[step("a"), step("b"), step("c")]), None);
    assert_eq!(repeated(&[step("a"), step("b"), step("a")]), Some((0, 2, "a".into())));
}
