//! `symconv docs`: the shipped specs' docs in `docs/` are those the command writes; links
//! resolve; the output is deterministic; nothing is written on an error; a file that
//! `docs` did not write is overwritten only with `--force`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const REGENERATE: &str = "cargo run --release -- docs specs/*.conv --out docs";

fn symconv(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_symconv")).args(args).output().expect("symconv runs")
}

/// A fresh, empty folder for one test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("docs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `symconv docs` on `specs` into `dir`.
fn docs(specs: &[PathBuf], dir: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<&str> = vec!["docs"];
    args.extend(specs.iter().map(|p| p.to_str().expect("a UTF-8 path")));
    args.extend(["--out", dir.to_str().expect("a UTF-8 path")]);
    args.extend(extra);
    symconv(&args)
}

/// Every file in a folder (not below it), by name, with its bytes.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .map(|e| {
            let path = e.expect("a readable entry").path();
            assert!(path.is_file(), "{} is not a file", path.display());
            (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).unwrap())
        })
        .collect()
}

/// The docs of the shipped specs, written once into a fresh folder for every test here.
fn generated() -> &'static BTreeMap<String, Vec<u8>> {
    static DOCS: OnceLock<BTreeMap<String, Vec<u8>>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let dir = fresh_dir("shipped");
        let specs = common::shipped_specs();
        let o = docs(&specs, &dir, &[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        // The seed spec does not hold, by design: its page says so, and the status is 1.
        assert_eq!(o.status.code(), Some(1), "{stderr}");
        assert!(stderr.is_empty(), "{stderr}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains(&format!("{} pages", specs.len())), "{stdout}");
        assert!(stdout.contains("seed does not hold: see seed.md"), "{stdout}");
        contents(&dir)
    })
}

#[test]
fn the_docs_folder_is_what_the_command_writes() {
    let written = generated();
    let shipped = contents(Path::new("docs"));
    let missing: Vec<&String> = written.keys().filter(|k| !shipped.contains_key(*k)).collect();
    let extra: Vec<&String> = shipped.keys().filter(|k| !written.contains_key(*k)).collect();
    let stale: Vec<&String> =
        written.iter().filter(|(k, v)| shipped.get(*k).is_some_and(|s| s != *v)).map(|(k, _)| k).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && stale.is_empty(),
        "docs/ is stale: regenerate it with `{REGENERATE}` (and delete the extra files) and commit it\n\
         missing from docs/: {missing:?}\nin docs/ but not written: {extra:?}\ndiffering: {stale:?}"
    );
}

#[test]
fn every_spec_has_a_page_and_a_picture_per_jacobian() {
    let written = generated();
    for spec in common::shipped_specs() {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let page = String::from_utf8_lossy(&written[&format!("{name}.md")]).into_owned();
        for heading in ["## Definition", "## Domain and length", "## Derivations", "## Jacobian tables", "## Claims"] {
            assert!(page.contains(&format!("\n{heading}\n")), "{name}.md has no {heading}");
        }
        let src = std::fs::read_to_string(&spec).unwrap();
        assert!(page.contains(src.trim_end()), "{name}.md does not hold the spec's source");
        let pictures = written.keys().filter(|k| k.starts_with(&format!("{name}.")) && k.ends_with(".svg")).count();
        let tables = page.lines().filter(|l| l.starts_with("### `∂") && l.contains("` at ")).count();
        assert_eq!(pictures, tables, "{name}: a picture per Jacobian table");
        // A spec without a weight (pooling, upsampling) has one Jacobian: ∂s/∂x.
        assert!(pictures >= 1, "{name}: {pictures} pictures");
    }
}

/// `%XX` sequences as bytes.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut k = 0;
    while k < bytes.len() {
        match (bytes[k], s.get(k + 1..k + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                k += 3;
            }
            (b, _) => {
                out.push(b);
                k += 1;
            }
        }
    }
    String::from_utf8(out).expect("a UTF-8 link")
}

/// The targets of a Markdown text's inline links and images, `[…](target)`.
fn link_targets(md: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = md;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find(')').expect("a link's closing parenthesis");
        targets.push(rest[..end].to_string());
    }
    targets
}

#[test]
fn every_link_is_relative_and_resolves_and_every_file_is_linked() {
    let written = generated();
    let mut linked = vec!["index.md".to_string()];
    for (name, bytes) in written.iter().filter(|(k, _)| k.ends_with(".md")) {
        let md = String::from_utf8_lossy(bytes);
        let targets = link_targets(&md);
        assert!(!targets.is_empty(), "{name} links nothing");
        for target in targets {
            assert!(!target.contains(':') && !target.starts_with('/'), "{name}: `{target}` is not relative");
            let file = percent_decode(target.split('#').next().unwrap());
            assert!(written.contains_key(&file), "{name}: `{target}` names no file that docs wrote");
            linked.push(file);
        }
    }
    let unlinked: Vec<&String> = written.keys().filter(|k| !linked.contains(k)).collect();
    assert!(unlinked.is_empty(), "no page links {unlinked:?}");
    let index = String::from_utf8_lossy(&written["index.md"]);
    assert_eq!(link_targets(&index).len(), common::shipped_specs().len(), "index.md links every page once");
}

