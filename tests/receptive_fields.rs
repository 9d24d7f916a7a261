//! `table --format text` and `derive` print the Jacobian of a convolution with two spatial
//! axes or more as receptive fields when one matrix would be too wide, and `table --at`
//! picks the outputs. Each grid printed is read back and checked, cell by cell, against
//! the kernel's place worked out here by plain loops; then it is snapshotted.

use std::collections::BTreeMap;
use std::process::Command;

const CONV2D: &str = "tests/fixtures/conv2d_valid.conv";
const CHANNELS: &str = "tests/fixtures/conv2d_channels.conv";
const CONV3D: &str = "tests/fixtures/conv3d_valid.conv";

/// Runs the binary: stdout, stderr and the exit status.
fn symconv(args: &[&str]) -> (String, String, i32) {
    let o = Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&o.stdout), text(&o.stderr), o.status.code().unwrap_or(-1))
}

/// Stdout of a command that must succeed.
fn ok(args: &[&str]) -> String {
    let (out, err, code) = symconv(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    out
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots/tables");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// A grid read back from the text: the output element and the leading axes' values of its
/// heading, and each cell by its (row, column) values (row 0 for a one-row grid).
#[derive(Debug)]
struct ReadGrid {
    output: Vec<i64>,
    leading: Vec<i64>,
    cells: BTreeMap<(i64, i64), String>,
}

/// The integers in `s`, in order (`(p,c)=(0,1)` gives 0, 1).
fn integers(s: &str) -> Vec<i64> {
    s.split(|c: char| !c.is_ascii_digit() && c != '-').filter(|p| !p.is_empty()).map(|p| p.parse().unwrap()).collect()
}

/// The value of a label such as `u=3`.
fn label_value(s: &str) -> i64 {
    s.split_once('=').and_then(|(_, v)| v.parse().ok()).unwrap_or_else(|| panic!("a label `name=value`: `{s}`"))
}

/// The cells of a box-drawn line, trimmed.
fn cells(line: &str) -> Vec<&str> {
    line.trim_matches('│').split('│').map(str::trim).collect()
}

/// Every grid in a receptive-field text, read back.
fn read_grids(text: &str) -> Vec<ReadGrid> {
    let mut grids = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix('∂') else { continue };
        let (output, at) = rest.split_once('/').expect("a heading ∂s_…/∂x_…");
        let leading = at.split_once(" at ").map_or(Vec::new(), |(_, l)| integers(l.split_once('=').unwrap().1));
        let mut grid = ReadGrid { output: integers(output), leading, cells: BTreeMap::new() };
        assert!(lines.next().is_some_and(|l| l.starts_with('┌')), "a box under {line}");
        let header = lines.next().expect("the columns' labels");
        let header = cells(header);
        let labelled = header[0].contains('\\');
        let cols: Vec<i64> = header[usize::from(labelled)..].iter().map(|c| label_value(c)).collect();
        assert!(lines.next().is_some_and(|l| l.starts_with('├')));
        for row in lines.by_ref().take_while(|l| !l.starts_with('└')) {
            let row = cells(row);
            let (r, entries) = if labelled { (label_value(row[0]), &row[1..]) } else { (0, &row[..]) };
            assert_eq!(entries.len(), cols.len(), "{row:?}");
            for (&c, e) in cols.iter().zip(entries) {
                grid.cells.insert((r, c), e.to_string());
            }
        }
        grids.push(grid);
    }
    grids
}

/// `w[a,b]` (or `0` outside the kernel) at kernel offsets computed by subtraction.
fn kernel_entry(tensor: &str, prefix: &[i64], offsets: &[i64], kernel: &[i64]) -> String {
    if offsets.iter().zip(kernel).all(|(o, k)| (0..*k).contains(o)) {
        let index: Vec<String> = prefix.iter().chain(offsets).map(|v| v.to_string()).collect();
        format!("{tensor}[{}]", index.join(","))
    } else {
        "0".into()
    }
}

/// `--at` flags for every element of a box of output shape.
fn every_output(names: &[&str], shape: &[i64]) -> Vec<String> {
    let mut all = vec![Vec::new()];
    for &len in shape {
        all = all.into_iter().flat_map(|t: Vec<i64>| (0..len).map(move |v| [t.clone(), vec![v]].concat())).collect();
    }
    all.iter().map(|e| names.iter().zip(e).map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(",")).collect()
}

/// `table SPEC --wrt T --at …` for every output of the given shape.
fn at_every_output(spec: &str, wrt: &str, names: &[&str], shape: &[i64]) -> String {
    let flags = every_output(names, shape);
    let mut args = vec!["table", spec, "--wrt", wrt];
    for f in &flags {
        args.extend(["--at", f]);
    }
    ok(&args)
}

#[test]
fn a_2d_grid_holds_the_kernel_where_the_output_reads_the_input() {
    // s_<i,j> = Σ_<a,b> x_<i+a, j+b> w_<a,b>, H = 5, V = 6, P = 2, Q = 3: the output is 4 × 4.
    let text = at_every_output(CONV2D, "x", &["i", "j"], &[4, 4]);
    let grids = read_grids(&text);
    assert_eq!(grids.len(), 16, "{text}");
    for g in &grids {
        let (i, j) = (g.output[0], g.output[1]);
        assert!(g.leading.is_empty());
        assert_eq!(g.cells.len(), 5 * 6, "{g:?}");
        for (&(d, u), cell) in &g.cells {
            assert_eq!(cell, &kernel_entry("w", &[], &[d - i, u - j], &[2, 3]), "s_<{i},{j}>, x_<{d},{u}>");
        }
    }
    assert!(!text.contains("receptive fields of"), "--at prints the grids alone: {text}");
}

#[test]
fn a_2d_table_too_wide_as_a_matrix_is_printed_as_receptive_fields() {
    let text = ok(&["table", CONV2D, "--wrt", "x"]);
    let dense_width = text.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(dense_width <= 120, "{text}");
    assert!(text.starts_with("receptive fields of s_<0, 0>, s_<2, 2> and s_<3, 3>: as one matrix, ∂s/∂x is "));
    let grids = read_grids(&text);
    let outputs: Vec<&[i64]> = grids.iter().map(|g| g.output.as_slice()).collect();
    assert_eq!(outputs, [[0, 0], [2, 2], [3, 3]]);
    for g in &grids {
        for (&(d, u), cell) in &g.cells {
            assert_eq!(cell, &kernel_entry("w", &[], &[d - g.output[0], u - g.output[1]], &[2, 3]));
        }
    }
    snapshot("conv2d_valid_x", &text);
}

#[test]
fn each_channel_has_its_grid() {
    // s_<o,i,j> = Σ_<c,a,b> x_<c, i+a, j+b> w_<o,c,a,b>: C = O = 2, H = 4, V = 5, P = Q = 2.
    let text = at_every_output(CHANNELS, "x", &["o", "i", "j"], &[2, 3, 4]);
    let grids = read_grids(&text);
    assert_eq!(grids.len(), 2 * 3 * 4 * 2, "a grid per output and input channel");
    for g in &grids {
        let (&[o, i, j], &[c]) = (g.output.as_slice(), g.leading.as_slice()) else { panic!("{g:?}") };
        assert_eq!(g.cells.len(), 4 * 5);
        for (&(d, u), cell) in &g.cells {
            assert_eq!(cell, &kernel_entry("w", &[o, c], &[d - i, u - j], &[2, 2]), "s_<{o},{i},{j}>, x_<{c},{d},{u}>");
        }
    }
    // ∂s_<o,i,j>/∂w_<p,c,a,b> = [o = p] x_<c, i+a, j+b>: a grid per (p, c) over (a, b).
    let text = at_every_output(CHANNELS, "w", &["o", "i", "j"], &[2, 3, 4]);
    let grids = read_grids(&text);
    assert_eq!(grids.len(), 2 * 3 * 4 * 4);
    for g in &grids {
        let (&[o, i, j], &[p, c]) = (g.output.as_slice(), g.leading.as_slice()) else { panic!("{g:?}") };
        for (&(a, b), cell) in &g.cells {
            let want = if o == p { format!("x[{c},{},{}]", i + a, j + b) } else { "0".into() };
            assert_eq!(cell, &want, "s_<{o},{i},{j}>, w_<{p},{c},{a},{b}>");
        }
    }
    let text = ok(&["table", CHANNELS, "--wrt", "w"]);
    assert!(text.contains("\n∂s_<1, 1, 2>/∂w_<p, c, a, b> at (p,c)=(1,0)\n"), "{text}");
    snapshot("conv2d_channels_w", &text);
}

#[test]
fn a_3d_tensor_has_a_grid_per_depth() {
    // s_<z,i,j> = Σ_<d,a,b> x_<z+d, i+a, j+b> w_<d,a,b>: Z = 3, H = 3, V = 4, R = P = Q = 2.
    let text = at_every_output(CONV3D, "x", &["z", "i", "j"], &[2, 2, 3]);
    let grids = read_grids(&text);
    assert_eq!(grids.len(), 2 * 2 * 3 * 3, "a grid per output and input depth");
    for g in &grids {
        let (&[z, i, j], &[d]) = (g.output.as_slice(), g.leading.as_slice()) else { panic!("{g:?}") };
        for (&(e, u), cell) in &g.cells {
            assert_eq!(
                cell,
                &kernel_entry("w", &[], &[d - z, e - i, u - j], &[2, 2, 2]),
                "s_<{z},{i},{j}>, x_<{d},{e},{u}>"
            );
        }
    }
    let text = ok(&["table", CONV3D, "--wrt", "x", "--at", "z=1,i=0,j=1"]);
    assert_eq!(read_grids(&text).len(), 3);
    snapshot("conv3d_valid_x_at", &text);
}

#[test]
fn tables_narrow_enough_or_of_1d_convolutions_stay_one_matrix() {
    // ∂s/∂w of the 2-D spec fits in 120 columns: 16 rows, 6 columns.
    let text = ok(&["table", CONV2D, "--wrt", "w"]);
    assert!(text.starts_with("┌") && text.contains("│ (i,j)=(3,3) "), "{text}");
    assert_eq!(text.lines().count(), 16 + 4);
    assert!(text.lines().all(|l| l.chars().count() <= 120));
    // A 1-D convolution's table is one matrix however wide: 18 × 18 entries here.
    let text = ok(&["table", "specs/multichannel.conv", "--wrt", "w"]);
    assert!(text.starts_with("┌") && text.contains("│ (p,c,m)=(2,1,2) │"), "{text}");
    assert_eq!(text.lines().count(), 18 + 4);
    assert!(text.lines().next().unwrap().chars().count() > 120);
}

#[test]
fn other_formats_keep_the_dense_row_major_table() {
    let csv = ok(&["table", CONV2D, "--wrt", "x", "--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 16);
    let cols: Vec<String> = (0..5).flat_map(|d| (0..6).map(move |u| format!(",\"(d,u)=({d},{u})\""))).collect();
    assert_eq!(lines[0], format!("\"∂s_<i, j>/∂x_<d, u>\"{}", cols.concat()));
    assert!(lines[1].starts_with(r#""(i,j)=(0,0)","w[0,0]","w[0,1]","w[0,2]",0,0,0,"w[1,0]""#), "{}", lines[1]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["table", CONV2D, "--wrt", "x", "--format", "json"])).unwrap();
    assert_eq!(json["entries"].as_array().unwrap().len(), 16);
    assert_eq!(json["entries"][5][7], "w[0,0]", "s_<1,1> reads x_<1,1> with w_<0,0>");
}

#[test]
fn derive_prints_its_wide_2d_tables_as_receptive_fields() {
    let text = ok(&["derive", CONV2D]);
    let x = text.split("Jacobian ∂s_<i, j>/∂x_<d, u> at H = 5, V = 6, P = 2, Q = 3\n").nth(1).expect("the x table");
    let x = x.split("\nJacobian").next().unwrap();
    assert!(x.starts_with("receptive fields of s_<0, 0>, s_<2, 2> and s_<3, 3>"), "{x}");
    assert_eq!(read_grids(x).len(), 3);
    assert!(x.lines().filter(|l| l.starts_with(['┌', '│'])).all(|l| l.chars().count() <= 120), "{x}");
    let w = text.split("Jacobian ∂s_<i, j>/∂w_<a, b> at H = 5, V = 6, P = 2, Q = 3\n").nth(1).expect("the w table");
    assert!(w.starts_with("┌") && w.contains("│ (i,j)=(3,3) "), "{w}");
}

#[test]
fn a_wrong_at_is_a_usage_error() {
    let cases: [(&[&str], &str); 8] = [
        (&["--at", "k=1,j=0"], "--at k=1,j=0: `s` has no index `k` (its indices are i, j)"),
        (&["--at", "i=4,j=0"], "--at i=4,j=0: i = 4 is outside `s`, where 0 ≤ i ≤ 3 (at H = 5, V = 6, P = 2, Q = 3)"),
        (&["--at", "i=0,j=-1"], "j = -1 is outside `s`, where 0 ≤ j ≤ 3"),
        (&["--at", "i=1"], "--at i=1: no value for `j`: name each index of `s` once (i, j)"),
        (&["--at", "i=1,i=2,j=0"], "more than one value for `i`"),
        (&["--at", "i=1,j=0", "--at", "j=9"], "--at j=9: no value for `i`"),
        (&["--at", "i=one"], "`one` is not an integer"),
        (&["--at", "i=1,j=0", "--format", "csv"], "--at i=1,j=0: receptive fields are printed as text only"),
    ];
    for (flags, message) in cases {
        let args: Vec<&str> = ["table", CONV2D, "--wrt", "x"].iter().chain(flags).copied().collect();
        let (out, err, code) = symconv(&args);
        assert_eq!(code, 2, "{flags:?}: {err}");
        assert!(out.is_empty(), "{flags:?}: nothing is written, but: {out}");
        assert!(err.contains(message), "{flags:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
