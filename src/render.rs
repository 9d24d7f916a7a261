//! Rendering: reports and tables to text, Markdown, CSV, LaTeX and JSON. Pure functions
//! from data to `String`; nothing here computes a result.

use crate::check::{show_sizes, Report, SweepReport, Table, Verdict};
use crate::derive::{describe, Step};
use prettytable::{format, Cell, Row};
use serde_json::{json, Value as Json};
use std::fmt::Write;

/// The formats a table can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// A box-drawn terminal table.
    Text,
    /// A GitHub-flavoured Markdown table.
    Markdown,
    /// Comma-separated values, quoted where needed.
    Csv,
    /// A LaTeX `array`.
    Latex,
    /// The JSON object of SPEC.md §2.
    Json,
}

/// A table in the given format.
pub fn table(t: &Table, fmt: TableFormat) -> String {
    match fmt {
        TableFormat::Text => table_text(t),
        TableFormat::Markdown => table_markdown(t),
        TableFormat::Csv => table_csv(t),
        TableFormat::Latex => table_latex(t),
        TableFormat::Json => table_json(t).to_string() + "\n",
    }
}

fn label(names: &[String], values: &[i64]) -> String {
    match (names, values) {
        ([n], [v]) => format!("{n}={v}"),
        _ => {
            let vs: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            format!("({})=({})", names.join(","), vs.join(","))
        }
    }
}

fn labelled(t: &Table) -> (Vec<String>, Vec<String>, Vec<Vec<String>>) {
    let (out, wrt) = &t.index_names;
    let cols = t.cols.iter().map(|c| label(wrt, c)).collect();
    let rows = t.rows.iter().map(|r| label(out, r)).collect();
    (cols, rows, t.entry_texts())
}

fn table_text(t: &Table) -> String {
    let (cols, rows, entries) = labelled(t);
    let mut table = prettytable::Table::new();
    table.set_format(box_format());
    table.set_titles(Row::new(std::iter::once(&t.title).chain(&cols).map(|c| Cell::new(c)).collect()));
    for (r, row) in rows.iter().zip(&entries) {
        table.add_row(Row::new(std::iter::once(r).chain(row).map(|c| Cell::new(c)).collect()));
    }
    table.to_string()
}

/// Box-drawn borders and a rule under the titles, but none between rows.
fn box_format() -> format::TableFormat {
    use format::{LinePosition, LineSeparator};
    format::FormatBuilder::new()
        .column_separator('│')
        .borders('│')
        .separators(&[LinePosition::Top], LineSeparator::new('─', '┬', '┌', '┐'))
        .separators(&[LinePosition::Title], LineSeparator::new('─', '┼', '├', '┤'))
        .separators(&[LinePosition::Bottom], LineSeparator::new('─', '┴', '└', '┘'))
        .padding(1, 1)
        .build()
}

fn table_markdown(t: &Table) -> String {
    let (cols, rows, entries) = labelled(t);
    let line = |cells: Vec<&str>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(std::iter::once(t.title.as_str()).chain(cols.iter().map(|c| c.as_str())).collect());
    out += &line(vec!["---"; cols.len() + 1]);
    for (r, row) in rows.iter().zip(&entries) {
        out += &line(std::iter::once(r.as_str()).chain(row.iter().map(|c| c.as_str())).collect());
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn table_csv(t: &Table) -> String {
    let (cols, rows, entries) = labelled(t);
    let line = |cells: Vec<&String>| cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",") + "\n";
    let mut out = line(std::iter::once(&t.title).chain(&cols).collect());
    for (r, row) in rows.iter().zip(&entries) {
        out += &line(std::iter::once(r).chain(row).collect());
    }
    out
}

/// An entry in LaTeX: `2*w[0] + w[1,2]` becomes `2 w_{0} + w_{1,2}`.
fn latex_entry(s: &str) -> String {
    s.replace('*', " ").replace('[', "_{").replace(']', "}")
}

fn latex_label(s: &str) -> String {
    s.replace('=', " = ")
}

fn table_latex(t: &Table) -> String {
    let (cols, rows, entries) = labelled(t);
    let title = t.title.replace('∂', "\\partial ").replace('/', " / ");
    let mut out = format!("\\begin{{array}}{{c|{}}}\n", "c".repeat(cols.len()));
    let head: Vec<String> = cols.iter().map(|c| latex_label(c)).collect();
    let _ = writeln!(out, "{title} & {} \\\\ \\hline", head.join(" & "));
    for (r, row) in rows.iter().zip(&entries) {
        let cells: Vec<String> = row.iter().map(|c| latex_entry(c)).collect();
        let _ = writeln!(out, "{} & {} \\\\", latex_label(r), cells.join(" & "));
    }
    out + "\\end{array}\n"
}

fn table_json(t: &Table) -> Json {
    let sizes: serde_json::Map<String, Json> = t.sizes.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
    json!({
        "spec": t.spec,
        "output": t.output,
        "wrt": t.wrt,
        "sizes": sizes,
        "output_shape": t.output_shape,
        "wrt_shape": t.wrt_shape,
        "entries": t.entry_texts(),
    })
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Proved => "proved",
        Verdict::Checked => "checked",
        Verdict::Refuted => "REFUTED",
    }
}

