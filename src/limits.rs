//! Every limit symconv checks, in one value with its defaults. A limit is checked and
//! reported, never run into: the message names it and says by how much it was passed.

use std::time::Duration;

/// symconv's limits. One value is made where a job starts (the command line uses
/// [`Limits::default`]) and passed down to every stage that checks one (the parser and
/// the evaluator of proof steps read [`Limits::DEFAULT`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most levels of nesting the parser accepts (a chain of operators counts its length).
    pub nesting: usize,
    /// Most entries of a Jacobian table (each an exact value).
    pub table_entries: u64,
    /// Most output index tuples brute force may try for the domain.
    pub searched_outputs: u64,
    /// Most size sets a claim's check by numbers tries.
    pub claim_size_sets: u64,
    /// Most brute-force work of one claim's check (an output times an element of a tensor).
    pub claim_work: u64,
    /// Most brute-force work spent on checking proofs at sizes smaller than the `let` sizes.
    pub validation_work: u64,
    /// Most size sets one `--sweep` may visit.
    pub sweep_size_sets: u64,
    /// Most values a run's input, weight and output (or its engine call's padded input and
    /// output) may hold together.
    pub run_values: u64,
    /// Most entries that can be nonzero which the engine's Jacobians are compared on one
    /// by one under `--jacobians auto`.
    pub compared_entries: u64,
    /// Most entries that can be nonzero held at once under `--jacobians every-entry`.
    pub every_entry: u64,
    /// Most entries that can be nonzero a run's Jacobians may have at sizes too large for
    /// tables.
    pub run_entries: u64,
    /// Most values one Σ runs over when a proof step is evaluated.
    pub widest_sum: i64,
    /// Most e-nodes of one e-graph run.
    pub egraph_nodes: usize,
    /// Most iterations of one e-graph run.
    pub egraph_iterations: usize,
    /// Most time of one e-graph run.
    pub egraph_time: Duration,
    /// Most matches of one rule in one iteration of an e-graph run.
    pub egraph_matches: usize,
}

impl Limits {
    /// The defaults. The parser and the evaluator of proof steps read their limits
    /// (`nesting`, `widest_sum`) from here, not from a value passed down: the parser sizes
    /// its thread's stack and its messages by its limit at build time.
    pub const DEFAULT: Limits = Limits {
        nesting: 256,
        table_entries: 1_000_000,
        searched_outputs: 4_000_000,
        claim_size_sets: 2000,
        claim_work: 2_000_000,
        validation_work: 200_000,
        sweep_size_sets: 1_000_000,
        run_values: 1 << 24,
        compared_entries: 4_000_000,
        every_entry: 1 << 27,
        run_entries: 1 << 31,
        widest_sum: 1 << 20,
        egraph_nodes: 20_000,
        egraph_iterations: 400,
        egraph_time: Duration::from_secs(2),
        egraph_matches: 200_000,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}
