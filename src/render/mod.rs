//! Rendering: reports and tables to text, Markdown, CSV, LaTeX, JSON and SVG. Pure
//! functions from data to `String`; nothing here computes a result.

pub mod docs;
pub mod svg;

pub use svg::table_svg;

use crate::algebra::index::var;
use crate::algebra::{Element, Index};
use crate::check::tables::Grid;
use crate::check::{show_sizes, CallReport, Report, SweepReport, Table, Verdict};
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
    /// An SVG picture of the grid (see [`table_svg`]).
    Svg,
}

/// A table in the given format.
pub fn table(t: &Table, fmt: TableFormat) -> String {
    match fmt {
        TableFormat::Text => table_text(t),
        TableFormat::Markdown => table_markdown(t),
        TableFormat::Csv => table_csv(t),
        TableFormat::Latex => table_latex(t),
        TableFormat::Json => table_json(t).to_string() + "\n",
        TableFormat::Svg => table_svg(t),
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

/// The widest text table, in columns, that a Jacobian of a convolution with two spatial
/// axes or more is printed as: a wider one is printed as receptive fields.
pub const WIDEST_DENSE_TEXT: usize = 120;

/// A table as text: one dense matrix, unless the convolution has two spatial axes or more
/// and the matrix would be wider than [`WIDEST_DENSE_TEXT`]; then the receptive fields of
/// the table's default outputs (see [`receptive_fields_text`]).
fn table_text(t: &Table) -> String {
    let dense = dense_text(t);
    match too_wide(t, &dense) {
        None => dense,
        Some(width) => receptive_intro(t, width) + "\n" + &receptive_fields_text(t, &t.default_outputs()),
    }
}

/// The width of a table's dense text when the table is too wide to be shown as one
/// matrix (see [`table_text`]), so that it is shown as receptive fields instead.
fn too_wide(t: &Table, dense: &str) -> Option<usize> {
    let width = dense.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    (t.spatial_axes >= 2 && width > WIDEST_DENSE_TEXT).then_some(width)
}

/// What the receptive fields of a table too wide to be shown (`width` columns as text)
/// stand for, and where the rest is: two lines.
fn receptive_intro(t: &Table, width: usize) -> String {
    let shown: Vec<String> = t.default_outputs().iter().map(|&r| output_element(t, r)).collect();
    format!(
        "receptive fields of {}: as one matrix, ∂{}/∂{} is {width} columns wide\n\
         (other outputs: symconv table --at; every entry: symconv table --format csv or json)\n",
        prose_list(&shown),
        t.output,
        t.wrt
    )
}

/// Items as prose: `a`, `a and b`, `a, b and c`.
fn prose_list(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, others)) => format!("{} and {last}", others.join(", ")),
    }
}

/// The output element of row `row`, as `s_<0, 2>`.
fn output_element(t: &Table, row: usize) -> String {
    let index = t.rows[row].iter().map(|&v| Index::constant(v)).collect();
    Element { tensor: t.output.clone(), index }.to_string()
}

/// The receptive fields of the outputs in the given rows of a table: for each output and
/// each value of the tensor's leading axes (its channels, and the depth of a 3-D one), a
/// heading such as `∂s_<1, 2>/∂x_<c, d, u> at c=0` over a grid with the tensor's
/// second-to-last axis down (`d=0`, `d=1`, …) and its last across (`u=0`, …), or one row
/// over the last axis for a tensor with one spatial axis. Cells are the table's entries.
pub fn receptive_fields_text(t: &Table, rows: &[usize]) -> String {
    let names = &t.index_names.1;
    let tensor = Element { tensor: t.wrt.clone(), index: names.iter().map(|n| var(n)).collect() };
    let mut out = Vec::new();
    for &row in rows {
        for grid in t.receptive_field(row) {
            let at = match grid.leading.is_empty() {
                true => String::new(),
                false => format!(" at {}", label(&names[..grid.leading.len()], &grid.leading)),
            };
            out.push(format!("∂{}/∂{tensor}{at}\n{}", output_element(t, row), grid_text(&grid, names)));
        }
    }
    out.join("\n")
}

