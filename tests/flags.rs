//! Flags get flag errors: a `--let` for a size the spec lacks names the flag, and a
//! `--sweep` range written `1-8` is told to be `1..8`; both exit 2 with nothing on stdout.

use std::process::{Command, Output};

fn symconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs")
}

/// Standard error of a run that must exit 2 without writing to standard output.
fn refused(args: &[&str]) -> String {
    let o = symconv(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?} wrote to stdout");
    err
}

#[test]
fn a_let_for_no_size_names_the_flag() {
    let want = "error: --let q=4: `specs/strided.conv` has no size `q` (its sizes are n, k, S)\n";
    assert_eq!(refused(&["derive", "specs/strided.conv", "--let", "n=12,q=4"]), want);
    let want = "error: --let K=3: `specs/standard.conv` has no size `K` (its sizes are n, k)\n";
    assert_eq!(refused(&["check", "specs/standard.conv", "--let", "K=3"]), want);
    assert_eq!(refused(&["table", "specs/standard.conv", "--wrt", "x", "--let", "K=3"]), want);
}

#[test]
fn a_dashed_sweep_range_is_told_its_spelling() {
    let err = refused(&["check", "specs/standard.conv", "--sweep", "n=1-8"]);
    assert!(err.contains("write a range as `1..8`"), "{err}");
    let err = refused(&["check", "specs/standard.conv", "--sweep", "n=4..12,k=2 - 3"]);
    assert!(err.contains("write a range as `2..3`"), "{err}");
}
