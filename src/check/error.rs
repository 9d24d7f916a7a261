//! The errors of checking, and how sizes are told in messages.

use crate::algebra::{Env, EvalError};
use crate::model::Model;

/// Why checking could not be completed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    /// A symbolic result disagrees with brute force: a bug in symconv.
    #[error("internal error (a bug in symconv): {0}")]
    Bug(String),
    /// The sizes make no sense for this spec.
    #[error("{0}")]
    Sizes(String),
    /// The work would pass one of symconv's limits (tables, brute-force searches).
    #[error("{0}")]
    Limit(String),
    /// A `run` line would pass one of symconv's limits at the sizes.
    #[error("{message}")]
    RunLimit {
        /// The run's line.
        span: crate::syntax::Span,
        /// Which limit, and by how much.
        message: String,
    },
    /// The engine failed on a run.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// Evaluation failed at concrete sizes.
    #[error("at {sizes}: {error}")]
    Eval {
        /// The sizes, as `n = 10, k = 3`.
        sizes: String,
        /// What failed.
        error: EvalError,
    },
}

impl From<crate::engine::layers::LayerError> for CheckError {
    /// A layer's engine failure, or its refusal of the sizes (in PyTorch's words).
    fn from(e: crate::engine::layers::LayerError) -> CheckError {
        match e {
            crate::engine::layers::LayerError::Engine(e) => CheckError::Engine(e),
            crate::engine::layers::LayerError::Refused(why) => CheckError::Sizes(why),
        }
    }
}

/// `n = 10, k = 3`.
pub fn show_sizes(sizes: &[(String, i64)]) -> String {
    named(sizes.iter().map(|(n, v)| (n, v)))
}

/// Names with their values, as `i = 2, j = 3`: sizes, or the indices of an entry.
pub(crate) fn named<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a i64)>) -> String {
    pairs.into_iter().map(|(n, v)| format!("{n} = {v}")).collect::<Vec<_>>().join(", ")
}

/// The sizes at these values, in the spec's order.
pub(crate) fn ordered(model: &Model, sizes: &Env) -> Vec<(String, i64)> {
    model.sizes.iter().filter_map(|n| sizes.get(n).map(|v| (n.clone(), *v))).collect()
}

/// The spec's sizes at these values, in the spec's order, as `n = 10, k = 3`.
pub(crate) fn shown_sizes(model: &Model, sizes: &Env) -> String {
    show_sizes(&ordered(model, sizes))
}

/// An evaluation error at these sizes as a check error that names them.
pub(crate) fn eval_err(model: &Model, sizes: &Env) -> impl Fn(EvalError) -> CheckError {
    let shown = shown_sizes(model, sizes);
    move |error| CheckError::Eval { sizes: shown.clone(), error }
}
