//! The docs pages of `symconv docs`: a GitHub-flavoured Markdown page per spec, its
//! Jacobians as SVG pictures beside it, and an index. Pure: reports in, files' texts out.

use super::{
    call_proof_text, check_line, dense_text, label, markdown_table, output_element, receptive_intro, rule_legend,
    run_verdict, svg, too_wide, verdict,
};
use crate::algebra::index::var;
use crate::algebra::Element;
use crate::check::tables::Grid;
use crate::check::{closed_form_text, show_sizes, Report, Table};
use crate::derive::Step;
use std::fmt::Write;

/// The first line of every file `symconv docs` writes: it tells the file from one a user
/// wrote, which `symconv docs` does not overwrite without `--force`.
pub const MARKER: &str = "<!-- written by symconv docs: edit the spec and run symconv docs again, not this file -->";

/// Whether a file's bytes are those of a file that `symconv docs` wrote: its first line,
/// or its second after an XML declaration, is the marker (of this version's wording or
/// of any other).
pub fn written_by_docs(bytes: &[u8]) -> bool {
    let marker = b"<!-- written by symconv docs";
    bytes.split(|&b| b == b'\n').take(2).any(|line| line.starts_with(marker))
}

/// One file of the docs: its name in the output folder and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocFile {
    /// The file's name, relative to the output folder.
    pub name: String,
    /// Its text, [`MARKER`] first.
    pub text: String,
}

/// The name of a spec's page.
pub fn page_name(spec: &str) -> String {
    format!("{spec}.md")
}

/// The name of the picture of a spec's `∂s/∂wrt`.
pub fn picture_name(spec: &str, wrt: &str) -> String {
    format!("{spec}.{wrt}.svg")
}

/// Every file of the docs of these specs, in a fixed order: `index.md`, then each spec's
/// page followed by its pictures, the specs in the order of their names (whatever the
/// order they were given in, as a shell's `*` sorts them by its locale).
pub fn files(reports: &[Report]) -> Vec<DocFile> {
    let mut reports: Vec<&Report> = reports.iter().collect();
    reports.sort_by(|a, b| a.model.name.cmp(&b.model.name));
    let mut files = vec![DocFile { name: "index.md".into(), text: index(&reports) }];
    for r in reports {
        files.push(DocFile { name: page_name(&r.model.name), text: page(r) });
        for t in &r.tables {
            files.push(DocFile { name: picture_name(&r.model.name, &t.wrt), text: picture(t) });
        }
    }
    files
}

/// The picture of a Jacobian, [`MARKER`] first (after an XML declaration, if any).
fn picture(t: &Table) -> String {
    let svg = svg::table_svg(t);
    match svg.starts_with("<?xml").then(|| svg.split_once('\n')).flatten() {
        Some((declaration, rest)) => format!("{declaration}\n{MARKER}\n{rest}"),
        None => format!("{MARKER}\n{svg}"),
    }
}

/// `index.md`: a table of the specs, each linked, with a line on what it is, its output
/// length and its verdicts.
fn index(reports: &[&Report]) -> String {
    let mut out = format!("{MARKER}\n\n# Specs\n\n");
    out += "Each page holds a spec's definition, its output domain and length, the derivation of \
            every ∂s/∂t with its proof steps, the backward calls, the Jacobian tables with their \
            pictures, and the verdicts of its claims and runs.\n\n";
    let head = ["spec", "what it is", "output length", "verdicts"].map(String::from);
    let rows = reports.iter().map(|r| {
        let lengths: Vec<String> = lengths(r).iter().map(|(name, len, _)| code(&format!("{name} = {len}"))).collect();
        vec![
            format!("[{}]({})", text(&r.model.name), link(&page_name(&r.model.name))),
            text(&description(&r.model.source).unwrap_or_else(|| r.model.definition_text().to_string())),
            lengths.join(", "),
            text(&status(r)),
        ]
    });
    out + &markdown_table(&head, rows)
}

