//! The seed's two checks, recomputed by hand: every Jacobian entry from the index formulas
//! written out with plain integers (no symconv algebra), against `table --format json`.

use serde_json::Value;
use std::process::Command;

fn table_json(spec: &str, wrt: &str, sizes: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_symconv"))
        .args(["table", spec, "--wrt", wrt, "--format", "json", "--let", sizes])
        .output()
        .expect("symconv runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// `entry(i, j)`: the index of the tensor element in ∂s_i/∂t_j, or `None` for 0.
fn expected(rows: i64, cols: i64, tensor: &str, entry: impl Fn(i64, i64) -> Option<i64>) -> Value {
    let table: Vec<Vec<String>> = (0..rows)
        .map(|i| (0..cols).map(|j| entry(i, j).map_or("0".to_string(), |e| format!("{tensor}[{e}]"))).collect())
        .collect();
    serde_json::to_value(table).expect("strings")
}

fn in_range(e: i64, len: i64) -> Option<i64> {
    (0..len).contains(&e).then_some(e)
}

#[test]
fn standard_convolution_matches_the_seed_formulas() {
    for (n, k) in [(10, 3), (7, 1), (5, 5), (12, 4)] {
        let sizes = format!("n={n},k={k}");
        let jx = table_json("specs/standard.conv", "x", &sizes);
        assert_eq!(jx["output_shape"], serde_json::json!([n - k + 1]), "length n - k + 1");
        // ∂s_i/∂x_j = w_<i+k-j-1> where 0 ≤ i+k-j-1 ≤ k-1
        assert_eq!(jx["entries"], expected(n - k + 1, n, "w", |i, j| in_range(i + k - j - 1, k)));
        // ∂s_i/∂w_m = x_<i+k-m-1>
        let jw = table_json("specs/standard.conv", "w", &sizes);
        assert_eq!(jw["entries"], expected(n - k + 1, k, "x", |i, m| in_range(i + k - m - 1, n)));
    }
}

#[test]
fn left_padded_convolution_matches_the_seed_formulas() {
    for (n, k) in [(10, 3), (4, 4), (9, 2)] {
        let sizes = format!("n={n},k={k}");
        let jx = table_json("specs/left_padded.conv", "x", &sizes);
        assert_eq!(jx["output_shape"], serde_json::json!([n]), "length n");
        // ∂s_i/∂x_j = w_<i-j> where 0 ≤ i-j ≤ k-1
        assert_eq!(jx["entries"], expected(n, n, "w", |i, j| in_range(i - j, k)));
        let jw = table_json("specs/left_padded.conv", "w", &sizes);
        assert_eq!(jw["entries"], expected(n, k, "x", |i, m| in_range(i - m, n)));
    }
}

#[test]
fn full_and_right_padded_convolutions() {
    let (n, k) = (6, 3);
    let sizes = format!("n={n},k={k}");
    let full = table_json("specs/full.conv", "x", &sizes);
    assert_eq!(full["output_shape"], serde_json::json!([n + k - 1]));
    assert_eq!(full["entries"], expected(n + k - 1, n, "w", |i, j| in_range(i - j, k)));
    let right = table_json("specs/right_padded.conv", "x", &sizes);
    assert_eq!(right["output_shape"], serde_json::json!([n]));
    assert_eq!(right["entries"], expected(n, n, "w", |i, j| in_range(j - i, k)));
}
