//! Every symbolic result of every shipped spec — the domain, the lengths and each closed
//! form — and every claim agree with brute force from the definition at every size in a
//! sweep (`n = 1..12`, `k = 1..5`, other sizes at their `let` values), not only at the
//! `let` sizes.

mod common;

use symconv::check::{self, SizeRange};
use symconv::cli::load;
use symconv::derive;

#[test]
fn symbolic_results_and_claims_agree_with_brute_force_over_a_sweep() {
    let specs = common::shipped_specs();
    assert!(specs.len() >= 15, "the shipped specs are here");
    let ranges = [SizeRange { name: "n".into(), lo: 1, hi: 12 }, SizeRange { name: "k".into(), lo: 1, hi: 5 }];
    for path in specs {
        let model = load(&path, None).expect("shipped specs load");
        let derivation = derive::derive(&model, &symconv::limits::Limits::default()).expect("shipped specs derive");
        let report = check::sweep_check(&model, &derivation, &[], &ranges, &|| ())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(report.checked >= 40, "{}: only {} size sets checked", path.display(), report.checked);
        assert_eq!(report.checked + report.skipped, 60);
        assert!(report.failures.is_empty(), "{}: {:?}", path.display(), report.failures);
    }
}