/// One spec's page.
fn page(r: &Report) -> String {
    let m = &r.model;
    let mut out = format!("{MARKER}\n\n# {}\n\n", text(&m.name));
    if let Some(d) = description(&m.source) {
        let _ = writeln!(out, "{}\n", text(&d));
    }
    let _ = writeln!(out, "[All specs](index.md) · {}\n", text(&status(r)));
    let fence = "`".repeat(longest_run(&m.source, '`').max(2) + 1);
    let _ = writeln!(out, "## Definition\n\n{fence}text\n{}\n{fence}\n", m.source.trim_end());
    let lhs = Element { tensor: m.output.name.clone(), index: m.output.indices.iter().map(|n| var(n)).collect() };
    let _ = writeln!(out, "As parsed: {}\n", code(&format!("{lhs} = {}", m.formula.show(&m.sizes))));
    domain(&mut out, r);
    out += "\n## Derivations\n";
    for der in &r.derivation.derivatives {
        let _ = writeln!(out, "\n### {}\n\n{}", code(&der.name(m)), steps_table(&der.steps, 0));
        let _ = writeln!(out, "Closed form: {}", code(&closed_form_text(m, der)));
    }
    backward(&mut out, r);
    if !r.tables.is_empty() {
        out += "\n## Jacobian tables\n";
    }
    for t in &r.tables {
        jacobian(&mut out, t);
    }
    verdicts(&mut out, r);
    out += "\n## Rules used\n\n";
    let rules = rule_legend(r).into_iter().map(|(name, what)| vec![text(&name), text(what)]);
    out + &markdown_table(&["rule".into(), "what it does".into()], rules)
}

/// The spec's own description: its leading comment lines, as one line, without the
/// `specs/name.conv:` they may start with; `None` when it has none.
fn description(source: &str) -> Option<String> {
    let lines: Vec<&str> = source.lines().map_while(|l| l.trim_start().strip_prefix('#')).map(str::trim).collect();
    let line = lines.join(" ");
    let line = match line.split_once(": ") {
        Some((file, rest)) if file.ends_with(".conv") => rest.to_string(),
        _ => line,
    };
    (!line.is_empty()).then_some(line)
}

/// The spec's verdicts in one line, as `check` gives them, without the spec's name.
fn status(r: &Report) -> String {
    let line = check_line(r);
    let line = line.trim_end();
    line.strip_prefix(&format!("{}: ", r.model.name)).unwrap_or(line).to_string()
}

/// Each output length: `len(s)` (or `len(s, axis)`), symbolic, and its value at the sizes.
fn lengths(r: &Report) -> Vec<(String, String, i64)> {
    let (m, d) = (&r.model, &r.derivation);
    let axes = d.lengths.iter().zip(&r.length_values).enumerate();
    axes.map(|(axis, (len, value))| {
        let which = if d.lengths.len() == 1 { String::new() } else { format!(", {axis}") };
        (format!("len({}{which})", m.output.name), len.to_string(), *value)
    })
    .collect()
}

/// The output domain, its notes and the lengths.
fn domain(out: &mut String, r: &Report) {
    let (m, d) = (&r.model, &r.derivation);
    let how = match (d.domain.from_output_line, &d.domain.by_weight) {
        (true, _) => "from the output line".to_string(),
        (false, None) => "by the valid rule".to_string(),
        (false, Some(w)) => format!("by the valid rule, on the weight `{w}`"),
    };
    let _ = writeln!(out, "## Domain and length\n\nThe output domain, {how}:\n");
    for (name, (lo, hi)) in m.output.indices.iter().zip(&d.domain.axes) {
        let _ = writeln!(out, "- {}", code(&format!("{lo} ≤ {name} ≤ {hi}")));
    }
    for q in &d.domain.conditions {
        let _ = writeln!(out, "- empty unless {}", code(&format!("0 ≤ {q}")));
    }
    out.push('\n');
    for note in &r.notes {
        let _ = writeln!(out, "Note: {}\n", text(note));
    }
    let head = ["length".into(), "symbolic".into(), format!("at {}", show_sizes(&r.sizes))];
    let rows = lengths(r).into_iter().map(|(name, len, value)| vec![code(&name), code(&len), value.to_string()]);
    *out += &markdown_table(&head, rows);
}

/// Proof steps as a table: number, rule and expression.
fn steps_table(steps: &[Step], first: usize) -> String {
    let rows = steps.iter().enumerate().map(|(k, s)| vec![(k + first).to_string(), text(&s.rule), code(&s.expr)]);
    markdown_table(&["step".into(), "rule".into(), "expression".into()], rows)
}

