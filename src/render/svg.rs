//! Rendering: a Jacobian table as an SVG picture, a grid with a cell per entry, each
//! nonzero cell coloured (and, past eight kinds of entry, patterned) by what it holds.

use super::xml_escape;
use crate::algebra::Value;
use crate::check::{show_sizes, Table};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Okabe and Ito's palette (Color Universal Design), which the common colour-vision
/// deficiencies tell apart, each colour with the ink its patterns are drawn in.
const PALETTE: [(&str, &str); 8] = [
    ("#E69F00", "#000000"), // orange
    ("#56B4E9", "#000000"), // sky blue
    ("#009E73", "#FFFFFF"), // bluish green
    ("#F0E442", "#000000"), // yellow
    ("#0072B2", "#FFFFFF"), // blue
    ("#D55E00", "#FFFFFF"), // vermillion
    ("#CC79A7", "#000000"), // reddish purple
    ("#000000", "#FFFFFF"), // black
];

/// The hatches a pattern combines, as paths in its 8 × 8 tile (ends drawn past the edges,
/// so that neighbouring tiles join): `/`, `\`, `-` and `|`.
const HATCHES: [&str; 4] = ["M-1 1L1-1M0 8L8 0M7 9L9 7", "M-1 7L1 9M0 0L8 8M7-1L9 1", "M0 4H8", "M4 0V8"];

/// The widest and tallest a grid is drawn, in pixels, before its cells shrink below one.
const GRID_EXTENT: usize = 1000;
/// The largest cell, in pixels.
const LARGEST_CELL: usize = 24;
/// Tick labels are at least this far apart, in pixels.
const LABEL_SPACING: f64 = 14.0;
/// The width of a character of the labels (monospace, 11 px), in pixels.
const CHAR_WIDTH: f64 = 6.6;
/// The height of a legend line, in pixels.
const LEGEND_LINE: usize = 18;
/// Around the picture, in pixels.
const MARGIN: usize = 8;

/// How the cells holding one entry are filled: a colour of [`PALETTE`], alone or under a
/// pattern of hatches (a mask over [`HATCHES`]) and, for an entry that is no single
/// element, a dot.
struct Style {
    colour: usize,
    hatches: usize,
    dot: bool,
    stroke: usize,
}

impl Style {
    /// The style of the `k`-th single element: the eight colours alone first, then under
    /// each combination of hatches, thicker each round.
    fn single(k: usize) -> Style {
        let (colour, round) = (k % PALETTE.len(), k / PALETTE.len());
        match round {
            0 => Style { colour, hatches: 0, dot: false, stroke: 1 },
            r => Style { colour, hatches: (r - 1) % 15 + 1, dot: false, stroke: 1 + (r - 1) / 15 },
        }
    }

    /// The style of the `k`-th other entry (a sum, a multiple, a product): always a dot,
    /// so that no single element's style is one of theirs; the colours go on from
    /// `first_colour`, the one after the single elements' last.
    fn other(k: usize, first_colour: usize) -> Style {
        let (colour, round) = ((first_colour + k) % PALETTE.len(), k / PALETTE.len());
        Style { colour, hatches: round % 16, dot: true, stroke: 1 + round / 16 }
    }

    /// The fill: the colour, or a reference to the pattern `id`.
    fn fill(&self, id: &str) -> String {
        match self.hatches == 0 && !self.dot {
            true => PALETTE[self.colour].0.to_string(),
            false => format!("url(#{id})"),
        }
    }

    /// The `<pattern>` of a patterned style (two tiles across and down each cell or
    /// swatch, whatever its size), or nothing for a plain colour.
    fn pattern(&self, id: &str) -> String {
        if self.hatches == 0 && !self.dot {
            return String::new();
        }
        let (colour, ink) = PALETTE[self.colour];
        let mut p = format!(
            "<pattern id=\"{id}\" width=\"0.5\" height=\"0.5\" viewBox=\"0 0 8 8\" preserveAspectRatio=\"none\"><rect width=\"8\" height=\"8\" fill=\"{colour}\"/>"
        );
        if self.hatches != 0 {
            let d: String = (0..HATCHES.len()).filter(|h| self.hatches >> h & 1 == 1).map(|h| HATCHES[h]).collect();
            let _ = write!(p, "<path d=\"{d}\" stroke=\"{ink}\" stroke-width=\"{}\"/>", self.stroke);
        }
        if self.dot {
            let _ = write!(p, "<circle cx=\"4\" cy=\"4\" r=\"{}\" fill=\"{ink}\"/>", 1 + self.stroke);
        }
        p + "</pattern>\n"
    }
}

