//! The formats of issue 13: LaTeX that compiles, `check`'s JSON and JUnit for batches and
//! CI, and `derive --brief`. Each output is checked in code before it is snapshotted.

mod common;

use std::process::Command;
use symconv::check::{self, RunOptions};
use symconv::cli::load;
use symconv::render::{self, TableFormat};

/// Runs the binary: stdout, stderr and the exit status, as one text to snapshot.
fn symconv(args: &[&str]) -> (String, String, i32) {
    let o = Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&o.stdout), text(&o.stderr), o.status.code().unwrap_or(-1))
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots/formats");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

/// Why a LaTeX display would not compile, checked as far as syntax goes: the display's
/// delimiters, balanced braces, TeX indices, ASCII only (pdflatex's math has no Unicode).
fn latex_trouble(tex: &str) -> Option<String> {
    if !tex.starts_with("\\[\n\\begin{array}{c|") || !tex.ends_with("\\end{array}\n\\]\n") {
        return Some("not a `\\[ \\begin{array} … \\end{array} \\]` display".into());
    }
    let mut depth = 0i64;
    for c in tex.chars() {
        depth += match c {
            '{' => 1,
            '}' => -1,
            _ => 0,
        };
        if depth < 0 {
            return Some("a `}` closes nothing".into());
        }
    }
    match () {
        _ if depth != 0 => Some(format!("{depth} braces left open")),
        _ if tex.contains("_<") => Some("an index as `_<…>`".into()),
        _ if !tex.is_ascii() => Some("a character beyond ASCII".into()),
        _ => None,
    }
}

#[test]
fn latex_tables_of_every_shipped_spec_are_complete_displays() {
    let mut seen = 0;
    for path in common::shipped_specs() {
        let model = load(&path, None).expect("shipped specs load");
        let derivation = symconv::derive::derive(&model, &symconv::limits::Limits::default()).expect("derives");
        let report = check::report(model, derivation, true, RunOptions::default()).expect("checks");
        for t in &report.tables {
            let tex = render::table(t, TableFormat::Latex);
            assert_eq!(latex_trouble(&tex), None, "{} wrt {}:\n{tex}", path.display(), t.wrt);
            // The header ends in `\\ \hline`, each of the rows (one per output) in `\\`.
            assert_eq!(tex.matches("\\\\ \\hline\n").count(), 1, "{tex}");
            assert_eq!(tex.matches("\\\\\n").count(), t.rows.len(), "{tex}");
            seen += 1;
        }
    }
    assert!(seen >= 32, "{seen} tables");
    // The checker itself: the old output fails it.
    assert!(latex_trouble("\\begin{array}{c|c}\n\\partial s_<o, i> & 0 \\\\\n\\end{array}\n").is_some());
    assert!(latex_trouble("\\[\n\\begin{array}{c|c}\n\\partial s_<o, i> & 0 \\\\\n\\end{array}\n\\]\n").is_some());
    assert!(latex_trouble("\\[\n\\begin{array}{c|c}\n{ & 0 \\\\\n\\end{array}\n\\]\n").is_some());
}

#[test]
fn latex_of_a_multichannel_table_has_tex_indices() {
    let (tex, err, code) = symconv(&["table", "specs/multichannel.conv", "--wrt", "w", "--format", "latex"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(latex_trouble(&tex), None, "{tex}");
    let head = tex.lines().nth(2).unwrap_or_default();
    assert!(head.starts_with("\\partial s_{o,i} / \\partial w_{"), "{head}");
    assert!(head.contains(" & (") && head.contains(") = (0,0,0) & "), "{head}");
}

/// Whether a document is well-formed XML, as far as this output needs: one root, tags
/// nested and closed in order, attribute values quoted, every `&` a known entity or a
/// character reference, no `<` in text or attributes. Returns why not.
fn xml_trouble(xml: &str) -> Option<String> {
    xml_check(xml).err()
}

/// [`xml_trouble`] as a `Result`.
fn xml_check(xml: &str) -> Result<(), String> {
    let cut = |what: &str| format!("cut short: {what}");
    let body = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").ok_or_else(|| cut("no declaration"))?;
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = body;
    while let Some(open) = rest.find('<') {
        text_trouble(&rest[..open]).map_or(Ok(()), Err)?;
        let close = rest[open..].find('>').map(|c| open + c).ok_or_else(|| cut("a tag never ends"))?;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop().as_deref() != Some(name) {
                return Err(format!("`</{name}>` closes nothing open"));
            }
            continue;
        }
        let empty = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, mut attrs) = tag.split_once(' ').unwrap_or((tag, ""));
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(format!("a bad tag name `{name}`"));
        }
        while !attrs.trim().is_empty() {
            let (key, value) =
                attrs.trim_start().split_once("=\"").ok_or_else(|| cut("an attribute without a value"))?;
            let end = value.find('"').ok_or_else(|| cut("an attribute never ends"))?;
            if !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || value[..end].contains('<') {
                return Err(format!("a bad attribute in `{tag}`"));
            }
            text_trouble(&value[..end]).map_or(Ok(()), Err)?;
            attrs = &value[end + 1..];
        }
        if stack.is_empty() {
            roots += 1;
        }
        if !empty {
            stack.push(name.to_string());
        }
    }
    text_trouble(rest).map_or(Ok(()), Err)?;
    match (stack.last(), roots, rest.trim()) {
        (Some(open), _, _) => Err(format!("`<{open}>` is never closed")),
        (_, 1, "") => Ok(()),
        _ => Err(format!("{roots} roots, then `{rest}`")),
    }
}

