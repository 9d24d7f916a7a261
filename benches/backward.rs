//! In-process timing of the backward checks at n = 10⁶, k = 64 for `specs/standard.conv`
//! and `specs/transposed_strided.conv` (target: under 1 s each): every gradient's named
//! call on the engine and the engine's own backward against the gather form compiled,
//! as `check --let n=1000000,k=64` does after its runs. Prints the median and the minimum
//! of 5 runs each.
//!
//! Run with `cargo bench --bench backward`.

use std::time::{Duration, Instant};
use symconv::check::{check_gradients, RunOptions};

fn main() {
    for spec in ["standard", "transposed_strided"] {
        let path = format!("specs/{spec}.conv");
        let src = std::fs::read_to_string(&path).expect("a shipped spec");
        let sizes = vec![("n".to_string(), 1_000_000), ("k".to_string(), 64)];
        let parsed = symconv::syntax::parse(&src).expect("it parses");
        let model = symconv::model::resolve(&parsed, &src, spec, &sizes).expect("it resolves");
        let derivation = symconv::derive::derive(&model, &symconv::limits::Limits::default()).expect("it derives");
        let mut times: Vec<Duration> = (0..5)
            .map(|_| {
                let start = Instant::now();
                let reports = check_gradients(&model, &derivation, &model.values, RunOptions::default())
                    .expect("the gradients are checked");
                let elapsed = start.elapsed();
                assert!(reports.iter().all(|r| r.holds == Some(true)), "{spec}: a gradient disagrees");
                elapsed
            })
            .collect();
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "backward checks of {spec} at n = 10⁶, k = 64: median {:7.1} ms   min {:7.1} ms   (5 runs)",
            ms(times[2]),
            ms(times[0])
        );
    }
}
