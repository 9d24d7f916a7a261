//! Checks: claims (proved by the e-graph, else checked by brute force over sizes, else
//! refuted with a counterexample), the brute-force cross-check of every symbolic result,
//! the Jacobian tables, and the runs on the engine.
//!
//! Each file imports only those below it: `error`, then `brute`, `tables`, `validate`,
//! `claims`, `sweep`, the `runs`, `backward`, and `report` on top.

mod backward;
pub(crate) mod brute;
mod claims;
pub(crate) mod error;
mod report;
mod runs;
mod sweep;
pub(crate) mod tables;
mod validate;

pub use backward::{check_gradients, gradient_values, upstream_values, BackwardReport, CallReport, Values};
pub use brute::{box_size, brute_domain, brute_jacobian, expand, tuples};
pub use claims::{settle_claims, ClaimReport, Verdict};
pub use error::{show_sizes, CheckError};
pub use report::{report, Report};
pub use runs::{conv_of, numeric, run_engine, values, EngineRun, JacobianCheck, RunOptions, RunReport, Weights};
pub use sweep::{sweep_check, SizeRange, SweepReport};
pub use tables::{checked_table, closed_form_text, cross_check, gather_name, gather_text, length_at, table, Table};

/// What the tests of several files here share.
#[cfg(test)]
mod tests {
    use crate::derive::Derivation;
    use crate::model::Model;

    /// The valid convolution `s_i = Σ x_l w_<i+k-l-1>` at n = 6, k = 3, derived.
    pub(crate) fn standard() -> (Model, Derivation) {
        let src = "input x[n]\nweight w[k]\nlet n = 6, k = 3\ns_i = Σ x_l w_<i+k-l-1>\n";
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let derivation = crate::derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        (model, derivation)
    }
}