#[test]
fn two_runs_write_the_same_bytes_whatever_the_order_of_the_specs() {
    let dir = fresh_dir("again");
    let mut specs = common::shipped_specs();
    specs.reverse();
    let o = docs(&specs, &dir, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(contents(&dir) == *generated(), "a second run, the specs in reverse order, wrote other bytes");
}

/// The Markdown table under a heading of a page: its rows' cells.
fn table_after(page: &str, heading: &str) -> Vec<Vec<String>> {
    let at = page.find(heading).unwrap_or_else(|| panic!("no {heading}"));
    let lines = page[at..].lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    lines.map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect()).collect()
}

#[test]
fn the_jacobian_table_of_the_valid_convolution_is_its_band() {
    // ∂s_i/∂x_j = w[i + k - 1 - j] where 0 ≤ i + k - 1 - j < k, else 0: worked out here
    // from the definition s_i = Σ_l x_l w_<i+k-l-1>, at n = 10, k = 3.
    let page = String::from_utf8_lossy(&generated()["standard.md"]).into_owned();
    let table = table_after(&page, "### `∂s_i/∂x_j` at n = 10, k = 3");
    let (n, k) = (10i64, 3i64);
    assert_eq!(table.len(), 2 + (n - k + 1) as usize, "a header, a rule and a row per output");
    assert_eq!(table[0][1..], (0..n).map(|j| format!("j={j}")).collect::<Vec<_>>());
    for (i, row) in table[2..].iter().enumerate() {
        assert_eq!(row[0], format!("i={i}"));
        for j in 0..n {
            let m = i as i64 + k - 1 - j;
            let expected = if (0..k).contains(&m) { format!("`w[{m}]`") } else { "0".into() };
            assert_eq!(row[1 + j as usize], expected, "i = {i}, j = {j}");
        }
    }
}

#[test]
fn nothing_is_written_when_a_spec_has_an_error() {
    let bad = [PathBuf::from("specs/standard.conv"), PathBuf::from("tests/bad/div_by_zero.conv")];
    let dir = fresh_dir("error");
    let o = docs(&bad, &dir, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("div_by_zero.conv") && stderr.contains("nothing was written"), "{stderr}");
    assert!(!dir.exists(), "the folder was made");
    // A folder that exists is left as it was.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    assert_eq!(docs(&bad, &dir, &[]).status.code(), Some(2));
    assert_eq!(contents(&dir), BTreeMap::from([("notes.txt".to_string(), b"mine".to_vec())]));
}

#[test]
fn a_file_that_docs_did_not_write_is_overwritten_only_with_force() {
    let specs = [PathBuf::from("specs/standard.conv")];
    let dir = fresh_dir("force");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.md"), "# my own index\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let o = docs(&specs, &dir, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&dir.join("index.md").display().to_string()) && stderr.contains("--force"), "{stderr}");
    let before = BTreeMap::from([
        ("index.md".to_string(), b"# my own index\n".to_vec()),
        ("notes.txt".to_string(), b"mine".to_vec()),
    ]);
    assert_eq!(contents(&dir), before, "nothing is written when one file is refused");

    let o = docs(&specs, &dir, &["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let after = contents(&dir);
    assert!(String::from_utf8_lossy(&after["index.md"]).contains("[standard](standard.md)"));
    assert_eq!(after["notes.txt"], b"mine", "a file docs does not write is left alone");
    assert!(after.contains_key("standard.md") && after.contains_key("standard.x.svg"));

    // Its own files it overwrites without --force.
    std::fs::write(dir.join("standard.md"), [&after["index.md"][..], b"edited"].concat()).unwrap();
    let o = docs(&specs, &dir, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(contents(&dir), after);
}

#[test]
fn pages_that_would_collide_are_refused() {
    let dir = fresh_dir("collide");
    let twice = [PathBuf::from("specs/standard.conv"), PathBuf::from("./specs/standard.conv")];
    let o = docs(&twice, &dir, &[]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("standard.md"), "{stderr}");
    let file = fresh_dir("collide-file");
    std::fs::write(&file, "").unwrap();
    let o = docs(&twice[..1], &file, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a folder"));
    assert!(!dir.exists());
}
