//! `table --format svg` (issue 16): every cell's `<title>` read back and compared with the
//! JSON table, the legend and the fills checked, the pictures rendered to pixels by resvg
//! and the colour at each cell compared with the table, and a few pictures snapshotted.

use resvg::usvg::roxmltree::{Document, Node};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use symconv::check::{self, Table};
use symconv::cli::load;
use symconv::limits::Limits;
use symconv::render::{self, TableFormat};

/// Runs the binary: stdout, stderr and the exit status.
fn symconv(args: &[&str]) -> (String, String, i32) {
    let o = Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&o.stdout), text(&o.stderr), o.status.code().unwrap_or(-1))
}

/// `symconv table SPEC --wrt T --format F`'s output, which must succeed.
fn table_output(spec: &str, wrt: &str, format: &str) -> String {
    let (out, err, code) = symconv(&["table", spec, "--wrt", wrt, "--format", format]);
    assert_eq!(code, 0, "{spec} --wrt {wrt} --format {format}: {err}");
    out
}

/// The table `∂s/∂wrt` of a spec at its `let` sizes, from the library.
fn table_of(spec: &str, wrt: &str) -> Table {
    let model = load(Path::new(spec), None).expect("the spec loads");
    let derivation = symconv::derive::derive(&model, &Limits::default()).expect("it derives");
    check::checked_table(&model, &derivation, wrt, &model.values).expect("its table")
}

/// The position of the `flat`-th element of a tensor of `shape`, row-major.
fn unflatten(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut at = vec![0; shape.len()];
    for (axis, &len) in shape.iter().enumerate().rev() {
        at[axis] = flat % len;
        flat /= len;
    }
    at
}

/// An attribute as a number.
fn number(n: Node, name: &str) -> f64 {
    n.attribute(name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no number {name} in {n:?}"))
}

/// The legend: each entry's text and the fill of its swatch, in order.
fn legend(doc: &Document) -> Vec<(String, String)> {
    let group = doc.descendants().find(|n| n.attribute("id") == Some("legend")).expect("a legend");
    let swatches = group.children().filter(|n| n.has_tag_name("rect"));
    let texts = group.children().filter(|n| n.has_tag_name("text")).skip(1);
    swatches
        .zip(texts)
        .map(|(s, t)| (t.text().unwrap_or_default().to_string(), s.attribute("fill").unwrap().into()))
        .collect()
}

/// Checks the SVG of `∂s/∂wrt` against the JSON table, independently of how either was
/// made: each `<title>` is parsed back into its index tuples and entry, which must be the
/// JSON's entry at the row-major positions of those tuples, and must sit in the cell at
/// that row and column; every nonzero JSON entry has exactly one; every entry's cells are
/// filled as its legend line says, and no two legend lines share a fill. Returns how many
/// titles there are.
fn titles_agree_with_json(spec: &str, wrt: &str) -> usize {
    let svg = table_output(spec, wrt, "svg");
    let json: Json = serde_json::from_str(&table_output(spec, wrt, "json")).expect("JSON");
    let shape = |key: &str| json[key].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let (out_shape, wrt_shape): (Vec<usize>, Vec<usize>) = (shape("output_shape"), shape("wrt_shape"));
    let entries: Vec<Vec<&str>> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect())
        .collect();
    let (output, tensor) = (json["output"].as_str().unwrap(), json["wrt"].as_str().unwrap());

    let doc = Document::parse(&svg).expect("the SVG is well-formed XML");
    let fills: BTreeMap<String, String> = legend(&doc).into_iter().collect();
    assert_eq!(fills.len(), legend(&doc).len(), "an entry twice in the legend");
    assert_eq!(fills.values().collect::<BTreeSet<_>>().len(), fills.len(), "two entries share a fill: {fills:?}");
    let mut seen = BTreeSet::new();
    for title in doc.descendants().filter(|n| n.has_tag_name("title")) {
        let text = title.text().expect("a title's text");
        let tuples = |s: &str| -> Vec<usize> { s.split(',').map(|v| v.parse().expect("an index")).collect() };
        let rest = text.strip_prefix(&format!("∂{output}[")).unwrap_or_else(|| panic!("{text}"));
        let (row, rest) = rest.split_once(&format!("]/∂{tensor}[")).unwrap_or_else(|| panic!("{text}"));
        let (col, entry) = rest.split_once("] = ").unwrap_or_else(|| panic!("{text}"));
        let (row, col) = (tuples(row), tuples(col));
        let flat = |at: &[usize], shape: &[usize]| at.iter().zip(shape).fold(0, |f, (&v, &len)| f * len + v);
        let (r, c) = (flat(&row, &out_shape), flat(&col, &wrt_shape));
        assert_eq!((unflatten(r, &out_shape), unflatten(c, &wrt_shape)), (row.clone(), col.clone()), "{text}");
        assert_eq!(entry, entries[r][c], "{spec}: {text}");
        assert_ne!(entry, "0", "{spec}: a title on a zero cell: {text}");
        let cell = title.parent().expect("a cell");
        assert_eq!((number(cell, "x"), number(cell, "y")), (c as f64, r as f64), "{text}");
        assert_eq!(cell.parent().and_then(|g| g.attribute("fill")), fills.get(entry).map(|f| f.as_str()), "{text}");
        assert!(seen.insert((r, c)), "two titles for row {r}, column {c}");
    }
    let nonzero: BTreeSet<(usize, usize)> = (entries.iter().enumerate())
        .flat_map(|(r, row)| row.iter().enumerate().filter(|(_, e)| **e != "0").map(move |(c, _)| (r, c)))
        .collect();
    assert_eq!(seen, nonzero, "{spec}: the titled cells are the nonzero ones");
    let distinct: BTreeSet<&str> = nonzero.iter().map(|&(r, c)| entries[r][c]).collect();
    assert_eq!(fills.keys().map(|k| k.as_str()).collect::<BTreeSet<_>>(), distinct, "{spec}: the legend");
    seen.len()
}

