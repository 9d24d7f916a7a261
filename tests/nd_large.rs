//! Runs of several spatial axes at sizes too large for tables: every entry of both
//! Jacobians compared row by row (the engine's `∂s/∂x` found by a compressed Jacobian), or
//! Freivalds' check; both agree on correct specs, find the same first wrong entry of a
//! wrong one, and sizes past the limits are refused.

use std::process::{Command, Output};
use symconv::engine::nd::ConvNd;
use symconv::engine::Array;

fn symconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).env("NO_COLOR", "1").output().expect("symconv runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `derive` of a fixture with `--jacobians how` (and more arguments): its exit status,
/// its output (the runs' findings included) and its errors.
fn check(spec: &str, how: &str, more: &[&str]) -> (Option<i32>, String, String) {
    let path = format!("tests/fixtures/{spec}.conv");
    let o = symconv(&[&["derive", &path, "--jacobians", how][..], more].concat());
    (o.status.code(), stdout(&o), stderr(&o))
}

/// The findings line that starts with `prefix`.
fn finding<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().map(str::trim).find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` in {out}"))
}

/// The part of a line from `first at` on: the entry and both values.
fn first_entry(line: &str) -> &str {
    &line[line.find("first at").unwrap_or_else(|| panic!("no entry named in {line}"))..]
}

#[test]
fn correct_specs_agree_entry_by_entry_and_by_freivalds_beyond_tables() {
    // (fixture, ∂s/∂x's title, its entries, the rows' entries that are not 0)
    let cases = [
        ("nd_large_strided", "∂s_<o, i, j>/∂x_<c, d, u>", 2_116_800, 14520),
        ("nd_large_transposed", "∂s_<o, i, j>/∂x_<c, u, v>", 1_904_640, 11280),
    ];
    for (spec, title, entries, nonzero) in cases {
        // Over the table limit of 10⁶ entries: no table, and the run still compares all.
        assert!(entries > 1_000_000);
        let (status, out, err) = check(spec, "every-entry", &[]);
        assert_eq!(status, Some(0), "{spec}: {out}{err}");
        let line = finding(&out, &format!("all {entries} entries of {title} agree"));
        assert!(line.contains("probes, each the sum of unit inputs that no output reads two of"), "{line}");
        assert!(line.ends_with(&format!("compared row by row over the {nonzero} that are not 0")), "{line}");
        assert!(out.contains("entries of ∂s_<o, i, j>/∂w_<") && out.contains("outputs agree"), "{out}");
        assert!(!out.contains("not executed"), "{out}");
        let (status, out, err) = check(spec, "freivalds", &[]);
        assert_eq!(status, Some(0), "{spec}: {out}{err}");
        assert!(out.contains("Freivalds' check of the Jacobians (as asked)"), "{out}");
        assert_eq!(out.matches("J·u agrees for two random integer u in [-1000, 1000]").count(), 2, "{out}");
        assert_eq!(out.matches("with probability at most 1/2001² ≈ 2.5e-7").count(), 2, "{out}");
        assert!(out.contains("with seed 0"), "{out}");
    }
}

#[test]
fn wrong_specs_are_found_with_the_same_counterexample_both_ways() {
    // (fixture, a finding of the outputs, ∂s/∂x's title, ∂s/∂w's)
    let cases = [
        (
            "nd_large_wrong_padding",
            "1260 of 1260 outputs disagree, first s[0, 0, 0]: the formula gives -10340, the engine -4049765",
            "∂s_<o, i, j>/∂x_<c, d, u>",
            "∂s_<o, i, j>/∂w_<p, c, a, b>",
        ),
        (
            "nd_large_flipped",
            "hint: the formula is a true convolution, conv2d a cross-correlation: use flip(w)",
            "∂s_<i, j>/∂x_<d, u>",
            "∂s_<i, j>/∂w_<p, m>",
        ),
    ];
    for (spec, outputs, dx, dw) in cases {
        let (status, every, err) = check(spec, "every-entry", &[]);
        assert_eq!(status, Some(1), "{spec}: {every}{err}");
        assert!(every.contains(outputs), "{every}");
        let (status, freivalds, err) = check(spec, "freivalds", &[]);
        assert_eq!(status, Some(1), "{spec}: {freivalds}{err}");
        assert!(freivalds.contains(outputs), "{freivalds}");
        for title in [dx, dw] {
            let line = every.lines().map(str::trim).find(|l| l.contains(&format!("entries of {title} disagree")));
            let line = line.unwrap_or_else(|| panic!("{spec}: {title} agrees entry by entry: {every}"));
            let pinned = finding(&freivalds, &format!("{title} disagrees: J·u differs at"));
            assert_eq!(first_entry(pinned), first_entry(line), "{spec}: {title}");
        }
    }
    // The wrong padding's first wrong entry, by hand: s[0, 0, 0] reads x rows -1..1 by the
    // formula, rows 0..2 by the run; ∂s_<0,0,0>/∂w_<0,0,0,0> is x[0, -1, 0] = 0 by the
    // formula, x[0, 0, 0] by the engine.
    let (_, every, _) = check("nd_large_wrong_padding", "every-entry", &[]);
    let line = finding(&every, "14850 of 45360 entries of ∂s_<o, i, j>/∂w_<p, c, a, b> disagree");
    assert!(
        line.contains("first at o = 0, i = 0, j = 0, p = 0, c = 0, a = 0, b = 0: the closed form gives 0, the engine")
    );
}

#[test]
fn auto_compares_every_entry_up_to_its_limit_and_takes_freivalds_check_beyond() {
    let (status, out, err) = check("nd_large_strided", "auto", &[]);
    assert_eq!(status, Some(0), "{out}{err}");
    assert!(out.contains("compared row by row over the 14520 that are not 0"), "{out}");
    // 8 → 8 channels of 64 × 64, 5 × 5: 8 · 31 · 61 outputs by 2 · 8 · 25 entries each,
    // over 4·10⁶.
    let sizes = "C=8,O=8,H=64,V=64,P=5,Q=5";
    let (status, out, err) = check("nd_large_strided", "auto", &["--let", sizes]);
    assert_eq!(status, Some(0), "{out}{err}");
    assert!(out.contains("the Jacobians have 495714304 and 24204800 entries, too many to compare one by one"), "{out}");
    assert!(out.contains("output shape [8, 31, 61] and all 15128 outputs agree"), "{out}");
}

#[test]
fn sizes_past_the_limits_are_refused_not_cut_down() {
    let (status, out, err) = check("nd_large_strided", "auto", &["--let", "H=100000,V=1000"]);
    assert_eq!(status, Some(2), "{out}{err}");
    assert!(out.is_empty());
    assert!(
        err.contains(
            "this run would hold 350000036 values in its input, weight and output, more than the limit of 16777216"
        ),
        "{err}"
    );
    // 32 · 30 · 58 outputs by 2 · 32 · 64 entries each: over 2²⁷ held row by row, under 2³⁰.
    let sizes = "C=32,O=32,H=64,V=64,P=8,Q=8";
    let (status, out, err) = check("nd_large_strided", "every-entry", &["--let", sizes]);
    assert_eq!(status, Some(2), "{out}{err}");
    assert!(err.contains("has Jacobians with 228065280 entries that can be nonzero"), "{err}");
    assert!(err.contains("more than the 134217728 that fit in memory row by row (--jacobians every-entry)"), "{err}");
}

/// A convolution's values: distinct small integers.
fn array(shape: &[usize], seed: usize) -> Array {
    let len: usize = shape.iter().product();
    let data = (0..len).map(|i| ((i * 7 + seed * 13) % 23) as f64 - 11.0).collect();
    Array { shape: shape.to_vec(), data }
}

/// Sparse rows as a dense `[rows, cols]` matrix.
fn dense(rows: &[Vec<(usize, f64)>], cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows.len() * cols];
    for (r, row) in rows.iter().enumerate() {
        for &(c, v) in row {
            out[r * cols + c] = v;
        }
    }
    out
}

#[test]
fn compressed_jacobians_are_the_engines_entry_for_entry() {
    let conv = |transposed,
                stride: &[usize],
                padding: &[(usize, usize)],
                output_padding: &[usize],
                dilation: &[usize],
                groups,
                flip| ConvNd {
        transposed,
        stride: stride.to_vec(),
        padding: padding.to_vec(),
        output_padding: output_padding.to_vec(),
        dilation: dilation.to_vec(),
        groups,
        flip,
    };
    // (call, x's shape, w's shape)
    let cases = [
        (conv(false, &[2, 1], &[(1, 1), (0, 1)], &[0, 0], &[1, 2], 2, false), vec![1, 4, 7, 9], vec![4, 2, 3, 2]),
        (conv(false, &[3, 2], &[(0, 2), (1, 0)], &[0, 0], &[2, 1], 1, true), vec![1, 2, 9, 8], vec![3, 2, 2, 3]),
        (conv(true, &[2, 3], &[(1, 1), (0, 0)], &[1, 2], &[1, 2], 2, false), vec![1, 4, 4, 3], vec![4, 1, 3, 2]),
        (conv(true, &[1, 2], &[(0, 0), (1, 1)], &[0, 1], &[1, 1], 1, true), vec![1, 2, 5, 4], vec![2, 3, 2, 3]),
        (
            conv(false, &[2, 1, 1], &[(1, 0), (0, 1), (1, 1)], &[0, 0, 0], &[1, 1, 2], 1, false),
            vec![1, 2, 5, 4, 6],
            vec![2, 2, 2, 3, 2],
        ),
        (
            conv(true, &[2, 1, 2], &[(0, 0), (1, 1), (0, 0)], &[1, 0, 1], &[1, 1, 1], 1, false),
            vec![1, 2, 3, 4, 3],
            vec![2, 2, 2, 3, 2],
        ),
    ];
    for (call, xs, ws) in cases {
        let (x, w) = (array(&xs, 1), array(&ws, 2));
        let jx = call.jacobian_x(&x, &w).unwrap();
        let jw = call.jacobian_w(&x, &w).unwrap();
        // All probes in one batch, and one probe a call.
        for most in [usize::MAX / 2, 1] {
            let compressed = call.jacobian_x_rows(&x, &w, most).unwrap();
            assert_eq!(compressed.stray, None, "{call:?}");
            assert_eq!(dense(&compressed.rows, x.data.len()), jx.data, "{call:?} in batches of {most} values");
            if most == 1 {
                assert_eq!(compressed.calls, compressed.probes, "{call:?}");
            }
        }
        let (rows, passes) = call.jacobian_w_rows(&x, &w).unwrap();
        assert_eq!(dense(&rows, w.data.len()), jw.data, "{call:?}");
        assert!(passes < w.data.len() || ws[0] == 1, "{call:?}: {passes} passes");
        // Fewer probes than inputs: the compression is real.
        let compressed = call.jacobian_x_rows(&x, &w, usize::MAX / 2).unwrap();
        assert!(compressed.probes < x.data.len() / 2, "{call:?}: {} probes", compressed.probes);
    }
}

/// Where the gradients' check would sum more terms than `run_entries` but the run's does
/// not, the run is checked and the gradients are reported as checked at the validation's
/// sizes and not run at the spec's: nothing fails, nothing is claimed that did not run.
#[test]
fn gradients_past_their_limit_are_reported_not_run_while_the_run_is_checked() {
    use symconv::check::{report, RunOptions};
    let src = std::fs::read_to_string("tests/fixtures/nd_large_strided.conv").unwrap();
    let model = symconv::model::resolve(&symconv::syntax::parse(&src).unwrap(), &src, "nd_large_strided", &[]).unwrap();
    // O = 3, C = 2, H = 30, V = 28, P = 3, Q = 2, stride (2, 1), padding ((1, 1), (0, 1)).
    let outputs = 3 * ((30 + 2 - 3) / 2 + 1) * (28 + 1 - 2 + 1);
    let (weights, field) = (3 * 2 * 3 * 2, 2 * 3 * 2);
    let terms = outputs * weights * 2;
    assert!(outputs * field * 2 < terms - 1, "the run's entries stay within the limit");
    let limits = symconv::limits::Limits { run_entries: terms - 1, ..Default::default() };
    let derivation = symconv::derive::derive(&model, &limits).unwrap();
    let r = report(model, derivation, false, RunOptions::default()).expect("the spec is checked, not refused");
    assert_eq!(r.runs[0].holds, Some(true), "{:?}", r.runs[0]);
    assert_eq!(r.backward.len(), 2);
    for b in &r.backward {
        assert_eq!(b.holds, None, "∂L/∂{}: {:?}", b.wrt, b.findings);
        let detail = b.detail();
        assert!(
            detail.contains("the gather form equals brute force's Jᵀg"),
            "checked at the validation's sizes: {detail}"
        );
        let why = format!(
            "not run at C = 2, H = 30, V = 28, O = 3, P = 3, Q = 2: the gradients' check could sum up to {terms} \
             terms, more than the limit of {}",
            terms - 1
        );
        assert!(detail.contains(&why), "{detail}");
        // The call is named at the spec's sizes: H - P = 27 and V = 28 (∂L/∂x), P = 3 (∂L/∂w).
        let call = b.call.as_ref().expect("both gradients have a named call");
        let at = if b.wrt == "x" { "output_padding = (1, 0))[:, : 28]" } else { ")ᵀ[: 3, :]" };
        assert!(call.at_sizes.ends_with(at), "{}", call.at_sizes);
    }
    let line = symconv::render::check_line(&r);
    assert!(line.contains("ok: ") && line.contains("1 runs agree; 2 gradients not run at these sizes"), "{line}");
}