/// The backward section: each gradient's gather form with its steps, its call in
/// symconv's, PyTorch's and candle's words, and what the numbers found.
fn backward(out: &mut String, r: &Report) {
    let m = &r.model;
    if r.backward.is_empty() {
        return;
    }
    let upstream = code(&format!("{} = ∂L/∂{}", m.upstream, m.output.name));
    let _ = writeln!(out, "\n## Backward\n\nFor an upstream gradient {upstream} shaped like {}.", code(&m.output.name));
    for b in &r.backward {
        let name = b.gather.split(" = ").next().unwrap_or_default();
        let _ = writeln!(out, "\n### {}\n\n{}", code(name), steps_table(&b.steps, 0));
        let _ = writeln!(out, "Gather form: {}\n", code(&b.gather));
        match &b.call {
            Ok(c) => {
                let _ = writeln!(out, "- Call: {}", code(&c.symbolic));
                let _ = writeln!(out, "- At {}: {}", text(&show_sizes(&r.sizes)), code(&c.at_sizes));
                let _ = writeln!(out, "- PyTorch: {}", code(&c.torch));
                let _ = writeln!(out, "- candle: {}", code(&c.candle));
                let _ = writeln!(out, "- {}", text(&call_proof_text(c, b.holds, m)));
            }
            Err(why) => {
                let _ = writeln!(out, "- Call: none: {}", text(why));
            }
        }
        let _ = writeln!(out, "\nVerdict: **{}**\n", run_verdict(b.holds));
        for finding in &b.findings {
            let _ = writeln!(out, "- {}", text(finding));
        }
    }
}

/// One Jacobian: its picture, then its table as Markdown, or, when it is too wide (as
/// `table --format text` decides), the receptive fields of its default outputs.
fn jacobian(out: &mut String, t: &Table) {
    let sizes = show_sizes(&t.sizes);
    let _ = writeln!(out, "\n### {} at {}\n", code(&t.title), text(&sizes));
    let alt = format!("∂{}/∂{} at {sizes}", t.output, t.wrt);
    let _ = writeln!(out, "![{}]({})\n", text(&alt), link(&picture_name(&t.spec, &t.wrt)));
    let Some(width) = too_wide(t, &dense_text(t)) else {
        let (out_names, wrt_names) = &t.index_names;
        let head = std::iter::once(code(&t.title)).chain(t.cols.iter().map(|c| text(&label(wrt_names, c))));
        let rows = t.rows.iter().zip(t.entry_texts()).map(|(r, line)| {
            std::iter::once(text(&label(out_names, r))).chain(line.iter().map(|e| entry(e))).collect()
        });
        *out += &markdown_table(&head.collect::<Vec<_>>(), rows);
        return;
    };
    let intro = receptive_intro(t, width);
    let _ = writeln!(out, "{}", intro.lines().map(text).collect::<Vec<_>>().join("  \n"));
    let names = &t.index_names.1;
    let tensor = Element { tensor: t.wrt.clone(), index: names.iter().map(|n| var(n)).collect() };
    for row in t.default_outputs() {
        for grid in t.receptive_field(row) {
            let at = match grid.leading.is_empty() {
                true => String::new(),
                false => format!(" at {}", text(&label(&names[..grid.leading.len()], &grid.leading))),
            };
            let _ = writeln!(out, "\n{}{at}\n", code(&format!("∂{}/∂{tensor}", output_element(t, row))));
            *out += &grid_markdown(&grid, names);
        }
    }
}

/// One grid of a receptive field as a Markdown table, labelled with the tensor's index
/// names, as `receptive_fields_text` labels its text.
fn grid_markdown(grid: &Grid, names: &[String]) -> String {
    let col_name = &names[names.len() - 1];
    let cols = grid.cols.iter().map(|c| text(&format!("{col_name}={c}")));
    let entries = grid.entry_texts().into_iter().map(|line| line.into_iter().map(|v| entry(&v)));
    match &grid.rows {
        Some(rows) => {
            let row_name = &names[names.len() - 2];
            let head: Vec<String> = std::iter::once(text(&format!("{row_name}\\{col_name}"))).chain(cols).collect();
            let lines = rows
                .iter()
                .zip(entries)
                .map(|(r, line)| std::iter::once(text(&format!("{row_name}={r}"))).chain(line).collect::<Vec<_>>());
            markdown_table(&head, lines)
        }
        None => markdown_table(&cols.collect::<Vec<_>>(), entries.map(|line| line.collect())),
    }
}

