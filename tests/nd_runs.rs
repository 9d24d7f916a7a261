//! Run lines of several spatial axes (`conv2d`, `conv3d`, `conv_transpose2d`, …) are read
//! as PyTorch reads their arguments and proved through the N-D index formulas; a run that
//! pads the wrong axis is not proved, and says which axis.

use serde_json::Value;
use std::process::Command;

/// `derive --format json` of a fixture: the report, which must exit 0.
fn derive(spec: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_symconv"))
        .args(["derive", "--format", "json", &format!("tests/fixtures/{spec}.conv")])
        .output()
        .expect("symconv runs");
    assert_eq!(out.status.code(), Some(0), "{spec}: {}", String::from_utf8_lossy(&out.stderr));
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
    let detail = run_detail("run_conv2d_wrong_padding");
    assert!(
        detail.starts_with(
            "not proved for all sizes: its output's length V - Q + 2 along spatial axis 1 is not the derived V - Q + 1"
        ),
        "{detail}"
    );
}

#[test]
fn runs_of_several_axes_say_they_are_not_executed_and_hold_no_verdict() {
    let report = derive("run_conv2d_strided");
    let run = &report["runs"][0];
    assert_eq!(run["holds"], Value::Null, "{run}");
    assert!(
        run["detail"].as_str().unwrap().ends_with("not executed: symconv does not run conv2d on the engine yet"),
        "{run}"
    );
    // The gradients stand in gather form, checked against brute force; no call is named.
    for gradient in report["backward"].as_array().expect("backward") {
        assert_eq!(gradient["call"], Value::Null, "{gradient}");
        let detail = gradient["detail"].as_str().unwrap();
        assert!(detail.contains("symconv names no single engine call for a gradient of conv2d yet"), "{detail}");
        assert!(detail.contains("the gather form equals brute force's Jᵀg"), "{detail}");
    }
}
