//! Timing of the checks of 2-D runs on the release binary, as a user runs them:
//!
//! - every entry of both Jacobians of a valid conv2d at a 32 × 32 input, 3 × 3 kernel,
//!   4 → 4 channels (`benches/fixtures/conv2d_every_entry.conv`: its ∂s/∂x has no table),
//!   side by side with JAX's `jit(jacrev)` of the same conv (`benches/jax_jacobian.py`;
//!   target: 10× faster). The check's whole process is timed, and the same spec without
//!   its run line, whose difference is the run's own cost;
//! - Freivalds' check at 512 × 512, 3 × 3, 16 → 16 channels
//!   (`benches/fixtures/conv2d_freivalds.conv`; target: under 2 s and 400 MB);
//! - `check --sweep H=1..12,V=1..12,P=1..4,Q=1..4` of `specs/conv2d_strided.conv`, or of
//!   `benches/fixtures/conv2d_strided.conv` where that spec is not there (target: 5 s).
//!
//! JAX is run by the python in `SYMCONV_JAX_PYTHON`, else `~/torchenv/bin/python`, where
//! it imports jax; otherwise the bench says that JAX was not found.
//!
//! Run with `cargo bench --bench nd`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The times of `runs` runs of `symconv ARGS`, sorted, and the first line of its error
/// where it fails (which is printed: a failing run is timed all the same).
fn time(args: &[&str], runs: usize) -> (Vec<Duration>, Option<String>) {
    let mut failed = None;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs");
            let elapsed = start.elapsed();
            if !out.status.success() {
                let error = String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or_default().to_string();
                failed = Some(format!("exit {:?}: {error}", out.status.code()));
            }
            elapsed
        })
        .collect();
    times.sort();
    (times, failed)
}

/// The peak resident memory of one run of symconv, in kB: this bench runs itself as
/// `--peak-memory ARGS…`, which runs symconv and reads its children's peak from the kernel.
fn peak_memory(args: &[&str]) -> f64 {
    let out = Command::new(std::env::current_exe().expect("the bench's own path"))
        .arg("--peak-memory")
        .args(args)
        .output()
        .expect("the bench runs itself");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a peak in kB")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Times `symconv ARGS` `runs` times and prints the median, the 90th percentile and the
/// minimum (and the peak memory where asked); gives the median.
fn report(label: &str, args: &[&str], runs: usize, memory: bool) -> Duration {
    let (t, failed) = time(args, runs);
    let memory = if memory { format!("   peak {:.1} MB", peak_memory(args) / 1024.0) } else { String::new() };
    if let Some(why) = failed {
        println!("{label}: symconv {} failed, timed all the same ({why})", args.join(" "));
    }
    println!(
        "{label:<58} median {:8.2} ms   p90 {:8.2} ms   min {:8.2} ms   ({runs} runs){memory}",
        ms(t[runs / 2]),
        ms(t[runs * 9 / 10]),
        ms(t[0])
    );
    t[runs / 2]
}

/// The python that imports jax: `SYMCONV_JAX_PYTHON`, else `~/torchenv/bin/python`.
fn jax_python() -> Option<String> {
    let python = std::env::var("SYMCONV_JAX_PYTHON")
        .ok()
        .or_else(|| std::env::var("HOME").ok().map(|home| format!("{home}/torchenv/bin/python")))?;
    let imports = Command::new(&python).args(["-c", "import jax"]).stderr(Stdio::null()).status();
    imports.is_ok_and(|s| s.success()).then_some(python)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--peak-memory") {
        let status = Command::new(env!("CARGO_BIN_EXE_symconv")).args(&args[2..]).output();
        status.expect("symconv runs");
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
        println!("{}", usage.ru_maxrss);
        return;
    }
    let every = ["check", "benches/fixtures/conv2d_every_entry.conv", "--jacobians", "every-entry"];
    let whole = report("check conv2d 32×32, 3×3, 4→4 (every entry)", &every, 30, true);
    let rest =
        report("  the same spec without its run line", &["check", "benches/fixtures/conv2d_no_run.conv"], 30, false);
    let run = whole.saturating_sub(rest);
    println!("{:<58} {:8.2} ms (the difference of the medians)", "  the run's own check of every entry", ms(run));
    match jax_python() {
        None => println!("JAX was not found (set SYMCONV_JAX_PYTHON to a python that imports jax)"),
        Some(python) => {
            let out = Command::new(&python).arg("benches/jax_jacobian.py").output().expect("python runs");
            let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            println!("{:<58} {line}", "JAX's Jacobians of the same conv");
            let median = line.split("median ").nth(1).and_then(|r| r.split(' ').next()).and_then(|v| v.parse().ok());
            if let Some(jax) = median.map(|v: f64| Duration::from_secs_f64(v / 1e3)) {
                println!(
                    "{:<58} JAX / whole check {:.1}×   JAX / the run's own check {:.1}×   (target 10×)",
                    "  side by side",
                    jax.as_secs_f64() / whole.as_secs_f64(),
                    jax.as_secs_f64() / run.as_secs_f64().max(1e-6)
                );
            }
        }
    }
    report(
        "check conv2d 512×512, 3×3, 16→16 (Freivalds)",
        &["check", "benches/fixtures/conv2d_freivalds.conv"],
        5,
        true,
    );
    let spec = if Path::new("specs/conv2d_strided.conv").exists() {
        "specs/conv2d_strided.conv"
    } else {
        "benches/fixtures/conv2d_strided.conv"
    };
    report(
        &format!(
            "check {} --sweep H=1..12,V=1..12,P=1..4,Q=1..4",
            Path::new(spec).file_stem().unwrap().to_string_lossy()
        ),
        &["check", spec, "--sweep", "H=1..12,V=1..12,P=1..4,Q=1..4"],
        5,
        false,
    );
}
