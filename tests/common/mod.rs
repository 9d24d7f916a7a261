//! What several test files share.

use std::path::PathBuf;

/// The shipped specs, `specs/*.conv`, in order of their paths.
pub fn shipped_specs() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = std::fs::read_dir("specs")
        .expect("the specs' folder")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conv"))
        .collect();
    specs.sort();
    specs
}
