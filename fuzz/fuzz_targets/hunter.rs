//! The hunter for false verdicts (issue 11) on a fuzzer's bytes: they choose a shipped
//! spec and eight claims mutated from what symconv derived for it (see
//! `tests/hunt/mod.rs`, shared with the `hunter` property test); symconv settles them and
//! each verdict is judged by plain loops at three size sets. A false verdict panics.

#![no_main]

#[path = "../../tests/hunt/mod.rs"]
mod hunt;

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

static SPECS: OnceLock<Vec<hunt::Spec>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let specs = SPECS.get_or_init(|| hunt::shipped(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs")));
    let mut rng = hunt::Rng::from_bytes(data);
    let spec = &specs[rng.below(specs.len())];
    let claims = (0..8).map(|_| hunt::mutant(spec, &mut rng)).collect();
    let mut tally = hunt::Tally::default();
    if let Err(e) = hunt::hunt(spec, claims, &mut tally) {
        panic!("a false verdict: {e}");
    }
});