/// One grid as a box-drawn table, labelled with the tensor's index names.
fn grid_text(grid: &Grid, names: &[String]) -> String {
    let col_name = &names[names.len() - 1];
    let cols = grid.cols.iter().map(|c| format!("{col_name}={c}"));
    let mut table = prettytable::Table::new();
    table.set_format(box_format());
    let entries = grid.entry_texts().into_iter();
    match &grid.rows {
        Some(rows) => {
            let row_name = &names[names.len() - 2];
            let corner = format!("{row_name}\\{col_name}");
            table.set_titles(std::iter::once(corner).chain(cols).map(|c| Cell::new(&c)).collect());
            for (r, line) in rows.iter().zip(entries) {
                table.add_row(std::iter::once(format!("{row_name}={r}")).chain(line).map(|c| Cell::new(&c)).collect());
            }
        }
        None => {
            table.set_titles(cols.map(|c| Cell::new(&c)).collect());
            for line in entries {
                table.add_row(line.into_iter().map(|c| Cell::new(&c)).collect());
            }
        }
    }
    table.to_string()
}

/// One dense matrix: a row per output element, a column per element of the tensor.
fn dense_text(t: &Table) -> String {
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
    let head: Vec<String> = std::iter::once(t.title.clone()).chain(cols).collect();
    let body = rows.into_iter().zip(entries).map(|(r, row)| std::iter::once(r).chain(row).collect());
    markdown_table(&head, body)
}

