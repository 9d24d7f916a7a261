//! Whole-process timing of the main job: `symconv derive specs/standard.conv
//! specs/left_padded.conv` on the release binary, as a user runs it. Prints the median,
//! the 90th percentile and the minimum over many runs; the target is a median under 10 ms,
//! the backward pass (gather forms, named calls with their proofs, their runs) included.
//! Also times `check --sweep n=1..32,k=1..8` on the heaviest shipped specs (target: 2 s),
//! the run of the valid convolution at n = 4096, k = 64, whose every Jacobian entry is
//! compared with the engine (target: 0.3 s and 100 MB), and the one at n = 10⁶, k = 64,
//! whose Jacobians get Freivalds' check (target: 1 s), and the derivation of a formula of
//! 50 product terms (target: 1 s). Runs of large sizes also report the process's peak
//! memory.
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

/// The peak resident memory of one run of symconv, in MB: this bench runs itself as
/// `--peak-memory ARGS…`, which runs symconv and reads its children's peak from the kernel.
fn peak_memory(args: &[&str]) -> f64 {
    let out = Command::new(std::env::current_exe().expect("the bench's own path"))
        .arg("--peak-memory")
        .args(args)
        .output()
        .expect("the bench runs itself");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a peak in kB")
}

fn report(label: &str, args: &[&str]) {
    let large = args.iter().any(|a| a.starts_with("n=4096") || a.starts_with("n=1000000"));
    let slow = args.contains(&"--sweep") || args.iter().any(|a| a.contains("fifty"));
    let runs = if slow || large { 10 } else { 200 };
    let t = time(args, runs);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let memory = if large { format!("   peak {:.1} MB", peak_memory(args) / 1024.0) } else { String::new() };
    println!(
        "{label:<52} median {:7.2} ms   p90 {:7.2} ms   min {:7.2} ms   ({runs} runs){memory}",
        ms(t[runs / 2]),
        ms(t[runs * 9 / 10]),
        ms(t[0])
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--peak-memory") {
        let status = Command::new(env!("CARGO_BIN_EXE_symconv")).args(&args[2..]).stdout(Stdio::null()).status();
        assert!(status.expect("symconv runs").success());
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
        println!("{}", usage.ru_maxrss);
        return;
    }
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
    report(
        "check standard --let n=1000000,k=64 (runs, Freivalds)",
        &["check", "specs/standard.conv", "--let", "n=1000000,k=64"],
    );
    for spec in ["standard", "multichannel", "grouped", "transposed_strided"] {
        let path = format!("specs/{spec}.conv");
        report(&format!("check {spec} --sweep n=1..32,k=1..8"), &["check", &path, "--sweep", "n=1..32,k=1..8"]);
    }
    report("derive tests/fixtures/fifty_terms.conv (50 terms)", &["derive", "tests/fixtures/fifty_terms.conv"]);
    report("symconv --version (process start alone)", &["--version"]);
}
