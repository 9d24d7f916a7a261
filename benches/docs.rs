//! Whole-process timing of `symconv docs specs/*.conv --out DIR` on the release binary, as
//! a user runs it (target: under 2 s for all shipped specs): into a fresh folder, and again
//! into the folder it wrote (every file checked for its marker, none rewritten). Beside it,
//! `derive` of the same specs, the analysis that the pages render, to show where the time
//! goes.
//!
//! Run with `cargo bench --bench docs`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// One run of `symconv ARGS`: its time. The seed spec does not hold, by design, so the
/// status is 1; any other than 0 or 1 is a failure.
fn once(args: &[String]) -> Duration {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs");
    let elapsed = start.elapsed();
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 1)), "symconv {args:?}: {code:?}\n{}", String::from_utf8_lossy(&out.stderr));
    elapsed
}

/// Prints the median, the 90th percentile and the least of `times`.
fn print(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |k: usize| times[k].as_secs_f64() * 1e3;
    let n = times.len();
    println!(
        "{label:<44} median {:8.1} ms   p90 {:8.1} ms   min {:8.1} ms   ({n} runs)",
        ms(n / 2),
        ms(n * 9 / 10),
        ms(0)
    );
}

fn main() {
    let mut specs: Vec<String> = std::fs::read_dir("specs")
        .expect("the specs' folder")
        .map(|e| e.expect("a readable entry").path().display().to_string())
        .filter(|p| p.ends_with(".conv"))
        .collect();
    specs.sort();
    let dir = std::env::temp_dir().join(format!("symconv-docs-bench-{}", std::process::id()));
    let docs = |dir: &PathBuf| {
        let mut args = vec!["docs".to_string()];
        args.extend(specs.iter().cloned());
        args.extend(["--out".to_string(), dir.display().to_string()]);
        args
    };
    let runs = 10;
    let fresh = (0..runs)
        .map(|k| {
            let dir = dir.join(k.to_string());
            once(&docs(&dir))
        })
        .collect();
    print(&format!("docs specs/*.conv ({} specs), a fresh folder", specs.len()), fresh);
    let again = (0..runs).map(|_| once(&docs(&dir.join("0")))).collect();
    print("docs specs/*.conv, the folder it wrote", again);
    let derive: Vec<String> = std::iter::once("derive".to_string()).chain(specs.iter().cloned()).collect();
    print("derive specs/*.conv (the analysis alone)", (0..runs).map(|_| once(&derive)).collect());
    let _ = std::fs::remove_dir_all(&dir);
}