fn write_steps(out: &mut String, steps: &[Step], first: usize) {
    let width = steps.iter().map(|s| s.rule.chars().count()).max().unwrap_or(0);
    for (k, s) in steps.iter().enumerate() {
        let _ = writeln!(out, "  {:>3}. {:<width$}  {}", k + first, s.rule, s.expr);
    }
}

/// `derive`'s text output for one spec.
pub fn derive_text(r: &Report) -> String {
    let m = &r.model;
    let d = &r.derivation;
    let mut out = String::new();
    let _ = writeln!(out, "== {} ==\n", m.name);
    let _ = writeln!(out, "definition\n  {}", m.definition_text());
    let lhs = crate::algebra::Element {
        tensor: m.output.name.clone(),
        index: m.output.indices.iter().map(|n| crate::algebra::index::var(n)).collect(),
    };
    let _ = writeln!(out, "  parsed: {lhs} = {}\n", m.formula.show(&m.sizes));
    let how = if d.domain.from_output_line { "from the output line" } else { "by the valid rule" };
    let _ = writeln!(out, "output domain ({how})");
    for (name, (lo, hi)) in m.output.indices.iter().zip(&d.domain.axes) {
        let _ = writeln!(out, "  {lo} ≤ {name} ≤ {hi}");
    }
    for q in &d.domain.conditions {
        let _ = writeln!(out, "  (empty unless 0 ≤ {q})");
    }
    for note in &r.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    for (axis, len) in d.lengths.iter().enumerate() {
        let which = if d.lengths.len() == 1 { String::new() } else { format!(", {axis}") };
        let _ = writeln!(
            out,
            "  len({}{which}) = {len}   ({}: {})",
            m.output.name,
            show_sizes(&r.sizes),
            r.length_values[axis]
        );
    }
    for der in &d.derivatives {
        let _ = writeln!(out, "\n{}", der.name(m));
        write_steps(&mut out, &der.steps, 0);
        let _ = writeln!(out, "  closed form: {}", crate::check::closed_form_text(m, der));
    }
    for t in &r.tables {
        let _ = writeln!(out, "\nJacobian {} at {}", t.title, show_sizes(&t.sizes));
        out += &table_text(t);
    }
    if !r.claims.is_empty() {
        let _ = writeln!(out, "\nclaims");
        for c in &r.claims {
            let _ = writeln!(out, "  {:<8} {}\n           {}", verdict(c.verdict), c.text, c.grounds);
            if !c.proof.is_empty() {
                write_steps(&mut out, &c.proof, 1);
            }
        }
    }
    if !r.runs.is_empty() {
        let _ = writeln!(out, "\nruns");
        for run in &r.runs {
            let v = match run.holds {
                Some(true) => "agrees",
                Some(false) => "DISAGREES",
                None => "skipped",
            };
            let _ = writeln!(out, "  {v:<9} {}", run.text);
            for part in &run.findings {
                let _ = writeln!(out, "            {part}");
            }
        }
    }
    let _ = writeln!(out, "\nrules used");
    let legend = rule_legend(r);
    let width = legend.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0);
    for (name, what) in legend {
        let _ = writeln!(out, "  {name:<width$}  {what}");
    }
    out
}