#[test]
fn every_title_is_its_json_entry_in_1d() {
    assert_eq!(titles_agree_with_json("specs/standard.conv", "x"), 8 * 3);
    assert_eq!(titles_agree_with_json("specs/strided.conv", "w"), 4 * 3);
}

#[test]
fn every_title_is_its_json_entry_in_2d() {
    assert_eq!(titles_agree_with_json("specs/conv2d_valid.conv", "x"), 16 * 6);
    // 64 distinct elements of x: eight colours, then under hatches.
    assert_eq!(titles_agree_with_json("specs/conv2d_grouped.conv", "w"), 54 * 8);
}

#[test]
fn every_title_is_its_json_entry_where_entries_are_sums() {
    assert_eq!(titles_agree_with_json("tests/fixtures/sums.conv", "x"), 6 * 3);
    assert_eq!(titles_agree_with_json("tests/fixtures/sums.conv", "w"), 6 * 3);
}

/// A picture rendered by resvg.
fn render_svg(svg: &str) -> resvg::tiny_skia::Pixmap {
    let tree = resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).expect("resvg reads the SVG");
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).expect("a pixmap");
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
}

/// The colour of a pixel, as `#RRGGBB`.
fn colour_at(p: &resvg::tiny_skia::Pixmap, x: usize, y: usize) -> String {
    let c = p.pixel(x as u32, y as u32).expect("a pixel inside the picture").demultiply();
    format!("#{:02X}{:02X}{:02X}", c.red(), c.green(), c.blue())
}

/// The grid's place in the picture, read from the cells' group: its origin and the
/// width and height of a cell, in pixels.
fn grid(doc: &Document) -> (f64, f64, f64, f64) {
    let g = doc.descendants().find(|n| n.attribute("id") == Some("cells")).expect("the cells");
    let t = g.attribute("transform").unwrap();
    let numbers: Vec<f64> = t
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let &[x, y, w, h] = numbers.as_slice() else { panic!("{t}") };
    (x, y, w, h)
}

