//! The hunter for false verdicts (issue 11): at least 20,000 claims made by mutating what
//! symconv derived for every shipped spec, each settled by symconv and judged by plain
//! loops at several size sets (see `hunt/mod.rs`). No false claim may be proved or
//! checked, and every refutation's counterexample must be real.

mod hunt;

use hunt::{Rng, Tally};

/// Claims the hunt makes, at least.
const CLAIMS: usize = 20_000;
/// Claims settled together, as one spec's claims are.
const BATCH: usize = 40;

#[test]
fn no_false_verdict_among_twenty_thousand_mutated_claims() {
    let specs = hunt::shipped(std::path::Path::new("specs"));
    let batches = CLAIMS.div_ceil(specs.len()).div_ceil(BATCH);
    // Every spec's batches, dealt to the threads in turn; each batch's claims come from
    // its own seed, so that they do not depend on which thread makes them.
    let work: Vec<(usize, usize)> = (0..specs.len()).flat_map(|s| (0..batches).map(move |b| (s, b))).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (specs, work) = (&specs, &work);
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    for &(s, b) in work.iter().skip(t).step_by(threads) {
                        let mut rng = Rng::new(0x11 + (s * batches + b) as u64);
                        let claims = (0..BATCH).map(|_| hunt::mutant(&specs[s], &mut rng)).collect();
                        hunt::hunt(&specs[s], claims, &mut tally).unwrap_or_else(|e| panic!("a false verdict: {e}"));
                    }
                    tally
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a hunt panicked")).collect()
    });
    let mut total = Tally::default();
    for t in tallies {
        total.claims += t.claims;
        total.proved += t.proved;
        total.checked += t.checked;
        total.refuted += t.refuted;
    }
    eprintln!("hunter: {total:?}");
    assert!(total.claims >= CLAIMS, "{total:?}");
    // The mutations make claims of every verdict.
    assert!(total.proved > 0 && total.refuted > 0, "{total:?}");
}
