//! The hunter for false verdicts (issue 11): at least 20,000 claims made by mutating what
//! symconv derived for every shipped 1-D spec, and 40 to 80 more for each 2-D and 3-D one, each settled by symconv and judged by plain
//! loops at several size sets (see `hunt/mod.rs`). No false claim may be proved or
//! checked, and every refutation's counterexample must be real.

mod hunt;

use hunt::{Rng, Tally};

/// Claims the hunt makes on the 1-D specs, at least.
const CLAIMS: usize = 20_000;
/// Claims settled together, as one spec's claims are.
const BATCH: usize = 40;
/// Batches of each 2-D spec and of each 3-D spec: settling a claim of theirs costs 5 to 50
/// times as much as of a 1-D spec (a bigger e-graph, more entries to check), so they get
/// fewer claims, for the test to stay within CI's time; the `hunter` fuzz target draws
/// every spec alike.
const BATCHES_2D: usize = 2;
const BATCHES_3D: usize = 1;

#[test]
fn no_false_verdict_among_twenty_thousand_mutated_claims() {
    let specs = hunt::shipped(std::path::Path::new("specs"));
    let one_d = specs.iter().filter(|s| s.spatial == 1).count();
    assert!(one_d >= 15 && specs.len() >= one_d + 11, "{one_d} 1-D specs of {}", specs.len());
    let batches_1d = CLAIMS.div_ceil(one_d).div_ceil(BATCH);
    let batches = |s: &hunt::Spec| match s.spatial {
        1 => batches_1d,
        2 => BATCHES_2D,
        _ => BATCHES_3D,
    };
    // Every spec's batches, dealt to the threads in turn; each batch's claims come from
    // its own seed, so that they do not depend on which thread makes them.
    let work: Vec<(usize, usize)> =
        specs.iter().enumerate().flat_map(|(s, spec)| (0..batches(spec)).map(move |b| (s, b))).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tallies: Vec<Tally> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (specs, work) = (&specs, &work);
                scope.spawn(move || {
                    let mut tally = Tally::default();
                    for &(s, b) in work.iter().skip(t).step_by(threads) {
                        let mut rng = Rng::new(0x11 + (s * batches_1d + b) as u64);
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
    assert!(total.claims >= CLAIMS + (specs.len() - one_d) * BATCH, "{total:?}");
    // The mutations make claims of every verdict.
    assert!(total.proved > 0 && total.refuted > 0, "{total:?}");
}