/// A GitHub-flavoured Markdown table: a header row, a rule, then the rows; a `|` in a
/// cell is escaped.
fn markdown_table(head: &[String], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let line = |cells: &[String]| {
        let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(head) + &line(&vec!["---".to_string(); head.len()]);
    for row in rows {
        out += &line(&row);
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

/// A name in TeX: Greek letters as their commands (braced, so that a letter may follow),
/// the prime of a renamed index as `'`.
fn tex_name(s: &str) -> String {
    const GREEK: [(char, &str); 30] = [
        ('α', "alpha"),
        ('β', "beta"),
        ('γ', "gamma"),
        ('δ', "delta"),
        ('ε', "epsilon"),
        ('ζ', "zeta"),
        ('η', "eta"),
        ('θ', "theta"),
        ('ι', "iota"),
        ('κ', "kappa"),
        ('λ', "lambda"),
        ('μ', "mu"),
        ('ν', "nu"),
        ('ξ', "xi"),
        ('π', "pi"),
        ('ρ', "rho"),
        ('σ', "sigma"),
        ('τ', "tau"),
        ('υ', "upsilon"),
        ('φ', "phi"),
        ('χ', "chi"),
        ('ψ', "psi"),
        ('ω', "omega"),
        ('Γ', "Gamma"),
        ('Δ', "Delta"),
        ('Θ', "Theta"),
        ('Λ', "Lambda"),
        ('Ξ', "Xi"),
        ('Π', "Pi"),
        ('Ω', "Omega"),
    ];
    let mut out = String::new();
    for c in s.chars() {
        match GREEK.iter().find(|(g, _)| *g == c) {
            Some((_, name)) => out += &format!("{{\\{name}}}"),
            None if c == '′' => out.push('\''),
            None => out.push(c),
        }
    }
    out
}

/// A tensor element in TeX: `s_{o,i}`.
fn tex_element(tensor: &str, indices: &[String]) -> String {
    let indices: Vec<String> = indices.iter().map(|i| tex_name(i)).collect();
    format!("{}_{{{}}}", tex_name(tensor), indices.join(","))
}

/// An entry in TeX: `2*w[0] + w[1,2]` becomes `2 w_{0} + w_{1,2}`.
fn latex_entry(s: &str) -> String {
    let spaced = s.replace('*', " ").replace('[', "_{").replace(']', "}");
    // A fraction `p/q` (the only `/` an entry holds) as `\tfrac{p}{q}`.
    let words: Vec<String> = spaced
        .split(' ')
        .map(|w| match w.split_once('/') {
            Some((p, q)) => match p.strip_prefix('-') {
                Some(p) => format!("-\\tfrac{{{p}}}{{{q}}}"),
                None => format!("\\tfrac{{{p}}}{{{q}}}"),
            },
            None => w.to_string(),
        })
        .collect();
    tex_name(&words.join(" "))
}

/// A row's or column's label in TeX: `j = 0`, `(o,i) = (0,1)`.
fn latex_label(names: &[String], values: &[i64]) -> String {
    tex_name(&label(names, values).replace('=', " = "))
}

/// The table as a complete LaTeX math display (`\[ … \]` around an `array`), which
/// compiles as it is in a minimal document.
fn table_latex(t: &Table) -> String {
    let (out_names, wrt_names) = &t.index_names;
    let title =
        format!("\\partial {} / \\partial {}", tex_element(&t.output, out_names), tex_element(&t.wrt, wrt_names));
    let mut out = format!("\\[\n\\begin{{array}}{{c|{}}}\n", "c".repeat(t.cols.len()));
    let head: Vec<String> = t.cols.iter().map(|c| latex_label(wrt_names, c)).collect();
    let _ = writeln!(out, "{title} & {} \\\\ \\hline", head.join(" & "));
    for (r, row) in t.rows.iter().zip(t.entry_texts()) {
        let cells: Vec<String> = row.iter().map(|c| latex_entry(c)).collect();
        let _ = writeln!(out, "{} & {} \\\\", latex_label(out_names, r), cells.join(" & "));
    }
    out + "\\end{array}\n\\]\n"
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
    let mut out = format!("== {} ==\n\n", m.name);
    let _ = writeln!(out, "definition\n  {}", m.definition_text());
    let lhs = crate::algebra::Element {
        tensor: m.output.name.clone(),
        index: m.output.indices.iter().map(|n| crate::algebra::index::var(n)).collect(),
    };
    let _ = writeln!(out, "  parsed: {lhs} = {}\n", m.formula.show(&m.sizes));
    write_domain(&mut out, r);
    for der in &r.derivation.derivatives {
        let _ = writeln!(out, "\n{}", der.name(m));
        write_steps(&mut out, &der.steps, 0);
        let _ = writeln!(out, "  closed form: {}", crate::check::closed_form_text(m, der));
    }
    write_backward(&mut out, r);
    for t in &r.tables {
        let _ = writeln!(out, "\nJacobian {} at {}", t.title, show_sizes(&t.sizes));
        out += &table_text(t);
    }
    write_verdicts(&mut out, r, true);
    let _ = writeln!(out, "\nrules used");
    let legend = rule_legend(r);
    let width = legend.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0);
    for (name, what) in legend {
        let _ = writeln!(out, "  {name:<width$}  {what}");
    }
    out
}

/// The backward section: each gradient's gather form with its steps, its engine call,
/// and what the numbers found.
fn write_backward(out: &mut String, r: &Report) {
    let m = &r.model;
    if r.backward.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nbackward, for an upstream gradient {} = ∂L/∂{} shaped like {}",
        m.upstream, m.output.name, m.output.name
    );
    for b in &r.backward {
        let _ = writeln!(out, "\n{}", b.gather.split(" = ").next().unwrap_or_default());
        write_steps(out, &b.steps, 0);
        let _ = writeln!(out, "  gather: {}", b.gather);
        match &b.call {
            Ok(c) => {
                let _ = writeln!(out, "  call:   {}", c.symbolic);
                let _ = writeln!(out, "          at {}: {}", show_sizes(&r.sizes), c.at_sizes);
                let _ = writeln!(out, "          torch:  {}", c.torch);
                let _ = writeln!(out, "          candle: {}", c.candle);
                let _ = writeln!(out, "          {}", call_proof_text(c, b.holds, m));
            }
            Err(why) => {
                let _ = writeln!(out, "  call:   none: {why}");
            }
        }
        let _ = writeln!(out, "  {:<9} {}", run_verdict(b.holds), b.findings.join("\n            "));
    }
}

/// Whether a call was proved to compute its gradient, in one line.
fn call_proof_text(c: &CallReport, holds: Option<bool>, m: &crate::model::Model) -> String {
    match &c.proof {
        Ok(()) => format!(
            "proved for all sizes: the call's output has the tensor's shape, and its coefficient of {} meets the derived Jacobian in the e-graph",
            m.upstream
        ),
        Err(why) if holds.is_some() => format!("not proved for all sizes: {why}; checked on the engine at these sizes"),
        Err(why) => format!("not proved for all sizes: {why}; not run on the engine at these sizes"),
    }
}

/// `derive --brief`'s text for one spec: the domain, the lengths, the closed forms and the
/// verdicts (a run's findings only where it does not agree); no steps and no tables.
pub fn derive_brief(r: &Report) -> String {
    let mut out = format!("== {} ==\n\n", r.model.name);
    write_domain(&mut out, r);
    let _ = writeln!(out, "\nclosed forms");
    for der in &r.derivation.derivatives {
        let _ = writeln!(out, "  {}", crate::check::closed_form_text(&r.model, der));
    }
    if !r.backward.is_empty() {
        let _ = writeln!(out, "\nbackward");
        for b in &r.backward {
            let _ = writeln!(out, "  {}", b.gather);
            let call = b.call.as_ref().map_or_else(|why| format!("no single call: {why}"), |c| c.symbolic.clone());
            let _ = writeln!(out, "  {:<9} {call}", run_verdict(b.holds));
        }
    }
    write_verdicts(&mut out, r, false);
    out
}

/// The output domain, the notes and the lengths.
fn write_domain(out: &mut String, r: &Report) {
    let (m, d) = (&r.model, &r.derivation);
    let how = match (d.domain.from_output_line, &d.domain.by_weight) {
        (true, _) => "from the output line".to_string(),
        (false, None) => "by the valid rule".to_string(),
        (false, Some(w)) => format!("by the valid rule, on the weight `{w}`"),
    };
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
}

/// The claims and the runs with their verdicts; the proofs, and the findings of runs that
/// agree, only when `full`.
fn write_verdicts(out: &mut String, r: &Report, full: bool) {
    if !r.claims.is_empty() {
        let _ = writeln!(out, "\nclaims");
        for c in &r.claims {
            let _ = writeln!(out, "  {:<8} {}\n           {}", verdict(c.verdict), c.text, c.grounds);
            if full && !c.proof.is_empty() {
                write_steps(out, &c.proof, 1);
            }
        }
    }
    if !r.runs.is_empty() {
        let _ = writeln!(out, "\nruns");
        for run in &r.runs {
            let _ = writeln!(out, "  {:<9} {}", run_verdict(run.holds), run.text);
            if full || run.holds != Some(true) {
                for part in &run.findings {
                    let _ = writeln!(out, "            {part}");
                }
            }
        }
    }
}

/// A run's verdict as the text prints it.
fn run_verdict(holds: Option<bool>) -> &'static str {
    match holds {
        Some(true) => "agrees",
        Some(false) => "DISAGREES",
        None => "skipped",
    }
}

