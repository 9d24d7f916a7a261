//! Every symbolic result of every shipped spec — the domain, the lengths and each closed
//! form — and every claim agree with brute force from the definition at every size in a
//! sweep, not only at the `let` sizes: `n = 1..12`, `k = 1..5` for a 1-D spec; for a spec
//! of several spatial axes, every spatial size of the input from 1 to its `let` value and
//! the kernel's first spatial size from 1 to its `let` value (32 to 120 size sets each).
//! Other sizes keep their `let` values.

mod common;

use symconv::algebra::IndexExt;
use symconv::check::{self, SizeRange};
use symconv::cli::load;
use symconv::derive;
use symconv::model::{Model, Role};

/// How many spatial axes the spec's run line works along.
fn spatial(model: &Model) -> usize {
    match (model.runs.first(), model.layers.first()) {
        (Some(run), _) => run.op.spatial(),
        (None, Some(layer)) => layer.op.spatial(),
        (None, None) => panic!("{}: every shipped spec has a run line", model.name),
    }
}

/// The sweep of a spec of several spatial axes: x's spatial sizes, then the first
/// weight's first spatial size (where there is a weight), each from 1 to its `let` value.
fn nd_ranges(model: &Model) -> Vec<SizeRange> {
    let spatial = spatial(model);
    let axes = |role: Role| -> Vec<String> {
        let Some(t) = model.tensors.iter().find(|t| t.role == role) else { return Vec::new() };
        t.shape[t.shape.len() - spatial..].iter().flat_map(|d| d.names()).collect()
    };
    let mut names = axes(Role::Input);
    names.extend(axes(Role::Weight).into_iter().take(1));
    names.into_iter().map(|name| SizeRange { hi: model.values[&name], name, lo: 1 }).collect()
}

#[test]
fn symbolic_results_and_claims_agree_with_brute_force_over_a_sweep() {
    let specs = common::shipped_specs();
    assert!(specs.len() >= 28, "the shipped specs are here");
    let mut nd = 0;
    for path in specs {
        let model = load(&path, None).expect("shipped specs load");
        let derivation = derive::derive(&model, &symconv::limits::Limits::default()).expect("shipped specs derive");
        let ranges: Vec<SizeRange> = match spatial(&model) {
            1 => [SizeRange { name: "n".into(), lo: 1, hi: 12 }, SizeRange { name: "k".into(), lo: 1, hi: 5 }]
                .into_iter()
                .filter(|r| model.sizes.contains(&r.name))
                .collect(),
            _ => nd_ranges(&model),
        };
        let sets: i64 = ranges.iter().map(|r| r.hi - r.lo + 1).product();
        let report = check::sweep_check(&model, &derivation, &[], &ranges, &|| ())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(report.checked + report.skipped, sets as usize, "{}", path.display());
        if spatial(&model) == 1 {
            // n from 1 to 12, and k from 1 to 5 where there is a kernel.
            let least = if ranges.len() == 2 { 40 } else { 10 };
            assert!(report.checked >= least, "{}: only {} size sets checked", path.display(), report.checked);
        } else {
            // Every spatial size and a kernel size (where there is a weight) vary; the
            // sizes where the output is empty are skipped, and at least a third of the sets
            // are checked.
            let weighted = model.tensors.iter().any(|t| t.role == Role::Weight);
            let (axes, least) = if weighted { (3, 30) } else { (2, 12) };
            assert!(ranges.len() >= axes && sets >= least, "{}: {ranges:?}", path.display());
            assert!(
                3 * report.checked >= sets as usize,
                "{}: only {} of {sets} size sets checked",
                path.display(),
                report.checked
            );
            nd += 1;
        }
        assert!(report.failures.is_empty(), "{}: {:?}", path.display(), report.failures);
    }
    assert!(nd >= 11, "{nd} specs of several spatial axes swept");
}
