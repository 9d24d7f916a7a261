//! Mutated specs never panic: thousands of random edits of every shipped spec go through
//! the whole pipeline as `symconv derive` runs a file (parsing, resolution, derivation,
//! the checks and runs, the text and JSON reports), and each either gives a report or an
//! error with its diagnostic.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use symconv::check::RunOptions;
use symconv::{cli, render};

/// A small deterministic generator (64-bit LCG), so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "Σ",
    "_",
    "<",
    ">",
    "[",
    "]",
    "(",
    ")",
    "=",
    "≤",
    "+",
    "-",
    "*",
    "div",
    "mod",
    " ",
    "\n",
    "x",
    "w",
    "s",
    "i",
    "l",
    "k",
    "n",
    "0",
    "1",
    "9999999999999999999",
    ",",
    "∂",
    "/",
    "claim ",
    "pad ",
    "let ",
    "output ",
    "¬",
    "∧",
    "#",
];

fn mutate(src: &str, rng: &mut Lcg) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(chars.len() + 1);
        match rng.below(3) {
            0 if !chars.is_empty() => {
                let len = 1 + rng.below(4);
                let end = (at + len).min(chars.len());
                chars.drain(at.min(chars.len())..end);
            }
            1 => {
                let piece: Vec<char> = PIECES[rng.below(PIECES.len())].chars().collect();
                let at = at.min(chars.len());
                chars.splice(at..at, piece);
            }
            _ if !chars.is_empty() => {
                let (a, b) = (rng.below(chars.len()), rng.below(chars.len()));
                chars.swap(a, b);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_specs_do_not_panic() {
    let mut specs: Vec<String> = common::shipped_specs().iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    specs.sort();
    let mut rng = Lcg(0x5eed);
    let path = Path::new("mutant.conv");
    let (mut cases, mut reported) = (0, 0);
    // A 2-D or 3-D spec costs 3 to 30 times as much as a 1-D one through the pipeline
    // (bigger tables, N-D runs on the engine): fewer mutants each, for CI's time.
    let several_axes =
        |src: &str| src.lines().any(|l| l.starts_with("run") && (l.contains("2d(") || l.contains("3d(")));
    let mutants = |src: &str| if several_axes(src) { 60 } else { 200 };
    for src in &specs {
        for _ in 0..mutants(src) {
            let text = mutate(src, &mut rng);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let report = cli::load_bytes(path, text.clone().into_bytes(), None)
                    .and_then(|model| cli::analyse_model(path, model, true, RunOptions::default()));
                match report {
                    Ok(report) => {
                        assert!(!render::derive_text(&report).is_empty());
                        assert!(serde_json::from_str::<serde_json::Value>(&render::derive_json(&report)).is_ok());
                        true
                    }
                    Err(e) => {
                        assert!(!cli::diagnostic(&e, false).is_empty());
                        false
                    }
                }
            }));
            assert!(outcome.is_ok(), "panicked on:\n{text}");
            cases += 1;
            reported += usize::from(outcome.unwrap());
        }
    }
    assert_eq!(cases, specs.iter().map(|s| mutants(s)).sum::<usize>());
    assert!(cases >= 4000, "{cases} mutants");
    // The mutations are small: many specs still give a report, so the checks, the runs and
    // the renderings are exercised too.
    assert!(reported > cases / 10, "only {reported} of {cases} mutants gave a report");
}

/// Every size of every shipped spec at `i64::MAX` gives a report or is refused (past a
/// limit, an overflow of the spec's arithmetic, a call PyTorch rejects), never a panic or
/// a wrapped value (the test build checks overflow); a refusal is exit 2 with an error
/// that names the spec.
#[test]
fn the_largest_sizes_are_refused_not_overflowed() {
    let mut refused = 0;
    for spec in common::shipped_specs() {
        let src = std::fs::read_to_string(&spec).unwrap();
        let line = src.lines().find(|l| l.starts_with("let")).expect("every shipped spec has a let line");
        for name in line.trim_start_matches("let").split(',').map(|s| s.split('=').next().unwrap().trim()) {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_symconv"))
                .args(["check", spec.to_str().unwrap(), "--let", &format!("{name}={}", i64::MAX)])
                .env("NO_COLOR", "1")
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            let at = format!("{} with {name} = i64::MAX", spec.display());
            assert!(!err.contains("panicked"), "{at}: {err}");
            match out.status.code() {
                Some(0 | 1) => {}
                Some(2) => {
                    refused += 1;
                    let named = err.to_lowercase().starts_with("error: ") && err.contains(&spec.display().to_string());
                    assert!(named, "{at}: {err}");
                }
                other => panic!("{at}: exit {other:?}: {err}"),
            }
        }
    }
    assert!(refused > 50, "only {refused} refusals");
}
