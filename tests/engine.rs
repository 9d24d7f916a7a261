//! The engine against the definitions, independently of the closed forms: for every shipped
//! spec, the engine's Jacobians of its `run` line equal the brute-force Jacobians of the
//! formula itself (expanded and differentiated formally), at the spec's sizes, on the same
//! distinct integer values; and disagreements come with the hint that explains them.

mod common;

use std::process::Command;
use symconv::check::{self, RunOptions};
use symconv::cli::load;
use symconv::limits::Limits;

#[test]
fn engine_jacobians_equal_the_formulas_brute_force_jacobians() {
    let limits = Limits::default();
    let mut compared = 0;
    for path in common::shipped_specs().iter().filter(|p| !p.ends_with("seed.conv")) {
        let model = load(path, None).unwrap();
        let sizes = &model.values;
        // A layer's run (pooling, upsampling) is compared in `tests/engine_layers.rs`.
        let Some(run) = model.runs.first() else { continue };
        // `conv_of` and `run_engine` are the 1-D engine's; a run of several spatial axes
        // goes through the N-D compositions, which `tests/engine_nd.rs` compares with
        // plain loops, and whose Jacobians every shipped spec's run compares entry by
        // entry with the closed forms (`tests/snapshots.rs` asserts that each agrees).
        if run.op.spatial() > 1 {
            continue;
        }
        let data = check::values(&model, sizes, RunOptions::default());
        let (x, w) = (&data[&run.input], &data[&run.weight]);
        let engine = check::run_engine(&check::conv_of(&model, run, sizes, &limits).unwrap(), x, w).unwrap();
        let rows = check::brute_domain(&model, sizes, &limits).unwrap();
        for (tensor, jacobian) in [(&run.input, &engine.jacobian_x), (&run.weight, &engine.jacobian_w)] {
            let brute = check::brute_jacobian(&model, sizes, tensor, &rows, &limits).unwrap();
            let ours: Vec<f64> = brute.iter().flatten().map(|v| check::numeric(v, &data)).collect();
            assert_eq!(ours, jacobian.data, "{}: ∂s/∂{tensor}", path.display());
            compared += ours.len();
        }
    }
    assert!(compared > 2000, "{compared} entries compared");
}

fn derive_text(spec: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_symconv")).arg("derive").arg(spec).args(extra).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_true_convolution_on_plain_conv1d_is_told_to_flip() {
    let (code, out) = derive_text("specs/seed.conv", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("DISAGREES conv1d(x, w)"), "{out}");
    assert!(out.contains("hint: the formula is a true convolution, conv1d a cross-correlation: use flip(w)"), "{out}");
}

#[test]
fn all_ones_weights_pass_what_the_seed_checked_and_say_what_they_cannot_tell() {
    let (code, out) = derive_text("specs/seed.conv", &["--weights", "ones"]);
    assert_eq!(code, 1, "∂s/∂w still disagrees: x is distinct");
    assert!(out.contains("all 8 outputs agree"), "{out}");
    assert!(out.contains("all 80 entries of ∂s_i/∂x_j agree (engine by autograd)"), "{out}");
    assert!(out.contains("cannot tell one weight from another (w_0 from w_2)"), "{out}");
    let (code, out) = derive_text("specs/standard.conv", &["--weights", "ones"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("cannot tell one weight from another"), "{out}");
}

#[test]
fn padding_off_by_one_is_told_as_a_shift() {
    let (code, out) = derive_text("tests/fixtures/off_by_one_pad.conv", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("hint: engine output i is formula output i - 1: the padding is off by 1"), "{out}");
}

#[test]
fn a_stride_mismatch_is_told() {
    let (code, out) = derive_text("tests/fixtures/stride_mismatch.conv", &[]);
    assert_eq!(code, 1);
    assert!(out.contains("hint: the engine with stride = 2, dilation = 1 agrees"), "{out}");
}

#[test]
fn the_seed_chooses_the_values() {
    let (_, a) = derive_text("specs/seed.conv", &["--seed", "1"]);
    let (_, b) = derive_text("specs/seed.conv", &["--seed", "2"]);
    let first = |s: &str| s.lines().find(|l| l.contains("outputs disagree")).unwrap_or("").to_string();
    assert!(a.contains("with seed 1") && b.contains("with seed 2"));
    assert_ne!(first(&a), first(&b), "different seeds, different values");
}