/// One distinct nonzero entry of a table: its text, its style and its cells.
struct Entry {
    text: String,
    style: Style,
    cells: Vec<(usize, usize)>,
}

/// The side of a cell, in pixels, for `n` cells along an axis: [`LARGEST_CELL`] while
/// they fit in [`GRID_EXTENT`], then whole pixels, then a fraction (to 4 places).
fn cell_side(n: usize) -> f64 {
    match n {
        0..=41 => LARGEST_CELL as f64,
        42..=GRID_EXTENT => (GRID_EXTENT / n) as f64,
        _ => (GRID_EXTENT as f64 / n as f64 * 1e4).round() / 1e4,
    }
}

/// A coordinate with at most 4 decimal places and no trailing zeros.
fn num(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Every how many cells a tick label is written: 1, 2, 5, 10, 20, 50, … cells, the fewest
/// that keeps labels [`LABEL_SPACING`] apart.
fn label_step(cell: f64) -> usize {
    let mut unit = 1;
    loop {
        if let Some(s) = [unit, 2 * unit, 5 * unit].into_iter().find(|&s| s as f64 * cell >= LABEL_SPACING) {
            return s;
        }
        unit *= 10;
    }
}

/// An index tuple as a label: `3` for one axis, `(0,1,2)` for more.
fn tuple_label(at: &[i64]) -> String {
    match at {
        [v] => v.to_string(),
        _ => format!("({})", joined(at)),
    }
}

/// Integers joined by commas: `0,1,2`.
fn joined(at: &[i64]) -> String {
    at.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(",")
}

/// The width of a label, in pixels.
fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_WIDTH
}

/// Whether an entry is one element of a tensor, as `w[2]` (not a multiple, sum or product).
fn is_single(v: &Value) -> bool {
    let mut terms = v.terms();
    matches!((terms.next(), terms.next()), (Some((m, 1)), None) if m.len() == 1)
}

