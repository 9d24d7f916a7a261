//! Every file under `tests/bad/` is refused with exit status 2, nothing on stdout, no
//! panic, and a message naming the file, line and column; the message is snapshotted.

use std::process::Command;

#[test]
fn bad_inputs_are_refused_clearly() {
    insta::glob!("bad", "*.conv", |path| {
        let rel = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path);
        let out = Command::new(env!("CARGO_BIN_EXE_symconv"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["derive", &rel.display().to_string()])
            .output()
            .expect("symconv runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", rel.display());
        assert!(out.stdout.is_empty(), "{} wrote to stdout", rel.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains(&rel.display().to_string()), "the message names the file: {stderr}");
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path("../snapshots/bad");
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| insta::assert_snapshot!("error", stderr));
    });
}
