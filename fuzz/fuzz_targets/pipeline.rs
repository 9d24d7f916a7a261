//! The whole pipeline on any bytes, as `symconv derive` runs a file: load, resolve,
//! derive, check and run at the spec's sizes, then render the report as text and JSON,
//! or the error as its diagnostic. Never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use symconv::check::RunOptions;
use symconv::{cli, render};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.conv");
    let outcome = cli::load_bytes(path, data.to_vec(), None)
        .and_then(|model| cli::analyse_model(path, model, true, RunOptions::default()));
    match outcome {
        Ok(report) => {
            let _ = render::derive_text(&report);
            let _ = render::derive_json(&report);
        }
        Err(e) => {
            let _ = cli::diagnostic(&e, false);
        }
    }
});