/// The table `∂s/∂T` as an SVG picture: a grid with a row per output element and a
/// column per element of `T` (both flattened row-major, as in the JSON table), with tick
/// labels (index tuples, thinned out where cells are small) and a legend.
///
/// Each nonzero cell is filled by its entry: single elements (`w[0]`, `w[1]`, …, in
/// row-major order) in Okabe and Ito's eight colours, then in those colours under
/// hatches; every other entry (a sum such as `2*w[0] + w[1]`) under a pattern with a dot
/// of its own. The legend maps each fill to its entry. Each nonzero cell holds a `<title>`
/// `∂s[r…]/∂T[c…] = ENTRY`, ENTRY as in the JSON table; zero cells are left blank.
///
/// Only nonzero cells are written, grouped by fill, so a banded Jacobian of 2,000 × 2,000
/// cells stays well under a megabyte; cells shrink to fit a grid of about 1,000 pixels.
/// The output depends on the table alone.
pub fn table_svg(t: &Table) -> String {
    let (rows, cols) = (t.rows.len(), t.cols.len());
    let (cw, ch) = (cell_side(cols), cell_side(rows));
    let (grid_w, grid_h) = ((cols as f64 * cw).ceil() as usize, (rows as f64 * ch).ceil() as usize);

    // The cells of each entry, in row-major order; single elements first.
    let mut cells: BTreeMap<&Value, Vec<(usize, usize)>> = BTreeMap::new();
    for (r, line) in t.entries.iter().enumerate() {
        for (c, v) in line.iter().enumerate().filter(|(_, v)| !v.is_zero()) {
            cells.entry(v).or_default().push((r, c));
        }
    }
    let (singles, others): (Vec<_>, Vec<_>) = cells.into_iter().partition(|(v, _)| is_single(v));
    let first_colour = singles.len();
    let entries: Vec<Entry> = (singles.into_iter().enumerate())
        .map(|(k, (v, cells))| Entry { text: t.entry_text(v), style: Style::single(k), cells })
        .chain((others.into_iter().enumerate()).map(|(k, (v, cells))| Entry {
            text: t.entry_text(v),
            style: Style::other(k, first_colour),
            cells,
        }))
        .collect();

    // Tick labels and the room they take.
    let (row_step, col_step) = (label_step(ch), label_step(cw));
    let row_labels: Vec<(usize, String)> = (0..rows).step_by(row_step).map(|r| (r, tuple_label(&t.rows[r]))).collect();
    let col_labels: Vec<(usize, String)> = (0..cols).step_by(col_step).map(|c| (c, tuple_label(&t.cols[c]))).collect();
    let (out_names, wrt_names) = &t.index_names;
    let corner = format!("{}[{}] \\ {}[{}]", t.output, out_names.join(","), t.wrt, wrt_names.join(","));
    let widest = |labels: &[(usize, String)]| labels.iter().map(|(_, l)| text_width(l)).fold(0.0, f64::max);
    let gx = MARGIN + (widest(&row_labels).max(text_width(&corner) + 8.0) + 8.0).ceil() as usize;
    let gy = 28 + (widest(&col_labels) + 8.0).ceil() as usize;

    // The legend, in columns as tall as the grid (eight lines at least).
    let lx = gx + grid_w + 24;
    let per_column = (grid_h / LEGEND_LINE).max(8);
    let legend_w = entries.iter().map(|e| text_width(&e.text)).fold(text_width("entries"), f64::max);
    let column_w = 20 + legend_w.ceil() as usize + 16;
    let columns = entries.len().div_ceil(per_column).max(1);
    let legend_h = entries.len().min(per_column).max(1) * LEGEND_LINE;
    let (width, height) = (lx + columns * column_w + MARGIN, gy + grid_h.max(legend_h) + MARGIN);

    let mut out = String::with_capacity(4096 + entries.iter().map(|e| e.cells.len() * 80).sum::<usize>());
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"11\">"
    );
    out += "<defs>\n";
    for (k, e) in entries.iter().enumerate() {
        out += &e.style.pattern(&format!("e{k}"));
    }
    out += "</defs>\n";
    let _ = writeln!(out, "<rect width=\"{width}\" height=\"{height}\" fill=\"#FFFFFF\"/>");
    let heading = format!("{} at {}", t.title, show_sizes(&t.sizes));
    let _ = writeln!(out, "<text x=\"{MARGIN}\" y=\"20\" font-size=\"13\">{}</text>", xml_escape(&heading));

    // Labels: the corner says which tuple is which (clear of the first column's label,
    // which reaches left of its cell where cells are narrow), rows at the left, columns
    // on top.
    let _ = writeln!(out, "<g fill=\"#333333\">");
    let _ =
        writeln!(out, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>", gx - 12, gy - 4, xml_escape(&corner));
    for (r, label) in &row_labels {
        let y = num(gy as f64 + (*r as f64 + 0.5) * ch + 4.0);
        let _ = writeln!(out, "<text x=\"{}\" y=\"{y}\" text-anchor=\"end\">{label}</text>", gx - 4);
    }
    for (c, label) in &col_labels {
        let x = num(gx as f64 + (*c as f64 + 0.5) * cw + 4.0);
        let _ = writeln!(out, "<text transform=\"translate({x},{}) rotate(-90)\">{label}</text>", gy - 4);
    }
    out += "</g>\n";

    // The cells, one unit square each, grouped by fill.
    let _ = writeln!(
        out,
        "<g id=\"cells\" transform=\"translate({gx},{gy}) scale({},{})\" shape-rendering=\"crispEdges\">",
        num(cw),
        num(ch)
    );
    for (k, e) in entries.iter().enumerate() {
        let _ = writeln!(out, "<g fill=\"{}\">", e.style.fill(&format!("e{k}")));
        let entry = xml_escape(&e.text);
        for &(r, c) in &e.cells {
            let (row, col) = (joined(&t.rows[r]), joined(&t.cols[c]));
            let _ = writeln!(
                out,
                "<rect x=\"{c}\" y=\"{r}\" width=\"1\" height=\"1\"><title>∂{}[{row}]/∂{}[{col}] = {entry}</title></rect>",
                t.output, t.wrt
            );
        }
        out += "</g>\n";
    }
    out += "</g>\n";

    // Grid lines where cells are large enough to count, and a frame.
    if cw >= 6.0 && ch >= 6.0 {
        let mut d = String::new();
        for c in 1..cols {
            let _ = write!(d, "M{} {gy}V{}", num(gx as f64 + c as f64 * cw - 0.5), gy + grid_h);
        }
        for r in 1..rows {
            let _ = write!(d, "M{gx} {}H{}", num(gy as f64 + r as f64 * ch - 0.5), gx + grid_w);
        }
        let _ = writeln!(out, "<path d=\"{d}\" stroke=\"#D0D0D0\" fill=\"none\"/>");
    }
    let _ = writeln!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#808080\"/>",
        num(gx as f64 - 0.5),
        num(gy as f64 - 0.5),
        grid_w + 1,
        grid_h + 1
    );

    // The legend: a swatch and the entry it stands for.
    let _ = writeln!(out, "<g id=\"legend\">");
    let _ = writeln!(out, "<text x=\"{lx}\" y=\"{}\">entries</text>", gy - 4);
    if entries.is_empty() {
        let _ = writeln!(out, "<text x=\"{lx}\" y=\"{}\">every entry is 0</text>", gy + 11);
    }
    for (k, e) in entries.iter().enumerate() {
        let (x, y) = (lx + k / per_column * column_w, gy + k % per_column * LEGEND_LINE);
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"{y}\" width=\"14\" height=\"14\" fill=\"{}\" stroke=\"#808080\"/><text x=\"{}\" y=\"{}\">{}</text>",
            e.style.fill(&format!("e{k}")),
            x + 20,
            y + 11,
            xml_escape(&e.text)
        );
    }
    out + "</g>\n</svg>\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_shrink_to_whole_pixels_then_fractions() {
        assert_eq!([cell_side(10), cell_side(41), cell_side(42), cell_side(1000)], [24.0, 24.0, 23.0, 1.0]);
        assert_eq!((cell_side(2000), num(cell_side(2002))), (0.5, "0.4995".to_string()));
        assert_eq!([num(24.0), num(-0.5), num(1.25)], ["24", "-0.5", "1.25"]);
    }

    #[test]
    fn labels_thin_out_in_steps_of_one_two_five() {
        assert_eq!([label_step(24.0), label_step(10.0), label_step(3.0), label_step(0.5)], [1, 2, 5, 50]);
    }

    #[test]
    fn a_table_of_zeros_is_a_blank_grid() {
        let t = Table {
            spec: "zeros".into(),
            output: "s".into(),
            wrt: "x".into(),
            title: "∂s_i/∂x_j".into(),
            index_names: (vec!["i".into()], vec!["j".into()]),
            sizes: vec![("n".into(), 2)],
            output_shape: vec![2],
            wrt_shape: vec![2],
            rows: vec![vec![0], vec![1]],
            cols: vec![vec![0], vec![1]],
            entries: vec![vec![Value::zero(); 2]; 2],
            divisor: 1,
            spatial_axes: 1,
        };
        let svg = table_svg(&t);
        assert!(svg.contains(">every entry is 0</text>") && !svg.contains("<title>"), "{svg}");
        assert!(svg.contains("scale(24,24)"), "{svg}");
    }

    #[test]
    fn every_style_is_its_own() {
        // Singles and other entries never share a style; within each kind, all differ.
        let key = |s: &Style| (s.colour, s.hatches, s.dot, s.stroke);
        let mut seen: Vec<_> = (0..300).map(|k| key(&Style::single(k))).collect();
        seen.extend((0..300).map(|k| key(&Style::other(k, 5))));
        let count = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), count);
        assert_eq!(Style::single(7).fill("e7"), "#000000");
        assert_eq!(Style::single(8).fill("e8"), "url(#e8)");
        assert_eq!(Style::other(0, 2).colour, 2);
        assert!(Style::other(0, 2).pattern("e0").contains("<circle"));
    }
}
