//! TEMPORARY placeholder for the Jacobian picture (the svg branch replaces this file).

use crate::check::Table;
use std::fmt::Write;

/// The Jacobian as an SVG picture: one square per nonzero entry (placeholder).
pub fn table_svg(t: &Table) -> String {
    let (rows, cols) = (t.rows.len(), t.cols.len());
    let mut out =
        format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\">\n", cols * 10, rows * 10);
    for (r, line) in t.entry_texts().iter().enumerate() {
        for (c, entry) in line.iter().enumerate().filter(|(_, e)| *e != "0") {
            let _ = writeln!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\"><title>{entry}</title></rect>",
                c * 10,
                r * 10
            );
        }
    }
    out + "</svg>\n"
}
