//! symconv: derives, proves and checks the index formulas of convolutions.

pub mod algebra;
pub mod check;
pub mod cli;
pub mod derive;
pub mod engine;
pub mod limits;
pub mod model;
pub mod ops;
pub mod render;
pub mod scaffold;
pub mod syntax;