/// The rules named in a report's proofs, with what each does.
fn rule_legend(r: &Report) -> Vec<(String, &'static str)> {
    let mut legend: Vec<(String, &'static str)> = Vec::new();
    let steps = r.derivation.derivatives.iter().flat_map(|d| &d.steps).chain(r.claims.iter().flat_map(|c| &c.proof));
    for rule in steps.flat_map(|s| s.rule.split(", ")) {
        let base = rule.trim_end_matches(" (reversed)");
        if !legend.iter().any(|(n, _)| n == base) {
            legend.push((base.to_string(), describe(base)));
        }
    }
    legend
}

/// `derive --format json` for one spec.
pub fn derive_json(r: &Report) -> String {
    let m = &r.model;
    let last = r.derivation.lengths.len() - 1;
    let steps = |steps: &[Step]| steps.iter().map(|s| json!({"rule": s.rule, "expr": s.expr})).collect::<Vec<_>>();
    let derivatives: Vec<Json> = r
        .derivation
        .derivatives
        .iter()
        .map(|d| json!({"wrt": d.wrt, "closed_form": crate::check::closed_form_text(m, d), "steps": steps(&d.steps)}))
        .collect();
    let claims: Vec<Json> = r
        .claims
        .iter()
        .map(|c| json!({"text": c.text, "holds": c.verdict != Verdict::Refuted, "how": format!("{}: {}", verdict(c.verdict).to_lowercase(), c.grounds)}))
        .collect();
    let runs: Vec<Json> =
        r.runs.iter().map(|x| json!({"text": x.text, "holds": x.holds, "detail": x.detail()})).collect();
    json!({
        "spec": m.name,
        "output": m.output.name,
        "output_length": {"symbolic": r.derivation.lengths[last].to_string(), "value": r.length_values[last]},
        "derivatives": derivatives,
        "claims": claims,
        "runs": runs,
    })
    .to_string()
        + "\n"
}

/// `check`'s one line for one spec.
pub fn check_line(r: &Report) -> String {
    let count = |v| r.claims.iter().filter(|c| c.verdict == v).count();
    let (p, c, x) = (count(Verdict::Proved), count(Verdict::Checked), count(Verdict::Refuted));
    let skipped = r.runs.iter().filter(|x| x.holds.is_none()).count();
    let agreeing = r.runs.iter().filter(|x| x.holds == Some(true)).count();
    let failed_runs = r.runs.iter().filter(|x| x.holds == Some(false)).count();
    let status = if r.holds() { "ok" } else { "FAILED" };
    let mut line = format!("{}: {status}: {p} proved, {c} checked, {x} refuted", r.model.name);
    if agreeing > 0 {
        let _ = write!(line, "; {agreeing} runs agree");
    }
    if failed_runs > 0 {
        let _ = write!(line, "; {failed_runs} runs disagree");
    }
    if skipped > 0 {
        let _ = write!(line, "; {skipped} runs not executed");
    }
    if let Some(bad) = r.claims.iter().find(|c| c.verdict == Verdict::Refuted) {
        let _ = write!(line, "; first refuted: {} ({})", bad.text, bad.grounds);
    }
    line + "\n"
}

/// `check --sweep`'s one line for one spec.
pub fn sweep_line(spec: &str, s: &SweepReport) -> String {
    let ranges: Vec<String> = s.ranges.iter().map(|r| format!("{} = {}..{}", r.name, r.lo, r.hi)).collect();
    let mut line = format!(
        "{spec}: sweep {}: {} size sets checked ({} skipped: an empty tensor or output): domain, lengths and closed forms agree with brute force",
        ranges.join(", "),
        s.checked,
        s.skipped
    );
    match s.failures.first() {
        None => line += "; every claim holds",
        Some((claim, how)) => {
            let _ = write!(line, "; FAILED: {} claims fail, first: {claim} ({how})", s.failures.len());
        }
    }
    line + "\n"
}
