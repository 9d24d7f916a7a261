//! One snapshot per shipped spec: `derive`'s text output, then the table of every input
//! and weight in each format. The verdicts are asserted before the snapshot is taken.

use symconv::check::{self, Verdict};
use symconv::cli::load;
use symconv::derive;
use symconv::render::{self, TableFormat};

const FORMATS: [(TableFormat, &str); 4] = [
    (TableFormat::Markdown, "markdown"),
    (TableFormat::Csv, "csv"),
    (TableFormat::Latex, "latex"),
    (TableFormat::Json, "json"),
];

#[test]
fn shipped_specs() {
    insta::glob!("../specs", "*.conv", |path| {
        let model = load(path, None).expect("shipped specs load");
        let derivation = derive::derive(&model).expect("shipped specs derive");
        let report = check::report(model, derivation, true).expect("shipped specs check");
        for c in &report.claims {
            assert_eq!(
                c.verdict,
                Verdict::Proved,
                "{}: claim `{}` is {:?}: {}",
                path.display(),
                c.text,
                c.verdict,
                c.how
            );
        }
        assert!(report.holds());
        assert_eq!(report.tables.len(), report.model.tensors.len());
        let mut text = render::derive_text(&report);
        for t in &report.tables {
            for (format, name) in FORMATS {
                text += &format!("\n--- table {} --format {name}\n", t.wrt);
                text += &render::table(t, format);
            }
        }
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!("derive", text));
    });
}
