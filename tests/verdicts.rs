//! Regressions for issue 11: every path by which a verdict was wrong, each with the spec
//! that showed it. A false claim must be refuted with a counterexample that is real.

use std::process::{Command, Output};

fn symconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `check`'s line for a spec whose one claim is false: refuted, exit 1, with the given
/// counterexample.
fn refuted(spec: &str, counterexample: &str) {
    let o = symconv(&["check", spec]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("0 proved, 0 checked, 1 refuted"), "{out}");
    assert!(out.contains(counterexample), "{out}");
}

#[test]
fn renaming_a_claim_about_x_does_not_capture_its_sum() {
    refuted(
        "tests/fixtures/capture_claim_x.conv",
        "i = 0, l = 0: the claim gives w[1] + w[2], the definition gives w[2]",
    );
}

#[test]
fn renaming_a_claim_about_w_does_not_capture_its_sum() {
    refuted(
        "tests/fixtures/capture_claim_w.conv",
        "i = 0, j = 0: the claim gives x[1] + x[2], the definition gives x[2]",
    );
}

#[test]
fn length_claims_are_proved_from_the_claim_as_written() {
    let o = symconv(&["derive", "tests/fixtures/length_forms.conv"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    for proof in [
        "1. claim          -((k - n - 1) div S)\n    2. ceil-div       (n - k) div S + 1\n",
        "1. claim                (n - k - (n - k) mod S) div S + 1\n    2. index-normalisation  (n - k - ((n - k) mod S)) div S + 1\n    3. mod-div              (n - k) div S + 1\n",
        "1. claim                (n - k + S) div S\n    2. index-normalisation  (n - k) div S + 1\n",
    ] {
        assert!(out.contains(proof), "{proof}\nnot in\n{out}");
    }
    assert_eq!(
        out.matches("domain-length        (n - k) div S + 1: the number of i with 0 ≤ i ≤ (n - k) div S").count(),
        2,
        "{out}"
    );
}

#[test]
fn true_claims_that_differ_by_implied_brackets_or_vanishing_terms_are_proved() {
    let o = symconv(&["derive", "tests/fixtures/complete_where_cheap.conv"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out.matches("  proved   ").count(), 4, "{out}");
    for step in ["implied-in-product (reversed)", "sum-zero (reversed)", "like-terms (reversed)"] {
        assert!(out.contains(step), "{step} not in\n{out}");
    }
}

#[test]
fn indices_a_bracket_makes_equal_are_written_alike_before_comparing() {
    let o = symconv(&["derive", "tests/fixtures/equal_indices.conv"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("  proved   "), "{out}");
    assert!(out.contains("equal-indices (reversed)       w_<e, 0, p-i>"), "{out}");
}

#[test]
fn pads_are_tried_at_zero_by_the_claims_sweep() {
    refuted(
        "tests/fixtures/pad_at_zero.conv",
        "but not at n = 1, k = 1, a = 0, b = 0, S = 1: i = 0, j = 0: the claim gives 0, the definition gives w[0]",
    );
    // At the let sizes but b = 0 the claim fails too; at b = 1 and the rest the same it holds.
    refuted("tests/fixtures/pad_at_zero.conv", "it holds at the `let` sizes (n = 10, k = 3, a = 2, b = 1, S = 2)");
    refuted("tests/fixtures/pad_at_zero.conv", "; if b is fixed, write it as a number (1))");
}
