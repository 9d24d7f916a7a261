//! Run lines of several spatial axes (`conv2d`, `conv3d`, `conv_transpose2d`, …) are read
//! as PyTorch reads their arguments, proved through the N-D index formulas and run on the
//! engine; a run that pads the wrong axis is not proved, and says which axis.

use serde_json::Value;
use std::process::Command;

/// `derive --format json` of a fixture: the report, which must exit 0.
fn derive(spec: &str) -> Value {
    derive_status(spec, 0)
}

/// `derive --format json` of a fixture, which must exit with `status`.
fn derive_status(spec: &str, status: i32) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_symconv"))
        .args(["derive", "--format", "json", &format!("tests/fixtures/{spec}.conv")])
        .output()
        .expect("symconv runs");
    assert_eq!(out.status.code(), Some(status), "{spec}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The detail of the spec's one run line.
fn run_detail(spec: &str) -> String {
    let report = derive(spec);
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1, "{spec}");
    runs[0]["detail"].as_str().expect("a detail").to_string()
}

#[test]
fn run_lines_of_several_axes_are_proved_for_all_sizes() {
    for spec in ["run_conv2d_strided", "run_conv_transpose2d", "run_conv3d"] {
        let detail = run_detail(spec);
        assert!(
            detail.starts_with("proved for all sizes: the call's formula has the derived output shape"),
            "{spec}: {detail}"
        );
    }
}

#[test]
fn a_run_padding_another_axis_is_not_proved_and_names_the_axis() {
    let report = derive_status("run_conv2d_wrong_padding", 1);
    let detail = report["runs"][0]["detail"].as_str().expect("a detail");
    assert!(
        detail.starts_with(
            "not proved for all sizes: its output's length V - Q + 2 along spatial axis 1 is not the derived V - Q + 1"
        ),
        "{detail}"
    );
    assert!(
        detail.ends_with("the output has shape [1, 1, 4, 4] by the formula, [1, 1, 4, 5] by the engine"),
        "{detail}"
    );
}

#[test]
fn runs_of_several_axes_agree_with_the_engine_and_name_its_composition() {
    let cases = [
        ("run_conv2d_strided", "the engine ran conv2d as candle by explicit zero padding, stride 1 followed by a strided selection"),
        ("run_conv_transpose2d", "the engine ran conv_transpose2d as candle by"),
        ("run_conv3d", "the engine ran conv3d as candle by a conv3d as a sum over the kernel's depth of conv2d calls on depth slices"),
    ];
    for (spec, composition) in cases {
        let report = derive(spec);
        let run = &report["runs"][0];
        assert_eq!(run["holds"], Value::Bool(true), "{spec}: {run}");
        let detail = run["detail"].as_str().unwrap();
        assert!(detail.contains(composition), "{spec}: {detail}");
        assert!(detail.contains("outputs agree"), "{spec}: {detail}");
        assert_eq!(detail.matches("entries of").count(), 2, "{spec}: both Jacobians are compared: {detail}");
        assert!(detail.contains("candle's autograd vᵀJ agrees with both Jacobians"), "{spec}: {detail}");
    }
}

#[test]
fn where_candles_conv2d_backward_fails_the_run_says_so_and_still_agrees() {
    // Stride 2 on a 5 × 6 input: candle takes the gradient's output_padding from the
    // height (0), the width needs 1, and its backward stops at the add.
    let report = derive("run_conv2d_candle_backward_fault");
    let run = &report["runs"][0];
    assert_eq!(run["holds"], Value::Bool(true), "{run}");
    let detail = run["detail"].as_str().unwrap();
    assert!(
        detail.contains("candle's own backward does not run here (the engine (candle) failed: shape mismatch in add, lhs: [1, 1, 5, 6], rhs: [1, 1, 5, 5]): the Jacobians come from forward passes"),
        "{detail}"
    );
    assert!(detail.contains("all 120 entries of ∂s_<i, j>/∂x_<d, u> agree"), "{detail}");
}

#[test]
fn a_true_convolution_run_without_flip_disagrees_with_a_hint() {
    let report = derive_status("run_conv2d_flipped", 1);
    let runs = report["runs"].as_array().expect("runs");
    assert_eq!(runs[0]["holds"], Value::Bool(true), "{}", runs[0]);
    assert_eq!(runs[1]["holds"], Value::Bool(false), "{}", runs[1]);
    let detail = runs[1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("hint: the formula is a true convolution, conv2d a cross-correlation: use flip(w)"),
        "{detail}"
    );
}

#[test]
fn gradients_of_runs_of_several_axes_are_named_calls_that_agree() {
    let report = derive("run_conv2d_strided");
    for gradient in report["backward"].as_array().expect("backward") {
        assert!(gradient["call"]["torch"].as_str().is_some_and(|t| t.starts_with("F.conv")), "{gradient}");
        assert_eq!(gradient["holds"], Value::Bool(true), "{gradient}");
        let detail = gradient["detail"].as_str().unwrap();
        assert!(detail.contains("the gather form equals brute force's Jᵀg"), "{detail}");
        assert!(detail.contains("on the engine (composed exactly: "), "{detail}");
    }
}
