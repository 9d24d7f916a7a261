//! The index algebra: canonical index expressions, conditions, formulas, exact evaluation.

pub mod compiled;
pub mod cond;
pub mod formula;
pub mod index;
pub mod poly;

pub use cond::{Bound, Cond};
pub use formula::{Element, Formula, Term, Value};
pub use index::{Env, EvalError, Index, IndexExt};