/// A Jacobian entry in a table: `0` as it is, any other as code.
fn entry(e: &str) -> String {
    match e {
        "0" => "0".into(),
        e => code(e),
    }
}

/// The claims and the runs with their verdicts, the claims' proofs and the runs' findings.
fn verdicts(out: &mut String, r: &Report) {
    if !r.claims.is_empty() {
        out.push_str("\n## Claims\n");
    }
    for c in &r.claims {
        let _ = writeln!(out, "\n**{}** {}: {}", verdict(c.verdict), code(&c.text), text(&c.grounds));
        if !c.proof.is_empty() {
            let _ = write!(out, "\n{}", steps_table(&c.proof, 1));
        }
    }
    if !r.runs.is_empty() {
        out.push_str("\n## Runs\n");
    }
    for run in &r.runs {
        let _ = writeln!(out, "\n**{}** {}\n", run_verdict(run.holds), code(&run.text));
        for finding in &run.findings {
            let _ = writeln!(out, "- {}", text(finding));
        }
    }
}

/// The longest run of `c` in `s`.
fn longest_run(s: &str, c: char) -> usize {
    s.split(|x| x != c).map(str::len).max().unwrap_or(0)
}

/// Text as a Markdown code span, its delimiter longer than any run of backticks in it.
fn code(s: &str) -> String {
    let ticks = "`".repeat(longest_run(s, '`') + 1);
    match s.starts_with('`') || s.ends_with('`') {
        true => format!("{ticks} {s} {ticks}"),
        false => format!("{ticks}{s}{ticks}"),
    }
}

/// Prose as Markdown: every character that Markdown could read as markup escaped, `<`,
/// `>` and `&` as entities (which every flavour reads, not only CommonMark).
fn text(s: &str) -> String {
    let markup = |c: char| match c {
        '<' => "&lt;".to_string(),
        '>' => "&gt;".to_string(),
        '&' => "&amp;".to_string(),
        '\\' | '`' | '*' | '_' | '[' | ']' | '#' => format!("\\{c}"),
        c => c.to_string(),
    };
    s.chars().map(markup).collect()
}

/// A file name as a link target: every byte but ASCII letters, digits and `-_.~`
/// percent-encoded.
fn link(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        match b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            true => out.push(b as char),
            false => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_a_comment_in_markdown_and_in_xml() {
        // XML forbids `--` inside a comment: an SVG with one would not be shown at all.
        let inner = MARKER.strip_prefix("<!--").and_then(|m| m.strip_suffix("-->")).unwrap();
        assert!(!inner.contains("--") && !inner.ends_with('-'), "{MARKER}");
    }

    #[test]
    fn files_of_docs_are_told_by_their_first_lines() {
        assert!(written_by_docs(format!("{MARKER}\n# page\n").as_bytes()));
        assert!(written_by_docs(format!("<?xml version=\"1.0\"?>\n{MARKER}\n<svg/>").as_bytes()));
        assert!(!written_by_docs(format!("# my notes\n\nquoting it:\n{MARKER}\n").as_bytes()));
        assert!(!written_by_docs(b""));
    }

    #[test]
    fn code_spans_outgrow_their_backticks() {
        assert_eq!(code("x_<i>"), "`x_<i>`");
        assert_eq!(code("a ` b"), "``a ` b``");
        assert_eq!(code("`a`"), "`` `a` ``");
    }

    #[test]
    fn prose_is_escaped_and_links_encoded() {
        assert_eq!(text("s_<i> [k] a*b & c"), "s\\_&lt;i&gt; \\[k\\] a\\*b &amp; c");
        assert_eq!(link("my spec (1).md"), "my%20spec%20%281%29.md");
        assert_eq!(link("α.md"), "%CE%B1.md");
    }

    #[test]
    fn a_description_is_the_leading_comment_without_the_file_name() {
        let src = "# specs/a.conv: one\n# two\ninput x[n]\n# not this\n";
        assert_eq!(description(src).as_deref(), Some("one two"));
        assert_eq!(description("input x[n]\n"), None);
        assert_eq!(description("# a: b\n").as_deref(), Some("a: b"));
    }
}
