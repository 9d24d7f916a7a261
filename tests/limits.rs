//! The README's table of limits against `Limits::default()`: every field is in the table
//! with its default, and the table names no other, so the two cannot drift.

use symconv::limits::Limits;

/// `(field, value)` of every field of the default limits, from their `Debug` form
/// (`Limits { nesting: 256, …, egraph_time: 2s, … }`): a new field is compared too.
fn defaults() -> Vec<(String, String)> {
    let shown = format!("{:?}", Limits::default());
    let inner = shown.trim_start_matches("Limits {").trim_end_matches('}');
    inner
        .split(',')
        .map(|pair| {
            let (field, value) = pair.split_once(':').expect("field: value");
            (field.trim().to_string(), value.trim().to_string())
        })
        .collect()
}

/// `(field, value)` of every row of the README's table of limits, the value as the
/// defaults' `Debug` form shows it: `1,000,000` is `1000000`, `16,777,216 (2²⁴)` is
/// `16777216`, `2 s` is `2s`.
fn readme_rows() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string("README.md").expect("the README");
    let table = readme.split("| field | default | what it bounds |").nth(1).expect("the README's table of limits");
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let field = cells[1].trim_matches('`').to_string();
            let value = cells[2].split(" (").next().unwrap_or_default().replace([',', ' '], "");
            (field, value)
        })
        .collect()
}

#[test]
fn the_readme_states_every_limit_with_its_default() {
    let (readme, defaults) = (readme_rows(), defaults());
    assert!(defaults.len() >= 16, "{defaults:?}");
    assert_eq!(readme, defaults, "the README's table of limits, against Limits::default()");
}
