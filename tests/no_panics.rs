//! Mutated specs never panic: thousands of random edits of every shipped spec go through
//! parsing, resolution and derivation, and each either succeeds or returns an error.

use std::panic::{catch_unwind, AssertUnwindSafe};
use symconv::{derive, model, syntax};

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
    let mut specs: Vec<String> =
        std::fs::read_dir("specs").unwrap().map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect();
    specs.sort();
    let mut rng = Lcg(0x5eed);
    let (mut cases, mut derived) = (0, 0);
    for src in &specs {
        for _ in 0..200 {
            let text = mutate(src, &mut rng);
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                let spec = syntax::parse(&text).ok()?;
                let m = model::resolve(&spec, &text, "mutant", &[]).ok()?;
                derive::derive(&m).ok()
            }));
            assert!(outcome.is_ok(), "panicked on:\n{text}");
            cases += 1;
            derived += usize::from(matches!(outcome, Ok(Some(_))));
        }
    }
    assert_eq!(cases, specs.len() * 200);
    // The mutations are small: many specs still derive, so derivation is exercised too.
    assert!(derived > cases / 10, "only {derived} of {cases} mutants derived");
}
