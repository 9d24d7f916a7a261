//! One snapshot per shipped spec: `derive`'s text output, then the table of every input
//! and weight in each format. The verdicts are asserted before the snapshot is taken.

use symconv::check::{self, RunOptions, Verdict, Weights};
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
        let derivation = derive::derive(&model, &symconv::limits::Limits::default()).expect("shipped specs derive");
        let seed = model.name == "seed";
        let report = check::report(model.clone(), derivation.clone(), true, RunOptions::default()).expect("check");
        for c in &report.claims {
            assert_eq!(
                c.verdict,
                Verdict::Proved,
                "{}: claim `{}` is {:?}: {}",
                path.display(),
                c.text,
                c.verdict,
                c.grounds
            );
        }
        assert_eq!(report.tables.len(), report.model.tensors.len());
        let mut text = render::derive_text(&report);
        if seed {
            // The seed's formula is a true convolution, its run plain conv1d: distinct
            // weights tell them apart, and say how; all-ones weights do not.
            let run = &report.runs[0];
            assert_eq!(run.holds, Some(false));
            assert!(run.detail().contains("use flip(w)"), "{}", run.detail());
            let ones = RunOptions { weights: Weights::Ones, ..RunOptions::default() };
            let with_ones = check::report(model, derivation, true, ones).expect("check");
            let run = &with_ones.runs[0];
            let detail = run.detail();
            assert!(detail.contains("all 8 outputs agree") && detail.contains("all 80 entries of ∂s_i/∂x_j agree"));
            assert!(detail.contains("cannot tell one weight from another (w_0 from w_2)"), "{detail}");
            text += "\n--- derive --weights ones\n";
            text += &render::derive_text(&with_ones);
        } else {
            assert!(report.holds(), "{}: {:?}", path.display(), report.runs);
            assert!(report.runs.iter().all(|r| r.holds == Some(true)), "{:?}", report.runs);
        }
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
