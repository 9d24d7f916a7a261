//! Every symbolic result of every shipped spec — the domain, the length and each closed
//! form — agrees with brute force from the definition at every size of the claim sweep
//! (`n ≤ 16`, every other size from 1 to `n`), not only at the `let` sizes.

use std::collections::BTreeMap;
use symconv::check::{self, CheckError};
use symconv::cli::load;
use symconv::derive;

#[test]
fn symbolic_results_agree_with_brute_force_over_the_sweep() {
    let mut checked = BTreeMap::new();
    for spec in ["standard", "left_padded", "full", "right_padded"] {
        let path = format!("specs/{spec}.conv");
        let model = load(path.as_ref(), None).expect("shipped specs load");
        let derivation = derive::derive(&model).expect("shipped specs derive");
        let (sizes, _) = check::sweep(&model);
        let mut count = 0;
        for s in &sizes {
            match check::cross_check(&model, &derivation, s) {
                Ok(()) => count += 1,
                Err(CheckError::Bug(why)) => panic!("{spec}: {why}"),
                Err(e) => panic!("{spec}: cannot check at {s:?}: {e}"),
            }
        }
        checked.insert(spec, count);
    }
    // 136 size sets (n ≤ 16, 1 ≤ k ≤ n) plus the let sizes, for each spec.
    assert!(checked.values().all(|&c| c == 137), "{checked:?}");
}
