//! The `symconv` binary: parses arguments, runs, prints, exits.

use clap::Parser;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The engine's convolutions at spec sizes are small: starting candle's thread pool
    // costs more than it saves. A user's own setting wins.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let cli = match symconv::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match symconv::cli::run(cli) {
        // A closed pipe (`symconv derive … | head`) is no error of ours: write what fits.
        Ok(outcome) => {
            let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
            let color = std::io::stderr().is_terminal();
            for e in &outcome.errors {
                let _ = std::io::stderr().write_all(symconv::cli::diagnostic(e, color).as_bytes());
            }
            ExitCode::from(outcome.code as u8)
        }
        Err(e) => {
            let message = symconv::cli::diagnostic(&e, std::io::stderr().is_terminal());
            let _ = std::io::stderr().write_all(message.as_bytes());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
