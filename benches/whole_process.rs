//! Whole-process timing of the main job: `symconv derive specs/standard.conv
//! specs/left_padded.conv` on the release binary, as a user runs it. Prints the median,
//! the 90th percentile and the minimum over many runs; the target is a median under 5 ms.
//! Also times `check --sweep n=1..32,k=1..8` on the heaviest shipped specs (target: 2 s),
//! and the run of the valid convolution at n = 4096, k = 64, whose every Jacobian entry
//! is compared with the engine (target: 0.3 s).
//!
//! Run with `cargo bench --bench whole_process`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn time(args: &[&str], runs: usize) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_symconv"))
                .args(args)
                .stdout(Stdio::null())
                .status()
                .expect("symconv runs");
            let elapsed = start.elapsed();
            assert!(status.success(), "symconv {args:?} failed");
            elapsed
        })
        .collect();
    times.sort();
    times
}

fn report(label: &str, args: &[&str]) {
    let runs = if args.contains(&"--sweep") || args.contains(&"n=4096,k=64") { 10 } else { 200 };
    let t = time(args, runs);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label:<44} median {:6.2} ms   p90 {:6.2} ms   min {:6.2} ms   ({runs} runs)",
        ms(t[runs / 2]),
        ms(t[runs * 9 / 10]),
        ms(t[0])
    );
}

fn main() {
    report("derive standard + left_padded (text)", &["derive", "specs/standard.conv", "specs/left_padded.conv"]);
    report(
        "derive standard + left_padded (json)",
        &["derive", "--format", "json", "specs/standard.conv", "specs/left_padded.conv"],
    );
    report(
        "check specs/*.conv (4 specs)",
        &["check", "specs/standard.conv", "specs/left_padded.conv", "specs/full.conv", "specs/right_padded.conv"],
    );
    report(
        "check standard --let n=4096,k=64 (runs, every entry)",
        &["check", "specs/standard.conv", "--let", "n=4096,k=64"],
    );
    for spec in ["standard", "multichannel", "grouped", "transposed_strided"] {
        let path = format!("specs/{spec}.conv");
        report(&format!("check {spec} --sweep n=1..32,k=1..8"), &["check", &path, "--sweep", "n=1..32,k=1..8"]);
    }
    report("symconv --version (process start alone)", &["--version"]);
}