/// Renders the table's SVG and checks the pixels of every cell: a zero entry is white at
/// its centre; a nonzero one is its legend's colour there when that is a plain colour,
/// and otherwise holds its pattern's colour and ink. Where a cell is comes from the
/// table's row and column and the grid's origin and cell size.
fn pixels_agree_with_table(t: &Table) {
    let svg = render::table(t, TableFormat::Svg);
    let pixmap = render_svg(&svg);
    let doc = Document::parse(&svg).unwrap();
    let (gx, gy, cw, ch) = grid(&doc);
    assert!(cw >= 6.0 && ch >= 6.0, "cells of {cw} × {ch} pixels are too small to check");
    let fills: BTreeMap<String, String> = legend(&doc).into_iter().collect();
    let pattern = |id: &str| {
        let p = doc.descendants().find(|n| n.attribute("id") == Some(id)).expect("the pattern");
        let base = p.children().find(|n| n.has_tag_name("rect")).unwrap().attribute("fill").unwrap().to_string();
        let ink = p.children().find(|n| n.attribute("stroke").is_some() || n.has_tag_name("circle")).unwrap();
        (base, ink.attribute("stroke").or(ink.attribute("fill")).unwrap().to_string())
    };
    let mut checked = [0; 3];
    for (r, line) in t.entry_texts().iter().enumerate() {
        for (c, entry) in line.iter().enumerate() {
            let (x0, y0) = (gx + c as f64 * cw, gy + r as f64 * ch);
            let centre = colour_at(&pixmap, (x0 + cw / 2.0) as usize, (y0 + ch / 2.0) as usize);
            let at = format!("{} at row {r}, column {c} ({entry})", t.title);
            if entry == "0" {
                assert_eq!(centre, "#FFFFFF", "{at}");
                checked[0] += 1;
                continue;
            }
            let fill = &fills[entry];
            match fill.strip_prefix("url(#").and_then(|f| f.strip_suffix(')')) {
                None => {
                    assert_eq!(&centre, fill, "{at}");
                    checked[1] += 1;
                }
                Some(id) => {
                    // Inside the cell, away from its edges: the pattern's colour is the most
                    // common, and its ink is there.
                    let (base, ink) = pattern(id);
                    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                    for y in (y0 as usize + 2)..((y0 + ch) as usize - 2) {
                        for x in (x0 as usize + 2)..((x0 + cw) as usize - 2) {
                            *counts.entry(colour_at(&pixmap, x, y)).or_default() += 1;
                        }
                    }
                    let most = counts.iter().max_by_key(|(_, &n)| n).map(|(c, _)| c.clone());
                    assert_eq!(most.as_ref(), Some(&base), "{at}: {counts:?}");
                    assert!(counts.contains_key(&ink), "{at}: no ink {ink} in {counts:?}");
                    checked[2] += 1;
                }
            }
        }
    }
    assert!(checked[0] > 0 && checked[1] + checked[2] > 0, "{}: {checked:?}", t.title);
}

#[test]
fn rendered_cells_have_their_entries_colours() {
    pixels_agree_with_table(&table_of("specs/standard.conv", "x"));
    pixels_agree_with_table(&table_of("specs/conv2d_valid.conv", "x"));
    // A sum's pattern beside plain colours, and the hatches past eight elements.
    pixels_agree_with_table(&table_of("tests/fixtures/sums.conv", "x"));
    pixels_agree_with_table(&table_of("specs/conv2d_grouped.conv", "w"));
}

#[test]
fn a_large_banded_jacobian_shrinks_its_cells_and_thins_its_labels() {
    // ∂s/∂x of the valid convolution at n = 1202: 1200 × 1202 cells, past the table's
    // default limit, so the limit is raised here.
    let model = load(Path::new("specs/standard.conv"), None).unwrap();
    let limits = Limits { table_entries: 2_000_000, ..Limits::default() };
    let derivation = symconv::derive::derive(&model, &limits).unwrap();
    let mut sizes = model.values.clone();
    sizes.insert("n".into(), 1202);
    let t = check::table(&model, &derivation, "x", &sizes).unwrap();
    let svg = render::table(&t, TableFormat::Svg);
    assert!(svg.len() < 1 << 20, "{} bytes", svg.len());
    let doc = Document::parse(&svg).unwrap();
    let (_, _, cw, ch) = grid(&doc);
    assert!(cw < 1.0 && ch < 1.0, "{cw} × {ch}");
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("title")).count(), 1200 * 3);
    // Labels every 20 cells (at 0.83 pixels a cell, 16.6 pixels apart) across and down.
    let labels = doc.descendants().filter(|n| n.has_tag_name("text")).count();
    assert_eq!(labels, 1 + 1 + 1200usize.div_ceil(20) + 1202usize.div_ceil(20) + 1 + 3, "{labels} texts");
    // The same table at 1200 × 1202 cells of its own renders without trouble.
    let pixmap = render_svg(&svg);
    assert!(pixmap.width() > 1000 && pixmap.height() > 1000);
}

#[test]
fn svg_pictures_are_snapshotted() {
    for (spec, wrt, name) in [
        ("specs/standard.conv", "x", "standard_x"),
        ("specs/conv2d_valid.conv", "x", "conv2d_valid_x"),
        ("tests/fixtures/sums.conv", "x", "sums_x"),
    ] {
        let svg = table_output(spec, wrt, "svg");
        // The same picture from the library, twice: it depends on the table alone.
        let t = table_of(spec, wrt);
        assert_eq!(render::table_svg(&t), svg);
        assert_eq!(render::table_svg(&t), svg);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots/svg");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!(name, svg));
    }
}

#[test]
fn svg_refuses_at() {
    let (out, err, code) = symconv(&["table", "specs/standard.conv", "--wrt", "x", "--format", "svg", "--at", "i=1"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("--at i=1: receptive fields are printed as text only; --format svg prints every entry"),
        "{err}"
    );
}