/// The rules named in a report's proofs, with what each does.
fn rule_legend(r: &Report) -> Vec<(String, &'static str)> {
    let mut legend: Vec<(String, &'static str)> = Vec::new();
    let steps = r.derivation.derivatives.iter().flat_map(|d| &d.steps);
    let steps = steps.chain(r.backward.iter().flat_map(|b| &b.steps)).chain(r.claims.iter().flat_map(|c| &c.proof));
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
    let backward: Vec<Json> = r
        .backward
        .iter()
        .map(|b| {
            let (call, why) = match &b.call {
                Ok(c) => (
                    json!({"op": c.op, "symbolic": c.symbolic, "torch": c.torch, "candle": c.candle}),
                    call_proof_text(c, b.holds, m),
                ),
                Err(why) => (Json::Null, format!("no single engine call: {why}")),
            };
            json!({
                "wrt": b.wrt,
                "gather": b.gather,
                "steps": steps(&b.steps),
                "call": call,
                "holds": b.holds,
                "detail": format!("{why}; {}", b.detail()),
            })
        })
        .collect();
    json!({
        "spec": m.name,
        "output": m.output.name,
        "output_length": {"symbolic": r.derivation.lengths[last].to_string(), "value": r.length_values[last]},
        "derivatives": derivatives,
        "claims": claims,
        "runs": runs,
        "backward": backward,
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
    let gradients = |h| r.backward.iter().filter(|b| b.holds == h).count();
    match (gradients(Some(true)), gradients(Some(false))) {
        (0, 0) => {}
        (good, 0) => {
            let _ = write!(line, "; {good} gradients agree");
        }
        (_, bad) => {
            let _ = write!(line, "; {bad} gradients disagree");
        }
    }
    // A named call that did not run (past the limits at these sizes).
    let not_run = r.backward.iter().filter(|b| b.holds.is_none() && b.call.is_ok()).count();
    if not_run > 0 {
        let _ = write!(line, "; {not_run} gradients not run at these sizes");
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

/// `check --format json` for one spec: whether it holds, each claim and run with its
/// verdict, and the sweep's result when one ran.
pub fn check_json(r: &Report, file: &str, sweep: Option<&SweepReport>) -> String {
    let claims: Vec<Json> = r
        .claims
        .iter()
        .map(|c| {
            json!({"text": c.text, "verdict": verdict(c.verdict).to_lowercase(),
                   "holds": c.verdict != Verdict::Refuted, "grounds": c.grounds})
        })
        .collect();
    let runs: Vec<Json> = r
        .runs
        .iter()
        .map(|x| {
            let v = run_verdict(x.holds).to_lowercase();
            json!({"text": x.text, "verdict": v, "holds": x.holds, "detail": x.detail()})
        })
        .collect();
    let holds = r.holds() && sweep.is_none_or(|s| s.failures.is_empty());
    let sweep = sweep.map(|s| {
        let failures: Vec<Json> =
            s.failures.iter().map(|(c, why)| json!({"claim": c, "counterexample": why})).collect();
        let ranges: Vec<String> = s.ranges.iter().map(|r| format!("{}={}..{}", r.name, r.lo, r.hi)).collect();
        json!({"ranges": ranges.join(","), "checked": s.checked, "skipped": s.skipped, "failures": failures})
    });
    let backward: Vec<Json> = r
        .backward
        .iter()
        .map(|b| json!({"wrt": b.wrt, "verdict": run_verdict(b.holds).to_lowercase(), "holds": b.holds, "detail": b.detail()}))
        .collect();
    json!({"spec": r.model.name, "file": file, "holds": holds, "claims": claims, "runs": runs, "backward": backward, "sweep": sweep})
        .to_string()
        + "\n"
}

/// One mistake in a spec, where it stands: for the JSON of a spec that could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// What is wrong.
    pub message: String,
    /// The 1-based line.
    pub line: usize,
    /// The 1-based column, in characters.
    pub column: usize,
    /// What to do, when known.
    pub hint: Option<String>,
}

/// The JSON line of a spec that could not be checked: its error as the diagnostic tells it,
/// each mistake with its line and column, and the exit status it earns.
pub fn error_json(spec: &str, file: &str, error: &str, places: &[Place], status: i32) -> String {
    let mistakes: Vec<Json> = places
        .iter()
        .map(|p| json!({"message": p.message, "line": p.line, "column": p.column, "hint": p.hint}))
        .collect();
    json!({"spec": spec, "file": file, "holds": false, "error": error.trim_end(), "mistakes": mistakes, "status": status})
        .to_string()
        + "\n"
}

/// One `<testsuite>` of `check --format junit`, with its counts: a test case per claim
/// and run (and the sweep), a failure with its counterexample or finding.
pub struct JunitSuite {
    /// The suite's XML.
    xml: String,
    /// Test cases, failures, errors and skipped ones.
    counts: [usize; 4],
}

/// The `<testsuite>` of a checked spec.
pub fn junit_suite(r: &Report, sweep: Option<&SweepReport>) -> JunitSuite {
    let name = &r.model.name;
    let mut cases = Vec::new();
    for c in &r.claims {
        let what = verdict(c.verdict).to_lowercase();
        let outcome = match c.verdict {
            Verdict::Refuted => Some(("failure", "refuted", c.grounds.clone())),
            _ => None,
        };
        cases.push(junit_case(name, &format!("claim {}", c.text), &format!("{what}: {}", c.grounds), outcome));
    }
    // A run or a gradient: agrees, disagrees, or was not executed.
    let checked = |case: String, holds: Option<bool>, findings: &[String], detail: String| {
        let outcome = match holds {
            Some(true) => None,
            Some(false) => Some(("failure", "disagrees", findings.join("\n"))),
            None => Some(("skipped", "not executed", detail)),
        };
        junit_case(name, &case, &findings.join("\n"), outcome)
    };
    cases.extend(r.runs.iter().map(|x| checked(format!("run {}", x.text), x.holds, &x.findings, x.detail())));
    cases.extend(
        r.backward.iter().map(|b| checked(format!("gradient ∂L/∂{}", b.wrt), b.holds, &b.findings, b.detail())),
    );
    if let Some(s) = sweep {
        let line = sweep_line(name, s);
        let outcome =
            s.failures.first().map(|(c, why)| ("failure", "a claim fails in the sweep", format!("{c}: {why}")));
        cases.push(junit_case(name, "sweep", line.trim_end(), outcome));
    }
    suite(name, cases)
}

/// The `<testsuite>` of a spec that could not be checked: one test case with an `<error>`.
pub fn junit_error_suite(spec: &str, error: &str) -> JunitSuite {
    suite(
        spec,
        vec![junit_case(spec, "load and check", "", Some(("error", "the spec could not be checked", error.into())))],
    )
}

/// The whole JUnit document: one `<testsuites>` holding every spec's suite.
pub fn junit(suites: &[JunitSuite]) -> String {
    let total = suites.iter().fold([0; 4], |t, s| [0, 1, 2, 3].map(|k| t[k] + s.counts[k]));
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"symconv check\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        total[0], total[1], total[2], total[3]
    );
    for s in suites {
        out += &s.xml;
    }
    out + "</testsuites>\n"
}

/// One test case: its XML and its kind (0 passed, 1 failure, 2 error, 3 skipped). `out`,
/// the grounds or findings, is its `<system-out>` when it passed; otherwise the outcome's
/// body says it.
fn junit_case(suite: &str, name: &str, out: &str, outcome: Option<(&str, &str, String)>) -> (String, usize) {
    let mut xml = format!("    <testcase classname=\"{}\" name=\"{}\">\n", xml_escape(suite), xml_escape(name));
    let kind = match &outcome {
        None => 0,
        Some((tag, message, body)) => {
            let _ =
                writeln!(xml, "      <{tag} message=\"{}\">{}</{tag}>", xml_escape(message), xml_text(body.trim_end()));
            match *tag {
                "failure" => 1,
                "error" => 2,
                _ => 3,
            }
        }
    };
    if kind == 0 && !out.is_empty() {
        let _ = writeln!(xml, "      <system-out>{}</system-out>", xml_text(out));
    }
    (xml + "    </testcase>\n", kind)
}

/// A `<testsuite>` of test cases.
fn suite(name: &str, cases: Vec<(String, usize)>) -> JunitSuite {
    let mut counts = [cases.len(), 0, 0, 0];
    for (_, kind) in &cases {
        if *kind > 0 {
            counts[*kind] += 1;
        }
    }
    let mut xml = format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">\n",
        xml_escape(name),
        counts[0],
        counts[1],
        counts[2],
        counts[3]
    );
    for (case, _) in cases {
        xml += &case;
    }
    JunitSuite { xml: xml + "  </testsuite>\n", counts }
}

/// Text as XML character data: as [`xml_escape`] does, but with its line breaks as they are.
fn xml_text(s: &str) -> String {
    s.split('\n').map(xml_escape).collect::<Vec<_>>().join("\n")
}

/// Text as an XML attribute value (or character data): the five special characters as
/// entities, line breaks and tabs as references (which attributes keep), and characters
/// XML 1.0 forbids as U+FFFD.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out += "&amp;",
            '<' => out += "&lt;",
            '>' => out += "&gt;",
            '"' => out += "&quot;",
            '\'' => out += "&apos;",
            '\n' => out += "&#10;",
            '\t' | '\r' => out += &format!("&#{};", c as u32),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_what_xml_forbids() {
        let escaped = xml_escape("a<b & \"c\" 'd'>\n\u{1}");
        assert_eq!(escaped, "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;&#10;\u{fffd}");
        assert_eq!(xml_text("x<\ny"), "x&lt;\ny");
    }

    #[test]
    fn tex_names_are_ascii() {
        assert_eq!(tex_name("α′"), "{\\alpha}'");
        assert_eq!(tex_element("w", &["o".into(), "β".into()]), "w_{o,{\\beta}}");
        assert_eq!(latex_entry("2*w[0] + λ[1,2]"), "2 w_{0} + {\\lambda}_{1,2}");
        assert_eq!(latex_entry("1/6*x[2] - 2/3*x[3]"), "\\tfrac{1}{6} x_{2} - \\tfrac{2}{3} x_{3}");
        assert_eq!(latex_entry("-1/3"), "-\\tfrac{1}{3}");
    }

    /// The table `∂s/∂wrt` of a spec's source at its `let` sizes.
    fn table_of(src: &str, wrt: &str) -> Table {
        let model = crate::model::resolve(&crate::syntax::parse(src).unwrap(), src, "t", &[]).unwrap();
        let derivation = crate::derive::derive(&model, &crate::limits::Limits::default()).unwrap();
        crate::check::table(&model, &derivation, wrt, &model.values).unwrap()
    }

    #[test]
    fn a_receptive_field_of_a_1d_tensor_is_one_row() {
        let t = table_of("input x[n]\nweight w[k]\nlet n = 4, k = 2\ns_i = Σ x_<i+m> w_m\n", "x");
        let expected = "\
∂s_1/∂x_j
┌─────┬──────┬──────┬─────┐
│ j=0 │ j=1  │ j=2  │ j=3 │
├─────┼──────┼──────┼─────┤
│ 0   │ w[0] │ w[1] │ 0   │
└─────┴──────┴──────┴─────┘
";
        assert_eq!(receptive_fields_text(&t, &[1]), expected);
    }

    #[test]
    fn a_1d_convolution_is_one_matrix_however_wide() {
        let t = table_of("input x[n]\nweight w[k]\nlet n = 40, k = 2\ns_i = Σ x_<i+m> w_m\n", "x");
        let text = table_text(&t);
        assert!(text.lines().next().is_some_and(|l| l.chars().count() > WIDEST_DENSE_TEXT), "{text}");
        assert_eq!(text, dense_text(&t));
    }
}
