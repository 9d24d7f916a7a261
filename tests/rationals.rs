//! Values divided by constants (average pooling's `1/k`), end to end through the binary:
//! exact tables against plain loops, refutations with rational counterexamples, and runs
//! of layers that notice a wrong constant.

use serde_json::Value;
use std::process::{Command, Output};

fn symconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A spec written to a fresh file under the target folder.
fn spec(name: &str, text: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("rationals");
    std::fs::create_dir_all(&dir).expect("a folder for specs");
    let path = dir.join(format!("{name}.conv"));
    std::fs::write(&path, text).expect("the spec is written");
    path.to_string_lossy().into_owned()
}

/// The lowest-terms text of `p/q` as tables print it.
fn fraction(p: i64, q: i64) -> String {
    let g = (1..=q).rev().find(|g| p % g == 0 && q % g == 0).unwrap_or(1);
    match (p / g, q / g) {
        (0, _) => "0".into(),
        (p, 1) => p.to_string(),
        (p, q) => format!("{p}/{q}"),
    }
}

#[test]
fn average_pooling_tables_are_exact_fractions_as_plain_loops_count_them() {
    // avg_pool2d with a 3×2 window, stride 2, one zero row above and below: ∂s/∂x is 1/6 for
    // every input of an output's window, counted here by loops over the window.
    let o = symconv(&["table", "specs/avg_pool2d.conv", "--wrt", "x", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let table: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let (c, h, v) = (2i64, 5i64, 6i64);
    let (oh, ov) = ((h + 2 - 3) / 2 + 1, (v - 2) / 2 + 1);
    let mut expected = Vec::new();
    for (co, i, j) in (0..c).flat_map(|co| (0..oh).flat_map(move |i| (0..ov).map(move |j| (co, i, j)))) {
        let mut row = vec![0i64; (c * h * v) as usize];
        for (a, b) in (0..3).flat_map(|a| (0..2).map(move |b| (a, b))) {
            let (u, w) = (2 * i + a - 1, 2 * j + b);
            if (0..h).contains(&u) && (0..v).contains(&w) {
                row[((co * h + u) * v + w) as usize] += 1;
            }
        }
        expected.push(row.iter().map(|&p| fraction(p, 6)).collect::<Vec<_>>());
    }
    let entries: Vec<Vec<String>> = table["entries"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_array().expect("a row").iter().map(|e| e.as_str().expect("text").to_string()).collect())
        .collect();
    assert_eq!(entries, expected);
    assert!(entries.iter().flatten().any(|e| e == "1/6"));
}

#[test]
fn a_claim_with_another_denominator_is_proved_or_refuted_with_fractions() {
    let text = "input x[n]\noutput s[n - 2]\nlet n = 6\ns_i = (Σ_m x_<i+m> [0 ≤ m ≤ 2]) / 3\n\
                claim ∂s_i/∂x_j = 2/6 [0 ≤ j-i ≤ 2]\nclaim ∂s_i/∂x_j = 1/6 [0 ≤ j-i ≤ 2]\n";
    let o = symconv(&["derive", &spec("thirds", text)]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("closed form: ∂s_i/∂x_j = 1/3 [-2 ≤ i-j ≤ 0]"), "{out}");
    assert!(out.contains("proved   ∂s_i/∂x_j = 2/6 [0 ≤ j-i ≤ 2]"), "{out}");
    assert!(out.contains("REFUTED  ∂s_i/∂x_j = 1/6 [0 ≤ j-i ≤ 2]"), "{out}");
    assert!(out.contains("the claim gives 1/6, the definition gives 1/3"), "{out}");
}

#[test]
fn a_pooling_run_notices_a_wrong_constant() {
    // The formula divides by 2 where the window has 3 taps: every output disagrees.
    let text = "input x[n]\noutput s[(n - 1) div 2 + 1]\nlet n = 9\ns_i = 1/2 Σ_m x_<2i+m-1> [0 ≤ m ≤ 2]\n\
                run avg_pool1d(x, 3, stride = 2, padding = 1)\n";
    let o = symconv(&["derive", &spec("half", text)]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("DISAGREES avg_pool1d(x, 3, stride = 2, padding = 1)"), "{out}");
    assert!(out.contains("outputs disagree, first s[0]: the formula gives 1, the engine 0.66666"), "{out}");
    assert!(
        out.contains(
            "entries of ∂s_i/∂x_j disagree (engine by autograd), first at i = 0, j = 0: the closed form gives 1/2"
        ),
        "{out}"
    );
    // The same formula over 3 agrees.
    let right = text.replace("1/2 Σ", "1/3 Σ");
    let o = symconv(&["check", &spec("third", &right)]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn a_convolution_run_of_a_formula_with_a_fraction_is_not_executed_and_says_why() {
    let text = "input x[n]\nweight w[k]\nlet n = 6, k = 3\ns_i = 1/2 Σ_m x_<i+m> w_m\nrun conv1d(x, w)\n";
    let o = symconv(&["derive", &spec("halved_conv", text)]);
    let out = stdout(&o);
    assert!(out.contains("not executed: the formula divides by 2"), "{out}");
}
