//! Hints for mistakes a new user makes: a missing `pad` line that the run's padding
//! would supply, and a claim that holds only at the `let` sizes. Each message is
//! asserted, then the section of `derive` that carries it is snapshot.

use std::process::{Command, Output};

fn symconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs")
}

/// `derive`'s output for a spec from its `claims` or `runs` heading to the legend.
fn section(args: &[&str], heading: &str) -> (Option<i32>, String) {
    let o = symconv(args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let from = out.find(heading).unwrap_or_else(|| panic!("no `{heading}` in {out}"));
    let to = out.find("\nrules used").unwrap_or(out.len());
    (o.status.code(), out[from..to].to_string())
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots/hints");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn a_missing_pad_line_is_named() {
    let (code, runs) = section(&["derive", "tests/fixtures/missing_pad.conv"], "runs\n");
    assert_eq!(code, Some(1));
    assert!(runs.contains("the output has shape [1, 2] by the formula, [1, 5] by the engine"), "{runs}");
    assert!(runs.contains("hint: add `pad x (6, 0)`: the run pads x, and with that line the outputs agree"), "{runs}");
    snapshot("missing_pad", &runs);
}

#[test]
fn the_pad_line_is_given_as_the_run_writes_its_padding() {
    let dir = std::env::temp_dir().join(format!("symconv-hints-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = std::fs::read_to_string("specs/left_padded.conv").unwrap();
    let unpadded: String = spec.lines().filter(|l| !l.starts_with("pad")).map(|l| format!("{l}\n")).collect();
    let path = dir.join("unpadded.conv");
    std::fs::write(&path, unpadded).unwrap();
    let (code, runs) = section(&["derive", path.to_str().unwrap()], "runs\n");
    assert_eq!(code, Some(1));
    assert!(runs.contains("hint: add `pad x (k - 1, 0)`"), "{runs}");
    // A pad line cannot fix a stride mismatch as well: then no pad is offered.
    let strided =
        std::fs::read_to_string("tests/fixtures/missing_pad.conv").unwrap().replace("stride = 2", "stride = 1");
    let path = dir.join("strided.conv");
    std::fs::write(&path, strided).unwrap();
    let (code, runs) = section(&["derive", path.to_str().unwrap()], "runs\n");
    assert_eq!(code, Some(1));
    assert!(runs.contains("by the engine") && !runs.contains("pad x"), "{runs}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_pad_line_is_named_at_sizes_too_large_for_tables() {
    let (code, runs) = section(&["derive", "tests/fixtures/missing_pad.conv", "--let", "n=3000"], "runs\n");
    assert_eq!(code, Some(1));
    assert!(runs.contains("[1, 1497] by the formula, [1, 1500] by the engine"), "{runs}");
    assert!(runs.contains("hint: add `pad x (6, 0)`"), "{runs}");
}

#[test]
fn a_claim_true_only_at_the_let_sizes_says_so() {
    let (code, claims) = section(&["derive", "tests/fixtures/fixed_kernel.conv"], "claims\n");
    assert_eq!(code, Some(1));
    // At n = 1, k = 1 (pad 6): the output keeps i from 0 to (1 + 7 - 2) div 2 = 3.
    assert!(
        claims.contains(
            "it holds at the `let` sizes (n = 10, k = 4), but not at n = 1, k = 1: the length is 4, the claim gives 1; \
             if k is fixed, write it as a number (`weight w[4]`)"
        ),
        "{claims}"
    );
    snapshot("fixed_kernel", &claims);
    // With the kernel's size a number, the same claim holds.
    let fixed = std::fs::read_to_string("tests/fixtures/fixed_kernel.conv").unwrap().replace("w[k]", "w[4]");
    let dir = std::env::temp_dir().join(format!("symconv-fixed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fixed.conv");
    std::fs::write(&path, fixed.replace("n = 10, k = 4", "n = 10")).unwrap();
    let o = symconv(&["check", path.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_claim_refuted_at_the_let_sizes_gets_no_such_hint() {
    let o = symconv(&["check", "tests/fixtures/wrong_claims.conv"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.contains("REFUTED") || out.contains("refuted"), "{out}");
    assert!(!out.contains("holds at the `let` sizes"), "{out}");
}
