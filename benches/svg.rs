//! Timing of `table --format svg`'s picture (issue 16) on a Jacobian of 2,000 × 2,000
//! cells or more: ∂s/∂x of `specs/standard.conv` at n = 2002, k = 3 (2000 × 2002 cells,
//! banded). The table is made by the library, with its entry limit raised (the command
//! line refuses a table this large). Timed: making the SVG string (target: under 1 s),
//! and resvg reading it and rendering it to pixels; its size is printed. The same for
//! ∂s/∂w (2000 × 3 cells, but 2002 distinct entries, each with a pattern of its own).
//!
//! Run with `cargo bench --bench svg`.

use std::path::Path;
use std::time::{Duration, Instant};
use symconv::check::{self, Table};
use symconv::limits::Limits;
use symconv::render;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `f` `runs` times and prints the median, the 90th percentile and the minimum.
fn report(label: &str, runs: usize, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{label:<58} median {:8.2} ms   p90 {:8.2} ms   min {:8.2} ms   ({runs} runs)",
        ms(times[runs / 2]),
        ms(times[runs * 9 / 10]),
        ms(times[0])
    );
}

/// The SVG of a table: how long it takes to make, its size, and how long resvg takes to
/// read it and to render it.
fn bench_table(t: &Table) {
    let name = format!("∂s/∂{} at {} × {} cells", t.wrt, t.rows.len(), t.cols.len());
    let svg = render::table_svg(t);
    println!("{name}: {} bytes ({:.2} MB)", svg.len(), svg.len() as f64 / (1 << 20) as f64);
    report(&format!("  table_svg ({name})"), 10, || {
        std::hint::black_box(render::table_svg(t));
    });
    let options = resvg::usvg::Options::default();
    report("  resvg: read the SVG", 5, || {
        std::hint::black_box(resvg::usvg::Tree::from_str(&svg, &options).expect("resvg reads it"));
    });
    let tree = resvg::usvg::Tree::from_str(&svg, &options).expect("resvg reads it");
    let size = tree.size().to_int_size();
    report(&format!("  resvg: render to {} × {} pixels", size.width(), size.height()), 5, || {
        let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).expect("a pixmap");
        resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
        std::hint::black_box(pixmap);
    });
}

fn main() {
    let model = symconv::cli::load(Path::new("specs/standard.conv"), None).expect("the spec loads");
    let limits = Limits { table_entries: 5_000_000, ..Limits::default() };
    let derivation = symconv::derive::derive(&model, &limits).expect("it derives");
    let mut sizes = model.values.clone();
    sizes.extend([("n".to_string(), 2002), ("k".to_string(), 3)]);
    for wrt in ["x", "w"] {
        let start = Instant::now();
        let t = check::table(&model, &derivation, wrt, &sizes).expect("the table");
        println!("(the table ∂s/∂{wrt} itself took {:.0} ms, not counted below)", ms(start.elapsed()));
        bench_table(&t);
    }
}