/// Why text between tags is not XML character data: a `>` is allowed, `&` only as an
/// entity, and no control characters but tab and line breaks.
fn text_trouble(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        let Some(end) = rest[at..].find(';').map(|e| at + e) else { return Some("a bare `&`".into()) };
        let entity = &rest[at + 1..end];
        let known = ["amp", "lt", "gt", "quot", "apos"].contains(&entity)
            || entity.strip_prefix('#').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if !known {
            return Some(format!("an unknown entity `&{entity};`"));
        }
        rest = &rest[end + 1..];
    }
    text.chars().find(|&c| (c as u32) < 0x20 && !"\t\n\r".contains(c)).map(|c| format!("a control character {c:?}"))
}

#[test]
fn check_junit_is_one_well_formed_document() {
    let batch =
        ["specs/standard.conv", "tests/bad/not_utf8.conv", "tests/fixtures/wrong_claims.conv", "specs/seed.conv"];
    let (xml, err, code) = symconv(&[&["check", "--format", "junit"][..], &batch].concat());
    assert_eq!(code, 2, "{err}");
    assert_eq!(xml_trouble(&xml), None, "{xml}");
    assert_eq!(xml.matches("<testsuites ").count(), 1);
    assert_eq!(xml.matches("<testsuite ").count(), 4, "{xml}");
    assert!(xml.contains("<testsuite name=\"not_utf8\" tests=\"1\" failures=\"0\" errors=\"1\""), "{xml}");
    assert!(
        xml.contains("<failure message=\"refuted\">at n = 10, k = 3 the length is 8, the claim gives 7</failure>"),
        "{xml}"
    );
    assert!(err.contains("not_utf8.conv"), "{err}");
    // The checker catches what escaping prevents.
    for bad in ["<a>&</a>", "<a><b></a></b>", "<a x=\"<\"/>", "<a/><b/>", "<a>\u{1}</a>"] {
        let doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{bad}\n");
        assert!(xml_trouble(&doc).is_some(), "{bad}");
    }
    snapshot("check_junit", &format!("exit status {code}\n--- stdout\n{xml}--- stderr\n{err}"));
}

#[test]
fn sweeps_are_a_test_case_and_a_json_field() {
    let sweep = ["specs/strided.conv", "tests/fixtures/wrong_claims.conv", "--sweep", "n=3..6,k=1..2"];
    let (xml, err, code) = symconv(&[&["check", "--format", "junit"][..], &sweep].concat());
    assert_eq!(code, 1, "{err}");
    assert_eq!(xml_trouble(&xml), None, "{xml}");
    assert_eq!(xml.matches("<testcase classname=\"strided\" name=\"sweep\">").count(), 1, "{xml}");
    let failed = "<failure message=\"a claim fails in the sweep\">len(s) = n - k: at n = 3, k = 1 the length is 3, the claim gives 2</failure>";
    assert!(xml.contains(failed), "{xml}");
    let (json, err, code) = symconv(&[&["check", "--format", "json"][..], &sweep].concat());
    assert_eq!(code, 1, "{err}");
    let lines: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["sweep"]["ranges"], "n=3..6,k=1..2");
    assert_eq!(lines[0]["sweep"]["failures"].as_array().map(Vec::len), Some(0));
    assert_eq!(lines[1]["sweep"]["failures"][0]["claim"], "len(s) = n - k");
    assert_eq!(lines[1]["holds"], false);
}

#[test]
fn derive_json_gives_a_bad_spec_its_line() {
    let (json, err, code) = symconv(&["derive", "--format", "json", "tests/bad/not_utf8.conv", "specs/standard.conv"]);
    assert_eq!(code, 2, "{err}");
    let lines: Vec<serde_json::Value> = json.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{json}");
    assert_eq!(lines[0]["spec"], "not_utf8");
    assert_eq!(lines[0]["status"], 2);
    assert_eq!(lines[1]["output_length"]["value"], 8);
    assert!(err.starts_with("error: cannot read tests/bad/not_utf8.conv"), "{err}");
}

#[test]
fn check_json_and_text_of_a_batch() {
    let batch =
        ["specs/standard.conv", "tests/bad/not_utf8.conv", "tests/fixtures/wrong_claims.conv", "specs/seed.conv"];
    let (json, err, code) = symconv(&[&["check", "--format", "json"][..], &batch].concat());
    assert_eq!(code, 2, "{err}");
    for line in json.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line one JSON object");
    }
    assert_eq!(json.lines().count(), 4, "{json}");
    let (text, err, code) = symconv(&[&["check"][..], &batch].concat());
    assert_eq!(code, 2, "{err}");
    assert_eq!(text.lines().count(), 3, "{text}");
    snapshot("check_batch", &format!("--- check --format json\n{json}--- check\n{text}--- stderr\n{err}"));
}

#[test]
fn brief_derivations() {
    let (out, err, code) = symconv(&["derive", "--brief", "specs/left_padded.conv", "specs/seed.conv"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("== left_padded ==") && out.contains("== seed =="), "{out}");
    // A run that disagrees keeps its findings; one that agrees shows its verdict alone.
    assert!(out.contains("hint: the formula is a true convolution"), "{out}");
    assert!(!out.contains("all 10 outputs agree"), "{out}");
    snapshot("derive_brief", &out);
}
