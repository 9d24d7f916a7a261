//! The binary at its boundary: exit codes, stdout and stderr, colour off.

use serde_json::Value;
use std::process::{Command, Output};

fn symconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn derive_shows_the_seed_results() {
    let o = symconv(&["derive", "specs/left_padded.conv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("len(s) = n   (n = 10, k = 3: 10)"), "{out}");
    assert!(out.contains("closed form: ∂s_i/∂x_j = w_<i-j> [0 ≤ i-j ≤ k-1]"), "{out}");
    assert!(out.contains("sigma-delta"), "{out}");
    assert!(!out.contains("REFUTED"), "{out}");
}

#[test]
fn derive_json_has_the_contracted_shape() {
    let o = symconv(&["derive", "specs/standard.conv", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    assert_eq!(v["spec"], "standard");
    assert_eq!(v["output"], "s");
    assert_eq!(v["output_length"]["symbolic"], "n - k + 1");
    assert_eq!(v["output_length"]["value"], 8);
    let d = &v["derivatives"][0];
    assert_eq!(d["wrt"], "x");
    assert_eq!(d["closed_form"], "∂s_i/∂x_j = w_<i+k-j-1> [0 ≤ i+k-j-1 ≤ k-1]");
    let rules: Vec<&str> = d["steps"].as_array().unwrap().iter().map(|s| s["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"d-product") && rules.contains(&"sigma-delta"), "{rules:?}");
    assert!(v["claims"].as_array().unwrap().iter().all(|c| c["holds"] == true));
    assert_eq!(v["runs"][0]["holds"], true);
    assert!(v["runs"][0]["detail"].as_str().unwrap().contains("all 8 outputs agree"));
}

#[test]
fn table_formats() {
    let o = symconv(&["table", "specs/standard.conv", "--wrt", "x", "--format", "csv", "--let", "n=5,k=2"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = stdout(&o);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4, "{csv}");
    assert_eq!(lines[0], "∂s_i/∂x_j,j=0,j=1,j=2,j=3,j=4");
    assert_eq!(lines[1], "i=0,w[1],w[0],0,0,0");
    let md = stdout(&symconv(&["table", "specs/standard.conv", "--wrt", "w", "--format", "markdown"]));
    assert!(md.starts_with("| ∂s_i/∂w_m | m=0 | m=1 | m=2 |\n| --- |"), "{md}");
    let tex =
        stdout(&symconv(&["table", "specs/standard.conv", "--wrt", "x", "--format", "latex", "--let", "n=3,k=2"]));
    assert!(tex.contains("i = 0 & w_{1} & w_{0} & 0 \\\\"), "{tex}");
    assert!(tex.starts_with("\\[\n\\begin{array}{c|ccc}\n\\partial s_{i} / \\partial x_{j} & j = 0"), "{tex}");
    assert!(tex.ends_with("\\end{array}\n\\]\n"), "{tex}");
}

#[test]
fn wrong_claims_are_refuted_with_counterexamples() {
    let o = symconv(&["check", "tests/fixtures/wrong_claims.conv"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("FAILED: 0 proved, 0 checked, 2 refuted"), "{out}");
    assert!(out.contains("at n = 10, k = 3 the length is 8, the claim gives 7"), "{out}");
    let o = symconv(&["derive", "tests/fixtures/wrong_claims.conv"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("at n = 10, k = 3, i = 0, j = 0: the claim gives w[0], the definition gives w[2]"), "{out}");
}

#[test]
fn true_but_unprovable_claims_are_checked_not_proved() {
    let o = symconv(&["check", "tests/fixtures/unprovable_claim.conv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok: 0 proved, 1 checked, 0 refuted"), "{}", stdout(&o));
    let o = symconv(&["derive", "tests/fixtures/unprovable_claim.conv"]);
    assert!(stdout(&o).contains("brute force agrees at 137 size sets"), "{}", stdout(&o));
}

#[test]
fn checks_of_unprovable_claims_stop_at_the_work_limit_and_say_where() {
    let o = symconv(&["derive", "tests/fixtures/checked_at_the_work_limit.conv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("  checked  ∂s_<c,i>/∂x_<e,j>"), "{out}");
    assert!(
        out.contains("in that order, stopping before C = 4, n = 13, k = 5 at symconv's limit of brute-force work"),
        "{out}"
    );
}

#[test]
fn hints_skip_strides_and_dilations_that_leave_no_output() {
    // Found by the fuzzer: n = k, where the engine with dilation 2 would have no output.
    let o = symconv(&["derive", "specs/seed.conv", "--let", "n=3,k=3"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("hint: the formula is a true convolution"), "{}", stdout(&o));
}

#[test]
fn transposed_runs_whose_padding_outgrows_the_stretched_input_agree() {
    // Found by the fuzzer: at n = 1, (n-1)·S - 2P < 0 overflowed inside candle (a panic in
    // debug builds) although the output has 2 values.
    let o = symconv(&["check", "specs/transposed_strided.conv", "--let", "n=1,k=3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("5 proved, 0 checked, 0 refuted; 1 runs agree"), "{}", stdout(&o));
    let o = symconv(&["derive", "specs/transposed_strided.conv", "--let", "n=1,k=3"]);
    assert!(stdout(&o).contains("output shape [1, 2] and all 2 outputs agree"), "{}", stdout(&o));
}

#[test]
fn runs_whose_padding_outgrows_the_engine_are_refused_and_shapes_compared_first() {
    // Found by the fuzzer: a padding of 10¹⁴ made the engine allocate the padded input
    // (an abort on a failed 533 TB allocation); the formula's output was small. Here the
    // padded input holds 10¹⁴ + 11 values and the output 10¹⁴ + 8 (10¹⁴ + 11 - 4 + 1).
    let dir = std::env::temp_dir().join(format!("symconv-padding-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = std::fs::read_to_string("specs/same_even.conv").unwrap();
    let with_padding = |name: &str, padding: &str| {
        let spec = dir.join(name);
        let run = "padding = ((k - 1) div 2, k - 1 - (k - 1) div 2)";
        std::fs::write(&spec, src.replace(run, &format!("padding = {padding}"))).unwrap();
        spec
    };
    let huge = with_padding("huge.conv", "(100000000000000, 1)");
    let o = symconv(&["derive", huge.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    assert!(stderr(&o).contains("would hold 200000000000019 values in the engine"), "{}", stderr(&o));
    // The refusal points at the run's line.
    assert!(stderr(&o).contains("huge.conv:13:1"), "{}", stderr(&o));
    // 5·10⁶ outputs by the engine, 10 by the formula: the shapes disagree, and the
    // engine's Jacobians (5·10⁷ entries, a backward pass per output) are never built.
    let large = with_padding("large.conv", "(5000000, 1)");
    let o = symconv(&["derive", large.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("the output has shape [1, 10] by the formula, [1, 5000008] by the engine"),
        "{}",
        stdout(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn huge_index_offsets_are_checked_or_refused_never_overflowed() {
    // Found by the fuzzer: an offset near 2⁶³ in an element made the brute-force window's
    // width overflow; a sweep over the whole i64 range did the same.
    let dir = std::env::temp_dir().join(format!("symconv-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("huge.conv");
    let src = std::fs::read_to_string("specs/same_even.conv").unwrap();
    std::fs::write(&spec, src.replace("s_i = Σ x_<i + m - (k - 1) div 2>", "s_i = Σ x_<i + m - 7777777777777777777>"))
        .unwrap();
    // Brute force searches i only where x_<i + m - 7777777777777777777> can be read (its
    // window from x's range and w's), finds the domain there, and refutes the claims
    // written for the unshifted formula.
    let o = symconv(&["derive", spec.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("at n = 10, k = 4, i = 7777777777777777776, j = 0: the claim gives 0"),
        "{}",
        stdout(&o)
    );
    let sweep = "n=-9223372036854775808..9223372036854775807";
    let o = symconv(&["check", "specs/standard.conv", "--sweep", sweep]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A claim that is not proved is checked first at the let sizes, whose brute-force
    // work (outputs times the tensors' elements, here each near 2⁶⁴) once overflowed.
    let spec = dir.join("large_tensors.conv");
    let src = std::fs::read_to_string("specs/multichannel.conv").unwrap();
    std::fs::write(&spec, src.replace("claim len(s) = n - k + 1", "claim len(s) = n - k + 2")).unwrap();
    let sizes = "C=4000000000,O=1,n=4000000000000,k=1000000000000";
    let o = symconv(&["derive", spec.to_str().unwrap(), "--let", sizes]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("output indices, more than the limit of 4000000"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ascii_spellings_mean_the_same() {
    let o = symconv(&["check", "tests/fixtures/ascii.conv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok: 3 proved"), "{}", stdout(&o));
}

#[test]
fn let_overrides_sizes() {
    let o = symconv(&["derive", "specs/standard.conv", "--format", "json", "--let", "n=64,k=5"]);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["output_length"]["value"], 60);
}

#[test]
fn bad_usage_exits_2() {
    for args in [
        vec!["derive", "tests/fixtures/no_such_file.conv"],
        vec!["derive", "specs"],
        vec!["table", "specs/standard.conv", "--wrt", "y"],
        vec!["derive", "specs/standard.conv", "--let", "q=3"],
        vec!["derive", "specs/standard.conv", "--let", "n=2"],
        vec!["derive", "specs/standard.conv", "--let", "n=ten"],
        vec!["derive", "specs/standard.conv", "--brief", "--format", "json"],
        vec!["frobnicate"],
    ] {
        let o = symconv(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?} wrote to stdout");
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
}

#[test]
fn an_error_in_the_second_spec_leaves_the_first_derived() {
    let o = symconv(&["derive", "specs/standard.conv", "tests/fixtures/no_such_file.conv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).starts_with("== standard ==\n"), "{}", stdout(&o));
    assert!(stderr(&o).starts_with("error: cannot read tests/fixtures/no_such_file.conv: "), "{}", stderr(&o));
}

#[test]
fn a_batch_checks_every_spec_and_exits_with_the_worst_status() {
    let batch = ["check", "specs/standard.conv", "tests/bad/unknown_tensor.conv", "specs/seed.conv"];
    let o = symconv(&batch);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("standard: ok: 5 proved, 0 checked, 0 refuted; 1 runs agree"), "{out}");
    assert!(lines[1].starts_with("seed: FAILED: "), "{out}");
    assert!(stderr(&o).contains("tests/bad/unknown_tensor.conv:4:"), "{}", stderr(&o));
    // Without the bad spec, the failing run is the worst.
    let o = symconv(&["check", "specs/standard.conv", "specs/seed.conv"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).is_empty());
    // derive does the same.
    let o = symconv(&["derive", "--brief", "tests/bad/unknown_tensor.conv", "specs/standard.conv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("== standard ==\n"), "{}", stdout(&o));
}

#[test]
fn check_json_has_one_object_per_spec_and_line() {
    let o = symconv(&[
        "check",
        "--format",
        "json",
        "specs/standard.conv",
        "tests/bad/unknown_tensor.conv",
        "specs/seed.conv",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 3, "{}", stdout(&o));
    assert_eq!(lines[0]["spec"], "standard");
    assert_eq!(lines[0]["holds"], true);
    assert_eq!(lines[0]["claims"][0]["verdict"], "proved");
    assert_eq!(lines[0]["runs"][0]["verdict"], "agrees");
    assert_eq!(lines[1]["spec"], "unknown_tensor");
    assert_eq!(lines[1]["status"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("unknown_tensor.conv:4:"), "{}", lines[1]);
    // Each mistake as data, for tools: the message, line, column and hint.
    let mistake = &lines[1]["mistakes"][0];
    assert_eq!(mistake["message"], "unknown tensor `v`");
    assert_eq!((mistake["line"].as_u64(), mistake["column"].as_u64()), (Some(4), Some(13)), "{mistake}");
    assert_eq!(mistake["hint"], "the declared inputs and weights are `x`, `w`");
    assert_eq!(lines[2]["holds"], false);
    assert_eq!(lines[2]["runs"][0]["verdict"], "disagrees");
    assert!(lines[2]["runs"][0]["detail"].as_str().unwrap().contains("use flip(w)"));
    // The bad spec's diagnostic is on standard error too.
    assert!(stderr(&o).contains("unknown_tensor.conv:4:"), "{}", stderr(&o));
    // A file with several mistakes lists each of them.
    let o = symconv(&["check", "--format", "json", "tests/bad/several_errors.conv"]);
    assert_eq!(o.status.code(), Some(2));
    let line: Value = serde_json::from_str(stdout(&o).trim()).expect("a JSON line");
    let lines_of: Vec<u64> = line["mistakes"].as_array().unwrap().iter().map(|m| m["line"].as_u64().unwrap()).collect();
    assert_eq!(lines_of, [3, 5, 8, 10, 11], "{line}");
}

#[test]
fn brief_derivations_show_no_steps_and_no_tables() {
    let o = symconv(&["derive", "--brief", "specs/left_padded.conv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("  len(s) = n   (n = 10, k = 3: 10)"), "{out}");
    assert!(out.contains("closed forms\n  ∂s_i/∂x_j = w_<i-j> [0 ≤ i-j ≤ k-1]\n"), "{out}");
    assert!(out.contains("  proved   ∂s_i/∂w_m = x_<i-m> [m ≤ i]"), "{out}");
    assert!(out.contains("  agrees    conv1d(x, flip(w), padding = (k - 1, 0))\n"), "{out}");
    for absent in ["sigma-delta", "Jacobian", "┌", "rules used", "all 100 entries"] {
        assert!(!out.contains(absent), "`{absent}` in {out}");
    }
}

#[test]
fn each_table_is_limited_by_its_own_size() {
    // At n = 2000, ∂s/∂x has 4·10⁶ entries, past the limit of 10⁶; ∂s/∂w has 6000.
    let o = symconv(&["table", "specs/left_padded.conv", "--wrt", "w", "--let", "n=2000", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = stdout(&o);
    assert_eq!(csv.lines().count(), 2001);
    assert!(csv.contains("\ni=1999,x[1999],x[1998],x[1997]\n"), "{csv}");
    let o = symconv(&["table", "specs/left_padded.conv", "--wrt", "x", "--let", "n=2000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("the table ∂s/∂x would have 4000000 entries"), "{}", stderr(&o));
    let o = symconv(&["derive", "specs/left_padded.conv", "--let", "n=2000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("\nJacobian ∂s_i/∂w_m at n = 2000, k = 3\n"), "{out}");
    assert!(!out.contains("Jacobian ∂s_i/∂x_j"), "{out}");
    assert!(
        out.contains(
            "the tables that fit are shown and checked entry by entry: ∂s_i/∂w_m (against brute force of ∂s/∂w alone)"
        ),
        "{out}"
    );
}

#[test]
fn numbers_in_disagreements_are_never_minus_zero() {
    // The closed form's ∂s_0/∂x_0 is 0 (an empty sum, -0.0 in f64), the engine's w_0.
    let o = symconv(&["derive", "tests/fixtures/shifted_by_one.conv"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let expected = "34 of 100 entries of ∂s_i/∂x_j disagree (engine by autograd), first at i = 0, j = 0: \
                    the closed form gives 0, the engine 13";
    assert!(out.contains(expected), "{out}");
    for how in [&[][..], &["--jacobians", "freivalds"][..], &["--let", "n=5000"][..]] {
        let o = symconv(&[&["derive", "tests/fixtures/shifted_by_one.conv"][..], how].concat());
        assert!(
            !stdout(&o).contains("-0 ") && !stdout(&o).contains("-0,") && !stdout(&o).contains("-0;"),
            "{}",
            stdout(&o)
        );
        assert!(stdout(&o).contains("the closed form gives 0, the engine "), "{how:?}: {}", stdout(&o));
    }
}

#[test]
fn sweeps_cross_check_every_size_in_the_ranges() {
    let o = symconv(&["check", "specs/strided.conv", "--sweep", "n=1..12,k=1..4,S=1..3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("strided: sweep n = 1..12, k = 1..4, S = 1..3: 126 size sets checked (18 skipped"), "{out}");
    assert!(out.contains("every claim holds"), "{out}");
    assert!(stderr(&o).is_empty(), "no progress bar off a terminal: {}", stderr(&o));
}

#[test]
fn sweeps_report_the_first_counterexample_of_each_claim() {
    let o = symconv(&["check", "tests/fixtures/wrong_claims.conv", "--sweep", "n=3..5,k=1..2"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(
            "FAILED: 2 claims fail, first: len(s) = n - k (at n = 3, k = 1 the length is 3, the claim gives 2)"
        ),
        "{out}"
    );
}

#[test]
fn bad_sweeps_exit_2() {
    // The last spans more than 2⁶⁴ size sets, which once overflowed their count.
    let huge = "n=0..9223372036854775807,k=0..9223372036854775807";
    for sweep in ["q=1..3", "n=5..1", "n=1..1000000,k=1..1000", huge] {
        let o = symconv(&["check", "specs/standard.conv", "--sweep", sweep]);
        assert_eq!(o.status.code(), Some(2), "{sweep}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn large_sizes_compare_row_by_row_and_tables_are_refused() {
    let o = symconv(&["derive", "specs/standard.conv", "--let", "n=5000,k=3"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("note: no brute-force cross-check of the whole spec at these sizes: at n = 5000, k = 3 the table ∂s/∂x would have 24990000 entries"), "{out}");
    assert!(out.contains("\nJacobian ∂s_i/∂w_m at n = 5000, k = 3\n"), "{out}");
    // The proofs are still checked by numbers, at smaller sizes that leave no size at 1.
    assert!(out.contains("; the proofs are checked by numbers at n = 16, k = 8\n"), "{out}");
    assert!(out.contains("all 4998 outputs agree"), "{out}");
    assert!(out.contains("all 24990000 entries of ∂s_i/∂x_j agree (engine by autograd), compared row by row"), "{out}");
    let o = symconv(&["derive", "specs/seed.conv", "--let", "n=5000,k=3"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("4998 of 4998 outputs disagree"), "{out}");
    assert!(out.contains("9996 of 24990000 entries of ∂s_i/∂x_j disagree"), "{out}");
    assert!(out.contains("hint: the formula is a true convolution, conv1d a cross-correlation: use flip(w)"), "{out}");
    let o = symconv(&["table", "specs/standard.conv", "--wrt", "x", "--let", "n=5000,k=3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("would have 24990000 entries, more than the limit of 1000000"), "{}", stderr(&o));
}

#[test]
fn brute_force_over_a_declared_output_is_refused_past_its_limit() {
    // Found by the fuzzer: brute force listed every index of a declared output before
    // counting them (an abort on a failed allocation). Here s[n + k - 1] has 10¹⁰ + 2.
    let o = symconv(&["table", "specs/transposed.conv", "--wrt", "x", "--let", "n=10000000000"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let expected = "at n = 10000000000, k = 3 brute force would search 10000000002 output indices, \
                    more than the limit of 4000000";
    assert!(stderr(&o).contains(expected), "{}", stderr(&o));
}

/// The line of a run's findings that starts with `prefix`.
fn finding<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().map(str::trim).find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` in {out}"))
}

#[test]
fn freivalds_check_agrees_where_every_entry_does() {
    for spec in ["standard", "grouped", "causal_dilated", "transposed_strided"] {
        let path = format!("specs/{spec}.conv");
        let o = symconv(&["derive", &path, "--jacobians", "freivalds"]);
        assert_eq!(o.status.code(), Some(0), "{spec}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("Freivalds' check of the Jacobians (as asked)"), "{out}");
        let agree = if spec.starts_with("transposed") {
            "J·u agrees for two random integer u in [-1000, 1000]"
        } else {
            "J·u and vᵀ·J agree for random integer u, v in [-1000, 1000]"
        };
        assert_eq!(out.matches(agree).count(), 2, "{out}");
        assert_eq!(out.matches("with probability at most 1/2001² ≈ 2.5e-7").count(), 2, "{out}");
    }
}

#[test]
fn freivalds_check_pins_the_entry_every_entry_finds() {
    // The seed's true convolution against plain conv1d: both ways find the same first
    // wrong entry of each Jacobian, the one way from dense tables, the other from J·u.
    let dense = stdout(&symconv(&["derive", "specs/seed.conv"]));
    let o = symconv(&["derive", "specs/seed.conv", "--jacobians", "freivalds"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("hint: the formula is a true convolution"), "{out}");
    for (wrt, entries) in
        [("∂s_i/∂x_j", "of 80 entries of ∂s_i/∂x_j disagree"), ("∂s_i/∂w_m", "of 24 entries of ∂s_i/∂w_m")]
    {
        let every = dense.lines().find(|l| l.contains(entries)).unwrap_or_else(|| panic!("{dense}"));
        let entry = &every[every.find("first at").unwrap()..];
        let line = finding(&out, &format!("{wrt} disagrees: J·u differs at i = 0"));
        assert!(line.ends_with(entry), "{line} does not end with {entry}");
    }
}

#[test]
fn large_sizes_switch_to_freivalds_check() {
    // 39937 outputs × (64 + 64) entries that can be nonzero: over 4·10⁶.
    let o = symconv(&["derive", "specs/standard.conv", "--let", "n=40000,k=64"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("the Jacobians have 1597480000 and 2555968 entries, too many to compare one by one"), "{out}");
    assert!(out.contains("all 39937 outputs agree"), "{out}");
    let o = symconv(&["derive", "specs/seed.conv", "--let", "n=40000,k=64"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("hint: the formula is a true convolution, conv1d a cross-correlation: use flip(w)"), "{out}");
    assert!(finding(&out, "∂s_i/∂x_j disagrees: J·u differs at i = 0").contains("; first at i = 0, j = 0: "), "{out}");
    // Sizes whose run would not fit in memory are refused, not tried.
    let o = symconv(&["check", "specs/standard.conv", "--let", "n=10000000000,k=3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert!(
        stderr(&o)
            .contains("would hold 20000000001 values in its input, weight and output, more than the limit of 16777216"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("specs/standard.conv:12:1"), "{}", stderr(&o));
    let o = symconv(&["check", "specs/standard.conv", "--let", "n=4000000,k=2000000"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("has Jacobians with 8000004000000 entries that can be nonzero"), "{}", stderr(&o));
    let o = symconv(&["check", "specs/standard.conv", "--let", "n=1000000,k=200", "--jacobians", "every-entry"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("more than the 134217728 that fit in memory row by row"), "{}", stderr(&o));
    // Asked for, every entry is still compared.
    let o = symconv(&["check", "specs/standard.conv", "--let", "n=40000,k=64", "--jacobians", "every-entry"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_formula_of_fifty_product_terms_derives() {
    let o = symconv(&["derive", "tests/fixtures/fifty_terms.conv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    // Term t reads x_<l+t> w_<i-l> (or x_l w_<i+t-l>): ∂s_i/∂x_l (the formula's name for x's
    // index) has one term w_<i-l+t> each.
    let closed = finding(&out, "closed form: ∂s_i/∂x_l = ");
    let shift = |t: usize| if t == 0 { String::new() } else { format!("+{t}") };
    let expected: Vec<String> = (0..50).map(|t| format!("w_<i-l{0}> [0 ≤ i-l{0} ≤ k-1]", shift(t))).collect();
    assert_eq!(closed, format!("closed form: ∂s_i/∂x_l = {}", expected.join(" + ")));
}

#[test]
fn row_by_row_disagreements_name_their_indices_as_tables_do() {
    let o = symconv(&["derive", "tests/fixtures/shifted_by_one.conv", "--let", "n=3000", "--jacobians", "every-entry"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    // Too large for tables: compared row by row, and told with the names of the indices.
    assert!(
        out.contains("11994 of 9000000 entries of ∂s_i/∂x_j disagree (engine by autograd), first at i = 0, j = 0:"),
        "{out}"
    );
    assert!(out.contains("8997 of 9000 entries of ∂s_i/∂w_l disagree (engine on unit weights), first at i = 0, l = 0:"));
    assert!(!out.contains("row [") && !out.contains("column "), "{out}");
}
